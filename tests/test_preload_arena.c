/*
 * test_preload_arena.c - unit tests for preload/arena.c (the tool's private
 * memory).
 *
 * Test cases: threads (random alloc/free of every size from 4 threads at
 * once, contents checked, every live block inside a listed mapping),
 * owns (tool memory against a malloc'd block and a stack address), large
 * (own mappings, gone after free), calloc, mappings (the table as
 * for_each_mapping reports it), shadow (vmc_shadow_allocator under a real
 * shadow), layout (a VMA node then its region node sit side by side),
 * fork (the lock after fork), asan (ASan builds: freed objects and the
 * slack after a block are poisoned), nomalloc (malloc interposed, not
 * under ASan: the arena, options and vmc_say never call it).
 *
 * Nothing depends on Check's fork isolation: every test leaves the arena
 * as it found it (live bytes back to the starting value).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "preload_internal.h"

#define PAGE 4096ul

/* ---- malloc interposition -------------------------------------------
 * Every call to malloc, calloc, realloc and free made while `mwindow` is
 * set is counted, from any thread.  Not under ASan: its runtime owns
 * these symbols. */
#if !defined(__SANITIZE_ADDRESS__)
#define TEST_INTERPOSE_MALLOC 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static atomic_int mwindow;
static atomic_long mcalls;

static inline void mcount(void)
{
	if (atomic_load_explicit(&mwindow, memory_order_relaxed))
		atomic_fetch_add(&mcalls, 1);
}

void *malloc(size_t n)
{
	mcount();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	mcount();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	mcount();
	return __libc_realloc(p, n);
}

void free(void *p)
{
	mcount();
	__libc_free(p);
}
#endif

/* ---- helpers --------------------------------------------------------- */

static uint64_t live_now(void)
{
	struct vmc_arena_stats st;
	vmc_arena_get_stats(&st);
	return st.live_bytes;
}

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Is [p, p+len) mapped?  mincore fails with ENOMEM over a hole. */
static bool range_mapped(const void *p, size_t len)
{
	static unsigned char vec[(1u << 20) / PAGE + 2];
	uintptr_t a = (uintptr_t)p & ~(PAGE - 1);
	size_t l = ((uintptr_t)p + len - a + PAGE - 1) & ~(PAGE - 1);
	ck_assert_uint_le(l / PAGE, sizeof(vec));
	if (mincore((void *)a, l, vec) == 0)
		return true;
	ck_assert_int_eq(errno, ENOMEM);
	return false;
}

/* Mappings as for_each_mapping lists them. */
struct maplist {
	uint64_t (*r)[2];
	size_t n, cap;
	bool alloc_in_fn;   /* allocate from the arena inside the callback */
};

static void collect(uint64_t start, uint64_t end, void *ctx)
{
	struct maplist *l = ctx;
	if (l->alloc_in_fn) {
		/* The arena's lock is not held here. */
		void *p = vmc_arena_alloc(16);
		vmc_arena_free(p, 16);
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->r = realloc(l->r, l->cap * sizeof(*l->r));
		ck_assert_ptr_nonnull(l->r);
	}
	l->r[l->n][0] = start;
	l->r[l->n][1] = end;
	l->n++;
}

/* Index of the listed mapping holding all of [p, p+len), or -1. */
static long maplist_find(const struct maplist *l, const void *p, size_t len)
{
	uint64_t a = (uintptr_t)p;
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->r[mid][1] > a)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo < l->n && l->r[lo][0] <= a && a + len <= l->r[lo][1])
		return (long)lo;
	return -1;
}

/* ---- threads: random alloc/free from 4 threads ----------------------- */

#define NTHREADS 4
#define SLOTS    512
#define OPS      150000

struct slot {
	unsigned char *p;
	size_t size;
	unsigned char tag;
};

struct worker {
	pthread_t t;
	int id;
	struct slot slots[SLOTS];
	/* Failures seen by the thread (Check cannot assert off the main
	 * thread); the first one is described. */
	long bad;
	char why[128];
};

