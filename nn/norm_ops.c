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
 * backward) accumulate in double whatever the dtype, with 8 independent
 * partial sums added in a fixed order (ROW_SUM): the loop vectorizes and the
 * result does not depend on the vector width. Because x^2 is formed in
 * double, f32 rows with |x| up to ~1e38 normalize correctly: PyTorch's f32
 * kernel squares in f32, which overflows for |x| > 1.8e19 (x*x > 3.4e38), and
 * returns 0 for the whole row; ag returns the right answer (tested with
 * x = [3e20, 4e20]). At the small end, x ~ 1e-20 squares to ~1e-40 (an f32
 * subnormal) exactly in double. backward forms dx as r * (g - xh * m) rather
 * than r*g - x * (r^3 * mean(g*x)), so that r^3 (which under- or overflows
 * f32 at those magnitudes) never appears. f64 inputs square in f64, as
 * PyTorch does (overflow above ~1e154).
 *
 * What is saved: per row, r (RMSNorm) or mean and r (LayerNorm), as double
 * (8 or 16 bytes per row, in the result's arena, only when a gradient will be
 * needed); backward recomputes xh from x. RMSNorm's forward writes y in the
 * compute type (x * (T)r * w); LayerNorm centres and scales in double,
 * xh = (T)((x - mean) * r), because (x - (T)mean) in f32 loses the digits
 * that matter when |mean| >> std; its backward likewise forms xh and dx in
 * double and rounds once.
 *
 * Threads and determinism. Forward runs rows on OpenMP threads (no shared
 * writes). Backward splits the rows into a fixed static partition of
 * nchunks contiguous ranges (one per OpenMP thread, omp_get_max_threads();
 * 1 without OpenMP or below AG_PAR_MIN elements). Each chunk writes its rows
 * of dx and accumulates dw (and db) into its own partial sums in double;
 * after the loop the partials are added in chunk order and the total added
 * once into weight.grad. So the same inputs give bitwise the same gradients
 * for a given thread count; a different thread count may change dw and db in
 * the last bits. dx never depends on the thread count. Nothing is allocated
 * inside the row loops: forward allocates only its result and the saved
 * rows, backward one partial-sum buffer per parameter (nchunks x D doubles).
 *
 * dtypes: x f32/f64/bf16; bf16 x is cast (recorded) to f32, normalized in f32
 * and the result cast back to bf16; weight and bias are cast (recorded) to
 * the compute type when they differ, so their gradients reach them through
 * the cast.
 */
#include <stdlib.h>

#include "internal.h"

#include "ag/norm_ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- helpers ---------------------------------------------------------------- */

/* out = sum over j in [0, n) of EXPR (an expression of j), in double: LANES
 * independent partial sums over blocks of LANES elements (the inner loop
 * vectorizes), then the tail, then the partials added in a fixed order. */
#define LANES 8
#define ROW_SUM(out, n, j, EXPR)                                                   \
    do {                                                                           \
        double acc_[LANES] = {0}, tail_ = 0;                                       \
        int64_t b_ = 0;                                                            \
        for (; b_ + LANES <= (n); b_ += LANES)                                     \
            for (int k_ = 0; k_ < LANES; k_++) {                                   \
                const int64_t j = b_ + k_;                                         \
                acc_[k_] += (EXPR);                                                \
            }                                                                      \
        for (int64_t j = b_; j < (n); j++) tail_ += (EXPR);                        \
        (out) = (((acc_[0] + acc_[4]) + (acc_[1] + acc_[5])) +                     \
                 ((acc_[2] + acc_[6]) + (acc_[3] + acc_[7]))) +                    \
                tail_;                                                             \
    } while (0)

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
    if (!(eps >= 0)) { /* also NaN */
        ag__fail(op, "eps is %g for input %s: expected eps >= 0", eps, ag__shp(x));
        return false;
    }
    *D = ag__numel(nshape, ns);
    *rows = ag__numel(lead, x->shape);
    return true;
}

/* The fixed static partition of backward's rows: one chunk per OpenMP
 * thread when the input is big enough to thread, else 1; never more chunks
 * than rows. rows >= 1. */
static int nchunks_for(int64_t rows, int64_t D) {
    int n = 1;
#ifdef _OPENMP
    if (rows * D >= AG_PAR_MIN) n = omp_get_max_threads();
#else
    (void)D;
#endif
    if (n > rows) n = (int)rows;
    return n < 1 ? 1 : n;
}

