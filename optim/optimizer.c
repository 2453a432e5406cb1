/* optim/optimizer.c — what every optimizer shares (see ag/optim.h): checking
 * and copying the parameter groups, the step loop over parameters (skip
 * those without a gradient, allocate state on first use, the bf16 master
 * copy), zero_grad, the lr of the groups and state lookup. The update rules
 * themselves are in adamw.c and sgd.c. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "optim_internal.h"

bool ag__optim_check(const char *op, const char *what, double v, double lo, double hi,
                     bool hi_open) {
    bool ok = v >= lo && (hi_open ? v < hi : v <= hi); /* false for NAN */
    if (ok) return true;
    if (isinf(hi)) ag__fail(op, "invalid %s %g: expected >= %g", what, v, lo);
    else ag__fail(op, "invalid %s %g: expected a value in [%g, %g%c", what, v, lo, hi,
                  hi_open ? ')' : ']');
    return false;
}

ag_tensor *ag__optim_buffer(ag_optim *o, const ag_tensor *param) {
    return ag_zeros_(o->arena, ag_compute_dtype(param->dtype), param->ndim, param->shape);
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

ag_optim *ag__optim_new(const char *op, ag_optim_kind kind, const char *name, ag_arena *P,
                        const ag_optim_group *groups, int ngroups, double lr,
                        double weight_decay) {
    if (!P) {
        ag__fail(op, "arena is NULL");
        return NULL;
    }
    if (ngroups < 1 || !groups) {
        ag__fail(op, "no parameter groups (%d, list %s): expected at least one group", ngroups,
                 groups ? "given" : "NULL");
        return NULL;
    }
    int64_t total = 0;
    for (int g = 0; g < ngroups; g++) {
        const ag_optim_group *G = &groups[g];
        if (G->nparams < 0 || (G->nparams > 0 && !G->params)) {
            ag__fail(op, "group %d lists %d parameters from a %s array: expected nparams >= 0 "
                     "and an array when nparams > 0",
                     g, G->nparams, G->params ? "non-NULL" : "NULL");
            return NULL;
        }
        total += G->nparams;
    }
    if (total == 0) {
        ag__fail(op, "optimizer got an empty parameter list (%d groups, no parameters)", ngroups);
        return NULL;
    }
    if (total > INT32_MAX) {
        ag__fail(op, "too many parameters (%lld): at most %d", (long long)total, INT32_MAX);
        return NULL;
    }
    for (int g = 0; g < ngroups; g++) {
        for (int i = 0; i < groups[g].nparams; i++) {
            const ag_tensor *p = groups[g].params[i];
            if (!p) return NULL; /* an earlier failure, already reported */
            if (!ag_dtype_is_float(p->dtype)) {
                ag__fail(op, "parameter %d of group %d (%s %s) is %s: expected f32, f64 or bf16",
                         i, g, param_label(p), ag__shp(p), ag_dtype_name(p->dtype));
                return NULL;
            }
            if (!ag_is_leaf(p)) {
                ag__fail(op, "parameter %d of group %d (%s %s) is not a leaf (made by %s): "
                         "an optimizer updates leaf tensors only", i, g, param_label(p),
                         ag__shp(p), p->op && p->op->name ? p->op->name : "an op");
                return NULL;
            }
        }
        double glr = isnan(groups[g].lr) ? lr : groups[g].lr;
        double gwd = isnan(groups[g].weight_decay) ? weight_decay : groups[g].weight_decay;
        if (isnan(glr) || isnan(gwd)) { /* the options' own value was NAN */
            ag__fail(op, "group %d: invalid lr %g or weight_decay %g: expected values >= 0", g,
                     glr, gwd);
            return NULL;
        }
        char what[64];
        snprintf(what, sizeof what, "learning rate (group %d)", g);
        if (!ag__optim_check(op, what, glr, 0, INFINITY, false)) return NULL;
        snprintf(what, sizeof what, "weight_decay (group %d)", g);
        if (!ag__optim_check(op, what, gwd, 0, INFINITY, false)) return NULL;
    }

    ag_optim *o = ag_arena_calloc_(P, sizeof *o);
    ag_tensor **params = ag_arena_alloc_(P, (size_t)total * sizeof *params);
    ag_optim_state *state = ag_arena_calloc_(P, (size_t)total * sizeof *state);
    ag_optim_group *gs = ag_arena_alloc_(P, (size_t)ngroups * sizeof *gs);
    double *initial_lr = ag_arena_alloc_(P, (size_t)ngroups * sizeof *initial_lr);
    if (!o || !params || !state || !gs || !initial_lr) return NULL;

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
        }
    }
    const ag_tensor *dup = find_duplicate(params, n);
    if (dup) {
        ag__fail(op, "parameter %s %s appears more than once in the parameter groups",
                 param_label(dup), ag__shp(dup));
        return NULL;
    }
    o->kind = kind;
    o->name = name;
    o->arena = P;
    o->ngroups = ngroups;
    o->groups = gs;
    o->initial_lr = initial_lr;
    o->nparams = n;
    o->state = state;
    return o;
}

/* ---- the step ------------------------------------------------------------------ */

/* Does t (a state tensor, possibly NULL) still fit p? */
static bool fits(const ag_tensor *t, const ag_tensor *p, ag_dtype dt) {
    return !t || (t->dtype == dt && t->numel == p->numel);
}

static bool state_fits(const ag_optim_state *st) {
    const ag_tensor *p = st->param;
    ag_dtype dt = ag_compute_dtype(p->dtype);
    return p->grad->dtype == p->dtype && p->grad->numel == p->numel && fits(st->exp_avg, p, dt) &&
           fits(st->exp_avg_sq, p, dt) && fits(st->max_exp_avg_sq, p, dt) &&
           fits(st->momentum_buffer, p, dt) &&
           (!st->master || (p->dtype == AG_BF16 && fits(st->master, p, AG_F32)));
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
        if (p->dtype == AG_BF16 && !st->master) { /* the f32 master copy, made once */
            st->master = ag_empty_(o->arena, AG_F32, p->ndim, p->shape);
            if (!st->master) return false;
            const uint16_t *src = p->data;
            float *dst = st->master->data;
            for (int64_t k = 0; k < p->numel; k++) dst[k] = ag_bf16_to_f32(src[k]);
        }
        const ag_optim_group *g = &o->groups[st->group];
        st->step++;
        bool ok = o->kind == AG_OPTIM_SGD ? ag__sgd_update(o, st, g->lr, g->weight_decay)
                                          : ag__adam_update(o, st, g->lr, g->weight_decay);
        if (!ok) {
            st->step--;
            return false;
        }
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
