/* nn/activation.c — activations by kind (ag_activate) and as parameterless
 * modules (nn.GELU, nn.ReLU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Identity).
 * The gradients are the core ops'. */
#include "ag/nn.h"
#include "internal.h"

static const char *const NAMES[] = {
    [AG_ACT_GELU] = "gelu", [AG_ACT_GELU_TANH] = "gelu_tanh", [AG_ACT_RELU] = "relu",
    [AG_ACT_SILU] = "silu", [AG_ACT_TANH] = "tanh",           [AG_ACT_SIGMOID] = "sigmoid",
    [AG_ACT_IDENTITY] = "identity",
};
#define NKINDS (int)(sizeof NAMES / sizeof NAMES[0])

const char *ag_activation_name(ag_activation act) {
    return (int)act >= 0 && (int)act < NKINDS ? NAMES[act] : NULL;
}

ag_tensor *ag_activate_(ag_arena *A, ag_tensor *x, ag_activation act) {
    if (!x) return NULL;
    switch (act) {
    case AG_ACT_GELU: return ag_gelu_(A, x);
    case AG_ACT_GELU_TANH: return ag_gelu_tanh_(A, x);
    case AG_ACT_RELU: return ag_relu_(A, x);
    case AG_ACT_SILU: return ag_silu_(A, x);
    case AG_ACT_TANH: return ag_tanh_(A, x);
    case AG_ACT_SIGMOID: return ag_sigmoid_(A, x);
    case AG_ACT_IDENTITY: return x;
    }
    ag__fail("activate", "unknown activation %d for x %s (expected an ag_activation: "
             "AG_ACT_GELU ... AG_ACT_IDENTITY)", (int)act, ag__shp(x));
    return NULL;
}

/* ---- the modules --------------------------------------------------------------- */

static ag_tensor *activation_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    return ag_activate_(A, x, ((const ag_nn_activation *)m)->kind);
}

/* PyTorch's extra_repr: only GELU has one. */
static void gelu_describe(const ag_module *m, char *buf, size_t size) {
    const bool tanh = ((const ag_nn_activation *)m)->kind == AG_ACT_GELU_TANH;
    snprintf(buf, size, "approximate='%s'", tanh ? "tanh" : "none");
}

const ag_module_type ag_nn_gelu_type = {"GELU", activation_forward, gelu_describe};
const ag_module_type ag_nn_relu_type = {"ReLU", activation_forward, NULL};
const ag_module_type ag_nn_silu_type = {"SiLU", activation_forward, NULL};
const ag_module_type ag_nn_tanh_type = {"Tanh", activation_forward, NULL};
const ag_module_type ag_nn_sigmoid_type = {"Sigmoid", activation_forward, NULL};
const ag_module_type ag_nn_identity_type = {"Identity", activation_forward, NULL};

static const ag_module_type *const TYPES[] = {
    [AG_ACT_GELU] = &ag_nn_gelu_type, [AG_ACT_GELU_TANH] = &ag_nn_gelu_type,
    [AG_ACT_RELU] = &ag_nn_relu_type, [AG_ACT_SILU] = &ag_nn_silu_type,
    [AG_ACT_TANH] = &ag_nn_tanh_type, [AG_ACT_SIGMOID] = &ag_nn_sigmoid_type,
    [AG_ACT_IDENTITY] = &ag_nn_identity_type,
};
_Static_assert(sizeof TYPES / sizeof TYPES[0] == sizeof NAMES / sizeof NAMES[0],
               "one module type per activation kind");

ag_module *ag_nn_activation_new_(ag_arena *P, ag_activation act) {
    if (!P) {
        ag__fail("nn_activation_new", "arena is NULL");
        return NULL;
    }
    if (!ag_activation_name(act)) {
        ag__fail("nn_activation_new", "unknown activation %d (expected an ag_activation: "
                 "AG_ACT_GELU ... AG_ACT_IDENTITY)", (int)act);
        return NULL;
    }
    ag_nn_activation *a = ag_arena_calloc_(P, sizeof *a);
    if (!a) return NULL;
    ag_module_init(&a->base, TYPES[act], P);
    a->kind = act;
    return &a->base;
}
