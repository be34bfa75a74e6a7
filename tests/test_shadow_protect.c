/*
 * test_shadow_protect.c - mprotect(2) in the shadow against the real
 * kernel: splits at the range's edges, merges when a VMA's edge is touched
 * (re-merge on restore, 3-way merge of a whole VMA), no merge attempt when
 * nothing changes, VM_ACCOUNT added and dropped as mprotect_fixup() does
 * (faulted vs unfaulted), the partial application before a hole (ENOMEM)
 * or a refused VMA (EACCES), and every errno.  Same harness and assertions
 * as every scenario test (see optest.h).
 */
#include "optest.h"

#ifndef PROT_SEM
#define PROT_SEM 0x8
#endif

/* Two adjacent VMAs [0, 4) and [4, 8), rw, unfaulted, linear pgoff, equal
 * in every flag, that the kernel has not merged: page 0-3 were mlocked
 * (split off and populated), then moved away with MREMAP_DONTUNMAP, which
 * unlocks the old VMA and drops its anon_vma without any merge attempt.
 *
 *  AAAAAAAA  mlock [0,4)  AAAAbbbb  DONTUNMAP [0,4) -> 16  AAAAbbbb........CCCC
 *  munmap [16,20)         AAAAbbbb
 */
static void make_unmerged_pair(void)
{
	OK(h_mmap(h, 0, 8, RW, FIX));
	OK(h_mlock(h, 0, 4, 0));
	EXPECT("AAAAbbbb");
	OK(h_mremap(h, 0, 4, 4, MREMAP_MAYMOVE | MREMAP_FIXED |
		    MREMAP_DONTUNMAP, 16));
	EXPECT("AAAAbbbb........CCCC");
	ck_assert_int_eq(h_munmap(h, 16, 4), 0);
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(svma(0)->flags, svma(4)->flags);
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
	ck_assert_uint_eq(svma(4)->anon_id, SHADOW_ANON_NONE);
}

/* ---- split_merge ------------------------------------------------------- */

START_TEST(split_head)
{
	/*  AAAAAAAA  mprotect [0,2) r  ->  AAbbbbbb */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 0, 2, PROT_READ), 0);
	EXPECT("AAbbbbbb");
	ck_assert_uint_eq(h->rec.vmas_split, 1);
	ck_assert_uint_eq(svma(2)->pgoff, P(2) >> 12);
}
END_TEST

START_TEST(split_tail)
{
	/*  AAAAAAAA  mprotect [6,8) r  ->  AAAAAAbb */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 6, 2, PROT_READ), 0);
	EXPECT("AAAAAAbb");
	ck_assert_uint_eq(h->rec.vmas_split, 1);
}
END_TEST

START_TEST(split_middle)
{
	/*  AAAAAAAA  mprotect [2,4) r  ->  AAbbCCCC (a range strictly inside
	 *  a VMA never merges: split in three)
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 2, 2, PROT_READ), 0);
	EXPECT("AAbbCCCC");
	ck_assert_uint_eq(h->rec.vmas_split, 2);
	ck_assert_uint_eq(h->rec.vmas_merged, 0);
	ck_assert_uint_eq(sflags(2) & SV_PROT_MASK, SV_READ);
	/* The change record names the region and the old flags. */
	ck_assert_uint_eq(h->rec.npieces, 1);
	ck_assert_uint_eq(h->rec.pieces[0].kind, SHADOW_PIECE_CHANGED);
	ck_assert_uint_eq(h->rec.pieces[0].start, P(2));
	ck_assert_uint_eq(h->rec.pieces[0].end, P(4));
	ck_assert_uint_eq(h->rec.pieces[0].old_flags & SV_PROT_MASK,
			  SV_READ | SV_WRITE);
	ck_assert_uint_eq(h->rec.pieces[0].stack_id, 1);
	/* Regions are not split by mprotect. */
	ck_assert_uint_eq(h->sh.c.nregions, 1);
}
END_TEST

START_TEST(whole_vma_no_split)
{
	/*  AAAAAAAA  mprotect [0,8) r  ->  AAAAAAAA (r) */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 0, 8, PROT_READ), 0);
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(h->rec.vmas_split, 0);
	ck_assert_uint_eq(sflags(0) & SV_PROT_MASK, SV_READ);
	ck_assert_uint_eq(h->sh.c.data_vm, 0);
}
END_TEST

