/* ag/check.h — gradient checks of a module's parameters.
 *
 * The module-level face of ag_gradcheck_params (ag/gradcheck.h): the
 * parameters are the module's trainable ones, named by their dotted paths
 * (layers.0.mlp.up_proj.weight), so a wrong gradient is reported where it
 * lives in the model.
 */
#ifndef AG_CHECK_H
#define AG_CHECK_H

#include "ag/gradcheck.h"
#include "ag/module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Checks d loss / d p for every parameter p of m that requires a gradient,
 * in ag_module_parameters order, at opts->samples coordinates each (see
 * ag_gradcheck_params for opts, the result, and what is restored). The
 * parameters must be f64 (ag_module_cast(m, AG_F64)) and loss deterministic
 * (ag_module_train(m, false) turns dropout off). Returns result->pass; free
 * result with ag_gradcheck_params_free. A NULL m or loss, a module with no
 * parameter requiring a gradient, and what ag_gradcheck_params refuses are
 * reported and return false. */
bool ag_gradcheck_module_(ag_module *m, ag_loss_fn loss, void *userdata,
                          const ag_gradcheck_params_opts *opts,
                          ag_gradcheck_params_result *result);
#define ag_gradcheck_module(...) AG_AT_BOOL(ag_gradcheck_module_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
