/* tests/tensor/dtype.c — dtype names, sizes, eps, and bf16 conversion on
 * hand-built bit patterns. */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "tensor_test.h"

static float f32_of_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static uint32_t bits_of_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* Asserts ag_f32_to_bf16(f32 with bits `in`) == want, naming both in hex. */
#define ck_bf16(in, want)                                                              \
    do {                                                                               \
        uint16_t got_ = ag_f32_to_bf16(f32_of_bits(in));                               \
        ck_assert_msg(got_ == (uint16_t)(want), "bf16(0x%08x) = 0x%04x, expected 0x%04x", \
                      (unsigned)(in), (unsigned)got_, (unsigned)(want));               \
    } while (0)

START_TEST(dtype_names_and_sizes) {
    ck_assert_str_eq(ag_dtype_name(AG_F32), "f32");
    ck_assert_str_eq(ag_dtype_name(AG_F64), "f64");
    ck_assert_str_eq(ag_dtype_name(AG_BF16), "bf16");
    ck_assert_str_eq(ag_dtype_name(AG_I32), "i32");
    ck_assert_uint_eq(ag_dtype_size(AG_F32), 4);
    ck_assert_uint_eq(ag_dtype_size(AG_F64), 8);
    ck_assert_uint_eq(ag_dtype_size(AG_BF16), 2);
    ck_assert_uint_eq(ag_dtype_size(AG_I32), 4);
    ck_assert(ag_dtype_is_float(AG_F32));
    ck_assert(ag_dtype_is_float(AG_F64));
    ck_assert(ag_dtype_is_float(AG_BF16));
    ck_assert(!ag_dtype_is_float(AG_I32));
    ck_assert(!ag_dtype_is_float(AG_DTYPE_COUNT));
}
END_TEST

START_TEST(dtype_eps) {
    /* PyTorch's torch.finfo(...).eps, which nn.RMSNorm uses when eps is unset */
    ck_close(ag_dtype_eps(AG_F32), 1.1920929e-07, 1e-14);
    ck_close(ag_dtype_eps(AG_F64), 2.220446049250313e-16, 1e-30);
    /* exactly 2^-23 and 2^-52 */
    ck_assert(ag_dtype_eps(AG_F32) == ldexp(1.0, -23));
    ck_assert(ag_dtype_eps(AG_F64) == ldexp(1.0, -52));
    /* bf16 computes in f32, so its compute eps is f32's */
    ck_assert(ag_dtype_eps(AG_BF16) == ldexp(1.0, -23));
}
END_TEST

START_TEST(bf16_exact_values) {
    ck_bf16(0x3F800000u, 0x3F80); /* 1 */
    ck_bf16(0xC0000000u, 0xC000); /* -2 */
    ck_bf16(0x00000000u, 0x0000); /* +0 */
    ck_bf16(0x80000000u, 0x8000); /* -0 keeps its sign */
    ck_bf16(0x3FC00000u, 0x3FC0); /* 1.5 */
    ck_assert(ag_bf16_to_f32(0x3F80) == 1.0f);
    ck_assert(ag_bf16_to_f32(0xC000) == -2.0f);
    ck_assert(ag_bf16_to_f32(0x3FC0) == 1.5f);
    ck_assert(ag_bf16_to_f32(0x4049) == f32_of_bits(0x40490000u)); /* 3.140625 */
    ck_assert(bits_of_f32(ag_bf16_to_f32(0x8000)) == 0x80000000u);
}
END_TEST

START_TEST(bf16_round_to_nearest_even) {
    /* below the halfway point: down */
    ck_bf16(0x3F807FFFu, 0x3F80);
    /* above: up */
    ck_bf16(0x3F808001u, 0x3F81);
    /* exactly halfway, lower neighbour even: down */
    ck_bf16(0x3F808000u, 0x3F80);
    /* exactly halfway, lower neighbour odd: up to the even one */
    ck_bf16(0x3F818000u, 0x3F82);
    /* same for negative numbers (magnitude rounds the same way) */
    ck_bf16(0xBF808000u, 0xBF80);
    ck_bf16(0xBF818000u, 0xBF82);
    ck_bf16(0xBF80C000u, 0xBF81);
    /* a carry out of the mantissa bumps the exponent: 1.9999999 -> 2 */
    ck_bf16(0x3FFFFFFFu, 0x4000);
    /* subnormals round the same way */
    ck_bf16(0x00018000u, 0x0002);
    ck_bf16(0x00008000u, 0x0000);
    ck_bf16(0x00008001u, 0x0001);
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to 1 (even) */
    ck_assert(ag_bf16_to_f32(ag_f32_to_bf16(1.00390625f)) == 1.0f);
    /* 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to 1 + 2^-6 */
    ck_assert(ag_bf16_to_f32(ag_f32_to_bf16(1.01171875f)) == 1.015625f);
}
END_TEST

