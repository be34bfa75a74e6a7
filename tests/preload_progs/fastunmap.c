/*
 * fastunmap.c - a mapping the preload's fast paths take (an anonymous
 * private mmap between two PROT_NONE guards it cannot merge with, then its
 * whole munmap), unmapped a second time; for tests/test_preload_run.c: the
 * second munmap must still be a double-unmap.  Nothing was unmapped at
 * those addresses before the first munmap, so only the fast path's own
 * record can tell.
 *
 *   fastunmap            the above
 *   fastunmap many N     N one-page mappings side by side in a free range,
 *                        read-write and read-only in turn (none merge: all
 *                        fast), then their munmaps
 *   fastunmap keep N     the same N mappings, left mapped at exit (the
 *                        preload's last check reads them all)
 *   fastunmap rawkeep N  the same made by raw mmap (the preload sees none
 *                        of them: its last check finds them), left mapped
 *   fastunmap churn N    N times a 64 MiB mapping (more than the process
 *                        has mapped: each raises VmPeak), written and
 *                        unmapped whole at once (the pairs the preload
 *                        never applies); then mappings whose next call is
 *                        not their own whole munmap (an mprotect of it,
 *                        another mmap, a partial munmap, a fork); and last
 *                        a one-page mapping left mapped (a leak)
 *   fastunmap protect N  N times the middle page of a 3-page mapping made
 *                        read-only (split in 3) and read-write again
 *                        (merged), the preload's fast mprotect; then all
 *                        of it made writable and executable (wx-mapping),
 *                        and an mprotect over a hole (ENOMEM,
 *                        mprotect-unmapped)
 *   fastunmap undo N     one-page mappings side by side, read-write,
 *                        read-only, read-write; N times the middle one
 *                        made read-write (the three merge) and read-only
 *                        again (split: the pairs the preload cancels);
 *                        then an mprotect followed by another call (a
 *                        munmap), one followed by an mprotect of its range
 *                        that leaves another shape (not cancelled), and
 *                        one followed by a fork
 *   fastunmap undoforeign N  the same pairs on the middle page of a
 *                        3-page mapping made by a raw mmap (foreign: each
 *                        call asks the kernel first, so none is cancelled)
 *   fastunmap grow N     N times a written one-page mapping in a free
 *                        range between PROT_NONE guards grown a page at a
 *                        time by mremap to 63 pages (in place: the fast
 *                        path), then to 64 (up to the guard) and 65 (it
 *                        moves), and unmapped
 *   fastunmap growheld N  N times a written one-page mapping between
 *                        guards grown a page at a time in place to 60
 *                        pages (growths the preload holds back and applies
 *                        as one), and unmapped; with the preload, in each
 *                        round vmc_dump_maps at 20 pages must show the
 *                        mapping's 20, and vmc_check_now at 30 find
 *                        nothing; every tenth round forks at 40 pages, and
 *                        the child grows its copy to 50 in place, checks
 *                        (nothing) and exits.  The last round, at 45
 *                        pages, a raw mmap (not seen) takes page 50, and
 *                        a growth to 51 without MREMAP_MAYMOVE must fail
 *                        with ENOMEM, and one to 50 succeed; the raw page
 *                        is unmapped raw at the end
 *   fastunmap move N     a written one-page mapping grown a page at a
 *                        time, N times, by mremap with MREMAP_MAYMOVE
 *                        while a PROT_NONE page just after it keeps it
 *                        from growing in place: it moves at every step,
 *                        its contents with it (the first move, of a
 *                        page that merged with the mapping above it, is
 *                        the general path's; the others are the fast
 *                        path's); then
 *                        the range of the last move's old place unmapped
 *                        again (a double-unmap: only the record of the
 *                        move can tell)
 *   fastunmap moveapart N  N times: a written page placed in empty address
 *                        space (24 TiB up: it merges with nothing), a
 *                        PROT_NONE page after it, the page grown by
 *                        mremap (moved: whether it keeps its pgoff is
 *                        pagemap's to say), both unmapped
 *   fastunmap reserve N  a 16 MiB PROT_NONE reservation (placed in empty
 *                        address space, 16 TiB up), N commits of 64 KiB
 *                        (MAP_FIXED read-write, written) at pseudo-random
 *                        slots, each decommitted (MAP_FIXED PROT_NONE)
 *                        right away (the first N/2: the pairs the preload
 *                        cancels) or after the next one is made (the
 *                        commit held, then applied); then the reservation
 *                        left mapped with no pointer to it (one leak, its
 *                        whole 16 MiB: the decommits gave their pages
 *                        back to it)
 *   fastunmap settle N CUT  N times a 2-page mapping between guards and
 *                        its whole munmap (CUT 0), or a 3-page one whose
 *                        middle page is unmapped first, then the rest
 *                        (CUT 1); then a 2-page mapping made read-only by
 *                        a raw mprotect and unmapped whole (an untracked
 *                        change the check before the munmap must see)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmacheck.h"

#define PAGE 4096ul

__attribute__((noinline)) static int release(char *p)
{
	return munmap(p, 2 * PAGE);
}

/* n one-page mappings side by side in a free range (a free page at each
 * end), read-write and read-only in turn, by libc's mmap or a raw one;
 * into v[] when v is not NULL.  0, or the exit status of a failure. */
