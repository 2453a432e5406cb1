/* tests/ops/shape.c — reshape, unsqueeze, squeeze, transpose, permute, narrow,
 * slice, concat, expand, clone: forward values against index arithmetic done
 * here, hand-computed gradients, and bad input. */
#include <string.h>

#include "ops_test.h"

static ag_tensor *leaf(ag_tensor *t) {
    ag_set_requires_grad(t, true);
    return t;
}

START_TEST(reshape_values_and_storage) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = iota(A, AG_F32, AG_SHAPE(2, 3));
    ag_tensor *y = ag_reshape(A, x, AG_SHAPE(3, 2));
    ck_shape(y, 2, ((int64_t[]){3, 2}));
    ck_assert_ptr_eq(y->data, x->data); /* a view */
    ck_close(ag_at(y, 2, 1), 5.0, 0);
    ck_close(ag_at(y, 1, 0), 2.0, 0);
    /* -1 is inferred */
    ag_tensor *z = ag_reshape(A, x, AG_SHAPE(-1, 2));
    ck_shape(z, 2, ((int64_t[]){3, 2}));
    ag_tensor *f = ag_reshape(A, iota(A, AG_F64, AG_SHAPE(2, 3, 4)), AG_SHAPE(2, -1));
    ck_shape(f, 2, ((int64_t[]){2, 12}));
    ck_close(ag_at(f, 1, 11), 23.0, 0);
    /* [1,1] to 0-d and back */
    ag_tensor *s = ag_reshape(A, ag_full(A, AG_F32, AG_SHAPE(1, 1), 7.0), 0, NULL);
    ck_assert_int_eq(s->ndim, 0);
    ck_close(ag_item(s), 7.0, 0);
    ag_tensor *s3 = ag_reshape(A, s, AG_SHAPE(1, -1, 1));
    ck_shape(s3, 3, ((int64_t[]){1, 1, 1}));
    /* empty */
    ag_tensor *e = ag_reshape(A, ag_zeros(A, AG_F32, AG_SHAPE(0, 3)), AG_SHAPE(3, 0));
    ck_shape(e, 2, ((int64_t[]){3, 0}));
    ck_assert_int_eq(e->numel, 0);
    /* i32 ids reshape too */
    ag_tensor *ids = ag_reshape(A, iota(A, AG_I32, AG_SHAPE(6)), AG_SHAPE(2, 3));
    ck_assert_int_eq(ids->dtype, AG_I32);
    ck_close(ag_at(ids, 1, 2), 5.0, 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(reshape_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(ag_zeros(A, AG_F64, AG_SHAPE(2, 3)));
    ag_tensor *y = ag_reshape(A, x, AG_SHAPE(3, 2));
    ck_assert(y->requires_grad);
    const double g[] = {1, 2, 3, 4, 5, 6};
    ck_assert(ag_backward(y, ag_from_f64(A, AG_F64, AG_SHAPE(3, 2), g)));
    ck_values(x->grad, 6, g, 0); /* row-major order is kept */
    ck_shape(x->grad, 2, ((int64_t[]){2, 3}));
    /* bf16 views pass bf16 gradients */
    ag_tensor *b = leaf(ag_zeros(A, AG_BF16, AG_SHAPE(4)));
    ag_tensor *bv = ag_unsqueeze(A, ag_reshape(A, b, AG_SHAPE(2, 2)), 0);
    ck_assert(ag_backward(bv, ag_from_f64(A, AG_BF16, AG_SHAPE(1, 2, 2), g)));
    ck_assert_int_eq(b->grad->dtype, AG_BF16);
    ck_values(b->grad, 4, g, 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(reshape_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2, 3));
    expect_errors();
    ck_assert_ptr_null(ag_reshape(A, x, AG_SHAPE(4, 2)));
    check_error("reshape", "[2,3]", "[4,2]");
    expect_errors();
    ck_assert_ptr_null(ag_reshape(A, x, AG_SHAPE(-1, -1)));
    check_error("reshape", "[2,3]", "-1");
    expect_errors();
    ck_assert_ptr_null(ag_reshape(A, x, AG_SHAPE(4, -1)));
    check_error("reshape", "[2,3]", "[4,-1]");
    expect_errors();
    ck_assert_ptr_null(ag_reshape(A, ag_zeros(A, AG_F32, AG_SHAPE(0, 3)), AG_SHAPE(0, -1)));
    check_error("reshape", "[0,3]", "[0,-1]");
    expect_errors();
    ck_assert_ptr_null(ag_reshape(A, x, AG_SHAPE(-2, -3)));
    check_error("reshape", "[2,3]", "negative");
    /* NULL in, NULL out, silently */
    ag_clear_error();
    ck_assert_ptr_null(ag_reshape(A, NULL, AG_SHAPE(2)));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(unsqueeze_squeeze) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = iota(A, AG_F32, AG_SHAPE(2, 3));
    ck_shape(ag_unsqueeze(A, x, 0), 3, ((int64_t[]){1, 2, 3}));
    ck_shape(ag_unsqueeze(A, x, 1), 3, ((int64_t[]){2, 1, 3}));
    ck_shape(ag_unsqueeze(A, x, 2), 3, ((int64_t[]){2, 3, 1}));
    ck_shape(ag_unsqueeze(A, x, -1), 3, ((int64_t[]){2, 3, 1}));
    ck_shape(ag_unsqueeze(A, x, -3), 3, ((int64_t[]){1, 2, 3}));
    ag_tensor *u = ag_unsqueeze(A, x, 1);
    ck_assert_ptr_eq(u->data, x->data);
    ck_close(ag_at(u, 1, 0, 2), 5.0, 0);
    ck_shape(ag_unsqueeze(A, ag_scalar(A, AG_F32, 1.0), 0), 1, ((int64_t[]){1}));

    ag_tensor *y = iota(A, AG_F32, AG_SHAPE(2, 1, 3));
    ck_shape(ag_squeeze(A, y, 1), 2, ((int64_t[]){2, 3}));
    ck_shape(ag_squeeze(A, y, -2), 2, ((int64_t[]){2, 3}));
    ck_shape(ag_squeeze(A, y, 0), 3, ((int64_t[]){2, 1, 3})); /* size 2: unchanged */
    ck_close(ag_at(ag_squeeze(A, y, 1), 1, 1), 4.0, 0);
    ag_tensor *s = ag_squeeze(A, ag_full(A, AG_F64, AG_SHAPE(1), 3.0), 0);
    ck_assert_int_eq(s->ndim, 0);
    ck_close(ag_item(s), 3.0, 0);
    ck_assert_int_eq(ag_squeeze(A, ag_scalar(A, AG_F32, 2.0), -1)->ndim, 0);

    /* gradient of squeeze(unsqueeze(x)) is the identity */
    ag_tensor *w = leaf(ag_zeros(A, AG_F32, AG_SHAPE(3)));
    ag_tensor *v = ag_squeeze(A, ag_unsqueeze(A, w, 0), 0);
    ck_assert(ag_backward(v, ag_from_f64(A, AG_F32, AG_SHAPE(3), (double[]){1, -2, 4})));
    ck_values(w->grad, 3, ((double[]){1, -2, 4}), 0);

    expect_errors();
    ck_assert_ptr_null(ag_unsqueeze(A, x, 3));
    check_error("unsqueeze", "[2,3]", "3");
    expect_errors();
    ck_assert_ptr_null(ag_squeeze(A, y, 3));
    check_error("squeeze", "[2,1,3]", "3");
    expect_errors();
    ck_assert_ptr_null(ag_unsqueeze(A, ag_zeros(A, AG_F32, AG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1)), 0));
    check_error("unsqueeze", "[1,1,1,1,1,1,1,1]", NULL);
    ag_arena_free(A);
}
END_TEST

