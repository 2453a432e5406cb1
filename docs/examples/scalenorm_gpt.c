#include <stdio.h>

#include "common/tinygpt_model.h"
#include "scalenorm.h"

/* ids [4,8] and their next tokens: the sequence 0 1 2 3 4 5 0 1 2 ... */
static void batch(ag_arena *A, ag_tensor **ids, ag_tensor **targets) {
    int32_t in[32], next[32];
    for (int i = 0; i < 32; i++) in[i] = (i / 8 + i) % 6, next[i] = (in[i] + 1) % 6;
    *ids = ag_from_array(A, AG_I32, AG_SHAPE(4, 8), in);
    *targets = ag_from_array(A, AG_I32, AG_SHAPE(32), next);
}

int main(void) {
    ag_arena *P = ag_arena_new(0), *A = ag_arena_new(0);
    ag_norm_register_make(&scalenorm_type, scalenorm_make);
    ag_demo_gpt_config c = {.vocab = 6, .block_size = 8, .n_layer = 1, .n_embd = 16,
                            .n_head = 2, .norm = {&scalenorm_type, AG_EPS_DEFAULT},
                            .act = AG_ACT_GELU};
    ag_demo_gpt *gpt = ag_demo_gpt_new(P, &c, 1);
    ag_module_print(stdout, &gpt->base);

    ag_param_groups groups = ag_decay_groups(&gpt->base, P);
    printf("\nno weight decay (%d):", groups.nno_decay);
    for (int i = 0; i < groups.nno_decay; i++) printf(" %s", groups.no_decay[i].name);
    printf("\nweight decay: %d parameters\n\n", groups.ndecay);

    ag_optim *opt = ag_adamw_new(P, ag_optim_groups_from_model(&gpt->base, P, 1e-2, 0.1), NULL);
    ag_tensor *ids, *targets;
    for (int step = 0; step <= 60; step++) {
        ag_arena_reset(A);
        batch(A, &ids, &targets);
        ag_tensor *loss = ag_demo_gpt_loss(A, gpt, ids, targets);
        if (step % 30 == 0) printf("step %2d  loss %.2f\n", step, ag_item(loss));
        ag_backward(loss, NULL);
        ag_optim_step(opt);
        ag_optim_zero_grad(opt);
    }

    ag_module_cast(&gpt->base, AG_BF16);
    printf("\nafter ag_module_cast(bf16): lm_head.weight %s, layers.0.input_layernorm.g %s\n",
           ag_dtype_name(ag_module_param(&gpt->base, "lm_head.weight")->dtype),
           ag_dtype_name(ag_module_param(&gpt->base, "layers.0.input_layernorm.g")->dtype));
    ag_arena_reset(A);
    batch(A, &ids, &targets);
    printf("bf16 loss %.2f\n", ag_item(ag_demo_gpt_loss(A, gpt, ids, targets)));
    ag_arena_free(A);
    ag_arena_free(P);
    return 0;
}
