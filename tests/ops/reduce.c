/* tests/ops/reduce.c — sum, mean, max, var, argmax: hand-computed values,
 * dim lists (negative, repeated, several, none), keepdim, 0-d and empty
 * tensors, accumulation in double, the parallel and tail paths against
 * naive loops written here, hand-computed gradients, and bad input. */
#include <string.h>

#include "ops_test.h"

static ag_tensor *f64(ag_arena *A, int ndim, const int64_t *shape, const double *v) {
    return ag_from_f64(A, AG_F64, ndim, shape, v);
}

/* ---- sum and mean ---------------------------------------------------------------- */

START_TEST(test_sum_basic) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = f64(A, AG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *all = ag_sum(A, x, 0, NULL, false);
    ck_assert_int_eq(all->ndim, 0);
    ck_close(ag_item(all), 21, 0);
    ag_tensor *all_keep = ag_sum(A, x, 0, NULL, true);
    ck_shape(all_keep, 2, ((int64_t[]){1, 1}));
    ck_close(ag_item(all_keep), 21, 0);
    ag_tensor *d0 = ag_sum(A, x, AG_DIMS(0), false);
    ck_shape(d0, 1, ((int64_t[]){3}));
    ck_values(d0, 3, ((double[]){5, 7, 9}), 0);
    ag_tensor *d1 = ag_sum(A, x, AG_DIMS(1), false);
    ck_values(d1, 2, ((double[]){6, 15}), 0);
    ag_tensor *dm1 = ag_sum(A, x, AG_DIMS(-1), true);
    ck_shape(dm1, 2, ((int64_t[]){2, 1}));
    ck_values(dm1, 2, ((double[]){6, 15}), 0);
    ag_tensor *both = ag_sum(A, x, AG_DIMS(-1, 0), false);
    ck_assert_int_eq(both->ndim, 0);
    ck_close(ag_item(both), 21, 0);
    ck_assert_int_eq(d0->dtype, AG_F64);
    ag_arena_free(A);
}
END_TEST

