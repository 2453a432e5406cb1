/* ag/train_state.h — the whole state of a training run in a checkpoint
 * folder, so that a run stopped after step k and resumed takes the same
 * steps, bit for bit, as a run that never stopped.
 *
 * A checkpoint is a folder of two safetensors files:
 *
 *   model.safetensors      the model's parameters (ag_module_save: dotted
 *                          names, each in its own dtype), so PyTorch and
 *                          ag_module_load read it as any weights file;
 *                          __metadata__: the program's entries and "step"
 *   optimizer.safetensors  per parameter, under its dotted name:
 *                            state.<name>.<buffer>   exp_avg, exp_avg_sq, ...
 *                            state.<name>.master     a bf16 parameter's f32 copy
 *                          __metadata__: "optimizer" (the type's name),
 *                          "steps", "ngroups", per group "group.<g>.lr",
 *                          ".initial_lr", ".weight_decay"; per parameter
 *                          "step.<name>" (its update count); "rng" (the
 *                          generator's state), "data_position"; and "step"
 *
 * Doubles are written with 17 significant digits (they read back exactly);
 * the generator as its four 64-bit words in hex and its spare normal.
 *
 * Each file is written atomically (ag_st_write: a temporary file, fsync,
 * rename), the optimizer's first. A crash between the two renames leaves a
 * new optimizer file beside the previous model file: both carry "step", and
 * ag_train_load refuses a pair whose steps differ, naming both. Loading
 * checks everything it can before changing anything: the optimizer file
 * (type, groups, parameter count, every tensor's name and shape) and then
 * the model file (strict ag_module_load); only then are the optimizer state,
 * the generator and the position set. Like every file input, nothing here
 * goes through the error handler: a status names the file and the tensor.
 */
#ifndef AG_TRAIN_STATE_H
#define AG_TRAIN_STATE_H

#include <stdint.h>

#include "ag/checkpoint.h"
#include "ag/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a training checkpoint holds; the caller's objects, read by save and
 * written by load. model names the optimizer's parameters (each of opt's
 * parameters must be one of model's). rng may be NULL (none saved; on load,
 * one in the file is ignored). meta: the program's own metadata (its
 * configuration), written into model.safetensors: distinct keys, none of
 * them "step" (the checkpoint's own); after a load, meta and nmeta are not
 * changed (read the file's with ag_st_meta_get). */
typedef struct ag_train_state {
    ag_module *model;
    ag_optim *opt;
    ag_rng *rng;
    int64_t data_position; /* where the data order stands; the program's meaning */
    int nmeta;
    const ag_st_meta *meta;
} ag_train_state;

/* Saves s into the folder dir (made when missing; its parent must exist):
 * model.safetensors and optimizer.safetensors, each atomically. opts as for
 * ag_module_save (NULL: fsync). Bad arguments (a NULL dir, model or
 * optimizer, metadata ag_st_write refuses, a metadata key "step") fail
 * before either file is written. On failure the previous checkpoint files
 * are left as they were (one of the two may already be new: see above) and
 * false is returned with st filled (st may be NULL). */
bool ag_train_save(const char *dir, const ag_train_state *s, const ag_save_opts *opts,
                   ag_st_status *st);

/* Loads the checkpoint in dir into s's model, optimizer, generator and
 * data_position. s->model and s->opt must be built as they were when saved
 * (same parameters, same optimizer type and groups). On failure nothing in
 * s is changed and false is returned with st filled: a missing file, any
 * reader rule, a missing, unexpected or misshapen tensor, another optimizer
 * type, group count or parameter count, steps that differ between the two
 * files. */
bool ag_train_load(const char *dir, ag_train_state *s, ag_st_status *st);

#ifdef __cplusplus
}
#endif
#endif
