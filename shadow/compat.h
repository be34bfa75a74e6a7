/*
 * compat.h - kernel interfaces newer than the build system's headers.
 *
 * vmacheck is built on Debian 12 (Linux 6.1 uapi headers, glibc 2.36) and
 * runs on newer kernels (6.18 in CI).  Every constant and structure it uses
 * from a kernel after 6.1 is defined here, once, each behind #ifndef so that
 * newer system headers win.  The values are copied from the Linux uapi
 * headers named in each section (checked against torvalds/linux: PROCMAP_QUERY
 * from 6.11, PAGEMAP_SCAN from 6.7, PAGE_IS_GUARD from 6.14, the
 * userfaultfd additions from 6.4-6.8, MAP_DROPPABLE from 6.11, guard
 * regions from 6.13, PR_SYS_DISPATCH_{EX,IN}CLUSIVE_ON from 6.17).
 *
 * Defining a constant says nothing about the running kernel: every user
 * probes at run time and falls back (DESIGN.md: text maps instead of
 * PROCMAP_QUERY, no touch tracking without PAGEMAP_SCAN / WP_ASYNC).
 *
 * The system headers are included first so that the #ifndef guards see them
 * (including this file before or after them is then equally safe).
 * <linux/mman.h> is deliberately not included: it redefines glibc's
 * MAP_HUGE_* macros with other spellings.
 */
#ifndef VMC_COMPAT_H
#define VMC_COMPAT_H

#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>

/* ---- include/uapi/linux/fs.h: /proc/<pid>/maps and pagemap ioctls ---- */

#ifndef PROCFS_IOCTL_MAGIC
#define PROCFS_IOCTL_MAGIC 'f'
#endif

/* PAGEMAP_SCAN on /proc/<pid>/pagemap (Linux 6.7). */
#ifndef PAGEMAP_SCAN
struct page_region {
	__u64 start;
	__u64 end;                 /* exclusive */
	__u64 categories;          /* PAGE_IS_* */
};

struct pm_scan_arg {
	__u64 size;                /* sizeof(struct pm_scan_arg) */
	__u64 flags;               /* PM_SCAN_* */
	__u64 start;
	__u64 end;
	__u64 walk_end;            /* out: where the walk stopped */
	__u64 vec;                 /* struct page_region array */
	__u64 vec_len;
	__u64 max_pages;           /* 0 = no limit */
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR(PROCFS_IOCTL_MAGIC, 16, struct pm_scan_arg)
#endif

#ifndef PM_SCAN_WP_MATCHING
#define PM_SCAN_WP_MATCHING   (1 << 0) /* write-protect the pages matched */
#endif
#ifndef PM_SCAN_CHECK_WPASYNC
#define PM_SCAN_CHECK_WPASYNC (1 << 1) /* abort on a page without WP_ASYNC */
#endif

#ifndef PAGE_IS_WPALLOWED
#define PAGE_IS_WPALLOWED  (1 << 0)
#endif
#ifndef PAGE_IS_WRITTEN
#define PAGE_IS_WRITTEN    (1 << 1)
#endif
#ifndef PAGE_IS_FILE
#define PAGE_IS_FILE       (1 << 2)
#endif
#ifndef PAGE_IS_PRESENT
#define PAGE_IS_PRESENT    (1 << 3)
#endif
#ifndef PAGE_IS_SWAPPED
#define PAGE_IS_SWAPPED    (1 << 4)
#endif
#ifndef PAGE_IS_PFNZERO
#define PAGE_IS_PFNZERO    (1 << 5)
#endif
#ifndef PAGE_IS_HUGE
#define PAGE_IS_HUGE       (1 << 6)
#endif
#ifndef PAGE_IS_SOFT_DIRTY
#define PAGE_IS_SOFT_DIRTY (1 << 7)
#endif
#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD      (1 << 8) /* Linux 6.14 */
#endif

/* PROCMAP_QUERY on /proc/<pid>/maps (Linux 6.11). */
#ifndef PROCMAP_QUERY
enum procmap_query_flags {
	/* In query_flags: only VMAs with at least these permissions; in
	 * vma_flags: the VMA's permissions (SHARED = VM_MAYSHARE). */
	PROCMAP_QUERY_VMA_READABLE         = 0x01,
	PROCMAP_QUERY_VMA_WRITABLE         = 0x02,
	PROCMAP_QUERY_VMA_EXECUTABLE       = 0x04,
	PROCMAP_QUERY_VMA_SHARED           = 0x08,
	/* The VMA covering query_addr, else the first one after it. */
	PROCMAP_QUERY_COVERING_OR_NEXT_VMA = 0x10,
	/* Only VMAs backed by a file. */
	PROCMAP_QUERY_FILE_BACKED_VMA      = 0x20,
};

struct procmap_query {
	__u64 size;          /* in: sizeof(struct procmap_query) */
	__u64 query_flags;   /* in: enum procmap_query_flags */
	__u64 query_addr;    /* in */
	__u64 vma_start;     /* out: [vma_start, vma_end) */
	__u64 vma_end;       /* out */
	__u64 vma_flags;     /* out: PROCMAP_QUERY_VMA_* */
	__u64 vma_page_size; /* out: kernel page size of the VMA */
	__u64 vma_offset;    /* out: file offset in bytes (0 for anonymous) */
	__u64 inode;         /* out */
	__u32 dev_major;     /* out */
	__u32 dev_minor;     /* out */
	__u32 vma_name_size; /* in/out: buffer size; out: name size with its
			      * NUL, 0 when the VMA has no name.  A name that
			      * does not fit fails with ENAMETOOLONG. */
	__u32 build_id_size; /* in/out */
	__u64 vma_name_addr; /* in: user buffer, or 0 with vma_name_size 0 */
	__u64 build_id_addr; /* in */
};

#define PROCMAP_QUERY _IOWR(PROCFS_IOCTL_MAGIC, 17, struct procmap_query)
#endif

_Static_assert(sizeof(struct pm_scan_arg) == 96, "pm_scan_arg layout");
_Static_assert(sizeof(struct procmap_query) == 104, "procmap_query layout");

/* ---- include/uapi/linux/userfaultfd.h ------------------------------- */

#ifndef USERFAULTFD_IOC
#define USERFAULTFD_IOC 0xAA                         /* /dev/userfaultfd */
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00) /* Linux 6.1 */
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1                        /* userfaultfd(2) flag */
#endif

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED     (1 << 13)    /* Linux 6.4 */
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON             (1 << 14)    /* Linux 6.6 */
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC           (1 << 15)    /* Linux 6.7 */
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE               (1 << 16)    /* Linux 6.8 */
#endif