/* several dims of a 3-d tensor, against a naive loop */
START_TEST(test_sum_multi_dims) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = iota(A, AG_F32, AG_SHAPE(2, 3, 4));
    ag_tensor *s02 = ag_sum(A, x, AG_DIMS(0, 2), false);
    ck_shape(s02, 1, ((int64_t[]){3}));
    for (int j = 0; j < 3; j++) {
        double want = 0;
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 4; k++) want += 12 * i + 4 * j + k;
        ck_close(ag_get_flat(s02, j), want, 0);
    }
    ag_tensor *s02k = ag_sum(A, x, AG_DIMS(-3, -1), true);
    ck_shape(s02k, 3, ((int64_t[]){1, 3, 1}));
    /* j = 2: 8 terms of 8, plus 12 for the four with i = 1, plus k = 0..3 twice */
    ck_close(ag_at(s02k, 0, 2, 0), 64 + 48 + 12, 0);
    ag_tensor *s01 = ag_sum(A, x, AG_DIMS(1, 0), false);
    ck_shape(s01, 1, ((int64_t[]){4}));
    for (int k = 0; k < 4; k++) {
        double want = 0;
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) want += 12 * i + 4 * j + k;
        ck_close(ag_get_flat(s01, k), want, 0);
    }
    ag_tensor *s1 = ag_sum(A, x, AG_DIMS(1), true);
    ck_shape(s1, 3, ((int64_t[]){2, 1, 4}));
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++)
            ck_close(ag_at(s1, i, 0, k), 3 * (12 * i + k) + 4 * (0 + 1 + 2), 0);
    /* a size-1 dim reduced or kept changes only the shape */
    ag_tensor *y = iota(A, AG_F64, AG_SHAPE(2, 1, 3));
    ag_tensor *r1 = ag_sum(A, y, AG_DIMS(1), false);
    ck_shape(r1, 2, ((int64_t[]){2, 3}));
    ck_values(r1, 6, ((double[]){0, 1, 2, 3, 4, 5}), 0);
    ag_tensor *r2 = ag_sum(A, y, AG_DIMS(2), false);
    ck_shape(r2, 2, ((int64_t[]){2, 1}));
    ck_values(r2, 2, ((double[]){3, 12}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(test_mean) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *v = f64(A, AG_SHAPE(4), (double[]){1, 2, 3, 4});
    ck_close(ag_item(ag_mean(A, v, 0, NULL, false)), 2.5, 0);
    ag_tensor *x = iota(A, AG_F64, AG_SHAPE(2, 3, 4));
    ag_tensor *m = ag_mean(A, x, AG_DIMS(0, 1), true);
    ck_shape(m, 3, ((int64_t[]){1, 1, 4}));
    for (int k = 0; k < 4; k++) ck_close(ag_get_flat(m, k), (0 + 4 + 8 + 12 + 16 + 20) / 6.0 + k, 1e-12);
    ag_tensor *m2 = ag_mean(A, x, AG_DIMS(-1), false);
    ck_shape(m2, 2, ((int64_t[]){2, 3}));
    for (int r = 0; r < 6; r++) ck_close(ag_get_flat(m2, r), 4 * r + 1.5, 1e-12);
    ag_arena_free(A);
}
END_TEST

/* 0-d inputs: dims 0 and -1 are accepted and reduce nothing */
START_TEST(test_scalar_input) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *s = ag_scalar(A, AG_F64, 5.0);
    ck_close(ag_item(ag_sum(A, s, 0, NULL, false)), 5, 0);
    ag_tensor *t = ag_sum(A, s, AG_DIMS(0), true);
    ck_assert_int_eq(t->ndim, 0);
    ck_close(ag_item(t), 5, 0);
    ck_close(ag_item(ag_mean(A, s, AG_DIMS(-1), false)), 5, 0);
    ck_close(ag_item(ag_max(A, s, 0, NULL, false)), 5, 0);
    ck_close(ag_item(ag_var(A, s, 0, NULL, 0, false)), 0, 0);
    ck_assert(isnan(ag_item(ag_var(A, s, 0, NULL, 1, false))));
    ag_tensor *am = ag_argmax(A, s, 0, false);
    ck_assert_int_eq(am->ndim, 0);
    ck_assert_int_eq(((int32_t *)am->data)[0], 0);
    ag_arena_free(A);
}
END_TEST

/* f32 sums accumulate in double: 2^24 + 1 + 1 + 1 + 1 is exact */
START_TEST(test_f32_accumulates_in_double) {
    ag_arena *A = ag_arena_new(0);
    float v[9] = {16777216.0f, 1, 1, 1, 1, 1, 1, 1, 1};
    ag_tensor *x = ag_from_array(A, AG_F32, AG_SHAPE(9), v);
    ag_tensor *s = ag_sum(A, x, 0, NULL, false);
    ck_assert_int_eq(s->dtype, AG_F32);
    ck_close(ag_item(s), 16777224.0, 0);
    /* along dim 0 (the vector path) too */
    ag_tensor *xc = ag_from_array(A, AG_F32, AG_SHAPE(9, 1), v);
    ck_close(ag_item(ag_sum(A, xc, AG_DIMS(0), false)), 16777224.0, 0);
    /* var of values with a large offset: the centred two-pass form is exact */
    float w[4] = {1e4f + 1, 1e4f + 2, 1e4f + 3, 1e4f + 4};
    ag_tensor *y = ag_from_array(A, AG_F32, AG_SHAPE(4), w);
    ck_close(ag_item(ag_var(A, y, 0, NULL, 1, false)), 5.0 / 3.0, 1e-6);
    ag_arena_free(A);
}
END_TEST

/* Large and awkward shapes (parallel items, tails of the JB blocking, a
 * single-column tail) against naive loops. */
