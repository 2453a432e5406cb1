/* core/ops_reduce.c — sum, mean, max and var over a list of dims, and argmax.
 *
 * One walk serves every reduction, forward and backward. Tensors are
 * contiguous, so make_plan can drop the input's size-1 dims and merge
 * neighbouring dims that are both reduced or both kept. What is left is a
 * row-major list of alternating kept and reduced blocks, read as:
 *
 *   outer kept dims   (o: which output row)          any strides
 *   reduced dims      (the elements of one output)   the innermost is the "run"
 *   inner kept block  (j: trailing kept dims)        stride 1 in input and output
 *
 * Output element (o, j) sits at out[o * inner + j]. Its reduced elements are
 * visited in row-major order of the reduced dims (so "first maximum" means
 * first in that order) as runs of `run` elements `step` apart. The work is
 * split into items of up to JB consecutive j for one o; items write disjoint
 * outputs — and in backward disjoint input gradients — so they run in
 * parallel without races.
 *
 * The two common cases fall out as tight loops:
 *   last dim of [R, D]:  o over R, run D with step 1, inner 1
 *                        -> one contiguous sum per row (4 partial sums);
 *   dim 0 of [N, D]:     o = 1, run N with step D, inner D
 *                        -> acc[j] += x[k*D + j], a vector loop over j.
 *
 * f32 accumulates in double. Reductions of empty dims follow PyTorch: sum 0,
 * mean and var NaN, max and argmax report an error (no identity).
 *
 * The vjp (a backward with create_graph) writes the kernel's products with
 * ops, g reshaped to the keepdim shape: sum expands it, mean scales it by
 * 1/n first, max multiplies it by a constant 0/1 mask of the first maxima,
 * var by 2 (x - mean(x)) / (n - correction) with the mean recomputed by ops
 * (so the result differentiates again in x as well as in g).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef enum { SUM, MEAN, MAX, VAR } kind;
enum { NKINDS = VAR + 1 };
/* What the output's iparam holds: the kind, the reduced dims (bit d for dim
 * d), var's correction. */
enum { P_KIND, P_DIMS, P_CORRECTION };

static void backward(ag_tensor *out);
static bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads);

static const ag_op OPS[] = {
    [SUM] = {"sum", backward, vjp},
    [MEAN] = {"mean", backward, vjp},
    [MAX] = {"max", backward, vjp},
    [VAR] = {"var", backward, vjp},
};
_Static_assert(sizeof OPS / sizeof OPS[0] == NKINDS, "one op per kind");

/* ---- the walk ------------------------------------------------------------- */

enum { JB = 256 }; /* output positions (j) per work item */

typedef struct plan {
    int64_t n;                      /* elements reduced into each output */
    int64_t nouter;                 /* product of kshape */
    int64_t inner;                  /* trailing kept block (1 when the last dim is reduced) */
    int64_t run, step;              /* innermost reduced dim: length, input stride */
    int64_t nruns;                  /* product of rshape: runs per output */
    int nk, nr;
    int64_t kshape[AG_MAX_DIMS], kstride[AG_MAX_DIMS]; /* outer kept dims */
    int64_t rshape[AG_MAX_DIMS], rstride[AG_MAX_DIMS]; /* reduced dims but the run */
} plan;

/* The plan of reducing a contiguous shape over the dims flagged in reduce. */
static void make_plan(plan *p, int ndim, const int64_t *shape, const bool *reduce) {
    int64_t size[AG_MAX_DIMS], stride[AG_MAX_DIMS];
    bool red[AG_MAX_DIMS];
    int m = 0;
    int64_t st = 1;
    /* blocks innermost first: skip size-1 dims, merge equal neighbours */
    for (int d = ndim - 1; d >= 0; d--) {
        if (shape[d] == 1) continue;
        if (m > 0 && red[m - 1] == reduce[d]) {
            size[m - 1] *= shape[d];
        } else {
            size[m] = shape[d], stride[m] = st, red[m] = reduce[d];
            m++;
        }
        st *= shape[d];
    }
    memset(p, 0, sizeof *p);
    p->inner = 1;
    int first = 0;
    if (m > 0 && !red[0]) p->inner = size[0], first = 1;
    for (int i = m - 1; i >= first; i--) { /* outermost first */
        if (red[i]) {
            p->rshape[p->nr] = size[i], p->rstride[p->nr] = stride[i];
            p->nr++;
        } else {
            p->kshape[p->nk] = size[i], p->kstride[p->nk] = stride[i];
            p->nk++;
        }
    }
    p->run = 1, p->step = 0;
    if (p->nr > 0) {
        p->nr--;
        p->run = p->rshape[p->nr], p->step = p->rstride[p->nr];
    }
    p->nruns = ag__numel(p->nr, p->rshape);
    p->nouter = ag__numel(p->nk, p->kshape);
    p->n = p->run * p->nruns;
}

