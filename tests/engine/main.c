/* tests/engine/main.c — the autograd engine: what gets recorded, no-grad
 * mode, detach, seeding, accumulation, deep graphs, diamonds, mixed dtypes.
 * Every expected gradient is worked out by hand in the comments. */
#include <stdlib.h>
#include <string.h>

#include "../ops/ops_test.h"
#include "../check_main.h"
#include "engine_test.h"

static ag_arena *A;
static int reports;

static void setup(void) {
    A = engine_test_start(&reports);
}

static void teardown(void) { engine_test_end(A); }

static ag_tensor *leaf(ag_dtype dt, int ndim, const int64_t *shape, const double *v) {
    ag_tensor *t = ag_from_f64(A, dt, ndim, shape, v);
    ck_assert_ptr_nonnull(t);
    ag_set_requires_grad(t, true);
    return t;
}

START_TEST(requires_grad_on_leaves_only) {
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2));
    ck_assert(!x->requires_grad);
    ag_set_requires_grad(x, true);
    ck_assert(x->requires_grad);
    ag_set_requires_grad(x, false);
    ck_assert(!x->requires_grad);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_add(A, x, x);
    ck_assert(!ag_is_leaf(y));
    ck_assert(y->requires_grad);
    /* on a non-leaf: reported, nothing changes */
    ag_set_error_handler(count_reports, &reports);
    ag_set_requires_grad(y, false);
    ck_assert_int_eq(reports, 1);
    ck_assert(y->requires_grad);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: set_requires_grad: "));
    /* on an i32 leaf: reported; every float dtype is fine */
    ag_tensor *ids = ag_zeros(A, AG_I32, AG_SHAPE(3));
    ag_set_requires_grad(ids, true);
    ck_assert_int_eq(reports, 2);
    ck_assert(!ids->requires_grad);
    ag_set_requires_grad(ids, false); /* turning it off is harmless */
    ck_assert_int_eq(reports, 2);
    ag_tensor *h = ag_zeros(A, AG_BF16, AG_SHAPE(3)), *d = ag_zeros(A, AG_F64, AG_SHAPE(3));
    ag_set_requires_grad(h, true);
    ag_set_requires_grad(d, true);
    ck_assert(h->requires_grad && d->requires_grad);
    ck_assert_int_eq(reports, 2);
    ag_set_requires_grad(NULL, true); /* NULL: nothing, silently */
    ck_assert_int_eq(reports, 2);
}
END_TEST

START_TEST(ops_record_only_when_an_input_requires_grad) {
    ag_tensor *a = ag_ones(A, AG_F32, AG_SHAPE(2, 3));
    ag_tensor *b = ag_ones(A, AG_F32, AG_SHAPE(3));
    ag_tensor *c = ag_mul(A, a, b);
    ck_assert(ag_is_leaf(c));
    ck_assert(!c->requires_grad);
    ck_assert_ptr_null(c->op);
    ck_assert_int_eq(ag_graph_size(c), 1);
    ag_set_requires_grad(b, true);
    ag_tensor *d = ag_mul(A, a, b);
    ck_assert(!ag_is_leaf(d));
    ck_assert(d->requires_grad);
    ck_assert_ptr_nonnull(d->op);
    ck_assert_str_eq(d->op->name, "mul");
    ck_assert_int_eq(d->nsrc, 2);
    /* d and b; a needs no gradient and is not part of the graph */
    ck_assert_int_eq(ag_graph_size(d), 2);
    /* a result made from d records too, through the chain */
    ag_tensor *e = ag_add_scalar(A, d, 1.0);
    ck_assert(!ag_is_leaf(e));
    ck_assert_int_eq(ag_graph_size(e), 3);
    /* a constant-only branch next to it stays a leaf */
    ag_tensor *k = ag_mul_scalar(A, a, 2.0);
    ck_assert(ag_is_leaf(k) && !k->requires_grad);
    ck_assert(!ag_is_leaf(ag_cast(A, b, AG_F64)));
    ck_assert(ag_is_leaf(ag_cast(A, a, AG_F64)));
    /* leaves: creation functions, and NULL is not a leaf */
    ck_assert(ag_is_leaf(a) && ag_is_leaf(b));
    ck_assert(!ag_is_leaf(NULL));
    ck_assert_int_eq(ag_graph_size(NULL), 0);
}
END_TEST

