/*
 * test_shadow_tree.c - the shadow as a data structure, without the kernel
 * (but for one counters test that checks the mm counters against
 * /proc/self/status):
 *
 *  lookup:    shadow_find / find_next / vma_first / next / prev against a
 *             sorted array on random trees of thousands of VMAs; lookups
 *             into one hole again and again (the hole cache) with the
 *             shadow changed around it in between;
 *  gap:       shadow_find_free() (the gap augmentation) against a brute-force
 *             scan, bottom-up and top-down, on random trees, after random
 *             maps and unmaps, and with gaps too large for the saturating
 *             page counts;
 *  validate:  shadow_validate() catches each kind of deliberate corruption
 *             and accepts the tree again once it is repaired;
 *  enomem:    every operation with its k-th allocation failing returns
 *             -ENOMEM (or -EAGAIN for madvise) or succeeds, leaves a valid
 *             shadow, and leaks nothing;
 *  counters:  total_vm, data_vm, exec_vm, stack_vm, locked_vm, map_count,
 *             hiwater and peak as the kernel keeps them;
 *  regions:   one per call, split by partial unmaps, carried by moves,
 *             never merged across calls; shadow_absorb() and -EEXIST.
 */
#include <check.h>
#include <stdlib.h>

#include "harness.h"
#include "shadow_internal.h"

#define PG 4096ull
#define RW (PROT_READ | PROT_WRITE)
/* A base far from everything; the shadow is pure, so any address works. */
#define BASE 0x100000000ull
#define A(p) (BASE + (uint64_t)(p) * PG)

static struct shadow sh;
static struct test_alloc ta;

static void setup(void)
{
	test_shadow_init(&sh, &ta);
}

static void teardown(void)
{
	shadow_destroy(&sh);
	ck_assert_uint_eq(ta.live_objects, 0);
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	/* xorshift64* */
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}
static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

static void expect_valid(int line)
{
	const char *why = NULL;
	ck_assert_msg(shadow_validate(&sh, &why) == 0, "line %d: %s", line,
		      why ? why : "?");
}
#define VALID() expect_valid(__LINE__)

/* Pure-shadow operations (the shadow chooses nothing: all FIXED). */
static int64_t map(uint64_t page, uint64_t npages, int prot, int flags)
{
	struct shadow_map_args a = {
		.addr = A(page), .len = npages * PG, .prot = prot,
		.flags = flags | MAP_FIXED | MAP_ANONYMOUS,
		.origin = SHADOW_ORIGIN_TRACKED, .stack_id = 7,
	};
	if (!(flags & (MAP_SHARED | MAP_PRIVATE)))
		a.flags |= MAP_PRIVATE;
	return shadow_map(&sh, &a, NULL);
}

static int absorb(uint64_t start, uint64_t end, uint32_t flags,
		  uint8_t origin)
{
	struct shadow_vma_desc d = { .start = start, .end = end,
				     .flags = flags };
	return shadow_absorb(&sh, &d, origin, 0);
}

/* ---- reference arrays ---------------------------------------------------- */

#define MAXV 8192
static uint64_t rs[MAXV], re[MAXV];
static size_t rn;

/* A random tree of n VMAs (absorbed: no merging), gaps 0..64 pages with
 * now and then a big one, lengths 1..16 pages.  Fills rs/re. */
static void random_tree(size_t n, uint64_t seed)
{
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	uint64_t a = BASE;
	rn = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t gap = rnd_below(8) == 0 ? rnd_below(10000)
						 : rnd_below(65);
		if (i && rnd_below(4) == 0)
			gap = 0; /* adjacent */
		a += gap * PG;
		uint64_t len = (1 + rnd_below(16)) * PG;
		ck_assert_int_eq(absorb(a, a + len, SV_READ,
					SHADOW_ORIGIN_FOREIGN), 0);
		rs[rn] = a;
		re[rn] = a + len;
		rn++;
		a += len;
	}
	VALID();
}

/* Reload rs/re from the shadow's ordered walk (after ops that merge). */
static void reload(void)
{
	rn = 0;
	for (struct shadow_vma *v = shadow_vma_first(&sh); v;
	     v = shadow_vma_next(v)) {
		ck_assert_uint_lt(rn, MAXV);
		rs[rn] = v->start;
		re[rn] = v->end;
		rn++;
	}
}

static uint64_t brute_free(uint64_t len, uint64_t low, uint64_t high,
			   bool topdown)
{
	if (!len || high <= low || high - low < len)
		return 0;
	for (size_t k = 0; k <= rn; k++) {
		size_t i = topdown ? rn - k : k;
		uint64_t gs = i ? re[i - 1] : 0;
		uint64_t ge = i < rn ? rs[i] : UINT64_MAX;
		if (gs < low)
			gs = low;
		if (ge > high)
			ge = high;
		if (ge > gs && ge - gs >= len)
			return topdown ? ge - len : gs;
	}
	return 0;
}

/* ---- lookup -------------------------------------------------------------- */

START_TEST(lookup_random)
{
	/* Thousands of VMAs: find, find_next, and the walks both ways agree
	 * with the sorted array. */
	random_tree(3000 + (size_t)_i * 1000, (uint64_t)_i + 1);
	size_t k = 0;
	for (struct shadow_vma *v = shadow_vma_first(&sh); v;
	     v = shadow_vma_next(v), k++) {
		ck_assert_uint_eq(v->start, rs[k]);
		ck_assert_uint_eq(v->end, re[k]);
	}
	ck_assert_uint_eq(k, rn);
	ck_assert_uint_eq(sh.c.map_count, rn);
	struct shadow_vma *v = shadow_find(&sh, re[rn - 1] - 1);
	for (k = rn; v; v = shadow_vma_prev(v))
		ck_assert_uint_eq(v->start, rs[--k]);
	ck_assert_uint_eq(k, 0);
	uint64_t top = re[rn - 1] + 64 * PG;
	for (int q = 0; q < 20000; q++) {
		uint64_t addr = BASE - 8 * PG + rnd_below(top - BASE + 8 * PG);
		if (q & 1)
			addr &= ~(PG - 1);
		/* brute force: first with end > addr */
		size_t lo = 0, hi = rn;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (re[mid] > addr)
				hi = mid;
			else
				lo = mid + 1;
		}
		struct shadow_vma *n = shadow_find_next(&sh, addr);
		struct shadow_vma *f = shadow_find(&sh, addr);
		if (lo == rn) {
			ck_assert_ptr_null(n);
			ck_assert_ptr_null(f);
			continue;
		}
		ck_assert_ptr_nonnull(n);
		ck_assert_uint_eq(n->start, rs[lo]);
		if (rs[lo] <= addr)
			ck_assert_ptr_eq(f, n);
		else
			ck_assert_ptr_null(f);
	}
}
END_TEST

