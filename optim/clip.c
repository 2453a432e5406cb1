/* optim/clip.c — gradient clipping (torch.nn.utils.clip_grad_norm_ and
 * clip_grad_value_), over a list of parameters or an optimizer's.
 *
 * The norm's sum of squares is taken in double in fixed chunks whose
 * partial sums are added in order, so the result does not depend on the
 * number of threads. */
#include <stdlib.h>

#include "internal.h"
#include "optim_internal.h"

/* Chunks of at least CHUNK elements, at most MAX_CHUNKS of them. */
enum { CHUNK = 1 << 16, MAX_CHUNKS = 1024 };

/* Sum of x^2 over x[lo, hi) of a gradient's data, in double. */
static double sumsq_range(ag_dtype dt, const void *x, int64_t lo, int64_t hi) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0; /* four chains: the adds overlap */
    int64_t i = lo;
    if (dt == AG_F64) {
        const double *p = x;
        for (; i + 4 <= hi; i += 4) {
            s0 += p[i] * p[i];
            s1 += p[i + 1] * p[i + 1];
            s2 += p[i + 2] * p[i + 2];
            s3 += p[i + 3] * p[i + 3];
        }
        for (; i < hi; i++) s0 += p[i] * p[i];
    } else if (dt == AG_F32) {
        const float *p = x;
        for (; i + 4 <= hi; i += 4) {
            s0 += (double)p[i] * p[i];
            s1 += (double)p[i + 1] * p[i + 1];
            s2 += (double)p[i + 2] * p[i + 2];
            s3 += (double)p[i + 3] * p[i + 3];
        }
        for (; i < hi; i++) s0 += (double)p[i] * p[i];
    } else { /* bf16 */
        const uint16_t *p = x;
        for (; i < hi; i++) {
            double v = ag_bf16_to_f32(p[i]);
            s0 += v * v;
        }
    }
    return (s0 + s1) + (s2 + s3);
}

typedef struct sumsq_job {
    const ag_tensor *g;
    int64_t chunk; /* elements per chunk */
    double *part;  /* one sum per chunk */
} sumsq_job;

/* The partial sums of chunks [lo, hi). */
static void sumsq_chunks(const void *ctx, int64_t lo, int64_t hi) {
    const sumsq_job *j = ctx;
    const int64_t n = j->g->numel, chunk = j->chunk;
    for (int64_t c = lo; c < hi; c++) {
        const int64_t end = (c + 1) * chunk < n ? (c + 1) * chunk : n;
        j->part[c] = sumsq_range(j->g->dtype, j->g->data, c * chunk, end);
    }
}

static double sumsq(const ag_tensor *g) {
    const int64_t n = g->numel;
    int64_t chunk = (n + MAX_CHUNKS - 1) / MAX_CHUNKS;
    if (chunk < CHUNK) chunk = CHUNK;
    const int64_t nchunks = (n + chunk - 1) / chunk;
    if (nchunks <= 1) return sumsq_range(g->dtype, g->data, 0, n);
    double part[MAX_CHUNKS];
    ag__parallel_for(nchunks, true, sumsq_chunks, &(sumsq_job){g, chunk, part});
    double s = 0;
    for (int64_t c = 0; c < nchunks; c++) s += part[c];
    return s;
}

/* g *= v (SCALE) or g = clamp(g, -v, v) (CLAMP), in g's dtype. */
typedef struct edit_job {
    enum { SCALE, CLAMP } what;
    const ag_tensor *g;
    double v;
} edit_job;

/* SCALE: g *= v, v rounded to g's dtype (bf16 computes in f32). CLAMP: NaN
 * stays NaN (torch.clamp). Over g's elements [lo, hi). */
static void edit_range(const void *ctx, int64_t lo, int64_t hi) {
    const edit_job *j = ctx;
    const bool sc = j->what == SCALE;
    if (j->g->dtype == AG_F64) {
        double *p = j->g->data;
        const double c = j->v;
        if (sc)
            for (int64_t i = lo; i < hi; i++) p[i] *= c;
        else
            for (int64_t i = lo; i < hi; i++) p[i] = p[i] < -c ? -c : (p[i] > c ? c : p[i]);
    } else if (j->g->dtype == AG_F32) {
        float *p = j->g->data;
        const float c = (float)j->v;
        if (sc)
            for (int64_t i = lo; i < hi; i++) p[i] *= c;
        else
            for (int64_t i = lo; i < hi; i++) p[i] = p[i] < -c ? -c : (p[i] > c ? c : p[i]);
    } else {
        uint16_t *p = j->g->data;
        const float c = (float)j->v;
        for (int64_t i = lo; i < hi; i++) {
            const float v = ag_bf16_to_f32(p[i]);
            p[i] = ag_f32_to_bf16(sc ? v * c : v < -c ? -c : (v > c ? c : v));
        }
    }
}

