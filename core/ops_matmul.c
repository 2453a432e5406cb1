/* core/ops_matmul.c — torch.matmul, on top of one row-major gemm.
 *
 * Shapes (torch.matmul's rules):
 *   [K] @ [K]                 -> []          dot product
 *   [M,K] @ [K,N]             -> [M,N]
 *   [K] @ [...,K,N]           -> [...,N]     a [1,K] row whose 1 is removed
 *   [...,M,K] @ [K]           -> [...,M]     a [K,1] column whose 1 is removed
 *   [...a,M,K] @ [...b,K,N]   -> [broadcast(...a, ...b), M, N]
 * A 1-d operand has the same layout as its [1,K] / [K,1] matrix, so nothing
 * is copied: every batch is a pointer offset into a contiguous operand (0
 * along a broadcast batch dim), and transposes are gemm flags.
 *
 * Backward, per output batch (accumulating with beta = 1, which also sums
 * over the batches an operand was broadcast across; with beta = 0 into a
 * fresh buffer when each element is written once):
 *   dA[batch of a] += dC @ B^T        gemm(no, trans)
 *   dB[batch of b] += A^T @ dC        gemm(trans, no)
 * The vjp (for a backward with create_graph) is the same two products as
 * recorded ops: matmul, transpose, and unsqueeze/squeeze for 1-d operands.
 *
 * gemm goes to cblas when AG_HAVE_CBLAS is defined (OpenBLAS), except products
 * of at most GEMM_TINY multiply-adds, otherwise to ag__gemm_fallback:
 * cache-blocked loops with a 4-row register block whose inner loop
 * vectorizes, threaded over row blocks (ag__parallel_for).
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef AG_HAVE_CBLAS
#include <cblas.h>
#endif

#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- the portable gemm -------------------------------------------------------- */

/* Block sizes: a KC x NC panel of op(B) (64 KiB in f32) stays in L2 while the
 * rows of a row block stream past it; 4 rows of C times NC stay in L1. */
enum { MC = 64, KC = 128, NC = 128 };

/* op(A)[i][k] */
#define OPA(i, k) (ta ? A[(k) * lda + (i)] : A[(i) * lda + (k)])

/* C[i0..i1) = alpha * op(A) op(B) + beta * C over those rows. */
static void gemm_rows(bool ta, bool tb, int64_t i0, int64_t i1, int64_t N, int64_t K,
                      double alpha, const void *A_, int64_t lda, const void *B_, int64_t ldb,
                      double beta, void *C_, int64_t ldc, ag_dtype dt, void *pack) {
    AG_DISPATCH(dt, T, {
        const T *A = A_, *B = B_;
        T *C = C_;
        const T al = (T)alpha;
        for (int64_t i = i0; i < i1; i++) { /* beta 0 overwrites (NaN in C does not leak) */
            T *c = C + i * ldc;
            if (beta == 0) {
                for (int64_t j = 0; j < N; j++) c[j] = 0;
            } else if (beta != 1) {
                for (int64_t j = 0; j < N; j++) c[j] *= (T)beta;
            }
        }
        T *bt = pack;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            const int64_t kc = K - k0 < KC ? K - k0 : KC;
            for (int64_t j0 = 0; j0 < N; j0 += NC) {
                const int64_t nc = N - j0 < NC ? N - j0 : NC;
                /* the op(B) panel rows k0.., columns j0..: read in place when
                 * B is not transposed, else gathered into bt by index math */
                const T *bp;
                int64_t bld;
                if (tb) {
                    for (int64_t kk = 0; kk < kc; kk++)
                        for (int64_t jj = 0; jj < nc; jj++)
                            bt[kk * nc + jj] = B[(j0 + jj) * ldb + (k0 + kk)];
                    bp = bt, bld = nc;
                } else {
                    bp = B + k0 * ldb + j0, bld = ldb;
                }
                int64_t i = i0;
                for (; i + 4 <= i1; i += 4) {
                    T *restrict c0 = C + i * ldc + j0, *restrict c1 = c0 + ldc;
                    T *restrict c2 = c1 + ldc, *restrict c3 = c2 + ldc;
                    for (int64_t kk = 0; kk < kc; kk++) {
                        const T a0 = al * OPA(i, k0 + kk), a1 = al * OPA(i + 1, k0 + kk);
                        const T a2 = al * OPA(i + 2, k0 + kk), a3 = al * OPA(i + 3, k0 + kk);
                        const T *restrict b = bp + kk * bld;
                        for (int64_t jj = 0; jj < nc; jj++) {
                            const T v = b[jj];
                            c0[jj] += a0 * v, c1[jj] += a1 * v;
                            c2[jj] += a2 * v, c3[jj] += a3 * v;
                        }
                    }
                }
                for (; i < i1; i++) {
                    T *restrict c0 = C + i * ldc + j0;
                    for (int64_t kk = 0; kk < kc; kk++) {
                        const T a0 = al * OPA(i, k0 + kk);
                        const T *restrict b = bp + kk * bld;
                        for (int64_t jj = 0; jj < nc; jj++) c0[jj] += a0 * b[jj];
                    }
                }
            }
        }
    });
}
#undef OPA

