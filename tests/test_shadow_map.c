/*
 * test_shadow_map.c - mmap(2) in the shadow against the real kernel.
 *
 * Every scenario runs the same calls on the kernel and on a shadow through
 * tests/harness.h inside a 32-page window of this process, and checks the
 * errno (or address) the shadow predicted, the layout of both sides,
 * h_compare() and the hidden flags against smaps VmFlags: see optest.h.
 *
 * Test cases: place (hint handling), fixed (MAP_FIXED, MAP_FIXED_NOREPLACE),
 * merge (anonymous neighbours), file (file-backed merges), populate
 * (MAP_POPULATE / MAP_LOCKED and anon_vma), errors (every errno).
 */
#include "optest.h"

/* ---- place: where a mapping lands -------------------------------------- */

/* mmap with the shadow choosing the address itself (result not given), as
 * it must when it runs without the kernel's answer. */
static int64_t mmap_own_choice(uint64_t addr, uint64_t len, int prot,
			       int flags)
{
	errno = 0;
	void *r = mmap((void *)addr, len, prot, flags | MAP_ANONYMOUS, -1, 0);
	int e = r == MAP_FAILED ? errno : 0;
	struct shadow_map_args a = {
		.addr = addr, .len = len, .prot = prot,
		.flags = flags | MAP_ANONYMOUS, .origin = SHADOW_ORIGIN_TRACKED,
		.stack_id = 1,
	};
	int64_t p = shadow_map(&h->sh, &a, &h->rec);
	h_expect(h, "mmap(own choice)",
		 r == MAP_FAILED ? -1 : (int64_t)(uint64_t)r, e, p);
	return r == MAP_FAILED ? -e : (int64_t)(uint64_t)r;
}

START_TEST(hint_free_is_honoured)
{
	/*  0   4   8
	 *  ....AAAA        hint page 4, free: the kernel takes it
	 */
	int64_t r = h_mmap(h, 4, 4, RW, PRIV);
	ck_assert_int_eq(r, (int64_t)P(4));
	EXPECT("....AAAA");
	ck_assert_uint_eq(h->rec.addr, P(4));
	ck_assert_uint_eq(h->rec.vmas_added, 1);
}
END_TEST

START_TEST(hint_free_own_choice)
{
	/*  0   4   8
	 *  ....AAAA        same, but the shadow picks the address itself
	 */
	int64_t r = mmap_own_choice(P(4), 4 * H_PAGE, RW, PRIV);
	ck_assert_int_eq(r, (int64_t)P(4));
	EXPECT("....AAAA");
}
END_TEST

START_TEST(hint_unaligned_rounds_down)
{
	/*  0   4   8
	 *  ....AAAA        hint page 4 + 100 bytes: x86's
	 *                  arch_get_unmapped_area_topdown() rounds the hint
	 *                  down (addr &= PAGE_MASK), to page 4
	 */
	int64_t r = mmap_own_choice(P(4) + 100, 4 * H_PAGE, RW, PRIV);
	ck_assert_int_eq(r, (int64_t)P(4));
	EXPECT("....AAAA");
}
END_TEST

START_TEST(hint_taken_goes_elsewhere)
{
	/*  0   4   8
	 *  AAAAAAAA        mmap hint page 4, taken: placed outside the window
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	int64_t r = h_mmap(h, 4, 2, RW, PRIV);
	ck_assert_int_gt(r, 0);
	ck_assert_int_ne(r, (int64_t)P(4));
	struct shadow_vma *v = shadow_find(&h->sh, (uint64_t)r);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v->end - v->start, 2 * H_PAGE);
	EXPECT("AAAAAAAA");
	ck_assert_int_eq(h_munmap_addr(h, (uint64_t)r, 2 * H_PAGE), 0);
	ck_assert_ptr_null(shadow_find(&h->sh, (uint64_t)r));
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(hint_partly_taken_goes_elsewhere)
{
	/*  0   4   8
	 *  ......AA        hint page 4 for 4 pages overlaps page 6: the whole
	 *                  range must be free for the hint to be used
	 */
	OK(h_mmap(h, 6, 2, RW, FIX));
	int64_t r = h_mmap(h, 4, 4, RW, PRIV);
	ck_assert_int_gt(r, 0);
	ck_assert_int_ne(r, (int64_t)P(4));
	EXPECT("......AA");
	ck_assert_int_eq(h_munmap_addr(h, (uint64_t)r, 4 * H_PAGE), 0);
	EXPECT("......AA");
}
END_TEST

START_TEST(hint_below_stack_guard_gap_refused)
{
	/*  0   4   8           16  20
	 *  ....                GGGG    a MAP_GROWSDOWN VMA at 16 keeps a
	 *                              stack guard gap below it: a hint at 8
	 *                              is refused (vm_start_gap), even though
	 *                              [8, 12) is free
	 */
	OK(h_mmap(h, 16, 4, RW, FIX | MAP_GROWSDOWN));
	int64_t r = mmap_own_choice(P(8), 4 * H_PAGE, RW, PRIV);
	ck_assert_int_gt(r, 0);
	ck_assert_int_ne(r, (int64_t)P(8));
	if ((uint64_t)r < P(0) || (uint64_t)r >= P(NPAGES))
		munmap((void *)r, 4 * H_PAGE);
	/* The shadow must not have put it at the hint either.  Where it did
	 * put it is its own top-down search over what it knows (only this
	 * window), so it need not equal the kernel's address. */
	ck_assert_msg(shadow_find(&h->sh, P(8)) == NULL,
		      "shadow placed the mapping at the hint, inside the "
		      "stack guard gap");
	ck_assert_uint_ne(h->rec.addr, P(8));
	ck_assert_uint_ne(h->rec.addr, 0);
}
END_TEST

/* ---- fixed: MAP_FIXED and MAP_FIXED_NOREPLACE ---------------------------- */

