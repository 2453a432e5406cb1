/* tests/ops/binary.c — add, sub, mul, div, maximum, minimum and the scalar
 * forms: forward values worked out by hand, broadcasting, dtype promotion,
 * bf16 rounding, hand-computed gradients, and bad input. */
#include <string.h>

#include "ops_test.h"

static ag_tensor *leaf(ag_tensor *t) {
    ag_set_requires_grad(t, true);
    return t;
}

static ag_tensor *vals(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape,
                       const double *v) {
    return ag_from_f64(A, dt, ndim, shape, v);
}

START_TEST(elementwise_with_broadcast_row) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = vals(A, AG_F32, AG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *b = vals(A, AG_F32, AG_SHAPE(3), (double[]){10, -20, 0.5});
    ck_values(ag_add(A, a, b), 6, ((double[]){11, -18, 3.5, 14, -15, 6.5}), 0);
    ck_values(ag_sub(A, a, b), 6, ((double[]){-9, 22, 2.5, -6, 25, 5.5}), 0);
    ck_values(ag_mul(A, a, b), 6, ((double[]){10, -40, 1.5, 40, -100, 3}), 0);
    ck_values(ag_div(A, a, b), 6, ((double[]){0.1, -0.1, 6, 0.4, -0.25, 12}), 1e-7);
    ck_values(ag_maximum(A, a, b), 6, ((double[]){10, 2, 3, 10, 5, 6}), 0);
    ck_values(ag_minimum(A, a, b), 6, ((double[]){1, -20, 0.5, 4, -20, 0.5}), 0);
    /* the other operand order broadcasts the same way */
    ck_values(ag_sub(A, b, a), 6, ((double[]){9, -22, -2.5, 6, -25, -5.5}), 0);
    ag_tensor *y = ag_add(A, a, b);
    ck_shape(y, 2, ((int64_t[]){2, 3}));
    ck_assert_int_eq(y->dtype, AG_F32);
    ck_assert(ag_is_leaf(y)); /* nothing required a gradient */
    ag_arena_free(A);
}
END_TEST

START_TEST(broadcast_shapes) {
    ag_arena *A = ag_arena_new(0);
    /* [4,1,3] + [2,1] -> [4,2,3]: out[i][j][k] = (3i + k) + 10j */
    ag_tensor *a = ag_arange(A, AG_F64, 0, 12, 1);
    a = ag_reshape(A, a, AG_SHAPE(4, 1, 3));
    ag_tensor *b = vals(A, AG_F64, AG_SHAPE(2, 1), (double[]){0, 10});
    ag_tensor *y = ag_add(A, a, b);
    ck_shape(y, 3, ((int64_t[]){4, 2, 3}));
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 2; j++)
            for (int64_t k = 0; k < 3; k++)
                ck_close(ag_at(y, i, j, k), (double)(3 * i + k + 10 * j), 0);
    /* [1,3] - [2,1] -> [2,3] */
    ag_tensor *r = ag_sub(A, vals(A, AG_F64, AG_SHAPE(1, 3), (double[]){1, 2, 3}),
                          vals(A, AG_F64, AG_SHAPE(2, 1), (double[]){10, 20}));
    ck_shape(r, 2, ((int64_t[]){2, 3}));
    ck_values(r, 6, ((double[]){-9, -8, -7, -19, -18, -17}), 0);
    /* 0-d with [2,2]; 0-d with 0-d; size 0 */
    ag_tensor *s = ag_mul(A, ag_scalar(A, AG_F32, 3), ag_full(A, AG_F32, AG_SHAPE(2, 2), 2));
    ck_values(s, 4, ((double[]){6, 6, 6, 6}), 0);
    ag_tensor *ss = ag_div(A, ag_scalar(A, AG_F64, 1), ag_scalar(A, AG_F64, 8));
    ck_assert_int_eq(ss->ndim, 0);
    ck_close(ag_item(ss), 0.125, 0);
    ck_shape(ag_add(A, ag_zeros(A, AG_F32, AG_SHAPE(0, 3)), ag_ones(A, AG_F32, AG_SHAPE(3))), 2,
             ((int64_t[]){0, 3}));
    ck_shape(ag_add(A, ag_zeros(A, AG_F32, AG_SHAPE(2, 1)), ag_ones(A, AG_F32, AG_SHAPE(0))), 2,
             ((int64_t[]){2, 0}));
    ag_arena_free(A);
}
END_TEST

