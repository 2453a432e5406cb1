/* tests/ops/second_order.c — second and third derivatives through the shape,
 * index and cast ops (their vjps and the ops slice_backward,
 * index_select_backward and gather_backward), by ag_grad taken again and
 * again.
 *
 * Each test feeds x (f64, [n]) through a selection P: every element of
 * y = P(x) is one element of x (a slice, a permutation, an index...). With
 *   f(x)   = sum_i v_i y_i^3                 (y^3 written as y*y*y)
 *   g1     = df/dx                           = 3 x^2 c
 *   g2     = d/dx sum_j u_j g1_j             = 6 x u c
 *   g3     = d/dx sum_j w_j g2_j             = 6 u w c
 * (elementwise over j) where c_j = sum of v_i over the i that picked x_j (0
 * for an x_j no y holds). Each test states c, counted by hand from the op's
 * definition; u and w differ from element to element so that a gradient put
 * in the wrong place shows. */
#include "ops_test.h"

typedef ag_tensor *(*pick_fn)(ag_arena *A, ag_tensor *x);

/* The seeds of the second and third pass (x has at most 7 elements). */
static const double U[] = {1.5, -0.5, 2.0, 0.25, 3.0, -1.0, 0.75};
static const double W[] = {-2.0, 0.5, 1.25, 4.0, -0.75, 1.0, 2.5};

/* The gradient of <y, w> with respect to x. */
static ag_tensor *grad_of(ag_arena *A, ag_tensor *y, const double *w, ag_tensor *x,
                          bool create_graph) {
    ck_assert_ptr_nonnull(y);
    ag_tensor *seed = ag_from_f64(A, y->dtype, y->ndim, y->shape, w);
    ag_tensor *g = NULL;
    ck_assert_msg(ag_grad(1, &y, &seed, 1, &x, &g, create_graph), "ag_grad failed: %s",
                  ag_last_error());
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->ndim, x->ndim);
    ck_assert_int_eq(g->numel, x->numel);
    ck_assert_int_eq(g->requires_grad, create_graph);
    return g;
}

/* Checks g1, g2 and (order 3) g3 above for y = pick(x), x holding
 * xs[0..n-1]. */
static void check_cube_to(int order, pick_fn pick, int64_t n, const double *xs,
                          const double *v, const double *c, double tol) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, 1, &n, xs);
    ag_set_requires_grad(x, true);
    ag_tensor *y = pick(A, x);
    ck_assert_ptr_nonnull(y);
    ag_tensor *y3 = ag_mul(A, ag_mul(A, y, y), y);
    ag_tensor *g1 = grad_of(A, y3, v, x, true);
    ag_tensor *g2 = grad_of(A, g1, U, x, order > 2);
    ag_tensor *g3 = order > 2 ? grad_of(A, g2, W, x, false) : NULL;
    for (int64_t j = 0; j < n; j++) {
        ck_close(ag_get_flat(g1, j), 3 * xs[j] * xs[j] * c[j], tol);
        ck_close(ag_get_flat(g2, j), 6 * xs[j] * U[j] * c[j], tol);
        if (g3) ck_close(ag_get_flat(g3, j), 6 * U[j] * W[j] * c[j], tol);
    }
    ag_arena_free(A);
}

static void check_cube(pick_fn pick, int64_t n, const double *xs, const double *v,
                       const double *c, double tol) {
    check_cube_to(3, pick, n, xs, v, c, tol);
}

