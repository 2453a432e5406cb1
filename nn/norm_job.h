/* nn/norm_job.h — what the fused norm kernels share; not installed.
 *
 * nn/norm_ops.c validates a call and fills an ag__norm_job; the portable
 * loops (nn/norm_loops.c) and the AVX2 loops (nn/norm_simd.c) run it, and
 * nn/norm_scratch.c places its scratch rows. Both loops walk the rows in the
 * same chunks, tiles and blocks, through the helpers below: their results
 * agree bitwise only because they do.
 */
#ifndef AG_NORM_JOB_H
#define AG_NORM_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ag/tensor.h"

/* Row sums run in AG__NORM_LANES double lanes (element j in lane j % 16);
 * rows are pipelined AG__NORM_TILE elements at a time; parameter gradients
 * are summed in blocks of AG__NORM_BLOCK_ROWS rows (nn/norm_ops.c and
 * nn/norm_loops_t.h explain each). */
enum { AG__NORM_LANES = 16, AG__NORM_TILE = 256, AG__NORM_BLOCK_ROWS = 8 };

/* The scratch rows of a backward, per chunk (nn/norm_scratch.c). */
enum {
    AG__SCRATCH_DW,      /* dw's block sums */
    AG__SCRATCH_DB,      /* db's block sums (LayerNorm) */
    AG__SCRATCH_XH,      /* xh of the current row (LayerNorm, portable loop) */
    AG__SCRATCH_XH_NEXT, /* xh of the next row (LayerNorm, portable loop) */
    AG__SCRATCH_MAX
};
typedef struct {
    unsigned char *base; /* NULL: none allocated; free with free() */
    size_t chunk_bytes;
    size_t off[AG__SCRATCH_MAX];
} ag__scratch;

/* Scratch row k of chunk c; NULL when none were allocated. */
static inline void *ag__scratch_row(const ag__scratch *s, int c, int k) {
    return s->base ? s->base + (size_t)c * s->chunk_bytes + s->off[k] : NULL;
}

/* One pass of a fused norm over rows x D elements. Row buffers are all of
 * dtype dt (f32 or f64); the pointers are to contiguous data. */
typedef struct {
    ag_dtype dt;
    int64_t rows, D;
    int nchunks;       /* the rows split into nchunks contiguous chunks, one per thread */
    bool stream;       /* y or dx goes out with non-temporal stores */
    bool add;          /* backward: dx += (x has a gradient already), else dx = */
    bool simd;         /* the AVX2 loops may run (false: only the portable ones) */
    unsigned flags;    /* RMSNorm: AG_RMS_SQRT_DIV, AG_RMS_UNIT_OFFSET */
    double eps;        /* forward */
    const void *x;     /* [rows, D] */
    const void *w;     /* [D] weight, or NULL (none) */
    const void *b;     /* [D] bias, or NULL (none; LayerNorm only) */
    void *y;           /* [rows, D] forward's output */
    const void *dy;    /* [rows, D] backward: the gradient arriving at y */
    void *dx;          /* [rows, D] backward: x's gradient, or NULL (not wanted) */
    double *stats;     /* RMSNorm [rows]: r; LayerNorm [rows, 2]: mean, r. Forward
                          writes it (NULL: not saved), backward reads it */
    double *wpart;     /* [nchunks, D] backward: dw's partial sums per chunk, or NULL */
    double *bpart;     /* [nchunks, D] backward: db's partial sums per chunk, or NULL */
    ag__scratch scratch; /* backward: scratch rows per chunk */
} ag__norm_job;

/* The rows [i0, i1) of chunk c: a fixed static partition. */
typedef struct {
    int64_t i0, i1;
} ag__norm_rows;
static inline ag__norm_rows ag__norm_chunk(const ag__norm_job *job, int c) {
    return (ag__norm_rows){job->rows * c / job->nchunks, job->rows * (c + 1) / job->nchunks};
}

/* The end of the tile of a row that starts at column j0: tiles are
 * [0, TILE), [TILE, 2 TILE), ..., the last one cut at D. */
static inline int64_t ag__norm_tile_end(int64_t j0, int64_t D) {
    return D - j0 < AG__NORM_TILE ? D : j0 + AG__NORM_TILE;
}

/* Chunk c's partial sums in part ([nchunks, D]; NULL stays NULL). */
static inline double *ag__norm_part(double *part, int c, int64_t D) {
    return part ? part + (int64_t)c * D : NULL;
}

/* What row i of the chunk r does with the terms of a parameter gradient:
 * the rows of a chunk are taken in blocks of AG__NORM_BLOCK_ROWS, whose
 * terms are summed in the compute type in a scratch row before the block's
 * sum is added to the chunk's partial sums in double (nn/norm_loops.c). */
typedef enum {
    AG__BLOCK_NONE,   /* no parameter gradient wanted */
    AG__BLOCK_ONLY,   /* a block of one row: acc += (double)term */
    AG__BLOCK_FIRST,  /* blk = term */
    AG__BLOCK_MIDDLE, /* blk += term */
    AG__BLOCK_LAST,   /* acc += (double)(blk + term) */
} ag__block_mode;
static inline ag__block_mode ag__norm_block_mode(bool want, int64_t i, ag__norm_rows r) {
    const bool first = (i - r.i0) % AG__NORM_BLOCK_ROWS == 0;
    const bool last = (i - r.i0) % AG__NORM_BLOCK_ROWS == AG__NORM_BLOCK_ROWS - 1 || i + 1 == r.i1;
    return !want          ? AG__BLOCK_NONE
           : first && last ? AG__BLOCK_ONLY
           : first         ? AG__BLOCK_FIRST
           : last          ? AG__BLOCK_LAST
                           : AG__BLOCK_MIDDLE;
}

