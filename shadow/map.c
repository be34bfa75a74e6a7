/*
 * map.c - mmap(2) as Linux 6.18 does it: sys_mmap, ksys_mmap_pgoff,
 * do_mmap, __get_unmapped_area, mmap_region; plus the two helpers every
 * page-creating operation shares: the new-range merge (vma_merge_new_range)
 * and anon_vma preparation on the first anonymous fault.
 *
 * Checks run in the kernel's order so that the first failing one gives the
 * errno the kernel gives.
 */
#include "shadow_internal.h"

/* mm/mman.h LEGACY_MAP_MASK: the flags plain MAP_SHARED accepts. */
#define MAP_HUGE_MASK_BITS (0x3fu << 26)
#define LEGACY_MAP_MASK                                                      \
	(MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | \
	 MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED |     \
	 MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK |             \
	 MAP_HUGETLB | MAP_HUGE_MASK_BITS)

/* anon_vma_compatible(a, b) for the reuse test of find_mergeable_anon_vma:
 * adjacent, same file, flags equal but for access bits, linear pgoff. */
static bool anon_vma_compatible(const struct shadow_vma *a,
				const struct shadow_vma *b)
{
	return a->end == b->start && a->file_id == b->file_id &&
	       a->ino == b->ino && a->dev == b->dev &&
	       !((a->flags ^ b->flags) & ~SV_ANON_COMPAT_IGNORE) &&
	       b->pgoff == a->pgoff + vma_pages(a);
}

/* __anon_vma_prepare(): the first anonymous fault in v gives it an anon_vma,
 * reusing next's and then prev's when compatible. */
void vma_anon_prepare(struct shadow *sh, struct shadow_vma *v)
{
	if (v->anon_id != SHADOW_ANON_NONE)
		return;
	struct shadow_vma *n = shadow_vma_next(v), *p = shadow_vma_prev(v);
	if (n && n->anon_id != SHADOW_ANON_NONE && anon_vma_compatible(v, n)) {
		v->anon_id = n->anon_id;
		return;
	}
	if (p && p->anon_id != SHADOW_ANON_NONE && anon_vma_compatible(p, v)) {
		v->anon_id = p->anon_id;
		return;
	}
	v->anon_id = shadow_new_anon_id(sh);
}

/* vma_merge_new_range(): place nv's range [start, end) (free in the tree)
 * next to its neighbours, merging where the rules allow.  nv is consumed:
 * inserted, or freed when a neighbour absorbed its range.  Returns the VMA
 * that now holds the range. */
void vma_merge_sides(const struct shadow_vma *prev, uint64_t prev_end_pg,
		     const struct shadow_vma *nv, const struct shadow_vma *next,
		     uint64_t next_pg, bool *left, bool *right, bool *unc)
{
	*left = *right = false;
	if (nv->flags & SV_SPECIAL)
		return;
	*left = prev &&
		pgoff_follows(prev_end_pg, nv->pgoff, prev->anon_id,
			      nv->anon_id) &&
		vma_attrs_mergeable(prev->flags, nv->flags, prev, nv, unc);
	*right = next &&
		 pgoff_follows(nv->pgoff + vma_pages(nv), next_pg, nv->anon_id,
			       next->anon_id) &&
		 vma_attrs_mergeable(nv->flags, next->flags, nv, next, unc) &&
		 (!*left ||
		  vma_anon_compatible(prev->anon_id, next->anon_id, unc));
}

struct shadow_vma *vma_merge_new(struct shadow *sh, struct shadow_vma *nv,
				 struct shadow_change *rec)
{
	struct shadow_vma *next = shadow_find_next(sh, nv->start);
	struct shadow_vma *prev = next ? shadow_vma_prev(next)
				       : vma_of_last(sh);
	bool unc = false, left, right;
	if (prev && prev->end != nv->start)
		prev = NULL;
	if (next && next->start != nv->end)
		next = NULL;
	vma_merge_sides(prev, prev ? prev->pgoff + vma_pages(prev) : 0, nv,
			next, next ? next->pgoff : 0, &left, &right, &unc);
	if (rec && unc)
		rec->uncertain = true;
	if (left) {
		vma_merge_attrs(prev, nv->anon_id, nv->flags);
		vma_set_range(sh, prev, prev->start, nv->end);
		vma_free(sh, nv);
		if (rec)
			rec->vmas_merged++;
		if (right)
			vma_merge_pair(sh, prev, next, rec);
		return prev;
	}
	if (right) {
		vma_merge_attrs(next, nv->anon_id, nv->flags);
		next->pgoff = nv->pgoff;
		vma_set_range(sh, next, nv->start, next->end);
		vma_free(sh, nv);
		if (rec)
			rec->vmas_merged++;
		return next;
	}
	vma_insert(sh, nv);
	if (rec)
		rec->vmas_added++;
	return nv;
}

