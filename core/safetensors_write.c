/* core/safetensors_write.c — writing a safetensors file atomically: the
 * header (metadata first, then the tensors in the order given, padded with
 * spaces so the data starts 8-byte aligned), then the data, into a
 * temporary file in the target's folder that is fsynced and renamed over the
 * target. Nothing here reports through the error handler. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_internal.h"

#define OP "save"

/* ---- the header, built in a growing buffer ----------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_i64(buf *b, int64_t v) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%" PRId64, v);
    puts_(b, tmp);
}

/* A JSON string: quotes, backslashes and control bytes escaped; other bytes
 * as they are (names are UTF-8). */
static void put_str(buf *b, const char *s) {
    put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*c;
            put(b, esc, 2);
        } else if (*c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *c);
            put(b, esc, 6);
        } else {
            put(b, (const char *)c, 1);
        }
    }
    put(b, "\"", 1);
}

bool ag__st_meta_ok(const char *op, const char *path, int nmeta, const ag_st_meta *meta,
                    ag_st_status *st) {
    if (nmeta < 0 || (nmeta && !meta))
        return ag__st_set(st, AG_ST_ARG, op, "%s: %d metadata entries (NULL list or negative "
                          "count)", path, nmeta);
    for (int i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value)
            return ag__st_set(st, AG_ST_ARG, op, "%s: metadata entry %d has a NULL key or value",
                              path, i);
        for (int j = 0; j < i; j++)
            if (strcmp(meta[j].key, meta[i].key) == 0)
                return ag__st_set(st, AG_ST_DUPLICATE, op, "%s: metadata key \"%s\" is given "
                                  "twice (entries %d and %d)", path, meta[i].key, j, i);
    }
    return true;
}

static bool check_args(const char *path, int n, const ag_st_tensor *t, int nmeta,
                       const ag_st_meta *meta, ag_st_status *st) {
    if (!path) return ag__st_set(st, AG_ST_ARG, OP, "NULL path");
    if (n < 0 || (n && !t))
        return ag__st_set(st, AG_ST_ARG, OP, "%s: %d tensors (NULL list or negative count)",
                          path, n);
    if (!ag__st_meta_ok(OP, path, nmeta, meta, st)) return false;
    for (int i = 0; i < n; i++) {
        const ag_st_tensor *x = &t[i];
        if (!x->name || strcmp(x->name, "__metadata__") == 0)
            return ag__st_set(st, AG_ST_ARG, OP, "%s: tensor %d has no name or a reserved one",
                              path, i);
        int64_t numel;
        size_t nbytes;
        if ((unsigned)x->dtype >= AG_ST_DTYPE_COUNT || x->ndim < 0 || x->ndim > AG_MAX_DIMS ||
            !ag__st_numel(x->ndim, x->shape, ag_st_dtype_size(x->dtype), &numel, &nbytes) ||
            nbytes != x->nbytes || (nbytes && !x->data))
            return ag__st_set(st, AG_ST_ARG, OP, "%s: tensor \"%s\": dtype, shape, nbytes (%zu) "
                              "and data do not agree", path, x->name, x->nbytes);
        for (int j = 0; j < i; j++)
            if (strcmp(t[j].name, x->name) == 0)
                return ag__st_set(st, AG_ST_DUPLICATE, OP, "%s: tensor \"%s\" is named twice",
                                  path, x->name);
    }
    return true;
}

static void build_header(buf *b, int n, const ag_st_tensor *t, int nmeta, const ag_st_meta *meta) {
    put(b, "        {", 9); /* 8 bytes for the length, written at the end */
    if (nmeta) {
        puts_(b, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) put(b, ",", 1);
            put_str(b, meta[i].key);
            put(b, ":", 1);
            put_str(b, meta[i].value);
        }
        puts_(b, n ? "}," : "}");
    }
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (i) put(b, ",", 1);
        put_str(b, t[i].name);
        puts_(b, ":{\"dtype\":\"");
        puts_(b, ag_st_dtype_name(t[i].dtype));
        puts_(b, "\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            if (d) put(b, ",", 1);
            put_i64(b, t[i].shape[d]);
        }
        puts_(b, "],\"data_offsets\":[");
        put_i64(b, at);
        put(b, ",", 1);
        at += (int64_t)t[i].nbytes;
        put_i64(b, at);
        puts_(b, "]}");
    }
    put(b, "}", 1);
    while (b->len % 8) put(b, " ", 1);
    if (b->oom) return;
    uint64_t hlen = b->len - 8;
    for (int i = 0; i < 8; i++, hlen >>= 8) b->p[i] = (char)(hlen & 0xff);
}

/* ---- the atomic write --------------------------------------------------------------- */

static bool write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        const size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        const ssize_t k = write(fd, c, chunk);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO;
            return false;
        }
        c += k;
        n -= (size_t)k;
    }
    return true;
}

/* fsync of the folder holding path, so the rename itself is durable. */
static bool sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? malloc((size_t)(slash - path) + 2) : NULL;
    if (slash && !dir) return false;
    if (dir) {
        const size_t k = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, k);
        dir[k] = '\0';
    }
    const int fd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY);
    free(dir);
    if (fd < 0) return false;
    const int e = fsync(fd) == 0 || errno == EINVAL ? 0 : errno; /* some file systems refuse */
    close(fd);
    errno = e;
    return e == 0;
}

bool ag_st_write(const char *path, int n, const ag_st_tensor *tensors, int nmeta,
                 const ag_st_meta *meta, const ag_st_write_opts *opts, ag_st_status *st) {
    if (!check_args(path, n, tensors, nmeta, meta, st)) return false;
    const bool sync = !(opts && opts->no_fsync);
    buf h = {0};
    build_header(&h, n, tensors, nmeta, meta);
    const size_t plen = strlen(path);
    char *tmp = h.oom ? NULL : malloc(plen + sizeof ".tmp.XXXXXX");
    if (!tmp) {
        free(h.p);
        return ag__st_set(st, AG_ST_NOMEM, OP, "%s: out of memory for the header", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    const int fd = mkstemp(tmp);
    if (fd < 0) {
        ag__st_set(st, AG_ST_IO, OP, "%s: cannot create a temporary file beside it: %s", path,
                   strerror(errno));
        free(tmp);
        free(h.p);
        return false;
    }
    const char *step = "write";
    bool ok = fchmod(fd, 0644) == 0 || (step = "chmod", false);
    ok = ok && (write_all(fd, h.p, h.len) || (step = "write", false));
    for (int i = 0; ok && i < n; i++)
        ok = write_all(fd, tensors[i].data, tensors[i].nbytes) || (step = "write", false);
    ok = ok && (!sync || fsync(fd) == 0 || (step = "fsync", false));
    int err = ok ? 0 : errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        step = "close";
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        step = "rename";
        err = errno;
    }
    if (!ok) {
        unlink(tmp);
        ag__st_set(st, AG_ST_IO, OP, "%s: %s failed: %s (the previous file, if any, is unchanged)",
                   path, step, strerror(err));
    } else if (sync && !sync_dir(path)) {
        ok = ag__st_set(st, AG_ST_IO, OP, "%s: written, but fsync of its folder failed: %s", path,
                        strerror(errno));
    } else {
        ag__st_ok(st);
    }
    free(tmp);
    free(h.p);
    return ok;
}
