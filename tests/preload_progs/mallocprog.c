/*
 * mallocprog.c - proves that the preload's hooks never call malloc and
 * keep errno exactly as the kernel leaves it, for tests/test_preload_run.c.
 *
 * The program defines malloc, calloc, realloc, free and the aligned
 * allocators (forwarding to glibc's __libc_* entry points), so every
 * allocation in the process, the preload's and libunwind's included,
 * comes here.  A thread-local flag is set only around the program's own
 * calls of mmap/munmap/mprotect/mremap/madvise/mlock... (which go through
 * libc's symbols into the preload's hooks); the program itself never
 * allocates inside that window, so any allocation counted there was made
 * by a hook.  Counts are kept for the very first call of the process, a
 * warm-up of a few calls, thousands of calls from many distinct call
 * stacks, and the same on a second thread (first call, then the rest).
 *
 * Then errno: a call that succeeds leaves errno as it was (set to 1234
 * before it); a call that fails sets the errno the kernel gives for the
 * same arguments through syscall(2), which no hook sees.
 *
 * A control first: strdup+free with the flag set must count 2 (libc's
 * calls reach this malloc).
 *
 * Also counted, not judged: every allocation made before main (the
 * preload initialises in its constructor, before main).
 *
 * Output, on stdout:
 *   before_main=N control=2 first=N warm=N rest=N thread_first=N
 *     thread_rest=N calls=N            (one line)
 *   errno: N checks, N wrong
 * and one line on stderr per wrong errno.  Exit 0 when the control is 2,
 * rest and thread_rest are 0 and no errno was wrong, else 1.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096ul
#define LOW_PAGE ((void *)0x1000) /* below mmap_min_addr: never mapped */
#define MARK 1234

/* ---- the counting allocator ---------------------------------------- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

/* volatile: the compiler takes malloc for a function that reads no user
 * memory and would drop the stores around it otherwise. */
static __thread volatile int in_map_call;
static volatile unsigned long counted; /* read fresh after every call */

static volatile unsigned long all_calls; /* with or without the flag */

