/* core/ops_loss_class.c — nll_loss and cross_entropy with every option
 * (weight, reduction, ignore_index, label_smoothing, probability targets).
 *
 * Composed from recorded ops (log_softmax, gather, index_select, sums), so
 * the gradients are theirs; the formulas, PyTorch's, are in ag/loss.h. The
 * default case of cross_entropy (no weight, mean, no smoothing, class
 * indices) goes to the fused kernel of ag_cross_entropy (ops_loss.c).
 *
 * Positions: the input is seen as [N, C, inner] (a [C] input as [1, C]), and
 * position q = o * inner + i of the target is row o, column i; an index
 * tensor of shape [N, 1, d1, ...] laid out row-major has q at offset q, which
 * is what gather along dim 1 wants.
 */
#include "internal.h"

/* The class dim: 1, or 0 for a 1-d input. */
static int class_dim(const ag_tensor *x) { return x->ndim >= 2 ? 1 : 0; }

/* Reports a weight that is not a float [C]. */
static bool weight_ok(const char *op, const char *name, const ag_tensor *w,
                      const ag_tensor *input, int64_t C) {
    if (!w) return true;
    if (!ag__check_float(op, w)) return false;
    if (w->ndim == 1 && w->shape[0] == C) return true;
    ag__fail(op, "weight %s does not fit the %lld classes of %s %s: expected a weight [%lld], "
             "one per class", ag__shp(w), (long long)C, name, ag__shp(input), (long long)C);
    return false;
}

/* The class-index part shared by nll_loss and cross_entropy, for log-
 * probabilities lp (compute dtype) and a checked target. */
typedef struct {
    ag_tensor *loss;    /* -w[t] lp[t] per position (0 where ignored), target's shape */
    ag_tensor *wt;      /* w[t] per position, 0 where ignored (the mean's divisor) */
    ag_tensor *ignored; /* i32, 1 where the target is ignore_index */
} nll_parts;

static bool nll_parts_of(ag_arena *A, ag_tensor *lp, ag_tensor *target, ag_tensor *w,
                         int ignore, const ag__class_layout *L, nll_parts *out) {
    /* the index [N, 1, d1, ...] (a [C] input: [1, 1]) with ignored targets at
     * class 0, the per-position mask, and which positions are ignored */
    int64_t ishape[AG_MAX_DIMS];
    int nd = lp->ndim >= 2 ? lp->ndim : 2;
    ishape[0] = lp->ndim >= 2 ? lp->shape[0] : 1;
    ishape[1] = 1;
    for (int i = 2; i < nd; i++) ishape[i] = lp->shape[i];
    ag_tensor *idx = ag_empty_(A, AG_I32, nd, ishape);
    ag_tensor *valid = ag_empty_(A, lp->dtype, target->ndim, target->shape);
    ag_tensor *ignored = ag_empty_(A, AG_I32, target->ndim, target->shape);
    if (!idx || !valid || !ignored) return false;
    const int32_t *t = target->data;
    int32_t *pi = idx->data, *pn = ignored->data;
    for (int64_t q = 0; q < L->P; q++) {
        pn[q] = t[q] == ignore;
        pi[q] = pn[q] ? 0 : t[q];
    }
    AG_DISPATCH(lp->dtype, T, {
        T *pv = valid->data;
        for (int64_t q = 0; q < L->P; q++) pv[q] = (T)!pn[q];
    });
    ag_tensor *x = lp->ndim >= 2 ? lp : ag_reshape_(A, lp, 2, (const int64_t[]){1, L->C});
    ag_tensor *picked = ag_reshape_(A, ag_gather_(A, x, 1, idx), target->ndim, target->shape);
    ag_tensor *wt = valid;
    if (w) {
        ag_tensor *flat = ag_reshape_(A, idx, 1, (const int64_t[]){L->P});
        ag_tensor *wq = ag_index_select_(A, w, 0, flat);
        wt = ag_mul_(A, ag_reshape_(A, wq, target->ndim, target->shape), valid);
    }
    /* ignored positions are 0 whatever their row holds (a NaN, a -inf at class 0) */
    out->loss = ag_masked_fill_(A, ag_neg_(A, ag_mul_(A, picked, wt)), ignored, 0.0);
    out->wt = wt;
    out->ignored = ignored;
    return out->loss && out->wt;
}

/* A per-position loss reduced, the mean dividing by the sum of wt. */
static ag_tensor *reduce_by_weight(ag_arena *A, ag_tensor *l, ag_tensor *wt, ag_reduction r) {
    if (r == AG_REDUCE_NONE) return l;
    ag_tensor *s = ag_sum_(A, l, 0, NULL, false);
    return r == AG_REDUCE_SUM ? s : ag_div_(A, s, ag_sum_(A, wt, 0, NULL, false));
}

ag_tensor *ag_nll_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target,
                        const ag_nll_loss_opts *o) {
    const char *op = "nll_loss";
    const ag_nll_loss_opts defaults = AG_NLL_LOSS_DEFAULTS;
    if (!o) o = &defaults;
    if (!input || !target) return NULL;
    if (!ag__check_arena(op, A) || !ag__check_reduction(op, o->reduction)) return NULL;
    ag__class_layout L;
    if (!ag__class_targets(op, "input", input, target, o->ignore_index, &L)) return NULL;
    if (!weight_ok(op, "input", o->weight, input, L.C)) return NULL;
    const ag_dtype ct = ag_compute_dtype(input->dtype);
    nll_parts p;
    if (!nll_parts_of(A, ag__as(A, input, ct), target, ag__as(A, o->weight, ct),
                      o->ignore_index, &L, &p))
        return NULL;
    return ag__as(A, reduce_by_weight(A, p.loss, p.wt, o->reduction), input->dtype);
}

