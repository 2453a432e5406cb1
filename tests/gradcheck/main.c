/* tests/gradcheck/main.c — the gradient checkers themselves. */
#include "../check_main.h"
#include "gradcheck_test.h"

int main(void) {
    return run_check_suite("gradcheck", (check_tcase_fn *const[]){gradcheck_jacobian_tcase,
                                                                  gradcheck_params_tcase,
                                                                  gradcheck_suite_tcase, NULL});
}