START_TEST(restore_remerges_unfaulted)
{
	/*  AAAAAAAA  [2,4) r  AAbbCCCC  [2,4) rw again  AAAAAAAA
	 *  (b lost VM_ACCOUNT when made r, gets it back when made rw: equal
	 *  to both neighbours, a 3-way merge)
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 2, 2, PROT_READ), 0);
	EXPECT("AAbbCCCC");
	ck_assert_uint_eq(sflags(2) & SV_ACCOUNT, 0);
	ck_assert_int_eq(h_mprotect(h, 2, 2, RW), 0);
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(h->rec.vmas_merged, 2);
	ck_assert_uint_eq(h->sh.c.map_count, 1);
}
END_TEST

START_TEST(restore_remerges_faulted)
{
	/*  AAAAAAAA written  [2,4) r  AAbbCCCC  [2,4) rw  AAAAAAAA
	 *  (b keeps VM_ACCOUNT, it has the anon_vma: still equal to both)
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	h_touch(h, 0, true);
	ck_assert_int_eq(h_mprotect(h, 2, 2, PROT_READ), 0);
	EXPECT("AAbbCCCC");
	ck_assert_uint_eq(sflags(2) & SV_ACCOUNT, SV_ACCOUNT);
	ck_assert_int_eq(h_mprotect(h, 2, 2, RW), 0);
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(edge_merges_with_prev)
{
	/*  0   4   8
	 *  AAAAbbbb        rw | r
	 *  AAAAAAbb        mprotect [4,6) rw: touches b's start, merges left
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_mprotect(h, 4, 2, RW), 0);
	EXPECT("AAAAAAbb");
	ck_assert_uint_eq(h->rec.vmas_merged, 1);
	ck_assert_uint_eq(h->rec.vmas_split, 0);
	ck_assert_uint_eq(svma(6)->pgoff, P(6) >> 12);
}
END_TEST

START_TEST(edge_merges_with_next)
{
	/*  0   4   8
	 *  AAAAbbbb        rw | r
	 *  AAbbbbbb        mprotect [2,4) r: touches A's end, merges right;
	 *                  b now starts at 2 (pgoff moves with it)
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_mprotect(h, 2, 2, PROT_READ), 0);
	EXPECT("AAbbbbbb");
	ck_assert_uint_eq(svma(2)->pgoff, P(2) >> 12);
}
END_TEST

START_TEST(whole_vma_merges_both)
{
	/*  AAAAbbbbCCCC    rw | r | rw
	 *  AAAAAAAAAAAA    mprotect b rw: 3-way merge
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 4, 4, RW), 0);
	EXPECT("AAAAAAAAAAAA");
	ck_assert_uint_eq(h->rec.vmas_merged, 2);
}
END_TEST

START_TEST(whole_vma_between_two_written)
{
	/*  AAAAbbbbCCCC    rw written | r | rw written (two anon_vmas)
	 *  AAAAAAAAcccc    mprotect b rw: merges with prev only
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	OK(h_mmap(h, 8, 4, RW, FIX));
	h_touch(h, 0, true);
	h_touch(h, 8, true);
	ck_assert_int_eq(h_mprotect(h, 4, 4, RW), 0);
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

START_TEST(across_vmas)
{
	/*  0   4   8   12
	 *  AAAAbbbbCCCC    r | rw | r
	 *  AAbbbbbbbbCC    mprotect [2,10) rw: A's tail joins b (right
	 *                  merge), b unchanged (skipped), C's head joins b
	 */
	OK(h_mmap(h, 0, 4, PROT_READ, FIX));
	OK(h_mmap(h, 4, 4, RW, FIX));
	OK(h_mmap(h, 8, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_mprotect(h, 2, 8, RW), 0);
	EXPECT("AAbbbbbbbbCC");
	ck_assert_uint_eq(h->rec.vmas_merged, 2);
	ck_assert_uint_eq(h->rec.applied_end, P(10));
}
END_TEST

START_TEST(noop_never_merges)
{
	/*  AAAAbbbb        equal, adjacent, unmerged (see make_unmerged_pair)
	 *  AAAAbbbb        mprotect [0,8) rw: nothing changes, nothing merges
	 *  AAAAAAAA        mprotect [0,8) r: A changes (no merge: b still rw),
	 *                  then b changes and merges into A
	 */
	make_unmerged_pair();
	ck_assert_int_eq(h_mprotect(h, 0, 8, RW), 0);
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(h->rec.vmas_merged, 0);
	ck_assert_int_eq(h_mprotect(h, 0, 8, PROT_READ), 0);
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(h->rec.vmas_merged, 1);
}
END_TEST

START_TEST(growsdown_applies_from_vma_start)
{
	/*  0   4   8   12
	 *  ....GGGGGGGG    MAP_GROWSDOWN rw
	 *  ....GGGGGGGG    mprotect(page 8, 4 pages, r | PROT_GROWSDOWN):
	 *                  the range starts at the VMA's start: all of it r
	 */
	OK(h_mmap(h, 4, 8, RW, FIX | MAP_GROWSDOWN));
	ck_assert_int_eq(h_mprotect(h, 8, 4, PROT_READ | PROT_GROWSDOWN), 0);
	EXPECT("....AAAAAAAA");
	ck_assert_uint_eq(sflags(4) & SV_PROT_MASK, SV_READ);
}
END_TEST

START_TEST(prot_sem_accepted)
{
	/*  AAAA            PROT_SEM is valid on x86 (and ignored) */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ | PROT_SEM), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_PROT_MASK, SV_READ);
}
END_TEST

