/* tests/optim/main.c — optimizers, parameter groups, clipping, schedules. */
#include "optim_test.h"
#include "../check_main.h"

int main(void) {
    return run_check_suite("optim", (check_tcase_fn *const[]){
        optim_adam_tcase, optim_sgd_tcase, optim_clip_tcase, optim_schedule_tcase,
        optim_groups_tcase, optim_rmsprop_tcase, optim_adagrad_tcase, optim_types_tcase, NULL,
    });
}
