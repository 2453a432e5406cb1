/* nn/norm_ops.c — the fused RMSNorm and LayerNorm ops: forward and a
 * hand-derived backward, side by side; and the composed RMSNorm kept as the
 * readable reference.
 *
 * x is viewed as rows x D (D = the product of normalized_shape). Per row i,
 * with x_j its D elements, w the weight (1 when absent) and dy the incoming
 * gradient:
 *
 * RMSNorm        ms = mean(x^2),  r = 1/sqrt(ms + eps),  xh = x * r
 *                y = xh * w_eff   (w_eff = w, or 1 + w with AG_RMS_UNIT_OFFSET)
 *   backward     g = dy * w_eff
 *                dr/dx_k = -r^3 x_k / D, so
 *                dx = r*g - x * r^3 * mean(g*x) = r * (g - xh * mean(g*xh))
 *                dw = sum over rows of dy * xh   (the same for 1 + w: d(1+w)/dw = 1)
 *   The sqrt-div form y = x / s, s = sqrt(ms + eps), is the same function
 *   (r = 1/s) and shares the backward; only the forward rounds differently.
 *
 * LayerNorm      mean = mean(x),  var = mean((x - mean)^2)   (two-pass, centred)
 *                r = 1/sqrt(var + eps),  xh = (x - mean) * r,  y = xh * w + b
 *   backward     g = dy * w
 *                dx = r * (g - mean(g) - xh * mean(g*xh))
 *                dw = sum over rows of dy * xh,  db = sum over rows of dy
 *
 * Numerics. Row reductions (sums of squares, means, the dot products of
 * backward) accumulate in double whatever the dtype, with 16 independent
 * partial sums added in a fixed order (ROW_ACC, lanes_sum): the loop
 * vectorizes and the result does not depend on the vector width. Because
 * x^2 is formed in double, f32 rows with |x| up to ~1e38 normalize
 * correctly: PyTorch's f32 kernel squares in f32, which overflows for
 * |x| > 1.8e19 (x*x > 3.4e38), and returns 0 for the whole row; ag returns
 * the right answer (tested with x = [3e20, 4e20]). At the small end, x ~
 * 1e-20 squares to ~1e-40 (an f32 subnormal) exactly in double. backward
 * forms dx as r * (g - xh * m) rather than r*g - x * (r^3 * mean(g*x)), so
 * that r^3 (which under- or overflows f32 at those magnitudes) never
 * appears; its terms dy * w * x and dy * xh are formed in the compute type
 * (one rounding each, as PyTorch does) and summed in double. f64 inputs
 * square in f64, as PyTorch does (overflow above ~1e154).
 *
 * What is saved: per row, r (RMSNorm) or mean and r (LayerNorm), as double
 * (8 or 16 bytes per row, in the result's arena, only when a gradient will be
 * needed); backward recomputes xh from x. RMSNorm's forward writes y in the
 * compute type (x * (T)r * w). LayerNorm forms xh = ((x - mh) - ml) * r in
 * the compute type from the mean split as mh + ml (mh = (T)mean, ml the
 * rest): x - mh is exact when x is near the mean, so xh keeps the digits
 * that (x - (T)mean) would lose when |mean| >> std; its backward forms the
 * same xh and dx in the compute type.
 *
 * Memory traffic. Each pass reads its inputs once and writes its output
 * once: rows are pipelined (see "how the rows are run" below), outputs of
 * AG_STREAM_MIN bytes or more go out with non-temporal stores, and when x
 * has no gradient yet backward writes dx (=) into an uninitialised buffer
 * instead of zeroing one and adding to it. So forward moves 2N bytes for an
 * input of N, backward 3N (x and dy in, dx out); bench-norms measures both
 * against a copy.
 *
 * Threads and determinism. Forward and backward split the rows into a fixed
 * static partition of chunks, one per OpenMP thread. Each chunk writes its
 * rows of y or dx and, in backward, accumulates dw (and db) into its own
 * partial sums in double; after the loop the partials are added in chunk
 * order and the total added once into weight.grad. So the same inputs give
 * bitwise the same gradients for a given thread count; a different thread
 * count may change dw and db in the last bits. y and dx never depend on the
 * thread count. Nothing is allocated inside the row loops: forward
 * allocates only its result and the saved rows; backward, once per call,
 * one partial-sum buffer per parameter (nchunks x D doubles) and a few rows
 * per chunk for block sums and, in LayerNorm, xh.
 *
 * dtypes: x f32/f64/bf16; bf16 x is cast (recorded) to f32, normalized in f32
 * and the result cast back to bf16; weight and bias are cast (recorded) to
 * the compute type when they differ, so their gradients reach them through
 * the cast.
 */
#include <stdlib.h>

#include "internal.h"

#include "ag/norm_ops.h"
#include "nn_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- helpers ---------------------------------------------------------------- */

/* Row sums in double. Element j of a row goes to lane j % LANES of an
 * accumulator acc[LANES]; ROW_ACC adds the elements [j0, j1) (j0 a multiple
 * of LANES) so a row can be summed a tile at a time, and lanes_sum adds the
 * lanes in a fixed order. The block loop vectorizes (16 doubles: four AVX
 * registers, enough independent chains to keep up with memory), and the
 * result does not depend on the vector width or on how the row was tiled. */
