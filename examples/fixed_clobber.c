/*
 * fixed_clobber.c - MAP_FIXED over pages that are not the caller's to
 * replace: first over a buffer malloc() got from glibc's own mmap (foreign
 * memory: glibc still thinks it owns it), then over the program's own
 * buffer after it was filled (pages holding data: the contents are gone).
 * Both are `fixed-clobber` errors.  Its last step decommits its own
 * buffer (an anonymous PROT_NONE mapping over it), which is not.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BIG (1u << 20) /* above glibc's mmap threshold: its own mapping */

void *overlaid; /* kept (a global): the example is about clobbers, not leaks */

__attribute__((noinline)) static void *overlay(void *at, size_t len)
{
	void *p = mmap(at, len, PROT_READ | PROT_WRITE, /* expect: fixed-clobber leak-reachable in overlay */
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int main(void)
{
	char *heap = malloc(BIG);
	if (!heap)
		return 1;
	memset(heap, 7, BIG);
	/* The pages of the block after its first one: glibc's mapping. */
	char *page = (char *)(((uintptr_t)heap + 4095) & ~(uintptr_t)4095);
	overlaid = overlay(page + 4096, 4096);

	char *own = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (own == MAP_FAILED)
		return 1;
	strcpy(own, "precious");
	overlay(own, 4 * 4096);
	printf("fixed_clobber: own buffer now reads \"%s\"\n", own);
	/* Giving its own pages back while keeping the range reserved (a
	 * decommit, as V8 does) loses their contents on purpose: fine. */
	strcpy(own, "scratch");
	if (mmap(own, 4 * 4096, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
		 0) == MAP_FAILED)
		return 1;
	munmap(own, 4 * 4096);
	return 0; /* heap is leaked on purpose: freeing it now would crash */
}
