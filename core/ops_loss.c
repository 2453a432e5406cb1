/* core/ops_loss.c — cross_entropy (class indices) and mse_loss, both with
 * mean reduction and a 0-d result.
 *
 * cross_entropy is fused: forward computes each position's log-sum-exp
 * (max-subtracted, summed in double) and saves it; the loss is the mean over
 * counted positions of lse - x[target]. Backward is softmax minus one-hot:
 *
 *   dx[c] = g / count * (exp(x[c] - lse) - [c == target])
 *
 * and 0 for positions whose target is ignore_index.
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

/* ---- cross_entropy ---------------------------------------------------------
 * Logits are seen as [N, C, inner] (inner = d1 * d2 * ...; [C] is N = 1,
 * inner = 1) and the target as [N, inner]: position q = o * inner + i has its
 * C logits at o*C*inner + i + c*inner. Forward saves, per position, the
 * row's max m and log(s), s = sum exp(x - m), so that lse = m + log(s) and
 * backward's exp((x - m) - log(s)) keeps full precision in f32 even for
 * logits in the thousands. */

static void ce_backward(ag_tensor *out) {
    ag_tensor *logits = out->src[0], *target = out->src[1];
    ag_tensor *gl = ag__grad_buf(logits);
    const double count = out->fparam[0];
    if (!gl || count == 0) return; /* every target ignored: no gradient */
    const int64_t C = out->iparam[0], inner = out->iparam[1], P = out->iparam[2];
    const int ignore = (int)out->iparam[3];
    const double *st = out->saved; /* m, log(s) per position */
    const int32_t *t = target->data;
    AG_DISPATCH(out->dtype, T, {
        const T *px = logits->data;
        T *pd = gl->data;
        const T scale = (T)(((const T *)out->grad->data)[0] / count);
        AG_OMP_FOR(P * C >= AG_PAR_MIN)
        for (int64_t q = 0; q < P; q++) {
            if (t[q] == ignore) continue;
            const int64_t base = (q / inner) * C * inner + q % inner;
            const T *x = px + base;
            T *dx = pd + base;
            const T m = (T)st[2 * q], ls = (T)st[2 * q + 1];
            for (int64_t c = 0; c < C; c++)
                dx[c * inner] += scale * (exp(x[c * inner] - m - ls) - (T)(c == t[q]));
        }
    });
}

static const ag_op CROSS_ENTROPY = {"cross_entropy", ce_backward};

/* Checks the shapes: logits [C] with a 0-d target, or [N, C, d1, ...] with
 * target [N, d1, ...]. */
