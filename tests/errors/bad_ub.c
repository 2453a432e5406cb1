/* tests/errors/bad_ub.c — bad calls that would otherwise be undefined
 * behaviour: shapes whose sizes overflow behind a zero size, float values
 * that do not fit an i32, an arange too long to count, gradient-check ids
 * that an i32 cannot hold, a module tree with a
 * cycle; and the engine's graph generation counter past 2^32 backward
 * passes. One bad call per test; see errors_test.h for what every report
 * must look like. */
#include <math.h>
#include <stdint.h>

#include "errors_test.h"
#include "internal.h"

#define I32_RANGE "[-2147483648, 2147483647]"

/* ---- shapes ---------------------------------------------------------------- */

/* 2^62 * 2^62 overflows int64 whatever the zero size in front says. */
START_TEST(zeros_with_zero_before_huge_dims) {
    ag_tensor *r = ag_zeros(A, AG_F32, AG_SHAPE(0, INT64_C(1) << 62, INT64_C(1) << 62)); const int line = __LINE__;
    EXPECT_REPORT("zeros", line, "[0,4611686018427387904,4611686018427387904]", "too large");
    expect_null_propagates(r);
}
END_TEST

START_TEST(empty_with_zero_after_huge_dims) {
    ag_tensor *r = ag_empty(A, AG_F32, AG_SHAPE(INT64_C(1) << 62, INT64_C(1) << 62, 0)); const int line = __LINE__;
    EXPECT_REPORT("empty", line, "[4611686018427387904,4611686018427387904,0]", "too large");
    expect_null_propagates(r);
}
END_TEST

/* 2^31 * 2^31 = 2^62 elements: more than INT64_MAX / 16 = 2^59 - 1. */
START_TEST(zeros_with_zero_and_2_pow_62_elements) {
    ag_tensor *r = ag_zeros(A, AG_F64, AG_SHAPE(INT64_C(1) << 31, 0, INT64_C(1) << 31)); const int line = __LINE__;
    EXPECT_REPORT("zeros", line, "[2147483648,0,2147483648]", "too large");
    expect_null_propagates(r);
}
END_TEST

/* Zero sizes whose other sizes fit are still fine, and empty. */
START_TEST(zero_size_with_fitting_dims_is_empty) {
    ag_tensor *t = ag_zeros(A, AG_F32, AG_SHAPE(0, INT64_C(1) << 20, 1 << 10));
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->numel, 0);
    ag_tensor *s = ag_sum(A, t, 0, NULL, false);
    ck_assert_ptr_nonnull(s);
    ck_assert(ag_item(s) == 0.0);
    ck_assert_int_eq(reports, 0);
}
END_TEST

/* Around the shortcut for sizes below 2^29 (no division): (2^29 - 1)^2 * 2 =
 * 2^59 - 2^31 + 2 fits under INT64_MAX / 16 = 2^59 - 1; times 4 it does not;
 * nor does (2^30 - 1)^2, which a shortcut up to 2^30 would let through. */
START_TEST(zero_size_around_the_small_sizes_shortcut) {
    const int64_t s = (INT64_C(1) << 29) - 1;
    ag_tensor *t = ag_empty(A, AG_F32, AG_SHAPE(s, 0, s, 2));
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->numel, 0);
    ck_assert_int_eq(reports, 0);
    ag_tensor *r = ag_empty(A, AG_F32, AG_SHAPE(s, 0, s, 4)); const int line = __LINE__;
    EXPECT_REPORT("empty", line, "[536870911,0,536870911,4]", "too large");
    expect_null_propagates(r);
}
END_TEST

START_TEST(zero_size_past_the_small_sizes_shortcut) {
    const int64_t b = (INT64_C(1) << 30) - 1;
    ag_tensor *r = ag_empty(A, AG_F32, AG_SHAPE(b, 0, b)); const int line = __LINE__;
    EXPECT_REPORT("empty", line, "[1073741823,0,1073741823]", "too large");
    expect_null_propagates(r);
}
END_TEST

