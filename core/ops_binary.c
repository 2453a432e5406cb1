/* core/ops_binary.c — add, sub, mul, div, maximum, minimum with PyTorch
 * broadcasting, and their tensor-with-scalar forms.
 *
 * Forward walks the output shape with each input's broadcast strides (0 along
 * a stretched dim). Backward walks the same way and accumulates into each
 * input's gradient, which sums the gradient back over the broadcast dims.
 */
#include "internal.h"

typedef enum { ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM } kind;
enum { NKINDS = MINIMUM + 1 };

static void backward(ag_tensor *out);
static bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads);

static const ag_op OPS[] = {
    [ADD] = {"add", backward, vjp},         [SUB] = {"sub", backward, vjp},
    [MUL] = {"mul", backward, vjp},         [DIV] = {"div", backward, vjp},
    [MAXIMUM] = {"maximum", backward, vjp}, [MINIMUM] = {"minimum", backward, vjp},
};
_Static_assert(sizeof OPS / sizeof OPS[0] == NKINDS, "one op per kind");

/* Starts a walk over out's shape reading a and b with their broadcast
 * strides (0 along a stretched dim). */
static void walk_pair(ag__iter *it, const ag_tensor *a, const ag_tensor *b, const ag_tensor *out) {
    int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS];
    ag__bcast_strides(a, out->ndim, sa);
    ag__bcast_strides(b, out->ndim, sb);
    ag__iter_init(it, out->ndim, out->shape, 2, (const int64_t *[]){sa, sb});
}

/* A binary op's work over runs [lo, hi) of out's shape (ag__iter's runs),
 * so that ranges of runs can go to the threads of the team. */
typedef struct pair_job {
    kind k;
    const ag_tensor *a, *b, *out;
    ag_tensor *ga, *gb; /* backward: the sources' gradients (NULL: not wanted) */
    bool sa, sb;        /* backward: store a source's first gradient, not add */
} pair_job;

/* The first run of [lo, ...): an iterator there, and its output offset. */
static int64_t seek_pair(ag__iter *it, const pair_job *j, int64_t lo) {
    walk_pair(it, j->a, j->b, j->out);
    ag__iter_seek(it, lo);
    return lo * it->inner;
}

/* Runs the runs of out's shape through fn, split over the team when out is
 * large and `split` allows it (a backward into a broadcast source must not
 * be: two runs would add into one element). */
static void over_runs(const pair_job *j, ag__range_fn fn, bool split) {
    const ag_tensor *out = j->out;
    const int64_t inner = out->ndim ? out->shape[out->ndim - 1] : 1, runs = out->numel / inner;
    ag__parallel_for(runs, split && out->numel >= AG_PAR_MIN && runs >= 2, fn, j);
}

/* out = a (kind) b over runs [lo, hi); a, b and out share one float dtype. */
static void forward_runs(const void *ctx, int64_t lo, int64_t hi) {
    const pair_job *J = ctx;
    const kind k = J->k;
    ag__iter it;
    int64_t o = seek_pair(&it, J, lo);
    AG_DISPATCH(J->out->dtype, T, {
        const T *pa = J->a->data, *pb = J->b->data;
        T *po = J->out->data;
        for (int64_t r = lo; r < hi; r++, ag__iter_next(&it)) {
            const T *x = pa + it.off[0], *y = pb + it.off[1];
            const int64_t n = it.inner, ia = it.istride[0], ib = it.istride[1];
            T *z = po + o;
            switch (k) {
            case ADD: for (int64_t j = 0; j < n; j++) z[j] = x[j * ia] + y[j * ib]; break;
            case SUB: for (int64_t j = 0; j < n; j++) z[j] = x[j * ia] - y[j * ib]; break;
            case MUL: for (int64_t j = 0; j < n; j++) z[j] = x[j * ia] * y[j * ib]; break;
            case DIV: for (int64_t j = 0; j < n; j++) z[j] = x[j * ia] / y[j * ib]; break;
            case MAXIMUM:
                for (int64_t j = 0; j < n; j++) {
                    T u = x[j * ia], v = y[j * ib];
                    z[j] = u > v || isnan(u) ? u : v; /* NaN propagates */
                }
                break;
            case MINIMUM:
                for (int64_t j = 0; j < n; j++) {
                    T u = x[j * ia], v = y[j * ib];
                    z[j] = u < v || isnan(u) ? u : v;
                }
                break;
            }
            o += n;
        }
    });
}

static void forward(kind k, const ag_tensor *a, const ag_tensor *b, ag_tensor *out) {
    if (out->numel == 0) return;
    const pair_job j = {.k = k, .a = a, .b = b, .out = out};
    over_runs(&j, forward_runs, true);
}

/* The share of the gradient that goes to the winner of maximum/minimum:
 * 1 to the larger (smaller), 0 to the other, half each on a tie. */
#define WIN(u, v, first) ((u) == (v) ? (T)0.5 : ((first) ? (T)1 : (T)0))

