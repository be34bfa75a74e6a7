/*
 * protect.c - mprotect(2) as Linux 6.18 does it (do_mprotect_pkey,
 * mprotect_fixup), and vma_modify(), the split-or-merge step shared with
 * madvise and mlock (mm/vma.c vma_merge_existing_range).
 *
 * mprotect works VMA by VMA: a hole stops it with ENOMEM after the VMAs
 * before the hole were already changed; an unchanged VMA is skipped without
 * any merge attempt.
 */
#include "shadow_internal.h"

/* Split v at addr, refusing as split_vma does when the map is full. */
static struct shadow_vma *split_counted(struct shadow *sh,
					struct shadow_vma *v, uint64_t addr,
					struct shadow_change *rec)
{
	if (sh->c.map_count >= sh->env.max_map_count)
		return NULL;
	return vma_split(sh, v, addr, rec);
}

/* What vma_modify will do with [start, end) of v given flags: merge into
 * the previous VMA (ml), the next (mr), both, or neither (then split). */
struct modify_plan {
	bool ml, mr, unc; /* unc: the answer depends on what is not seen */
};

static struct modify_plan modify_plan(const struct shadow_vma *v,
				      uint64_t start, uint64_t end,
				      uint32_t flags)
{
	struct modify_plan p = { false, false, false };
	bool left_side = start == v->start, right_side = end == v->end;
	if ((flags & SV_SPECIAL) || !(left_side || right_side))
		return p;
	uint64_t pgoff = v->pgoff + ((start - v->start) >> SH_PAGE_SHIFT);
	uint64_t pages = (end - start) >> SH_PAGE_SHIFT;
	struct shadow_vma *prev = shadow_vma_prev(v), *next = shadow_vma_next(v);
	p.ml = left_side && prev && prev->end == start &&
	       pgoff_follows(prev->pgoff + vma_pages(prev), pgoff,
			     prev->anon_id, v->anon_id) &&
	       vma_attrs_mergeable(prev->flags, flags, prev, v, &p.unc);
	p.mr = right_side && next && next->start == end &&
	       pgoff_follows(pgoff + pages, next->pgoff, v->anon_id,
			     next->anon_id) &&
	       vma_attrs_mergeable(flags, next->flags, v, next, &p.unc) &&
	       (!p.ml ||
		vma_anon_compatible(prev->anon_id, next->anon_id, &p.unc));
	return p;
}

static struct shadow_vma *modify_nodes(struct shadow *sh,
				       struct shadow_vma *v, uint64_t start,
				       uint64_t end, uint32_t flags,
				       struct modify_plan p,
				       struct shadow_change *rec, int *err);

/* The VMA that now covers start, or NULL.  It becomes the lookup cache:
 * a merge took the node the lookup had found out of the tree, and the
 * next call often works at the same address (an mprotect undone). */
static struct shadow_vma *modify_apply(struct shadow *sh, struct shadow_vma *v,
				       uint64_t start, uint64_t end,
				       uint32_t flags, struct modify_plan p,
				       struct shadow_change *rec, int *err)
{
	v = modify_nodes(sh, v, start, end, flags, p, rec, err);
	if (v)
		sh->vcache = v;
	return v;
}

