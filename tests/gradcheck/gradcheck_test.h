/* tests/gradcheck/gradcheck_test.h — shared by the gradcheck suite's files.
 * Each file tests/gradcheck/<part>.c defines  TCase *gradcheck_<part>_tcase(void);
 * main.c lists them. The ops suite's helpers (ck_close, expect_errors,
 * check_error, ...) are available too. */
#ifndef AG_GRADCHECK_TEST_H
#define AG_GRADCHECK_TEST_H

#include <ag/ag.h>

#include "../ops/ops_test.h"

TCase *gradcheck_jacobian_tcase(void); /* ag_gradcheck: a function's whole Jacobian */
TCase *gradcheck_params_tcase(void);   /* ag_gradcheck_params / _module: a loss, sampled */
TCase *gradcheck_suite_tcase(void);    /* ag_gradcheck_main: a table of cases as a program */

#endif