/* The hole cache (shadow.hcache): lookups in one hole, again and again,
 * with the shadow changed around it in between (a mapping into the hole
 * before or after the address, one over it, one filling the hole from
 * after the address to the next VMA, the next VMA unmapped) find what the
 * ordered walk finds. */
START_TEST(lookup_hole_cache)
{
	random_tree(600, (uint64_t)_i + 11);
	uint64_t top = re[rn - 1] + 64 * PG;
	unsigned in_hole = 0, changed = 0;
	for (int q = 0; q < 4000; q++) {
		uint64_t addr = BASE + rnd_below(top - BASE);
		addr &= ~(PG - 1);
		for (int round = 0; round < 4; round++) {
			/* brute force: the first VMA with end > addr */
			struct shadow_vma *want = shadow_vma_first(&sh);
			while (want && want->end <= addr)
				want = shadow_vma_next(want);
			ck_assert_ptr_eq(shadow_find_next(&sh, addr), want);
			ck_assert_ptr_eq(shadow_find_next(&sh, addr), want);
			if (!want || want->start <= addr)
				break;
			in_hole++;
			struct shadow_vma *prev = shadow_vma_prev(want);
			uint64_t lo = prev ? prev->end : BASE, hi = want->start;
			uint64_t pa = (addr - BASE) / PG;
			switch (rnd_below(5)) {
			case 0: /* between the address and the next VMA */
				if (hi - addr > PG)
					ck_assert_int_ge(
						map(pa + 1, 1, PROT_READ, 0), 0);
				break;
			case 1: /* between the previous VMA and the address */
				if (addr - lo >= PG)
					ck_assert_int_ge(
						map(pa - 1, 1, PROT_READ, 0), 0);
				break;
			case 2: /* over it */
				ck_assert_int_ge(map(pa, 1, PROT_READ, 0), 0);
				break;
			case 3: /* the next VMA goes */
				ck_assert_int_eq(shadow_unmap(&sh, want->start,
							      want->end -
								      want->start,
							      NULL),
						 0);
				break;
			default: /* from after the address up to the next */
				if (hi - addr > PG)
					ck_assert_int_ge(
						map(pa + 1, (hi - addr) / PG - 1,
						    PROT_READ, 0),
						0);
				break;
			}
			changed++;
			VALID();
		}
	}
	ck_assert_uint_gt(in_hole, 1000);
	ck_assert_uint_gt(changed, 1000);
}
END_TEST

/* The index answers "does one VMA (one region of the program's or the
 * tool's) start here and reach there?" from its slots alone: never yes
 * when the tree says no, through maps, splits, merges and unmaps over a
 * random tree of foreign VMAs, and yes for nearly every start the tree
 * says yes for (a full bucket evicts, then the caller walks the tree). */
START_TEST(span_from_index)
{
	random_tree(600, (uint64_t)_i + 5);
	uint64_t pages = (re[rn - 1] - BASE) / PG;
	unsigned vma_true = 0, vma_yes = 0, reg_true = 0, reg_yes = 0;
	for (int round = 0; round < 200; round++) {
		uint64_t p = rnd_below(pages), n = 1 + rnd_below(32);
		switch (rnd_below(3)) {
		case 0:
			ck_assert_int_ge(map(p, n, rnd_below(2) ? RW : PROT_READ,
					     0),
					 0);
			break;
		case 1: /* may fail on a hole: the part before it changes */
			shadow_protect(&sh, A(p), n * PG, PROT_READ, NULL);
			break;
		default:
			ck_assert_int_eq(shadow_unmap(&sh, A(p), n * PG, NULL),
					 0);
			break;
		}
		VALID();
		for (struct shadow_vma *v = shadow_vma_first(&sh); v;
		     v = shadow_vma_next(v)) {
			const struct shadow_region *r =
				shadow_region_find(&sh, v->start);
			uint64_t ends[3] = { v->start + PG, v->end, v->end + PG };
			for (int k = 0; k < 3; k++) {
				uint64_t e = ends[k];
				bool one = shadow_span_one_vma(&sh, v->start, e);
				ck_assert(!one || e <= v->end);
				vma_true += e <= v->end;
				vma_yes += one;
				bool own = r && r->start == v->start &&
					   r->end >= e &&
					   r->origin == SHADOW_ORIGIN_TRACKED;
				bool oreg = shadow_span_one_owned_region(
					&sh, v->start, e);
				ck_assert(!oreg || own);
				reg_true += own;
				reg_yes += oreg;
			}
			/* no VMA starts inside one */
			if (v->end - v->start > PG)
				ck_assert(!shadow_span_one_vma(
					&sh, v->start + PG, v->start + 2 * PG));
		}
	}
	ck_assert_uint_gt(reg_true, 1000);
	ck_assert_uint_ge(vma_yes * 100ull, vma_true * 99ull);
	ck_assert_uint_ge(reg_yes * 100ull, reg_true * 99ull);
	/* A range longer than a slot can say is walked, not answered. */
	ck_assert_int_ge(map(1ull << 28, (1ull << 27) + 1, PROT_READ, 0), 0);
	ck_assert(!shadow_span_one_vma(&sh, A(1ull << 28), A(1ull << 28) + PG));
	ck_assert_ptr_nonnull(shadow_find(&sh, A(1ull << 28)));
	VALID();
}
END_TEST

/* The indexes follow their trees' size (shadow.h, struct shadow_index):
 * at least twice as many slots as nodes, at most eight times as many.  A
 * growth drops no slotted node (a bucket's entries go to two buckets),
 * and the slots keep answering for nearly every VMA at every size.  n
 * one-page mappings two pages apart, made and then unmapped in the reverse
 * order (n is kept small: SHADOW_DEBUG validates the whole shadow after
 * each call; index_limits takes the sizes up to the largest). */
static unsigned index_hits(unsigned n)
{
	unsigned hits = 0;
	for (unsigned i = 0; i < n; i++)
		hits += shadow_span_one_vma(&sh, A(2 * i), A(2 * i) + PG);
	return hits;
}

