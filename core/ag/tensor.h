/* ag/tensor.h — tensors: dtypes, creation, element access, printing, RNG.
 *
 * A tensor is 0-d (a scalar) to 8-d, contiguous and row-major. Its header,
 * its data and (after backward) its gradient live in the arena it was made
 * in. Reshape shares storage with its input; every other op returns a new
 * tensor with its own data.
 *
 * Fields a user may read: dtype, ndim, shape, numel, data, grad,
 * requires_grad, name. The rest belongs to the engine.
 */
#ifndef AG_TENSOR_H
#define AG_TENSOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* f32 is the working dtype, f64 is for exact checks (finite differences),
 * bf16 is a storage dtype (ops compute in f32 and round back to nearest even),
 * i32 holds integer ids (indices, targets, masks) and takes no gradient. */
typedef enum { AG_F32, AG_F64, AG_BF16, AG_I32, AG_DTYPE_COUNT } ag_dtype;

#define AG_MAX_DIMS 8

typedef struct ag_tensor ag_tensor;

/* An op descriptor: one per op, static in the op's file. It holds the
 * op's backward in one or both of two forms:
 *
 * - backward, the kernel: reads out->grad, out->src and what the op saved,
 *   and accumulates (+=) into the gradients of the sources that require one
 *   (the library's ops get those buffers from ag__grad_buf in
 *   core/internal.h, which allocates a leaf's .grad, zeroed, on first use).
 *   It never writes an input's data. Fast; what a plain ag_backward runs.
 * - vjp, the same product written with ag ops: given g, the gradient of out
 *   (a tensor that may itself be recorded), it sets grads[i] to source i's
 *   share (NULL: none) and returns false after a report. Because its ops
 *   are recorded, the gradient it builds can be differentiated again: a
 *   backward with create_graph runs vjp (ag/engine.h), and a plain backward
 *   runs it, with recording off, when the op has no kernel. grads[i] may
 *   have a shape that broadcasts to source i's (the engine sums it down)
 *   and another float dtype (the engine casts it). */
typedef struct ag_op {
    const char *name;
    void (*backward)(ag_tensor *out);
    bool (*vjp)(ag_tensor *out, ag_tensor *g, ag_tensor **grads);
} ag_op;

struct ag_tensor {
    ag_dtype dtype;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    int64_t numel;
    void *data;          /* numel elements of dtype, row-major */
    ag_arena *arena;     /* where this tensor and its gradient live */
    ag_tensor *grad;     /* same shape and dtype; NULL until backward reaches it */
    bool requires_grad;
    const char *name;    /* optional, for messages and gradcheck reports */

    /* The graph: the op that made this tensor (NULL for a leaf), its sources,
     * small parameters, and anything else backward needs. */
    const ag_op *op;
    ag_tensor **src;
    int nsrc;
    int64_t iparam[2 * AG_MAX_DIMS];
    double fparam[4];
    void *saved;
    uint64_t visit;      /* engine bookkeeping for the topological sort */
    struct {
        const char *file; /* the caller's file (base name) and line of the op */
        int line;         /* that made it; written only in anomaly detection */
    } site;
    uint64_t epoch;      /* the arena's reset count when this tensor was made */
};

/* Shapes and dim lists as call arguments: ag_zeros(A, AG_F32, AG_SHAPE(2, 3)). */
#define AG_SHAPE(...) \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}
#define AG_DIMS(...) \
    (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (const int[]){__VA_ARGS__}

/* ---- dtypes -------------------------------------------------------------- */

/* "f32", "f64", "bf16", "i32". */
const char *ag_dtype_name(ag_dtype dt);
/* Bytes per element. */
size_t ag_dtype_size(ag_dtype dt);
/* True for f32, f64, bf16. */
bool ag_dtype_is_float(ag_dtype dt);
/* Machine epsilon of the dtype's compute type (f32 and bf16 compute in f32). */
double ag_dtype_eps(ag_dtype dt);

/* The dtype ops compute in for data of dtype dt: f32 for bf16 (a storage
 * dtype), dt itself otherwise. The one place this rule is written. */
static inline ag_dtype ag_compute_dtype(ag_dtype dt) { return dt == AG_BF16 ? AG_F32 : dt; }

/* bf16 conversion: round to nearest, ties to even; NaN stays NaN (quiet).
 * Inline so that loops over arrays vectorize. */
static inline uint16_t ag_f32_to_bf16(float x) {
    union { float f; uint32_t u; } v = {x};
    const uint32_t u = v.u;
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16); /* ties to even */
}
static inline float ag_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = {(uint32_t)h << 16};
    return v.f;
}

