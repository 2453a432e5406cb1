/* core/ops_attention.c — fused causal self-attention over heads that are
 * column blocks of [B, T, C] tensors (F.scaled_dot_product_attention with
 * is_causal, after q.view(B,T,H,hd).transpose(1,2); the result joined back).
 *
 * For one (batch row, head) pair, with Q, K, V the T x hd blocks, s the
 * scale 1/sqrt(hd) and j <= i the causal rule:
 *
 *   S_ij = s q_i . k_j,   P_ij = exp(S_ij - L_i),   L_i = log sum_{j<=i} exp S_ij
 *   O_i  = sum_j P_ij v_j
 *
 * Forward (online softmax): the keys are visited a tile at a time, up to the
 * query block's causal limit. Each row keeps its running maximum m and sum
 * l = sum exp(S_ij - m) over the keys seen, and an accumulator a = sum
 * exp(S_ij - m) v_j. A new tile with maximum m' > m rescales l and a by
 * exp(m - m') before adding its own terms, so nothing overflows and no
 * T x T matrix is formed; at the end O_i = a / l and L_i = m + log l, the
 * only thing saved ([B, H, T]).
 *
 * Backward, with G = dO the incoming gradient: P is recomputed tile by tile
 * from Q, K and the saved L (exp(S - L) is already normalised), and
 *
 *   dV_j  = sum_i P_ij g_i                      (dV = P^T dO)
 *   dP_ij = g_i . v_j                           (dP = dO V^T)
 *   dS_ij = P_ij (dP_ij - D_i),  D_i = sum_j P_ij dP_ij = g_i . O_i
 *   dQ_i  = s sum_j dS_ij k_j,   dK_j = s sum_i dS_ij q_i
 *
 * dS is softmax's backward (y (g - sum g y)); its row sum D_i is taken from
 * O and dO instead of from the whole row of P, so each tile is finished on
 * its own. When T fits one tile the whole row of P is in it, and D_i is
 * taken there, as softmax's backward does, without reading O. Outer loop
 * over key tiles, inner over the query tiles at or below them; dK and dV
 * of a key tile and dQ of a query tile accumulate straight into the
 * gradients (row stride C: no copies to [B, H, T, hd]).
 *
 * The (batch, head) pairs are independent: each touches only its own column
 * block of its batch row, so chunks of pairs run on the OpenMP team without
 * sharing anything but the inputs. A tile product goes to ag__gemm when it is
 * large enough to pay for the call, to plain loops otherwise. While a pair
 * computes, the next pair's blocks are asked for (prefetch_pair).
 *
 * The vjp (second derivatives) is the same backward written with ops: heads
 * by reshape and transpose, P by matmul, masked_fill and softmax, then the
 * products above.
 *
 * An internal entry (ag__causal_attention_packed) takes q, k, v as the column
 * blocks of one [B, T, 3C] tensor, as one projection with stacked weights
 * makes them: the same kernels with row stride 3C, the gradient written
 * packed, so the projection's backward is one product.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "vmath.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* exp in the compute dtype: the vectorizable form of core/vmath.h for f32
 * (within 1 ulp of libm's), libm's for f64; log likewise (once a row). */
#define EXP_OF(v) _Generic((v), float: ag__expf, default: exp)(v)
#define LOG_OF(v) _Generic((v), float: logf, default: log)(v)
/* c ? a : b, for f32 with bit masks (a loop with a branch does not vectorize) */
static inline double select_f64(int c, double a, double b) { return c ? a : b; }
#define SELECT(c, a, b) _Generic((a), float: ag__vm_select, default: select_f64)(c, a, b)

/* Query and key rows per tile. */
#define TILE 64

/* How many of the nc keys from j0 on query row i sees (keys j0 .. i; at least
 * one, since tiles start at j0 <= i). */
static int64_t visible(int64_t i, int64_t j0, int64_t nc) {
    return i - j0 + 1 < nc ? i - j0 + 1 : nc;
}

/* Row reductions in LANES partial results, element c in lane c % LANES,
 * combined in a fixed order at the end: a loop the compiler vectorizes (a
 * single running max or sum is a chain of dependent scalar operations), with
 * the same result at every vector width. */
