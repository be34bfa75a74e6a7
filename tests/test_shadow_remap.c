/*
 * test_shadow_remap.c - mremap(2) in the shadow against the real kernel:
 * same size, shrink across VMAs and holes, expand in place (merging with the
 * next VMA), moves (an unfaulted anonymous VMA takes pgoff = new_addr and
 * can merge at the destination, a faulted one cannot), MREMAP_FIXED over
 * existing mappings, MREMAP_DONTUNMAP, old_len 0 duplicates, the 6.17+
 * multi-VMA move, and every EFAULT / EINVAL / ENOMEM.  Same harness and
 * assertions as every scenario test (see optest.h).
 */
#include "optest.h"

#define MAYMOVE MREMAP_MAYMOVE
#define MFIXED (MREMAP_MAYMOVE | MREMAP_FIXED)
#define DONTUNMAP (MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)

/* Unmap (on both sides) a mapping the kernel placed outside the window. */
static void unmap_outside(int64_t addr, uint64_t npages)
{
	ck_assert_int_gt(addr, 0);
	ck_assert((uint64_t)addr < P(0) || (uint64_t)addr >= P(NPAGES));
	ck_assert_int_eq(h_munmap_addr(h, (uint64_t)addr, npages * H_PAGE), 0);
	ck_assert_ptr_null(shadow_find(&h->sh, (uint64_t)addr));
}

/* ---- resize: no move ----------------------------------------------------- */

START_TEST(same_size_returns_addr)
{
	/*  AAAA            mremap(0, 4, 4): returns addr, nothing changes */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, 0, 0), (int64_t)P(0));
	EXPECT("AAAA");
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MAYMOVE, 0), (int64_t)P(0));
	EXPECT("AAAA");
}
END_TEST

START_TEST(same_size_past_vma_end_unchecked)
{
	/*  AAAA....        mremap(2, 4, 4): only addr must be mapped; the
	 *                  range running past the VMA end is not checked
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 2, 4, 4, 0, 0), (int64_t)P(2));
	EXPECT("AAAA");
}
END_TEST

START_TEST(shrink_inside_vma)
{
	/*  AAAAAAAA  mremap(0, 8, 4)  ->  AAAA */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 8, 4, 0, 0), (int64_t)P(0));
	EXPECT("AAAA");
	ck_assert_uint_eq(shadow_region_find(&h->sh, P(0))->end, P(4));
	ck_assert_int_eq(npieces(SHADOW_PIECE_UNMAPPED), 1);
}
END_TEST

START_TEST(shrink_middle_of_vma)
{
	/*  AAAAAAAA  mremap(2, 4, 2)  ->  AAAA..bb: unmaps [4,6), splits */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 2, 4, 2, 0, 0), (int64_t)P(2));
	EXPECT("AAAA..bb");
}
END_TEST

START_TEST(shrink_across_vmas_and_holes)
{
	/*  0   4   8   12
	 *  AAAAbb..CCCC    mremap(0, 12, 2): munmap [2,12), across b, the
	 *  AA              hole and C
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 2, PROT_READ, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 12, 2, MAYMOVE, 0), (int64_t)P(0));
	EXPECT("AA");
	ck_assert_int_eq(npieces(SHADOW_PIECE_UNMAPPED), 3);
}
END_TEST

START_TEST(expand_in_place)
{
	/*  AAAA..  mremap(0, 4, 6)  ->  AAAAAA; the region grows */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, 0, 0), (int64_t)P(0));
	EXPECT("AAAAAA");
	ck_assert_uint_eq(h->sh.c.total_vm, 6);
	ck_assert_uint_eq(h->sh.c.nregions, 1);
	ck_assert_uint_eq(shadow_region_find(&h->sh, P(0))->end, P(6));
}
END_TEST

START_TEST(expand_in_place_unaligned_len)
{
	/*  AAAA.  mremap(0, 4 pages, 4 pages + 1)  ->  AAAAA (rounded up) */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mremap_addr(h, P(0), 4 * H_PAGE, 4 * H_PAGE + 1, 0,
				       0), (int64_t)P(0));
	EXPECT("AAAAA");
}
END_TEST

