/* tests/ops/cast.c — dtype conversion: round trips, bf16 round-to-nearest-even
 * on hand-built bit patterns, NaN and infinities, gradients cast back, i32
 * without gradient, and bad input. */
#include <string.h>

#include "ops_test.h"

static float f32_of_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bits_of_f32(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ag_f32_to_bf16 on a bit pattern. */
static unsigned to_bf16(uint32_t u) { return ag_f32_to_bf16(f32_of_bits(u)); }

static ag_tensor *leaf(ag_tensor *t) {
    ag_set_requires_grad(t, true);
    return t;
}

/* A bf16 keeps the top 16 bits of an f32. The 16 bits dropped decide the
 * rounding: below 0x8000 down, above up, exactly 0x8000 to the even result. */
START_TEST(bf16_bit_patterns) {
    ck_assert_uint_eq(to_bf16(0x3F800000u), 0x3F80); /* 1.0: exact */
    ck_assert_uint_eq(to_bf16(0x3F808000u), 0x3F80); /* tie, 0x3F80 is even: down */
    ck_assert_uint_eq(to_bf16(0x3F818000u), 0x3F82); /* tie, 0x3F81 is odd: up to even */
    ck_assert_uint_eq(to_bf16(0x3F808001u), 0x3F81); /* just above the tie: up */
    ck_assert_uint_eq(to_bf16(0x3F807FFFu), 0x3F80); /* just below the tie: down */
    ck_assert_uint_eq(to_bf16(0x3F81FFFFu), 0x3F82); /* rounds up across 0x3F81 */
    ck_assert_uint_eq(to_bf16(0xBF808000u), 0xBF80); /* negative tie: the sign is kept */
    ck_assert_uint_eq(to_bf16(0xBF818000u), 0xBF82);
    ck_assert_uint_eq(to_bf16(0x3FFF8000u), 0x4000); /* carry into the exponent: 2.0 */
    ck_assert_uint_eq(to_bf16(0x00008000u), 0x0000); /* subnormal tie to even (zero) */
    ck_assert_uint_eq(to_bf16(0x00018000u), 0x0002); /* subnormal tie up to even */
    ck_assert_uint_eq(to_bf16(0x80000000u), 0x8000); /* -0 stays -0 */
    /* the largest finite f32 is beyond the last bf16 midpoint: rounds to inf */
    ck_assert_uint_eq(to_bf16(0x7F7FFFFFu), 0x7F80);
    ck_assert_uint_eq(to_bf16(0x7F7F7FFFu), 0x7F7F); /* below it: the largest finite bf16 */
    /* infinities stay infinities; NaNs stay NaN (exponent all ones, mantissa
     * non-zero), even a NaN whose payload is only in the dropped bits */
    ck_assert_uint_eq(to_bf16(0x7F800000u), 0x7F80);
    ck_assert_uint_eq(to_bf16(0xFF800000u), 0xFF80);
    const uint32_t nans[] = {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0x7FFFFFFFu, 0x7F80FFFFu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        unsigned h = to_bf16(nans[i]);
        ck_assert_msg((h & 0x7F80u) == 0x7F80u && (h & 0x7Fu) != 0, "0x%08x -> 0x%04x is not NaN",
                      (unsigned)nans[i], h);
        ck_assert_uint_eq(h & 0x8000u, (nans[i] >> 16) & 0x8000u);
    }
    /* back to f32: the 16 bits are the top half */
    ck_assert_uint_eq(bits_of_f32(ag_bf16_to_f32(0x3F82)), 0x3F820000u);
    ck_assert(ag_bf16_to_f32(0x4049) == 3.140625f);
    ck_assert(isnan(ag_bf16_to_f32(0x7FC0)));
    ck_assert(isinf(ag_bf16_to_f32(0xFF80)) && ag_bf16_to_f32(0xFF80) < 0);
}
END_TEST

START_TEST(round_trips) {
    ag_arena *A = ag_arena_new(0);
    /* f32 -> f64 -> f32 is exact (subnormal included) */
    const float f[] = {0.1f, -3.5f, 1e30f, 1e-40f, 0.0f, -0.0f};
    ag_tensor *x = ag_from_array(A, AG_F32, AG_SHAPE(6), f);
    ag_tensor *d = ag_cast(A, x, AG_F64);
    ck_assert_int_eq(d->dtype, AG_F64);
    for (int i = 0; i < 6; i++) ck_assert(((double *)d->data)[i] == (double)f[i]);
    ag_tensor *back = ag_cast(A, d, AG_F32);
    ck_assert_int_eq(back->dtype, AG_F32);
    ck_assert(memcmp(back->data, f, sizeof f) == 0);
    /* f64 -> f32 rounds to nearest */
    ag_tensor *g = ag_cast(A, ag_from_f64(A, AG_F64, AG_SHAPE(3), (double[]){0.1, 1 + ldexp(1, -30), -2.5}),
                           AG_F32);
    ck_assert(((float *)g->data)[0] == (float)0.1);
    ck_assert(((float *)g->data)[1] == 1.0f);
    ck_assert(((float *)g->data)[2] == -2.5f);
    /* values with at most 8 significant bits survive f32 -> bf16 -> f32 and f64 -> bf16 -> f64 */
    const float e[] = {1.5f, -0.15625f, 256.0f, 0x1p-100f, 3.140625f};
    ag_tensor *b = ag_cast(A, ag_from_array(A, AG_F32, AG_SHAPE(5), e), AG_BF16);
    ck_assert_int_eq(b->dtype, AG_BF16);
    ag_tensor *bf = ag_cast(A, b, AG_F32);
    ck_assert(memcmp(bf->data, e, sizeof e) == 0);
    ag_tensor *b64 = ag_cast(A, ag_cast(A, ag_cast(A, bf, AG_F64), AG_BF16), AG_F64);
    for (int i = 0; i < 5; i++) ck_assert(((double *)b64->data)[i] == (double)e[i]);
    /* a tensor cast to bf16 rounds to nearest even; NaN and inf survive */
    ag_tensor *r = ag_cast(A, ag_from_array(A, AG_F32, AG_SHAPE(5),
                                            (float[]){1 + 0x1p-8f, 1 + 3 * 0x1p-8f, NAN,
                                                      INFINITY, -INFINITY}),
                           AG_BF16);
    const uint16_t *h = r->data;
    ck_assert_uint_eq(h[0], 0x3F80);
    ck_assert_uint_eq(h[1], 0x3F82);
    ck_assert(isnan(ag_get_flat(r, 2)));
    ck_assert(isinf(ag_get_flat(r, 3)) && ag_get_flat(r, 3) > 0);
    ck_assert(isinf(ag_get_flat(r, 4)) && ag_get_flat(r, 4) < 0);
    /* NaN and inf through f64 and back */
    ag_tensor *n = ag_cast(A, ag_cast(A, ag_cast(A, r, AG_F64), AG_F32), AG_BF16);
    ck_assert(isnan(ag_get_flat(n, 2)));
    ck_assert(isinf(ag_get_flat(n, 3)) && isinf(ag_get_flat(n, 4)));
    /* same dtype: a copy */
    ag_tensor *c = ag_cast(A, x, AG_F32);
    ck_assert_ptr_ne(c->data, x->data);
    ck_assert(memcmp(c->data, f, sizeof f) == 0);
    /* shapes are kept, 0-d and empty included */
    ck_assert_int_eq(ag_cast(A, ag_scalar(A, AG_F32, 2), AG_F64)->ndim, 0);
    ck_shape(ag_cast(A, ag_zeros(A, AG_F64, AG_SHAPE(0, 2)), AG_BF16), 2, ((int64_t[]){0, 2}));
    ag_arena_free(A);
}
END_TEST

START_TEST(gradient_is_cast_back) {
    ag_arena *A = ag_arena_new(0);
    /* f64 -> f32: the f32 gradient arrives as f64 */
    ag_tensor *x = leaf(ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){1, 2}));
    ag_tensor *y = ag_cast(A, x, AG_F32);
    ck_assert(y->requires_grad);
    ck_assert(ag_backward(y, ag_from_f64(A, AG_F32, AG_SHAPE(2), (double[]){1.5, -0.25})));
    ck_assert_int_eq(x->grad->dtype, AG_F64);
    ck_values(x->grad, 2, ((double[]){1.5, -0.25}), 0);
    /* f32 -> bf16: a bf16 gradient arrives exactly as f32 */
    ag_tensor *s = leaf(ag_full(A, AG_F32, AG_SHAPE(1), 0.3));
    ck_assert(ag_backward(ag_cast(A, s, AG_BF16),
                          ag_from_f64(A, AG_BF16, AG_SHAPE(1), (double[]){1 + ldexp(1, -7)})));
    ck_assert_int_eq(s->grad->dtype, AG_F32);
    ck_close(ag_item(s->grad), 1.0078125, 0);
    /* bf16 -> f32: an f32 gradient is rounded to bf16 (nearest even) */
    ag_tensor *b = leaf(ag_ones(A, AG_BF16, AG_SHAPE(2)));
    ck_assert(ag_backward(ag_cast(A, b, AG_F32),
                          ag_from_f64(A, AG_F32, AG_SHAPE(2), (double[]){3, 1 + 3 * ldexp(1, -8)})));
    ck_assert_int_eq(b->grad->dtype, AG_BF16);
    ck_values(b->grad, 2, ((double[]){3, 1 + ldexp(1, -6)}), 0);
    /* a chain f64 -> bf16 -> f64 passes the gradient through both casts */
    ag_tensor *c = leaf(ag_full(A, AG_F64, AG_SHAPE(1), 0.7));
    ck_assert(ag_backward(ag_cast(A, ag_cast(A, c, AG_BF16), AG_F64), NULL));
    ck_close(ag_item(c->grad), 1, 0);
    /* same dtype: still differentiable */
    ag_tensor *z = leaf(ag_full(A, AG_F32, AG_SHAPE(1), 2));
    ck_assert(ag_backward(ag_mul(A, ag_cast(A, z, AG_F32), z), NULL));
    ck_close(ag_item(z->grad), 4, 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(i32_without_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(ag_from_f64(A, AG_F32, AG_SHAPE(4), (double[]){2.7, -2.7, 0, 7}));
    ag_tensor *i = ag_cast(A, x, AG_I32);
    ck_assert_int_eq(i->dtype, AG_I32);
    ck_assert(!i->requires_grad);
    ck_assert(ag_is_leaf(i));
    const int32_t *v = i->data;
    ck_assert_int_eq(v[0], 2); /* truncates toward zero, as PyTorch's .to(int32) */
    ck_assert_int_eq(v[1], -2);
    ck_assert_int_eq(v[2], 0);
    ck_assert_int_eq(v[3], 7);
    ag_tensor *f = ag_cast(A, i, AG_F64);
    ck_assert_int_eq(f->dtype, AG_F64);
    ck_assert(!f->requires_grad);
    ck_values(f, 4, ((double[]){2, -2, 0, 7}), 0);
    ag_tensor *big = ag_cast(A, ag_from_array(A, AG_I32, AG_SHAPE(2), (int32_t[]){16777217, -3}),
                             AG_F64);
    ck_values(big, 2, ((double[]){16777217, -3}), 0); /* exact in f64 */
    ag_arena_free(A);
}
END_TEST

START_TEST(cast_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2, 3));
    ag_clear_error();
    expect_errors();
    ck_assert_ptr_null(ag_cast(A, x, AG_DTYPE_COUNT));
    const char *e = ag_last_error();
    ck_assert_msg(strstr(e, "ag: cast:") && strstr(e, "[2,3]"), "error \"%s\"", e);
    ag_clear_error();
    ck_assert_ptr_null(ag_cast(A, NULL, AG_F64));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(A);
}
END_TEST

TCase *ops_cast_tcase(void) {
    TCase *tc = tcase_create("cast");
    tcase_add_test(tc, bf16_bit_patterns);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, gradient_is_cast_back);
    tcase_add_test(tc, i32_without_gradient);
    tcase_add_test(tc, cast_bad);
    return tc;
}
