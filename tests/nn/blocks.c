/* tests/nn/blocks.c — Embedding, Dropout, causal self-attention, the MLP and
 * the transformer block. Expected values come from loops over doubles in
 * this file (a reference attention, a reference MLP), from counting, or
 * from the residual structure; gradients are checked by hand here and by
 * finite differences in the gradient-check suite (cases_blocks.c). */
#include <stdlib.h>
#include <string.h>

#include "nn_test.h"

/* ---- helpers ------------------------------------------------------------------ */

/* Values of t as doubles, in a buffer from A. */
static double *vals(ag_arena *A, const ag_tensor *t) {
    double *v = ag_arena_alloc(A, (size_t)(t->numel ? t->numel : 1) * sizeof *v);
    ag_to_f64(t, v);
    return v;
}

/* y[M, out] = x[M, in] W^T + b by loops (b may be NULL). */
static void ref_linear(ag_arena *A, const double *x, int64_t M, const ag_nn_linear *l,
                       double *y) {
    const int64_t in = l->in_features, out = l->out_features;
    const double *w = vals(A, l->weight), *b = l->bias ? vals(A, l->bias) : NULL;
    for (int64_t i = 0; i < M; i++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int64_t k = 0; k < in; k++) s += x[i * in + k] * w[o * in + k];
            y[i * out + o] = s;
        }
}

/* Causal self-attention on x [B, T, C] by loops, written from the formula. */
static void ref_attention(ag_arena *A, const ag_nn_attention *m, const double *x, int64_t B,
                          int64_t T, double *out) {
    const int64_t C = m->n_embd, H = m->n_head, hd = C / H, M = B * T;
    double *q = ag_arena_alloc(A, (size_t)(M * C) * sizeof(double));
    double *k = ag_arena_alloc(A, (size_t)(M * C) * sizeof(double));
    double *v = ag_arena_alloc(A, (size_t)(M * C) * sizeof(double));
    double *y = ag_arena_alloc(A, (size_t)(M * C) * sizeof(double));
    double *w = ag_arena_alloc(A, (size_t)T * sizeof(double));
    ref_linear(A, x, M, m->q_proj, q);
    ref_linear(A, x, M, m->k_proj, k);
    ref_linear(A, x, M, m->v_proj, v);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < T; i++) {
                const double *qi = q + (b * T + i) * C + h * hd;
                double mx = -INFINITY, z = 0.0;
                for (int64_t j = 0; j <= i; j++) {
                    const double *kj = k + (b * T + j) * C + h * hd;
                    double s = 0.0;
                    for (int64_t d = 0; d < hd; d++) s += qi[d] * kj[d];
                    w[j] = s / sqrt((double)hd);
                    if (w[j] > mx) mx = w[j];
                }
                for (int64_t j = 0; j <= i; j++) z += (w[j] = exp(w[j] - mx));
                for (int64_t d = 0; d < hd; d++) {
                    double s = 0.0;
                    for (int64_t j = 0; j <= i; j++) s += w[j] / z * v[(b * T + j) * C + h * hd + d];
                    y[(b * T + i) * C + h * hd + d] = s;
                }
            }
    ref_linear(A, y, M, m->o_proj, out);
}

static void zero_linear(ag_nn_linear *l) {
    ck_assert(ag_init_zeros(l->weight));
    if (l->bias) ck_assert(ag_init_zeros(l->bias));
}

/* ---- Embedding ------------------------------------------------------------------ */

START_TEST(embedding_lookup_and_scatter_add) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 1);
    ag_nn_embedding *e = ag_nn_embedding_new(A, &r, 4, 2);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->base.type->name, "Embedding");
    ck_shape(e->weight, 2, ((int64_t[]){4, 2}));
    ck_assert(e->weight->requires_grad);
    for (int64_t i = 0; i < 8; i++) ag_set_flat(e->weight, i, (double)(10 * (i / 2) + i % 2));
    /* ids [2,3] with repeats: row 1 three times, row 3 twice, row 2 never */
    const int32_t id[6] = {1, 3, 1, 0, 1, 3};
    ag_tensor *ids = ag_from_array(A, AG_I32, AG_SHAPE(2, 3), id);
    ag_tensor *y = ag_nn_embedding_forward(A, e, ids);
    ck_shape(y, 3, ((int64_t[]){2, 3, 2}));
    for (int i = 0; i < 6; i++) {
        ck_close(ag_get_flat(y, 2 * i), 10.0 * id[i], 0);
        ck_close(ag_get_flat(y, 2 * i + 1), 10.0 * id[i] + 1, 0);
    }
    /* the module's generic forward is the same */
    ag_tensor *y2 = ag_module_forward(&e->base, A, ids);
    ck_assert_int_eq(memcmp(y->data, y2->data, 12 * sizeof(float)), 0);

    /* gradient: each used row receives the sum of the output gradients at its ids */
    double g[12];
    for (int i = 0; i < 12; i++) g[i] = 0.5 + i;
    ck_assert(ag_backward(y, ag_from_f64(A, AG_F32, AG_SHAPE(2, 3, 2), g)));
    double want[8] = {0};
    for (int i = 0; i < 6; i++)
        for (int d = 0; d < 2; d++) want[id[i] * 2 + d] += g[2 * i + d];
    ck_assert_double_eq(want[4], 0.0); /* row 2 unused */
    ck_values(e->weight->grad, 8, want, 1e-6);
    ag_arena_free(A);
}
END_TEST

START_TEST(embedding_init_and_describe) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 2);
    ag_nn_embedding *e = ag_nn_embedding_new(A, &r, 27, 16);
    ck_assert_int_eq(e->weight->dtype, AG_F32);
    /* normal(0, 1): 432 draws, mean within 5 standard errors of 0, std near 1 */
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < e->weight->numel; i++) {
        double v = ag_get_flat(e->weight, i);
        s += v;
        s2 += v * v;
    }
    double n = (double)e->weight->numel, mean = s / n, sd = sqrt(s2 / n - mean * mean);
    ck_assert_msg(fabs(mean) < 5.0 / sqrt(n), "mean %g", mean);
    ck_assert_msg(fabs(sd - 1.0) < 0.15, "std %g", sd);
    ck_assert_int_eq(ag_module_num_params(&e->base), 27 * 16);
    char *p = nn_printed(A, &e->base);
    ck_assert_msg(strstr(p, "Embedding(27, 16)  432 params"), "printed:\n%s", p);
    /* the same seed gives the same weight */
    ag_rng_seed(&r, 2);
    ag_nn_embedding *e2 = ag_nn_embedding_new(A, &r, 27, 16);
    ck_assert_int_eq(memcmp(e->weight->data, e2->weight->data, 432 * sizeof(float)), 0);
    ag_arena_free(A);
}
END_TEST

