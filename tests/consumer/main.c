/* An outside program built against an installed ag (see run.sh). */
#include <ag/ag.h>
#include <stdio.h>

int main(void) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){1.5, -2.0});
    ag_tensor *w = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){3.0, 4.0});
    ag_set_requires_grad(x, true);
    ag_tensor *loss = ag_sum(A, ag_mul(A, x, w), 0, NULL, false);
    ag_backward(loss, NULL);
    int ok = ag_get_flat(x->grad, 0) == 3.0 && ag_get_flat(x->grad, 1) == 4.0 && ag_item(loss) == 4.5 - 8.0;
    printf("consumer: loss %g, grad [%g, %g] %s\n", ag_item(loss), ag_get_flat(x->grad, 0), ag_get_flat(x->grad, 1), ok ? "ok" : "WRONG");
    ag_arena_free(A);
    return ok ? 0 : 1;
}
