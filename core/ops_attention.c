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
 * sharing anything but the inputs. The tile products are the file's own
 * register-blocked loops (rows_dot, rows_axpy), which skip what the causal
 * rule makes zero. Before a batch row's first pair, its rows are read once
 * in address order, so that its pairs find them in cache (touch_batch).
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
#include <string.h>

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
       query i0 + r: s[c] = exp(s[c] - sub[r]) for the keys it sees, 0 past them;  \
       sum[r] (sum not NULL) the row's sum, element c in lane c % LANES. Whole    \
       blocks of LANES, up to TILE: in the block holding the last seen key, a    \
       lane past it takes exp(0) in place of its score, then 0, so there is no   \
       scalar loop and no lane underflows (slowly) on a masked score. One call a \
       tile, so exp's constants are loaded once. */                              \
    static void exp_tile_##sfx(R *S, int64_t nr, int64_t nc, int64_t i0, int64_t j0,  \
                               const R *sub, R *sum) {                                \
        for (int64_t r = 0; r < nr; r++) {                                            \
            R *s = S + r * TILE, part[LANES] = {0};                                   \
            const int64_t valid = visible(i0 + r, j0, nc);                            \
            const R sb = sub[r];                                                      \
            int64_t c = 0;                                                            \
            for (; c + LANES <= valid; c += LANES)                                    \
                for (int u = 0; u < LANES; u++) {                                     \
                    s[c + u] = EXP_OF((R)(s[c + u] - sb));                            \
                    part[u] += s[c + u];                                              \
                }                                                                     \
            if (c < valid) {                                                          \
                const int left = (int)(valid - c);                                    \
                for (int u = 0; u < LANES; u++) {                                     \
                    const R e = EXP_OF((R)(SELECT(u < left, s[c + u], sb) - sb));      \
                    s[c + u] = SELECT(u < left, e, (R)0);                             \
                    part[u] += s[c + u];                                              \
                }                                                                     \
                c += LANES;                                                           \
            }                                                                         \
            for (; c < nc; c += LANES)                                                \
                for (int u = 0; u < LANES; u++) s[c + u] = 0;                         \
            if (!sum) continue;                                                       \
            R t = 0;                                                                  \
            for (int u = 0; u < LANES; u++) t += part[u];                             \
            sum[r] = t;                                                               \
        }                                                                             \
    }
ROW_REDUCERS(float, f32)
ROW_REDUCERS(double, f64)
#define ROW_MAX(s, n) _Generic((s), float *: row_max_f32, default: row_max_f64)(s, n)
#define ROW_DOT(a, b, n) _Generic((a), const float *: row_dot_f32, default: row_dot_f64)(a, b, n)
#define EXP_TILE(S, nr, nc, i0, j0, sub, sum) \
    _Generic((S), float *: exp_tile_f32, default: exp_tile_f64)(S, nr, nc, i0, j0, sub, sum)

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
    bool add_q, add_k, add_v; /* whether each gradient block's first product adds
                                 (false: it stores into a raw buffer) */
} attn_job;

