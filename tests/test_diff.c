/*
 * test_diff.c - shadow_diff() and shadow_diff_adopt() on crafted kernel
 * views (struct kview filled by hand), and once against the real kernel.
 *
 *  classify:  each kind of difference (MISSING_IN_KERNEL, UNKNOWN_TO_SHADOW,
 *             ATTR, BOUNDARY) on a minimal pair of views; coalescing of
 *             contiguous items; the span; capacity (counted, not stored);
 *             the return value (boundaries excluded).
 *  adopt:     shadow_diff_adopt() makes a diverged shadow agree (a second
 *             diff finds nothing), counts boundary misses, keeps what the
 *             kernel does not show (hidden flags, anon_id, file_id), keeps
 *             regions, and gives unknown pages a region of the given origin.
 *  kernel:    a change made behind the shadow's back (raw syscalls) is seen
 *             by h_compare() and repaired by h_adopt().
 *
 * Diagrams: one character a page from BASE; upper line shadow, lower line
 * kernel.
 */
#include <check.h>
#include <stdlib.h>

#include "harness.h"

#define PG 4096ull
#define BASE 0x7e0000000000ull
#define A(p) (BASE + (uint64_t)(p) * PG)
#define RW (PROT_READ | PROT_WRITE)
#define KR SV_READ
#define KRW (SV_READ | SV_WRITE)

static struct shadow sh;
static struct test_alloc ta;
static struct kview kv;
static struct kview_entry ent[256];
static char names[4096];
static struct diff_item items[32];
static struct diff_result res;

static void setup(void)
{
	test_shadow_init(&sh, &ta);
	kview_init(&kv, ent, 256, names, sizeof(names));
	res = (struct diff_result){ .items = items, .cap = 32 };
}

static void teardown(void)
{
	shadow_destroy(&sh);
	ck_assert_uint_eq(ta.live_objects, 0);
}

/* Kernel entries, appended in order. */
static void kanon(uint64_t s, uint64_t e, uint32_t flags)
{
	ck_assert_uint_lt(kv.n, kv.cap);
	kv.v[kv.n++] = (struct kview_entry){ .start = A(s), .end = A(e),
					     .flags = flags };
}
static void kfile(uint64_t s, uint64_t e, uint32_t flags, uint64_t off_pages,
		  uint32_t dev, uint64_t ino)
{
	ck_assert_uint_lt(kv.n, kv.cap);
	kv.v[kv.n++] = (struct kview_entry){ .start = A(s), .end = A(e),
					     .flags = flags,
					     .offset = off_pages * PG,
					     .dev = dev, .ino = ino,
					     .name_kind = SHADOW_NAME_FILE };
}

static int64_t smap(uint64_t p, uint64_t n, int prot, int flags)
{
	struct shadow_map_args a = {
		.addr = A(p), .len = n * PG, .prot = prot,
		.flags = flags | MAP_FIXED | MAP_ANONYMOUS,
		.origin = SHADOW_ORIGIN_TRACKED, .stack_id = 5,
	};
	if (!(flags & (MAP_SHARED | MAP_PRIVATE)))
		a.flags |= MAP_PRIVATE;
	int64_t r = shadow_map(&sh, &a, NULL);
	ck_assert_int_eq(r, (int64_t)A(p));
	return r;
}

static const struct shadow_file sfile = {
	.valid = true, .readable = true, .writable = true, .can_mmap = true,
	.dev = 8 << 20 | 1, .ino = 4242, .file_id = 3, .size = 1 << 20,
};
static void sfmap(uint64_t p, uint64_t n, int prot, uint64_t off_pages)
{
	struct shadow_map_args a = {
		.addr = A(p), .len = n * PG, .prot = prot,
		.flags = MAP_PRIVATE | MAP_FIXED, .off = off_pages * PG,
		.file = &sfile, .origin = SHADOW_ORIGIN_TRACKED,
	};
	ck_assert_int_eq(shadow_map(&sh, &a, NULL), (int64_t)A(p));
}

static int diff_all(void)
{
	return shadow_diff(&sh, &kv, 0, UINT64_MAX, &res);
}

static void expect_valid(void)
{
	const char *why = NULL;
	ck_assert_msg(shadow_validate(&sh, &why) == 0, "%s", why);
}