/* The sources' gradients over runs [lo, hi) (out's gradient at its offset). */
static void backward_runs(const void *ctx, int64_t lo, int64_t hi) {
    const pair_job *J = ctx;
    const kind k = J->k;
    const bool linear = k == ADD || k == SUB || k == MUL, sa = J->sa, sb = J->sb;
    ag__iter it;
    int64_t o = seek_pair(&it, J, lo);
    AG_DISPATCH(J->out->dtype, T, {
        const T *pa = J->a->data, *pb = J->b->data, *pg = J->out->grad->data;
        T *pga = J->ga ? J->ga->data : NULL, *pgb = J->gb ? J->gb->data : NULL;
        for (int64_t r = lo; r < hi; r++, ag__iter_next(&it)) {
            const int64_t n = it.inner, ia = it.istride[0], ib = it.istride[1];
            const T *x = pa + it.off[0], *y = pb + it.off[1], *g = pg + o;
            T *dx = pga ? pga + it.off[0] : NULL, *dy = pgb ? pgb + it.off[1] : NULL;
            /* add, sub and mul (a training step's) in one loop per source, a
             * loop the compiler vectorizes; each element of dx and dy gets
             * its terms in the same order as in the joint loop (a == b has
             * no stretched dim, so no element is reached twice in a run) */
            if (linear) {
                if (dx && k == MUL && sa)
                    for (int64_t j = 0; j < n; j++) dx[j * ia] = g[j] * y[j * ib];
                else if (dx && k == MUL)
                    for (int64_t j = 0; j < n; j++) dx[j * ia] += g[j] * y[j * ib];
                else if (dx && sa)
                    for (int64_t j = 0; j < n; j++) dx[j * ia] = g[j];
                else if (dx)
                    for (int64_t j = 0; j < n; j++) dx[j * ia] += g[j];
                if (dy && k == MUL && sb)
                    for (int64_t j = 0; j < n; j++) dy[j * ib] = g[j] * x[j * ia];
                else if (dy && k == MUL)
                    for (int64_t j = 0; j < n; j++) dy[j * ib] += g[j] * x[j * ia];
                else if (dy && sb) /* sub's is -g, add's g */
                    for (int64_t j = 0; j < n; j++) dy[j * ib] = k == SUB ? -g[j] : g[j];
                else if (dy)
                    for (int64_t j = 0; j < n; j++) dy[j * ib] += k == SUB ? -g[j] : g[j];
                o += n;
                continue;
            }
            for (int64_t j = 0; j < n; j++) {
                T u = x[j * ia], v = y[j * ib], d = g[j];
                T da = 0, db = 0;
                switch (k) {
                case DIV: da = d / v, db = -d * u / (v * v); break;
                case MAXIMUM: da = d * WIN(u, v, u > v), db = d * WIN(u, v, v > u); break;
                case MINIMUM: da = d * WIN(u, v, u < v), db = d * WIN(u, v, v < u); break;
                default: break;
                }
                if (dx) dx[j * ia] += da;
                if (dy) dy[j * ib] += db;
            }
            o += n;
        }
    });
}

static void backward(ag_tensor *out) {
    const kind k = (kind)out->iparam[0];
    ag_tensor *a = out->src[0], *b = out->src[1];
    /* add, sub and mul write a first gradient of a source of out's size (not
     * broadcast, not the other source) with stores into a raw buffer: no
     * zeroing pass, no read of the zeros */
    const bool linear = k == ADD || k == SUB || k == MUL;
    const bool sa = linear && a != b && a->numel == out->numel && !a->grad;
    const bool sb = linear && a != b && b->numel == out->numel && !b->grad;
    ag_tensor *ga = sa ? ag__grad_buf_raw(a) : ag__grad_buf(a);
    ag_tensor *gb = sb ? ag__grad_buf_raw(b) : ag__grad_buf(b);
    if (out->numel == 0) return;
    const pair_job j = {.k = k, .a = a, .b = b, .out = out, .ga = ga, .gb = gb, .sa = sa, .sb = sb};
    /* no source broadcast: every element of a gradient is reached by one run */
    over_runs(&j, backward_runs, a->numel == out->numel && b->numel == out->numel);
}

/* The share of out's gradient that maximum/minimum sends to source `side`
 * (0: a, 1: b), over out's shape: WIN's weights as a constant tensor. */
static ag_tensor *winner_share(ag_tensor *out, int side) {
    ag_tensor *a = out->src[0], *b = out->src[1];
    ag_tensor *w = ag__result(out->op->name, out->arena, out->dtype, out->ndim, out->shape);
    if (!w || w->numel == 0) return w;
    const bool max = out->iparam[0] == MAXIMUM;
    ag__iter it;
    walk_pair(&it, a, b, out);
    int64_t o = 0;
    AG_DISPATCH(out->dtype, T, {
        const T *pa = a->data, *pb = b->data;
        T *pw = w->data;
        do {
            for (int64_t j = 0; j < it.inner; j++) {
                const T p = pa[it.off[0] + j * it.istride[0]];
                const T q = pb[it.off[1] + j * it.istride[1]];
                const T u = side ? q : p, v = side ? p : q; /* u: this side's value */
                pw[o + j] = WIN(u, v, max ? u > v : u < v);
            }
            o += it.inner;
        } while (ag__iter_next(&it));
    });
    return w;
}

