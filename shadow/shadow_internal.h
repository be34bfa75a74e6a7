/*
 * shadow_internal.h - what the files of shadow/ share, and a map of them.
 *
 * vma.c     the VMA tree: lookup, insert, erase, resize, split, merge, the
 *           free-gap augmentation, accounting (mm_struct counters), validate
 * region.c  the region tree: insert, cut a range out, move a range
 * map.c     mmap rules        unmap.c   munmap rules
 * protect.c mprotect rules, and vma_modify (shared with advise.c)
 * remap.c   mremap rules      advise.c  madvise, mlock*, munlock*
 * brk.c     brk rules         adopt.c   absorb/adopt the kernel's view
 */
#ifndef VMC_SHADOW_INTERNAL_H
#define VMC_SHADOW_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include "compat.h"
#include "shadow.h"

#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif

#define SH_PAGE_SHIFT 12
#define SH_PAGE_SIZE  4096ull
#define SH_PAGE_MASK  (~(SH_PAGE_SIZE - 1))
#define SH_PAGE_ALIGN(x) (((x) + SH_PAGE_SIZE - 1) & SH_PAGE_MASK)

static inline uint64_t vma_pages(const struct shadow_vma *v)
{
	return (v->end - v->start) >> SH_PAGE_SHIFT;
}

static inline bool vma_is_anon(const struct shadow_vma *v)
{
	return v->file_id == 0 && v->ino == 0 &&
	       !(v->flags & SV_MAYSHARE);
}

#ifdef SHADOW_DEBUG
void shadow_assert_valid(const struct shadow *sh, const char *where);
#define SHADOW_VALIDATE(sh, where) shadow_assert_valid((sh), (where))
#else
#define SHADOW_VALIDATE(sh, where) do { } while (0)
#endif

/* ---- change records (vma.c) */
void rec_reset(struct shadow_change *rec, uint64_t start, uint64_t end);
void rec_piece(struct shadow_change *rec, uint8_t kind, uint64_t start,
	       uint64_t end, const struct shadow_region *r, uint32_t old_flags);
static inline void rec_span(struct shadow_change *rec, uint64_t start,
			    uint64_t end)
{
	if (!rec)
		return;
	if (start < rec->span_start)
		rec->span_start = start;
	if (end > rec->span_end)
		rec->span_end = end;
}

/* ---- vma.c */
struct shadow_vma *vma_alloc(struct shadow *sh);
void vma_free(struct shadow *sh, struct shadow_vma *v);
/* Insert v (range and attributes set) into a free range; accounts it. */
void vma_insert(struct shadow *sh, struct shadow_vma *v);
/* Unlink v and account it away; does not free. */
void vma_erase(struct shadow *sh, struct shadow_vma *v);
/* Change v's range in place (must stay clear of its neighbours). */
void vma_set_range(struct shadow *sh, struct shadow_vma *v, uint64_t start,
		   uint64_t end);
/* Change v's flags in place (accounting follows). */
void vma_set_flags(struct shadow *sh, struct shadow_vma *v, uint32_t flags);
/* Split v at addr (v->start < addr < v->end): v keeps [start, addr), the
 * returned new VMA holds [addr, end).  NULL when out of memory. */
struct shadow_vma *vma_split(struct shadow *sh, struct shadow_vma *v,
			     uint64_t addr, struct shadow_change *rec);
/* May v be split at addr?  hugetlb VMAs only at huge page boundaries
 * (hugetlb_vm_op_split). */
static inline bool vma_may_split(const struct shadow_vma *v, uint64_t addr)
{
	if (!(v->flags & SV_HUGETLB))
		return true;
	uint64_t hs = v->flags & SV_HUGE_1G ? 1ull << 30 : 2ull << 20;
	return !(addr & (hs - 1));
}
/* Could a (ending at b->start) and b be one VMA?  Sets *uncertain when the
 * answer depends on state the shadow cannot see. */