/* ---- the tile products ------------------------------------------------------------
 *
 * Each product of a tile has one of two shapes, and stops where the causal
 * rule leaves only zeros:
 *
 *   rows_dot   C_rc = alpha a_r . b_c            S = s Q K^T, dP = dO V^T
 *   rows_axpy  C_r (+)= alpha sum_k a_rk b_k     O += P V, dQ = s dS K,
 *                                                dV = P^T dO, dK = s dS^T Q
 *
 * Both run on one register block (ukernel): MR rows by NR columns of C,
 * out_r = sum_k a_rk b_k, a sum of outer products of a column of a and a
 * row of b. rows_axpy's rows b_k are rows of the input; rows_dot first
 * copies its nc rows b_c to columns (bt = B^T, hd x TILE). A block of query
 * rows stops at the last key its last row sees (rows_dot: at the block of NR
 * columns holding it), a block of keys starts at the first query that sees
 * it: on a diagonal tile, about half of each product.
 *
 * The operands are a head's rows, 128 bytes in every 3C (or C) of the
 * input: 1,536 bytes apart at the small size, so a block's 64 rows fall in
 * 16 of a 32 KiB L1's 64 sets, and q's, k's and v's blocks in the same 16.
 * A tile's rows are therefore copied once to contiguous blocks (gather),
 * which the products read (rows_dot's key rows go straight to bt).
 *
 * Before, the products went to the BLAS, dense, each packing its operands
 * first. bench-train's word-list size (2 layers, 64 dims, 4 heads, block 23,
 * batch 64; alternating runs, one thread) took the attention from 8.2-8.9
 * ms a step to 5.6-6.4 with these loops, and to 4.4-5.1 with the copies and
 * the next pair asked for in slices; the small size from 44.7-49.5 ms to
 * 38.7-46.7, then 40.5-42.1 (against 43.7-46.7 in the same runs);
 * tinygpt's default size (12 a head), once its heads ran the block too,
 * from 2.14-2.55 ms to 1.79-1.90. Six rows a block and each batch row
 * touched first (touch_batch, in place of the slices) took a test program
 * that runs the op alone, 4 layers at the small size, to 0.66-0.75 of its
 * time, and tinygpt's default size to 0.91.
 *
 * An active profile's trace records each product as the dense gemm it
 * stands for, so the floor (ag_profile_gemm_replay, in the BLAS) is what it
 * was: the products a BLAS-based attention makes. */
enum { MR = 6, NR = 16 };

/* A tile: nr query rows from i0 and nc key rows from j0. */
typedef struct tile {
    int64_t i0, j0, nr, nc;
} tile;

/* Rows of elements of the compute dtype, row stride ld: read, written. */
typedef struct rows_in {
    const void *p;
    int64_t ld;
} rows_in;
typedef struct rows_out {
    void *p;
    int64_t ld;
} rows_out;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void trace(ag_gemm_call c) {
    if (ag__profile_on()) ag__profile_gemm(&c);
}

/* The register block: out[r][u] = sum_k a[r][k as] b[k bs + u], r < MR, u < NR.
 * With GCC and clang, in vectors of NR / 2 elements (for f32 one AVX
 * register), twelve accumulators named one by one: held in an array, even
 * of vectors, GCC kept them in memory, and the loop ran at the speed of
 * its stores. Six rows rather than four: each step's two rows of b then
 * serve twelve products instead of eight, and a test program timed 38-42
 * multiply-adds a nanosecond against 28 (AVX2, 32 or 64 steps a call);
 * twelve accumulators, two rows of b and a broadcast fill the sixteen AVX
 * registers. Portable loops otherwise. */
#if defined(__GNUC__)
#define UKERNEL(R, sfx)                                                                      \
    static void ukernel_##sfx(const R *const a[MR], int64_t as, const R *b, int64_t bs,       \
                              int64_t K, R out[MR][NR]) {                                    \
        typedef R vec __attribute__((vector_size(NR / 2 * sizeof(R))));                     \
        vec s00 = {0}, s01 = {0}, s10 = {0}, s11 = {0}, s20 = {0}, s21 = {0};                \
        vec s30 = {0}, s31 = {0}, s40 = {0}, s41 = {0}, s50 = {0}, s51 = {0};                \
        const R *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];       \
        for (int64_t k = 0; k < K; k++) {                                                    \
            vec b0, b1;                                                                      \
            memcpy(&b0, b + k * bs, sizeof b0);                                              \
            memcpy(&b1, b + k * bs + NR / 2, sizeof b1);                                     \
            R x0 = a0[k * as], x1 = a1[k * as];                                              \
            s00 += x0 * b0, s01 += x0 * b1, s10 += x1 * b0, s11 += x1 * b1;                 \
            x0 = a2[k * as], x1 = a3[k * as];                                                \
            s20 += x0 * b0, s21 += x0 * b1, s30 += x1 * b0, s31 += x1 * b1;                 \
            x0 = a4[k * as], x1 = a5[k * as];                                                \
            s40 += x0 * b0, s41 += x0 * b1, s50 += x1 * b0, s51 += x1 * b1;                 \
        }                                                                                    \
        const vec v[MR][2] = {{s00, s01}, {s10, s11}, {s20, s21},                           \
                              {s30, s31}, {s40, s41}, {s50, s51}};                          \
        for (int r = 0; r < MR; r++) memcpy(out[r], v[r], sizeof v[r]);                      \
    }
