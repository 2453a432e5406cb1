/* demos/bench_train.c — the time of one training step of the tiny GPT, where
 * it goes, and how it grows with the model.
 *
 *   bench-train [--config micro|small|all] [--threads N] [--groups K] [--csv]
 *   bench-train --batch B --n-embd C [--n-layer L] [--n-head H] [--block T] ...
 *   bench-train --scale [--csv] [--plot DIR [--torch-csv FILE]]
 *
 * The model and the step are demos/common/bench_step.h's (tinygpt's model,
 * AdamW, random tokens). Sizes:
 *
 *   micro   1 layer,  16 dims, 4 heads, block 16, batch  1   (microgpt's size)
 *   small   4 layers, 128 dims, 4 heads, block 64, batch 32
 *   custom  small's sizes, changed by --batch, --n-embd, --n-layer, --n-head
 *           and --block (any of them replaces --config)
 *
 * Timing: warm-up steps (micro 20, the others 3), then a group size is
 * chosen so that a group takes about 0.2 s (at least one step), and K groups
 * (7) are timed. Reported: the median and the minimum over the groups of
 * the mean step time, and tokens/s = batch * block / median step time.
 * Threads: 1 by default, as tinygpt (OpenMP and OpenBLAS both take
 * --threads).
 *
 * The matmul floor: the time of the step's own matrix products alone. One
 * step (after the warm-up) runs under an ag_profile that traces every gemm
 * call (transposes, shapes, leading dimensions, alpha, beta);
 * ag_profile_gemm_replay runs the trace back to back on buffers of the right
 * sizes, warm, once after each timed group, and the median of these replays
 * is the floor. step/floor is how far the step is from it: the median over
 * the groups of the group's step time over the replay that follows it, so
 * that a machine whose speed drifts (a shared one) slows both sides of each
 * ratio alike.
 * GFLOP counts 2 M N K over the traced products.
 *
 * The human output then shows where a step goes, per configuration: by op
 * kind from as many steps again under an op profile (calls per step,
 * forward and backward microseconds, share of the step; AdamW and zero_grad
 * as "optimizer", and the rest of the step, outside every op's interval —
 * the batch, the arena reset, the graph walk — as "outside ops"); forward,
 * backward and optimizer from a clock read between the parts; the number of
 * ops the step records (ag_graph_size less the parameter leaves). Last, the
 * op floor: a chain of ag_mul_scalar on a one-element tensor that requires
 * a gradient, the cost of an op that does almost no arithmetic, and what the
 * step's ops would cost at that rate.
 *
 * --scale: the step as batch and width double: batch 16, 32, 64, 128 at 128
 * dims, and width 64, 128, 256 at batch 32 (4 layers, 4 heads, block 64);
 * per configuration GFLOP per step, ms per step, the matmul floor and
 * step/floor. --plot DIR draws DIR/bench-scale.png (ms per step against
 * GFLOP per step, log axes: ag, its matmul floor and, from --torch-csv, the
 * PyTorch step; the batch and the width sweep as separate lines, and a
 * line of slope 1, time proportional to the FLOPs), as demos/bench_torch.py
 * scale does with PyTorch's figures.
 */
#include <ag/ag.h>

#include "common/bench_step.h"
#include "common/demo.h"
#include "common/demo_opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GROUPS 1000

static const ag_bench_config CONFIGS[] = {
    {"micro", 1, 16, 4, 16, 1, 20},
    {"small", 4, 128, 4, 64, 32, 3},
};
#define NCONFIGS ((int)(sizeof CONFIGS / sizeof CONFIGS[0]))

/* The sweep: sweep name, config name, batch, width. */
typedef struct {
    const char *sweep, *name;
    int batch, n_embd;
} scale_point;

