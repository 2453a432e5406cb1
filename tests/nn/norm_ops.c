/* tests/nn/norm_ops.c — the fused RMSNorm / LayerNorm ops and the composed
 * reference: microgpt's worked example, hand-computed values and
 * gradients, fused against composed (f64, 1e-12) on several shapes, the
 * sqrt-div and unit-offset forms, edge cases (rows of zeros, eps = 0, |x| ~
 * 1e20 and 1e-20 in f32, D = 1, empty batch, multi-dim normalized shapes),
 * bf16, determinism of the parameter gradients, and bad calls. */
#include <stdlib.h>
#include <string.h>

#include <ag/norm_ops.h>

#include "nn_test.h"
#include "norm_job.h"

/* ---- helpers ------------------------------------------------------------------- */

static ag_tensor *leaf(ag_arena *A, ag_dtype dt, int nd, const int64_t *sh, const double *v,
                       bool grad) {
    ag_tensor *t = ag_from_f64(A, dt, nd, sh, v);
    if (grad) ag_set_requires_grad(t, true);
    return t;
}

/* A new leaf with t's values (and requires_grad when grad). */
static ag_tensor *twin(ag_arena *A, const ag_tensor *t, bool grad) {
    ag_tensor *c = ag_copy(A, t);
    if (grad) ag_set_requires_grad(c, true);
    return c;
}

/* Every element of a within tol * max(1, |b|) of b; same shape. */
static void ck_close_tensors(const ag_tensor *a, const ag_tensor *b, double tol, const char *what) {
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_msg(ag_same_shape(a, b), "%s: shapes differ", what);
    for (int64_t i = 0; i < a->numel; i++) {
        const double u = ag_get_flat(a, i), v = ag_get_flat(b, i);
        const double scale = fabs(v) > 1 ? fabs(v) : 1;
        ck_assert_msg(fabs(u - v) <= tol * scale, "%s[%lld]: %.17g vs %.17g (tol %g)", what,
                      (long long)i, u, v, tol);
    }
}

/* The RMSNorm of each row of v[rows*D], in double (reference for tests). */
static void rms_ref(const double *v, int64_t rows, int64_t D, const double *w, double eps,
                    double *out) {
    for (int64_t i = 0; i < rows; i++) {
        double ss = 0;
        for (int64_t j = 0; j < D; j++) ss += v[i * D + j] * v[i * D + j];
        const double r = 1 / sqrt(ss / (double)D + eps);
        for (int64_t j = 0; j < D; j++) out[i * D + j] = v[i * D + j] * r * (w ? w[j] : 1);
    }
}

/* LayerNorm composed from core ops: mean, sub, var (biased), add_scalar,
 * rsqrt, mul, and weight / bias when given. */
static ag_tensor *ln_composed(ag_arena *A, ag_tensor *x, int nshape, ag_tensor *w, ag_tensor *b,
                              double eps) {
    int dims[AG_MAX_DIMS];
    for (int k = 0; k < nshape; k++) dims[k] = x->ndim - nshape + k;
    ag_tensor *mean = ag_mean(A, x, nshape, dims, true);
    ag_tensor *xc = ag_sub(A, x, mean);
    ag_tensor *var = ag_var(A, x, nshape, dims, 0, true);
    ag_tensor *y = ag_mul(A, xc, ag_rsqrt(A, ag_add_scalar(A, var, eps)));
    if (w) y = ag_mul(A, y, w);
    if (b) y = ag_add(A, y, b);
    return y;
}

/* ---- RMSNorm: values ------------------------------------------------------------------ */

/* microgpt's worked example: x = [3, 4, 0], eps 1e-5, no weight: mean(x^2) = 25/3,
 * y = x / sqrt(25/3 + 1e-5) = [1.0392, 1.3856, 0.0]. */
START_TEST(test_rms_seed_example) {
    ag_arena *A = ag_arena_new(0);
    const double s = sqrt(25.0 / 3.0 + 1e-5);
    const double formula[] = {3 / s, 4 / s, 0};
    const double printed[] = {1.0392, 1.3856, 0.0};
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        ag_tensor *x = leaf(A, dt, AG_SHAPE(3), (const double[]){3, 4, 0}, false);
        ag_tensor *ys[] = {
            ag_rms_norm(A, x, AG_SHAPE(3), NULL, 1e-5, AG_RMS_RSQRT),
            ag_rms_norm(A, x, AG_SHAPE(3), NULL, 1e-5, AG_RMS_SQRT_DIV),
            ag_rms_norm_composed(A, x, AG_SHAPE(3), NULL, 1e-5),
        };
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(ys[k]->dtype, dt);
            ck_shape(ys[k], 1, ((const int64_t[]){3}));
            ck_values(ys[k], 3, printed, 5e-5);   /* the seed's 4 decimals */
            ck_values(ys[k], 3, formula, d ? 1e-6 : 1e-15);
        }
    }
    ag_arena_free(A);
}
END_TEST

/* [2,3] rows with a weight, every flag combination, against the formula. */
START_TEST(test_rms_weight_and_flags) {
    ag_arena *A = ag_arena_new(0);
    const double v[] = {1, -2, 0.5, 3, 0, -4}, wv[] = {0.5, 2, -1};
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double tol = d ? 1e-6 : 1e-15;
        ag_tensor *x = leaf(A, dt, AG_SHAPE(2, 3), v, false);
        ag_tensor *w = leaf(A, dt, AG_SHAPE(3), wv, false);
        double want[6], want1[6], wv1[3];
        for (int j = 0; j < 3; j++) wv1[j] = 1 + wv[j];
        rms_ref(v, 2, 3, wv, 1e-6, want);
        rms_ref(v, 2, 3, wv1, 1e-6, want1);
        ck_values(ag_rms_norm(A, x, AG_SHAPE(3), w, 1e-6, 0), 6, want, tol);
        ck_values(ag_rms_norm(A, x, AG_SHAPE(3), w, 1e-6, AG_RMS_SQRT_DIV), 6, want, tol);
        ck_values(ag_rms_norm(A, x, AG_SHAPE(3), w, 1e-6, AG_RMS_UNIT_OFFSET), 6, want1, tol);
        ck_values(ag_rms_norm(A, x, AG_SHAPE(3), w, 1e-6, AG_RMS_SQRT_DIV | AG_RMS_UNIT_OFFSET),
                  6, want1, tol);
        ck_values(ag_rms_norm_composed(A, x, AG_SHAPE(3), w, 1e-6), 6, want, tol);
        /* no weight with the unit-offset flag: the flag has nothing to scale */
        double plain[6];
        rms_ref(v, 2, 3, NULL, 1e-6, plain);
        ck_values(ag_rms_norm(A, x, AG_SHAPE(3), NULL, 1e-6, AG_RMS_UNIT_OFFSET), 6, plain, tol);
    }
    ag_arena_free(A);
}
END_TEST

/* Each output row has root mean square 1 (weight absent, eps 0). */
START_TEST(test_rms_unit_rms) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 7);
    ag_tensor *x = ag_randn(A, &r, AG_F64, AG_SHAPE(5, 17), 0.3, 2.0);
    ag_tensor *y = ag_rms_norm(A, x, AG_SHAPE(17), NULL, 0.0, 0);
    const double *py = y->data;
    for (int i = 0; i < 5; i++) {
        double ss = 0;
        for (int j = 0; j < 17; j++) ss += py[i * 17 + j] * py[i * 17 + j];
        ck_close(sqrt(ss / 17), 1.0, 1e-14);
    }
    ag_arena_free(A);
}
END_TEST

