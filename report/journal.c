/*
 * journal.c - the reader of per-process journals for `vmacheck report`
 * (the format and the contract are in journal.h).  The whole file is read
 * into memory (not mapped: a writer still running may cut the file at
 * close, which would be a SIGBUS through a mapping) and walked once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

static const char *const type_names[] = {
	[VMCJ_PROCESS] = "process", [VMCJ_MODULE] = "module",
	[VMCJ_STACK] = "stack",     [VMCJ_CALL] = "call",
	[VMCJ_FINDING] = "finding", [VMCJ_STATS] = "stats",
	[VMCJ_EXIT] = "exit",       [VMCJ_COUNTS] = "counts",
};

const char *vmcj_type_name(uint16_t type)
{
	if (type < sizeof(type_names) / sizeof(type_names[0]) &&
	    type_names[type])
		return type_names[type];
	return "?";
}

static uint16_t get_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* "PATH: what (offset N)" into err; returns -EBADMSG. */
static int fail_at(char *err, size_t errlen, const char *path, uint64_t off,
		   const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (errlen)
		snprintf(err, errlen, "%s: %s (offset %llu)", path, what,
			 (unsigned long long)off);
	return -EBADMSG;
}

static int fail_errno(char *err, size_t errlen, const char *path, int e)
{
	if (errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(e));
	return -e;
}

/* The whole file, NUL-terminated (a file that grows while being read is
 * read on; one that shrinks gives what was there).  0 or -errno. */
