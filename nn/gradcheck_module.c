/* nn/gradcheck_module.c — a module's trainable parameters, with their dotted
 * names, handed to ag_gradcheck_params (core knows nothing of modules). */
#include <string.h>

#include "ag/nn.h"
#include "internal.h"

#define OP "gradcheck_module"

/* Empties result and puts the error just reported in its message. */
static bool refused(ag_gradcheck_params_result *result) {
    if (result) {
        memset(result, 0, sizeof *result);
        snprintf(result->message, sizeof result->message, "%s", ag_last_error());
    }
    return false;
}

bool ag_gradcheck_module_(ag_module *m, ag_loss_fn loss, void *userdata,
                          const ag_gradcheck_params_opts *opts,
                          ag_gradcheck_params_result *result) {
    if (!m || !loss) {
        ag__fail(OP, "%s is NULL", !m ? "the module" : "the loss function");
        return refused(result);
    }
    const char *type = m->type ? m->type->name : "module";
    ag_arena *A = ag_arena_new_(0); /* the names and the lists */
    ag_named_param *all = NULL;
    const int n = A ? ag_module_parameters_(m, A, &all) : -1;
    ag_tensor **params = n > 0 ? ag_arena_alloc_(A, (size_t)n * sizeof *params) : NULL;
    const char **names = n > 0 ? ag_arena_alloc_(A, (size_t)n * sizeof *names) : NULL;
    if (n < 0 || (n > 0 && (!params || !names))) {
        ag_arena_free(A);
        ag__fail(OP, "out of memory listing the parameters of %s", type);
        return refused(result);
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (all[i].tensor->requires_grad) {
            params[k] = all[i].tensor;
            names[k++] = all[i].name;
        }
    if (k == 0) {
        ag_arena_free(A);
        ag__fail(OP, "%s has %d parameters and none requires a gradient: nothing to check",
                 type, n);
        return refused(result);
    }
    const bool ok = ag_gradcheck_params_(loss, userdata, k, params, names, opts, result);
    ag_arena_free(A); /* the result holds copies of the names */
    return ok;
}