START_TEST(index_sized_to_tree)
{
	enum { N = 2100 };
	static bool hit[N];
	unsigned grows = 0, shrinks = 0;
	ck_assert_uint_eq(sh.vidx.bits, SHADOW_IDX_MIN_BITS);
	ck_assert_uint_eq(sh.ridx.bits, SHADOW_IDX_MIN_BITS);
	for (unsigned i = 0; i < N; i++) {
		unsigned bits = sh.vidx.bits;
		bool grows_now = sh.c.map_count == (1u << bits) / 2;
		if (grows_now)
			for (unsigned k = 0; k < i; k++)
				hit[k] = shadow_span_one_vma(&sh, A(2 * k),
							     A(2 * k) + PG);
		ck_assert_int_ge(map(2 * i, 1, i & 1 ? RW : PROT_READ, 0), 0);
		ck_assert_uint_eq(sh.vidx.bits, bits + grows_now);
		ck_assert_uint_eq(sh.ridx.bits, sh.vidx.bits);
		if (grows_now) {
			grows++;
			for (unsigned k = 0; k < i; k++)
				ck_assert(!hit[k] ||
					  shadow_span_one_vma(&sh, A(2 * k),
							      A(2 * k) + PG));
			ck_assert_uint_ge(index_hits(i + 1) * 100ull,
					  (i + 1) * 99ull);
		}
	}
	ck_assert_uint_eq(grows, 13 - SHADOW_IDX_MIN_BITS);
	for (unsigned i = N; i-- > 0;) {
		unsigned bits = sh.vidx.bits;
		ck_assert_int_eq(shadow_unmap(&sh, A(2 * i), PG, NULL), 0);
		bool shrank = sh.vidx.bits < bits;
		ck_assert_uint_eq(sh.vidx.bits, bits - shrank);
		ck_assert_uint_eq(shrank,
				  sh.c.map_count == (1u << bits) / 8 - 1 &&
					  bits > SHADOW_IDX_MIN_BITS);
		ck_assert_uint_eq(sh.ridx.bits, sh.vidx.bits);
		if (shrank) {
			shrinks++;
			ck_assert_uint_ge(index_hits(i) * 100ull, i * 99ull);
		}
		if (i == 300)
			ck_assert_uint_eq(sh.vidx.bits, 11);
	}
	ck_assert_uint_eq(shrinks, grows);
	ck_assert_uint_eq(sh.vidx.bits, SHADOW_IDX_MIN_BITS);
	VALID();
}
END_TEST

/* idx_fit alone, on an index of made-up nodes, from the smallest size to
 * the largest and past it (where it stays: its table is that size), and
 * back: growths keep every entry, shrinks keep every entry that fits.
 * The allocator is told once, when the index reaches SHADOW_IDX_HOT_BITS,
 * that the whole table is hot (shadow_allocator.hot). */
static unsigned slots_used(const struct shadow_index *ix)
{
	unsigned n = 0;
	for (unsigned k = 0; k < 1u << ix->bits; k++)
		n += ix->s[k].span != 0;
	return n;
}

struct hot_log {
	unsigned calls, bits;
	void *p;
	size_t size;
	const struct shadow_index *ix;
};

static void hot_record(void *ctx, void *p, size_t size)
{
	struct hot_log *h = ctx;
	h->calls++;
	h->p = p;
	h->size = size;
	h->bits = h->ix->bits;
}

START_TEST(index_limits)
{
	struct shadow_index ix = {
		calloc(1u << SHADOW_IDX_MAX_BITS, sizeof(struct shadow_slot)),
		SHADOW_IDX_MIN_BITS
	};
	ck_assert_ptr_nonnull(ix.s);
	struct hot_log hot = { .ix = &ix };
	struct shadow hs = { .a = { .ctx = &hot, .hot = hot_record } };
	const unsigned n = 3u << (SHADOW_IDX_MAX_BITS - 2); /* 3/4 full */
	static char node[1];
	for (unsigned i = 1; i <= n; i++) {
		uint64_t start = A(3 * i);
		slot_put(&ix, node, start, slot_span(start, start + PG, i & 1));
		unsigned bits = ix.bits;
		bool grows = i > (1u << bits) / 2 && bits < SHADOW_IDX_MAX_BITS;
		/* counted where the size changes (a count reads the table) */
		unsigned used = grows ? slots_used(&ix) : 0;
		idx_fit(&hs, &ix, i);
		ck_assert_uint_eq(ix.bits, grows ? bits + 1 : bits);
		if (grows)
			ck_assert_uint_eq(slots_used(&ix), used);
		ck_assert_ptr_eq(slot_find(&ix, start)->node, node);
		/* told when the growth that reaches the hot size is under
		 * way (the table was still the smaller one), and only then */
		ck_assert_uint_eq(hot.calls, ix.bits >= SHADOW_IDX_HOT_BITS);
	}
	ck_assert_uint_eq(ix.bits, SHADOW_IDX_MAX_BITS);
	ck_assert_uint_ge(slots_used(&ix) * 100ull, n * 90ull);
	ck_assert_ptr_eq(hot.p, ix.s);
	ck_assert_uint_eq(hot.size, sizeof(struct shadow_slot)
					    << SHADOW_IDX_MAX_BITS);
	ck_assert_uint_eq(hot.bits, SHADOW_IDX_HOT_BITS - 1);
	for (unsigned i = n; i-- > 0;) {
		uint64_t start = A(3 * (i + 1));
		slot_drop(&ix, node, start);
		ck_assert_ptr_null(slot_find(&ix, start));
		unsigned bits = ix.bits;
		bool shrinks = i < (1u << bits) / 8 &&
			       bits > SHADOW_IDX_MIN_BITS;
		unsigned before = shrinks ? slots_used(&ix) : 0;
		idx_fit(&hs, &ix, i);
		ck_assert_uint_eq(ix.bits, shrinks ? bits - 1 : bits);
		if (shrinks)
			ck_assert_uint_ge(slots_used(&ix) * 100ull,
					  before * 99ull);
	}
	ck_assert_uint_eq(ix.bits, SHADOW_IDX_MIN_BITS);
	ck_assert_uint_eq(slots_used(&ix), 0);
	ck_assert_uint_eq(hot.calls, 1);
	free(ix.s);
}
END_TEST

START_TEST(lookup_empty_and_single)
{
	/* Empty tree: nothing anywhere; one VMA: edges exact. */
	ck_assert_ptr_null(shadow_vma_first(&sh));
	ck_assert_ptr_null(shadow_find(&sh, A(0)));
	ck_assert_ptr_null(shadow_find_next(&sh, 0));
	ck_assert_int_eq(map(4, 4, RW, 0), (int64_t)A(4));
	struct shadow_vma *v = shadow_vma_first(&sh);
	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_null(shadow_vma_next(v));
	ck_assert_ptr_null(shadow_vma_prev(v));
	ck_assert_ptr_null(shadow_find(&sh, A(4) - 1));
	ck_assert_ptr_eq(shadow_find(&sh, A(4)), v);
	ck_assert_ptr_eq(shadow_find(&sh, A(8) - 1), v);
	ck_assert_ptr_null(shadow_find(&sh, A(8)));
	ck_assert_ptr_eq(shadow_find_next(&sh, 0), v);
	ck_assert_ptr_eq(shadow_find_next(&sh, A(7)), v);
	ck_assert_ptr_null(shadow_find_next(&sh, A(8)));
}
END_TEST

