/* tests/threads/registry.c — the norm registry from two threads at once:
 * the first use (which adds the built-ins) and registrations race, and
 * every type registered ends up there exactly once, after the built-ins. */
#include "threads_test.h"

enum { PER_THREAD = 12 };

typedef struct registrar {
    const ag_module_type *mine; /* PER_THREAD types to register */
    const ag_module_type *other; /* the other thread's types */
    pthread_barrier_t *together;
    int failed;                 /* registrations that returned false */
    int seen_max;               /* most types ag_norm_types reported meanwhile */
} registrar;

static void *register_and_read(void *arg) {
    registrar *r = arg;
    pthread_barrier_wait(r->together); /* both start on an untouched registry */
    for (int i = 0; i < PER_THREAD; i++) {
        r->failed += !ag_norm_register(&r->mine[i]);
        r->failed += !ag_norm_is_registered(&r->mine[i]); /* its own, at once */
        (void)ag_norm_is_registered(&r->other[i]);        /* the other's: either */
        const int n = ag_norm_types(NULL, 0);
        r->seen_max = n > r->seen_max ? n : r->seen_max;
    }
    return NULL;
}

START_TEST(registering_from_two_threads_keeps_every_type_once) {
    static const ag_module_type types[2][PER_THREAD]; /* only their addresses matter */
    pthread_barrier_t barrier;
    pair_barrier_init(&barrier);
    registrar a = {types[0], types[1], &barrier, 0, 0};
    registrar b = {types[1], types[0], &barrier, 0, 0};
    run_pair(register_and_read, &a, &b);
    pthread_barrier_destroy(&barrier);

    ck_assert_int_eq(a.failed, 0);
    ck_assert_int_eq(b.failed, 0);
    const ag_module_type *all[AG_NORM_REGISTRY_MAX];
    const int n = ag_norm_types(all, AG_NORM_REGISTRY_MAX);
    /* the built-ins (LayerNorm and the RMSNorm kinds) come first */
    const int builtins = n - 2 * PER_THREAD;
    ck_assert_int_gt(builtins, 0);
    ck_assert_ptr_eq(all[0], &ag_nn_layernorm_type);
    for (int i = 0; i < builtins; i++) ck_assert_ptr_nonnull(all[i]->name);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            int found = 0;
            for (int k = builtins; k < n; k++) found += all[k] == &types[t][i];
            ck_assert_int_eq(found, 1);
        }
    ck_assert_int_le(a.seen_max, n);
    ck_assert_int_le(b.seen_max, n);
}
END_TEST

TCase *threads_registry_tcase(void) {
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, registering_from_two_threads_keeps_every_type_once);
    return tc;
}
