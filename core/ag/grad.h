/* ag/grad.h — small conveniences around gradients: a scoped no-grad block,
 * and reading or preparing a tensor's gradient before the first backward
 * (PyTorch's `with torch.no_grad():` and `p.grad`).
 */
#ifndef AG_GRAD_H
#define AG_GRAD_H

#include "engine.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A block run with gradient recording switched to `on` (AG_NO_GRAD: off,
 * AG_ENABLE_GRAD: on) on the calling thread; the previous mode comes back
 * when the block ends, and also when `break` or `continue` leaves it (they
 * leave the block, not a loop around it):
 *
 *   AG_NO_GRAD {
 *       ag_tensor *val_loss = ag_mse_loss(A, ag_module_forward(&net->base, A, x), y);
 *       printf("%g\n", ag_item(val_loss));
 *   }
 *
 * Blocks nest. `return`, `goto` or longjmp out of the block do NOT restore
 * the mode (no C construct runs code on them): leave such a block with
 * break, or save and restore by hand (ag_set_grad_enabled returns the
 * previous mode). The macro declares only names starting with ag__ and
 * reads none of the caller's variables. The outer loop restores the mode
 * when its one pass ends; the inner one is what break and continue leave. */
typedef struct ag__grad_scope {
    bool prev, once;
} ag__grad_scope;
#define AG_GRAD_MODE(on)                                                                      \
    for (ag__grad_scope ag__grad_mode = {ag_set_grad_enabled(on), true}; ag__grad_mode.once;  \
         ag_set_grad_enabled(ag__grad_mode.prev), ag__grad_mode.once = false)                 \
        for (int ag__grad_body = 1; ag__grad_body; ag__grad_body = 0)
#define AG_NO_GRAD AG_GRAD_MODE(false)
#define AG_ENABLE_GRAD AG_GRAD_MODE(true)

/* t's gradient as it stands: NULL before the first backward that reaches t
 * (as PyTorch's p.grad is None), and for a NULL t. Never reports. */
ag_tensor *ag_grad_of(const ag_tensor *t);

/* t's gradient buffer to write into: t->grad when t has one (returned as
 * it is, not zeroed), otherwise a new zeroed one of t's shape and dtype in
 * t's arena, which becomes t->grad and is what backward then adds into (as
 * p.grad = torch.zeros_like(p)). Reports and returns NULL when t is i32 or
 * does not require a gradient; a NULL t returns NULL without a report. */
ag_tensor *ag_grad_buffer_(ag_tensor *t);
#define ag_grad_buffer(...) AG_AT(ag_grad_buffer_, __VA_ARGS__)

/* Sets t's gradient to g's values (p.grad = g): copies them into t's
 * gradient buffer (made as ag_grad_buffer makes it), converting g's float
 * dtype to t's; records nothing. Reports and returns false when g's shape
 * differs from t's, g is i32, or t cannot have a gradient (as
 * ag_grad_buffer); a NULL t or g returns false without a report. */
bool ag_set_grad_(ag_tensor *t, const ag_tensor *g);
#define ag_set_grad(...) AG_AT_BOOL(ag_set_grad_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
