#include <math.h>
#include <stdio.h>

#include "scalenorm.h"

/* Computes in g's dtype (f32 in a bf16 model, where norms keep f32) and
 * gives the result in x's; ag_cast to the same dtype is a copy. */
static ag_tensor *scalenorm_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    scalenorm *s = (scalenorm *)m;
    if (!x) return NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] != s->n) {
        ag_op_fail("ScaleNorm", "input %s: expected a last dim of %lld", ag_op_desc(x).s,
                   (long long)s->n);
        return NULL;
    }
    ag_tensor *y = scale_norm(A, ag_cast(A, x, s->g->dtype), s->g, s->eps);
    return ag_cast(A, y, x->dtype);
}

static void scalenorm_describe(const ag_module *m, char *buf, size_t size) {
    const scalenorm *s = (const scalenorm *)m;
    snprintf(buf, size, "(%lld,), eps=%g", (long long)s->n, s->eps);
}

const ag_module_type scalenorm_type = {"ScaleNorm", scalenorm_forward, scalenorm_describe};

ag_module *scalenorm_make(ag_arena *P, const ag_module_type *type, int64_t n, double eps) {
    (void)type;
    scalenorm *s = ag_arena_calloc(P, sizeof *s);
    if (!s) return NULL;
    ag_module_init(&s->base, &scalenorm_type, P);
    s->n = n;
    s->eps = ag_eps_is_default(eps) ? 1e-5 : eps;
    s->g = ag_scalar(P, AG_F32, sqrt((double)n));
    if (!ag_module_add_param(&s->base, "g", s->g)) return NULL;
    return &s->base;
}

bool scalenorm_register(void) { return ag_norm_register_make(&scalenorm_type, scalenorm_make); }
