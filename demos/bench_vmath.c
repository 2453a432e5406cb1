/* demos/bench_vmath.c — core/vmath.h's f32 functions against libm's, in the
 * same run.
 *
 *   bench-vmath [--elements N] [--reps K]
 *
 * Over one f32 array of N elements (default 1,048,576), spread over
 * [-8, 8], one thread each:
 *
 *   exp        y = e^x
 *   tanh       y = tanh x
 *   gelu       forward y = x Phi(x), keeping d = Phi(x) + x phi(x), and
 *              backward dx = g d: the op's two loops when a backward
 *              follows (Phi the normal CDF, phi its density)
 *
 * once as a loop of libm's scalar calls (expf, tanhf, erff: the f32 path
 * before core/vmath.h) and once through core/vmath.h's inline forms, which
 * the compiler vectorizes. Each time is the median of K runs (default 9, at
 * least 5) after a warm-up run; the ratio is libm's time over vmath's. The
 * last two columns are each forward result's largest distance in ulps from
 * the value in double (libm's exp and tanh, x erfc(-x / sqrt 2) / 2),
 * rounded to float: for exp and tanh both are within a few ulps; for GELU
 * libm's is huge, because its formula x (1 + erf(x / sqrt 2)) / 2 cancels to
 * 0 or to a few bits in the left tail, where vmath's keeps its relative
 * accuracy (backward is not compared: GELU's derivative crosses 0 near
 * x = -0.75, where ulps mean nothing). Times from a machine
 * that is busy with other work are noisy; the ratio, taken in one run, less.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/demo.h"
#include "common/demo_opts.h"
#include "vmath.h"

#define SQRT1_2F 0.707106769f
#define INV_SQRT_2PIF 0.398942292f

/* One pass of a kernel over n elements: x in, y (and dx) out, g the incoming gradient. */
typedef struct {
    const float *x, *g;
    float *y, *d, *dx; /* d: GELU's kept derivative */
    int64_t n;
} pass;

static void exp_libm(const pass *p) {
    for (int64_t i = 0; i < p->n; i++) p->y[i] = expf(p->x[i]);
}
static void exp_vmath(const pass *p) {
    for (int64_t i = 0; i < p->n; i++) p->y[i] = ag__expf(p->x[i]);
}
static void tanh_libm(const pass *p) {
    for (int64_t i = 0; i < p->n; i++) p->y[i] = tanhf(p->x[i]);
}
static void tanh_vmath(const pass *p) {
    for (int64_t i = 0; i < p->n; i++) p->y[i] = ag__tanhf(p->x[i]);
}
static void gelu_libm(const pass *p) {
    for (int64_t i = 0; i < p->n; i++) {
        const float x = p->x[i];
        const float cdf = 0.5f * (1 + erff(x * SQRT1_2F));
        const float pdf = INV_SQRT_2PIF * expf(-0.5f * x * x);
        p->y[i] = x * cdf;
        p->d[i] = cdf + x * pdf;
    }
    for (int64_t i = 0; i < p->n; i++) p->dx[i] = p->g[i] * p->d[i];
}
static void gelu_vmath(const pass *p) {
    for (int64_t i = 0; i < p->n; i++) {
        const ag__gelu_pair r = ag__gelu_and_derivf(p->x[i]);
        p->y[i] = r.y;
        p->d[i] = r.dy;
    }
    for (int64_t i = 0; i < p->n; i++) p->dx[i] = p->g[i] * p->d[i];
}

/* Median seconds of fn over p, reps runs after one warm-up run. */
static double time_pass(void (*fn)(const pass *), const pass *p, int reps) {
    double *t = malloc((size_t)reps * sizeof *t);
    fn(p);
    for (int r = 0; r < reps; r++) {
        const double t0 = ag_demo_now();
        fn(p);
        t[r] = ag_demo_now() - t0;
    }
    const double m = ag_demo_median(t, reps);
    free(t);
    return m;
}

static int64_t ordinal(float f) {
    const uint32_t u = ag__vm_bits(f);
    return u >> 31 ? -(int64_t)(u & 0x7fffffffu) : (int64_t)u;
}

/* GELU's forward in double (exp's and tanh's are libm's exp and tanh). */
static double gelu_f64(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }

/* The largest distance in ulps between y[i] and f(x[i]) in double, rounded to
 * float. */
static int64_t max_ulps(const float *y, double (*f)(double), const float *x, int64_t n) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t d = llabs(ordinal(y[i]) - ordinal((float)f(x[i])));
        m = d > m ? d : m;
    }
    return m;
}

int main(int argc, char **argv) {
    int64_t n = 1 << 20;
    int reps = 9;
    const ag_demo_opt table[] = {
        {"elements", AG_DEMO_INT64, &n, 1, 1 << 26, .arg = "N",
         .help = "f32 elements, up to 2^26 (1048576)"},
        {"reps", AG_DEMO_INT, &reps, 5, 100000, .arg = "K",
         .help = "timed runs, >= 5; the median is reported (9)"},
    };
    const ag_demo_cmd cmd = {"bench-vmath",
                             "core/vmath.h's f32 exp, tanh and GELU against libm's, one thread.\n",
                             table, (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;

    float *buf = malloc((size_t)n * 8 * sizeof *buf);
    if (!buf) {
        fprintf(stderr, "bench-vmath: no memory for %lld elements\n", (long long)n);
        return 1;
    }
    float *x = buf, *g = buf + n;
    uint64_t s = 88172645463325252u; /* xorshift64: the inputs, the same every run */
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = -8.0f + 16.0f * (float)(s >> 40) / (float)(1 << 24);
        g[i] = 1.0f - (float)(s & 0xff) / 256.0f;
    }
    const pass lp = {x, g, buf + 2 * n, buf + 3 * n, buf + 4 * n, n};
    const pass vp = {x, g, buf + 5 * n, buf + 6 * n, buf + 7 * n, n};
    static const struct {
        const char *name;
        void (*libm)(const pass *), (*vmath)(const pass *);
        double (*exact)(double);
    } runs[] = {
        {"exp", exp_libm, exp_vmath, exp},
        {"tanh", tanh_libm, tanh_vmath, tanh},
        {"gelu fwd+bwd", gelu_libm, gelu_vmath, gelu_f64},
    };
    printf("%-14s %12s %12s %8s %12s %12s\n", "function", "libm ms", "vmath ms", "ratio",
           "libm ulps", "vmath ulps");
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        const double tl = time_pass(runs[k].libm, &lp, reps);
        const double tv = time_pass(runs[k].vmath, &vp, reps);
        const int64_t dl = max_ulps(lp.y, runs[k].exact, x, n);
        const int64_t dv = max_ulps(vp.y, runs[k].exact, x, n);
        printf("%-14s %12.3f %12.3f %7.2fx %12lld %12lld\n", runs[k].name, 1e3 * tl, 1e3 * tv,
               tl / tv, (long long)dl, (long long)dv);
    }
    printf("(%lld f32 elements in [-8, 8]; median of %d runs after a warm-up; one thread)\n",
           (long long)n, reps);
    free(buf);
    return 0;
}
