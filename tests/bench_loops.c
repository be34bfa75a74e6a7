/*
 * bench_loops.c - the mapping-heavy workloads that bench_preload runs
 * natively and under each tool.  One loop per run:
 *
 *     bench_loops LOOP ITER
 *
 * runs LOOP for a warm-up of ITER/10 iterations (at least 1), then ITER
 * timed iterations, and prints one line on stdout:
 *
 *     loop=L iter=N calls_per_iter=C ns_per_iter=X cpu_pct=P vmrss_kb=R
 *         vmhwm_kb=H rssanon_kb=A rssfile_kb=F rssshmem_kb=S
 *                                          (one line, space separated)
 *
 * ns_per_iter is CLOCK_MONOTONIC around the timed loop only (set-up,
 * warm-up and tear-down excluded) over ITER; cpu_pct is this process's
 * CPU time over that wall time (well below 100: other programs held the
 * core, or a tracer made the process wait).  The memory figures are
 * /proc/self/status's VmRSS, VmHWM (peak RSS), RssAnon, RssFile and
 * RssShmem read after the loop, with every mapping of the loop still in
 * place for live_20000 (a preloaded tool's file-backed journal shows in
 * RssFile, its private memory in RssAnon).
 *
 * Every mapping call goes through libc's symbols (mmap, munmap, mprotect,
 * mremap), so that a preloaded library interposes them.  The loops never
 * touch the pages they map, except where a loop says so: the figures are
 * the cost of the calls, which is what a mapping tool adds to.
 *
 * Loops (an iteration is what ns_per_iter divides by):
 *   mmap_munmap_64k         mmap 64 KiB anonymous RW, munmap it (2 calls)
 *                           (placed by a hint between two guard pages)
 *   mprotect_split_merge    a 3-page RW mapping (written once; between
 *                           guard pages like the 64 KiB one): middle page
 *                           RO (split in 3), back RW (merge in 1) (2 calls)
 *   mremap_growth           a 1-page mapping (first page written) grown by
 *                           4 KiB steps with MREMAP_MAYMOVE up to 64 pages,
 *                           then unmapped; an iteration is one step (the
 *                           mmap and munmap of each cycle are spread over
 *                           its 63 steps)
 *   fixed_over_reservation  a 1 GiB PROT_NONE reservation (made once);
 *                           MAP_FIXED 64 KiB RW at a random 64 KiB-aligned
 *                           offset, then MAP_FIXED PROT_NONE back (which
 *                           merges into the reservation again) (2 calls)
 *   live_20000              20,000 one-page mappings kept alive, prot
 *                           alternating RW/RO so that none merge; then
 *                           mprotect a random one to its neighbours' prot
 *                           (3 VMAs merge) and back (split again) (2 calls)
 *
 * With a third argument "ab", under build/ab/libvmacheck.so (make
 * bench-ab), the timed iterations alternate between traced and untraced
 * blocks in one process, and the line says ns_per_iter_traced,
 * ns_per_iter_untraced and their ratio (run_ab below says why).  With
 * "pass", under the same library, the set-up and the warm-up are traced
 * and the timed iterations untraced (every call straight to the kernel):
 * the process has the tool's address-space layout and none of its work
 * (bench_preload's vmc-pass column).
 *
 * Random choices use a fixed-seed xorshift, so every run does the same.
 * Exit status 0, or 1 with a message when a call fails or usage is bad.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096ul
#define SZ_64K (64ul * 1024)
#define GROW_PAGES 64
#define RESERVE_BYTES (1ul << 30)
#define LIVE_N 20000

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_loops: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A loop: set-up (once), n iterations, tear-down (once).  A run leaves
 * the mappings as it found them; `group` iterations make one whole cycle
 * of its calls (the A/B mode's blocks are whole cycles, so that its
 * traced and untraced blocks make the same calls). */
struct loop {
	const char *name;
	int calls_per_iter;
	int group;
	void (*setup)(void);
	void (*run)(long n);
	void (*teardown)(void);
};

/* A free hole of len bytes between two PROT_NONE guard pages, for a loop
 * to map into with a hint.  Without it a loop's mapping lands top-down
 * next to whatever the process has there: natively a mergeable anonymous
 * neighbour (the mapping then extends it and munmap or mprotect splits
 * it again), under a preloaded tool another one, and the kernel does
 * different work in the two runs.  Between guards it never merges, in
 * every configuration. */
