/*
 * test_shadow_unmap.c - munmap(2) in the shadow against the real kernel:
 * holes are fine, VMAs at the edges are split, several VMAs and holes go in
 * one call, nothing merges; regions are split by partial unmaps; every
 * EINVAL.  Same harness and assertions as every scenario test (see
 * optest.h): errno predicted, layout drawn for both sides, h_compare()
 * exact, smaps VmFlags equal, plus the change record (pieces, split/removed
 * counts).
 */
#include "optest.h"

/* ---- basic ------------------------------------------------------------- */

START_TEST(unmap_whole_vma)
{
	/*  0   4   8
	 *  AAAA....        munmap [0, 4)
	 *  ........
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_munmap(h, 0, 4), 0);
	EXPECT("");
	ck_assert_uint_eq(h->rec.vmas_removed, 1);
	ck_assert_uint_eq(h->rec.vmas_split, 0);
	ck_assert_int_eq(npieces(SHADOW_PIECE_UNMAPPED), 1);
	const struct shadow_piece *p = piece(SHADOW_PIECE_UNMAPPED, 0);
	ck_assert_uint_eq(p->start, P(0));
	ck_assert_uint_eq(p->end, P(4));
	ck_assert_uint_eq(p->stack_id, 1);
	ck_assert_uint_eq(p->origin, SHADOW_ORIGIN_TRACKED);
	ck_assert_uint_eq(h->sh.c.nregions, 0);
	ck_assert_uint_eq(h->sh.c.total_vm, 0);
}
END_TEST

START_TEST(unmap_hole_is_fine)
{
	/*  ........        munmap of nothing: 0, a HOLE piece, no change */
	ck_assert_int_eq(h_munmap(h, 0, 8), 0);
	EXPECT("");
	ck_assert_int_eq(npieces(SHADOW_PIECE_UNMAPPED), 0);
	ck_assert_int_eq(npieces(SHADOW_PIECE_HOLE), 1);
	ck_assert_uint_eq(piece(SHADOW_PIECE_HOLE, 0)->start, P(0));
	ck_assert_uint_eq(piece(SHADOW_PIECE_HOLE, 0)->end, P(8));
}
END_TEST

START_TEST(unmap_twice)
{
	/*  AAAA -> .... -> ....   the second munmap finds only a hole */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_munmap(h, 0, 4), 0);
	ck_assert_int_eq(h_munmap(h, 0, 4), 0);
	EXPECT("");
	ck_assert_int_eq(npieces(SHADOW_PIECE_UNMAPPED), 0);
	ck_assert_int_eq(npieces(SHADOW_PIECE_HOLE), 1);
}
END_TEST

START_TEST(unmap_head)
{
	/*  0   4   8
	 *  AAAAAAAA        munmap [0, 2)
	 *  ..AAAAAA        the remnant's pgoff follows its start
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_munmap(h, 0, 2), 0);
	EXPECT("..AAAAAA");
	ck_assert_uint_eq(svma(2)->pgoff, P(2) >> 12);
	ck_assert_uint_eq(h->rec.vmas_split, 1);
	ck_assert_uint_eq(h->rec.vmas_removed, 1);
	ck_assert_uint_eq(shadow_region_find(&h->sh, P(2))->start, P(2));
}
END_TEST

START_TEST(unmap_tail)
{
	/*  AAAAAAAA -> AAAAAA..   */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_munmap(h, 6, 2), 0);
	EXPECT("AAAAAA");
	ck_assert_uint_eq(svma(0)->pgoff, P(0) >> 12);
	ck_assert_uint_eq(shadow_region_find(&h->sh, P(0))->end, P(6));
}
END_TEST

