/* core/vmath.h — f32 exp, tanh and erf, and what the activations build on
 * them (sigmoid, SiLU, the normal CDF and density, GELU), written for the
 * vectorizer; not installed.
 *
 * Each function takes and returns one float and has no branch, no table
 * lookup and no libm call: every path is computed and the right one picked
 * with bit masks (ag__vm_select), so a loop that calls one vectorizes under
 * -O3 (16 lanes with AVX-512, 8 with AVX2, 4 with SSE or NEON). It is plain
 * C11, IEEE single arithmetic except for one polynomial in double (erf's
 * erfc factor; Phi's and GELU's too without a fast FMA), so any
 * compiler builds it and the results do not depend on the vector width.
 * The polynomials' steps are fused multiply-adds (ag__vm_fma) where the
 * target has fast ones, which makes GELU's forward a quarter faster, and a
 * product and a sum elsewhere: the two builds differ in last bits, and the
 * results meet the bounds below in both. Every other a * b + c is two
 * roundings (the build passes -ffp-contract=off, which clang needs: by
 * default it fuses them, and its results then met the bounds on every 97th
 * input). The library's f64 path stays on libm.
 *
 * Maximum error over every f32 input, in ulps: the number of floats between
 * the result and libm's double result rounded to float (0: the same float).
 * tests/ops/vmath.c asserts these bounds over every 7th f32 bit pattern
 * (AG_VMATH_STRIDE=1: all 2^32, which they also pass):
 *
 *   ag__expf         1   e^x
 *   ag__tanhf        1   tanh x
 *   ag__erff         1   erf x
 *   ag__sigmoidf     2   1 / (1 + e^-x)
 *   ag__siluf        3   x / (1 + e^-x)
 *   ag__normcdff     6   Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF
 *   ag__geluf        6   x Phi(x)
 *   ag__normpdff     2   e^(-x^2 / 2) / sqrt(2 pi), the standard normal density
 *   ag__exp_neg_sqf  1   e^(-s x^2), s = 1 or 1/2 (erf's derivative is 2 / sqrt(pi) e^(-x^2))
 *
 * The error is relative everywhere, tails included: Phi(x) and x Phi(x) far
 * below 0 (down to the smallest subnormal, near x = -14.36) come from an
 * erfc formula, never from 1 + erf(x / sqrt 2), which cancels (in float it
 * is 0 below x = -5.8). Subnormal results are rounded once, as libm's are.
 *
 * Special values are libm's: NaN gives NaN; exp(+inf) = inf, exp(-inf) = 0,
 * exp(x) = inf above 88.7228 and 0 below -103.973, subnormal in between;
 * tanh, erf, sigmoid and Phi tend to their limits; tanh and erf keep the
 * sign of a zero, and tanh x = x for a subnormal x; silu(-inf) and
 * gelu(-inf) are NaN (the formula's -inf * 0, as the f64 path gives),
 * silu(+inf) = gelu(+inf) = +inf.
 *
 * How. e^x = 2^k e^r with k = round(x / ln 2) and r = x - k ln 2 reduced in
 * two steps (Cody-Waite: ln 2 split into 16 + 24 bits, so that k ln2_hi and
 * the subtraction are exact); e^r = 1 + r + r^2 P(r), Cephes' expf
 * polynomial. The scale 2^k is applied as two powers of two, so that a
 * product m e^x rounds once, into the subnormals too. tanh is an odd
 * polynomial below 0.625 (Cephes' tanhf) and 1 - 2 / (e^(2|x|) + 1) above.
 * erf is x + x P(x^2) below 1 and 1 - erfc(|x|) above, with
 * erfc(z) = e^(-z^2) G(z) and G(z) = e^(z^2) erfc(z), smooth and slowly
 * varying, a polynomial in t = 2 / (2 + z) evaluated in double (its terms
 * partly cancel). z^2 enters e^(-z^2) as hi + lo with hi exact (the square
 * of z's top 12 bits), since rounding z^2 would cost z^2 2^-24 of relative
 * error, 50 ulps at z = 10. Phi is 1/2 + x Q(x^2) on [-0.5, sqrt 2), and
 * erfc(|x| / sqrt 2) / 2 (or 1 minus it) outside, with z^2 = x^2 / 2 split
 * from x itself and, where the target has a fast fused multiply-add, G in
 * float (which costs Phi and GELU 3 ulps of their bounds, and saves a
 * quarter of GELU's time). The polynomials for erf, G and Q were fitted here for
 * relative error (Lawson's minimax iteration in 40-digit arithmetic,
 * core/vmath_fit.py): erf's on [0, 1] (2^-29.6), G's on [0.35, 10.3]
 * (2^-28.7), Q's on [0, 2] (2^-33); erf's and Q's coefficients are rounded
 * to float.
 */
