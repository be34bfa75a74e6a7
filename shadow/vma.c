/*
 * vma.c - the VMA tree of the shadow: an intrusive red-black tree ordered by
 * start, with no overlaps, augmented with the largest free gap below each
 * node (as the kernel's rb_subtree_gap was before the maple tree), so that a
 * free range of a given size is found in O(log n).  Also: the mm_struct
 * counters the kernel keeps (total_vm, data_vm, ...), the merge predicate,
 * change records, and shadow_validate().
 *
 * gap_pages of a VMA is the number of free pages between the previous VMA's
 * end (or address 0) and its start, saturated at UINT32_MAX (16 TiB); a
 * search for a larger range falls back to walking.
 */
#include "shadow_internal.h"

#include <string.h>

#define GAP_SAT UINT32_MAX

static inline struct shadow_vma *vma_of(const struct rb_node *n)
{
	return rb_entry_safe(n, struct shadow_vma, rb);
}

static inline uint32_t subgap(const struct rb_node *n)
{
	return n ? vma_of(n)->subtree_gap_pages : 0;
}

static int vma_augment(struct rb_node *n)
{
	struct shadow_vma *v = vma_of(n);
	uint32_t g = v->gap_pages, l = subgap(n->left), r = subgap(n->right);
	if (l > g)
		g = l;
	if (r > g)
		g = r;
	if (g == v->subtree_gap_pages)
		return 0;
	v->subtree_gap_pages = g;
	return 1;
}

static uint32_t gap_between(uint64_t prev_end, uint64_t start)
{
	uint64_t pages = (start - prev_end) >> SH_PAGE_SHIFT;
	return pages >= GAP_SAT ? GAP_SAT : (uint32_t)pages;
}

/* The augmentation callback for a change of the tree, or NULL (and the
 * augmentation marked stale) in lazy mode. */
static rb_update_fn vma_aug(struct shadow *sh)
{
	if (!sh->lazy_gaps)
		return vma_augment;
	sh->gaps_stale = true;
	return NULL;
}

/* v's own gap changed: propagate it up (or mark it stale). */
static void vma_gap_changed(struct shadow *sh, struct shadow_vma *v)
{
	rb_update_fn f = vma_aug(sh);
	if (f)
		rb_propagate(&v->rb, f);
}

/* Recompute v's own gap from its predecessor and propagate. */
static void vma_regap(struct shadow *sh, struct shadow_vma *v)
{
	struct shadow_vma *p = v->prev;
	uint32_t g = gap_between(p ? p->end : 0, v->start);
	if (g != v->gap_pages) {
		v->gap_pages = g;
		vma_gap_changed(sh, v);
	}
}

static void vma_regap_next(struct shadow *sh, struct shadow_vma *v)
{
	struct shadow_vma *n = v->next;
	if (n)
		vma_regap(sh, n);
}

/* Post-order: every subtree_gap_pages from the gap_pages below it. */
static uint32_t gaps_rebuild(struct rb_node *n)
{
	if (!n)
		return 0;
	struct shadow_vma *v = vma_of(n);
	uint32_t g = v->gap_pages, l = gaps_rebuild(n->left),
		 r = gaps_rebuild(n->right);
	if (l > g)
		g = l;
	if (r > g)
		g = r;
	return v->subtree_gap_pages = g;
}

/* ---- accounting: mm/mmap.c vm_stat_account(), VM_STACK = VM_GROWSDOWN */

/* pages more (or, negative, fewer) with these flags. */
static inline void vma_account_delta(struct shadow *sh, uint32_t flags,
				     int64_t pages)
{
	struct shadow_counters *c = &sh->c;
	uint64_t d = (uint64_t)pages;
	c->total_vm += d;
	if ((flags & (SV_EXEC | SV_WRITE | SV_GROWSDOWN)) == SV_EXEC)
		c->exec_vm += d;
	else if (flags & SV_GROWSDOWN)
		c->stack_vm += d;
	else if ((flags & (SV_WRITE | SV_SHARED | SV_GROWSDOWN)) == SV_WRITE)
		c->data_vm += d;
	if (flags & SV_LOCKED)
		c->locked_vm += d;
	if (c->total_vm > c->hiwater_vm)
		c->hiwater_vm = c->total_vm;
}

static inline void vma_account(struct shadow *sh, uint32_t flags,
			       uint64_t pages, int sign)
{
	vma_account_delta(sh, flags, sign > 0 ? (int64_t)pages : -(int64_t)pages);
}

/* ---- allocation */

struct shadow_vma *vma_alloc(struct shadow *sh)
{
	struct shadow_vma *v = sh->a.alloc(sh->a.ctx, sizeof(*v));
	if (v)
		*v = (struct shadow_vma){ 0 };
	return v;
}

void vma_free(struct shadow *sh, struct shadow_vma *v)
{
	sh->a.free(sh->a.ctx, v, sizeof(*v));
}

uint32_t shadow_new_anon_id(struct shadow *sh)
{
	uint32_t id = ++sh->next_anon_id;
	if (id >= SHADOW_ANON_SOME || id == SHADOW_ANON_NONE)
		id = sh->next_anon_id = 1;
	return id;
}

/* ---- lookup */

static inline void vidx_drop(struct shadow *sh, const struct shadow_vma *v)
{
	slot_drop(&sh->vidx, v, v->start);
}

