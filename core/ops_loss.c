/* core/ops_loss.c — the fused losses, cross_entropy (class indices, mean)
 * and mse_loss (mean or sum), and what every loss shares: the reduction, the
 * rule for a target's shape, the checks of class targets.
 *
 * cross_entropy is fused: forward computes each position's log-sum-exp
 * (max-subtracted, summed in double) and saves it; the loss is the mean over
 * counted positions of lse - x[target]. Backward is softmax minus one-hot:
 *
 *   dx[c] = g / count * (exp(x[c] - lse) - [c == target])
 *
 * and 0 for positions whose target is ignore_index. Both losses also have a
 * vjp (a backward with create_graph): the same gradient made of ag ops, so
 * that it can be differentiated again.
 */
#include "internal.h"

/* Neumaier's compensated sum: the means below stay exact to a few ulps over
 * millions of terms, in f64 as well as f32. */
typedef struct {
    double s, c;
} ksum;
static void ksum_add(ksum *k, double v) {
    const double t = k->s + v;
    k->c += fabs(k->s) >= fabs(v) ? (k->s - t) + v : (v - t) + k->s;
    k->s = t;
}
/* The sum; one that reached +-inf stays so (its compensation is inf - inf,
 * NaN), as a plain sum would, and as PyTorch's loss is. */
static double ksum_value(const ksum *k) { return isfinite(k->s) ? k->s + k->c : k->s; }

/* ---- what the losses share -------------------------------------------------- */

bool ag__check_reduction(const char *op, ag_reduction r) {
    if (r == AG_REDUCE_MEAN || r == AG_REDUCE_SUM || r == AG_REDUCE_NONE) return true;
    ag__fail(op, "reduction %d is unknown: expected AG_REDUCE_MEAN (0), AG_REDUCE_SUM (1) or "
             "AG_REDUCE_NONE (2)", (int)r);
    return false;
}

ag_tensor *ag__reduce(ag_arena *A, ag_tensor *l, ag_reduction r) {
    if (r == AG_REDUCE_MEAN) return ag_mean_(A, l, 0, NULL, false);
    if (r == AG_REDUCE_SUM) return ag_sum_(A, l, 0, NULL, false);
    return l;
}

/* The shape a and b broadcast to, or false when they do not (no report). */
static bool bcast_shape(const ag_tensor *a, const ag_tensor *b, int *ndim, int64_t *shape) {
    *ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < *ndim; i++) {
        const int ia = a->ndim - *ndim + i, ib = b->ndim - *ndim + i;
        const int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) return false;
        shape[i] = sa == 1 ? sb : sa;
    }
    return true;
}

bool ag__loss_target_ok(const char *op, const char *what, const ag_tensor *input,
                        const ag_tensor *t) {
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    const bool bc = bcast_shape(input, t, &ndim, shape);
    bool ok = bc && ndim == input->ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] == input->shape[i];
    if (ok) return true;
    if (bc && t->numel == input->numel)
        ag__fail(op, "input %s and %s %s would broadcast to %s: reshape the %s to %s or the "
                 "input to %s", ag__shp(input), what, ag__shp(t), ag__shp_of(ndim, shape), what,
                 ag__shp(input), ag__shp(t));
    else if (bc)
        ag__fail(op, "input %s and %s %s would broadcast to %s, not the input's shape: "
                 "expected a %s of shape %s or one that broadcasts to it", ag__shp(input), what,
                 ag__shp(t), ag__shp_of(ndim, shape), what, ag__shp(input));
    else
        ag__fail(op, "input %s and %s %s do not broadcast: expected a %s of shape %s or one "
                 "that broadcasts to it", ag__shp(input), what, ag__shp(t), what,
                 ag__shp(input));
    return false;
}

/* Checks the shapes: input [C] with a 0-d target, or [N, C, d1, ...] with
 * target [N, d1, ...]. */
