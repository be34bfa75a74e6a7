/*
 * leak.c - mapping leaks: a scratch buffer mapped in a loop and never
 * unmapped, its pointer dropped each time (`leak`, one finding for the
 * three with their bytes), and a table kept to exit through a global
 * (`leak-reachable`, information only).
 *
 * Lines marked "expect:" are what the integration tests look for.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static char *table; /* kept to exit: reachable */

__attribute__((noinline)) static unsigned checksum_scratch(unsigned seed)
{
	char *p = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, /* expect: leak in checksum_scratch */
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	memset(p, (int)seed, 8 * 4096);
	unsigned sum = 0;
	for (int i = 0; i < 8 * 4096; i += 4096)
		sum += (unsigned char)p[i];
	return sum; /* forgot munmap(p, 8 * 4096) */
}

__attribute__((noinline)) static void make_table(void)
{
	table = mmap(NULL, 4096, PROT_READ | PROT_WRITE, /* expect: leak-reachable in make_table */
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (table != MAP_FAILED)
		strcpy(table, "kept");
}

int main(void)
{
	unsigned sum = 0;
	volatile unsigned rounds = 3; /* one call site, not unrolled */
	for (unsigned i = 1; i <= rounds; i++)
		sum += checksum_scratch(i);
	make_table();
	printf("leak: checksum %u, table %s\n", sum,
	       table != MAP_FAILED ? table : "?");
	return 0;
}
