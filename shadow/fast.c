/*
 * fast.c - the commonest mapping calls without the general machinery: an
 * anonymous private mmap the kernel placed where no neighbour can merge
 * with it, a MAP_FIXED anonymous private mmap inside one such mapping (a
 * reservation's commit or decommit), the munmap of exactly one whole
 * mapping, and an mremap that grew an anonymous private mapping in place
 * or moved it whole into free space.
 *
 * Each applies the call only when its shape is certain, with exactly the
 * effect shadow_map or shadow_unmap would have (the same VMAs, regions,
 * counters and serial), and records no shadow_change.  Otherwise it changes
 * nothing and the caller uses the general operation.  tests/fuzz_shadow
 * --fast runs them against the kernel, and test_shadow_fast compares them
 * with the general path.
 */
#include "shadow_internal.h"

/* Flags that keep a neighbour from merging, for certain: not the sticky
 * ones, nor a VM_ACCOUNT the shadow guessed (vma_attrs_mergeable). */
static bool differs_surely(uint32_t nf, uint32_t vm)
{
	uint32_t d = (nf ^ vm) & ~SV_STICKY;
	return d && !(d == SV_ACCOUNT && (nf & SV_ACCT_UNSURE));
}

/* The VMA flags do_mmap gives an anonymous private mapping of [addr, addr
 * + len) made with flags (MAP_PRIVATE|MAP_ANONYMOUS, maybe MAP_NORESERVE,
 * nothing else: no populate, lock, growsdown, hugetlb, shared or placement
 * flags), or 0 when the call has another shape or could fail for a limit
 * (`more` VMAs past the map count). */