#ifndef AG_CORE_VMATH_H
#define AG_CORE_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Every function here is meant to dissolve into its caller's loop: a loop
 * that still calls one does not vectorize, and runs 7 times slower (GELU's
 * forward with its derivative, 21 against 3 ns an element with AVX2). GCC
 * inlines by a size budget that the larger compositions can exceed, at a
 * call site it judges cold, so they are forced where the compiler has the
 * attribute. */
#if defined(__GNUC__)
#define AG__VM_INLINE static inline __attribute__((always_inline))
#else
#define AG__VM_INLINE static inline
#endif

/* ---- bits ------------------------------------------------------------------ */

AG__VM_INLINE uint32_t ag__vm_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

AG__VM_INLINE float ag__vm_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Whether the target has a fast fused multiply-add: C's FP_FAST_FMAF (GCC
 * defines it for x86 with FMA3 and for AArch64), or the target macros that
 * clang sets for the same instructions without defining it. */
#if defined(FP_FAST_FMAF) || defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define AG__VM_FAST_FMA 1
#else
#define AG__VM_FAST_FMA 0
#endif

/* a * b + c. With a fast fused multiply-add it is one rounding and one
 * instruction, which halves a polynomial's work; elsewhere a product and a
 * sum, since a library fma would not vectorize. The two differ in last bits
 * only, and the bounds below hold for both builds. */
AG__VM_INLINE float ag__vm_fma(float a, float b, float c) {
#if AG__VM_FAST_FMA
    return fmaf(a, b, c);
#else
    return a * b + c;
#endif
}

AG__VM_INLINE double ag__vm_fmad(double a, double b, double c) {
#if AG__VM_FAST_FMA
    return fma(a, b, c);
#else
    return a * b + c;
#endif
}

AG__VM_INLINE float ag__vm_abs(float x) { return ag__vm_float(ag__vm_bits(x) & 0x7fffffffu); }

/* c ? a : b without a branch (a branch would let the compiler move a
 * path's arithmetic under it, and a loop with branches does not vectorize). */
AG__VM_INLINE float ag__vm_select(int c, float a, float b) {
    const uint32_t m = (uint32_t)0 - (uint32_t)(c != 0);
    return ag__vm_float((ag__vm_bits(a) & m) | (ag__vm_bits(b) & ~m));
}

/* |x| with the sign of s. */
AG__VM_INLINE float ag__vm_copysign(float x, float s) {
    return ag__vm_float((ag__vm_bits(x) & 0x7fffffffu) | (ag__vm_bits(s) & 0x80000000u));
}

/* ---- e^x as parts ------------------------------------------------------------ */

/* e^(hi + lo) = p * s1 * s2 with p in [0.7, 1.5) and s1, s2 powers of two
 * that are normal floats, so that m e^(hi + lo) = ((m * p) * s1) * s2
 * rounds once more at most, when the result is subnormal. hi is clamped to
 * [-126, 96], past which every product here is 0 or inf; lo refines hi
 * (|lo| <= 2^-10 |hi|, the low part of an exact square). A NaN hi gives a
 * NaN p. */
