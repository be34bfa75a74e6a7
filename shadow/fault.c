/*
 * fault.c - what a page fault does to VMA state that userspace cannot see
 * but merging depends on: the anon_vma (mm/memory.c do_anonymous_page,
 * do_huge_pmd_anonymous_page, wp_page_copy).
 *  - a write fault on a private mapping (anonymous or file COW) prepares an
 *    anon_vma, reusing a compatible neighbour's;
 *  - a read fault on a private anonymous mapping maps the zero page and
 *    prepares nothing, unless a PMD-sized THP could back the address (THP
 *    "always", or "madvise" with MADV_HUGEPAGE), whose huge-zero-page path
 *    prepares the anon_vma first;
 *  - shared mappings never get one.
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

int shadow_touch(struct shadow *sh, uint64_t addr, bool write)
{
	struct shadow_vma *v = shadow_find(sh, addr);
	if (!v)
		return -EFAULT;
	if (write ? !(v->flags & SV_WRITE) : !(v->flags & SV_PROT_MASK))
		return -EFAULT;
	if (v->flags & SV_MAYSHARE)
		return 0;
	if (write || (vma_is_anon(v) && thp_possible(sh, v, addr)))
		vma_anon_prepare(sh, v);
	return 0;
}