#define LANES 16
#define ROW_REDUCERS(R, sfx)                                                          \
    static R row_max_##sfx(const R *s, int64_t n) { /* n >= 1 */                      \
        R part[LANES];                                                                \
        for (int u = 0; u < LANES; u++) part[u] = s[0];                               \
        int64_t c = 0;                                                                \
        for (; c + LANES <= n; c += LANES)                                            \
            for (int u = 0; u < LANES; u++) part[u] = s[c + u] > part[u] ? s[c + u] : part[u]; \
        for (; c < n; c++) part[0] = s[c] > part[0] ? s[c] : part[0];                \
        R mx = part[0];                                                               \
        for (int u = 1; u < LANES; u++) mx = part[u] > mx ? part[u] : mx;             \
        return mx;                                                                    \
    }                                                                                 \
    static R row_dot_##sfx(const R *a, const R *b, int64_t n) {                        \
        R part[LANES] = {0};                                                          \
        int64_t c = 0;                                                                \
        for (; c + LANES <= n; c += LANES)                                            \
            for (int u = 0; u < LANES; u++) part[u] += a[c + u] * b[c + u];          \
        for (; c < n; c++) part[0] += a[c] * b[c];                                    \
        R t = 0;                                                                      \
        for (int u = 0; u < LANES; u++) t += part[u];                                 \
        return t;                                                                     \
    }                                                                                 \
    /* Row r < nr of a tile S (row stride TILE) of nc keys from j0, seen by     \
       query i0 + r: s[c] = exp(s[c] - sub[r]) for the keys it sees, 0 past them.   \
       Whole blocks of LANES, up to TILE: a lane past the last seen key takes     \
       exp(0) in place of its score, then 0, so there is no scalar loop and no    \
       lane underflows (slowly) on a masked score. One call a tile, so exp's      \
       constants are loaded once. */                                              \
    static void exp_tile_##sfx(R *S, int64_t nr, int64_t nc, int64_t i0, int64_t j0,  \
                               const R *sub) {                                        \
        for (int64_t r = 0; r < nr; r++) {                                            \
            R *s = S + r * TILE;                                                      \
            const int64_t valid = visible(i0 + r, j0, nc);                            \
            const R sb = sub[r];                                                      \
            int64_t c = 0;                                                            \
            for (; c < valid; c += LANES)                                             \
                for (int u = 0; u < LANES; u++) {                                     \
                    const bool seen = c + u < valid;                                  \
                    const R e = EXP_OF((R)(SELECT(seen, s[c + u], sb) - sb));         \
                    s[c + u] = SELECT(seen, e, (R)0);                                 \
                }                                                                     \
            for (; c < nc; c += LANES)                                                \
                for (int u = 0; u < LANES; u++) s[c + u] = 0;                         \
        }                                                                             \
    }                                                                                 \
    static R row_sum_##sfx(const R *a, int64_t n) {                                   \
        R part[LANES] = {0};                                                          \
        int64_t c = 0;                                                                \
        for (; c + LANES <= n; c += LANES)                                            \
            for (int u = 0; u < LANES; u++) part[u] += a[c + u];                      \
        for (; c < n; c++) part[0] += a[c];                                           \
        R t = 0;                                                                      \
        for (int u = 0; u < LANES; u++) t += part[u];                                 \
        return t;                                                                     \
    }
ROW_REDUCERS(float, f32)
ROW_REDUCERS(double, f64)
#define ROW_MAX(s, n) _Generic((s), float *: row_max_f32, default: row_max_f64)(s, n)
#define ROW_DOT(a, b, n) _Generic((a), const float *: row_dot_f32, default: row_dot_f64)(a, b, n)
#define ROW_SUM(s, n) _Generic((s), float *: row_sum_f32, default: row_sum_f64)(s, n)
#define EXP_TILE(S, nr, nc, i0, j0, sub) \
    _Generic((S), float *: exp_tile_f32, default: exp_tile_f64)(S, nr, nc, i0, j0, sub)

/* Tile products of fewer multiply-adds run as plain loops; from there on
 * the BLAS is faster, even at a head of 4 over 16 positions (the tinygpt
 * step at 48 dims, 12 a head, block 16 ran 15% slower with loops up to
 * 8192 multiply-adds). */
