/* demos/bench_norms.c — RMSNorm and LayerNorm against this machine's memory
 * bandwidth.
 *
 *   bench-norms [--shapes RxD,...] [--reps N] [--threads N] [--csv] [--plot DIR]
 *
 * The norms are memory-bound: each row is read, reduced and written while
 * it is in cache, so the least time a pass can take is the bytes it must move
 * over the memory bandwidth. Per rows x D f32 tensor of N = rows*D*4 bytes:
 *
 *   fwd      read x, write y                      2N
 *   bwd      read x and dy, write dx              3N
 *   fwdbwd   both                                 5N
 *
 * (the weight, bias and per-row statistics are a few KiB and not counted).
 * The bandwidth is measured by this program in the same run, per shape, with
 * the simplest kernel that moves 2N: y = a*x over the same x, once with plain
 * stores (which read each line of y before writing it) and once with
 * non-temporal stores (which do not). "of bound" is a row's GB/s over the
 * faster copy's GB/s at that shape, timed just before and just after each
 * run and averaged (the median of the per-run ratios): the machine may be
 * shared, and a ratio of figures taken together is steadier than either.
 *
 * Implementations: `ag` — the fused kernels (ag_rms_norm, ag_layer_norm);
 * `ag_composed` — RMSNorm written with elementwise ops as PyTorch users write
 * it (x * rsqrt(mean(x^2) + eps) * w), each op a pass over memory. Inputs
 * require gradients, as in training, so forward saves its statistics. bwd is
 * ag_backward(y, dy) on a recorded forward, with x's gradient not yet
 * allocated (a fresh view of x each run), as for an activation in a model.
 *
 * Each figure is the median of --reps runs (default 7, at least 5) after one
 * warm-up run; runs shorter than 20 ms repeat the pass inside the timing and
 * divide. GB = 1e9 bytes.
 */
#include <ag/ag.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#define PAR_FOR _Pragma("omp parallel for schedule(static)")
#else
#define PAR_FOR
#endif
#if defined(__AVX__) || defined(__SSE2__)
#include <immintrin.h>
#endif

#include "common/demo.h"
#include "common/demo_opts.h"

enum { MAX_RESULTS = 16 * AG_DEMO_MAX_SHAPES };
static const double EPS = 1e-6;

typedef struct {
    char impl[16], op[16], pass[8];
    int64_t rows, dim;
    double ms, gbps, frac;
} result;

typedef struct {
    ag_demo_shapes shapes;
    int reps, threads;
    bool csv;
    const char *plot;
} options;

/* ---- the copy reference --------------------------------------------------- */

/* y = a*x over n floats, threads over contiguous halves; plain stores. */
static void copy_plain(float *restrict y, const float *restrict x, int64_t n, float a) {
PAR_FOR
    for (int64_t i = 0; i < n; i++) y[i] = a * x[i];
}

/* The same with non-temporal stores (y 32-byte aligned, n a multiple of 8;
 * plain stores where the machine has none). */
static void copy_nt(float *restrict y, const float *restrict x, int64_t n, float a) {
#if defined(__AVX__)
    const __m256 va = _mm256_set1_ps(a);
PAR_FOR
    for (int64_t i = 0; i < n; i += 8)
        _mm256_stream_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(x + i)));
    _mm_sfence();
#elif defined(__SSE2__)
    const __m128 va = _mm_set1_ps(a);
PAR_FOR
    for (int64_t i = 0; i < n; i += 4)
        _mm_stream_ps(y + i, _mm_mul_ps(va, _mm_loadu_ps(x + i)));
    _mm_sfence();
#else
    copy_plain(y, x, n, a);
#endif
}

/* ---- timing ---------------------------------------------------------------- */

/* What one timed pass needs. */
typedef enum { COPY_PLAIN, COPY_NT, RMS, RMS_COMPOSED, LAYER } kernel;
typedef enum { FWD, BWD, FWDBWD } pass;
static const char *const PASS_NAME[] = {"fwd", "bwd", "fwdbwd"};

typedef struct {
    ag_arena *S;                /* reset before each run */
    ag_tensor *x, *w, *b, *dy;  /* persistent inputs; w, b require gradients */
    float *ybuf;                /* the copies' output */
    int64_t rows, dim;
} bench;

