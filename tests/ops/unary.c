/* tests/ops/unary.c — neg, exp, log, sqrt, rsqrt, pow, abs, square, tanh,
 * sigmoid, relu, gelu, gelu_tanh, silu, sin, cos, log1p, expm1, erf,
 * log_sigmoid, softplus, leaky_relu, elu, clamp: forward values against libm
 * formulas written here, hand-computed gradients, shapes, dtypes, errors. */
#include <string.h>

#include "ops_test.h"

/* ---- reference formulas, written independently of the library ------------ */

static double r_neg(double x) { return -x; }
static double r_rsqrt(double x) { return 1.0 / sqrt(x); }
static double r_square(double x) { return x * x; }
static double r_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double r_relu(double x) { return x > 0 ? x : 0.0; }
static double r_gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double r_gelu_tanh(double x) {
    const double k = sqrt(2.0 / acos(-1.0));
    return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
}
static double r_silu(double x) { return x / (1.0 + exp(-x)); }

/* derivatives, in forms that differ from the kernels' where possible */
static double d_neg(double x) { return (void)x, -1.0; }
static double d_exp(double x) { return exp(x); }
static double d_log(double x) { return 1.0 / x; }
static double d_sqrt(double x) { return 0.5 / sqrt(x); }
static double d_rsqrt(double x) { return -0.5 * pow(x, -1.5); }
static double d_abs(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }
static double d_square(double x) { return 2.0 * x; }
static double d_tanh(double x) { return 1.0 / (cosh(x) * cosh(x)); }
static double d_sigmoid(double x) { return exp(-x) / ((1.0 + exp(-x)) * (1.0 + exp(-x))); }
static double d_relu(double x) { return x > 0 ? 1.0 : 0.0; }
static double d_gelu(double x) {
    return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-x * x / 2.0) / sqrt(2.0 * acos(-1.0));
}
static double d_gelu_tanh(double x) {
    const double k = sqrt(2.0 / acos(-1.0)), u = k * (x + 0.044715 * x * x * x);
    const double sech2 = 1.0 / (cosh(u) * cosh(u));
    return 0.5 * (1.0 + tanh(u)) + 0.5 * x * sech2 * k * (1.0 + 3 * 0.044715 * x * x);
}
static double d_silu(double x) { return r_sigmoid(x) + x * d_sigmoid(x); }

/* the ops added for PyTorch users; the ones with parameters are tested at
 * fixed parameters through the wrappers below */
static double r_log_sigmoid(double x) { return log(1.0 / (1.0 + exp(-x))); }
static double r_softplus_b2(double x) { return 2 * x > 3 ? x : log(1.0 + exp(2 * x)) / 2; }
static double r_leaky(double x) { return x > 0 ? x : 0.1 * x; }
static double r_elu(double x) { return x > 0 ? x : 1.5 * (exp(x) - 1.0); }
static double r_clamp(double x) { return x < -1 ? -1 : x > 2 ? 2 : x; }
static double r_clamp_min(double x) { return x < 0.5 ? 0.5 : x; }
static double r_clamp_max(double x) { return x > 0.5 ? 0.5 : x; }
static double d_sin(double x) { return cos(x); }
static double d_cos(double x) { return -sin(x); }
static double d_log1p(double x) { return 1.0 / (1.0 + x); }
static double d_erf(double x) { return 2.0 / sqrt(acos(-1.0)) * exp(-x * x); }
static double d_log_sigmoid(double x) { return 1.0 / (1.0 + exp(x)); }
static double d_softplus_b2(double x) { return 2 * x > 3 ? 1.0 : exp(2 * x) / (1.0 + exp(2 * x)); }
static double d_leaky(double x) { return x > 0 ? 1.0 : 0.1; }
static double d_elu(double x) { return x > 0 ? 1.0 : 1.5 * exp(x); }
static double d_clamp(double x) { return x >= -1 && x <= 2 ? 1.0 : 0.0; }
static double d_clamp_min(double x) { return x >= 0.5 ? 1.0 : 0.0; }
static double d_clamp_max(double x) { return x <= 0.5 ? 1.0 : 0.0; }