START_TEST(unaligned_len_rounds_up)
{
	/*  AAAAAAAA  mprotect(page 0, 1 page + 1) r  ->  AAbbbbbb */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mprotect_addr(h, P(0), H_PAGE + 1, PROT_READ), 0);
	EXPECT("AAbbbbbb");
}
END_TEST

START_TEST(locked_made_writable_is_populated)
{
	/*  0   4   8   12
	 *  AAAA....CCCC    both locked; A r (read-populated: no anon_vma),
	 *                  C rw (write-populated: anon_vma)
	 *  mprotect A rw: a locked private VMA made writable is populated
	 *  with write faults, so A gets its own anon_vma
	 *  AAAAAAAAbbbb    a locked rw mapping in the hole joins A only
	 */
	OK(h_mmap(h, 0, 4, PROT_READ, FIX | MAP_LOCKED));
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
	OK(h_mmap(h, 8, 4, RW, FIX | MAP_LOCKED));
	ck_assert_int_eq(h_mprotect(h, 0, 4, RW), 0);
	ck_assert_uint_ne(svma(0)->anon_id, SHADOW_ANON_NONE);
	ck_assert_uint_ne(svma(0)->anon_id, svma(8)->anon_id);
	OK(h_mmap(h, 4, 4, RW, FIX | MAP_LOCKED));
	EXPECT("AAAAAAAAbbbb");
}
END_TEST

