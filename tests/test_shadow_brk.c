/*
 * test_shadow_brk.c - the brk(2) model in a pure shadow (no kernel: the
 * tests play the kernel's answers).  brk never fails with an errno; the
 * shadow takes the break the kernel returned and applies the change:
 *
 *   first sight    remembers the break, models nothing
 *   grow           extends the heap VMA when its flags still match
 *                  (do_brk_flags: just_expand, never merges with the next
 *                  VMA), else adds a new anonymous VMA
 *   same page      only the byte break moves
 *   shrink         munmap of the whole pages past the new break
 *   failure        the kernel returned the old break: nothing changes
 *
 * Diagrams: one character a page from BASE, as in the op tests.
 */
#include <check.h>
#include <stdlib.h>

#include "harness.h"

#define PG 4096ull
#define BASE 0x555555000000ull
#define A(p) (BASE + (uint64_t)(p) * PG)
#define HEAP_FLAGS (SV_READ | SV_WRITE | SV_MAYREAD | SV_MAYWRITE | \
		    SV_MAYEXEC | SV_ACCOUNT)

static struct shadow sh;
static struct test_alloc ta;
static struct shadow_change rec;

static void setup(void)
{
	test_shadow_init(&sh, &ta);
}

static void teardown(void)
{
	shadow_destroy(&sh);
	ck_assert_uint_eq(ta.live_objects, 0);
}

/* Draw pages [0, n) from BASE like h_draw(). */
static const char *draw(int n)
{
	static char out[80];
	int idx = -1;
	uint64_t last = UINT64_MAX;
	for (int i = 0; i < n; i++) {
		struct shadow_vma *v = shadow_find(&sh, A(i));
		if (!v) {
			out[i] = '.';
			continue;
		}
		if (v->start != last) {
			idx++;
			last = v->start;
		}
		char c = (char)('A' + idx % 26);
		out[i] = idx % 2 ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = 0;
	return out;
}

static void expect_at(const char *want, int line)
{
	const char *why = NULL;
	ck_assert_msg(shadow_validate(&sh, &why) == 0, "line %d: %s", line,
		      why);
	ck_assert_msg(!strcmp(draw((int)strlen(want)), want),
		      "line %d: shadow %s, expected %s", line,
		      draw((int)strlen(want)), want);
}
#define EXPECT(want) expect_at((want), __LINE__)

/* brk(requested) with the kernel answering `result`. */
static uint64_t brk_to(uint64_t requested, uint64_t result)
{
	return shadow_brk(&sh, requested, result, &rec);
}

/* Start with the break at A(0) and nothing mapped. */
static void first_sight(void)
{
	ck_assert_uint_eq(brk_to(0, A(0)), A(0));
	ck_assert_uint_eq(sh.brk_start, A(0));
	ck_assert_uint_eq(sh.brk, A(0));
	EXPECT("........");
}

START_TEST(first_sight_models_nothing)
{
	/*  ........        brk(0) -> A(0): remembered, no VMA */
	first_sight();
	ck_assert_uint_eq(sh.c.map_count, 0);
	ck_assert_uint_eq(sh.c.nregions, 0);
}
END_TEST

START_TEST(grow_creates_heap_vma)
{
	/*  AAA.....        brk(A(2) + 100): pages 0..2 (the break is kept
	 *                  to the byte, the VMA to the page)
	 */
	first_sight();
	ck_assert_uint_eq(brk_to(A(2) + 100, A(2) + 100), A(2) + 100);
	EXPECT("AAA.....");
	struct shadow_vma *v = shadow_find(&sh, A(0));
	ck_assert_uint_eq(v->end, A(3));
	ck_assert_uint_eq(v->flags, HEAP_FLAGS);
	ck_assert_uint_eq(v->pgoff, A(0) >> 12);
	ck_assert_uint_eq(v->anon_id, SHADOW_ANON_NONE);
	ck_assert_uint_eq(sh.brk, A(2) + 100);
	ck_assert_uint_eq(sh.c.data_vm, 3);
	struct shadow_region *r = shadow_region_find(&sh, A(0));
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->call, SHADOW_CALL_BRK);
	ck_assert_uint_eq(r->end, A(3));
	ck_assert_uint_eq(rec.vmas_added, 1);
}
END_TEST

