#include <ag/ag.h>
#include <math.h>
#include <stdio.h>

/* Fit y = sin(x) on [-3, 3]: Linear -> RMSNorm -> GELU -> Linear, AdamW. */
int main(void) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0); /* parameters; one step */
    ag_rng rng;
    ag_rng_seed(&rng, 0);
    ag_nn_linear *fc1 = ag_nn_linear_new(P, &rng, 1, 32, true);
    ag_nn_linear *fc2 = ag_nn_linear_new(P, &rng, 32, 1, true);
    ag_nn_rmsnorm *norm = ag_nn_rmsnorm_new(P, AG_RMSNORM, AG_SHAPE(32), AG_EPS_DEFAULT, true);
    ag_module *gelu = ag_nn_activation_new(P, AG_ACT_GELU);
    ag_module *layers[] = {&fc1->base, &norm->base, gelu, &fc2->base};
    ag_nn_sequential *net = ag_nn_sequential_of(P, layers, 4); /* parameters 0.weight ... 3.bias */
    /* no weight decay for the norm's weight and the biases (Hugging Face's rule) */
    ag_optim *opt = ag_adamw_new(P, ag_optim_groups_from_model(&net->base, P, 1e-2, 0.01), NULL);
    ag_schedule sched = ag_schedule_warmup_cosine(100, 2000, 0.1);
    double loss_value = 0;
    for (int step = 0; step < 2000; step++) {
        ag_arena_reset(A);
        ag_tensor *x = ag_rand(A, &rng, AG_F32, AG_SHAPE(64, 1), -3.0, 3.0);
        ag_tensor *y = ag_empty(A, AG_F32, AG_SHAPE(64, 1));
        for (int i = 0; i < 64; i++) ((float *)y->data)[i] = sinf(((float *)x->data)[i]);
        ag_tensor *loss = ag_mse_loss(A, ag_nn_sequential_forward(A, net, x), y);
        ag_backward(loss, NULL);
        ag_optim_clip_grad_norm(opt, 1.0, false);
        ag_schedule_apply(&sched, opt, step);
        ag_optim_step(opt);
        ag_optim_zero_grad(opt);
        loss_value = ag_item(loss);
        if (step % 400 == 0 || step == 1999) printf("step %4d  loss %.5f\n", step, loss_value);
    }
    AG_NO_GRAD { /* evaluation records no graph */
        ag_tensor *x = ag_from_f64(A, AG_F32, AG_SHAPE(1, 1), (const double[]){1.0});
        ag_tensor *pred = ag_nn_sequential_forward(A, net, x);
        printf("net(1) = %.4f, sin(1) = %.4f\n", ag_item(pred), sin(1.0));
    }
    ag_arena_free(A);
    ag_arena_free(P);
    return loss_value < 0.01 ? 0 : 1;
}