START_TEST(fixed_into_hole)
{
	/*  0   4   8
	 *  AAAA....        then FIXED at 6..8 (not adjacent: no merge)
	 *  AAAA..bb        (letters count VMAs: the second is 'b')
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 6, 2, RW, FIX));
	EXPECT("AAAA..bb");
	ck_assert_uint_eq(h->rec.vmas_added, 1);
	ck_assert_uint_eq(h->rec.vmas_merged, 0);
}
END_TEST

START_TEST(fixed_replaces_parts_of_several)
{
	/*  0   4   8   12
	 *  AAAAbbbbCCCC    A rw, b r, C rw-x
	 *  AAXXXXXXXXcc    FIXED r-x over [2, 10): A and C are cut, b goes;
	 *                  the new VMA differs from both: no merge
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	OK(h_mmap(h, 8, 4, RW | PROT_EXEC, FIX));
	EXPECT("AAAAbbbbCCCC");
	OK(h_mmap(h, 2, 8, PROT_READ | PROT_EXEC, FIX));
	EXPECT("AAbbbbbbbbCC");
	ck_assert_uint_eq(sflags(2) & SV_PROT_MASK, SV_READ | SV_EXEC);
	/* Three regions lost pages: [2,4) of the first, all of the
	 * second, [8,10) of the third; each piece names its region. */
	int replaced = 0;
	for (uint32_t i = 0; i < h->rec.npieces; i++) {
		struct shadow_piece *p = &h->rec.pieces[i];
		if (p->kind != SHADOW_PIECE_REPLACED)
			continue;
		replaced++;
		ck_assert_uint_eq(p->origin, SHADOW_ORIGIN_TRACKED);
		ck_assert_uint_eq(p->stack_id, 1);
	}
	ck_assert_int_eq(replaced, 3);
	ck_assert_uint_eq(h->rec.pieces[0].start, P(2));
	ck_assert_uint_eq(h->rec.pieces[0].end, P(4));
	ck_assert_uint_eq(h->rec.pieces[1].start, P(4));
	ck_assert_uint_eq(h->rec.pieces[1].end, P(8));
	ck_assert_uint_eq(h->rec.pieces[2].start, P(8));
	ck_assert_uint_eq(h->rec.pieces[2].end, P(10));
	ck_assert_uint_eq(h->rec.pieces[3].kind, SHADOW_PIECE_CREATED);
	/* Regions: the new call has its own, the cut ones are clipped. */
	struct shadow_region *r = shadow_region_find(&h->sh, P(0));
	ck_assert_uint_eq(r->end, P(2));
	r = shadow_region_find(&h->sh, P(2));
	ck_assert_uint_eq(r->start, P(2));
	ck_assert_uint_eq(r->end, P(10));
	r = shadow_region_find(&h->sh, P(10));
	ck_assert_uint_eq(r->start, P(10));
	ck_assert_uint_eq(h->sh.c.nregions, 3);
}
END_TEST

START_TEST(fixed_replacing_merges_with_remnant)
{
	/*  0   4   8   12
	 *  AAAAbbbbCCCC    A rw, b r, C rw-x
	 *  AAAAAAAAAAcc    FIXED rw over [2, 10): the new range continues
	 *                  A's remnant (same flags, linear pgoff): merged
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	OK(h_mmap(h, 8, 4, RW | PROT_EXEC, FIX));
	OK(h_mmap(h, 2, 8, RW, FIX));
	EXPECT("AAAAAAAAAAbb");
	ck_assert_uint_eq(h->rec.vmas_merged, 1);
	/* One VMA, still two regions (never merged across calls). */
	ck_assert_ptr_eq(svma(0), svma(9));
	ck_assert_uint_eq(shadow_region_find(&h->sh, P(0))->end, P(2));
}
END_TEST

START_TEST(fixed_inside_one_vma)
{
	/*  0   4   8
	 *  AAAAAAAA        rw
	 *  AAbbbbCC        FIXED r over [2, 6): a hole punched and refilled
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	OK(h_mmap(h, 2, 4, PROT_READ, FIX));
	EXPECT("AAbbbbCC");
	ck_assert_uint_eq(h->sh.c.map_count, 3);
}
END_TEST

START_TEST(fixed_same_flags_inside_one_vma)
{
	/*  0   4   8
	 *  AAAAAAAA        rw (unfaulted)
	 *  AAAAAAAA        FIXED rw over [2, 6): prev and next remnants both
	 *                  merge back: still one VMA
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	OK(h_mmap(h, 2, 4, RW, FIX));
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(h->sh.c.map_count, 1);
	ck_assert_uint_eq(h->sh.c.nregions, 3);
}
END_TEST

START_TEST(fixed_noreplace_free)
{
	/*  0   4   8
	 *  AAAA....        FIXED_NOREPLACE at 4 (free): placed, merged
	 *  AAAAAAAA
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	int64_t r = h_mmap(h, 4, 4, RW, PRIV | MAP_FIXED_NOREPLACE);
	ck_assert_int_eq(r, (int64_t)P(4));
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(fixed_noreplace_eexist)
{
	/*  0   4   8
	 *  ..AAAA..        FIXED_NOREPLACE over [0, 3) overlaps A: EEXIST,
	 *                  nothing changes
	 */
	OK(h_mmap(h, 2, 4, RW, FIX));
	ck_assert_int_eq(h_mmap(h, 0, 3, RW, PRIV | MAP_FIXED_NOREPLACE),
			 -EEXIST);
	EXPECT("..AAAA");
	ck_assert_int_eq(h_mmap(h, 5, 3, RW, PRIV | MAP_FIXED_NOREPLACE),
			 -EEXIST);
	EXPECT("..AAAA");
	ck_assert_uint_eq(h->sh.c.nregions, 1);
}
END_TEST

START_TEST(fixed_noreplace_eexist_beats_type)
{
	/*  ..AAAA..        FIXED_NOREPLACE with a bad MAP_TYPE over A: the
	 *                  overlap check comes first (EEXIST, not EINVAL)
	 */
	OK(h_mmap(h, 2, 4, RW, FIX));
	ck_assert_int_eq(h_mmap(h, 2, 1, RW, MAP_FIXED_NOREPLACE), -EEXIST);
	EXPECT("..AAAA");
}
END_TEST

START_TEST(unaligned_len_rounds_up)
{
	/*  AAA             mmap of 2 pages + 1 byte takes 3 pages */
	ck_assert_int_eq(h_mmap_file(h, P(0), 2 * H_PAGE + 1, RW,
				     FIX | MAP_ANONYMOUS, -1, 0, NULL),
			 (int64_t)P(0));
	EXPECT("AAA");
	ck_assert_uint_eq(h->sh.c.total_vm, 3);
}
END_TEST

START_TEST(fixed_noreplace_unaligned)
{
	/*  ....            FIXED_NOREPLACE at an unaligned address: EINVAL */
	ck_assert_int_eq(h_mmap_file(h, P(0) + 8, H_PAGE, RW,
				     PRIV | MAP_FIXED_NOREPLACE | MAP_ANONYMOUS,
				     -1, 0, NULL), -EINVAL);
	EXPECT("");
}
END_TEST

