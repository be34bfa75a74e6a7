/*
 * unmap_unmapped.c - munmap of an address range that was never mapped
 * (an uninitialised or corrupted pointer that happens to be page-aligned).
 * The kernel says success; vmacheck says `unmap-unmapped`.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

int main(void)
{
	/* Far from anything the loader or malloc uses. */
	void *bogus = (void *)(uintptr_t)0x100000000000ull;
	int r = munmap(bogus, 3 * 4096); /* expect: unmap-unmapped in main */
	printf("unmap_unmapped: munmap returned %d\n", r);
	return 0;
}
