/* core/gradcheck_params.c — the gradient of one loss with respect to many
 * parameters, checked by central differences at sampled coordinates.
 *
 * Backward runs once, recording on, into zeroed gradient buffers the check
 * lends the parameters (in an arena of its own): a parameter's own .grad —
 * a buffer an optimizer reads, or NULL, which it skips — is put back
 * untouched afterwards. Then, recording off, for each sampled coordinate j
 * of each parameter w:
 *   n = (L(w + h e_j) - L(w - h e_j)) / (2 h)
 * or, with fourth_order,
 *   n = (8 (L(w + h e_j) - L(w - h e_j)) - (L(w + 2h e_j) - L(w - 2h e_j))) / (12 h),
 * and w_j gets its saved value back (an f64 written back as it was read:
 * bitwise the original). Each analytic value is compared with its n by the
 * rule in gradcheck_rule.h; with fourth_order, a failing coordinate's n is
 * first re-estimated with smaller steps until it settles (see refine).
 *
 * Coordinates: one generator, seeded once per call, draws `samples` distinct
 * positions of each parameter in turn (Floyd's algorithm: uniform, no
 * retries); a parameter with at most `samples` elements is checked whole.
 */
#include <stdlib.h>
#include <string.h>

#include "gradcheck_rule.h"
#include "internal.h"

#define OP "gradcheck_params"

typedef struct {
    ag_loss_fn loss;
    void *ud;
    int n;
    ag_tensor *const *p;
    ag_gradcheck_params_opts o;
    ag_arena *graph;   /* the recorded graph and the lent gradients */
    ag_arena *scratch; /* each perturbed evaluation, reset before it */
} check;

/* The name a parameter goes by in messages: names[i], else the tensor's. */
static const char *name_of(const char *const *names, const ag_tensor *t, int i) {
    if (names && names[i]) return names[i];
    return t && t->name ? t->name : "";
}

static bool validate_param(int n, ag_tensor *const *p, const char *const *names, int i) {
    const ag_tensor *t = p[i];
    const char *nm = name_of(names, t, i), *sp = nm[0] ? " " : "";
    if (!t) {
        ag__fail(OP, "parameter %d%s%s is NULL", i, sp, nm);
        return false;
    }
    if (t->dtype != AG_F64) {
        ag__fail(OP, "parameter %d%s%s %s is %s: finite differences need f64 (cast it; a "
                 "module with ag_module_cast)", i, sp, nm, ag__shp(t), ag_dtype_name(t->dtype));
        return false;
    }
    if (!t->requires_grad || !ag_is_leaf(t)) {
        ag__fail(OP, "parameter %d%s%s %s %s: expected a leaf that requires a gradient", i, sp,
                 nm, ag__shp(t), t->requires_grad ? "is made by an op" : "requires no gradient");
        return false;
    }
    for (int k = 0; k < n; k++)
        if (k != i && p[k] == t) {
            ag__fail(OP, "parameters %d and %d are the same tensor%s%s %s: list it once",
                     k < i ? k : i, k < i ? i : k, sp, nm, ag__shp(t));
            return false;
        }
    return true;
}

static bool validate(ag_loss_fn loss, int n, ag_tensor *const *p, const char *const *names,
                     const ag_gradcheck_params_opts *o) {
    if (!loss || !p) {
        ag__fail(OP, "%s is NULL", !loss ? "the loss function" : "the parameter list");
        return false;
    }
    if (n < 1) {
        ag__fail(OP, "%d parameters: expected at least one", n);
        return false;
    }
    if (o->samples < 0) {
        ag__fail(OP, "samples is %d: expected a count >= 0 (0: every coordinate)", o->samples);
        return false;
    }
    if (!ag__gc_tols_ok(OP, o->eps, o->atol, o->rtol)) return false;
    for (int i = 0; i < n; i++)
        if (!validate_param(n, p, names, i)) return false;
    return true;
}

/* Replaces each parameter's gradient with a zeroed one in c->graph, after
 * saving the parameter's own in saved[]. */
