/* optim/optimizer.c — what every optimizer shares (see ag/optim.h): checking
 * the options through the type and copying them, checking and copying the
 * parameter groups, the step loop over parameters (skip those without a
 * gradient, make the bf16 master copy and the type's state buffers on first
 * use), zero_grad, the lr of the groups and state lookup. It knows no
 * optimizer: the update rules are the types' (sgd.c, adam.c, rmsprop.c,
 * adagrad.c). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "optim_internal.h"

bool ag__optim_in_range(char *why, size_t size, const char *what, double v, double lo,
                        double hi, bool hi_open) {
    bool ok = isfinite(v) && v >= lo && (hi_open ? v < hi : v <= hi); /* false for NAN */
    if (ok) return true;
    if (isinf(hi)) snprintf(why, size, "invalid %s %g: expected a finite value >= %g", what, v, lo);
    else snprintf(why, size, "invalid %s %g: expected a value in [%g, %g%c", what, v, lo, hi,
                  hi_open ? ')' : ']');
    return false;
}

bool ag__optim_check(const char *op, const char *what, double v, double lo, double hi,
                     bool hi_open) {
    char why[200];
    if (ag__optim_in_range(why, sizeof why, what, v, lo, hi, hi_open)) return true;
    ag__fail(op, "%s", why);
    return false;
}

/* ---- construction ------------------------------------------------------------ */

static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (ag_tensor *const *)a, y = (uintptr_t) * (ag_tensor *const *)b;
    return (x > y) - (x < y);
}

/* The first parameter that appears twice in list[n], or NULL. */
static const ag_tensor *find_duplicate(ag_tensor *const *list, int n) {
    if (n < 2) return NULL;
    ag_tensor **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) { /* fall back to the quadratic search */
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (list[i] == list[j]) return list[i];
        return NULL;
    }
    memcpy(sorted, list, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_ptr);
    const ag_tensor *dup = NULL;
    for (int i = 1; i < n && !dup; i++)
        if (sorted[i] == sorted[i - 1]) dup = sorted[i];
    free(sorted);
    return dup;
}

static const char *param_label(const ag_tensor *p) { return p->name ? p->name : "unnamed"; }

/* The type can build an optimizer from opts: it has a name and an update,
 * the options are there and its check accepts them. */
static bool type_accepts(const char *op, const ag_optim_type *type, const void *opts) {
    if (!type) {
        ag__fail(op, "optimizer type is NULL: expected a type such as ag_adamw_type");
        return false;
    }
    if (!type->name || !type->update) {
        ag__fail(op, "optimizer type %s has no %s: expected a name and an update function",
                 type->name ? type->name : "(unnamed)", type->name ? "update function" : "name");
        return false;
    }
    if (!opts && type->opts_size > 0) {
        ag__fail(op, "%s: options are NULL: expected %zu bytes of options", type->name,
                 type->opts_size);
        return false;
    }
    char why[200];
    if (type->check && !type->check(opts, why, sizeof why)) {
        ag__fail(op, "%s", why);
        return false;
    }
    return true;
}

/* The names of the buffers an optimizer of type with opts uses, into
 * names[AG_OPTIM_MAX_BUFFERS]; returns how many. */
static int used_buffers(const ag_optim_type *type, const void *opts, const char **names) {
    int n = 0;
    for (int j = 0; j < AG_OPTIM_MAX_BUFFERS && type->buffers[j]; j++)
        if (!type->uses_buffer || type->uses_buffer(opts, type->buffers[j]))
            names[n++] = type->buffers[j];
    return n;
}

/* Reports and returns false unless every group is well formed and every
 * parameter a float leaf; *total receives the number of parameters. */
static bool groups_ok(const char *op, ag_optim_groups gl, double lr, double weight_decay,
                      int64_t *total) {
    const ag_optim_group *groups = gl.groups;
    const int ngroups = gl.ngroups;
    if (ngroups < 1 || !groups) {
        ag__fail(op, "no parameter groups (%d, list %s): expected at least one group", ngroups,
                 groups ? "given" : "NULL");
        return false;
    }
    *total = 0;
    for (int g = 0; g < ngroups; g++) {
        const ag_optim_group *G = &groups[g];
        if (G->nparams < 0 || (G->nparams > 0 && !G->params)) {
            ag__fail(op, "group %d lists %d parameters from a %s array: expected nparams >= 0 "
                     "and an array when nparams > 0",
                     g, G->nparams, G->params ? "non-NULL" : "NULL");
            return false;
        }
        *total += G->nparams;
    }
    if (*total == 0) {
        ag__fail(op, "optimizer got an empty parameter list (%d groups, no parameters)", ngroups);
        return false;
    }
    if (*total > INT32_MAX) {
        ag__fail(op, "too many parameters (%lld): at most %d", (long long)*total, INT32_MAX);
        return false;
    }
    for (int g = 0; g < ngroups; g++) {
        for (int i = 0; i < groups[g].nparams; i++) {
            const ag_tensor *p = groups[g].params[i];
            if (!p) return false; /* an earlier failure, already reported */
            if (!ag__check_live(op, p)) return false;
            if (!ag_dtype_is_float(p->dtype)) {
                ag__fail(op, "parameter %d of group %d (%s %s) is %s: expected f32, f64 or bf16",
                         i, g, param_label(p), ag__shp(p), ag_dtype_name(p->dtype));
                return false;
            }
            if (!ag_is_leaf(p)) {
                ag__fail(op, "parameter %d of group %d (%s %s) is not a leaf (made by %s): "
                         "an optimizer updates leaf tensors only", i, g, param_label(p),
                         ag__shp(p), p->op && p->op->name ? p->op->name : "an op");
                return false;
            }
        }
        double glr = isnan(groups[g].lr) ? lr : groups[g].lr;
        double gwd = isnan(groups[g].weight_decay) ? weight_decay : groups[g].weight_decay;
        if (isnan(glr) || isnan(gwd)) { /* the options' own value was NAN */
            ag__fail(op, "group %d: invalid lr %g or weight_decay %g: expected values >= 0", g,
                     glr, gwd);
            return false;
        }
        char what[64];
        snprintf(what, sizeof what, "learning rate (group %d)", g);
        if (!ag__optim_check(op, what, glr, 0, INFINITY, false)) return false;
        snprintf(what, sizeof what, "weight_decay (group %d)", g);
        if (!ag__optim_check(op, what, gwd, 0, INFINITY, false)) return false;
    }
    return true;
}

