/* ag/loss.h — the losses with PyTorch's options: reduction, class weights,
 * ignore_index, label smoothing, probability targets, pos_weight.
 *
 * ag_cross_entropy and ag_mse_loss (ops.h) are the short forms: mean
 * reduction, no options. The forms here follow torch.nn.functional, with a
 * reduction argument, or an options struct when there are more than two
 * options. An options pointer may be NULL (PyTorch's defaults); otherwise
 * start from the defaults initializer and change what differs:
 *
 *   ag_cross_entropy_opts o = AG_CROSS_ENTROPY_DEFAULTS;
 *   o.label_smoothing = 0.1;
 *   ag_tensor *loss = ag_cross_entropy_ex(A, logits, target, &o);
 *
 * (A struct zeroed by hand has ignore_index 0, which ignores class 0.)
 *
 * Shapes. An elementwise loss (mse, l1, smooth_l1, huber,
 * binary_cross_entropy_with_logits) takes a target of the input's shape, or
 * one that broadcasts to the input's shape without changing it ([3] or []
 * against [4,3]). Any other pair is reported with the fix: PyTorch would
 * broadcast [4,1] against [4] to [4,4] with a warning; here it is an error,
 * "input [4,1] and target [4] would broadcast to [4,4]: reshape the target to
 * [4,1] or the input to [4]". The reduction 'none' gives the input's shape.
 *
 * Dtypes: f32, f64 and bf16 inputs (bf16 computes in f32 and rounds back);
 * weights are cast to the input's compute dtype. Mixed input and target
 * dtypes promote as in ag_sub. Class targets are i32.
 *
 * NaN and inf: each element's loss is its formula below; a NaN anywhere in
 * an element's terms gives a NaN element, an inf difference gives inf (mse,
 * l1, smooth_l1, huber), and 'mean'/'sum' pass NaN and inf on (inf - inf in a
 * sum is NaN). Details per loss below. Reporting: a NULL input gives NULL
 * silently; bad shapes, dtypes, an unknown reduction, a weight of the wrong
 * size, label_smoothing outside [0, 1], a class target out of range, a
 * negative beta or delta are reported (one line naming the loss) and give
 * NULL.
 */
#ifndef AG_LOSS_H
#define AG_LOSS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PyTorch's reduction='mean' / 'sum' / 'none'. MEAN is 0, so a zeroed field
 * means PyTorch's default. Any other value is reported. */
typedef enum ag_reduction {
    AG_REDUCE_MEAN = 0, /* the mean over elements (or the weighted mean, below) */
    AG_REDUCE_SUM = 1,  /* the sum */
    AG_REDUCE_NONE = 2, /* one loss per element (per position for class losses) */
} ag_reduction;

/* ---- elementwise losses: input and target of the same shape --------------- */

/* F.mse_loss: (input - target)^2, reduced. Mean of an empty input: NaN. */
ag_tensor *ag_mse_loss_ex_(ag_arena *A, ag_tensor *input, ag_tensor *target,
                           ag_reduction reduction);
/* F.l1_loss: |input - target|, reduced; the gradient at a zero difference is 0. */
ag_tensor *ag_l1_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target,
                       ag_reduction reduction);
/* F.smooth_l1_loss: with d = input - target,
 *   0.5 d^2 / beta      where |d| < beta,
 *   |d| - 0.5 beta      elsewhere;
 * beta 0 is l1_loss (PyTorch's default beta is 1). A negative or non-finite
 * beta is reported. */
ag_tensor *ag_smooth_l1_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target,
                              ag_reduction reduction, double beta);
/* F.huber_loss: with d = input - target,
 *   0.5 d^2                   where |d| < delta,
 *   delta (|d| - 0.5 delta)   elsewhere;
 * (PyTorch's default delta is 1; huber = delta * smooth_l1 with beta =
 * delta). delta must be finite and > 0, otherwise reported. */
ag_tensor *ag_huber_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target,
                          ag_reduction reduction, double delta);

/* F.binary_cross_entropy_with_logits: with x the input (logits), y the
 * target (probabilities, usually 0 or 1), p = pos_weight and w = weight,
 *   l = w * ((1 - y) x - (1 + (p - 1) y) log sigmoid(x))
 * which is w * -(p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), computed
 * in the stable form (log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), never
 * exp of a large number), so logits of any size give finite losses. weight
 * and pos_weight (NULL: none) must broadcast to the input's shape
 * (pos_weight is usually [C], one per class along the last dim). The target
 * takes a gradient when it requires one. Infinite logits give what the
 * formula gives, as in PyTorch: +inf gives inf where y < 1 and NaN where
 * y = 1 (0 * inf); -inf gives NaN (inf - inf); a NaN logit or target, NaN. */
typedef struct ag_bce_with_logits_opts {
    ag_tensor *weight;     /* rescales each element's loss; NULL: 1 */
    ag_tensor *pos_weight; /* weight of the positive term; NULL: 1 */
    ag_reduction reduction;
} ag_bce_with_logits_opts;
#define AG_BCE_WITH_LOGITS_DEFAULTS                                                       \
    {.weight = NULL, .pos_weight = NULL, .reduction = AG_REDUCE_MEAN}
