/* optim/groups.c — parameter groups built from a model: one group of every
 * trainable parameter, or Hugging Face Trainer's decay / no-decay pair,
 * which asks the norm-layer registry (ag_decay_groups) which parameters
 * belong to norm layers. A parameter registered under two names (tied
 * weights) is listed once, under its first name, as PyTorch's
 * named_parameters() does. */
#include <string.h>

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
    /* ag_decay_groups splits the parameters in visit order into two lists
     * that keep that order; walking the full list alongside tells which
     * list each occurrence went to, so the first one decides. */
    ag_param_groups split = ag_decay_groups_(m, A);
    ag_named_param *all;
    int n = ag_module_parameters_(m, A, &all);
    if (n < 0 || n != split.ndecay + split.nno_decay) return NULL;
    ag_optim_group *g = ag_arena_alloc_(A, 2 * sizeof *g);
    ag_tensor **decay = ag_arena_alloc_(A, (size_t)(n ? n : 1) * sizeof *decay);
    ag_tensor **no_decay = ag_arena_alloc_(A, (size_t)(n ? n : 1) * sizeof *no_decay);
    if (!g || !decay || !no_decay) return NULL;
    g[0] = (ag_optim_group){decay, 0, lr, weight_decay};
    g[1] = (ag_optim_group){no_decay, 0, lr, 0.0};
    int d = 0;
    for (int i = 0; i < n; i++) {
        bool decays = d < split.ndecay && split.decay[d].tensor == all[i].tensor &&
                      strcmp(split.decay[d].name, all[i].name) == 0;
        if (decays) d++;
        ag_tensor *t = all[i].tensor;
        if (!t->requires_grad || listed(decay, g[0].nparams, t) ||
            listed(no_decay, g[1].nparams, t))
            continue;
        if (decays) decay[g[0].nparams++] = t;
        else no_decay[g[1].nparams++] = t;
    }
    return g;
}