struct shadow_vma *shadow_find_next(const struct shadow *sh, uint64_t addr)
{
	/* the caches are not the shadow's state: a lookup may fill them */
	struct shadow *m = (struct shadow *)sh;
	struct shadow_vma *c = sh->vcache;
	if (c && c->start <= addr && addr < c->end)
		return c;
	struct shadow_slot *s = slot_find(&sh->vidx, addr);
	c = s ? s->node : NULL;
	if (c && c->start == addr && c->end > addr)
		return m->vcache = c;
	c = sh->hcache;
	if (c && c->start > addr && (!c->prev || c->prev->end <= addr))
		return c;
	struct rb_node *n = sh->vmas.node;
	struct shadow_vma *best = NULL;
	while (n) {
		struct shadow_vma *v = vma_of(n);
		if (v->end > addr) {
			best = v;
			if (v->start <= addr) {
				m->vcache = v;
				vslot_put(m, v);
				break;
			}
			n = n->left;
		} else {
			n = n->right;
		}
	}
	if (best && best->start > addr)
		m->hcache = best; /* addr is in the hole before it */
	return best;
}

bool shadow_span_one_vma(const struct shadow *sh, uint64_t start,
			 uint64_t end)
{
	const struct shadow_slot *s = slot_find(&sh->vidx, start);
	if (!s)
		return false;
	__builtin_prefetch(s->node);
	return slot_span_reaches(s->span, start, end);
}

static void slot_prefetch(const struct shadow_index *ix, uint64_t addr)
{
	struct shadow_slot *s = __atomic_load_n(&ix->s, __ATOMIC_RELAXED);
	unsigned bits = __atomic_load_n(&ix->bits, __ATOMIC_RELAXED);
	if (s && !(addr >> 48))
		__builtin_prefetch(&s[vidx_slot(addr, bits)]);
}

void shadow_prefetch_at(const struct shadow *sh, uint64_t addr)
{
	slot_prefetch(&sh->vidx, addr);
	slot_prefetch(&sh->ridx, addr);
}

void shadow_prefetch_neighbours(const struct shadow *sh, uint64_t start)
{
	const struct shadow_slot *s = slot_find(&sh->vidx, start);
	if (s) {
		const struct shadow_vma *v = s->node;
		__builtin_prefetch(v->prev);
		__builtin_prefetch(v->next);
	}
}

struct shadow_vma *shadow_find(const struct shadow *sh, uint64_t addr)
{
	struct shadow_vma *v = shadow_find_next(sh, addr);
	return v && v->start <= addr ? v : NULL;
}

struct shadow_vma *vma_of_last(const struct shadow *sh)
{
	return vma_of(rb_last(&sh->vmas));
}

uint64_t rec_holes(const struct shadow *sh, uint64_t start, uint64_t end,
		   struct shadow_change *rec)
{
	uint64_t holes = 0, a = start;
	/* The next VMA only when the span goes on (see vmc_span_has_hole) */
	for (struct shadow_vma *v = shadow_find_next(sh, start); a < end;) {
		uint64_t s = v && v->start < end ? v->start : end;
		if (s > a) {
			holes += s - a;
			rec_piece(rec, SHADOW_PIECE_HOLE, a, s, NULL, 0);
		}
		if (!v || v->start >= end)
			break;
		a = v->end;
		if (a < end)
			v = shadow_vma_next(v);
	}
	return holes;
}

struct shadow_vma *shadow_vma_first(const struct shadow *sh)
{
	return vma_of(rb_first(&sh->vmas));
}

struct shadow_vma *shadow_vma_next(const struct shadow_vma *v)
{
	return v->next;
}

struct shadow_vma *shadow_vma_prev(const struct shadow_vma *v)
{
	return v->prev;
}

bool vma_range_free(const struct shadow *sh, uint64_t start, uint64_t end)
{
	struct shadow_vma *v = shadow_find_next(sh, start);
	return !v || v->start >= end;
}

/* ---- structural changes */

/* v was just linked (rb_link_node or rb_link_after), between pred and
 * succ: rebalance, and fix the gaps and counters. */
static void vma_link_at(struct shadow *sh, struct shadow_vma *v,
			struct rb_node *pred, struct rb_node *succ,
			bool account)
{
	/* Once the program runs, it may write: see faults_unseen. */
	if (sh->faults_unseen && v->anon_id == SHADOW_ANON_NONE &&
	    !(v->flags & SV_MAYSHARE))
		v->anon_id = SHADOW_ANON_MAYBE;
	v->gap_pages = gap_between(pred ? vma_of(pred)->end : 0, v->start);
	v->subtree_gap_pages = v->gap_pages;
	rb_insert(&sh->vmas, &v->rb, vma_aug(sh));
	v->prev = pred ? vma_of(pred) : NULL;
	v->next = succ ? vma_of(succ) : NULL;
	if (v->prev)
		v->prev->next = v;
	if (v->next)
		v->next->prev = v;
	vslot_put(sh, v);
	sh->vcache = v; /* the next lookup is likely here */
	if (succ) {
		struct shadow_vma *n = vma_of(succ);
		uint32_t g = gap_between(v->end, n->start);
		if (g != n->gap_pages) {
			n->gap_pages = g;
			vma_gap_changed(sh, n);
		}
	}
	sh->c.map_count++;
	if (sh->c.map_count > sh->c.peak_map_count)
		sh->c.peak_map_count = sh->c.map_count;
	idx_fit(sh, &sh->vidx, sh->c.map_count);
	if (account)
		vma_account(sh, v->flags, vma_pages(v), 1);
}

