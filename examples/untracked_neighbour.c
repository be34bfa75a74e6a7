/*
 * untracked_neighbour.c - a neighbour changed behind vmacheck's back, then
 * taken in by a merge: the program maps two pages, makes the first
 * read-only with a raw system call (which no interposer sees), then makes
 * the second read-only through libc.  The kernel merges the two into one
 * read-only VMA.  vmacheck reports the raw change as an `untracked-change`
 * naming where the pages were created: at its next check by default (here
 * the one at exit), and under `--check call` as soon as the merge brings
 * the neighbour into view.  Never as a fault of its own model
 * (`shadow-divergence`).  The pages stay mapped, kept in a global.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) static char *make_pair(void)
{
	char *p = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, /* expect: untracked-change leak-reachable in make_pair */
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return NULL;
	}
	p[0] = 1;
	p[4096] = 2;
	return p;
}

char *pair; /* scanned at exit: the pages stay reachable */

int main(void)
{
	char *p = pair = make_pair();
	if (!p)
		return 1;
	/* The raw change of the first page... */
	if (syscall(SYS_mprotect, p, 4096, PROT_READ)) {
		perror("raw mprotect");
		return 1;
	}
	/* ...and the program's own change of the second: one VMA now. */
	if (mprotect(p + 4096, 4096, PROT_READ)) {
		perror("mprotect");
		return 1;
	}
	printf("untracked_neighbour: %d %d\n", p[0], p[4096]);
	return 0;
}
