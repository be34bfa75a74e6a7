/*
 * test_shadow_fast.c - the fast paths of shadow/fast.c against the general
 * operations, without the kernel (tests/fuzz_shadow --fast runs them against
 * the kernel).
 *
 *  same:     random anonymous mmaps, munmaps, mprotects and mremap
 *            growths on two shadows, one trying the fast paths first
 *            (shadow_protect_fast for an mprotect the general path says
 *            succeeds, shadow_remap_grow_fast for a growth it makes in
 *            place, shadow_remap_move_fast for one it moves (a third of
 *            them of a VMA moved before; faults unseen, pagemap's answer
 *            random, the same to both), shadow_map_fixed_fast for a MAP_FIXED anonymous mmap
 *            over part of a VMA, a commit or decommit, that it makes), one
 *            with shadow_map, shadow_unmap, shadow_protect and
 *            shadow_remap only; after every call both
 *            hold the same VMAs (every field), regions, counters and
 *            serial, and the fast mprotect counts the splits the general
 *            one recorded.  Each fast path must have applied and declined
 *            calls many times.
 *  elided:   an mmap the fast path accepts (shadow_map_anon_fast_flags)
 *            and unmapped whole before anything else is applied, counted
 *            by shadow_map_unmap_elided on one shadow, applied by shadow_map
 *            and shadow_unmap on the other: the same VMAs, regions,
 *            counters (peaks included) and serial, in random states.
 *  undo:     an mprotect inside one VMA planned (shadow_protect_fast_plan)
 *            and held back, then an mprotect of the same range, mostly
 *            back to the protection it had: when shadow_protect_undo says
 *            the two leave every VMA as it was and cancels them, the other
 *            shadow applies both with shadow_protect; else the plan is
 *            applied and the second call taken as usual.  The same VMAs,
 *            counters (the VMA peak of a split-then-merge pair included),
 *            serial and split counts; a pair whose splits would pass the
 *            VMA cap is not cancelled.  Cancelled and refused pairs must
 *            both be common, with and without faults unseen.
 *  pairs:    a MAP_FIXED commit (any prot, NORESERVE or not) planned by
 *            shadow_fixed_pair_plan and held back, then its decommit
 *            (PROT_NONE, with the reservation's NORESERVE or not), in
 *            random states (reservations, mappings, unmaps, reads and
 *            writes of pages, faults unseen or not), now and then under a
 *            VMA cap: a pair shadow_fixed_pair_undo cancels must leave the
 *            fast shadow as shadow_map of both leaves the other (VMAs,
 *            regions with their ids and `from`, counters, serial, the next
 *            region id); a refused one is applied (the plan, then the
 *            decommit) and must too.  Cancelled, refused, capped and
 *            unplanned commits must all be common.
 *  fixed:    a reserve/commit allocator's MAP_FIXED calls (commits in a
 *            PROT_NONE reservation's middle and at its edge, one next to
 *            a commit with its flags, decommits merging back, a mapping
 *            replaced whole, the reservation's flags over itself) through
 *            shadow_map_fixed_fast on one shadow and shadow_map on the
 *            other: the same state after each, with and without faults
 *            unseen; and the shapes it declines (a hole, two VMAs, shared,
 *            populated, locked, NOREPLACE, not fixed, an unaligned offset)
 *            change nothing.
 *  moves:    the mremap growths shadow_remap_move_fast must decline (one
 *            the shadow would grow in place, other flags, no growth, part
 *            of a region, a destination with pages, a copy merging with
 *            its own source, a merge it cannot be sure of) and
 *            shadow_remap_grow_fast's uncertain merge change nothing;
 *            those taken leave both shadows alike, among them a VMA never
 *            moved whose pgoff is pagemap's answer, written or not.
 *  pieces:   a mapping merged with another in one VMA, moved: its head
 *            or tail is split off and moved (its own pgoff kept when
 *            written; the rest then known to have an anon_vma); its
 *            middle, or a VMA merged on a guess, is declined.
 *  growrun:  an mremap growth in place planned (shadow_remap_grow_plan),
 *            then more growths of the same range in place up to its room
 *            (now and then exactly to it), held back, then applied as one
 *            (shadow_remap_grow_apply); the other shadow takes each with
 *            shadow_remap, which must grow it in place every time (the
 *            room's promise): the same state after the run (serial
 *            included), in random states with and without faults unseen.
 *            Runs of several growths and runs that reach the room must
 *            both be common.
 *  shapes:   each shape a fast path must decline (a neighbour it could merge
 *            with, an overlap, a shared or locked or populated mapping, a
 *            munmap of part of a mapping, of two mappings, of a range with a
 *            guard) leaves the shadow as it was.
 */
#include <check.h>
#include <stdlib.h>

#include "harness.h"

#define PG 4096ull
#define RW (PROT_READ | PROT_WRITE)
#define PRIV (MAP_PRIVATE | MAP_ANONYMOUS)
/* The shadow is pure: any address works. */
#define BASE 0x100000000ull
#define A(p) (BASE + (uint64_t)(p) * PG)

static struct shadow fa, ga; /* fast paths first; general only */
static struct test_alloc fta, gta;

static void setup(void)
{
	test_shadow_init(&fa, &fta);
	test_shadow_init(&ga, &gta);
}

static void teardown(void)
{
	shadow_destroy(&fa);
	shadow_destroy(&ga);
}

/* Both shadows hold the same state; on a difference, what differs. */
static void assert_same(const char *after)
{
	const char *why = NULL;
	ck_assert_msg(shadow_validate(&fa, &why) == 0, "%s: fast: %s", after,
		      why);
	ck_assert_msg(shadow_validate(&ga, &why) == 0, "%s: general: %s",
		      after, why);
	const struct shadow_vma *x = shadow_vma_first(&fa);
	const struct shadow_vma *y = shadow_vma_first(&ga);
	for (; x && y; x = shadow_vma_next(x), y = shadow_vma_next(y)) {
		ck_assert_msg(x->start == y->start && x->end == y->end &&
				      x->pgoff == y->pgoff &&
				      x->flags == y->flags &&
				      x->file_id == y->file_id &&
				      x->ino == y->ino && x->dev == y->dev &&
				      x->anon_id == y->anon_id &&
				      x->gap_pages == y->gap_pages,
			      "%s: VMA [%#llx, %#llx) flags %#x vs [%#llx, "
			      "%#llx) flags %#x",
			      after, (unsigned long long)x->start,
			      (unsigned long long)x->end, x->flags,
			      (unsigned long long)y->start,
			      (unsigned long long)y->end, y->flags);
	}
	ck_assert_msg(!x && !y, "%s: VMA counts differ", after);
	const struct shadow_region *r = shadow_region_find_next(&fa, 0);
	const struct shadow_region *q = shadow_region_find_next(&ga, 0);
	for (; r && q; r = shadow_region_next(r), q = shadow_region_next(q))
		ck_assert_msg(r->start == q->start && r->end == q->end &&
				      r->stack_id == q->stack_id &&
				      r->id == q->id &&
				      r->from_stack == q->from_stack &&
				      r->from_id == q->from_id &&
				      r->origin == q->origin &&
				      r->call == q->call && r->name == q->name,
			      "%s: region [%#llx, %#llx) stack %u id %u from "
			      "%u/%u vs [%#llx, %#llx) stack %u id %u from "
			      "%u/%u",
			      after, (unsigned long long)r->start,
			      (unsigned long long)r->end, r->stack_id, r->id,
			      r->from_stack, r->from_id,
			      (unsigned long long)q->start,
			      (unsigned long long)q->end, q->stack_id, q->id,
			      q->from_stack, q->from_id);
	ck_assert_msg(!r && !q, "%s: region counts differ", after);
	ck_assert_msg(fa.next_region_id == ga.next_region_id,
		      "%s: next region id %u vs %u", after, fa.next_region_id,
		      ga.next_region_id);
	ck_assert_msg(!memcmp(&fa.c, &ga.c, sizeof(fa.c)),
		      "%s: counters differ (total_vm %llu vs %llu, map_count "
		      "%llu vs %llu)",
		      after, (unsigned long long)fa.c.total_vm,
		      (unsigned long long)ga.c.total_vm,
		      (unsigned long long)fa.c.map_count,
		      (unsigned long long)ga.c.map_count);
	ck_assert_uint_eq(fa.serial, ga.serial);
}