void vma_insert(struct shadow *sh, struct shadow_vma *v)
{
	struct rb_node **link = &sh->vmas.node, *parent = NULL;
	struct rb_node *pred = NULL, *succ = NULL;
	/* The descent passes the neighbours: the last node left of the path
	 * is the predecessor, the last right of it the successor. */
	while (*link) {
		parent = *link;
		if (v->start < vma_of(parent)->start) {
			succ = parent;
			link = &parent->left;
		} else {
			pred = parent;
			link = &parent->right;
		}
	}
	rb_link_node(&v->rb, parent, link);
	vma_link_at(sh, v, pred, succ, true);
}

/* v goes right after prev in address order (a split's upper part), with
 * no descent from the root; its pages are already counted (prev's). */
static void vma_insert_after(struct shadow *sh, struct shadow_vma *prev,
			     struct shadow_vma *v)
{
	rb_link_after(&sh->vmas, &prev->rb, &v->rb);
	vma_link_at(sh, v, &prev->rb, prev->next ? &prev->next->rb : NULL,
		    false);
}

void vma_erase(struct shadow *sh, struct shadow_vma *v)
{
	if (sh->vcache == v)
		sh->vcache = NULL;
	if (sh->hcache == v)
		sh->hcache = NULL;
	vidx_drop(sh, v);
	struct shadow_vma *n = v->next;
	if (v->prev)
		v->prev->next = n;
	if (n)
		n->prev = v->prev;
	v->prev = v->next = NULL;
	rb_erase(&sh->vmas, &v->rb, vma_aug(sh));
	if (n)
		vma_regap(sh, n);
	sh->c.map_count--;
	idx_fit(sh, &sh->vidx, sh->c.map_count);
	vma_account(sh, v->flags, vma_pages(v), -1);
}

void vma_set_range(struct shadow *sh, struct shadow_vma *v, uint64_t start,
		   uint64_t end)
{
	int64_t was = (int64_t)vma_pages(v);
	bool sc = start != v->start, ec = end != v->end;
	if (sc)
		vidx_drop(sh, v);
	sh->vcache = v; /* the next lookup is likely here */
	v->start = start;
	v->end = end;
	vslot_put(sh, v);
	vma_account_delta(sh, v->flags, (int64_t)vma_pages(v) - was);
	if (sc)
		vma_regap(sh, v);
	if (ec)
		vma_regap_next(sh, v);
}

void vma_set_flags(struct shadow *sh, struct shadow_vma *v, uint32_t flags)
{
	vma_account(sh, v->flags, vma_pages(v), -1);
	v->flags = flags;
	vma_account(sh, v->flags, vma_pages(v), 1);
}

struct shadow_vma *vma_split(struct shadow *sh, struct shadow_vma *v,
			     uint64_t addr, struct shadow_change *rec)
{
	struct shadow_vma *n = sh->a.alloc(sh->a.ctx, sizeof(*n));
	if (!n)
		return NULL;
	*n = *v;
	n->start = addr;
	n->pgoff = v->pgoff + ((addr - v->start) >> SH_PAGE_SHIFT);
	/* Shrink v first so the new node's range is free; the counters do
	 * not change (n's pages were v's). */
	v->end = addr;
	vslot_refresh(sh, v);
	vma_insert_after(sh, v, n);
	if (rec)
		rec->vmas_split++;
	return n;
}

bool vma_anon_compatible(uint32_t a, uint32_t b, bool *uncertain)
{
	if (a == SHADOW_ANON_NONE || b == SHADOW_ANON_NONE)
		return true;
	if (a == SHADOW_ANON_UNKNOWN || b == SHADOW_ANON_UNKNOWN) {
		*uncertain = true;
		return false;
	}
	/* Faults unseen: merge, and vma_merge_attrs marks the result. */
	if (anon_maybe(a) || anon_maybe(b))
		return true;
	return a == b;
}

void vma_merge_attrs(struct shadow_vma *dst, uint32_t anon, uint32_t flags)
{
	uint32_t a = dst->anon_id;
	bool moved = a == SHADOW_ANON_MAYBE_MOVED ||
		     anon == SHADOW_ANON_MAYBE_MOVED;
	/* The kernel refuses when both have an anon_vma and they differ,
	 * when the pgoffs do not follow (a guess after a move), or when
	 * VM_ACCOUNT differs (a guess after mprotect). */
	bool unsure = moved || ((dst->flags | flags) & SV_ACCT_UNSURE) ||
		      (a != SHADOW_ANON_NONE && anon != SHADOW_ANON_NONE &&
		       (anon_maybe(a) || anon_maybe(anon)));
	if (a == SHADOW_ANON_NONE ||
	    (anon_maybe(a) && anon != SHADOW_ANON_NONE && !anon_maybe(anon)))
		dst->anon_id = anon;
	if (dst->anon_id == SHADOW_ANON_MAYBE && anon == SHADOW_ANON_SOME)
		dst->anon_id = SHADOW_ANON_SOME; /* it has one now */
	if (moved)
		dst->anon_id = SHADOW_ANON_MAYBE_MOVED;
	dst->flags |= flags & SV_STICKY;
	if (unsure)
		dst->flags |= SV_EDGES_UNSURE;
}

