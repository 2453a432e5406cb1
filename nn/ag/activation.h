/* ag/activation.h — activation functions by kind, and as modules.
 *
 * The activations are core ops (ag/ops.h); this header names them by an
 * enum, so that a layer can take one as an option (the MLP block does), and
 * wraps each in a parameterless module, so that a Sequential can hold it:
 *
 *   ag_module *layers[] = {&fc1->base, ag_nn_activation_new(P, AG_ACT_GELU), &fc2->base};
 *   ag_nn_sequential *net = ag_nn_sequential_of(P, layers, 3);
 *
 * Each kind is its own module type named as PyTorch's class (nn.GELU,
 * nn.ReLU, ...), printed as PyTorch prints it: "GELU(approximate='none')",
 * "GELU(approximate='tanh')", "ReLU()", "SiLU()", "Tanh()", "Sigmoid()",
 * "Identity()". None of them is a norm layer (the registry does not list
 * them).
 */
#ifndef AG_ACTIVATION_H
#define AG_ACTIVATION_H

#include "ag/module.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ag_activation {
    AG_ACT_GELU,      /* exact (erf): nn.GELU() */
    AG_ACT_GELU_TANH, /* GPT-2's tanh approximation: nn.GELU(approximate='tanh') */
    AG_ACT_RELU,      /* gradient 0 at 0 */
    AG_ACT_SILU,      /* x * sigmoid(x) */
    AG_ACT_TANH,
    AG_ACT_SIGMOID,
    AG_ACT_IDENTITY,  /* returns x itself */
} ag_activation;

/* Applies an activation (a core op; AG_ACT_IDENTITY returns x itself).
 * Reports an unknown kind; a NULL x returns NULL without a report. */
ag_tensor *ag_activate_(ag_arena *A, ag_tensor *x, ag_activation act);
#define ag_activate(...) AG_AT(ag_activate_, __VA_ARGS__)

/* The op's name ("gelu", "gelu_tanh", "relu", "silu", "tanh", "sigmoid",
 * "identity"), or NULL for an unknown kind (no report). */
const char *ag_activation_name(ag_activation act);

/* An activation as a module: no parameters, forward = ag_activate. */
typedef struct ag_nn_activation {
    ag_module base;
    ag_activation kind;
} ag_nn_activation;

/* A new activation module of kind act in P; returns its base (what a
 * Sequential or ag_module_add_child takes; cast to ag_nn_activation * for
 * the kind). Reports a NULL P or an unknown kind and returns NULL. */
ag_module *ag_nn_activation_new_(ag_arena *P, ag_activation act);
#define ag_nn_activation_new(...) AG_AT_PTR(ag_nn_activation_new_, ag_module *, __VA_ARGS__)

/* The module types, one per PyTorch class (both GELU kinds are GELU). */
extern const ag_module_type ag_nn_gelu_type, ag_nn_relu_type, ag_nn_silu_type,
    ag_nn_tanh_type, ag_nn_sigmoid_type, ag_nn_identity_type;

#ifdef __cplusplus
}
#endif
#endif