/* ---- Dropout --------------------------------------------------------------------- */

START_TEST(dropout_rate_and_scale) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 3);
    const int64_t n = 20000;
    const double p = 0.3;
    ag_tensor *x = ag_rand(A, &r, AG_F32, AG_SHAPE(100, 200), 1.0, 2.0); /* never 0 */
    ag_set_requires_grad(x, true);
    ag_tensor *y = ag_dropout(A, x, p, true, &r);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_ne(y, x);
    ck_assert_int_eq(y->dtype, AG_F32);
    ck_shape(y, 2, ((int64_t[]){100, 200}));
    const float *px = x->data, *py = y->data;
    const float scale = (float)(1.0 / (1.0 - p));
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        if (py[i] == 0.0f) zeros++;
        else ck_assert_msg(py[i] == px[i] * scale, "y[%lld] = %.9g, x * 1/(1-p) = %.9g",
                           (long long)i, py[i], px[i] * scale);
    }
    /* binomial(n, p): within 5 standard deviations of n p */
    const double sd = sqrt((double)n * p * (1 - p));
    ck_assert_msg(fabs((double)zeros - n * p) < 5 * sd, "%lld zeros of %lld (p = %g)",
                  (long long)zeros, (long long)n, p);
    /* the gradient is masked and scaled the same way */
    ck_assert(ag_backward(y, ag_ones(A, AG_F32, AG_SHAPE(100, 200))));
    const float *gx = x->grad->data;
    for (int64_t i = 0; i < n; i++) ck_assert_float_eq(gx[i], py[i] == 0.0f ? 0.0f : scale);
    ag_arena_free(A);
}
END_TEST

START_TEST(dropout_f64_and_bf16) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 4);
    ag_tensor *x = ag_rand(A, &r, AG_F64, AG_SHAPE(1000), 1.0, 2.0);
    ag_tensor *y = ag_dropout(A, x, 0.5, true, &r);
    ck_assert_int_eq(y->dtype, AG_F64);
    int zeros = 0;
    for (int i = 0; i < 1000; i++) {
        double v = ((double *)y->data)[i];
        if (v == 0) zeros++;
        else ck_assert_double_eq(v, ((double *)x->data)[i] * 2.0);
    }
    ck_assert_msg(abs(zeros - 500) < 5 * 16, "%d zeros", zeros); /* sd = sqrt(250) */
    /* bf16 stays bf16; with p = 0.5 the scale 2 is exact in bf16 */
    ag_tensor *xb = ag_cast(A, x, AG_BF16);
    ag_tensor *yb = ag_dropout(A, xb, 0.5, true, &r);
    ck_assert_int_eq(yb->dtype, AG_BF16);
    for (int i = 0; i < 1000; i++) {
        double v = ag_get_flat(yb, i);
        ck_assert(v == 0 || v == 2.0 * ag_get_flat(xb, i));
    }
    ag_arena_free(A);
}
END_TEST

START_TEST(dropout_seeded) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r1, r2, r3;
    ag_rng_seed(&r1, 7);
    ag_rng_seed(&r2, 7);
    ag_rng_seed(&r3, 8);
    ag_tensor *x = ag_ones(A, AG_F32, AG_SHAPE(8, 16));
    ag_tensor *a = ag_dropout(A, x, 0.5, true, &r1);
    ag_tensor *b = ag_dropout(A, x, 0.5, true, &r2);
    ag_tensor *c = ag_dropout(A, x, 0.5, true, &r3);
    ck_assert_int_eq(memcmp(a->data, b->data, 128 * sizeof(float)), 0);
    ck_assert_int_ne(memcmp(a->data, c->data, 128 * sizeof(float)), 0);
    /* modules: the same seed gives the same masks; each call draws a new one */
    ag_nn_dropout *d1 = ag_nn_dropout_new(A, 0.5, 42), *d2 = ag_nn_dropout_new(A, 0.5, 42);
    ck_assert_str_eq(d1->base.type->name, "Dropout");
    ag_tensor *m1 = ag_nn_dropout_forward(A, d1, x), *m2 = ag_nn_dropout_forward(A, d2, x);
    ck_assert_int_eq(memcmp(m1->data, m2->data, 128 * sizeof(float)), 0);
    ag_tensor *m3 = ag_module_forward(&d1->base, A, x);
    ck_assert_int_ne(memcmp(m1->data, m3->data, 128 * sizeof(float)), 0);
    ag_arena_free(A);
}
END_TEST

START_TEST(dropout_identity) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 9);
    ag_tensor *x = ag_randn(A, &r, AG_F32, AG_SHAPE(3, 4), 0.0, 1.0);
    /* p = 0 or not training: x itself (no rng needed) */
    ck_assert_ptr_eq(ag_dropout(A, x, 0.0, true, &r), x);
    ck_assert_ptr_eq(ag_dropout(A, x, 0.0, true, NULL), x);
    ck_assert_ptr_eq(ag_dropout(A, x, 0.9, false, NULL), x);
    ag_nn_dropout *d = ag_nn_dropout_new(A, 0.25, 1);
    ck_assert_ptr_ne(ag_nn_dropout_forward(A, d, x), x);
    ag_module_train(&d->base, false);
    ck_assert_ptr_eq(ag_nn_dropout_forward(A, d, x), x);
    ag_module_train(&d->base, true);
    ck_assert_ptr_ne(ag_nn_dropout_forward(A, d, x), x);
    ag_nn_dropout *d0 = ag_nn_dropout_new(A, 0.0, 1);
    ck_assert_ptr_eq(ag_nn_dropout_forward(A, d0, x), x);
    ck_assert_int_eq(ag_module_num_params(&d->base), 0);
    char *p = nn_printed(A, &d->base);
    ck_assert_msg(strstr(p, "Dropout(p=0.25)"), "printed:\n%s", p);
    /* an empty tensor */
    ag_tensor *e = ag_zeros(A, AG_F32, AG_SHAPE(0, 4));
    ag_tensor *ye = ag_dropout(A, e, 0.5, true, &r);
    ck_shape(ye, 2, ((int64_t[]){0, 4}));
    ag_arena_free(A);
}
END_TEST

