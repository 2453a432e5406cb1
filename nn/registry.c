/* nn/registry.c — the norm-layer registry and the utilities that consult it
 * (see ag/registry.h). The built-in norm types are added on first use, once
 * (pthread_once); every read and write of the table holds one mutex, so the
 * registry may be used from any thread at any time. No report is made while
 * the mutex is held (a handler may call back into the registry).
 *
 * POSIX threads rather than C11's <threads.h>: ThreadSanitizer (GCC 12's)
 * intercepts pthread calls only, and would miss the synchronisation. */
#include <pthread.h>
#include <string.h>

#include "ag/nn.h"
#include "internal.h"
#include "nn_internal.h"

/* The registered types, in registration order, and each one's constructor
 * (NULL: none); guarded by lock. */
static const ag_module_type *types[AG_NORM_REGISTRY_MAX];
static ag_norm_make_fn *makes[AG_NORM_REGISTRY_MAX];
static int ntypes;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t seeded = PTHREAD_ONCE_INIT;

static void seed_builtins(void) {
    _Static_assert(AG__BUILTIN_NORMS <= AG_NORM_REGISTRY_MAX, "room for the built-ins");
    for (ntypes = 0; ntypes < AG__BUILTIN_NORMS; ntypes++) {
        types[ntypes] = ag__builtin_norms[ntypes].type;
        makes[ntypes] = ag__builtin_norms[ntypes].make;
    }
}

/* Seeds the table on first use and takes the mutex (neither call can fail
 * here: the once routine and the default mutex are used as POSIX allows). */
static void enter(void) {
    (void)pthread_once(&seeded, seed_builtins);
    (void)pthread_mutex_lock(&lock);
}

static void leave(void) { (void)pthread_mutex_unlock(&lock); }

/* t's slot, or -1; the caller holds the mutex. */
static int slot_of(const ag_module_type *t) {
    for (int i = 0; t && i < ntypes; i++)
        if (types[i] == t) return i;
    return -1;
}

bool ag_norm_is_registered(const ag_module_type *t) {
    enter();
    const int i = slot_of(t);
    leave();
    return i >= 0;
}

bool ag_module_is_norm(const ag_module *m) { return m && ag_norm_is_registered(m->type); }

ag_norm_make_fn *ag_norm_maker(const ag_module_type *t) {
    enter();
    const int i = slot_of(t);
    ag_norm_make_fn *make = i >= 0 ? makes[i] : NULL;
    leave();
    return make;
}

/* Registers t (keeping its constructor when make is NULL). */
static bool add(const char *op, const ag_module_type *t, ag_norm_make_fn *make) {
    enter();
    int i = slot_of(t);
    if (i < 0 && ntypes < AG_NORM_REGISTRY_MAX) {
        i = ntypes++;
        types[i] = t;
        makes[i] = NULL;
    }
    if (i >= 0 && make) makes[i] = make;
    leave();
    if (i < 0) {
        ag__fail(op, "cannot register %s: the registry holds %d types already",
                 t->name ? t->name : "(unnamed)", AG_NORM_REGISTRY_MAX);
        return false;
    }
    return true;
}

bool ag_norm_register_(const ag_module_type *t) {
    if (!t) {
        ag__fail("norm_register", "module type is NULL");
        return false;
    }
    return add("norm_register", t, NULL);
}

bool ag_norm_register_make_(const ag_module_type *t, ag_norm_make_fn *make) {
    if (!t || !make) {
        ag__fail("norm_register_make", "%s is NULL: expected a module type and its constructor",
                 t ? "the constructor" : "module type");
        return false;
    }
    return add("norm_register_make", t, make);
}

int ag_norm_types(const ag_module_type **out, int max) {
    enter();
    for (int i = 0; out && i < ntypes && i < max; i++) out[i] = types[i];
    const int n = ntypes;
    leave();
    return n;
}

/* ---- weight-decay groups -------------------------------------------------- */

/* Hugging Face Trainer: decay = parameters outside norm layers, minus those
 * whose name contains "bias". */
bool ag_param_is_no_decay(const ag_named_param *p) {
    return p && (ag_module_is_norm(p->owner) || strstr(p->name, "bias"));
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
        if (ag_param_is_no_decay(&all[i])) g.no_decay[g.nno_decay++] = all[i];
        else g.decay[g.ndecay++] = all[i];
    }
    return g;
}