START_TEST(expand_in_place_merges_next)
{
	/*  0   4   8
	 *  AAAA..bbbb      mremap(0, 4, 6): grows to 6 and takes in b
	 *  AAAAAAAAAA
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 6, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, 0, 0), (int64_t)P(0));
	EXPECT("AAAAAAAAAA");
	ck_assert_uint_eq(h->sh.c.map_count, 1);
}
END_TEST

START_TEST(expand_in_place_next_written)
{
	/*  AAAA..bbbb      b written (anon_vma), A not: still merges
	 *  AAAAAAAAAA
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 6, 4, RW, FIX));
	h_touch(h, 6, true);
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, 0, 0), (int64_t)P(0));
	EXPECT("AAAAAAAAAA");
}
END_TEST

START_TEST(expand_in_place_both_written)
{
	/*  AAAA..bbbb      both written separately: grows, no merge
	 *  AAAAAAbbbb
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 6, 4, RW, FIX));
	h_touch(h, 0, true);
	h_touch(h, 6, true);
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, 0, 0), (int64_t)P(0));
	EXPECT("AAAAAAbbbb");
}
END_TEST

START_TEST(expand_in_place_next_differs)
{
	/*  AAAA..bbbb      b is r: grows, no merge
	 *  AAAAAAbbbb
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 6, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, 0, 0), (int64_t)P(0));
	EXPECT("AAAAAAbbbb");
}
END_TEST

START_TEST(expand_blocked_enomem)
{
	/*  AAAAbb          mremap(0, 4, 6) without MAYMOVE: b is in the way,
	 *                  ENOMEM
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 2, PROT_READ, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, 0, 0), -ENOMEM);
	EXPECT("AAAAbb");
}
END_TEST

START_TEST(expand_not_at_vma_end_enomem)
{
	/*  AAAAAAAA        mremap(0, 4, 6): the old range does not end at the
	 *                  VMA's end: no in-place growth, ENOMEM
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, 0, 0), -ENOMEM);
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(expand_blocked_maymove_moves)
{
	/*  AAAAbb          mremap(0, 4, 6, MAYMOVE): moved out of the window
	 *  ....AA          (the kernel's choice), A's pages gone
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	h_touch(h, 0, true);
	OK(h_mmap(h, 4, 2, PROT_READ, FIX));
	int64_t r = h_mremap(h, 0, 4, 6, MAYMOVE, 0);
	ck_assert_int_gt(r, 0);
	EXPECT("....AA");
	struct shadow_vma *v = shadow_find(&h->sh, (uint64_t)r);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v->start, (uint64_t)r);
	ck_assert_uint_eq(v->end, (uint64_t)r + 6 * H_PAGE);
	ck_assert_uint_eq(v->pgoff, P(0) >> 12); /* faulted: pgoff kept */
	/* The region moved with it and grew. */
	struct shadow_region *g = shadow_region_find(&h->sh, (uint64_t)r);
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(g->end, (uint64_t)r + 6 * H_PAGE);
	unmap_outside(r, 6);
}
END_TEST

START_TEST(expand_not_at_vma_end_maymove)
{
	/*  AAAAAAAA        mremap(0, 4, 6, MAYMOVE): [0,4) cannot grow in
	 *  ....AAAA        place (not at the VMA's end): it moves, grown
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	int64_t r = h_mremap(h, 0, 4, 6, MAYMOVE, 0);
	ck_assert_int_gt(r, 0);
	EXPECT("....AAAA");
	ck_assert_uint_eq(svma(4)->pgoff, P(4) >> 12);
	unmap_outside(r, 6);
}
END_TEST

START_TEST(expand_shared_anon_in_place)
{
	/*  AAAA shared anon  ->  AAAAAA (past the object's end: legal) */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, 0, 0), (int64_t)P(0));
	EXPECT("AAAAAA");
}
END_TEST