static ag_tensor *softplus_b2(ag_arena *A, ag_tensor *x) { return ag_softplus_(A, x, 2, 3); }
static ag_tensor *leaky_01(ag_arena *A, ag_tensor *x) { return ag_leaky_relu_(A, x, 0.1); }
static ag_tensor *elu_15(ag_arena *A, ag_tensor *x) { return ag_elu_(A, x, 1.5); }
static ag_tensor *clamp_m1_2(ag_arena *A, ag_tensor *x) { return ag_clamp_(A, x, -1, 2); }
static ag_tensor *clamp_min_05(ag_arena *A, ag_tensor *x) { return ag_clamp_min_(A, x, 0.5); }
static ag_tensor *clamp_max_05(ag_arena *A, ag_tensor *x) { return ag_clamp_max_(A, x, 0.5); }

typedef ag_tensor *(*unary_fn)(ag_arena *, ag_tensor *);

static const struct {
    const char *name;
    unary_fn f;
    double (*ref)(double);
    double (*dref)(double);
    bool positive; /* domain x > 0 */
} UNARY[] = {
    {"neg", ag_neg_, r_neg, d_neg, false},
    {"exp", ag_exp_, exp, d_exp, false},
    {"log", ag_log_, log, d_log, true},
    {"sqrt", ag_sqrt_, sqrt, d_sqrt, true},
    {"rsqrt", ag_rsqrt_, r_rsqrt, d_rsqrt, true},
    {"abs", ag_abs_, fabs, d_abs, false},
    {"square", ag_square_, r_square, d_square, false},
    {"tanh", ag_tanh_, tanh, d_tanh, false},
    {"sigmoid", ag_sigmoid_, r_sigmoid, d_sigmoid, false},
    {"relu", ag_relu_, r_relu, d_relu, false},
    {"gelu", ag_gelu_, r_gelu, d_gelu, false},
    {"gelu_tanh", ag_gelu_tanh_, r_gelu_tanh, d_gelu_tanh, false},
    {"silu", ag_silu_, r_silu, d_silu, false},
    {"sin", ag_sin_, sin, d_sin, false},
    {"cos", ag_cos_, cos, d_cos, false},
    {"log1p", ag_log1p_, log1p, d_log1p, true},
    {"expm1", ag_expm1_, expm1, d_exp, false},
    {"erf", ag_erf_, erf, d_erf, false},
    {"log_sigmoid", ag_log_sigmoid_, r_log_sigmoid, d_log_sigmoid, false},
    {"softplus", softplus_b2, r_softplus_b2, d_softplus_b2, false},
    {"leaky_relu", leaky_01, r_leaky, d_leaky, false},
    {"elu", elu_15, r_elu, d_elu, false},
    {"clamp", clamp_m1_2, r_clamp, d_clamp, false},
    {"clamp", clamp_min_05, r_clamp_min, d_clamp_min, false},
    {"clamp", clamp_max_05, r_clamp_max, d_clamp_max, false},
};
enum { NUNARY = sizeof UNARY / sizeof UNARY[0] };

static const double XS[] = {-3.5, -1.25, -0.3, 0.2, 0.75, 1.0, 2.5, 4.0};
static const double XPOS[] = {0.01, 0.3, 0.5, 1.0, 2.0, 4.0, 9.0, 100.0};
enum { NX = sizeof XS / sizeof XS[0] };