static bool class_shapes_ok(const char *op, const char *name, const ag_tensor *logits,
                            const ag_tensor *target) {
    if (logits->ndim == 0) {
        ag__fail(op, "%s %s are 0-d: expected [C], [N, C] or [N, C, d1, ...]", name,
                 ag__shp(logits));
        return false;
    }
    int64_t want[AG_MAX_DIMS];
    int nw = 0;
    if (logits->ndim >= 2) {
        want[nw++] = logits->shape[0];
        for (int i = 2; i < logits->ndim; i++) want[nw++] = logits->shape[i];
    }
    bool ok = target->ndim == nw;
    for (int i = 0; ok && i < nw; i++) ok = target->shape[i] == want[i];
    if (!ok)
        ag__fail(op, "target %s does not fit %s %s: expected target shape %s "
                 "(%s without the class dim %d)", ag__shp(target), name, ag__shp(logits),
                 ag__shp_of(nw, want), name, logits->ndim >= 2 ? 1 : 0);
    return ok;
}

bool ag__class_targets(const char *op, const char *name, const ag_tensor *logits,
                       const ag_tensor *target, int ignore_index, ag__class_layout *L) {
    if (!ag__check_float(op, logits)) return false;
    if (!ag__check_dtype(op, "target", target, AG_I32)) return false;
    if (!class_shapes_ok(op, name, logits, target)) return false;
    L->C = logits->ndim >= 2 ? logits->shape[1] : logits->shape[0];
    L->P = target->numel;
    L->inner = 1;
    for (int i = 2; i < logits->ndim; i++) L->inner *= logits->shape[i];
    const int32_t *t = target->data;
    L->count = 0;
    for (int64_t q = 0; q < L->P; q++) {
        if (t[q] == ignore_index) continue;
        if ((t[q] < 0 || t[q] >= L->C) && L->C == 0) {
            ag__fail(op, "target value %d (at position %lld of target %s): %s %s has no "
                     "classes (class dim of size 0); only ignore_index %d is possible",
                     (int)t[q], (long long)q, ag__shp(target), name, ag__shp(logits),
                     ignore_index);
            return false;
        }
        if (t[q] < 0 || t[q] >= L->C) {
            ag__fail(op, "target value %d (at position %lld of target %s) is out of range "
                     "for %lld classes of %s %s: expected 0..%lld or ignore_index %d",
                     (int)t[q], (long long)q, ag__shp(target), (long long)L->C, name,
                     ag__shp(logits), (long long)L->C - 1, ignore_index);
            return false;
        }
        L->count++;
    }
    return true;
}

/* ---- cross_entropy ---------------------------------------------------------
 * Logits are seen as [N, C, inner] (inner = d1 * d2 * ...; [C] is N = 1,
 * inner = 1) and the target as [N, inner]: position q = o * inner + i has its
 * C logits at o*C*inner + i + c*inner. Forward saves, per position, the
 * row's max m and log(s), s = sum exp(x - m), so that lse = m + log(s) and
 * backward's exp((x - m) - log(s)) keeps full precision in f32 even for
 * logits in the thousands. */

/* One row of positions' work, shared by forward and backward: the logits
 * (and, backward, their gradient and its scale), the layout, the targets and
 * the saved (m, log(s)) per position. */
typedef struct ce_job {
    ag_dtype dt;
    const void *x;
    void *dx;
    double scale;
    int64_t C, inner;
    const int32_t *t;
    int ignore;
    double *st;
} ce_job;

/* Backward over positions [lo, hi): dx += scale (softmax(x) - onehot). */
static void ce_backward_range(const void *ctx, int64_t lo, int64_t hi) {
    const ce_job *j = ctx;
    const int64_t C = j->C, inner = j->inner;
    AG_DISPATCH(j->dt, T, {
        const T *px = j->x;
        T *pd = j->dx;
        const T scale = (T)j->scale;
        for (int64_t q = lo; q < hi; q++) {
            if (j->t[q] == j->ignore) continue;
            const int64_t base = (q / inner) * C * inner + q % inner;
            const T *x = px + base;
            T *dx = pd + base;
            const T m = (T)j->st[2 * q], ls = (T)j->st[2 * q + 1];
            for (int64_t c = 0; c < C; c++)
                dx[c * inner] += scale * (exp(x[c * inner] - m - ls) - (T)(c == j->t[q]));
        }
    });
}