START_TEST(expand_locked_is_populated)
{
	/*  0   4   8   12
	 *  AAAA....bbbb    A and b rw locked: populated, two anon_vmas
	 *  AAAAAA..bbbb    grow A by 2 in place (the new part populated too)
	 *  AAAAAAAAbbbb    a locked rw mmap in [6,8): merges with A only
	 */
	OK(h_mmap(h, 0, 4, RW, FIX | MAP_LOCKED));
	OK(h_mmap(h, 8, 4, RW, FIX | MAP_LOCKED));
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, 0, 0), (int64_t)P(0));
	EXPECT("AAAAAA..bbbb");
	ck_assert_uint_eq(h->sh.c.locked_vm, 10);
	OK(h_mmap(h, 6, 2, RW, FIX | MAP_LOCKED));
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

/* ---- move ---------------------------------------------------------------- */

START_TEST(move_unfaulted_merges_at_dest)
{
	/*  0   4   8   12  16
	 *  AAAA........dddd    A rw unfaulted, d rw at 12
	 *  ........AAAAAAAA    mremap(0, 4, 4, FIXED, 8): A takes pgoff 8 at
	 *                      the destination and merges with d
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 12, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MFIXED, 8), (int64_t)P(8));
	EXPECT("........AAAAAAAA");
	ck_assert_uint_eq(svma(8)->pgoff, P(8) >> 12);
	ck_assert_uint_eq(h->sh.c.map_count, 1);
	/* Regions: the moved one keeps its creation stack, at its new place. */
	struct shadow_region *g = shadow_region_find(&h->sh, P(8));
	ck_assert_uint_eq(g->start, P(8));
	ck_assert_uint_eq(g->end, P(12));
	ck_assert_uint_eq(g->stack_id, 1);
	ck_assert_uint_eq(h->sh.c.nregions, 2);
	ck_assert_int_eq(npieces(SHADOW_PIECE_MOVED), 1);
	ck_assert_uint_eq(piece(SHADOW_PIECE_MOVED, 0)->start, P(0));
	ck_assert_uint_eq(piece(SHADOW_PIECE_MOVED, 0)->dest, P(8));
}
END_TEST

START_TEST(move_faulted_no_merge_at_dest)
{
	/*  AAAA........dddd    A written: keeps its pgoff (page 0)
	 *  ........AAAAbbbb    no merge with d
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	h_touch(h, 0, true);
	OK(h_mmap(h, 12, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MFIXED, 8), (int64_t)P(8));
	EXPECT("........AAAAbbbb");
	ck_assert_uint_eq(svma(8)->pgoff, P(0) >> 12);
}
END_TEST

START_TEST(move_faulted_back_merges)
{
	/*  AAAAAAAA written       move [4,8) to 12, then back to 4: the
	 *  AAAA........bbbb       moved part keeps pgoff and anon_vma, so
	 *  AAAAAAAA               at home it merges again
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	h_touch(h, 0, true);
	ck_assert_int_eq(h_mremap(h, 4, 4, 4, MFIXED, 12), (int64_t)P(12));
	EXPECT("AAAA........bbbb");
	ck_assert_int_eq(h_mremap(h, 12, 4, 4, MFIXED, 4), (int64_t)P(4));
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(move_fixed_expand)
{
	/*  AAAA  mremap(0, 4, 6, FIXED, 16)  ->  ................AAAAAA */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, MFIXED, 16), (int64_t)P(16));
	EXPECT("................AAAAAA");
	ck_assert_uint_eq(h->sh.c.total_vm, 6);
	/* One region: the moved one, grown. */
	ck_assert_uint_eq(h->sh.c.nregions, 1);
	ck_assert_uint_eq(shadow_region_find(&h->sh, P(16))->end, P(22));
}
END_TEST

START_TEST(move_fixed_shrink)
{
	/*  AAAA  mremap(0, 4, 2, FIXED, 16)  ->  ................AA */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 2, MFIXED, 16), (int64_t)P(16));
	EXPECT("................AA");
	ck_assert_uint_eq(h->sh.c.nregions, 1);
}
END_TEST