static size_t random_size(uint64_t *rs)
{
	uint64_t r = xorshift(rs) % 1000;
	if (r < 900)
		return 1 + xorshift(rs) % 256;         /* small, every class */
	if (r < 990)
		return 257 + xorshift(rs) % (4096 * 2); /* one or a few pages */
	return 1 + xorshift(rs) % (64 * 1024);     /* up to 64 KiB */
}

static void worker_fail(struct worker *w, const char *why, const void *p,
			size_t size)
{
	if (!w->bad++)
		snprintf(w->why, sizeof(w->why), "thread %d: %s (%p, %zu)",
			 w->id, why, p, size);
}

/* The block holds its tag in every byte. */
static bool block_intact(const struct slot *s)
{
	for (size_t i = 0; i < s->size; i++)
		if (s->p[i] != s->tag)
			return false;
	return true;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
	unsigned serial = 0;

	for (int op = 0; op < OPS; op++) {
		struct slot *s = &w->slots[xorshift(&rs) % SLOTS];
		if (s->p) {
			if (!block_intact(s))
				worker_fail(w, "block overwritten", s->p,
					    s->size);
			vmc_arena_free(s->p, s->size);
			s->p = NULL;
			continue;
		}
		size_t size = random_size(&rs);
		unsigned char *p = vmc_arena_alloc(size);
		if (!p) {
			worker_fail(w, "allocation failed", p, size);
			continue;
		}
		uintptr_t align = size <= 256 ? 16 : PAGE;
		if ((uintptr_t)p % align)
			worker_fail(w, "misaligned", p, size);
		if (!vmc_arena_owns((uintptr_t)p, size))
			worker_fail(w, "owns() false", p, size);
		s->p = p;
		s->size = size;
		/* A tag per block: an overlap with any other live block
		 * changes some byte of one of them. */
		serial++;
		s->tag = (unsigned char)((w->id << 6) ^ serial ^ (serial >> 8));
		memset(p, s->tag, size);
	}
	return NULL;
}

