/* nn/nn_internal.h — what nn's files share; not installed. */
#ifndef AG_NN_INTERNAL_H
#define AG_NN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ag/module.h"
#include "ag/norms.h"
#include "ag/registry.h"
#include "ag/registry.h"

/* The built-in norm types, LayerNorm then each RMSNorm kind, with their
 * block constructors (nn/norms.c): the registry starts from them. A table
 * of data, so that reading the registry calls no constructor. */
typedef struct {
    const ag_module_type *type;
    ag_norm_make_fn *make;
} ag__builtin_norm;
enum { AG__BUILTIN_NORMS = 1 + AG_RMSNORM_KINDS };
extern const ag__builtin_norm ag__builtin_norms[AG__BUILTIN_NORMS];

/* The one rule for a norm's eps, shared by the ops (norm_ops.c) and the
 * modules (norms.c): any finite number. A negative eps is accepted, as
 * PyTorch accepts it (rows with var + eps <= 0 then give inf or NaN, as
 * there); NaN and +-inf are refused (PyTorch accepts inf and returns zeros
 * or the bias). Reports "eps is <v> for <what> <shape>: expected a finite
 * number" and returns false. */
/* ag_module_add_child, reporting under op (the public function called). */
bool ag__module_add_child(const char *op, ag_module *m, const char *name, ag_module *child);

bool ag__norm_eps_ok(const char *op, const char *what, int ndim, const int64_t *shape,
                     double eps);

#endif
