/* tests/threads/serialised.c — backward through shared parameters, one
 * thread at a time (the contract in ag/engine.h): two threads share one
 * Linear -> LayerNorm, each runs its forward in its own arena at the same
 * time as the other, then its backward under a mutex. The gradients equal
 * those of the two backward passes made one after the other, in the order
 * the threads took the mutex (in practice both orders give the same bits). */
#include <string.h>

#include "threads_test.h"

enum { IN = 6, HIDDEN = 10, BATCH = 5 };

typedef struct shared_net {
    ag_nn_linear *fc;
    ag_nn_layernorm *ln;
} shared_net;

typedef struct backward_run {
    const shared_net *net;
    uint64_t seed;
    pthread_mutex_t *serialise; /* NULL: run alone */
    pthread_barrier_t *together;
} backward_run;

static void *forward_backward(void *arg) {
    backward_run *run = arg;
    ag_arena *A = ag_arena_new(0);
    ag_rng data;
    ag_rng_seed(&data, run->seed);
    if (run->together) pthread_barrier_wait(run->together); /* forwards overlap */
    ag_tensor *x = ag_randn(A, &data, AG_F32, AG_SHAPE(BATCH, IN), 0.0, 1.0);
    ag_tensor *y = ag_rand(A, &data, AG_F32, AG_SHAPE(BATCH, HIDDEN), -1.0, 1.0);
    ag_tensor *h = ag_nn_layernorm_forward(A, run->net->ln, ag_nn_linear_forward(A, run->net->fc, x));
    ag_tensor *loss = ag_mse_loss(A, h, y);
    if (run->serialise) pthread_mutex_lock(run->serialise);
    const bool ok = ag_backward(loss, NULL);
    if (run->serialise) pthread_mutex_unlock(run->serialise);
    ag_arena_free(A);
    return ok ? NULL : run;
}

/* The gradients of net's four parameters, concatenated into out. */
static int grads_of(const shared_net *net, float *out, int max) {
    const ag_tensor *ps[] = {net->fc->weight, net->fc->bias, net->ln->weight, net->ln->bias};
    int n = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(ps[i]->grad);
        ck_assert_int_le(n + ps[i]->numel, max);
        memcpy(out + n, ps[i]->grad->data, (size_t)ps[i]->numel * sizeof(float));
        n += (int)ps[i]->numel;
    }
    return n;
}

static void zero_grads(const shared_net *net) {
    ag_zero_grad(net->fc->weight);
    ag_zero_grad(net->fc->bias);
    ag_zero_grad(net->ln->weight);
    ag_zero_grad(net->ln->bias);
}

START_TEST(backward_through_shared_parameters_under_a_mutex_adds_both_passes) {
    enum { MAX = IN * HIDDEN + 3 * HIDDEN };
    ag_arena *P = ag_arena_new(0);
    ag_rng init;
    ag_rng_seed(&init, 9);
    shared_net net = {ag_nn_linear_new(P, &init, IN, HIDDEN, true),
                      ag_nn_layernorm_new(P, AG_SHAPE(HIDDEN), 1e-5, true, true)};
    ck_assert(net.fc && net.ln);
    /* the LayerNorm's weight and bias away from 1 and 0, so all gradients differ */
    ck_assert(ag_init_uniform(net.ln->weight, &init, 0.5, 1.5));
    ck_assert(ag_init_uniform(net.ln->bias, &init, -0.5, 0.5));

    static float first[MAX], ab[MAX], ba[MAX], together[MAX];
    backward_run runs[2] = {{&net, 21, NULL, NULL}, {&net, 22, NULL, NULL}};
    for (int order = 0; order < 2; order++) { /* run 0 then 1, then 1 then 0 */
        zero_grads(&net);
        ck_assert_ptr_null(forward_backward(&runs[order]));
        ck_assert_int_eq(grads_of(&net, first, MAX), MAX);
        ck_assert_ptr_null(forward_backward(&runs[1 - order]));
        ck_assert_int_eq(grads_of(&net, order ? ba : ab, MAX), MAX);
        ck_assert_int_ne(memcmp(first, order ? ba : ab, sizeof first), 0); /* it added */
    }

    zero_grads(&net);
    pthread_mutex_t serialise = PTHREAD_MUTEX_INITIALIZER;
    pthread_barrier_t barrier;
    pair_barrier_init(&barrier);
    for (int i = 0; i < 2; i++) {
        runs[i].serialise = &serialise;
        runs[i].together = &barrier;
    }
    run_pair(forward_backward, &runs[0], &runs[1]);
    pthread_barrier_destroy(&barrier);
    ck_assert_int_eq(grads_of(&net, together, MAX), MAX);
    /* whichever thread took the mutex first */
    ck_assert(memcmp(ab, together, sizeof ab) == 0 || memcmp(ba, together, sizeof ba) == 0);
    ag_arena_free(P);
}
END_TEST

TCase *threads_serialised_tcase(void) {
    TCase *tc = tcase_create("serialised");
    tcase_add_test(tc, backward_through_shared_parameters_under_a_mutex_adds_both_passes);
    return tc;
}
