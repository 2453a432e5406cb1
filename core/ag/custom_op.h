/* ag/custom_op.h — ops of your own, with a backward of your own.
 *
 * What torch.autograd.Function is to PyTorch. An op is a static descriptor
 * (ag_op: its name and its backward) and a constructor that computes the
 * forward and records the result. The backward comes in two forms; an op
 * gives one or both:
 *
 * THE SHORT FORM: a vjp written with ag ops. The forward is computed with
 * ag ops too, with recording off, and ag_op_apply records the value as the
 * op's result; ag_op_save keeps what the vjp needs:
 *
 *   static bool cube_vjp(ag_tensor *y, ag_tensor *g, ag_tensor **grads) {
 *       ag_tensor *x = y->src[0];                        d(x^3)/dx = 3 x^2
 *       grads[0] = ag_mul(y->arena, g, ag_mul_scalar(y->arena, ag_mul(y->arena, x, x), 3));
 *       return true;
 *   }
 *   static const ag_op CUBE = {.name = "cube", .vjp = cube_vjp};
 *
 *   ag_tensor *cube(ag_arena *A, ag_tensor *x) {
 *       ag_tensor *y = NULL;
 *       AG_NO_GRAD y = ag_mul(A, x, ag_mul(A, x, x));
 *       return ag_op_apply(A, &CUBE, y, 1, (ag_tensor *[]){x});
 *   }
 *
 * Because the vjp is made of recorded ops, the gradient it builds can be
 * differentiated again: ag_backward_create_graph, ag_grad with create_graph
 * and ag_gradgradcheck (ag/engine.h, ag/gradcheck.h) work through the op.
 * The contract of a vjp,
 *   bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads):
 *
 * - What it reads: g, the gradient of the final quantity with respect to
 *   out (out's shape; it may itself be recorded), out->src[0 .. nsrc-1]
 *   (the sources given to ag_op_apply, in that order), what the forward
 *   saved (ag_op_ctx(out)->saved, ->d, ->i), and out itself.
 * - What it writes: grads[i], source i's share of the gradient, made with ag
 *   ops in out->arena (the ag_foo macros, or inside a library the ag_foo_
 *   forms); NULL (the default) for a source that gets none. grads[i] may
 *   have a shape that broadcasts to source i's (the engine sums it down to
 *   the source's shape: return g * x for a source broadcast in the forward)
 *   and another float dtype (the engine casts); it must not need expanding
 *   up to the source's shape. It never writes g, the sources or what was
 *   saved, and returns false after a report (ag_op_fail_) when something
 *   is wrong.
 * - Differentiating twice: a saved tensor is a constant to the vjp's ops
 *   unless it was made with recording on from the sources. Save such a
 *   tensor recorded (compute it before the AG_NO_GRAD block), or recompute
 *   it in the vjp from out->src, and the second derivative sees it.
 * - When it runs: in a plain ag_backward with recording off (the op has no
 *   kernel, or gives one for speed: see below); with create_graph, with
 *   recording on.
 *
 * THE KERNEL FORM: a backward that loops over the buffers itself (fast; the
 * library's own ops have one). The forward computes into a result from
 * ag_op_result and ends with ag_op_record:
 *
 *   static void cube_backward(ag_tensor *out) {          d(x^3)/dx = 3 x^2
 *       ag_tensor *x = out->src[0];
 *       ag_tensor *gx = ag_grad_accum_buf(x);            NULL: x needs none
 *       if (!gx) return;
 *       const double *xv = x->data, *g = out->grad->data;
 *       double *dx = gx->data;
 *       for (int64_t i = 0; i < x->numel; i++) dx[i] += g[i] * 3 * xv[i] * xv[i];
 *   }
 *   static const ag_op CUBE = {"cube", cube_backward, NULL};
 *
 *   ag_tensor *cube(ag_arena *A, ag_tensor *x) {
 *       if (!x) return NULL;                             NULL in, NULL out
 *       ag_tensor *y = ag_op_result(A, "cube", AG_F64, x->ndim, x->shape);
 *       if (!y) return NULL;
 *       const double *xv = x->data;
 *       double *yv = y->data;
 *       for (int64_t i = 0; i < x->numel; i++) yv[i] = xv[i] * xv[i] * xv[i];
 *       return ag_op_record(y, &CUBE, 1, (ag_tensor *[]){x});
 *   }
 *
 * A plain ag_backward runs the kernel; a backward with create_graph runs
 * the vjp, and fails with a message naming the op when it has none. Give
 * both ({"cube", cube_backward, cube_vjp}) for a fast first derivative and
 * a second one. ag_gradcheck checks either form like any other op
 * (docs/extending.md walks through a normalization layer written both ways,
 * from its derivation to a module in a transformer).
 *
 * THE CONTRACT OF A BACKWARD, void backward(ag_tensor *out):
 *
 * - What it reads. out->grad is the gradient of the final quantity with
 *   respect to out: same shape and dtype as out, never NULL when backward
 *   runs. out->src[0 .. out->nsrc-1] are the sources given to ag_op_record,
 *   in that order; ag_op_ctx(out) holds what the forward saved. It may read
 *   out's own values (out->data) too.
 * - What it writes: ACCUMULATE, NEVER OVERWRITE. For each source s,
 *   ag_grad_accum_buf(s) gives s's gradient buffer (allocated zeroed on its
 *   first use, in s's arena), or NULL when s needs no gradient (an i32 input,
 *   a constant, recording off); add (+=) this op's contribution into it. The
 *   buffer may already hold the contributions of other consumers of s, and
 *   the same tensor may be a source twice (op(x, x)): both entries return the
 *   same buffer, and only adding gives the sum. Never write out->grad, the
 *   sources' data, or anything saved: backward runs again in every later
 *   ag_backward over the same graph (ag_gradcheck runs it many times) and
 *   must give the same result each time.
 * - Dtypes. A gradient buffer has its tensor's dtype: f32, f64 or bf16 (a
 *   uint16_t holding bf16 bits; read and write it through ag_bf16_to_f32 and
 *   ag_f32_to_bf16, or ag_op_load / ag_op_accum below). An op that does not want to handle bf16 either refuses
 *   it in the forward (ag_op_fail) or, as the library's ops do, casts its
 *   inputs to f32 with ag_cast first (a recorded op: backward then gets f32)
 *   and casts its result back. i32 tensors never get a gradient.
 * - When it runs: once per ag_backward, on the thread that called it, after
 *   the backward of every op that consumed out, and only when out's gradient
 *   exists (some path from the loss reaches out). It does not run for a
 *   forward made while recording was off or when no source required a
 *   gradient: ag_op_record then records nothing.
 * - Memory. ag_grad_accum_buf allocates in the source's arena. Anything else
 *   backward needs (a temporary row, a sum) it may take from out->arena,
 *   where it stays until that arena is reset, or from the C stack or malloc
 *   (freed before it returns). Backward may call ag ops on out->arena; turn
 *   recording off around them (ag_set_grad_enabled(false), putting the old
 *   state back). A kernel's work is not recorded: gradients of gradients go
 *   through the vjp.
 * - Errors. A backward that finds something wrong reports it with
 *   ag_op_fail_ (the underscore form, so the report names the line of the
 *   ag_backward call); ag_backward then stops after this node and returns
 *   false, leaving the gradients made so far.
 *
 * THE FORWARD (either form):
 * - Check inputs first: a NULL input is an earlier failure, already
 *   reported, so return NULL without a report; a bad input is reported with
 *   ag_op_fail (one line: the op, the shapes, what was expected) and NULL
 *   returned.
 * - Compute into a new tensor from ag_op_result. The output never aliases an
 *   input (no in-place ops): a view of an input is not a result.
 * - Save what backward needs in ag_op_ctx(out): tensors (inputs, the output,
 *   intermediates made in an arena that lives as long as out's), a few
 *   numbers, or a block from ag_arena_calloc(out->arena, bytes) in its data
 *   field. Saved tensors are not sources: backward sends them no gradient.
 * - End with return ag_op_record(out, &op, n, srcs) (kernel form), or
 *   compute the value with ag ops under AG_NO_GRAD and end with
 *   return ag_op_apply(A, &op, value, n, srcs) (short form).
 *
 * The library's own ops are written the same way (core/ops_unary.c is the
 * shortest); ag_op_fail's macro names the line where it is written, its
 * underscore form the line of the public call in progress. To have your
 * op's reports name your callers' lines, name it my_op_ and give it the
 * macro  #define my_op(...) AG_AT(my_op_, __VA_ARGS__)  (ag/error.h), then
 * call the underscore forms (ag_op_result_, ag_op_fail_, ag_op_record_)
 * inside it.
 */
