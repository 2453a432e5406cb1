/* tests/threads/main.c — the thread contract (ag/engine.h). */
#include "threads_test.h"
#include "../check_main.h"

int main(void) {
    return run_check_suite("threads", (check_tcase_fn *const[]){
        threads_train_tcase, threads_shared_tcase, threads_serialised_tcase, threads_errors_tcase,
        threads_registry_tcase, threads_parallel_tcase, NULL,
    });
}