/* Every op, f64 and f32, on a [2,4] input: values within rounding of the formula. */
START_TEST(test_unary_values) {
    ag_arena *A = ag_arena_new(0);
    for (int k = 0; k < NUNARY; k++) {
        const double *xs = UNARY[k].positive ? XPOS : XS;
        for (int d = 0; d < 2; d++) {
            const ag_dtype dt = d == 0 ? AG_F64 : AG_F32;
            ag_tensor *x = ag_from_f64(A, dt, AG_SHAPE(2, 4), xs);
            ag_tensor *y = UNARY[k].f(A, x);
            ck_assert_msg(y != NULL, "%s returned NULL", UNARY[k].name);
            ck_assert_int_eq(y->dtype, dt);
            ck_shape(y, 2, ((const int64_t[]){2, 4}));
            for (int i = 0; i < NX; i++) {
                /* the f32 input is xs rounded to float */
                const double xi = dt == AG_F64 ? xs[i] : (double)(float)xs[i];
                const double want = UNARY[k].ref(xi), got = ag_get_flat(y, i);
                const double tol = (dt == AG_F64 ? 1e-14 : 4e-7) * (1.0 + fabs(want));
                ck_assert_msg(fabs(got - want) <= tol, "%s %s(%g) = %.17g, expected %.17g",
                              ag_dtype_name(dt), UNARY[k].name, xi, got, want);
            }
        }
    }
    ag_arena_free(A);
}
END_TEST

/* Every op's gradient (f64, grad_out = 1) against the derivative formula. */
START_TEST(test_unary_gradients) {
    ag_arena *A = ag_arena_new(0);
    for (int k = 0; k < NUNARY; k++) {
        const double *xs = UNARY[k].positive ? XPOS : XS;
        ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(NX), xs);
        ag_set_requires_grad(x, true);
        ag_tensor *y = UNARY[k].f(A, x);
        ck_assert_ptr_nonnull(y);
        ck_assert(y->requires_grad);
        ck_assert(ag_backward(y, ag_ones(A, AG_F64, AG_SHAPE(NX))));
        for (int i = 0; i < NX; i++) {
            const double want = UNARY[k].dref(xs[i]), got = ag_get_flat(x->grad, i);
            ck_assert_msg(fabs(got - want) <= 1e-12 * (1.0 + fabs(want)),
                          "d%s/dx at %g = %.17g, expected %.17g", UNARY[k].name, xs[i], got,
                          want);
        }
    }
    ag_arena_free(A);
}
END_TEST

