/* tests/threads/pair.c — two threads and a barrier between them. */
#include "threads_test.h"

void pair_barrier_init(pthread_barrier_t *b) {
    ck_assert_int_eq(pthread_barrier_init(b, NULL, 2), 0);
}

void run_pair(thread_fn *fn, void *a, void *b) {
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, fn, a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, fn, b), 0);
    void *ra = &ra, *rb = &rb;
    ck_assert_int_eq(pthread_join(ta, &ra), 0);
    ck_assert_int_eq(pthread_join(tb, &rb), 0);
    ck_assert_ptr_null(ra);
    ck_assert_ptr_null(rb);
}