/* sqrt-div and rsqrt round differently but agree to a few ulp; their
 * gradients are the same function (and the same code). */
START_TEST(test_rms_sqrt_div_vs_rsqrt) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 11);
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        ag_tensor *x = ag_randn(A, &r, dt, AG_SHAPE(16, 64), 0, 3);
        ag_tensor *w = ag_randn(A, &r, dt, AG_SHAPE(64), 1, 0.1);
        ag_tensor *x2 = twin(A, x, true), *w2 = twin(A, w, true);
        ag_set_requires_grad(x, true);
        ag_set_requires_grad(w, true);
        ag_tensor *a = ag_rms_norm(A, x, AG_SHAPE(64), w, 1e-6, AG_RMS_RSQRT);
        ag_tensor *b = ag_rms_norm(A, x2, AG_SHAPE(64), w2, 1e-6, AG_RMS_SQRT_DIV);
        const double rel = d ? 1e-6 : 1e-15;
        for (int64_t i = 0; i < a->numel; i++) {
            const double u = ag_get_flat(a, i), v = ag_get_flat(b, i);
            ck_assert_msg(fabs(u - v) <= rel * fabs(v), "[%lld] %.9g vs %.9g", (long long)i, u,
                          v);
        }
        ag_tensor *dy = ag_randn(A, &r, dt, AG_SHAPE(16, 64), 0, 1);
        ag_backward(a, dy);
        ag_backward(b, dy);
        ck_assert_mem_eq(x->grad->data, x2->grad->data, (size_t)x->numel * ag_dtype_size(dt));
        ck_assert_mem_eq(w->grad->data, w2->grad->data, 64 * ag_dtype_size(dt));
    }
    ag_arena_free(A);
}
END_TEST

/* The unit-offset form with weight w is the plain form with weight 1 + w:
 * same output, same dx, same dweight (d(1+w)/dw = 1). */
START_TEST(test_rms_unit_offset_is_plus_one) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 13);
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        ag_tensor *x = ag_randn(A, &r, dt, AG_SHAPE(3, 4, 10), 0, 1);
        ag_tensor *w = ag_randn(A, &r, dt, AG_SHAPE(10), 0, 0.5);
        ag_tensor *w1 = ag_empty(A, dt, AG_SHAPE(10));
        for (int j = 0; j < 10; j++) ag_set_flat(w1, j, 1 + ag_get_flat(w, j));
        ag_set_requires_grad(w1, true);
        ag_tensor *x1 = twin(A, x, true);
        ag_set_requires_grad(x, true);
        ag_set_requires_grad(w, true);
        ag_tensor *a = ag_rms_norm(A, x, AG_SHAPE(10), w, 1e-6, AG_RMS_UNIT_OFFSET);
        ag_tensor *b = ag_rms_norm(A, x1, AG_SHAPE(10), w1, 1e-6, 0);
        const double tol = d ? 1e-6 : 1e-15;
        ck_close_tensors(a, b, tol, "y");
        ag_tensor *dy = ag_randn(A, &r, dt, AG_SHAPE(3, 4, 10), 0, 1);
        ag_backward(a, dy);
        ag_backward(b, dy);
        ck_close_tensors(x->grad, x1->grad, tol, "dx");
        ck_close_tensors(w->grad, w1->grad, tol, "dweight");
    }
    ag_arena_free(A);
}
END_TEST

/* ---- RMSNorm: gradients by hand -------------------------------------------------------- */

/* x = [3, 4], w = [2, -1], eps = 0, dy = [1, 0.5]. On paper:
 *   mean(x^2) = 12.5, r = 1/sqrt(12.5) = sqrt(2)/5, y = [6r, -4r]
 *   g = dy * w = [2, -0.5], mean(g*x) = (6 - 2)/2 = 2, r^3 = r/12.5 = 0.08 r
 *   dx = r*g - x * r^3 * mean(g*x) = r*([2, -0.5] - [3, 4]*0.16) = r*[1.52, -1.14]
 *   dw = dy * x * r = [3r, 2r]
 * The unit-offset form with w' = [1, -2] (1 + w' = w) has the same dx and dw. */
START_TEST(test_rms_hand_gradient) {
    const double r = sqrt(2.0) / 5;
    const double y_want[] = {6 * r, -4 * r}, dx_want[] = {1.52 * r, -1.14 * r},
                 dw_want[] = {3 * r, 2 * r};
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double tol = d ? 1e-6 : 1e-15;
        for (int form = 0; form < 4; form++) { /* rsqrt, sqrt-div, unit offset, composed */
            ag_arena *A = ag_arena_new(0);
            ag_tensor *x = leaf(A, dt, AG_SHAPE(2), (const double[]){3, 4}, true);
            ag_tensor *w = leaf(A, dt, AG_SHAPE(2),
                                form == 2 ? (const double[]){1, -2} : (const double[]){2, -1}, true);
            ag_tensor *y = form == 3 ? ag_rms_norm_composed(A, x, AG_SHAPE(2), w, 0.0)
                                     : ag_rms_norm(A, x, AG_SHAPE(2), w, 0.0,
                                                   form == 1   ? AG_RMS_SQRT_DIV
                                                   : form == 2 ? AG_RMS_UNIT_OFFSET
                                                               : 0);
            ck_values(y, 2, y_want, tol);
            ck_assert(ag_backward(y, ag_from_f64(A, dt, AG_SHAPE(2), (const double[]){1, 0.5})));
            ck_values(x->grad, 2, dx_want, tol);
            ck_values(w->grad, 2, dw_want, tol);
            ag_arena_free(A);
        }
    }
}
END_TEST

/* Only the sources that need a gradient get one; backward accumulates. */
START_TEST(test_rms_partial_grads_accumulate) {
    ag_arena *A = ag_arena_new(0);
    const double r = sqrt(2.0) / 5;
    ag_tensor *x = leaf(A, AG_F64, AG_SHAPE(1, 2), (const double[]){3, 4}, false);
    ag_tensor *w = leaf(A, AG_F64, AG_SHAPE(2), (const double[]){2, -1}, true);
    ag_tensor *dy = ag_from_f64(A, AG_F64, AG_SHAPE(1, 2), (const double[]){1, 0.5});
    ag_tensor *y = ag_rms_norm(A, x, AG_SHAPE(2), w, 0.0, 0);
    ag_backward(y, dy);
    ck_assert_ptr_null(x->grad);
    ck_values(w->grad, 2, ((const double[]){3 * r, 2 * r}), 1e-15);
    ag_backward(y, dy);
    ck_values(w->grad, 2, ((const double[]){6 * r, 4 * r}), 1e-15);
    /* x only: no weight gradient is made */
    ag_tensor *x2 = leaf(A, AG_F64, AG_SHAPE(1, 2), (const double[]){3, 4}, true);
    ag_tensor *w2 = leaf(A, AG_F64, AG_SHAPE(2), (const double[]){2, -1}, false);
    ag_backward(ag_rms_norm(A, x2, AG_SHAPE(2), w2, 0.0, 0), dy);
    ck_assert_ptr_null(w2->grad);
    ck_values(x2->grad, 2, ((const double[]){1.52 * r, -1.14 * r}), 1e-15);
    /* with recording off nothing is recorded */
    bool was = ag_set_grad_enabled(false);
    ag_tensor *y3 = ag_rms_norm(A, x2, AG_SHAPE(2), w, 0.0, 0);
    ag_set_grad_enabled(was);
    ck_assert(ag_is_leaf(y3));
    ck_assert(!y3->requires_grad);
    ag_arena_free(A);
}
END_TEST