typedef struct {
    float p, s1, s2;
} ag__exp_parts;

#define AG__VM_SHIFT 12582912.0f /* 1.5 * 2^23: adding it rounds to an integer */

AG__VM_INLINE ag__exp_parts ag__exp_split(float hi, float lo) {
    const float x = ag__vm_select(hi > 96.0f, 96.0f, ag__vm_select(hi < -126.0f, -126.0f, hi));
    const float shifted = x * 1.44269502f + AG__VM_SHIFT;
    const float k = shifted - AG__VM_SHIFT;
    /* k * 0.693145751953125f is exact (16 + 8 bits), and so is x minus it */
    const float r = ((x - k * 0.693145751953125f) - k * 1.42860677e-6f) + lo;
    float q = 1.9875691500e-4f; /* Horner, highest degree first */
    q = ag__vm_fma(q, r, 1.3981999507e-3f);
    q = ag__vm_fma(q, r, 8.3334519073e-3f);
    q = ag__vm_fma(q, r, 4.1665795894e-2f);
    q = ag__vm_fma(q, r, 1.6666665459e-1f);
    q = ag__vm_fma(q, r, 5.0000001201e-1f);
    /* k sits in the low bits of shifted; k1 + k2 = k, each within the normal exponents */
    const int32_t ki = (int32_t)(ag__vm_bits(shifted) - ag__vm_bits(AG__VM_SHIFT));
    const int32_t k1 = ki / 2, k2 = ki - k1;
    return (ag__exp_parts){
        .p = 1.0f + ag__vm_fma(r * r, q, r),
        .s1 = ag__vm_float((uint32_t)(k1 + 127) << 23),
        .s2 = ag__vm_float((uint32_t)(k2 + 127) << 23),
    };
}

/* m e^(hi + lo) from its parts, rounded at the end. */
AG__VM_INLINE float ag__exp_parts_mul(ag__exp_parts e, float m) {
    return ((m * e.p) * e.s1) * e.s2;
}

/* m e^(hi + lo), rounded at the end. */
AG__VM_INLINE float ag__exp_mul(float hi, float lo, float m) {
    return ag__exp_parts_mul(ag__exp_split(hi, lo), m);
}

AG__VM_INLINE float ag__expf(float x) { return ag__exp_mul(x, 0.0f, 1.0f); }

/* ---- exact squares ------------------------------------------------------------- */

/* x^2 = hi + lo: hi is the square of x's top 12 significand bits (exact),
 * lo the rest, rounded (relative error 2^-23 of a term below 2^-10 x^2).
 * |x| must be at most 2^63 (callers clamp). */
typedef struct {
    float hi, lo;
} ag__vm_square;

AG__VM_INLINE ag__vm_square ag__vm_sq(float x) {
    const float h = ag__vm_float(ag__vm_bits(x) & 0xfffff000u);
    return (ag__vm_square){.hi = h * h, .lo = (x - h) * (x + h)};
}

/* e^(-s x^2) for s = 1 or 1/2 (a power of two keeps the square exact), with
 * the square split so that large |x| keeps its relative accuracy. */
AG__VM_INLINE float ag__exp_neg_sqf(float x, float s) {
    const float a = ag__vm_abs(x);
    const ag__vm_square q = ag__vm_sq(ag__vm_select(a > 20.0f, 20.0f, a));
    return ag__exp_mul(-s * q.hi, -s * q.lo, 1.0f);
}

/* ---- tanh ---------------------------------------------------------------------- */

AG__VM_INLINE float ag__tanhf(float x) {
    const float z = x * x;
    float p = -5.70498872745e-3f;
    p = ag__vm_fma(p, z, 2.06390887954e-2f);
    p = ag__vm_fma(p, z, -5.37397155531e-2f);
    p = ag__vm_fma(p, z, 1.33314422036e-1f);
    p = ag__vm_fma(p, z, -3.33332819422e-1f);
    const float small = ag__vm_fma(p * z, x, x);
    const float a = ag__vm_abs(x);
    const float big = 1.0f - 2.0f / (ag__expf(2.0f * a) + 1.0f);
    /* the sign of x on both: x + x z P(z) would give tanh(-0) = +0 */
    return ag__vm_copysign(ag__vm_select(a < 0.625f, small, big), x);
}