#define LANES 16
#define ROW_ACC(acc, j0, j1, j, EXPR)                                              \
    do {                                                                           \
        int64_t b_ = (j0);                                                         \
        for (; b_ + LANES <= (j1); b_ += LANES)                                    \
            for (int k_ = 0; k_ < LANES; k_++) {                                   \
                const int64_t j = b_ + k_;                                         \
                (acc)[k_] += (EXPR);                                               \
            }                                                                      \
        for (int64_t j = b_; j < (j1); j++) (acc)[j - b_] += (EXPR);               \
    } while (0)

/* Two sums at once (one pass over the elements). */
#define ROW_ACC2(acc, EXPR, acc2, EXPR2, j0, j1, j)                                \
    do {                                                                           \
        int64_t b_ = (j0);                                                         \
        for (; b_ + LANES <= (j1); b_ += LANES)                                    \
            for (int k_ = 0; k_ < LANES; k_++) {                                   \
                const int64_t j = b_ + k_;                                         \
                (acc)[k_] += (EXPR), (acc2)[k_] += (EXPR2);                        \
            }                                                                      \
        for (int64_t j = b_; j < (j1); j++)                                        \
            (acc)[j - b_] += (EXPR), (acc2)[j - b_] += (EXPR2);                    \
    } while (0)

static double lanes_sum(const double *acc) {
    double s = 0;
    for (int k = 0; k < LANES / 4; k++)
        s += (acc[k] + acc[k + 4]) + (acc[k + 8] + acc[k + 12]);
    return s;
}

/* The same over one tile [j0, j1) (at most TILE elements) when the terms
 * may be summed in the compute type T: each lane sums its TILE/LANES terms
 * in T, then the lanes are added to acc in double. Between a sum in T and
 * one in double: the error is that of a 16-term sum in T, whatever the
 * length of the row, for half the work of converting every term. */
#define TILE_SUM(acc, j0, j1, j, EXPR)                                             \
    do {                                                                           \
        T t_[LANES] = {0};                                                         \
        ROW_ACC(t_, j0, j1, j, EXPR);                                              \
        for (int k_ = 0; k_ < LANES; k_++) (acc)[k_] += (double)t_[k_];            \
    } while (0)

/* out = sum over j in [0, n) of EXPR, in double. */
#define ROW_SUM(out, n, j, EXPR)                                                   \
    do {                                                                           \
        double a_[LANES] = {0};                                                    \
        ROW_ACC(a_, 0, (n), j, EXPR);                                              \
        (out) = lanes_sum(a_);                                                     \
    } while (0)

bool ag__norm_eps_ok(const char *op, const char *what, const char *shape, double eps) {
    if (isfinite(eps)) return true;
    ag__fail(op, "eps is %g for %s %s: expected a finite number", eps, what, shape);
    return false;
}

/* Validates the arguments shared by the three ops and sets rows and D.
 * weight and bias may be NULL (absent). Reports once and returns false. */
static bool check_args(const char *op, const ag_tensor *x, int nshape, const int64_t *ns,
                       const ag_tensor *weight, const ag_tensor *bias, double eps,
                       int64_t *rows, int64_t *D) {
    if (!ag__check_float(op, x)) return false;
    if (!ns || nshape < 1 || nshape > AG_MAX_DIMS) {
        ag__fail(op, "normalized_shape for input %s has %d dims%s: expected 1 to %d", ag__shp(x),
                 nshape, ns ? "" : " and is NULL", AG_MAX_DIMS);
        return false;
    }
    if (nshape > x->ndim) {
        ag__fail(op, "normalized_shape %s has more dims than input %s", ag__shp_of(nshape, ns),
                 ag__shp(x));
        return false;
    }
    const int lead = x->ndim - nshape;
    for (int k = 0; k < nshape; k++)
        if (x->shape[lead + k] != ns[k]) {
            ag__fail(op, "normalized_shape %s does not match the trailing dims of input %s",
                     ag__shp_of(nshape, ns), ag__shp(x));
            return false;
        }
    const ag_tensor *params[2] = {weight, bias};
    const char *names[2] = {"weight", "bias"};
    for (int p = 0; p < 2; p++) {
        const ag_tensor *t = params[p];
        if (!t) continue;
        if (!ag_dtype_is_float(t->dtype)) {
            ag__fail(op, "%s %s has dtype %s: expected a float dtype (f32, f64 or bf16)",
                     names[p], ag__shp(t), ag_dtype_name(t->dtype));
            return false;
        }
        bool same = t->ndim == nshape;
        for (int k = 0; same && k < nshape; k++) same = t->shape[k] == ns[k];
        if (!same) {
            ag__fail(op, "%s %s does not match normalized_shape %s (input %s)", names[p],
                     ag__shp(t), ag__shp_of(nshape, ns), ag__shp(x));
            return false;
        }
    }
    if (!ag__norm_eps_ok(op, "input", ag__shp(x), eps)) return false;
    *D = ag__numel(nshape, ns);
    *rows = ag__numel(lead, x->shape);
    return true;
}

/* ---- how the rows are run ---------------------------------------------------
 * Rows are split into a fixed static partition of nchunks contiguous ranges
 * (one per OpenMP thread, omp_get_max_threads(); 1 without OpenMP or below
 * AG_PAR_MIN elements; never more chunks than rows). Chunk c owns rows
 * [rows*c/n, rows*(c+1)/n) and, in backward, its own partial sums of the
 * parameter gradients.
 *
 * Inside a chunk the rows are pipelined a tile (TILE elements) at a time:
 * while row i's output tile [j0, j1) is computed from row i (already in
 * cache) and written, the same tile of row i+1 is read from memory into its
 * reduction. Reads of new data and writes of results then overlap, so the
 * pass runs at the speed of a copy; a row is reduced once, in the tiles of
 * the row before it. */
