/*
 * kview.h - the kernel's view of this process's VMAs.
 *
 * Two readers with one result type:
 *  - text: /proc/self/maps, read with raw system calls into a buffer the
 *    caller gives (no stdio, no malloc, errno untouched).  Handles names with
 *    spaces, " (deleted)", [heap] [stack] [vdso] [vvar] [vvar_vclock]
 *    [vsyscall] [anon:...], very long paths (the name is cut to what fits,
 *    and name_truncated is set), and torn reads (each read() returns at
 *    most one page; the next one walks the VMAs again from the start
 *    address of the first line not yet formatted, so a VMA that grew or
 *    merged between two calls is printed from its new start, over the
 *    line before: such lines are clipped and `torn` is set).
 *  - query: the PROCMAP_QUERY ioctl on an open /proc/self/maps (Linux 6.11+).
 *    kview_query_probe() tells whether the running kernel has it; callers
 *    fall back to text when it does not, or call kview_read(), which does
 *    that itself.
 * Both can read the whole space or only the VMAs that intersect [start, end).
 * Every read replaces kv's contents (entries, names, truncated, torn, reads).
 *
 * The two readers agree field by field for the same moment (tested), except:
 *  - page_size is known only to the query reader (0 from text);
 *  - [vsyscall] (the x86-64 gate area, not a VMA of the mm) is printed by the
 *    text reader after the last VMA but never returned by PROCMAP_QUERY;
 *  - a path too long for the kernel's name buffer: text prints it whole,
 *    PROCMAP_QUERY fails with ENAMETOOLONG; the query reader then keeps the
 *    entry with no name, name_truncated set and name_kind FILE;
 *  - each reader cuts names to the room left in kv->names, and the text
 *    reader also to iobuf (see kview_read_text).
 * The query reader writes a '\n' in a path as "\012", as the text shows it.
 *
 * Flags use shadow.h's SV_READ/SV_WRITE/SV_EXEC, and SV_MAYSHARE for an 's'
 * in the maps line (the kernel prints 's' for VM_MAYSHARE).
 * All functions: async-signal-safe, MT-safe on distinct kview objects and
 * distinct maps fds (one reader at a time per fd: see kview_read_text),
 * return 0 or -errno.
 */
#ifndef VMC_KVIEW_H
#define VMC_KVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kview_entry {
	uint64_t start, end;       /* [start, end) */
	uint64_t offset;           /* bytes, as printed (0 for anonymous) */
	uint64_t ino;
	uint32_t dev;              /* major << 20 | minor */
	uint32_t flags;            /* SV_READ | SV_WRITE | SV_EXEC | SV_MAYSHARE */
	uint64_t page_size;        /* from PROCMAP_QUERY; 0 from text */
	uint32_t name_off;         /* into kview.names; name_len 0 = no name */
	uint16_t name_len;
	uint8_t name_kind;         /* enum shadow_name */
	uint8_t name_truncated;
};

/* Which reader kview_read() uses. */
enum kview_method {
	KVIEW_METHOD_AUTO = 0,     /* PROCMAP_QUERY, text if the kernel lacks it */
	KVIEW_METHOD_QUERY,
	KVIEW_METHOD_TEXT,
};

struct kview {
	struct kview_entry *v;     /* caller's array */
	size_t n, cap;
	char *names;               /* caller's buffer for names (not NUL-ended) */
	size_t names_len, names_cap;
	bool truncated;            /* more VMAs than cap: the rest is missing */
	bool torn;                 /* overlapping lines were clipped */
	uint32_t reads;            /* read()/ioctl() calls made */
	uint8_t method;            /* enum kview_method for kview_read(); AUTO
				    * becomes TEXT once the kernel said it has
				    * no PROCMAP_QUERY */
	uint8_t used;              /* enum kview_method of the last read */
	int16_t fail_query;        /* tests: nonzero makes every PROCMAP_QUERY
				    * fail with -fail_query without a system
				    * call (a kernel before 6.11: ENOTTY) */
	/* PROCMAP_QUERY only: when set, a VMA is first asked for without
	 * its name (the name costs the kernel a d_path or a lookup even for
	 * anonymous memory), and asked again with it only when
	 * want_name(want_ctx, start, end) says the caller needs it; the
	 * others are entries with no name and name_kind SHADOW_NAME_ANON,
	 * counted in names_skipped.  NULL: every name is read (kview_init). */
	bool (*want_name)(void *ctx, uint64_t start, uint64_t end);
	void *want_ctx;
	uint32_t names_skipped;    /* VMAs of the last read without a name */
};

/* Smallest iobuf kview_read_text() accepts: room for the fixed fields of the
 * longest line plus part of its name. */
