/* core/safetensors.c — reading a safetensors file: map it, parse the header
 * with cJSON and validate every rule before anyone sees a tensor. The rules
 * follow safetensors' own reader (safetensors/src/tensor.rs); the list is in
 * docs/checkpoints.md. Nothing here reports through the error handler. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "st_internal.h"

struct ag_st_file {
    char *label;
    const unsigned char *bytes; /* the input's first bytes: all of it (memory) or
                                   the length and the header (a file) */
    size_t size;                /* the whole input's size */
    int fd;                     /* a file: read with pread; -1 for memory */
    unsigned char *owned;       /* bytes, when read from a file */
    size_t data_at;             /* where the data section starts */
    int64_t *begin;             /* each tensor's begin offset in the data */
    cJSON *json;       /* owns the names and metadata strings */
    int n, nmeta;
    ag_st_tensor *t;   /* in the header's order */
    int *by_name;      /* indices of t sorted by name */
    ag_st_meta *meta;
};

#define OP "safetensors"

/* ---- small parsers of header values ----------------------------------------- */

/* A JSON number that is an integer in [0, 2^53] (beyond that a double no
 * longer holds every integer, and no file is that large). */
static bool as_count(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    const double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return false;
    *out = (int64_t)d;
    return true;
}

static bool parse_dtype(const char *s, ag_st_dtype *out) {
    for (int d = 0; d < AG_ST_DTYPE_COUNT; d++)
        if (strcmp(s, ag_st_dtype_name((ag_st_dtype)d)) == 0) {
            *out = (ag_st_dtype)d;
            return true;
        }
    return false;
}

/* One tensor entry: {"dtype": ..., "shape": [...], "data_offsets": [b, e]}.
 * Fills t (data set later) and the offsets. */
static bool parse_entry(const ag_st_file *f, const cJSON *e, ag_st_tensor *t, int64_t off[2],
                        ag_st_status *st) {
    const char *L = f->label, *name = e->string;
    if (!cJSON_IsObject(e))
        return ag__st_set(st, AG_ST_ENTRY, OP, "%s: tensor \"%s\": entry is not an object", L, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!dt || !sh || !of)
        return ag__st_set(st, AG_ST_ENTRY, OP, "%s: tensor \"%s\": entry lacks \"%s\"", L, name,
                          !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!cJSON_IsString(dt) || !parse_dtype(dt->valuestring, &t->dtype))
        return ag__st_set(st, AG_ST_DTYPE, OP, "%s: tensor \"%s\": unknown dtype %s%s%s", L, name,
                          cJSON_IsString(dt) ? "\"" : "(not a string)",
                          cJSON_IsString(dt) ? dt->valuestring : "",
                          cJSON_IsString(dt) ? "\"" : "");
    if (!cJSON_IsArray(sh))
        return ag__st_set(st, AG_ST_SHAPE, OP, "%s: tensor \"%s\": shape is not an array", L, name);
    const int ndim = cJSON_GetArraySize(sh);
    if (ndim > AG_MAX_DIMS)
        return ag__st_set(st, AG_ST_SHAPE, OP, "%s: tensor \"%s\": %d dims, at most %d supported",
                          L, name, ndim, AG_MAX_DIMS);
    t->ndim = ndim;
    int i = 0;
    for (const cJSON *s = sh->child; s; s = s->next, i++)
        if (!as_count(s, &t->shape[i]))
            return ag__st_set(st, AG_ST_SHAPE, OP,
                              "%s: tensor \"%s\": shape entry %d is not an integer >= 0", L, name, i);
    int64_t numel;
    if (!ag__st_numel(ndim, t->shape, ag_st_dtype_size(t->dtype), &numel, &t->nbytes))
        return ag__st_set(st, AG_ST_SHAPE, OP,
                          "%s: tensor \"%s\": shape %s overflows the element count or byte size",
                          L, name, ag__shp_of(ndim, t->shape));
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || !as_count(of->child, &off[0]) ||
        !as_count(of->child->next, &off[1]))
        return ag__st_set(st, AG_ST_OFFSETS, OP,
                          "%s: tensor \"%s\": data_offsets is not [begin, end] of integers >= 0",
                          L, name);
    if (off[1] < off[0])
        return ag__st_set(st, AG_ST_OFFSETS, OP,
                          "%s: tensor \"%s\": data_offsets [%lld, %lld] end before begin", L, name,
                          (long long)off[0], (long long)off[1]);
    if ((uint64_t)(off[1] - off[0]) != (uint64_t)t->nbytes)
        return ag__st_set(st, AG_ST_OFFSETS, OP,
                          "%s: tensor \"%s\": data_offsets [%lld, %lld] span %lld bytes, but %s %s "
                          "needs %zu", L, name, (long long)off[0], (long long)off[1],
                          (long long)(off[1] - off[0]), ag_st_dtype_name(t->dtype),
                          ag__shp_of(ndim, t->shape), t->nbytes);
    t->name = name;
    return true;
}

