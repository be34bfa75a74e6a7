/*
 * test_preload_stack - preload/stack.c: call stacks captured with
 * libunwind and interned, and the module map.
 *
 * Stacks are made by small noipa functions (no inlining, cloning or
 * folding, and a store after each call so that no call becomes a jump):
 *
 *     test -> fn_a -> fn_b -> fn_c -> vmc_stack_capture
 *
 * and by walk(level, bits), which recurses `level` times through walk_a
 * (bit set) or walk_b (bit clear), so that every bit pattern is a distinct
 * stack whose frames spell the pattern:
 *
 *     [walk] [walk_x bit L-1] [walk] ... [walk_x bit 0] [walk] caller...
 *
 * A frame is "in" function f when f is the nearest known function start
 * at or below it and it lies within a generous size bound of f (the test
 * binary has no symbol table that dladdr can read for static functions).
 *
 * The arena (preload/arena.c) is someone else's.  When it does not exist,
 * or with -DTEST_STANDIN_ARENA (and stack.c linked without arena.c), this
 * file brings a stand-in: one mmap, a header per block that checks every
 * free's size, and failure injection for the out-of-memory test, which is
 * skipped (with a message) against the real arena.  Check forks per test by default; with CK_FORK=no the tables
 * carry over from test to test, so every test counts ids by difference.
 */
#include <check.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libunwind.h>

#include "preload_internal.h"

#define FN_BOUND 2048 /* bytes: larger than any function below, even
		       * under ASan */

/* ---- arena stand-in -------------------------------------------------- */

#if defined(TEST_STANDIN_ARENA) || !__has_include("../preload/arena.c")
#undef TEST_STANDIN_ARENA
#define TEST_STANDIN_ARENA 1
#define SA_RESERVE (8ull << 30)
#define SA_LIVE 0x4c4956454c495645ull
#define SA_DEAD 0x4445414444454144ull

struct sa_hdr {
	uint64_t size, magic;
};

static struct {
	int lock;
	char *base, *next, *end;
	uint64_t live_bytes, allocs, bad_frees;
	size_t last_failed; /* size of the last injected failure */
	long fail_nth;   /* fail the Nth allocation from now; 0 = never */
	bool fail_all;
} sa;