/* Derivatives at points where they are known by hand. */
START_TEST(test_unary_hand_gradients) {
    ag_arena *A = ag_arena_new(0);
    const struct {
        unary_fn f;
        double x, dy;
    } cases[] = {
        {ag_exp_, 0.0, 1.0},       {ag_log_, 2.0, 0.5},        {ag_sqrt_, 4.0, 0.25},
        {ag_rsqrt_, 4.0, -1.0 / 16}, {ag_tanh_, 0.0, 1.0},     {ag_sigmoid_, 0.0, 0.25},
        {ag_gelu_, 0.0, 0.5},      {ag_gelu_tanh_, 0.0, 0.5},  {ag_silu_, 0.0, 0.5},
        {ag_square_, -3.0, -6.0},  {ag_neg_, 7.0, -1.0},
        /* the kinks: abs and relu take gradient 0 at 0 (PyTorch) */
        {ag_abs_, 0.0, 0.0},       {ag_relu_, 0.0, 0.0},       {ag_abs_, -2.0, -1.0},
        {ag_relu_, 2.0, 1.0},
        {ag_sin_, 0.0, 1.0},       {ag_cos_, 0.0, 0.0},        {ag_log1p_, 0.0, 1.0},
        {ag_expm1_, 0.0, 1.0},     {ag_erf_, 0.0, 1.1283791670955126},
        {ag_log_sigmoid_, 0.0, 0.5}, {softplus_b2, 0.0, 0.5},  {softplus_b2, 1.6, 1.0},
        /* the kinks: leaky_relu and elu take the negative side's slope at 0
         * (PyTorch); clamp passes the gradient at its bounds, bounds included */
        {leaky_01, 0.0, 0.1},      {elu_15, 0.0, 1.5},         {clamp_m1_2, -1.0, 1.0},
        {clamp_m1_2, 2.0, 1.0},    {clamp_m1_2, 2.5, 0.0},     {clamp_m1_2, -1.5, 0.0},
        {clamp_min_05, 0.5, 1.0},  {clamp_max_05, 0.5, 1.0},   {clamp_min_05, 0.0, 0.0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ag_tensor *x = ag_scalar(A, AG_F64, cases[k].x);
        ag_set_requires_grad(x, true);
        ag_tensor *y = cases[k].f(A, x);
        ck_assert(ag_backward(y, NULL));
        ck_close(ag_item(x->grad), cases[k].dy, 1e-15);
    }
    ag_arena_free(A);
}
END_TEST

/* pow: value and gradient p x^(p-1) for several exponents; p = 0 gives
 * x^0 = 1 and gradient 0 even at x = 0 (PyTorch). */
START_TEST(test_pow) {
    ag_arena *A = ag_arena_new(0);
    const double ps[] = {2.0, 3.0, 0.5, -1.5, 1.0, 0.0};
    const double xs[] = {0.5, 1.0, 2.0, 3.0};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(4), xs);
        ag_set_requires_grad(x, true);
        ag_tensor *y = ag_pow(A, x, ps[k]);
        ck_assert(ag_backward(y, ag_ones(A, AG_F64, AG_SHAPE(4))));
        for (int i = 0; i < 4; i++) {
            ck_close(ag_get_flat(y, i), pow(xs[i], ps[k]), 1e-14 * pow(xs[i], ps[k]));
            const double d = ps[k] == 0 ? 0.0 : ps[k] * pow(xs[i], ps[k] - 1);
            ck_close(ag_get_flat(x->grad, i), d, 1e-13 * (1 + fabs(d)));
        }
    }
    /* hand values: 3^2 = 9, 2^3 = 8, 9^0.5 = 3, 4^-1.5 = 1/8 */
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(1), (const double[]){3.0});
    ck_close(ag_item(ag_pow(A, x, 2.0)), 9.0, 0);
    ck_close(ag_item(ag_pow(A, ag_scalar(A, AG_F32, 2.0), 3.0)), 8.0, 0);
    ck_close(ag_item(ag_pow(A, ag_scalar(A, AG_F64, 9.0), 0.5)), 3.0, 0);
    ck_close(ag_item(ag_pow(A, ag_scalar(A, AG_F64, 4.0), -1.5)), 0.125, 1e-16);
    /* negative base, integer exponent */
    ck_close(ag_item(ag_pow(A, ag_scalar(A, AG_F64, -2.0), 3.0)), -8.0, 0);
    /* p = 0 at x = 0: value 1, gradient 0 (not 0 * 0^-1 = NaN) */
    ag_tensor *z = ag_scalar(A, AG_F64, 0.0);
    ag_set_requires_grad(z, true);
    ag_tensor *y = ag_pow(A, z, 0.0);
    ck_close(ag_item(y), 1.0, 0);
    ck_assert(ag_backward(y, NULL));
    ck_close(ag_item(z->grad), 0.0, 0);
    ag_arena_free(A);
}
END_TEST

/* Large magnitudes: sigmoid, silu, tanh, gelu saturate without NaN or inf. */
START_TEST(test_unary_saturation) {
    ag_arena *A = ag_arena_new(0);
    const double xs[] = {-100.0, -30.0, 30.0, 100.0};
    for (int d = 0; d < 2; d++) {
        const ag_dtype dt = d ? AG_F32 : AG_F64;
        ag_tensor *x = ag_from_f64(A, dt, AG_SHAPE(4), xs);
        ag_set_requires_grad(x, true);
        unary_fn fs[] = {ag_sigmoid_, ag_silu_, ag_tanh_, ag_gelu_, ag_gelu_tanh_};
        for (size_t k = 0; k < sizeof fs / sizeof fs[0]; k++) {
            ag_zero_grad(x);
            ag_tensor *y = fs[k](A, x);
            ck_assert(ag_backward(y, ag_ones(A, dt, AG_SHAPE(4))));
            for (int i = 0; i < 4; i++) {
                ck_assert(isfinite(ag_get_flat(y, i)));
                ck_assert(isfinite(ag_get_flat(x->grad, i)));
            }
        }
        ag_tensor *s = ag_sigmoid(A, x);
        ck_close(ag_get_flat(s, 3), 1.0, 0);
        ck_close(ag_get_flat(s, 0), exp(-100.0), d ? 1e-45 : 1e-55);
        ck_assert(ag_get_flat(s, 0) >= 0);
        ag_tensor *g = ag_gelu(A, x);
        ck_close(ag_get_flat(g, 3), 100.0, 0);
        ck_close(ag_get_flat(g, 0), 0.0, 1e-30);
    }
    ag_arena_free(A);
}
END_TEST

