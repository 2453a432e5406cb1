/* nn/norm_ops.c — the fused RMSNorm and LayerNorm ops: checks, what
 * forward saves for backward, and how the rows are split and run. The row
 * loops are in nn/norm_loops_t.h (portable C, f32 and f64) and
 * nn/norm_simd.c (AVX2, f32), both running an ag__norm_job
 * (nn/norm_job.h); the scratch rows of backward are placed by
 * nn/norm_scratch.c; the readable references (RMSNorm composed from core
 * ops, a plain LayerNorm in double) are in nn/norm_ref.c; the ops' vjp and
 * double backward (second derivatives) are in nn/norm_double.c.
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
 * LayerNorm      mean = mean(x),  var = mean((x - mean)^2)   (biased)
 *                r = 1/sqrt(var + eps),  xh = (x - mean) * r,  y = xh * w + b
 *   backward     g = dy * w
 *                dx = r * (g - mean(g) - xh * mean(g*xh))
 *                dw = sum over rows of dy * xh,  db = sum over rows of dy
 *
 * Numerics. Row reductions (sums of squares, means, the dot products of
 * backward) accumulate in double whatever the dtype, in 16 lanes (element j
 * in lane j % 16) added in a fixed order (lanes_sum): the loop
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
 * square in f64, as PyTorch does (overflow above ~1e154). LayerNorm's
 * variance: an f32 row's comes in one pass, E[x^2] - mean^2 with both sums
 * in double (exact squares; the cancellation costs about (mean/std)^2 *
 * 2^-53, far below f32's rounding); an f64 row's in two passes, centred
 * (sum of (x - mean)^2, the second pass from cache).
 *
 * What is saved: an ag__norm_saved (nn/norm_job.h) in the result's arena,
 * only when a gradient will be needed: D, the flags, which of weight and
 * bias are present, and per row r (RMSNorm) or mean and r (LayerNorm), as
 * double (8 or 16 bytes per row); backward recomputes xh from x. RMSNorm's
 * forward writes y in the compute type (x * (T)r * w). LayerNorm forms xh = ((x - mh) - ml) * r in
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
#include <string.h>

#include "internal.h"

#include "ag/norm_ops.h"
#include "nn_internal.h"
#include "norm_job.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- checks -------------------------------------------------------------------- */

bool ag__norm_eps_ok(const char *op, const char *what, int ndim, const int64_t *shape,
                     double eps) {
    if (isfinite(eps)) return true;
    ag__fail(op, "eps is %g for %s %s: expected a finite number", eps, what,
             ag__shp_of(ndim, shape));
    return false;
}

bool ag__norm_check(const char *op, const ag_tensor *x, int nshape, const int64_t *ns,
                    const ag_tensor *weight, const ag_tensor *bias, double eps,
                    ag__norm_dims *dims) {
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
    if (!ag__norm_eps_ok(op, "input", x->ndim, x->shape, eps)) return false;
    dims->D = ag__numel(nshape, ns);
    dims->rows = ag__numel(lead, x->shape);
    return true;
}

/* ---- how the rows are run ---------------------------------------------------
 * Rows are split into a fixed static partition of nchunks contiguous ranges
 * (one per OpenMP thread, omp_get_max_threads(); 1 without OpenMP or below
 * AG_PAR_MIN elements; never more chunks than rows). Chunk c owns rows
 * [rows*c/n, rows*(c+1)/n) (ag__norm_chunk) and, in backward, its own
 * partial sums of the parameter gradients.
 *
 * Inside a chunk the rows are pipelined a tile (AG__NORM_TILE elements) at
 * a time: while row i's output tile [j0, j1) is computed from row i
 * (already in cache) and written, the same tile of row i+1 is read from
 * memory into its reduction. Reads of new data and writes of results then
 * overlap, so the pass runs at the speed of a copy; a row is reduced once,
 * in the tiles of the row before it.
 *
 * A job for rows x D elements of dtype dt whose output is overwritten (not
 * accumulated into) when overwrite; simd: the AVX2 loops may run. */
ag__norm_job ag__norm_job_for(ag_dtype dt, int64_t rows, int64_t D, bool overwrite, bool simd) {
    int n = 1;
#ifdef _OPENMP
    if (rows * D >= AG_PAR_MIN) n = omp_get_max_threads();
#endif
    if (n > rows) n = (int)rows;
    return (ag__norm_job){
        .dt = dt,
        .rows = rows,
        .D = D,
        .nchunks = n < 1 ? 1 : n,
        .stream = overwrite && (size_t)(rows * D) * ag_dtype_size(dt) >= AG_STREAM_MIN,
        .simd = simd,
    };
}

double *ag__norm_partials(const char *op, bool want, const ag__norm_job *job, bool *ok) {
    if (!want || !*ok) return NULL;
    double *p = calloc((size_t)job->nchunks * (size_t)job->D, sizeof *p);
    if (!p) {
        ag__fail(op, "out of memory for %d x %lld partial sums of a parameter gradient",
                 job->nchunks, (long long)job->D);
        *ok = false;
    }
    return p;
}

