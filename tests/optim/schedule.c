/* tests/optim/schedule.c — learning-rate schedules against hand values, and
 * applying one to an optimizer's groups. */
#include "optim_test.h"

START_TEST(test_constant) {
    ag_schedule s = ag_schedule_constant();
    ck_assert(ag_schedule_factor(&s, 0) == 1.0 && ag_schedule_factor(&s, 123456) == 1.0);
    ag_schedule z = {0}; /* a zeroed schedule is the constant one */
    ck_assert(ag_schedule_factor(&z, 7) == 1.0);
}
END_TEST

/* warmup 10, total 110: 0 at 0, 0.5 at 5, 1 at 10; cosine over 100 steps:
 * 0.5 at 60, (1 + cos(pi/4))/2 at 35, 0 at 110 and after. */
START_TEST(test_warmup_cosine) {
    ag_schedule s = ag_schedule_warmup_cosine(10, 110, 0.0);
    ck_assert(ag_schedule_factor(&s, 0) == 0.0);
    ck_rel(ag_schedule_factor(&s, 5), 0.5, 1e-15);
    ck_rel(ag_schedule_factor(&s, 9), 0.9, 1e-15);
    ck_rel(ag_schedule_factor(&s, 10), 1.0, 1e-15);
    ck_rel(ag_schedule_factor(&s, 35), 0.5 * (1 + sqrt(0.5)), 1e-15);
    ck_close(ag_schedule_factor(&s, 60), 0.5, 1e-15);
    ck_close(ag_schedule_factor(&s, 110), 0.0, 1e-15);
    ck_close(ag_schedule_factor(&s, 500), 0.0, 1e-15); /* stays at the floor */
    /* with a floor of 0.1: f * 0.9 + 0.1 */
    s = ag_schedule_warmup_cosine(10, 110, 0.1);
    ck_rel(ag_schedule_factor(&s, 5), 0.5, 1e-15); /* warmup ignores the floor */
    ck_rel(ag_schedule_factor(&s, 60), 0.55, 1e-15);
    ck_rel(ag_schedule_factor(&s, 110), 0.1, 1e-15);
    ck_rel(ag_schedule_factor(&s, 1000), 0.1, 1e-15);
    /* no warmup: 1 at step 0 */
    s = ag_schedule_warmup_cosine(0, 100, 0.0);
    ck_rel(ag_schedule_factor(&s, 0), 1.0, 1e-15);
    ck_close(ag_schedule_factor(&s, 50), 0.5, 1e-15);
}
END_TEST

/* warmup 10, total 110: 0.5 at 5, 1 at 10, 0.5 at 60, 0.01 at 109, 0 from 110. */
START_TEST(test_linear) {
    ag_schedule s = ag_schedule_linear(10, 110);
    ck_assert(ag_schedule_factor(&s, 0) == 0.0);
    ck_rel(ag_schedule_factor(&s, 5), 0.5, 1e-15);
    ck_rel(ag_schedule_factor(&s, 10), 1.0, 1e-15);
    ck_rel(ag_schedule_factor(&s, 60), 0.5, 1e-15);
    ck_rel(ag_schedule_factor(&s, 109), 0.01, 1e-15);
    ck_assert(ag_schedule_factor(&s, 110) == 0.0 && ag_schedule_factor(&s, 200) == 0.0);
    s = ag_schedule_linear(0, 4); /* 1, 0.75, 0.5, 0.25, 0 */
    for (int t = 0; t <= 4; t++) ck_rel(ag_schedule_factor(&s, t), 1 - 0.25 * t, 1e-15);
}
END_TEST

/* StepLR(step_size 30, gamma 0.1): 1 until 29, 0.1 from 30, 0.01 from 60. */
START_TEST(test_step) {
    ag_schedule s = ag_schedule_step(30, 0.1);
    ck_assert(ag_schedule_factor(&s, 0) == 1.0 && ag_schedule_factor(&s, 29) == 1.0);
    ck_rel(ag_schedule_factor(&s, 30), 0.1, 1e-15);
    ck_rel(ag_schedule_factor(&s, 59), 0.1, 1e-15);
    ck_rel(ag_schedule_factor(&s, 65), 0.01, 1e-15);
    s = ag_schedule_step(1, 0.5);
    ck_rel(ag_schedule_factor(&s, 10), 1.0 / 1024, 1e-15);
}
END_TEST

