/* tests/nn/nn_test.h — shared by the nn suite's files. Each file
 * tests/nn/<part>.c defines  TCase *nn_<part>_tcase(void);  main.c lists
 * them. The ops suite's helpers (ck_close, ck_values, ck_shape,
 * expect_errors, check_error, iota) are available too. */
#ifndef AG_NN_TEST_H
#define AG_NN_TEST_H

#include <ag/ag.h>

#include "../ops/ops_test.h"

TCase *nn_norm_ops_tcase(void);  /* fused RMSNorm / LayerNorm ops, composed reference */
TCase *nn_norm_ref_tcase(void);  /* the reference LayerNorm, and the fused one against it */
TCase *nn_norm_double_tcase(void); /* the fused norms' second derivatives */
TCase *nn_module_tcase(void);    /* module base: names, counts, modes, tree */
TCase *nn_linear_tcase(void);    /* Linear and init */
TCase *nn_norms_tcase(void);     /* RMSNorm family and LayerNorm modules */
TCase *nn_registry_tcase(void);  /* the norm-layer registry and its utilities */
TCase *nn_blocks_tcase(void);    /* Embedding, Dropout, attention, MLP, block */
TCase *nn_sequential_tcase(void); /* activation modules, Sequential, ModuleList */

/* The activation act at x, from its formula (sequential.c). */
double nn_ref_act(double x, ag_activation act);
/* What ag_module_print writes, in a buffer from A (sequential.c). */
char *nn_printed(ag_arena *A, ag_module *m);

#endif
