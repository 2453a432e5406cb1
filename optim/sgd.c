/* optim/sgd.c — SGD with momentum, dampening, Nesterov and weight decay
 * (torch.optim.SGD).
 *
 * Per element, in PyTorch's order of operations (torch/optim/sgd.py,
 * _single_tensor_sgd):
 *
 *   g = maximize ? -grad : grad
 *   g = g + wd*p                               wd != 0        grad.add(p, alpha=wd)
 *   b = g                                      first step     torch.clone(grad)
 *   b = momentum*b + (1 - dampening)*g         later steps    buf.mul_(mom).add_(g, alpha=1-damp)
 *   g = nesterov ? g + momentum*b : b          momentum != 0  grad.add(buf, alpha=mom)
 *   p = p + (-lr)*g                                           param.add_(g, alpha=-lr)
 *
 * The momentum buffer is made on the first step that finds a gradient.
 */
#include "internal.h"
#include "optim_internal.h"

ag_sgd_opts ag_sgd_defaults(void) {
    return (ag_sgd_opts){
        .lr = 1e-3, .momentum = 0.0, .dampening = 0.0, .weight_decay = 0.0,
        .nesterov = false, .maximize = false,
    };
}

/* ---- the type ------------------------------------------------------------------- */

/* The state buffer, in the type's list and the kernel's arrays. */
enum { MOMENTUM_BUFFER, NBUF };

static bool sgd_uses(const void *opts, const char *name) {
    (void)name; /* momentum_buffer, the only one */
    return ((const ag_sgd_opts *)opts)->momentum != 0;
}

static bool sgd_check(const void *opts, char *why, size_t size) {
    const ag_sgd_opts *s = opts;
    if (!ag__optim_in_range(why, size, "learning rate", s->lr, 0, INFINITY, false) ||
        !ag__optim_in_range(why, size, "momentum", s->momentum, 0, INFINITY, false) ||
        !ag__optim_in_range(why, size, "weight_decay", s->weight_decay, 0, INFINITY, false))
        return false;
    if (isnan(s->dampening)) {
        snprintf(why, size, "invalid dampening nan: expected a number");
        return false;
    }
    if (s->nesterov && (s->momentum <= 0 || s->dampening != 0)) {
        snprintf(why, size, "Nesterov momentum requires a momentum and zero dampening "
                 "(momentum %g, dampening %g)", s->momentum, s->dampening);
        return false;
    }
    return true;
}

static void sgd_update(const ag_optim *o, ag_optim_state *st, double lr, double weight_decay);

const ag_optim_type ag_sgd_type = {
    .name = "SGD",
    .buffers = {[MOMENTUM_BUFFER] = "momentum_buffer"},
    .uses_buffer = sgd_uses,
    .opts_size = sizeof(ag_sgd_opts),
    .check = sgd_check,
    .update = sgd_update,
};

ag_optim *ag_sgd_new_(ag_arena *P, ag_optim_groups groups, const ag_sgd_opts *opts) {
    ag_sgd_opts s = opts ? *opts : ag_sgd_defaults();
    return ag__optim_new("sgd_new", P, &ag_sgd_type, &s, groups, s.lr, s.weight_decay);
}

/* ---- the kernel ------------------------------------------------------------------ */

typedef struct {
    double sign, wd, momentum, omd, neg_lr; /* omd = 1 - dampening */
    bool wdon, first, nesterov;
} sgd_consts;

/* One block of nb elements in type T: p[nb] updated, g[nb] read, b[nb] the
 * momentum buffer (NULL without momentum); then the kernel's block function
 * NAME over buf[MOMENTUM_BUFFER]. Each pass is a plain loop over the
 * block (which stays in L1), so each vectorizes. */
#define SGD_BLOCK(NAME, T)                                                                  \
    static inline void NAME##_arrays(int nb, T *restrict p, const T *restrict g,             \
                                     T *restrict b, const sgd_consts *k) {                   \
        const T sign = (T)k->sign, wd = (T)k->wd, mom = (T)k->momentum, omd = (T)k->omd;     \
        const T neg_lr = (T)k->neg_lr;                                                       \
        T d[AG__OPTIM_BLOCK]; /* the direction: g, then the momentum's */                    \
        ag__optim_direction(nb, d, g, p, sign, wd, k->wdon);                                 \
        if (b) {                                                                             \
            if (k->first)                                                                    \
                for (int j = 0; j < nb; j++) b[j] = d[j];                                    \
            else                                                                             \
                for (int j = 0; j < nb; j++) b[j] = mom * b[j] + omd * d[j];                 \
            if (k->nesterov)                                                                 \
                for (int j = 0; j < nb; j++) d[j] = d[j] + mom * b[j];                       \
            else                                                                             \
                for (int j = 0; j < nb; j++) d[j] = b[j];                                    \
        }                                                                                    \
        for (int j = 0; j < nb; j++) p[j] = p[j] + neg_lr * d[j];                            \
    }                                                                                        \
    static void NAME(int nb, void *w, const void *g, void *const *buf, const void *k) {      \
        NAME##_arrays(nb, w, g, buf[MOMENTUM_BUFFER], k);                                    \
    }

SGD_BLOCK(sgd_block_f32, float)
SGD_BLOCK(sgd_block_f64, double)

static void sgd_update(const ag_optim *o, ag_optim_state *st, double lr, double weight_decay) {
    const ag_sgd_opts *s = o->opts;
    const sgd_consts k = {
        .sign = s->maximize ? -1.0 : 1.0,
        .wd = weight_decay,
        .wdon = weight_decay != 0,
        .momentum = s->momentum,
        .omd = 1 - s->dampening,
        .neg_lr = -lr,
        .first = st->step == 1, /* the buffer starts as g (torch.clone(grad)) */
        .nesterov = s->nesterov,
    };
    ag_tensor *bufs[NBUF];
    ag__optim_buffers(o->type, st, bufs, NBUF);
    ag__optim_run((ag__optim_kernel){sgd_block_f32, sgd_block_f64}, st, bufs, NBUF, &k);
}
