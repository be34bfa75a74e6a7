/*
 * bench_shadow.c - how fast and how big the shadow is, and what a check
 * costs next to reading the kernel's view.  Prints figures and asserts
 * nothing (STYLE.md 11): exit 0 unless setting up fails.
 *
 * Part 1, shadow operations (no system calls): a shadow of N VMAs (1k, 64k,
 * 1M) laid out as
 *
 *     0x10000000: AAA.BBB.AAA.BBB. ...    A = PROT_READ, B = PROT_READ|WRITE,
 *                                         '.' = one free page (a free slot)
 *
 * three-page anonymous private VMAs that cannot merge (prot alternates and
 * a free page separates them).  Each measured operation is paired with one
 * that undoes it (timed when it is an operation of its own, else done
 * untimed), so the shadow holds N VMAs and N regions throughout.  Operations
 * run in batches of BATCH at random VMAs (fixed-seed xorshift; no two in a
 * batch equal or adjacent); one clock_gettime(CLOCK_MONOTONIC) pair brackets
 * each batch, and the figure is elapsed time / operations, nothing
 * subtracted.  Nodes come from tests/testutil.h's test_slab, the shape of
 * the preload's arena (one slab per node size, transparent huge pages, no
 * per-object header), whose live byte count gives the bytes per VMA.
 *
 * Part 2, kernel scan: this process gets K real VMAs (one PROT_NONE mapping
 * with every other page made PROT_READ), the whole view is read with
 * kview_read_text (64 KiB iobuf) and kview_read_query, and shadow_diff of a
 * matching shadow against it is timed, all in ns per VMA of the view.  The
 * diff walks every node, so it is timed with the nodes packed in address
 * order and scattered in random order (see struct arena).
 *
 * Every figure is printed with cpu%: this process's CPU time over the wall
 * time of the loop that produced it.  Well below 100% means other programs
 * held the cores and the figure is inflated by that much.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "diff.h"
#include "kview.h"
#include "shadow.h"
#include "testutil.h"

#define PG        4096ull
#define BASE      0x10000000ull     /* first VMA of the synthetic space */
#define VLEN      (3 * PG)          /* each VMA: three pages ... */
#define STRIDE    (4 * PG)          /* ... and one free page after it */
#define SCRATCH   0x100000000000ull /* free area for moved VMAs */
#define MOVE_STEP (8 * PG)          /* a moved VMA (5 pages) per slot */
#define BATCH     16
#define GOAL_NS   1000.0
#define GOAL_BYTES 128.0
#define DIFF_GOAL_PCT 20.0

static uint64_t iters = 200000;

/* ---- little helpers --------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of this (single-threaded) process: with wall time, it tells how
 * much of a figure is time spent waiting for a core other programs held. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double pct_of(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t xorshift64(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static const char *verdict(double v, double goal, bool at_most)
{
	return (at_most ? v <= goal : v < goal) ? "PASS" : "MISS";
}

static void print_machine(void)
{
	struct utsname u;
	if (uname(&u) == 0)
		printf("kernel: %s %s %s %s\n", u.sysname, u.release, u.version,
		       u.machine);
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "model name", 10)) {
				char *p = strchr(line, ':');
				printf("cpu:   %s", p ? p + 2 : line);
				break;
			}
		}
		fclose(f);
	}
	printf("cores: %ld online\n", sysconf(_SC_NPROCESSORS_ONLN));
	f = fopen("/sys/devices/system/clocksource/clocksource0/"
		  "current_clocksource", "r");
	char cs[64] = "?";
	if (f) {
		if (fgets(cs, sizeof(cs), f))
			cs[strcspn(cs, "\n")] = 0;
		fclose(f);
	}
	volatile uint64_t sink = 0;
	uint64_t t0 = now_ns();
	for (int i = 0; i < 1000000; i++)
		sink += now_ns();
	uint64_t t1 = now_ns();
	(void)sink;
	printf("clock: CLOCK_MONOTONIC via %s, %.1f ns per clock_gettime "
	       "(not subtracted; 2 calls per batch of %d ops)\n", cs,
	       (double)(t1 - t0) / 1e6, BATCH);
}

/* ---- part 1: the synthetic shadow ------------------------------------- */

