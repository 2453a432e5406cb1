/* tests/nn/norm_ref.c — the reference LayerNorm (ag_layer_norm_ref_forward
 * / _backward, plain loops in double): itself against values by hand and
 * against central differences; then the fused ag_layer_norm against it, in
 * f64 to 1e-12 (several shapes, D not a multiple of 16, rows whose mean is
 * 1e3 times their spread) and in f32 on rows of mean 1e3 and small spread,
 * to a bound derived from f32's rounding; and its bad calls. */
#include <stdlib.h>
#include <string.h>

#include <ag/norm_ops.h>

#include "nn_test.h"

/* ---- the reference itself ------------------------------------------------------- */

/* The hand example of tests/nn/norm_ops.c (test_layer_norm_hand_gradient):
 * x = [1, 1, 4], eps 0, w = [1, 2, 3], b = [0.5, 0, 0], dy = [1, 0, -1]:
 *   mean 2, var 2, r = 1/sqrt(2), xh = [-1, -1, 2]/sqrt(2),
 *   y = xh * w + b = [-1/sqrt2 + 0.5, -2/sqrt2, 6/sqrt2]
 *   dx = [1, -1, 0] / (2 sqrt 2), dw = dy * xh = [-1/sqrt2, 0, -sqrt2], db = dy.
 * Backward adds: a second call doubles every gradient. */
START_TEST(test_ref_hand) {
    const double s2 = sqrt(2.0);
    const double x[] = {1, 1, 4}, w[] = {1, 2, 3}, b[] = {0.5, 0, 0}, dy[] = {1, 0, -1};
    const double y_want[] = {-1 / s2 + 0.5, -2 / s2, 6 / s2};
    const double dx_want[] = {1 / (2 * s2), -1 / (2 * s2), 0};
    const double dw_want[] = {-1 / s2, 0, -s2};
    double y[3], mean[1], rstd[1], dx[3] = {0}, dw[3] = {0}, db[3] = {0};
    const ag_layer_norm_ref L = {.rows = 1, .D = 3, .eps = 0, .inp = x, .weight = w, .bias = b,
                                 .out = y, .mean = mean, .rstd = rstd, .dout = dy, .dinp = dx,
                                 .dweight = dw, .dbias = db};
    ck_assert(ag_layer_norm_ref_forward(&L));
    ck_close(mean[0], 2, 1e-15);
    ck_close(rstd[0], 1 / s2, 1e-15);
    for (int j = 0; j < 3; j++) ck_close(y[j], y_want[j], 1e-15);
    for (int k = 1; k <= 2; k++) {
        ck_assert(ag_layer_norm_ref_backward(&L));
        for (int j = 0; j < 3; j++) {
            ck_close(dx[j], k * dx_want[j], 1e-14); /* a difference of terms ~2 */
            ck_close(dw[j], k * dw_want[j], 1e-15);
            ck_close(db[j], k * dy[j], 0);
        }
    }
}
END_TEST

/* sum(out * dout) as a function of every input, for central differences. */
static double ref_loss(const ag_layer_norm_ref *L, double *out) {
    ck_assert(ag_layer_norm_ref_forward(L));
    double s = 0;
    for (int64_t k = 0; k < L->rows * L->D; k++) s += out[k] * L->dout[k];
    return s;
}

/* The reference's backward against central differences of its forward, in
 * f64 (step 1e-6: error ~ step^2 * f''' + 1e-16 / step, far below 1e-7). */
START_TEST(test_ref_finite_differences) {
    enum { R = 3, D = 7 };
    double x[R * D], w[D], b[D], dy[R * D], y[R * D], mean[R], rstd[R];
    double dx[R * D] = {0}, dw[D] = {0}, db[D] = {0};
    for (int k = 0; k < R * D; k++) x[k] = sin(1.7 * k + 0.2) * 2 + 0.5, dy[k] = cos(0.9 * k);
    for (int j = 0; j < D; j++) w[j] = 1 + 0.1 * j, b[j] = 0.3 - 0.05 * j;
    ag_layer_norm_ref L = {.rows = R, .D = D, .eps = 1e-3, .inp = x, .weight = w, .bias = b,
                           .out = y, .mean = mean, .rstd = rstd, .dout = dy, .dinp = dx,
                           .dweight = dw, .dbias = db};
    ck_assert(ag_layer_norm_ref_forward(&L));
    ck_assert(ag_layer_norm_ref_backward(&L));
    double *params[3] = {x, w, b}, *grads[3] = {dx, dw, db};
    const int sizes[3] = {R * D, D, D};
    const double h = 1e-6;
    for (int p = 0; p < 3; p++)
        for (int k = 0; k < sizes[p]; k++) {
            const double v = params[p][k];
            params[p][k] = v + h;
            const double up = ref_loss(&L, y);
            params[p][k] = v - h;
            const double down = ref_loss(&L, y);
            params[p][k] = v;
            const double num = (up - down) / (2 * h);
            ck_assert_msg(fabs(grads[p][k] - num) <= 1e-7 * (1 + fabs(num)),
                          "input %d [%d]: backward %.12g, differences %.12g", p, k,
                          grads[p][k], num);
        }
}
END_TEST