/* ---- fused against composed, f64, 1e-12 ------------------------------------------------ */

typedef struct {
    int nd;
    int64_t shape[AG_MAX_DIMS];
    int nn; /* trailing dims normalized */
} case_shape;

static const case_shape SHAPES[] = {
    {2, {4, 5}, 1},          {4, {3, 2, 2, 5}, 2}, {4, {4, 2, 2, 5}, 3},
    {4, {1, 3, 1, 6}, 1},    {3, {2, 1, 7}, 2},    {2, {5, 1}, 1},
    {1, {9}, 1},             {5, {2, 1, 3, 1, 4}, 2},
};

START_TEST(test_rms_fused_vs_composed) {
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
        const case_shape *c = &SHAPES[s];
        const int64_t *ns = c->shape + c->nd - c->nn;
        for (int with_w = 0; with_w < 2; with_w++) {
            ag_arena *A = ag_arena_new(0);
            ag_rng r;
            ag_rng_seed(&r, 100 + s);
            ag_tensor *x = ag_randn(A, &r, AG_F64, c->nd, c->shape, 0, 1.5);
            ag_tensor *w = with_w ? ag_randn(A, &r, AG_F64, c->nn, ns, 1, 0.3) : NULL;
            ag_tensor *dy = ag_randn(A, &r, AG_F64, c->nd, c->shape, 0, 1);
            ag_tensor *x2 = twin(A, x, true), *w2 = w ? twin(A, w, true) : NULL;
            ag_set_requires_grad(x, true);
            if (w) ag_set_requires_grad(w, true);
            ag_tensor *a = ag_rms_norm(A, x, c->nn, ns, w, 1e-6, 0);
            ag_tensor *b = ag_rms_norm_composed(A, x2, c->nn, ns, w2, 1e-6);
            ck_close_tensors(a, b, 1e-12, "y");
            ck_assert(ag_backward(a, dy));
            ck_assert(ag_backward(b, dy));
            ck_close_tensors(x->grad, x2->grad, 1e-12, "dx");
            if (w) ck_close_tensors(w->grad, w2->grad, 1e-12, "dweight");
            ag_arena_free(A);
        }
    }
}
END_TEST

START_TEST(test_layer_norm_fused_vs_composed) {
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
        const case_shape *c = &SHAPES[s];
        const int64_t *ns = c->shape + c->nd - c->nn;
        for (int wb = 0; wb < 4; wb++) {
            ag_arena *A = ag_arena_new(0);
            ag_rng r;
            ag_rng_seed(&r, 200 + s);
            ag_tensor *x = ag_randn(A, &r, AG_F64, c->nd, c->shape, 0.5, 1.5);
            ag_tensor *w = wb & 1 ? ag_randn(A, &r, AG_F64, c->nn, ns, 1, 0.3) : NULL;
            ag_tensor *b = wb & 2 ? ag_randn(A, &r, AG_F64, c->nn, ns, 0, 0.3) : NULL;
            ag_tensor *dy = ag_randn(A, &r, AG_F64, c->nd, c->shape, 0, 1);
            ag_tensor *x2 = twin(A, x, true);
            ag_tensor *w2 = w ? twin(A, w, true) : NULL, *b2 = b ? twin(A, b, true) : NULL;
            ag_set_requires_grad(x, true);
            if (w) ag_set_requires_grad(w, true);
            if (b) ag_set_requires_grad(b, true);
            ag_tensor *y1 = ag_layer_norm(A, x, c->nn, ns, w, b, 1e-5);
            ag_tensor *y2 = ln_composed(A, x2, c->nn, w2, b2, 1e-5);
            ck_close_tensors(y1, y2, 1e-12, "y");
            ck_assert(ag_backward(y1, dy));
            ck_assert(ag_backward(y2, dy));
            ck_close_tensors(x->grad, x2->grad, 1e-12, "dx");
            if (w) ck_close_tensors(w->grad, w2->grad, 1e-12, "dweight");
            if (b) ck_close_tensors(b->grad, b2->grad, 1e-12, "dbias");
            ag_arena_free(A);
        }
    }
}
END_TEST

/* ---- LayerNorm: values and gradients by hand --------------------------------------------- */

/* [1, 2, 3, 4]: mean 2.5, biased var (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25,
 * y = [-1.5, -0.5, 0.5, 1.5] / sqrt(1.25 + 1e-5), then * w + b. */
START_TEST(test_layer_norm_values) {
    ag_arena *A = ag_arena_new(0);
    const double r = 1 / sqrt(1.25 + 1e-5);
    const double c[] = {-1.5, -0.5, 0.5, 1.5}, wv[] = {1, 2, -1, 0.5}, bv[] = {0, 1, 0.25, -2};
    double plain[4], affine[4], wonly[4], bonly[4];
    for (int j = 0; j < 4; j++) {
        plain[j] = c[j] * r;
        affine[j] = c[j] * r * wv[j] + bv[j];
        wonly[j] = c[j] * r * wv[j];
        bonly[j] = c[j] * r + bv[j];
    }
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double tol = d ? 1e-6 : 1e-15;
        ag_tensor *x = leaf(A, dt, AG_SHAPE(4), (const double[]){1, 2, 3, 4}, false);
        ag_tensor *w = leaf(A, dt, AG_SHAPE(4), wv, false), *b = leaf(A, dt, AG_SHAPE(4), bv, false);
        ag_tensor *y = ag_layer_norm(A, x, AG_SHAPE(4), NULL, NULL, 1e-5);
        ck_assert_int_eq(y->dtype, dt);
        ck_values(y, 4, plain, tol);
        ck_values(ag_layer_norm(A, x, AG_SHAPE(4), w, b, 1e-5), 4, affine, tol);
        ck_values(ag_layer_norm(A, x, AG_SHAPE(4), w, NULL, 1e-5), 4, wonly, tol);
        ck_values(ag_layer_norm(A, x, AG_SHAPE(4), NULL, b, 1e-5), 4, bonly, tol);
        /* to 4 decimals: 1.5 / sqrt(1.25) = 1.3416, 0.5 / sqrt(1.25) = 0.4472 */
        ck_values(y, 4, ((const double[]){-1.3416, -0.4472, 0.4472, 1.3416}), 5e-5);
    }
    ag_arena_free(A);
}
END_TEST

/* x = [1, 1, 4], eps = 0, w = [1, 2, 3], b = [0, 0, 0], dy = [1, 0, -1]. On paper:
 *   mean 2, centred [-1, -1, 2], var 6/3 = 2, r = 1/sqrt(2), xh = [-1, -1, 2]/sqrt(2)
 *   g = dy * w = [1, 0, -3], mean(g) = -2/3
 *   mean(g*xh) = (-1 + 0 - 6)/(3 sqrt(2)) = -7/(3 sqrt(2))
 *   xh * mean(g*xh) = [-1, -1, 2] * (-7/6) = [7/6, 7/6, -14/6]
 *   g - mean(g) = [10/6, 4/6, -14/6]
 *   dx = r * ([10/6, 4/6, -14/6] - [7/6, 7/6, -14/6]) = [1, -1, 0] / (2 sqrt(2))
 *   dw = dy * xh = [-1/sqrt(2), 0, -sqrt(2)],  db = dy = [1, 0, -1] */
