/* optim/optim_internal.h — what optim's files share; not installed. */
#ifndef AG_OPTIM_INTERNAL_H
#define AG_OPTIM_INTERNAL_H

#include "ag/optim.h"

/* Builds an optimizer of the given kind over the groups after checking them
 * (optimizer.c). op names the public constructor in reports ("adamw_new");
 * lr and weight_decay are the options' values that groups inherit. The
 * caller checks its own options and fills o->adam or o->sgd afterwards. */
ag_optim *ag__optim_new(const char *op, ag_optim_kind kind, const char *name, ag_arena *P,
                        const ag_optim_group *groups, int ngroups, double lr,
                        double weight_decay);

/* Checks a hyperparameter: reports "invalid <what> <v>: expected <range>"
 * and returns false when v is NAN or outside [lo, hi] (hi_open: [lo, hi)). */
bool ag__optim_check(const char *op, const char *what, double v, double lo, double hi,
                     bool hi_open);

/* A zeroed state buffer for param (param's shape, its compute dtype) in
 * o's arena; NULL when out of memory (reported by the arena). */
ag_tensor *ag__optim_buffer(ag_optim *o, const ag_tensor *param);

/* The kernels walk a tensor of n elements in blocks of AG__OPTIM_BLOCK, on
 * OpenMP threads when n is large (AG_OMP_FOR, AG_PAR_MIN: core's
 * internal.h); the body sees the block's first element i and its length nb. */
enum { AG__OPTIM_BLOCK = 256 };
#define AG__OPTIM_BLOCKS(n, i, nb, ...)                                            \
    do {                                                                           \
        const int64_t n_ = (n), nblocks_ = (n_ + AG__OPTIM_BLOCK - 1) / AG__OPTIM_BLOCK; \
        AG_OMP_FOR(n_ >= AG_PAR_MIN)                                               \
        for (int64_t b_ = 0; b_ < nblocks_; b_++) {                                \
            const int64_t i = b_ * AG__OPTIM_BLOCK;                                \
            const int nb = (int)(n_ - i < AG__OPTIM_BLOCK ? n_ - i : AG__OPTIM_BLOCK); \
            __VA_ARGS__;                                                           \
        }                                                                          \
    } while (0)

/* A bf16 parameter's block: g32[0..nb) = its bf16 gradient g as f32 before
 * the f32 update of the master copy; then p16[0..nb) = the master w rounded. */
static inline void ag__optim_bf16_grad(float *g32, const uint16_t *g, int nb) {
    for (int j = 0; j < nb; j++) g32[j] = ag_bf16_to_f32(g[j]);
}
static inline void ag__optim_bf16_round(uint16_t *p16, const float *w, int nb) {
    for (int j = 0; j < nb; j++) p16[j] = ag_f32_to_bf16(w[j]);
}

/* One parameter's update with its group's lr and weight decay (adamw.c,
 * sgd.c): st->step has already been incremented; a bf16 parameter's master
 * copy exists. Allocates the state it needs on first use; false when out of
 * memory. */
bool ag__adam_update(ag_optim *o, ag_optim_state *st, double lr, double weight_decay);
bool ag__sgd_update(ag_optim *o, ag_optim_state *st, double lr, double weight_decay);

#endif
