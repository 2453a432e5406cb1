/* core/tensor.c — dtypes, tensor creation, element access and printing. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "internal.h"

/* ---- dtypes --------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [AG_F32] = {"f32", 4},
    [AG_F64] = {"f64", 8},
    [AG_BF16] = {"bf16", 2},
    [AG_I32] = {"i32", 4},
};
_Static_assert(sizeof dtypes / sizeof dtypes[0] == AG_DTYPE_COUNT, "one entry per dtype");

static bool dtype_ok(ag_dtype dt) { return (unsigned)dt < AG_DTYPE_COUNT; }

const char *ag_dtype_name(ag_dtype dt) { return dtype_ok(dt) ? dtypes[dt].name : "?"; }
size_t ag_dtype_size(ag_dtype dt) { return dtype_ok(dt) ? dtypes[dt].size : 0; }
bool ag_dtype_is_float(ag_dtype dt) { return dt == AG_F32 || dt == AG_F64 || dt == AG_BF16; }

double ag_dtype_eps(ag_dtype dt) { return dt == AG_F64 ? DBL_EPSILON : (double)FLT_EPSILON; }

/* ---- shapes --------------------------------------------------------------- */

int64_t ag__numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void ag__strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i];
    }
}

bool ag_same_shape(const ag_tensor *a, const ag_tensor *b) {
    if (!a || !b || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* Validates a shape; returns its element count, or -1 after reporting. */
static int64_t check_shape(const char *op, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > AG_MAX_DIMS) {
        ag__fail(op, "%d dims: expected 0..%d", ndim, AG_MAX_DIMS);
        return -1;
    }
    if (ndim > 0 && !shape) {
        ag__fail(op, "shape is NULL for a %d-d tensor", ndim);
        return -1;
    }
    /* The product of the non-zero sizes must fit (with room for 16-byte
     * elements) even when a zero size makes the tensor empty: kernels
     * multiply subsets of the sizes. */
    int64_t n = 1;
    bool empty = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            ag__fail(op, "size %lld at dim %d is negative in %s", (long long)shape[i], i,
                     ag__shp_of(ndim, shape));
            return -1;
        }
        if (shape[i] == 0) {
            empty = true;
            continue;
        }
        /* both below 2^29: the product is below 2^58 < INT64_MAX / 16, and
         * the division (tens of cycles, on every op's result) is skipped */
        const bool small = ((n | shape[i]) >> 29) == 0;
        if (!small && n > INT64_MAX / 16 / shape[i]) {
            ag__fail(op, "shape %s is too large: the product of its non-zero sizes must be "
                     "at most %lld", ag__shp_of(ndim, shape), (long long)(INT64_MAX / 16));
            return -1;
        }
        n *= shape[i];
    }
    return empty ? 0 : n;
}

static ag_tensor *new_header(const char *op, ag_arena *A, ag_dtype dt, int ndim,
                             const int64_t *shape, int64_t *numel) {
    if (!A) {
        ag__fail(op, "arena is NULL");
        return NULL;
    }
    if (!dtype_ok(dt)) {
        ag__fail(op, "unknown dtype %d", (int)dt);
        return NULL;
    }
    *numel = check_shape(op, ndim, shape);
    if (*numel < 0) return NULL;
    ag_tensor *t = ag_arena_calloc_(A, sizeof *t);
    if (!t) return NULL;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = *numel;
    t->arena = A;
    t->epoch = ag__arena_epoch(A);
    ag__profile_made(t);
    return t;
}

static ag_tensor *make(const char *op, ag_arena *A, ag_dtype dt, int ndim,
                       const int64_t *shape) {
    int64_t numel;
    ag_tensor *t = new_header(op, A, dt, ndim, shape, &numel);
    if (!t) return NULL;
    t->data = ag_arena_alloc_(A, (size_t)numel * ag_dtype_size(dt));
    return t->data ? t : NULL;
}

ag_tensor *ag__try_zeros(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape) {
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    const size_t bytes = (size_t)numel * ag_dtype_size(dt);
    ag_tensor *t = ag__arena_try_alloc(A, sizeof *t);
    void *data = t ? ag__arena_try_alloc(A, bytes) : NULL;
    if (!data) return NULL;
    memset(t, 0, sizeof *t);
    memset(data, 0, bytes);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->arena = A;
    t->epoch = ag__arena_epoch(A);
    t->data = data;
    return t;
}

