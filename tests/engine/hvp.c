/* tests/engine/hvp.c — ag/hvp.h: Hessian-vector products by double backward
 * (against Hessians worked out by hand, and against central differences of
 * the gradient for a small MLP), power iteration for the top eigenvalue of
 * quadratics with known spectra, and the reports. */
#include <math.h>

#include "../ops/ops_test.h"
#include "engine_test.h"

static ag_arena *A;
static int reports;

static void setup(void) { A = engine_test_start(&reports); }

static void teardown(void) { engine_test_end(A); }

static ag_tensor *param(int ndim, const int64_t *shape, const double *values) {
    ag_tensor *t = ag_from_f64(A, AG_F64, ndim, shape, values);
    ag_set_requires_grad(t, true);
    return t;
}

static ag_tensor *sum_all(ag_arena *Ar, ag_tensor *x) { return ag_sum(Ar, x, 0, NULL, false); }

/* What the losses below read: up to four parameters and two constants. */
typedef struct {
    ag_tensor *p[4];
    ag_tensor *c[2];
} model;

/* 1/2 x^T Q x, x [3,1]: H = (Q + Q^T)/2 whatever Q's symmetry. */
static ag_tensor *quadratic(ag_arena *Ar, void *u) {
    const model *m = u;
    ag_tensor *x = m->p[0];
    return ag_mul_scalar(Ar, sum_all(Ar, ag_mul(Ar, x, ag_matmul(Ar, m->c[0], x))), 0.5);
}

START_TEST(quadratic_gives_the_symmetric_part_of_q) {
    /* Q = [[2,1,0],[3,4,-1],[0,1,5]]: (Q + Q^T)/2 = [[2,2,0],[2,4,0],[0,0,5]];
     * v = (1,-1,2): H v = (2-2, 2-4, 10) = (0,-2,10), at any x */
    model m = {.p = {param(AG_SHAPE(3, 1), (double[]){0.5, -1, 2})},
               .c = {ag_from_f64(A, AG_F64, AG_SHAPE(3, 3),
                                 (double[]){2, 1, 0, 3, 4, -1, 0, 1, 5})}};
    ag_tensor *v = ag_from_f64(A, AG_F64, AG_SHAPE(3, 1), (double[]){1, -1, 2}), *hv;
    ck_assert(ag_hvp(A, quadratic, &m, 1, m.p, &v, &hv));
    ck_shape(hv, 2, ((int64_t[]){3, 1}));
    ck_assert(!hv->requires_grad && ag_is_leaf(hv));
    ck_assert_ptr_eq(hv->arena, A);
    ck_values(hv, 3, ((double[]){0, -2, 10}), 1e-14);
    /* the parameter is as it was: values, no gradient */
    ck_values(m.p[0], 3, ((double[]){0.5, -1, 2}), 0);
    ck_assert_ptr_null(m.p[0]->grad);
}
END_TEST

/* sum(x^4): H = diag(12 x^2), H v = 12 x^2 v. */
static ag_tensor *quartic(ag_arena *Ar, void *u) {
    const model *m = u;
    return sum_all(Ar, ag_pow(Ar, m->p[0], 4));
}

START_TEST(quartic_gives_12_x2_v) {
    model m = {.p = {param(AG_SHAPE(2, 2), (double[]){1, -0.5, 2, 0})}};
    ag_tensor *v = ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), (double[]){1, 2, -0.25, 3}), *hv;
    /* a .grad the parameter had is left alone */
    ag_tensor *own = ag_grad_buffer(m.p[0]);
    ag_set_flat(own, 0, 42);
    ck_assert(ag_hvp(A, quartic, &m, 1, m.p, &v, &hv));
    /* 12 x^2 v = (12*1*1, 12*0.25*2, 12*4*(-0.25), 12*0*3) */
    ck_values(hv, 4, ((double[]){12, 6, -12, 0}), 1e-13);
    ck_assert_ptr_eq(m.p[0]->grad, own);
    ck_values(own, 4, ((double[]){42, 0, 0, 0}), 0);
    /* in f32: the same values (all exact in f32), an f32 result */
    model m32 = {.p = {ag_from_f64(A, AG_F32, AG_SHAPE(2, 2), (double[]){1, -0.5, 2, 0})}};
    ag_set_requires_grad(m32.p[0], true);
    ag_tensor *v32 = ag_cast(A, v, AG_F32);
    ck_assert(ag_hvp(A, quartic, &m32, 1, m32.p, &v32, &hv));
    ck_assert_int_eq(hv->dtype, AG_F32);
    ck_values(hv, 4, ((double[]){12, 6, -12, 0}), 1e-5);
}
END_TEST

