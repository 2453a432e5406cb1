/* ag/optim.h — optimizers (SGD, Adam, AdamW, RMSprop, Adagrad, and types
 * a program writes), parameter groups, gradient clipping and learning-rate
 * schedules. PyTorch is the reference for every rule; where ag differs, the
 * comment says so.
 *
 * A training step:
 *
 *   ag_optim *opt = ag_adamw_new(P, ag_optim_groups_from_model(m, P, 3e-4, 0.1), NULL);
 *   ag_schedule sched = ag_schedule_warmup_cosine(100, 5000, 0.0);
 *   for (int64_t s = 0; s < 5000; s++) {
 *       ag_arena_reset(step);
 *       ag_tensor *loss = ...forward in step...;
 *       ag_backward(loss, NULL);
 *       ag_optim_clip_grad_norm(opt, 1.0, false);
 *       ag_schedule_apply(&sched, opt, s);
 *       ag_optim_step(opt);
 *       ag_optim_zero_grad(opt);
 *   }
 *
 * The optimizer, its copy of the parameter lists and options, and its
 * state (moments, momentum buffers, bf16 master copies) live in the arena
 * given to the constructor, normally the long-lived parameter arena;
 * nothing is freed one by one. A step works on the parameters' data with plain loops and
 * records no graph.
 *
 * Parameters of dtype f32 and f64 are updated in their own dtype (the
 * state has the parameter's dtype, as in PyTorch). A bf16 parameter gets
 * an f32 master copy in the state: the step reads the bf16 gradient as f32,
 * updates the master and writes it back rounded to nearest even, so updates
 * smaller than bf16's resolution are not lost.
 */
#ifndef AG_OPTIM_H
#define AG_OPTIM_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ag/module.h"
#include "ag/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- options ---------------------------------------------------------------
 * Fill options from the defaults functions and change what you need:
 *   ag_adam_opts o = ag_adamw_defaults(); o.lr = 3e-4;
 * (A zeroed struct is not "the defaults": weight_decay 0 and momentum 0 are
 * values in their own right.) Passing NULL for the options means the
 * defaults. Every hyperparameter must be finite: an inf or NaN one (lr =
 * inf, eps = NaN, ...) is reported by the constructor, as is one out of its
 * range. */

/* Adam and AdamW (torch.optim.Adam / AdamW). */
typedef struct ag_adam_opts {
    double lr;           /* finite, >= 0 */
    double beta1, beta2; /* each in [0, 1) */
    double eps;          /* >= 0 */
    double weight_decay; /* >= 0; Adam: L2 added to the gradient; AdamW: decoupled */
    bool amsgrad;        /* normalise by the running maximum of the second moment */
    bool maximize;       /* ascend: the gradient is negated */
} ag_adam_opts;

/* Adam: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0, no amsgrad,
 * no maximize. */
ag_adam_opts ag_adam_defaults(void);
/* AdamW: the same with weight_decay 1e-2. */
ag_adam_opts ag_adamw_defaults(void);

/* SGD (torch.optim.SGD). */
typedef struct ag_sgd_opts {
    double lr;           /* finite, >= 0 */
    double momentum;     /* >= 0; 0: plain SGD, no buffer */
    double dampening;    /* the momentum buffer takes (1 - dampening) * g */
    double weight_decay; /* >= 0; L2, added to the gradient */
    bool nesterov;       /* needs momentum > 0 and dampening 0 */
    bool maximize;
} ag_sgd_opts;

/* SGD: lr 1e-3, momentum 0, dampening 0, weight_decay 0, no nesterov, no
 * maximize (PyTorch's defaults). */
ag_sgd_opts ag_sgd_defaults(void);

/* RMSprop (torch.optim.RMSprop). */
typedef struct ag_rmsprop_opts {
    double lr;           /* finite, >= 0 */
    double alpha;        /* >= 0: smoothing constant of the square average */
    double eps;          /* >= 0 */
    double weight_decay; /* >= 0; L2, added to the gradient */
    double momentum;     /* >= 0; 0: no buffer */
    bool centered;       /* normalise by an estimate of the gradient's variance */
    bool maximize;
} ag_rmsprop_opts;