/* populate_vma_page_range(): MAP_POPULATE / VM_LOCKED fault the pages in,
 * writing when the mapping is private and writable (which gives it an
 * anon_vma); VM_LOCKONFAULT and PROT_NONE populate nothing. */
int vma_populate_range(struct shadow *sh, struct shadow_vma *v,
		       uint64_t start, uint64_t end)
{
	if (v->flags & (SV_LOCKONFAULT | SV_IO))
		return 0;
	/* GUP refuses PROT_NONE even with FOLL_FORCE (check_vma_flags). */
	if (!(v->flags & SV_PROT_MASK))
		return -EFAULT;
	uint64_t bad = shadow_past_object(sh, v, start, end);
	uint64_t g = guard_first(sh, start, bad ? bad : end);
	if (g)
		bad = g;
	if (bad == start)
		return -EFAULT;
	if ((v->flags & (SV_WRITE | SV_SHARED | SV_MAYSHARE)) == SV_WRITE)
		vma_anon_prepare(sh, v);
	return bad ? -EFAULT : 0;
}

void vma_populate(struct shadow *sh, struct shadow_vma *v)
{
	vma_populate_range(sh, v, v->start, v->end);
}

/* generic_get_unmapped_area_topdown(): is the hint usable as it is?  The
 * stack guard gap below a GROWSDOWN VMA counts as taken. */
static bool hint_ok(const struct shadow *sh, uint64_t addr, uint64_t len)
{
	if (!addr || addr > sh->env.task_size - len ||
	    addr < sh->env.mmap_min_addr)
		return false;
	struct shadow_vma *nx = shadow_find_next(sh, addr);
	if (nx) {
		uint64_t gap_start = nx->start;
		if (nx->flags & SV_GROWSDOWN)
			gap_start = gap_start > sh->env.stack_guard_gap
					    ? gap_start - sh->env.stack_guard_gap
					    : 0;
		if (addr + len > gap_start)
			return false;
	}
	return true;
}

static uint64_t huge_align(uint64_t len, unsigned shift)
{
	uint64_t sz = 1ull << shift;
	return (len + sz - 1) & ~(sz - 1);
}

int64_t shadow_map(struct shadow *sh, const struct shadow_map_args *a,
		   struct shadow_change *rec)
{
	const struct shadow_file *f = a->file;
	int flags = a->flags, prot = a->prot;
	uint64_t len = a->len, addr = a->addr;
	unsigned hshift = 0;
	bool anon = flags & MAP_ANONYMOUS;

	rec_reset(rec, addr, addr + len);
	/* arch sys_mmap */
	if (a->off & ~SH_PAGE_MASK)
		return -EINVAL;
	uint64_t pgoff = a->off >> SH_PAGE_SHIFT;
	/* ksys_mmap_pgoff */
	if (!anon) {
		if (!f || !f->valid)
			return -EBADF;
		if (f->hugetlb) {
			hshift = f->hugetlb_shift ? f->hugetlb_shift : 21;
			len = huge_align(len, hshift);
		} else if (flags & MAP_HUGETLB) {
			return -EINVAL;
		}
	} else if (flags & MAP_HUGETLB) {
		unsigned log = ((unsigned)flags >> 26) & 0x3f;
		hshift = log ? log : 21;
		if (hshift != 21 && hshift != 30)
			return -EINVAL;
		len = huge_align(len, hshift);
		/* The pool may be empty: only the kernel knows. */
		if (rec)
			rec->uncertain = true;
	}
	/* do_mmap */
	if (!len)
		return -EINVAL;
	if (flags & MAP_FIXED_NOREPLACE)
		flags |= MAP_FIXED;
	if (!(flags & MAP_FIXED)) {
		addr &= SH_PAGE_MASK;
		if (addr && addr < sh->env.mmap_min_addr)
			addr = SH_PAGE_ALIGN(sh->env.mmap_min_addr);
	}
	len = SH_PAGE_ALIGN(len);
	if (!len)
		return -ENOMEM;
	if (pgoff + (len >> SH_PAGE_SHIFT) < pgoff)
		return -EOVERFLOW;
	if (sh->c.map_count > sh->env.max_map_count)
		return -ENOMEM;

