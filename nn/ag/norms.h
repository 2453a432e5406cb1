/* ag/norms.h — normalization layers: LayerNorm and the RMSNorm family.
 *
 * Every type here is in the norm-layer registry from the start, with a
 * constructor, so each can be a transformer block's norm. They all
 * run on the fused ops of ag/norm_ops.h; the variants differ in their
 * defaults, their parameter, and where they cast (the source documents'
 * table, docs/normalization.md):
 *
 *   kind                  type name            forward                                       eps
 *   AG_RMSNORM            RMSNorm              torch.nn.RMSNorm: x*rsqrt(ms+eps)*w, computed  machine eps of the
 *                                              in f32 for bf16, result in x's dtype           compute type
 *   AG_RMSNORM_LLAMA      LlamaRMSNorm         w * (x * rsqrt(ms + eps)) (Llama "v2")         1e-6
 *   AG_RMSNORM_SQRT       RMSNormSqrt          w * x / sqrt(ms + eps)     (the sqrt form)      1e-6
 *   AG_RMSNORM_DEEPSEEK   DeepseekV2RMSNorm    upcast to f32, normalize, cast back to x's     1e-6 (the field
 *                                              dtype, then multiply by weight                  variance_epsilon)
 *   AG_RMSNORM_T5         T5LayerNorm          variance in f32, x * rsqrt(var + eps), cast to 1e-6
 *                                              the weight's dtype if that is bf16, then * w
 *   AG_RMSNORM_GEMMA      GemmaRMSNorm         x * r * (1 + w) in f32, then cast; w zeros     1e-6
 *   AG_RMSNORM_WEIGHTLESS WeightlessRMSNorm    x * (ms + eps)^-0.5, no parameters (microgpt)  1e-5
 *   AG_RMSNORM_SCALE      ScaleRMSNorm         x / sqrt(ms + eps) * scale (parameter "scale") 1e-8
 *
 * (ms = mean of x^2 over the normalized dims.) Weights start at ones
 * (Gemma: zeros), f32.
 */
#ifndef AG_NORMS_H
#define AG_NORMS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ag/module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=true,
 * bias=true): weight ones and bias zeros of normalized_shape (1..8 dims). */
typedef struct ag_nn_layernorm {
    ag_module base;
    int nshape;
    int64_t normalized_shape[AG_MAX_DIMS];
    double eps;
    bool elementwise_affine;
    ag_tensor *weight, *bias; /* NULL when absent */
} ag_nn_layernorm;
ag_nn_layernorm *ag_nn_layernorm_new_(ag_arena *P, int nshape, const int64_t *normalized_shape,
                                      double eps, bool elementwise_affine, bool bias);
ag_tensor *ag_nn_layernorm_forward_(ag_arena *A, ag_nn_layernorm *m, ag_tensor *x);
#define ag_nn_layernorm_new(...) AG_AT_PTR(ag_nn_layernorm_new_, ag_nn_layernorm *, __VA_ARGS__)
#define ag_nn_layernorm_forward(...) AG_AT(ag_nn_layernorm_forward_, __VA_ARGS__)
extern const ag_module_type ag_nn_layernorm_type;

typedef enum ag_rmsnorm_kind {
    AG_RMSNORM,
    AG_RMSNORM_LLAMA,
    AG_RMSNORM_SQRT,
    AG_RMSNORM_DEEPSEEK,
    AG_RMSNORM_T5,
    AG_RMSNORM_GEMMA,
    AG_RMSNORM_WEIGHTLESS,
    AG_RMSNORM_SCALE,
    AG_RMSNORM_KINDS
} ag_rmsnorm_kind;

/* Pass as eps to take the kind's default. Any other eps follows the norm
 * ops' rule (ag/norm_ops.h): a finite number, negative allowed; so a NaN
 * that was computed (0.0/0.0, a failed parse) is refused, not taken as the
 * default. AG_EPS_DEFAULT is a NaN with its own payload (0x2a), which no
 * arithmetic produces from numbers; ag_eps_is_default tells it apart by its
 * bits. (A compiler without __builtin_nan gets a plain NaN, and there any
 * NaN counts as the default.) */
#if defined(__GNUC__) || defined(__clang__)
#define AG_EPS_DEFAULT (__builtin_nan("0x2a"))
#else
#define AG_EPS_DEFAULT NAN
#endif

/* True when eps is AG_EPS_DEFAULT, bit for bit (any other NaN: false). */
static inline bool ag_eps_is_default(double eps) {
#if defined(__GNUC__) || defined(__clang__)
    const double d = AG_EPS_DEFAULT;
    uint64_t a, b;
    memcpy(&a, &eps, sizeof a);
    memcpy(&b, &d, sizeof b);
    return a == b;
#else
    return isnan(eps);
#endif
}

/* The module type of each kind, indexed by ag_rmsnorm_kind (the pointers
 * ag_rmsnorm_type returns). &ag_rmsnorm_types[kind] is a constant, so it can
 * stand in a static initializer (AG_NORM_RMS in ag/blocks.h). */
extern const ag_module_type ag_rmsnorm_types[AG_RMSNORM_KINDS];

typedef struct ag_nn_rmsnorm {
    ag_module base;
    ag_rmsnorm_kind kind;
    int nshape;
    int64_t normalized_shape[AG_MAX_DIMS];
    /* AG_EPS_DEFAULT for torch.nn.RMSNorm's "unset": the compute type's
     * machine eps at forward time. DeepSeek's code calls it variance_epsilon. */
    union {
        double eps;
        double variance_epsilon;
    };
    bool elementwise_affine;
    ag_tensor *weight; /* the parameter, named "weight" ("scale" for AG_RMSNORM_SCALE);
                          NULL for the weightless kind or without elementwise_affine */
} ag_nn_rmsnorm;

/* A norm of the given kind over normalized_shape (1..8 trailing dims).
 * eps AG_EPS_DEFAULT takes the kind's default from the table above.
 * elementwise_affine false gives no parameter (the weightless kind never
 * has one). */
ag_nn_rmsnorm *ag_nn_rmsnorm_new_(ag_arena *P, ag_rmsnorm_kind kind, int nshape,
                                  const int64_t *normalized_shape, double eps,
                                  bool elementwise_affine);
ag_tensor *ag_nn_rmsnorm_forward_(ag_arena *A, ag_nn_rmsnorm *m, ag_tensor *x);
#define ag_nn_rmsnorm_new(...) AG_AT_PTR(ag_nn_rmsnorm_new_, ag_nn_rmsnorm *, __VA_ARGS__)
#define ag_nn_rmsnorm_forward(...) AG_AT(ag_nn_rmsnorm_forward_, __VA_ARGS__)

/* The module type of each kind (its own type name, each registered; static,
 * not to be freed). An unknown kind is reported and returns NULL. */
const ag_module_type *ag_rmsnorm_type_(ag_rmsnorm_kind kind);
#define ag_rmsnorm_type(...) AG_AT_PTR(ag_rmsnorm_type_, const ag_module_type *, __VA_ARGS__)
/* The kind's default eps (NAN for AG_RMSNORM: resolved at forward time). An
 * unknown kind is reported and returns NAN. */
double ag_rmsnorm_default_eps_(ag_rmsnorm_kind kind);
#define ag_rmsnorm_default_eps(...) AG_AT_DOUBLE(ag_rmsnorm_default_eps_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