void ag__norm_add_partials(double *part, int nchunks, int64_t D, ag_tensor *grad) {
    for (int c = 1; c < nchunks; c++) {
        const double *restrict pc = part + (int64_t)c * D;
        for (int64_t j = 0; j < D; j++) part[j] += pc[j];
    }
    AG_DISPATCH(grad->dtype, T, {
        T *g = grad->data;
        for (int64_t j = 0; j < D; j++) g[j] += (T)part[j];
    });
}

/* ---- forward and backward ------------------------------------------------------ */

/* A copy of *head, followed by room for nstats per-row statistics, in A
 * (NULL when out of memory: the arena has reported). */
static ag__norm_saved *saved_new(ag_arena *A, const ag__norm_saved *head, int64_t nstats) {
    ag__norm_saved *s = ag_arena_alloc_(A, sizeof *s + (size_t)nstats * sizeof(double));
    if (s) memcpy(s, head, sizeof *head);
    return s;
}

/* src = x, then the weight when has_weight, then the bias when has_bias.
 * Runs both norms' backward: dx, dw and db in one pass over the rows. */
static void norm_backward(ag_tensor *out, bool layer) {
    const char *op = layer ? "layer_norm" : "rms_norm";
    ag__norm_saved *sv = out->saved;
    ag_tensor *x = out->src[0];
    ag_tensor *w = sv->has_weight ? out->src[1] : NULL;
    ag_tensor *b = sv->has_bias ? out->src[sv->has_weight ? 2 : 1] : NULL;
    const bool want_x = x->requires_grad, want_w = w && w->requires_grad;
    const bool want_b = b && b->requires_grad;
    if (out->numel == 0) { /* no rows: zero gradients */
        ag__grad_buf(x), ag__grad_buf(w), ag__grad_buf(b);
        return;
    }
    if (!want_x && !want_w && !want_b) return;
    /* dx is overwritten when x has no gradient yet: see ag__grad_buf_raw */
    const bool add = want_x && x->grad != NULL;
    ag__norm_job job = ag__norm_job_for(out->dtype, out->numel / sv->D, sv->D, want_x && !add, sv->simd);
    job.add = add;
    job.flags = sv->flags;
    job.x = x->data, job.dy = out->grad->data, job.w = w ? w->data : NULL;
    job.stats = sv->stats; /* read only */
    bool ok = true;
    job.wpart = ag__norm_partials(op, want_w, &job, &ok);
    job.bpart = ag__norm_partials(op, want_b, &job, &ok);
    /* per chunk: the block sums of dw (and db), and LayerNorm's xh of the
     * current and the next row */
    const int nscratch = layer ? AG__SCRATCH_MAX : want_w ? AG__SCRATCH_DW + 1 : 0;
    ok = ok && (nscratch == 0 || ag__norm_scratch_alloc(&job, op, nscratch));
    ag_tensor *gw = ok && want_w ? ag__grad_buf(w) : NULL;
    ag_tensor *gb = ok && want_b ? ag__grad_buf(b) : NULL;
    ok = ok && (gw || !want_w) && (gb || !want_b);
    /* gx last: once a fresh (uninitialised) gx exists, the kernel must run */
    ag_tensor *gx = ok ? ag__grad_buf_raw(x) : NULL;
    ok = ok && (gx || !want_x);
    job.dx = gx ? gx->data : NULL;
    if (ok && !(layer ? ag__ln_backward_simd(&job) : ag__rms_backward_simd(&job)))
        (layer ? ag__ln_backward : ag__rms_backward)(&job);
    if (ok && job.wpart) ag__norm_add_partials(job.wpart, job.nchunks, job.D, gw);
    if (ok && job.bpart) ag__norm_add_partials(job.bpart, job.nchunks, job.D, gb);
    free(job.wpart);
    free(job.bpart);
    free(job.scratch.base);
}

bool ag__norm_dx(const ag_tensor *out, const ag_tensor *dy, ag_tensor *dx, bool layer) {
    const ag__norm_saved *sv = out->saved;
    if (out->numel == 0) return true;
    ag__norm_job job = ag__norm_job_for(out->dtype, out->numel / sv->D, sv->D, true, sv->simd);
    job.flags = sv->flags;
    job.x = out->src[0]->data, job.dy = dy->data;
    job.w = sv->has_weight ? out->src[1]->data : NULL;
    job.stats = (double *)sv->stats; /* read only */
    job.dx = dx->data;
    /* LayerNorm's portable loop keeps xh of two rows in scratch rows */
    if (layer && !ag__norm_scratch_alloc(&job, "layer_norm",
                                         AG__SCRATCH_MAX))
        return false;
    if (!(layer ? ag__ln_backward_simd(&job) : ag__rms_backward_simd(&job)))
        (layer ? ag__ln_backward : ag__rms_backward)(&job);
    free(job.scratch.base);
    return true;
}

/* ---- RMSNorm ---------------------------------------------------------------- */

static void rms_backward(ag_tensor *out) {
    norm_backward(out, false);
}