/* RMSprop: lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0, momentum 0, not
 * centered, no maximize (PyTorch's defaults). */
ag_rmsprop_opts ag_rmsprop_defaults(void);

/* Adagrad (torch.optim.Adagrad). */
typedef struct ag_adagrad_opts {
    double lr;                        /* finite, >= 0 */
    double lr_decay;                  /* >= 0: step t uses lr / (1 + (t-1)*lr_decay) */
    double weight_decay;              /* >= 0; L2, added to the gradient */
    double initial_accumulator_value; /* >= 0: where the sum of squares starts */
    double eps;                       /* >= 0 */
    bool maximize;
} ag_adagrad_opts;

/* Adagrad: lr 1e-2, lr_decay 0, weight_decay 0, initial_accumulator_value
 * 0, eps 1e-10, no maximize (PyTorch's defaults). */
ag_adagrad_opts ag_adagrad_defaults(void);

/* ---- parameter groups ------------------------------------------------------ */

/* A list of parameters with its own lr and weight decay (PyTorch's
 * param_groups). lr or weight_decay NAN means the optimizer's option
 * (AG_OPTIM_INHERIT spells it). The constructor copies the list; the
 * caller's array need not outlive the call. */
typedef struct ag_optim_group {
    ag_tensor **params;
    int nparams;
    double lr;
    double weight_decay;
} ag_optim_group;

#define AG_OPTIM_INHERIT NAN

/* {params, nparams, inherit, inherit}: one group of params. */
ag_optim_group ag_optim_group_of(ag_tensor **params, int nparams);

/* What every constructor takes: the groups with their count, and the model
 * they must cover (optional). The constructor copies the groups.
 *
 * With model set, the constructor checks that every parameter of the model
 * that requires a gradient is in exactly one group, and reports the first
 * one that is in none ("... is in no group") or in two ("... is in groups 0
 * and 1") under its dotted name. Frozen parameters may be in a group or
 * not; tensors that are not the model's may be added. Without a model only
 * a parameter listed twice is reported (without a name).
 *
 * ngroups < 0 marks a list whose building failed (and was reported, or was
 * given a NULL model from an earlier failure): a constructor given one
 * returns NULL without another report. */
typedef struct ag_optim_groups {
    ag_optim_group *groups;
    int ngroups;
    ag_module *model; /* NULL: no coverage check */
} ag_optim_groups;

/* A C array of groups (not a pointer: the count is the array's; GCC and
 * Clang warn on a pointer), with or without the model they must cover:
 *   ag_optim_group g[2] = {ag_optim_group_of(w, 3), ag_optim_group_of(b, 3)};
 *   g[1].weight_decay = 0;
 *   ag_optim *o = ag_adamw_new(P, AG_OPTIM_GROUPS_OF_MODEL(&net->base, g), NULL); */
#define AG_OPTIM_GROUPS(array) \
    ((ag_optim_groups){(array), (int)(sizeof(array) / sizeof((array)[0])), NULL})
#define AG_OPTIM_GROUPS_OF_MODEL(model, array) \
    ((ag_optim_groups){(array), (int)(sizeof(array) / sizeof((array)[0])), (model)})

/* One group g (no model). */
static inline ag_optim_groups ag_optim_groups_one(ag_optim_group *g) {
    return (ag_optim_groups){g, 1, NULL};
}

static inline ag_optim_groups ag__site_pop_optim_groups(ag_optim_groups v) {
    ag__site_pop();
    return v;
}

/* One group (lr and weight decay inherited) of every parameter of m that
 * requires a gradient, in ag_module_visit_params order (a parameter under
 * two names once), with model m; the arrays live in A. A NULL m (an earlier
 * failure) gives ngroups -1 without a report; a NULL A is reported (ngroups
 * -1), as is A running out of memory. */