/* ---- float to i32 ------------------------------------------------------------ */

START_TEST(set_flat_i32_to_nan) {
    ag_tensor *t = i32_of(AG_SHAPE(2), (const int32_t[]){7, 8});
    ag_set_flat(t, 1, NAN); const int line = __LINE__;
    EXPECT_REPORT("set", line, "nan", "i32", I32_RANGE);
    ck_assert_int_eq(((const int32_t *)t->data)[1], 8); /* untouched */
}
END_TEST

START_TEST(set_i32_to_minus_inf) {
    ag_tensor *t = i32_of(AG_SHAPE(1, 2), (const int32_t[]){7, 8});
    ag_set(t, (const int64_t[]){0, 0}, -INFINITY); const int line = __LINE__;
    EXPECT_REPORT("set", line, "-inf", I32_RANGE);
    ck_assert_int_eq(((const int32_t *)t->data)[0], 7);
}
END_TEST

/* 2^31 is the first value above the range. */
START_TEST(set_flat_i32_to_2_pow_31) {
    ag_tensor *t = i32_of(AG_SHAPE(1), (const int32_t[]){7});
    ag_set_flat(t, 0, 2147483648.0); const int line = __LINE__;
    EXPECT_REPORT("set", line, "2.14748e+09", I32_RANGE);
    ck_assert_int_eq(((const int32_t *)t->data)[0], 7);
}
END_TEST

/* Conversion truncates toward zero: just inside both ends is accepted. */
START_TEST(set_flat_i32_at_the_ends_of_the_range) {
    ag_tensor *t = i32_of(AG_SHAPE(2), (const int32_t[]){0, 0});
    ag_set_flat(t, 0, 2147483647.75);
    ag_set_flat(t, 1, -2147483648.75);
    ck_assert_int_eq(reports, 0);
    ck_assert_int_eq(((const int32_t *)t->data)[0], INT32_MAX);
    ck_assert_int_eq(((const int32_t *)t->data)[1], INT32_MIN);
    ag_set_flat(t, 1, -2147483649.0); const int line = __LINE__;
    EXPECT_REPORT("set", line, "-2.14748e+09", I32_RANGE);
    ck_assert_int_eq(((const int32_t *)t->data)[1], INT32_MIN);
}
END_TEST

START_TEST(full_i32_of_nan) {
    ag_tensor *r = ag_full(A, AG_I32, AG_SHAPE(2, 3), NAN); const int line = __LINE__;
    EXPECT_REPORT("full", line, "nan", "i32", I32_RANGE);
    expect_null_propagates(r);
}
END_TEST

START_TEST(scalar_i32_of_1e10) {
    ag_tensor *r = ag_scalar(A, AG_I32, 1e10); const int line = __LINE__;
    EXPECT_REPORT("scalar", line, "1e+10", I32_RANGE);
    expect_null_propagates(r);
}
END_TEST

START_TEST(from_f64_i32_with_inf) {
    ag_tensor *r = ag_from_f64(A, AG_I32, AG_SHAPE(3), (const double[]){1, INFINITY, 3}); const int line = __LINE__;
    EXPECT_REPORT("from_f64", line, "inf", I32_RANGE);
    expect_null_propagates(r);
}
END_TEST

START_TEST(cast_f32_with_inf_to_i32) {
    ag_tensor *x = F32(2, 3);
    ag_set_flat(x, 4, INFINITY);
    ag_tensor *r = ag_cast(A, x, AG_I32); const int line = __LINE__;
    EXPECT_REPORT("cast", line, "inf", "i32", I32_RANGE);
    expect_null_propagates(r);
}
END_TEST

START_TEST(cast_f64_of_3e9_to_i32) {
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(2), (const double[]){-1.5, 3e9});
    ck_assert_ptr_nonnull(x);
    ag_tensor *r = ag_cast(A, x, AG_I32); const int line = __LINE__;
    EXPECT_REPORT("cast", line, "3e+09", I32_RANGE);
    expect_null_propagates(r);
}
END_TEST

