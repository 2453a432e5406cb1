/* nn/norm_double.c — the fused norms differentiated twice: their vjp (the
 * first backward written as recorded ops) and the fused double backward.
 * docs/normalization.md ("Second derivatives: the double backward") derives
 * every formula below step by step.
 *
 * The vjp of y = norm(x, w, b) for a gradient dy (that may itself be
 * recorded) returns
 *
 *   dx = norm_backward(x, w, dy)   a new op, "rms_norm_backward" or
 *                                  "layer_norm_backward": its forward is the
 *                                  first backward's row loops (nn/norm_ops.c,
 *                                  ag__norm_dx), its kernel backward the
 *                                  fused double backward below;
 *   dw = dy * xh                   recorded ops: xh is the norm of x without
 *                                  weight (a recorded ag_rms_norm or
 *                                  ag_layer_norm), and the engine sums the
 *                                  product over the rows down to w's shape;
 *   db = dy                        summed over the rows by the engine.
 *
 * The double backward. Per row, with u the gradient arriving at dx, r and
 * the mean (LayerNorm; 0 for RMSNorm) from the forward, xh = (x - mean) r,
 * w_eff the weight as it multiplies (w, 1 + w, or 1) and g = dy w_eff, the
 * row means
 *
 *   m = mean(g xh),  a = mean(u xh),  c = mean(u g),
 *   ub = mean(u), gb = mean(g)     (LayerNorm; 0 for RMSNorm)
 *
 * give, for L = sum(u dx):
 *
 *   dL/dg  = gg = r (u - ub - a xh)         (the first backward applied to u)
 *   dL/ddy = gg w_eff,  dL/dw = sum over rows of gg dy
 *   dL/dx  = -r^2 (a (g - gb) + m (u - ub) + (c - gb ub - 3 m a) xh)
 *
 * two passes over the row (five sums, then the outputs), in double whatever
 * the dtype. RMSNorm is LayerNorm without the centring: ub = gb = 0 and
 * mean = 0. The rows run in the same static chunks as the first backward,
 * dw through per-chunk partial sums added in chunk order, so the results do
 * not depend on the thread schedule.
 *
 * The *_backward ops have no vjp: a third derivative through them fails with
 * the engine's message naming the op. */
#include <stdlib.h>

#include "internal.h"

#include "ag/norm_ops.h"
#include "nn_internal.h"
#include "norm_job.h"

static void double_backward(ag_tensor *z);

static const ag_op RMS_NORM_BACKWARD = {"rms_norm_backward", double_backward, NULL};
static const ag_op LAYER_NORM_BACKWARD = {"layer_norm_backward", double_backward, NULL};

/* ---- the double backward ------------------------------------------------------ */

/* What a *_backward op z reads: its norm op's result (z->saved) and what
 * that saved, its sources, and the gradient u arriving at z. */
typedef struct {
    const ag__norm_saved *sv;
    bool layer, offset; /* LayerNorm; RMSNorm's weight as 1 + w */
    int64_t rows, D;
    const ag_tensor *x, *w, *dy, *u; /* w NULL: none */
    ag_tensor *gx, *gw, *gdy;        /* gradient buffers, NULL: not wanted */
    double *wpart;                   /* [nchunks, D] dw's partial sums, or NULL */
} second;

/* Element k of row data p (f32 when f32, else f64) as a double, and
 * adding v to it: the loops below read and write both dtypes through these
 * (the test is the same for a whole row, so the compiler hoists it). */
static inline double ld(const void *p, bool f32, int64_t k) {
    return f32 ? (double)((const float *)p)[k] : ((const double *)p)[k];
}
static inline void add_to(void *p, bool f32, int64_t k, double v) {
    if (f32) ((float *)p)[k] += (float)v;
    else ((double *)p)[k] += v;
}

/* The weight as it multiplies at column k: w, 1 + w (offset), or 1. */
static inline double weff(const second *s, bool f32, int64_t k) {
    if (!s->w) return 1;
    const double w = ld(s->w->data, f32, k);
    return s->offset ? 1 + w : w;
}

/* Row i: gx, gdy (those wanted) and dw (the chunk's partial sums, NULL when
 * not wanted) get the gradients of L = sum(u dx), in double. */
static void double_row(const second *s, int64_t i, double *dw) {
    const int64_t D = s->D;
    const bool f32 = s->x->dtype == AG_F32;
    const size_t off = (size_t)(i * D) * (f32 ? sizeof(float) : sizeof(double));
    const void *x = (const char *)s->x->data + off, *dy = (const char *)s->dy->data + off;
    const void *u = (const char *)s->u->data + off;
    void *gx = s->gx ? (char *)s->gx->data + off : NULL;
    void *gdy = s->gdy ? (char *)s->gdy->data + off : NULL;
    const double mean = s->layer ? s->sv->stats[2 * i] : 0;
    const double r = s->layer ? s->sv->stats[2 * i + 1] : s->sv->stats[i];
    /* pass 1: the five row sums */
    double su = 0, sg = 0, sgx = 0, sux = 0, sug = 0;
    for (int64_t k = 0; k < D; k++) {
        const double xh = (ld(x, f32, k) - mean) * r, uk = ld(u, f32, k);
        const double g = ld(dy, f32, k) * weff(s, f32, k);
        su += uk, sg += g, sgx += g * xh, sux += uk * xh, sug += uk * g;
    }
    const double n = (double)D, m = sgx / n, a = sux / n, c = sug / n;
    const double ub = s->layer ? su / n : 0, gb = s->layer ? sg / n : 0;
    const double k3 = c - gb * ub - 3 * m * a;
    /* pass 2: the gradients */
    for (int64_t k = 0; k < D; k++) {
        const double xh = (ld(x, f32, k) - mean) * r, uk = ld(u, f32, k);
        const double we = weff(s, f32, k), dyk = ld(dy, f32, k), g = dyk * we;
        const double gg = r * (uk - ub - a * xh); /* dL/dg */
        if (gdy) add_to(gdy, f32, k, gg * we);
        if (dw) dw[k] += gg * dyk;
        if (gx) add_to(gx, f32, k, -r * r * (a * (g - gb) + m * (uk - ub) + k3 * xh));
    }
}

