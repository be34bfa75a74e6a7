/*
 * interpose.c - the symbols libvmacheck.so puts in front of libc's: the
 * mmap family, performed here with raw system calls so that the shadow
 * sees them in kernel order, and brk/sbrk/dlopen/dlclose, forwarded to
 * libc (which keeps state of its own for them) and observed.  Nothing else
 * lives here: each symbol packs its arguments and calls runtime.c.
 * Calls that must pass through (tool busy on this thread, not ready) go
 * straight to the kernel; their result and errno are the kernel's.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"
#include "uffd.h"
#include "vmacheck.h"

#define EXPORT __attribute__((visibility("default")))

#ifdef VMC_AB
/* Only in build/ab/libvmacheck.so (make bench-ab), never in the tool:
 * while set, every call passes straight to the kernel, as if the tool
 * were not there.  bench_loops sets it between blocks of calls that leave
 * the mappings as they found them, so that one process measures its loop
 * traced and untraced, alternately, at the same addresses (see
 * tests/bench_loops.c). */
static int ab_pass;

EXPORT void vmc_ab_passthrough(int on)
{
	__atomic_store_n(&ab_pass, on, __ATOMIC_RELAXED);
}
#endif

/* Run c traced or raw; set errno as the kernel did (untouched on success)
 * and return the kernel's result. */
static int64_t run(struct vmc_call *c, int is_map_tool, void *caller,
		   void *frame)
{
	int saved = errno;
	int64_t r;
	c->caller = (uintptr_t)caller;
	c->slot = frame ? (uintptr_t)frame + sizeof(void *) : 0;
	if (vmc_enter()) {
		r = vmc_do_call(c);
		vmc_leave();
	} else {
		/* libunwind maps its caches with libc's mmap while a hook
		 * captures a stack.  That is tool memory: MAP_NORESERVE keeps
		 * the kernel from merging it into the program's mappings, and
		 * a hint puts it with the tool's own (arena.c), away from the
		 * program's.  Left to the kernel, it would land next to the
		 * program's newest mappings, where the program's next ones go:
		 * the program's layout would not be what it is without the
		 * tool (its own mmap and munmap calls were measured 4% slower
		 * beside it, bench_loops mmap_munmap_64k), and a double munmap
		 * there would take the unwinder's memory. */
		if (c->call == SHADOW_CALL_MMAP && vmc_in_capture() &&
		    (c->a[3] & (MAP_ANONYMOUS | MAP_TYPE)) ==
			    (MAP_ANONYMOUS | MAP_PRIVATE)) {
			c->a[3] |= MAP_NORESERVE;
			if (!c->a[0] && !(c->a[3] & MAP_FIXED))
				c->a[0] = (uint64_t)vmc_tool_hint(c->a[1]);
		}
		r = vmc_raw_call(c);
		if (r >= 0 || c->call != SHADOW_CALL_MMAP)
			vmc_note_passthrough(c->call == SHADOW_CALL_MMAP &&
						     r >= 0 ? (uint64_t)r
							    : c->a[0],
					     (c->call == SHADOW_CALL_MMAP &&
					      r >= 0 ? (uint64_t)r : c->a[0]) +
						     c->a[1],
					     is_map_tool && r >= 0 &&
						     vmc_in_capture());
	}
	if (r < 0 && r > -4096)
		errno = (int)-r;
	else
		errno = saved;
	return r;
}

/* In a hook: its caller, and the frame that holds the return address
 * (the stack cache of stack.c keys on that slot). */
#define RUN_TRACED(c, is_map_tool)                                          \
	run(c, is_map_tool, __builtin_return_address(0),                    \
	    __builtin_frame_address(0))
#ifdef VMC_AB
/* The pass-through is tested in the hooks, not in run: run is then the
 * same function in both builds, and takes the tool's profile (Makefile,
 * PGO). */
static int64_t ab_raw(struct vmc_call *c)
{
	int saved = errno;
	int64_t r = vmc_raw_call(c);
	errno = r < 0 && r > -4096 ? (int)-r : saved;
	return r;
}
#define RUN(c, is_map_tool)                                                 \
	(__atomic_load_n(&ab_pass, __ATOMIC_RELAXED) ? ab_raw(c)            \
						     : RUN_TRACED(c, is_map_tool))
#else
#define RUN(c, is_map_tool) RUN_TRACED(c, is_map_tool)
#endif

int64_t vmc_call_traced(struct vmc_call *c, void *caller)
{
	return run(c, 0, caller, NULL);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	struct vmc_call c = { .call = SHADOW_CALL_MMAP,
			      .a = { (uint64_t)addr, len, (uint64_t)prot,
				     (uint64_t)flags, (uint64_t)fd,
				     (uint64_t)off } };
	int64_t r = RUN(&c, 1);
	return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd,
		    off_t off) __attribute__((alias("mmap")));