/* x viewed as rows x D, D the product of normalized_shape. */
typedef struct {
    int64_t rows, D;
} ag__norm_dims;

/* Checks the arguments the norm ops share: x a float tensor whose trailing
 * dims equal normalized_shape (ns, 1 to AG_MAX_DIMS dims), weight and bias
 * float tensors of shape normalized_shape (NULL: absent), eps finite (see
 * ag__norm_eps_ok). Sets *dims, or reports once through ag__fail(op, ...)
 * and returns false. */
bool ag__norm_check(const char *op, const ag_tensor *x, int nshape, const int64_t *ns,
                    const ag_tensor *weight, const ag_tensor *bias, double eps,
                    ag__norm_dims *dims);

/* The portable loops (nn/norm_loops.c), any job of dtype f32 or f64. */
void ag__rms_forward(const ag__norm_job *job);
void ag__rms_backward(const ag__norm_job *job);
void ag__ln_forward(const ag__norm_job *job);
void ag__ln_backward(const ag__norm_job *job);

/* The AVX2 loops (nn/norm_simd.c): the same results, bitwise. Each returns
 * false, having done nothing, when the job has no SIMD version: this build
 * has no AVX2, job->simd is false, dt is not f32, RMSNorm has flags, D is
 * not a multiple of 16, or y (dx) is not 32-byte aligned. */
bool ag__rms_forward_simd(const ag__norm_job *job);
bool ag__rms_backward_simd(const ag__norm_job *job);
bool ag__ln_forward_simd(const ag__norm_job *job);
bool ag__ln_backward_simd(const ag__norm_job *job);

/* Allocates nrows (<= AG__SCRATCH_MAX) uninitialised scratch rows of D
 * elements per chunk into job->scratch, each placed at a 4 KiB page offset
 * away from those of the rows the backward streams, or packed when all of
 * them fit in half of L1 (nn/norm_scratch.c).
 * Reports through ag__fail(op, ...) and returns false when out of memory;
 * free with free(job->scratch.base). */
bool ag__norm_scratch_alloc(ag__norm_job *job, const char *op, int nrows);

/* What a norm op's forward keeps for its backward, in the result's arena,
 * at y->saved (allocated only when a gradient will be needed). */
typedef struct {
    int64_t D;
    double eps;      /* the forward's eps (the vjp normalizes x again for dw) */
    unsigned flags;  /* RMSNorm's AG_RMS_* flags; 0 for LayerNorm */
    bool has_weight; /* src[1] is the weight */
    bool has_bias;   /* the last src is the bias (LayerNorm) */
    bool simd;       /* backward may use the AVX2 loops, as forward might */
    double stats[];  /* per row: r (RMSNorm), or mean and r (LayerNorm) */
} ag__norm_saved;

/* ---- what the double backward (nn/norm_double.c) shares with nn/norm_ops.c ---- */

/* A job for rows x D elements of dtype dt whose output is overwritten (not
 * accumulated into) when overwrite; simd: the AVX2 loops may run. Its
 * nchunks is the static partition of the rows (see "how the rows are run"
 * in nn/norm_ops.c); the pointers are left NULL. */
ag__norm_job ag__norm_job_for(ag_dtype dt, int64_t rows, int64_t D, bool overwrite, bool simd);

/* Zeroed partial sums for the job's chunks, [nchunks, D], when want and *ok
 * (NULL otherwise); reports under op and clears *ok when out of memory. */
double *ag__norm_partials(const char *op, bool want, const ag__norm_job *job, bool *ok);

/* grad[j] += sum over chunks c (in order 0, 1, ...) of part[c*D + j]
 * (part is summed into its first row on the way). */
void ag__norm_add_partials(double *part, int nchunks, int64_t D, ag_tensor *grad);

/* The first backward's dx of the norm op out (a RMSNorm or LayerNorm result,
 * layer saying which) for the gradient dy (out's shape and dtype), written
 * (=) into dx, a tensor of out's shape and dtype, by the same row loops as
 * out's backward. Returns false after a report (out of memory). */
bool ag__norm_dx(const ag_tensor *out, const ag_tensor *dy, ag_tensor *dx, bool layer);

/* The norm ops' vjp (nn/norm_double.c): dx as the recorded op
 * "rms_norm_backward" or "layer_norm_backward" of (x, weight, dy), whose
 * kernel is the fused double backward; dweight = dy * xh and dbias = dy
 * (summed over the rows by the engine) from recorded ops. */
bool ag__rms_norm_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads);
bool ag__layer_norm_vjp(ag_tensor *out, ag_tensor *g, ag_tensor **grads);

/* ag_rms_norm and ag_layer_norm with the AVX2 loops allowed (simd true, as
 * the public ops run) or not: forward and backward then run the portable
 * loops. For tests, which check that both give bitwise the same results. */
ag_tensor *ag__rms_norm_run(ag_arena *A, ag_tensor *x, int nshape,
                            const int64_t *normalized_shape, ag_tensor *weight, double eps,
                            unsigned flags, bool simd);
ag_tensor *ag__layer_norm_run(ag_arena *A, ag_tensor *x, int nshape,
                              const int64_t *normalized_shape, ag_tensor *weight,
                              ag_tensor *bias, double eps, bool simd);

#endif
