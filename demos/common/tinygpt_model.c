/* demos/common/tinygpt_model.c — see tinygpt_model.h. */
#include "tinygpt_model.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static ag_tensor *gpt_module_forward(ag_module *m, ag_arena *A, ag_tensor *ids) {
    return ag_demo_gpt_forward(A, (ag_demo_gpt *)m, ids);
}

static void gpt_describe(const ag_module *m, char *buf, size_t size) {
    const ag_demo_gpt_config *c = &((const ag_demo_gpt *)m)->cfg;
    snprintf(buf, size, "vocab_size=%d, block_size=%d, n_layer=%d, n_embd=%d, n_head=%d",
             c->vocab, c->block_size, c->n_layer, c->n_embd, c->n_head);
}

static const ag_module_type gpt_type = {"TinyGPT", gpt_module_forward, gpt_describe};

ag_demo_gpt *ag_demo_gpt_new(ag_arena *P, const ag_demo_gpt_config *c, uint64_t seed) {
    ag_rng r;
    ag_rng_seed(&r, seed);
    ag_demo_gpt *g = ag_arena_calloc(P, sizeof *g);
    ag_module_init(&g->base, &gpt_type, P);
    g->cfg = *c;
    g->wte = ag_nn_embedding_new(P, &r, c->vocab, c->n_embd);
    g->wpe = ag_nn_embedding_new(P, &r, c->block_size, c->n_embd);
    g->layers = ag_module_list_new(P);
    ag_module_add_child(&g->base, "wte", &g->wte->base);
    ag_module_add_child(&g->base, "wpe", &g->wpe->base);
    ag_module_add_child(&g->base, "layers", &g->layers->base);
    ag_block_config bc = {.n_embd = c->n_embd, .n_head = c->n_head, .n_hidden = 4 * c->n_embd,
                          .act = c->act, .bias = false, .dropout = 0.0, .norm = c->norm};
    for (int l = 0; l < c->n_layer; l++) {
        ag_nn_block *b = ag_nn_block_new(P, &r, &bc);
        ag_module_list_append(g->layers, &b->base);
    }
    g->norm = ag_norm_new(P, c->norm, c->n_embd);
    ag_module_add_child(&g->base, "norm", g->norm);
    g->lm_head = ag_nn_linear_new(P, &r, c->n_embd, c->vocab, false);
    ag_module_add_child(&g->base, "lm_head", &g->lm_head->base);

    /* GPT-2 initialisation for every matrix (2-d parameter): embeddings and
     * Linear weights; norm weights keep their defaults (ones, Gemma zeros). */
    ag_named_param *ps;
    int n = ag_module_parameters(&g->base, P, &ps);
    const double resid_std = 0.02 / sqrt(2.0 * c->n_layer);
    for (int i = 0; i < n; i++) {
        if (ps[i].tensor->ndim != 2) continue;
        bool resid = strstr(ps[i].name, "o_proj") || strstr(ps[i].name, "down_proj");
        ag_init_normal(ps[i].tensor, &r, 0.0, resid ? resid_std : 0.02);
    }
    return g;
}

ag_tensor *ag_demo_gpt_forward(ag_arena *A, ag_demo_gpt *g, ag_tensor *ids) {
    const int64_t T = ids->shape[ids->ndim - 1];
    ag_tensor *pos = ag_arange(A, AG_I32, 0, (double)T, 1);
    ag_tensor *x = ag_add(A, ag_nn_embedding_forward(A, g->wte, ids),
                          ag_nn_embedding_forward(A, g->wpe, pos)); /* [B,T,C] + [T,C] */
    for (int l = 0; l < g->cfg.n_layer; l++)
        x = ag_nn_block_forward(A, (ag_nn_block *)g->layers->base.children[l].child, x);
    x = ag_module_forward(g->norm, A, x);
    return ag_nn_linear_forward(A, g->lm_head, x);
}

ag_tensor *ag_demo_gpt_loss(ag_arena *A, ag_demo_gpt *g, ag_tensor *ids, ag_tensor *targets) {
    ag_tensor *logits = ag_demo_gpt_forward(A, g, ids);
    logits = ag_reshape(A, logits, AG_SHAPE(-1, g->cfg.vocab));
    return ag_cross_entropy(A, logits, targets, AG_DEMO_GPT_IGNORE);
}