#else
#define UKERNEL(R, sfx)                                                                      \
    static void ukernel_##sfx(const R *const a[MR], int64_t as, const R *b, int64_t bs,       \
                              int64_t K, R out[MR][NR]) {                                    \
        for (int r = 0; r < MR; r++)                                                         \
            for (int u = 0; u < NR; u++) out[r][u] = 0;                                      \
        for (int64_t k = 0; k < K; k++)                                                      \
            for (int r = 0; r < MR; r++)                                                     \
                for (int u = 0; u < NR; u++) out[r][u] += a[r][k * as] * b[k * bs + u];     \
    }
#endif
UKERNEL(float, f32)
UKERNEL(double, f64)
#define UKERNEL_OF(a, as, b, bs, K, out) \
    _Generic((b), const float *: ukernel_f32, default: ukernel_f64)(a, as, b, bs, K, out)

/* bt[d TILE + c] = B[c ld + d] for c < n, d < hd: rows_dot's key rows as
 * columns, by blocks of 8 x 8 (block8) and element by element at the
 * edges. With GCC 12 or later and clang a block is transposed in vectors,
 * three rounds of eight two-vector shuffles: element by element, the
 * transposes took a tenth of the attention's time at the small size. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUF(x, y, ...) __builtin_shufflevector(x, y, __VA_ARGS__)
#define PAIRS_LO 0, 8, 1, 9, 4, 12, 5, 13   /* two rows' elements 0, 1, 4, 5 interleaved */
#define PAIRS_HI 2, 10, 3, 11, 6, 14, 7, 15 /* and 2, 3, 6, 7 */
#define QUADS_LO 0, 1, 8, 9, 4, 5, 12, 13   /* two such vectors' first pairs of each half */
#define QUADS_HI 2, 3, 10, 11, 6, 7, 14, 15 /* and second pairs */
#define HALF_LO 0, 1, 2, 3, 8, 9, 10, 11    /* the low halves of two vectors */
#define HALF_HI 4, 5, 6, 7, 12, 13, 14, 15  /* the high halves */
/* Named vectors, not arrays: GCC keeps an array of vectors in memory. */
#define BLOCK8(R, sfx)                                                                       \
    static void block8_##sfx(const R *B, int64_t ld, R *bt) {                                \
        typedef R v8 __attribute__((vector_size(8 * sizeof(R))));                           \
        v8 r0, r1, r2, r3, r4, r5, r6, r7;                                                   \
        memcpy(&r0, B, sizeof r0), memcpy(&r1, B + ld, sizeof r1);                           \
        memcpy(&r2, B + 2 * ld, sizeof r2), memcpy(&r3, B + 3 * ld, sizeof r3);              \
        memcpy(&r4, B + 4 * ld, sizeof r4), memcpy(&r5, B + 5 * ld, sizeof r5);              \
        memcpy(&r6, B + 6 * ld, sizeof r6), memcpy(&r7, B + 7 * ld, sizeof r7);              \
        const v8 t0 = SHUF(r0, r1, PAIRS_LO), t1 = SHUF(r0, r1, PAIRS_HI);                   \
        const v8 t2 = SHUF(r2, r3, PAIRS_LO), t3 = SHUF(r2, r3, PAIRS_HI);                   \
        const v8 t4 = SHUF(r4, r5, PAIRS_LO), t5 = SHUF(r4, r5, PAIRS_HI);                   \
        const v8 t6 = SHUF(r6, r7, PAIRS_LO), t7 = SHUF(r6, r7, PAIRS_HI);                   \
        /* u_j, u_(j+4): column j (low half) and j + 4 (high) of rows 0-3, 4-7 */           \
        const v8 u0 = SHUF(t0, t2, QUADS_LO), u1 = SHUF(t0, t2, QUADS_HI);                   \
        const v8 u2 = SHUF(t1, t3, QUADS_LO), u3 = SHUF(t1, t3, QUADS_HI);                   \
        const v8 u4 = SHUF(t4, t6, QUADS_LO), u5 = SHUF(t4, t6, QUADS_HI);                   \
        const v8 u6 = SHUF(t5, t7, QUADS_LO), u7 = SHUF(t5, t7, QUADS_HI);                   \
        const v8 col[8] = {SHUF(u0, u4, HALF_LO), SHUF(u1, u5, HALF_LO),                     \
                           SHUF(u2, u6, HALF_LO), SHUF(u3, u7, HALF_LO),                     \
                           SHUF(u0, u4, HALF_HI), SHUF(u1, u5, HALF_HI),                     \
                           SHUF(u2, u6, HALF_HI), SHUF(u3, u7, HALF_HI)};                    \
        for (int j = 0; j < 8; j++) memcpy(bt + j * TILE, &col[j], sizeof col[j]);           \
    }