static void scale(ag_tensor *g, double coef) {
    ag__parallel_for(g->numel, g->numel >= AG_PAR_MIN, edit_range, &(edit_job){SCALE, g, coef});
}

static void clamp(ag_tensor *g, double c) {
    ag__parallel_for(g->numel, g->numel >= AG_PAR_MIN, edit_range, &(edit_job){CLAMP, g, c});
}

/* The gradients of params[n] into grads (those that have one); returns how
 * many, or -1 for a NULL list or entry (silently: an earlier failure). */
static int gather_grads(ag_tensor *const *params, int n, ag_tensor **grads) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i]) return -1;
        if (params[i]->grad) grads[k++] = params[i]->grad;
    }
    return k;
}

/* A clipping limit: >= 0, and +inf (no clipping, as in PyTorch) allowed. */
static bool limit_ok(const char *op, const char *what, double v) {
    if (v >= 0) return true; /* +inf included; false for NaN */
    ag__fail(op, "invalid %s %g: expected a number >= 0 (inf: no clipping)", what, v);
    return false;
}

/* Clipping over params[n] (list) or an optimizer's parameters. */
static double clip_norm_impl(const char *op, ag_tensor *const *params, int n, double max_norm,
                        bool error_if_nonfinite) {
    if (n < 0) {
        ag__fail(op, "%d parameters: expected a count >= 0", n);
        return -1;
    }
    if (n > 0 && !params) return -1;
    if (!limit_ok(op, "max_norm", max_norm)) return -1;
    if (n == 0) return 0;
    ag_tensor **grads = malloc((size_t)n * sizeof *grads);
    if (!grads) {
        ag__fail(op, "out of memory for %d gradient pointers", n);
        return -1;
    }
    int k = gather_grads(params, n, grads);
    double total = 0;
    if (k > 0) {
        double s = 0;
        for (int i = 0; i < k; i++) s += sumsq(grads[i]);
        total = sqrt(s);
    }
    if (k > 0 && !isfinite(total) && error_if_nonfinite) {
        ag__fail(op, "the total norm of the gradients of %d parameters is %g (non-finite), so "
                 "they cannot be clipped; they are left unchanged (error_if_nonfinite false "
                 "would scale them by it anyway)", k, total);
    } else if (k > 0) {
        double coef = max_norm / (total + 1e-6);
        if (coef > 1) coef = 1; /* torch.clamp(max=1.0); NaN stays NaN */
        if (coef != 1)
            for (int i = 0; i < k; i++) scale(grads[i], coef);
    }
    free(grads);
    return k < 0 ? -1 : total;
}

static bool clip_value_impl(const char *op, ag_tensor *const *params, int n, double clip_value) {
    if (n < 0) {
        ag__fail(op, "%d parameters: expected a count >= 0", n);
        return false;
    }
    if (n > 0 && !params) return false;
    if (!limit_ok(op, "clip_value", clip_value)) return false;
    for (int i = 0; i < n; i++)
        if (!params[i]) return false;
    for (int i = 0; i < n; i++)
        if (params[i]->grad) clamp(params[i]->grad, clip_value);
    return true;
}

double ag_clip_grad_norm_(ag_tensor *const *params, int n, double max_norm,
                          bool error_if_nonfinite) {
    return clip_norm_impl("clip_grad_norm", params, n, max_norm, error_if_nonfinite);
}

/* An optimizer's parameter list (its groups' arrays are one array). */
static ag_tensor *const *optim_params(const ag_optim *o) {
    return o->ngroups > 0 ? o->groups[0].params : NULL;
}

double ag_optim_clip_grad_norm_(ag_optim *o, double max_norm, bool error_if_nonfinite) {
    if (!o) return -1;
    return clip_norm_impl("optim_clip_grad_norm", optim_params(o), o->nparams, max_norm,
                     error_if_nonfinite);
}

bool ag_clip_grad_value_(ag_tensor *const *params, int n, double clip_value) {
    return clip_value_impl("clip_grad_value", params, n, clip_value);
}

bool ag_optim_clip_grad_value_(ag_optim *o, double clip_value) {
    if (!o) return false;
    return clip_value_impl("optim_clip_grad_value", optim_params(o), o->nparams, clip_value);
}
