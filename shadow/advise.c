/*
 * advise.c - madvise(2) and the mlock family as Linux 6.18 does them
 * (mm/madvise.c madvise_walk_vmas, madvise_vma_behavior; mm/mlock.c
 * apply_vma_lock_flags, mlock_fixup, apply_mlockall_flags).
 *
 * madvise skips holes and reports ENOMEM at the end, having applied the
 * advice to every mapped part; mlock stops at the first hole.  Both change
 * a VMA only when its flags really change, through vma_modify (merge with a
 * neighbour when the range touches the VMA's edge, else split).
 */
#include "shadow_internal.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

static bool advice_valid(int adv)
{
	switch (adv) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL:
	case MADV_WILLNEED: case MADV_DONTNEED: case MADV_FREE:
	case MADV_REMOVE: case MADV_DONTFORK: case MADV_DOFORK:
	case MADV_MERGEABLE: case MADV_UNMERGEABLE: case MADV_HUGEPAGE:
	case MADV_NOHUGEPAGE: case MADV_DONTDUMP: case MADV_DODUMP:
	case MADV_WIPEONFORK: case MADV_KEEPONFORK: case MADV_COLD:
	case MADV_PAGEOUT: case MADV_POPULATE_READ: case MADV_POPULATE_WRITE:
	case MADV_COLLAPSE: case MADV_DONTNEED_LOCKED:
	case MADV_GUARD_INSTALL: case MADV_GUARD_REMOVE:
		return true;
	}
	return false;
}

/* madvise_vma_behavior() for one VMA part [start, end).  Returns 0 or
 * -errno; *vp is updated to the VMA now holding the range. */
static int advise_one(struct shadow *sh, struct shadow_vma **vp,
		      uint64_t start, uint64_t end, int adv,
		      struct shadow_change *rec)
{
	struct shadow_vma *v = *vp;
	uint32_t f = v->flags, nf = f;
	bool anon = vma_is_anon(v);

	switch (adv) {
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
		if (!(f & SV_HUGETLB) &&
		    (f & (SV_IO | (adv == MADV_DONTNEED ? SV_LOCKED : 0))))
			return -EINVAL;
		return 0;
	case MADV_FREE:
		if (f & (SV_LOCKED | SV_IO) || !anon)
			return -EINVAL;
		return 0;
	case MADV_REMOVE:
		if (f & SV_LOCKED)
			return -EINVAL;
		if (!v->file_id)
			return -EINVAL;
		if ((f & (SV_SHARED | SV_MAYWRITE)) != (SV_SHARED | SV_MAYWRITE))
			return -EACCES;
		return 0;
	case MADV_COLD:
	case MADV_PAGEOUT:
		if (f & (SV_LOCKED | SV_IO | SV_HUGETLB))
			return -EINVAL;
		return 0;
	case MADV_WILLNEED:
	case MADV_COLLAPSE:
		return 0;
	case MADV_GUARD_INSTALL:
		if (f & (SV_LOCKED | SV_SPECIAL | SV_HUGETLB))
			return -EINVAL;
		if (!(f & SV_MAYBE_GUARD))
			v->flags |= SV_MAYBE_GUARD; /* whole VMA, no split */
		/* Anonymous VMAs get an anon_vma for the markers; file-backed
		 * ones rely on VM_MAYBE_GUARD instead (checked on 6.18). */
		if (anon)
			vma_anon_prepare(sh, v);
		return guard_add(sh, start, end);
	case MADV_GUARD_REMOVE:
		if (f & (SV_SPECIAL | SV_HUGETLB))
			return -EINVAL;
		return guard_cut(sh, start, end);
	case MADV_NORMAL:
		nf = f & ~(SV_SEQ_READ | SV_RAND_READ);
		break;
	case MADV_SEQUENTIAL:
		nf = (f & ~SV_RAND_READ) | SV_SEQ_READ;
		break;
	case MADV_RANDOM:
		nf = (f & ~SV_SEQ_READ) | SV_RAND_READ;
		break;
	case MADV_DONTFORK:
		nf = f | SV_DONTCOPY;
		break;
	case MADV_DOFORK:
		if (f & SV_IO)
			return -EINVAL;
		nf = f & ~SV_DONTCOPY;
		break;
	case MADV_WIPEONFORK:
		if (v->file_id || (f & SV_SHARED))
			return -EINVAL;
		nf = f | SV_WIPEONFORK;
		break;
	case MADV_KEEPONFORK:
		if (f & SV_DROPPABLE)
			return -EINVAL;
		nf = f & ~SV_WIPEONFORK;
		break;
	case MADV_DONTDUMP:
		nf = f | SV_DONTDUMP;
		break;
	case MADV_DODUMP:
		if ((!(f & SV_HUGETLB) && (f & SV_SPECIAL)) ||
		    (f & SV_DROPPABLE))
			return -EINVAL;
		nf = f & ~SV_DONTDUMP;
		break;
	case MADV_HUGEPAGE:
		nf = (f & ~SV_NOHUGEPAGE) | SV_HUGEPAGE;
		break;
	case MADV_NOHUGEPAGE:
		nf = (f & ~SV_HUGEPAGE) | SV_NOHUGEPAGE;
		break;
	case MADV_MERGEABLE:
		if (f & (SV_SHARED | SV_MAYSHARE | SV_SPECIAL | SV_HUGETLB))
			return 0; /* not KSM-compatible: silently unchanged */
		nf = f | SV_MERGEABLE;
		break;
	case MADV_UNMERGEABLE:
		nf = f & ~SV_MERGEABLE;
		break;
	}
	if (nf == f)
		return 0;
	region_note(sh, start, end, SHADOW_PIECE_CHANGED, f, rec);
	int merr;
	v = vma_modify(sh, v, start, end, nf, rec, &merr);
	if (!v) /* madvise turns a split's ENOMEM into EAGAIN */
		return merr == -ENOMEM ? -EAGAIN : merr;
	*vp = v;
	return 0;
}