START_TEST(move_part_from_middle)
{
	/*  AAAAAAAA        mremap(2, 2, 2, FIXED, 16): the source splits
	 *  AA..bbbb........CC
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 2, 2, 2, MFIXED, 16), (int64_t)P(16));
	EXPECT("AA..bbbb........CC");
	ck_assert_uint_eq(svma(16)->pgoff, P(16) >> 12);
	ck_assert_uint_eq(h->sh.c.nregions, 3);
}
END_TEST

START_TEST(move_fixed_over_existing)
{
	/*  0   4   8   12  16
	 *  AAAA....XXXXXXXX    X r
	 *  ........XXAAAAXX    mremap(0, 4, 4, FIXED, 10): X's middle is
	 *                      replaced
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 8, PROT_READ, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MFIXED, 10), (int64_t)P(10));
	EXPECT("........AAbbbbCC");
	ck_assert_int_eq(npieces(SHADOW_PIECE_REPLACED), 1);
	ck_assert_uint_eq(piece(SHADOW_PIECE_REPLACED, 0)->start, P(10));
	ck_assert_uint_eq(piece(SHADOW_PIECE_REPLACED, 0)->end, P(14));
	ck_assert_uint_eq(h->sh.c.nregions, 3);
}
END_TEST

START_TEST(move_fixed_expand_over_existing)
{
	/*  AAAA....XXXXXXXX    mremap(0, 4, 6, FIXED, 8): not a multi move
	 *  ........AAAAAAXX    (resize): [8,14) unmapped first
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 8, PROT_READ, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, MFIXED, 8), (int64_t)P(8));
	EXPECT("........AAAAAAbb");
}
END_TEST

START_TEST(move_locked_keeps_counts)
{
	/*  AAAA locked  -> ........AAAA locked: locked_vm unchanged */
	OK(h_mmap(h, 0, 4, RW, FIX | MAP_LOCKED));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MFIXED, 8), (int64_t)P(8));
	EXPECT("........AAAA");
	ck_assert_uint_eq(h->sh.c.locked_vm, 4);
	ck_assert_uint_eq(h->sh.c.total_vm, 4);
}
END_TEST

START_TEST(move_file_keeps_offset)
{
	/*  AAAAAAAA file 0..8; mremap(4, 4, 4, FIXED, 16): offset 4 moves */
	struct shadow_file f;
	make_file(8);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 8, PROT_READ, FIX, fd, 0, &f));
	ck_assert_int_eq(h_mremap(h, 4, 4, 4, MFIXED, 16), (int64_t)P(16));
	EXPECT("AAAA............bbbb");
	ck_assert_uint_eq(svma(16)->pgoff, 4);
	/* Moving it back next to offset 0..4 merges again. */
	ck_assert_int_eq(h_mremap(h, 16, 4, 4, MFIXED, 4), (int64_t)P(4));
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(move_maymove_kernel_choice)
{
	/*  AAAA....        mremap(0, 4, 4 + 8, MAYMOVE) with [4, 12) taken:
	 *  ....XXXXXXXX    moved where the kernel chose (outside the window)
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 8, PROT_READ, FIX));
	int64_t r = h_mremap(h, 0, 4, 12, MAYMOVE, 0);
	ck_assert_int_gt(r, 0);
	EXPECT("....AAAAAAAA");
	struct shadow_vma *v = shadow_find(&h->sh, (uint64_t)r);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v->pgoff, (uint64_t)r >> 12);
	unmap_outside(r, 12);
}
END_TEST

/* ---- dontunmap ----------------------------------------------------------- */

START_TEST(dontunmap_whole_drops_anon_vma)
{
	/*  0   4   8   12  16
	 *  AAAA....CCCC        A and C written separately
	 *  AAAA....CCCC....DDDD  DONTUNMAP A -> 16: A stays, loses its
	 *                        anon_vma
	 *  AAAAAAAAAAAA....bbbb  so a fresh rw mmap in [4,8) merges all three
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	h_touch(h, 0, true);
	h_touch(h, 8, true);
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, DONTUNMAP, 16), (int64_t)P(16));
	EXPECT("AAAA....bbbb....CCCC");
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
	ck_assert_uint_ne(svma(16)->anon_id, SHADOW_ANON_NONE);
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, SV_ACCOUNT);
	/* Both sides have regions: the source keeps its own. */
	ck_assert_ptr_nonnull(shadow_region_find(&h->sh, P(0)));
	ck_assert_ptr_nonnull(shadow_region_find(&h->sh, P(16)));
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAAAAA....bbbb");
}
END_TEST

START_TEST(dontunmap_partial_unlocks_whole_vma)
{
	/*  AAAA locked      DONTUNMAP [0,2) -> 16: the old VMA stays one
	 *  AAAA............bb   4-page VMA and loses VM_LOCKED entirely; the
	 *                       destination is locked
	 */
	OK(h_mmap(h, 0, 4, RW, FIX | MAP_LOCKED));
	ck_assert_int_eq(h_mremap(h, 0, 2, 2, DONTUNMAP, 16), (int64_t)P(16));
	EXPECT("AAAA............bb");
	ck_assert_uint_eq(sflags(0) & SV_LOCKED, 0);
	ck_assert_uint_eq(sflags(16) & SV_LOCKED, SV_LOCKED);
	ck_assert_uint_eq(h->sh.c.locked_vm, 2);
	/* Partial: the old VMA keeps its anon_vma. */
	ck_assert_uint_ne(svma(0)->anon_id, SHADOW_ANON_NONE);
}
END_TEST

START_TEST(dontunmap_unlocked_not_merged)
{
	/*  AAAAbbbb        A locked | b unlocked (same otherwise)
	 *  AAAAbbbb....CCCC  DONTUNMAP A -> 12: A unlocked now equals b, but
	 *                    nothing merges until a later operation
	 */
	OK(h_mmap(h, 0, 4, RW, FIX | MAP_LOCKED));
	OK(h_mmap(h, 4, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, DONTUNMAP, 12), (int64_t)P(12));
	EXPECT("AAAAbbbb....CCCC");
	ck_assert_uint_eq(svma(0)->flags, svma(4)->flags);
}
END_TEST

START_TEST(dontunmap_hint)
{
	/*  AAAA  DONTUNMAP without FIXED, hint 16 (free): taken as a hint */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MREMAP_MAYMOVE |
				  MREMAP_DONTUNMAP, 16), (int64_t)P(16));
	EXPECT("AAAA............bbbb");
}
END_TEST

