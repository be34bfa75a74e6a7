/*
 * test_shadow_unseen.c - the shadow when it does not see page faults
 * (shadow.faults_unseen, as in the preload), against the real kernel.
 *
 * The program writes its pages without telling the shadow, so the shadow
 * cannot know which VMAs have an anon_vma, what pgoff a moved VMA kept, or
 * whether mprotect dropped VM_ACCOUNT.  Where a merge depends on those, the
 * shadow merges and marks the result SV_EDGES_UNSURE: the kernel may hold
 * that range as several VMAs, never the other way round.  Before a call
 * whose result depends on boundaries (mremap) the owner reads the kernel's
 * (refine() here, check_span in the preload), and the prediction must then
 * be exact.  Each scenario is run on the kernel, with the layouts of both
 * sides asserted.
 */
#include "optest.h"

#define RO PROT_READ

static void unseen_setup(void)
{
	setup();
	h->sh.faults_unseen = true;
}

/* A write the shadow does not hear of. */
static void write_page(uint64_t n)
{
	*(volatile char *)P(n) = (char)(n + 1);
}

/* Compare: the prediction was right, both sides draw their layout, and
 * every boundary the shadow lacks lies inside a VMA it marked (counted);
 * any other difference fails. */
static int lazy_at(const char *kernel, const char *shadow, int line)
{
	char k[NPAGES + 1], s[NPAGES + 1], w[NPAGES + 1];
	ck_assert_msg(h->errno_mismatch == 0, "line %d: %s", line, h->why);
	ck_assert_int_eq(h_read_kernel(h), 0);
	h_draw(h, true, k);
	h_draw(h, false, s);
	const char *want[2] = { kernel, shadow };
	const char *got[2] = { k, s };
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(want[i]);
		memcpy(w, want[i], n);
		memset(w + n, '.', NPAGES - n);
		w[NPAGES] = 0;
		ck_assert_msg(!strcmp(got[i], w), "line %d: %s %s, expected %s",
			      line, i ? "shadow" : "kernel", got[i], w);
	}
	struct diff_item items[16];
	struct diff_result res = { .items = items, .cap = 16 };
	int c = h_compare(h, &res);
	ck_assert_msg(c == 0 || c == 1, "line %d: %s", line, h->why);
	for (uint32_t i = 0; i < res.n; i++) {
		const struct shadow_vma *v = shadow_find(&h->sh,
							 items[i].start);
		ck_assert_msg(v && v->start < items[i].start &&
				      (v->flags & SV_EDGES_UNSURE),
			      "line %d: a boundary at page %lld the shadow "
			      "did not mark", line,
			      (long long)((items[i].start - P(0)) / H_PAGE));
	}
	return (int)res.count[DIFF_BOUNDARY];
}
#define LAZY(k, s) lazy_at((k), (s), __LINE__)

/* The preload's read of the kernel's boundaries before an mremap of
 * [page, page + n) (h_refine). */
static bool refine(uint64_t page, uint64_t n)
{
	return h_refine(h, P(page), n * H_PAGE);
}

/* Three pages split in the middle before any write; the two outer pages
 * written then, each gets an anon_vma of its own (neither neighbour had
 * one to share).  Restoring the middle page's prot merges it with the
 * first only: the kernel keeps the third apart. */
static void split_then_write_outer(void)
{
	OK(h_mmap(h, 0, 3, RW, FIX | MAP_ANONYMOUS));
	OK(h_mprotect(h, 1, 1, RO));
	write_page(0);
	write_page(2);
	OK(h_mprotect(h, 1, 1, RW));
}

START_TEST(refused_merge_is_marked_then_refined)
{
	split_then_write_outer();
	/* The shadow merged all three on a guess. */
	ck_assert_int_eq(LAZY("AAb", "AAA"), 1);
	ck_assert(svma(0)->flags & SV_EDGES_UNSURE);
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_MAYBE);
	/* An mremap of the three pages: the kernel's boundary decides. */
	ck_assert(refine(0, 3));
	EXPECT("AAb");
	ck_assert(!(svma(0)->flags & SV_EDGES_UNSURE));
	ck_assert(!(svma(2)->flags & SV_EDGES_UNSURE));
	ck_assert_int_eq(h_mremap(h, 0, 3, 4, MREMAP_MAYMOVE, 0), -EFAULT);
	EXPECT("AAb");
}
END_TEST

