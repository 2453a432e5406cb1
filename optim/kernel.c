/* optim/kernel.c — the block walk of the built-in updates (see
 * optim_internal.h): a parameter in blocks of AG__OPTIM_BLOCK elements,
 * OpenMP across blocks when it is large; for a bf16 parameter each block's
 * gradient is staged as f32 before the f32 update of the master copy, and
 * the block of the parameter is the master rounded right after, while it is
 * still in L1. */
#include "internal.h"
#include "optim_internal.h"

/* The body sees the block's first element i and its length nb. */
#define AG__OPTIM_BLOCKS(n, i, nb, ...)                                                  \
    do {                                                                                 \
        const int64_t n_ = (n), nblocks_ = (n_ + AG__OPTIM_BLOCK - 1) / AG__OPTIM_BLOCK; \
        AG_OMP_FOR(n_ >= AG_PAR_MIN)                                                     \
        for (int64_t b_ = 0; b_ < nblocks_; b_++) {                                      \
            const int64_t i = b_ * AG__OPTIM_BLOCK;                                      \
            const int nb = (int)(n_ - i < AG__OPTIM_BLOCK ? n_ - i : AG__OPTIM_BLOCK);   \
            __VA_ARGS__;                                                                 \
        }                                                                                \
    } while (0)

/* A bf16 parameter's block: g32[0..nb) = its bf16 gradient g as f32 before
 * the f32 update of the master copy; then p16[0..nb) = the master w rounded. */
static void bf16_grad(float *g32, const uint16_t *g, int nb) {
    for (int j = 0; j < nb; j++) g32[j] = ag_bf16_to_f32(g[j]);
}
static void bf16_round(uint16_t *p16, const float *w, int nb) {
    for (int j = 0; j < nb; j++) p16[j] = ag_f32_to_bf16(w[j]);
}

/* at[j] = base[j] + off bytes (NULL stays NULL) for j < n; NULL after. */
static void offset(void **at, char *const *base, int n, size_t off) {
    int j = 0;
    for (; j < n; j++) at[j] = base[j] ? base[j] + off : NULL;
    for (; j < AG__OPTIM_MAX_ARRAYS; j++) at[j] = NULL;
}

void ag__optim_run(ag__optim_kernel kern, const ag_optim_state *st, ag_tensor *const *bufs,
                   int nbufs, const void *k) {
    ag_tensor *p = st->param;
    const ag_tensor *w = st->master ? st->master : p;
    const size_t es = ag_dtype_size(w->dtype);
    char *W = w->data;
    char *base[AG__OPTIM_MAX_ARRAYS];
    for (int j = 0; j < nbufs; j++) base[j] = bufs[j] ? bufs[j]->data : NULL;
    if (!st->master) {
        const char *G = p->grad->data;
        const ag__optim_block fn = w->dtype == AG_F64 ? kern.f64 : kern.f32;
        AG__OPTIM_BLOCKS(p->numel, i, nb, {
            void *at[AG__OPTIM_MAX_ARRAYS];
            offset(at, base, nbufs, (size_t)i * es);
            fn(nb, W + (size_t)i * es, G + (size_t)i * es, at, k);
        });
    } else { /* bf16: gradient read as f32, master updated, parameter rounded */
        const uint16_t *G = p->grad->data;
        uint16_t *P16 = p->data;
        AG__OPTIM_BLOCKS(p->numel, i, nb, {
            float g32[AG__OPTIM_BLOCK];
            void *at[AG__OPTIM_MAX_ARRAYS];
            offset(at, base, nbufs, (size_t)i * sizeof(float));
            bf16_grad(g32, G + i, nb);
            kern.f32(nb, W + (size_t)i * sizeof(float), g32, at, k);
            bf16_round(P16 + i, (const float *)W + i, nb);
        });
    }
}