/* ---- classify ----------------------------------------------------------- */

START_TEST(identical_views)
{
	/*  AAAA..bbbb      shadow
	 *  AAAA..bbbb      kernel: nothing to report
	 */
	smap(0, 4, RW, 0);
	smap(6, 4, PROT_READ, 0);
	kanon(0, 4, KRW);
	kanon(6, 10, KR);
	ck_assert_int_eq(diff_all(), 0);
	for (int k = 1; k < DIFF_NKINDS; k++)
		ck_assert_uint_eq(res.count[k], 0);
	ck_assert_uint_eq(res.n, 0);
}
END_TEST

START_TEST(missing_in_kernel)
{
	/*  AAAA            shadow
	 *  ....            kernel: the shadow maps pages the kernel does not
	 */
	smap(0, 4, RW, 0);
	ck_assert_int_eq(diff_all(), 1);
	ck_assert_uint_eq(res.count[DIFF_MISSING_IN_KERNEL], 1);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_uint_eq(res.items[0].kind, DIFF_MISSING_IN_KERNEL);
	ck_assert_uint_eq(res.items[0].start, A(0));
	ck_assert_uint_eq(res.items[0].end, A(4));
	ck_assert_uint_eq(res.items[0].shadow_flags, KRW);
	ck_assert_uint_eq(res.items[0].kernel_flags, 0);
}
END_TEST

START_TEST(unknown_to_shadow)
{
	/*  ....            shadow
	 *  ..AA            kernel: pages the shadow does not know
	 */
	kanon(2, 4, KR);
	ck_assert_int_eq(diff_all(), 1);
	ck_assert_uint_eq(res.count[DIFF_UNKNOWN_TO_SHADOW], 1);
	ck_assert_uint_eq(res.items[0].kind, DIFF_UNKNOWN_TO_SHADOW);
	ck_assert_uint_eq(res.items[0].start, A(2));
	ck_assert_uint_eq(res.items[0].end, A(4));
	ck_assert_uint_eq(res.items[0].kernel_flags, KR);
}
END_TEST

START_TEST(partial_coverage)
{
	/*  AAAAAAAA        shadow
	 *  ..AAAA..        kernel: two MISSING items, [0,2) and [6,8)
	 *  (the kernel's boundaries at 2 and 6 come with the coverage
	 *  difference; they are not BOUNDARY items: diff.h defines BOUNDARY
	 *  as "same pages and attributes, VMA boundaries differ")
	 */
	smap(0, 8, RW, 0);
	kanon(2, 6, KRW);
	ck_assert_int_eq(diff_all(), 2);
	ck_assert_uint_eq(res.count[DIFF_MISSING_IN_KERNEL], 2);
	ck_assert_uint_eq(res.count[DIFF_BOUNDARY], 0);
	ck_assert_uint_eq(res.items[0].start, A(0));
	ck_assert_uint_eq(res.items[0].end, A(2));
	ck_assert_uint_eq(res.items[1].start, A(6));
	ck_assert_uint_eq(res.items[1].end, A(8));
}
END_TEST

START_TEST(attr_prot)
{
	/*  AAAA (rw)       shadow
	 *  AAAA (r)        kernel: ATTR over [0,4)
	 */
	smap(0, 4, RW, 0);
	kanon(0, 4, KR);
	ck_assert_int_eq(diff_all(), 1);
	ck_assert_uint_eq(res.count[DIFF_ATTR], 1);
	ck_assert_uint_eq(res.items[0].kind, DIFF_ATTR);
	ck_assert_uint_eq(res.items[0].start, A(0));
	ck_assert_uint_eq(res.items[0].end, A(4));
	ck_assert_uint_eq(res.items[0].shadow_flags, KRW);
	ck_assert_uint_eq(res.items[0].kernel_flags, KR);
}
END_TEST

