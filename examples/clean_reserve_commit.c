/*
 * clean_reserve_commit.c - the reserve-then-commit pattern of JVMs, V8
 * and allocators: reserve 64 MiB PROT_NONE, commit chunks inside it with
 * MAP_FIXED (and with mprotect), use them, decommit with MAP_FIXED
 * PROT_NONE again, release the whole reservation at the end.  A module
 * replacing its own reservation is not a clobber: no finding of warning
 * or error severity.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define RESERVE (64u << 20)
#define CHUNK (1u << 20)

int main(void)
{
	char *base = mmap(NULL, RESERVE, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return 1;
	unsigned long sum = 0;
	for (unsigned i = 0; i < 16; i++) {
		char *c = mmap(base + i * CHUNK, CHUNK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (c == MAP_FAILED)
			return 1;
		memset(c, (int)i, CHUNK);
		sum += (unsigned char)c[CHUNK - 1];
	}
	/* The second half committed with mprotect instead. */
	if (mprotect(base + 32 * CHUNK, 8 * CHUNK, PROT_READ | PROT_WRITE))
		return 1;
	memset(base + 32 * CHUNK, 1, 8 * CHUNK);
	/* Decommit: back to a reservation (untouched chunks only). */
	for (unsigned i = 40; i < 48; i++)
		mmap(base + i * CHUNK, CHUNK, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		     -1, 0);
	printf("clean_reserve_commit: sum %lu\n", sum);
	munmap(base, RESERVE);
	return 0;
}