/* madvise_populate(): fault [start, end) in; stops at the first problem. */
static int advise_populate(struct shadow *sh, uint64_t start, uint64_t end,
			   bool write)
{
	while (start < end) {
		struct shadow_vma *v = shadow_find(sh, start);
		if (!v)
			return -ENOMEM;
		if (v->flags & SV_IO)
			return -EINVAL;
		if (!(v->flags & SV_PROT_MASK))
			return -EINVAL;
		if (write ? !(v->flags & SV_WRITE) : !(v->flags & SV_READ))
			return -EINVAL;
		uint64_t e = v->end < end ? v->end : end;
		uint64_t bad = shadow_past_object(sh, v, start, e);
		uint64_t g = guard_first(sh, start, bad ? bad : e);
		if (g)
			bad = g;
		if (bad != start && !(v->flags & SV_MAYSHARE)) {
			if (write)
				vma_anon_prepare(sh, v);
			else
				vma_read_fault_range(sh, v, start,
						     bad ? bad : e);
		}
		if (bad)
			return -EFAULT;
		start = v->end;
	}
	return 0;
}

int shadow_advise(struct shadow *sh, uint64_t start, uint64_t len, int adv,
		  struct shadow_change *rec)
{
	rec_reset(rec, start, start + len);
	if (!advice_valid(adv))
		return -EINVAL;
	if (start & ~SH_PAGE_MASK)
		return -EINVAL;
	if (!len)
		return 0;
	uint64_t alen = SH_PAGE_ALIGN(len);
	if (!alen)
		return -EINVAL;
	uint64_t end = start + alen;
	if (end < start)
		return -EINVAL;
	rec_span(rec, start, end);
	int err = 0;
	if (adv == MADV_POPULATE_READ || adv == MADV_POPULATE_WRITE) {
		err = advise_populate(sh, start, end, adv == MADV_POPULATE_WRITE);
		goto out;
	}
	/* madvise_walk_vmas() */
	int unmapped = 0;
	struct shadow_vma *v = shadow_find_next(sh, start);
	for (;;) {
		if (!v) {
			err = -ENOMEM;
			goto out;
		}
		if (start < v->start) {
			unmapped = -ENOMEM;
			start = v->start;
			if (start >= end)
				break;
		}
		uint64_t tmp = v->end < end ? v->end : end;
		err = advise_one(sh, &v, start, tmp, adv, rec);
		if (err)
			goto out;
		start = tmp;
		if (start < v->end)
			start = v->end;
		if (rec)
			rec->applied_end = start < end ? start : end;
		if (start >= end)
			break;
		v = shadow_find_next(sh, v->end);
	}
	err = unmapped;
out:
	if (rec)
		rec->result = err;
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_advise");
	return err;
}

/* mlock_fixup(): give [start, end) of v the lock bits `lk`. */
static struct shadow_vma *lock_fixup(struct shadow *sh, struct shadow_vma *v,
				     uint64_t start, uint64_t end, uint32_t lk,
				     struct shadow_change *rec)
{
	uint32_t nf = (v->flags & ~(SV_LOCKED | SV_LOCKONFAULT)) | lk;
	if (nf == v->flags || (v->flags & (SV_SPECIAL | SV_HUGETLB |
					   SV_DROPPABLE)))
		return v;
	region_note(sh, start, end, SHADOW_PIECE_CHANGED, v->flags, rec);
	int merr;
	return vma_modify(sh, v, start, end, nf, rec, &merr);
}

