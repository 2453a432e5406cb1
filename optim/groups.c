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

/* Every parameter of m that requires a gradient, once each, into *out (an
 * array of at least that many in A); *nall and *all receive the named list.
 * Returns the count, or -1 after a report (or for a NULL m, without one). */
static int trainable(const char *op, ag_module *m, ag_arena *A, ag_named_param **all, int *nall,
                     ag_tensor ***out) {
    if (!m) return -1;
    if (!A) {
        ag__fail(op, "arena is NULL");
        return -1;
    }
    *nall = ag_module_parameters_(m, A, all);
    if (*nall < 0) return -1;
    *out = ag_arena_alloc_(A, (size_t)(*nall ? *nall : 1) * sizeof **out);
    if (!*out) return -1;
    int n = 0;
    for (int i = 0; i < *nall; i++) {
        ag_tensor *t = (*all)[i].tensor;
        if (t->requires_grad && !listed(*out, n, t)) (*out)[n++] = t;
    }
    return n;
}

static const ag_optim_groups FAILED = {NULL, -1, NULL};

ag_optim_groups ag_optim_groups_of_module_(ag_module *m, ag_arena *A) {
    ag_named_param *all;
    ag_tensor **params;
    int nall;
    const int n = trainable("optim_groups_of_module", m, A, &all, &nall, &params);
    ag_optim_group *g = n < 0 ? NULL : ag_arena_alloc_(A, sizeof *g);
    if (!g) return FAILED;
    *g = ag_optim_group_of(params, n);
    return (ag_optim_groups){g, 1, m};
}

ag_optim_groups ag_optim_groups_from_model_(ag_module *m, ag_arena *A, double lr,
                                            double weight_decay) {
    ag_named_param *all;
    ag_tensor **params;
    int nall;
    const int n = trainable("optim_groups_from_model", m, A, &all, &nall, &params);
    if (n < 0) return FAILED;
    ag_optim_group *g = ag_arena_alloc_(A, 2 * sizeof *g);
    ag_tensor **no_decay = ag_arena_alloc_(A, (size_t)(n ? n : 1) * sizeof *no_decay);
    if (!g || !no_decay) return FAILED;
    /* params is reused for the decay group: it is filled no faster than read */
    g[0] = (ag_optim_group){params, 0, lr, weight_decay};
    g[1] = (ag_optim_group){no_decay, 0, lr, 0.0};
    int next = 0; /* the next trainable parameter, in params' order */
    for (int i = 0; i < nall && next < n; i++) {
        if (all[i].tensor != params[next]) continue; /* frozen, or a later name of a tied one */
        ag_tensor *t = params[next++];
        if (ag_param_is_no_decay(&all[i])) no_decay[g[1].nparams++] = t;
        else params[g[0].nparams++] = t;
    }
    return (ag_optim_groups){g, 2, m};
}
