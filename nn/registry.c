/* nn/registry.c — the norm-layer registry and the utilities that consult it
 * (see ag/registry.h). The built-in norm types are added the first time the
 * registry is read or written. */
#include <string.h>

#include "ag/nn.h"
#include "internal.h"
#include "nn_internal.h"

static const ag_module_type *types[AG_NORM_REGISTRY_MAX];
static int ntypes;
static bool seeded;

static void seed_builtins(void) {
    if (seeded) return;
    seeded = true;
    ntypes = ag__builtin_norm_types(types, AG_NORM_REGISTRY_MAX);
}

bool ag_norm_is_registered(const ag_module_type *t) {
    seed_builtins();
    for (int i = 0; t && i < ntypes; i++)
        if (types[i] == t) return true;
    return false;
}

bool ag_module_is_norm(const ag_module *m) { return m && ag_norm_is_registered(m->type); }

bool ag_norm_register_(const ag_module_type *t) {
    if (!t) {
        ag__fail("norm_register", "module type is NULL");
        return false;
    }
    if (ag_norm_is_registered(t)) return true;
    if (ntypes == AG_NORM_REGISTRY_MAX) {
        ag__fail("norm_register", "cannot register %s: the registry holds %d types already",
                 t->name ? t->name : "(unnamed)", AG_NORM_REGISTRY_MAX);
        return false;
    }
    types[ntypes++] = t;
    return true;
}

int ag_norm_types(const ag_module_type **out, int max) {
    seed_builtins();
    for (int i = 0; out && i < ntypes && i < max; i++) out[i] = types[i];
    return ntypes;
}

/* ---- weight-decay groups -------------------------------------------------- */

/* Hugging Face Trainer: decay = parameters outside norm layers, minus those
 * whose name contains "bias". */
static bool decays(const ag_named_param *p) {
    return !ag_module_is_norm(p->owner) && !strstr(p->name, "bias");
}

ag_param_groups ag_decay_groups_(ag_module *m, ag_arena *A) {
    ag_param_groups g = {0};
    if (m && !A) {
        ag__fail("decay_groups", "arena is NULL");
        return g;
    }
    ag_named_param *all;
    int n = ag_module_parameters_(m, A, &all);
    if (n < 0) return g;
    g.decay = ag_arena_alloc_(A, (size_t)(n ? n : 1) * sizeof *all);
    g.no_decay = ag_arena_alloc_(A, (size_t)(n ? n : 1) * sizeof *all);
    if (!g.decay || !g.no_decay) return (ag_param_groups){0};
    for (int i = 0; i < n; i++) {
        if (decays(&all[i])) g.decay[g.ndecay++] = all[i];
        else g.no_decay[g.nno_decay++] = all[i];
    }
    return g;
}