#define KVIEW_IOBUF_MIN 256
/* Longest name PROCMAP_QUERY can return, with its NUL (PATH_MAX). */
#define KVIEW_QUERY_NAME_MAX 4096

/* Point kv at caller storage and empty it. */
void kview_init(struct kview *kv, struct kview_entry *v, size_t cap,
		char *names, size_t names_cap);

/* Read VMAs intersecting [start, end) (0, UINT64_MAX for all) from the text
 * of /proc/self/maps.  maps_fd: an open /proc/self/maps, or -1 to open and
 * close one.  The file is read with pread() at offsets 0, n1, n1+n2, ...:
 * offset 0 rewinds the seq_file, and each following offset is where the last
 * call stopped, so the kernel continues without re-walking (the file
 * position is neither used nor moved).  Reading stops at the first line
 * starting at or after end.  iobuf: scratch, at least KVIEW_IOBUF_MIN bytes;
 * the kernel returns at most one page per call whatever the size, so 4096
 * is enough, and a line longer than iobuf (a path of thousands of bytes)
 * has its name cut (name_truncated).  Lines that overlap the previous line
 * (a VMA changed between two calls) are clipped to start at its end, or
 * dropped when wholly inside it, and torn is set.  -EINVAL for iobuf too
 * small, or a line that cannot be parsed. */
int kview_read_text(struct kview *kv, int maps_fd, uint64_t start,
		    uint64_t end, char *iobuf, size_t iobuf_len);

/* Same through PROCMAP_QUERY on maps_fd, or -1 to open and close one: one
 * ioctl per VMA.  Names are written straight into kv->names while it has
 * KVIEW_QUERY_NAME_MAX bytes of room, then through a stack buffer of that
 * size.  -ENOTTY when the kernel lacks it. */
int kview_read_query(struct kview *kv, int maps_fd, uint64_t start,
		     uint64_t end);

/* Read with the reader kv->method names: AUTO tries PROCMAP_QUERY and, when
 * the kernel lacks it (ENOTTY, EINVAL, EOPNOTSUPP), sets kv->method to TEXT
 * and reads the text, now and on every later call.  kv->used tells which
 * reader filled kv.  iobuf may be NULL only when method is QUERY. */
int kview_read(struct kview *kv, int maps_fd, uint64_t start, uint64_t end,
	       char *iobuf, size_t iobuf_len);

/* 1 when PROCMAP_QUERY works on maps_fd (-1: on a /proc/self/maps it opens
 * and closes), 0 when not. */
int kview_query_probe(int maps_fd);

/* Parse text already read (whole lines; a last line without '\n' counts)
 * with kview_read_text()'s rules: span, clipping, cap.  For saved maps
 * files and tests.  Replaces kv's contents; reads stays 0. */
int kview_parse_text(struct kview *kv, const char *text, size_t len,
		     uint64_t start, uint64_t end);

/* Parse one maps line [line, line+len) (no newline) into e, copying the name
 * into kv's names buffer (cut to the room left: name_truncated; the kind is
 * that of the whole name).  e is not added to kv->v.  Returns 0 or -EINVAL
 * for a malformed line: a field missing, out of range or of the wrong
 * form, start >= end, or anything but blanks between the inode and the
 * name. */
int kview_parse_line(struct kview *kv, const char *line, size_t len,
		     struct kview_entry *e);

/* Name of entry e as a pointer and length (not NUL-terminated). */
static inline const char *kview_name(const struct kview *kv,
				     const struct kview_entry *e)
{
	return kv->names + e->name_off;
}

/* Classify a name as enum shadow_name: "" ANON; [heap] [stack] [vdso]
 * [vsyscall]; [vvar] and [vvar_vclock] VVAR; any other "[..." OTHER;
 * "/dev/zero (deleted)" and "/SYSV%08x (deleted)" SHMEM; the rest FILE. */
uint8_t kview_classify_name(const char *name, size_t len);

/* open(2)/close(2) of /proc/self/maps by raw system call (O_RDONLY|O_CLOEXEC).
 * Returns the fd or -errno. */
int kview_open_maps(void);
void kview_close(int fd);

/* /proc/self/pagemap (O_RDONLY|O_CLOEXEC): fd or -errno. */
int kview_open_pagemap(void);
/* Does one of the first pages of [addr, addr + npages pages) of a private
 * anonymous mapping hold an anonymous page of its own (present and
 * exclusively mapped, or swapped out)?  Then the VMA has an anon_vma.  At
 * most 32 pages are read, in one pread; false when none shows (never
 * written, or only read: the zero page), or the read fails. */
bool kview_anon_written(int pagemap_fd, uint64_t addr, uint64_t npages);

#endif
