/* ag/optim.h — optimizers (SGD, Adam, AdamW), parameter groups, gradient
 * clipping and learning-rate schedules. PyTorch is the reference for every
 * rule; where ag differs, the comment says so.
 *
 * A training step:
 *
 *   ag_optim *opt = ag_adamw_new(P, ag_optim_groups_from_model(m, P, 3e-4, 0.1), 2, NULL);
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
 * The optimizer, its copy of the parameter lists and its state (moments,
 * momentum buffers, bf16 master copies) live in the arena given to the
 * constructor, normally the long-lived parameter arena; nothing is freed
 * one by one. A step works on the parameters' data with plain loops and
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
 * defaults. */

/* Adam and AdamW (torch.optim.Adam / AdamW). */
typedef struct ag_adam_opts {
    double lr;           /* >= 0 */
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
    double lr;           /* >= 0 */
    double momentum;     /* >= 0; 0: plain SGD, no buffer */
    double dampening;    /* the momentum buffer takes (1 - dampening) * g */
    double weight_decay; /* >= 0; L2, added to the gradient */
    bool nesterov;       /* needs momentum > 0 and dampening 0 */
    bool maximize;
} ag_sgd_opts;

/* SGD: lr 1e-3, momentum 0, dampening 0, weight_decay 0, no nesterov, no
 * maximize (PyTorch's defaults). */
ag_sgd_opts ag_sgd_defaults(void);

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

/* One group (lr and weight decay inherited) of every parameter of m that
 * requires a gradient, in ag_module_visit_params order; the array lives in
 * A. A NULL m gives an empty group (nparams 0) without a report. */
ag_optim_group ag_optim_group_of_module_(ag_module *m, ag_arena *A);
#define ag_optim_group_of_module(...) AG_AT(ag_optim_group_of_module_, __VA_ARGS__)

/* Hugging Face Trainer's two groups, from ag_decay_groups (ag/registry.h):
 *   [0] the parameters that decay: weight_decay as given;
 *   [1] the parameters of registered norm layers and every parameter whose
 *       dotted name contains "bias": weight_decay 0.
 * Both get lr (AG_OPTIM_INHERIT: the optimizer's). Parameters that do not
 * require a gradient are left out, as the Trainer does. Returns the two
 * groups in A (pass them with ngroups 2), or NULL for a NULL m or A (a NULL
 * A is reported). A group may be empty. */
ag_optim_group *ag_optim_groups_from_model_(ag_module *m, ag_arena *A, double lr,
                                            double weight_decay);
#define ag_optim_groups_from_model(...) AG_AT(ag_optim_groups_from_model_, __VA_ARGS__)

/* ---- the optimizer ---------------------------------------------------------- */

typedef enum { AG_OPTIM_SGD, AG_OPTIM_ADAM, AG_OPTIM_ADAMW } ag_optim_kind;

/* The state of one parameter (PyTorch's optimizer.state[p]). Tensors are
 * NULL until the first step that finds a gradient for the parameter (state
 * is allocated on first use); they have the parameter's shape and its
 * compute dtype (f32 for a bf16 parameter, else the parameter's dtype). */
typedef struct ag_optim_state {
    ag_tensor *param;
    int group;                 /* index into groups */
    int64_t step;              /* steps that updated this parameter (state['step']) */
    ag_tensor *exp_avg;        /* Adam, AdamW: first moment m */
    ag_tensor *exp_avg_sq;     /* Adam, AdamW: second moment v */
    ag_tensor *max_exp_avg_sq; /* Adam, AdamW with amsgrad: running max of v */
    ag_tensor *momentum_buffer; /* SGD with momentum */
    ag_tensor *master;         /* bf16 parameters: the f32 master copy */
} ag_optim_state;

/* Fields a user may read. A program may also write groups[g].lr (what
 * ag_optim_set_lr and schedules do) and groups[g].weight_decay; a
 * checkpoint loader may fill state[] (allocating in arena). */
typedef struct ag_optim {
    ag_optim_kind kind;
    const char *name;      /* "SGD", "Adam", "AdamW" */
    ag_arena *arena;       /* the optimizer and its state live here */
    ag_adam_opts adam;     /* Adam, AdamW: options (lr, weight_decay: see groups) */
    ag_sgd_opts sgd;       /* SGD: options (lr, weight_decay: see groups) */
    int ngroups;
    ag_optim_group *groups; /* resolved: lr and weight_decay are never NAN */
    double *initial_lr;    /* per group: the lr at construction (schedules scale it) */
    int nparams;
    ag_optim_state *state; /* nparams entries, group after group */
    int64_t steps;         /* ag_optim_step calls so far */
} ag_optim;

