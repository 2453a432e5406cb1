/* tests/tensor/tensor_test.h — shared by the tensor suite's files. Each file
 * defines one TCase builder; main.c lists them. Expected values come from hand
 * computation, IEEE-754 bit patterns built by hand, or the published
 * algorithms re-implemented here. */
#ifndef AG_TENSOR_TEST_H
#define AG_TENSOR_TEST_H

#include "../ops/ops_test.h"

TCase *tensor_dtype_tcase(void);
TCase *tensor_create_tcase(void);
TCase *tensor_access_tcase(void);
TCase *tensor_rng_tcase(void);
TCase *tensor_print_tcase(void);

/* A handler that returns and counts its calls (for the few bad calls here;
 * tests/errors/ covers the error policy itself). */
void tensor_count_errors(const char *message, void *userdata);
extern int tensor_errors;

#endif