ag_optim_groups ag_optim_groups_of_module_(ag_module *m, ag_arena *A);
#define ag_optim_groups_of_module(...) AG_AT_VIA(ag_optim_groups_of_module_, ag__site_pop_optim_groups, __VA_ARGS__)

/* Hugging Face Trainer's two groups, by ag_param_is_no_decay (ag/registry.h),
 * with model m:
 *   groups[0] the parameters that decay: weight_decay as given;
 *   groups[1] the parameters of registered norm layers and every parameter
 *             whose dotted name contains "bias": weight_decay 0.
 * Both get lr (AG_OPTIM_INHERIT: the optimizer's). Parameters that do not
 * require a gradient are left out, as the Trainer does. The arrays live in
 * A; a group may be empty. Failures as ag_optim_groups_of_module. */
ag_optim_groups ag_optim_groups_from_model_(ag_module *m, ag_arena *A, double lr,
                                            double weight_decay);
#define ag_optim_groups_from_model(...) AG_AT_VIA(ag_optim_groups_from_model_, ag__site_pop_optim_groups, __VA_ARGS__)


/* ---- the optimizer ---------------------------------------------------------- */

typedef struct ag_optim ag_optim;
typedef struct ag_optim_type ag_optim_type;

/* A named state buffer of one parameter (an entry of PyTorch's
 * optimizer.state[p]). */
typedef struct ag_optim_buffer {
    const char *name;  /* the state key: "exp_avg", "momentum_buffer", ... */
    ag_tensor *tensor; /* NULL until the parameter's first step */
} ag_optim_buffer;

/* The state of one parameter (PyTorch's optimizer.state[p]). Buffers are
 * made on the first step that finds a gradient for the parameter; they have
 * the parameter's shape and its compute dtype (f32 for a bf16 parameter,
 * else the parameter's dtype). Which buffers a parameter has depends on the
 * optimizer and its options (Adam: exp_avg, exp_avg_sq, and max_exp_avg_sq
 * with amsgrad); ag_optim_state_buffer finds one by name. */
typedef struct ag_optim_state {
    ag_tensor *param;
    int group;                /* index into groups */
    int64_t step;             /* steps that updated this parameter (state['step']) */
    int nbuffers;
    ag_optim_buffer *buffers; /* nbuffers entries, in the type's order */
    ag_tensor *master;        /* bf16 parameters: the f32 master copy */
} ag_optim_state;

/* Fields a user may read. A program may also write groups[g].lr (what
 * ag_optim_set_lr and schedules do) and groups[g].weight_decay; a
 * checkpoint loader may fill the state's tensors (allocating in arena). */
struct ag_optim {
    const ag_optim_type *type;
    const char *name;      /* type->name: "SGD", "Adam", "AdamW", ... */
    ag_arena *arena;       /* the optimizer and its state live here */
    const void *opts;      /* the optimizer's copy of its options (type->opts_size
                            * bytes: an ag_adam_opts for Adam and AdamW, ...);
                            * lr and weight_decay in it: see groups */
    int ngroups;
    ag_optim_group *groups; /* resolved: lr and weight_decay are never NAN */
    double *initial_lr;    /* per group: the lr at construction (schedules scale it) */
    int nparams;
    ag_optim_state *state; /* nparams entries, group after group */
    int64_t steps;         /* ag_optim_step calls so far */
};