enum { TILE = AG__NORM_TILE };

typedef struct {
    int nchunks;
    int64_t rows, D;
    bool stream; /* outputs go around the cache (see AG_STREAM_MIN) */
} plan;

/* p for rows x D elements of dtype dt whose output is overwritten (not
 * accumulated into) when overwrite. */
static plan plan_rows(int64_t rows, int64_t D, ag_dtype dt, bool overwrite) {
    int n = 1;
#ifdef _OPENMP
    if (rows * D >= AG_PAR_MIN) n = omp_get_max_threads();
#endif
    if (n > rows) n = (int)rows;
    plan p = {.nchunks = n < 1 ? 1 : n, .rows = rows, .D = D};
    p.stream = overwrite && (size_t)(rows * D) * ag_dtype_size(dt) >= AG_STREAM_MIN;
    return p;
}

#define CHUNK_ROWS(p, c, i0, i1)                                                   \
    const int64_t i0 = (p)->rows * (c) / (p)->nchunks,                              \
                  i1 = (p)->rows * ((c) + 1) / (p)->nchunks

/* The tiles of a row: for (TILES(D, j0, j1)) { ... } */
#define TILES(D, j0, j1)                                                           \
    int64_t j0 = 0, j1 = (D) < TILE ? (D) : TILE; j0 < (D);                        \
    j0 = j1, j1 = (D) - j1 < TILE ? (D) : j1 + TILE

/* dst[j] = EXPR for j in [j0, j1) (dst[j] += EXPR when add): with
 * non-temporal stores through a tile in L1 when stream. T is the element
 * type in scope. */
#define TILE_OUT(stream, add, dst, j0, j1, j, EXPR)                                \
    do {                                                                           \
        if (stream) {                                                              \
            _Alignas(64) T buf_[TILE];                                             \
            for (int64_t j = (j0); j < (j1); j++) buf_[j - (j0)] = (EXPR);         \
            ag__copy_nt((dst) + (j0), buf_, (size_t)((j1) - (j0)) * sizeof(T));    \
        } else if (add) {                                                          \
            for (int64_t j = (j0); j < (j1); j++) (dst)[j] += (EXPR);              \
        } else {                                                                   \
            for (int64_t j = (j0); j < (j1); j++) (dst)[j] = (EXPR);               \
        }                                                                          \
    } while (0)

/* Zeroed partial sums for nchunks chunks of D (NULL when not wanted);
 * reports when out of memory. */
static double *partials(const char *op, bool want, int nchunks, int64_t D, bool *ok) {
    if (!want || !*ok) return NULL;
    double *p = calloc((size_t)nchunks * (size_t)D, sizeof *p);
    if (!p) {
        ag__fail(op, "out of memory for %d x %lld partial sums of a parameter gradient",
                 nchunks, (long long)D);
        *ok = false;
    }
    return p;
}

/* Where scratch rows go. L1 holds 4 KiB per way (8 ways on the machines
 * this was measured on), so lines that lie at the same offset within their
 * 4 KiB pages compete for the same few slots. A backward loop streams
 * several rows at once, usually at one page offset (x and dy, row i and
 * row i+1, all allocated page-aligned with the same header), and its
 * scratch rows (block sums, xh) are read and written as often as the
 * others; placed at that offset too, they evicted lines still in use, and
 * LayerNorm's backward ran 15-25% slower. So each scratch row starts at
 * an offset, a multiple of 64, as far as possible from the offsets of the
 * streamed rows (avoid[]) and of the scratch rows placed before it. */
enum { PAGE = 4096 };

/* The multiple of 64 in [0, PAGE) farthest (around the page) from all of
 * taken[0..n). */
static size_t far_offset(const size_t *taken, int n) {
    size_t best = 0, best_d = 0;
    for (size_t o = 0; o < PAGE; o += 64) {
        size_t d = PAGE;
        for (int k = 0; k < n; k++) {
            const size_t a = (o - taken[k]) % PAGE, b = (taken[k] - o) % PAGE;
            d = a < d ? a : d;
            d = b < d ? b : d;
        }
        if (d > best_d) best = o, best_d = d;
    }
    return best;
}

/* nrows (at most 4) uninitialised scratch rows of D elements of dtype dt
 * for each of nchunks chunks into s, placed away from the page offsets of
 * the navoid addresses avoid[] (NULLs are skipped); s->base NULL when not
 * want. Reports when out of memory. Free with free(s->base). */
static void scratch_rows(ag__scratch *s, const char *op, bool want, int nchunks, int nrows,
                         int64_t D, ag_dtype dt, const void *const *avoid, int navoid, bool *ok) {
    *s = (ag__scratch){0};
    if (!want || !*ok) return;
    size_t taken[16];
    int n = 0;
    for (int k = 0; k < navoid && n < 12; k++)
        if (avoid[k]) taken[n++] = (uintptr_t)avoid[k] % PAGE;
    /* each row in its own span of whole pages, plus a page to move within */
    const size_t row_bytes = (size_t)D * ag_dtype_size(dt);
    const size_t span = (row_bytes + PAGE - 1) / PAGE * PAGE + PAGE;
    for (int k = 0; k < nrows; k++) {
        s->off[k] = (size_t)k * span + far_offset(taken, n);
        taken[n++] = s->off[k] % PAGE;
    }
    s->chunk_bytes = (size_t)nrows * span;
    void *p = NULL;
    if (posix_memalign(&p, PAGE, (size_t)nchunks * s->chunk_bytes) != 0) {
        ag__fail(op, "out of memory for %d x %d rows of %lld elements", nchunks, nrows,
                 (long long)D);
        *ok = false;
        return;
    }
    s->base = p;
}