START_TEST(test_threads_random)
{
	static struct worker w[NTHREADS];
	uint64_t live0 = live_now();

	for (int i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i;
		ck_assert_int_eq(pthread_create(&w[i].t, NULL, worker_run, &w[i]),
				 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(w[i].t, NULL);
		ck_assert_msg(w[i].bad == 0, "%ld failures, first: %s", w[i].bad,
			      w[i].why);
	}

	/* Every block left alive lies inside one listed mapping, and the
	 * blocks do not overlap (each still holds its tag). */
	struct maplist l = { 0 };
	vmc_arena_for_each_mapping(collect, &l);
	long live_blocks = 0;
	for (int i = 0; i < NTHREADS; i++)
		for (int k = 0; k < SLOTS; k++) {
			struct slot *s = &w[i].slots[k];
			if (!s->p)
				continue;
			live_blocks++;
			ck_assert_msg(maplist_find(&l, s->p, s->size) >= 0,
				      "block %p+%zu in no listed mapping",
				      (void *)s->p, s->size);
			ck_assert_msg(block_intact(s), "block %p+%zu overwritten",
				      (void *)s->p, s->size);
		}
	ck_assert_int_gt(live_blocks, NTHREADS * SLOTS / 4);
	free(l.r);

	for (int i = 0; i < NTHREADS; i++)
		for (int k = 0; k < SLOTS; k++) {
			struct slot *s = &w[i].slots[k];
			vmc_arena_free(s->p, s->size);
			s->p = NULL;
		}
	ck_assert_uint_eq(live_now(), live0);
}
END_TEST

/* ---- owns ------------------------------------------------------------ */

START_TEST(test_owns)
{
	int on_stack = 0;
	void *m = malloc(64);
	void *p = vmc_arena_alloc(32);
	void *q = vmc_arena_alloc(5000);

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert(vmc_arena_owns((uintptr_t)p, 32));
	ck_assert(vmc_arena_owns((uintptr_t)p + 31, 1));
	ck_assert(vmc_arena_owns((uintptr_t)q, 5000));
	ck_assert(vmc_arena_owns((uintptr_t)q + 8191, 1));
	/* A range that only reaches into arena memory. */
	ck_assert(vmc_arena_owns((uintptr_t)q - PAGE, PAGE + 1));
	/* No bytes, no ownership. */
	ck_assert(!vmc_arena_owns((uintptr_t)p, 0));
	ck_assert(!vmc_arena_owns((uintptr_t)m, 64));
	ck_assert(!vmc_arena_owns((uintptr_t)&on_stack, sizeof(on_stack)));
	ck_assert(!vmc_arena_owns((uintptr_t)&test_owns, 1));
	ck_assert(!vmc_arena_owns(0, 4096));
	/* A range wrapping past the top of the address space. */
	ck_assert(vmc_arena_owns((uintptr_t)p, UINT64_MAX));
	ck_assert(!vmc_arena_owns(UINT64_MAX - 10, 100));
	vmc_arena_free(p, 32);
	vmc_arena_free(q, 5000);
	free(m);
}
END_TEST

/* ---- large blocks ---------------------------------------------------- */

START_TEST(test_large)
{
	static const size_t sizes[] = { 257, 4095, 4096, 4097, 100000,
					1u << 20 };
	uint64_t live0 = live_now();

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], len = (n + PAGE - 1) & ~(PAGE - 1);
		struct vmc_arena_stats a, b, c;

		vmc_arena_get_stats(&a);
		unsigned char *p = vmc_arena_alloc(n);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % PAGE, 0);
		vmc_arena_get_stats(&b);
		ck_assert_uint_eq(b.nmappings, a.nmappings + 1);
		ck_assert_uint_eq(b.live_bytes, a.live_bytes + len);
		ck_assert_uint_eq(b.committed_bytes, a.committed_bytes + len);
		ck_assert_uint_eq(b.mapped_bytes, a.mapped_bytes + len);
		ck_assert_uint_ge(b.peak_live_bytes, b.live_bytes);
		memset(p, 0xa5, n);
		ck_assert(range_mapped(p, len));
		ck_assert(vmc_arena_owns((uintptr_t)p, n));

		vmc_arena_free(p, n);
		/* Unmapped: mincore and /proc agree that nothing is there. */
		ck_assert(!range_mapped(p, 1));
		ck_assert(!range_mapped(p + len - 1, 1));
		ck_assert(!vmc_arena_owns((uintptr_t)p, n));
		vmc_arena_get_stats(&c);
		ck_assert_uint_eq(c.nmappings, a.nmappings);
		ck_assert_uint_eq(c.live_bytes, a.live_bytes);
		ck_assert_uint_eq(c.mapped_bytes, a.mapped_bytes);
	}
	/* Absurd sizes fail cleanly. */
	ck_assert_ptr_null(vmc_arena_alloc(SIZE_MAX));
	ck_assert_ptr_null(vmc_arena_alloc(SIZE_MAX - PAGE));
	ck_assert_uint_eq(live_now(), live0);
}
END_TEST

/* Enough large blocks at once that the mapping table leaves its static
 * array for mappings of its own (which it lists too). */
START_TEST(test_many_large)
{
	enum { N = 300 };
	static void *p[N];
	struct maplist l = { 0 };
	uint64_t live0 = live_now();
	struct vmc_arena_stats st;

	for (int i = 0; i < N; i++) {
		p[i] = vmc_arena_alloc(300 + (size_t)i * 7);
		ck_assert_ptr_nonnull(p[i]);
		memset(p[i], i & 0xff, 300 + (size_t)i * 7);
	}
	vmc_arena_for_each_mapping(collect, &l);
	vmc_arena_get_stats(&st);
	ck_assert_uint_eq(l.n, st.nmappings);
	ck_assert_uint_gt(st.nmappings, N);
	for (int i = 0; i < N; i++)
		ck_assert_int_ge(maplist_find(&l, p[i], 300 + (size_t)i * 7),
				 0);
	free(l.r);
	/* Free in an order that is neither the order of allocation nor of
	 * address. */
	for (int i = 0; i < N; i++) {
		int k = (i * 7) % N;
		vmc_arena_free(p[k], 300 + (size_t)k * 7);
		ck_assert(!vmc_arena_owns((uintptr_t)p[k], 1));
	}
	ck_assert_uint_eq(live_now(), live0);
}
END_TEST

