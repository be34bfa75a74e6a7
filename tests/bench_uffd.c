/*
 * bench_uffd.c - what userfaultfd costs, run under the preload with
 * uffd=touch (make bench does so):
 *
 *   plain      first write to each page of a mapping the tool does not
 *              watch (made with a raw mmap system call): the kernel's own
 *              anonymous fault
 *   touch      first write to each page of a tracked mapping (libc's mmap:
 *              registered write-protected with WP_ASYNC): the same fault
 *              plus the kernel's asynchronous uffd-wp resolution
 *   callback   first read of each page of a vmc_map_with_ops() area: the
 *              fault goes to the monitor thread, whose `fault` callback
 *              asks for zeros (UFFDIO_COPY of a zero page)
 *
 * 4 KiB pages throughout (MADV_NOHUGEPAGE: a huge page fault would hide
 * the per-page cost).  Best of 5 rounds of 16,384 pages.  Prints ns per
 * page and the goal of the touch-tracking cost: at most 1 microsecond
 * over a plain fault.  Nothing is asserted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vmacheck.h"

#define PG 4096ul
#define NPG 16384ul
#define ROUNDS 5

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int zero_fault(const struct vmc_area *a, struct vmc_fault *vmf)
{
	(void)a;
	(void)vmf;
	return VMC_FAULT_ZERO;
}

static const struct vmc_vm_ops zops = { .fault = zero_fault };

static double touch_pages(volatile char *p, int write)
{
	double t0 = now();
	unsigned s = 0;
	for (unsigned long i = 0; i < NPG; i++) {
		if (write)
			p[i * PG] = 1;
		else
			s += (unsigned char)p[i * PG];
	}
	(void)s;
	return (now() - t0) / NPG;
}

int main(void)
{
	double best[3] = { 1e18, 1e18, 1e18 };
	int have_vmc = vmc_enabled && vmc_enabled();
	for (int r = 0; r < ROUNDS; r++) {
		char *p = (char *)syscall(SYS_mmap, 0, NPG * PG,
					  PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		syscall(SYS_madvise, p, NPG * PG, MADV_NOHUGEPAGE);
		double t = touch_pages(p, 1);
		syscall(SYS_munmap, p, NPG * PG);
		if (t < best[0])
			best[0] = t;
		p = mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		madvise(p, NPG * PG, MADV_NOHUGEPAGE);
		t = touch_pages(p, 1);
		munmap(p, NPG * PG);
		if (t < best[1])
			best[1] = t;
		if (!have_vmc)
			continue;
		p = vmc_map_with_ops(NULL, NPG * PG, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, &zops, NULL);
		if (p == MAP_FAILED)
			continue;
		t = touch_pages(p, 0);
		munmap(p, NPG * PG);
		if (t < best[2])
			best[2] = t;
	}
	printf("bench_uffd: first write, plain fault          %8.0f ns/page\n",
	       best[0]);
	printf("bench_uffd: first write, touch tracking       %8.0f ns/page "
	       "(+%.0f ns; goal <= +1000 ns: %s)\n", best[1],
	       best[1] - best[0], best[1] - best[0] <= 1000 ? "met" : "MISS");
	if (have_vmc)
		printf("bench_uffd: first read through a fault callback %6.0f "
		       "ns/page (+%.0f ns over a plain fault)\n", best[2],
		       best[2] - best[0]);
	else
		printf("bench_uffd: not under vmacheck: no callback figure\n");
	return 0;
}
