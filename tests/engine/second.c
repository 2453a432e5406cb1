/* tests/engine/second.c — gradients of gradients: ag_grad (returned, not
 * accumulated), ag_backward_create_graph, ag_gradgradcheck, and what the
 * engine does with an op that has only a kernel or only a vjp. Expected
 * values are worked out by hand in the comments. */
#include <math.h>

#include "../ops/ops_test.h"
#include "engine_test.h"

static ag_arena *A;
static int reports;

static void setup(void) { A = engine_test_start(&reports); }

static void teardown(void) { engine_test_end(A); }

static ag_tensor *leaf3(double a, double b, double c) {
    ag_tensor *t = ag_from_f64(A, AG_F64, AG_SHAPE(3), (const double[]){a, b, c});
    ag_set_requires_grad(t, true);
    return t;
}

static ag_tensor *sum_all(ag_tensor *x) { return ag_sum(A, x, 0, NULL, false); }
/* The graph-mode tests seed vectors with ones instead of summing, so that
 * they need no op but the one under test. */
static ag_tensor *ones3(void) { return ag_ones(A, AG_F64, AG_SHAPE(3)); }

/* f = sum(x^3): g = 3 x^2, and the gradient of <g, v> is 6 x v. */
START_TEST(grad_returns_without_touching_grad) {
    ag_tensor *x = leaf3(1, -2, 0.5), *w = leaf3(1, 1, 1);
    ck_assert(ag_backward(sum_all(ag_mul(A, x, w)), NULL)); /* x->grad = w, w->grad = x */
    ag_tensor *const xg = x->grad, *const wg = w->grad;
    ag_tensor *g;
    ag_tensor *y = sum_all(ag_mul(A, ag_pow(A, x, 3), w));
    ck_assert(ag_grad(1, &y, NULL, 1, &x, &g, false));
    ck_values(g, 3, ((double[]){3, 12, 0.75}), 1e-15);
    ck_assert(!g->requires_grad);           /* plain values */
    ck_assert_ptr_eq(x->grad, xg);          /* .grad alone, the input's and w's */
    ck_assert_ptr_eq(w->grad, wg);
    ck_assert(w->requires_grad);
    ck_values(x->grad, 3, ((double[]){1, 1, 1}), 0);
    ck_values(w->grad, 3, ((double[]){1, -2, 0.5}), 0);
}
END_TEST

START_TEST(create_graph_gives_a_differentiable_gradient) {
    ag_tensor *x = leaf3(1, -2, 0.5);
    ag_tensor *v = ag_from_f64(A, AG_F64, AG_SHAPE(3), (const double[]){1, 0.5, -2});
    ag_tensor *g, *h;
    ag_tensor *one = ones3();
    ck_assert(ag_grad(1, (ag_tensor *[]){ag_pow(A, x, 3)}, &one, 1, &x, &g, true));
    ck_assert(g->requires_grad);
    ck_values(g, 3, ((double[]){3, 12, 0.75}), 1e-15);
    ck_assert(ag_grad(1, &g, &v, 1, &x, &h, false));
    ck_values(h, 3, ((double[]){6, -6, -6}), 1e-14); /* 6 x v */
    ck_assert_ptr_null(x->grad);
}
END_TEST

/* y1 = 2x (grad_out u), y2 = sum(x^2) (grad_out 1): the gradient is 2u + 2x. */
START_TEST(several_outputs_with_their_gradients) {
    ag_tensor *x = leaf3(1, 2, 3);
    ag_tensor *u = ag_from_f64(A, AG_F64, AG_SHAPE(3), (const double[]){1, -1, 0.25});
    ag_tensor *one = ag_scalar(A, AG_F64, 1);
    ag_tensor *y1 = ag_mul_scalar(A, x, 2), *y2 = sum_all(ag_square(A, x));
    ag_tensor *g;
    ck_assert(ag_grad(2, (ag_tensor *[]){y1, y2}, (ag_tensor *[]){u, one}, 1, &x, &g, false));
    ck_values(g, 3, ((double[]){4, 2, 6.5}), 1e-15);
}
END_TEST

/* An input the output does not use gets zeros; an intermediate gets its own
 * gradient: y = sum(h^2), h = 3x: dy/dh = 2h = 6x, dy/dx = 18x. */