/* relu passes NaN through, clamps negatives to 0, keeps positives. */
START_TEST(test_relu_abs_special) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(4), (const double[]){-1.5, 0.0, 2.5, NAN});
    ck_values(ag_relu(A, x), 4, ((const double[]){0.0, 0.0, 2.5, NAN}), 0);
    ck_values(ag_abs(A, x), 4, ((const double[]){1.5, 0.0, 2.5, NAN}), 0);
    ck_values(ag_neg(A, x), 4, ((const double[]){1.5, -0.0, -2.5, NAN}), 0);
    ag_arena_free(A);
}
END_TEST

/* clamp: NaN stays NaN; min > max gives max with gradient 0 (PyTorch); +-inf
 * bounds. softplus is x itself above the threshold and exp(x) far below;
 * log_sigmoid stays finite at +-800; elu tends to -alpha. */
START_TEST(test_unary_param_special) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(4), (const double[]){-3.0, 0.0, 1.5, NAN});
    ag_set_requires_grad(x, true);
    ck_values(ag_clamp(A, x, -1, 1), 4, ((const double[]){-1, 0, 1, NAN}), 0);
    ag_tensor *y = ag_clamp(A, x, 2, 1);
    ck_values(y, 4, ((const double[]){1, 1, 1, NAN}), 0);
    ck_assert(ag_backward(y, ag_ones(A, AG_F64, AG_SHAPE(4))));
    ck_values(x->grad, 4, ((const double[]){0, 0, 0, 0}), 0);
    ck_values(ag_clamp(A, x, -INFINITY, 0.5), 4, ((const double[]){-3, 0, 0.5, NAN}), 0);
    const double inf = INFINITY;
    ck_values(ag_clamp_min(A, x, inf), 4, ((const double[]){inf, inf, inf, NAN}), 0);
    ag_tensor *w = ag_from_f64(A, AG_F32, AG_SHAPE(4), (const double[]){25, -100, 800, -800});
    ag_tensor *sp = ag_softplus(A, w, 1, 20);
    ck_close(ag_get_flat(sp, 0), 25.0, 0);
    ck_close(ag_get_flat(sp, 1), exp(-100.0), 2e-45); /* an f32 subnormal */
    ck_close(ag_get_flat(sp, 2), 800.0, 0);
    ag_tensor *ls = ag_log_sigmoid(A, w);
    ck_close(ag_get_flat(ls, 0), -log1p(exp(-25.0)), 1e-16);
    ck_close(ag_get_flat(ls, 1), -100.0, 0);
    ck_close(ag_get_flat(ls, 2), 0.0, 0);
    ck_close(ag_get_flat(ls, 3), -800.0, 0);
    ck_close(ag_get_flat(ag_elu(A, w, 2.0), 1), -2.0, 0);
    /* softplus with threshold +inf is never linear; beta -1 mirrors it */
    ck_close(ag_item(ag_softplus(A, ag_scalar(A, AG_F64, 30.0), 1, INFINITY)), 30.0, 1e-12);
    ck_close(ag_item(ag_softplus(A, ag_scalar(A, AG_F64, 1.0), -1, 20)), -log1p(exp(-1.0)), 1e-15);
    ag_arena_free(A);
}
END_TEST

