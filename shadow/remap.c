/*
 * remap.c - mremap(2) as Linux 6.18 does it (mm/mremap.c: do_mremap,
 * check_mremap_params, check_prep_vma, mremap_at, mremap_to, move_vma,
 * remap_move; mm/vma.c copy_vma).
 *
 *  - same size without MREMAP_FIXED returns addr once addr is mapped;
 *  - shrink unmaps [addr+new_len, addr+old_len) with munmap's rules, across
 *    VMAs and holes;
 *  - expand in place only when the old range ends at the VMA's end and the
 *    space after it is free (and merges with the next VMA when it can);
 *  - a move copies the VMA to the destination (an unfaulted anonymous VMA
 *    takes pgoff = new_addr >> 12 there, so it can merge), then unmaps the
 *    source; MREMAP_DONTUNMAP leaves the source VMA in place, unlocked;
 *  - 6.17+: MREMAP_FIXED with old_len == new_len moves every VMA of the old
 *    range, keeping the gaps between them (remap_move).
 */
#include "shadow_internal.h"

enum { NO_RESIZE, SHRINK, EXPAND };

struct remap_req {
	uint64_t addr, old_len, new_len, new_addr;
	int flags;
	int type;
	uint64_t result;   /* kernel's chosen address, 0 = choose here */
	uint32_t stack_id;
	bool src_written;
};

/* check_prep_vma(): the checks that need the VMA at addr. */
static int prep_vma(struct shadow *sh, struct remap_req *r,
		    struct shadow_vma **vp)
{
	struct shadow_vma *v = shadow_find(sh, r->addr);
	if (!v)
		return -EFAULT;
	if (v->flags & SV_HUGETLB) {
		uint64_t hs = v->flags & SV_HUGE_1G ? 1ull << 30 : 2ull << 20;
		r->old_len = (r->old_len + hs - 1) & ~(hs - 1);
		r->new_len = (r->new_len + hs - 1) & ~(hs - 1);
		if ((r->addr & (hs - 1)) || (r->new_addr & (hs - 1)) ||
		    r->new_len > r->old_len)
			return -EINVAL;
	}
	uint64_t delta;
	if (r->old_len == r->new_len) {
		r->type = NO_RESIZE;
		delta = 0;
	} else if (r->old_len > r->new_len) {
		r->type = SHRINK;
		delta = r->old_len - r->new_len;
	} else {
		r->type = EXPAND;
		delta = r->new_len - r->old_len;
	}
	(void)delta;
	if (!(r->flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)))
		r->new_addr = r->addr;
	*vp = v;
	if (r->type != EXPAND && !(r->flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)))
		return 0;
	if (!r->old_len && !(v->flags & (SV_SHARED | SV_MAYSHARE)))
		return -EINVAL;
	if ((r->flags & MREMAP_DONTUNMAP) && (v->flags & SV_SPECIAL))
		return -EINVAL;
	uint64_t l = r->type == SHRINK ? r->new_len : r->old_len;
	if (l > v->end - r->addr)
		return -EFAULT;
	if (r->new_len == l)
		return 0;
	uint64_t pg = v->pgoff + ((r->addr - v->start) >> SH_PAGE_SHIFT);
	if (pg + (r->new_len >> SH_PAGE_SHIFT) < pg)
		return -EINVAL;
	if (v->flags & SV_SPECIAL)
		return -EFAULT;
	return 0;
}

/* move_vma(): copy [addr, addr+old_len) of v to [new_addr, +new_len), then
 * unmap the source unless DONTUNMAP. */
