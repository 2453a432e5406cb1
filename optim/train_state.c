/* optim/train_state.c — a training run's whole state in a checkpoint folder
 * (ag/train_state.h says what is where). Built on the module checkpoint
 * (nn/checkpoint.c) and the file format (core/safetensors*.c); never
 * reports through the error handler. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ag/train_state.h"
#include "checkpoint_internal.h"
#include "internal.h"
#include "st_internal.h"

#define OP_SAVE "train_save"
#define OP_LOAD "train_load"

/* Everything save and load share: the folder's two paths, the names of the
 * optimizer's parameters, and the scratch memory (malloc'd chunks freed
 * together: nothing here may report, so no arena). */
typedef struct chunk {
    struct chunk *next;
    max_align_t data[];
} chunk;

typedef struct {
    char model_path[4096], opt_path[4096];
    chunk *chunks;
    const char **name; /* by optimizer parameter: its dotted name in the model */
    int nparams;       /* the model's, while collecting names */
    const ag_tensor **param;
    const char **pname;
    bool oom;
} job;

static void *scratch(job *j, size_t bytes) {
    chunk *c = malloc(sizeof *c + bytes);
    if (!c) return NULL;
    c->next = j->chunks;
    j->chunks = c;
    return c->data;
}

static void *scratch_zeroed(job *j, size_t bytes) {
    void *p = scratch(j, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

/* ag_module_visit_params's callback: the model's parameters and names. */
static void count_param(const ag_named_param *p, void *ud) {
    (void)p;
    ((job *)ud)->nparams++;
}

static void note_param(const ag_named_param *p, void *ud) {
    job *j = ud;
    const size_t len = strlen(p->name) + 1;
    char *s = scratch(j, len);
    if (!s) {
        j->oom = true;
        return;
    }
    memcpy(s, p->name, len);
    j->param[j->nparams] = p->tensor;
    j->pname[j->nparams++] = s;
}

static bool job_open(job *j, const char *dir, const ag_train_state *s, const char *op,
                     ag_st_status *st) {
    memset(j, 0, sizeof *j);
    if (!dir || !s || !s->model || !s->opt || (s->nmeta > 0 && !s->meta))
        return ag__st_set(st, AG_ST_ARG, op, "%s: expected a folder, a model and an optimizer",
                          dir ? dir : "(NULL folder)");
    if (snprintf(j->model_path, sizeof j->model_path, "%s/model.safetensors", dir) >=
            (int)sizeof j->model_path ||
        snprintf(j->opt_path, sizeof j->opt_path, "%s/optimizer.safetensors", dir) >=
            (int)sizeof j->opt_path)
        return ag__st_set(st, AG_ST_ARG, op, "%s: the folder's name is too long", dir);
    ag_module_visit_params(s->model, count_param, j);
    const int n = j->nparams;
    j->param = scratch(j, sizeof *j->param * (size_t)(n + 1));
    j->pname = scratch(j, sizeof *j->pname * (size_t)(n + 1));
    j->name = scratch(j, sizeof *j->name * (size_t)(s->opt->nparams + 1));
    if (!j->param || !j->pname || !j->name)
        return ag__st_set(st, AG_ST_NOMEM, op, "%s: out of memory", dir);
    j->nparams = 0;
    ag_module_visit_params(s->model, note_param, j);
    if (j->oom || j->nparams != n)
        return ag__st_set(st, AG_ST_NOMEM, op, "%s: out of memory", dir);
    for (int i = 0; i < s->opt->nparams; i++) {
        const ag_tensor *p = s->opt->state[i].param;
        int k = 0;
        while (k < n && j->param[k] != p) k++;
        if (k == n)
            return ag__st_set(st, AG_ST_ARG, op, "%s: parameter %d of the optimizer (%s %s) is "
                              "not one of the model's", dir, i, ag_dtype_name(p->dtype),
                              ag__shp(p));
        j->name[i] = j->pname[k];
    }
    return true;
}

static void job_close(job *j) {
    while (j->chunks) {
        chunk *c = j->chunks;
        j->chunks = c->next;
        free(c);
    }
}

/* printf into a string in the job's arena (NULL when out of memory). */
static const char *str(job *j, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static const char *str(job *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? scratch(j, (size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- saving ------------------------------------------------------------------ */

/* The metadata list grows in the arena; ok goes false when out of memory. */
typedef struct {
    ag_st_meta *m;
    int n, cap;
    bool ok;
} metas;

static void meta_add(job *j, metas *ms, const char *key, const char *value) {
    if (!ms->ok || !key || !value) {
        ms->ok = false;
        return;
    }
    if (ms->n == ms->cap) {
        const int cap = ms->cap ? 2 * ms->cap : 32;
        ag_st_meta *m = scratch(j, sizeof *m * (size_t)cap);
        if (!m) {
            ms->ok = false;
            return;
        }
        if (ms->n) memcpy(m, ms->m, sizeof *m * (size_t)ms->n);
        ms->m = m;
        ms->cap = cap;
    }
    ms->m[ms->n++] = (ag_st_meta){key, value};
}

/* The optimizer's metadata: type, steps, groups, per-parameter steps, the
 * generator, the data position, "step". */
static void optimizer_meta(job *j, const ag_train_state *s, metas *ms) {
    const ag_optim *o = s->opt;
    meta_add(j, ms, "optimizer", o->name);
    meta_add(j, ms, "steps", str(j, "%" PRId64, o->steps));
    meta_add(j, ms, "step", str(j, "%" PRId64, o->steps));
    meta_add(j, ms, "ngroups", str(j, "%d", o->ngroups));
    for (int g = 0; g < o->ngroups; g++) {
        meta_add(j, ms, str(j, "group.%d.lr", g), str(j, "%.17g", o->groups[g].lr));
        meta_add(j, ms, str(j, "group.%d.initial_lr", g), str(j, "%.17g", o->initial_lr[g]));
        meta_add(j, ms, str(j, "group.%d.weight_decay", g),
                 str(j, "%.17g", o->groups[g].weight_decay));
    }
    for (int i = 0; i < o->nparams; i++)
        meta_add(j, ms, str(j, "step.%s", j->name[i]), str(j, "%" PRId64, o->state[i].step));
    if (s->rng)
        meta_add(j, ms, "rng", str(j, "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64
                                      " %d %.17g", s->rng->s[0], s->rng->s[1], s->rng->s[2],
                                   s->rng->s[3], s->rng->has_spare ? 1 : 0, s->rng->spare));
    meta_add(j, ms, "data_position", str(j, "%" PRId64, s->data_position));
}

/* The program's metadata, checked before either file is written (a bad entry
 * found while writing the model would leave a new optimizer file beside the
 * old model): what ag_st_write checks, and no entry "step", the checkpoint's
 * own (two would make a file whose step a reader takes from either). */
static bool program_meta_ok(const job *j, const ag_train_state *s, ag_st_status *st) {
    if (!ag__st_meta_ok(OP_SAVE, j->model_path, s->nmeta, s->meta, st)) return false;
    for (int k = 0; k < s->nmeta; k++)
        if (strcmp(s->meta[k].key, "step") == 0)
            return ag__st_set(st, AG_ST_ARG, OP_SAVE, "%s: metadata entry %d is \"step\", the "
                              "checkpoint's own (the optimizer's step count): give the "
                              "program's entry another key", j->model_path, k);
    return true;
}

bool ag_train_save(const char *dir, const ag_train_state *s, const ag_save_opts *opts,
                   ag_st_status *st) {
    job j;
    if (!job_open(&j, dir, s, OP_SAVE, st) || !program_meta_ok(&j, s, st)) {
        job_close(&j);
        return false;
    }
    bool ok = true;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        ok = ag__st_set(st, AG_ST_IO, OP_SAVE, "%s: cannot make the folder: %s", dir,
                        strerror(errno));
    /* the optimizer's tensors, parameter by parameter */
    const ag_optim *o = s->opt;
    int n = 0;
    ag_st_tensor *ts =
        scratch(&j, sizeof *ts * (size_t)(o->nparams * (AG_OPTIM_MAX_BUFFERS + 1) + 1));
    metas ms = {.ok = ts != NULL};
    for (int i = 0; ok && ts && i < o->nparams; i++) {
        const ag_optim_state *ps = &o->state[i];
        for (int b = 0; b < ps->nbuffers; b++)
            if (ps->buffers[b].tensor)
                ts[n++] = ag_st_view(str(&j, "state.%s.%s", j.name[i], ps->buffers[b].name),
                                     ps->buffers[b].tensor);
        if (ps->master) ts[n++] = ag_st_view(str(&j, "state.%s.master", j.name[i]), ps->master);
    }
    for (int k = 0; k < n; k++) ms.ok = ms.ok && ts[k].name;
    if (ok) optimizer_meta(&j, s, &ms);
    if (ok && !ms.ok) ok = ag__st_set(st, AG_ST_NOMEM, OP_SAVE, "%s: out of memory", dir);
    const ag_st_write_opts wo = {.no_fsync = opts && opts->no_fsync};
    if (ok) ok = ag_st_write(j.opt_path, n, ts, ms.n, ms.m, &wo, st);
    /* then the model, with the program's metadata and the step */
    if (ok) {
        metas mm = {.ok = true};
        for (int k = 0; k < s->nmeta; k++) meta_add(&j, &mm, s->meta[k].key, s->meta[k].value);
        meta_add(&j, &mm, "step", str(&j, "%" PRId64, o->steps));
        if (!mm.ok) ok = ag__st_set(st, AG_ST_NOMEM, OP_SAVE, "%s: out of memory", dir);
        ag_save_opts so = {.no_fsync = opts && opts->no_fsync, .nmeta = mm.n, .meta = mm.m};
        if (ok) ok = ag__module_save(s->model, j.model_path, &so, st);
    }
    job_close(&j);
    return ok;
}

/* ---- loading ------------------------------------------------------------------ */

/* The value of key in f as an int64 (whole string), or false with st set. */
static bool meta_i64(const ag_st_file *f, const char *key, int64_t *v, ag_st_status *st) {
    const char *s = ag_st_meta_get(f, key);
    char *end;
    errno = 0;
    long long x = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno)
        return ag__st_set(st, AG_ST_METADATA, OP_LOAD, "%s: metadata \"%s\" is %s%s%s: expected "
                          "a whole number", ag_st_label(f), key, s ? "\"" : "missing",
                          s ? s : "", s ? "\"" : "");
    *v = x;
    return true;
}

static bool meta_f64(const ag_st_file *f, const char *key, double *v, ag_st_status *st) {
    const char *s = ag_st_meta_get(f, key);
    char *end;
    double x = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end)
        return ag__st_set(st, AG_ST_METADATA, OP_LOAD, "%s: metadata \"%s\" is %s%s%s: expected "
                          "a number", ag_st_label(f), key, s ? "\"" : "missing", s ? s : "",
                          s ? "\"" : "");
    *v = x;
    return true;
}

/* What load will set, read and checked before anything is changed. */
typedef struct {
    int64_t steps, position, *pstep;
    double *lr, *initial_lr, *wd;
    const ag_st_tensor **buf; /* [param][buffer], NULL where the file has none */
    const ag_st_tensor **master;
    bool has_rng;
    ag_rng rng;
} plan;

static bool read_rng(const ag_st_file *f, ag_rng *r, ag_st_status *st) {
    const char *s = ag_st_meta_get(f, "rng");
    int spare = 0, used = 0;
    uint64_t w[4];
    if (sscanf(s, "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %d %lf%n", &w[0], &w[1],
               &w[2], &w[3], &spare, &r->spare, &used) != 6 ||
        s[used] != '\0' || (spare != 0 && spare != 1))
        return ag__st_set(st, AG_ST_METADATA, OP_LOAD, "%s: metadata \"rng\" is \"%s\": "
                          "expected four hex words, 0 or 1 and a number", ag_st_label(f), s);
    memcpy(r->s, w, sizeof w);
    r->has_spare = spare == 1;
    return true;
}

/* The optimizer file against s: type, groups, parameters, every tensor.
 * Fills p. */
static bool check_optimizer(job *j, const ag_st_file *f, const ag_train_state *s, plan *p,
                            ag_st_status *st) {
    const ag_optim *o = s->opt;
    const char *L = ag_st_label(f), *type = ag_st_meta_get(f, "optimizer");
    if (!type || strcmp(type, o->name))
        return ag__st_set(st, AG_ST_MISMATCH, OP_LOAD, "%s: the state of %s%s%s, not of %s",
                          L, type ? "an optimizer " : "no named optimizer", type ? type : "",
                          "", o->name);
    int64_t ngroups;
    if (!meta_i64(f, "ngroups", &ngroups, st) || !meta_i64(f, "steps", &p->steps, st) ||
        !meta_i64(f, "data_position", &p->position, st))
        return false;
    if (ngroups != o->ngroups)
        return ag__st_set(st, AG_ST_MISMATCH, OP_LOAD, "%s: %lld parameter groups, the "
                          "optimizer has %d", L, (long long)ngroups, o->ngroups);
    const size_t np = (size_t)o->nparams + 1, ng = (size_t)o->ngroups + 1;
    p->pstep = scratch(j, sizeof *p->pstep * np);
    p->lr = scratch(j, sizeof(double) * ng);
    p->initial_lr = scratch(j, sizeof(double) * ng);
    p->wd = scratch(j, sizeof(double) * ng);
    p->buf = scratch_zeroed(j, sizeof *p->buf * np * AG_OPTIM_MAX_BUFFERS);
    p->master = scratch_zeroed(j, sizeof *p->master * np);
    if (!p->pstep || !p->lr || !p->initial_lr || !p->wd || !p->buf || !p->master)
        return ag__st_set(st, AG_ST_NOMEM, OP_LOAD, "%s: out of memory", L);
    for (int g = 0; g < o->ngroups; g++)
        if (!meta_f64(f, str(j, "group.%d.lr", g), &p->lr[g], st) ||
            !meta_f64(f, str(j, "group.%d.initial_lr", g), &p->initial_lr[g], st) ||
            !meta_f64(f, str(j, "group.%d.weight_decay", g), &p->wd[g], st))
            return false;
    int expected = 0;
    for (int i = 0; i < o->nparams; i++) {
        const ag_optim_state *ps = &o->state[i];
        if (!meta_i64(f, str(j, "step.%s", j->name[i]), &p->pstep[i], st)) return false;
        for (int b = 0; b < ps->nbuffers; b++) {
            const char *key = str(j, "state.%s.%s", j->name[i], ps->buffers[b].name);
            const ag_st_tensor *t = key ? ag_st_find(f, key) : NULL;
            if (!t && p->pstep[i] > 0)
                return ag__st_set(st, AG_ST_MISMATCH, OP_LOAD, "%s: tensor \"%s\" is missing "
                                  "(the parameter took %lld steps)", L, key ? key : "?",
                                  (long long)p->pstep[i]);
            p->buf[(size_t)i * AG_OPTIM_MAX_BUFFERS + (size_t)b] = t;
            expected += t != NULL;
        }
        const char *mkey = str(j, "state.%s.master", j->name[i]);
        p->master[i] = mkey ? ag_st_find(f, mkey) : NULL;
        expected += p->master[i] != NULL;
    }
    /* every tensor of the file is one of those, of its parameter's shape */
    if (expected != ag_st_count(f))
        for (int k = 0; k < ag_st_count(f); k++) {
            const ag_st_tensor *t = ag_st_at(f, k);
            bool known = false;
            for (int i = 0; !known && i < o->nparams; i++) {
                known = p->master[i] == t;
                for (int b = 0; !known && b < o->state[i].nbuffers; b++)
                    known = p->buf[(size_t)i * AG_OPTIM_MAX_BUFFERS + (size_t)b] == t;
            }
            if (!known)
                return ag__st_set(st, AG_ST_MISMATCH, OP_LOAD, "%s: tensor \"%s\" belongs to "
                                  "no parameter of this optimizer", L, t->name);
        }
    for (int i = 0; i < o->nparams; i++) {
        const ag_tensor *par = o->state[i].param;
        for (int b = 0; b <= o->state[i].nbuffers; b++) {
            const ag_st_tensor *t = b < o->state[i].nbuffers
                                        ? p->buf[(size_t)i * AG_OPTIM_MAX_BUFFERS + (size_t)b]
                                        : p->master[i];
            if (!t) continue;
            const bool shape = t->ndim == par->ndim &&
                               !memcmp(t->shape, par->shape, sizeof(int64_t) * (size_t)t->ndim);
            if (!shape || !ag_st_convertible(t->dtype, AG_F32))
                return ag__st_set(st, AG_ST_MISMATCH, OP_LOAD, "%s: tensor \"%s\" is %s %s: "
                                  "expected a float tensor of its parameter's shape %s", L,
                                  t->name, ag_st_dtype_name(t->dtype),
                                  ag__shp_of(t->ndim, t->shape), ag__shp(par));
        }
    }
    p->has_rng = ag_st_meta_get(f, "rng") != NULL;
    return !p->has_rng || !s->rng || read_rng(f, &p->rng, st);
}

/* Makes every buffer and master copy the file has (zeroed) before the model
 * is touched: after this only reads can fail. */
static bool make_buffers(const plan *p, ag_optim *o, ag_st_status *st, const char *L) {
    for (int i = 0; i < o->nparams; i++) {
        ag_optim_state *ps = &o->state[i];
        const ag_tensor *par = ps->param;
        const ag_dtype dt = ag_compute_dtype(par->dtype);
        for (int b = 0; b < ps->nbuffers; b++)
            if (p->buf[(size_t)i * AG_OPTIM_MAX_BUFFERS + (size_t)b] && !ps->buffers[b].tensor &&
                !(ps->buffers[b].tensor = ag__try_zeros(o->arena, dt, par->ndim, par->shape)))
                return ag__st_set(st, AG_ST_NOMEM, OP_LOAD, "%s: out of memory", L);
        if (p->master[i] && !ps->master &&
            !(ps->master = ag__try_zeros(o->arena, AG_F32, par->ndim, par->shape)))
            return ag__st_set(st, AG_ST_NOMEM, OP_LOAD, "%s: out of memory", L);
    }
    return true;
}

/* Copies the checked state into s (only reads of the file can fail now). */
static bool apply(const plan *p, const ag_st_file *f, ag_train_state *s, ag_st_status *st) {
    ag_optim *o = s->opt;
    for (int i = 0; i < o->nparams; i++) {
        ag_optim_state *ps = &o->state[i];
        for (int b = 0; b < ps->nbuffers; b++) {
            const ag_st_tensor *t = p->buf[(size_t)i * AG_OPTIM_MAX_BUFFERS + (size_t)b];
            if (t && !ag_st_read_into(f, t, ps->buffers[b].tensor, st)) return false;
        }
        if (p->master[i] && !ag_st_read_into(f, p->master[i], ps->master, st)) return false;
        ps->step = p->pstep[i];
    }
    for (int g = 0; g < o->ngroups; g++) {
        o->groups[g].lr = p->lr[g];
        o->initial_lr[g] = p->initial_lr[g];
        o->groups[g].weight_decay = p->wd[g];
    }
    o->steps = p->steps;
    if (p->has_rng && s->rng) *s->rng = p->rng;
    s->data_position = p->position;
    return true;
}

bool ag_train_load(const char *dir, ag_train_state *s, ag_st_status *st) {
    job j;
    ag_st_file *fo = NULL, *fm = NULL;
    plan p = {0};
    bool ok = job_open(&j, dir, s, OP_LOAD, st);
    if (ok) ok = (fo = ag_st_open(j.opt_path, st)) != NULL;
    if (ok) ok = check_optimizer(&j, fo, s, &p, st);
    if (ok) ok = (fm = ag_st_open(j.model_path, st)) != NULL;
    int64_t mstep = -1;
    if (ok) ok = meta_i64(fm, "step", &mstep, st);
    if (ok && mstep != p.steps)
        ok = ag__st_set(st, AG_ST_MISMATCH, OP_LOAD, "%s: the model is at step %lld and the "
                        "optimizer (%s) at step %lld: not one checkpoint (a save stopped "
                        "between its two files?)", j.model_path, (long long)mstep,
                        j.opt_path, (long long)p.steps);
    if (ok) ok = make_buffers(&p, s->opt, st, j.opt_path);
    if (ok) {
        ag_load_result r;
        ok = ag__module_load_file(s->model, fm, NULL, &r);
        if (!ok && st) *st = r.status;
    }
    if (ok) ok = apply(&p, fo, s, st);
    if (ok) ag__st_ok(st);
    ag_st_close(fm);
    ag_st_close(fo);
    job_close(&j);
    return ok;
}