START_TEST(transpose_permute_values) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = iota(A, AG_F64, AG_SHAPE(2, 3));
    ag_tensor *t = ag_transpose(A, x, 0, 1);
    ck_shape(t, 2, ((int64_t[]){3, 2}));
    ck_assert_ptr_ne(t->data, x->data);
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 2; j++) ck_close(ag_at(t, i, j), (double)(j * 3 + i), 0);

    ag_tensor *y = iota(A, AG_F32, AG_SHAPE(2, 3, 4));
    ag_tensor *t2 = ag_transpose(A, y, 0, -1);
    ck_shape(t2, 3, ((int64_t[]){4, 3, 2}));
    ag_tensor *p = ag_permute(A, y, (const int[]){2, 0, 1});
    ck_shape(p, 3, ((int64_t[]){4, 2, 3}));
    ag_tensor *pn = ag_permute(A, y, (const int[]){-1, 0, -2});
    for (int64_t a = 0; a < 4; a++)
        for (int64_t b = 0; b < 2; b++)
            for (int64_t c = 0; c < 3; c++) {
                double want = (double)(b * 12 + c * 4 + a); /* y[b][c][a] */
                ck_close(ag_at(p, a, b, c), want, 0);
                ck_close(ag_at(pn, a, b, c), want, 0);
                ck_close(ag_at(t2, a, c, b), want, 0);
            }
    /* identity, 0-d, bf16 and i32 data move unchanged */
    ck_values(ag_permute(A, x, (const int[]){0, 1}), 6, ((double[]){0, 1, 2, 3, 4, 5}), 0);
    ck_close(ag_item(ag_transpose(A, ag_scalar(A, AG_F32, 4.0), 0, -1)), 4.0, 0);
    ag_tensor *bt = ag_transpose(A, iota(A, AG_BF16, AG_SHAPE(2, 2)), 0, 1);
    ck_assert_int_eq(bt->dtype, AG_BF16);
    ck_values(bt, 4, ((double[]){0, 2, 1, 3}), 0);
    ag_tensor *it = ag_transpose(A, iota(A, AG_I32, AG_SHAPE(2, 2)), 1, 0);
    ck_assert_int_eq(it->dtype, AG_I32);
    ck_values(it, 4, ((double[]){0, 2, 1, 3}), 0);
    /* empty */
    ck_shape(ag_transpose(A, ag_zeros(A, AG_F32, AG_SHAPE(0, 3)), 0, 1), 2, ((int64_t[]){3, 0}));
    ag_arena_free(A);
}
END_TEST