/* is_mergeable_vma(): flags equal but for the ones the kernel ignores
 * (VM_SOFTDIRTY, which we do not model), same file (open file description),
 * same userfaultfd context, no VM_SPECIAL. */
bool vma_attrs_mergeable(uint32_t fa, uint32_t fb, const struct shadow_vma *a,
			 const struct shadow_vma *b, bool *uncertain)
{
	uint32_t d = (fa ^ fb) & ~SV_STICKY;
	/* VM_ACCOUNT the shadow cannot know: merge, marked unsure. */
	if (d == SV_ACCOUNT && ((fa | fb) & SV_ACCT_UNSURE))
		d = 0;
	if (d || (fa & SV_SPECIAL))
		return false;
	if (a->file_id != b->file_id || a->ino != b->ino || a->dev != b->dev)
		return false;
	if (a->file_id == SHADOW_FILE_UNKNOWN) {
		*uncertain = true;
		return false;
	}
	return vma_anon_compatible(a->anon_id, b->anon_id, uncertain);
}

bool vma_mergeable(const struct shadow_vma *a, const struct shadow_vma *b,
		   bool *uncertain)
{
	if (a->end != b->start)
		return false;
	if (!pgoff_follows(a->pgoff + vma_pages(a), b->pgoff, a->anon_id,
			   b->anon_id))
		return false;
	return vma_attrs_mergeable(a->flags, b->flags, a, b, uncertain);
}

struct shadow_vma *vma_merge_pair(struct shadow *sh, struct shadow_vma *a,
				  struct shadow_vma *b,
				  struct shadow_change *rec)
{
	uint64_t end = b->end;
	vma_merge_attrs(a, b->anon_id, b->flags);
	vma_erase(sh, b);
	vma_free(sh, b);
	vma_set_range(sh, a, a->start, end);
	if (rec)
		rec->vmas_merged++;
	return a;
}

int vma_clear_splits(const struct shadow *sh, uint64_t start, uint64_t end)
{
	struct shadow_vma *v = shadow_find(sh, start);
	return v && v->start < start && v->end > end ? 1 : 0;
}

int vma_clear_range(struct shadow *sh, uint64_t start, uint64_t end,
		    struct shadow_change *rec)
{
	if (guard_cut(sh, start, end))
		return -ENOMEM;
	return vma_remove_range(sh, start, end, rec);
}

int vma_remove_range(struct shadow *sh, uint64_t start, uint64_t end,
		     struct shadow_change *rec)
{
	struct shadow_vma *v = shadow_find_next(sh, start);
	if (!v || v->start >= end)
		return 0;
	/* Split the edges first: both allocations happen before any removal
	 * so a failure leaves the tree as it was, but for harmless splits. */
	if (v->start < start) {
		struct shadow_vma *n = vma_split(sh, v, start, rec);
		if (!n)
			return -ENOMEM;
		v = n;
	}
	struct shadow_vma *last = shadow_find(sh, end - 1);
	if (last && last->end > end) {
		if (!vma_split(sh, last, end, rec))
			return -ENOMEM;
	}
	while (v && v->start < end) {
		struct shadow_vma *next = shadow_vma_next(v);
		vma_erase(sh, v);
		vma_free(sh, v);
		if (rec)
			rec->vmas_removed++;
		v = next;
	}
	return 0;
}

/* ---- free-range search with the gap augmentation */

struct gap_search {
	uint64_t len, low, high, found;
	uint32_t need;
	bool topdown;
};

/* Try the gap [gs, ge) */
static bool gap_try(struct gap_search *s, uint64_t gs, uint64_t ge)
{
	if (gs < s->low)
		gs = s->low;
	if (ge > s->high)
		ge = s->high;
	if (ge <= gs || ge - gs < s->len)
		return false;
	s->found = s->topdown ? ge - s->len : gs;
	return true;
}

static bool gap_walk(struct gap_search *s, const struct rb_node *n)
{
	if (!n || vma_of(n)->subtree_gap_pages < s->need)
		return false;
	const struct shadow_vma *v = vma_of(n);
	const struct rb_node *first = s->topdown ? n->right : n->left;
	const struct rb_node *second = s->topdown ? n->left : n->right;
	/* Subtrees wholly outside [low, high) are skipped. */
	bool first_ok = s->topdown ? v->end < s->high : v->start > s->low;
	bool second_ok = s->topdown ? v->start > s->low : v->end < s->high;
	if (first_ok && gap_walk(s, first))
		return true;
	if (v->gap_pages >= s->need) {
		const struct shadow_vma *p = v->prev;
		if (gap_try(s, p ? p->end : 0, v->start))
			return true;
	}
	return second_ok && gap_walk(s, second);
}

uint64_t shadow_find_free(const struct shadow *sh, uint64_t len, uint64_t low,
			  uint64_t high, bool topdown)
{
	struct gap_search s = { .len = len, .low = low, .high = high,
				.topdown = topdown };
	uint64_t pages = len >> SH_PAGE_SHIFT;
	if (!len || high <= low || high - low < len)
		return 0;
	s.need = pages >= GAP_SAT ? GAP_SAT : (uint32_t)pages;
	if (sh->gaps_stale) {
		/* Lazy mode: the augmentation is not the shadow's state
		 * (like the lookup caches); rebuilt on demand. */
		struct shadow *m = (struct shadow *)sh;
		gaps_rebuild(m->vmas.node);
		m->gaps_stale = false;
	}
	const struct shadow_vma *last = vma_of(rb_last(&sh->vmas));
	uint64_t tail = last ? last->end : 0;
	if (topdown && gap_try(&s, tail, UINT64_MAX))
		return s.found;
	if (gap_walk(&s, sh->vmas.node))
		return s.found;
	if (!topdown && gap_try(&s, tail, UINT64_MAX))
		return s.found;
	return 0;
}

