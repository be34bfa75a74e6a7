/*
 * untracked_raw_calls.c - a tracked buffer changed three times behind
 * vmacheck's back, by raw system calls (as a runtime with its own syscall
 * layer might): part unmapped, part moved, part discarded.  With
 * --uffd on, the kernel tells vmacheck's monitor of each (userfaultfd
 * UNMAP, REMAP and REMOVE events): three `untracked-change` warnings, one
 * for each, naming where the buffer was created; the intercepted munmap
 * and madvise calls that follow are not reported.  (Without --uffd the
 * unmap and the move are found by the next check; the discard changes no
 * mapping and goes unseen.)
 *
 *     vmacheck --uffd on -- build/examples/untracked_raw_calls
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PG 4096ul

__attribute__((noinline)) static char *make_buffer(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, /* expect: untracked-change untracked-change untracked-change in make_buffer */
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return NULL;
	}
	memset(p, 1, len);
	return p;
}

int main(void)
{
	char *buf = make_buffer(16 * PG);
	if (!buf)
		return 1;
	/* A free place for the move, found with raw calls too. */
	long to = syscall(SYS_mmap, 0, 4 * PG, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	syscall(SYS_munmap, to, 4 * PG);
	syscall(SYS_munmap, buf + 12 * PG, 4 * PG);             /* unmap */
	char *moved = (char *)syscall(SYS_mremap, buf + 8 * PG, 4 * PG,
				      4 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
				      to);                       /* move */
	syscall(SYS_madvise, buf, 4 * PG, MADV_DONTNEED);       /* discard */
	printf("untracked_raw_calls: discarded byte %d, moved byte %d\n",
	       buf[0], moved[0]);
	/* The program's own calls, intercepted: nothing to report. */
	madvise(buf + 4 * PG, 4 * PG, MADV_DONTNEED);
	munmap(buf, 8 * PG);
	munmap(moved, 4 * PG);
	return 0;
}