static uint32_t anon_private_flags(const struct shadow *sh, uint64_t addr,
				   uint64_t len, int prot, int flags,
				   uint64_t off, uint64_t more)
{
	if ((flags & ~MAP_NORESERVE) != (MAP_PRIVATE | MAP_ANONYMOUS) ||
	    (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
	    (off & ~SH_PAGE_MASK) || !len || (addr & ~SH_PAGE_MASK) ||
	    !addr || sh->def_flags ||
	    len > sh->env.task_size - sh->env.mmap_min_addr ||
	    addr < sh->env.mmap_min_addr ||
	    sh->c.map_count + more > sh->env.max_map_count)
		return 0;
	uint64_t end = addr + SH_PAGE_ALIGN(len);
	if (end > sh->env.task_size || end <= addr)
		return 0;
	return vm_commit_flags(sh, shadow_prot_to_flags(prot) | SV_MAYREAD |
					   SV_MAYWRITE | SV_MAYEXEC,
			       flags);
}

uint32_t shadow_map_anon_fast_flags(const struct shadow *sh, uint64_t addr,
				    uint64_t len, int prot, int flags,
				    uint64_t off)
{
	uint32_t vm = anon_private_flags(sh, addr, len, prot, flags, off, 1);
	if (!vm)
		return 0;
	uint64_t end = addr + SH_PAGE_ALIGN(len);
	/* A hole, and each neighbour that touches it differs in flags (then
	 * vma_merge_new cannot merge, and is certain of it). */
	struct shadow_vma *next = shadow_find_next(sh, addr);
	if (next && (next->start < end ||
		     (next->start == end && !differs_surely(next->flags, vm))))
		return 0;
	struct shadow_vma *prev = next ? next->prev : vma_of_last(sh);
	if (prev && (prev->end > addr ||
		     (prev->end == addr && !differs_surely(prev->flags, vm))))
		return 0;
	return vm;
}

void shadow_map_unmap_elided(struct shadow *sh, uint64_t len)
{
	uint64_t pages = SH_PAGE_ALIGN(len) >> SH_PAGE_SHIFT;
	/* vma_account's peaks, without the two changes that cancel out. */
	if (sh->c.total_vm + pages > sh->c.hiwater_vm)
		sh->c.hiwater_vm = sh->c.total_vm + pages;
	if (sh->c.map_count + 1 > sh->c.peak_map_count)
		sh->c.peak_map_count = sh->c.map_count + 1;
	/* and the region id the mmap took */
	if (!++sh->next_region_id)
		sh->next_region_id = 1;
	sh->serial += 2;
}

bool shadow_map_anon_fast(struct shadow *sh, uint64_t addr, uint64_t len,
			  int prot, int flags, uint64_t off, uint8_t origin,
			  uint32_t stack_id)
{
	uint32_t vm = shadow_map_anon_fast_flags(sh, addr, len, prot, flags,
						 off);
	if (!vm)
		return false;
	uint64_t end = addr + SH_PAGE_ALIGN(len);
	struct shadow_vma *nv = vma_alloc(sh);
	if (!nv)
		return false;
	nv->start = addr;
	nv->end = end;
	nv->pgoff = addr >> SH_PAGE_SHIFT;
	nv->flags = vm;
	nv->anon_id = SHADOW_ANON_NONE;
	vma_insert(sh, nv);
	if (region_insert(sh, addr, end, origin, stack_id, SHADOW_CALL_MMAP,
			  SHADOW_NAME_ANON)) {
		vma_erase(sh, nv);
		vma_free(sh, nv);
		return false;
	}
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_map_anon_fast");
	return true;
}

/* A plain private anonymous VMA: no hugetlb rounding, no special or
 * locked pages (populated), no stack, no userfaultfd, no file. */
static bool plain_anon(const struct shadow_vma *v)
{
	return !(v->flags & (SV_HUGETLB | SV_SPECIAL | SV_LOCKED |
			     SV_LOCKONFAULT | SV_MAYSHARE | SV_GROWSDOWN |
			     SV_UFFD_ANY | SV_DROPPABLE)) &&
	       !v->ino && !v->file_id;
}

/* The VMA flags a MAP_FIXED anonymous private mmap gets, when the fixed
 * fast paths may take it (nothing but MAP_FIXED placing it, room for a
 * split at each end and more: shadow_map's map-count tests then cannot
 * fail), else 0. */
static uint32_t fixed_anon_flags(const struct shadow *sh, uint64_t addr,
				 uint64_t len, int prot, int flags,
				 uint64_t off)
{
	if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != MAP_FIXED)
		return 0;
	return anon_private_flags(sh, addr, len, prot, flags & ~MAP_FIXED,
				  off, 3);
}

