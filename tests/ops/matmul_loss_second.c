/* tests/ops/matmul_loss_second.c — second derivatives of matmul, linear, mse_loss and
 * cross_entropy: the first gradient is taken with create_graph (ag_grad),
 * then <gradient, V> is differentiated again without it, and the result is
 * compared with the formula worked out by hand for each:
 *
 *   f(A) = |A x|^2          d<grad_A f, V>/dA = 2 V x x^T
 *                           d<grad_x f, v>/dx = 2 A^T A v
 *   f = sum (X W^T + b)^2   d<grad_W f, V>/dW = 2 V X^T X, .../db = 2 V colsum(X)
 *                           .../dX = 2 (X V^T) W + 2 Y V
 *                           d<grad_b f, u>/dW = 2 u colsum(X)^T, .../db = 2 M u
 *   mse mean                Hessian 2/N I (and -2/N I against the target)
 *   cross_entropy mean      Hessian (diag(p) - p p^T) / count per counted row
 */
#include "ops_test.h"

static ag_tensor *leaf(ag_arena *A, int ndim, const int64_t *shape, const double *v) {
    ag_tensor *t = ag_from_f64(A, AG_F64, ndim, shape, v);
    t->requires_grad = true;
    return t;
}

/* d<grad_wrt f, v>/d inputs[i] into out[i]: the gradient of f with respect
 * to wrt recorded, then differentiated once more, plainly. */
static void second(ag_tensor *f, ag_tensor *wrt, ag_tensor *v, int nin, ag_tensor *const *inputs,
                   ag_tensor **out) {
    ag_tensor *g = NULL;
    ck_assert(ag_grad(1, &f, NULL, 1, &wrt, &g, true));
    ck_assert_ptr_nonnull(g);
    ck_assert(g->requires_grad);
    ck_assert(ag_grad(1, &g, &v, nin, inputs, out, false));
}

/* ---- matmul ---------------------------------------------------------------- */

/* f(A) = (A x) . (A x), A [2,3], x [3]: a 2-d @ 1-d product, then 1-d @ 1-d */
START_TEST(test_matmul_quadratic_in_a) {
    ag_arena *P = ag_arena_new(0);
    const double x[3] = {1, 2, -1}, a[6] = {0.5, -1, 2, 1.5, 0, -0.5};
    const double v[6] = {1, 0, 2, -1, 3, 1};
    ag_tensor *At = leaf(P, AG_SHAPE(2, 3), a);
    ag_tensor *xt = ag_from_f64(P, AG_F64, AG_SHAPE(3), x);
    ag_tensor *V = ag_from_f64(P, AG_F64, AG_SHAPE(2, 3), v);
    ag_tensor *y = ag_matmul(P, At, xt);
    ag_tensor *f = ag_matmul(P, y, y);
    /* the first derivative too: 2 (A x) x^T */
    ag_tensor *g = NULL;
    ck_assert(ag_grad(1, &f, NULL, 1, &At, &g, true));
    double ax[2], want[6];
    for (int i = 0; i < 2; i++) ax[i] = a[3 * i] * x[0] + a[3 * i + 1] * x[1] + a[3 * i + 2] * x[2];
    for (int i = 0; i < 6; i++) want[i] = 2 * ax[i / 3] * x[i % 3];
    ck_values(g, 6, want, 1e-14);
    /* 2 V x x^T: V x = (-1, 4) */
    ag_tensor *h = NULL;
    second(f, At, V, 1, &At, &h);
    ck_shape(h, 2, ((const int64_t[]){2, 3}));
    ck_values(h, 6, ((const double[]){-2, -4, 2, 8, 16, -8}), 1e-14);
    ag_arena_free(P);
}
END_TEST

/* f(x) = |A x|^2 with x the variable: Hessian 2 A^T A (1-d right operand) */
START_TEST(test_matmul_quadratic_in_x) {
    ag_arena *P = ag_arena_new(0);
    const double a[6] = {1, 2, 0, -1, 1, 3}, v[3] = {1, -1, 2};
    ag_tensor *At = ag_from_f64(P, AG_F64, AG_SHAPE(2, 3), a);
    ag_tensor *xt = leaf(P, AG_SHAPE(3), (const double[]){0.5, 1, -2});
    ag_tensor *vt = ag_from_f64(P, AG_F64, AG_SHAPE(3), v);
    ag_tensor *y = ag_matmul(P, At, xt);
    ag_tensor *h = NULL;
    second(ag_matmul(P, y, y), xt, vt, 1, &xt, &h);
    /* A v = (-1, 4); 2 A^T (A v) = 2 (-1*1 + 4*-1, -1*2 + 4*1, -1*0 + 4*3) */
    ck_shape(h, 1, ((const int64_t[]){3}));
    ck_values(h, 3, ((const double[]){-10, 4, 24}), 1e-14);
    ag_arena_free(P);
}
END_TEST

