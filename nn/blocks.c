/* nn/blocks.c — causal multi-head self-attention, the MLP and the pre-norm
 * transformer block, composed from core ops and the layers (their gradients
 * come from the engine).
 *
 * Attention, with B batch rows, T positions, C = n_embd, H heads of hd = C/H:
 *
 *   q, k, v   = x Wq^T (+bq), ...             [B,T,C]     three Linears
 *   q, v      -> [B,T,H,hd] -> [B,H,T,hd]                  reshape (a view), transpose
 *   k^T       -> [B,T,H,hd] -> [B,H,hd,T]                  reshape, one permute
 *   att       = q k^T / sqrt(hd)              [B,H,T,T]    batched matmul
 *   att[i,j]  = -inf for j > i                             masked_fill with an i32 [T,T]
 *                                                          mask made in the step arena
 *   att       = dropout(softmax(att, -1))
 *   y         = att v                         [B,H,T,hd]
 *             -> [B,T,H,hd] -> [B,T,C]                     transpose, reshape
 *   y         = dropout(y Wo^T (+bo))         [B,T,C]
 *
 * When the weights' dropout is inactive (p = 0, or eval mode) the lines from
 * the head split to the join are one fused op, ag_causal_attention (core/
 * ops_attention.c: online softmax, nothing [B,H,T,T] formed or kept); from 64
 * rows of x on, q, k and v also come from one product with the three weights
 * stacked (the parameters stay three Linears), read in place by the op's
 * packed entry. The composed recipe above runs only when the weights must be
 * dropped out.
 * A 2-d x [T,C] runs as B = 1 and comes back [T,C].
 *
 * In the block, x + attention(norm(x)) and x + mlp(norm(x)) are formed by
 * the output projections themselves (ag_linear_add: the product added into
 * a copy of x) when their dropout is inactive: `project` below.
 */
#include <math.h>

#include "ag/nn.h"
#include "internal.h"
#include "nn_internal.h"

static bool dropout_ok(double p) { return p >= 0.0 && p < 1.0; }

/* ---- causal self-attention ------------------------------------------------------ */

static ag_tensor *attention_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    return ag_nn_attention_forward_(A, (ag_nn_attention *)m, x);
}

static void attention_describe(const ag_module *m, char *buf, size_t size) {
    const ag_nn_attention *a = (const ag_nn_attention *)m;
    snprintf(buf, size, "n_embd=%lld, n_head=%lld, dropout=%g", (long long)a->n_embd,
             (long long)a->n_head, a->dropout);
}

const ag_module_type ag_nn_attention_type = {"CausalSelfAttention", attention_forward,
                                             attention_describe};

/* A Linear(n, n, bias) registered under name; NULL on failure. */
static ag_nn_linear *add_linear(ag_module *parent, ag_rng *r, const char *name, int64_t in,
                                int64_t out, bool bias) {
    ag_nn_linear *l = ag_nn_linear_new_(parent->arena, r, in, out, bias);
    return l && ag_module_add_child_(parent, name, &l->base) ? l : NULL;
}

/* A Dropout(p) seeded from r, registered under name (so train/eval reaches it). */
static ag_nn_dropout *add_dropout(ag_module *parent, ag_rng *r, const char *name, double p) {
    ag_nn_dropout *d = ag_nn_dropout_new_(parent->arena, p, ag_rng_u64(r));
    return d && ag_module_add_child_(parent, name, &d->base) ? d : NULL;
}

ag_nn_attention *ag_nn_attention_new_(ag_arena *P, ag_rng *r, int64_t n_embd, int64_t n_head,
                                      bool bias, double dropout) {
    if (!P || !r || n_embd <= 0 || n_head <= 0 || n_embd % n_head != 0 ||
        !dropout_ok(dropout)) {
        ag__fail("nn_attention_new",
                 "CausalSelfAttention(n_embd=%lld, n_head=%lld, dropout=%g): expected an arena, "
                 "an rng, n_embd > 0 divisible by n_head > 0 and 0 <= dropout < 1",
                 (long long)n_embd, (long long)n_head, dropout);
        return NULL;
    }
    ag_nn_attention *a = ag_arena_calloc_(P, sizeof *a);
    if (!a) return NULL;
    ag_module_init(&a->base, &ag_nn_attention_type, P);
    a->n_embd = n_embd;
    a->n_head = n_head;
    a->dropout = dropout;
    if (!(a->q_proj = add_linear(&a->base, r, "q_proj", n_embd, n_embd, bias)) ||
        !(a->k_proj = add_linear(&a->base, r, "k_proj", n_embd, n_embd, bias)) ||
        !(a->v_proj = add_linear(&a->base, r, "v_proj", n_embd, n_embd, bias)) ||
        !(a->o_proj = add_linear(&a->base, r, "o_proj", n_embd, n_embd, bias)) ||
        !(a->attn_drop = add_dropout(&a->base, r, "attn_drop", dropout)) ||
        !(a->resid_drop = add_dropout(&a->base, r, "resid_drop", dropout)))
        return NULL;
    return a;
}