/* test_alloc, plus the live bytes held in VMA nodes (told apart from
 * region nodes by size). */
struct bench_alloc {
	struct test_slab s;       /* s.t counts the live bytes */
	size_t vma_bytes;
};

static void *bench_alloc_fn(void *ctx, size_t size)
{
	struct bench_alloc *b = ctx;
	void *p = test_slab_alloc(&b->s, size);
	if (p && size == sizeof(struct shadow_vma))
		b->vma_bytes += size;
	return p;
}

static void bench_free_fn(void *ctx, void *p, size_t size)
{
	struct bench_alloc *b = ctx;
	if (p && size == sizeof(struct shadow_vma))
		b->vma_bytes -= size;
	test_slab_free(&b->s, p, size);
}

struct bench {
	struct shadow sh;
	struct bench_alloc al;
	struct shadow_change rec;
	uint64_t n;               /* VMAs in the layout */
};

static inline uint64_t vstart(uint64_t i)
{
	return BASE + i * STRIDE;
}

static inline int vprot(uint64_t i)
{
	return (i & 1) ? PROT_READ | PROT_WRITE : PROT_READ;
}

static inline uint64_t move_dest(uint64_t i)
{
	return SCRATCH + i * MOVE_STEP;
}

static int64_t map_at(struct bench *b, uint64_t addr, uint64_t len, int prot,
		      bool fixed, uint64_t result)
{
	struct shadow_map_args a = {
		.addr = fixed ? addr : 0,
		.len = len,
		.prot = prot,
		.flags = MAP_PRIVATE | MAP_ANONYMOUS | (fixed ? MAP_FIXED : 0),
		.result = result,
		.stack_id = 1,
		.origin = SHADOW_ORIGIN_TRACKED,
		.call = SHADOW_CALL_MMAP,
	};
	return shadow_map(&b->sh, &a, &b->rec);
}

static int64_t remap(struct bench *b, uint64_t addr, uint64_t old_len,
		     uint64_t new_len, int flags, uint64_t result)
{
	struct shadow_remap_args a = {
		.old_addr = addr, .old_len = old_len, .new_len = new_len,
		.flags = flags, .result = result, .stack_id = 1,
	};
	return shadow_remap(&b->sh, &a, &b->rec);
}

/* Each op returns true when the shadow answered what the kernel would. */
typedef bool (*op_fn)(struct bench *b, uint64_t i);

static bool op_map_fixed(struct bench *b, uint64_t i)
{
	uint64_t a = vstart(i) + VLEN;
	return map_at(b, a, PG, PROT_NONE, true, 0) == (int64_t)a;
}

static bool op_map_result(struct bench *b, uint64_t i)
{
	uint64_t a = vstart(i) + VLEN;
	return map_at(b, 0, PG, PROT_NONE, false, a) == (int64_t)a;
}

static bool op_unmap_slot(struct bench *b, uint64_t i)
{
	return shadow_unmap(&b->sh, vstart(i) + VLEN, PG, &b->rec) == 0;
}

static bool op_unmap_hole(struct bench *b, uint64_t i)
{
	return shadow_unmap(&b->sh, vstart(i) + PG, PG, &b->rec) == 0;
}

/* Put VMA i back as it was built (after a hole or a move). */
static bool op_rebuild(struct bench *b, uint64_t i)
{
	return shadow_unmap(&b->sh, vstart(i), STRIDE, &b->rec) == 0 &&
	       map_at(b, vstart(i), VLEN, vprot(i), true, 0) ==
		       (int64_t)vstart(i);
}

static bool op_protect_split(struct bench *b, uint64_t i)
{
	return shadow_protect(&b->sh, vstart(i) + PG, PG, PROT_NONE,
			      &b->rec) == 0 &&
	       b->rec.vmas_split == 2;
}

