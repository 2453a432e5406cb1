/* tests/errors/bad_core.c — bad calls to creation, element access, the
 * engine, binary ops, cast and gradcheck. One bad call per test; see
 * errors_test.h for what every report must look like. */
#include <stdint.h>
#include <string.h>

#include "errors_test.h"

START_TEST(add_shapes_do_not_broadcast) {
    ag_tensor *a = F32(2, 3), *b = F32(4, 5);
    ag_tensor *r = ag_add(A, a, b); const int line = __LINE__;
    EXPECT_REPORT("add", line, "[2,3]", "[4,5]", "broadcast");
    expect_null_propagates(r);
}
END_TEST

START_TEST(sub_trailing_dims_do_not_broadcast) {
    ag_tensor *a = F32(3, 2), *b = F32(3);
    ag_tensor *r = ag_sub(A, a, b); const int line = __LINE__;
    EXPECT_REPORT("sub", line, "[3,2]", "[3]", "broadcast");
    expect_null_propagates(r);
}
END_TEST

START_TEST(mul_with_i32_input) {
    ag_tensor *a = F32(2), *b = i32_of(AG_SHAPE(2), (const int32_t[]){1, 2});
    ag_tensor *r = ag_mul(A, a, b); const int line = __LINE__;
    EXPECT_REPORT("mul", line, "[2]", "i32", "float");
    expect_null_propagates(r);
}
END_TEST

START_TEST(mul_scalar_of_i32) {
    ag_tensor *ids = i32_of(AG_SHAPE(3), (const int32_t[]){1, 2, 3});
    ag_tensor *r = ag_mul_scalar(A, ids, 2.0); const int line = __LINE__;
    EXPECT_REPORT("mul_scalar", line, "[3]", "i32");
    expect_null_propagates(r);
}
END_TEST

START_TEST(cast_to_unknown_dtype) {
    ag_tensor *x = F32(2, 3);
    ag_tensor *r = ag_cast(A, x, (ag_dtype)7); const int line = __LINE__;
    EXPECT_REPORT("cast", line, "[2,3]", "7");
    expect_null_propagates(r);
}
END_TEST

START_TEST(zeros_with_negative_size) {
    ag_tensor *r = ag_zeros(A, AG_F32, AG_SHAPE(2, -1)); const int line = __LINE__;
    EXPECT_REPORT("zeros", line, "[2,-1]", "-1", "negative");
    expect_null_propagates(r);
}
END_TEST

START_TEST(zeros_with_nine_dims) {
    ag_tensor *r = ag_zeros(A, AG_F32, AG_SHAPE(1, 2, 1, 2, 1, 2, 1, 2, 1)); const int line = __LINE__;
    EXPECT_REPORT("zeros", line, "9", "8");
    expect_null_propagates(r);
}
END_TEST

START_TEST(full_in_null_arena) {
    ag_tensor *r = ag_full(NULL, AG_F32, AG_SHAPE(2), 1.0); const int line = __LINE__;
    EXPECT_REPORT("full", line, "arena");
    expect_null_propagates(r);
}
END_TEST

START_TEST(arange_with_step_zero) {
    ag_tensor *r = ag_arange(A, AG_F32, 0, 10, 0); const int line = __LINE__;
    EXPECT_REPORT("arange", line, "step", "0");
    expect_null_propagates(r);
}
END_TEST

START_TEST(from_array_without_values) {
    ag_tensor *r = ag_from_array(A, AG_F64, AG_SHAPE(2, 2), NULL); const int line = __LINE__;
    EXPECT_REPORT("from_array", line, "[2,2]", "NULL");
    expect_null_propagates(r);
}
END_TEST

START_TEST(rand_of_i32) {
    ag_rng g;
    ag_rng_seed(&g, 1);
    ag_tensor *r = ag_rand(A, &g, AG_I32, AG_SHAPE(3), 0.0, 1.0); const int line = __LINE__;
    EXPECT_REPORT("rand", line, "i32", "float");
    expect_null_propagates(r);
}
END_TEST

START_TEST(item_of_three_elements) {
    ag_tensor *x = F32(3);
    double v = ag_item(x); const int line = __LINE__;
    ck_assert(isnan(v));
    EXPECT_REPORT("item", line, "[3]", "3 elements|one");
}
END_TEST

START_TEST(get_out_of_range) {
    ag_tensor *x = F32(2, 3);
    double v = ag_at(x, 1, 3); const int line = __LINE__;
    ck_assert(isnan(v));
    EXPECT_REPORT("get", line, "[2,3]", "3", "range");
}
END_TEST

START_TEST(set_flat_out_of_range) {
    ag_tensor *x = F32(2, 3);
    ag_set_flat(x, 6, 1.0); const int line = __LINE__;
    EXPECT_REPORT("set", line, "[2,3]", "6", "range");
    ck_assert(ag_get_flat(x, 5) == (double)0.5f); /* nothing written */
}
END_TEST

START_TEST(backward_without_requires_grad) {
    ag_tensor *y = ag_mul(A, F32(2), F32(2));
    bool ok = ag_backward(y, NULL); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("backward", line, "[2]", "require");
}
END_TEST

START_TEST(backward_grad_out_wrong_shape) {
    ag_tensor *x = F32(2, 3);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_mul_scalar(A, x, 2.0), *g = F32(3, 2);
    bool ok = ag_backward(y, g); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("backward", line, "[3,2]", "[2,3]");
    ck_assert_ptr_null(x->grad);
}
END_TEST

