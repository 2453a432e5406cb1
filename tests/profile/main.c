/* tests/profile/main.c — ag/profile.h: calls per op kind for a known graph,
 * forward and backward; nothing recorded without an active profile; an op
 * run inside another op's interval not counted twice; the gemm trace of a
 * matmul's forward and backward against the calls derived by hand from
 * core/ops_matmul.c; the replay; the ops of a recorded backward counted as
 * its nodes' backward; begin and end misused. No assertion is
 * about speed: only counts, the trace, and that the times are not negative
 * and add up to no more than the wall time they were taken in. */
#include <math.h>
#include <string.h>
#include <time.h>

#include <ag/ag.h>

#include "../check_main.h"

static ag_arena *A;

static void setup(void) { A = ag_arena_new(0); }
static void teardown(void) { ag_arena_free(A); }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The entry of kind name in p, or NULL. */
static const ag_profile_op *find(const ag_profile *p, const char *name) {
    int n;
    const ag_profile_op *ops = ag_profile_ops(p, &n);
    for (int i = 0; i < n; i++)
        if (!strcmp(ops[i].name, name)) return &ops[i];
    return NULL;
}

static ag_tensor *leaf(int64_t r, int64_t c, double v) {
    ag_tensor *t = ag_full(A, AG_F64, AG_SHAPE(r, c), v);
    ag_set_requires_grad(t, true);
    return t;
}

/* sum(gelu(x @ w1) @ w2): two matmuls, one gelu, one sum. */
static ag_tensor *two_matmuls(void) {
    ag_tensor *x = leaf(2, 3, 0.5), *w1 = leaf(3, 4, 0.25), *w2 = leaf(4, 2, -0.5);
    return ag_sum(A, ag_matmul(A, ag_gelu(A, ag_matmul(A, x, w1)), w2), 0, NULL, false);
}

START_TEST(counts_per_kind) {
    ag_profile *p = ag_profile_new(AG_PROFILE_OPS);
    ck_assert_ptr_nonnull(p);
    const double t0 = now();
    ck_assert(ag_profile_begin(p));
    ag_tensor *s = two_matmuls();
    ck_assert(ag_backward(s, NULL));
    ck_assert(ag_profile_end(p));
    const double wall = now() - t0;
    const char *names[] = {"matmul", "gelu", "sum"};
    const int64_t calls[] = {2, 1, 1};
    int n;
    const ag_profile_op *ops = ag_profile_ops(p, &n);
    ck_assert_int_eq(n, 3); /* the gradient buffers and backward kernels are no forward ops */
    double fwd = 0, bwd = 0;
    for (int i = 0; i < 3; i++) {
        const ag_profile_op *k = find(p, names[i]);
        ck_assert_msg(k != NULL, "no entry for %s", names[i]);
        ck_assert_int_eq(k->fwd_calls, calls[i]);
        ck_assert_int_eq(k->bwd_calls, calls[i]);
        ck_assert(k->fwd_seconds >= 0 && k->bwd_seconds >= 0);
        fwd += ops[i].fwd_seconds;
        bwd += ops[i].bwd_seconds;
    }
    ck_assert_double_le(fwd + bwd, wall);
    /* a second pair adds up; ops after end are not counted */
    ck_assert(ag_profile_begin(p));
    (void)ag_gelu(A, ag_full(A, AG_F64, AG_SHAPE(3), 1.0));
    ck_assert(ag_profile_end(p));
    (void)ag_gelu(A, ag_full(A, AG_F64, AG_SHAPE(3), 1.0));
    ck_assert_int_eq(find(p, "gelu")->fwd_calls, 2);
    ck_assert_int_eq(find(p, "gelu")->bwd_calls, 1);
    ag_profile_clear(p);
    ag_profile_ops(p, &n);
    ck_assert_int_eq(n, 0);
    ag_profile_free(p);
}
END_TEST

/* A recorded backward runs each node's vjp, made of ops (matmul's: two
 * matmuls on transposes): they are the node's backward time, not forward
 * calls. */
