/* ag/engine.h — reverse-mode autodiff.
 *
 * Define-by-run: an op records its node (op, sources, saved values) in its
 * output tensor only when gradients are enabled and one of its inputs
 * requires a gradient. ag_backward orders the recorded graph topologically
 * without recursion and calls each node's backward once; gradients
 * accumulate with += into leaves' .grad, as in PyTorch.
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
#define ag_set_requires_grad(...) AG_AT(ag_set_requires_grad_, __VA_ARGS__)

/* Gradient recording for the calling thread: on by default. Returns the
 * previous state, so  bool was = ag_set_grad_enabled(false); ...;
 * ag_set_grad_enabled(was);  is a no-grad block. */
bool ag_set_grad_enabled(bool on);
bool ag_grad_enabled(void);

/* Backpropagates from out. grad_out is the gradient of the final quantity
 * with respect to out (same shape and dtype); NULL means 1 and needs a
 * one-element out. Leaves that require a gradient accumulate into .grad,
 * allocated zeroed in the leaf's own arena the first time. Gradients of
 * non-leaf tensors are recomputed from zero on every call and live in their
 * own arena; a non-leaf out's gradient is grad_out itself, not a copy
 * (out->grad == grad_out until the next backward). Returns false (after
 * reporting) on bad arguments. NULL grad_out always means 1, so a grad_out
 * from an op that failed cannot be told from it here: pass computed
 * gradients to ag_backward_from below. */
bool ag_backward_(ag_tensor *out, const ag_tensor *grad_out);
#define ag_backward(...) AG_AT(ag_backward_, __VA_ARGS__)

/* ag_backward with an explicit gradient: the same, except that a NULL
 * grad_out is the result of a failed op (already reported), not the seed 1,
 * so it returns false without running and without a second report. Use it
 * whenever grad_out is computed: ag_backward(y, g) with a g that failed
 * would silently seed 1. Also reported by both: out, grad_out or a node of
 * out's graph made before its arena was last reset (detected while the
 * tensor's memory has not been handed out again). */
bool ag_backward_from_(ag_tensor *out, const ag_tensor *grad_out);
#define ag_backward_from(...) AG_AT(ag_backward_from_, __VA_ARGS__)

/* Sets t's gradient to zero (keeps the buffer). NULL or no gradient: nothing. */
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