/* Zeroed partial sums for nchunks chunks of D (NULL when not wanted);
 * reports when out of memory. */
static double *partials(const char *op, bool want, int nchunks, int64_t D, bool *ok) {
    if (!want) return NULL;
    double *p = calloc((size_t)nchunks * (size_t)D, sizeof *p);
    if (!p) {
        ag__fail(op, "out of memory for %d x %lld partial sums of a parameter gradient",
                 nchunks, (long long)D);
        *ok = false;
    }
    return p;
}

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
 * rs[rows] receives r per row (NULL: not saved). */
static void rms_forward(const ag_tensor *x, const ag_tensor *w, ag_tensor *y, double *rs,
                        int64_t rows, int64_t D, double eps, unsigned flags) {
    const bool div = flags & AG_RMS_SQRT_DIV, offset = flags & AG_RMS_UNIT_OFFSET;
    AG_DISPATCH(x->dtype, T, {
        const T *px = x->data, *pw = w ? w->data : NULL;
        T *py = y->data;
        AG_OMP_FOR(rows * D >= AG_PAR_MIN)
        for (int64_t i = 0; i < rows; i++) {
            const T *restrict xi = px + i * D;
            T *restrict yi = py + i * D;
            double ss;
            ROW_SUM(ss, D, j, (double)xi[j] * xi[j]);
            const double s = sqrt(ss / (double)D + eps), r = 1 / s;
            if (rs) rs[i] = r;
            const T sT = (T)s, rT = (T)r;
            if (!pw) {
                if (div)
                    for (int64_t j = 0; j < D; j++) yi[j] = xi[j] / sT;
                else
                    for (int64_t j = 0; j < D; j++) yi[j] = xi[j] * rT;
            } else if (!offset) {
                if (div)
                    for (int64_t j = 0; j < D; j++) yi[j] = xi[j] / sT * pw[j];
                else
                    for (int64_t j = 0; j < D; j++) yi[j] = xi[j] * rT * pw[j];
            } else {
                if (div)
                    for (int64_t j = 0; j < D; j++) yi[j] = xi[j] / sT * ((T)1 + pw[j]);
                else
                    for (int64_t j = 0; j < D; j++) yi[j] = xi[j] * rT * ((T)1 + pw[j]);
            }
        }
    });
}

/* src[0] = x, src[1] = weight when iparam[2]; iparam[0] = D, iparam[1] =
 * flags; saved = r per row (double). */
