/*
 * fault_lifecycle.c - the other callbacks of struct vmc_vm_ops: `mremap`
 * when the area moves, `open` in a fork child (the area copied, its
 * faults now served by the child's monitor), `close` when it is unmapped.
 * `mremap` and `close` come from the kernel's events: they run on the
 * monitor thread just after the call that caused them has returned, so
 * the program waits for them (settle()).
 *
 *     vmacheck -- build/examples/fault_lifecycle
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmacheck.h"

#define PAGE 4096ul
#define NPAGES 16

static unsigned opened, closed, moved, faults;
static void *moved_from;

static int fill(const struct vmc_area *a, struct vmc_fault *vmf)
{
	(void)a;
	faults++;
	*(unsigned long *)vmf->page = 1000 + vmf->pgoff;
	return VMC_FAULT_FILLED;
}

static void on_open(const struct vmc_area *a) { (void)a; opened++; }
static void on_close(const struct vmc_area *a) { (void)a; closed++; }
static void on_mremap(const struct vmc_area *a, void *old)
{
	(void)a;
	moved++;
	moved_from = old;
}

/* Wait (up to a second) until *counter reaches want. */
static int settle(const unsigned *counter, unsigned want)
{
	for (int i = 0; i < 1000; i++) {
		if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) >= want)
			return 1;
		usleep(1000);
	}
	return 0;
}

static const struct vmc_vm_ops ops = { .open = on_open, .close = on_close,
				       .mremap = on_mremap, .fault = fill };

int main(void)
{
	if (!vmc_map_with_ops) {
		fprintf(stderr, "fault_lifecycle: run it under vmacheck\n");
		return 0;
	}
	char *p = vmc_map_with_ops(NULL, NPAGES * PAGE, PROT_READ,
				   MAP_PRIVATE | MAP_ANONYMOUS, &ops, NULL);
	if (p == MAP_FAILED)
		return 1;
	unsigned long v0 = *(unsigned long *)p;
	/* Move it: a free place, then MREMAP_FIXED. */
	char *to = mmap(NULL, NPAGES * PAGE, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(to, NPAGES * PAGE);
	char *q = mremap(p, NPAGES * PAGE, NPAGES * PAGE,
			 MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (q != to)
		return 1;
	int ok = v0 == 1000 && *(unsigned long *)q == 1000 &&
		 settle(&moved, 1) && moved == 1 && moved_from == p;
	/* The moved area still faults through the callback. */
	ok &= *(unsigned long *)(q + 3 * PAGE) == 1003;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* Copied pages are there; a new page faults in the child. */
		int cok = opened == 1 &&
			  *(unsigned long *)q == 1000 &&
			  *(unsigned long *)(q + 7 * PAGE) == 1007;
		printf("fault_lifecycle: child: open %u, %s\n", opened,
		       cok ? "pages ok" : "pages WRONG");
		fflush(stdout);
		_exit(cok ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	munmap(q, NPAGES * PAGE);
	settle(&closed, 1);
	printf("fault_lifecycle: parent: faults %u, mremap %u, open %u, "
	       "close %u, child %d\n", faults, moved, opened, closed,
	       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	ok &= opened == 0 && closed == 1 && faults == 2 && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0;
	/* Twelve one-page areas side by side, unmapped by one call: twelve
	 * closes. */
	char *r = mmap(NULL, 12 * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned made = 0;
	for (int i = 0; r != MAP_FAILED && i < 12; i++)
		made += vmc_map_with_ops(r + i * PAGE, PAGE, PROT_READ,
					 MAP_PRIVATE | MAP_ANONYMOUS |
						 MAP_FIXED,
					 &ops, NULL) == r + i * PAGE;
	munmap(r, 12 * PAGE);
	settle(&closed, 1 + made);
	printf("fault_lifecycle: %u areas unmapped by one call: close %u\n",
	       made, closed - 1);
	ok &= made == 12 && closed == 13;
	return ok ? 0 : 1;
}
