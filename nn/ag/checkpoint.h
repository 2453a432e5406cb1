/* ag/checkpoint.h — saving a module's parameters to a safetensors file and
 * loading them back, PyTorch's state_dict way.
 *
 * Names are the dotted names ag_module_parameters gives
 * (layers.0.self_attn.q_proj.weight), in module order in the file; each
 * parameter is written in its own dtype (f32 F32, f64 F64, bf16 BF16).
 * Loading converts: F16, BF16, F32, F64 go into any float parameter,
 * rounding once to nearest even when the parameter is narrower.
 *
 * Failures. Given a status (st, res), a failed call returns false and fills
 * it with a code and a message that names the file and, where there is one,
 * the tensor; nothing goes through the error handler (file input that a
 * program checks never aborts). Given NULL instead, the same message is
 * reported through the handler (ag/error.h), one line with the caller's
 * file:line, as PyTorch raises, and the call returns false when the handler
 * returns:
 *   ag_module_save(net, "net.safetensors", NULL, NULL);  // aborts on failure
 * Either way, on failure the module is unchanged. docs/checkpoints.md has the
 * file layout and the rules.
 */
#ifndef AG_CHECKPOINT_H
#define AG_CHECKPOINT_H

#include <stdio.h>

#include "ag/module.h"
#include "ag/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_save_opts {
    bool no_fsync;           /* skip the fsyncs (benchmarks; not crash-safe) */
    int nmeta;               /* __metadata__ entries to write, NULL-free */
    const ag_st_meta *meta;
} ag_save_opts;

/* Writes every parameter of m to path atomically (ag_st_write: a temporary
 * file in the same folder, fsync, rename). opts NULL: defaults. On failure a
 * previous file at path is left as it was. Returns true on success; st gets
 * the code and message, or, NULL, a failure is reported (module_save). */
bool ag_module_save_(ag_module *m, const char *path, const ag_save_opts *opts, ag_st_status *st);
#define ag_module_save(...) AG_AT_BOOL(ag_module_save_, __VA_ARGS__)

typedef struct ag_load_opts {
    bool non_strict;  /* tolerate missing and unexpected names (not wrong shapes) */
    ag_arena *names;  /* where the result's name lists go; NULL: counts only */
} ag_load_opts;

/* What a load found, like PyTorch's load_state_dict result. The lists (in
 * opts->names, NULL without an arena) hold the names of the module's
 * parameters the file lacks (missing, module order), of the file's tensors
 * the module lacks (unexpected, file order), and of the tensors whose shape
 * or dtype cannot go into the parameter (mismatched, module order). */
typedef struct ag_load_result {
    ag_st_status status;
    int nloaded, nmissing, nunexpected, nmismatched;
    const char **missing, **unexpected, **mismatched;
} ag_load_result;

/* Loads path into m's parameters. Everything is validated first (the file,
 * then every name, shape and dtype); only then are values copied, so on
 * failure m is unchanged. Strict (opts NULL or non_strict false): any
 * missing, unexpected or mismatched tensor fails with AG_ST_MISMATCH and a
 * message listing them (as many as fit; all of them are in the lists).
 * Non-strict: missing and unexpected ones are listed and the rest loaded;
 * a mismatched one still fails (as in PyTorch). Returns true when values
 * were copied; res gets the status, counts and lists, or, NULL, a failure is
 * reported (module_load). */
bool ag_module_load_(ag_module *m, const char *path, const ag_load_opts *opts,
                     ag_load_result *res);
#define ag_module_load(...) AG_AT_BOOL(ag_module_load_, __VA_ARGS__)

/* Writes r to f as one line, what printing load_state_dict's result shows
 * in PyTorch:
 *   loaded 2; missing [2.weight, 2.bias]; unexpected [1.weight, 1.bias]
 * with "; mismatched [...]" added when there are any. A list the load did
 * not keep (opts->names NULL) is shown as its count, "missing 2" (an
 * empty one as "[]" either way). After a
 * failed load, the status message instead. NULL f or r: nothing written. */
void ag_load_result_print(FILE *f, const ag_load_result *r);

/* The same from a file already opened with ag_st_open or ag_st_open_memory
 * (the file is not closed); a failure with res NULL is reported
 * (module_load_file). */
bool ag_module_load_file_(ag_module *m, const ag_st_file *f, const ag_load_opts *opts,
                          ag_load_result *res);
#define ag_module_load_file(...) AG_AT_BOOL(ag_module_load_file_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