/* sum(x * x * y) over two parameters: dL/dx = 2xy, dL/dy = x^2, so
 * H (vx, vy) = (2y vx + 2x vy, 2x vx): the cross terms come through. */
static ag_tensor *cross(ag_arena *Ar, void *u) {
    const model *m = u;
    return sum_all(Ar, ag_mul(Ar, ag_mul(Ar, m->p[0], m->p[0]), m->p[1]));
}

START_TEST(two_parameters_mix) {
    model m = {.p = {param(AG_SHAPE(2), (double[]){1, -2}), param(AG_SHAPE(2), (double[]){3, 0.5})}};
    ag_tensor *v[2] = {ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){1, 1}),
                       ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){-1, 2})};
    ag_tensor *hv[2];
    ck_assert(ag_hvp(A, cross, &m, 2, m.p, v, hv));
    /* (2*3*1 + 2*1*(-1), 2*0.5*1 + 2*(-2)*2) = (4, -7); (2*1*1, 2*(-2)*1) = (2, -4) */
    ck_values(hv[0], 2, ((double[]){4, -7}), 1e-14);
    ck_values(hv[1], 2, ((double[]){2, -4}), 1e-14);
}
END_TEST

/* sum(c * x) + sum(y^2): linear in x (its gradient c needs no graph), so
 * H v = (0, 2 vy); a parameter the loss never reads gets zeros too. */
static ag_tensor *linear_in_x(ag_arena *Ar, void *u) {
    const model *m = u;
    return ag_add(Ar, sum_all(Ar, ag_mul(Ar, m->c[0], m->p[0])),
                  sum_all(Ar, ag_square(Ar, m->p[1])));
}

START_TEST(linear_parts_give_zeros) {
    model m = {.p = {param(AG_SHAPE(2), (double[]){1, 2}), param(AG_SHAPE(2), (double[]){3, 4}),
                     param(AG_SHAPE(1), (double[]){5})},
               .c = {ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){7, -1})}};
    ag_tensor *v[3] = {ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){1, 1}),
                       ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){0.5, -3}),
                       ag_from_f64(A, AG_F64, AG_SHAPE(1), (double[]){2})};
    ag_tensor *hv[3];
    ck_assert(ag_hvp(A, linear_in_x, &m, 3, m.p, v, hv));
    ck_values(hv[0], 2, ((double[]){0, 0}), 0);
    ck_values(hv[1], 2, ((double[]){1, -6}), 1e-15);
    ck_values(hv[2], 1, ((double[]){0}), 0);
    /* only the linear part: no second-order term at all, H = 0 */
    model only = {.p = {m.p[0], ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){0, 0})},
                  .c = {m.c[0]}};
    ag_tensor *h0;
    ck_assert(ag_hvp(A, linear_in_x, &only, 1, only.p, v, &h0));
    ck_values(h0, 2, ((double[]){0, 0}), 0);
}
END_TEST

/* ---- a small MLP against central differences of its gradient ----------------- */

enum { N = 6, IN = 3, HID = 4 };

/* mean((tanh(x W1^T + b1) W2^T + b2 - y)^2), f64 */
static ag_tensor *mlp_loss(ag_arena *Ar, void *u) {
    const model *m = u;
    ag_tensor *h = ag_tanh(Ar, ag_linear(Ar, m->c[0], m->p[0], m->p[1]));
    ag_tensor *d = ag_sub(Ar, ag_linear(Ar, h, m->p[2], m->p[3]), m->c[1]);
    return ag_mean(Ar, ag_square(Ar, d), 0, NULL, false);
}

/* The plain gradient of the MLP's loss at the parameters' values, as
 * doubles, parameter after parameter, into out. */
