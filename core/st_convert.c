/* core/st_convert.c — the safetensors dtypes: names, sizes, and converting
 * file data into ag tensors (one rounding, to nearest even). Also the
 * status helpers the safetensors files share. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "st_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; ag reads and writes it on little-endian hosts only"
#endif

static const struct {
    const char *name;
    size_t size;
} DTYPES[AG_ST_DTYPE_COUNT] = {
    [AG_ST_BOOL] = {"BOOL", 1}, [AG_ST_U8] = {"U8", 1},   [AG_ST_I8] = {"I8", 1},
    [AG_ST_F8_E5M2] = {"F8_E5M2", 1}, [AG_ST_F8_E4M3] = {"F8_E4M3", 1},
    [AG_ST_I16] = {"I16", 2}, [AG_ST_U16] = {"U16", 2}, [AG_ST_F16] = {"F16", 2},
    [AG_ST_BF16] = {"BF16", 2}, [AG_ST_I32] = {"I32", 4}, [AG_ST_U32] = {"U32", 4},
    [AG_ST_F32] = {"F32", 4}, [AG_ST_I64] = {"I64", 8}, [AG_ST_U64] = {"U64", 8},
    [AG_ST_F64] = {"F64", 8},
};

const char *ag_st_dtype_name(ag_st_dtype dt) {
    return (unsigned)dt < AG_ST_DTYPE_COUNT ? DTYPES[dt].name : "?";
}

size_t ag_st_dtype_size(ag_st_dtype dt) {
    return (unsigned)dt < AG_ST_DTYPE_COUNT ? DTYPES[dt].size : 0;
}

ag_st_dtype ag_st_dtype_of(ag_dtype dt) {
    switch (dt) {
    case AG_F64: return AG_ST_F64;
    case AG_BF16: return AG_ST_BF16;
    case AG_I32: return AG_ST_I32;
    default: return AG_ST_F32;
    }
}

static const char *const CODES[AG_ST_CODE_COUNT] = {
    "ok", "argument", "io", "nomem", "truncated", "header-size", "json", "entry",
    "duplicate", "dtype", "shape", "offsets", "layout", "data-size", "metadata",
    "mismatch", "convert",
};

const char *ag_st_code_name(ag_st_code c) {
    return (unsigned)c < AG_ST_CODE_COUNT ? CODES[c] : "?";
}

bool ag__st_set(ag_st_status *st, ag_st_code code, const char *op, const char *fmt, ...) {
    if (!st) return false;
    st->code = code;
    int k = snprintf(st->message, sizeof st->message, "ag: %s: ", op);
    if (k < 0 || (size_t)k >= sizeof st->message) return false;
    va_list ap;
    va_start(ap, fmt);
    const int m = vsnprintf(st->message + k, sizeof st->message - (size_t)k, fmt, ap);
    va_end(ap);
    if (m > 0 && (size_t)k + (size_t)m >= sizeof st->message) /* cut: say so */
        memcpy(st->message + sizeof st->message - 4, "...", 3);
    return false;
}

void ag__st_ok(ag_st_status *st) {
    if (!st) return;
    st->code = AG_ST_OK;
    st->message[0] = '\0';
}

bool ag__st_numel(int ndim, const int64_t *shape, size_t elem, int64_t *numel, size_t *nbytes) {
    uint64_t n = 1;
    bool zero = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return false;
        if (shape[i] == 0) zero = true;
    }
    /* Overflow is judged on the non-zero sizes, so [0, 2^62, 2^62] is
     * rejected like [2^62, 2^62] (ag_empty's rule). */
    for (int i = 0; i < ndim; i++) {
        const uint64_t s = shape[i] ? (uint64_t)shape[i] : 1;
        if (n > (uint64_t)INT64_MAX / s) return false;
        n *= s;
    }
    if (elem && n > (uint64_t)INT64_MAX / elem) return false;
    if (elem && n > SIZE_MAX / elem) return false;
    if (zero) n = 0;
    *numel = (int64_t)n;
    *nbytes = (size_t)n * elem;
    return true;
}

/* ---- conversion ------------------------------------------------------------ */

static float f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in f32 */
        const float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    uint32_t u = exp == 31 ? sign | 0x7f800000u | (man << 13)
                           : sign | ((exp + 112u) << 23) | (man << 13);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* f64 -> bf16 with one rounding to nearest even: round to f32 by "round to
 * odd" (the f32 neighbour of d whose last bit is 1 when d is not exact in
 * f32), then to bf16 by nearest even. With 16 spare bits in between, the two
 * steps give the correctly rounded result (Boldo and Melquiond). */
static uint16_t f64_to_bf16(double d) {
    float f = (float)d;
    if (!isnan(d) && isfinite(f) && (double)f != d) {
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        if (!(u & 1u)) f = nextafterf(f, d > (double)f ? INFINITY : -INFINITY);
    }
    return ag_f32_to_bf16(f);
}

/* One element of a float file dtype as a double (exact for all four). */
static double load_float(const unsigned char *p, ag_st_dtype src) {
    switch (src) {
    case AG_ST_F16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return f16_to_f32(h);
    }
    case AG_ST_BF16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return ag_bf16_to_f32(h);
    }
    case AG_ST_F32: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    default: {
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    }
}

static bool is_float(ag_st_dtype s) {
    return s == AG_ST_F16 || s == AG_ST_BF16 || s == AG_ST_F32 || s == AG_ST_F64;
}

bool ag_st_convertible(ag_st_dtype src, ag_dtype dst) {
    if (dst == AG_I32) return src == AG_ST_I32;
    return ag_dtype_is_float(dst) && is_float(src);
}

bool ag_st_convert(void *out, ag_dtype dst, const void *in, ag_st_dtype src, int64_t n) {
    if (!ag_st_convertible(src, dst) || n < 0 || (n && (!out || !in))) return false;
    if (ag_st_dtype_of(dst) == src) {
        if (n) memcpy(out, in, (size_t)n * ag_dtype_size(dst));
        return true;
    }
    const unsigned char *p = in;
    const size_t step = ag_st_dtype_size(src);
    switch (dst) {
    case AG_F32:
        for (int64_t i = 0; i < n; i++) ((float *)out)[i] = (float)load_float(p + (size_t)i * step, src);
        break;
    case AG_F64:
        for (int64_t i = 0; i < n; i++) ((double *)out)[i] = load_float(p + (size_t)i * step, src);
        break;
    default: /* AG_BF16 */
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)out)[i] = f64_to_bf16(load_float(p + (size_t)i * step, src));
        break;
    }
    return true;
}