/* Bad parameters are reported naming the op and the parameter. */
START_TEST(test_unary_param_errors) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_zeros(A, AG_F32, AG_SHAPE(2));
    const struct {
        ag_tensor *got;
        const char *op, *what;
    } cases[] = {
        {NULL, "softplus", "beta is 0"}, {NULL, "softplus", "beta is nan"},
        {NULL, "softplus", "threshold is nan"}, {NULL, "leaky_relu", "negative_slope is inf"},
        {NULL, "elu", "alpha is nan"}, {NULL, "clamp", "min is nan"},
        {NULL, "clamp", "max is nan"}, {NULL, "clamp", "min is nan"},
        {NULL, "clamp", "max is nan"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        expect_errors();
        ag_tensor *r = NULL;
        switch (k) {
        case 0: r = ag_softplus(A, x, 0, 20); break;
        case 1: r = ag_softplus(A, x, NAN, 20); break;
        case 2: r = ag_softplus(A, x, 1, NAN); break;
        case 3: r = ag_leaky_relu(A, x, INFINITY); break;
        case 4: r = ag_elu(A, x, NAN); break;
        case 5: r = ag_clamp(A, x, NAN, 1); break;
        case 6: r = ag_clamp(A, x, 0, NAN); break;
        case 7: r = ag_clamp_min(A, x, NAN); break;
        default: r = ag_clamp_max(A, x, NAN); break;
        }
        ck_assert_ptr_null(r);
        ck_assert_int_eq(ag_error_count(), 1);
        check_error(cases[k].op, cases[k].what, "unary.c:");
    }
    ag_arena_free(A);
}
END_TEST

/* bf16: the parameterised ops compute in f32 and round once. */
START_TEST(test_unary_param_bf16) {
    ag_arena *A = ag_arena_new(0);
    const double xs[] = {-2.0, -0.5, 0.75, 3.0};
    ag_tensor *x = ag_from_f64(A, AG_BF16, AG_SHAPE(4), xs);
    ag_tensor *ys[] = {softplus_b2(A, x), elu_15(A, x), clamp_m1_2(A, x), ag_sin(A, x),
                       ag_erf(A, x)};
    double (*refs[])(double) = {r_softplus_b2, r_elu, r_clamp, sin, erf};
    for (size_t k = 0; k < sizeof ys / sizeof ys[0]; k++) {
        ck_assert_int_eq(ys[k]->dtype, AG_BF16);
        for (int i = 0; i < 4; i++) {
            const double want = refs[k](xs[i]), got = ag_get_flat(ys[k], i);
            ck_assert_msg(fabs(got - want) <= 4e-3 * (1 + fabs(want)), "%zu: %g vs %g", k, got,
                          want);
        }
    }
    ag_arena_free(A);
}
END_TEST

/* 0-d, size-1 and empty inputs keep their shapes. */
START_TEST(test_unary_shapes) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *s = ag_exp(A, ag_scalar(A, AG_F64, 1.0));
    ck_assert_int_eq(s->ndim, 0);
    ck_close(ag_item(s), exp(1.0), 1e-15);
    ag_tensor *o = ag_square(A, ag_full(A, AG_F32, AG_SHAPE(1, 1, 3), -2.0));
    ck_shape(o, 3, ((const int64_t[]){1, 1, 3}));
    ck_values(o, 3, ((const double[]){4, 4, 4}), 0);
    ag_tensor *e = ag_zeros(A, AG_F64, AG_SHAPE(0, 3));
    ag_set_requires_grad(e, true);
    ag_tensor *ye = ag_gelu(A, e);
    ck_shape(ye, 2, ((const int64_t[]){0, 3}));
    ck_assert_int_eq(ye->numel, 0);
    ck_assert(ag_backward(ye, ag_zeros(A, AG_F64, AG_SHAPE(0, 3))));
    ag_arena_free(A);
}
END_TEST

/* bf16 in, bf16 out (computed in f32, rounded); the gradient reaches the bf16 leaf. */
START_TEST(test_unary_bf16) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *x = ag_from_f64(A, AG_BF16, AG_SHAPE(3), (const double[]){0.5, 1.0, 2.0});
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_exp(A, x);
    ck_assert_int_eq(y->dtype, AG_BF16);
    for (int i = 0; i < 3; i++) {
        const double xi = ag_get_flat(x, i);
        const double want = ag_bf16_to_f32(ag_f32_to_bf16(expf((float)xi)));
        ck_close(ag_get_flat(y, i), want, 0);
    }
    ag_tensor *l = ag_square(A, x);
    ck_assert(ag_backward(l, ag_ones(A, AG_BF16, AG_SHAPE(3))));
    ck_assert_ptr_nonnull(x->grad);
    ck_assert_int_eq(x->grad->dtype, AG_BF16);
    ck_values(x->grad, 3, ((const double[]){1.0, 2.0, 4.0}), 0);
    ag_arena_free(A);
}
END_TEST

