/*
 * test_shadow_advise.c - madvise(2), the mlock family and page touches in
 * the shadow against the real kernel.
 *
 *  flags:  every flag-changing advice splits a range out of a VMA and its
 *          opposite merges it back; equal flags change nothing; holes give
 *          ENOMEM after the advice was applied to every mapped part; the
 *          per-VMA refusals (EINVAL, EACCES) stop the walk.
 *  other:  the advices that change no VMA: their errors, and the anon_vma
 *          side effects (MADV_POPULATE_WRITE).
 *  lock:   mlock2/munlock split and re-merge, stop at the first hole,
 *          MLOCK_ONFAULT, populate, mlockall/munlockall.
 *  touch:  a write fault gives an anon_vma (reusing a compatible
 *          neighbour's), a read fault does not (but for a THP-able range);
 *          the anon_vma decides whether neighbours merge.
 * Same harness and assertions as every scenario test (see optest.h).
 */
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "optest.h"

/* The VMA flags smaps shows for each advice. */
static const struct {
	int adv, undo;
	uint32_t flag;
	bool remerge; /* undo makes the flags equal to the neighbours' */
	const char *name;
} adv_cases[] = {
	{ MADV_SEQUENTIAL, MADV_NORMAL, SV_SEQ_READ, true, "SEQUENTIAL" },
	{ MADV_RANDOM, MADV_NORMAL, SV_RAND_READ, true, "RANDOM" },
	{ MADV_DONTFORK, MADV_DOFORK, SV_DONTCOPY, true, "DONTFORK" },
	{ MADV_DONTDUMP, MADV_DODUMP, SV_DONTDUMP, true, "DONTDUMP" },
	{ MADV_WIPEONFORK, MADV_KEEPONFORK, SV_WIPEONFORK, true, "WIPEONFORK" },
	{ MADV_MERGEABLE, MADV_UNMERGEABLE, SV_MERGEABLE, true, "MERGEABLE" },
	{ MADV_HUGEPAGE, MADV_NOHUGEPAGE, SV_HUGEPAGE, false, "HUGEPAGE" },
	{ MADV_NOHUGEPAGE, MADV_HUGEPAGE, SV_NOHUGEPAGE, false, "NOHUGEPAGE" },
};
#define N_ADV_CASES (int)(sizeof(adv_cases) / sizeof(adv_cases[0]))

/* Two adjacent unmerged VMAs with equal flags: see test_shadow_protect.c.
 *  AAAAAAAA  mlock [0,4)  AAAAbbbb  DONTUNMAP [0,4) -> 16, munmap 16..20
 *  AAAAbbbb  (both rw, unlocked, no anon_vma, linear pgoff)
 */
static void make_unmerged_pair(void)
{
	OK(h_mmap(h, 0, 8, RW, FIX));
	OK(h_mlock(h, 0, 4, 0));
	OK(h_mremap(h, 0, 4, 4, MREMAP_MAYMOVE | MREMAP_FIXED |
		    MREMAP_DONTUNMAP, 16));
	ck_assert_int_eq(h_munmap(h, 16, 4), 0);
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(svma(0)->flags, svma(4)->flags);
}

/* ---- flags: advices that change VMA flags -------------------------------- */

START_TEST(advice_splits_and_undo_merges)
{
	/*  0   4   8
	 *  AAAAAAAA        rw
	 *  AAbbCCCC        madvise [2,4) ADV: b gets the flag
	 *  AAAAAAAA        madvise [2,4) UNDO: merged back (when the undo
	 *                  restores the neighbours' flags)
	 *  AAAAAAAA        madvise [0,8) ADV: A's part merges with b (which
	 *                  is unchanged) and C's part joins: one VMA again
	 */
	int adv = adv_cases[_i].adv, undo = adv_cases[_i].undo;
	uint32_t fl = adv_cases[_i].flag;
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_msg(h_madvise(h, 2, 2, adv) == 0, "%s: %s",
		      adv_cases[_i].name, h->why);
	EXPECT("AAbbCCCC");
	ck_assert_uint_eq(sflags(2) & fl, fl);
	ck_assert_uint_eq(sflags(0) & fl, 0);
	ck_assert_uint_eq(sflags(4) & fl, 0);
	ck_assert_uint_eq(h->rec.vmas_split, 2);
	ck_assert_int_eq(npieces(SHADOW_PIECE_CHANGED), 1);
	ck_assert_int_eq(h_madvise(h, 2, 2, undo), 0);
	if (adv_cases[_i].remerge) {
		EXPECT("AAAAAAAA");
		ck_assert_uint_eq(h->rec.vmas_merged, 2);
		ck_assert_uint_eq(sflags(2) & fl, 0);
		/* The advice on the whole range: one VMA with the flag. */
		ck_assert_int_eq(h_madvise(h, 0, 8, adv), 0);
		EXPECT("AAAAAAAA");
		ck_assert_uint_eq(sflags(0) & fl, fl);
	} else {
		EXPECT("AAbbCCCC");
		ck_assert_int_eq(h_madvise(h, 0, 8, undo), 0);
		EXPECT("AAAAAAAA");
	}
}
END_TEST

