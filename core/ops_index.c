/* core/ops_index.c — index_select, embedding, gather (picking entries by i32
 * ids), masked_fill and where (choosing entries by a mask).
 *
 * The picking ops move data only, so their forward kernels move elements by
 * size and serve any dtype; their backwards scatter-add the gradient into the
 * positions that were read, so an id used twice receives the sum. As in
 * ops_shape.c, a bf16 input that needs a gradient is cast (exactly) to f32
 * first and the result is cast back, so backward kernels see f32 or f64.
 *
 * Ids are validated before anything is computed: an id out of range is
 * reported with its position and value. The id tensor is kept as a second
 * source of the node (it never requires a gradient, so the engine skips it).
 *
 * The recorded backwards (vjps, for second derivatives): index_select and
 * embedding add g's rows into zeros at the ids (the op index_select_backward,
 * whose own gradient is index_select), gather scatter-adds g (the op
 * gather_backward, whose gradient is gather), and masked_fill and where
 * choose between g and 0 with the saved mask (masked_fill and where again).
 */
#include <string.h>

#include "internal.h"

/* Reports the first id outside 0..n-1; what names the tensor ("index", "ids"),
 * and the message names the range as "dim <dim> of <of><t's shape>", or
 * "<of><t's shape>" when dim < 0. The text is built only on failure. */
static bool ids_in_range(const char *op, const char *what, const ag_tensor *ids, int64_t n,
                         const char *of, int dim, const ag_tensor *t) {
    const int32_t *v = ids->data;
    for (int64_t i = 0; i < ids->numel; i++) {
        if (v[i] < 0 || v[i] >= n) {
            char range[128];
            if (dim >= 0)
                snprintf(range, sizeof range, "dim %d of %s%s", dim, of, ag__shp(t));
            else
                snprintf(range, sizeof range, "%s%s", of, ag__shp(t));
            ag__fail(op, "%s %s holds %d at position %lld: out of range for %s (expected "
                     "0..%lld)", what, ag__shp(ids), (int)v[i], (long long)i, range,
                     (long long)n - 1);
            return false;
        }
    }
    return true;
}

/* ---- index_select --------------------------------------------------------- */

/* The rows of an index_select along dim: big viewed as [outer, n, inner],
 * small as [outer, k, inner] with k = index->numel; small's row (o, i) pairs
 * with big's row (o, index[i]). Kept in iparam as dim, outer, n, inner. */
typedef struct {
    int dim;
    int64_t outer, n, inner;
    ag_tensor *index;
} index_rows;

static index_rows rows_of(const ag_tensor *t, ag_tensor *index) {
    return (index_rows){(int)t->iparam[0], t->iparam[1], t->iparam[2], t->iparam[3], index};
}

static void set_rows(ag_tensor *t, const index_rows *r) {
    t->iparam[0] = r->dim;
    t->iparam[1] = r->outer;
    t->iparam[2] = r->n;
    t->iparam[3] = r->inner;
}

/* The rows one of the kernels below adds: r's layout, from src into dst. */
typedef struct rows_job {
    const index_rows *r;
    ag_dtype dt;
    void *dst;
    const void *src;
} rows_job;

/* index_add over outer indices [lo, hi). */
static void index_add_range(const void *ctx, int64_t lo, int64_t hi) {
    const rows_job *j = ctx;
    const int64_t n = j->r->n, inner = j->r->inner, k = j->r->index->numel;
    const int32_t *idx = j->r->index->data;
    AG_DISPATCH(j->dt, T, {
        const T *g = j->src; /* small */
        T *px = j->dst;      /* big */
        for (int64_t o = lo; o < hi; o++)
            for (int64_t i = 0; i < k; i++) {
                T *dst = px + (o * n + idx[i]) * inner;
                const T *src = g + (o * k + i) * inner;
                for (int64_t c = 0; c < inner; c++) dst[c] += src[c];
            }
    });
}

