/* optim/kernel.c — the block walk of the built-in updates (see
 * optim_internal.h): a parameter in blocks of AG__OPTIM_BLOCK elements,
 * OpenMP across blocks when it is large; for a bf16 parameter each block's
 * gradient is staged as f32 before the f32 update of the master copy, and
 * the block of the parameter is the master rounded right after, while it is
 * still in L1. */
#include "internal.h"
#include "optim_internal.h"

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

/* One parameter's update: the walk's operands. */
typedef struct run_job {
    ag__optim_block fn; /* the block update, in W's dtype */
    int64_t n;          /* elements */
    size_t es;          /* bytes per element of W and the buffers */
    char *W;            /* the parameter, or its f32 master copy */
    const void *G;      /* the gradient (bf16 when P16 is set) */
    uint16_t *P16;      /* a bf16 parameter, rounded from the master; NULL otherwise */
    char *const *base;  /* the state buffers (entries may be NULL) */
    int nbufs;
    const void *k;
} run_job;

/* Blocks [lo, hi) of the parameter. */
static void run_blocks(const void *ctx, int64_t lo, int64_t hi) {
    const run_job *j = ctx;
    for (int64_t b = lo; b < hi; b++) {
        const int64_t i = b * AG__OPTIM_BLOCK;
        const int nb = (int)(j->n - i < AG__OPTIM_BLOCK ? j->n - i : AG__OPTIM_BLOCK);
        void *at[AG__OPTIM_MAX_ARRAYS];
        offset(at, j->base, j->nbufs, (size_t)i * j->es);
        if (!j->P16) {
            j->fn(nb, j->W + (size_t)i * j->es, (const char *)j->G + (size_t)i * j->es, at, j->k);
        } else { /* bf16: gradient read as f32, master updated, parameter rounded */
            float g32[AG__OPTIM_BLOCK];
            bf16_grad(g32, (const uint16_t *)j->G + i, nb);
            j->fn(nb, j->W + (size_t)i * sizeof(float), g32, at, j->k);
            bf16_round(j->P16 + i, (const float *)j->W + i, nb);
        }
    }
}

void ag__optim_run(ag__optim_kernel kern, const ag_optim_state *st, ag_tensor *const *bufs,
                   int nbufs, const void *k) {
    ag_tensor *p = st->param;
    const ag_tensor *w = st->master ? st->master : p;
    char *base[AG__OPTIM_MAX_ARRAYS];
    for (int j = 0; j < nbufs; j++) base[j] = bufs[j] ? bufs[j]->data : NULL;
    const run_job j = {.fn = w->dtype == AG_F64 ? kern.f64 : kern.f32,
                       .n = p->numel,
                       .es = ag_dtype_size(w->dtype),
                       .W = w->data,
                       .G = p->grad->data,
                       .P16 = st->master ? p->data : NULL,
                       .base = base,
                       .nbufs = nbufs,
                       .k = k};
    const int64_t nblocks = (j.n + AG__OPTIM_BLOCK - 1) / AG__OPTIM_BLOCK;
    ag__parallel_for(nblocks, j.n >= AG_PAR_MIN, run_blocks, &j);
}
