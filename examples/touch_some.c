/*
 * touch_some.c - what --uffd=touch measures: a buffer of 100 pages of
 * which 30 are written and 20 only read, then unmapped; a 64-page
 * reservation never written (mapped for nothing); and a 10-page table
 * kept to the end (reachable) with 5 pages written.  The report's call
 * sites show the pages written of the pages mapped, and how many
 * mappings were never written.
 *
 *     vmacheck --uffd touch -- build/examples/touch_some
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>

#define PG 4096ul

static char *table; /* kept for the whole run */

__attribute__((noinline)) static char *map_pages(size_t n)
{
	char *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

__attribute__((noinline)) static char *map_spare(size_t n)
{
	char *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int main(void)
{
	char *buf = map_pages(100);
	char *spare = map_spare(64);
	table = map_pages(10);
	if (!buf || !spare || !table)
		return 1;
	unsigned sum = 0;
	for (size_t i = 0; i < 30; i++)
		buf[i * 3 * PG] = 1;               /* pages 0, 3, ..., 87 */
	for (size_t i = 0; i < 20; i++)
		sum += (unsigned char)buf[(i * 3 + 1) * PG]; /* read only */
	for (size_t i = 0; i < 5; i++)
		table[i * 2 * PG] = 2;
	munmap(buf, 100 * PG);
	munmap(spare, 64 * PG);
	printf("touch_some: read %u\n", sum);
	return 0;
}