ag_tensor *ag__result(const char *op, ag_arena *A, ag_dtype dt, int ndim,
                      const int64_t *shape) {
    return make(op, A, dt, ndim, shape);
}

ag_tensor *ag__view(const char *op, ag_arena *A, ag_tensor *base, int ndim,
                    const int64_t *shape) {
    int64_t numel;
    ag_tensor *t = new_header(op, A, base->dtype, ndim, shape, &numel);
    if (!t) return NULL;
    t->data = base->data;
    return t;
}

/* ---- element access ------------------------------------------------------- */

static double load(const ag_tensor *t, int64_t i) {
    switch (t->dtype) {
    case AG_F32: return ((const float *)t->data)[i];
    case AG_F64: return ((const double *)t->data)[i];
    case AG_BF16: return ag_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case AG_I32: return ((const int32_t *)t->data)[i];
    default: return NAN;
    }
}

bool ag__i32_ok(const char *op, double v) {
    /* converting truncates toward zero: (-2^31 - 1, 2^31) is what fits */
    if (v > (double)INT32_MIN - 1.0 && v < (double)INT32_MAX + 1.0) return true;
    ag__fail(op, "value %g cannot be converted to i32: expected a finite value in "
             "[%ld, %ld]", v, (long)INT32_MIN, (long)INT32_MAX);
    return false;
}

/* Stores v at position i; false after reporting (under op) a value that an
 * i32 tensor cannot hold. */
static bool store(const char *op, ag_tensor *t, int64_t i, double v) {
    switch (t->dtype) {
    case AG_F32: ((float *)t->data)[i] = (float)v; break;
    case AG_F64: ((double *)t->data)[i] = v; break;
    case AG_BF16: ((uint16_t *)t->data)[i] = ag_f32_to_bf16((float)v); break;
    case AG_I32:
        if (!ag__i32_ok(op, v)) return false;
        ((int32_t *)t->data)[i] = (int32_t)v;
        break;
    default: break;
    }
    return true;
}

static bool flat_ok(const char *op, const ag_tensor *t, int64_t i) {
    if (!t) {
        ag__fail(op, "tensor is NULL");
        return false;
    }
    if (!ag__check_live(op, t)) return false;
    if (i < 0 || i >= t->numel) {
        ag__fail(op, "position %lld is out of range for %s (%lld elements)", (long long)i,
                 ag__shp(t), (long long)t->numel);
        return false;
    }
    return true;
}

/* Row-major position of index[ndim], or -1 after reporting. */
static int64_t position(const char *op, const ag_tensor *t, const int64_t *index) {
    if (!t) {
        ag__fail(op, "tensor is NULL");
        return -1;
    }
    if (t->ndim > 0 && !index) {
        ag__fail(op, "index is NULL for %s", ag__shp(t));
        return -1;
    }
    int64_t pos = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (index[d] < 0 || index[d] >= t->shape[d]) {
            ag__fail(op, "index %lld is out of range for dim %d of %s", (long long)index[d], d,
                     ag__shp(t));
            return -1;
        }
        pos = pos * t->shape[d] + index[d];
    }
    return pos;
}

double ag_get_flat_(const ag_tensor *t, int64_t i) {
    return flat_ok("get", t, i) ? load(t, i) : NAN;
}

void ag_set_flat_(ag_tensor *t, int64_t i, double v) {
    if (flat_ok("set", t, i)) (void)store("set", t, i, v);
}

double ag_get_(const ag_tensor *t, const int64_t *index) {
    int64_t p = position("get", t, index);
    return p < 0 ? NAN : load(t, p);
}

void ag_set_(ag_tensor *t, const int64_t *index, double v) {
    int64_t p = position("set", t, index);
    if (p >= 0) (void)store("set", t, p, v);
}

double ag_item_(const ag_tensor *t) {
    if (!t) return NAN; /* an earlier failure, already reported */
    if (!ag__check_live("item", t)) return NAN;
    if (t->numel != 1) {
        ag__fail("item", "tensor %s has %lld elements: expected exactly one", ag__shp(t),
                 (long long)t->numel);
        return NAN;
    }
    return load(t, 0);
}

void ag_to_f64(const ag_tensor *t, double *out) {
    if (!t || !out) return;
    for (int64_t i = 0; i < t->numel; i++) out[i] = load(t, i);
}

