/*
 * mprotect_unmapped.c - mprotect across a hole: the middle page of a
 * three-page buffer was unmapped, then the whole buffer is made read-only.
 * The kernel changes the first page, stops at the hole, and says ENOMEM;
 * the third page stays writable.  `mprotect-unmapped`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void)
{
	char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	munmap(p + 4096, 4096);
	int r = mprotect(p, 3 * 4096, PROT_READ); /* expect: mprotect-unmapped in main */
	printf("mprotect_unmapped: mprotect returned %d (%s)\n", r,
	       r ? strerror(errno) : "ok");
	munmap(p, 4096);
	munmap(p + 2 * 4096, 4096);
	return 0;
}
