/* tests/gradcheck_suite/cases_unary.c — neg, exp, log, sqrt, rsqrt, pow,
 * abs, square, tanh, sigmoid, relu, gelu, gelu_tanh, silu, sin, cos, log1p,
 * expm1, erf, log_sigmoid, softplus, leaky_relu, elu, clamp (both sides and
 * one). Domain-limited ops get positive inputs (log1p: above -1); abs, relu,
 * leaky_relu, elu stay away from their kink at 0, clamp from its bounds,
 * softplus from its threshold; the saturating ops also see wide inputs
 * (|x| up to ~25). */
#include "suite.h"

#define UNUSED (void)n, (void)u
#define F1(op)                                                                      \
    static ag_tensor *f_##op(ag_arena *A, ag_tensor *const *x, int n, void *u) {    \
        UNUSED;                                                                     \
        return ag_##op(A, x[0]);                                                    \
    }
F1(neg)
F1(exp)
F1(log)
F1(sqrt)
F1(rsqrt)
F1(abs)
F1(square)
F1(tanh)
F1(sigmoid)
F1(relu)
F1(gelu)
F1(gelu_tanh)
F1(silu)
F1(sin)
F1(cos)
F1(log1p)
F1(expm1)
F1(erf)
F1(log_sigmoid)

/* the ops with scalar parameters: two numbers through userdata */
static ag_tensor *f_softplus(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    const double *p = u;
    return ag_softplus(A, x[0], p[0], p[1]);
}
static ag_tensor *f_leaky_relu(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_leaky_relu(A, x[0], *(const double *)u);
}
static ag_tensor *f_elu(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_elu(A, x[0], *(const double *)u);
}
static ag_tensor *f_clamp(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    const double *p = u;
    return ag_clamp(A, x[0], p[0], p[1]);
}
static ag_tensor *f_clamp_min(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_clamp_min(A, x[0], *(const double *)u);
}
static ag_tensor *f_clamp_max(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_clamp_max(A, x[0], *(const double *)u);
}
static double sp_default[2] = {1.0, 20.0}, sp_beta2[2] = {2.0, 3.0};
static double slope_default = 0.01, slope_big = 0.3, alpha_one = 1.0, alpha_half = 0.5;
static double clamp_pm05[2] = {-0.5, 0.5}, clamp_min_m03 = -0.3, clamp_max_07 = 0.7;

/* pow's exponent comes through userdata */
static ag_tensor *f_pow(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    (void)n;
    return ag_pow(A, x[0], *(const double *)u);
}
static double p_two = 2.0, p_three = 3.0, p_half = 0.5, p_m15 = -1.5, p_zero = 0.0,
              p_one = 1.0;

/* A chain: log(sigmoid(x)) + silu(x) * tanh(x), x used three times. */
static ag_tensor *f_chain(ag_arena *A, ag_tensor *const *x, int n, void *u) {
    UNUSED;
    ag_tensor *a = ag_log(A, ag_sigmoid(A, x[0]));
    ag_tensor *b = ag_mul(A, ag_silu(A, x[0]), ag_tanh(A, x[0]));
    return ag_add(A, a, b);
}

/* Inputs of a given spread: normal(0, 1) scaled in place. */
static ag_tensor *scaled(ag_arena *A, ag_rng *r, double s, int ndim, const int64_t *shape) {
    ag_tensor *t = gc_randn(A, r, ndim, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; i++) ((double *)t->data)[i] *= s;
    return t;
}
/* wide: |x| up to ~25 (saturating tails of tanh, sigmoid, gelu, silu) */
static int make_wide(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = scaled(A, r, 8.0, AG_SHAPE(3, 4));
    return in[0] ? 1 : -1;
}
/* moderate: spread 3 (exp stays below ~e^10) */
static int make_spread3(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = scaled(A, r, 3.0, AG_SHAPE(4, 1, 3));
    return in[0] ? 1 : -1;
}
/* a positive 0-d input */
static int make_pos0(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_uniform(A, r, 0.5, 2.0, 0, NULL);
    return in[0] ? 1 : -1;
}
/* normal entries kept 0.05 away from each of the n kinks (clamp's bounds) */
static int make_away2(ag_arena *A, ag_rng *r, ag_tensor **in, const double *kinks, int n) {
    in[0] = gc_randn_away(A, r, 0.05, n, kinks, AG_SHAPE(3, 5));
    return in[0] ? 1 : -1;
}
static int make_clamp(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_away2(A, r, in, clamp_pm05, 2);
}
static int make_clamp_min(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_away2(A, r, in, &clamp_min_m03, 1);
}
static int make_clamp_max(ag_arena *A, ag_rng *r, ag_tensor **in) {
    return make_away2(A, r, in, &clamp_max_07, 1);
}
/* softplus with beta 2, threshold 3: inputs of spread 2 kept 0.1 off the switch
 * at x = 1.5 (made 0.05 off 0.75, then doubled) */
