/*
 * fault_lazy_file.c - a file loaded lazily, page by page, on first touch,
 * the way a filesystem's `fault` fills the page cache: the area is mapped
 * with vmc_map_with_ops(); its `fault` callback preads the page from the
 * file.  Pages never touched are never read.
 *
 *     vmacheck -- build/examples/fault_lazy_file
 *
 * prints the pages read and a checksum; exit 0 when every touched page
 * holds the file's bytes and only touched pages were read.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmacheck.h"

#define PAGE 4096
#define NPAGES 64

struct lazy {
	int fd;
	unsigned reads;      /* pages read from the file */
	unsigned closed;     /* close callbacks */
};

static int lazy_fault(const struct vmc_area *a, struct vmc_fault *vmf)
{
	struct lazy *l = a->priv;
	ssize_t n = pread(l->fd, vmf->page, PAGE, (off_t)vmf->pgoff * PAGE);
	if (n < 0)
		return -1;
	if (n < PAGE) /* past the end of the file: zeros, as a file map */
		memset((char *)vmf->page + n, 0, PAGE - (size_t)n);
	l->reads++;
	return VMC_FAULT_FILLED;
}

static void lazy_close(const struct vmc_area *a)
{
	((struct lazy *)a->priv)->closed++;
}

static const struct vmc_vm_ops lazy_ops = {
	.fault = lazy_fault,
	.close = lazy_close,
};

int main(void)
{
	if (!vmc_map_with_ops) {
		fprintf(stderr, "fault_lazy_file: run it under vmacheck\n");
		return 0;
	}
	char path[] = "/tmp/fault_lazy_file-XXXXXX";
	struct lazy l = { .fd = mkstemp(path) };
	if (l.fd < 0)
		return 1;
	unlink(path);
	static unsigned char buf[NPAGES * PAGE];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i / PAGE * 7 + i % 251);
	if (write(l.fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		return 1;
	unsigned char *p = vmc_map_with_ops(NULL, NPAGES * PAGE, PROT_READ,
					    MAP_PRIVATE | MAP_ANONYMOUS,
					    &lazy_ops, &l);
	if (p == MAP_FAILED) {
		perror("fault_lazy_file: vmc_map_with_ops");
		return 1;
	}
	/* Touch every fifth page, twice: one read each. */
	unsigned long sum = 0, want = 0, touched = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < NPAGES; pg += 5) {
			for (size_t k = 0; k < PAGE; k += 512) {
				sum += p[pg * PAGE + k];
				want += buf[pg * PAGE + k];
			}
			touched += pass == 0;
		}
	int ok = sum == want && l.reads == touched;
	printf("fault_lazy_file: %u of %d pages read from the file (%lu "
	       "touched), checksum %s\n", l.reads, NPAGES, touched,
	       sum == want ? "ok" : "WRONG");
	munmap(p, NPAGES * PAGE);
	/* close follows the kernel's UNMAP event: it runs on the monitor
	 * just after munmap has returned. */
	for (int i = 0; i < 1000 && !__atomic_load_n(&l.closed,
						       __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	printf("fault_lazy_file: close called %u time(s)\n", l.closed);
	close(l.fd);
	return ok && l.closed == 1 ? 0 : 1;
}