START_TEST(scalar_forms) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = vals(A, AG_F64, AG_SHAPE(3), (double[]){1, -2, 4});
    ck_values(ag_add_scalar(A, x, 0.5), 3, ((double[]){1.5, -1.5, 4.5}), 0);
    ck_values(ag_sub_scalar(A, x, 2), 3, ((double[]){-1, -4, 2}), 0);
    ck_values(ag_rsub_scalar(A, 1, x), 3, ((double[]){0, 3, -3}), 0);
    ck_values(ag_mul_scalar(A, x, -3), 3, ((double[]){-3, 6, -12}), 0);
    ck_values(ag_div_scalar(A, x, 4), 3, ((double[]){0.25, -0.5, 1}), 0);
    ck_values(ag_rdiv_scalar(A, 2, x), 3, ((double[]){2, -1, 0.5}), 0);
    /* the result keeps x's dtype and shape */
    ag_tensor *f = ag_mul_scalar(A, ag_full(A, AG_F32, AG_SHAPE(2, 1), 1.5), 0.1);
    ck_assert_int_eq(f->dtype, AG_F32);
    ck_shape(f, 2, ((int64_t[]){2, 1}));
    ck_close(ag_get_flat(f, 0), (double)(1.5f * 0.1f), 1e-7);
    ag_tensor *b = ag_add_scalar(A, ag_ones(A, AG_BF16, AG_SHAPE(2)), 1.0 / 256);
    ck_assert_int_eq(b->dtype, AG_BF16);
    ck_values(b, 2, ((double[]){1, 1}), 0); /* 1 + 2^-8 rounds to 1 in bf16 */
    /* gradients of the scalar forms: d(s - x) = -1, d(s / x) = -s / x^2 */
    ag_tensor *w = leaf(vals(A, AG_F64, AG_SHAPE(2), (double[]){2, -4}));
    ck_assert(ag_backward(ag_rsub_scalar(A, 5, w), ag_ones(A, AG_F64, AG_SHAPE(2))));
    ck_values(w->grad, 2, ((double[]){-1, -1}), 0);
    ag_zero_grad(w);
    ck_assert(ag_backward(ag_rdiv_scalar(A, 8, w), ag_ones(A, AG_F64, AG_SHAPE(2))));
    ck_values(w->grad, 2, ((double[]){-2, -0.5}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(promotion) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = ag_full(A, AG_F32, AG_SHAPE(2), 0.1); /* 0.1f */
    ag_tensor *b = ag_full(A, AG_F64, AG_SHAPE(1), 0.2);
    ag_tensor *y = ag_add(A, a, b);
    ck_assert_int_eq(y->dtype, AG_F64);
    ck_values(y, 2, ((double[]){(double)0.1f + 0.2, (double)0.1f + 0.2}), 0);
    ck_assert_int_eq(ag_mul(A, b, a)->dtype, AG_F64);
    /* bf16 with f32 gives f32, with no rounding to bf16 */
    ag_tensor *c = ag_add(A, ag_ones(A, AG_BF16, AG_SHAPE(1)), ag_full(A, AG_F32, AG_SHAPE(1), 1.0 / 256));
    ck_assert_int_eq(c->dtype, AG_F32);
    ck_close(ag_item(c), 1.00390625, 0);
    ck_assert_int_eq(ag_sub(A, ag_ones(A, AG_BF16, AG_SHAPE(1)), ag_ones(A, AG_F64, AG_SHAPE(1)))->dtype,
                     AG_F64);
    /* gradients come back in each input's own dtype */
    ag_tensor *p = leaf(ag_full(A, AG_F32, AG_SHAPE(2), 3));
    ag_tensor *q = leaf(ag_full(A, AG_F64, AG_SHAPE(2), 0.5));
    ck_assert(ag_backward(ag_mul(A, p, q), ag_ones(A, AG_F64, AG_SHAPE(2))));
    ck_assert_int_eq(p->grad->dtype, AG_F32);
    ck_assert_int_eq(q->grad->dtype, AG_F64);
    ck_values(p->grad, 2, ((double[]){0.5, 0.5}), 0);
    ck_values(q->grad, 2, ((double[]){3, 3}), 0);
    ag_arena_free(A);
}
END_TEST

/* bf16 keeps 8 significant bits: the spacing just above 1 is 2^-7. Results
 * are computed in f32 and rounded to nearest, ties to even:
 *   1 + 2^-8     is halfway between 1 (0x3F80) and 1 + 2^-7 (0x3F81): to even 0x3F80
 *   1 + 3*2^-8   is halfway between 1 + 2^-7 (0x3F81) and 1 + 2^-6 (0x3F82): 0x3F82
 *   1 + 2^-7     is exact: 0x3F81
 *   1 + 5*2^-9   = 1 + 2^-7 + 2^-9, below the midpoint 1 + 3*2^-8: 0x3F81 */
START_TEST(bf16_rounds_to_nearest_even) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = ag_ones(A, AG_BF16, AG_SHAPE(4));
    ag_tensor *b = vals(A, AG_BF16, AG_SHAPE(4),
                        (double[]){ldexp(1, -8), 3 * ldexp(1, -8), ldexp(1, -7), 5 * ldexp(1, -9)});
    /* the addends themselves are exact in bf16 (at most 3 significant bits) */
    ck_values(b, 4, ((double[]){ldexp(1, -8), 3 * ldexp(1, -8), ldexp(1, -7), 5 * ldexp(1, -9)}), 0);
    ag_tensor *y = ag_add(A, a, b);
    ck_assert_int_eq(y->dtype, AG_BF16);
    const uint16_t *bits = y->data;
    ck_assert_uint_eq(bits[0], 0x3F80);
    ck_assert_uint_eq(bits[1], 0x3F82);
    ck_assert_uint_eq(bits[2], 0x3F81);
    ck_assert_uint_eq(bits[3], 0x3F81);
    ck_values(y, 4, ((double[]){1, 1 + ldexp(1, -6), 1 + ldexp(1, -7), 1 + ldexp(1, -7)}), 0);
    /* 3 * (1 + 2^-7) = 3 + 3*2^-7: spacing at 3 is 2^-6, so it is halfway
     * between 3 + 2^-6 (odd mantissa) and 3 + 2^-5 (even): 3 + 2^-5 */
    ag_tensor *m = ag_mul(A, ag_full(A, AG_BF16, AG_SHAPE(1), 3), ag_full(A, AG_BF16, AG_SHAPE(1), 1 + ldexp(1, -7)));
    ck_close(ag_item(m), 3 + ldexp(1, -5), 0);
    /* gradients of a bf16 op come back as bf16 */
    ag_tensor *x = leaf(ag_full(A, AG_BF16, AG_SHAPE(2), 2));
    ag_tensor *z = ag_mul(A, x, x);
    ck_assert_int_eq(z->dtype, AG_BF16);
    ck_assert(ag_backward(z, ag_ones(A, AG_BF16, AG_SHAPE(2))));
    ck_assert_int_eq(x->grad->dtype, AG_BF16);
    ck_values(x->grad, 2, ((double[]){4, 4}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(hand_gradients) {
    ag_arena *A = ag_arena_new(0);
    /* maximum / minimum: ties split the gradient in half */
    ag_tensor *a = leaf(vals(A, AG_F64, AG_SHAPE(3), (double[]){1, 2, 5}));
    ag_tensor *b = leaf(vals(A, AG_F64, AG_SHAPE(3), (double[]){1, 3, 4}));
    ck_assert(ag_backward(ag_maximum(A, a, b), ag_ones(A, AG_F64, AG_SHAPE(3))));
    ck_values(a->grad, 3, ((double[]){0.5, 0, 1}), 0);
    ck_values(b->grad, 3, ((double[]){0.5, 1, 0}), 0);
    ag_zero_grad(a);
    ag_zero_grad(b);
    ck_assert(ag_backward(ag_minimum(A, a, b), ag_ones(A, AG_F64, AG_SHAPE(3))));
    ck_values(a->grad, 3, ((double[]){0.5, 1, 0}), 0);
    ck_values(b->grad, 3, ((double[]){0.5, 0, 1}), 0);
    /* x * x: the two uses add up to 2x */
    ag_tensor *x = leaf(vals(A, AG_F64, AG_SHAPE(3), (double[]){1, -2, 3}));
    ck_assert(ag_backward(ag_mul(A, x, x), ag_ones(A, AG_F64, AG_SHAPE(3))));
    ck_values(x->grad, 3, ((double[]){2, -4, 6}), 0);
    /* [2,3] * [3]: b's gradient sums a over rows */
    ag_tensor *p = leaf(vals(A, AG_F64, AG_SHAPE(2, 3), (double[]){0, 1, 2, 3, 4, 5}));
    ag_tensor *q = leaf(vals(A, AG_F64, AG_SHAPE(3), (double[]){1, 2, 3}));
    ck_assert(ag_backward(ag_mul(A, p, q), ag_ones(A, AG_F64, AG_SHAPE(2, 3))));
    ck_values(p->grad, 6, ((double[]){1, 2, 3, 1, 2, 3}), 0);
    ck_values(q->grad, 3, ((double[]){0 + 3, 1 + 4, 2 + 5}), 0);
    /* [2,3] - [2,1] with g = 0..5: c's gradient is minus the row sums */
    ag_tensor *c = leaf(vals(A, AG_F64, AG_SHAPE(2, 1), (double[]){7, 8}));
    ag_zero_grad(p);
    ck_assert(ag_backward(ag_sub(A, p, c),
                          vals(A, AG_F64, AG_SHAPE(2, 3), (double[]){0, 1, 2, 3, 4, 5})));
    ck_values(c->grad, 2, ((double[]){-3, -12}), 0);
    ck_values(p->grad, 6, ((double[]){0, 1, 2, 3, 4, 5}), 0);
    /* div: d/da = 1/b, d/db = -a/b^2 */
    ag_tensor *n = leaf(vals(A, AG_F64, AG_SHAPE(2), (double[]){1, 2}));
    ag_tensor *d = leaf(vals(A, AG_F64, AG_SHAPE(2), (double[]){4, -2}));
    ck_assert(ag_backward(ag_div(A, n, d), ag_ones(A, AG_F64, AG_SHAPE(2))));
    ck_values(n->grad, 2, ((double[]){0.25, -0.5}), 0);
    ck_values(d->grad, 2, ((double[]){-1.0 / 16, -0.5}), 0);
    /* a 0-d input broadcast to [2,2] gets the sum of the gradient */
    ag_tensor *s = leaf(ag_scalar(A, AG_F64, 2));
    ck_assert(ag_backward(ag_add(A, s, ag_zeros(A, AG_F64, AG_SHAPE(2, 2))),
                          vals(A, AG_F64, AG_SHAPE(2, 2), (double[]){1, 2, 3, 4})));
    ck_close(ag_item(s->grad), 10, 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(nan_and_inf) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = vals(A, AG_F64, AG_SHAPE(3), (double[]){NAN, 1, INFINITY});
    ag_tensor *b = vals(A, AG_F64, AG_SHAPE(3), (double[]){1, NAN, 1});
    ag_tensor *mx = ag_maximum(A, a, b), *mn = ag_minimum(A, a, b);
    ck_assert(isnan(ag_get_flat(mx, 0)) && isnan(ag_get_flat(mx, 1)));
    ck_assert(isnan(ag_get_flat(mn, 0)) && isnan(ag_get_flat(mn, 1)));
    ck_assert(isinf(ag_get_flat(mx, 2)));
    ck_close(ag_get_flat(mn, 2), 1, 0);
    ag_tensor *q = ag_div(A, vals(A, AG_F32, AG_SHAPE(2), (double[]){1, 0}), ag_zeros(A, AG_F32, AG_SHAPE(2)));
    ck_assert(isinf(ag_get_flat(q, 0)) && ag_get_flat(q, 0) > 0);
    ck_assert(isnan(ag_get_flat(q, 1)));
    ag_arena_free(A);
}
END_TEST

START_TEST(binary_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = ag_zeros(A, AG_F32, AG_SHAPE(2, 3));
    expect_errors();
    ck_assert_ptr_null(ag_add(A, a, ag_zeros(A, AG_F32, AG_SHAPE(4))));
    check_error("add", "[2,3]", "[4]");
    expect_errors();
    ck_assert_ptr_null(ag_maximum(A, ag_zeros(A, AG_F32, AG_SHAPE(3, 2)), a));
    check_error("maximum", "[3,2]", "[2,3]");
    expect_errors();
    ck_assert_ptr_null(ag_mul(A, a, ag_zeros(A, AG_I32, AG_SHAPE(3))));
    check_error("mul", "i32", "[3]");
    expect_errors();
    ck_assert_ptr_null(ag_div_scalar(A, ag_zeros(A, AG_I32, AG_SHAPE(5)), 2));
    check_error("div_scalar", "i32", "[5]");
    ag_clear_error();
    ck_assert_ptr_null(ag_sub(A, NULL, a));
    ck_assert_ptr_null(ag_minimum(A, a, NULL));
    ck_assert_ptr_null(ag_mul_scalar(A, NULL, 2));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_arena_free(A);
}
END_TEST

/* add, sub and mul store a source's first gradient into a fresh buffer
 * (arena memory left NaN, so an add into it would show): x (+,-,*) y with
 * x, y [2,3] and g = 2, by hand; then a broadcast source [3] (its terms add
 * up over the rows) and one tensor as both sources (its two shares add). */
START_TEST(fresh_gradients) {
    const int kinds = 3;
    for (int k = 0; k < kinds; k++) {
        ag_arena *A = nan_filled_arena((size_t)1 << 16);
        ag_tensor *x = ag_full(A, AG_F64, AG_SHAPE(2, 3), 3.0);
        ag_tensor *y = ag_full(A, AG_F64, AG_SHAPE(2, 3), 5.0);
        ag_tensor *b = ag_full(A, AG_F64, AG_SHAPE(3), 7.0);
        ag_set_requires_grad(x, true);
        ag_set_requires_grad(y, true);
        ag_set_requires_grad(b, true);
        ag_tensor *(*f[3])(ag_arena *, ag_tensor *, ag_tensor *) = {ag_add_, ag_sub_, ag_mul_};
        ag_tensor *g = ag_full(A, AG_F64, AG_SHAPE(2, 3), 2.0);
        ck_assert(ag_backward(f[k](A, x, y), g));
        const double dx[3] = {2, 2, 2 * 5.0}, dy[3] = {2, -2, 2 * 3.0};
        for (int i = 0; i < 6; i++) {
            ck_assert_double_eq(ag_get_flat(x->grad, i), dx[k]);
            ck_assert_double_eq(ag_get_flat(y->grad, i), dy[k]);
        }
        ag_tensor *z = ag_full(A, AG_F64, AG_SHAPE(2, 3), 3.0);
        ag_set_requires_grad(z, true);
        ck_assert(ag_backward(f[k](A, z, b), g));
        const double db[3] = {4, -4, 4 * 3.0};
        for (int i = 0; i < 3; i++) ck_assert_double_eq(ag_get_flat(b->grad, i), db[k]);
        ag_tensor *w = ag_full(A, AG_F64, AG_SHAPE(2, 3), 3.0);
        ag_set_requires_grad(w, true);
        ck_assert(ag_backward(f[k](A, w, w), g));
        const double dw[3] = {4, 0, 2 * 2 * 3.0};
        for (int i = 0; i < 6; i++) ck_assert_double_eq(ag_get_flat(w->grad, i), dw[k]);
        ag_arena_free(A);
    }
}
END_TEST

/* Large enough to be split over the team by runs (rows): each run's iterator
 * starts where the run is (ag__iter_seek), broadcast dims included. a [30,1,200]
 * with b [30,10,200] (60,000 elements, 300 runs), and a same-shape pair;
 * values and gradients against their formulas. */
static double va(int64_t i, int64_t k) { return (double)((i * 7 + k) % 11) - 5; }
static double vb(int64_t i) { return (double)(i % 13) + 1; }

START_TEST(runs_split_over_the_team) {
    ag_arena *A = ag_arena_new(0);
    enum { P = 30, Q = 10, R = 200 };
    ag_tensor *a = ag_empty(A, AG_F64, AG_SHAPE(P, 1, R));
    ag_tensor *b = ag_empty(A, AG_F64, AG_SHAPE(P, Q, R));
    ag_tensor *c = ag_empty(A, AG_F64, AG_SHAPE(P, Q, R));
    for (int64_t i = 0; i < P * R; i++) ag_set_flat(a, i, va(i, 0));
    for (int64_t i = 0; i < P * Q * R; i++) ag_set_flat(b, i, vb(i)), ag_set_flat(c, i, va(i, 3));
    ag_tensor *in[3] = {a, b, c};
    for (int i = 0; i < 3; i++) ag_set_requires_grad(in[i], true);
    /* a broadcast over dim 1: forward split, backward into a serial */
    ag_tensor *y = ag_mul(A, a, b);
    ck_assert(ag_backward(y, ag_ones(A, AG_F64, AG_SHAPE(P, Q, R))));
    for (int64_t i = 0; i < P * Q * R; i++) {
        const int64_t ia = (i / (Q * R)) * R + i % R; /* a's element under i */
        ck_assert_double_eq(ag_get_flat(y, i), va(ia, 0) * vb(i));
        ck_assert_double_eq(ag_get_flat(b->grad, i), va(ia, 0));
    }
    for (int64_t ia = 0; ia < P * R; ia++) { /* a's gradient: b summed over dim 1 */
        double s = 0;
        for (int64_t q = 0; q < Q; q++) s += vb((ia / R) * Q * R + q * R + ia % R);
        ck_assert_double_eq(ag_get_flat(a->grad, ia), s);
    }
    /* same shapes: forward and backward both split */
    ag_tensor *z = ag_sub(A, b, c);
    ck_assert(ag_backward(z, ag_full(A, AG_F64, AG_SHAPE(P, Q, R), 2.0)));
    for (int64_t i = 0; i < P * Q * R; i++) {
        const int64_t ia = (i / (Q * R)) * R + i % R;
        ck_assert_double_eq(ag_get_flat(z, i), vb(i) - va(i, 3));
        ck_assert_double_eq(ag_get_flat(b->grad, i), va(ia, 0) + 2.0); /* a leaf: adds up */
        ck_assert_double_eq(ag_get_flat(c->grad, i), -2.0);
    }
    ag_arena_free(A);
}
END_TEST

TCase *ops_binary_tcase(void) {
    TCase *tc = tcase_create("binary");
    tcase_add_test(tc, elementwise_with_broadcast_row);
    tcase_add_test(tc, broadcast_shapes);
    tcase_add_test(tc, scalar_forms);
    tcase_add_test(tc, promotion);
    tcase_add_test(tc, bf16_rounds_to_nearest_even);
    tcase_add_test(tc, hand_gradients);
    tcase_add_test(tc, nan_and_inf);
    tcase_add_test(tc, binary_bad);
    tcase_add_test(tc, runs_split_over_the_team);
    tcase_add_test(tc, fresh_gradients);
    return tc;
}
