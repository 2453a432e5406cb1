/* tests/ops/vmath.c — core/vmath.h's f32 functions against libm in double.
 *
 * Each function is swept over f32 bit patterns: in a Release build (NDEBUG)
 * every 7th pattern of all 2^32 (613,566,757 inputs per function: the full
 * sweep of the nine functions would take minutes, libm's double erfc being
 * the slow part), in other builds (Debug, sanitizers: no vectorizer, slow
 * libm checks) every 4099th. Stride 7 is odd, so the sweep meets every
 * exponent, both signs, the subnormals, the infinities and NaNs.
 * AG_VMATH_STRIDE=1 in the environment sweeps every input. Each result
 * must be within the function's stated bound (AG__ULPS_*, core/vmath.h) of
 * the reference: the double-precision formula below, rounded to float.
 * Then the special values, exactly. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "ops_test.h"
#include "vmath.h"

#ifdef NDEBUG
enum { SWEEP_STRIDE = 7 };
#else
enum { SWEEP_STRIDE = 4099 };
#endif
enum { BATCH = 4096 };

/* The stride: AG_VMATH_STRIDE when set to a number from 1 to 2^20. */
static uint64_t sweep_stride(void) {
    const char *e = getenv("AG_VMATH_STRIDE");
    char *end;
    const unsigned long long v = e ? strtoull(e, &end, 10) : 0;
    return e && *e && !*end && v >= 1 && v <= (1u << 20) ? v : SWEEP_STRIDE;
}

/* ---- references in double, written from the definitions ------------------ */

static const double SQRT1_2_D = 0.70710678118654752440;
static const double INV_SQRT_2PI_D = 0.39894228040143267794;

static double r_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double r_silu(double x) { return x / (1.0 + exp(-x)); }
/* Phi(x) = erfc(-x / sqrt 2) / 2: relative accuracy in the left tail */
static double r_normcdf(double x) { return 0.5 * erfc(-x * SQRT1_2_D); }
static double r_gelu(double x) { return x * r_normcdf(x); }
static double r_normpdf(double x) { return INV_SQRT_2PI_D * exp(-0.5 * x * x); }
static double r_exp_neg_sq(double x) { return exp(-x * x); }
static double r_exp(double x) { return exp(x); }
static double r_tanh(double x) { return tanh(x); }
static double r_erf(double x) { return erf(x); }

static void exp_neg_sq_array(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = ag__exp_neg_sqf(x[i], 1.0f);
}

typedef void (*array_fn)(float *, const float *, int64_t);

static const struct {
    const char *name;
    array_fn f;
    double (*ref)(double);
    int ulps;
} FUNCS[] = {
    {"exp", ag__expf_array, r_exp, AG__ULPS_EXP},
    {"tanh", ag__tanhf_array, r_tanh, AG__ULPS_TANH},
    {"erf", ag__erff_array, r_erf, AG__ULPS_ERF},
    {"sigmoid", ag__sigmoidf_array, r_sigmoid, AG__ULPS_SIGMOID},
    {"silu", ag__siluf_array, r_silu, AG__ULPS_SILU},
    {"normcdf", ag__normcdff_array, r_normcdf, AG__ULPS_NORMCDF},
    {"gelu", ag__geluf_array, r_gelu, AG__ULPS_GELU},
    {"normpdf", ag__normpdff_array, r_normpdf, AG__ULPS_NORMPDF},
    {"exp_neg_sq", exp_neg_sq_array, r_exp_neg_sq, AG__ULPS_EXP_NEG_SQ},
};
enum { NFUNCS = sizeof FUNCS / sizeof FUNCS[0] };

/* The float's place on the number line: consecutive floats differ by 1, and
 * -0 and +0 share 0. */
static int64_t ordinal(float f) {
    const uint32_t u = ag__vm_bits(f);
    return u >> 31 ? -(int64_t)(u & 0x7fffffffu) : (int64_t)u;
}

/* Floats between got and want; 0 for two NaNs, a huge number for one. */
static int64_t ulps_apart(float got, float want) {
    if (isnan(got) || isnan(want)) return isnan(got) && isnan(want) ? 0 : INT64_MAX;
    const int64_t d = ordinal(got) - ordinal(want);
    return d < 0 ? -d : d;
}