START_TEST(vjp_ops_are_backward) {
    ag_profile *p = ag_profile_new(AG_PROFILE_OPS);
    ag_tensor *s = two_matmuls();
    ck_assert(ag_profile_begin(p));
    ck_assert(ag_backward_create_graph(s, NULL));
    ck_assert(ag_profile_end(p));
    int n;
    const ag_profile_op *ops = ag_profile_ops(p, &n);
    for (int i = 0; i < n; i++) ck_assert_int_eq(ops[i].fwd_calls, 0);
    ck_assert_int_eq(find(p, "matmul")->bwd_calls, 2);
    ck_assert_int_eq(find(p, "gelu")->bwd_calls, 1);
    ck_assert_int_eq(find(p, "sum")->bwd_calls, 1);
    ag_profile_free(p);
}
END_TEST

START_TEST(nothing_when_inactive) {
    ag_profile *p = ag_profile_new(AG_PROFILE_OPS | AG_PROFILE_GEMMS);
    ag_tensor *s = two_matmuls();
    ck_assert(ag_backward(s, NULL));
    int n;
    int64_t ng;
    ag_profile_ops(p, &n);
    ag_profile_gemms(p, &ng);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(ng, 0);
    /* the trace only with AG_PROFILE_GEMMS, the kinds only with AG_PROFILE_OPS */
    ag_profile *g = ag_profile_new(AG_PROFILE_GEMMS);
    ck_assert(ag_profile_begin(g));
    s = two_matmuls();
    ck_assert(ag_backward(s, NULL));
    ck_assert(ag_profile_end(g));
    ag_profile_ops(g, &n);
    ag_profile_gemms(g, &ng);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(ng, 6); /* 2 forward, 2 per backward */
    ag_profile_free(g);
    ag_profile_free(p);
}
END_TEST

/* ---- an op inside another op's interval ---------------------------------------- */

static void outer_backward(ag_tensor *out) { (void)out; }
static const ag_op OUTER = {"outer", outer_backward, NULL};

/* outer(x) = exp(x), computed by ag_exp between ag_op_result and
 * ag_op_record: exp's interval lies inside outer's. */
static ag_tensor *outer(ag_tensor *x) {
    ag_tensor *y = ag_op_result(A, "outer", x->dtype, x->ndim, x->shape);
    ag_tensor *e = ag_exp(A, x);
    memcpy(y->data, e->data, (size_t)x->numel * sizeof(double));
    return ag_op_record(y, &OUTER, 1, &x);
}

START_TEST(nested_counted_once) {
    ag_tensor *x = ag_full(A, AG_F64, AG_SHAPE(1 << 20), 0.5);
    ag_profile *p = ag_profile_new(AG_PROFILE_OPS);
    const double t0 = now();
    ck_assert(ag_profile_begin(p));
    ck_assert_ptr_nonnull(outer(x));
    ck_assert(ag_profile_end(p));
    const double wall = now() - t0;
    const ag_profile_op *o = find(p, "outer"), *e = find(p, "exp");
    ck_assert(o && e);
    ck_assert_int_eq(o->fwd_calls, 1);
    ck_assert_int_eq(e->fwd_calls, 1);
    /* charged twice, the exp of 2^20 elements would be in both: about
     * twice the wall time */
    ck_assert(o->fwd_seconds >= 0 && e->fwd_seconds > 0);
    ck_assert_double_le(o->fwd_seconds + e->fwd_seconds, wall);
    ag_profile_free(p);
}
END_TEST

/* ---- the gemm trace ----------------------------------------------------------------- */