int vmcj_slurp(const char *path, char **data, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int e;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	size_t cap = st.st_size > 0 ? (size_t)st.st_size : 0, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		goto fail;
	for (;;) {
		if (n == cap) {
			/* A file that grew since fstat: read on. */
			char probe;
			ssize_t k = read(fd, &probe, 1);
			if (k <= 0)
				break;
			char *nb = realloc(buf, cap * 2 + 2);
			if (!nb) {
				free(buf);
				errno = ENOMEM;
				goto fail;
			}
			buf = nb;
			buf[n++] = probe;
			cap = cap * 2 + 1;
			continue;
		}
		ssize_t k = read(fd, buf + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			e = errno;
			free(buf);
			close(fd);
			return -e;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
fail:
	e = errno;
	close(fd);
	return -e;
}

static int add_record(struct vmcj *out, const struct vmcj_record *rec)
{
	if (out->nrecs == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 256;
		struct vmcj_record *r = realloc(out->recs, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		out->recs = r;
		out->cap = cap;
	}
	out->recs[out->nrecs++] = *rec;
	return 0;
}

/* Check the header; fills out's header fields. */
static int read_header(const char *path, const unsigned char *d, size_t n,
		       struct vmcj *out, char *err, size_t errlen)
{
	static const unsigned char zeros[VMCJ_HEADER_SIZE];
	size_t m = n < 8 ? n : 8;

	if (n == 0)
		return fail_at(err, errlen, path, 0,
			       "empty file, not a vmacheck journal");
	if (n >= VMCJ_HEADER_SIZE && !memcmp(d, zeros, VMCJ_HEADER_SIZE))
		return fail_at(err, errlen, path, 0,
			       "journal header never written (process "
			       "killed while opening it?)");
	if (memcmp(d, VMCJ_MAGIC, m) != 0)
		return fail_at(err, errlen, path, 0,
			       "not a vmacheck journal");
	if (n < VMCJ_HEADER_SIZE)
		return fail_at(err, errlen, path, n,
			       "journal header cut short (%zu of %u bytes)", n,
			       VMCJ_HEADER_SIZE);
	out->version = get_u32(d + 8);
	out->header_size = get_u32(d + 12);
	out->pid = get_u64(d + 16);
	out->ppid = get_u64(d + 24);
	out->start_ns = get_u64(d + 32);
	out->start_mono_ns = get_u64(d + 40);
	if (out->version != VMCJ_VERSION)
		return fail_at(err, errlen, path, 8,
			       "unsupported journal version %u (this reader "
			       "knows %u)", out->version, VMCJ_VERSION);
	if (out->header_size < VMCJ_HEADER_SIZE || out->header_size % 8)
		return fail_at(err, errlen, path, 12, "bad header size %u",
			       out->header_size);
	if (out->header_size > n)
		return fail_at(err, errlen, path, n,
			       "journal header cut short (%zu of %u bytes)", n,
			       out->header_size);
	return 0;
}

/* The payload of a complete record makes sense for its type. */
static int check_payload(const char *path, const struct vmcj_record *rec,
			 char *err, size_t errlen)
{
	switch (rec->type) {
	case 0:
		return fail_at(err, errlen, path, rec->offset,
			       "complete record of type 0");
	case VMCJ_STACK: {
		uint32_t n;

		if (rec->len < 8)
			return fail_at(err, errlen, path, rec->offset,
				       "stack record of %u bytes, shorter than "
				       "its 8-byte header", rec->len);
		n = get_u32((const unsigned char *)rec->payload + 4);
		if ((uint64_t)rec->len != 8 + 8 * (uint64_t)n)
			return fail_at(err, errlen, path, rec->offset,
				       "stack record of %u bytes does not hold "
				       "its %u frames", rec->len, n);
		return 0;
	}
	case VMCJ_COUNTS:
		if (rec->len < sizeof(struct vmcj_counts))
			return fail_at(err, errlen, path, rec->offset,
				       "counts record of %u bytes, shorter "
				       "than %zu", rec->len,
				       sizeof(struct vmcj_counts));
		return 0;
	case VMCJ_CALL:
		if (rec->len < sizeof(struct vmcj_call))
			return fail_at(err, errlen, path, rec->offset,
				       "call record of %u bytes, shorter than "
				       "%zu", rec->len,
				       sizeof(struct vmcj_call));
		return 0;
	default:
		return 0;
	}
}

static int walk(const char *path, const unsigned char *d, size_t n,
		struct vmcj *out, char *err, size_t errlen)
{
	uint64_t off = out->header_size;

	for (;;) {
		struct vmcj_record rec;
		uint32_t len;
		uint16_t flags, pad;
		int r;

		if (off == n) {
			out->end = off;
			return 0;  /* a clean end (after a close) */
		}
		if (n - off < VMCJ_REC_HEADER) {
			out->truncated = true;   /* cut inside a header */
			out->end = off;
			return 0;
		}
		len = get_u32(d + off);
		if (len == 0) {
			out->truncated = true;   /* never closed */
			out->end = off;
			return 0;
		}
		if (len % 8 || len < VMCJ_REC_HEADER)
			return fail_at(err, errlen, path, off,
				       "record length %u is not a multiple of "
				       "8 of at least %u", len,
				       VMCJ_REC_HEADER);
		if (len > VMCJ_MAX_RECORD)
			return fail_at(err, errlen, path, off,
				       "record length %u exceeds the maximum "
				       "%u", len, VMCJ_MAX_RECORD);
		if (len > n - off) {
			out->truncated = true;   /* the file was cut */
			out->end = off;
			return 0;
		}
		flags = get_u16(d + off + 6);
		if (!(flags & VMCJ_FLAG_COMPLETE)) {
			if (!out->incomplete++)
				out->first_incomplete = off;
			out->truncated = true;
			off += len;
			continue;
		}
		pad = (flags & VMCJ_FLAG_PAD_MASK) >> VMCJ_FLAG_PAD_SHIFT;
		if (pad > len - VMCJ_REC_HEADER)
			return fail_at(err, errlen, path, off,
				       "record padding %u longer than its "
				       "payload of %u bytes", pad,
				       len - VMCJ_REC_HEADER);
		rec.type = get_u16(d + off + 4);
		rec.flags = flags;
		rec.len = len - VMCJ_REC_HEADER - pad;
		rec.offset = off;
		rec.payload = d + off + VMCJ_REC_HEADER;
		r = check_payload(path, &rec, err, errlen);
		if (r)
			return r;
		if (rec.type == VMCJ_EXIT)
			out->has_exit = true;
		if (add_record(out, &rec))
			return fail_errno(err, errlen, path, ENOMEM);
		off += len;
	}
}

int vmcj_read(const char *path, struct vmcj *out, char *err, size_t errlen)
{
	unsigned char *d = NULL;
	size_t n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = '\0';
	r = vmcj_slurp(path, (char **)&d, &n);
	if (r)
		return fail_errno(err, errlen, path, -r);
	out->data = d;
	out->file_size = n;
	r = read_header(path, d, n, out, err, errlen);
	if (!r)
		r = walk(path, d, n, out, err, errlen);
	if (r)
		vmcj_free(out);
	return r;
}

void vmcj_free(struct vmcj *j)
{
	free(j->recs);
	free(j->data);
	memset(j, 0, sizeof(*j));
}
