/* scalenorm.h — ScaleNorm (Nguyen & Salazar, 2019), written outside the
 * library as docs/extending.md builds it: y = g * x / sqrt(sum(x^2) + eps)
 * over the last dim, with one learned scalar g.
 *   scalenorm_op.c      the op: forward and backward written with ag ops
 *   scalenorm_module.c  the module type and its constructor */
#ifndef SCALENORM_H
#define SCALENORM_H

#include <ag/ag.h>

/* y = g * x / sqrt(sum(x^2) + eps) along the last dim; x a float tensor, g
 * one that broadcasts against it (one element for ScaleNorm). */
ag_tensor *scale_norm(ag_arena *A, ag_tensor *x, ag_tensor *g, double eps);

/* The module type, for the registry and for choosing the blocks' norm. */
extern const ag_module_type scalenorm_type;

/* A ScaleNorm over n features in P (eps AG_EPS_DEFAULT: 1e-5), its gain g
 * (0-d, starts at sqrt(n)); the registry's constructor signature, so that
 * ag_norm_register_make(&scalenorm_type, scalenorm_make) lets blocks build it. */
ag_module *scalenorm_make(ag_arena *P, const ag_module_type *type, int64_t n, double eps);

#endif