static bool parse_metadata(const ag_st_file *f, const cJSON *m, ag_st_meta *out, int *count,
                           ag_st_status *st) {
    if (!cJSON_IsObject(m))
        return ag__st_set(st, AG_ST_METADATA, OP, "%s: __metadata__ is not an object", f->label);
    int k = 0;
    for (const cJSON *e = m->child; e; e = e->next, k++) {
        if (!cJSON_IsString(e))
            return ag__st_set(st, AG_ST_METADATA, OP, "%s: __metadata__ \"%s\" is not a string",
                              f->label, e->string);
        out[k] = (ag_st_meta){e->string, e->valuestring};
    }
    *count = k;
    return true;
}

/* ---- the checks across entries -------------------------------------------------- */

typedef struct {
    const char *name;
    int index;
} name_ref;

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

typedef struct {
    int64_t begin, end;
    int index;
} span_ref;

static int cmp_span(const void *a, const void *b) {
    const span_ref *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Sorted names: adjacent equal ones are duplicates. Fills f->by_name. */
static bool check_names(ag_st_file *f, ag_st_status *st) {
    name_ref *r = malloc(sizeof *r * (size_t)(f->n ? f->n : 1));
    if (!r) return ag__st_set(st, AG_ST_NOMEM, OP, "%s: out of memory", f->label);
    for (int i = 0; i < f->n; i++) r[i] = (name_ref){f->t[i].name, i};
    qsort(r, (size_t)f->n, sizeof *r, cmp_name);
    bool ok = true;
    for (int i = 0; i < f->n; i++) {
        f->by_name[i] = r[i].index;
        if (ok && i && strcmp(r[i].name, r[i - 1].name) == 0)
            ok = ag__st_set(st, AG_ST_DUPLICATE, OP, "%s: tensor \"%s\" is named twice", f->label,
                            r[i].name);
    }
    free(r);
    return ok;
}

/* By begin offset, each tensor starts where the previous one ended and the
 * last ends where the data ends: no overlap, no hole, no extra bytes. */
static bool check_layout(ag_st_file *f, const int64_t (*off)[2], size_t data_size,
                         ag_st_status *st) {
    span_ref *r = malloc(sizeof *r * (size_t)(f->n ? f->n : 1));
    if (!r) return ag__st_set(st, AG_ST_NOMEM, OP, "%s: out of memory", f->label);
    for (int i = 0; i < f->n; i++) r[i] = (span_ref){off[i][0], off[i][1], i};
    qsort(r, (size_t)f->n, sizeof *r, cmp_span);
    int64_t at = 0;
    bool ok = true;
    for (int i = 0; i < f->n && ok; i++) {
        const char *name = f->t[r[i].index].name;
        if (r[i].begin < at)
            ok = ag__st_set(st, AG_ST_LAYOUT, OP,
                            "%s: tensor \"%s\": data_offsets [%lld, %lld] overlap tensor \"%s\"",
                            f->label, name, (long long)r[i].begin, (long long)r[i].end,
                            f->t[r[i - 1].index].name);
        else if (r[i].begin > at)
            ok = ag__st_set(st, AG_ST_LAYOUT, OP,
                            "%s: tensor \"%s\": data_offsets [%lld, %lld] leave a hole of %lld "
                            "bytes before it", f->label, name, (long long)r[i].begin,
                            (long long)r[i].end, (long long)(r[i].begin - at));
        at = r[i].end;
    }
    free(r);
    if (ok && (uint64_t)at != (uint64_t)data_size)
        ok = ag__st_set(st, AG_ST_DATA_SIZE, OP,
                        "%s: the data section is %zu bytes but the header describes %lld",
                        f->label, data_size, (long long)at);
    return ok;
}

/* ---- the whole file -------------------------------------------------------------- */

static bool parse(ag_st_file *f, ag_st_status *st) {
    const char *L = f->label;
    if (f->size < 8)
        return ag__st_set(st, AG_ST_TRUNCATED, OP,
                          "%s: %zu bytes, shorter than the 8-byte header length", L, f->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->bytes[i];
    if (hlen > AG_ST_MAX_HEADER)
        return ag__st_set(st, AG_ST_HEADER_SIZE, OP, "%s: header of %llu bytes, more than %u", L,
                          (unsigned long long)hlen, AG_ST_MAX_HEADER);
    if (hlen > f->size - 8)
        return ag__st_set(st, AG_ST_TRUNCATED, OP,
                          "%s: header of %llu bytes runs past the end of the %zu-byte file", L,
                          (unsigned long long)hlen, f->size);
    const char *h = (const char *)f->bytes + 8, *end = NULL;
    if (hlen == 0 || h[0] != '{')
        return ag__st_set(st, AG_ST_JSON, OP, "%s: header does not start with '{'", L);
    f->json = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, false);
    if (!f->json)
        return ag__st_set(st, AG_ST_JSON, OP, "%s: header is not valid JSON (near byte %lld)", L,
                          end ? (long long)(end - h) : -1LL);
    for (const char *p = end; p < h + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return ag__st_set(st, AG_ST_JSON, OP, "%s: bytes after the header's JSON object", L);
    if (!cJSON_IsObject(f->json))
        return ag__st_set(st, AG_ST_JSON, OP, "%s: header is not a JSON object", L);

    int total = cJSON_GetArraySize(f->json), nmeta_keys = 0;
    for (const cJSON *e = f->json->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__") == 0) nmeta_keys++;
    if (nmeta_keys > 1)
        return ag__st_set(st, AG_ST_DUPLICATE, OP, "%s: __metadata__ is given twice", L);
    f->n = total - nmeta_keys;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f->json, "__metadata__");
    const size_t nm = meta ? (size_t)cJSON_GetArraySize(meta) : 0;
    f->t = calloc((size_t)f->n + 1, sizeof *f->t);
    f->by_name = calloc((size_t)f->n + 1, sizeof *f->by_name);
    f->meta = calloc(nm + 1, sizeof *f->meta);
    int64_t(*off)[2] = calloc((size_t)f->n + 1, sizeof *off);
    bool ok = f->t && f->by_name && f->meta && off;
    if (!ok) ag__st_set(st, AG_ST_NOMEM, OP, "%s: out of memory for %d entries", L, total);
    if (ok && meta) ok = parse_metadata(f, meta, f->meta, &f->nmeta, st);
    int i = 0;
    for (const cJSON *e = f->json->child; e && ok; e = e->next)
        if (e != meta) {
            ok = parse_entry(f, e, &f->t[i], off[i], st);
            i++;
        }
    ok = ok && check_names(f, st);
    const size_t data_at = 8 + (size_t)hlen;
    ok = ok && check_layout(f, (const int64_t(*)[2])off, f->size - data_at, st);
    f->data_at = data_at;
    f->begin = ok ? malloc(sizeof *f->begin * ((size_t)f->n + 1)) : NULL;
    if (ok && !f->begin) ok = ag__st_set(st, AG_ST_NOMEM, OP, "%s: out of memory", L);
    for (i = 0; ok && i < f->n; i++) {
        f->begin[i] = off[i][0];
        f->t[i].data = f->fd < 0 ? f->bytes + data_at + off[i][0] : NULL;
    }
    free(off);
    return ok;
}

static ag_st_file *finish(ag_st_file *f, ag_st_status *st) {
    if (parse(f, st)) {
        ag__st_ok(st);
        return f;
    }
    ag_st_close(f);
    return NULL;
}

static ag_st_file *new_file(const char *label, ag_st_status *st) {
    ag_st_file *f = calloc(1, sizeof *f);
    if (f) f->label = malloc(strlen(label) + 1);
    if (!f || !f->label) {
        free(f);
        ag__st_set(st, AG_ST_NOMEM, OP, "%s: out of memory", label);
        return NULL;
    }
    strcpy(f->label, label);
    f->fd = -1;
    return f;
}

ag_st_file *ag_st_open_memory(const void *bytes, size_t n, const char *label, ag_st_status *st) {
    if (!label) label = "<memory>";
    if (!bytes && n) {
        ag__st_set(st, AG_ST_ARG, OP, "%s: NULL bytes with a size of %zu", label, n);
        return NULL;
    }
    ag_st_file *f = new_file(label, st);
    if (!f) return NULL;
    f->bytes = bytes ? bytes : (const unsigned char *)"";
    f->size = n;
    return finish(f, st);
}

/* pread of exactly n bytes at off; false on an error or an early end. */
static bool read_at(int fd, void *out, size_t n, uint64_t off) {
    unsigned char *p = out;
    while (n) {
        const size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        const ssize_t k = pread(fd, p, chunk, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO; /* the file is shorter than it was */
            return false;
        }
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return true;
}

/* The header of a file: its first 8 bytes and, when the length they give
 * is plausible (at most the limit and within the file), the header itself;
 * parse then judges what was read. The data stays in the file. */
static bool read_head(ag_st_file *f, ag_st_status *st) {
    unsigned char len[8];
    size_t have = f->size < 8 ? f->size : 8;
    if (!read_at(f->fd, len, have, 0)) goto io;
    uint64_t hlen = 0;
    for (int i = 7; have == 8 && i >= 0; i--) hlen = hlen << 8 | len[i];
    if (have == 8 && hlen <= AG_ST_MAX_HEADER && hlen <= f->size - 8) have += (size_t)hlen;
    f->owned = malloc(have + 1);
    if (!f->owned) return ag__st_set(st, AG_ST_NOMEM, OP, "%s: out of memory", f->label);
    memcpy(f->owned, len, have < 8 ? have : 8);
    if (have > 8 && !read_at(f->fd, f->owned + 8, have - 8, 8)) goto io;
    f->bytes = f->owned;
    return true;
io:
    return ag__st_set(st, AG_ST_IO, OP, "%s: cannot read: %s", f->label, strerror(errno));
}

ag_st_file *ag_st_open(const char *path, ag_st_status *st) {
    if (!path) {
        ag__st_set(st, AG_ST_ARG, OP, "NULL path");
        return NULL;
    }
    const int fd = open(path, O_RDONLY);
    if (fd < 0) {
        ag__st_set(st, AG_ST_IO, OP, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ag__st_set(st, AG_ST_IO, OP, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    ag_st_file *f = new_file(path, st);
    if (!f) {
        close(fd);
        return NULL;
    }
    f->fd = fd;
    f->size = (size_t)sb.st_size;
    if (!read_head(f, st)) {
        ag_st_close(f);
        return NULL;
    }
    return finish(f, st);
}

void ag_st_close(ag_st_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    cJSON_Delete(f->json);
    free(f->owned);
    free(f->begin);
    free(f->t);
    free(f->by_name);
    free(f->meta);
    free(f->label);
    free(f);
}

bool ag_st_read_raw(const ag_st_file *f, const ag_st_tensor *t, void *out, ag_st_status *st) {
    if (!f || !t || t < f->t || t >= f->t + f->n || (t->nbytes && !out))
        return ag__st_set(st, AG_ST_ARG, OP, "%s: not a tensor of this file, or NULL output",
                          ag_st_label(f));
    if (!t->nbytes) return true;
    if (f->fd < 0) {
        memcpy(out, t->data, t->nbytes);
        return true;
    }
    if (!read_at(f->fd, out, t->nbytes, (uint64_t)f->data_at + (uint64_t)f->begin[t - f->t]))
        return ag__st_set(st, AG_ST_IO, OP, "%s: tensor \"%s\": cannot read its data: %s",
                          f->label, t->name, strerror(errno));
    return true;
}

const char *ag_st_label(const ag_st_file *f) { return f ? f->label : ""; }
int ag_st_count(const ag_st_file *f) { return f ? f->n : 0; }
int ag_st_meta_count(const ag_st_file *f) { return f ? f->nmeta : 0; }

const ag_st_tensor *ag_st_at(const ag_st_file *f, int i) {
    return f && i >= 0 && i < f->n ? &f->t[i] : NULL;
}

const ag_st_meta *ag_st_meta_at(const ag_st_file *f, int i) {
    return f && i >= 0 && i < f->nmeta ? &f->meta[i] : NULL;
}

int ag_st_index(const ag_st_file *f, const char *name) {
    if (!f || !name) return -1;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        const int mid = lo + (hi - lo) / 2, i = f->by_name[mid];
        const int c = strcmp(name, f->t[i].name);
        if (c == 0) return i;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return -1;
}

const ag_st_tensor *ag_st_find(const ag_st_file *f, const char *name) {
    return ag_st_at(f, ag_st_index(f, name));
}

const char *ag_st_meta_get(const ag_st_file *f, const char *key) {
    for (int i = 0; f && key && i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}
