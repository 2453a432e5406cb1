#include <ag/ag.h>
#include <stdio.h>

int main(int argc, char **argv) {
    (void)argv;
    if (argc > 1) return fprintf(stderr, "readme-example: takes no arguments\n"), 2;
    ag_arena *A = ag_arena_new(0); /* every tensor lives in an arena */

    /* y = sum(tanh(x W + b)) for one input row */
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(1, 3), (const double[]){1.0, -2.0, 0.5});
    ag_tensor *W = ag_from_f64(A, AG_F64, AG_SHAPE(3, 2),
                               (const double[]){0.1, 0.2, -0.3, 0.4, 0.5, -0.6});
    ag_tensor *b = ag_zeros(A, AG_F64, AG_SHAPE(2));
    ag_set_requires_grad(W, true);
    ag_set_requires_grad(b, true);

    ag_tensor *h = ag_tanh(A, ag_add(A, ag_matmul(A, x, W), b));
    ag_tensor *y = ag_sum(A, h, 0, NULL, false); /* all dims: a 0-d tensor */
    ag_backward(y, NULL);                        /* dy/dW and dy/db */

    ag_print(y);
    ag_print(W->grad);
    ag_print(b->grad);
    ag_arena_free(A); /* frees every tensor at once */
    return 0;
}
