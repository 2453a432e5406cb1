/* tests/ops/matmul.c — torch.matmul's shape rules with hand-computed values,
 * batched broadcasting against a naive loop written here, hand-computed
 * gradients (including the sum over broadcast batches), dtypes, empty
 * operands, bad input, and the gemm kernels (cblas when built with it, and
 * the portable fallback) against a naive reference. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ops_test.h"

static ag_tensor *f64(ag_arena *A, int ndim, const int64_t *shape, const double *v) {
    return ag_from_f64(A, AG_F64, ndim, shape, v);
}

/* C[...] = A @ B by the definition, for a: [.., M, K] (batch ba) and b:
 * [.., K, N] (batch bb), both given as flat f64 with batch index maps. */
static double naive_entry(const double *a, const double *b, int64_t K, int64_t N, int64_t i,
                          int64_t j) {
    double s = 0;
    for (int64_t k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
    return s;
}

/* ---- the shape rules --------------------------------------------------------------- */

START_TEST(test_2d_2d) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = f64(A, AG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
    ag_tensor *b = f64(A, AG_SHAPE(2, 2), (double[]){5, 6, 7, 8});
    ag_tensor *c = ag_matmul(A, a, b);
    ck_shape(c, 2, ((int64_t[]){2, 2}));
    ck_values(c, 4, ((double[]){19, 22, 43, 50}), 0);
    /* non-square: [2,3] @ [3,1] */
    ag_tensor *p = f64(A, AG_SHAPE(2, 3), (double[]){1, 0, 2, -1, 3, 1});
    ag_tensor *q = f64(A, AG_SHAPE(3, 1), (double[]){3, 2, 1});
    ag_tensor *r = ag_matmul(A, p, q);
    ck_shape(r, 2, ((int64_t[]){2, 1}));
    ck_values(r, 2, ((double[]){5, 4}), 0);
    /* f32 */
    ag_tensor *af = ag_from_array(A, AG_F32, AG_SHAPE(2, 2), (float[]){1, 2, 3, 4});
    ag_tensor *bf = ag_from_array(A, AG_F32, AG_SHAPE(2, 2), (float[]){5, 6, 7, 8});
    ag_tensor *cf = ag_matmul(A, af, bf);
    ck_assert_int_eq(cf->dtype, AG_F32);
    ck_values(cf, 4, ((double[]){19, 22, 43, 50}), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(test_1d_rules) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *u = f64(A, AG_SHAPE(3), (double[]){1, 2, 3});
    ag_tensor *v = f64(A, AG_SHAPE(3), (double[]){4, 5, 6});
    ag_tensor *dot = ag_matmul(A, u, v);
    ck_assert_int_eq(dot->ndim, 0);
    ck_close(ag_item(dot), 32, 0);
    ag_tensor *m = f64(A, AG_SHAPE(2, 2), (double[]){5, 6, 7, 8});
    ag_tensor *row = f64(A, AG_SHAPE(2), (double[]){1, 2});
    /* 1-d @ 2-d: [2] @ [2,2] -> [2] (the prepended 1 is removed) */
    ag_tensor *vm = ag_matmul(A, row, m);
    ck_shape(vm, 1, ((int64_t[]){2}));
    ck_values(vm, 2, ((double[]){19, 22}), 0);
    /* 2-d @ 1-d: [2,2] @ [2] -> [2] (the appended 1 is removed) */
    ag_tensor *a = f64(A, AG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
    ag_tensor *mv = ag_matmul(A, a, f64(A, AG_SHAPE(2), (double[]){5, 6}));
    ck_shape(mv, 1, ((int64_t[]){2}));
    ck_values(mv, 2, ((double[]){17, 39}), 0);
    /* [3] @ [3,1] -> [1]; [1,3] @ [3] -> [1] */
    ag_tensor *col = f64(A, AG_SHAPE(3, 1), (double[]){4, 5, 6});
    ag_tensor *r1 = ag_matmul(A, u, col);
    ck_shape(r1, 1, ((int64_t[]){1}));
    ck_close(ag_item(r1), 32, 0);
    ag_tensor *urow = f64(A, AG_SHAPE(1, 3), (double[]){1, 2, 3});
    ag_tensor *r2 = ag_matmul(A, urow, v);
    ck_shape(r2, 1, ((int64_t[]){1}));
    ck_close(ag_item(r2), 32, 0);
    /* 1-d @ batched: [2] @ [2,2,3] -> [2,3]; batched @ 1-d: [2,2,3] @ [3] -> [2,2] */
    ag_tensor *bt = f64(A, AG_SHAPE(2, 2, 3), (double[]){1, 2, 3, 4, 5, 6, -1, 0, 1, 2, 2, 2});
    ag_tensor *r3 = ag_matmul(A, row, bt);
    ck_shape(r3, 2, ((int64_t[]){2, 3}));
    ck_values(r3, 6, ((double[]){9, 12, 15, 3, 4, 5}), 0);
    ag_tensor *r4 = ag_matmul(A, bt, u);
    ck_shape(r4, 2, ((int64_t[]){2, 2}));
    ck_values(r4, 4, ((double[]){14, 32, 2, 12}), 0);
    ag_arena_free(A);
}
END_TEST

/* Batched operands with broadcast batch dims, against the definition. */
static void check_batched(ag_arena *A, ag_rng *r, int na, const int64_t *sa, int nb,
                          const int64_t *sb, int nc, const int64_t *sc) {
    ag_tensor *a = ag_randn_(A, r, AG_F64, na, sa, 0.0, 1.0);
    ag_tensor *b = ag_randn_(A, r, AG_F64, nb, sb, 0.0, 1.0);
    ag_tensor *c = ag_matmul(A, a, b);
    ck_shape(c, nc, sc);
    const int64_t M = sa[na - 2], K = sa[na - 1], N = sb[nb - 1];
    /* walk the output's batch index by hand and map it into a and b */
    const int nbd = nc - 2;
    int64_t total = 1;
    for (int d = 0; d < nbd; d++) total *= sc[d];
    for (int64_t t = 0; t < total; t++) {
        int64_t idx[AG_MAX_DIMS], rem = t;
        for (int d = nbd - 1; d >= 0; d--) idx[d] = rem % sc[d], rem /= sc[d];
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < na - 2; d++) {
            const int64_t i = idx[nbd - (na - 2) + d];
            oa = oa * sa[d] + (sa[d] == 1 ? 0 : i);
        }
        for (int d = 0; d < nb - 2; d++) {
            const int64_t i = idx[nbd - (nb - 2) + d];
            ob = ob * sb[d] + (sb[d] == 1 ? 0 : i);
        }
        const double *pa = (const double *)a->data + oa * M * K;
        const double *pb = (const double *)b->data + ob * K * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                ck_close(ag_get_flat(c, (t * M + i) * N + j), naive_entry(pa, pb, K, N, i, j),
                         1e-12);
    }
}

START_TEST(test_batched_broadcast) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 11);
    check_batched(A, &r, AG_SHAPE(2, 1, 3, 4), AG_SHAPE(5, 4, 6), 4,
                  (const int64_t[]){2, 5, 3, 6});
    check_batched(A, &r, AG_SHAPE(3, 2, 4), AG_SHAPE(3, 4, 5), 3, (const int64_t[]){3, 2, 5});
    check_batched(A, &r, AG_SHAPE(3, 2, 4), AG_SHAPE(4, 5), 3, (const int64_t[]){3, 2, 5});
    check_batched(A, &r, AG_SHAPE(2, 4), AG_SHAPE(3, 4, 5), 3, (const int64_t[]){3, 2, 5});
    check_batched(A, &r, AG_SHAPE(1, 2, 4), AG_SHAPE(3, 1, 4, 5), 4,
                  (const int64_t[]){3, 1, 2, 5});
    check_batched(A, &r, AG_SHAPE(2, 3, 1, 2, 4), AG_SHAPE(3, 1, 4, 2), 5,
                  (const int64_t[]){2, 3, 1, 2, 2});
    /* the fold of [B,T,K] @ [K,N] into one gemm, with a batch of size-1 dims on b */
    check_batched(A, &r, AG_SHAPE(4, 3, 5, 6), AG_SHAPE(1, 1, 6, 2), 4,
                  (const int64_t[]){4, 3, 5, 2});
    ag_arena_free(A);
}
END_TEST