static bool lend_grads(check *c, ag_tensor **saved) {
    for (int i = 0; i < c->n; i++) saved[i] = c->p[i]->grad;
    for (int i = 0; i < c->n; i++) {
        ag_tensor *g = ag_zeros_(c->graph, AG_F64, c->p[i]->ndim, c->p[i]->shape);
        if (!g) return false;
        c->p[i]->grad = g;
    }
    return true;
}

/* The loss value out of a tensor the loss function returned; reports one
 * with more than one element. */
static bool loss_value(const ag_tensor *l, double *out) {
    if (!l) return false;
    if (l->numel != 1) {
        ag__fail(OP, "the loss is %s (%lld elements): expected one element", ag__shp(l),
                 (long long)l->numel);
        return false;
    }
    *out = ag_item_(l);
    return true;
}

/* The loss at the current values (recording is off), in c->scratch. */
static bool evaluate(check *c, double *out) {
    ag_arena_reset(c->scratch);
    return loss_value(c->loss(c->scratch, c->ud), out);
}

/* The finite difference with step h at coordinate j of w; w[j] is exactly x0
 * after. */
static bool numeric(check *c, double *w, int64_t j, double h, double *num) {
    static const double at[4] = {1, -1, 2, -2}; /* multiples of h */
    const double x0 = w[j];
    const int points = c->o.fourth_order ? 4 : 2;
    double l[4] = {0};
    bool ok = true;
    for (int s = 0; s < points && ok; s++) {
        w[j] = x0 + at[s] * h;
        ok = evaluate(c, &l[s]);
    }
    w[j] = x0;
    *num = c->o.fourth_order ? (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * h)
                             : (l[0] - l[1]) / (2 * h);
    return ok;
}

/* With fourth_order, the estimate for a coordinate whose analytic value a
 * fails against *num (made with step eps): estimates with eps/4, eps/16, ...
 * (REFINE of them at most) until two successive ones agree within the rule;
 * *num becomes the last of those. Without agreement *num stays as it was.
 * A correct gradient then fails no more where the loss turns within the
 * step (an RMSNorm over one element is a smoothed sign of width sqrt(eps)),
 * while a wrong one still does: there the estimates agree at once. */
enum { REFINE = 4 };
static bool refine(check *c, double *w, int64_t j, double a, double *num) {
    const ag_gradcheck_params_opts *o = &c->o;
    if (!o->fourth_order || ag__gc_compare(a, *num, o->atol, o->rtol).ok) return true;
    double prev = *num, h = o->eps;
    for (int k = 0; k < REFINE; k++) {
        double cur;
        h /= 4;
        if (!numeric(c, w, j, h, &cur)) return false;
        if (ag__gc_compare(prev, cur, o->atol, o->rtol).ok) {
            *num = cur;
            return true;
        }
        prev = cur;
    }
    return true;
}

/* k distinct positions in [0, n), uniformly (Floyd's algorithm), into out[k]. */
static void sample(ag_rng *r, int64_t n, int64_t k, int64_t *out) {
    int64_t m = 0;
    for (int64_t j = n - k; j < n; j++) {
        const int64_t t = (int64_t)ag_rng_below(r, (uint64_t)j + 1);
        bool seen = false;
        for (int64_t i = 0; i < m && !seen; i++) seen = out[i] == t;
        out[m++] = seen ? j : t;
    }
}

/* Records one comparison in the parameter's report. */
static void note(ag_gradcheck_param_report *rp, const ag_tensor *t, int64_t j, double a,
                 double num, const ag_gradcheck_params_opts *o) {
    const ag__gc_cmp m = ag__gc_compare(a, num, o->atol, o->rtol);
    rp->checked++;
    if (!m.ok) rp->pass = false;
    if (!(m.rel_err <= rp->max_rel_err)) rp->max_rel_err = m.rel_err;
    if (rp->index >= 0 && !(m.excess > rp->err_over_tol)) return;
    rp->index = j; /* then j is unravelled into coord */
    for (int d = t->ndim - 1; d >= 0; d--) {
        rp->coord[d] = j % t->shape[d];
        j /= t->shape[d];
    }
    rp->analytic = a;
    rp->numeric = num;
    rp->abs_err = m.abs_err;
    rp->rel_err = m.rel_err;
    rp->err_over_tol = m.excess;
}

