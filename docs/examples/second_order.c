#include <ag/ag.h>
#include <stdio.h>

/* f(x) = sum(x^3): the gradient is 3 x^2, the Hessian diag(6 x). */
int main(void) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(3), (double[]){1, -2, 0.5});
    ag_set_requires_grad(x, true);
    ag_tensor *f = ag_sum(A, ag_pow(A, x, 3), 0, NULL, false);

    ag_tensor *g, *hv;
    ag_grad(1, &f, NULL, 1, &x, &g, true);  /* g = 3 x^2, itself recorded */
    ag_tensor *v = ag_from_f64(A, AG_F64, AG_SHAPE(3), (double[]){1, 1, 2});
    ag_grad(1, &g, &v, 1, &x, &hv, false);  /* d<g, v>/dx = H v = 6 x v */
    printf("g  = 3 x^2 : %g %g %g\n", ag_get_flat(g, 0), ag_get_flat(g, 1), ag_get_flat(g, 2));
    printf("Hv = 6 x v : %g %g %g\n", ag_get_flat(hv, 0), ag_get_flat(hv, 1), ag_get_flat(hv, 2));

    /* a penalty on the gradient, trained by a plain backward through it */
    ag_tensor *pen = ag_add(A, f, ag_sum(A, ag_square(A, g), 0, NULL, false));
    ag_backward(pen, NULL);                 /* x->grad = 3 x^2 + 36 x^3 */
    printf("d(f + |g|^2)/dx : %g %g %g\n", ag_get_flat(x->grad, 0), ag_get_flat(x->grad, 1),
           ag_get_flat(x->grad, 2));
    ag_arena_free(A);
    return 0;
}