/* No graph without requires_grad or with recording off; the chain rule
 * through two unary ops; a tensor used twice sums both contributions. */
START_TEST(test_unary_graph) {
    ag_arena *A = ag_arena_new(0);
    ag_tensor *c = ag_full(A, AG_F64, AG_SHAPE(2), 0.5);
    ag_tensor *y = ag_tanh(A, c);
    ck_assert(!y->requires_grad && ag_is_leaf(y));
    ag_tensor *x = ag_full(A, AG_F64, AG_SHAPE(2), 0.5);
    ag_set_requires_grad(x, true);
    bool was = ag_set_grad_enabled(false);
    ag_tensor *z = ag_sigmoid(A, x);
    ag_set_grad_enabled(was);
    ck_assert(!z->requires_grad);
    /* d/dx log(exp(x)) = 1 */
    ag_tensor *w = ag_log(A, ag_exp(A, x));
    ck_assert(ag_backward(w, ag_ones(A, AG_F64, AG_SHAPE(2))));
    ck_values(x->grad, 2, ((const double[]){1.0, 1.0}), 1e-15);
    /* accumulation: a second backward adds d/dx sqrt(x) = 0.5/sqrt(0.5) */
    ck_assert(ag_backward(ag_sqrt(A, x), ag_ones(A, AG_F64, AG_SHAPE(2))));
    const double want = 1.0 + 0.5 / sqrt(0.5);
    ck_values(x->grad, 2, ((const double[]){want, want}), 1e-15);
    ag_arena_free(A);
}
END_TEST

/* x's first gradient is stored, not added: its buffer is made where the
 * arena held NaN (all bits set) before a reset, and comes out exact. */
START_TEST(test_unary_fresh_gradient) {
    ag_arena *A = nan_filled_arena((size_t)1 << 16);
    ag_tensor *x = ag_full(A, AG_F64, AG_SHAPE(3), 0.5);
    ag_set_requires_grad(x, true);
    ck_assert(ag_backward(ag_exp(A, x), ag_full(A, AG_F64, AG_SHAPE(3), 2.0)));
    ck_values(x->grad, 3, ((const double[]){2 * exp(0.5), 2 * exp(0.5), 2 * exp(0.5)}), 1e-15);
    ag_arena_free(A);
}
END_TEST

/* GELU keeps f'(x) from its forward when a backward will follow; the
 * gradient is then g f'(x) with f' the table's formula, bit for bit: the
 * same as the recorded backward (create_graph), which evaluates the formula
 * itself, over x from -12 to 12 in f32 and f64; and, with no gradient
 * wanted, nothing is kept. */
START_TEST(test_gelu_kept_derivative) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r = ag_rng_seeded(5);
    const ag_dtype dts[2] = {AG_F32, AG_F64};
    for (int t = 0; t < 2; t++) {
        ag_tensor *x = ag_rand(A, &r, dts[t], AG_SHAPE(4001), -12.0, 12.0);
        ag_tensor *g = ag_randn(A, &r, dts[t], AG_SHAPE(4001), 0.0, 1.0);
        ag_set_requires_grad(x, true);
        ag_tensor *y = ag_gelu(A, x), *kept = NULL, *formula = NULL;
        ck_assert_ptr_nonnull(y->saved);
        ck_assert(ag_grad(1, &y, &g, 1, &x, &kept, false));
        ck_assert(ag_grad(1, &y, &g, 1, &x, &formula, true));
        ck_assert_int_eq(memcmp(kept->data, formula->data,
                                (size_t)x->numel * ag_dtype_size(x->dtype)), 0);
        /* by hand at x = 1: Phi(1) + pdf(1) */
        ag_tensor *one = ag_full(A, dts[t], AG_SHAPE(1), 1.0), *d1 = NULL;
        ag_set_requires_grad(one, true);
        ck_assert(ag_grad(1, (ag_tensor *[]){ag_gelu(A, one)}, NULL, 1, &one, &d1, false));
        const double want = 0.5 * (1 + erf(1 / sqrt(2.0))) + exp(-0.5) / sqrt(2 * 3.14159265358979323846);
        ck_assert_double_eq_tol(ag_get_flat(d1, 0), want, t ? 1e-15 : 1e-6);
        bool was = ag_set_grad_enabled(false);
        ck_assert_ptr_null(ag_gelu(A, x)->saved);
        ag_set_grad_enabled(was);
    }
    ag_arena_free(A);
}
END_TEST

