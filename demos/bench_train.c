/* demos/bench_train.c — the time of one training step of the tiny GPT.
 *
 *   bench-train [--config micro|small|all] [--threads N] [--groups K] [--csv]
 *
 * The model is tinygpt's (demos/common/tinygpt_model.c): vocabulary 27,
 * Llama RMSNorm, exact GELU, no biases, GPT-2 initialisation from seed 42.
 * Two sizes:
 *
 *   micro   1 layer,  16 dims, 4 heads, block 16, batch  1   (microgpt's size)
 *   small   4 layers, 128 dims, 4 heads, block 64, batch 32
 *
 * One step is what tinygpt's training loop does, without its gradient
 * clipping and learning-rate schedule: reset the step arena, make the batch,
 * forward and cross-entropy loss, backward, AdamW step (lr 1e-3, weight
 * decay 0.01 on the matrices, none on the norm weights: the groups of
 * ag_optim_groups_from_model), zero_grad.
 *
 * Data: every step draws batch sequences of block+1 uniformly random token
 * ids from an ag_rng seeded with 1234 (the same each run); the inputs are
 * the first block ids, the targets the last block (every position counts:
 * no ignored targets).
 *
 * Timing: warm-up steps (micro 20, small 3), then a group size is chosen so
 * that a group takes about 0.2 s (at least one step), and K groups (7) are
 * timed. Reported: the median and the minimum over the groups of the mean
 * step time, and tokens/s = batch * block / median step time. Threads: 1 by
 * default, as tinygpt (OpenMP and OpenBLAS both take --threads).
 *
 * The human output then shows where a step goes, per configuration: forward
 * (with the arena reset and the batch), backward, and optimizer, from as
 * many steps again with a clock read between the parts; the number of ops
 * the step records (ag_graph_size less the parameter leaves) and their mean
 * time. Last, the op floor: a chain of ag_mul_scalar on a one-element tensor
 * that requires a gradient, the cost of an op that does almost no
 * arithmetic (allocation, recording, dispatch, backward call), and what the
 * step's ops would cost at that rate.
 */
#include <ag/ag.h>

#include "common/demo.h"
#include "common/demo_opts.h"
#include "common/tinygpt_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#define VOCAB 27
#define MODEL_SEED 42
#define DATA_SEED 1234
#define GROUP_SECONDS 0.2
#define MAX_GROUPS 1000

typedef struct {
    const char *name;
    int n_layer, n_embd, n_head, block, batch, warmup;
} bench_config;

static const bench_config CONFIGS[] = {
    {"micro", 1, 16, 4, 16, 1, 20},
    {"small", 4, 128, 4, 64, 32, 3},
};
#define NCONFIGS ((int)(sizeof CONFIGS / sizeof CONFIGS[0]))

/* ---- one configuration: model, optimizer, step -------------------------------- */

typedef struct {
    const bench_config *c;
    ag_arena *P, *S;  /* parameters and optimizer state; one step */
    ag_demo_gpt *model;
    ag_optim *opt;
    ag_rng data;
    double loss;      /* of the last step */
} trainer;

static bool trainer_init(trainer *t, const bench_config *c) {
    memset(t, 0, sizeof *t);
    t->c = c;
    t->P = ag_arena_new(0);
    t->S = ag_arena_new(0);
    ag_demo_gpt_config gc = {.vocab = VOCAB, .block_size = c->block, .n_layer = c->n_layer,
                             .n_embd = c->n_embd, .n_head = c->n_head,
                             .norm = AG_NORM_RMS(AG_RMSNORM_LLAMA), .act = AG_ACT_GELU};
    t->model = ag_demo_gpt_new(t->P, &gc, MODEL_SEED);
    ag_adam_opts ao = ag_adamw_defaults();
    ao.lr = 1e-3;
    ao.weight_decay = 0.01;
    t->opt = ag_adamw_new(t->P, ag_optim_groups_from_model(&t->model->base, t->P,
                                                           AG_OPTIM_INHERIT, 0.01), &ao);
    ag_rng_seed(&t->data, DATA_SEED);
    return t->model && t->opt;
}

static void trainer_free(trainer *t) {
    ag_arena_free(t->S);
    ag_arena_free(t->P);
}

/* ids [batch, block] and targets [batch*block]: random sequences of block+1
 * tokens, the targets shifted by one. */
static void random_batch(trainer *t, ag_tensor **ids, ag_tensor **targets) {
    const int B = t->c->batch, T = t->c->block;
    *ids = ag_empty(t->S, AG_I32, AG_SHAPE(B, T));
    *targets = ag_empty(t->S, AG_I32, AG_SHAPE((int64_t)B * T));
    int32_t *x = (*ids)->data, *y = (*targets)->data;
    for (int b = 0; b < B; b++) {
        int32_t prev = (int32_t)ag_rng_below(&t->data, VOCAB);
        for (int i = 0; i < T; i++) {
            int32_t next = (int32_t)ag_rng_below(&t->data, VOCAB);
            x[b * T + i] = prev;
            y[b * T + i] = next;
            prev = next;
        }
    }
}

