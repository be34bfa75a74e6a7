/*
 * test_preload_budget.c - unit tests for preload/budget.c, the rule that
 * stretches check=every:N so that checks cost at most 2% of the time spent
 * in intercepted calls.
 *
 * The simulations drive the rule as runtime.c does (every N calls, a full
 * check when vmc_budget_allows says so, its cost given to
 * vmc_budget_spend) with a check whose cost grows with the VMAs as a real
 * one does (about 0.8 us a VMA).  They assert the share after every check,
 * not only on average, and that the rule still checks: a process whose
 * VMAs grow from 50 to 20,000 (where the old rule, "run when the share so
 * far is not exceeded", took several times the share) and a steady one
 * (where the share is used, not starved).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "preload_internal.h"

#define CHECK_EVERY 4096

/* A full check over v VMAs: 2,000 cycles a VMA and a fixed 16,000, the
 * shape budget.c prices (8 VMAs' worth of fixed part). */
static uint64_t check_cost(uint64_t v)
{
	return 2000 * (v + 8);
}

struct sim {
	struct vmc_budget b;
	uint64_t checks;
	double worst_share;   /* spent / hook after a check */
	bool old_rule;        /* spent <= hook / share, before the check */
};

/* `calls` intercepted calls of `call_cycles` each, the VMAs going from v0
 * to v1 linearly; every CHECK_EVERY calls the rule may run a check. */
static void run(struct sim *s, uint64_t calls, uint64_t call_cycles,
		uint64_t v0, uint64_t v1)
{
	for (uint64_t i = 1; i <= calls; i++) {
		uint64_t v = v0 + (v1 - v0) * i / calls;
		s->b.hook += call_cycles;
		if (i % CHECK_EVERY)
			continue;
		bool go = s->old_rule
				  ? s->b.spent <= s->b.hook / VMC_BUDGET_SHARE
				  : vmc_budget_allows(&s->b, v);
		if (!go)
			continue;
		vmc_budget_spend(&s->b, check_cost(v), v);
		s->checks++;
		double share = (double)s->b.spent / (double)s->b.hook;
		if (share > s->worst_share)
			s->worst_share = share;
	}
}

/* The check at start-up (init's scan of a small process). */
static void start(struct sim *s, uint64_t vmas)
{
	vmc_budget_spend(&s->b, check_cost(vmas), vmas);
}

START_TEST(price_scales_with_the_vmas)
{
	struct vmc_budget b = { 0 };
	ck_assert_uint_eq(vmc_budget_price(&b, 20000), 0); /* none yet */
	vmc_budget_spend(&b, 1000, 92);
	ck_assert_uint_eq(b.spent, 1000);
	ck_assert_uint_eq(vmc_budget_price(&b, 92), 1000);
	ck_assert_uint_eq(vmc_budget_price(&b, 192), 2000);
	ck_assert_uint_eq(vmc_budget_price(&b, 42), 500);
	/* the price of a check matches its cost at any size in between */
	vmc_budget_spend(&b, check_cost(50), 50);
	for (uint64_t v = 0; v <= 40000; v += 1234)
		ck_assert_uint_eq(vmc_budget_price(&b, v), check_cost(v));
	/* huge figures saturate instead of wrapping */
	vmc_budget_spend(&b, UINT64_MAX / 4, 1);
	ck_assert_uint_ge(vmc_budget_price(&b, 1u << 30), UINT64_MAX / 4);
}
END_TEST

START_TEST(allows_only_within_the_share)
{
	struct vmc_budget b = { 0 };
	ck_assert(vmc_budget_allows(&b, 100)); /* nothing spent, no price */
	vmc_budget_spend(&b, 1000, 100);
	const uint64_t S = VMC_BUDGET_SHARE;
	b.hook = S * 1000 + S * 1000 - 1; /* room for 1,999 more */
	ck_assert(!vmc_budget_allows(&b, 100));
	b.hook += 1;
	ck_assert(vmc_budget_allows(&b, 100));
	/* a bigger process: the next check costs more (1000 * 208 / 108 =
	 * 1,925), so it needs more room */
	ck_assert(!vmc_budget_allows(&b, 200));
	b.hook = S * (1000 + 1925);
	ck_assert(vmc_budget_allows(&b, 200));
	b.hook--;
	ck_assert(!vmc_budget_allows(&b, 200));
}
END_TEST

