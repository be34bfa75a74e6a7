/*
 * vmacheck.h - what a program may ask of vmacheck while it runs under it.
 *
 * Optional: a program need not include this.  The functions are declared
 * weak, so a program built against this header runs unchanged without the
 * preload (test `vmc_enabled` or the function pointer first):
 *
 *     if (vmc_check_now) vmc_check_now();
 *
 * All are MT-safe; none is async-signal-safe.
 */
#ifndef VMACHECK_H
#define VMACHECK_H

#ifdef __cplusplus
extern "C" {
#endif

/* Compare the shadow with the kernel now (a full check).  Returns the
 * number of disagreements found on tracked mappings, or -1 when vmacheck
 * is not active. */
int vmc_check_now(void) __attribute__((weak));

/* Write the shadow's view to fd, one line a VMA, maps-like, with the
 * origin of the pages at its start: "start-end perms origin".  Returns 0,
 * or -1 when vmacheck is not active. */
int vmc_dump_maps(int fd) __attribute__((weak));

/* 1 when vmacheck is tracing this process, else 0. */
int vmc_enabled(void) __attribute__((weak));

#ifdef __cplusplus
}
#endif

#endif
