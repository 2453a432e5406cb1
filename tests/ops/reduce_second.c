/* tests/ops/reduce_second.c — second derivatives through sum, mean, max, var,
 * softmax and log_softmax (ag_grad with create_graph, then again without),
 * against Hessians written from their formulas, and a third derivative
 * through sum and mean. */
#include "ops_test.h"

enum { NMAX = 8 }; /* the largest input here has 8 elements */

static ag_tensor *f64(ag_arena *A, int ndim, const int64_t *shape, const double *v) {
    ag_tensor *x = ag_from_f64(A, AG_F64, ndim, shape, v);
    ag_set_requires_grad(x, true);
    return x;
}

/* Asserts d2f/dx_i dx_j = want[i][j] for a one-element f of x (at most NMAX
 * elements): the recorded gradient g, then for each i the gradient of g[i]
 * (seed e_i) with recording off gives row i. */
static void expect_hessian(ag_arena *A, ag_tensor *f, ag_tensor *x, double want[NMAX][NMAX]) {
    ag_tensor *g = NULL;
    ck_assert(ag_grad(1, &f, NULL, 1, &x, &g, true));
    ck_assert(g->requires_grad);
    const int64_t n = x->numel;
    ck_assert_int_le(n, NMAX);
    for (int64_t i = 0; i < n; i++) {
        ag_tensor *e = ag_zeros(A, g->dtype, g->ndim, g->shape), *h = NULL;
        ag_set_flat(e, i, 1);
        ck_assert(ag_grad(1, &g, &e, 1, &x, &h, false));
        for (int64_t j = 0; j < n; j++)
            ck_assert_msg(fabs(ag_get_flat(h, j) - want[i][j]) <= 1e-12,
                          "H[%d][%d] = %.17g, expected %.17g", (int)i, (int)j,
                          ag_get_flat(h, j), want[i][j]);
    }
}

/* p = softmax of the n values v[0], v[s], v[2s], ... (the formula, in double) */
static void softmax_of(const double *v, int n, int s, double *p) {
    double z = 0;
    for (int i = 0; i < n; i++) z += exp(v[i * s]);
    for (int i = 0; i < n; i++) p[i] = exp(v[i * s]) / z;
}

/* log(sum(exp(x))): H = diag(p) - p p^T, p = softmax(x) */
START_TEST(test_logsumexp) {
    ag_arena *A = ag_arena_new(0);
    const double v[4] = {0.5, -1.0, 2.0, 0.0};
    ag_tensor *x = f64(A, AG_SHAPE(4), v);
    ag_tensor *f = ag_log(A, ag_sum(A, ag_exp(A, x), 0, NULL, false));
    double p[4], want[NMAX][NMAX] = {{0}};
    softmax_of(v, 4, 1, p);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) want[i][j] = (i == j) * p[i] - p[i] * p[j];
    expect_hessian(A, f, x, want);
    ag_arena_free(A);
}
END_TEST

/* -sum of log_softmax(x, 0) at one target per column of a [3,2] x (a cross
 * entropy along dim 0): each column's block is diag(p) - p p^T, the columns
 * do not mix. Element (i, c) is flat index 2i + c. */
START_TEST(test_log_softmax_dim0) {
    ag_arena *A = ag_arena_new(0);
    const double v[6] = {0.3, -0.7, 1.1, 0.2, -0.4, 0.9};
    ag_tensor *x = f64(A, AG_SHAPE(3, 2), v);
    ag_tensor *pick = ag_from_f64(A, AG_F64, AG_SHAPE(3, 2), (double[]){0, 0, 1, 0, 0, 1});
    ag_tensor *f = ag_neg(A, ag_sum(A, ag_mul(A, ag_log_softmax(A, x, 0), pick), 0, NULL,
                                    false));
    double p[2][3], want[NMAX][NMAX] = {{0}};
    for (int c = 0; c < 2; c++) softmax_of(v + c, 3, 2, p[c]);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                want[2 * i + c][2 * j + c] = (i == j) * p[c][i] - p[c][i] * p[c][j];
    expect_hessian(A, f, x, want);
    ag_arena_free(A);
}
END_TEST

/* sum(softmax(x, -1) * c) row by row: with p the row's softmax and
 * b = sum(p c), df/dx_i = p_i (c_i - b) and
 * d2f/dx_i dx_j = [i = j] p_i (c_i - b) - p_i p_j (c_i - b) - p_i p_j (c_j - b). */
START_TEST(test_softmax_weighted_sum) {
    ag_arena *A = ag_arena_new(0);
    const double v[6] = {0.1, 1.2, -0.5, 2.0, 0.3, -1.0};
    const double cw[6] = {1.0, -2.0, 0.5, 3.0, 0.25, -1.5};
    ag_tensor *x = f64(A, AG_SHAPE(2, 3), v);
    ag_tensor *c = ag_from_f64(A, AG_F64, AG_SHAPE(2, 3), cw);
    ag_tensor *f = ag_sum(A, ag_mul(A, ag_softmax(A, x, -1), c), 0, NULL, false);
    double want[NMAX][NMAX] = {{0}};
    for (int r = 0; r < 2; r++) {
        double p[3], b = 0;
        const double *cr = cw + 3 * r;
        softmax_of(v + 3 * r, 3, 1, p);
        for (int i = 0; i < 3; i++) b += p[i] * cr[i];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                want[3 * r + i][3 * r + j] = (i == j) * p[i] * (cr[i] - b) -
                                             p[i] * p[j] * (cr[i] - b) -
                                             p[i] * p[j] * (cr[j] - b);
    }
    expect_hessian(A, f, x, want);
    ag_arena_free(A);
}
END_TEST

