/* ag/ops.h — differentiable ops.
 *
 * Every op takes the arena for its result first, checks its arguments
 * (reporting one line through the error handler and returning NULL on bad
 * input; NULL in gives NULL out, silently), computes the forward value, and
 * records a graph node when an input requires a gradient.
 *
 * Float ops accept f32, f64 and bf16. bf16 is a storage dtype: the op casts
 * to f32, computes, and rounds the result back to bf16 (both casts are
 * recorded, so gradients flow). Binary ops promote mixed float dtypes to the
 * wider one (bf16 < f32 < f64), as PyTorch does. i32 tensors are ids, masks
 * and targets; they take no gradient.
 *
 * Broadcasting follows PyTorch (and NumPy): shapes align from the right; a
 * size-1 dim stretches. Backward sums the gradient back to each input's shape.
 * Dims may be negative (-1 is the last).
 *
 * Each name below is a macro that records the caller's file and line for the
 * error message and calls the function of the same name with a trailing
 * underscore.
 */
#ifndef AG_OPS_H
#define AG_OPS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- binary, with broadcasting ------------------------------------------- */
ag_tensor *ag_add_(ag_arena *A, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_sub_(ag_arena *A, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_mul_(ag_arena *A, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_div_(ag_arena *A, ag_tensor *a, ag_tensor *b);
/* Elementwise max/min; on ties each input receives half the gradient (PyTorch). */
ag_tensor *ag_maximum_(ag_arena *A, ag_tensor *a, ag_tensor *b);
ag_tensor *ag_minimum_(ag_arena *A, ag_tensor *a, ag_tensor *b);

/* ---- tensor with scalar --------------------------------------------------- */
ag_tensor *ag_add_scalar_(ag_arena *A, ag_tensor *x, double s);  /* x + s */
ag_tensor *ag_sub_scalar_(ag_arena *A, ag_tensor *x, double s);  /* x - s */
ag_tensor *ag_rsub_scalar_(ag_arena *A, double s, ag_tensor *x); /* s - x */
ag_tensor *ag_mul_scalar_(ag_arena *A, ag_tensor *x, double s);  /* x * s */
ag_tensor *ag_div_scalar_(ag_arena *A, ag_tensor *x, double s);  /* x / s */
ag_tensor *ag_rdiv_scalar_(ag_arena *A, double s, ag_tensor *x); /* s / x */

/* ---- unary ---------------------------------------------------------------- */
ag_tensor *ag_neg_(ag_arena *A, ag_tensor *x);
ag_tensor *ag_exp_(ag_arena *A, ag_tensor *x);
ag_tensor *ag_log_(ag_arena *A, ag_tensor *x);
ag_tensor *ag_sqrt_(ag_arena *A, ag_tensor *x);
ag_tensor *ag_rsqrt_(ag_arena *A, ag_tensor *x);
ag_tensor *ag_pow_(ag_arena *A, ag_tensor *x, double p);  /* x^p; d/dx = p x^(p-1) */
ag_tensor *ag_abs_(ag_arena *A, ag_tensor *x);            /* gradient sign(x), 0 at 0 */
ag_tensor *ag_square_(ag_arena *A, ag_tensor *x);
ag_tensor *ag_tanh_(ag_arena *A, ag_tensor *x);
ag_tensor *ag_sigmoid_(ag_arena *A, ag_tensor *x);
ag_tensor *ag_relu_(ag_arena *A, ag_tensor *x);           /* gradient 0 at 0 */
ag_tensor *ag_gelu_(ag_arena *A, ag_tensor *x);           /* exact: x * Phi(x) with erf */
ag_tensor *ag_gelu_tanh_(ag_arena *A, ag_tensor *x);      /* PyTorch approximate='tanh' */
ag_tensor *ag_silu_(ag_arena *A, ag_tensor *x);           /* x * sigmoid(x) */
ag_tensor *ag_sin_(ag_arena *A, ag_tensor *x);
ag_tensor *ag_cos_(ag_arena *A, ag_tensor *x);
ag_tensor *ag_log1p_(ag_arena *A, ag_tensor *x);          /* log(1 + x), exact near 0 */
ag_tensor *ag_expm1_(ag_arena *A, ag_tensor *x);          /* exp(x) - 1, exact near 0 */
ag_tensor *ag_erf_(ag_arena *A, ag_tensor *x);            /* d/dx = 2/sqrt(pi) exp(-x^2) */
/* F.logsigmoid: log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), finite for
 * every finite x; gradient sigmoid(-x). */
ag_tensor *ag_log_sigmoid_(ag_arena *A, ag_tensor *x);
/* F.softplus(x, beta, threshold): log(1 + exp(beta x)) / beta, and x itself
 * where beta x > threshold (PyTorch's defaults: beta 1, threshold 20); the
 * gradient is sigmoid(beta x), 1 in the linear part. beta must be finite and
 * non-zero, threshold not NaN (+inf: never linear); otherwise reported. */
ag_tensor *ag_softplus_(ag_arena *A, ag_tensor *x, double beta, double threshold);
/* F.leaky_relu: x where x > 0, negative_slope * x elsewhere (PyTorch's
 * default slope is 0.01); gradient 1 or negative_slope, the slope at 0.
 * A non-finite slope is reported. */
ag_tensor *ag_leaky_relu_(ag_arena *A, ag_tensor *x, double negative_slope);
/* F.elu: x where x > 0, alpha (exp(x) - 1) elsewhere (PyTorch's default
 * alpha is 1); gradient 1 or alpha exp(x), alpha exp(0) at 0. A non-finite
 * alpha is reported. */
ag_tensor *ag_elu_(ag_arena *A, ag_tensor *x, double alpha);
/* torch.clamp(x, min, max): min where x < min, max where x > max, x between
 * (NaN stays NaN; min > max gives max everywhere, as PyTorch). The gradient
 * passes where min <= x <= max, the bounds included, and is 0 elsewhere
 * (PyTorch's clamp_backward). clamp_min and clamp_max bound one side only
 * (PyTorch's clamp(x, min=m) and clamp(x, max=m)). Bounds may be +-inf; a NaN
 * bound is reported (it is never read as "no bound"). */
ag_tensor *ag_clamp_(ag_arena *A, ag_tensor *x, double min, double max);
ag_tensor *ag_clamp_min_(ag_arena *A, ag_tensor *x, double min);
ag_tensor *ag_clamp_max_(ag_arena *A, ag_tensor *x, double max);

/* ---- reductions ----------------------------------------------------------- */
/* Over the ndims dims listed (ndims 0 or dims NULL: every dim). keepdim keeps
 * reduced dims with size 1. A dim listed twice is reported. */
ag_tensor *ag_sum_(ag_arena *A, ag_tensor *x, int ndims, const int *dims, bool keepdim);
ag_tensor *ag_mean_(ag_arena *A, ag_tensor *x, int ndims, const int *dims, bool keepdim);
/* The largest value; the gradient goes to the first position holding it
 * (row-major order within the reduced elements). */
ag_tensor *ag_max_(ag_arena *A, ag_tensor *x, int ndims, const int *dims, bool keepdim);
/* Variance with divisor N - correction (0: biased, 1: unbiased, PyTorch's default). */
ag_tensor *ag_var_(ag_arena *A, ag_tensor *x, int ndims, const int *dims, int correction,
                   bool keepdim);
/* i32 index of the first maximum along dim; takes no gradient. */
ag_tensor *ag_argmax_(ag_arena *A, ag_tensor *x, int dim, bool keepdim);

/* ---- matmul (torch.matmul's rules) ---------------------------------------- */
/* 1-d x 1-d: dot product (0-d); 2-d x 2-d: matrix product; 1-d operands get
 * a dim prepended (left) or appended (right) that is removed afterwards;
 * batch dims (all but the last two) broadcast. */
ag_tensor *ag_matmul_(ag_arena *A, ag_tensor *a, ag_tensor *b);

/* ---- shape ---------------------------------------------------------------- */
/* Same data, new shape (one size may be -1: inferred). Shares storage. */
ag_tensor *ag_reshape_(ag_arena *A, ag_tensor *x, int ndim, const int64_t *shape);
/* Insert / remove a size-1 dim. Share storage. */
ag_tensor *ag_unsqueeze_(ag_arena *A, ag_tensor *x, int dim);
ag_tensor *ag_squeeze_(ag_arena *A, ag_tensor *x, int dim);
/* Swap two dims; reorder all dims (perm has x->ndim entries). Copy. */
ag_tensor *ag_transpose_(ag_arena *A, ag_tensor *x, int dim0, int dim1);
ag_tensor *ag_permute_(ag_arena *A, ag_tensor *x, const int *perm);
/* Elements start .. start+length-1 along dim. Copy. */
ag_tensor *ag_narrow_(ag_arena *A, ag_tensor *x, int dim, int64_t start, int64_t length);
/* Python's x[start:end:step] along dim (step > 0; start and end clamp like
 * Python, negative values count from the end). Copy. */
ag_tensor *ag_slice_(ag_arena *A, ag_tensor *x, int dim, int64_t start, int64_t end,
                     int64_t step);
/* Joins n tensors along dim; all other sizes must match. Copy. */
ag_tensor *ag_concat_(ag_arena *A, int n, ag_tensor *const *xs, int dim);
/* Broadcasts x to shape (torch.broadcast_to / expand; -1 keeps a size). Copy. */
ag_tensor *ag_expand_(ag_arena *A, ag_tensor *x, int ndim, const int64_t *shape);
/* Differentiable copy (torch.clone). */
ag_tensor *ag_clone_(ag_arena *A, ag_tensor *x);

/* ---- indexing ------------------------------------------------------------- */
/* torch.index_select: index is 1-d i32; the result has index->numel entries
 * along dim. Gradient scatters (adds) back into the selected positions. */
ag_tensor *ag_index_select_(ag_arena *A, ag_tensor *x, int dim, ag_tensor *index);
/* Rows of weight [V, D] picked by ids (i32, any shape): result ids.shape + [D]
 * (F.embedding). */
ag_tensor *ag_embedding_(ag_arena *A, ag_tensor *weight, ag_tensor *ids);
/* torch.gather: index (i32) has x's ndim; out[i][j][k] = x[index[i][j][k]][j][k]
 * for dim 0, and so on. */
ag_tensor *ag_gather_(ag_arena *A, ag_tensor *x, int dim, ag_tensor *index);
/* x where mask is zero, value where it is not; mask (any dtype) broadcasts to x. */
ag_tensor *ag_masked_fill_(ag_arena *A, ag_tensor *x, ag_tensor *mask, double value);
/* a where cond is non-zero, else b; all three broadcast together. */
ag_tensor *ag_where_(ag_arena *A, ag_tensor *cond, ag_tensor *a, ag_tensor *b);
/* torch.where(cond, a, b) with a number on one side: ag_where_scalar takes
 * b as a number (torch.where(cond, x, 0.0)), ag_where_scalar_a takes a. The
 * number is a 0-d tensor of the other side's dtype (rounded to it, as
 * PyTorch's scalar is); the result has the broadcast shape of cond and the
 * tensor, and the gradient reaches the tensor where it was taken. Any value,
 * NaN and inf included, is the caller's choice (as masked_fill's). */
ag_tensor *ag_where_scalar_(ag_arena *A, ag_tensor *cond, ag_tensor *a, double b);
ag_tensor *ag_where_scalar_a_(ag_arena *A, ag_tensor *cond, double a, ag_tensor *b);

/* ---- softmax and losses (the losses with PyTorch's options: loss.h) -------- */
/* softmax(x) = exp(x - m) / sum exp(x - m) along dim, m the slice's max;
 * log_softmax = x - m - log(sum exp(x - m)). NaN and inf, slice by slice
 * (each slice along dim on its own), as PyTorch: a NaN in a slice makes the
 * whole slice NaN, and so does +inf (m is inf, inf - inf is NaN); -inf
 * entries give 0 (log_softmax: -inf) and leave the others as if they were
 * absent (the masking idiom); a slice of only -inf gives NaN (0/0). */
ag_tensor *ag_softmax_(ag_arena *A, ag_tensor *x, int dim);
ag_tensor *ag_log_softmax_(ag_arena *A, ag_tensor *x, int dim);
/* Causal multi-head self-attention, fused: q, k, v are [B, T, C] (or [T, C],
 * one batch row) of one float dtype and one shape; head h is the column
 * block [h*hd, (h+1)*hd) of the last dim, hd = C / n_head. The result has
 * q's shape and dtype and equals PyTorch's
 *   y = F.scaled_dot_product_attention(q', k', v', is_causal=True)
 *         .transpose(1, 2).reshape(q.shape),  x' = x.view(B,T,H,hd).transpose(1,2)
 * (scale 1/sqrt(hd); query i sees keys 0..i). No [B,H,T,T] tensor is made
 * or kept: forward is an online softmax over key tiles and saves only the
 * row log-sum-exp [B, H, T]; backward recomputes the weights tile by tile.
 * Sums run in the compute dtype (double for f64, float for f32 and bf16,
 * which is cast to f32 and the result rounded back). Differentiable in q, k
 * and v, twice (the vjp is written with ops). Reported (NULL): a dtype that
 * is not float or differs between q, k and v, shapes that differ or are not
 * 2-d or 3-d, n_head <= 0 or not dividing C. */
ag_tensor *ag_causal_attention_(ag_arena *A, ag_tensor *q, ag_tensor *k, ag_tensor *v,
                                int64_t n_head);
/* F.cross_entropy with class indices: logits [N, C] with target [N], or [C]
 * with a 0-d target, or [N, C, d1, ...] with target [N, d1, ...]. Mean over
 * the targets that are not ignore_index (PyTorch uses -100); 0-d result.
 * Every target ignored: NaN (0/0), as PyTorch. NaN and inf, as PyTorch: a
 * position's loss is logsumexp(logits) - logits[target], so -inf logits of
 * other classes are harmless, a -inf target logit gives inf, and a NaN or
 * +inf logit anywhere in the position's classes gives NaN; the mean is then
 * inf or NaN. */
ag_tensor *ag_cross_entropy_(ag_arena *A, ag_tensor *logits, ag_tensor *target,
                             int ignore_index);
/* F.mse_loss, mean reduction (ag_mse_loss_ex in loss.h takes a reduction).
 * The target has the input's shape or broadcasts to it without changing it
 * (see loss.h; [4,1] against [4] is reported with the fix). An inf
 * difference gives inf, a NaN one NaN (the sum is compensated but keeps inf,
 * as PyTorch). */
ag_tensor *ag_mse_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target);

/* ---- dtype ---------------------------------------------------------------- */
/* Differentiable cast between f32, f64 and bf16 (the gradient is cast back).
 * To or from i32 is allowed without gradient; to i32 truncates toward zero
 * and reports (returning NULL) an element that is NaN, inf or outside the i32
 * range. Same dtype: a clone. */
ag_tensor *ag_cast_(ag_arena *A, ag_tensor *x, ag_dtype dt);

#define ag_add(...) AG_AT(ag_add_, __VA_ARGS__)
#define ag_sub(...) AG_AT(ag_sub_, __VA_ARGS__)
#define ag_mul(...) AG_AT(ag_mul_, __VA_ARGS__)
#define ag_div(...) AG_AT(ag_div_, __VA_ARGS__)
#define ag_maximum(...) AG_AT(ag_maximum_, __VA_ARGS__)
#define ag_minimum(...) AG_AT(ag_minimum_, __VA_ARGS__)
#define ag_add_scalar(...) AG_AT(ag_add_scalar_, __VA_ARGS__)
#define ag_sub_scalar(...) AG_AT(ag_sub_scalar_, __VA_ARGS__)
#define ag_rsub_scalar(...) AG_AT(ag_rsub_scalar_, __VA_ARGS__)
#define ag_mul_scalar(...) AG_AT(ag_mul_scalar_, __VA_ARGS__)
#define ag_div_scalar(...) AG_AT(ag_div_scalar_, __VA_ARGS__)
#define ag_rdiv_scalar(...) AG_AT(ag_rdiv_scalar_, __VA_ARGS__)
#define ag_neg(...) AG_AT(ag_neg_, __VA_ARGS__)
#define ag_exp(...) AG_AT(ag_exp_, __VA_ARGS__)
#define ag_log(...) AG_AT(ag_log_, __VA_ARGS__)
#define ag_sqrt(...) AG_AT(ag_sqrt_, __VA_ARGS__)
#define ag_rsqrt(...) AG_AT(ag_rsqrt_, __VA_ARGS__)
#define ag_pow(...) AG_AT(ag_pow_, __VA_ARGS__)
#define ag_abs(...) AG_AT(ag_abs_, __VA_ARGS__)
#define ag_square(...) AG_AT(ag_square_, __VA_ARGS__)
#define ag_tanh(...) AG_AT(ag_tanh_, __VA_ARGS__)
#define ag_sigmoid(...) AG_AT(ag_sigmoid_, __VA_ARGS__)
#define ag_relu(...) AG_AT(ag_relu_, __VA_ARGS__)
#define ag_gelu(...) AG_AT(ag_gelu_, __VA_ARGS__)
#define ag_gelu_tanh(...) AG_AT(ag_gelu_tanh_, __VA_ARGS__)
#define ag_silu(...) AG_AT(ag_silu_, __VA_ARGS__)
#define ag_sin(...) AG_AT(ag_sin_, __VA_ARGS__)
#define ag_cos(...) AG_AT(ag_cos_, __VA_ARGS__)
#define ag_log1p(...) AG_AT(ag_log1p_, __VA_ARGS__)
#define ag_expm1(...) AG_AT(ag_expm1_, __VA_ARGS__)
#define ag_erf(...) AG_AT(ag_erf_, __VA_ARGS__)
#define ag_log_sigmoid(...) AG_AT(ag_log_sigmoid_, __VA_ARGS__)
#define ag_softplus(...) AG_AT(ag_softplus_, __VA_ARGS__)
#define ag_leaky_relu(...) AG_AT(ag_leaky_relu_, __VA_ARGS__)
#define ag_elu(...) AG_AT(ag_elu_, __VA_ARGS__)
#define ag_clamp(...) AG_AT(ag_clamp_, __VA_ARGS__)
#define ag_clamp_min(...) AG_AT(ag_clamp_min_, __VA_ARGS__)
#define ag_clamp_max(...) AG_AT(ag_clamp_max_, __VA_ARGS__)
#define ag_sum(...) AG_AT(ag_sum_, __VA_ARGS__)
#define ag_mean(...) AG_AT(ag_mean_, __VA_ARGS__)
#define ag_max(...) AG_AT(ag_max_, __VA_ARGS__)
#define ag_var(...) AG_AT(ag_var_, __VA_ARGS__)
#define ag_argmax(...) AG_AT(ag_argmax_, __VA_ARGS__)
#define ag_matmul(...) AG_AT(ag_matmul_, __VA_ARGS__)
#define ag_reshape(...) AG_AT(ag_reshape_, __VA_ARGS__)
#define ag_unsqueeze(...) AG_AT(ag_unsqueeze_, __VA_ARGS__)
#define ag_squeeze(...) AG_AT(ag_squeeze_, __VA_ARGS__)
#define ag_transpose(...) AG_AT(ag_transpose_, __VA_ARGS__)
#define ag_permute(...) AG_AT(ag_permute_, __VA_ARGS__)
#define ag_narrow(...) AG_AT(ag_narrow_, __VA_ARGS__)
#define ag_slice(...) AG_AT(ag_slice_, __VA_ARGS__)
#define ag_concat(...) AG_AT(ag_concat_, __VA_ARGS__)
#define ag_expand(...) AG_AT(ag_expand_, __VA_ARGS__)
#define ag_clone(...) AG_AT(ag_clone_, __VA_ARGS__)
#define ag_index_select(...) AG_AT(ag_index_select_, __VA_ARGS__)
#define ag_embedding(...) AG_AT(ag_embedding_, __VA_ARGS__)
#define ag_gather(...) AG_AT(ag_gather_, __VA_ARGS__)
#define ag_masked_fill(...) AG_AT(ag_masked_fill_, __VA_ARGS__)
#define ag_where(...) AG_AT(ag_where_, __VA_ARGS__)
#define ag_where_scalar(...) AG_AT(ag_where_scalar_, __VA_ARGS__)
#define ag_where_scalar_a(...) AG_AT(ag_where_scalar_a_, __VA_ARGS__)
#define ag_softmax(...) AG_AT(ag_softmax_, __VA_ARGS__)
#define ag_log_softmax(...) AG_AT(ag_log_softmax_, __VA_ARGS__)
#define ag_causal_attention(...) AG_AT(ag_causal_attention_, __VA_ARGS__)
#define ag_cross_entropy(...) AG_AT(ag_cross_entropy_, __VA_ARGS__)
#define ag_mse_loss(...) AG_AT(ag_mse_loss_, __VA_ARGS__)
#define ag_cast(...) AG_AT(ag_cast_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