/* ---- merge: anonymous neighbours ---------------------------------------- */

START_TEST(merge_with_prev)
{
	/*  0   4   8
	 *  AAAA....  +  ....XXXX  ->  AAAAAAAA
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(h->rec.vmas_merged, 1);
	ck_assert_uint_eq(h->rec.vmas_added, 0);
	ck_assert_uint_eq(svma(0)->pgoff, P(0) >> 12);
	ck_assert_uint_eq(h->sh.c.nregions, 2);
}
END_TEST

START_TEST(merge_with_next)
{
	/*  0   4   8
	 *  ....AAAA  +  XXXX....  ->  AAAAAAAA  (next grows down: pgoff too)
	 */
	OK(h_mmap(h, 4, 4, RW, FIX));
	OK(h_mmap(h, 0, 4, RW, FIX));
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(svma(0)->pgoff, P(0) >> 12);
	ck_assert_uint_eq(h->rec.vmas_merged, 1);
}
END_TEST

START_TEST(merge_with_both)
{
	/*  0   4   8   12
	 *  AAAA....CCCC  +  ....XXXX  ->  AAAAAAAAAAAA (three become one)
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	EXPECT("AAAA....bbbb");
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAAAAA");
	ck_assert_uint_eq(h->rec.vmas_merged, 2);
	ck_assert_uint_eq(h->sh.c.map_count, 1);
	ck_assert_uint_eq(h->sh.c.nregions, 3);
}
END_TEST

START_TEST(merge_hint_adjacent)
{
	/*  0   4   8
	 *  AAAA....        a non-FIXED hint right after A lands there and
	 *  AAAAAAAA        merges
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mmap(h, 4, 4, RW, PRIV), (int64_t)P(4));
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(no_merge_prot_differs)
{
	/*  0   4   8
	 *  AAAAbbbb        rw next to r: two VMAs
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, SV_ACCOUNT);
	ck_assert_uint_eq(sflags(4) & SV_ACCOUNT, 0);
}
END_TEST

START_TEST(noreserve_shared)
{
	/*  AAAA            shared anonymous MAP_NORESERVE: "nr" too */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED | MAP_NORESERVE));
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_NORESERVE, SV_NORESERVE);
}
END_TEST

START_TEST(droppable)
{
	/*  AAAAbbbb        MAP_DROPPABLE (6.11+): an anonymous type of its own,
	 *                  with VM_NORESERVE, VM_WIPEONFORK, VM_DONTDUMP; it
	 *                  does not merge with a plain rw neighbour
	 */
	OK(h_mmap(h, 0, 4, RW, MAP_DROPPABLE | MAP_FIXED));
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(sflags(0) & (SV_NORESERVE | SV_WIPEONFORK |
				       SV_DONTDUMP | SV_ACCOUNT),
			  SV_NORESERVE | SV_WIPEONFORK | SV_DONTDUMP);
	/* MAP_DROPPABLE with MAP_LOCKED or GROWSDOWN: EINVAL */
	ck_assert_int_eq(h_mmap(h, 8, 4, RW, MAP_DROPPABLE | MAP_FIXED |
				MAP_LOCKED), -EINVAL);
	ck_assert_int_eq(h_mmap(h, 8, 4, RW, MAP_DROPPABLE | MAP_FIXED |
				MAP_GROWSDOWN), -EINVAL);
	EXPECT("AAAAbbbb");
}
END_TEST

START_TEST(merge_read_only)
{
	/*  AAAAAAAA        r next to r (neither accounted): one VMA */
	OK(h_mmap(h, 0, 4, PROT_READ, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	EXPECT("AAAAAAAA");
	OK(h_mmap(h, 8, 4, PROT_NONE, FIX));
	EXPECT("AAAAAAAAbbbb");
	OK(h_mmap(h, 12, 4, PROT_NONE, FIX));
	EXPECT("AAAAAAAAbbbbbbbb");
}
END_TEST

START_TEST(no_merge_noreserve_vs_account)
{
	/*  0   4   8   12
	 *  AAAAbbbbCCCC    rw (ac) | rw NORESERVE (nr) | rw (ac)
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, RW, FIX | MAP_NORESERVE));
	OK(h_mmap(h, 8, 4, RW, FIX));
	EXPECT("AAAAbbbbCCCC");
	ck_assert_uint_eq(sflags(0) & (SV_ACCOUNT | SV_NORESERVE), SV_ACCOUNT);
	ck_assert_uint_eq(sflags(4) & (SV_ACCOUNT | SV_NORESERVE),
			  SV_NORESERVE);
	/* Two NORESERVE mappings merge with each other. */
	OK(h_mmap(h, 12, 4, RW, FIX | MAP_NORESERVE));
	EXPECT("AAAAbbbbCCCCdddd");
	OK(h_mmap(h, 16, 4, RW, FIX | MAP_NORESERVE));
	EXPECT("AAAAbbbbCCCCdddddddd");
}
END_TEST

START_TEST(no_merge_noreserve_read_only)
{
	/*  AAAAbbbb        r | r NORESERVE: neither is accounted, but "nr"
	 *                  still differs: no merge
	 */
	OK(h_mmap(h, 0, 4, PROT_READ, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX | MAP_NORESERVE));
	EXPECT("AAAAbbbb");
}
END_TEST

START_TEST(no_merge_map_stack)
{
	/*  0   4   8   12
	 *  AAAAbbbbbbbb    rw | MAP_STACK (VM_NOHUGEPAGE) x2: the two stacks
	 *                  merge with each other, not with the plain one
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, RW, FIX | MAP_STACK));
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(sflags(4) & SV_NOHUGEPAGE, SV_NOHUGEPAGE);
	OK(h_mmap(h, 8, 4, RW, FIX | MAP_STACK));
	EXPECT("AAAAbbbbbbbb");
}
END_TEST

START_TEST(no_merge_locked)
{
	/*  0   4   8   12
	 *  AAAAbbbbbbbb    rw | MAP_LOCKED x2
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, RW, FIX | MAP_LOCKED));
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(sflags(4) & SV_LOCKED, SV_LOCKED);
	ck_assert_uint_eq(h->sh.c.locked_vm, 4);
	OK(h_mmap(h, 8, 4, RW, FIX | MAP_LOCKED));
	EXPECT("AAAAbbbbbbbb");
	ck_assert_uint_eq(h->sh.c.locked_vm, 8);
}
END_TEST

START_TEST(no_merge_growsdown)
{
	/*  AAAAbbbb        rw | rw GROWSDOWN */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, RW, FIX | MAP_GROWSDOWN));
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(sflags(4) & SV_GROWSDOWN, SV_GROWSDOWN);
	ck_assert_uint_eq(h->sh.c.stack_vm, 4);
}
END_TEST