/* ---- creation ------------------------------------------------------------- */

ag_tensor *ag_empty_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape) {
    return make("empty", A, dt, ndim, shape);
}

static ag_tensor *fill(const char *op, ag_arena *A, ag_dtype dt, int ndim,
                       const int64_t *shape, double value) {
    ag_tensor *t = make(op, A, dt, ndim, shape);
    if (!t) return NULL;
    if (value == 0.0 && !signbit(value)) {
        memset(t->data, 0, (size_t)t->numel * ag_dtype_size(dt));
        return t;
    }
    if (dt == AG_I32 && !ag__i32_ok(op, value)) return NULL; /* even for no elements */
    for (int64_t i = 0; i < t->numel; i++) (void)store(op, t, i, value);
    return t;
}

ag_tensor *ag_full_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape, double value) {
    return fill("full", A, dt, ndim, shape, value);
}

ag_tensor *ag_zeros_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape) {
    return fill("zeros", A, dt, ndim, shape, 0.0);
}

ag_tensor *ag_ones_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape) {
    return fill("ones", A, dt, ndim, shape, 1.0);
}

ag_tensor *ag_scalar_(ag_arena *A, ag_dtype dt, double value) {
    return fill("scalar", A, dt, 0, NULL, value);
}

ag_tensor *ag_arange_(ag_arena *A, ag_dtype dt, double start, double end, double step) {
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step)) {
        ag__fail("arange", "start %g, end %g, step %g: expected finite values and a non-zero step",
                 start, end, step);
        return NULL;
    }
    double span = ceil((end - start) / step);
    if (!(span <= (double)(INT64_MAX / 16))) { /* also an infinite span: 1e300 / 1e-300 */
        ag__fail("arange", "start %g, end %g, step %g give %g elements: too many (at most "
                 "%lld)", start, end, step, span, (long long)(INT64_MAX / 16));
        return NULL;
    }
    int64_t n = span > 0 ? (int64_t)span : 0;
    /* the values run from start to the last one: both ends fit, or none is made */
    if (dt == AG_I32 && n > 0 &&
        (!ag__i32_ok("arange", start) || !ag__i32_ok("arange", start + (double)(n - 1) * step)))
        return NULL;
    ag_tensor *t = make("arange", A, dt, 1, (const int64_t[]){n});
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++)
        if (!store("arange", t, i, start + (double)i * step)) return NULL;
    return t;
}

ag_tensor *ag_from_array_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape,
                          const void *values) {
    ag_tensor *t = make("from_array", A, dt, ndim, shape);
    if (!t) return NULL;
    if (!values && t->numel > 0) {
        ag__fail("from_array", "values is NULL for %s", ag__shp(t));
        return NULL;
    }
    if (t->numel > 0) memcpy(t->data, values, (size_t)t->numel * ag_dtype_size(dt));
    return t;
}

ag_tensor *ag_from_f64_(ag_arena *A, ag_dtype dt, int ndim, const int64_t *shape,
                        const double *values) {
    ag_tensor *t = make("from_f64", A, dt, ndim, shape);
    if (!t) return NULL;
    if (!values && t->numel > 0) {
        ag__fail("from_f64", "values is NULL for %s", ag__shp(t));
        return NULL;
    }
    for (int64_t i = 0; i < t->numel; i++)
        if (!store("from_f64", t, i, values[i])) return NULL;
    return t;
}

ag_tensor *ag_from_i64_(ag_arena *A, int ndim, const int64_t *shape, const int64_t *values) {
    ag_tensor *t = make("from_i64", A, AG_I32, ndim, shape);
    if (!t) return NULL;
    if (!values && t->numel > 0) {
        ag__fail("from_i64", "values is NULL for %s", ag__shp(t));
        return NULL;
    }
    int32_t *d = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        if (values[i] < INT32_MIN || values[i] > INT32_MAX) {
            ag__fail("from_i64", "value %lld at position %lld of %s does not fit in i32: "
                     "expected [%ld, %ld]", (long long)values[i], (long long)i, ag__shp(t),
                     (long)INT32_MIN, (long)INT32_MAX);
            return NULL;
        }
        d[i] = (int32_t)values[i];
    }
    return t;
}