/* ---- change records */

void rec_reset(struct shadow_change *rec, uint64_t start, uint64_t end)
{
	if (!rec)
		return;
	rec->result = 0;
	rec->addr = 0;
	rec->vmas_added = rec->vmas_removed = 0;
	rec->vmas_split = rec->vmas_merged = 0;
	rec->applied_end = start;
	rec->npieces = rec->dropped = 0;
	rec->uncertain = false;
	rec->span_start = start;
	rec->span_end = end;
}

void rec_piece(struct shadow_change *rec, uint8_t kind, uint64_t start,
	       uint64_t end, const struct shadow_region *r, uint32_t old_flags)
{
	if (!rec)
		return;
	if (rec->npieces >= SHADOW_CHANGE_PIECES) {
		rec->dropped++;
		return;
	}
	struct shadow_piece *p = &rec->pieces[rec->npieces++];
	*p = (struct shadow_piece){ .start = start, .end = end, .kind = kind,
				    .old_flags = old_flags };
	if (r) {
		p->stack_id = r->stack_id;
		p->origin = r->origin;
		p->name = r->name;
	}
}

/* ---- set-up */

void shadow_env_default(struct shadow_env *env)
{
	*env = (struct shadow_env){
		.page_size = SH_PAGE_SIZE,
		.task_size = 0x7ffffffff000ull,
		.mmap_min_addr = 65536,
		.mmap_base = 0x7ffff7fff000ull,
		.max_map_count = 65530,
		.stack_guard_gap = 256ull << 12,
		.overcommit = 0,
		.kernel_version = (6u << 16) | (18u << 8),
		.thp_anon = 1,
		.thp_size = 2u << 20,
		.stack_rlimit = 8ull << 20,
	};
}

/* ---- the indexes (shadow.h, struct shadow_index) */

#define IDX_BYTES (sizeof(struct shadow_slot) << SHADOW_IDX_MAX_BITS)

static void idx_init(struct shadow *sh, struct shadow_index *ix)
{
	ix->bits = SHADOW_IDX_MIN_BITS;
	ix->s = sh->a.alloc(sh->a.ctx, IDX_BYTES);
	if (ix->s)
		memset(ix->s, 0, sizeof(*ix->s) << ix->bits);
}

static void idx_free(struct shadow *sh, struct shadow_index *ix)
{
	if (ix->s)
		sh->a.free(sh->a.ctx, ix->s, IDX_BYTES);
	ix->s = NULL;
}

/* The entries of n slots taken out of ix go back in, under its size. */
static void idx_reput(struct shadow_index *ix, const struct shadow_slot *b,
		      unsigned n)
{
	for (unsigned w = 0; w < n; w++)
		if (b[w].span)
			slot_put(ix, b[w].node, slot_span_start(b[w].span),
				 b[w].span);
}

/* With one more bit, a bucket's entries go to buckets 2i and 2i + 1 (the
 * next bit of their hash): all of them fit.  From the last bucket down,
 * the two it goes to have been emptied already, or are new. */
void idx_grow(struct shadow *sh, struct shadow_index *ix)
{
	unsigned nb = 1u << (ix->bits - 2); /* buckets */
	if (!ix->s) {
		ix->bits++;
		return;
	}
	if (ix->bits + 1 == SHADOW_IDX_HOT_BITS && sh->a.hot)
		sh->a.hot(sh->a.ctx, ix->s, IDX_BYTES);
	memset(ix->s + ((size_t)1 << ix->bits), 0,
	       sizeof(*ix->s) << ix->bits);
	ix->bits++;
	for (unsigned i = nb; i-- > 0;) {
		struct shadow_slot b[SHADOW_SLOT_WAYS];
		struct shadow_slot *old = ix->s + (size_t)i * SHADOW_SLOT_WAYS;
		memcpy(b, old, sizeof(b));
		memset(old, 0, sizeof(b));
		idx_reput(ix, b, SHADOW_SLOT_WAYS);
	}
}

/* With one bit less, buckets 2j and 2j + 1 make bucket j: what does not
 * fit in its four slots is dropped (an index is a cache).  From the
 * first bucket up, bucket j has been emptied already. */
void idx_shrink(struct shadow_index *ix)
{
	if (!ix->s) {
		ix->bits--;
		return;
	}
	unsigned nb = 1u << (ix->bits - 3); /* buckets after */
	ix->bits--;
	for (unsigned j = 0; j < nb; j++) {
		struct shadow_slot b[2 * SHADOW_SLOT_WAYS];
		struct shadow_slot *old =
			ix->s + (size_t)2 * j * SHADOW_SLOT_WAYS;
		memcpy(b, old, sizeof(b));
		memset(old, 0, sizeof(b));
		idx_reput(ix, b, 2 * SHADOW_SLOT_WAYS);
	}
}

void shadow_init(struct shadow *sh, const struct shadow_allocator *a,
		 const struct shadow_env *env)
{
	*sh = (struct shadow){ 0 };
	sh->a = *a;
	if (env)
		sh->env = *env;
	else
		shadow_env_default(&sh->env);
	idx_init(sh, &sh->vidx);
	idx_init(sh, &sh->ridx);
}