bool vma_mergeable(const struct shadow_vma *a, const struct shadow_vma *b,
		   bool *uncertain);
/* Attribute half of the test: flags, file, anon_vma, but not adjacency or
 * pgoff. */
bool vma_attrs_mergeable(uint32_t fa, uint32_t fb, const struct shadow_vma *a,
			 const struct shadow_vma *b, bool *uncertain);
bool vma_anon_compatible(uint32_t a, uint32_t b, bool *uncertain);

static inline bool anon_maybe(uint32_t id)
{
	return id == SHADOW_ANON_MAYBE || id == SHADOW_ANON_MAYBE_MOVED ||
	       id == SHADOW_ANON_SOME;
}

/* Does b_pgoff follow a VMA whose pages end at pgoff `end` (a merge
 * condition)?  Faults unseen, a moved anonymous VMA's pgoff is a guess:
 * then it may, and vma_merge_attrs marks the merge. */
static inline bool pgoff_follows(uint64_t end, uint64_t b_pgoff,
				 uint32_t anon_a, uint32_t anon_b)
{
	return end == b_pgoff || anon_a == SHADOW_ANON_MAYBE_MOVED ||
	       anon_b == SHADOW_ANON_MAYBE_MOVED;
}

/* What v's anon_id becomes when the kernel has just taken its anon_vma
 * away (fork of a VM_WIPEONFORK VMA, MREMAP_DONTUNMAP source): none, or,
 * when faults are unseen, maybe (the program runs next); a pgoff that
 * was a guess stays one. */
static inline uint32_t vma_anon_unseen(const struct shadow *sh,
				       const struct shadow_vma *v)
{
	if (!sh->faults_unseen || (v->flags & SV_MAYSHARE))
		return SHADOW_ANON_NONE;
	return v->anon_id == SHADOW_ANON_MAYBE_MOVED ? SHADOW_ANON_MAYBE_MOVED
						     : SHADOW_ANON_MAYBE;
}

/* A merge: dst takes in the pages of a VMA with anon_id `anon` and flags
 * `flags`.  dst gets the anon_vma the kernel keeps, the sticky flags, and
 * SV_EDGES_UNSURE when the kernel may have refused the merge for what the
 * shadow cannot see (faults_unseen). */
void vma_merge_attrs(struct shadow_vma *dst, uint32_t anon, uint32_t flags);
/* a absorbs b (adjacent, a before b); b is erased and freed.  Returns a. */
struct shadow_vma *vma_merge_pair(struct shadow *sh, struct shadow_vma *a,
				  struct shadow_vma *b,
				  struct shadow_change *rec);
/* Remove every VMA part in [start, end), splitting at the edges.  Records
 * UNMAPPED pieces (or `kind`) from the region tree.  Returns -ENOMEM only
 * when a split could not allocate (nothing changed then). */
int vma_clear_range(struct shadow *sh, uint64_t start, uint64_t end,
		    struct shadow_change *rec);
/* The same without touching guard ranges (the pages stay mapped: adopt). */
int vma_remove_range(struct shadow *sh, uint64_t start, uint64_t end,
		     struct shadow_change *rec);
/* Number of extra VMAs clearing [start, end) would create (0 or 1). */
int vma_clear_splits(const struct shadow *sh, uint64_t start, uint64_t end);
/* Is [start, end) free of VMAs? */
bool vma_range_free(const struct shadow *sh, uint64_t start, uint64_t end);
/* Does [start, end) intersect any VMA? */
static inline bool vma_range_used(const struct shadow *sh, uint64_t start,
				  uint64_t end)
{
	return !vma_range_free(sh, start, end);
}
uint32_t shadow_new_anon_id(struct shadow *sh);

/* ---- region.c */
/* The first slot of a start address's bucket in an index of 1 << bits
 * slots (shadow.vidx / ridx). */
