/*
 * fuzz_shadow.c - differential fuzzer: the shadow against the real kernel.
 *
 * Each seed runs in a child process of its own.  It picks a window of free
 * address space (tests/harness.h) and performs random mmap, munmap,
 * mprotect, mremap, madvise, mlock2/munlock calls (valid and invalid; anon
 * and file; shared and private) inside it, touching pages at random, and
 * applies every call to a shadow.  After every call it checks that the
 * shadow predicted the kernel's result and errno, and compares shadow and
 * kernel over the window: coverage and visible attributes must agree
 * exactly; boundaries are compared separately and, when they differ, the
 * kernel's are adopted (a boundary miss) so the run goes on.
 *
 * After one call in four it also asks the shadow for a free range
 * (shadow_find_free, the placement search the gap augmentation serves) and
 * compares it with a brute-force scan of the gaps, then validates the
 * augmentation.  With --lazy-gaps the shadow runs in lazy-gaps mode (as
 * in the preload): the augmentation is rebuilt by that search.
 *
 * With --fast, an anonymous private mmap, a munmap of one whole mapping
 * and an mprotect the kernel accepted go through the fast paths first (as
 * in the preload), and the last line also counts the calls they applied
 * (fast_maps,
 * fast_unmaps, fast_protects: an mprotect inside one VMA, certain of its
 * outcome, through shadow_protect_fast; fast_undos: pairs of mprotects of
 * one range, the second mostly restoring the first page's protection,
 * that shadow_protect_undo cancelled, as the preload does, the shadow
 * compared with the kernel after the second; fast_grows: mremaps the
 * kernel grew in place that shadow_remap_grow_fast applied, a third of
 * the mremaps being a growth of the old range to its VMA's end;
 * fast_moves: such growths the kernel moved, and growths of one
 * mapping's whole range (all of its VMA, its head, its tail or its middle:
 * about one mremap in ten), that shadow_remap_move_fast applied;
 * fast_fixed: MAP_FIXED anonymous private mmaps inside one VMA that
 * shadow_map_fixed_fast applied, a fifth of the MAP_FIXED mmaps being
 * such a commit or decommit over part of a VMA);
 * --require then also needs each to be non-zero.
 *
 * With --unseen the shadow does not see the page faults (faults_unseen, as
 * in the preload): the touches still happen, but the anon_vmas they give
 * are unknown to it, so it merges on a guess and marks the result
 * SV_EDGES_UNSURE.  A boundary the kernel has inside such a VMA is then
 * no miss (lazy_boundaries counts them); any other boundary the shadow
 * lacks, and every boundary the kernel lacks, is one.  Before an mremap
 * whose old range holds such a VMA, the kernel's boundaries there are
 * adopted first (refines), and after a move the moved pages are looked up
 * in /proc/self/pagemap (a written one: the pgoff was kept), as the
 * preload does; the shadow must then
 * predict every result and errno.  --require then needs no boundary miss
 * at all, and both counts non-zero.
 *
 *   fuzz_shadow --seeds A-B --ops N [--pages P] [--lazy-gaps] [--fast]
 *               [--unseen] [--require] [-v]
 *
 * Last line: ops=N coverage_mismatch=N errno_mismatch=N
 * find_free_mismatch=N boundary_exact=P%
 * With --require the exit status is 1 unless the mismatch counts are 0 and
 * boundary_exact is at least 99.5%.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "harness.h"

#ifndef MFD_CLOEXEC
#include <linux/memfd.h>
#endif

struct counts {
	uint64_t ops, coverage_mismatch, errno_mismatch, boundary_miss;
	uint64_t by_op_boundary[8];
	uint64_t failed_calls;
	uint64_t find_free_mismatch;
	uint64_t fast_maps, fast_unmaps, fast_protects, fast_undos, fast_grows,
		fast_moves;
	uint64_t fast_fixed;
	uint64_t lazy_boundaries, refines;
};

enum { OP_MMAP, OP_MUNMAP, OP_MPROTECT, OP_MREMAP, OP_MADVISE, OP_MLOCK,
       OP_TOUCH, OP_N };
static const char *op_name[OP_N] = { "mmap", "munmap", "mprotect", "mremap",
				     "madvise", "mlock", "touch" };

static uint64_t rng_state;
static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }
static bool chance(unsigned pct) { return below(100) < pct; }

static int verbose;
static bool unseen;        /* --unseen */

