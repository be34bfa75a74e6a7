/*
 * brkshm.c - the break and System V shared memory through the preload:
 * sbrk up and down, brk, malloc in between (glibc's own sbrk, unseen),
 * shmat read-write and read-only of one segment, shmdt.  Prints what it
 * read back; exits 0 when everything worked.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <unistd.h>

int main(void)
{
	char *a = sbrk(0);
	for (int i = 0; i < 100; i++)
		if (sbrk(3 * 4096) == (void *)-1)
			return 1;
	char *b = sbrk(0);
	b[-1] = 7; /* the new break's last byte is ours */
	for (int i = 0; i < 50; i++)
		if (sbrk(-3 * 4096) == (void *)-1)
			return 2;
	if (brk(b - 50 * 3 * 4096 + 65536))
		return 3;
	char *p = malloc(200000);
	memset(p, 1, 200000);
	free(p);
	int id = shmget(IPC_PRIVATE, 3 * 4096, IPC_CREAT | 0600);
	if (id < 0)
		return 4;
	char *s = shmat(id, NULL, 0);
	char *r = shmat(id, NULL, SHM_RDONLY);
	if (s == (void *)-1 || r == (void *)-1)
		return 5;
	s[4096] = 42;
	printf("brkshm: heap grew %ld bytes, read back %d through the "
	       "read-only attach\n", (long)(b - a), r[4096]);
	if (shmdt(s) || shmdt(r))
		return 6;
	shmctl(id, IPC_RMID, NULL);
	return 0;
}