#ifndef AG_CUSTOM_OP_H
#define AG_CUSTOM_OP_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many sources per op (ag_gradcheck's limit on inputs). */
#define AG_OP_MAX_SRCS 16
/* The context's slots. */
#define AG_OP_CTX_TENSORS 8
#define AG_OP_CTX_NUMBERS 8

/* What a forward saves for its backward; zeroed when ag_op_result makes it,
 * in the result's arena, and owned by the result. */
typedef struct ag_op_ctx {
    const void *owner_;                  /* the engine's: marks a context as one (first, so
                                            that another op's saved state is not read past) */
    ag_tensor *saved[AG_OP_CTX_TENSORS]; /* tensors backward reads */
    double d[AG_OP_CTX_NUMBERS];         /* numbers: eps, a scale, ... */
    int64_t i[AG_OP_CTX_NUMBERS];        /* integers: a dim, a count, ... */
    void *data;                          /* anything else: ag_arena_calloc(out->arena, ...) */
} ag_op_ctx;

/* The kernel form's result: a new tensor in A for an op's result: dtype dt, the given shape,
 * uninitialised data, no gradient, and a zeroed ag_op_ctx. op names the op
 * in reports (and should be the descriptor's name). Reports and returns NULL
 * for a NULL A or op, or a bad shape (ndim outside 0..8, a negative size,
 * too many elements). */