/* The addresses whose page offsets a backward loop over rows of D elements
 * of dtype dt streams: row i and row i+1 of x and dy, the next row 1 KiB
 * ahead (where the SIMD loops prefetch), and w. Fills avoid[NSTREAMED]. */
enum { NSTREAMED = 7 };
static void streamed(const void *avoid[NSTREAMED], const void *x, const void *dy, const void *w,
                     int64_t D, ag_dtype dt) {
    const uintptr_t row = (uintptr_t)D * ag_dtype_size(dt);
    avoid[0] = x, avoid[1] = dy, avoid[2] = w;
    avoid[3] = (const void *)((uintptr_t)x + row), avoid[4] = (const void *)((uintptr_t)dy + row);
    avoid[5] = (const void *)((uintptr_t)x + row + 1024);
    avoid[6] = (const void *)((uintptr_t)dy + row + 1024);
}

/* Parameter gradients sum a term per row: dw = sum over rows of dy * xh.
 * The rows of a chunk are taken in blocks of BLOCK_ROWS; a block's terms are
 * summed in the compute type in blk (a short cascade, a few roundings), and
 * each block's sum is added to the chunk's partial sums acc in double. That
 * halves the traffic to acc and keeps the error of a long sum that of
 * double. first / last: row i is the first / last of its block. */
enum { BLOCK_ROWS = AG__NORM_BLOCK_ROWS };
#define BLOCK_ACC(acc, blk, first, last, j0, j1, j, TERM)                          \
    do {                                                                           \
        if ((first) && (last))                                                     \
            for (int64_t j = (j0); j < (j1); j++) (acc)[j] += (double)(TERM);      \
        else if (first)                                                            \
            for (int64_t j = (j0); j < (j1); j++) (blk)[j] = (TERM);               \
        else if (last)                                                             \
            for (int64_t j = (j0); j < (j1); j++) (acc)[j] += (double)((blk)[j] + (TERM)); \
        else                                                                       \
            for (int64_t j = (j0); j < (j1); j++) (blk)[j] += (TERM);              \
    } while (0)
#define BLOCK_FIRST(i, i0) (((i) - (i0)) % BLOCK_ROWS == 0)
#define BLOCK_LAST(i, i0, i1) (((i) - (i0)) % BLOCK_ROWS == BLOCK_ROWS - 1 || (i) + 1 == (i1))

/* grad[j] += sum over chunks c (in order 0, 1, ...) of part[c*D + j]. */
static void add_partials(double *part, int nchunks, int64_t D, ag_tensor *grad) {
    for (int c = 1; c < nchunks; c++) {
        const double *restrict pc = part + (int64_t)c * D;
        for (int64_t j = 0; j < D; j++) part[j] += pc[j];
    }
    AG_DISPATCH(grad->dtype, T, {
        T *g = grad->data;
        for (int64_t j = 0; j < D; j++) g[j] += (T)part[j];
    });
}

/* ---- RMSNorm ---------------------------------------------------------------- */

/* x, y: [rows, D]; w: [D] or NULL; all of x's dtype (f32 or f64).
 * rs[rows] receives r per row (NULL: not saved). Row i+1's sum of squares
 * is accumulated while row i is written (see "how the rows are run"). */
static void rms_forward(const plan *p, const ag_tensor *x, const ag_tensor *w, ag_tensor *y,
                        double *rs, double eps, unsigned flags) {
    const bool div = flags & AG_RMS_SQRT_DIV, offset = flags & AG_RMS_UNIT_OFFSET;
    const bool st = p->stream;
    const int64_t D = p->D;
    AG_DISPATCH(x->dtype, T, {
        const T *px = x->data, *pw = w ? w->data : NULL;
        T *py = y->data;
        AG_OMP_FOR(p->nchunks > 1)
        for (int c = 0; c < p->nchunks; c++) {
            CHUNK_ROWS(p, c, i0, i1);
            double ss;
            ROW_SUM(ss, D, j, (double)px[i0 * D + j] * px[i0 * D + j]);
            for (int64_t i = i0; i < i1; i++) {
                const T *restrict xi = px + i * D, *restrict xn = xi + D;
                const bool next = i + 1 < i1;
                T *restrict yi = py + i * D;
                const double s = sqrt(ss / (double)D + eps), r = 1 / s;
                if (rs) rs[i] = r;
                const T sT = (T)s, rT = (T)r;
                double acc[LANES] = {0};
                for (TILES(D, j0, j1)) {
                    if (next) ROW_ACC(acc, j0, j1, j, (double)xn[j] * xn[j]);
                    if (!pw) {
                        if (div) TILE_OUT(st, false, yi, j0, j1, j, xi[j] / sT);
                        else TILE_OUT(st, false, yi, j0, j1, j, xi[j] * rT);
                    } else if (!offset) {
                        if (div) TILE_OUT(st, false, yi, j0, j1, j, xi[j] / sT * pw[j]);
                        else TILE_OUT(st, false, yi, j0, j1, j, xi[j] * rT * pw[j]);
                    } else {
                        if (div) TILE_OUT(st, false, yi, j0, j1, j, xi[j] / sT * ((T)1 + pw[j]));
                        else TILE_OUT(st, false, yi, j0, j1, j, xi[j] * rT * ((T)1 + pw[j]));
                    }
                }
                ss = lanes_sum(acc);
            }
            if (st) ag__stream_fence();
        }
    });
}

