/* tests/threads/errors.c — error handling per thread: a thread's own
 * handler (ag_set_thread_error_handler) receives that thread's reports and
 * no other thread's; a thread without one reports to the process handler;
 * the last error and the error count are the thread's own. */
#include <stdatomic.h>
#include <string.h>

#include "threads_test.h"

static atomic_int process_reports;

static void count_process(const char *message, void *userdata) {
    (void)message;
    (void)userdata;
    atomic_fetch_add(&process_reports, 1);
}

typedef struct reporter {
    bool own_handler;  /* install a thread handler, else use the process one */
    double p;          /* the bad dropout probability this thread passes */
    int calls;         /* bad calls to make */
    pthread_barrier_t *together;
    int received;      /* reports seen by this thread's handler */
    int counted;       /* ag_error_count() at the end */
    char last[512];    /* ag_last_error() at the end */
    bool first_prev_null, second_prev_ours;
} reporter;

static void count_thread(const char *message, void *userdata) {
    (void)message;
    ++((reporter *)userdata)->received;
}

static void *report(void *arg) {
    reporter *r = arg;
    if (r->own_handler) {
        r->first_prev_null = ag_set_thread_error_handler(count_thread, r) == NULL;
        r->second_prev_ours = ag_set_thread_error_handler(count_thread, r) == count_thread;
    }
    pthread_barrier_wait(r->together); /* both handlers in place before any report */
    for (int i = 0; i < r->calls; i++) {
        ag_nn_dropout *d = ag_nn_dropout_new(NULL, r->p, 1);
        if (d) return d; /* not a failure: the test fails */
        pthread_barrier_wait(r->together);
    }
    r->counted = ag_error_count();
    snprintf(r->last, sizeof r->last, "%s", ag_last_error());
    ag_set_thread_error_handler(NULL, NULL);
    return NULL;
}

START_TEST(each_thread_reports_to_its_own_handler) {
    atomic_store(&process_reports, 0);
    ag_set_error_handler(count_process, NULL);
    ag_clear_error();
    pthread_barrier_t barrier;
    pair_barrier_init(&barrier);
    reporter own = {.own_handler = true, .p = 1.5, .calls = 3, .together = &barrier};
    reporter shared = {.own_handler = false, .p = 2.5, .calls = 3, .together = &barrier};
    run_pair(report, &own, &shared);
    pthread_barrier_destroy(&barrier);
    ag_set_error_handler(NULL, NULL);

    ck_assert(own.first_prev_null);
    ck_assert(own.second_prev_ours);
    ck_assert_int_eq(own.received, 3);              /* the thread's handler: its 3 reports */
    ck_assert_int_eq(atomic_load(&process_reports), 3); /* the process one: the other's 3 */
    ck_assert_int_eq(shared.received, 0);
    ck_assert_int_eq(own.counted, 3);
    ck_assert_int_eq(shared.counted, 3);
    ck_assert_ptr_nonnull(strstr(own.last, "Dropout(p=1.5)"));
    ck_assert_ptr_nonnull(strstr(shared.last, "Dropout(p=2.5)"));
    ck_assert_int_eq(ag_error_count(), 0);          /* nothing reported on this thread */
    ck_assert_str_eq(ag_last_error(), "");
}
END_TEST

START_TEST(removing_the_thread_handler_goes_back_to_the_process_one) {
    atomic_store(&process_reports, 0);
    ag_set_error_handler(count_process, NULL);
    reporter r = {0};
    ag_set_thread_error_handler(count_thread, &r);
    (void)ag_nn_dropout_new(NULL, 3.0, 1);
    ck_assert(ag_set_thread_error_handler(NULL, NULL) == count_thread);
    (void)ag_nn_dropout_new(NULL, 3.0, 1);
    ck_assert(ag_set_error_handler(NULL, NULL) == count_process);
    ck_assert_int_eq(r.received, 1);
    ck_assert_int_eq(atomic_load(&process_reports), 1);
}
END_TEST

TCase *threads_errors_tcase(void) {
    TCase *tc = tcase_create("errors");
    tcase_add_test(tc, each_thread_reports_to_its_own_handler);
    tcase_add_test(tc, removing_the_thread_handler_goes_back_to_the_process_one);
    return tc;
}
