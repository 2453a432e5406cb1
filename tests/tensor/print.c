/* tests/tensor/print.c — ag_fprint against the exact text PyTorch would print
 * (plus ag's shape= and dtype= fields). */
#include <stdlib.h>
#include <string.h>

#include "tensor_test.h"

static ag_arena *A;

static void setup(void) { A = ag_arena_new(0); }
static void teardown(void) { ag_arena_free(A); }

/* What ag_fprint writes for t, as a string in buf. */
static const char *printed(const ag_tensor *t, char *buf, size_t size) {
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ag_fprint(f, t);
    long n = ftell(f);
    ck_assert(n >= 0 && (size_t)n < size);
    rewind(f);
    size_t got = fread(buf, 1, (size_t)n, f);
    ck_assert_uint_eq(got, (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(print_2x2_integers) {
    char buf[256];
    ag_tensor *t = ag_from_f64(A, AG_F32, AG_SHAPE(2, 2), ((double[]){1, 2, 3, 4}));
    ck_assert_str_eq(printed(t, buf, sizeof buf),
                     "tensor([[1., 2.],\n        [3., 4.]], shape=[2,2], dtype=f32)\n");
}
END_TEST

START_TEST(print_scalar) {
    char buf[256];
    ck_assert_str_eq(printed(ag_scalar(A, AG_F32, 3.5), buf, sizeof buf),
                     "tensor(3.5000, shape=[], dtype=f32)\n");
    ck_assert_str_eq(printed(ag_scalar(A, AG_F64, -2), buf, sizeof buf),
                     "tensor(-2., shape=[], dtype=f64)\n");
}
END_TEST

START_TEST(print_four_decimals) {
    char buf[256];
    /* non-integers: 4 decimals, right-aligned to the widest entry */
    ag_tensor *t = ag_from_f64(A, AG_F32, AG_SHAPE(3), ((double[]){1.5, -0.25, 2}));
    ck_assert_str_eq(printed(t, buf, sizeof buf),
                     "tensor([ 1.5000, -0.2500,  2.0000], shape=[3], dtype=f32)\n");
    /* rounding to 4 decimals: 1/3 and 2/3 */
    ag_tensor *u = ag_from_f64(A, AG_F64, AG_SHAPE(2, 1), ((double[]){1.0 / 3, 2.0 / 3}));
    ck_assert_str_eq(printed(u, buf, sizeof buf),
                     "tensor([[0.3333],\n        [0.6667]], shape=[2,1], dtype=f64)\n");
}
END_TEST

START_TEST(print_requires_grad) {
    char buf[256];
    ag_tensor *t = ag_ones(A, AG_F32, AG_SHAPE(2));
    ag_set_requires_grad(t, true);
    ck_assert_str_eq(printed(t, buf, sizeof buf),
                     "tensor([1., 1.], shape=[2], dtype=f32, requires_grad=true)\n");
    /* a recorded result requires a gradient too */
    ag_tensor *y = ag_mul_scalar(A, t, 0.5);
    ck_assert_str_eq(printed(y, buf, sizeof buf),
                     "tensor([0.5000, 0.5000], shape=[2], dtype=f32, requires_grad=true)\n");
}
END_TEST

START_TEST(print_3d_and_other_dtypes) {
    char buf[256];
    /* PyTorch leaves a blank line between the 2-d blocks of a 3-d tensor */
    ag_tensor *t = ag_from_f64(A, AG_F32, AG_SHAPE(2, 1, 2), ((double[]){1, 2, 3, 4}));
    ck_assert_str_eq(printed(t, buf, sizeof buf),
                     "tensor([[[1., 2.]],\n\n        [[3., 4.]]], shape=[2,1,2], dtype=f32)\n");
    ag_tensor *i = ag_from_array(A, AG_I32, AG_SHAPE(2), ((int32_t[]){1, -2}));
    ck_assert_str_eq(printed(i, buf, sizeof buf), "tensor([ 1, -2], shape=[2], dtype=i32)\n");
    ag_tensor *b = ag_from_f64(A, AG_BF16, AG_SHAPE(2), ((double[]){0.5, 8}));
    ck_assert_str_eq(printed(b, buf, sizeof buf),
                     "tensor([0.5000, 8.0000], shape=[2], dtype=bf16)\n");
    ag_tensor *e = ag_zeros(A, AG_F32, AG_SHAPE(0));
    ck_assert_str_eq(printed(e, buf, sizeof buf), "tensor([], shape=[0], dtype=f32)\n");
}
END_TEST

START_TEST(print_summarises_big_tensors) {
    size_t size = 1 << 16;
    char *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    ag_tensor *t = ag_arange(A, AG_F32, 0, 2000, 1);
    const char *s = printed(t, buf, size);
    ck_assert_ptr_nonnull(strstr(s, "..."));
    ck_assert_msg(strncmp(s, "tensor([", 8) == 0, "%s", s);
    /* the first and last three are shown, the middle is not */
    ck_assert_ptr_nonnull(strstr(s, "0.,"));
    ck_assert_ptr_nonnull(strstr(s, "2.,"));
    ck_assert_ptr_nonnull(strstr(s, "1997.,"));
    ck_assert_ptr_nonnull(strstr(s, "1999.]"));
    ck_assert_ptr_null(strstr(s, "1000."));
    ck_assert_ptr_null(strstr(s, " 3.,"));
    ck_assert(strlen(s) < 200);
    const char *tail = ", shape=[2000], dtype=f32)\n";
    ck_assert_str_eq(s + strlen(s) - strlen(tail), tail);
    /* 2-d: rows are summarised too */
    ag_tensor *m = ag_zeros(A, AG_F64, AG_SHAPE(100, 100));
    s = printed(m, buf, size);
    ck_assert_ptr_nonnull(strstr(s, "..."));
    ck_assert(strlen(s) < 600);
    free(buf);
}
END_TEST

TCase *tensor_print_tcase(void) {
    TCase *tc = tcase_create("print");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, print_2x2_integers);
    tcase_add_test(tc, print_scalar);
    tcase_add_test(tc, print_four_decimals);
    tcase_add_test(tc, print_requires_grad);
    tcase_add_test(tc, print_3d_and_other_dtypes);
    tcase_add_test(tc, print_summarises_big_tensors);
    return tc;
}
