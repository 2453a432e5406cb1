/* tests/tensor/create.c — creation functions, 0-d to 8-d tensors, copies. */
#include <string.h>

#include "tensor_test.h"

static ag_arena *A;

static void setup(void) { A = ag_arena_new(0); }
static void teardown(void) {
    ag_arena_free(A);
    ag_set_error_handler(NULL, NULL);
}

/* Asserts t is a fresh leaf: no graph, no gradient, not requiring one. */
static void ck_fresh_leaf(const ag_tensor *t, ag_dtype dt) {
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, dt);
    ck_assert(ag_is_leaf(t));
    ck_assert(!t->requires_grad);
    ck_assert_ptr_null(t->grad);
    ck_assert_ptr_eq(t->arena, A);
}

START_TEST(zeros_ones_full) {
    const ag_dtype dts[] = {AG_F32, AG_F64, AG_BF16, AG_I32};
    for (int k = 0; k < 4; k++) {
        ag_tensor *z = ag_zeros(A, dts[k], AG_SHAPE(2, 3));
        ag_tensor *o = ag_ones(A, dts[k], AG_SHAPE(2, 3));
        ag_tensor *f = ag_full(A, dts[k], AG_SHAPE(3, 1, 2), -2.0);
        ck_fresh_leaf(z, dts[k]);
        ck_fresh_leaf(o, dts[k]);
        ck_fresh_leaf(f, dts[k]);
        ck_shape(z, 2, ((int64_t[]){2, 3}));
        ck_shape(f, 3, ((int64_t[]){3, 1, 2}));
        ck_assert_int_eq(z->numel, 6);
        ck_assert_int_eq(f->numel, 6);
        for (int64_t i = 0; i < 6; i++) {
            ck_assert(ag_get_flat(z, i) == 0.0);
            ck_assert(ag_get_flat(o, i) == 1.0);
            ck_assert(ag_get_flat(f, i) == -2.0);
        }
    }
    /* the raw storage of a float zero is all-zero bits; of full(-0.0) it is -0 */
    ag_tensor *z = ag_zeros(A, AG_F32, AG_SHAPE(4));
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(((uint32_t *)z->data)[i], 0);
    ag_tensor *nz = ag_full(A, AG_F64, AG_SHAPE(2), -0.0);
    ck_assert(signbit(((double *)nz->data)[1]));
    /* full with a value bf16 cannot hold rounds to nearest even */
    ag_tensor *b = ag_full(A, AG_BF16, AG_SHAPE(2), 1.01171875);
    ck_assert(ag_get_flat(b, 0) == 1.015625);
    ag_tensor *p = ag_full(A, AG_F32, AG_SHAPE(2, 2), 0.1);
    ck_assert(ag_get_flat(p, 3) == (double)0.1f);
}
END_TEST

START_TEST(scalar_is_0d) {
    ag_tensor *s = ag_scalar(A, AG_F64, 3.25);
    ck_fresh_leaf(s, AG_F64);
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_int_eq(s->numel, 1);
    ck_assert(ag_item(s) == 3.25);
    ck_assert(ag_get(s, NULL) == 3.25);
    ck_assert(ag_get_flat(s, 0) == 3.25);
    ag_tensor *z = ag_zeros(A, AG_F32, 0, NULL);
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(z->ndim, 0);
    ck_assert_int_eq(z->numel, 1);
    ck_assert(ag_item(z) == 0.0);
    ag_tensor *i = ag_scalar(A, AG_I32, -7);
    ck_assert(ag_item(i) == -7.0);
    char buf[16];
    ck_assert_str_eq(ag_shape_str(s, buf, sizeof buf), "[]");
}
END_TEST

/* Hand-computed count: ceil((end - start) / step), 0 when negative. */
static int64_t arange_count(double start, double end, double step) {
    double span = (end - start) / step;
    return span > 0 ? (int64_t)ceil(span) : 0;
}