typedef struct second_job {
    const second *s;
    const ag__norm_job *job;
} second_job;

/* Chunks [lo, hi) of the rows, each into its own partial sum of dw. */
static void double_chunks(const void *ctx, int64_t lo, int64_t hi) {
    const second_job *j = ctx;
    for (int c = (int)lo; c < hi; c++) {
        const ag__norm_rows rr = ag__norm_chunk(j->job, c);
        double *dw = ag__norm_part(j->s->wpart, c, j->s->D);
        for (int64_t i = rr.i0; i < rr.i1; i++) double_row(j->s, i, dw);
    }
}

static void double_backward(ag_tensor *z) {
    const ag_tensor *out = z->saved;
    const ag__norm_saved *sv = out->saved;
    second s = {.sv = sv, .layer = z->op == &LAYER_NORM_BACKWARD,
                .offset = sv->flags & AG_RMS_UNIT_OFFSET, .D = sv->D,
                .x = z->src[0], .w = sv->has_weight ? z->src[1] : NULL,
                .dy = z->src[sv->has_weight ? 2 : 1], .u = z->grad};
    s.gx = ag__grad_buf(z->src[0]);
    s.gw = sv->has_weight ? ag__grad_buf(z->src[1]) : NULL;
    s.gdy = ag__grad_buf(z->src[sv->has_weight ? 2 : 1]);
    s.rows = z->numel == 0 ? 0 : z->numel / s.D;
    if (s.rows == 0 || (!s.gx && !s.gw && !s.gdy)) return;
    const ag__norm_job job = ag__norm_job_for(z->dtype, s.rows, s.D, false, false);
    bool ok = true;
    s.wpart = ag__norm_partials(z->op->name, s.gw != NULL, &job, &ok);
    if (!ok) return;
    ag__parallel_for(job.nchunks, job.nchunks > 1, double_chunks,
                     &(second_job){.s = &s, .job = &job});
    if (s.wpart) ag__norm_add_partials(s.wpart, job.nchunks, s.D, s.gw);
    free(s.wpart);
}

/* ---- the vjp ---------------------------------------------------------------------- */

/* dx as the recorded op z = norm_backward(x, w, g) (the weight only when
 * present); z->saved is out, whose saved rows z's backward reads. */
static ag_tensor *dx_op(ag_tensor *out, ag_tensor *g, bool layer) {
    const ag__norm_saved *sv = out->saved;
    const ag_op *op = layer ? &LAYER_NORM_BACKWARD : &RMS_NORM_BACKWARD;
    ag_tensor *z = ag__result(op->name, out->arena, out->dtype, out->ndim, out->shape);
    if (!z || !ag__norm_dx(out, g, z, layer)) return NULL;
    z->saved = out;
    ag_tensor *srcs[3] = {out->src[0]};
    int n = 1;
    if (sv->has_weight) srcs[n++] = out->src[1];
    srcs[n++] = g;
    return ag__record(z, op, n, srcs);
}

/* xh, out's input normalized again without weight or bias (recorded, so dw
 * = dy * xh is differentiable in x). The normalized shape is taken as the
 * fewest trailing dims of x holding D elements: any split of the same
 * elements normalizes the same rows. */
static ag_tensor *normalized(ag_tensor *out, bool layer) {
    const ag__norm_saved *sv = out->saved;
    ag_tensor *x = out->src[0];
    int k = 1;
    for (int64_t p = x->shape[x->ndim - 1]; p != sv->D && k < x->ndim; k++)
        p *= x->shape[x->ndim - 1 - k];
    const int64_t *ns = x->shape + x->ndim - k;
    return layer ? ag__layer_norm_run(out->arena, x, k, ns, NULL, NULL, sv->eps, sv->simd)
                 : ag__rms_norm_run(out->arena, x, k, ns, NULL, sv->eps,
                                    sv->flags & AG_RMS_SQRT_DIV, sv->simd);
}

/* src = x, then the weight when present, then the bias (LayerNorm) when
 * present; sources that take no gradient get none. */
static bool norm_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads, bool layer) {
    const ag__norm_saved *sv = out->saved;
    ag_tensor *x = out->src[0];
    ag_tensor *w = sv->has_weight ? out->src[1] : NULL;
    const int bi = sv->has_weight ? 2 : 1;
    ag_tensor *b = sv->has_bias ? out->src[bi] : NULL;
    if (x->requires_grad && !(grads[0] = dx_op(out, g, layer))) return false;
    if (w && w->requires_grad) {
        ag_tensor *xh = normalized(out, layer);
        if (!xh || !(grads[1] = ag_mul_(out->arena, g, xh))) return false;
    }
    if (b && b->requires_grad) grads[bi] = g;
    return true;
}

bool ag__rms_norm_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    return norm_vjp(out, g, grads, false);
}

bool ag__layer_norm_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    return norm_vjp(out, g, grads, true);
}