START_TEST(dontunmap_shared_anon)
{
	/*  AAAA shared anon, DONTUNMAP -> 16: old stays, the destination maps
	 *  the same shmem object at the same offset
	 */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, DONTUNMAP, 16), (int64_t)P(16));
	EXPECT("AAAA............bbbb");
	ck_assert_uint_eq(svma(16)->file_id, svma(0)->file_id);
}
END_TEST

/* ---- duplicate: old_len 0 ------------------------------------------------ */

START_TEST(dup_shared_old_len_zero)
{
	/*  AAAAAAAA shared anon; mremap(4, 0, 4, FIXED, 16): a second mapping
	 *  AAAAAAAA........bbbb  of pages 4..8 of the same object; the
	 *                        source is untouched (not split)
	 */
	OK(h_mmap(h, 0, 8, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_mremap(h, 4, 0, 4, MFIXED, 16), (int64_t)P(16));
	EXPECT("AAAAAAAA........bbbb");
	ck_assert_uint_eq(svma(16)->pgoff, 4);
	ck_assert_uint_eq(h->sh.c.map_count, 2);
}
END_TEST

START_TEST(dup_shared_old_len_zero_maymove)
{
	/*  AAAA shared anon; mremap(0, 0, 4, MAYMOVE): a duplicate where the
	 *  kernel chose
	 */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED));
	int64_t r = h_mremap(h, 0, 0, 4, MAYMOVE, 0);
	ck_assert_int_gt(r, 0);
	EXPECT("AAAA");
	ck_assert_ptr_nonnull(shadow_find(&h->sh, (uint64_t)r));
	unmap_outside(r, 4);
}
END_TEST

START_TEST(dup_shared_old_len_zero_no_maymove)
{
	/*  AAAA shared anon; mremap(0, 0, 4) without MAYMOVE: ENOMEM */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_mremap(h, 0, 0, 4, 0, 0), -ENOMEM);
	EXPECT("AAAA");
}
END_TEST

