/* core/gradcheck_suite_internal.h — what the gradient-check suite's two
 * files share (core/gradcheck_inputs.c, core/gradcheck_suite.c); not
 * installed. */
#ifndef AG_CORE_GRADCHECK_SUITE_INTERNAL_H
#define AG_CORE_GRADCHECK_SUITE_INTERNAL_H

#include "ag/gradcheck_suite.h"

/* Makes the inputs of case k (from its spec or its make function) into
 * inputs[]; returns how many, or 0 or less when one could not be made. */
int ag__gc_make_inputs(const ag_gc_case *k, ag_arena *A, ag_rng *r, ag_tensor **inputs);

#endif
