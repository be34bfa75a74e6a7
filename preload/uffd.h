/*
 * uffd.h - the userfaultfd monitor (uffd.c), as the runtime sees it.
 */
#ifndef VMC_UFFD_H
#define VMC_UFFD_H

#include <stdbool.h>
#include <stdint.h>

#include "vmacheck.h"

/* An event no intercepted call explained. */
enum { VMC_UFFD_UNMAP = 1, VMC_UFFD_REMAP, VMC_UFFD_REMOVE };
struct vmc_uffd_note {
	uint8_t event;
	uint64_t start, end;   /* the pages */
	uint64_t to;           /* REMAP: where they went */
};

struct vmc_uffd_stats {
	int mode;              /* enum vmc_uffd_mode */
	bool active;           /* the monitor runs in this process */
	bool async;            /* touch tracking by WP_ASYNC + PAGEMAP_SCAN */
	bool user_only;        /* UFFD_USER_MODE_ONLY (unprivileged) */
	uint64_t features;     /* granted */
	uint64_t faults, fault_calls, fault_errors, mkwrite_calls;
	uint64_t unclaimed_faults, events, lost_notes;
	uint64_t registered, register_failed, wp_failed;
};

/* Options known (the constructor: may start the monitor). */
void vmc_uffd_init(int mode);
bool vmc_uffd_active(void);
bool vmc_uffd_touch_async(void);
/* --uffd=touch with the monitor up */
bool vmc_uffd_touch_mode(void);
/* The intercepted call about to run (its pages [s,e) and [s2,e2)), and
 * done.  Under the runtime's lock. */
void vmc_uffd_expect(uint8_t call, uint64_t s, uint64_t e, uint64_t s2,
		     uint64_t e2);
void vmc_uffd_expect_done(void);
/* The next unexplained event, or false. */
bool vmc_uffd_next_note(struct vmc_uffd_note *n);
/* --uffd=on/touch: register a tracked mapping just made; returns the uffd
 * bits it now has (0: not registered). */
uint32_t vmc_uffd_track(uint64_t start, uint64_t len);
/* Pages written (uffd-wp bit cleared, not the zero page) and present in
 * [start, end), by PAGEMAP_SCAN.  0 or -errno. */
int vmc_uffd_written(uint64_t start, uint64_t end, uint64_t *written,
		     uint64_t *present);
void vmc_uffd_stats(struct vmc_uffd_stats *s);
void vmc_uffd_atfork_child(void);

/* The API of include/vmacheck.h. */
void *vmc_uffd_map_with_ops(void *addr, unsigned long len, int prot,
			    int flags, const struct vmc_vm_ops *ops,
			    void *priv, void *caller);
int vmc_uffd_set_ops(void *addr, unsigned long len,
		     const struct vmc_vm_ops *ops, void *priv);
int vmc_uffd_wrprotect(void *addr, unsigned long len);
int vmc_uffd_clear_ops(void *addr);

/* runtime.c, for uffd.c */
void vmc_thread_untraced(void);
void vmc_rt_uffd_registered(uint64_t start, uint64_t len, uint32_t uflags,
			    bool lock);
/* interpose.c: a call made as if the program had made it at `caller` */
struct vmc_call;
int64_t vmc_call_traced(struct vmc_call *c, void *caller);
/* findings.c */
int vmc_pagemap_fd(void);

#endif
