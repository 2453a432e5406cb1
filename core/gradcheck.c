/* core/gradcheck.c — analytic gradients against central finite differences.
 *
 * The analytic Jacobian comes from backward, one output element at a time
 * (grad_out = e_k), or from one random projection v in fast mode; each is
 * run twice and must agree bit for bit. The numeric Jacobian perturbs each
 * input element by ±eps and runs the function again with recording off:
 *   J[k][j] = (f_k(x + eps e_j) - f_k(x - eps e_j)) / (2 eps).
 * Entries are compared by the rule in gradcheck_rule.h (PyTorch's).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck_rule.h"
#include "internal.h"

/* Above this many Jacobian entries, the full check asks for fast mode. */
#define MAX_ENTRIES 20000000LL

typedef struct {
    ag_gradcheck_fn f;
    ag_tensor *const *in;
    int n;
    void *ud;
    ag_gradcheck_opts o;
    ag_arena *graph;   /* the recorded graph and its gradients */
    ag_arena *scratch; /* numeric forwards, reset after each */
    ag_tensor *out;
    int64_t nout, rows;
    double *v;         /* fast mode: the projection, nout values */
    /* per input: */
    double *J[AG_GRADCHECK_MAX_INPUTS];          /* analytic Jacobian, rows x numel */
    double *saved_vals[AG_GRADCHECK_MAX_INPUTS]; /* the values to put back */
    ag_tensor *saved_grad[AG_GRADCHECK_MAX_INPUTS];
    double worst_excess[AG_GRADCHECK_MAX_INPUTS]; /* err / tol of each input's worst */
} check;

/* The tensor grad_out for row k: e_k, or v in fast mode. */
static ag_tensor *row_seed(check *c, int64_t k) {
    ag_tensor *g = ag_zeros_(c->graph, c->out->dtype, c->out->ndim, c->out->shape);
    if (!g) return NULL;
    if (c->v)
        for (int64_t i = 0; i < c->nout; i++) ag_set_flat_(g, i, c->v[i]);
    else
        ag_set_flat_(g, k, 1.0);
    return g;
}

/* a == b, with NaN equal to NaN: -0 and +0 agree (a gradient written in
 * one pass may be -0 where one accumulated into a zeroed buffer is +0). */
static bool same_value(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* Analytic rows into J[i] (rows x numel_i), twice; false if backward failed.
 * *reentrant is cleared when the two runs differ anywhere. */
static bool analytic(check *c, bool *reentrant) {
    double *const *J = c->J;
    *reentrant = true;
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t k = 0; k < c->rows; k++) {
            for (int i = 0; i < c->n; i++) ag_zero_grad(c->in[i]);
            ag_tensor *g = row_seed(c, k);
            if (!g) return false;
            if (c->out->requires_grad && !ag_backward_(c->out, g)) return false;
            for (int i = 0; i < c->n; i++) {
                ag_tensor *x = c->in[i];
                if (!J[i]) continue;
                double *row = J[i] + k * x->numel;
                for (int64_t j = 0; j < x->numel; j++) {
                    double a = x->grad ? ag_get_flat_(x->grad, j) : 0.0;
                    if (pass == 0) row[j] = a;
                    else if (!same_value(row[j], a)) *reentrant = false;
                }
            }
        }
    }
    return true;
}

/* f at the current input values, projected (fast) or whole, into y[rows]. */
static bool evaluate(check *c, double *y) {
    ag_arena_reset(c->scratch);
    bool was = ag_set_grad_enabled(false);
    ag_tensor *o = c->f(c->scratch, c->in, c->n, c->ud);
    ag_set_grad_enabled(was);
    if (!o || o->numel != c->nout) return false;
    if (c->v) {
        double s = 0;
        for (int64_t i = 0; i < c->nout; i++) s += c->v[i] * ag_get_flat_(o, i);
        y[0] = s;
    } else {
        ag_to_f64(o, y);
    }
    return true;
}

/* Compares column j of input i: analytic J against numeric. */
static void compare(check *c, int i, int64_t j, const double *num, ag_gradcheck_result *r) {
    const int64_t numel = c->in[i]->numel;
    const double *Ji = c->J[i];
    double *worst_excess = c->worst_excess;
    for (int64_t k = 0; k < c->rows; k++) {
        double a = Ji[k * numel + j], nv = num[k];
        const ag__gc_cmp m = ag__gc_compare(a, nv, c->o.atol, c->o.rtol);
        r->n_elements++;
        if (!(m.abs_err <= r->max_abs_err)) r->max_abs_err = m.abs_err;
        if (!(m.rel_err <= r->max_rel_err)) r->max_rel_err = m.rel_err;
        /* the worst entry is the one closest to failing: largest err / tol */
        if (m.excess > worst_excess[i] || r->worst[i].index < 0) {
            worst_excess[i] = m.excess;
            r->worst[i] = (ag_gradcheck_worst){j, c->v ? -1 : k, a, nv, m.abs_err, m.rel_err};
        }
        if (!m.ok) r->input_pass[i] = false;
    }
}

