/* ag/profile.h — where the time of a computation goes: per op kind, and the
 * matrix products it made.
 *
 *   ag_profile *p = ag_profile_new(AG_PROFILE_OPS | AG_PROFILE_GEMMS);
 *   ag_profile_begin(p);
 *   ... forward, ag_backward ...
 *   ag_profile_end(p);
 *   int n;
 *   const ag_profile_op *ops = ag_profile_ops(p, &n);     per op kind
 *   double floor = ag_profile_gemm_replay(p, 5);          the products alone
 *                                                         (and per op kind)
 *   ag_profile_free(p);
 *
 * A profile counts what its thread does between ag_profile_begin and
 * ag_profile_end (the active profile is per thread, as grad mode is; work
 * that ops hand to OpenMP threads is inside the op's time). What is counted:
 *
 *   forward   per op kind (the name in the op's ag_op: "matmul", "gelu",
 *             "rms_norm", a custom op's own name), one call for every op
 *             that reaches its exit (ag__record inside the library,
 *             ag_op_record for custom ops), with gradients on or off; its
 *             time runs from the allocation of its output to its exit: the
 *             kernel and the recording, not the argument checks before the
 *             output is made. An op that runs other ops inside that
 *             interval (a cast, a composed part) is charged its own time
 *             less theirs, and they are counted under their own names, so
 *             no time is counted twice and the forward times add up to at
 *             most the wall time.
 *   backward  per op kind, one call and its time for every node whose
 *             backward the engine runs (ag_backward and the others, ag_grad;
 *             a recorded pass times the node's vjp). Ops that a node's
 *             backward runs (a vjp's ops, a gradient buffer) are part of
 *             that node's time, not forward calls. The walk's own work (the
 *             sort, the seed) is in no op.
 *   gemms     with AG_PROFILE_GEMMS, every matrix product the library makes
 *             on this thread (its one internal gemm, under matmul, linear
 *             and the others; one entry per product however it is split
 *             over threads; the fused attention's tile products, which it
 *             computes in its own loops, as the dense gemm each stands
 *             for), in order: transposes, M, N, K, leading
 *             dimensions, dtype, alpha, beta and (with AG_PROFILE_OPS) the
 *             op kind that made it. ag_profile_gemm_replay runs them again.
 *             Products made on the other threads of an op's OpenMP team are
 *             missing: the fused attention's tile products when it runs on
 *             more than one thread, so take a trace at one thread.
 *
 * Without an active profile nothing is recorded and each tensor made, op
 * exit and product costs a call that tests one thread-local pointer; a
 * backward pass tests it once. A profile must be ended on the thread that
 * began it, and is not read while it is active on another thread.
 */
#ifndef AG_PROFILE_H
#define AG_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a profile records (ag_profile_new's flags). */
enum {
    AG_PROFILE_OPS = 1,   /* counts and times per op kind */
    AG_PROFILE_GEMMS = 2, /* the trace of the matrix products */
};

/* The op kinds a profile keeps apart; further kinds are added to one entry
 * named "(other kinds)". */
#define AG_PROFILE_MAX_KINDS 256

typedef struct ag_profile ag_profile;

/* One op kind's totals. name is the ag_op's own pointer (static in the
 * library; a custom op's must outlive the profile's use). gemm_seconds: the
 * time this kind's matrix products took in the last ag_profile_gemm_replay
 * (its median replay), 0 before one. */
typedef struct ag_profile_op {
    const char *name;
    int64_t fwd_calls, bwd_calls;
    double fwd_seconds, bwd_seconds;
    double gemm_seconds;
} ag_profile_op;

/* One matrix product, as the library's gemm took it: row-major
 * C[M,N] = alpha op(A) op(B) + beta C, op(X) = X^T when ta (tb) is set, A
 * [M,K] ([K,M] when ta) with row stride lda, B [K,N] ([N,K] when tb) with
 * ldb, C with ldc; dtype AG_F32 or AG_F64. */
typedef struct ag_gemm_call {
    bool ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    ag_dtype dtype;
    double alpha, beta;
    const char *op; /* the op kind whose forward or backward made it, when the
                       profile records AG_PROFILE_OPS too (NULL otherwise) */
} ag_gemm_call;

/* A new, empty, inactive profile recording what flags ask for (a nonzero
 * mix of AG_PROFILE_OPS and AG_PROFILE_GEMMS); the caller frees it with
 * ag_profile_free. Reports other flags, or no memory, and returns NULL. */
ag_profile *ag_profile_new_(unsigned flags);
#define ag_profile_new(...) AG_AT_PTR(ag_profile_new_, ag_profile *, __VA_ARGS__)

/* Ends p if it is this thread's active profile, then frees it; NULL: no-op.
 * Not while p is active on another thread. */
void ag_profile_free(ag_profile *p);

/* Makes p this thread's active profile; what it already holds is kept (it
 * adds up over several begin/end pairs). Reports and returns false when p
 * is NULL, already active (here or on another thread), or another profile
 * is active on this thread. */
bool ag_profile_begin_(ag_profile *p);
#define ag_profile_begin(...) AG_AT_BOOL(ag_profile_begin_, __VA_ARGS__)

/* Stops p recording. Reports and returns false when p is not this thread's
 * active profile. */
bool ag_profile_end_(ag_profile *p);
#define ag_profile_end(...) AG_AT_BOOL(ag_profile_end_, __VA_ARGS__)

/* Empties p (counts and trace); it stays active or inactive. NULL: no-op. */
void ag_profile_clear(ag_profile *p);

/* p's op kinds in the order they first ran, *n of them; the array is p's
 * and stays valid (and is updated) until ag_profile_free. NULL p: NULL, 0.
 * n may be NULL (the count is then not written); so for ag_profile_gemms. */
const ag_profile_op *ag_profile_ops(const ag_profile *p, int *n);

/* p's matrix products in the order they ran, *n of them; the array is p's
 * and valid until the next product, ag_profile_clear or ag_profile_free.
 * NULL p: NULL, 0. */
const ag_gemm_call *ag_profile_gemms(const ag_profile *p, int64_t *n);

/* The matmul floor: runs p's products back to back, through the same gemm
 * and on the same threads as the library, on buffers allocated and filled
 * once (one per operand, each as large as the largest the trace needs, so
 * operands are as warm as the cache allows): one untimed replay, then reps
 * timed ones. Returns the median seconds of one replay (0 for an empty
 * trace), and sets each op kind's gemm_seconds to what its products took
 * in that replay (the mean of the two middle ones for an even reps); the
 * kinds' shares add up to the total less the products made outside any op.
 * A run of products of one kind is timed as a whole, so the clock is read
 * once per run, not per product. The operand buffers stay with p for the
 * next replay (ag_profile_free frees them). Nothing else is recorded meanwhile, in p
 * or in this thread's active profile. Reports and returns -1 when p is
 * NULL, was made without AG_PROFILE_GEMMS, reps < 1, or the buffers cannot
 * be allocated. */
double ag_profile_gemm_replay_(ag_profile *p, int reps);
#define ag_profile_gemm_replay(...) AG_AT_DOUBLE(ag_profile_gemm_replay_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
