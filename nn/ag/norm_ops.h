/* ag/norm_ops.h — the fused normalization ops behind the norm modules.
 *
 * Each normalizes x over its trailing dims, which must equal
 * normalized_shape (1 to 8 dims, as torch.nn.functional takes them): x is
 * viewed as rows x D with D the product of normalized_shape. The forward
 * reduces each row in double whatever the dtype (once, except LayerNorm in
 * f64: see ag_layer_norm) and saves one or two numbers per row; the
 * backward is derived by hand (docs/normalization.md) and computes dx,
 * dweight and dbias in one pass over the rows, with dweight and dbias
 * summed through per-thread partial sums in a fixed order, so results are
 * deterministic for a given thread count.
 *
 * Second derivatives: both ops differentiate twice (ag_grad or
 * ag_backward_create_graph, ag/engine.h): the recorded gradient of x is one
 * op, "rms_norm_backward" or "layer_norm_backward", whose backward is a
 * fused double backward (docs/normalization.md, section 8), and those of
 * weight and bias are products and sums of recorded ops. A third
 * derivative through those two ops is refused, naming them.
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
    AG_RMS_SQRT_DIV = 1,    /* y = x / sqrt(mean(x^2) + eps)          (Llama "v1", "scale" form) */
    AG_RMS_UNIT_OFFSET = 2, /* the weight multiplies as (1 + weight)  (Gemma) */
};

/* eps, for every norm op and module: any finite number. A negative eps is
 * accepted, as PyTorch accepts it; a row with mean(x^2) + eps <= 0 (RMSNorm)
 * or var + eps <= 0 (LayerNorm) then gives inf or NaN, as in PyTorch. NaN
 * and +-inf are reported (a departure: PyTorch accepts inf). */

/* NaN and inf in x, for every norm op and module: rows are independent, and
 * a row's result is what the formulas give, as in PyTorch. RMSNorm: a NaN
 * makes the whole row NaN; an inf makes mean(x^2) inf and r = 0, so the
 * row's finite entries become 0 and its infinite ones NaN (inf * 0).
 * LayerNorm: a NaN or an inf makes the whole row NaN (the mean is NaN or
 * inf, and x - mean and the variance NaN). A NaN or inf in weight or bias
 * reaches only its own column of the result. */

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

/* LayerNorm (F.layer_norm): mean and biased variance per row; xh = (x -
 * mean) * r with r = 1/sqrt(var + eps); y = xh * weight + bias (either may
 * be NULL). The variance of an f32 (or bf16) row is one pass, E[x^2] -
 * mean^2 with both sums accumulated in double; of an f64 row two passes,
 * centred (mean((x - mean)^2)). Saves mean and r per row (as double).
 * Reports what ag_rms_norm reports (no flags). */
ag_tensor *ag_layer_norm_(ag_arena *A, ag_tensor *x, int nshape,
                          const int64_t *normalized_shape, ag_tensor *weight, ag_tensor *bias,
                          double eps);
#define ag_layer_norm(...) AG_AT(ag_layer_norm_, __VA_ARGS__)

/* ---- the reference LayerNorm -----------------------------------------------------
 * LayerNorm as plain loops in double, forward and backward, written to be
 * read (nn/norm_ref.c): the tests hold ag_layer_norm to it (1e-12 in f64).
 * The buffers, with their shapes; x is viewed as rows x D. */
typedef struct {
    int64_t rows, D;
    double eps;
    const double *inp;    /* [rows, D] the input */
    const double *weight; /* [D] or NULL (a weight of 1) */
    const double *bias;   /* [D] or NULL (a bias of 0) */
    double *out;          /* [rows, D] forward: the output */
    double *mean;         /* [rows] forward writes each row's mean, backward reads it */
    double *rstd;         /* [rows] forward writes 1/sqrt(var + eps), backward reads it */
    const double *dout;   /* [rows, D] backward: the gradient arriving at out */
    double *dinp;         /* [rows, D] backward adds inp's gradient (NULL: not wanted) */
    double *dweight;      /* [D] backward adds weight's gradient (NULL: not wanted) */
    double *dbias;        /* [D] backward adds bias's gradient (NULL: not wanted) */
} ag_layer_norm_ref;

/* Forward: out, mean and rstd from inp, weight, bias and eps; the variance
 * is two-pass and centred. The caller owns every buffer. Returns true;
 * reports and returns false, writing nothing, when L is NULL, rows < 0 or
 * D < 1, inp, out, mean or rstd is NULL, or eps is not finite. */
bool ag_layer_norm_ref_forward_(const ag_layer_norm_ref *L);
#define ag_layer_norm_ref_forward(...) AG_AT_BOOL(ag_layer_norm_ref_forward_, __VA_ARGS__)

/* Backward: adds to dinp, dweight and dbias (those not NULL) the gradients
 * of sum(out * dout), from inp, weight, and the mean and rstd forward
 * saved. Returns true; reports and returns false, writing nothing, when L
 * is NULL, rows < 0 or D < 1, or inp, dout, mean or rstd is NULL. */
bool ag_layer_norm_ref_backward_(const ag_layer_norm_ref *L);
#define ag_layer_norm_ref_backward(...) AG_AT_BOOL(ag_layer_norm_ref_backward_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