#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE     (0x05)
#endif
#ifndef _UFFDIO_CONTINUE
#define _UFFDIO_CONTINUE (0x07)
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON   (0x08)
#endif

#ifndef UFFDIO_CONTINUE
struct uffdio_continue {
	struct uffdio_range range;
#define UFFDIO_CONTINUE_MODE_DONTWAKE ((__u64)1 << 0)
	__u64 mode;
	__s64 mapped;        /* out */
};
#define UFFDIO_CONTINUE _IOWR(UFFDIO, _UFFDIO_CONTINUE, struct uffdio_continue)
#endif
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif

#ifndef UFFDIO_POISON
struct uffdio_poison {
	struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
	__u64 mode;
	__s64 updated;       /* out: bytes poisoned, or -errno */
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

#ifndef UFFDIO_MOVE
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE        ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
	__u64 mode;
	__s64 move;          /* out: bytes moved, or -errno */
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

/* ---- include/uapi/linux/prctl.h: syscall user dispatch -------------- */

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#ifndef PR_SYS_DISPATCH_OFF
#define PR_SYS_DISPATCH_OFF          0
#endif
/* Linux 6.17 renamed ON to EXCLUSIVE_ON (dispatch everything except the
 * range) and added INCLUSIVE_ON (dispatch only the range). */
#ifndef PR_SYS_DISPATCH_EXCLUSIVE_ON
#define PR_SYS_DISPATCH_EXCLUSIVE_ON 1
#endif
#ifndef PR_SYS_DISPATCH_INCLUSIVE_ON
#define PR_SYS_DISPATCH_INCLUSIVE_ON 2
#endif
#ifndef PR_SYS_DISPATCH_ON
#define PR_SYS_DISPATCH_ON           PR_SYS_DISPATCH_EXCLUSIVE_ON
#endif
#ifndef SYSCALL_DISPATCH_FILTER_ALLOW
#define SYSCALL_DISPATCH_FILTER_ALLOW 0
#endif
#ifndef SYSCALL_DISPATCH_FILTER_BLOCK
#define SYSCALL_DISPATCH_FILTER_BLOCK 1
#endif

/* ---- include/uapi/linux/mman.h, asm-generic/mman-common.h ----------- */

#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE      1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED        2
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP    4          /* Linux 5.7 */
#endif

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE       0x08       /* Linux 6.11: zero under pressure */
#endif
#ifndef MAP_SYNC
#define MAP_SYNC            0x080000
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_UNINITIALIZED
#define MAP_UNINITIALIZED   0x4000000  /* honoured only on !MMU kernels */
#endif

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT       0x01
#endif

#ifndef MADV_COLD
#define MADV_COLD            20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT         21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ   22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE  23
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE        25
#endif
#ifndef MADV_HWPOISON
#define MADV_HWPOISON        100
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE    101
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL   102       /* Linux 6.13 */
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE    103
#endif

#endif
