/* tests/threads/train.c — two threads, each training its own model in its
 * own arenas (Linear -> LayerNorm -> Dropout -> Linear, AdamW, MSE), end
 * with bitwise the same parameters and losses as the same two runs made
 * one after the other on one thread. In the threaded run the two wait for
 * each other before every step, so their steps overlap. */
#include <stdio.h>
#include <string.h>

#include "threads_test.h"

enum { IN = 8, HIDDEN = 16, BATCH = 32, STEPS = 6, MAX_PARAMS = 512 };

typedef struct train_run {
    uint64_t seed;
    pthread_barrier_t *together; /* NULL: run alone */
    float params[MAX_PARAMS];
    int nparams;
    double losses[STEPS];
    int errors; /* reports received by this thread's handler */
} train_run;

static void count_report(const char *message, void *userdata) {
    fprintf(stderr, "%s\n", message);
    ++*(int *)userdata;
}

/* Appends every parameter of m to run->params. */
static void save_params(train_run *run, ag_module *m, ag_arena *A) {
    ag_named_param *all = NULL;
    const int n = ag_module_parameters(m, A, &all);
    run->nparams = 0;
    for (int i = 0; i < n; i++) {
        const ag_tensor *t = all[i].tensor;
        ck_assert_int_le(run->nparams + t->numel, MAX_PARAMS);
        memcpy(run->params + run->nparams, t->data, (size_t)t->numel * sizeof(float));
        run->nparams += (int)t->numel;
    }
}

static void *train(void *arg) {
    train_run *run = arg;
    ag_set_thread_error_handler(count_report, &run->errors);
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    ag_rng rng;
    ag_rng_seed(&rng, run->seed);
    ag_module_list *model = ag_module_list_new(P);
    ag_module_list_append(model, &ag_nn_linear_new(P, &rng, IN, HIDDEN, true)->base);
    ag_module_list_append(model, &ag_nn_layernorm_new(P, AG_SHAPE(HIDDEN), 1e-5, true, true)->base);
    ag_module_list_append(model, &ag_nn_dropout_new(P, 0.25, run->seed + 1000)->base);
    ag_module_list_append(model, &ag_nn_linear_new(P, &rng, HIDDEN, 1, true)->base);
    ag_optim *opt = ag_adamw_new(P, ag_optim_groups_from_model(&model->base, P, 1e-2, 0.01),
                                 NULL);
    for (int step = 0; step < STEPS; step++) {
        if (run->together) pthread_barrier_wait(run->together);
        ag_arena_reset(A);
        ag_tensor *x = ag_randn(A, &rng, AG_F32, AG_SHAPE(BATCH, IN), 0.0, 1.0);
        ag_tensor *y = ag_rand(A, &rng, AG_F32, AG_SHAPE(BATCH, 1), -1.0, 1.0);
        ag_tensor *h = x;
        for (int i = 0; i < model->base.nchildren; i++) /* the layers in order */
            h = ag_module_forward(model->base.children[i].child, A, h);
        ag_tensor *loss = ag_mse_loss(A, h, y);
        ag_backward(loss, NULL);
        ag_optim_step(opt);
        ag_optim_zero_grad(opt);
        run->losses[step] = ag_item(loss);
    }
    save_params(run, &model->base, A);
    ag_arena_free(A);
    ag_arena_free(P);
    ag_set_thread_error_handler(NULL, NULL);
    return NULL;
}

START_TEST(two_models_in_two_threads_equal_the_runs_one_after_the_other) {
    static train_run alone[2], together[2]; /* static: too large for a thread's stack */
    pthread_barrier_t barrier;
    pair_barrier_init(&barrier);
    for (int i = 0; i < 2; i++) {
        alone[i] = (train_run){.seed = 11u + (uint64_t)i};
        together[i] = (train_run){.seed = 11u + (uint64_t)i, .together = &barrier};
    }
    for (int i = 0; i < 2; i++) ck_assert_ptr_null(train(&alone[i])); /* one after the other */
    run_pair(train, &together[0], &together[1]);
    pthread_barrier_destroy(&barrier);

    const int expected = IN * HIDDEN + HIDDEN + 2 * HIDDEN + HIDDEN + 1; /* fc, ln, head */
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(alone[i].errors, 0);
        ck_assert_int_eq(together[i].errors, 0);
        ck_assert_int_eq(alone[i].nparams, expected);
        ck_assert_int_eq(together[i].nparams, expected);
        ck_assert_mem_eq(alone[i].params, together[i].params, sizeof alone[i].params);
        ck_assert_mem_eq(alone[i].losses, together[i].losses, sizeof alone[i].losses);
    }
    /* the two models differ, so a thread that trained the other's would show */
    ck_assert_int_ne(memcmp(alone[0].params, alone[1].params, sizeof alone[0].params), 0);
}
END_TEST

TCase *threads_train_tcase(void) {
    TCase *tc = tcase_create("train");
    tcase_add_test(tc, two_models_in_two_threads_equal_the_runs_one_after_the_other);
    return tc;
}