START_TEST(advice_edge_merges)
{
	/*  AAAAAAAA  [0,4) ADV  AAAAbbbb  [4,6) ADV  AAAAAAbb (merge left)
	 *            [6,8) ADV  AAAAAAAA (the whole rest: merge left)
	 */
	int adv = adv_cases[_i].adv;
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 0, 4, adv), 0);
	EXPECT("AAAAbbbb");
	ck_assert_int_eq(h_madvise(h, 4, 2, adv), 0);
	EXPECT("AAAAAAbb");
	ck_assert_uint_eq(h->rec.vmas_merged, 1);
	ck_assert_int_eq(h_madvise(h, 6, 2, adv), 0);
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(advice_equal_flags_no_split)
{
	/*  AAAAAAAA        NORMAL, DOFORK, DODUMP, KEEPONFORK, UNMERGEABLE on
	 *                  a fresh VMA: nothing to change, no split
	 */
	static const int advs[] = { MADV_NORMAL, MADV_DOFORK, MADV_DODUMP,
				    MADV_KEEPONFORK, MADV_UNMERGEABLE };
	OK(h_mmap(h, 0, 8, RW, FIX));
	for (size_t i = 0; i < sizeof(advs) / sizeof(advs[0]); i++) {
		ck_assert_int_eq(h_madvise(h, 2, 2, advs[i]), 0);
		EXPECT("AAAAAAAA");
		ck_assert_uint_eq(h->rec.vmas_split, 0);
		ck_assert_int_eq(npieces(SHADOW_PIECE_CHANGED), 0);
	}
	/* Applying an advice twice: the second changes nothing. */
	ck_assert_int_eq(h_madvise(h, 2, 2, MADV_DONTDUMP), 0);
	ck_assert_int_eq(h_madvise(h, 2, 2, MADV_DONTDUMP), 0);
	EXPECT("AAbbCCCC");
	ck_assert_uint_eq(h->rec.vmas_split, 0);
}
END_TEST

START_TEST(advice_noop_never_merges)
{
	/*  AAAAbbbb        equal, adjacent, unmerged
	 *  AAAAbbbb        madvise [0,8) NORMAL: no change, no merge
	 *  AAAAAAAA        madvise [0,8) DONTDUMP: A changes, then b changes
	 *                  and merges into A
	 */
	make_unmerged_pair();
	ck_assert_int_eq(h_madvise(h, 0, 8, MADV_NORMAL), 0);
	EXPECT("AAAAbbbb");
	ck_assert_int_eq(h_madvise(h, 0, 8, MADV_DONTDUMP), 0);
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(advice_sequential_then_random)
{
	/*  AAAAAAAA  [0,8) SEQUENTIAL  [2,4) RANDOM  AAbbCCCC (rr replaces sr)
	 *            [2,4) SEQUENTIAL  AAAAAAAA
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 0, 8, MADV_SEQUENTIAL), 0);
	ck_assert_int_eq(h_madvise(h, 2, 2, MADV_RANDOM), 0);
	EXPECT("AAbbCCCC");
	ck_assert_uint_eq(sflags(2) & (SV_SEQ_READ | SV_RAND_READ),
			  SV_RAND_READ);
	ck_assert_int_eq(h_madvise(h, 2, 2, MADV_SEQUENTIAL), 0);
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(advice_whole_vma_three_way)
{
	/*  AAAAbbbbCCCC    b DONTDUMP; madvise b DODUMP: 3-way merge */
	OK(h_mmap(h, 0, 12, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 4, 4, MADV_DONTDUMP), 0);
	EXPECT("AAAAbbbbCCCC");
	ck_assert_int_eq(h_madvise(h, 4, 4, MADV_DODUMP), 0);
	EXPECT("AAAAAAAAAAAA");
	ck_assert_uint_eq(h->rec.vmas_merged, 2);
}
END_TEST

START_TEST(advice_holes_enomem_after_applying)
{
	/*  0   4   8
	 *  AAAA..bbbb      madvise [2,10) DONTDUMP: the hole gives ENOMEM,
	 *  AAbb..CCCC      but the advice went on past it: [2,4) and C both
	 *                  changed
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 6, 4, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 2, 8, MADV_DONTDUMP), -ENOMEM);
	EXPECT("AAbb..CCCC");
	ck_assert_uint_eq(sflags(2) & SV_DONTDUMP, SV_DONTDUMP);
	ck_assert_uint_eq(sflags(6) & SV_DONTDUMP, SV_DONTDUMP);
	ck_assert_uint_eq(sflags(0) & SV_DONTDUMP, 0);
}
END_TEST

START_TEST(advice_hole_at_start_and_end)
{
	/*  ..AAAA..        madvise [0,8) DONTFORK: holes at both ends: ENOMEM,
	 *                  A changed
	 */
	OK(h_mmap(h, 2, 4, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 0, 8, MADV_DONTFORK), -ENOMEM);
	EXPECT("..AAAA");
	ck_assert_uint_eq(sflags(2) & SV_DONTCOPY, SV_DONTCOPY);
	/* Only a tail hole. */
	ck_assert_int_eq(h_madvise(h, 2, 6, MADV_DOFORK), -ENOMEM);
	ck_assert_uint_eq(sflags(2) & SV_DONTCOPY, 0);
	/* All hole. */
	ck_assert_int_eq(h_madvise(h, 8, 4, MADV_DOFORK), -ENOMEM);
	EXPECT("..AAAA");
}
END_TEST

START_TEST(advice_wipeonfork_file_or_shared)
{
	/*  0   4   8
	 *  AAAAbbbbCCCC    anon | shared anon | private file
	 *  madvise [0,12) WIPEONFORK: A changed, b refused: EINVAL, C not
	 *  reached; on C alone: EINVAL
	 */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, RW, MAP_SHARED | MAP_FIXED));
	OK(fmap(8, 4, RW, FIX, fd, 0, &f));
	ck_assert_int_eq(h_madvise(h, 0, 12, MADV_WIPEONFORK), -EINVAL);
	EXPECT("AAAAbbbbCCCC");
	ck_assert_uint_eq(sflags(0) & SV_WIPEONFORK, SV_WIPEONFORK);
	ck_assert_uint_eq(h->rec.applied_end, P(4));
	ck_assert_int_eq(h_madvise(h, 8, 4, MADV_WIPEONFORK), -EINVAL);
	EXPECT("AAAAbbbbCCCC");
}
END_TEST

START_TEST(advice_mergeable_shared_ignored)
{
	/*  AAAA shared anon: MADV_MERGEABLE succeeds and changes nothing */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_madvise(h, 0, 2, MADV_MERGEABLE), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_MERGEABLE, 0);
}
END_TEST