/* The largest distance over the sweep, and where it is. */
typedef struct {
    int64_t ulps, count;
    float x, got;
    double want;
} sweep_result;

static sweep_result sweep(int k, uint64_t stride) {
    static float xs[BATCH], ys[BATCH];
    sweep_result w = {0};
    uint64_t b = 0;
    const uint64_t end = (uint64_t)1 << 32;
    while (b < end) {
        int64_t n = 0;
        for (; n < BATCH && b < end; n++, b += stride) xs[n] = ag__vm_float((uint32_t)b);
        FUNCS[k].f(ys, xs, n);
        for (int64_t i = 0; i < n; i++) {
            const double want = FUNCS[k].ref(xs[i]);
            const int64_t d = ulps_apart(ys[i], (float)want);
            if (d > w.ulps) w = (sweep_result){d, w.count, xs[i], ys[i], want};
        }
        w.count += n;
    }
    return w;
}

/* Every function within its stated bound over the sweep. */
START_TEST(test_vmath_sweep) {
    const int k = _i;
    const uint64_t stride = sweep_stride();
    const sweep_result w = sweep(k, stride);
    printf("vmath %s: %lld inputs (stride %llu over the 2^32 f32 patterns), "
           "max error %lld ulp (bound %d)\n",
           FUNCS[k].name, (long long)w.count, (unsigned long long)stride, (long long)w.ulps,
           FUNCS[k].ulps);
    ck_assert_int_eq(w.count, (int64_t)((((uint64_t)1 << 32) + stride - 1) / stride));
    ck_assert_msg(w.ulps <= FUNCS[k].ulps,
                  "%s(%a = %.9g) = %.9g, libm says %.9g: %lld ulp apart, bound %d",
                  FUNCS[k].name, (double)w.x, (double)w.x, (double)w.got, w.want,
                  (long long)w.ulps, FUNCS[k].ulps);
}
END_TEST

/* The same function through its array form and its inline form agree bit
 * for bit (the array loop is vectorized; a loop of one element is not). */
START_TEST(test_vmath_array_is_scalar) {
    const float xs[] = {-100.0f, -14.3f, -3.0f, -0.7f, -1e-3f, 0.0f, 0.3f, 0.9f, 1.5f, 9.0f, 88.0f};
    enum { N = sizeof xs / sizeof xs[0] };
    float ys[N];
    ag__geluf_array(ys, xs, N);
    for (int i = 0; i < N; i++) {
        float one;
        ag__geluf_array(&one, &xs[i], 1);
        ck_assert_msg(memcmp(&one, &ys[i], sizeof one) == 0, "gelu(%g): %a vs %a", xs[i],
                      (double)one, (double)ys[i]);
    }
}
END_TEST

/* GELU's value and derivative at once are the separate functions' results,
 * bit for bit, over every 997th f32 pattern (NaN where they give NaN); an
 * element of the shared work taken from the wrong tail or range breaks it. */
START_TEST(test_vmath_gelu_pair) {
    int64_t n = 0;
    for (uint64_t b = 0; b < (uint64_t)1 << 32; b += 997, n++) {
        const float x = ag__vm_float((uint32_t)b);
        const ag__gelu_pair r = ag__gelu_and_derivf(x);
        const float y = ag__geluf(x), dy = ag__normcdff(x) + x * ag__normpdff(x);
        ck_assert_msg(ulps_apart(r.y, y) == 0 && ulps_apart(r.dy, dy) == 0 &&
                          !signbit(r.y) == !signbit(y),
                      "x = %a: pair (%a, %a), separately (%a, %a)", (double)x, (double)r.y,
                      (double)r.dy, (double)y, (double)dy);
    }
    ck_assert_int_eq(n, (int64_t)((((uint64_t)1 << 32) + 996) / 997));
}
END_TEST