/* ---- the fused LayerNorm against the reference --------------------------------------- */

/* The reference's y, dx, dw, db for x (any float dtype, read as double)
 * and the rest (NULL: absent), in double; the caller frees them. */
typedef struct {
    double *y, *dx, *dw, *db;
} ref_out;

static ref_out ref_run(const ag_tensor *x, const ag_tensor *w, const ag_tensor *b,
                       const ag_tensor *dy, int64_t D, double eps) {
    const int64_t n = x->numel, rows = n / D;
    double *xv = malloc(n * sizeof *xv), *dyv = malloc(n * sizeof *dyv);
    double *wv = malloc(D * sizeof *wv), *bv = malloc(D * sizeof *bv);
    double *mean = malloc(rows * sizeof *mean), *rstd = malloc(rows * sizeof *rstd);
    ref_out r = {malloc(n * sizeof(double)), calloc(n, sizeof(double)),
                 calloc(D, sizeof(double)), calloc(D, sizeof(double))};
    ag_to_f64(x, xv);
    ag_to_f64(dy, dyv);
    if (w) ag_to_f64(w, wv);
    if (b) ag_to_f64(b, bv);
    const ag_layer_norm_ref L = {.rows = rows, .D = D, .eps = eps, .inp = xv,
                                 .weight = w ? wv : NULL, .bias = b ? bv : NULL, .out = r.y,
                                 .mean = mean, .rstd = rstd, .dout = dyv, .dinp = r.dx,
                                 .dweight = r.dw, .dbias = r.db};
    ck_assert(ag_layer_norm_ref_forward(&L));
    ck_assert(ag_layer_norm_ref_backward(&L));
    free(xv), free(dyv), free(wv), free(bv), free(mean), free(rstd);
    return r;
}

static void ref_free(ref_out r) {
    free(r.y), free(r.dx), free(r.dw), free(r.db);
}

/* Every element of t within tol * max(1, |want|) of want[]. */
static void ck_near(const ag_tensor *t, const double *want, double tol, const char *what) {
    ck_assert_ptr_nonnull(t);
    for (int64_t k = 0; k < t->numel; k++) {
        const double got = ag_get_flat(t, k), scale = fabs(want[k]) > 1 ? fabs(want[k]) : 1;
        ck_assert_msg(fabs(got - want[k]) <= tol * scale, "%s[%lld]: %.17g vs %.17g", what,
                      (long long)k, got, want[k]);
    }
}

typedef struct {
    int nd;
    int64_t shape[4];
    int nn;      /* trailing dims normalized */
    double mean; /* of x's entries; their spread is 1.5 */
} ref_case;

/* D = 5, 37 (one partial block of 16), 300 (two tiles, not a multiple of 16,
 * 20 rows: blocks of 8 with a short last one), 64 (the AVX2 loop's width);
 * a multi-dim normalized shape; rows whose mean is 1e3 times their spread. */
static const ref_case REF_CASES[] = {
    {2, {4, 5}, 1, 0.5},        {2, {6, 37}, 1, -0.3},  {2, {20, 300}, 1, 0.5},
    {3, {2, 3, 64}, 1, 0.1},    {3, {2, 3, 4}, 2, 0.5}, {2, {5, 37}, 1, 1.5e3},
    {2, {3, 300}, 1, -1.5e3},
};

