/*
 * budget.c - the periodic check's share of the time (contract in
 * preload_internal.h, "budget.c").
 *
 * A full check costs a small fixed part (the status file, a few system
 * calls) and a part per VMA (the kernel answers for each, the shadow
 * compares each): measured, 0.03 ms at 35 VMAs, 0.5 ms at 1,000, 4 ms at
 * 5,000, 15 ms at 20,000.  So the price of the next check is the last
 * one's cost scaled by the VMAs, with BUDGET_FIXED_VMAS standing for the
 * fixed part: a process that grew from 60 to 20,000 VMAs since its last
 * check is not priced at its small start.
 */
#include "preload_internal.h"

/* The fixed part of a check, as a number of VMAs' worth. */
#define BUDGET_FIXED_VMAS 8

uint64_t vmc_budget_price(const struct vmc_budget *b, uint64_t vmas)
{
	if (!b->last_cost)
		return 0;
	unsigned __int128 p = (unsigned __int128)b->last_cost *
			      (vmas + BUDGET_FIXED_VMAS) /
			      (b->last_vmas + BUDGET_FIXED_VMAS);
	return p > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)p;
}

bool vmc_budget_allows(const struct vmc_budget *b, uint64_t vmas)
{
	return b->spent + vmc_budget_price(b, vmas) <=
	       b->hook / VMC_BUDGET_SHARE;
}

void vmc_budget_spend(struct vmc_budget *b, uint64_t cycles, uint64_t vmas)
{
	b->spent += cycles;
	b->last_cost = cycles ? cycles : 1;
	b->last_vmas = vmas;
}