/* acc += dy * w_eff * x over the tile [j0, j1) of rows xr, dyr: the sum
 * that gives m = mean(g * xh) = r * sum / D in backward (see TILE_SUM). */
#define RMS_GX_ACC(acc, j0, j1, xr, dyr)                                           \
    do {                                                                           \
        if (!pw)                                                                   \
            TILE_SUM(acc, j0, j1, j, (dyr)[j] * (xr)[j]);                          \
        else if (!offset)                                                          \
            TILE_SUM(acc, j0, j1, j, (dyr)[j] * pw[j] * (xr)[j]);                  \
        else                                                                       \
            TILE_SUM(acc, j0, j1, j, (dyr)[j] * ((T)1 + pw[j]) * (xr)[j]);         \
    } while (0)

/* src[0] = x, src[1] = weight when iparam[2]; iparam[0] = D, iparam[1] =
 * flags; saved = r per row (double). */
static void rms_backward(ag_tensor *out) {
    const char *op = "rms_norm";
    ag_tensor *x = out->src[0], *w = out->iparam[2] ? out->src[1] : NULL;
    const int64_t D = out->iparam[0];
    const bool offset = out->iparam[1] & AG_RMS_UNIT_OFFSET;
    const bool want_x = x->requires_grad, want_w = w && w->requires_grad;
    if (out->numel == 0) { /* no rows: zero gradients */
        ag__grad_buf(x), ag__grad_buf(w);
        return;
    }
    if (!want_x && !want_w) return;
    const int64_t rows = out->numel / D;
    const double *rs = out->saved;
    /* dx is overwritten when x has no gradient yet: see ag__grad_buf_raw */
    const bool add = want_x && x->grad != NULL;
    const plan p = plan_rows(rows, D, out->dtype, want_x && !add);
    const bool st = p.stream;
    bool ok = true;
    double *part = partials(op, want_w, p.nchunks, D, &ok);
    const void *avoid[NSTREAMED];
    streamed(avoid, x->data, out->grad->data, w ? w->data : NULL, D, out->dtype);
    ag__scratch blk; /* dw's block sums */
    scratch_rows(&blk, op, want_w, p.nchunks, 1, D, out->dtype, avoid, NSTREAMED, &ok);
    ag_tensor *gw = ok && want_w ? ag__grad_buf(w) : NULL;
    ok = ok && (gw || !want_w);
    /* gx last: once a fresh (uninitialised) gx exists, the kernel must run */
    ag_tensor *gx = ok ? ag__grad_buf_raw(x) : NULL;
    ok = ok && (gx || !want_x);
    const bool simd = ok && out->dtype == AG_F32 && !out->iparam[1] &&
                      ag__rms_backward_f32_simd(x->data, out->grad->data, w ? w->data : NULL, rs,
                                                gx ? gx->data : NULL, add, part, &blk, rows, D,
                                                p.nchunks, st);
    if (ok && !simd) AG_DISPATCH(out->dtype, T, {
        const T *px = x->data, *pdy = out->grad->data, *pw = w ? w->data : NULL;
        T *pdx = gx ? gx->data : NULL;
        AG_OMP_FOR(p.nchunks > 1)
        for (int c = 0; c < p.nchunks; c++) {
            double *restrict dw = part ? part + (int64_t)c * D : NULL;
            T *restrict wb = AG__SCRATCH_ROW(&blk, c, 0);
            CHUNK_ROWS(&p, c, i0, i1);
            double acc[LANES] = {0};
            if (pdx)
                for (TILES(D, j0, j1)) RMS_GX_ACC(acc, j0, j1, px + i0 * D, pdy + i0 * D);
            double sgx = lanes_sum(acc);
            for (int64_t i = i0; i < i1; i++) {
                const T *restrict xi = px + i * D, *restrict dyi = pdy + i * D;
                const bool next = pdx && i + 1 < i1;
                T *restrict dxi = pdx ? pdx + i * D : NULL;
                const double r = rs[i];
                const T rT = (T)r, mT = (T)(r * sgx / (double)D);
                const bool first = BLOCK_FIRST(i, i0), last = BLOCK_LAST(i, i0, i1);
                for (int k = 0; k < LANES; k++) acc[k] = 0;
                for (TILES(D, j0, j1)) {
                    if (next) RMS_GX_ACC(acc, j0, j1, xi + D, dyi + D);
                    /* dx = r * (g - xh * m), g = dy * w_eff, xh = x * r */
                    if (!dxi) {
                    } else if (!pw) {
                        TILE_OUT(st, add, dxi, j0, j1, j, rT * (dyi[j] - xi[j] * rT * mT));
                    } else if (!offset) {
                        TILE_OUT(st, add, dxi, j0, j1, j, rT * (dyi[j] * pw[j] - xi[j] * rT * mT));
                    } else {
                        TILE_OUT(st, add, dxi, j0, j1, j,
                                 rT * (dyi[j] * ((T)1 + pw[j]) - xi[j] * rT * mT));
                    }
                    /* dw += dy * xh, each term in T (see BLOCK_ACC) */
                    if (dw) BLOCK_ACC(dw, wb, first, last, j0, j1, j, dyi[j] * (xi[j] * rT));
                }
                sgx = lanes_sum(acc);
            }
            if (st) ag__stream_fence();
        }
    });
    if (ok && part) add_partials(part, p.nchunks, D, gw);
    free(part);
    free(blk.base);
}