/* New optimizers over ngroups parameter groups, in P. opts NULL means the
 * defaults. Reports and returns NULL (PyTorch's checks): a NULL arena; no
 * groups; a group list NULL with nparams > 0 or nparams < 0; a parameter
 * that is i32 or not a leaf; a parameter listed twice; no parameters at
 * all; lr or eps or weight decay < 0 (or NAN) after resolving the groups;
 * a beta outside [0, 1); momentum < 0; nesterov without momentum > 0 and
 * dampening 0. A NULL parameter (an earlier failure) returns NULL without a
 * report. */
ag_optim *ag_adamw_new_(ag_arena *P, const ag_optim_group *groups, int ngroups,
                        const ag_adam_opts *opts);
ag_optim *ag_adam_new_(ag_arena *P, const ag_optim_group *groups, int ngroups,
                       const ag_adam_opts *opts);
ag_optim *ag_sgd_new_(ag_arena *P, const ag_optim_group *groups, int ngroups,
                      const ag_sgd_opts *opts);
#define ag_adamw_new(...) AG_AT(ag_adamw_new_, __VA_ARGS__)
#define ag_adam_new(...) AG_AT(ag_adam_new_, __VA_ARGS__)
#define ag_sgd_new(...) AG_AT(ag_sgd_new_, __VA_ARGS__)

/* One optimization step over every parameter that has a gradient
 * (parameters whose grad is NULL are skipped, as PyTorch skips grad None;
 * their state and step count do not change). Per parameter, with its
 * group's lr and weight decay, t = the parameter's step count after +1:
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
 *
 * Scalars are computed in double and used in the parameter's compute
 * dtype. Reports and returns false when a parameter changed dtype or shape
 * since its state was made (e.g. ag_module_cast after building the
 * optimizer); parameters before it have been updated. NULL: false, no
 * report. */
bool ag_optim_step_(ag_optim *o);
#define ag_optim_step(...) AG_AT(ag_optim_step_, __VA_ARGS__)

/* Zeroes the gradient of every parameter of o (keeps the buffers: PyTorch's
 * zero_grad(set_to_none=False); a zeroed gradient is still "present", so
 * the next step updates that parameter with g = 0). NULL: nothing. */
void ag_optim_zero_grad(ag_optim *o);

/* Sets the lr of every group (initial_lr is kept). Reports lr < 0 or NAN
 * and returns false. */
bool ag_optim_set_lr_(ag_optim *o, double lr);
#define ag_optim_set_lr(...) AG_AT(ag_optim_set_lr_, __VA_ARGS__)

/* The state of param in o, or NULL when param is not one of o's. */
ag_optim_state *ag_optim_state_of(ag_optim *o, const ag_tensor *param);

/* ---- gradient clipping ----------------------------------------------------------
 * Parameters without a gradient are ignored. Sums are taken in double. */

/* torch.nn.utils.clip_grad_norm_: total = the L2 norm of all gradients
 * together; every gradient is multiplied by min(1, max_norm/(total + 1e-6)).
 * Returns total, the norm before clipping (0 when no parameter has a
 * gradient). A non-finite total (a gradient holding inf or NaN): with
 * error_if_nonfinite it is reported, the gradients are left as they are and
 * the total is returned; otherwise the gradients are scaled as PyTorch does
 * (inf total: coefficient 0, so finite entries become 0 and infinite ones
 * NaN; NaN total: every entry NaN). Reports max_norm < 0 or NAN, or n < 0,
 * and returns -1; a NULL list with n > 0 or a NULL entry returns -1 without
 * a report (an earlier failure). */
double ag_clip_grad_norm_(ag_tensor *const *params, int n, double max_norm,
                          bool error_if_nonfinite);
double ag_optim_clip_grad_norm_(ag_optim *o, double max_norm, bool error_if_nonfinite);
#define ag_clip_grad_norm(...) AG_AT(ag_clip_grad_norm_, __VA_ARGS__)
#define ag_optim_clip_grad_norm(...) AG_AT(ag_optim_clip_grad_norm_, __VA_ARGS__)

/* torch.nn.utils.clip_grad_value_: every gradient element is clamped to
 * [-clip_value, clip_value] (NaN stays NaN). Reports clip_value < 0 or NAN,
 * or n < 0, and returns false; a NULL list with n > 0 or a NULL entry
 * returns false without a report. */
bool ag_clip_grad_value_(ag_tensor *const *params, int n, double clip_value);
bool ag_optim_clip_grad_value_(ag_optim *o, double clip_value);
#define ag_clip_grad_value(...) AG_AT(ag_clip_grad_value_, __VA_ARGS__)
#define ag_optim_clip_grad_value(...) AG_AT(ag_optim_clip_grad_value_, __VA_ARGS__)

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
#define ag_schedule_factor(...) AG_AT(ag_schedule_factor_, __VA_ARGS__)

/* Sets every group's lr of o to initial_lr * factor(step); returns false
 * (after the report) when the factor is NAN, leaving the lrs unchanged.
 * NULL o: false, no report. */
bool ag_schedule_apply_(const ag_schedule *s, ag_optim *o, int64_t step);
#define ag_schedule_apply(...) AG_AT(ag_schedule_apply_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