START_TEST(shared_anon_never_merges)
{
	/*  0   4   8   12
	 *  AAAAbbbbCCCC    shared anon | shared anon | private: each shared
	 *                  anonymous mapping is its own shmem file
	 */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED));
	OK(h_mmap(h, 4, 4, RW, MAP_SHARED | MAP_FIXED));
	OK(h_mmap(h, 8, 4, RW, FIX));
	EXPECT("AAAAbbbbCCCC");
	ck_assert_uint_eq(sflags(0) & (SV_SHARED | SV_MAYSHARE | SV_ACCOUNT),
			  SV_SHARED | SV_MAYSHARE);
	ck_assert_uint_eq(svma(0)->pgoff, 0);
	ck_assert_uint_eq(svma(4)->pgoff, 0);
}
END_TEST

START_TEST(merge_into_written_prev)
{
	/*  0   4   8
	 *  AAAA            A written (anon_vma)
	 *  AAAAAAAA        a fresh mapping after it still merges (it has none)
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	h_touch(h, 0, true);
	uint32_t id = svma(0)->anon_id;
	ck_assert_uint_ne(id, SHADOW_ANON_NONE);
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(svma(4)->anon_id, id);
}
END_TEST

START_TEST(merge_between_two_written)
{
	/*  0   4   8   12
	 *  AAAA....CCCC    A and C written separately (two anon_vmas)
	 *  AAAAAAAAcccc    a mapping in the hole merges with A only: prev
	 *                  and next anon_vmas differ
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	h_touch(h, 0, true);
	h_touch(h, 8, true);
	ck_assert_uint_ne(svma(0)->anon_id, svma(8)->anon_id);
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

START_TEST(merge_between_written_and_fresh)
{
	/*  0   4   8   12
	 *  AAAA....CCCC    only C written
	 *  AAAAAAAAAAAA    prev has none, next has one: all three merge
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	h_touch(h, 8, true);
	uint32_t id = svma(8)->anon_id;
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAAAAA");
	ck_assert_uint_eq(svma(0)->anon_id, id);
}
END_TEST

START_TEST(regions_two_calls_one_vma)
{
	/*  AAAAAAAA        one VMA, two regions (DESIGN "Two views") */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAA");
	struct shadow_region *a = shadow_region_find(&h->sh, P(0));
	struct shadow_region *b = shadow_region_find(&h->sh, P(4));
	ck_assert_ptr_ne(a, b);
	ck_assert_uint_eq(a->end, P(4));
	ck_assert_uint_eq(b->start, P(4));
	ck_assert_uint_eq(b->call, SHADOW_CALL_MMAP);
	ck_assert_uint_eq(b->origin, SHADOW_ORIGIN_TRACKED);
}
END_TEST

START_TEST(regions_fixed_replacements_model)
{
	/* 400 MAP_FIXED calls of 1-8 pages at random places of the window,
	 * each with its own stack id, against a model of which call created
	 * each page: every page's region names its call, a region is a
	 * maximal run of one call's pages (never merged across calls), and
	 * the tree stays valid.  Covers region_replace's cases: a region
	 * around the range, whole regions taken over, edges clipped, holes
	 * (the first calls land on empty pages). */
	uint32_t owner[32] = { 0 };
	uint64_t x = 0x2545F4914F6CDD1Dull;
	for (uint32_t call = 1; call <= 400; call++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t n = 1 + x % 8, at = (x >> 8) % (32 - n + 1);
		int prot = (x >> 20) & 1 ? RW : PROT_READ;
		void *r = mmap((void *)P(at), n * H_PAGE, prot,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		ck_assert_ptr_eq(r, (void *)P(at));
		struct shadow_map_args a = {
			.addr = P(at), .len = n * H_PAGE, .prot = prot,
			.flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			.result = P(at), .origin = SHADOW_ORIGIN_TRACKED,
			.stack_id = call,
		};
		ck_assert_int_eq(shadow_map(&h->sh, &a, &h->rec),
				 (int64_t)P(at));
		for (uint64_t i = at; i < at + n; i++)
			owner[i] = call;
		const char *why = NULL;
		ck_assert_msg(shadow_validate(&h->sh, &why) == 0,
			      "call %u: %s", call, why);
		uint64_t runs = 0;
		for (int i = 0; i < 32; i++) {
			struct shadow_region *g = shadow_region_find(&h->sh,
								     P(i));
			if (!owner[i]) {
				ck_assert_ptr_null(g);
				continue;
			}
			ck_assert_ptr_nonnull(g);
			ck_assert_uint_eq(g->stack_id, owner[i]);
			bool first = i == 0 || owner[i - 1] != owner[i];
			runs += first;
			ck_assert_uint_eq(g->start == P(i), first);
			bool last = i == 31 || owner[i + 1] != owner[i];
			ck_assert_uint_eq(g->end == P(i + 1), last);
		}
		ck_assert_uint_eq(h->sh.c.nregions, runs);
	}
	ck_assert_int_eq(h_read_kernel(h), 0);
	ck_assert_msg(h_compare(h, NULL) == 0, "%s", h->why);
}
END_TEST

/* One MAP_FIXED call of the give-back model: n pages at `at`, its stack
 * id `call`, on the kernel and the shadow alike. */
static void fixed_call(uint64_t at, uint64_t n, int prot, int extra,
		       uint32_t call)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | extra;
	void *r = mmap((void *)P(at), n * H_PAGE, prot, flags, -1, 0);
	ck_assert_ptr_eq(r, (void *)P(at));
	struct shadow_map_args a = {
		.addr = P(at), .len = n * H_PAGE, .prot = prot,
		.flags = flags, .result = P(at),
		.origin = SHADOW_ORIGIN_TRACKED, .stack_id = call,
	};
	ck_assert_int_eq(shadow_map(&h->sh, &a, &h->rec), (int64_t)P(at));
}