/* ---- calloc ---------------------------------------------------------- */

START_TEST(test_calloc)
{
	uint64_t live0 = live_now();

	/* A dirty object goes back on its free list; calloc of the same
	 * class returns zeroes whatever it reuses. */
	for (size_t n = 1; n <= 256; n += 15) {
		unsigned char *d = vmc_arena_alloc(n);
		ck_assert_ptr_nonnull(d);
		memset(d, 0xff, n);
		vmc_arena_free(d, n);
		unsigned char *z = vmc_arena_calloc(1, n);
		ck_assert_ptr_nonnull(z);
		for (size_t i = 0; i < n; i++)
			ck_assert_uint_eq(z[i], 0);
		vmc_arena_free(z, n);
	}
	unsigned char *z = vmc_arena_calloc(100, 1000);
	ck_assert_ptr_nonnull(z);
	for (size_t i = 0; i < 100000; i++)
		ck_assert_uint_eq(z[i], 0);
	vmc_arena_free(z, 100000);
	/* n * size overflows. */
	ck_assert_ptr_null(vmc_arena_calloc(SIZE_MAX / 2, 3));
	ck_assert_ptr_null(vmc_arena_calloc((size_t)1 << 33, (size_t)1 << 33));
	/* free(NULL) does nothing. */
	vmc_arena_free(NULL, 16);
	vmc_arena_free(NULL, 1000);
	ck_assert_uint_eq(live_now(), live0);
}
END_TEST

/* ---- the mapping table as listed ------------------------------------- */

START_TEST(test_mappings_listed)
{
	void *p = vmc_arena_alloc(64), *q = vmc_arena_alloc(70000);
	struct maplist l = { .alloc_in_fn = true };
	struct vmc_arena_stats st;
	uint64_t sum = 0;

	vmc_arena_for_each_mapping(collect, &l);
	vmc_arena_get_stats(&st);
	ck_assert_uint_eq(l.n, st.nmappings);
	ck_assert_uint_ge(l.n, 2);
	for (size_t i = 0; i < l.n; i++) {
		uint64_t s = l.r[i][0], e = l.r[i][1];
		ck_assert_uint_lt(s, e);
		ck_assert_uint_eq(s % PAGE, 0);
		ck_assert_uint_eq(e % PAGE, 0);
		if (i)
			ck_assert_uint_le(l.r[i - 1][1], s); /* sorted, apart */
		ck_assert(vmc_arena_owns(s, e - s));
		ck_assert(vmc_arena_owns(e - 1, 1));
		/* Just outside, where no other arena mapping follows or
		 * precedes: not owned ([start, end) is exclusive). */
		if (i + 1 == l.n || l.r[i + 1][0] != e)
			ck_assert(!vmc_arena_owns(e, PAGE));
		if (!i || l.r[i - 1][1] != s)
			ck_assert(!vmc_arena_owns(s - PAGE, PAGE));
		ck_assert(range_mapped((void *)(uintptr_t)s, 1));
		sum += e - s;
	}
	ck_assert_uint_eq(sum, st.mapped_bytes);
	ck_assert_uint_le(st.committed_bytes, st.mapped_bytes);
	ck_assert_uint_le(st.live_bytes, st.committed_bytes);
	ck_assert_uint_ge(st.peak_live_bytes, st.live_bytes);
	ck_assert_int_ge(maplist_find(&l, p, 64), 0);
	ck_assert_int_ge(maplist_find(&l, q, 70000), 0);
	/* A small block lives in a 2 MiB-aligned chunk. */
	long k = maplist_find(&l, p, 64);
	ck_assert_uint_eq(l.r[k][0] % (2u << 20), 0);
	free(l.r);
	vmc_arena_free(p, 64);
	vmc_arena_free(q, 70000);
}
END_TEST

/* ---- a shadow on the arena ------------------------------------------- */