static const scale_point SCALE[] = {
    {"batch", "b16", 16, 128},  {"batch", "b32", 32, 128}, {"batch", "b64", 64, 128},
    {"batch", "b128", 128, 128}, {"width", "w64", 32, 64},  {"width", "w128", 32, 128},
    {"width", "w256", 32, 256},
};
#define NSCALE ((int)(sizeof SCALE / sizeof SCALE[0]))

static ag_bench_config scale_config(const scale_point *s) {
    return (ag_bench_config){s->name, 4, s->n_embd, 4, 64, s->batch, 3};
}

/* What one configuration measured. */
typedef struct {
    ag_bench_timing tm;
    int64_t params;
} measured;

/* Times c and takes its floor; false after a message on stderr. */
static bool measure(const ag_bench_config *c, int groups, ag_bench_trainer *t, measured *m) {
    if (!ag_bench_trainer_init(t, c)) return false;
    if (!ag_bench_time_steps(t, groups, &m->tm)) return false;
    if (!isfinite(t->loss)) {
        fprintf(stderr, "bench-train: %s: the loss is %g\n", c->name, t->loss);
        return false;
    }
    m->params = ag_module_num_params(&t->model->base);
    return true;
}

/* ---- per-op overhead ----------------------------------------------------------- */

/* Seconds per op of a chain of n ag_mul_scalar on a one-element f32 tensor
 * that requires a gradient: forward (recording) and backward; medians of 9. */
static void op_floor(double *fwd, double *bwd) {
    enum { N = 2000, REPS = 9 };
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    ag_tensor *x = ag_ones(P, AG_F32, AG_SHAPE(1));
    ag_set_requires_grad(x, true);
    double f[REPS], b[REPS];
    for (int r = -2; r < REPS; r++) { /* two warm-up rounds */
        ag_arena_reset(A);
        double t0 = ag_demo_now();
        ag_tensor *y = x;
        for (int i = 0; i < N; i++) y = ag_mul_scalar(A, y, 1.0);
        double t1 = ag_demo_now();
        ag_backward(y, NULL);
        double t2 = ag_demo_now();
        if (r >= 0) {
            f[r] = (t1 - t0) / N;
            b[r] = (t2 - t1) / N;
        }
    }
    *fwd = ag_demo_median(f, REPS);
    *bwd = ag_demo_median(b, REPS);
    ag_arena_free(A);
    ag_arena_free(P);
}

/* ---- where a step goes ----------------------------------------------------------- */

typedef struct {
    ag_bench_profile prof; /* by op kind, and the forward/backward/optimizer split */
    int64_t ops;           /* ops recorded per step */
    int nparams;           /* parameter tensors */
    ag_bench_timing tm;    /* the products by op kind, replayed */
} breakdown;

/* The size of the graph (one step), then steps profiled steps. */
static bool measure_breakdown(ag_bench_trainer *t, int steps, breakdown *b) {
    int64_t nodes = 0;
    ag_bench_step(t, NULL, &nodes);
    b->nparams = t->opt->nparams;
    b->ops = nodes - b->nparams; /* the graph holds every parameter as a leaf */
    return ag_bench_profile_steps(t, steps, &b->prof);
}

/* "12.34 us" or "12.34 ms". */
static const char *fmt_us(double us, char *buf, size_t n) {
    if (us >= 1000)
        snprintf(buf, n, "%.4g ms", us / 1000);
    else
        snprintf(buf, n, "%.4g us", us);
    return buf;
}

/* One row of the table, microseconds per step; a NaN prints as "-". */
static void print_kind_row(const char *name, const double v[5], double step) {
    char c[5][32]; /* calls, forward, backward, total, products */
    for (int i = 0; i < 5; i++)
        snprintf(c[i], sizeof c[i], isnan(v[i]) ? "-" : i ? "%.1f" : "%.4g", v[i]);
    printf("  %-28s %7s %11s %11s %11s %6.1f%% %11s\n", name, c[0], c[1], c[2], c[3],
           100 * v[3] / step, c[4]);
}