/* ---- optimizer types -----------------------------------------------------------
 * An optimizer is a type (a static descriptor, as ag_op is for ops and
 * ag_module_type for modules) and a copy of its options. The generic part
 * (ag_optim_new, ag_optim_step, zero_grad, lr, state lookup) owns the
 * groups, the per-parameter state, the step loop and the bf16 master
 * copies, and knows no optimizer; the type owns its options and its update
 * rule. SGD, Adam, AdamW, RMSprop and Adagrad below are types like one a
 * program writes:
 *
 *   typedef struct { double lr, beta; } lion_opts;
 *   static bool lion_check(const void *opts, char *why, size_t size) {...}
 *   static void lion_update(const ag_optim *o, ag_optim_state *st, double lr,
 *                           double weight_decay) {...}
 *   static const ag_optim_type LION = {
 *       .name = "Lion", .buffers = {"exp_avg"}, .opts_size = sizeof(lion_opts),
 *       .check = lion_check, .update = lion_update,
 *   };
 *   lion_opts lo = {1e-4, 0.9};
 *   ag_optim *o = ag_optim_new(P, &LION, &lo, groups, lo.lr, 0.0);
 *
 * The contract of update(o, st, lr, weight_decay). ag_optim_step calls it
 * once per parameter that has a gradient, one parameter at a time, with:
 *   - lr and weight_decay: the parameter's group's (resolved, >= 0);
 *     o->opts: the optimizer's copy of the options, valid by check;
 *   - st->step already incremented (1 on the parameter's first update);
 *   - every buffer of st->buffers made: the type's names kept by
 *     uses_buffer, each with the parameter's shape and compute dtype (f32
 *     for a bf16 parameter, else the parameter's dtype), zeroed before the
 *     first update. An update that starts a buffer elsewhere does it when
 *     st->step == 1 (SGD's momentum buffer takes the first gradient,
 *     Adagrad's sum takes initial_accumulator_value). ag_optim_state_buffer
 *     (st, "exp_avg") finds one;
 *   - st->param->grad of the parameter's dtype and numel (checked before).
 * An f32 or f64 parameter is updated in place in its own dtype
 * (st->param->data). A bf16 parameter has an f32 master copy, st->master
 * (made from the parameter on its first step): the update reads the bf16
 * gradient as f32 (ag_bf16_to_f32), updates the master, and writes every
 * element of the parameter back as the master rounded (ag_f32_to_bf16);
 * the master, not the bf16 data, carries the value from step to step.
 * update may read and write the parameter's data, the master and the
 * buffers, and may thread its loops; it must not change the gradient,
 * record a graph, allocate per step, or keep pointers past the call. It
 * cannot fail and reports nothing: options are checked once, at
 * construction. */

/* Most state buffers one type can name. */
#define AG_OPTIM_MAX_BUFFERS 8

struct ag_optim_type {
    const char *name; /* "AdamW": the optimizer's name in o->name and reports */
    /* The names of the per-parameter state buffers update may use (PyTorch's
     * state keys), NULL after the last. */
    const char *buffers[AG_OPTIM_MAX_BUFFERS];
    /* Does an optimizer with these options use buffer name? Those it does
     * not use are never made (Adam without amsgrad has no max_exp_avg_sq).
     * NULL: every buffer is used. */
    bool (*uses_buffer)(const void *opts, const char *name);
    size_t opts_size; /* bytes of the options struct that ag_optim_new copies */
    /* Are the options valid? If not, writes why (one line, e.g. "invalid
     * beta1 1: expected a value in [0, 1)") into why[size] and returns
     * false; the constructor reports it. NULL: every option is valid. */
    bool (*check)(const void *opts, char *why, size_t size);
    /* One parameter's update (the contract is above). */
    void (*update)(const ag_optim *o, ag_optim_state *st, double lr, double weight_decay);
};

/* The built-in types; o->type is one of them for the optimizers that the
 * constructors below make. */
extern const ag_optim_type ag_sgd_type, ag_adam_type, ag_adamw_type, ag_rmsprop_type,
    ag_adagrad_type;

/* A new optimizer of type over the parameter groups, in P: opts
 * (type->opts_size bytes; NULL only when that is 0) is copied; groups whose
 * lr or weight_decay is AG_OPTIM_INHERIT take lr and weight_decay. Reports
 * and returns NULL (PyTorch's checks): a NULL type, name or update; opts NULL
 * with opts_size > 0; options refused by type->check; a NULL arena; no
 * groups (ngroups 0 or the list NULL); a group's list NULL with nparams > 0
 * or nparams < 0; a parameter that is i32 or not a leaf; a parameter listed
 * twice; no parameters at all; lr or weight decay < 0 or not finite after
 * resolving the groups; with groups.model, a trainable parameter of the
 * model in no group or in two (named). A NULL parameter or ngroups < 0 (an
 * earlier failure) returns NULL without a report. */
