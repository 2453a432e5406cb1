/* tests/gradcheck_suite/cases_reduce.c — sum, mean, var and max over one
 * dim, several dims and every dim, with and without keepdim, with negative
 * dims. The dims of a case travel in its userdata. Inputs of max hold
 * distinct values at least 0.04 apart, so the argmax cannot move under a
 * finite-difference step. */
#include "suite.h"

/* Which dims (nd 0: every dim), keepdim, and var's correction. */
typedef struct rspec {
    int nd;
    int dims[AG_MAX_DIMS];
    bool keep;
    int correction;
} rspec;

static rspec ALL = {0, {0}, false, 1}, ALL_KEEP = {0, {0}, true, 0};
static rspec D0 = {1, {0}, false, 1}, D1_KEEP = {1, {1}, true, 0};
static rspec DM1 = {1, {-1}, false, 1}, DM1_KEEP = {1, {-1}, true, 1};
static rspec D02 = {2, {0, 2}, false, 1}, DM1M3_KEEP = {2, {-1, -3}, true, 0};
static rspec D12 = {2, {1, -1}, false, 2}, D01_KEEP = {2, {1, 0}, true, 1};
static rspec D13 = {2, {1, 3}, false, 0};

static const int *dims_of(const rspec *s) { return s->nd ? s->dims : NULL; }

static ag_tensor *f_sum(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    const rspec *s = u;
    (void)n;
    return ag_sum(A, x[0], s->nd, dims_of(s), s->keep);
}
static ag_tensor *f_mean(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    const rspec *s = u;
    (void)n;
    return ag_mean(A, x[0], s->nd, dims_of(s), s->keep);
}
static ag_tensor *f_var(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    const rspec *s = u;
    (void)n;
    return ag_var(A, x[0], s->nd, dims_of(s), s->correction, s->keep);
}
static ag_tensor *f_max(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    const rspec *s = u;
    (void)n;
    return ag_max(A, x[0], s->nd, dims_of(s), s->keep);
}
/* a reduction of a reduction, and x used twice: mean(x) * sum(x, 0) */
static ag_tensor *f_chain(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    ag_tensor *m = ag_mean(A, x[0], 0, NULL, false);
    return ag_mul(A, m, ag_sum(A, ag_var(A, x[0], AG_DIMS(1), 1, true), AG_DIMS(0), false));
}

/* A leaf whose values are a shuffled grid 0.05 apart plus a jitter below
 * 0.01: every two values differ by more than 0.04. */
static ag_tensor *distinct(ag_arena *A, ag_rng *r, int ndim, const int64_t *shape) {
    ag_tensor *t = gc_uniform(A, r, 0.0, 1.0, ndim, shape);
    if (!t) return NULL;
    double *v = t->data;
    const int64_t n = t->numel;
    for (int64_t i = 0; i < n; i++) v[i] = (double)i;
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        const int64_t j = (int64_t)ag_rng_below(r, (uint64_t)(i + 1));
        const double s = v[i];
        v[i] = v[j], v[j] = s;
    }
    for (int64_t i = 0; i < n; i++) v[i] = 0.05 * v[i] - 1.0 + 0.01 * ag_rng_uniform(r);
    return t;
}
static int make_distinct_12(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return (in[0] = distinct(A, r, AG_SHAPE(12))) ? 1 : -1;
}
static int make_distinct_3x4(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return (in[0] = distinct(A, r, AG_SHAPE(3, 4))) ? 1 : -1;
}
static int make_distinct_2x3x4(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return (in[0] = distinct(A, r, AG_SHAPE(2, 3, 4))) ? 1 : -1;
}
static int make_distinct_2x1x3x2(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return (in[0] = distinct(A, r, AG_SHAPE(2, 1, 3, 2))) ? 1 : -1;
}

#define R_CASE(OP, SHAPES, FN, SPEC, ...) \
    {.op = (OP), .shapes = (SHAPES), .fn = (FN), .userdata = &(SPEC), .in = {__VA_ARGS__}}