START_TEST(dup_private_old_len_zero_einval)
{
	/*  AAAA private; mremap(0, 0, 4, MAYMOVE [|FIXED]): EINVAL */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 0, 4, MAYMOVE, 0), -EINVAL);
	ck_assert_int_eq(h_mremap(h, 0, 0, 4, MFIXED, 16), -EINVAL);
	EXPECT("AAAA");
}
END_TEST

/* ---- multi: 6.17+ move of several VMAs (FIXED, old_len == new_len) ------- */

START_TEST(multi_keeps_gaps)
{
	/*  0   4   8   12  16  20
	 *  AA.bbC............x.....   A rw, b r, C rw, x none at 18
	 *  ................AAxBBc     mremap(0, 6, 6, FIXED, 16): each VMA
	 *                             moves, the gap [2,3) is kept, and x
	 *                             (in the destination gap) survives
	 */
	OK(h_mmap(h, 0, 2, RW, FIX));
	OK(h_mmap(h, 3, 2, PROT_READ, FIX));
	OK(h_mmap(h, 5, 1, RW | PROT_EXEC, FIX));
	OK(h_mmap(h, 18, 1, PROT_NONE, FIX));
	EXPECT("AA.bbC............d");
	ck_assert_int_eq(h_mremap(h, 0, 6, 6, MFIXED, 16), (int64_t)P(16));
	EXPECT("................AAbCCd");
	ck_assert_uint_eq(h->sh.c.nregions, 4);
}
END_TEST

START_TEST(multi_hole_at_start_efault)
{
	/*  .AAA....        mremap(0, 4, 4, FIXED, 16): [0,1) is a hole at the
	 *                  start: EFAULT, nothing moves
	 */
	OK(h_mmap(h, 1, 3, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MFIXED, 16), -EFAULT);
	EXPECT(".AAA");
}
END_TEST

START_TEST(multi_hole_at_end_fine)
{
	/*  AAA.            mremap(0, 4, 4, FIXED, 16): hole at the end is fine
	 *  ................AAA
	 */
	OK(h_mmap(h, 0, 3, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MFIXED, 16), (int64_t)P(16));
	EXPECT("................AAA");
}
END_TEST

START_TEST(multi_pieces_merge_at_dest)
{
	/*  AAAAbbbb        A rw | b r, both unfaulted
	 *  ................AAAAbbbb   moved together: two VMAs (prot differs)
	 *  ................AAAAAAAA   b made rw merges with A: each piece took
	 *                             pgoff = its new address, so they are
	 *                             linear
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 8, 8, MFIXED, 16), (int64_t)P(16));
	EXPECT("................AAAAbbbb");
	ck_assert_int_eq(h_mprotect(h, 20, 4, RW), 0);
	EXPECT("................AAAAAAAA");
}
END_TEST

START_TEST(multi_merge_with_dest_neighbour)
{
	/*  0   4       20  24
	 *  AAbb....................CCCCCC   A r, b rw, C rw at 24
	 *  ....................AAbbbbbbbb   mremap(0, 4, 4, FIXED, 20): b lands
	 *                                   at 22, right below C: merged
	 */
	OK(h_mmap(h, 0, 2, PROT_READ, FIX));
	OK(h_mmap(h, 2, 2, RW, FIX));
	OK(h_mmap(h, 24, 6, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MFIXED, 20), (int64_t)P(20));
	EXPECT("....................AAbbbbbbbb");
	ck_assert_uint_eq(svma(22)->pgoff, P(22) >> 12);
}
END_TEST

START_TEST(multi_without_fixed_efault)
{
	/*  AA.bb           mremap(0, 5, 6, MAYMOVE): a resize goes through the
	 *                  single-VMA rules: the range crosses A's end: EFAULT
	 */
	OK(h_mmap(h, 0, 2, RW, FIX));
	OK(h_mmap(h, 3, 2, PROT_READ, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 5, 6, MAYMOVE, 0), -EFAULT);
	ck_assert_int_eq(h_mremap(h, 0, 5, 6, MFIXED, 16), -EFAULT);
	EXPECT("AA.bb");
}
END_TEST