/* kernel/fork.c dup_mmap() and friends, applied to the child's copy:
 * VM_DONTCOPY VMAs are not copied; memory locks are not inherited
 * (VM_LOCKED/VM_LOCKONFAULT cleared, mm->def_flags keeps only
 * VM_NOHUGEPAGE, which we do not model); a VMA with an anon_vma gets a
 * new one chained to the parent's (anon_vma_fork), which no neighbour
 * shares and whose merge rules userspace cannot see: unknown; a
 * VM_WIPEONFORK VMA starts with none; userfaultfd registrations go
 * unless the context asked for fork events.  The VMAs are copied one by
 * one: no merge, even where clearing a flag made neighbours equal. */
int shadow_fork(struct shadow *sh, unsigned flags)
{
	int err = 0;
	sh->def_flags &= ~(SV_LOCKED | SV_LOCKONFAULT);
	for (struct shadow_vma *v = shadow_vma_first(sh); v;) {
		struct shadow_vma *next = shadow_vma_next(v);
		if (v->flags & SV_DONTCOPY) {
			if (region_cut(sh, v->start, v->end,
				       SHADOW_PIECE_UNMAPPED, NULL))
				err = -ENOMEM;
			vma_erase(sh, v);
			vma_free(sh, v);
			v = next;
			continue;
		}
		uint32_t f = v->flags & ~(SV_LOCKED | SV_LOCKONFAULT);
		if (!(flags & SHADOW_FORK_KEEP_UFFD))
			f &= ~SV_UFFD_ANY;
		vma_set_flags(sh, v, f);
		if (v->flags & SV_WIPEONFORK)
			v->anon_id = vma_anon_unseen(sh, v);
		else if (v->anon_id != SHADOW_ANON_NONE)
			v->anon_id = SHADOW_ANON_UNKNOWN;
		v = next;
	}
	sh->serial++;
	SHADOW_VALIDATE(sh, "shadow_fork");
	return err;
}

/* Free a tree's nodes: objects of `size` bytes holding their rb_node at
 * offset `off`. */
static void free_subtree(struct shadow *sh, struct rb_node *n, size_t size,
			 size_t off)
{
	while (n) {
		struct rb_node *r = n->right;
		free_subtree(sh, n->left, size, off);
		sh->a.free(sh->a.ctx, (char *)n - off, size);
		n = r;
	}
}

void shadow_destroy(struct shadow *sh)
{
	free_subtree(sh, sh->vmas.node, sizeof(struct shadow_vma),
		     offsetof(struct shadow_vma, rb));
	free_subtree(sh, sh->regions.node, sizeof(struct shadow_region),
		     offsetof(struct shadow_region, rb));
	free_subtree(sh, sh->guards.node, sizeof(struct shadow_region),
		     offsetof(struct shadow_region, rb));
	sh->vmas.node = sh->regions.node = sh->guards.node = NULL;
	sh->vcache = sh->hcache = NULL;
	sh->rcache = NULL;
	idx_free(sh, &sh->vidx);
	idx_free(sh, &sh->ridx);
	sh->nguards = 0;
	if (sh->objs)
		sh->a.free(sh->a.ctx, sh->objs,
			   sh->objs_cap * sizeof(struct shadow_obj));
	sh->objs = NULL;
	sh->objs_cap = sh->nobjs = 0;
	sh->c = (struct shadow_counters){ 0 };
}

/* ---- validation */

static int validate_gaps(const struct rb_node *n, const char **why)
{
	if (!n)
		return 0;
	if (validate_gaps(n->left, why) || validate_gaps(n->right, why))
		return -1;
	const struct shadow_vma *v = vma_of(n);
	uint32_t g = v->gap_pages;
	if (subgap(n->left) > g)
		g = subgap(n->left);
	if (subgap(n->right) > g)
		g = subgap(n->right);
	if (g != v->subtree_gap_pages) {
		*why = "subtree gap augmentation stale";
		return -1;
	}
	return 0;
}

/* Is n linked in the tree rooted at root? (its parent points back) */
static bool in_tree(const struct rb_root *root, const struct rb_node *n)
{
	const struct rb_node *p = rb_parent(n);
	if (!p)
		return root->node == n;
	return p->left == n || p->right == n;
}

/* Every cached node is in its tree, and an index slot holds a node with a
 * start that hashes there: a lookup cannot return a node gone. */
/* Slot k of idx, holding node (NULL or in its tree and found there by its
 * start: `linked`) whose range and flag make `span`: wrong unless empty,
 * or the node's, findable under its start, with that span. */
static bool slot_bad(const struct shadow_index *ix, unsigned k,
		     const void *node, bool linked, uint64_t span)
{
	const struct shadow_slot *s = &ix->s[k];
	if (!s->span && !node)
		return false;
	uint64_t start = slot_span_start(span);
	return !node || !linked || s->span != span ||
	       slot_find(ix, start) != s ||
	       vidx_slot(start, ix->bits) != (k & ~(SHADOW_SLOT_WAYS - 1u));
}

/* An index's size is the one idx_fit leaves for its tree's n nodes. */
static bool idx_size_bad(const struct shadow_index *ix, uint64_t n)
{
	uint64_t cap = 1ull << ix->bits;
	return ix->bits < SHADOW_IDX_MIN_BITS ||
	       ix->bits > SHADOW_IDX_MAX_BITS ||
	       (n > cap / 2 && ix->bits < SHADOW_IDX_MAX_BITS) ||
	       (n < cap / 8 && ix->bits > SHADOW_IDX_MIN_BITS);
}