START_TEST(regions_give_back_model)
{
	/* A 32-page reservation (call 1), then 600 MAP_FIXED calls of 1-4
	 * pages, each with its own stack id: commits (read-write),
	 * decommits (PROT_NONE, NORESERVE half the time) and read-only
	 * maps (most decommits over part of the last commit), against a model
	 * of region.c's Give-back rule:
	 *  - a call inside one region X (all its pages X's) records X as
	 *    where its region was carved from (from);
	 *  - a decommit inside one region X gives its pages to X's `from`,
	 *    or to X itself when X has none; they rejoin that region's
	 *    pieces on either side, the merged region keeping the leftmost
	 *    `from` it has;
	 *  - anything else makes a region of its own.
	 * Every page's region names its owner and `from`, a region is a
	 * maximal run of one owner's pages, and the kernel agrees at the
	 * end.  The three cases must each be met many times. */
	uint32_t owner[32], from[32];
	unsigned carved = 0, to_parent = 0, to_self = 0, own = 0;
	uint64_t last_at = 0, last_n = 0;
	fixed_call(0, 32, PROT_NONE, MAP_NORESERVE, 1);
	for (int i = 0; i < 32; i++)
		owner[i] = 1, from[i] = 0;
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (uint32_t call = 2; call <= 600; call++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t n = 1 + x % 4, at = (x >> 8) % (32 - n + 1);
		unsigned kind = (unsigned)((x >> 20) % 10);
		int prot = kind < 5 ? PROT_NONE : kind < 9 ? RW : PROT_READ;
		/* most decommits give back (part of) the last commit */
		if (prot == PROT_NONE && last_n && (x >> 28) % 4) {
			uint64_t skip = (x >> 32) % last_n;
			at = last_at + skip;
			n = 1 + (x >> 36) % (last_n - skip);
		}
		if (prot == RW)
			last_at = at, last_n = n;
		fixed_call(at, n, prot, (x >> 24) & 1 ? MAP_NORESERVE : 0,
			   call);
		bool inside = true;
		for (uint64_t i = at; i < at + n; i++)
			inside &= owner[i] == owner[at];
		uint32_t nown, nfrom;
		if (inside && prot == PROT_NONE) {
			nown = from[at] ? from[at] : owner[at];
			nfrom = from[at] ? 0 : from[at];
			from[at] ? to_parent++ : to_self++;
		} else {
			nown = call;
			nfrom = inside ? owner[at] : 0;
			inside ? carved++ : own++;
		}
		/* the neighbours it rejoins, then the merged run's from */
		uint64_t lo = at, hi = at + n;
		bool gave = inside && prot == PROT_NONE;
		uint32_t lfrom = 0, rfrom = 0;
		if (gave && hi < 32 && owner[hi] == nown) {
			rfrom = from[hi];
			while (hi < 32 && owner[hi] == nown)
				hi++;
		}
		if (gave && lo > 0 && owner[lo - 1] == nown) {
			lfrom = from[lo - 1];
			while (lo > 0 && owner[lo - 1] == nown)
				lo--;
		}
		uint32_t mfrom = lfrom ? lfrom : nfrom ? nfrom : rfrom;
		for (uint64_t i = at; i < at + n; i++)
			owner[i] = nown;
		for (uint64_t i = lo; i < hi; i++)
			from[i] = gave ? mfrom : nfrom;
		const char *why = NULL;
		ck_assert_msg(shadow_validate(&h->sh, &why) == 0,
			      "call %u: %s", call, why);
		uint64_t runs = 0;
		for (int i = 0; i < 32; i++) {
			struct shadow_region *g = shadow_region_find(&h->sh,
								     P(i));
			ck_assert_ptr_nonnull(g);
			ck_assert_msg(g->stack_id == owner[i] &&
					      g->from_stack == from[i],
				      "call %u page %d: stack %u from %u, "
				      "model %u from %u", call, i,
				      g->stack_id, g->from_stack, owner[i],
				      from[i]);
			ck_assert_uint_eq(g->from_id != 0, from[i] != 0);
			bool first = i == 0 || owner[i - 1] != owner[i];
			runs += first;
			ck_assert_uint_eq(g->start == P(i), first);
			bool last = i == 31 || owner[i + 1] != owner[i];
			ck_assert_uint_eq(g->end == P(i + 1), last);
		}
		ck_assert_uint_eq(h->sh.c.nregions, runs);
	}
	printf("test_shadow_map: give-back model: %u carved, %u given to "
	       "their parent, %u to themselves, %u of their own\n", carved,
	       to_parent, to_self, own);
	ck_assert_uint_ge(carved, 50);
	ck_assert_uint_ge(to_parent, 50);
	ck_assert_uint_ge(to_self, 20);
	ck_assert_uint_ge(own, 20);
	ck_assert_int_eq(h_read_kernel(h), 0);
	ck_assert_msg(h_compare(h, NULL) == 0, "%s", h->why);
}
END_TEST

/* ---- file: file-backed mappings ----------------------------------------- */

START_TEST(file_same_fd_contiguous_merge)
{
	/*  0   4   8
	 *  AAAAAAAA        offsets 0..4 then 4..8 of one open file: merged
	 */
	struct shadow_file f;
	make_file(16);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 4, PROT_READ, FIX, fd, 0, &f));
	OK(fmap(4, 4, PROT_READ, FIX, fd, 4, &f));
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(svma(0)->pgoff, 0);
}
END_TEST

START_TEST(file_same_fd_gap_in_offsets)
{
	/*  0   4   8
	 *  AAAAbbbb        offsets 0..4 then 5..9: not contiguous
	 */
	struct shadow_file f;
	make_file(16);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 4, PROT_READ, FIX, fd, 0, &f));
	OK(fmap(4, 4, PROT_READ, FIX, fd, 5, &f));
	EXPECT("AAAAbbbb");
}
END_TEST

START_TEST(file_merge_with_next)
{
	/*  0   4   8
	 *  ....AAAA        offset 4..8 first, then 0..4 below it: next grows
	 *  AAAAAAAA        down, pgoff 0
	 */
	struct shadow_file f;
	make_file(16);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(4, 4, PROT_READ, FIX, fd, 4, &f));
	OK(fmap(0, 4, PROT_READ, FIX, fd, 0, &f));
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(svma(0)->pgoff, 0);
}
END_TEST

START_TEST(file_different_open_no_merge)
{
	/*  AAAAbbbb        same file, contiguous offsets, two open()s */
	struct shadow_file f1, f2;
	make_file(16);
	int fd1 = open_file(O_RDONLY, 1, &f1);
	int fd2 = open_file(O_RDONLY, 2, &f2);
	OK(fmap(0, 4, PROT_READ, FIX, fd1, 0, &f1));
	OK(fmap(4, 4, PROT_READ, FIX, fd2, 4, &f2));
	EXPECT("AAAAbbbb");
}
END_TEST