static void ce_backward(ag_tensor *out) {
    ag_tensor *logits = out->src[0], *target = out->src[1];
    ag_tensor *gl = ag__grad_buf(logits);
    const double count = out->fparam[0];
    if (!gl || count == 0) return; /* every target ignored: no gradient */
    const int64_t C = out->iparam[0], P = out->iparam[2];
    ce_job j = {.dt = out->dtype, .x = logits->data, .dx = gl->data, .C = C,
                .inner = out->iparam[1], .t = target->data, .ignore = (int)out->iparam[3],
                .st = out->saved};
    /* the scale as the kernel had it: g / count rounded to T */
    AG_DISPATCH(out->dtype, T, { j.scale = (T)(((const T *)out->grad->data)[0] / count); });
    ag__parallel_for(P, P * C >= AG_PAR_MIN, ce_backward_range, &j);
}

/* The constants of cross_entropy's vjp, over the logits' layout: onehot
 * holds 1 at each counted position's target class (an ignored position's
 * row stays 0); keep, made only when some position is ignored, has the
 * logits' shape with the class dim of size 1 and holds 1 for a counted
 * position, 0 for an ignored one. False after a report. */
static bool ce_constants(ag_tensor *out, ag_tensor **onehot, ag_tensor **keep) {
    ag_tensor *x = out->src[0], *target = out->src[1];
    const int64_t C = out->iparam[0], inner = out->iparam[1], P = out->iparam[2];
    const int ignore = (int)out->iparam[3];
    const int32_t *t = target->data;
    *onehot = ag_zeros_(out->arena, x->dtype, x->ndim, x->shape);
    *keep = NULL;
    if (!*onehot) return false;
    if (out->fparam[0] < (double)P) { /* some position ignored */
        int64_t shape[AG_MAX_DIMS];
        for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
        shape[x->ndim >= 2 ? 1 : 0] = 1;
        if (!(*keep = ag_zeros_(out->arena, x->dtype, x->ndim, shape))) return false;
    }
    AG_DISPATCH(x->dtype, T, {
        T *py = (*onehot)->data, *pk = *keep ? (*keep)->data : NULL;
        for (int64_t q = 0; q < P; q++) {
            if (t[q] == ignore) continue;
            py[(q / inner) * C * inner + q % inner + t[q] * inner] = 1;
            if (pk) pk[q] = 1;
        }
    });
    return true;
}

/* The recorded backward, softmax minus one-hot with ag ops:
 *   dx = (softmax(x) * keep - onehot) * g / count
 * (keep zeroes the ignored positions). Every target ignored: no gradient,
 * as the kernel gives. */
static bool ce_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_tensor *x = out->src[0];
    const double count = out->fparam[0];
    if (!x->requires_grad || count == 0) return true;
    ag_arena *A = out->arena;
    ag_tensor *onehot, *keep;
    if (!ce_constants(out, &onehot, &keep)) return false;
    ag_tensor *p = ag_softmax_(A, x, x->ndim >= 2 ? 1 : 0);
    if (keep) p = ag_mul_(A, p, keep);
    grads[0] = ag_mul_(A, ag_sub_(A, p, onehot), ag_div_scalar_(A, g, count));
    return grads[0] != NULL;
}

static const ag_op CROSS_ENTROPY = {"cross_entropy", ce_backward, ce_vjp};

/* Forward over positions [lo, hi): each counted position's max m and
 * log(s), s = sum exp(x - m), into st. */
static void ce_forward_range(const void *ctx, int64_t lo, int64_t hi) {
    const ce_job *j = ctx;
    const int64_t C = j->C, inner = j->inner;
    AG_DISPATCH(j->dt, T, {
        const T *px = j->x;
        for (int64_t q = lo; q < hi; q++) {
            if (j->t[q] == j->ignore) continue;
            const T *xr = px + (q / inner) * C * inner + q % inner;
            T m = xr[0];
            for (int64_t c = 1; c < C; c++)
                if (xr[c * inner] > m) m = xr[c * inner];
            double s = 0;
            for (int64_t c = 0; c < C; c++) s += exp(xr[c * inner] - m);
            j->st[2 * q] = m;
            j->st[2 * q + 1] = log(s);
        }
    });
}

