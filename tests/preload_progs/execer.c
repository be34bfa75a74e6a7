/*
 * execer.c - exec under the preload, for tests/test_preload_run.c.
 *
 *   execer           maps, forks a child that execs `execer child`, waits,
 *                    maps again, then execs itself as `execer final S`
 *                    (S the child's exit status) in the same process
 *   execer child     maps and exits 0
 *   execer final S   maps, prints, exits 0 when S was 0
 *
 * So two processes each run a fresh image under the preload and write a
 * result: the child (its own pid) and the parent (its pid, after its exec).
 * Output, deterministic: "execer: child ok" then "execer: final ok, child 0".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096ul

static int churn(long n)
{
	int bad = 0;
	for (long i = 0; i < n; i++) {
		size_t pages = 1 + (size_t)i % 6;
		char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		p[0] = (char)i;
		char *q = mremap(p, pages * PAGE, (pages + 1) * PAGE,
				 MREMAP_MAYMOVE);
		if (q == MAP_FAILED || q[0] != (char)i)
			return 1;
		if (mprotect(q, PAGE, PROT_READ) || munmap(q, (pages + 1) * PAGE))
			bad = 1;
	}
	return bad;
}

int main(int argc, char **argv)
{
	static char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 2;
	self[n] = 0;
	extern char **environ;

	if (argc > 1 && !strcmp(argv[1], "child")) {
		int bad = churn(300);
		printf("execer: child %s\n", bad ? "BAD" : "ok");
		return bad;
	}
	if (argc > 2 && !strcmp(argv[1], "final")) {
		int bad = churn(300);
		printf("execer: final %s, child %s\n", bad ? "BAD" : "ok",
		       argv[2]);
		return bad || strcmp(argv[2], "0") ? 1 : 0;
	}
	if (churn(300))
		return 1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		char *args[] = { self, "child", NULL };
		execve(self, args, environ);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (churn(300))
		return 1;
	char status[16];
	snprintf(status, sizeof(status), "%d",
		 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	char *args[] = { self, "final", status, NULL };
	execve(self, args, environ);
	perror("execer: execve");
	return 2;
}