ag_tensor *ag_op_result_(ag_arena *A, const char *op, ag_dtype dt, int ndim,
                         const int64_t *shape);
#define ag_op_result(...) AG_AT(ag_op_result_, __VA_ARGS__)

/* The context of a result made by ag_op_result or ag_op_apply (forward and
 * backward read and write the same one). NULL without a report for a NULL
 * out (an earlier failure); reported, and NULL, for a tensor neither made. */
ag_op_ctx *ag_op_ctx_(ag_tensor *out);
#define ag_op_ctx(...) AG_AT_PTR(ag_op_ctx_, ag_op_ctx *, __VA_ARGS__)

/* The op's exit: records out as the result of op applied to srcs[0..n-1]
 * (copied; the same tensor may appear more than once) when recording is on
 * and a source requires a gradient, which makes out require one; otherwise
 * out stays a leaf without gradient. Then out is what the op returns; NULL
 * after a report. NULL out or a NULL source: NULL without a report (an
 * earlier failure). Reported: a NULL op or name, or an op with neither
 * backward nor vjp (a vjp alone is run, with recording off, by a plain
 * ag_backward); n outside 0..AG_OP_MAX_SRCS; a NULL srcs with n > 0; an out
 * that ag_op_result did not make, that is already recorded or that is one
 * of srcs (a cycle); a source made before its arena's
 * last reset; and, in anomaly mode, a NaN or inf that out holds and its
 * sources did not (ag_set_detect_anomaly). */
ag_tensor *ag_op_record_(ag_tensor *out, const ag_op *op, int n, ag_tensor *const *srcs);
#define ag_op_record(...) AG_AT(ag_op_record_, __VA_ARGS__)

/* The short form's exit: records value, the op's forward computed with ag
 * ops (under AG_NO_GRAD: its own graph, if it has one, is not used), as the
 * result of op applied to srcs[0..n-1], and returns that result: a new
 * tensor in A sharing value's data, with a zeroed ag_op_ctx (ag_op_save
 * fills it), recorded as by ag_op_record (so when recording is off or no
 * source requires a gradient it is a leaf without one). NULL value or a
 * NULL source: NULL without a report (an earlier failure). Reported (NULL):
 * a NULL A; a NULL op or name, or an op with neither backward nor vjp; n
 * outside 0..AG_OP_MAX_SRCS or a NULL srcs with n > 0; a value or source
 * made before its arena's last reset; an anomaly as ag_op_record reports. */