/* One training step. split, when not NULL, accumulates the seconds of
 * forward (arena reset and batch included), backward and optimizer;
 * graph_size, when not NULL, receives the size of the recorded graph. */
static void train_step(trainer *t, double split[3], int64_t *graph_size) {
    double t0 = split ? ag_demo_now() : 0;
    ag_arena_reset(t->S);
    ag_tensor *ids, *targets;
    random_batch(t, &ids, &targets);
    ag_tensor *loss = ag_demo_gpt_loss(t->S, t->model, ids, targets);
    if (graph_size) *graph_size = ag_graph_size(loss);
    double t1 = split ? ag_demo_now() : 0;
    ag_backward(loss, NULL);
    double t2 = split ? ag_demo_now() : 0;
    ag_optim_step(t->opt);
    ag_optim_zero_grad(t->opt);
    if (split) {
        double t3 = ag_demo_now();
        split[0] += t1 - t0;
        split[1] += t2 - t1;
        split[2] += t3 - t2;
    }
    t->loss = ag_item(loss);
}

typedef struct {
    double median, min; /* seconds per step */
    int groups, per_group;
} timing;

/* Warm-up, group size, groups: see the top of the file. */
static timing time_steps(trainer *t, int groups) {
    for (int i = 0; i < t->c->warmup; i++) train_step(t, NULL, NULL);
    int n = 0;
    double t0 = ag_demo_now(), el;
    do {
        train_step(t, NULL, NULL);
        n++;
    } while ((el = ag_demo_now() - t0) < 0.05);
    int per = (int)ceil(GROUP_SECONDS / (el / n));
    if (per < 1) per = 1;
    double g[MAX_GROUPS];
    for (int k = 0; k < groups; k++) {
        double s = ag_demo_now();
        for (int i = 0; i < per; i++) train_step(t, NULL, NULL);
        g[k] = (ag_demo_now() - s) / per;
    }
    const double med = ag_demo_median(g, groups); /* sorts g */
    return (timing){med, g[0], groups, per};
}

/* Forward matmul FLOPs of one step (projections, MLP, attention, LM head);
 * a training step does about three times as many. */
