/* tests/tensor/access.c — ag_get / ag_set / ag_at / get_flat / item, with
 * hand-placed values. */
#include <string.h>

#include "tensor_test.h"

static ag_arena *A;

static void setup(void) { A = ag_arena_new(0); }
static void teardown(void) {
    ag_arena_free(A);
    ag_set_error_handler(NULL, NULL);
}

START_TEST(get_and_at_row_major) {
    /* [[1,2,3],[4,5,6]] */
    ag_tensor *t = ag_from_f64(A, AG_F32, AG_SHAPE(2, 3), ((double[]){1, 2, 3, 4, 5, 6}));
    ck_assert(ag_at(t, 0, 0) == 1.0);
    ck_assert(ag_at(t, 0, 2) == 3.0);
    ck_assert(ag_at(t, 1, 0) == 4.0);
    ck_assert(ag_at(t, 1, 2) == 6.0);
    const int64_t idx[2] = {1, 1};
    ck_assert(ag_get(t, idx) == 5.0);
    for (int64_t i = 0; i < 6; i++) ck_assert(ag_get_flat(t, i) == (double)(i + 1));
    /* [2,3,4] of 0..23: (i,j,k) is at 12i + 4j + k */
    ag_tensor *u = ag_arange(A, AG_F64, 0, 24, 1);
    double want[24];
    for (int i = 0; i < 24; i++) want[i] = i;
    ag_tensor *v = ag_from_f64(A, AG_F64, AG_SHAPE(2, 3, 4), want);
    ck_assert_int_eq(u->numel, 24);
    ck_assert(ag_at(v, 1, 2, 3) == 23.0);
    ck_assert(ag_at(v, 1, 0, 2) == 14.0);
    ck_assert(ag_at(v, 0, 2, 1) == 9.0);
}
END_TEST

START_TEST(set_then_read_back) {
    const ag_dtype dts[] = {AG_F32, AG_F64, AG_BF16, AG_I32};
    for (int k = 0; k < 4; k++) {
        ag_tensor *t = ag_zeros(A, dts[k], AG_SHAPE(3, 2));
        ag_set(t, ((const int64_t[]){2, 1}), 6);
        ag_set(t, ((const int64_t[]){0, 1}), -3);
        ag_set_flat(t, 2, 8);
        ck_values(t, 6, ((double[]){0, -3, 8, 0, 0, 6}), 0);
    }
    /* values travel as double and are stored in the dtype */
    ag_tensor *f = ag_zeros(A, AG_F32, AG_SHAPE(1));
    ag_set_flat(f, 0, 0.1);
    ck_assert(((float *)f->data)[0] == 0.1f);
    ag_tensor *b = ag_zeros(A, AG_BF16, AG_SHAPE(1));
    ag_set_flat(b, 0, 1.00390625); /* a tie: to 1 (even) */
    ck_assert_uint_eq(((uint16_t *)b->data)[0], 0x3F80);
    ag_tensor *d = ag_zeros(A, AG_F64, AG_SHAPE(1));
    ag_set_flat(d, 0, 0.1);
    ck_assert(((double *)d->data)[0] == 0.1);
}
END_TEST

START_TEST(item_of_one_element) {
    ck_assert(ag_item(ag_scalar(A, AG_F64, -1.75)) == -1.75);
    ck_assert(ag_item(ag_full(A, AG_F32, AG_SHAPE(1), 2.5)) == 2.5);
    ck_assert(ag_item(ag_full(A, AG_BF16, AG_SHAPE(1, 1, 1), 3.0)) == 3.0);
    ck_assert(ag_item(ag_full(A, AG_I32, AG_SHAPE(1, 1), 9)) == 9.0);
}
END_TEST

START_TEST(to_f64_and_shape_helpers) {
    ag_tensor *t = ag_from_f64(A, AG_BF16, AG_SHAPE(3), ((double[]){1.5, -2, 0.25}));
    double out[3] = {0};
    ag_to_f64(t, out);
    ck_assert(out[0] == 1.5 && out[1] == -2.0 && out[2] == 0.25);
    char buf[32];
    ck_assert_str_eq(ag_shape_str(ag_zeros(A, AG_F32, AG_SHAPE(2, 3)), buf, sizeof buf),
                     "[2,3]");
    ck_assert_str_eq(ag_shape_str(ag_zeros(A, AG_F32, AG_SHAPE(7)), buf, sizeof buf), "[7]");
    ag_tensor *a = ag_zeros(A, AG_F32, AG_SHAPE(2, 3));
    ag_tensor *b = ag_ones(A, AG_F64, AG_SHAPE(2, 3));
    ag_tensor *c = ag_ones(A, AG_F64, AG_SHAPE(3, 2));
    ag_tensor *d = ag_ones(A, AG_F64, AG_SHAPE(2, 3, 1));
    ck_assert(ag_same_shape(a, b));
    ck_assert(!ag_same_shape(a, c));
    ck_assert(!ag_same_shape(a, d));
    ck_assert(!ag_same_shape(a, NULL));
}
END_TEST

START_TEST(out_of_range_access_reports) {
    int before;
    ag_clear_error();
    tensor_errors = 0;
    ag_set_error_handler(tensor_count_errors, NULL);
    ag_tensor *t = ag_from_f64(A, AG_F32, AG_SHAPE(2, 3), ((double[]){1, 2, 3, 4, 5, 6}));
    before = tensor_errors;
    ck_assert(isnan(ag_at(t, 2, 0)));
    ck_assert_int_eq(tensor_errors, before + 1);
    ck_assert(isnan(ag_at(t, 0, -1)));
    ck_assert(isnan(ag_get_flat(t, 6)));
    ck_assert(isnan(ag_get_flat(t, -1)));
    ck_assert_int_eq(tensor_errors, before + 4);
    /* a set out of range does nothing */
    ag_set(t, ((const int64_t[]){0, 3}), 99);
    ag_set_flat(t, 6, 99);
    ck_assert_int_eq(tensor_errors, before + 6);
    ck_values(t, 6, ((double[]){1, 2, 3, 4, 5, 6}), 0);
    /* item of a non-one-element tensor */
    ck_assert(isnan(ag_item(t)));
    ck_assert_int_eq(tensor_errors, before + 7);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: item: "));
}
END_TEST

TCase *tensor_access_tcase(void) {
    TCase *tc = tcase_create("access");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, get_and_at_row_major);
    tcase_add_test(tc, set_then_read_back);
    tcase_add_test(tc, item_of_one_element);
    tcase_add_test(tc, to_f64_and_shape_helpers);
    tcase_add_test(tc, out_of_range_access_reports);
    return tc;
}