START_TEST(backward_non_scalar_without_grad_out) {
    ag_tensor *x = F32(2, 3);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_add_scalar(A, x, 1.0);
    bool ok = ag_backward(y, NULL); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("backward", line, "[2,3]", "grad_out");
    ck_assert_ptr_null(x->grad);
}
END_TEST

START_TEST(set_requires_grad_on_i32) {
    ag_tensor *ids = i32_of(AG_SHAPE(4), (const int32_t[]){0, 1, 2, 3});
    ag_set_requires_grad(ids, true); const int line = __LINE__;
    EXPECT_REPORT("set_requires_grad", line, "[4]", "i32");
    ck_assert(!ids->requires_grad);
}
END_TEST

START_TEST(set_requires_grad_on_non_leaf) {
    ag_tensor *x = F32(2);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_exp(A, x);
    ag_set_requires_grad(y, false); const int line = __LINE__;
    EXPECT_REPORT("set_requires_grad", line, "[2]", "lea");
    ck_assert(y->requires_grad);
}
END_TEST

START_TEST(detach_into_null_arena) {
    ag_tensor *x = F32(2);
    ag_tensor *r = ag_detach(NULL, x); const int line = __LINE__;
    EXPECT_REPORT("detach", line, "arena");
    expect_null_propagates(r);
}
END_TEST

static ag_tensor *twice(ag_arena *B, ag_tensor *const *in, int n, void *userdata) {
    (void)n;
    (void)userdata;
    return ag_sum(B, ag_mul_scalar(B, in[0], 2.0), 0, NULL, false);
}

START_TEST(gradcheck_of_f32_input) {
    ag_tensor *x = F32(3);
    ag_set_requires_grad(x, true);
    ag_gradcheck_result res;
    bool ok = ag_gradcheck(twice, 1, (ag_tensor *[]){x}, NULL, NULL, &res); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("gradcheck", line, "[3]", "f32", "f64");
}
END_TEST

START_TEST(gradcheck_without_grad_inputs) {
    ag_tensor *x = ag_ones(A, AG_F64, AG_SHAPE(3));
    bool ok = ag_gradcheck(twice, 1, (ag_tensor *[]){x}, NULL, NULL, NULL); const int line = __LINE__;
    ck_assert(!ok);
    EXPECT_REPORT("gradcheck", line, "requires");
}
END_TEST

/* SIZE_MAX bytes cannot be rounded up to AG_ARENA_ALIGN. */
START_TEST(arena_new_with_block_too_large) {
    ag_arena *a = ag_arena_new(SIZE_MAX); const int line = __LINE__;
    ck_assert_ptr_null(a);
    EXPECT_REPORT("arena_new", line, "18446744073709551615|4294967295", "overflows");
}
END_TEST

START_TEST(arena_alloc_too_large) {
    void *p = ag_arena_calloc(A, SIZE_MAX); const int line = __LINE__;
    ck_assert_ptr_null(p);
    EXPECT_REPORT("arena_alloc", line, "overflows");
    /* the arena still works */
    ck_assert_ptr_nonnull(ag_arena_alloc(A, 16));
}
END_TEST

START_TEST(from_i64_out_of_range) {
    const int64_t v[] = {5, -3000000000};
    ag_tensor *t = ag_from_i64(A, AG_SHAPE(2), v); const int line = __LINE__;
    ck_assert_ptr_null(t);
    EXPECT_REPORT("from_i64", line, "value -3000000000 at position 1 of [2]", "i32");
}
END_TEST

START_TEST(set_grad_of_another_shape) {
    ag_tensor *p = F32(2, 3);
    ag_set_requires_grad(p, true);
    bool ok = ag_set_grad(p, F32(3, 2)); const int line = __LINE__;
    ck_assert(!ok);
    ck_assert_ptr_null(p->grad);
    EXPECT_REPORT("set_grad", line, "gradient f32 [3,2] for tensor f32 [2,3]", NULL);
}
END_TEST

TCase *errors_core_tcase(void) {
    TCase *tc = tcase_create("bad_core");
    tcase_add_checked_fixture(tc, errors_setup, errors_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, add_shapes_do_not_broadcast);
    tcase_add_test(tc, sub_trailing_dims_do_not_broadcast);
    tcase_add_test(tc, mul_with_i32_input);
    tcase_add_test(tc, mul_scalar_of_i32);
    tcase_add_test(tc, cast_to_unknown_dtype);
    tcase_add_test(tc, zeros_with_negative_size);
    tcase_add_test(tc, zeros_with_nine_dims);
    tcase_add_test(tc, full_in_null_arena);
    tcase_add_test(tc, arange_with_step_zero);
    tcase_add_test(tc, from_array_without_values);
    tcase_add_test(tc, rand_of_i32);
    tcase_add_test(tc, item_of_three_elements);
    tcase_add_test(tc, get_out_of_range);
    tcase_add_test(tc, set_flat_out_of_range);
    tcase_add_test(tc, backward_without_requires_grad);
    tcase_add_test(tc, backward_grad_out_wrong_shape);
    tcase_add_test(tc, backward_non_scalar_without_grad_out);
    tcase_add_test(tc, set_requires_grad_on_i32);
    tcase_add_test(tc, set_requires_grad_on_non_leaf);
    tcase_add_test(tc, detach_into_null_arena);
    tcase_add_test(tc, gradcheck_of_f32_input);
    tcase_add_test(tc, gradcheck_without_grad_inputs);
    tcase_add_test(tc, arena_new_with_block_too_large);
    tcase_add_test(tc, arena_alloc_too_large);
    tcase_add_test(tc, from_i64_out_of_range);
    tcase_add_test(tc, set_grad_of_another_shape);
    return tc;
}