static void mlp_gradient(model *m, ag_arena *Ar, double *out) {
    ag_tensor *l = mlp_loss(Ar, m), *g[4];
    ck_assert(ag_grad(1, &l, NULL, 4, m->p, g, false));
    for (int i = 0, k = 0; i < 4; i++)
        for (int64_t j = 0; j < g[i]->numel; j++) out[k++] = ag_get_flat(g[i], j);
}

/* w += s v for every parameter */
static void step_along(model *m, ag_tensor *const *v, double s) {
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < m->p[i]->numel; j++)
            ag_set_flat(m->p[i], j, ag_get_flat(m->p[i], j) + s * ag_get_flat(v[i], j));
}

START_TEST(mlp_matches_differences_of_the_gradient) {
    ag_rng r;
    ag_rng_seed(&r, 7);
    const int64_t shapes[4][2] = {{HID, IN}, {HID, 0}, {1, HID}, {1, 0}};
    model m = {.c = {ag_randn(A, &r, AG_F64, AG_SHAPE(N, IN), 0, 1),
                     ag_randn(A, &r, AG_F64, AG_SHAPE(N, 1), 0, 1)}};
    ag_tensor *v[4], *hv[4];
    for (int i = 0; i < 4; i++) {
        const int nd = shapes[i][1] ? 2 : 1;
        m.p[i] = ag_randn(A, &r, AG_F64, nd, shapes[i], 0, 0.8);
        ag_set_requires_grad(m.p[i], true);
        v[i] = ag_randn(A, &r, AG_F64, nd, shapes[i], 0, 1);
    }
    ck_assert(ag_hvp(A, mlp_loss, &m, 4, m.p, v, hv));
    /* (g(w + h v) - g(w - h v)) / (2h), error O(h^2) */
    enum { P = HID * IN + HID + HID + 1 };
    const double h = 1e-5;
    double gp[P], gm[P];
    ag_arena *S = ag_arena_new(0);
    step_along(&m, v, h);
    mlp_gradient(&m, S, gp);
    step_along(&m, v, -2 * h);
    mlp_gradient(&m, S, gm);
    step_along(&m, v, h);
    ag_arena_free(S);
    double biggest = 0;
    for (int i = 0, k = 0; i < 4; i++)
        for (int64_t j = 0; j < hv[i]->numel; j++, k++) {
            const double want = (gp[k] - gm[k]) / (2 * h), got = ag_get_flat(hv[i], j);
            ck_assert_msg(fabs(got - want) <= 1e-7 + 1e-6 * fabs(want),
                          "hv[%d][%lld] = %.12g, differences give %.12g", i, (long long)j, got,
                          want);
            biggest = fmax(biggest, fabs(want));
        }
    ck_assert(biggest > 1e-2); /* the comparison is not of zeros */
}
END_TEST

/* ---- power iteration --------------------------------------------------------- */

/* 1/2 sum(d0 x^2) + 1/2 sum(d1 y^2): H = diag(d0, d1). */
static ag_tensor *diagonal(ag_arena *Ar, void *u) {
    const model *m = u;
    ag_tensor *a = sum_all(Ar, ag_mul(Ar, m->c[0], ag_square(Ar, m->p[0])));
    ag_tensor *b = sum_all(Ar, ag_mul(Ar, m->c[1], ag_square(Ar, m->p[1])));
    return ag_mul_scalar(Ar, ag_add(Ar, a, b), 0.5);
}