/* ---- causal self-attention ---------------------------------------------------------- */

START_TEST(attention_shapes_and_names) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 10);
    ag_nn_attention *m = ag_nn_attention_new(A, &r, 4, 2, true, 0.0);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->base.type->name, "CausalSelfAttention");
    ag_tensor *x3 = ag_randn(A, &r, AG_F32, AG_SHAPE(2, 3, 4), 0.0, 1.0);
    ck_shape(ag_nn_attention_forward(A, m, x3), 3, ((int64_t[]){2, 3, 4}));
    ag_tensor *x2 = ag_randn(A, &r, AG_F32, AG_SHAPE(5, 4), 0.0, 1.0);
    ck_shape(ag_nn_attention_forward(A, m, x2), 2, ((int64_t[]){5, 4}));
    ag_tensor *x1 = ag_randn(A, &r, AG_F32, AG_SHAPE(2, 1, 4), 0.0, 1.0);
    ck_shape(ag_module_forward(&m->base, A, x1), 3, ((int64_t[]){2, 1, 4}));
    ag_named_param *ps;
    int n = ag_module_parameters(&m->base, A, &ps);
    const char *want[] = {"q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias",
                          "v_proj.weight", "v_proj.bias", "o_proj.weight", "o_proj.bias"};
    ck_assert_int_eq(n, 8);
    for (int i = 0; i < n; i++) ck_assert_str_eq(ps[i].name, want[i]);
    ck_assert_int_eq(ag_module_num_params(&m->base), 4 * (16 + 4));
    char *p = nn_printed(A, &m->base);
    ck_assert_msg(strstr(p, "CausalSelfAttention(\n  n_embd=4, n_head=2") &&
                      strstr(p, "(q_proj): Linear(in_features=4, out_features=4, bias=true)") &&
                      strstr(p, "(attn_drop): Dropout(p=0)") && strstr(p, "(resid_drop): Dropout"),
                  "printed:\n%s", p);
    ag_arena_free(A);
}
END_TEST

/* The module against the loops of ref_attention, in f64 and in f32. */
START_TEST(attention_matches_reference) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 11);
    const int64_t B = 2, T = 4, C = 6;
    ag_nn_attention *m = ag_nn_attention_new(A, &r, C, 3, true, 0.0);
    ag_tensor *x = ag_randn(A, &r, AG_F32, AG_SHAPE(B, T, C), 0.0, 1.0);
    double *want = ag_arena_alloc(A, (size_t)(B * T * C) * sizeof(double));
    ref_attention(A, m, vals(A, x), B, T, want);
    ck_values(ag_nn_attention_forward(A, m, x), B * T * C, want, 1e-5);
    /* f64 module: agreement to rounding */
    ck_assert(ag_module_cast(&m->base, AG_F64));
    ag_tensor *x64 = ag_cast(A, x, AG_F64);
    ref_attention(A, m, vals(A, x64), B, T, want);
    ck_values(ag_nn_attention_forward(A, m, x64), B * T * C, want, 1e-12);
    /* a 2-d x is batch row 0 */
    ag_tensor *xr = ag_narrow(A, x64, 0, 1, 1);
    ag_tensor *x2 = ag_reshape(A, xr, AG_SHAPE(T, C));
    ck_values(ag_nn_attention_forward(A, m, x2), T * C, want + T * C, 1e-12);
    /* without biases, one head */
    ag_nn_attention *m1 = ag_nn_attention_new(A, &r, C, 1, false, 0.0);
    ck_assert_ptr_null(m1->q_proj->bias);
    ck_assert(ag_module_cast(&m1->base, AG_F64));
    ref_attention(A, m1, vals(A, x64), B, T, want);
    ck_values(ag_nn_attention_forward(A, m1, x64), B * T * C, want, 1e-12);
    /* 80 rows: q, k, v from one product of the stacked weights */
    const int64_t B8 = 2, T8 = 40;
    ag_tensor *xl = ag_randn(A, &r, AG_F64, AG_SHAPE(B8, T8, C), 0.0, 1.0);
    double *wl = ag_arena_alloc(A, (size_t)(B8 * T8 * C) * sizeof(double));
    ref_attention(A, m, vals(A, xl), B8, T8, wl);
    ck_values(ag_nn_attention_forward(A, m, xl), B8 * T8 * C, wl, 1e-12);
    ref_attention(A, m1, vals(A, xl), B8, T8, wl);
    ck_values(ag_nn_attention_forward(A, m1, xl), B8 * T8 * C, wl, 1e-12);
    ag_arena_free(A);
}
END_TEST

/* T = 1: the only weight is 1, so y = o_proj(v_proj(x)). */
START_TEST(attention_one_position) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 12);
    ag_nn_attention *m = ag_nn_attention_new(A, &r, 4, 2, true, 0.0);
    ck_assert(ag_module_cast(&m->base, AG_F64));
    ag_tensor *x = ag_randn(A, &r, AG_F64, AG_SHAPE(3, 1, 4), 0.0, 1.0);
    double v[12], want[12];
    ref_linear(A, vals(A, x), 3, m->v_proj, v);
    ref_linear(A, v, 3, m->o_proj, want);
    ck_values(ag_nn_attention_forward(A, m, x), 12, want, 1e-12);
    ag_arena_free(A);
}
END_TEST

/* q = k = 0: uniform weights over the past, y_i = o_proj(mean_{j<=i} v_j). */
START_TEST(attention_uniform_is_running_mean) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 13);
    const int64_t T = 5, C = 4;
    for (int64_t H = 1; H <= 2; H++) {
        ag_nn_attention *m = ag_nn_attention_new(A, &r, C, H, true, 0.0);
        ck_assert(ag_module_cast(&m->base, AG_F64));
        zero_linear(m->q_proj);
        zero_linear(m->k_proj);
        ag_tensor *x = ag_randn(A, &r, AG_F64, AG_SHAPE(T, C), 0.0, 1.0);
        double v[20], mean[20], want[20];
        ref_linear(A, vals(A, x), T, m->v_proj, v);
        for (int64_t i = 0; i < T; i++)
            for (int64_t c = 0; c < C; c++) {
                double s = 0;
                for (int64_t j = 0; j <= i; j++) s += v[j * C + c];
                mean[i * C + c] = s / (double)(i + 1);
            }
        ref_linear(A, mean, T, m->o_proj, want);
        ck_values(ag_nn_attention_forward(A, m, x), T * C, want, 1e-12);
    }
    ag_arena_free(A);
}
END_TEST