static ag_tensor *norm_forward(bench *B, kernel k, ag_tensor *x) {
    const int64_t ns[1] = {B->dim};
    switch (k) {
    case RMS: return ag_rms_norm(B->S, x, 1, ns, B->w, EPS, 0);
    case RMS_COMPOSED: return ag_rms_norm_composed(B->S, x, 1, ns, B->w, EPS);
    default: return ag_layer_norm(B->S, x, 1, ns, B->w, B->b, EPS);
    }
}

/* One run of (k, p); returns the seconds of the part that is timed. */
static double run_once(bench *B, kernel k, pass p) {
    const int64_t n = B->rows * B->dim;
    double t0 = ag_demo_now();
    if (k == COPY_PLAIN) {
        copy_plain(B->ybuf, B->x->data, n, 1.0001f);
        return ag_demo_now() - t0;
    }
    if (k == COPY_NT) {
        copy_nt(B->ybuf, B->x->data, n, 1.0001f);
        return ag_demo_now() - t0;
    }
    ag_arena_reset(B->S);
    /* a fresh leaf sharing x's data: its gradient is allocated in S */
    ag_tensor *x = ag_detach(B->S, B->x);
    ag_set_requires_grad(x, true);
    if (p == BWD) {
        ag_tensor *y = norm_forward(B, k, x);
        t0 = ag_demo_now();
        ag_backward(y, B->dy);
        return ag_demo_now() - t0;
    }
    t0 = ag_demo_now();
    ag_tensor *y = norm_forward(B, k, x);
    if (p == FWDBWD) ag_backward(y, B->dy);
    return ag_demo_now() - t0;
}

/* Seconds of (k, p), repeated inner times and divided. */
static double run_inner(bench *B, kernel k, pass p, int inner) {
    double t = 0;
    for (int i = 0; i < inner; i++) t += run_once(B, k, p);
    return t / inner;
}

/* The faster copy's seconds, repeated inner times. */
static double copy_time(bench *B, int inner) {
    return fmin(run_inner(B, COPY_NT, FWD, inner), run_inner(B, COPY_PLAIN, FWD, inner));
}

/* (k, p) over reps runs after a warm-up: the median seconds, and the median
 * over the runs of its GB/s (bytes moved) over the faster copy's GB/s, the
 * copy timed just before and just after the run and the two times
 * averaged, so that the fraction compares figures taken under the same
 * conditions (another process's load comes and goes). Short runs are
 * repeated inside the timing so one timing lasts >= 20 ms. */
static void time_pass(bench *B, kernel k, pass p, int reps, double bytes, double *sec,
                      double *frac) {
    const double copy_bytes = 8.0 * (double)(B->rows * B->dim);
    double warm = run_once(B, k, p);
    int inner = warm >= 0.02 ? 1 : (int)ceil(0.02 / fmax(warm, 1e-7));
    if (inner > 10000) inner = 10000;
    double *t = malloc(2 * (size_t)reps * sizeof *t), *f = t + reps;
    double before = copy_time(B, inner);
    for (int r = 0; r < reps; r++) {
        t[r] = run_inner(B, k, p, inner);
        const double after = copy_time(B, inner);
        f[r] = (bytes / t[r]) / (copy_bytes / (0.5 * (before + after)));
        before = after;
    }
    *sec = ag_demo_median(t, reps);
    *frac = ag_demo_median(f, reps);
    free(t);
}

/* ---- the run ---------------------------------------------------------------- */

static void add_result(result *res, int *nres, const char *impl, const char *op, pass p,
                       bench *B, kernel k, int reps, double bytes) {
    if (*nres >= MAX_RESULTS) return;
    result *r = &res[(*nres)++];
    snprintf(r->impl, sizeof r->impl, "%s", impl);
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->pass, sizeof r->pass, "%s", PASS_NAME[p]);
    r->rows = B->rows, r->dim = B->dim;
    double sec;
    time_pass(B, k, p, reps, bytes, &sec, &r->frac);
    r->ms = 1e3 * sec;
    r->gbps = bytes / sec / 1e9;
}

