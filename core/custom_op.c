/* core/custom_op.c — the public face of the op machinery (ag/custom_op.h):
 * results with a saved-state context, the recording exit, gradient buffers
 * and reports for ops defined outside the library.
 *
 * A result's context hangs from its `saved` pointer, tagged by `owner_`
 * (the address of a static here), so ag_op_ctx and ag_op_record can tell a
 * result ag_op_result made from any other tensor.
 */
#include <stdarg.h>
#include <stdio.h>

#include "ag/custom_op.h"
#include "internal.h"

static const char context_tag = 0;

static bool is_result(const ag_tensor *t) {
    const ag_op_ctx *c = t->saved;
    return c && c->owner_ == &context_tag;
}

/* y (NULL: NULL) with a zeroed context from A hung on it. */
static ag_tensor *with_context(ag_arena *A, ag_tensor *y) {
    ag_op_ctx *c = y ? ag_arena_calloc_(A, sizeof *c) : NULL;
    if (!c) return NULL;
    c->owner_ = &context_tag;
    y->saved = c;
    return y;
}

ag_tensor *ag_op_result_(ag_arena *A, const char *op, ag_dtype dt, int ndim,
                         const int64_t *shape) {
    if (!op) {
        ag__fail("op_result", "op name is NULL: name the op for its reports");
        return NULL;
    }
    return with_context(A, ag__result(op, A, dt, ndim, shape));
}

ag_op_ctx *ag_op_ctx_(ag_tensor *out) {
    if (!out) return NULL;
    if (!is_result(out)) {
        ag__fail("op_ctx", "%s tensor %s was not made by ag_op_result or ag_op_apply: only "
                 "an op's result has a context", ag_dtype_name(out->dtype), ag__shp(out));
        return NULL;
    }
    return out->saved;
}

/* The checks ag_op_record and ag_op_apply share: a usable descriptor and
 * source array (reported under what), then no NULL among out and the
 * sources (an earlier failure: false without a report). */
static bool op_call_ok(const char *what, const ag_op *op, const ag_tensor *out, int n,
                       ag_tensor *const *srcs) {
    if (!op || !op->name || (!op->backward && !op->vjp)) {
        ag__fail(what, "op %s: expected a descriptor with a name and a backward, a vjp or both",
                 !op ? "is NULL" : !op->name ? "has no name" : "has no backward and no vjp");
        return false;
    }
    if (n < 0 || n > AG_OP_MAX_SRCS || (n > 0 && !srcs)) {
        ag__fail(op->name, "%d sources%s: expected 0..%d sources in a non-NULL array", n,
                 n > 0 && !srcs ? " in a NULL array" : "", AG_OP_MAX_SRCS);
        return false;
    }
    if (!out) return false;
    for (int i = 0; i < n; i++)
        if (!srcs[i]) return false;
    return true;
}

ag_tensor *ag_op_record_(ag_tensor *out, const ag_op *op, int n, ag_tensor *const *srcs) {
    if (!op_call_ok("op_record", op, out, n, srcs)) return NULL;
    if (!is_result(out) || out->op) {
        ag__fail(op->name, "output %s %s %s: record the result of ag_op_result, once",
                 ag_dtype_name(out->dtype), ag__shp(out),
                 out->op ? "is already recorded" : "was not made by ag_op_result");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (srcs[i] == out) { /* a node of its own graph: a cycle */
            ag__fail(op->name, "output %s %s is its own source %d: an op's result is a new "
                     "tensor, never one of its inputs", ag_dtype_name(out->dtype),
                     ag__shp(out), i);
            return NULL;
        }
    return ag__record(out, op, n, srcs);
}

ag_tensor *ag_op_apply_(ag_arena *A, const ag_op *op, ag_tensor *value, int n,
                        ag_tensor *const *srcs) {
    if (!op_call_ok("op_apply", op, value, n, srcs)) return NULL;
    if (!ag__check_arena(op->name, A) || !ag__check_live(op->name, value)) return NULL;
    /* a new header on value's data: value itself may be an input (an op that
     * returns x unchanged) or another op's recorded result */
    ag_tensor *y = with_context(A, ag__view(op->name, A, value, value->ndim, value->shape));
    return y ? ag__record(y, op, n, srcs) : NULL;
}

ag_tensor *ag_op_save_(ag_tensor *out, int n, ag_tensor *const *tensors) {
    if (n < 0 || n > AG_OP_CTX_TENSORS || (n > 0 && !tensors)) {
        ag__fail("op_save", "%d tensors%s: expected 0..%d tensors in a non-NULL array", n,
                 n > 0 && !tensors ? " in a NULL array" : "", AG_OP_CTX_TENSORS);
        return NULL;
    }
    ag_op_ctx *c = ag_op_ctx_(out);
    if (!c) return NULL;
    for (int i = 0; i < n; i++)
        if (!tensors[i]) return NULL; /* an earlier failure, already reported */
    for (int i = 0; i < n; i++) c->saved[i] = tensors[i];
    return out;
}

ag_tensor *ag_grad_accum_buf_(ag_tensor *t) { return ag__grad_buf(t); }

ag_op_desc_str ag_op_desc(const ag_tensor *t) {
    ag_op_desc_str d;
    char shape[160];
    if (t)
        snprintf(d.s, sizeof d.s, "%s %s", ag_dtype_name(t->dtype),
                 ag_shape_str(t, shape, sizeof shape));
    else
        snprintf(d.s, sizeof d.s, "(null)");
    return d;
}

void ag_op_fail_(const char *op, const char *fmt, ...) {
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt ? fmt : "(no message)", ap);
    va_end(ap);
    ag__fail(op ? op : "custom op", "%s", text);
}
