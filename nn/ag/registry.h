/* ag/registry.h — the norm-layer registry, in the spirit of Hugging Face's
 * ALL_LAYERNORM_LAYERS.
 *
 * A list of module types that count as normalization layers. The built-in
 * norms (LayerNorm and the RMSNorm family) are in it from the start; a
 * program registers a module type of its own with one call. Utilities
 * consult it instead of type names:
 *   - ag_decay_groups, ag_param_is_no_decay: no weight decay for norm
 *     layers' parameters and biases;
 *   - ag_module_cast to bf16: norm layers' parameters stay f32;
 *   - ag_module_print: norm layers are marked "[norm]".
 * A type registered with a constructor (every built-in has one) can also be
 * a transformer block's norm (ag_norm_choice in ag/blocks.h).
 *
 * Threads: every function here may be called from any thread at any time.
 * The built-ins are added once, on the first call from any thread; reads
 * and registrations hold one mutex, so a type registered on one thread is
 * seen by every lookup that starts after its registration returned.
 */
#ifndef AG_REGISTRY_H
#define AG_REGISTRY_H

#include "ag/module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many types (built-ins included) can be registered. */
#define AG_NORM_REGISTRY_MAX 64

/* Adds t to the registry; registering a type twice is harmless. Reports and
 * returns false for NULL or a full registry. */
bool ag_norm_register_(const ag_module_type *t);
#define ag_norm_register(...) AG_AT_BOOL(ag_norm_register_, __VA_ARGS__)

/* A norm type's constructor, for the blocks: a new norm of type `type` (the
 * type it was registered for, so one function may serve several types) over
 * a last dim of n > 0 features, its parameters in P, with eps
 * (AG_EPS_DEFAULT: the type's default; otherwise a finite number, already
 * checked). Returns the module, or NULL after reporting. */
typedef ag_module *ag_norm_make_fn(ag_arena *P, const ag_module_type *type, int64_t n,
                                   double eps);

/* Registers t as ag_norm_register does, with make as its constructor, so
 * that ag_norm_new (ag/blocks.h) can build it; registering t again replaces
 * its constructor. Reports and returns false for a NULL t or make, or a full
 * registry. */
bool ag_norm_register_make_(const ag_module_type *t, ag_norm_make_fn *make);
#define ag_norm_register_make(...) AG_AT_BOOL(ag_norm_register_make_, __VA_ARGS__)

/* The constructor registered for t; NULL when t is NULL, not registered, or
 * registered without one. */
ag_norm_make_fn *ag_norm_maker(const ag_module_type *t);

/* Is t (is m's type) a registered norm layer? NULL: false. */
bool ag_norm_is_registered(const ag_module_type *t);
bool ag_module_is_norm(const ag_module *m);

/* Up to max registered types into out (in registration order, built-ins
 * first); returns how many are registered. */
int ag_norm_types(const ag_module_type **out, int max);

/* Hugging Face Trainer's two parameter groups: no_decay holds the
 * parameters of registered norm layers and every parameter whose dotted
 * name contains "bias"; decay holds the rest. Arrays and names live in A. */
typedef struct ag_param_groups {
    ag_named_param *decay, *no_decay;
    int ndecay, nno_decay;
} ag_param_groups;
/* A NULL A is reported; a NULL m (an earlier failure) is not. Either gives
 * zeroed groups, as does A running out of memory (reported). */
ag_param_groups ag_decay_groups_(ag_module *m, ag_arena *A);
static inline ag_param_groups ag__site_pop_groups(ag_param_groups v) {
    ag__site_pop();
    return v;
}
#define ag_decay_groups(...) AG_AT_VIA(ag_decay_groups_, ag__site_pop_groups, __VA_ARGS__)

/* The rule behind those groups, for one parameter: true (no weight decay)
 * when p's owner is a registered norm layer or p's dotted name contains
 * "bias". NULL: false. */
bool ag_param_is_no_decay(const ag_named_param *p);

#ifdef __cplusplus
}
#endif
#endif