START_TEST(power_iteration_finds_the_largest_magnitude) {
    /* spectrum {1, 3, 2} and {-7, 5}: the largest in magnitude is -7; the
     * Rayleigh quotient's error shrinks as (5/7)^(2k) */
    model m = {.p = {param(AG_SHAPE(3), (double[]){0.3, -1, 2}),
                     param(AG_SHAPE(2), (double[]){1, 1})},
               .c = {ag_from_f64(A, AG_F64, AG_SHAPE(3), (double[]){1, 3, 2}),
                     ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){-7, 5})}};
    const ag_hessian_eig_opts o = {.iters = 200, .tol = 1e-12, .seed = 3};
    ag_hessian_eig_result r;
    ck_assert(ag_hessian_top_eig(diagonal, &m, 2, m.p, &o, &r));
    ck_assert(r.converged);
    ck_close(r.eigenvalue, -7, 1e-9);
    ck_assert_int_gt(r.iters, 2);
    ck_assert_int_le(r.iters, 200);
    /* the loss at x: (0.09 + 3 + 8 - 7 + 5) / 2 */
    ck_close(r.loss, (0.09 + 3 + 8 - 7 + 5) / 2, 1e-14);
    /* the same seed, the same run */
    ag_hessian_eig_result again;
    ck_assert(ag_hessian_top_eig(diagonal, &m, 2, m.p, &o, &again));
    ck_assert_int_eq(again.iters, r.iters);
    ck_assert(again.eigenvalue == r.eigenvalue);
    /* spectrum {1, 4, 3} and {2, 0.5}: 4; with the defaults (20 products,
     * tol 1e-3: relative error about 1e-3 * 3/4 / (1 - 3/4)) */
    ag_copy_array_into(m.c[0], (double[]){1, 4, 3}, AG_F64, 3);
    ag_copy_array_into(m.c[1], (double[]){2, 0.5}, AG_F64, 2);
    ck_assert(ag_hessian_top_eig(diagonal, &m, 2, m.p, NULL, &r));
    ck_assert(r.converged);
    ck_assert_int_le(r.iters, 20);
    ck_close(r.eigenvalue, 4, 4 * 4e-3);
    /* one product only: not converged, and lambda is <v0, H v0> */
    ck_assert(ag_hessian_top_eig(diagonal, &m, 2, m.p, &(ag_hessian_eig_opts){.iters = 1}, &r));
    ck_assert(!r.converged);
    ck_assert_int_eq(r.iters, 1);
    ck_assert(r.eigenvalue >= 0.5 && r.eigenvalue <= 4); /* between the extremes */
    /* H = 0 (every d zero): lambda 0 at the first product */
    ag_copy_array_into(m.c[0], (double[]){0, 0, 0}, AG_F64, 3);
    ag_copy_array_into(m.c[1], (double[]){0, 0}, AG_F64, 2);
    ck_assert(ag_hessian_top_eig(diagonal, &m, 2, m.p, &o, &r));
    ck_assert(r.converged);
    ck_assert_int_eq(r.iters, 1);
    ck_assert(r.eigenvalue == 0);
}
END_TEST

/* ---- reports ------------------------------------------------------------------ */

static ag_tensor *elementwise(ag_arena *Ar, void *u) {
    const model *m = u;
    return ag_square(Ar, m->p[0]); /* two elements: not a loss */
}

static ag_tensor *constant(ag_arena *Ar, void *u) {
    (void)u;
    return ag_scalar(Ar, AG_F64, 1);
}

/* x^3 through an op with a kernel and no vjp */
static void cube_kernel(ag_tensor *out) {
    ag_tensor *x = out->src[0], *gx = ag_grad_accum_buf(x);
    for (int64_t i = 0; gx && i < x->numel; i++)
        ag_op_accum(gx, i, ag_op_load(out->grad, i) * 3 * ag_op_load(x, i) * ag_op_load(x, i));
}
static const ag_op CUBE = {.name = "cube_kernel", .backward = cube_kernel};
/* x^3 of a one-element x: a loss of that op alone */
static ag_tensor *kernel_only(ag_arena *Ar, void *u) {
    const model *m = u;
    ag_tensor *x = m->p[0], *y = ag_op_result(Ar, "cube_kernel", AG_F64, x->ndim, x->shape);
    for (int64_t i = 0; i < x->numel; i++) ag_op_store(y, i, pow(ag_op_load(x, i), 3));
    return ag_op_record(y, &CUBE, 1, &x);
}

