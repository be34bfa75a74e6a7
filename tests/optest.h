/*
 * optest.h - the helpers shared by the scenario tests of the shadow's
 * operations (test_shadow_map.c, _unmap.c, _protect.c, _remap.c,
 * _advise.c).  Include it instead of harness.h; it is meant for one
 * translation unit per test program (everything here is static).
 *
 * A scenario test runs the same calls on the real kernel and on a shadow
 * through tests/harness.h, inside a window of NPAGES pages of the test's
 * own address space (P(n) is the address of page n), and asserts, after
 * every step it wants checked (EXPECT):
 *
 *  1. errno: the shadow predicted every result and errno the kernel gave
 *     (h->errno_mismatch == 0);
 *  2. layout: the kernel and the shadow both draw the expected layout of
 *     the window: one character a page, '.' a hole, a letter per VMA whose
 *     case alternates between neighbours ("AAAAbb..CC").  Expected layouts
 *     are written for the first pages only; the rest of the window must be
 *     holes;
 *  3. h_compare() == 0: no difference between the kernel's view and the
 *     shadow, VMA boundaries included;
 *  4. hidden flags: for every VMA in the window, the flags the kernel does
 *     not print in /proc/self/maps but shows in smaps VmFlags (VM_ACCOUNT
 *     "ac", VM_NORESERVE "nr", VM_LOCKED "lo", ...) equal the shadow's
 *     (SV_SMAPS_MASK bits).
 *
 * A test may assert more on its own: the change record (h->rec: pieces,
 * split/merged counts), regions, anon_vma ids, sflags()/svma() of a page.
 *
 * Provided:
 *   NPAGES          window size in pages, 32 unless the file defines it
 *                   before including this header
 *   RW PRIV FIX     common prot/flags; P(n) address of page n; UNUSED
 *   h               the harness of the running test
 *   setup/teardown  checked fixture: a fresh harness per test; teardown
 *                   closes the tracked fds and checks that the shadow gave
 *                   every node back
 *   kernel_vmflags  smaps VmFlags of the kernel VMA at an address (SV_*)
 *   sflags, svma    the shadow VMA at page n (its smaps-visible flags)
 *   EXPECT(layout)  the four assertions above; OK(call) asserts call >= 0
 *   make_file, open_file, track_fd, fmap   a temporary file (tmp_path) and
 *                   file mappings of it, fds closed at teardown
 *   npieces, piece  pieces of one kind in the last change record
 *   optest_main     run a suite, exit status for main()
 *
 * Helpers only one file needs stay in that file.
 */
#ifndef VMC_OPTEST_H
#define VMC_OPTEST_H

#include <check.h>
#include <stdlib.h>

#include "harness.h"

#ifndef NPAGES
#define NPAGES 32
#endif
#define RW (PROT_READ | PROT_WRITE)
#define PRIV (MAP_PRIVATE)
#define FIX (MAP_PRIVATE | MAP_FIXED)
#define P(n) h_addr(h, (n))
#define UNUSED __attribute__((unused))

static struct harness *h;
static char tmp_path[64];        /* reopens the temporary file */
static int fds[8];               /* fds to close at teardown */
static int nfds;

UNUSED static void setup(void)
{
	h = calloc(1, sizeof(*h));
	ck_assert_ptr_nonnull(h);
	h_init(h, NPAGES);
}

UNUSED static void teardown(void)
{
	while (nfds)
		close(fds[--nfds]);
	tmp_path[0] = 0;
	h_fini(h);
	/* shadow_destroy() gave every node back. */
	ck_assert_uint_eq(h->ta.live_objects, 0);
	free(h);
	h = NULL;
}

