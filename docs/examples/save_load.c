#include <ag/ag.h>
#include <stdio.h>

/* Linear -> LayerNorm -> GELU -> Linear (with_norm) or Linear -> GELU -> Linear. */
static ag_module *make_net(ag_arena *P, ag_rng *rng, bool with_norm) {
    ag_nn_sequential *s = ag_nn_sequential_new(P);
    ag_nn_sequential_append(s, &ag_nn_linear_new(P, rng, 1, 32, true)->base);
    if (with_norm)
        ag_nn_sequential_append(s, &ag_nn_layernorm_new(P, AG_SHAPE(32), 1e-5, true, true)->base);
    ag_nn_sequential_append(s, ag_nn_activation_new(P, AG_ACT_GELU));
    ag_nn_sequential_append(s, &ag_nn_linear_new(P, rng, 32, 1, true)->base);
    return &s->base;
}

/* Train briefly on y = sin(x), save into the directory given (default: the
 * current one), load into a new model (strict), then into another one. A
 * failed save or strict load is reported (no status asked for: the default
 * handler prints the line and aborts). Exits 1 unless the loaded model
 * computes what the saved one does and the non-strict load succeeded. */
int main(int argc, char **argv) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0); /* parameters; one step */
    ag_rng rng = ag_rng_seeded(0);
    ag_module *net = make_net(P, &rng, true);
    ag_optim *opt = ag_adam_new(P, ag_optim_groups_of_module(net, P), NULL);
    for (int step = 0; step < 300; step++) {
        ag_arena_reset(A);
        ag_tensor *x = ag_rand(A, &rng, AG_F32, AG_SHAPE(64, 1), -3.0, 3.0);
        ag_backward(ag_mse_loss(A, ag_module_forward(net, A, x), ag_sin(A, x)), NULL);
        ag_optim_step(opt);
        ag_optim_zero_grad(opt);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/sine.safetensors", argc > 1 ? argv[1] : ".");
    ag_module_save(net, path, NULL, NULL);

    ag_module *copy = make_net(P, &rng, true); /* fresh weights, then the file's */
    ag_module_load(copy, path, NULL, NULL);
    ag_tensor *x = ag_reshape(A, ag_arange(A, AG_F32, -3.0, 3.0, 0.5), AG_SHAPE(-1, 1));
    ag_tensor *d = NULL;
    AG_NO_GRAD d = ag_sub(A, ag_module_forward(net, A, x), ag_module_forward(copy, A, x));
    double diff = ag_item(ag_max(A, ag_abs(A, d), 0, NULL, false));
    printf("strict: max |net(x) - copy(x)| = %g\n", diff);

    ag_module *other = make_net(P, &rng, false); /* no LayerNorm: 2.* is the last Linear */
    ag_load_result res; /* its name lists go into A */
    ag_module_load(other, path, &(ag_load_opts){.non_strict = true, .names = A}, &res);
    ag_load_result_print(stdout, &res); /* or, had it failed, why */
    ag_arena_free(A);
    ag_arena_free(P);
    return diff == 0 && res.status.code == AG_ST_OK ? 0 : 1;
}