/* index_take_add over small rows [lo, hi). */
static void index_take_add_range(const void *ctx, int64_t lo, int64_t hi) {
    const rows_job *j = ctx;
    const int64_t n = j->r->n, inner = j->r->inner, k = j->r->index->numel;
    const int32_t *idx = j->r->index->data;
    AG_DISPATCH(j->dt, T, {
        const T *px = j->src; /* big */
        T *g = j->dst;        /* small */
        for (int64_t q = lo; q < hi; q++) {
            const T *src = px + (q / k * n + idx[q % k]) * inner;
            T *dst = g + q * inner;
            for (int64_t c = 0; c < inner; c++) dst[c] += src[c];
        }
    });
}

/* big[o, index[i], :] += small[o, i, :] (index_select's gradient); f32/f64. */
static void index_add(const index_rows *r, ag_dtype dt, void *big, const void *small) {
    const int64_t outer = r->outer, inner = r->inner, k = r->index->numel;
    rows_job j = {r, dt, big, small};
    /* rows of different o never collide; repeated ids within one o do */
    ag__parallel_for(outer, outer > 1 && outer * k * inner >= AG_PAR_MIN, index_add_range, &j);
}

/* small[o, i, :] += big[o, index[i], :] (index_add's gradient); f32/f64. */
static void index_take_add(const index_rows *r, ag_dtype dt, const void *big, void *small) {
    const int64_t rows = r->outer * r->index->numel;
    rows_job j = {r, dt, small, big};
    ag__parallel_for(rows, rows * r->inner >= AG_PAR_MIN, index_take_add_range, &j);
}

/* out[o, i, :] = x[o, index[i], :] with x viewed as [outer, n, inner]. */
static void index_select_backward(ag_tensor *out) {
    ag_tensor *x = out->src[0];
    ag_tensor *gx = ag__grad_buf(x);
    if (!gx) return;
    const index_rows r = rows_of(out, out->src[1]);
    index_add(&r, x->dtype, gx->data, out->grad->data);
}

/* index_select_backward: index_select's gradient as an op, so that it can be
 * differentiated again. z has the selected-from tensor's shape: zeros, plus
 * each row of g added at its id (sources g and index; iparam as
 * index_select's). Its own gradient selects those rows again. */
static void index_add_backward(ag_tensor *z) {
    ag_tensor *g = z->src[0];
    ag_tensor *gg = ag__grad_buf(g);
    if (!gg) return;
    const index_rows r = rows_of(z, z->src[1]);
    index_take_add(&r, gg->dtype, z->grad->data, gg->data);
}

static bool index_add_vjp(ag_tensor *z, ag_tensor *g, ag_tensor **grads) {
    grads[0] = ag_index_select_(z->arena, g, (int)z->iparam[0], z->src[1]);
    return grads[0] != NULL;
}

static const ag_op INDEX_SELECT_BACKWARD = {"index_select_backward", index_add_backward,
                                            index_add_vjp};

/* A tensor of dtype dt and like's shape holding zeros (op names it in a
 * report). */
static ag_tensor *zeros_like(const char *op, ag_arena *A, ag_dtype dt, const ag_tensor *like) {
    ag_tensor *z = ag__result(op, A, dt, like->ndim, like->shape);
    if (z && z->numel > 0) memset(z->data, 0, (size_t)z->numel * ag_dtype_size(dt));
    return z;
}

/* index_select_backward(g): like's shape, g's rows added in along r. */
static ag_tensor *index_add_op(ag_arena *A, ag_tensor *g, const index_rows *r,
                               const ag_tensor *like) {
    ag_tensor *gc = ag__compute_form(A, g);
    ag_tensor *z = gc ? zeros_like("index_select_backward", A, gc->dtype, like) : NULL;
    if (!z) return NULL;
    set_rows(z, r);
    index_add(r, z->dtype, z->data, gc->data);
    return ag__record(z, &INDEX_SELECT_BACKWARD, 2, (ag_tensor *[]){gc, r->index});
}

