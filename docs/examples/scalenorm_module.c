#include <math.h>

#include "scalenorm.h"

/* No struct of its own: g is found by name and eps is an attribute. The op
 * computes in g's dtype (f32 in a bf16 model, where norms keep f32) and the
 * result comes back in x's; ag_cast to the same dtype is a copy. */
static ag_tensor *scalenorm_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    ag_tensor *g = ag_module_param(m, "g"), *y = ag_cast(A, x, g->dtype);
    return ag_cast(A, scale_norm(A, y, g, ag_module_attr(m, "eps")), x->dtype);
}

const ag_module_type scalenorm_type = {.name = "ScaleNorm", .forward = scalenorm_forward};

ag_module *scalenorm_make(ag_arena *P, const ag_module_type *type, int64_t n, double eps) {
    ag_module *m = ag_module_new(P, sizeof *m, type);
    ag_module_set_attr(m, "eps", ag_eps_is_default(eps) ? 1e-5 : eps);
    return ag_module_new_param(m, "g", ag_scalar(P, AG_F32, sqrt((double)n))) ? m : NULL;
}
