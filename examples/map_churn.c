/*
 * map_churn.c - a program that maps a lot, and cleanly: anonymous and file
 * mappings made, written, split by mprotect, grown and moved by mremap,
 * advised, locked and unmapped, from several threads, with a fork in the
 * middle.  Under vmacheck it must run exactly as without it and leave no
 * finding; its output is a checksum of what it wrote and read back.
 *
 *   map_churn [iterations] [threads]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096u

static long iterations = 2000;

static uint64_t churn(unsigned seed)
{
	uint64_t sum = 0;
	char path[] = "/tmp/map_churn-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 64 * PAGE)) {
		perror("map_churn: temp file");
		exit(2);
	}
	unlink(path);
	for (long i = 0; i < iterations; i++) {
		unsigned n = 1 + (seed = seed * 1103515245u + 12345u) % 16;
		char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("map_churn: mmap");
			exit(2);
		}
		for (unsigned k = 0; k < n; k++)
			p[k * PAGE] = (char)(i + k);
		/* Split in three, then merge back: mremap needs one VMA. */
		if (n > 2 && (mprotect(p + PAGE, PAGE, PROT_READ) ||
			      mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE)))
			perror("map_churn: mprotect");
		char *q = mremap(p, n * PAGE, (n + 4) * PAGE, MREMAP_MAYMOVE);
		if (q == MAP_FAILED) {
			perror("map_churn: mremap");
			exit(2);
		}
		madvise(q, PAGE, MADV_DONTNEED);
		for (unsigned k = 1; k < n; k++)
			sum += (unsigned char)q[k * PAGE];
		if (i % 64 == 0) {
			mlock(q, PAGE);
			munlock(q, PAGE);
		}
		munmap(q, (n + 4) * PAGE);
		char *f = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, (off_t)(i % 8) * PAGE);
		if (f == MAP_FAILED) {
			perror("map_churn: file mmap");
			exit(2);
		}
		f[0] = (char)i;
		sum += (unsigned char)f[0];
		munmap(f, 8 * PAGE);
	}
	close(fd);
	return sum;
}

static void *thread_main(void *arg)
{
	uintptr_t seed = (uintptr_t)arg;
	return (void *)(uintptr_t)churn((unsigned)seed);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		iterations = atol(argv[1]);
	int threads = argc > 2 ? atoi(argv[2]) : 4;
	if (iterations <= 0 || threads <= 0 || threads > 64) {
		fprintf(stderr, "usage: map_churn [iterations] [threads]\n");
		return 2;
	}
	pthread_t t[64];
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)(i + 1));
	/* A fork in the middle of it all: the child churns on its own. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(churn(99) ? 0 : 3);
	uint64_t total = 0;
	for (int i = 0; i < threads; i++) {
		void *r;
		pthread_join(t[i], &r);
		total += (uintptr_t)r;
	}
	int st = 0;
	waitpid(pid, &st, 0);
	printf("map_churn: %d threads x %ld iterations, checksum %llu, child %d\n",
	       threads, iterations, (unsigned long long)total,
	       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