static char *guarded_hole(size_t len)
{
	char *g = mmap(NULL, len + 2 * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (g == MAP_FAILED)
		die("mmap guards");
	if (munmap(g + PAGE, len))
		die("munmap between guards");
	return g + PAGE;
}

/* mmap with a hint that must be honoured (the hole is free). */
static char *map_at(char *hint, size_t len, const char *what)
{
	char *p = mmap(hint, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die(what);
	if (p != hint) {
		errno = EEXIST;
		die(what);
	}
	return p;
}

/* ---- mmap_munmap_64k --------------------------------------------------- */

static char *hole64k;

static void setup_hole64k(void)
{
	hole64k = guarded_hole(SZ_64K);
}

static void run_mmap_munmap(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = map_at(hole64k, SZ_64K, "mmap 64 KiB");
		if (munmap(p, SZ_64K))
			die("munmap 64 KiB");
	}
}

/* ---- mprotect_split_merge ---------------------------------------------- */

static char *three;

static void setup_three(void)
{
	three = map_at(guarded_hole(3 * PAGE), 3 * PAGE, "mmap 3 pages");
	memset(three, 1, 3 * PAGE);
}

static void run_split_merge(long n)
{
	for (long i = 0; i < n; i++) {
		if (mprotect(three + PAGE, PAGE, PROT_READ))
			die("mprotect RO");
		if (mprotect(three + PAGE, PAGE, PROT_READ | PROT_WRITE))
			die("mprotect RW");
	}
}

static void teardown_three(void)
{
	if (munmap(three, 3 * PAGE))
		die("munmap 3 pages");
}

/* ---- mremap_growth ----------------------------------------------------- */

/* One growth cycle is GROW_PAGES - 1 steps; a run of n steps does whole
 * cycles and then a partial one, so n need not be a multiple. */
static void run_growth(long n)
{
	long done = 0;
	while (done < n) {
		char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			die("mmap 1 page");
		p[0] = 1;
		size_t len = PAGE;
		for (int k = 1; k < GROW_PAGES && done < n; k++, done++) {
			char *q = mremap(p, len, len + PAGE, MREMAP_MAYMOVE);
			if (q == MAP_FAILED)
				die("mremap grow");
			p = q;
			len += PAGE;
		}
		if (munmap(p, len))
			die("munmap grown mapping");
	}
}

/* ---- fixed_over_reservation ------------------------------------------- */

static char *reservation;
#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

static void setup_reservation(void)
{
	reservation = mmap(NULL, RESERVE_BYTES, PROT_NONE, RESERVE_FLAGS, -1,
			   0);
	if (reservation == MAP_FAILED)
		die("mmap 1 GiB reservation");
}

static void run_fixed(long n)
{
	const uint64_t slots = RESERVE_BYTES / SZ_64K;
	for (long i = 0; i < n; i++) {
		char *at = reservation + (rng() % slots) * SZ_64K;
		if (mmap(at, SZ_64K, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) != at)
			die("mmap MAP_FIXED commit");
		if (mmap(at, SZ_64K, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, -1,
			 0) != at)
			die("mmap MAP_FIXED PROT_NONE back");
	}
}

static void teardown_reservation(void)
{
	if (munmap(reservation, RESERVE_BYTES))
		die("munmap reservation");
}

/* ---- live_20000 --------------------------------------------------------- */

static char *live[LIVE_N];

static int live_prot(int i)
{
	return i & 1 ? PROT_READ : PROT_READ | PROT_WRITE;
}

static void setup_live(void)
{
	for (int i = 0; i < LIVE_N; i++) {
		live[i] = mmap(NULL, PAGE, live_prot(i),
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (live[i] == MAP_FAILED)
			die("mmap live page");
	}
}

static void run_live(long n)
{
	for (long k = 0; k < n; k++) {
		int i = (int)(rng() % LIVE_N);
		if (mprotect(live[i], PAGE, live_prot(i + 1)))
			die("mprotect toggle");
		if (mprotect(live[i], PAGE, live_prot(i)))
			die("mprotect restore");
	}
}

/* live_20000's mappings stay until exit, so that VmHWM (printed after the
 * loop) covers the tool's shadow of all of them. */

static const struct loop loops[] = {
	{ "mmap_munmap_64k", 2, 1, setup_hole64k, run_mmap_munmap, NULL },
	{ "mprotect_split_merge", 2, 1, setup_three, run_split_merge,
	  teardown_three },
	{ "mremap_growth", 1, GROW_PAGES - 1, NULL, run_growth, NULL },
	{ "fixed_over_reservation", 2, 1, setup_reservation, run_fixed,
	  teardown_reservation },
	{ "live_20000", 2, 1, setup_live, run_live, NULL },
};

/* Memory figures of /proc/self/status, in kB (0 when not found). */
struct mem {
	long rss, hwm, anon, file, shmem;
};

static void read_mem(struct mem *m)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "VmRSS:", offsetof(struct mem, rss) },
		{ "VmHWM:", offsetof(struct mem, hwm) },
		{ "RssAnon:", offsetof(struct mem, anon) },
		{ "RssFile:", offsetof(struct mem, file) },
		{ "RssShmem:", offsetof(struct mem, shmem) },
	};
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	memset(m, 0, sizeof(*m));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			size_t n = strlen(keys[k].key);
			if (!strncmp(line, keys[k].key, n))
				*(long *)((char *)m + keys[k].off) =
					strtol(line + n, NULL, 10);
		}
	fclose(f);
}

