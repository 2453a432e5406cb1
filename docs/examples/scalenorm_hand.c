#include <stdio.h>

#include "scalenorm.h"
#include "scalenorm_kernel.h"

typedef ag_tensor *scale_norm_fn(ag_arena *A, ag_tensor *x, ag_tensor *g, double eps);

/* The worked example, x = (3, 4), g = 2, eps = 0, dy = (1, 0), through both
 * forms of the op: written with ag ops, and with loops. */
int main(void) {
    ag_arena *A = ag_arena_new(0);
    const char *names[] = {"scale_norm", "scale_norm_kernel"};
    scale_norm_fn *forms[] = {scale_norm, scale_norm_kernel};
    for (int i = 0; i < 2; i++) {
        ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){3, 4});
        ag_tensor *g = ag_scalar(A, AG_F64, 2.0);
        ag_set_requires_grad(x, true);
        ag_set_requires_grad(g, true);
        ag_tensor *y = forms[i](A, x, g, 0.0);
        ag_backward(y, ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){1, 0}));
        printf("%s:\n", names[i]);
        printf("  y      = (%g, %g)\n", ag_get_flat(y, 0), ag_get_flat(y, 1));
        printf("  dL/dx  = (%g, %g)\n", ag_get_flat(x->grad, 0), ag_get_flat(x->grad, 1));
        printf("  dL/dg  = %g\n", ag_item(g->grad));
    }
    ag_arena_free(A);
    return 0;
}