#define MAX_CASE(SHAPES, MAKE, SPEC) \
    {.op = "max", .shapes = (SHAPES), .fn = f_max, .make = (MAKE), .userdata = &(SPEC)}

const gc_case gc_reduce[] = {
    R_CASE("sum", "[2,3] all", f_sum, ALL, GC_N(2, 3)),
    R_CASE("sum", "[2,3] all keepdim", f_sum, ALL_KEEP, GC_N(2, 3)),
    R_CASE("sum", "[3,4] dim 0", f_sum, D0, GC_N(3, 4)),
    R_CASE("sum", "[3,4] dim -1 keepdim", f_sum, DM1_KEEP, GC_N(3, 4)),
    R_CASE("sum", "[2,3,4] dims 0,2", f_sum, D02, GC_N(2, 3, 4)),
    R_CASE("sum", "[2,3,4] dims -1,-3 keepdim", f_sum, DM1M3_KEEP, GC_N(2, 3, 4)),
    R_CASE("sum", "[2,1,3,2] dims 1,3", f_sum, D13, GC_N(2, 1, 3, 2)),
    R_CASE("sum", "[] all", f_sum, ALL, GC_N0),
    R_CASE("mean", "[5] all", f_mean, ALL, GC_N(5)),
    R_CASE("mean", "[3,4] dim -1", f_mean, DM1, GC_N(3, 4)),
    R_CASE("mean", "[2,3,4] dim 1 keepdim", f_mean, D1_KEEP, GC_N(2, 3, 4)),
    R_CASE("mean", "[2,3,4] dims 1,-1", f_mean, D12, GC_N(2, 3, 4)),
    R_CASE("mean", "[2,3,4] dims 1,0 keepdim", f_mean, D01_KEEP, GC_N(2, 3, 4)),
    R_CASE("mean", "[1,4] dim 0", f_mean, D0, GC_N(1, 4)),
    R_CASE("var", "[6] all, correction 1", f_var, ALL, GC_N(6)),
    R_CASE("var", "[3,4] all keepdim, correction 0", f_var, ALL_KEEP, GC_N(3, 4)),
    R_CASE("var", "[3,4] dim 0, correction 1", f_var, D0, GC_N(3, 4)),
    R_CASE("var", "[3,5] dim -1, correction 1", f_var, DM1, GC_N(3, 5)),
    R_CASE("var", "[2,3,4] dim 1 keepdim, corr 0", f_var, D1_KEEP, GC_N(2, 3, 4)),
    R_CASE("var", "[2,3,4] dims 0,2, correction 1", f_var, D02, GC_N(2, 3, 4)),
    R_CASE("var", "[2,3,4] dims 1,-1, correction 2", f_var, D12, GC_N(2, 3, 4)),
    R_CASE("var", "[2,3,4] dims -1,-3 keepdim", f_var, DM1M3_KEEP, GC_N(2, 3, 4)),
    R_CASE("var", "[4,3] large offset, dim 0", f_var, D0, GC_U(100.0, 101.0, 4, 3)),
    MAX_CASE("[12] all", make_distinct_12, ALL),
    MAX_CASE("[3,4] all keepdim", make_distinct_3x4, ALL_KEEP),
    MAX_CASE("[3,4] dim 0", make_distinct_3x4, D0),
    MAX_CASE("[3,4] dim -1 keepdim", make_distinct_3x4, DM1_KEEP),
    MAX_CASE("[2,3,4] dims 0,2", make_distinct_2x3x4, D02),
    MAX_CASE("[2,3,4] dims -1,-3 keepdim", make_distinct_2x3x4, DM1M3_KEEP),
    MAX_CASE("[2,3,4] dim 1 keepdim", make_distinct_2x3x4, D1_KEEP),
    MAX_CASE("[2,1,3,2] dims 1,3", make_distinct_2x1x3x2, D13),
    GC_CASE("var", "[3,4] mean(x)*sum(var(x,1),0)", f_chain, GC_N(3, 4)),
};
const int gc_reduce_count = sizeof gc_reduce / sizeof gc_reduce[0];
