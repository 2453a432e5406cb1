/* nn/norm_simd.c — the f32 row loops of RMSNorm (forward, backward) and
 * LayerNorm (forward, backward) written with AVX intrinsics, for machines
 * that have AVX2 (see AG_NATIVE).
 *
 * Each is the portable loop of nn/norm_loops_t.h (rms_forward,
 * rms_backward, ln_forward, ln_backward) for the same ag__norm_job, walking
 * its chunks, tiles and blocks through the same helpers (nn/norm_job.h),
 * step for step, with one thing the compiler
 * cannot do from C: store y or dx with non-temporal stores straight from
 * registers, without the 1 KiB tile the portable loop builds and copies
 * out. (LayerNorm's backward also forms xh again where it is needed instead
 * of keeping it in a row buffer: the same operations, so the same bits.)
 * Row i+1's sums are accumulated in the same loop that writes row i, in
 * 16 double lanes (four registers of four) mapped to elements exactly as
 * the portable loop maps them, and added in its lanes_sum's order, so the
 * results are bitwise those of the portable loop (tests/nn checks it). A
 * job the loops here do not cover (see ag__rms_forward_simd in
 * nn/norm_job.h) is left to the portable loop. Multiplications
 * and additions are separate instructions, as in the C loop (no fused
 * multiply-add). */
#include <stdint.h>

#include "internal.h"

#include "norm_job.h"

#if defined(__AVX2__)
#include <immintrin.h>

enum { TILE = AG__NORM_TILE };

/* Whether the loops here cover the job, whose output (y or dx; NULL: none)
 * is out: f32, no RMSNorm flags, D a multiple of 16, out 32-byte aligned. */
static bool covers(const ag__norm_job *job, const void *out) {
    return job->simd && job->dt == AG_F32 && job->flags == 0 && job->D % 16 == 0 &&
           ((uintptr_t)out & 31) == 0;
}

/* Asks for the cache line PREFETCH floats ahead of column j in a row that
 * is read from memory (row i+1 of x, and of dy in backward). A row of 4096 floats spans four
 * 4 KiB pages, and the hardware prefetcher starts again at each page; a
 * software prefetch 1 KiB ahead covers the crossing. (On the machine of
 * the README it gained a few percent in the loops, timed against the loops
 * without it in alternating runs.) A prefetch past the end of
 * the array is harmless: it never faults. */
enum { PREFETCH = 256 };
static inline void prefetch_row(const float *x, int64_t j) {
    /* the address as an integer: it may lie past the end of the array */
    _mm_prefetch((const char *)((uintptr_t)(x + j) + PREFETCH * sizeof(float)), _MM_HINT_T0);
}

static inline void prefetch_ahead(const float *x, const float *dy, int64_t j) {
    prefetch_row(x, j);
    prefetch_row(dy, j);
}

/* x * x of 4 floats, in double, added to acc. */
static inline __m256d add_squares(__m256d acc, const float *x) {
    const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x));
    return _mm256_add_pd(acc, _mm256_mul_pd(v, v));
}

/* The sum of squares of n floats (n a multiple of 16), as lanes_sum adds them. */
static double row_squares(const float *x, int64_t n) {
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t j = 0; j < n; j += 16) {
        a0 = add_squares(a0, x + j), a1 = add_squares(a1, x + j + 4);
        a2 = add_squares(a2, x + j + 8), a3 = add_squares(a3, x + j + 12);
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
    return ((t[0] + t[1]) + t[2]) + t[3];
}