START_TEST(advice_file_flags)
{
	/*  AAAAAAAA private file; [2,4) RANDOM: AAbbCCCC (offsets kept);
	 *  NORMAL: merged back
	 */
	struct shadow_file f;
	make_file(8);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 8, PROT_READ, FIX, fd, 0, &f));
	ck_assert_int_eq(h_madvise(h, 2, 2, MADV_RANDOM), 0);
	EXPECT("AAbbCCCC");
	ck_assert_uint_eq(svma(4)->pgoff, 4);
	ck_assert_int_eq(h_madvise(h, 2, 2, MADV_NORMAL), 0);
	EXPECT("AAAAAAAA");
}
END_TEST

/* ---- other: advices that change no VMA ----------------------------------- */

START_TEST(err_bad_advice_first)
{
	/*  ....            unknown advice: EINVAL before anything, even with
	 *                  len 0, an unaligned start or a hole
	 */
	ck_assert_int_eq(h_madvise(h, 0, 4, 12345), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 0, 0, 12345), -EINVAL);
	ck_assert_int_eq(h_madvise_addr(h, P(0) + 1, 0, 12345), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 0, 4, 99), -EINVAL);
	EXPECT("");
}
END_TEST

START_TEST(err_unaligned_and_len)
{
	/*  AAAA            unaligned start: EINVAL; len 0: 0 (even over a
	 *                  hole); len -1 or -4096: EINVAL
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_madvise_addr(h, P(0) + 1, H_PAGE, MADV_NORMAL),
			 -EINVAL);
	ck_assert_int_eq(h_madvise(h, 8, 0, MADV_DONTDUMP), 0);
	ck_assert_int_eq(h_madvise_addr(h, P(0), UINT64_MAX, MADV_NORMAL),
			 -EINVAL);
	ck_assert_int_eq(h_madvise_addr(h, P(0), (uint64_t)-H_PAGE,
					MADV_NORMAL), -EINVAL);
	EXPECT("AAAA");
}
END_TEST

START_TEST(dontneed_locked_einval)
{
	/*  AAAA locked: DONTNEED EINVAL, DONTNEED_LOCKED fine; FREE, COLD,
	 *  PAGEOUT EINVAL; WILLNEED fine
	 */
	OK(h_mmap(h, 0, 4, RW, FIX | MAP_LOCKED));
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_DONTNEED), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_DONTNEED_LOCKED), 0);
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_FREE), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_COLD), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_PAGEOUT), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_WILLNEED), 0);
	EXPECT("AAAA");
}
END_TEST

START_TEST(free_file_or_shared_einval)
{
	/*  AAAAbbbb        private file | shared anon: MADV_FREE needs an
	 *                  anonymous VMA: EINVAL on both; DONTNEED is fine
	 */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 4, PROT_READ, FIX, fd, 0, &f));
	OK(h_mmap(h, 4, 4, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_FREE), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 4, 4, MADV_FREE), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 0, 8, MADV_DONTNEED), 0);
	EXPECT("AAAAbbbb");
}
END_TEST

START_TEST(free_ok_hole_locked)
{
	/*  AAAA..bbbb      A rw, b locked: MADV_FREE over [0,10): the hole is
	 *                  remembered, b refuses: EINVAL wins
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 6, 4, RW, FIX | MAP_LOCKED));
	ck_assert_int_eq(h_madvise(h, 0, 10, MADV_FREE), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_FREE), 0);
	ck_assert_int_eq(h_madvise(h, 0, 6, MADV_FREE), -ENOMEM);
	EXPECT("AAAA..bbbb");
}
END_TEST

START_TEST(remove_rules)
{
	/*  AAAAbbbbCCCC    private anon | shared anon | shared r file
	 *  MADV_REMOVE: EINVAL (no file) | 0 | EACCES (not writable)
	 */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, RW, MAP_SHARED | MAP_FIXED));
	OK(fmap(8, 4, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0, &f));
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_REMOVE), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 4, 4, MADV_REMOVE), 0);
	ck_assert_int_eq(h_madvise(h, 8, 4, MADV_REMOVE), -EACCES);
	EXPECT("AAAAbbbbCCCC");
}
END_TEST

START_TEST(populate_errors)
{
	/*  AAAAbbbbCCCC    rw | r | none
	 *  POPULATE_WRITE on r: EINVAL; POPULATE_READ on none: EINVAL;
	 *  over a hole: ENOMEM
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	OK(h_mmap(h, 8, 4, PROT_NONE, FIX));
	ck_assert_int_eq(h_madvise(h, 4, 4, MADV_POPULATE_WRITE), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 8, 4, MADV_POPULATE_READ), -EINVAL);
	ck_assert_int_eq(h_madvise(h, 12, 4, MADV_POPULATE_READ), -ENOMEM);
	ck_assert_int_eq(h_madvise(h, 0, 8, MADV_POPULATE_READ), 0);
	EXPECT("AAAAbbbbCCCC");
}
END_TEST

START_TEST(populate_write_gives_anon_vma)
{
	/*  0   4   8   12
	 *  AAAA....CCCC    POPULATE_WRITE on A and on C separately: two
	 *                  anon_vmas; POPULATE_READ gives none
	 *  AAAAAAAAcccc    a fresh mapping in the hole merges with A only
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 8, 4, MADV_POPULATE_READ), 0);
	ck_assert_uint_eq(svma(8)->anon_id, SHADOW_ANON_NONE);
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_POPULATE_WRITE), 0);
	ck_assert_int_eq(h_madvise(h, 8, 4, MADV_POPULATE_WRITE), 0);
	ck_assert_uint_ne(svma(0)->anon_id, SHADOW_ANON_NONE);
	ck_assert_uint_ne(svma(0)->anon_id, svma(8)->anon_id);
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

START_TEST(dontneed_keeps_anon_vma)
{
	/*  AAAA....CCCC    both written, A then MADV_DONTNEED: the anon_vma
	 *  AAAAAAAAcccc    stays, so the hole still merges with A only
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	h_touch(h, 0, true);
	h_touch(h, 8, true);
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_DONTNEED), 0);
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

START_TEST(guard_install_whole_vma_sticky)
{
	/*  AAAAAAAA        GUARD_INSTALL on [2,4): no split; the whole VMA
	 *                  gets VM_MAYBE_GUARD ("gu")
	 *  AAAAAAAAAAAA    a fresh mapping next to it merges (gu is ignored
	 *                  by merges, kept by the result)
	 *  GUARD_REMOVE does not clear it
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 2, 2, MADV_GUARD_INSTALL), 0);
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(sflags(0) & SV_MAYBE_GUARD, SV_MAYBE_GUARD);
	OK(h_mmap(h, 8, 4, RW, FIX));
	EXPECT("AAAAAAAAAAAA");
	ck_assert_uint_eq(sflags(8) & SV_MAYBE_GUARD, SV_MAYBE_GUARD);
	ck_assert_int_eq(h_madvise(h, 2, 2, MADV_GUARD_REMOVE), 0);
	EXPECT("AAAAAAAAAAAA");
	ck_assert_uint_eq(sflags(0) & SV_MAYBE_GUARD, SV_MAYBE_GUARD);
}
END_TEST

START_TEST(guard_merge_into_guarded_next)
{
	/*  ....AAAA        A guarded
	 *  AAAAAAAA        a fresh mapping below merges into it
	 */
	OK(h_mmap(h, 4, 4, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 4, 1, MADV_GUARD_INSTALL), 0);
	OK(h_mmap(h, 0, 4, RW, FIX));
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(sflags(0) & SV_MAYBE_GUARD, SV_MAYBE_GUARD);
}
END_TEST