START_TEST(test_large_against_naive) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 7);
    const int64_t R = 300, C = 257;
    ag_tensor *x = ag_randn(A, &r, AG_F64, AG_SHAPE(R, C), 0.0, 1.0);
    const double *xv = x->data;
    ag_tensor *rows = ag_sum(A, x, AG_DIMS(1), false);
    ag_tensor *cols = ag_sum(A, x, AG_DIMS(0), false);
    ag_tensor *cmean = ag_mean(A, x, AG_DIMS(0), false);
    ag_tensor *cvar = ag_var(A, x, AG_DIMS(0), 1, false);
    ag_tensor *rvar = ag_var(A, x, AG_DIMS(1), 0, false);
    ag_tensor *cmax = ag_max(A, x, AG_DIMS(0), false);
    ag_tensor *rmax = ag_max(A, x, AG_DIMS(1), false);
    ag_tensor *carg = ag_argmax(A, x, 0, false);
    ag_tensor *rarg = ag_argmax(A, x, 1, false);
    for (int64_t i = 0; i < R; i++) {
        double s = 0, mx = -INFINITY;
        int64_t at = 0;
        for (int64_t j = 0; j < C; j++) {
            s += xv[i * C + j];
            if (xv[i * C + j] > mx) mx = xv[i * C + j], at = j;
        }
        double ss = 0;
        for (int64_t j = 0; j < C; j++) ss += (xv[i * C + j] - s / C) * (xv[i * C + j] - s / C);
        ck_close(ag_get_flat(rows, i), s, 1e-10);
        ck_close(ag_get_flat(rvar, i), ss / C, 1e-12);
        ck_close(ag_get_flat(rmax, i), mx, 0);
        ck_assert_int_eq(((int32_t *)rarg->data)[i], at);
    }
    for (int64_t j = 0; j < C; j++) {
        double s = 0, mx = -INFINITY;
        int64_t at = 0;
        for (int64_t i = 0; i < R; i++) {
            s += xv[i * C + j];
            if (xv[i * C + j] > mx) mx = xv[i * C + j], at = i;
        }
        double ss = 0;
        for (int64_t i = 0; i < R; i++) ss += (xv[i * C + j] - s / R) * (xv[i * C + j] - s / R);
        ck_close(ag_get_flat(cols, j), s, 1e-10);
        ck_close(ag_get_flat(cmean, j), s / R, 1e-12);
        ck_close(ag_get_flat(cvar, j), ss / (R - 1), 1e-12);
        ck_close(ag_get_flat(cmax, j), mx, 0);
        ck_assert_int_eq(((int32_t *)carg->data)[j], at);
    }
    /* whole-tensor reductions */
    double s = 0;
    for (int64_t i = 0; i < R * C; i++) s += xv[i];
    ck_close(ag_item(ag_sum(A, x, 0, NULL, false)), s, 1e-9);
    ck_close(ag_item(ag_mean(A, x, 0, NULL, false)), s / (R * C), 1e-12);
    ag_arena_free(A);
}
END_TEST

/* dims {0, 2} of [5, 3, 70, 4]: reduced blocks separated by kept ones */
START_TEST(test_interleaved_dims_against_naive) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 3);
    ag_tensor *x = ag_randn(A, &r, AG_F64, AG_SHAPE(5, 3, 70, 4), 0.0, 1.0);
    const double *v = x->data;
    ag_tensor *s = ag_sum(A, x, AG_DIMS(0, 2), false);
    ag_tensor *m = ag_max(A, x, AG_DIMS(2, 0), true);
    ag_tensor *va = ag_var(A, x, AG_DIMS(0, -2), 1, false);
    ck_shape(s, 2, ((int64_t[]){3, 4}));
    ck_shape(m, 4, ((int64_t[]){1, 3, 1, 4}));
    for (int b = 0; b < 3; b++) {
        for (int d = 0; d < 4; d++) {
            double acc = 0, mx = -INFINITY;
            for (int a = 0; a < 5; a++)
                for (int c = 0; c < 70; c++) {
                    double e = v[((a * 3 + b) * 70 + c) * 4 + d];
                    acc += e;
                    mx = e > mx ? e : mx;
                }
            double ss = 0, mu = acc / 350;
            for (int a = 0; a < 5; a++)
                for (int c = 0; c < 70; c++) {
                    double e = v[((a * 3 + b) * 70 + c) * 4 + d] - mu;
                    ss += e * e;
                }
            ck_close(ag_at(s, b, d), acc, 1e-11);
            ck_close(ag_at(m, 0, b, 0, d), mx, 0);
            ck_close(ag_at(va, b, d), ss / 349, 1e-12);
        }
    }
    ag_arena_free(A);
}
END_TEST