static int place(long n, bool raw, char **v)
{
	char *r = mmap(NULL, (size_t)(n + 2) * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED || munmap(r, (size_t)(n + 2) * PAGE))
		return 3;
	for (long i = 0; i < n; i++) {
		char *want = r + (i + 1) * PAGE;
		int prot = i & 1 ? PROT_READ : PROT_READ | PROT_WRITE;
		int flags = MAP_PRIVATE | MAP_ANONYMOUS;
		char *p = raw ? (char *)syscall(SYS_mmap, want, PAGE, prot,
						flags, -1, 0)
			      : mmap(want, PAGE, prot, flags, -1, 0);
		if (p != want)
			return 4;
		if (v)
			v[i] = p;
	}
	return 0;
}

static int keep(long n)
{
	int r = place(n, false, NULL);
	if (!r)
		printf("fastunmap keep: %ld mapped\n", n);
	return r;
}

static int rawkeep(long n)
{
	int r = place(n, true, NULL);
	if (!r)
		printf("fastunmap rawkeep: %ld mapped\n", n);
	return r;
}

static int many(long n)
{
	char **v = calloc((size_t)n, sizeof(*v));
	if (!v)
		return 2;
	int r = place(n, false, v);
	if (r)
		return r;
	long bad = 0;
	for (long i = 0; i < n; i++)
		bad += munmap(v[i], PAGE) != 0;
	free(v);
	printf("fastunmap many: %ld mapped, %ld bad\n", n, bad);
	return 0;
}

#define BIG (64ul << 20)

static char *map_rw(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	p[0] = 1;
	return p;
}

static int churn(long n)
{
	long bad = 0;
	for (long i = 0; i < n; i++) {
		char *p = map_rw(BIG);
		p[BIG - 1] = (char)i;
		bad += munmap(p, BIG) != 0;
	}
	/* the next call is an mprotect of it */
	char *x = map_rw(4 * PAGE);
	bad += mprotect(x, PAGE, PROT_READ) != 0;
	bad += munmap(x, 4 * PAGE) != 0;
	/* another mmap, then the first one's munmap */
	char *y = map_rw(2 * PAGE), *z = map_rw(3 * PAGE);
	bad += munmap(y, 2 * PAGE) != 0;
	bad += munmap(z, 3 * PAGE) != 0;
	/* part of it */
	char *w = map_rw(4 * PAGE);
	bad += munmap(w + PAGE, PAGE) != 0;
	bad += munmap(w, PAGE) != 0;
	bad += munmap(w + 2 * PAGE, 2 * PAGE) != 0;
	/* a fork: the child has it too, and unmaps it (MAP_NORESERVE, as
	 * below: a mapping of its own, whatever lies next to it) */
	char *f = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f == MAP_FAILED)
		return 2;
	f[0] = 1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(munmap(f, 2 * PAGE) != 0);
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0)
		bad++;
	bad += munmap(f, 2 * PAGE) != 0;
	/* a length the kernel rounds up (MAP_NORESERVE: no neighbour has
	 * that flag, so none can merge with it and the fast path takes it) */
	char *u = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (u == MAP_FAILED)
		return 2;
	bad += munmap(u, 2 * PAGE + 1) != 0;
	/* the leak: away from every other mapping (a hint into empty
	 * space), so that it merges with none and no pointer to a
	 * neighbour's start is a limit pointer of it */
	char *leak = mmap((void *)(16ul << 40), PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (leak == MAP_FAILED)
		return 2;
	leak[0] = 1;
	printf("fastunmap churn: %ld pairs, %ld bad, leak %s\n", n, bad,
	       leak ? "made" : "none");
	return 0;
}