START_TEST(guard_install_locked_einval)
{
	/*  AAAA locked: GUARD_INSTALL EINVAL */
	OK(h_mmap(h, 0, 4, RW, FIX | MAP_LOCKED));
	ck_assert_int_eq(h_madvise(h, 0, 4, MADV_GUARD_INSTALL), -EINVAL);
	EXPECT("AAAA");
}
END_TEST

START_TEST(guard_install_gives_anon_vma)
{
	/*  0   4   8   12
	 *  AAAA....CCCC    GUARD_INSTALL on A (it prepares an anon_vma so
	 *                  that fork copies the markers), C written
	 *  AAAAAAAAbbbb    a fresh mapping in the hole merges with A only
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 0, 1, MADV_GUARD_INSTALL), 0);
	h_touch(h, 8, true);
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

START_TEST(guard_split_keeps_flag)
{
	/*  AAAAAAAA guarded; mprotect [2,4) r: AAbbCCCC, every piece has gu;
	 *  back to rw: merged again
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 0, 1, MADV_GUARD_INSTALL), 0);
	ck_assert_int_eq(h_mprotect(h, 2, 2, PROT_READ), 0);
	EXPECT("AAbbCCCC");
	ck_assert_int_eq(h_mprotect(h, 2, 2, RW), 0);
	EXPECT("AAAAAAAA");
}
END_TEST

/* ---- lock: mlock2 / munlock / mlockall ----------------------------------- */

/* munlock, mlockall and munlockall by raw system call: ASan intercepts the
 * libc functions and turns them into no-ops (harness.h's h_munlock() calls
 * libc munlock(), so it is not used here). */
static int munlock_pages(uint64_t page, uint64_t npages)
{
	errno = 0;
	int r = (int)syscall(SYS_munlock, P(page), npages * H_PAGE);
	int e = r ? errno : 0;
	int p = shadow_unlock(&h->sh, P(page), npages * H_PAGE, &h->rec);
	h_expect(h, "munlock", r, e, p);
	return r ? -e : 0;
}
static int sys_mlockall(int flags)
{
	return (int)syscall(SYS_mlockall, flags);
}
static int sys_munlockall(void)
{
	return (int)syscall(SYS_munlockall);
}

/* mlock2 at a byte address (the harness takes pages). */
static int lock_addr(uint64_t addr, uint64_t len, int flags)
{
	errno = 0;
	int r = (int)syscall(SYS_mlock2, addr, len, flags);
	int e = r ? errno : 0;
	int p = shadow_lock(&h->sh, addr, len, flags, &h->rec);
	h_expect(h, "mlock2", r, e, p);
	return r ? -e : 0;
}

START_TEST(mlock_splits_and_munlock_merges)
{
	/*  AAAAAAAA  mlock [2,4)  AAbbCCCC  munlock [2,4)  AAAAAAAA */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 2, 2, 0), 0);
	EXPECT("AAbbCCCC");
	ck_assert_uint_eq(sflags(2) & (SV_LOCKED | SV_LOCKONFAULT), SV_LOCKED);
	ck_assert_uint_eq(h->sh.c.locked_vm, 2);
	ck_assert_int_eq(munlock_pages(2, 2), 0);
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(h->sh.c.locked_vm, 0);
}
END_TEST

START_TEST(munlock_three_pieces_merge)
{
	/*  AAAAAAAAAAAA  r: mlock [0,4) and [8,12) on fault, [4,8) plainly
	 *                (r: read-populated, no anon_vma anywhere)
	 *  AAAAbbbbCCCC  "lo lf" | "lo" | "lo lf"
	 *  AAAAAAAAAAAA  munlock [0,12): one VMA again
	 */
	OK(h_mmap(h, 0, 12, PROT_READ, FIX));
	ck_assert_int_eq(h_mlock(h, 0, 4, MLOCK_ONFAULT), 0);
	ck_assert_int_eq(h_mlock(h, 4, 4, 0), 0);
	ck_assert_int_eq(h_mlock(h, 8, 4, MLOCK_ONFAULT), 0);
	EXPECT("AAAAbbbbCCCC");
	ck_assert_int_eq(munlock_pages(0, 12), 0);
	EXPECT("AAAAAAAAAAAA");
}
END_TEST