START_TEST(arange_steps) {
    /* positive integer step */
    ag_tensor *a = ag_arange(A, AG_F32, 0, 5, 1);
    ck_fresh_leaf(a, AG_F32);
    ck_shape(a, 1, ((int64_t[]){5}));
    ck_values(a, 5, ((double[]){0, 1, 2, 3, 4}), 0);
    /* negative step counts down, end excluded */
    ag_tensor *d = ag_arange(A, AG_F64, 5, 0, -1);
    ck_values(d, 5, ((double[]){5, 4, 3, 2, 1}), 0);
    ag_tensor *d2 = ag_arange(A, AG_F64, 1, -2, -0.5);
    ck_values(d2, 6, ((double[]){1, 0.5, 0, -0.5, -1, -1.5}), 0);
    /* fractional steps: count = ceil((end - start) / step) */
    ag_tensor *q = ag_arange(A, AG_F64, 0, 1, 0.25);
    ck_values(q, 4, ((double[]){0, 0.25, 0.5, 0.75}), 0);
    ag_tensor *t = ag_arange(A, AG_F64, 0, 1, 0.3); /* ceil(3.33) = 4 */
    ck_assert_int_eq(arange_count(0, 1, 0.3), 4);
    ck_values(t, 4, ((double[]){0, 0.3, 0.6, 0.9}), 1e-15);
    ag_tensor *n = ag_arange(A, AG_F64, -1, 1, 0.5);
    ck_values(n, 4, ((double[]){-1, -0.5, 0, 0.5}), 0);
    ag_tensor *o = ag_arange(A, AG_F64, 0.5, 3, 1); /* ceil(2.5) = 3 */
    ck_values(o, 3, ((double[]){0.5, 1.5, 2.5}), 0);
    /* other dtypes */
    ag_tensor *i = ag_arange(A, AG_I32, 2, 9, 3);
    ck_assert_int_eq(i->dtype, AG_I32);
    ck_values(i, 3, ((double[]){2, 5, 8}), 0);
    ag_tensor *b = ag_arange(A, AG_BF16, 0, 4, 1);
    ck_values(b, 4, ((double[]){0, 1, 2, 3}), 0);
    /* a range of many fractional steps keeps the formula's count */
    ag_tensor *m = ag_arange(A, AG_F64, 0, 10, 0.1);
    ck_assert_int_eq(m->numel, arange_count(0, 10, 0.1));
    ck_close(ag_get_flat(m, 99), 9.9, 1e-12);
}
END_TEST

START_TEST(arange_empty) {
    ag_tensor *e = ag_arange(A, AG_F32, 3, 3, 1);
    ck_assert_ptr_nonnull(e);
    ck_shape(e, 1, ((int64_t[]){0}));
    ck_assert_int_eq(e->numel, 0);
    /* a step pointing away from end gives nothing, not an error */
    ag_tensor *w = ag_arange(A, AG_F32, 3, 0, 1);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(w->numel, 0);
    ag_tensor *w2 = ag_arange(A, AG_F32, 0, 3, -1);
    ck_assert_ptr_nonnull(w2);
    ck_assert_int_eq(w2->numel, 0);
}
END_TEST

START_TEST(from_array_each_dtype) {
    const float f[] = {1.5f, -2.25f, 3.0f, 0.1f, 1e30f, -0.0f};
    ag_tensor *a = ag_from_array(A, AG_F32, AG_SHAPE(2, 3), f);
    ck_fresh_leaf(a, AG_F32);
    ck_shape(a, 2, ((int64_t[]){2, 3}));
    ck_assert_int_eq(memcmp(a->data, f, sizeof f), 0);
    ck_assert_ptr_ne(a->data, (void *)f);
    ck_assert(ag_get_flat(a, 3) == (double)0.1f);

    const double d[] = {0.1, -1e300, 5e-324};
    ag_tensor *b = ag_from_array(A, AG_F64, AG_SHAPE(3), d);
    ck_fresh_leaf(b, AG_F64);
    ck_values(b, 3, d, 0);

    const uint16_t h[] = {0x3F80, 0xC000, 0x3FC0, 0x7F80}; /* 1, -2, 1.5, inf */
    ag_tensor *c = ag_from_array(A, AG_BF16, AG_SHAPE(2, 2), h);
    ck_fresh_leaf(c, AG_BF16);
    ck_assert_int_eq(c->numel, 4);
    ck_assert(ag_get_flat(c, 0) == 1.0 && ag_get_flat(c, 1) == -2.0);
    ck_assert(ag_get_flat(c, 2) == 1.5 && ag_get_flat(c, 3) == INFINITY);
    ck_assert_int_eq(memcmp(c->data, h, sizeof h), 0);

    const int32_t n[] = {-3, 7, 2147483647, -2147483647 - 1};
    ag_tensor *e = ag_from_array(A, AG_I32, AG_SHAPE(4), n);
    ck_fresh_leaf(e, AG_I32);
    ck_values(e, 4, ((double[]){-3, 7, 2147483647.0, -2147483648.0}), 0);

    /* 0-d and empty */
    ag_tensor *s = ag_from_array(A, AG_F32, 0, NULL, &f[1]);
    ck_assert_int_eq(s->ndim, 0);
    ck_assert(ag_item(s) == -2.25);
    ag_tensor *z = ag_from_array(A, AG_F32, AG_SHAPE(0, 4), NULL);
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(z->numel, 0);
}
END_TEST

