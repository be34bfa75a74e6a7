/*
 * journal.h - read a per-process journal (preload/journal.c writes it) for
 * `vmacheck report`, which rebuilds a result from it when the process left
 * no JSON (it was killed).  Plain C with libc and malloc; not for the
 * preload.
 *
 * The format (little-endian):
 *   header, VMCJ_HEADER_SIZE (64) bytes at offset 0:
 *     0 char magic[8] "VMCJRNL1"   8 u32 version (1)   12 u32 header_size
 *    16 u64 pid   24 u64 ppid   32 u64 start_ns (CLOCK_REALTIME)
 *    40 u64 start_mono_ns (CLOCK_MONOTONIC)   48 reserved (16 bytes)
 *   records, 8-aligned, back to back from header_size:
 *     0 u32 len (whole record, a multiple of 8, 8..VMCJ_MAX_RECORD)
 *     4 u16 type (enum vmcj_type)
 *     6 u16 flags: bit 0 complete, bits 1-3 padding bytes at the end
 *     8 payload (len - 8 - padding bytes), then the padding
 *   then zeros to the end of the file while the writer runs or when it was
 *   killed; nothing after a clean close.
 *
 * Contract of vmcj_read(): reads the whole file at path into memory and
 * walks it.  Returns 0 and fills *out, or -errno with a one-line message
 * (no newline) in err of the form "PATH: what (offset N)", N the byte
 * offset of the fault:
 *   - a file that is not a journal (wrong magic):
 *     "PATH: not a vmacheck journal (offset 0)"; also for an empty file,
 *     a header of zeros (killed while opening), a cut header, an unknown
 *     version or a bad header size (-EBADMSG);
 *   - corruption: a record length that is not a multiple of 8, is smaller
 *     than the record header or larger than VMCJ_MAX_RECORD, padding
 *     longer than the payload, a complete record of type 0, a stack,
 *     call or counts payload of the wrong size (-EBADMSG);
 *   - a file that cannot be read: "PATH: strerror" (-errno).
 * A journal that ends early is not an error: the walk stops at a zero
 * length (the unused tail of a journal never closed: its process was
 * killed or still runs), at fewer than 8 bytes left, or at a record
 * running past the end of the file (the file was cut), and sets
 * `truncated` and `end`.  A record without the complete bit (its writer
 * died mid-copy; its length is valid, the writer stores it first) is
 * stepped over and counted in `incomplete`, and also sets `truncated`.
 * Whether the process ended is a matter of records, not of the file: a
 * process that has no VMCJ_EXIT record was killed (`has_exit`).
 * Record payloads point into out's memory and live until vmcj_free(),
 * which also accepts a zeroed or already freed struct.
 */
#ifndef VMC_REPORT_JOURNAL_H
#define VMC_REPORT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMCJ_MAGIC "VMCJRNL1"
#define VMCJ_VERSION 1u
#define VMCJ_HEADER_SIZE 64u
#define VMCJ_REC_HEADER 8u
#define VMCJ_MAX_RECORD (16u << 20)   /* = VMC_JOURNAL_MAX_RECORD */
#define VMCJ_FLAG_COMPLETE 0x1u
#define VMCJ_FLAG_PAD_SHIFT 1
#define VMCJ_FLAG_PAD_MASK 0xeu

/* = enum vmc_jrec_type in preload/preload_internal.h. */
enum vmcj_type {
	VMCJ_PROCESS = 1, /* JSON: exe, argv, options */
	VMCJ_MODULE,      /* JSON: path, base, start, end, build_id */
	VMCJ_STACK,       /* binary: u32 id, u32 n, u64 ips[n] */
	VMCJ_CALL,        /* binary: struct vmcj_call */
	VMCJ_FINDING,     /* JSON: one finding as in DESIGN.md */
	VMCJ_STATS,       /* JSON: the "stats" object */
	VMCJ_EXIT,        /* JSON: ended, status */
	VMCJ_COUNTS,      /* binary: struct vmcj_counts, updated in place */
};

/* = struct vmc_jcounts: calls and failed calls by kind, one per process,
 * kept up to date while it runs (CALL records are then failed calls
 * only). */
#define VMCJ_COUNTS_KINDS 16
struct vmcj_counts {
	uint32_t nkinds;
	uint32_t pad;
	uint64_t calls[VMCJ_COUNTS_KINDS];
	uint64_t failed[VMCJ_COUNTS_KINDS];
};

/* = struct vmc_jcall (a CALL payload is at least this long; later
 * versions may append fields). */
struct vmcj_call {
	uint64_t serial;
	uint64_t args[6];
	int64_t result;
	int32_t err;
	uint16_t call;
	uint16_t pad;
	uint32_t stack_id;
	uint32_t tid;
	uint64_t time_ns;
};

struct vmcj_record {
	uint16_t type;
	uint16_t flags;
	uint32_t len;              /* payload bytes */
	uint64_t offset;           /* of the record header in the file */
	const void *payload;       /* into struct vmcj's memory, 8-aligned */
};

struct vmcj {
	/* header */
	uint32_t version, header_size;
	uint64_t pid, ppid;
	uint64_t start_ns, start_mono_ns;
	uint64_t file_size;
	/* records, in file order (complete ones only) */
	struct vmcj_record *recs;
	size_t nrecs;
	size_t incomplete;         /* records stepped over (never completed) */
	uint64_t first_incomplete; /* offset of the first, when incomplete */
	bool truncated;            /* stopped before the end of the file, or
				    * stepped over an incomplete record */
	uint64_t end;              /* offset where the walk stopped */
	bool has_exit;             /* a VMCJ_EXIT record is present */
	/* private */
	void *data;
	size_t cap;
};

int vmcj_read(const char *path, struct vmcj *out, char *err, size_t errlen);
void vmcj_free(struct vmcj *j);
/* A printable name for a record type ("call"), "?" when unknown. */
const char *vmcj_type_name(uint16_t type);

/* The whole file at path, NUL-terminated, in malloc'd memory.  0 or
 * -errno. */
int vmcj_slurp(const char *path, char **data, size_t *len);

#endif