/* True when d drops anything (p > 0, in training mode). */
static bool dropout_active(const ag_nn_dropout *d) { return d->p > 0 && d->base.training; }

/* True when the attention weights go through an active Dropout: then they
 * must be formed, and the composed path runs. */
static bool attention_active_dropout(const ag_nn_attention *m) {
    return dropout_active(m->attn_drop);
}

/* dropout(l(x)), added to r when r is given (a residual connection). With
 * the dropout inactive the sum is one op, ag_linear_add: the product is
 * added into a copy of r, with no add node and no pass of its own. */
static ag_tensor *project(ag_arena *A, ag_nn_linear *l, ag_nn_dropout *d, ag_tensor *x,
                          ag_tensor *r) {
    if (r && !dropout_active(d)) return ag_linear_add_(A, x, l->weight, l->bias, r);
    ag_tensor *y = ag_nn_dropout_forward_(A, d, ag_nn_linear_forward_(A, l, x));
    return r ? ag_add_(A, r, y) : y;
}

/* The composed attention of q, k, v [B,T,C] (or [T,C]) with the weights'
 * dropout: the recipe at the top of this file, result of q's shape. */
static ag_tensor *composed_attention(ag_arena *A, ag_nn_attention *m, ag_tensor *q,
                                     ag_tensor *k, ag_tensor *v) {
    if (!q || !k || !v) return NULL;
    const int64_t C = m->n_embd, H = m->n_head, hd = C / H;
    const int64_t B = q->ndim == 3 ? q->shape[0] : 1, T = q->shape[q->ndim - 2];
    const int64_t heads[4] = {B, T, H, hd};

    /* heads split: q, v [B,H,T,hd]; k^T [B,H,hd,T] */
    ag_tensor *qh = ag_transpose_(A, ag_reshape_(A, q, 4, heads), 1, 2);
    ag_tensor *kt = ag_permute_(A, ag_reshape_(A, k, 4, heads), (const int[]){0, 2, 3, 1});
    ag_tensor *vh = ag_transpose_(A, ag_reshape_(A, v, 4, heads), 1, 2);

    /* attention weights [B,H,T,T]: scaled scores, the future masked out, softmax */
    ag_tensor *att = ag_mul_scalar_(A, ag_matmul_(A, qh, kt), 1.0 / sqrt((double)hd));
    att = ag_masked_fill_(A, att, ag__causal_mask(A, T), -INFINITY);
    att = ag_softmax_(A, att, -1);
    att = ag_nn_dropout_forward_(A, m->attn_drop, att);

    /* weighted values, heads joined back: [B,H,T,hd] -> [B,T,H,hd] -> q's shape */
    ag_tensor *y = ag_transpose_(A, ag_matmul_(A, att, vh), 1, 2);
    return ag_reshape_(A, y, q->ndim, q->shape);
}

/* Rows of x (B*T) from which q, k, v come from one product. Below it the two
 * concats cost more than the one larger gemm saves: with 16 rows (bench-train
 * micro) a step ran ~10% slower stacked, with 1472 (the word list) and 2048
 * (small) a few % faster. */
enum { STACKED_MIN_ROWS = 64 };

/* q, k, v from one product with the three weights stacked [3C, C] (concat:
 * its backward splits the gradient back), into the packed fused attention. */