START_TEST(from_f64_each_dtype) {
    const double v[] = {1.0, -2.5, 1.01171875, 3.0};
    ag_tensor *a = ag_from_f64(A, AG_F32, AG_SHAPE(4), v);
    ck_fresh_leaf(a, AG_F32);
    ck_assert(((float *)a->data)[1] == -2.5f);
    ag_tensor *b = ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), v);
    ck_values(b, 4, v, 0);
    /* bf16 rounds to nearest even: 1.01171875 -> 1.015625 */
    ag_tensor *c = ag_from_f64(A, AG_BF16, AG_SHAPE(4), v);
    ck_values(c, 4, ((double[]){1.0, -2.5, 1.015625, 3.0}), 0);
    ck_assert_uint_eq(((uint16_t *)c->data)[0], 0x3F80);
    ag_tensor *d = ag_from_f64(A, AG_I32, AG_SHAPE(2), ((double[]){4, -9}));
    ck_assert_int_eq(((int32_t *)d->data)[0], 4);
    ck_assert_int_eq(((int32_t *)d->data)[1], -9);
    /* f64 -> f32 rounds like a C conversion */
    ag_tensor *e = ag_from_f64(A, AG_F32, AG_SHAPE(1), ((double[]){0.1}));
    ck_assert(ag_get_flat(e, 0) == (double)(float)0.1);
}
END_TEST

START_TEST(copy_shares_no_storage) {
    ag_tensor *a = ag_from_f64(A, AG_F32, AG_SHAPE(2, 2), ((double[]){1, 2, 3, 4}));
    ag_set_requires_grad(a, true);
    ag_tensor *c = ag_copy(A, a);
    ck_fresh_leaf(c, AG_F32); /* a new leaf: requires_grad not copied */
    ck_shape(c, 2, ((int64_t[]){2, 2}));
    ck_values(c, 4, ((double[]){1, 2, 3, 4}), 0);
    ck_assert_ptr_ne(c->data, a->data);
    ck_assert_ptr_ne(c, a);
    ag_set_flat(c, 0, 100);
    ck_assert(ag_get_flat(a, 0) == 1.0);
    ag_set_flat(a, 3, -4);
    ck_assert(ag_get_flat(c, 3) == 4.0);
    /* into another arena */
    ag_arena *B = ag_arena_new(4096);
    ag_tensor *d = ag_copy(B, a);
    ck_assert_ptr_eq(d->arena, B);
    ck_values(d, 4, ((double[]){1, 2, 3, -4}), 0);
    ag_arena_free(B);
    ck_assert_ptr_null(ag_copy(A, NULL));
}
END_TEST

