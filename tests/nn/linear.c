/* tests/nn/linear.c — F.linear, linear_add and nn.Linear against hand
 * values, and the init functions against their formulas. */
#include <math.h>
#include <stdlib.h>

#include "nn_test.h"

/* W = [[1, 2, 3], [-1, 0, 1]], b = [0.5, -0.5], x = [[1, 1, 1], [2, 0, -1]],
 * upstream gradient G = [[1, 0], [2, 1]]; with_r, r = [[1, 2], [3, 4]] is
 * added by linear_add. */
static void linear_by_hand_with(bool with_r) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *W = ag_from_f64(A, AG_F64, AG_SHAPE(2, 3), (const double[]){1, 2, 3, -1, 0, 1});
    ag_tensor *b = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){0.5, -0.5});
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2, 3), (const double[]){1, 1, 1, 2, 0, -1});
    const double rv[4] = {1, 2, 3, 4};
    ag_tensor *r = ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), rv);
    ag_tensor *in[4] = {W, b, x, r};
    for (int i = 0; i < 4; i++) ag_set_requires_grad(in[i], true);
    ag_tensor *y = with_r ? ag_linear_add(A, x, W, b, r) : ag_linear(A, x, W, b);
    /* row 0: [6, 0] + b; row 1: [2 - 3, -2 - 1] + b; plus r */
    const double lin[4] = {6.5, -0.5, -0.5, -3.5};
    double want[4];
    for (int i = 0; i < 4; i++) want[i] = lin[i] + (with_r ? rv[i] : 0);
    ck_values(y, 4, want, 0);
    ck_shape(y, 2, ((const int64_t[]){2, 2}));
    const double gv[4] = {1, 0, 2, 1};
    ag_backward(y, ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), gv));
    /* dx = G W = [[1, 2, 3], [2-1, 4, 6+1]] */
    ck_values(x->grad, 6, ((const double[]){1, 2, 3, 1, 4, 7}), 0);
    /* dW = G^T x = [[1*1 + 2*2, 1*1 + 2*0, 1*1 + 2*(-1)], [0 + 2, 0, 0 - 1]] */
    ck_values(W->grad, 6, ((const double[]){5, 1, -1, 2, 0, -1}), 0);
    /* db = column sums of G; dr = G */
    ck_values(b->grad, 2, ((const double[]){3, 1}), 0);
    if (with_r) ck_values(r->grad, 4, gv, 0);
    else ck_assert_ptr_null(r->grad);
    ag_arena_free(A);
}

START_TEST(linear_by_hand) { linear_by_hand_with(false); }
END_TEST

START_TEST(linear_leading_dims_and_1d) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *W = ag_from_f64(A, AG_F64, AG_SHAPE(1, 2), (const double[]){2, -1});
    ag_tensor *x3 = iota(A, AG_F64, AG_SHAPE(2, 3, 2));
    ag_tensor *y3 = ag_linear(A, x3, W, NULL);
    ck_shape(y3, 3, ((const int64_t[]){2, 3, 1}));
    for (int i = 0; i < 6; i++) ck_close(ag_get_flat(y3, i), 2.0 * (2 * i) - (2 * i + 1), 0);
    ag_tensor *x1 = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){3, 4});
    ag_tensor *y1 = ag_linear(A, x1, W, NULL);
    ck_shape(y1, 1, ((const int64_t[]){1}));
    ck_close(ag_item(y1), 2.0, 0);
    /* an f32 input with an f64 weight promotes to f64 */
    ck_assert_int_eq(ag_linear(A, ag_cast(A, x1, AG_F32), W, NULL)->dtype, AG_F64);
    ag_arena_free(A);
}
END_TEST

START_TEST(linear_add_by_hand) {
    linear_by_hand_with(true);
    /* r = x (W square): x's gradient is G W + G; I as W gives y = 2 x */
    ag_arena *A = ag_arena_new(0);
    ag_tensor *I = ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), (const double[]){1, 0, 0, 1});
    ag_tensor *x2 = ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), (const double[]){1, -2, 3, 5});
    ag_set_requires_grad(x2, true);
    ag_tensor *y2 = ag_linear_add(A, x2, I, NULL, x2);
    ck_values(y2, 4, ((const double[]){2, -4, 6, 10}), 0);
    ag_backward(y2, ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), (const double[]){1, 0, 2, 1}));
    ck_values(x2->grad, 4, ((const double[]){2, 0, 4, 2}), 0);
    /* r's first gradient is dY itself, bit for bit: -0 stays -0 */
    ag_tensor *r3 = ag_zeros(A, AG_F64, AG_SHAPE(1, 2));
    ag_set_requires_grad(r3, true);
    ag_tensor *y3 = ag_linear_add(A, ag_zeros(A, AG_F64, AG_SHAPE(1, 2)), I, NULL, r3);
    ag_backward(y3, ag_from_f64(A, AG_F64, AG_SHAPE(1, 2), (const double[]){-0.0, 3}));
    ck_assert(signbit(ag_get_flat(r3->grad, 0)));
    ck_assert_double_eq(ag_get_flat(r3->grad, 1), 3);
    ag_arena_free(A);
}
END_TEST