ag_optim *ag_optim_new_(ag_arena *P, const ag_optim_type *type, const void *opts,
                        ag_optim_groups groups, double lr, double weight_decay);
#define ag_optim_new(...) AG_AT_PTR(ag_optim_new_, ag_optim *, __VA_ARGS__)

/* New SGD, Adam and AdamW optimizers: ag_optim_new with the type, the
 * options (opts NULL: the defaults) and their lr and weight_decay; reports
 * under "sgd_new", "adam_new", "adamw_new". Options refused: lr or eps or
 * weight decay < 0 or not finite; a beta outside [0, 1); momentum < 0 or
 * not finite; dampening NAN; nesterov without momentum > 0 and dampening
 * 0. */
ag_optim *ag_adamw_new_(ag_arena *P, ag_optim_groups groups, const ag_adam_opts *opts);
ag_optim *ag_adam_new_(ag_arena *P, ag_optim_groups groups, const ag_adam_opts *opts);
ag_optim *ag_sgd_new_(ag_arena *P, ag_optim_groups groups, const ag_sgd_opts *opts);
#define ag_adamw_new(...) AG_AT_PTR(ag_adamw_new_, ag_optim *, __VA_ARGS__)
#define ag_adam_new(...) AG_AT_PTR(ag_adam_new_, ag_optim *, __VA_ARGS__)
#define ag_sgd_new(...) AG_AT_PTR(ag_sgd_new_, ag_optim *, __VA_ARGS__)

/* New RMSprop and Adagrad optimizers, as above (reports under
 * "rmsprop_new", "adagrad_new"). Options refused: RMSprop: lr, eps,
 * weight_decay, momentum or alpha < 0 or not finite; Adagrad: lr, lr_decay,
 * weight_decay, initial_accumulator_value or eps < 0 or not finite. */
ag_optim *ag_rmsprop_new_(ag_arena *P, ag_optim_groups groups, const ag_rmsprop_opts *opts);
ag_optim *ag_adagrad_new_(ag_arena *P, ag_optim_groups groups, const ag_adagrad_opts *opts);
#define ag_rmsprop_new(...) AG_AT_PTR(ag_rmsprop_new_, ag_optim *, __VA_ARGS__)
#define ag_adagrad_new(...) AG_AT_PTR(ag_adagrad_new_, ag_optim *, __VA_ARGS__)

/* One optimization step over every parameter that has a gradient
 * (parameters whose grad is NULL are skipped, as PyTorch skips grad None;
 * their state and step count do not change): the bf16 master copy and the
 * state buffers are made on a parameter's first step, its step count goes
 * up, and its type's update runs with its group's lr and weight decay. The
 * built-in rules, t = the parameter's step count after +1:
 *
 * Adam / AdamW (amsgrad: vmax = max(vmax, v), used in place of v):
 *   g = maximize ? -grad : grad
 *   AdamW: p = p * (1 - lr*wd)          Adam: g = g + wd*p   (when wd != 0)
 *   m = beta1*m + (1-beta1)*g
 *   v = beta2*v + (1-beta2)*g*g
 *   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
 *   p = p + (-lr / (1 - beta1^t)) * m / denom
 * SGD:
 *   g = maximize ? -grad : grad;  g = g + wd*p  (when wd != 0)
 *   momentum != 0: b = (t == 1) ? g : momentum*b + (1-dampening)*g;
 *                  g = nesterov ? g + momentum*b : b
 *   p = p + (-lr)*g
 * RMSprop (centered: a = lerp(a, g, 1-alpha) = a + (1-alpha)*(g - a)):
 *   g = maximize ? -grad : grad;  g = g + wd*p  (when wd != 0)
 *   v = alpha*v + (1-alpha)*g*g
 *   avg = sqrt(centered ? v - a*a : v) + eps
 *   momentum > 0: b = momentum*b + g/avg;  p = p + (-lr)*b
 *   else:         p = p + (-lr)*g/avg
 * Adagrad (s starts at initial_accumulator_value):
 *   g = maximize ? -grad : grad;  g = g + wd*p  (when wd != 0)
 *   s = s + g*g
 *   p = p + (-lr / (1 + (t-1)*lr_decay))*g / (sqrt(s) + eps)
 *
 * Scalars are computed in double and used in the parameter's compute
 * dtype. Reports and returns false when a parameter changed dtype or shape
 * since its state was made (e.g. ag_module_cast after building the
 * optimizer); parameters before it have been updated. NULL: false, no
 * report.
 *
 * NaN and inf are not checked (as in PyTorch; ag_clip_grad_norm with
 * error_if_nonfinite, or anomaly detection in ag/engine.h, finds them) and
 * stay element by element: a NaN or +-inf gradient entry makes that
 * parameter entry NaN (Adam and AdamW: m and v become NaN or inf, and
 * m / denom is inf/inf) and its state NaN or inf for good, so it stays NaN
 * in every later step; the other entries are updated as usual. */