static bool op_protect_merge(struct bench *b, uint64_t i)
{
	return shadow_protect(&b->sh, vstart(i) + PG, PG, vprot(i),
			      &b->rec) == 0 &&
	       b->rec.vmas_merged == 2;
}

static bool op_remap_shrink(struct bench *b, uint64_t i)
{
	return remap(b, vstart(i), VLEN, VLEN - PG, 0, 0) ==
	       (int64_t)vstart(i);
}

static bool op_remap_expand(struct bench *b, uint64_t i)
{
	return remap(b, vstart(i), VLEN - PG, VLEN, 0, 0) ==
	       (int64_t)vstart(i);
}

/* Grow 3 -> 5 pages: the next VMA is in the way, so it moves. */
static bool op_remap_move(struct bench *b, uint64_t i)
{
	return remap(b, vstart(i), VLEN, VLEN + 2 * PG, MREMAP_MAYMOVE,
		     move_dest(i)) == (int64_t)move_dest(i);
}

static bool op_unmove(struct bench *b, uint64_t i)
{
	return shadow_unmap(&b->sh, move_dest(i), VLEN + 2 * PG, &b->rec) ==
		       0 &&
	       map_at(b, vstart(i), VLEN, vprot(i), true, 0) ==
		       (int64_t)vstart(i);
}

/* An operation and what undoes it; b_name NULL: the undo is not timed. */
struct pair {
	const char *a_name, *b_name;
	op_fn a, b;
};

static const struct pair pairs[] = {
	{ "map FIXED into a free slot", "unmap a whole VMA",
	  op_map_fixed, op_unmap_slot },
	{ "map non-FIXED, result given", NULL, op_map_result, op_unmap_slot },
	{ "unmap a hole (splits)", NULL, op_unmap_hole, op_rebuild },
	{ "protect middle (split)", "protect back (merge)",
	  op_protect_split, op_protect_merge },
	{ "remap shrink", "remap expand in place",
	  op_remap_shrink, op_remap_expand },
	{ "remap move (MAYMOVE, result given)", NULL,
	  op_remap_move, op_unmove },
};

struct stat_row {
	const char *name;
	double ns;
	double cpu_pct;   /* CPU time / wall time over the row's whole loop */
	uint64_t bad;     /* answers that were not what the kernel gives */
	bool info;        /* printed without a verdict */
};

static void print_row(uint64_t n, const struct stat_row *r)
{
	printf("%8" PRIu64 "  %-36s %8.0f  %4.0f%%  %s", n, r->name, r->ns,
	       r->cpu_pct,
	       r->info ? "info" : verdict(r->ns, GOAL_NS, false));
	if (r->bad)
		printf("  (%" PRIu64 " unexpected results)", r->bad);
	printf("\n");
}

/* Draw BATCH VMA indices in [0, n - 1), no two equal or adjacent: an op on
 * VMA i may use the free page after i, and a move of VMA i needs VMA i + 1
 * in its way (so never the last VMA, which has free space after it and
 * would grow in place instead). */
static void pick(uint64_t n, uint64_t *idx)
{
	for (int j = 0; j < BATCH; j++) {
		bool near;
		do {
			idx[j] = xorshift64() % (n - 1);
			near = false;
			for (int k = 0; k < j; k++)
				near |= idx[k] + 1 >= idx[j] &&
					idx[j] + 1 >= idx[k];
		} while (near);
	}
}

static bool shadow_size_ok(const struct bench *b)
{
	return b->sh.c.map_count == b->n && b->sh.c.nregions == b->n;
}