/* Position over the reduced dims other than the run (an odometer). */
typedef struct cursor {
    int64_t r;                 /* runs done */
    int64_t off;               /* input offset of the current run's start */
    int64_t idx[AG_MAX_DIMS];
} cursor;

static void cursor_next(const plan *p, cursor *c) {
    c->r++;
    for (int d = p->nr - 1; d >= 0; d--) {
        c->off += p->rstride[d];
        if (++c->idx[d] < p->rshape[d]) return;
        c->off -= p->rstride[d] * p->rshape[d];
        c->idx[d] = 0;
    }
}

/* For every reduced position of an output, in row-major order: `e` is its
 * input offset relative to the element at reduced position 0. */
#define EACH_REDUCED(p, c, k, e)                                      \
    for (cursor c = {0}; c.r < (p)->nruns; cursor_next((p), &c))      \
        for (int64_t k = 0, e = c.off; k < (p)->run; k++, e += (p)->step)

/* One work item: up to JB outputs (o, j0 .. j0+jn-1). */
typedef struct item {
    int64_t in;  /* input offset of (o, j0) at reduced position 0 */
    int64_t out; /* output index of (o, j0) */
    int64_t jn;
} item;

static int64_t count_items(const plan *p) { return p->nouter * ((p->inner + JB - 1) / JB); }

static item item_at(const plan *p, int64_t it) {
    const int64_t nj = (p->inner + JB - 1) / JB;
    int64_t o = it / nj, j0 = (it % nj) * JB, off = 0;
    for (int d = p->nk - 1; d >= 0; d--) {
        off += (o % p->kshape[d]) * p->kstride[d];
        o /= p->kshape[d];
    }
    const int64_t left = p->inner - j0;
    return (item){off + j0, (it / nj) * p->inner + j0, left < JB ? left : JB};
}

/* ---- forward ---------------------------------------------------------------- */

typedef struct reduction {
    kind k;
    plan p;
    int64_t correction;  /* var */
    const ag_tensor *x;  /* f32 or f64 */
    ag_tensor *out;      /* same dtype as x; NULL: argmax wants positions only */
    double *mean;        /* var: per output, for backward (may be NULL) */
    int64_t *pos;        /* max: input offset of each output's first maximum */
} reduction;

/* True when v replaces the maximum m so far: strictly greater keeps the first
 * maximum, and NaN wins over numbers (PyTorch). Exact for f32 and f64. */
static inline bool beats(double v, double m) { return v > m || (isnan(v) && !isnan(m)); }

/* Each function below reduces one work item w along one path: "rows" when w
 * is one output whose runs are contiguous (jn == 1, step 1), "strided"
 * otherwise (jn outputs side by side, a vector loop over j). */

/* max, contiguous rows: 4 lanes (k mod 4), each keeping its first maximum;
 * the merge keeps the smallest position among equal maxima, so the result is
 * still the first in row-major order. m[0], at[0]: the maximum, its offset. */
static void max_rows(const reduction *R, item w, double *m, int64_t *at) {
    const plan *p = &R->p;
    AG_DISPATCH(R->x->dtype, T, {
        const T *x = (const T *)R->x->data + w.in;
        m[0] = x[0], at[0] = 0;
        for (cursor c = {0}; c.r < p->nruns; cursor_next(p, &c)) {
            const T *row = x + c.off;
            T lm[4] = {row[0], row[0], row[0], row[0]};
            int64_t la[4] = {0, 0, 0, 0}, k = 0;
            for (; k + 4 <= p->run; k += 4)
                for (int l = 0; l < 4; l++)
                    if (beats(row[k + l], lm[l])) lm[l] = row[k + l], la[l] = k + l;
            for (; k < p->run; k++)
                if (beats(row[k], lm[0])) lm[0] = row[k], la[0] = k;
            for (int l = 0; l < 4; l++) {
                const double v = lm[l];
                const bool tie = v == m[0] || (isnan(v) && isnan(m[0]));
                const int64_t e = c.off + la[l];
                if (beats(v, m[0]) || (tie && e < at[0])) m[0] = v, at[0] = e;
            }
        }
    });
}