/* Every kernel and pass at one shape. Returns false when out of memory. */
static bool bench_shape(int64_t rows, int64_t dim, int reps, result *res, int *nres) {
    const int64_t n = rows * dim;
    const double N = 4.0 * (double)n;
    bench B = {.S = ag_arena_new(0), .rows = rows, .dim = dim};
    ag_arena *P = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 42);
    B.x = ag_randn(P, &r, AG_F32, AG_SHAPE(rows, dim), 0.0, 1.0);
    B.dy = ag_randn(P, &r, AG_F32, AG_SHAPE(rows, dim), 0.0, 1.0);
    B.w = ag_randn(P, &r, AG_F32, AG_SHAPE(dim), 1.0, 0.1);
    B.b = ag_randn(P, &r, AG_F32, AG_SHAPE(dim), 0.0, 0.1);
    B.ybuf = ag_arena_alloc(P, (size_t)n * sizeof(float));
    if (!B.S || !P || !B.x || !B.dy || !B.w || !B.b || !B.ybuf) {
        fprintf(stderr, "bench-norms: out of memory for %lldx%lld\n", (long long)rows,
                (long long)dim);
        return false;
    }
    ag_set_requires_grad(B.w, true);
    ag_set_requires_grad(B.b, true);
    memset(B.ybuf, 0, (size_t)n * sizeof(float)); /* touch the pages */

    add_result(res, nres, "copy_plain", "copy", FWD, &B, COPY_PLAIN, reps, 2 * N);
    add_result(res, nres, "copy_nt", "copy", FWD, &B, COPY_NT, reps, 2 * N);
    static const struct {
        kernel k;
        const char *impl, *op;
    } ks[] = {{RMS, "ag", "rmsnorm"}, {RMS_COMPOSED, "ag_composed", "rmsnorm"},
              {LAYER, "ag", "layernorm"}};
    static const double bytes[] = {2, 3, 5}; /* per pass, in units of N */
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        for (pass p = FWD; p <= FWDBWD; p++)
            add_result(res, nres, ks[i].impl, ks[i].op, p, &B, ks[i].k, reps, bytes[p] * N);
    ag_arena_free(B.S);
    ag_arena_free(P);
    return true;
}

/* ---- output ----------------------------------------------------------------- */

static void print_table(const result *res, int nres) {
    printf("%-12s %-10s %-7s %-12s %10s %8s %9s\n", "impl", "op", "pass", "rows x dim", "ms",
           "GB/s", "of bound");
    for (int i = 0; i < nres; i++) {
        const result *r = &res[i];
        char shape[32];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)r->rows, (long long)r->dim);
        if (i > 0 && (r->rows != res[i - 1].rows || r->dim != res[i - 1].dim)) printf("\n");
        printf("%-12s %-10s %-7s %-12s %10.3f %8.1f %8.0f%%\n", r->impl, r->op, r->pass, shape,
               r->ms, r->gbps, 100 * r->frac);
    }
}

static void print_csv(const result *res, int nres) {
    printf("impl,op,pass,rows,dim,ms,gbps\n");
    for (int i = 0; i < nres; i++)
        printf("%s,%s,%s,%lld,%lld,%.4f,%.3f\n", res[i].impl, res[i].op, res[i].pass,
               (long long)res[i].rows, (long long)res[i].dim, res[i].ms, res[i].gbps);
}

/* bench-norms.png: clustered bars of GB/s, one cluster per kernel and pass,
 * one bar per shape. False when the files could not be written. */
static bool write_plot(const char *dir, const result *res, int nres, const options *o) {
    const int nshapes = o->shapes.n, per = nres / nshapes; /* each shape has every kernel */
    char(*shape)[48] = malloc((size_t)nshapes * sizeof *shape);
    char(*kernel)[96] = malloc((size_t)per * sizeof *kernel);
    const char **labels = malloc((size_t)per * sizeof *labels);
    double *gbps = malloc((size_t)nres * sizeof *gbps);
    ag_plot_series *series = malloc((size_t)nshapes * sizeof *series);
    if (!shape || !kernel || !labels || !gbps || !series) {
        free(shape), free(kernel), free(labels), free(gbps), free(series);
        fprintf(stderr, "bench-norms: out of memory for the plot\n");
        return false;
    }
    for (int k = 0; k < per; k++) { /* the rows of the first shape name the kernels */
        snprintf(kernel[k], sizeof kernel[k], "%.15s %.15s %.7s", res[k].impl, res[k].op,
                 res[k].pass);
        labels[k] = kernel[k];
    }
    for (int s = 0; s < nshapes; s++) {
        snprintf(shape[s], sizeof shape[s], "%lldx%lld", (long long)o->shapes.rows[s],
                 (long long)o->shapes.dim[s]);
        for (int k = 0; k < per; k++) gbps[s * per + k] = res[s * per + k].gbps;
        series[s] = (ag_plot_series){.title = shape[s], .y = gbps + s * per, .n = per,
                                     .style = AG_PLOT_BARS};
    }
    char title[200];
    snprintf(title, sizeof title, "RMSNorm and LayerNorm, f32, %d threads: GB/s of the bytes each "
             "pass must move (higher is better)", o->threads);
    const ag_plot p = {.title = title, .ylabel = "GB/s", .series = series, .nseries = nshapes,
                       .labels = labels, .nlabels = per, .width = 1400, .height = 700};
    ag_plot_outcome out;
    const int st = ag_plot_save(&p, dir, "bench-norms", &out);
    fprintf(stderr, "bench-norms: %s\n", out.message);
    free(shape), free(kernel), free(labels), free(gbps), free(series);
    return st != AG_PLOT_CANNOT_WRITE;
}