/* Mixed float dtypes promote; bf16 computes in f32 and returns bf16. */
START_TEST(test_dtypes) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = ag_from_array(A, AG_F32, AG_SHAPE(2, 2), (float[]){1, 2, 3, 4});
    ag_tensor *b = f64(A, AG_SHAPE(2, 2), (double[]){5, 6, 7, 8});
    ag_tensor *c = ag_matmul(A, a, b);
    ck_assert_int_eq(c->dtype, AG_F64);
    ck_values(c, 4, ((double[]){19, 22, 43, 50}), 0);
    ag_tensor *ah = ag_cast(A, a, AG_BF16), *bh = ag_cast(A, b, AG_BF16);
    ag_set_requires_grad(ah, true);
    ag_tensor *ch = ag_matmul(A, ah, bh);
    ck_assert_int_eq(ch->dtype, AG_BF16);
    ck_values(ch, 4, ((double[]){19, 22, 43, 50}), 0);
    ck_assert(ag_backward(ag_sum(A, ch, 0, NULL, false), NULL));
    ck_assert_int_eq(ah->grad->dtype, AG_BF16);
    ck_values(ah->grad, 4, ((double[]){11, 15, 11, 15}), 0);
    ag_tensor *mixed = ag_matmul(A, ah, a);
    ck_assert_int_eq(mixed->dtype, AG_F32);
    ag_arena_free(A);
}
END_TEST

