/* core/vmath.c — core/vmath.h's functions over arrays of f32, for callers
 * that transform a whole row (softmax's exponentials, the benchmark, the
 * tests). Each is a plain loop over the inline form, vectorized by the
 * compiler; y may be x (in place). */
#include "vmath.h"

#define AG__VM_ARRAY(name, f)                                                           \
    void name(float *y, const float *x, int64_t n) {                                    \
        for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);                                 \
    }

AG__VM_ARRAY(ag__expf_array, ag__expf)
AG__VM_ARRAY(ag__tanhf_array, ag__tanhf)
AG__VM_ARRAY(ag__erff_array, ag__erff)
AG__VM_ARRAY(ag__sigmoidf_array, ag__sigmoidf)
AG__VM_ARRAY(ag__siluf_array, ag__siluf)
AG__VM_ARRAY(ag__normcdff_array, ag__normcdff)
AG__VM_ARRAY(ag__geluf_array, ag__geluf)
AG__VM_ARRAY(ag__normpdff_array, ag__normpdff)