/* Microseconds of kind name's products in the replays (NaN: it made none). */
static double products_us(const ag_bench_timing *tm, const char *name) {
    for (int i = 0; i < tm->nkinds; i++)
        if (!strcmp(tm->kinds[i].name, name) && tm->kinds[i].gemm_seconds > 0)
            return 1e6 * tm->kinds[i].gemm_seconds;
    return NAN;
}

/* The table by op kind: per step, sorted by forward + backward time; then
 * the optimizer, and the time of forward and backward outside every op. */
static void print_kinds(const char *name, const breakdown *b) {
    const ag_bench_profile *p = &b->prof;
    const double n = p->steps, step = 1e6 * (p->fwd + p->bwd + p->opt);
    printf("%s: by op kind, mean of %d profiled steps of %.4g ms; products: the kind's matrix "
           "products alone (the floor's share)\n"
           "  %-28s %7s %11s %11s %11s %7s %11s\n", name, p->steps, step / 1000, "op kind",
           "calls", "forward us", "backward us", "total us", "share", "products us");
    double fwd = 0, bwd = 0;
    for (int i = 0; i < p->nkinds; i++) {
        const ag_profile_op *k = &p->kinds[i];
        const double f = 1e6 * k->fwd_seconds / n, g = 1e6 * k->bwd_seconds / n;
        print_kind_row(k->name, (const double[]){(double)k->fwd_calls / n, f, g, f + g,
                                                 products_us(&b->tm, k->name)}, step);
        fwd += f, bwd += g;
    }
    print_kind_row("optimizer (AdamW, zero_grad)",
                   (const double[]){NAN, NAN, NAN, 1e6 * p->opt, NAN}, step);
    const double of = 1e6 * p->fwd - fwd, ob = 1e6 * p->bwd - bwd;
    print_kind_row("outside ops", (const double[]){NAN, of, ob, of + ob, NAN}, step);
}

static void print_split(const char *name, const breakdown *b) {
    const ag_bench_profile *p = &b->prof;
    const double fwd = 1e6 * p->fwd, bwd = 1e6 * p->bwd, opt = 1e6 * p->opt,
                 total = fwd + bwd + opt, ops = (double)b->ops;
    char s[4][32];
    printf("%s step: %s = forward %s (%.0f%%) + backward %s (%.0f%%) + AdamW and zero_grad %s "
           "(%.0f%%)\n", name, fmt_us(total, s[0], 32), fmt_us(fwd, s[1], 32), 100 * fwd / total,
           fmt_us(bwd, s[2], 32), 100 * bwd / total, fmt_us(opt, s[3], 32), 100 * opt / total);
    printf("  graph: %lld ops recorded per step (+ %d parameter leaves); mean time per op: "
           "forward %s, backward %s; AdamW: %s per parameter tensor\n",
           (long long)b->ops, b->nparams, fmt_us(fwd / ops, s[0], 32), fmt_us(bwd / ops, s[1], 32),
           fmt_us(opt / b->nparams, s[2], 32));
}

/* ---- the configurations ------------------------------------------------------------ */

typedef struct {
    const char *config;
    int threads, groups;
    bool csv, count, scale;
    const char *plot, *torch_csv;
    ag_bench_config custom;
    bool custom_given;
} options;