#define SMALL_GEMM 64.0
/* Multiply-adds (about T^2/2 * hd per pair) from which the pairs are threaded. */
#define PAR_WORK 131072.0

/* Where the op's integer parameters are. */
enum { P_HEADS };

/* One call's geometry and pointers. q, k, v (and their gradients) have row
 * stride ld, o and dout row stride ldo; each points at batch 0, head 0. */
typedef struct attn_job {
    ag_dtype dt;
    int64_t T, H, hd, ld, ldo;
    double scale;
    const void *q, *k, *v;
    void *o;               /* forward: written */
    void *lse;             /* [B, H, T]: written by forward, read by backward */
    const void *dout;      /* backward */
    void *dq, *dk, *dv;    /* backward, NULL when not wanted */
    double beta_q, beta_k, beta_v; /* of each gradient block's first product: 0 into
                                      a raw (uninitialised) buffer, else 1 */
} attn_job;

/* C = alpha op(A) op(B) + beta C (row-major, as ag__gemm; beta 0 does not read
 * C): ag__gemm for a large product, loops for a small one. */
static void tile_mm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                    const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C,
                    int64_t ldc, ag_dtype dt) {
    if ((double)M * (double)N * (double)K >= SMALL_GEMM) {
        ag__gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, dt);
        return;
    }
    AG_DISPATCH(dt, T, {
        const T *a = A, *b = B;
        const int64_t ai = ta ? 1 : lda, ak = ta ? lda : 1;
        /* op(B) = B^T is copied to K x N rows first (N K < SMALL_GEMM), so
         * that every product below runs along a contiguous row */
        T bt[(int)SMALL_GEMM];
        int64_t ldbt = ldb;
        if (tb) {
            for (int64_t j = 0; j < N; j++)
                for (int64_t k = 0; k < K; k++) bt[k * N + j] = b[j * ldb + k];
            b = bt, ldbt = N;
        }
        for (int64_t i = 0; i < M; i++) { /* row i of C += a_ik (row k of op(B)) */
            T *c = (T *)C + i * ldc;
            for (int64_t j = 0; j < N; j++) c[j] = beta == 0 ? 0 : (T)(beta * c[j]);
            for (int64_t k = 0; k < K; k++) {
                const T aik = (T)alpha * a[i * ai + k * ak];
                for (int64_t j = 0; j < N; j++) c[j] += aik * b[k * ldbt + j];
            }
        }
    });
}

/* Offset in elements of (batch b, head h, row 0) in a tensor of row stride ld. */
static int64_t at(const attn_job *J, int64_t b, int64_t h, int64_t ld) {
    return b * J->T * ld + h * J->hd;
}

/* Bytes the cache moves at a time (x86-64 and most ARM cores): one hint
 * per line. */
#define CACHE_LINE 64

/* Asks the cache for the T rows of hd elements (row stride ld) of pair p's
 * block of base, to be read or (write) written. A hint only: nothing
 * without GCC's builtin. */
static void prefetch_rows(const attn_job *J, const void *base, int64_t p, int64_t ld, bool write) {
#if defined(__GNUC__)
    if (!base) return;
    const size_t es = ag_dtype_size(J->dt), row = (size_t)J->hd * es;
    const char *b = (const char *)base + (size_t)at(J, p / J->H, p % J->H, ld) * es;
    for (int64_t i = 0; i < J->T; i++)
        for (size_t c = 0; c < row; c += CACHE_LINE) {
            const char *line = b + (size_t)(i * ld) * es + c;
            if (write)
                __builtin_prefetch(line, 1);
            else
                __builtin_prefetch(line, 0);
        }
#else
    (void)J, (void)base, (void)p, (void)ld, (void)write;
#endif
}

/* Pair p's blocks, asked for while the pair before it computes. In a
 * training step q, k, v, dO and the gradients' memory were last touched
 * long before, and a head's block is 2 lines in every 3C-wide row, a
 * pattern the hardware's prefetchers do not follow: without the hints each
 * tile product waits for memory (4 layers of the small bench-train step,
 * eight profiled runs each: attention 4.1-6.1 ms above its products
 * without the hints, 3.4-3.9 with them). */