/* ---- var --------------------------------------------------------------------------- */

START_TEST(test_var_values) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = f64(A, AG_SHAPE(4), (double[]){1, 2, 3, 4});
    ck_close(ag_item(ag_var(A, x, 0, NULL, 1, false)), 5.0 / 3.0, 1e-15);
    ck_close(ag_item(ag_var(A, x, 0, NULL, 0, false)), 1.25, 1e-15);
    ck_close(ag_item(ag_var(A, x, AG_DIMS(0), 2, false)), 2.5, 1e-15);
    ck_close(ag_item(ag_var(A, x, AG_DIMS(-1), -1, false)), 1.0, 1e-15); /* 5 / 5 */
    /* N - correction <= 0: PyTorch divides by 0: m2/0 = inf, 0/0 = nan */
    ck_assert(isinf(ag_item(ag_var(A, x, 0, NULL, 4, false))));
    ck_assert(isinf(ag_item(ag_var(A, x, 0, NULL, 7, false))));
    ag_tensor *one = f64(A, AG_SHAPE(1), (double[]){3});
    ck_assert(isnan(ag_item(ag_var(A, one, 0, NULL, 1, false))));
    ck_close(ag_item(ag_var(A, one, 0, NULL, 0, false)), 0, 0);
    /* rows of [[1,2,3],[2,4,9]]: means 2 and 5 */
    ag_tensor *y = f64(A, AG_SHAPE(2, 3), (double[]){1, 2, 3, 2, 4, 9});
    ag_tensor *vr = ag_var(A, y, AG_DIMS(1), 1, true);
    ck_shape(vr, 2, ((int64_t[]){2, 1}));
    ck_values(vr, 2, ((double[]){1.0, 13.0}), 1e-14);
    ag_tensor *vc = ag_var(A, y, AG_DIMS(0), 0, false);
    ck_values(vc, 3, ((double[]){0.25, 1.0, 9.0}), 1e-14);
    ag_arena_free(A);
}
END_TEST

/* ---- max and argmax ------------------------------------------------------------------ */

START_TEST(test_max_values) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = f64(A, AG_SHAPE(2, 3), (double[]){1, 5, 3, 7, 2, 7});
    ck_close(ag_item(ag_max(A, x, 0, NULL, false)), 7, 0);
    ag_tensor *m1 = ag_max(A, x, AG_DIMS(1), false);
    ck_values(m1, 2, ((double[]){5, 7}), 0);
    ag_tensor *m0 = ag_max(A, x, AG_DIMS(-2), true);
    ck_shape(m0, 2, ((int64_t[]){1, 3}));
    ck_values(m0, 3, ((double[]){7, 5, 7}), 0);
    ag_tensor *neg = f64(A, AG_SHAPE(3), (double[]){-3, -1, -2});
    ck_close(ag_item(ag_max(A, neg, 0, NULL, false)), -1, 0);
    /* NaN propagates, as in PyTorch */
    ag_tensor *withnan = f64(A, AG_SHAPE(3), (double[]){1, NAN, 5});
    ck_assert(isnan(ag_item(ag_max(A, withnan, 0, NULL, false))));
    ag_arena_free(A);
}
END_TEST