START_TEST(attr_part_of_vma)
{
	/*  AAAAAAAA (rw)   shadow
	 *  AAbbCCCC        kernel: [2,4) r: one ATTR item [2,4) (the
	 *                  boundaries at 2 and 4 come with it; whether they
	 *                  are also BOUNDARY items is not specified)
	 */
	smap(0, 8, RW, 0);
	kanon(0, 2, KRW);
	kanon(2, 4, KR);
	kanon(4, 8, KRW);
	ck_assert_int_eq(diff_all(), 1);
	ck_assert_uint_eq(res.count[DIFF_ATTR], 1);
	int attr = -1;
	for (uint32_t i = 0; i < res.n; i++)
		if (res.items[i].kind == DIFF_ATTR)
			attr = (int)i;
	ck_assert_int_ge(attr, 0);
	ck_assert_uint_eq(res.items[attr].start, A(2));
	ck_assert_uint_eq(res.items[attr].end, A(4));
}
END_TEST

START_TEST(attr_shared_vs_private)
{
	/*  AAAA private rw shadow / shared rw kernel ("rw-s"): ATTR */
	smap(0, 4, RW, 0);
	kanon(0, 4, KRW | SV_MAYSHARE);
	ck_assert_int_eq(diff_all(), 1);
	ck_assert_uint_eq(res.count[DIFF_ATTR], 1);
	ck_assert_uint_eq(res.items[0].kernel_flags, KRW | SV_MAYSHARE);
}
END_TEST

START_TEST(attr_file_offset_and_inode)
{
	/*  AAAA file off 0 | kernel off 1: ATTR; other inode: ATTR; anon in
	 *  the shadow vs a file in the kernel: ATTR
	 */
	sfmap(0, 4, PROT_READ, 0);
	kfile(0, 4, KR, 1, sfile.dev, sfile.ino);
	ck_assert_int_eq(diff_all(), 1);
	ck_assert_uint_eq(res.count[DIFF_ATTR], 1);

	kv.n = 0;
	kfile(0, 4, KR, 0, sfile.dev, sfile.ino + 1);
	ck_assert_int_eq(diff_all(), 1);
	ck_assert_uint_eq(res.count[DIFF_ATTR], 1);

	kv.n = 0;
	kfile(0, 4, KR, 0, sfile.dev, sfile.ino);
	ck_assert_int_eq(diff_all(), 0);

	smap(8, 4, PROT_READ, 0);
	kfile(8, 12, KR, 8, sfile.dev, sfile.ino);
	ck_assert_int_eq(diff_all(), 1);
	ck_assert_uint_eq(res.items[0].kind, DIFF_ATTR);
	ck_assert_uint_eq(res.items[0].start, A(8));
}
END_TEST

START_TEST(attr_file_offset_after_split)
{
	/*  AAAAAAAA file 0..8 in the shadow, split by an mprotect:
	 *  AAAAbbbb        kernel shows offset 4 at page 4: agreement
	 */
	sfmap(0, 8, PROT_READ, 0);
	ck_assert_int_eq(shadow_protect(&sh, A(4), 4 * PG, PROT_NONE, NULL),
			 0);
	kfile(0, 4, KR, 0, sfile.dev, sfile.ino);
	kfile(4, 8, 0, 4, sfile.dev, sfile.ino);
	ck_assert_int_eq(diff_all(), 0);
	ck_assert_uint_eq(res.count[DIFF_BOUNDARY], 0);
}
END_TEST

START_TEST(shared_anon_unknown_inode_agrees)
{
	/*  AAAA shared anon in the shadow (inode unknown) vs the kernel's
	 *  "/dev/zero (deleted)" with inode 99, offset 0: agreement
	 */
	smap(0, 4, RW, MAP_SHARED);
	kfile(0, 4, KRW | SV_MAYSHARE, 0, 1, 99);
	kv.v[0].name_kind = SHADOW_NAME_SHMEM;
	ck_assert_int_eq(diff_all(), 0);
	/* ... but not at another offset */
	kv.v[0].offset = PG;
	ck_assert_int_eq(diff_all(), 1);
	ck_assert_uint_eq(res.count[DIFF_ATTR], 1);
}
END_TEST

START_TEST(boundary_kernel_split)
{
	/*  AAAAAAAA        shadow: one VMA
	 *  AAAAbbbb        kernel: two, same attributes: BOUNDARY at 4,
	 *                  not counted in the return value
	 */
	smap(0, 8, RW, 0);
	kanon(0, 4, KRW);
	kanon(4, 8, KRW);
	ck_assert_int_eq(diff_all(), 0);
	ck_assert_uint_eq(res.count[DIFF_BOUNDARY], 1);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_uint_eq(res.items[0].kind, DIFF_BOUNDARY);
	ck_assert_uint_eq(res.items[0].start, A(4));
	ck_assert_uint_eq(res.items[0].end, A(4));
}
END_TEST