static double forward_flops(const bench_config *c) {
    const double B = c->batch, T = c->block, C = c->n_embd, N = B * T;
    return c->n_layer * (24.0 * N * C * C + 4.0 * B * T * T * C) + 2.0 * N * C * VOCAB;
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

typedef struct {
    int steps;
    double fwd, bwd, opt; /* mean seconds per step */
    int64_t ops;          /* ops recorded per step */
    int nparams;          /* parameter tensors */
} breakdown;

/* Where a step goes: the size of the graph (one step), then steps more
 * steps with a clock read between the parts. */
static breakdown measure_breakdown(trainer *t, int steps) {
    double split[3] = {0, 0, 0};
    int64_t nodes = 0;
    train_step(t, NULL, &nodes);
    for (int i = 0; i < steps; i++) train_step(t, split, NULL);
    breakdown b = {steps, split[0] / steps, split[1] / steps, split[2] / steps, 0,
                   t->opt->nparams};
    b.ops = nodes - b.nparams; /* the graph holds every parameter as a leaf */
    return b;
}

/* "12.34 us" or "12.34 ms". */
static const char *fmt_us(double us, char *buf, size_t n) {
    if (us >= 1000)
        snprintf(buf, n, "%.4g ms", us / 1000);
    else
        snprintf(buf, n, "%.4g us", us);
    return buf;
}

static void print_breakdown(const char *name, const breakdown *b) {
    const double fwd = 1e6 * b->fwd, bwd = 1e6 * b->bwd, opt = 1e6 * b->opt,
                 total = fwd + bwd + opt, ops = (double)b->ops;
    char s[4][32];
    printf("%s step, mean of %d: %s = forward %s (%.0f%%) + backward %s (%.0f%%) + AdamW and "
           "zero_grad %s (%.0f%%)\n", name, b->steps, fmt_us(total, s[0], 32),
           fmt_us(fwd, s[1], 32), 100 * fwd / total, fmt_us(bwd, s[2], 32), 100 * bwd / total,
           fmt_us(opt, s[3], 32), 100 * opt / total);
    printf("  graph: %lld ops recorded per step (+ %d parameter leaves); mean time per op: "
           "forward %s, backward %s; AdamW: %s per parameter tensor\n",
           (long long)b->ops, b->nparams, fmt_us(fwd / ops, s[0], 32), fmt_us(bwd / ops, s[1], 32),
           fmt_us(opt / b->nparams, s[2], 32));
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    int threads = 1, groups = 7;
    bool csv = false, count = false, want[NCONFIGS];
    const char *config = "all";
    static const char *const choices[] = {"micro", "small", "all", NULL};
    const ag_demo_opt table[] = {
        {"config", AG_DEMO_STRING, &config, .choices = choices, .arg = "NAME",
         .help = "micro, small or all (all)"},
        {"threads", AG_DEMO_INT, &threads, 1, 1024, .arg = "N",
         .help = "OpenMP and OpenBLAS threads (1)"},
        {"groups", AG_DEMO_INT, &groups, 5, MAX_GROUPS, .arg = "K",
         .help = "timed groups of steps, >= 5 (7); the median is reported"},
        {"csv", AG_DEMO_FLAG, &csv,
         .help = "impl,config,threads,ms,tokens_per_s lines instead of a table"},
        {"count-params", AG_DEMO_FLAG, &count,
         .help = "print config,params lines (parameter counts) and exit"},
    };
    const ag_demo_cmd cmd = {
        "bench-train",
        "Training-step time of tinygpt's model (forward, cross-entropy, backward, AdamW).\n"
        "  micro: 1 layer, 16 dims, 4 heads, block 16, batch 1\n"
        "  small: 4 layers, 128 dims, 4 heads, block 64, batch 32\n",
        table, (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc;
    for (int i = 0; i < NCONFIGS; i++)
        want[i] = !strcmp(config, "all") || !strcmp(config, CONFIGS[i].name);
    ag_demo_set_threads(threads);

    if (count) {
        printf("config,params\n");
        for (int i = 0; i < NCONFIGS; i++) {
            if (!want[i]) continue;
            trainer t;
            if (!trainer_init(&t, &CONFIGS[i])) return 1;
            printf("%s,%lld\n", CONFIGS[i].name, (long long)ag_module_num_params(&t.model->base));
            trainer_free(&t);
        }
        return 0;
    }

    if (csv)
        printf("impl,config,threads,ms,tokens_per_s\n");
    else
        printf("bench-train: tinygpt's model (vocab %d, Llama RMSNorm, GELU), AdamW, random "
               "tokens; %d thread%s\n\n"
               "config  layers  dims  heads  block  batch    params   step ms (min)        "
               "tokens/s  GFLOP/s   groups\n",
               VOCAB, threads, threads == 1 ? "" : "s");
    breakdown parts[NCONFIGS];
    for (int i = 0; i < NCONFIGS; i++) {
        if (!want[i]) continue;
        const bench_config *c = &CONFIGS[i];
        trainer t;
        if (!trainer_init(&t, c)) return 1;
        timing tm = time_steps(&t, groups);
        if (!isfinite(t.loss)) {
            fprintf(stderr, "bench-train: %s: the loss is %g\n", c->name, t.loss);
            return 1;
        }
        const double tokens = (double)c->batch * c->block / tm.median;
        if (csv) {
            printf("ag,%s,%d,%.6f,%.1f\n", c->name, threads, 1e3 * tm.median, tokens);
        } else {
            char med[32], min[32];
            snprintf(med, sizeof med, "%.4g", 1e3 * tm.median);
            snprintf(min, sizeof min, "(%.4g)", 1e3 * tm.min);
            printf("%-6s  %6d  %4d  %5d  %5d  %5d  %8lld  %8s %-10s  %9.0f  %7.2f   %d x %d\n",
                   c->name, c->n_layer, c->n_embd, c->n_head, c->block, c->batch,
                   (long long)ag_module_num_params(&t.model->base), med, min, tokens,
                   3 * forward_flops(c) / tm.median / 1e9, tm.groups, tm.per_group);
            /* as many steps again, at least 20 */
            const int n = tm.groups * tm.per_group;
            parts[i] = measure_breakdown(&t, n < 20 ? 20 : n);
        }
        fflush(stdout);
        trainer_free(&t);
    }
    if (!csv) {
        printf("(median and min over the groups of the mean step time, after %d (micro) or %d "
               "(small) warm-up steps; GFLOP/s counts 3x the forward matmul FLOPs)\n\n",
               CONFIGS[0].warmup, CONFIGS[1].warmup);
        for (int i = 0; i < NCONFIGS; i++)
            if (want[i]) print_breakdown(CONFIGS[i].name, &parts[i]);
        double ffloor, bfloor;
        op_floor(&ffloor, &bfloor);
        printf("op floor (a chain of ag_mul_scalar on one element): forward %.0f ns, backward "
               "%.0f ns per op\n", 1e9 * ffloor, 1e9 * bfloor);
        for (int i = 0; i < NCONFIGS; i++) {
            if (!want[i]) continue;
            const double floor_us = 1e6 * (ffloor + bfloor) * (double)parts[i].ops;
            printf("  %s: %lld ops x the floor = %.3g us, %.2g%% of its forward + backward\n",
                   CONFIGS[i].name, (long long)parts[i].ops, floor_us,
                   floor_us / (1e4 * (parts[i].fwd + parts[i].bwd)));
        }
    }
    return 0;
}
