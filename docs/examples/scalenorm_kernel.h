/* scalenorm_kernel.h — ScaleNorm as a kernel-form op (scalenorm_kernel.c):
 * the forward and backward loops written out, for speed. */
#ifndef SCALENORM_KERNEL_H
#define SCALENORM_KERNEL_H

#include <ag/ag.h>

/* y = g * x / sqrt(sum(x^2) + eps) along the last dim, as scale_norm
 * (scalenorm.h) but with a hand-written loop for the forward and a kernel
 * backward (no second derivatives); x f32 or f64 with a last dim of at least
 * 1, g a one-element tensor of x's dtype. */
ag_tensor *scale_norm_kernel(ag_arena *A, ag_tensor *x, ag_tensor *g, double eps);

#endif