START_TEST(test_empty) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *c = ag_matmul(A, ag_zeros(A, AG_F64, AG_SHAPE(0, 3)), ag_ones(A, AG_F64, AG_SHAPE(3, 4)));
    ck_shape(c, 2, ((int64_t[]){0, 4}));
    /* K = 0: a sum of nothing is 0 */
    ag_tensor *a = ag_ones(A, AG_F64, AG_SHAPE(2, 0));
    ag_set_requires_grad(a, true);
    ag_tensor *z = ag_matmul(A, a, ag_ones(A, AG_F32, AG_SHAPE(0, 3)));
    ck_shape(z, 2, ((int64_t[]){2, 3}));
    ck_values(z, 6, ((double[]){0, 0, 0, 0, 0, 0}), 0);
    ck_assert(ag_backward(ag_sum(A, z, 0, NULL, false), NULL));
    ck_assert_int_eq(a->grad->numel, 0);
    ag_tensor *e = ag_matmul(A, ag_ones(A, AG_F64, AG_SHAPE(0)), ag_ones(A, AG_F64, AG_SHAPE(0)));
    ck_assert_int_eq(e->ndim, 0);
    ck_close(ag_item(e), 0, 0);
    ag_tensor *eb = ag_matmul(A, ag_ones(A, AG_F64, AG_SHAPE(0, 2, 3)), ag_ones(A, AG_F64, AG_SHAPE(3, 4)));
    ck_shape(eb, 3, ((int64_t[]){0, 2, 4}));
    ag_arena_free(A);
}
END_TEST

/* ---- gradients by hand ------------------------------------------------------------------ */