START_TEST(test_layer_norm_hand_gradient) {
    const double s2 = sqrt(2.0);
    const double y_want[] = {-1 / s2, -2 / s2, 6 / s2};
    const double dx_want[] = {1 / (2 * s2), -1 / (2 * s2), 0};
    const double dw_want[] = {-1 / s2, 0, -s2}, db_want[] = {1, 0, -1};
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double tol = d ? 1e-6 : 1e-15;
        ag_arena *A = ag_arena_new(0);
        ag_tensor *x = leaf(A, dt, AG_SHAPE(1, 3), (const double[]){1, 1, 4}, true);
        ag_tensor *w = leaf(A, dt, AG_SHAPE(3), (const double[]){1, 2, 3}, true);
        ag_tensor *b = leaf(A, dt, AG_SHAPE(3), (const double[]){0, 0, 0}, true);
        ag_tensor *y = ag_layer_norm(A, x, AG_SHAPE(3), w, b, 0.0);
        ck_values(y, 3, y_want, tol);
        ck_assert(ag_backward(y, ag_from_f64(A, dt, AG_SHAPE(1, 3), (const double[]){1, 0, -1})));
        ck_values(x->grad, 3, dx_want, tol);
        ck_values(w->grad, 3, dw_want, tol);
        ck_values(b->grad, 3, db_want, tol);
        ag_arena_free(A);
    }
}
END_TEST

/* ---- edge cases -------------------------------------------------------------------------- */

/* A row of zeros with eps > 0: zeros out, finite gradients dx = dy*w/sqrt(eps)
 * (RMSNorm) and r*(g - mean(g)) (LayerNorm); with eps = 0 it is NaN, as in
 * PyTorch. */
START_TEST(test_zero_row) {
    ag_arena *A = ag_arena_new(0);
    const double eps = 1e-6, r = 1 / sqrt(eps);
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        const double rel = d ? 1e-6 : 1e-14;
        ag_tensor *x = leaf(A, dt, AG_SHAPE(2, 3), (const double[]){0, 0, 0, 1, 2, 2}, true);
        ag_tensor *w = leaf(A, dt, AG_SHAPE(3), (const double[]){1, 2, -1}, true);
        ag_tensor *dy = ag_from_f64(A, dt, AG_SHAPE(2, 3), (const double[]){1, -1, 0.5, 1, 1, 1});
        ag_tensor *y = ag_rms_norm(A, x, AG_SHAPE(3), w, eps, 0);
        for (int j = 0; j < 3; j++) ck_assert(ag_get_flat(y, j) == 0);
        ck_assert(ag_backward(y, dy));
        const double want0[] = {1 * r, -2 * r, -0.5 * r};
        for (int j = 0; j < 3; j++) {
            const double g = ag_get_flat(x->grad, j);
            ck_assert(isfinite(g));
            ck_close(g, want0[j], rel * fabs(want0[j]));
        }
        for (int j = 0; j < 3; j++) ck_assert(isfinite(ag_get_flat(w->grad, j)));
        /* dw of the zero row is zero: dw = dy * x * r summed over the second row only */
        const double r1 = 1 / sqrt(3 + eps);
        ck_close(ag_get_flat(w->grad, 0), 1 * r1, rel);
        ck_close(ag_get_flat(w->grad, 1), 2 * r1, rel);

        /* LayerNorm: a constant row is a zero row after centring */
        ag_tensor *xl = leaf(A, dt, AG_SHAPE(1, 3), (const double[]){5, 5, 5}, true);
        ag_tensor *yl = ag_layer_norm(A, xl, AG_SHAPE(3), w, NULL, eps);
        for (int j = 0; j < 3; j++) ck_assert(ag_get_flat(yl, j) == 0);
        ck_assert(ag_backward(yl, ag_from_f64(A, dt, AG_SHAPE(1, 3), (const double[]){1, -1, 0.5})));
        /* g = [1, -2, -0.5], mean(g) = -0.5 */
        const double wantl[] = {1.5 * r, -1.5 * r, 0};
        for (int j = 0; j < 3; j++) ck_close(ag_get_flat(xl->grad, j), wantl[j], rel * r);

        /* eps = 0 on a zero row: 0 * inf = NaN */
        ag_tensor *z = ag_zeros(A, dt, AG_SHAPE(3));
        ck_assert(isnan(ag_get_flat(ag_rms_norm(A, z, AG_SHAPE(3), NULL, 0.0, 0), 0)));
    }
    ag_arena_free(A);
}
END_TEST

/* |x| ~ 1e20 in f32: x^2 ~ 1e41 overflows f32 (PyTorch's f32 kernel returns
 * 0 for such a row); ag squares in double and gets [3, 4] / sqrt(12.5).
 * |x| ~ 1e-20: x^2 ~ 1e-40 is an f32 subnormal; in double it is exact, and
 * with eps = 0 the result is again [3, 4] / sqrt(12.5). Gradients scale as
 * 1/s (dx of x = s*[3, 4] is dx([3, 4]) / s) and stay finite. */
START_TEST(test_extreme_magnitudes) {
    ag_arena *A = ag_arena_new(0);
    const double q = sqrt(12.5);
    const double want[] = {3 / q, 4 / q};
    /* dx of [3, 4] without weight, dy = [1, 0], eps 0: r = 1/q,
     * dx = r*[1, 0] - [3, 4] * r^3 * 1.5 = r * ([1, 0] - [3, 4] * 0.12) */
    const double dx1[] = {(1 - 0.36) / q, -0.48 / q};
    const double scales[] = {1e20, 1e-20, 1e30, 1e-30};
    for (int k = 0; k < 4; k++) {
        const double s = scales[k];
        ag_tensor *x = leaf(A, AG_F32, AG_SHAPE(2), (const double[]){3 * s, 4 * s}, true);
        /* the f32 inputs are s*3, s*4 rounded: use them for the expectation */
        const double x0 = ag_get_flat(x, 0), x1 = ag_get_flat(x, 1);
        const double rr = 1 / sqrt((x0 * x0 + x1 * x1) / 2);
        ag_tensor *y = ag_rms_norm(A, x, AG_SHAPE(2), NULL, 0.0, 0);
        ck_close(ag_get_flat(y, 0), x0 * rr, 1e-6);
        ck_close(ag_get_flat(y, 1), x1 * rr, 1e-6);
        ck_values(y, 2, want, 1e-6);
        ck_assert(ag_backward(y, ag_from_f64(A, AG_F32, AG_SHAPE(2), (const double[]){1, 0})));
        for (int j = 0; j < 2; j++) {
            const double g = ag_get_flat(x->grad, j), wantg = dx1[j] / s;
            ck_assert_msg(fabs(g - wantg) <= 1e-5 * fabs(wantg), "scale %g dx[%d] = %g, want %g",
                          s, j, g, wantg);
        }
        /* LayerNorm at the same magnitudes: x = s*[1, 3] gives [-1, 1] */
        ag_tensor *xl = leaf(A, AG_F32, AG_SHAPE(2), (const double[]){1 * s, 3 * s}, false);
        ck_values(ag_layer_norm(A, xl, AG_SHAPE(2), NULL, NULL, 0.0), 2,
                  ((const double[]){-1, 1}), 1e-6);
    }
    /* 1e-20 with eps = 1e-6: eps dominates, y = x / sqrt(12.5e-40 + 1e-6) */
    ag_tensor *t = leaf(A, AG_F32, AG_SHAPE(2), (const double[]){3e-20, 4e-20}, false);
    ag_tensor *yt = ag_rms_norm(A, t, AG_SHAPE(2), NULL, 1e-6, 0);
    const double d = sqrt(12.5e-40 + 1e-6);
    ck_close(ag_get_flat(yt, 0), (double)3e-20f / d, 1e-6 * 3e-17);
    ck_close(ag_get_flat(yt, 1), (double)4e-20f / d, 1e-6 * 4e-17);
    ag_arena_free(A);
}
END_TEST

