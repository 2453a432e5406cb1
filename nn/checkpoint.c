/* nn/checkpoint.c — a module's parameters to and from a safetensors file,
 * by their dotted names (ag/checkpoint.h). The file format and its checks
 * are core's (core/safetensors*.c); this file matches names, shapes and
 * dtypes, and copies only once everything matched. Reports through the
 * error handler only when the caller gave no status to fill. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ag/checkpoint.h"
#include "checkpoint_internal.h"
#include "internal.h"
#include "st_internal.h"

/* ---- the parameters, collected with their names -------------------------------- */

typedef struct {
    int n, cap;
    char **name;
    ag_tensor **t;
    bool oom;
} plist;

static void collect(const ag_named_param *p, void *ud) {
    plist *l = ud;
    if (l->oom) return;
    if (l->n == l->cap) {
        const int cap = l->cap ? 2 * l->cap : 16;
        char **nn = realloc(l->name, sizeof *nn * (size_t)cap);
        if (nn) l->name = nn;
        ag_tensor **nt = nn ? realloc(l->t, sizeof *nt * (size_t)cap) : NULL;
        if (nt) l->t = nt;
        if (!nn || !nt) {
            l->oom = true;
            return;
        }
        l->cap = cap;
    }
    const size_t len = strlen(p->name) + 1;
    char *s = malloc(len);
    if (!s) {
        l->oom = true;
        return;
    }
    memcpy(s, p->name, len);
    l->name[l->n] = s;
    l->t[l->n++] = p->tensor;
}

static void plist_free(plist *l) {
    for (int i = 0; i < l->n; i++) free(l->name[i]);
    free(l->name);
    free(l->t);
}

static bool gather(ag_module *m, plist *l, const char *what, ag_st_status *st) {
    ag_module_visit_params(m, collect, l);
    if (l->oom) return ag__st_set(st, AG_ST_NOMEM, what, "%s: out of memory for the names", "");
    return true;
}

/* ---- save ---------------------------------------------------------------------------- */

/* A failure the caller gave no status for, reported under op: the status
 * message past its own "ag: <op>: ". Returns false. */
static bool report(const char *op, const ag_st_status *st) {
    const char *text = strstr(st->message, ": "); /* past "ag" */
    text = text ? strstr(text + 2, ": ") : NULL;  /* past the status's op */
    ag__fail(op, "%s", text ? text + 2 : st->message);
    return false;
}

bool ag__module_save(ag_module *m, const char *path, const ag_save_opts *opts, ag_st_status *st) {
    if (!m || !path)
        return ag__st_set(st, AG_ST_ARG, "save", "%s: NULL %s", path ? path : "(no path)",
                          m ? "path" : "module");
    plist l = {0};
    bool ok = gather(m, &l, "save", st);
    ag_st_tensor *t = ok ? malloc(sizeof *t * (size_t)(l.n ? l.n : 1)) : NULL;
    if (ok && !t) ok = ag__st_set(st, AG_ST_NOMEM, "save", "%s: out of memory", path);
    for (int i = 0; ok && i < l.n; i++) t[i] = ag_st_view(l.name[i], l.t[i]);
    const ag_st_write_opts wo = {.no_fsync = opts && opts->no_fsync};
    ok = ok && ag_st_write(path, l.n, t, opts ? opts->nmeta : 0, opts ? opts->meta : NULL, &wo, st);
    free(t);
    plist_free(&l);
    return ok;
}

/* ---- load ---------------------------------------------------------------------------- */

/* A message that lists as many names as fit and ends with "..." when some
 * did not. */
typedef struct {
    char text[sizeof((ag_st_status *)0)->message];
    size_t len;
} line;