static bool index_select_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    const index_rows r = rows_of(out, out->src[1]);
    grads[0] = index_add_op(out->arena, g, &r, out->src[0]);
    return grads[0] != NULL;
}

static const ag_op INDEX_SELECT = {"index_select", index_select_backward, index_select_vjp};

/* index_select's forward over result rows [lo, hi): dst row (o, i) = src
 * row (o, index[i]); moves elements by size, so any dtype. */
static void select_range(const void *ctx, int64_t lo, int64_t hi) {
    const rows_job *j = ctx;
    const int64_t n = j->r->n, inner = j->r->inner, k = j->r->index->numel;
    const int32_t *idx = j->r->index->data;
    AG_BY_SIZE(ag_dtype_size(j->dt), U, {
        const U *px = j->src;
        U *po = j->dst;
        for (int64_t q = lo; q < hi; q++) {
            const U *src = px + (q / k * n + idx[q % k]) * inner;
            U *dst = po + q * inner;
            for (int64_t c = 0; c < inner; c++) dst[c] = src[c];
        }
    });
}

/* A 0-d x takes a one-element index and gives a 0-d result, as PyTorch. */
ag_tensor *ag_index_select_(ag_arena *A, ag_tensor *x, int dim, ag_tensor *index) {
    if (!x || !index) return NULL;
    if (!ag__check_dtype("index_select", "index", index, AG_I32)) return NULL;
    if (index->ndim > 1) {
        ag__fail("index_select", "index %s must be 1-d (selecting from %s)", ag__shp(index),
                 ag__shp(x));
        return NULL;
    }
    const int d = ag__dim("index_select", dim, x);
    if (d < 0) return NULL;
    if (x->ndim == 0 && index->numel != 1) {
        ag__fail("index_select", "index %s of a 0-d x %s must hold exactly one id",
                 ag__shp(index), ag__shp(x));
        return NULL;
    }
    const int64_t n = x->ndim ? x->shape[d] : 1, k = index->numel;
    if (!ids_in_range("index_select", "index", index, n, "", d, x)) return NULL;
    ag_tensor *xc = ag__compute_form(A, x);
    if (!xc) return NULL;
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = i == d ? k : x->shape[i];
    ag_tensor *out = ag__result("index_select", A, xc->dtype, x->ndim, shape);
    if (!out) return NULL;
    const int64_t outer = ag__numel(d, x->shape);
    const int64_t inner = x->ndim ? ag__numel(x->ndim - d - 1, x->shape + d + 1) : 1;
    const index_rows r = {d, outer, n, inner, index};
    rows_job j = {&r, xc->dtype, out->data, xc->data};
    ag__parallel_for(outer * k, outer * k * inner >= AG_PAR_MIN, select_range, &j);
    set_rows(out, &r);
    if (!ag__record(out, &INDEX_SELECT, 2, (ag_tensor *[]){xc, index})) return NULL;
    return ag__as(A, out, x->dtype);
}

/* ---- embedding -------------------------------------------------------------- */

/* out[i, :] = weight[ids[i], :] over the flattened ids; backward adds each
 * row of the gradient into the row of weight it came from. */
static void embedding_backward(ag_tensor *out) {
    ag_tensor *w = out->src[0], *ids = out->src[1];
    ag_tensor *gw = ag__grad_buf(w);
    if (!gw) return;
    const int64_t D = w->shape[1], n = ids->numel;
    const int32_t *id = ids->data;
    AG_DISPATCH(w->dtype, T, {
        const T *g = out->grad->data;
        T *pw = gw->data;
        for (int64_t i = 0; i < n; i++) {
            T *dst = pw + (int64_t)id[i] * D;
            const T *src = g + i * D;
            for (int64_t j = 0; j < D; j++) dst[j] += src[j];
        }
    });
}

/* The recorded form: the ids flattened to [n] and g to [n, D] make an
 * index_select of weight's rows, whose gradient op serves. */