/* The last calls, for the verbose log of a mismatch. */
#define HIST 48
static char hist[HIST][200];
static unsigned hist_n;
static void hist_add(const struct harness *h, const char *op)
{
	snprintf(hist[hist_n++ % HIST], sizeof(hist[0]), "%s %s -> %s", op,
		 op[0] == 't' ? "" : h->call,
		 h->last_err ? strerror(h->last_err) : "ok");
}
static void hist_dump(void)
{
	unsigned from = hist_n > HIST ? hist_n - HIST : 0;
	for (unsigned i = from; i < hist_n; i++)
		fprintf(stderr, "      %3d: %s\n", (int)(i - hist_n),
			hist[i % HIST]);
}

/* ---- files: several open file descriptions of one file, and a memfd */
#define FILE_PAGES 160
struct ffile {
	int fd;
	struct shadow_file f;
};
enum { F_A, F_A2, F_B, F_RO, F_WO, F_MEM, F_N };
static struct ffile files[F_N];

static void files_open(void)
{
	char path[] = "/tmp/vmacheck-fuzz-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, FILE_PAGES * H_PAGE)) {
		perror("fuzz: temp file");
		exit(2);
	}
	files[F_A].fd = fd;
	files[F_A2].fd = dup(fd);                  /* same description */
	files[F_B].fd = open(path, O_RDWR);        /* another description */
	files[F_RO].fd = open(path, O_RDONLY);
	files[F_WO].fd = open(path, O_WRONLY);
	unlink(path);
	files[F_MEM].fd = memfd_create("vmacheck-fuzz", 0);
	if (files[F_MEM].fd < 0 ||
	    ftruncate(files[F_MEM].fd, FILE_PAGES * H_PAGE)) {
		perror("fuzz: memfd");
		exit(2);
	}
	uint32_t ids[F_N] = { 1, 1, 2, 3, 4, 5 };
	for (int i = 0; i < F_N; i++)
		h_file_from_fd(files[i].fd, ids[i], &files[i].f);
}

/* ---- faults while touching: a page the shadow says is accessible but
 * the kernel refuses is a coverage mismatch, caught here. */
