/* tests/gradcheck_suite/inputs.c — input makers shared by the cases. */
#include <math.h>

#include "suite.h"

static ag_tensor *leaf(ag_tensor *t) {
    if (t) ag_set_requires_grad(t, true);
    return t;
}

ag_tensor *gc_randn(ag_arena *A, ag_rng *r, int ndim, const int64_t *shape) {
    return leaf(ag_randn(A, r, AG_F64, ndim, shape, 0.0, 1.0));
}

ag_tensor *gc_uniform(ag_arena *A, ag_rng *r, double lo, double hi, int ndim,
                      const int64_t *shape) {
    return leaf(ag_rand(A, r, AG_F64, ndim, shape, lo, hi));
}

ag_tensor *gc_randn_away(ag_arena *A, ag_rng *r, double gap, int nk, const double *kinks,
                         int ndim, const int64_t *shape) {
    ag_tensor *t = ag_randn(A, r, AG_F64, ndim, shape, 0.0, 1.0);
    if (!t) return NULL;
    double *v = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        for (int k = 0; k < nk; k++) {
            if (fabs(v[i] - kinks[k]) < gap) {
                v[i] = kinks[k] + (v[i] >= kinks[k] ? gap : -gap) * (1.0 + ag_rng_uniform(r));
                k = -1; /* recheck against every kink */
            }
        }
    }
    return leaf(t);
}

ag_tensor *gc_ids(ag_arena *A, ag_rng *r, int64_t n, int ndim, const int64_t *shape) {
    ag_tensor *t = ag_empty(A, AG_I32, ndim, shape);
    if (!t) return NULL;
    int32_t *v = t->data;
    for (int64_t i = 0; i < t->numel; i++) v[i] = (int32_t)ag_rng_below(r, (uint64_t)n);
    return t;
}

ag_tensor *gc_const(ag_arena *A, ag_rng *r, int ndim, const int64_t *shape) {
    return ag_randn(A, r, AG_F64, ndim, shape, 0.0, 1.0);
}

int gc_make_inputs(const gc_case *k, ag_arena *A, ag_rng *r, ag_tensor **inputs) {
    if (k->make) return k->make(A, r, inputs);
    int n = 0;
    for (; n < GC_MAX_SPEC && k->in[n].kind != GC_END; n++) {
        const gc_input *s = &k->in[n];
        switch (s->kind) {
        case GC_RANDN: inputs[n] = gc_randn(A, r, s->ndim, s->shape); break;
        case GC_UNIFORM: inputs[n] = gc_uniform(A, r, s->lo, s->hi, s->ndim, s->shape); break;
        case GC_AWAY: inputs[n] = gc_randn_away(A, r, s->hi, 1, &s->lo, s->ndim, s->shape); break;
        case GC_IDS: inputs[n] = gc_ids(A, r, (int64_t)s->hi, s->ndim, s->shape); break;
        case GC_CONST: inputs[n] = gc_const(A, r, s->ndim, s->shape); break;
        case GC_END: break;
        }
        if (!inputs[n]) return -1;
    }
    return n;
}