/* db sums dY's columns over every row, in blocks of columns: 300 columns
 * (past one block of 256) and 70 rows of dY[i, j] = i - 2 j give
 * db[j] = sum_i (i - 2 j) = 2415 - 140 j. */
START_TEST(linear_bias_grad_wide) {
    ag_arena *A = ag_arena_new(0);
    enum { ROWS = 70, OUT = 300 };
    ag_tensor *x = ag_zeros(A, AG_F64, AG_SHAPE(ROWS, 2));
    ag_tensor *W = ag_zeros(A, AG_F64, AG_SHAPE(OUT, 2));
    ag_tensor *b = ag_zeros(A, AG_F64, AG_SHAPE(OUT));
    ag_set_requires_grad(b, true);
    ag_tensor *G = ag_zeros(A, AG_F64, AG_SHAPE(ROWS, OUT));
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < OUT; j++) ag_set_flat(G, i * OUT + j, (double)(i - 2 * j));
    ag_backward(ag_linear(A, x, W, b), G);
    for (int j = 0; j < OUT; j++) ck_close(ag_get_flat(b->grad, j), 2415.0 - 140.0 * j, 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(nn_linear_default_init) {
    ag_arena *P = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_nn_linear *l = ag_nn_linear_new(P, &r, 100, 300, true);
    const double bound = 0.1; /* 1/sqrt(100) */
    ck_shape(l->weight, 2, ((const int64_t[]){300, 100}));
    ck_shape(l->bias, 1, ((const int64_t[]){300}));
    double lo = 1, hi = -1, sum = 0;
    for (int64_t i = 0; i < l->weight->numel; i++) {
        double v = ag_get_flat(l->weight, i);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    ck_assert(lo >= -bound && hi < bound);
    ck_assert(lo < -0.99 * bound && hi > 0.99 * bound); /* 30000 draws reach the ends */
    /* mean of U(-b, b): 0 with standard error b/sqrt(3 n) */
    ck_assert(fabs(sum / 30000) < 4 * bound / sqrt(3.0 * 30000));
    for (int64_t i = 0; i < 300; i++) ck_assert(fabs(ag_get_flat(l->bias, i)) < bound);
    ck_assert_int_eq(ag_module_num_params(&l->base), 300 * 100 + 300);
    ck_assert(l->weight->requires_grad && l->bias->requires_grad);
    ag_nn_linear *nb = ag_nn_linear_new(P, &r, 3, 2, false);
    ck_assert_ptr_null(nb->bias);
    ck_assert_int_eq(nb->base.nparams, 1);
    ag_arena_free(P);
}
END_TEST

/* mean and standard deviation of t's values */
static void moments(const ag_tensor *t, double *mean, double *std) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < t->numel; i++) s += ag_get_flat(t, i);
    *mean = s / (double)t->numel;
    for (int64_t i = 0; i < t->numel; i++) {
        double d = ag_get_flat(t, i) - *mean;
        ss += d * d;
    }
    *std = sqrt(ss / (double)(t->numel - 1));
}

