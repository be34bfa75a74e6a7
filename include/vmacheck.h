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

/* ---- fault callbacks: the kernel's vm_operations_struct, in user space --
 *
 * vmc_map_with_ops() maps anonymous private memory (as mmap would, and
 * tracked like any mapping) and hands its page faults to `ops`, through
 * vmacheck's userfaultfd monitor:
 *
 *   fault         the first touch of a page not present (MISSING mode):
 *                 fill vmf->page (a page-sized buffer) and return
 *                 VMC_FAULT_FILLED, or return VMC_FAULT_ZERO for a page of
 *                 zeros.  Any other value: a page of zeros, counted as an
 *                 error.  NULL: zeros.
 *   page_mkwrite  the first write to a page (WP mode): called before the
 *                 write is let through; the page still holds its old
 *                 content, readable at `address`.  Again after each
 *                 vmc_wrprotect().  NULL: writes are not watched.
 *   open          the area was copied: called in a fork child, once per
 *                 area, on the child's monitor.
 *   close         the area was unmapped whole (by anyone).
 *   mremap        the area moved (mremap) from old_start to its new start.
 *                 close and mremap follow the kernel's events: they run
 *                 just after the call that caused them has returned, not
 *                 before it returns.
 *
 * Contract: every callback runs on the monitor thread, one at a time, with
 * all signals blocked.  A callback may read and write its own memory, call
 * read/pread/write, malloc and free, take its own locks and use errno.  It
 * must not touch a page of any vmc area that is not present (the monitor
 * would wait for itself), must not wait for a thread that may be faulting
 * on an area, and should not call the mmap family (such calls are not
 * tracked).  `area` is valid for the duration of the call; area->priv is
 * the caller's.
 *
 * Without userfaultfd (an old kernel, no permission) vmc_map_with_ops()
 * still works: `fault` is called for every page at once, before it
 * returns, and page_mkwrite never; vmacheck says so once on stderr.
 * Returns the mapping, or MAP_FAILED with errno set (EINVAL: bad
 * arguments; ENOMEM; ENOSPC: too many areas).  Without the preload the
 * function pointer is NULL. */
struct vmc_area {
	void *start;                       /* page aligned */
	unsigned long len;                 /* bytes, a multiple of the page */
	const struct vmc_vm_ops *ops;
	void *priv;
};

struct vmc_fault {
	void *address;          /* the faulting page, page aligned */
	unsigned long pgoff;    /* its index in the area */
	void *page;             /* fill this (one page), for VMC_FAULT_FILLED */
	int write;              /* the access was a write */
	int tid;                /* the faulting thread, 0 if unknown */
};

enum { VMC_FAULT_FILLED = 0, VMC_FAULT_ZERO = 1 };

struct vmc_vm_ops {
	void (*open)(const struct vmc_area *area);
	void (*close)(const struct vmc_area *area);
	void (*mremap)(const struct vmc_area *area, void *old_start);
	int (*fault)(const struct vmc_area *area, struct vmc_fault *vmf);
	void (*page_mkwrite)(const struct vmc_area *area, void *address);
};

/* addr: a hint, or with MAP_FIXED (or MAP_FIXED_NOREPLACE) the place;
 * flags: MAP_PRIVATE | MAP_ANONYMOUS plus MAP_FIXED(_NOREPLACE),
 * MAP_NORESERVE; prot: PROT_READ, PROT_WRITE. */
void *vmc_map_with_ops(void *addr, unsigned long len, int prot, int flags,
		       const struct vmc_vm_ops *ops, void *priv)
	__attribute__((weak));

/* Give callbacks to an existing anonymous private mapping (whole VMAs,
 * [addr, addr+len) exactly as mapped): pages already present are not
 * faulted again.  0, or -1 with errno (EINVAL, ENOSPC, EBUSY: registered
 * already, ENOSYS: no userfaultfd). */
int vmc_set_ops(void *addr, unsigned long len, const struct vmc_vm_ops *ops,
		void *priv) __attribute__((weak));

/* Write-protect [addr, addr+len) of an area with page_mkwrite again: the
 * next write to each page calls page_mkwrite.  0 or -1 with errno. */
int vmc_wrprotect(void *addr, unsigned long len) __attribute__((weak));

/* Remove the callbacks of the area at addr (the pages stay); close is not
 * called.  0, or -1 with errno EINVAL (no such area). */
int vmc_clear_ops(void *addr) __attribute__((weak));

#ifdef __cplusplus
}
#endif

#endif