static void rms_forward_chunks(const void *ctx, int64_t lo, int64_t hi) {
    const ag__norm_job *job = ctx;
    const int64_t D = job->D;
    const float *px = job->x, *pw = job->w;
    float *py = job->y;
    const bool stream = job->stream;
    for (int c = (int)lo; c < hi; c++) {
        const ag__norm_rows rr = ag__norm_chunk(job, c);
        double ss = row_squares(px + rr.i0 * D, D);
        for (int64_t i = rr.i0; i < rr.i1; i++) {
            const float *xi = px + i * D, *xn = i + 1 < rr.i1 ? xi + D : NULL;
            float *yi = py + i * D;
            const double r = 1 / sqrt(ss / (double)D + job->eps);
            if (job->stats) job->stats[i] = r;
            const __m256 vr = _mm256_set1_ps((float)r);
            __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t j = 0; j < D; j += 16) {
                if (xn) {
                    prefetch_row(xn, j);
                    a0 = add_squares(a0, xn + j), a1 = add_squares(a1, xn + j + 4);
                    a2 = add_squares(a2, xn + j + 8), a3 = add_squares(a3, xn + j + 12);
                }
                __m256 y0 = _mm256_mul_ps(_mm256_loadu_ps(xi + j), vr);
                __m256 y1 = _mm256_mul_ps(_mm256_loadu_ps(xi + j + 8), vr);
                if (pw) {
                    y0 = _mm256_mul_ps(y0, _mm256_loadu_ps(pw + j));
                    y1 = _mm256_mul_ps(y1, _mm256_loadu_ps(pw + j + 8));
                }
                if (stream) {
                    _mm256_stream_ps(yi + j, y0);
                    _mm256_stream_ps(yi + j + 8, y1);
                } else {
                    _mm256_store_ps(yi + j, y0);
                    _mm256_store_ps(yi + j + 8, y1);
                }
            }
            double t[4];
            _mm256_storeu_pd(t, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
            ss = ((t[0] + t[1]) + t[2]) + t[3];
        }
        if (stream) _mm_sfence();
    }
}

bool ag__rms_forward_simd(const ag__norm_job *job) {
    if (!covers(job, job->y)) return false;
    ag__parallel_for(job->nchunks, job->nchunks > 1, rms_forward_chunks, job);
    return true;
}

/* ---- backward ---------------------------------------------------------------- */

/* The 16 float lanes t0, t1 of a tile's sum, converted and added to the
 * double lanes a[4] (the last step of the portable rms_gx_sum). */
static inline void add_lanes(__m256d a[4], __m256 t0, __m256 t1) {
    a[0] = _mm256_add_pd(a[0], _mm256_cvtps_pd(_mm256_castps256_ps128(t0)));
    a[1] = _mm256_add_pd(a[1], _mm256_cvtps_pd(_mm256_extractf128_ps(t0, 1)));
    a[2] = _mm256_add_pd(a[2], _mm256_cvtps_pd(_mm256_castps256_ps128(t1)));
    a[3] = _mm256_add_pd(a[3], _mm256_cvtps_pd(_mm256_extractf128_ps(t1, 1)));
}

/* Adds dy * w * x of the 16 columns at j of row x, dy to the float lanes
 * t[2] (a step of the portable rms_gx_sum). w NULL: no weight. */
static inline __attribute__((always_inline)) void gx16(__m256 t[2], const float *x,
                                                       const float *dy, const float *w,
                                                       int64_t j) {
    __m256 g0 = _mm256_loadu_ps(dy + j), g1 = _mm256_loadu_ps(dy + j + 8);
    if (w) {
        g0 = _mm256_mul_ps(g0, _mm256_loadu_ps(w + j));
        g1 = _mm256_mul_ps(g1, _mm256_loadu_ps(w + j + 8));
    }
    t[0] = _mm256_add_ps(t[0], _mm256_mul_ps(g0, _mm256_loadu_ps(x + j)));
    t[1] = _mm256_add_ps(t[1], _mm256_mul_ps(g1, _mm256_loadu_ps(x + j + 8)));
}

/* The tile [j0, j1) of row x, dy: adds sum(dy * w * x) to the double lanes
 * a[4] the way the portable rms_gx_sum does (16 float lanes summed over
 * the tile, then converted and added). */
static inline void gx_tile(__m256d a[4], const float *x, const float *dy, const float *w,
                           int64_t j0, int64_t j1) {
    __m256 t[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t j = j0; j < j1; j += 16) gx16(t, x, dy, w, j);
    add_lanes(a, t[0], t[1]);
}

static inline double lanes(const __m256d a[4]) {
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(_mm256_add_pd(a[0], a[1]), _mm256_add_pd(a[2], a[3])));
    return ((t[0] + t[1]) + t[2]) + t[3];
}

