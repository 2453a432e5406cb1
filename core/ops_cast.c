/* core/ops_cast.c — dtype conversion, differentiable between float dtypes.
 *
 * bf16 is a storage dtype: ops cast bf16 inputs to f32, compute, and cast the
 * result back, so every op's kernels need only f32 and f64. The gradient of
 * a cast is the incoming gradient cast back to the input's dtype.
 */
#include "internal.h"

/* dst[i] = src[i] converted; bf16 rounds to nearest even. */
static void convert(const ag_tensor *src, ag_tensor *dst, bool accumulate) {
    const int64_t n = src->numel;
    if (src->dtype == AG_F32 && dst->dtype == AG_BF16 && !accumulate) {
        const float *s = src->data;
        uint16_t *d = dst->data;
        for (int64_t i = 0; i < n; i++) d[i] = ag_f32_to_bf16(s[i]);
        return;
    }
    if (src->dtype == AG_BF16 && dst->dtype == AG_F32) {
        const uint16_t *s = src->data;
        float *d = dst->data;
        if (accumulate)
            for (int64_t i = 0; i < n; i++) d[i] += ag_bf16_to_f32(s[i]);
        else
            for (int64_t i = 0; i < n; i++) d[i] = ag_bf16_to_f32(s[i]);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = ag_get_flat_(src, i);
        if (accumulate) v += ag_get_flat_(dst, i);
        ag_set_flat_(dst, i, v);
    }
}

static void cast_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    ag_tensor *gx = ag__grad_buf(x);
    if (gx) convert(out->grad, gx, true);
}

/* The recorded form: g itself; the engine casts it to the source's dtype. */
static bool cast_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    (void)out;
    grads[0] = g;
    return true;
}

static const ag_op CAST = {"cast", cast_backward, cast_vjp};

ag_tensor *ag_cast_(ag_arena *A, ag_tensor *x, ag_dtype dt) {
    if (!x || !ag__check_live("cast", x)) return NULL;
    if ((unsigned)dt >= AG_DTYPE_COUNT) {
        ag__fail("cast", "unknown dtype %d for %s", (int)dt, ag__shp(x));
        return NULL;
    }
    ag_tensor *y = ag__result("cast", A, dt, x->ndim, x->shape);
    if (!y) return NULL;
    if (dt == AG_I32 && x->dtype != AG_I32)
        for (int64_t i = 0; i < x->numel; i++)
            if (!ag__i32_ok("cast", ag_get_flat_(x, i))) return NULL;
    convert(x, y, false);
    if (ag_dtype_is_float(dt) && !ag__record(y, &CAST, 1, &x)) return NULL;
    return y;
}

ag_dtype ag__promote(ag_dtype a, ag_dtype b) {
    if (a == AG_F64 || b == AG_F64) return AG_F64;
    if (a == AG_F32 || b == AG_F32) return AG_F32;
    return AG_BF16;
}

ag_tensor *ag__as(ag_arena *A, ag_tensor *x, ag_dtype dt) {
    return !x || x->dtype == dt ? x : ag_cast_(A, x, dt);
}

ag_tensor *ag__compute_form(ag_arena *A, ag_tensor *x) {
    return x->dtype == AG_BF16 && ag__needs_grad(1, &x) ? ag_cast_(A, x, AG_F32) : x;
}
