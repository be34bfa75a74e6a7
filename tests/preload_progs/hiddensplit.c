/*
 * hiddensplit.c - a split the shadow cannot see coming: a raw
 * madvise(MADV_DONTFORK) on the middle page of three splits the VMA in the
 * kernel with a flag /proc/self/maps does not show.  Then an intercepted
 * mprotect of the last page to the protection it has: under check=call its
 * check reads the last page's VMA and must make the shadow end a VMA there
 * too (the comparison alone sees nothing: the attributes agree).  Prints
 * the first page's address, then the shadow (vmc_dump_maps).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmacheck.h"

int main(void)
{
	char *g = mmap(NULL, 5 * 4096, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (g == MAP_FAILED)
		return 1;
	char *p = mmap(g + 4096, 3 * 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p != g + 4096)
		return 2;
	if (syscall(SYS_madvise, p + 4096, 4096, MADV_DONTFORK))
		return 3;
	if (mprotect(p + 2 * 4096, 4096, PROT_READ | PROT_WRITE))
		return 4;
	printf("p=%lx\n", (unsigned long)p);
	fflush(stdout);
	if (!vmc_dump_maps || vmc_dump_maps(1))
		return 5;
	return 0;
}