static bool validate(ag_gradcheck_fn f, int n, ag_tensor *const *in, const ag_gradcheck_opts *o) {
    if (!f || !in) {
        ag__fail("gradcheck", "function or inputs is NULL");
        return false;
    }
    if (n < 1 || n > AG_GRADCHECK_MAX_INPUTS) {
        ag__fail("gradcheck", "%d inputs: expected 1..%d", n, AG_GRADCHECK_MAX_INPUTS);
        return false;
    }
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (!in[i]) {
            ag__fail("gradcheck", "input %d is NULL", i);
            return false;
        }
        if (!in[i]->requires_grad) continue;
        any = true;
        if (in[i]->dtype != AG_F64 && !o->allow_non_f64) {
            ag__fail("gradcheck", "input %d %s is %s: finite differences need f64 (cast the "
                     "input with ag_cast, or set allow_non_f64 and loosen the tolerances)",
                     i, ag__shp(in[i]), ag_dtype_name(in[i]->dtype));
            return false;
        }
    }
    if (!any) {
        ag__fail("gradcheck", "no input requires a gradient: nothing to check");
        return false;
    }
    return true;
}

static void describe_failure(const check *c, ag_gradcheck_result *r) {
    for (int i = 0; i < c->n; i++) {
        if (!r->checked[i] || r->input_pass[i]) continue;
        const ag_gradcheck_worst *w = &r->worst[i];
        snprintf(r->message, sizeof r->message,
                 "input %d %s%s%s: element %lld (output %lld): analytic %.10g, numeric %.10g",
                 i, ag__shp(c->in[i]), c->in[i]->name ? " " : "",
                 c->in[i]->name ? c->in[i]->name : "", (long long)w->index,
                 (long long)w->out_index, w->analytic, w->numeric);
        return;
    }
    if (!r->reentrant)
        snprintf(r->message, sizeof r->message,
                 "backward is not reentrant: two runs with the same grad_out differ");
}

/* Step 1: the output, and the projection v in fast mode. */
static bool run_forward(check *c, ag_gradcheck_result *r) {
    c->out = c->f(c->graph, c->in, c->n, c->ud);
    if (!c->out) {
        snprintf(r->message, sizeof r->message, "the function returned NULL%s%s",
                 ag_last_error()[0] ? ": " : "", ag_last_error());
        return false;
    }
    c->nout = c->out->numel;
    c->rows = c->o.fast ? 1 : c->nout;
    if (!c->o.fast) return true;
    ag_rng rng;
    ag_rng_seed(&rng, c->o.seed);
    c->v = malloc((size_t)(c->nout ? c->nout : 1) * sizeof *c->v);
    if (!c->v) return false;
    for (int64_t i = 0; i < c->nout; i++) c->v[i] = ag_rng_normal(&rng);
    return true;
}

/* Step 2: room for the Jacobians, the inputs' values saved, and gradient
 * buffers lent from the graph arena. The inputs' own gradients are put back
 * by restore(); backward would otherwise allocate new ones in their arenas. */
static bool lend_buffers(check *c, ag_gradcheck_result *r) {
    int64_t entries = 0;
    for (int i = 0; i < c->n; i++)
        if (r->checked[i]) entries += c->rows * c->in[i]->numel;
    if (entries > MAX_ENTRIES) {
        snprintf(r->message, sizeof r->message,
                 "the Jacobian has %lld entries: too many for a full check; set fast",
                 (long long)entries);
        return false;
    }
    for (int i = 0; i < c->n; i++) {
        ag_tensor *x = c->in[i];
        x->grad = NULL;
        if (!r->checked[i]) continue;
        x->grad = ag_zeros_(c->graph, x->dtype, x->ndim, x->shape);
        c->J[i] = calloc((size_t)(c->rows * x->numel) + 1, sizeof **c->J);
        c->saved_vals[i] = malloc(((size_t)x->numel + 1) * sizeof **c->saved_vals);
        if (!x->grad || !c->J[i] || !c->saved_vals[i]) return false;
        ag_to_f64(x, c->saved_vals[i]);
    }
    return true;
}

/* Step 4: every element of every checked input perturbed by +-eps, the
 * central difference compared with the analytic column. */
