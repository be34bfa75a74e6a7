/*
 * clean_partial_unmap.c - a program that trims its own mappings: an
 * aligned allocation made by over-mapping and unmapping head and tail,
 * a buffer shrunk from both ends, a hole punched in the middle, then
 * everything unmapped piece by piece.  No finding of warning or error
 * severity.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define ALIGN (2u << 20)

static void *map_aligned(size_t len)
{
	char *p = mmap(NULL, len + ALIGN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *a = (char *)(((uintptr_t)p + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + len < p + len + ALIGN)
		munmap(a + len, (size_t)(p + len + ALIGN - (a + len)));
	return a;
}

int main(void)
{
	char *a = map_aligned(ALIGN);
	if (!a)
		return 1;
	memset(a, 3, ALIGN);
	char *b = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		return 1;
	memset(b, 5, 16 * 4096);
	munmap(b, 2 * 4096);              /* head */
	munmap(b + 14 * 4096, 2 * 4096);  /* tail */
	munmap(b + 7 * 4096, 2 * 4096);   /* a hole */
	printf("clean_partial_unmap: %d %d\n", a[ALIGN - 1], b[3 * 4096]);
	munmap(b + 2 * 4096, 5 * 4096);
	munmap(b + 9 * 4096, 5 * 4096);
	munmap(a, ALIGN);
	return 0;
}
