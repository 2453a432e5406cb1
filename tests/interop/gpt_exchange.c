/* tests/interop/gpt_exchange.c — the ag side of the PyTorch exchange and
 * trajectory tests (tests/interop/run.sh runs both sides and compares).
 *
 *   ag-interop init DTYPE CKPT BATCHES    the tiny GPT (seed 42) saved to CKPT
 *                                         with its shape as metadata, and
 *                                         STEPS batches written to BATCHES
 *   ag-interop loss CKPT BATCHES          the loss of CKPT's model on batch 0
 *   ag-interop train CKPT BATCHES STEPS LR LOSSES FINAL
 *                                         AdamW from CKPT on the batches;
 *                                         each step's loss to LOSSES, the
 *                                         final parameters to FINAL
 *
 * The model: vocabulary 27, block 16, 2 layers, 32 dims, 4 heads, Llama
 * RMSNorm (eps 1e-6), exact GELU (demos/common/tinygpt_model.c). Training:
 * AdamW betas (0.9, 0.99), eps 1e-8, weight decay 0.1 on the matrices and
 * none on the norm weights (ag_optim_groups_from_model: the same split as
 * "2-d or not" here), gradient clipping at 1.0, linear warmup of 10 steps
 * then cosine to 0.1 of LR. Batches: 8 sequences of 2..16 random tokens,
 * padded, targets past a sequence's end ignored (-100): the text file
 * holds, per batch, "B T", B lines of ids and B lines of targets.
 */
#include <ag/ag.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tinygpt_model.h"

enum { VOCAB = 27, BLOCK = 16, LAYERS = 2, EMBD = 32, HEADS = 4, BATCH = 8, NBATCHES = 50,
       WARMUP = 10 };

static ag_demo_gpt *make_model(ag_arena *P, ag_dtype dt) {
    const ag_demo_gpt_config c = {.vocab = VOCAB, .block_size = BLOCK, .n_layer = LAYERS,
                                  .n_embd = EMBD, .n_head = HEADS,
                                  .norm = AG_NORM_RMS(AG_RMSNORM_LLAMA), .act = AG_ACT_GELU};
    ag_demo_gpt *g = ag_demo_gpt_new(P, &c, 42);
    if (dt != AG_F32) ag_module_cast(&g->base, dt);
    return g;
}

static int fail(const char *what, const char *msg) {
    fprintf(stderr, "ag-interop: %s: %s\n", what, msg);
    return 1;
}

/* The checkpoint's dtype: the model is built in it, then loaded. */
static ag_demo_gpt *load_model(ag_arena *P, const char *path) {
    ag_st_status st;
    ag_st_file *f = ag_st_open(path, &st);
    if (!f) {
        fail("open", st.message);
        return NULL;
    }
    const ag_st_tensor *t = ag_st_find(f, "wte.weight");
    const ag_dtype dt = t && t->dtype == AG_ST_F64 ? AG_F64 : AG_F32;
    ag_demo_gpt *g = make_model(P, dt);
    ag_load_result r;
    const bool ok = ag_module_load_file(&g->base, f, NULL, &r);
    ag_st_close(f);
    if (!ok) {
        fail("load", r.status.message);
        return NULL;
    }
    return g;
}

typedef struct {
    int n;
    int T[NBATCHES];
    int32_t ids[NBATCHES][BATCH * BLOCK], tgt[NBATCHES][BATCH * BLOCK];
} batches;

static bool read_batches(const char *path, batches *b) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    int B, T;
    b->n = 0;
    while (b->n < NBATCHES && fscanf(f, "%d %d", &B, &T) == 2 && B == BATCH && T <= BLOCK) {
        for (int i = 0; i < 2 * B * T; i++) {
            int32_t *dst = i < B * T ? &b->ids[b->n][i] : &b->tgt[b->n][i - B * T];
            if (fscanf(f, "%d", dst) != 1) {
                fclose(f);
                return false;
            }
        }
        b->T[b->n++] = T;
    }
    fclose(f);
    return b->n > 0;
}

static ag_tensor *batch_loss(ag_arena *A, ag_demo_gpt *g, const batches *b, int k) {
    const int T = b->T[k];
    ag_tensor *ids = ag_empty(A, AG_I32, AG_SHAPE(BATCH, T));
    ag_tensor *tgt = ag_empty(A, AG_I32, AG_SHAPE(BATCH * T));
    memcpy(ids->data, b->ids[k], sizeof(int32_t) * (size_t)(BATCH * T));
    memcpy(tgt->data, b->tgt[k], sizeof(int32_t) * (size_t)(BATCH * T));
    return ag_demo_gpt_loss(A, g, ids, tgt);
}