/* Changing x at position t changes no output before t; no gradient flows
 * from an output at position s to inputs after s. */
START_TEST(attention_is_causal) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 14);
    const int64_t B = 2, T = 5, C = 8, t = 2;
    ag_nn_attention *m = ag_nn_attention_new(A, &r, C, 2, true, 0.0);
    ck_assert(ag_module_cast(&m->base, AG_F64));
    ag_tensor *x = ag_randn(A, &r, AG_F64, AG_SHAPE(B, T, C), 0.0, 1.0);
    ag_tensor *x2 = ag_copy(A, x);
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++) ((double *)x2->data)[(b * T + t) * C + c] += 1.0 + c;
    ag_tensor *y = ag_nn_attention_forward(A, m, x), *y2 = ag_nn_attention_forward(A, m, x2);
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < T; s++) {
            double diff = 0;
            for (int64_t c = 0; c < C; c++) {
                int64_t i = (b * T + s) * C + c;
                diff = fmax(diff, fabs(ag_get_flat(y, i) - ag_get_flat(y2, i)));
            }
            if (s < t) ck_assert_msg(diff <= 1e-13, "b %lld s %lld diff %g", (long long)b,
                                     (long long)s, diff);
            else ck_assert_msg(diff > 1e-6, "b %lld s %lld unchanged", (long long)b, (long long)s);
        }
    /* gradient of the outputs at position 1 reaches positions 0 and 1 only */
    ag_set_requires_grad(x, true);
    ag_tensor *y1 = ag_narrow(A, ag_nn_attention_forward(A, m, x), 1, 1, 1);
    ck_assert(ag_backward(ag_sum(A, y1, 0, NULL, false), NULL));
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < T; s++) {
            double g = 0;
            for (int64_t c = 0; c < C; c++)
                g = fmax(g, fabs(ag_get_flat(x->grad, (b * T + s) * C + c)));
            if (s <= 1) ck_assert_msg(g > 0, "no gradient at s %lld", (long long)s);
            else ck_assert_msg(g == 0, "gradient %g at s %lld", g, (long long)s);
        }
    ag_arena_free(A);
}
END_TEST

START_TEST(attention_dropout_train_eval) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 15);
    ag_nn_attention *m = ag_nn_attention_new(A, &r, 8, 2, true, 0.5);
    ag_tensor *x = ag_randn(A, &r, AG_F32, AG_SHAPE(2, 6, 8), 0.0, 1.0);
    ag_tensor *a = ag_nn_attention_forward(A, m, x), *b = ag_nn_attention_forward(A, m, x);
    ck_assert_int_ne(memcmp(a->data, b->data, 96 * sizeof(float)), 0);
    ag_module_train(&m->base, false);
    ck_assert(!m->attn_drop->base.training && !m->resid_drop->base.training);
    a = ag_nn_attention_forward(A, m, x);
    b = ag_nn_attention_forward(A, m, x);
    ck_assert_int_eq(memcmp(a->data, b->data, 96 * sizeof(float)), 0);
    /* eval mode equals the reference without dropout */
    double *want = ag_arena_alloc(A, 96 * sizeof(double));
    ref_attention(A, m, vals(A, x), 2, 6, want);
    ck_values(a, 96, want, 1e-5);
    ag_arena_free(A);
}
END_TEST

/* ---- MLP ----------------------------------------------------------------------------- */

START_TEST(mlp_matches_hand_composition) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 16);
    const ag_activation acts[] = {AG_ACT_GELU, AG_ACT_GELU_TANH, AG_ACT_RELU, AG_ACT_SILU};
    const char *names[] = {"act=gelu", "act=gelu_tanh", "act=relu", "act=silu"};
    for (int a = 0; a < 4; a++) {
        for (int bias = 0; bias <= 1; bias++) {
            ag_nn_mlp *m = ag_nn_mlp_new(A, &r, 4, 6, acts[a], bias, 0.0);
            ck_assert_ptr_nonnull(m);
            ck_assert_str_eq(m->base.type->name, "MLP");
            ck_assert_int_eq(ag_module_num_params(&m->base), 24 + 24 + (bias ? 6 + 4 : 0));
            ck_assert(ag_module_cast(&m->base, AG_F64));
            ag_tensor *x = ag_randn(A, &r, AG_F64, AG_SHAPE(2, 3, 4), 0.0, 2.0);
            double h[36], want[24];
            ref_linear(A, vals(A, x), 6, m->up_proj, h);
            for (int i = 0; i < 36; i++) h[i] = nn_ref_act(h[i], acts[a]);
            ref_linear(A, h, 6, m->down_proj, want);
            ag_tensor *y = ag_nn_mlp_forward(A, m, x);
            ck_shape(y, 3, ((int64_t[]){2, 3, 4}));
            ck_values(y, 24, want, 1e-12);
            char *p = nn_printed(A, &m->base);
            ck_assert_msg(strstr(p, names[a]) && strstr(p, "(up_proj): Linear(in_features=4, "
                                                           "out_features=6"),
                          "printed:\n%s", p);
        }
    }
    ag_arena_free(A);
}
END_TEST

START_TEST(activate_each) {
    ag_arena *A = ag_arena_new(0);
    const double xv[5] = {-2.0, -0.5, 0.0, 0.7, 3.0};
    ag_tensor *x = ag_from_f64(A, AG_F64, AG_SHAPE(5), xv);
    const ag_activation acts[] = {AG_ACT_GELU, AG_ACT_GELU_TANH, AG_ACT_RELU, AG_ACT_SILU};
    for (int a = 0; a < 4; a++) {
        double want[5];
        for (int i = 0; i < 5; i++) want[i] = nn_ref_act(xv[i], acts[a]);
        ck_values(ag_activate(A, x, acts[a]), 5, want, 1e-14);
    }
    ck_assert_ptr_null(ag_activate(A, NULL, AG_ACT_GELU));
    ag_arena_free(A);
}
END_TEST

/* ---- the block ----------------------------------------------------------------------- */

/* the initializers are constant expressions: they work at file scope */
static const ag_norm_choice LLAMA = AG_NORM_RMS(AG_RMSNORM_LLAMA);
static const ag_norm_choice LAYERNORM = AG_NORM_LAYERNORM;