/* dw[j..j+8) += (double)v, 8 floats */
static inline void add_to_double(double *dw, __m256 v) {
    _mm256_storeu_pd(dw, _mm256_add_pd(_mm256_loadu_pd(dw),
                                       _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
    _mm256_storeu_pd(dw + 4, _mm256_add_pd(_mm256_loadu_pd(dw + 4),
                                           _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

/* What a row does with dx, and with a parameter gradient's block sums by
 * its ag__block_mode; bwd_tile is instantiated for each pair as constants,
 * so its inner loop has no branches. */
enum { DX_NONE, DX_STORE, DX_STREAM, DX_ADD };

/* A term of 8 columns for a parameter gradient, by the row's place in its
 * block: added to acc in double, or to the block sums blk. */
static inline __attribute__((always_inline)) void block_add(ag__block_mode dwm, double *acc,
                                                            float *blk, __m256 term) {
    if (dwm == AG__BLOCK_ONLY) add_to_double(acc, term);
    else if (dwm == AG__BLOCK_FIRST) _mm256_storeu_ps(blk, term);
    else if (dwm == AG__BLOCK_LAST) add_to_double(acc, _mm256_add_ps(_mm256_loadu_ps(blk), term));
    else if (dwm == AG__BLOCK_MIDDLE)
        _mm256_storeu_ps(blk, _mm256_add_ps(_mm256_loadu_ps(blk), term));
}

/* The mode for dx of a backward job. */
static int dx_mode(const ag__norm_job *job) {
    return !job->dx ? DX_NONE : job->add ? DX_ADD : job->stream ? DX_STREAM : DX_STORE;
}

/* d, the 8 values of dx at dxi, by the mode dxm. */
static inline __attribute__((always_inline)) void dx_out(int dxm, float *dxi, __m256 d) {
    if (dxm == DX_ADD) d = _mm256_add_ps(_mm256_loadu_ps(dxi), d);
    if (dxm == DX_STREAM) _mm256_stream_ps(dxi, d);
    else if (dxm != DX_NONE) _mm256_storeu_ps(dxi, d);
}

/* A row's mean as mh + ml and its 1/std r, as floats in registers (the
 * splitting of the portable ln_split). */
typedef struct {
    __m256 mh, ml, r;
} ln_stats;

static ln_stats ln_row(const double *mr, int64_t i) {
    const float mh = (float)mr[2 * i], ml = (float)(mr[2 * i] - (double)mh);
    return (ln_stats){_mm256_set1_ps(mh), _mm256_set1_ps(ml), _mm256_set1_ps((float)mr[2 * i + 1])};
}

/* What a backward's tile needs: row i, row i+1 (whose sums are
 * accumulated in the same loop), where dw and db go, and the row's
 * constants in registers. */
typedef struct {
    const float *x, *dy; /* row i */
    const float *w;      /* the weight, NULL: none */
    float *dx;           /* row i's dx, NULL: not wanted */
    double *dw, *db;     /* the chunk's partial sums of dw, db (NULL: not wanted) */
    float *wb, *bb;      /* and their block sums */
    const float *xn;     /* row i+1, NULL: none (no sums wanted, or the last row) */
    const float *dyn;    /* row i+1 of dy */
    int64_t j0, j1;      /* the tile's columns */
    __m256 vr, vm;       /* RMSNorm: r, and m = mean(g * xh) */
    ln_stats s, sn;      /* LayerNorm: mean and r of row i and of row i+1 */
    __m256 vmg, vmgx;    /* LayerNorm: mean(g) and mean(g * xh) of row i */
} bwd_tile_args;

/* Row i's tile: dx = r * (g - x * r * m) by dxm, dw's term dy * (x * r) by
 * dwm; and, in the same loop, row i+1's sum over the tile into a[4] as
 * gx_tile does. Reads of row i+1 from memory and the writes of row i then
 * alternate every 16 columns. */
static inline __attribute__((always_inline)) void
rms_bwd_tile(const bwd_tile_args *t, __m256d a[4], int dxm, ag__block_mode dwm) {
    __m256 sg[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t j16 = t->j0; j16 < t->j1; j16 += 16) {
        if (t->xn) {
            prefetch_ahead(t->xn, t->dyn, j16);
            gx16(sg, t->xn, t->dyn, t->w, j16);
        }
        for (int64_t j = j16; j < j16 + 16; j += 8) {
            const __m256 dy = _mm256_loadu_ps(t->dy + j);
            const __m256 xr = _mm256_mul_ps(_mm256_loadu_ps(t->x + j), t->vr); /* x * r */
            if (dxm != DX_NONE) {
                const __m256 g = t->w ? _mm256_mul_ps(dy, _mm256_loadu_ps(t->w + j)) : dy;
                dx_out(dxm, t->dx + j,
                       _mm256_mul_ps(t->vr, _mm256_sub_ps(g, _mm256_mul_ps(xr, t->vm))));
            }
            if (t->dw) block_add(dwm, t->dw + j, t->wb + j, _mm256_mul_ps(dy, xr));
        }
    }
    if (t->xn) add_lanes(a, sg[0], sg[1]);
}

/* ---- LayerNorm forward ---------------------------------------------------------- */

/* Adds x and x * x of 16 floats, in double, to the lanes s[4] and q[4]. */
static inline void add_sums(__m256d s[4], __m256d q[4], const float *x) {
    for (int k = 0; k < 4; k++) {
        const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + 4 * k));
        s[k] = _mm256_add_pd(s[k], v);
        q[k] = _mm256_add_pd(q[k], _mm256_mul_pd(v, v));
    }
}

static void ln_forward_chunks(const void *ctx, int64_t lo, int64_t hi) {
    const ag__norm_job *job = ctx;
    const int64_t D = job->D;
    const float *px = job->x, *pw = job->w, *pb = job->b;
    float *py = job->y;
    const bool stream = job->stream;
    for (int c = (int)lo; c < hi; c++) {
        const ag__norm_rows rr = ag__norm_chunk(job, c);
        __m256d s[4], q[4];
        for (int k = 0; k < 4; k++) s[k] = q[k] = _mm256_setzero_pd();
        for (int64_t j = 0; j < D; j += 16) add_sums(s, q, px + rr.i0 * D + j);
        for (int64_t i = rr.i0; i < rr.i1; i++) {
            const float *xi = px + i * D, *xn = i + 1 < rr.i1 ? xi + D : NULL;
            float *yi = py + i * D;
            const double mean = lanes(s) / (double)D;
            const double var = fmax(lanes(q) / (double)D - mean * mean, 0.0);
            const double r = 1 / sqrt(var + job->eps);
            if (job->stats) job->stats[2 * i] = mean, job->stats[2 * i + 1] = r;
            const float mh = (float)mean, ml = (float)(mean - (double)mh);
            const __m256 vh = _mm256_set1_ps(mh), vl = _mm256_set1_ps(ml);
            const __m256 vr = _mm256_set1_ps((float)r);
            for (int k = 0; k < 4; k++) s[k] = q[k] = _mm256_setzero_pd();
            for (int64_t j = 0; j < D; j += 16) {
                if (xn) {
                    prefetch_row(xn, j);
                    add_sums(s, q, xn + j);
                }
                for (int h = 0; h < 16; h += 8) {
                    /* xh = ((x - mh) - ml) * r, then * w + b */
                    const __m256 x = _mm256_loadu_ps(xi + j + h);
                    __m256 y = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(x, vh), vl), vr);
                    if (pw) y = _mm256_mul_ps(y, _mm256_loadu_ps(pw + j + h));
                    if (pb) y = _mm256_add_ps(y, _mm256_loadu_ps(pb + j + h));
                    if (stream) _mm256_stream_ps(yi + j + h, y);
                    else _mm256_store_ps(yi + j + h, y);
                }
            }
        }
        if (stream) _mm_sfence();
    }
}

bool ag__ln_forward_simd(const ag__norm_job *job) {
    if (!covers(job, job->y)) return false;
    ag__parallel_for(job->nchunks, job->nchunks > 1, ln_forward_chunks, job);
    return true;
}

/* ---- LayerNorm backward ------------------------------------------------------- */

/* xh = ((x - mh) - ml) * r of 8 floats at x. */
static inline __m256 ln_xh(const float *x, ln_stats s) {
    return _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x), s.mh), s.ml), s.r);
}

