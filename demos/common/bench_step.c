/* demos/common/bench_step.c — see bench_step.h. */
#include "bench_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define MODEL_SEED 42
#define DATA_SEED 1234
#define GROUP_SECONDS 0.2
#define MAX_GROUPS 1000

bool ag_bench_trainer_init(ag_bench_trainer *t, const ag_bench_config *c) {
    memset(t, 0, sizeof *t);
    t->c = c;
    t->P = ag_arena_new(0);
    t->S = ag_arena_new(0);
    ag_demo_gpt_config gc = {.vocab = AG_BENCH_VOCAB, .block_size = c->block,
                             .n_layer = c->n_layer, .n_embd = c->n_embd, .n_head = c->n_head,
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

void ag_bench_trainer_free(ag_bench_trainer *t) {
    ag_arena_free(t->S);
    ag_arena_free(t->P);
}

/* ids [batch, block] and targets [batch*block]: random sequences of block+1
 * tokens, the targets shifted by one. */
static void random_batch(ag_bench_trainer *t, ag_tensor **ids, ag_tensor **targets) {
    const int B = t->c->batch, T = t->c->block;
    *ids = ag_empty(t->S, AG_I32, AG_SHAPE(B, T));
    *targets = ag_empty(t->S, AG_I32, AG_SHAPE((int64_t)B * T));
    int32_t *x = (*ids)->data, *y = (*targets)->data;
    for (int b = 0; b < B; b++) {
        int32_t prev = (int32_t)ag_rng_below(&t->data, AG_BENCH_VOCAB);
        for (int i = 0; i < T; i++) {
            int32_t next = (int32_t)ag_rng_below(&t->data, AG_BENCH_VOCAB);
            x[b * T + i] = prev;
            y[b * T + i] = next;
            prev = next;
        }
    }
}

void ag_bench_step(ag_bench_trainer *t, double split[3], int64_t *graph_size) {
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

/* One step's matrix products, traced with the op kinds that made them;
 * NULL after a report. *gflop gets their GFLOP (2 M N K each). */
static ag_profile *trace_step(ag_bench_trainer *t, double *gflop) {
    ag_profile *p = ag_profile_new(AG_PROFILE_GEMMS | AG_PROFILE_OPS);
    if (!p || !ag_profile_begin(p)) {
        ag_profile_free(p);
        return NULL;
    }
    ag_bench_step(t, NULL, NULL);
    ag_profile_end(p);
    int64_t n;
    const ag_gemm_call *g = ag_profile_gemms(p, &n);
    double flop = 0;
    for (int64_t i = 0; i < n; i++) flop += 2.0 * (double)g[i].M * (double)g[i].N * (double)g[i].K;
    *gflop = flop / 1e9;
    return p;
}

bool ag_bench_time_steps(ag_bench_trainer *t, int groups, ag_bench_timing *tm) {
    for (int i = 0; i < t->c->warmup; i++) ag_bench_step(t, NULL, NULL);
    ag_profile *p = trace_step(t, &tm->gflop);
    if (!p) return false;
    int n = 0;
    double t0 = ag_demo_now(), el;
    do {
        ag_bench_step(t, NULL, NULL);
        n++;
    } while ((el = ag_demo_now() - t0) < 0.05);
    int per = (int)ceil(GROUP_SECONDS / (el / n));
    if (per < 1) per = 1;
    double step[MAX_GROUPS], replay[MAX_GROUPS], ratio[MAX_GROUPS];
    if (groups > MAX_GROUPS) groups = MAX_GROUPS;
    for (int k = 0; k < groups; k++) {
        double s = ag_demo_now();
        for (int i = 0; i < per; i++) ag_bench_step(t, NULL, NULL);
        step[k] = (ag_demo_now() - s) / per;
        replay[k] = ag_profile_gemm_replay(p, 1);
        if (replay[k] < 0) {
            ag_profile_free(p);
            return false;
        }
        ratio[k] = replay[k] > 0 ? step[k] / replay[k] : 0;
        const ag_profile_op *ops = ag_profile_ops(p, &tm->nkinds);
        for (int i = 0; i < tm->nkinds; i++) {
            if (k == 0) tm->kinds[i] = (ag_profile_op){.name = ops[i].name};
            tm->kinds[i].gemm_seconds += ops[i].gemm_seconds / groups;
        }
    }
    ag_profile_free(p);
    tm->groups = groups;
    tm->per_group = per;
    tm->over_floor = ag_demo_median(ratio, groups);
    tm->floor = ag_demo_median(replay, groups);
    tm->median = ag_demo_median(step, groups); /* sorts step */
    tm->min = step[0];
    return true;
}

static int by_total(const void *a, const void *b) {
    const ag_profile_op *x = a, *y = b;
    const double tx = x->fwd_seconds + x->bwd_seconds, ty = y->fwd_seconds + y->bwd_seconds;
    return (tx < ty) - (tx > ty);
}

bool ag_bench_profile_steps(ag_bench_trainer *t, int steps, ag_bench_profile *b) {
    ag_profile *p = ag_profile_new(AG_PROFILE_OPS);
    if (!p) return false;
    double split[3] = {0, 0, 0};
    for (int i = 0; i < steps; i++) {
        ag_profile_begin(p);
        ag_bench_step(t, split, NULL);
        ag_profile_end(p);
    }
    int n;
    const ag_profile_op *ops = ag_profile_ops(p, &n);
    b->steps = steps;
    b->fwd = split[0] / steps;
    b->bwd = split[1] / steps;
    b->opt = split[2] / steps;
    b->nkinds = n;
    memcpy(b->kinds, ops, (size_t)n * sizeof *ops);
    qsort(b->kinds, (size_t)n, sizeof *ops, by_total);
    ag_profile_free(p);
    return true;
}