/* Compares the sampled coordinates of parameter i (its gradient is the lent
 * buffer backward filled); pick has room for o.samples positions. */
static bool check_param(check *c, ag_rng *rng, int64_t *pick, int i,
                        ag_gradcheck_param_report *rp) {
    ag_tensor *t = c->p[i];
    const bool all = c->o.samples == 0 || c->o.samples >= t->numel;
    const int64_t k = all ? t->numel : c->o.samples;
    if (!all) sample(rng, t->numel, k, pick);
    double *w = t->data;
    const double *g = t->grad->data;
    for (int64_t s = 0; s < k; s++) {
        const int64_t j = all ? s : pick[s];
        double num;
        if (!numeric(c, w, j, c->o.eps, &num) || !refine(c, w, j, g[j], &num)) return false;
        note(rp, t, j, g[j], num, &c->o);
    }
    return true;
}

/* The report of each parameter before any comparison. */
static void init_reports(ag_gradcheck_params_result *r, ag_tensor *const *p,
                         const char *const *names) {
    for (int i = 0; i < r->nparams; i++) {
        ag_gradcheck_param_report *rp = &r->param[i];
        const char *nm = name_of(names, p[i], i);
        if (nm[0]) snprintf(rp->name, sizeof rp->name, "%s", nm);
        else snprintf(rp->name, sizeof rp->name, "param %d", i);
        rp->ndim = p[i]->ndim;
        memcpy(rp->shape, p[i]->shape, sizeof rp->shape);
        rp->pass = true;
        rp->index = -1;
    }
}

/* Totals, and the message naming the first failing parameter. */
static bool summarise(ag_gradcheck_params_result *r, const ag_gradcheck_params_opts *o) {
    int failing = 0, first = -1;
    for (int i = 0; i < r->nparams; i++) {
        const ag_gradcheck_param_report *rp = &r->param[i];
        r->n_checked += rp->checked;
        if (!(rp->max_rel_err <= r->max_rel_err)) r->max_rel_err = rp->max_rel_err;
        if (!(rp->err_over_tol <= r->max_err_over_tol)) r->max_err_over_tol = rp->err_over_tol;
        if (!rp->pass && failing++ == 0) first = i;
    }
    if (first < 0) return true;
    const ag_gradcheck_param_report *rp = &r->param[first];
    snprintf(r->message, sizeof r->message,
             "%s %s element %s: analytic %.10g, numeric %.10g, |a-n| %.3e > %g + %g |n| "
             "(%d of %d parameters fail)",
             rp->name, ag__shp_of(rp->ndim, rp->shape), ag__shp_of(rp->ndim, rp->coord),
             rp->analytic, rp->numeric, rp->abs_err, o->atol, o->rtol, failing, r->nparams);
    return false;
}

/* What the loss function said when it failed ("" when it reported nothing). */
static const char *loss_error(int errors_before) {
    return ag_error_count() > errors_before ? ag_last_error() : "";
}

/* Backward once, then every parameter's sampled coordinates. The message
 * says what went wrong when it returns false before comparing everything. */
static bool run(check *c, ag_gradcheck_params_result *r) {
    const int errors = ag_error_count();
    ag_set_grad_enabled(true);
    ag_tensor *l = c->loss(c->graph, c->ud);
    ag_set_grad_enabled(false);
    if (!loss_value(l, &r->loss)) {
        snprintf(r->message, sizeof r->message, "the loss failed%s%s",
                 loss_error(errors)[0] ? ": " : "", loss_error(errors));
        return false;
    }
    if (l->requires_grad && !ag_backward_(l, NULL)) {
        snprintf(r->message, sizeof r->message, "backward failed: %s", loss_error(errors));
        return false;
    }
    int64_t most = 0; /* positions a sample needs room for */
    for (int i = 0; i < c->n; i++)
        if (c->p[i]->numel > most) most = c->p[i]->numel;
    if (c->o.samples < most) most = c->o.samples;
    int64_t *pick = malloc((size_t)(most ? most : 1) * sizeof *pick);
    if (!pick) {
        snprintf(r->message, sizeof r->message, "out of memory");
        return false;
    }
    ag_rng rng;
    ag_rng_seed(&rng, c->o.seed);
    bool ok = true;
    for (int i = 0; i < c->n && ok; i++) {
        ok = check_param(c, &rng, pick, i, &r->param[i]);
        if (!ok)
            snprintf(r->message, sizeof r->message,
                     "the loss failed at a perturbed value of %s%s%s", r->param[i].name,
                     loss_error(errors)[0] ? ": " : "", loss_error(errors));
    }
    free(pick);
    return ok;
}