START_TEST(test_gradients) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *a = f64(A, AG_SHAPE(2, 2), (double[]){1, 2, 3, 4});
    ag_tensor *b = f64(A, AG_SHAPE(2, 2), (double[]){5, 6, 7, 8});
    ag_set_requires_grad(a, true);
    ag_set_requires_grad(b, true);
    /* d sum(A B) / dA = ones @ B^T, / dB = A^T @ ones */
    ck_assert(ag_backward(ag_sum(A, ag_matmul(A, a, b), 0, NULL, false), NULL));
    ck_values(a->grad, 4, ((double[]){11, 15, 11, 15}), 0);
    ck_values(b->grad, 4, ((double[]){4, 4, 6, 6}), 0);
    ag_zero_grad(a);
    ag_zero_grad(b);
    /* dot: d(u.v)/du = v, d/dv = u, times the incoming 3 */
    ag_tensor *u = f64(A, AG_SHAPE(3), (double[]){1, 2, 3});
    ag_tensor *v = f64(A, AG_SHAPE(3), (double[]){4, 5, 6});
    ag_set_requires_grad(u, true);
    ag_set_requires_grad(v, true);
    ck_assert(ag_backward(ag_matmul(A, u, v), ag_scalar(A, AG_F64, 3.0)));
    ck_values(u->grad, 3, ((double[]){12, 15, 18}), 0);
    ck_values(v->grad, 3, ((double[]){3, 6, 9}), 0);
    /* matrix @ vector with grad g = [1, -1]: dA[i][k] = g[i] v[k], dv = A^T g */
    ag_tensor *w = f64(A, AG_SHAPE(2), (double[]){5, 6});
    ag_set_requires_grad(w, true);
    ck_assert(ag_backward(ag_matmul(A, a, w), f64(A, AG_SHAPE(2), (double[]){1, -1})));
    ck_values(a->grad, 4, ((double[]){5, 6, -5, -6}), 0);
    ck_values(w->grad, 2, ((double[]){-2, -2}), 0);
    ag_zero_grad(a);
    /* b broadcast over a batch of 2: dB = sum over batches of A_t^T @ ones.
     * A = [[[1,2]], [[3,4]]] ([2,1,2]), B [2,1] -> C [2,1,1]:
     * dB = [1,2]^T + [3,4]^T = [4, 6]; dA_t = B^T = [b0, b1] each. */
    ag_tensor *x = f64(A, AG_SHAPE(2, 1, 2), (double[]){1, 2, 3, 4});
    ag_tensor *y = f64(A, AG_SHAPE(2, 1), (double[]){7, 9});
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(y, true);
    ag_tensor *c = ag_matmul(A, x, y);
    ck_shape(c, 3, ((int64_t[]){2, 1, 1}));
    ck_values(c, 2, ((double[]){25, 57}), 0);
    ck_assert(ag_backward(ag_sum(A, c, 0, NULL, false), NULL));
    ck_values(y->grad, 2, ((double[]){4, 6}), 0);
    ck_values(x->grad, 4, ((double[]){7, 9, 7, 9}), 0);
    /* a broadcast against a batched b ([1,2] @ [3,2,1], a not folded) */
    ag_tensor *p = f64(A, AG_SHAPE(1, 2), (double[]){1, 1});
    ag_tensor *q = f64(A, AG_SHAPE(3, 2, 1), (double[]){1, 2, 3, 4, 5, 6});
    ag_set_requires_grad(p, true);
    ck_assert(ag_backward(ag_sum(A, ag_matmul(A, p, q), 0, NULL, false), NULL));
    ck_values(p->grad, 2, ((double[]){9, 12}), 0); /* 1+3+5, 2+4+6 */
    ag_arena_free(A);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------- */

START_TEST(test_errors) {
    ag_arena *A = ag_arena_new(0);
    expect_errors();
    ag_clear_error();
    ag_tensor *a = ag_zeros(A, AG_F32, AG_SHAPE(2, 3)), *b = ag_zeros(A, AG_F32, AG_SHAPE(4, 5));
    ck_assert_ptr_null(ag_matmul(A, a, b));
    ck_assert_msg(strstr(ag_last_error(), "ag: matmul: cannot multiply [2,3] by [4,5]: inner "
                                          "dimensions 3 and 4 differ (matmul.c:") != NULL,
                  "got \"%s\"", ag_last_error());
    ag_clear_error();
    ck_assert_ptr_null(ag_matmul(A, ag_zeros(A, AG_F32, AG_SHAPE(3)), ag_zeros(A, AG_F32, AG_SHAPE(4))));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: matmul: cannot multiply [3] by [4]"));
    ag_clear_error();
    ck_assert_ptr_null(ag_matmul(A, ag_zeros(A, AG_F32, AG_SHAPE(2, 3, 4)),
                                 ag_zeros(A, AG_F32, AG_SHAPE(3, 4, 5))));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: matmul:"));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "[2,3,4] by [3,4,5]"));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "batch"));
    ag_clear_error();
    ck_assert_ptr_null(ag_matmul(A, ag_scalar(A, AG_F32, 2), a));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: matmul: cannot multiply [] by [2,3]"));
    ag_clear_error();
    ck_assert_ptr_null(ag_matmul(A, ag_zeros(A, AG_I32, AG_SHAPE(3, 2)), a));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: matmul:"));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "i32"));
    ag_clear_error();
    ck_assert_ptr_null(ag_matmul(A, NULL, a));
    ck_assert_ptr_null(ag_matmul(A, a, NULL));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(A);
}
END_TEST

