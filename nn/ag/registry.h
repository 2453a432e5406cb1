/* ag/registry.h — the norm-layer registry, in the spirit of Hugging Face's
 * ALL_LAYERNORM_LAYERS.
 *
 * A list of module types that count as normalization layers. The built-in
 * norms (LayerNorm and the RMSNorm family) are in it from the start; a
 * program registers a module type of its own with one call. Utilities
 * consult it instead of type names:
 *   - ag_decay_groups: no weight decay for norm layers' parameters and biases;
 *   - ag_module_cast to bf16: norm layers' parameters stay f32;
 *   - ag_module_print: norm layers are marked "[norm]".
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
#define ag_norm_register(...) AG_AT(ag_norm_register_, __VA_ARGS__)

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
#define ag_decay_groups(...) AG_AT(ag_decay_groups_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
