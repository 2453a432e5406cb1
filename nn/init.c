/* nn/init.c — parameter initialisation (see ag/init.h). */
#include <math.h>

#include "ag/nn.h"
#include "internal.h"

static bool fillable(const char *op, const ag_tensor *t) {
    if (!t) {
        ag__fail(op, "tensor is NULL");
        return false;
    }
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

bool ag_init_constant_(ag_tensor *t, double value) {
    if (!fillable("init_constant", t)) return false;
    for (int64_t i = 0; i < t->numel; i++) ag_set_flat_(t, i, value);
    return true;
}

bool ag_init_ones_(ag_tensor *t) { return ag_init_constant_(t, 1.0); }
bool ag_init_zeros_(ag_tensor *t) { return ag_init_constant_(t, 0.0); }

bool ag_init_uniform_(ag_tensor *t, ag_rng *r, double lo, double hi) {
    if (!fillable("init_uniform", t) || !rng_ok("init_uniform", t, r)) return false;
    if (!(lo <= hi)) {
        ag__fail("init_uniform", "bounds [%g, %g) for %s: expected lo <= hi", lo, hi, ag__shp(t));
        return false;
    }
    for (int64_t i = 0; i < t->numel; i++) ag_set_flat_(t, i, lo + (hi - lo) * ag_rng_uniform(r));
    return true;
}

bool ag_init_normal_(ag_tensor *t, ag_rng *r, double mean, double std) {
    if (!fillable("init_normal", t) || !rng_ok("init_normal", t, r)) return false;
    if (!(std >= 0)) {
        ag__fail("init_normal", "std %g for %s: expected std >= 0", std, ag__shp(t));
        return false;
    }
    for (int64_t i = 0; i < t->numel; i++) ag_set_flat_(t, i, mean + std * ag_rng_normal(r));
    return true;
}

bool ag_init_kaiming_uniform_(ag_tensor *t, ag_rng *r, double a) {
    if (!fillable("init_kaiming_uniform", t) || !rng_ok("init_kaiming_uniform", t, r))
        return false;
    int64_t fan_in = 1;
    for (int d = 1; d < t->ndim; d++) fan_in *= t->shape[d];
    if (fan_in == 0) return true; /* nothing to fill (PyTorch warns and skips) */
    double bound = sqrt(2.0 / (1.0 + a * a)) * sqrt(3.0 / (double)fan_in);
    return ag_init_uniform_(t, r, -bound, bound);
}

bool ag_init_post_norm_(ag_tensor *t, ag_rng *r) { return ag_init_normal_(t, r, 1.0, 0.02); }