static int64_t move_vma(struct shadow *sh, struct shadow_vma *v,
			struct remap_req *r, struct shadow_change *rec)
{
	uint64_t addr = r->addr, old_len = r->old_len, new_len = r->new_len;
	uint64_t new_addr = r->new_addr;
	bool whole = addr == v->start && addr + old_len == v->end;
	uint64_t vstart = v->start;
	struct shadow_vma *nv = vma_alloc(sh);
	if (!nv)
		return -ENOMEM;
	*nv = *v;
	nv->start = new_addr;
	nv->end = new_addr + new_len;
	nv->pgoff = v->pgoff + ((addr - v->start) >> SH_PAGE_SHIFT);
	if (vma_is_anon(v)) {
		/* copy_vma(): a VMA never faulted takes the new address as
		 * its pgoff.  Faults unseen: unless the caller saw a written
		 * page (then it keeps its pgoff, and has an anon_vma from
		 * now on), the shadow guesses so and marks the guess. */
		bool maybe = v->anon_id == SHADOW_ANON_MAYBE ||
			     v->anon_id == SHADOW_ANON_MAYBE_MOVED;
		if (v->anon_id == SHADOW_ANON_NONE)
			nv->pgoff = new_addr >> SH_PAGE_SHIFT;
		else if (maybe && !r->src_written) {
			nv->pgoff = new_addr >> SH_PAGE_SHIFT;
			nv->anon_id = SHADOW_ANON_MAYBE_MOVED;
		} else if (v->anon_id == SHADOW_ANON_MAYBE) {
			/* A written page: the VMA has an anon_vma, and the
			 * pieces the splits below leave of it share it
			 * (__split_vma's anon_vma_clone).  What stays knows
			 * too, so that a move of it later asks pagemap no
			 * more.  Not where the shadow's VMA may be several of
			 * the kernel's (merged on a guess). */
			nv->anon_id = SHADOW_ANON_SOME;
			if (!(v->flags & SV_EDGES_UNSURE))
				v->anon_id = SHADOW_ANON_SOME;
		} else if (v->anon_id == SHADOW_ANON_UNKNOWN && rec)
			rec->uncertain = true;
	}
	if (!vma_range_free(sh, nv->start, nv->end)) {
		/* The kernel put it over pages the shadow has: stale. */
		if (rec)
			rec->uncertain = true;
		region_cut(sh, nv->start, nv->end, SHADOW_PIECE_REPLACED, rec);
		vma_clear_range(sh, nv->start, nv->end, NULL);
		v = shadow_find(sh, addr);
		if (!v) {
			vma_free(sh, nv);
			return -EFAULT;
		}
	}
	bool dontunmap = r->flags & MREMAP_DONTUNMAP;
	uint8_t origin = SHADOW_ORIGIN_TRACKED;
	struct shadow_region *src = shadow_region_find(sh, addr);
	if (src)
		origin = src->origin;
	/* Everything that can fail for lack of memory comes first: the
	 * source's edge splits (harmless alone) and the region transfer. */
	if (!dontunmap && old_len) {
		if (v->start < addr && !vma_split(sh, v, addr, rec))
			goto nomem;
		v = shadow_find(sh, addr);
		if (v->end > addr + old_len &&
		    !vma_split(sh, v, addr + old_len, rec))
			goto nomem;
	}
	if (dontunmap ? region_copy(sh, addr, addr + old_len, new_addr, rec)
		      : region_move(sh, addr, addr + old_len, new_addr, rec))
		goto nomem;
	/* Page tables move, guard markers with them (DONTUNMAP too). */
	if (old_len && guard_move(sh, addr, addr + old_len, new_addr))
		goto nomem;
	struct shadow_vma *dst = vma_merge_new(sh, nv, rec);
	uint32_t dflags = dst->flags;
	if (!dontunmap) {
		if (old_len)
			vma_clear_range(sh, addr, addr + old_len, rec);
	} else {
		/* dontunmap_complete(): the source VMA stays, unlocked; when it
		 * was moved whole it loses its anon_vma. */
		struct shadow_vma *s = shadow_find(sh, addr);
		if (s) {
			if (s->flags & (SV_LOCKED | SV_LOCKONFAULT))
				vma_set_flags(sh, s, s->flags &
					      ~(SV_LOCKED | SV_LOCKONFAULT));
			if (whole && s->start == vstart &&
			    s->anon_id != SHADOW_ANON_UNKNOWN)
				s->anon_id = vma_anon_unseen(sh, s);
		}
	}
	region_fill(sh, new_addr, new_addr + new_len, origin, r->stack_id,
		    SHADOW_CALL_MREMAP, REGION_GROW_INSIDE);
	if ((dflags & SV_LOCKED) && new_len > old_len) {
		struct shadow_vma *d = shadow_find(sh, new_addr);
		if (d)
			vma_populate(sh, d);
	}
	rec_span(rec, new_addr, new_addr + new_len);
	return (int64_t)new_addr;
nomem:
	vma_free(sh, nv);
	return -ENOMEM;
}

