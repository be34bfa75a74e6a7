/*
 * protect.c - mprotect(2) as Linux 6.18 does it (do_mprotect_pkey,
 * mprotect_fixup), and vma_modify(), the split-or-merge step shared with
 * madvise and mlock (mm/vma.c vma_merge_existing_range).
 *
 * mprotect works VMA by VMA: a hole stops it with ENOMEM after the VMAs
 * before the hole were already changed; an unchanged VMA is skipped without
 * any merge attempt.
 */
#include <stddef.h>
#include <string.h>

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

/* A fast mprotect that splits v (and merges nothing): the splits must all
 * succeed as split_counted sees them, with `count` VMAs mapped; *n gets
 * how many there are. */
static bool splits_allowed(const struct shadow *sh,
			   const struct shadow_vma *v, uint64_t start,
			   uint64_t end, uint64_t count, uint32_t *n)
{
	*n = (v->start < start) + (v->end > end);
	return (v->start >= start || vma_may_split(v, start)) &&
	       (v->end <= end || vma_may_split(v, end)) &&
	       count + *n <= sh->env.max_map_count;
}

int shadow_protect_fast_plan(const struct shadow *sh, uint64_t start,
			     uint64_t len, int prot,
			     struct shadow_protect_plan *pl)
{
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
	*pl = (struct shadow_protect_plan){
		.v = v, .start = start, .end = end, .flags = nf,
		.serial = sh->serial, .change = change > 0,
	};
	if (!change)
		return 1; /* no change, no merge */
	struct modify_plan p = modify_plan(v, start, end, nf);
	/* A populate is the general path's. */
	if (unc || p.unc || protect_populates(v->flags, nf))
		return 0;
	if (!p.ml && !p.mr &&
	    !splits_allowed(sh, v, start, end, sh->c.map_count, &pl->splits))
		return 0;
	pl->ml = p.ml;
	pl->mr = p.mr;
	return 1;
}

int shadow_protect_fast_apply(struct shadow *sh,
			      const struct shadow_protect_plan *pl)
{
	if (pl->serial != sh->serial)
		return 0;
	sh->serial++;
	if (!pl->change)
		return 1;
	struct modify_plan p = { pl->ml, pl->mr, false };
	int err;
	struct shadow_vma *v = modify_apply(sh, pl->v, pl->start, pl->end,
					    pl->flags, p, NULL, &err);
	SHADOW_VALIDATE(sh, "shadow_protect_fast");
	return v ? 1 : -1;
}

int shadow_protect_fast(struct shadow *sh, uint64_t start, uint64_t len,
			int prot, uint32_t *splits)
{
	struct shadow_protect_plan pl;
	*splits = 0;
	if (!shadow_protect_fast_plan(sh, start, len, prot, &pl))
		return 0;
	*splits = pl.splits;
	return shadow_protect_fast_apply(sh, &pl);
}

/* ---- an mprotect and its undo, worked out on copies ---------------------
 *
 * The VMA a plan works in and its neighbours are copied into a small pool
 * and linked as the tree's list is (the ends point at the real VMAs
 * beyond, which modify_plan reads only for a range at its node's edge);
 * sim_modify does to the copies what modify_nodes does to the tree. */

#define SIM_MAX 6

struct sim {
	struct shadow_vma a[SIM_MAX];
	int used, n, peak;         /* pool slots taken; VMAs; most VMAs */
	struct shadow_vma *head;
};

static bool sim_has(const struct sim *m, const struct shadow_vma *x)
{
	return x >= m->a && x < m->a + SIM_MAX;
}

static void sim_remove(struct sim *m, struct shadow_vma *x)
{
	if (sim_has(m, x->prev))
		x->prev->next = x->next;
	else
		m->head = x->next;
	if (sim_has(m, x->next))
		x->next->prev = x->prev;
	m->n--;
}

/* Split x at addr (which vma_may_split allowed); NULL when the pool is
 * spent.  x keeps [start, addr); the returned copy, after it, the rest. */
static struct shadow_vma *sim_split(struct sim *m, struct shadow_vma *x,
				    uint64_t addr)
{
	if (m->used == SIM_MAX)
		return NULL;
	struct shadow_vma *r = &m->a[m->used++];
	*r = *x;
	r->start = addr;
	r->pgoff = x->pgoff + ((addr - x->start) >> SH_PAGE_SHIFT);
	x->end = addr;
	r->prev = x;
	if (sim_has(m, x->next))
		x->next->prev = r;
	x->next = r;
	if (++m->n > m->peak)
		m->peak = m->n;
	return r;
}

/* modify_nodes on the copies: [start, end) of v gets flags as plan p
 * says; returns the copy that holds it, or NULL when the pool cannot show
 * it (a neighbour beyond its ends, no room). */