START_TEST(unmap_middle_splits)
{
	/*  0   4   8
	 *  AAAAAAAA        munmap [2, 4): split at both ends
	 *  AA..bbbb
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_munmap(h, 2, 2), 0);
	EXPECT("AA..bbbb");
	ck_assert_uint_eq(h->rec.vmas_split, 2);
	ck_assert_uint_eq(h->rec.vmas_removed, 1);
	ck_assert_uint_eq(h->rec.vmas_merged, 0);
	ck_assert_uint_eq(svma(4)->pgoff, P(4) >> 12);
	ck_assert_uint_eq(h->sh.c.map_count, 2);
	ck_assert_uint_eq(h->sh.c.total_vm, 6);
	/* The region is split too: two pieces of the same call. */
	ck_assert_uint_eq(h->sh.c.nregions, 2);
	struct shadow_region *a = shadow_region_find(&h->sh, P(0));
	struct shadow_region *b = shadow_region_find(&h->sh, P(4));
	ck_assert_uint_eq(a->end, P(2));
	ck_assert_uint_eq(b->start, P(4));
	ck_assert_uint_eq(b->end, P(8));
	ck_assert_uint_eq(a->stack_id, b->stack_id);
}
END_TEST

START_TEST(unmap_middle_of_written_keeps_anon_vma)
{
	/*  AAAAAAAA written, munmap [2, 4): both halves keep the anon_vma,
	 *  AA..bbbb        refilling the hole merges all back
	 *  AAAAAAAA
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	h_touch(h, 0, true);
	uint32_t id = svma(0)->anon_id;
	ck_assert_int_eq(h_munmap(h, 2, 2), 0);
	EXPECT("AA..bbbb");
	ck_assert_uint_eq(svma(4)->anon_id, id);
	OK(h_mmap(h, 2, 2, RW, FIX));
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(unmap_across_several_and_holes)
{
	/*  0   4   8   12  16
	 *  AAA.bbbCCC..dddd    A rw, b r, C rwx, d rw
	 *  A.............dd    munmap [1, 14): holes inside are fine
	 */
	OK(h_mmap(h, 0, 3, RW, FIX));
	OK(h_mmap(h, 4, 3, PROT_READ, FIX));
	OK(h_mmap(h, 7, 3, RW | PROT_EXEC, FIX));
	OK(h_mmap(h, 12, 4, RW, FIX));
	EXPECT("AAA.bbbCCC..dddd");
	ck_assert_int_eq(h_munmap(h, 1, 13), 0);
	EXPECT("A.............bb");
	ck_assert_uint_eq(h->rec.vmas_split, 2);
	ck_assert_uint_eq(h->rec.vmas_removed, 4);
	ck_assert_uint_eq(h->rec.vmas_merged, 0);
	ck_assert_int_eq(npieces(SHADOW_PIECE_UNMAPPED), 4);
	ck_assert_int_eq(npieces(SHADOW_PIECE_HOLE), 2);
	ck_assert_uint_eq(piece(SHADOW_PIECE_HOLE, 0)->start, P(3));
	ck_assert_uint_eq(piece(SHADOW_PIECE_HOLE, 0)->end, P(4));
	ck_assert_uint_eq(piece(SHADOW_PIECE_HOLE, 1)->start, P(10));
	ck_assert_uint_eq(piece(SHADOW_PIECE_HOLE, 1)->end, P(12));
	ck_assert_uint_eq(piece(SHADOW_PIECE_UNMAPPED, 0)->start, P(1));
	ck_assert_uint_eq(piece(SHADOW_PIECE_UNMAPPED, 0)->end, P(3));
	ck_assert_uint_eq(piece(SHADOW_PIECE_UNMAPPED, 3)->start, P(12));
	ck_assert_uint_eq(piece(SHADOW_PIECE_UNMAPPED, 3)->end, P(14));
	ck_assert_uint_eq(h->sh.c.total_vm, 3);
	ck_assert_uint_eq(h->sh.c.exec_vm, 0);
}
END_TEST