/* max, strided: m[j], at[j] for the item's jn outputs. */
static void max_strided(const reduction *R, item w, double *m, int64_t *at) {
    const plan *p = &R->p;
    AG_DISPATCH(R->x->dtype, T, {
        const T *x = (const T *)R->x->data + w.in;
        T mt[JB];
        for (int64_t j = 0; j < w.jn; j++) mt[j] = x[j], at[j] = j;
        EACH_REDUCED(p, c, k, e) {
            const T *row = x + e;
            for (int64_t j = 0; j < w.jn; j++)
                if (beats(row[j], mt[j])) mt[j] = row[j], at[j] = e + j;
        }
        for (int64_t j = 0; j < w.jn; j++) m[j] = mt[j];
    });
}

/* Contiguous rows, in double with 4 partial sums: out[0] = the sum of
 * (x - c)^2 when mu is given (c = mu[0]), else the sum of x. Inlined, so each
 * caller gets its own loop. */
static inline void sums_rows(const reduction *R, item w, const double *mu, double *out) {
    const plan *p = &R->p;
    const bool squares = mu != NULL;
    const double c0 = squares ? mu[0] : 0.0;
    AG_DISPATCH(R->x->dtype, T, {
        const T *x = (const T *)R->x->data + w.in;
        out[0] = 0;
        for (cursor c = {0}; c.r < p->nruns; cursor_next(p, &c)) {
            const T *row = x + c.off;
            double s[4] = {0, 0, 0, 0};
            int64_t k = 0;
            for (; k + 4 <= p->run; k += 4)
                for (int l = 0; l < 4; l++) {
                    const double d = row[k + l] - c0;
                    s[l] += squares ? d * d : d;
                }
            for (; k < p->run; k++) {
                const double d = row[k] - c0;
                s[0] += squares ? d * d : d;
            }
            out[0] += (s[0] + s[1]) + (s[2] + s[3]);
        }
    });
}

/* Strided, in double: out[j] = the sum of (x - mu[j])^2 when mu is given,
 * else the sum of x, for the item's jn outputs. Inlined like sums_rows. */
static inline void sums_strided(const reduction *R, item w, const double *mu, double *out) {
    const plan *p = &R->p;
    const bool squares = mu != NULL;
    AG_DISPATCH(R->x->dtype, T, {
        const T *x = (const T *)R->x->data + w.in;
        for (int64_t j = 0; j < w.jn; j++) out[j] = 0;
        EACH_REDUCED(p, c, k, e) {
            const T *row = x + e;
            for (int64_t j = 0; j < w.jn; j++) {
                const double d = squares ? row[j] - mu[j] : row[j];
                out[j] += squares ? d * d : d;
            }
        }
    });
}

/* The passes of sum, mean and var, by path. */
static void sum_rows(const reduction *R, item w, double *acc) { sums_rows(R, w, NULL, acc); }
static void sum_strided(const reduction *R, item w, double *acc) {
    sums_strided(R, w, NULL, acc);
}
static void sumsq_rows(const reduction *R, item w, const double *mu, double *ss) {
    sums_rows(R, w, mu, ss);
}
static void sumsq_strided(const reduction *R, item w, const double *mu, double *ss) {
    sums_strided(R, w, mu, ss);
}

/* The item's jn outputs = v[j], rounded to the output dtype. */
static void store(const reduction *R, item w, const double *v) {
    AG_DISPATCH(R->out->dtype, T, {
        T *y = (T *)R->out->data + w.out;
        for (int64_t j = 0; j < w.jn; j++) y[j] = (T)v[j];
    });
}

/* max: the maxima (when out is wanted) and their input offsets. */
static void max_item(const reduction *R, item w, bool rows) {
    double m[JB];
    int64_t at[JB];
    (rows ? max_rows : max_strided)(R, w, m, at);
    if (R->out) store(R, w, m);
    if (R->pos)
        for (int64_t j = 0; j < w.jn; j++) R->pos[w.out + j] = w.in + at[j];
}

/* sum and mean: one pass of sums. */
static void sum_item(const reduction *R, item w, bool rows) {
    double acc[JB];
    (rows ? sum_rows : sum_strided)(R, w, acc);
    if (R->k == MEAN)
        for (int64_t j = 0; j < w.jn; j++) acc[j] /= (double)R->p.n;
    store(R, w, acc);
}