static int cmd_init(const char *dtype, const char *ckpt, const char *out) {
    ag_arena *P = ag_arena_new(0);
    ag_demo_gpt *g = make_model(P, strcmp(dtype, "f64") ? AG_F32 : AG_F64);
    const ag_st_meta meta[] = {{"vocab", "27"}, {"block_size", "16"}, {"n_layer", "2"},
                               {"n_embd", "32"}, {"n_head", "4"}, {"warmup", "10"}};
    const ag_save_opts so = {.nmeta = 6, .meta = meta};
    ag_st_status st;
    if (!ag_module_save(&g->base, ckpt, &so, &st)) return fail("save", st.message);
    FILE *f = fopen(out, "w");
    if (!f) return fail("batches", "cannot write");
    ag_rng r;
    ag_rng_seed(&r, 7);
    for (int k = 0; k < NBATCHES; k++) {
        int len[BATCH], T = 0;
        for (int i = 0; i < BATCH; i++) {
            len[i] = 2 + (int)ag_rng_below(&r, BLOCK - 1);
            T = len[i] > T ? len[i] : T;
        }
        int32_t seq[BATCH][BLOCK + 1];
        for (int i = 0; i < BATCH; i++)
            for (int t = 0; t <= BLOCK; t++) seq[i][t] = (int32_t)ag_rng_below(&r, VOCAB);
        fprintf(f, "%d %d\n", BATCH, T);
        for (int i = 0; i < BATCH; i++)
            for (int t = 0; t < T; t++) fprintf(f, "%d%c", t < len[i] ? seq[i][t] : 0, t + 1 < T ? ' ' : '\n');
        for (int i = 0; i < BATCH; i++)
            for (int t = 0; t < T; t++)
                fprintf(f, "%d%c", t + 1 < len[i] ? seq[i][t + 1] : -100, t + 1 < T ? ' ' : '\n');
    }
    fclose(f);
    ag_arena_free(P);
    return 0;
}

static int cmd_loss(const char *ckpt, const char *bpath) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    static batches b;
    ag_demo_gpt *g = load_model(P, ckpt);
    if (!g) return 1;
    if (!read_batches(bpath, &b)) return fail("batches", bpath);
    printf("%.17g\n", ag_item(batch_loss(A, g, &b, 0)));
    ag_arena_free(A);
    ag_arena_free(P);
    return 0;
}

static int cmd_train(char **argv) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    static batches b;
    ag_demo_gpt *g = load_model(P, argv[2]);
    if (!g) return 1;
    if (!read_batches(argv[3], &b)) return fail("batches", argv[3]);
    const int steps = atoi(argv[4]);
    ag_adam_opts o = ag_adamw_defaults();
    o.lr = atof(argv[5]);
    o.beta2 = 0.99;
    o.eps = 1e-8;
    o.weight_decay = 0.1;
    ag_optim *opt = ag_adamw_new(P, ag_optim_groups_from_model(&g->base, P, AG_OPTIM_INHERIT, 0.1),
                                 &o);
    const ag_schedule sched = ag_schedule_warmup_cosine(WARMUP, steps, 0.1);
    FILE *f = fopen(argv[6], "w");
    if (!f || !opt) return fail("train", "cannot start");
    for (int s = 0; s < steps; s++) {
        ag_arena_reset(A);
        ag_tensor *loss = batch_loss(A, g, &b, s % b.n);
        ag_backward(loss, NULL);
        ag_optim_clip_grad_norm(opt, 1.0, false);
        ag_schedule_apply(&sched, opt, opt->steps);
        ag_optim_step(opt);
        ag_optim_zero_grad(opt);
        fprintf(f, "%d %.17g\n", s + 1, ag_item(loss));
    }
    fclose(f);
    ag_st_status st;
    if (!ag_module_save(&g->base, argv[7], NULL, &st)) return fail("save", st.message);
    ag_arena_free(A);
    ag_arena_free(P);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "init")) return cmd_init(argv[2], argv[3], argv[4]);
    if (argc == 4 && !strcmp(argv[1], "loss")) return cmd_loss(argv[2], argv[3]);
    if (argc == 8 && !strcmp(argv[1], "train")) return cmd_train(argv);
    fprintf(stderr, "usage: ag-interop init DTYPE CKPT BATCHES | loss CKPT BATCHES | train CKPT "
                    "BATCHES STEPS LR LOSSES FINAL\n");
    return 2;
}