START_TEST(permute_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(ag_zeros(A, AG_F64, AG_SHAPE(2, 3, 4)));
    ag_tensor *p = ag_permute(A, x, (const int[]){2, 0, 1}); /* [4,2,3] */
    ag_tensor *g = iota(A, AG_F64, AG_SHAPE(4, 2, 3));
    ck_assert(ag_backward(p, g));
    /* x.grad[i][j][k] = g[k][i][j] = k*6 + i*3 + j */
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 3; j++)
            for (int64_t k = 0; k < 4; k++)
                ck_close(ag_at(x->grad, i, j, k), (double)(k * 6 + i * 3 + j), 0);
    /* transpose of a bf16 leaf: the gradient comes back as bf16 */
    ag_tensor *b = leaf(ag_zeros(A, AG_BF16, AG_SHAPE(2, 3)));
    ag_tensor *bt = ag_transpose(A, b, 0, 1);
    ck_assert_int_eq(bt->dtype, AG_BF16);
    ck_assert(ag_backward(bt, iota(A, AG_BF16, AG_SHAPE(3, 2))));
    ck_assert_int_eq(b->grad->dtype, AG_BF16);
    ck_values(b->grad, 6, ((double[]){0, 2, 4, 1, 3, 5}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(transpose_permute_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2, 3, 4));
    expect_errors();
    ck_assert_ptr_null(ag_permute(A, x, (const int[]){0, 0, 1}));
    check_error("permute", "[2,3,4]", "0,0,1");
    expect_errors();
    ck_assert_ptr_null(ag_permute(A, x, (const int[]){0, 1, 3}));
    check_error("permute", "[2,3,4]", "0,1,3");
    expect_errors();
    ck_assert_ptr_null(ag_transpose(A, x, 0, 3));
    check_error("transpose", "[2,3,4]", "dim 3");
    ag_arena_free(A);
}
END_TEST