static void sa_lock(void)
{
	while (__atomic_exchange_n(&sa.lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&sa.lock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static void sa_unlock(void)
{
	__atomic_store_n(&sa.lock, 0, __ATOMIC_RELEASE);
}

void *vmc_arena_alloc(size_t size)
{
	size_t total = sizeof(struct sa_hdr) + ((size + 15) & ~(size_t)15);
	struct sa_hdr *h = NULL;

	sa_lock();
	if (sa.fail_all || (sa.fail_nth && --sa.fail_nth == 0)) {
		sa.last_failed = size;
		goto out;
	}
	if (!sa.base) {
		void *p = mmap(NULL, SA_RESERVE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
		if (p == MAP_FAILED)
			goto out;
		sa.base = sa.next = p;
		sa.end = sa.base + SA_RESERVE;
	}
	if ((size_t)(sa.end - sa.next) < total)
		goto out;
	h = (struct sa_hdr *)sa.next;
	sa.next += total;
	h->size = size;
	h->magic = SA_LIVE;
	sa.live_bytes += size;
	sa.allocs++;
out:
	sa_unlock();
	return h ? h + 1 : NULL;
}

void vmc_arena_free(void *p, size_t size)
{
	struct sa_hdr *h;

	if (!p)
		return;
	h = (struct sa_hdr *)p - 1;
	sa_lock();
	if (h->magic != SA_LIVE || h->size != size) {
		sa.bad_frees++;
	} else {
		h->magic = SA_DEAD;
		sa.live_bytes -= size;
	}
	sa_unlock();
}

static uint64_t sa_bad_frees(void)
{
	return __atomic_load_n(&sa.bad_frees, __ATOMIC_RELAXED);
}
#else
static uint64_t sa_bad_frees(void)
{
	return 0;
}
#endif

/* ---- malloc counting (not under ASan or TSan, which own malloc) ------ */

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define TEST_COUNT_MALLOC 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static int malloc_counting;
static long malloc_calls;

static void malloc_note(void)
{
	if (__atomic_load_n(&malloc_counting, __ATOMIC_RELAXED))
		__atomic_fetch_add(&malloc_calls, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t n)
{
	malloc_note();
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	malloc_note();
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	malloc_note();
	return __libc_realloc(p, n);
}

void free(void *p)
{
	__libc_free(p);
}
#endif

/* ---- stack makers ---------------------------------------------------- */

static __thread volatile int sink; /* per thread: no race */
/* Loop bounds the compiler cannot see: an unrolled loop would have one
 * call line (so one stack) per copy. */
static volatile int two = 2, three = 3, four = 4;

#define NOIPA __attribute__((noipa))

NOIPA static uint32_t fn_c(int skip)
{
	uint32_t id = vmc_stack_capture(skip);
	sink++;
	return id;
}

NOIPA static uint32_t fn_b(int skip)
{
	uint32_t id = fn_c(skip);
	sink++;
	return id;
}

NOIPA static uint32_t fn_a(int skip)
{
	uint32_t id = fn_b(skip);
	sink++;
	return id;
}

NOIPA static uint32_t walk(int level, uint32_t bits);

NOIPA static uint32_t walk_a(int level, uint32_t bits)
{
	uint32_t r = walk(level, bits);
	sink++;
	return r;
}

NOIPA static uint32_t walk_b(int level, uint32_t bits)
{
	uint32_t r = walk(level, bits);
	sink += 2;
	return r;
}

NOIPA static uint32_t walk(int level, uint32_t bits)
{
	uint32_t r;

	if (level == 0)
		r = vmc_stack_capture(0);
	else if (bits & 1)
		r = walk_a(level - 1, bits >> 1);
	else
		r = walk_b(level - 1, bits >> 1);
	sink++;
	return r;
}

/* The same walk down to a hook-like function reached through one call
 * site (a pointer): hook_plain unwinds, hook_from goes through the
 * per-thread cache keyed by its return-address slot.  Both keep the frames
 * from the hook's caller outward, so the same walk gives the same id. */
static uint32_t (*volatile leaf_hook)(void);
static uintptr_t last_slot; /* the slot hook_from passed last */

NOIPA static uint32_t hook_plain(void)
{
	uint32_t id = vmc_stack_capture(1);
	sink++;
	return id;
}

NOIPA static uint32_t hook_from(void)
{
	last_slot = (uintptr_t)__builtin_frame_address(0) + sizeof(void *);
	uint32_t id = vmc_stack_capture_from(
		1, (uintptr_t)__builtin_return_address(0), last_slot);
	sink++;
	return id;
}

NOIPA static uint32_t hwalk(int level, uint32_t bits);

NOIPA static uint32_t hwalk_a(int level, uint32_t bits)
{
	uint32_t r = hwalk(level, bits);
	sink++;
	return r;
}

NOIPA static uint32_t hwalk_b(int level, uint32_t bits)
{
	uint32_t r = hwalk(level, bits);
	sink += 2;
	return r;
}

NOIPA static uint32_t hwalk(int level, uint32_t bits)
{
	uint32_t r;

	if (level == 0)
		r = leaf_hook();
	else if (bits & 1)
		r = hwalk_a(level - 1, bits >> 1);
	else
		r = hwalk_b(level - 1, bits >> 1);
	sink++;
	return r;
}

/* Three call sites of fn_a in one function: three distinct stacks. */
NOIPA static uint32_t site(int k)
{
	uint32_t id;

	switch (k) {
	case 0:
		id = fn_a(0);
		break;
	case 1:
		id = fn_a(0);
		sink += 3;
		break;
	default:
		id = fn_a(0);
		sink += 5;
		break;
	}
	sink++;
	return id;
}

enum fn_id { F_A, F_B, F_C, F_WALK, F_WALK_A, F_WALK_B, F_SITE, F_N };

static uintptr_t fn_addr(enum fn_id f)
{
	static const void *const addr[F_N] = {
		[F_A] = (const void *)fn_a,       [F_B] = (const void *)fn_b,
		[F_C] = (const void *)fn_c,       [F_WALK] = (const void *)walk,
		[F_WALK_A] = (const void *)walk_a, [F_WALK_B] = (const void *)walk_b,
		[F_SITE] = (const void *)site,
	};
	return (uintptr_t)addr[f];
}

/* Is ip inside function f (see the top of the file)? */
static bool ip_in(uintptr_t ip, enum fn_id f)
{
	uintptr_t start = fn_addr(f);
	int g;

	if (ip <= start || ip - start >= FN_BOUND)
		return false;
	for (g = 0; g < F_N; g++)
		if (fn_addr(g) > start && fn_addr(g) <= ip)
			return false;
	return true;
}

/* ---- helpers --------------------------------------------------------- */

static int get(uint32_t id, uintptr_t *ips)
{
	return vmc_stack_get(id, ips, 64);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Is ip inside a test function (START_TEST(t) defines t_fn)?  Those
 * are large: a looser bound. */
static bool ip_in_test(uintptr_t ip, void (*fn)(int))
{
	return ip > (uintptr_t)fn && ip - (uintptr_t)fn < 8 * FN_BOUND;
}

/* ---- stacks: shape --------------------------------------------------- */

START_TEST(test_nested_order)
{
	uintptr_t ips[64];
	uint32_t id;
	int n;

	ck_assert_int_eq(vmc_stack_init(16), 0);
	id = fn_a(0);
	ck_assert_uint_ne(id, 0);
	n = get(id, ips);
	ck_assert_int_ge(n, 4);
	ck_assert_msg(ip_in(ips[0], F_C), "frame 0 %#lx not in fn_c", ips[0]);
	ck_assert_msg(ip_in(ips[1], F_B), "frame 1 %#lx not in fn_b", ips[1]);
	ck_assert_msg(ip_in(ips[2], F_A), "frame 2 %#lx not in fn_a", ips[2]);
	/* Frame 3 is this test function. */
	ck_assert_msg(ip_in_test(ips[3], test_nested_order_fn),
		      "frame 3 %#lx not in the test", ips[3]);
	/* The whole stack is there (Check's runner, main, libc). */
	ck_assert_int_gt(n, 5);
}
END_TEST

START_TEST(test_skip)
{
	uintptr_t ips[64], full[64];
	uint32_t id0, id1, id2;
	int n0, n1, n2, i, here;

	ck_assert_int_eq(vmc_stack_init(64), 0);
	id0 = fn_a(0);
	id1 = fn_a(1);
	id2 = fn_a(2);
	n0 = get(id0, full);
	n1 = get(id1, ips);
	ck_assert_int_eq(n1, n0 - 1);
	ck_assert_msg(ip_in(ips[0], F_B), "skip 1: frame 0 %#lx", ips[0]);
	ck_assert_msg(ip_in(ips[1], F_A), "skip 1: frame 1 %#lx", ips[1]);
	/* Above fn_a the stacks are the same but for the call site in this
	 * function. */
	for (i = 4; i < n0; i++)
		ck_assert_uint_eq(full[i], ips[i - 1]);
	n2 = get(id2, ips);
	ck_assert_int_eq(n2, n0 - 2);
	ck_assert_msg(ip_in(ips[0], F_A), "skip 2: frame 0 %#lx", ips[0]);
	ck_assert_uint_ne(id0, id1);
	ck_assert_uint_ne(id1, id2);

	/* Skips out of range: no stack. */
	ck_assert_uint_eq(vmc_stack_capture(-1), 0);
	ck_assert_uint_eq(vmc_stack_capture(33), 0);
	/* Captured here, the stack has n0 - 3 frames: skipping all but one
	 * leaves this function's caller; skipping all leaves nothing. */
	here = n0 - 3;
	if (here <= 32) {
		id0 = vmc_stack_capture(here - 1);
		ck_assert_int_eq(get(id0, ips), 1);
		ck_assert_uint_eq(ips[0], full[n0 - 1]);
		ck_assert_uint_eq(vmc_stack_capture(here), 0);
	}
}
END_TEST

/* This thread's stack, as the runtime would give it. */
static void set_home_here(void)
{
	pthread_attr_t a;
	void *lo;
	size_t sz;

	ck_assert_int_eq(pthread_getattr_np(pthread_self(), &a), 0);
	ck_assert_int_eq(pthread_attr_getstack(&a, &lo, &sz), 0);
	pthread_attr_destroy(&a);
	vmc_stack_set_home((uintptr_t)lo, (uintptr_t)lo + sz);
}

/* A walk of HLEVEL levels is 1 + 2 * HLEVEL frames: the first 16 (the
 * default depth) are all the walk's, whatever calls it. */
#define HLEVEL 8
#define HWALKS (1u << HLEVEL)

START_TEST(test_cache_matches_unwind)
{
	uint32_t plain[HWALKS];
	uint64_t h0, f0, h1, f1, h2, f2, learns;
	uintptr_t slot0, a[64], b[64];
	uint32_t k, round;

	ck_assert_int_eq(vmc_stack_init(16), 0);
	set_home_here();
	leaf_hook = hook_plain;
	for (k = 0; k < HWALKS; k++) {
		plain[k] = hwalk(HLEVEL, k);
		ck_assert_uint_ne(plain[k], 0);
	}
	leaf_hook = hook_from;
	hwalk(HLEVEL, 0);
	slot0 = last_slot;
	hwalk(HLEVEL, HWALKS - 1);
	/* Every walk calls the hook from the same slot with the same return
	 * address: only the return addresses further out tell them apart. */
	ck_assert_msg(last_slot == slot0, "walks 0 and %u use slots %#lx and "
		      "%#lx: the check of outer frames is not exercised",
		      HWALKS - 1, slot0, last_slot);
	vmc_stack_cache_stats(&h0, &f0, &learns);
	for (round = 0; round < 3; round++)
		for (k = 0; k < HWALKS; k++) {
			uint32_t p = (k * 37 + round * 11) & (HWALKS - 1);
			ck_assert_msg(hwalk(HLEVEL, p) == plain[p],
				      "walk %u, round %u: not the unwound stack",
				      p, round);
		}
	for (k = 0; k < 10; k++)
		ck_assert_uint_eq(hwalk(HLEVEL, 5), plain[5]);
	vmc_stack_cache_stats(&h1, &f1, &learns);
#ifdef VMC_TEST_FRAME_POINTERS
	/* Every frame keeps a frame pointer (the sanitizer build): frames
	 * whose CFA is the frame pointer may vary in size, so no chain is
	 * cached and every one is unwound. */
	ck_assert_uint_eq(h1 - h0, 0);
	ck_assert_uint_eq(f1 - f0, 0);
	ck_assert_uint_gt(learns, 0);
#else
	ck_assert_uint_ge(h1 - h0, 9);       /* the same walk again: found */
	ck_assert_uint_ge(f1 - f0, HWALKS);  /* another walk: unwound */
#endif

	/* Off the home stack, nothing is read from the cache. */
	vmc_stack_set_home(0, 0);
	for (k = 0; k < HWALKS; k += 7)
		ck_assert_uint_eq(hwalk(HLEVEL, k), plain[k]);
	for (k = 0; k < 4; k++)
		ck_assert_uint_eq(hwalk(HLEVEL, 5), plain[5]);
	vmc_stack_cache_stats(&h2, &f2, &learns);
	ck_assert_uint_eq(h2, h1);
	ck_assert_uint_eq(f2, f1);

	/* Deeper than the cache holds (stack-depth 32): unwound, with the
	 * same frames as far as the walk goes. */
	set_home_here();
	ck_assert_int_eq(vmc_stack_init(32), 0);
	leaf_hook = hook_plain;
	ck_assert_int_ge(get(hwalk(HLEVEL, 9), a), 1 + 2 * HLEVEL);
	leaf_hook = hook_from;
	for (k = 0; k < 4; k++) {
		ck_assert_int_ge(get(hwalk(HLEVEL, 9), b), 1 + 2 * HLEVEL);
		ck_assert_mem_eq(a, b, (1 + 2 * HLEVEL) * sizeof(a[0]));
	}
	vmc_stack_cache_stats(&h2, &f2, &learns);
	ck_assert_uint_eq(h2, h1);
	ck_assert_uint_eq(f2, f1);
}
END_TEST

START_TEST(test_depth)
{
	uintptr_t ips[64];
	uint32_t id;
	int d, n;

	ck_assert_int_eq(vmc_stack_init(-1), -EINVAL);
	ck_assert_int_eq(vmc_stack_init(65), -EINVAL);

	ck_assert_int_eq(vmc_stack_init(0), 0);
	ck_assert_uint_eq(fn_a(0), 0);
	ck_assert_uint_eq(vmc_stack_capture(0), 0);

	for (d = 1; d <= 64; d++) {
		ck_assert_int_eq(vmc_stack_init(d), 0);
		id = walk(40, 0); /* all walk_b: no other test uses it */
		ck_assert_uint_ne(id, 0);
		n = get(id, ips);
		ck_assert_int_eq(n, d);
		ck_assert_msg(ip_in(ips[0], F_WALK), "depth %d frame 0", d);
		if (d >= 2)
			ck_assert(ip_in(ips[1], F_WALK_B));
	}
	/* Depth 3 of a->b->c is exactly c, b, a. */
	ck_assert_int_eq(vmc_stack_init(3), 0);
	id = fn_a(0);
	ck_assert_int_eq(get(id, ips), 3);
	ck_assert(ip_in(ips[0], F_C) && ip_in(ips[1], F_B) &&
		  ip_in(ips[2], F_A));
	/* Deeper than the stack: the whole stack, less than the depth. */
	ck_assert_int_eq(vmc_stack_init(64), 0);
	id = fn_a(0);
	n = get(id, ips);
	ck_assert_int_gt(n, 4);
	ck_assert_int_lt(n, 64);
	ck_assert_int_eq(vmc_stack_init(0), 0);
	ck_assert_uint_eq(fn_a(0), 0);
}
END_TEST

/* ---- stacks: interning ----------------------------------------------- */

START_TEST(test_same_and_different_sites)
{
	uint32_t first[3] = { 0 }, id;
	uint32_t before;
	int i, j, k;

	ck_assert_int_eq(vmc_stack_init(16), 0);
	before = vmc_stack_count();
	/* One call line: each site twice in a row (the per-thread cache),
	 * and the sites interleaved (the table). */
	for (i = 0; i < four; i++) {
		for (k = 0; k < three; k++) {
			for (j = 0; j < two; j++) {
				id = site(k);
				ck_assert_uint_ne(id, 0);
				if (!first[k])
					first[k] = id;
				ck_assert_uint_eq(id, first[k]);
			}
		}
	}
	ck_assert_uint_ne(first[0], first[1]);
	ck_assert_uint_ne(first[1], first[2]);
	ck_assert_uint_ne(first[0], first[2]);
	/* Ids are handed out in order, one per new stack. */
	ck_assert_uint_eq(vmc_stack_count(), before + 3);
	ck_assert_uint_eq(first[0], before + 1);
	ck_assert_uint_eq(first[1], before + 2);
	ck_assert_uint_eq(first[2], before + 3);

	/* Two textually different call sites of the same function: the
	 * frame of this function differs. */
	id = fn_a(0);
	ck_assert_uint_ne(id, fn_a(0));
	/* Cut to the frames below this function, they are one stack. */
	ck_assert_int_eq(vmc_stack_init(4), 0);
	id = site(0);
	ck_assert_uint_eq(id, site(0));
}
END_TEST

START_TEST(test_get)
{
	uintptr_t ips[64], small[2];
	uint32_t id, count;
	int n;

	ck_assert_int_eq(vmc_stack_init(16), 0);
	id = fn_a(0);
	n = get(id, ips);
	ck_assert_int_gt(n, 3);
	/* A short buffer gets the innermost frames. */
	ck_assert_int_eq(vmc_stack_get(id, small, 2), 2);
	ck_assert_uint_eq(small[0], ips[0]);
	ck_assert_uint_eq(small[1], ips[1]);
	ck_assert_int_eq(vmc_stack_get(id, small, 0), 0);
	/* No such id. */
	count = vmc_stack_count();
	ck_assert_uint_ge(count, id);
	ck_assert_int_eq(vmc_stack_get(0, ips, 64), 0);
	ck_assert_int_eq(vmc_stack_get(count + 1, ips, 64), 0);
	ck_assert_int_eq(vmc_stack_get(UINT32_MAX, ips, 64), 0);
}
END_TEST

/* 50,000 patterns of 16 bits (1..50000) through walk, depth 33 (the walk
 * frames alone, so the call line in this test does not count): every one
 * a new stack, ids in order, frames that spell the pattern, the same id
 * when captured again from another line. */
#define MANY 50000
#define MANY_LEVELS 16

static uint32_t many_ids[MANY];

START_TEST(test_many)
{
	uintptr_t ips[64];
	uint32_t base, p;
	int n, k;

	ck_assert_int_eq(vmc_stack_init(2 * MANY_LEVELS + 1), 0);
	base = vmc_stack_count();
	for (p = 0; p < MANY; p++)
		many_ids[p] = walk(MANY_LEVELS, p + 1);
	ck_assert_uint_eq(vmc_stack_count(), base + MANY);
	for (p = 0; p < MANY; p++) {
		ck_assert_uint_eq(many_ids[p], base + 1 + p);
		n = get(many_ids[p], ips);
		ck_assert_int_eq(n, 2 * MANY_LEVELS + 1);
		for (k = 0; k <= MANY_LEVELS; k++)
			ck_assert_msg(ip_in(ips[2 * k], F_WALK),
				      "pattern %u frame %d", p, 2 * k);
		for (k = 0; k < MANY_LEVELS; k++) {
			int bit = ((p + 1) >> (MANY_LEVELS - 1 - k)) & 1;
			ck_assert_msg(ip_in(ips[2 * k + 1],
					    bit ? F_WALK_A : F_WALK_B),
				      "pattern %u frame %d", p, 2 * k + 1);
		}
	}
	/* Again, in reverse: the same ids, nothing new. */
	for (p = MANY; p-- > 0;)
		ck_assert_uint_eq(walk(MANY_LEVELS, p + 1), many_ids[p]);
	ck_assert_uint_eq(vmc_stack_count(), base + MANY);
	ck_assert_uint_eq(sa_bad_frees(), 0);
}
END_TEST

/* ---- stacks: threads ------------------------------------------------- */

#define NTHREADS 8
#define NPATTERNS 1000
#define ROUNDS 4

struct thr {
	pthread_t t;
	int index;
	uint32_t site_id[3];
	uint32_t pattern_id[NPATTERNS];
	int errors;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	int r, i, k;

	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < NPATTERNS; i++) {
			/* Every thread walks all patterns, each from its
			 * own starting point: the same new stacks are
			 * inserted by several threads at once. */
			int p = (i + t->index * (NPATTERNS / NTHREADS)) %
				NPATTERNS;
			uint32_t id = walk(10, (uint32_t)p);

			if (!id || (t->pattern_id[p] && t->pattern_id[p] != id))
				t->errors++;
			t->pattern_id[p] = id;
			k = (i + r) % 3;
			id = site(k);
			if (!id || (t->site_id[k] && t->site_id[k] != id))
				t->errors++;
			t->site_id[k] = id;
		}
	}
	return NULL;
}

static struct thr thrs[NTHREADS];

START_TEST(test_threads)
{
	uintptr_t ips[64];
	uint32_t before;
	int i, k, p;

	ck_assert_int_eq(vmc_stack_init(24), 0);
	before = vmc_stack_count();
	memset(thrs, 0, sizeof(thrs));
	for (i = 0; i < NTHREADS; i++) {
		thrs[i].index = i;
		ck_assert_int_eq(pthread_create(&thrs[i].t, NULL, thr_main,
						&thrs[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(thrs[i].t, NULL);
	for (i = 0; i < NTHREADS; i++) {
		ck_assert_int_eq(thrs[i].errors, 0);
		/* Every thread runs the same code from start_thread down:
		 * the same stacks, so the same ids. */
		for (k = 0; k < 3; k++)
			ck_assert_uint_eq(thrs[i].site_id[k], thrs[0].site_id[k]);
		for (p = 0; p < NPATTERNS; p++)
			ck_assert_uint_eq(thrs[i].pattern_id[p],
					  thrs[0].pattern_id[p]);
	}
	/* Exactly one new id per distinct stack, all different. */
	ck_assert_uint_eq(vmc_stack_count(), before + NPATTERNS + 3);
	for (p = 0; p < NPATTERNS; p++) {
		ck_assert_uint_gt(thrs[0].pattern_id[p], before);
		ck_assert_int_eq(get(thrs[0].pattern_id[p], ips), 24);
		ck_assert(ip_in(ips[0], F_WALK));
	}
	for (k = 0; k < 3; k++)
		ck_assert_uint_gt(thrs[0].site_id[k], before);
	ck_assert_uint_eq(sa_bad_frees(), 0);
}
END_TEST

/* fork() while another thread keeps inserting new stacks, with the
 * prepare/parent/child protocol of the runtime's atfork handlers: the child
 * captures and refreshes.  A stack made before the fork has the same id
 * in the child. */
static int fork_stop;

static void *fork_inserter(void *arg)
{
	uint32_t p = 1u << 20;

	(void)arg;
	while (!__atomic_load_n(&fork_stop, __ATOMIC_RELAXED))
		walk(14, p++);
	return NULL;
}

START_TEST(test_fork_child)
{
	pthread_t t;
	uint32_t id;
	pid_t pid;
	int status, i;

	ck_assert_int_eq(vmc_stack_init(4), 0);
	ck_assert_int_eq(vmc_modules_refresh(), 0);
	id = site(0); /* fn_c fn_b fn_a site: the same from any caller */
	ck_assert_uint_ne(id, 0);
	ck_assert_int_eq(vmc_stack_init(16), 0);
	fork_stop = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, fork_inserter, NULL), 0);
	for (i = 0; i < 50; i++) {
		/* The protocol the runtime's pthread_atfork handlers follow:
		 * no thread inside libunwind or the tables across the fork. */
		vmc_stack_atfork_prepare_unwind();
		vmc_stack_atfork_prepare();
		pid = fork();
		if (pid != 0) {
			vmc_stack_atfork_parent();
			vmc_stack_atfork_parent_unwind();
		}
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			uint32_t before;

			vmc_stack_atfork_child();
			before = vmc_stack_count();
			if (fn_a(0) != before + 1) /* a new stack */
				_exit(3);
			if (vmc_stack_init(4) != 0 || site(0) != id)
				_exit(4);
			_exit(vmc_modules_refresh() == 0 &&
				      vmc_module_for((uintptr_t)fn_a) ? 0 : 5);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status));
		ck_assert_int_eq(WEXITSTATUS(status), 0);
	}
	__atomic_store_n(&fork_stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
}
END_TEST

/* ---- stacks: memory -------------------------------------------------- */

START_TEST(test_no_malloc)
{
#ifdef TEST_COUNT_MALLOC
	uint32_t p;
	long calls;

	ck_assert_int_eq(vmc_stack_init(32), 0);
	/* Warm libunwind and the module map up first: libunwind may
	 * allocate on its first use (accepted, documented). */
	walk(4, 0);
	ck_assert_int_eq(vmc_modules_refresh(), 0);
	__atomic_store_n(&malloc_calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&malloc_counting, 1, __ATOMIC_RELAXED);
	for (p = 0; p < 3000; p++)
		walk(12, p);           /* new stacks: table growth */
	for (p = 0; p < 100; p++)
		walk(12, p);           /* known stacks */
	vmc_modules_refresh();
	vmc_module_for((uintptr_t)fn_a);
	__atomic_store_n(&malloc_counting, 0, __ATOMIC_RELAXED);
	calls = __atomic_load_n(&malloc_calls, __ATOMIC_RELAXED);
	ck_assert_msg(calls == 0, "%ld malloc calls during capture/refresh",
		      calls);
#else
	printf("test_no_malloc: SKIPPED under a sanitizer (it owns malloc)\n");
#endif
}
END_TEST

START_TEST(test_oom)
{
#ifdef TEST_STANDIN_ARENA
#define OOM_PATTERNS 24000
	static uint32_t oom_ids[OOM_PATTERNS];
	uint32_t before, p, id, pair[2];
	int i, j, failures = 0, before_mods, armed = 0;
	uint64_t allocs_at_failure = 0;
	size_t failed_size[64];
	uintptr_t ips[64];

	/* Depth 31: the walk(15) frames alone, no call line of this test;
	 * the patterns are distinct and never 0 (test_depth's). */
	ck_assert_int_eq(vmc_stack_init(31), 0);
	before = vmc_stack_count();
	/* While new stacks arrive, make the next arena allocation fail;
	 * once one has failed, arm again when the arena has since allocated
	 * (the failed allocation was retried): each growth of the id table,
	 * each entry block and each growth of uthash's buckets fails once.
	 * A failed capture returns 0 and burns no id. */
	for (p = 0; p < OOM_PATTERNS; p++) {
		if (!armed && failures < 64 &&
		    __atomic_load_n(&sa.allocs, __ATOMIC_RELAXED) >
			    allocs_at_failure) {
			sa_lock();
			sa.fail_nth = 1;
			sa.last_failed = 0;
			sa_unlock();
			armed = 1;
		}
		oom_ids[p] = walk(15, p + 1);
		if (!oom_ids[p]) {
			allocs_at_failure = sa.allocs;
			failed_size[failures] = sa.last_failed;
			failures++;
			armed = 0;
		}
	}
	sa_lock();
	sa.fail_nth = 0;
	sa_unlock();
	printf("test_oom: %d of %d captures failed under injection; failed "
	       "allocation sizes:", failures, OOM_PATTERNS);
	for (i = 0; i < failures; i++)
		printf(" %zu", failed_size[i]);
	printf("\n");
	ck_assert_int_ge(failures, 10);
	/* Everything that failed works now; everything that worked keeps
	 * its id; one id per distinct stack. */
	for (p = 0; p < OOM_PATTERNS; p++) {
		id = walk(15, p + 1);
		ck_assert_uint_ne(id, 0);
		if (oom_ids[p])
			ck_assert_uint_eq(id, oom_ids[p]);
		ck_assert_uint_gt(id, before);
		ck_assert_int_eq(get(id, ips), 31);
	}
	ck_assert_uint_eq(vmc_stack_count(), before + OOM_PATTERNS);

	/* A refresh that cannot allocate keeps the old map. */
	ck_assert_int_eq(vmc_modules_refresh(), 0);
	before_mods = vmc_module_count();
	unsigned gen = vmc_modules_gen();
	sa_lock();
	sa.fail_all = true;
	sa_unlock();
	ck_assert_int_eq(vmc_modules_refresh(), -ENOMEM);
	ck_assert_uint_eq(vmc_modules_gen(), gen); /* the same map */
	/* A new stack with every allocation failing: 0, unless none was
	 * needed; then the same call line again without failures. */
	for (j = 0; j < two; j++) {
		pair[j] = fn_a(0);
		sa_lock();
		sa.fail_all = false;
		sa_unlock();
	}
	ck_assert_uint_ne(pair[1], 0);
	ck_assert(pair[0] == 0 || pair[0] == pair[1]);
	ck_assert_int_eq(vmc_module_count(), before_mods);
	ck_assert_ptr_nonnull(vmc_module_for((uintptr_t)fn_a));
	ck_assert_uint_eq(sa_bad_frees(), 0);
#else
	printf("test_oom: SKIPPED, the real arena is linked (no failure "
	       "injection); build with -DTEST_STANDIN_ARENA to run it\n");
#endif
}
END_TEST

/* ---- stacks: speed (printed, not asserted) --------------------------- */

/* mode 0: nothing (the recursion's own cost), 1: unw_backtrace of 17
 * frames, 2: capture at depth 16 (17 frames unwound), 3: the same from a
 * second call line. */
NOIPA static uint32_t speed_rec(int level, int mode)
{
	void *buf[17];
	uint32_t r = 0;

	if (level)
		r = speed_rec(level - 1, mode);
	else if (mode == 1)
		r = (uint32_t)unw_backtrace(buf, 17);
	else if (mode == 2)
		r = vmc_stack_capture(0);
	else if (mode == 3)
		r = vmc_stack_capture(0) + 1;
	sink++;
	return r;
}

/* ns per call of speed_rec(20, mode); modes 2 and 3 alternate when
 * `alternate`. */
NOIPA static double time_mode(int mode, bool alternate, int iters)
{
	uint64_t t0 = now_ns();
	int i;

	for (i = 0; i < iters; i++)
		speed_rec(20, alternate && (i & 1) ? 3 : mode);
	return (double)(now_ns() - t0) / iters;
}

START_TEST(test_speed)
{
	const int iters = 300000;
	double base, raw, same, alt;
	uintptr_t ips[64];

	ck_assert_int_eq(vmc_stack_init(16), 0);
	ck_assert_int_eq(get(speed_rec(20, 2), ips), 16);
	time_mode(2, true, 1000); /* warm up */
	base = time_mode(0, false, iters);
	raw = time_mode(1, false, iters);
	same = time_mode(2, false, iters);
	alt = time_mode(2, true, iters);
	printf("stack capture, 16 frames: %.0f ns same site (thread cache), "
	       "%.0f ns two sites alternating (table lookup); "
	       "unw_backtrace of 17 frames alone %.0f ns "
	       "(a 21-deep recursion's own %.0f ns subtracted)\n",
	       same - base, alt - base, raw - base, base);

	/* The slot cache: a walk found again, and walks that each miss it
	 * (one slot, a new chain every time: unwound with their slots). */
	uint64_t t0, t1, t2, t3;
	int k;
	set_home_here();
	leaf_hook = hook_plain;
	t0 = now_ns();
	for (k = 0; k < iters / 10; k++)
		hwalk(HLEVEL, 5);
	t1 = now_ns();
	leaf_hook = hook_from;
	for (k = 0; k < iters / 10; k++)
		hwalk(HLEVEL, 5);
	t2 = now_ns();
	for (k = 0; k < iters / 100; k++)
		hwalk(HLEVEL, (uint32_t)k & (HWALKS - 1));
	t3 = now_ns();
	printf("stack capture through the slot cache: %.0f ns found "
	       "(%.0f ns unwound), %.0f ns missed and filled\n",
	       (double)(t2 - t1) / (iters / 10),
	       (double)(t1 - t0) / (iters / 10),
	       (double)(t3 - t2) / (iters / 100));
}
END_TEST

/* ---- modules --------------------------------------------------------- */

/* The GNU build-id of an ELF file, read from the file (program headers,
 * PT_NOTE), for comparison with what the module map found in memory. */
static int file_build_id(const char *path, uint8_t *out, size_t max)
{
	ElfW(Ehdr) eh;
	ElfW(Phdr) ph;
	int fd, i, len = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh))
		goto out;
	for (i = 0; i < eh.e_phnum && len < 0; i++) {
		char note[4096];
		size_t off = 0, align, sz;

		if (pread(fd, &ph, sizeof(ph), eh.e_phoff + i * eh.e_phentsize) !=
		    sizeof(ph))
			goto out;
		if (ph.p_type != PT_NOTE)
			continue;
		sz = ph.p_filesz < sizeof(note) ? ph.p_filesz : sizeof(note);
		if (pread(fd, note, sz, ph.p_offset) != (ssize_t)sz)
			goto out;
		align = ph.p_align == 8 ? 8 : 4;
		while (off + sizeof(ElfW(Nhdr)) <= sz) {
			ElfW(Nhdr) nh;
			size_t name_off = off + sizeof(nh), desc_off;

			memcpy(&nh, note + off, sizeof(nh));
			desc_off = name_off + ((nh.n_namesz + align - 1) & ~(align - 1));
			if (desc_off + nh.n_descsz > sz)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    memcmp(note + name_off, "GNU", 4) == 0) {
				len = nh.n_descsz < max ? (int)nh.n_descsz : (int)max;
				memcpy(out, note + desc_off, len);
				break;
			}
			off = desc_off + ((nh.n_descsz + align - 1) & ~(align - 1));
		}
	}
out:
	close(fd);
	return len;
}

static void check_build_id(const struct vmc_module *m)
{
	uint8_t want[VMC_BUILD_ID_MAX];
	int len;

	ck_assert_int_gt(m->build_id_len, 0);
	len = file_build_id(m->path, want, sizeof(want));
	ck_assert_msg(len == m->build_id_len, "%s: build-id length %d vs %d",
		      m->path, m->build_id_len, len);
	ck_assert_msg(memcmp(want, m->build_id, len) == 0, "%s: build-id",
		      m->path);
}

static const struct vmc_module *module_named(const char *sub)
{
	int i, n = vmc_module_count();

	for (i = 0; i < n; i++) {
		const struct vmc_module *m = vmc_module_at(i);
		if (m && strstr(m->path, sub))
			return m;
	}
	return NULL;
}

START_TEST(test_modules_map)
{
	const struct vmc_module *m, *prev = NULL;
	int i, n;

	ck_assert_int_eq(vmc_modules_refresh(), 0);
	n = vmc_module_count();
	ck_assert_int_ge(n, 4); /* exe, vdso, libunwind, libc, ld.so... */
	for (i = 0; i < n; i++) {
		m = vmc_module_at(i);
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_lt(m->start, m->end);
		ck_assert_uint_ge(m->start, m->base);
		if (prev)
			ck_assert_msg(prev->end <= m->start,
				      "%s overlaps %s", prev->path, m->path);
		ck_assert_ptr_eq(vmc_module_for(m->start), m);
		ck_assert_ptr_eq(vmc_module_for(m->end - 1), m);
		if (!prev || prev->end < m->start)
			ck_assert_ptr_null(vmc_module_for(m->start - 1));
		prev = m;
	}
	ck_assert_ptr_null(vmc_module_at(n));
	ck_assert_ptr_null(vmc_module_at(-1));
	ck_assert_ptr_null(vmc_module_for(0));
	ck_assert_ptr_null(vmc_module_for((uintptr_t)&n)); /* the stack */
	/* A refresh with nothing changed returns the same records. */
	m = vmc_module_at(0);
	ck_assert_int_eq(vmc_modules_refresh(), 0);
	ck_assert_int_eq(vmc_module_count(), n);
	ck_assert_ptr_eq(vmc_module_at(0), m);
}
END_TEST

START_TEST(test_modules_known)
{
	char exe[PATH_MAX];
	const struct vmc_module *m;
	Dl_info info;
	void *libc, *sym;
	ssize_t len;

	ck_assert_int_eq(vmc_modules_refresh(), 0);

	/* The test program: the path is /proc/self/exe. */
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(len, 0);
	exe[len] = '\0';
	m = vmc_module_for((uintptr_t)fn_a);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->path, exe);
	ck_assert_ptr_eq(vmc_module_for((uintptr_t)walk), m);
	check_build_id(m);

	/* libc, by a function's address. */
	libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	ck_assert_ptr_nonnull(libc);
	sym = dlsym(libc, "getpid");
	ck_assert_ptr_nonnull(sym);
	ck_assert(dladdr(sym, &info));
	m = vmc_module_for((uintptr_t)sym);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->path, info.dli_fname);
	ck_assert_ptr_nonnull(strstr(m->path, "libc.so.6"));
	ck_assert_uint_eq(m->start, (uintptr_t)info.dli_fbase);
	ck_assert_ptr_eq(module_named("libc.so.6"), m);
	check_build_id(m);
	dlclose(libc);

	/* libunwind. */
	sym = dlsym(RTLD_DEFAULT, "unw_backtrace");
	ck_assert_ptr_nonnull(sym);
	m = vmc_module_for((uintptr_t)sym);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(strstr(m->path, "libunwind"));
	check_build_id(m);
}
END_TEST

