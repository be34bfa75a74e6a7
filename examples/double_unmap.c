/*
 * double_unmap.c - a buffer unmapped twice: once when its owner is done,
 * once more through a stale copy of the pointer.  `double-unmap`, with
 * the stack of the first munmap (previous) and of the mmap (created).
 * Had anything been mapped there in between, the second munmap would
 * have destroyed it.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>

struct buf {
	char *p;
	size_t len;
};

__attribute__((noinline)) static void buf_release(struct buf *b)
{
	munmap(b->p, b->len); /* expect: double-unmap in buf_release */
}

int main(void)
{
	struct buf b = { mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
			 2 * 4096 };
	if (b.p == MAP_FAILED)
		return 1;
	b.p[0] = 1;
	struct buf stale = b;
	buf_release(&b);
	buf_release(&stale);
	printf("double_unmap: done\n");
	return 0;
}