START_TEST(split_shared_anon_offsets)
{
	/*  AAAAAAAA        shared anon (shmem): mprotect [2,4) r
	 *  AAbbCCCC        the pieces show offsets 0, 0x2000, 0x4000; back
	 *  AAAAAAAA        to rw: merged (same object, contiguous offsets)
	 */
	OK(h_mmap(h, 0, 8, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_mprotect(h, 2, 2, PROT_READ), 0);
	EXPECT("AAbbCCCC");
	ck_assert_uint_eq(svma(2)->pgoff, 2);
	ck_assert_uint_eq(svma(4)->pgoff, 4);
	ck_assert_int_eq(h_mprotect(h, 2, 2, RW), 0);
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(exec_split_and_merge)
{
	/*  AAAAAAAA rw  [4,8) rwx  AAAAbbbb  [0,4) rwx  AAAAAAAA */
	OK(h_mmap(h, 0, 8, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 4, 4, RW | PROT_EXEC), 0);
	EXPECT("AAAAbbbb");
	ck_assert_int_eq(h_mprotect(h, 0, 4, RW | PROT_EXEC), 0);
	EXPECT("AAAAAAAA");
	ck_assert_uint_eq(h->sh.c.exec_vm, 0); /* writable: data, not exec */
	ck_assert_uint_eq(h->sh.c.data_vm, 8);
}
END_TEST

/* ---- account: VM_ACCOUNT --------------------------------------------- */

START_TEST(account_unfaulted_rw_to_r_dropped)
{
	/*  AAAA rw (ac) -> r: unfaulted anonymous, VM_ACCOUNT dropped
	 *  AAAAAAAA        and it then merges with a fresh r neighbour
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, SV_ACCOUNT);
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, 0);
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(account_written_rw_to_r_kept)
{
	/*  AAAA rw written -> r: keeps VM_ACCOUNT (it has an anon_vma)
	 *  AAAAbbbb        so a fresh r neighbour (never writable) differs
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	h_touch(h, 0, true);
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ), 0);
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, SV_ACCOUNT);
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	EXPECT("AAAAbbbb");
}
END_TEST

START_TEST(account_read_faulted_rw_to_r_dropped)
{
	/*  AAAA rw read (zero page, no anon_vma) -> r: VM_ACCOUNT dropped
	 *  AAAAAAAA        merges with a fresh r neighbour
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	h_touch(h, 0, false);
	h_touch(h, 3, false);
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_NONE);
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ), 0);
	OK(h_mmap(h, 4, 4, PROT_READ, FIX));
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(account_r_to_rw_added)
{
	/*  AAAA r (no ac) -> rw: VM_ACCOUNT added
	 *  AAAAAAAA        merges with a fresh rw neighbour
	 */
	OK(h_mmap(h, 0, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_mprotect(h, 0, 4, RW), 0);
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, SV_ACCOUNT);
	OK(h_mmap(h, 4, 4, RW, FIX));
	EXPECT("AAAAAAAA");
}
END_TEST

START_TEST(account_none_roundtrip)
{
	/*  AAAA rw -> none (dropped) -> rw (added again) */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_NONE), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, 0);
	ck_assert_int_eq(h_mprotect(h, 0, 4, RW), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, SV_ACCOUNT);
}
END_TEST

START_TEST(account_noreserve_never)
{
	/*  AAAA rw NORESERVE -> r -> rw: never accounted */
	OK(h_mmap(h, 0, 4, RW, FIX | MAP_NORESERVE));
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ), 0);
	ck_assert_int_eq(h_mprotect(h, 0, 4, RW), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & (SV_ACCOUNT | SV_NORESERVE),
			  SV_NORESERVE);
}
END_TEST

START_TEST(account_private_file_kept)
{
	/*  AAAA private rw file (ac) -> r: file-backed, VM_ACCOUNT kept */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 4, RW, FIX, fd, 0, &f));
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, SV_ACCOUNT);
}
END_TEST

START_TEST(account_private_file_r_to_rw)
{
	/*  AAAA private r file -> rw: VM_ACCOUNT added */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 4, PROT_READ, FIX, fd, 0, &f));
	ck_assert_int_eq(h_mprotect(h, 0, 4, RW), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, SV_ACCOUNT);
}
END_TEST

START_TEST(account_shared_never)
{
	/*  AAAA shared anon rw -> r -> rw: shared is never accounted */
	OK(h_mmap(h, 0, 4, RW, MAP_SHARED | MAP_FIXED));
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ), 0);
	ck_assert_int_eq(h_mprotect(h, 0, 4, RW), 0);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_ACCOUNT, 0);
}
END_TEST

