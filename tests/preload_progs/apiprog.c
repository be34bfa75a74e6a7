/*
 * apiprog.c - a program built against include/vmacheck.h, for
 * tests/test_preload_run.c.  Without the preload the weak symbols are
 * absent (NULL) and it says so; with it, it maps five read-only pages,
 * prints their span, asks for a check and dumps the shadow's view to
 * stdout:
 *
 *   api: absent                      (without the preload)
 *
 *   api: enabled=1                   (with it)
 *   api: check_now=0
 *   mine=START-END                   (hex, no 0x)
 *   START-END PERMS ORIGIN           (vmc_dump_maps, one line a VMA)
 *   ...
 *   api: dump=0
 *   api: bad=22 22 22 22 22          (errno of the fault-callback calls
 *                                     given bad arguments: all EINVAL)
 */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "vmacheck.h"

#define PAGE 4096ul

int main(void)
{
	if (!vmc_enabled) {
		int all_absent = !vmc_check_now && !vmc_dump_maps &&
				 !vmc_map_with_ops && !vmc_set_ops &&
				 !vmc_wrprotect && !vmc_clear_ops;
		printf("api: absent%s\n", all_absent ? "" : " (but not all!)");
		return all_absent ? 0 : 1;
	}
	printf("api: enabled=%d\n", vmc_enabled());
	char *p = mmap(NULL, 5 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (p == MAP_FAILED)
		return 2;
	printf("api: check_now=%d\n", vmc_check_now());
	printf("mine=%lx-%lx\n", (unsigned long)p,
	       (unsigned long)(p + 5 * PAGE));
	fflush(stdout);
	int r = vmc_dump_maps(1);
	printf("api: dump=%d\n", r);
	/* Bad arguments: -1 or MAP_FAILED, errno EINVAL, nothing mapped. */
	static const struct vmc_vm_ops ops = { 0 };
	int e[5];
	errno = 0;
	e[0] = vmc_map_with_ops(NULL, PAGE, PROT_READ,
				MAP_SHARED | MAP_ANONYMOUS, &ops,
				NULL) == MAP_FAILED ? errno : 0;
	errno = 0;
	e[1] = vmc_map_with_ops(NULL, 100, PROT_READ,
				MAP_PRIVATE | MAP_ANONYMOUS, &ops,
				NULL) == MAP_FAILED ? errno : 0;
	errno = 0;
	e[2] = vmc_set_ops(p + 1, PAGE, &ops, NULL) ? errno : 0;
	errno = 0;
	e[3] = vmc_wrprotect(p, PAGE) ? errno : 0;
	errno = 0;
	e[4] = vmc_clear_ops(p) ? errno : 0;
	printf("api: bad=%d %d %d %d %d\n", e[0], e[1], e[2], e[3], e[4]);
	munmap(p, 5 * PAGE);
	return 0;
}
