/* nn/norm_simd.c — RMSNorm's forward and backward and LayerNorm's forward
 * row loops for f32 written with AVX intrinsics, for machines that have AVX2 (see AG_NATIVE).
 *
 * Each is the portable loop of norm_ops.c (rms_forward, rms_backward,
 * ln_forward), step
 * for step, with one thing the compiler cannot do from C: store y or dx with
 * non-temporal stores straight from registers, without the 1 KiB tile the
 * portable loop builds and copies out. Row i+1's sum of squares is accumulated in the same loop
 * that writes row i, in 16 double lanes (four registers of four) mapped to
 * elements exactly as ROW_ACC maps them, and added in lanes_sum's order, so
 * the results are bitwise those of the portable loop (tests/nn checks it).
 * Multiplications and additions are separate instructions, as in the C
 * loop (no fused multiply-add). */
#include <stdint.h>

#include "internal.h"
#include "nn_internal.h"

bool ag__norm_simd = true;

#if defined(__AVX2__)
#include <immintrin.h>

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

/* The tile [j0, j1) of row x, dy: adds sum(dy * w * x) to the double lanes
 * a[4] the way TILE_SUM does (16 float lanes summed over the tile, then
 * converted and added). w NULL: no weight. */
static inline void gx_tile(__m256d a[4], const float *x, const float *dy, const float *w,
                           int64_t j0, int64_t j1) {
    __m256 t0 = _mm256_setzero_ps(), t1 = t0;
    for (int64_t j = j0; j < j1; j += 16) {
        __m256 g0 = _mm256_loadu_ps(dy + j), g1 = _mm256_loadu_ps(dy + j + 8);
        if (w) {
            g0 = _mm256_mul_ps(g0, _mm256_loadu_ps(w + j));
            g1 = _mm256_mul_ps(g1, _mm256_loadu_ps(w + j + 8));
        }
        t0 = _mm256_add_ps(t0, _mm256_mul_ps(g0, _mm256_loadu_ps(x + j)));
        t1 = _mm256_add_ps(t1, _mm256_mul_ps(g1, _mm256_loadu_ps(x + j + 8)));
    }
    a[0] = _mm256_add_pd(a[0], _mm256_cvtps_pd(_mm256_castps256_ps128(t0)));
    a[1] = _mm256_add_pd(a[1], _mm256_cvtps_pd(_mm256_extractf128_ps(t0, 1)));
    a[2] = _mm256_add_pd(a[2], _mm256_cvtps_pd(_mm256_castps256_ps128(t1)));
    a[3] = _mm256_add_pd(a[3], _mm256_cvtps_pd(_mm256_extractf128_ps(t1, 1)));
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

static inline __attribute__((always_inline)) void
bwd_tile(const float *xi, const float *dyi, const float *pw, float *dxi, double *dw, float *wb,
         int64_t j0, int64_t j1, __m256 vr, __m256 vm, int dxm, int dwm) {
    for (int64_t j = j0; j < j1; j += 8) {
        const __m256 dy = _mm256_loadu_ps(dyi + j);
        const __m256 xr = _mm256_mul_ps(_mm256_loadu_ps(xi + j), vr); /* x * r */
        if (dxm != DX_NONE) { /* dx = r * (g - x * r * m) */
            const __m256 g = pw ? _mm256_mul_ps(dy, _mm256_loadu_ps(pw + j)) : dy;
            __m256 d = _mm256_mul_ps(vr, _mm256_sub_ps(g, _mm256_mul_ps(xr, vm)));
            if (dxm == DX_ADD) d = _mm256_add_ps(_mm256_loadu_ps(dxi + j), d);
            if (dxm == DX_STREAM) _mm256_stream_ps(dxi + j, d);
            else _mm256_storeu_ps(dxi + j, d);
        }
        const __m256 term = _mm256_mul_ps(dy, xr); /* dw's term dy * (x * r) */
        if (dwm == DW_ONLY) add_to_double(dw + j, term);
        else if (dwm == DW_FIRST) _mm256_storeu_ps(wb + j, term);
        else if (dwm == DW_LAST) add_to_double(dw + j, _mm256_add_ps(_mm256_loadu_ps(wb + j), term));
        else if (dwm == DW_MIDDLE) _mm256_storeu_ps(wb + j, _mm256_add_ps(_mm256_loadu_ps(wb + j), term));
    }
}

#define BWD_DW(dxm)                                                                \
    switch (dwm) {                                                                 \
    case DW_NONE: bwd_tile(xi, dyi, pw, dxi, dw, wb, j0, j1, vr, vm, dxm, DW_NONE); break;     \
    case DW_ONLY: bwd_tile(xi, dyi, pw, dxi, dw, wb, j0, j1, vr, vm, dxm, DW_ONLY); break;     \
    case DW_FIRST: bwd_tile(xi, dyi, pw, dxi, dw, wb, j0, j1, vr, vm, dxm, DW_FIRST); break;   \
    case DW_LAST: bwd_tile(xi, dyi, pw, dxi, dw, wb, j0, j1, vr, vm, dxm, DW_LAST); break;     \
    default: bwd_tile(xi, dyi, pw, dxi, dw, wb, j0, j1, vr, vm, dxm, DW_MIDDLE); break;        \
    }

bool ag__rms_backward_f32_simd(const float *px, const float *pdy, const float *pw,
                               const double *rs, float *pdx, bool add, double *part,
                               float *wblk, int64_t rows, int64_t D, int nchunks, bool stream) {
    if (!ag__norm_simd || D % 16 != 0 || (pdx && ((uintptr_t)pdx & 31) != 0)) return false;
    const int dxm = !pdx ? DX_NONE : add ? DX_ADD : stream ? DX_STREAM : DX_STORE;
    AG_OMP_FOR(nchunks > 1)
    for (int c = 0; c < nchunks; c++) {
        double *dw = part ? part + (int64_t)c * D : NULL;
        float *wb = wblk ? wblk + (int64_t)c * D : NULL;
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
            const bool first = (i - i0) % BLOCK_ROWS == 0;
            const bool last = (i - i0) % BLOCK_ROWS == BLOCK_ROWS - 1 || i + 1 == i1;
            const int dwm = !dw ? DW_NONE
                            : first && last ? DW_ONLY
                            : first ? DW_FIRST
                            : last ? DW_LAST
                                   : DW_MIDDLE;
            for (int k = 0; k < 4; k++) a[k] = _mm256_setzero_pd();
            for (int64_t j0 = 0; j0 < D; j0 += TILE) {
                const int64_t j1 = j0 + TILE < D ? j0 + TILE : D;
                if (next) gx_tile(a, xi + D, dyi + D, pw, j0, j1);
                switch (dxm) {
                case DX_NONE: BWD_DW(DX_NONE) break;
                case DX_STORE: BWD_DW(DX_STORE) break;
                case DX_STREAM: BWD_DW(DX_STREAM) break;
                default: BWD_DW(DX_ADD) break;
                }
            }
            sgx = lanes(a);
        }
        if (stream) _mm_sfence();
    }
    return true;
}

#undef BWD_DW

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
                if (xn) add_sums(s, q, xn + j);
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

#else

bool ag__rms_forward_f32_simd(const float *px, const float *pw, float *py, double *rs,
                              int64_t rows, int64_t D, double eps, int nchunks, bool stream) {
    (void)px, (void)pw, (void)py, (void)rs, (void)rows, (void)D, (void)eps, (void)nchunks;
    (void)stream;
    return false;
}

bool ag__rms_backward_f32_simd(const float *px, const float *pdy, const float *pw,
                               const double *rs, float *pdx, bool add, double *part,
                               float *wblk, int64_t rows, int64_t D, int nchunks, bool stream) {
    (void)px, (void)pdy, (void)pw, (void)rs, (void)pdx, (void)add, (void)part, (void)wblk;
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

#endif
