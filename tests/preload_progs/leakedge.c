/*
 * leakedge.c - leaks next to other mappings, for the leak scan's limit
 * pointers: a pointer one past a mapping's end keeps it reachable, unless
 * another mapping starts there (then it points to that one).
 *   B, two pages mapped by a raw system call (foreign memory, as the
 *   loader's own blocks are), its start kept in a global;
 *   A, one page right below B, nothing pointing into it: a leak (the
 *   pointer to B's first byte is B's, not A's limit pointer);
 *   C, one page with free space after it, only a pointer one past its end
 *   kept: reachable.
 *   D, two pages whose only pointer lies in the 401st of a row of 600
 *   one-page mappings side by side (prot alternating, so that they stay
 *   apart; a global keeps each), the rest of the row never touched:
 *   reachable.  The row is reached through the global, and scanned
 *   from its top page down: D's pointer is found through pagemap entries
 *   read with a page above it (the scan's read-ahead window).
 * All four are placed in empty address space (16 TiB up), so that no
 * mapping of the C library or the loader is next to them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096ul

char *keep_b;      /* B's first byte: A's end */
char *keep_c_end;  /* one past C's last byte */
#define ROW 600
char *row[ROW];    /* the row of D's pointer */

static char *map_at(char *at, unsigned long len)
{
	char *p = mmap(at, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		       0);
	if (p != at)
		return NULL;
	p[0] = 1;
	return p;
}

__attribute__((noinline)) static int make(void)
{
	char *base = (char *)(16ul << 40);
	char *b = (char *)syscall(SYS_mmap, base + 2 * PAGE, 2 * PAGE,
				  PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS |
					  MAP_FIXED_NOREPLACE,
				  -1, 0);
	if (b != base + 2 * PAGE)
		return 1;
	b[0] = 1;
	char *a = map_at(base + PAGE, PAGE);
	char *c = map_at(base + 16 * PAGE, PAGE);
	if (!a || !c)
		return 1;
	keep_b = b;
	keep_c_end = c + PAGE;
	char *d = map_at(base + 8192 * PAGE, 2 * PAGE);
	if (!d)
		return 1;
	for (int i = 0; i < ROW; i++) {
		char *at = base + (4096 + i) * PAGE;
		row[i] = mmap(at, PAGE,
			      i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			      -1, 0);
		if (row[i] != at)
			return 1;
	}
	((char **)row[400])[1] = d + 8;
	return 0;
}

/* make()'s frame, dead now, may still hold D's address: cleared, so that
 * the row's page is the only place it is found. */
__attribute__((noinline)) static void scrub(void)
{
	char pad[16384];
	explicit_bzero(pad, sizeof(pad));
}

int main(void)
{
	if (make())
		return 2;
	scrub();
	printf("leakedge: mapped\n");
	return 0;
}