/* In range, cast truncates toward zero (as C and PyTorch do). */
START_TEST(cast_to_i32_truncates) {
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(4), (const double[]){-2.75, -0.5, 0.5, 2147483647.5});
    ag_tensor *r = ag_cast(A, x, AG_I32);
    ck_assert_ptr_nonnull(r);
    const int32_t *v = r->data;
    ck_assert_int_eq(v[0], -2);
    ck_assert_int_eq(v[1], 0);
    ck_assert_int_eq(v[2], 0);
    ck_assert_int_eq(v[3], INT32_MAX);
    ck_assert_int_eq(reports, 0);
}
END_TEST

/* ---- arange ------------------------------------------------------------------ */

/* 1e300 elements: the count itself is reported, not a converted int64. */
START_TEST(arange_of_1e300_elements) {
    ag_tensor *r = ag_arange(A, AG_F32, 0, 1e300, 1); const int line = __LINE__;
    EXPECT_REPORT("arange", line, "1e+300", "too many");
    expect_null_propagates(r);
}
END_TEST

/* (1e308 - -1e308) / 1e-300 is infinite. */
START_TEST(arange_of_infinitely_many_elements) {
    ag_tensor *r = ag_arange(A, AG_F64, -1e308, 1e308, 1e-300); const int line = __LINE__;
    EXPECT_REPORT("arange", line, "inf", "too many");
    expect_null_propagates(r);
}
END_TEST

/* 2147483646, 2147483647, then 2^31, which i32 cannot hold. */
START_TEST(arange_i32_past_the_range) {
    ag_tensor *r = ag_arange(A, AG_I32, 2147483646.0, 2147483649.0, 1); const int line = __LINE__;
    EXPECT_REPORT("arange", line, "2.14748e+09", I32_RANGE);
    expect_null_propagates(r);
}
END_TEST

/* ---- module cycles --------------------------------------------------------------- */

/* Ids below 2^40 would not fit an i32: they would wrap, silently. */
START_TEST(gc_ids_past_the_i32_range) {
    ag_rng r = ag_rng_seeded(1);
    ag_tensor *t = ag_gc_ids(A, &r, INT64_C(1) << 40, AG_SHAPE(4)); const int line = __LINE__;
    EXPECT_REPORT("gc_ids", line, "1099511627776", "2^31");
    expect_null_propagates(t);
}
END_TEST

/* 2^31 itself is fine: ids 0 .. INT32_MAX. */
START_TEST(gc_ids_at_the_end_of_the_range) {
    ag_rng r = ag_rng_seeded(1);
    ag_tensor *t = ag_gc_ids(A, &r, INT64_C(1) << 31, AG_SHAPE(64));
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(reports, 0);
    for (int64_t i = 0; i < t->numel; i++) ck_assert_int_ge(((const int32_t *)t->data)[i], 0);
}
END_TEST

START_TEST(module_as_its_own_child) {
    ag_module m;
    ag_module_init(&m, NULL, A);
    bool ok = ag_module_add_child(&m, "me", &m); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("module_add_child", line, "\"me\"", "cycle");
    ck_assert_int_eq(m.nchildren, 0);
    ck_assert_int_eq(ag_module_num_params(&m), 0);
}
END_TEST

/* outer -> inner -> lin; making outer a child of inner would close a loop.
 * Linear(3, 2) with bias has 3 * 2 + 2 = 8 parameters. */