/* ---- gap: shadow_find_free ----------------------------------------------- */

static void check_free_queries(int nq)
{
	uint64_t lo_all = rn ? rs[0] : BASE, hi_all = rn ? re[rn - 1] : BASE;
	for (int q = 0; q < nq; q++) {
		uint64_t len;
		switch (rnd_below(4)) {
		case 0:
			len = (1 + rnd_below(4)) * PG;
			break;
		case 1:
			len = (1 + rnd_below(64)) * PG;
			break;
		case 2:
			len = (1 + rnd_below(12000)) * PG;
			break;
		default:
			len = (1 + rnd_below(1u << 20)) * PG;
		}
		uint64_t span = hi_all - lo_all + (1ull << 30);
		uint64_t low = lo_all - (1ull << 29) + rnd_below(span);
		uint64_t high = low + rnd_below(span);
		low &= ~(PG - 1);
		high &= ~(PG - 1);
		if (rnd_below(8) == 0)
			high = 0x7ffffffff000ull;
		bool td = rnd() & 1;
		uint64_t want = brute_free(len, low, high, td);
		uint64_t got = shadow_find_free(&sh, len, low, high, td);
		ck_assert_msg(got == want,
			      "find_free(len %#llx, [%#llx, %#llx), %s): "
			      "got %#llx, want %#llx", (unsigned long long)len,
			      (unsigned long long)low,
			      (unsigned long long)high, td ? "top-down" : "up",
			      (unsigned long long)got,
			      (unsigned long long)want);
	}
}

START_TEST(gap_search_random_trees)
{
	random_tree(2000 + (size_t)_i * 1500, 100 + (uint64_t)_i);
	check_free_queries(20000);
}
END_TEST

START_TEST(gap_search_after_changes)
{
	/* Maps (merging), unmaps (splitting), mprotects: the gap values must
	 * follow every structural change. */
	random_tree(3000, 200 + (uint64_t)_i);
	uint64_t top = (re[rn - 1] - BASE) / PG;
	for (int i = 0; i < 3000; i++) {
		uint64_t p = rnd_below(top), n = 1 + rnd_below(40);
		switch (rnd_below(3)) {
		case 0:
			ck_assert_int_eq(shadow_unmap(&sh, A(p), n * PG, NULL),
					 0);
			break;
		case 1:
			ck_assert_int_ge(map(p, n, rnd_below(2) ? RW
						      : PROT_READ, 0), 0);
			break;
		default:
			shadow_protect(&sh, A(p), n * PG, PROT_READ, NULL);
		}
		if (i % 500 == 0) {
			reload();
			check_free_queries(500);
		}
	}
	VALID();
	reload();
	check_free_queries(10000);
}
END_TEST

START_TEST(gap_search_huge_gaps)
{
	/* Gaps above the saturating 16 TiB page count: VMAs at 1 TiB,
	 * 40 TiB and 100 TiB. */
	uint64_t T = 1ull << 40;
	ck_assert_int_eq(absorb(T, T + PG, SV_READ, SHADOW_ORIGIN_FOREIGN), 0);
	ck_assert_int_eq(absorb(40 * T, 40 * T + PG, SV_READ,
				SHADOW_ORIGIN_FOREIGN), 0);
	ck_assert_int_eq(absorb(100 * T, 100 * T + PG, SV_READ,
				SHADOW_ORIGIN_FOREIGN), 0);
	reload();
	uint64_t lens[] = { PG, 17 * T, 20 * T, 39 * T - PG, 39 * T,
			    59 * T, 60 * T };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (int td = 0; td < 2; td++) {
			uint64_t low = T / 2, high = 110 * T;
			ck_assert_uint_eq(shadow_find_free(&sh, lens[i], low,
							   high, td),
					  brute_free(lens[i], low, high, td));
			low = 2 * T;
			high = 100 * T;
			ck_assert_uint_eq(shadow_find_free(&sh, lens[i], low,
							   high, td),
					  brute_free(lens[i], low, high, td));
		}
	rng_state = 77;
	check_free_queries(2000);
}
END_TEST

START_TEST(gap_search_edges)
{
	/*  ..AA..BB..      exact fits, empty ranges, len 0 */
	ck_assert_int_ge(map(2, 2, RW, 0), 0);
	ck_assert_int_ge(map(6, 2, PROT_READ, 0), 0);
	reload();
	ck_assert_uint_eq(shadow_find_free(&sh, 2 * PG, A(0), A(10), false),
			  A(0));
	ck_assert_uint_eq(shadow_find_free(&sh, 2 * PG, A(0), A(10), true),
			  A(8));
	ck_assert_uint_eq(shadow_find_free(&sh, 2 * PG, A(2), A(8), false),
			  A(4));
	ck_assert_uint_eq(shadow_find_free(&sh, 2 * PG, A(2), A(8), true),
			  A(4));
	ck_assert_uint_eq(shadow_find_free(&sh, 3 * PG, A(2), A(8), true), 0);
	ck_assert_uint_eq(shadow_find_free(&sh, 3 * PG, A(1), A(10), false),
			  0);
	ck_assert_uint_eq(shadow_find_free(&sh, 0, A(0), A(10), false), 0);
	ck_assert_uint_eq(shadow_find_free(&sh, PG, A(5), A(5), false), 0);
	ck_assert_uint_eq(shadow_find_free(&sh, PG, A(5), A(4), true), 0);
}
END_TEST

/* ---- validate: corruption is caught -------------------------------------- */

static void expect_invalid(const char *what)
{
	const char *why = NULL;
	ck_assert_msg(shadow_validate(&sh, &why) != 0,
		      "validate missed: %s", what);
	ck_assert_ptr_nonnull(why);
}