START_TEST(bad_arguments_are_reported) {
    model m = {.p = {param(AG_SHAPE(2), (double[]){1, 2})}};
    ag_tensor *v = ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){1, 1});
    ag_tensor *hv = v;
    expect_errors();
    ck_assert(!ag_hvp(A, quartic, &m, 1, m.p, (ag_tensor *[]){ag_zeros(A, AG_F64, AG_SHAPE(3))},
                      &hv));
    check_error("hvp", "v[0] is f64 [3]", "parameter 0's shape and dtype, f64 [2]");
    ck_assert_ptr_null(hv);
    expect_errors();
    ck_assert(!ag_hvp(A, quartic, &m, 1, m.p, (ag_tensor *[]){ag_zeros(A, AG_F32, AG_SHAPE(2))},
                      &hv));
    check_error("hvp", "v[0] is f32 [2]", NULL);
    expect_errors();
    ck_assert(!ag_hvp(A, quartic, &m, 1, (ag_tensor *[]){v}, &v, &hv));
    check_error("hvp", "parameter 0 (f64 [2]) does not require a gradient", NULL);
    expect_errors();
    ck_assert(!ag_hvp(A, cross, &m, 2, (ag_tensor *[]){m.p[0], m.p[0]}, (ag_tensor *[]){v, v},
                      (ag_tensor *[2]){0}));
    check_error("hvp", "parameters 0 and 1 are the same tensor", NULL);
    expect_errors();
    ck_assert(!ag_hvp(A, elementwise, &m, 1, m.p, &v, &hv));
    check_error("hvp", "the loss is f64 [2]", "one float element");
    expect_errors();
    ck_assert(!ag_hvp(A, constant, &m, 1, m.p, &v, &hv));
    check_error("hvp", "does not require a gradient: it reaches none of the 1 parameters", NULL);
    expect_errors();
    ck_assert(!ag_hvp(A, NULL, &m, 1, m.p, &v, &hv));
    check_error("hvp", "NULL loss function", NULL);
    expect_errors();
    ck_assert(!ag_hvp(NULL, quartic, &m, 1, m.p, &v, &hv));
    check_error("hvp", NULL, NULL);
    /* an op on the way without a vjp: named by the engine */
    model one = {.p = {param(AG_SHAPE(1), (double[]){2})}};
    ag_tensor *v1 = ag_from_f64(A, AG_F64, AG_SHAPE(1), (double[]){1});
    ag_set_error_handler(count_reports, &reports);
    ck_assert(!ag_hvp(A, kernel_only, &one, 1, one.p, &v1, &hv));
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "cube_kernel has no differentiable backward"));
    ck_assert_ptr_null(hv);
    ck_assert_ptr_null(one.p[0]->grad);
    /* an earlier failure: false, no report */
    expect_errors();
    ck_assert(!ag_hvp(A, quartic, &m, 1, m.p, (ag_tensor *[]){NULL}, &hv));
    ck_assert(!ag_hvp(A, quartic, &m, 1, (ag_tensor *[]){NULL}, &v, &hv));
    ck_assert_int_eq(ag_error_count(), 0);
    /* the power iteration's own options */
    ag_hessian_eig_result r;
    expect_errors();
    ck_assert(!ag_hessian_top_eig(quartic, &m, 1, m.p, &(ag_hessian_eig_opts){.tol = NAN}, &r));
    check_error("hessian_top_eig", "tol nan", NULL);
    expect_errors();
    ck_assert(!ag_hessian_top_eig(quartic, &m, 1, m.p, &(ag_hessian_eig_opts){.iters = -1}, &r));
    check_error("hessian_top_eig", "iters -1", NULL);
    expect_errors();
    ck_assert(!ag_hessian_top_eig(quartic, &m, 1, m.p, NULL, NULL));
    check_error("hessian_top_eig", "result is NULL", NULL);
    expect_errors();
    ck_assert(!ag_hessian_top_eig(elementwise, &m, 1, m.p, NULL, &r));
    check_error("hessian_top_eig", "the loss is f64 [2]", NULL);
}
END_TEST

TCase *engine_hvp_tcase(void) {
    TCase *tc = tcase_create("hvp");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, quadratic_gives_the_symmetric_part_of_q);
    tcase_add_test(tc, quartic_gives_12_x2_v);
    tcase_add_test(tc, two_parameters_mix);
    tcase_add_test(tc, linear_parts_give_zeros);
    tcase_add_test(tc, mlp_matches_differences_of_the_gradient);
    tcase_add_test(tc, power_iteration_finds_the_largest_magnitude);
    tcase_add_test(tc, bad_arguments_are_reported);
    return tc;
}