START_TEST(unused_and_intermediate_inputs) {
    ag_tensor *x = leaf3(1, 2, 3), *z = leaf3(7, 7, 7);
    ck_assert(ag_set_grad(z, leaf3(5, 5, 5))); /* z's own gradient, not z's share */
    ag_tensor *h = ag_mul_scalar(A, x, 3);
    ag_tensor *y = sum_all(ag_square(A, h));
    ag_tensor *g[3];
    for (int graph = 0; graph < 2; graph++) {
        ck_assert(ag_grad(1, &y, NULL, 3, (ag_tensor *[]){x, z, h}, g, graph));
        ck_values(g[0], 3, ((double[]){18, 36, 54}), 1e-13);
        ck_values(g[1], 3, ((double[]){0, 0, 0}), 0);
        ck_values(g[2], 3, ((double[]){6, 12, 18}), 1e-13);
        ck_values(z->grad, 3, ((double[]){5, 5, 5}), 0);
    }
}
END_TEST

START_TEST(grad_reports_bad_arguments) {
    ag_set_error_handler(count_reports, &reports);
    ag_tensor *x = leaf3(1, 2, 3), *c = ag_zeros(A, AG_F64, AG_SHAPE(3));
    ag_tensor *y = sum_all(ag_mul(A, x, c)), *g[1] = {NULL};
    ck_assert(!ag_grad(1, &y, NULL, 1, &c, g, false)); /* c requires no gradient */
    ck_assert_int_eq(reports, 1);
    check_error("grad", "does not require a gradient", NULL);
    ag_set_error_handler(count_reports, &reports);
    ag_tensor *v = ag_mul(A, x, x); /* 3 elements, no grad_out */
    ck_assert(!ag_grad(1, &v, NULL, 1, &x, g, false));
    ck_assert_int_eq(reports, 2);
    check_error("grad", "implicit gradient of 1", NULL);
    ag_set_error_handler(count_reports, &reports);
    ck_assert(!ag_grad(1, (ag_tensor *[]){NULL}, NULL, 1, &x, g, false)); /* earlier failure */
    ck_assert_int_eq(reports, 2);
}
END_TEST

/* backward with create_graph: x->grad = 3x^2, recorded; a plain backward
 * of sum(x->grad) then adds 6x into it; ag_zero_grad drops it. */
START_TEST(backward_create_graph_records_leaf_grads) {
    ag_tensor *x = leaf3(1, -2, 0.5);
    ck_assert(ag_backward_create_graph(ag_pow(A, x, 3), ones3()));
    ck_assert_ptr_nonnull(x->grad);
    ck_assert(x->grad->requires_grad);
    ck_values(x->grad, 3, ((double[]){3, 12, 0.75}), 1e-15);
    ck_assert(ag_backward(x->grad, ones3()));
    ck_values(x->grad, 3, ((double[]){3 + 6, 12 - 12, 0.75 + 3}), 1e-14);
    ag_zero_grad(x);
    ck_assert_ptr_null(x->grad);
}
END_TEST

/* cube with a kernel only (correct first derivative), and with a vjp only. */
static void cube_kernel(ag_tensor *out) {
    ag_tensor *x = out->src[0], *gx = ag_grad_accum_buf(x);
    for (int64_t i = 0; gx && i < x->numel; i++)
        ag_op_accum(gx, i, ag_op_load(out->grad, i) * 3 * ag_op_load(x, i) * ag_op_load(x, i));
}
/* d(x^3) = g 3 x^2 as ops; with `detached`, x^2 is a constant: the first
 * derivative is still right, the second is not. */
static bool cube_vjp_as(ag_tensor *out, ag_tensor *g, ag_tensor **grads, bool detached) {
    ag_tensor *x = out->src[0];
    ag_tensor *x2 = detached ? ag_detach(out->arena, ag_square(out->arena, x))
                             : ag_square(out->arena, x);
    grads[0] = ag_mul_scalar(out->arena, ag_mul(out->arena, g, x2), 3);
    return grads[0] != NULL;
}
static bool cube_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    return cube_vjp_as(out, g, grads, false);
}
static bool cube_vjp_detached(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    return cube_vjp_as(out, g, grads, true);
}
static const ag_op CUBE_KERNEL = {.name = "cube_kernel", .backward = cube_kernel};
static const ag_op CUBE_VJP = {.name = "cube_vjp", .vjp = cube_vjp};
static const ag_op CUBE_DETACHED = {.name = "cube_detached", .vjp = cube_vjp_detached};