static bool embedding_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_arena *A = out->arena;
    ag_tensor *w = out->src[0], *ids = out->src[1];
    const int64_t n = ids->numel, D = w->shape[1];
    ag_tensor *flat = ag_reshape_(A, ids, 1, &n);
    ag_tensor *g2 = ag_reshape_(A, g, 2, (const int64_t[]){n, D});
    if (!flat || !g2) return false;
    const index_rows r = {0, 1, w->shape[0], D, flat};
    grads[0] = index_add_op(A, g2, &r, w);
    return grads[0] != NULL;
}

static const ag_op EMBEDDING = {"embedding", embedding_backward, embedding_vjp};

typedef struct embed_job {
    size_t row; /* bytes per row */
    const int32_t *id;
    const char *w;
    char *out;
} embed_job;

/* out rows [lo, hi) = the weight rows their ids name. */
static void embed_range(const void *ctx, int64_t lo, int64_t hi) {
    const embed_job *j = ctx;
    for (int64_t i = lo; i < hi; i++)
        memcpy(j->out + (size_t)i * j->row, j->w + (size_t)j->id[i] * j->row, j->row);
}

ag_tensor *ag_embedding_(ag_arena *A, ag_tensor *weight, ag_tensor *ids) {
    if (!weight || !ids) return NULL;
    if (!ag_dtype_is_float(weight->dtype) || weight->ndim != 2) {
        ag__fail("embedding", "weight %s has dtype %s: expected a 2-d [V, D] float tensor",
                 ag__shp(weight), ag_dtype_name(weight->dtype));
        return NULL;
    }
    if (!ag__check_dtype("embedding", "ids", ids, AG_I32)) return NULL;
    if (ids->ndim >= AG_MAX_DIMS) {
        ag__fail("embedding", "ids %s have %d dims: the result %s + [%lld] would exceed %d",
                 ag__shp(ids), ids->ndim, ag__shp(ids), (long long)weight->shape[1],
                 AG_MAX_DIMS);
        return NULL;
    }
    const int64_t V = weight->shape[0], D = weight->shape[1];
    if (!ids_in_range("embedding", "ids", ids, V, "weight ", -1, weight)) return NULL;
    ag_tensor *w = ag__compute_form(A, weight);
    if (!w) return NULL;
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < ids->ndim; i++) shape[i] = ids->shape[i];
    shape[ids->ndim] = D;
    ag_tensor *out = ag__result("embedding", A, w->dtype, ids->ndim + 1, shape);
    if (!out) return NULL;
    const int64_t n = ids->numel;
    if (D > 0) {
        embed_job j = {(size_t)D * ag_dtype_size(w->dtype), ids->data, w->data, out->data};
        ag__parallel_for(n, n * D >= AG_PAR_MIN, embed_range, &j);
    }
    if (!ag__record(out, &EMBEDDING, 2, (ag_tensor *[]){w, ids})) return NULL;
    return ag__as(A, out, weight->dtype);
}

/* ---- gather ------------------------------------------------------------------ */

/* Walks index's shape; x's offset follows every dim but dim (stride 0 there),
 * plus index value * x's stride along dim. */
static void gather_strides(const ag_tensor *x, int d, int64_t *walk, int64_t *along) {
    ag__strides(x->ndim, x->shape, walk);
    *along = x->ndim ? walk[d] : 0;
    if (x->ndim) walk[d] = 0;
}

/* Pairs each entry of small (index's shape) with the entry of big (x's
 * shape, dtype dt: f32 or f64) that gather reads along dim d, and adds:
 * big += small there (scatter, gather's gradient) or small += big there
 * (gather's gradient's gradient). */
