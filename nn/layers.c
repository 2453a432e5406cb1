/* nn/layers.c — F.dropout, and the Embedding and Dropout modules.
 *
 * Neither needs a hand-written backward: dropout multiplies x by a constant
 * mask tensor (0 or 1/(1-p) per element), so the engine's mul backward
 * masks and scales the gradient the same way; Embedding is ag_embedding,
 * whose backward scatters (adds) into the rows used.
 */
#include <math.h>

#include "ag/nn.h"
#include "internal.h"

/* ---- F.dropout --------------------------------------------------------------- */

ag_tensor *ag_dropout_(ag_arena *A, ag_tensor *x, double p, bool training, ag_rng *r) {
    if (!x) return NULL;
    if (!ag__check_float("dropout", x)) return NULL;
    if (!(p >= 0.0 && p < 1.0)) {
        ag__fail("dropout", "p = %g for x %s: expected 0 <= p < 1", p, ag__shp(x));
        return NULL;
    }
    if (p == 0.0 || !training) return x;
    if (!r) {
        ag__fail("dropout", "rng is NULL for x %s (p = %g, training)", ag__shp(x), p);
        return NULL;
    }
    /* mask[i] = 1/(1-p) with probability 1-p, else 0; in the compute type */
    const ag_dtype ct = ag_compute_dtype(x->dtype);
    ag_tensor *mask = ag__result("dropout", A, ct, x->ndim, x->shape);
    if (!mask) return NULL;
    const int64_t n = mask->numel;
    AG_DISPATCH(ct, T, {
        const T scale = (T)(1.0 / (1.0 - p));
        T *pm = mask->data;
        for (int64_t i = 0; i < n; i++) pm[i] = ag_rng_uniform(r) < p ? (T)0 : scale;
    });
    /* bf16 x: the product promotes to f32 and is rounded back once */
    return ag__as(A, ag_mul_(A, x, mask), x->dtype);
}

/* ---- nn.Embedding ------------------------------------------------------------ */

static ag_tensor *embedding_forward(ag_module *m, ag_arena *A, ag_tensor *ids) {
    return ag_nn_embedding_forward_(A, (ag_nn_embedding *)m, ids);
}

static void embedding_describe(const ag_module *m, char *buf, size_t size) {
    const ag_nn_embedding *e = (const ag_nn_embedding *)m;
    snprintf(buf, size, "%lld, %lld", (long long)e->num_embeddings, (long long)e->embedding_dim);
}

const ag_module_type ag_nn_embedding_type = {"Embedding", embedding_forward, embedding_describe};

ag_nn_embedding *ag_nn_embedding_new_(ag_arena *P, ag_rng *r, int64_t num_embeddings,
                                      int64_t embedding_dim) {
    if (!P || !r || num_embeddings < 0 || embedding_dim < 0) {
        ag__fail("nn_embedding_new",
                 "Embedding(%lld, %lld): expected an arena, an rng and sizes >= 0",
                 (long long)num_embeddings, (long long)embedding_dim);
        return NULL;
    }
    ag_nn_embedding *e = ag_arena_calloc_(P, sizeof *e);
    if (!e) return NULL;
    ag_module_init(&e->base, &ag_nn_embedding_type, P);
    e->num_embeddings = num_embeddings;
    e->embedding_dim = embedding_dim;
    e->weight = ag__result("nn_embedding_new", P, AG_F32, 2,
                           (const int64_t[]){num_embeddings, embedding_dim});
    if (!e->weight || !ag_init_normal_(e->weight, r, 0.0, 1.0) ||
        !ag_module_add_param_(&e->base, "weight", e->weight))
        return NULL;
    return e;
}

ag_tensor *ag_nn_embedding_forward_(ag_arena *A, ag_nn_embedding *m, ag_tensor *ids) {
    if (!m || !ids) return NULL;
    return ag_embedding_(A, m->weight, ids);
}

/* ---- nn.Dropout -------------------------------------------------------------- */

static ag_tensor *dropout_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    return ag_nn_dropout_forward_(A, (ag_nn_dropout *)m, x);
}

static void dropout_describe(const ag_module *m, char *buf, size_t size) {
    snprintf(buf, size, "p=%g", ((const ag_nn_dropout *)m)->p);
}

const ag_module_type ag_nn_dropout_type = {"Dropout", dropout_forward, dropout_describe};

ag_nn_dropout *ag_nn_dropout_new_(ag_arena *P, double p, uint64_t seed) {
    if (!P || !(p >= 0.0 && p < 1.0)) {
        ag__fail("nn_dropout_new", "Dropout(p=%g): expected an arena and 0 <= p < 1", p);
        return NULL;
    }
    ag_nn_dropout *d = ag_arena_calloc_(P, sizeof *d);
    if (!d) return NULL;
    ag_module_init(&d->base, &ag_nn_dropout_type, P);
    d->p = p;
    ag_rng_seed(&d->rng, seed);
    return d;
}

/* The calling thread's generator for every Dropout module (NULL: each
 * module's own). */
static _Thread_local ag_rng *thread_rng;

ag_rng *ag_nn_set_thread_dropout_rng(ag_rng *r) {
    ag_rng *prev = thread_rng;
    thread_rng = r;
    return prev;
}

ag_tensor *ag_nn_dropout_forward_(ag_arena *A, ag_nn_dropout *m, ag_tensor *x) {
    if (!m || !x) return NULL;
    return ag_dropout_(A, x, m->p, m->base.training, thread_rng ? thread_rng : &m->rng);
}

ag_tensor *ag_nn_dropout_forward_rng_(ag_arena *A, ag_nn_dropout *m, ag_tensor *x, ag_rng *r) {
    if (!m || !x) return NULL;
    return ag_dropout_(A, x, m->p, m->base.training, r);
}