/* ---- a model's parameters, each in exactly one group ----------------------------- */

typedef struct {
    const char *op;
    ag_optim_groups gl;
    bool failed;
} coverage;

/* The groups that list t: how many, and the first two. */
static int groups_listing(ag_optim_groups gl, const ag_tensor *t, int *first, int *second) {
    int n = 0;
    for (int g = 0; g < gl.ngroups; g++)
        for (int i = 0; i < gl.groups[g].nparams; i++)
            if (gl.groups[g].params[i] == t) {
                if (n == 0) *first = g;
                else if (n == 1) *second = g;
                n++;
                break; /* twice in one group: the duplicate check names it */
            }
    return n;
}

static void check_covered(const ag_named_param *p, void *userdata) {
    coverage *c = userdata;
    if (c->failed || !p->tensor->requires_grad) return;
    int first = -1, second = -1;
    const int n = groups_listing(c->gl, p->tensor, &first, &second);
    if (n == 1) return;
    c->failed = true;
    if (n == 0)
        ag__fail(c->op, "parameter '%s' %s requires a gradient but is in none of the %d "
                 "groups: add it to one, or freeze it (ag_set_requires_grad(p, false))",
                 p->name, ag__shp(p->tensor), c->gl.ngroups);
    else
        ag__fail(c->op, "parameter '%s' %s is in groups %d and %d: each parameter belongs to "
                 "exactly one group", p->name, ag__shp(p->tensor), first, second);
}

/* With a model: reports the first trainable parameter of it that is in no
 * group or in two, under its dotted name. */
static bool model_covered(const char *op, ag_optim_groups gl) {
    if (!gl.model) return true;
    coverage c = {op, gl, false};
    ag_module_visit_params(gl.model, check_covered, &c);
    return !c.failed;
}

ag_optim *ag__optim_new(const char *op, ag_arena *P, const ag_optim_type *type, const void *opts,
                        ag_optim_groups gl, double lr, double weight_decay) {
    if (!type_accepts(op, type, opts)) return NULL;
    if (!P) {
        ag__fail(op, "arena is NULL");
        return NULL;
    }
    if (gl.ngroups < 0) return NULL; /* building the list failed */
    int64_t total;
    if (!groups_ok(op, gl, lr, weight_decay, &total) || !model_covered(op, gl)) return NULL;
    const ag_optim_group *groups = gl.groups;
    const int ngroups = gl.ngroups;
    const char *names[AG_OPTIM_MAX_BUFFERS];
    const int nbuf = used_buffers(type, opts, names);

    ag_optim *o = ag_arena_calloc_(P, sizeof *o);
    ag_tensor **params = ag_arena_alloc_(P, (size_t)total * sizeof *params);
    ag_optim_state *state = ag_arena_calloc_(P, (size_t)total * sizeof *state);
    ag_optim_buffer *bufs = ag_arena_calloc_(P, (size_t)(total * nbuf + 1) * sizeof *bufs);
    ag_optim_group *gs = ag_arena_alloc_(P, (size_t)ngroups * sizeof *gs);
    double *initial_lr = ag_arena_alloc_(P, (size_t)ngroups * sizeof *initial_lr);
    void *opts_copy = ag_arena_alloc_(P, type->opts_size ? type->opts_size : 1);
    if (!o || !params || !state || !bufs || !gs || !initial_lr || !opts_copy) return NULL;
    if (type->opts_size) memcpy(opts_copy, opts, type->opts_size);

    int n = 0;
    for (int g = 0; g < ngroups; g++) {
        gs[g] = (ag_optim_group){
            .params = params + n,
            .nparams = groups[g].nparams,
            .lr = isnan(groups[g].lr) ? lr : groups[g].lr,
            .weight_decay = isnan(groups[g].weight_decay) ? weight_decay : groups[g].weight_decay,
        };
        initial_lr[g] = gs[g].lr;
        for (int i = 0; i < groups[g].nparams; i++, n++) {
            params[n] = groups[g].params[i];
            state[n].param = params[n];
            state[n].group = g;
            state[n].nbuffers = nbuf;
            state[n].buffers = bufs + (size_t)n * nbuf;
            for (int j = 0; j < nbuf; j++) state[n].buffers[j].name = names[j];
        }
    }
    const ag_tensor *dup = find_duplicate(params, n);
    if (dup) {
        ag__fail(op, "parameter %s %s appears more than once in the parameter groups",
                 param_label(dup), ag__shp(dup));
        return NULL;
    }
    o->type = type;
    o->name = type->name;
    o->arena = P;
    o->opts = opts_copy;
    o->ngroups = ngroups;
    o->groups = gs;
    o->initial_lr = initial_lr;
    o->nparams = n;
    o->state = state;
    return o;
}