START_TEST(file_dup_fd_merges)
{
	/*  AAAAAAAA        dup() shares the open file description: merged */
	struct shadow_file f1, f2;
	make_file(16);
	int fd1 = open_file(O_RDONLY, 1, &f1);
	int fd2 = track_fd(dup(fd1));
	h_file_from_fd(fd2, 1, &f2);
	OK(fmap(0, 4, PROT_READ, FIX, fd1, 0, &f1));
	OK(fmap(4, 4, PROT_READ, FIX, fd2, 4, &f2));
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(file_shared_contiguous_merge)
{
	/*  AAAAAAAA        MAP_SHARED rw, same fd, contiguous: merged (sh) */
	struct shadow_file f;
	make_file(16);
	int fd = open_file(O_RDWR, 1, &f);
	OK(fmap(0, 4, RW, MAP_SHARED | MAP_FIXED, fd, 0, &f));
	OK(fmap(4, 4, RW, MAP_SHARED | MAP_FIXED, fd, 4, &f));
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(sflags(0) & (SV_SHARED | SV_MAYSHARE | SV_ACCOUNT),
			  SV_SHARED | SV_MAYSHARE);
}
END_TEST

START_TEST(file_shared_read_only_fd)
{
	/*  AAAA            MAP_SHARED r on an O_RDONLY fd: "r--s", no
	 *                  VM_SHARED, no VM_MAYWRITE
	 */
	struct shadow_file f;
	make_file(16);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 4, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0, &f));
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & (SV_SHARED | SV_MAYSHARE | SV_MAYWRITE),
			  SV_MAYSHARE);
}
END_TEST

START_TEST(file_private_writable_accounted)
{
	/*  AAAAAAAAbbbb    private rw file maps are accounted (ac) and merge;
	 *                  private r is not and does not merge with them
	 */
	struct shadow_file f;
	make_file(16);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 4, RW, FIX, fd, 0, &f));
	OK(fmap(4, 4, RW, FIX, fd, 4, &f));
	OK(fmap(8, 4, PROT_READ, FIX, fd, 8, &f));
	EXPECT("AAAAAAAAbbbb");
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, SV_ACCOUNT);
	ck_assert_uint_eq(sflags(8) & SV_ACCOUNT, 0);
}
END_TEST

START_TEST(file_next_to_anon_no_merge)
{
	/*  AAAAbbbb        private r file | private r anon */
	struct shadow_file f;
	make_file(16);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 4, PROT_READ, FIX, fd, 0, &f));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	EXPECT("AAAAbbbb");
}
END_TEST

START_TEST(file_fixed_over_file_keeps_offsets)
{
	/*  0   4   8
	 *  AAAAAAAA        file offsets 0..8
	 *  AAbbbbCC        anon over [2, 6): the upper remnant shows offset 6
	 */
	struct shadow_file f;
	make_file(16);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 8, PROT_READ, FIX, fd, 0, &f));
	OK(h_mmap(h, 2, 4, PROT_READ, FIX));
	EXPECT("AAbbbbCC");
	ck_assert_uint_eq(svma(6)->pgoff, 6);
}
END_TEST

/* ---- populate: MAP_POPULATE, MAP_LOCKED and the anon_vma ----------------- */

START_TEST(populate_gives_anon_vma)
{
	/*  0   4   8   12
	 *  AAAA....CCCC    both MAP_POPULATE rw: written, separate anon_vmas
	 *  AAAAAAAAcccc    the hole filled: merges with A only
	 */
	OK(h_mmap(h, 0, 4, RW, FIX | MAP_POPULATE));
	ck_assert_uint_ne(svma(0)->anon_id, SHADOW_ANON_NONE);
	OK(h_mmap(h, 8, 4, RW, FIX | MAP_POPULATE));
	ck_assert_uint_ne(svma(8)->anon_id, svma(0)->anon_id);
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

START_TEST(populate_read_only_no_anon_vma)
{
	/*  0   4   8   12
	 *  AAAA....CCCC    MAP_POPULATE r: read faults, zero page, no anon_vma
	 *  AAAAAAAAAAAA    the hole filled: all three merge
	 */
	OK(h_mmap(h, 0, 4, PROT_READ, FIX | MAP_POPULATE));
	OK(h_mmap(h, 8, 4, PROT_READ, FIX | MAP_POPULATE));
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	EXPECT("AAAAAAAAAAAA");
}
END_TEST

START_TEST(populate_nonblock_does_nothing)
{
	/*  AAAA....CCCC -> AAAAAAAAAAAA: MAP_POPULATE|MAP_NONBLOCK populates
	 *  nothing, so no anon_vma stands in the way
	 */
	OK(h_mmap(h, 0, 4, RW, FIX | MAP_POPULATE | MAP_NONBLOCK));
	OK(h_mmap(h, 8, 4, RW, FIX | MAP_POPULATE | MAP_NONBLOCK));
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAAAAA");
}
END_TEST

START_TEST(locked_is_populated)
{
	/*  AAAA....cccc -> AAAA + locked mid merges with locked A only:
	 *  MAP_LOCKED populates (write faults), so A and C have their own
	 *  anon_vmas
	 */
	OK(h_mmap(h, 0, 4, RW, FIX | MAP_LOCKED));
	OK(h_mmap(h, 8, 4, RW, FIX | MAP_LOCKED));
	ck_assert_uint_ne(svma(0)->anon_id, SHADOW_ANON_NONE);
	OK(h_mmap(h, 4, 4, RW, FIX | MAP_LOCKED));
	EXPECT("AAAAAAAAbbbb");
	ck_assert_uint_eq(h->sh.c.locked_vm, 12);
}
END_TEST

START_TEST(populate_shared_no_anon_vma)
{
	/*  AAAA            shared anon populated: shared never gets one */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED | MAP_POPULATE));
	EXPECT("AAAA");
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

START_TEST(err_len_zero)
{
	/*  ........        len 0: EINVAL before anything else, even a bad
	 *                  MAP_TYPE or a bad fd
	 */
	ck_assert_int_eq(h_mmap_file(h, P(0), 0, RW, FIX | MAP_ANONYMOUS, -1,
				     0, NULL), -EINVAL);
	ck_assert_int_eq(h_mmap_file(h, P(0), 0, RW, MAP_FIXED | MAP_ANONYMOUS,
				     -1, 0, NULL), -EINVAL);
	EXPECT("");
	ck_assert_uint_eq(h->sh.c.map_count, 0);
}
END_TEST