/* var over N elements with correction c: H = 2/(N-c) (I - 1/N), whatever x;
 * per row for sum(var(x, 1)) of a [2,4] x, over all 8 for var(x). */
START_TEST(test_var) {
    ag_arena *A = ag_arena_new(0);
    const double v[8] = {0.3, -1.2, 2.5, 0.7, 1.1, -0.4, 0.0, 3.2};
    for (int c = 0; c <= 1; c++) {
        ag_tensor *x = f64(A, AG_SHAPE(2, 4), v);
        ag_tensor *rows = ag_sum(A, ag_var(A, x, AG_DIMS(1), c, false), 0, NULL, false);
        double want[NMAX][NMAX] = {{0}};
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++)
                if (i / 4 == j / 4) want[i][j] = 2.0 / (4 - c) * ((i == j) - 1.0 / 4);
        expect_hessian(A, rows, x, want);

        ag_tensor *all = ag_var(A, x, 0, NULL, c, true); /* [1,1]: one element */
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++) want[i][j] = 2.0 / (8 - c) * ((i == j) - 1.0 / 8);
        expect_hessian(A, all, x, want);
    }
    ag_arena_free(A);
}
END_TEST

/* sum(mean(x, 0)^2) + sum(x)^2 for a [3,2] x: the first term couples the
 * elements of a column by 2/3^2, the second couples every pair by 2. */
START_TEST(test_mean_and_sum) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = f64(A, AG_SHAPE(3, 2), (double[]){0.5, -1.0, 2.0, 0.25, -0.75, 1.5});
    ag_tensor *cols = ag_sum(A, ag_square(A, ag_mean(A, x, AG_DIMS(0), false)), 0, NULL, false);
    ag_tensor *f = ag_add(A, cols, ag_square(A, ag_sum(A, x, 0, NULL, false)));
    double want[NMAX][NMAX];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) want[i][j] = 2.0 + (i % 2 == j % 2) * 2.0 / 9;
    expect_hessian(A, f, x, want);
    ag_arena_free(A);
}
END_TEST

/* sum(max(x, 1)^2): the gradient 2m and the second derivative 2 go to the
 * first maximum only, as the kernel's backward sends them; row 0 ties at 1
 * and 2. */
START_TEST(test_max_first_maximum) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = f64(A, AG_SHAPE(2, 3), (double[]){1, 3, 3, 5, -2, 4});
    ag_tensor *f = ag_sum(A, ag_square(A, ag_max(A, x, AG_DIMS(1), false)), 0, NULL, false);
    ag_tensor *g = NULL;
    ck_assert(ag_grad(1, &f, NULL, 1, &x, &g, true));
    ck_values(g, 6, ((double[]){0, 6, 0, 10, 0, 0}), 0);
    double want[NMAX][NMAX] = {{0}};
    want[1][1] = want[3][3] = 2;
    expect_hessian(A, f, x, want);
    ag_arena_free(A);
}
END_TEST

/* f = s^2 m with s = sum(x) and m = mean(sum(x, 1)) = s/2, for a [2,3] x:
 * f = s^3/2, so df/dx_i = 3s^2/2, sum_i d2f/dx_i dx_j = 6 * 3s = 18s and
 * sum_j d/dx_k of that = 6 * 18 = 108. Each step differentiates the graph
 * the one before recorded. */
START_TEST(test_third_derivative) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = f64(A, AG_SHAPE(2, 3), (double[]){0.5, -1.0, 2.0, 0.25, 1.5, -0.5});
    const double s = 0.5 - 1.0 + 2.0 + 0.25 + 1.5 - 0.5;
    ag_tensor *sum = ag_sum(A, x, 0, NULL, false);
    ag_tensor *m = ag_mean(A, ag_sum(A, x, AG_DIMS(1), false), AG_DIMS(0), false);
    ag_tensor *f = ag_mul(A, ag_mul(A, sum, sum), m);
    ag_tensor *ones = ag_ones(A, AG_F64, AG_SHAPE(2, 3));
    ag_tensor *g1 = NULL, *g2 = NULL, *g3 = NULL;
    ck_assert(ag_grad(1, &f, NULL, 1, &x, &g1, true));
    ck_assert(ag_grad(1, &g1, &ones, 1, &x, &g2, true));
    ck_assert(ag_grad(1, &g2, &ones, 1, &x, &g3, false));
    for (int i = 0; i < 6; i++) {
        ck_close(ag_get_flat(g1, i), 1.5 * s * s, 1e-12);
        ck_close(ag_get_flat(g2, i), 18 * s, 1e-12);
        ck_close(ag_get_flat(g3, i), 108, 1e-12);
    }
    ag_arena_free(A);
}
END_TEST

TCase *ops_reduce_second_tcase(void) {
    TCase *tc = tcase_create("reduce_second");
    tcase_add_test(tc, test_logsumexp);
    tcase_add_test(tc, test_log_softmax_dim0);
    tcase_add_test(tc, test_softmax_weighted_sum);
    tcase_add_test(tc, test_var);
    tcase_add_test(tc, test_mean_and_sum);
    tcase_add_test(tc, test_max_first_maximum);
    tcase_add_test(tc, test_third_derivative);
    return tc;
}