START_TEST(test_modules_dlopen)
{
	const struct vmc_module *m, *again;
	void *h, *sym;
	int n;
	unsigned gen;

	h = dlopen("libz.so.1", RTLD_NOW | RTLD_NOLOAD);
	if (h) {
		dlclose(h);
		printf("test_modules_dlopen: SKIPPED, libz.so.1 is already "
		       "loaded in this process\n");
		return;
	}
	ck_assert_int_eq(vmc_modules_refresh(), 0);
	n = vmc_module_count();
	gen = vmc_modules_gen();
	ck_assert_ptr_null(module_named("libz.so"));
	h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("test_modules_dlopen: SKIPPED, libz.so.1 cannot be "
		       "loaded: %s\n", dlerror());
		return;
	}
	sym = dlsym(h, "zlibVersion");
	ck_assert_ptr_nonnull(sym);
	/* Not in the map until refreshed. */
	ck_assert_ptr_null(vmc_module_for((uintptr_t)sym));
	ck_assert_int_eq(vmc_modules_refresh(), 0);
	ck_assert_int_eq(vmc_module_count(), n + 1);
	/* What was worked out from the old map (findings.c, stack_module)
	 * is stale now. */
	ck_assert_uint_ne(vmc_modules_gen(), gen);
	gen = vmc_modules_gen();
	m = vmc_module_for((uintptr_t)sym);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(strstr(m->path, "libz.so.1"));
	ck_assert_ptr_eq(module_named("libz.so"), m);
	check_build_id(m);

	dlclose(h);
	h = dlopen("libz.so.1", RTLD_NOW | RTLD_NOLOAD);
	if (h) {
		dlclose(h);
		printf("test_modules_dlopen: dlclose did not unload "
		       "libz.so.1; SKIPPED the removal check\n");
		return;
	}
	ck_assert_int_eq(vmc_modules_refresh(), 0);
	ck_assert_int_eq(vmc_module_count(), n);
	ck_assert_uint_ne(vmc_modules_gen(), gen);
	ck_assert_ptr_null(module_named("libz.so"));
	again = vmc_module_for((uintptr_t)sym);
	ck_assert(again != m);
	/* The record itself lives on. */
	ck_assert_ptr_nonnull(strstr(m->path, "libz.so.1"));
}
END_TEST

