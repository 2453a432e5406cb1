/* optim/adagrad.c — Adagrad (torch.optim.Adagrad), with lr decay, weight
 * decay and a starting value for the sum of squares.
 *
 * Per element, in PyTorch's order of operations (torch/optim/adagrad.py,
 * _single_tensor_adagrad; t is the parameter's step count after +1):
 *
 *   g   = maximize ? -grad : grad
 *   g   = g + wd*p                          wd != 0     grad.add(param, alpha=wd)
 *   clr = lr / (1 + (t - 1)*lr_decay)       in double
 *   s   = s + g*g                                       state_sum.addcmul_(grad, grad, value=1)
 *   p   = p + ((-clr)*g) / (sqrt(s) + eps)              param.addcdiv_(grad, std, value=-clr)
 *
 * The sum starts at initial_accumulator_value: PyTorch fills it in the
 * constructor; here, as every state, it is made on the parameter's first
 * step (zeroed by the core), and that step adds g*g to the starting value
 * instead of to the zeros, which gives the same numbers.
 */
#include "internal.h"
#include "optim_internal.h"

ag_adagrad_opts ag_adagrad_defaults(void) {
    return (ag_adagrad_opts){
        .lr = 1e-2, .lr_decay = 0.0, .weight_decay = 0.0, .initial_accumulator_value = 0.0,
        .eps = 1e-10, .maximize = false,
    };
}

/* ---- the type ------------------------------------------------------------------- */

/* The state buffer, in the type's list and the kernel's arrays. */
enum { SUM, NBUF };

/* PyTorch's checks, in its order. */
static bool adagrad_check(const void *opts, char *why, size_t size) {
    const ag_adagrad_opts *a = opts;
    return ag__optim_in_range(why, size, "learning rate", a->lr, 0, INFINITY, false) &&
           ag__optim_in_range(why, size, "lr_decay", a->lr_decay, 0, INFINITY, false) &&
           ag__optim_in_range(why, size, "weight_decay", a->weight_decay, 0, INFINITY, false) &&
           ag__optim_in_range(why, size, "initial_accumulator_value",
                              a->initial_accumulator_value, 0, INFINITY, false) &&
           ag__optim_in_range(why, size, "epsilon", a->eps, 0, INFINITY, false);
}

static void adagrad_update(const ag_optim *o, ag_optim_state *st, double lr, double weight_decay);

const ag_optim_type ag_adagrad_type = {
    .name = "Adagrad",
    .buffers = {[SUM] = "sum"},
    .opts_size = sizeof(ag_adagrad_opts),
    .check = adagrad_check,
    .update = adagrad_update,
};

ag_optim *ag_adagrad_new_(ag_arena *P, ag_optim_groups groups, const ag_adagrad_opts *opts) {
    ag_adagrad_opts a = opts ? *opts : ag_adagrad_defaults();
    return ag__optim_new("adagrad_new", P, &ag_adagrad_type, &a, groups, a.lr,
                         a.weight_decay);
}

/* ---- the kernel ------------------------------------------------------------------ */

typedef struct {
    double sign, wd, init, eps, neg_clr; /* init: initial_accumulator_value */
    bool wdon, first;
} adagrad_consts;

/* One block of nb elements in type T: p[nb] updated, g[nb] read, s[nb] the
 * sum of squares; then the kernel's block function NAME over buf[SUM]. */
#define ADAGRAD_BLOCK(NAME, T, SQRT)                                                        \
    static inline void NAME##_arrays(int nb, T *restrict p, const T *restrict g,             \
                                     T *restrict s, const adagrad_consts *k) {               \
        const T sign = (T)k->sign, wd = (T)k->wd, init = (T)k->init, eps = (T)k->eps;        \
        const T neg_clr = (T)k->neg_clr;                                                     \
        T d[AG__OPTIM_BLOCK], std[AG__OPTIM_BLOCK]; /* g, then sqrt(s) */                    \
        ag__optim_direction(nb, d, g, p, sign, wd, k->wdon);                                 \
        if (k->first)                                                                        \
            for (int j = 0; j < nb; j++) std[j] = s[j] = init + d[j] * d[j];                 \
        else                                                                                 \
            for (int j = 0; j < nb; j++) std[j] = s[j] = s[j] + d[j] * d[j];                 \
        for (int j = 0; j < nb; j++) std[j] = SQRT(std[j]) + eps;                            \
        for (int j = 0; j < nb; j++) p[j] = p[j] + neg_clr * d[j] / std[j];                  \
    }                                                                                        \
    static void NAME(int nb, void *w, const void *g, void *const *buf, const void *k) {      \
        NAME##_arrays(nb, w, g, buf[SUM], k);                                                \
    }

ADAGRAD_BLOCK(adagrad_block_f32, float, sqrtf)
ADAGRAD_BLOCK(adagrad_block_f64, double, sqrt)

static void adagrad_update(const ag_optim *o, ag_optim_state *st, double lr, double weight_decay) {
    const ag_adagrad_opts *a = o->opts;
    const double clr = lr / (1 + (double)(st->step - 1) * a->lr_decay);
    const adagrad_consts k = {
        .sign = a->maximize ? -1.0 : 1.0,
        .wd = weight_decay,
        .wdon = weight_decay != 0,
        .init = a->initial_accumulator_value,
        .first = st->step == 1,
        .eps = a->eps,
        .neg_clr = -clr,
    };
    ag_tensor *bufs[NBUF];
    ag__optim_buffers(o->type, st, bufs, NBUF);
    ag__optim_run((ag__optim_kernel){adagrad_block_f32, adagrad_block_f64}, st, bufs, NBUF, &k);
}