bool shadow_map_fixed_fast(struct shadow *sh, uint64_t addr, uint64_t len,
			   int prot, int flags, uint64_t off, uint8_t origin,
			   uint32_t stack_id)
{
	uint32_t vm = fixed_anon_flags(sh, addr, len, prot, flags, off);
	if (!vm)
		return false;
	uint64_t end = addr + SH_PAGE_ALIGN(len);
	struct shadow_vma *v = shadow_find(sh, addr);
	if (!v || v->end < end || !plain_anon(v) || guard_first(sh, addr, end))
		return false;
	/* What vma_merge_new will find around the cleared range: v's own
	 * pieces where the range does not reach its edges (the upper one
	 * linked anew by vma_split, as a new VMA), else v's neighbours. */
	struct shadow_vma nv = { .start = addr, .end = end,
				 .pgoff = addr >> SH_PAGE_SHIFT, .flags = vm,
				 .anon_id = SHADOW_ANON_NONE };
	struct shadow_vma *l = NULL, *r = NULL, rp;
	uint64_t l_end = 0, r_pg = 0;
	if (addr > v->start) {
		l = v;
		l_end = v->pgoff + ((addr - v->start) >> SH_PAGE_SHIFT);
	} else if (v->prev && v->prev->end == addr) {
		l = v->prev;
		l_end = l->pgoff + vma_pages(l);
	}
	if (end < v->end) {
		rp = *v;
		if (sh->faults_unseen && rp.anon_id == SHADOW_ANON_NONE)
			rp.anon_id = SHADOW_ANON_MAYBE;
		r = &rp;
		r_pg = v->pgoff + ((end - v->start) >> SH_PAGE_SHIFT);
	} else if (v->next && v->next->start == end) {
		r = v->next;
		r_pg = r->pgoff;
	}
	bool unc = false, left, right;
	vma_merge_sides(l, l_end, &nv, r, r_pg, &left, &right, &unc);
	/* Uncertain: the kernel must be asked after (the general path). */
	if (unc)
		return false;
	/* The regions first, as shadow_map: a failure there leaves the cut
	 * done, which the general path then finds done. */
	if (region_replace(sh, addr, end, SHADOW_PIECE_REPLACED, NULL, origin,
			   stack_id, SHADOW_CALL_MMAP, SHADOW_NAME_ANON,
			   prot == PROT_NONE))
		return false;
	/* vma_clear_range's splits; m is then [addr, end). */
	struct shadow_vma *m = v;
	uint64_t v_end = v->end;
	if (addr > v->start && !(m = vma_split(sh, v, addr, NULL)))
		return false;
	if (end < m->end && !vma_split(sh, m, end, NULL)) {
		if (m != v) { /* undo the first split */
			vma_erase(sh, m);
			vma_free(sh, m);
			vma_set_range(sh, v, v->start, v_end);
		}
		return false;
	}
	if (left || right) {
		/* m's node as the new VMA, merged (and freed) by
		 * vma_merge_new as shadow_map merges one. */
		vma_erase(sh, m);
		nv.prev = nv.next = NULL;
		*m = nv;
		vma_merge_new(sh, m, NULL);
	} else {
		/* No merge: m becomes the new VMA where it is, as vma_insert
		 * would link a new one (vma_link_at). */
		vma_set_flags(sh, m, vm);
		m->pgoff = nv.pgoff;
		m->anon_id = sh->faults_unseen ? SHADOW_ANON_MAYBE
					       : SHADOW_ANON_NONE;
		sh->vcache = m;
	}
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_map_fixed_fast");
	return true;
}

/* The pieces shadow_map_fixed_fast's splits leave of v around [addr,
 * end), strictly inside it: the left one is v as it is, the right one a
 * new VMA (an unseen fault may give it an anon_vma). */
static void fixed_pieces(const struct shadow *sh, const struct shadow_vma *v,
			 uint64_t addr, uint64_t end, struct shadow_vma *rp,
			 uint64_t *l_end, uint64_t *r_pg)
{
	*l_end = v->pgoff + ((addr - v->start) >> SH_PAGE_SHIFT);
	*rp = *v;
	if (sh->faults_unseen && rp->anon_id == SHADOW_ANON_NONE)
		rp->anon_id = SHADOW_ANON_MAYBE;
	*r_pg = v->pgoff + ((end - v->start) >> SH_PAGE_SHIFT);
}