static void prefetch_pair(const attn_job *J, int64_t p, bool backward) {
    const void *in[3] = {J->q, J->k, J->v};
    void *grad[3] = {J->dq, J->dk, J->dv};
    for (int i = 0; i < 3; i++) {
        prefetch_rows(J, in[i], p, J->ld, false);
        if (backward) prefetch_rows(J, grad[i], p, J->ld, true);
    }
    if (!backward) prefetch_rows(J, J->o, p, J->ldo, true);
    if (backward) prefetch_rows(J, J->dout, p, J->ldo, false);
    if (backward && J->T > TILE) prefetch_rows(J, J->o, p, J->ldo, false); /* for D */
}

/* S [nr x nc, row stride TILE] = scale q k^T for nr query rows from q and nc
 * key rows from k (row stride ld). */
static void scores(const attn_job *J, const void *q, const void *k, int64_t nr, int64_t nc,
                   void *S) {
    tile_mm(false, true, nr, nc, J->hd, J->scale, q, J->ld, k, J->ld, 0.0, S, TILE, J->dt);
}

/* ---- forward ------------------------------------------------------------------- */

/* Pairs [p0, p1) (pair p = batch p / H, head p % H), scratch of one chunk. */
static void forward_pairs(const attn_job *J, int64_t p0, int64_t p1, void *scratch) {
    const int64_t T = J->T, hd = J->hd, ld = J->ld;
    AG_DISPATCH(J->dt, R, {
        R *S = scratch, *acc = S + TILE * TILE, *m = acc + TILE * hd, *l = m + TILE;
        for (int64_t p = p0; p < p1; p++) {
            const int64_t b = p / J->H, h = p % J->H;
            const R *q = (const R *)J->q + at(J, b, h, ld);
            const R *k = (const R *)J->k + at(J, b, h, ld);
            const R *v = (const R *)J->v + at(J, b, h, ld);
            R *o = (R *)J->o + at(J, b, h, J->ldo);
            R *lse = (R *)J->lse + p * T;
            if (p + 1 < p1) prefetch_pair(J, p + 1, false);
            for (int64_t i0 = 0; i0 < T; i0 += TILE) {
                const int64_t nr = T - i0 < TILE ? T - i0 : TILE, iend = i0 + nr;
                for (int64_t j0 = 0; j0 < iend; j0 += TILE) {
                    const int64_t nc = iend - j0 < TILE ? iend - j0 : TILE;
                    scores(J, q + i0 * ld, k + j0 * ld, nr, nc, S);
                    R mnew[TILE]; /* the rows' maxima with this tile */
                    for (int64_t r = 0; r < nr; r++) {
                        const R mx = ROW_MAX(S + r * TILE, visible(i0 + r, j0, nc));
                        mnew[r] = j0 == 0 || mx > m[r] ? mx : m[r];
                    }
                    EXP_TILE(S, nr, nc, i0, j0, mnew); /* keys past the causal limit: 0 */
                    for (int64_t r = 0; r < nr; r++) {
                        const R sum = ROW_SUM(S + r * TILE, visible(i0 + r, j0, nc));
                        if (j0 == 0) { /* the first tile: nothing to rescale */
                            l[r] = sum;
                        } else {
                            const R alpha = EXP_OF((R)(m[r] - mnew[r]));
                            l[r] = l[r] * alpha + sum;
                            for (int64_t d = 0; d < hd; d++) acc[r * hd + d] *= alpha;
                        }
                        m[r] = mnew[r];
                    }
                    tile_mm(false, false, nr, hd, nc, 1.0, S, TILE, v + j0 * ld, ld,
                            j0 == 0 ? 0.0 : 1.0, acc, hd, J->dt);
                }
                for (int64_t r = 0; r < nr; r++) {
                    const R inv = 1 / l[r];
                    for (int64_t d = 0; d < hd; d++)
                        o[(i0 + r) * J->ldo + d] = acc[r * hd + d] * inv;
                    lse[i0 + r] = m[r] + LOG_OF(l[r]);
                }
            }
        }
    });
}

/* ---- backward ------------------------------------------------------------------ */

