/* core/internal.h — what the library's op files share; not installed.
 *
 * An op is three things side by side in one file:
 *
 *   static void foo_backward(ag_tensor *out) { ... }          accumulate grads
 *   static const ag_op FOO = {"foo", foo_backward, NULL};
 *   ag_tensor *ag_foo_(ag_arena *A, ag_tensor *x) {           the constructor
 *       if (!x) return NULL;                                  NULL propagates
 *       if (!ag__check_float("foo", x)) return NULL;          validate, report
 *       ag_tensor *y = ag__result("foo", A, x->dtype, x->ndim, x->shape);
 *       if (!y) return NULL;
 *       ...forward kernel...
 *       return ag__record(y, &FOO, 1, (ag_tensor *[]){x});    graph node
 *   }
 *
 * ag__result reports a NULL arena under the op's name; an op that allocates
 * before it (a cast, a scalar, a list) calls ag__check_arena first.
 * ag__record reports a source made before its arena's last reset, and in
 * anomaly mode an output that holds a NaN or inf its inputs did not; the op
 * then returns NULL like any op that reported.
 *
 * Internal names start with "ag__".
 */
#ifndef AG_CORE_INTERNAL_H
#define AG_CORE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <tgmath.h>

/* core only: core knows nothing of nn */
#include "ag/arena.h"
#include "ag/engine.h"
#include "ag/error.h"
#include "ag/gradcheck.h"
#include "ag/loss.h"
#include "ag/ops.h"
#include "ag/profile.h"
#include "ag/tensor.h"

/* ---- errors --------------------------------------------------------------- */