START_TEST(refused_merge_mispredicts_without_refine)
{
	/* The same calls, no refine: the shadow predicts success where the
	 * kernel says EFAULT.  (Why the preload refines.) */
	split_then_write_outer();
	ck_assert_int_eq(h_mremap(h, 0, 3, 4, MREMAP_MAYMOVE, 0), -EFAULT);
	ck_assert_int_eq(h->errno_mismatch, 1);
}
END_TEST

START_TEST(kept_merge_is_confirmed)
{
	/* Written before the split: the pieces share one anon_vma and the
	 * kernel merges them back.  The mark goes when the kernel is read. */
	OK(h_mmap(h, 0, 3, RW, FIX | MAP_ANONYMOUS));
	for (int i = 0; i < 3; i++)
		write_page(i);
	OK(h_mprotect(h, 1, 1, RO));
	OK(h_mprotect(h, 1, 1, RW));
	ck_assert_int_eq(LAZY("AAA", "AAA"), 0);
	ck_assert(svma(0)->flags & SV_EDGES_UNSURE);
	ck_assert(refine(0, 3));
	ck_assert(!(svma(0)->flags & SV_EDGES_UNSURE));
	ck_assert(!refine(0, 3));
	ck_assert_int_eq(h_mremap(h, 0, 3, 4, 0, 0), (int64_t)P(0));
	EXPECT("AAAA");
}
END_TEST

START_TEST(new_mapping_merge_is_certain)
{
	/* A new mapping has no anon_vma: the kernel merges it with any
	 * neighbour it fits, written or not, and so does the shadow, with
	 * no mark.  Growing a VMA in place is no merge either. */
	OK(h_mmap(h, 0, 2, RW, FIX | MAP_ANONYMOUS));
	write_page(0);
	OK(h_mmap(h, 2, 2, RW, FIX | MAP_ANONYMOUS));
	EXPECT("AAAA");
	ck_assert(!(svma(0)->flags & SV_EDGES_UNSURE));
	write_page(3);
	ck_assert_int_eq(h_mremap(h, 0, 4, 6, 0, 0), (int64_t)P(0));
	EXPECT("AAAAAA");
	ck_assert(!(svma(0)->flags & SV_EDGES_UNSURE));
}
END_TEST

START_TEST(seen_faults_need_no_guess)
{
	/* The same calls with every write reported (shadow_touch): the
	 * shadow knows the two anon_vmas and is exact, with no mark. */
	h->sh.faults_unseen = false;
	OK(h_mmap(h, 0, 3, RW, FIX | MAP_ANONYMOUS));
	OK(h_mprotect(h, 1, 1, RO));
	h_touch(h, 0, true);
	h_touch(h, 2, true);
	OK(h_mprotect(h, 1, 1, RW));
	EXPECT("AAb");
	ck_assert(!shadow_span_unsure(&h->sh, P(0), P(3)));
	ck_assert_int_eq(h_mremap(h, 0, 3, 4, MREMAP_MAYMOVE, 0), -EFAULT);
	EXPECT("AAb");
}
END_TEST

START_TEST(account_dropped_if_never_written)
{
	/* mprotect(PROT_READ) drops VM_ACCOUNT from an anonymous VMA that
	 * has no anon_vma: the RO mapping after it then matches in every
	 * flag and the two merge.  The shadow cannot tell: it merges and
	 * marks. */
	OK(h_mmap(h, 0, 2, RW, FIX | MAP_ANONYMOUS));
	OK(h_mmap(h, 2, 1, RO, FIX | MAP_ANONYMOUS));
	EXPECT("AAb");
	OK(h_mprotect(h, 0, 2, RO));
	ck_assert_int_eq(LAZY("AAA", "AAA"), 0);
	ck_assert(svma(0)->flags & SV_EDGES_UNSURE);
	ck_assert(svma(0)->flags & SV_ACCT_UNSURE);
}
END_TEST