static bool ce_shapes_ok(const ag_tensor *logits, const ag_tensor *target) {
    const char *op = "cross_entropy";
    if (logits->ndim == 0) {
        ag__fail(op, "logits %s are 0-d: expected [C], [N, C] or [N, C, d1, ...]",
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
        ag__fail(op, "target %s does not fit logits %s: expected target shape %s "
                 "(logits without the class dim %d)", ag__shp(target), ag__shp(logits),
                 ag__shp_of(nw, want), logits->ndim >= 2 ? 1 : 0);
    return ok;
}

/* Mean over non-ignored positions of -log softmax(logits)[target], with the
 * classes along dim 1 (dim 0 for 1-d logits). A target outside [0, C) that is
 * not ignore_index is reported. Every target ignored gives NaN (0/0), as in
 * PyTorch. */
ag_tensor *ag_cross_entropy_(ag_arena *A, ag_tensor *logits, ag_tensor *target,
                             int ignore_index) {
    const char *op = "cross_entropy";
    if (!logits || !target) return NULL;
    if (!ag__check_float(op, logits)) return NULL;
    if (!ag__check_dtype(op, "target", target, AG_I32)) return NULL;
    if (!ce_shapes_ok(logits, target)) return NULL;
    const int64_t C = logits->ndim >= 2 ? logits->shape[1] : logits->shape[0];
    const int64_t P = target->numel;
    int64_t inner = 1;
    for (int i = 2; i < logits->ndim; i++) inner *= logits->shape[i];
    const int32_t *t = target->data;
    int64_t count = 0;
    for (int64_t q = 0; q < P; q++) {
        if (t[q] == ignore_index) continue;
        if (t[q] < 0 || t[q] >= C) {
            ag__fail(op, "target value %d (at position %lld of target %s) is out of range "
                     "for %lld classes of logits %s: expected 0..%lld or ignore_index %d",
                     (int)t[q], (long long)q, ag__shp(target), (long long)C, ag__shp(logits),
                     (long long)C - 1, ignore_index);
            return NULL;
        }
        count++;
    }

    const ag_dtype ct = ag_compute_dtype(logits->dtype);
    ag_tensor *x = ag__as(A, logits, ct);
    ag_tensor *out = x ? ag__result(op, A, ct, 0, NULL) : NULL;
    double *st = out ? ag_arena_alloc_(A, 2 * (size_t)P * sizeof *st) : NULL;
    if (!st) return NULL;

    /* m and log(s) per counted position (threads over positions), then the mean */
    AG_DISPATCH(ct, T, {
        const T *px = x->data;
        AG_OMP_FOR(P * C >= AG_PAR_MIN)
        for (int64_t q = 0; q < P; q++) {
            if (t[q] == ignore_index) continue;
            const T *xr = px + (q / inner) * C * inner + q % inner;
            T m = xr[0];
            for (int64_t c = 1; c < C; c++)
                if (xr[c * inner] > m) m = xr[c * inner];
            double s = 0;
            for (int64_t c = 0; c < C; c++) s += exp(xr[c * inner] - m);
            st[2 * q] = m;
            st[2 * q + 1] = log(s);
        }
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
 * loss = mean over the broadcast shape of (a - b)^2;
 * da = 2 g (a - b) / n, db = -da, each summed back over its broadcast dims. */

static void mse_backward(ag_tensor *out) {
    ag_tensor *a = out->src[0], *b = out->src[1];
    ag_tensor *ga = ag__grad_buf(a), *gb = ag__grad_buf(b);
    const int ndim = (int)out->iparam[0];
    const int64_t *shape = out->iparam + 1;
    const int64_t n = ag__numel(ndim, shape);
    if (n == 0 || (!ga && !gb)) return;
    int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS];
    ag__bcast_strides(a, ndim, sa);
    ag__bcast_strides(b, ndim, sb);
    ag__iter it;
    ag__iter_init(&it, ndim, shape, 2, (const int64_t *[]){sa, sb});
    AG_DISPATCH(out->dtype, T, {
        const T *pa = a->data, *pb = b->data;
        T *pga = ga ? ga->data : NULL, *pgb = gb ? gb->data : NULL;
        const T scale = (T)(2 * (double)((const T *)out->grad->data)[0] / (double)n);
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

static const ag_op MSE_LOSS = {"mse_loss", mse_backward};

/* Mean of (input - target)^2 over their broadcast shape (NaN when empty);
 * both may take a gradient. Mixed float dtypes promote as in ag_sub. */
ag_tensor *ag_mse_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target) {
    const char *op = "mse_loss";
    if (!input || !target) return NULL;
    if (!ag__check_float(op, input) || !ag__check_float(op, target)) return NULL;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    if (!ag__broadcast(op, input->ndim, input->shape, target->ndim, target->shape, &ndim,
                       shape))
        return NULL;
    const ag_dtype dt = ag__promote(input->dtype, target->dtype);
    const ag_dtype ct = ag_compute_dtype(dt);
    ag_tensor *a = ag__as(A, input, ct), *b = ag__as(A, target, ct);
    ag_tensor *out = a && b ? ag__result(op, A, ct, 0, NULL) : NULL;
    if (!out) return NULL;
    const int64_t n = ag__numel(ndim, shape);
    ksum sum = {0, 0};
    if (n > 0) {
        int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS];
        ag__bcast_strides(a, ndim, sa);
        ag__bcast_strides(b, ndim, sb);
        ag__iter it;
        ag__iter_init(&it, ndim, shape, 2, (const int64_t *[]){sa, sb});
        AG_DISPATCH(ct, T, {
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
    AG_DISPATCH(ct, T, { ((T *)out->data)[0] = (T)(n > 0 ? ksum_value(&sum) / (double)n : NAN); });
    out->iparam[0] = ndim;
    for (int i = 0; i < ndim; i++) out->iparam[1 + i] = shape[i];
    if (!ag__record(out, &MSE_LOSS, 2, (ag_tensor *[]){a, b})) return NULL;
    return ag__as(A, out, dt);
}
