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

ag_optim *ag_sgd_new_(ag_arena *P, const ag_optim_group *groups, int ngroups,
                      const ag_sgd_opts *opts) {
    const char *op = "sgd_new";
    ag_sgd_opts s = opts ? *opts : ag_sgd_defaults();
    if (!ag__optim_check(op, "learning rate", s.lr, 0, INFINITY, false) ||
        !ag__optim_check(op, "momentum", s.momentum, 0, INFINITY, false) ||
        !ag__optim_check(op, "weight_decay", s.weight_decay, 0, INFINITY, false))
        return NULL;
    if (isnan(s.dampening)) {
        ag__fail(op, "invalid dampening nan: expected a number");
        return NULL;
    }
    if (s.nesterov && (s.momentum <= 0 || s.dampening != 0)) {
        ag__fail(op, "Nesterov momentum requires a momentum and zero dampening "
                 "(momentum %g, dampening %g)", s.momentum, s.dampening);
        return NULL;
    }
    ag_optim *o = ag__optim_new(op, AG_OPTIM_SGD, "SGD", P, groups, ngroups, s.lr, s.weight_decay);
    if (o) o->sgd = s;
    return o;
}

/* ---- the kernel ------------------------------------------------------------------ */

typedef struct {
    double sign, wd, momentum, omd, neg_lr; /* omd = 1 - dampening */
    bool wdon, first, nesterov;
} sgd_consts;

/* One block of nb elements in type T: p[nb] updated, g[nb] read, b[nb] the
 * momentum buffer (NULL without momentum). Each pass is a plain loop over
 * the block (which stays in L1), so each vectorizes. */
#define SGD_BLOCK(NAME, T)                                                                  \
    static void NAME(int nb, T *restrict p, const T *restrict g, T *restrict b,              \
                     const sgd_consts *k) {                                                   \
        const T sign = (T)k->sign, wd = (T)k->wd, mom = (T)k->momentum, omd = (T)k->omd;     \
        const T neg_lr = (T)k->neg_lr;                                                       \
        T d[AG__OPTIM_BLOCK]; /* the direction: g, then the momentum's */                    \
        if (k->wdon)                                                                         \
            for (int j = 0; j < nb; j++) d[j] = sign * g[j] + wd * p[j];                     \
        else                                                                                 \
            for (int j = 0; j < nb; j++) d[j] = sign * g[j];                                 \
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
    }

SGD_BLOCK(sgd_block_f32, float)
SGD_BLOCK(sgd_block_f64, double)

static void sgd_kernel(ag_dtype dt, int64_t n, void *w, const void *grad, void *buf,
                       uint16_t *p16, const sgd_consts *k) {
    if (dt == AG_F64) {
        double *W = w, *B = buf;
        const double *G = grad;
        AG__OPTIM_BLOCKS(n, i, nb, sgd_block_f64(nb, W + i, G + i, B ? B + i : NULL, k));
    } else if (!p16) {
        float *W = w, *B = buf;
        const float *G = grad;
        AG__OPTIM_BLOCKS(n, i, nb, sgd_block_f32(nb, W + i, G + i, B ? B + i : NULL, k));
    } else { /* bf16: gradient read as f32, master updated, parameter rounded */
        float *W = w, *B = buf;
        const uint16_t *G = grad;
        AG__OPTIM_BLOCKS(n, i, nb, {
            float g32[AG__OPTIM_BLOCK];
            ag__optim_bf16_grad(g32, G + i, nb);
            sgd_block_f32(nb, W + i, g32, B ? B + i : NULL, k);
            ag__optim_bf16_round(p16 + i, W + i, nb);
        });
    }
}

bool ag__sgd_update(ag_optim *o, ag_optim_state *st, double lr, double weight_decay) {
    const ag_tensor *p = st->param;
    const ag_sgd_opts *s = &o->sgd;
    bool first = false;
    if (s->momentum != 0 && !st->momentum_buffer) {
        st->momentum_buffer = ag__optim_buffer(o, p);
        if (!st->momentum_buffer) return false;
        first = true;
    }
    const sgd_consts k = {
        .sign = s->maximize ? -1.0 : 1.0,
        .wd = weight_decay,
        .wdon = weight_decay != 0,
        .momentum = s->momentum,
        .omd = 1 - s->dampening,
        .neg_lr = -lr,
        .first = first,
        .nesterov = s->nesterov,
    };
    ag_tensor *w = st->master ? st->master : st->param;
    sgd_kernel(w->dtype, p->numel, w->data, p->grad->data,
               s->momentum != 0 ? st->momentum_buffer->data : NULL,
               st->master ? (uint16_t *)p->data : NULL, &k);
    return true;
}