static inline unsigned vidx_slot(uint64_t start, unsigned bits)
{
	return (unsigned)(((start >> SH_PAGE_SHIFT) * 0x9E3779B97F4A7C15ull) >>
			  (64 - bits)) &
	       ~(SHADOW_SLOT_WAYS - 1u);
}

/* A slot's span (shadow.h, struct shadow_slot): the start page above bit
 * 28, the length in pages in bits 1-27 (saturated: at least that), a flag
 * in bit 0.  Never 0: the length is at least 1. */
#define SLOT_NPAGES_BITS 27
#define SLOT_NPAGES_MAX ((1ull << SLOT_NPAGES_BITS) - 1)
static inline uint64_t slot_span(uint64_t start, uint64_t end, bool flag)
{
	uint64_t n = (end - start) >> SH_PAGE_SHIFT;
	if (n > SLOT_NPAGES_MAX)
		n = SLOT_NPAGES_MAX;
	return (start >> SH_PAGE_SHIFT) << (SLOT_NPAGES_BITS + 1) | n << 1 |
	       (flag ? 1 : 0);
}

/* The start address a slot's span holds. */
static inline uint64_t slot_span_start(uint64_t span)
{
	return (span >> (SLOT_NPAGES_BITS + 1)) << SH_PAGE_SHIFT;
}

static inline bool slot_span_starts(uint64_t span, uint64_t start)
{
	return span && span >> (SLOT_NPAGES_BITS + 1) == start >> SH_PAGE_SHIFT;
}

/* Does span (starting at start) reach end, for certain? */
static inline bool slot_span_reaches(uint64_t span, uint64_t start,
				     uint64_t end)
{
	uint64_t n = (span >> 1) & SLOT_NPAGES_MAX;
	return n < SLOT_NPAGES_MAX && end - start <= n << SH_PAGE_SHIFT;
}

/* The slot holding start's node in ix, or NULL.  Starts above 2^48
 * (five-level paging) are not indexed: the span has no room for them. */
static inline struct shadow_slot *slot_find(const struct shadow_index *ix,
					    uint64_t start)
{
	if (!ix->s || start >> 48)
		return NULL;
	struct shadow_slot *b = &ix->s[vidx_slot(start, ix->bits)];
	for (unsigned i = 0; i < SHADOW_SLOT_WAYS; i++)
		if (slot_span_starts(b[i].span, start))
			return &b[i];
	return NULL;
}

/* node (starting at start, spanning span) takes its start's slot: the one
 * that has it, else an empty one, else the one its start page picks. */
static inline void slot_put(const struct shadow_index *ix, void *node,
			    uint64_t start, uint64_t span)
{
	if (!ix->s || start >> 48)
		return;
	struct shadow_slot *b = &ix->s[vidx_slot(start, ix->bits)], *s = NULL;
	for (unsigned i = 0; i < SHADOW_SLOT_WAYS && !s; i++)
		if (slot_span_starts(b[i].span, start))
			s = &b[i];
	for (unsigned i = 0; i < SHADOW_SLOT_WAYS && !s; i++)
		if (!b[i].span)
			s = &b[i];
	if (!s)
		s = &b[(start >> SH_PAGE_SHIFT) & (SHADOW_SLOT_WAYS - 1)];
	*s = (struct shadow_slot){ node, span };
}

/* An index's size follows its tree's n nodes (shadow.h, struct
 * shadow_index): doubled past half full, halved under an eighth.  In
 * place: the table is allocated at its largest size and only its first
 * 1 << bits slots are used (and touched). */
void idx_grow(struct shadow *sh, struct shadow_index *ix);
void idx_shrink(struct shadow_index *ix);
static inline void idx_fit(struct shadow *sh, struct shadow_index *ix,
			   uint64_t n)
{
	uint64_t cap = 1ull << ix->bits;
	if (__builtin_expect(n > cap / 2, 0) &&
	    ix->bits < SHADOW_IDX_MAX_BITS)
		idx_grow(sh, ix);
	else if (__builtin_expect(n < cap / 8, 0) &&
		 ix->bits > SHADOW_IDX_MIN_BITS)
		idx_shrink(ix);
}