START_TEST(block_residual_structure) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 17);
    const ag_norm_choice norms[] = {LLAMA, LAYERNORM};
    for (int k = 0; k < 2; k++) {
        ag_block_config c = {.n_embd = 8, .n_head = 2, .act = AG_ACT_GELU, .bias = true,
                             .norm = norms[k]};
        ag_nn_block *b = ag_nn_block_new(A, &r, &c);
        ck_assert_ptr_nonnull(b);
        ck_assert_str_eq(b->base.type->name, "Block");
        ag_tensor *x = ag_randn(A, &r, AG_F32, AG_SHAPE(2, 5, 8), 0.0, 1.0);
        ag_tensor *y = ag_nn_block_forward(A, b, x);
        ck_assert_int_ne(memcmp(x->data, y->data, 80 * sizeof(float)), 0);
        /* with the output projections zeroed both branches add exactly 0 */
        zero_linear(b->self_attn->o_proj);
        zero_linear(b->mlp->down_proj);
        y = ag_module_forward(&b->base, A, x);
        ck_shape(y, 3, ((int64_t[]){2, 5, 8}));
        ck_assert_int_eq(memcmp(x->data, y->data, 80 * sizeof(float)), 0);
    }
    ag_arena_free(A);
}
END_TEST

/* The block is x + attn(ln1(x)), then h + mlp(ln2(h)): checked against the
 * pieces, with the two norms' weights set apart so a swap would show. */
START_TEST(block_is_prenorm_composition) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 18);
    const ag_norm_choice norms[] = {LLAMA, LAYERNORM};
    for (int k = 0; k < 2; k++) {
        ag_block_config c = {.n_embd = 6, .n_head = 3, .n_hidden = 10, .act = AG_ACT_SILU,
                             .bias = k == 1, .norm = norms[k]};
        ag_nn_block *b = ag_nn_block_new(A, &r, &c);
        ck_assert(ag_module_cast(&b->base, AG_F64));
        ck_assert(ag_init_constant(ag_module_param(&b->base, "input_layernorm.weight"), 2.0));
        ck_assert(ag_init_constant(ag_module_param(&b->base, "post_attention_layernorm.weight"),
                                   0.5));
        ag_tensor *x = ag_randn(A, &r, AG_F64, AG_SHAPE(2, 4, 6), 0.0, 1.0);
        ag_tensor *h = ag_add(A, x, ag_nn_attention_forward(A, b->self_attn,
                                                            ag_module_forward(b->input_layernorm, A, x)));
        ag_tensor *want = ag_add(A, h, ag_nn_mlp_forward(A, b->mlp, ag_module_forward(
                                                                       b->post_attention_layernorm, A, h)));
        ag_tensor *y = ag_nn_block_forward(A, b, x);
        ck_values(y, 48, vals(A, want), 1e-12);
        /* and by hand for the attention branch: with the MLP zeroed,
         * y = x + attn(2 * rmsnorm(x)) (Llama) */
        if (k == 0) {
            zero_linear(b->mlp->down_proj);
            double *xs = vals(A, x), *n1 = ag_arena_alloc(A, 48 * sizeof(double));
            double *att = ag_arena_alloc(A, 48 * sizeof(double));
            for (int i = 0; i < 8; i++) {
                double ms = 0;
                for (int d = 0; d < 6; d++) ms += xs[i * 6 + d] * xs[i * 6 + d] / 6.0;
                for (int d = 0; d < 6; d++) n1[i * 6 + d] = 2.0 * xs[i * 6 + d] / sqrt(ms + 1e-6);
            }
            ref_attention(A, b->self_attn, n1, 2, 4, att);
            for (int i = 0; i < 48; i++) att[i] += xs[i];
            ck_values(ag_nn_block_forward(A, b, x), 48, att, 1e-12);
        }
    }
    ag_arena_free(A);
}
END_TEST

START_TEST(block_parameter_names) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 19);
    ag_block_config c = {.n_embd = 8, .n_head = 2, .act = AG_ACT_GELU_TANH, .bias = true,
                         .norm = LAYERNORM};
    ag_nn_block *b = ag_nn_block_new(A, &r, &c);
    ag_named_param *ps;
    int n = ag_module_parameters(&b->base, A, &ps);
    const char *want[] = {
        "input_layernorm.weight",          "input_layernorm.bias",
        "self_attn.q_proj.weight",         "self_attn.q_proj.bias",
        "self_attn.k_proj.weight",         "self_attn.k_proj.bias",
        "self_attn.v_proj.weight",         "self_attn.v_proj.bias",
        "self_attn.o_proj.weight",         "self_attn.o_proj.bias",
        "post_attention_layernorm.weight", "post_attention_layernorm.bias",
        "mlp.up_proj.weight",              "mlp.up_proj.bias",
        "mlp.down_proj.weight",            "mlp.down_proj.bias",
    };
    ck_assert_int_eq(n, 16);
    for (int i = 0; i < n; i++) ck_assert_str_eq(ps[i].name, want[i]);
    /* n_hidden 0: 4 n_embd */
    ck_shape(ag_module_param(&b->base, "mlp.up_proj.weight"), 2, ((int64_t[]){32, 8}));
    ck_shape(ag_module_param(&b->base, "mlp.down_proj.weight"), 2, ((int64_t[]){8, 32}));
    ck_assert_int_eq(ag_module_num_params(&b->base),
                     2 * 16 + 4 * (64 + 8) + (32 * 8 + 32) + (8 * 32 + 8));
    ck_assert_ptr_eq(ag_module_child(&b->base, "self_attn"), &b->self_attn->base);
    ck_assert_str_eq(b->input_layernorm->type->name, "LayerNorm");
    ck_assert(ag_module_is_norm(b->post_attention_layernorm));

    /* RMSNorm (Llama), no biases */
    ag_block_config c2 = {.n_embd = 8, .n_head = 4, .n_hidden = 12, .act = AG_ACT_RELU,
                          .norm = LLAMA};
    ag_nn_block *b2 = ag_nn_block_new(A, &r, &c2);
    n = ag_module_parameters(&b2->base, A, &ps);
    const char *want2[] = {"input_layernorm.weight",  "self_attn.q_proj.weight",
                           "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                           "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                           "mlp.up_proj.weight",      "mlp.down_proj.weight"};
    ck_assert_int_eq(n, 8);
    for (int i = 0; i < n; i++) ck_assert_str_eq(ps[i].name, want2[i]);
    ck_assert_str_eq(b2->input_layernorm->type->name, "LlamaRMSNorm");
    ck_close(((ag_nn_rmsnorm *)b2->input_layernorm)->eps, 1e-6, 0);

    /* every parameter receives a gradient */
    ag_tensor *x = ag_randn(A, &r, AG_F32, AG_SHAPE(2, 3, 8), 0.0, 1.0);
    ck_assert(ag_backward(ag_mean(A, ag_square(A, ag_nn_block_forward(A, b2, x)), 0, NULL, false),
                          NULL));
    for (int i = 0; i < n; i++) {
        ck_assert_msg(ps[i].tensor->grad, "%s has no gradient", ps[i].name);
        double s = 0;
        for (int64_t j = 0; j < ps[i].tensor->numel; j++) s += fabs(ag_get_flat(ps[i].tensor->grad, j));
        ck_assert_msg(s > 0, "%s has a zero gradient", ps[i].name);
    }
    char *p = nn_printed(A, &b2->base);
    ck_assert_msg(strstr(p, "Block(") && strstr(p, "(input_layernorm): LlamaRMSNorm(") &&
                      strstr(p, "(mlp): MLP(\n    act=relu"),
                  "printed:\n%s", p);
    ag_arena_free(A);
}
END_TEST