START_TEST(boundary_shadow_split)
{
	/*  AAAAbbbb        shadow: two VMAs (rw | rw NORESERVE: visible
	 *                  attributes equal)
	 *  AAAAAAAA        kernel: one: BOUNDARY at 4
	 */
	smap(0, 4, RW, 0);
	smap(4, 4, RW, MAP_NORESERVE);
	kanon(0, 8, KRW);
	ck_assert_int_eq(diff_all(), 0);
	ck_assert_uint_eq(res.count[DIFF_BOUNDARY], 1);
	ck_assert_uint_eq(res.items[0].start, A(4));
}
END_TEST

START_TEST(boundary_at_span_start_not_counted)
{
	/*  AAAAAAAA shadow, AAAAbbbb kernel, diff over [4, 8) only: the
	 *  boundary at 4 is the span's edge: nothing
	 */
	smap(0, 8, RW, 0);
	kanon(0, 4, KRW);
	kanon(4, 8, KRW);
	ck_assert_int_eq(shadow_diff(&sh, &kv, A(4), A(8), &res), 0);
	ck_assert_uint_eq(res.count[DIFF_BOUNDARY], 0);
}
END_TEST

START_TEST(span_limits_the_diff)
{
	/*  AAAA....CCCC    shadow
	 *  ....bbbb....    kernel: over [4,8) only UNKNOWN; over [0,4) only
	 *                  MISSING
	 */
	smap(0, 4, RW, 0);
	smap(8, 4, RW, 0);
	kanon(4, 8, KR);
	ck_assert_int_eq(shadow_diff(&sh, &kv, A(4), A(8), &res), 1);
	ck_assert_uint_eq(res.count[DIFF_UNKNOWN_TO_SHADOW], 1);
	ck_assert_uint_eq(res.count[DIFF_MISSING_IN_KERNEL], 0);
	ck_assert_int_eq(shadow_diff(&sh, &kv, A(0), A(4), &res), 1);
	ck_assert_uint_eq(res.count[DIFF_MISSING_IN_KERNEL], 1);
	ck_assert_uint_eq(res.count[DIFF_UNKNOWN_TO_SHADOW], 0);
	/* A span cutting a VMA: only the part inside counts. */
	ck_assert_int_eq(shadow_diff(&sh, &kv, A(2), A(6), &res), 2);
	ck_assert_uint_eq(res.items[0].start, A(2));
	ck_assert_uint_eq(res.items[0].end, A(4));
	ck_assert_uint_eq(res.items[1].start, A(4));
	ck_assert_uint_eq(res.items[1].end, A(6));
	ck_assert_int_eq(diff_all(), 3);
}
END_TEST

START_TEST(contiguous_items_coalesce)
{
	/*  AAAAbbbb        shadow: two VMAs (rw | rw NORESERVE)
	 *  ........        kernel: one MISSING item [0,8), not two
	 */
	smap(0, 4, RW, 0);
	smap(4, 4, RW, MAP_NORESERVE);
	ck_assert_int_eq(diff_all(), 1);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_uint_eq(res.items[0].end, A(8));
	/* ... but not across a change of flags */
	smap(8, 4, PROT_READ, 0);
	ck_assert_int_eq(diff_all(), 2);
}
END_TEST

START_TEST(capacity_counts_beyond)
{
	/*  A.b.C.d.        shadow: four VMAs, kernel nothing: with room for
	 *                  one item, four are counted, one stored
	 */
	for (int i = 0; i < 4; i++)
		smap(2 * (uint64_t)i, 1, RW, 0);
	struct diff_item one[1];
	struct diff_result small = { .items = one, .cap = 1 };
	ck_assert_int_eq(shadow_diff(&sh, &kv, 0, UINT64_MAX, &small), 4);
	ck_assert_uint_eq(small.n, 1);
	ck_assert_uint_eq(small.count[DIFF_MISSING_IN_KERNEL], 4);
	struct diff_result none = { .items = NULL, .cap = 0 };
	ck_assert_int_eq(shadow_diff(&sh, &kv, 0, UINT64_MAX, &none), 4);
	ck_assert_uint_eq(none.n, 0);
}
END_TEST