START_TEST(test_argmax) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = f64(A, AG_SHAPE(2, 3), (double[]){1, 5, 5, 7, 2, 7});
    ag_tensor *a1 = ag_argmax(A, x, 1, false);
    ck_assert_int_eq(a1->dtype, AG_I32);
    ck_shape(a1, 1, ((int64_t[]){2}));
    ck_values(a1, 2, ((double[]){1, 0}), 0); /* ties: the first */
    ag_tensor *a0 = ag_argmax(A, x, -2, true);
    ck_shape(a0, 2, ((int64_t[]){1, 3}));
    ck_values(a0, 3, ((double[]){1, 0, 1}), 0);
    ck_assert(!a0->requires_grad);
    /* i32 and bf16 inputs */
    ag_tensor *ids = ag_from_array(A, AG_I32, AG_SHAPE(4), (int32_t[]){3, 9, -2, 9});
    ck_close(ag_item(ag_argmax(A, ids, 0, false)), 1, 0);
    ag_tensor *h = ag_cast(A, x, AG_BF16);
    ck_values(ag_argmax(A, h, 1, false), 2, ((double[]){1, 0}), 0);
    /* a middle dim of a 3-d tensor */
    ag_tensor *y = f64(A, AG_SHAPE(2, 3, 2), (double[]){0, 9, 4, 1, 4, 2, 5, 5, 6, 5, 6, 8});
    ag_tensor *am = ag_argmax(A, y, 1, false);
    ck_shape(am, 2, ((int64_t[]){2, 2}));
    ck_values(am, 4, ((double[]){1, 0, 1, 2}), 0);
    /* gradients do not flow into argmax: requires_grad input still gives a leaf */
    ag_set_requires_grad(x, true);
    ag_tensor *a2 = ag_argmax(A, x, 0, false);
    ck_assert(ag_is_leaf(a2));
    ag_arena_free(A);
}
END_TEST

/* Long rows full of ties (values 0..3), and NaNs: the first maximum in
 * row-major order, found by a naive loop here, for the last dim (contiguous
 * rows), dim 0 (strided) and every dim. */
START_TEST(test_argmax_ties_long_rows) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 5);
    const int R = 16, C = 37;
    ag_tensor *x = ag_empty(A, AG_F32, AG_SHAPE(R, C));
    float *v = x->data;
    for (int i = 0; i < R * C; i++) v[i] = (float)ag_rng_below(&r, 4);
    v[3 * C + 30] = NAN; /* row 3: the NaN wins */
    v[5 * C + 7] = NAN, v[5 * C + 2] = NAN; /* row 5: the first NaN */
    ag_set_requires_grad(x, true);
    ag_tensor *am = ag_argmax(A, x, -1, false);
    ag_tensor *mx = ag_max(A, x, AG_DIMS(1), false);
    ck_assert(ag_backward(mx, ag_ones(A, AG_F32, AG_SHAPE(R))));
    for (int i = 0; i < R; i++) {
        int at = 0;
        for (int j = 1; j < C; j++) {
            const float a = v[i * C + j], m = v[i * C + at];
            if (a > m || (isnan(a) && !isnan(m))) at = j;
        }
        ck_assert_int_eq(((int32_t *)am->data)[i], at);
        for (int j = 0; j < C; j++)
            ck_close(ag_get_flat(x->grad, i * C + j), j == at ? 1.0 : 0.0, 0);
    }
    ck_close(((int32_t *)am->data)[3], 30, 0);
    ck_close(((int32_t *)am->data)[5], 2, 0);
    /* dim 0: columns */
    ag_tensor *a0 = ag_argmax(A, x, 0, false);
    for (int j = 0; j < C; j++) {
        int at = 0;
        for (int i = 1; i < R; i++) {
            const float a = v[i * C + j], m = v[at * C + j];
            if (a > m || (isnan(a) && !isnan(m))) at = i;
        }
        ck_assert_int_eq(((int32_t *)a0->data)[j], at);
    }
    /* every dim, without NaNs: the first 3 in the flat order */
    v[3 * C + 30] = 0, v[5 * C + 7] = 0, v[5 * C + 2] = 0;
    ag_zero_grad(x);
    ck_assert(ag_backward(ag_max(A, x, 0, NULL, false), NULL));
    int first = 0;
    while (v[first] != 3) first++;
    for (int i = 0; i < R * C; i++) ck_close(ag_get_flat(x->grad, i), i == first ? 1.0 : 0.0, 0);
    ag_arena_free(A);
}
END_TEST