START_TEST(norm_new_choices) {
    ag_arena *A = ag_arena_new(0);
    ag_module *ln = ag_norm_new(A, LAYERNORM, 5);
    ck_assert_str_eq(ln->type->name, "LayerNorm");
    ck_close(((ag_nn_layernorm *)ln)->eps, 1e-5, 0);
    ag_norm_choice c = {&ag_nn_layernorm_type, 1e-3};
    ck_close(((ag_nn_layernorm *)ag_norm_new(A, c, 5))->eps, 1e-3, 0);
    for (int k = 0; k < AG_RMSNORM_KINDS; k++) {
        ag_norm_choice ck = AG_NORM_RMS(k);
        ag_module *m = ag_norm_new(A, ck, 5);
        ck_assert_ptr_nonnull(m);
        ck_assert_ptr_eq(m->type, ag_rmsnorm_type((ag_rmsnorm_kind)k));
        ag_nn_rmsnorm *rn = (ag_nn_rmsnorm *)m;
        double want = ag_rmsnorm_default_eps((ag_rmsnorm_kind)k);
        ck_assert(rn->eps == want || (isnan(rn->eps) && isnan(want)));
        ck_assert_int_eq(rn->normalized_shape[0], 5);
    }
    ag_norm_choice c5 = {&ag_rmsnorm_types[AG_RMSNORM_GEMMA], 1e-4};
    ck_close(((ag_nn_rmsnorm *)ag_norm_new(A, c5, 3))->eps, 1e-4, 0);
    ag_arena_free(A);
}
END_TEST

/* ---- a norm of the user's own as a block's norm ---------------------------------- */

/* MaxAbsNorm: y = gain * x / (max|x| + eps) over the last dim, from core ops.
 * Its default eps is 0.125 (so that a lost eps shows); its parameter "gain"
 * starts at ones. */
typedef struct {
    ag_module base;
    double eps;
    ag_tensor *gain;
} max_abs_norm;

static ag_tensor *max_abs_forward(ag_module *m, ag_arena *A, ag_tensor *x) {
    max_abs_norm *n = (max_abs_norm *)m;
    ag_tensor *s = ag_add_scalar(A, ag_max(A, ag_abs(A, x), AG_DIMS(-1), true), n->eps);
    return ag_mul(A, ag_div(A, x, s), n->gain);
}

static const ag_module_type MAX_ABS_NORM = {"MaxAbsNorm", max_abs_forward, NULL};

/* Its constructor for blocks (ag_norm_make_fn). */
static ag_module *max_abs_make(ag_arena *P, const ag_module_type *type, int64_t n,
                               double eps) {
    (void)type;
    max_abs_norm *m = ag_arena_calloc(P, sizeof *m);
    ag_module_init(&m->base, &MAX_ABS_NORM, P);
    m->eps = isnan(eps) ? 0.125 : eps;
    m->gain = ag_ones(P, AG_F32, 1, &n);
    ck_assert(ag_module_add_param(&m->base, "gain", m->gain));
    return &m->base;
}

/* rows x D values: y = g * x / (max|x| + eps) per row, by loops. */
static void ref_max_abs(const double *x, int64_t rows, int64_t D, double g, double eps,
                        double *y) {
    for (int64_t i = 0; i < rows; i++) {
        double m = 0;
        for (int64_t d = 0; d < D; d++) m = fmax(m, fabs(x[i * D + d]));
        for (int64_t d = 0; d < D; d++) y[i * D + d] = g * x[i * D + d] / (m + eps);
    }
}

/* Registered with its constructor, MaxAbsNorm is a block's norm like a
 * built-in: both norms are MaxAbsNorms with the choice's eps, the block's
 * output is the pre-norm composition worked out by loops here, and its
 * gains go to no_decay. */
