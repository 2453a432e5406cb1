/* tests/optim/main.c — optimizers, parameter groups, clipping, schedules. */
#include <stdlib.h>

#include "optim_test.h"

int main(void) {
    Suite *s = suite_create("optim");
    TCase *(*const cases[])(void) = {
        optim_adam_tcase,     optim_sgd_tcase,    optim_clip_tcase,
        optim_schedule_tcase, optim_groups_tcase, optim_rmsprop_tcase,
        optim_adagrad_tcase,  optim_types_tcase,
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) suite_add_tcase(s, cases[i]());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