static int make_softplus_switch(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_randn_away(A, r, 0.05, 1, (const double[]){0.75}, AG_SHAPE(4, 4));
    if (!in[0]) return -1;
    for (int64_t i = 0; i < in[0]->numel; i++) ((double *)in[0]->data)[i] *= 2.0;
    return 1;
}

/* tiny and large positive values in one tensor (log, sqrt, rsqrt) */
static int make_pos_range(ag_arena *A, ag_rng *r, ag_tensor **in) {
    in[0] = gc_uniform(A, r, 1.0, 2.0, AG_SHAPE(2, 4));
    if (!in[0]) return -1;
    const double s[] = {1e-2, 0.1, 1, 10, 100, 1e3, 3e-2, 50};
    for (int i = 0; i < 8; i++) ((double *)in[0]->data)[i] *= s[i];
    return 1;
}

const gc_case gc_unary[] = {
    GC_CASE("neg", "[2,3]", f_neg, GC_N(2, 3)),
    GC_CASE("neg", "[]", f_neg, GC_N0),
    GC_CASE("exp", "[2,3]", f_exp, GC_N(2, 3)),
    {.op = "exp", .shapes = "[4,1,3] spread 3", .fn = f_exp, .make = make_spread3},
    GC_CASE("log", "[2,3] in [0.5,3)", f_log, GC_U(0.5, 3.0, 2, 3)),
    {.op = "log", .shapes = "[2,4] in 1e-2..2e3", .fn = f_log, .make = make_pos_range},
    GC_CASE("sqrt", "[3,4] in [0.2,4)", f_sqrt, GC_U(0.2, 4.0, 3, 4)),
    {.op = "sqrt", .shapes = "[] in [0.5,2)", .fn = f_sqrt, .make = make_pos0},
    {.op = "sqrt", .shapes = "[2,4] in 1e-2..2e3", .fn = f_sqrt, .make = make_pos_range},
    GC_CASE("rsqrt", "[2,3] in [0.3,3)", f_rsqrt, GC_U(0.3, 3.0, 2, 3)),
    {.op = "rsqrt", .shapes = "[2,4] in 1e-2..2e3", .fn = f_rsqrt, .make = make_pos_range},
    {.op = "pow", .shapes = "[2,3] ^ 2", .fn = f_pow, .in = {GC_N(2, 3)}, .userdata = &p_two},
    {.op = "pow", .shapes = "[3,2] ^ 3", .fn = f_pow, .in = {GC_N(3, 2)}, .userdata = &p_three},
    {.op = "pow", .shapes = "[2,3] in [0.2,3) ^ 0.5", .fn = f_pow,
     .in = {GC_U(0.2, 3.0, 2, 3)}, .userdata = &p_half},
    {.op = "pow", .shapes = "[4] in [0.5,2) ^ -1.5", .fn = f_pow, .in = {GC_U(0.5, 2.0, 4)},
     .userdata = &p_m15},
    {.op = "pow", .shapes = "[2,1,3] ^ 1", .fn = f_pow, .in = {GC_N(2, 1, 3)},
     .userdata = &p_one},
    {.op = "pow", .shapes = "[2,3] ^ 0", .fn = f_pow, .in = {GC_N(2, 3)}, .userdata = &p_zero},
    GC_CASE("abs", "[2,3] away from 0", f_abs, GC_AWAY_FROM(0.0, 0.05, 2, 3)),
    GC_CASE("abs", "[5,1] away from 0", f_abs, GC_AWAY_FROM(0.0, 0.05, 5, 1)),
    GC_CASE("square", "[2,3]", f_square, GC_N(2, 3)),
    GC_CASE("square", "[]", f_square, GC_N0),
    GC_CASE("tanh", "[2,3]", f_tanh, GC_N(2, 3)),
    {.op = "tanh", .shapes = "[3,4] wide", .fn = f_tanh, .make = make_wide},
    GC_CASE("sigmoid", "[2,3]", f_sigmoid, GC_N(2, 3)),
    {.op = "sigmoid", .shapes = "[3,4] wide", .fn = f_sigmoid, .make = make_wide},
    GC_CASE("relu", "[3,4] away from 0", f_relu, GC_AWAY_FROM(0.0, 0.05, 3, 4)),
    GC_CASE("relu", "[2,1,5] away from 0", f_relu, GC_AWAY_FROM(0.0, 0.05, 2, 1, 5)),
    GC_CASE("gelu", "[2,3]", f_gelu, GC_N(2, 3)),
    {.op = "gelu", .shapes = "[3,4] wide", .fn = f_gelu, .make = make_wide},
    GC_CASE("gelu_tanh", "[2,3]", f_gelu_tanh, GC_N(2, 3)),
    {.op = "gelu_tanh", .shapes = "[3,4] wide", .fn = f_gelu_tanh, .make = make_wide},
    GC_CASE("silu", "[2,3]", f_silu, GC_N(2, 3)),
    {.op = "silu", .shapes = "[3,4] wide", .fn = f_silu, .make = make_wide},
    GC_CASE("silu", "[1,1,4]", f_silu, GC_N(1, 1, 4)),
    GC_CASE("sin", "[2,3]", f_sin, GC_N(2, 3)),
    {.op = "sin", .shapes = "[4,1,3] spread 3", .fn = f_sin, .make = make_spread3},
    GC_CASE("cos", "[2,3]", f_cos, GC_N(2, 3)),
    {.op = "cos", .shapes = "[4,1,3] spread 3", .fn = f_cos, .make = make_spread3},
    GC_CASE("log1p", "[2,3] in [-0.7,3)", f_log1p, GC_U(-0.7, 3.0, 2, 3)),
    {.op = "log1p", .shapes = "[2,4] in 1e-2..2e3", .fn = f_log1p, .make = make_pos_range},
    GC_CASE("expm1", "[2,3]", f_expm1, GC_N(2, 3)),
    GC_CASE("expm1", "[] ", f_expm1, GC_N0),
    GC_CASE("erf", "[2,3]", f_erf, GC_N(2, 3)),
    {.op = "erf", .shapes = "[3,4] wide", .fn = f_erf, .make = make_wide},
    GC_CASE("log_sigmoid", "[2,3]", f_log_sigmoid, GC_N(2, 3)),
    {.op = "log_sigmoid", .shapes = "[3,4] wide", .fn = f_log_sigmoid, .make = make_wide},
    {.op = "softplus", .shapes = "[2,3] beta 1 threshold 20", .fn = f_softplus,
     .in = {GC_N(2, 3)}, .userdata = sp_default},
    {.op = "softplus", .shapes = "[3,4] wide, beta 1 threshold 20", .fn = f_softplus,
     .make = make_wide, .userdata = sp_default},
    {.op = "softplus", .shapes = "[4,4] beta 2 threshold 3 (both parts)", .fn = f_softplus,
     .make = make_softplus_switch, .userdata = sp_beta2},
    {.op = "leaky_relu", .shapes = "[3,4] away from 0, slope 0.01", .fn = f_leaky_relu,
     .in = {GC_AWAY_FROM(0.0, 0.05, 3, 4)}, .userdata = &slope_default},
    {.op = "leaky_relu", .shapes = "[2,1,5] away from 0, slope 0.3", .fn = f_leaky_relu,
     .in = {GC_AWAY_FROM(0.0, 0.05, 2, 1, 5)}, .userdata = &slope_big},
    {.op = "elu", .shapes = "[3,4] away from 0, alpha 1", .fn = f_elu,
     .in = {GC_AWAY_FROM(0.0, 0.05, 3, 4)}, .userdata = &alpha_one},
    {.op = "elu", .shapes = "[2,5] away from 0, alpha 0.5", .fn = f_elu,
     .in = {GC_AWAY_FROM(0.0, 0.05, 2, 5)}, .userdata = &alpha_half},
    {.op = "clamp", .shapes = "[3,5] to [-0.5,0.5], off the bounds", .fn = f_clamp,
     .make = make_clamp, .userdata = clamp_pm05},
    {.op = "clamp_min", .shapes = "[3,5] min -0.3, off the bound", .fn = f_clamp_min,
     .make = make_clamp_min, .userdata = &clamp_min_m03},
    {.op = "clamp_max", .shapes = "[3,5] max 0.7, off the bound", .fn = f_clamp_max,
     .make = make_clamp_max, .userdata = &clamp_max_07},
    GC_CASE("unary chain", "log(sigmoid(x)) + silu(x)*tanh(x) [2,3]", f_chain, GC_N(2, 3)),
};
const int gc_unary_count = sizeof gc_unary / sizeof gc_unary[0];
