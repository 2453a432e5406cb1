/* tests/check_main.h — the main of every Check suite, in one place.
 *
 * Each suite's main.c lists the constructors of its test cases and hands
 * them to run_check_suite:
 *
 *   int main(void) {
 *       return run_check_suite("ops", (check_tcase_fn *const[]){ops_binary_tcase,
 *                                                               ops_unary_tcase, NULL});
 *   }
 *
 * A test case keeps whatever its constructor set (fixtures, its own timeout);
 * a case that sets none gets Check's default, which the CTest registration
 * raises through CK_DEFAULT_TIMEOUT. Tests run in Check's default fork mode
 * (CK_FORK=no in the environment turns it off, e.g. under a debugger). */
#ifndef AG_TESTS_CHECK_MAIN_H
#define AG_TESTS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

/* Makes one test case: its tests, fixtures and timeout. */
typedef TCase *check_tcase_fn(void);

/* Runs the suite `name` made of the test cases that the NULL-terminated list
 * cases constructs, printing Check's normal summary; returns EXIT_SUCCESS when
 * every test passed, EXIT_FAILURE when one failed or cases is NULL or empty
 * (a suite with nothing to run is a mistake). */
static inline int run_check_suite(const char *name, check_tcase_fn *const *cases) {
    if (!cases || !cases[0]) return EXIT_FAILURE;
    Suite *s = suite_create(name);
    for (check_tcase_fn *const *c = cases; *c; c++) suite_add_tcase(s, (*c)());
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
