/* demos/common/bench_step.h — bench-train's measurements of one training
 * step of tinygpt's model: the step, its timing, its matmul floor and where
 * its time goes by op kind. Not part of the library.
 *
 * One step is what tinygpt's training loop does, without its gradient
 * clipping and learning-rate schedule: reset the step arena, make the batch,
 * forward and cross-entropy loss, backward, AdamW step (lr 1e-3, weight
 * decay 0.01 on the matrices, none on the norm weights), zero_grad. Data:
 * every step draws batch sequences of block+1 uniformly random token ids
 * from an ag_rng seeded with 1234; the inputs are the first block ids, the
 * targets the last block. The model: vocabulary 27, Llama RMSNorm, exact
 * GELU, no biases, GPT-2 initialisation from seed 42.
 */
#ifndef AG_DEMO_BENCH_STEP_H
#define AG_DEMO_BENCH_STEP_H

#include <ag/ag.h>

#include "tinygpt_model.h"

#define AG_BENCH_VOCAB 27

/* A configuration: name, model size, batch, warm-up steps. */
typedef struct {
    const char *name;
    int n_layer, n_embd, n_head, block, batch, warmup;
} ag_bench_config;

typedef struct {
    const ag_bench_config *c;
    ag_arena *P, *S;  /* parameters and optimizer state; one step */
    ag_demo_gpt *model;
    ag_optim *opt;
    ag_rng data;
    double loss;      /* of the last step */
} ag_bench_trainer;

/* The model, optimizer and data generator of c (which must outlive t);
 * false when they cannot be made (reported by the library). */
bool ag_bench_trainer_init(ag_bench_trainer *t, const ag_bench_config *c);
void ag_bench_trainer_free(ag_bench_trainer *t);

/* One training step. split, when not NULL, accumulates the seconds of
 * forward (arena reset and batch included), backward and optimizer;
 * graph_size, when not NULL, receives the size of the recorded graph. */
void ag_bench_step(ag_bench_trainer *t, double split[3], int64_t *graph_size);

/* A configuration's step time and its matmul floor: the time of the step's
 * own matrix products alone, one step's gemm calls (an ag_profile's trace)
 * replayed back to back (ag_profile_gemm_replay). */
typedef struct {
    double median, min;  /* seconds per step: over the groups' mean step times */
    double floor;        /* seconds: the median of the replays */
    double over_floor;   /* the median over the groups of step time / floor */
    double gflop;        /* the traced products' GFLOP (2 M N K each) */
    int groups, per_group;
    /* the traced step's op kinds; gemm_seconds: the mean over the replays of
     * the time the kind's products took */
    ag_profile_op kinds[AG_PROFILE_MAX_KINDS];
    int nkinds;
} ag_bench_timing;

/* c->warmup steps, one step traced, a group size near 0.2 s (at least one
 * step), then groups rounds of a timed group of steps and a replay of the
 * trace (each group's steps set against the replay that follows them, so
 * that the machine's drift is in both). false when the profile cannot be
 * made (reported by the library). */
bool ag_bench_time_steps(ag_bench_trainer *t, int groups, ag_bench_timing *tm);

/* Where steps go: steps steps, each under an op profile (copied into
 * kinds, sorted by forward + backward time, at most max of them, *nkinds),
 * with the clock read between forward, backward and optimizer (split, the
 * mean seconds per step). */
typedef struct {
    int steps;
    double fwd, bwd, opt; /* mean seconds per step */
    ag_profile_op kinds[AG_PROFILE_MAX_KINDS];
    int nkinds;
} ag_bench_profile;

/* Fills b from steps profiled steps; false when the profile cannot be made. */
bool ag_bench_profile_steps(ag_bench_trainer *t, int steps, ag_bench_profile *b);

#endif