/* ---- erf, erfc and the normal CDF ----------------------------------------------- */

/* erf(z) / z - 1 for |z| <= 1, as a polynomial in z^2. */
AG__VM_INLINE float ag__vm_erf_small(float z2) {
    float p = 7.85385928e-05f;
    p = ag__vm_fma(p, z2, -0.000801019312f);
    p = ag__vm_fma(p, z2, 0.00518832775f);
    p = ag__vm_fma(p, z2, -0.026853811f);
    p = ag__vm_fma(p, z2, 0.112835854f);
    p = ag__vm_fma(p, z2, -0.37612626f);
    return ag__vm_fma(p, z2, 0.128379166f);
}

/* G(z) = e^(z^2) erfc(z) for z >= 0.35 (relative error 2^-28.7 on
 * [0.35, 10.3] with 10 terms; 12 terms reach 2^-32 but leave every bound
 * above as it is, since G is rounded to float, and make GELU 6 percent
 * slower): a polynomial in t = 2 / (2 + z), G = sum c[i] t^i, written
 * once for two types.
 *
 * erf's is in double, since its terms partly cancel and float would lose
 * several ulps. Phi's and GELU's is in float where the target has a fast
 * fused multiply-add (ag__vm_g), the coefficients rounded to float: its
 * error, up to 5 units of 2^-24 against the double form's fraction of one,
 * takes their bounds from 3 ulps to 6, and makes GELU's forward with its
 * derivative a quarter faster (2.4 against 3.2 ns an element with AVX2):
 * double lanes are half as many, and the double polynomial and division
 * were the largest share of the work. */
#define AG__VM_ERFC_SCALED_POLY(name, R, fma_of)                                         \
    AG__VM_INLINE R name(R t) {                                                          \
        R g = (R)-0.072659806289088261; /* highest degree first */                       \
        g = fma_of(g, t, (R)0.34375432745845719);                                        \
        g = fma_of(g, t, (R)-0.59718144644919846);                                       \
        g = fma_of(g, t, (R)0.39206455715919397);                                        \
        g = fma_of(g, t, (R)-0.098912107339905214);                                      \
        g = fma_of(g, t, (R)0.23162556111639049);                                        \
        g = fma_of(g, t, (R)0.23582532469411163);                                        \
        g = fma_of(g, t, (R)0.28347916683305519);                                        \
        g = fma_of(g, t, (R)0.28199521014068812);                                        \
        return fma_of(g, t, (R)3.1150083875937534e-06);                                  \
    }
AG__VM_ERFC_SCALED_POLY(ag__vm_erfc_scaled_poly, double, ag__vm_fmad)
AG__VM_ERFC_SCALED_POLY(ag__vm_erfc_scaled_polyf, float, ag__vm_fma)

/* m G(z), rounded once. */
AG__VM_INLINE float ag__vm_erfc_scaled_mul(float z, float m) {
    return (float)((double)m * ag__vm_erfc_scaled_poly(2.0 / (2.0 + (double)z)));
}

/* The largest |x| the tails look at: beyond it every tail is 0. */
#define AG__VM_TAIL_MAX 20.0f

/* m erfc(z) for z >= 0.35, with z^2 = sq.hi + sq.lo. */
AG__VM_INLINE float ag__vm_erfc_mul(float z, ag__vm_square sq, float m) {
    return ag__exp_mul(-sq.hi, -sq.lo, ag__vm_erfc_scaled_mul(z, m));
}

