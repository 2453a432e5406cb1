/* demos/rmsnorm_tour.c — a guided run through ten RMSNorm exercises (what
 * each asks, and the facts it needs: docs/rmsnorm-exercises.md), each
 * computed by ag and printed with its result and a one-line "why".
 *
 *   rmsnorm-tour [--quick] [--big] [--seed S] [--threads N] [--help]
 *
 *   [1]  init: DeepseekV3RMSNorm(4096, eps=1e-5)          DeepSeek-V3 init exercises
 *   [2]  parameter counts: RMSNorm vs LayerNorm            DeepSeek-V3 init exercises
 *   [3]  the eps experiment                                DeepSeek-V3 init exercises
 *   [4]  post_init: weights ~ normal(1, 0.02)              DeepSeek-V3 init exercises
 *   [5]  Llama v1 (sqrt) vs v2 (rsqrt)                     Llama's RMSNorm
 *   [6]  RMSNorm vs LayerNorm on the same input            Llama's RMSNorm, microgpt
 *   [7]  the worked example [3, 4, 0]                      microgpt's rmsnorm
 *   [8]  bf16: upcast (DeepSeek) vs bf16 throughout        DeepseekV2RMSNorm
 *   [9]  FLOPs, bytes and saved tensors                    DeepseekV2RMSNorm, T5LayerNorm
 *   [10] timing: fused, composed, LayerNorm, T5LayerNorm   T5LayerNorm, Llama's benchmark
 *
 * Every number printed is computed here; nothing is pasted in. The claims a
 * reader can check by hand (the worked example, the parameter counts, the
 * initial weights, the v1/v2 agreement, ...) are also checked by the program,
 * which exits 1 when one is off: `rmsnorm-tour --quick` is a CTest test.
 * --quick skips the timing; --big times at the exercise's B=32, T=1024, D=4096
 * (x, dy and x.grad are 512 MiB each, about 5 GB at the peak; 1-2 minutes).
 */
#include <ag/ag.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/demo_opts.h"

/* Threads. ag links OpenMP privately: this file is normally compiled without
 * -fopenmp (no _OPENMP), but ag's build exports AG_HAVE_OPENMP and libgomp is
 * on the program's link line, so the two runtime calls can be reached; weak
 * references keep the link working wherever libgomp is not. */
#if defined(_OPENMP)
#include <omp.h>
static bool have_omp(void) { return true; }
#elif defined(AG_HAVE_OPENMP) && defined(__GNUC__)
extern int omp_get_max_threads(void) __attribute__((weak));
extern void omp_set_num_threads(int n) __attribute__((weak));
static bool have_omp(void) { return omp_get_max_threads && omp_set_num_threads; }
#else
static bool have_omp(void) { return false; }
static int omp_get_max_threads(void) { return 1; }
static void omp_set_num_threads(int n) { (void)n; }
#endif

/* The threads ag's kernels will use (1 without OpenMP). */
static int n_threads(void) { return have_omp() ? omp_get_max_threads() : 1; }

