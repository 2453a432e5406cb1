/* nn/checkpoint_internal.h — the checkpoint functions that never report,
 * for library code that passes their status on (optim/train_state.c). Not
 * installed. */
#ifndef AG_CHECKPOINT_INTERNAL_H
#define AG_CHECKPOINT_INTERNAL_H

#include "ag/checkpoint.h"

/* ag_module_save_ and ag_module_load_file_ without the report: a failure
 * only fills st / res (either may be NULL: then it is dropped). */
bool ag__module_save(ag_module *m, const char *path, const ag_save_opts *opts, ag_st_status *st);
bool ag__module_load_file(ag_module *m, const ag_st_file *f, const ag_load_opts *opts,
                          ag_load_result *res);

#endif