static int protect(long n)
{
	long bad = 0;
	char *p = map_rw(3 * PAGE);
	for (long i = 0; i < n; i++) {
		bad += mprotect(p + PAGE, PAGE, PROT_READ) != 0;
		bad += mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE) != 0;
	}
	bad += mprotect(p, 3 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC) != 0;
	bad += mprotect(p, 3 * PAGE, PROT_READ | PROT_WRITE) != 0;
	bad += munmap(p + 2 * PAGE, PAGE) != 0;
	int r = mprotect(p, 3 * PAGE, PROT_READ);
	const char *hole = r == -1 && errno == ENOMEM ? "ENOMEM" : "not ENOMEM";
	bad += munmap(p, 2 * PAGE) != 0;
	printf("fastunmap protect: %ld rounds, %ld bad, hole %s\n", n, bad,
	       hole);
	return 0;
}

static int undo(long n)
{
	long bad = 0;
	/* MAP_NORESERVE: no neighbour has it, none merges with it */
	char *o = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (o == MAP_FAILED)
		return 2;
	/* a free range for three pages, with a free page at each end */
	char *r = mmap(NULL, 5 * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED || munmap(r, 5 * PAGE))
		return 2;
	for (int i = 1; i <= 3; i++)
		if (mmap(r + i * PAGE, PAGE,
			 i == 2 ? PROT_READ : PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			 0) != r + i * PAGE)
			return 3;
	char *m = r + 2 * PAGE;
	for (long i = 0; i < n; i++) {
		bad += mprotect(m, PAGE, PROT_READ | PROT_WRITE) != 0;
		bad += mprotect(m, PAGE, PROT_READ) != 0;
	}
	bad += mprotect(m, PAGE, PROT_READ | PROT_WRITE) != 0;
	bad += munmap(o, PAGE) != 0;
	bad += mprotect(m, PAGE, PROT_READ) != 0;
	bad += mprotect(m, PAGE, PROT_NONE) != 0;
	bad += mprotect(m, PAGE, PROT_READ | PROT_WRITE) != 0;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(mprotect(m, PAGE, PROT_READ) != 0 ||
		      munmap(r + PAGE, 3 * PAGE) != 0);
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0)
		bad++;
	bad += mprotect(m, PAGE, PROT_READ) != 0;
	bad += munmap(r + PAGE, 3 * PAGE) != 0;
	printf("fastunmap undo: %ld rounds, %ld bad\n", n, bad);
	return 0;
}

static int undo_foreign(long n)
{
	long bad = 0;
	char *p = (char *)syscall(SYS_mmap, NULL, 3 * PAGE,
				  PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	for (long i = 0; i < n; i++) {
		bad += mprotect(p + PAGE, PAGE, PROT_READ) != 0;
		bad += mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE) != 0;
	}
	bad += munmap(p, 3 * PAGE) != 0;
	printf("fastunmap undoforeign: %ld rounds, %ld bad\n", n, bad);
	return 0;
}