START_TEST(test_fused_vs_ref_f64) {
    for (size_t c = 0; c < sizeof REF_CASES / sizeof REF_CASES[0]; c++) {
        const ref_case *rc = &REF_CASES[c];
        const int64_t *ns = rc->shape + rc->nd - rc->nn;
        int64_t D = 1;
        for (int k = 0; k < rc->nn; k++) D *= ns[k];
        for (int wb = 0; wb < 4; wb++) {
            ag_arena *A = ag_arena_new(0);
            ag_rng g;
            ag_rng_seed(&g, 300 + c);
            ag_tensor *x = ag_randn(A, &g, AG_F64, rc->nd, rc->shape, rc->mean, 1.5);
            ag_tensor *w = wb & 1 ? ag_randn(A, &g, AG_F64, rc->nn, ns, 1, 0.3) : NULL;
            ag_tensor *b = wb & 2 ? ag_randn(A, &g, AG_F64, rc->nn, ns, 0, 0.3) : NULL;
            ag_tensor *dy = ag_randn(A, &g, AG_F64, rc->nd, rc->shape, 0, 1);
            const ref_out want = ref_run(x, w, b, dy, D, 1e-5);
            ag_set_requires_grad(x, true);
            if (w) ag_set_requires_grad(w, true);
            if (b) ag_set_requires_grad(b, true);
            ag_tensor *y = ag_layer_norm(A, x, rc->nn, ns, w, b, 1e-5);
            ck_near(y, want.y, 1e-12, "y");
            ck_assert(ag_backward(y, dy));
            ck_near(x->grad, want.dx, 1e-12, "dx");
            if (w) ck_near(w->grad, want.dw, 1e-12, "dweight");
            if (b) ck_near(b->grad, want.db, 1e-12, "dbias");
            ref_free(want);
            ag_arena_free(A);
        }
    }
}
END_TEST

/* The f32 LayerNorm's one-pass variance on rows of mean 1e3 and spread
 * 0.1 (x = 1e3 + N(0, 0.01)), against the reference in double on the same
 * f32 values, with and without the AVX2 loops (D 64 and 37).
 *
 * The bound, with u = 2^-24 (f32's unit roundoff):
 * - r: var = E[x^2] - mean^2 in double loses (mean/std)^2 * 2^-53 = 1e8 *
 *   1.1e-16 ~ 0.2u relative, r half of it, and (float)r one rounding: r
 *   is within 2u.
 * - xh = ((x - mh) - ml) * r: x - mh is exact (x within a factor 2 of mh),
 *   then one rounding for - ml, one for * r, 2u for r: within 4u of xh.
 * - y = xh * w + b: two more roundings: |y - y_ref| <= 6u (|xh w| + |b|).
 * - dx = r * ((g - mg) - xh * mgx) with g = dy * w: each lane sums at most
 *   ceil(D/16) = 4 terms in f32 (4u of the sum of their magnitudes), the
 *   lanes in double; g, the products, the two subtractions and * r add 6
 *   roundings, xh and r carry 4u and 2u: |dx - dx_ref| <= 16u r (|g| +
 *   mean|g| + |xh| mean|g xh|), rounded up from 4 + 6 + 4 + 2.
 * - dw = sum over rows of dy * xh (db: of dy): each term within 5u, the
 *   R = 6 rows summed in f32 blocks of 8 then in double: 12u times the sum
 *   of |terms|.
 * Bounds in terms of magnitudes, not values, so they hold for any row. */