static struct shadow_vma *modify_nodes(struct shadow *sh,
				       struct shadow_vma *v, uint64_t start,
				       uint64_t end, uint32_t flags,
				       struct modify_plan p,
				       struct shadow_change *rec, int *err)
{
	*err = -ENOMEM;
	bool left_side = start == v->start, right_side = end == v->end;
	uint64_t pgoff = v->pgoff + ((start - v->start) >> SH_PAGE_SHIFT);
	uint64_t pages = (end - start) >> SH_PAGE_SHIFT;
	bool ml = p.ml, mr = p.mr;
	struct shadow_vma *prev = shadow_vma_prev(v), *next = shadow_vma_next(v);
	if (ml) {
		vma_merge_attrs(prev, v->anon_id, flags);
		if (right_side) {
			vma_erase(sh, v);
			vma_free(sh, v);
		} else {
			v->pgoff += pages;
			vma_set_range(sh, v, end, v->end);
		}
		vma_set_range(sh, prev, prev->start, end);
		if (rec)
			rec->vmas_merged++;
		if (mr)
			vma_merge_pair(sh, prev, next, rec);
		return prev;
	}
	if (mr) {
		vma_merge_attrs(next, v->anon_id, flags);
		if (left_side) {
			vma_erase(sh, v);
			vma_free(sh, v);
		} else {
			vma_set_range(sh, v, v->start, start);
		}
		next->pgoff = pgoff;
		vma_set_range(sh, next, start, next->end);
		if (rec)
			rec->vmas_merged++;
		return next;
	}
	/* The kernel splits the start first: when the end cannot be split
	 * the start split stays. */
	if (v->start < start) {
		if (!vma_may_split(v, start)) {
			*err = -EINVAL;
			return NULL;
		}
		struct shadow_vma *n = split_counted(sh, v, start, rec);
		if (!n)
			return NULL;
		v = n;
	}
	if (v->end > end) {
		if (!vma_may_split(v, end)) {
			*err = -EINVAL;
			return NULL;
		}
		if (!split_counted(sh, v, end, rec))
			return NULL;
	}
	vma_set_flags(sh, v, flags);
	return v;
}

struct shadow_vma *vma_modify(struct shadow *sh, struct shadow_vma *v,
			      uint64_t start, uint64_t end, uint32_t flags,
			      struct shadow_change *rec, int *err)
{
	struct modify_plan p = modify_plan(v, start, end, flags);
	if (p.unc && rec)
		rec->uncertain = true;
	return modify_apply(sh, v, start, end, flags, p, rec, err);
}

/* mprotect_fixup's newflags for v given the new protection bits: in *nf,
 * VM_ACCOUNT following the write bit.  -EACCES when a VM_MAY* bit forbids
 * it, 0 when nothing changes, 1 when *nf differs from v's flags.  *unc
 * when the answer depends on an anon_vma the shadow does not know. */
static int protect_flags(const struct shadow_vma *v, uint32_t newprot,
			 uint32_t *nf_out, bool *unc)
{
	uint32_t old = v->flags;
	uint32_t nf = (old & ~SV_PROT_MASK) | newprot;
	/* newflags >> 4 puts VM_MAY* in place of VM_* */
	if ((nf & ~(nf >> 4)) & SV_PROT_MASK)
		return -EACCES;
	*nf_out = nf;
	if (nf == old)
		return 0;
	if (nf & SV_WRITE) {
		if (!(old & (SV_ACCOUNT | SV_WRITE | SV_HUGETLB | SV_SHARED |
			     SV_NORESERVE)))
			nf |= SV_ACCOUNT;
		/* Either way VM_ACCOUNT is set now. */
		nf &= ~SV_ACCT_UNSURE;
	} else if ((old & SV_ACCOUNT) && vma_is_anon(v)) {
		if (v->anon_id == SHADOW_ANON_UNKNOWN)
			*unc = true;
		if (v->anon_id == SHADOW_ANON_NONE)
			nf &= ~SV_ACCOUNT;
		/* Cleared only if never written: a guess, kept, and merges
		 * with it are lazy. */
		if (anon_maybe(v->anon_id))
			nf |= SV_ACCT_UNSURE;
	}
	*nf_out = nf;
	return 1;
}

/* A locked private VMA made writable is populated with write faults (COW
 * broken now). */
static bool protect_populates(uint32_t old, uint32_t nf)
{
	return (old & (SV_WRITE | SV_SHARED | SV_LOCKED)) == SV_LOCKED &&
	       (nf & SV_WRITE);
}