static ag_tensor *stacked_attention(ag_arena *A, ag_nn_attention *m, ag_tensor *x) {
    ag_nn_linear *p[3] = {m->q_proj, m->k_proj, m->v_proj};
    ag_tensor *w = ag_concat_(A, 3, (ag_tensor *[]){p[0]->weight, p[1]->weight, p[2]->weight}, 0);
    ag_tensor *b = p[0]->bias ? ag_concat_(A, 3, (ag_tensor *[]){p[0]->bias, p[1]->bias,
                                                                p[2]->bias}, 0)
                              : NULL;
    return ag__causal_attention_packed(A, ag_linear_(A, x, w, b), m->n_head);
}

/* The attention of x, added to r when r is given. */
static ag_tensor *attention_plus(ag_arena *A, ag_nn_attention *m, ag_tensor *x, ag_tensor *r) {
    if (!ag__check_float("nn_attention_forward", x)) return NULL;
    const int64_t C = m->n_embd;
    if ((x->ndim != 2 && x->ndim != 3) || x->shape[x->ndim - 1] != C) {
        ag__fail("nn_attention_forward", "x %s: expected [B, T, %lld] or [T, %lld] (n_embd = %lld)",
                 ag__shp(x), (long long)C, (long long)C, (long long)C);
        return NULL;
    }
    ag_tensor *y;
    if (!attention_active_dropout(m) && x->numel / C >= STACKED_MIN_ROWS) {
        y = stacked_attention(A, m, x);
    } else {
        ag_tensor *q = ag_nn_linear_forward_(A, m->q_proj, x);
        ag_tensor *k = ag_nn_linear_forward_(A, m->k_proj, x);
        ag_tensor *v = ag_nn_linear_forward_(A, m->v_proj, x);
        y = attention_active_dropout(m) ? composed_attention(A, m, q, k, v)
                                        : ag_causal_attention_(A, q, k, v, m->n_head);
    }
    return project(A, m->o_proj, m->resid_drop, y, r);
}

ag_tensor *ag_nn_attention_forward_(ag_arena *A, ag_nn_attention *m, ag_tensor *x) {
    if (!m || !x) return NULL;
    return attention_plus(A, m, x, NULL);
}

/* ---- MLP ------------------------------------------------------------------------- */

static ag_tensor *mlp_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    return ag_nn_mlp_forward_(A, (ag_nn_mlp *)m, x);
}

static void mlp_describe(const ag_module *m, char *buf, size_t size) {
    snprintf(buf, size, "act=%s", ag_activation_name(((const ag_nn_mlp *)m)->act));
}

const ag_module_type ag_nn_mlp_type = {"MLP", mlp_forward, mlp_describe};

ag_nn_mlp *ag_nn_mlp_new_(ag_arena *P, ag_rng *r, int64_t n_embd, int64_t n_hidden,
                          ag_activation act, bool bias, double dropout) {
    if (!P || !r || n_embd <= 0 || n_hidden <= 0 || !ag_activation_name(act) || !dropout_ok(dropout)) {
        ag__fail("nn_mlp_new",
                 "MLP(n_embd=%lld, n_hidden=%lld, act=%d, dropout=%g): expected an arena, an "
                 "rng, sizes > 0, a known activation and 0 <= dropout < 1",
                 (long long)n_embd, (long long)n_hidden, (int)act, dropout);
        return NULL;
    }
    ag_nn_mlp *m = ag_arena_calloc_(P, sizeof *m);
    if (!m) return NULL;
    ag_module_init(&m->base, &ag_nn_mlp_type, P);
    m->act = act;
    if (!(m->up_proj = add_linear(&m->base, r, "up_proj", n_embd, n_hidden, bias)) ||
        !(m->down_proj = add_linear(&m->base, r, "down_proj", n_hidden, n_embd, bias)) ||
        !(m->drop = add_dropout(&m->base, r, "drop", dropout)))
        return NULL;
    return m;
}

/* The MLP of x, added to r when r is given. */
static ag_tensor *mlp_plus(ag_arena *A, ag_nn_mlp *m, ag_tensor *x, ag_tensor *r) {
    ag_tensor *h = ag_activate_(A, ag_nn_linear_forward_(A, m->up_proj, x), m->act);
    return project(A, m->down_proj, m->drop, h, r);
}

ag_tensor *ag_nn_mlp_forward_(ag_arena *A, ag_nn_mlp *m, ag_tensor *x) {
    if (!m || !x) return NULL;
    return mlp_plus(A, m, x, NULL);
}

/* ---- norms ------------------------------------------------------------------------ */