START_TEST(all_kinds_at_once)
{
	/*  0   4   8   12  16
	 *  AAAAAAAAbbbb....CCCC        shadow: rw, r, rw
	 *  ..aaBBBBccccdddd....        kernel: [2,4) rw, [4,8) rw, [8,12) rw,
	 *                              [12,16) r
	 *  MISSING [0,2), BOUNDARY 4, ATTR [8,12), UNKNOWN [12,16),
	 *  MISSING [16,20)
	 */
	smap(0, 8, RW, 0);
	smap(8, 4, PROT_READ, 0);
	smap(16, 4, RW, 0);
	kanon(2, 4, KRW);
	kanon(4, 8, KRW);
	kanon(8, 12, KRW);
	kanon(12, 16, KR);
	ck_assert_int_eq(diff_all(), 4);
	ck_assert_uint_eq(res.count[DIFF_MISSING_IN_KERNEL], 2);
	ck_assert_uint_eq(res.count[DIFF_ATTR], 1);
	ck_assert_uint_eq(res.count[DIFF_UNKNOWN_TO_SHADOW], 1);
	ck_assert_uint_eq(res.count[DIFF_BOUNDARY], 1);
	static const struct { uint8_t kind; uint64_t s, e; } want[] = {
		{ DIFF_MISSING_IN_KERNEL, 0, 2 }, { DIFF_BOUNDARY, 4, 4 },
		{ DIFF_ATTR, 8, 12 }, { DIFF_UNKNOWN_TO_SHADOW, 12, 16 },
		{ DIFF_MISSING_IN_KERNEL, 16, 20 },
	};
	ck_assert_uint_eq(res.n, 5);
	for (int i = 0; i < 5; i++) {
		ck_assert_uint_eq(res.items[i].kind, want[i].kind);
		ck_assert_uint_eq(res.items[i].start, A(want[i].s));
		ck_assert_uint_eq(res.items[i].end, A(want[i].e));
	}
}
END_TEST

/* ---- adopt --------------------------------------------------------------- */

/* After adopting, a second diff over everything finds nothing. */
static void expect_agreement(void)
{
	expect_valid();
	ck_assert_int_eq(diff_all(), 0);
	ck_assert_uint_eq(res.count[DIFF_BOUNDARY], 0);
}

START_TEST(adopt_kernel_split_keeps_hidden)
{
	/*  AAAAAAAA        shadow: rw locked, written (anon_vma), one region
	 *  AAAAbbbb        kernel: split at 4 (e.g. by an mlock we missed)
	 *  AAAAbbbb        adopted: both keep SV_LOCKED|SV_ACCOUNT and the
	 *                  anon_vma; still one region; one boundary miss
	 */
	smap(0, 8, RW, MAP_LOCKED);
	ck_assert_int_eq(shadow_touch(&sh, A(0), true), 0);
	struct shadow_vma before = *shadow_find(&sh, A(0));
	kanon(0, 4, KRW);
	kanon(4, 8, KRW);
	ck_assert_int_eq(shadow_diff_adopt(&sh, &kv, 0, UINT64_MAX,
					   SHADOW_ORIGIN_FOREIGN), 0);
	expect_agreement();
	ck_assert_uint_eq(sh.boundary_misses, 1);
	ck_assert_uint_eq(sh.c.map_count, 2);
	for (int p = 0; p < 8; p += 4) {
		struct shadow_vma *v = shadow_find(&sh, A(p));
		ck_assert_uint_eq(v->flags, before.flags);
		ck_assert_uint_eq(v->anon_id, before.anon_id);
		ck_assert_uint_eq(v->pgoff, A(p) >> 12);
	}
	ck_assert_uint_eq(sh.c.nregions, 1);
	ck_assert_uint_eq(shadow_region_find(&sh, A(5))->stack_id, 5);
	ck_assert_uint_eq(sh.c.locked_vm, 8);
}
END_TEST