START_TEST(no_grad_mode) {
    ag_tensor *x = leaf(AG_F32, AG_SHAPE(2), (double[]){1, 2});
    ck_assert(ag_grad_enabled());
    bool was = ag_set_grad_enabled(false);
    ck_assert(was);
    ck_assert(!ag_grad_enabled());
    ag_tensor *y = ag_mul(A, x, x);
    ck_assert_ptr_nonnull(y);
    ck_assert(ag_is_leaf(y));
    ck_assert(!y->requires_grad);
    ck_values(y, 2, ((double[]){1, 4}), 0); /* values are still computed */
    /* nested: switching off again reports that it was off */
    ck_assert(!ag_set_grad_enabled(false));
    ck_assert(!ag_set_grad_enabled(was)); /* restore: it was off */
    ck_assert(ag_grad_enabled());
    ag_tensor *z = ag_mul(A, x, x);
    ck_assert(!ag_is_leaf(z));
    ck_assert(z->requires_grad);
    /* backward of a no-grad result is refused */
    ag_set_error_handler(count_reports, &reports);
    ck_assert(!ag_backward(y, ag_ones(A, AG_F32, AG_SHAPE(2))));
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_null(x->grad);
}
END_TEST

START_TEST(detach_shares_data_without_graph) {
    /* y = x^2; d = detach(y); z = d * x: dz/dx = d = x^2 (not 3x^2) */
    ag_tensor *x = leaf(AG_F64, AG_SHAPE(2), (double[]){3, -2});
    ag_tensor *y = ag_mul(A, x, x);
    ag_tensor *d = ag_detach(A, y);
    ck_assert_ptr_nonnull(d);
    ck_assert(ag_is_leaf(d));
    ck_assert(!d->requires_grad);
    ck_assert_ptr_null(d->grad);
    ck_assert_ptr_eq(d->data, y->data);
    ck_assert_int_eq(d->dtype, AG_F64);
    ck_assert(ag_same_shape(d, y));
    ck_assert_int_eq(ag_graph_size(d), 1);
    ag_tensor *z = ag_mul(A, d, x);
    ck_assert_int_eq(ag_graph_size(z), 2); /* z and x */
    ck_assert(ag_backward(z, ag_ones(A, AG_F64, AG_SHAPE(2))));
    ck_values(x->grad, 2, ((double[]){9, 4}), 0);
    ck_assert_ptr_null(d->grad);
    /* shared storage: writing through the detached tensor shows in y */
    ag_set_flat(d, 0, 7);
    ck_assert(ag_get_flat(y, 0) == 7.0);
    /* detaching a leaf gives a new leaf without requires_grad */
    ag_tensor *dx = ag_detach(A, x);
    ck_assert(!dx->requires_grad && dx->data == x->data);
    ck_assert_ptr_null(ag_detach(A, NULL));
}
END_TEST

