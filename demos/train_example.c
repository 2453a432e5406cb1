#include <ag/ag.h>
#include <math.h>
#include <stdio.h>

/* Linear -> RMSNorm -> GELU -> Linear, parameters named 0.weight ... 3.bias. */
static ag_nn_sequential *make_net(ag_arena *P, ag_rng *rng) {
    ag_module *layers[] = {
        &ag_nn_linear_new(P, rng, 1, 32, true)->base,
        &ag_nn_rmsnorm_new(P, AG_RMSNORM, AG_SHAPE(32), AG_EPS_DEFAULT, true)->base,
        ag_nn_activation_new(P, AG_ACT_GELU),
        &ag_nn_linear_new(P, rng, 32, 1, true)->base,
    };
    return ag_nn_sequential_of(P, layers, 4);
}

/* Fit y = sin(x) on [-3, 3] with AdamW, save the model, load it into a new one. */
int main(int argc, char **argv) {
    (void)argv;
    if (argc > 1) return fprintf(stderr, "train-example: takes no arguments\n"), 2;
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0); /* parameters; one step */
    ag_rng rng;
    ag_rng_seed(&rng, 0);
    ag_nn_sequential *net = make_net(P, &rng);
    /* no weight decay for the norm's weight and the biases (Hugging Face's rule) */
    ag_optim *opt = ag_adamw_new(P, ag_optim_groups_from_model(&net->base, P, 1e-2, 0.01), NULL);
    ag_schedule sched = ag_schedule_warmup_cosine(100, 2000, 0.1);
    double loss_value = 0;
    for (int step = 0; step < 2000; step++) {
        ag_arena_reset(A);
        ag_tensor *x = ag_rand(A, &rng, AG_F32, AG_SHAPE(64, 1), -3.0, 3.0);
        ag_tensor *loss = ag_mse_loss(A, ag_nn_sequential_forward(A, net, x), ag_sin(A, x));
        ag_backward(loss, NULL);
        ag_optim_clip_grad_norm(opt, 1.0, false);
        ag_schedule_apply(&sched, opt, step);
        ag_optim_step(opt);
        ag_optim_zero_grad(opt);
        loss_value = ag_item(loss);
        if (step % 400 == 0 || step == 1999) printf("step %4d  loss %.5f\n", step, loss_value);
    }
    /* safetensors, under the names above: PyTorch's load_state_dict reads it too */
    ag_st_status st = {0};
    ag_load_result res = {0};
    ag_nn_sequential *copy = make_net(P, &rng);
    if (!ag_module_save(&net->base, "sine.safetensors", NULL, &st) ||
        !ag_module_load(&copy->base, "sine.safetensors", NULL, &res))
        return fprintf(stderr, "%s%s\n", st.message, res.status.message), 1;
    AG_NO_GRAD { /* evaluation records no graph */
        ag_tensor *x = ag_scalar(A, AG_F32, 1.0);
        ag_tensor *pred = ag_nn_sequential_forward(A, copy, ag_reshape(A, x, AG_SHAPE(1, 1)));
        printf("loaded %d tensors; net(1) = %.4f, sin(1) = %.4f\n", res.nloaded, ag_item(pred),
               sin(1.0));
    }
    ag_arena_free(A);
    ag_arena_free(P);
    return loss_value < 0.01 ? 0 : 1;
}