/* One ag__gemm_fallback call's operands, as its arguments say. */
typedef struct gemm_job {
    bool ta, tb;
    int64_t M, N, K;
    double alpha, beta;
    const void *A, *B;
    void *C;
    int64_t lda, ldb, ldc;
    ag_dtype dt;
} gemm_job;

/* Row blocks [lo, hi) of C, with one packing buffer for op(B)'s panels
 * (needed when tb) for the whole range. */
static void gemm_blocks(const void *ctx, int64_t lo, int64_t hi) {
    const gemm_job *j = ctx;
    const int64_t kc = j->K < KC ? j->K : KC, nc = j->N < NC ? j->N : NC;
    const size_t packsize = j->tb ? (size_t)(kc * nc) * ag_dtype_size(j->dt) : 0;
    void *pack = packsize ? malloc(packsize) : NULL;
    for (int64_t b = lo; b < hi; b++) {
        const int64_t i0 = b * MC, i1 = i0 + MC < j->M ? i0 + MC : j->M;
        /* without a buffer (out of memory) fall back to one column at a time */
        if (packsize && !pack) {
            for (int64_t c = 0; c < j->N; c++)
                gemm_rows(j->ta, false, i0, i1, 1, j->K, j->alpha, j->A, j->lda,
                          (const char *)j->B + (size_t)(c * j->ldb) * ag_dtype_size(j->dt), 1,
                          j->beta, (char *)j->C + (size_t)c * ag_dtype_size(j->dt), j->ldc,
                          j->dt, NULL);
        } else {
            gemm_rows(j->ta, j->tb, i0, i1, j->N, j->K, j->alpha, j->A, j->lda, j->B, j->ldb,
                      j->beta, j->C, j->ldc, j->dt, pack);
        }
    }
    free(pack);
}

void ag__gemm_fallback(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                       const void *A, int64_t lda, const void *B, int64_t ldb, double beta,
                       void *C, int64_t ldc, ag_dtype dt) {
    if (M <= 0 || N <= 0) return;
    const int64_t nblocks = (M + MC - 1) / MC;
    const gemm_job j = {ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, dt};
    ag__parallel_for(nblocks, (double)M * (double)N * (double)K >= 262144.0, gemm_blocks, &j);
}

#ifdef AG_HAVE_CBLAS
/* ag owns the threads: OpenBLAS runs on the calling thread, and a product
 * big enough to share is split over ag's OpenMP team (blas_split below).
 * Two pools on two cores (libgomp's workers spinning after a parallel
 * loop while OpenBLAS's own threads wait for the cores) made two threads
 * slower than one. openblas_set_num_threads is OpenBLAS's, absent from
 * other cblas libraries: a weak reference, called when present. */
void openblas_set_num_threads(int n) __attribute__((weak));
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_one_thread(void) {
    if (openblas_set_num_threads) openblas_set_num_threads(1);
}