static void rms_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0], *w = out->iparam[2] ? out->src[1] : NULL;
    ag_tensor *gx = ag__grad_buf(x), *gw = w ? ag__grad_buf(w) : NULL;
    const int64_t D = out->iparam[0];
    const bool offset = out->iparam[1] & AG_RMS_UNIT_OFFSET;
    if (out->numel == 0 || (!gx && !gw)) return;
    const int64_t rows = out->numel / D;
    const double *rs = out->saved;
    const int nchunks = nchunks_for(rows, D);
    bool ok = true;
    double *part = partials("rms_norm", gw != NULL, nchunks, D, &ok);
    if (!ok) return;
    AG_DISPATCH(out->dtype, T, {
        const T *px = x->data, *pdy = out->grad->data, *pw = w ? w->data : NULL;
        T *pdx = gx ? gx->data : NULL;
        AG_OMP_FOR(nchunks > 1)
        for (int c = 0; c < nchunks; c++) {
            double *restrict dw = part ? part + (int64_t)c * D : NULL;
            const int64_t i0 = rows * c / nchunks, i1 = rows * (c + 1) / nchunks;
            for (int64_t i = i0; i < i1; i++) {
                const T *restrict xi = px + i * D, *restrict dyi = pdy + i * D;
                const double r = rs[i];
                if (pdx) {
                    T *restrict dxi = pdx + i * D;
                    /* m = mean(g * xh) = r * mean(g * x), g = dy * w_eff */
                    double sgx;
                    if (!pw)
                        ROW_SUM(sgx, D, j, (double)dyi[j] * xi[j]);
                    else if (!offset)
                        ROW_SUM(sgx, D, j, (double)dyi[j] * pw[j] * xi[j]);
                    else
                        ROW_SUM(sgx, D, j, (double)dyi[j] * (1 + (double)pw[j]) * xi[j]);
                    const T rT = (T)r, mT = (T)(r * sgx / (double)D);
                    /* dx = r * (g - xh * m), xh = x * r */
                    if (!pw)
                        for (int64_t j = 0; j < D; j++)
                            dxi[j] += rT * (dyi[j] - xi[j] * rT * mT);
                    else if (!offset)
                        for (int64_t j = 0; j < D; j++)
                            dxi[j] += rT * (dyi[j] * pw[j] - xi[j] * rT * mT);
                    else
                        for (int64_t j = 0; j < D; j++)
                            dxi[j] += rT * (dyi[j] * ((T)1 + pw[j]) - xi[j] * rT * mT);
                }
                /* dw += dy * xh */
                if (dw)
                    for (int64_t j = 0; j < D; j++) dw[j] += (double)dyi[j] * ((double)xi[j] * r);
            }
        }
    });
    if (part) add_partials(part, nchunks, D, gw);
    free(part);
}

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
    const ag_dtype ct = x->dtype == AG_BF16 ? AG_F32 : x->dtype;
    ag_tensor *xc = ag__as(A, x, ct), *w = ag__as(A, weight, ct);
    if (!xc || (weight && !w)) return NULL;
    ag_tensor *y = ag__result(A, ct, xc->ndim, xc->shape);
    if (!y) return NULL;
    ag_tensor *srcs[2] = {xc, w};
    const int nsrc = w ? 2 : 1;
    double *rs = NULL;
    if (y->numel > 0 && ag__needs_grad(nsrc, srcs)) {
        rs = ag_arena_alloc(A, (size_t)rows * sizeof *rs);
        if (!rs) return NULL;
    }
    if (y->numel > 0) rms_forward(xc, w, y, rs, rows, D, eps, flags);
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
    const ag_dtype ct = x->dtype == AG_BF16 ? AG_F32 : x->dtype;
    ag_tensor *xc = ag__as(A, x, ct), *w = ag__as(A, weight, ct);
    if (!xc || (weight && !w)) return NULL;
    ag_tensor *ms = ag_mean_(A, ag_pow_(A, xc, 2.0), nshape, dims, true); /* mean(x^2) */
    ag_tensor *r = ag_rsqrt_(A, ag_add_scalar_(A, ms, eps));              /* 1/sqrt(. + eps) */
    ag_tensor *y = ag_mul_(A, xc, r);                                     /* x * r */
    if (w) y = ag_mul_(A, y, w);                                          /* * weight */
    return ag__as(A, y, x->dtype);
}

/* ---- LayerNorm -------------------------------------------------------------- */

/* xh_j of ln_forward's row: centred and scaled in double, rounded once. */
#define XH ((T)(((double)xi[j] - mean) * r))

/* x, y: [rows, D]; w, b: [D] or NULL; all of x's dtype (f32 or f64).
 * mr[2*rows] receives (mean, r) per row (NULL: not saved). */
static void ln_forward(const ag_tensor *x, const ag_tensor *w, const ag_tensor *b, ag_tensor *y,
                       double *mr, int64_t rows, int64_t D, double eps) {
    AG_DISPATCH(x->dtype, T, {
        const T *px = x->data, *pw = w ? w->data : NULL, *pb = b ? b->data : NULL;
        T *py = y->data;
        AG_OMP_FOR(rows * D >= AG_PAR_MIN)
        for (int64_t i = 0; i < rows; i++) {
            const T *restrict xi = px + i * D;
            T *restrict yi = py + i * D;
            double sx, sc;
            ROW_SUM(sx, D, j, (double)xi[j]);
            const double mean = sx / (double)D;
            ROW_SUM(sc, D, j, ((double)xi[j] - mean) * ((double)xi[j] - mean));
            const double r = 1 / sqrt(sc / (double)D + eps);
            if (mr) mr[2 * i] = mean, mr[2 * i + 1] = r;
            /* xh in double, rounded once (XH); then the affine part in T */
            if (pw && pb)
                for (int64_t j = 0; j < D; j++) yi[j] = XH * pw[j] + pb[j];
            else if (pw)
                for (int64_t j = 0; j < D; j++) yi[j] = XH * pw[j];
            else if (pb)
                for (int64_t j = 0; j < D; j++) yi[j] = XH + pb[j];
            else
                for (int64_t j = 0; j < D; j++) yi[j] = XH;
        }
    });
}

#undef XH

/* src = x, then weight when iparam[2], then bias when iparam[3];
 * iparam[0] = D; saved = (mean, r) per row (double). */