START_TEST(multi_dontunmap)
{
	/*  AAAAbbbb        A rw, b r: DONTUNMAP FIXED moves both, both stay
	 *  AAAAbbbb........CCCCdddd
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 8, 8, DONTUNMAP, 16), (int64_t)P(16));
	EXPECT("AAAAbbbb........CCCCdddd");
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

START_TEST(err_einval_params)
{
	/*  AAAA            each bad parameter: EINVAL, nothing changes */
	OK(h_mmap(h, 0, 4, RW, FIX));
	/* unknown flag */
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, 8, 0), -EINVAL);
	/* unaligned addr */
	ck_assert_int_eq(h_mremap_addr(h, P(0) + 1, H_PAGE, H_PAGE, 0, 0),
			 -EINVAL);
	/* new_len 0 */
	ck_assert_int_eq(h_mremap(h, 0, 4, 0, MAYMOVE, 0), -EINVAL);
	/* new_len > TASK_SIZE */
	ck_assert_int_eq(h_mremap_addr(h, P(0), 4 * H_PAGE, 1ull << 48,
				       MAYMOVE, 0), -EINVAL);
	/* FIXED / DONTUNMAP without MAYMOVE */
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MREMAP_FIXED, 16), -EINVAL);
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MREMAP_DONTUNMAP, 16), -EINVAL);
	/* DONTUNMAP with a resize */
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, DONTUNMAP, 16), -EINVAL);
	/* unaligned new_addr */
	ck_assert_int_eq(h_mremap_addr(h, P(0), 4 * H_PAGE, 4 * H_PAGE,
				       MFIXED, P(16) + 8), -EINVAL);
	/* new_addr + new_len past TASK_SIZE */
	ck_assert_int_eq(h_mremap_addr(h, P(0), 4 * H_PAGE, 4 * H_PAGE,
				       MFIXED, 0x7ffffffff000ull - H_PAGE),
			 -EINVAL);
	/* overlapping source and destination */
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MFIXED, 2), -EINVAL);
	EXPECT("AAAA");
}
END_TEST

START_TEST(err_overlap_beats_efault)
{
	/*  ........        overlap of an unmapped source with its destination:
	 *                  EINVAL (checked before any lookup)
	 */
	ck_assert_int_eq(h_mremap(h, 0, 4, 4, MFIXED, 2), -EINVAL);
	EXPECT("");
}
END_TEST

START_TEST(err_efault_unmapped)
{
	/*  ..AA            addr unmapped: EFAULT for every kind of call */
	OK(h_mmap(h, 2, 2, RW, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 2, 2, 0, 0), -EFAULT);
	ck_assert_int_eq(h_mremap(h, 0, 2, 1, 0, 0), -EFAULT);
	ck_assert_int_eq(h_mremap(h, 0, 2, 4, MAYMOVE, 0), -EFAULT);
	ck_assert_int_eq(h_mremap(h, 0, 2, 4, MFIXED, 16), -EFAULT);
	EXPECT("..AA");
}
END_TEST

START_TEST(err_efault_crosses_vma_end)
{
	/*  AAAAbb          expand or move [2,6): crosses A's end: EFAULT */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 2, PROT_READ, FIX));
	ck_assert_int_eq(h_mremap(h, 2, 4, 6, MAYMOVE, 0), -EFAULT);
	ck_assert_int_eq(h_mremap(h, 2, 4, 6, MFIXED, 16), -EFAULT);
	/* shrink with FIXED: L = new_len (2) fits: moves [2,4) */
	ck_assert_int_eq(h_mremap(h, 2, 4, 3, MFIXED, 16), -EFAULT);
	EXPECT("AAAAbb");
}
END_TEST