START_TEST(account_kept_if_written)
{
	/* Written first: VM_ACCOUNT stays and the kernel keeps them apart;
	 * write access back makes the flag certain again. */
	OK(h_mmap(h, 0, 2, RW, FIX | MAP_ANONYMOUS));
	OK(h_mmap(h, 2, 1, RO, FIX | MAP_ANONYMOUS));
	write_page(0);
	OK(h_mprotect(h, 0, 2, RO));
	ck_assert_int_eq(LAZY("AAb", "AAA"), 1);
	ck_assert(refine(0, 3));
	/* Boundaries exact; VM_ACCOUNT is still the guess it was marked. */
	ck_assert_int_eq(LAZY("AAb", "AAb"), 0);
	ck_assert(svma(0)->flags & SV_ACCT_UNSURE);
	OK(h_mprotect(h, 0, 2, RW));
	EXPECT("AAb");
	ck_assert(!(svma(0)->flags & SV_ACCT_UNSURE));
}
END_TEST

START_TEST(moved_pgoff_is_a_guess)
{
	/* A moved VMA takes the new address as pgoff only if it had no
	 * anon_vma: written, it keeps the old one and cannot merge with a
	 * neighbour at the destination.  The shadow guesses the rebase and
	 * marks the merge. */
	OK(h_mmap(h, 0, 1, RW, FIX | MAP_ANONYMOUS));
	OK(h_mmap(h, 8, 1, RW, FIX | MAP_ANONYMOUS));
	write_page(8);
	ck_assert_int_eq(h_mremap(h, 8, 1, 1,
				  MREMAP_MAYMOVE | MREMAP_FIXED, 1),
			 (int64_t)P(1));
	ck_assert_int_eq(LAZY("Ab", "AA"), 1);
	ck_assert_uint_eq(svma(0)->anon_id, SHADOW_ANON_MAYBE_MOVED);
}
END_TEST

/* The moved-pages tests' start: pagemap open (the preload's view of
 * written pages), page 0 and a 4-page VMA at 8, its page `written`
 * written. */
static void pagemap_setup(uint64_t written)
{
	h->pagemap_fd = kview_open_pagemap();
	ck_assert_int_ge(h->pagemap_fd, 0);
	OK(h_mmap(h, 0, 1, RW, FIX | MAP_ANONYMOUS));
	OK(h_mmap(h, 8, 4, RW, FIX | MAP_ANONYMOUS));
	write_page(written);
}

/* Their end: with pagemap closed (nothing to ask), page 20 mapped and
 * the n pages at `from` moved beside it to 21, where a VMA known to have
 * an anon_vma keeps its pgoff and so does not merge: the layout `want`. */
static void move_unasked(uint64_t from, uint64_t n, const char *want,
			 int line)
{
	kview_close(h->pagemap_fd);
	h->pagemap_fd = -1;
	OK(h_mmap(h, 20, 1, RW, FIX | MAP_ANONYMOUS));
	ck_assert_int_eq(h_mremap(h, from, n, n,
				  MREMAP_MAYMOVE | MREMAP_FIXED, 21),
			 (int64_t)P(21));
	expect_at(want, line);
	ck_assert_uint_eq(svma(21)->anon_id, SHADOW_ANON_SOME);
}

START_TEST(moved_written_seen_in_pagemap)
{
	/* The same move, with the moved pages looked up in pagemap (as the
	 * preload does): a written page shows, so the pgoff was kept and
	 * the shadow is exact. */
	pagemap_setup(10);
	ck_assert_int_eq(h_mremap(h, 8, 4, 4,
				  MREMAP_MAYMOVE | MREMAP_FIXED, 1),
			 (int64_t)P(1));
	EXPECT("Abbbb");
	ck_assert_uint_eq(svma(1)->anon_id, SHADOW_ANON_SOME);
	ck_assert(!(svma(1)->flags & SV_EDGES_UNSURE));
	ck_assert(kview_anon_written(h->pagemap_fd, P(1), 4));
	ck_assert(!kview_anon_written(h->pagemap_fd, P(1), 2));
	/* It has an anon_vma from now on: moved again, it keeps its pgoff
	 * with no need to ask. */
	move_unasked(1, 4, "A...................bCCCC", __LINE__);
}
END_TEST

