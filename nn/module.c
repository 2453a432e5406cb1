/* nn/module.c — the module base: named parameters and children, dotted
 * names, counts, modes, casting, and the printed tree (see ag/module.h).
 *
 * Entries live in arrays in the module's arena that double when full (the
 * old array is simply left behind: modules are built once). Walks over the
 * tree recurse: trees are a few levels deep, unlike autograd graphs.
 */
#include <math.h>
#include <string.h>

#include "ag/nn.h"
#include "internal.h"

#define PATH_MAX_LEN 512

void ag_module_init(ag_module *m, const ag_module_type *type, ag_arena *P) {
    memset(m, 0, sizeof *m);
    m->type = type;
    m->arena = P;
    m->training = true;
}

void *ag_module_new_(ag_arena *P, size_t size, const ag_module_type *type) {
    if (!P || !type || size < sizeof(ag_module)) {
        ag__fail("module_new", "%s: expected an arena, a type and a size of at least %zu "
                 "(a struct that begins with an ag_module)",
                 !P ? "arena is NULL" : !type ? "type is NULL" : "size too small",
                 sizeof(ag_module));
        return NULL;
    }
    ag_module *m = ag_arena_calloc_(P, size);
    if (m) ag_module_init(m, type, P);
    return m;
}

ag_tensor *ag_module_new_param_(ag_module *m, const char *name, ag_tensor *t) {
    if (!m || !t) return NULL;
    return ag_module_add_param_(m, name, t) ? t : NULL;
}

bool ag_module_check_last_dim_(const ag_module *m, const ag_tensor *x, int64_t n) {
    if (!m) {
        ag__fail("module_check_last_dim", "module is NULL");
        return false;
    }
    if (!x) return false;
    if (x->ndim >= 1 && x->shape[x->ndim - 1] == n) return true;
    ag__fail(m->type && m->type->name ? m->type->name : "module",
             "input %s %s: expected a last dim of %lld", ag_dtype_name(x->dtype), ag__shp(x),
             (long long)n);
    return false;
}

static const ag_module_entry *find(const ag_module_entry *e, int n, const char *name,
                                   size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(e[i].name) == len && strncmp(e[i].name, name, len) == 0) return &e[i];
    return NULL;
}

/* Checks a new local name; reports and returns false when it cannot be used. */
static bool name_ok(const char *op, ag_module *m, const char *name) {
    const char *type = m->type ? m->type->name : "module";
    if (!name || !name[0] || strchr(name, '.')) {
        ag__fail(op, "%s: name \"%s\" must be non-empty and without dots", type,
                 name ? name : "(null)");
        return false;
    }
    size_t len = strlen(name);
    if (find(m->params, m->nparams, name, len) || find(m->children, m->nchildren, name, len)) {
        ag__fail(op, "%s already has an entry named \"%s\"", type, name);
        return false;
    }
    return true;
}

/* Appends an entry to *arr (growing it in m's arena); false after a report
 * (under op) when m has no arena or it is out of memory. */
static bool append(const char *op, ag_module *m, ag_module_entry **arr, int *n, int *cap,
                   ag_module_entry e) {
    ag_arena *P = m->arena;
    if (!P) {
        ag__fail(op, "%s has no arena (ag_module_init was given NULL): expected the arena "
                 "its entries live in", m->type && m->type->name ? m->type->name : "module");
        return false;
    }
    if (*n == *cap) {
        int ncap = *cap ? 2 * *cap : 4;
        ag_module_entry *a = ag_arena_alloc_(P, (size_t)ncap * sizeof *a);
        if (!a) return false;
        if (*n) memcpy(a, *arr, (size_t)*n * sizeof *a);
        *arr = a;
        *cap = ncap;
    }
    size_t len = strlen(e.name) + 1;
    char *copy = ag_arena_alloc_(P, len);
    if (!copy) return false;
    memcpy(copy, e.name, len);
    e.name = copy;
    (*arr)[(*n)++] = e;
    return true;
}

