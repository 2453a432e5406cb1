#include <math.h>

#include "scalenorm.h"

typedef struct {
    ag_module base;
    int64_t n;
    double eps;
    ag_tensor *g;
} scalenorm;

/* Computes in g's dtype (f32 in a bf16 model, where norms keep f32) and
 * gives the result in x's; ag_cast to the same dtype is a copy. */
static ag_tensor *scalenorm_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    scalenorm *s = (scalenorm *)m;
    if (!ag_module_check_last_dim(m, x, s->n)) return NULL;
    return ag_cast(A, scale_norm(A, ag_cast(A, x, s->g->dtype), s->g, s->eps), x->dtype);
}

const ag_module_type scalenorm_type = {.name = "ScaleNorm", .forward = scalenorm_forward};

ag_module *scalenorm_make(ag_arena *P, const ag_module_type *type, int64_t n, double eps) {
    scalenorm *s = ag_module_new(P, sizeof *s, type);
    if (!s) return NULL;
    s->n = n;
    s->eps = ag_eps_is_default(eps) ? 1e-5 : eps;
    s->g = ag_module_new_param(&s->base, "g", ag_scalar(P, AG_F32, sqrt((double)n)));
    return s->g ? &s->base : NULL;
}