static void note(void)
{
	__atomic_add_fetch(&all_calls, 1, __ATOMIC_RELAXED);
	if (in_map_call)
		__atomic_add_fetch(&counted, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t n)
{
	note();
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	note();
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	note();
	return __libc_realloc(p, n);
}

void free(void *p)
{
	note();
	__libc_free(p);
}

void *memalign(size_t align, size_t n)
{
	note();
	return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	note();
	return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	note();
	void *p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *valloc(size_t n)
{
	note();
	return __libc_memalign(PAGE, n);
}

/* ---- mapping calls with the flag set ------------------------------- */

static unsigned long calls;

#define FLAGGED(expr)                                                        \
	({                                                                   \
		in_map_call = 1;                                             \
		__typeof__(expr) r_ = (expr);                                \
		in_map_call = 0;                                             \
		calls++;                                                     \
		r_;                                                          \
	})

/* One round of every call of the family, on a mapping of its own. */
static void round_of_calls(unsigned i)
{
	size_t n = 2 + i % 6;
	char *p = FLAGGED(mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	if (p == MAP_FAILED) {
		perror("mallocprog: mmap");
		exit(2);
	}
	p[0] = 1;
	FLAGGED(mprotect(p + PAGE, PAGE, PROT_READ));
	FLAGGED(mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE));
	FLAGGED(madvise(p, PAGE, i % 2 ? MADV_WILLNEED : MADV_DONTNEED));
	if (i % 16 == 0) {
		FLAGGED(mlock(p, PAGE));
		FLAGGED(munlock(p, PAGE));
	}
	char *q = FLAGGED(mremap(p, n * PAGE, (n + 2) * PAGE, MREMAP_MAYMOVE));
	if (q == MAP_FAILED) {
		perror("mallocprog: mremap");
		exit(2);
	}
	/* A failing call too: the hooks' error paths must not allocate. */
	FLAGGED(munmap(q + 1, PAGE));
	FLAGGED(munmap(q, (n + 2) * PAGE));
}

/* Calls from many distinct stacks: the preload's stack table grows. */
static __attribute__((noinline)) void at_depth(unsigned depth, unsigned i)
{
	if (depth)
		at_depth(depth - 1, i);
	else
		round_of_calls(i);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

static unsigned long thread_first, thread_rest;

static void *second_thread(void *arg)
{
	(void)arg;
	unsigned long before = counted;
	round_of_calls(0); /* this thread's first calls */
	thread_first = counted - before;
	for (unsigned i = 1; i < 4; i++)
		round_of_calls(i); /* its warm-up */
	before = counted;
	for (unsigned i = 0; i < 1000; i++)
		at_depth(i % 40, i);
	thread_rest = counted - before;
	return NULL;
}

/* ---- errno ------------------------------------------------------------ */

static unsigned checks, wrong;

static void expect_kept(const char *what, int failed)
{
	checks++;
	if (failed || errno != MARK) {
		wrong++;
		fprintf(stderr, "errno: %s: %s, errno %d (expected %d kept)\n",
			what, failed ? "failed" : "succeeded", errno, MARK);
	}
}

/* A failing call: raw_errno is what the kernel said through syscall(2);
 * the hooked call must fail (-1 / MAP_FAILED) with the same errno. */
static void expect_fail(const char *what, int failed, int raw_errno)
{
	int e = errno;
	checks++;
	if (!failed || e != raw_errno || raw_errno == 0) {
		wrong++;
		fprintf(stderr, "errno: %s: %s, errno %d (kernel says %d)\n",
			what, failed ? "failed" : "succeeded", e, raw_errno);
	}
}

#define RAW(...) (errno = 0, syscall(__VA_ARGS__), errno)

static void errno_checks(void)
{
	char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mallocprog: mmap");
		exit(2);
	}
	int r;
	void *v;

	/* Successful calls keep errno. */
	errno = MARK;
	v = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect_kept("mmap", v == MAP_FAILED);
	errno = MARK;
	v = mremap(v, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
	expect_kept("mremap", v == MAP_FAILED);
	errno = MARK;
	expect_kept("munmap", munmap(v, 2 * PAGE) != 0);
	errno = MARK;
	expect_kept("munmap of a hole", munmap(v, 2 * PAGE) != 0);
	errno = MARK;
	expect_kept("mprotect", mprotect(p, PAGE, PROT_READ) != 0);
	errno = MARK;
	expect_kept("pkey_mprotect",
		    pkey_mprotect(p, PAGE, PROT_READ | PROT_WRITE, -1) != 0);
	errno = MARK;
	expect_kept("madvise", madvise(p, PAGE, MADV_WILLNEED) != 0);
	errno = MARK;
	expect_kept("posix_madvise",
		    posix_madvise(p, PAGE, POSIX_MADV_NORMAL) != 0);
	errno = MARK;
	expect_kept("mlock", mlock(p, PAGE) != 0);
	errno = MARK;
	expect_kept("munlock", munlock(p, PAGE) != 0);
	errno = MARK;
	expect_kept("mlock2", mlock2(p, PAGE, MLOCK_ONFAULT) != 0);
	errno = MARK;
	expect_kept("munlock", munlock(p, PAGE) != 0);
	errno = MARK;
	expect_kept("mlockall", mlockall(MCL_CURRENT | MCL_ONFAULT) != 0);
	errno = MARK;
	expect_kept("munlockall", munlockall() != 0);

	/* Failing calls set the kernel's errno. */
	int k;
	k = RAW(SYS_mmap, 0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	errno = MARK;
	v = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect_fail("mmap len 0", v == MAP_FAILED, k);
	k = RAW(SYS_mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, -1, 0);
	errno = MARK;
	v = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, -1, 0);
	expect_fail("mmap bad fd", v == MAP_FAILED, k);
	k = RAW(SYS_mmap, p + 1, PAGE, PROT_READ,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	errno = MARK;
	v = mmap(p + 1, PAGE, PROT_READ,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	expect_fail("mmap fixed unaligned", v == MAP_FAILED, k);
	k = RAW(SYS_munmap, p + 1, PAGE);
	errno = MARK;
	expect_fail("munmap unaligned", munmap(p + 1, PAGE) != 0, k);
	k = RAW(SYS_munmap, p, 0);
	errno = MARK;
	expect_fail("munmap len 0", munmap(p, 0) != 0, k);
	k = RAW(SYS_mprotect, LOW_PAGE, PAGE, PROT_READ);
	errno = MARK;
	expect_fail("mprotect hole", mprotect(LOW_PAGE, PAGE, PROT_READ) != 0,
		    k);
	k = RAW(SYS_mprotect, p, PAGE, 0x100000);
	errno = MARK;
	expect_fail("mprotect bad prot", mprotect(p, PAGE, 0x100000) != 0, k);
	k = RAW(SYS_pkey_mprotect, p, PAGE, PROT_READ, 12345);
	errno = MARK;
	expect_fail("pkey_mprotect bad key",
		    pkey_mprotect(p, PAGE, PROT_READ, 12345) != 0, k);
	k = RAW(SYS_mremap, LOW_PAGE, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0);
	errno = MARK;
	v = mremap(LOW_PAGE, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
	expect_fail("mremap unmapped", v == MAP_FAILED, k);
	k = RAW(SYS_mremap, p, PAGE, PAGE, 0x100, 0);
	errno = MARK;
	v = mremap(p, PAGE, PAGE, 0x100);
	expect_fail("mremap bad flags", v == MAP_FAILED, k);
	k = RAW(SYS_mremap, p, PAGE, 0, MREMAP_MAYMOVE, 0);
	errno = MARK;
	v = mremap(p, PAGE, 0, MREMAP_MAYMOVE);
	expect_fail("mremap to 0", v == MAP_FAILED, k);
	k = RAW(SYS_madvise, p, PAGE, 12345);
	errno = MARK;
	expect_fail("madvise bad advice", madvise(p, PAGE, 12345) != 0, k);
	k = RAW(SYS_madvise, LOW_PAGE, PAGE, MADV_NORMAL);
	errno = MARK;
	expect_fail("madvise hole", madvise(LOW_PAGE, PAGE, MADV_NORMAL) != 0,
		    k);
	k = RAW(SYS_mlock, LOW_PAGE, PAGE);
	errno = MARK;
	expect_fail("mlock hole", mlock(LOW_PAGE, PAGE) != 0, k);
	k = RAW(SYS_mlock2, p, PAGE, 0x80);
	errno = MARK;
	expect_fail("mlock2 bad flags", mlock2(p, PAGE, 0x80) != 0, k);
	k = RAW(SYS_munlock, LOW_PAGE, PAGE);
	errno = MARK;
	expect_fail("munlock hole", munlock(LOW_PAGE, PAGE) != 0, k);
	k = RAW(SYS_mlockall, 0);
	errno = MARK;
	expect_fail("mlockall 0", mlockall(0) != 0, k);
	k = RAW(SYS_mlockall, 0x100);
	errno = MARK;
	expect_fail("mlockall bad flags", mlockall(0x100) != 0, k);

	/* posix_madvise returns the error and leaves errno alone. */
	errno = MARK;
	r = posix_madvise(p + 1, PAGE, POSIX_MADV_NORMAL);
	checks++;
	if (r != EINVAL || errno != MARK) {
		wrong++;
		fprintf(stderr, "errno: posix_madvise unaligned: returned %d, "
			"errno %d (expected %d, %d kept)\n", r, errno, EINVAL,
			MARK);
	}
	munmap(p, 4 * PAGE);
}

int main(void)
{
	/* Allocations before main: the dynamic loader's, libc's, and the
	 * preload's initialisation (its constructor runs before main). */
	unsigned long before_main = all_calls;
	/* The control: libc's own allocations inside the window count (so
	 * this malloc is the one everybody calls). */
	unsigned long before = counted;
	in_map_call = 1;
	char *volatile dup = strdup("control"); /* not folded away */
	free(dup);
	in_map_call = 0;
	unsigned long control = counted - before;
	counted = 0;
	before = counted;
	round_of_calls(0); /* the process's first hooked calls */
	unsigned long first = counted - before;
	before = counted;
	for (unsigned i = 1; i < 4; i++)
		round_of_calls(i);
	unsigned long warm = counted - before;
	before = counted;
	for (unsigned i = 0; i < 3000; i++)
		at_depth(i % 60, i);
	unsigned long rest = counted - before;

	pthread_t t;
	if (pthread_create(&t, NULL, second_thread, NULL)) {
		fprintf(stderr, "mallocprog: pthread_create failed\n");
		return 2;
	}
	pthread_join(t, NULL);

	errno_checks();
	printf("before_main=%lu control=%lu first=%lu warm=%lu rest=%lu "
	       "thread_first=%lu thread_rest=%lu calls=%lu\n",
	       before_main, control, first, warm, rest, thread_first,
	       thread_rest, calls);
	printf("errno: %u checks, %u wrong\n", checks, wrong);
	return control != 2 || rest || thread_rest || wrong ? 1 : 0;
}