START_TEST(munlock_populated_pieces_stay_apart)
{
	/*  AAAAbbbbCCCC  rw: mlock [0,4) (populated: anon_vma X), [4,8) on
	 *                fault (none), [8,12) (populated: its own, Y)
	 *  AAAAAAAAbbbb  munlock [0,12): [4,8) joins X, Y cannot
	 */
	OK(h_mmap(h, 0, 12, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 0, 4, 0), 0);
	ck_assert_int_eq(h_mlock(h, 4, 4, MLOCK_ONFAULT), 0);
	ck_assert_int_eq(h_mlock(h, 8, 4, 0), 0);
	EXPECT("AAAAbbbbCCCC");
	ck_assert_uint_ne(svma(0)->anon_id, svma(8)->anon_id);
	ck_assert_int_eq(munlock_pages(0, 12), 0);
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

START_TEST(mlock_stops_at_hole)
{
	/*  0   4   8
	 *  AAAA..bbbb      mlock [2,10): [2,4) locked, the hole: ENOMEM, and
	 *  AAbb..CCCC      unlike madvise, b is NOT locked
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 6, 4, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 2, 8, 0), -ENOMEM);
	EXPECT("AAbb..CCCC");
	ck_assert_uint_eq(sflags(2) & SV_LOCKED, SV_LOCKED);
	ck_assert_uint_eq(sflags(6) & SV_LOCKED, 0);
}
END_TEST

START_TEST(mlock_tail_hole)
{
	/*  AAAA..          mlock [0,6): A locked, ENOMEM for the tail */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 0, 6, 0), -ENOMEM);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_LOCKED, SV_LOCKED);
	ck_assert_int_eq(munlock_pages(0, 6), -ENOMEM);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_LOCKED, 0);
}
END_TEST

START_TEST(mlock_unmapped_start)
{
	/*  ..AAAA          mlock [0,6): start unmapped: ENOMEM, nothing */
	OK(h_mmap(h, 2, 4, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 0, 6, 0), -ENOMEM);
	ck_assert_int_eq(munlock_pages(0, 6), -ENOMEM);
	EXPECT("..AAAA");
	ck_assert_uint_eq(sflags(2) & SV_LOCKED, 0);
}
END_TEST

START_TEST(mlock_len_zero_and_unaligned)
{
	/*  AAAAAAAA        mlock len 0: 0 even unmapped; an unaligned start
	 *  AAbbbbbb        is rounded down and the length up: mlock(page 0 +
	 *                  100, 1 page) locks pages 0 and 1
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 16, 0, 0), 0);
	ck_assert_int_eq(lock_addr(P(0) + 100, H_PAGE, 0), 0);
	EXPECT("AAbbbbbb");
	ck_assert_uint_eq(sflags(0) & SV_LOCKED, SV_LOCKED);
	ck_assert_uint_eq(h->sh.c.locked_vm, 2);
}
END_TEST

START_TEST(mlock_bad_flags)
{
	/*  AAAA            mlock2 flags 2: EINVAL */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 0, 4, 2), -EINVAL);
	ck_assert_int_eq(h_mlock(h, 0, 4, MLOCK_ONFAULT | 4), -EINVAL);
	EXPECT("AAAA");
}
END_TEST

START_TEST(mlock_onfault_no_populate)
{
	/*  0   4   8   12
	 *  AAAA....CCCC    A, C rw mlocked ONFAULT: lo lf, nothing populated
	 *  AAAAAAAAAAAA    a fresh locked-onfault mapping in the hole: all
	 *                  three merge (no anon_vma anywhere)
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 0, 4, MLOCK_ONFAULT), 0);
	ck_assert_int_eq(h_mlock(h, 8, 4, MLOCK_ONFAULT), 0);
	ck_assert_uint_eq(sflags(0) & (SV_LOCKED | SV_LOCKONFAULT),
			  SV_LOCKED | SV_LOCKONFAULT);
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
	OK(h_mmap(h, 4, 4, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 4, 4, MLOCK_ONFAULT), 0);
	EXPECT("AAAAAAAAAAAA");
}
END_TEST

START_TEST(mlock_populate_gives_anon_vma)
{
	/*  0   4   8   12
	 *  AAAA....CCCC    A, C rw mlocked (populated with write faults: two
	 *                  anon_vmas)
	 *  AAAAAAAAcccc    the hole, mlocked too: merges with A only
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 0, 4, 0), 0);
	ck_assert_int_eq(h_mlock(h, 8, 4, 0), 0);
	ck_assert_uint_ne(svma(0)->anon_id, SHADOW_ANON_NONE);
	OK(h_mmap(h, 4, 4, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 4, 4, 0), 0);
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

START_TEST(mlock_read_only_no_anon_vma)
{
	/*  AAAA....CCCC    r mlocked: read faults, no anon_vma
	 *  AAAAAAAAAAAA
	 */
	OK(h_mmap(h, 0, 4, PROT_READ, FIX));
	OK(h_mmap(h, 8, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_mlock(h, 0, 4, 0), 0);
	ck_assert_int_eq(h_mlock(h, 8, 4, 0), 0);
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
	OK(h_mmap(h, 4, 4, PROT_READ, FIX | MAP_LOCKED));
	EXPECT("AAAAAAAAAAAA");
}
END_TEST

START_TEST(mlock_onfault_then_lock_populates)
{
	/*  AAAA onfault, then mlock (no flag): lf dropped, populated */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mlock(h, 0, 4, MLOCK_ONFAULT), 0);
	ck_assert_int_eq(h_mlock(h, 0, 4, 0), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & (SV_LOCKED | SV_LOCKONFAULT), SV_LOCKED);
	ck_assert_uint_ne(svma(0)->anon_id, SHADOW_ANON_NONE);
}
END_TEST

START_TEST(munlock_noop_never_merges)
{
	/*  AAAAbbbb        equal, adjacent, unmerged
	 *  AAAAbbbb        munlock [0,8): nothing to change, no merge
	 *  AAAAAAAA        mlock [0,8): A changes, then b joins it
	 */
	make_unmerged_pair();
	ck_assert_int_eq(munlock_pages(0, 8), 0);
	EXPECT("AAAAbbbb");
	ck_assert_int_eq(h_mlock(h, 0, 8, 0), 0);
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(mlock_shared_anon)
{
	/*  AAAA shared anon mlocked: lo, never an anon_vma */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_mlock(h, 0, 4, 0), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_LOCKED, SV_LOCKED);
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
}
END_TEST