static sigjmp_buf touch_jmp;
static volatile sig_atomic_t touching;
static void on_fault(int sig)
{
	if (touching)
		siglongjmp(touch_jmp, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int random_prot(void)
{
	static const int p[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
				 PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC,
				 PROT_WRITE, PROT_READ | PROT_WRITE | PROT_EXEC };
	return p[below(sizeof(p) / sizeof(p[0]))];
}

/* A page in the window, biased towards VMA edges (where the rules are). */
static uint64_t pick_page(struct harness *h)
{
	if (chance(50)) {
		uint64_t end = h_addr(h, h->pages);
		struct shadow_vma *v =
			shadow_find_next(&h->sh, h_addr(h, below(h->pages)));
		if (v && v->start >= h->base && v->start < end) {
			uint64_t e = chance(50) ? v->start : v->end;
			if (e >= end)
				e = v->start;
			return (e - h->base) / H_PAGE;
		}
	}
	return below(h->pages);
}

static uint64_t pick_len(struct harness *h, uint64_t page)
{
	uint64_t room = h->pages - page;
	if (!room)
		return 1;
	uint64_t n = chance(70) ? 1 + below(8) : 1 + below(room);
	return n > room ? room : n;
}

/* Release a mapping the kernel placed outside the window. */
static void drop_outside(struct harness *h, int64_t r, uint64_t len)
{
	uint64_t end = h_addr(h, h->pages);
	if (r <= 0)
		return;
	uint64_t a = (uint64_t)r;
	if (a >= h->base && a + len <= end)
		return;
	h_munmap_addr(h, a, len);
}

static int64_t op_mmap(struct harness *h)
{
	/* --fast: often a commit or decommit over part of one VMA, as a
	 * reserve/commit allocator makes (shadow_map_fixed_fast's shape). */
	const struct shadow_vma *cv;
	if (h->fast && chance(20) &&
	    (cv = shadow_find(&h->sh, h_addr(h, below(h->pages)))) &&
	    cv->start >= h->base && cv->end <= h_addr(h, h->pages)) {
		uint64_t pages = (cv->end - cv->start) / H_PAGE;
		uint64_t a = chance(30) ? 0 : below(pages);
		uint64_t n = chance(30) ? pages - a : 1 + below(pages - a);
		return h_mmap_file(h, cv->start + a * H_PAGE, n * H_PAGE,
				   chance(40) ? PROT_NONE : random_prot(),
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
					   (chance(50) ? MAP_NORESERVE : 0),
				   -1, 0, NULL);
	}
	uint64_t page = pick_page(h), n = pick_len(h, page);
	uint64_t addr = h_addr(h, page), len = n * H_PAGE;
	int prot = random_prot();
	int flags = chance(15) ? MAP_SHARED : MAP_PRIVATE;
	int kind = (int)below(100);
	if (kind < 60)
		flags |= MAP_FIXED;
	else if (kind < 78)
		flags |= MAP_FIXED_NOREPLACE;
	/* else: a hint */
	if (chance(8))
		flags |= MAP_NORESERVE;
	if (chance(5))
		flags |= MAP_POPULATE;
	if (chance(4))
		flags |= MAP_STACK;
	if (chance(2))
		flags |= MAP_LOCKED;
	if (chance(2) && !(flags & MAP_SHARED))
		flags |= MAP_GROWSDOWN;
	int fi = -1;
	uint64_t off = 0;
	if (chance(35)) {
		fi = (int)below(F_N);
		off = below(FILE_PAGES - n + 1) * H_PAGE;
		if (chance(40) && page * H_PAGE + len <= FILE_PAGES * H_PAGE)
			off = page * H_PAGE; /* contiguous offsets: merges */
	} else {
		flags |= MAP_ANONYMOUS;
	}
	/* Invalid calls. */
	switch (below(40)) {
	case 0: len = 0; break;
	case 1: if (flags & MAP_FIXED) addr += 123; break;
	case 2: flags &= ~(MAP_SHARED | MAP_PRIVATE); break;
	case 3: if (fi >= 0) off += 7; break;
	case 4: if (fi >= 0) fi = -2; break;               /* bad fd */
	case 5: len = 1ull << 62; break;
	case 6: flags |= MAP_SHARED_VALIDATE; flags &= ~MAP_PRIVATE; break;
	case 7: len -= 100; break;                          /* rounds up */
	}
	int fd = fi >= 0 ? files[fi].fd : fi == -2 ? 999 : -1;
	const struct shadow_file *sf = fi >= 0 ? &files[fi].f : NULL;
	struct shadow_file bad = { .valid = false };
	if (fi == -2)
		sf = &bad;
	int64_t r = h_mmap_file(h, addr, len, prot, flags, fd, off, sf);
	drop_outside(h, r, ((len + 4095) & ~4095ull));
	return r;
}

static int64_t op_munmap(struct harness *h)
{
	uint64_t page = pick_page(h), n = pick_len(h, page);
	uint64_t addr = h_addr(h, page), len = n * H_PAGE;
	switch (below(30)) {
	case 0: addr += 8; break;
	case 1: len = 0; break;
	case 2: len -= 5; break;
	case 3: addr = 0x800000000000ull; break;
	}
	return h_munmap_addr(h, addr, len);
}

/* --fast: an mprotect and then one of the same range, mostly back to the
 * protection its first page had (the preload cancels such pairs). */
static int64_t op_mprotect_pair(struct harness *h)
{
	uint64_t page = pick_page(h), n = pick_len(h, page);
	uint64_t addr = h_addr(h, page), len = n * H_PAGE;
	const struct shadow_vma *v = shadow_find(&h->sh, addr);
	int prot2 = random_prot();
	if (v && !chance(20))
		prot2 = (v->flags & SV_READ ? PROT_READ : 0) |
			(v->flags & SV_WRITE ? PROT_WRITE : 0) |
			(v->flags & SV_EXEC ? PROT_EXEC : 0);
	return h_mprotect_pair(h, addr, len, random_prot(), prot2);
}

static int64_t op_mprotect(struct harness *h)
{
	if (h->fast && chance(30))
		return op_mprotect_pair(h);
	uint64_t page = pick_page(h), n = pick_len(h, page);
	uint64_t addr = h_addr(h, page), len = n * H_PAGE;
	int prot = random_prot();
	switch (below(30)) {
	case 0: addr += 8; break;
	case 1: len = 0; break;
	case 2: prot |= 0x40; break;
	case 3: prot |= PROT_GROWSDOWN; break;
	case 4: prot |= PROT_GROWSDOWN | PROT_GROWSUP; break;
	case 5: len -= 17; break;
	}
	return h_mprotect_addr(h, addr, len, prot);
}

static int64_t op_mremap(struct harness *h, struct counts *c)
{
	uint64_t page = pick_page(h);
	uint64_t addr = h_addr(h, page);
	uint64_t old_len = pick_len(h, page) * H_PAGE;
	uint64_t new_len = (1 + below(12)) * H_PAGE;
	uint64_t np = below(h->pages);
	uint64_t new_addr = h_addr(h, np);
	int flags = 0;
	switch (below(10)) {
	case 0: case 1: flags = 0; break;
	case 2: case 3: flags = MREMAP_MAYMOVE; break;
	case 4: case 5: case 6:
		flags = MREMAP_MAYMOVE | MREMAP_FIXED;
		if (chance(50))
			new_len = old_len;
		break;
	case 7: flags = MREMAP_MAYMOVE | MREMAP_DONTUNMAP; new_len = old_len;
		if (chance(50))
			flags |= MREMAP_FIXED;
		break;
	case 8: flags = MREMAP_MAYMOVE; new_len = old_len; break;
	case 9: flags = MREMAP_MAYMOVE; old_len = 0; break;
	}
	/* Keep FIXED destinations inside the window. */
	if ((flags & MREMAP_FIXED) && np + new_len / H_PAGE > h->pages)
		new_len = (h->pages - np) * H_PAGE;
	if (!new_len)
		new_len = H_PAGE;
	switch (below(30)) {
	case 0: flags |= 0x40; break;
	case 1: addr += 16; break;
	case 2: new_len = 0; break;
	case 3: flags = MREMAP_FIXED; break;
	case 4: flags = MREMAP_DONTUNMAP; break;
	case 5: if (flags & MREMAP_FIXED) new_addr += 4; break;
	case 6: old_len += 77; break;
	}
	/* --fast: often a buffer's growth, the old range ending where its
	 * VMA does (the shape shadow_remap_grow_fast takes when the kernel
	 * grows it in place). */
	const struct shadow_vma *gv;
	const struct shadow_region *gr;
	if (h->fast && chance(30) && (gv = shadow_find(&h->sh, addr))) {
		old_len = gv->end - addr;
		new_len = old_len + (1 + below(3)) * H_PAGE;
		flags = chance(70) ? MREMAP_MAYMOVE : 0;
	} else if (h->fast && chance(15) &&
		   (gr = shadow_region_find(&h->sh, addr))) {
		/* one mapping's growth, the mapping merged with others or
		 * not: the old range is all of its VMA, its head or its tail
		 * (shadow_remap_move_fast takes those), or its middle */
		addr = gr->start;
		old_len = gr->end - gr->start;
		new_len = old_len + (1 + below(3)) * H_PAGE;
		flags = MREMAP_MAYMOVE;
	}
	if (unseen && h_refine(h, addr, old_len))
		c->refines++;
	int64_t r = h_mremap_addr(h, addr, old_len, new_len, flags, new_addr);
	drop_outside(h, r, ((new_len + 4095) & ~4095ull));
	return r;
}

static int64_t op_madvise(struct harness *h)
{
	static const int adv[] = {
		MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED,
		MADV_DONTNEED, MADV_FREE, MADV_REMOVE, MADV_DONTFORK,
		MADV_DOFORK, MADV_DONTDUMP, MADV_DODUMP, MADV_WIPEONFORK,
		MADV_KEEPONFORK, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
		MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_COLD, MADV_PAGEOUT,
		MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_DONTNEED_LOCKED,
		MADV_GUARD_INSTALL, MADV_GUARD_REMOVE, 77 /* invalid */,
	};
	uint64_t page = pick_page(h), n = pick_len(h, page);
	uint64_t addr = h_addr(h, page), len = n * H_PAGE;
	int a = adv[below(sizeof(adv) / sizeof(adv[0]))];
	if (chance(3))
		addr += 8;
	return h_madvise_addr(h, addr, len, a);
}

static int64_t op_mlock(struct harness *h)
{
	uint64_t page = pick_page(h), n = pick_len(h, page);
	if (chance(50))
		return h_munlock(h, page, n);
	int fl = chance(30) ? MLOCK_ONFAULT : 0;
	if (chance(5))
		fl = 4;
	return h_mlock(h, page, n, fl);
}

/* Touch a page (mapped or not): the shadow predicts the outcome (done,
 * SIGSEGV, SIGBUS) and the access must agree. */
static int64_t op_touch(struct harness *h, struct counts *c)
{
	volatile uint64_t page = below(h->pages);
	volatile bool write = chance(60);
	volatile char *p = (volatile char *)h_addr(h, page);
	volatile int predicted = shadow_touch(&h->sh, (uint64_t)p, write);
	volatile int got = 0;
	int sig;
	touching = 1;
	if ((sig = sigsetjmp(touch_jmp, 1)) != 0) {
		got = sig == SIGBUS ? -EIO : -EFAULT;
	} else {
		if (write)
			*p = 1;
		else
			(void)*p;
	}
	touching = 0;
	if (got != predicted) {
		c->coverage_mismatch++;
		snprintf(h->why, sizeof(h->why),
			 "touch: %s of page %llu: kernel %s, shadow %s",
			 write ? "write" : "read", (unsigned long long)page,
			 got == 0 ? "ok" : got == -EIO ? "SIGBUS" : "SIGSEGV",
			 predicted == 0 ? "ok" : predicted == -EIO ? "SIGBUS"
								   : "SIGSEGV");
		if (verbose)
			fprintf(stderr, "  %s\n", h->why);
	}
	return got;
}

/* The VMAs of both sides around addr, for the verbose log. */
static void dump_window(struct harness *h, uint64_t addr)
{
	uint64_t lo = addr > h->base + 8 * H_PAGE ? addr - 8 * H_PAGE : h->base;
	uint64_t hi = addr + 8 * H_PAGE;
	for (struct shadow_vma *v = shadow_find_next(&h->sh, lo);
	     v && v->start < hi; v = shadow_vma_next(v))
		fprintf(stderr, "    shadow [%llu,%llu) flags %#x pgoff %#llx "
				"anon %u file %u\n",
			(unsigned long long)((v->start - h->base) / H_PAGE),
			(unsigned long long)((v->end - h->base) / H_PAGE),
			v->flags, (unsigned long long)v->pgoff, v->anon_id,
			v->file_id);
	for (size_t k = 0; k < h->kv.n; k++) {
		const struct kview_entry *e = &h->kv.v[k];
		if (e->end <= lo || e->start >= hi)
			continue;
		fprintf(stderr, "    kernel [%llu,%llu) flags %#x off %#llx ino %llu\n",
			(unsigned long long)((e->start - h->base) / H_PAGE),
			(unsigned long long)((e->end - h->base) / H_PAGE),
			e->flags, (unsigned long long)e->offset,
			(unsigned long long)e->ino);
	}
}

static bool lazy_gaps;
static bool fast_paths;

/* --unseen: are all the boundary differences ones the kernel has inside a
 * VMA the shadow marked SV_EDGES_UNSURE?  Then they are no miss. */
static bool only_lazy_boundaries(const struct shadow *sh,
				 const struct diff_result *res)
{
	if (!unseen || res->n < res->count[DIFF_BOUNDARY] ||
	    res->count[DIFF_BOUNDARY] == 0)
		return false;
	for (uint32_t i = 0; i < res->n; i++) {
		const struct diff_item *it = &res->items[i];
		if (it->kind != DIFF_BOUNDARY)
			return false;
		const struct shadow_vma *v = shadow_find(sh, it->start);
		if (!v || v->start == it->start ||
		    !(v->flags & SV_EDGES_UNSURE))
			return false;
	}
	return true;
}


/* shadow_find_free() by brute force: every gap between the VMAs (and
 * above the last), clipped to [low, high); the highest that fits
 * (top-down) or the lowest. */
static uint64_t ref_find_free(const struct shadow *sh, uint64_t len,
			      uint64_t low, uint64_t high, bool topdown)
{
	uint64_t best = 0, prev_end = 0;
	bool found = false;
	for (const struct shadow_vma *v = shadow_vma_first(sh);; v =
		     shadow_vma_next(v)) {
		uint64_t gs = prev_end, ge = v ? v->start : UINT64_MAX;
		if (gs < low)
			gs = low;
		if (ge > high)
			ge = high;
		if (ge > gs && ge - gs >= len) {
			uint64_t at = topdown ? ge - len : gs;
			if (!found || (topdown ? at > best : at < best))
				best = at;
			found = true;
		}
		if (!v)
			break;
		prev_end = v->end;
	}
	return found ? best : 0;
}

/* The free-range search (and, in lazy mode, the rebuild of the gap
 * augmentation it starts with) against the brute force; the augmentation
 * must then validate. */
static void check_find_free(struct harness *h, struct counts *c)
{
	uint64_t len = (1 + below(8)) * H_PAGE;
	uint64_t low = h->base - 16 * H_PAGE + below(8) * H_PAGE;
	uint64_t high = h->base + (h->pages + 16) * H_PAGE -
			below(8) * H_PAGE;
	bool topdown = below(2);
	uint64_t got = shadow_find_free(&h->sh, len, low, high, topdown);
	uint64_t want = ref_find_free(&h->sh, len, low, high, topdown);
	const char *why = NULL;
	if (got != want || shadow_validate(&h->sh, &why)) {
		c->find_free_mismatch++;
		if (verbose)
			fprintf(stderr, "find_free(%llu pages, %s): shadow "
				"%#llx, brute force %#llx; validate: %s\n",
				(unsigned long long)(len / H_PAGE),
				topdown ? "top-down" : "bottom-up",
				(unsigned long long)got,
				(unsigned long long)want, why ? why : "ok");
	}
}

static void run_seed(uint64_t seed, uint64_t nops, uint64_t pages,
		     struct counts *c)
{
	static struct harness hs;
	struct harness *h = &hs;
	rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
	h_init(h, pages);
	h->sh.lazy_gaps = lazy_gaps;
	h->fast = fast_paths;
	h->sh.faults_unseen = unseen;
	if (unseen)
		h->pagemap_fd = kview_open_pagemap();
	files_open();
	signal(SIGSEGV, on_fault);
	signal(SIGBUS, on_fault);
	struct diff_item items[64];
	for (uint64_t i = 0; i < nops; i++) {
		uint64_t before = h->errno_mismatch;
		int op = (int)below(100);
		op = op < 30 ? OP_MMAP : op < 42 ? OP_MUNMAP : op < 58 ? OP_MPROTECT
		   : op < 72 ? OP_MREMAP : op < 80 ? OP_MADVISE
		   : op < 84 ? OP_MLOCK : OP_TOUCH;
		int64_t r = 0;
		switch (op) {
		case OP_MMAP: r = op_mmap(h); break;
		case OP_MUNMAP: r = op_munmap(h); break;
		case OP_MPROTECT: r = op_mprotect(h); break;
		case OP_MREMAP: r = op_mremap(h, c); break;
		case OP_MADVISE: r = op_madvise(h); break;
		case OP_MLOCK: r = op_mlock(h); break;
		case OP_TOUCH: r = op_touch(h, c); break;
		}
		c->ops++;
		if (below(4) == 0)
			check_find_free(h, c);
		if (verbose > 1)
			hist_add(h, op_name[op]);
		if (r < 0)
			c->failed_calls++;
		if (h->errno_mismatch != before) {
			c->errno_mismatch++;
			if (verbose)
				fprintf(stderr, "seed %llu op %llu: %s\n",
					(unsigned long long)seed,
					(unsigned long long)i, h->why);
		}
		struct diff_result res = { .items = items, .cap = 64 };
		int cmp = h_compare(h, &res);
		if (cmp == 1 && only_lazy_boundaries(&h->sh, &res)) {
			c->lazy_boundaries += res.count[DIFF_BOUNDARY];
			cmp = 0;
		}
		if (cmp) {
			if (cmp == 2)
				c->coverage_mismatch++;
			else {
				c->boundary_miss++;
				c->by_op_boundary[op]++;
			}
			if (verbose) {
				fprintf(stderr, "seed %llu op %llu after %s: %s\n"
					"  last call %s\n",
					(unsigned long long)seed,
					(unsigned long long)i, op_name[op],
					h->why, h->call);
				dump_window(h, items[0].start);
				if (verbose > 1)
					hist_dump();
			}
			h_adopt(h);
		}
	}
	c->fast_maps = h->fast_maps;
	c->fast_unmaps = h->fast_unmaps;
	c->fast_protects = h->fast_protects;
	c->fast_undos = h->fast_undos;
	c->fast_grows = h->fast_grows;
	c->fast_moves = h->fast_moves;
	c->fast_fixed = h->fast_fixed;
	h_fini(h);
}

static void usage(void)
{
	fprintf(stderr, "usage: fuzz_shadow --seeds A-B --ops N [--pages P] "
			"[--lazy-gaps] [--fast] [--unseen] [--require] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t s0 = 1, s1 = 20, nops = 10000, pages = 128;
	bool require = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			unsigned long long a, b;
			int k = sscanf(argv[++i], "%llu-%llu", &a, &b);
			if (k < 1)
				usage();
			s0 = a;
			s1 = k == 2 ? b : a;
		} else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
			nops = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--pages") && i + 1 < argc) {
			pages = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--lazy-gaps")) {
			lazy_gaps = true;
		} else if (!strcmp(argv[i], "--fast")) {
			fast_paths = true;
		} else if (!strcmp(argv[i], "--unseen")) {
			unseen = true;
		} else if (!strcmp(argv[i], "--require")) {
			require = true;
		} else if (!strcmp(argv[i], "-v")) {
			verbose = 1;
		} else if (!strcmp(argv[i], "-vv")) {
			verbose = 2;
		} else {
			usage();
		}
	}
	if (s1 < s0 || !nops || pages < 16 || pages > 480)
		usage();
	struct counts total = { 0 };
	for (uint64_t s = s0; s <= s1; s++) {
		int pfd[2];
		if (pipe(pfd))
			return 2;
		pid_t pid = fork();
		if (pid == 0) {
			close(pfd[0]);
			struct counts c = { 0 };
			run_seed(s, nops, pages, &c);
			if (write(pfd[1], &c, sizeof(c)) != sizeof(c))
				_exit(3);
			_exit(0);
		}
		close(pfd[1]);
		struct counts c = { 0 };
		ssize_t got = read(pfd[0], &c, sizeof(c));
		close(pfd[0]);
		int st;
		waitpid(pid, &st, 0);
		if (got != sizeof(c) || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "seed %llu: child died (status %#x)\n",
				(unsigned long long)s, st);
			total.coverage_mismatch++;
			continue;
		}
		printf("seed %llu: ops=%llu coverage_mismatch=%llu "
		       "errno_mismatch=%llu boundary_miss=%llu failed_calls=%llu\n",
		       (unsigned long long)s, (unsigned long long)c.ops,
		       (unsigned long long)c.coverage_mismatch,
		       (unsigned long long)c.errno_mismatch,
		       (unsigned long long)c.boundary_miss,
		       (unsigned long long)c.failed_calls);
		fflush(stdout);
		total.ops += c.ops;
		total.coverage_mismatch += c.coverage_mismatch;
		total.errno_mismatch += c.errno_mismatch;
		total.boundary_miss += c.boundary_miss;
		total.find_free_mismatch += c.find_free_mismatch;
		total.fast_maps += c.fast_maps;
		total.fast_unmaps += c.fast_unmaps;
		total.fast_protects += c.fast_protects;
		total.fast_undos += c.fast_undos;
		total.fast_grows += c.fast_grows;
		total.fast_moves += c.fast_moves;
		total.fast_fixed += c.fast_fixed;
		total.lazy_boundaries += c.lazy_boundaries;
		total.refines += c.refines;
		for (int k = 0; k < OP_N; k++)
			total.by_op_boundary[k] += c.by_op_boundary[k];
	}
	double exact = total.ops ? 100.0 * (double)(total.ops - total.boundary_miss) /
					   (double)total.ops
				 : 0;
	printf("boundary misses by call:");
	for (int k = 0; k < OP_N; k++)
		printf(" %s=%llu", op_name[k],
		       (unsigned long long)total.by_op_boundary[k]);
	printf("\nops=%llu coverage_mismatch=%llu errno_mismatch=%llu "
	       "find_free_mismatch=%llu boundary_exact=%.3f%%\n",
	       (unsigned long long)total.ops,
	       (unsigned long long)total.coverage_mismatch,
	       (unsigned long long)total.errno_mismatch,
	       (unsigned long long)total.find_free_mismatch, exact);
	if (fast_paths)
		printf("fast_maps=%llu fast_unmaps=%llu fast_protects=%llu "
		       "fast_undos=%llu fast_grows=%llu fast_moves=%llu "
		       "fast_fixed=%llu\n",
		       (unsigned long long)total.fast_maps,
		       (unsigned long long)total.fast_unmaps,
		       (unsigned long long)total.fast_protects,
		       (unsigned long long)total.fast_undos,
		       (unsigned long long)total.fast_grows,
		       (unsigned long long)total.fast_moves,
		       (unsigned long long)total.fast_fixed);
	if (unseen)
		printf("lazy_boundaries=%llu refines=%llu\n",
		       (unsigned long long)total.lazy_boundaries,
		       (unsigned long long)total.refines);
	/* Unseen faults leave no boundary to chance: every one the shadow
	 * lacks is in a VMA it marked, and it has none the kernel lacks. */
	if (require && unseen &&
	    (!total.lazy_boundaries || !total.refines || total.boundary_miss))
		return 1;
	if (require && (total.coverage_mismatch || total.errno_mismatch ||
			total.find_free_mismatch || exact < 99.5))
		return 1;
	if (require && fast_paths &&
	    (!total.fast_maps || !total.fast_unmaps || !total.fast_protects ||
	     !total.fast_undos || !total.fast_grows || !total.fast_moves ||
	     !total.fast_fixed))
		return 1;
	return 0;
}
