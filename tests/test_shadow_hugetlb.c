/*
 * test_shadow_hugetlb.c - hugetlb mappings: lengths rounded to the huge
 * page, splits only at huge page boundaries (munmap, mprotect, madvise
 * give EINVAL otherwise), mlock leaves them alone, each mapping is a file
 * of its own (no merges), mremap cannot grow them.
 *
 * The kernel half needs huge pages in the pool: the test reserves 8 (2 MiB)
 * through /proc/sys/vm/nr_hugepages and gives the old value back.  Where
 * that is refused (not root, no hugetlb), the kernel comparisons are
 * reported as not run and only the shadow half runs.
 *
 * Diagrams: one character per 2 MiB huge page.
 */
#include <check.h>
#include <stdlib.h>

#include "harness.h"

#define HP (2ull << 20)
#define HPAGES (HP / H_PAGE)
#define RW (PROT_READ | PROT_WRITE)
#define HUGE (MAP_PRIVATE | MAP_HUGETLB)

static struct harness *h;
static long old_pool = -1;
static bool pool_ok;
static uint64_t p0; /* first window page on a 2 MiB boundary */

static long read_pool(void)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static bool write_pool(long v)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");
	if (!f)
		return false;
	bool ok = fprintf(f, "%ld\n", v) > 0;
	ok = fclose(f) == 0 && ok;
	return ok;
}

static void pool_setup(void)
{
	old_pool = read_pool();
	pool_ok = old_pool >= 0 && (old_pool >= 8 || write_pool(8)) &&
		  read_pool() >= 8;
	if (!pool_ok)
		fprintf(stderr, "test_shadow_hugetlb: no 2 MiB huge pages can "
				"be reserved here: kernel comparisons NOT RUN, "
				"shadow-only tests run\n");
}

static void pool_teardown(void)
{
	if (old_pool >= 0 && read_pool() != old_pool)
		write_pool(old_pool);
}

static void setup(void)
{
	h = calloc(1, sizeof(*h));
	h_init(h, 8 * HPAGES);
	p0 = ((h->base + HP - 1) & ~(HP - 1)) - h->base;
	p0 /= H_PAGE;
}

static void teardown(void)
{
	h_fini(h);
	free(h);
}

/* Page index of huge page i in the window. */
static uint64_t hp(uint64_t i) { return p0 + i * HPAGES; }

/* Draw huge pages 0..n-1: one letter per distinct VMA, '.' unmapped. */
static const char *draw_huge(bool kernel, int n, char *out)
{
	char pages[8 * 512 + 1];
	h_draw(h, kernel, pages);
	for (int i = 0; i < n; i++)
		out[i] = pages[hp((uint64_t)i)];
	out[n] = 0;
	return out;
}

#define EXPECT_HUGE(want)                                                    \
	do {                                                                 \
		char s_[16], k_[16];                                         \
		ck_assert_msg(h->errno_mismatch == 0, "%s", h->why);         \
		ck_assert_str_eq(draw_huge(false, (int)strlen(want), s_),    \
				 want);                                      \
		ck_assert_msg(h_compare(h, NULL) == 0, "%s", h->why);        \
		ck_assert_str_eq(draw_huge(true, (int)strlen(want), k_),     \
				 want);                                      \
	} while (0)

#define NEED_POOL()                                                          \
	do {                                                                 \
		if (!pool_ok) {                                              \
			fprintf(stderr, "  %s: not run (no huge pages)\n",   \
				__func__);                                   \
			return;                                              \
		}                                                            \
	} while (0)

START_TEST(length_rounds_to_huge_page)
{
	NEED_POOL();
	/*  huge pages 0 1 2
	 *             A . .      one 4 KiB page asked, one 2 MiB page given
	 */
	ck_assert_int_eq(h_mmap(h, hp(0), 1, RW, HUGE | MAP_FIXED),
			 (int64_t)h_addr(h, hp(0)));
	EXPECT_HUGE("A..");
	struct shadow_vma *v = shadow_find(&h->sh, h_addr(h, hp(0)));
	ck_assert_uint_eq(v->end - v->start, HP);
	ck_assert(v->flags & SV_HUGETLB);
	ck_assert(!(v->flags & SV_HUGE_1G));
}
END_TEST

