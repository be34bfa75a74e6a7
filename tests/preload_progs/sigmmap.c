/*
 * sigmmap.c - mapping calls from a signal handler, for
 * tests/test_preload_run.c: SIGALRM arrives every 200 us (setitimer) for
 * about two seconds; its handler maps two pages, writes them, and unmaps
 * them, while the main thread loops mapping, splitting, growing and
 * unmapping its own regions and checks their contents.  The handler often
 * interrupts the main thread inside a hook of the preload.
 *
 *   sigmmap [MILLISECONDS]
 *
 * Output, deterministic: "sigmmap: main ok, handler ok"; the number of
 * signals handled and of main-loop iterations on stderr.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>

#define PAGE 4096ul

static volatile sig_atomic_t hits, handler_bad;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		handler_bad = 1;
	} else {
		p[0] = 1;
		p[PAGE] = 2;
		if (p[0] + p[PAGE] != 3 || munmap(p, 2 * PAGE))
			handler_bad = 1;
	}
	if (errno != saved)
		handler_bad = 1; /* successful calls keep errno */
	errno = saved;
	hits++;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = (argc > 1 ? atof(argv[1]) : 2000) / 1000;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL))
		return 2;
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	if (setitimer(ITIMER_REAL, &it, NULL))
		return 2;
	int bad = 0;
	long iterations = 0;
	double end = now() + seconds;
	while (now() < end) {
		size_t pages = 2 + (size_t)iterations % 6;
		char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			bad = 1;
			break;
		}
		for (size_t k = 0; k < pages; k++)
			p[k * PAGE] = (char)(iterations + (long)k);
		if (mprotect(p + PAGE, PAGE, PROT_READ) ||
		    mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE))
			bad = 1;
		char *q = mremap(p, pages * PAGE, (pages + 2) * PAGE,
				 MREMAP_MAYMOVE);
		if (q == MAP_FAILED) {
			bad = 1;
			break;
		}
		for (size_t k = 0; k < pages; k++)
			if (q[k * PAGE] != (char)(iterations + (long)k))
				bad = 1;
		if (munmap(q, (pages + 2) * PAGE))
			bad = 1;
		iterations++;
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	fprintf(stderr, "sigmmap: %d signals handled, %ld iterations\n",
		(int)hits, iterations);
	printf("sigmmap: main %s, handler %s\n", bad ? "BAD" : "ok",
	       handler_bad || hits < 10 ? "BAD" : "ok");
	return bad || handler_bad || hits < 10 ? 1 : 0;
}