/* The smaps entry of the mapping holding p: its AnonHugePages (kB) and
 * whether its VmFlags has flag ("hg", "nh"). */
static long smaps_of(const void *p, const char *flag, bool *has)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	ck_assert_ptr_nonnull(f);
	char line[512];
	bool in = false;
	long huge = -1;
	*has = false;
	while (fgets(line, sizeof line, f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			in = s <= (uintptr_t)p && (uintptr_t)p < e;
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, "AnonHugePages:", 14))
			huge = strtol(line + 14, NULL, 10);
		if (!strncmp(line, "VmFlags:", 8)) {
			for (char *t = strtok(line + 8, " \n"); t;
			     t = strtok(NULL, " \n"))
				*has |= !strcmp(t, flag);
			break;
		}
	}
	fclose(f);
	ck_assert_int_ge(huge, 0);
	return huge;
}

/* THP disabled system-wide: no huge page can be had, forced or not. */
static bool thp_never(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char buf[128] = "";
	if (f) {
		if (!fgets(buf, sizeof buf, f))
			buf[0] = 0;
		fclose(f);
	}
	return !f || strstr(buf, "[never]");
}

/* vmc_shadow_allocator.hot: a block of whole huge pages is aligned to
 * them and kept in small pages (VM_NOHUGEPAGE) until the shadow says it
 * is hot; then it is made of huge pages at once (MADV_COLLAPSE), what it
 * holds unchanged.  A block that is not whole huge pages is left as it
 * is. */
START_TEST(test_hot_block)
{
	const size_t huge = 2ul << 20;
	uint64_t live0 = live_now();
	unsigned char *p = vmc_arena_alloc(2 * huge);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % huge, 0);
	for (size_t i = 0; i < 2 * huge; i += 64 * PAGE)
		p[i] = (unsigned char)(i / PAGE + 1);
	bool hg, nh;
	ck_assert_int_eq(smaps_of(p, "nh", &nh), 0);
	ck_assert_msg(nh, "a block of whole huge pages starts VM_NOHUGEPAGE");
	vmc_shadow_allocator.hot(vmc_shadow_allocator.ctx, p, 2 * huge);
	long kb = smaps_of(p, "hg", &hg);
	ck_assert_msg(hg, "a hot block is VM_HUGEPAGE");
	smaps_of(p, "nh", &nh);
	ck_assert(!nh);
	/* Linux 6.1 and later collapse it at once (MADV_COLLAPSE), unless
	 * THP is off for the whole system. */
	if (!thp_never())
		ck_assert_int_eq(kb, 4096);
	size_t bad = 0; /* one assertion: Check logs each */
	while (bad < 2 * huge &&
	       p[bad] == (bad % (64 * PAGE) ? 0
					    : (unsigned char)(bad / PAGE + 1)))
		bad++;
	ck_assert_uint_eq(bad, 2 * huge);
	/* 3 MiB: not whole huge pages, nothing changes */
	unsigned char *q = vmc_arena_alloc(3 * huge / 2);
	ck_assert_ptr_nonnull(q);
	q[0] = 7;
	vmc_shadow_allocator.hot(vmc_shadow_allocator.ctx, q, 3 * huge / 2);
	smaps_of(q, "hg", &hg);
	ck_assert(!hg);
	smaps_of(q, "nh", &nh);
	ck_assert(!nh);
	ck_assert_uint_eq(q[0], 7);
	vmc_arena_free(q, 3 * huge / 2);
	vmc_arena_free(p, 2 * huge);
	ck_assert_uint_eq(live_now(), live0);
}
END_TEST

/* Where no huge page can be had (here: THP disabled for the process, as
 * PR_SET_THP_DISABLE does; an older kernel without MADV_COLLAPSE fails
 * the same way), a hot block stays in small pages and holds what it
 * held. */