/* ---- creation ------------------------------------------------------------ */
/* Each returns a new leaf tensor in arena A (requires_grad false), or NULL
 * after reporting bad arguments (ndim outside 0..8, a negative size, NULL,
 * non-zero sizes whose product exceeds INT64_MAX / 16 even when another size
 * is 0, a value an i32 tensor cannot hold: NaN, inf, or outside the i32 range
 * after truncation toward zero). */

ag_tensor *ag_empty_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape);
ag_tensor *ag_zeros_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape);
ag_tensor *ag_ones_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape);
ag_tensor *ag_full_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape, double value);
/* A 0-d tensor holding value. */
ag_tensor *ag_scalar_(ag_arena *A, ag_dtype dt, double value);
/* 1-d: start, start+step, ... while < end (> end for a negative step).
 * Reports non-finite arguments, a zero step, or more than INT64_MAX / 16
 * elements. */
ag_tensor *ag_arange_(ag_arena *A, ag_dtype dt, double start, double end, double step);
/* Copies numel elements from values, which holds the dtype's C type:
 * float (f32), double (f64), uint16_t bf16 bits (bf16), int32_t (i32). */
ag_tensor *ag_from_array_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape,
                          const void *values);
/* Converts numel doubles into a tensor of dtype dt (bf16 rounds to nearest even). */
ag_tensor *ag_from_f64_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape,
                        const double *values);
/* An i32 tensor (ids, targets, indices) from numel int64_t values (what
 * PyTorch's torch.long holds). Reports a value outside the i32 range,
 * naming its position and value, besides the creation errors above. */
ag_tensor *ag_from_i64_(ag_arena *A, int ndim, const int64_t *shape, const int64_t *values);
/* A new leaf with the same dtype, shape and values (no graph; see ag_clone for
 * the differentiable copy). */
ag_tensor *ag_copy_(ag_arena *A, const ag_tensor *t);

#define ag_empty(...) AG_AT(ag_empty_, __VA_ARGS__)
#define ag_zeros(...) AG_AT(ag_zeros_, __VA_ARGS__)
#define ag_ones(...) AG_AT(ag_ones_, __VA_ARGS__)
#define ag_full(...) AG_AT(ag_full_, __VA_ARGS__)
#define ag_scalar(...) AG_AT(ag_scalar_, __VA_ARGS__)
#define ag_arange(...) AG_AT(ag_arange_, __VA_ARGS__)
#define ag_from_array(...) AG_AT(ag_from_array_, __VA_ARGS__)
#define ag_from_f64(...) AG_AT(ag_from_f64_, __VA_ARGS__)
#define ag_from_i64(...) AG_AT(ag_from_i64_, __VA_ARGS__)
#define ag_copy(...) AG_AT(ag_copy_, __VA_ARGS__)

/* ---- copying values in (PyTorch's copy_ under no_grad) ------------------------
 * Each writes dst's data in place, records nothing in any graph and leaves
 * dst's gradient and requires_grad alone. Floats convert into floats
 * (rounding once to nearest even when dst is narrower); i32 copies into i32
 * only. Reported, with dst unchanged and false returned: NULL dst or source,
 * a count that differs from dst's numel, a float/i32 mix, a tensor made
 * before its arena's last reset. A NULL dst or src (an earlier failure)
 * returns false without a report. */

/* count values of dtype dt (float, double, uint16_t bf16 bits, int32_t) from
 * values into dst; count must equal dst->numel. */
bool ag_copy_array_into_(ag_tensor *dst, const void *values, ag_dtype dt, int64_t count);
/* src's values into dst (any shapes with the same number of elements). */
bool ag_copy_into_(ag_tensor *dst, const ag_tensor *src);
#define ag_copy_array_into(...) AG_AT_BOOL(ag_copy_array_into_, __VA_ARGS__)
#define ag_copy_into(...) AG_AT_BOOL(ag_copy_into_, __VA_ARGS__)

