/* nn/norm_ref.c — the readable references the fused norms are tested
 * against: RMSNorm composed from core ops (its gradient comes from the
 * engine), and LayerNorm forward and backward as plain loops in double, in
 * the style of llm.c's layernorm_forward / layernorm_backward. Read these
 * first; nn/norm_ops.c computes the same functions, faster. */
#include "internal.h"

#include "ag/norm_ops.h"
#include "nn_internal.h"
#include "norm_job.h"

/* ---- RMSNorm, composed ------------------------------------------------------------ */

/* pow, mean (keepdim), add_scalar, rsqrt, mul, mul. bf16 input is cast to
 * f32 first and the result cast back, as the fused op does; weight is cast
 * to the compute type. */
ag_tensor *ag_rms_norm_composed_(ag_arena *A, ag_tensor *x, int nshape,
                                 const int64_t *normalized_shape, ag_tensor *weight, double eps) {
    const char *op = "rms_norm_composed";
    if (!x) return NULL;
    ag__norm_dims d;
    if (!ag__norm_check(op, x, nshape, normalized_shape, weight, NULL, eps, &d)) return NULL;
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

/* ---- LayerNorm, plain loops in double ---------------------------------------------- */

/* Reports what is wrong with L for op (forward or backward) and returns
 * false; true when L can run. */
static bool ref_ok(const char *op, const ag_layer_norm_ref *L, bool forward) {
    if (!L) {
        ag__fail(op, "the buffers are NULL: expected an ag_layer_norm_ref");
        return false;
    }
    const int64_t shape[2] = {L->rows, L->D};
    if (L->rows < 0 || L->D < 1) {
        ag__fail(op, "rows x D is %s: expected rows >= 0 and D >= 1", ag__shp_of(2, shape));
        return false;
    }
    const char *missing = !L->inp               ? "inp"
                          : !L->mean            ? "mean"
                          : !L->rstd            ? "rstd"
                          : forward && !L->out  ? "out"
                          : !forward && !L->dout ? "dout"
                                                : NULL;
    if (missing) {
        ag__fail(op, "%s is NULL for rows x D %s: expected a buffer", missing,
                 ag__shp_of(2, shape));
        return false;
    }
    return !forward || ag__norm_eps_ok(op, "rows x D", 2, shape, L->eps);
}

bool ag_layer_norm_ref_forward_(const ag_layer_norm_ref *L) {
    if (!ref_ok("layer_norm_ref_forward", L, true)) return false;
    const int64_t rows = L->rows, D = L->D;
    const double *weight = L->weight; /* [D] or NULL (1) */
    const double *bias = L->bias;     /* [D] or NULL (0) */
    for (int64_t i = 0; i < rows; i++) {
        const double *x = L->inp + i * D; /* [D] this row of the input */
        double *out = L->out + i * D;     /* [D] this row of the output */
        /* the mean, then corrected by the mean of x - m: a sum of D values
         * of size |mean| rounds to about D ulps of the mean, which is a lot
         * of the spread when |mean| >> std; the correction leaves ~1 ulp */
        double m = 0;
        for (int64_t j = 0; j < D; j++) m += x[j];
        m = m / (double)D;
        double c = 0;
        for (int64_t j = 0; j < D; j++) c += x[j] - m;
        m = m + c / (double)D;
        /* the biased variance, from the centred values: a second pass */
        double v = 0;
        for (int64_t j = 0; j < D; j++) {
            const double xc = x[j] - m;
            v += xc * xc;
        }
        v = v / (double)D;
        /* the reciprocal standard deviation */
        const double s = 1.0 / sqrt(v + L->eps);
        for (int64_t j = 0; j < D; j++) {
            const double n = (x[j] - m) * s; /* normalized: xh */
            const double o = weight ? n * weight[j] : n;
            out[j] = bias ? o + bias[j] : o;
        }
        /* saved for backward */
        L->mean[i] = m;
        L->rstd[i] = s;
    }
    return true;
}

bool ag_layer_norm_ref_backward_(const ag_layer_norm_ref *L) {
    if (!ref_ok("layer_norm_ref_backward", L, false)) return false;
    const int64_t rows = L->rows, D = L->D;
    const double *weight = L->weight; /* [D] or NULL (1) */
    double *dweight = L->dweight;     /* [D] or NULL (not wanted) */
    double *dbias = L->dbias;         /* [D] or NULL (not wanted) */
    for (int64_t i = 0; i < rows; i++) {
        const double *dout = L->dout + i * D;        /* [D] gradient arriving at this row */
        const double *x = L->inp + i * D;            /* [D] this row of the input */
        double *dinp = L->dinp ? L->dinp + i * D : NULL; /* [D] or NULL (not wanted) */
        const double m = L->mean[i], s = L->rstd[i];
        /* first: two reductions, mean(g) and mean(g * xh), g = dout * weight */
        double dnorm_mean = 0, dnorm_norm_mean = 0;
        for (int64_t j = 0; j < D; j++) {
            const double norm = (x[j] - m) * s;
            const double dnorm = weight ? weight[j] * dout[j] : dout[j];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean = dnorm_mean / (double)D;
        dnorm_norm_mean = dnorm_norm_mean / (double)D;
        /* then accumulate every gradient */
        for (int64_t j = 0; j < D; j++) {
            const double norm = (x[j] - m) * s;
            const double dnorm = weight ? weight[j] * dout[j] : dout[j];
            if (dbias) dbias[j] += dout[j];          /* y = ... + bias */
            if (dweight) dweight[j] += norm * dout[j]; /* y = norm * weight + ... */
            if (!dinp) continue;
            double dval = 0;
            dval += dnorm;                   /* through xh directly */
            dval -= dnorm_mean;              /* through the mean */
            dval -= norm * dnorm_norm_mean;  /* through the variance */
            dval *= s;
            dinp[j] += dval;
        }
    }
    return true;
}
