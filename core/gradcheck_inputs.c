/* core/gradcheck_inputs.c — the inputs of gradient-check cases
 * (ag/gradcheck_suite.h): the makers and a case's spec turned into inputs. */
#include <math.h>

#include "ag/gradcheck_suite.h"
#include "gradcheck_suite_internal.h"
#include "internal.h"

static ag_tensor *leaf(ag_tensor *t) {
    if (t) t->requires_grad = true;
    return t;
}

ag_tensor *ag_gc_randn_(ag_arena *A, ag_rng *r, int ndim, const int64_t *shape) {
    return leaf(ag_randn_(A, r, AG_F64, ndim, shape, 0.0, 1.0));
}

ag_tensor *ag_gc_uniform_(ag_arena *A, ag_rng *r, double lo, double hi, int ndim,
                          const int64_t *shape) {
    return leaf(ag_rand_(A, r, AG_F64, ndim, shape, lo, hi));
}

ag_tensor *ag_gc_randn_away_(ag_arena *A, ag_rng *r, double gap, int nk, const double *kinks,
                             int ndim, const int64_t *shape) {
    if (!(gap >= 0) || isinf(gap) || nk < 0 || (nk > 0 && !kinks)) {
        ag__fail("gc_randn_away", "gap %g, %d kinks%s: expected a finite gap >= 0 and a "
                 "list of nk >= 0 kinks", gap, nk, nk > 0 && !kinks ? " in a NULL list" : "");
        return NULL;
    }
    ag_tensor *t = ag_randn_(A, r, AG_F64, ndim, shape, 0.0, 1.0);
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

/* The most ids an i32 tensor can hold: 0 .. INT32_MAX. */
#define IDS_MAX ((int64_t)INT32_MAX + 1)

ag_tensor *ag_gc_ids_(ag_arena *A, ag_rng *r, int64_t n, int ndim, const int64_t *shape) {
    if (n < 1 || n > IDS_MAX || !r) {
        ag__fail("gc_ids", "ids below %lld%s: expected 1 <= n <= 2^31 (i32 ids) and a "
                 "generator", (long long)n, r ? "" : " from a NULL generator");
        return NULL;
    }
    ag_tensor *t = ag_empty_(A, AG_I32, ndim, shape);
    if (!t) return NULL;
    int32_t *v = t->data;
    for (int64_t i = 0; i < t->numel; i++) v[i] = (int32_t)ag_rng_below(r, (uint64_t)n);
    return t;
}

ag_tensor *ag_gc_const_(ag_arena *A, ag_rng *r, int ndim, const int64_t *shape) {
    return ag_randn_(A, r, AG_F64, ndim, shape, 0.0, 1.0);
}

int ag__gc_make_inputs(const ag_gc_case *k, ag_arena *A, ag_rng *r, ag_tensor **inputs) {
    if (k->make) return k->make(A, r, inputs);
    int n = 0;
    for (; n < AG_GC_MAX_SPEC && k->in[n].kind != AG_GC_END; n++) {
        const ag_gc_input *s = &k->in[n];
        inputs[n] = NULL;
        switch (s->kind) {
        case AG_GC_RANDN: inputs[n] = ag_gc_randn_(A, r, s->ndim, s->shape); break;
        case AG_GC_UNIFORM:
            inputs[n] = ag_gc_uniform_(A, r, s->lo, s->hi, s->ndim, s->shape);
            break;
        case AG_GC_AWAY:
            inputs[n] = ag_gc_randn_away_(A, r, s->hi, 1, &s->lo, s->ndim, s->shape);
            break;
        case AG_GC_IDS:
            /* hi is a double: one outside the ids' range (or NaN) is never cast */
            if (s->hi >= 1 && s->hi <= (double)IDS_MAX)
                inputs[n] = ag_gc_ids_(A, r, (int64_t)s->hi, s->ndim, s->shape);
            else
                ag__fail("gc_ids", "ids below %g: expected 1 <= n <= 2^31 (i32 ids)", s->hi);
            break;
        case AG_GC_CONST: inputs[n] = ag_gc_const_(A, r, s->ndim, s->shape); break;
        default:
            ag__fail("gradcheck", "%s: input %d has kind %d: expected an ag_gc_kind (AG_GC_END "
                     "... AG_GC_CONST)", k->op ? k->op : "case", n, (int)s->kind);
            break;
        }
        if (!inputs[n]) return -1;
    }
    return n;
}