bool shadow_fixed_pair_plan(const struct shadow *sh, uint64_t addr,
			    uint64_t len, int prot, int flags, uint64_t off,
			    uint32_t stack_id, struct shadow_fixed_plan *pl)
{
	/* A commit: PROT_NONE would itself give its pages back. */
	uint32_t vm = fixed_anon_flags(sh, addr, len, prot, flags, off);
	if (!vm || prot == PROT_NONE)
		return false;
	uint64_t end = addr + SH_PAGE_ALIGN(len);
	const struct shadow_vma *v = shadow_find(sh, addr);
	if (!v || v->start >= addr || v->end <= end || !plain_anon(v) ||
	    guard_first(sh, addr, end))
		return false;
	/* No merge with v's pieces, and certain of it (then
	 * shadow_map_fixed_fast takes it and reuses the middle piece). */
	struct shadow_vma nv = { .start = addr, .end = end,
				 .pgoff = addr >> SH_PAGE_SHIFT, .flags = vm,
				 .anon_id = SHADOW_ANON_NONE };
	struct shadow_vma rp;
	uint64_t l_end, r_pg;
	fixed_pieces(sh, v, addr, end, &rp, &l_end, &r_pg);
	bool unc = false, left, right;
	vma_merge_sides(v, l_end, &nv, &rp, r_pg, &left, &right, &unc);
	if (unc || left || right)
		return false;
	/* Inside one region of the program's own mmap, which a decommit
	 * gives the pages back to whole (region.c, Give-back): one of its
	 * pieces is left on a side, or it had no `from` to lose. */
	const struct shadow_region *q = shadow_region_find_next(sh, addr);
	if (!q || q->start > addr || q->end < end ||
	    q->origin != SHADOW_ORIGIN_TRACKED ||
	    q->call != SHADOW_CALL_MMAP || q->name != SHADOW_NAME_ANON ||
	    (q->start == addr && q->end == end && q->from_id))
		return false;
	*pl = (struct shadow_fixed_plan){
		.start = addr, .end = end, .len = len, .prot = prot,
		.flags = flags, .off = off, .stack_id = stack_id,
		.serial = sh->serial,
	};
	return true;
}

bool shadow_fixed_pair_apply(struct shadow *sh,
			     const struct shadow_fixed_plan *pl)
{
	return pl->serial == sh->serial &&
	       shadow_map_fixed_fast(sh, pl->start, pl->len, pl->prot,
				     pl->flags, pl->off, SHADOW_ORIGIN_TRACKED,
				     pl->stack_id);
}

bool shadow_fixed_pair_undo(struct shadow *sh,
			    const struct shadow_fixed_plan *pl, uint64_t len,
			    int prot, int flags, uint64_t off,
			    uint64_t count_cap)
{
	uint64_t addr = pl->start, end = pl->end;
	if (pl->serial != sh->serial || prot != PROT_NONE ||
	    SH_PAGE_ALIGN(len) != end - addr ||
	    sh->c.map_count + 2 > count_cap)
		return false;
	uint32_t vm = fixed_anon_flags(sh, addr, len, prot, flags, off);
	const struct shadow_vma *v = shadow_find(sh, addr);
	/* The plan holds (the shadow is unchanged): v is around the range.
	 * The decommit merges with both of v's pieces, certainly (flags
	 * the merge accepts, pgoff following) ... */
	if (!vm || !v)
		return false;
	struct shadow_vma nv = { .start = addr, .end = end,
				 .pgoff = addr >> SH_PAGE_SHIFT, .flags = vm,
				 .anon_id = SHADOW_ANON_NONE };
	struct shadow_vma rp, f = *v;
	uint64_t l_end, r_pg;
	fixed_pieces(sh, v, addr, end, &rp, &l_end, &r_pg);
	bool unc = false, left, right;
	vma_merge_sides(v, l_end, &nv, &rp, r_pg, &left, &right, &unc);
	if (unc || !left || !right)
		return false;
	/* ... and the merged VMA is v as it was: vma_merge_new's marks
	 * (vma_merge_attrs of the new piece, then of the right one) leave
	 * its flags and anon_vma as they are. */
	vma_merge_attrs(&f, nv.anon_id, nv.flags);
	vma_merge_attrs(&f, rp.anon_id, rp.flags);
	if (f.flags != v->flags || f.anon_id != v->anon_id)
		return false;
	/* Both applied: the regions are back as they were (Give-back, the
	 * plan's test); what is left is the commit's region id, the count
	 * of calls, and the VMA peak at the commit's two splits. */
	if (!++sh->next_region_id)
		sh->next_region_id = 1;
	if (sh->c.map_count + 2 > sh->c.peak_map_count)
		sh->c.peak_map_count = sh->c.map_count + 2;
	sh->serial += 2;
	SHADOW_VALIDATE(sh, "shadow_fixed_pair_undo");
	return true;
}