#undef RMS_GX_ACC

static const ag_op RMS_NORM = {"rms_norm", rms_backward};

ag_tensor *ag_rms_norm_(ag_arena *A, ag_tensor *x, int nshape, const int64_t *normalized_shape,
                        ag_tensor *weight, double eps, unsigned flags) {
    const char *op = "rms_norm";
    if (!x) return NULL;
    int64_t rows, D;
    if (!check_args(op, x, nshape, normalized_shape, weight, NULL, eps, &rows, &D)) return NULL;
    const unsigned known = AG_RMS_SQRT_DIV | AG_RMS_UNIT_OFFSET;
    if (flags & ~known) {
        ag__fail(op, "unknown flags 0x%x for input %s (known: AG_RMS_SQRT_DIV, "
                     "AG_RMS_UNIT_OFFSET)", flags & ~known, ag__shp(x));
        return NULL;
    }
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *xc = ag__as(A, x, ct), *w = ag__as(A, weight, ct);
    if (!xc || (weight && !w)) return NULL;
    ag_tensor *y = ag__result(A, ct, xc->ndim, xc->shape);
    if (!y) return NULL;
    ag_tensor *srcs[2] = {xc, w};
    const int nsrc = w ? 2 : 1;
    double *rs = NULL;
    if (y->numel > 0 && ag__needs_grad(nsrc, srcs)) {
        rs = ag_arena_alloc_(A, (size_t)rows * sizeof *rs);
        if (!rs) return NULL;
    }
    if (y->numel > 0) {
        const plan p = plan_rows(rows, D, ct, true);
        if (ct != AG_F32 || flags ||
            !ag__rms_forward_f32_simd(xc->data, w ? w->data : NULL, y->data, rs, rows, D, eps,
                                      p.nchunks, p.stream))
            rms_forward(&p, xc, w, y, rs, eps, flags);
    }
    y->iparam[0] = D;
    y->iparam[1] = flags;
    y->iparam[2] = w != NULL;
    y->fparam[0] = eps;
    y->saved = rs;
    ag__record(y, &RMS_NORM, nsrc, srcs);
    return ag__as(A, y, x->dtype);
}

/* The reference: pow, mean (keepdim), add_scalar, rsqrt, mul, mul. bf16
 * input is cast to f32 first and the result cast back, as the fused op does;
 * weight is cast to the compute type. */
ag_tensor *ag_rms_norm_composed_(ag_arena *A, ag_tensor *x, int nshape,
                                 const int64_t *normalized_shape, ag_tensor *weight, double eps) {
    const char *op = "rms_norm_composed";
    if (!x) return NULL;
    int64_t rows, D;
    if (!check_args(op, x, nshape, normalized_shape, weight, NULL, eps, &rows, &D)) return NULL;
    int dims[AG_MAX_DIMS];
    for (int k = 0; k < nshape; k++) dims[k] = x->ndim - nshape + k;
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *xc = ag__as(A, x, ct), *w = ag__as(A, weight, ct);
    if (!xc || (weight && !w)) return NULL;
    ag_tensor *ms = ag_mean_(A, ag_pow_(A, xc, 2.0), nshape, dims, true); /* mean(x^2) */
    ag_tensor *r = ag_rsqrt_(A, ag_add_scalar_(A, ms, eps));              /* 1/sqrt(. + eps) */
    ag_tensor *y = ag_mul_(A, xc, r);                                     /* x * r */
    if (w) y = ag_mul_(A, y, w);                                          /* * weight */
    return ag__as(A, y, x->dtype);
}

/* ---- LayerNorm -------------------------------------------------------------- */

/* xh_j of ln_forward's row, from the mean split as mh + ml in T. */
#define XH (((xi[j] - mh) - ml) * rT)

/* x, y: [rows, D]; w, b: [D] or NULL; all of x's dtype (f32 or f64).
 * mr[2*rows] receives (mean, r) per row (NULL: not saved).
 *
 * The variance of an f32 row comes from its sum and sum of squares, both in
 * double, accumulated for row i+1 while row i is written: x^2 is exact in
 * double and var = E[x^2] - mean^2 loses about (mean/std)^2 * 2^-53
 * relative, far below f32's 2^-24 for any row whose spread f32 can resolve.
 * An f64 row has no such margin and is centred first (two passes, the
 * second from cache). */