bool ag_gradcheck_params_(ag_loss_fn loss, void *userdata, int n, ag_tensor *const *params,
                          const char *const *names, const ag_gradcheck_params_opts *opts,
                          ag_gradcheck_params_result *result) {
    ag_gradcheck_params_result local;
    ag_gradcheck_params_result *r = result ? result : &local;
    memset(r, 0, sizeof *r);
    ag_gradcheck_params_opts o = opts ? *opts : (ag_gradcheck_params_opts){0};
    if (!validate(loss, n, params, names, &o)) {
        snprintf(r->message, sizeof r->message, "%s", ag_last_error());
        return false;
    }
    if (o.eps == 0) o.eps = AG__GC_EPS;
    if (o.atol == 0) o.atol = AG__GC_ATOL;
    if (o.rtol == 0) o.rtol = AG__GC_RTOL;
    check c = {.loss = loss, .ud = userdata, .n = n, .p = params, .o = o};
    c.graph = ag_arena_new_(0);
    c.scratch = ag_arena_new_(0);
    ag_tensor **saved = calloc((size_t)n, sizeof *saved);
    r->param = calloc((size_t)n, sizeof *r->param);
    bool ok = c.graph && c.scratch && saved && r->param;
    if (ok) {
        r->nparams = n;
        init_reports(r, params, names);
    } else {
        snprintf(r->message, sizeof r->message, "out of memory");
    }
    const bool was = ag_grad_enabled();
    ok = ok && lend_grads(&c, saved) && run(&c, r) && summarise(r, &o);
    ag_set_grad_enabled(was);
    for (int i = 0; saved && i < n; i++) params[i]->grad = saved[i];
    free(saved);
    ag_arena_free(c.graph);
    ag_arena_free(c.scratch);
    r->pass = ok;
    if (!result) ag_gradcheck_params_free(&local);
    return ok;
}

void ag_gradcheck_params_free(ag_gradcheck_params_result *r) {
    if (!r) return;
    free(r->param);
    r->param = NULL;
    r->nparams = 0;
}

void ag_gradcheck_params_print(FILE *f, const ag_gradcheck_params_result *r) {
    if (!f || !r) return;
    int wn = 4, ws = 5;
    for (int i = 0; i < r->nparams; i++) {
        const ag_gradcheck_param_report *rp = &r->param[i];
        const int ln = (int)strlen(rp->name), ls = (int)strlen(ag__shp_of(rp->ndim, rp->shape));
        if (ln > wn) wn = ln;
        if (ls > ws) ws = ls;
    }
    for (int i = 0; i < r->nparams; i++) {
        const ag_gradcheck_param_report *rp = &r->param[i];
        const int64_t numel = ag__numel(rp->ndim, rp->shape);
        fprintf(f, "  %-*s %-*s %5lld of %-7lld", wn, rp->name, ws,
                ag__shp_of(rp->ndim, rp->shape), (long long)rp->checked, (long long)numel);
        if (rp->index < 0) {
            fprintf(f, " nothing compared\n");
            continue;
        }
        fprintf(f, " worst at %-10s a=% .9e n=% .9e rel %8.2e  %s\n",
                ag__shp_of(rp->ndim, rp->coord), rp->analytic, rp->numeric, rp->rel_err,
                rp->pass ? "ok" : "FAIL");
    }
}
