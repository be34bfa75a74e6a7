/*
 * vforker.c - vfork under the preload, for tests/test_preload_run.c.  A
 * vfork child shares the parent's memory, the preload's state included,
 * until it calls execve or _exit; it must leave that state as it was.
 * Each round the parent maps and fills a region, vforks a child that
 * only does one of: _exit(7); execve("/bin/true") (then _exit(127));
 * execve of a path that does not exist (then _exit(8)); then the parent
 * checks the child's status, and keeps mapping on the region (protect,
 * grow, verify, unmap) and elsewhere.
 *
 * Output, deterministic: "vforker: 30 rounds, parent ok, children ok".
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096ul
#define ROUNDS 30

extern char **environ;

/* vfork a child that only calls _exit or execve (mode 0, 1, 2). */
static __attribute__((noinline)) pid_t spawn(int mode)
{
	static char *args[] = { "true", NULL };
	pid_t pid = vfork();
	if (pid == 0) {
		if (mode == 0)
			_exit(7);
		if (mode == 1) {
			execve("/bin/true", args, environ);
			_exit(127);
		}
		execve("/nonexistent/vforker-target", args, environ);
		_exit(8);
	}
	return pid;
}

int main(void)
{
	int bad = 0, children_bad = 0;
	for (int r = 0; r < ROUNDS; r++) {
		size_t pages = 2 + (size_t)r % 5;
		char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 2;
		for (size_t k = 0; k < pages; k++)
			p[k * PAGE] = (char)(r + (int)k);
		int want = r % 3 == 0 ? 7 : r % 3 == 1 ? 0 : 8;
		pid_t pid = spawn(r % 3);
		if (pid < 0)
			return 2;
		int st = 0;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != want)
			children_bad++;
		/* The parent carries on with the region it made before. */
		if (mprotect(p, PAGE, PROT_READ) ||
		    mprotect(p, PAGE, PROT_READ | PROT_WRITE))
			bad = 1;
		char *q = mremap(p, pages * PAGE, (pages + 3) * PAGE,
				 MREMAP_MAYMOVE);
		if (q == MAP_FAILED)
			return 2;
		for (size_t k = 0; k < pages; k++)
			if (q[k * PAGE] != (char)(r + (int)k))
				bad = 1;
		q[(pages + 2) * PAGE] = 1;
		if (munmap(q, (pages + 3) * PAGE))
			bad = 1;
		char *t = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (t == MAP_FAILED || munmap(t + PAGE, PAGE) ||
		    munmap(t, 3 * PAGE))
			bad = 1;
	}
	printf("vforker: %d rounds, parent %s, children %s\n", ROUNDS,
	       bad ? "BAD" : "ok", children_bad ? "BAD" : "ok");
	return bad || children_bad ? 1 : 0;
}