/* apply_vma_lock_flags() then __mm_populate() when locking. */
static int lock_range(struct shadow *sh, uint64_t start, uint64_t len,
		      uint32_t lk, struct shadow_change *rec)
{
	len = SH_PAGE_ALIGN(len + (start & ~SH_PAGE_MASK));
	start &= SH_PAGE_MASK;
	rec_reset(rec, start, start + len);
	uint64_t end = start + len;
	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;
	struct shadow_vma *v = shadow_find(sh, start);
	if (!v)
		return -ENOMEM;
	uint64_t tmp = v->start, nstart = start;
	int err = 0;
	while (v && v->start < end) {
		if (v->start != tmp) {
			err = -ENOMEM;
			break;
		}
		tmp = v->end < end ? v->end : end;
		v = lock_fixup(sh, v, nstart, tmp, lk, rec);
		if (!v) {
			err = -ENOMEM;
			break;
		}
		tmp = v->end;
		nstart = tmp;
		v = shadow_vma_next(v);
	}
	if (!err && tmp < end)
		err = -ENOMEM;
	if (!err && (lk & SV_LOCKED)) {
		/* __mm_populate(); its EFAULT is mlock's ENOMEM. */
		for (v = shadow_find_next(sh, start); v && v->start < end;
		     v = shadow_vma_next(v)) {
			uint64_t s = v->start > start ? v->start : start;
			uint64_t e = v->end < end ? v->end : end;
			if (vma_populate_range(sh, v, s, e)) {
				err = -ENOMEM;
				break;
			}
		}
	}
	rec_span(rec, start, end);
	if (rec)
		rec->result = err;
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_lock");
	return err;
}

int shadow_lock(struct shadow *sh, uint64_t start, uint64_t len, int flags,
		struct shadow_change *rec)
{
	if (flags & ~MLOCK_ONFAULT) {
		rec_reset(rec, start, start + len);
		return -EINVAL;
	}
	return lock_range(sh, start, len,
			  SV_LOCKED | (flags & MLOCK_ONFAULT ? SV_LOCKONFAULT
							     : 0), rec);
}

int shadow_unlock(struct shadow *sh, uint64_t start, uint64_t len,
		  struct shadow_change *rec)
{
	return lock_range(sh, start, len, 0, rec);
}

static int lockall_apply(struct shadow *sh, uint32_t to_add,
			 struct shadow_change *rec)
{
	for (struct shadow_vma *v = shadow_vma_first(sh); v;) {
		struct shadow_vma *r = lock_fixup(sh, v, v->start, v->end,
						  to_add, rec);
		v = shadow_vma_next(r ? r : v);
	}
	if (to_add & SV_LOCKED)
		for (struct shadow_vma *v = shadow_vma_first(sh); v;
		     v = shadow_vma_next(v))
			vma_populate(sh, v);
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_lockall");
	return 0;
}

int shadow_lockall(struct shadow *sh, int flags, struct shadow_change *rec)
{
	rec_reset(rec, 0, 0);
	if (!flags || (flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) ||
	    flags == MCL_ONFAULT)
		return -EINVAL;
	uint32_t onf = flags & MCL_ONFAULT ? SV_LOCKONFAULT : 0;
	sh->def_flags &= ~(SV_LOCKED | SV_LOCKONFAULT);
	if (flags & MCL_FUTURE)
		sh->def_flags |= SV_LOCKED | onf;
	if (!(flags & MCL_CURRENT))
		return 0;
	if (rec) {
		rec->span_start = 0;
		rec->span_end = UINT64_MAX;
	}
	return lockall_apply(sh, SV_LOCKED | onf, rec);
}

int shadow_unlockall(struct shadow *sh, struct shadow_change *rec)
{
	rec_reset(rec, 0, UINT64_MAX);
	sh->def_flags &= ~(SV_LOCKED | SV_LOCKONFAULT);
	return lockall_apply(sh, 0, rec);
}

/* ---- userfaultfd registration: fs/userfaultfd.c userfaultfd_register() */

int shadow_uffd_register(struct shadow *sh, uint64_t start, uint64_t len,
			 uint32_t uflags, struct shadow_change *rec)
{
	rec_reset(rec, start, start + len);
	uint64_t end = start + len;
	if ((start | len) & ~SH_PAGE_MASK || !len || end < start ||
	    end > sh->env.task_size || (uflags & ~SV_UFFD_ANY))
		return -EINVAL;
	struct shadow_vma *v = shadow_find_next(sh, start);
	if (!v || v->start >= end)
		return -EINVAL;
	/* Checked on every VMA before any is changed. */
	for (struct shadow_vma *w = v; w && w->start < end;
	     w = shadow_vma_next(w))
		if (uflags && (w->flags & (SV_SPECIAL | SV_HUGETLB |
					   SV_DROPPABLE)))
			return -EINVAL;
	rec_span(rec, start, end);
	while (v && v->start < end) {
		uint64_t s = v->start > start ? v->start : start;
		uint64_t e = v->end < end ? v->end : end;
		uint32_t nf = (v->flags & ~SV_UFFD_ANY) | uflags;
		bool skip = uflags ? (v->flags & uflags) == uflags
				   : !(v->flags & SV_UFFD_ANY);
		if (!skip) {
			region_note(sh, s, e, SHADOW_PIECE_CHANGED, v->flags,
				    rec);
			int merr;
			v = vma_modify(sh, v, s, e, nf, rec, &merr);
			if (!v) {
				if (rec)
					rec->result = merr;
				return merr;
			}
		}
		if (v->end >= end)
			break;
		v = shadow_vma_next(v);
	}
	/* Another context's registrations (the program's own userfaultfd)
	 * look the same here but never merge with ours. */
	if (rec) {
		rec->uncertain = true;
		rec->result = 0;
		rec->applied_end = end;
	}
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_uffd_register");
	return 0;
}