/* ---- random numbers ------------------------------------------------------ */

/* xoshiro256** seeded through splitmix64: the same seed gives the same
 * numbers on every run and every machine. */
typedef struct ag_rng {
    uint64_t s[4];
    double spare;     /* second Box-Muller value */
    bool has_spare;
} ag_rng;

/* Seeds r (never NULL) with seed: any value, 0 included, gives a
 * well-mixed state and forgets a Box-Muller spare. */
void ag_rng_seed(ag_rng *r, uint64_t seed);
/* A generator seeded with seed, by value, as torch.Generator().manual_seed
 * gives one in one expression:  ag_rng rng = ag_rng_seeded(0);
 * The same stream as ag_rng_seed(&r, seed). Never fails. */
ag_rng ag_rng_seeded(uint64_t seed);
uint64_t ag_rng_u64(ag_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double ag_rng_uniform(ag_rng *r);
/* Standard normal (Box-Muller, both values used). */
double ag_rng_normal(ag_rng *r);
/* Uniform integer in [0, n), without modulo bias. n > 0. */
uint64_t ag_rng_below(ag_rng *r, uint64_t n);

/* New leaf tensors filled from r: uniform in [lo, hi), normal(mean, std).
 * Reported (NULL returned): lo > hi, a non-finite bound, mean or std, a
 * negative std, a NULL r or arena, a non-float dtype, a bad shape. */
ag_tensor *ag_rand_(ag_arena *A, ag_rng *r, ag_dtype dt, int ndim, const int64_t *shape,
                    double lo, double hi);
ag_tensor *ag_randn_(ag_arena *A, ag_rng *r, ag_dtype dt, int ndim, const int64_t *shape,
                     double mean, double std);
#define ag_rand(...) AG_AT(ag_rand_, __VA_ARGS__)
#define ag_randn(...) AG_AT(ag_randn_, __VA_ARGS__)

/* ---- element access ------------------------------------------------------ */
/* Values travel as double whatever the dtype. An index out of range is
 * reported and returns NAN (get) or does nothing (set); so is setting an i32
 * element to NaN, inf or a value outside the i32 range (after truncation). */

double ag_get_(const ag_tensor *t, const int64_t *index);    /* index[ndim] */
void ag_set_(ag_tensor *t, const int64_t *index, double v);
double ag_get_flat_(const ag_tensor *t, int64_t i);          /* row-major position */
void ag_set_flat_(ag_tensor *t, int64_t i, double v);
/* The value of a one-element tensor (any ndim). NaN, with a report, for
 * another element count or a tensor made before its arena's last reset; NaN
 * without one for NULL (an earlier failure). */
double ag_item_(const ag_tensor *t);
#define ag_get(...) AG_AT_DOUBLE(ag_get_, __VA_ARGS__)
#define ag_set(...) AG_AT_VOID(ag_set_, __VA_ARGS__)
#define ag_get_flat(...) AG_AT_DOUBLE(ag_get_flat_, __VA_ARGS__)
#define ag_set_flat(...) AG_AT_VOID(ag_set_flat_, __VA_ARGS__)
#define ag_item(...) AG_AT_DOUBLE(ag_item_, __VA_ARGS__)
/* Element access by coordinates: ag_at(t, 1, 2). */
#define ag_at(t, ...) ag_get(t, (const int64_t[]){__VA_ARGS__})

/* Copies the values out as doubles into out[numel]. */
void ag_to_f64(const ag_tensor *t, double *out);

/* ---- shape helpers ------------------------------------------------------- */

/* True when a and b have the same ndim and sizes. */
bool ag_same_shape(const ag_tensor *a, const ag_tensor *b);
/* Writes "[2,3]" (or "[]" for a scalar) into buf; returns buf. */
char *ag_shape_str(const ag_tensor *t, char *buf, size_t size);

/* ---- printing ------------------------------------------------------------ */

/* PyTorch's style:
 *   tensor([[1.0000, 2.0000],
 *           [3.0000, 4.0000]], shape=[2,2], dtype=f32, requires_grad=true)
 * Long dims are summarised with "..." (first and last 3). */
void ag_print(const ag_tensor *t);
void ag_fprint(FILE *f, const ag_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