/* var: the mean, then the centred sum of squares over max(n - correction, 0);
 * the mean is kept for backward when R->mean is set. */
static void var_item(const reduction *R, item w, bool rows) {
    const double n = (double)R->p.n;
    double mu[JB], ss[JB];
    (rows ? sum_rows : sum_strided)(R, w, mu);
    for (int64_t j = 0; j < w.jn; j++) mu[j] /= n;
    (rows ? sumsq_rows : sumsq_strided)(R, w, mu, ss);
    const double div = n > (double)R->correction ? n - (double)R->correction : 0.0;
    for (int64_t j = 0; j < w.jn; j++) ss[j] /= div;
    store(R, w, ss);
    if (R->mean)
        for (int64_t j = 0; j < w.jn; j++) R->mean[w.out + j] = mu[j];
}

static void forward_item(const reduction *R, int64_t it) {
    const item w = item_at(&R->p, it);
    const bool rows = w.jn == 1 && R->p.step == 1;
    if (R->k == MAX)
        max_item(R, w, rows);
    else if (R->k == VAR)
        var_item(R, w, rows);
    else
        sum_item(R, w, rows);
}

static void fill(ag_tensor *t, double v) {
    AG_DISPATCH(t->dtype, T, {
        T *y = t->data;
        for (int64_t i = 0; i < t->numel; i++) y[i] = (T)v;
    });
}

/* Items [lo, hi) of the reduction ctx (a reduction). */
static void forward_range(const void *ctx, int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi; it++) forward_item(ctx, it);
}

/* Runs the reduction described by R (plan made, out allocated). */
static void forward(reduction *R) {
    const plan *p = &R->p;
    if (R->x->numel == 0) { /* no work, or reduced dims of size 0 (sum 0, mean/var NaN) */
        if (R->out && R->out->numel > 0) fill(R->out, R->k == SUM ? 0.0 : NAN);
        if (R->mean)
            for (int64_t i = 0; i < (R->out ? R->out->numel : 0); i++) R->mean[i] = NAN;
        return;
    }
    const int64_t items = count_items(p);
    ag__parallel_for(items, R->x->numel >= AG_PAR_MIN, forward_range, R);
}

/* ---- backward --------------------------------------------------------------- */

/* sum:  dx = g;  mean: dx = g / n;  var: dx = g * 2 (x - mean) / (n - correction);
 * each element of x receives the gradient of the one output it was reduced into. */
static void backward_item(const reduction *R, const ag_tensor *g, ag_tensor *gx, int64_t it) {
    const plan *p = &R->p;
    const item w = item_at(p, it);
    const int64_t jn = w.jn;
    AG_DISPATCH(gx->dtype, T, {
        T *dx = (T *)gx->data + w.in;
        const T *gy = (const T *)g->data + w.out;
        if (R->k == SUM || R->k == MEAN) {
            const double scale = R->k == MEAN ? 1.0 / (double)p->n : 1.0;
            T gs[JB];
            for (int64_t j = 0; j < jn; j++) gs[j] = (T)(gy[j] * scale);
            if (jn == 1) {
                const T g0 = gs[0];
                for (cursor c = {0}; c.r < p->nruns; cursor_next(p, &c)) {
                    T *row = dx + c.off;
                    for (int64_t k = 0; k < p->run; k++) row[k * p->step] += g0;
                }
            } else {
                EACH_REDUCED(p, c, k, e) {
                    T *row = dx + e;
                    for (int64_t j = 0; j < jn; j++) row[j] += gs[j];
                }
            }
        } else { /* VAR */
            const T *x = (const T *)R->x->data + w.in;
            const double *mu = R->mean + w.out;
            const double f = 2.0 / (double)(p->n - R->correction);
            double gf[JB];
            for (int64_t j = 0; j < jn; j++) gf[j] = gy[j] * f;
            EACH_REDUCED(p, c, k, e) {
                T *row = dx + e;
                const T *xr = x + e;
                for (int64_t j = 0; j < jn; j++) row[j] += (T)(gf[j] * (xr[j] - mu[j]));
            }
        }
    });
}

typedef struct backward_job {
    const reduction *R;
    const ag_tensor *g;
    ag_tensor *gx;
} backward_job;

/* Items [lo, hi) of a backward_job. */
static void backward_range(const void *ctx, int64_t lo, int64_t hi) {
    const backward_job *j = ctx;
    for (int64_t it = lo; it < hi; it++) backward_item(j->R, j->g, j->gx, it);
}

