/* scalenorm.h — ScaleNorm (Nguyen & Salazar, 2019), written outside the
 * library as docs/extending.md builds it: y = g * x / sqrt(sum(x^2) + eps)
 * over the last dim, with one learned scalar g.
 *   scalenorm_op.c      the op: forward and hand-written backward
 *   scalenorm_module.c  the module type, its constructor, its registration */
#ifndef SCALENORM_H
#define SCALENORM_H

#include <ag/ag.h>

/* y = g * x / sqrt(sum(x^2) + eps) along the last dim; x f32 or f64 with a
 * last dim of at least 1, g a one-element tensor of x's dtype. */
ag_tensor *scale_norm(ag_arena *A, ag_tensor *x, ag_tensor *g, double eps);

/* The module: n features, its eps, the gain g (0-d, starts at sqrt(n)). */
typedef struct scalenorm {
    ag_module base;
    int64_t n;
    double eps;
    ag_tensor *g;
} scalenorm;
extern const ag_module_type scalenorm_type;

/* A ScaleNorm over n features in P (eps AG_EPS_DEFAULT: 1e-5); the
 * registry's constructor signature, so blocks can build it. */
ag_module *scalenorm_make(ag_arena *P, const ag_module_type *type, int64_t n, double eps);

/* Puts ScaleNorm in the norm registry, with its constructor. */
bool scalenorm_register(void);

#endif