static void backward_pairs(const attn_job *J, int64_t p0, int64_t p1, void *scratch) {
    const int64_t T = J->T, hd = J->hd, ld = J->ld, ldo = J->ldo;
    const bool dqk = J->dq || J->dk;
    AG_DISPATCH(J->dt, R, {
        R *P = scratch, *dS = P + TILE * TILE, *D = dS + TILE * TILE;
        for (int64_t p = p0; p < p1; p++) {
            const int64_t b = p / J->H, h = p % J->H;
            const int64_t in = at(J, b, h, ld), io = at(J, b, h, ldo);
            const R *q = (const R *)J->q + in, *k = (const R *)J->k + in;
            const R *v = (const R *)J->v + in;
            const R *o = (const R *)J->o + io, *g = (const R *)J->dout + io;
            const R *lse = (const R *)J->lse + p * T;
            R *dq = J->dq ? (R *)J->dq + in : NULL, *dk = J->dk ? (R *)J->dk + in : NULL;
            R *dv = J->dv ? (R *)J->dv + in : NULL;
            if (p + 1 < p1) prefetch_pair(J, p + 1, true);
            /* D from O, or (one tile) from P and dP in the tile: no pass over O,
               which is cold by now */
            const bool one_tile = T <= TILE;
            for (int64_t i = 0; i < T && dqk && !one_tile; i++)
                D[i] = ROW_DOT(g + i * ldo, o + i * ldo, hd);
            for (int64_t j0 = 0; j0 < T; j0 += TILE) {
                const int64_t nc = T - j0 < TILE ? T - j0 : TILE;
                for (int64_t i0 = j0; i0 < T; i0 += TILE) {
                    const int64_t nr = T - i0 < TILE ? T - i0 : TILE;
                    scores(J, q + i0 * ld, k + j0 * ld, nr, nc, P);
                    EXP_TILE(P, nr, nc, i0, j0, lse + i0);
                    /* a key tile's gradients are first written at i0 = j0, a query
                       tile's at j0 = 0 */
                    const double bk = i0 == j0 ? J->beta_k : 1, bv = i0 == j0 ? J->beta_v : 1;
                    const double bq = j0 == 0 ? J->beta_q : 1;
                    if (dv)
                        tile_mm(true, false, nc, hd, nr, 1.0, P, TILE, g + i0 * ldo, ldo, bv,
                                dv + j0 * ld, ld, J->dt);
                    if (!dqk) continue;
                    tile_mm(false, true, nr, nc, hd, 1.0, g + i0 * ldo, ldo, v + j0 * ld, ld, 0.0,
                            dS, TILE, J->dt);
                    for (int64_t r = 0; r < nr; r++) {
                        R *ds = dS + r * TILE;
                        const R *pr = P + r * TILE;
                        const R Dr = one_tile ? ROW_DOT(pr, ds, visible(i0 + r, j0, nc))
                                              : D[i0 + r];
                        for (int64_t c = 0; c < nc; c++) ds[c] = pr[c] * (ds[c] - Dr);
                    }
                    if (dq)
                        tile_mm(false, false, nr, hd, nc, J->scale, dS, TILE, k + j0 * ld, ld,
                                bq, dq + i0 * ld, ld, J->dt);
                    if (dk)
                        tile_mm(true, false, nc, hd, nr, J->scale, dS, TILE, q + i0 * ld, ld, bk,
                                dk + j0 * ld, ld, J->dt);
                }
            }
        }
    });
}

/* ---- the pairs on the team -------------------------------------------------------- */

typedef void pairs_fn(const attn_job *J, int64_t p0, int64_t p1, void *scratch);

/* Chunks lo..hi-1 of the pairs, each on its own scratch block. */
typedef struct chunks_job {
    const attn_job *J;
    pairs_fn *fn;
    int64_t pairs, nchunk;
    char *scratch;
    size_t per; /* bytes of scratch per chunk */
} chunks_job;

static void chunks_range(const void *ctx, int64_t lo, int64_t hi) {
    const chunks_job *c = ctx;
    for (int64_t i = lo; i < hi; i++)
        c->fn(c->J, i * c->pairs / c->nchunk, (i + 1) * c->pairs / c->nchunk,
              c->scratch + (size_t)i * c->per);
}

