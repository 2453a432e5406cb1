/* ag/safetensors.h — the safetensors file format: named raw tensors and
 * string metadata, read and written with full validation. Knows nothing of
 * modules (ag/checkpoint.h builds module save and load on it).
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
 * (padded with spaces so the data starts 8-byte aligned), then the data:
 * every tensor's raw little-endian bytes, row-major, offsets counted from the
 * start of the data. docs/checkpoints.md lists what the reader checks.
 *
 * Errors: nothing here goes through the error handler (file input never
 * aborts, ag/error.h). Each function fills an ag_st_status with a code and
 * one line naming the file and, where there is one, the tensor.
 */
#ifndef AG_SAFETENSORS_H
#define AG_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What went wrong; AG_ST_OK (0) when nothing did. */
typedef enum ag_st_code {
    AG_ST_OK = 0,
    AG_ST_ARG,          /* a NULL or otherwise bad argument (no file read) */
    AG_ST_IO,           /* open, read, write, fsync or rename failed (errno text) */
    AG_ST_NOMEM,        /* an allocation failed */
    AG_ST_TRUNCATED,    /* fewer than 8 bytes, or the header runs past the end */
    AG_ST_HEADER_SIZE,  /* header length above AG_ST_MAX_HEADER */
    AG_ST_JSON,         /* not JSON, not an object, or trailing bytes after it */
    AG_ST_ENTRY,        /* an entry is not {dtype, shape, data_offsets} */
    AG_ST_DUPLICATE,    /* a name given twice */
    AG_ST_DTYPE,        /* a dtype safetensors does not define */
    AG_ST_SHAPE,        /* a shape entry not an integer >= 0, too many dims, or overflow */
    AG_ST_OFFSETS,      /* data_offsets not [begin, end] integers, end < begin,
                           or a span that differs from the dtype and shape */
    AG_ST_LAYOUT,       /* tensors overlap or leave a hole in the data */
    AG_ST_DATA_SIZE,    /* the data section is not the size the header says */
    AG_ST_METADATA,     /* __metadata__ not an object of strings */
    AG_ST_MISMATCH,     /* module load: missing, unexpected or wrongly shaped tensors */
    AG_ST_CONVERT,      /* module load: a dtype that cannot go into the parameter */
    AG_ST_CODE_COUNT
} ag_st_code;

/* "ok", "io", "truncated", ... (a short name of the code). */
const char *ag_st_code_name(ag_st_code c);

/* The outcome of a call: code and one line, "" when code is AG_ST_OK. */
typedef struct ag_st_status {
    ag_st_code code;
    char message[512];
} ag_st_status;

/* The header may be at most this many bytes (safetensors' own limit). */
#define AG_ST_MAX_HEADER 100000000u

/* The dtypes safetensors defines. ag converts F16, BF16, F32 and F64 into
 * float tensors and I32 into i32 ones; a file may hold the others (they are
 * validated and listed) but they cannot be loaded into a tensor. */
typedef enum ag_st_dtype {
    AG_ST_BOOL, AG_ST_U8, AG_ST_I8, AG_ST_F8_E5M2, AG_ST_F8_E4M3,
    AG_ST_I16, AG_ST_U16, AG_ST_F16, AG_ST_BF16,
    AG_ST_I32, AG_ST_U32, AG_ST_F32, AG_ST_I64, AG_ST_U64, AG_ST_F64,
    AG_ST_DTYPE_COUNT
} ag_st_dtype;

/* "F32", "BF16", ... as written in the header. */
const char *ag_st_dtype_name(ag_st_dtype dt);
/* Bytes per element. */
size_t ag_st_dtype_size(ag_st_dtype dt);
/* The file dtype that holds an ag dtype exactly (F32, F64, BF16, I32). */
ag_st_dtype ag_st_dtype_of(ag_dtype dt);

/* One named tensor as the file holds it: nbytes raw little-endian bytes,
 * ndim at most AG_MAX_DIMS. data points at the bytes for a file opened from
 * memory; it is NULL for one opened with ag_st_open, whose data stays in
 * the file until ag_st_read_raw or ag_st_read_into reads it (with pread,
 * straight into the destination). For ag_st_write, data is the input. */
typedef struct ag_st_tensor {
    const char *name;
    ag_st_dtype dtype;
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    const void *data;
    size_t nbytes;
} ag_st_tensor;

