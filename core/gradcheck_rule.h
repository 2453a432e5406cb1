/* core/gradcheck_rule.h — the comparison both gradient checks apply
 * (core/gradcheck.c, core/gradcheck_params.c); not installed.
 *
 * As torch.autograd.gradcheck: an analytic value a passes against a numeric
 * value n iff |a - n| <= atol + rtol |n|. The relative error reported is
 * |a - n| / max(|a|, |n|), over the values where max(|a|, |n|) > atol (below
 * that, only the absolute error means anything); the rule decides.
 */
#ifndef AG_CORE_GRADCHECK_RULE_H
#define AG_CORE_GRADCHECK_RULE_H

#include <math.h>
#include <stdbool.h>

#include "internal.h"

/* The defaults (PyTorch's): finite-difference step, tolerances. */
#define AG__GC_EPS 1e-6
#define AG__GC_ATOL 1e-5
#define AG__GC_RTOL 1e-3

/* The step and tolerances as given (0: the default): reports, under op, a
 * negative, infinite or NaN one and returns false. */
static inline bool ag__gc_tols_ok(const char *op, double eps, double atol, double rtol) {
    const double v[3] = {eps, atol, rtol};
    for (int k = 0; k < 3; k++)
        if (!(v[k] >= 0) || isinf(v[k])) {
            ag__fail(op, "eps %g, atol %g, rtol %g: expected finite numbers >= 0 (0: the "
                     "default)", eps, atol, rtol);
            return false;
        }
    return true;
}

typedef struct ag__gc_cmp {
    double abs_err; /* |a - n| */
    double rel_err; /* |a - n| / max(|a|, |n|), 0 where that max is <= atol */
    double excess;  /* |a - n| / (atol + rtol |n|): above 1 fails; inf for NaN */
    bool ok;        /* the rule; false when either value is NaN */
} ag__gc_cmp;

static inline ag__gc_cmp ag__gc_compare(double a, double n, double atol, double rtol) {
    const double err = fabs(a - n), tol = atol + rtol * fabs(n);
    const double big = fmax(fabs(a), fabs(n));
    return (ag__gc_cmp){.abs_err = err,
                        .rel_err = big > atol ? err / big : 0.0,
                        .excess = isnan(err) ? INFINITY : err / tol,
                        .ok = err <= tol};
}

#endif