static void gather_add(bool scatter, const ag_tensor *index, int d, ag_tensor *big,
                       void *small) {
    if (index->numel == 0) return;
    int64_t walk[AG_MAX_DIMS], along;
    gather_strides(big, d, walk, &along);
    ag__iter it;
    ag__iter_init(&it, index->ndim, index->shape, 1, (const int64_t *[]){walk});
    const int32_t *idx = index->data;
    int64_t o = 0;
    AG_DISPATCH(big->dtype, T, {
        T *g = small, *px = big->data;
        do {
            T *dx = px + it.off[0];
            const int64_t n = it.inner, is = it.istride[0];
            if (scatter)
                for (int64_t j = 0; j < n; j++) dx[j * is + idx[o + j] * along] += g[o + j];
            else
                for (int64_t j = 0; j < n; j++) g[o + j] += dx[j * is + idx[o + j] * along];
            o += n;
        } while (ag__iter_next(&it));
    });
}

static void gather_backward(ag_tensor *out) {
    ag_tensor *gx = ag__grad_buf(out->src[0]);
    if (gx) gather_add(true, out->src[1], (int)out->iparam[0], gx, out->grad->data);
}

/* gather_backward: gather's gradient as an op, so that it can be
 * differentiated again. z has x's shape: zeros, plus each entry of g added
 * where gather read it (sources g and index; iparam[0]: dim). Its own
 * gradient gathers again. */
static void scatter_backward(ag_tensor *z) {
    ag_tensor *gg = ag__grad_buf(z->src[0]);
    if (gg) gather_add(false, z->src[1], (int)z->iparam[0], z->grad, gg->data);
}

static bool scatter_vjp(ag_tensor *z, ag_tensor *g, ag_tensor **grads) {
    grads[0] = ag_gather_(z->arena, g, (int)z->iparam[0], z->src[1]);
    return grads[0] != NULL;
}

static const ag_op GATHER_BACKWARD = {"gather_backward", scatter_backward, scatter_vjp};

static bool gather_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_tensor *gc = ag__compute_form(out->arena, g);
    ag_tensor *z = gc ? zeros_like("gather_backward", out->arena, gc->dtype, out->src[0]) : NULL;
    if (!z) return false;
    z->iparam[0] = out->iparam[0];
    gather_add(true, out->src[1], (int)z->iparam[0], z, gc->data);
    grads[0] = ag__record(z, &GATHER_BACKWARD, 2, (ag_tensor *[]){gc, out->src[1]});
    return grads[0] != NULL;
}

static const ag_op GATHER = {"gather", gather_backward, gather_vjp};

ag_tensor *ag_gather_(ag_arena *A, ag_tensor *x, int dim, ag_tensor *index) {
    if (!x || !index) return NULL;
    if (!ag__check_dtype("gather", "index", index, AG_I32)) return NULL;
    if (index->ndim != x->ndim) {
        ag__fail("gather", "index %s and x %s must have the same number of dims",
                 ag__shp(index), ag__shp(x));
        return NULL;
    }
    const int d = ag__dim("gather", dim, x);
    if (d < 0) return NULL;
    for (int e = 0; e < x->ndim; e++) {
        if (e != d && index->shape[e] > x->shape[e]) {
            ag__fail("gather", "index %s is larger than x %s at dim %d (%lld > %lld): only dim "
                     "%d may be larger", ag__shp(index), ag__shp(x), e,
                     (long long)index->shape[e], (long long)x->shape[e], d);
            return NULL;
        }
    }
    if (!ids_in_range("gather", "index", index, x->ndim ? x->shape[d] : 1, "x ", d, x))
        return NULL;
    ag_tensor *xc = ag__compute_form(A, x);
    if (!xc) return NULL;
    ag_tensor *out = ag__result("gather", A, xc->dtype, index->ndim, index->shape);
    if (!out) return NULL;
    if (out->numel > 0) {
        int64_t walk[AG_MAX_DIMS], along;
        gather_strides(xc, d, walk, &along);
        ag__iter it;
        ag__iter_init(&it, index->ndim, index->shape, 1, (const int64_t *[]){walk});
        const int32_t *idx = index->data;
        int64_t o = 0;
        AG_BY_SIZE(ag_dtype_size(xc->dtype), U, {
            const U *px = xc->data;
            U *po = out->data;
            do {
                const U *v = px + it.off[0];
                const int64_t n = it.inner, is = it.istride[0];
                for (int64_t j = 0; j < n; j++) po[o + j] = v[j * is + idx[o + j] * along];
                o += n;
            } while (ag__iter_next(&it));
        });
    }
    out->iparam[0] = d;
    if (!ag__record(out, &GATHER, 2, (ag_tensor *[]){xc, index})) return NULL;
    return ag__as(A, out, x->dtype);
}