static void blas_call(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                      const void *A, int64_t lda, const void *B, int64_t ldb, double beta,
                      void *C, int64_t ldc, ag_dtype dt) {
    const enum CBLAS_TRANSPOSE a = ta ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE b = tb ? CblasTrans : CblasNoTrans;
    if (dt == AG_F32)
        cblas_sgemm(CblasRowMajor, a, b, (int)M, (int)N, (int)K, (float)alpha, A, (int)lda, B,
                    (int)ldb, (float)beta, C, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, a, b, (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb,
                    beta, C, (int)ldc);
}

/* Products of at most this many multiply-adds go to the fallback: below it
 * OpenBLAS's fixed cost per call (argument checks, its buffer, locking;
 * about 55-70 ns here) is more than the whole product costs the plain
 * loops (1x1x1: 24 ns against 70; 2x2x2: 33-89 against 51-81). From 4x4x4
 * (64) on, and for every size the micro training step uses (16x4x16 and
 * up), cblas is 1.3 to 12 times faster than the fallback, so there is no
 * band of small products worth moving. */
#define GEMM_TINY 8.0

/* Products of at least this many multiply-adds are split over the team. */
#define BLAS_SPLIT_MIN ((double)(1 << 20))

/* C = alpha op(A) op(B) + beta C on the OpenMP team: the rows of C in
 * blocks of 16 (the columns when there are too few rows), one single-
 * threaded gemm per block. Each element is still one gemm's dot product
 * over all of K, so the split does not change any value. */
static void blas_split(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                       const void *A, int64_t lda, const void *B, int64_t ldb, double beta,
                       void *C, int64_t ldc, ag_dtype dt) {
    const size_t es = ag_dtype_size(dt);
    int nt = 1;
#ifdef _OPENMP
    if (!omp_in_parallel() && (double)M * (double)N * (double)K >= BLAS_SPLIT_MIN)
        nt = omp_get_max_threads();
#endif
    const bool by_rows = M >= 32 * nt || M >= N;
    const int64_t len = by_rows ? M : N;
    int64_t step = (len + nt - 1) / nt;
    step = (step + 15) / 16 * 16;
    const int64_t parts = step > 0 ? (len + step - 1) / step : 1;
    if (nt <= 1 || parts <= 1) {
        blas_call(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, dt);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int64_t p = 0; p < parts; p++) {
        const int64_t lo = p * step, n = len - lo < step ? len - lo : step;
        if (by_rows) /* rows lo.. of op(A) and C */
            blas_call(ta, tb, n, N, K, alpha, (const char *)A + (size_t)(ta ? lo : lo * lda) * es,
                      lda, B, ldb, beta, (char *)C + (size_t)(lo * ldc) * es, ldc, dt);
        else /* columns lo.. of op(B) and C */
            blas_call(ta, tb, M, n, K, alpha, A, lda,
                      (const char *)B + (size_t)(tb ? lo * ldb : lo) * es, ldb, beta,
                      (char *)C + (size_t)lo * es, ldc, dt);
    }
}
#endif

void ag__gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const void *A,
              int64_t lda, const void *B, int64_t ldb, double beta, void *C, int64_t ldc,
              ag_dtype dt) {
    if (M <= 0 || N <= 0) return;
    if (ag__profile_on())
        ag__profile_gemm(&(ag_gemm_call){ta, tb, M, N, K, lda, ldb, ldc, dt, alpha, beta, NULL});
#ifdef AG_HAVE_CBLAS
    /* K == 0 is C = beta C: the fallback does it without BLAS's ld checks */
    const bool fits = M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX &&
                      ldb <= INT_MAX && ldc <= INT_MAX;
    if (K > 0 && fits && (double)M * (double)N * (double)K > GEMM_TINY) {
        pthread_once(&blas_once, blas_one_thread);
        blas_split(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, dt);
        return;
    }
#endif
    ag__gemm_fallback(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, dt);
}

/* ---- batches ------------------------------------------------------------------ */

/* The geometry of one matmul, recomputed by backward from the sources. */
typedef struct geom {
    int64_t M, N, K;
    int nbd;                          /* batch dims of the output */
    int64_t bshape[AG_MAX_DIMS];      /* broadcast batch shape */
    int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS]; /* batch strides, in matrices (0: broadcast) */
    int64_t nbatch, na, nb;           /* batches of the output, of a, of b */
} geom;

