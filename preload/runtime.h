/*
 * runtime.h - the state of libvmacheck.so and the hooks' one entry point.
 *
 * interpose.c holds only the interposed symbols; each one calls
 * vmc_enter(), and, when that says the tool may act, fills a struct
 * vmc_call and hands it to vmc_do_call(), which performs the system call
 * and keeps the shadow in step (runtime.c).  Calls that arrive while the
 * tool is busy on the same thread (from libunwind, from a signal handler
 * that interrupted a hook) or before the tool is ready pass straight
 * through to the kernel and are remembered for a resync.
 */
#ifndef VMC_RUNTIME_H
#define VMC_RUNTIME_H

#include <stdint.h>

#include "preload_internal.h"

struct vmc_call {
	uint8_t call;               /* enum shadow_call */
	uint8_t sub;                /* which variant (mlock2 vs mlock...) */
	uint8_t pagemap;            /* a moved mremap's source: 0 not asked
				     * yet, 1 not written, 2 written
				     * (moved_written) */
	uint64_t a[6];              /* the arguments, as passed */
	int64_t ret;                /* the kernel's result, or -errno */
	uintptr_t caller;           /* the hook's return address */
	uintptr_t slot;             /* where it is on the stack, 0: unknown */
};

enum {
	VMC_SUB_NONE = 0,
	VMC_SUB_PKEY,               /* pkey_mprotect */
	VMC_SUB_MLOCK2,
	VMC_SUB_MLOCKALL,
	VMC_SUB_MUNLOCKALL,
	VMC_SUB_BRK,                /* brk(addr) */
	VMC_SUB_SBRK,               /* sbrk(incr) */
	VMC_SUB_SHMDT,              /* shmdt, as an unmap */
};

/* Returns 1 when the calling thread may be traced (the tool is ready and
 * not already busy on this thread), having marked the thread busy; 0 when
 * the call must pass straight through.  Lazily initialises the tool on
 * the first call.  Async-signal-safe. */
int vmc_enter(void);
void vmc_leave(void);
/* A call that passed through (busy thread, not ready): note that the
 * shadow must resync the span [start, end). */
void vmc_note_passthrough(uint64_t start, uint64_t end, int is_tool);

/* Perform c (the raw system call) with the shadow in step.  Returns the
 * kernel's result (c->ret).  Must be called between vmc_enter() and
 * vmc_leave(). */
int64_t vmc_do_call(struct vmc_call *c);

/* 1 while this thread captures a stack: mappings made meanwhile are the
 * unwinder's, tool memory. */
int vmc_in_capture(void);

/* The raw system call alone, for pass-through. */
int64_t vmc_raw_call(struct vmc_call *c);

/* After dlopen/dlclose: refresh the module map and check the spans that
 * changed, absorbing new images as baseline. */
void vmc_after_dl(void);

/* _exit()/_Exit() in the traced process: write the result with the status
 * before the process ends (no destructor runs then). */
void vmc_exit(int status);

/* Public API back-ends (include/vmacheck.h). */
int vmc_rt_check_now(void);
int vmc_rt_dump_maps(int fd);
int vmc_rt_enabled(void);

#endif