START_TEST(block_with_a_users_norm) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 21);
    ck_assert(ag_norm_register_make(&MAX_ABS_NORM, max_abs_make));
    ck_assert(ag_norm_maker(&MAX_ABS_NORM) == max_abs_make);
    ag_block_config c = {.n_embd = 6, .n_head = 2, .n_hidden = 8, .act = AG_ACT_SILU,
                         .norm = {&MAX_ABS_NORM, 0.25}};
    ag_nn_block *b = ag_nn_block_new(A, &r, &c);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_eq(b->input_layernorm->type, &MAX_ABS_NORM);
    ck_assert_ptr_eq(b->post_attention_layernorm->type, &MAX_ABS_NORM);
    ck_assert_double_eq(((max_abs_norm *)b->input_layernorm)->eps, 0.25);
    ck_assert(ag_module_cast(&b->base, AG_F64));
    ck_assert(ag_init_constant(ag_module_param(&b->base, "input_layernorm.gain"), 2.0));
    ck_assert(ag_init_constant(ag_module_param(&b->base, "post_attention_layernorm.gain"), 0.5));

    /* by loops: n1 = 2 x / (max|x| + 1/4); h = x + attn(n1);
     *           n2 = h / 2 / (max|h| + 1/4); y = h + down(silu(up(n2))) */
    ag_tensor *x = ag_randn(A, &r, AG_F64, AG_SHAPE(2, 3, 6), 0.0, 1.0);
    double *xs = vals(A, x), n1[36], h[36], n2[36], u[48], y[36];
    ref_max_abs(xs, 6, 6, 2.0, 0.25, n1);
    ref_attention(A, b->self_attn, n1, 2, 3, h);
    for (int i = 0; i < 36; i++) h[i] += xs[i];
    ref_max_abs(h, 6, 6, 0.5, 0.25, n2);
    ref_linear(A, n2, 6, b->mlp->up_proj, u);
    for (int i = 0; i < 48; i++) u[i] = nn_ref_act(u[i], AG_ACT_SILU);
    ref_linear(A, u, 6, b->mlp->down_proj, y);
    for (int i = 0; i < 36; i++) y[i] += h[i];
    ck_values(ag_nn_block_forward(A, b, x), 36, y, 1e-12);

    /* registered as a norm: no weight decay for its gains */
    ag_param_groups g = ag_decay_groups(&b->base, A);
    ck_assert_int_eq(g.nno_decay, 2);
    ck_assert_str_eq(g.no_decay[0].name, "input_layernorm.gain");
    ck_assert_str_eq(g.no_decay[1].name, "post_attention_layernorm.gain");
    ck_assert_int_eq(g.ndecay, 6); /* q, k, v, o, up, down */

    /* AG_EPS_DEFAULT leaves the type's default to its constructor */
    ag_module *d = ag_norm_new(A, ((ag_norm_choice){&MAX_ABS_NORM, AG_EPS_DEFAULT}), 4);
    ck_assert_double_eq(((max_abs_norm *)d)->eps, 0.125);
    ag_arena_free(A);
}
END_TEST

/* A constructor that makes a module of another type than the one it was
 * registered for. */
static const ag_module_type WRONG_MAKE_NORM = {"WrongMakeNorm", NULL, NULL};
static ag_module *wrong_make(ag_arena *P, const ag_module_type *type, int64_t n, double eps) {
    (void)type;
    return &ag_nn_layernorm_new_(P, 1, &n, eps, true, true)->base;
}

/* What a block's norm cannot be: no type, a type that is not a registered
 * norm, a norm registered without a constructor, one whose constructor
 * makes another type; nor can eps be inf or NaN-but-not-the-default. */
START_TEST(norm_new_refuses) {
    ag_arena *A = ag_arena_new(0);
    static const ag_module_type PLAIN_NORM = {"PlainNorm", NULL, NULL};
    ck_assert(ag_norm_register(&PLAIN_NORM));
    ck_assert(ag_norm_register_make(&WRONG_MAKE_NORM, wrong_make));
    const struct {
        ag_norm_choice c;
        const char *s1, *s2;
    } bad[] = {
        {{NULL, AG_EPS_DEFAULT}, "(no type) over 4 features", "a norm type"},
        {{&ag_nn_linear_type, AG_EPS_DEFAULT}, "Linear", "not a registered norm type"},
        {{&PLAIN_NORM, AG_EPS_DEFAULT}, "PlainNorm", "registered without a constructor"},
        {{&WRONG_MAKE_NORM, AG_EPS_DEFAULT}, "WrongMakeNorm made a LayerNorm", NULL},
        {{&ag_rmsnorm_types[AG_RMSNORM_LLAMA], INFINITY}, "eps is inf", "expected a finite number"},
        {{&ag_nn_layernorm_type, -INFINITY}, "eps is -inf", "expected a finite number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_errors();
        ck_assert_ptr_null(ag_norm_new(A, bad[i].c, 4));
        ck_assert_int_eq(ag_error_count(), 1);
        check_error("norm_new", bad[i].s1, bad[i].s2);
    }
    /* registering a constructor later makes PlainNorm's absence of one go away */
    ck_assert(ag_norm_register_make(&PLAIN_NORM, max_abs_make));
    expect_errors();
    ck_assert_ptr_null(ag_norm_new(A, ((ag_norm_choice){&PLAIN_NORM, AG_EPS_DEFAULT}), 4));
    check_error("norm_new", "PlainNorm made a MaxAbsNorm", NULL);
    ag_arena_free(A);
}
END_TEST

START_TEST(block_dropout_eval) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 20);
    ag_block_config c = {.n_embd = 8, .n_head = 2, .act = AG_ACT_GELU, .bias = true,
                         .dropout = 0.2, .norm = LLAMA};
    ag_nn_block *b = ag_nn_block_new(A, &r, &c);
    ag_tensor *x = ag_randn(A, &r, AG_F32, AG_SHAPE(1, 4, 8), 0.0, 1.0);
    ag_tensor *y1 = ag_nn_block_forward(A, b, x), *y2 = ag_nn_block_forward(A, b, x);
    ck_assert_int_ne(memcmp(y1->data, y2->data, 32 * sizeof(float)), 0);
    ag_module_train(&b->base, false);
    ck_assert(!b->mlp->drop->base.training);
    y1 = ag_nn_block_forward(A, b, x);
    y2 = ag_nn_block_forward(A, b, x);
    ck_assert_int_eq(memcmp(y1->data, y2->data, 32 * sizeof(float)), 0);
    ag_arena_free(A);
}
END_TEST

/* ---- bad calls ------------------------------------------------------------------------ */