static void expect_call(const ag_gemm_call *c, bool ta, bool tb, const int64_t v[6]) {
    ck_assert_msg(c->ta == ta && c->tb == tb, "ta %d tb %d, expected %d %d", c->ta, c->tb, ta, tb);
    const int64_t got[6] = {c->M, c->N, c->K, c->lda, c->ldb, c->ldc};
    for (int i = 0; i < 6; i++)
        ck_assert_msg(got[i] == v[i], "field %d (M N K lda ldb ldc): %lld, expected %lld", i,
                      (long long)got[i], (long long)v[i]);
    ck_assert_int_eq(c->dtype, AG_F32);
    ck_assert_double_eq(c->alpha, 1.0);
    ck_assert_double_eq(c->beta, 0.0); /* fresh gradient buffers are stored into */
}

/* [2,3] @ [3,4], both requiring gradients, backward from ones [2,4]:
 *   forward  C[2,4] = A[2,3] B[3,4]:      no transposes, M 2, N 4, K 3,
 *            lda 3, ldb 4, ldc 4
 *   dA[2,3] = dC[2,4] B^T (B stored [3,4]): tb, M 2, N 3, K 4, lda 4, ldb 4, ldc 3
 *   dB[3,4] = A^T dC (A stored [2,3]):    ta, M 3, N 4, K 2, lda 3, ldb 4, ldc 4 */
START_TEST(gemm_trace) {
    ag_tensor *a = ag_full(A, AG_F32, AG_SHAPE(2, 3), 1.0);
    ag_tensor *b = ag_full(A, AG_F32, AG_SHAPE(3, 4), 2.0);
    ag_set_requires_grad(a, true);
    ag_set_requires_grad(b, true);
    ag_profile *p = ag_profile_new(AG_PROFILE_GEMMS);
    ck_assert(ag_profile_begin(p));
    ag_tensor *c = ag_matmul(A, a, b);
    ck_assert(ag_backward(c, ag_ones(A, AG_F32, AG_SHAPE(2, 4))));
    ck_assert(ag_profile_end(p));
    int64_t n;
    const ag_gemm_call *g = ag_profile_gemms(p, &n);
    ck_assert_int_eq(n, 3);
    expect_call(&g[0], false, false, (const int64_t[]){2, 4, 3, 3, 4, 4});
    expect_call(&g[1], false, true, (const int64_t[]){2, 3, 4, 4, 4, 3});
    expect_call(&g[2], true, false, (const int64_t[]){3, 4, 2, 3, 4, 4});
    /* the products are what they compute: dA = 1 * sum of B's row = 8 */
    ck_assert_float_eq(((float *)a->grad->data)[0], 8.0f);
    ck_assert_double_gt(ag_profile_gemm_replay(p, 3), 0.0);
    /* the replay records nothing, even in an active profile */
    ck_assert(ag_profile_begin(p));
    ck_assert_double_gt(ag_profile_gemm_replay(p, 1), 0.0);
    ck_assert(ag_profile_end(p));
    ag_profile_gemms(p, &n);
    ck_assert_int_eq(n, 3);
    ag_profile_clear(p);
    ck_assert_double_eq(ag_profile_gemm_replay(p, 3), 0.0);
    ag_profile_free(p);
}
END_TEST

/* With AG_PROFILE_OPS too, each product names the op kind that made it,
 * forward or backward: matmul's two (its forward and dA; b needs no
 * gradient) and linear's three (its forward, dx and dW; no bias), none
 * from the add between them. The replay then splits
 * its total over the kinds: matmul's and linear's shares are positive, the
 * add's 0, and they add up to the total. Without AG_PROFILE_OPS no product
 * is named. */