/* mremap_to(): FIXED and/or DONTUNMAP. */
static int64_t remap_to(struct shadow *sh, struct remap_req *r,
			struct shadow_change *rec)
{
	struct shadow_vma *v;
	int err;
	if (r->flags & MREMAP_FIXED) {
		err = shadow_do_unmap(sh, r->new_addr, r->new_addr + r->new_len,
				      SHADOW_PIECE_REPLACED, rec);
		if (err)
			return err;
	}
	v = shadow_find(sh, r->addr);
	if (!v)
		return -EFAULT;
	if (r->type == SHRINK) {
		err = shadow_do_unmap(sh, r->addr + r->new_len,
				      r->addr + r->old_len,
				      SHADOW_PIECE_UNMAPPED, rec);
		if (err)
			return err;
		v = shadow_find(sh, r->addr);
		if (!v)
			return -EFAULT;
		r->old_len = r->new_len;
	}
	if (!(r->flags & MREMAP_FIXED)) {
		/* DONTUNMAP alone: new_addr is a hint. */
		uint64_t hint = r->new_addr;
		if (r->result)
			r->new_addr = r->result;
		else if (!hint || hint < sh->env.mmap_min_addr ||
			 vma_range_used(sh, hint, hint + r->new_len))
			r->new_addr = shadow_find_free(sh, r->new_len,
						       sh->env.mmap_min_addr,
						       sh->env.mmap_base, true);
		if (!r->new_addr)
			return -ENOMEM;
	}
	return move_vma(sh, v, r, rec);
}

