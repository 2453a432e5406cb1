/* core/anomaly.c — anomaly detection: finding the op that first produced a
 * NaN or an infinity (ag_set_detect_anomaly in ag/engine.h).
 *
 * The engine calls in here only when the mode is on: after each op's forward
 * (from ag__record, which every op reaches on its way out) and after each
 * node's backward. An op is reported when it made a NaN that none of its
 * inputs held, or an infinity from inputs that held neither NaN nor
 * infinity: what merely travels through is not reported again.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The first NaN and the first infinity of a tensor (-1: none). */
typedef struct {
    int64_t nan_at, inf_at;
} finds;

static void note(finds *f, int64_t i, double v) {
    if (isnan(v) && f->nan_at < 0) f->nan_at = i;
    if (isinf(v) && f->inf_at < 0) f->inf_at = i;
}

/* Scans t (a float tensor; anything else holds neither); stops early once
 * both kinds are found. */
static finds scan(const ag_tensor *t) {
    finds f = {-1, -1};
    if (!t || !ag_dtype_is_float(t->dtype)) return f;
    const int64_t n = t->numel;
    for (int64_t i = 0; i < n && (f.nan_at < 0 || f.inf_at < 0); i++) {
        double v;
        if (t->dtype == AG_F32) v = ((const float *)t->data)[i];
        else if (t->dtype == AG_F64) v = ((const double *)t->data)[i];
        else v = ag_bf16_to_f32(((const uint16_t *)t->data)[i]);
        if (isfinite(v)) continue;
        note(&f, i, v);
    }
    return f;
}

/* Whether what `out` holds was made here, given what its inputs held: a NaN
 * not among the inputs, or an infinity from inputs with neither. Sets *kind
 * and *at to the first such element. */
static bool produced(finds out, bool in_nan, bool in_inf, const char **kind, int64_t *at) {
    if (out.nan_at >= 0 && !in_nan) {
        *kind = "nan";
        *at = out.nan_at;
        return true;
    }
    if (out.inf_at >= 0 && !in_nan && !in_inf) {
        *kind = "inf";
        *at = out.inf_at;
        return true;
    }
    return false;
}

/* "[2,3], [3]" into buf: the shapes of the n tensors of ts. */
static const char *shapes_of(int n, ag_tensor *const *ts, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && k < size; i++) {
        const char *s = ts[i] ? ag__shp(ts[i]) : "(none)";
        k += (size_t)snprintf(buf + k, size - k, i ? ", %s" : "%s", s);
    }
    return n ? buf : "none";
}

bool ag__anomaly_forward(ag_tensor *out, const ag_op *op, int n, ag_tensor *const *srcs,
                         bool check) {
    ag__call_site(&out->site.file, &out->site.line);
    if (!check) return true;
    const finds fo = scan(out);
    if (fo.nan_at < 0 && fo.inf_at < 0) return true;
    bool in_nan = false, in_inf = false;
    for (int i = 0; i < n; i++) {
        const finds fi = scan(srcs[i]);
        in_nan = in_nan || fi.nan_at >= 0;
        in_inf = in_inf || fi.inf_at >= 0;
    }
    const char *kind;
    int64_t at;
    if (!produced(fo, in_nan, in_inf, &kind, &at)) return true;
    char ins[160];
    ag__fail(op->name, "anomaly: produced %s at element %lld of its output %s %s from inputs "
             "%s holding %s", kind, (long long)at, ag_dtype_name(out->dtype), ag__shp(out),
             shapes_of(n, srcs, ins, sizeof ins), in_inf ? "no nan" : "no nan or inf");
    return false;
}

bool ag__anomaly_backward(const ag_tensor *t) {
    const finds fg = scan(t->grad);
    if (fg.nan_at >= 0 || fg.inf_at >= 0) return true; /* came from further down */
    for (int i = 0; i < t->nsrc; i++) {
        const ag_tensor *s = t->src[i];
        if (!s || !s->requires_grad || !s->grad) continue;
        const char *kind;
        int64_t at;
        if (!produced(scan(s->grad), false, false, &kind, &at)) continue;
        char name[64], where[160] = "";
        snprintf(name, sizeof name, "%s backward", t->op->name);
        if (t->site.file)
            snprintf(where, sizeof where, "; the forward %s was called at %s:%d",
                     t->op->name, t->site.file, t->site.line);
        ag__fail(name, "anomaly: produced %s at element %lld of the gradient of input %d "
                 "(%s %s) from an output gradient %s holding no nan or inf%s", kind,
                 (long long)at, i, ag_dtype_name(s->dtype), ag__shp(s), ag__shp(t->grad), where);
        return false;
    }
    return true;
}
