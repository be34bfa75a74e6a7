/*
 * rawsys.h - system calls without libc.
 *
 * Each function makes exactly one system call and returns what the kernel
 * returned: a value >= 0 on success, -errno on failure.  errno is never
 * touched, nothing is allocated, no libc wrapper (and so no interposed
 * symbol, no pthread cancellation point, no sanitizer interceptor) runs.
 * Async-signal-safe and MT-safe as the system calls themselves are.
 *
 * On x86-64 the calls are inline `syscall` instructions.  Elsewhere they go
 * through syscall(3) with errno saved and restored around it, which keeps
 * the contract except that syscall(3) itself is a libc call.  Defining
 * RAWSYS_USE_LIBC selects that path on x86-64 too (to test it).
 *
 * Address results (rawsys_mmap, rawsys_mremap) are longs too: a value in
 * [-4095, -1] is -errno, anything else is the address; rawsys_is_err()
 * tells which.
 */
#ifndef VMC_RAWSYS_H
#define VMC_RAWSYS_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>

#if defined(__x86_64__) && !defined(RAWSYS_USE_LIBC)
#define RAWSYS_INLINE_ASM 1
#endif

#if !defined(RAWSYS_INLINE_ASM)
#include <errno.h>
#include <unistd.h>
#endif

/* True when a raw result is -errno (the kernel's IS_ERR_VALUE rule). */
static inline int rawsys_is_err(long r)
{
	return (unsigned long)r >= (unsigned long)-4095L;
}

#if defined(RAWSYS_INLINE_ASM)

/* rax = nr; args in rdi rsi rdx r10 r8 r9; rcx and r11 are clobbered by
 * the instruction; "memory" because the kernel reads and writes buffers. */
static inline long rawsys6(long nr, long a, long b, long c, long d, long e,
			   long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long rawsys3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

#else /* !RAWSYS_INLINE_ASM */

static inline long rawsys6(long nr, long a, long b, long c, long d, long e,
			   long f)
{
	int saved = errno;
	long ret = syscall(nr, a, b, c, d, e, f);
	if (ret == -1)
		ret = -(long)errno;
	errno = saved;
	return ret;
}

static inline long rawsys3(long nr, long a, long b, long c)
{
	return rawsys6(nr, a, b, c, 0, 0, 0);
}

#endif

/* ---- files ----------------------------------------------------------- */

static inline int rawsys_openat(int dirfd, const char *path, int flags,
				int mode)
{
	return (int)rawsys6(SYS_openat, dirfd, (long)path, flags, mode, 0, 0);
}

/* open(2) as openat(AT_FDCWD, ...): the only form every architecture has. */
static inline int rawsys_open(const char *path, int flags, int mode)
{
	return rawsys_openat(AT_FDCWD, path, flags, mode);
}

static inline int rawsys_close(int fd)
{
	return (int)rawsys3(SYS_close, fd, 0, 0);
}

static inline long rawsys_read(int fd, void *buf, size_t len)
{
	return rawsys3(SYS_read, fd, (long)buf, (long)len);
}

static inline long rawsys_pread(int fd, void *buf, size_t len, uint64_t off)
{
	return rawsys6(SYS_pread64, fd, (long)buf, (long)len, (long)off, 0, 0);
}

static inline long rawsys_write(int fd, const void *buf, size_t len)
{
	return rawsys3(SYS_write, fd, (long)buf, (long)len);
}

static inline long rawsys_lseek(int fd, int64_t off, int whence)
{
	return rawsys3(SYS_lseek, fd, (long)off, whence);
}

static inline int rawsys_ioctl(int fd, unsigned long req, void *arg)
{
	return (int)rawsys3(SYS_ioctl, fd, (long)req, (long)arg);
}

/* ---- memory ---------------------------------------------------------- */

static inline long rawsys_mmap(void *addr, size_t len, int prot, int flags,
			       int fd, uint64_t off)
{
	return rawsys6(SYS_mmap, (long)addr, (long)len, prot, flags, fd,
		       (long)off);
}

static inline int rawsys_munmap(void *addr, size_t len)
{
	return (int)rawsys3(SYS_munmap, (long)addr, (long)len, 0);
}

/* new_addr is read by the kernel only with MREMAP_FIXED/MREMAP_DONTUNMAP. */
static inline long rawsys_mremap(void *old_addr, size_t old_len,
				 size_t new_len, int flags, void *new_addr)
{
	return rawsys6(SYS_mremap, (long)old_addr, (long)old_len,
		       (long)new_len, flags, (long)new_addr, 0);
}

static inline int rawsys_mprotect(void *addr, size_t len, int prot)
{
	return (int)rawsys3(SYS_mprotect, (long)addr, (long)len, prot);
}

static inline int rawsys_madvise(void *addr, size_t len, int advice)
{
	return (int)rawsys3(SYS_madvise, (long)addr, (long)len, advice);
}

/* ---- process --------------------------------------------------------- */

static inline int rawsys_getpid(void)
{
	return (int)rawsys3(SYS_getpid, 0, 0, 0);
}

#endif