/* One __metadata__ entry. */
typedef struct ag_st_meta {
    const char *key, *value;
} ag_st_meta;

/* ---- reading ---------------------------------------------------------------- */

/* A validated file: its tensors (in the header's order) and metadata. It
 * owns its memory (and keeps the file open) until ag_st_close. */
typedef struct ag_st_file ag_st_file;

/* Opens path and validates it: the header is read and checked, and the
 * data section's size against it; the data is read later, on demand.
 * Returns the file, or NULL with st filled (st may be NULL; every failure
 * is in st, never reported). */
ag_st_file *ag_st_open(const char *path, ag_st_status *st);

/* The same from n bytes in memory (not copied: bytes must outlive the file);
 * label names the source in messages ("<memory>" when NULL). */
ag_st_file *ag_st_open_memory(const void *bytes, size_t n, const char *label, ag_st_status *st);

/* Releases f (NULL is allowed). */
void ag_st_close(ag_st_file *f);

/* Copies t's nbytes raw bytes (t from ag_st_at/ag_st_find of f) into out.
 * False, with st filled, for a tensor of another file or a read error (the
 * file changed since it was opened). */
bool ag_st_read_raw(const ag_st_file *f, const ag_st_tensor *t, void *out, ag_st_status *st);

/* The label used in messages (the path given to ag_st_open). */
const char *ag_st_label(const ag_st_file *f);
/* Number of tensors, and the i-th (0 <= i < count) in the header's order. */
int ag_st_count(const ag_st_file *f);
const ag_st_tensor *ag_st_at(const ag_st_file *f, int i);
/* The tensor called name, or NULL. */
const ag_st_tensor *ag_st_find(const ag_st_file *f, const char *name);
/* Index of the tensor called name, or -1. */
int ag_st_index(const ag_st_file *f, const char *name);
/* Number of metadata entries, the i-th, and the value of key (NULL if absent). */
int ag_st_meta_count(const ag_st_file *f);
const ag_st_meta *ag_st_meta_at(const ag_st_file *f, int i);
const char *ag_st_meta_get(const ag_st_file *f, const char *key);

/* Can a tensor of file dtype src go into a tensor of dtype dst? Floats
 * (F16, BF16, F32, F64) into f32, f64, bf16; I32 into i32. */
bool ag_st_convertible(ag_st_dtype src, ag_dtype dst);

/* Converts n elements of file dtype src at in into dtype dst at out,
 * rounding to nearest even where dst is narrower (f64 -> bf16 rounds once,
 * not through f32). src and dst must be convertible (false otherwise, with
 * nothing written). */
bool ag_st_convert(void *out, ag_dtype dst, const void *in, ag_st_dtype src, int64_t n);

/* ---- tensors ------------------------------------------------------------------ */

/* A view of t under name for ag_st_write (t's data, not copied): dtype
 * F32, F64, BF16 or I32 as t's. name and t must outlive the write. */
ag_st_tensor ag_st_view(const char *name, const ag_tensor *t);

/* Copies src (a tensor of f) into dst's data, converted (ag_st_convert), not
 * recorded in any graph; the same dtype is read straight into dst. Fails,
 * with dst unchanged and st naming the file and the tensor, when the shapes
 * differ or the dtype cannot be converted; a read error (the file changed
 * since it was opened) may leave dst partly written. */
bool ag_st_read_into(const ag_st_file *f, const ag_st_tensor *src, ag_tensor *dst,
                     ag_st_status *st);

/* ---- writing ------------------------------------------------------------------ */

typedef struct ag_st_write_opts {
    bool no_fsync; /* skip fsync of the file and the folder (benchmarks) */
} ag_st_write_opts;

/* Writes n tensors (in that order, data contiguous) and nmeta metadata
 * entries to path atomically: into <path>.tmp.XXXXXX in the same folder,
 * fsync, rename over path, fsync of the folder. On any failure the temporary
 * file is removed, a previous file at path is left as it was, and false is
 * returned with st filled. Tensor names must be distinct, and so must
 * metadata keys (AG_ST_DUPLICATE otherwise); ndim at most AG_MAX_DIMS;
 * each nbytes must match dtype and shape. opts NULL: the defaults (fsync). */
bool ag_st_write(const char *path, int n, const ag_st_tensor *tensors, int nmeta,
                 const ag_st_meta *meta, const ag_st_write_opts *opts, ag_st_status *st);

#ifdef __cplusplus
}
#endif
#endif