/* ---- output and checks ---------------------------------------------------- */

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif
static bool check(bool ok, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void title(int n, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void row(const char *label, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void why(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void more(const char *fmt, ...) PRINTF_LIKE(1, 2);

static int n_checks, n_failed;

/* Counts a claim; prints it when it does not hold. */
static bool check(bool ok, const char *fmt, ...) {
    n_checks++;
    if (!ok) {
        n_failed++;
        va_list ap;
        va_start(ap, fmt);
        printf("    CHECK FAILED: ");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
    return ok;
}

static void title(int n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("\n[%d] ", n);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* "    label ............ value" with the value column at 30. */
static void row(const char *label, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("    %-26s", label);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static void why(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("    why: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* Continues a "why" on lines of their own, indented under its text (fmt may
 * hold several lines separated by \n). */
static void more(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *line = buf, *nl; *line; line = nl ? nl + 1 : line + strlen(line)) {
        nl = strchr(line, '\n');
        printf("         %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
    }
}

/* ---- small numerics on tensors (plain C, independent of the library) ------- */

/* The values of t as doubles, in A. */
static double *vals(ag_arena *A, const ag_tensor *t) {
    double *v = ag_arena_alloc(A, (size_t)(t->numel ? t->numel : 1) * sizeof *v);
    ag_to_f64(t, v);
    return v;
}

typedef struct {
    double mean, std, min, max; /* std unbiased, as torch.std */
} stats;

static stats stats_of(ag_arena *A, const ag_tensor *t) {
    const double *v = vals(A, t);
    const int64_t n = t->numel;
    stats s = {0, 0, INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++) {
        s.mean += v[i];
        s.min = fmin(s.min, v[i]);
        s.max = fmax(s.max, v[i]);
    }
    s.mean /= (double)n;
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (v[i] - s.mean) * (v[i] - s.mean);
    s.std = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
    return s;
}

/* Mean over rows (the last dim) of sqrt(mean(y^2)): the exercise's "RMS after". */
static double mean_row_rms(ag_arena *A, const ag_tensor *t) {
    const double *v = vals(A, t);
    const int64_t D = t->shape[t->ndim - 1], rows = t->numel / D;
    double acc = 0;
    for (int64_t i = 0; i < rows; i++) {
        double ss = 0;
        for (int64_t j = 0; j < D; j++) ss += v[i * D + j] * v[i * D + j];
        acc += sqrt(ss / (double)D);
    }
    return acc / (double)rows;
}

static double max_abs_diff(ag_arena *A, const ag_tensor *a, const ag_tensor *b) {
    const double *u = vals(A, a), *v = vals(A, b);
    double m = 0;
    for (int64_t i = 0; i < a->numel; i++) m = fmax(m, fabs(u[i] - v[i]));
    return m;
}

/* ref[rows*D] = x * w / sqrt(mean(x^2) + eps) per row, in double (w NULL: 1). */
static double *rms_reference(ag_arena *A, const ag_tensor *x, const ag_tensor *w, double eps) {
    const double *v = vals(A, x), *pw = w ? vals(A, w) : NULL;
    const int64_t D = x->shape[x->ndim - 1], rows = x->numel / D;
    double *ref = ag_arena_alloc(A, (size_t)x->numel * sizeof *ref);
    for (int64_t i = 0; i < rows; i++) {
        double ss = 0;
        for (int64_t j = 0; j < D; j++) ss += v[i * D + j] * v[i * D + j];
        const double s = sqrt(ss / (double)D + eps);
        for (int64_t j = 0; j < D; j++) ref[i * D + j] = v[i * D + j] / s * (pw ? pw[j] : 1);
    }
    return ref;
}

/* Errors of t against ref: max abs, max and mean relative (over ref != 0). */
typedef struct {
    double max_abs, max_rel, mean_rel;
} errs;

static errs errors_of(ag_arena *A, const ag_tensor *t, const double *ref) {
    const double *v = vals(A, t);
    errs e = {0, 0, 0};
    int64_t n = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        const double d = fabs(v[i] - ref[i]);
        e.max_abs = fmax(e.max_abs, d);
        if (ref[i] != 0) {
            e.max_rel = fmax(e.max_rel, d / fabs(ref[i]));
            e.mean_rel += d / fabs(ref[i]);
            n++;
        }
    }
    if (n) e.mean_rel /= (double)n;
    return e;
}

static char *shape_of(const ag_tensor *t) {
    static char buf[4][64];
    static int k;
    k = (k + 1) % 4;
    return ag_shape_str(t, buf[k], sizeof buf[k]);
}

/* "DeepseekV2RMSNorm((4096,), variance_epsilon=1e-05)" */
static const char *repr(const ag_module *m) {
    static char out[2][200];
    static int k;
    char d[160] = "";
    k = (k + 1) % 2;
    if (m->type->describe) m->type->describe(m, d, sizeof d);
    snprintf(out[k], sizeof out[k], "%s(%s)", m->type->name, d);
    return out[k];
}

/* ---- [1] .. [4]: DeepSeek-V3 init exercises ------------------------------------------------- */

static ag_nn_rmsnorm *section_init(ag_arena *P) {
    title(1, "init: DeepseekV3RMSNorm(4096, eps=1e-5) (DeepSeek-V3 init exercises, 1)");
    ag_nn_rmsnorm *m = ag_nn_rmsnorm_new(P, AG_RMSNORM_DEEPSEEK, AG_SHAPE(4096), 1e-5, true);
    ag_tensor *w = m->weight;
    int64_t ones = 0;
    for (int64_t i = 0; i < w->numel; i++) ones += ag_get_flat(w, i) == 1.0;
    const bool is_param = ag_module_param(&m->base, "weight") == w;
    row("module", "%s", repr(&m->base));
    row("", "(DeepSeek V3's RMSNorm is V2's class, line for line)");
    row("weight.shape", "%s  (dtype %s)", shape_of(w), ag_dtype_name(w->dtype));
    row("variance_epsilon", "%g", m->variance_epsilon);
    row("allclose(weight, ones)", "%s  (%lld of %lld elements == 1.0, scanned)",
        ones == w->numel ? "true" : "false", (long long)ones, (long long)w->numel);
    row("a parameter", "%s  (module param \"weight\"; requires_grad=%s, leaf=%s)",
        is_param ? "true" : "false", w->requires_grad ? "true" : "false",
        ag_is_leaf(w) ? "true" : "false");
    row("in the norm registry", "%s  (ag's ALL_LAYERNORM_LAYERS)",
        ag_module_is_norm(&m->base) ? "true" : "false");
    why("ones make the layer start as pure normalization (y = x / RMS); zeros would zero y");
    check(w->ndim == 1 && w->shape[0] == 4096, "weight shape %s, expected [4096]", shape_of(w));
    check(m->variance_epsilon == 1e-5, "variance_epsilon %g, expected 1e-05",
          m->variance_epsilon);
    check(ones == 4096, "%lld of 4096 weights are 1", (long long)ones);
    check(is_param && w->requires_grad && ag_is_leaf(w), "weight is not a trainable parameter");
    check(ag_module_is_norm(&m->base), "DeepSeek RMSNorm not in the norm registry");
    return m;
}

static void list_params(ag_arena *A, ag_module *m, char *buf, size_t size) {
    ag_named_param *ps;
    const int n = ag_module_parameters(m, A, &ps);
    size_t pos = 0;
    buf[0] = 0;
    for (int i = 0; i < n && pos < size; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, "%s%s %s", i ? ", " : "", ps[i].name,
                                shape_of(ps[i].tensor));
}

static void section_counts(ag_arena *P, ag_arena *A, ag_nn_rmsnorm *rms) {
    title(2, "parameter counts (DeepSeek-V3 init exercises, 2)");
    ag_nn_layernorm *ln = ag_nn_layernorm_new(P, AG_SHAPE(4096), 1e-5, true, true);
    const int64_t nr = ag_module_num_params(&rms->base), nl = ag_module_num_params(&ln->base);
    char pr[120], pl[120];
    list_params(A, &rms->base, pr, sizeof pr);
    list_params(A, &ln->base, pl, sizeof pl);
    row("RMSNorm(4096)", "%6lld   %s", (long long)nr, pr);
    row("LayerNorm(4096)", "%6lld   %s", (long long)nl, pl);
    row("ratio", "%6.2f", (double)nr / (double)nl);
    row("RMSNorm has a bias", "%s  (quiz 2: the answer is False)",
        ag_module_param(&rms->base, "bias") ? "true" : "false");
    row("default eps (DeepSeek)", "%g  (quiz 3)", ag_rmsnorm_default_eps(AG_RMSNORM_DEEPSEEK));
    why("RMSNorm keeps only the scale: no mean is subtracted, so no shift (bias) is learned");
    check(nr == 4096, "RMSNorm(4096) has %lld parameters, expected 4096", (long long)nr);
    check(nl == 8192, "LayerNorm(4096) has %lld parameters, expected 8192", (long long)nl);
    check(!ag_module_param(&rms->base, "bias"), "RMSNorm has a bias");
}

static void section_eps(ag_arena *P, ag_arena *A, ag_rng *rng) {
    const double scale = 0.01, eps[2] = {1e-8, 1e-2};
    title(3, "the eps experiment (DeepSeek-V3 init exercises, 3)");
    ag_tensor *x = ag_mul_scalar(A, ag_randn(A, rng, AG_F32, AG_SHAPE(1, 10, 64), 0.0, 1.0),
                                 scale);
    /* mean(x^2) per row, from x's values */
    const double *v = vals(A, x);
    double ms[10], ms_mean = 0;
    for (int i = 0; i < 10; i++) {
        double ss = 0;
        for (int j = 0; j < 64; j++) ss += v[i * 64 + j] * v[i * 64 + j];
        ms[i] = ss / 64;
        ms_mean += ms[i] / 10;
    }
    row("x", "randn(1,10,64) * %g, D = 64", scale);
    row("mean(x^2), mean of rows", "%.3e  (expected %g^2 = %.0e)", ms_mean, scale,
        scale * scale);
    printf("    %-8s %-12s %-28s %s\n", "eps", "output RMS", "predicted: sqrt(ms/(ms+eps))",
           "rough: sqrt(1e-4/(1e-4+eps))");
    double measured[2], predicted[2];
    for (int k = 0; k < 2; k++) {
        ag_nn_rmsnorm *m = ag_nn_rmsnorm_new(P, AG_RMSNORM_DEEPSEEK, AG_SHAPE(64), eps[k], true);
        measured[k] = mean_row_rms(A, ag_nn_rmsnorm_forward(A, m, x));
        predicted[k] = 0;
        for (int i = 0; i < 10; i++) predicted[k] += sqrt(ms[i] / (ms[i] + eps[k])) / 10;
        const double rough = sqrt(scale * scale / (scale * scale + eps[k]));
        printf("    %-8.0e %-12.6f %-28.6f %.6f\n", eps[k], measured[k], predicted[k], rough);
        check(fabs(measured[k] - predicted[k]) < 1e-5 * predicted[k] + 1e-7,
              "eps %g: output RMS %g, predicted %g", eps[k], measured[k], predicted[k]);
    }
    /* eps = 0 on a row of zeros: 0 * 1/sqrt(0) */
    ag_tensor *z = ag_zeros(A, AG_F32, AG_SHAPE(1, 64));
    ag_nn_rmsnorm *m0 = ag_nn_rmsnorm_new(P, AG_RMSNORM_DEEPSEEK, AG_SHAPE(64), 0.0, true);
    ag_nn_rmsnorm *m1 = ag_nn_rmsnorm_new(P, AG_RMSNORM_DEEPSEEK, AG_SHAPE(64), 1e-8, true);
    const double y0 = ag_get_flat(ag_nn_rmsnorm_forward(A, m0, z), 0);
    const double y1 = ag_get_flat(ag_nn_rmsnorm_forward(A, m1, z), 0);
    row("zero row, eps = 0", "y = %s   (0 * 1/sqrt(0): the division by zero eps prevents)",
        isnan(y0) ? "nan" : "a number");
    row("zero row, eps = 1e-8", "y = %g", y1);
    why("eps is added to mean(x^2) ~ %.0e: 1e-8 is negligible (RMS -> 1); 1e-2 is %.0fx",
        ms_mean, eps[1] / ms_mean);
    more("mean(x^2), dominates sqrt(ms + eps) and shrinks y by sqrt(ms/(ms+eps)) ~ %.2f:\n"
           "small inputs are no longer normalized. eps must be small against mean(x^2).\n",
           predicted[1]);
    check(measured[0] > 0.999, "eps 1e-8 output RMS %g, expected ~1", measured[0]);
    check(isnan(y0) && y1 == 0, "zero row: eps 0 gives %g (expected nan), eps 1e-8 gives %g", y0,
          y1);
}

static void section_post_init(ag_arena *P, ag_arena *A, ag_rng *rng) {
    title(4, "post_init: weight.normal_(1.0, 0.02) (DeepSeek-V3 init exercises, 4)");
    ag_nn_rmsnorm *m = ag_nn_rmsnorm_new(P, AG_RMSNORM_DEEPSEEK, AG_SHAPE(4096), 1e-5, true);
    ag_init_post_norm(m->weight, rng);
    const stats s = stats_of(A, m->weight);
    const double se_mean = 0.02 / sqrt(4096.0), se_std = 0.02 / sqrt(2.0 * 4095.0);
    row("weight.mean()", "%.5f  (1 +- %.5f expected: 0.02/sqrt(4096))", s.mean, se_mean);
    row("weight.std()", "%.5f  (0.02 +- %.5f expected)", s.std, se_std);
    row("weight min .. max", "%.4f .. %.4f", s.min, s.max);
    row("still a parameter", "requires_grad=%s, leaf=%s",
        m->weight->requires_grad ? "true" : "false", ag_is_leaf(m->weight) ? "true" : "false");
    why("a small perturbation around 1 keeps the layer near y = x/RMS at the start while the");
    more("weights are no longer identical (and tests no longer pass by w = 1 alone).\n");
    check(fabs(s.mean - 1) < 6 * se_mean, "post_init mean %g, expected 1 +- %g", s.mean,
          6 * se_mean);
    check(fabs(s.std - 0.02) < 6 * se_std, "post_init std %g, expected 0.02 +- %g", s.std,
          6 * se_std);
}

/* ---- [5] .. [7]: Llama's RMSNorm and microgpt's -------------------------- */

static void section_v1_v2(ag_arena *P, ag_arena *A, ag_tensor *x, ag_tensor **out_v1,
                          ag_nn_rmsnorm **v1_out) {
    title(5, "Llama v1 (sqrt, divide) vs v2 (rsqrt, multiply) (Llama's RMSNorm)");
    ag_nn_rmsnorm *v1 = ag_nn_rmsnorm_new(P, AG_RMSNORM_SQRT, AG_SHAPE(512), AG_EPS_DEFAULT, true);
    ag_nn_rmsnorm *v2 = ag_nn_rmsnorm_new(P, AG_RMSNORM_LLAMA, AG_SHAPE(512), AG_EPS_DEFAULT, true);
    /* rms_norm_v2.weight.data = rms_norm.weight.data.clone() */
    memcpy(v2->weight->data, v1->weight->data, (size_t)v1->weight->numel * sizeof(float));
    ag_tensor *y1 = ag_nn_rmsnorm_forward(A, v1, x), *y2 = ag_nn_rmsnorm_forward(A, v2, x);
    const stats sx = stats_of(A, x), s1 = stats_of(A, y1);
    const double rms_after = mean_row_rms(A, y1);
    const double diff = max_abs_diff(A, y1, y2);
    int64_t ndiff = 0;
    const float *p1 = y1->data, *p2 = y2->data;
    for (int64_t i = 0; i < y1->numel; i++) ndiff += p1[i] != p2[i];
    const double *ref = rms_reference(A, x, v1->weight, v1->eps);
    const errs e1 = errors_of(A, y1, ref), e2 = errors_of(A, y2, ref);
    row("x", "randn(2,10,512) f32; eps %g (both)", v1->eps);
    row("output shape", "%s", shape_of(y1));
    row("input mean, std", "%.4f, %.4f", sx.mean, sx.std);
    row("output mean, std", "%.4f, %.4f", s1.mean, s1.std);
    row("RMS after (should be ~1)", "%.6f", rms_after);
    row("V1 vs V2 max diff", "%.2e   (%lld of %lld elements differ at all)", diff,
        (long long)ndiff, (long long)y1->numel);
    row("f32 spacing at 1", "%.2e   (machine eps of f32)", ag_dtype_eps(AG_F32));
    row("max error vs f64", "v1 %.2e, v2 %.2e", e1.max_abs, e2.max_abs);
    why("x/sqrt(ms+eps) and x*rsqrt(ms+eps) are the same function; f32 rounds them at different");
    more("steps, so they differ by about one ulp. rsqrt saves a divide, not accuracy.\n");
    check(diff < 1e-5, "v1 vs v2 differ by %g", diff);
    check(fabs(rms_after - 1) < 1e-4, "RMS after normalization %g, expected ~1", rms_after);
    *out_v1 = y1;
    *v1_out = v1;
}

static void section_vs_layernorm(ag_arena *P, ag_arena *A, ag_tensor *x, ag_tensor *y_rms,
                                 ag_nn_rmsnorm *v1) {
    title(6, "RMSNorm vs LayerNorm on the same input (Llama's RMSNorm; microgpt's table)");
    ag_nn_layernorm *ln = ag_nn_layernorm_new(P, AG_SHAPE(512), AG_EPS_DEFAULT, true, true);
    memcpy(ln->weight->data, v1->weight->data, (size_t)v1->weight->numel * sizeof(float));
    ag_init_zeros(ln->bias);
    ag_tensor *y_ln = ag_nn_layernorm_forward(A, ln, x);
    const double diff = max_abs_diff(A, y_rms, y_ln);
    /* row statistics: mean, var (biased), mean square */
    const double *v = vals(A, x);
    const int64_t D = 512, rows = x->numel / D;
    double mean_mean = 0, mean_absmean = 0, max_ident = 0, mean_ratio = 0;
    for (int64_t i = 0; i < rows; i++) {
        double s = 0, ss = 0, c = 0;
        for (int64_t j = 0; j < D; j++) s += v[i * D + j], ss += v[i * D + j] * v[i * D + j];
        const double mu = s / (double)D, ms = ss / (double)D;
        for (int64_t j = 0; j < D; j++) c += (v[i * D + j] - mu) * (v[i * D + j] - mu);
        const double var = c / (double)D;
        mean_mean += mu / (double)rows;
        mean_absmean += fabs(mu) / (double)rows;
        mean_ratio += sqrt(var) / sqrt(ms) / (double)rows;
        max_ident = fmax(max_ident, fabs(ms - (var + mu * mu)));
    }
    /* LayerNorm(x) == RMSNorm(x - mean(x)) with the same eps */
    ag_tensor *xc = ag_sub(A, x, ag_mean(A, x, AG_DIMS(-1), true));
    ag_tensor *y_c = ag_rms_norm(A, xc, AG_SHAPE(512), v1->weight, ln->eps, AG_RMS_RSQRT);
    const double diff_c = max_abs_diff(A, y_c, y_ln);
    row("LayerNorm", "%s", repr(&ln->base));
    row("", "weight = the RMSNorm's (ones), bias 0; RMSNorm output from [5]");
    row("max |RMSNorm - LayerNorm|", "%.4f   (should differ)", diff);
    row("mean of the row means", "%+.4f   (mean |row mean| %.4f; 1/sqrt(512) = %.4f)", mean_mean,
        mean_absmean, 1 / sqrt(512.0));
    row("mean of std/RMS per row", "%.5f   (1 would mean RMS = std)", mean_ratio);
    row("ms - (var + mean^2)", "%.1e   (max over rows: RMS^2 = var + mean^2)", max_ident);
    row("RMSNorm(x - mean) vs LN", "%.2e   (same eps %g: equal up to rounding)", diff_c, ln->eps);
    why("LayerNorm divides x - mean by std = sqrt(var); RMSNorm divides x by RMS =");
    more("sqrt(var + mean^2). They agree only when the row mean is 0: centre x first\n"
           "and RMSNorm is LayerNorm (without bias). Residual streams have mean ~ 0.\n");
    check(diff > 1e-3, "RMSNorm and LayerNorm agree (%g) on uncentred rows", diff);
    check(diff_c < 1e-5, "RMSNorm of centred x differs from LayerNorm by %g", diff_c);
}

static void section_worked(ag_arena *P, ag_arena *A) {
    title(7, "the worked example x = [3, 4, 0] (microgpt's rmsnorm)");
    ag_nn_rmsnorm *m = ag_nn_rmsnorm_new(P, AG_RMSNORM_WEIGHTLESS, AG_SHAPE(3), AG_EPS_DEFAULT,
                                         true);
    ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(3), (const double[]){3, 4, 0});
    ag_tensor *sq = ag_square(A, x), *ms = ag_mean(A, sq, 0, NULL, false);
    ag_tensor *rms = ag_sqrt(A, ms);
    ag_tensor *y = ag_nn_rmsnorm_forward(A, m, x);
    char step[4][64];
    const ag_tensor *ts[2] = {sq, y};
    for (int k = 0; k < 2; k++)
        snprintf(step[k], sizeof step[k], "[%.3f, %.3f, %.3f]", ag_get_flat(ts[k], 0),
                 ag_get_flat(ts[k], 1), ag_get_flat(ts[k], 2));
    snprintf(step[2], sizeof step[2], "%.3f", ag_item(ms));
    snprintf(step[3], sizeof step[3], "%.3f", ag_item(rms));
    row("module", "%s  (%lld params)", repr(&m->base), (long long)ag_module_num_params(&m->base));
    row("1. square each element", "%s", step[0]);
    row("2. mean of squares", "%s", step[2]);
    row("3. square root (RMS)", "%s", step[3]);
    row("4. x * (ms + eps)^-0.5", "%s", step[1]);
    why("dividing by the RMS gives the vector an RMS of 1 whatever its scale; eps = %g moves",
        m->eps);
    more("nothing at 3 decimals (ms = %s >> eps).\n", step[2]);
    check(strcmp(step[0], "[9.000, 16.000, 0.000]") == 0, "squares %s", step[0]);
    check(strcmp(step[2], "8.333") == 0 && strcmp(step[3], "2.887") == 0, "ms %s, RMS %s",
          step[2], step[3]);
    check(strcmp(step[1], "[1.039, 1.386, 0.000]") == 0,
          "worked example gives %s, expected [1.039, 1.386, 0.000]", step[1]);
}

/* ---- [8] bf16 --------------------------------------------------------------- */

static void section_bf16(ag_arena *P, ag_arena *A, ag_rng *rng) {
    title(8, "bf16: upcast to f32 (DeepSeek) vs bf16 throughout (DeepseekV2RMSNorm)");
    const double scales[3] = {1e-2, 1.0, 1e20};
    ag_nn_rmsnorm *ds =
        ag_nn_rmsnorm_new(P, AG_RMSNORM_DEEPSEEK, AG_SHAPE(4096), AG_EPS_DEFAULT, true);
    const double eps = ds->variance_epsilon, u = ldexp(1.0, -8);
    row("x", "randn(64, 4096) * k, rounded to bf16; eps %g", eps);
    row("reference", "f64 from the same bf16 values (input rounding excluded)");
    row("bf16 unit roundoff", "%.2e  (2^-8: the error of rounding once to bf16)", u);
    row("bf16 throughout", "pow, mean, add_scalar, rsqrt, mul on bf16 tensors: each op rounds");
    row("", "its result to bf16 (mean sums in f32 or better first, as PyTorch's)");
    printf("    %-7s %-32s %-12s %-12s %s\n", "k", "path", "max abs err", "max rel err",
           "mean rel err");
    const char *out_dtype = "?", *inter_dtype = "?";
    errs up[3], nv[3];
    for (int s = 0; s < 3; s++) {
        ag_tensor *x32 = ag_mul_scalar(A, ag_randn(A, rng, AG_F32, AG_SHAPE(64, 4096), 0, 1),
                                       scales[s]);
        ag_tensor *xb = ag_cast(A, x32, AG_BF16);
        const double *ref = rms_reference(A, xb, NULL, eps);
        /* DeepSeek: hidden.to(f32); h * rsqrt(var + eps); .to(bf16); weight * h */
        ag_tensor *y_up = ag_nn_rmsnorm_forward(A, ds, xb);
        /* every intermediate a bf16 tensor: each op rounds its result to bf16 */
        ag_tensor *sq = ag_pow(A, xb, 2.0);
        ag_tensor *ms = ag_mean(A, sq, AG_DIMS(-1), true);
        ag_tensor *r = ag_rsqrt(A, ag_add_scalar(A, ms, eps));
        ag_tensor *y_nv = ag_mul(A, xb, r);
        out_dtype = ag_dtype_name(y_up->dtype);
        const bool all_bf16 = sq->dtype == AG_BF16 && ms->dtype == AG_BF16 &&
                              r->dtype == AG_BF16 && y_nv->dtype == AG_BF16;
        inter_dtype = all_bf16 ? "bf16" : "not bf16";
        check(all_bf16, "bf16 composition produced a non-bf16 intermediate");
        up[s] = errors_of(A, y_up, ref);
        nv[s] = errors_of(A, y_nv, ref);
        printf("    %-7.0e %-32s %-12.2e %-12.2e %.2e\n", scales[s],
               "upcast: f32 compute, bf16 out",
               up[s].max_abs, up[s].max_rel, up[s].mean_rel);
        printf("    %-7s %-32s %-12.2e %-12.2e %.2e\n", "", "bf16 throughout",
               nv[s].max_abs, nv[s].max_rel, nv[s].mean_rel);
        check(up[s].max_rel <= u * (1 + 1e-3), "k %g: upcast path max rel error %g > 2^-8",
              scales[s], up[s].max_rel);
    }
    row("dtypes", "upcast result %s (bf16 h times the f32 weight; values bf16)", out_dtype);
    row("", "bf16 path: every intermediate %s", inter_dtype);
    why("the upcast path rounds once, at the end: error <= 2^-8 relative. bf16 throughout");
    more("rounds x^2, the mean, ms + eps, rsqrt and the product: r's error is shared by\n"
           "a whole row, so errors are %.1fx larger on average (k = 1; k = 1e-2 alike:\n"
           "floating point is scale-free until eps or overflow matter). At k = %.0e,\n"
           "x^2 ~ %.0e overflows bf16 and f32 (max %.1e): r = 0 and y = 0 (%.0f%%\n"
           "error); ag's kernel squares in double. (PyTorch's f32 path overflows there.)\n",
           nv[1].mean_rel / up[1].mean_rel, scales[2], scales[2] * scales[2], (double)FLT_MAX,
           100 * nv[2].max_rel);
    check(nv[1].mean_rel > up[1].mean_rel, "bf16 throughout is not less accurate than upcast");
    check(nv[2].max_rel >= 0.999 && up[2].max_rel <= u * (1 + 1e-3),
          "k 1e20: bf16 path error %g (expected 1), upcast %g", nv[2].max_rel, up[2].max_rel);
}

/* ---- [9] FLOPs, bytes and saved tensors ----------------------------------- */

typedef struct {
    const char *what;
    int per_element, per_row;
} flop_item;

/* Read off the kernels' f32 loops (nn/norm_loops_t.h: the RMSNorm and
 * LayerNorm forwards; docs/normalization.md section 7 counts the same).
 * LayerNorm's f32 forward takes sum(x) and sum(x^2) in one pass and forms
 * xh = ((x - mh) - ml) * r from the mean split in two (mh + ml). */
static const flop_item RMS_FLOPS[] = {
    {"x*x", 1, 0}, {"+= (sum of squares)", 1, 0}, {"/D, +eps, sqrt, 1/s", 0, 4},
    {"x * r", 1, 0}, {"* w", 1, 0},
};
static const flop_item LN_FLOPS[] = {
    {"+= x (sum)", 1, 0},        {"x*x", 1, 0},             {"+= (sum of squares)", 1, 0},
    {"/D (mean)", 0, 1},         {"/D - mean^2 (var)", 0, 3}, {"+eps, sqrt, 1/s", 0, 3},
    {"x - mh", 1, 0},            {"- ml", 1, 0},            {"* r", 1, 0},
    {"* w", 1, 0},               {"+ b", 1, 0},
};
#define COUNT_OF(a) ((int)(sizeof(a) / sizeof *(a)))

typedef struct {
    int per_element, per_row;
    char list[200]; /* the per-element operations, comma separated */
} flop_count;

static flop_count count_flops(const flop_item *it, int n) {
    flop_count c = {0, 0, ""};
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        c.per_element += it[i].per_element;
        c.per_row += it[i].per_row;
        if (it[i].per_element && pos < sizeof c.list)
            pos += (size_t)snprintf(c.list + pos, sizeof c.list - pos, "%s%s", pos ? ", " : "",
                                    it[i].what);
    }
    return c;
}

/* row() for a long comma-separated text, wrapped after a comma so that no
 * line passes 96 columns. */
static void row_wrapped(const char *label, const char *text) {
    const int width = 96 - 30;
    while (*text) {
        int n = (int)strlen(text);
        if (n > width) {
            int cut = width;
            while (cut > 0 && !(text[cut - 1] == ' ' && cut >= 2 && text[cut - 2] == ',')) cut--;
            n = cut > 0 ? cut - 1 : width; /* keep the comma, drop the space */
        }
        printf("    %-26s%.*s\n", label, n, text);
        label = "";
        text += n;
        while (*text == ' ') text++;
    }
}

/* Bytes a forward with gradients leaves in the step arena besides its output
 * (A is made with one big block, so nothing is lost to block boundaries). */
static double held_bytes(ag_arena *A, int which, ag_tensor *x, ag_tensor *w, ag_tensor *b) {
    ag_arena_reset(A);
    const int64_t D = x->shape[x->ndim - 1];
    ag_tensor *y = which == 0   ? ag_rms_norm(A, x, 1, &D, w, 1e-6, AG_RMS_RSQRT)
                   : which == 1 ? ag_rms_norm_composed(A, x, 1, &D, w, 1e-6)
                                : ag_layer_norm(A, x, 1, &D, w, b, 1e-5);
    return (double)ag_arena_used(A) - (double)y->numel * (double)ag_dtype_size(y->dtype);
}

static void section_flops(ag_arena *A, ag_rng *rng) {
    title(9, "FLOPs, bytes and what backward keeps (DeepseekV2RMSNorm accounting, T5LayerNorm)");
    const int64_t B = 32, T = 1024, D = 4096;
    const double N = (double)(B * T * D), rows = (double)(B * T), MiB = 1048576;
    const flop_count rc = count_flops(RMS_FLOPS, COUNT_OF(RMS_FLOPS));
    const flop_count lc = count_flops(LN_FLOPS, COUNT_OF(LN_FLOPS));
    const double rf = rc.per_element * N + rc.per_row * rows;
    const double lf = lc.per_element * N + lc.per_row * rows;
    /* f32 forward: read x, write y; the parameters once per call */
    const double rb = 8 * N + 4.0 * (double)D, lb = 8 * N + 8.0 * (double)D;
    printf("    %-16s %-14s %-10s %-14s %s\n", "forward, f32", "flops/element", "flops/row",
           "bytes/element", "flops/byte");
    printf("    %-16s %-14d %-10d %-14.4f %.2f\n", "RMSNorm", rc.per_element, rc.per_row,
           rb / N, rf / rb);
    printf("    %-16s %-14d %-10d %-14.4f %.2f\n", "LayerNorm", lc.per_element, lc.per_row,
           lb / N, lf / lb);
    row_wrapped("RMSNorm, per element", rc.list);
    row_wrapped("LayerNorm, per element", lc.list);
    row("at B=32, T=1024, D=4096", "RMSNorm %.1f MFLOP, LayerNorm %.1f MFLOP: ratio %.2f", rf / 1e6,
        lf / 1e6, lf / rf);
    row("DeepseekV2RMSNorm's count", "3N vs 5N, ratio %.2f (it leaves out the adds of the sums)",
        5.0 / 3.0);
    row("bytes moved", "x in %.0f MiB, y out %.0f MiB for both; weight %.0f KiB (+bias %.0f)",
        4 * N / MiB, 4 * N / MiB, 4.0 * (double)D / 1024, 4.0 * (double)D / 1024);
    row("saved for backward", "RMSNorm: r per row (a double), %.0f KiB", 8 * rows / 1024);
    row("", "LayerNorm: mean and r per row, %.0f KiB (x itself is kept by both)",
        16 * rows / 1024);
    /* measured, at a small size: the step arena after a forward that records */
    const int64_t mb = 8, mt = 128, md = 512;
    const double mrows = (double)(mb * mt), mel = mrows * (double)md;
    ag_tensor *x = ag_randn(A, rng, AG_F32, AG_SHAPE(mb, mt, md), 0, 1);
    ag_tensor *w = ag_ones(A, AG_F32, AG_SHAPE(md)), *b = ag_zeros(A, AG_F32, AG_SHAPE(md));
    ag_set_requires_grad(x, true);
    ag_set_requires_grad(w, true);
    ag_set_requires_grad(b, true);
    ag_arena *S = ag_arena_new((size_t)64 << 20);
    const double hf = held_bytes(S, 0, x, w, b), hc = held_bytes(S, 1, x, w, b),
                 hl = held_bytes(S, 2, x, w, b);
    ag_arena_free(S);
    row("held after forward", "step-arena bytes besides y, measured at %lldx%lldx%lld:",
        (long long)mb, (long long)mt, (long long)md);
    row("", "fused RMSNorm %.1f B/row, LayerNorm %.1f B/row (headers included)", hf / mrows,
        hl / mrows);
    row("", "composed RMSNorm %.2f B/element: x^2 and x*r stay alive for backward", hc / mel);
    why("%d vs %d flops per element, but at %.1f and %.1f flops per byte moved both kernels are",
        rc.per_element, lc.per_element, rf / rb, lf / lb);
    more("memory-bound: a core computes far more per byte than DRAM delivers. The bytes\n"
           "are the same (LayerNorm's extra passes re-read a row from L1), so the speedup\n"
           "is far below the flop ratio; the per-row saved state is tiny either way.\n");
    check(rc.per_element == 4 && lc.per_element == 8, "flop tables give %d and %d per element",
          rc.per_element, lc.per_element);
    check(hf < hl && hl < hc, "held bytes not ordered fused < LayerNorm < composed (%g %g %g)", hf,
          hl, hc);
}

/* ---- [10] timing ----------------------------------------------------------- */

/* The four norms, then ag_clone as a baseline for the engine's own cost. */
enum { M_FUSED, M_COMPOSED, M_LN, M_T5, M_CLONE, M_COUNT };
static const char *const METHOD_NAMES[M_COUNT] = {
    "RMSNorm fused", "RMSNorm composed", "LayerNorm", "T5LayerNorm module", "clone (baseline)"};

typedef struct {
    ag_tensor *x, *dy, *w, *b;
    ag_nn_rmsnorm *t5;
    int64_t D;
} bench;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench_iter(ag_arena *A, const bench *b, int m, bool bwd) {
    ag_arena_reset(A);
    ag_tensor *y = NULL;
    switch (m) {
    case M_FUSED: y = ag_rms_norm(A, b->x, 1, &b->D, b->w, 1e-6, AG_RMS_RSQRT); break;
    case M_COMPOSED: y = ag_rms_norm_composed(A, b->x, 1, &b->D, b->w, 1e-6); break;
    case M_LN: y = ag_layer_norm(A, b->x, 1, &b->D, b->w, b->b, 1e-5); break;
    case M_T5: y = ag_nn_rmsnorm_forward(A, b->t5, b->x); break;
    default: y = ag_clone(A, b->x); break;
    }
    if (bwd) ag_backward(y, b->dy);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds per iteration of fn over 5 runs after a warm-up; each run
 * repeats it until the run lasts about min_run seconds (once when min_run is
 * 0). */
typedef void (*bench_fn)(void *ctx);
static double median_time(bench_fn fn, void *ctx, double min_run) {
    double t0 = now();
    fn(ctx);
    const double warm = now() - t0;
    int iters = warm >= min_run ? 1 : (int)ceil(min_run / fmax(warm, 1e-7));
    if (iters > 10000) iters = 10000;
    double t[5];
    for (int r = 0; r < 5; r++) {
        t0 = now();
        for (int i = 0; i < iters; i++) fn(ctx);
        t[r] = (now() - t0) / iters;
    }
    qsort(t, 5, sizeof *t, cmp_double);
    return t[2];
}

typedef struct {
    ag_arena *A;
    const bench *b;
    int method;
    bool bwd;
} norm_ctx;

static void norm_fn(void *ctx) {
    const norm_ctx *c = ctx;
    bench_iter(c->A, c->b, c->method, c->bwd);
}

/* One (method, mode): its own step arena, reset every iteration; returns the
 * median seconds and the arena's peak bytes. */
static double time_method(const bench *b, int m, bool bwd, double min_run, size_t *peak) {
    norm_ctx c = {ag_arena_new(0), b, m, bwd};
    const bool was = ag_set_grad_enabled(bwd);
    const double t = median_time(norm_fn, &c, min_run);
    ag_set_grad_enabled(was);
    *peak = ag_arena_peak(c.A);
    ag_arena_free(c.A);
    return t;
}

typedef struct {
    void *dst;
    const void *src;
    size_t bytes;
} copy_ctx;

static volatile unsigned char copy_sink;

static void copy_fn(void *ctx) {
    const copy_ctx *c = ctx;
    memcpy(c->dst, c->src, c->bytes);
    copy_sink = ((const unsigned char *)c->dst)[c->bytes - 1]; /* the copy is used */
}

/* The 1-minute load average from /proc/loadavg (Linux), or -1. */
static double load_average(void) {
    FILE *f = fopen("/proc/loadavg", "r");
    double l = -1;
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

static void section_timing(ag_rng *rng, bool big) {
    const int64_t B = big ? 32 : 8, T = big ? 1024 : 128, D = big ? 4096 : 512;
    const double N = (double)(B * T * D), MiB = 1048576;
    const double min_run = big ? 0 : 0.02;
    title(10, "timing: B=%lld, T=%lld, D=%lld, f32 (T5LayerNorm task, Llama's benchmark)",
          (long long)B, (long long)T, (long long)D);
    ag_arena *BA = ag_arena_new(0);
    bench b = {0};
    b.D = D;
    b.x = ag_randn(BA, rng, AG_F32, AG_SHAPE(B, T, D), 0, 1);
    b.dy = ag_rand(BA, rng, AG_F32, AG_SHAPE(B, T, D), -1, 1);
    b.w = ag_ones(BA, AG_F32, AG_SHAPE(D));
    b.b = ag_zeros(BA, AG_F32, AG_SHAPE(D));
    b.t5 = ag_nn_rmsnorm_new(BA, AG_RMSNORM_T5, 1, &D, AG_EPS_DEFAULT, true);
    ag_set_requires_grad(b.x, true);
    ag_set_requires_grad(b.w, true);
    ag_set_requires_grad(b.b, true);
    const double fwd_bytes = 8 * N, bwd_bytes = 20 * N;
    row("tensors", "x %s: %.1f MiB each (x, dy, x.grad)", shape_of(b.x), 4 * N / MiB);
    row("threads", "%d%s", n_threads(), have_omp() ? "" : " (no OpenMP)");
    const double load = load_average();
    if (load >= 0)
        row("load average (1 min)", "%.2f  (other busy processes make threaded runs wait for a"
            " core)", load);
    row("runs", "median of 5 after a warm-up, %s",
        big ? "1 iteration per run" : "each run >= 20 ms of iterations");
    row("forward", "gradients off (nothing recorded or saved)");
    row("forward + backward", "x, weight, bias require grad; ag_backward(y, dy)");
    row("GB/s counts", "forward: x in, y out (8 B/el); backward: x, dy in, dx out (12 B/el)");
    copy_ctx cc = {malloc((size_t)b.x->numel * sizeof(float)), b.x->data,
                   (size_t)b.x->numel * sizeof(float)};
    const double t_copy = cc.dst ? median_time(copy_fn, &cc, min_run) : NAN;
    free(cc.dst);
    row("memcpy x (reference)", "%.3f ms, %.1f GB/s: the floor for a norm's forward",
        t_copy * 1e3, fwd_bytes / t_copy / 1e9);
    double tf[M_COUNT], tb[M_COUNT];
    size_t pf, pb[M_COUNT];
    for (int m = 0; m < M_COUNT; m++) {
        tf[m] = time_method(&b, m, false, min_run, &pf);
        tb[m] = time_method(&b, m, true, min_run, &pb[m]);
    }
    printf("\n    %-19s  %-30s  %-30s %s\n", "", "forward", "forward + backward", "arena");
    printf("    %-19s %8s %6s %7s %7s %8s %6s %7s %7s %6s\n", "", "ms", "GB/s", "x comp", "x LN",
           "ms", "GB/s", "x comp", "x LN", "MiB");
    for (int m = 0; m < M_COUNT; m++) {
        printf("    %-19s %8.3f %6.1f", METHOD_NAMES[m], tf[m] * 1e3, fwd_bytes / tf[m] / 1e9);
        if (m == M_CLONE) printf(" %7s %7s", "", "");
        else printf(" %7.2f %7.2f", tf[M_COMPOSED] / tf[m], tf[M_LN] / tf[m]);
        printf(" %8.3f %6.1f", tb[m] * 1e3, bwd_bytes / tb[m] / 1e9);
        if (m == M_CLONE) printf(" %7s %7s", "", "");
        else printf(" %7.2f %7.2f", tb[M_COMPOSED] / tb[m], tb[M_LN] / tb[m]);
        printf(" %6.1f\n", (double)pb[m] / MiB);
    }
    printf("    (x comp, x LN: the composed RMSNorm's or LayerNorm's time over this one's;\n"
           "    arena: the step arena's peak in forward + backward)\n");
    why("fused RMSNorm reads each row once for the sum of squares and again (from cache) to");
    more("scale, writes y once and saves one number per row; LayerNorm adds a pass over\n"
           "the row and, in backward, a second reduction; the composed version sends x^2,\n"
           "x*r and y through memory as separate ops, and backward their gradients.\n"
           "T5LayerNorm with f32 x and weight runs the same fused pass as RMSNorm.\n"
           "The clone row is the engine's own cost: a copy forward, and in backward the\n"
           "seeding of y's gradient from dy plus one += into x.grad.\n");
    if (!big)
        more("At %.0f MiB per tensor x stays in cache: --big gives DRAM-bound numbers.\n",
               4 * N / MiB);
    ag_arena_free(BA);
}

/* ---- main ------------------------------------------------------------------ */

int main(int argc, char **argv) {
    bool quick = false, big = false;
    unsigned long long seed = 42;
    int threads = 0;
    const ag_demo_opt table[] = {
        {"quick", AG_DEMO_FLAG, &quick, .help = "skip the timing section ([10])"},
        {"big", AG_DEMO_FLAG, &big,
         .help = "time at B=32, T=1024, D=4096 (512 MiB per tensor; 1-2 minutes)"},
        {"seed", AG_DEMO_SEED, &seed, .arg = "S", .help = "random seed (default 42)"},
        {"threads", AG_DEMO_INT, &threads, 1, 4096, .arg = "N",
         .help = "OpenMP threads for ag's kernels"},
    };
    const ag_demo_cmd cmd = {"rmsnorm-tour",
                             "Exits 1 when one of the claims the program checks does not hold.\n",
                             table, (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;
    if (threads > 0) {
        if (have_omp()) omp_set_num_threads(threads);
        else fprintf(stderr, "rmsnorm-tour: built without OpenMP; --threads ignored\n");
    }
    const double t_start = now();

    ag_rng rng;
    ag_rng_seed(&rng, seed);
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    printf("rmsnorm-tour: ten RMSNorm exercises (docs/rmsnorm-exercises.md), run on ag\n");
    printf("random seed %llu, %d thread%s%s\n", seed, n_threads(), n_threads() == 1 ? "" : "s",
           quick ? ", --quick (no timing)" : "");

    ag_nn_rmsnorm *rms = section_init(P);
    section_counts(P, A, rms);
    ag_arena_reset(A);
    section_eps(P, A, &rng);
    ag_arena_reset(A);
    section_post_init(P, A, &rng);
    ag_arena_reset(A);
    {
        ag_tensor *x = ag_randn(A, &rng, AG_F32, AG_SHAPE(2, 10, 512), 0, 1), *y;
        ag_nn_rmsnorm *v1;
        section_v1_v2(P, A, x, &y, &v1);
        section_vs_layernorm(P, A, x, y, v1);
    }
    ag_arena_reset(A);
    section_worked(P, A);
    ag_arena_reset(A);
    section_bf16(P, A, &rng);
    ag_arena_reset(A);
    section_flops(A, &rng);
    ag_arena_reset(A);
    if (!quick) section_timing(&rng, big);
    else printf("\n[10] timing: skipped (--quick)\n");

    ag_arena_free(A);
    ag_arena_free(P);
    printf("\n%d checks, %d failed; %.1f s\n", n_checks, n_failed, now() - t_start);
    return n_failed ? 1 : 0;
}
