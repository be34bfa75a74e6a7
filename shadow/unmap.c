/*
 * unmap.c - munmap(2) as Linux 6.18 does it (do_vmi_munmap,
 * vms_gather_munmap_vmas): holes inside the range are fine, the VMAs at the
 * edges are split, nothing ever merges.
 */
#include "shadow_internal.h"

/* Shared by munmap, mremap shrink and brk shrink: the checks that follow the
 * argument validation (map count before a middle split), then the removal.
 * kind: the piece kind to record for the regions removed. */
int shadow_do_unmap(struct shadow *sh, uint64_t start, uint64_t end,
		    uint8_t kind, struct shadow_change *rec)
{
	struct shadow_vma *v = shadow_find_next(sh, start);
	if (!v || v->start >= end) {
		rec_holes(sh, start, end, rec);
		return 0;
	}
	if (v->start < start && end < v->end &&
	    sh->c.map_count >= sh->env.max_map_count)
		return -ENOMEM;
	if (v->start < start && !vma_may_split(v, start))
		return -EINVAL;
	struct shadow_vma *last = shadow_find(sh, end - 1);
	if (last && last->end > end && !vma_may_split(last, end)) {
		/* The split at start was made before the end failed. */
		if (v->start < start && !vma_split(sh, v, start, rec))
			return -ENOMEM;
		return -EINVAL;
	}
	rec_holes(sh, start, end, rec);
	if (region_cut(sh, start, end, kind, rec))
		return -ENOMEM;
	if (vma_clear_range(sh, start, end, rec))
		return -ENOMEM;
	return 0;
}

int shadow_unmap(struct shadow *sh, uint64_t start, uint64_t len,
		 struct shadow_change *rec)
{
	rec_reset(rec, start, start + len);
	if ((start & ~SH_PAGE_MASK) || start > sh->env.task_size ||
	    len > sh->env.task_size - start)
		return -EINVAL;
	uint64_t end = start + SH_PAGE_ALIGN(len);
	if (end == start)
		return -EINVAL;
	rec_span(rec, start, end);
	int err = shadow_do_unmap(sh, start, end, SHADOW_PIECE_UNMAPPED, rec);
	if (rec)
		rec->result = err;
	if (!err)
		sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_unmap");
	return err;
}
