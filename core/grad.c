/* core/grad.c — reading, making and setting a tensor's gradient outside
 * backward (ag/grad.h). */
#include "ag/grad.h"
#include "internal.h"

ag_tensor *ag_grad_of(const ag_tensor *t) { return t ? t->grad : NULL; }

static bool can_have_grad(const char *op, const ag_tensor *t) {
    if (!ag_dtype_is_float(t->dtype)) {
        ag__fail(op, "%s %s is %s: only float tensors have gradients", t->name ? t->name : "tensor",
                 ag__shp(t), ag_dtype_name(t->dtype));
        return false;
    }
    if (!t->requires_grad) {
        ag__fail(op, "%s %s does not require a gradient: call ag_set_requires_grad(t, true) first",
                 t->name ? t->name : "tensor", ag__shp(t));
        return false;
    }
    return true;
}

ag_tensor *ag_grad_buffer_(ag_tensor *t) {
    if (!t || !can_have_grad("grad_buffer", t)) return NULL;
    return ag__grad_buf(t);
}

bool ag_set_grad_(ag_tensor *t, const ag_tensor *g) {
    if (!t || !g) return false;
    if (!can_have_grad("set_grad", t)) return false;
    if (!ag_dtype_is_float(g->dtype) || !ag_same_shape(t, g)) {
        ag__fail("set_grad", "gradient %s %s for tensor %s %s: expected a float tensor of the "
                 "tensor's shape", ag_dtype_name(g->dtype), ag__shp(g), ag_dtype_name(t->dtype),
                 ag__shp(t));
        return false;
    }
    ag_tensor *buf = ag__grad_buf(t);
    if (!buf) return false;
    for (int64_t i = 0; i < buf->numel; i++) ag_set_flat_(buf, i, ag_get_flat_(g, i));
    return true;
}