/* ---- masks: masked_fill and where ------------------------------------------ */

/* A mask as one byte per element (1: non-zero, NaN included), with the
 * strides that broadcast it into the result's shape; kept for backward. */
typedef struct {
    const uint8_t *on;
    int64_t strides[AG_MAX_DIMS];
} mask_info;

static mask_info *mask_of(ag_arena *A, const ag_tensor *m, int ndim) {
    mask_info *mi = ag_arena_alloc_(A, sizeof *mi);
    uint8_t *on = ag_arena_alloc_(A, (size_t)m->numel);
    if (!mi || !on) return NULL;
    const int64_t n = m->numel;
    switch (m->dtype) {
    case AG_F32: {
        const float *p = m->data;
        for (int64_t i = 0; i < n; i++) on[i] = p[i] != 0;
        break;
    }
    case AG_F64: {
        const double *p = m->data;
        for (int64_t i = 0; i < n; i++) on[i] = p[i] != 0;
        break;
    }
    case AG_BF16: {
        const uint16_t *p = m->data;
        for (int64_t i = 0; i < n; i++) on[i] = (p[i] & 0x7fffu) != 0;
        break;
    }
    default: {
        const int32_t *p = m->data;
        for (int64_t i = 0; i < n; i++) on[i] = p[i] != 0;
        break;
    }
    }
    mi->on = on;
    ag__bcast_strides(m, ndim, mi->strides);
    return mi;
}

/* out = x where the mask is off; the gradient passes there and nowhere else. */
static void masked_fill_backward(ag_tensor *out) {
    ag_tensor *gx = ag__grad_buf(out->src[0]);
    if (!gx || out->numel == 0) return;
    const mask_info *mi = out->saved;
    ag__iter it;
    ag__iter_init(&it, out->ndim, out->shape, 1, (const int64_t *[]){mi->strides});
    int64_t o = 0;
    AG_DISPATCH(out->dtype, T, {
        const T *g = out->grad->data;
        T *dx = gx->data;
        do {
            const uint8_t *m = mi->on + it.off[0];
            const int64_t n = it.inner, is = it.istride[0];
            for (int64_t j = 0; j < n; j++)
                if (!m[j * is]) dx[o + j] += g[o + j];
            o += n;
        } while (ag__iter_next(&it));
    });
}

/* The mask of out (a masked_fill or where) as a constant i32 tensor of
 * out's shape, 1 where on: the vjps choose with it. */
static ag_tensor *mask_tensor(const ag_tensor *out) {
    const mask_info *mi = out->saved;
    ag_tensor *m = ag__result(out->op->name, out->arena, AG_I32, out->ndim, out->shape);
    if (!m || m->numel == 0) return m;
    ag__iter it;
    ag__iter_init(&it, out->ndim, out->shape, 1, (const int64_t *[]){mi->strides});
    int32_t *pm = m->data;
    int64_t o = 0;
    do {
        const uint8_t *on = mi->on + it.off[0];
        for (int64_t j = 0; j < it.inner; j++) pm[o + j] = on[j * it.istride[0]];
        o += it.inner;
    } while (ag__iter_next(&it));
    return m;
}

/* The recorded form: g with the filled positions zeroed, a masked_fill again. */
static bool masked_fill_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    grads[0] = ag_masked_fill_(out->arena, g, mask_tensor(out), 0.0);
    return grads[0] != NULL;
}

static const ag_op MASKED_FILL = {"masked_fill", masked_fill_backward, masked_fill_vjp};