ag_module *ag_norm_new_(ag_arena *P, ag_norm_choice c, int64_t n) {
    const char *op = "norm_new";
    const char *name = c.type ? (c.type->name ? c.type->name : "(unnamed type)") : "(no type)";
    if (!P || n <= 0 || !c.type) {
        ag__fail(op, "%s over %lld features: expected an arena, n > 0 and a norm type", name,
                 (long long)n);
        return NULL;
    }
    ag_norm_make_fn *make = ag_norm_maker(c.type);
    if (!make) {
        ag__fail(op, "%s over %lld features: %s; expected a norm type registered with a "
                 "constructor (ag_norm_register_make)", name, (long long)n,
                 ag_norm_is_registered(c.type) ? "it was registered without a constructor"
                                               : "it is not a registered norm type");
        return NULL;
    }
    if (!ag_eps_is_default(c.eps) && !ag__norm_eps_ok(op, name, 1, &n, c.eps)) return NULL;
    ag_module *m = make(P, c.type, n, c.eps);
    if (m && m->type != c.type) {
        ag__fail(op, "the constructor registered for %s made a %s: expected a %s", name,
                 m->type && m->type->name ? m->type->name : "module of another type", name);
        return NULL;
    }
    return m;
}

/* ---- the block -------------------------------------------------------------------- */

static ag_tensor *block_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    return ag_nn_block_forward_(A, (ag_nn_block *)m, x);
}

const ag_module_type ag_nn_block_type = {"Block", block_forward, NULL};

ag_nn_block *ag_nn_block_new_(ag_arena *P, ag_rng *r, const ag_block_config *c) {
    if (!P || !r || !c) {
        ag__fail("nn_block_new", "expected an arena, an rng and a config");
        return NULL;
    }
    if (c->n_embd <= 0 || c->n_head <= 0 || c->n_embd % c->n_head != 0 || c->n_hidden < 0 ||
        !ag_activation_name(c->act) || !dropout_ok(c->dropout)) {
        ag__fail("nn_block_new",
                 "Block(n_embd=%lld, n_head=%lld, n_hidden=%lld, act=%d, dropout=%g): expected "
                 "n_embd > 0 divisible by n_head > 0, n_hidden >= 0, a known activation and "
                 "0 <= dropout < 1",
                 (long long)c->n_embd, (long long)c->n_head, (long long)c->n_hidden, (int)c->act,
                 c->dropout);
        return NULL;
    }
    ag_nn_block *b = ag_arena_calloc_(P, sizeof *b);
    if (!b) return NULL;
    ag_module_init(&b->base, &ag_nn_block_type, P);
    const int64_t n_hidden = c->n_hidden ? c->n_hidden : 4 * c->n_embd;
    if (!(b->input_layernorm = ag_norm_new_(P, c->norm, c->n_embd)) ||
        !ag_module_add_child_(&b->base, "input_layernorm", b->input_layernorm))
        return NULL;
    if (!(b->self_attn = ag_nn_attention_new_(P, r, c->n_embd, c->n_head, c->bias, c->dropout)) ||
        !ag_module_add_child_(&b->base, "self_attn", &b->self_attn->base))
        return NULL;
    if (!(b->post_attention_layernorm = ag_norm_new_(P, c->norm, c->n_embd)) ||
        !ag_module_add_child_(&b->base, "post_attention_layernorm", b->post_attention_layernorm))
        return NULL;
    if (!(b->mlp = ag_nn_mlp_new_(P, r, c->n_embd, n_hidden, c->act, c->bias, c->dropout)) ||
        !ag_module_add_child_(&b->base, "mlp", &b->mlp->base))
        return NULL;
    return b;
}

ag_tensor *ag_nn_block_forward_(ag_arena *A, ag_nn_block *m, ag_tensor *x) {
    if (!m || !x) return NULL;
    /* x = x + self_attn(input_layernorm(x)); the sum is formed by the
       output projection (project above) */
    ag_tensor *h = ag_module_forward_(m->input_layernorm, A, x);
    h = h ? attention_plus(A, m->self_attn, h, x) : NULL;
    /* x = x + mlp(post_attention_layernorm(x)) */
    ag_tensor *f = h ? ag_module_forward_(m->post_attention_layernorm, A, h) : NULL;
    return f ? mlp_plus(A, m->mlp, f, h) : NULL;
}