/* An i32 input is reported naming the op, its shape and dtype; NULL in gives
 * NULL out without a report. */
START_TEST(test_unary_errors) {
    ag_arena *A = ag_arena_new(0);
    ag_clear_error();
    expect_errors();
    ag_tensor *ids = ag_zeros(A, AG_I32, AG_SHAPE(2, 5));
    for (int k = 0; k < NUNARY; k++) {
        ag_clear_error();
        ck_assert_ptr_null(UNARY[k].f(A, ids));
        char want[64];
        snprintf(want, sizeof want, "ag: %s:", UNARY[k].name);
        ck_assert_msg(strstr(ag_last_error(), want), "got '%s'", ag_last_error());
        ck_assert_ptr_nonnull(strstr(ag_last_error(), "[2,5]"));
        ck_assert_ptr_nonnull(strstr(ag_last_error(), "i32"));
        ck_assert_int_eq(ag_error_count(), 1);
    }
    ag_clear_error();
    ck_assert_ptr_null(ag_pow(A, ids, 2.0));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "ag: pow:"));
    ck_assert_ptr_nonnull(strstr(ag_last_error(), "unary.c:"));
    ag_clear_error();
    ck_assert_ptr_null(ag_exp(A, NULL));
    ck_assert_ptr_null(ag_pow(A, NULL, 2.0));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_set_error_handler(NULL, NULL);
    ag_arena_free(A);
}
END_TEST

/* Above the threading threshold (40000 elements): same values and gradients. */
START_TEST(test_unary_large) {
    ag_arena *A = ag_arena_new(0);
    enum { N = 40000 };
    ag_tensor *x = ag_arange(A, AG_F64, 0, N, 1);
    for (int64_t i = 0; i < N; i++) ((double *)x->data)[i] = -4.0 + 8.0 * i / N;
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_silu(A, x);
    ck_assert(ag_backward(y, ag_ones(A, AG_F64, AG_SHAPE(N))));
    for (int64_t i = 0; i < N; i += 997) {
        const double xi = -4.0 + 8.0 * i / N;
        ck_close(ag_get_flat(y, i), r_silu(xi), 1e-14);
        ck_close(ag_get_flat(x->grad, i), d_silu(xi), 1e-14);
    }
    ck_close(ag_get_flat(y, N - 1), r_silu(-4.0 + 8.0 * (N - 1) / N), 1e-14);
    ag_arena_free(A);
}
END_TEST

TCase *ops_unary_tcase(void) {
    TCase *tc = tcase_create("unary");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unary_values);
    tcase_add_test(tc, test_unary_gradients);
    tcase_add_test(tc, test_unary_hand_gradients);
    tcase_add_test(tc, test_pow);
    tcase_add_test(tc, test_unary_saturation);
    tcase_add_test(tc, test_relu_abs_special);
    tcase_add_test(tc, test_unary_shapes);
    tcase_add_test(tc, test_unary_bf16);
    tcase_add_test(tc, test_unary_graph);
    tcase_add_test(tc, test_unary_fresh_gradient);
    tcase_add_test(tc, test_gelu_kept_derivative);
    tcase_add_test(tc, test_unary_errors);
    tcase_add_test(tc, test_unary_large);
    tcase_add_test(tc, test_unary_param_special);
    tcase_add_test(tc, test_unary_param_errors);
    tcase_add_test(tc, test_unary_param_bf16);
    return tc;
}
