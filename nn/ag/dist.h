/* ag/dist.h — data-parallel training over MPI (library ag_dist).
 *
 * N processes each hold the whole model, each runs forward and backward on
 * its own part of every global batch, and the gradients are summed over the
 * processes before the optimizer step, so every process takes the same step
 * (PyTorch's DistributedDataParallel). A training script adds:
 *
 *   ag_dist_init(&argc, &argv);                     at the top of main
 *   ag_dist *dd = ag_dist_new(P, model, NULL);      after building the model
 *   ag_dist_shard(batch, &first, &count);           which items are this rank's
 *   ...forward on those items, loss scaled to its share of the global mean...
 *   ag_dist_backward(dd, loss);                     instead of ag_backward
 *   ...clip, step as before...
 *   ag_dist_finalize();                             at the end
 *
 * and is started with `mpirun -np 2 prog ...`. Started without mpirun (or
 * when the library was built without MPI: ag_dist_available() false) it is
 * one process of a world of one, and every call here is cheap and changes
 * nothing, so the same script runs either way.
 *
 * What is the same as one process. The sum over ranks of each rank's
 * gradient of its part of the loss is the gradient of the whole loss; only
 * the order of the additions differs. Each rank sums over its own items
 * (inside its matmuls), then the ranks' sums are added by MPI_Allreduce,
 * which gives every rank the same bits (Open MPI's algorithms for a sum
 * either reduce each element once and share it, or add the same two
 * partial sums in either order, and IEEE addition is commutative). So the
 * replicas stay equal bit for bit, and they differ from one process on the
 * same global batch by rounding only: one rounding per addition regrouped,
 * about log2(N) + log2(items) ulps of a gradient element. docs/distributed.md
 * gives the figures measured over whole runs.
 *
 * The gradients go through buckets: flat buffers of about bucket_bytes,
 * filled with the trainable parameters in the reverse of their module order
 * (the order backward finishes them), f64 parameters in f64 buckets, f32 and
 * bf16 ones in f32 buckets (bf16 gradients are summed in f32 and rounded
 * back to nearest even). With overlap on, ag_dist_backward starts a bucket's
 * all-reduce (MPI_Iallreduce) as soon as backward has finished all of its
 * gradients, while backward goes on with the rest; buckets start in their
 * index order on every rank, as MPI requires.
 *
 * Faults. Every collective waits at most timeout seconds; then the rank
 * prints "ag: dist: rank R: no answer from the other ranks after S s in
 * WHAT" and ends the job (MPI_Abort), so a rank that died or stopped never
 * leaves the others hanging. Errors of MPI itself are turned into the same
 * kind of line. A model that differs between ranks (parameter count, a
 * name, dtype or shape) is found by ag_dist_new, which names the first
 * parameter that differs.
 *
 * Threads: only the thread that called ag_dist_init may call these
 * (MPI_THREAD_FUNNELED); OpenMP inside ops is fine.
 */
#ifndef AG_DIST_H
#define AG_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* True when ag_dist was built with MPI. */
bool ag_dist_available(void);

/* Starts MPI when the process was launched by mpirun (or another MPI
 * launcher); otherwise the process is rank 0 of a world of one. Returns
 * false after printing one line to stderr when MPI fails to start. Call it
 * once, before anything else that reads argv. */
bool ag_dist_init(int *argc, char ***argv);

/* Ends MPI (when ag_dist_init started it). */
void ag_dist_finalize(void);

/* This process's rank (0..world-1) and the number of processes. Before
 * ag_dist_init: 0 and 1. */
int ag_dist_rank(void);
int ag_dist_world_size(void);

/* Items [*first, *first + *count) of n are this rank's: n split into
 * world-size parts as equal as possible, the first n % world ranks taking
 * one more, in rank order (the same items as one process, split). */
void ag_dist_shard(int64_t n, int64_t *first, int64_t *count);

typedef struct ag_dist_opts {
    size_t bucket_bytes; /* a bucket's size; 0: 1 MiB */
    bool overlap;        /* all-reduce buckets while backward runs */
    bool average;        /* divide the summed gradients by the world size
                            (PyTorch's DDP, for a mean loss over equal
                            shards); false: the sum */
    double timeout;      /* seconds a collective may wait; 0: 300 */
} ag_dist_opts;

/* overlap on, average off, 1 MiB buckets, 300 s. */
ag_dist_opts ag_dist_defaults(void);

typedef struct ag_dist ag_dist;

/* Sets up data parallelism for model m (its parameters that require a
 * gradient, in m's module order): checks that every rank has the same
 * parameters (names, dtypes, shapes; a difference is reported naming the
 * first parameter that differs, on every rank), copies rank 0's parameter
 * values to the others, and plans the buckets. The object and its buffers
 * live in P. Collective: every rank calls it. NULL opts: ag_dist_defaults.
 * Returns NULL after a report. */
ag_dist *ag_dist_new_(ag_arena *P, ag_module *m, const ag_dist_opts *opts);
#define ag_dist_new(...) AG_AT_PTR(ag_dist_new_, ag_dist *, __VA_ARGS__)

/* Backward from loss (one element; its gradient 1) on this rank, then the
 * gradients of m's parameters summed (or averaged) over all ranks. With
 * overlap, the sums of finished buckets run during backward. Collective.
 * Returns false after a report (backward's), or exits the job on a timeout. */
bool ag_dist_backward_(ag_dist *d, ag_tensor *loss);
#define ag_dist_backward(...) AG_AT_BOOL(ag_dist_backward_, __VA_ARGS__)

/* The same reduction for gradients already made by ag_backward (no overlap).
 * Collective. */
bool ag_dist_allreduce_grads_(ag_dist *d);
#define ag_dist_allreduce_grads(...) AG_AT_BOOL(ag_dist_allreduce_grads_, __VA_ARGS__)

/* v[0..n) summed over all ranks, in place (every rank gets the same bits):
 * token counts, losses. Collective. Returns false after a report. */
bool ag_dist_sum_f64_(ag_dist *d, double *v, int n);
#define ag_dist_sum_f64(...) AG_AT_BOOL(ag_dist_sum_f64_, __VA_ARGS__)

/* Time this rank has spent in communication since ag_dist_new: waiting for
 * reductions and broadcasts, packing and unpacking buckets (seconds). */
double ag_dist_comm_seconds(const ag_dist *d);

/* The bucket plan: how many buckets, and which bucket parameter i (module
 * order, trainable only) went to. -1 for i out of range. */
int ag_dist_num_buckets(const ag_dist *d);
int ag_dist_bucket_of(const ag_dist *d, int i);

#ifdef __cplusplus
}
#endif
#endif