/* Fills g; reports and returns false when the shapes do not multiply. */
static bool geometry(const ag_tensor *a, const ag_tensor *b, geom *g) {
    if (a->ndim == 0 || b->ndim == 0) {
        ag__fail("matmul", "cannot multiply %s by %s: both operands need at least 1 dim",
                 ag__shp(a), ag__shp(b));
        return false;
    }
    g->M = a->ndim == 1 ? 1 : a->shape[a->ndim - 2];
    g->K = a->shape[a->ndim - 1];
    const int64_t kb = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
    g->N = b->ndim == 1 ? 1 : b->shape[b->ndim - 1];
    if (g->K != kb) {
        ag__fail("matmul", "cannot multiply %s by %s: inner dimensions %lld and %lld differ",
                 ag__shp(a), ag__shp(b), (long long)g->K, (long long)kb);
        return false;
    }
    const int nda = a->ndim > 2 ? a->ndim - 2 : 0, ndb = b->ndim > 2 ? b->ndim - 2 : 0;
    g->nbd = nda > ndb ? nda : ndb;
    /* batch strides in matrices, right-aligned; 0 where the dim is missing or 1 */
    int64_t ma = 1, mb = 1;
    for (int i = g->nbd - 1; i >= 0; i--) {
        const int ia = nda - g->nbd + i, ib = ndb - g->nbd + i;
        const int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            ag__fail("matmul", "cannot multiply %s by %s: batch dims %s and %s do not "
                     "broadcast (sizes %lld and %lld)", ag__shp(a), ag__shp(b),
                     ag__shp_of(nda, a->shape), ag__shp_of(ndb, b->shape), (long long)da,
                     (long long)db);
            return false;
        }
        g->bshape[i] = da == 1 ? db : da;
        g->sa[i] = da == 1 ? 0 : ma;
        g->sb[i] = db == 1 ? 0 : mb;
        ma *= da, mb *= db;
    }
    g->na = ma, g->nb = mb;
    g->nbatch = ag__numel(g->nbd, g->bshape);
    return true;
}

/* Matrix offsets (in matrices) of a and b for output batch t. */
static void batch_offsets(const geom *g, int64_t t, int64_t *oa, int64_t *ob) {
    int64_t a = 0, b = 0;
    for (int d = g->nbd - 1; d >= 0; d--) {
        const int64_t i = t % g->bshape[d];
        t /= g->bshape[d];
        a += i * g->sa[d], b += i * g->sb[d];
    }
    *oa = a, *ob = b;
}

/* Every batch of a [M,K] matrix is contiguous after the previous one when a
 * is not broadcast; with b shared by all batches the whole product is then one
 * gemm of (nbatch*M) rows: [B,T,K] @ [K,N] is a single call. */
static bool foldable(const geom *g) { return g->nb == 1 && g->na == g->nbatch; }

#define AT(p, off, dt) ((char *)(p) + (size_t)(off) * ag_dtype_size(dt))

/* ---- the op --------------------------------------------------------------------- */

static void matmul_backward(ag_tensor *out) {
    ag_tensor *a = out->src[0], *b = out->src[1];
    geom g;
    if (!geometry(a, b, &g)) return;
    const ag_dtype dt = out->dtype;
    const int64_t M = g.M, N = g.N, K = g.K;
    const void *dC = out->grad->data;
    /* An operand's gradient is written once per element when no batch of it
     * is shared by several output batches (or in the one folded gemm): then
     * it can be stored (beta 0) into a fresh buffer, with no zeroing pass. */
    const bool fold = foldable(&g);
    double beta_a, beta_b;
    ag_tensor *ga = ag__grad_buf_gemm(a, fold || g.na == g.nbatch, N, &beta_a);
    ag_tensor *gb = ag__grad_buf_gemm(b, fold || g.nb == g.nbatch, fold ? g.nbatch * M : M,
                                      &beta_b);
    if (fold) {
        const int64_t R = g.nbatch * M;
        if (ga) ag__gemm(false, true, R, K, N, 1.0, dC, N, b->data, N, beta_a, ga->data, K, dt);
        if (gb) ag__gemm(true, false, K, N, R, 1.0, a->data, K, dC, N, beta_b, gb->data, N, dt);
        return;
    }
    for (int64_t t = 0; t < g.nbatch; t++) {
        int64_t oa, ob;
        batch_offsets(&g, t, &oa, &ob);
        const void *dc = AT(dC, t * M * N, dt);
        if (ga)
            ag__gemm(false, true, M, K, N, 1.0, dc, N, AT(b->data, ob * K * N, dt), N, beta_a,
                     AT(ga->data, oa * M * K, dt), K, dt);
        if (gb)
            ag__gemm(true, false, K, N, M, 1.0, AT(a->data, oa * M * K, dt), K, dc, N, beta_b,
                     AT(gb->data, ob * K * N, dt), N, dt);
    }
}

