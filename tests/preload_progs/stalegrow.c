/*
 * stalegrow.c - an mremap growth whose outcome depends on a mapping that
 * went behind the tool's back: a one-page tracked mapping A, above it a
 * read-only page B mapped by a raw syscall (absorbed as foreign by a
 * check), then B unmapped by a raw syscall.  The shadow still holds B, so
 * it expects A to move when grown by a page; the kernel grows it in place.
 * Then A, two pages now, is written and unmapped.  For
 * tests/test_preload_run.c: the same output with and without the preload,
 * no shadow-divergence, and the shadow right afterwards (vmc_dump_maps).
 *
 * Prints "a=ADDR grown=ADDR same" (or "moved"), then the shadow's lines.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmacheck.h"

#define PAGE 4096ul

int main(void)
{
	/* g: guard, A, B, guard */
	char *g = mmap(NULL, 4 * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (g == MAP_FAILED || munmap(g + PAGE, 2 * PAGE))
		return 1;
	char *a = mmap(g + PAGE, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a != g + PAGE)
		return 2;
	a[0] = 1;
	long b = syscall(SYS_mmap, a + PAGE, PAGE, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			 0);
	if (b != (long)(a + PAGE))
		return 3;
	if (vmc_check_now)
		vmc_check_now();
	if (syscall(SYS_munmap, a + PAGE, PAGE))
		return 4;
	char *q = mremap(a, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		return 5;
	q[PAGE] = 2;
	printf("a=%lx grown=%lx %s\n", (unsigned long)a, (unsigned long)q,
	       q == a ? "same" : "moved");
	fflush(stdout);
	if (vmc_dump_maps && vmc_dump_maps(1))
		return 6;
	fflush(stdout);
	if (munmap(q, 2 * PAGE) || munmap(g, PAGE) || munmap(g + 3 * PAGE, PAGE))
		return 7;
	return 0;
}