static void ln_forward(const plan *p, const ag_tensor *x, const ag_tensor *w, const ag_tensor *b,
                       ag_tensor *y, double *mr, double eps) {
    const bool st = p->stream;
    const int64_t D = p->D;
    AG_DISPATCH(x->dtype, T, {
        const bool one_pass = sizeof(T) < sizeof(double);
        const T *px = x->data, *pw = w ? w->data : NULL, *pb = b ? b->data : NULL;
        T *py = y->data;
        AG_OMP_FOR(p->nchunks > 1)
        for (int c = 0; c < p->nchunks; c++) {
            CHUNK_ROWS(p, c, i0, i1);
            double as[LANES] = {0}, aq[LANES] = {0};
            const T *x0 = px + i0 * D;
            ROW_ACC2(as, (double)x0[j], aq, (double)x0[j] * x0[j], 0, D, j);
            for (int64_t i = i0; i < i1; i++) {
                const T *restrict xi = px + i * D, *restrict xn = xi + D;
                const bool next = i + 1 < i1;
                T *restrict yi = py + i * D;
                const double mean = lanes_sum(as) / (double)D;
                double var;
                if (one_pass) {
                    var = fmax(lanes_sum(aq) / (double)D - mean * mean, 0.0);
                } else {
                    ROW_SUM(var, D, j, ((double)xi[j] - mean) * ((double)xi[j] - mean));
                    var /= (double)D;
                }
                const double r = 1 / sqrt(var + eps);
                if (mr) mr[2 * i] = mean, mr[2 * i + 1] = r;
                /* the mean as mh + ml in T: x - mh is exact when x is near the
                 * mean, so xh keeps its digits when |mean| >> std */
                const T mh = (T)mean, ml = (T)(mean - (double)mh), rT = (T)r;
                for (int k = 0; k < LANES; k++) as[k] = aq[k] = 0;
                for (TILES(D, j0, j1)) {
                    if (next) ROW_ACC2(as, (double)xn[j], aq, (double)xn[j] * xn[j], j0, j1, j);
                    /* xh = ((x - mh) - ml) * r (XH), then the affine part */
                    if (pw && pb) TILE_OUT(st, false, yi, j0, j1, j, XH * pw[j] + pb[j]);
                    else if (pw) TILE_OUT(st, false, yi, j0, j1, j, XH * pw[j]);
                    else if (pb) TILE_OUT(st, false, yi, j0, j1, j, XH + pb[j]);
                    else TILE_OUT(st, false, yi, j0, j1, j, XH);
                }
            }
            if (st) ag__stream_fence();
        }
    });
}

#undef XH

/* The xh of row xr (mean mu, 1/std rr) over the tile [j0, j1) into xh[],
 * as in forward; with g = dy * w, ag += g and agx += g * xh when sums (the
 * sums that give mean(g) and mean(g * xh) in backward; see TILE_SUM). */
#define LN_XH_ACC(xh, ag, agx, sums, j0, j1, xr, dyr, mu, rr)                      \
    do {                                                                           \
        const T mh_ = (T)(mu), ml_ = (T)((mu) - (double)mh_), r_ = (T)(rr);        \
        for (int64_t j = (j0); j < (j1); j++) (xh)[j] = (((xr)[j] - mh_) - ml_) * r_; \
        if (sums && pw) {                                                          \
            TILE_SUM(ag, j0, j1, j, (dyr)[j] * pw[j]);                             \
            TILE_SUM(agx, j0, j1, j, (dyr)[j] * pw[j] * (xh)[j]);                  \
        } else if (sums) {                                                         \
            TILE_SUM(ag, j0, j1, j, (dyr)[j]);                                     \
            TILE_SUM(agx, j0, j1, j, (dyr)[j] * (xh)[j]);                          \
        }                                                                          \
    } while (0)

/* src = x, then weight when iparam[2], then bias when iparam[3];
 * iparam[0] = D; saved = (mean, r) per row (double). Row i+1's xh (into a
 * row buffer of the chunk) and sums are formed while row i is written. */
