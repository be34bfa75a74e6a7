/*
 * stress.c - many threads hammering the mmap family on their own memory,
 * for tests/test_preload_run.c: each thread keeps a few mappings of its
 * own and maps, unmaps (whole, head, tail), splits by mprotect, grows,
 * shrinks and moves by mremap (MAYMOVE and FIXED onto its own pages),
 * advises, locks and unlocks them, replaces pages with MAP_FIXED, and
 * makes calls that must fail (EINVAL, and ENOMEM/EFAULT on page 1, which
 * no thread can ever map).  Every page carries a tag that is verified
 * after each operation, and errno is checked on every call: unchanged
 * on success, the expected value on failure.
 *
 *   stress THREADS CALLS     CALLS mapping calls per thread
 *
 * Output: on stdout one line, identical with and without the preload
 * (the count of failed checks); the counts and a checksum on stderr.
 * Exit 0 when every check held, 1 otherwise.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096ul
#define SLOTS 8
#define LOW_PAGE ((void *)0x1000) /* below mmap_min_addr: never mapped */
#define MAGIC_ERRNO 4321

struct slot {
	char *p;                /* NULL when empty */
	size_t pages;
	unsigned tag;           /* page i holds byte (tag + i) at offset 0 */
	int split;              /* may span several VMAs: mremap may EFAULT */
	int shared;             /* MAP_SHARED: growing it would SIGBUS */
};

struct worker {
	pthread_t tid;
	unsigned seed;
	long calls_wanted;
	long calls, ok, failed, bad;
	uint64_t checksum;
	struct slot s[SLOTS];
};

static unsigned rnd(struct worker *w)
{
	w->seed = w->seed * 1103515245u + 12345u;
	return w->seed >> 8;
}

static void bad(struct worker *w, const char *what, int got, int want)
{
	if (w->bad++ < 5)
		fprintf(stderr, "stress: %s: errno %d, expected %d\n", what,
			got, want);
}

/* A call that must succeed: errno is set to a marker before and must be
 * unchanged after. */
#define MUST_OK(w, name, expr, failed_cond)                                  \
	({                                                                   \
		errno = MAGIC_ERRNO;                                         \
		__typeof__(expr) r_ = (expr);                                \
		(w)->calls++;                                                \
		if (failed_cond) {                                           \
			bad(w, name, errno, 0);                              \
		} else {                                                     \
			(w)->ok++;                                           \
			if (errno != MAGIC_ERRNO)                            \
				bad(w, name " (errno changed)", errno,       \
				    MAGIC_ERRNO);                            \
		}                                                            \
		r_;                                                          \
	})

static void fill(struct slot *s, size_t from)
{
	for (size_t i = from; i < s->pages; i++)
		s->p[i * PAGE] = (char)(s->tag + i);
}

static void verify(struct worker *w, struct slot *s)
{
	for (size_t i = 0; i < s->pages; i++) {
		unsigned char c = (unsigned char)s->p[i * PAGE];
		if (c != (unsigned char)(s->tag + i)) {
			if (w->bad++ < 5)
				fprintf(stderr,
					"stress: page %zu of %zu holds %u, "
					"expected %u\n",
					i, s->pages, c,
					(unsigned char)(s->tag + i));
		}
		w->checksum = w->checksum * 31 + c;
	}
}

static void unmap_slot(struct worker *w, struct slot *s)
{
	verify(w, s);
	MUST_OK(w, "munmap", munmap(s->p, s->pages * PAGE), r_ != 0);
	s->p = NULL;
	s->pages = 0;
}

static void map_slot(struct worker *w, struct slot *s)
{
	size_t n = 1 + rnd(w) % 16;
	int shared = rnd(w) % 4 == 0;
	int flags = MAP_ANONYMOUS | (shared ? MAP_SHARED : MAP_PRIVATE) |
		    (rnd(w) % 4 == 0 ? MAP_NORESERVE : 0);
	char *p = MUST_OK(w, "mmap",
			  mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, flags,
			       -1, 0),
			  r_ == MAP_FAILED);
	if (p == MAP_FAILED)
		return;
	s->p = p;
	s->pages = n;
	s->tag = rnd(w);
	s->split = 0;
	s->shared = shared;
	fill(s, 0);
}

