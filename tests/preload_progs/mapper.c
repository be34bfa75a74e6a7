/*
 * mapper.c - a plain single-threaded program that maps, writes, splits,
 * grows and unmaps, then prints a checksum of what it read back and exits
 * with the status it was given; for tests/test_preload_run.c (the run of a
 * bad VMACHECK_OPTIONS must look exactly like a run without the preload).
 *
 *   mapper ITERATIONS STATUS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PAGE 4096ul

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? atol(argv[1]) : 100;
	int status = argc > 2 ? atoi(argv[2]) : 0;
	uint64_t sum = 0;
	for (long i = 0; i < iterations; i++) {
		size_t n = 3 + (size_t)i % 5;
		char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mapper: mmap");
			return 2;
		}
		for (size_t k = 0; k < n; k++)
			p[k * PAGE] = (char)(i + (long)k);
		if (mprotect(p + PAGE, PAGE, PROT_READ)) {
			perror("mapper: mprotect");
			return 2;
		}
		char *q = mremap(p, n * PAGE, (n + 1) * PAGE, MREMAP_MAYMOVE);
		if (q == MAP_FAILED) {
			/* p spans two VMAs after the mprotect split. */
			mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE);
			q = mremap(p, n * PAGE, (n + 1) * PAGE,
				   MREMAP_MAYMOVE);
			if (q == MAP_FAILED) {
				perror("mapper: mremap");
				return 2;
			}
		}
		for (size_t k = 0; k < n; k++)
			sum = sum * 31 + (unsigned char)q[k * PAGE];
		munmap(q, (n + 1) * PAGE);
	}
	printf("mapper: %ld iterations, checksum %llx\n", iterations,
	       (unsigned long long)sum);
	return status;
}