/* The recorded backward; the engine sums each share over the dims its
 * source was broadcast along. */
static bool vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_arena *A = out->arena;
    ag_tensor *a = out->src[0], *b = out->src[1];
    const bool na = a->requires_grad, nb = b->requires_grad;
    switch ((kind)out->iparam[0]) {
    case ADD: grads[0] = g, grads[1] = g; return true;
    case SUB: grads[0] = g, grads[1] = nb ? ag_neg_(A, g) : NULL; break;
    case MUL:
        grads[0] = na ? ag_mul_(A, g, b) : NULL;
        grads[1] = nb ? ag_mul_(A, g, a) : NULL;
        break;
    case DIV: /* d(a/b)/db = -(a/b)/b */
        grads[0] = na ? ag_div_(A, g, b) : NULL;
        grads[1] = nb ? ag_neg_(A, ag_div_(A, ag_mul_(A, g, out), b)) : NULL;
        break;
    case MAXIMUM:
    case MINIMUM:
        grads[0] = na ? ag_mul_(A, g, winner_share(out, 0)) : NULL;
        grads[1] = nb ? ag_mul_(A, g, winner_share(out, 1)) : NULL;
        break;
    }
    return (!na || grads[0]) && (!nb || grads[1]);
}

static ag_tensor *binary(kind k, ag_arena *A, ag_tensor *a, ag_tensor *b) {
    const char *op = OPS[k].name;
    if (!a || !b) return NULL;
    if (!ag__check_arena(op, A)) return NULL;
    if (!ag__check_float(op, a) || !ag__check_float(op, b)) return NULL;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    if (!ag__broadcast(op, a->ndim, a->shape, b->ndim, b->shape, &ndim, shape)) return NULL;
    /* promote to the wider dtype; bf16 computes in f32 and rounds back */
    const ag_dtype dt = ag__promote(a->dtype, b->dtype);
    const ag_dtype ct = ag_compute_dtype(dt);
    ag_tensor *x = ag__as(A, a, ct), *y = ag__as(A, b, ct);
    ag_tensor *out = x && y ? ag__result(op, A, ct, ndim, shape) : NULL;
    if (!out) return NULL;
    forward(k, x, y, out);
    out->iparam[0] = k;
    if (!ag__record(out, &OPS[k], 2, (ag_tensor *[]){x, y})) return NULL;
    return dt == ct ? out : ag_cast_(A, out, dt);
}

ag_tensor *ag_add_(ag_arena *A, ag_tensor *a, ag_tensor *b) { return binary(ADD, A, a, b); }
ag_tensor *ag_sub_(ag_arena *A, ag_tensor *a, ag_tensor *b) { return binary(SUB, A, a, b); }
ag_tensor *ag_mul_(ag_arena *A, ag_tensor *a, ag_tensor *b) { return binary(MUL, A, a, b); }
ag_tensor *ag_div_(ag_arena *A, ag_tensor *a, ag_tensor *b) { return binary(DIV, A, a, b); }
ag_tensor *ag_maximum_(ag_arena *A, ag_tensor *a, ag_tensor *b) {
    return binary(MAXIMUM, A, a, b);
}
ag_tensor *ag_minimum_(ag_arena *A, ag_tensor *a, ag_tensor *b) {
    return binary(MINIMUM, A, a, b);
}

/* ---- tensor with scalar: the scalar is a 0-d constant of the compute dtype */

static ag_tensor *with_scalar(const char *name, kind k, ag_arena *A, ag_tensor *x, double s,
                             bool scalar_first) {
    if (!x) return NULL;
    if (!ag__check_arena(name, A) || !ag__check_live(name, x) || !ag__check_float(name, x))
        return NULL;
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *c = ag_scalar_(A, ct, s);
    ag_tensor *xc = ag__as(A, x, ct);
    ag_tensor *r = scalar_first ? binary(k, A, c, xc) : binary(k, A, xc, c);
    return ag__as(A, r, x->dtype);
}

ag_tensor *ag_add_scalar_(ag_arena *A, ag_tensor *x, double s) {
    return with_scalar("add_scalar", ADD, A, x, s, false);
}
ag_tensor *ag_sub_scalar_(ag_arena *A, ag_tensor *x, double s) {
    return with_scalar("sub_scalar", SUB, A, x, s, false);
}
ag_tensor *ag_rsub_scalar_(ag_arena *A, double s, ag_tensor *x) {
    return with_scalar("rsub_scalar", SUB, A, x, s, true);
}
ag_tensor *ag_mul_scalar_(ag_arena *A, ag_tensor *x, double s) {
    return with_scalar("mul_scalar", MUL, A, x, s, false);
}
ag_tensor *ag_div_scalar_(ag_arena *A, ag_tensor *x, double s) {
    return with_scalar("div_scalar", DIV, A, x, s, false);
}
ag_tensor *ag_rdiv_scalar_(ag_arena *A, double s, ag_tensor *x) {
    return with_scalar("rdiv_scalar", DIV, A, x, s, true);
}