/* Calls that must fail with a known errno, on memory nobody has. */
static void failing_call(struct worker *w, struct slot *s)
{
	int want, r;
	const char *what;
	char *p = s->p ? s->p : (char *)LOW_PAGE;
	errno = 0;
	switch (rnd(w) % 9) {
	case 0:
		what = "munmap unaligned", want = EINVAL;
		r = munmap(p + 1, PAGE);
		break;
	case 1:
		what = "mmap len 0", want = EINVAL;
		r = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0) == MAP_FAILED ? -1 : 0;
		break;
	case 2:
		what = "mprotect low page", want = ENOMEM;
		r = mprotect(LOW_PAGE, PAGE, PROT_READ);
		break;
	case 3:
		what = "mremap low page", want = EFAULT;
		r = mremap(LOW_PAGE, PAGE, 2 * PAGE, MREMAP_MAYMOVE) ==
				    MAP_FAILED ? -1 : 0;
		break;
	case 4:
		what = "madvise bad advice", want = EINVAL;
		r = madvise(p, PAGE, 12345);
		break;
	case 5:
		what = "madvise low page", want = ENOMEM;
		r = madvise(LOW_PAGE, PAGE, MADV_WILLNEED);
		break;
	case 6:
		what = "mlock low page", want = ENOMEM;
		r = mlock(LOW_PAGE, PAGE);
		break;
	case 7:
		what = "mremap bad flags", want = EINVAL;
		r = mremap(p, PAGE, PAGE, 0x100) == MAP_FAILED ? -1 : 0;
		break;
	default:
		what = "munlock low page", want = ENOMEM;
		r = munlock(LOW_PAGE, PAGE);
		break;
	}
	w->calls++;
	if (r == 0 || errno != want)
		bad(w, what, r == 0 ? 0 : errno, want);
	else
		w->failed++;
}

/* mremap on a slot that may span several VMAs: success, or EFAULT. */
static void *remap_split(struct worker *w, void *old, size_t old_len,
			 size_t new_len, int flags, void *to)
{
	errno = MAGIC_ERRNO;
	void *q = mremap(old, old_len, new_len, flags, to);
	w->calls++;
	if (q != MAP_FAILED) {
		w->ok++;
		if (errno != MAGIC_ERRNO)
			bad(w, "mremap (errno changed)", errno, MAGIC_ERRNO);
	} else if (errno == EFAULT) {
		w->failed++;
	} else {
		bad(w, "mremap over split VMAs", errno, EFAULT);
	}
	return q;
}