/* The whole gradient goes to the first maximum (row-major within the
 * reduced elements), by hand. */
START_TEST(test_max_gradient_first_argmax) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = f64(A, AG_SHAPE(2, 3), (double[]){1, 3, 3, 2, 2, 0});
    ag_set_requires_grad(x, true);
    ag_tensor *m = ag_max(A, x, AG_DIMS(1), false);
    ck_values(m, 2, ((double[]){3, 2}), 0);
    ag_tensor *g = f64(A, AG_SHAPE(2), (double[]){10, 20});
    ck_assert(ag_backward(m, g));
    ck_values(x->grad, 6, ((double[]){0, 10, 0, 20, 0, 0}), 0);
    /* over every dim: [[3,1],[3,3]] -> position 0 */
    ag_tensor *y = f64(A, AG_SHAPE(2, 2), (double[]){3, 1, 3, 3});
    ag_set_requires_grad(y, true);
    ck_assert(ag_backward(ag_max(A, y, 0, NULL, false), NULL));
    ck_values(y->grad, 4, ((double[]){1, 0, 0, 0}), 0);
    /* dims {0, 2} of [2,2,2]: for output j the reduced elements in row-major
     * order are z[0][j][0], z[0][j][1], z[1][j][0], z[1][j][1] */
    ag_tensor *z = f64(A, AG_SHAPE(2, 2, 2), (double[]){1, 4, 5, 5, 4, 2, 5, 0});
    ag_set_requires_grad(z, true);
    ag_tensor *mz = ag_max(A, z, AG_DIMS(2, 0), false);
    ck_values(mz, 2, ((double[]){4, 5}), 0);
    ck_assert(ag_backward(mz, f64(A, AG_SHAPE(2), (double[]){1, 2})));
    /* j=0: 1,4,4,2 -> first 4 at z[0][0][1]; j=1: 5,5,5,0 -> z[0][1][0] */
    ck_values(z->grad, 8, ((double[]){0, 1, 2, 0, 0, 0, 0, 0}), 0);
    /* f32 and keepdim too */
    ag_tensor *w = ag_from_array(A, AG_F32, AG_SHAPE(3, 1), (float[]){2, 2, 1});
    ag_set_requires_grad(w, true);
    ck_assert(ag_backward(ag_max(A, w, AG_DIMS(0), true), NULL));
    ck_values(w->grad, 3, ((double[]){1, 0, 0}), 0);
    ag_arena_free(A);
}
END_TEST

/* ---- gradients by hand ------------------------------------------------------------------ */

