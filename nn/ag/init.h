/* ag/init.h — parameter initialisation, in one place (torch.nn.init).
 *
 * Each fills a float leaf tensor in place, without recording a graph, from
 * the generator given (so a seed fixes every parameter of a model), and
 * returns true. Reported under the function's own name, returning false with
 * t untouched: a NULL tensor, a non-leaf or non-float one, one made before
 * its arena's last reset, a NULL rng, and the values ag_rand and ag_randn
 * refuse (non-finite bounds, mean or std, lo > hi, std < 0, bounds outside
 * t's dtype or hi - lo past its largest value); kaiming's a must be finite.
 *
 * Defaults used by the modules: Linear weight and bias uniform in
 * ±1/sqrt(in_features) (PyTorch's kaiming_uniform with a = sqrt(5)), norm
 * weights ones (Gemma: zeros), Embedding normal(0, 1). ag_init_post_norm is
 * the post_init perturbation models apply to norm weights (the DeepSeek-V3
 * RMSNorm exercise: weight.normal_(1.0, 0.02)), so that they differ from
 * exact ones.
 */
#ifndef AG_INIT_H
#define AG_INIT_H

#include "ag/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

bool ag_init_constant_(ag_tensor *t, double value);
bool ag_init_ones_(ag_tensor *t);
bool ag_init_zeros_(ag_tensor *t);
bool ag_init_uniform_(ag_tensor *t, ag_rng *r, double lo, double hi);
bool ag_init_normal_(ag_tensor *t, ag_rng *r, double mean, double std);
/* kaiming_uniform_(t, a, mode='fan_in', nonlinearity='leaky_relu'):
 * bound = sqrt(2 / (1 + a^2)) * sqrt(3 / fan_in), fan_in = the product of
 * every dim but the first (1 for a 1-d t). */
bool ag_init_kaiming_uniform_(ag_tensor *t, ag_rng *r, double a);
/* normal(1, 0.02): post_init for norm weights (see above). */
bool ag_init_post_norm_(ag_tensor *t, ag_rng *r);

#define ag_init_constant(...) AG_AT_BOOL(ag_init_constant_, __VA_ARGS__)
#define ag_init_ones(...) AG_AT_BOOL(ag_init_ones_, __VA_ARGS__)
#define ag_init_zeros(...) AG_AT_BOOL(ag_init_zeros_, __VA_ARGS__)
#define ag_init_uniform(...) AG_AT_BOOL(ag_init_uniform_, __VA_ARGS__)
#define ag_init_normal(...) AG_AT_BOOL(ag_init_normal_, __VA_ARGS__)
#define ag_init_kaiming_uniform(...) AG_AT_BOOL(ag_init_kaiming_uniform_, __VA_ARGS__)
#define ag_init_post_norm(...) AG_AT_BOOL(ag_init_post_norm_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