START_TEST(module_ancestor_as_child) {
    ag_module outer, inner;
    ag_module_init(&outer, NULL, A);
    ag_module_init(&inner, NULL, A);
    ag_rng rng;
    ag_rng_seed(&rng, 1);
    ag_nn_linear *lin = ag_nn_linear_new(A, &rng, 3, 2, true);
    ck_assert(ag_module_add_child(&inner, "lin", &lin->base));
    ck_assert(ag_module_add_child(&outer, "inner", &inner));
    bool ok = ag_module_add_child(&lin->base, "up", &outer); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("module_add_child", line, "\"up\"", "ancestor", "cycle");
    ck_assert_int_eq(ag_module_num_params(&outer), 8);
    /* a module used twice in different places is not a cycle */
    ag_module other;
    ag_module_init(&other, NULL, A);
    ck_assert(ag_module_add_child(&other, "lin", &lin->base));
    ck_assert(ag_module_add_child(&outer, "other", &other));
    ck_assert_int_eq(reports, 1);
}
END_TEST

/* ---- the graph generation counter ----------------------------------------------- */

/* A new tensor's mark is 0. A 32-bit counter set to 2^32 - 1 wraps to 0 at
 * the next backward, whose sort then skips every source as already seen and
 * leaves no gradient. d/dx sum(x * x) = 2x. */
START_TEST(backward_past_2_pow_32_generations) {
    uint64_t before = ag__set_generation(UINT32_MAX);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(3), (const double[]){1, -2, 0.5});
    ag_set_requires_grad(x, true);
    for (int pass = 0; pass < 2; pass++) {
        ag_tensor *y = ag_sum(A, ag_mul(A, x, x), 0, NULL, false);
        ck_assert(ag_backward(y, NULL));
        ck_assert_ptr_nonnull(x->grad);
        /* gradients accumulate over passes: (pass + 1) * 2x */
        ck_assert_double_eq(ag_get_flat(x->grad, 0), 2.0 * (pass + 1));
        ck_assert_double_eq(ag_get_flat(x->grad, 1), -4.0 * (pass + 1));
        ck_assert_double_eq(ag_get_flat(x->grad, 2), 1.0 * (pass + 1));
    }
    ck_assert_uint_eq(ag__set_generation(before), (uint64_t)UINT32_MAX + 2);
    ck_assert_int_eq(reports, 0);
}
END_TEST

TCase *errors_ub_tcase(void) {
    TCase *tc = tcase_create("bad_ub");
    tcase_add_checked_fixture(tc, errors_setup, errors_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, zeros_with_zero_before_huge_dims);
    tcase_add_test(tc, empty_with_zero_after_huge_dims);
    tcase_add_test(tc, zeros_with_zero_and_2_pow_62_elements);
    tcase_add_test(tc, zero_size_with_fitting_dims_is_empty);
    tcase_add_test(tc, zero_size_around_the_small_sizes_shortcut);
    tcase_add_test(tc, zero_size_past_the_small_sizes_shortcut);
    tcase_add_test(tc, set_flat_i32_to_nan);
    tcase_add_test(tc, set_i32_to_minus_inf);
    tcase_add_test(tc, set_flat_i32_to_2_pow_31);
    tcase_add_test(tc, set_flat_i32_at_the_ends_of_the_range);
    tcase_add_test(tc, full_i32_of_nan);
    tcase_add_test(tc, scalar_i32_of_1e10);
    tcase_add_test(tc, from_f64_i32_with_inf);
    tcase_add_test(tc, cast_f32_with_inf_to_i32);
    tcase_add_test(tc, cast_f64_of_3e9_to_i32);
    tcase_add_test(tc, cast_to_i32_truncates);
    tcase_add_test(tc, arange_of_1e300_elements);
    tcase_add_test(tc, arange_of_infinitely_many_elements);
    tcase_add_test(tc, gc_ids_past_the_i32_range);
    tcase_add_test(tc, gc_ids_at_the_end_of_the_range);
    tcase_add_test(tc, arange_i32_past_the_range);
    tcase_add_test(tc, module_as_its_own_child);
    tcase_add_test(tc, module_ancestor_as_child);
    tcase_add_test(tc, backward_past_2_pow_32_generations);
    return tc;
}