bool ag_module_set_attr_(ag_module *m, const char *name, double value) {
    if (!m) return false;
    if (!name || !name[0] || strchr(name, '.')) {
        ag__fail("module_set_attr", "%s: attribute name \"%s\" must be non-empty and without dots",
                 m->type ? m->type->name : "module", name ? name : "(null)");
        return false;
    }
    ag_module_entry *e = (ag_module_entry *)find(m->attrs, m->nattrs, name, strlen(name));
    if (e) {
        e->value = value;
        return true;
    }
    return append("module_set_attr", m, &m->attrs, &m->nattrs, &m->attrs_cap,
                  (ag_module_entry){name, NULL, NULL, value});
}

double ag_module_attr_(const ag_module *m, const char *name) {
    if (!m) return NAN;
    const ag_module_entry *e = name ? find(m->attrs, m->nattrs, name, strlen(name)) : NULL;
    if (e) return e->value;
    ag__fail("module_attr", "%s has no attribute \"%s\" (ag_module_set_attr adds one)",
             m->type ? m->type->name : "module", name ? name : "(null)");
    return NAN;
}

bool ag_module_add_param_(ag_module *m, const char *name, ag_tensor *t) {
    if (!m || !t) {
        ag__fail("module_add_param", "module or tensor is NULL (parameter \"%s\")",
                 name ? name : "(null)");
        return false;
    }
    if (!name_ok("module_add_param", m, name)) return false;
    if (t->op || !ag_dtype_is_float(t->dtype)) {
        ag__fail("module_add_param", "parameter \"%s\" %s %s must be a float leaf tensor", name,
                 ag_dtype_name(t->dtype), ag__shp(t));
        return false;
    }
    if (!append("module_add_param", m, &m->params, &m->nparams, &m->params_cap,
                (ag_module_entry){name, t, NULL, 0.0}))
        return false;
    t->requires_grad = true;
    if (!t->name) t->name = m->params[m->nparams - 1].name;
    return true;
}

/* True when m is root or in root's subtree. The tree has no cycle (add_child
 * refuses one), so the walk ends. */
static bool in_subtree(const ag_module *root, const ag_module *m) {
    if (root == m) return true;
    for (int i = 0; i < root->nchildren; i++)
        if (in_subtree(root->children[i].child, m)) return true;
    return false;
}

bool ag__module_add_child(const char *op, ag_module *m, const char *name, ag_module *child) {
    if (!m || !child) {
        ag__fail(op, "module or child is NULL (child \"%s\")", name ? name : "(null)");
        return false;
    }
    if (!name_ok(op, m, name)) return false;
    if (in_subtree(child, m)) {
        ag__fail(op, "%s: child \"%s\" (%s) is this module or one of its "
                 "ancestors: a module tree cannot have a cycle",
                 m->type ? m->type->name : "module", name,
                 child->type ? child->type->name : "module");
        return false;
    }
    return append(op, m, &m->children, &m->nchildren, &m->children_cap,
                  (ag_module_entry){name, NULL, child, 0.0});
}

bool ag_module_add_child_(ag_module *m, const char *name, ag_module *child) {
    return ag__module_add_child("module_add_child", m, name, child);
}

ag_tensor *ag_module_forward_(ag_module *m, ag_arena *A, ag_tensor *x) {
    if (!m || !x) return NULL;
    if (!m->type || !m->type->forward) {
        ag__fail("module_forward", "%s has no forward of one input",
                 m->type ? m->type->name : "an untyped module");
        return NULL;
    }
    return m->type->forward(m, A, x);
}

/* ---- walking the tree ----------------------------------------------------- */

static void visit(ag_module *m, char *path, size_t len, ag_param_visitor fn, void *ud) {
    for (int i = 0; i < m->nparams; i++) {
        snprintf(path + len, PATH_MAX_LEN - len, "%s%s", len ? "." : "", m->params[i].name);
        ag_named_param p = {path, m->params[i].param, m, m->params[i].name};
        fn(&p, ud);
    }
    for (int i = 0; i < m->nchildren; i++) {
        int n = snprintf(path + len, PATH_MAX_LEN - len, "%s%s", len ? "." : "",
                         m->children[i].name);
        size_t next = len + (size_t)n < PATH_MAX_LEN ? len + (size_t)n : PATH_MAX_LEN - 1;
        visit(m->children[i].child, path, next, fn, ud);
    }
    path[len] = '\0';
}

