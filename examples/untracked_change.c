/*
 * untracked_change.c - a tracked mapping changed behind vmacheck's back:
 * the program maps a buffer through libc, then unmaps half of it with a
 * raw system call (as a JIT or a language runtime with its own syscall
 * layer might), which no interposer sees.  vmacheck finds it at its next
 * check and reports an `untracked-change` naming where the buffer was
 * created.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) static char *make_buffer(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, /* expect: untracked-change in make_buffer */
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
	char *buf = make_buffer(16 * 4096);
	if (!buf)
		return 1;
	/* The raw unmap of the second half. */
	syscall(SYS_munmap, buf + 8 * 4096, 8 * 4096);
	printf("untracked_change: first byte %d\n", buf[0]);
	munmap(buf, 8 * 4096);
	return 0;
}