/* node (starting at start) leaves its slot, if it has one. */
static inline void slot_drop(const struct shadow_index *ix,
			     const void *node, uint64_t start)
{
	struct shadow_slot *s = slot_find(ix, start);
	if (s && s->node == node)
		*s = (struct shadow_slot){ NULL, 0 };
}

/* node's end moved: its slot, if it has one, follows. */
static inline void slot_refresh(const struct shadow_index *ix,
				const void *node, uint64_t start,
				uint64_t span)
{
	struct shadow_slot *s = slot_find(ix, start);
	if (s && s->node == node)
		s->span = span;
}

/* A region's flag in its slot: its pages are the program's or the
 * tool's. */
static inline bool region_owned(const struct shadow_region *r)
{
	return r->origin == SHADOW_ORIGIN_TRACKED ||
	       r->origin == SHADOW_ORIGIN_TOOL;
}

static inline void vslot_put(struct shadow *sh, struct shadow_vma *v)
{
	slot_put(&sh->vidx, v, v->start, slot_span(v->start, v->end, false));
}

static inline void vslot_refresh(struct shadow *sh, struct shadow_vma *v)
{
	slot_refresh(&sh->vidx, v, v->start,
		     slot_span(v->start, v->end, false));
}
/* Move a linked region's start (shadow.regions) where the order is kept;
 * its index slot follows. */
void region_set_start(struct shadow *sh, struct shadow_region *r,
		      uint64_t start);
/* ... and its end (into free space, or onto a neighbour's old start). */
void region_set_end(struct shadow *sh, struct shadow_region *r, uint64_t end);

/* New VMA flags vm with do_mmap's MAP_NORESERVE (honoured under
 * overcommit 2 for hugetlb only) and mmap_region's accounting
 * (accountable_mapping: private writable, not hugetlb, not noreserve);
 * shadow_map and the fast path share it. */
static inline uint32_t vm_commit_flags(const struct shadow *sh, uint32_t vm,
				       int flags)
{
	if ((flags & MAP_NORESERVE) &&
	    (sh->env.overcommit != 2 || (vm & SV_HUGETLB)))
		vm |= SV_NORESERVE;
	if (!(vm & SV_HUGETLB) &&
	    (vm & (SV_NORESERVE | SV_SHARED | SV_WRITE)) == SV_WRITE)
		vm |= SV_ACCOUNT;
	return vm;
}

int region_insert(struct shadow *sh, uint64_t start, uint64_t end,
		  uint8_t origin, uint32_t stack_id, uint8_t call, uint8_t name);
/* region_cut then region_insert of the same range, in one walk; with
 * give_back (a decommit: an anonymous private PROT_NONE MAP_FIXED mmap),
 * the pages go back to the region they were carved from (region.c). */
int region_replace(struct shadow *sh, uint64_t start, uint64_t end,
		   uint8_t kind, struct shadow_change *rec, uint8_t origin,
		   uint32_t stack_id, uint8_t call, uint8_t name,
		   bool give_back);
/* Remove [start, end) from the region tree, recording pieces of `kind`. */
int region_cut(struct shadow *sh, uint64_t start, uint64_t end, uint8_t kind,
	       struct shadow_change *rec);
/* Move the regions in [start, end) by (dest - start) bytes; the destination
 * must be free of regions.  Records MOVED pieces. */
int region_move(struct shadow *sh, uint64_t start, uint64_t end,
		uint64_t dest, struct shadow_change *rec);
/* Copy the regions in [start, end) to dest (DONTUNMAP keeps the source). */
int region_copy(struct shadow *sh, uint64_t start, uint64_t end,
		uint64_t dest, struct shadow_change *rec);
