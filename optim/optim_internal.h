/* optim/optim_internal.h — what optim's files share; not installed. */
#ifndef AG_OPTIM_INTERNAL_H
#define AG_OPTIM_INTERNAL_H

#include "ag/optim.h"

/* ag_optim_new_ reporting under op, the public constructor's name
 * ("adamw_new"), for the built-in constructors (optimizer.c). */
ag_optim *ag__optim_new(const char *op, ag_arena *P, const ag_optim_type *type, const void *opts,
                        ag_optim_groups groups, double lr, double weight_decay);

/* Is v finite and in [lo, hi] (hi_open: [lo, hi))? If not (NAN and inf
 * included, even for hi = INFINITY), writes
 * "invalid <what> <v>: expected <range>" into why[size] and returns false.
 * The types' check functions are made of these. */
bool ag__optim_in_range(char *why, size_t size, const char *what, double v, double lo,
                        double hi, bool hi_open);

/* The same check, reported under op instead (ag__fail). */
bool ag__optim_check(const char *op, const char *what, double v, double lo, double hi,
                     bool hi_open);

/* ---- the kernels (kernel.c) ----------------------------------------------------
 * A built-in update is a block function in f32 and in f64; ag__optim_run
 * walks the parameter in blocks of AG__OPTIM_BLOCK elements (on OpenMP
 * threads when it is large) and calls it per block. The block sees:
 *   w[0..nb): what is updated (the parameter's data, or the f32 master copy
 *             of a bf16 parameter: then ag__optim_run rounds the block back
 *             into the parameter right after);
 *   g[0..nb): the gradient (a bf16 one converted to f32 first);
 *   buf[j]:   the block's part of the j-th array given to ag__optim_run
 *             (NULL where that array is NULL);
 *   k:        the update's constants.
 * A block stays in L1 between the passes a block function makes over it, so
 * memory traffic is one read of each array and one write of each updated
 * one. */
enum { AG__OPTIM_BLOCK = 256, AG__OPTIM_MAX_ARRAYS = AG_OPTIM_MAX_BUFFERS };

typedef void (*ag__optim_block)(int nb, void *w, const void *g, void *const *buf,
                                const void *k);

typedef struct ag__optim_kernel {
    ag__optim_block f32, f64;
} ag__optim_kernel;

/* d[0..nb) = sign * g + wd * p, or sign * g when !decay: the direction a
 * step follows, with maximize's sign and L2 weight decay added to the
 * gradient (PyTorch's grad.add(param, alpha=weight_decay), skipped when the
 * decay is 0). For the block functions of SGD, RMSprop and Adagrad;
 * ag__optim_direction picks the f32 or f64 one by d's type. */
#define AG__OPTIM_DIRECTION(NAME, T)                                                       \
    static inline void NAME(int nb, T *restrict d, const T *restrict g, const T *restrict p,  \
                            T sign, T wd, bool decay) {                                        \
        if (decay)                                                                             \
            for (int j = 0; j < nb; j++) d[j] = sign * g[j] + wd * p[j];                       \
        else                                                                                   \
            for (int j = 0; j < nb; j++) d[j] = sign * g[j];                                   \
    }
AG__OPTIM_DIRECTION(ag__optim_direction_f32, float)
AG__OPTIM_DIRECTION(ag__optim_direction_f64, double)
#undef AG__OPTIM_DIRECTION
#define ag__optim_direction(nb, d, g, p, sign, wd, decay)                                  \
    _Generic((d), float *: ag__optim_direction_f32, double *: ag__optim_direction_f64)(    \
        nb, d, g, p, sign, wd, decay)

/* Runs kern over st's parameter (its master copy if it has one) with the
 * state arrays bufs[0..nbufs) (each NULL or of the parameter's compute dtype
 * and numel; nbufs <= AG__OPTIM_MAX_ARRAYS) and constants k. */
void ag__optim_run(ag__optim_kernel kern, const ag_optim_state *st, ag_tensor *const *bufs,
                   int nbufs, const void *k);

/* bufs[j] = st's buffer named type->buffers[j] (NULL when st has none), for
 * j < n; an update's arrays, in its type's order. */
void ag__optim_buffers(const ag_optim_type *type, const ag_optim_state *st, ag_tensor **bufs,
                       int n);

#endif