ag_tensor *ag_binary_cross_entropy_with_logits_(ag_arena *A, ag_tensor *input,
                                                ag_tensor *target,
                                                const ag_bce_with_logits_opts *o);

/* ---- class losses: input [C], [N, C] or [N, C, d1, ...] --------------------
 * The classes lie along dim 1 (dim 0 for 1-d input). A class target is i32
 * with the input's shape without the class dim ([N], [N, d1, ...], or 0-d for
 * a [C] input); each value is in [0, C) or ignore_index (reported
 * otherwise, with its position). A weight is a float tensor [C]. */

/* F.nll_loss on log-probabilities x: with t a position's target and
 * w[t] its weight (1 without weight), the position's loss is -w[t] x[t],
 * and 0 where t is ignore_index. 'mean' is the sum divided by the sum of
 * w[t] over the positions not ignored (PyTorch), so every target ignored
 * gives NaN (0/0); 'none' has the target's shape. An ignored position's
 * loss is 0 whatever its row holds (NaN or inf included), as in PyTorch;
 * elsewhere a NaN x[t] gives NaN and a -inf x[t] gives inf. */
typedef struct ag_nll_loss_opts {
    ag_tensor *weight; /* [C]; NULL: every class 1 */
    ag_reduction reduction;
    int ignore_index; /* PyTorch's default is -100 */
} ag_nll_loss_opts;
#define AG_NLL_LOSS_DEFAULTS {.weight = NULL, .reduction = AG_REDUCE_MEAN, .ignore_index = -100}
ag_tensor *ag_nll_loss_(ag_arena *A, ag_tensor *input, ag_tensor *target,
                        const ag_nll_loss_opts *o);

/* F.cross_entropy with every option. With lp = log_softmax(logits) along
 * the class dim, C classes, s = label_smoothing and w the weight (1 without):
 *
 * Class-index target (i32): nll = nll_loss(lp, target, weight, reduction,
 * ignore_index) as above; with s > 0 the loss is, as PyTorch's
 * cross_entropy_loss_label_smoothing,
 *   (1 - s) nll + (s / C) smooth,
 *   smooth per position = -sum_c w[c] lp[c]   (0 at ignored positions),
 * and smooth is reduced like nll: 'sum' sums it, 'none' keeps it per
 * position, 'mean' divides its sum by the sum of w[t] over the positions
 * not ignored (by their count without weight).
 *
 * Probability target (float, the logits' shape; ignore_index must be
 * negative, as PyTorch requires): with y' = (1 - s) y + s / C,
 *   per position: -sum_c w[c] y'[c] lp[c],
 * 'mean' divides the sum by the number of positions (N * d1 * ..., not by
 * the weights), 'none' keeps one loss per position. The target takes a
 * gradient when it requires one.
 *
 * label_smoothing must be in [0, 1] (reported otherwise). With no weight,
 * 'mean', s = 0 and a class-index target this is ag_cross_entropy's fused
 * kernel; the other cases are composed from log_softmax, gather and sums.
 * NaN and inf as ag_cross_entropy: a NaN or +inf logit makes its position's
 * loss NaN, a -inf target logit gives inf, an ignored position gives 0
 * whatever its logits hold; with label smoothing a -inf logit anywhere in a
 * position makes its smoothing term inf (PyTorch's too). */
typedef struct ag_cross_entropy_opts {
    ag_tensor *weight; /* [C]; NULL: every class 1 */
    ag_reduction reduction;
    int ignore_index;       /* PyTorch's default is -100 */
    double label_smoothing; /* in [0, 1]; 0: none */
} ag_cross_entropy_opts;
#define AG_CROSS_ENTROPY_DEFAULTS                                                         \
    {.weight = NULL, .reduction = AG_REDUCE_MEAN, .ignore_index = -100, .label_smoothing = 0.0}
ag_tensor *ag_cross_entropy_ex_(ag_arena *A, ag_tensor *logits, ag_tensor *target,
                                const ag_cross_entropy_opts *o);

#define ag_mse_loss_ex(...) AG_AT(ag_mse_loss_ex_, __VA_ARGS__)
#define ag_l1_loss(...) AG_AT(ag_l1_loss_, __VA_ARGS__)
#define ag_smooth_l1_loss(...) AG_AT(ag_smooth_l1_loss_, __VA_ARGS__)
#define ag_huber_loss(...) AG_AT(ag_huber_loss_, __VA_ARGS__)
#define ag_binary_cross_entropy_with_logits(...) AG_AT(ag_binary_cross_entropy_with_logits_, __VA_ARGS__)
#define ag_nll_loss(...) AG_AT(ag_nll_loss_, __VA_ARGS__)
#define ag_cross_entropy_ex(...) AG_AT(ag_cross_entropy_ex_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