START_TEST(fixed_unaligned_is_einval)
{
	NEED_POOL();
	ck_assert_int_eq(h_mmap(h, hp(0) + 1, 1, RW, HUGE | MAP_FIXED), -EINVAL);
	EXPECT_HUGE("...");
}
END_TEST

START_TEST(adjacent_mappings_never_merge)
{
	NEED_POOL();
	/*  A b        two hugetlb mappings side by side: two files, two VMAs */
	h_mmap(h, hp(0), HPAGES, RW, HUGE | MAP_FIXED);
	h_mmap(h, hp(1), HPAGES, RW, HUGE | MAP_FIXED);
	EXPECT_HUGE("Ab.");
}
END_TEST

START_TEST(munmap_splits_only_on_huge_boundaries)
{
	NEED_POOL();
	/*  AAA         3 huge pages
	 *  AAA         munmap of one 4 KiB page inside: EINVAL
	 *  A.b         munmap of the middle huge page: splits
	 */
	h_mmap(h, hp(0), 3 * HPAGES, RW, HUGE | MAP_FIXED);
	ck_assert_int_eq(h_munmap(h, hp(1) + 3, 1), -EINVAL);
	EXPECT_HUGE("AAA");
	ck_assert_int_eq(h_munmap(h, hp(1), HPAGES), 0);
	EXPECT_HUGE("A.b");
}
END_TEST

START_TEST(munmap_failed_end_split_keeps_start_split)
{
	NEED_POOL();
	/*  AAA         munmap from huge page 1 (aligned) to one 4 KiB page
	 *  Abb         into 2: the split at 1 is made, the one inside 2
	 *              cannot be: EINVAL, and the first split stays
	 */
	h_mmap(h, hp(0), 3 * HPAGES, RW, HUGE | MAP_FIXED);
	ck_assert_int_eq(h_munmap(h, hp(1), HPAGES + 1), -EINVAL);
	EXPECT_HUGE("Abb");
}
END_TEST

START_TEST(mprotect_splits_only_on_huge_boundaries)
{
	NEED_POOL();
	/*  AAA         mprotect of 4 KiB at huge page 1: the split at its
	 *  Abb         (aligned) start is made, the one at its end cannot
	 *              be: EINVAL, and the first split stays
	 *  AbC         mprotect of the whole huge page 1
	 */
	h_mmap(h, hp(0), 3 * HPAGES, RW, HUGE | MAP_FIXED);
	ck_assert_int_eq(h_mprotect(h, hp(1), 1, PROT_READ), -EINVAL);
	EXPECT_HUGE("Abb");
	ck_assert_int_eq(h_mprotect(h, hp(1), HPAGES, PROT_READ), 0);
	EXPECT_HUGE("AbC");
}
END_TEST

START_TEST(madvise_split_einval_dontneed_fine)
{
	NEED_POOL();
	h_mmap(h, hp(0), 2 * HPAGES, RW, HUGE | MAP_FIXED);
	ck_assert_int_eq(h_madvise(h, hp(0) + 1, 1, MADV_DONTFORK), -EINVAL);
	ck_assert_int_eq(h_madvise(h, hp(0), 1, MADV_DONTNEED), 0);
	ck_assert_int_eq(h_madvise(h, hp(1), HPAGES, MADV_DONTDUMP), 0);
	EXPECT_HUGE("Ab.");
}
END_TEST

START_TEST(mlock_leaves_hugetlb_alone)
{
	NEED_POOL();
	/*  mlock of one 4 KiB page: succeeds, no split, no VM_LOCKED */
	h_mmap(h, hp(0), 2 * HPAGES, RW, HUGE | MAP_FIXED);
	ck_assert_int_eq(h_mlock(h, hp(0) + 1, 1, 0), 0);
	EXPECT_HUGE("AA.");
	ck_assert(!(shadow_find(&h->sh, h_addr(h, hp(0)))->flags & SV_LOCKED));
}
END_TEST