ag_optim *ag_optim_new_(ag_arena *P, const ag_optim_type *type, const void *opts,
                        ag_optim_groups groups, double lr, double weight_decay) {
    return ag__optim_new("optim_new", P, type, opts, groups, lr, weight_decay);
}

/* ---- the step ------------------------------------------------------------------ */

/* Does t (a state tensor, possibly NULL) still fit p? */
static bool fits(const ag_tensor *t, const ag_tensor *p, ag_dtype dt) {
    return !t || (t->dtype == dt && t->numel == p->numel);
}

static bool state_fits(const ag_optim_state *st) {
    const ag_tensor *p = st->param;
    ag_dtype dt = ag_compute_dtype(p->dtype);
    if (p->grad->dtype != p->dtype || p->grad->numel != p->numel) return false;
    for (int j = 0; j < st->nbuffers; j++)
        if (!fits(st->buffers[j].tensor, p, dt)) return false;
    return !st->master || (p->dtype == AG_BF16 && fits(st->master, p, AG_F32));
}

/* Makes what st lacks before an update: a bf16 parameter's f32 master copy
 * (from the parameter) and zeroed buffers. false when out of memory. */
static bool make_state(ag_optim *o, ag_optim_state *st) {
    const ag_tensor *p = st->param;
    if (p->dtype == AG_BF16 && !st->master) {
        st->master = ag_empty_(o->arena, AG_F32, p->ndim, p->shape);
        if (!st->master) return false;
        const uint16_t *src = p->data;
        float *dst = st->master->data;
        for (int64_t k = 0; k < p->numel; k++) dst[k] = ag_bf16_to_f32(src[k]);
    }
    for (int j = 0; j < st->nbuffers; j++) {
        ag_optim_buffer *b = &st->buffers[j];
        if (b->tensor) continue;
        b->tensor = ag_zeros_(o->arena, ag_compute_dtype(p->dtype), p->ndim, p->shape);
        if (!b->tensor) return false;
    }
    return true;
}

bool ag_optim_step_(ag_optim *o) {
    if (!o) return false;
    for (int i = 0; i < o->nparams; i++) {
        ag_optim_state *st = &o->state[i];
        ag_tensor *p = st->param;
        if (!p->grad) continue; /* PyTorch skips parameters whose .grad is None */
        if (!state_fits(st)) {
            ag__fail("optim_step", "%s: parameter %d (%s %s %s) no longer matches its gradient "
                     "or optimizer state (was it cast or replaced after the optimizer was made?)",
                     o->name, i, param_label(p), ag_dtype_name(p->dtype), ag__shp(p));
            return false;
        }
        if (!make_state(o, st)) return false;
        const ag_optim_group *g = &o->groups[st->group];
        st->step++;
        o->type->update(o, st, g->lr, g->weight_decay);
    }
    o->steps++;
    return true;
}

void ag_optim_zero_grad(ag_optim *o) {
    if (!o) return;
    for (int i = 0; i < o->nparams; i++) ag_zero_grad(o->state[i].param);
}

bool ag_optim_set_lr_(ag_optim *o, double lr) {
    if (!o) return false;
    if (!ag__optim_check("optim_set_lr", "learning rate", lr, 0, INFINITY, false)) return false;
    for (int g = 0; g < o->ngroups; g++) o->groups[g].lr = lr;
    return true;
}

ag_optim_state *ag_optim_state_of(ag_optim *o, const ag_tensor *param) {
    if (!o || !param) return NULL;
    for (int i = 0; i < o->nparams; i++)
        if (o->state[i].param == param) return &o->state[i];
    return NULL;
}

ag_tensor *ag_optim_state_buffer(const ag_optim_state *st, const char *name) {
    if (!st || !name) return NULL;
    for (int j = 0; j < st->nbuffers; j++)
        if (strcmp(st->buffers[j].name, name) == 0) return st->buffers[j].tensor;
    return NULL;
}

void ag__optim_buffers(const ag_optim_type *type, const ag_optim_state *st, ag_tensor **bufs,
                       int n) {
    for (int j = 0; j < n; j++) bufs[j] = ag_optim_state_buffer(st, type->buffers[j]);
}