/* smaps VmFlags mnemonics -> SV_* (fs/proc/task_mmu.c show_smap_vma_flags). */
static const struct { char m[3]; uint32_t f; } mnem[] = {
	{ "rd", SV_READ }, { "wr", SV_WRITE }, { "ex", SV_EXEC },
	{ "sh", SV_SHARED }, { "mr", SV_MAYREAD }, { "mw", SV_MAYWRITE },
	{ "me", SV_MAYEXEC }, { "ms", SV_MAYSHARE }, { "gd", SV_GROWSDOWN },
	{ "lo", SV_LOCKED }, { "io", SV_IO }, { "pf", SV_IO },
	{ "sr", SV_SEQ_READ }, { "rr", SV_RAND_READ }, { "dc", SV_DONTCOPY },
	{ "de", SV_DONTEXPAND }, { "ac", SV_ACCOUNT }, { "nr", SV_NORESERVE },
	{ "ht", SV_HUGETLB }, { "hg", SV_HUGEPAGE }, { "nh", SV_NOHUGEPAGE },
	{ "mg", SV_MERGEABLE }, { "lf", SV_LOCKONFAULT }, { "dd", SV_DONTDUMP },
	{ "wf", SV_WIPEONFORK }, { "gu", SV_MAYBE_GUARD },
	{ "um", SV_UFFD }, { "uw", SV_UFFD_WP }, { "dp", SV_DROPPABLE },
};
/* The SV_* bits smaps can show. */
#define SV_SMAPS_MASK                                                         \
	(SV_READ | SV_WRITE | SV_EXEC | SV_SHARED | SV_MAYREAD | SV_MAYWRITE | \
	 SV_MAYEXEC | SV_MAYSHARE | SV_GROWSDOWN | SV_LOCKED | SV_IO |         \
	 SV_SEQ_READ | SV_RAND_READ | SV_DONTCOPY | SV_DONTEXPAND |            \
	 SV_ACCOUNT | SV_NORESERVE | SV_HUGETLB | SV_HUGEPAGE | SV_NOHUGEPAGE | \
	 SV_MERGEABLE | SV_LOCKONFAULT | SV_DONTDUMP | SV_WIPEONFORK |         \
	 SV_MAYBE_GUARD | SV_UFFD_ANY | SV_DROPPABLE)

/* VmFlags of the kernel VMA containing addr, as SV_* bits; ~0u if none. */
UNUSED static uint32_t kernel_vmflags(uint64_t addr)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[4096];
	bool in = false;
	uint32_t out = ~0u;
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		if (sscanf(line, "%llx-%llx ", &s, &e) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = s <= addr && addr < e;
			continue;
		}
		if (!in || strncmp(line, "VmFlags:", 8))
			continue;
		out = 0;
		for (char *t = strtok(line + 8, " \n"); t; t = strtok(NULL, " \n"))
			for (size_t i = 0; i < sizeof(mnem) / sizeof(mnem[0]); i++)
				if (!strcmp(t, mnem[i].m))
					out |= mnem[i].f;
		break;
	}
	fclose(f);
	return out;
}

/* Shadow VMA flags at page n (the smaps-visible part). */
UNUSED static uint32_t sflags(uint64_t n)
{
	struct shadow_vma *v = shadow_find(&h->sh, P(n));
	ck_assert_msg(v != NULL, "page %llu not mapped in the shadow",
		      (unsigned long long)n);
	return v->flags & SV_SMAPS_MASK;
}

UNUSED static struct shadow_vma *svma(uint64_t n)
{
	struct shadow_vma *v = shadow_find(&h->sh, P(n));
	ck_assert_msg(v != NULL, "page %llu not mapped in the shadow",
		      (unsigned long long)n);
	return v;
}

/* Every assertion a scenario makes about the whole window:
 *  1. the shadow predicted every result and errno;
 *  2. kernel and shadow both draw `want` (padded with holes);
 *  3. h_compare() finds no difference, boundaries included;
 *  4. each VMA's hidden flags agree with smaps VmFlags. */