static void run_pair(struct bench *b, const struct pair *p, uint64_t n)
{
	uint64_t idx[BATCH], ta = 0, tb = 0, ops = 0, bad_a = 0, bad_b = 0;
	bool ra[BATCH], rb[BATCH];
	uint64_t w0 = now_ns(), c0 = cpu_ns();

	for (ops = 0; ops < iters; ops += BATCH) {
		pick(n, idx);
		uint64_t t0 = now_ns();
		for (int j = 0; j < BATCH; j++)
			ra[j] = p->a(b, idx[j]);
		uint64_t t1 = now_ns();
		for (int j = 0; j < BATCH; j++)
			rb[j] = p->b(b, idx[j]);
		uint64_t t2 = now_ns();
		ta += t1 - t0;
		tb += t2 - t1;
		for (int j = 0; j < BATCH; j++) {
			bad_a += !ra[j];
			bad_b += !rb[j];
		}
	}
	double cpu = pct_of(cpu_ns() - c0, now_ns() - w0);
	struct stat_row r = { p->a_name, (double)ta / (double)ops, cpu, bad_a,
			      false };
	print_row(n, &r);
	if (p->b_name) {
		r = (struct stat_row){ p->b_name, (double)tb / (double)ops,
				       cpu, bad_b, false };
		print_row(n, &r);
	} else if (bad_b) {
		printf("%8" PRIu64 "  (untimed undo of the above: %" PRIu64
		       " unexpected results)\n", n, bad_b);
	}
	if (!shadow_size_ok(b))
		printf("%8" PRIu64 "  WARNING: after '%s' the shadow holds %"
		       PRIu64 " VMAs, %" PRIu64 " regions (want %" PRIu64 ")\n",
		       n, p->a_name, b->sh.c.map_count, b->sh.c.nregions, n);
}

static void run_lookup(struct bench *b, uint64_t n)
{
	uint64_t span = n * STRIDE, hits = 0;
	uint64_t c0 = cpu_ns(), t0 = now_ns();
	for (uint64_t k = 0; k < iters; k++) {
		struct shadow_vma *v =
			shadow_find(&b->sh, BASE + xorshift64() % span);
		hits += v != NULL;
	}
	uint64_t t1 = now_ns();
	struct stat_row r = { "lookup (shadow_find, random addr)",
			      (double)(t1 - t0) / (double)iters,
			      pct_of(cpu_ns() - c0, t1 - t0), 0, false };
	/* 3 of every 4 pages are mapped. */
	if (hits < iters / 2 || hits == iters)
		r.bad = 1;
	print_row(n, &r);
}

struct mem_row {
	uint64_t n;
	double sizeof_vma, vma_nodes, all_nodes, libc;
};

static int bench_shadow_size(uint64_t n, struct mem_row *mem)
{
	struct bench *b = calloc(1, sizeof(*b));
	if (!b)
		return -1;
	if (test_slab_init(&b->al.s, 2 * n + 1024)) {
		free(b);
		return -1;
	}
	struct shadow_allocator a = { .alloc = bench_alloc_fn,
				      .free = bench_free_fn, .ctx = &b->al };
	struct shadow_env env;
	shadow_env_default(&env);
	/* Room for 1M VMAs: the layout ends far below mmap_base, and the
	 * map-count limit must not refuse the splits. */
	env.max_map_count = UINT32_MAX / 2;
	shadow_init(&b->sh, &a, &env);
	b->n = n;

	struct mallinfo2 m0 = mallinfo2();
	uint64_t bad = 0, c0 = cpu_ns(), t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		bad += map_at(b, vstart(i), VLEN, vprot(i), true, 0) !=
		       (int64_t)vstart(i);
	uint64_t t1 = now_ns();
	struct mallinfo2 m1 = mallinfo2();
	if (bad || !shadow_size_ok(b)) {
		fprintf(stderr, "setup: building %" PRIu64 " VMAs failed (%"
			PRIu64 " bad maps, %" PRIu64 " VMAs, %" PRIu64
			" regions)\n", n, bad, b->sh.c.map_count,
			b->sh.c.nregions);
		shadow_destroy(&b->sh);
		test_slab_fini(&b->al.s);
		free(b);
		return -1;
	}
	struct stat_row r = { "build: map FIXED, ascending",
			      (double)(t1 - t0) / (double)n,
			      pct_of(cpu_ns() - c0, t1 - t0), 0, true };
	print_row(n, &r);

	mem->n = n;
	mem->sizeof_vma = sizeof(struct shadow_vma);
	mem->vma_nodes = (double)b->al.vma_bytes / (double)n;
	mem->all_nodes = (double)b->al.s.t.live_bytes / (double)n;
	(void)m0;
	(void)m1;
	size_t carved = (size_t)(b->al.s.c[0].bump -
				 (char *)(((uintptr_t)b->al.s.c[0].mem +
					   (2u << 20) - 1) &
					  ~((uintptr_t)(2u << 20) - 1)));
	mem->libc = (double)carved / (double)n;

	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++)
		run_pair(b, &pairs[k], n);
	run_lookup(b, n);

	const char *why = NULL;
	uint64_t t2 = now_ns();
	int v = shadow_validate(&b->sh, &why);
	uint64_t t3 = now_ns();
	if (v)
		printf("%8" PRIu64 "  WARNING: shadow_validate: %s\n", n, why);
	else
		printf("%8" PRIu64 "  (shadow_validate afterwards: ok, %.0f ms)\n",
		       n, (double)(t3 - t2) / 1e6);
	shadow_destroy(&b->sh);
	if (b->al.s.t.live_bytes)
		printf("%8" PRIu64 "  WARNING: %zu bytes still allocated after "
		       "shadow_destroy\n", n, b->al.s.t.live_bytes);
	test_slab_fini(&b->al.s);
	free(b);
	return 0;
}