void ag_module_visit_params(ag_module *m, ag_param_visitor fn, void *userdata) {
    if (!m || !fn) return;
    char path[PATH_MAX_LEN] = "";
    visit(m, path, 0, fn, userdata);
}

static void count_one(const ag_named_param *p, void *ud) {
    (*(int *)ud)++;
    (void)p;
}

typedef struct {
    ag_arena *A;
    ag_named_param *out;
    int n;
    bool ok;
} collector;

static void collect_one(const ag_named_param *p, void *ud) {
    collector *c = ud;
    size_t len = strlen(p->name) + 1;
    char *name = ag_arena_alloc_(c->A, len);
    if (!name) {
        c->ok = false;
        return;
    }
    memcpy(name, p->name, len);
    c->out[c->n] = *p;
    c->out[c->n++].name = name;
}

int ag_module_parameters_(ag_module *m, ag_arena *A, ag_named_param **out) {
    if (!m) return -1;
    if (!A || !out) {
        ag__fail("module_parameters", "%s is NULL", A ? "out" : "arena");
        return -1;
    }
    int n = 0;
    ag_module_visit_params(m, count_one, &n);
    collector c = {A, ag_arena_alloc_(A, (size_t)(n ? n : 1) * sizeof *c.out), 0, true};
    if (!c.out) return -1;
    ag_module_visit_params(m, collect_one, &c);
    *out = c.out;
    return c.ok ? c.n : -1;
}

/* Follows a dotted path through children; returns the module holding the
 * last component and sets *last to it. */
static ag_module *walk(ag_module *m, const char *path, const char **last) {
    for (;;) {
        const char *dot = strchr(path, '.');
        if (!dot) {
            *last = path;
            return m;
        }
        const ag_module_entry *e = find(m->children, m->nchildren, path, (size_t)(dot - path));
        if (!e) return NULL;
        m = e->child;
        path = dot + 1;
    }
}

ag_tensor *ag_module_param(ag_module *m, const char *path) {
    const char *last;
    if (!m || !path || !(m = walk(m, path, &last))) return NULL;
    const ag_module_entry *e = find(m->params, m->nparams, last, strlen(last));
    return e ? e->param : NULL;
}

ag_module *ag_module_child(ag_module *m, const char *path) {
    const char *last;
    if (!m || !path || !(m = walk(m, path, &last))) return NULL;
    const ag_module_entry *e = find(m->children, m->nchildren, last, strlen(last));
    return e ? e->child : NULL;
}

typedef struct {
    int64_t all, trainable;
} counts;

static void count_elements(const ag_named_param *p, void *ud) {
    counts *c = ud;
    c->all += p->tensor->numel;
    if (p->tensor->requires_grad) c->trainable += p->tensor->numel;
}

static counts count(ag_module *m) {
    counts c = {0, 0};
    ag_module_visit_params(m, count_elements, &c);
    return c;
}

int64_t ag_module_num_params(ag_module *m) { return count(m).all; }
int64_t ag_module_num_trainable(ag_module *m) { return count(m).trainable; }

static void set_requires_grad(const ag_named_param *p, void *ud) {
    p->tensor->requires_grad = *(const bool *)ud;
}

void ag_module_requires_grad(ag_module *m, bool on) {
    ag_module_visit_params(m, set_requires_grad, &on);
}

static void zero_grad(const ag_named_param *p, void *ud) {
    (void)ud;
    ag_zero_grad(p->tensor);
}

void ag_module_zero_grad(ag_module *m) { ag_module_visit_params(m, zero_grad, NULL); }

void ag_module_train(ag_module *m, bool on) {
    if (!m) return;
    m->training = on;
    for (int i = 0; i < m->nchildren; i++) ag_module_train(m->children[i].child, on);
}

typedef struct {
    ag_tensor **in;
    int n;
    bool full;
} gc_inputs;

static void add_gc_input(const ag_named_param *p, void *ud) {
    gc_inputs *g = ud;
    if (!p->tensor->requires_grad) return;
    if (g->n < AG_GRADCHECK_MAX_INPUTS) g->in[g->n++] = p->tensor;
    else g->full = true;
}