START_TEST(adopt_kernel_merged)
{
	/*  AAAAbbbb        shadow: two VMAs
	 *  AAAAAAAA        kernel: one; adopted: one VMA, two regions
	 */
	smap(0, 4, RW, 0);
	smap(4, 4, RW, MAP_NORESERVE);
	kanon(0, 8, KRW);
	ck_assert_int_eq(shadow_diff_adopt(&sh, &kv, 0, UINT64_MAX,
					   SHADOW_ORIGIN_FOREIGN), 0);
	expect_agreement();
	ck_assert_uint_eq(sh.c.map_count, 1);
	ck_assert_uint_eq(sh.c.nregions, 2);
	ck_assert_uint_ge(sh.boundary_misses, 1);
}
END_TEST

START_TEST(adopt_unknown_pages_get_region)
{
	/*  ........        shadow: nothing
	 *  ..AAAA..        kernel: a mapping nobody told us about: adopted
	 *                  with a region of the given origin
	 */
	kanon(2, 6, KRW);
	ck_assert_int_eq(shadow_diff_adopt(&sh, &kv, 0, UINT64_MAX,
					   SHADOW_ORIGIN_FOREIGN), 0);
	expect_agreement();
	struct shadow_region *r = shadow_region_find(&sh, A(3));
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->origin, SHADOW_ORIGIN_FOREIGN);
	ck_assert_uint_eq(r->start, A(2));
	ck_assert_uint_eq(r->end, A(6));
	ck_assert_uint_eq(shadow_find(&sh, A(2))->pgoff, A(2) >> 12);
	/* Pages the shadow never knew are absorbed, not a boundary it had
	 * wrong: no boundary miss. */
	ck_assert_uint_eq(sh.boundary_misses, 0);
}
END_TEST

START_TEST(adopt_missing_pages_removed)
{
	/*  AAAAAAAA        shadow
	 *  AA....AA        kernel: [2,6) gone: removed, its region cut
	 */
	smap(0, 8, RW, 0);
	kanon(0, 2, KRW);
	kanon(6, 8, KRW);
	ck_assert_int_eq(shadow_diff_adopt(&sh, &kv, 0, UINT64_MAX,
					   SHADOW_ORIGIN_FOREIGN), 0);
	expect_agreement();
	ck_assert_ptr_null(shadow_find(&sh, A(3)));
	ck_assert_ptr_null(shadow_region_find(&sh, A(3)));
	ck_assert_uint_eq(sh.c.nregions, 2);
	ck_assert_uint_eq(sh.c.total_vm, 4);
}
END_TEST

START_TEST(adopt_attr_keeps_hidden)
{
	/*  AAAA rw (ac, anon_vma)  kernel: r   ->  r, still ac, same anon_vma
	 */
	smap(0, 4, RW, 0);
	ck_assert_int_eq(shadow_touch(&sh, A(0), true), 0);
	uint32_t id = shadow_find(&sh, A(0))->anon_id;
	kanon(0, 4, KR);
	ck_assert_int_eq(shadow_diff_adopt(&sh, &kv, 0, UINT64_MAX,
					   SHADOW_ORIGIN_FOREIGN), 0);
	expect_agreement();
	struct shadow_vma *v = shadow_find(&sh, A(0));
	ck_assert_uint_eq(v->flags & SV_PROT_MASK, SV_READ);
	ck_assert_uint_eq(v->flags & SV_ACCOUNT, SV_ACCOUNT);
	ck_assert_uint_eq(v->anon_id, id);
	ck_assert_uint_eq(sh.c.data_vm, 0);
}
END_TEST

START_TEST(adopt_file_keeps_file_id)
{
	/*  AAAAAAAA file (file_id 3, offsets 0..8)
	 *  AAAAbbbb        kernel split at 4: both keep file_id 3 and their
	 *                  offsets
	 */
	sfmap(0, 8, PROT_READ, 0);
	kfile(0, 4, KR, 0, sfile.dev, sfile.ino);
	kfile(4, 8, KR, 4, sfile.dev, sfile.ino);
	ck_assert_int_eq(shadow_diff_adopt(&sh, &kv, 0, UINT64_MAX,
					   SHADOW_ORIGIN_FOREIGN), 0);
	expect_agreement();
	ck_assert_uint_eq(shadow_find(&sh, A(4))->file_id, 3);
	ck_assert_uint_eq(shadow_find(&sh, A(4))->pgoff, 4);
	ck_assert_uint_eq(shadow_find(&sh, A(0))->file_id, 3);
}
END_TEST

