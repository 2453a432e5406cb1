/* ag/module.h — the module base: named parameters and children.
 *
 * A module is a struct whose first member is an ag_module:
 *
 *   typedef struct { ag_module base; ag_tensor *weight, *bias; } ag_linear;
 *
 * The base holds a type descriptor (type name, forward, how to describe the
 * module in a printed tree), the arena its parameters live in, its named
 * parameters and its named children, and the train/eval flag. Names are
 * dotted paths as in Hugging Face checkpoints: layers.0.input_layernorm.weight.
 * Modules are built once, in the long-lived arena, and never freed one by one.
 */
#ifndef AG_MODULE_H
#define AG_MODULE_H

#include <stdio.h>

#include "ag/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_module ag_module;

typedef struct ag_module_type {
    const char *name; /* "Linear", "RMSNorm", ... */
    /* Forward on one input; NULL for containers that have none. */
    ag_tensor *(*forward)(ag_module *m, ag_arena *A, ag_tensor *x);
    /* Writes what the printed tree shows between parentheses, e.g.
     * "in_features=4, out_features=8, bias=true". May be NULL (and left
     * out of an initializer): the parentheses stay empty, as PyTorch's
     * default extra_repr leaves them. */
    void (*describe)(const ag_module *m, char *buf, size_t size);
} ag_module_type;

/* A parameter or a child under its local name. */
typedef struct ag_module_entry {
    const char *name;
    ag_tensor *param;  /* for parameters */
    ag_module *child;  /* for children */
    double value;      /* for attributes */
} ag_module_entry;

struct ag_module {
    const ag_module_type *type;
    ag_arena *arena;   /* parameters and bookkeeping live here */
    bool training;     /* true after init; ag_module_train switches the tree */
    int nparams, nchildren, nattrs;
    int params_cap, children_cap, attrs_cap;
    ag_module_entry *params, *children, *attrs;
};

/* A parameter seen from the root: its dotted name (valid as long as the
 * arena given to ag_module_parameters, or during a visit), the tensor, the
 * module that owns it and its local name there. */
typedef struct ag_named_param {
    const char *name;
    ag_tensor *tensor;
    ag_module *owner;
    const char *local_name;
} ag_named_param;

/* Initialises the base of a new module (training mode, no entries) whose
 * entries go in P (NULL: every entry added to it later is reported). */
void ag_module_init(ag_module *m, const ag_module_type *type, ag_arena *P);

/* A new module of the struct that begins with an ag_module and is size
 * bytes long: allocated zeroed in P, its base initialised as by
 * ag_module_init with type. Returns it (cast it to the struct), or NULL
 * after reporting a NULL P or type, a size smaller than an ag_module, or P
 * out of memory:
 *   my_norm *s = ag_module_new(P, sizeof *s, &my_norm_type);  */
void *ag_module_new_(ag_arena *P, size_t size, const ag_module_type *type);
#define ag_module_new(...) AG_AT_PTR(ag_module_new_, void *, __VA_ARGS__)

/* t made a parameter of m under name, as ag_module_add_param does, and
 * returned, so that a constructor writes
 *   s->g = ag_module_new_param(&s->base, "g", ag_scalar(P, AG_F32, 1.0));
 * NULL m or t: NULL without a report (an earlier failure: a module or a
 * tensor that could not be made). Reported (NULL): what ag_module_add_param
 * refuses. */
ag_tensor *ag_module_new_param_(ag_module *m, const char *name, ag_tensor *t);
#define ag_module_new_param(...) AG_AT(ag_module_new_param_, __VA_ARGS__)

/* A module's settings as named numbers (eps, p, n, ...), what a PyTorch
 * module keeps as plain attributes: a module type needs no struct of its
 * own when its parameters are found by name and its settings are
 * attributes,
 *   ag_module *m = ag_module_new(P, sizeof *m, &scalenorm_type);
 *   ag_module_set_attr(m, "eps", 1e-5);
 *   ... forward: scale_norm(A, x, ag_module_param(m, "g"), ag_module_attr(m, "eps"))
 * The printed tree shows them, "ScaleNorm(eps=1e-05)", when the type has no
 * describe. They are not parameters: a checkpoint does not hold them.
 * ag_module_set_attr adds name or changes its value; NULL m: false without a
 * report (an earlier failure); reported (false): an empty name or one with a
 * dot, a module without an arena, or the arena out of memory. ag_module_attr
 * returns the value; NULL m: NaN without a report; reported (NaN): no
 * attribute of that name. */