static const double X4[] = {0.7, -1.2, 1.5, -0.4};
static const double X6[] = {0.7, -1.2, 1.5, 0.3, -0.4, 2.0};
static const double X7[] = {0.7, -1.2, 1.5, 0.3, -0.4, 2.0, 1.1};
static const double V[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

/* x[1:7:2]: picks x1, x3, x5 */
static ag_tensor *pick_slice(ag_arena *A, ag_tensor *x) { return ag_slice(A, x, 0, 1, 7, 2); }

START_TEST(slice_derivatives) {
    /* f = sum(slice(x)^3 * v): d2f/dx2 = 6 x v on the slice, 0 elsewhere;
     * the third derivative is 6 v there (times the seeds u, w). */
    check_cube(pick_slice, 7, X7, V, (const double[]){0, 1, 0, 2, 0, 3, 0}, 1e-12);
}
END_TEST

/* concat(narrow(x, 0, 1, 2), x): x1, x2, x0, x1, x2, x3 */
static ag_tensor *pick_concat(ag_arena *A, ag_tensor *x) {
    return ag_concat(A, 2, (ag_tensor *[]){ag_narrow(A, x, 0, 1, 2), x}, 0);
}

START_TEST(concat_narrow_derivatives) {
    /* x0: v3; x1: v1 + v4; x2: v2 + v5; x3: v6 */
    check_cube(pick_concat, 4, X4, V, (const double[]){3, 5, 7, 6}, 1e-12);
}
END_TEST

/* x [6] -> [2,3] -> transposed [3,2] -> [1,3,2] -> squeeze(0) of a size-2
 * dim (no change) -> cloned -> [6]: x[3a + b] at flat position 2b + a, so
 * with v_i = i + 1 it gets 2b + a + 1. */
static ag_tensor *pick_views(ag_arena *A, ag_tensor *x) {
    ag_tensor *t = ag_transpose(A, ag_reshape(A, x, AG_SHAPE(2, 3)), 0, 1);
    ag_tensor *u = ag_squeeze(A, ag_unsqueeze(A, t, 0), 1);
    return ag_reshape(A, ag_clone(A, ag_squeeze(A, u, 0)), AG_SHAPE(6));
}
/* The same [3,2] expanded to [2,3,2] -> [12]: entry (k, b, a) is x[3a + b]
 * at flat position 6k + 2b + a, so x[3a + b] gets (2b + a + 1) +
 * (6 + 2b + a + 1) = 4b + 2a + 8. */
static ag_tensor *pick_expand(ag_arena *A, ag_tensor *x) {
    ag_tensor *t = ag_transpose(A, ag_reshape(A, x, AG_SHAPE(2, 3)), 0, 1);
    return ag_reshape(A, ag_expand(A, t, AG_SHAPE(2, 3, 2)), AG_SHAPE(12));
}

START_TEST(view_derivatives) {
    check_cube(pick_views, 6, X6, V, (const double[]){1, 3, 5, 2, 4, 6}, 1e-12);
}
END_TEST

/* expand's gradient is summed down by the engine with a recorded sum: the
 * third derivative also needs sum's vjp (core/ops_reduce.c), so second here. */
START_TEST(expand_derivatives) {
    check_cube_to(2, pick_expand, 6, X6, V, (const double[]){8, 12, 16, 10, 14, 18}, 1e-12);
}
END_TEST

/* permute(x as [1,2,3], (2,0,1)) -> [3,1,2]: out (b, 0, a) = x[3a + b] at
 * flat position 2b + a; with v_i = i + 1, x[3a + b] gets 2b + a + 1. */
static ag_tensor *pick_permute(ag_arena *A, ag_tensor *x) {
    ag_tensor *p = ag_permute(A, ag_reshape(A, x, AG_SHAPE(1, 2, 3)), (const int[]){2, 0, 1});
    return ag_reshape(A, p, AG_SHAPE(6));
}

START_TEST(permute_derivatives) {
    check_cube(pick_permute, 6, X6, V, (const double[]){1, 3, 5, 2, 4, 6}, 1e-12);
}
END_TEST

/* index_select(x, 0, [2, 0, 2]): x2, x0, x2 */
static ag_tensor *pick_index_select(ag_arena *A, ag_tensor *x) {
    ag_tensor *ids = ag_from_array(A, AG_I32, AG_SHAPE(3), (const int32_t[]){2, 0, 2});
    return ag_index_select(A, x, 0, ids);
}
/* index_select(x as [2,3], 1, [2, 2, 0]): row 0 gives x2, x2, x0; row 1
 * x5, x5, x3 (two outer rows: the id repeats within each) */
static ag_tensor *pick_index_select_rows(ag_arena *A, ag_tensor *x) {
    ag_tensor *ids = ag_from_array(A, AG_I32, AG_SHAPE(3), (const int32_t[]){2, 2, 0});
    return ag_reshape(A, ag_index_select(A, ag_reshape(A, x, AG_SHAPE(2, 3)), 1, ids),
                      AG_SHAPE(6));
}

START_TEST(index_select_derivatives) {
    check_cube(pick_index_select, 4, X4, V, (const double[]){2, 0, 1 + 3, 0}, 1e-12);
    check_cube(pick_index_select_rows, 6, X6, V, (const double[]){3, 0, 1 + 2, 6, 0, 4 + 5},
               1e-12);
}
END_TEST

/* embedding(x as [3,2], ids [[2,0],[2,2]]): rows 2, 0, 2, 2 -> [8] */
static ag_tensor *pick_embedding(ag_arena *A, ag_tensor *x) {
    ag_tensor *ids = ag_from_array(A, AG_I32, AG_SHAPE(2, 2), (const int32_t[]){2, 0, 2, 2});
    return ag_reshape(A, ag_embedding(A, ag_reshape(A, x, AG_SHAPE(3, 2)), ids), AG_SHAPE(8));
}

START_TEST(embedding_derivatives) {
    /* row 0 (x0, x1) at output 2: v3, v4; row 2 (x4, x5) at outputs 0, 2, 3:
     * v1 + v5 + v7 and v2 + v6 + v8; row 1 unused */
    check_cube(pick_embedding, 6, X6, V, (const double[]){3, 4, 0, 0, 13, 16}, 1e-12);
}
END_TEST

/* gather(x as [2,3], 1, [[2,2],[0,1]]): x2, x2, x3, x4 */
static ag_tensor *pick_gather(ag_arena *A, ag_tensor *x) {
    ag_tensor *idx = ag_from_array(A, AG_I32, AG_SHAPE(2, 2), (const int32_t[]){2, 2, 0, 1});
    return ag_reshape(A, ag_gather(A, ag_reshape(A, x, AG_SHAPE(2, 3)), 1, idx), AG_SHAPE(4));
}

START_TEST(gather_derivatives) {
    check_cube(pick_gather, 6, X6, V, (const double[]){0, 0, 1 + 2, 3, 4, 0}, 1e-12);
}
END_TEST

/* masked_fill(x, [1,0,0,1], 0.5): x1 and x2 pass, the rest is a constant */
static ag_tensor *pick_masked_fill(ag_arena *A, ag_tensor *x) {
    ag_tensor *m = ag_from_array(A, AG_I32, AG_SHAPE(4), (const int32_t[]){1, 0, 0, 1});
    return ag_masked_fill(A, x, m, 0.5);
}
/* where(cond [1,0], x[0:2], x[2:4]): x0, x3 */
static ag_tensor *pick_where(ag_arena *A, ag_tensor *x) {
    ag_tensor *cond = ag_from_array(A, AG_I32, AG_SHAPE(2), (const int32_t[]){1, 0});
    return ag_where(A, cond, ag_narrow(A, x, 0, 0, 2), ag_narrow(A, x, 0, 2, 2));
}
/* where(cond [0,1,1,0], x, -3) and where(cond, -3, x) side by side */
static ag_tensor *pick_where_numbers(ag_arena *A, ag_tensor *x) {
    ag_tensor *cond = ag_from_array(A, AG_I32, AG_SHAPE(4), (const int32_t[]){0, 1, 1, 0});
    return ag_concat(A, 2, (ag_tensor *[]){ag_where_scalar(A, cond, x, -3.0),
                                           ag_where_scalar_a(A, cond, -3.0, x)}, 0);
}

START_TEST(mask_derivatives) {
    check_cube(pick_masked_fill, 4, X4, V, (const double[]){0, 2, 3, 0}, 1e-12);
    check_cube(pick_where, 4, X4, V, (const double[]){1, 0, 0, 2}, 1e-12);
    /* where_scalar keeps x1, x2 (v2, v3); where_scalar_a keeps x0, x3 (v5, v8) */
    check_cube(pick_where_numbers, 4, X4, V, (const double[]){5, 2, 3, 8}, 1e-12);
}
END_TEST

/* cast(x, f32) and back: the cube is taken of x rounded to f32 */
static ag_tensor *pick_cast(ag_arena *A, ag_tensor *x) {
    return ag_cast(A, ag_cast(A, x, AG_F32), AG_F64);
}

START_TEST(cast_derivatives) {
    /* x rounded to 24 bits: relative error 6e-8 in each factor of x */
    check_cube(pick_cast, 4, X4, V, (const double[]){1, 2, 3, 4}, 1e-5);
}
END_TEST

/* An error handler that keeps the first message (userdata: char[256]). */
static void keep_first(const char *message, void *userdata) {
    char *first = userdata;
    if (!first[0]) snprintf(first, 256, "%s", message);
}

/* A concat of more sources than a vjp can return fails with create_graph,
 * naming concat; a plain backward through it still works. */
START_TEST(concat_too_many_for_create_graph) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(1), (const double[]){2.0});
    ag_set_requires_grad(x, true);
    ag_tensor *xs[17];
    for (int i = 0; i < 17; i++) xs[i] = x;
    ag_tensor *y = ag_concat(A, 17, xs, 0);
    ag_tensor *seed = ag_ones(A, AG_F64, AG_SHAPE(17));
    ag_tensor *g = NULL;
    char first[256] = "";
    ag_set_error_handler(keep_first, first);
    ck_assert(!ag_grad(1, &y, &seed, 1, &x, &g, true));
    ag_set_error_handler(NULL, NULL);
    ck_assert_msg(strstr(first, "ag: concat: a concat of 17 tensors"), "error \"%s\"", first);
    ck_assert(ag_grad(1, &y, &seed, 1, &x, &g, false));
    ck_close(ag_item(g), 17.0, 0);
    ag_arena_free(A);
}
END_TEST

TCase *ops_second_order_tcase(void) {
    TCase *tc = tcase_create("second_order");
    tcase_add_test(tc, slice_derivatives);
    tcase_add_test(tc, concat_narrow_derivatives);
    tcase_add_test(tc, view_derivatives);
    tcase_add_test(tc, expand_derivatives);
    tcase_add_test(tc, permute_derivatives);
    tcase_add_test(tc, index_select_derivatives);
    tcase_add_test(tc, embedding_derivatives);
    tcase_add_test(tc, gather_derivatives);
    tcase_add_test(tc, mask_derivatives);
    tcase_add_test(tc, cast_derivatives);
    tcase_add_test(tc, concat_too_many_for_create_graph);
    return tc;
}
