/* nn/init.c — parameter initialisation (see ag/init.h). */
#include <math.h>

#include "ag/nn.h"
#include "internal.h"

/* The checks and fills behind the public initialisers; op is the public
 * function's name, under which every report is made. */
static bool fillable(const char *op, const ag_tensor *t) {
    if (!t) {
        ag__fail(op, "tensor is NULL");
        return false;
    }
    if (!ag__check_live(op, t)) return false;
    if (t->op || !ag_dtype_is_float(t->dtype)) {
        ag__fail(op, "%s %s must be a float leaf tensor (a parameter)", ag_dtype_name(t->dtype),
                 ag__shp(t));
        return false;
    }
    return true;
}

static bool rng_ok(const char *op, const ag_tensor *t, const ag_rng *r) {
    if (r) return true;
    ag__fail(op, "rng is NULL for %s", ag__shp(t));
    return false;
}

static bool init_constant(const char *op, ag_tensor *t, double value) {
    if (!fillable(op, t)) return false;
    for (int64_t i = 0; i < t->numel; i++) ag_set_flat_(t, i, value);
    return true;
}

static bool init_uniform(const char *op, ag_tensor *t, ag_rng *r, double lo, double hi) {
    if (!fillable(op, t) || !rng_ok(op, t, r)) return false;
    if (!ag__uniform_ok(op, t->dtype, lo, hi, ag__shp(t))) return false;
    for (int64_t i = 0; i < t->numel; i++) ag_set_flat_(t, i, lo + (hi - lo) * ag_rng_uniform(r));
    return true;
}

static bool init_normal(const char *op, ag_tensor *t, ag_rng *r, double mean, double std) {
    if (!fillable(op, t) || !rng_ok(op, t, r)) return false;
    if (!ag__normal_ok(op, mean, std, ag__shp(t))) return false;
    for (int64_t i = 0; i < t->numel; i++) ag_set_flat_(t, i, mean + std * ag_rng_normal(r));
    return true;
}

bool ag_init_constant_(ag_tensor *t, double value) {
    return init_constant("init_constant", t, value);
}
bool ag_init_ones_(ag_tensor *t) { return init_constant("init_ones", t, 1.0); }
bool ag_init_zeros_(ag_tensor *t) { return init_constant("init_zeros", t, 0.0); }

bool ag_init_uniform_(ag_tensor *t, ag_rng *r, double lo, double hi) {
    return init_uniform("init_uniform", t, r, lo, hi);
}

bool ag_init_normal_(ag_tensor *t, ag_rng *r, double mean, double std) {
    return init_normal("init_normal", t, r, mean, std);
}

bool ag_init_kaiming_uniform_(ag_tensor *t, ag_rng *r, double a) {
    const char *op = "init_kaiming_uniform";
    if (!fillable(op, t) || !rng_ok(op, t, r)) return false;
    if (!isfinite(a)) {
        ag__fail(op, "negative slope a = %g for %s: expected a finite number", a, ag__shp(t));
        return false;
    }
    int64_t fan_in = 1;
    for (int d = 1; d < t->ndim; d++) fan_in *= t->shape[d];
    if (fan_in == 0) return true; /* nothing to fill (PyTorch warns and skips) */
    double bound = sqrt(2.0 / (1.0 + a * a)) * sqrt(3.0 / (double)fan_in);
    return init_uniform(op, t, r, -bound, bound);
}

bool ag_init_post_norm_(ag_tensor *t, ag_rng *r) {
    return init_normal("init_post_norm", t, r, 1.0, 0.02);
}