START_TEST(test_hot_block_refused)
{
	const size_t huge = 2ul << 20;
	ck_assert_int_eq(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 0);
	unsigned char *p = vmc_arena_alloc(huge);
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < huge; i += PAGE)
		p[i] = (unsigned char)(i / PAGE + 1);
	vmc_shadow_allocator.hot(vmc_shadow_allocator.ctx, p, huge);
	bool hg;
	ck_assert_int_eq(smaps_of(p, "hg", &hg), 0);
	size_t bad = 0;
	while (bad < huge &&
	       p[bad] == (bad % PAGE ? 0 : (unsigned char)(bad / PAGE + 1)))
		bad++;
	ck_assert_uint_eq(bad, huge);
	vmc_arena_free(p, huge);
	ck_assert_int_eq(prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0), 0);
}
END_TEST

START_TEST(test_shadow_allocator)
{
	struct shadow sh;
	struct shadow_env env;
	const char *why = NULL;
	uint64_t live0 = live_now();
	uint64_t base = 0x100000000ull;

	shadow_env_default(&env);
	shadow_init(&sh, &vmc_shadow_allocator, &env);
	/* 64 one-page mappings, alternating prot so that none merge:
	 *   AbAbAb...  then mprotect splits and unmaps punch holes. */
	for (int i = 0; i < 64; i++) {
		struct shadow_map_args a = {
			.addr = base + (uint64_t)i * 2 * PAGE,
			.len = 2 * PAGE,
			.prot = i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
			.flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			.origin = SHADOW_ORIGIN_TRACKED,
			.call = SHADOW_CALL_MMAP,
		};
		ck_assert_int_eq(shadow_map(&sh, &a, NULL), (int64_t)a.addr);
	}
	ck_assert_uint_gt(live_now(), live0);
	for (int i = 0; i < 64; i += 4)
		ck_assert_int_eq(shadow_protect(&sh, base + (uint64_t)i * 2 *
						PAGE, PAGE, PROT_NONE, NULL), 0);
	for (int i = 1; i < 64; i += 8)
		ck_assert_int_eq(shadow_unmap(&sh, base + (uint64_t)i * 2 *
					      PAGE + PAGE, PAGE, NULL), 0);
	ck_assert_msg(shadow_validate(&sh, &why) == 0, "%s", why);
	ck_assert_uint_gt(sh.c.map_count, 64);
	/* Every node is arena memory. */
	for (struct shadow_vma *v = shadow_vma_first(&sh); v;
	     v = shadow_vma_next(v))
		ck_assert(vmc_arena_owns((uintptr_t)v, sizeof(*v)));
	shadow_destroy(&sh);
	ck_assert_uint_eq(live_now(), live0);
}
END_TEST

/* ---- layout: a VMA node then its region node ------------------------- */

START_TEST(test_side_by_side)
{
	/* Pairs are chained through their first word so that no other
	 * memory is needed; older free objects of both classes are used up
	 * first, then fresh pairs must come out of the bump pointer side by
	 * side, each node on a cache line of its own start (what a lookup
	 * reads is a VMA's first 64 bytes, a region's whole line), the
	 * region in the line after its VMA's:
	 * [vma 96][pad 32][region 64][vma 96][pad 32][region 64]... */
	enum { STREAK = 64 };
	void *chain = NULL;
	char *prev_r = NULL;
	int streak = 0;
	long pairs;

	ck_assert_uint_eq(sizeof(struct shadow_vma), 96);
	ck_assert_uint_eq(sizeof(struct shadow_region), 64);
	for (pairs = 0; pairs < 4000000 && streak < STREAK; pairs++) {
		char *v = vmc_arena_alloc(96);
		char *r = vmc_arena_alloc(64);
		ck_assert_ptr_nonnull(v);
		ck_assert_ptr_nonnull(r);
		*(void **)v = chain;
		*(void **)r = v;
		chain = r;
		if (r == v + 128 && !((uintptr_t)v & 63) &&
		    (!prev_r || v == prev_r + 64 || !streak))
			streak++;
		else
			streak = 0;
		prev_r = r;
	}
	ck_assert_int_eq(streak, STREAK);
	while (chain) {
		char *r = chain, *v = *(void **)r;
		chain = *(void **)v;
		vmc_arena_free(r, 64);
		vmc_arena_free(v, 96);
	}
}
END_TEST