START_TEST(moved_written_piece_tells_the_rest)
{
	/* A written piece moved out of a VMA: pagemap shows the page, so
	 * the VMA had an anon_vma, and the pieces it leaves share it.  The
	 * rest, moved later with no pagemap to ask, keeps its pgoff too, and
	 * so does not merge with a fresh neighbour at the destination (whose
	 * pgoff follows the rebased one exactly).  Without the fact, the
	 * shadow guesses the rebase and merges on a guess. */
	pagemap_setup(8);
	ck_assert_uint_eq(svma(8)->anon_id, SHADOW_ANON_MAYBE);
	ck_assert_uint_eq(shadow_remap_probe_pages(&h->sh, P(8), H_PAGE,
						   H_PAGE), 1);
	ck_assert_int_eq(h_mremap(h, 8, 1, 1,
				  MREMAP_MAYMOVE | MREMAP_FIXED, 1),
			 (int64_t)P(1));
	EXPECT("Ab.......CCC");
	ck_assert_uint_eq(svma(1)->anon_id, SHADOW_ANON_SOME);
	ck_assert_uint_eq(svma(9)->anon_id, SHADOW_ANON_SOME);
	/* Nothing to ask of the rest now. */
	ck_assert_uint_eq(shadow_remap_probe_pages(&h->sh, P(9), 3 * H_PAGE,
						   3 * H_PAGE), 0);
	move_unasked(9, 3, "Ab..................Cddd", __LINE__);
	ck_assert(!shadow_span_unsure(&h->sh, P(20), P(24)));
}
END_TEST

START_TEST(moved_read_only_is_not_written)
{
	/* A page only read maps the zero page: pagemap shows it present
	 * but not exclusive, which says nothing.  The kernel rebases. */
	h->pagemap_fd = kview_open_pagemap();
	OK(h_mmap(h, 0, 1, RW, FIX | MAP_ANONYMOUS));
	OK(h_mmap(h, 8, 1, RW, FIX | MAP_ANONYMOUS));
	(void)*(volatile char *)P(8);
	ck_assert(!kview_anon_written(h->pagemap_fd, P(8), 1));
	ck_assert_int_eq(h_mremap(h, 8, 1, 1,
				  MREMAP_MAYMOVE | MREMAP_FIXED, 1),
			 (int64_t)P(1));
	ck_assert_int_eq(LAZY("AA", "AA"), 0);
}
END_TEST

START_TEST(moved_unwritten_merges)
{
	OK(h_mmap(h, 0, 1, RW, FIX | MAP_ANONYMOUS));
	OK(h_mmap(h, 8, 1, RW, FIX | MAP_ANONYMOUS));
	ck_assert_int_eq(h_mremap(h, 8, 1, 1,
				  MREMAP_MAYMOVE | MREMAP_FIXED, 1),
			 (int64_t)P(1));
	ck_assert_int_eq(LAZY("AA", "AA"), 0);
	ck_assert(svma(0)->flags & SV_EDGES_UNSURE);
}
END_TEST

static Suite *unseen_suite(void)
{
	Suite *s = suite_create("shadow_unseen");
	TCase *tc = tcase_create("unseen");
	tcase_add_checked_fixture(tc, unseen_setup, teardown);
	tcase_add_test(tc, refused_merge_is_marked_then_refined);
	tcase_add_test(tc, refused_merge_mispredicts_without_refine);
	tcase_add_test(tc, kept_merge_is_confirmed);
	tcase_add_test(tc, new_mapping_merge_is_certain);
	tcase_add_test(tc, seen_faults_need_no_guess);
	tcase_add_test(tc, account_dropped_if_never_written);
	tcase_add_test(tc, account_kept_if_written);
	tcase_add_test(tc, moved_pgoff_is_a_guess);
	tcase_add_test(tc, moved_written_seen_in_pagemap);
	tcase_add_test(tc, moved_written_piece_tells_the_rest);
	tcase_add_test(tc, moved_read_only_is_not_written);
	tcase_add_test(tc, moved_unwritten_merges);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return optest_main(unseen_suite());
}