START_TEST(mlockall_future_then_munlockall)
{
	/*  ....bbbb        b rw, mapped before mlockall
	 *  AAAAbbbb        mlockall(MCL_FUTURE|MCL_ONFAULT); A mapped: born
	 *                  locked on fault
	 *  AAAAAAAA        munlockall(): A unlocked, now equal to b: merged
	 */
	OK(h_mmap(h, 4, 4, RW, FIX));
	ck_assert_int_eq(sys_mlockall(MCL_FUTURE | MCL_ONFAULT), 0);
	ck_assert_int_eq(shadow_lockall(&h->sh, MCL_FUTURE | MCL_ONFAULT,
					&h->rec), 0);
	int64_t r = h_mmap(h, 0, 4, RW, FIX);
	int e1 = sys_munlockall();
	int e2 = shadow_unlockall(&h->sh, &h->rec);
	ck_assert_int_eq(r, (int64_t)P(0));
	ck_assert_int_eq(e1, 0);
	ck_assert_int_eq(e2, 0);
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(h->sh.def_flags, 0);
}
END_TEST

START_TEST(mlockall_future_mapping_is_locked)
{
	/*  AAAA..          under mlockall(MCL_FUTURE|MCL_ONFAULT) a new
	 *                  mapping carries lo lf
	 */
	ck_assert_int_eq(sys_mlockall(MCL_FUTURE | MCL_ONFAULT), 0);
	ck_assert_int_eq(shadow_lockall(&h->sh, MCL_FUTURE | MCL_ONFAULT,
					&h->rec), 0);
	int64_t r = h_mmap(h, 0, 4, RW, FIX);
	uint32_t kf = kernel_vmflags(P(0));
	sys_munlockall();
	ck_assert_int_eq(r, (int64_t)P(0));
	ck_assert_uint_eq(kf & (SV_LOCKED | SV_LOCKONFAULT),
			  SV_LOCKED | SV_LOCKONFAULT);
	ck_assert_uint_eq(sflags(0) & (SV_LOCKED | SV_LOCKONFAULT),
			  SV_LOCKED | SV_LOCKONFAULT);
	shadow_unlockall(&h->sh, &h->rec);
	EXPECT("AAAA");
}
END_TEST

START_TEST(fork_child_copy)
{
	/*  AAbbCCCC..dddd..EEEE   parent: b mlocked, D MADV_DONTFORK, E
	 *                         MADV_WIPEONFORK; A b C E written
	 *  AAbbCCCC........dddd   child (dup_mmap): D not copied, the lock
	 *                         not inherited but the VMAs not merged; each
	 *                         anon_vma a new one (unknown to userspace),
	 *                         E's none at all
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	for (int i = 0; i < 8; i++)
		h_touch(h, (uint64_t)i, true);
	ck_assert_int_eq(h_mlock(h, 2, 2, 0), 0);
	OK(h_mmap(h, 10, 4, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 10, 4, MADV_DONTFORK), 0);
	OK(h_mmap(h, 16, 4, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 16, 4, MADV_WIPEONFORK), 0);
	h_touch(h, 16, true);
	EXPECT("AAbbCCCC..dddd..EEEE");
	ck_assert_uint_eq(h->sh.c.locked_vm, 2);
	pid_t pid = check_fork();
	if (pid) {
		check_waitpid_and_exit(pid);
		return;
	}
	/* /proc/self/maps opened in the parent reads the parent's mm */
	close(h->maps_fd);
	h->maps_fd = kview_open_maps();
	ck_assert_int_eq(shadow_fork(&h->sh, 0), 0);
	EXPECT("AAbbCCCC........dddd");
	ck_assert_uint_eq(h->sh.c.locked_vm, 0);
	ck_assert_uint_eq(sflags(2) & SV_LOCKED, 0);
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_UNKNOWN);
	ck_assert_uint_eq(svma(16)->anon_id, SHADOW_ANON_NONE);
	/* Read-only over A b C: the kernel keeps them apart (three new
	 * anon_vmas); the shadow, not knowing, must not merge them. */
	ck_assert_int_eq(h_mprotect(h, 0, 8, PROT_READ), 0);
	EXPECT("AAbbCCCC........dddd");
	/* D is a hole in the child: unmapping it changes nothing. */
	ck_assert_int_eq(h_munmap(h, 10, 4), 0);
	EXPECT("AAbbCCCC........dddd");
}
END_TEST

/* ---- userfaultfd registration ------------------------------------------- */

static int uffd_open(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	ck_assert_msg(fd >= 0, "userfaultfd: %s", strerror(errno));
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	ck_assert_int_eq(ioctl(fd, UFFDIO_API, &api), 0);
	return fd;
}

/* The same registration on the kernel and the shadow; both results. */
static void uffd_both(int fd, uint64_t page, uint64_t npages, uint32_t uflags)
{
	struct uffdio_range r = { .start = P(page), .len = npages * H_PAGE };
	int kr;
	if (uflags) {
		struct uffdio_register reg = { .range = r };
		if (uflags & SV_UFFD)
			reg.mode |= UFFDIO_REGISTER_MODE_MISSING;
		if (uflags & SV_UFFD_WP)
			reg.mode |= UFFDIO_REGISTER_MODE_WP;
		kr = ioctl(fd, UFFDIO_REGISTER, &reg) ? -errno : 0;
	} else {
		kr = ioctl(fd, UFFDIO_UNREGISTER, &r) ? -errno : 0;
	}
	int sr = shadow_uffd_register(&h->sh, r.start, r.len, uflags, &h->rec);
	ck_assert_int_eq(kr, sr);
}