static int run_configs(const options *o, const ag_bench_config *const *run, int nrun) {
    if (o->csv)
        printf("impl,config,threads,ms,tokens_per_s,floor_ms\n");
    else
        printf("bench-train: tinygpt's model (vocab %d, Llama RMSNorm, GELU), AdamW, random "
               "tokens; %d thread%s\n\n"
               "config  layers  dims  heads  block  batch    params   step ms (min)        "
               "tokens/s  GFLOP/s  floor ms  step/floor   groups\n",
               AG_BENCH_VOCAB, o->threads, o->threads == 1 ? "" : "s");
    breakdown *parts = calloc((size_t)nrun, sizeof *parts);
    if (!parts) return 1;
    for (int i = 0; i < nrun; i++) {
        const ag_bench_config *c = run[i];
        ag_bench_trainer t;
        measured m;
        if (!measure(c, o->groups, &t, &m)) return 1;
        const double tokens = (double)c->batch * c->block / m.tm.median;
        if (o->csv) {
            printf("ag,%s,%d,%.6f,%.1f,%.6f\n", c->name, o->threads, 1e3 * m.tm.median, tokens,
                   1e3 * m.tm.floor);
        } else {
            char med[32], min[32];
            snprintf(med, sizeof med, "%.4g", 1e3 * m.tm.median);
            snprintf(min, sizeof min, "(%.4g)", 1e3 * m.tm.min);
            printf("%-6s  %6d  %4d  %5d  %5d  %5d  %8lld  %8s %-10s  %9.0f  %7.2f  %8.4g  %9.2fx"
                   "   %d x %d\n", c->name, c->n_layer, c->n_embd, c->n_head, c->block, c->batch,
                   (long long)m.params, med, min, tokens, m.tm.gflop / m.tm.median, 1e3 * m.tm.floor,
                   m.tm.over_floor, m.tm.groups, m.tm.per_group);
            /* as many steps again, at least 20 */
            const int n = m.tm.groups * m.tm.per_group;
            if (!measure_breakdown(&t, n < 20 ? 20 : n, &parts[i])) return 1;
            parts[i].tm = m.tm;
        }
        fflush(stdout);
        ag_bench_trainer_free(&t);
    }
    if (!o->csv) {
        printf("(median and min over the groups of the mean step time, after the warm-up "
               "steps; GFLOP/s counts the step's traced matrix products; floor: those products "
               "alone, replayed back to back after each group, median; step/floor: the median "
               "over the groups of each group's step time over the replay after it)\n\n");
        for (int i = 0; i < nrun; i++) {
            print_kinds(run[i]->name, &parts[i]);
            printf("\n");
        }
        for (int i = 0; i < nrun; i++) print_split(run[i]->name, &parts[i]);
        double ffloor, bfloor;
        op_floor(&ffloor, &bfloor);
        printf("op floor (a chain of ag_mul_scalar on one element): forward %.0f ns, backward "
               "%.0f ns per op\n", 1e9 * ffloor, 1e9 * bfloor);
        for (int i = 0; i < nrun; i++) {
            const ag_bench_profile *p = &parts[i].prof;
            const double floor_us = 1e6 * (ffloor + bfloor) * (double)parts[i].ops;
            printf("  %s: %lld ops x the floor = %.3g us, %.2g%% of its forward + backward\n",
                   run[i]->name, (long long)parts[i].ops, floor_us,
                   floor_us / (1e4 * (p->fwd + p->bwd)));
        }
    }
    free(parts);
    return 0;
}

/* ---- the scale sweep --------------------------------------------------------------- */

static int scale_plot(const char *dir, const char *torch_csv, const measured *m);