START_TEST(shrink_fixed_within_vma)
{
	/*  AAAAbb          mremap(2, 4, 2, FIXED, 16): L = new_len = 2 fits in
	 *                  A: [4,6) (b!) is unmapped first, then [2,4) moves
	 *  AA..............CC
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 2, PROT_READ, FIX));
	ck_assert_int_eq(h_mremap(h, 2, 4, 2, MFIXED, 16), (int64_t)P(16));
	EXPECT("AA..............bb");
}
END_TEST

START_TEST(err_fixed_checks_before_unmapping_destination)
{
	/*  ....XXXX        source unmapped at 0, FIXED with a resize to 4:
	 *                  check_prep_vma() fails (EFAULT) before mremap_to()
	 *                  would unmap the destination, so X stays
	 */
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_mremap(h, 0, 2, 4, MFIXED, 4), -EFAULT);
	ck_assert_int_eq(h_mremap(h, 16, 2, 4, MFIXED, 4), -EFAULT);
	EXPECT("....AAAA");
}
END_TEST

static Suite *remap_suite(void)
{
	Suite *s = suite_create("shadow_remap");
	TCase *tc;

	tc = tcase_create("resize");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, same_size_returns_addr);
	tcase_add_test(tc, same_size_past_vma_end_unchecked);
	tcase_add_test(tc, shrink_inside_vma);
	tcase_add_test(tc, shrink_middle_of_vma);
	tcase_add_test(tc, shrink_across_vmas_and_holes);
	tcase_add_test(tc, expand_in_place);
	tcase_add_test(tc, expand_in_place_unaligned_len);
	tcase_add_test(tc, expand_in_place_merges_next);
	tcase_add_test(tc, expand_in_place_next_written);
	tcase_add_test(tc, expand_in_place_both_written);
	tcase_add_test(tc, expand_in_place_next_differs);
	tcase_add_test(tc, expand_blocked_enomem);
	tcase_add_test(tc, expand_not_at_vma_end_enomem);
	tcase_add_test(tc, expand_blocked_maymove_moves);
	tcase_add_test(tc, expand_not_at_vma_end_maymove);
	tcase_add_test(tc, expand_shared_anon_in_place);
	tcase_add_test(tc, expand_locked_is_populated);
	suite_add_tcase(s, tc);

	tc = tcase_create("move");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, move_unfaulted_merges_at_dest);
	tcase_add_test(tc, move_faulted_no_merge_at_dest);
	tcase_add_test(tc, move_faulted_back_merges);
	tcase_add_test(tc, move_fixed_expand);
	tcase_add_test(tc, move_fixed_shrink);
	tcase_add_test(tc, move_part_from_middle);
	tcase_add_test(tc, move_fixed_over_existing);
	tcase_add_test(tc, move_fixed_expand_over_existing);
	tcase_add_test(tc, move_locked_keeps_counts);
	tcase_add_test(tc, move_file_keeps_offset);
	tcase_add_test(tc, move_maymove_kernel_choice);
	tcase_add_test(tc, shrink_fixed_within_vma);
	suite_add_tcase(s, tc);

	tc = tcase_create("dontunmap");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, dontunmap_whole_drops_anon_vma);
	tcase_add_test(tc, dontunmap_partial_unlocks_whole_vma);
	tcase_add_test(tc, dontunmap_unlocked_not_merged);
	tcase_add_test(tc, dontunmap_hint);
	tcase_add_test(tc, dontunmap_shared_anon);
	suite_add_tcase(s, tc);

	tc = tcase_create("duplicate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, dup_shared_old_len_zero);
	tcase_add_test(tc, dup_shared_old_len_zero_maymove);
	tcase_add_test(tc, dup_shared_old_len_zero_no_maymove);
	tcase_add_test(tc, dup_private_old_len_zero_einval);
	suite_add_tcase(s, tc);

	tc = tcase_create("multi");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, multi_keeps_gaps);
	tcase_add_test(tc, multi_hole_at_start_efault);
	tcase_add_test(tc, multi_hole_at_end_fine);
	tcase_add_test(tc, multi_pieces_merge_at_dest);
	tcase_add_test(tc, multi_merge_with_dest_neighbour);
	tcase_add_test(tc, multi_without_fixed_efault);
	tcase_add_test(tc, multi_dontunmap);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, err_einval_params);
	tcase_add_test(tc, err_overlap_beats_efault);
	tcase_add_test(tc, err_efault_unmapped);
	tcase_add_test(tc, err_efault_crosses_vma_end);
	tcase_add_test(tc, err_fixed_checks_before_unmapping_destination);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return optest_main(remap_suite());
}