/* A batch of rows against a shared matrix: x [2,1,2] @ B [2,2] (B broadcast
 * over the batch), f = sum of the squares (mse with sum against 0) =
 * sum_b |x_b B|^2: d<grad_B f, V>/dB = 2 S V with S = sum_b x_b^T x_b. */
START_TEST(test_matmul_broadcast_batch) {
    ag_arena *P = ag_arena_new(0);
    const double x[4] = {1, 2, -1, 1}, v[4] = {1, 0, -2, 1};
    ag_tensor *Bt = leaf(P, AG_SHAPE(2, 2), (const double[]){0.5, 1, -1, 2});
    ag_tensor *xt = ag_from_f64(P, AG_F64, AG_SHAPE(2, 1, 2), x);
    ag_tensor *Vt = ag_from_f64(P, AG_F64, AG_SHAPE(2, 2), v);
    ag_tensor *zero = ag_zeros(P, AG_F64, AG_SHAPE(2, 1, 2));
    ag_tensor *f = ag_mse_loss_ex(P, ag_matmul(P, xt, Bt), zero, AG_REDUCE_SUM);
    ag_tensor *h = NULL;
    second(f, Bt, Vt, 1, &Bt, &h);
    /* S = [[1,2],[2,4]] + [[1,-1],[-1,1]] = [[2,1],[1,5]]; S V = [[0,1],[-9,5]] */
    ck_shape(h, 2, ((const int64_t[]){2, 2}));
    ck_values(h, 4, ((const double[]){0, 2, -18, 10}), 1e-14);
    ag_arena_free(P);
}
END_TEST

/* ---- linear ---------------------------------------------------------------- */

/* f = sum (X W^T + b)^2 (mse with sum reduction against 0), X [2,3], W [2,3] */
START_TEST(test_linear_second) {
    ag_arena *P = ag_arena_new(0);
    const double x[6] = {1, 0, 2, -1, 1, 0.5}, w[6] = {0.5, -1, 1, 2, 0, -1};
    const double b[2] = {0.25, -0.5}, v[6] = {1, 2, 0, -1, 0.5, 1};
    ag_tensor *X = leaf(P, AG_SHAPE(2, 3), x), *W = leaf(P, AG_SHAPE(2, 3), w);
    ag_tensor *Bt = leaf(P, AG_SHAPE(2), b);
    ag_tensor *V = ag_from_f64(P, AG_F64, AG_SHAPE(2, 3), v);
    ag_tensor *zero = ag_zeros(P, AG_F64, AG_SHAPE(2, 2));
    ag_tensor *f = ag_mse_loss_ex(P, ag_linear(P, X, W, Bt), zero, AG_REDUCE_SUM);
    ag_tensor *h[3] = {NULL};
    second(f, W, V, 3, (ag_tensor *[]){X, W, Bt}, h);
    /* Y = X W^T + b; the formulas of the file's head, by loops */
    double y[4], xtx[9] = {0}, hw[6] = {0}, hb[2] = {0}, hx[6] = {0}, xv[4] = {0};
    for (int m = 0; m < 2; m++)
        for (int o = 0; o < 2; o++) {
            y[2 * m + o] = b[o];
            for (int i = 0; i < 3; i++) y[2 * m + o] += x[3 * m + i] * w[3 * o + i];
        }
    for (int p = 0; p < 3; p++)
        for (int q = 0; q < 3; q++)
            for (int m = 0; m < 2; m++) xtx[3 * p + q] += x[3 * m + p] * x[3 * m + q];
    for (int o = 0; o < 2; o++)
        for (int q = 0; q < 3; q++)
            for (int i = 0; i < 3; i++) hw[3 * o + q] += 2 * v[3 * o + i] * xtx[3 * i + q];
    for (int o = 0; o < 2; o++)
        for (int m = 0; m < 2; m++)
            for (int i = 0; i < 3; i++) hb[o] += 2 * v[3 * o + i] * x[3 * m + i];
    for (int m = 0; m < 2; m++) /* X V^T */
        for (int o = 0; o < 2; o++)
            for (int i = 0; i < 3; i++) xv[2 * m + o] += x[3 * m + i] * v[3 * o + i];
    for (int m = 0; m < 2; m++)
        for (int q = 0; q < 3; q++)
            for (int o = 0; o < 2; o++)
                hx[3 * m + q] += 2 * xv[2 * m + o] * w[3 * o + q] + 2 * y[2 * m + o] * v[3 * o + q];
    ck_values(h[0], 6, hx, 1e-13);
    ck_values(h[1], 6, hw, 1e-13);
    ck_values(h[2], 2, hb, 1e-13);
    /* grad_b f = 2 sum_m Y_m: d<grad_b f, u>/dW = 2 u colsum(X)^T, .../db = 2 M u */
    const double u[2] = {1.5, -2};
    second(f, Bt, ag_from_f64(P, AG_F64, AG_SHAPE(2), u), 2, (ag_tensor *[]){W, Bt}, h);
    for (int o = 0; o < 2; o++)
        for (int q = 0; q < 3; q++) hw[3 * o + q] = 2 * u[o] * (x[q] + x[3 + q]);
    ck_values(h[0], 6, hw, 1e-13);
    ck_values(h[1], 2, ((const double[]){4 * u[0], 4 * u[1]}), 1e-13);
    ag_arena_free(P);
}
END_TEST