/* An operand or the output gradient as the batch of matrices the product
 * used: a 1-d left operand as [1,K], a 1-d right one as [K,1]; g gets back
 * the dims the output lost ([...,1,N] when a was 1-d, [...,M,1] when b was). */
static ag_tensor *as_matrix(ag_arena *A, ag_tensor *t, bool left) {
    return t->ndim == 1 ? ag_unsqueeze_(A, t, left ? 0 : 1) : t;
}
static ag_tensor *grad_as_matrix(ag_arena *A, ag_tensor *g, const ag_tensor *a,
                                 const ag_tensor *b) {
    if (b->ndim == 1) g = ag_unsqueeze_(A, g, g->ndim);
    if (g && a->ndim == 1) g = ag_unsqueeze_(A, g, g->ndim - 1);
    return g;
}

/* The recorded backward, with the kernel's products as ag ops:
 *   dA = g @ B^T (the added row of a 1-d a removed), dB = A^T @ g (the
 *   added column removed); the engine sums each over the batch dims its
 *   operand was broadcast along. */
static bool matmul_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_arena *A = out->arena;
    ag_tensor *a = out->src[0], *b = out->src[1];
    ag_tensor *gm = grad_as_matrix(A, g, a, b);
    if (!gm) return false;
    if (a->requires_grad) {
        ag_tensor *bt = ag_transpose_(A, as_matrix(A, b, false), -2, -1);
        ag_tensor *da = ag_matmul_(A, gm, bt);
        grads[0] = a->ndim == 1 ? ag_squeeze_(A, da, -2) : da;
        if (!grads[0]) return false;
    }
    if (b->requires_grad) {
        ag_tensor *at = ag_transpose_(A, as_matrix(A, a, true), -2, -1);
        ag_tensor *db = ag_matmul_(A, at, gm);
        grads[1] = b->ndim == 1 ? ag_squeeze_(A, db, -1) : db;
        if (!grads[1]) return false;
    }
    return true;
}

static const ag_op MATMUL = {"matmul", matmul_backward, matmul_vjp};

/* torch.matmul; see the top of this file for the shape rules. */
ag_tensor *ag_matmul_(ag_arena *A, ag_tensor *a, ag_tensor *b) {
    if (!a || !b) return NULL;
    if (!ag__check_arena("matmul", A)) return NULL;
    if (!ag__check_float("matmul", a) || !ag__check_float("matmul", b)) return NULL;
    geom g;
    if (!geometry(a, b, &g)) return NULL;
    int ndim = g.nbd;
    int64_t shape[AG_MAX_DIMS];
    memcpy(shape, g.bshape, sizeof shape);
    if (a->ndim > 1) shape[ndim++] = g.M;
    if (b->ndim > 1) shape[ndim++] = g.N;
    /* mixed float dtypes promote; bf16 computes in f32 and rounds back */
    const ag_dtype dt = ag__promote(a->dtype, b->dtype);
    const ag_dtype ct = ag_compute_dtype(dt);
    ag_tensor *x = ag__as(A, a, ct), *y = ag__as(A, b, ct);
    ag_tensor *out = x && y ? ag__result("matmul", A, ct, ndim, shape) : NULL;
    if (!out) return NULL;
    const int64_t M = g.M, N = g.N, K = g.K;
    if (foldable(&g)) {
        ag__gemm(false, false, g.nbatch * M, N, K, 1.0, x->data, K, y->data, N, 0.0, out->data,
                 N, ct);
    } else {
        for (int64_t t = 0; t < g.nbatch; t++) {
            int64_t oa, ob;
            batch_offsets(&g, t, &oa, &ob);
            ag__gemm(false, false, M, N, K, 1.0, AT(x->data, oa * M * K, ct), K,
                     AT(y->data, ob * K * N, ct), N, 0.0, AT(out->data, t * M * N, ct), N, ct);
        }
    }
    if (!ag__record(out, &MATMUL, 2, (ag_tensor *[]){x, y})) return NULL;
    return dt == ct ? out : ag_cast_(A, out, dt);
}