/* Mean over non-ignored positions of -log softmax(logits)[target], with the
 * classes along dim 1 (dim 0 for 1-d logits). A target outside [0, C) that is
 * not ignore_index is reported. Every target ignored gives NaN (0/0), as in
 * PyTorch. */
ag_tensor *ag_cross_entropy_(ag_arena *A, ag_tensor *logits, ag_tensor *target,
                             int ignore_index) {
    const char *op = "cross_entropy";
    if (!logits || !target) return NULL;
    ag__class_layout L;
    if (!ag__class_targets(op, "logits", logits, target, ignore_index, &L)) return NULL;
    const int64_t C = L.C, P = L.P, inner = L.inner, count = L.count;
    const int32_t *t = target->data;

    const ag_dtype ct = ag_compute_dtype(logits->dtype);
    ag_tensor *x = ag__as(A, logits, ct);
    ag_tensor *out = x ? ag__result(op, A, ct, 0, NULL) : NULL;
    double *st = out ? ag_arena_alloc_(A, 2 * (size_t)P * sizeof *st) : NULL;
    if (!st) return NULL;

    /* m and log(s) per counted position (threads over positions), then the mean */
    ce_job j = {.dt = ct, .x = x->data, .C = C, .inner = inner, .t = t,
                .ignore = ignore_index, .st = st};
    ag__parallel_for(P, P * C >= AG_PAR_MIN, ce_forward_range, &j);
    AG_DISPATCH(ct, T, {
        const T *px = x->data;
        ksum loss = {0, 0};
        for (int64_t q = 0; q < P; q++)
            if (t[q] != ignore_index)
                ksum_add(&loss, (st[2 * q] - (double)px[(q / inner) * C * inner + q % inner +
                                                        t[q] * inner]) + st[2 * q + 1]);
        ((T *)out->data)[0] = (T)(count > 0 ? ksum_value(&loss) / (double)count : NAN);
    });

    out->iparam[0] = C;
    out->iparam[1] = inner;
    out->iparam[2] = P;
    out->iparam[3] = ignore_index;
    out->fparam[0] = (double)count;
    out->saved = st;
    if (!ag__record(out, &CROSS_ENTROPY, 2, (ag_tensor *[]){x, target})) return NULL;
    return ag__as(A, out, logits->dtype);
}

/* ---- mse_loss ----------------------------------------------------------------
 * loss = sum over the input's shape of (a - b)^2, divided by n for the mean
 * (the divisor is fparam[0]: n, or 1 for the sum);
 * da = 2 g (a - b) / divisor, db = -da, b's summed back over its broadcast dims. */

static void mse_backward(ag_tensor *out) {
    ag_tensor *a = out->src[0], *b = out->src[1];
    ag_tensor *ga = ag__grad_buf(a), *gb = ag__grad_buf(b);
    const int ndim = a->ndim;
    const int64_t *shape = a->shape;
    if (a->numel == 0 || (!ga && !gb)) return;
    int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS];
    ag__bcast_strides(a, ndim, sa);
    ag__bcast_strides(b, ndim, sb);
    ag__iter it;
    ag__iter_init(&it, ndim, shape, 2, (const int64_t *[]){sa, sb});
    AG_DISPATCH(out->dtype, T, {
        const T *pa = a->data, *pb = b->data;
        T *pga = ga ? ga->data : NULL, *pgb = gb ? gb->data : NULL;
        const T scale = (T)(2 * (double)((const T *)out->grad->data)[0] / out->fparam[0]);
        do {
            const int64_t m = it.inner, ia = it.istride[0], ib = it.istride[1];
            const T *x = pa + it.off[0], *y = pb + it.off[1];
            T *dx = pga ? pga + it.off[0] : NULL, *dy = pgb ? pgb + it.off[1] : NULL;
            for (int64_t j = 0; j < m; j++) {
                const T d = scale * (x[j * ia] - y[j * ib]);
                if (dx) dx[j * ia] += d;
                if (dy) dy[j * ib] -= d;
            }
        } while (ag__iter_next(&it));
    });
}