/* One run of RMSNorm (layer false) or LayerNorm with the SIMD loops allowed
 * or not (the portable loops only, forward and backward): y, dx stored into
 * a fresh buffer, dx added to the existing one, and the parameter gradients
 * (NULL without parameters). */
typedef struct {
    ag_tensor *y, *dx, *dx2, *dw, *db;
} norm_run;

static norm_run run_norm(ag_arena *A, bool layer, bool simd, ag_tensor *x, ag_tensor *dy,
                         ag_tensor *w, ag_tensor *b, int64_t D) {
    norm_run r = {0};
    r.y = layer ? ag__layer_norm_run(A, x, AG_SHAPE(D), w, b, 1e-5, simd)
                : ag__rms_norm_run(A, x, AG_SHAPE(D), w, 1e-6, 0, simd);
    x->grad = NULL;
    if (w) w->grad = NULL;
    if (b) b->grad = NULL;
    ck_assert(ag_backward(r.y, dy));
    r.dx = ag_clone(A, x->grad);
    if (w) r.dw = ag_clone(A, w->grad);
    if (b) r.db = ag_clone(A, b->grad);
    ck_assert(ag_backward(r.y, dy));
    r.dx2 = ag_clone(A, x->grad);
    return r;
}

static void ck_bitwise(const ag_tensor *a, const ag_tensor *b) {
    ck_assert((a == NULL) == (b == NULL));
    if (a) ck_assert(memcmp(a->data, b->data, (size_t)a->numel * ag_dtype_size(a->dtype)) == 0);
}

/* The AVX2 versions of RMSNorm's and LayerNorm's forward and backward
 * (nn/norm_simd.c, used for f32 when the build has AVX2) give
 * bitwise the results of the portable loops: with and without parameters,
 * a shape that stays in cache and one whose output is streamed (> 16 MiB);
 * y, the saved statistics, dx written fresh and dx added to an existing
 * gradient, dw and db. */
START_TEST(test_simd_matches_portable) {
    ag_arena *A = ag_arena_new(0);
    ag_rng g;
    ag_rng_seed(&g, 3);
    const int64_t shapes[2][2] = {{37, 1280}, {1030, 4096}};
    for (int s = 0; s < 2; s++)
        for (int with_w = 0; with_w < 2; with_w++)
            for (int layer = 0; layer < 2; layer++) {
                const int64_t R = shapes[s][0], D = shapes[s][1];
                ag_tensor *x = ag_randn(A, &g, AG_F32, AG_SHAPE(R, D), 0.3, 1.5);
                ag_tensor *dy = ag_randn(A, &g, AG_F32, AG_SHAPE(R, D), 0.0, 1.0);
                ag_tensor *w = with_w ? ag_randn(A, &g, AG_F32, AG_SHAPE(D), 1.0, 0.2) : NULL;
                ag_tensor *b =
                    with_w && layer ? ag_randn(A, &g, AG_F32, AG_SHAPE(D), 0.0, 0.2) : NULL;
                ag_set_requires_grad(x, true);
                if (w) ag_set_requires_grad(w, true);
                if (b) ag_set_requires_grad(b, true);
                const norm_run v = run_norm(A, layer, true, x, dy, w, b, D);
                const norm_run c = run_norm(A, layer, false, x, dy, w, b, D);
                /* per row: r (RMSNorm), or mean and r (LayerNorm), in double */
                const size_t saved = (size_t)R * (layer ? 2 : 1) * sizeof(double);
                const ag__norm_saved *sv = v.y->saved, *sc = c.y->saved;
                ck_assert(sv->simd && !sc->simd);
                ck_bitwise(v.y, c.y);
                ck_assert(memcmp(sv->stats, sc->stats, saved) == 0);
                ck_bitwise(v.dx, c.dx);
                ck_bitwise(v.dx2, c.dx2);
                ck_bitwise(v.dw, c.dw);
                ck_bitwise(v.db, c.db);
            }
    ag_arena_free(A);
}
END_TEST

/* LayerNorm of f32 rows whose mean is 1e4 times their spread: the variance
 * comes from E[x^2] - mean^2 in double (see ag_layer_norm), which must still
 * match the centred formula to f32 accuracy. */
START_TEST(test_layer_norm_large_mean) {
    enum { R = 3, D = 64 };
    ag_arena *A = ag_arena_new(0);
    ag_rng g;
    ag_rng_seed(&g, 9);
    ag_tensor *x = ag_randn(A, &g, AG_F32, AG_SHAPE(R, D), 1e4, 1.0);
    ag_tensor *y = ag_layer_norm(A, x, AG_SHAPE(D), NULL, NULL, 1e-5);
    const float *px = x->data;
    for (int i = 0; i < R; i++) {
        double mean = 0, var = 0;
        for (int j = 0; j < D; j++) mean += px[i * D + j];
        mean /= D;
        for (int j = 0; j < D; j++) var += (px[i * D + j] - mean) * (px[i * D + j] - mean);
        const double r = 1 / sqrt(var / D + 1e-5);
        for (int j = 0; j < D; j++)
            ck_close(ag_get_flat(y, i * D + j), (px[i * D + j] - mean) * r, 2e-6);
    }
    ag_arena_free(A);
}
END_TEST

/* Shapes big enough for the kernels' fast paths: an f32 output of more than
 * AG_STREAM_MIN (16 MiB) goes out with non-temporal stores, rows are
 * pipelined in 1 KiB tiles (D = 4100 is not a multiple of the tile or of
 * the 16 summation lanes), dx is written into a fresh buffer, and the
 * parameter gradients sum blocks of 8 rows (1030 rows: a short last block).
 * Expected values come from the formulas, row by row in double. */
