/*
 * clean_file_kept.c - a configuration file mapped once and kept for the
 * life of the program through a global, as many programs do: still mapped
 * at exit, but reachable, so only a `leak-reachable` note (information).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *config; /* the whole file, for the whole run */
static size_t config_len;

int main(void)
{
	char path[] = "/tmp/clean_file_kept-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 1;
	const char text[] = "answer=42\n";
	if (write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1))
		return 1;
	unlink(path);
	struct stat st;
	if (fstat(fd, &st))
		return 1;
	config_len = (size_t)st.st_size;
	config = mmap(NULL, config_len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (config == MAP_FAILED)
		return 1;
	printf("clean_file_kept: %.*s", (int)config_len, config);
	return 0;
}