/* The recorded backward: da = (a - b) * 2 g / divisor, db = -da (the engine
 * sums it over b's broadcast dims). An empty input: no gradient, as the
 * kernel gives. */
static bool mse_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads) {
    ag_tensor *a = out->src[0], *b = out->src[1];
    if (a->numel == 0) return true;
    ag_arena *A = out->arena;
    ag_tensor *da = ag_mul_(A, ag_sub_(A, a, b), ag_mul_scalar_(A, g, 2 / out->fparam[0]));
    if (!da) return false;
    grads[0] = a->requires_grad ? da : NULL;
    grads[1] = b->requires_grad ? ag_neg_(A, da) : NULL;
    return !b->requires_grad || grads[1];
}

static const ag_op MSE_LOSS = {"mse_loss", mse_backward, mse_vjp};

/* The fused mean or sum of (a - b)^2 over a's shape; b broadcasts to it. */
static ag_tensor *mse_fused(ag_arena *A, ag_tensor *a, ag_tensor *b, ag_reduction r) {
    ag_tensor *out = ag__result("mse_loss", A, a->dtype, 0, NULL);
    if (!out) return NULL;
    const int ndim = a->ndim;
    const int64_t n = a->numel;
    ksum sum = {0, 0};
    if (n > 0) {
        int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS];
        ag__bcast_strides(a, ndim, sa);
        ag__bcast_strides(b, ndim, sb);
        ag__iter it;
        ag__iter_init(&it, ndim, a->shape, 2, (const int64_t *[]){sa, sb});
        AG_DISPATCH(a->dtype, T, {
            const T *pa = a->data, *pb = b->data;
            do {
                const int64_t m = it.inner, ia = it.istride[0], ib = it.istride[1];
                const T *x = pa + it.off[0], *y = pb + it.off[1];
                for (int64_t j = 0; j < m; j++) {
                    const double d = (double)x[j * ia] - (double)y[j * ib];
                    ksum_add(&sum, d * d);
                }
            } while (ag__iter_next(&it));
        });
    }
    const double divisor = r == AG_REDUCE_MEAN ? (double)n : 1.0;
    const double v = r == AG_REDUCE_MEAN && n == 0 ? NAN : ksum_value(&sum) / divisor;
    AG_DISPATCH(a->dtype, T, { ((T *)out->data)[0] = (T)v; });
    out->fparam[0] = divisor;
    return ag__record(out, &MSE_LOSS, 2, (ag_tensor *[]){a, b});
}

/* (input - target)^2 reduced; both may take a gradient. Mixed float dtypes
 * promote as in ag_sub. 'none' is composed: square(input - target). */
static ag_tensor *mse(ag_arena *A, ag_tensor *input, ag_tensor *target, ag_reduction r) {
    const char *op = "mse_loss";
    if (!input || !target) return NULL;
    if (!ag__check_arena(op, A) || !ag__check_reduction(op, r)) return NULL;
    if (!ag__check_float(op, input) || !ag__check_float(op, target)) return NULL;
    if (!ag__loss_target_ok(op, "target", input, target)) return NULL;
    const ag_dtype dt = ag__promote(input->dtype, target->dtype);
    const ag_dtype ct = ag_compute_dtype(dt);
    ag_tensor *a = ag__as(A, input, ct), *b = ag__as(A, target, ct);
    if (!a || !b) return NULL;
    ag_tensor *out = r == AG_REDUCE_NONE ? ag_square_(A, ag_sub_(A, a, b)) : mse_fused(A, a, b, r);
    return ag__as(A, out, dt);
}

ag_tensor *ag_mse_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target) {
    return mse(A, input, target, AG_REDUCE_MEAN);
}
ag_tensor *ag_mse_loss_ex_(ag_arena *A, ag_tensor *input, ag_tensor *target,
                           ag_reduction reduction) {
    return mse(A, input, target, reduction);
}