START_TEST(validate_catches_corruption)
{
	random_tree(500, 9);
	/* a middle VMA with a non-adjacent successor */
	struct shadow_vma *v = shadow_vma_first(&sh);
	for (int i = 0; i < 250; i++)
		v = shadow_vma_next(v);
	while (shadow_vma_next(v)->start == v->end)
		v = shadow_vma_next(v);
	struct shadow_vma *n = shadow_vma_next(v);
	struct shadow_vma saved = *v;

	v->end = n->start + PG; /* overlap */
	expect_invalid("overlapping VMAs");
	*v = saved;
	VALID();

	v->end += 1; /* unaligned */
	expect_invalid("unaligned end");
	*v = saved;

	v->end = v->start; /* empty */
	expect_invalid("empty VMA");
	*v = saved;

	v->gap_pages++;
	expect_invalid("stale gap_pages");
	*v = saved;

	v->subtree_gap_pages += 5;
	expect_invalid("stale subtree gap");
	*v = saved;

	uint64_t s = n->start;
	n->start = v->start; /* out of order (and overlapping) */
	expect_invalid("out of order");
	n->start = s;
	VALID();

	/* a colour flip of a non-root node */
	struct rb_node *leaf = &shadow_vma_first(&sh)->rb;
	ck_assert_ptr_ne(leaf, sh.vmas.node);
	leaf->parent_color ^= 1;
	expect_invalid("colour flip");
	leaf->parent_color ^= 1;

	/* a broken parent link */
	uintptr_t pc = leaf->parent_color;
	leaf->parent_color = (pc & 1) | (uintptr_t)&v->rb;
	if (rb_parent(leaf) != (struct rb_node *)(pc & ~(uintptr_t)1))
		expect_invalid("parent link");
	leaf->parent_color = pc;
	VALID();

	/* counters */
	uint64_t *ctr[] = { &sh.c.total_vm, &sh.c.data_vm, &sh.c.exec_vm,
			    &sh.c.stack_vm, &sh.c.locked_vm, &sh.c.map_count,
			    &sh.c.nregions };
	for (size_t i = 0; i < sizeof(ctr) / sizeof(ctr[0]); i++) {
		(*ctr[i])++;
		expect_invalid("counter");
		(*ctr[i])--;
	}
	VALID();

	/* flags that change the category without accounting */
	v->flags |= SV_WRITE;
	expect_invalid("flags changed behind the counters");
	*v = saved;
	VALID();

	/* a region over unmapped pages */
	struct shadow_region *r = shadow_region_find(&sh, v->start);
	ck_assert_ptr_nonnull(r);
	uint64_t re_saved = r->end;
	r->end = v->end + PG; /* into the hole after v */
	expect_invalid("region over a hole");
	r->end = re_saved;
	VALID();
}
END_TEST

/* ---- enomem: allocator failures ------------------------------------------ */

/*  0       8       16      24      32
 *  AAAAAAAAAAAAAAAAbbbbbbbbCCCCCCCC....    rw (written) | r | rw, and a
 *  shared anonymous VMA at 40.
 */
static void build_layout(void)
{
	shadow_destroy(&sh); /* the fixture's, or a no-op after a destroy */
	test_shadow_init(&sh, &ta);
	ck_assert_int_ge(map(0, 16, RW, 0), 0);
	ck_assert_int_eq(shadow_touch(&sh, A(0), true), 0);
	ck_assert_int_ge(map(16, 8, PROT_READ, 0), 0);
	ck_assert_int_ge(map(24, 8, RW, 0), 0);
	ck_assert_int_ge(map(40, 4, RW, MAP_SHARED), 0);
}

static int64_t run_op(int op)
{
	struct shadow_change rec;
	struct shadow_remap_args ra = { 0 };
	struct shadow_vma_desc d = { .start = A(50), .end = A(52),
				     .flags = SV_READ };
	switch (op) {
	case 0: return map(4, 2, PROT_READ, 0);            /* split in 3 */
	case 1: return map(10, 10, RW | PROT_EXEC, 0);     /* across two */
	case 2: return shadow_unmap(&sh, A(2), 2 * PG, &rec);
	case 3: return shadow_unmap(&sh, A(12), 14 * PG, &rec);
	case 4: return shadow_protect(&sh, A(2), 2 * PG, PROT_READ, &rec);
	case 5: return shadow_protect(&sh, A(4), 24 * PG, PROT_EXEC, &rec);
	case 6: return shadow_advise(&sh, A(2), 2 * PG, MADV_DONTDUMP, &rec);
	case 7: return shadow_advise(&sh, A(0), 32 * PG, MADV_DONTFORK, &rec);
	case 8: return shadow_lock(&sh, A(2), 2 * PG, 0, &rec);
	case 9: return shadow_unlock(&sh, A(0), 32 * PG, &rec);
	case 10:
		ra = (struct shadow_remap_args){ .old_addr = A(4),
			.old_len = 4 * PG, .new_len = 4 * PG,
			.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
			.new_addr = A(60) };
		return shadow_remap(&sh, &ra, &rec);
	case 11:
		ra = (struct shadow_remap_args){ .old_addr = A(0),
			.old_len = 44 * PG, .new_len = 44 * PG,
			.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
			.new_addr = A(100) };
		return shadow_remap(&sh, &ra, &rec);
	case 12:
		ra = (struct shadow_remap_args){ .old_addr = A(24),
			.old_len = 8 * PG, .new_len = 12 * PG };
		return shadow_remap(&sh, &ra, &rec);
	case 13:
		ra = (struct shadow_remap_args){ .old_addr = A(2),
			.old_len = 2 * PG, .new_len = 2 * PG,
			.flags = MREMAP_MAYMOVE | MREMAP_FIXED |
				 MREMAP_DONTUNMAP,
			.new_addr = A(60) };
		return shadow_remap(&sh, &ra, &rec);
	case 14: return shadow_absorb(&sh, &d, SHADOW_ORIGIN_FOREIGN, 0);
	case 15: return map(20, 30, RW, 0); /* FIXED over everything */
	}
	return 0;
}
#define N_OPS 16

START_TEST(enomem_each_allocation)
{
	int op = _i;
	/* The op's result with no failure. */
	build_layout();
	int64_t good = run_op(op);
	ck_assert_msg(good >= 0, "op %d fails without failures: %lld", op,
		      (long long)good);
	shadow_destroy(&sh);
	ck_assert_uint_eq(ta.live_objects, 0);
	bool saw_failure = false;
	for (size_t k = 1; k <= 24; k++) {
		build_layout();
		ta.fail_after = k;
		int64_t r = run_op(op);
		bool failed_alloc = ta.fail_after == 0;
		ta.fail_after = 0;
		ck_assert_msg(r == good || r == -ENOMEM || r == -EAGAIN,
			      "op %d, alloc %zu failing: %lld", op, k,
			      (long long)r);
		if (!failed_alloc)
			ck_assert_msg(r == good, "op %d: no failure, %lld", op,
				      (long long)r);
		if (r < 0)
			saw_failure = true;
		const char *why = NULL;
		ck_assert_msg(shadow_validate(&sh, &why) == 0,
			      "op %d, alloc %zu failing: invalid: %s", op, k,
			      why);
		shadow_destroy(&sh);
		ck_assert_msg(ta.live_objects == 0,
			      "op %d, alloc %zu failing: %zu objects leaked",
			      op, k, ta.live_objects);
	}
	(void)saw_failure;
	test_shadow_init(&sh, &ta); /* for teardown */
}
END_TEST

