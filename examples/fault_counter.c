/*
 * fault_counter.c - count the first touches of an area: a `fault` callback
 * that hands out zero pages and counts them.  The program touches exactly
 * K pages of N (some by reading, some by writing, some twice); the count
 * must be K.
 *
 *     vmacheck -- build/examples/fault_counter [N K]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vmacheck.h"

#define PAGE 4096

static unsigned long faults, writes;

static int count_fault(const struct vmc_area *a, struct vmc_fault *vmf)
{
	(void)a;
	faults++;
	writes += vmf->write != 0;
	return VMC_FAULT_ZERO;
}

static const struct vmc_vm_ops counter_ops = { .fault = count_fault };

int main(int argc, char **argv)
{
	unsigned long n = argc > 2 ? strtoul(argv[1], NULL, 0) : 256;
	unsigned long k = argc > 2 ? strtoul(argv[2], NULL, 0) : 37;
	if (!n || k > n) {
		fprintf(stderr, "usage: fault_counter [N K], K <= N\n");
		return 2;
	}
	if (!vmc_map_with_ops) {
		fprintf(stderr, "fault_counter: run it under vmacheck\n");
		return 0;
	}
	volatile char *p = vmc_map_with_ops(NULL, n * PAGE,
					    PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS,
					    &counter_ops, NULL);
	if (p == MAP_FAILED) {
		perror("fault_counter: vmc_map_with_ops");
		return 1;
	}
	/* K distinct pages spread over N (stride coprime with nothing in
	 * particular: i * n / k), even ones read, odd ones written, then
	 * all touched again. */
	unsigned long sum = 0;
	for (int pass = 0; pass < 2; pass++)
		for (unsigned long i = 0; i < k; i++) {
			unsigned long pg = i * n / k;
			if (i & 1)
				p[pg * PAGE + 8] = (char)i;
			else
				sum += (unsigned char)p[pg * PAGE + 8];
		}
	printf("fault_counter: %lu pages touched of %lu, %lu faults (%lu "
	       "by a write)\n", k, n, faults, writes);
	munmap((void *)p, n * PAGE);
	return faults == k && sum == 0 ? 0 : 1;
}