	uint32_t vm = shadow_prot_to_flags(prot) | SV_MAYREAD | SV_MAYWRITE |
		      SV_MAYEXEC | sh->def_flags;
	if (flags & MAP_GROWSDOWN)
		vm |= SV_GROWSDOWN;
	if (flags & MAP_LOCKED)
		vm |= SV_LOCKED;
	if (flags & MAP_STACK)
		vm |= SV_NOHUGEPAGE; /* 6.7+: MAP_STACK implies VM_NOHUGEPAGE */
	if (flags & MAP_SYNC)
		vm |= SV_SYNC;
	if (hshift)
		vm |= SV_HUGETLB | (hshift == 30 ? SV_HUGE_1G : 0);

	/* __get_unmapped_area */
	if (len > sh->env.task_size - sh->env.mmap_min_addr)
		return -ENOMEM;
	if (flags & MAP_FIXED) {
		if (addr > sh->env.task_size - len)
			return -ENOMEM;
		if (addr & ~SH_PAGE_MASK)
			return -EINVAL;
		if (hshift && (addr & ((1ull << hshift) - 1)))
			return -EINVAL;
	} else if (a->result) {
		addr = a->result;
	} else if (!hint_ok(sh, addr, len)) {
		addr = shadow_find_free(sh, len, sh->env.mmap_min_addr,
					sh->env.mmap_base, true);
		if (!addr)
			return -ENOMEM;
	}
	if ((flags & MAP_FIXED_NOREPLACE) &&
	    vma_range_used(sh, addr, addr + len))
		return -EEXIST;

