#include "scalenorm.h"

/* dx = r (g dy - r^2 x (g dy . x)) per row, which is g r (dy - r^2 x (dy . x))
 * for one-element g;  dg = r x dy, summed by the engine down to g's shape */
static bool scale_norm_vjp(ag_tensor *y, ag_tensor *dy, ag_tensor **grads) {
    ag_arena *A = y->arena;
    ag_tensor *x = y->src[0], *g = y->src[1], *r = ag_op_ctx(y)->saved[0];
    ag_tensor *gdy = ag_mul(A, g, dy);
    ag_tensor *dot = ag_sum(A, ag_mul(A, gdy, x), AG_DIMS(-1), true);
    grads[0] = ag_mul(A, r, ag_sub(A, gdy, ag_mul(A, ag_mul(A, ag_mul(A, r, r), x), dot)));
    grads[1] = ag_mul(A, ag_mul(A, r, x), dy);
    return true;
}
static const ag_op SCALE_NORM = {.name = "scale_norm", .vjp = scale_norm_vjp};

/* r = 1 / sqrt(sum(x^2) + eps) is recorded (made before AG_NO_GRAD), so that
 * the vjp's use of it is differentiable too: gradients of gradients work. */
ag_tensor *scale_norm(ag_arena *A, ag_tensor *x, ag_tensor *g, double eps) {
    ag_tensor *s = ag_sum(A, ag_mul(A, x, x), AG_DIMS(-1), true);
    ag_tensor *r = ag_rsqrt(A, ag_add_scalar(A, s, eps));
    ag_tensor *y = NULL;
    AG_NO_GRAD y = ag_mul(A, ag_mul(A, g, x), r);
    return ag_op_save(ag_op_apply(A, &SCALE_NORM, y, 2, (ag_tensor *[]){x, g}), 1, &r);
}
