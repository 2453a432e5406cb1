/* tests/gradcheck_suite/cases_binary.c — add, sub, mul, div, maximum,
 * minimum and the scalar forms, with broadcasting. */
#include "suite.h"

#define UNUSED (void)n, (void)u
static ag_tensor *f_add(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_add(A, x[0], x[1]);
}
static ag_tensor *f_sub(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_sub(A, x[0], x[1]);
}
static ag_tensor *f_mul(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_mul(A, x[0], x[1]);
}
static ag_tensor *f_div(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_div(A, x[0], x[1]);
}
static ag_tensor *f_maximum(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_maximum(A, x[0], x[1]);
}
static ag_tensor *f_minimum(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_minimum(A, x[0], x[1]);
}
/* x is used twice: the gradient is the sum of both contributions */
static ag_tensor *f_mul_self(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_mul(A, x[0], x[0]);
}
static ag_tensor *f_add_scalar(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_add_scalar(A, x[0], 0.5);
}
static ag_tensor *f_sub_scalar(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_sub_scalar(A, x[0], 2.0);
}
static ag_tensor *f_rsub_scalar(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_rsub_scalar(A, 1.0, x[0]);
}
static ag_tensor *f_mul_scalar(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_mul_scalar(A, x[0], -3.0);
}
static ag_tensor *f_div_scalar(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_div_scalar(A, x[0], 4.0);
}
static ag_tensor *f_rdiv_scalar(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    return ag_rdiv_scalar(A, 2.0, x[0]);
}

/* Inputs of maximum/minimum differ by a margin so no tie sits within eps. */
static int make_apart(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn(A, r, AG_SHAPE(3, 4));
    in[1] = gc_randn(A, r, AG_SHAPE(4));
    double *a = in[0]->data, *b = in[1]->data;
    for (int i = 0; i < 12; i++)
        if (a[i] - b[i % 4] < 0.05 && a[i] - b[i % 4] > -0.05) a[i] += 0.2;
    return 2;
}

const gc_case gc_binary[] = {
    GC_CASE("add", "[2,3] + [2,3]", f_add, GC_N(2, 3), GC_N(2, 3)),
    GC_CASE("add", "[2,3] + [3]", f_add, GC_N(2, 3), GC_N(3)),
    GC_CASE("add", "[4,1,3] + [2,1]", f_add, GC_N(4, 1, 3), GC_N(2, 1)),
    GC_CASE("add", "[] + [2,3]", f_add, GC_N0, GC_N(2, 3)),
    GC_CASE("add", "[2,3] + const [3]", f_add, GC_N(2, 3), GC_C(3)),
    GC_CASE("sub", "[2,3] - [2,1]", f_sub, GC_N(2, 3), GC_N(2, 1)),
    GC_CASE("sub", "[1,3] - [2,1]", f_sub, GC_N(1, 3), GC_N(2, 1)),
    GC_CASE("mul", "[2,3] * [2,3]", f_mul, GC_N(2, 3), GC_N(2, 3)),
    GC_CASE("mul", "[2,1,4] * [3,1]", f_mul, GC_N(2, 1, 4), GC_N(3, 1)),
    GC_CASE("mul", "x * x", f_mul_self, GC_N(5)),
    GC_CASE("div", "[2,3] / [2,3]", f_div, GC_N(2, 3), GC_U(0.5, 2.0, 2, 3)),
    GC_CASE("div", "[2,3] / [3]", f_div, GC_N(2, 3), GC_U(-2.0, -0.5, 3)),
    {.op = "maximum", .shapes = "[3,4] max [4]", .fn = f_maximum, .make = make_apart},
    {.op = "minimum", .shapes = "[3,4] min [4]", .fn = f_minimum, .make = make_apart},
    GC_CASE("add_scalar", "[2,3] + 0.5", f_add_scalar, GC_N(2, 3)),
    GC_CASE("sub_scalar", "[2,3] - 2", f_sub_scalar, GC_N(2, 3)),
    GC_CASE("rsub_scalar", "1 - [2,3]", f_rsub_scalar, GC_N(2, 3)),
    GC_CASE("mul_scalar", "[2,3] * -3", f_mul_scalar, GC_N(2, 3)),
    GC_CASE("div_scalar", "[2,3] / 4", f_div_scalar, GC_N(2, 3)),
    GC_CASE("rdiv_scalar", "2 / [2,3]", f_rdiv_scalar, GC_U(0.5, 2.0, 2, 3)),

};
const int gc_binary_count = sizeof gc_binary / sizeof gc_binary[0];