START_TEST(enomem_first_allocation_reported)
{
	/* When the very first allocation of a page-creating op fails, the op
	 * must say so (it cannot have done its work). */
	static const int ops[] = { 0, 1, 14, 15 };
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		build_layout();
		uint64_t before = sh.c.map_count;
		ta.fail_after = 1;
		int64_t r = run_op(ops[i]);
		ta.fail_after = 0;
		ck_assert_msg(r == -ENOMEM, "op %d: %lld", ops[i],
			      (long long)r);
		ck_assert_uint_eq(sh.c.map_count, before);
		VALID();
		shadow_destroy(&sh);
	}
	test_shadow_init(&sh, &ta);
}
END_TEST

/* ---- counters ------------------------------------------------------------ */

START_TEST(counters_by_category)
{
	/*  0   4   8   12  16  20  24
	 *  AAAAbbbbCCCCddddEEEEffff      rw | r-x | rw GROWSDOWN | shared rw |
	 *                                r | rw locked
	 */
	ck_assert_int_ge(map(0, 4, RW, 0), 0);
	ck_assert_int_ge(map(4, 4, PROT_READ | PROT_EXEC, 0), 0);
	ck_assert_int_ge(map(8, 4, RW, MAP_GROWSDOWN), 0);
	ck_assert_int_ge(map(12, 4, RW, MAP_SHARED), 0);
	ck_assert_int_ge(map(16, 4, PROT_READ, 0), 0);
	ck_assert_int_ge(map(20, 4, RW, MAP_LOCKED), 0);
	ck_assert_uint_eq(sh.c.total_vm, 24);
	ck_assert_uint_eq(sh.c.data_vm, 8);
	ck_assert_uint_eq(sh.c.exec_vm, 4);
	ck_assert_uint_eq(sh.c.stack_vm, 4);
	ck_assert_uint_eq(sh.c.locked_vm, 4);
	ck_assert_uint_eq(sh.c.map_count, 6);
	ck_assert_uint_eq(sh.c.nregions, 6);
	/* rw-x is data, not exec (written); rw -> r-x moves data to exec */
	ck_assert_int_eq(shadow_protect(&sh, A(0), 2 * PG, RW | PROT_EXEC,
					NULL), 0);
	ck_assert_uint_eq(sh.c.data_vm, 8);
	ck_assert_uint_eq(sh.c.exec_vm, 4);
	ck_assert_int_eq(shadow_protect(&sh, A(0), 2 * PG,
					PROT_READ | PROT_EXEC, NULL), 0);
	ck_assert_uint_eq(sh.c.data_vm, 6);
	ck_assert_uint_eq(sh.c.exec_vm, 6);
	/* the stack stays stack whatever its prot */
	ck_assert_int_eq(shadow_protect(&sh, A(8), 4 * PG, PROT_READ |
					PROT_EXEC, NULL), 0);
	ck_assert_uint_eq(sh.c.stack_vm, 4);
	ck_assert_uint_eq(sh.c.exec_vm, 6);
	/* munlock, mlock */
	ck_assert_int_eq(shadow_unlock(&sh, A(20), 2 * PG, NULL), 0);
	ck_assert_uint_eq(sh.c.locked_vm, 2);
	ck_assert_int_eq(shadow_lock(&sh, A(0), 8 * PG, 0, NULL), 0);
	ck_assert_uint_eq(sh.c.locked_vm, 10);
	/* munmap takes from every category */
	ck_assert_int_eq(shadow_unmap(&sh, A(0), 24 * PG, NULL), 0);
	ck_assert_uint_eq(sh.c.total_vm, 0);
	ck_assert_uint_eq(sh.c.data_vm, 0);
	ck_assert_uint_eq(sh.c.exec_vm, 0);
	ck_assert_uint_eq(sh.c.stack_vm, 0);
	ck_assert_uint_eq(sh.c.locked_vm, 0);
	ck_assert_uint_eq(sh.c.map_count, 0);
	ck_assert_uint_eq(sh.c.nregions, 0);
	ck_assert_uint_eq(sh.c.hiwater_vm, 24);
	ck_assert_uint_ge(sh.c.peak_map_count, 6);
}
END_TEST

START_TEST(counters_follow_remap)
{
	/* moves keep the totals; growth and shrink change them */
	ck_assert_int_ge(map(0, 4, RW, MAP_LOCKED), 0);
	struct shadow_remap_args ra = { .old_addr = A(0), .old_len = 4 * PG,
					.new_len = 6 * PG,
					.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
					.new_addr = A(20) };
	ck_assert_int_eq(shadow_remap(&sh, &ra, NULL), (int64_t)A(20));
	ck_assert_uint_eq(sh.c.total_vm, 6);
	ck_assert_uint_eq(sh.c.data_vm, 6);
	ck_assert_uint_eq(sh.c.locked_vm, 6);
	ra = (struct shadow_remap_args){ .old_addr = A(20),
					 .old_len = 6 * PG, .new_len = PG };
	ck_assert_int_eq(shadow_remap(&sh, &ra, NULL), (int64_t)A(20));
	ck_assert_uint_eq(sh.c.total_vm, 1);
	ck_assert_uint_eq(sh.c.locked_vm, 1);
	VALID();
}
END_TEST

/* /proc/self/status fields in kB, read without malloc. */
struct status { uint64_t size, data, stk, lck; };
static uint64_t status_field(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);
	ck_assert_ptr_nonnull(p);
	return strtoull(p + strlen(key), NULL, 10);
}
static void read_status(struct status *st)
{
	static char buf[8192];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = 0;
	st->size = status_field(buf, "VmSize:");
	st->data = status_field(buf, "VmData:");
	st->stk = status_field(buf, "VmStk:");
	st->lck = status_field(buf, "VmLck:");
}

