/* core/ops_loss_pointwise.c — the elementwise losses with a reduction: l1,
 * smooth_l1, huber and binary_cross_entropy_with_logits (mse_loss is fused,
 * in ops_loss.c).
 *
 * Each is composed from recorded ops, so its gradient is theirs: the
 * difference d = input - target (ag_sub), its elementwise term (abs, or the
 * smooth_l1 / huber rows of the unary table, one pass with an exact
 * derivative), and ag__reduce. binary_cross_entropy_with_logits is
 *   (1 - y) x - (1 + (p - 1) y) log_sigmoid(x),   times the weight,
 * with log_sigmoid the stable unary op. The formulas are in ag/loss.h.
 */
#include "internal.h"

/* An elementwise loss's inputs, checked and cast to the compute dtype ct of
 * their promoted dtype dt. */
typedef struct {
    ag_tensor *x, *y;
    ag_dtype dt;
} loss_pair;

static bool prepare(const char *op, ag_arena *A, ag_tensor *input, ag_tensor *target,
                    ag_reduction r, loss_pair *p) {
    if (!input || !target) return false;
    if (!ag__check_arena(op, A) || !ag__check_reduction(op, r)) return false;
    if (!ag__check_float(op, input) || !ag__check_float(op, target)) return false;
    if (!ag__loss_target_ok(op, "target", input, target)) return false;
    p->dt = ag__promote(input->dtype, target->dtype);
    const ag_dtype ct = ag_compute_dtype(p->dt);
    p->x = ag__as(A, input, ct);
    p->y = ag__as(A, target, ct);
    return p->x && p->y;
}

/* The loss l reduced, in the promoted dtype. */
static ag_tensor *finish(ag_arena *A, ag_tensor *l, ag_reduction r, ag_dtype dt) {
    return ag__as(A, ag__reduce(A, l, r), dt);
}

ag_tensor *ag_l1_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target,
                       ag_reduction reduction) {
    loss_pair p;
    if (!prepare("l1_loss", A, input, target, reduction, &p)) return NULL;
    return finish(A, ag_abs_(A, ag_sub_(A, p.x, p.y)), reduction, p.dt);
}

/* Reports a scale parameter (beta, delta) that is not finite or is below
 * its bound (0 allowed when zero_ok). */
static bool scale_ok(const char *op, const char *what, double v, bool zero_ok) {
    if (isfinite(v) && (v > 0 || (zero_ok && v == 0))) return true;
    ag__fail(op, "%s is %g: expected a finite number %s 0", what, v, zero_ok ? ">=" : ">");
    return false;
}

ag_tensor *ag_smooth_l1_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target,
                              ag_reduction reduction, double beta) {
    const char *op = "smooth_l1_loss";
    if (!input || !target || !scale_ok(op, "beta", beta, true)) return NULL;
    loss_pair p;
    if (!prepare(op, A, input, target, reduction, &p)) return NULL;
    ag_tensor *d = ag_sub_(A, p.x, p.y);
    /* beta 0 is l1 (PyTorch), which also keeps 0/0 out of the quadratic part */
    return finish(A, beta == 0 ? ag_abs_(A, d) : ag__smooth_l1(A, d, beta), reduction, p.dt);
}

ag_tensor *ag_huber_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target,
                          ag_reduction reduction, double delta) {
    const char *op = "huber_loss";
    if (!input || !target || !scale_ok(op, "delta", delta, false)) return NULL;
    loss_pair p;
    if (!prepare(op, A, input, target, reduction, &p)) return NULL;
    return finish(A, ag__huber(A, ag_sub_(A, p.x, p.y), delta), reduction, p.dt);
}

/* An optional weight of a loss: NULL stays NULL (*ok true); otherwise it must
 * be float and broadcast to input's shape, and comes back in dtype ct. */
static ag_tensor *weight_of(const char *op, const char *what, ag_arena *A, ag_tensor *w,
                            const ag_tensor *input, ag_dtype ct, bool *ok) {
    *ok = true;
    if (!w) return NULL;
    *ok = ag__check_float(op, w) && ag__loss_target_ok(op, what, input, w);
    return *ok ? ag__as(A, w, ct) : NULL;
}

ag_tensor *ag_binary_cross_entropy_with_logits_(ag_arena *A, ag_tensor *input,
                                                ag_tensor *target,
                                                const ag_bce_with_logits_opts *o) {
    const char *op = "binary_cross_entropy_with_logits";
    const ag_bce_with_logits_opts defaults = AG_BCE_WITH_LOGITS_DEFAULTS;
    if (!o) o = &defaults;
    loss_pair p;
    if (!prepare(op, A, input, target, o->reduction, &p)) return NULL;
    bool w_ok, pw_ok;
    ag_tensor *w = weight_of(op, "weight", A, o->weight, input, p.x->dtype, &w_ok);
    if (!w_ok) return NULL;
    ag_tensor *pw = weight_of(op, "pos_weight", A, o->pos_weight, input, p.x->dtype, &pw_ok);
    if (!pw_ok) return NULL;
    ag_tensor *neg = ag_mul_(A, ag_rsub_scalar_(A, 1, p.y), p.x); /* (1 - y) x */
    ag_tensor *ls = ag_log_sigmoid_(A, p.x);
    if (pw) /* (1 + (p - 1) y) log_sigmoid(x) */
        ls = ag_mul_(A, ag_add_scalar_(A, ag_mul_(A, ag_sub_scalar_(A, pw, 1), p.y), 1), ls);
    ag_tensor *l = ag_sub_(A, neg, ls);
    if (w) l = ag_mul_(A, l, w);
    return finish(A, l, o->reduction, p.dt);
}
