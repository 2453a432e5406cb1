/* core/error.c — one error line, one handler (see ag/error.h), and the
 * argument checks every op shares.
 *
 * The handler: the calling thread's own (ag_set_thread_error_handler) if it
 * installed one, else the process one. The process handler and its data are
 * a pair, read and written under one mutex (a POSIX one, which
 * ThreadSanitizer sees; see nn/registry.c) so a report never sees a new
 * handler with the old data; the handler itself runs outside the mutex. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct handler_slot {
    ag_error_handler fn; /* NULL: none (a thread slot) or the default (the process one) */
    void *data;
} handler_slot;

static handler_slot process_handler;
static pthread_mutex_t process_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local handler_slot thread_handler;

static _Thread_local const char *site_file;
static _Thread_local int site_line;
/* The sites of the public calls still running on this thread, innermost
 * last: ag__site_push saves the current site here, ag__site_pop brings it
 * back. Deeper nesting than this keeps working but restores no site. */
enum { SITE_DEPTH = 32 };
static _Thread_local struct {
    const char *file;
    int line;
} saved_sites[SITE_DEPTH];
static _Thread_local int site_depth;
static _Thread_local char last[512];
static _Thread_local int count;

void ag_error_abort(const char *message, void *userdata) {
    (void)userdata;
    fflush(stdout); /* what the program printed so far comes before the error */
    fprintf(stderr, "%s\n", message);
    fflush(stderr);
    abort();
}

/* Stores next as the process handler (when store) and returns the one before. */
static handler_slot swap_process_handler(handler_slot next, bool store) {
    (void)pthread_mutex_lock(&process_lock);
    const handler_slot prev = process_handler;
    if (store) process_handler = next;
    (void)pthread_mutex_unlock(&process_lock);
    return prev;
}

ag_error_handler ag_set_error_handler(ag_error_handler h, void *userdata) {
    const handler_slot prev = swap_process_handler((handler_slot){h, userdata}, true);
    return prev.fn ? prev.fn : ag_error_abort;
}

ag_error_handler ag_set_thread_error_handler(ag_error_handler h, void *userdata) {
    const ag_error_handler prev = thread_handler.fn;
    thread_handler = (handler_slot){h, h ? userdata : NULL};
    return prev;
}

/* The handler a report on this thread goes to. */
static handler_slot current_handler(void) {
    if (thread_handler.fn) return thread_handler;
    handler_slot h = swap_process_handler((handler_slot){0}, false);
    if (!h.fn) h.fn = ag_error_abort;
    return h;
}

const char *ag_last_error(void) { return last; }
int ag_error_count(void) { return count; }

void ag_clear_error(void) {
    last[0] = '\0';
    count = 0;
}

void ag_set_call_site(const char *file, int line) {
    site_file = file;
    site_line = line;
}

void ag__site_push(const char *file, int line) {
    if (site_depth < SITE_DEPTH) {
        saved_sites[site_depth].file = site_file;
        saved_sites[site_depth].line = site_line;
    }
    site_depth++;
    site_file = file;
    site_line = line;
}

void ag__site_pop(void) {
    if (site_depth == 0) return; /* unbalanced: a handler jumped out of a call */
    site_depth--;
    site_file = site_depth < SITE_DEPTH ? saved_sites[site_depth].file : NULL;
    site_line = site_depth < SITE_DEPTH ? saved_sites[site_depth].line : 0;
}

/* The file's base name: messages name "train.c:42", not a build path. */
static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void ag__call_site(const char **file, int *line) {
    *file = site_file ? base_name(site_file) : NULL;
    *line = site_line;
}

/* printf shows a NaN with its sign bit set (most computed NaNs) as "-nan";
 * a message says "nan" whatever the bits. */
static void unsign_nans(char *text) {
    for (char *p = strstr(text, "-nan"); p; p = strstr(p, "-nan")) {
        const bool word = (p == text || !isalnum((unsigned char)p[-1])) &&
                          !isalnum((unsigned char)p[4]);
        if (word) memmove(p, p + 1, strlen(p + 1) + 1);
        else p++;
    }
}