static void mask_of(int64_t bits, int ndim, bool *reduce) {
    for (int d = 0; d < AG_MAX_DIMS; d++) reduce[d] = d < ndim && (bits >> d & 1);
}

static void backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    ag_tensor *gx = ag__grad_buf(x);
    if (!gx || x->numel == 0) return;
    const kind k = (kind)out->iparam[P_KIND];
    if (k == MAX) { /* the whole gradient to the first maximum */
        const int64_t *pos = out->saved;
        AG_DISPATCH(gx->dtype, T, {
            T *dx = gx->data;
            const T *g = out->grad->data;
            for (int64_t i = 0; i < out->numel; i++) dx[pos[i]] += g[i];
        });
        return;
    }
    reduction R = {.k = k, .correction = out->iparam[P_CORRECTION], .x = x, .out = out,
                   .mean = out->saved};
    bool reduce[AG_MAX_DIMS];
    mask_of(out->iparam[P_DIMS], x->ndim, reduce);
    make_plan(&R.p, x->ndim, x->shape, reduce);
    const int64_t items = count_items(&R.p);
    backward_job j = {&R, out->grad, gx};
    ag__parallel_for(items, x->numel >= AG_PAR_MIN, backward_range, &j);
}

/* ---- vjp: the backward written with ops -------------------------------------- */

/* A constant of x's shape and out's dtype: 1 at each output's first maximum
 * (the positions the forward saved), 0 elsewhere. */
static ag_tensor *first_max_mask(const ag_tensor *out, const ag_tensor *x) {
    ag_tensor *m = ag_zeros_(out->arena, out->dtype, x->ndim, x->shape);
    if (!m || x->numel == 0) return m;
    const int64_t *pos = out->saved;
    AG_DISPATCH(m->dtype, T, {
        T *pm = m->data;
        for (int64_t i = 0; i < out->numel; i++) pm[pos[i]] = 1;
    });
    return m;
}

static bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_arena *A = out->arena;
    ag_tensor *x = out->src[0];
    const kind k = (kind)out->iparam[P_KIND];
    int64_t kshape[AG_MAX_DIMS], n = 1;
    int dims[AG_MAX_DIMS], nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        const bool reduced = out->iparam[P_DIMS] >> d & 1;
        kshape[d] = reduced ? 1 : x->shape[d];
        if (reduced) n *= x->shape[d], dims[nd++] = d;
    }
    ag_tensor *gk = ag_reshape_(A, g, x->ndim, kshape);
    switch (k) {
    case SUM: grads[0] = ag_expand_(A, gk, x->ndim, x->shape); break;
    case MEAN:
        grads[0] = ag_expand_(A, ag_mul_scalar_(A, gk, 1.0 / (double)n), x->ndim, x->shape);
        break;
    case MAX: grads[0] = ag_mul_(A, gk, first_max_mask(out, x)); break;
    case VAR: {
        ag_tensor *c = ag_sub_(A, x, ag_mean_(A, x, nd, dims, true));
        const double f = 2.0 / (double)(n - out->iparam[P_CORRECTION]);
        grads[0] = ag_mul_(A, ag_mul_scalar_(A, gk, f), c);
        break;
    }
    }
    return grads[0] != NULL;
}

/* ---- constructors ------------------------------------------------------------ */

/* "dims [0,-1]" or "every dim", for messages. */
static const char *dims_text(int ndims, const int *dims, char *buf, size_t size) {
    if (ndims <= 0 || !dims) {
        snprintf(buf, size, "every dim");
        return buf;
    }
    size_t u = (size_t)snprintf(buf, size, "dims [");
    for (int i = 0; i < ndims && u < size; i++)
        u += (size_t)snprintf(buf + u, size - u, i ? ",%d" : "%d", dims[i]);
    if (u < size) snprintf(buf + u, size - u, "]");
    return buf;
}