static struct shadow_vma *sim_modify(struct sim *m, struct shadow_vma *v,
				     uint64_t start, uint64_t end,
				     uint32_t flags, struct modify_plan p)
{
	bool left_side = start == v->start, right_side = end == v->end;
	uint64_t pgoff = v->pgoff + ((start - v->start) >> SH_PAGE_SHIFT);
	uint64_t pages = (end - start) >> SH_PAGE_SHIFT;
	struct shadow_vma *prev = v->prev, *next = v->next;
	if ((p.ml && !sim_has(m, prev)) || (p.mr && !sim_has(m, next)))
		return NULL;
	if (p.ml) {
		vma_merge_attrs(prev, v->anon_id, flags);
		if (right_side) {
			sim_remove(m, v);
		} else {
			v->pgoff += pages;
			v->start = end;
		}
		prev->end = end;
		if (p.mr) {
			vma_merge_attrs(prev, next->anon_id, next->flags);
			prev->end = next->end;
			sim_remove(m, next);
		}
		return prev;
	}
	if (p.mr) {
		vma_merge_attrs(next, v->anon_id, flags);
		if (left_side)
			sim_remove(m, v);
		else
			v->end = start;
		next->pgoff = pgoff;
		next->start = start;
		return next;
	}
	if (v->start < start && !(v = sim_split(m, v, start)))
		return NULL;
	if (v->end > end && !sim_split(m, v, end))
		return NULL;
	v->flags = flags;
	return v;
}

/* The same VMA but perhaps for its flags and anon_vma. */
static bool vma_same_shape(const struct shadow_vma *a,
			   const struct shadow_vma *b)
{
	return a->start == b->start && a->end == b->end &&
	       a->pgoff == b->pgoff && a->ino == b->ino && a->dev == b->dev &&
	       a->file_id == b->file_id;
}

int shadow_protect_undo(struct shadow *sh, const struct shadow_protect_plan *pl,
			int prot, uint64_t count_cap, uint32_t *splits)
{
	*splits = 0;
	if (pl->serial != sh->serial || !pl->change ||
	    (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return 0;
	/* The plan's VMA and the ones it could merge with, copied. */
	struct sim m;
	struct shadow_vma *v = pl->v, *prev = v->prev, *next = v->next;
	struct shadow_vma *real[3];
	int n0 = 0;
	if (prev)
		real[n0++] = prev;
	struct shadow_vma *w = &m.a[n0];
	real[n0++] = v;
	if (next)
		real[n0++] = next;
	for (int i = 0; i < n0; i++) {
		/* Only the first cache line (shadow.h): the tree's links are
		 * not simulated, and the line after is a miss at 20,000 VMAs */
		memcpy(&m.a[i], real[i], offsetof(struct shadow_vma, rb));
		memset(&m.a[i].rb, 0,
		       sizeof(m.a[i]) - offsetof(struct shadow_vma, rb));
		m.a[i].prev = i ? &m.a[i - 1] : prev ? prev->prev : NULL;
		m.a[i].next = i + 1 < n0 ? &m.a[i + 1] : next ? next->next
							       : NULL;
	}
	m.used = m.n = m.peak = n0;
	m.head = &m.a[0];
	struct modify_plan p1 = { pl->ml, pl->mr, false };
	if (!(w = sim_modify(&m, w, pl->start, pl->end, pl->flags, p1)))
		return 0;
	/* The undo, planned on the copies as shadow_protect_fast_plan
	 * would plan it on the tree after the first call. */
	uint32_t nf;
	bool unc = false;
	if (protect_flags(w, shadow_prot_to_flags(prot), &nf, &unc) != 1 ||
	    unc)
		return 0;
	struct modify_plan p2 = modify_plan(w, pl->start, pl->end, nf);
	if (p2.unc || protect_populates(w->flags, nf))
		return 0;
	uint32_t n2 = 0;
	if (!p2.ml && !p2.mr &&
	    !splits_allowed(sh, w, pl->start, pl->end,
			    sh->c.map_count + (uint64_t)(m.n - n0), &n2))
		return 0;
	if (!sim_modify(&m, w, pl->start, pl->end, nf, p2) || m.n != n0)
		return 0;
	w = m.head;
	for (int i = 0; i < n0; i++, w = w->next)
		if (!vma_same_shape(w, real[i]))
			return 0;
	uint64_t peak = sh->c.map_count + (uint64_t)(m.peak - n0);
	if (peak > count_cap)
		return 0;
	/* The VMAs as they were; what the pair leaves changed in them (the
	 * VM_ACCOUNT a write permission charged, the marks of a merge made
	 * on a guess) is set in place, the counters following.  Two calls
	 * applied; the peak saw the splits between them. */
	w = m.head;
	for (int i = 0; i < n0; i++, w = w->next) {
		if (w->flags != real[i]->flags)
			vma_set_flags(sh, real[i], w->flags);
		real[i]->anon_id = w->anon_id;
	}
	if (peak > sh->c.peak_map_count)
		sh->c.peak_map_count = peak;
	*splits = n2;
	sh->serial += 2;
	sh->vcache = v;
	return 1;
}