/* ---- fork: the child resets the lock --------------------------------- */

static atomic_int churn_stop;

static void *churn(void *arg)
{
	(void)arg;
	while (!atomic_load(&churn_stop)) {
		void *p = vmc_arena_alloc(48);
		vmc_arena_free(p, 48);
	}
	return NULL;
}

START_TEST(test_fork_child)
{
	pthread_t t;

	atomic_store(&churn_stop, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, churn, NULL), 0);
	/* Some forks land while the other thread holds the lock; a child
	 * that did not reset it would spin until alarm() kills it. */
	for (int i = 0; i < 40; i++) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			alarm(5);
			vmc_arena_atfork_child();
			for (int k = 0; k < 100; k++) {
				char *p = vmc_arena_alloc(48);
				if (!p)
					_exit(2);
				memset(p, 1, 48);
				vmc_arena_free(p, 48);
			}
			_exit(0);
		}
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "child %d: status %#x", i, status);
	}
	atomic_store(&churn_stop, 1);
	pthread_join(t, NULL);
}
END_TEST

/* ---- ASan: freed objects and slack are poisoned ---------------------- */

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>

START_TEST(test_asan_poison)
{
	char *p = vmc_arena_alloc(40);           /* class 48 */
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(__asan_region_is_poisoned(p, 40));
	ck_assert(__asan_address_is_poisoned(p + 40));
	ck_assert(__asan_address_is_poisoned(p + 47));
	vmc_arena_free(p, 40);
	ck_assert(__asan_address_is_poisoned(p));
	ck_assert(__asan_address_is_poisoned(p + 8));
	char *q = vmc_arena_alloc(48);           /* most likely p again */
	ck_assert_ptr_null(__asan_region_is_poisoned(q, 48));
	vmc_arena_free(q, 48);

	char *l = vmc_arena_alloc(5000);
	ck_assert_ptr_null(__asan_region_is_poisoned(l, 5000));
	ck_assert(__asan_address_is_poisoned(l + 5000));
	vmc_arena_free(l, 5000);

	/* A double free ends the process (vmc_fatal: status 127). */
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		char *d = vmc_arena_alloc(32);
		vmc_arena_free(d, 32);
		vmc_arena_free(d, 32);
		_exit(0);
	}
	close(fds[1]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 127);
	char out[64] = { 0 };
	ck_assert_int_gt(read(fds[0], out, sizeof(out) - 1), 0);
	close(fds[0]);
	ck_assert_str_eq(out, "vmacheck: arena: double free\n");
}
END_TEST
#endif

/* ---- no malloc ------------------------------------------------------- */

#ifdef TEST_INTERPOSE_MALLOC
static void count_maps(uint64_t start, uint64_t end, void *ctx)
{
	(void)start;
	(void)end;
	(*(long *)ctx)++;
}

