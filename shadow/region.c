/*
 * region.c - the region tree: what each call created (DESIGN.md "Two
 * views").  A plain red-black tree ordered by start with no overlaps.
 * Regions are split by partial unmaps and carried by moves, so the
 * creating call (origin, stack) of every mapped page stays known.  The
 * pieces of one call's region share its id.
 *
 * Give-back.  DESIGN.md says regions are never merged with a region of
 * another call.  One case departs from it, on purpose:
 *  - A MAP_FIXED mmap by the program that lies inside one tracked
 *    anonymous mmap region P (a commit in a reservation) records P (its
 *    stack and id) as the region it was carved from.
 *  - A decommit, a MAP_FIXED anonymous private PROT_NONE mmap by the
 *    program that lies inside one such region Q, gives its pages back:
 *    to the region Q was carved from, or to Q itself when Q was carved
 *    from none (PROT_NONE over a reservation's own pages).  They rejoin
 *    the pieces of that region next to them.
 *  - Anything else (a decommit over several regions, a hole, pages not
 *    the program's) makes a region of its own, as before.
 * Reserve/commit allocators (V8's cages, JVM heaps, Go's arenas) commit
 * and decommit pages of a reservation all their life.  Under the rule as
 * written, each decommit left a region of its own: a 1 GiB reservation
 * used in 64 KiB pieces became 32,768 regions (every lookup a chain of
 * cache misses: bench-ab fixed_over_reservation 1.25x native against
 * 1.15x with 16 pieces), and a leaked reservation was reported as its
 * remnants plus thousands of decommits with the decommit's stack.  The
 * kernel merges the decommitted pages back into the reservation's VMA;
 * the program's view is the same: they are the reservation's again, and
 * a leak of it is one region with the stack that reserved it.
 */
#include "shadow_internal.h"

static inline struct shadow_region *reg_of(const struct rb_node *n)
{
	return rb_entry_safe(n, struct shadow_region, rb);
}

/* A tree of ranges: the regions, or the guard ranges. */
struct rset {
	struct rb_root *root;
	uint64_t *n;
};
#define REGIONS(sh) (&(struct rset){ &(sh)->regions, &(sh)->c.nregions })
#define GUARDS(sh)  (&(struct rset){ &(sh)->guards, &(sh)->nguards })