static int run_scale(const options *o) {
    measured m[NSCALE];
    if (o->csv)
        printf("sweep,config,batch,n_embd,n_layer,n_head,block,threads,gflop,ms,floor_ms,"
               "step_over_floor\n");
    else
        printf("bench-train --scale: tinygpt's model, 4 layers, 4 heads, block 64; %d thread%s\n"
               "sweep  config  batch  dims   GFLOP/step    step ms   floor ms  step/floor\n",
               o->threads, o->threads == 1 ? "" : "s");
    for (int i = 0; i < NSCALE; i++) {
        const ag_bench_config c = scale_config(&SCALE[i]);
        int same = -1; /* a configuration of both sweeps is measured once */
        for (int j = 0; j < i; j++)
            if (SCALE[j].batch == c.batch && SCALE[j].n_embd == c.n_embd) same = j;
        if (same >= 0) {
            m[i] = m[same];
        } else {
            ag_bench_trainer t;
            if (!measure(&c, o->groups, &t, &m[i])) return 1;
            ag_bench_trainer_free(&t);
        }
        const double ms = 1e3 * m[i].tm.median, fl = 1e3 * m[i].tm.floor;
        if (o->csv)
            printf("%s,%s,%d,%d,%d,%d,%d,%d,%.6f,%.6f,%.6f,%.4f\n", SCALE[i].sweep, c.name,
                   c.batch, c.n_embd, c.n_layer, c.n_head, c.block, o->threads, m[i].tm.gflop, ms, fl,
                   m[i].tm.over_floor);
        else
            printf("%-5s  %-6s  %5d  %4d  %11.4g  %9.4g  %9.4g  %9.2fx\n", SCALE[i].sweep, c.name,
                   c.batch, c.n_embd, m[i].tm.gflop, ms, fl, m[i].tm.over_floor);
        fflush(stdout);
    }
    if (!o->plot) return 0;
    return scale_plot(o->plot, o->torch_csv, m);
}

/* PyTorch's ms per step of each sweep point, from a CSV with the columns
 * config and torch_ms (demos/bench_torch.py scale writes it); NaN where a
 * point has no row. False after a message on stderr. */
static bool read_torch_csv(const char *path, double ms[NSCALE]) {
    for (int i = 0; i < NSCALE; i++) ms[i] = NAN;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench-train: --torch-csv: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    char line[1024];
    int cfg = -1, val = -1;
    bool ok = fgets(line, sizeof line, f) != NULL;
    for (int k = 0; ok; k++) { /* the header: which columns */
        char *tok = strtok(k ? NULL : line, ",\r\n");
        if (!tok) break;
        if (!strcmp(tok, "config")) cfg = k;
        if (!strcmp(tok, "torch_ms")) val = k;
    }
    if (cfg < 0 || val < 0) {
        fprintf(stderr, "bench-train: --torch-csv: %s has no header with the columns config "
                "and torch_ms\n", path);
        fclose(f);
        return false;
    }
    while (fgets(line, sizeof line, f)) {
        const char *name = NULL, *v = NULL;
        char *tok = strtok(line, ",\r\n");
        for (int k = 0; tok; k++, tok = strtok(NULL, ",\r\n")) {
            if (k == cfg) name = tok;
            if (k == val) v = tok;
        }
        double x;
        for (int i = 0; name && v && i < NSCALE; i++)
            if (!strcmp(name, SCALE[i].name) && ag_demo_parse_double(v, &x) && x > 0) ms[i] = x;
    }
    fclose(f);
    return true;
}

/* DIR/bench-scale.png: ms per step against GFLOP per step, log axes; ag,
 * its matmul floor and PyTorch (when torch_csv is given), each as a batch
 * and a width line, and a line of slope 1. 0, or 1 after a message. */