const struct shadow_region *shadow_whole_mapping(const struct shadow *sh,
						 uint64_t start, uint64_t len,
						 struct shadow_vma **vp)
{
	if ((start & ~SH_PAGE_MASK) || !len || start > sh->env.task_size ||
	    len > sh->env.task_size - start)
		return NULL;
	uint64_t end = start + SH_PAGE_ALIGN(len);
	struct shadow_vma *v = shadow_find_next(sh, start);
	if (!v || v->start != start || v->end != end ||
	    guard_first(sh, start, end))
		return NULL;
	const struct shadow_region *r = shadow_region_find_next(sh, start);
	if (!r || r->start != start || r->end != end)
		return NULL;
	*vp = v;
	return r;
}

void shadow_unmap_whole(struct shadow *sh, struct shadow_vma *v)
{
	uint64_t start = v->start, end = v->end;
	region_cut(sh, start, end, SHADOW_PIECE_UNMAPPED, NULL);
	vma_erase(sh, v);
	vma_free(sh, v);
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_unmap_whole");
}

int shadow_remap_grow_plan(const struct shadow *sh, uint64_t addr,
			   uint64_t old_len, uint64_t new_len, int flags,
			   struct shadow_grow_plan *pl)
{
	/* shadow_remap's checks (check_mremap_params, check_prep_vma) pass
	 * and remap_at expands in place: neither FIXED nor DONTUNMAP. */
	old_len = SH_PAGE_ALIGN(old_len);
	new_len = SH_PAGE_ALIGN(new_len);
	uint64_t tsz = sh->env.task_size;
	if ((flags & ~MREMAP_MAYMOVE) || (addr & ~SH_PAGE_MASK) || !old_len ||
	    new_len <= old_len || new_len > tsz ||
	    sh->c.map_count + 4 > sh->env.max_map_count)
		return 0;
	uint64_t old_end = addr + old_len, new_end = addr + new_len;
	struct shadow_vma *v = shadow_find(sh, addr);
	/* A plain private anonymous VMA that ends where the old range does,
	 * with an anon_vma the merge test knows (vma_anon_compatible). */
	if (!v || v->end != old_end || new_end <= old_end || new_end > tsz ||
	    !plain_anon(v) || v->anon_id == SHADOW_ANON_UNKNOWN)
		return 0;
	uint64_t pg = v->pgoff + ((addr - v->start) >> SH_PAGE_SHIFT);
	if (pg + (new_len >> SH_PAGE_SHIFT) < pg)
		return 0;
	/* Free space after it; a VMA at its new end (vma_merge_extend tests
	 * one) that it certainly does not merge with: then v takes in the
	 * new range alone. */
	struct shadow_vma *next = shadow_vma_next(v);
	if (next && next->start < new_end)
		return 0;
	if (next && next->start == new_end) {
		struct shadow_vma nv = *v;
		nv.start = old_end;
		nv.end = new_end;
		nv.pgoff = v->pgoff + vma_pages(v);
		bool unc = false, left, right;
		vma_merge_sides(v, nv.pgoff, &nv, next, next->pgoff, &left,
				&right, &unc);
		if (unc || !left || right)
			return 0;
	}
	/* One region from addr to the old end, and none after it before
	 * the new end. */
	struct shadow_region *r = shadow_region_find_next(sh, addr);
	if (!r || r->start > addr || r->end != old_end)
		return 0;
	const struct shadow_region *rn = shadow_region_next(r);
	if (rn && rn->start < new_end)
		return 0;
	/* Room: a later growth passes every test above with no merge test
	 * while it ends a page short of the next VMA, at most at the next
	 * region, within the task size and the pgoff's range. */
	uint64_t room = tsz;
	if (next && next->start - SH_PAGE_SIZE < room)
		room = next->start - SH_PAGE_SIZE;
	if (rn && rn->start < room)
		room = rn->start;
	uint64_t pages = UINT64_MAX - pg;
	if (pages < (room - addr) >> SH_PAGE_SHIFT)
		room = addr + (pages << SH_PAGE_SHIFT);
	*pl = (struct shadow_grow_plan){ .v = v, .r = r, .addr = addr,
					  .old_end = old_end,
					  .new_end = new_end,
					  .room = room > new_end ? room : new_end,
					  .serial = sh->serial,
					  .growths = 1 };
	return 1;
}

