/* nn/containers.c — ModuleList (a plain list) and Sequential (a list whose
 * forward runs its children in order). Both name their children "0", "1",
 * ... as PyTorch does. */
#include <stdio.h>

#include "ag/nn.h"
#include "internal.h"
#include "nn_internal.h"

static bool append_indexed(const char *op, ag_module *m, ag_module *child) {
    char name[24];
    snprintf(name, sizeof name, "%d", m->nchildren);
    return ag__module_add_child(op, m, name, child);
}

static void *container_new(const char *op, ag_arena *P, size_t size, const ag_module_type *type) {
    if (!P) {
        ag__fail(op, "arena is NULL");
        return NULL;
    }
    ag_module *m = ag_arena_calloc_(P, size);
    if (m) ag_module_init(m, type, P);
    return m;
}

/* ---- nn.ModuleList ---------------------------------------------------------- */

static const ag_module_type MODULE_LIST = {"ModuleList", NULL, NULL};

ag_module_list *ag_module_list_new_(ag_arena *P) {
    return container_new("module_list_new", P, sizeof(ag_module_list), &MODULE_LIST);
}

bool ag_module_list_append_(ag_module_list *l, ag_module *child) {
    return l && append_indexed("module_list_append", &l->base, child);
}

/* ---- nn.Sequential ---------------------------------------------------------- */

static ag_tensor *sequential_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    return ag_nn_sequential_forward_(A, (ag_nn_sequential *)m, x);
}

const ag_module_type ag_nn_sequential_type = {"Sequential", sequential_forward, NULL};

ag_nn_sequential *ag_nn_sequential_new_(ag_arena *P) {
    return container_new("nn_sequential_new", P, sizeof(ag_nn_sequential), &ag_nn_sequential_type);
}

bool ag_nn_sequential_append_(ag_nn_sequential *s, ag_module *child) {
    return s && append_indexed("nn_sequential_append", &s->base, child);
}

ag_nn_sequential *ag_nn_sequential_of_(ag_arena *P, ag_module *const *children, int n) {
    if (n < 0 || (!children && n > 0)) {
        ag__fail("nn_sequential_of", "%d children from %s: expected n >= 0 and a list of n modules",
                 n, children ? "a list" : "NULL");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!children[i]) return NULL; /* an earlier failure */
    ag_nn_sequential *s = container_new("nn_sequential_of", P, sizeof *s, &ag_nn_sequential_type);
    for (int i = 0; s && i < n; i++)
        if (!append_indexed("nn_sequential_of", &s->base, children[i])) return NULL;
    return s;
}

ag_tensor *ag_nn_sequential_forward_(ag_arena *A, ag_nn_sequential *s, ag_tensor *x) {
    if (!s) return NULL;
    for (int i = 0; x && i < s->base.nchildren; i++)
        x = ag_module_forward_(s->base.children[i].child, A, x);
    return x;
}