int ag_module_gc_inputs_(ag_module *m, ag_tensor *x, ag_tensor **in) {
    if (!in) {
        ag__fail("module_gc_inputs", "the input array is NULL");
        return 0;
    }
    if (!m || !x) return 0;
    if (x->dtype != AG_F64) {
        ag__fail("module_gc_inputs", "x %s %s: expected f64, as gradient checks take",
                 ag_dtype_name(x->dtype), ag__shp(x));
        return 0;
    }
    if (!ag_module_cast_(m, AG_F64)) return 0;
    gc_inputs g = {in, 1, false};
    in[0] = x;
    ag_module_visit_params(m, add_gc_input, &g);
    if (g.full) {
        ag__fail("module_gc_inputs", "%s has more than %d parameters that require a gradient: "
                 "a gradient check takes %d inputs, x included",
                 m->type ? m->type->name : "module", AG_GRADCHECK_MAX_INPUTS - 1,
                 AG_GRADCHECK_MAX_INPUTS);
        return 0;
    }
    return g.n;
}

/* ---- casting -------------------------------------------------------------- */

/* Converts t to dt in place: new data in t's arena, same header. */
static bool retype(ag_tensor *t, ag_dtype dt) {
    if (t->dtype == dt) return true;
    ag_tensor *c = ag_cast_(t->arena, t, dt);
    if (!c) return false;
    t->dtype = dt;
    t->data = c->data;
    t->grad = NULL;
    return true;
}

static bool cast_tree(ag_module *m, ag_dtype dt) {
    /* half-precision casts keep registered norm layers in f32 */
    ag_dtype mine = dt == AG_BF16 && ag_module_is_norm(m) ? AG_F32 : dt;
    bool was = ag_set_grad_enabled(false);
    bool ok = true;
    for (int i = 0; i < m->nparams && ok; i++) ok = retype(m->params[i].param, mine);
    ag_set_grad_enabled(was);
    for (int i = 0; i < m->nchildren && ok; i++) ok = cast_tree(m->children[i].child, dt);
    return ok;
}

bool ag_module_cast_(ag_module *m, ag_dtype dt) {
    if (!m) return false;
    if (!ag_dtype_is_float(dt)) {
        ag__fail("module_cast", "cannot cast %s to %s: expected f32, f64 or bf16",
                 m->type ? m->type->name : "module", ag_dtype_name(dt));
        return false;
    }
    return cast_tree(m, dt);
}

/* ---- printing ------------------------------------------------------------- */

/* "eps=1e-05, p=2": the attributes, for a type without describe. */
static void describe_attrs(const ag_module *m, char *buf, size_t size) {
    size_t k = 0;
    for (int i = 0; i < m->nattrs && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%s=%g", i ? ", " : "", m->attrs[i].name,
                              m->attrs[i].value);
}

static void print_tree(FILE *f, ag_module *m, const char *name, int depth) {
    char args[256] = "";
    if (m->type && m->type->describe) m->type->describe(m, args, sizeof args);
    else describe_attrs(m, args, sizeof args);
    fprintf(f, "%*s", 2 * depth, "");
    if (name) fprintf(f, "(%s): ", name);
    fprintf(f, "%s(", m->type ? m->type->name : "Module");
    const char *tags = ag_module_is_norm(m) ? " [norm]" : "";
    int64_t n = ag_module_num_params(m);
    if (m->nchildren == 0) {
        fprintf(f, "%s)", args);
        if (n) fprintf(f, "  %lld params", (long long)n);
        fprintf(f, "%s\n", tags);
        return;
    }
    fprintf(f, "%s\n", tags);
    if (args[0]) fprintf(f, "%*s%s\n", 2 * depth + 2, "", args); /* as PyTorch's extra_repr */
    for (int i = 0; i < m->nparams; i++)
        fprintf(f, "%*s(%s): Parameter%s\n", 2 * depth + 2, "", m->params[i].name,
                ag__shp(m->params[i].param));
    for (int i = 0; i < m->nchildren; i++)
        print_tree(f, m->children[i].child, m->children[i].name, depth + 1);
    fprintf(f, "%*s)\n", 2 * depth, "");
}

void ag_module_print(FILE *f, ag_module *m) {
    if (!f || !m) return;
    print_tree(f, m, NULL, 0);
    counts c = count(m);
    fprintf(f, "total params: %lld, trainable: %lld\n", (long long)c.all, (long long)c.trainable);
}