/* ---- the gemm kernels --------------------------------------------------------------------- */

/* C = alpha op(A) op(B) + beta C0 by the definition, in long double. */
static void gemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                     const double *Av, int64_t lda, const double *Bv, int64_t ldb, double beta,
                     const double *C0, double *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            long double s = 0;
            for (int64_t k = 0; k < K; k++) {
                const double a = ta ? Av[k * lda + i] : Av[i * lda + k];
                const double b = tb ? Bv[j * ldb + k] : Bv[k * ldb + j];
                s += (long double)a * b;
            }
            C[i * ldc + j] = (double)(alpha * s + (beta == 0 ? 0 : beta * C0[i * ldc + j]));
        }
}

/* Runs ag__gemm and ag__gemm_fallback on the same random operands (as f32 or
 * f64), with leading dims wider than the matrices, and compares both with the
 * reference and with each other. */
static void check_gemm(ag_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                       double alpha, double beta, double tol) {
    ag_rng r;
    ag_rng_seed(&r, (uint64_t)(M * 1000 + N * 10 + K + ta * 2 + tb));
    const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    const int64_t lda = ac + 3, ldb = bc + 1, ldc = N + 2;
    const size_t na = (size_t)(ar * lda), nb = (size_t)(br * ldb), nc = (size_t)(M * ldc);
    double *Ad = malloc(na * sizeof *Ad), *Bd = malloc(nb * sizeof *Bd);
    double *C0 = malloc(nc * sizeof *C0), *Cr = malloc(nc * sizeof *Cr);
    for (size_t i = 0; i < na; i++) Ad[i] = ag_rng_normal(&r);
    for (size_t i = 0; i < nb; i++) Bd[i] = ag_rng_normal(&r);
    for (size_t i = 0; i < nc; i++) C0[i] = ag_rng_normal(&r);
    const size_t es = ag_dtype_size(dt);
    void *Ax = malloc(na * es), *Bx = malloc(nb * es), *C1 = malloc(nc * es), *C2 = malloc(nc * es);
    if (dt == AG_F32) { /* round the operands first so the reference sees the same numbers */
        for (size_t i = 0; i < na; i++) Ad[i] = ((float *)Ax)[i] = (float)Ad[i];
        for (size_t i = 0; i < nb; i++) Bd[i] = ((float *)Bx)[i] = (float)Bd[i];
        for (size_t i = 0; i < nc; i++) C0[i] = ((float *)C1)[i] = ((float *)C2)[i] = (float)C0[i];
    } else {
        memcpy(Ax, Ad, na * es);
        memcpy(Bx, Bd, nb * es);
        memcpy(C1, C0, nc * es);
        memcpy(C2, C0, nc * es);
    }
    gemm_ref(ta, tb, M, N, K, alpha, Ad, lda, Bd, ldb, beta, C0, Cr, ldc);
    ag__gemm(ta, tb, M, N, K, alpha, Ax, lda, Bx, ldb, beta, C1, ldc, dt);
    ag__gemm_fallback(ta, tb, M, N, K, alpha, Ax, lda, Bx, ldb, beta, C2, ldc, dt);
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < ldc; j++) {
            const size_t p = (size_t)(i * ldc + j);
            const double c1 = dt == AG_F32 ? ((float *)C1)[p] : ((double *)C1)[p];
            const double c2 = dt == AG_F32 ? ((float *)C2)[p] : ((double *)C2)[p];
            if (j >= N) { /* padding between rows is untouched */
                ck_assert_msg(c1 == C0[p] && c2 == C0[p], "padding at %lld,%lld written",
                              (long long)i, (long long)j);
                continue;
            }
            ck_assert_msg(fabs(c1 - Cr[p]) <= tol * (1 + fabs(Cr[p])),
                          "gemm %s ta=%d tb=%d [%lld,%lld]: %g vs reference %g",
                          ag_dtype_name(dt), ta, tb, (long long)i, (long long)j, c1, Cr[p]);
            ck_assert_msg(fabs(c2 - Cr[p]) <= tol * (1 + fabs(Cr[p])),
                          "fallback %s ta=%d tb=%d [%lld,%lld]: %g vs reference %g",
                          ag_dtype_name(dt), ta, tb, (long long)i, (long long)j, c2, Cr[p]);
            ck_assert_msg(fabs(c1 - c2) <= tol * (1 + fabs(Cr[p])), "gemm and fallback differ");
        }
    }
    free(Ad), free(Bd), free(C0), free(Cr), free(Ax), free(Bx), free(C1), free(C2);
}

