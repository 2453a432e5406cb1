/* tests/threads/shared.c — one model (Linear -> LayerNorm -> RMSNorm ->
 * Dropout, in training mode) shared by two threads in forward:
 * the parameters are read-only inputs, and Dropout draws from each
 * thread's own generator (ag_nn_dropout_forward_rng, or the thread's
 * override set by ag_nn_set_thread_dropout_rng), so each thread's outputs
 * equal those of the same calls made one after the other, and the module's
 * own generator is left untouched. */
#include <string.h>

#include "threads_test.h"

enum { IN = 8, HIDDEN = 16, BATCH = 4, ROUNDS = 4 };

typedef struct shared_model {
    ag_nn_linear *fc;
    ag_nn_layernorm *ln;
    ag_nn_rmsnorm *rms;
    ag_nn_dropout *drop;
} shared_model;

typedef struct forward_run {
    const shared_model *model;
    uint64_t seed;
    bool thread_override; /* draw through the thread's override, else per call */
    pthread_barrier_t *together; /* NULL: run alone */
    float out[ROUNDS][BATCH * HIDDEN];
} forward_run;

static void *forward(void *arg) {
    forward_run *run = arg;
    ag_arena *A = ag_arena_new(0);
    ag_rng data, drops;
    ag_rng_seed(&data, run->seed);
    ag_rng_seed(&drops, run->seed + 1);
    if (run->thread_override) ag_nn_set_thread_dropout_rng(&drops);
    for (int k = 0; k < ROUNDS; k++) {
        if (run->together) pthread_barrier_wait(run->together);
        ag_arena_reset(A);
        ag_tensor *x = ag_randn(A, &data, AG_F32, AG_SHAPE(BATCH, IN), 0.0, 1.0);
        const shared_model *m = run->model;
        ag_tensor *h = ag_nn_rmsnorm_forward(
            A, m->rms, ag_nn_layernorm_forward(A, m->ln, ag_nn_linear_forward(A, m->fc, x)));
        ag_tensor *y = run->thread_override
                           ? ag_module_forward(&run->model->drop->base, A, h)
                           : ag_nn_dropout_forward_rng(A, run->model->drop, h, &drops);
        ck_assert_ptr_nonnull(y);
        memcpy(run->out[k], y->data, sizeof run->out[k]);
    }
    ag_nn_set_thread_dropout_rng(NULL);
    ag_arena_free(A);
    return NULL;
}

START_TEST(a_model_shared_in_forward_gives_each_thread_its_own_results) {
    ag_arena *P = ag_arena_new(0);
    ag_rng init;
    ag_rng_seed(&init, 5);
    shared_model m = {ag_nn_linear_new(P, &init, IN, HIDDEN, true),
                      ag_nn_layernorm_new(P, AG_SHAPE(HIDDEN), 1e-5, true, true),
                      ag_nn_rmsnorm_new(P, AG_RMSNORM, AG_SHAPE(HIDDEN), AG_EPS_DEFAULT, true),
                      ag_nn_dropout_new(P, 0.5, 77)};
    ck_assert(m.fc && m.ln && m.rms && m.drop);
    const ag_rng module_rng = m.drop->rng;
    static forward_run alone[2], together[2];
    pthread_barrier_t barrier;
    pair_barrier_init(&barrier);
    for (int i = 0; i < 2; i++) {
        alone[i] = (forward_run){.model = &m, .seed = 100u + (uint64_t)i,
                                 .thread_override = i == 1};
        together[i] = alone[i];
        together[i].together = &barrier;
    }
    for (int i = 0; i < 2; i++) ck_assert_ptr_null(forward(&alone[i]));
    run_pair(forward, &together[0], &together[1]);
    pthread_barrier_destroy(&barrier);

    for (int i = 0; i < 2; i++)
        ck_assert_mem_eq(alone[i].out, together[i].out, sizeof alone[i].out);
    ck_assert_mem_eq(&m.drop->rng, &module_rng, sizeof module_rng);
    /* dropout did drop: p = 0.5 over 256 outputs leaves some zeros */
    int zeros = 0;
    for (int k = 0; k < ROUNDS; k++)
        for (int j = 0; j < BATCH * HIDDEN; j++) zeros += alone[0].out[k][j] == 0.0f;
    ck_assert_int_gt(zeros, 0);
    ag_arena_free(P);
}
END_TEST

TCase *threads_shared_tcase(void) {
    TCase *tc = tcase_create("shared");
    tcase_add_test(tc, a_model_shared_in_forward_gives_each_thread_its_own_results);
    return tc;
}
