/* demos/bench_ddp.c — data-parallel training steps against one process,
 * measured in the same run.
 *
 *   mpirun -np 2 bench-ddp [--layers L] [--embd C] [--batch B] [--steps N] ...
 *
 * The model is tinygpt's (demos/common/tinygpt_model.c; vocabulary 27,
 * Llama RMSNorm, exact GELU), trained with AdamW on uniformly random token
 * sequences of block+1 ids (every target counts). A step is: forward and
 * loss on this rank's share of the global batch, backward with the
 * gradient sums of ag_dist, clip, AdamW step.
 *
 * Three phases, each warm-up steps then --steps timed steps:
 *   1. rank 0 alone trains on the whole global batch while the other ranks
 *      wait (the one-process reference, on a machine otherwise idle);
 *   2. every rank on its share, the sums overlapping backward;
 *   3. the same, the sums after backward.
 * Reported per phase: ms per step (the slowest rank's, as that is the
 * step), tokens/s of the global batch, the speed-up over phase 1, and the
 * share of the step each rank spent in communication (packing, sums,
 * waiting for the others), from ag_dist_comm_seconds.
 *
 * Run without mpirun it measures phase 1 only.
 */
#include <ag/ag.h>
#include <ag/dist.h>

#include "common/demo.h"
#include "common/demo_opts.h"
#include "common/tinygpt_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VOCAB 27

typedef struct {
    int n_layer, n_embd, n_head, block, batch, steps, warmup, bucket_kb, threads;
} options;

typedef struct {
    double ms;    /* per step, the slowest rank's */
    double comm;  /* share of the step in communication, the largest rank's */
} timing;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.n_layer = 4, .n_embd = 128, .n_head = 4, .block = 64, .batch = 32,
                   .steps = 20, .warmup = 3, .bucket_kb = 1024, .threads = 1};
    const ag_demo_opt table[] = {
        {"layers", AG_DEMO_INT, &o->n_layer, 1, 64, .arg = "N", .help = "blocks (4)"},
        {"embd", AG_DEMO_INT, &o->n_embd, 1, 4096, .arg = "N", .help = "width (128)"},
        {"heads", AG_DEMO_INT, &o->n_head, 1, 4096, .arg = "N",
         .help = "heads, dividing --embd (4)"},
        {"block", AG_DEMO_INT, &o->block, 2, 1024, .arg = "N", .help = "block size (64)"},
        {"batch", AG_DEMO_INT, &o->batch, 1, 65536, .arg = "N",
         .help = "global batch, sequences (32)"},
        {"steps", AG_DEMO_INT, &o->steps, 1, 100000, .arg = "N",
         .help = "timed steps per phase (20)"},
        {"warmup", AG_DEMO_INT, &o->warmup, 0, 100000, .arg = "N",
         .help = "untimed steps before each phase (3)"},
        {"bucket-kb", AG_DEMO_INT, &o->bucket_kb, 1, 1 << 20, .arg = "N",
         .help = "gradient bucket size in KiB (1024)"},
        {"threads", AG_DEMO_INT, &o->threads, 1, 1024, .arg = "N",
         .help = "OpenMP and OpenBLAS threads per rank (1)"},
    };
    const ag_demo_cmd cmd = {"bench-ddp",
                             "Data-parallel steps of the tiny GPT against one process.\n",
                             table, (int)(sizeof table / sizeof table[0])};
    const int rc = ag_demo_opts_parse(&cmd, argc, argv);
    if (rc >= 0) return rc == 0 ? -1 : rc;
    if (o->n_embd % o->n_head)
        return ag_demo_opts_fail(&cmd, "heads", "--embd %d is not divisible by --heads %d",
                                 o->n_embd, o->n_head);
    if (o->batch < ag_dist_world_size())
        return ag_demo_opts_fail(&cmd, "batch", "--batch %d is less than one sequence per "
                                 "rank (%d ranks)", o->batch, ag_dist_world_size());
    return 0;
}

typedef struct {
    ag_demo_gpt *g;
    ag_optim *opt;
    ag_dist *dist;
} trainee;

static trainee make(ag_arena *P, const options *o, bool overlap) {
    const ag_demo_gpt_config c = {.vocab = VOCAB, .block_size = o->block, .n_layer = o->n_layer,
                                  .n_embd = o->n_embd, .n_head = o->n_head,
                                  .norm = AG_NORM_RMS(AG_RMSNORM_LLAMA), .act = AG_ACT_GELU};
    trainee t = {ag_demo_gpt_new(P, &c, 42), NULL, NULL};
    ag_adam_opts ao = ag_adamw_defaults();
    ao.lr = 1e-3;
    t.opt = ag_adamw_new(P, ag_optim_groups_from_model(&t.g->base, P, AG_OPTIM_INHERIT, 0.01),
                         &ao);
    ag_dist_opts d = ag_dist_defaults();
    d.bucket_bytes = (size_t)o->bucket_kb << 10;
    d.overlap = overlap;
    t.dist = ag_dist_new(P, &t.g->base, &d);
    return t;
}