/* 37 x 53 x 29 (not multiples of any block or vector width), every transpose
 * combination, f32 and f64, beta 0 and beta != 0 */
START_TEST(test_gemm_kernels_agree) {
    for (int t = 0; t < 4; t++) {
        const bool ta = t & 1, tb = t & 2;
        check_gemm(AG_F32, ta, tb, 37, 53, 29, 1.0, 0.0, 1e-5);
        check_gemm(AG_F64, ta, tb, 37, 53, 29, 1.0, 0.0, 1e-13);
        check_gemm(AG_F32, ta, tb, 37, 53, 29, 0.5, 2.0, 1e-5);
        check_gemm(AG_F64, ta, tb, 37, 53, 29, -1.5, 1.0, 1e-13);
    }
}
END_TEST

/* Larger than one block in every direction (and the threaded path), plus
 * degenerate sizes. */
START_TEST(test_gemm_kernels_large_and_small) {
    for (int t = 0; t < 4; t++) {
        const bool ta = t & 1, tb = t & 2;
        check_gemm(AG_F64, ta, tb, 131, 270, 300, 1.0, 0.0, 1e-12);
        check_gemm(AG_F32, ta, tb, 67, 129, 257, 1.0, 1.0, 1e-4);
        check_gemm(AG_F64, ta, tb, 1, 1, 1, 1.0, 0.0, 1e-15);
        check_gemm(AG_F64, ta, tb, 5, 1, 7, 2.0, 0.0, 1e-14);
        check_gemm(AG_F32, ta, tb, 1, 9, 3, 1.0, 1.0, 1e-6);
        check_gemm(AG_F64, ta, tb, 3, 4, 0, 1.0, 0.5, 0); /* K = 0: C = beta C */
    }
}
END_TEST

/* ag__gemm sends products of at most 8 multiply-adds to the fallback and
 * larger ones to cblas: both sides of that line, every transpose, against
 * the reference (a product sent to the wrong kernel with its flags or
 * strides mixed up gives wrong numbers). */
START_TEST(test_gemm_tiny_threshold) {
    for (int t = 0; t < 4; t++) {
        const bool ta = t & 1, tb = t & 2;
        check_gemm(AG_F64, ta, tb, 2, 2, 2, 1.0, 0.0, 1e-15);  /* 8: fallback */
        check_gemm(AG_F32, ta, tb, 2, 2, 2, 0.5, 1.0, 1e-6);
        check_gemm(AG_F64, ta, tb, 2, 3, 1, -1.0, 2.0, 1e-15); /* 6: fallback */
        check_gemm(AG_F64, ta, tb, 3, 3, 1, 1.0, 0.0, 1e-15);  /* 9: cblas */
        check_gemm(AG_F32, ta, tb, 2, 2, 3, 0.5, 1.0, 1e-6);   /* 12: cblas */
    }
}
END_TEST

TCase *ops_matmul_tcase(void) {
    TCase *tc = tcase_create("matmul");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_2d_2d);
    tcase_add_test(tc, test_1d_rules);
    tcase_add_test(tc, test_batched_broadcast);
    tcase_add_test(tc, test_dtypes);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_gradients);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_gemm_kernels_agree);
    tcase_add_test(tc, test_gemm_kernels_large_and_small);
    tcase_add_test(tc, test_gemm_tiny_threshold);
    return tc;
}