ag_tensor *ag_masked_fill_(ag_arena *A, ag_tensor *x, ag_tensor *mask, double value) {
    if (!x || !mask) return NULL;
    if (!ag__check_arena("masked_fill", A) || !ag__check_live("masked_fill", x) ||
        !ag__check_live("masked_fill", mask) || !ag__check_float("masked_fill", x))
        return NULL;
    bool ok = mask->ndim <= x->ndim;
    for (int i = 0; ok && i < mask->ndim; i++) {
        const int64_t m = mask->shape[mask->ndim - 1 - i], s = x->shape[x->ndim - 1 - i];
        ok = m == s || m == 1;
    }
    if (!ok) {
        ag__fail("masked_fill", "mask %s does not broadcast to x %s (the result keeps x's "
                 "shape)", ag__shp(mask), ag__shp(x));
        return NULL;
    }
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *xc = ag__as(A, x, ct);
    mask_info *mi = xc ? mask_of(A, mask, x->ndim) : NULL;
    ag_tensor *out = mi ? ag__result("masked_fill", A, ct, x->ndim, x->shape) : NULL;
    if (!out) return NULL;
    if (out->numel > 0) {
        ag__iter it;
        ag__iter_init(&it, out->ndim, out->shape, 1, (const int64_t *[]){mi->strides});
        int64_t o = 0;
        AG_DISPATCH(ct, T, {
            const T *px = xc->data, v = (T)value;
            T *po = out->data;
            do {
                const uint8_t *m = mi->on + it.off[0];
                const int64_t n = it.inner, is = it.istride[0];
                for (int64_t j = 0; j < n; j++) po[o + j] = m[j * is] ? v : px[o + j];
                o += n;
            } while (ag__iter_next(&it));
        });
    }
    out->saved = mi;
    if (!ag__record_asked(out, &MASKED_FILL, 1, &xc)) return NULL; /* the fill may be -inf */
    return ag__as(A, out, x->dtype);
}

/* out = a where cond is on, b elsewhere; each gradient is reduced back to its
 * source's shape by accumulating through broadcast strides. */
static void where_backward(ag_tensor *out) {
    ag_tensor *a = out->src[0], *b = out->src[1];
    ag_tensor *ga = ag__grad_buf(a), *gb = ag__grad_buf(b);
    if (out->numel == 0) return;
    const mask_info *mi = out->saved;
    int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS];
    ag__bcast_strides(a, out->ndim, sa);
    ag__bcast_strides(b, out->ndim, sb);
    ag__iter it;
    ag__iter_init(&it, out->ndim, out->shape, 3, (const int64_t *[]){mi->strides, sa, sb});
    int64_t o = 0;
    AG_DISPATCH(out->dtype, T, {
        const T *pg = out->grad->data;
        T *pa = ga ? ga->data : NULL, *pb = gb ? gb->data : NULL;
        do {
            const uint8_t *m = mi->on + it.off[0];
            const int64_t n = it.inner, ic = it.istride[0], ia = it.istride[1],
                          ib = it.istride[2];
            const T *g = pg + o;
            if (pa) {
                T *d = pa + it.off[1];
                for (int64_t j = 0; j < n; j++)
                    if (m[j * ic]) d[j * ia] += g[j];
            }
            if (pb) {
                T *d = pb + it.off[2];
                for (int64_t j = 0; j < n; j++)
                    if (!m[j * ic]) d[j * ib] += g[j];
            }
            o += n;
        } while (ag__iter_next(&it));
    });
}

/* The recorded form: g where cond is on (to a) or off (to b), 0 elsewhere,
 * over out's shape: where again; the engine sums each down to its source. */
static bool where_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_arena *A = out->arena;
    const bool na = out->src[0]->requires_grad, nb = out->src[1]->requires_grad;
    ag_tensor *cond = mask_tensor(out);
    if (!cond) return false;
    grads[0] = na ? ag_where_scalar_(A, cond, g, 0.0) : NULL;
    grads[1] = nb ? ag_where_scalar_a_(A, cond, 0.0, g) : NULL;
    return (!na || grads[0]) && (!nb || grads[1]);
}