static ag_tensor *cube(ag_arena *Ar, ag_tensor *x, const ag_op *op) {
    ag_tensor *y = ag_op_result(Ar, op->name, AG_F64, x->ndim, x->shape);
    for (int64_t i = 0; i < x->numel; i++) ag_op_store(y, i, pow(ag_op_load(x, i), 3));
    return ag_op_record(y, op, 1, &x);
}

START_TEST(kernel_only_op_refuses_create_graph) {
    ag_set_error_handler(count_reports, &reports);
    ag_tensor *x = leaf3(1, 2, 3), *g, *one = ones3();
    ag_tensor *y = cube(A, x, &CUBE_KERNEL);
    ck_assert(ag_grad(1, &y, &one, 1, &x, &g, false)); /* first order: fine */
    ck_values(g, 3, ((double[]){3, 12, 27}), 1e-14);
    ck_assert(!ag_grad(1, &y, &one, 1, &x, &g, true));
    check_error("backward", "cube_kernel has no differentiable backward", NULL);
    ck_assert_ptr_null(x->grad);
}
END_TEST

/* A plain backward through a vjp-only op runs the vjp with recording off. */
START_TEST(vjp_only_op_in_a_plain_backward) {
    ag_tensor *x = leaf3(1, 2, 3);
    ck_assert(ag_backward(sum_all(cube(A, x, &CUBE_VJP)), NULL));
    ck_values(x->grad, 3, ((double[]){3, 12, 27}), 1e-14);
    ck_assert(!x->grad->requires_grad && ag_is_leaf(x->grad));
}
END_TEST

static ag_tensor *f_cube(ag_arena *Ar, ag_tensor *const *in, int n, void *u) {
    (void)n;
    return cube(Ar, in[0], u);
}

/* gradgradcheck passes the op whose vjp is made of ops, and catches the one
 * whose second derivative is wrong, which gradcheck passes. */
START_TEST(gradgradcheck_tells_right_from_wrong) {
    ag_tensor *x = leaf3(0.7, -1.3, 2.1);
    ag_gradcheck_result r;
    ck_assert(ag_gradcheck(f_cube, 1, &x, (void *)&CUBE_DETACHED, NULL, &r));
    ck_assert(ag_gradgradcheck(f_cube, 1, &x, (void *)&CUBE_VJP, NULL, &r));
    ck_assert_int_eq(r.n_inputs, 2); /* x and the random grad_out */
    ck_assert(!ag_gradgradcheck(f_cube, 1, &x, (void *)&CUBE_DETACHED, NULL, &r));
    ck_assert(!r.input_pass[0] && r.input_pass[1]); /* wrong w.r.t. x only */
}
END_TEST

/* A third derivative through an op whose recorded backward has no vjp of
 * its own (exp's "exp_backward") is refused, naming that op. */
START_TEST(third_order_names_the_op_that_stops_it) {
    ag_set_error_handler(count_reports, &reports);
    ag_tensor *x = leaf3(0, 1, 2), *g, *h, *one = ones3();
    ag_tensor *y = ag_exp(A, x);
    ck_assert(ag_grad(1, &y, &one, 1, &x, &g, true));
    ck_assert(ag_grad(1, &g, &one, 1, &x, &h, true) == false);
    check_error("backward", "exp_backward has no differentiable backward", NULL);
}
END_TEST

TCase *engine_second_tcase(void) {
    TCase *tc = tcase_create("second");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, grad_returns_without_touching_grad);
    tcase_add_test(tc, create_graph_gives_a_differentiable_gradient);
    tcase_add_test(tc, several_outputs_with_their_gradients);
    tcase_add_test(tc, unused_and_intermediate_inputs);
    tcase_add_test(tc, grad_reports_bad_arguments);
    tcase_add_test(tc, backward_create_graph_records_leaf_grads);
    tcase_add_test(tc, kernel_only_op_refuses_create_graph);
    tcase_add_test(tc, vjp_only_op_in_a_plain_backward);
    tcase_add_test(tc, gradgradcheck_tells_right_from_wrong);
    tcase_add_test(tc, third_order_names_the_op_that_stops_it);
    return tc;
}