START_TEST(err_unaligned_fixed)
{
	/*  AAAA            FIXED at page 0 + 1 byte: EINVAL, A untouched */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mmap_file(h, P(0) + 1, H_PAGE, RW,
				     FIX | MAP_ANONYMOUS, -1, 0, NULL),
			 -EINVAL);
	EXPECT("AAAA");
}
END_TEST

START_TEST(err_bad_type)
{
	/*  ....            neither PRIVATE nor SHARED; SHARED_VALIDATE on
	 *                  anonymous memory: EINVAL
	 */
	ck_assert_int_eq(h_mmap(h, 0, 4, RW, MAP_FIXED), -EINVAL);
	ck_assert_int_eq(h_mmap(h, 0, 4, RW,
				MAP_SHARED_VALIDATE | MAP_FIXED), -EINVAL);
	ck_assert_int_eq(h_mmap(h, 0, 4, RW, MAP_PRIVATE | MAP_SHARED |
				MAP_FIXED), -EINVAL);
	EXPECT("");
}
END_TEST

START_TEST(err_unaligned_offset)
{
	/*  ....            offset not page aligned: EINVAL, even anonymous */
	ck_assert_int_eq(h_mmap_file(h, P(0), 4 * H_PAGE, RW,
				     FIX | MAP_ANONYMOUS, -1, 100, NULL),
			 -EINVAL);
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	ck_assert_int_eq(h_mmap_file(h, P(0), 4 * H_PAGE, PROT_READ, FIX, fd,
				     100, &f), -EINVAL);
	EXPECT("");
}
END_TEST

START_TEST(err_bad_fd)
{
	/*  ....            fd -1 or closed without MAP_ANONYMOUS: EBADF */
	struct shadow_file f = { .valid = false };
	ck_assert_int_eq(h_mmap_file(h, P(0), 4 * H_PAGE, PROT_READ, FIX, -1,
				     0, &f), -EBADF);
	make_file(4);
	int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	close(fd);
	h_file_from_fd(fd, 1, &f); /* fstat fails: f.valid stays false */
	ck_assert(!f.valid);
	ck_assert_int_eq(h_mmap_file(h, P(0), 4 * H_PAGE, PROT_READ, FIX, fd,
				     0, &f), -EBADF);
	EXPECT("");
}
END_TEST

START_TEST(err_anon_ignores_fd)
{
	/*  AAAA            MAP_ANONYMOUS with a garbage fd: fine */
	ck_assert_int_eq(h_mmap_file(h, P(0), 4 * H_PAGE, RW,
				     FIX | MAP_ANONYMOUS, 12345, 0, NULL),
			 (int64_t)P(0));
	EXPECT("AAAA");
}
END_TEST

START_TEST(err_eacces_shared_write_read_only_fd)
{
	/*  ....            MAP_SHARED PROT_WRITE on O_RDONLY: EACCES */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	ck_assert_int_eq(fmap(0, 4, RW, MAP_SHARED | MAP_FIXED, fd, 0, &f),
			 -EACCES);
	/* ... but MAP_PRIVATE PROT_WRITE is fine (copy on write). */
	OK(fmap(0, 4, RW, FIX, fd, 0, &f));
	EXPECT("AAAA");
}
END_TEST

START_TEST(err_eacces_write_only_fd)
{
	/*  ....            O_WRONLY fd: every mapping needs read: EACCES */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_WRONLY, 1, &f);
	ck_assert_int_eq(fmap(0, 4, PROT_READ, FIX, fd, 0, &f), -EACCES);
	ck_assert_int_eq(fmap(0, 4, RW, MAP_SHARED | MAP_FIXED, fd, 0, &f),
			 -EACCES);
	ck_assert_int_eq(fmap(0, 4, PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0,
			      &f), -EACCES);
	EXPECT("");
}
END_TEST

START_TEST(err_shared_validate_unknown_flag)
{
	/*  ....            MAP_SHARED_VALIDATE with MAP_SYNC on ext4 (no DAX):
	 *                  EOPNOTSUPP.  Plain MAP_SHARED drops MAP_SYNC from
	 *                  the flags it validates, but do_mmap computed
	 *                  VM_SYNC from the original flags before that, and
	 *                  ext4_file_mmap() refuses VM_SYNC without DAX: also
	 *                  EOPNOTSUPP on 6.18.
	 *  AAAA            an unknown bit (0x400000, outside every mask) with
	 *                  MAP_SHARED is dropped silently
	 */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDWR, 1, &f);
	ck_assert_int_eq(fmap(0, 4, RW, MAP_SHARED_VALIDATE | MAP_FIXED |
			      MAP_SYNC, fd, 0, &f), -EOPNOTSUPP);
	EXPECT("");
	ck_assert_int_eq(fmap(0, 4, RW, MAP_SHARED_VALIDATE | MAP_FIXED |
			      0x400000, fd, 0, &f), -EOPNOTSUPP);
	EXPECT("");
	OK(fmap(0, 4, RW, MAP_SHARED | MAP_FIXED | 0x400000, fd, 0, &f));
	EXPECT("AAAA");
	ck_assert_int_eq(fmap(4, 4, RW, MAP_SHARED | MAP_FIXED | MAP_SYNC, fd,
			      4, &f), -EOPNOTSUPP);
	EXPECT("AAAA");
}
END_TEST

START_TEST(err_growsdown_shared_or_file)
{
	/*  ....            GROWSDOWN with shared anon or a file: EINVAL */
	ck_assert_int_eq(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED |
				MAP_GROWSDOWN), -EINVAL);
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	ck_assert_int_eq(fmap(0, 4, PROT_READ, FIX | MAP_GROWSDOWN, fd, 0, &f),
			 -EINVAL);
	EXPECT("");
}
END_TEST

START_TEST(err_enomem_huge_len)
{
	/*  ....            len rounding past 2^64, len > TASK_SIZE, FIXED
	 *                  running past TASK_SIZE: ENOMEM
	 */
	ck_assert_int_eq(h_mmap_file(h, P(0), UINT64_MAX - 100, RW,
				     PRIV | MAP_ANONYMOUS, -1, 0, NULL),
			 -ENOMEM);
	ck_assert_int_eq(h_mmap_file(h, P(0), 1ull << 47, RW,
				     PRIV | MAP_ANONYMOUS, -1, 0, NULL),
			 -ENOMEM);
	ck_assert_int_eq(h_mmap_file(h, 0x7ffffffff000ull - H_PAGE,
				     2 * H_PAGE, RW, FIX | MAP_ANONYMOUS, -1,
				     0, NULL), -ENOMEM);
	EXPECT("");
}
END_TEST