START_TEST(test_no_malloc)
{
	static struct vmc_options o;
	static void *p[64];
	static const size_t sizes[] = { 0, 1, 16, 17, 48, 80, 255, 256, 257,
					4096, 70000, 1 << 20 };
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
	struct vmc_arena_stats st;
	struct shadow sh;
	struct shadow_env env;
	char err[256];
	char *envp[] = { "A=1", "VMACHECK_OPTIONS=check=call", NULL };
	long nmaps = 0;
	uint64_t live0 = live_now();
	int fds[2], saved_stderr;

	/* vmc_say's line goes to a pipe, not to the test's output. */
	ck_assert_int_eq(pipe(fds), 0);
	saved_stderr = dup(2);
	ck_assert_int_ge(saved_stderr, 0);
	shadow_env_default(&env);

	/* The interposed malloc counts: calls seen outside the window. */
	long before = atomic_load(&mcalls);
	atomic_store(&mwindow, 1);
	void *volatile probe = malloc(8); /* volatile: not elided */
	free(probe);
	atomic_store(&mwindow, 0);
	ck_assert_int_eq(atomic_load(&mcalls) - before, 2);

	atomic_store(&mcalls, 0);
	atomic_store(&mwindow, 1);
	for (int i = 0; i < NS; i++) {
		p[i] = vmc_arena_alloc(sizes[i]);
		p[NS + i] = vmc_arena_calloc(1, sizes[i]);
	}
	bool owned = vmc_arena_owns((uintptr_t)p[3], 1);
	vmc_arena_for_each_mapping(count_maps, &nmaps);
	vmc_arena_get_stats(&st);
	for (int i = 0; i < NS; i++) {
		vmc_arena_free(p[i], sizes[i]);
		vmc_arena_free(p[NS + i], sizes[i]);
	}
	shadow_init(&sh, &vmc_shadow_allocator, &env);
	for (int i = 0; i < 8; i++) {
		struct shadow_map_args a = {
			.addr = 0x200000000ull + (uint64_t)i * 3 * PAGE,
			.len = 2 * PAGE, .prot = PROT_READ,
			.flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			.origin = SHADOW_ORIGIN_TRACKED,
			.call = SHADOW_CALL_MMAP,
		};
		shadow_map(&sh, &a, NULL);
	}
	shadow_unmap(&sh, 0x200000000ull + PAGE, 6 * PAGE, NULL);
	shadow_destroy(&sh);
	vmc_options_default(&o);
	int good = vmc_options_parse("check=every:100 stack-depth=8,"
				     "out_dir=/tmp/x:uffd=touch", &o, err,
				     sizeof(err));
	int bad = vmc_options_parse("stack-depth=65", &o, err, sizeof(err));
	const char *ev = vmc_env_get(envp, "VMACHECK_OPTIONS");
	dup2(fds[1], 2);
	vmc_say("no malloc here");
	dup2(saved_stderr, 2);
	atomic_store(&mwindow, 0);

	ck_assert_int_eq(atomic_load(&mcalls), 0);
	close(saved_stderr);
	close(fds[1]);
	char line[64] = { 0 };
	ck_assert_int_gt(read(fds[0], line, sizeof(line) - 1), 0);
	close(fds[0]);
	ck_assert_str_eq(line, "vmacheck: no malloc here\n");
	ck_assert(owned);
	ck_assert_int_gt(nmaps, 0);
	ck_assert_uint_gt(st.live_bytes, live0);
	ck_assert_int_eq(good, 0);
	ck_assert_int_eq(bad, -EINVAL);
	ck_assert_str_eq(err, "bad option 'stack-depth=65': "
			      "not a number from 0 to 64");
	ck_assert_int_eq(o.check, VMC_CHECK_EVERY);
	ck_assert_uint_eq(o.check_every, 100);
	ck_assert_str_eq(ev, "check=call");
	ck_assert_uint_eq(live_now(), live0);
}
END_TEST
#endif

static Suite *arena_suite(void)
{
	Suite *s = suite_create("preload_arena");
	TCase *tc;

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_threads_random);
	suite_add_tcase(s, tc);

	tc = tcase_create("owns");
	tcase_add_test(tc, test_owns);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_add_test(tc, test_large);
	tcase_add_test(tc, test_many_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("calloc");
	tcase_add_test(tc, test_calloc);
	suite_add_tcase(s, tc);

	tc = tcase_create("mappings");
	tcase_add_test(tc, test_mappings_listed);
	suite_add_tcase(s, tc);

	tc = tcase_create("shadow");
	tcase_add_test(tc, test_shadow_allocator);
	tcase_add_test(tc, test_hot_block);
	tcase_add_test(tc, test_hot_block_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("layout");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_side_by_side);
	suite_add_tcase(s, tc);

	tc = tcase_create("fork");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fork_child);
	suite_add_tcase(s, tc);

#if defined(__SANITIZE_ADDRESS__)
	tc = tcase_create("asan");
	tcase_add_test(tc, test_asan_poison);
	suite_add_tcase(s, tc);
#endif

#ifdef TEST_INTERPOSE_MALLOC
	tc = tcase_create("nomalloc");
	tcase_add_test(tc, test_no_malloc);
	suite_add_tcase(s, tc);
#endif
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(arena_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