/* An mmap the kernel placed at addr (non-fixed) or at the fixed address. */
static bool map_both(uint64_t addr, uint64_t len, int prot, int flags,
		     uint32_t stack)
{
	struct shadow_map_args m = {
		.addr = addr, .len = len, .prot = prot, .flags = flags,
		.result = (flags & MAP_FIXED) ? 0 : addr, .stack_id = stack,
		.origin = SHADOW_ORIGIN_TRACKED,
	};
	struct shadow_change rec;
	/* The kernel's answer is the general path's here. */
	int64_t g = shadow_map(&ga, &m, &rec);
	bool fast = (flags & MAP_FIXED)
			    ? g >= 0 && shadow_map_fixed_fast(
						&fa, addr, len, prot, flags, 0,
						SHADOW_ORIGIN_TRACKED, stack)
			    : shadow_map_anon_fast(&fa, addr, len, prot, flags,
						   0, SHADOW_ORIGIN_TRACKED,
						   stack);
	if (!fast)
		ck_assert_int_eq(shadow_map(&fa, &m, &rec), g);
	return fast;
}

static bool unmap_both(uint64_t addr, uint64_t len)
{
	struct shadow_change rec;
	struct shadow_vma *v = NULL;
	bool fast = shadow_whole_mapping(&fa, addr, len, &v) != NULL;
	if (fast)
		shadow_unmap_whole(&fa, v);
	else
		shadow_unmap(&fa, addr, len, &rec);
	int g = shadow_unmap(&ga, addr, len, &rec);
	if (fast)
		ck_assert_int_eq(g, 0);
	return fast;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t below(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

/* A paired test's run i: its own random sequence, faults unseen or not. */
static void seed_run(int i, bool unseen)
{
	rng += (uint64_t)i * 0x9E3779B97F4A7C15ull;
	fa.faults_unseen = ga.faults_unseen = unseen;
}

static const int prots4[] = { RW, PROT_READ, PROT_NONE,
			      PROT_READ | PROT_EXEC };

/* A step of the paired tests' random states: op 0-2 an mmap of n pages
 * at page p with prot (MAP_FIXED one time in fixed_in), op 3 the munmap
 * of the VMA at or after p.  False for any other op (nothing done). */
static bool state_step(int op, uint64_t p, uint64_t n, int prot,
		       uint64_t fixed_in)
{
	if (op < 3) {
		map_both(A(p), n * PG, prot,
			 below(fixed_in) ? PRIV : PRIV | MAP_FIXED,
			 (uint32_t)(1 + below(4)));
		return true;
	}
	if (op == 3) {
		const struct shadow_vma *v = shadow_find_next(&fa, A(p));
		if (v)
			unmap_both(v->start, v->end - v->start);
		return true;
	}
	return false;
}

/* A random mremap growth: of [s, s + len), or with v of all of v, its
 * tail or its head; faults unseen, what pagemap would say of a moved page
 * (the fast path takes no VMA that needs it). */
static struct shadow_remap_args growth_of(const struct shadow_vma *v,
					  uint64_t s, uint64_t len)
{
	if (v) {
		s = below(3) ? v->start
			     : v->start + below((v->end - v->start) / PG) * PG;
		len = v->end - s;
		if (!below(4))
			len = (1 + below(len / PG)) * PG;
	}
	uint64_t nl = len + (1 + below(3)) * PG - below(2) * 100;
	int flags = below(3) ? MREMAP_MAYMOVE : 0;
	return (struct shadow_remap_args){
		.old_addr = s, .old_len = len, .new_len = nl, .flags = flags,
		.stack_id = 7, .src_written = fa.faults_unseen && below(2),
	};
}

START_TEST(same_as_general)
{
	static const int prots[] = { RW, RW, PROT_READ, PROT_NONE,
				     PROT_READ | PROT_EXEC };
	unsigned maps_fast = 0, maps_slow = 0, unmaps_fast = 0, unmaps_slow = 0;
	unsigned protects_fast = 0, protects_slow = 0;
	unsigned grows_fast = 0, grows_slow = 0, fixed_fast = 0, fixed_slow = 0;
	unsigned moves_fast = 0, moves_slow = 0, pieces_fast = 0;
	char what[96];
	rng += (uint64_t)_i * 0x9E3779B97F4A7C15ull;
	/* Runs 3-5 as in the preload: faults unseen (anon_ids "maybe",
	 * VM_ACCOUNT guessed after mprotect, merges marked). */
	fa.faults_unseen = ga.faults_unseen = _i >= 3;
	for (int i = 0; i < 8000; i++) {
		uint64_t p = below(96), n = 1 + below(6);
		int op = (int)below(14);
		if (op >= 12) {
			/* MAP_FIXED anonymous over part of a VMA, as a
			 * reserve/commit allocator commits and decommits (its
			 * middle, an edge, all of it, or across VMAs). */
			const struct shadow_vma *v = shadow_find_next(&fa, A(p));
			uint64_t s = A(p), len = n * PG;
			if (v && below(5)) {
				uint64_t pages = (v->end - v->start) / PG;
				uint64_t a = below(3) ? below(pages) : 0;
				s = v->start + a * PG;
				len = below(3) ? (1 + below(pages - a)) * PG
					       : (pages - a) * PG;
			}
			int prot = below(3) ? prots[below(5)] : PROT_NONE;
			int flags = PRIV | MAP_FIXED |
				    (below(2) ? MAP_NORESERVE : 0);
			bool f = map_both(s, len - below(2) * 100, prot, flags,
					  (uint32_t)(1 + below(4)));
			f ? fixed_fast++ : fixed_slow++;
			snprintf(what, sizeof(what),
				 "op %d mmap fixed %#llx+%#llx %d %#x (%s)", i,
				 (unsigned long long)s, (unsigned long long)len,
				 prot, flags, f ? "fast" : "general");
		} else if (op >= 10) {
			/* mremap growth, mostly of a whole mapping; where the
			 * general path grows it in place (the kernel's answer
			 * here), shadow_remap_grow_fast may apply it. */
			const struct shadow_vma *v = shadow_find_next(&fa, A(p));
			/* A third of them: one moved before (moves go above
			 * the window), to move again. */
			const struct shadow_vma *mv = shadow_find_next(&fa, A(96));
			if (mv && !below(3))
				v = mv;
			struct shadow_remap_args ra = growth_of(
				v && below(4) ? v : NULL, A(p), n * PG);
			uint64_t s = ra.old_addr, len = ra.old_len;
			uint64_t nl = ra.new_len;
			int flags = ra.flags;
			struct shadow_change rec;
			/* the old range at one end of its VMA, not all of it */
			const struct shadow_vma *ov = shadow_find(&fa, s);
			bool piece = ov && ov->start <= s &&
				     ov->end >= s + len &&
				     (ov->start < s || ov->end > s + len);
			int64_t g = shadow_remap(&ga, &ra, &rec);
			bool f = g == (int64_t)s &&
				 shadow_remap_grow_fast(&fa, s, len, nl,
							flags);
			/* Moved: both paths get the same pagemap answer. */
			uint32_t moved_of = 0;
			bool m = !f && g >= 0 && g != (int64_t)s &&
				 shadow_remap_move_fast(&fa, s, len, nl, flags,
							(uint64_t)g,
							ra.src_written,
							&moved_of);
			if (!f && !m) {
				ra.result = g >= 0 ? (uint64_t)g : 0;
				ck_assert_int_eq(shadow_remap(&fa, &ra, &rec),
						 g);
			}
			if (m) {
				/* the moved region's creator */
				const struct shadow_region *mr =
					shadow_region_find(&ga, (uint64_t)g);
				ck_assert_ptr_nonnull(mr);
				ck_assert_uint_eq(moved_of, mr->stack_id);
				moves_fast++;
				pieces_fast += piece;
			} else if (g >= 0 && g != (int64_t)s) {
				moves_slow++;
			}
			f ? grows_fast++ : grows_slow++;
			snprintf(what, sizeof(what),
				 "op %d mremap %#llx+%#llx -> %#llx (%s)", i,
				 (unsigned long long)s, (unsigned long long)len,
				 (unsigned long long)nl,
				 f || m ? "fast" : "general");
		} else if (op < 4) {
			int flags = PRIV;
			uint64_t k = below(20);
			if (k == 0)
				flags |= MAP_FIXED;
			else if (k == 1)
				flags = MAP_SHARED | MAP_ANONYMOUS;
			else if (k == 2)
				flags |= MAP_NORESERVE;
			else if (k == 3)
				flags |= MAP_POPULATE;
			bool f = map_both(A(p), n * PG - below(2) * 100,
					  prots[below(5)], flags,
					  (uint32_t)(1 + below(4)));
			f ? maps_fast++ : maps_slow++;
			snprintf(what, sizeof(what), "op %d mmap %llu+%llu", i,
				 (unsigned long long)p, (unsigned long long)n);
		} else if (op < 8) {
			/* Mostly a whole mapping, as programs unmap. */
			const struct shadow_vma *v = shadow_find_next(&fa, A(p));
			uint64_t s = A(p), len = n * PG;
			if (v && below(4)) {
				s = v->start;
				len = v->end - v->start;
			}
			bool f = unmap_both(s, len);
			f ? unmaps_fast++ : unmaps_slow++;
			snprintf(what, sizeof(what), "op %d munmap %#llx+%#llx", i,
				 (unsigned long long)s, (unsigned long long)len);
		} else {
			/* Often inside one VMA (its middle, an edge, all of
			 * it), as programs change protections. */
			struct shadow_change rec;
			int prot = prots[below(5)];
			const struct shadow_vma *v = shadow_find(&fa, A(p));
			uint64_t s = A(p), len = n * PG;
			if (v && below(4)) {
				uint64_t pages = (v->end - v->start) / PG;
				uint64_t a = below(pages);
				s = v->start + a * PG;
				len = (1 + below(pages - a)) * PG - below(2) * 100;
			}
			/* The kernel's answer is the general path's here. */
			int g = shadow_protect(&ga, s, len, prot, &rec);
			uint32_t splits = 0;
			int f = g == 0 ? shadow_protect_fast(&fa, s, len, prot,
							     &splits)
				       : 0;
			ck_assert_int_ge(f, 0);
			if (f) {
				ck_assert_uint_eq(splits, rec.vmas_split);
				protects_fast++;
			} else {
				ck_assert_int_eq(shadow_protect(&fa, s, len,
								prot, &rec),
						 g);
				protects_slow++;
			}
			snprintf(what, sizeof(what),
				 "op %d mprotect %#llx+%#llx %d (%s)", i,
				 (unsigned long long)s,
				 (unsigned long long)len, prot,
				 f ? "fast" : "general");
		}
		assert_same(what);
	}
	ck_assert_uint_gt(maps_fast, 200);
	ck_assert_uint_gt(maps_slow, 200);
	ck_assert_uint_gt(unmaps_fast, 200);
	ck_assert_uint_gt(unmaps_slow, 200);
	ck_assert_uint_gt(protects_fast, 200);
	ck_assert_uint_gt(protects_slow, 200);
	printf("test_shadow_fast: same %d: %u moves fast (%u of a VMA's "
	       "end), %u general\n", _i, moves_fast, pieces_fast, moves_slow);
	/* faults unseen, only VMAs moved before qualify */
	ck_assert_uint_gt(moves_fast, _i >= 3 ? 8 : 80);
	ck_assert_uint_gt(moves_slow, 100);
	ck_assert_uint_gt(grows_fast, 100);
	ck_assert_uint_gt(grows_slow, 200);
	ck_assert_uint_gt(fixed_fast, 300);
	ck_assert_uint_gt(fixed_slow, 100);
}
END_TEST

START_TEST(elided_pair_same_as_general)
{
	static const int prots[] = { RW, PROT_READ, PROT_NONE };
	unsigned elided = 0, declined = 0;
	char what[96];
	seed_run(_i, _i == 1);
	for (int i = 0; i < 6000; i++) {
		uint64_t p = below(96), n = 1 + below(6);
		int op = (int)below(3);
		if (op == 0) {
			map_both(A(p), n * PG, prots[below(3)], PRIV,
				 (uint32_t)(1 + below(4)));
		} else if (op == 1) {
			const struct shadow_vma *v = shadow_find_next(&fa, A(p));
			if (v)
				unmap_both(v->start, v->end - v->start);
		} else {
			/* Large ones too: they raise hiwater_vm. */
			uint64_t len = below(8) ? n * PG - below(2) * 100
						: (1 + below(4)) << 24;
			int prot = prots[below(3)];
			if (!shadow_map_anon_fast_flags(&fa, A(p), len, prot,
							PRIV, 0)) {
				declined++;
				continue;
			}
			shadow_map_unmap_elided(&fa, len);
			struct shadow_map_args m = {
				.addr = A(p), .len = len, .prot = prot,
				.flags = PRIV, .result = A(p), .stack_id = 7,
				.origin = SHADOW_ORIGIN_TRACKED,
			};
			struct shadow_change rec;
			ck_assert_int_eq(shadow_map(&ga, &m, &rec),
					 (int64_t)A(p));
			ck_assert_int_eq(shadow_unmap(&ga, A(p), len, &rec), 0);
			elided++;
		}
		snprintf(what, sizeof(what), "op %d (%d)", i, op);
		assert_same(what);
	}
	ck_assert_uint_gt(elided, 200);
	ck_assert_uint_gt(declined, 200);
}
END_TEST

/* The protection an mprotect to which restores v's bits. */
/* A range of v: its middle, an edge, or all of it (a length the kernel
 * rounds up half the time). */
static void pick_range(const struct shadow_vma *v, uint64_t *s, uint64_t *len)
{
	uint64_t pages = (v->end - v->start) / PG, a = below(pages);
	*s = v->start + a * PG;
	*len = (1 + below(pages - a)) * PG - below(2) * 100;
}

static int prot_of(const struct shadow_vma *v)
{
	return (v->flags & SV_READ ? PROT_READ : 0) |
	       (v->flags & SV_WRITE ? PROT_WRITE : 0) |
	       (v->flags & SV_EXEC ? PROT_EXEC : 0);
}

/* Apply m (ga's answer g) to fa through the general path. */
static void map_general(struct shadow *sh, const struct shadow_map_args *m,
			int64_t g)
{
	struct shadow_change rec;
	ck_assert_int_eq(shadow_map(sh, m, &rec), g);
}

START_TEST(fixed_pair_same_as_general)
{
	/* Reservations (PROT_NONE, NORESERVE or not), mappings, unmaps and
	 * page touches; then commits (MAP_FIXED, any prot) strictly inside,
	 * at the edge of or over a VMA, each planned on the fast shadow and
	 * followed by a decommit of its range (PROT_NONE, with or without
	 * NORESERVE: the reservation's flags or not), now and then under a
	 * VMA cap the pair would pass.  A pair the fast shadow cancels
	 * (shadow_fixed_pair_undo) must leave it as the general shadow is
	 * after both calls; a refused one is applied (the plan, then the
	 * decommit) and must too. */
	static const int prots[] = { RW, PROT_READ, PROT_NONE, RW };
	unsigned cancelled = 0, refused = 0, unplanned = 0, capped = 0;
	char what[128];
	seed_run(_i, _i >= 2);
	for (int i = 0; i < 6000; i++) {
		uint64_t p = below(96), n = 1 + below(6);
		int op = (int)below(10);
		if (op < 2) {
			map_both(A(p), (8 + below(24)) * PG, PROT_NONE,
				 below(3) ? PRIV | MAP_NORESERVE : PRIV,
				 (uint32_t)(1 + below(4)));
			assert_same("reservation");
			continue;
		}
		if (op == 2) {
			map_both(A(p), n * PG, prots[below(4)], PRIV,
				 (uint32_t)(1 + below(4)));
			assert_same("mapping");
			continue;
		}
		if (op == 3) {
			const struct shadow_vma *v = shadow_find_next(&fa, A(p));
			if (v && below(2))
				unmap_both(v->start, v->end - v->start);
			else if (v && (v->flags & SV_READ)) {
				bool w = below(2);
				uint64_t at = v->start;
				ck_assert_int_eq(shadow_touch(&fa, at, w),
						 shadow_touch(&ga, at, w));
			}
			assert_same("unmap or touch");
			continue;
		}
		const struct shadow_vma *v = shadow_find(&fa, A(p));
		uint64_t s, len;
		if (!v)
			continue;
		pick_range(v, &s, &len);
		int prot = prots[below(4)];
		int f1 = PRIV | MAP_FIXED | (below(4) ? 0 : MAP_NORESERVE);
		int f2 = PRIV | MAP_FIXED | (below(4) ? MAP_NORESERVE : 0);
		uint32_t st1 = (uint32_t)(1 + below(4)), st2 = 5;
		struct shadow_map_args m1 = {
			.addr = s, .len = len, .prot = prot, .flags = f1,
			.stack_id = st1, .origin = SHADOW_ORIGIN_TRACKED,
		};
		struct shadow_map_args m2 = m1;
		m2.prot = PROT_NONE, m2.flags = f2, m2.stack_id = st2;
		struct shadow_change rec;
		int64_t g1 = shadow_map(&ga, &m1, &rec);
		struct shadow_fixed_plan pl;
		if (g1 < 0 || !shadow_fixed_pair_plan(&fa, s, len, prot, f1, 0,
						      st1, &pl)) {
			map_general(&fa, &m1, g1);
			assert_same("unplanned commit");
			unplanned++;
			continue;
		}
		int64_t g2 = shadow_map(&ga, &m2, &rec);
		ck_assert_int_eq(g2, (int64_t)s);
		uint64_t cap = below(4) ? UINT64_MAX : fa.c.map_count + 1;
		bool u = shadow_fixed_pair_undo(&fa, &pl, len, PROT_NONE, f2,
						0, cap);
		if (!u && cap != UINT64_MAX &&
		    shadow_fixed_pair_undo(&fa, &pl, len, PROT_NONE, f2, 0,
					   UINT64_MAX)) {
			capped++;
			u = true;
		}
		snprintf(what, sizeof(what),
			 "op %d [%#llx, +%#llx) prot %d %#x then %#x (%s)", i,
			 (unsigned long long)s, (unsigned long long)len, prot,
			 f1, f2, u ? "cancelled" : "applied");
		if (u) {
			cancelled++;
		} else {
			refused++;
			ck_assert_msg(shadow_fixed_pair_apply(&fa, &pl), "%s",
				      what);
			if (!shadow_map_fixed_fast(&fa, s, len, PROT_NONE, f2, 0,
						   SHADOW_ORIGIN_TRACKED, st2))
				map_general(&fa, &m2, g2);
		}
		assert_same(what);
	}
	printf("test_shadow_fast: fixed pairs: %u cancelled (%u under a "
	       "cap first refused), %u applied, %u commits not planned\n",
	       cancelled, capped, refused, unplanned);
	ck_assert_uint_gt(cancelled, 200);
	ck_assert_uint_gt(refused, 100);
	ck_assert_uint_gt(capped, 20);
	ck_assert_uint_gt(unplanned, 100);
}
END_TEST

START_TEST(undo_pair_same_as_general)
{
	const int *prots = prots4;
	unsigned cancelled = 0, refused = 0, capped = 0, splitting = 0;
	char what[128];
	seed_run(_i, _i >= 2);
	for (int i = 0; i < 8000; i++) {
		uint64_t p = below(64), n = 1 + below(4);
		int op = (int)below(8);
		if (state_step(op, p, n, op < 3 ? prots[below(4)] : 0, 8))
			continue;
		const struct shadow_vma *v = shadow_find(&fa, A(p));
		uint64_t s, len;
		if (!v)
			continue;
		pick_range(v, &s, &len);
		int prot1 = prots[below(4)];
		int prot2 = below(5) ? prot_of(v) : prots[below(4)];
		struct shadow_protect_plan pl;
		struct shadow_change r1, r2;
		if (shadow_protect(&ga, s, len, prot1, &r1) != 0) {
			ck_assert_int_eq(shadow_protect(&fa, s, len, prot1, &r1),
					 -EACCES);
			continue;
		}
		if (!shadow_protect_fast_plan(&fa, s, len, prot1, &pl)) {
			ck_assert_int_eq(shadow_protect(&fa, s, len, prot1, &r1),
					 0);
			assert_same("declined plan");
			continue;
		}
		ck_assert_uint_eq(pl.splits, r1.vmas_split);
		int g2 = shadow_protect(&ga, s, len, prot2, &r2);
		uint32_t splits2 = 99;
		/* now and then a cap the pair's splits would pass */
		uint64_t cap = below(4) ? UINT64_MAX : fa.c.map_count;
		int u = g2 == 0 && pl.change &&
			shadow_protect_undo(&fa, &pl, prot2, cap, &splits2);
		/* refused for the cap alone, and nothing changed: the same
		 * pair without one is cancelled */
		if (!u && g2 == 0 && pl.change && cap != UINT64_MAX &&
		    shadow_protect_undo(&fa, &pl, prot2, UINT64_MAX,
					&splits2)) {
			capped++;
			u = 1;
		}
		snprintf(what, sizeof(what),
			 "op %d [%#llx, +%#llx) %d then %d (%s)", i,
			 (unsigned long long)s, (unsigned long long)len, prot1,
			 prot2, u ? "cancelled" : "applied");
		if (u) {
			ck_assert_uint_eq(splits2, r2.vmas_split);
			cancelled++;
			if (pl.splits)
				splitting++;
		} else {
			if (g2 == 0 && pl.change)
				refused++;
			ck_assert_int_eq(shadow_protect_fast_apply(&fa, &pl), 1);
			uint32_t sp = 0;
			int f = g2 == 0 ? shadow_protect_fast(&fa, s, len, prot2,
							      &sp)
					: 0;
			if (!f)
				ck_assert_int_eq(shadow_protect(&fa, s, len,
								prot2, &r2),
						 g2);
		}
		assert_same(what);
	}
	printf("test_shadow_fast: undo: %u cancelled (%u splitting), %u "
	       "refused, %u over the cap\n",
	       cancelled, splitting, refused, capped);
	ck_assert_uint_gt(cancelled, 300);
	ck_assert_uint_gt(splitting, 50);
	ck_assert_uint_gt(refused, 100);
	ck_assert_uint_gt(capped, 20);
}
END_TEST

START_TEST(grow_run_same_as_general)
{
	unsigned runs = 0, long_runs = 0, to_room = 0, declined = 0;
	char what[160];
	seed_run(_i, _i >= 2);
	for (int i = 0; i < 6000; i++) {
		uint64_t p = below(64), n = 1 + below(4);
		int op = (int)below(8);
		if (state_step(op, p, n,
			       op >= 3 || below(3) ? RW : prots4[below(4)], 6))
			continue;
		const struct shadow_vma *v = shadow_find(&fa, A(p));
		if (!v)
			continue;
		struct shadow_remap_args ra = growth_of(v, 0, 0);
		uint64_t s = ra.old_addr, len = ra.old_len, nl = ra.new_len;
		int flags = ra.flags;
		struct shadow_change rec;
		int64_t g = shadow_remap(&ga, &ra, &rec);
		struct shadow_grow_plan pl;
		if (g != (int64_t)s ||
		    !shadow_remap_grow_plan(&fa, s, len, nl, flags, &pl)) {
			if (g == (int64_t)s)
				declined++;
			ra.result = g >= 0 ? (uint64_t)g : 0;
			ck_assert_int_eq(shadow_remap(&fa, &ra, &rec), g);
			assert_same("not held");
			continue;
		}
		ck_assert_uint_ge(pl.room, pl.new_end);
		ck_assert_uint_eq(pl.new_end, s + ((nl + PG - 1) & ~(PG - 1)));
		unsigned k = 1;
		/* More growths, each in place by the room's promise. */
		while (pl.room > pl.new_end && below(5)) {
			uint64_t old = pl.new_end - s;
			uint64_t grown = old + (1 + below(6)) * PG;
			if (grown > pl.room - s || !below(4))
				grown = pl.room - s;
			uint64_t ask = grown - below(2) * 100;
			struct shadow_remap_args rb = {
				.old_addr = s, .old_len = old - below(2) * 100,
				.new_len = ask, .flags = below(3) ? flags : 0,
				.stack_id = 7,
			};
			snprintf(what, sizeof(what),
				 "op %d growth %u of [%#llx, +%#llx) to +%#llx "
				 "(room %#llx)", i, k, (unsigned long long)s,
				 (unsigned long long)old,
				 (unsigned long long)ask,
				 (unsigned long long)pl.room);
			ck_assert_msg(shadow_remap(&ga, &rb, &rec) ==
					      (int64_t)s,
				      "%s: not in place", what);
			pl.new_end = s + grown;
			pl.growths++;
			if (pl.new_end == pl.room)
				to_room++;
			k++;
		}
		ck_assert_int_eq(shadow_remap_grow_apply(&fa, &pl), 1);
		snprintf(what, sizeof(what), "op %d: %u growths of %#llx held",
			 i, k, (unsigned long long)s);
		assert_same(what);
		runs++;
		if (k >= 3)
			long_runs++;
		/* Applied: the plan is stale now. */
		ck_assert_int_eq(shadow_remap_grow_apply(&fa, &pl), 0);
	}
	printf("test_shadow_fast: grow runs: %u held (%u of 3 or more, %u "
	       "to the room), %u declined\n",
	       runs, long_runs, to_room, declined);
	ck_assert_uint_gt(runs, 300);
	ck_assert_uint_gt(long_runs, 40);
	ck_assert_uint_gt(to_room, 50);
	ck_assert_uint_gt(declined, 20);
}
END_TEST

/* A reserve/commit allocator's calls: each MAP_FIXED one applied by
 * shadow_map_fixed_fast on one shadow, by shadow_map on the other. */
START_TEST(fixed_commit_decommit)
{
#define nr (PRIV | MAP_NORESERVE)
	fa.faults_unseen = ga.faults_unseen = _i;
	/*  R: 16 reserved pages, then 4 RW pages C (another call) after
	 *  a hole */
	ck_assert(map_both(A(0), 16 * PG, PROT_NONE, nr, 1));
	ck_assert(map_both(A(20), 4 * PG, RW, PRIV, 1));
	/* commit in the middle: R splits in three */
	ck_assert(map_both(A(4), 3 * PG, RW, PRIV | MAP_FIXED, 2));
	assert_same("commit 4-6");
	ck_assert_uint_eq(fa.c.map_count, 4);
	/* next to it, with the same flags: merges with it, not R */
	ck_assert(map_both(A(7), 2 * PG, RW, PRIV | MAP_FIXED, 3));
	assert_same("commit 7-8");
	ck_assert_uint_eq(fa.c.map_count, 4);
	/* at R's first page: R's rest keeps its pgoff */
	ck_assert(map_both(A(0), PG, PROT_READ, PRIV | MAP_FIXED, 2));
	assert_same("commit 0");
	/* decommit part of the committed run: merges with R after it */
	ck_assert(map_both(A(7), 2 * PG, PROT_NONE, nr | MAP_FIXED, 4));
	assert_same("decommit 7-8");
	/* the rest of it: R is one VMA again but for page 0 */
	ck_assert(map_both(A(4), 3 * PG, PROT_NONE, nr | MAP_FIXED, 4));
	assert_same("decommit 4-6");
	ck_assert_uint_eq(fa.c.map_count, 3);
	/* page 0 back: R whole, as at first */
	ck_assert(map_both(A(0), PG, PROT_NONE, nr | MAP_FIXED, 4));
	assert_same("decommit 0");
	ck_assert_uint_eq(fa.c.map_count, 2);
	/* the RW mapping C, whole, made PROT_NONE in place (no merge) */
	ck_assert(map_both(A(20), 4 * PG, PROT_NONE, PRIV | MAP_FIXED, 5));
	assert_same("C replaced whole");
	/* over R with R's flags: merges with R's own pieces */
	ck_assert(map_both(A(2), 4 * PG, PROT_NONE, nr | MAP_FIXED, 6));
	assert_same("R over R");
	ck_assert_uint_eq(fa.c.map_count, 2);
	/* the shapes it declines change nothing */
	uint64_t serial = fa.serial, count = fa.c.map_count;
	static const struct {
		uint64_t at, pages;
		int prot, flags;
	} no[] = {
		{ 14, 8, RW, PRIV | MAP_FIXED },      /* R, the hole, C */
		{ 16, 2, RW, PRIV | MAP_FIXED },      /* a hole */
		{ 2, 2, RW, PRIV | MAP_FIXED_NOREPLACE },
		{ 2, 2, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED },
		{ 2, 2, RW, PRIV | MAP_FIXED | MAP_POPULATE },
		{ 2, 2, RW, PRIV | MAP_FIXED | MAP_LOCKED },
		{ 2, 2, RW, PRIV }, /* not fixed */
	};
	for (unsigned k = 0; k < sizeof(no) / sizeof(no[0]); k++)
		ck_assert_msg(!shadow_map_fixed_fast(&fa, A(no[k].at),
						     no[k].pages * PG,
						     no[k].prot, no[k].flags,
						     0, SHADOW_ORIGIN_TRACKED,
						     1),
			      "shape %u applied", k);
	ck_assert(!shadow_map_fixed_fast(&fa, A(2), PG, RW, PRIV | MAP_FIXED,
					 100, SHADOW_ORIGIN_TRACKED, 1));
	ck_assert_uint_eq(fa.serial, serial);
	ck_assert_uint_eq(fa.c.map_count, count);
	assert_same("declined");
#undef nr
}
END_TEST

START_TEST(declines_other_shapes)
{
	struct shadow_change rec;
	struct shadow_vma *v = NULL;
	/*  0   4   8   12
	 *  AAAA....BBBB        A RW, B RO
	 */
	ck_assert(map_both(A(0), 4 * PG, RW, PRIV, 1));
	ck_assert(map_both(A(8), 4 * PG, PROT_READ, PRIV, 1));
	uint64_t serial = fa.serial, count = fa.c.map_count;
	/* touching A with A's flags: it could merge */
	ck_assert(!shadow_map_anon_fast(&fa, A(4), PG, RW, PRIV, 0,
					SHADOW_ORIGIN_TRACKED, 1));
	/* touching B with B's flags */
	ck_assert(!shadow_map_anon_fast(&fa, A(7), PG, PROT_READ, PRIV, 0,
					SHADOW_ORIGIN_TRACKED, 1));
	/* over A */
	ck_assert(!shadow_map_anon_fast(&fa, A(2), 4 * PG, PROT_NONE, PRIV, 0,
					SHADOW_ORIGIN_TRACKED, 1));
	/* shared, locked, populated, growsdown, unaligned offset */
	static const int bad[] = { MAP_SHARED | MAP_ANONYMOUS, PRIV | MAP_LOCKED,
				   PRIV | MAP_POPULATE, PRIV | MAP_GROWSDOWN,
				   PRIV | MAP_FIXED, MAP_PRIVATE };
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		ck_assert(!shadow_map_anon_fast(&fa, A(5), PG, PROT_NONE,
						bad[k], 0,
						SHADOW_ORIGIN_TRACKED, 1));
	ck_assert(!shadow_map_anon_fast(&fa, A(5), PG, PROT_NONE, PRIV, 100,
					SHADOW_ORIGIN_TRACKED, 1));
	/* part of A, A and a hole, A and B */
	ck_assert(!shadow_whole_mapping(&fa, A(0), 2 * PG, &v));
	ck_assert(!shadow_whole_mapping(&fa, A(1), 3 * PG, &v));
	ck_assert(!shadow_whole_mapping(&fa, A(0), 5 * PG, &v));
	ck_assert(!shadow_whole_mapping(&fa, A(0), 12 * PG, &v));
	ck_assert(!shadow_whole_mapping(&fa, A(0) + 1, 4 * PG, &v));
	ck_assert(!shadow_whole_mapping(&fa, A(0), 0, &v));
	ck_assert_uint_eq(fa.serial, serial);
	ck_assert_uint_eq(fa.c.map_count, count);
	/* a neighbour with other flags: placed by the fast path */
	ck_assert(map_both(A(5), 2 * PG, PROT_NONE, PRIV, 2));
	assert_same("PROT_NONE between");
	/* A with two regions (a fixed map over its top): not one mapping */
	map_both(A(2), 2 * PG, RW, PRIV | MAP_FIXED, 3);
	assert_same("fixed over A's top");
	ck_assert(!shadow_whole_mapping(&fa, A(0), 4 * PG, &v));
	/* a guard range in B (MADV_GUARD_INSTALL): not a plain munmap */
	ck_assert_int_eq(shadow_advise(&fa, A(8), PG, MADV_GUARD_INSTALL,
				       &rec), 0);
	ck_assert(!shadow_whole_mapping(&fa, A(8), 4 * PG, &v));
	/* the PROT_NONE one is whole: the length rounds up to it */
	ck_assert(shadow_whole_mapping(&fa, A(5), 2 * PG - 1, &v));
	ck_assert_uint_eq(v->start, A(5));
}
END_TEST

/* An mremap both shadows take the general way, the kernel's result given. */
/* A read-write anonymous VMA found in the kernel, in both shadows: whether
 * it has an anon_vma is unknown (merges with it are uncertain). */
static void absorb_unknown(uint64_t start, uint64_t end)
{
	struct shadow_vma_desc d = { .start = start, .end = end,
				     .flags = SV_READ | SV_WRITE,
				     .anon_id = SHADOW_ANON_UNKNOWN,
				     .name = SHADOW_NAME_ANON };
	ck_assert_int_eq(shadow_absorb(&fa, &d, SHADOW_ORIGIN_FOREIGN, 0), 0);
	ck_assert_int_eq(shadow_absorb(&ga, &d, SHADOW_ORIGIN_FOREIGN, 0), 0);
}

/* The moves shadow_remap_move_fast must leave to the general path change
 * nothing: a growth the shadow would make in place (the kernel moving it
 * is news), other flags, no growth, part of a VMA, a destination with
 * pages, a copy that merges with its own source, a merge the shadow
 * cannot be sure of; the moves it takes leave both shadows alike (a VMA
 * whose new pgoff depends on pagemap, faults unseen and never moved,
 * among them, written and not). */
START_TEST(move_declines)
{
	uint32_t of = 0;
	const int mm = MREMAP_MAYMOVE;
	/*  0    4        10      20
	 *  AAAAB         .....   CC       A, C RW; B RO */
	ck_assert(map_both(A(0), 4 * PG, RW, PRIV, 1));
	ck_assert(map_both(A(20), 2 * PG, RW, PRIV, 2));
	uint64_t serial = fa.serial;
	ck_assert(!shadow_remap_move_fast(&fa, A(0), 4 * PG, 5 * PG, mm,
					  A(10), false, &of));
	ck_assert(map_both(A(4), PG, PROT_READ, PRIV, 3));
	serial = fa.serial;
	static const int flags[] = { 0, MREMAP_MAYMOVE | MREMAP_FIXED,
				     MREMAP_MAYMOVE | 4 /* DONTUNMAP */ };
	for (unsigned k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
		ck_assert(!shadow_remap_move_fast(&fa, A(0), 4 * PG, 5 * PG,
						  flags[k], A(10), false, &of));
	ck_assert(!shadow_remap_move_fast(&fa, A(0), 4 * PG, 4 * PG, mm,
					  A(10), false, &of));
	ck_assert(!shadow_remap_move_fast(&fa, A(0), 4 * PG, 3 * PG, mm,
					  A(10), false, &of));
	ck_assert(!shadow_remap_move_fast(&fa, A(1), 3 * PG, 5 * PG, mm,
					  A(10), false, &of));
	ck_assert(!shadow_remap_move_fast(&fa, A(0), 4 * PG, 5 * PG, mm,
					  A(18), false, &of));
	/* just below itself, unfaulted: the copy's pgoff runs into A's */
	ck_assert(!shadow_remap_move_fast(&fa, A(0), 4 * PG, 5 * PG, mm,
					  A(0) - 5 * PG, false, &of));
	ck_assert_uint_eq(fa.serial, serial);
	assert_same("declined moves");
	/* into free space: taken, with A's creator */
	ck_assert(shadow_remap_move_fast(&fa, A(0), 4 * PG, 5 * PG, mm, A(10),
					 false, &of));
	ck_assert_uint_eq(of, 1);
	struct shadow_change rec;
	struct shadow_remap_args ra = {
		.old_addr = A(0), .old_len = 4 * PG, .new_len = 5 * PG,
		.flags = mm, .result = A(10), .stack_id = 7,
	};
	ck_assert_int_eq(shadow_remap(&ga, &ra, &rec), (int64_t)A(10));
	assert_same("moved to A(10)");

	/* Faults unseen: D never moved, G moved once, F beside it (seen in
	 * the kernel: whether it has an anon_vma, unknown).
	 *  40  43      50   54       60
	 *  DD  E       GGG  H   ..   FF      D, F, G RW; E, H RO */
	fa.faults_unseen = ga.faults_unseen = true;
	ck_assert(map_both(A(40), 2 * PG, RW, PRIV, 4));
	ck_assert(map_both(A(42), PG, PROT_READ, PRIV, 4));
	absorb_unknown(A(60), A(62));
	/* D, never moved: its new pgoff is pagemap's answer (src_written).
	 * Not asked yet: ask, nothing changed.  Not written here: it takes
	 * the new address, a guess. */
	serial = fa.serial;
	ck_assert_int_eq(shadow_remap_move_fast(&fa, A(40), 2 * PG, 3 * PG,
						mm, A(50), -1, &of),
			 SHADOW_MOVE_ASK);
	ck_assert_uint_eq(fa.serial, serial);
	assert_same("D's move asks pagemap");
	ck_assert_int_eq(shadow_remap_move_fast(&fa, A(40), 2 * PG, 3 * PG,
						mm, A(50), false, &of),
			 1);
	ck_assert_uint_eq(of, 4);
	ra = (struct shadow_remap_args){
		.old_addr = A(40), .old_len = 2 * PG, .new_len = 3 * PG,
		.flags = mm, .result = A(50), .stack_id = 7,
	};
	ck_assert_int_eq(shadow_remap(&ga, &ra, &rec), (int64_t)A(50));
	assert_same("D moved unwritten to A(50)");
	ck_assert_uint_eq(shadow_find(&fa, A(50))->anon_id,
			  SHADOW_ANON_MAYBE_MOVED);
	ck_assert_uint_eq(shadow_find(&fa, A(50))->pgoff, A(50) / PG);
	/* W, never moved, written: it keeps its pgoff and has an anon_vma
	 * from now on (SOME).
	 *  100  102       110
	 *  WW   X         ...       W RW, X RO */
	ck_assert(map_both(A(100), 2 * PG, RW, PRIV, 5));
	ck_assert(map_both(A(102), PG, PROT_READ, PRIV, 5));
	ck_assert(shadow_remap_move_fast(&fa, A(100), 2 * PG, 3 * PG, mm,
					 A(110), true, &of));
	ck_assert_uint_eq(of, 5);
	ra = (struct shadow_remap_args){
		.old_addr = A(100), .old_len = 2 * PG, .new_len = 3 * PG,
		.flags = mm, .result = A(110), .stack_id = 7,
		.src_written = true,
	};
	ck_assert_int_eq(shadow_remap(&ga, &ra, &rec), (int64_t)A(110));
	assert_same("W moved written to A(110)");
	ck_assert_uint_eq(shadow_find(&fa, A(110))->anon_id,
			  SHADOW_ANON_SOME);
	ck_assert_uint_eq(shadow_find(&fa, A(110))->pgoff, A(100) / PG);
	ck_assert(map_both(A(53), PG, PROT_READ, PRIV, 4));
	serial = fa.serial;
	/* next to F: whether they merge, the shadow cannot tell */
	ck_assert(!shadow_remap_move_fast(&fa, A(50), 3 * PG, 4 * PG, mm,
					  A(56), false, &of));
	ck_assert_uint_eq(fa.serial, serial);
	ck_assert(shadow_remap_move_fast(&fa, A(50), 3 * PG, 4 * PG, mm,
					 A(70), false, &of));
	ck_assert_uint_eq(of, 4); /* D's creator */
	ra = (struct shadow_remap_args){
		.old_addr = A(50), .old_len = 3 * PG, .new_len = 4 * PG,
		.flags = mm, .result = A(70), .stack_id = 7,
	};
	ck_assert_int_eq(shadow_remap(&ga, &ra, &rec), (int64_t)A(70));
	assert_same("moved again to A(70)");
	/* Grown in place up to a VMA (shadow_remap_grow_fast): one whose
	 * anon_vma is unknown may merge; one with other flags cannot.
	 *  70     76 77 78  80
	 *  GGGG   K     L           K RW, L RO */
	absorb_unknown(A(76), A(77));
	serial = fa.serial;
	ck_assert(!shadow_remap_grow_fast(&fa, A(70), 4 * PG, 6 * PG, mm));
	ck_assert_uint_eq(fa.serial, serial);
	ck_assert(map_both(A(80), 2 * PG, PROT_READ, PRIV, 6));
	ck_assert(unmap_both(A(76), PG));
	ck_assert(shadow_remap_grow_fast(&fa, A(70), 4 * PG, 10 * PG, mm));
	ra = (struct shadow_remap_args){
		.old_addr = A(70), .old_len = 4 * PG, .new_len = 10 * PG,
		.flags = mm, .result = A(70), .stack_id = 7,
	};
	ck_assert_int_eq(shadow_remap(&ga, &ra, &rec), (int64_t)A(70));
	assert_same("grown up to L");
}
END_TEST

/* A move shadow_remap_move_fast must take, with the creator of the
 * moved region, and that shadow_remap makes alike on the other shadow. */
static void move_both(uint64_t s, uint64_t len, uint64_t nl, uint64_t to,
		      int written, uint32_t want_of, const char *what)
{
	uint32_t of = 0;
	ck_assert_msg(shadow_remap_move_fast(&fa, s, len, nl, MREMAP_MAYMOVE,
					     to, written, &of) == 1,
		      "%s: declined", what);
	ck_assert_uint_eq(of, want_of);
	struct shadow_change rec;
	struct shadow_remap_args ra = {
		.old_addr = s, .old_len = len, .new_len = nl,
		.flags = MREMAP_MAYMOVE, .result = to, .stack_id = 7,
		.src_written = written > 0,
	};
	ck_assert_int_eq(shadow_remap(&ga, &ra, &rec), (int64_t)to);
	assert_same(what);
}

/* The old range at one end of its VMA, a region of its own (two mmaps
 * merged): the fast path splits it off and moves it.  Its middle, or a
 * VMA merged on a guess, is the general path's.  Faults unseen, a
 * written piece makes the rest SOME, as the general path does. */
START_TEST(move_pieces)
{
	uint32_t of = 0;
	const int mm = MREMAP_MAYMOVE;
	/*  0    4   10       20     24  30
	 *  aabb     ...      ccdd   E   ...     a-d RW (two per VMA), E RO */
	(void)map_both(A(0), 2 * PG, RW, PRIV, 1);
	(void)map_both(A(2), 2 * PG, RW, PRIV, 2);
	ck_assert_uint_eq(fa.c.map_count, 1);
	move_both(A(0), 2 * PG, 3 * PG, A(10), 0, 1, "head moved to A(10)");
	ck_assert_ptr_eq(shadow_find(&fa, A(1)), NULL);
	ck_assert_uint_eq(shadow_find(&fa, A(2))->start, A(2));
	(void)map_both(A(20), 2 * PG, RW, PRIV, 3);
	(void)map_both(A(22), 2 * PG, RW, PRIV, 4);
	/* a tail with room after it grows in place: not a move */
	ck_assert(!shadow_remap_move_fast(&fa, A(22), 2 * PG, 3 * PG, mm,
					  A(30), 0, &of));
	(void)map_both(A(24), PG, PROT_READ, PRIV, 5);
	move_both(A(22), 2 * PG, 3 * PG, A(30), 0, 4, "tail moved to A(30)");
	ck_assert_uint_eq(shadow_find(&fa, A(20))->end, A(22));
	/* the middle of a VMA: two splits, the general path's
	 *  40
	 *  fgh          one VMA of three regions */
	for (int i = 0; i < 3; i++)
		(void)map_both(A(40 + i), PG, RW, PRIV, 6);
	uint64_t serial = fa.serial;
	ck_assert(!shadow_remap_move_fast(&fa, A(41), PG, 2 * PG, mm, A(50),
					  0, &of));
	ck_assert_uint_eq(fa.serial, serial);
	assert_same("middle declined");

	/* Faults unseen.
	 *  60 62      70 72
	 *  ijjM       kll       i-l RW, one VMA each pair; M RO */
	fa.faults_unseen = ga.faults_unseen = true;
	(void)map_both(A(60), PG, RW, PRIV, 7);
	(void)map_both(A(61), 2 * PG, RW, PRIV, 8);
	ck_assert_uint_eq(shadow_find(&fa, A(60))->anon_id, SHADOW_ANON_MAYBE);
	serial = fa.serial;
	ck_assert_int_eq(shadow_remap_move_fast(&fa, A(60), PG, 2 * PG, mm,
						A(80), -1, &of),
			 SHADOW_MOVE_ASK);
	ck_assert_uint_eq(fa.serial, serial);
	move_both(A(60), PG, 2 * PG, A(80), 1, 7, "written head moved");
	ck_assert_uint_eq(shadow_find(&fa, A(80))->anon_id, SHADOW_ANON_SOME);
	ck_assert_uint_eq(shadow_find(&fa, A(80))->pgoff, A(60) / PG);
	ck_assert_uint_eq(shadow_find(&fa, A(61))->anon_id, SHADOW_ANON_SOME);
	/* the rest, SOME: no question, its pgoff kept (M in the way) */
	(void)map_both(A(63), PG, PROT_READ, PRIV, 11);
	move_both(A(61), 2 * PG, 3 * PG, A(90), -1, 8, "the rest moved");
	ck_assert_uint_eq(shadow_find(&fa, A(90))->pgoff, A(61) / PG);
	/* a written tail: its own pgoff, not the VMA's first
	 *  110 113
	 *  noo P            n, o RW, one VMA; P RO */
	(void)map_both(A(110), PG, RW, PRIV, 12);
	(void)map_both(A(111), 2 * PG, RW, PRIV, 13);
	(void)map_both(A(113), PG, PROT_READ, PRIV, 14);
	move_both(A(111), 2 * PG, 3 * PG, A(120), 1, 13, "written tail moved");
	ck_assert_uint_eq(shadow_find(&fa, A(120))->pgoff, A(111) / PG);
	ck_assert_uint_eq(shadow_find(&fa, A(110))->anon_id, SHADOW_ANON_SOME);
	/* merged on a guess (split and merged back with both maybe):
	 * perhaps two VMAs in the kernel, the general path's */
	(void)map_both(A(70), PG, RW, PRIV, 9);
	(void)map_both(A(71), 2 * PG, RW, PRIV, 10);
	struct shadow_change rec;
	for (int k = 0; k < 2; k++) {
		int prot = k ? RW : PROT_READ;
		ck_assert_int_eq(shadow_protect(&fa, A(71), PG, prot, &rec), 0);
		ck_assert_int_eq(shadow_protect(&ga, A(71), PG, prot, &rec), 0);
	}
	ck_assert(shadow_find(&fa, A(70))->flags & SV_EDGES_UNSURE);
	serial = fa.serial;
	ck_assert(!shadow_remap_move_fast(&fa, A(70), PG, 2 * PG, mm, A(100),
					  1, &of));
	ck_assert_uint_eq(fa.serial, serial);
	assert_same("unsure declined");
}
END_TEST

static Suite *fast_suite(void)
{
	Suite *s = suite_create("shadow_fast");
	TCase *tc = tcase_create("same");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, same_as_general, 0, 6);
	tcase_add_loop_test(tc, elided_pair_same_as_general, 0, 2);
	tcase_add_loop_test(tc, undo_pair_same_as_general, 0, 4);
	tcase_add_loop_test(tc, fixed_pair_same_as_general, 0, 4);
	tcase_add_loop_test(tc, grow_run_same_as_general, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("shapes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, declines_other_shapes);
	tcase_add_test(tc, move_declines);
	tcase_add_test(tc, move_pieces);
	tcase_add_loop_test(tc, fixed_commit_decommit, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fast_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