static void print_mem(const struct mem_row *m, size_t nm)
{
	printf("\n(one region per VMA here; sizeof(struct shadow_region) = %zu)\n"
	       "%8s  %-42s %9s  goal (<= %.0f)\n", sizeof(struct shadow_region),
	       "vmas", "memory", "bytes/VMA", GOAL_BYTES);
	for (size_t k = 0; k < nm; k++) {
		printf("%8" PRIu64 "  %-42s %9.1f  %s\n", m[k].n,
		       "sizeof(struct shadow_vma)", m[k].sizeof_vma,
		       verdict(m[k].sizeof_vma, GOAL_BYTES, true));
		printf("%8" PRIu64 "  %-42s %9.1f  %s\n", m[k].n,
		       "allocator live bytes: VMA tree / VMAs", m[k].vma_nodes,
		       verdict(m[k].vma_nodes, GOAL_BYTES, true));
		printf("%8" PRIu64 "  %-42s %9.1f  %s\n", m[k].n,
		       "allocator live bytes: + region tree / VMAs",
		       m[k].all_nodes,
		       verdict(m[k].all_nodes, GOAL_BYTES, true));
		printf("%8" PRIu64 "  %-42s %9.1f  info\n", m[k].n,
		       "slab bytes carved (no headers) / VMAs", m[k].libc);
	}
}

/* ---- part 2: the kernel's view of this process ------------------------ */

struct scan_ctx {
	struct kview_entry *ent;
	char *names, *iobuf;
	size_t cap, names_cap, iobuf_len;
	int fd;
	bool have_query;
};

/* The diff walks the whole tree, so its cost depends on where the nodes
 * lie.  The shadows of part 2 take their nodes from an arena with one pool
 * per node size, handed out either in address order ("packed", as a fresh
 * arena gives them) or in a fixed random order ("scattered", as an arena
 * gives them after a long run of maps and unmaps).  free does nothing; the
 * pools go away whole. */
struct pool {
	size_t size, nslots, next;
	uint32_t *order;          /* scattered: slot to hand out next */
	char *mem;
};

struct arena {
	struct pool p[2];
	bool scatter;
};

static void *arena_alloc(void *ctx, size_t size)
{
	struct arena *a = ctx;
	for (int k = 0; k < 2; k++) {
		struct pool *p = &a->p[k];
		if (p->size != size)
			continue;
		if (p->next == p->nslots)
			return NULL;
		size_t slot = a->scatter ? p->order[p->next] : p->next;
		p->next++;
		return p->mem + slot * size;
	}
	return NULL;
}