START_TEST(grow_extends_heap)
{
	/*  AAA.....  ->  AAAAAA..: the same VMA and the same region grow */
	first_sight();
	brk_to(A(3), A(3));
	struct shadow_vma *v = shadow_find(&sh, A(0));
	brk_to(A(6), A(6));
	EXPECT("AAAAAA..");
	ck_assert_ptr_eq(shadow_find(&sh, A(5)), v);
	ck_assert_uint_eq(sh.c.map_count, 1);
	ck_assert_uint_eq(sh.c.nregions, 1);
	ck_assert_uint_eq(shadow_region_find(&sh, A(0))->end, A(6));
}
END_TEST

START_TEST(grow_written_heap_extends)
{
	/*  AAA written (anon_vma)  ->  AAAAAA: still extended */
	first_sight();
	brk_to(A(3), A(3));
	ck_assert_int_eq(shadow_touch(&sh, A(0), true), 0);
	brk_to(A(6), A(6));
	EXPECT("AAAAAA..");
}
END_TEST

START_TEST(same_page_moves_break_only)
{
	/*  AAA.....        brk within the last page: only sh->brk moves */
	first_sight();
	brk_to(A(2) + 100, A(2) + 100);
	uint64_t count = sh.c.map_count;
	brk_to(A(2) + 4000, A(2) + 4000);
	EXPECT("AAA.....");
	ck_assert_uint_eq(sh.brk, A(2) + 4000);
	ck_assert_uint_eq(sh.c.map_count, count);
	brk_to(A(2) + 1, A(2) + 1);
	EXPECT("AAA.....");
	ck_assert_uint_eq(sh.brk, A(2) + 1);
}
END_TEST

START_TEST(shrink_unmaps_whole_pages)
{
	/*  AAAAAA..  brk(A(3) + 1)  AAAA....: PAGE_ALIGN(new) is kept
	 *            brk(A(0))      ........: back to the start
	 */
	first_sight();
	brk_to(A(6), A(6));
	ck_assert_uint_eq(brk_to(A(3) + 1, A(3) + 1), A(3) + 1);
	EXPECT("AAAA....");
	ck_assert_uint_eq(shadow_region_find(&sh, A(0))->end, A(4));
	brk_to(A(0), A(0));
	EXPECT("........");
	ck_assert_uint_eq(sh.c.map_count, 0);
	ck_assert_uint_eq(sh.c.nregions, 0);
	ck_assert_uint_eq(sh.c.data_vm, 0);
	/* and up again */
	brk_to(A(2), A(2));
	EXPECT("AA......");
}
END_TEST

START_TEST(failure_changes_nothing)
{
	/*  AAA.....        the kernel refused (returned the old break) */
	first_sight();
	brk_to(A(3), A(3));
	ck_assert_uint_eq(brk_to(A(100), A(3)), A(3));
	EXPECT("AAA.....");
	ck_assert_uint_eq(sh.brk, A(3));
	ck_assert_uint_eq(brk_to(1, A(3)), A(3)); /* below start_brk */
	EXPECT("AAA.....");
}
END_TEST

START_TEST(grow_after_mprotect_new_vma)
{
	/*  AAA.....        heap's last page made r: flags differ
	 *  AAbCCC..        growth adds a new VMA (C), no merge with b
	 */
	first_sight();
	brk_to(A(3), A(3));
	ck_assert_int_eq(shadow_protect(&sh, A(2), PG, PROT_READ, NULL), 0);
	EXPECT("AAb.....");
	brk_to(A(6), A(6));
	EXPECT("AAbCCC..");
	ck_assert_uint_eq(shadow_find(&sh, A(3))->flags, HEAP_FLAGS);
	ck_assert_uint_eq(shadow_find(&sh, A(3))->pgoff, A(3) >> 12);
	/* The heap region grows over the new VMA. */
	ck_assert_uint_eq(sh.c.nregions, 1);
	ck_assert_uint_eq(shadow_region_find(&sh, A(5))->call, SHADOW_CALL_BRK);
}
END_TEST

