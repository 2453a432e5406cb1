/* tests/checkpoint/copy.c — copying values into a tensor without recording
 * (ag_copy_array_into, ag_copy_into). */
#include <math.h>
#include <string.h>

#include "ckpt_test.h"

static int reports;
static void count(const char *msg, void *ud) {
    (void)msg;
    (void)ud;
    reports++;
}

START_TEST(array_converts_and_records_nothing) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *t = ag_zeros(A, AG_F32, AG_SHAPE(2, 2));
    t->requires_grad = true;
    const double v[4] = {0.1, -1.5, 1.0 + ldexp(1, -24), 3.0};
    ck_assert(ag_copy_array_into(t, v, AG_F64, 4));
    const float *f = t->data;
    ck_assert(f[0] == 0.1f && f[1] == -1.5f && f[2] == 1.0f && f[3] == 3.0f);
    ck_assert_ptr_null(t->op);
    ck_assert(t->requires_grad);
    /* bf16 from f64 rounds once: 1 + 2^-8 + 2^-40 -> 0x3f81 */
    ag_tensor *b = ag_zeros(A, AG_BF16, AG_SHAPE(1));
    const double up = 1.0 + ldexp(1, -8) + ldexp(1, -40);
    ck_assert(ag_copy_array_into(b, &up, AG_F64, 1));
    ck_assert_uint_eq(*(uint16_t *)b->data, 0x3f81);
    ag_tensor *i = ag_zeros(A, AG_I32, AG_SHAPE(3));
    ck_assert(ag_copy_array_into(i, (const int32_t[]){4, -5, 6}, AG_I32, 3));
    ck_assert_int_eq(((int32_t *)i->data)[1], -5);
    ag_arena_free(A);
}
END_TEST

START_TEST(tensor_to_tensor) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *src = ag_from_f64(A, AG_F64, AG_SHAPE(6), (const double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *dst = ag_zeros(A, AG_F32, AG_SHAPE(2, 3));
    ck_assert(ag_copy_into(dst, src));
    for (int k = 0; k < 6; k++) ck_assert(((float *)dst->data)[k] == (float)(k + 1));
    ck_assert_ptr_null(dst->op);
    ag_arena_free(A);
}
END_TEST

START_TEST(bad_input_reports_and_changes_nothing) {
    ag_arena *A = ag_arena_new(0);
    ag_set_thread_error_handler(count, NULL);
    ag_tensor *t = ag_full(A, AG_F32, AG_SHAPE(2), 7.0);
    ag_tensor *i = ag_zeros(A, AG_I32, AG_SHAPE(2));
    reports = 0;
    ck_assert(!ag_copy_array_into(t, (const float[]){1, 2, 3}, AG_F32, 3)); /* count */
    ck_assert_int_eq(reports, 1);
    ck_assert_msg(strstr(ag_last_error(), "copy_array_into") && strstr(ag_last_error(), "[2]"),
                  "%s", ag_last_error());
    ck_assert(!ag_copy_into(t, i)); /* i32 into f32 */
    ck_assert_int_eq(reports, 2);
    ck_assert(!ag_copy_array_into(t, NULL, AG_F32, 2));
    ck_assert_int_eq(reports, 3);
    ck_assert(!ag_copy_into(NULL, t)); /* an earlier failure: silent */
    ck_assert(!ag_copy_array_into(NULL, (const float[]){1}, AG_F32, 1));
    ck_assert_int_eq(reports, 3);
    ck_assert(((float *)t->data)[0] == 7.0f && ((float *)t->data)[1] == 7.0f);
    ag_set_thread_error_handler(NULL, NULL);
    ag_arena_free(A);
}
END_TEST

TCase *ckpt_copy_tcase(void) {
    TCase *tc = tcase_create("copy");
    tcase_add_test(tc, array_converts_and_records_nothing);
    tcase_add_test(tc, tensor_to_tensor);
    tcase_add_test(tc, bad_input_reports_and_changes_nothing);
    return tc;
}