START_TEST(bad_calls) {
    ag_arena *A = ag_arena_new(0);
    ag_rng r;
    ag_rng_seed(&r, 21);
    ag_tensor *x = ag_ones(A, AG_F32, AG_SHAPE(2, 3));

    expect_errors();
    ck_assert_ptr_null(ag_dropout(A, x, 1.0, true, &r));
    check_error("dropout", "p = 1", "[2,3]");
    expect_errors();
    ck_assert_ptr_null(ag_dropout(A, x, -0.1, false, &r));
    check_error("dropout", "p = -0.1", "0 <= p < 1");
    expect_errors();
    ck_assert_ptr_null(ag_dropout(A, x, NAN, true, &r));
    check_error("dropout", "p = nan", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_dropout(A, x, 0.5, true, NULL));
    check_error("dropout", "rng is NULL", "[2,3]");
    expect_errors();
    ck_assert_ptr_null(ag_dropout(A, ag_zeros(A, AG_I32, AG_SHAPE(4)), 0.5, true, &r));
    check_error("dropout", "i32", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_dropout_new(A, 1.5, 1));
    check_error("nn_dropout_new", "p=1.5", NULL);

    expect_errors();
    ck_assert_ptr_null(ag_nn_embedding_new(A, &r, -1, 4));
    check_error("nn_embedding_new", "Embedding(-1, 4)", NULL);
    ag_nn_embedding *e = ag_nn_embedding_new(A, &r, 5, 2);
    expect_errors();
    ck_assert_ptr_null(ag_nn_embedding_forward(A, e, ag_from_array(A, AG_I32, AG_SHAPE(2),
                                                                   ((int32_t[]){1, 5}))));
    check_error("embedding", "[5,2]", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_embedding_forward(A, e, x));
    check_error("embedding", "f32", NULL);

    expect_errors();
    ck_assert_ptr_null(ag_nn_attention_new(A, &r, 6, 4, true, 0.0));
    check_error("nn_attention_new", "n_embd=6", "n_head=4");
    expect_errors();
    ck_assert_ptr_null(ag_nn_attention_new(A, &r, 4, 0, true, 0.0));
    check_error("nn_attention_new", "n_head=0", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_attention_new(A, &r, 4, 2, true, 1.0));
    check_error("nn_attention_new", "dropout=1", NULL);
    ag_nn_attention *m = ag_nn_attention_new(A, &r, 4, 2, true, 0.0);
    expect_errors();
    ck_assert_ptr_null(ag_nn_attention_forward(A, m, ag_ones(A, AG_F32, AG_SHAPE(2, 3, 5))));
    check_error("nn_attention_forward", "[2,3,5]", "[B, T, 4]");
    expect_errors();
    ck_assert_ptr_null(ag_nn_attention_forward(A, m, ag_ones(A, AG_F32, AG_SHAPE(4))));
    check_error("nn_attention_forward", "x [4]", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_attention_forward(A, m, ag_ones(A, AG_F32, AG_SHAPE(1, 2, 3, 4))));
    check_error("nn_attention_forward", "[1,2,3,4]", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_attention_forward(A, m, ag_zeros(A, AG_I32, AG_SHAPE(3, 4))));
    check_error("nn_attention_forward", "i32", NULL);

    expect_errors();
    ck_assert_ptr_null(ag_nn_mlp_new(A, &r, 4, 8, (ag_activation)99, true, 0.0));
    check_error("nn_mlp_new", "act=99", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_nn_mlp_new(A, &r, 4, 0, AG_ACT_GELU, true, 0.0));
    check_error("nn_mlp_new", "n_hidden=0", NULL);
    expect_errors();
    ck_assert_ptr_null(ag_activate(A, x, (ag_activation)99));
    check_error("activate", "unknown activation 99", "[2,3]");
    ag_nn_mlp *mlp = ag_nn_mlp_new(A, &r, 4, 8, AG_ACT_GELU, true, 0.0);
    expect_errors();
    ck_assert_ptr_null(ag_nn_mlp_forward(A, mlp, x));
    check_error("linear", "[2,3]", NULL);

    const ag_norm_choice bad = {&ag_nn_linear_type, AG_EPS_DEFAULT};
    expect_errors();
    ck_assert_ptr_null(ag_norm_new(A, LAYERNORM, 0));
    check_error("norm_new", "LayerNorm over 0", NULL);

    expect_errors();
    ck_assert_ptr_null(ag_nn_block_new(A, &r, NULL));
    check_error("nn_block_new", "config", NULL);
    ag_block_config c = {.n_embd = 8, .n_head = 3, .norm = LLAMA};
    expect_errors();
    ck_assert_ptr_null(ag_nn_block_new(A, &r, &c));
    check_error("nn_block_new", "n_embd=8", "n_head=3");
    c.n_head = 2;
    c.n_hidden = -1;
    expect_errors();
    ck_assert_ptr_null(ag_nn_block_new(A, &r, &c));
    check_error("nn_block_new", "n_hidden=-1", NULL);
    c.n_hidden = 0;
    c.norm = bad;
    expect_errors();
    ck_assert_ptr_null(ag_nn_block_new(A, &r, &c));
    check_error("norm_new", NULL, NULL);
    c.norm = LLAMA;
    ag_nn_block *b = ag_nn_block_new(A, &r, &c);
    ck_assert_ptr_nonnull(b);
    expect_errors();
    ck_assert_ptr_null(ag_nn_block_forward(A, b, ag_ones(A, AG_F32, AG_SHAPE(2, 3, 7))));
    ck_assert_int_eq(ag_error_count(), 1); /* one report, from the first norm */
    ck_assert_msg(strstr(ag_last_error(), "[2,3,7]"), "%s", ag_last_error());
    ag_set_error_handler(NULL, NULL);

    /* NULL in gives NULL out without a report */
    ag_clear_error();
    ck_assert_ptr_null(ag_nn_block_forward(A, b, NULL));
    ck_assert_ptr_null(ag_nn_attention_forward(A, m, NULL));
    ck_assert_ptr_null(ag_nn_mlp_forward(A, NULL, x));
    ck_assert_ptr_null(ag_dropout(A, NULL, 0.5, true, &r));
    ck_assert_ptr_null(ag_nn_embedding_forward(A, e, NULL));
    ck_assert_int_eq(ag_error_count(), 0);
    ag_arena_free(A);
}
END_TEST

TCase *nn_blocks_tcase(void) {
    TCase *tc = tcase_create("blocks");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, embedding_lookup_and_scatter_add);
    tcase_add_test(tc, embedding_init_and_describe);
    tcase_add_test(tc, dropout_rate_and_scale);
    tcase_add_test(tc, dropout_f64_and_bf16);
    tcase_add_test(tc, dropout_seeded);
    tcase_add_test(tc, dropout_identity);
    tcase_add_test(tc, attention_shapes_and_names);
    tcase_add_test(tc, attention_matches_reference);
    tcase_add_test(tc, attention_one_position);
    tcase_add_test(tc, attention_uniform_is_running_mean);
    tcase_add_test(tc, attention_is_causal);
    tcase_add_test(tc, attention_dropout_train_eval);
    tcase_add_test(tc, mlp_matches_hand_composition);
    tcase_add_test(tc, activate_each);
    tcase_add_test(tc, block_residual_structure);
    tcase_add_test(tc, block_is_prenorm_composition);
    tcase_add_test(tc, block_parameter_names);
    tcase_add_test(tc, norm_new_choices);
    tcase_add_test(tc, block_with_a_users_norm);
    tcase_add_test(tc, norm_new_refuses);
    tcase_add_test(tc, block_dropout_eval);
    tcase_add_test(tc, bad_calls);
    return tc;
}