bool ag_optim_step_(ag_optim *o);
#define ag_optim_step(...) AG_AT_BOOL(ag_optim_step_, __VA_ARGS__)

/* Zeroes the gradient of every parameter of o (keeps the buffers: PyTorch's
 * zero_grad(set_to_none=False); a zeroed gradient is still "present", so
 * the next step updates that parameter with g = 0). NULL: nothing. */
void ag_optim_zero_grad(ag_optim *o);

/* Sets the lr of every group (initial_lr is kept). Reports lr < 0, inf or NAN
 * and returns false. */
bool ag_optim_set_lr_(ag_optim *o, double lr);
#define ag_optim_set_lr(...) AG_AT_BOOL(ag_optim_set_lr_, __VA_ARGS__)

/* The state of param in o, or NULL when param is not one of o's. */
ag_optim_state *ag_optim_state_of(ag_optim *o, const ag_tensor *param);

/* The state buffer named name ("exp_avg", ...) of st, or NULL when st has
 * none by that name (the optimizer does not use it with its options) or it
 * is not made yet (the parameter has not been updated). NULL st or name:
 * NULL. */
ag_tensor *ag_optim_state_buffer(const ag_optim_state *st, const char *name);

/* ---- gradient clipping ----------------------------------------------------------
 * Parameters without a gradient are ignored. Sums are taken in double. */

/* torch.nn.utils.clip_grad_norm_: total = the L2 norm of all gradients
 * together; every gradient is multiplied by min(1, max_norm/(total + 1e-6)).
 * Returns total, the norm before clipping (0 when no parameter has a
 * gradient). A non-finite total (a gradient holding inf or NaN): with
 * error_if_nonfinite it is reported, the gradients are left as they are and
 * the total is returned; otherwise the gradients are scaled as PyTorch does
 * (inf total: coefficient 0, so finite entries become 0 and infinite ones
 * NaN; NaN total: every entry NaN). Reports max_norm < 0 or NAN (inf is
 * allowed: no clipping), or n < 0, and returns -1; a NULL list with n > 0
 * or a NULL entry returns -1 without a report (an earlier failure). */
double ag_clip_grad_norm_(ag_tensor *const *params, int n, double max_norm,
                          bool error_if_nonfinite);
double ag_optim_clip_grad_norm_(ag_optim *o, double max_norm, bool error_if_nonfinite);
#define ag_clip_grad_norm(...) AG_AT_DOUBLE(ag_clip_grad_norm_, __VA_ARGS__)
#define ag_optim_clip_grad_norm(...) AG_AT_DOUBLE(ag_optim_clip_grad_norm_, __VA_ARGS__)

/* torch.nn.utils.clip_grad_value_: every gradient element is clamped to
 * [-clip_value, clip_value]: +-inf becomes +-clip_value, NaN stays NaN
 * (torch.clamp). Reports clip_value < 0 or NAN (inf is allowed: no
 * clamping), or n < 0, and returns false; a NULL list with n > 0 or a NULL
 * entry returns false without a report. */