/* The weight as [1, C, 1, ...] (or [C]) to multiply rows of x along the class dim. */
static ag_tensor *weight_along_classes(ag_arena *A, ag_tensor *w, const ag_tensor *x) {
    if (!w) return NULL;
    int64_t shape[AG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = 1;
    shape[class_dim(x)] = w->numel;
    return ag_reshape_(A, w, x->ndim, shape);
}

/* cross_entropy with class indices: (1 - s) nll + (s / C) smooth. */
static ag_tensor *ce_indices(ag_arena *A, ag_tensor *lp, ag_tensor *target, ag_tensor *w,
                             const ag_cross_entropy_opts *o, const ag__class_layout *L) {
    nll_parts p;
    if (!nll_parts_of(A, lp, target, w, o->ignore_index, L, &p)) return NULL;
    ag_tensor *nll = reduce_by_weight(A, p.loss, p.wt, o->reduction);
    const double s = o->label_smoothing;
    if (s == 0) return nll;
    ag_tensor *wb = weight_along_classes(A, w, lp);
    ag_tensor *terms = wb ? ag_mul_(A, lp, wb) : lp;
    const int cd = class_dim(lp);
    ag_tensor *smooth = ag_neg_(A, ag_sum_(A, terms, 1, &cd, false));
    smooth = ag_masked_fill_(A, smooth, p.ignored, 0.0);
    ag_tensor *sm = reduce_by_weight(A, smooth, p.wt, o->reduction);
    return ag_add_(A, ag_mul_scalar_(A, nll, 1 - s), ag_mul_scalar_(A, sm, s / (double)L->C));
}

/* cross_entropy with class probabilities y of the logits' shape. */
static ag_tensor *ce_probs(ag_arena *A, ag_tensor *lp, ag_tensor *y, ag_tensor *w,
                           const ag_cross_entropy_opts *o) {
    const int cd = class_dim(lp);
    const int64_t C = lp->shape[cd];
    const double s = o->label_smoothing;
    if (s > 0) y = ag_add_scalar_(A, ag_mul_scalar_(A, y, 1 - s), s / (double)C);
    ag_tensor *terms = ag_mul_(A, lp, y);
    ag_tensor *wb = weight_along_classes(A, w, lp);
    if (wb) terms = ag_mul_(A, terms, wb);
    ag_tensor *l = ag_neg_(A, ag_sum_(A, terms, 1, &cd, false));
    if (o->reduction == AG_REDUCE_NONE) return l;
    ag_tensor *sum = ag_sum_(A, l, 0, NULL, false);
    if (o->reduction == AG_REDUCE_SUM) return sum;
    return ag_div_scalar_(A, sum, (double)l->numel); /* the positions (C may be 0); none: NaN */
}

/* Checks a probability target: float, the logits' shape, ignore_index < 0. */
static bool probs_ok(const char *op, const ag_tensor *logits, const ag_tensor *target,
                     int ignore_index) {
    if (!ag__check_float(op, logits) || !ag__check_float(op, target)) return false;
    bool same = logits->ndim == target->ndim && logits->ndim > 0;
    for (int i = 0; same && i < logits->ndim; i++) same = logits->shape[i] == target->shape[i];
    if (!same) {
        ag__fail(op, "probability target %s does not fit logits %s: a float target has the "
                 "logits' shape (class indices are i32)", ag__shp(target), ag__shp(logits));
        return false;
    }
    if (ignore_index >= 0) {
        ag__fail(op, "ignore_index %d with a probability target %s: ignore_index applies to "
                 "class indices only (leave it negative, e.g. -100)", ignore_index,
                 ag__shp(target));
        return false;
    }
    return true;
}

ag_tensor *ag_cross_entropy_ex_(ag_arena *A, ag_tensor *logits, ag_tensor *target,
                                const ag_cross_entropy_opts *o) {
    const char *op = "cross_entropy";
    const ag_cross_entropy_opts defaults = AG_CROSS_ENTROPY_DEFAULTS;
    if (!o) o = &defaults;
    if (!logits || !target) return NULL;
    if (!ag__check_arena(op, A) || !ag__check_reduction(op, o->reduction)) return NULL;
    if (!(o->label_smoothing >= 0 && o->label_smoothing <= 1)) {
        ag__fail(op, "label_smoothing is %g: expected a number in [0, 1]", o->label_smoothing);
        return NULL;
    }
    const bool indices = target->dtype == AG_I32;
    if (indices && !o->weight && o->reduction == AG_REDUCE_MEAN && o->label_smoothing == 0)
        return ag_cross_entropy_(A, logits, target, o->ignore_index); /* the fused kernel */
    ag__class_layout L;
    if (indices ? !ag__class_targets(op, "logits", logits, target, o->ignore_index, &L)
                : !probs_ok(op, logits, target, o->ignore_index))
        return NULL;
    const int64_t C = logits->shape[class_dim(logits)];
    if (!weight_ok(op, "logits", o->weight, logits, C)) return NULL;
    const ag_dtype ct = ag_compute_dtype(logits->dtype);
    ag_tensor *lp = ag_log_softmax_(A, ag__as(A, logits, ct), class_dim(logits));
    ag_tensor *w = ag__as(A, o->weight, ct);
    if (!lp || (o->weight && !w)) return NULL;
    ag_tensor *out = indices ? ce_indices(A, lp, target, w, o, &L)
                             : ce_probs(A, lp, ag__as(A, target, ct), w, o);
    return ag__as(A, out, logits->dtype);
}