START_TEST(uffd_register_splits_and_merges)
{
	/*  AAAAAAAA  register [2,4) WP     AAbbCCCC
	 *            register [4,8) WP     AAbbbbbb  (merged with b)
	 *            register [4,6) WP     AAbbbbbb  (already: no change)
	 *            register [0,2) MISSING AAbbbbbb (um, not uw: apart)
	 *            unregister [0,8)      AAAAAAAA
	 *  ....CC    register over a hole and a VMA: the VMA only
	 */
	int fd = uffd_open();
	OK(h_mmap(h, 0, 8, RW, FIX));
	uffd_both(fd, 2, 2, SV_UFFD_WP);
	EXPECT("AAbbCCCC");
	uffd_both(fd, 4, 4, SV_UFFD_WP);
	EXPECT("AAbbbbbb");
	uffd_both(fd, 4, 2, SV_UFFD_WP);
	EXPECT("AAbbbbbb");
	uffd_both(fd, 0, 2, SV_UFFD);
	EXPECT("AAbbbbbb");
	uffd_both(fd, 0, 8, 0);
	EXPECT("AAAAAAAA");
	OK(h_mmap(h, 12, 2, RW, FIX));
	uffd_both(fd, 10, 4, SV_UFFD_WP);
	EXPECT("AAAAAAAA....bb");
	uffd_both(fd, 8, 2, SV_UFFD_WP); /* only a hole: EINVAL */
	close(fd);
}
END_TEST

START_TEST(mlockall_bad_flags)
{
	/*  mlockall(0), (MCL_ONFAULT), (0x100): EINVAL */
	static const int bad[] = { 0, MCL_ONFAULT, 0x100 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ck_assert_int_eq(sys_mlockall(bad[i]), -1);
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_int_eq(shadow_lockall(&h->sh, bad[i], &h->rec),
				 -EINVAL);
	}
}
END_TEST

/* ---- touch: faults and the anon_vma -------------------------------------- */

START_TEST(touch_write_sets_read_does_not)
{
	/*  AAAA rw: a read leaves no anon_vma, a write gives one; touching a
	 *  hole or a PROT_NONE page is refused by the shadow (-EFAULT)
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_NONE, FIX));
	ck_assert_int_eq(shadow_touch(&h->sh, P(0), false), 0);
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
	ck_assert_int_eq(shadow_touch(&h->sh, P(1), true), 0);
	ck_assert_uint_ne(svma(0)->anon_id, SHADOW_ANON_NONE);
	ck_assert_int_eq(shadow_touch(&h->sh, P(4), false), -EFAULT);
	ck_assert_int_eq(shadow_touch(&h->sh, P(8), false), -EFAULT);
	EXPECT("AAAAbbbb");
}
END_TEST

START_TEST(touch_split_halves_remerge)
{
	/*  AAAAAAAA written    mprotect [4,8) r: AAAAbbbb, both halves share
	 *  the anon_vma;       mprotect back: AAAAAAAA
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	h_touch(h, 0, true);
	ck_assert_int_eq(h_mprotect(h, 4, 4, PROT_READ), 0);
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(svma(0)->anon_id, svma(4)->anon_id);
	ck_assert_int_eq(h_mprotect(h, 4, 4, RW), 0);
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(touch_separately_faulted_never_merge)
{
	/*  0   4   8   12
	 *  AAAA....CCCC    A and C written apart: two anon_vmas
	 *  AAAAbbbbCCCC    b r mapped in the hole (no merge: prot)
	 *  AAAAAAAAcccc    b made rw: joins A; C stays apart
	 *  AAAAAAAAcccc    r and back to rw over everything: still two
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	h_touch(h, 0, true);
	h_touch(h, 8, true);
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	EXPECT("AAAAbbbbCCCC");
	ck_assert_int_eq(h_mprotect(h, 4, 4, RW), 0);
	EXPECT("AAAAAAAAbbbb");
	ck_assert_int_eq(h_mprotect(h, 0, 12, PROT_READ), 0);
	ck_assert_int_eq(h_mprotect(h, 0, 12, RW), 0);
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

START_TEST(touch_reuses_neighbour_anon_vma)
{
	/*  AAAAbbbb        A rw written, b rwx (prot differs: two VMAs)
	 *                  b's first write reuses A's anon_vma (access bits
	 *                  are ignored by anon_vma_compatible)
	 *  AAAAAAAA        so b made rw merges with A
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, RW | PROT_EXEC, FIX));
	h_touch(h, 0, true);
	h_touch(h, 4, true);
	ck_assert_uint_eq(svma(0)->anon_id, svma(4)->anon_id);
	ck_assert_int_eq(h_mprotect(h, 4, 4, RW), 0);
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(touch_reuses_next_first)
{
	/*  AAAAbbbbCCCC    A rw written, C rw written apart (two anon_vmas),
	 *                  b rwx between them, then written: reuses the NEXT
	 *                  one's (C's) first
	 *  AAAAbbbbbbbb    b made rw merges with C, not A
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	h_touch(h, 0, true);
	h_touch(h, 8, true);
	OK(h_mmap(h, 4, 4, RW | PROT_EXEC, FIX));
	h_touch(h, 4, true);
	ck_assert_uint_eq(svma(4)->anon_id, svma(8)->anon_id);
	ck_assert_int_eq(h_mprotect(h, 4, 4, RW), 0);
	EXPECT("AAAAbbbbbbbb");
}
END_TEST

START_TEST(touch_read_faulted_neighbour_merges)
{
	/*  AAAA....CCCC    A read only touched (zero page), C written
	 *  AAAAAAAAAAAA    the hole filled: all merge (A has no anon_vma)
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	h_touch(h, 0, false);
	h_touch(h, 8, true);
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAAAAAA");
}
END_TEST

START_TEST(touch_file_cow_sets_anon_vma)
{
	/*  AAAAAAAA private rw file, page 0 written (COW): anon_vma; a read
	 *  of a private r file does not
	 */
	struct shadow_file f;
	make_file(8);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 4, RW, FIX, fd, 0, &f));
	OK(fmap(4, 4, PROT_READ, FIX, fd, 4, &f));
	h_touch(h, 0, true);
	h_touch(h, 4, false);
	ck_assert_uint_ne(svma(0)->anon_id, SHADOW_ANON_NONE);
	ck_assert_uint_eq(svma(4)->anon_id, SHADOW_ANON_NONE);
	EXPECT("AAAAbbbb");
}
END_TEST