/* A/B mode (bench_loops LOOP ITER ab, under build/ab/libvmacheck.so):
 * the timed iterations run in blocks of about AB_BLOCK, alternately
 * traced and passed straight to the kernel (vmc_ab_passthrough, which
 * only that build exports), each block timed.  Both halves run in one
 * process, at the same addresses, interleaved at a fine grain, so that
 * what differs between them is the tool's work alone: not the layout of
 * the address space (the kernel's cost of the same call moves by up to
 * 45% with the VMAs around it), nor a slow minute of the machine, which
 * separate runs of a native and a traced program each catch on their
 * own.  A run of a loop leaves the mappings as it found them (struct
 * loop), so the untraced blocks leave them as the shadow knows them. */
#define AB_BLOCK 512

/* The A/B preload's pass-through switch, or exit: the "ab" and "pass"
 * modes need build/ab/libvmacheck.so. */
static void (*ab_switch(void))(int)
{
	void (*pass)(int) =
		(void (*)(int))dlsym(RTLD_DEFAULT, "vmc_ab_passthrough");
	if (!pass) {
		fprintf(stderr, "bench_loops: the ab and pass modes need the "
				"preload built for them: make bench-ab\n");
		exit(1);
	}
	return pass;
}

static void run_ab(const struct loop *l, long iter)
{
	void (*pass)(int) = ab_switch();
	long block = AB_BLOCK / l->group * l->group;
	uint64_t ns[2] = { 0, 0 };
	long done[2] = { 0, 0 };
	for (long k = 0; done[0] + done[1] < iter; k++) {
		int off = (int)(k & 1);
		pass(off);
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);
		l->run(block);
		ns[off] += now_ns(CLOCK_MONOTONIC) - t0;
		done[off] += block;
	}
	pass(0);
	double traced = (double)ns[0] / (double)done[0];
	double untraced = (double)ns[1] / (double)done[1];
	printf("loop=%s iter=%ld calls_per_iter=%d ab_block=%ld "
	       "ns_per_iter_traced=%.1f ns_per_iter_untraced=%.1f "
	       "ratio=%.3f\n",
	       l->name, done[0] + done[1], l->calls_per_iter, block, traced,
	       untraced, traced / untraced);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_loops LOOP ITER [ab|pass]\nloops:");
	for (size_t i = 0; i < sizeof(loops) / sizeof(loops[0]); i++)
		fprintf(stderr, " %s", loops[i].name);
	fprintf(stderr, "\n");
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3 && !(argc == 4 && (!strcmp(argv[3], "ab") ||
					 !strcmp(argv[3], "pass"))))
		usage();
	bool ab = argc == 4 && !strcmp(argv[3], "ab");
	void (*pass)(int) = argc == 4 && !ab ? ab_switch() : NULL;
	const struct loop *l = NULL;
	for (size_t i = 0; i < sizeof(loops) / sizeof(loops[0]); i++)
		if (!strcmp(argv[1], loops[i].name))
			l = &loops[i];
	char *end;
	long iter = strtol(argv[2], &end, 10);
	if (!l || *end || iter < 1)
		usage();

	if (l->setup)
		l->setup();
	l->run(iter / 10 > 0 ? iter / 10 : 1);
	if (ab) {
		run_ab(l, iter);
		if (l->teardown)
			l->teardown();
		return 0;
	}
	if (pass)
		pass(1);
	uint64_t c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	l->run(iter);
	uint64_t t1 = now_ns(CLOCK_MONOTONIC);
	uint64_t c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (pass)
		pass(0);
	struct mem m;
	read_mem(&m);
	if (l->teardown)
		l->teardown();

	double wall = (double)(t1 - t0);
	printf("loop=%s iter=%ld calls_per_iter=%d ns_per_iter=%.1f "
	       "cpu_pct=%.0f vmrss_kb=%ld vmhwm_kb=%ld rssanon_kb=%ld "
	       "rssfile_kb=%ld rssshmem_kb=%ld\n",
	       l->name, iter, l->calls_per_iter, wall / (double)iter,
	       wall > 0 ? 100.0 * (double)(c1 - c0) / wall : 0.0, m.rss, m.hwm,
	       m.anon, m.file, m.shmem);
	return 0;
}