START_TEST(bf16_nan_and_inf) {
    /* quiet NaN */
    uint16_t h = ag_f32_to_bf16(f32_of_bits(0x7FC00000u));
    ck_assert(isnan(ag_bf16_to_f32(h)));
    /* a NaN whose payload sits only in the low 16 bits must not turn into
     * inf (which plain truncation would give), nor round up into the sign */
    h = ag_f32_to_bf16(f32_of_bits(0x7F800001u));
    ck_assert_msg(isnan(ag_bf16_to_f32(h)), "0x7f800001 -> 0x%04x is not NaN", (unsigned)h);
    ck_assert_uint_eq(h & 0x8000u, 0);
    h = ag_f32_to_bf16(f32_of_bits(0x7FFFFFFFu));
    ck_assert_msg(isnan(ag_bf16_to_f32(h)), "0x7fffffff -> 0x%04x is not NaN", (unsigned)h);
    ck_assert_uint_eq(h & 0x8000u, 0);
    h = ag_f32_to_bf16(f32_of_bits(0xFFC00001u));
    ck_assert(isnan(ag_bf16_to_f32(h)));
    ck_assert(isnan(ag_bf16_to_f32(0x7FC0)));
    /* infinities */
    ck_bf16(0x7F800000u, 0x7F80);
    ck_bf16(0xFF800000u, 0xFF80);
    ck_assert(isinf(ag_bf16_to_f32(0x7F80)) && ag_bf16_to_f32(0x7F80) > 0);
    ck_assert(isinf(ag_bf16_to_f32(0xFF80)) && ag_bf16_to_f32(0xFF80) < 0);
}
END_TEST

START_TEST(bf16_overflow_rounds_to_inf) {
    /* FLT_MAX is above the halfway point between bf16's largest finite value
     * (0x7F7F) and 2^128: rounds to inf */
    ck_bf16(bits_of_f32(FLT_MAX), 0x7F80);
    ck_bf16(bits_of_f32(-FLT_MAX), 0xFF80);
    /* exactly halfway: 0x7F7F is odd, so the tie goes to "0x7F80" = inf */
    ck_bf16(0x7F7F8000u, 0x7F80);
    /* just below halfway: stays at the largest finite bf16 */
    ck_bf16(0x7F7F7FFFu, 0x7F7F);
    ck_assert(isfinite(ag_bf16_to_f32(0x7F7F)));
    ck_assert(isinf(ag_bf16_to_f32(ag_f32_to_bf16(FLT_MAX))));
}
END_TEST

START_TEST(bf16_round_trip_of_every_bf16) {
    /* every non-NaN bf16 converts to f32 and back to itself */
    for (uint32_t h = 0; h <= 0xFFFFu; h++) {
        float x = ag_bf16_to_f32((uint16_t)h);
        ck_assert_uint_eq(bits_of_f32(x), h << 16);
        if (isnan(x)) continue;
        ck_assert_uint_eq(ag_f32_to_bf16(x), h);
    }
}
END_TEST

TCase *tensor_dtype_tcase(void) {
    TCase *tc = tcase_create("dtype");
    tcase_add_test(tc, dtype_names_and_sizes);
    tcase_add_test(tc, dtype_eps);
    tcase_add_test(tc, bf16_exact_values);
    tcase_add_test(tc, bf16_round_to_nearest_even);
    tcase_add_test(tc, bf16_nan_and_inf);
    tcase_add_test(tc, bf16_overflow_rounds_to_inf);
    tcase_add_test(tc, bf16_round_trip_of_every_bf16);
    return tc;
}
