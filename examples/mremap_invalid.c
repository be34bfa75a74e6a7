/*
 * mremap_invalid.c - mremap called with an address that is not the start
 * of a page (a pointer into the buffer instead of its start): EINVAL.
 * `mremap-invalid`, with the reason.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void)
{
	char *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	char *q = mremap(p + 16, 4 * 4096, 8 * 4096, /* expect: mremap-invalid in main */
			 MREMAP_MAYMOVE);
	printf("mremap_invalid: %s\n",
	       q == MAP_FAILED ? strerror(errno) : "moved");
	munmap(p, 4 * 4096);
	return 0;
}
