/* nn/nn_internal.h — what nn's files share; not installed. */
#ifndef AG_NN_INTERNAL_H
#define AG_NN_INTERNAL_H

#include "ag/module.h"

/* The built-in norm types (LayerNorm, then each RMSNorm kind) into out;
 * returns how many (nn/norms.c). The registry starts from them. */
int ag__builtin_norm_types(const ag_module_type **out, int max);

#endif