static void arena_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	(void)p;
	(void)size;
}

static void arena_fini(struct arena *a)
{
	for (int k = 0; k < 2; k++) {
		struct pool *p = &a->p[k];
		if (p->mem && p->mem != MAP_FAILED)
			munmap(p->mem, p->nslots * p->size);
		free(p->order);
		p->mem = NULL;
		p->order = NULL;
	}
}

static int arena_init(struct arena *a, size_t nslots, bool scatter)
{
	static const size_t sizes[2] = { sizeof(struct shadow_vma),
					 sizeof(struct shadow_region) };
	*a = (struct arena){ .scatter = scatter };
	for (int k = 0; k < 2; k++) {
		struct pool *p = &a->p[k];
		p->size = sizes[k];
		p->nslots = nslots;
		p->mem = mmap(NULL, nslots * p->size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		p->order = malloc(nslots * sizeof(*p->order));
		if (p->mem == MAP_FAILED || !p->order) {
			arena_fini(a);
			return -1;
		}
		for (size_t i = 0; i < nslots; i++)
			p->order[i] = (uint32_t)i;
		for (size_t i = nslots - 1; scatter && i > 0; i--) {
			size_t j = xorshift64() % (i + 1);
			uint32_t t = p->order[i];
			p->order[i] = p->order[j];
			p->order[j] = t;
		}
	}
	return 0;
}

/* A fresh shadow in arena a holding exactly kv's entries: each entry
 * absorbed, or all adopted by shadow_diff_adopt on the empty shadow. */
static int seed_shadow(struct shadow *sh, struct arena *a,
		       const struct kview *kv, bool by_adopt, double *ns)
{
	struct shadow_allocator al = { .alloc = arena_alloc,
				       .free = arena_free, .ctx = a };
	struct shadow_env env;
	shadow_env_default(&env);
	shadow_init(sh, &al, &env);
	uint64_t t0 = now_ns();
	int err = 0;
	if (by_adopt) {
		err = shadow_diff_adopt(sh, kv, 0, UINT64_MAX,
					SHADOW_ORIGIN_FOREIGN);
	} else {
		for (size_t k = 0; k < kv->n && !err; k++) {
			struct shadow_vma_desc d;
			diff_desc_from_entry(kv, &kv->v[k], &d);
			err = shadow_absorb(sh, &d, SHADOW_ORIGIN_BASELINE, 0);
		}
	}
	*ns = (double)(now_ns() - t0) / (double)(kv->n ? kv->n : 1);
	return err;
}

static int scan_once(struct scan_ctx *c, struct kview *kv, bool query)
{
	return query ? kview_read_query(kv, c->fd, 0, UINT64_MAX)
		     : kview_read_text(kv, c->fd, 0, UINT64_MAX, c->iobuf,
				       c->iobuf_len);
}

/* Repetitions that take a few hundred ms at ~1 us per VMA. */
static uint64_t reps_for(size_t n)
{
	uint64_t reps = 400000 / (n ? n : 1);
	return reps < 5 ? 5 : reps > 300 ? 300 : reps;
}

/* Seed a shadow from kv with nodes laid out one way, time shadow_diff of
 * it against kv, print one line. */
static void bench_diff(const struct kview *kv, bool by_adopt, bool scatter,
		       double scan_ns, const char *scan_cols)
{
	struct arena a;
	struct shadow sh;
	double seed_ns;
	if (arena_init(&a, 2 * kv->n + 1024, scatter)) {
		printf("%s  (no memory for the %s arena)\n", scan_cols,
		       scatter ? "scattered" : "packed");
		return;
	}
	int err = seed_shadow(&sh, &a, kv, by_adopt, &seed_ns);
	struct diff_result res = { 0 };
	int ndiff = shadow_diff(&sh, kv, 0, UINT64_MAX, &res); /* warm-up */
	uint64_t reps = 10 * reps_for(kv->n);
	uint64_t c0 = cpu_ns(), t0 = now_ns();
	for (uint64_t k = 0; k < reps; k++)
		ndiff = shadow_diff(&sh, kv, 0, UINT64_MAX, &res);
	uint64_t t1 = now_ns();
	double cpu = pct_of(cpu_ns() - c0, t1 - t0);
	double diff_ns = (double)(t1 - t0) / (double)reps / (double)kv->n;
	double pct = 100.0 * diff_ns / scan_ns;
	printf("%s | %-6s %-9s %8.1f %8.1f %4.0f%% %8.1f%%  %s", scan_cols,
	       by_adopt ? "adopt" : "absorb", scatter ? "scattered" : "packed",
	       seed_ns, diff_ns, cpu, pct, verdict(pct, DIFF_GOAL_PCT, true));
	if (err)
		printf("  (seeding failed: %s)", strerror(-err));
	if (ndiff || res.count[DIFF_BOUNDARY])
		printf("  (diff found %d differences and %u boundaries: the "
		       "shadow should match)", ndiff, res.count[DIFF_BOUNDARY]);
	printf("\n");
	shadow_destroy(&sh);
	arena_fini(&a);
}

/* Time one reader and shadow_diff against what it read. */
static void bench_reader(struct scan_ctx *c, uint64_t want, bool query)
{
	struct kview kv;
	kview_init(&kv, c->ent, c->cap, c->names, c->names_cap);
	int err = scan_once(c, &kv, query); /* warm-up */
	uint64_t reps = reps_for(kv.n);
	uint64_t c0 = cpu_ns(), t0 = now_ns();
	for (uint64_t k = 0; k < reps && !err; k++)
		err = scan_once(c, &kv, query);
	uint64_t t1 = now_ns();
	if (err || !kv.n) {
		printf("%8" PRIu64 "  %-6s read failed: %s\n", want,
		       query ? "query" : "text", strerror(-err));
		return;
	}
	double cpu = pct_of(cpu_ns() - c0, t1 - t0);
	double scan_ns = (double)(t1 - t0) / (double)reps / (double)kv.n;
	char cols[128];
	snprintf(cols, sizeof(cols), "%8zu  %-6s %8.1f %6u %4.0f%%", kv.n,
		 query ? "query" : "text", scan_ns, kv.reads, cpu);
	if (kv.truncated || kv.torn)
		printf("%s  (view %s)\n", cols,
		       kv.truncated ? "truncated" : "torn");
	/* The text view seeds by shadow_absorb, the query view by
	 * shadow_diff_adopt: both seeding paths get exercised. */
	bench_diff(&kv, query, false, scan_ns, cols);
	bench_diff(&kv, query, true, scan_ns, cols);
}

/* Give this process `want` more VMAs, time the readers and the diff, then
 * remove them.  Returns -1 when the VMAs could not be made. */
static int bench_kernel(struct scan_ctx *c, uint64_t want)
{
	size_t len = want * PG;
	char *p = mmap(NULL, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "setup: mmap of %zu bytes: %s\n", len,
			strerror(errno));
		return -1;
	}
	for (uint64_t pg = 1; pg < want; pg += 2) {
		if (mprotect(p + pg * PG, PG, PROT_READ)) {
			fprintf(stderr, "setup: mprotect page %" PRIu64
				" of %" PRIu64 ": %s\n", pg, want,
				strerror(errno));
			munmap(p, len);
			return -1;
		}
	}
	bench_reader(c, want, false);
	if (c->have_query)
		bench_reader(c, want, true);
	if (munmap(p, len)) {
		fprintf(stderr, "setup: munmap: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--iters") && k + 1 < argc) {
			iters = strtoull(argv[++k], NULL, 0);
			if (iters < BATCH)
				iters = BATCH;
		} else {
			fprintf(stderr, "usage: %s [--iters N]\n", argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t start = now_ns();
	printf("vmacheck shadow benchmark\n");
	print_machine();

	printf("\n== shadow operations: synthetic space, %" PRIu64
	       " ops per figure at random VMAs (xorshift, fixed seed) ==\n"
	       "layout: 3-page anonymous VMAs, prot alternating r--/rw-, "
	       "1 free page between, from 0x%llx\n"
	       "goal: every op under %.0f ns at 1M VMAs; at most %.0f bytes "
	       "per VMA\n"
	       "cpu%%: this process's CPU time / wall time over the figure's "
	       "loop (below 100%%: other programs held the cores)\n\n",
	       iters, BASE, GOAL_NS, GOAL_BYTES);
	printf("%8s  %-36s %8s  %5s  goal (< %.0f ns)\n", "vmas", "op",
	       "ns/op", "cpu%", GOAL_NS);
	static const uint64_t sizes[] = { 1024, 65536, 1048576 };
	struct mem_row mem[3];
	size_t nm = 0;
	for (size_t k = 0; k < 3; k++) {
		if (bench_shadow_size(sizes[k], &mem[nm]))
			return 1;
		nm++;
	}
	print_mem(mem, nm);

	long maxmap = test_max_map_count();
	printf("\n== kernel scan: real VMAs in this process (one PROT_NONE "
	       "mapping, every other page PROT_READ) ==\n"
	       "vm.max_map_count = %ld; scan and diff cover the whole space "
	       "(0, UINT64_MAX); diff = shadow_diff of a matching shadow\n"
	       "shadow nodes: packed = in address order (a fresh arena), "
	       "scattered = in a random order\n"
	       "  (the worst a long run of maps and unmaps can leave them in)\n"
	       "goal: diff adds <= %.0f%% on top of reading the kernel's view\n\n",
	       maxmap, DIFF_GOAL_PCT);
	printf("%8s  %-6s %8s %6s %5s | %-6s %-9s %8s %8s\n", "", "", "scan",
	       "", "", "seeded", "", "seed", "diff");
	printf("%8s  %-6s %8s %6s %5s | %-6s %-9s %8s %8s %5s %9s  goal "
	       "(<= %.0f%%)\n", "vmas", "reader", "ns/VMA", "reads", "cpu%",
	       "by", "nodes", "ns/VMA", "ns/VMA", "cpu%", "diff/scan",
	       DIFF_GOAL_PCT);

	struct scan_ctx c = { 0 };
	c.cap = (size_t)maxmap + 4096;
	c.names_cap = 1u << 20;
	c.iobuf_len = 64u << 10;
	c.ent = malloc(c.cap * sizeof(*c.ent));
	c.names = malloc(c.names_cap);
	c.iobuf = malloc(c.iobuf_len);
	if (!c.ent || !c.names || !c.iobuf) {
		fprintf(stderr, "setup: out of memory\n");
		return 1;
	}
	c.fd = kview_open_maps();
	if (c.fd < 0) {
		fprintf(stderr, "setup: open /proc/self/maps: %s\n",
			strerror(-c.fd));
		return 1;
	}
	c.have_query = kview_query_probe(c.fd) == 1;
	if (!c.have_query)
		printf("(PROCMAP_QUERY not supported by this kernel: text only)\n");
	static const uint64_t kwant[] = { 1000, 10000, 60000 };
	for (size_t k = 0; k < 3; k++) {
		uint64_t want = kwant[k];
		/* Leave room for this process's own VMAs under the limit. */
		if (want + 1000 > (uint64_t)maxmap) {
			printf("(%" PRIu64 " VMAs do not fit vm.max_map_count: "
			       "using %ld)\n", want, maxmap - 1000);
			want = (uint64_t)maxmap - 1000;
		}
		if (bench_kernel(&c, want))
			return 1;
	}
	kview_close(c.fd);
	free(c.ent);
	free(c.names);
	free(c.iobuf);
	printf("\ntotal run time %.1f s\n", (double)(now_ns() - start) / 1e9);
	return 0;
}