bool ag_module_set_attr_(ag_module *m, const char *name, double value);
#define ag_module_set_attr(...) AG_AT_BOOL(ag_module_set_attr_, __VA_ARGS__)
double ag_module_attr_(const ag_module *m, const char *name);
#define ag_module_attr(...) AG_AT_DOUBLE(ag_module_attr_, __VA_ARGS__)

/* For a forward over the last dim: true when x has at least one dim and a
 * last dim of n; otherwise reports, under m's type name,
 *   "ScaleNorm: input f32 [2,5]: expected a last dim of 6"
 * and returns false. NULL x: false without a report (an earlier failure);
 * NULL m: reported. */
bool ag_module_check_last_dim_(const ag_module *m, const ag_tensor *x, int64_t n);
#define ag_module_check_last_dim(...) AG_AT_BOOL(ag_module_check_last_dim_, __VA_ARGS__)

/* Adds a parameter (a leaf; made to require a gradient) or a child under a
 * local name (copied). Reports and returns false for NULL, an empty name, a
 * name with a dot, a name already used by a parameter or a child, a child
 * that is m itself or one of m's ancestors (a cycle), or an m without an
 * arena. */
bool ag_module_add_param_(ag_module *m, const char *name, ag_tensor *t);
bool ag_module_add_child_(ag_module *m, const char *name, ag_module *child);
#define ag_module_add_param(...) AG_AT_BOOL(ag_module_add_param_, __VA_ARGS__)
#define ag_module_add_child(...) AG_AT_BOOL(ag_module_add_child_, __VA_ARGS__)

/* The inputs of a gradient-check case of m's forward (ag/gradcheck_suite.h,
 * a make function): casts m to f64, then sets in[0] = x and in[1..] to m's
 * parameters that require a gradient, in ag_module_parameters' order, and
 * returns how many it set. in has room for AG_GRADCHECK_MAX_INPUTS (16).
 * NULL m or x: 0 without a report (an earlier failure). Reported (0): a
 * NULL in, x not f64, more than 15 such parameters, a failed cast. */
int ag_module_gc_inputs_(ag_module *m, ag_tensor *x, ag_tensor **in);
#define ag_module_gc_inputs(...) AG_AT_INT(ag_module_gc_inputs_, __VA_ARGS__)

/* Calls m's type forward. Reported when the type has none. */
ag_tensor *ag_module_forward_(ag_module *m, ag_arena *A, ag_tensor *x);
#define ag_module_forward(...) AG_AT(ag_module_forward_, __VA_ARGS__)

/* Calls fn for every parameter of m and its children, depth first in the
 * order they were added (a module's own parameters before its children's). */
typedef void (*ag_param_visitor)(const ag_named_param *p, void *userdata);
void ag_module_visit_params(ag_module *m, ag_param_visitor fn, void *userdata);

/* Every parameter, with names copied into A; *out points at an array in A.
 * Returns the count, or -1: after reporting a NULL A or out, or A running
 * out of memory; without a report for a NULL m (an earlier failure). */
int ag_module_parameters_(ag_module *m, ag_arena *A, ag_named_param **out);
#define ag_module_parameters(...) AG_AT_INT(ag_module_parameters_, __VA_ARGS__)

/* The parameter or the module at a dotted path ("layers.0.attn"), or NULL. */
ag_tensor *ag_module_param(ag_module *m, const char *path);
ag_module *ag_module_child(ag_module *m, const char *path);

/* Parameter element counts: all, and those that require a gradient. */
int64_t ag_module_num_params(ag_module *m);
int64_t ag_module_num_trainable(ag_module *m);

/* requires_grad for every parameter of the tree (freezing and unfreezing);
 * one parameter: ag_set_requires_grad(ag_module_param(m, "x.weight"), on). */
