/* optim/rmsprop.c — RMSprop (torch.optim.RMSprop), with momentum, the
 * centered variant and weight decay.
 *
 * Per element, in PyTorch's order of operations (torch/optim/rmsprop.py,
 * _single_tensor_rmsprop):
 *
 *   g   = maximize ? -grad : grad
 *   g   = g + wd*p                         wd != 0     grad.add(param, alpha=wd)
 *   v   = alpha*v + ((1 - alpha)*g)*g                  square_avg.mul_(alpha).addcmul_(g, g, value=1-alpha)
 *   a   = lerp(a, g, 1 - alpha)            centered    grad_avg.lerp_(grad, 1-alpha)
 *   avg = sqrt(centered ? v - a*a : v) + eps           square_avg.addcmul(a, a, value=-1).sqrt_().add_(eps)
 *   b   = momentum*b + g/avg               momentum    buf.mul_(momentum).addcdiv_(grad, avg)
 *   p   = p + (-lr)*b                      momentum    param.add_(buf, alpha=-lr)
 *   p   = p + ((-lr)*g)/avg                otherwise   param.addcdiv_(grad, avg, value=-lr)
 *
 * lerp(a, g, w) is ATen's: a + w*(g - a) when |w| < 0.5, else
 * g - (g - a)*(1 - w). (PyTorch's AVX2 kernel fuses that multiply-add, so
 * on such a CPU its centered results can differ from these in the last bit.)
 * The buffers start at zero: square_avg always, momentum_buffer with
 * momentum > 0, grad_avg when centered; the step count is not used.
 */
#include <string.h>

#include "internal.h"
#include "optim_internal.h"

ag_rmsprop_opts ag_rmsprop_defaults(void) {
    return (ag_rmsprop_opts){
        .lr = 1e-2, .alpha = 0.99, .eps = 1e-8, .weight_decay = 0.0, .momentum = 0.0,
        .centered = false, .maximize = false,
    };
}

/* ---- the type ------------------------------------------------------------------- */

/* The state buffers, in the type's list and the kernel's arrays. */
enum { SQUARE_AVG, MOMENTUM_BUFFER, GRAD_AVG, NBUF };

static bool rmsprop_uses(const void *opts, const char *name) {
    const ag_rmsprop_opts *r = opts;
    if (strcmp(name, "momentum_buffer") == 0) return r->momentum > 0;
    if (strcmp(name, "grad_avg") == 0) return r->centered;
    return true;
}

/* PyTorch's checks, in its order. */
static bool rmsprop_check(const void *opts, char *why, size_t size) {
    const ag_rmsprop_opts *r = opts;
    return ag__optim_in_range(why, size, "learning rate", r->lr, 0, INFINITY, false) &&
           ag__optim_in_range(why, size, "epsilon", r->eps, 0, INFINITY, false) &&
           ag__optim_in_range(why, size, "momentum", r->momentum, 0, INFINITY, false) &&
           ag__optim_in_range(why, size, "weight_decay", r->weight_decay, 0, INFINITY, false) &&
           ag__optim_in_range(why, size, "alpha", r->alpha, 0, INFINITY, false);
}

static void rmsprop_update(const ag_optim *o, ag_optim_state *st, double lr, double weight_decay);

const ag_optim_type ag_rmsprop_type = {
    .name = "RMSprop",
    .buffers = {[SQUARE_AVG] = "square_avg", [MOMENTUM_BUFFER] = "momentum_buffer",
                [GRAD_AVG] = "grad_avg"},
    .uses_buffer = rmsprop_uses,
    .opts_size = sizeof(ag_rmsprop_opts),
    .check = rmsprop_check,
    .update = rmsprop_update,
};

ag_optim *ag_rmsprop_new_(ag_arena *P, ag_optim_groups groups, const ag_rmsprop_opts *opts) {
    ag_rmsprop_opts r = opts ? *opts : ag_rmsprop_defaults();
    return ag__optim_new("rmsprop_new", P, &ag_rmsprop_type, &r, groups, r.lr,
                         r.weight_decay);
}

