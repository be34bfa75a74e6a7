/*
 * fault_cow_snapshot.c - a copy-on-write snapshot built on page_mkwrite:
 * vmc_wrprotect() arms the area; the first write to each page after that
 * calls page_mkwrite while the page still holds its old content, which the
 * callback copies into the snapshot.  The snapshot then shows the area as
 * it was when taken, at the cost of copying only the pages written since.
 *
 *     vmacheck -- build/examples/fault_cow_snapshot
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmacheck.h"

#define PAGE 4096
#define NPAGES 32

struct snap {
	char *data;                 /* NPAGES pages: the old content */
	unsigned char saved[NPAGES];/* page copied since the snapshot */
	unsigned copies;
};

static void snap_mkwrite(const struct vmc_area *a, void *addr)
{
	struct snap *s = a->priv;
	size_t pg = (size_t)((char *)addr - (char *)a->start) / PAGE;
	if (s->data && !s->saved[pg]) {
		memcpy(s->data + pg * PAGE, addr, PAGE);
		s->saved[pg] = 1;
		s->copies++;
	}
}

static const struct vmc_vm_ops snap_ops = { .page_mkwrite = snap_mkwrite };

/* The snapshot's view of page pg: the copy if written since, else live. */
static const char *snap_page(const struct snap *s, const char *area,
			     size_t pg)
{
	return s->saved[pg] ? s->data + pg * PAGE : area + pg * PAGE;
}

int main(void)
{
	if (!vmc_map_with_ops) {
		fprintf(stderr, "fault_cow_snapshot: run it under vmacheck\n");
		return 0;
	}
	struct snap s = { 0 };
	char *p = vmc_map_with_ops(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, &snap_ops, &s);
	if (p == MAP_FAILED) {
		perror("fault_cow_snapshot: vmc_map_with_ops");
		return 1;
	}
	for (size_t pg = 0; pg < NPAGES; pg++)
		memset(p + pg * PAGE, 'a' + (int)(pg % 26), PAGE);
	/* Take the snapshot. */
	s.data = malloc(NPAGES * PAGE);
	if (!s.data || vmc_wrprotect(p, NPAGES * PAGE)) {
		perror("fault_cow_snapshot: snapshot");
		return 1;
	}
	/* Write to every third page, twice. */
	unsigned written = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < NPAGES; pg += 3) {
			memset(p + pg * PAGE, 'Z', PAGE / 2);
			written += pass == 0;
		}
	int ok = s.copies == written;
	for (size_t pg = 0; pg < NPAGES; pg++) {
		const char *v = snap_page(&s, p, pg);
		ok &= v[0] == 'a' + (int)(pg % 26) &&
		      v[PAGE - 1] == 'a' + (int)(pg % 26);
		ok &= p[0 + pg * PAGE] == (pg % 3 ? 'a' + (int)(pg % 26) : 'Z');
	}
	printf("fault_cow_snapshot: %u pages written after the snapshot, %u "
	       "copied; snapshot %s\n", written, s.copies,
	       ok ? "intact" : "WRONG");
	munmap(p, NPAGES * PAGE);
	free(s.data);
	return ok ? 0 : 1;
}