static int validate_caches(const struct shadow *sh, const char **why)
{
	if (sh->vcache && !in_tree(&sh->vmas, &sh->vcache->rb)) {
		*why = "vcache holds a VMA not in the tree";
		return -1;
	}
	if (sh->hcache && !in_tree(&sh->vmas, &sh->hcache->rb)) {
		*why = "hcache holds a VMA not in the tree";
		return -1;
	}
	if (sh->rcache && !in_tree(&sh->regions, &sh->rcache->rb)) {
		*why = "rcache holds a region not in the tree";
		return -1;
	}
	if (idx_size_bad(&sh->vidx, sh->c.map_count) ||
	    idx_size_bad(&sh->ridx, sh->c.nregions)) {
		*why = "an index's size is not the one for its tree's nodes";
		return -1;
	}
	/* A slot holds a node in its tree under the node's start, and the
	 * node's range as it is now: callers trust the span alone. */
	for (unsigned k = 0; sh->vidx.s && k < 1u << sh->vidx.bits; k++) {
		const struct shadow_vma *v = sh->vidx.s[k].node;
		if (slot_bad(&sh->vidx, k, v,
			     v && in_tree(&sh->vmas, &v->rb) &&
				     shadow_find(sh, v->start) == v,
			     v ? slot_span(v->start, v->end, false) : 0)) {
			*why = "a vidx slot is not a VMA of the tree under its "
			       "start with its range";
			return -1;
		}
	}
	for (unsigned k = 0; sh->ridx.s && k < 1u << sh->ridx.bits; k++) {
		const struct shadow_region *r = sh->ridx.s[k].node;
		if (slot_bad(&sh->ridx, k, r,
			     r && in_tree(&sh->regions, &r->rb) &&
				     shadow_region_find(sh, r->start) == r,
			     r ? slot_span(r->start, r->end, region_owned(r))
			       : 0)) {
			*why = "a ridx slot is not a region of the tree under "
			       "its start with its range and owner";
			return -1;
		}
	}
	return 0;
}

int shadow_validate(const struct shadow *sh, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	if (rb_check(&sh->vmas, why) < 0 || rb_check(&sh->regions, why) < 0)
		return -1;
	/* Lazy mode: gap_pages is checked below; the augmentation only
	 * when it claims to be up to date. */
	if (!sh->gaps_stale && validate_gaps(sh->vmas.node, why))
		return -1;
	if (validate_caches(sh, why))
		return -1;
	struct shadow_counters c = { 0 };
	uint64_t prev_end = 0;
	const struct shadow_vma *first = shadow_vma_first(sh);
	if (first && first->prev) {
		*why = "first VMA has a prev link";
		return -1;
	}
	for (const struct shadow_vma *v = first; v;
	     v = vma_of(rb_next(&v->rb))) {
		const struct shadow_vma *tn = vma_of(rb_next(&v->rb));
		if (v->next != tn || (tn && tn->prev != v)) {
			*why = "VMA list links disagree with the tree";
			return -1;
		}
		if (v->start >= v->end || (v->start | v->end) & ~SH_PAGE_MASK) {
			*why = "VMA empty or unaligned";
			return -1;
		}
		if (v->start < prev_end) {
			*why = "VMAs overlap or out of order";
			return -1;
		}
		if (v->gap_pages != gap_between(prev_end, v->start)) {
			*why = "VMA gap_pages stale";
			return -1;
		}
		prev_end = v->end;
		uint64_t p = vma_pages(v);
		c.map_count++;
		c.total_vm += p;
		if ((v->flags & (SV_EXEC | SV_WRITE | SV_GROWSDOWN)) == SV_EXEC)
			c.exec_vm += p;
		else if (v->flags & SV_GROWSDOWN)
			c.stack_vm += p;
		else if ((v->flags & (SV_WRITE | SV_SHARED | SV_GROWSDOWN)) ==
			 SV_WRITE)
			c.data_vm += p;
		if (v->flags & SV_LOCKED)
			c.locked_vm += p;
	}
	if (c.map_count != sh->c.map_count || c.total_vm != sh->c.total_vm ||
	    c.exec_vm != sh->c.exec_vm || c.stack_vm != sh->c.stack_vm ||
	    c.data_vm != sh->c.data_vm || c.locked_vm != sh->c.locked_vm) {
		*why = "mm counters disagree with the VMAs";
		return -1;
	}
	prev_end = 0;
	uint64_t nreg = 0;
	for (const struct shadow_region *r = shadow_region_find_next(sh, 0); r;
	     r = shadow_region_next(r)) {
		if (r->start >= r->end || (r->start | r->end) & ~SH_PAGE_MASK) {
			*why = "region empty or unaligned";
			return -1;
		}
		if (r->start < prev_end) {
			*why = "regions overlap or out of order";
			return -1;
		}
		prev_end = r->end;
		nreg++;
		/* Every region page must be mapped. */
		for (uint64_t a = r->start; a < r->end;) {
			const struct shadow_vma *v = shadow_find(sh, a);
			if (!v) {
				*why = "region covers unmapped pages";
				return -1;
			}
			a = v->end;
		}
	}
	if (nreg != sh->c.nregions) {
		*why = "region count wrong";
		return -1;
	}
	/* Guard ranges: ordered, apart, over mapped pages. */
	prev_end = 0;
	nreg = 0;
	for (const struct rb_node *n = rb_first(&sh->guards); n; n = rb_next(n)) {
		const struct shadow_region *g =
			rb_entry(n, struct shadow_region, rb);
		if (g->start >= g->end || g->start < prev_end) {
			*why = "guard ranges overlap or are empty";
			return -1;
		}
		prev_end = g->end;
		nreg++;
		for (uint64_t a = g->start; a < g->end;) {
			const struct shadow_vma *v = shadow_find(sh, a);
			if (!v) {
				*why = "guard range over unmapped pages";
				return -1;
			}
			a = v->end;
		}
	}
	if (nreg != sh->nguards) {
		*why = "guard count wrong";
		return -1;
	}
	return 0;
}