ag_tensor *ag_copy_(ag_arena *A, const ag_tensor *t) {
    if (!t) return NULL;
    if (!ag__check_arena("copy", A) || !ag__check_live("copy", t)) return NULL;
    return ag_from_array_(A, t->dtype, t->ndim, t->shape, t->data);
}

/* ---- printing ------------------------------------------------------------- */

#define EDGE 3          /* elements kept at each end of a summarised dim */
#define SUMMARY_AT 1000 /* numel above which long dims are summarised */

typedef struct {
    FILE *f;
    const ag_tensor *t;
    bool summarise;
    char fmt[16];
    int width;
    int64_t strides[AG_MAX_DIMS];
} printer;

static bool shown(const printer *p, int d, int64_t i) {
    return !p->summarise || p->t->shape[d] <= 2 * EDGE || i < EDGE ||
           i >= p->t->shape[d] - EDGE;
}

static int format_value(const printer *p, double v, char *buf, size_t size) {
    if (p->t->dtype == AG_I32) return snprintf(buf, size, "%.0f", v);
    if (isnan(v)) return snprintf(buf, size, "nan");
    if (isinf(v)) return snprintf(buf, size, v > 0 ? "inf" : "-inf");
    return snprintf(buf, size, p->fmt, v);
}

/* Chooses PyTorch-like notation: integers as "3.", moderate values with 4
 * decimals, anything else in scientific notation. */
static void choose_format(printer *p) {
    const ag_tensor *t = p->t;
    bool ints = true;
    double lo = INFINITY, hi = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = load(t, i);
        if (!isfinite(v)) continue;
        double a = fabs(v);
        if (v != floor(v)) ints = false;
        if (a > hi) hi = a;
        if (a > 0 && a < lo) lo = a;
    }
    if (t->dtype == AG_I32) snprintf(p->fmt, sizeof p->fmt, "%%.0f");
    else if (ints && hi < 1e8) snprintf(p->fmt, sizeof p->fmt, "%%.0f.");
    else if (hi < 1e8 && (lo == INFINITY || lo >= 1e-4)) snprintf(p->fmt, sizeof p->fmt, "%%.4f");
    else snprintf(p->fmt, sizeof p->fmt, "%%.4e");
    char buf[64];
    p->width = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        int w = format_value(p, load(t, i), buf, sizeof buf);
        if (w > p->width) p->width = w;
    }
}

static void print_dim(const printer *p, int d, int64_t off, int indent) {
    const ag_tensor *t = p->t;
    fputc('[', p->f);
    for (int64_t i = 0; i < t->shape[d]; i++) {
        if (!shown(p, d, i)) {
            if (i == EDGE) {
                if (d == t->ndim - 1) fprintf(p->f, "..., ");
                else fprintf(p->f, "...,\n%*s", indent + 1, "");
            }
            continue;
        }
        if (d == t->ndim - 1) {
            char buf[64];
            format_value(p, load(t, off + i), buf, sizeof buf);
            fprintf(p->f, "%*s", p->width, buf);
        } else {
            print_dim(p, d + 1, off + i * p->strides[d], indent + 1);
        }
        if (i + 1 < t->shape[d]) {
            if (d == t->ndim - 1) fprintf(p->f, ", ");
            else fprintf(p->f, ",%.*s\n%*s", t->ndim - d - 2, "\n\n\n\n\n\n\n", indent + 1, "");
        }
    }
    fputc(']', p->f);
}

void ag_fprint(FILE *f, const ag_tensor *t) {
    if (!f) return;
    if (!t) {
        fprintf(f, "tensor(NULL)\n");
        return;
    }
    printer p = {.f = f, .t = t, .summarise = t->numel > SUMMARY_AT};
    ag__strides(t->ndim, t->shape, p.strides);
    choose_format(&p);
    fprintf(f, "tensor(");
    if (t->ndim == 0) {
        char buf[64];
        format_value(&p, load(t, 0), buf, sizeof buf);
        fputs(buf, f);
    } else if (t->numel == 0) {
        fputs("[]", f);
    } else {
        print_dim(&p, 0, 0, (int)strlen("tensor("));
    }
    fprintf(f, ", shape=%s, dtype=%s", ag__shp(t), ag_dtype_name(t->dtype));
    if (t->requires_grad) fprintf(f, ", requires_grad=true");
    fprintf(f, ")\n");
}

void ag_print(const ag_tensor *t) { ag_fprint(stdout, t); }