START_TEST(grow_after_madvise_new_vma)
{
	/*  AAA.....  heap MADV_DONTDUMP: hidden flags differ: new VMA */
	first_sight();
	brk_to(A(3), A(3));
	ck_assert_int_eq(shadow_advise(&sh, A(0), 3 * PG, MADV_DONTDUMP,
				       NULL), 0);
	brk_to(A(5), A(5));
	EXPECT("AAAbb...");
}
END_TEST

START_TEST(grow_after_mremap_home_again)
{
	/*  AAA.....        heap written, moved to page 20 (a faulted VMA keeps
	 *  ........  ...   its pgoff) and back to page 0: pgoff is linear
	 *  AAA.....        again, so growth extends it
	 *  AAAAA...
	 */
	first_sight();
	brk_to(A(3), A(3));
	ck_assert_int_eq(shadow_touch(&sh, A(0), true), 0);
	struct shadow_remap_args ra = { .old_addr = A(0), .old_len = 3 * PG,
					.new_len = 3 * PG,
					.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
					.new_addr = A(20) };
	ck_assert_int_eq(shadow_remap(&sh, &ra, NULL), (int64_t)A(20));
	EXPECT("........");
	ck_assert_uint_eq(shadow_find(&sh, A(20))->pgoff, A(0) >> 12);
	ra.old_addr = A(20);
	ra.new_addr = A(0);
	ck_assert_int_eq(shadow_remap(&sh, &ra, NULL), (int64_t)A(0));
	EXPECT("AAA.....");
	brk_to(A(5), A(5));
	EXPECT("AAAAA...");
}
END_TEST

START_TEST(grow_after_unfaulted_move_new_vma)
{
	/*  AAA.....        heap [0,3), not written, moved away to page 20
	 *  ........        (an unfaulted move takes pgoff 20 there); the break
	 *                  is still 3
	 *  ...AA...        brk(5): no heap VMA ends at the old break: a new
	 *                  VMA [3,5), and only [3,5) gets a region
	 */
	first_sight();
	brk_to(A(3), A(3));
	struct shadow_remap_args ra = { .old_addr = A(0), .old_len = 3 * PG,
					.new_len = 3 * PG,
					.flags = MREMAP_MAYMOVE | MREMAP_FIXED,
					.new_addr = A(20) };
	ck_assert_int_eq(shadow_remap(&sh, &ra, NULL), (int64_t)A(20));
	ck_assert_uint_eq(shadow_find(&sh, A(20))->pgoff, A(20) >> 12);
	brk_to(A(5), A(5));
	EXPECT("...AA...");
	ck_assert_uint_eq(shadow_find(&sh, A(3))->pgoff, A(3) >> 12);
	ck_assert_ptr_null(shadow_region_find(&sh, A(0)));
}
END_TEST

START_TEST(grow_after_hole_in_heap)
{
	/*  AAAAAA..        heap [0,6)
	 *  A.bbbb..        the program munmaps page 1
	 *  A.bbbbbb        brk(8): the last heap VMA ends at the break:
	 *                  extended; page 1 stays a hole without a region
	 */
	first_sight();
	brk_to(A(6), A(6));
	ck_assert_int_eq(shadow_unmap(&sh, A(1), PG, NULL), 0);
	EXPECT("A.bbbb..");
	brk_to(A(8), A(8));
	EXPECT("A.bbbbbb");
	ck_assert_ptr_null(shadow_region_find(&sh, A(1)));
}
END_TEST

START_TEST(grow_never_merges_with_next)
{
	/*  AAA...bb        an identical anonymous VMA b at page 6 (pgoff
	 *                  linear with the heap)
	 *  AAAAA.bb        growth to 5: extends the heap, b stays apart
	 */
	first_sight();
	brk_to(A(3), A(3));
	ck_assert_int_ge(shadow_map(&sh, &(struct shadow_map_args){
				.addr = A(6), .len = 2 * PG,
				.prot = PROT_READ | PROT_WRITE,
				.flags = MAP_PRIVATE | MAP_ANONYMOUS |
					 MAP_FIXED,
				.origin = SHADOW_ORIGIN_TRACKED }, NULL), 0);
	EXPECT("AAA...bb");
	brk_to(A(5), A(5));
	EXPECT("AAAAA.bb");
}
END_TEST