EXPORT int munmap(void *addr, size_t len)
{
	struct vmc_call c = { .call = SHADOW_CALL_MUNMAP,
			      .a = { (uint64_t)addr, len } };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	struct vmc_call c = { .call = SHADOW_CALL_MREMAP,
			      .a = { (uint64_t)old, old_len, new_len,
				     (uint64_t)flags, (uint64_t)new_addr } };
	int64_t r = RUN(&c, 0);
	return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
	struct vmc_call c = { .call = SHADOW_CALL_MPROTECT,
			      .a = { (uint64_t)addr, len, (uint64_t)prot } };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

EXPORT int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
	struct vmc_call c = { .call = SHADOW_CALL_MPROTECT, .sub = VMC_SUB_PKEY,
			      .a = { (uint64_t)addr, len, (uint64_t)prot,
				     (uint64_t)pkey } };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	struct vmc_call c = { .call = SHADOW_CALL_MADVISE,
			      .a = { (uint64_t)addr, len, (uint64_t)advice } };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	/* POSIX_MADV_DONTNEED is a no-op in glibc: never MADV_DONTNEED. */
	if (advice == POSIX_MADV_DONTNEED)
		return 0;
	int saved = errno;
	int r = madvise(addr, len, advice);
	int e = errno;
	errno = saved;
	return r ? e : 0;
}

EXPORT int mlock(const void *addr, size_t len)
{
	struct vmc_call c = { .call = SHADOW_CALL_MLOCK, .sub = VMC_SUB_MLOCK2,
			      .a = { (uint64_t)addr, len, 0 } };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

EXPORT int mlock2(const void *addr, size_t len, unsigned int flags)
{
	struct vmc_call c = { .call = SHADOW_CALL_MLOCK, .sub = VMC_SUB_MLOCK2,
			      .a = { (uint64_t)addr, len, flags } };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

EXPORT int munlock(const void *addr, size_t len)
{
	struct vmc_call c = { .call = SHADOW_CALL_MUNLOCK,
			      .a = { (uint64_t)addr, len } };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

EXPORT int mlockall(int flags)
{
	struct vmc_call c = { .call = SHADOW_CALL_MLOCK,
			      .sub = VMC_SUB_MLOCKALL,
			      .a = { (uint64_t)flags } };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

EXPORT int munlockall(void)
{
	struct vmc_call c = { .call = SHADOW_CALL_MUNLOCK,
			      .sub = VMC_SUB_MUNLOCKALL };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

/* brk/sbrk: glibc's own (it keeps the break), observed. */
EXPORT int brk(void *addr)
{
	struct vmc_call c = { .call = SHADOW_CALL_BRK, .sub = VMC_SUB_BRK,
			      .a = { (uint64_t)addr } };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

EXPORT void *sbrk(intptr_t incr)
{
	struct vmc_call c = { .call = SHADOW_CALL_BRK, .sub = VMC_SUB_SBRK,
			      .a = { (uint64_t)incr } };
	int64_t r = RUN(&c, 0);
	return r < 0 && r > -4096 ? (void *)-1 : (void *)r;
}

/* System V shared memory attaches are mappings too. */
EXPORT void *shmat(int id, const void *addr, int flags)
{
	struct vmc_call c = { .call = SHADOW_CALL_SHMAT,
			      .a = { (uint64_t)id, (uint64_t)addr,
				     (uint64_t)flags } };
	int64_t r = RUN(&c, 0);
	return r < 0 && r > -4096 ? (void *)-1 : (void *)r;
}

EXPORT int shmdt(const void *addr)
{
	struct vmc_call c = { .call = SHADOW_CALL_SHMAT, .sub = VMC_SUB_SHMDT,
			      .a = { (uint64_t)addr } };
	return RUN(&c, 0) < 0 ? -1 : 0;
}

/* dlopen/dlclose: libc's, then a check that absorbs the new images. */
EXPORT void *dlopen(const char *file, int mode)
{
	static void *(*real)(const char *, int);
	if (!real)
		real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	void *h = real ? real(file, mode) : NULL;
	int saved = errno;
	if (h && vmc_enter()) {
		vmc_after_dl();
		vmc_leave();
	}
	errno = saved;
	return h;
}

EXPORT int dlclose(void *handle)
{
	static int (*real)(void *);
	if (!real)
		real = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
	int r = real ? real(handle) : -1;
	int saved = errno;
	if (r == 0 && vmc_enter()) {
		vmc_after_dl();
		vmc_leave();
	}
	errno = saved;
	return r;
}

/* _exit/_Exit skip destructors (shells end this way): finish first. */
EXPORT _Noreturn void _exit(int status)
{
	vmc_exit(status);
	for (;;)
		syscall(SYS_exit_group, status);
}

EXPORT _Noreturn void _Exit(int status) __attribute__((alias("_exit")));

/* include/vmacheck.h */
EXPORT int vmc_check_now(void) { return vmc_rt_check_now(); }
EXPORT int vmc_dump_maps(int fd) { return vmc_rt_dump_maps(fd); }
EXPORT int vmc_enabled(void) { return vmc_rt_enabled(); }

EXPORT void *vmc_map_with_ops(void *addr, unsigned long len, int prot,
			      int flags, const struct vmc_vm_ops *ops,
			      void *priv)
{
	return vmc_uffd_map_with_ops(addr, len, prot, flags, ops, priv,
				     __builtin_return_address(0));
}

EXPORT int vmc_set_ops(void *addr, unsigned long len,
		       const struct vmc_vm_ops *ops, void *priv)
{
	return vmc_uffd_set_ops(addr, len, ops, priv);
}

EXPORT int vmc_wrprotect(void *addr, unsigned long len)
{
	return vmc_uffd_wrprotect(addr, len);
}

EXPORT int vmc_clear_ops(void *addr) { return vmc_uffd_clear_ops(addr); }