static void one_op(struct worker *w)
{
	struct slot *s = &w->s[rnd(w) % SLOTS];
	unsigned op = rnd(w) % 16;
	if (op >= 12) {
		failing_call(w, s);
		return;
	}
	if (!s->p) {
		map_slot(w, s);
		return;
	}
	switch (op) {
	case 0:
		unmap_slot(w, s);
		break;
	case 1: /* tail */
		if (s->pages > 1) {
			size_t k = 1 + rnd(w) % (s->pages - 1);
			MUST_OK(w, "munmap tail",
				munmap(s->p + (s->pages - k) * PAGE, k * PAGE),
				r_ != 0);
			s->pages -= k;
		}
		break;
	case 2: /* head */
		if (s->pages > 1) {
			MUST_OK(w, "munmap head", munmap(s->p, PAGE), r_ != 0);
			s->p += PAGE;
			s->pages--;
			s->tag++;
		}
		break;
	case 3: { /* split in three and merge back */
		size_t mid = s->pages / 2;
		MUST_OK(w, "mprotect r", mprotect(s->p + mid * PAGE, PAGE,
						  PROT_READ), r_ != 0);
		verify(w, s);
		MUST_OK(w, "mprotect rw", mprotect(s->p + mid * PAGE, PAGE,
						   PROT_READ | PROT_WRITE),
			r_ != 0);
		break;
	}
	case 4: { /* grow, maybe moving (a shared one would SIGBUS) */
		if (s->shared)
			break;
		size_t m = 1 + rnd(w) % 4;
		char *q = s->split
			? remap_split(w, s->p, s->pages * PAGE,
				      (s->pages + m) * PAGE, MREMAP_MAYMOVE,
				      NULL)
			: MUST_OK(w, "mremap grow",
				  mremap(s->p, s->pages * PAGE,
					 (s->pages + m) * PAGE,
					 MREMAP_MAYMOVE),
				  r_ == MAP_FAILED);
		if (q != MAP_FAILED) {
			s->p = q;
			s->pages += m;
			fill(s, s->pages - m);
		}
		break;
	}
	case 5: /* shrink in place */
		if (s->pages > 1) {
			char *q = s->split
				? remap_split(w, s->p, s->pages * PAGE,
					      (s->pages - 1) * PAGE, 0, NULL)
				: MUST_OK(w, "mremap shrink",
					  mremap(s->p, s->pages * PAGE,
						 (s->pages - 1) * PAGE, 0),
					  r_ == MAP_FAILED);
			if (q != MAP_FAILED)
				s->pages--;
		}
		break;
	case 6: { /* advise part of it */
		static const int adv[] = { MADV_NORMAL, MADV_RANDOM,
					   MADV_SEQUENTIAL, MADV_WILLNEED,
					   MADV_DONTNEED, MADV_DONTFORK,
					   MADV_DOFORK, MADV_NOHUGEPAGE };
		int a = adv[rnd(w) % (sizeof(adv) / sizeof(adv[0]))];
		size_t from = rnd(w) % s->pages;
		size_t n = 1 + rnd(w) % (s->pages - from);
		MUST_OK(w, "madvise", madvise(s->p + from * PAGE, n * PAGE, a),
			r_ != 0);
		if (a == MADV_DONTNEED)
			fill(s, 0); /* private pages read back as zero */
		else if (a != MADV_WILLNEED && (from || n < s->pages))
			s->split = 1;
		break;
	}
	case 7: /* lock a page */
		if (rnd(w) % 2)
			MUST_OK(w, "mlock", mlock(s->p, PAGE), r_ != 0);
		else
			MUST_OK(w, "mlock2", mlock2(s->p, PAGE, MLOCK_ONFAULT),
				r_ != 0);
		verify(w, s);
		MUST_OK(w, "munlock", munlock(s->p, PAGE), r_ != 0);
		break;
	case 8: { /* move onto a fresh mapping of our own */
		char *t = MUST_OK(w, "mmap target",
				  mmap(NULL, s->pages * PAGE, PROT_READ,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
				  r_ == MAP_FAILED);
		if (t == MAP_FAILED)
			break;
		size_t len = s->pages * PAGE;
		int fl = MREMAP_MAYMOVE | MREMAP_FIXED;
		char *q = s->split
			? remap_split(w, s->p, len, len, fl, t)
			: MUST_OK(w, "mremap fixed",
				  mremap(s->p, len, len, fl, t),
				  r_ == MAP_FAILED);
		if (q != MAP_FAILED)
			s->p = q;
		else
			MUST_OK(w, "munmap target",
				munmap(t, s->pages * PAGE), r_ != 0);
		break;
	}
	case 9: { /* replace a page in place */
		size_t i = rnd(w) % s->pages;
		/* MAP_FIXED over our own page (a private page in a shared
		 * slot too): it reads zero until refilled. */
		char *q = MUST_OK(w, "mmap fixed",
				  mmap(s->p + i * PAGE, PAGE,
				       PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				       -1, 0),
				  r_ == MAP_FAILED);
		if (q != MAP_FAILED)
			s->p[i * PAGE] = (char)(s->tag + i);
		s->split = 1;
		break;
	}
	case 10: /* read-only and back */
		MUST_OK(w, "mprotect all r",
			mprotect(s->p, s->pages * PAGE, PROT_READ), r_ != 0);
		verify(w, s);
		MUST_OK(w, "mprotect all rw",
			mprotect(s->p, s->pages * PAGE,
				 PROT_READ | PROT_WRITE), r_ != 0);
		break;
	default:
		verify(w, s);
		break;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (w->calls < w->calls_wanted)
		one_op(w);
	for (int i = 0; i < SLOTS; i++)
		if (w->s[i].p)
			unmap_slot(w, &w->s[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 8;
	long calls = argc > 2 ? atol(argv[2]) : 100000;
	if (threads < 1 || threads > 64 || calls < 1) {
		fprintf(stderr, "usage: stress THREADS CALLS\n");
		return 2;
	}
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	if (!w)
		return 2;
	for (int i = 0; i < threads; i++) {
		w[i].seed = 1000u + (unsigned)i;
		w[i].calls_wanted = calls;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i])) {
			fprintf(stderr, "stress: pthread_create failed\n");
			return 2;
		}
	}
	long total = 0, ok = 0, failed = 0, nbad = 0;
	uint64_t sum = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].tid, NULL);
		total += w[i].calls;
		ok += w[i].ok;
		failed += w[i].failed;
		nbad += w[i].bad;
		sum = sum * 1000003u + w[i].checksum;
	}
	free(w);
	/* Which calls fail depends on how the threads' mappings happened to
	 * merge, so only the verdict goes to stdout. */
	fprintf(stderr,
		"stress: %ld calls, %ld ok, %ld failed as expected, "
		"checksum %llx\n",
		total, ok, failed, (unsigned long long)sum);
	printf("stress: %d threads x %ld calls: %ld bad\n", threads, calls,
	       nbad);
	return nbad ? 1 : 0;
}