static int scale_plot(const char *dir, const char *torch_csv, const measured *m) {
    double torch[NSCALE];
    if (torch_csv && !read_torch_csv(torch_csv, torch)) return 1;
    if (!ag_demo_make_dirs(dir)) {
        fprintf(stderr, "bench-train: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    static const char *const sweeps[] = {"batch", "width"};
    static const char *const impl[] = {"ag", "ag matmul floor", "PyTorch"};
    static const char *const color[] = {"#1f4fbf", "#2a9d2a", "#d9661f"};
    double x[2][NSCALE], y[3][2][NSCALE];
    char title[3][2][64];
    ag_plot_series s[7];
    int ns = 0;
    for (int w = 0; w < 2; w++) {
        int n = 0;
        for (int i = 0; i < NSCALE; i++) {
            if (strcmp(SCALE[i].sweep, sweeps[w])) continue;
            x[w][n] = m[i].tm.gflop;
            y[0][w][n] = 1e3 * m[i].tm.median;
            y[1][w][n] = 1e3 * m[i].tm.floor;
            y[2][w][n] = torch_csv ? torch[i] : NAN;
            n++;
        }
        for (int k = 0; k < (torch_csv ? 3 : 2); k++) {
            snprintf(title[k][w], sizeof title[k][w], "%s, %s", impl[k],
                     w ? "width 64-256 at batch 32" : "batch 16-128 at 128 dims");
            s[ns++] = (ag_plot_series){.title = title[k][w], .x = x[w], .y = y[k][w], .n = n,
                                       .style = AG_PLOT_LINESPOINTS, .color = color[k],
                                       .width = 2, .dashed = w == 1};
        }
    }
    /* a guide of slope 1 through the smallest floor: time proportional to
     * the FLOPs */
    int lo = 0, hi = 0;
    for (int i = 1; i < NSCALE; i++) {
        if (m[i].tm.gflop < m[lo].tm.gflop) lo = i;
        if (m[i].tm.gflop > m[hi].tm.gflop) hi = i;
    }
    const double gx[2] = {m[lo].tm.gflop, m[hi].tm.gflop},
                 gy[2] = {1e3 * m[lo].tm.floor, 1e3 * m[lo].tm.floor * m[hi].tm.gflop / m[lo].tm.gflop};
    s[ns++] = (ag_plot_series){.title = "proportional to GFLOP", .x = gx, .y = gy, .n = 2,
                               .color = "#888888", .dashed = true};
    const ag_plot p = {.title = "tinygpt training step as batch and width double "
                                "(4 layers, 4 heads, block 64)",
                       .xlabel = "GFLOP per step (matrix products)", .ylabel = "ms per step",
                       .logx = true, .logy = true, .series = s, .nseries = ns,
                       .extra = "set key bottom right\n"};
    ag_plot_outcome out;
    const int st = ag_plot_save(&p, dir, "bench-scale", &out);
    fprintf(stderr, "bench-train: %s\n", out.message);
    return st == AG_PLOT_CANNOT_WRITE || st == AG_PLOT_BAD_INPUT;
}

/* ---- main ------------------------------------------------------------------------ */

/* Returns -1 to go on, or the exit status. */
static int parse_options(int argc, char **argv, options *o) {
    static const char *const choices[] = {"micro", "small", "all", NULL};
    bool config_given = false, sized[5] = {false};
    o->custom = (ag_bench_config){"custom", 4, 128, 4, 64, 32, 3};
    const ag_demo_opt table[] = {
        {"config", AG_DEMO_STRING, &o->config, .choices = choices, .arg = "NAME",
         .help = "micro, small or all (all)", .given = &config_given},
        {"batch", AG_DEMO_INT, &o->custom.batch, 1, 1024, .arg = "B",
         .help = "the custom config's batch (32); any of these five replaces --config",
         .given = &sized[0]},
        {"n-embd", AG_DEMO_INT, &o->custom.n_embd, 1, 2048, .arg = "C",
         .help = "its width (128)", .given = &sized[1]},
        {"n-layer", AG_DEMO_INT, &o->custom.n_layer, 1, 64, .arg = "L",
         .help = "its layers (4)", .given = &sized[2]},
        {"n-head", AG_DEMO_INT, &o->custom.n_head, 1, 64, .arg = "H",
         .help = "its heads (4)", .given = &sized[3]},
        {"block", AG_DEMO_INT, &o->custom.block, 1, 1024, .arg = "T",
         .help = "its sequence length (64)", .given = &sized[4]},
        {"threads", AG_DEMO_INT, &o->threads, 1, 1024, .arg = "N",
         .help = "OpenMP and OpenBLAS threads (1)"},
        {"groups", AG_DEMO_INT, &o->groups, 5, MAX_GROUPS, .arg = "K",
         .help = "timed groups of steps, >= 5 (7); the median is reported"},
        {"csv", AG_DEMO_FLAG, &o->csv,
         .help = "impl,config,threads,ms,tokens_per_s,floor_ms lines instead of a table\n"
                 "(with --scale: sweep,config,...,gflop,ms,floor_ms,step_over_floor)"},
        {"count-params", AG_DEMO_FLAG, &o->count,
         .help = "print config,params lines (parameter counts) and exit"},
        {"scale", AG_DEMO_FLAG, &o->scale,
         .help = "the sweep: batch 16-128 at 128 dims, width 64-256 at batch 32"},
        {"plot", AG_DEMO_STRING, &o->plot, .arg = "DIR",
         .help = "with --scale: draw DIR/bench-scale.png (and its .dat, .gp)"},
        {"torch-csv", AG_DEMO_STRING, &o->torch_csv, .arg = "FILE",
         .help = "with --plot: PyTorch's ms per step (columns config, torch_ms)"},
    };
    const ag_demo_cmd cmd = {
        "bench-train",
        "Training-step time of tinygpt's model (forward, cross-entropy, backward, AdamW),\n"
        "its matmul floor and where it goes by op kind.\n"
        "  micro: 1 layer, 16 dims, 4 heads, block 16, batch 1\n"
        "  small: 4 layers, 128 dims, 4 heads, block 64, batch 32\n",
        table, (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;
    static const char *const size_opt[] = {"batch", "n-embd", "n-layer", "n-head", "block"};
    for (int i = 0; i < 5; i++) {
        o->custom_given = o->custom_given || sized[i];
        if (sized[i] && config_given)
            return ag_demo_opts_fail(&cmd, size_opt[i], "makes the config \"custom\": not "
                                     "with --config");
        if (sized[i] && o->scale)
            return ag_demo_opts_fail(&cmd, size_opt[i], "not with --scale (it sets the sizes)");
    }
    if (config_given && o->scale)
        return ag_demo_opts_fail(&cmd, "config", "not with --scale (it sets the sizes)");
    if (o->custom.n_embd % o->custom.n_head)
        return ag_demo_opts_fail(&cmd, "n-head", "--n-embd %d is not divisible by --n-head %d",
                                 o->custom.n_embd, o->custom.n_head);
    if (o->plot && !o->scale) return ag_demo_opts_fail(&cmd, "plot", "needs --scale");
    if (o->torch_csv && !o->plot) return ag_demo_opts_fail(&cmd, "torch-csv", "needs --plot DIR");
    if (o->plot && !ag_demo_dir_usable(o->plot))
        return ag_demo_opts_fail(&cmd, "plot", "cannot create directory \"%s\": %s", o->plot,
                                 strerror(errno));
    return -1;
}

int main(int argc, char **argv) {
    options o = {.config = "all", .threads = 1, .groups = 7};
    const int rc = parse_options(argc, argv, &o);
    if (rc >= 0) return rc;
    ag_demo_set_threads(o.threads);
    const ag_bench_config *run[NSCALE];
    ag_bench_config sc[NSCALE];
    int nrun = 0;
    if (o.scale) {
        for (int i = 0; i < NSCALE; i++) {
            sc[i] = scale_config(&SCALE[i]);
            run[nrun++] = &sc[i];
        }
    } else if (o.custom_given) {
        run[nrun++] = &o.custom;
    } else {
        for (int i = 0; i < NCONFIGS; i++)
            if (!strcmp(o.config, "all") || !strcmp(o.config, CONFIGS[i].name))
                run[nrun++] = &CONFIGS[i];
    }
    if (o.count) {
        printf("config,params\n");
        for (int i = 0; i < nrun; i++) {
            ag_bench_trainer t;
            if (!ag_bench_trainer_init(&t, run[i])) return 1;
            printf("%s,%lld\n", run[i]->name, (long long)ag_module_num_params(&t.model->base));
            ag_bench_trainer_free(&t);
        }
        return 0;
    }
    return o.scale ? run_scale(&o) : run_configs(&o, run, nrun);
}