AG__VM_INLINE float ag__erff(float x) {
    const float a = ag__vm_abs(x);
    const float small = ag__vm_fma(x, ag__vm_erf_small(x * x), x);
    const float ac = ag__vm_select(a > AG__VM_TAIL_MAX, AG__VM_TAIL_MAX, a);
    const float big = 1.0f - ag__vm_erfc_mul(ac, ag__vm_sq(ac), 1.0f);
    return ag__vm_select(a < 1.0f, small, ag__vm_copysign(big, x));
}

/* (Phi(x) - 1/2) / x for x^2 <= 2, as a polynomial in x^2. */
AG__VM_INLINE float ag__vm_normcdf_small(float x2) {
    float p = -2.62723017e-08f;
    p = ag__vm_fma(p, x2, 6.19172056e-07f);
    p = ag__vm_fma(p, x2, -9.36421111e-06f);
    p = ag__vm_fma(p, x2, 0.000115355331f);
    p = ag__vm_fma(p, x2, -0.00118728401f);
    p = ag__vm_fma(p, x2, 0.0099735437f);
    p = ag__vm_fma(p, x2, -0.066490382f);
    return ag__vm_fma(p, x2, 0.398942292f);
}

/* The type Phi's and GELU's G is evaluated in: float where the target has
 * a fast fused multiply-add; without one, the float form's products and
 * sums lose one ulp more (7), and G stays in double (3 ulps). */
#if AG__VM_FAST_FMA
typedef float ag__vm_g;
#define AG__VM_G_OF ag__vm_erfc_scaled_polyf
#else
typedef double ag__vm_g;
#define AG__VM_G_OF ag__vm_erfc_scaled_poly
#endif

/* What Phi(x) and x Phi(x) are made of: Phi from a polynomial on
 * [-0.5, sqrt 2), and for the tails G(z) with z = |x| / sqrt 2 and
 * e^(-z^2) = e^(-x^2 / 2) as exp parts (z^2 = x^2 / 2 split from x itself).
 * GELU's derivative takes the density from the same parts. */
typedef struct {
    float mid, ac; /* Phi on the middle range; |x| clamped to AG__VM_TAIL_MAX */
    ag__vm_g g;    /* G(z) */
    ag__exp_parts e;
} ag__vm_cdf_parts;

AG__VM_INLINE ag__vm_cdf_parts ag__vm_cdf_parts_of(float x) {
    const float a = ag__vm_abs(x);
    const float ac = ag__vm_select(a > AG__VM_TAIL_MAX, AG__VM_TAIL_MAX, a);
    const ag__vm_square sq = ag__vm_sq(ac);
    return (ag__vm_cdf_parts){
        .mid = ag__vm_fma(x, ag__vm_normcdf_small(x * x), 0.5f),
        .ac = ac,
        .g = AG__VM_G_OF((ag__vm_g)2 / ((ag__vm_g)2 + (ag__vm_g)(ac * 0.707106769f))),
        .e = ag__exp_split(-(0.5f * sq.hi), -(0.5f * sq.lo)),
    };
}

/* Phi(x) (times_x 0) or x Phi(x) (times_x 1) from its parts: the tails are
 * m erfc(z) with m = 1/2 or x / 2, m G(z) rounded once and then scaled by
 * e^(-z^2) (x clamped: the tail is 0 there anyway). */
AG__VM_INLINE float ag__vm_cdf_from(float x, const ag__vm_cdf_parts *c, int times_x) {
    const float m = times_x ? 0.5f * ag__vm_copysign(c->ac, x) : 0.5f;
    /* Phi(-|x|) or x Phi(-|x|) */
    const float lower = ag__exp_parts_mul(c->e, (float)((ag__vm_g)m * c->g));
    const float upper = times_x ? x - lower : 1.0f - lower;   /* x Phi(x) = x - x Phi(-x) */
    const float middle = times_x ? x * c->mid : c->mid;
    return ag__vm_select(x <= -0.5f, lower, ag__vm_select(x < 1.41421354f, middle, upper));
}

AG__VM_INLINE float ag__vm_normcdf_mul(float x, int times_x) {
    const ag__vm_cdf_parts c = ag__vm_cdf_parts_of(x);
    return ag__vm_cdf_from(x, &c, times_x);
}