START_TEST(err_enomem_beats_unaligned_fixed)
{
	/*  ....            FIXED, unaligned and past TASK_SIZE: the range
	 *                  check (ENOMEM) comes before alignment (EINVAL)
	 */
	ck_assert_int_eq(h_mmap_file(h, 0x7ffffffff000ull - H_PAGE + 1,
				     2 * H_PAGE, RW, FIX | MAP_ANONYMOUS, -1,
				     0, NULL), -ENOMEM);
	EXPECT("");
}
END_TEST

START_TEST(err_file_offset_overflow)
{
	/*  ....            a file offset past the largest file size: EOVERFLOW
	 *                  (file_mmap_ok)
	 */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	ck_assert_int_eq(h_mmap_file(h, P(0), 4 * H_PAGE, PROT_READ, FIX, fd,
				     (uint64_t)-4096, &f), -EOVERFLOW);
	EXPECT("");
}
END_TEST

START_TEST(unknown_prot_bits_accepted)
{
	/*  AAAA            mmap does not reject unknown PROT_ bits */
	OK(h_mmap(h, 0, 4, RW | 0x10, FIX));
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_PROT_MASK, SV_READ | SV_WRITE);
}
END_TEST

START_TEST(fixed_failure_keeps_old)
{
	/*  AAAA            FIXED over A with O_WRONLY file: EACCES before any
	 *                  unmap: A stays
	 */
	struct shadow_file f;
	OK(h_mmap(h, 0, 4, RW, FIX));
	h_touch(h, 1, true);
	make_file(4);
	int fd = open_file(O_WRONLY, 1, &f);
	ck_assert_int_eq(fmap(0, 4, PROT_READ, FIX, fd, 0, &f), -EACCES);
	EXPECT("AAAA");
	ck_assert_uint_eq(h->sh.c.nregions, 1);
}
END_TEST

static Suite *map_suite(void)
{
	Suite *s = suite_create("shadow_map");
	TCase *tc;

	tc = tcase_create("place");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hint_free_is_honoured);
	tcase_add_test(tc, hint_free_own_choice);
	tcase_add_test(tc, hint_unaligned_rounds_down);
	tcase_add_test(tc, hint_taken_goes_elsewhere);
	tcase_add_test(tc, hint_partly_taken_goes_elsewhere);
	tcase_add_test(tc, hint_below_stack_guard_gap_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("fixed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fixed_into_hole);
	tcase_add_test(tc, fixed_replaces_parts_of_several);
	tcase_add_test(tc, fixed_replacing_merges_with_remnant);
	tcase_add_test(tc, fixed_inside_one_vma);
	tcase_add_test(tc, fixed_same_flags_inside_one_vma);
	tcase_add_test(tc, fixed_noreplace_free);
	tcase_add_test(tc, fixed_noreplace_eexist);
	tcase_add_test(tc, fixed_noreplace_eexist_beats_type);
	tcase_add_test(tc, fixed_failure_keeps_old);
	tcase_add_test(tc, unaligned_len_rounds_up);
	tcase_add_test(tc, fixed_noreplace_unaligned);
	suite_add_tcase(s, tc);

	tc = tcase_create("merge");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, merge_with_prev);
	tcase_add_test(tc, merge_with_next);
	tcase_add_test(tc, merge_with_both);
	tcase_add_test(tc, merge_hint_adjacent);
	tcase_add_test(tc, no_merge_prot_differs);
	tcase_add_test(tc, merge_read_only);
	tcase_add_test(tc, no_merge_noreserve_vs_account);
	tcase_add_test(tc, noreserve_shared);
	tcase_add_test(tc, droppable);
	tcase_add_test(tc, no_merge_noreserve_read_only);
	tcase_add_test(tc, no_merge_map_stack);
	tcase_add_test(tc, no_merge_locked);
	tcase_add_test(tc, no_merge_growsdown);
	tcase_add_test(tc, shared_anon_never_merges);
	tcase_add_test(tc, merge_into_written_prev);
	tcase_add_test(tc, merge_between_two_written);
	tcase_add_test(tc, merge_between_written_and_fresh);
	tcase_add_test(tc, regions_two_calls_one_vma);
	tcase_add_test(tc, regions_fixed_replacements_model);
	tcase_add_test(tc, regions_give_back_model);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, file_same_fd_contiguous_merge);
	tcase_add_test(tc, file_same_fd_gap_in_offsets);
	tcase_add_test(tc, file_merge_with_next);
	tcase_add_test(tc, file_different_open_no_merge);
	tcase_add_test(tc, file_dup_fd_merges);
	tcase_add_test(tc, file_shared_contiguous_merge);
	tcase_add_test(tc, file_shared_read_only_fd);
	tcase_add_test(tc, file_private_writable_accounted);
	tcase_add_test(tc, file_next_to_anon_no_merge);
	tcase_add_test(tc, file_fixed_over_file_keeps_offsets);
	suite_add_tcase(s, tc);

	tc = tcase_create("populate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, populate_gives_anon_vma);
	tcase_add_test(tc, populate_read_only_no_anon_vma);
	tcase_add_test(tc, populate_nonblock_does_nothing);
	tcase_add_test(tc, locked_is_populated);
	tcase_add_test(tc, populate_shared_no_anon_vma);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, err_len_zero);
	tcase_add_test(tc, err_unaligned_fixed);
	tcase_add_test(tc, err_bad_type);
	tcase_add_test(tc, err_unaligned_offset);
	tcase_add_test(tc, err_bad_fd);
	tcase_add_test(tc, err_anon_ignores_fd);
	tcase_add_test(tc, err_eacces_shared_write_read_only_fd);
	tcase_add_test(tc, err_eacces_write_only_fd);
	tcase_add_test(tc, err_shared_validate_unknown_flag);
	tcase_add_test(tc, err_growsdown_shared_or_file);
	tcase_add_test(tc, err_enomem_huge_len);
	tcase_add_test(tc, err_enomem_beats_unaligned_fixed);
	tcase_add_test(tc, err_file_offset_overflow);
	tcase_add_test(tc, unknown_prot_bits_accepted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return optest_main(map_suite());
}