START_TEST(eight_dims) {
    ag_tensor *t = ag_zeros(A, AG_F64, AG_SHAPE(2, 1, 3, 1, 2, 1, 2, 2));
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->ndim, 8);
    ck_assert_int_eq(t->numel, 2 * 3 * 2 * 2 * 2);
    /* row-major strides 24,24,8,8,4,4,2,1: (1,0,2,0,1,0,1,1) is at 24+16+4+2+1 */
    const int64_t idx[8] = {1, 0, 2, 0, 1, 0, 1, 1};
    ag_set(t, idx, 42);
    ck_assert(ag_get_flat(t, 24 + 16 + 4 + 2 + 1) == 42.0);
    ck_assert(ag_at(t, 1, 0, 2, 0, 1, 0, 1, 1) == 42.0);
    ag_set(t, (const int64_t[]){0, 0, 1, 0, 0, 0, 1, 0}, -1);
    ck_assert(ag_get_flat(t, 8 + 2) == -1.0);
    /* an op on 8-d tensors works and keeps the shape */
    ag_tensor *u = ag_ones(A, AG_F64, AG_SHAPE(2, 1, 3, 1, 2, 1, 2, 2));
    ag_tensor *s = ag_add(A, t, u);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->ndim, 8);
    ck_assert(ag_at(s, 1, 0, 2, 0, 1, 0, 1, 1) == 43.0);
    ck_assert(ag_at(s, 0, 0, 0, 0, 0, 0, 0, 0) == 1.0);
}
END_TEST

START_TEST(zero_and_nine_dims) {
    ag_clear_error();
    tensor_errors = 0;
    ag_set_error_handler(tensor_count_errors, NULL);
    /* 0 dims is a scalar */
    ag_tensor *s = ag_ones(A, AG_F32, 0, NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(tensor_errors, 0);
    /* 9 dims is one too many: reported, NULL */
    ag_tensor *t = ag_zeros(A, AG_F32, AG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1));
    ck_assert_ptr_null(t);
    ck_assert_int_eq(tensor_errors, 1);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: zeros: "));
    /* as is a negative dim count */
    ck_assert_ptr_null(ag_empty(A, AG_F32, -1, NULL));
    ck_assert_int_eq(tensor_errors, 2);
    /* and a size-0 dim is fine (empty) */
    ag_tensor *e = ag_zeros(A, AG_F32, AG_SHAPE(3, 0, 2));
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->numel, 0);
    ck_assert_int_eq(tensor_errors, 2);
}
END_TEST

/* int64_t values (PyTorch's torch.long) into i32; out of range reported. */
START_TEST(from_i64_to_i32) {
    const int64_t v[] = {0, -1, 7, INT32_MAX, INT32_MIN, 42};
    ag_tensor *t = ag_from_i64(A, AG_SHAPE(2, 3), v);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, AG_I32);
    ck_assert_int_eq(t->ndim, 2);
    const int32_t *d = t->data;
    for (int i = 0; i < 6; i++) ck_assert_int_eq(d[i], v[i]);
    ck_assert_ptr_nonnull(ag_from_i64(A, AG_SHAPE(0), NULL)); /* nothing to read */
    expect_errors();
    ck_assert_ptr_null(ag_from_i64(A, AG_SHAPE(3), ((const int64_t[]){1, (int64_t)INT32_MAX + 1, 2})));
    check_error("from_i64", "value 2147483648 at position 1 of [3]", "does not fit in i32");
    expect_errors();
    ck_assert_ptr_null(ag_from_i64(A, AG_SHAPE(2), ((const int64_t[]){0, (int64_t)INT32_MIN - 1})));
    check_error("from_i64", "value -2147483649 at position 1", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_from_i64(A, AG_SHAPE(2), NULL));
    check_error("from_i64", "values is NULL", "[2]");
}
END_TEST

TCase *tensor_create_tcase(void) {
    TCase *tc = tcase_create("create");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, zeros_ones_full);
    tcase_add_test(tc, scalar_is_0d);
    tcase_add_test(tc, arange_steps);
    tcase_add_test(tc, arange_empty);
    tcase_add_test(tc, from_array_each_dtype);
    tcase_add_test(tc, from_f64_each_dtype);
    tcase_add_test(tc, from_i64_to_i32);
    tcase_add_test(tc, copy_shares_no_storage);
    tcase_add_test(tc, eight_dims);
    tcase_add_test(tc, zero_and_nine_dims);
    return tc;
}