/* Give every page of [start, end) without a region one.  A region that
 * ends where a gap starts grows into it when grow is REGION_GROW_INSIDE
 * and the gap starts inside the range (mremap growth), or always with
 * REGION_GROW_ALL (brk); otherwise a new region of `origin` is made. */
enum { REGION_GROW_NONE, REGION_GROW_INSIDE, REGION_GROW_ALL };
int region_fill(struct shadow *sh, uint64_t start, uint64_t end,
		uint8_t origin, uint32_t stack_id, uint8_t call, int grow);
/* Guard ranges: add, cut, move with their pages; the first guarded page
 * in [start, end), or 0. */
int guard_add(struct shadow *sh, uint64_t start, uint64_t end);
int guard_cut(struct shadow *sh, uint64_t start, uint64_t end);
int guard_move(struct shadow *sh, uint64_t start, uint64_t end, uint64_t dest);
uint64_t guard_first(const struct shadow *sh, uint64_t start, uint64_t end);
/* Record pieces of `kind` for the regions over [start, end) without
 * changing them (mprotect, madvise). */
void region_note(const struct shadow *sh, uint64_t start, uint64_t end,
		 uint8_t kind, uint32_t old_flags, struct shadow_change *rec);

/* ---- protect.c: the kernel's vma_modify: give [start, end) (inside v)
 * the flags `flags`, merging with prev/next as vma_merge_existing_range
 * does, else splitting.  Returns the VMA now holding [start, end) (maybe a
 * merged, larger one), or NULL with *err set: -ENOMEM (map full, no
 * memory) or -EINVAL (a hugetlb VMA split off its huge page boundary). */
struct shadow_vma *vma_modify(struct shadow *sh, struct shadow_vma *v,
			      uint64_t start, uint64_t end, uint32_t flags,
			      struct shadow_change *rec, int *err);

struct shadow_vma *vma_of_last(const struct shadow *sh);
/* Record HOLE pieces for the unmapped parts of [start, end); returns the
 * number of unmapped bytes. */
uint64_t rec_holes(const struct shadow *sh, uint64_t start, uint64_t end,
		   struct shadow_change *rec);

/* ---- unmap.c: munmap of a validated, aligned range. */
int shadow_do_unmap(struct shadow *sh, uint64_t start, uint64_t end,
		    uint8_t kind, struct shadow_change *rec);

/* ---- map.c */
/* First anonymous fault: give v an anon_vma (reusing a neighbour's). */
void vma_anon_prepare(struct shadow *sh, struct shadow_vma *v);
/* MAP_POPULATE / mlock population of v (whole, errors ignored) or of
 * [start, end) inside v: -EFAULT when a page past the end of the object
 * stops it (the pages before it were faulted in). */
void vma_populate(struct shadow *sh, struct shadow_vma *v);
int vma_populate_range(struct shadow *sh, struct shadow_vma *v,
		       uint64_t start, uint64_t end);
/* ---- fault.c: read faults over [start, end) of v (populate). */
void vma_read_fault_range(struct shadow *sh, struct shadow_vma *v,
			  uint64_t start, uint64_t end);

/* The new-range merge (mmap, mremap destination, brk). */
/* vma_merge_new's decision for nv between prev (which must end where nv
 * starts, its pages' pgoffs ending at prev_end_pg) and next (which must
 * start where nv ends, at next_pg); either may be NULL.  *unc is set when
 * the shadow cannot tell. */
void vma_merge_sides(const struct shadow_vma *prev, uint64_t prev_end_pg,
		     const struct shadow_vma *nv, const struct shadow_vma *next,
		     uint64_t next_pg, bool *left, bool *right, bool *unc);
struct shadow_vma *vma_merge_new(struct shadow *sh, struct shadow_vma *nv,
				 struct shadow_change *rec);

#endif