/* Applying sets every group's lr to initial_lr * factor; the step uses it. */
START_TEST(test_apply) {
    ag_arena *P = ag_arena_new(0);
    ag_tensor *a = param_of(P, AG_F64, 1, (double[]){1.0});
    ag_tensor *b = param_of(P, AG_F64, 1, (double[]){1.0});
    ag_optim_group g[2] = {{&a, 1, 0.1, AG_OPTIM_INHERIT}, {&b, 1, 0.01, AG_OPTIM_INHERIT}};
    ag_optim *o = ag_sgd_new(P, AG_OPTIM_GROUPS(g), NULL);
    ag_schedule s = ag_schedule_linear(0, 4);
    for (int t = 0; t < 3; t++) {
        ck_assert(ag_schedule_apply(&s, o, o->steps));
        ck_rel(o->groups[0].lr, 0.1 * (1 - 0.25 * t), 1e-15);
        ck_rel(o->groups[1].lr, 0.01 * (1 - 0.25 * t), 1e-15);
        ck_assert(o->initial_lr[0] == 0.1 && o->initial_lr[1] == 0.01);
        set_grad(a, (double[]){1.0});
        set_grad(b, (double[]){1.0});
        ag_optim_step(o);
    }
    /* p = 1 - lr0 (1 + 0.75 + 0.5) */
    ck_rel(ag_get_flat(a, 0), 1 - 0.1 * 2.25, 1e-15);
    ck_rel(ag_get_flat(b, 0), 1 - 0.01 * 2.25, 1e-15);
    /* set_lr changes the current lr, not initial_lr */
    ck_assert(ag_optim_set_lr(o, 0.5));
    ck_assert(o->groups[0].lr == 0.5 && o->groups[1].lr == 0.5 && o->initial_lr[1] == 0.01);
    ag_schedule c = ag_schedule_constant();
    ag_schedule_apply(&c, o, 0);
    ck_assert(o->groups[0].lr == 0.1 && o->groups[1].lr == 0.01);
    ag_arena_free(P);
}
END_TEST

START_TEST(test_bad) {
    ag_schedule s = ag_schedule_warmup_cosine(10, 5, 0.0);
    expect_errors();
    ck_assert(isnan(ag_schedule_factor(&s, 1)));
    check_error("schedule_factor", "warmup_steps 10", "total_steps 5");
    s = ag_schedule_warmup_cosine(0, 10, 1.5);
    expect_errors();
    ck_assert(isnan(ag_schedule_factor(&s, 1)));
    check_error("schedule_factor", "min_ratio 1.5", NULL);
    s = ag_schedule_step(0, 0.1);
    expect_errors();
    ck_assert(isnan(ag_schedule_factor(&s, 1)));
    check_error("schedule_factor", "step_size 0", NULL);
    s = ag_schedule_linear(0, 10);
    expect_errors();
    ck_assert(isnan(ag_schedule_factor(&s, -1)));
    check_error("schedule_factor", "step -1", NULL);
    /* a failed apply leaves the lrs alone */
    ag_arena *P = ag_arena_new(0);
    ag_tensor *a = param_of(P, AG_F64, 1, (double[]){1.0});
    ag_optim *o = ag_sgd_new(P, ag_optim_groups_one(&(ag_optim_group){&a, 1, 0.1, NAN}), NULL);
    s = ag_schedule_step(-3, 0.1);
    expect_errors();
    ck_assert(!ag_schedule_apply(&s, o, 5));
    check_error("schedule_factor", "step_size -3", NULL);
    ck_assert(o->groups[0].lr == 0.1);
    expect_errors();
    ck_assert(!ag_optim_set_lr(o, -0.1));
    check_error("optim_set_lr", "learning rate -0.1", NULL);
    ag_arena_free(P);
}
END_TEST

TCase *optim_schedule_tcase(void) {
    TCase *tc = tcase_create("schedule");
    tcase_add_test(tc, test_constant);
    tcase_add_test(tc, test_warmup_cosine);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_step);
    tcase_add_test(tc, test_apply);
    tcase_add_test(tc, test_bad);
    return tc;
}