/* mremap_at(): neither FIXED nor DONTUNMAP. */
static int64_t remap_at(struct shadow *sh, struct shadow_vma *v,
			struct remap_req *r, struct shadow_change *rec)
{
	int err;
	switch (r->type) {
	case NO_RESIZE:
		return (int64_t)r->addr;
	case SHRINK:
		err = shadow_do_unmap(sh, r->addr + r->new_len,
				      r->addr + r->old_len,
				      SHADOW_PIECE_UNMAPPED, rec);
		return err ? err : (int64_t)r->addr;
	}
	uint64_t delta = r->new_len - r->old_len;
	if (v->end - r->addr == r->old_len && v->end + delta > v->end &&
	    v->end + delta <= sh->env.task_size &&
	    vma_range_free(sh, v->end, v->end + delta)) {
		/* vma_merge_extend(): grow v, and take in next if it fits. */
		uint64_t old_end = v->end;
		struct shadow_vma *nv = vma_alloc(sh);
		if (!nv)
			return -ENOMEM;
		*nv = *v;
		nv->start = old_end;
		nv->end = old_end + delta;
		nv->pgoff = v->pgoff + vma_pages(v);
		/* Growing v is not a merge of two anon_vmas: only taking in
		 * next can leave the kernel with a boundary here. */
		uint32_t edges = v->flags & SV_EDGES_UNSURE;
		struct shadow_vma *g = vma_merge_new(sh, nv, rec);
		if (g == v && g->end == old_end + delta)
			g->flags = (g->flags & ~SV_EDGES_UNSURE) | edges;
		region_fill(sh, r->addr, r->addr + r->new_len,
			    SHADOW_ORIGIN_TRACKED, r->stack_id,
			    SHADOW_CALL_MREMAP, REGION_GROW_INSIDE);
		if (g->flags & SV_LOCKED)
			vma_populate(sh, g);
		rec_span(rec, r->addr, r->addr + r->new_len);
		return (int64_t)r->addr;
	}
	if (!(r->flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	if (r->result)
		r->new_addr = r->result;
	else
		r->new_addr = shadow_find_free(sh, r->new_len,
					       sh->env.mmap_min_addr,
					       sh->env.mmap_base, true);
	if (!r->new_addr)
		return -ENOMEM;
	return move_vma(sh, v, r, rec);
}

/* remap_move(): 6.17+, MREMAP_FIXED and old_len == new_len: every VMA in
 * the old range moves, the gaps between them kept. */
static int64_t remap_move(struct shadow *sh, const struct remap_req *req,
			  struct shadow_change *rec)
{
	uint64_t addr = req->addr, end = req->addr + req->old_len;
	uint64_t target = req->new_addr, last_end = 0, cursor = addr;
	int64_t res = -EFAULT;
	bool seen = false;
	while (cursor < end) {
		struct shadow_vma *v = shadow_find_next(sh, cursor);
		if (!v || v->start >= end)
			break;
		uint64_t a = v->start > cursor ? v->start : cursor;
		uint64_t e = v->end < end ? v->end : end;
		if (!seen && addr < v->start)
			return -EFAULT;
		uint64_t offset = seen ? v->start - last_end : 0;
		last_end = v->end;
		if (v->flags & SV_UFFD_ANY) {
			if (seen || v->end < end)
				return -EFAULT;
		}
		struct remap_req sub = { .addr = a, .old_len = e - a,
					 .new_len = e - a,
					 .new_addr = target + offset,
					 .flags = req->flags,
					 .stack_id = req->stack_id,
					 .src_written = !seen &&
							req->src_written };
		struct shadow_vma *sv;
		int64_t rr = prep_vma(sh, &sub, &sv);
		if (!rr)
			rr = remap_to(sh, &sub, rec);
		if (rr < 0)
			return rr;
		if (!seen)
			res = rr;
		seen = true;
		target = (uint64_t)rr + (e - a);
		cursor = e;
	}
	return res;
}

uint64_t shadow_remap_probe_pages(const struct shadow *sh, uint64_t addr,
				  uint64_t old_len, uint64_t new_len)
{
	const struct shadow_vma *v = shadow_find(sh, addr);
	if (!sh->faults_unseen || !v || v->anon_id != SHADOW_ANON_MAYBE ||
	    !vma_is_anon(v))
		return 0;
	uint64_t n = v->end - addr;
	if (old_len < n)
		n = old_len;
	if (new_len < n)
		n = new_len;
	return SH_PAGE_ALIGN(n) >> SH_PAGE_SHIFT;
}

int64_t shadow_remap(struct shadow *sh, const struct shadow_remap_args *a,
		     struct shadow_change *rec)
{
	struct remap_req r = {
		.addr = a->old_addr,
		.old_len = SH_PAGE_ALIGN(a->old_len),
		.new_len = SH_PAGE_ALIGN(a->new_len),
		.new_addr = a->new_addr,
		.flags = a->flags,
		.result = a->result,
		.stack_id = a->stack_id,
		.src_written = a->src_written,
	};
	uint64_t tsz = sh->env.task_size;
	int64_t ret;

	rec_reset(rec, r.addr, r.addr + r.old_len);
	/* check_mremap_params() */
	if (r.flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP))
		return -EINVAL;
	if (r.addr & ~SH_PAGE_MASK)
		return -EINVAL;
	if (!r.new_len || r.new_len > tsz)
		return -EINVAL;
	if (r.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
		if (r.new_addr > tsz - r.new_len)
			return -EINVAL;
		if (r.new_addr & ~SH_PAGE_MASK)
			return -EINVAL;
		if (!(r.flags & MREMAP_MAYMOVE))
			return -EINVAL;
		if ((r.flags & MREMAP_DONTUNMAP) && r.old_len != r.new_len)
			return -EINVAL;
		if (r.addr + r.old_len > r.new_addr &&
		    r.new_addr + r.new_len > r.addr)
			return -EINVAL;
	}
	if (sh->c.map_count + 4 > sh->env.max_map_count)
		return -ENOMEM;

	if ((r.flags & MREMAP_FIXED) && r.old_len == r.new_len &&
	    sh->env.kernel_version >= ((6u << 16) | (17u << 8))) {
		ret = remap_move(sh, &r, rec);
	} else {
		struct shadow_vma *v;
		ret = prep_vma(sh, &r, &v);
		if (!ret) {
			if (r.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))
				ret = remap_to(sh, &r, rec);
			else
				ret = remap_at(sh, v, &r, rec);
		}
	}
	if (rec) {
		rec->result = ret < 0 ? (int)ret : 0;
		if (ret >= 0)
			rec->addr = (uint64_t)ret;
	}
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_remap");
	return ret;
}
