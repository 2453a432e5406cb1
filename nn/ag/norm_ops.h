/* ag/norm_ops.h — the fused normalization ops behind the norm modules.
 *
 * Each normalizes x over its trailing dims, which must equal
 * normalized_shape (1 to 8 dims, as torch.nn.functional takes them): x is
 * viewed as rows x D with D the product of normalized_shape. The forward
 * reduces each row once (in double for f32) and saves one or two numbers
 * per row; the backward is derived by hand (docs/normalization.md) and
 * computes dx, dweight and dbias in one pass over the rows, with dweight and
 * dbias summed through per-thread partial sums in a fixed order, so results
 * are deterministic for a given thread count.
 *
 * Dtypes: x is f32, f64 or bf16; the compute type is f32 for bf16 input;
 * weight and bias are cast (recorded) to the compute type when they differ;
 * the result has x's dtype.
 */
#ifndef AG_NORM_OPS_H
#define AG_NORM_OPS_H

#include "ag/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How ag_rms_norm scales (flags may be or-ed). */
enum {
    AG_RMS_RSQRT = 0,       /* y = x * rsqrt(mean(x^2) + eps)         (PyTorch, Llama "v2") */
    AG_RMS_SQRT_DIV = 1,    /* y = x / sqrt(mean(x^2) + eps)          (seed "v1", "scale" form) */
    AG_RMS_UNIT_OFFSET = 2, /* the weight multiplies as (1 + weight)  (Gemma) */
};

/* eps, for every norm op and module: any finite number. A negative eps is
 * accepted, as PyTorch accepts it; a row with mean(x^2) + eps <= 0 (RMSNorm)
 * or var + eps <= 0 (LayerNorm) then gives inf or NaN, as in PyTorch. NaN
 * and +-inf are reported (a departure: PyTorch accepts inf). */

/* RMSNorm: r = 1/sqrt(mean(x^2) + eps) per row; y = x * r * w where w is
 * weight (or 1 + weight with AG_RMS_UNIT_OFFSET, or 1 when weight is NULL).
 * Saves r per row (as double). eps: see "eps" below (eps = 0 on a row of
 * zeros gives NaN, as in PyTorch). Sums of squares are formed in double, so f32 rows
 * with |x| > 1.8e19 (where x*x overflows f32) still normalize correctly.
 * Unknown flag bits are reported. Reports a normalized_shape that does not match x's trailing
 * dims, and a weight whose shape is not normalized_shape. */
ag_tensor *ag_rms_norm_(ag_arena *A, ag_tensor *x, int nshape, const int64_t *normalized_shape,
                        ag_tensor *weight, double eps, unsigned flags);
#define ag_rms_norm(...) AG_AT(ag_rms_norm_, __VA_ARGS__)

/* The same RMSNorm built from core ops — pow, mean, add_scalar, rsqrt, mul —
 * kept as the readable reference: its gradient comes from the engine. It
 * follows the same dtype rules (bf16 x is cast to f32 first and the result
 * cast back; weight is cast to the compute type). It has no flags: the
 * sqrt-div and unit-offset forms have no composed twin. */
ag_tensor *ag_rms_norm_composed_(ag_arena *A, ag_tensor *x, int nshape,
                                 const int64_t *normalized_shape, ag_tensor *weight, double eps);
#define ag_rms_norm_composed(...) AG_AT(ag_rms_norm_composed_, __VA_ARGS__)

/* LayerNorm (F.layer_norm): mean and biased variance per row, two-pass and
 * centred; xh = (x - mean) * r with r = 1/sqrt(var + eps); y = xh * weight +
 * bias (either may be NULL). Saves mean and r per row (as double). */
ag_tensor *ag_layer_norm_(ag_arena *A, ag_tensor *x, int nshape,
                          const int64_t *normalized_shape, ag_tensor *weight, ag_tensor *bias,
                          double eps);
#define ag_layer_norm(...) AG_AT(ag_layer_norm_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