START_TEST(adopt_agreeing_counts_nothing)
{
	/*  AAAA..bbbb      both sides agree: adopt changes nothing, no miss */
	smap(0, 4, RW, 0);
	smap(6, 4, PROT_READ, 0);
	kanon(0, 4, KRW);
	kanon(6, 10, KR);
	struct shadow_vma *a = shadow_find(&sh, A(0));
	ck_assert_int_eq(shadow_diff_adopt(&sh, &kv, 0, UINT64_MAX,
					   SHADOW_ORIGIN_FOREIGN), 0);
	expect_agreement();
	ck_assert_uint_eq(sh.boundary_misses, 0);
	ck_assert_ptr_eq(shadow_find(&sh, A(0)), a);
}
END_TEST

START_TEST(adopt_span_only)
{
	/*  AAAA....CCCC    shadow
	 *  ....bbbb....    kernel; adopt over [4,8) only: C and A untouched
	 *                  (the kernel view there says nothing)
	 */
	smap(0, 4, RW, 0);
	smap(8, 4, RW, 0);
	kanon(4, 8, KR);
	ck_assert_int_eq(shadow_diff_adopt(&sh, &kv, A(4), A(8),
					   SHADOW_ORIGIN_FOREIGN), 0);
	expect_valid();
	ck_assert_ptr_nonnull(shadow_find(&sh, A(0)));
	ck_assert_ptr_nonnull(shadow_find(&sh, A(5)));
	ck_assert_ptr_nonnull(shadow_find(&sh, A(8)));
	ck_assert_int_eq(shadow_diff(&sh, &kv, A(4), A(8), &res), 0);
}
END_TEST

START_TEST(adopt_many_entries)
{
	/*  200 kernel VMAs (more than one adopt chunk), the shadow knows
	 *  every other one: after adopt, full agreement
	 */
	for (uint64_t i = 0; i < 200; i++) {
		kanon(2 * i, 2 * i + 1, i % 3 ? KRW : KR);
		if (i % 2 == 0)
			smap(2 * i, 1, i % 3 ? RW : PROT_READ, 0);
	}
	ck_assert_int_eq(shadow_diff_adopt(&sh, &kv, 0, UINT64_MAX,
					   SHADOW_ORIGIN_FOREIGN), 0);
	expect_agreement();
	ck_assert_uint_eq(sh.c.map_count, 200);
}
END_TEST

/* ---- kernel: divergence behind the shadow's back ----------------------- */

static struct harness *h;

static void ksetup(void)
{
	h = calloc(1, sizeof(*h));
	ck_assert_ptr_nonnull(h);
	h_init(h, 32);
}

static void kteardown(void)
{
	h_fini(h);
	ck_assert_uint_eq(h->ta.live_objects, 0);
	free(h);
}

START_TEST(kernel_hidden_split_is_boundary_miss)
{
	/*  AAAAAAAA        both
	 *  AAbbCCCC        a raw madvise(DONTDUMP) on [2,4) the shadow did not
	 *                  see: only boundaries differ (h_compare 1);
	 *                  h_adopt() takes them, counting boundary misses
	 */
	ck_assert_int_gt(h_mmap(h, 0, 8, RW, MAP_PRIVATE | MAP_FIXED), 0);
	ck_assert_int_eq(h_compare(h, NULL), 0);
	ck_assert_int_eq(madvise((void *)h_addr(h, 2), 2 * PG, MADV_DONTDUMP),
			 0);
	struct diff_item it[8];
	struct diff_result r = { .items = it, .cap = 8 };
	ck_assert_int_eq(h_compare(h, &r), 1);
	ck_assert_uint_eq(r.count[DIFF_BOUNDARY], 2);
	uint32_t m0 = h->sh.boundary_misses;
	h_adopt(h);
	ck_assert_msg(h_compare(h, NULL) == 0, "%s", h->why);
	ck_assert_uint_gt(h->sh.boundary_misses, m0);
	ck_assert_uint_eq(h->sh.c.map_count, 3);
	ck_assert_uint_eq(h->sh.c.nregions, 1);
}
END_TEST