static const ag_op WHERE = {"where", where_backward, where_vjp};

/* a and b promote like binary ops; cond is any dtype (non-zero: take a). */
ag_tensor *ag_where_(ag_arena *A, ag_tensor *cond, ag_tensor *a, ag_tensor *b) {
    if (!cond || !a || !b) return NULL;
    if (!ag__check_arena("where", A)) return NULL;
    for (int k = 0; k < 3; k++)
        if (!ag__check_live("where", (ag_tensor *[]){cond, a, b}[k])) return NULL;
    if (!ag__check_float("where", a) || !ag__check_float("where", b)) return NULL;
    const ag_tensor *t[3] = {cond, a, b};
    int ndim = 0;
    int64_t shape[AG_MAX_DIMS];
    for (int k = 0; k < 3; k++) ndim = t[k]->ndim > ndim ? t[k]->ndim : ndim;
    for (int i = 0; i < ndim; i++) {
        shape[i] = 1;
        for (int k = 0; k < 3; k++) {
            const int j = t[k]->ndim - ndim + i;
            const int64_t s = j >= 0 ? t[k]->shape[j] : 1;
            if (s == 1) continue;
            if (shape[i] != 1 && shape[i] != s) {
                ag__fail("where", "cond %s, a %s and b %s do not broadcast together: sizes "
                         "%lld and %lld at dim %d", ag__shp(cond), ag__shp(a), ag__shp(b),
                         (long long)shape[i], (long long)s, i);
                return NULL;
            }
            shape[i] = s;
        }
    }
    const ag_dtype dt = ag__promote(a->dtype, b->dtype);
    const ag_dtype ct = ag_compute_dtype(dt);
    ag_tensor *x = ag__as(A, a, ct), *y = ag__as(A, b, ct);
    mask_info *mi = x && y ? mask_of(A, cond, ndim) : NULL;
    ag_tensor *out = mi ? ag__result("where", A, ct, ndim, shape) : NULL;
    if (!out) return NULL;
    if (out->numel > 0) {
        int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS];
        ag__bcast_strides(x, ndim, sa);
        ag__bcast_strides(y, ndim, sb);
        ag__iter it;
        ag__iter_init(&it, ndim, shape, 3, (const int64_t *[]){mi->strides, sa, sb});
        int64_t o = 0;
        AG_DISPATCH(ct, T, {
            const T *px = x->data, *py = y->data;
            T *po = out->data;
            do {
                const uint8_t *m = mi->on + it.off[0];
                const T *u = px + it.off[1], *v = py + it.off[2];
                const int64_t n = it.inner, ic = it.istride[0], ia = it.istride[1],
                              ib = it.istride[2];
                for (int64_t j = 0; j < n; j++) po[o + j] = m[j * ic] ? u[j * ia] : v[j * ib];
                o += n;
            } while (ag__iter_next(&it));
        });
    }
    out->saved = mi;
    if (!ag__record(out, &WHERE, 2, (ag_tensor *[]){x, y})) return NULL;
    return ag__as(A, out, dt);
}

/* where with one side a number: that side is a 0-d tensor of the other's dtype. */
static ag_tensor *where_number(ag_arena *A, ag_tensor *cond, ag_tensor *t, double v,
                               bool number_first) {
    if (!cond || !t) return NULL;
    if (!ag__check_arena("where", A) || !ag__check_float("where", t)) return NULL;
    ag_tensor *s = ag_scalar_(A, t->dtype, v);
    return number_first ? ag_where_(A, cond, s, t) : ag_where_(A, cond, t, s);
}
ag_tensor *ag_where_scalar_(ag_arena *A, ag_tensor *cond, ag_tensor *a, double b) {
    return where_number(A, cond, a, b, false);
}
ag_tensor *ag_where_scalar_a_(ag_arena *A, ag_tensor *cond, double a, ag_tensor *b) {
    return where_number(A, cond, b, a, true);
}
