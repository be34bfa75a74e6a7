/*
 * forker.c - fork under the preload, for tests/test_preload_run.c: parent
 * and child both keep mapping after the fork, and both change a mapping
 * the parent made before it.
 *
 *   forker simple    one thread: map, fork; the child maps 2000 times and
 *                    unmaps half of the inherited mapping and grows the
 *                    rest, the parent maps 2000 times and protects it.
 *   forker threads   two threads map without pause while the main thread
 *                    forks 20 children, each of which maps 200 times.
 *
 * Children end with exit(), so their destructors run and they write
 * results.  Output: one line, deterministic.  Exit 0 when every check
 * held.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096ul

/* Map, fill, split, grow, verify, unmap, n times.  Returns 0 when every
 * page read back what was written. */
static int churn(long n, unsigned seed)
{
	int bad = 0;
	for (long i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		size_t pages = 1 + (seed >> 8) % 8;
		char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		for (size_t k = 0; k < pages; k++)
			p[k * PAGE] = (char)(seed + k);
		if (pages > 2 &&
		    (mprotect(p + PAGE, PAGE, PROT_READ) ||
		     mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE)))
			bad = 1;
		char *q = mremap(p, pages * PAGE, (pages + 2) * PAGE,
				 MREMAP_MAYMOVE);
		if (q == MAP_FAILED)
			return 1;
		for (size_t k = 0; k < pages; k++)
			if (q[k * PAGE] != (char)(seed + k))
				bad = 1;
		madvise(q, PAGE, MADV_DONTNEED);
		if (munmap(q, (pages + 2) * PAGE))
			bad = 1;
	}
	return bad;
}

static volatile int stop;

static void *mapper_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	long bad = 0;
	while (!stop)
		bad += churn(10, seed++);
	return (void *)bad;
}

static int simple(void)
{
	char *keep = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (keep == MAP_FAILED)
		return 1;
	memset(keep, 'k', 8 * PAGE);
	int bad = churn(200, 1);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		int cbad = churn(2000, 2);
		if (munmap(keep + 4 * PAGE, 4 * PAGE))
			cbad = 1;
		char *q = mremap(keep, 4 * PAGE, 16 * PAGE, MREMAP_MAYMOVE);
		if (q == MAP_FAILED || q[0] != 'k' || q[4 * PAGE - 1] != 'k')
			cbad = 1;
		else
			q[15 * PAGE] = 'c';
		exit(cbad ? 3 : 0);
	}
	bad |= churn(2000, 3);
	if (mprotect(keep, 8 * PAGE, PROT_READ) || keep[8 * PAGE - 1] != 'k')
		bad = 1;
	int st = 0;
	waitpid(pid, &st, 0);
	munmap(keep, 8 * PAGE);
	printf("forker simple: parent %s, child %s\n", bad ? "BAD" : "ok",
	       WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "ok" : "BAD");
	return bad || !WIFEXITED(st) || WEXITSTATUS(st) ? 1 : 0;
}

static int threads(void)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, mapper_thread,
			       (void *)(uintptr_t)(100 + i));
	int bad = 0, children_ok = 0;
	fflush(stdout);
	for (int i = 0; i < 20; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			bad = 1;
			break;
		}
		if (pid == 0)
			exit(churn(200, 1000 + (unsigned)i) ? 3 : 0);
		bad |= churn(20, 2000 + (unsigned)i);
		int st = 0;
		waitpid(pid, &st, 0);
		children_ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	stop = 1;
	for (int i = 0; i < 2; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad |= r != NULL;
	}
	printf("forker threads: parent %s, %d of 20 children ok\n",
	       bad ? "BAD" : "ok", children_ok);
	return bad || children_ok != 20 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "threads"))
		return threads();
	return simple();
}