START_TEST(mremap_cannot_grow_hugetlb)
{
	NEED_POOL();
	h_mmap(h, hp(0), HPAGES, RW, HUGE | MAP_FIXED);
	ck_assert_int_eq(h_mremap(h, hp(0), HPAGES, 2 * HPAGES, 0, 0),
			 -EINVAL);
	/* Shrinking inside one huge page rounds back to the same size. */
	ck_assert_int_eq(h_mremap_addr(h, h_addr(h, hp(0)), HP, H_PAGE, 0, 0),
			 (int64_t)h_addr(h, hp(0)));
	/* new_addr is checked for huge alignment even without FIXED. */
	ck_assert_int_eq(h_mremap_addr(h, h_addr(h, hp(0)), HP, H_PAGE, 0,
				       h_addr(h, hp(0)) + H_PAGE), -EINVAL);
	EXPECT_HUGE("A..");
}
END_TEST

/* ---- shadow only: no kernel needed ---- */

START_TEST(shadow_bad_size_log_is_einval)
{
	struct shadow_map_args a = {
		.addr = 0, .len = 4096, .prot = RW,
		.flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (25 << 26),
		.origin = SHADOW_ORIGIN_TRACKED,
	};
	ck_assert_int_eq(shadow_map(&h->sh, &a, NULL), -EINVAL);
}
END_TEST

START_TEST(shadow_1g_pages_round_to_1g)
{
	struct shadow_map_args a = {
		.addr = 1ull << 40, .len = 4096, .prot = RW,
		.flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED |
			 (30 << 26),
		.origin = SHADOW_ORIGIN_TRACKED,
	};
	struct shadow_change rec;
	ck_assert_int_eq(shadow_map(&h->sh, &a, &rec), (int64_t)(1ull << 40));
	/* The pool may be empty: the shadow says it could not know. */
	ck_assert(rec.uncertain);
	struct shadow_vma *v = shadow_find(&h->sh, 1ull << 40);
	ck_assert_uint_eq(v->end - v->start, 1ull << 30);
	ck_assert(v->flags & SV_HUGE_1G);
	/* Unaligned split of a 1 GiB page: EINVAL; aligned munmap fine. */
	ck_assert_int_eq(shadow_unmap(&h->sh, (1ull << 40) + (2ull << 20),
				      4096, NULL), -EINVAL);
	ck_assert_int_eq(shadow_unmap(&h->sh, 1ull << 40, 1ull << 30, NULL), 0);
	ck_assert_ptr_null(shadow_find(&h->sh, 1ull << 40));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("shadow_hugetlb");
	TCase *k = tcase_create("kernel");
	tcase_add_unchecked_fixture(k, pool_setup, pool_teardown);
	tcase_add_checked_fixture(k, setup, teardown);
	tcase_add_test(k, length_rounds_to_huge_page);
	tcase_add_test(k, fixed_unaligned_is_einval);
	tcase_add_test(k, adjacent_mappings_never_merge);
	tcase_add_test(k, munmap_splits_only_on_huge_boundaries);
	tcase_add_test(k, munmap_failed_end_split_keeps_start_split);
	tcase_add_test(k, mprotect_splits_only_on_huge_boundaries);
	tcase_add_test(k, madvise_split_einval_dontneed_fine);
	tcase_add_test(k, mlock_leaves_hugetlb_alone);
	tcase_add_test(k, mremap_cannot_grow_hugetlb);
	suite_add_tcase(s, k);
	TCase *o = tcase_create("shadow");
	tcase_add_checked_fixture(o, setup, teardown);
	tcase_add_test(o, shadow_bad_size_log_is_einval);
	tcase_add_test(o, shadow_1g_pages_round_to_1g);
	suite_add_tcase(s, o);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