/* Runs fn over the B*H pairs in chunks, one scratch block each (malloc'd
 * here, freed before returning). Reports under op and returns false when the
 * scratch cannot be had. */
static bool run_pairs(const char *op, const attn_job *J, int64_t pairs, pairs_fn *fn) {
    if (pairs <= 0 || J->T <= 0) return true;
    int64_t nchunk = 1;
#ifdef _OPENMP
    const double work = (double)pairs * (double)J->T * (double)(J->T + 1) / 2 * (double)J->hd;
    if (pairs >= 2 && work >= PAR_WORK) nchunk = omp_get_max_threads();
#endif
    if (nchunk > pairs) nchunk = pairs;
    /* per chunk: two tiles, an accumulator block, m and l, D; each chunk's
     * block starts on its own cache line */
    const size_t es = ag_dtype_size(J->dt);
    size_t per = 2 * TILE * TILE + (size_t)TILE * (size_t)J->hd + 2 * TILE + (size_t)J->T;
    per = (per * es + 63) / 64 * 64;
    /* zeroed: exp_tile reads (and discards) the columns of a row up to a
       multiple of LANES, past what the tile's products wrote */
    char *scratch = calloc((size_t)nchunk, per);
    if (!scratch) {
        ag__fail(op, "out of memory for %lld scratch blocks of %zu bytes", (long long)nchunk, per);
        return false;
    }
    const chunks_job cj = {J, fn, pairs, nchunk, scratch, per};
    ag__parallel_for(nchunk, nchunk >= 2, chunks_range, &cj);
    free(scratch);
    return true;
}

/* ---- the op ------------------------------------------------------------------------ */

/* (B, T, C) of a [B, T, C] or [T, C] tensor. */
static void dims(const ag_tensor *t, int64_t *B, int64_t *T, int64_t *C) {
    *B = t->ndim == 3 ? t->shape[0] : 1;
    *T = t->shape[t->ndim - 2];
    *C = t->shape[t->ndim - 1];
}

static void backward(ag_tensor *out);
static bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads);
/* q, k, v as three sources, or packed as the column blocks of one */
typedef enum { SEPARATE, PACKED } layout;
static const ag_op OPS[] = {
    [SEPARATE] = {"causal_attention", backward, vjp},
    [PACKED] = {"causal_attention_packed", backward, vjp},
};

/* Points J's q, k, v at out's sources (three [.., C], or one [.., 3C]) and sets
 * their row stride; with grads, J's gradients at those of the sources. */
static void point(attn_job *J, ag_tensor *const *src, int nsrc, int64_t C, ag_tensor **grads) {
    const size_t es = ag_dtype_size(J->dt);
    J->ld = nsrc == 3 ? C : 3 * C;
    for (int i = 0; i < 3; i++) {
        ag_tensor *t = nsrc == 3 ? src[i] : src[0], *gt = grads ? grads[nsrc == 3 ? i : 0] : NULL;
        const size_t off = nsrc == 3 ? 0 : (size_t)(i * C) * es;
        const void *data = (const char *)t->data + off;
        void *gdata = gt ? (char *)gt->data + off : NULL;
        if (i == 0) J->q = data, J->dq = gdata;
        if (i == 1) J->k = data, J->dk = gdata;
        if (i == 2) J->v = data, J->dv = gdata;
    }
}

static void backward(ag_tensor *out) {
    if (out->numel == 0) return;
    int64_t B, T, C;
    dims(out, &B, &T, &C);
    const int64_t H = out->iparam[P_HEADS], hd = C / H;
    /* every element of a gradient is written by the products of one pair, the
     * first of them storing: a buffer made now need not be zeroed, unless two
     * sources are one tensor (their shares go to one buffer) */
    double beta[3] = {1, 1, 1};
    ag_tensor *gr[3] = {NULL, NULL, NULL};
    for (int i = 0; i < out->nsrc; i++) {
        ag_tensor *t = out->src[i];
        const bool alone = out->nsrc == 1 ||
                           (t != out->src[(i + 1) % 3] && t != out->src[(i + 2) % 3]);
        gr[i] = ag__grad_buf_gemm(t, alone, hd, &beta[i]);
        if (t->requires_grad && !gr[i]) return;
    }
    const ag_tensor *lse = out->saved;
    attn_job J = {.dt = out->dtype, .T = T, .H = H, .hd = hd, .ldo = C,
                  .scale = 1 / sqrt((double)hd), .o = out->data, .lse = lse->data,
                  .dout = out->grad->data, .beta_q = beta[0],
                  .beta_k = beta[out->nsrc == 3 ? 1 : 0], .beta_v = beta[out->nsrc == 3 ? 2 : 0]};
    point(&J, out->src, out->nsrc, C, gr);
    run_pairs(OPS[SEPARATE].name, &J, B * H, backward_pairs);
}