/* A bigger window for the THP case: 1024 pages hold one aligned 2 MiB. */
static void setup_big(void)
{
	h = calloc(1, sizeof(*h));
	ck_assert_ptr_nonnull(h);
	h_init(h, 1024);
}

START_TEST(touch_thp_read_fault_sets_anon_vma)
{
	/*  [2 MiB aligned, MADV_HUGEPAGE] rw; one read fault: the huge zero
	 *  page path prepares an anon_vma first (THP "madvise" mode here), so
	 *  the VMA made r keeps VM_ACCOUNT
	 */
	uint64_t a = (h->base + (2ull << 20) - 1) & ~((2ull << 20) - 1);
	uint64_t pg = (a - h->base) / H_PAGE;
	ck_assert_uint_le(pg + 512, 1024);
	OK(h_mmap(h, pg, 512, RW, FIX));
	ck_assert_int_eq(h_madvise(h, pg, 512, MADV_HUGEPAGE), 0);
	h_touch(h, pg + 1, false);
	ck_assert_uint_ne(svma(pg)->anon_id, SHADOW_ANON_NONE);
	ck_assert_int_eq(h_mprotect(h, pg, 512, PROT_READ), 0);
	ck_assert_msg(h->errno_mismatch == 0, "%s", h->why);
	ck_assert_msg(h_compare(h, NULL) == 0, "%s", h->why);
	ck_assert_uint_eq(kernel_vmflags(a) & SV_SMAPS_MASK, sflags(pg));
	ck_assert_uint_eq(sflags(pg) & SV_ACCOUNT, SV_ACCOUNT);
}
END_TEST

START_TEST(touch_thp_small_vma_read_no_anon_vma)
{
	/*  MADV_HUGEPAGE on a VMA smaller than 2 MiB: a read maps the small
	 *  zero page: no anon_vma, r drops VM_ACCOUNT
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_madvise(h, 0, 8, MADV_HUGEPAGE), 0);
	h_touch(h, 1, false);
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
	ck_assert_int_eq(h_mprotect(h, 0, 8, PROT_READ), 0);
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, 0);
}
END_TEST

static Suite *advise_suite(void)
{
	Suite *s = suite_create("shadow_advise");
	TCase *tc;

	tc = tcase_create("flags");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, advice_splits_and_undo_merges, 0, N_ADV_CASES);
	tcase_add_loop_test(tc, advice_edge_merges, 0, N_ADV_CASES);
	tcase_add_test(tc, advice_equal_flags_no_split);
	tcase_add_test(tc, advice_noop_never_merges);
	tcase_add_test(tc, advice_sequential_then_random);
	tcase_add_test(tc, advice_whole_vma_three_way);
	tcase_add_test(tc, advice_holes_enomem_after_applying);
	tcase_add_test(tc, advice_hole_at_start_and_end);
	tcase_add_test(tc, advice_wipeonfork_file_or_shared);
	tcase_add_test(tc, advice_mergeable_shared_ignored);
	tcase_add_test(tc, advice_file_flags);
	suite_add_tcase(s, tc);

	tc = tcase_create("other");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, err_bad_advice_first);
	tcase_add_test(tc, err_unaligned_and_len);
	tcase_add_test(tc, dontneed_locked_einval);
	tcase_add_test(tc, free_file_or_shared_einval);
	tcase_add_test(tc, free_ok_hole_locked);
	tcase_add_test(tc, remove_rules);
	tcase_add_test(tc, populate_errors);
	tcase_add_test(tc, populate_write_gives_anon_vma);
	tcase_add_test(tc, dontneed_keeps_anon_vma);
	tcase_add_test(tc, guard_install_whole_vma_sticky);
	tcase_add_test(tc, guard_merge_into_guarded_next);
	tcase_add_test(tc, guard_install_locked_einval);
	tcase_add_test(tc, guard_install_gives_anon_vma);
	tcase_add_test(tc, guard_split_keeps_flag);
	suite_add_tcase(s, tc);

	tc = tcase_create("lock");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mlock_splits_and_munlock_merges);
	tcase_add_test(tc, munlock_three_pieces_merge);
	tcase_add_test(tc, munlock_populated_pieces_stay_apart);
	tcase_add_test(tc, mlock_stops_at_hole);
	tcase_add_test(tc, mlock_tail_hole);
	tcase_add_test(tc, mlock_unmapped_start);
	tcase_add_test(tc, mlock_len_zero_and_unaligned);
	tcase_add_test(tc, mlock_bad_flags);
	tcase_add_test(tc, mlock_onfault_no_populate);
	tcase_add_test(tc, mlock_populate_gives_anon_vma);
	tcase_add_test(tc, mlock_read_only_no_anon_vma);
	tcase_add_test(tc, mlock_onfault_then_lock_populates);
	tcase_add_test(tc, munlock_noop_never_merges);
	tcase_add_test(tc, mlock_shared_anon);
	tcase_add_test(tc, mlockall_future_then_munlockall);
	tcase_add_test(tc, mlockall_future_mapping_is_locked);
	tcase_add_test(tc, mlockall_bad_flags);
	suite_add_tcase(s, tc);

	tc = tcase_create("touch");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, touch_write_sets_read_does_not);
	tcase_add_test(tc, touch_split_halves_remerge);
	tcase_add_test(tc, touch_separately_faulted_never_merge);
	tcase_add_test(tc, touch_reuses_neighbour_anon_vma);
	tcase_add_test(tc, touch_reuses_next_first);
	tcase_add_test(tc, touch_read_faulted_neighbour_merges);
	tcase_add_test(tc, touch_file_cow_sets_anon_vma);
	tcase_add_test(tc, touch_thp_small_vma_read_no_anon_vma);
	tcase_add_test(tc, fork_child_copy);
	tcase_add_test(tc, uffd_register_splits_and_merges);
	suite_add_tcase(s, tc);

	tc = tcase_create("touch_thp");
	tcase_add_checked_fixture(tc, setup_big, teardown);
	tcase_add_test(tc, touch_thp_read_fault_sets_anon_vma);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return optest_main(advise_suite());
}
