/* tests/gradcheck/main.c — the gradient checkers themselves. */
#include <stdlib.h>

#include "gradcheck_test.h"

int main(void) {
    Suite *s = suite_create("gradcheck");
    TCase *(*const cases[])(void) = {gradcheck_jacobian_tcase, gradcheck_params_tcase};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) suite_add_tcase(s, cases[i]());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