static ag_tensor *reduce(kind k, ag_arena *A, ag_tensor *x, int ndims, const int *dims,
                         bool keepdim, int correction) {
    const char *op = OPS[k].name;
    if (!x) return NULL;
    if (!ag__check_float(op, x)) return NULL;
    bool mask[AG_MAX_DIMS];
    if (!ag__dim_mask(op, ndims, dims, x, mask)) return NULL;
    int ondim = 0;
    int64_t oshape[AG_MAX_DIMS], n = 1, bits = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (mask[d]) {
            n *= x->shape[d];
            bits |= (int64_t)1 << d;
            if (keepdim) oshape[ondim++] = 1;
        } else {
            oshape[ondim++] = x->shape[d];
        }
    }
    if (k == MAX && n == 0) {
        char buf[96];
        ag__fail(op, "cannot take the max of %s over %s: the reduced elements are empty and "
                 "max has no identity", ag__shp(x), dims_text(ndims, dims, buf, sizeof buf));
        return NULL;
    }
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *xc = ag__as(A, x, ct);
    ag_tensor *out = xc ? ag__result(op, A, ct, ondim, oshape) : NULL;
    if (!out) return NULL;
    reduction R = {.k = k, .correction = correction, .x = xc, .out = out};
    make_plan(&R.p, x->ndim, x->shape, mask);
    const bool grad = ag__needs_grad(1, &xc);
    if (grad && k == VAR) R.mean = ag_arena_alloc_(A, (size_t)out->numel * sizeof *R.mean);
    if (grad && k == MAX) R.pos = ag_arena_alloc_(A, (size_t)out->numel * sizeof *R.pos);
    if (grad && (k == VAR || k == MAX) && !R.mean && !R.pos) return NULL;
    forward(&R);
    out->iparam[P_KIND] = k;
    out->iparam[P_DIMS] = bits;
    out->iparam[P_CORRECTION] = correction;
    out->saved = k == VAR ? (void *)R.mean : (void *)R.pos;
    if (!ag__record(out, &OPS[k], 1, &xc)) return NULL;
    return ct == x->dtype ? out : ag_cast_(A, out, x->dtype);
}

ag_tensor *ag_sum_(ag_arena *A, ag_tensor *x, int ndims, const int *dims, bool keepdim) {
    return reduce(SUM, A, x, ndims, dims, keepdim, 0);
}

ag_tensor *ag_mean_(ag_arena *A, ag_tensor *x, int ndims, const int *dims, bool keepdim) {
    return reduce(MEAN, A, x, ndims, dims, keepdim, 0);
}

ag_tensor *ag_max_(ag_arena *A, ag_tensor *x, int ndims, const int *dims, bool keepdim) {
    return reduce(MAX, A, x, ndims, dims, keepdim, 0);
}

ag_tensor *ag_var_(ag_arena *A, ag_tensor *x, int ndims, const int *dims, int correction,
                   bool keepdim) {
    return reduce(VAR, A, x, ndims, dims, keepdim, correction);
}

/* The i32 index along dim of the first maximum (NaN counts as the maximum,
 * as in PyTorch). Any dtype; no graph. */
ag_tensor *ag_argmax_(ag_arena *A, ag_tensor *x, int dim, bool keepdim) {
    if (!x || !ag__check_live("argmax", x)) return NULL;
    const int d = ag__dim("argmax", dim, x);
    if (d < 0) return NULL;
    bool mask[AG_MAX_DIMS] = {false};
    int ondim = 0;
    int64_t oshape[AG_MAX_DIMS], size = 1, stride = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (i == d) {
            mask[i] = true, size = x->shape[i];
            if (keepdim) oshape[ondim++] = 1;
        } else {
            oshape[ondim++] = x->shape[i];
        }
        if (i > d) stride *= x->shape[i];
    }
    if (size == 0) {
        ag__fail("argmax", "cannot take the argmax of %s along dim %d: it has size 0",
                 ag__shp(x), dim);
        return NULL;
    }
    ag_tensor *out = ag__result("argmax", A, AG_I32, ondim, oshape);
    if (!out) return NULL;
    if (out->numel == 0) return out;
    ag_tensor *xc = x;
    if (x->dtype != AG_F32 && x->dtype != AG_F64) { /* bf16, i32: exact in f64 */
        const bool was = ag_set_grad_enabled(false);
        xc = ag_cast_(A, x, AG_F64);
        ag_set_grad_enabled(was);
        if (!xc) return NULL;
    }
    int64_t *pos = malloc((size_t)out->numel * sizeof *pos);
    if (!pos) {
        ag__fail("argmax", "out of memory for %s", ag__shp(x));
        return NULL;
    }
    reduction R = {.k = MAX, .x = xc, .pos = pos};
    make_plan(&R.p, x->ndim, x->shape, mask);
    forward(&R);
    int32_t *idx = out->data;
    for (int64_t i = 0; i < out->numel; i++) idx[i] = (int32_t)(pos[i] / stride % size);
    free(pos);
    return out;
}
