/* An outside program built against an installed ag (see run.sh): a graph,
 * a custom op (ag/custom_op.h) and a gradient-check table run as a program
 * (ag/gradcheck_suite.h). */
#include <ag/ag.h>
#include <stdio.h>

/* twice(x) = 2 x, dx += 2 dy */
static void twice_backward(ag_tensor *y) {
    ag_tensor *gx = ag_grad_accum_buf(y->src[0]);
    for (int64_t i = 0; gx && i < y->numel; i++)
        ((double *)gx->data)[i] += 2 * ((const double *)y->grad->data)[i];
}
static const ag_op TWICE = {"twice", twice_backward, NULL};
static ag_tensor *twice(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    ag_tensor *y = ag_op_result(A, "twice", AG_F64, x[0]->ndim, x[0]->shape);
    for (int64_t i = 0; y && i < y->numel; i++) ((double *)y->data)[i] = 2 * ((double *)x[0]->data)[i];
    return ag_op_record(y, &TWICE, 1, x);
}

int main(void) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){1.5, -2.0});
    ag_tensor *w = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){3.0, 4.0});
    ag_set_requires_grad(x, true);
    /* sum(x * w + twice(x)): dx = w + 2 */
    ag_tensor *loss = ag_sum(A, ag_add(A, ag_mul(A, x, w), twice(A, &x, 1, NULL)), 0, NULL, false);
    ag_backward(loss, NULL);
    int ok = ag_get_flat(x->grad, 0) == 5.0 && ag_get_flat(x->grad, 1) == 6.0 && ag_item(loss) == 4.5 - 8.0 - 1.0;
    printf("consumer: loss %g, grad [%g, %g] %s\n", ag_item(loss), ag_get_flat(x->grad, 0), ag_get_flat(x->grad, 1), ok ? "ok" : "WRONG");
    const ag_gc_case cases[] = {AG_GC_CASE("twice", "[3]", twice, AG_GC_N(3))};
    ok = ok && ag_gradcheck_main(2, (char *[]){"consumer", "--seed=2", NULL}, cases, 1) == 0;
    ag_arena_free(A);
    return ok ? 0 : 1;
}