START_TEST(init_functions_follow_their_formulas) {
    ag_arena *P = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 9);
    const int n = 100000;
    ag_tensor *t = ag_zeros(P, AG_F32, AG_SHAPE(n));
    double mean, std;
    ck_assert(ag_init_normal(t, &r, 3.0, 0.5));
    moments(t, &mean, &std);
    ck_close(mean, 3.0, 4 * 0.5 / sqrt(n));
    ck_close(std, 0.5, 0.01);
    /* post_init for norm weights: normal(1, 0.02) */
    ck_assert(ag_init_post_norm(t, &r));
    moments(t, &mean, &std);
    ck_close(mean, 1.0, 4 * 0.02 / sqrt(n));
    ck_close(std, 0.02, 0.0005);
    ck_assert(ag_init_constant(t, -2.5));
    ck_close(ag_get_flat(t, n - 1), -2.5, 0);
    ck_assert(ag_init_ones(t) && ag_get_flat(t, 7) == 1.0);
    ck_assert(ag_init_zeros(t) && ag_get_flat(t, 7) == 0.0);
    ck_assert(ag_init_uniform(t, &r, 2.0, 3.0));
    moments(t, &mean, &std);
    ck_close(mean, 2.5, 4 * sqrt(1.0 / 12 / n));
    /* kaiming_uniform with a = 0 on [64, 25]: bound sqrt(2) * sqrt(3/25) */
    ag_tensor *k = ag_zeros(P, AG_F64, AG_SHAPE(64, 25));
    ck_assert(ag_init_kaiming_uniform(k, &r, 0.0));
    double bound = sqrt(2.0) * sqrt(3.0 / 25.0), hi = 0;
    for (int64_t i = 0; i < k->numel; i++) hi = fmax(hi, fabs(ag_get_flat(k, i)));
    ck_assert(hi <= bound && hi > 0.98 * bound);
    /* the same seed gives the same values */
    ag_rng r1, r2;
    ag_rng_seed(&r1, 4);
    ag_rng_seed(&r2, 4);
    ag_tensor *u = ag_zeros(P, AG_F32, AG_SHAPE(10)), *v = ag_zeros(P, AG_F32, AG_SHAPE(10));
    ag_init_normal(u, &r1, 0, 1);
    ag_init_normal(v, &r2, 0, 1);
    for (int i = 0; i < 10; i++) ck_assert(ag_get_flat(u, i) == ag_get_flat(v, i));
    ag_arena_free(P);
}
END_TEST

START_TEST(bad_linear_and_init_calls) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_tensor *W = ag_zeros(A, AG_F32, AG_SHAPE(4, 5));
    expect_errors();
    ck_assert_ptr_null(ag_linear(A, ag_zeros(A, AG_F32, AG_SHAPE(2, 3)), W, NULL));
    check_error("linear", "[2,3]", "[4,5]");
    expect_errors();
    ck_assert_ptr_null(ag_linear(A, ag_zeros(A, AG_F32, AG_SHAPE(5)), W,
                                 ag_zeros(A, AG_F32, AG_SHAPE(5))));
    check_error("linear", "bias [5]", "[4]");
    expect_errors();
    ck_assert_ptr_null(ag_linear(A, ag_zeros(A, AG_F32, AG_SHAPE(5)), ag_zeros(A, AG_F32, AG_SHAPE(5)), NULL));
    check_error("linear", "2-d", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_linear_add(A, ag_zeros(A, AG_F32, AG_SHAPE(2, 5)), W, NULL,
                                     ag_zeros(A, AG_F32, AG_SHAPE(2, 5))));
    check_error("linear_add", "r [2,5]", "out_features = 4");
    expect_errors();
    ck_assert_ptr_null(ag_linear_add(A, ag_zeros(A, AG_F32, AG_SHAPE(2, 5)), W, NULL,
                                     ag_zeros(A, AG_F32, AG_SHAPE(4))));
    check_error("linear_add", "r [4]", "x [2,5]");
    ag_tensor *x = ag_ones(A, AG_F32, AG_SHAPE(3));
    ag_set_requires_grad(x, true);
    expect_errors();
    ck_assert(!ag_init_normal(ag_mul_scalar(A, x, 2.0), &r, 0, 1));
    check_error("init_normal", "leaf", "[3]");
    expect_errors();
    ck_assert(!ag_init_uniform(x, &r, 1.0, 0.0));
    check_error("init_uniform", "lo <= hi", NULL);
    expect_errors();
    ck_assert(!ag_init_normal(x, NULL, 0, 1));
    check_error("init_normal", "rng", NULL);
    ag_arena_free(A);
}
END_TEST

TCase *nn_linear_tcase(void) {
    TCase *tc = tcase_create("linear");
    tcase_add_test(tc, linear_by_hand);
    tcase_add_test(tc, linear_leading_dims_and_1d);
    tcase_add_test(tc, linear_add_by_hand);
    tcase_add_test(tc, linear_bias_grad_wide);
    tcase_add_test(tc, nn_linear_default_init);
    tcase_add_test(tc, init_functions_follow_their_formulas);
    tcase_add_test(tc, bad_linear_and_init_calls);
    return tc;
}