START_TEST(test_sum_mean_var_gradients) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = f64(A, AG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    ag_set_requires_grad(x, true);
    /* sum over dim 0 with grad [1,2,3]: each column gets its value */
    ck_assert(ag_backward(ag_sum(A, x, AG_DIMS(0), false), f64(A, AG_SHAPE(3), (double[]){1, 2, 3})));
    ck_values(x->grad, 6, ((double[]){1, 2, 3, 1, 2, 3}), 0);
    ag_zero_grad(x);
    /* mean over dim 1 keepdim with grad [[3],[6]]: 1 and 2 per element */
    ck_assert(ag_backward(ag_mean(A, x, AG_DIMS(1), true),
                          f64(A, AG_SHAPE(2, 1), (double[]){3, 6})));
    ck_values(x->grad, 6, ((double[]){1, 1, 1, 2, 2, 2}), 1e-15);
    ag_zero_grad(x);
    /* mean of everything: 1/6 each */
    ck_assert(ag_backward(ag_mean(A, x, 0, NULL, false), NULL));
    for (int i = 0; i < 6; i++) ck_close(ag_get_flat(x->grad, i), 1.0 / 6, 1e-15);
    /* var of [1,2,3,4], unbiased: d/dx = 2 (x - 2.5) / 3 */
    ag_tensor *v = f64(A, AG_SHAPE(4), (double[]){1, 2, 3, 4});
    ag_set_requires_grad(v, true);
    ck_assert(ag_backward(ag_var(A, v, 0, NULL, 1, false), NULL));
    ck_values(v->grad, 4, ((double[]){-1, -1.0 / 3, 1.0 / 3, 1}), 1e-15);
    /* biased, per row of [[1,3],[2,8]] with grad [1, 2]: 2 (x - m) / 2 * g */
    ag_tensor *y = f64(A, AG_SHAPE(2, 2), (double[]){1, 3, 2, 8});
    ag_set_requires_grad(y, true);
    ck_assert(ag_backward(ag_var(A, y, AG_DIMS(-1), 0, false),
                          f64(A, AG_SHAPE(2), (double[]){1, 2})));
    ck_values(y->grad, 4, ((double[]){-1, 1, -6, 6}), 1e-14);
    /* the gradient accumulates with += into an existing one */
    ck_assert(ag_backward(ag_sum(A, y, 0, NULL, false), NULL));
    ck_values(y->grad, 4, ((double[]){0, 2, -5, 7}), 1e-14);
    ag_arena_free(A);
}
END_TEST

/* bf16 computes in f32 and returns bf16; gradients flow through the casts */
START_TEST(test_bf16) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_BF16, AG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
    ag_set_requires_grad(x, true);
    ag_tensor *s = ag_sum(A, x, AG_DIMS(1), false);
    ck_assert_int_eq(s->dtype, AG_BF16);
    ck_values(s, 2, ((double[]){3, 7}), 0);
    ag_tensor *m = ag_mean(A, x, 0, NULL, false);
    ck_assert_int_eq(m->dtype, AG_BF16);
    ck_close(ag_item(m), 2.5, 0);
    ck_assert(ag_backward(m, NULL));
    ck_assert_int_eq(x->grad->dtype, AG_BF16);
    ck_values(x->grad, 4, ((double[]){0.25, 0.25, 0.25, 0.25}), 0);
    ck_close(ag_item(ag_max(A, x, 0, NULL, false)), 4, 0);
    ck_close(ag_item(ag_var(A, x, 0, NULL, 0, false)), 1.25, 0);
    ag_arena_free(A);
}
END_TEST

/* ---- empty tensors ---------------------------------------------------------------------- */

START_TEST(test_empty) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F64, AG_SHAPE(0, 3));
    ag_set_requires_grad(x, true);
    ag_tensor *s = ag_sum(A, x, AG_DIMS(0), false);
    ck_shape(s, 1, ((int64_t[]){3}));
    ck_values(s, 3, ((double[]){0, 0, 0}), 0);
    ck_close(ag_item(ag_sum(A, x, 0, NULL, false)), 0, 0);
    ag_tensor *m = ag_mean(A, x, AG_DIMS(0), true);
    ck_shape(m, 2, ((int64_t[]){1, 3}));
    ck_values(m, 3, ((double[]){NAN, NAN, NAN}), 0);
    ck_assert(isnan(ag_item(ag_var(A, x, 0, NULL, 1, false))));
    ck_assert(isnan(ag_item(ag_var(A, x, 0, NULL, 0, false))));
    /* kept empty dim: empty results, also for max (the reduced dim is not empty) */
    ag_tensor *s1 = ag_sum(A, x, AG_DIMS(1), false);
    ck_shape(s1, 1, ((int64_t[]){0}));
    ag_tensor *m1 = ag_max(A, x, AG_DIMS(1), true);
    ck_shape(m1, 2, ((int64_t[]){0, 1}));
    ag_tensor *a1 = ag_argmax(A, x, 1, false);
    ck_shape(a1, 1, ((int64_t[]){0}));
    /* backward through an empty reduction leaves an empty gradient */
    ck_assert(ag_backward(ag_sum(A, x, 0, NULL, false), NULL));
    ck_assert_int_eq(x->grad->numel, 0);
    ag_arena_free(A);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------- */