START_TEST(kernel_hidden_mprotect_is_attr)
{
	/*  AAAAAAAA        both
	 *  AAbbAAAA        a raw mprotect(PROT_READ) on [2,4): ATTR
	 *                  (h_compare 2); adopted: agreement
	 */
	ck_assert_int_gt(h_mmap(h, 0, 8, RW, MAP_PRIVATE | MAP_FIXED), 0);
	ck_assert_int_eq(mprotect((void *)h_addr(h, 2), 2 * PG, PROT_READ), 0);
	struct diff_item it[8];
	struct diff_result r = { .items = it, .cap = 8 };
	ck_assert_int_eq(h_compare(h, &r), 2);
	ck_assert_uint_eq(r.count[DIFF_ATTR], 1);
	h_adopt(h);
	ck_assert_msg(h_compare(h, NULL) == 0, "%s", h->why);
}
END_TEST

START_TEST(kernel_hidden_mmap_and_munmap)
{
	/*  AAAA....        shadow knows A
	 *  ....bbbb        raw munmap of A, raw mmap at 4: MISSING and
	 *                  UNKNOWN; adopted: the new pages are foreign
	 */
	ck_assert_int_gt(h_mmap(h, 0, 4, RW, MAP_PRIVATE | MAP_FIXED), 0);
	ck_assert_int_eq(munmap((void *)h_addr(h, 0), 4 * PG), 0);
	ck_assert(mmap((void *)h_addr(h, 4), 4 * PG, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
		  MAP_FAILED);
	struct diff_item it[8];
	struct diff_result r = { .items = it, .cap = 8 };
	ck_assert_int_eq(h_compare(h, &r), 2);
	ck_assert_uint_eq(r.count[DIFF_MISSING_IN_KERNEL], 1);
	ck_assert_uint_eq(r.count[DIFF_UNKNOWN_TO_SHADOW], 1);
	h_adopt(h);
	ck_assert_msg(h_compare(h, NULL) == 0, "%s", h->why);
	ck_assert_uint_eq(shadow_region_find(&h->sh, h_addr(h, 4))->origin,
			  SHADOW_ORIGIN_FOREIGN);
	ck_assert_ptr_null(shadow_region_find(&h->sh, h_addr(h, 0)));
}
END_TEST

static Suite *diff_suite(void)
{
	Suite *s = suite_create("diff");
	TCase *tc;

	tc = tcase_create("classify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, identical_views);
	tcase_add_test(tc, missing_in_kernel);
	tcase_add_test(tc, unknown_to_shadow);
	tcase_add_test(tc, partial_coverage);
	tcase_add_test(tc, attr_prot);
	tcase_add_test(tc, attr_part_of_vma);
	tcase_add_test(tc, attr_shared_vs_private);
	tcase_add_test(tc, attr_file_offset_and_inode);
	tcase_add_test(tc, attr_file_offset_after_split);
	tcase_add_test(tc, shared_anon_unknown_inode_agrees);
	tcase_add_test(tc, boundary_kernel_split);
	tcase_add_test(tc, boundary_shadow_split);
	tcase_add_test(tc, boundary_at_span_start_not_counted);
	tcase_add_test(tc, span_limits_the_diff);
	tcase_add_test(tc, contiguous_items_coalesce);
	tcase_add_test(tc, capacity_counts_beyond);
	tcase_add_test(tc, all_kinds_at_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("adopt");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, adopt_kernel_split_keeps_hidden);
	tcase_add_test(tc, adopt_kernel_merged);
	tcase_add_test(tc, adopt_unknown_pages_get_region);
	tcase_add_test(tc, adopt_missing_pages_removed);
	tcase_add_test(tc, adopt_attr_keeps_hidden);
	tcase_add_test(tc, adopt_file_keeps_file_id);
	tcase_add_test(tc, adopt_agreeing_counts_nothing);
	tcase_add_test(tc, adopt_span_only);
	tcase_add_test(tc, adopt_many_entries);
	suite_add_tcase(s, tc);

	tc = tcase_create("kernel");
	tcase_add_checked_fixture(tc, ksetup, kteardown);
	tcase_add_test(tc, kernel_hidden_split_is_boundary_miss);
	tcase_add_test(tc, kernel_hidden_mprotect_is_attr);
	tcase_add_test(tc, kernel_hidden_mmap_and_munmap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(diff_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
