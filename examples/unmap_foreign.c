/*
 * unmap_foreign.c - munmap of memory the program did not map: a large
 * malloc() block (glibc's own mapping) unmapped directly instead of
 * free()d.  `unmap-foreign`: glibc still has the block in its books.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(void)
{
	char *big = malloc(1u << 20);
	if (!big)
		return 1;
	memset(big, 1, 1u << 20);
	char *start = (char *)((uintptr_t)big & ~(uintptr_t)4095);
	int r = munmap(start, 1u << 20); /* expect: unmap-foreign in main */
	printf("unmap_foreign: munmap returned %d\n", r);
	return 0;
}