/* [B,T,C] (or [T,C]) -> [B,H,T,hd]. */
static ag_tensor *split_heads(ag_arena *A, ag_tensor *x, int64_t B, int64_t T, int64_t H) {
    const int64_t shape[4] = {B, T, H, x ? x->shape[x->ndim - 1] / H : 0};
    return ag_transpose_(A, ag_reshape_(A, x, 4, shape), 1, 2);
}
/* [B,H,T,hd] -> like's shape. */
static ag_tensor *join_heads(ag_arena *A, ag_tensor *x, const ag_tensor *like) {
    return ag_reshape_(A, ag_transpose_(A, x, 1, 2), like->ndim, like->shape);
}

static bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_arena *A = out->arena;
    int64_t B, T, C;
    dims(out, &B, &T, &C);
    const int64_t H = out->iparam[P_HEADS];
    const double scale = 1 / sqrt((double)(C / H));
    ag_tensor *x[3]; /* q, k, v, each of out's shape */
    for (int i = 0; i < 3; i++)
        x[i] = out->nsrc == 3 ? out->src[i] : ag_narrow_(A, out->src[0], -1, i * C, C);
    ag_tensor *q = split_heads(A, x[0], B, T, H), *k = split_heads(A, x[1], B, T, H);
    ag_tensor *v = split_heads(A, x[2], B, T, H), *dO = split_heads(A, g, B, T, H);
    ag_tensor *S = ag_mul_scalar_(A, ag_matmul_(A, q, ag_transpose_(A, k, 2, 3)), scale);
    ag_tensor *P = ag_softmax_(A, ag_masked_fill_(A, S, ag__causal_mask(A, T), -INFINITY), -1);
    ag_tensor *dP = ag_matmul_(A, dO, ag_transpose_(A, v, 2, 3));
    const int last[1] = {-1};
    ag_tensor *D = ag_sum_(A, ag_mul_(A, P, dP), 1, last, true);
    ag_tensor *dS = ag_mul_scalar_(A, ag_mul_(A, P, ag_sub_(A, dP, D)), scale);
    ag_tensor *d[3] = {join_heads(A, ag_matmul_(A, dS, k), out),
                       join_heads(A, ag_matmul_(A, ag_transpose_(A, dS, 2, 3), q), out),
                       join_heads(A, ag_matmul_(A, ag_transpose_(A, P, 2, 3), dO), out)};
    for (int i = 0; i < 3; i++) grads[i] = d[i];
    if (out->nsrc == 1) grads[0] = ag_concat_(A, 3, d, -1), grads[1] = grads[2] = NULL;
    return grads[0] && (out->nsrc == 1 || (grads[1] && grads[2]));
}

ag_tensor *ag__causal_mask(ag_arena *A, int64_t T) {
    ag_tensor *mask = ag_empty_(A, AG_I32, 2, (const int64_t[]){T, T});
    if (!mask) return NULL;
    int32_t *pm = mask->data;
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j < T; j++) pm[i * T + j] = j > i;
    return mask;
}