AG__VM_INLINE float ag__normcdff(float x) { return ag__vm_normcdf_mul(x, 0); }

/* x Phi(x); -inf gives NaN like the formula (-inf * 0). */
AG__VM_INLINE float ag__geluf(float x) {
    const float y = ag__vm_normcdf_mul(x, 1);
    return ag__vm_select(x == -INFINITY, NAN, y);
}

/* The standard normal density e^(-x^2 / 2) / sqrt(2 pi). */
AG__VM_INLINE float ag__normpdff(float x) { return 0.398942292f * ag__exp_neg_sqf(x, 0.5f); }

/* GELU and its derivative at once: y = ag__geluf(x) and
 * dy = ag__normcdff(x) + x ag__normpdff(x), the same bits, from one set of
 * parts (the erfc tail's G and e^(-x^2 / 2) computed once, whatever the
 * compiler would find to share between separate calls). */
typedef struct {
    float y, dy;
} ag__gelu_pair;

AG__VM_INLINE ag__gelu_pair ag__gelu_and_derivf(float x) {
    const ag__vm_cdf_parts c = ag__vm_cdf_parts_of(x);
    const float y = ag__vm_cdf_from(x, &c, 1), phi = ag__vm_cdf_from(x, &c, 0);
    const float pdf = 0.398942292f * ag__exp_parts_mul(c.e, 1.0f);
    return (ag__gelu_pair){ag__vm_select(x == -INFINITY, NAN, y), phi + x * pdf};
}

/* ---- sigmoid and SiLU ------------------------------------------------------------ */

/* 1 / (1 + e^-x) from e = e^-|x| <= 1: 1 / (1 + e) for x >= 0, e / (1 + e)
 * below (never e^x of a large x). */
AG__VM_INLINE float ag__sigmoidf(float x) {
    const float e = ag__expf(-ag__vm_abs(x));
    return ag__vm_select(x >= 0.0f, 1.0f, e) / (1.0f + e);
}

/* x / (1 + e^-x); below 0, x e^x / (1 + e^x) with x e^x rounded once. */
AG__VM_INLINE float ag__siluf(float x) {
    const ag__exp_parts e = ag__exp_split(-ag__vm_abs(x), 0.0f);
    const float en = ag__exp_parts_mul(e, 1.0f);
    const float xc = ag__vm_select(x < -126.0f, -126.0f, x); /* x e^x is 0 below anyway */
    const float num = ag__vm_select(x >= 0.0f, x, ag__exp_parts_mul(e, xc));
    return ag__vm_select(x == -INFINITY, NAN, num / (1.0f + en)); /* -inf * 0, as the formula */
}

/* ---- the stated bounds and the array forms ------------------------------------ */

/* The maximum errors in ulps above, as numbers (tests/ops/vmath.c asserts them). */
enum {
    AG__ULPS_EXP = 1,
    AG__ULPS_TANH = 1,
    AG__ULPS_ERF = 1,
    AG__ULPS_SIGMOID = 2,
    AG__ULPS_SILU = 3,
    AG__ULPS_NORMCDF = 6,
    AG__ULPS_GELU = 6,
    AG__ULPS_NORMPDF = 2,
    AG__ULPS_EXP_NEG_SQ = 1,
};

/* y[i] = f(x[i]) for i < n (core/vmath.c); y may be x. */
void ag__expf_array(float *y, const float *x, int64_t n);
void ag__tanhf_array(float *y, const float *x, int64_t n);
void ag__erff_array(float *y, const float *x, int64_t n);
void ag__sigmoidf_array(float *y, const float *x, int64_t n);
void ag__siluf_array(float *y, const float *x, int64_t n);
void ag__normcdff_array(float *y, const float *x, int64_t n);
void ag__geluf_array(float *y, const float *x, int64_t n);
void ag__normpdff_array(float *y, const float *x, int64_t n);

#endif