void ag__fail(const char *op, const char *fmt, ...) {
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    unsign_nans(text);
    /* the site is written first and kept whole: a long op name (a custom
     * op's own) or text is cut short instead of the caller's file:line */
    char where[160] = "";
    if (site_file)
        snprintf(where, sizeof where, " (%s:%d)", base_name(site_file), site_line);
    snprintf(last, sizeof last - strlen(where), "ag: %s: %s", op, text);
    strcat(last, where);
    count++;
    site_file = NULL; /* a site belongs to one call */
    const handler_slot h = current_handler();
    h.fn(last, h.data);
}

/* ---- shapes as text ------------------------------------------------------- */

const char *ag__shp_of(int ndim, const int64_t *shape) {
    static _Thread_local char bufs[8][96];
    static _Thread_local int next;
    char *b = bufs[next];
    next = (next + 1) % 8;
    size_t n = 0;
    b[n++] = '[';
    for (int i = 0; i < ndim && n < sizeof bufs[0] - 24; i++)
        n += (size_t)snprintf(b + n, sizeof bufs[0] - n, i ? ",%lld" : "%lld",
                              (long long)shape[i]);
    snprintf(b + n, sizeof bufs[0] - n, "]");
    return b;
}

const char *ag__shp(const ag_tensor *t) { return ag__shp_of(t->ndim, t->shape); }

char *ag_shape_str(const ag_tensor *t, char *buf, size_t size) {
    if (!buf || size == 0) return buf;
    snprintf(buf, size, "%s", t ? ag__shp(t) : "(null)");
    return buf;
}

/* ---- argument checks ------------------------------------------------------ */

bool ag__check_arena(const char *op, const ag_arena *A) {
    if (A) return true;
    ag__fail(op, "arena is NULL");
    return false;
}

bool ag__check_live(const char *op, const ag_tensor *t) {
    if (t->epoch == ag__arena_epoch(t->arena)) return true;
    ag__fail(op, "%s tensor %s was made before its arena was reset: a tensor lives until "
             "the next reset of its arena", ag_dtype_name(t->dtype), ag__shp(t));
    return false;
}

bool ag__check_float(const char *op, const ag_tensor *x) {
    if (ag_dtype_is_float(x->dtype)) return true;
    ag__fail(op, "input %s has dtype %s: expected a float dtype (f32, f64 or bf16)",
             ag__shp(x), ag_dtype_name(x->dtype));
    return false;
}

bool ag__check_dtype(const char *op, const char *what, const ag_tensor *x, ag_dtype dt) {
    if (x->dtype == dt) return true;
    ag__fail(op, "%s %s has dtype %s: expected %s", what, ag__shp(x),
             ag_dtype_name(x->dtype), ag_dtype_name(dt));
    return false;
}

int ag__dim(const char *op, int dim, const ag_tensor *x) {
    const int n = x->ndim > 0 ? x->ndim : 1;
    if (dim < -n || dim >= n) {
        ag__fail(op, "dim %d is out of range for %s (expected %d..%d)", dim, ag__shp(x), -n,
                 n - 1);
        return -1;
    }
    return dim < 0 ? dim + n : dim;
}

bool ag__dim_mask(const char *op, int ndims, const int *dims, const ag_tensor *x, bool *reduce) {
    const int ndim = x->ndim;
    for (int i = 0; i < AG_MAX_DIMS; i++) reduce[i] = (ndims == 0 || !dims) && i < ndim;
    if (ndims == 0 || !dims) return true;
    if (ndims < 0 || ndims > AG_MAX_DIMS) {
        ag__fail(op, "%d dims listed: expected 0..%d", ndims, AG_MAX_DIMS);
        return false;
    }
    for (int i = 0; i < ndims; i++) {
        int d = ag__dim(op, dims[i], x);
        if (d < 0) return false;
        if (ndim == 0) continue; /* dim 0 / -1 of a scalar: nothing to reduce */
        if (reduce[d]) {
            ag__fail(op, "dim %d appears twice in the dim list for %s", d, ag__shp(x));
            return false;
        }
        reduce[d] = true;
    }
    return true;
}