void ag_module_requires_grad(ag_module *m, bool on);

/* Train (true) or eval (false) mode for the whole tree (Dropout reads it). */
void ag_module_train(ag_module *m, bool on);

/* Zeroes the gradient of every parameter. */
void ag_module_zero_grad(ag_module *m);

/* Converts every parameter to dt in place (the tensors keep their identity;
 * gradients are dropped). Casting to bf16 keeps the parameters of
 * registered norm layers in f32 (see ag/registry.h). Reports a non-float dt. */
bool ag_module_cast_(ag_module *m, ag_dtype dt);
#define ag_module_cast(...) AG_AT_BOOL(ag_module_cast_, __VA_ARGS__)

/* The module tree in PyTorch's repr style, with the parameter count of each
 * leaf module, norm layers marked "[norm]", a container's description and
 * own parameters (with their shapes) on lines of their own inside it, and a
 * last line with the totals:
 *
 *   TinyModel(
 *     (fc): Linear(in_features=4, out_features=8, bias=true)  40 params
 *     (norm): RMSNorm((8,), eps=1e-06, elementwise_affine=true)  8 params [norm]
 *   )
 *   total params: 48, trainable: 48
 */
void ag_module_print(FILE *f, ag_module *m);

/* ---- containers (nn.ModuleList, nn.Sequential) --------------------------------
 * Children are named "0", "1", ... in the order they were appended, as in
 * PyTorch, so parameter names line up with a PyTorch model's: the weight of
 * a Sequential's third child is "2.weight". */

/* A container with no forward and no parameters of its own, for lists of
 * layers. */
typedef struct ag_module_list {
    ag_module base;
} ag_module_list;
ag_module_list *ag_module_list_new_(ag_arena *P);
#define ag_module_list_new(...) AG_AT_PTR(ag_module_list_new_, ag_module_list *, __VA_ARGS__)
/* Appends child under the next index; returns false on bad input. */
bool ag_module_list_append_(ag_module_list *l, ag_module *child);
#define ag_module_list_append(...) AG_AT_BOOL(ag_module_list_append_, __VA_ARGS__)

/* nn.Sequential: forward runs the children in order, each on the previous
 * one's output (ag_module_forward), and returns the last output; with no
 * children it returns x itself. A child without a forward (a ModuleList) is
 * reported when the forward reaches it; a child's failure stops the chain
 * (NULL). No parameters of its own. */
typedef struct ag_nn_sequential {
    ag_module base;
} ag_nn_sequential;
extern const ag_module_type ag_nn_sequential_type;

/* An empty Sequential in P. Reports a NULL P and returns NULL. */
ag_nn_sequential *ag_nn_sequential_new_(ag_arena *P);
#define ag_nn_sequential_new(...) AG_AT_PTR(ag_nn_sequential_new_, ag_nn_sequential *, __VA_ARGS__)
/* Appends child under the next index; returns false on bad input, reported
 * as by ag_module_add_child (a NULL s: false without a report). */
bool ag_nn_sequential_append_(ag_nn_sequential *s, ag_module *child);
#define ag_nn_sequential_append(...) AG_AT_BOOL(ag_nn_sequential_append_, __VA_ARGS__)
/* A Sequential of the n modules children[0..n-1], in that order. Reports
 * and returns NULL: a NULL P, n < 0, children NULL with n > 0, or a child
 * refused by ag_module_add_child. A NULL entry (an earlier failure) returns
 * NULL without a report. */
ag_nn_sequential *ag_nn_sequential_of_(ag_arena *P, ag_module *const *children, int n);
#define ag_nn_sequential_of(...) AG_AT_PTR(ag_nn_sequential_of_, ag_nn_sequential *, __VA_ARGS__)
/* The forward above, typed (ag_module_forward(&s->base, A, x) is the same). */
ag_tensor *ag_nn_sequential_forward_(ag_arena *A, ag_nn_sequential *s, ag_tensor *x);
#define ag_nn_sequential_forward(...) AG_AT(ag_nn_sequential_forward_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
