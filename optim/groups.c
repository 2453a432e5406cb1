/* optim/groups.c — parameter groups built from a model: one group of every
 * trainable parameter, or Hugging Face Trainer's decay / no-decay pair in
 * one walk over the parameters, asking the norm-layer registry's rule
 * (ag_param_is_no_decay) about each. A parameter registered under two
 * names (tied weights) is listed once, under its first name, as PyTorch's
 * named_parameters() does. */
#include "ag/registry.h"
#include "internal.h"
#include "optim_internal.h"

ag_optim_group ag_optim_group_of(ag_tensor **params, int nparams) {
    return (ag_optim_group){params, nparams, AG_OPTIM_INHERIT, AG_OPTIM_INHERIT};
}

static bool listed(ag_tensor *const *list, int n, const ag_tensor *t) {
    for (int i = 0; i < n; i++)
        if (list[i] == t) return true;
    return false;
}

ag_optim_group ag_optim_group_of_module_(ag_module *m, ag_arena *A) {
    ag_optim_group g = ag_optim_group_of(NULL, 0);
    if (!m) return g;
    if (!A) {
        ag__fail("optim_group_of_module", "arena is NULL");
        return g;
    }
    ag_named_param *all;
    int n = ag_module_parameters_(m, A, &all);
    if (n < 0) return g;
    g.params = ag_arena_alloc_(A, (size_t)(n ? n : 1) * sizeof *g.params);
    if (!g.params) return g;
    for (int i = 0; i < n; i++) {
        ag_tensor *t = all[i].tensor;
        if (t->requires_grad && !listed(g.params, g.nparams, t)) g.params[g.nparams++] = t;
    }
    return g;
}

ag_optim_group *ag_optim_groups_from_model_(ag_module *m, ag_arena *A, double lr,
                                            double weight_decay) {
    if (!m) return NULL;
    if (!A) {
        ag__fail("optim_groups_from_model", "arena is NULL");
        return NULL;
    }
    ag_named_param *all;
    int n = ag_module_parameters_(m, A, &all);
    if (n < 0) return NULL;
    ag_optim_group *g = ag_arena_alloc_(A, 2 * sizeof *g);
    ag_tensor **decay = ag_arena_alloc_(A, (size_t)(n ? n : 1) * sizeof *decay);
    ag_tensor **no_decay = ag_arena_alloc_(A, (size_t)(n ? n : 1) * sizeof *no_decay);
    if (!g || !decay || !no_decay) return NULL;
    g[0] = (ag_optim_group){decay, 0, lr, weight_decay};
    g[1] = (ag_optim_group){no_decay, 0, lr, 0.0};
    for (int i = 0; i < n; i++) {
        ag_tensor *t = all[i].tensor;
        if (!t->requires_grad || listed(decay, g[0].nparams, t) ||
            listed(no_decay, g[1].nparams, t))
            continue; /* frozen, or tied to an earlier name that decided */
        if (ag_param_is_no_decay(&all[i])) no_decay[g[1].nparams++] = t;
        else decay[g[0].nparams++] = t;
    }
    return g;
}