UNUSED static void expect_at(const char *want, int line)
{
	char w[NPAGES + 1], s[NPAGES + 1], k[NPAGES + 1];
	size_t n = strlen(want);
	ck_assert_msg(n <= NPAGES, "line %d: layout too long", line);
	memcpy(w, want, n);
	memset(w + n, '.', NPAGES - n);
	w[NPAGES] = 0;
	ck_assert_msg(h->errno_mismatch == 0, "line %d: %s", line, h->why);
	ck_assert_int_eq(h_read_kernel(h), 0);
	h_draw(h, true, k);
	h_draw(h, false, s);
	ck_assert_msg(!strcmp(k, w),
		      "line %d: kernel %s, expected %s (shadow %s)", line, k,
		      w, s);
	ck_assert_msg(!strcmp(s, w),
		      "line %d: shadow %s, expected %s (kernel %s)", line, s,
		      w, k);
	ck_assert_msg(h_compare(h, NULL) == 0, "line %d: %s", line, h->why);
	for (struct shadow_vma *v = shadow_find_next(&h->sh, P(0));
	     v && v->start < P(NPAGES); v = shadow_vma_next(v)) {
		uint32_t kf = kernel_vmflags(v->start);
		uint32_t sf = v->flags & SV_SMAPS_MASK;
		ck_assert_msg(kf == sf,
			      "line %d: page %lld: VmFlags kernel %#x shadow "
			      "%#x (differ %#x)", line,
			      (long long)(v->start - P(0)) / (long long)H_PAGE,
			      kf, sf, kf ^ sf);
	}
}
#define EXPECT(want) expect_at((want), __LINE__)
#define OK(call) ck_assert_msg((call) >= 0, "%s: %s", #call, h->why)

/* A temporary file of npages pages (each page filled with its index).  It
 * is unlinked at once (a failing test in fork mode never reaches its
 * teardown) and reopened through /proc/self/fd. */
UNUSED static void make_file(uint64_t npages)
{
	char path[] = "/tmp/vmacheck-test-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_lt(nfds, 8);
	fds[nfds++] = fd;
	snprintf(tmp_path, sizeof(tmp_path), "/proc/self/fd/%d", fd);
	char page[H_PAGE];
	for (uint64_t i = 0; i < npages; i++) {
		memset(page, (int)i, sizeof(page));
		ck_assert_int_eq(pwrite(fd, page, sizeof(page),
					(off_t)(i * H_PAGE)),
				 (ssize_t)sizeof(page));
	}
}
UNUSED static int track_fd(int fd)
{
	ck_assert_int_ge(fd, 0);
	ck_assert_int_lt(nfds, 8);
	fds[nfds++] = fd;
	return fd;
}
/* open() of the temporary file, described for the shadow with file_id id;
 * closed at teardown. */
UNUSED static int open_file(int oflags, uint32_t id, struct shadow_file *f)
{
	int fd = track_fd(open(tmp_path, oflags | O_CLOEXEC));
	h_file_from_fd(fd, id, f);
	return fd;
}
UNUSED static int64_t fmap(uint64_t page, uint64_t npages, int prot, int flags,
		    int fd, uint64_t off_pages, const struct shadow_file *f)
{
	return h_mmap_file(h, P(page), npages * H_PAGE, prot, flags, fd,
			   off_pages * H_PAGE, f);
}

/* Count the pieces of one kind in the last change record. */
UNUSED static int npieces(uint8_t kind)
{
	int n = 0;
	for (uint32_t i = 0; i < h->rec.npieces; i++)
		n += h->rec.pieces[i].kind == kind;
	return n;
}

/* The i-th piece of a kind. */
UNUSED static const struct shadow_piece *piece(uint8_t kind, int i)
{
	for (uint32_t k = 0; k < h->rec.npieces; k++)
		if (h->rec.pieces[k].kind == kind && i-- == 0)
			return &h->rec.pieces[k];
	ck_abort_msg("no piece %d of kind %d", i, kind);
	return NULL;
}

/* Run a suite (the tests' main()): EXIT_FAILURE if any test failed. */
UNUSED static int optest_main(Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* VMC_OPTEST_H */
