/* tests/gradcheck_suite/cases_shape.c — reshape, unsqueeze, squeeze,
 * transpose, permute, narrow, slice, concat, expand, clone.
 *
 * The parameters of each call (dims, sizes, starts) travel in userdata as a
 * shape_args. Most of these ops only move values, so their Jacobians are 0/1
 * matrices; a few cases multiply by a constant or reuse the input so that a
 * wrong index in backward cannot hide behind symmetric values. */
#include "suite.h"

typedef struct {
    int dim, dim1;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    int perm[AG_MAX_DIMS];
    int64_t start, end, step;
} shape_args;

#define ARGS(...) ((void *)&(shape_args){__VA_ARGS__})
#define CASE(OP, SHAPES, FN, UD, ...) \
    {.op = (OP), .shapes = (SHAPES), .fn = (FN), .userdata = (UD), .in = {__VA_ARGS__}}

static const shape_args *P(void *u) { return u; }

static ag_tensor *f_reshape(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_reshape(A, x[0], P(u)->ndim, P(u)->shape);
}
/* reshape(x) * c, with c broadcast over the new shape */
static ag_tensor *f_reshape_mul(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_mul(A, ag_reshape(A, x[0], P(u)->ndim, P(u)->shape), x[1]);
}
static ag_tensor *f_unsqueeze(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_unsqueeze(A, x[0], P(u)->dim);
}
static ag_tensor *f_squeeze(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_squeeze(A, x[0], P(u)->dim);
}
static ag_tensor *f_transpose(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_transpose(A, x[0], P(u)->dim, P(u)->dim1);
}
static ag_tensor *f_permute(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_permute(A, x[0], P(u)->perm);
}
/* permute(x) * c: each output position has its own weight */
static ag_tensor *f_permute_mul(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_mul(A, ag_permute(A, x[0], P(u)->perm), x[1]);
}
static ag_tensor *f_narrow(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_narrow(A, x[0], P(u)->dim, P(u)->start, P(u)->end);
}
static ag_tensor *f_slice(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_slice(A, x[0], P(u)->dim, P(u)->start, P(u)->end, P(u)->step);
}
/* x[0:-1] * x[1:] along dim: overlapping slices of one input */
static ag_tensor *f_slice_overlap(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    const int d = P(u)->dim;
    return ag_mul(A, ag_slice(A, x[0], d, 0, -1, 1), ag_slice(A, x[0], d, 1, INT64_MAX, 1));
}
static ag_tensor *f_concat(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    return ag_concat(A, n, x, P(u)->dim);
}
/* concat(x0, x1 * x0, x0) along dim: one input in three places */
static ag_tensor *f_concat_reuse(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    ag_tensor *m = ag_mul(A, x[1], x[0]);
    return ag_concat(A, 3, (ag_tensor *[]){x[0], m, x[0]}, P(u)->dim);
}
static ag_tensor *f_expand(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_expand(A, x[0], P(u)->ndim, P(u)->shape);
}
/* expand(x) * c: the gradient is a weighted sum over the stretched dims */
static ag_tensor *f_expand_mul(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_mul(A, ag_expand(A, x[0], P(u)->ndim, P(u)->shape), x[1]);
}
static ag_tensor *f_clone(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_clone(A, x[0]);
}
/* clone(x) * x: gradient 2x through two paths */
static ag_tensor *f_clone_mul(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n, (void)u;
    return ag_mul(A, ag_clone(A, x[0]), x[0]);
}