/* With g = dy * w (w NULL: g = dy), adds g and g * xh of the 16 columns at
 * j of row x, dy to the float lanes sg[2] and sgx[2] (a step of the
 * portable ln_sums). */
static inline __attribute__((always_inline)) void ln_sums16(__m256 sg[2], __m256 sgx[2],
                                                            const float *x, const float *dy,
                                                            const float *w, ln_stats s,
                                                            int64_t j) {
    for (int h = 0; h < 2; h++) {
        __m256 g = _mm256_loadu_ps(dy + j + 8 * h);
        if (w) g = _mm256_mul_ps(g, _mm256_loadu_ps(w + j + 8 * h));
        sg[h] = _mm256_add_ps(sg[h], g);
        sgx[h] = _mm256_add_ps(sgx[h], _mm256_mul_ps(g, ln_xh(x + j + 8 * h, s)));
    }
}

/* The tile [j0, j1) of row x, dy: sum(g) into ag[4], sum(g * xh) into
 * agx[4], as the portable ln_xh and ln_sums do. */
static inline void ln_sums_tile(__m256d ag[4], __m256d agx[4], const float *x, const float *dy,
                                const float *w, ln_stats s, int64_t j0, int64_t j1) {
    __m256 sg[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, sgx[2] = {sg[0], sg[1]};
    for (int64_t j = j0; j < j1; j += 16) ln_sums16(sg, sgx, x, dy, w, s, j);
    add_lanes(ag, sg[0], sg[1]);
    add_lanes(agx, sgx[0], sgx[1]);
}

/* Row i's tile: dx = r * ((g - mean(g)) - xh * mean(g * xh)) by dxm, dw's
 * term dy * xh and db's dy by dwm; and, in the same loop, row i+1's sums
 * over the tile into ag[4], agx[4] as ln_sums_tile does. */
static inline __attribute__((always_inline)) void
ln_bwd_tile(const bwd_tile_args *t, __m256d ag[4], __m256d agx[4], int dxm, ag__block_mode dwm) {
    __m256 sg[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, sgx[2] = {sg[0], sg[1]};
    for (int64_t j16 = t->j0; j16 < t->j1; j16 += 16) {
        if (t->xn) {
            prefetch_ahead(t->xn, t->dyn, j16);
            ln_sums16(sg, sgx, t->xn, t->dyn, t->w, t->sn, j16);
        }
        for (int64_t j = j16; j < j16 + 16; j += 8) {
            const __m256 dy = _mm256_loadu_ps(t->dy + j), xh = ln_xh(t->x + j, t->s);
            if (dxm != DX_NONE) {
                const __m256 g = t->w ? _mm256_mul_ps(dy, _mm256_loadu_ps(t->w + j)) : dy;
                const __m256 c =
                    _mm256_sub_ps(_mm256_sub_ps(g, t->vmg), _mm256_mul_ps(xh, t->vmgx));
                dx_out(dxm, t->dx + j, _mm256_mul_ps(t->s.r, c));
            }
            if (t->dw) block_add(dwm, t->dw + j, t->wb + j, _mm256_mul_ps(dy, xh));
            if (t->db) block_add(dwm, t->db + j, t->bb + j, dy);
        }
    }
    if (t->xn) {
        add_lanes(ag, sg[0], sg[1]);
        add_lanes(agx, sgx[0], sgx[1]);
    }
}

/* The row sums a backward carries from row to row: RMSNorm's sum(g * x) in
 * a[0]; LayerNorm's sum(g) in a[0] and sum(g * xh) in a[1]. */
typedef struct {
    __m256d a[2][4];
} bwd_sums;

/* The tile of LayerNorm (layer) or RMSNorm with the modes dxm and dwm as
 * constants: each of the three functions below is inlined into the next,
 * so every pair of modes becomes its own branch-free loop. */
static inline __attribute__((always_inline)) void
bwd_tile(const bwd_tile_args *t, bwd_sums *s, bool layer, int dxm, ag__block_mode dwm) {
    if (layer) ln_bwd_tile(t, s->a[0], s->a[1], dxm, dwm);
    else rms_bwd_tile(t, s->a[0], dxm, dwm);
}

static inline __attribute__((always_inline)) void
bwd_tile_dw(const bwd_tile_args *t, bwd_sums *s, bool layer, int dxm, ag__block_mode dwm) {
    switch (dwm) {
    case AG__BLOCK_NONE: bwd_tile(t, s, layer, dxm, AG__BLOCK_NONE); break;
    case AG__BLOCK_ONLY: bwd_tile(t, s, layer, dxm, AG__BLOCK_ONLY); break;
    case AG__BLOCK_FIRST: bwd_tile(t, s, layer, dxm, AG__BLOCK_FIRST); break;
    case AG__BLOCK_LAST: bwd_tile(t, s, layer, dxm, AG__BLOCK_LAST); break;
    case AG__BLOCK_MIDDLE: bwd_tile(t, s, layer, dxm, AG__BLOCK_MIDDLE); break;
    }
}

static inline __attribute__((always_inline)) void
bwd_tile_modes(const bwd_tile_args *t, bwd_sums *s, bool layer, int dxm, ag__block_mode dwm) {
    switch (dxm) {
    case DX_NONE: bwd_tile_dw(t, s, layer, DX_NONE, dwm); break;
    case DX_STORE: bwd_tile_dw(t, s, layer, DX_STORE, dwm); break;
    case DX_STREAM: bwd_tile_dw(t, s, layer, DX_STREAM, dwm); break;
    default: bwd_tile_dw(t, s, layer, DX_ADD, dwm); break;
    }
}

static void bwd_sums_zero(bwd_sums *s) {
    for (int k = 0; k < 4; k++) s->a[0][k] = s->a[1][k] = _mm256_setzero_pd();
}

/* Chunk c of either backward pass: the sums of its first row, then row by
 * row its tiles, with the next row's sums accumulated alongside. Inlined
 * into each pass with layer a constant. */
static inline __attribute__((always_inline)) void backward_chunk(const ag__norm_job *job, int c,
                                                                 bool layer) {
    const int dxm = dx_mode(job);
    const int64_t D = job->D;
    const float *px = job->x, *pdy = job->dy, *pw = job->w;
    const double *st = job->stats;
    float *pdx = job->dx;
    bwd_tile_args t = {
        .w = pw,
        .dw = ag__norm_part(job->wpart, c, D),
        .db = ag__norm_part(job->bpart, c, D),
        .wb = ag__scratch_row(&job->scratch, c, AG__SCRATCH_DW),
        .bb = ag__scratch_row(&job->scratch, c, AG__SCRATCH_DB),
    };
    const ag__norm_rows rr = ag__norm_chunk(job, c);
    bwd_sums s;
    bwd_sums_zero(&s);
    for (int64_t j0 = 0; pdx && j0 < D; j0 += TILE) {
        const float *x0 = px + rr.i0 * D, *dy0 = pdy + rr.i0 * D;
        const int64_t j1 = ag__norm_tile_end(j0, D);
        if (layer) ln_sums_tile(s.a[0], s.a[1], x0, dy0, pw, ln_row(st, rr.i0), j0, j1);
        else gx_tile(s.a[0], x0, dy0, pw, j0, j1);
    }
    for (int64_t i = rr.i0; i < rr.i1; i++) {
        const bool next = pdx && i + 1 < rr.i1;
        t.x = px + i * D, t.dy = pdy + i * D, t.dx = pdx ? pdx + i * D : NULL;
        t.xn = next ? t.x + D : NULL, t.dyn = t.dy + D;
        if (layer) {
            t.s = ln_row(st, i), t.sn = next ? ln_row(st, i + 1) : t.s;
            t.vmg = _mm256_set1_ps((float)(lanes(s.a[0]) / (double)D));
            t.vmgx = _mm256_set1_ps((float)(lanes(s.a[1]) / (double)D));
        } else {
            const double r = st[i], sgx = lanes(s.a[0]);
            t.vr = _mm256_set1_ps((float)r);
            t.vm = _mm256_set1_ps((float)(r * sgx / (double)D));
        }
        const ag__block_mode dwm = ag__norm_block_mode(t.dw || t.db, i, rr);
        bwd_sums_zero(&s);
        for (t.j0 = 0; t.j0 < D; t.j0 += TILE) {
            t.j1 = ag__norm_tile_end(t.j0, D);
            bwd_tile_modes(&t, &s, layer, dxm, dwm);
        }
    }
    if (job->stream) _mm_sfence();
}

/* Chunks [lo, hi) of an RMSNorm (rms_) or LayerNorm (ln_) backward job. */
static void rms_backward_chunks(const void *ctx, int64_t lo, int64_t hi) {
    for (int c = (int)lo; c < hi; c++) backward_chunk(ctx, c, false);
}
static void ln_backward_chunks(const void *ctx, int64_t lo, int64_t hi) {
    for (int c = (int)lo; c < hi; c++) backward_chunk(ctx, c, true);
}

bool ag__rms_backward_simd(const ag__norm_job *job) {
    if (!covers(job, job->dx)) return false;
    ag__parallel_for(job->nchunks, job->nchunks > 1, rms_backward_chunks, job);
    return true;
}

bool ag__ln_backward_simd(const ag__norm_job *job) {
    if (!covers(job, job->dx)) return false;
    ag__parallel_for(job->nchunks, job->nchunks > 1, ln_backward_chunks, job);
    return true;
}

#else /* no AVX2: every job is left to the portable loops */

bool ag__rms_forward_simd(const ag__norm_job *job) {
    return (void)job, false;
}
bool ag__rms_backward_simd(const ag__norm_job *job) {
    return (void)job, false;
}
bool ag__ln_forward_simd(const ag__norm_job *job) {
    return (void)job, false;
}
bool ag__ln_backward_simd(const ag__norm_job *job) {
    return (void)job, false;
}

#endif