#ifdef SHADOW_DEBUG
#include <stdio.h>
#include <stdlib.h>
void shadow_assert_valid(const struct shadow *sh, const char *where)
{
	const char *why = NULL;
	if (shadow_validate(sh, &why)) {
		fprintf(stderr, "shadow_validate failed after %s: %s\n", where,
			why);
		abort();
	}
}
#endif

/* ---- object sizes: a small open-addressed table in allocator memory */

static uint64_t obj_key(uint64_t ino, uint32_t file_id)
{
	if (ino && ino != SHADOW_INO_UNKNOWN)
		return ino;
	return file_id ? (uint64_t)file_id | (1ull << 63) : 0;
}

static struct shadow_obj *obj_slot(const struct shadow *sh, uint64_t key)
{
	if (!sh->objs_cap)
		return NULL;
	uint32_t mask = sh->objs_cap - 1;
	for (uint32_t i = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 40) & mask;;
	     i = (i + 1) & mask) {
		struct shadow_obj *o = &sh->objs[i];
		if (o->key == key || o->key == 0)
			return o;
	}
}

void shadow_set_object_size(struct shadow *sh, uint64_t ino, uint32_t file_id,
			    uint64_t bytes)
{
	uint64_t key = obj_key(ino, file_id);
	if (!key || (file_id == SHADOW_FILE_UNKNOWN && !ino))
		return;
	if ((sh->nobjs + 1) * 2 > sh->objs_cap) {
		uint32_t cap = sh->objs_cap ? sh->objs_cap * 2 : 64;
		struct shadow_obj *old = sh->objs;
		uint32_t ocap = sh->objs_cap;
		struct shadow_obj *n = sh->a.alloc(sh->a.ctx, cap * sizeof(*n));
		if (!n)
			return; /* sizes stay unknown: no prediction */
		for (uint32_t i = 0; i < cap; i++)
			n[i] = (struct shadow_obj){ 0 };
		sh->objs = n;
		sh->objs_cap = cap;
		for (uint32_t i = 0; i < ocap; i++)
			if (old[i].key)
				*obj_slot(sh, old[i].key) = old[i];
		if (old)
			sh->a.free(sh->a.ctx, old, ocap * sizeof(*old));
	}
	struct shadow_obj *o = obj_slot(sh, key);
	if (!o->key)
		sh->nobjs++;
	o->key = key;
	o->pages = bytes == UINT64_MAX ? UINT64_MAX
				       : (bytes + SH_PAGE_SIZE - 1) >> SH_PAGE_SHIFT;
}

uint64_t shadow_object_pages(const struct shadow *sh, const struct shadow_vma *v)
{
	if (!(v->flags & SV_MAYSHARE) && !v->ino && !v->dev &&
	    v->file_id == 0)
		return UINT64_MAX;
	uint64_t key = obj_key(v->ino, v->file_id);
	struct shadow_obj *o = key ? obj_slot(sh, key) : NULL;
	if (!o || o->key != key) {
		/* Shared anon before the kernel's ino was adopted, or after. */
		key = obj_key(0, v->file_id);
		o = key ? obj_slot(sh, key) : NULL;
	}
	return o && o->key == key ? o->pages : UINT64_MAX;
}

uint64_t shadow_past_object(const struct shadow *sh, const struct shadow_vma *v,
			    uint64_t start, uint64_t end)
{
	uint64_t pages = shadow_object_pages(sh, v);
	if (pages == UINT64_MAX)
		return 0;
	/* File page of `start` is pgoff + (start - v->start) / page. */
	uint64_t first_bad = v->start + ((pages > v->pgoff ? pages - v->pgoff : 0)
					 << SH_PAGE_SHIFT);
	if (pages <= v->pgoff)
		first_bad = v->start;
	if (first_bad < start)
		first_bad = start;
	return first_bad < end ? first_bad : 0;
}

bool shadow_span_unsure(const struct shadow *sh, uint64_t start,
			uint64_t end)
{
	for (const struct shadow_vma *v = shadow_find_next(sh, start);
	     v && v->start < end; v = v->next)
		if (v->flags & SV_EDGES_UNSURE)
			return true;
	return false;
}

void shadow_edges_confirm(struct shadow *sh, uint64_t start, uint64_t end)
{
	shadow_edges_confirm_from(shadow_find_next(sh, start), end);
}

void shadow_edges_confirm_from(struct shadow_vma *v, uint64_t end)
{
	for (; v && v->start < end; v = v->next)
		v->flags &= ~SV_EDGES_UNSURE;
}