START_TEST(backward_implicit_one_for_scalars) {
    /* 0-d: y = 5x at x = 2: dy/dx = 5 */
    ag_tensor *x = ag_scalar(A, AG_F64, 2);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_mul_scalar(A, x, 5);
    ck_assert(ag_backward(y, NULL));
    ck_assert_ptr_nonnull(x->grad);
    ck_assert_int_eq(x->grad->ndim, 0);
    ck_assert(ag_item(x->grad) == 5.0);
    /* the output's own gradient is the seed, 1 */
    ck_assert(ag_item(y->grad) == 1.0);
    /* [1]: y = u * u at u = 3: 6 */
    ag_tensor *u = leaf(AG_F32, AG_SHAPE(1), (double[]){3});
    ag_tensor *v = ag_mul(A, u, u);
    ck_assert(ag_backward(v, NULL));
    ck_assert(ag_item(u->grad) == 6.0);
    /* [1,1,1] is one element too: y = u - 4w, dy/dw = -4 */
    ag_tensor *w = leaf(AG_F64, AG_SHAPE(1, 1, 1), (double[]){0.5});
    ag_tensor *s = ag_rsub_scalar(A, 1.0, ag_mul_scalar(A, w, 4));
    ck_assert(ag_backward(s, NULL));
    ck_assert(ag_item(w->grad) == -4.0);
    /* backward from a leaf that requires a gradient: its gradient is 1 */
    ag_tensor *l = leaf(AG_F64, AG_SHAPE(1), (double[]){9});
    ck_assert(ag_backward(l, NULL));
    ck_assert(ag_item(l->grad) == 1.0);
}
END_TEST