static void expect_error(const char *needle1, const char *needle2) {
    const char *e = ag_last_error();
    ck_assert_msg(strstr(e, needle1) != NULL, "\"%s\" lacks \"%s\"", e, needle1);
    if (needle2) ck_assert_msg(strstr(e, needle2) != NULL, "\"%s\" lacks \"%s\"", e, needle2);
}

START_TEST(test_errors) {
    ag_arena *A = ag_arena_new(0);
    expect_errors();
    ag_tensor *x = ag_zeros(A, AG_F64, AG_SHAPE(2, 3));

    ag_clear_error();
    ck_assert_ptr_null(ag_sum(A, x, AG_DIMS(1, -1), false));
    expect_error("ag: sum:", "twice");
    ag_clear_error();
    ck_assert_ptr_null(ag_mean(A, x, AG_DIMS(2), false));
    expect_error("ag: mean:", "dim 2 is out of range");
    ag_clear_error();
    ck_assert_ptr_null(ag_var(A, x, AG_DIMS(-3), 1, false));
    expect_error("ag: var:", "dim -3");
    ag_clear_error();
    ck_assert_ptr_null(ag_max(A, ag_zeros(A, AG_F64, AG_SHAPE(0, 3)), AG_DIMS(0), false));
    expect_error("ag: max:", "[0,3]");
    ag_clear_error();
    ck_assert_ptr_null(ag_max(A, ag_zeros(A, AG_F32, AG_SHAPE(0)), 0, NULL, false));
    expect_error("ag: max:", "[0]");
    ag_clear_error();
    ck_assert_ptr_null(ag_argmax(A, ag_zeros(A, AG_F32, AG_SHAPE(2, 0)), 1, false));
    expect_error("ag: argmax:", "[2,0]");
    ag_clear_error();
    ck_assert_ptr_null(ag_argmax(A, x, 2, false));
    expect_error("ag: argmax:", "dim 2");
    ag_clear_error();
    ag_tensor *ids = ag_zeros(A, AG_I32, AG_SHAPE(4));
    ck_assert_ptr_null(ag_sum(A, ids, 0, NULL, false));
    expect_error("ag: sum:", "i32");
    ag_clear_error();
    ck_assert_ptr_null(ag_sum(A, ag_zeros(A, AG_F32, AG_SHAPE(1)), AG_DIMS(1), false));
    expect_error("ag: sum:", "dim 1 is out of range for [1]");
    /* NULL in: NULL out, silently */
    ag_clear_error();
    ck_assert_ptr_null(ag_sum(A, NULL, 0, NULL, false));
    ck_assert_ptr_null(ag_mean(A, NULL, 0, NULL, false));
    ck_assert_ptr_null(ag_max(A, NULL, 0, NULL, false));
    ck_assert_ptr_null(ag_var(A, NULL, 0, NULL, 1, false));
    ck_assert_ptr_null(ag_argmax(A, NULL, 0, false));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(A);
}
END_TEST

TCase *ops_reduce_tcase(void) {
    TCase *tc = tcase_create("reduce");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sum_basic);
    tcase_add_test(tc, test_sum_multi_dims);
    tcase_add_test(tc, test_mean);
    tcase_add_test(tc, test_scalar_input);
    tcase_add_test(tc, test_f32_accumulates_in_double);
    tcase_add_test(tc, test_large_against_naive);
    tcase_add_test(tc, test_interleaved_dims_against_naive);
    tcase_add_test(tc, test_var_values);
    tcase_add_test(tc, test_max_values);
    tcase_add_test(tc, test_argmax);
    tcase_add_test(tc, test_argmax_ties_long_rows);
    tcase_add_test(tc, test_max_gradient_first_argmax);
    tcase_add_test(tc, test_sum_mean_var_gradients);
    tcase_add_test(tc, test_bf16);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_errors);
    return tc;
}