START_TEST(grow_locked_by_mlockall_future)
{
	/*  AAA.....        after mlockall(MCL_FUTURE) the new brk pages are
	 *  AAAbb...        locked (def_flags): a new VMA, populated
	 */
	first_sight();
	brk_to(A(3), A(3));
	ck_assert_int_eq(shadow_lockall(&sh, MCL_FUTURE, NULL), 0);
	brk_to(A(5), A(5));
	EXPECT("AAAbb...");
	struct shadow_vma *v = shadow_find(&sh, A(3));
	ck_assert_uint_eq(v->flags, HEAP_FLAGS | SV_LOCKED);
	ck_assert_uint_ne(v->anon_id, SHADOW_ANON_NONE);
	ck_assert_uint_eq(sh.c.locked_vm, 2);
	/* and growing again extends that locked VMA */
	brk_to(A(7), A(7));
	EXPECT("AAAbbbb.");
	ck_assert_int_eq(shadow_unlockall(&sh, NULL), 0);
	EXPECT("AAAAAAA.");
}
END_TEST

START_TEST(absorbed_heap_grows)
{
	/*  AAA.....        a [heap] found at init (baseline), then brk grows
	 *  AAAAA...        it: same VMA, and the baseline region grows over
	 *                  the new pages
	 */
	struct shadow_vma_desc d = { .start = A(0), .end = A(3),
				     .flags = SV_READ | SV_WRITE,
				     .name = SHADOW_NAME_HEAP };
	ck_assert_int_eq(shadow_absorb(&sh, &d, SHADOW_ORIGIN_BASELINE, 0), 0);
	ck_assert_uint_eq(brk_to(0, A(3)), A(3)); /* first sight */
	ck_assert_uint_eq(shadow_find(&sh, A(0))->flags, HEAP_FLAGS);
	brk_to(A(5), A(5));
	EXPECT("AAAAA...");
	ck_assert_uint_eq(sh.c.map_count, 1);
	struct shadow_region *r = shadow_region_find(&sh, A(4));
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->start, A(0));
	ck_assert_uint_eq(r->origin, SHADOW_ORIGIN_BASELINE);
	/* shrink below the absorbed part */
	brk_to(A(1), A(1));
	EXPECT("A.......");
}
END_TEST

START_TEST(shrink_record)
{
	/*  AAAAAA  brk back to 2: an UNMAPPED piece [2,6) of the heap region */
	first_sight();
	brk_to(A(6), A(6));
	brk_to(A(2), A(2));
	ck_assert_uint_eq(rec.npieces, 1);
	ck_assert_uint_eq(rec.pieces[0].kind, SHADOW_PIECE_UNMAPPED);
	ck_assert_uint_eq(rec.pieces[0].start, A(2));
	ck_assert_uint_eq(rec.pieces[0].end, A(6));
	ck_assert_uint_eq(rec.span_start, A(2));
	ck_assert_uint_eq(rec.span_end, A(6));
}
END_TEST

static Suite *brk_suite(void)
{
	Suite *s = suite_create("shadow_brk");
	TCase *tc;

	tc = tcase_create("grow");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, first_sight_models_nothing);
	tcase_add_test(tc, grow_creates_heap_vma);
	tcase_add_test(tc, grow_extends_heap);
	tcase_add_test(tc, grow_written_heap_extends);
	tcase_add_test(tc, same_page_moves_break_only);
	tcase_add_test(tc, grow_after_mprotect_new_vma);
	tcase_add_test(tc, grow_after_madvise_new_vma);
	tcase_add_test(tc, grow_after_mremap_home_again);
	tcase_add_test(tc, grow_never_merges_with_next);
	tcase_add_test(tc, grow_locked_by_mlockall_future);
	tcase_add_test(tc, absorbed_heap_grows);
	suite_add_tcase(s, tc);

	tc = tcase_create("shrink");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, shrink_unmaps_whole_pages);
	tcase_add_test(tc, failure_changes_nothing);
	tcase_add_test(tc, shrink_record);
	suite_add_tcase(s, tc);

	/* Last: these abort debug builds today (SHADOW_VALIDATE), which with
	 * CK_FORK=no ends the run. */
	tc = tcase_create("holes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, grow_after_hole_in_heap);
	tcase_add_test(tc, grow_after_unfaulted_move_new_vma);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(brk_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