START_TEST(backward_with_explicit_grad_out) {
    /* y = 3x elementwise, grad_out g: dL/dx = 3g */
    ag_tensor *x = leaf(AG_F32, AG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *y = ag_mul_scalar(A, x, 3);
    ag_tensor *g = ag_from_f64(A, AG_F32, AG_SHAPE(2, 3), (double[]){1, -1, 0.5, 0, 2, -3});
    ck_assert(ag_backward(y, g));
    ck_assert_int_eq(x->grad->dtype, AG_F32);
    ck_shape(x->grad, 2, ((int64_t[]){2, 3}));
    ck_values(x->grad, 6, ((double[]){3, -3, 1.5, 0, 6, -9}), 0);
    /* y = x * b with b [3] broadcast: dL/db_j = sum_i g_ij x_ij */
    ag_tensor *x2 = ag_from_f64(A, AG_F64, AG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *b = leaf(AG_F64, AG_SHAPE(3), (double[]){1, 1, 1});
    ag_tensor *z = ag_mul(A, x2, b);
    ag_tensor *g2 = ag_from_f64(A, AG_F64, AG_SHAPE(2, 3), (double[]){1, -1, 0.5, 0, 2, -3});
    ck_assert(ag_backward(z, g2));
    ck_values(b->grad, 3, ((double[]){1, -2 + 10, 1.5 - 18}), 0);
    ck_assert_ptr_null(x2->grad);
}
END_TEST

START_TEST(leaf_grads_accumulate_until_zeroed) {
    /* y = x * x, grad_out ones: each backward adds 2x */
    ag_tensor *x = leaf(AG_F64, AG_SHAPE(2), (double[]){1, -2.5});
    ag_tensor *ones = ag_ones(A, AG_F64, AG_SHAPE(2));
    ag_tensor *y = ag_mul(A, x, x);
    ck_assert(ag_backward(y, ones));
    ck_values(x->grad, 2, ((double[]){2, -5}), 0);
    ag_tensor *buf = x->grad;
    void *data = buf->data;
    ck_assert(ag_backward(y, ones));
    ck_values(x->grad, 2, ((double[]){4, -10}), 0);
    /* a second graph adds in as well: 3x more */
    ck_assert(ag_backward(ag_mul_scalar(A, x, 3), ones));
    ck_values(x->grad, 2, ((double[]){7, -7}), 0);
    ck_assert_ptr_eq(x->grad, buf);
    ag_zero_grad(x);
    ck_assert_ptr_eq(x->grad, buf);
    ck_assert_ptr_eq(x->grad->data, data);
    ck_values(x->grad, 2, ((double[]){0, 0}), 0);
    ck_assert(ag_backward(y, ones));
    ck_values(x->grad, 2, ((double[]){2, -5}), 0);
    /* zero_grad of NULL or of a tensor without a gradient: nothing */
    ag_zero_grad(NULL);
    ag_tensor *n = ag_zeros(A, AG_F32, AG_SHAPE(2));
    ag_zero_grad(n);
    ck_assert_ptr_null(n->grad);
}
END_TEST

START_TEST(tensor_used_twice_gets_both_contributions) {
    /* y = x*x + 5x at x = 3: 2x + 5 = 11 */
    ag_tensor *x = leaf(AG_F64, AG_SHAPE(1), (double[]){3});
    ag_tensor *y = ag_add(A, ag_mul(A, x, x), ag_mul_scalar(A, x, 5));
    ck_assert(ag_backward(y, NULL));
    ck_assert(ag_item(x->grad) == 11.0);
    /* y = x / x * x at x = 2 (= x): d/dx = 1 -- three uses */
    ag_tensor *u = leaf(AG_F64, AG_SHAPE(1), (double[]){2});
    ag_tensor *v = ag_mul(A, ag_div(A, u, u), u);
    ck_assert(ag_backward(v, NULL));
    ck_close(ag_item(u->grad), 1.0, 1e-15);
    /* broadcast against itself: x [3] + x viewed as the same [3] twice, then
     * times a [2,1] constant c: y_ij = c_i (x_j + x_j); dL/dx_j = 2 (c_0 + c_1) */
    ag_tensor *w = leaf(AG_F32, AG_SHAPE(3), (double[]){1, 2, 3});
    ag_tensor *c = ag_from_f64(A, AG_F32, AG_SHAPE(2, 1), (double[]){0.5, 4});
    ag_tensor *z = ag_mul(A, c, ag_add(A, w, w));
    ck_assert(ag_backward(z, ag_ones(A, AG_F32, AG_SHAPE(2, 3))));
    ck_values(w->grad, 3, ((double[]){9, 9, 9}), 0);
}
END_TEST

/* ag_backward_hooked: each leaf once, when its gradient is already final. */
typedef struct {
    int calls;
    ag_tensor *leaf[4];
    double grad_then[4];
} hook_log;

static void log_leaf(ag_tensor *leaf, void *userdata) {
    hook_log *h = userdata;
    if (h->calls < 4) {
        h->leaf[h->calls] = leaf;
        h->grad_then[h->calls] = leaf->grad ? ag_item(leaf->grad) : -1;
    }
    h->calls++;
}

START_TEST(leaf_hook_sees_final_gradients) {
    /* y = a*b + a*c + b: dy/da = b + c = 7, dy/db = a + 1 = 3, dy/dc = a = 2 */
    ag_tensor *a = leaf(AG_F64, AG_SHAPE(1), (double[]){2});
    ag_tensor *b = leaf(AG_F64, AG_SHAPE(1), (double[]){3});
    ag_tensor *c = leaf(AG_F64, AG_SHAPE(1), (double[]){4});
    ag_tensor *y = ag_add(A, ag_add(A, ag_mul(A, a, b), ag_mul(A, a, c)), b);
    hook_log h = {0};
    ck_assert(ag_backward_hooked(y, NULL, log_leaf, &h));
    ck_assert_int_eq(h.calls, 3);
    const double want[3] = {7, 3, 2};
    ag_tensor *const leaves[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        int k = 0;
        while (k < 3 && h.leaf[k] != leaves[i]) k++;
        ck_assert_msg(k < 3, "leaf %d never reached the hook", i);
        ck_assert_double_eq(h.grad_then[k], want[i]);
        ck_assert_double_eq(ag_item(leaves[i]->grad), want[i]);
    }
    /* a NULL hook is ag_backward: the gradients accumulate */
    ck_assert(ag_backward_hooked(y, NULL, NULL, NULL));
    ck_assert_double_eq(ag_item(a->grad), 14);
}
END_TEST

START_TEST(no_gradient_where_none_is_needed) {
    ag_tensor *a = leaf(AG_F64, AG_SHAPE(2), (double[]){1, 2});
    ag_tensor *b = ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){3, 4});
    ag_tensor *k = ag_mul_scalar(A, b, 2); /* a constant branch */
    ag_tensor *y = ag_mul(A, ag_add(A, a, k), b);
    ck_assert(ag_backward(y, ag_ones(A, AG_F64, AG_SHAPE(2))));
    ck_values(a->grad, 2, ((double[]){3, 4}), 0);
    ck_assert_ptr_null(b->grad);
    ck_assert_ptr_null(k->grad);
    /* two leaves that both require a gradient each get their own */
    ag_tensor *p = leaf(AG_F64, AG_SHAPE(2), (double[]){1, 1});
    ag_tensor *q = leaf(AG_F64, AG_SHAPE(2), (double[]){5, 6});
    ag_tensor *r = ag_mul(A, p, q);
    ck_assert(ag_backward(r, ag_ones(A, AG_F64, AG_SHAPE(2))));
    ck_values(p->grad, 2, ((double[]){5, 6}), 0);
    ck_values(q->grad, 2, ((double[]){1, 1}), 0);
}
END_TEST

