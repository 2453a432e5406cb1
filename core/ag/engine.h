/* ag/engine.h — reverse-mode autodiff.
 *
 * Define-by-run: an op records its node (op, sources, saved values) in its
 * output tensor only when gradients are enabled and one of its inputs
 * requires a gradient. ag_backward orders the recorded graph topologically
 * without recursion and calls each node's backward once; gradients
 * accumulate with += into leaves' .grad, as in PyTorch.
 *
 * Threads. ag keeps no hidden state shared between threads except what is
 * listed here; everything else belongs to the objects the caller passes.
 *   Per thread (each thread starts with the default):
 *     - the last error and error count (ag_last_error, ag/error.h), the
 *       recorded call site, and the thread's own error handler
 *       (ag_set_thread_error_handler; none by default);
 *     - grad mode (ag_set_grad_enabled: on);
 *     - anomaly detection (ag_set_detect_anomaly: off);
 *     - the dropout generator override (ag_nn_set_thread_dropout_rng: none).
 *   Process-wide and safe from any thread at any time:
 *     - the process error handler (ag_set_error_handler; a report goes to
 *       the old or the new handler with its own data);
 *     - the norm registry (ag/registry.h): first use is seeded once, reads
 *       and registrations are locked;
 *     - the engine's graph generation (atomic), so backward passes over
 *       disjoint graphs may run at the same time.
 *   May be shared, read-only:
 *     - tensors and modules used only as inputs of forward ops (parameters
 *       included): an op reads its inputs and writes only its output, which
 *       lives in the arena passed to it. Several threads may run forward
 *       through one model, each with its own graph arena, as long as nobody
 *       writes the model meanwhile. Dropout in training mode advances the
 *       module's generator: give each thread its own
 *       (ag_nn_set_thread_dropout_rng, or ag_nn_dropout_forward_rng).
 *   Must not be used by two threads at once (serialise, or give each thread
 *   its own):
 *     - an arena (allocation, reset and free are unlocked);
 *     - backward through a graph that reaches a shared leaf: backward marks
 *       each node it visits (tensor .visit), allocates a leaf's .grad in the
 *       leaf's arena on first use and accumulates into it with +=, all
 *       unlocked. So two threads may not run backward through shared
 *       parameters at the same time; either each thread trains its own copy
 *       of the model (in its own arenas), or the backward passes are
 *       serialised (one mutex around ag_backward), and nothing reads the
 *       gradients while a backward is running;
 *     - anything that writes a model or a tensor: an optimizer (its step and
 *       zero_grad write the parameters and their state), ag_zero_grad,
 *       ag_module_train, ag_module_cast, ag_set_requires_grad, the init
 *       functions, ag_set_flat, ag_gradcheck (it perturbs its inputs and
 *       restores them);
 *     - one ag_rng (every draw advances it).
 *   Kernels may use an OpenMP team of their own inside one call; a user
 *   thread that runs a large op starts its own team (OMP_NUM_THREADS caps
 *   each team; set it to 1 when the program threads itself). ag owns the
 *   threads of its matrix products too: the first one sets OpenBLAS to one
 *   thread (openblas_set_num_threads(1), process-wide), and a product large
 *   enough is split into blocks of rows, one single-threaded gemm per thread
 *   of the calling thread's OpenMP team, so one pool of threads serves both.
 */
#ifndef AG_ENGINE_H
#define AG_ENGINE_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks a leaf as needing a gradient (or not). Reported for a non-leaf
 * (a tensor made by an op while recording) and for i32 tensors. */
void ag_set_requires_grad_(ag_tensor *t, bool on);
#define ag_set_requires_grad(...) AG_AT_VOID(ag_set_requires_grad_, __VA_ARGS__)

/* Gradient recording for the calling thread: on by default. Returns the
 * previous state, so  bool was = ag_set_grad_enabled(false); ...;
 * ag_set_grad_enabled(was);  is a no-grad block. */
bool ag_set_grad_enabled(bool on);
bool ag_grad_enabled(void);

/* Anomaly detection for the calling thread (PyTorch's detect_anomaly): off
 * by default; returns the previous state, like ag_set_grad_enabled. When on,
 * every op checks its output and reports the first op that PRODUCED a NaN or
 * an infinity: a NaN none of its inputs held, or an inf from inputs holding
 * neither NaN nor inf (what only travels through is not reported again, and
 * masked_fill's fill value is the caller's choice, never reported):
 *
 *   ag: log: anomaly: produced nan at element 1 of its output f32 [3] from
 *   inputs [3] holding no nan or inf (train.c:42)
 *
 * and each op records its caller's file and line in its output (t->site), so
 * that backward, which checks the gradients each node gives its inputs,
 * names the forward call of the node whose backward made a NaN or inf out of
 * a gradient holding neither:
 *
 *   ag: sqrt backward: anomaly: produced inf at element 0 of the gradient of
 *   input 0 (f32 [2]) from an output gradient [2] holding no nan or inf;
 *   the forward sqrt was called at train.c:40 (train.c:45)
 *
 * The report goes through the error handler. With a handler that returns,
 * the forward op that reported returns NULL, like any op that reports (and
 * later ops pass the NULL on: PyTorch raises); to look at the values, run
 * the same op again with the mode off. Backward stops at that node and
 * returns false, leaving the gradients made so far. Costs one branch per op when off; when
 * on, each op reads its output (and, if that holds a NaN or inf, its inputs)
 * and backward reads each node's gradients once more. */
bool ag_set_detect_anomaly(bool on);
bool ag_detect_anomaly(void);