#else
#define BLOCK8(R, sfx)                                                                       \
    static void block8_##sfx(const R *B, int64_t ld, R *bt) {                                \
        for (int c = 0; c < 8; c++)                                                          \
            for (int d = 0; d < 8; d++) bt[d * TILE + c] = B[c * ld + d];                    \
    }
#endif
#define TRANSPOSE(R, sfx)                                                                    \
    BLOCK8(R, sfx)                                                                           \
    static void transpose_##sfx(const R *B, int64_t ld, int64_t n, int64_t hd, R *bt) {      \
        const int64_t n8 = n / 8 * 8, hd8 = hd / 8 * 8;                                      \
        for (int64_t c = 0; c < n8; c += 8)                                                  \
            for (int64_t d = 0; d < hd8; d += 8) block8_##sfx(B + c * ld + d, ld, bt + d * TILE + c); \
        for (int64_t c = 0; c < n; c++) /* the edges: c >= n8 or d >= hd8 */                 \
            for (int64_t d = c < n8 ? hd8 : 0; d < hd; d++) bt[d * TILE + c] = B[c * ld + d]; \
    }
TRANSPOSE(float, f32)
TRANSPOSE(double, f64)
#define TRANSPOSE_OF(B, ld, n, hd, bt) \
    _Generic((B), const float *: transpose_f32, default: transpose_f64)(B, ld, n, hd, bt)

/* C [nr x nc, row stride TILE] = alpha a_r . b_c for the tile's query rows
 * a_r of A and key rows b_c of B (hd elements each). Past a row's last
 * visible key, up to the end of its block of NR, C holds sums the caller
 * masks. bt: hd x TILE scratch. */
static void rows_dot(const attn_job *J, tile t, double alpha, rows_in A_, rows_in B_, void *C_,
                     void *bt_) {
    trace((ag_gemm_call){false, true, t.nr, t.nc, J->hd, A_.ld, B_.ld, TILE, J->dt, alpha, 0,
                         NULL});
    const int64_t hd = J->hd;
    AG_DISPATCH(J->dt, R, {
        const R *A = A_.p, *B = B_.p;
        R *C = C_, *bt = bt_;
        const R al = (R)alpha;
        TRANSPOSE_OF(B, B_.ld, t.nc, hd, bt);
        for (int64_t i = 0; i < t.nr; i += MR) {
            const int64_t last = min64(i + MR, t.nr) - 1;
            const R *a[MR]; /* rows past the last repeat it; their sums are dropped */
            for (int r = 0; r < MR; r++) a[r] = A + min64(i + r, last) * A_.ld;
            for (int64_t c = 0; c < visible(t.i0 + last, t.j0, t.nc); c += NR) {
                R acc[MR][NR];
                UKERNEL_OF(a, 1, (const R *)bt + c, TILE, hd, acc);
                for (int64_t r = 0; r <= last - i; r++)
                    for (int u = 0; u < NR; u++) C[(i + r) * TILE + c + u] = al * acc[r][u];
            }
        }
    });
}