START_TEST(test_big_rows_match_formulas) {
    enum { R = 1030, D = 4100 };
    ag_arena *A = ag_arena_new(0);
    ag_rng g;
    ag_rng_seed(&g, 5);
    ag_tensor *x = ag_randn(A, &g, AG_F32, AG_SHAPE(R, D), 0.5, 2.0);
    ag_tensor *dy = ag_randn(A, &g, AG_F32, AG_SHAPE(R, D), 0.0, 1.0);
    ag_tensor *w = ag_randn(A, &g, AG_F32, AG_SHAPE(D), 1.0, 0.5);
    ag_tensor *b = ag_randn(A, &g, AG_F32, AG_SHAPE(D), 0.0, 0.5);
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(b, true);
    const float *px = x->data, *pdy = dy->data, *pw = w->data, *pb = b->data;
    double *dw = calloc(D, sizeof *dw), *db = calloc(D, sizeof *db);
    for (int layer = 0; layer < 2; layer++) {
        ag_zero_grad(w), ag_zero_grad(b);
        x->grad = NULL;
        ag_tensor *y = layer ? ag_layer_norm(A, x, AG_SHAPE(D), w, b, 1e-5)
                             : ag_rms_norm(A, x, AG_SHAPE(D), w, 1e-6, 0);
        ck_assert(ag_backward(y, dy));
        const float *py = y->data, *pdx = x->grad->data;
        double ey = 0, edx = 0;
        for (int j = 0; j < D; j++) dw[j] = db[j] = 0;
        for (int i = 0; i < R; i++) {
            const float *xi = px + (int64_t)i * D, *dyi = pdy + (int64_t)i * D;
            double mean = 0, var = 0, sgx = 0, sg = 0;
            for (int j = 0; j < D; j++) mean += xi[j];
            mean = layer ? mean / D : 0;
            for (int j = 0; j < D; j++) var += (xi[j] - mean) * (xi[j] - mean);
            const double r = 1 / sqrt(var / D + (layer ? 1e-5 : 1e-6));
            for (int j = 0; j < D; j++) {
                const double xh = (xi[j] - mean) * r, gj = (double)dyi[j] * pw[j];
                sg += gj, sgx += gj * xh;
                dw[j] += dyi[j] * xh, db[j] += dyi[j];
            }
            for (int j = 0; j < D; j++) {
                const double xh = (xi[j] - mean) * r, gj = (double)dyi[j] * pw[j];
                const double wy = xh * pw[j] + (layer ? pb[j] : 0);
                const double wdx = r * (gj - (layer ? sg / D : 0) - xh * sgx / D);
                ey = fmax(ey, fabs(py[(int64_t)i * D + j] - wy));
                edx = fmax(edx, fabs(pdx[(int64_t)i * D + j] - wdx));
            }
        }
        double edw = 0, edb = 0;
        for (int j = 0; j < D; j++) {
            edw = fmax(edw, fabs(ag_get_flat(w->grad, j) - dw[j]) / (1 + fabs(dw[j])));
            if (layer) edb = fmax(edb, fabs(ag_get_flat(b->grad, j) - db[j]) / (1 + fabs(db[j])));
        }
        ck_assert_msg(ey < 1e-5 && edx < 1e-5 && edw < 1e-5, "%s: |dy| %g |dx| %g |dw| %g",
                      layer ? "layer_norm" : "rms_norm", ey, edx, edw);
        if (layer) ck_assert_msg(edb < 1e-5, "layer_norm: |db| %g", edb);
    }
    free(dw);
    free(db);
    ag_arena_free(A);
}
END_TEST

/* D = 1: RMSNorm gives x / sqrt(x^2 + eps) (~sign(x)), LayerNorm gives the
 * bias (xh = 0 always) and a zero dx. */
START_TEST(test_d_one) {
    ag_arena *A = ag_arena_new(0);
    const double v[] = {2, -0.5, 0};
    ag_tensor *x = leaf(A, AG_F64, AG_SHAPE(3, 1), v, true);
    ag_tensor *y = ag_rms_norm(A, x, AG_SHAPE(1), NULL, 1e-3, 0);
    for (int i = 0; i < 3; i++) ck_close(ag_get_flat(y, i), v[i] / sqrt(v[i] * v[i] + 1e-3), 1e-15);
    /* dy/dx = eps / (x^2 + eps)^1.5 for D = 1 */
    ck_assert(ag_backward(y, ag_ones(A, AG_F64, AG_SHAPE(3, 1))));
    for (int i = 0; i < 3; i++)
        ck_close(ag_get_flat(x->grad, i), 1e-3 / pow(v[i] * v[i] + 1e-3, 1.5),
                 1e-12 * (1 + fabs(ag_get_flat(x->grad, i))));
    ag_tensor *xl = leaf(A, AG_F64, AG_SHAPE(3, 1), v, true);
    ag_tensor *b = leaf(A, AG_F64, AG_SHAPE(1), (const double[]){0.25}, true);
    ag_tensor *yl = ag_layer_norm(A, xl, AG_SHAPE(1), NULL, b, 1e-5);
    ck_values(yl, 3, ((const double[]){0.25, 0.25, 0.25}), 0);
    ck_assert(ag_backward(yl, ag_ones(A, AG_F64, AG_SHAPE(3, 1))));
    ck_values(xl->grad, 3, ((const double[]){0, 0, 0}), 0);
    ck_values(b->grad, 1, ((const double[]){3}), 0);
    ag_arena_free(A);
}
END_TEST

/* Zero rows: empty output of the right shape; backward gives zero-size dx
 * and zero parameter gradients; no crash. */
START_TEST(test_empty_batch) {
    ag_arena *A = ag_arena_new(0);
    for (int d = 0; d < 3; d++) {
        const ag_dtype dt = d == 0 ? AG_F64 : d == 1 ? AG_F32 : AG_BF16;
        ag_tensor *x = ag_zeros(A, dt, AG_SHAPE(0, 2, 4));
        ag_tensor *w = ag_ones(A, dt, AG_SHAPE(4)), *b = ag_zeros(A, dt, AG_SHAPE(4));
        ag_set_requires_grad(x, true);
        ag_set_requires_grad(w, true);
        ag_set_requires_grad(b, true);
        ag_tensor *ys[] = {
            ag_rms_norm(A, x, AG_SHAPE(4), w, 1e-6, 0),
            ag_rms_norm_composed(A, x, AG_SHAPE(4), w, 1e-6),
            ag_layer_norm(A, x, AG_SHAPE(2, 4), NULL, NULL, 1e-5),
            ag_layer_norm(A, x, AG_SHAPE(4), w, b, 1e-5),
        };
        for (int k = 0; k < 4; k++) {
            ck_shape(ys[k], 3, ((const int64_t[]){0, 2, 4}));
            ck_assert_int_eq(ys[k]->dtype, dt);
            ck_assert(ag_backward(ag_sum(A, ys[k], 0, NULL, false), NULL));
        }
        ck_shape(x->grad, 3, ((const int64_t[]){0, 2, 4}));
        ck_values(w->grad, 4, ((const double[]){0, 0, 0, 0}), 0);
        ck_values(b->grad, 4, ((const double[]){0, 0, 0, 0}), 0);
    }
    ag_arena_free(A);
}
END_TEST

/* normalized_shape [2,2,5] with batch 4: each row of 20 against the formula. */
START_TEST(test_multi_dim_normalized) {
    ag_arena *A = ag_arena_new(0);
    double v[80], wv[20], want[80];
    for (int i = 0; i < 80; i++) v[i] = sin(0.7 * i + 0.3) * (1 + i % 3);
    for (int j = 0; j < 20; j++) wv[j] = 1 + 0.05 * j;
    rms_ref(v, 4, 20, wv, 1e-6, want);
    ag_tensor *x = leaf(A, AG_F32, AG_SHAPE(4, 2, 2, 5), v, false);
    ag_tensor *w = leaf(A, AG_F32, AG_SHAPE(2, 2, 5), wv, false);
    ag_tensor *y = ag_rms_norm(A, x, AG_SHAPE(2, 2, 5), w, 1e-6, 0);
    ck_shape(y, 4, ((const int64_t[]){4, 2, 2, 5}));
    ck_values(y, 80, want, 2e-6);
    /* LayerNorm over [2,2,5]: each row has mean 0 and biased variance 1 (eps 0) */
    ag_tensor *yl = ag_layer_norm(A, x, AG_SHAPE(2, 2, 5), NULL, NULL, 0.0);
    for (int i = 0; i < 4; i++) {
        double m = 0, s = 0;
        for (int j = 0; j < 20; j++) m += ag_get_flat(yl, i * 20 + j);
        m /= 20;
        for (int j = 0; j < 20; j++) s += pow(ag_get_flat(yl, i * 20 + j) - m, 2);
        ck_close(m, 0, 1e-6);
        ck_close(s / 20, 1, 1e-5);
    }
    ag_arena_free(A);
}
END_TEST