START_TEST(test_fused_f32_large_mean_vs_ref) {
    enum { R = 6, DMAX = 64 };
    const double u = 0x1p-24;
    const int64_t dims[2] = {64, 37};
    for (int d = 0; d < 2; d++) {
        const int64_t D = dims[d];
        ag_arena *A = ag_arena_new(0);
        ag_rng g;
        ag_rng_seed(&g, 41 + d);
        ag_tensor *x = ag_randn(A, &g, AG_F32, AG_SHAPE(R, D), 1e3, 0.1);
        ag_tensor *w = ag_randn(A, &g, AG_F32, AG_SHAPE(D), 1, 0.3);
        ag_tensor *b = ag_randn(A, &g, AG_F32, AG_SHAPE(D), 0, 0.3);
        ag_tensor *dy = ag_randn(A, &g, AG_F32, AG_SHAPE(R, D), 0, 1);
        const ref_out want = ref_run(x, w, b, dy, D, 1e-5);
        ag_set_requires_grad(x, true), ag_set_requires_grad(w, true);
        ag_set_requires_grad(b, true);
        ag_tensor *y = ag_layer_norm(A, x, AG_SHAPE(D), w, b, 1e-5);
        ck_assert(ag_backward(y, dy));
        double sw[DMAX], sb[DMAX];
        for (int64_t j = 0; j < D; j++) sw[j] = sb[j] = 0;
        for (int64_t i = 0; i < R; i++) {
            /* the reference's xh and g, and the row's mean|g|, mean|g xh| */
            double xh[DMAX], gg[DMAX], mg = 0, mgx = 0, mean = 0, var = 0;
            for (int64_t j = 0; j < D; j++) mean += ag_get_flat(x, i * D + j) / D;
            for (int64_t j = 0; j < D; j++) var += pow(ag_get_flat(x, i * D + j) - mean, 2) / D;
            const double r = 1 / sqrt(var + 1e-5);
            for (int64_t j = 0; j < D; j++) {
                const double dyj = ag_get_flat(dy, i * D + j);
                xh[j] = (ag_get_flat(x, i * D + j) - mean) * r;
                gg[j] = dyj * ag_get_flat(w, j);
                mg += fabs(gg[j]) / D, mgx += fabs(gg[j] * xh[j]) / D;
                sw[j] += fabs(dyj * xh[j]), sb[j] += fabs(dyj);
            }
            for (int64_t j = 0; j < D; j++) {
                const int64_t k = i * D + j;
                const double wj = ag_get_flat(w, j), bj = ag_get_flat(b, j);
                const double ty = 6 * u * (fabs(xh[j] * wj) + fabs(bj));
                const double tdx = 16 * u * r * (fabs(gg[j]) + mg + fabs(xh[j]) * mgx);
                const double gy = ag_get_flat(y, k), gdx = ag_get_flat(x->grad, k);
                ck_assert_msg(fabs(gy - want.y[k]) <= ty, "D %lld y[%lld]: %.9g vs %.9g (tol %g)",
                              (long long)D, (long long)k, gy, want.y[k], ty);
                ck_assert_msg(fabs(gdx - want.dx[k]) <= tdx,
                              "D %lld dx[%lld]: %.9g vs %.9g (tol %g)", (long long)D,
                              (long long)k, gdx, want.dx[k], tdx);
            }
        }
        for (int64_t j = 0; j < D; j++) {
            ck_assert(fabs(ag_get_flat(w->grad, j) - want.dw[j]) <= 12 * u * sw[j]);
            ck_assert(fabs(ag_get_flat(b->grad, j) - want.db[j]) <= 12 * u * sb[j]);
        }
        ref_free(want);
        ag_arena_free(A);
    }
}
END_TEST

/* ---- bad calls ---------------------------------------------------------------------- */

/* The call (forward or backward) on L fails with an error naming s1, s2. */
static void ck_ref_error(const ag_layer_norm_ref *L, bool forward, const char *s1,
                         const char *s2) {
    expect_errors();
    ck_assert(!(forward ? ag_layer_norm_ref_forward(L) : ag_layer_norm_ref_backward(L)));
    check_error(forward ? "layer_norm_ref_forward" : "layer_norm_ref_backward", s1, s2);
}

START_TEST(test_ref_errors) {
    double x[6] = {1, 2, 3, 4, 5, 6}, y[6], m[2], s[2], dy[6] = {0};
    const ag_layer_norm_ref L = {.rows = 2, .D = 3, .eps = 1e-5, .inp = x, .out = y, .mean = m,
                                 .rstd = s, .dout = dy};
    ck_ref_error(NULL, true, "NULL", NULL);
    ag_layer_norm_ref bad = L;
    bad.D = 0;
    ck_ref_error(&bad, false, "[2,0]", "D >= 1");
    bad = L, bad.rstd = NULL;
    ck_ref_error(&bad, true, "rstd is NULL", "[2,3]");
    bad = L, bad.dout = NULL;
    ck_ref_error(&bad, false, "dout is NULL", "[2,3]");
    bad = L, bad.eps = NAN;
    ck_ref_error(&bad, true, "eps is nan", "[2,3]");
    /* a good call writes every output */
    ck_assert(ag_layer_norm_ref_forward(&L));
    ck_close(m[1], 5, 1e-15);
    ck_close(y[5], sqrt(1.5) / sqrt(1 + 1.5e-5), 1e-12);
}
END_TEST

TCase *nn_norm_ref_tcase(void) {
    TCase *tc = tcase_create("norm_ref");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ref_hand);
    tcase_add_test(tc, test_ref_finite_differences);
    tcase_add_test(tc, test_fused_vs_ref_f64);
    tcase_add_test(tc, test_fused_f32_large_mean_vs_ref);
    tcase_add_test(tc, test_ref_errors);
    return tc;
}
