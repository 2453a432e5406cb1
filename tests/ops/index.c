/* tests/ops/index.c — index_select, embedding, gather, masked_fill, where:
 * forward values worked out by hand, scatter-add gradients with repeated
 * ids, and bad input. */
#include <string.h>

#include "ops_test.h"

static ag_tensor *ids(ag_arena *A, int ndim, const int64_t *shape, const int32_t *v) {
    return ag_from_array(A, AG_I32, ndim, shape, v);
}

static ag_tensor *leaf(ag_tensor *t) {
    ag_set_requires_grad(t, true);
    return t;
}

START_TEST(index_select_values) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = iota(A, AG_F32, AG_SHAPE(3, 2)); /* [[0,1],[2,3],[4,5]] */
    ag_tensor *r = ag_index_select(A, x, 0, ids(A, AG_SHAPE(3), (int32_t[]){2, 0, 2}));
    ck_shape(r, 2, ((int64_t[]){3, 2}));
    ck_values(r, 6, ((double[]){4, 5, 0, 1, 4, 5}), 0);
    ag_tensor *c = ag_index_select(A, x, -1, ids(A, AG_SHAPE(1), (int32_t[]){1}));
    ck_shape(c, 2, ((int64_t[]){3, 1}));
    ck_values(c, 3, ((double[]){1, 3, 5}), 0);
    /* middle dim of [2,3,2] */
    ag_tensor *y = iota(A, AG_F64, AG_SHAPE(2, 3, 2));
    ag_tensor *m = ag_index_select(A, y, 1, ids(A, AG_SHAPE(2), (int32_t[]){2, 1}));
    ck_shape(m, 3, ((int64_t[]){2, 2, 2}));
    ck_values(m, 8, ((double[]){4, 5, 2, 3, 10, 11, 8, 9}), 0);
    /* empty index; 0-d x; i32 x */
    ck_shape(ag_index_select(A, x, 0, ag_zeros(A, AG_I32, AG_SHAPE(0))), 2, ((int64_t[]){0, 2}));
    ag_tensor *s = ag_index_select(A, ag_scalar(A, AG_F32, 7), 0, ids(A, AG_SHAPE(1), (int32_t[]){0}));
    ck_assert_int_eq(s->ndim, 0);
    ck_close(ag_item(s), 7, 0);
    ag_tensor *ii = ag_index_select(A, iota(A, AG_I32, AG_SHAPE(4)), 0,
                                    ids(A, AG_SHAPE(2), (int32_t[]){3, 3}));
    ck_assert_int_eq(ii->dtype, AG_I32);
    ck_values(ii, 2, ((double[]){3, 3}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(index_select_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(ag_zeros(A, AG_F64, AG_SHAPE(3, 2)));
    ag_tensor *r = ag_index_select(A, x, 0, ids(A, AG_SHAPE(3), (int32_t[]){2, 0, 2}));
    ck_assert(ag_backward(r, iota(A, AG_F64, AG_SHAPE(3, 2))));
    /* row 0 gets g row 1; row 1 nothing; row 2 gets g rows 0 + 2 */
    ck_values(x->grad, 6, ((double[]){2, 3, 0, 0, 0 + 4, 1 + 5}), 0);
    /* along the last dim of a bf16 leaf */
    ag_tensor *b = leaf(ag_zeros(A, AG_BF16, AG_SHAPE(2, 3)));
    ag_tensor *rb = ag_index_select(A, b, 1, ids(A, AG_SHAPE(4), (int32_t[]){1, 1, 0, 1}));
    ck_assert_int_eq(rb->dtype, AG_BF16);
    ck_assert(ag_backward(rb, ag_ones(A, AG_BF16, AG_SHAPE(2, 4))));
    ck_assert_int_eq(b->grad->dtype, AG_BF16);
    ck_values(b->grad, 6, ((double[]){1, 3, 0, 1, 3, 0}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(index_select_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(3, 2));
    expect_errors();
    ck_assert_ptr_null(ag_index_select(A, x, 0, ids(A, AG_SHAPE(3), (int32_t[]){0, 3, 1})));
    check_error("index_select", "[3,2]", "holds 3 at position 1");
    expect_errors();
    ck_assert_ptr_null(ag_index_select(A, x, 1, ids(A, AG_SHAPE(1), (int32_t[]){-1})));
    check_error("index_select", "[3,2]", "-1");
    expect_errors();
    ck_assert_ptr_null(ag_index_select(A, x, 0, ag_zeros(A, AG_F32, AG_SHAPE(2))));
    check_error("index_select", "[2]", "i32");
    expect_errors();
    ck_assert_ptr_null(ag_index_select(A, x, 0, ag_zeros(A, AG_I32, AG_SHAPE(2, 2))));
    check_error("index_select", "[2,2]", "1-d");
    expect_errors();
    ck_assert_ptr_null(ag_index_select(A, x, 2, ag_zeros(A, AG_I32, AG_SHAPE(2))));
    check_error("index_select", "[3,2]", "dim 2");
    ag_arena_free(A);
}
END_TEST

START_TEST(embedding_values_and_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *w = leaf(iota(A, AG_F32, AG_SHAPE(4, 3))); /* row v = 3v, 3v+1, 3v+2 */
    ag_tensor *id = ids(A, AG_SHAPE(2, 2), (int32_t[]){1, 3, 1, 0});
    ag_tensor *e = ag_embedding(A, w, id);
    ck_shape(e, 3, ((int64_t[]){2, 2, 3}));
    ck_values(e, 12, ((double[]){3, 4, 5, 9, 10, 11, 3, 4, 5, 0, 1, 2}), 0);
    ck_assert(ag_backward(e, iota(A, AG_F32, AG_SHAPE(2, 2, 3))));
    /* row 1 gets g[0,0] + g[1,0] = (0,1,2) + (6,7,8); row 3 gets (3,4,5);
     * row 0 gets (9,10,11); row 2 nothing */
    ck_values(w->grad, 12, ((double[]){9, 10, 11, 6, 8, 10, 0, 0, 0, 3, 4, 5}), 0);
    /* 0-d ids give one row; f64 weights; empty ids */
    ag_tensor *w64 = iota(A, AG_F64, AG_SHAPE(2, 2));
    ag_tensor *one = ag_embedding(A, w64, ag_scalar(A, AG_I32, 1));
    ck_shape(one, 1, ((int64_t[]){2}));
    ck_values(one, 2, ((double[]){2, 3}), 0);
    ck_shape(ag_embedding(A, w64, ag_zeros(A, AG_I32, AG_SHAPE(0))), 2, ((int64_t[]){0, 2}));
    /* bf16 weights stay bf16 and get bf16 gradients */
    ag_tensor *wb = leaf(iota(A, AG_BF16, AG_SHAPE(2, 2)));
    ag_tensor *eb = ag_embedding(A, wb, ids(A, AG_SHAPE(3), (int32_t[]){0, 0, 1}));
    ck_assert_int_eq(eb->dtype, AG_BF16);
    ck_values(eb, 6, ((double[]){0, 1, 0, 1, 2, 3}), 0);
    ck_assert(ag_backward(eb, ag_ones(A, AG_BF16, AG_SHAPE(3, 2))));
    ck_values(wb->grad, 4, ((double[]){2, 2, 1, 1}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(embedding_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *w = ag_zeros(A, AG_F32, AG_SHAPE(4, 3));
    expect_errors();
    ck_assert_ptr_null(ag_embedding(A, w, ids(A, AG_SHAPE(3), (int32_t[]){0, 2, 4})));
    check_error("embedding", "[4,3]", "holds 4 at position 2");
    expect_errors();
    ck_assert_ptr_null(ag_embedding(A, ag_zeros(A, AG_F32, AG_SHAPE(12)), ag_scalar(A, AG_I32, 0)));
    check_error("embedding", "[12]", "2-d");
    expect_errors();
    ck_assert_ptr_null(ag_embedding(A, w, ag_zeros(A, AG_F32, AG_SHAPE(2))));
    check_error("embedding", "[2]", "i32");
    expect_errors();
    ck_assert_ptr_null(ag_embedding(A, ag_zeros(A, AG_I32, AG_SHAPE(4, 3)), ag_scalar(A, AG_I32, 0)));
    check_error("embedding", "[4,3]", "float");
    ag_arena_free(A);
}
END_TEST

START_TEST(gather_values_and_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(iota(A, AG_F64, AG_SHAPE(2, 3))); /* [[0,1,2],[3,4,5]] */
    /* dim 1: out[i][j] = x[i][index[i][j]] */
    ag_tensor *g1 = ag_gather(A, x, 1, ids(A, AG_SHAPE(2, 2), (int32_t[]){0, 0, 2, 1}));
    ck_shape(g1, 2, ((int64_t[]){2, 2}));
    ck_values(g1, 4, ((double[]){0, 0, 5, 4}), 0);
    /* dim 0: out[i][j] = x[index[i][j]][j]; index may be longer along dim */
    ag_tensor *g0 = ag_gather(A, x, -2, ids(A, AG_SHAPE(3, 2), (int32_t[]){1, 0, 0, 1, 1, 1}));
    ck_shape(g0, 2, ((int64_t[]){3, 2}));
    ck_values(g0, 6, ((double[]){3, 1, 0, 4, 3, 4}), 0);
    /* the gradient of g1 scatters back: x[0][0] twice */
    ck_assert(ag_backward(g1, ag_from_f64(A, AG_F64, AG_SHAPE(2, 2), (double[]){1, 2, 3, 4})));
    ck_values(x->grad, 6, ((double[]){3, 0, 0, 0, 4, 3}), 0);
    /* 3-d, middle dim: out[i][j][k] = y[i][index[i][j][k]][k] */
    ag_tensor *y = iota(A, AG_F32, AG_SHAPE(2, 3, 2));
    ag_tensor *g3 = ag_gather(A, y, 1, ids(A, AG_SHAPE(1, 1, 2), (int32_t[]){2, 1}));
    ck_values(g3, 2, ((double[]){4, 3}), 0);
    /* 0-d */
    ck_close(ag_item(ag_gather(A, ag_scalar(A, AG_F32, 5), 0, ag_scalar(A, AG_I32, 0))), 5, 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(gather_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2, 3));
    expect_errors();
    ck_assert_ptr_null(ag_gather(A, x, 1, ag_zeros(A, AG_I32, AG_SHAPE(3, 1))));
    check_error("gather", "[3,1]", "[2,3]");
    expect_errors();
    ck_assert_ptr_null(ag_gather(A, x, 1, ag_zeros(A, AG_I32, AG_SHAPE(2))));
    check_error("gather", "[2]", "[2,3]");
    expect_errors();
    ck_assert_ptr_null(ag_gather(A, x, 1, ids(A, AG_SHAPE(1, 2), (int32_t[]){1, 3})));
    check_error("gather", "[2,3]", "holds 3 at position 1");
    expect_errors();
    ck_assert_ptr_null(ag_gather(A, x, 0, ag_zeros(A, AG_F64, AG_SHAPE(1, 1))));
    check_error("gather", "[1,1]", "i32");
    ag_arena_free(A);
}
END_TEST

START_TEST(masked_fill_values_and_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = leaf(iota(A, AG_F32, AG_SHAPE(2, 3)));
    ag_tensor *m = ids(A, AG_SHAPE(3), (int32_t[]){1, 0, -5}); /* non-zero: fill */
    ag_tensor *y = ag_masked_fill(A, x, m, -1e9);
    ck_shape(y, 2, ((int64_t[]){2, 3}));
    ck_values(y, 6, ((double[]){(float)-1e9, 1, (float)-1e9, (float)-1e9, 4, (float)-1e9}), 0);
    ck_assert(ag_backward(y, ag_full(A, AG_F32, AG_SHAPE(2, 3), 2.0)));
    ck_values(x->grad, 6, ((double[]){0, 2, 0, 0, 2, 0}), 0);
    /* a float mask [2,1]: NaN counts as true, -0.0 as false */
    ag_tensor *fm = ag_from_f64(A, AG_F64, AG_SHAPE(2, 1), (double[]){-0.0, NAN});
    ag_tensor *z = ag_masked_fill(A, iota(A, AG_F64, AG_SHAPE(2, 3)), fm, INFINITY);
    ck_assert_int_eq(z->numel, 6);
    for (int64_t i = 0; i < 3; i++) ck_close(ag_get_flat(z, i), (double)i, 0); /* row 0 kept */
    for (int64_t i = 3; i < 6; i++) ck_assert(isinf(ag_get_flat(z, i)) && ag_get_flat(z, i) > 0);
    /* a causal mask [3,3] on [2,3,3]; bf16 x keeps its dtype and the fill value rounds */
    ag_tensor *cm = ids(A, AG_SHAPE(3, 3), (int32_t[]){0, 1, 1, 0, 0, 1, 0, 0, 0});
    ag_tensor *b = ag_masked_fill(A, ag_ones(A, AG_BF16, AG_SHAPE(2, 3, 3)), cm, 1.0 + 1.0 / 256);
    ck_assert_int_eq(b->dtype, AG_BF16);
    for (int64_t i = 0; i < 18; i++) ck_close(ag_get_flat(b, i), 1.0, 0); /* 1+2^-8 rounds to 1 */
    /* a bf16 mask: -0.0 (bits 0x8000) is zero */
    ck_values(ag_masked_fill(A, ag_zeros(A, AG_F64, AG_SHAPE(2)),
                             ag_from_f64(A, AG_BF16, AG_SHAPE(2), (double[]){-0.0, 0.5}), 9),
              2, ((double[]){0, 9}), 0);
    /* 0-d mask */
    ck_values(ag_masked_fill(A, ag_zeros(A, AG_F32, AG_SHAPE(2)), ag_scalar(A, AG_BF16, 1), 3), 2,
              ((double[]){3, 3}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(masked_fill_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2, 3));
    expect_errors();
    ck_assert_ptr_null(ag_masked_fill(A, x, ag_zeros(A, AG_I32, AG_SHAPE(2)), 0));
    check_error("masked_fill", "[2]", "[2,3]");
    expect_errors();
    ck_assert_ptr_null(ag_masked_fill(A, x, ag_zeros(A, AG_I32, AG_SHAPE(2, 2, 3)), 0));
    check_error("masked_fill", "[2,2,3]", "[2,3]");
    expect_errors();
    ck_assert_ptr_null(ag_masked_fill(A, ag_zeros(A, AG_I32, AG_SHAPE(2)), x, 0));
    check_error("masked_fill", "[2]", "i32");
    ag_arena_free(A);
}
END_TEST

START_TEST(where_values_and_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *c = ids(A, AG_SHAPE(2, 1), (int32_t[]){1, 0});
    ag_tensor *a = leaf(ag_from_f64(A, AG_F64, AG_SHAPE(3), (double[]){1, 2, 3}));
    ag_tensor *b = leaf(ag_scalar(A, AG_F64, -1));
    ag_tensor *y = ag_where(A, c, a, b);
    ck_shape(y, 2, ((int64_t[]){2, 3}));
    ck_values(y, 6, ((double[]){1, 2, 3, -1, -1, -1}), 0);
    ck_assert(ag_backward(y, iota(A, AG_F64, AG_SHAPE(2, 3))));
    ck_values(a->grad, 3, ((double[]){0, 1, 2}), 0); /* row 0 of g */
    ck_close(ag_item(b->grad), 3 + 4 + 5, 0);       /* sum of row 1 of g */
    /* mixed float dtypes promote; a float cond */
    ag_tensor *cf = ag_from_f64(A, AG_F32, AG_SHAPE(2), (double[]){0.5, 0});
    ag_tensor *p = ag_where(A, cf, ag_full(A, AG_F32, AG_SHAPE(2), 1),
                            ag_full(A, AG_F64, AG_SHAPE(2), 0.1));
    ck_assert_int_eq(p->dtype, AG_F64);
    ck_values(p, 2, ((double[]){1, 0.1}), 0);
    /* bf16 with bf16 stays bf16 */
    ag_tensor *q = ag_where(A, cf, ag_full(A, AG_BF16, AG_SHAPE(2), 2),
                            ag_full(A, AG_BF16, AG_SHAPE(1), 3));
    ck_assert_int_eq(q->dtype, AG_BF16);
    ck_values(q, 2, ((double[]){2, 3}), 0);
    /* cond broadcasts up to the result's shape */
    ag_tensor *r = ag_where(A, ids(A, AG_SHAPE(2, 1, 1), (int32_t[]){0, 1}),
                            ag_zeros(A, AG_F32, AG_SHAPE(2)), ag_ones(A, AG_F32, AG_SHAPE(1)));
    ck_shape(r, 3, ((int64_t[]){2, 1, 2}));
    ck_values(r, 4, ((double[]){1, 1, 0, 0}), 0);
    ag_arena_free(A);
}
END_TEST

/* torch.where(cond, x, 0.0) and torch.where(cond, -inf, x): the number takes
 * x's dtype (bf16 rounds it), the gradient reaches x where x was taken. */
START_TEST(where_scalar_values_and_gradient) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *c = ids(A, AG_SHAPE(2, 1), (int32_t[]){1, 0});
    ag_tensor *x = leaf(ag_from_f64(A, AG_F64, AG_SHAPE(3), (double[]){1, 2, 3}));
    ag_tensor *y = ag_where_scalar(A, c, x, 0.5);
    ck_shape(y, 2, ((int64_t[]){2, 3}));
    ck_values(y, 6, ((double[]){1, 2, 3, 0.5, 0.5, 0.5}), 0);
    ck_assert(ag_backward(y, iota(A, AG_F64, AG_SHAPE(2, 3))));
    ck_values(x->grad, 3, ((double[]){0, 1, 2}), 0); /* row 0 of g */
    ag_tensor *z = ag_where_scalar_a(A, c, -INFINITY, x);
    ck_values(z, 6, ((double[]){-INFINITY, -INFINITY, -INFINITY, 1, 2, 3}), 0);
    ck_assert(ag_backward(z, iota(A, AG_F64, AG_SHAPE(2, 3))));
    ck_values(x->grad, 3, ((double[]){0 + 3, 1 + 4, 2 + 5}), 0); /* plus row 1 of g */
    ag_tensor *b = ag_where_scalar(A, ag_from_f64(A, AG_F32, AG_SHAPE(2), (double[]){0, 1}),
                                   ag_full(A, AG_BF16, AG_SHAPE(2), 2), 0.1);
    ck_assert_int_eq(b->dtype, AG_BF16);
    ck_values(b, 2, ((double[]){ag_bf16_to_f32(ag_f32_to_bf16(0.1f)), 2}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(where_bad) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *c = ag_zeros(A, AG_I32, AG_SHAPE(2, 3));
    expect_errors();
    ck_assert_ptr_null(ag_where(A, c, ag_zeros(A, AG_F32, AG_SHAPE(4)), ag_zeros(A, AG_F32, AG_SHAPE(3))));
    check_error("where", "[2,3]", "[4]");
    expect_errors();
    ck_assert_ptr_null(ag_where(A, c, ag_zeros(A, AG_I32, AG_SHAPE(3)), ag_zeros(A, AG_F32, AG_SHAPE(3))));
    check_error("where", "[3]", "i32");
    ag_clear_error();
    ck_assert_ptr_null(ag_where(A, NULL, c, c));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_arena_free(A);
}
END_TEST

TCase *ops_index_tcase(void) {
    TCase *tc = tcase_create("index");
    tcase_add_test(tc, index_select_values);
    tcase_add_test(tc, index_select_gradient);
    tcase_add_test(tc, index_select_bad);
    tcase_add_test(tc, embedding_values_and_gradient);
    tcase_add_test(tc, embedding_bad);
    tcase_add_test(tc, gather_values_and_gradient);
    tcase_add_test(tc, gather_bad);
    tcase_add_test(tc, masked_fill_values_and_gradient);
    tcase_add_test(tc, masked_fill_bad);
    tcase_add_test(tc, where_values_and_gradient);
    tcase_add_test(tc, where_bad);
    tcase_add_test(tc, where_scalar_values_and_gradient);
    return tc;
}