/* ---- dtypes ------------------------------------------------------------------------------ */

/* bf16 x: the result is bf16 and equals the f32 computation rounded to
 * nearest even; the gradient reaches the bf16 leaf. */
START_TEST(test_bf16) {
    ag_arena *A = ag_arena_new(0);
    double v[24], wv[8];
    for (int i = 0; i < 24; i++) v[i] = cos(1.3 * i) * 3;
    for (int j = 0; j < 8; j++) wv[j] = 0.9 + 0.03 * j;
    ag_tensor *xb = leaf(A, AG_BF16, AG_SHAPE(3, 8), v, true);
    ag_tensor *xf = ag_cast(A, ag_detach(A, xb), AG_F32); /* the same values in f32 */
    ag_tensor *w = leaf(A, AG_F32, AG_SHAPE(8), wv, true);
    for (int op = 0; op < 2; op++) {
        ag_tensor *yb = op ? ag_layer_norm(A, xb, AG_SHAPE(8), w, NULL, 1e-5)
                           : ag_rms_norm(A, xb, AG_SHAPE(8), w, 1e-6, 0);
        ag_tensor *yf = op ? ag_layer_norm(A, xf, AG_SHAPE(8), w, NULL, 1e-5)
                           : ag_rms_norm(A, xf, AG_SHAPE(8), w, 1e-6, 0);
        ck_assert_int_eq(yb->dtype, AG_BF16);
        ck_assert_int_eq(yf->dtype, AG_F32);
        const uint16_t *pb = yb->data;
        const float *pf = yf->data;
        for (int i = 0; i < 24; i++)
            ck_assert_msg(pb[i] == ag_f32_to_bf16(pf[i]), "op %d [%d]: %g vs %g", op, i,
                          ag_bf16_to_f32(pb[i]), pf[i]);
        /* and close to the formula, to bf16's precision */
        if (op == 0) {
            double xv[24], want[24];
            ag_to_f64(xf, xv);
            rms_ref(xv, 3, 8, wv, 1e-6, want);
            for (int i = 0; i < 24; i++)
                ck_close(ag_get_flat(yb, i), want[i], fabs(want[i]) / 128);
        }
        ck_assert(ag_backward(ag_sum(A, ag_mul(A, yb, yb), 0, NULL, false), NULL));
        ck_assert_ptr_nonnull(xb->grad);
        ck_assert_int_eq(xb->grad->dtype, AG_BF16);
        ck_assert_ptr_nonnull(w->grad);
        ck_assert_int_eq(w->grad->dtype, AG_F32);
    }
    ag_arena_free(A);
}
END_TEST

/* A weight of another dtype is cast to x's compute type; the result keeps
 * x's dtype; the weight's gradient comes back in its own dtype. */
START_TEST(test_mixed_weight_dtype) {
    ag_arena *A = ag_arena_new(0);
    const double r = sqrt(2.0) / 5;
    ag_tensor *x = leaf(A, AG_F32, AG_SHAPE(2), (const double[]){3, 4}, true);
    ag_tensor *w = leaf(A, AG_F64, AG_SHAPE(2), (const double[]){2, -1}, true);
    ag_tensor *y = ag_rms_norm(A, x, AG_SHAPE(2), w, 0.0, 0);
    ck_assert_int_eq(y->dtype, AG_F32);
    ck_values(y, 2, ((const double[]){6 * r, -4 * r}), 1e-6);
    ck_assert(ag_backward(y, ag_from_f64(A, AG_F32, AG_SHAPE(2), (const double[]){1, 0.5})));
    ck_assert_int_eq(w->grad->dtype, AG_F64);
    ck_values(w->grad, 2, ((const double[]){3 * r, 2 * r}), 1e-6);
    ck_values(x->grad, 2, ((const double[]){1.52 * r, -1.14 * r}), 1e-6);
    ag_tensor *x64 = leaf(A, AG_F64, AG_SHAPE(2), (const double[]){3, 4}, false);
    ag_tensor *w32 = leaf(A, AG_F32, AG_SHAPE(2), (const double[]){2, -1}, true);
    ag_tensor *b16 = leaf(A, AG_BF16, AG_SHAPE(2), (const double[]){0.5, 0.25}, true);
    ag_tensor *yl = ag_layer_norm(A, x64, AG_SHAPE(2), w32, b16, 0.0);
    ck_assert_int_eq(yl->dtype, AG_F64);
    ck_values(yl, 2, ((const double[]){-2 + 0.5, -1 + 0.25}), 1e-15);
    ck_assert(ag_backward(yl, ag_ones(A, AG_F64, AG_SHAPE(2))));
    ck_assert_int_eq(w32->grad->dtype, AG_F32);
    ck_assert_int_eq(b16->grad->dtype, AG_BF16);
    ck_values(w32->grad, 2, ((const double[]){-1, 1}), 0);
    ck_values(b16->grad, 2, ((const double[]){1, 1}), 0);
    ag_arena_free(A);
}
END_TEST

/* ---- determinism -------------------------------------------------------------------------- */

/* Big enough to run on threads: the same input twice gives bitwise the same
 * dweight (and dbias, dx). */
START_TEST(test_deterministic_param_grads) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 5);
    const int64_t R = 300, D = 257; /* 77100 elements >= AG_PAR_MIN */
    ag_tensor *x = ag_randn(A, &r, AG_F32, AG_SHAPE(R, D), 0, 1);
    ag_tensor *dy = ag_randn(A, &r, AG_F32, AG_SHAPE(R, D), 0, 1);
    ag_tensor *wv = ag_randn(A, &r, AG_F32, AG_SHAPE(D), 1, 0.1);
    for (int op = 0; op < 2; op++) {
        ag_tensor *wg[2], *bg[2], *xg[2];
        for (int run = 0; run < 2; run++) {
            ag_tensor *xx = twin(A, x, true), *w = twin(A, wv, true);
            ag_tensor *b = twin(A, wv, true);
            ag_tensor *y = op ? ag_layer_norm(A, xx, AG_SHAPE(D), w, b, 1e-5)
                              : ag_rms_norm(A, xx, AG_SHAPE(D), w, 1e-6, 0);
            ck_assert(ag_backward(y, dy));
            wg[run] = w->grad;
            bg[run] = op ? b->grad : NULL;
            xg[run] = xx->grad;
        }
        ck_assert_mem_eq(wg[0]->data, wg[1]->data, (size_t)D * sizeof(float));
        if (op) ck_assert_mem_eq(bg[0]->data, bg[1]->data, (size_t)D * sizeof(float));
        ck_assert_mem_eq(xg[0]->data, xg[1]->data, (size_t)(R * D) * sizeof(float));
        /* and the sums are right: dweight of RMSNorm against a loop in double */
        if (op == 0) {
            const float *px = x->data, *pdy = dy->data;
            for (int64_t j = 0; j < D; j += 64) {
                double want = 0;
                for (int64_t i = 0; i < R; i++) {
                    double ss = 0;
                    for (int64_t k = 0; k < D; k++) ss += (double)px[i * D + k] * px[i * D + k];
                    want += (double)pdy[i * D + j] * px[i * D + j] / sqrt(ss / D + 1e-6);
                }
                ck_close(ag_get_flat(wg[0], j), want, 1e-5 * (1 + fabs(want)));
            }
        }
    }
    ag_arena_free(A);
}
END_TEST

/* ---- bad calls ---------------------------------------------------------------------------- */