const gc_case gc_shape[] = {
    CASE("reshape", "[2,3] -> [3,2]", f_reshape, ARGS(.ndim = 2, .shape = {3, 2}), GC_N(2, 3)),
    CASE("reshape", "[2,3,4] -> [-1,4]", f_reshape, ARGS(.ndim = 2, .shape = {-1, 4}),
         GC_N(2, 3, 4)),
    CASE("reshape", "[1,1] -> []", f_reshape, ARGS(.ndim = 0), GC_N(1, 1)),
    CASE("reshape", "[] -> [1,1,1]", f_reshape, ARGS(.ndim = 3, .shape = {1, 1, 1}), GC_N0),
    CASE("reshape", "[6] -> [3,2] * const [2]", f_reshape_mul,
         ARGS(.ndim = 2, .shape = {3, 2}), GC_N(6), GC_C(2)),
    CASE("unsqueeze", "[2,3] dim 0", f_unsqueeze, ARGS(.dim = 0), GC_N(2, 3)),
    CASE("unsqueeze", "[2,3] dim -1", f_unsqueeze, ARGS(.dim = -1), GC_N(2, 3)),
    CASE("unsqueeze", "[] dim 0", f_unsqueeze, ARGS(.dim = 0), GC_N0),
    CASE("squeeze", "[2,1,3] dim 1", f_squeeze, ARGS(.dim = 1), GC_N(2, 1, 3)),
    CASE("squeeze", "[2,1,3] dim -2", f_squeeze, ARGS(.dim = -2), GC_N(2, 1, 3)),
    CASE("squeeze", "[2,1,3] dim 0 (size 2)", f_squeeze, ARGS(.dim = 0), GC_N(2, 1, 3)),
    CASE("transpose", "[2,3] 0,1", f_transpose, ARGS(.dim = 0, .dim1 = 1), GC_N(2, 3)),
    CASE("transpose", "[2,3,4] 0,-1", f_transpose, ARGS(.dim = 0, .dim1 = -1), GC_N(2, 3, 4)),
    CASE("transpose", "[2,1,3] 1,2", f_transpose, ARGS(.dim = 1, .dim1 = 2), GC_N(2, 1, 3)),
    CASE("transpose", "[] 0,-1", f_transpose, ARGS(.dim = 0, .dim1 = -1), GC_N0),
    CASE("permute", "[2,3,4] (2,0,1)", f_permute, ARGS(.perm = {2, 0, 1}), GC_N(2, 3, 4)),
    CASE("permute", "[1,2,3,2] (3,1,0,2)", f_permute, ARGS(.perm = {3, 1, 0, 2}),
         GC_N(1, 2, 3, 2)),
    CASE("permute", "[2,3,4] (-1,0,-2) * const", f_permute_mul, ARGS(.perm = {-1, 0, -2}),
         GC_N(2, 3, 4), GC_C(4, 2, 3)),
    CASE("narrow", "[4,3] dim 0, 1+2", f_narrow, ARGS(.dim = 0, .start = 1, .end = 2),
         GC_N(4, 3)),
    CASE("narrow", "[2,5] dim -1, -3+2", f_narrow, ARGS(.dim = -1, .start = -3, .end = 2),
         GC_N(2, 5)),
    CASE("slice", "[7] 1:6:2", f_slice, ARGS(.dim = 0, .start = 1, .end = 6, .step = 2),
         GC_N(7)),
    CASE("slice", "[3,8] dim 1, -5:100:3", f_slice,
         ARGS(.dim = 1, .start = -5, .end = 100, .step = 3), GC_N(3, 8)),
    CASE("slice", "[4,1,3] dim 0, ::1", f_slice,
         ARGS(.dim = 0, .start = 0, .end = INT64_MAX, .step = 1), GC_N(4, 1, 3)),
    CASE("slice", "[2,5] x[:, :-1] * x[:, 1:]", f_slice_overlap, ARGS(.dim = 1), GC_N(2, 5)),
    CASE("concat", "[2,3] ++ [2,1] dim 1", f_concat, ARGS(.dim = 1), GC_N(2, 3), GC_N(2, 1)),
    CASE("concat", "[1,3] ++ [2,3] ++ [3,3] dim 0", f_concat, ARGS(.dim = 0), GC_N(1, 3),
         GC_N(2, 3), GC_N(3, 3)),
    CASE("concat", "[2,2,1] ++ const [2,2,3] dim -1", f_concat, ARGS(.dim = -1),
         GC_N(2, 2, 1), GC_C(2, 2, 3)),
    CASE("concat", "[3] ++ [3]*[3] ++ [3]", f_concat_reuse, ARGS(.dim = 0), GC_N(3), GC_N(3)),
    CASE("expand", "[3,1] -> [2,-1,4]", f_expand, ARGS(.ndim = 3, .shape = {2, -1, 4}),
         GC_N(3, 1)),
    CASE("expand", "[] -> [2,3]", f_expand, ARGS(.ndim = 2, .shape = {2, 3}), GC_N0),
    CASE("expand", "[1,3] -> [4,-1] * const", f_expand_mul,
         ARGS(.ndim = 2, .shape = {4, -1}), GC_N(1, 3), GC_C(4, 3)),
    CASE("expand", "[2,1,1] -> [2,3,2] * const", f_expand_mul,
         ARGS(.ndim = 3, .shape = {2, 3, 2}), GC_N(2, 1, 1), GC_C(2, 3, 2)),
    CASE("clone", "[2,3]", f_clone, NULL, GC_N(2, 3)),
    CASE("clone", "clone(x) * x [4]", f_clone_mul, NULL, GC_N(4)),
};
const int gc_shape_count = sizeof gc_shape / sizeof gc_shape[0];