static struct shadow_region *rs_find_next(const struct rb_root *root,
					  uint64_t addr)
{
	struct rb_node *n = root->node;
	struct shadow_region *best = NULL;
	while (n) {
		struct shadow_region *r = reg_of(n);
		if (r->end > addr) {
			best = r;
			if (r->start <= addr)
				break;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

static struct shadow_region *rs_find(const struct rb_root *root, uint64_t addr)
{
	struct shadow_region *r = rs_find_next(root, addr);
	return r && r->start <= addr ? r : NULL;
}

/* shadow.ridx holds only regions in the tree, under their start. */
static void ridx_drop(struct shadow *sh, const struct shadow_region *r)
{
	slot_drop(&sh->ridx, r, r->start);
}

static void rslot_put(struct shadow *sh, struct shadow_region *r)
{
	slot_put(&sh->ridx, r, r->start,
		 slot_span(r->start, r->end, region_owned(r)));
}

/* r's end moved: its slot (if it has one) follows. */
static void rslot_refresh(struct shadow *sh, struct shadow_region *r)
{
	slot_refresh(&sh->ridx, r, r->start,
		     slot_span(r->start, r->end, region_owned(r)));
}

bool shadow_span_one_owned_region(const struct shadow *sh, uint64_t start,
				  uint64_t end)
{
	const struct shadow_slot *s = slot_find(&sh->ridx, start);
	if (!s || !(s->span & 1))
		return false;
	__builtin_prefetch(s->node);
	return slot_span_reaches(s->span, start, end);
}

struct shadow_region *shadow_region_find_next(const struct shadow *sh,
					      uint64_t addr)
{
	/* the caches are not the shadow's state: see shadow.vcache */
	struct shadow *m = (struct shadow *)sh;
	struct shadow_region *c = sh->rcache;
	if (c && c->start <= addr && addr < c->end)
		return c;
	struct shadow_slot *s = slot_find(&sh->ridx, addr);
	c = s ? s->node : NULL;
	if (c && c->start == addr && c->end > addr)
		return m->rcache = c;
	struct shadow_region *r = rs_find_next(&sh->regions, addr);
	if (r && r->start <= addr) {
		m->rcache = r;
		rslot_put(m, r);
	}
	return r;
}

void region_set_start(struct shadow *sh, struct shadow_region *r,
		      uint64_t start)
{
	ridx_drop(sh, r);
	r->start = start;
	rslot_put(sh, r);
}

void region_set_end(struct shadow *sh, struct shadow_region *r, uint64_t end)
{
	r->end = end;
	rslot_refresh(sh, r);
}

struct shadow_region *shadow_region_find(const struct shadow *sh,
					 uint64_t addr)
{
	return rs_find(&sh->regions, addr);
}

struct shadow_region *shadow_region_next(const struct shadow_region *r)
{
	return reg_of(rb_next(&r->rb));
}

/* r was just placed in t's tree: rebalance, count it, index it. */
static void reg_linked(struct shadow *sh, struct rset *t,
		       struct shadow_region *r)
{
	rb_insert(t->root, &r->rb, NULL);
	(*t->n)++;
	if (t->root == &sh->regions) {
		rslot_put(sh, r);
		idx_fit(sh, &sh->ridx, *t->n);
	}
}

static void reg_link(struct shadow *sh, struct rset *t,
		     struct shadow_region *r)
{
	struct rb_node **link = &t->root->node, *parent = NULL;
	while (*link) {
		parent = *link;
		link = r->start < reg_of(parent)->start ? &parent->left
							: &parent->right;
	}
	rb_link_node(&r->rb, parent, link);
	reg_linked(sh, t, r);
}

/* Link r right after prev (NULL: first) with no descent: nothing may lie
 * between prev and r->start. */
static void reg_link_after(struct shadow *sh, struct rset *t,
			   struct shadow_region *prev, struct shadow_region *r)
{
	rb_link_after(t->root, prev ? &prev->rb : NULL, &r->rb);
	reg_linked(sh, t, r);
}

static void reg_unlink(struct shadow *sh, struct rset *t,
		       struct shadow_region *r)
{
	if (sh->rcache == r)
		sh->rcache = NULL;
	ridx_drop(sh, r);
	rb_erase(t->root, &r->rb, NULL);
	(*t->n)--;
	if (t->root == &sh->regions)
		idx_fit(sh, &sh->ridx, *t->n);
}

static struct shadow_region *reg_alloc(struct shadow *sh)
{
	return sh->a.alloc(sh->a.ctx, sizeof(struct shadow_region));
}

static void reg_free(struct shadow *sh, struct shadow_region *r)
{
	sh->a.free(sh->a.ctx, r, sizeof(*r));
}

static uint32_t region_new_id(struct shadow *sh)
{
	if (!++sh->next_region_id)
		sh->next_region_id = 1;
	return sh->next_region_id;
}

int region_insert(struct shadow *sh, uint64_t start, uint64_t end,
		  uint8_t origin, uint32_t stack_id, uint8_t call, uint8_t name)
{
	struct shadow_region *r = reg_alloc(sh);
	if (!r)
		return -ENOMEM;
	*r = (struct shadow_region){ .start = start, .end = end,
				     .stack_id = stack_id,
				     .id = region_new_id(sh), .origin = origin,
				     .call = call, .name = name };
	reg_link(sh, REGIONS(sh), r);
	return 0;
}

/* Split r at addr; r keeps [start, addr), the new one [addr, end).  The new
 * node takes r's place in order, so a plain insert is right. */
static struct shadow_region *reg_split(struct shadow *sh, struct rset *t,
				       struct shadow_region *r, uint64_t addr)
{
	struct shadow_region *n = reg_alloc(sh);
	if (!n)
		return NULL;
	*n = *r;
	n->start = addr;
	r->end = addr;
	if (t->root == &sh->regions)
		rslot_refresh(sh, r);
	reg_link_after(sh, t, r, n);
	return n;
}

/* Where a caller that inserts [start, end) after rs_cut puts it. */
struct cut_place {
	struct shadow_region *prev; /* left just before start, or NULL */
	struct shadow_region *keep; /* the first region removed whole, kept
				     * linked (its place is the range's) */
};

/* Remove [start, end) from t, recording pieces of `kind`.  With place, the
 * first region removed whole stays linked for the caller to take over.
 * No rb_next past the range: it can climb to the root, a chain of cache
 * misses at 16,384 regions. */
static int rs_cut(struct shadow *sh, struct rset *t, uint64_t start,
		  uint64_t end, uint8_t kind, struct shadow_change *rec,
		  struct cut_place *place)
{
	struct shadow_region *r = t->root == &sh->regions
					  ? shadow_region_find_next(sh, start)
					  : rs_find_next(t->root, start);
	if (!r || r->start >= end)
		return 0;
	if (r->start < start) {
		/* Around the whole range: the tail needs a new node. */
		if (r->end > end && !reg_split(sh, t, r, end))
			return -ENOMEM;
		bool past = r->end >= end;
		rec_piece(rec, kind, start, r->end, r, 0);
		r->end = start;
		if (t->root == &sh->regions)
			rslot_refresh(sh, r);
		if (place)
			place->prev = r;
		if (past)
			return 0;
		r = shadow_region_next(r);
	}
	while (r && r->start < end) {
		if (r->end > end) {
			rec_piece(rec, kind, r->start, end, r, 0);
			/* Moving the start right keeps the order. */
			if (t->root == &sh->regions)
				region_set_start(sh, r, end);
			else
				r->start = end; /* guards have no index */
			break;
		}
		struct shadow_region *next =
			r->end < end ? shadow_region_next(r) : NULL;
		rec_piece(rec, kind, r->start, r->end, r, 0);
		if (place && !place->keep) {
			place->keep = r;
		} else {
			reg_unlink(sh, t, r);
			reg_free(sh, r);
		}
		r = next;
	}
	return 0;
}

int region_cut(struct shadow *sh, uint64_t start, uint64_t end, uint8_t kind,
	       struct shadow_change *rec)
{
	return rs_cut(sh, REGIONS(sh), start, end, kind, rec, NULL);
}

/* Pieces of one call's region (Give-back). */
static bool same_call(const struct shadow_region *a,
		      const struct shadow_region *b)
{
	return a->id == b->id && a->stack_id == b->stack_id &&
	       a->origin == b->origin && a->call == b->call &&
	       a->name == b->name;
}

/* n, just given back, rejoins the pieces of its region on either side.
 * The merged region keeps the leftmost known `from`. */
static void reg_rejoin(struct shadow *sh, struct shadow_region *n)
{
	struct shadow_region *r = shadow_region_next(n);
	if (r && r->start == n->end && same_call(r, n)) {
		uint64_t e = r->end;
		if (!n->from_id) {
			n->from_stack = r->from_stack;
			n->from_id = r->from_id;
		}
		reg_unlink(sh, REGIONS(sh), r);
		reg_free(sh, r);
		region_set_end(sh, n, e);
	}
	struct shadow_region *l = reg_of(rb_prev(&n->rb));
	if (l && l->end == n->start && same_call(l, n)) {
		uint64_t e = n->end;
		if (!l->from_id) {
			l->from_stack = n->from_stack;
			l->from_id = n->from_id;
		}
		reg_unlink(sh, REGIONS(sh), n);
		reg_free(sh, n);
		region_set_end(sh, l, e);
	}
}

/* region_cut of [start, end) then region_insert of the same range, with one
 * walk from the root: the new region is linked after the one left before
 * start, or takes over the node of the first region the cut removes whole
 * (same place in the order, no unlink and relink).  What MAP_FIXED over
 * earlier mappings does, 16,384 times over a 1 GiB reservation cut in 64 KiB
 * pieces.  The new region records the one it was carved from, or is given
 * back when give_back says the call is a decommit (Give-back above).
 * -ENOMEM when a node is needed and none is left: the cut may then be
 * done and the insert not. */
int region_replace(struct shadow *sh, uint64_t start, uint64_t end,
		   uint8_t kind, struct shadow_change *rec, uint8_t origin,
		   uint32_t stack_id, uint8_t call, uint8_t name, bool give_back)
{
	struct shadow_region fresh = { .start = start, .end = end,
				       .stack_id = stack_id,
				       .origin = origin, .call = call,
				       .name = name };
	/* Inside one region of the program's own mmap (the lookup leaves it
	 * in rcache for rs_cut's). */
	const struct shadow_region *p = shadow_region_find_next(sh, start);
	bool inside = p && p->start <= start && p->end >= end &&
		      origin == SHADOW_ORIGIN_TRACKED &&
		      call == SHADOW_CALL_MMAP &&
		      p->origin == SHADOW_ORIGIN_TRACKED &&
		      p->call == SHADOW_CALL_MMAP && p->name == name;
	give_back = give_back && inside;
	if (give_back) {
		fresh.stack_id = p->from_id ? p->from_stack : p->stack_id;
		fresh.id = p->from_id ? p->from_id : p->id;
	} else {
		fresh.id = region_new_id(sh);
		if (inside) {
			fresh.from_stack = p->stack_id;
			fresh.from_id = p->id;
		}
	}
	struct cut_place place = { NULL, NULL };
	int err = rs_cut(sh, REGIONS(sh), start, end, kind, rec, &place);
	if (err)
		return err;
	struct shadow_region *n = place.keep;
	if (n) {
		/* Same place in the order: rewrite it, keep its links. */
		if (sh->rcache == n)
			sh->rcache = NULL;
		ridx_drop(sh, n);
		struct rb_node rb = n->rb;
		*n = fresh;
		n->rb = rb;
		rslot_put(sh, n);
	} else {
		n = reg_alloc(sh);
		if (!n)
			return -ENOMEM;
		*n = fresh;
		if (place.prev)
			reg_link_after(sh, REGIONS(sh), place.prev, n);
		else
			reg_link(sh, REGIONS(sh), n); /* predecessor unknown */
	}
	if (give_back)
		reg_rejoin(sh, n);
	return 0;
}

/* Collect the regions of [start, end) (clipped) into a detached list, then
 * relink them at the destination.  Splits at the edges first. */
static int rs_transfer(struct shadow *sh, struct rset *t, uint64_t start,
		       uint64_t end, uint64_t dest, bool keep_source,
		       struct shadow_change *rec)
{
	struct shadow_region *r = rs_find_next(t->root, start);
	if (!r || r->start >= end)
		return 0;
	if (r->start < start) {
		struct shadow_region *n = reg_split(sh, t, r, start);
		if (!n)
			return -ENOMEM;
		r = n;
	}
	struct shadow_region *last = rs_find(t->root, end - 1);
	if (last && last->end > end && !reg_split(sh, t, last, end))
		return -ENOMEM;
	/* Detach [start, end) (or copies of it) into a singly linked list
	 * through rb.left.  Copies are all made before any is linked, so an
	 * allocation failure changes nothing. */
	struct shadow_region *head = NULL, **tailp = &head;
	while (r && r->start < end) {
		struct shadow_region *next = shadow_region_next(r);
		if (keep_source) {
			struct shadow_region *c = reg_alloc(sh);
			if (!c) {
				while (head) {
					c = (struct shadow_region *)head->rb.left;
					reg_free(sh, head);
					head = c;
				}
				return -ENOMEM;
			}
			*c = *r;
			r = c;
		} else {
			reg_unlink(sh, t, r);
		}
		r->rb.left = NULL;
		*tailp = r;
		tailp = (struct shadow_region **)&r->rb.left;
		r = next;
	}
	uint64_t delta = dest - start;
	for (r = head; r;) {
		struct shadow_region *next = (struct shadow_region *)r->rb.left;
		rec_piece(rec, SHADOW_PIECE_MOVED, r->start, r->end, r, 0);
		if (rec && rec->npieces && !rec->dropped)
			rec->pieces[rec->npieces - 1].dest = r->start + delta;
		r->start += delta;
		r->end += delta;
		reg_link(sh, t, r);
		r = next;
	}
	return 0;
}

int region_move(struct shadow *sh, uint64_t start, uint64_t end,
		uint64_t dest, struct shadow_change *rec)
{
	return rs_transfer(sh, REGIONS(sh), start, end, dest, false, rec);
}

int region_copy(struct shadow *sh, uint64_t start, uint64_t end,
		uint64_t dest, struct shadow_change *rec)
{
	return rs_transfer(sh, REGIONS(sh), start, end, dest, true, rec);
}

/* ---- guard ranges (MADV_GUARD_INSTALL): pages that fault with SIGSEGV
 * whatever the VMA allows.  They survive DONTNEED, FREE and mprotect, go
 * with their pages on mremap, and end with an unmap or GUARD_REMOVE. */

int guard_add(struct shadow *sh, uint64_t start, uint64_t end)
{
	if (rs_cut(sh, GUARDS(sh), start, end, 0, NULL, NULL))
		return -ENOMEM;
	/* Coalesce with touching neighbours. */
	struct shadow_region *p = rs_find(&sh->guards, start - 1);
	struct shadow_region *n = rs_find(&sh->guards, end);
	if (p && p->end == start) {
		p->end = end;
		if (n && n->start == end) {
			p->end = n->end;
			reg_unlink(sh, GUARDS(sh), n);
			reg_free(sh, n);
		}
		return 0;
	}
	if (n && n->start == end) {
		n->start = start;
		return 0;
	}
	struct shadow_region *r = reg_alloc(sh);
	if (!r)
		return -ENOMEM;
	*r = (struct shadow_region){ .start = start, .end = end };
	reg_link(sh, GUARDS(sh), r);
	return 0;
}

int guard_cut(struct shadow *sh, uint64_t start, uint64_t end)
{
	if (!sh->nguards)
		return 0;
	return rs_cut(sh, GUARDS(sh), start, end, 0, NULL, NULL);
}

int guard_move(struct shadow *sh, uint64_t start, uint64_t end, uint64_t dest)
{
	if (!sh->nguards)
		return 0;
	return rs_transfer(sh, GUARDS(sh), start, end, dest, false, NULL);
}

uint64_t guard_first(const struct shadow *sh, uint64_t start, uint64_t end)
{
	if (!sh->nguards)
		return 0;
	struct shadow_region *g = rs_find_next(&sh->guards, start);
	if (!g || g->start >= end)
		return 0;
	return g->start > start ? g->start : start;
}

void region_note(const struct shadow *sh, uint64_t start, uint64_t end,
		 uint8_t kind, uint32_t old_flags, struct shadow_change *rec)
{
	if (!rec)
		return;
	/* No step past the range: region_next may climb to the root, a
	 * chain of cache misses at 20,000 regions. */
	for (struct shadow_region *r = shadow_region_find_next(sh, start);
	     r && r->start < end;
	     r = r->end < end ? shadow_region_next(r) : NULL) {
		uint64_t s = r->start > start ? r->start : start;
		uint64_t e = r->end < end ? r->end : end;
		rec_piece(rec, kind, s, e, r, old_flags);
	}
}

int region_fill(struct shadow *sh, uint64_t start, uint64_t end,
		uint8_t origin, uint32_t stack_id, uint8_t call, int grow)
{
	uint64_t a = start;
	while (a < end) {
		struct shadow_region *r = shadow_region_find_next(sh, a);
		uint64_t gap_end = r && r->start < end ? r->start : end;
		if (gap_end > a) {
			struct shadow_region *p = rs_find(&sh->regions, a - 1);
			if (grow && (a > start || grow == REGION_GROW_ALL) && p &&
			    p->end == a) {
				/* Grow the region just moved or copied. */
				region_set_end(sh, p, gap_end);
			} else if (region_insert(sh, a, gap_end, origin,
						 stack_id, call,
						 SHADOW_NAME_ANON)) {
				return -ENOMEM;
			}
		}
		if (!r || r->start >= end)
			break;
		a = r->end;
	}
	return 0;
}

int shadow_region_claim(struct shadow *sh, uint64_t start, uint64_t end,
			uint8_t origin, uint32_t stack_id, uint8_t call)
{
	if (start >= end)
		return 0;
	int err = region_cut(sh, start, end, SHADOW_PIECE_REPLACED, NULL);
	if (!err)
		err = region_insert(sh, start, end, origin, stack_id, call,
				    SHADOW_NAME_ANON);
	SHADOW_VALIDATE(sh, "shadow_region_claim");
	return err;
}
