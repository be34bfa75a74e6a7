/*
 * mremap_past_object.c - a shared file mapping grown by mremap past the
 * end of its file: the new pages exist, but touching them raises SIGBUS.
 * `mremap-past-object`.  (The program grows the file afterwards only in
 * its intentions; it never touches the tail.)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	char path[] = "/tmp/mremap_past_object-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 4096))
		return 1;
	unlink(path);
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 1;
	p[0] = 'x';
	char *q = mremap(p, 4096, 4 * 4096, MREMAP_MAYMOVE); /* expect: mremap-past-object in main */
	printf("mremap_past_object: %s\n", q == MAP_FAILED ? "failed" : "grown");
	munmap(q == MAP_FAILED ? p : q, q == MAP_FAILED ? 4096 : 4 * 4096);
	close(fd);
	return 0;
}