START_TEST(slice_values) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = iota(A, AG_F32, AG_SHAPE(10));
    ck_values(ag_slice(A, x, 0, 1, 8, 3), 3, ((double[]){1, 4, 7}), 0);     /* x[1:8:3] */
    ck_values(ag_slice(A, x, 0, -3, 100, 1), 3, ((double[]){7, 8, 9}), 0);  /* x[-3:100] */
    ck_values(ag_slice(A, x, 0, -100, 3, 2), 2, ((double[]){0, 2}), 0);     /* x[-100:3:2] */
    ck_values(ag_slice(A, x, 0, 0, -8, 1), 2, ((double[]){0, 1}), 0);       /* x[0:-8] */
    ck_values(ag_slice(A, x, 0, 8, 100, 5), 1, ((double[]){8}), 0);         /* x[8::5] */
    ck_values(ag_slice(A, x, 0, 0, INT64_MAX, INT64_MAX), 1, ((double[]){0}), 0);
    ag_tensor *e = ag_slice(A, x, 0, 5, 2, 1); /* x[5:2] is empty */
    ck_shape(e, 1, ((int64_t[]){0}));
    ck_shape(ag_slice(A, x, 0, 12, 20, 1), 1, ((int64_t[]){0}));

    ag_tensor *m = iota(A, AG_F64, AG_SHAPE(3, 4));
    ag_tensor *c = ag_slice(A, m, -1, 1, 4, 2); /* m[:, 1::2] */
    ck_shape(c, 2, ((int64_t[]){3, 2}));
    ck_values(c, 6, ((double[]){1, 3, 5, 7, 9, 11}), 0);
    ag_tensor *r = ag_slice(A, m, 0, 2, 3, 1); /* m[2:3] */
    ck_shape(r, 2, ((int64_t[]){1, 4}));
    ck_values(r, 4, ((double[]){8, 9, 10, 11}), 0);
    /* narrow is a slice with step 1; start may count from the end */
    ag_tensor *n = ag_narrow(A, m, 1, 1, 2);
    ck_shape(n, 2, ((int64_t[]){3, 2}));
    ck_values(n, 6, ((double[]){1, 2, 5, 6, 9, 10}), 0);
    ck_values(ag_narrow(A, m, 0, -1, 1), 4, ((double[]){8, 9, 10, 11}), 0);
    ck_shape(ag_narrow(A, m, 0, 3, 0), 2, ((int64_t[]){0, 4}));
    /* i32 targets shifted by one, as in a language model */
    ag_tensor *ids = iota(A, AG_I32, AG_SHAPE(2, 5));
    ag_tensor *tg = ag_slice(A, ids, 1, 1, INT64_MAX, 1);
    ck_assert_int_eq(tg->dtype, AG_I32);
    ck_values(tg, 8, ((double[]){1, 2, 3, 4, 6, 7, 8, 9}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(slice_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(ag_zeros(A, AG_F64, AG_SHAPE(6)));
    ag_tensor *s = ag_slice(A, x, 0, 0, 6, 2);
    ck_assert(ag_backward(s, ag_from_f64(A, AG_F64, AG_SHAPE(3), (double[]){1, 2, 3})));
    ck_values(x->grad, 6, ((double[]){1, 0, 2, 0, 3, 0}), 0);
    /* overlapping slices of one tensor add up */
    ag_tensor *m = leaf(ag_zeros(A, AG_F32, AG_SHAPE(2, 4)));
    ag_tensor *y = ag_add(A, ag_narrow(A, m, 1, 0, 3), ag_slice(A, m, 1, 1, 4, 1));
    ck_assert(ag_backward(y, ag_ones(A, AG_F32, AG_SHAPE(2, 3))));
    ck_values(m->grad, 8, ((double[]){1, 2, 2, 1, 1, 2, 2, 1}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(slice_narrow_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(3, 4));
    expect_errors();
    ck_assert_ptr_null(ag_slice(A, x, 1, 0, 4, 0));
    check_error("slice", "[3,4]", "step 0");
    expect_errors();
    ck_assert_ptr_null(ag_slice(A, x, 1, 0, 4, -1));
    check_error("slice", "[3,4]", "step -1");
    expect_errors();
    ck_assert_ptr_null(ag_slice(A, x, 2, 0, 4, 1));
    check_error("slice", "[3,4]", "dim 2");
    expect_errors();
    ck_assert_ptr_null(ag_narrow(A, x, 1, 2, 3));
    check_error("narrow", "[3,4]", "length 3");
    expect_errors();
    ck_assert_ptr_null(ag_narrow(A, x, 0, -4, 1));
    check_error("narrow", "[3,4]", "start -4");
    expect_errors();
    ck_assert_ptr_null(ag_narrow(A, ag_scalar(A, AG_F32, 1), 0, 0, 1));
    check_error("narrow", "[]", NULL);
    ag_arena_free(A);
}
END_TEST

START_TEST(concat_values) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = iota(A, AG_F32, AG_SHAPE(2, 1));                  /* [[0],[1]] */
    ag_tensor *b = ag_full(A, AG_F32, AG_SHAPE(2, 2), 9.0);
    ag_tensor *c = ag_concat(A, 2, (ag_tensor *[]){a, b}, 1);
    ck_shape(c, 2, ((int64_t[]){2, 3}));
    ck_values(c, 6, ((double[]){0, 9, 9, 1, 9, 9}), 0);
    ag_tensor *c2 = ag_concat(A, 3, (ag_tensor *[]){b, a, b}, -1);
    ck_shape(c2, 2, ((int64_t[]){2, 5}));
    ck_values(c2, 10, ((double[]){9, 9, 0, 9, 9, 9, 9, 1, 9, 9}), 0);
    ag_tensor *r = ag_concat(A, 2, (ag_tensor *[]){iota(A, AG_F32, AG_SHAPE(1, 3)),
                                                    ag_ones(A, AG_F32, AG_SHAPE(2, 3))}, 0);
    ck_shape(r, 2, ((int64_t[]){3, 3}));
    ck_values(r, 9, ((double[]){0, 1, 2, 1, 1, 1, 1, 1, 1}), 0);
    /* one tensor: a copy; empty parts are allowed */
    ag_tensor *one = ag_concat(A, 1, &a, 0);
    ck_assert_ptr_ne(one->data, a->data);
    ck_values(one, 2, ((double[]){0, 1}), 0);
    ag_tensor *e = ag_concat(A, 2, (ag_tensor *[]){ag_zeros(A, AG_F32, AG_SHAPE(2, 0)), a}, 1);
    ck_values(e, 2, ((double[]){0, 1}), 0);
    /* f32 with f64 promotes to f64; i32 with i32 stays i32 */
    ag_tensor *p = ag_concat(A, 2, (ag_tensor *[]){a, ag_full(A, AG_F64, AG_SHAPE(2, 1), 0.1)}, 1);
    ck_assert_int_eq(p->dtype, AG_F64);
    ck_close(ag_at(p, 1, 1), 0.1, 0); /* the f64 value is kept exactly */
    ag_tensor *ii = ag_concat(A, 2, (ag_tensor *[]){iota(A, AG_I32, AG_SHAPE(2)),
                                                     iota(A, AG_I32, AG_SHAPE(1))}, 0);
    ck_assert_int_eq(ii->dtype, AG_I32);
    ck_values(ii, 3, ((double[]){0, 1, 0}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(concat_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = leaf(ag_zeros(A, AG_F64, AG_SHAPE(2, 2)));
    ag_tensor *b = ag_zeros(A, AG_F64, AG_SHAPE(2, 1)); /* no gradient */
    ag_tensor *c = leaf(ag_zeros(A, AG_F32, AG_SHAPE(2, 1)));
    ag_tensor *y = ag_concat(A, 3, (ag_tensor *[]){a, b, c}, 1); /* f64 [2,4] */
    ck_assert_int_eq(y->dtype, AG_F64);
    /* g = [[0,1,2,3],[4,5,6,7]]: a gets columns 0-1, b column 2, c column 3 */
    ck_assert(ag_backward(y, iota(A, AG_F64, AG_SHAPE(2, 4))));
    ck_values(a->grad, 4, ((double[]){0, 1, 4, 5}), 0);
    ck_assert_ptr_null(b->grad);
    ck_assert_int_eq(c->grad->dtype, AG_F32);
    ck_values(c->grad, 2, ((double[]){3, 7}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(concat_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = ag_zeros(A, AG_F32, AG_SHAPE(2, 3));
    ag_tensor *b = ag_zeros(A, AG_F32, AG_SHAPE(3, 3));
    expect_errors();
    ck_assert_ptr_null(ag_concat(A, 2, (ag_tensor *[]){a, b}, 1));
    check_error("concat", "[2,3]", "[3,3]");
    expect_errors();
    ck_assert_ptr_null(ag_concat(A, 2, (ag_tensor *[]){a, ag_zeros(A, AG_F32, AG_SHAPE(6))}, 0));
    check_error("concat", "[2,3]", "[6]");
    expect_errors();
    ck_assert_ptr_null(ag_concat(A, 2, (ag_tensor *[]){a, ag_zeros(A, AG_I32, AG_SHAPE(2, 3))}, 0));
    check_error("concat", "i32", "f32");
    expect_errors();
    ck_assert_ptr_null(ag_concat(A, 0, (ag_tensor *[]){a}, 0));
    check_error("concat", "at least one", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_concat(A, 1, (ag_tensor *[]){a}, 2));
    check_error("concat", "[2,3]", "dim 2");
    ag_clear_error();
    ck_assert_ptr_null(ag_concat(A, 2, (ag_tensor *[]){a, NULL}, 0));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(expand_values_and_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(iota(A, AG_F64, AG_SHAPE(3, 1)));
    ag_tensor *y = ag_expand(A, x, AG_SHAPE(2, -1, 4));
    ck_shape(y, 3, ((int64_t[]){2, 3, 4}));
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 3; j++)
            for (int64_t k = 0; k < 4; k++) ck_close(ag_at(y, i, j, k), (double)j, 0);
    ck_assert(ag_backward(y, ag_ones(A, AG_F64, AG_SHAPE(2, 3, 4))));
    ck_values(x->grad, 3, ((double[]){8, 8, 8}), 0); /* 2 * 4 copies each */
    /* weighted: grad[j] = sum over i, k of g[i][j][k] with g = iota */
    ag_zero_grad(x);
    ck_assert(ag_backward(y, iota(A, AG_F64, AG_SHAPE(2, 3, 4))));
    for (int64_t j = 0; j < 3; j++) {
        double want = 0;
        for (int64_t i = 0; i < 2; i++)
            for (int64_t k = 0; k < 4; k++) want += (double)(i * 12 + j * 4 + k);
        ck_close(ag_at(x->grad, j, 0), want, 0);
    }
    /* 0-d to [2,2]; same shape is a copy; size 1 to 0 */
    ck_values(ag_expand(A, ag_scalar(A, AG_F32, 5), AG_SHAPE(2, 2)), 4,
              ((double[]){5, 5, 5, 5}), 0);
    ag_tensor *same = ag_expand(A, x, AG_SHAPE(3, 1));
    ck_assert_ptr_ne(same->data, x->data);
    ck_shape(ag_expand(A, x, AG_SHAPE(3, 0)), 2, ((int64_t[]){3, 0}));
    ag_arena_free(A);
}
END_TEST

START_TEST(expand_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(3, 1));
    expect_errors();
    ck_assert_ptr_null(ag_expand(A, x, AG_SHAPE(4, 4)));
    check_error("expand", "[3,1]", "[4,4]");
    expect_errors();
    ck_assert_ptr_null(ag_expand(A, x, AG_SHAPE(-1, 3, 2)));
    check_error("expand", "[3,1]", "[-1,3,2]");
    expect_errors();
    ck_assert_ptr_null(ag_expand(A, x, AG_SHAPE(3)));
    check_error("expand", "[3,1]", NULL);
    ag_arena_free(A);
}
END_TEST

START_TEST(clone_copy_and_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(iota(A, AG_F32, AG_SHAPE(2, 2)));
    ag_tensor *c = ag_clone(A, x);
    ck_assert_ptr_ne(c->data, x->data);
    ck_values(c, 4, ((double[]){0, 1, 2, 3}), 0);
    ck_assert(!ag_is_leaf(c));
    /* clone(x) * x: gradient 2x */
    ag_tensor *y = ag_mul(A, c, x);
    ck_assert(ag_backward(y, ag_ones(A, AG_F32, AG_SHAPE(2, 2))));
    ck_values(x->grad, 4, ((double[]){0, 2, 4, 6}), 0);
    /* no gradient: stays a leaf */
    ag_tensor *z = ag_clone(A, ag_ones(A, AG_BF16, AG_SHAPE(3)));
    ck_assert(ag_is_leaf(z));
    ck_assert_int_eq(z->dtype, AG_BF16);
    ck_assert_ptr_null(ag_clone(A, NULL));
    ag_arena_free(A);
}
END_TEST

TCase *ops_shape_tcase(void) {
    TCase *tc = tcase_create("shape");
    tcase_add_test(tc, reshape_values_and_storage);
    tcase_add_test(tc, reshape_gradient);
    tcase_add_test(tc, reshape_bad);
    tcase_add_test(tc, unsqueeze_squeeze);
    tcase_add_test(tc, transpose_permute_values);
    tcase_add_test(tc, permute_gradient);
    tcase_add_test(tc, transpose_permute_bad);
    tcase_add_test(tc, slice_values);
    tcase_add_test(tc, slice_gradient);
    tcase_add_test(tc, slice_narrow_bad);
    tcase_add_test(tc, concat_values);
    tcase_add_test(tc, concat_gradient);
    tcase_add_test(tc, concat_bad);
    tcase_add_test(tc, expand_values_and_gradient);
    tcase_add_test(tc, expand_bad);
    tcase_add_test(tc, clone_copy_and_gradient);
    return tc;
}