/* C_r (+)= alpha sum_k a_rk b_k over C's rows (hd elements each), with a the
 * tile A (row stride TILE) and b_k row k of B (hd elements; a copy made by gather,
 * so that a block of NR columns may read past a row's end): with keys
 * false C's rows are the tile's queries and k its keys (a = A: O += P V,
 * dQ = s dS K); with keys true C's rows are its keys and k its queries
 * (a = A^T: dV = P^T dO, dK = s dS^T Q). k runs where a_rk can be nonzero. add
 * false stores (C is not read). */
static void rows_axpy(const attn_job *J, tile t, bool keys, double alpha, const void *A_,
                      rows_in B_, bool add, rows_out C_) {
    const int64_t hd = J->hd, n = keys ? t.nc : t.nr;
    trace((ag_gemm_call){keys, false, n, hd, keys ? t.nr : t.nc, TILE, B_.ld, C_.ld, J->dt,
                         alpha, add, NULL});
    const int64_t ai = keys ? 1 : TILE, ak = keys ? TILE : 1;
    AG_DISPATCH(J->dt, R, {
        const R *A = A_, *B = B_.p;
        R *C = C_.p;
        const R al = (R)alpha;
        for (int64_t i = 0; i < n; i += MR) {
            const int64_t last = min64(i + MR, n) - 1;
            /* key rows i.. are seen from query j0 + i - i0 on; query rows up to
               last see keys up to visible(...) */
            const int64_t k0 = keys && t.j0 + i > t.i0 ? t.j0 + i - t.i0 : 0;
            const int64_t k1 = keys ? t.nr : visible(t.i0 + last, t.j0, t.nc);
            const R *a[MR];
            for (int r = 0; r < MR; r++) a[r] = A + min64(i + r, last) * ai + k0 * ak;
            for (int64_t d = 0; d < hd; d += NR) {
                const int64_t w = min64(NR, hd - d);
                const R *b = B + d;
                R acc[MR][NR]; /* columns from w on are past the head: not stored */
                UKERNEL_OF(a, ak, b + k0 * B_.ld, B_.ld, k1 - k0, acc);
                for (int64_t r = 0; r <= last - i; r++) {
                    R *c = C + (i + r) * C_.ld + d;
                    if (add)
                        for (int u = 0; u < w; u++) c[u] += al * acc[r][u];
                    else
                        for (int u = 0; u < w; u++) c[u] = al * acc[r][u];
                }
            }
        }
    });
}

/* The n rows of hd elements at src, copied to dst (row stride hd): the
 * products' operands, contiguous. dst has COPY elements, the last NR of
 * them slack, so that a register block of NR columns reads past the end
 * of a row narrower than NR (a head of 12: the columns past it are not
 * stored) without leaving the copy. */
#define COPY(hd) (TILE * (hd) + NR)
static rows_in gather(const attn_job *J, rows_in src, int64_t n, void *dst) {
    const size_t es = ag_dtype_size(J->dt), row = (size_t)J->hd * es;
    for (int64_t i = 0; i < n; i++)
        memcpy((char *)dst + (size_t)i * row, (const char *)src.p + (size_t)(i * src.ld) * es, row);
    return (rows_in){dst, J->hd};
}

/* Offset in elements of (batch b, head h, row 0) in a tensor of row stride ld. */
static int64_t at(const attn_job *J, int64_t b, int64_t h, int64_t ld) {
    return b * J->T * ld + h * J->hd;
}

/* Bytes the cache moves at a time (x86-64 and most ARM cores). */
#define CACHE_LINE 64

/* What pairs (b, h0) .. (b, h1 - 1) read or write (forward: q, k, v and O;
 * backward: q, k, v, dO, the gradients and, past one tile, O), touched
 * before the first of them: one byte of every line, row by row, in
 * address order. In a training step this memory was last used long before
 * and is out of the caches, and a head's block is 2 lines in every 3C-wide
 * row: a pattern the hardware's prefetchers do not follow, so a pair
 * waited on its lines nearly one by one (asking for them with prefetch
 * instructions, the next pair's or the next batch row's, in slices while a
 * pair computed, bought 2-7 percent). A batch row's heads, read in address
 * order, are a stream that they do follow, and its blocks (96 KB of q, k,
 * v at the small size, 224 KB with backward's) then stay in L2 for its H
 * pairs. Only the chunk's own heads are read: another chunk may be writing
 * the rest of the row. */