	uint32_t file_id = 0, dev = 0;
	uint64_t ino = 0;
	uint8_t name = SHADOW_NAME_ANON;
	if (!anon) {
		int type = flags & MAP_TYPE;
		/* file_mmap_ok(): offsets up to MAX_LFS_FILESIZE. */
		uint64_t maxsize = f->regular ? (uint64_t)INT64_MAX : UINT64_MAX;
		if (len > maxsize ||
		    pgoff > ((maxsize - len) >> SH_PAGE_SHIFT))
			return -EOVERFLOW;
		if (type == MAP_SHARED) {
			flags &= LEGACY_MAP_MASK;
			type = MAP_SHARED_VALIDATE;
		}
		switch (type) {
		case MAP_SHARED_VALIDATE:
			if (flags & ~(LEGACY_MAP_MASK | MAP_SHARED_VALIDATE |
				      (f->shmem ? 0 : MAP_SYNC)))
				return -EOPNOTSUPP;
			if ((prot & PROT_WRITE) && !f->writable)
				return -EACCES;
			if (f->append && f->writable)
				return -EACCES;
			vm |= SV_SHARED | SV_MAYSHARE;
			if (!f->writable)
				vm &= ~(SV_MAYWRITE | SV_SHARED);
			/* fall through */
		case MAP_PRIVATE:
			if (!f->readable)
				return -EACCES;
			if (f->noexec) {
				if (vm & SV_EXEC)
					return -EPERM;
				vm &= ~SV_MAYEXEC;
			}
			if (!f->can_mmap)
				return -ENODEV;
			if (vm & SV_GROWSDOWN)
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
		/* Only DAX files take VM_SYNC; we know of none. */
		if ((vm & SV_SYNC) && !f->shmem)
			return -EOPNOTSUPP;
		file_id = f->file_id ? f->file_id : SHADOW_FILE_UNKNOWN;
		dev = f->dev;
		ino = f->ino;
		name = SHADOW_NAME_FILE;
		if (f->regular || f->shmem)
			shadow_set_object_size(sh, ino, file_id, f->size);
	} else {
		if (hshift) {
			/* hugetlb_file_setup(): "/anon_hugepage (deleted)", a
			 * file of its own, offset 0. */
			file_id = ++sh->next_file_id | 0x80000000u;
			ino = SHADOW_INO_UNKNOWN;
			name = SHADOW_NAME_FILE;
		}
		switch (flags & MAP_TYPE) {
		case MAP_SHARED:
			if (vm & SV_GROWSDOWN)
				return -EINVAL;
			pgoff = 0;
			vm |= SV_SHARED | SV_MAYSHARE;
			/* shmem_zero_setup: a new file every time. */
			file_id = ++sh->next_file_id | 0x80000000u;
			ino = SHADOW_INO_UNKNOWN;
			name = SHADOW_NAME_SHMEM;
			shadow_set_object_size(sh, 0, file_id, len);
			break;
		case MAP_DROPPABLE:
			/* Locked or stack memory cannot be droppable. */
			if ((flags & MAP_LOCKED) || (vm & SV_GROWSDOWN))
				return -EINVAL;
			vm |= SV_DROPPABLE | SV_WIPEONFORK | SV_DONTDUMP |
			      SV_NORESERVE;
			pgoff = addr >> SH_PAGE_SHIFT;
			break;
		case MAP_PRIVATE:
			pgoff = hshift ? 0 : addr >> SH_PAGE_SHIFT;
			break;
		default:
			return -EINVAL;
		}
	}
	vm = vm_commit_flags(sh, vm, flags);

	/* mmap_region */
	if ((flags & MAP_FIXED) && vma_clear_splits(sh, addr, addr + len) &&
	    sh->c.map_count >= sh->env.max_map_count)
		return -ENOMEM;
	if (vm & (SV_SPECIAL | SV_HUGETLB))
		vm &= ~(SV_LOCKED | SV_LOCKONFAULT);

	struct shadow_vma *nv = vma_alloc(sh);
	if (!nv)
		return -ENOMEM;
	uint8_t rcall = a->call ? a->call : SHADOW_CALL_MMAP;
	bool fixed = flags & MAP_FIXED, stale = false;
	if (!fixed && vma_range_used(sh, addr, addr + len)) {
		/* The kernel placed it over pages the shadow thinks are
		 * mapped: the shadow is stale.  Follow the kernel. */
		if (rec)
			rec->uncertain = true;
		stale = true;
	}
	if (fixed || stale) {
		/* A decommit gives its pages back (region.c, Give-back). */
		bool give_back = fixed && anon && prot == PROT_NONE &&
				 (flags & MAP_TYPE) == MAP_PRIVATE;
		int err = region_replace(sh, addr, addr + len,
					 SHADOW_PIECE_REPLACED, rec, a->origin,
					 a->stack_id, rcall, name, give_back);
		if (!err && vma_clear_range(sh, addr, addr + len, NULL)) {
			/* No VMA for the new region: take it out again (a
			 * whole region: no node needed). */
			region_cut(sh, addr, addr + len, SHADOW_PIECE_REPLACED,
				   NULL);
			err = -ENOMEM;
		}
		if (err && fixed) {
			vma_free(sh, nv);
			return -ENOMEM;
		}
	}
	nv->start = addr;
	nv->end = addr + len;
	nv->pgoff = pgoff;
	nv->flags = vm;
	nv->file_id = file_id;
	nv->dev = dev;
	nv->ino = ino;
	nv->anon_id = SHADOW_ANON_NONE;
	struct shadow_vma *v = vma_merge_new(sh, nv, rec);
	if (!fixed && !stale &&
	    region_insert(sh, addr, addr + len, a->origin, a->stack_id, rcall,
			  name) &&
	    rec)
		rec->uncertain = true;
	rec_piece(rec, SHADOW_PIECE_CREATED, addr, addr + len, NULL, 0);
	if ((vm & SV_LOCKED) ||
	    ((flags & MAP_POPULATE) && !(flags & MAP_NONBLOCK)))
		vma_populate(sh, v);
	rec_span(rec, addr, addr + len);
	if (rec) {
		rec->addr = addr;
		rec->result = 0;
	}
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_map");
	return (int64_t)addr;
}