static void line_add(line *b, const char *fmt, ...) {
    if (b->len >= sizeof b->text - 1) return;
    va_list ap;
    va_start(ap, fmt);
    const int k = vsnprintf(b->text + b->len, sizeof b->text - b->len, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    b->len += (size_t)k;
    if (b->len >= sizeof b->text - 1) {
        b->len = sizeof b->text - 1;
        memcpy(b->text + b->len - 3, "...", 3);
    }
}

/* Copies the names at idx (count k) into A; NULL list without an arena. */
static bool name_list(ag_arena *A, int k, const int *idx, const char *const *names,
                      const char ***out) {
    *out = NULL;
    if (!A) return true;
    const char **l = ag__arena_try_alloc(A, sizeof *l * (size_t)(k ? k : 1));
    if (!l) return false;
    for (int i = 0; i < k; i++) {
        const size_t len = strlen(names[idx[i]]) + 1;
        char *s = ag__arena_try_alloc(A, len);
        if (!s) return false;
        memcpy(s, names[idx[i]], len);
        l[i] = s;
    }
    *out = l;
    return true;
}

typedef struct {
    int *missing, *unexpected, *mismatched; /* indices: params, file, params */
    int *match;                             /* per param: file index or -1 */
} matching;

static bool match_all(const plist *l, const ag_st_file *f, ag_load_result *r, matching *mt,
                      line *why) {
    const int nf = ag_st_count(f);
    bool *used = calloc((size_t)nf + 1, sizeof *used);
    if (!used) return false;
    line mis = {{0}, 0}, bad = {{0}, 0}, unx = {{0}, 0};
    for (int i = 0; i < l->n; i++) {
        const int j = ag_st_index(f, l->name[i]);
        mt->match[i] = j;
        if (j < 0) {
            line_add(&mis, "%s%s", r->nmissing ? ", " : "", l->name[i]);
            mt->missing[r->nmissing++] = i;
            continue;
        }
        used[j] = true;
        const ag_st_tensor *s = ag_st_at(f, j);
        const ag_tensor *p = l->t[i];
        bool same = s->ndim == p->ndim && ag_st_convertible(s->dtype, p->dtype);
        for (int d = 0; same && d < s->ndim; d++) same = s->shape[d] == p->shape[d];
        if (!same) {
            line_add(&bad, "%s%s: %s %s in the file, %s %s in the module", r->nmismatched ? ", " : "",
                l->name[i], ag_st_dtype_name(s->dtype), ag__shp_of(s->ndim, s->shape),
                ag_dtype_name(p->dtype), ag__shp(p));
            mt->mismatched[r->nmismatched++] = i;
        }
    }
    for (int j = 0; j < nf; j++) {
        if (!used[j]) {
            line_add(&unx, "%s%s", r->nunexpected ? ", " : "", ag_st_at(f, j)->name);
            mt->unexpected[r->nunexpected++] = j;
        }
    }
    if (r->nmissing) line_add(why, "; %d missing (%s)", r->nmissing, mis.text);
    if (r->nunexpected) line_add(why, "; %d unexpected (%s)", r->nunexpected, unx.text);
    if (r->nmismatched) line_add(why, "; %d mismatched (%s)", r->nmismatched, bad.text);
    free(used);
    return true;
}

static bool lists(ag_arena *A, const plist *l, const ag_st_file *f, ag_load_result *r,
                  const matching *mt) {
    const int nf = ag_st_count(f);
    const char **fnames = malloc(sizeof *fnames * ((size_t)nf + 1));
    if (!fnames) return false;
    for (int j = 0; j < nf; j++) fnames[j] = ag_st_at(f, j)->name;
    const bool ok =
        name_list(A, r->nmissing, mt->missing, (const char *const *)l->name, &r->missing) &&
        name_list(A, r->nunexpected, mt->unexpected, fnames, &r->unexpected) &&
        name_list(A, r->nmismatched, mt->mismatched, (const char *const *)l->name, &r->mismatched);
    free(fnames);
    return ok;
}

static bool load(ag_module *m, const ag_st_file *f, const ag_load_opts *opts, ag_load_result *r) {
    ag_st_status *st = &r->status;
    const char *L = ag_st_label(f);
    plist l = {0};
    if (!gather(m, &l, "load", st)) {
        plist_free(&l);
        return false;
    }
    const int nf = ag_st_count(f);
    matching mt = {
        malloc(sizeof(int) * ((size_t)l.n + 1)), malloc(sizeof(int) * ((size_t)nf + 1)),
        malloc(sizeof(int) * ((size_t)l.n + 1)), malloc(sizeof(int) * ((size_t)l.n + 1)),
    };
    line why = {{0}, 0};
    bool ok = mt.missing && mt.unexpected && mt.mismatched && mt.match &&
              match_all(&l, f, r, &mt, &why);
    if (!ok) ag__st_set(st, AG_ST_NOMEM, "load", "%s: out of memory", L);
    if (ok && !lists(opts ? opts->names : NULL, &l, f, r, &mt))
        ok = ag__st_set(st, AG_ST_NOMEM, "load", "%s: out of memory in the names arena", L);
    const bool strict = !(opts && opts->non_strict);
    if (ok && (r->nmismatched || (strict && (r->nmissing || r->nunexpected))))
        ok = ag__st_set(st, AG_ST_MISMATCH, "load", "%s: %s; nothing was loaded", L, why.text + 2);
    for (int i = 0; ok && i < l.n; i++) {
        if (mt.match[i] < 0) continue;
        if (!ag_st_read_into(f, ag_st_at(f, mt.match[i]), l.t[i], st)) {
            /* only a read error gets here (all else was checked): say what it did */
            const ag_st_status cause = *st;
            const char *text = strstr(cause.message, ": "); /* past "ag: <op>: " */
            text = text && strstr(text + 2, ": ") ? strstr(text + 2, ": ") + 2 : cause.message;
            ok = ag__st_set(st, cause.code, "load", "%s; %d of the module's tensors were loaded "
                            "before it, the rest are unchanged", text, r->nloaded);
            break;
        }
        r->nloaded++;
    }
    if (ok) ag__st_ok(st);
    free(mt.missing);
    free(mt.unexpected);
    free(mt.mismatched);
    free(mt.match);
    plist_free(&l);
    return ok;
}

/* r cleared; false after filling its status when m or what is NULL. */
static bool begin(ag_module *m, const void *what, const char *label, ag_load_result *r) {
    memset(r, 0, sizeof *r);
    if (m && what) return true;
    return ag__st_set(&r->status, AG_ST_ARG, "load", "%s: NULL %s", label, m ? "file" : "module");
}

static bool load_path(ag_module *m, const char *path, const ag_load_opts *opts, ag_load_result *r) {
    if (!begin(m, path, path ? path : "(no path)", r)) return false;
    ag_st_file *f = ag_st_open(path, &r->status);
    if (!f) return false;
    const bool ok = load(m, f, opts, r);
    ag_st_close(f);
    return ok;
}

/* ---- the public forms: the caller's status, or a report without one ------------------ */

bool ag__module_load_file(ag_module *m, const ag_st_file *f, const ag_load_opts *opts,
                          ag_load_result *res) {
    ag_load_result local, *r = res ? res : &local;
    return begin(m, f, ag_st_label(f), r) && load(m, f, opts, r);
}

bool ag_module_save_(ag_module *m, const char *path, const ag_save_opts *opts, ag_st_status *st) {
    ag_st_status local;
    const bool ok = ag__module_save(m, path, opts, st ? st : &local);
    return ok || st ? ok : report("module_save", &local);
}

bool ag_module_load_file_(ag_module *m, const ag_st_file *f, const ag_load_opts *opts,
                          ag_load_result *res) {
    ag_load_result local, *r = res ? res : &local;
    const bool ok = ag__module_load_file(m, f, opts, r);
    return ok || res ? ok : report("module_load_file", &r->status);
}

bool ag_module_load_(ag_module *m, const char *path, const ag_load_opts *opts,
                     ag_load_result *res) {
    ag_load_result local, *r = res ? res : &local;
    const bool ok = load_path(m, path, opts, r);
    return ok || res ? ok : report("module_load", &r->status);
}