START_TEST(account_split_half_written)
{
	/*  AAAAAAAA rw, page 0 written (the anon_vma is the whole VMA's)
	 *  AAAAbbbb        mprotect [4,8) r: b shares the anon_vma: keeps ac
	 */
	OK(h_mmap(h, 0, 8, RW, FIX));
	h_touch(h, 0, true);
	ck_assert_int_eq(h_mprotect(h, 4, 4, PROT_READ), 0);
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(sflags(4) & SV_ACCOUNT, SV_ACCOUNT);
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

START_TEST(err_hole_after_partial)
{
	/*  0   4   8
	 *  AAAA..bbbb      mprotect [2,10) r: [2,4) changed, then the hole:
	 *  AAbb..CCCC      ENOMEM; b untouched
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	OK(h_mmap(h, 6, 4, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 2, 8, PROT_READ), -ENOMEM);
	EXPECT("AAbb..CCCC");
	ck_assert_uint_eq(sflags(2) & SV_PROT_MASK, SV_READ);
	ck_assert_uint_eq(sflags(6) & SV_PROT_MASK, SV_READ | SV_WRITE);
	ck_assert_uint_eq(h->rec.applied_end, P(4));
	ck_assert_int_eq(h->rec.result, -ENOMEM);
}
END_TEST

START_TEST(err_hole_after_two)
{
	/*  0   4   8   12
	 *  AAAAbb..CCCC    r | rw | hole | r
	 *  AAAAAA..bbbb    mprotect [0,12) rw: A changes and merges with b,
	 *                  the hole stops it (ENOMEM), C stays r
	 */
	OK(h_mmap(h, 0, 4, PROT_READ, FIX));
	OK(h_mmap(h, 4, 2, RW, FIX));
	OK(h_mmap(h, 8, 4, PROT_READ, FIX));
	ck_assert_int_eq(h_mprotect(h, 0, 12, RW), -ENOMEM);
	EXPECT("AAAAAA..bbbb");
	ck_assert_uint_eq(sflags(8) & SV_PROT_MASK, SV_READ);
	ck_assert_uint_eq(h->rec.applied_end, P(6));
}
END_TEST

START_TEST(err_tail_hole)
{
	/*  AAAA..          mprotect [0,6) r: A changed, ENOMEM for the tail */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 0, 6, PROT_READ), -ENOMEM);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_PROT_MASK, SV_READ);
}
END_TEST

START_TEST(err_unmapped_start)
{
	/*  ..AAAA          mprotect [0,6): start unmapped, ENOMEM, nothing
	 *                  changed
	 */
	OK(h_mmap(h, 2, 4, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 0, 6, PROT_READ), -ENOMEM);
	EXPECT("..AAAA");
	ck_assert_uint_eq(sflags(2) & SV_PROT_MASK, SV_READ | SV_WRITE);
	ck_assert_int_eq(h_mprotect(h, 8, 4, PROT_READ), -ENOMEM);
	EXPECT("..AAAA");
}
END_TEST

START_TEST(err_bad_prot)
{
	/*  AAAA            prot 0x10, GROWSDOWN|GROWSUP: EINVAL */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ | 0x10), -EINVAL);
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ | PROT_GROWSDOWN |
				    PROT_GROWSUP), -EINVAL);
	EXPECT("AAAA");
	ck_assert_uint_eq(sflags(0) & SV_PROT_MASK, SV_READ | SV_WRITE);
}
END_TEST

START_TEST(err_bad_prot_unmapped)
{
	/*  ....            bad prot over a hole: EINVAL comes before the
	 *                  lookup (ENOMEM)
	 */
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ | 0x10), -EINVAL);
	EXPECT("");
}
END_TEST

START_TEST(err_growsdown_on_plain)
{
	/*  AAAA            PROT_GROWSDOWN on a VMA without VM_GROWSDOWN, or
	 *                  PROT_GROWSUP (no VM_GROWSUP on x86): EINVAL
	 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ | PROT_GROWSDOWN),
			 -EINVAL);
	ck_assert_int_eq(h_mprotect(h, 0, 4, PROT_READ | PROT_GROWSUP),
			 -EINVAL);
	EXPECT("AAAA");
}
END_TEST

START_TEST(err_unaligned_start)
{
	/*  AAAA            unaligned start: EINVAL, even with len 0 */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mprotect_addr(h, P(0) + 1, H_PAGE, PROT_READ),
			 -EINVAL);
	ck_assert_int_eq(h_mprotect_addr(h, P(0) + 1, 0, PROT_READ), -EINVAL);
	EXPECT("AAAA");
}
END_TEST

START_TEST(len_zero_returns_zero)
{
	/*  ....            len 0: 0, before prot validation and lookup */
	ck_assert_int_eq(h_mprotect(h, 0, 0, PROT_READ), 0);
	ck_assert_int_eq(h_mprotect(h, 0, 0, 0x10), 0);
	EXPECT("");
}
END_TEST

START_TEST(err_len_wraps)
{
	/*  AAAA            start + len wraps: ENOMEM */
	OK(h_mmap(h, 0, 4, RW, FIX));
	ck_assert_int_eq(h_mprotect_addr(h, P(0), (uint64_t)-H_PAGE,
					 PROT_READ), -ENOMEM);
	ck_assert_int_eq(h_mprotect_addr(h, P(0), UINT64_MAX, PROT_READ),
			 -ENOMEM);
	EXPECT("AAAA");
}
END_TEST

