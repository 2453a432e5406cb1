/* nn/nn_internal.h — what nn's files share; not installed. */
#ifndef AG_NN_INTERNAL_H
#define AG_NN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ag/module.h"

/* The built-in norm types (LayerNorm, then each RMSNorm kind) into out;
 * returns how many (nn/norms.c). The registry starts from them. */
int ag__builtin_norm_types(const ag_module_type **out, int max);

/* The one rule for a norm's eps, shared by the ops (norm_ops.c) and the
 * modules (norms.c): any finite number. A negative eps is accepted, as
 * PyTorch accepts it (rows with var + eps <= 0 then give inf or NaN, as
 * there); NaN and +-inf are refused (PyTorch accepts inf and returns zeros
 * or the bias). Reports "eps is <v> for <what> <shape>: expected a finite
 * number" and returns false. */
bool ag__norm_eps_ok(const char *op, const char *what, const char *shape, double eps);

#endif