/* 50 VMAs at start-up, 20,000 after 20,000 calls, then 1,000,000 calls
 * of 3 us (as bench_loops' live_20000 sets up, then runs). */
START_TEST(growth_never_exceeds_the_share)
{
	struct sim s = { 0 };
	start(&s, 50);
	run(&s, 20000, 7500, 50, 20000);
	run(&s, 1000000, 7500, 20000, 20000);
	ck_assert_msg(s.worst_share <= 1.0 / VMC_BUDGET_SHARE,
		      "checks took %.1f%% of the time", 100 * s.worst_share);
	ck_assert_uint_ge(s.checks, 2);

	/* The old rule, on the same run, went past the share: the
	 * simulation can tell the two apart. */
	struct sim o = { .old_rule = true };
	start(&o, 50);
	run(&o, 20000, 7500, 50, 20000);
	run(&o, 1000000, 7500, 20000, 20000);
	ck_assert_msg(o.worst_share > 1.5 / VMC_BUDGET_SHARE,
		      "old rule: %.1f%%", 100 * o.worst_share);
}
END_TEST

/* A steady process uses its share: over a long run the checks take
 * between 80% and 100% of it, and run every N calls when they are
 * cheap. */
START_TEST(steady_uses_the_share)
{
	struct sim s = { 0 };
	start(&s, 5000);
	run(&s, 5000000, 7500, 5000, 5000);
	double share = (double)s.b.spent / (double)s.b.hook;
	ck_assert_msg(share <= 1.0 / VMC_BUDGET_SHARE &&
			      share >= 0.8 / VMC_BUDGET_SHARE,
		      "share %.2f%%", 100 * share);

	struct sim c = { 0 };
	start(&c, 40);
	run(&c, 409600, 7500, 40, 40);
	ck_assert_uint_eq(c.checks, 409600 / CHECK_EVERY);
}
END_TEST

/* Calls that come in a cycle of p (a merge and a split, a cycle of four
 * kinds...): each place in the cycle gets its share of the samples, one
 * in VMC_BUDGET_SAMPLE, within 5% (some five standard deviations).
 * Sampling every VMC_BUDGET_SAMPLE-th call would time only the first
 * place of a cycle of 2, 4, 8 or 16. */
START_TEST(sampling_does_not_follow_cycles)
{
	static const unsigned periods[] = { 1, 2, 3, 4, 5, 8, 16, 32, 64 };
	const unsigned rounds = 160000;
	for (size_t k = 0; k < sizeof(periods) / sizeof(periods[0]); k++) {
		unsigned p = periods[k];
		uint64_t got[64] = { 0 };
		uint32_t state = 0;
		for (unsigned r = 0; r < rounds; r++)
			for (unsigned i = 0; i < p; i++)
				got[i] += vmc_budget_sample(&state);
		double want = (double)rounds / VMC_BUDGET_SAMPLE;
		for (unsigned i = 0; i < p; i++)
			ck_assert_msg(got[i] >= 0.95 * want &&
					      got[i] <= 1.05 * want,
				      "cycle of %u, place %u: %llu samples of "
				      "%u calls, want about %.0f",
				      p, i, (unsigned long long)got[i], rounds,
				      want);
	}
}
END_TEST

static Suite *budget_suite(void)
{
	Suite *s = suite_create("budget");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, price_scales_with_the_vmas);
	tcase_add_test(tc, allows_only_within_the_share);
	tcase_add_test(tc, growth_never_exceeds_the_share);
	tcase_add_test(tc, steady_uses_the_share);
	tcase_add_test(tc, sampling_does_not_follow_cycles);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(budget_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