/* ---- mse_loss ---------------------------------------------------------------- */

/* mean over N = 6: the Hessian is 2/6 I against the input, -2/6 I against a
 * full target; a row target [3] gets -2/6 times V summed over the rows */
START_TEST(test_mse_hessian) {
    ag_arena *P = ag_arena_new(0);
    const double v[6] = {1, -2, 0.5, 3, 0, -1};
    ag_tensor *a = leaf(P, AG_SHAPE(2, 3), (const double[]){0.1, 2, -1, 0.5, 1, 3});
    ag_tensor *b = leaf(P, AG_SHAPE(2, 3), (const double[]){1, 0, 0.5, -2, 1, 0});
    ag_tensor *row = leaf(P, AG_SHAPE(3), (const double[]){0.5, -0.5, 2});
    ag_tensor *V = ag_from_f64(P, AG_F64, AG_SHAPE(2, 3), v);
    ag_tensor *h[2] = {NULL};
    second(ag_mse_loss(P, a, b), a, V, 2, (ag_tensor *[]){a, b}, h);
    double want_a[6], want_b[6];
    for (int i = 0; i < 6; i++) want_a[i] = 2 * v[i] / 6, want_b[i] = -2 * v[i] / 6;
    ck_values(h[0], 6, want_a, 1e-15);
    ck_values(h[1], 6, want_b, 1e-15);
    /* the sum: 2 I; and the target's share of the target's gradient: +2 I */
    second(ag_mse_loss_ex(P, a, b, AG_REDUCE_SUM), b, V, 2, (ag_tensor *[]){a, b}, h);
    for (int i = 0; i < 6; i++) want_a[i] = -2 * v[i], want_b[i] = 2 * v[i];
    ck_values(h[0], 6, want_a, 1e-15);
    ck_values(h[1], 6, want_b, 1e-15);
    /* a broadcast target [3]: d<grad_a, V>/d row = -2/6 sum over rows of V */
    second(ag_mse_loss(P, a, row), a, V, 1, &row, h);
    ck_values(h[0], 3, ((const double[]){-2 * 4.0 / 6, -2 * -2.0 / 6, -2 * -0.5 / 6}), 1e-15);
    ag_arena_free(P);
}
END_TEST

/* ---- cross_entropy ------------------------------------------------------------ */

/* softmax of one row of n logits, in double by the formula */
static void softmax_row(const double *x, int n, double *p) {
    double s = 0;
    for (int c = 0; c < n; c++) s += exp(x[c]);
    for (int c = 0; c < n; c++) p[c] = exp(x[c]) / s;
}

/* logits [3,3], targets (0, ignored, 2): count 2; row r's Hessian-vector
 * product is (p_r * v_r - p_r (p_r . v_r)) / 2, and 0 on the ignored row */