/* Readers look modules up while another thread refreshes. */
struct mod_reader {
	pthread_t t;
	uintptr_t libc_ip;
	const char *exe;
	int stop;
	long lookups, errors;
};

static void *mod_reader_main(void *arg)
{
	struct mod_reader *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		const struct vmc_module *m = vmc_module_for(r->libc_ip);
		if (!m || !strstr(m->path, "libc.so.6"))
			r->errors++;
		m = vmc_module_for((uintptr_t)fn_a);
		if (!m || strcmp(m->path, r->exe) != 0)
			r->errors++;
		m = vmc_module_at(vmc_module_count() - 1);
		if (!m || m->start >= m->end)
			r->errors++;
		__atomic_fetch_add(&r->lookups, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

START_TEST(test_modules_threads)
{
	static struct mod_reader rd[3];
	char exe[PATH_MAX];
	uintptr_t libc_ip;
	void *libc;
	ssize_t len;
	int i;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(len, 0);
	exe[len] = '\0';
	ck_assert_int_eq(vmc_modules_refresh(), 0);
	libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	ck_assert_ptr_nonnull(libc);
	libc_ip = (uintptr_t)dlsym(libc, "getpid");
	dlclose(libc);
	for (i = 0; i < 3; i++) {
		rd[i] = (struct mod_reader){ .exe = exe, .libc_ip = libc_ip };
		ck_assert_int_eq(pthread_create(&rd[i].t, NULL,
						mod_reader_main, &rd[i]), 0);
	}
	/* At least 300 refreshes, and until every reader has looked up
	 * many times during them. */
	for (i = 0;; i++) {
		ck_assert_int_eq(vmc_modules_refresh(), 0);
		if (i >= 300 &&
		    __atomic_load_n(&rd[0].lookups, __ATOMIC_RELAXED) > 1000 &&
		    __atomic_load_n(&rd[1].lookups, __ATOMIC_RELAXED) > 1000 &&
		    __atomic_load_n(&rd[2].lookups, __ATOMIC_RELAXED) > 1000)
			break;
	}
	for (i = 0; i < 3; i++) {
		__atomic_store_n(&rd[i].stop, 1, __ATOMIC_RELAXED);
		pthread_join(rd[i].t, NULL);
		ck_assert_int_eq(rd[i].errors, 0);
		ck_assert_int_gt(rd[i].lookups, 0);
	}
	ck_assert_uint_eq(sa_bad_frees(), 0);
}
END_TEST

static Suite *stack_suite(void)
{
	Suite *s = suite_create("preload_stack");
	TCase *tc;

	tc = tcase_create("capture");
	tcase_add_test(tc, test_nested_order);
	tcase_add_test(tc, test_skip);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_cache_matches_unwind);
	suite_add_tcase(s, tc);

	tc = tcase_create("intern");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_same_and_different_sites);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_many);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_fork_child);
	tcase_add_test(tc, test_no_malloc);
	tcase_add_test(tc, test_oom);
	tcase_add_test(tc, test_speed);
	suite_add_tcase(s, tc);

	tc = tcase_create("modules");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_modules_map);
	tcase_add_test(tc, test_modules_known);
	tcase_add_test(tc, test_modules_dlopen);
	tcase_add_test(tc, test_modules_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stack_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
