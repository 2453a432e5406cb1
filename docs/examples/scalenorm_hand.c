#include <stdio.h>

#include "scalenorm.h"

/* The worked example: x = (3, 4), g = 2, eps = 0, dy = (1, 0). */
int main(void) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){3, 4});
    ag_tensor *g = ag_scalar(A, AG_F64, 2.0);
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(g, true);
    ag_tensor *y = scale_norm(A, x, g, 0.0);
    ag_backward(y, ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){1, 0}));
    printf("y      = (%g, %g)\n", ag_get_flat(y, 0), ag_get_flat(y, 1));
    printf("dL/dx  = (%g, %g)\n", ag_get_flat(x->grad, 0), ag_get_flat(x->grad, 1));
    printf("dL/dg  = %g\n", ag_item(g->grad));
    ag_arena_free(A);
    return 0;
}