/* ---- the kernel ------------------------------------------------------------------ */

typedef struct {
    double sign, wd, alpha, omalpha, eps, momentum, neg_lr; /* omalpha = 1 - alpha */
    bool wdon;
} rmsprop_consts;

/* One block of nb elements in type T: p[nb] updated, g[nb] read, v[nb] the
 * square average, b[nb] the momentum buffer (NULL without momentum), a[nb]
 * the gradient average (NULL unless centered); then the kernel's block
 * function NAME over buf[SQUARE_AVG], buf[MOMENTUM_BUFFER], buf[GRAD_AVG]. */
#define RMSPROP_BLOCK(NAME, T, SQRT)                                                        \
    static inline void NAME##_arrays(int nb, T *restrict p, const T *restrict g,             \
                                     T *restrict v, T *restrict b, T *restrict a,            \
                                     const rmsprop_consts *k) {                              \
        const T sign = (T)k->sign, wd = (T)k->wd, alpha = (T)k->alpha;                       \
        const T omalpha = (T)k->omalpha, eps = (T)k->eps, mom = (T)k->momentum;              \
        const T neg_lr = (T)k->neg_lr, one_minus_w = (T)1 - omalpha;                         \
        T d[AG__OPTIM_BLOCK], avg[AG__OPTIM_BLOCK]; /* g, then sqrt(v) */                    \
        ag__optim_direction(nb, d, g, p, sign, wd, k->wdon);                                 \
        for (int j = 0; j < nb; j++) avg[j] = v[j] = alpha * v[j] + omalpha * d[j] * d[j];   \
        if (a) { /* lerp(a, d, omalpha), ATen's two branches */                              \
            if (fabs(omalpha) < 0.5)                                                         \
                for (int j = 0; j < nb; j++) a[j] = a[j] + omalpha * (d[j] - a[j]);          \
            else                                                                             \
                for (int j = 0; j < nb; j++) a[j] = d[j] - (d[j] - a[j]) * one_minus_w;      \
            for (int j = 0; j < nb; j++) avg[j] = avg[j] - a[j] * a[j];                      \
        }                                                                                    \
        for (int j = 0; j < nb; j++) avg[j] = SQRT(avg[j]) + eps;                            \
        if (b) {                                                                             \
            for (int j = 0; j < nb; j++) b[j] = b[j] * mom + d[j] / avg[j];                  \
            for (int j = 0; j < nb; j++) p[j] = p[j] + neg_lr * b[j];                        \
        } else {                                                                             \
            for (int j = 0; j < nb; j++) p[j] = p[j] + neg_lr * d[j] / avg[j];               \
        }                                                                                    \
    }                                                                                        \
    static void NAME(int nb, void *w, const void *g, void *const *buf, const void *k) {      \
        NAME##_arrays(nb, w, g, buf[SQUARE_AVG], buf[MOMENTUM_BUFFER], buf[GRAD_AVG], k);    \
    }

RMSPROP_BLOCK(rmsprop_block_f32, float, sqrtf)
RMSPROP_BLOCK(rmsprop_block_f64, double, sqrt)

static void rmsprop_update(const ag_optim *o, ag_optim_state *st, double lr, double weight_decay) {
    const ag_rmsprop_opts *r = o->opts;
    const rmsprop_consts k = {
        .sign = r->maximize ? -1.0 : 1.0,
        .wd = weight_decay,
        .wdon = weight_decay != 0,
        .alpha = r->alpha,
        .omalpha = 1 - r->alpha,
        .eps = r->eps,
        .momentum = r->momentum,
        .neg_lr = -lr,
    };
    ag_tensor *bufs[NBUF];
    ag__optim_buffers(o->type, st, bufs, NBUF);
    ag__optim_run((ag__optim_kernel){rmsprop_block_f32, rmsprop_block_f64}, st, bufs, NBUF, &k);
}
