/*
 * fault_threads.c - fault callbacks under concurrency: 8 threads touch
 * their own slices of one area at once (after a barrier), so the monitor
 * receives faults from all of them together.  The `fault` callback fills
 * each page with its index; every thread checks every word it reads, and
 * the number of faults must be the number of pages.
 *
 *     vmacheck -- build/examples/fault_threads [THREADS PAGES_EACH]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vmacheck.h"

#define PAGE 4096

static unsigned long faults;
static unsigned nthreads = 8, each = 64;
static char *area;
static pthread_barrier_t go;

static int fill(const struct vmc_area *a, struct vmc_fault *vmf)
{
	(void)a;
	uint64_t *w = vmf->page;
	for (unsigned i = 0; i < PAGE / 8; i++)
		w[i] = vmf->pgoff * 1000003u + i;
	__atomic_add_fetch(&faults, 1, __ATOMIC_RELAXED);
	return VMC_FAULT_FILLED;
}

static const struct vmc_vm_ops ops = { .fault = fill };

static void *worker(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	unsigned long bad = 0;
	pthread_barrier_wait(&go);
	/* Interleaved slices: neighbouring pages fault from different
	 * threads. */
	for (unsigned k = 0; k < each; k++) {
		uint64_t pg = (uint64_t)k * nthreads + t;
		const uint64_t *w = (const uint64_t *)(area + pg * PAGE);
		for (unsigned i = 0; i < PAGE / 8; i++)
			bad += w[i] != pg * 1000003u + i;
	}
	return (void *)(uintptr_t)bad;
}

int main(int argc, char **argv)
{
	if (argc > 2) {
		nthreads = (unsigned)strtoul(argv[1], NULL, 0);
		each = (unsigned)strtoul(argv[2], NULL, 0);
	}
	if (!nthreads || nthreads > 64 || !each) {
		fprintf(stderr, "usage: fault_threads [THREADS PAGES_EACH]\n");
		return 2;
	}
	if (!vmc_map_with_ops) {
		fprintf(stderr, "fault_threads: run it under vmacheck\n");
		return 0;
	}
	unsigned long pages = (unsigned long)nthreads * each;
	area = vmc_map_with_ops(NULL, pages * PAGE, PROT_READ,
				MAP_PRIVATE | MAP_ANONYMOUS, &ops, NULL);
	if (area == MAP_FAILED) {
		perror("fault_threads: vmc_map_with_ops");
		return 1;
	}
	pthread_t th[64];
	pthread_barrier_init(&go, NULL, nthreads);
	for (unsigned t = 0; t < nthreads; t++)
		pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t);
	unsigned long bad = 0;
	for (unsigned t = 0; t < nthreads; t++) {
		void *r;
		pthread_join(th[t], &r);
		bad += (uintptr_t)r;
	}
	printf("fault_threads: %u threads, %lu pages, %lu faults, %lu bad "
	       "words\n", nthreads, pages, faults, bad);
	munmap(area, pages * PAGE);
	return bad == 0 && faults == pages ? 0 : 1;
}