static void ln_backward(ag_tensor *out) {
    const char *op = "layer_norm";
    ag_tensor *x = out->src[0];
    ag_tensor *w = out->iparam[2] ? out->src[1] : NULL;
    ag_tensor *b = out->iparam[3] ? out->src[1 + (out->iparam[2] != 0)] : NULL;
    const int64_t D = out->iparam[0];
    const bool want_x = x->requires_grad, want_w = w && w->requires_grad;
    const bool want_b = b && b->requires_grad;
    if (out->numel == 0) { /* no rows: zero gradients */
        ag__grad_buf(x), ag__grad_buf(w), ag__grad_buf(b);
        return;
    }
    if (!want_x && !want_w && !want_b) return;
    const int64_t rows = out->numel / D;
    const double *mr = out->saved;
    const bool add = want_x && x->grad != NULL; /* see rms_backward */
    const plan p = plan_rows(rows, D, out->dtype, want_x && !add);
    const bool st = p.stream;
    bool ok = true;
    double *wpart = partials(op, want_w, p.nchunks, D, &ok);
    double *bpart = partials(op, want_b, p.nchunks, D, &ok);
    /* per chunk: dw's and db's block sums, xh of the current and of the next row */
    const void *avoid[NSTREAMED];
    streamed(avoid, x->data, out->grad->data, w ? w->data : NULL, D, out->dtype);
    ag__scratch rowbuf;
    scratch_rows(&rowbuf, op, true, p.nchunks, 4, D, out->dtype, avoid, NSTREAMED, &ok);
    ag_tensor *gw = ok && want_w ? ag__grad_buf(w) : NULL;
    ag_tensor *gb = ok && want_b ? ag__grad_buf(b) : NULL;
    ok = ok && (gw || !want_w) && (gb || !want_b);
    ag_tensor *gx = ok ? ag__grad_buf_raw(x) : NULL; /* last: see rms_backward */
    ok = ok && (gx || !want_x);
    const bool simd = ok && out->dtype == AG_F32 &&
                      ag__ln_backward_f32_simd(x->data, out->grad->data, w ? w->data : NULL, mr,
                                               gx ? gx->data : NULL, add, wpart, bpart, &rowbuf,
                                               rows, D, p.nchunks, st);
    if (ok && !simd) AG_DISPATCH(out->dtype, T, {
        const T *px = x->data, *pdy = out->grad->data, *pw = w ? w->data : NULL;
        T *pdx = gx ? gx->data : NULL;
        const bool sums = pdx != NULL;
        AG_OMP_FOR(p.nchunks > 1)
        for (int c = 0; c < p.nchunks; c++) {
            double *restrict dw = wpart ? wpart + (int64_t)c * D : NULL;
            double *restrict db = bpart ? bpart + (int64_t)c * D : NULL;
            T *restrict wb = AG__SCRATCH_ROW(&rowbuf, c, 0);
            T *restrict bb = AG__SCRATCH_ROW(&rowbuf, c, 1);
            T *cur = AG__SCRATCH_ROW(&rowbuf, c, 2), *nxt = AG__SCRATCH_ROW(&rowbuf, c, 3);
            CHUNK_ROWS(&p, c, i0, i1);
            double ag[LANES] = {0}, agx[LANES] = {0};
            for (TILES(D, j0, j1))
                LN_XH_ACC(cur, ag, agx, sums, j0, j1, px + i0 * D, pdy + i0 * D, mr[2 * i0],
                          mr[2 * i0 + 1]);
            for (int64_t i = i0; i < i1; i++) {
                const T *restrict dyi = pdy + i * D;
                const T *restrict xh = cur;
                const bool next = i + 1 < i1;
                T *restrict dxi = pdx ? pdx + i * D : NULL;
                const T rT = (T)mr[2 * i + 1];
                const T mg = (T)(lanes_sum(ag) / (double)D), mgx = (T)(lanes_sum(agx) / (double)D);
                const bool first = BLOCK_FIRST(i, i0), last = BLOCK_LAST(i, i0, i1);
                for (int k = 0; k < LANES; k++) ag[k] = agx[k] = 0;
                for (TILES(D, j0, j1)) {
                    if (next)
                        LN_XH_ACC(nxt, ag, agx, sums, j0, j1, px + (i + 1) * D, dyi + D,
                                  mr[2 * i + 2], mr[2 * i + 3]);
                    /* dx = r * (g - mean(g) - xh * mean(g * xh)) */
                    if (!dxi) {
                    } else if (pw) {
                        TILE_OUT(st, add, dxi, j0, j1, j, rT * (dyi[j] * pw[j] - mg - xh[j] * mgx));
                    } else {
                        TILE_OUT(st, add, dxi, j0, j1, j, rT * (dyi[j] - mg - xh[j] * mgx));
                    }
                    /* dw += dy * xh, db += dy: each term in T (see BLOCK_ACC) */
                    if (dw) BLOCK_ACC(dw, wb, first, last, j0, j1, j, dyi[j] * xh[j]);
                    if (db) BLOCK_ACC(db, bb, first, last, j0, j1, j, dyi[j]);
                }
                T *t = cur;
                cur = nxt, nxt = t;
            }
            if (st) ag__stream_fence();
        }
    });
    if (ok && wpart) add_partials(wpart, p.nchunks, D, gw);
    if (ok && bpart) add_partials(bpart, p.nchunks, D, gb);
    free(wpart);
    free(bpart);
    free(rowbuf.base);
}

#undef LN_XH_ACC

static const ag_op LAYER_NORM = {"layer_norm", ln_backward};

ag_tensor *ag_layer_norm_(ag_arena *A, ag_tensor *x, int nshape,
                          const int64_t *normalized_shape, ag_tensor *weight, ag_tensor *bias,
                          double eps) {
    const char *op = "layer_norm";
    if (!x) return NULL;
    int64_t rows, D;
    if (!check_args(op, x, nshape, normalized_shape, weight, bias, eps, &rows, &D)) return NULL;
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *xc = ag__as(A, x, ct), *w = ag__as(A, weight, ct), *b = ag__as(A, bias, ct);
    if (!xc || (weight && !w) || (bias && !b)) return NULL;
    ag_tensor *y = ag__result(A, ct, xc->ndim, xc->shape);
    if (!y) return NULL;
    ag_tensor *srcs[3] = {xc};
    int nsrc = 1;
    if (w) srcs[nsrc++] = w;
    if (b) srcs[nsrc++] = b;
    double *mr = NULL;
    if (y->numel > 0 && ag__needs_grad(nsrc, srcs)) {
        mr = ag_arena_alloc_(A, 2 * (size_t)rows * sizeof *mr);
        if (!mr) return NULL;
    }
    if (y->numel > 0) {
        const plan p = plan_rows(rows, D, ct, true);
        if (ct != AG_F32 ||
            !ag__ln_forward_f32_simd(xc->data, w ? w->data : NULL, b ? b->data : NULL, y->data,
                                     mr, rows, D, eps, p.nchunks, p.stream))
            ln_forward(&p, xc, w, b, y, mr, eps);
    }
    y->iparam[0] = D;
    y->iparam[2] = w != NULL;
    y->iparam[3] = b != NULL;
    y->fparam[0] = eps;
    y->saved = mr;
    ag__record(y, &LAYER_NORM, nsrc, srcs);
    return ag__as(A, y, x->dtype);
}