static void ln_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    ag_tensor *w = out->iparam[2] ? out->src[1] : NULL;
    ag_tensor *b = out->iparam[3] ? out->src[1 + (out->iparam[2] != 0)] : NULL;
    ag_tensor *gx = ag__grad_buf(x), *gw = w ? ag__grad_buf(w) : NULL;
    ag_tensor *gb = b ? ag__grad_buf(b) : NULL;
    const int64_t D = out->iparam[0];
    if (out->numel == 0 || (!gx && !gw && !gb)) return;
    const int64_t rows = out->numel / D;
    const double *mr = out->saved;
    const int nchunks = nchunks_for(rows, D);
    bool ok = true;
    double *wpart = partials("layer_norm", gw != NULL, nchunks, D, &ok);
    double *bpart = ok ? partials("layer_norm", gb != NULL, nchunks, D, &ok) : NULL;
    if (!ok) {
        free(wpart);
        return;
    }
    AG_DISPATCH(out->dtype, T, {
        const T *px = x->data, *pdy = out->grad->data, *pw = w ? w->data : NULL;
        T *pdx = gx ? gx->data : NULL;
        AG_OMP_FOR(nchunks > 1)
        for (int c = 0; c < nchunks; c++) {
            double *restrict dw = wpart ? wpart + (int64_t)c * D : NULL;
            double *restrict db = bpart ? bpart + (int64_t)c * D : NULL;
            const int64_t i0 = rows * c / nchunks, i1 = rows * (c + 1) / nchunks;
            for (int64_t i = i0; i < i1; i++) {
                const T *restrict xi = px + i * D, *restrict dyi = pdy + i * D;
                const double mean = mr[2 * i], r = mr[2 * i + 1];
                if (pdx) {
                    T *restrict dxi = pdx + i * D;
                    /* mean(g) and mean(g * xh), g = dy * w, xh = (x - mean) * r */
                    double sg, sgx;
                    if (pw) {
                        ROW_SUM(sg, D, j, (double)dyi[j] * pw[j]);
                        ROW_SUM(sgx, D, j, (double)dyi[j] * pw[j] * ((double)xi[j] - mean));
                    } else {
                        ROW_SUM(sg, D, j, (double)dyi[j]);
                        ROW_SUM(sgx, D, j, (double)dyi[j] * ((double)xi[j] - mean));
                    }
                    const double mg = sg / (double)D, mgx = sgx * r / (double)D;
                    /* dx = r * (g - mean(g) - xh * mean(g * xh)) */
                    if (pw)
                        for (int64_t j = 0; j < D; j++)
                            dxi[j] += (T)(r * ((double)dyi[j] * pw[j] - mg -
                                               ((double)xi[j] - mean) * r * mgx));
                    else
                        for (int64_t j = 0; j < D; j++)
                            dxi[j] += (T)(r * ((double)dyi[j] - mg -
                                               ((double)xi[j] - mean) * r * mgx));
                }
                /* dw += dy * xh, db += dy */
                if (dw)
                    for (int64_t j = 0; j < D; j++)
                        dw[j] += (double)dyi[j] * (((double)xi[j] - mean) * r);
                if (db)
                    for (int64_t j = 0; j < D; j++) db[j] += (double)dyi[j];
            }
        }
    });
    if (wpart) add_partials(wpart, nchunks, D, gw);
    if (bpart) add_partials(bpart, nchunks, D, gb);
    free(wpart);
    free(bpart);
}

static const ag_op LAYER_NORM = {"layer_norm", ln_backward};

ag_tensor *ag_layer_norm_(ag_arena *A, ag_tensor *x, int nshape,
                          const int64_t *normalized_shape, ag_tensor *weight, ag_tensor *bias,
                          double eps) {
    const char *op = "layer_norm";
    if (!x) return NULL;
    int64_t rows, D;
    if (!check_args(op, x, nshape, normalized_shape, weight, bias, eps, &rows, &D)) return NULL;
    const ag_dtype ct = x->dtype == AG_BF16 ? AG_F32 : x->dtype;
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
        mr = ag_arena_alloc(A, 2 * (size_t)rows * sizeof *mr);
        if (!mr) return NULL;
    }
    if (y->numel > 0) ln_forward(xc, w, b, y, mr, rows, D, eps);
    y->iparam[0] = D;
    y->iparam[2] = w != NULL;
    y->iparam[3] = b != NULL;
    y->fparam[0] = eps;
    y->saved = mr;
    ag__record(y, &LAYER_NORM, nsrc, srcs);
    return ag__as(A, y, x->dtype);
}