START_TEST(unmap_range_starting_in_hole)
{
	/*  ..AAAA..bbbb    munmap [0, 10): starts and runs through holes
	 *  ..........bb
	 */
	OK(h_mmap(h, 2, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_munmap(h, 0, 10), 0);
	EXPECT("..........AA");
}
END_TEST

START_TEST(unmap_unaligned_len_rounds_up)
{
	/*  AAAAAAAA        munmap(page 0, 1 page + 1 byte) takes 2 pages
	 *  ..AAAAAA
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_munmap_addr(h, P(0), H_PAGE + 1), 0);
	EXPECT("..AAAAAA");
	ck_assert_int_eq(h_munmap_addr(h, P(7), 1), 0);
	EXPECT("..AAAAA");
}
END_TEST

START_TEST(unmap_never_merges)
{
	/*  0   4   8   12
	 *  AAAAbbbbCCCC    rw | r | rw
	 *  AAAA....cccc    munmap the middle: A and C are not adjacent, and
	 *                  nothing merges
	 *  AAAAAAAAAAAA    (a new rw mapping in the hole merges all three)
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	ck_assert_int_eq(h_munmap(h, 4, 4), 0);
	EXPECT("AAAA....bbbb");
	ck_assert_uint_eq(h->rec.vmas_merged, 0);
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAAAAA");
}
END_TEST

START_TEST(unmap_file_middle_keeps_offsets)
{
	/*  0   4   8
	 *  AAAAAAAA        file offsets 0..8
	 *  AA..bbbb        the upper part still maps offset 4
	 */
	struct shadow_file f;
	make_file(8);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 8, PROT_READ, FIX, fd, 0, &f));
	ck_assert_int_eq(h_munmap(h, 2, 2), 0);
	EXPECT("AA..bbbb");
	ck_assert_uint_eq(svma(4)->pgoff, 4);
	ck_assert_uint_eq(svma(4)->file_id, 1);
}
END_TEST

START_TEST(unmap_shared_anon_middle_keeps_offsets)
{
	/*  AAAAAAAA        shared anonymous (shmem): offsets are shown
	 *  AA..bbbb        upper part at offset 0x4000
	 */
	OK(h_mmap(h, 0, 8, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_munmap(h, 2, 2), 0);
	EXPECT("AA..bbbb");
	ck_assert_uint_eq(svma(4)->pgoff, 4);
	/* Both halves are still the same shmem object. */
	ck_assert_uint_eq(svma(0)->file_id, svma(4)->file_id);
}
END_TEST

START_TEST(unmap_locked_counts)
{
	/*  AAAAAAAA locked, munmap [0, 2): locked_vm follows */
	OK(h_mmap(h, 0, 8, RW, FIX | MAP_LOCKED));
	ck_assert_uint_eq(h->sh.c.locked_vm, 8);
	ck_assert_int_eq(h_munmap(h, 0, 2), 0);
	EXPECT("..AAAAAA");
	ck_assert_uint_eq(h->sh.c.locked_vm, 6);
}
END_TEST

/* ---- regions ----------------------------------------------------------- */

START_TEST(unmap_across_two_regions_of_one_vma)
{
	/*  0   4   8
	 *  AAAAAAAA        two mmaps, one VMA, two regions [0,4) [4,8)
	 *  AA....bb        munmap [2, 6): one piece from each region
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAA");
	ck_assert_int_eq(h_munmap(h, 2, 4), 0);
	EXPECT("AA....bb");
	ck_assert_int_eq(npieces(SHADOW_PIECE_UNMAPPED), 2);
	ck_assert_uint_eq(piece(SHADOW_PIECE_UNMAPPED, 0)->start, P(2));
	ck_assert_uint_eq(piece(SHADOW_PIECE_UNMAPPED, 0)->end, P(4));
	ck_assert_uint_eq(piece(SHADOW_PIECE_UNMAPPED, 1)->start, P(4));
	ck_assert_uint_eq(piece(SHADOW_PIECE_UNMAPPED, 1)->end, P(6));
	ck_assert_uint_eq(h->sh.c.nregions, 2);
	ck_assert_uint_eq(shadow_region_find(&h->sh, P(0))->end, P(2));
	ck_assert_uint_eq(shadow_region_find(&h->sh, P(6))->start, P(6));
}
END_TEST

START_TEST(unmap_piece_keeps_old_flags_and_name)
{
	/*  AAAA shared anon: the UNMAPPED piece names it */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_munmap(h, 0, 4), 0);
	EXPECT("");
	ck_assert_int_eq(npieces(SHADOW_PIECE_UNMAPPED), 1);
	ck_assert_uint_eq(piece(SHADOW_PIECE_UNMAPPED, 0)->name,
			  SHADOW_NAME_SHMEM);
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

START_TEST(err_unaligned_start)
{
	/*  AAAA            munmap(page 0 + 1): EINVAL, nothing changes */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_munmap_addr(h, P(0) + 1, H_PAGE), -EINVAL);
	ck_assert_int_eq(h_munmap_addr(h, P(1) + 2048, H_PAGE), -EINVAL);
	EXPECT("AAAA");
}
END_TEST