/* Asserts f(x) is want exactly, the sign of a zero included. */
#define ck_exact(f, x, want)                                                             \
    do {                                                                                 \
        const float g_ = f(x), w_ = (want);                                              \
        ck_assert_msg((isnan(g_) && isnan(w_)) ||                                         \
                          (g_ == w_ && !signbit(g_) == !signbit(w_)),                     \
                      "%s(%a) = %a, expected %a", #f, (double)(x), (double)g_, (double)w_); \
    } while (0)

static float exp_neg_sq1(float x) { return ag__exp_neg_sqf(x, 1.0f); }

/* NaN, infinities, signed zeros, subnormal inputs, and the edges of exp's
 * range, as libm gives them. */
START_TEST(test_vmath_special) {
    const float inf = INFINITY, nan_ = NAN, tiny = ag__vm_float(1); /* 2^-149 */
    const float sub = ag__vm_float(0x00400000); /* 2^-127, subnormal */
    float (*const all[])(float) = {ag__expf, ag__tanhf, ag__erff, ag__sigmoidf, ag__siluf,
                                   ag__normcdff, ag__geluf, ag__normpdff, exp_neg_sq1};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        ck_assert(isnan(all[k](nan_)));
        ck_assert(isnan(all[k](-nan_)));
    }
    /* exp: the overflow threshold is 0x1.62e42ep6 (88.7228390), the
     * underflow to 0 below -103.972 (e^x < 2^-150), subnormals between */
    ck_exact(ag__expf, inf, inf);
    ck_exact(ag__expf, -inf, 0.0f);
    ck_exact(ag__expf, 0.0f, 1.0f);
    ck_exact(ag__expf, -0.0f, 1.0f);
    ck_exact(ag__expf, tiny, 1.0f);
    ck_exact(ag__expf, -tiny, 1.0f);
    ck_exact(ag__expf, ag__vm_float(0x42b17217), (float)exp((double)ag__vm_float(0x42b17217)));
    ck_assert(isfinite(ag__expf(ag__vm_float(0x42b17217))));
    ck_exact(ag__expf, ag__vm_float(0x42b17218), inf);
    ck_exact(ag__expf, 89.0f, inf);
    ck_exact(ag__expf, FLT_MAX, inf);
    ck_exact(ag__expf, -104.0f, 0.0f);
    ck_exact(ag__expf, -FLT_MAX, 0.0f);
    ck_exact(ag__expf, -103.9f, (float)exp(-103.9)); /* the smallest subnormals */
    ck_assert(ag__expf(-103.9f) > 0);
    ck_exact(ag__expf, -87.5f, (float)exp((double)-87.5f));
    /* tanh, erf: odd, x itself (times 2/sqrt(pi)) for tiny x, +-1 far out */
    ck_exact(ag__tanhf, 0.0f, 0.0f);
    ck_exact(ag__tanhf, -0.0f, -0.0f);
    ck_exact(ag__tanhf, tiny, tiny);
    ck_exact(ag__tanhf, -sub, -sub);
    ck_exact(ag__tanhf, inf, 1.0f);
    ck_exact(ag__tanhf, -inf, -1.0f);
    ck_exact(ag__tanhf, 10.0f, 1.0f);
    ck_exact(ag__tanhf, -FLT_MAX, -1.0f);
    ck_exact(ag__erff, 0.0f, 0.0f);
    ck_exact(ag__erff, -0.0f, -0.0f);
    ck_exact(ag__erff, -sub, (float)erf((double)-sub));
    ck_exact(ag__erff, inf, 1.0f);
    ck_exact(ag__erff, -inf, -1.0f);
    ck_exact(ag__erff, 4.0f, 1.0f);
    ck_exact(ag__erff, -FLT_MAX, -1.0f);
    /* sigmoid and the normal CDF: 0 and 1 at the ends, 1/2 at 0 */
    ck_exact(ag__sigmoidf, inf, 1.0f);
    ck_exact(ag__sigmoidf, -inf, 0.0f);
    ck_exact(ag__sigmoidf, 0.0f, 0.5f);
    ck_exact(ag__sigmoidf, -100.0f, (float)exp(-100.0)); /* a subnormal, not 0 */
    ck_exact(ag__normcdff, inf, 1.0f);
    ck_exact(ag__normcdff, -inf, 0.0f);
    ck_exact(ag__normcdff, 0.0f, 0.5f);
    ck_exact(ag__normcdff, -14.0f, (float)(0.5 * erfc(14.0 * SQRT1_2_D))); /* subnormal */
    /* silu and gelu: x itself far right; -inf gives NaN (-inf * 0) */
    ck_exact(ag__siluf, inf, inf);
    ck_exact(ag__siluf, -inf, nan_);
    ck_exact(ag__siluf, 0.0f, 0.0f);
    ck_exact(ag__siluf, -200.0f, -0.0f);
    ck_exact(ag__geluf, inf, inf);
    ck_exact(ag__geluf, -inf, nan_);
    ck_exact(ag__geluf, 0.0f, 0.0f);
    ck_exact(ag__geluf, 100.0f, 100.0f);
    ck_exact(ag__geluf, -20.0f, -0.0f);
    /* GELU's smallest results: x Phi(x) is a subnormal down to x = -14.36 */
    ck_exact(ag__geluf, -14.0f, (float)r_gelu(-14.0));
    ck_assert(ag__geluf(-14.0f) < 0);
    /* the densities */
    ck_exact(ag__normpdff, inf, 0.0f);
    ck_exact(ag__normpdff, -inf, 0.0f);
    ck_exact(ag__normpdff, 0.0f, (float)INV_SQRT_2PI_D);
    ck_exact(exp_neg_sq1, 0.0f, 1.0f);
    ck_exact(exp_neg_sq1, -inf, 0.0f);
    ck_exact(exp_neg_sq1, 10.0f, (float)exp(-100.0)); /* a subnormal */
    ck_exact(exp_neg_sq1, 11.0f, 0.0f);                /* e^-121 < 2^-150 */
}
END_TEST