START_TEST(err_eacces_read_only_shared_file)
{
	/*  AAAA            shared r file on an O_RDONLY fd -> rw: EACCES
	 *                  (no VM_MAYWRITE); -> r|x is fine
	 */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(fmap(0, 4, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0, &f));
	ck_assert_int_eq(h_mprotect(h, 0, 4, RW), -EACCES);
	EXPECT("AAAA");
	ck_assert_int_eq(h_mprotect(h, 0, 2, PROT_READ | PROT_EXEC), 0);
	EXPECT("AAbb");
}
END_TEST

START_TEST(err_eacces_after_partial)
{
	/*  0   4   8
	 *  AAAAbbbb        anon r | shared r file (O_RDONLY)
	 *  AAAAbbbb        mprotect [0,8) rw: A changed to rw, then b is
	 *                  refused: EACCES
	 */
	struct shadow_file f;
	make_file(4);
	int fd = open_file(O_RDONLY, 1, &f);
	OK(h_mmap(h, 0, 4, PROT_READ, FIX));
	OK(fmap(4, 4, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0, &f));
	ck_assert_int_eq(h_mprotect(h, 0, 8, RW), -EACCES);
	EXPECT("AAAAbbbb");
	ck_assert_uint_eq(sflags(0) & SV_PROT_MASK, SV_READ | SV_WRITE);
	ck_assert_uint_eq(sflags(4) & SV_PROT_MASK, SV_READ);
	ck_assert_uint_eq(h->rec.applied_end, P(4));
}
END_TEST

static Suite *protect_suite(void)
{
	Suite *s = suite_create("shadow_protect");
	TCase *tc;

	tc = tcase_create("split_merge");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, split_head);
	tcase_add_test(tc, split_tail);
	tcase_add_test(tc, split_middle);
	tcase_add_test(tc, whole_vma_no_split);
	tcase_add_test(tc, restore_remerges_unfaulted);
	tcase_add_test(tc, restore_remerges_faulted);
	tcase_add_test(tc, edge_merges_with_prev);
	tcase_add_test(tc, edge_merges_with_next);
	tcase_add_test(tc, whole_vma_merges_both);
	tcase_add_test(tc, whole_vma_between_two_written);
	tcase_add_test(tc, across_vmas);
	tcase_add_test(tc, noop_never_merges);
	tcase_add_test(tc, growsdown_applies_from_vma_start);
	tcase_add_test(tc, prot_sem_accepted);
	tcase_add_test(tc, unaligned_len_rounds_up);
	tcase_add_test(tc, locked_made_writable_is_populated);
	tcase_add_test(tc, split_shared_anon_offsets);
	tcase_add_test(tc, exec_split_and_merge);
	suite_add_tcase(s, tc);

	tc = tcase_create("account");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, account_unfaulted_rw_to_r_dropped);
	tcase_add_test(tc, account_written_rw_to_r_kept);
	tcase_add_test(tc, account_read_faulted_rw_to_r_dropped);
	tcase_add_test(tc, account_r_to_rw_added);
	tcase_add_test(tc, account_none_roundtrip);
	tcase_add_test(tc, account_noreserve_never);
	tcase_add_test(tc, account_private_file_kept);
	tcase_add_test(tc, account_private_file_r_to_rw);
	tcase_add_test(tc, account_shared_never);
	tcase_add_test(tc, account_split_half_written);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, err_hole_after_partial);
	tcase_add_test(tc, err_hole_after_two);
	tcase_add_test(tc, err_tail_hole);
	tcase_add_test(tc, err_unmapped_start);
	tcase_add_test(tc, err_bad_prot);
	tcase_add_test(tc, err_bad_prot_unmapped);
	tcase_add_test(tc, err_growsdown_on_plain);
	tcase_add_test(tc, err_unaligned_start);
	tcase_add_test(tc, len_zero_returns_zero);
	tcase_add_test(tc, err_len_wraps);
	tcase_add_test(tc, err_eacces_read_only_shared_file);
	tcase_add_test(tc, err_eacces_after_partial);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return optest_main(protect_suite());
}