static const ag_op RMS_NORM = {"rms_norm", rms_backward, ag__rms_norm_vjp};

ag_tensor *ag__rms_norm_run(ag_arena *A, ag_tensor *x, int nshape,
                            const int64_t *normalized_shape, ag_tensor *weight, double eps,
                            unsigned flags, bool simd) {
    const char *op = "rms_norm";
    if (!x) return NULL;
    ag__norm_dims d;
    if (!ag__norm_check(op, x, nshape, normalized_shape, weight, NULL, eps, &d)) return NULL;
    const unsigned known = AG_RMS_SQRT_DIV | AG_RMS_UNIT_OFFSET;
    if (flags & ~known) {
        ag__fail(op, "unknown flags 0x%x for input %s (known: AG_RMS_SQRT_DIV, "
                     "AG_RMS_UNIT_OFFSET)", flags & ~known, ag__shp(x));
        return NULL;
    }
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *xc = ag__as(A, x, ct), *w = ag__as(A, weight, ct);
    if (!xc || (weight && !w)) return NULL;
    ag_tensor *y = ag__result(op, A, ct, xc->ndim, xc->shape);
    if (!y) return NULL;
    ag_tensor *srcs[2] = {xc, w};
    const int nsrc = w ? 2 : 1;
    ag__norm_saved *sv = NULL;
    if (ag__needs_grad(nsrc, srcs)) {
        const ag__norm_saved head = {.D = d.D, .eps = eps, .flags = flags,
                                     .has_weight = w != NULL, .simd = simd};
        sv = saved_new(A, &head, y->numel > 0 ? d.rows : 0);
        if (!sv) return NULL;
    }
    if (y->numel > 0) {
        ag__norm_job job = ag__norm_job_for(ct, d.rows, d.D, true, simd);
        job.flags = flags, job.eps = eps;
        job.x = xc->data, job.w = w ? w->data : NULL, job.y = y->data;
        job.stats = sv ? sv->stats : NULL;
        if (!ag__rms_forward_simd(&job)) ag__rms_forward(&job);
    }
    y->saved = sv;
    if (!ag__record(y, &RMS_NORM, nsrc, srcs)) return NULL;
    return ag__as(A, y, x->dtype);
}

ag_tensor *ag_rms_norm_(ag_arena *A, ag_tensor *x, int nshape, const int64_t *normalized_shape,
                        ag_tensor *weight, double eps, unsigned flags) {
    return ag__rms_norm_run(A, x, nshape, normalized_shape, weight, eps, flags, true);
}

/* ---- LayerNorm -------------------------------------------------------------- */

static void ln_backward(ag_tensor *out) {
    norm_backward(out, true);
}

static const ag_op LAYER_NORM = {"layer_norm", ln_backward, ag__layer_norm_vjp};

ag_tensor *ag__layer_norm_run(ag_arena *A, ag_tensor *x, int nshape,
                              const int64_t *normalized_shape, ag_tensor *weight,
                              ag_tensor *bias, double eps, bool simd) {
    const char *op = "layer_norm";
    if (!x) return NULL;
    ag__norm_dims d;
    if (!ag__norm_check(op, x, nshape, normalized_shape, weight, bias, eps, &d)) return NULL;
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *xc = ag__as(A, x, ct), *w = ag__as(A, weight, ct), *b = ag__as(A, bias, ct);
    if (!xc || (weight && !w) || (bias && !b)) return NULL;
    ag_tensor *y = ag__result(op, A, ct, xc->ndim, xc->shape);
    if (!y) return NULL;
    ag_tensor *srcs[3] = {xc};
    int nsrc = 1;
    if (w) srcs[nsrc++] = w;
    if (b) srcs[nsrc++] = b;
    ag__norm_saved *sv = NULL;
    if (ag__needs_grad(nsrc, srcs)) {
        const ag__norm_saved head = {.D = d.D, .eps = eps, .has_weight = w != NULL,
                                     .has_bias = b != NULL, .simd = simd};
        sv = saved_new(A, &head, y->numel > 0 ? 2 * d.rows : 0);
        if (!sv) return NULL;
    }
    if (y->numel > 0) {
        ag__norm_job job = ag__norm_job_for(ct, d.rows, d.D, true, simd);
        job.eps = eps;
        job.x = xc->data, job.w = w ? w->data : NULL, job.b = b ? b->data : NULL;
        job.y = y->data;
        job.stats = sv ? sv->stats : NULL;
        if (!ag__ln_forward_simd(&job)) ag__ln_forward(&job);
    }
    y->saved = sv;
    if (!ag__record(y, &LAYER_NORM, nsrc, srcs)) return NULL;
    return ag__as(A, y, x->dtype);
}

ag_tensor *ag_layer_norm_(ag_arena *A, ag_tensor *x, int nshape,
                          const int64_t *normalized_shape, ag_tensor *weight, ag_tensor *bias,
                          double eps) {
    return ag__layer_norm_run(A, x, nshape, normalized_shape, weight, bias, eps, true);
}