/* The f32 ops take these forms, forward and backward: GELU and its
 * derivative keep their relative accuracy far into the left tail, where
 * x (1 + erf(x / sqrt 2)) / 2 in float is 0 (erf rounds to -1 below
 * x = -5.8). Tolerances: the forward within its bound; the derivative
 * Phi(x) + x phi(x) from Phi (6 ulps) plus x phi(x) (2 ulps and a product)
 * plus the sum, 7 ulps of 2^-23 relative: the terms have opposite signs,
 * but |x phi| > 5 Phi below x = -3, so their errors are below
 * (6 / 5 + 3) |x phi| 2^-23 and the sum is above 0.8 |x phi|: 5.25 ulps
 * of 2^-23 at most, and a sum's rounding. */
START_TEST(test_vmath_in_ops) {
    ag_arena *A = ag_arena_new(0);
    const double xs[] = {-13.0, -10.0, -8.0, -6.0, -4.0};
    enum { N = sizeof xs / sizeof xs[0] };
    ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(N), xs);
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_gelu(A, x);
    ck_assert(ag_backward(y, ag_ones(A, AG_F32, AG_SHAPE(N))));
    for (int i = 0; i < N; i++) {
        const float got = (float)ag_get_flat(y, i);
        const double want = r_gelu(xs[i]);
        ck_assert_msg(ulps_apart(got, (float)want) <= AG__ULPS_GELU, "gelu(%g) = %.9g, want %.9g",
                      xs[i], (double)got, want);
        const double dwant = r_normcdf(xs[i]) + xs[i] * r_normpdf(xs[i]);
        const double dgot = ag_get_flat(x->grad, i);
        ck_assert_msg(fabs(dgot - dwant) <= 7 * 0x1p-23 * fabs(dwant),
                      "gelu'(%g) = %.9g, want %.9g", xs[i], dgot, dwant);
    }
    ag_arena_free(A);
}
END_TEST

TCase *ops_vmath_tcase(void) {
    TCase *tc = tcase_create("vmath");
    tcase_set_tags(tc, "sweep"); /* the ops test leaves it out (tests/CMakeLists.txt) */
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, test_vmath_sweep, 0, NFUNCS);
    tcase_add_test(tc, test_vmath_array_is_scalar);
    tcase_add_test(tc, test_vmath_gelu_pair);
    tcase_add_test(tc, test_vmath_special);
    tcase_add_test(tc, test_vmath_in_ops);
    return tc;
}