START_TEST(gemm_kinds) {
    ag_tensor *a = ag_full(A, AG_F32, AG_SHAPE(2, 3), 1.0);
    ag_tensor *b = ag_full(A, AG_F32, AG_SHAPE(3, 4), 2.0);
    ag_tensor *w = ag_full(A, AG_F32, AG_SHAPE(5, 4), 0.5);
    ag_set_requires_grad(a, true);
    ag_set_requires_grad(w, true);
    for (int with_ops = 0; with_ops < 2; with_ops++) {
        ag_profile *p = ag_profile_new(AG_PROFILE_GEMMS | (with_ops ? AG_PROFILE_OPS : 0));
        ck_assert(ag_profile_begin(p));
        ag_tensor *h = ag_add_scalar(A, ag_matmul(A, a, b), 1.0);
        ck_assert(ag_backward(ag_linear(A, h, w, NULL), ag_ones(A, AG_F32, AG_SHAPE(2, 5))));
        ck_assert(ag_profile_end(p));
        int64_t n;
        const ag_gemm_call *g = ag_profile_gemms(p, &n);
        ck_assert_int_eq(n, 5);
        /* forward: matmul, linear; backward in reverse: linear's two, matmul's one */
        const char *want[5] = {"matmul", "linear", "linear", "linear", "matmul"};
        for (int i = 0; i < 5; i++) {
            if (with_ops)
                ck_assert_str_eq(g[i].op, want[i]);
            else
                ck_assert_ptr_null(g[i].op);
        }
        const double total = ag_profile_gemm_replay(p, 3);
        ck_assert_double_gt(total, 0.0);
        int nk;
        const ag_profile_op *k = ag_profile_ops(p, &nk);
        double sum = 0;
        int named = 0;
        for (int i = 0; i < nk; i++) {
            sum += k[i].gemm_seconds;
            const bool makes = !strcmp(k[i].name, "matmul") || !strcmp(k[i].name, "linear");
            if (makes) ck_assert_double_gt(k[i].gemm_seconds, 0.0);
            else ck_assert_double_eq(k[i].gemm_seconds, 0.0);
            named += makes;
        }
        ck_assert_int_eq(named, with_ops ? 2 : 0);
        if (with_ops) ck_assert_double_le(fabs(sum - total), 1e-9 * total);
        ag_profile_free(p);
    }
}
END_TEST

/* ---- misuse ------------------------------------------------------------------------ */

static int reports;
static void count_report(const char *msg, void *userdata) {
    (void)msg;
    (void)userdata;
    reports++;
}

START_TEST(misuse_reported) {
    ag_set_thread_error_handler(count_report, NULL);
    reports = 0;
    ck_assert_ptr_null(ag_profile_new(0));
    ck_assert_ptr_null(ag_profile_new(8));
    ag_profile *p = ag_profile_new(AG_PROFILE_OPS), *q = ag_profile_new(AG_PROFILE_OPS);
    ck_assert(!ag_profile_end(p));              /* not begun */
    ck_assert(ag_profile_begin(p));
    ck_assert(!ag_profile_begin(p));            /* twice */
    ck_assert(!ag_profile_begin(q));            /* another while p is active */
    ck_assert(!ag_profile_end(q));
    ck_assert_double_eq(ag_profile_gemm_replay(p, 1), -1); /* no trace */
    ck_assert_int_eq(reports, 7);
    /* the count pointers may be NULL: the arrays alone, nothing written */
    ck_assert_ptr_eq(ag_profile_ops(p, NULL), ag_profile_ops(p, &(int){0}));
    ck_assert_ptr_null(ag_profile_gemms(NULL, NULL));
    ck_assert_int_eq(reports, 7);
    ag_profile_free(p); /* ends it */
    ck_assert(ag_profile_begin(q));
    ck_assert(ag_profile_end(q));
    ag_profile_free(q);
    ck_assert_int_eq(reports, 7);
    ag_set_thread_error_handler(NULL, NULL);
}
END_TEST

static TCase *profile_tcase(void) {
    TCase *tc = tcase_create("profile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, counts_per_kind);
    tcase_add_test(tc, vjp_ops_are_backward);
    tcase_add_test(tc, nothing_when_inactive);
    tcase_add_test(tc, nested_counted_once);
    tcase_add_test(tc, gemm_trace);
    tcase_add_test(tc, gemm_kinds);
    tcase_add_test(tc, misuse_reported);
    return tc;
}

int main(void) {
    return run_check_suite("profile", (check_tcase_fn *const[]){profile_tcase, NULL});
}