/* ---- options ---------------------------------------------------------------- */

/* Returns -1 to go on, or the exit status. */
static int parse_options(int argc, char **argv, options *o) {
    o->shapes = (ag_demo_shapes){.rows = {32768, 8192, 65536, 256}, .dim = {4096, 1280, 64, 4096},
                                 .n = 4};
    o->reps = 7;
    o->threads = 0;
    const ag_demo_opt table[] = {
        {"shapes", AG_DEMO_SHAPES, &o->shapes, 1, 268435456, .arg = "RxD,...",
         .help = "rows x dim of the f32 inputs, dim a multiple of 8, rows*dim <= 2^28\n"
                 "(32768x4096,8192x1280,65536x64,256x4096)"},
        {"reps", AG_DEMO_INT, &o->reps, 5, 10000, .arg = "N",
         .help = "timed runs per figure, >= 5; the median is reported (7)"},
        {"threads", AG_DEMO_INT, &o->threads, 1, 4096, .arg = "N",
         .help = "OpenMP threads (all the machine's)"},
        {"csv", AG_DEMO_FLAG, &o->csv,
         .help = "lines impl,op,pass,rows,dim,ms,gbps instead of the table"},
        {"plot", AG_DEMO_STRING, &o->plot, .arg = "DIR",
         .help = "also write DIR/bench-norms.{dat,gp} and draw bench-norms.png"},
    };
    const ag_demo_cmd cmd = {"bench-norms",
                             "RMSNorm and LayerNorm kernels against the memory bandwidth.\n",
                             table, (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;
    for (int s = 0; s < o->shapes.n; s++) /* the NT copy writes 32-byte blocks */
        if (o->shapes.dim[s] % 8 != 0)
            return ag_demo_opts_fail(&cmd, "shapes", "dim %lld is not a multiple of 8",
                                     (long long)o->shapes.dim[s]);
    if (o->plot && !ag_demo_dir_usable(o->plot))
        return ag_demo_opts_fail(&cmd, "plot", "cannot create directory \"%s\": %s", o->plot,
                                 strerror(errno));
    return -1;
}

int main(int argc, char **argv) {
    options o = {0};
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0) return rc;
#ifdef _OPENMP
    if (o.threads > 0) omp_set_num_threads(o.threads);
    o.threads = omp_get_max_threads();
#else
    o.threads = 1;
#endif
    static result res[MAX_RESULTS];
    int nres = 0;
    for (int s = 0; s < o.shapes.n; s++)
        if (!bench_shape(o.shapes.rows[s], o.shapes.dim[s], o.reps, res, &nres)) return 1;
    if (o.csv) {
        print_csv(res, nres);
    } else {
        printf("bench-norms: f32, %d threads, median of %d runs; GB/s of the bytes each pass "
               "must move (fwd 2N, bwd 3N, fwdbwd 5N)\n\n", o.threads, o.reps);
        print_table(res, nres);
        printf("\n'of bound': GB/s over the faster copy (y = a*x) at the same shape, timed "
               "just before and after each run (median of the ratios)\n");
    }
    if (o.plot && !ag_demo_make_dirs(o.plot)) {
        fprintf(stderr, "bench-norms: cannot create %s: %s\n", o.plot, strerror(errno));
        return 1;
    }
    if (o.plot && !write_plot(o.plot, res, nres, &o)) return 1;
    return 0;
}