static void touch_batch(const attn_job *J, int64_t b, int64_t h0, int64_t h1, bool backward) {
    enum { N = 8 };
    const void *base[N] = {J->q, J->k, J->v, !backward || J->T > TILE ? J->o : NULL,
                           backward ? J->dout : NULL, backward ? J->dq : NULL,
                           backward ? J->dk : NULL, backward ? J->dv : NULL};
    const int64_t ld[N] = {J->ld, J->ld, J->ld, J->ldo, J->ldo, J->ld, J->ld, J->ld};
    const size_t es = ag_dtype_size(J->dt), width = (size_t)((h1 - h0) * J->hd) * es;
    for (int64_t t = 0; t < J->T; t++)
        for (int i = 0; i < N; i++) {
            if (!base[i]) continue;
            const volatile unsigned char *row =
                (const unsigned char *)base[i] + (size_t)(at(J, b, h0, ld[i]) + t * ld[i]) * es;
            for (size_t c = 0; c < width; c += CACHE_LINE) (void)row[c];
        }
}

/* ---- forward ------------------------------------------------------------------- */

/* Pairs [p0, p1) (pair p = batch p / H, head p % H), scratch of one chunk. */
static void forward_pairs(const attn_job *J, int64_t p0, int64_t p1, void *scratch) {
    const int64_t T = J->T, hd = J->hd, ld = J->ld;
    AG_DISPATCH(J->dt, R, {
        R *bt = scratch, *S = bt + hd * TILE, *acc = S + TILE * TILE, *m = acc + TILE * hd, *l = m + TILE;
        R *qc = l + TILE, *vc = qc + COPY(hd); /* contiguous copies of a tile's rows */
        for (int64_t p = p0; p < p1; p++) {
            const int64_t b = p / J->H, h = p % J->H;
            const R *q = (const R *)J->q + at(J, b, h, ld);
            const R *k = (const R *)J->k + at(J, b, h, ld);
            const R *v = (const R *)J->v + at(J, b, h, ld);
            R *o = (R *)J->o + at(J, b, h, J->ldo);
            R *lse = (R *)J->lse + p * T;
            if (p == p0 || h == 0) touch_batch(J, b, h, min64(J->H, p1 - b * J->H), false);
            for (int64_t i0 = 0; i0 < T; i0 += TILE) {
                const int64_t nr = T - i0 < TILE ? T - i0 : TILE, iend = i0 + nr;
                const rows_in qi = gather(J, (rows_in){q + i0 * ld, ld}, nr, qc);
                for (int64_t j0 = 0; j0 < iend; j0 += TILE) {
                    const int64_t nc = iend - j0 < TILE ? iend - j0 : TILE;
                    const tile t = {i0, j0, nr, nc};
                    rows_dot(J, t, J->scale, qi, (rows_in){k + j0 * ld, ld}, S, bt);
                    R mnew[TILE]; /* the rows' maxima with this tile */
                    for (int64_t r = 0; r < nr; r++) {
                        const R mx = ROW_MAX(S + r * TILE, visible(i0 + r, j0, nc));
                        mnew[r] = j0 == 0 || mx > m[r] ? mx : m[r];
                    }
                    R sum[TILE]; /* the rows' sums of exp(S - mnew) */
                    EXP_TILE(S, nr, nc, i0, j0, mnew, sum); /* keys past the causal limit: 0 */
                    for (int64_t r = 0; r < nr; r++) {
                        if (j0 == 0) { /* the first tile: nothing to rescale */
                            l[r] = sum[r];
                        } else {
                            const R alpha = EXP_OF((R)(m[r] - mnew[r]));
                            l[r] = l[r] * alpha + sum[r];
                            for (int64_t d = 0; d < hd; d++) acc[r * hd + d] *= alpha;
                        }
                        m[r] = mnew[r];
                    }
                    rows_axpy(J, t, false, 1.0, S, gather(J, (rows_in){v + j0 * ld, ld}, nc, vc),
                              j0 != 0, (rows_out){acc, hd});
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
        R *bt = scratch, *P = bt + hd * TILE, *dS = P + TILE * TILE, *D = dS + TILE * TILE;
        R *qc = D + T, *kc = qc + COPY(hd), *gc = kc + COPY(hd); /* contiguous copies */
        for (int64_t p = p0; p < p1; p++) {
            const int64_t b = p / J->H, h = p % J->H;
            const int64_t in = at(J, b, h, ld), io = at(J, b, h, ldo);
            const R *q = (const R *)J->q + in, *k = (const R *)J->k + in;
            const R *v = (const R *)J->v + in;
            const R *o = (const R *)J->o + io, *g = (const R *)J->dout + io;
            const R *lse = (const R *)J->lse + p * T;
            R *dq = J->dq ? (R *)J->dq + in : NULL, *dk = J->dk ? (R *)J->dk + in : NULL;
            R *dv = J->dv ? (R *)J->dv + in : NULL;
            if (p == p0 || h == 0) touch_batch(J, b, h, min64(J->H, p1 - b * J->H), true);
            /* D from O, or (one tile) from P and dP in the tile: no pass over O,
               which is cold by now */
            const bool one_tile = T <= TILE;
            for (int64_t i = 0; i < T && dqk && !one_tile; i++)
                D[i] = ROW_DOT(g + i * ldo, o + i * ldo, hd);
            for (int64_t j0 = 0; j0 < T; j0 += TILE) {
                const int64_t nc = T - j0 < TILE ? T - j0 : TILE;
                const rows_in kj = gather(J, (rows_in){k + j0 * ld, ld}, nc, kc);
                for (int64_t i0 = j0; i0 < T; i0 += TILE) {
                    const int64_t nr = T - i0 < TILE ? T - i0 : TILE;
                    const tile t = {i0, j0, nr, nc};
                    const rows_in qi = gather(J, (rows_in){q + i0 * ld, ld}, nr, qc);
                    const rows_in gi = gather(J, (rows_in){g + i0 * ldo, ldo}, nr, gc);
                    rows_dot(J, t, J->scale, qi, kj, P, bt);
                    EXP_TILE(P, nr, nc, i0, j0, lse + i0, NULL);
                    /* a key tile's gradients are first written at i0 = j0, a query
                       tile's at j0 = 0 */
                    const bool add_k = i0 != j0 || J->add_k, add_v = i0 != j0 || J->add_v;
                    const bool add_q = j0 != 0 || J->add_q;
                    if (dv) rows_axpy(J, t, true, 1.0, P, gi, add_v, (rows_out){dv + j0 * ld, ld});
                    if (!dqk) continue;
                    rows_dot(J, t, 1.0, gi, (rows_in){v + j0 * ld, ld}, dS, bt);
                    for (int64_t r = 0; r < nr; r++) { /* dS = P (dP - D); 0 past the keys seen */
                        R *ds = dS + r * TILE;
                        const R *pr = P + r * TILE;
                        const int64_t seen = visible(i0 + r, j0, nc);
                        const R Dr = one_tile ? ROW_DOT(pr, ds, seen) : D[i0 + r];
                        for (int64_t c = 0; c < seen; c++) ds[c] = pr[c] * (ds[c] - Dr);
                        for (int64_t c = seen; c < nc; c++) ds[c] = 0;
                    }
                    if (dq) rows_axpy(J, t, false, J->scale, dS, kj, add_q, (rows_out){dq + i0 * ld, ld});
                    if (dk) rows_axpy(J, t, true, J->scale, dS, qi, add_k, (rows_out){dk + j0 * ld, ld});
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
    /* per chunk: rows_dot's bt, two tiles, an accumulator block, m and l, D,
     * three copies; each chunk's block starts on its own cache line */
    const size_t es = ag_dtype_size(J->dt), hd = (size_t)J->hd;
    size_t per = hd * TILE + 2 * TILE * TILE + TILE * hd + 2 * TILE + (size_t)J->T + 3 * COPY(hd);
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
                  .dout = out->grad->data, .add_q = beta[0] != 0,
                  .add_k = beta[out->nsrc == 3 ? 1 : 0] != 0, .add_v = beta[out->nsrc == 3 ? 2 : 0] != 0};
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