/* Reports bad arguments under op; true when q, k, v and n_head are usable. */
static bool check(const char *op, const ag_tensor *q, const ag_tensor *k, const ag_tensor *v,
                  int64_t n_head) {
    if (!ag__check_float(op, q) || !ag__check_float(op, k) || !ag__check_float(op, v))
        return false;
    if (q->dtype != k->dtype || q->dtype != v->dtype) {
        ag__fail(op, "q %s, k %s, v %s: expected one dtype, got %s, %s, %s", ag__shp(q),
                 ag__shp(k), ag__shp(v), ag_dtype_name(q->dtype), ag_dtype_name(k->dtype),
                 ag_dtype_name(v->dtype));
        return false;
    }
    bool same = q->ndim == k->ndim && q->ndim == v->ndim;
    for (int d = 0; same && d < q->ndim; d++)
        same = q->shape[d] == k->shape[d] && q->shape[d] == v->shape[d];
    if ((q->ndim != 2 && q->ndim != 3) || !same) {
        ag__fail(op, "q %s, k %s, v %s: expected one shape, [B, T, C] or [T, C]", ag__shp(q),
                 ag__shp(k), ag__shp(v));
        return false;
    }
    const int64_t C = q->shape[q->ndim - 1];
    if (n_head <= 0 || C % n_head != 0) {
        ag__fail(op, "q %s with n_head %lld: expected n_head > 0 dividing C = %lld", ag__shp(q),
                 (long long)n_head, (long long)C);
        return false;
    }
    return true;
}

/* The op on nsrc sources of the compute dtype (three [.., C], or one [.., 3C]):
 * the result has ndim dims, the last C; NULL after a report. */
static ag_tensor *attend(ag_arena *A, layout L, ag_tensor *const *src, int64_t n_head) {
    const char *op = OPS[L].name;
    const int nsrc = L == SEPARATE ? 3 : 1;
    const ag_tensor *x = src[0];
    int64_t B, T, C, shape[3];
    dims(x, &B, &T, &C);
    if (L == PACKED) C /= 3;
    for (int d = 0; d < x->ndim; d++) shape[d] = d == x->ndim - 1 ? C : x->shape[d];
    ag_tensor *y = ag__result(op, A, x->dtype, x->ndim, shape);
    ag_tensor *lse = y ? ag__result(op, A, x->dtype, 3, (const int64_t[]){B, n_head, T}) : NULL;
    if (!lse) return NULL;
    attn_job J = {.dt = x->dtype, .T = T, .H = n_head, .hd = C / n_head, .ldo = C,
                  .scale = C > 0 ? 1 / sqrt((double)(C / n_head)) : 0, .o = y->data,
                  .lse = lse->data};
    point(&J, src, nsrc, C, NULL);
    if (C > 0 && !run_pairs(op, &J, B * n_head, forward_pairs)) return NULL;
    y->iparam[P_HEADS] = n_head;
    y->saved = lse;
    return ag__record(y, &OPS[L], nsrc, src);
}

ag_tensor *ag_causal_attention_(ag_arena *A, ag_tensor *q, ag_tensor *k, ag_tensor *v,
                                int64_t n_head) {
    if (!q || !k || !v) return NULL;
    if (!check(OPS[SEPARATE].name, q, k, v, n_head)) return NULL;
    const ag_dtype ct = ag_compute_dtype(q->dtype);
    ag_tensor *src[3] = {ag__as(A, q, ct), ag__as(A, k, ct), ag__as(A, v, ct)};
    if (!src[0] || !src[1] || !src[2]) return NULL;
    return ag__as(A, attend(A, SEPARATE, src, n_head), q->dtype);
}

ag_tensor *ag__causal_attention_packed(ag_arena *A, ag_tensor *qkv, int64_t n_head) {
    const char *op = OPS[PACKED].name;
    if (!qkv) return NULL;
    if (!ag__check_float(op, qkv)) return NULL;
    const int64_t C3 = qkv->ndim ? qkv->shape[qkv->ndim - 1] : 0;
    if ((qkv->ndim != 2 && qkv->ndim != 3) || C3 % 3 != 0 || n_head <= 0 ||
        (C3 / 3) % n_head != 0) {
        ag__fail(op, "qkv %s with n_head %lld: expected [B, T, 3C] or [T, 3C], n_head > 0 "
                 "dividing C", ag__shp(qkv), (long long)n_head);
        return NULL;
    }
    ag_tensor *src = ag__as(A, qkv, ag_compute_dtype(qkv->dtype));
    if (!src) return NULL;
    return ag__as(A, attend(A, PACKED, &src, n_head), qkv->dtype);
}
