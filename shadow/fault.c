/*
 * fault.c - what a page fault does to VMA state (mm/memory.c
 * do_anonymous_page, do_huge_pmd_anonymous_page, wp_page_copy; mm/mmap.c
 * expand_downwards):
 *  - a write fault on a private mapping (anonymous or file COW) prepares an
 *    anon_vma, reusing a compatible neighbour's;
 *  - a read fault on a private anonymous mapping maps the zero page and
 *    prepares nothing, unless a PMD-sized THP could back the address (THP
 *    "always", or "madvise" with MADV_HUGEPAGE), whose huge-zero-page path
 *    prepares the anon_vma first;
 *  - shared mappings never get one;
 *  - a fault just below a GROWSDOWN VMA prepares its anon_vma and grows it
 *    down to the page, unless
 *    that would come within the stack guard gap of the VMA below or past
 *    RLIMIT_STACK;
 *  - a page past the end of the mapped object raises SIGBUS.
 */
#include "shadow_internal.h"

static bool thp_possible(const struct shadow *sh, const struct shadow_vma *v,
			 uint64_t addr)
{
	if (v->flags & (SV_NOHUGEPAGE | SV_HUGETLB | SV_SPECIAL))
		return false;
	if (sh->env.thp_anon == 0 ||
	    (sh->env.thp_anon == 1 && !(v->flags & SV_HUGEPAGE)))
		return false;
	uint64_t hs = sh->env.thp_size;
	uint64_t h = addr & ~(hs - 1);
	/* thp_vma_suitable_order(): the aligned huge page lies inside v and
	 * the file offset is aligned the same way (anon: pgoff linear). */
	if (h < v->start || h + hs > v->end)
		return false;
	uint64_t pg = v->pgoff + ((h - v->start) >> SH_PAGE_SHIFT);
	return (pg & ((hs >> SH_PAGE_SHIFT) - 1)) == 0;
}

void vma_read_fault_range(struct shadow *sh, struct shadow_vma *v,
			  uint64_t start, uint64_t end)
{
	if (!vma_is_anon(v) || v->anon_id != SHADOW_ANON_NONE)
		return;
	uint64_t hs = sh->env.thp_size;
	for (uint64_t h = start & ~(hs - 1); h < end; h += hs) {
		if (thp_possible(sh, v, h < start ? start : h)) {
			vma_anon_prepare(sh, v);
			return;
		}
	}
}

/* expand_downwards(): grow the GROWSDOWN VMA v down to addr's page. */
static int stack_grow(struct shadow *sh, struct shadow_vma *v, uint64_t addr)
{
	uint64_t a = addr & SH_PAGE_MASK;
	if (a < sh->env.mmap_min_addr)
		return -EFAULT;
	struct shadow_vma *p = shadow_vma_prev(v);
	if (p && !(p->flags & SV_GROWSDOWN) && (p->flags & SV_PROT_MASK) &&
	    a - p->end < sh->env.stack_guard_gap)
		return -EFAULT;
	if (v->end - a > sh->env.stack_rlimit)
		return -EFAULT;
	uint64_t grow = (v->start - a) >> SH_PAGE_SHIFT;
	/* expand_downwards() makes sure the anon_vma exists first. */
	vma_anon_prepare(sh, v);
	struct shadow_region *r = shadow_region_find(sh, v->start);
	if (r && r->start == v->start)
		region_set_start(sh, r, a); /* the gap was free: order kept */
	v->pgoff -= grow;
	vma_set_range(sh, v, a, v->end);
	return 0;
}

int shadow_touch(struct shadow *sh, uint64_t addr, bool write)
{
	struct shadow_vma *v = shadow_find_next(sh, addr);
	if (!v)
		return -EFAULT;
	if (v->start > addr) {
		if (!(v->flags & SV_GROWSDOWN) || stack_grow(sh, v, addr))
			return -EFAULT;
		SHADOW_VALIDATE(sh, "shadow_touch");
	}
	/* access_error(), after the stack grew: a write needs VM_WRITE;
	 * anything else needs some access at all. */
	if (write ? !(v->flags & SV_WRITE) : !(v->flags & SV_PROT_MASK))
		return -EFAULT;
	uint64_t pg = addr & SH_PAGE_MASK;
	if (guard_first(sh, pg, pg + SH_PAGE_SIZE))
		return -EFAULT;
	if (shadow_past_object(sh, v, pg, pg + SH_PAGE_SIZE))
		return -EIO;
	if (v->flags & SV_MAYSHARE)
		return 0;
	if (write || (vma_is_anon(v) && thp_possible(sh, v, addr)))
		vma_anon_prepare(sh, v);
	return 0;
}
