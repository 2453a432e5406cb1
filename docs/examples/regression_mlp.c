#include <ag/ag.h>
#include <stdio.h>

/* Fit y = sin(x0) + sin(x1) + noise on [-3, 3]^2 with an MLP (LayerNorm, GELU),
 * AdamW with the registry's decay groups, warmup + cosine and clipping, and
 * plot the loss into the directory given (default: the current one). */
int main(int argc, char **argv) {
    enum { STEPS = 1500 };
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0); /* parameters; one step */
    ag_rng rng = ag_rng_seeded(0);
    ag_module *layers[] = {
        &ag_nn_linear_new(P, &rng, 2, 64, true)->base,
        &ag_nn_layernorm_new(P, AG_SHAPE(64), AG_EPS_DEFAULT, true, true)->base,
        ag_nn_activation_new(P, AG_ACT_GELU),
        &ag_nn_linear_new(P, &rng, 64, 1, true)->base,
    };
    ag_nn_sequential *net = ag_nn_sequential_of(P, layers, 4);
    /* weight decay 0.01 except on the LayerNorm's weight and the biases */
    ag_optim *opt = ag_adamw_new(P, ag_optim_groups_from_model(&net->base, P, 1e-2, 0.01), NULL);
    ag_schedule sched = ag_schedule_warmup_cosine(100, STEPS, 0.1);
    double losses[STEPS];
    for (int step = 0; step < STEPS; step++) {
        ag_arena_reset(A);
        ag_tensor *x = ag_rand(A, &rng, AG_F32, AG_SHAPE(64, 2), -3.0, 3.0);
        ag_tensor *noise = ag_randn(A, &rng, AG_F32, AG_SHAPE(64, 1), 0.0, 0.05);
        ag_tensor *y = ag_add(A, ag_sum(A, ag_sin(A, x), AG_DIMS(1), true), noise);
        ag_tensor *loss = ag_mse_loss(A, ag_nn_sequential_forward(A, net, x), y);
        ag_backward(loss, NULL);
        ag_optim_clip_grad_norm(opt, 1.0, false);
        ag_schedule_apply(&sched, opt, step);
        ag_optim_step(opt);
        ag_optim_zero_grad(opt);
        losses[step] = ag_item(loss);
        if ((step + 1) % 300 == 0) printf("after step %4d  loss %.5f\n", step + 1, losses[step]);
    }
    ag_plot_series s = {.title = "train", .y = losses, .n = STEPS};
    ag_plot p = {.xlabel = "step", .ylabel = "MSE", .logy = true, .series = &s, .nseries = 1};
    ag_plot_outcome out;
    ag_plot_save(&p, argc > 1 ? argv[1] : ".", "regression_loss", &out);
    fprintf(stderr, "%s\n", out.message); /* where the PNG went, or how to render it */
    ag_arena_free(A);
    ag_arena_free(P);
    return losses[STEPS - 1] < 0.02 ? 0 : 1;
}