bool ag_clip_grad_value_(ag_tensor *const *params, int n, double clip_value);
bool ag_optim_clip_grad_value_(ag_optim *o, double clip_value);
#define ag_clip_grad_value(...) AG_AT_BOOL(ag_clip_grad_value_, __VA_ARGS__)
#define ag_optim_clip_grad_value(...) AG_AT_BOOL(ag_optim_clip_grad_value_, __VA_ARGS__)

/* ---- learning-rate schedules --------------------------------------------------
 * A schedule is a factor of the step; applying it sets every group's lr to
 * initial_lr * factor(step) (PyTorch's LambdaLR, as the Hugging Face
 * schedules use it). step counts the optimizer steps taken before the one
 * about to run: call ag_schedule_apply(&s, o, o->steps) right before
 * ag_optim_step(o), so the first step runs with factor(0). */

typedef enum {
    AG_SCHEDULE_CONSTANT,      /* 1 */
    AG_SCHEDULE_WARMUP_COSINE, /* linear warmup, then half a cosine down to min_ratio */
    AG_SCHEDULE_LINEAR,        /* linear warmup, then linear decay to 0 at total_steps */
    AG_SCHEDULE_STEP,          /* gamma^floor(step / step_size) */
} ag_schedule_kind;

typedef struct ag_schedule {
    ag_schedule_kind kind;
    int64_t warmup_steps; /* warmup kinds: factor step/warmup_steps while step < warmup_steps */
    int64_t total_steps;  /* warmup kinds: where the decay ends */
    double min_ratio;     /* warmup-cosine: the floor, as a fraction of initial_lr */
    int64_t step_size;    /* step decay: steps between decays */
    double gamma;         /* step decay: factor per decay */
} ag_schedule;

/* Constructors (no checks; ag_schedule_factor checks). */
ag_schedule ag_schedule_constant(void);
/* Hugging Face get_cosine_schedule_with_warmup (min_ratio 0) and
 * get_cosine_with_min_lr_schedule_with_warmup (min_lr_rate = min_ratio):
 *   step < warmup:  step / max(1, warmup)
 *   otherwise:      progress = min(1, (step - warmup) / max(1, total - warmup))
 *                   0.5 * (1 + cos(pi * progress)) * (1 - min_ratio) + min_ratio
 * After total_steps the factor stays at min_ratio (Hugging Face's formula
 * would climb back up the cosine). */
ag_schedule ag_schedule_warmup_cosine(int64_t warmup_steps, int64_t total_steps,
                                      double min_ratio);
/* Hugging Face get_linear_schedule_with_warmup:
 *   step < warmup:  step / max(1, warmup)
 *   otherwise:      max(0, (total - step) / max(1, total - warmup)) */
ag_schedule ag_schedule_linear(int64_t warmup_steps, int64_t total_steps);
/* torch.optim.lr_scheduler.StepLR: gamma^floor(step / step_size). */
ag_schedule ag_schedule_step(int64_t step_size, double gamma);

/* The factor at step (>= 0). Reports and returns NAN for a NULL schedule, a
 * negative step, or bad fields (warmup < 0, total_steps < 1 or < warmup,
 * min_ratio outside [0, 1], step_size < 1, gamma < 0 or NAN, an unknown
 * kind). */
double ag_schedule_factor_(const ag_schedule *s, int64_t step);
#define ag_schedule_factor(...) AG_AT_DOUBLE(ag_schedule_factor_, __VA_ARGS__)

/* Sets every group's lr of o to initial_lr * factor(step); returns false
 * (after the report) when the factor is NAN, leaving the lrs unchanged.
 * NULL o: false, no report. */
bool ag_schedule_apply_(const ag_schedule *s, ag_optim *o, int64_t step);
#define ag_schedule_apply(...) AG_AT_BOOL(ag_schedule_apply_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
