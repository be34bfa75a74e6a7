/*
 * brk.c - brk(2) as Linux 6.18 does it.  The kernel's answer decides (brk
 * never fails with an errno: it returns the old break), so the shadow
 * takes the break the kernel returned and applies the change: a shrink is
 * a munmap of the whole pages past the new break, a growth extends the heap
 * VMA when its flags still match (do_brk_flags: never merges with the next
 * VMA) or adds a new anonymous VMA.
 */
#include "shadow_internal.h"

uint64_t shadow_brk(struct shadow *sh, uint64_t requested, uint64_t result,
		    struct shadow_change *rec)
{
	uint64_t old = sh->brk;
	rec_reset(rec, old, result);
	if (!sh->brk_start) {
		/* First sight of the break: the heap is the anonymous VMA
		 * ending at it, if there is one (shadow_set_brk() is exact). */
		struct shadow_vma *h = shadow_find(sh, SH_PAGE_ALIGN(result) - 1);
		sh->brk_start = h && h->end == SH_PAGE_ALIGN(result) &&
					vma_is_anon(h)
					? h->start
					: result;
		sh->brk = result;
		return result;
	}
	uint64_t oldbrk = SH_PAGE_ALIGN(old), newbrk = SH_PAGE_ALIGN(result);
	if (newbrk < oldbrk) {
		rec_span(rec, newbrk, oldbrk);
		shadow_do_unmap(sh, newbrk, oldbrk, SHADOW_PIECE_UNMAPPED, rec);
	} else if (newbrk > oldbrk) {
		uint32_t fl = SV_READ | SV_WRITE | SV_MAYREAD | SV_MAYWRITE |
			      SV_MAYEXEC | SV_ACCOUNT | sh->def_flags;
		struct shadow_vma *heap = shadow_find(sh, oldbrk - 1);
		rec_span(rec, oldbrk, newbrk);
		if (heap && heap->end == oldbrk && heap->start >= sh->brk_start &&
		    heap->flags == fl && vma_is_anon(heap) &&
		    heap->pgoff + vma_pages(heap) == oldbrk >> SH_PAGE_SHIFT) {
			vma_set_range(sh, heap, heap->start, newbrk);
		} else {
			struct shadow_vma *nv = vma_alloc(sh);
			if (nv) {
				*nv = (struct shadow_vma){
					.start = oldbrk, .end = newbrk,
					.pgoff = oldbrk >> SH_PAGE_SHIFT,
					.flags = fl };
				vma_insert(sh, nv);
				if (rec)
					rec->vmas_added++;
			}
		}
		region_fill(sh, oldbrk, newbrk, SHADOW_ORIGIN_TRACKED, 0,
			    SHADOW_CALL_BRK, REGION_GROW_ALL);
		if (fl & SV_LOCKED) {
			struct shadow_vma *v = shadow_find(sh, oldbrk);
			if (v)
				vma_populate(sh, v);
		}
	}
	(void)requested;
	sh->brk = result;
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_brk");
	return result;
}

void shadow_set_brk(struct shadow *sh, uint64_t start_brk, uint64_t brk)
{
	sh->brk_start = start_brk;
	sh->brk = brk;
}