START_TEST(counters_match_kernel)
{
	/* The same calls on the kernel (raw, nothing allocating in between)
	 * and on a pure shadow: the deltas of VmSize, VmData, VmStk, VmLck
	 * equal the shadow's total_vm, data_vm, stack_vm, locked_vm. */
	static struct harness hw; /* only for a free window */
	h_init(&hw, 32);
	uint64_t b = hw.base;
	struct status s0, s1;
	read_status(&s0);
	int fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
	bool ok = mmap((void *)b, 4 * PG, RW, fl, -1, 0) != MAP_FAILED &&
		  mmap((void *)(b + 4 * PG), 4 * PG, PROT_READ | PROT_EXEC, fl,
		       -1, 0) != MAP_FAILED &&
		  mmap((void *)(b + 8 * PG), 4 * PG, RW, fl | MAP_GROWSDOWN,
		       -1, 0) != MAP_FAILED &&
		  mmap((void *)(b + 12 * PG), 4 * PG, RW,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
			  MAP_FAILED &&
		  mmap((void *)(b + 16 * PG), 4 * PG, RW, fl | MAP_LOCKED, -1,
		       0) != MAP_FAILED &&
		  mprotect((void *)b, 2 * PG, PROT_READ) == 0 &&
		  mprotect((void *)(b + 16 * PG), PG, PROT_READ) == 0 &&
		  munmap((void *)(b + 18 * PG), PG) == 0;
	read_status(&s1);
	h_fini(&hw);
	ck_assert(ok);
	/* the same on the shadow, at the same addresses */
	struct shadow_map_args a = { .prot = RW, .flags = fl,
				     .origin = SHADOW_ORIGIN_TRACKED };
	a.addr = b; a.len = 4 * PG;
	ck_assert_int_ge(shadow_map(&sh, &a, NULL), 0);
	a.addr = b + 4 * PG; a.prot = PROT_READ | PROT_EXEC;
	ck_assert_int_ge(shadow_map(&sh, &a, NULL), 0);
	a.addr = b + 8 * PG; a.prot = RW; a.flags = fl | MAP_GROWSDOWN;
	ck_assert_int_ge(shadow_map(&sh, &a, NULL), 0);
	a.addr = b + 12 * PG; a.flags = MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED;
	ck_assert_int_ge(shadow_map(&sh, &a, NULL), 0);
	a.addr = b + 16 * PG; a.flags = fl | MAP_LOCKED;
	ck_assert_int_ge(shadow_map(&sh, &a, NULL), 0);
	ck_assert_int_eq(shadow_protect(&sh, b, 2 * PG, PROT_READ, NULL), 0);
	ck_assert_int_eq(shadow_protect(&sh, b + 16 * PG, PG, PROT_READ, NULL),
			 0);
	ck_assert_int_eq(shadow_unmap(&sh, b + 18 * PG, PG, NULL), 0);
	ck_assert_uint_eq(sh.c.total_vm * 4, s1.size - s0.size);
	ck_assert_uint_eq(sh.c.data_vm * 4, s1.data - s0.data);
	ck_assert_uint_eq(sh.c.stack_vm * 4, s1.stk - s0.stk);
	ck_assert_uint_eq(sh.c.locked_vm * 4, s1.lck - s0.lck);
}
END_TEST

/* ---- regions ------------------------------------------------------------- */

START_TEST(regions_never_merged)
{
	/*  AAAAAAAA  two maps, one VMA, two regions; an mprotect over both
	 *  changes no region; a third adjacent map adds a third region
	 */
	ck_assert_int_ge(map(0, 4, RW, 0), 0);
	ck_assert_int_ge(map(4, 4, RW, 0), 0);
	ck_assert_uint_eq(sh.c.map_count, 1);
	ck_assert_uint_eq(sh.c.nregions, 2);
	ck_assert_int_eq(shadow_protect(&sh, A(0), 8 * PG, PROT_READ, NULL),
			 0);
	ck_assert_int_eq(shadow_protect(&sh, A(0), 8 * PG, RW, NULL), 0);
	ck_assert_uint_eq(sh.c.nregions, 2);
	ck_assert_int_ge(map(8, 4, RW, 0), 0);
	ck_assert_uint_eq(sh.c.nregions, 3);
	struct shadow_region *r = shadow_region_find_next(&sh, 0);
	uint64_t expect[][2] = { { 0, 4 }, { 4, 8 }, { 8, 12 } };
	for (int i = 0; i < 3; i++, r = shadow_region_next(r)) {
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(r->start, A(expect[i][0]));
		ck_assert_uint_eq(r->end, A(expect[i][1]));
		ck_assert_uint_eq(r->origin, SHADOW_ORIGIN_TRACKED);
		ck_assert_uint_eq(r->stack_id, 7);
		ck_assert_uint_eq(r->call, SHADOW_CALL_MMAP);
	}
	ck_assert_ptr_null(r);
}
END_TEST

START_TEST(regions_split_by_partial_unmap)
{
	/*  AAAAAAAA  munmap [2,3), [5,6)  AA.AA.AA: three pieces of one call */
	ck_assert_int_ge(map(0, 8, RW, 0), 0);
	ck_assert_int_eq(shadow_unmap(&sh, A(2), PG, NULL), 0);
	ck_assert_int_eq(shadow_unmap(&sh, A(5), PG, NULL), 0);
	ck_assert_uint_eq(sh.c.nregions, 3);
	ck_assert_ptr_null(shadow_region_find(&sh, A(2)));
	ck_assert_uint_eq(shadow_region_find(&sh, A(3))->start, A(3));
	ck_assert_uint_eq(shadow_region_find(&sh, A(3))->end, A(5));
	ck_assert_uint_eq(shadow_region_find(&sh, A(7))->stack_id, 7);
	VALID();
}
END_TEST

START_TEST(regions_carried_by_moves)
{
	/*  AAAABBBB (two regions, one VMA)  move [2,6) -> 20:
	 *  AA....BB............aabb   the moved pages keep their regions'
	 *                             stacks, cut at the old boundary
	 */
	ck_assert_int_ge(map(0, 4, RW, 0), 0);
	struct shadow_map_args a = { .addr = A(4), .len = 4 * PG, .prot = RW,
				     .flags = MAP_PRIVATE | MAP_ANONYMOUS |
					      MAP_FIXED,
				     .origin = SHADOW_ORIGIN_TRACKED,
				     .stack_id = 8 };
	ck_assert_int_ge(shadow_map(&sh, &a, NULL), 0);
	struct shadow_change rec;
	struct shadow_remap_args ra = { .old_addr = A(2), .old_len = 4 * PG,
					.new_len = 4 * PG,
					.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
					.new_addr = A(20), .stack_id = 9 };
	ck_assert_int_eq(shadow_remap(&sh, &ra, &rec), (int64_t)A(20));
	ck_assert_uint_eq(shadow_region_find(&sh, A(20))->stack_id, 7);
	ck_assert_uint_eq(shadow_region_find(&sh, A(20))->end, A(22));
	ck_assert_uint_eq(shadow_region_find(&sh, A(22))->stack_id, 8);
	ck_assert_uint_eq(shadow_region_find(&sh, A(22))->end, A(24));
	ck_assert_uint_eq(shadow_region_find(&sh, A(0))->end, A(2));
	ck_assert_uint_eq(shadow_region_find(&sh, A(6))->start, A(6));
	ck_assert_uint_eq(sh.c.nregions, 4);
	/* the record: two MOVED pieces with their destinations */
	int moved = 0;
	for (uint32_t i = 0; i < rec.npieces; i++)
		if (rec.pieces[i].kind == SHADOW_PIECE_MOVED) {
			moved++;
			ck_assert_uint_eq(rec.pieces[i].dest,
					  rec.pieces[i].start + 18 * PG);
		}
	ck_assert_int_eq(moved, 2);
	/* growth by mremap extends the moved region, it makes no new one */
	ra = (struct shadow_remap_args){ .old_addr = A(22), .old_len = 2 * PG,
					 .new_len = 4 * PG, .stack_id = 9 };
	ck_assert_int_eq(shadow_remap(&sh, &ra, NULL), (int64_t)A(22));
	ck_assert_uint_eq(shadow_region_find(&sh, A(25))->stack_id, 8);
	ck_assert_uint_eq(sh.c.nregions, 4);
	VALID();
}
END_TEST

START_TEST(absorb_and_eexist)
{
	/*  ..AAAA..        absorbed (foreign); overlapping absorb: -EEXIST;
	 *  ..AAAAbb        adjacent identical absorb: no merge; unaligned or
	 *                  empty: -EINVAL
	 */
	struct shadow_vma_desc d = { .start = A(2), .end = A(6),
				     .flags = SV_READ | SV_WRITE,
				     .name = SHADOW_NAME_HEAP };
	ck_assert_int_eq(shadow_absorb(&sh, &d, SHADOW_ORIGIN_BASELINE, 3), 0);
	struct shadow_region *r = shadow_region_find(&sh, A(3));
	ck_assert_uint_eq(r->origin, SHADOW_ORIGIN_BASELINE);
	ck_assert_uint_eq(r->call, SHADOW_CALL_SCAN);
	ck_assert_uint_eq(r->name, SHADOW_NAME_HEAP);
	ck_assert_uint_eq(r->stack_id, 3);
	ck_assert_uint_eq(shadow_find(&sh, A(2))->pgoff, A(2) >> 12);
	ck_assert_uint_eq(sh.c.data_vm, 4);
	d.start = A(5);
	d.end = A(8);
	ck_assert_int_eq(shadow_absorb(&sh, &d, SHADOW_ORIGIN_FOREIGN, 0),
			 -EEXIST);
	d.start = A(0);
	d.end = A(3);
	ck_assert_int_eq(shadow_absorb(&sh, &d, SHADOW_ORIGIN_FOREIGN, 0),
			 -EEXIST);
	d.start = A(6);
	d.end = A(8);
	ck_assert_int_eq(shadow_absorb(&sh, &d, SHADOW_ORIGIN_FOREIGN, 0), 0);
	ck_assert_uint_eq(sh.c.map_count, 2);
	ck_assert_uint_eq(shadow_region_find(&sh, A(6))->origin,
			  SHADOW_ORIGIN_FOREIGN);
	d.start = A(10) + 1;
	d.end = A(12);
	ck_assert_int_eq(shadow_absorb(&sh, &d, SHADOW_ORIGIN_FOREIGN, 0),
			 -EINVAL);
	d.start = d.end = A(12);
	ck_assert_int_eq(shadow_absorb(&sh, &d, SHADOW_ORIGIN_FOREIGN, 0),
			 -EINVAL);
	/* a later mmap next to absorbed VMAs may merge with them (same
	 * flags), but its region stays its own */
	ck_assert_int_ge(map(8, 2, RW, 0), 0);
	ck_assert_uint_eq(sh.c.nregions, 3);
	VALID();
}
END_TEST

START_TEST(absorb_file_and_shared)
{
	/* a file VMA without a known open file description never merges */
	struct shadow_vma_desc d = { .start = A(0), .end = A(4),
				     .flags = SV_READ, .pgoff = 0, .dev = 8,
				     .ino = 1234, .name = SHADOW_NAME_FILE };
	ck_assert_int_eq(shadow_absorb(&sh, &d, SHADOW_ORIGIN_BASELINE, 0), 0);
	struct shadow_vma *v = shadow_find(&sh, A(0));
	ck_assert_uint_eq(v->file_id, SHADOW_FILE_UNKNOWN);
	d.start = A(4);
	d.end = A(8);
	d.pgoff = 4;
	ck_assert_int_eq(shadow_absorb(&sh, &d, SHADOW_ORIGIN_BASELINE, 0), 0);
	/* mprotect both to r-x and back: they stay apart (unknown file) */
	ck_assert_int_eq(shadow_protect(&sh, A(0), 8 * PG,
					PROT_READ | PROT_EXEC, NULL), 0);
	ck_assert_int_eq(shadow_protect(&sh, A(0), 8 * PG, PROT_READ, NULL),
			 0);
	ck_assert_uint_eq(sh.c.map_count, 2);
	VALID();
}
END_TEST

static Suite *tree_suite(void)
{
	Suite *s = suite_create("shadow_tree");
	TCase *tc;

	tc = tcase_create("lookup");
	/* Trees of thousands of VMAs, validated after each step: seconds
	 * each, past Check's default 4 s on a busy two-core machine. */
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, lookup_random, 0, 3);
	tcase_add_loop_test(tc, lookup_hole_cache, 0, 2);
	tcase_add_test(tc, lookup_empty_and_single);
	tcase_add_loop_test(tc, span_from_index, 0, 2);
	tcase_add_test(tc, index_sized_to_tree);
	tcase_add_test(tc, index_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("gap");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, gap_search_random_trees, 0, 4);
	tcase_add_loop_test(tc, gap_search_after_changes, 0, 3);
	tcase_add_test(tc, gap_search_huge_gaps);
	tcase_add_test(tc, gap_search_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("validate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, validate_catches_corruption);
	suite_add_tcase(s, tc);

	tc = tcase_create("counters");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, counters_by_category);
	tcase_add_test(tc, counters_follow_remap);
	tcase_add_test(tc, counters_match_kernel);
	suite_add_tcase(s, tc);

	tc = tcase_create("regions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, regions_never_merged);
	tcase_add_test(tc, regions_split_by_partial_unmap);
	tcase_add_test(tc, regions_carried_by_moves);
	tcase_add_test(tc, absorb_and_eexist);
	tcase_add_test(tc, absorb_file_and_shared);
	suite_add_tcase(s, tc);

	/* Last: a shadow broken by a failed allocation aborts in debug builds
	 * (SHADOW_VALIDATE), which with CK_FORK=no ends the whole run. */
	tc = tcase_create("enomem");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, enomem_each_allocation, 0, N_OPS);
	tcase_add_test(tc, enomem_first_allocation_reported);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tree_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