int shadow_remap_grow_apply(struct shadow *sh,
			    const struct shadow_grow_plan *pl)
{
	if (pl->serial != sh->serial)
		return 0;
	/* What remap_at does: region_fill grows the region that ends at the
	 * old end, and v takes in the new range (vma_merge_new merges the
	 * copy of v into it, which leaves its attributes as they were). */
	region_set_end(sh, pl->r, pl->new_end);
	vma_set_range(sh, pl->v, pl->v->start, pl->new_end);
	sh->serial += pl->growths;
	SHADOW_VALIDATE(sh, "shadow_remap_grow_apply");
	return 1;
}

bool shadow_remap_grow_fast(struct shadow *sh, uint64_t addr, uint64_t old_len,
			    uint64_t new_len, int flags)
{
	struct shadow_grow_plan pl;
	return shadow_remap_grow_plan(sh, addr, old_len, new_len, flags,
				      &pl) &&
	       shadow_remap_grow_apply(sh, &pl);
}

int shadow_remap_move_fast(struct shadow *sh, uint64_t addr, uint64_t old_len,
			   uint64_t new_len, int flags, uint64_t new_addr,
			   int src_written, uint32_t *created)
{
	/* shadow_remap's checks (check_mremap_params, check_prep_vma) pass
	 * and remap_at moves a growth (a call that does not grow, without
	 * MREMAP_FIXED, never moves). */
	uint64_t tsz = sh->env.task_size;
	old_len = SH_PAGE_ALIGN(old_len);
	new_len = SH_PAGE_ALIGN(new_len);
	if (flags != MREMAP_MAYMOVE || (addr & ~SH_PAGE_MASK) || !old_len ||
	    new_len <= old_len || new_len > tsz ||
	    (new_addr & ~SH_PAGE_MASK) || new_addr == addr ||
	    new_addr > tsz - new_len ||
	    sh->c.map_count + 4 > sh->env.max_map_count)
		return 0;
	uint64_t old_end = addr + old_len, new_end = new_addr + new_len;
	struct shadow_vma *v = shadow_find(sh, addr);
	/* One plain private anonymous VMA (whose anon_vma the merge test
	 * knows, or may guess: faults unseen), whole or with the old range
	 * at one end of it (one split; a VMA that may be several of the
	 * kernel's, merged on a guess, is the general path's). */
	if (!v || v->end < old_end || !plain_anon(v) ||
	    v->anon_id == SHADOW_ANON_UNKNOWN)
		return 0;
	bool head = v->start < addr, tail = v->end > old_end;
	uint64_t pg = v->pgoff + ((addr - v->start) >> SH_PAGE_SHIFT);
	if ((head && tail) ||
	    ((head || tail) && (v->flags & SV_EDGES_UNSURE)) ||
	    pg + (new_len >> SH_PAGE_SHIFT) < pg)
		return 0;
	if (v->anon_id == SHADOW_ANON_MAYBE && src_written < 0)
		return SHADOW_MOVE_ASK;
	/* remap_at would not grow it in place: a VMA in the way, or the end
	 * of the address space (the old range ending inside the VMA never
	 * grows in place). */
	uint64_t grown = old_end + (new_len - old_len);
	struct shadow_vma *after = shadow_vma_next(v);
	if (!tail && grown > old_end && grown <= tsz &&
	    (!after || after->start >= grown))
		return 0;
	/* The destination is free.  Its neighbours may include the source,
	 * which copy_vma's merge sees before the source goes. */
	struct shadow_vma *next = shadow_find_next(sh, new_addr);
	if (next && next->start < new_end)
		return 0;
	struct shadow_vma *prev = next ? next->prev : vma_of_last(sh);
	if (prev && prev->end > new_addr)
		return 0;
	if (prev && prev->end != new_addr)
		prev = NULL;
	if (next && next->start != new_end)
		next = NULL;
	/* move_vma's copy: a VMA without an anon_vma takes the new address
	 * as its pgoff; one with an anon_vma keeps it.  Faults unseen, as
	 * shadow_remap (remap.c, move_vma) decides from src_written. */
	struct shadow_vma nv = *v;
	nv.prev = nv.next = NULL;
	nv.start = new_addr;
	nv.end = new_end;
	nv.pgoff = pg;
	if (v->anon_id == SHADOW_ANON_NONE)
		nv.pgoff = new_addr >> SH_PAGE_SHIFT;
	else if ((v->anon_id == SHADOW_ANON_MAYBE ||
		  v->anon_id == SHADOW_ANON_MAYBE_MOVED) &&
		 src_written <= 0) {
		nv.pgoff = new_addr >> SH_PAGE_SHIFT;
		nv.anon_id = SHADOW_ANON_MAYBE_MOVED;
	} else if (v->anon_id == SHADOW_ANON_MAYBE)
		nv.anon_id = SHADOW_ANON_SOME;
	bool unc = false, left, right;
	vma_merge_sides(prev, prev ? prev->pgoff + vma_pages(prev) : 0, &nv,
			next, next ? next->pgoff : 0, &left, &right, &unc);
	/* The source still there (whole: copy_vma comes before the unmap
	 * that splits it): a merge with it (an unfaulted VMA moved just
	 * below or above itself) is the general path's. */
	if (unc || (left && prev == v) || (right && next == v))
		return 0;
	/* One region, the program's, over exactly the old range (its pieces
	 * are the MOVED ones); none at the destination; no guard. */
	struct shadow_region *r = shadow_region_find_next(sh, addr);
	if (!r || r->start != addr || r->end != old_end ||
	    r->origin != SHADOW_ORIGIN_TRACKED)
		return 0;
	const struct shadow_region *rd = shadow_region_find_next(sh, new_addr);
	if ((rd && rd->start < new_end) || guard_first(sh, addr, old_end))
		return 0;
	struct shadow_vma *m = vma_alloc(sh);
	if (!m)
		return 0;
	*m = nv;
	/* The old range's own VMA (nothing changed when the split cannot
	 * be had).  A written page says the VMA has an anon_vma, which the
	 * piece that stays shares (move_vma in remap.c). */
	if (head || tail) {
		struct shadow_vma *n = vma_split(sh, v, head ? addr : old_end,
						 NULL);
		if (!n) {
			vma_free(sh, m);
			return 0;
		}
		if (nv.anon_id == SHADOW_ANON_SOME &&
		    v->anon_id == SHADOW_ANON_MAYBE)
			v->anon_id = n->anon_id = SHADOW_ANON_SOME;
		if (head)
			v = n;
	}
	/* What move_vma does, in its order: the region moves (one whole
	 * region: no split, nothing allocated) and region_fill grows it over
	 * the new pages; the copy goes in (merged as decided: vma_merge_new,
	 * which looks its neighbours up again, only when it merges), then
	 * the source goes (its whole VMA now: split off above). */
	*created = r->stack_id;
	region_move(sh, addr, old_end, new_addr, NULL);
	region_set_end(sh, r, new_end);
	if (left || right)
		vma_merge_new(sh, m, NULL);
	else
		vma_insert(sh, m);
	vma_erase(sh, v);
	vma_free(sh, v);
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_remap_move_fast");
	return 1;
}