int shadow_protect(struct shadow *sh, uint64_t start, uint64_t len, int prot,
		   struct shadow_change *rec)
{
	rec_reset(rec, start, start + len);
	int grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
	prot &= ~grows;
	if (grows == (PROT_GROWSDOWN | PROT_GROWSUP))
		return -EINVAL;
	if (start & ~SH_PAGE_MASK)
		return -EINVAL;
	if (!len)
		return 0;
	len = SH_PAGE_ALIGN(len);
	uint64_t end = start + len;
	if (end <= start)
		return -ENOMEM;
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM))
		return -EINVAL;
	struct shadow_vma *v = shadow_find_next(sh, start);
	if (!v || v->start >= end)
		return -ENOMEM;
	if (grows & PROT_GROWSDOWN) {
		start = v->start;
		if (!(v->flags & SV_GROWSDOWN))
			return -EINVAL;
	} else {
		if (v->start > start)
			return -ENOMEM;
		if (grows & PROT_GROWSUP)
			return -EINVAL; /* no VM_GROWSUP on x86 */
	}
	rec_span(rec, start, end);
	uint32_t newprot = shadow_prot_to_flags(prot);
	uint64_t tmp = v->start, nstart = start;
	int err = 0;
	while (v && v->start < end) {
		if (v->start != tmp) {
			err = -ENOMEM;
			break;
		}
		uint32_t old = v->flags, nf;
		bool unc = false;
		int change = protect_flags(v, newprot, &nf, &unc);
		if (change < 0) {
			err = change;
			break;
		}
		tmp = v->end < end ? v->end : end;
		if (change) {
			if (unc && rec)
				rec->uncertain = true;
			region_note(sh, nstart, tmp, SHADOW_PIECE_CHANGED, old,
				    rec);
			int merr;
			v = vma_modify(sh, v, nstart, tmp, nf, rec, &merr);
			if (!v) {
				err = merr;
				break;
			}
			if (protect_populates(old, nf))
				vma_populate(sh, v);
		}
		tmp = v->end;
		nstart = tmp;
		if (rec)
			rec->applied_end = tmp < end ? tmp : end;
		if (tmp >= end)
			break; /* no rb_next past the range */
		v = shadow_vma_next(v);
	}
	if (!err && tmp < end)
		err = -ENOMEM;
	if (rec)
		rec->result = err;
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_protect");
	return err;
}

int shadow_protect_fast(struct shadow *sh, uint64_t start, uint64_t len,
			int prot, uint32_t *splits)
{
	*splits = 0;
	if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
	    (start & ~SH_PAGE_MASK) || !len || len > sh->env.task_size)
		return 0;
	uint64_t end = start + SH_PAGE_ALIGN(len);
	if (end <= start)
		return 0;
	struct shadow_vma *v = shadow_find(sh, start);
	if (!v || end > v->end)
		return 0;
	uint32_t nf;
	bool unc = false;
	int change = protect_flags(v, shadow_prot_to_flags(prot), &nf, &unc);
	if (change < 0)
		return 0; /* EACCES: not this path's to tell */
	if (!change) {
		sh->serial++; /* no change, no merge */
		return 1;
	}
	struct modify_plan p = modify_plan(v, start, end, nf);
	/* A populate is the general path's. */
	if (unc || p.unc || protect_populates(v->flags, nf))
		return 0;
	if (!p.ml && !p.mr) {
		/* The splits must all succeed, as split_counted sees them. */
		uint32_t n = (v->start < start) + (v->end > end);
		if ((v->start < start && !vma_may_split(v, start)) ||
		    (v->end > end && !vma_may_split(v, end)) ||
		    sh->c.map_count + n > sh->env.max_map_count)
			return 0;
		*splits = n;
	}
	int err;
	v = modify_apply(sh, v, start, end, nf, p, NULL, &err);
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_protect_fast");
	return v ? 1 : -1;
}