START_TEST(test_cross_entropy_hessian) {
    ag_arena *P = ag_arena_new(0);
    const double x[9] = {0.5, -1, 2, 1, 1, 1, -0.3, 0.8, 0.1};
    const double v[9] = {1, -1, 0.5, 2, 3, 4, -2, 0, 1};
    ag_tensor *X = leaf(P, AG_SHAPE(3, 3), x);
    ag_tensor *t = ag_from_array(P, AG_I32, AG_SHAPE(3), (const int32_t[]){0, -100, 2});
    ag_tensor *V = ag_from_f64(P, AG_F64, AG_SHAPE(3, 3), v);
    ag_tensor *h = NULL;
    second(ag_cross_entropy(P, X, t, -100), X, V, 1, &X, &h);
    double want[9] = {0};
    for (int r = 0; r < 3; r += 2) {
        double p[3], pv = 0;
        softmax_row(x + 3 * r, 3, p);
        for (int c = 0; c < 3; c++) pv += p[c] * v[3 * r + c];
        for (int c = 0; c < 3; c++) want[3 * r + c] = (p[c] * v[3 * r + c] - p[c] * pv) / 2;
    }
    ck_values(h, 9, want, 1e-15);
    ag_arena_free(P);
}
END_TEST

/* 1-d logits [4] with a 0-d target, and 3-d logits [1,2,2] (classes along
 * dim 1): the Hessian does not depend on the target */
START_TEST(test_cross_entropy_hessian_layouts) {
    ag_arena *P = ag_arena_new(0);
    const double x[4] = {0.2, -0.4, 1, 0}, v[4] = {1, 2, -1, 0.5};
    ag_tensor *X = leaf(P, AG_SHAPE(4), x);
    ag_tensor *t = ag_from_array(P, AG_I32, 0, NULL, (const int32_t[]){3});
    ag_tensor *V = ag_from_f64(P, AG_F64, AG_SHAPE(4), v);
    ag_tensor *h = NULL;
    second(ag_cross_entropy(P, X, t, -100), X, V, 1, &X, &h);
    double p[4], pv = 0, want[4];
    softmax_row(x, 4, p);
    for (int c = 0; c < 4; c++) pv += p[c] * v[c];
    for (int c = 0; c < 4; c++) want[c] = p[c] * v[c] - p[c] * pv;
    ck_values(h, 4, want, 1e-15);
    /* [1,2,2]: position i has logits x[i], x[2 + i]; count 2 */
    ag_tensor *X3 = leaf(P, AG_SHAPE(1, 2, 2), x);
    ag_tensor *t3 = ag_from_array(P, AG_I32, AG_SHAPE(1, 2), (const int32_t[]){1, 0});
    ag_tensor *V3 = ag_from_f64(P, AG_F64, AG_SHAPE(1, 2, 2), v);
    second(ag_cross_entropy(P, X3, t3, -100), X3, V3, 1, &X3, &h);
    for (int i = 0; i < 2; i++) {
        const double xi[2] = {x[i], x[2 + i]}, vi[2] = {v[i], v[2 + i]};
        softmax_row(xi, 2, p);
        pv = p[0] * vi[0] + p[1] * vi[1];
        for (int c = 0; c < 2; c++) want[2 * c + i] = (p[c] * vi[c] - p[c] * pv) / 2;
    }
    ck_values(h, 4, want, 1e-15);
    ag_arena_free(P);
}
END_TEST

/* every target ignored: no gradient (zeros), as the plain backward gives */
START_TEST(test_cross_entropy_all_ignored) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *X = leaf(P, AG_SHAPE(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *t = ag_from_array(P, AG_I32, AG_SHAPE(2), (const int32_t[]){-100, -100});
    ag_tensor *f = ag_cross_entropy(P, X, t, -100);
    ck_assert(isnan(ag_item(f)));
    ag_tensor *g = NULL;
    ck_assert(ag_grad(1, &f, NULL, 1, &X, &g, true));
    ck_values(g, 6, ((const double[]){0, 0, 0, 0, 0, 0}), 0);
    ag_arena_free(P);
}
END_TEST

TCase *ops_matmul_loss_second_tcase(void) {
    TCase *tc = tcase_create("matmul_loss_second");
    tcase_add_test(tc, test_matmul_quadratic_in_a);
    tcase_add_test(tc, test_matmul_quadratic_in_x);
    tcase_add_test(tc, test_matmul_broadcast_batch);
    tcase_add_test(tc, test_linear_second);
    tcase_add_test(tc, test_mse_hessian);
    tcase_add_test(tc, test_cross_entropy_hessian);
    tcase_add_test(tc, test_cross_entropy_hessian_layouts);
    tcase_add_test(tc, test_cross_entropy_all_ignored);
    return tc;
}
