#include <math.h>

#include "scalenorm_kernel.h"

/* dx += g r (dy - r^2 x (dy . x)) per row;  dg += sum over rows of r (dy . x) */
static void scale_norm_backward(ag_tensor *y) {
    ag_tensor *x = y->src[0], *g = y->src[1], *dy = y->grad;
    ag_tensor *dx = ag_grad_accum_buf(x), *dg = ag_grad_accum_buf(g);
    const double *r = ag_op_ctx(y)->data, gv = ag_op_load(g, 0);
    const int64_t D = x->shape[x->ndim - 1], rows = x->numel / D;
    double dg_sum = 0;
    for (int64_t row = 0; row < rows; row++) {
        const int64_t o = row * D;
        double dot = 0;
        for (int64_t i = 0; i < D; i++) dot += ag_op_load(dy, o + i) * ag_op_load(x, o + i);
        for (int64_t i = 0; dx && i < D; i++)
            ag_op_accum(dx, o + i, gv * r[row] * (ag_op_load(dy, o + i) -
                                                  r[row] * r[row] * ag_op_load(x, o + i) * dot));
        dg_sum += r[row] * dot;
    }
    if (dg) ag_op_accum(dg, 0, dg_sum);
}
static const ag_op SCALE_NORM = {"scale_norm", scale_norm_backward, NULL};


ag_tensor *scale_norm_kernel(ag_arena *A, ag_tensor *x, ag_tensor *g, double eps) {
    if (!x || !g) return NULL; /* an earlier failure, already reported */
    if ((x->dtype != AG_F32 && x->dtype != AG_F64) || x->ndim < 1 || x->numel < 1 ||
        g->dtype != x->dtype || g->numel != 1) {
        ag_op_fail("scale_norm", "x %s, g %s: expected x f32 or f64 with elements and a "
                   "one-element g of x's dtype", ag_op_desc(x).s, ag_op_desc(g).s);
        return NULL;
    }
    const int64_t D = x->shape[x->ndim - 1], rows = x->numel / D;
    ag_tensor *y = ag_op_result(A, "scale_norm", x->dtype, x->ndim, x->shape);
    double *r = y ? ag_arena_alloc(A, (size_t)rows * sizeof *r) : NULL;
    if (!r) return NULL;
    for (int64_t row = 0; row < rows; row++) {
        const int64_t o = row * D;
        double s = 0;
        for (int64_t i = 0; i < D; i++) s += ag_op_load(x, o + i) * ag_op_load(x, o + i);
        r[row] = 1 / sqrt(s + eps);
        for (int64_t i = 0; i < D; i++)
            ag_op_store(y, o + i, ag_op_load(g, 0) * ag_op_load(x, o + i) * r[row]);
    }
    ag_op_ctx(y)->data = r; /* 1 / sqrt(s + eps) of each row, for backward */
    return ag_op_record(y, &SCALE_NORM, 2, (ag_tensor *[]){x, g});
}
