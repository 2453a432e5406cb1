/* core/rng.c — a seeded, portable random number generator.
 *
 * xoshiro256** (Blackman and Vigna) seeded through splitmix64, so every seed,
 * 0 included, gives a well-mixed state. Normal values use Box-Muller, keeping
 * the second value of each pair. Integer arithmetic only until the final
 * conversion, so the stream is the same on every machine.
 */
#include <float.h>
#include <math.h>

#include "internal.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void ag_rng_seed(ag_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
    r->has_spare = false;
    r->spare = 0.0;
}

ag_rng ag_rng_seeded(uint64_t seed) {
    ag_rng r;
    ag_rng_seed(&r, seed);
    return r;
}

uint64_t ag_rng_u64(ag_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ag_rng_uniform(ag_rng *r) { return (double)(ag_rng_u64(r) >> 11) * 0x1.0p-53; }

double ag_rng_normal(ag_rng *r) {
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u1 = 1.0 - ag_rng_uniform(r); /* (0, 1]: log(u1) is finite */
    double u2 = ag_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double th = 2.0 * 3.14159265358979323846 * u2;
    r->spare = rad * sin(th);
    r->has_spare = true;
    return rad * cos(th);
}

uint64_t ag_rng_below(ag_rng *r, uint64_t n) {
    if (n == 0) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    uint64_t x;
    do x = ag_rng_u64(r);
    while (x >= limit);
    return x % n;
}

static ag_tensor *fill_random(const char *op, ag_arena *A, ag_rng *r, ag_dtype dt, int ndim,
                              const int64_t *shape, double a, double b, bool normal) {
    if (!r) {
        ag__fail(op, "rng is NULL");
        return NULL;
    }
    if ((unsigned)dt >= AG_DTYPE_COUNT) {
        ag__fail(op, "unknown dtype %d", (int)dt);
        return NULL;
    }
    if (!ag_dtype_is_float(dt)) {
        ag__fail(op, "dtype %s: expected a float dtype", ag_dtype_name(dt));
        return NULL;
    }
    ag_tensor *t = ag__result(op, A, dt, ndim, shape);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = normal ? a + b * ag_rng_normal(r) : a + (b - a) * ag_rng_uniform(r);
        ag_set_flat_(t, i, v);
    }
    return t;
}

/* The requested shape for a message, "[]" when it is itself bad. */
static const char *shape_text(int ndim, const int64_t *shape) {
    return ag__shp_of(ndim > 0 && ndim <= AG_MAX_DIMS && shape ? ndim : 0, shape);
}

/* The largest finite value of float dtype dt. */
static double dtype_max(ag_dtype dt) {
    return dt == AG_F64 ? DBL_MAX : dt == AG_BF16 ? 0x1.fep127 : (double)FLT_MAX;
}

bool ag__uniform_ok(const char *op, ag_dtype dt, double lo, double hi, const char *shape) {
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi)) {
        ag__fail(op, "bounds lo = %g, hi = %g for %s: expected finite numbers with lo <= hi",
                 lo, hi, shape);
        return false;
    }
    if (!ag_dtype_is_float(dt)) return true; /* the fill reports the dtype */
    const double max = dtype_max(dt);
    if (fabs(lo) > max || fabs(hi) > max) {
        ag__fail(op, "bounds lo = %g, hi = %g for %s: outside the range of %s (largest %g)",
                 lo, hi, shape, ag_dtype_name(dt), max);
        return false;
    }
    if (!(hi - lo <= max)) {
        ag__fail(op, "bounds lo = %g, hi = %g for %s: hi - lo exceeds the largest %s (%g)",
                 lo, hi, shape, ag_dtype_name(dt), max);
        return false;
    }
    return true;
}

bool ag__normal_ok(const char *op, double mean, double std, const char *shape) {
    if (std >= 0 && isfinite(std) && isfinite(mean)) return true;
    ag__fail(op, "mean = %g, std = %g for %s: expected a finite mean and a finite std >= 0",
             mean, std, shape);
    return false;
}

ag_tensor *ag_rand_(ag_arena *A, ag_rng *r, ag_dtype dt, int ndim, const int64_t *shape,
                    double lo, double hi) {
    if (!ag__uniform_ok("rand", dt, lo, hi, shape_text(ndim, shape))) return NULL;
    return fill_random("rand", A, r, dt, ndim, shape, lo, hi, false);
}

ag_tensor *ag_randn_(ag_arena *A, ag_rng *r, ag_dtype dt, int ndim, const int64_t *shape,
                     double mean, double std) {
    if (!ag__normal_ok("randn", mean, std, shape_text(ndim, shape))) return NULL;
    return fill_random("randn", A, r, dt, ndim, shape, mean, std, true);
}