/* Reports "ag: <op>: <formatted text> (file:line)" through the handler. */
void ag__fail(const char *op, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The call site recorded for the next report (the file's base name), or
 * file NULL when none is. */
void ag__call_site(const char **file, int *line);

/* A shape as text, "[2,3]", in one of 8 rotating thread-local buffers, so a
 * message may name several shapes. */
const char *ag__shp(const ag_tensor *t);
const char *ag__shp_of(int ndim, const int64_t *shape);

/* Each reports and returns false on failure. */
bool ag__check_arena(const char *op, const ag_arena *A);         /* not NULL */
/* t was made in its arena's current epoch (not before a reset of it). */
bool ag__check_live(const char *op, const ag_tensor *t);
bool ag__check_float(const char *op, const ag_tensor *x);        /* f32, f64, bf16 */
bool ag__check_dtype(const char *op, const char *what, const ag_tensor *x, ag_dtype dt);
/* Normalises dim of x (negative counts from the end) into 0..ndim-1; reports
 * naming x's shape and returns -1 when out of range. For a 0-d x, dims -1 and
 * 0 are accepted (as PyTorch does) and give 0. */
int ag__dim(const char *op, int dim, const ag_tensor *x);
/* Fills reduce[AG_MAX_DIMS] from a dim list of x (NULL/0: every dim);
 * reports a dim out of range or listed twice. */
bool ag__dim_mask(const char *op, int ndims, const int *dims, const ag_tensor *x, bool *reduce);
/* True when v converts to i32 without overflow (finite, truncating into
 * [INT32_MIN, INT32_MAX]); otherwise reports the value and the range. */
bool ag__i32_ok(const char *op, double v);

/* Random-fill arguments, checked as ag_rand and ag_randn do (reported under
 * op, naming the shape text): uniform bounds finite, lo <= hi, both within
 * dt's finite range and hi - lo not past dt's largest value (PyTorch: "to -
 * from exceeds"); a normal's mean and std finite, std >= 0. */
bool ag__uniform_ok(const char *op, ag_dtype dt, double lo, double hi, const char *shape);
bool ag__normal_ok(const char *op, double mean, double std, const char *shape);

/* The arena's reset count: a tensor records it when made (t->epoch), and a
 * tensor whose epoch differs was made before the arena's last reset. */
uint64_t ag__arena_epoch(const ag_arena *a);
/* ag_arena_alloc without a report: NULL for a NULL arena, an overflowing
 * request or no memory (for the file loaders, which never report). */
void *ag__arena_try_alloc(ag_arena *a, size_t bytes);

/* ---- results and graph ---------------------------------------------------- */

/* A new tensor in A with uninitialised data (the creation functions' core);
 * a bad A or shape is reported under op, the name of the calling op. */
ag_tensor *ag__result(const char *op, ag_arena *A, ag_dtype dt, int ndim,
                      const int64_t *shape);
/* A zeroed tensor without a report (NULL when A is NULL or out of memory),
 * for the file loaders; shape must be valid (a live tensor's). */
ag_tensor *ag__try_zeros(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape);
/* Same, but sharing data with base (a view); used by reshape. */
ag_tensor *ag__view(const char *op, ag_arena *A, ag_tensor *base, int ndim,
                    const int64_t *shape);

/* True when recording is on and one of srcs requires a gradient. */
bool ag__needs_grad(int n, ag_tensor *const *srcs);
/* Every op's exit. Checks that srcs were made after their arenas' last
 * reset and, in anomaly mode, out's values (see above); then records out's
 * node when ag__needs_grad: op, a copy of srcs in out's arena,
 * out->requires_grad = true (otherwise out stays a leaf without gradient).
 * Returns out, or NULL after reporting: an op returns what it returns. */
ag_tensor *ag__record(ag_tensor *out, const ag_op *op, int n, ag_tensor *const *srcs);
/* Same, for an op whose output may hold a value its caller chose (masked_fill's
 * fill): anomaly detection records the call site but does not check it. */
ag_tensor *ag__record_asked(ag_tensor *out, const ag_op *op, int n, ag_tensor *const *srcs);
/* Test hook: sets the engine's graph generation counter (the value the last
 * backward's sort used) and returns the previous one. Tests only. */
uint64_t ag__set_generation(uint64_t g);

/* ---- the profiler (core/profile.c, ag/profile.h) ----------------------------
 * Hooks that do nothing (one branch) unless this thread has an active
 * profile. */

/* True when this thread has an active profile. */
bool ag__profile_on(void);
/* A tensor header was made (new_header in core/tensor.c): an op's forward
 * interval may start here. */
void ag__profile_made(const ag_tensor *t);
/* An op's exit (ag__record) returned out: op's forward call and time. */
void ag__profile_exit(const ag_tensor *out, const ag_op *op);
/* Around one node's backward in the engine's walk, called only when
 * ag__profile_on(): begin returns the start mark that end takes; ops run in
 * between count as the node's backward, not as forward calls. */
int64_t ag__profile_node_begin(const ag_op *op);
void ag__profile_node_end(const ag_op *op, int64_t start);
/* A matrix product ag__gemm is about to make (the trace). */
void ag__profile_gemm(const ag_gemm_call *c);

/* ---- anomaly detection (core/anomaly.c; called only when the mode is on) --- */

/* Stores the current call site in out->site; when check, reports (as op, with
 * shapes and the element) a NaN in out that none of srcs held, or an inf from
 * srcs holding neither. Returns false after reporting. */
bool ag__anomaly_forward(ag_tensor *out, const ag_op *op, int n, ag_tensor *const *srcs,
                         bool check);
/* After t's backward: reports "<op> backward" when a source's gradient holds a
 * NaN or inf and t's own gradient holds neither, naming t's forward call
 * site. Returns false after reporting. */
bool ag__anomaly_backward(const ag_tensor *t);

/* The gradient buffer of t for backward to accumulate into: NULL when t
 * needs no gradient, otherwise t->grad, allocated zeroed (same shape and
 * dtype, in t's arena) on first use. */
ag_tensor *ag__grad_buf(ag_tensor *t);
/* dst += src elementwise (src NULL: += 1); same numel and float dtype, bf16
 * rounding each sum (core/engine.c). */
void ag__accumulate(ag_tensor *dst, const ag_tensor *src);
/* Same, for a backward that writes a whole gradient in one pass: when t has
 * no gradient yet (t->grad == NULL before the call) the buffer is allocated
 * uninitialised, and the caller must store every element (=) rather than
 * add (+=); that saves the zeroing pass and the read of the old values. */
ag_tensor *ag__grad_buf_raw(ag_tensor *t);
/* For a backward that produces t's gradient with gemm calls writing each
 * element once (inner dimension inner > 0): the buffer, raw when t has no
 * gradient yet, and the gemm's beta: 0 to store into a raw buffer, 1 to add
 * into an existing one. Otherwise (inner == 0, or once false) the zeroed
 * buffer and beta 1. NULL when t needs no gradient. */
ag_tensor *ag__grad_buf_gemm(ag_tensor *t, bool once, int64_t inner, double *beta);

/* ---- dtypes --------------------------------------------------------------- */

/* The wider of two float dtypes (bf16 < f32 < f64). */
ag_dtype ag__promote(ag_dtype a, ag_dtype b);
/* x cast (recorded) to dt when it differs; x itself otherwise. */
ag_tensor *ag__as(ag_arena *A, ag_tensor *x, ag_dtype dt);

/* Runs BODY with T typedef'd to float (f32) or double (f64). Math calls in
 * the body resolve through <tgmath.h> to the type's function (expf, exp). */
#define AG_DISPATCH(dt, T, ...)                   \
    do {                                          \
        if ((dt) == AG_F32) {                     \
            typedef float T;                      \
            __VA_ARGS__                           \
        } else {                                  \
            typedef double T;                     \
            __VA_ARGS__                           \
        }                                         \
    } while (0)

/* The tensor a data-moving kernel works on: a bf16 input that needs a
 * gradient is cast (recorded, exactly) to f32 so that backward adds in f32;
 * x itself otherwise. */
ag_tensor *ag__compute_form(ag_arena *A, ag_tensor *x);

/* Runs BODY with U typedef'd to an unsigned integer of es bytes (2, 4, 8):
 * kernels that only move elements work for every dtype. */
#define AG_BY_SIZE(es, U, ...)                  \
    do {                                     \
        switch (es) {                        \
        case 2: {                            \
            typedef uint16_t U;              \
            __VA_ARGS__                      \
        } break;                             \
        case 4: {                            \
            typedef uint32_t U;              \
            __VA_ARGS__                      \
        } break;                             \
        default: {                           \
            typedef uint64_t U;              \
            __VA_ARGS__                      \
        } break;                             \
        }                                    \
    } while (0)

/* ---- threads (core/parallel.c) ---------------------------------------------
 * A kernel's loop over [0, n) is a static function over a range, its
 * operands in a ctx struct:
 *     static void scale_range(const void *ctx, int64_t lo, int64_t hi) {
 *         const scale_job *j = ctx;
 *         for (int64_t i = lo; i < hi; i++) j->y[i] = j->a * j->x[i];
 *     }
 *     ag__parallel_for(n, n >= AG_PAR_MIN, scale_range, &(scale_job){...});
 * Serially (par false, n < 2, one OpenMP thread, inside a parallel region,
 * or no OpenMP) it is one call body(ctx, 0, n) and enters no OpenMP
 * construct; otherwise one parallel region whose threads each call body on
 * their schedule(static) chunk (see ag__static_chunk). n <= 0 calls nothing. */
typedef void (*ag__range_fn)(const void *ctx, int64_t lo, int64_t hi);
void ag__parallel_for(int64_t n, bool par, ag__range_fn body, const void *ctx);
/* Thread i's chunk [lo, hi) of [0, n) among nthreads under schedule(static)
 * without a chunk size: the first n % nthreads threads take one more. */
void ag__static_chunk(int64_t n, int nthreads, int i, int64_t *lo, int64_t *hi);
/* Elements below which threading costs more than it saves. */
#define AG_PAR_MIN 32768

/* ---- stores around the cache ----------------------------------------------
 * A kernel whose output is too big to stay in cache until it is read again
 * builds each row in a small scratch buffer and copies it out with
 * non-temporal stores: the write then costs only the bytes written, not a
 * read for ownership of each cache line first plus the write back. */

/* Outputs of at least this many bytes go around the cache (half the 32 MiB
 * L3 of the machine the figures in the README come from). */
#define AG_STREAM_MIN ((size_t)16 << 20)
/* dst[0, bytes) = src[0, bytes) with non-temporal stores where the machine
 * has them (plain memcpy otherwise). Before another thread reads dst, the
 * writing thread calls ag__stream_fence(). */
void ag__copy_nt(void *restrict dst, const void *restrict src, size_t bytes);
void ag__stream_fence(void);

/* ---- broadcasting --------------------------------------------------------- */

/* The broadcast shape of a and b (PyTorch rules); reports and returns false
 * when they do not broadcast. */
bool ag__broadcast(const char *op, int na, const int64_t *sa, int nb, const int64_t *sb,
                   int *ndim, int64_t *shape);
/* Strides (in elements) to walk t inside a broadcast shape of ndim dims
 * (t's ndim <= ndim, aligned from the right): 0 along dims where t has
 * size 1 or no dim at all. */
void ag__bcast_strides(const ag_tensor *t, int ndim, int64_t *strides);
/* Row-major strides of a contiguous shape. */
void ag__strides(int ndim, const int64_t *shape, int64_t *strides);
/* Product of sizes. */
int64_t ag__numel(int ndim, const int64_t *shape);

/* Walks a shape in row-major order keeping up to three offsets; the caller
 * processes the innermost dim as a run of length shape[ndim-1] with per-
 * operand inner strides. Usage:
 *   ag__iter it; ag__iter_init(&it, ndim, shape, 2, (const int64_t *[]){sa, sb});
 *   do { ...use it.off[0], it.off[1], it.inner... } while (ag__iter_next(&it));
 * An empty shape (numel 0) must be handled by the caller before iterating. */
typedef struct ag__iter {
    int ndim, nops;
    int64_t shape[AG_MAX_DIMS];
    int64_t strides[3][AG_MAX_DIMS];
    int64_t idx[AG_MAX_DIMS];
    int64_t off[3];       /* offset of each operand at the start of this run */
    int64_t inner;        /* run length: shape[ndim-1] (1 for 0-d) */
    int64_t istride[3];   /* each operand's stride along the run */
} ag__iter;
void ag__iter_init(ag__iter *it, int ndim, const int64_t *shape, int nops,
                   const int64_t *const *strides);
bool ag__iter_next(ag__iter *it);
/* Moves an iterator fresh from ag__iter_init to run number `run` (the row-
 * major count of the runs before it), so that ranges of runs can go to
 * different threads. */
void ag__iter_seek(ag__iter *it, int64_t run);

/* dst (contiguous) = src read through strides[dst->ndim] over dst's shape:
 * a permutation, a broadcast. Any dtype; dst and src share it. */
void ag__strided_copy(ag_tensor *dst, const ag_tensor *src, const int64_t *strides);
/* The reverse, adding: dst[walk(strides)] += src (contiguous) over src's
 * shape; positions walked twice (stride 0) accumulate. f32 or f64. */
void ag__strided_add(ag_tensor *dst, const int64_t *strides, const ag_tensor *src);

/* ---- matmul (core/ops_matmul.c) --------------------------------------------
 * Row-major C[M,N] = alpha * op(A) op(B) + beta * C, op(X) = X^T when the flag
 * is set; A is [M,K] (or [K,M] when ta) with row stride lda, and so on; dt is
 * AG_F32 or AG_F64; beta 0 overwrites C. ag__gemm uses cblas when built with
 * AG_HAVE_CBLAS (but for products of at most 8 multiply-adds), else
 * ag__gemm_fallback (blocked loops, threads over row blocks). */
void ag__gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const void *A,
              int64_t lda, const void *B, int64_t ldb, double beta, void *C, int64_t ldc,
              ag_dtype dt);
void ag__gemm_fallback(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                       const void *A, int64_t lda, const void *B, int64_t ldb, double beta,
                       void *C, int64_t ldc, ag_dtype dt);

/* ---- attention (core/ops_attention.c) --------------------------------------- */

/* The i32 [T,T] mask that is 1 where key j lies in query i's future (j > i),
 * for masked_fill; NULL after a report (bad arena, no memory). */
ag_tensor *ag__causal_mask(ag_arena *A, int64_t T);
/* ag_causal_attention of q, k, v packed as the column blocks [0,C), [C,2C),
 * [2C,3C) of qkv [B, T, 3C] (or [T, 3C]), as one projection makes them: the
 * result [B, T, C] (or [T, C]); backward writes qkv's gradient packed.
 * Reported (NULL): a dtype that is not float, ndim not 2 or 3, a last dim
 * not 3C with C divisible by n_head > 0. */
ag_tensor *ag__causal_attention_packed(ag_arena *A, ag_tensor *qkv, int64_t n_head);

/* ---- losses (core/ops_loss.c) ----------------------------------------------- */

/* Reports a reduction that is not MEAN, SUM or NONE. */
bool ag__check_reduction(const char *op, ag_reduction r);
/* l reduced: its mean, its sum (0-d), or l itself for NONE. */
ag_tensor *ag__reduce(ag_arena *A, ag_tensor *l, ag_reduction r);
/* True when t (named what: "target", "weight") has input's shape or
 * broadcasts to it without changing it; otherwise reports, saying how to
 * fix the shapes. */
bool ag__loss_target_ok(const char *op, const char *what, const ag_tensor *input,
                        const ag_tensor *t);
/* A class loss's layout: C classes; the input seen as [N, C, inner]; P target
 * positions, count of them not ignore_index. */
typedef struct ag__class_layout {
    int64_t C, inner, P, count;
} ag__class_layout;
/* Checks a float input (called name in reports: "logits", "input") and an
 * i32 class target of the input's shape without the class dim, every value
 * in [0, C) or ignore_index; fills L. Reports and returns false otherwise. */
bool ag__class_targets(const char *op, const char *name, const ag_tensor *logits,
                       const ag_tensor *target, int ignore_index, ag__class_layout *L);

/* The elementwise terms of smooth_l1_loss and huber_loss of a difference d
 * (core/ops_unary.c); beta and delta are > 0 (the callers check). */
ag_tensor *ag__smooth_l1(ag_arena *A, ag_tensor *d, double beta);
ag_tensor *ag__huber(ag_arena *A, ag_tensor *d, double delta);

#endif