static int settle(long n, int cut)
{
	long bad = 0;
	size_t len = (cut ? 3 : 2) * PAGE;
	char *g = mmap(NULL, len + 2 * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (g == MAP_FAILED || munmap(g + PAGE, len))
		return 2;
	for (long i = 0; i < n; i++) {
		char *p = mmap(g + PAGE, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != g + PAGE)
			return 3;
		if (cut)
			bad += munmap(p + PAGE, PAGE) != 0;
		bad += munmap(p, len) != 0;
	}
	char *p = mmap(g + PAGE, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != g + PAGE)
		return 4;
	bad += syscall(SYS_mprotect, p, 2 * PAGE, PROT_READ) != 0;
	bad += munmap(p, 2 * PAGE) != 0;
	printf("fastunmap settle: %ld rounds, %ld bad\n", n, bad);
	return 0;
}

static int grow(long n)
{
	long bad = 0;
	/* 64 free pages between two guards */
	char *g = mmap(NULL, 66 * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (g == MAP_FAILED || munmap(g + PAGE, 64 * PAGE))
		return 2;
	for (long i = 0; i < n; i++) {
		char *p = mmap(g + PAGE, PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS |
				       MAP_FIXED_NOREPLACE,
			       -1, 0);
		if (p != g + PAGE)
			return 3;
		p[0] = 1;
		for (size_t k = 1; k < 65; k++) {
			char *q = mremap(p, k * PAGE, (k + 1) * PAGE,
					 MREMAP_MAYMOVE);
			/* in place up to the guard, then moved */
			bad += q == MAP_FAILED || (k < 64) != (q == p) ||
			       q[0] != 1;
			if (q != MAP_FAILED)
				p = q;
		}
		bad += munmap(p, 65 * PAGE) != 0;
	}
	bad += munmap(g, 66 * PAGE) != 0;
	printf("fastunmap grow: %ld rounds, %ld bad\n", n, bad);
	return 0;
}

/* vmc_dump_maps's line for the VMA at p: its end, or 0 when none. */
static unsigned long dumped_end(char *p)
{
	int fd[2];
	char buf[1 << 16];
	if (pipe(fd))
		return 0;
	int r = vmc_dump_maps(fd[1]);
	close(fd[1]);
	ssize_t n = r ? -1 : read(fd[0], buf, sizeof(buf) - 1);
	close(fd[0]);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	for (char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l) {
		unsigned long s, e;
		if (sscanf(l, "%lx-%lx", &s, &e) == 2 && s == (unsigned long)p)
			return e;
	}
	return 0;
}

/* Grow [p, k pages) a page at a time to `to` pages, in place. */
static long grow_to(char *p, size_t k, size_t to, int flags)
{
	long bad = 0;
	for (; k < to; k++)
		bad += mremap(p, k * PAGE, (k + 1) * PAGE, flags) != p;
	return bad;
}

static int grow_held(long n)
{
	long bad = 0;
	bool api = vmc_enabled && vmc_enabled();
	/* 64 free pages between two guards */
	char *g = mmap(NULL, 66 * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (g == MAP_FAILED || munmap(g + PAGE, 64 * PAGE))
		return 2;
	char *p = g + PAGE, *raw = p + 50 * PAGE;
	for (long i = 0; i < n; i++) {
		if (mmap(p, PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			 0) != p)
			return 3;
		p[0] = 1;
		bad += grow_to(p, 1, 20, MREMAP_MAYMOVE);
		if (api && dumped_end(p) != (unsigned long)(p + 20 * PAGE))
			bad++;
		bad += grow_to(p, 20, 30, MREMAP_MAYMOVE);
		if (api && vmc_check_now() != 0)
			bad++;
		bad += grow_to(p, 30, 40, i % 2 ? 0 : MREMAP_MAYMOVE);
		if (i % 10 == 0) {
			fflush(stdout);
			pid_t c = fork();
			if (c < 0)
				return 4;
			if (c == 0)
				_exit(grow_to(p, 40, 50, MREMAP_MAYMOVE) ||
				      p[0] != 1 || (api && vmc_check_now()));
			int st;
			bad += waitpid(c, &st, 0) != c || !WIFEXITED(st) ||
			       WEXITSTATUS(st);
		}
		if (i == n - 1) {
			bad += grow_to(p, 40, 45, MREMAP_MAYMOVE);
			if ((char *)syscall(SYS_mmap, raw, PAGE, PROT_READ,
					    MAP_PRIVATE | MAP_ANONYMOUS |
						    MAP_FIXED_NOREPLACE,
					    -1, 0) != raw)
				return 5;
			errno = 0;
			bad += mremap(p, 45 * PAGE, 51 * PAGE, 0) != MAP_FAILED ||
			       errno != ENOMEM;
			bad += grow_to(p, 45, 50, 0);
			bad += munmap(p, 50 * PAGE) != 0;
			bad += syscall(SYS_munmap, raw, PAGE) != 0;
			continue;
		}
		bad += grow_to(p, 40, 60, MREMAP_MAYMOVE);
		bad += p[0] != 1;
		bad += munmap(p, 60 * PAGE) != 0;
	}
	bad += munmap(g, 66 * PAGE) != 0;
	printf("fastunmap growheld: %ld rounds, %ld bad\n", n, bad);
	return 0;
}

static int move(long n)
{
	long bad = 0, moves = 0;
	char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	p[0] = 1;
	size_t len = PAGE;
	char *old = NULL;
	for (long i = 0; i < n; i++) {
		/* EEXIST: something is there already, in the way as well */
		char *g = mmap(p + len, PAGE, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				       MAP_FIXED_NOREPLACE,
			       -1, 0);
		char *q = mremap(p, len, len + PAGE, MREMAP_MAYMOVE);
		if (q == MAP_FAILED)
			return 3;
		moves += q != p;
		bad += q[0] != 1 || q[len - PAGE] != 1;
		q[len] = 1;
		old = p;
		p = q;
		len += PAGE;
		if (g != MAP_FAILED)
			bad += munmap(g, PAGE) != 0;
	}
	if (old)
		bad += munmap(old, len - PAGE) != 0;
	bad += munmap(p, len) != 0;
	printf("fastunmap move: %ld moves, %ld bad\n", moves, bad);
	return 0;
}

static int move_apart(long n)
{
	long bad = 0, moves = 0;
	char *base = (char *)(24ul << 40);
	for (long i = 0; i < n; i++) {
		char *p = mmap(base + i * 4 * PAGE, PAGE,
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS |
				       MAP_FIXED_NOREPLACE,
			       -1, 0);
		if (p == MAP_FAILED)
			return 2;
		p[0] = 1;
		char *g = mmap(p + PAGE, PAGE, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				       MAP_FIXED_NOREPLACE,
			       -1, 0);
		if (g == MAP_FAILED)
			return 2;
		char *q = mremap(p, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
		if (q == MAP_FAILED)
			return 3;
		moves += q != p;
		bad += q[0] != 1;
		bad += munmap(q, 2 * PAGE) != 0;
		bad += munmap(g, PAGE) != 0;
	}
	printf("fastunmap moveapart: %ld moves, %ld bad\n", moves, bad);
	return 0;
}

#define RESERVE_LEN (16ul << 20)
#define COMMIT_LEN (64ul << 10)

static long commits;

/* A commit of COMMIT_LEN at at, written at byte i; 1 when it failed. */
static long commit(char *at, long i)
{
	char *c = mmap(at, COMMIT_LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (c != at)
		return 1;
	c[i % COMMIT_LEN] = 1;
	commits++;
	return 0;
}

/* Its decommit: the pages given back to the reservation. */
static long decommit(char *at)
{
	return mmap(at, COMMIT_LEN, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
		    -1, 0) != at;
}

__attribute__((noinline)) static long reserve_use(long n)
{
	char *base = mmap((void *)(16ul << 40), RESERVE_LEN, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -1;
	long bad = 0;
	unsigned long x = 88172645463325252ul;
	char *last = NULL;
	for (long i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		char *at = base + (x % (RESERVE_LEN / COMMIT_LEN)) * COMMIT_LEN;
		if (i < n / 2) {
			/* committed, written, decommitted at once */
			bad += commit(at, i);
			bad += decommit(at);
			continue;
		}
		if (at == last)
			continue;
		bad += commit(at, i);
		if (last)
			bad += decommit(last);
		last = at;
	}
	if (last)
		bad += decommit(last);
	return bad;
}

static int reserve(long n)
{
	long bad = reserve_use(n);
	if (bad < 0)
		return 2;
	printf("fastunmap reserve: %ld commits, %ld bad\n", commits, bad);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(long n);
	} modes[] = {
		{ "reserve", reserve }, { "move", move },
		{ "moveapart", move_apart },
		{ "grow", grow },	{ "growheld", grow_held },
		{ "undoforeign", undo_foreign },
		{ "undo", undo },	{ "protect", protect },
		{ "churn", churn },	{ "many", many },
		{ "keep", keep },	{ "rawkeep", rawkeep },
	};
	for (size_t k = 0; argc > 2 && k < sizeof(modes) / sizeof(modes[0]);
	     k++)
		if (!strcmp(argv[1], modes[k].name))
			return modes[k].run(atol(argv[2]));
	if (argc > 3 && !strcmp(argv[1], "settle"))
		return settle(atol(argv[2]), atoi(argv[3]));
	/* guard A, then guard B three pages below it: the two pages
	 * between them are free (below a new top-down mapping) */
	char *a = mmap(NULL, PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a == MAP_FAILED)
		return 2;
	char *b = mmap(a - 3 * PAGE, PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
			       MAP_FIXED_NOREPLACE,
		       -1, 0);
	if (b != a - 3 * PAGE)
		return 3;
	char *p = mmap(a - 2 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != a - 2 * PAGE)
		return 4;
	p[0] = 1;
	int r1 = release(p);
	int r2 = release(p);
	munmap(a, PAGE);
	munmap(b, PAGE);
	printf("fastunmap: %d %d\n", r1, r2);
	return 0;
}