START_TEST(test_rms_norm_errors) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2, 3));
    ag_tensor *w = ag_ones(A, AG_F32, AG_SHAPE(4));
    ag_tensor *ids = ag_zeros(A, AG_I32, AG_SHAPE(2, 3));

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm(A, x, AG_SHAPE(4), NULL, 1e-6, 0));
    check_error("rms_norm", "[4]", "[2,3]");

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm(A, x, AG_SHAPE(3), w, 1e-6, 0));
    check_error("rms_norm", "weight [4]", "normalized_shape [3]");

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm(A, x, AG_SHAPE(3), NULL, INFINITY, 0));
    check_error("rms_norm", "eps is inf", "[2,3]");

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm(A, x, AG_SHAPE(3), NULL, NAN, 0));
    check_error("rms_norm", "eps", "nan");

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm(A, x, AG_SHAPE(1, 2, 3), NULL, 1e-6, 0));
    check_error("rms_norm", "[1,2,3]", "more dims than input [2,3]");

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm(A, x, 0, (const int64_t[]){3}, NULL, 1e-6, 0));
    check_error("rms_norm", "0 dims", "[2,3]");

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm(A, ids, AG_SHAPE(3), NULL, 1e-6, 0));
    check_error("rms_norm", "i32", "[2,3]");

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm(A, x, AG_SHAPE(3), ag_ones(A, AG_I32, AG_SHAPE(3)), 1e-6, 0));
    check_error("rms_norm", "weight [3]", "i32");

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm(A, x, AG_SHAPE(3), NULL, 1e-6, 8u));
    check_error("rms_norm", "flags", "[2,3]");

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm_composed(A, x, AG_SHAPE(2, 2), NULL, 1e-6));
    check_error("rms_norm_composed", "[2,2]", "[2,3]");

    expect_errors();
    ck_assert_ptr_null(ag_rms_norm_composed(A, x, AG_SHAPE(3), w, 1e-6));
    check_error("rms_norm_composed", "weight [4]", "[3]");

    /* NULL input: NULL back, nothing reported */
    expect_errors();
    ck_assert_ptr_null(ag_rms_norm(A, NULL, AG_SHAPE(3), NULL, 1e-6, 0));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(A);
}
END_TEST

START_TEST(test_layer_norm_errors) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F64, AG_SHAPE(4, 2, 5));

    expect_errors();
    ck_assert_ptr_null(ag_layer_norm(A, x, AG_SHAPE(5, 2), NULL, NULL, 1e-5));
    check_error("layer_norm", "[5,2]", "[4,2,5]");

    expect_errors();
    ck_assert_ptr_null(
        ag_layer_norm(A, x, AG_SHAPE(2, 5), NULL, ag_zeros(A, AG_F64, AG_SHAPE(10)), 1e-5));
    check_error("layer_norm", "bias [10]", "normalized_shape [2,5]");

    expect_errors();
    ck_assert_ptr_null(
        ag_layer_norm(A, x, AG_SHAPE(5), ag_ones(A, AG_F64, AG_SHAPE(1, 5)), NULL, 1e-5));
    check_error("layer_norm", "weight [1,5]", "[4,2,5]");

    expect_errors();
    ck_assert_ptr_null(ag_layer_norm(A, x, AG_SHAPE(5), NULL, NULL, -INFINITY));
    check_error("layer_norm", "eps is -inf", "[4,2,5]");

    expect_errors();
    ck_assert_ptr_null(ag_layer_norm(A, x, 9, (const int64_t[9]){0}, NULL, NULL, 1e-5));
    check_error("layer_norm", "9 dims", "[4,2,5]");

    expect_errors();
    ck_assert_ptr_null(ag_layer_norm(A, ag_zeros(A, AG_I32, AG_SHAPE(3)), AG_SHAPE(3), NULL,
                                     NULL, 1e-5));
    check_error("layer_norm", "i32", "[3]");
    ag_arena_free(A);
}
END_TEST

/* NaN and inf in x (ag/norm_ops.h), rows on their own: RMSNorm y = x /
 * sqrt(mean(x^2) + eps) gives a NaN row for a NaN, and x * 0 for an inf
 * (mean(x^2) = inf): 0 where x is finite, NaN where it is inf. LayerNorm
 * gives a NaN row for both. The finite row [1, 2, 2] is untouched: RMSNorm
 * [1, 2, 2] / sqrt(3 + eps); LayerNorm mean 5/3, var 2/9, (x - 5/3) /
 * sqrt(2/9 + eps). */
START_TEST(test_norms_nonfinite_rows) {
    ag_arena *A = ag_arena_new(0);
    const double eps = 1e-5;
    for (int dt = 0; dt < 2; dt++) {
        ag_tensor *x = ag_from_f64(A, dt ? AG_F64 : AG_F32, AG_SHAPE(3, 3), (double[]){
            1, NAN, 2, 1, INFINITY, 2, 1, 2, 2});
        ag_tensor *r = ag_rms_norm(A, x, AG_SHAPE(3), NULL, eps, 0);
        ag_tensor *l = ag_layer_norm(A, x, AG_SHAPE(3), NULL, NULL, eps);
        const double tol = dt ? 1e-12 : 1e-6, s = 1 / sqrt(3 + eps), q = 1 / sqrt(2.0 / 9 + eps);
        for (int c = 0; c < 3; c++) {
            ck_assert(isnan(ag_get_flat(r, c)));
            ck_assert(isnan(ag_get_flat(l, c)) && isnan(ag_get_flat(l, 3 + c)));
            ck_close(ag_get_flat(l, 6 + c), ((c ? 2.0 : 1.0) - 5.0 / 3) * q, tol);
            ck_close(ag_get_flat(r, 6 + c), (c ? 2 : 1) * s, tol);
        }
        ck_assert(ag_get_flat(r, 3) == 0 && isnan(ag_get_flat(r, 4)) && ag_get_flat(r, 5) == 0);
    }
    ag_arena_free(A);
}
END_TEST

TCase *nn_norm_ops_tcase(void) {
    TCase *tc = tcase_create("norm_ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rms_seed_example);
    tcase_add_test(tc, test_rms_weight_and_flags);
    tcase_add_test(tc, test_rms_unit_rms);
    tcase_add_test(tc, test_rms_sqrt_div_vs_rsqrt);
    tcase_add_test(tc, test_rms_unit_offset_is_plus_one);
    tcase_add_test(tc, test_rms_hand_gradient);
    tcase_add_test(tc, test_rms_partial_grads_accumulate);
    tcase_add_test(tc, test_rms_fused_vs_composed);
    tcase_add_test(tc, test_layer_norm_fused_vs_composed);
    tcase_add_test(tc, test_layer_norm_values);
    tcase_add_test(tc, test_layer_norm_hand_gradient);
    tcase_add_test(tc, test_zero_row);
    tcase_add_test(tc, test_extreme_magnitudes);
    tcase_add_test(tc, test_d_one);
    tcase_add_test(tc, test_big_rows_match_formulas);
    tcase_add_test(tc, test_layer_norm_large_mean);
    tcase_add_test(tc, test_simd_matches_portable);
    tcase_add_test(tc, test_empty_batch);
    tcase_add_test(tc, test_multi_dim_normalized);
    tcase_add_test(tc, test_bf16);
    tcase_add_test(tc, test_mixed_weight_dtype);
    tcase_add_test(tc, test_deterministic_param_grads);
    tcase_add_test(tc, test_rms_norm_errors);
    tcase_add_test(tc, test_layer_norm_errors);
    tcase_add_test(tc, test_norms_nonfinite_rows);
    return tc;
}