ag_tensor *ag_op_apply_(ag_arena *A, const ag_op *op, ag_tensor *value, int n,
                        ag_tensor *const *srcs);
#define ag_op_apply(...) AG_AT(ag_op_apply_, __VA_ARGS__)

/* Saves tensors[0..n-1] in out's context (ag_op_ctx(out)->saved[0..n-1],
 * in that order) for the backward or vjp, as ctx.save_for_backward does;
 * returns out, so that an op can end with
 *   return ag_op_save(ag_op_apply(A, &op, value, n, srcs), 1, &r);
 * NULL out or a NULL tensor: NULL without a report (an earlier failure;
 * nothing is saved). Reported (NULL): n outside 0..AG_OP_CTX_TENSORS, a NULL
 * tensors with n > 0, an out that neither ag_op_result nor ag_op_apply made. */
ag_tensor *ag_op_save_(ag_tensor *out, int n, ag_tensor *const *tensors);
#define ag_op_save(...) AG_AT(ag_op_save_, __VA_ARGS__)

/* For backward: t's gradient buffer to accumulate (+=) into, allocated
 * zeroed in t's arena on first use (same shape and dtype as t); NULL when t
 * is NULL or needs no gradient. Reported (NULL) when the arena is out of
 * memory. */
ag_tensor *ag_grad_accum_buf_(ag_tensor *t);
#define ag_grad_accum_buf(...) AG_AT(ag_grad_accum_buf_, __VA_ARGS__)

/* Reports "ag: <op>: <formatted text> (file:line)" through the error
 * handler, as the library's ops do: for a custom op's bad input, or (named
 * "<op> backward") for what a backward finds wrong. */
void ag_op_fail_(const char *op, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
#define ag_op_fail(...) AG_AT_VOID(ag_op_fail_, __VA_ARGS__)

/* A tensor as the library's reports show it, its dtype then its shape:
 * "f32 [3,5]", "f64 []"; "(null)" for NULL. Returned in a struct so that it
 * can be an argument without a buffer of one's own: C11 keeps the struct
 * until the end of the full expression, the call it is an argument of, and
 * each call has its own (two in one call are fine):
 *   ag_op_fail("my_op", "x %s, g %s: expected ...", ag_op_desc(x).s, ag_op_desc(g).s);
 * Never reports; truncates what would not fit (more than any shape). */
typedef struct ag_op_desc_str {
    char s[192];
} ag_op_desc_str;
ag_op_desc_str ag_op_desc(const ag_tensor *t);

/* ---- element access for kernels ------------------------------------------
 * Element i of a float tensor (f32, f64 or bf16) as a double; a double
 * stored into one (f32 rounds, bf16 rounds to nearest even); and stored as
 * the element plus v, the accumulation a backward makes. For kernels that
 * handle every float dtype with one loop, at some cost in speed (the
 * library's ops dispatch on the dtype instead). No checks: i in range and a
 * float dtype are the caller's to ensure. */
static inline double ag_op_load(const ag_tensor *t, int64_t i) {
    switch (t->dtype) {
    case AG_F32: return ((const float *)t->data)[i];
    case AG_BF16: return ag_bf16_to_f32(((const uint16_t *)t->data)[i]);
    default: return ((const double *)t->data)[i];
    }
}
static inline void ag_op_store(ag_tensor *t, int64_t i, double v) {
    switch (t->dtype) {
    case AG_F32: ((float *)t->data)[i] = (float)v; break;
    case AG_BF16: ((uint16_t *)t->data)[i] = ag_f32_to_bf16((float)v); break;
    default: ((double *)t->data)[i] = v; break;
    }
}
static inline void ag_op_accum(ag_tensor *t, int64_t i, double v) {
    ag_op_store(t, i, ag_op_load(t, i) + v);
}

#ifdef __cplusplus
}
#endif
#endif
