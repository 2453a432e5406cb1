/* nn/norm_simd.c — the f32 row loops of RMSNorm (forward, backward) and
 * LayerNorm (forward, backward) written with AVX intrinsics, for machines
 * that have AVX2 (see AG_NATIVE).
 *
 * Each is the portable loop of norm_ops.c (rms_forward, rms_backward,
 * ln_forward, ln_backward), step for step, with one thing the compiler
 * cannot do from C: store y or dx with non-temporal stores straight from
 * registers, without the 1 KiB tile the portable loop builds and copies
 * out. (LayerNorm's backward also forms xh again where it is needed instead
 * of keeping it in a row buffer: the same operations, so the same bits.)
 * Row i+1's sums are accumulated in the same loop that writes row i, in
 * 16 double lanes (four registers of four) mapped to elements exactly as
 * ROW_ACC maps them, and added in lanes_sum's order, so the results are
 * bitwise those of the portable loop (tests/nn checks it). Multiplications
 * and additions are separate instructions, as in the C loop (no fused
 * multiply-add). */
#include <stdint.h>

#include "internal.h"
#include "nn_internal.h"

bool ag__norm_simd = true;

#if defined(__AVX2__)
#include <immintrin.h>

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

bool ag__rms_forward_f32_simd(const float *px, const float *pw, float *py, double *rs,
                              int64_t rows, int64_t D, double eps, int nchunks, bool stream) {
    if (!ag__norm_simd || D % 16 != 0 || ((uintptr_t)py & 31) != 0) return false;
    AG_OMP_FOR(nchunks > 1)
    for (int c = 0; c < nchunks; c++) {
        const int64_t i0 = rows * c / nchunks, i1 = rows * (c + 1) / nchunks;
        double ss = row_squares(px + i0 * D, D);
        for (int64_t i = i0; i < i1; i++) {
            const float *xi = px + i * D, *xn = i + 1 < i1 ? xi + D : NULL;
            float *yi = py + i * D;
            const double r = 1 / sqrt(ss / (double)D + eps);
            if (rs) rs[i] = r;
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
    return true;
}

/* ---- backward ---------------------------------------------------------------- */

enum { TILE = AG__NORM_TILE, BLOCK_ROWS = AG__NORM_BLOCK_ROWS };

/* The 16 float lanes t0, t1 of a tile's sum, converted and added to the
 * double lanes a[4] (TILE_SUM's last step). */
static inline void add_lanes(__m256d a[4], __m256 t0, __m256 t1) {
    a[0] = _mm256_add_pd(a[0], _mm256_cvtps_pd(_mm256_castps256_ps128(t0)));
    a[1] = _mm256_add_pd(a[1], _mm256_cvtps_pd(_mm256_extractf128_ps(t0, 1)));
    a[2] = _mm256_add_pd(a[2], _mm256_cvtps_pd(_mm256_castps256_ps128(t1)));
    a[3] = _mm256_add_pd(a[3], _mm256_cvtps_pd(_mm256_extractf128_ps(t1, 1)));
}

/* Adds dy * w * x of the 16 columns at j of row x, dy to the float lanes
 * t[2] (a step of TILE_SUM). w NULL: no weight. */
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
 * a[4] the way TILE_SUM does (16 float lanes summed over the tile, then
 * converted and added). */
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

/* What a row does with dx and with dw's block sums (BLOCK_ACC in
 * norm_ops.c); bwd_tile is instantiated for each pair as constants, so its
 * inner loop has no branches. */
enum { DX_NONE, DX_STORE, DX_STREAM, DX_ADD };
enum { DW_NONE, DW_ONLY, DW_FIRST, DW_LAST, DW_MIDDLE };

/* A term of 8 columns for a parameter gradient, by the row's place in its
 * block (BLOCK_ACC): added to acc in double, or to the block sums blk. */
static inline __attribute__((always_inline)) void block_add(int dwm, double *acc, float *blk,
                                                            __m256 term) {
    if (dwm == DW_ONLY) add_to_double(acc, term);
    else if (dwm == DW_FIRST) _mm256_storeu_ps(blk, term);
    else if (dwm == DW_LAST) add_to_double(acc, _mm256_add_ps(_mm256_loadu_ps(blk), term));
    else if (dwm == DW_MIDDLE) _mm256_storeu_ps(blk, _mm256_add_ps(_mm256_loadu_ps(blk), term));
}

/* The mode of row i of the chunk [i0, i1) for parameter gradients (when
 * want): its place in its block of BLOCK_ROWS rows. */
static int dw_mode(bool want, int64_t i, int64_t i0, int64_t i1) {
    const bool first = (i - i0) % BLOCK_ROWS == 0;
    const bool last = (i - i0) % BLOCK_ROWS == BLOCK_ROWS - 1 || i + 1 == i1;
    return !want ? DW_NONE : first && last ? DW_ONLY : first ? DW_FIRST : last ? DW_LAST : DW_MIDDLE;
}

/* The mode for dx of a backward; -1 when the SIMD loop does not apply (D
 * not a multiple of 16, dx not 32-byte aligned, ag__norm_simd false). */
static int dx_mode(const float *pdx, bool add, bool stream, int64_t D) {
    if (!ag__norm_simd || D % 16 != 0 || (pdx && ((uintptr_t)pdx & 31) != 0)) return -1;
    return !pdx ? DX_NONE : add ? DX_ADD : stream ? DX_STREAM : DX_STORE;
}

/* d, the 8 values of dx at dxi, by the mode dxm. */
static inline __attribute__((always_inline)) void dx_out(int dxm, float *dxi, __m256 d) {
    if (dxm == DX_ADD) d = _mm256_add_ps(_mm256_loadu_ps(dxi), d);
    if (dxm == DX_STREAM) _mm256_stream_ps(dxi, d);
    else if (dxm != DX_NONE) _mm256_storeu_ps(dxi, d);
}

/* Row i's tile [j0, j1): dx = r * (g - x * r * m) by dxm, dw's term
 * dy * (x * r) by dwm; and, in the same loop, row i+1's sum over the tile
 * into a[4] as gx_tile does (xn NULL: no next row). Reads of row i+1 from
 * memory and the writes of row i then alternate every 16 columns. */
static inline __attribute__((always_inline)) void
bwd_tile(const float *xi, const float *dyi, const float *pw, float *dxi, double *dw, float *wb,
         const float *xn, const float *dyn, __m256d a[4], int64_t j0, int64_t j1, __m256 vr,
         __m256 vm, int dxm, int dwm) {
    __m256 t[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t j16 = j0; j16 < j1; j16 += 16) {
        if (xn) {
            prefetch_ahead(xn, dyn, j16);
            gx16(t, xn, dyn, pw, j16);
        }
        for (int64_t j = j16; j < j16 + 16; j += 8) {
            const __m256 dy = _mm256_loadu_ps(dyi + j);
            const __m256 xr = _mm256_mul_ps(_mm256_loadu_ps(xi + j), vr); /* x * r */
            if (dxm != DX_NONE) {
                const __m256 g = pw ? _mm256_mul_ps(dy, _mm256_loadu_ps(pw + j)) : dy;
                dx_out(dxm, dxi + j, _mm256_mul_ps(vr, _mm256_sub_ps(g, _mm256_mul_ps(xr, vm))));
            }
            block_add(dwm, dw + j, wb + j, _mm256_mul_ps(dy, xr));
        }
    }
    if (xn) add_lanes(a, t[0], t[1]);
}

/* F(dxm, dwm) with the modes dxm and dwm in scope as constants: each pair
 * becomes its own branch-free loop. */
#define BY_DW(F, DXM)                                                              \
    switch (dwm) {                                                                 \
    case DW_NONE: F(DXM, DW_NONE); break;                                          \
    case DW_ONLY: F(DXM, DW_ONLY); break;                                          \
    case DW_FIRST: F(DXM, DW_FIRST); break;                                        \
    case DW_LAST: F(DXM, DW_LAST); break;                                          \
    default: F(DXM, DW_MIDDLE); break;                                             \
    }
#define BY_MODES(F)                                                                \
    switch (dxm) {                                                                 \
    case DX_NONE: BY_DW(F, DX_NONE) break;                                         \
    case DX_STORE: BY_DW(F, DX_STORE) break;                                       \
    case DX_STREAM: BY_DW(F, DX_STREAM) break;                                     \
    default: BY_DW(F, DX_ADD) break;                                               \
    }

bool ag__rms_backward_f32_simd(const float *px, const float *pdy, const float *pw,
                               const double *rs, float *pdx, bool add, double *part,
                               const ag__scratch *blk, int64_t rows, int64_t D, int nchunks,
                               bool stream) {
    const int dxm = dx_mode(pdx, add, stream, D);
    if (dxm < 0) return false;
    AG_OMP_FOR(nchunks > 1)
    for (int c = 0; c < nchunks; c++) {
        double *dw = part ? part + (int64_t)c * D : NULL;
        float *wb = AG__SCRATCH_ROW(blk, c, 0);
        const int64_t i0 = rows * c / nchunks, i1 = rows * (c + 1) / nchunks;
        __m256d a[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                        _mm256_setzero_pd()};
        if (pdx)
            for (int64_t j0 = 0; j0 < D; j0 += TILE)
                gx_tile(a, px + i0 * D, pdy + i0 * D, pw, j0, j0 + TILE < D ? j0 + TILE : D);
        double sgx = lanes(a);
        for (int64_t i = i0; i < i1; i++) {
            const float *xi = px + i * D, *dyi = pdy + i * D;
            const bool next = pdx && i + 1 < i1;
            float *dxi = pdx ? pdx + i * D : NULL;
            const double r = rs[i];
            const float rT = (float)r, mT = (float)(r * sgx / (double)D);
            const __m256 vr = _mm256_set1_ps(rT), vm = _mm256_set1_ps(mT);
            const int dwm = dw_mode(dw != NULL, i, i0, i1);
            for (int k = 0; k < 4; k++) a[k] = _mm256_setzero_pd();
            const float *xn = next ? xi + D : NULL, *dyn = dyi + D;
            for (int64_t j0 = 0; j0 < D; j0 += TILE) {
                const int64_t j1 = j0 + TILE < D ? j0 + TILE : D;
#define RMS_TILE(DXM, DWM)                                                         \
    bwd_tile(xi, dyi, pw, dxi, dw, wb, xn, dyn, a, j0, j1, vr, vm, DXM, DWM)
                BY_MODES(RMS_TILE)
#undef RMS_TILE
            }
            sgx = lanes(a);
        }
        if (stream) _mm_sfence();
    }
    return true;
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

bool ag__ln_forward_f32_simd(const float *px, const float *pw, const float *pb, float *py,
                             double *mr, int64_t rows, int64_t D, double eps, int nchunks,
                             bool stream) {
    if (!ag__norm_simd || D % 16 != 0 || ((uintptr_t)py & 31) != 0) return false;
    AG_OMP_FOR(nchunks > 1)
    for (int c = 0; c < nchunks; c++) {
        const int64_t i0 = rows * c / nchunks, i1 = rows * (c + 1) / nchunks;
        __m256d s[4], q[4];
        for (int k = 0; k < 4; k++) s[k] = q[k] = _mm256_setzero_pd();
        for (int64_t j = 0; j < D; j += 16) add_sums(s, q, px + i0 * D + j);
        for (int64_t i = i0; i < i1; i++) {
            const float *xi = px + i * D, *xn = i + 1 < i1 ? xi + D : NULL;
            float *yi = py + i * D;
            const double mean = lanes(s) / (double)D;
            const double var = fmax(lanes(q) / (double)D - mean * mean, 0.0);
            const double r = 1 / sqrt(var + eps);
            if (mr) mr[2 * i] = mean, mr[2 * i + 1] = r;
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
    return true;
}

/* ---- LayerNorm backward ------------------------------------------------------- */

/* A row's mean as mh + ml and its 1/std r, as floats in registers (the
 * splitting of ln_forward and LN_XH_ACC). */
typedef struct {
    __m256 mh, ml, r;
} ln_stats;

static ln_stats ln_row(const double *mr, int64_t i) {
    const float mh = (float)mr[2 * i], ml = (float)(mr[2 * i] - (double)mh);
    return (ln_stats){_mm256_set1_ps(mh), _mm256_set1_ps(ml), _mm256_set1_ps((float)mr[2 * i + 1])};
}

/* xh = ((x - mh) - ml) * r of 8 floats at x. */
static inline __m256 ln_xh(const float *x, ln_stats s) {
    return _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x), s.mh), s.ml), s.r);
}

/* With g = dy * w (w NULL: g = dy), adds g and g * xh of the 16 columns at
 * j of row x, dy to the float lanes sg[2] and sgx[2] (a step of LN_XH_ACC's
 * TILE_SUMs). */
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
 * agx[4], as LN_XH_ACC does. */
static inline void ln_sums_tile(__m256d ag[4], __m256d agx[4], const float *x, const float *dy,
                                const float *w, ln_stats s, int64_t j0, int64_t j1) {
    __m256 sg[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, sgx[2] = {sg[0], sg[1]};
    for (int64_t j = j0; j < j1; j += 16) ln_sums16(sg, sgx, x, dy, w, s, j);
    add_lanes(ag, sg[0], sg[1]);
    add_lanes(agx, sgx[0], sgx[1]);
}

/* Row i's tile [j0, j1): dx = r * ((g - mean(g)) - xh * mean(g * xh)) by
 * dxm, dw's term dy * xh and db's dy by dwm (into dw, wb and db, bb); and,
 * in the same loop, row i+1's sums over the tile into ag[4], agx[4] as
 * ln_sums_tile does (xn NULL: no next row). */
static inline __attribute__((always_inline)) void
ln_bwd_tile(const float *xi, const float *dyi, const float *pw, float *dxi, double *dw, float *wb,
            double *db, float *bb, const float *xn, const float *dyn, ln_stats sn,
            __m256d ag[4], __m256d agx[4], int64_t j0, int64_t j1, ln_stats s, __m256 vmg,
            __m256 vmgx, int dxm, int dwm) {
    __m256 sg[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, sgx[2] = {sg[0], sg[1]};
    for (int64_t j16 = j0; j16 < j1; j16 += 16) {
        if (xn) {
            prefetch_ahead(xn, dyn, j16);
            ln_sums16(sg, sgx, xn, dyn, pw, sn, j16);
        }
        for (int64_t j = j16; j < j16 + 16; j += 8) {
            const __m256 dy = _mm256_loadu_ps(dyi + j), xh = ln_xh(xi + j, s);
            if (dxm != DX_NONE) {
                const __m256 g = pw ? _mm256_mul_ps(dy, _mm256_loadu_ps(pw + j)) : dy;
                const __m256 c = _mm256_sub_ps(_mm256_sub_ps(g, vmg), _mm256_mul_ps(xh, vmgx));
                dx_out(dxm, dxi + j, _mm256_mul_ps(s.r, c));
            }
            if (dw) block_add(dwm, dw + j, wb + j, _mm256_mul_ps(dy, xh));
            if (db) block_add(dwm, db + j, bb + j, dy);
        }
    }
    if (xn) {
        add_lanes(ag, sg[0], sg[1]);
        add_lanes(agx, sgx[0], sgx[1]);
    }
}

bool ag__ln_backward_f32_simd(const float *px, const float *pdy, const float *pw,
                              const double *mr, float *pdx, bool add, double *wpart,
                              double *bpart, const ag__scratch *blk, int64_t rows, int64_t D,
                              int nchunks, bool stream) {
    const int dxm = dx_mode(pdx, add, stream, D);
    if (dxm < 0) return false;
    AG_OMP_FOR(nchunks > 1)
    for (int c = 0; c < nchunks; c++) {
        double *dw = wpart ? wpart + (int64_t)c * D : NULL;
        double *db = bpart ? bpart + (int64_t)c * D : NULL;
        float *wb = AG__SCRATCH_ROW(blk, c, 0), *bb = AG__SCRATCH_ROW(blk, c, 1);
        const int64_t i0 = rows * c / nchunks, i1 = rows * (c + 1) / nchunks;
        __m256d ag[4], agx[4];
        for (int k = 0; k < 4; k++) ag[k] = agx[k] = _mm256_setzero_pd();
        if (pdx)
            for (int64_t j0 = 0; j0 < D; j0 += TILE)
                ln_sums_tile(ag, agx, px + i0 * D, pdy + i0 * D, pw, ln_row(mr, i0), j0,
                             j0 + TILE < D ? j0 + TILE : D);
        for (int64_t i = i0; i < i1; i++) {
            const float *xi = px + i * D, *dyi = pdy + i * D;
            const bool next = pdx && i + 1 < i1;
            float *dxi = pdx ? pdx + i * D : NULL;
            const ln_stats s = ln_row(mr, i), sn = next ? ln_row(mr, i + 1) : s;
            const __m256 vmg = _mm256_set1_ps((float)(lanes(ag) / (double)D));
            const __m256 vmgx = _mm256_set1_ps((float)(lanes(agx) / (double)D));
            const int dwm = dw_mode(dw || db, i, i0, i1);
            for (int k = 0; k < 4; k++) ag[k] = agx[k] = _mm256_setzero_pd();
            const float *xn = next ? xi + D : NULL, *dyn = dyi + D;
            for (int64_t j0 = 0; j0 < D; j0 += TILE) {
                const int64_t j1 = j0 + TILE < D ? j0 + TILE : D;
#define LN_TILE(DXM, DWM)                                                          \
    ln_bwd_tile(xi, dyi, pw, dxi, dw, wb, db, bb, xn, dyn, sn, ag, agx, j0, j1, s, vmg, vmgx, \
                DXM, DWM)
                BY_MODES(LN_TILE)
#undef LN_TILE
            }
        }
        if (stream) _mm_sfence();
    }
    return true;
}

#else

bool ag__rms_forward_f32_simd(const float *px, const float *pw, float *py, double *rs,
                              int64_t rows, int64_t D, double eps, int nchunks, bool stream) {
    (void)px, (void)pw, (void)py, (void)rs, (void)rows, (void)D, (void)eps, (void)nchunks;
    (void)stream;
    return false;
}

bool ag__rms_backward_f32_simd(const float *px, const float *pdy, const float *pw,
                               const double *rs, float *pdx, bool add, double *part,
                               const ag__scratch *blk, int64_t rows, int64_t D, int nchunks,
                               bool stream) {
    (void)px, (void)pdy, (void)pw, (void)rs, (void)pdx, (void)add, (void)part, (void)blk;
    (void)rows, (void)D, (void)nchunks, (void)stream;
    return false;
}

bool ag__ln_forward_f32_simd(const float *px, const float *pw, const float *pb, float *py,
                             double *mr, int64_t rows, int64_t D, double eps, int nchunks,
                             bool stream) {
    (void)px, (void)pw, (void)pb, (void)py, (void)mr, (void)rows, (void)D, (void)eps;
    (void)nchunks, (void)stream;
    return false;
}

bool ag__ln_backward_f32_simd(const float *px, const float *pdy, const float *pw,
                              const double *mr, float *pdx, bool add, double *wpart,
                              double *bpart, const ag__scratch *blk, int64_t rows, int64_t D,
                              int nchunks, bool stream) {
    (void)px, (void)pdy, (void)pw, (void)mr, (void)pdx, (void)add, (void)wpart, (void)bpart;
    (void)blk, (void)rows, (void)D, (void)nchunks, (void)stream;
    return false;
}

#endif