static bool numeric(check *c, ag_gradcheck_result *r) {
    double *plus = malloc((size_t)(c->rows + 1) * sizeof *plus);
    double *num = malloc((size_t)(c->rows + 1) * sizeof *num);
    bool evaluated = plus && num;
    const double eps = c->o.eps;
    for (int i = 0; i < c->n && evaluated; i++) {
        if (!r->checked[i]) continue;
        ag_tensor *x = c->in[i];
        for (int64_t j = 0; j < x->numel && evaluated; j++) {
            const double x0 = c->saved_vals[i][j];
            ag_set_flat_(x, j, x0 + eps);
            evaluated = evaluate(c, plus);
            ag_set_flat_(x, j, x0 - eps);
            evaluated = evaluated && evaluate(c, num);
            ag_set_flat_(x, j, x0);
            for (int64_t k = 0; k < c->rows; k++) num[k] = (plus[k] - num[k]) / (2 * eps);
            if (evaluated) compare(c, i, j, num, r);
        }
    }
    if (!evaluated && plus && num)
        snprintf(r->message, sizeof r->message, "a perturbed evaluation failed%s%s",
                 ag_last_error()[0] ? ": " : "", ag_last_error());
    free(plus);
    free(num);
    return evaluated;
}

/* Last: the inputs' exact original values and own gradients back, whatever
 * happened; everything the check allocated freed. */
static void restore(check *c) {
    for (int i = 0; i < c->n; i++) {
        ag_tensor *x = c->in[i];
        if (c->saved_vals[i])
            for (int64_t j = 0; j < x->numel; j++) ag_set_flat_(x, j, c->saved_vals[i][j]);
        x->grad = c->saved_grad[i];
        free(c->J[i]);
        free(c->saved_vals[i]);
    }
    free(c->v);
    ag_arena_free(c->graph);
    ag_arena_free(c->scratch);
}

bool ag_gradcheck_(ag_gradcheck_fn f, int n, ag_tensor *const *inputs, void *userdata,
                   const ag_gradcheck_opts *opts, ag_gradcheck_result *result) {
    ag_gradcheck_result local;
    ag_gradcheck_result *r = result ? result : &local;
    memset(r, 0, sizeof *r);
    ag_gradcheck_opts o = opts ? *opts : (ag_gradcheck_opts){0};
    const bool tols_ok = ag__gc_tols_ok("gradcheck", o.eps, o.atol, o.rtol);
    if (o.eps == 0) o.eps = AG__GC_EPS;
    if (o.atol == 0) o.atol = AG__GC_ATOL;
    if (o.rtol == 0) o.rtol = AG__GC_RTOL;
    if (!tols_ok || !validate(f, n, inputs, &o)) {
        snprintf(r->message, sizeof r->message, "%s", ag_last_error());
        return false;
    }
    check c = {.f = f, .in = inputs, .n = n, .ud = userdata, .o = o};
    c.graph = ag_arena_new_(0);
    c.scratch = ag_arena_new_(0);
    r->n_inputs = n;
    for (int i = 0; i < n; i++) {
        c.saved_grad[i] = inputs[i]->grad;
        c.worst_excess[i] = -INFINITY;
        r->checked[i] = inputs[i]->requires_grad;
        r->input_pass[i] = true;
        r->worst[i].index = -1;
        r->worst[i].out_index = -1;
    }
    bool ok = c.graph && c.scratch && run_forward(&c, r) && lend_buffers(&c, r);
    if (ok && !analytic(&c, &r->reentrant)) { /* step 3 */
        snprintf(r->message, sizeof r->message, "backward failed: %s", ag_last_error());
        ok = false;
    }
    const bool compared = ok && numeric(&c, r); /* step 4 */
    ok = compared && r->reentrant;
    for (int i = 0; i < n; i++) ok = ok && r->input_pass[i];
    if (compared && !ok) describe_failure(&c, r);
    else if (!ok && !r->message[0])
        snprintf(r->message, sizeof r->message, "out of memory");
    restore(&c);
    r->pass = ok;
    return ok;
}

void ag_gradcheck_print(FILE *f, const ag_gradcheck_result *r, ag_tensor *const *inputs) {
    if (!f || !r) return;
    for (int i = 0; i < r->n_inputs && i < AG_GRADCHECK_MAX_INPUTS; i++) {
        if (!r->checked[i]) continue;
        const ag_gradcheck_worst *w = &r->worst[i];
        const ag_tensor *x = inputs ? inputs[i] : NULL;
        fprintf(f, "    input %d %s%s%s: worst element %lld", i, x ? ag__shp(x) : "",
                x && x->name ? " " : "", x && x->name ? x->name : "", (long long)w->index);
        if (w->out_index >= 0) fprintf(f, " (output %lld)", (long long)w->out_index);
        fprintf(f, ": analytic %.10g, numeric %.10g, abs %.3e, rel %.3e %s\n", w->analytic,
                w->numeric, w->abs_err, w->rel_err, r->input_pass[i] ? "ok" : "FAIL");
    }
}