START_TEST(err_len_zero)
{
	/*  AAAA            munmap len 0: EINVAL (mapped or not) */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_munmap(h, 0, 0), -EINVAL);
	ck_assert_int_eq(h_munmap(h, 8, 0), -EINVAL);
	EXPECT("AAAA");
}
END_TEST

START_TEST(err_out_of_range)
{
	/*  start past TASK_SIZE, len past TASK_SIZE - start, len 2^64-1:
	 *  EINVAL
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_munmap_addr(h, 0x800000000000ull, H_PAGE),
			 -EINVAL);
	ck_assert_int_eq(h_munmap_addr(h, 0x7ffffffff000ull, H_PAGE),
			 -EINVAL);
	ck_assert_int_eq(h_munmap_addr(h, P(0), UINT64_MAX), -EINVAL);
	ck_assert_int_eq(h_munmap_addr(h, P(0), 0x7ffffffff000ull), -EINVAL);
	ck_assert_int_eq(h_munmap_addr(h, 0xfffffffffffff000ull, H_PAGE),
			 -EINVAL);
	EXPECT("AAAA");
}
END_TEST

START_TEST(unmap_len_rounding_to_task_size)
{
	/*  A length whose page rounding reaches exactly TASK_SIZE - start is
	 *  fine: munmap [page 4, TASK_SIZE) succeeds (only holes above the
	 *  window... and whatever else lives up there, so use the top page
	 *  only)
	 */
	ck_assert_int_eq(h_munmap_addr(h, 0x7ffffffff000ull - H_PAGE, H_PAGE),
			 0);
	ck_assert_int_eq(h_munmap_addr(h, 0x7ffffffff000ull - H_PAGE, 1), 0);
	EXPECT("");
}
END_TEST

static Suite *unmap_suite(void)
{
	Suite *s = suite_create("shadow_unmap");
	TCase *tc;

	tc = tcase_create("basic");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, unmap_whole_vma);
	tcase_add_test(tc, unmap_hole_is_fine);
	tcase_add_test(tc, unmap_twice);
	tcase_add_test(tc, unmap_head);
	tcase_add_test(tc, unmap_tail);
	tcase_add_test(tc, unmap_middle_splits);
	tcase_add_test(tc, unmap_middle_of_written_keeps_anon_vma);
	tcase_add_test(tc, unmap_across_several_and_holes);
	tcase_add_test(tc, unmap_range_starting_in_hole);
	tcase_add_test(tc, unmap_unaligned_len_rounds_up);
	tcase_add_test(tc, unmap_never_merges);
	tcase_add_test(tc, unmap_file_middle_keeps_offsets);
	tcase_add_test(tc, unmap_shared_anon_middle_keeps_offsets);
	tcase_add_test(tc, unmap_locked_counts);
	suite_add_tcase(s, tc);

	tc = tcase_create("regions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, unmap_across_two_regions_of_one_vma);
	tcase_add_test(tc, unmap_piece_keeps_old_flags_and_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, err_unaligned_start);
	tcase_add_test(tc, err_len_zero);
	tcase_add_test(tc, err_out_of_range);
	tcase_add_test(tc, unmap_len_rounding_to_task_size);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return optest_main(unmap_suite());
}
