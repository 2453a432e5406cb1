/* optim/schedule.c — learning-rate schedules: a factor of the step that
 * multiplies every group's initial lr (PyTorch's LambdaLR, the way the
 * Hugging Face schedules use it). See ag/optim.h for the formulas. */
#include "internal.h"
#include "optim_internal.h"

static const double PI = 3.14159265358979323846;

ag_schedule ag_schedule_constant(void) { return (ag_schedule){.kind = AG_SCHEDULE_CONSTANT}; }

ag_schedule ag_schedule_warmup_cosine(int64_t warmup_steps, int64_t total_steps,
                                      double min_ratio) {
    return (ag_schedule){.kind = AG_SCHEDULE_WARMUP_COSINE, .warmup_steps = warmup_steps,
                         .total_steps = total_steps, .min_ratio = min_ratio};
}

ag_schedule ag_schedule_linear(int64_t warmup_steps, int64_t total_steps) {
    return (ag_schedule){.kind = AG_SCHEDULE_LINEAR, .warmup_steps = warmup_steps,
                         .total_steps = total_steps};
}

ag_schedule ag_schedule_step(int64_t step_size, double gamma) {
    return (ag_schedule){.kind = AG_SCHEDULE_STEP, .step_size = step_size, .gamma = gamma};
}

static double max1(int64_t n) { return n > 1 ? (double)n : 1.0; }

/* The warmup kinds' common checks. */
static bool warmup_ok(const ag_schedule *s) {
    if (s->warmup_steps < 0 || s->total_steps < 1 || s->total_steps < s->warmup_steps) {
        ag__fail("schedule_factor", "warmup_steps %lld and total_steps %lld: expected "
                 "0 <= warmup_steps <= total_steps and total_steps >= 1",
                 (long long)s->warmup_steps, (long long)s->total_steps);
        return false;
    }
    return true;
}

double ag_schedule_factor_(const ag_schedule *s, int64_t step) {
    const char *op = "schedule_factor";
    if (!s) {
        ag__fail(op, "schedule is NULL");
        return NAN;
    }
    if (step < 0) {
        ag__fail(op, "step %lld: expected step >= 0", (long long)step);
        return NAN;
    }
    switch (s->kind) {
    case AG_SCHEDULE_CONSTANT: return 1.0;
    case AG_SCHEDULE_WARMUP_COSINE: {
        if (!warmup_ok(s)) return NAN;
        if (!(s->min_ratio >= 0 && s->min_ratio <= 1)) {
            ag__fail(op, "min_ratio %g: expected a value in [0, 1]", s->min_ratio);
            return NAN;
        }
        if (step < s->warmup_steps) return (double)step / max1(s->warmup_steps);
        double progress = (double)(step - s->warmup_steps) / max1(s->total_steps - s->warmup_steps);
        if (progress > 1) progress = 1; /* stay at the floor after total_steps */
        const double f = 0.5 * (1.0 + cos(PI * progress));
        return f * (1 - s->min_ratio) + s->min_ratio; /* Hugging Face's order */
    }
    case AG_SCHEDULE_LINEAR: {
        if (!warmup_ok(s)) return NAN;
        if (step < s->warmup_steps) return (double)step / max1(s->warmup_steps);
        double f = (double)(s->total_steps - step) / max1(s->total_steps - s->warmup_steps);
        return f > 0 ? f : 0.0;
    }
    case AG_SCHEDULE_STEP:
        if (s->step_size < 1 || !(s->gamma >= 0 && isfinite(s->gamma))) {
            ag__fail(op, "step_size %lld and gamma %g: expected step_size >= 1 and a finite "
                         "gamma >= 0",
                     (long long)s->step_size, s->gamma);
            return NAN;
        }
        return pow(s->gamma, (double)(step / s->step_size));
    default:
        ag__fail(op, "unknown schedule kind %d", (int)s->kind);
        return NAN;
    }
}

bool ag_schedule_apply_(const ag_schedule *s, ag_optim *o, int64_t step) {
    if (!o) return false;
    double f = ag_schedule_factor_(s, step);
    if (isnan(f)) return false;
    for (int g = 0; g < o->ngroups; g++) o->groups[g].lr = o->initial_lr[g] * f;
    return true;
}