/* Backpropagates from out. grad_out is the gradient of the final quantity
 * with respect to out (same shape and dtype); NULL means 1 and needs a
 * one-element out. Leaves that require a gradient accumulate into .grad,
 * allocated zeroed in the leaf's own arena the first time. Gradients of
 * non-leaf tensors are recomputed from zero on every call and live in their
 * own arena; a non-leaf out's gradient is grad_out itself, not a copy
 * (out->grad == grad_out until the next backward). Returns false (after
 * reporting) on bad arguments, and when a node's backward reports (a custom
 * op's check, ag/custom_op.h; memory for a gradient): the pass stops after
 * that node, leaving the gradients made so far. NULL grad_out always means 1, so a grad_out
 * from an op that failed cannot be told from it here: pass computed
 * gradients to ag_backward_from below. */
bool ag_backward_(ag_tensor *out, const ag_tensor *grad_out);
#define ag_backward(...) AG_AT_BOOL(ag_backward_, __VA_ARGS__)

/* ag_backward with an explicit gradient: the same, except that a NULL
 * grad_out is the result of a failed op (already reported), not the seed 1,
 * so it returns false without running and without a second report. Use it
 * whenever grad_out is computed: ag_backward(y, g) with a g that failed
 * would silently seed 1. Also reported by both: out, grad_out or a node of
 * out's graph made before its arena was last reset (detected while the
 * tensor's memory has not been handed out again). */
bool ag_backward_from_(ag_tensor *out, const ag_tensor *grad_out);
#define ag_backward_from(...) AG_AT_BOOL(ag_backward_from_, __VA_ARGS__)

/* Called by ag_backward_hooked for each leaf that requires a gradient, as
 * soon as the leaf's gradient is final for this pass (every node that uses
 * the leaf has run its backward), in the order backward finishes them. The
 * leaf's .grad may be NULL when no node gave it a gradient. The hook must not
 * run ag ops on the graph being differentiated; it may read leaf->grad. */
typedef void (*ag_leaf_hook)(ag_tensor *leaf, void *userdata);

/* ag_backward_from (grad_out NULL means 1, as in ag_backward, when the
 * output has one element) that calls hook(leaf, userdata) for each leaf of
 * out's graph whose gradient is final: data-parallel training starts sending
 * a group of gradients while backward goes on with the rest (ag/dist.h). A
 * NULL hook makes it ag_backward. */
bool ag_backward_hooked_(ag_tensor *out, const ag_tensor *grad_out, ag_leaf_hook hook,
                         void *userdata);
#define ag_backward_hooked(...) AG_AT_BOOL(ag_backward_hooked_, __VA_ARGS__)

/* ---- second derivatives ----------------------------------------------------
 *
 * A backward with create_graph records the gradient it computes: each node's
 * backward runs as ag ops (the op's vjp, ag/tensor.h), so a gradient is a
 * tensor with a graph of its own, and a function of it (a gradient penalty,
 * a dot product with a vector) can be differentiated again. A plain backward
 * is not changed by this: it still runs each op's kernel.
 *
 * What a recorded gradient costs: the ops of the backward pass, each with
 * its output in the arena of the node it differentiates (the compute arena
 * of a training step), kept until that arena is reset.
 */

/* ag_backward that records: every gradient it makes is a recorded tensor in
 * the arena of the node that produced it; a leaf's .grad becomes its old
 * .grad plus the recorded sum (torch's loss.backward(create_graph=True)).
 * That .grad then lives in a compute arena: call ag_zero_grad on the leaf
 * (which drops a recorded gradient) before that arena is reset. Prefer
 * ag_grad, which leaves .grad alone. Fails, naming it, at an op without a vjp. */
bool ag_backward_create_graph_(ag_tensor *out, const ag_tensor *grad_out);
#define ag_backward_create_graph(...) AG_AT_BOOL(ag_backward_create_graph_, __VA_ARGS__)

/* torch.autograd.grad: the gradients of the outputs with respect to inputs,
 * returned in grads[0..nin-1] instead of accumulated into .grad (no
 * tensor's .grad changes). The quantity differentiated is the sum over k of
 * <outputs[k], grad_outputs[k]>; grad_outputs NULL means 1 for each output
 * (one-element outputs only); a NULL entry in it is an earlier failure
 * (returns false, no second report). Each input must require a gradient;
 * one the outputs do not depend on gets zeros (PyTorch's
 * materialize_grads). With create_graph the gradients are recorded (they
 * require a gradient where the inputs do) and may be differentiated again;
 * without, they are plain tensors. Either way they are made in the arena
 * of outputs[0] (or of the nodes of the graph) and live until its reset.
 * Returns false after a report: bad arguments (as ag_backward, per output;
 * an input that does not require a gradient), or an op without a vjp on the
 * way with create_graph. */
bool ag_grad_(int nout, ag_tensor *const *outputs, ag_tensor *const *grad_outputs, int nin,
              ag_tensor *const *inputs, ag_tensor **grads, bool create_graph);
#define ag_grad(...) AG_AT_BOOL(ag_grad_, __VA_ARGS__)

/* Sets t's gradient to zero (keeps the buffer). NULL or no gradient:
 * nothing. A recorded gradient (one a backward with create_graph made) is
 * dropped instead: t->grad becomes NULL. */
void ag_zero_grad(ag_tensor *t);

/* A new leaf in A sharing t's data, with no graph and no gradient. */
ag_tensor *ag_detach_(ag_arena *A, ag_tensor *t);
#define ag_detach(...) AG_AT(ag_detach_, __VA_ARGS__)

/* True for a tensor no op recorded (made by a creation function, or by an
 * op while nothing required a gradient). */
bool ag_is_leaf(const ag_tensor *t);

/* Number of nodes reachable from out through recorded ops (out included). */
int64_t ag_graph_size(ag_tensor *out);

#ifdef __cplusplus
}
#endif
#endif