/* steps steps of n sequences each; with dist the gradients are summed over
 * the ranks (and each rank's loss is a 1/world share of the mean). */
static double run_steps(trainee *t, ag_arena *S, ag_rng *r, const options *o, int64_t n,
                        bool dist, int steps) {
    const double t0 = now();
    const int64_t T = o->block;
    for (int s = 0; s < steps; s++) {
        ag_arena_reset(S);
        ag_tensor *ids = ag_empty(S, AG_I32, AG_SHAPE(n, T));
        ag_tensor *tgt = ag_empty(S, AG_I32, AG_SHAPE(n * T));
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j <= T; j++) {
                const int32_t v = (int32_t)ag_rng_below(r, VOCAB);
                if (j < T) ((int32_t *)ids->data)[i * T + j] = v;
                if (j > 0) ((int32_t *)tgt->data)[i * T + j - 1] = v;
            }
        ag_tensor *loss = ag_demo_gpt_loss(S, t->g, ids, tgt);
        if (dist) {
            loss = ag_mul_scalar(S, loss, (double)n / o->batch);
            ag_dist_backward(t->dist, loss);
        } else
            ag_backward(loss, NULL);
        ag_optim_clip_grad_norm(t->opt, 1.0, false);
        ag_optim_step(t->opt);
        ag_optim_zero_grad(t->opt);
    }
    return now() - t0;
}

/* The slowest rank's value (every rank gets it). */
static double slowest(ag_dist *d, double v) {
    const int w = ag_dist_world_size(), me = ag_dist_rank();
    double all[64] = {0};
    if (w > 64) return v;
    all[me] = v;
    ag_dist_sum_f64(d, all, w);
    double m = 0;
    for (int i = 0; i < w; i++) m = all[i] > m ? all[i] : m;
    return m;
}

/* A data-parallel phase: every rank on its share. */
static timing phase(const options *o, bool overlap) {
    ag_arena *P = ag_arena_new(0), *S = ag_arena_new(0);
    trainee t = make(P, o, overlap);
    ag_rng r;
    ag_rng_seed(&r, 1234 + (uint64_t)ag_dist_rank());
    int64_t first, n;
    ag_dist_shard(o->batch, &first, &n);
    run_steps(&t, S, &r, o, n, true, o->warmup);
    const double c0 = ag_dist_comm_seconds(t.dist);
    const double secs = run_steps(&t, S, &r, o, n, true, o->steps);
    const double comm = ag_dist_comm_seconds(t.dist) - c0;
    timing tm = {1e3 * slowest(t.dist, secs) / o->steps, slowest(t.dist, comm / secs)};
    ag_arena_free(S);
    ag_arena_free(P);
    return tm;
}

/* Rank 0 alone on the whole batch; the others wait for it. */
static double alone(const options *o) {
    ag_arena *P = ag_arena_new(0), *S = ag_arena_new(0);
    trainee t = make(P, o, true);
    double secs = 0;
    if (ag_dist_rank() == 0) {
        ag_rng r;
        ag_rng_seed(&r, 1234);
        run_steps(&t, S, &r, o, o->batch, false, o->warmup);
        secs = run_steps(&t, S, &r, o, o->batch, false, o->steps);
    }
    const double ms = 1e3 * slowest(t.dist, secs) / o->steps;
    ag_arena_free(S);
    ag_arena_free(P);
    return ms;
}

int main(int argc, char **argv) {
    if (!ag_dist_init(&argc, &argv)) return 1;
    if (ag_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) return 1;
    options o;
    const int rc = parse(argc, argv, &o);
    if (rc > 0) return rc;
    if (rc < 0) {
        ag_dist_finalize();
        return 0;
    }
    ag_demo_set_threads(o.threads);
    const int w = ag_dist_world_size();
    const double tokens = (double)o.batch * o.block;
    printf("bench-ddp: %d rank%s x %d thread%s; %d layers, %d dims, %d heads, block %d; global "
           "batch %d sequences; %d timed steps per phase; buckets %d KiB\n",
           w, w == 1 ? "" : "s", o.threads, o.threads == 1 ? "" : "s", o.n_layer, o.n_embd,
           o.n_head, o.block, o.batch, o.steps, o.bucket_kb);
    const double ref = alone(&o);
    printf("%-34s %9.2f ms/step %10.0f tok/s\n", "one process (rank 0 alone)", ref,
           tokens / ref * 1e3);
    if (w > 1) {
        for (int k = 0; k < 2; k++) {
            const timing tm = phase(&o, k == 0);
            char name[64];
            snprintf(name, sizeof name, "%d ranks, sums %s", w, k == 0 ? "during backward"
                                                                        : "after backward");
            printf("%-34s %9.2f ms/step %10.0f tok/s  %.2fx one process, communication "
                   "%.0f%% of the step\n", name, tm.ms, tokens / tm.ms * 1e3, ref / tm.ms,
                   100 * tm.comm);
        }
    }
    fflush(stdout);
    ag_dist_finalize();
    return 0;
}
