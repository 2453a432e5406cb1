/* nn/nn_internal.h — what nn's files share; not installed. */
#ifndef AG_NN_INTERNAL_H
#define AG_NN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ag/module.h"
#include "ag/norms.h"
#include "ag/registry.h"
#include "ag/registry.h"

/* The built-in norm types, LayerNorm then each RMSNorm kind, with their
 * block constructors (nn/norms.c): the registry starts from them. A table
 * of data, so that reading the registry calls no constructor. */
typedef struct {
    const ag_module_type *type;
    ag_norm_make_fn *make;
} ag__builtin_norm;
enum { AG__BUILTIN_NORMS = 1 + AG_RMSNORM_KINDS };
extern const ag__builtin_norm ag__builtin_norms[AG__BUILTIN_NORMS];

/* The one rule for a norm's eps, shared by the ops (norm_ops.c) and the
 * modules (norms.c): any finite number. A negative eps is accepted, as
 * PyTorch accepts it (rows with var + eps <= 0 then give inf or NaN, as
 * there); NaN and +-inf are refused (PyTorch accepts inf and returns zeros
 * or the bias). Reports "eps is <v> for <what> <shape>: expected a finite
 * number" and returns false. */
bool ag__norm_eps_ok(const char *op, const char *what, const char *shape, double eps);

/* How the norm kernels walk a row and sum parameter gradients (see
 * nn/norm_ops.c): tiles of AG__NORM_TILE elements, blocks of
 * AG__NORM_BLOCK_ROWS rows. The portable and the SIMD loops share them, as
 * their bitwise agreement requires. */
enum { AG__NORM_TILE = 256, AG__NORM_BLOCK_ROWS = 8 };

/* Scratch rows of a backward loop: nrows rows per chunk, row k of chunk c
 * at AG__SCRATCH_ROW(s, c, k) (NULL when none were allocated). Each row
 * begins at its own offset within a 4 KiB page, away from the offsets of
 * the rows the loop streams (see scratch_rows in norm_ops.c). */
typedef struct {
    unsigned char *base;
    size_t chunk_bytes;
    size_t off[4];
} ag__scratch;
#define AG__SCRATCH_ROW(s, c, k)                                                   \
    ((s)->base ? (void *)((s)->base + (size_t)(c) * (s)->chunk_bytes + (s)->off[k]) : NULL)

/* RMSNorm forward over f32 rows x D with weight pw (NULL: none) and no
 * flags, r saved in rs (NULL: not saved), in nchunks contiguous chunks of
 * rows on OpenMP threads, y streamed when stream (nn/norm_simd.c). Returns
 * false, having done nothing, when this build or these arguments have no
 * SIMD version (no AVX2, D not a multiple of 16, y not 32-byte aligned) or
 * ag__norm_simd is false; the caller then runs the portable loop, whose
 * results are bitwise the same. */
bool ag__rms_forward_f32_simd(const float *px, const float *pw, float *py, double *rs,
                              int64_t rows, int64_t D, double eps, int nchunks, bool stream);
/* RMSNorm backward over f32 rows (no flags): dx into pdx (NULL: not wanted;
 * added when add, else stored), dw's per-chunk partial sums into part
 * (NULL: not wanted) through the block sums in blk's row 0; as
 * rms_backward in norm_ops.c, bitwise. false: no SIMD version, as above. */
bool ag__rms_backward_f32_simd(const float *px, const float *pdy, const float *pw,
                               const double *rs, float *pdx, bool add, double *part,
                               const ag__scratch *blk, int64_t rows, int64_t D, int nchunks,
                               bool stream);
/* LayerNorm forward over f32 rows; (mean, r) per row into mr (NULL: not
 * saved); as ln_forward in norm_ops.c, bitwise. false: no SIMD version. */
bool ag__ln_forward_f32_simd(const float *px, const float *pw, const float *pb, float *py,
                             double *mr, int64_t rows, int64_t D, double eps, int nchunks,
                             bool stream);
/* LayerNorm backward over f32 rows with (mean, r) per row in mr: dx as in
 * ag__rms_backward_f32_simd, dw's and db's per-chunk partial sums into
 * wpart and bpart (NULL: not wanted) through block sums in blk's rows 0
 * (dw) and 1 (db); as ln_backward, bitwise. */
bool ag__ln_backward_f32_simd(const float *px, const float *pdy, const float *pw,
                              const double *mr, float *pdx, bool add, double *wpart,
                              double *bpart, const ag__scratch *blk, int64_t rows, int64_t D,
                              int nchunks, bool stream);
/* Whether the SIMD versions are used (true); tests clear it to compare. */
extern bool ag__norm_simd;

#endif