START_TEST(backward_needs_grad_out_for_non_scalars) {
    ag_set_error_handler(count_reports, &reports);
    ag_tensor *x = leaf(AG_F32, AG_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    ag_tensor *y = ag_mul_scalar(A, x, 2);
    ck_assert(!ag_backward(y, NULL));
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: backward: "));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "[2,3]"));
    ck_assert_ptr_null(x->grad);
    /* a 0-element output cannot take the implicit 1 either */
    ag_tensor *e = ag_zeros(A, AG_F32, AG_SHAPE(0));
    ag_set_requires_grad(e, true);
    ck_assert(!ag_backward(ag_mul_scalar(A, e, 2), NULL));
    ck_assert_int_eq(reports, 2);
    /* a grad_out of the wrong dtype is refused as well */
    ck_assert(!ag_backward(y, ag_ones(A, AG_F64, AG_SHAPE(2, 3))));
    ck_assert_int_eq(reports, 3);
    ck_assert_ptr_null(x->grad);
    /* NULL: false, silently */
    ck_assert(!ag_backward(NULL, NULL));
    ck_assert_int_eq(reports, 3);
}
END_TEST

START_TEST(deep_chain_of_100k_adds) {
    enum { N = 100000 };
    ag_tensor *x = leaf(AG_F64, AG_SHAPE(1), (double[]){0.5});
    ag_tensor *y = x;
    for (int i = 0; i < N; i++) {
        y = ag_add_scalar(A, y, 1e-6);
        ck_assert_ptr_nonnull(y);
    }
    ck_close(ag_item(y), 0.5 + N * 1e-6, 1e-9);
    /* the N adds and x */
    ck_assert_int_eq(ag_graph_size(y), N + 1);
    ck_assert(ag_backward(y, NULL));
    ck_assert(ag_item(x->grad) == 1.0);
    /* run again on the same graph: exactly doubles */
    ck_assert(ag_backward(y, NULL));
    ck_assert(ag_item(x->grad) == 2.0);
}
END_TEST

START_TEST(deep_chain_of_100k_mixed_ops) {
    /* alternately y = y * 1.00001 and y = y + 1e-6, 50,000 times each:
     * dy/dx = 1.00001^50000 (the adds contribute a factor 1) */
    enum { N = 100000 };
    ag_tensor *x = leaf(AG_F32, AG_SHAPE(2), (double[]){1, -1});
    ag_tensor *y = x;
    for (int i = 0; i < N; i++) {
        y = i % 2 ? ag_add_scalar(A, y, 1e-6) : ag_mul_scalar(A, y, 1.00001);
        ck_assert_ptr_nonnull(y);
    }
    ck_assert_int_eq(ag_graph_size(y), N + 1);
    ck_assert(ag_backward(y, ag_ones(A, AG_F32, AG_SHAPE(2))));
    /* 50,000 f32 roundings of a product: relative error well below 1e-3 */
    double want = pow((double)1.00001f, N / 2);
    ck_close(ag_get_flat(x->grad, 0), want, want * 1e-3);
    ck_close(ag_get_flat(x->grad, 1), want, want * 1e-3);
    ck_assert(ag_get_flat(x->grad, 0) == ag_get_flat(x->grad, 1));
}
END_TEST

START_TEST(non_leaf_grads_recomputed_each_backward) {
    /* h = 2x; y = h * h = 4x^2; dy/dx = 8x = 24 at x = 3; dy/dh = 2h = 12 */
    ag_tensor *x = leaf(AG_F64, AG_SHAPE(1), (double[]){3});
    ag_tensor *h = ag_mul_scalar(A, x, 2);
    ag_tensor *y = ag_mul(A, h, h);
    ck_assert(ag_backward(y, NULL));
    ck_assert(ag_item(x->grad) == 24.0);
    ck_assert(ag_item(h->grad) == 12.0);
    ck_assert(ag_backward(y, NULL));
    /* the leaf accumulates (exactly twice), the intermediate starts over */
    ck_assert(ag_item(x->grad) == 48.0);
    ck_assert(ag_item(h->grad) == 12.0);
    ck_assert(ag_item(y->grad) == 1.0);
    ck_assert(ag_backward(y, NULL));
    ck_assert(ag_item(x->grad) == 72.0);
}
END_TEST

START_TEST(diamond_graph) {
    /* x -> a = 3x, b = x*x -> c = a * b = 3x^3: dc/dx = 9x^2 = 36 at x = 2 */
    ag_tensor *x = leaf(AG_F64, AG_SHAPE(1), (double[]){2});
    ag_tensor *a = ag_mul_scalar(A, x, 3), *b = ag_mul(A, x, x);
    ag_tensor *c = ag_mul(A, a, b);
    ck_assert_int_eq(ag_graph_size(c), 4);
    ck_assert(ag_backward(c, NULL));
    ck_assert(ag_item(x->grad) == 36.0);
    ck_assert(ag_item(a->grad) == 4.0);  /* b */
    ck_assert(ag_item(b->grad) == 6.0);  /* a */
    /* d = a + b - x = 3x + x^2 - x: 2 + 2x = 6 at x = 2; x feeds three paths */
    ag_tensor *u = leaf(AG_F64, AG_SHAPE(1), (double[]){2});
    ag_tensor *d = ag_sub(A, ag_add(A, ag_mul_scalar(A, u, 3), ag_mul(A, u, u)), u);
    ck_assert(ag_backward(d, NULL));
    ck_assert(ag_item(u->grad) == 8.0 - 2.0);
    /* a wide diamond: 1000 branches x*k, k = 1..1000, summed: 500500 */
    ag_tensor *v = leaf(AG_F64, AG_SHAPE(1), (double[]){1});
    ag_tensor *s = ag_mul_scalar(A, v, 1);
    for (int k = 2; k <= 1000; k++) s = ag_add(A, s, ag_mul_scalar(A, v, k));
    ck_assert(ag_backward(s, NULL));
    ck_assert(ag_item(v->grad) == 500500.0);
}
END_TEST

START_TEST(mixed_dtype_graph) {
    /* a (f32) * b (f64) is f64; each leaf's gradient comes back in its dtype */
    ag_tensor *a = leaf(AG_F32, AG_SHAPE(2), (double[]){1, 2});
    ag_tensor *b = leaf(AG_F64, AG_SHAPE(2), (double[]){3, 4});
    ag_tensor *c = ag_mul(A, a, b);
    ck_assert_int_eq(c->dtype, AG_F64);
    ck_assert(ag_backward(c, ag_from_f64(A, AG_F64, AG_SHAPE(2), (double[]){1, 0.5})));
    ck_assert_int_eq(a->grad->dtype, AG_F32);
    ck_assert_int_eq(b->grad->dtype, AG_F64);
    ck_values(a->grad, 2, ((double[]){3, 2}), 0);  /* g * b */
    ck_values(b->grad, 2, ((double[]){1, 1}), 0);  /* g * a */
    /* bf16 + f32 is f32; the bf16 leaf gets a bf16 gradient:
     * y = h * f with h = 1.5, f = 4: dy/dh = 4, dy/df = 1.5 */
    ag_tensor *h = leaf(AG_BF16, AG_SHAPE(1), (double[]){1.5});
    ag_tensor *f = leaf(AG_F32, AG_SHAPE(1), (double[]){4});
    ag_tensor *y = ag_mul(A, h, f);
    ck_assert_int_eq(y->dtype, AG_F32);
    ck_assert(ag_backward(y, NULL));
    ck_assert_int_eq(h->grad->dtype, AG_BF16);
    ck_assert_int_eq(f->grad->dtype, AG_F32);
    ck_assert(ag_item(h->grad) == 4.0);
    ck_assert(ag_item(f->grad) == 1.5);
    /* through explicit casts: z = cast(a, f64) * b again adds b to a's grad */
    ag_tensor *z = ag_mul(A, ag_cast(A, a, AG_F64), b);
    ck_assert(ag_backward(z, ag_ones(A, AG_F64, AG_SHAPE(2))));
    ck_values(a->grad, 2, ((double[]){6, 6}), 0);
    ck_assert_int_eq(a->grad->dtype, AG_F32);
}
END_TEST

START_TEST(grads_live_in_their_own_arena) {
    ag_arena *P = ag_arena_new(4096);
    ag_tensor *w = ag_ones(P, AG_F32, AG_SHAPE(4));
    ag_set_requires_grad(w, true);
    size_t before = ag_arena_used(P);
    ag_tensor *y = ag_mul_scalar(A, w, 2);
    ck_assert_uint_eq(ag_arena_used(P), before); /* the graph is in A */
    ck_assert(ag_backward(y, ag_ones(A, AG_F32, AG_SHAPE(4))));
    ck_assert_ptr_eq(w->grad->arena, P);
    ck_assert_ptr_eq(y->grad->arena, A);
    ck_values(w->grad, 4, ((double[]){2, 2, 2, 2}), 0);
    /* the graph's arena can go; the leaf keeps its gradient */
    ag_arena_reset(A);
    ck_values(w->grad, 4, ((double[]){2, 2, 2, 2}), 0);
    ag_arena_free(P);
}
END_TEST

static TCase *engine_tcase(void) {
    TCase *tc = tcase_create("engine");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, requires_grad_on_leaves_only);
    tcase_add_test(tc, ops_record_only_when_an_input_requires_grad);
    tcase_add_test(tc, no_grad_mode);
    tcase_add_test(tc, detach_shares_data_without_graph);
    tcase_add_test(tc, backward_implicit_one_for_scalars);
    tcase_add_test(tc, backward_with_explicit_grad_out);
    tcase_add_test(tc, leaf_grads_accumulate_until_zeroed);
    tcase_add_test(tc, tensor_used_twice_gets_both_contributions);
    tcase_add_test(tc, no_gradient_where_none_is_needed);
    tcase_add_test(tc, leaf_hook_sees_final_gradients);
    tcase_add_test(tc, backward_needs_grad_out_for_non_scalars);
    tcase_add_test(tc, deep_chain_of_100k_adds);
    tcase_add_test(tc, deep_chain_of_100k_mixed_ops);
    tcase_add_test(tc, non_leaf_grads_recomputed_each_backward);
    tcase_add_test(tc, diamond_graph);
    tcase_add_test(tc, mixed_dtype_graph);
    tcase_add_test(tc, grads_live_in_their_own_arena);
    return tc;
}

TCase *engine_anomaly_tcase(void);   /* anomaly.c */
TCase *engine_custom_op_tcase(void); /* custom_op.c */
TCase *engine_grad_tcase(void);      /* grad.c */
TCase *engine_second_tcase(void);    /* second.c */
TCase *engine_hvp_tcase(void);       /* hvp.c */

int main(void) {
    return run_check_suite("engine",
                           (check_tcase_fn *const[]){engine_tcase, engine_anomaly_tcase,
                                                      engine_custom_op_tcase, engine_grad_tcase,
                                                      engine_second_tcase, engine_hvp_tcase, NULL});
}
