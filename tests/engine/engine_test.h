/* tests/engine/engine_test.h — what the engine suite's files share. */
#ifndef AG_TESTS_ENGINE_TEST_H
#define AG_TESTS_ENGINE_TEST_H

#include <ag/ag.h>

/* An error handler that returns, counting its reports in *(int *)userdata. */
static inline void count_reports(const char *message, void *userdata) {
    (void)message;
    ++*(int *)userdata;
}

/* A fixture's start: no reports counted, no last error, a new arena. */
static inline ag_arena *engine_test_start(int *reports) {
    *reports = 0;
    ag_clear_error();
    return ag_arena_new(0);
}

/* A fixture's end: the default handler and recording back, the arena freed. */
static inline void engine_test_end(ag_arena *A) {
    ag_set_error_handler(NULL, NULL);
    ag_set_grad_enabled(true);
    ag_arena_free(A);
}

#endif
