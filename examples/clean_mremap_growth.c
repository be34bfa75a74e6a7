/*
 * clean_mremap_growth.c - a growable array backed by mremap: doubled 12
 * times with MREMAP_MAYMOVE (moving when the space behind it is taken),
 * every element kept, unmapped at the end.  No finding of warning or
 * error severity.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>

int main(void)
{
	size_t cap = 4096;
	long *v = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED)
		return 1;
	size_t n = 0;
	for (int round = 0; round < 12; round++) {
		while ((n + 1) * sizeof(long) <= cap) {
			v[n] = (long)n;
			n++;
		}
		long *w = mremap(v, cap, cap * 2, MREMAP_MAYMOVE);
		if (w == MAP_FAILED)
			return 1;
		v = w;
		cap *= 2;
	}
	long sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	printf("clean_mremap_growth: %zu elements, sum %ld\n", n, sum);
	munmap(v, cap);
	return 0;
}
