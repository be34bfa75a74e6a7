/*
 * kview.c - the kernel's view of this process's VMAs (kview.h): a reader and
 * parser for the text of /proc/self/maps, and a reader for the PROCMAP_QUERY
 * ioctl, both filling caller memory through raw system calls.
 *
 * How the text reads (fs/seq_file.c and fs/proc/task_mmu.c; each point
 * below was observed on Linux 6.18, and tests/test_kview.c relies on them):
 *  - Each read() first hands out what the last one left in the seq_file's
 *    one-page buffer, then formats whole lines into it while fewer bytes
 *    than asked are ready and the page has room, and copies out as much as
 *    was asked; the rest stays for the next call.  So a call returns at
 *    most about 4 KiB however large the buffer, a call with a small buffer
 *    can end in the middle of a line, and a call asked for exactly the
 *    bytes up to the end of a line ends there with nothing left over.
 *    (Measured: 1.96 MB of maps took 483 calls with 4 KiB, 64 KiB and 1 MiB
 *    buffers alike.)  A line longer than the page grows the seq_file buffer,
 *    so a path of 5000 bytes is still printed whole.
 *  - The seq_file keeps its own read position (read_pos).  A read at file
 *    offset 0 restarts from the first VMA; a read at any other offset equal
 *    to read_pos continues; any other offset makes the kernel re-walk from
 *    the start and skip that many bytes (measured: 60 such calls cost 0.5 s
 *    where the whole file read sequentially cost 0.02 s), and if the maps
 *    changed meanwhile, the skip lands in the middle of a line.
 *    So: pread() at offset 0, then at offset n1, n1+n2, ... is exactly a
 *    rewind plus sequential read(), without touching the file position and
 *    without lseek.  Two readers sharing one fd would break the sequence:
 *    one reader per fd at a time.
 *  - Between two calls the kernel drops mmap_lock.  It resumes at the VMA
 *    that contains or follows the start address of the first line it has
 *    not yet produced; a VMA that grew down or merged meanwhile is printed
 *    with its new, earlier start: it overlaps the line before (torn).
 *  - Line layout: "start-end perms offset major:minor inode", hex except
 *    the decimal inode, then a space, padding to column 73 and one more
 *    space, then the name.  A nameless line ends "inode \n".  Names are
 *    d_path() output (with " (deleted)" for unlinked files and '\n'
 *    written as "\012") or bracketed names.  [vsyscall] (the gate area,
 *    not in the mm's VMA tree) comes last.
 *
 * PROCMAP_QUERY (fs/proc/task_mmu.c do_procmap_query) returns one VMA per
 * call with the same fields and the same name strings, except that it never
 * returns [vsyscall] (ENOENT at 0xffffffffff600000), writes a raw '\n' in
 * names, and fails with ENAMETOOLONG when the name does not fit the buffer
 * given (for any name, not only paths), capped at PATH_MAX.
 */
#include <errno.h>
#include <string.h>

#include "compat.h"
#include "kview.h"
#include "rawsys.h"
#include "shadow.h"

#define TEXT_STOP 1 /* text_line(): stop reading, not an error */

/* ---- set-up ---------------------------------------------------------- */

void kview_init(struct kview *kv, struct kview_entry *v, size_t cap,
		char *names, size_t names_cap)
{
	memset(kv, 0, sizeof(*kv));
	kv->v = v;
	kv->cap = v ? cap : 0;
	kv->names = names;
	kv->names_cap = names ? names_cap : 0;
}

/* Empty kv for a new read; keeps the storage, method and fail_query. */
static void kview_reset(struct kview *kv)
{
	kv->n = 0;
	kv->names_len = 0;
	kv->names_skipped = 0;
	kv->truncated = false;
	kv->torn = false;
	kv->reads = 0;
}

int kview_open_maps(void)
{
	return rawsys_open("/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
}

void kview_close(int fd)
{
	if (fd >= 0)
		(void)rawsys_close(fd);
}

int kview_open_pagemap(void)
{
	return rawsys_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
}

/* Documentation/admin-guide/mm/pagemap.rst: one 64-bit entry per page. */
#define PM_MMAP_EXCLUSIVE (1ull << 56)
#define PM_FILE           (1ull << 61)
#define PM_SWAP           (1ull << 62)
#define PM_PRESENT        (1ull << 63)

bool kview_anon_written(int pagemap_fd, uint64_t addr, uint64_t npages)
{
	uint64_t e[32];
	if (pagemap_fd < 0 || !npages)
		return false;
	if (npages > 32)
		npages = 32;
	long got = rawsys_pread(pagemap_fd, e, npages * 8, (addr >> 12) * 8);
	if (got <= 0)
		return false;
	for (long i = 0; i < got / 8; i++) {
		/* The zero page is present but not exclusive; a page shared
		 * with a fork child is not exclusive either (not known). */
		if ((e[i] & PM_SWAP) ||
		    (e[i] & (PM_PRESENT | PM_FILE | PM_MMAP_EXCLUSIVE)) ==
			    (PM_PRESENT | PM_MMAP_EXCLUSIVE))
			return true;
	}
	return false;
}

/* ---- names ----------------------------------------------------------- */

static bool name_is(const char *name, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	return len == n && memcmp(name, lit, n) == 0;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* "/SYSV%08x (deleted)": a System V shared memory segment (ipc/shm.c). */
static bool name_is_sysv(const char *name, size_t len)
{
	static const char suffix[] = " (deleted)";
	size_t i;

	if (len != 5 + 8 + sizeof(suffix) - 1 || memcmp(name, "/SYSV", 5))
		return false;
	for (i = 5; i < 13; i++)
		if (!is_hex(name[i]))
			return false;
	return memcmp(name + 13, suffix, sizeof(suffix) - 1) == 0;
}

uint8_t kview_classify_name(const char *name, size_t len)
{
	if (len == 0)
		return SHADOW_NAME_ANON;
	if (name[0] == '[') {
		if (name_is(name, len, "[heap]"))
			return SHADOW_NAME_HEAP;
		if (name_is(name, len, "[stack]"))
			return SHADOW_NAME_STACK;
		if (name_is(name, len, "[vdso]"))
			return SHADOW_NAME_VDSO;
		if (name_is(name, len, "[vvar]") ||
		    name_is(name, len, "[vvar_vclock]"))
			return SHADOW_NAME_VVAR;
		if (name_is(name, len, "[vsyscall]"))
			return SHADOW_NAME_VSYSCALL;
		return SHADOW_NAME_OTHER; /* [anon:...], [anon_shmem:...], ... */
	}
	if (name_is(name, len, "/dev/zero (deleted)") ||
	    name_is_sysv(name, len))
		return SHADOW_NAME_SHMEM;
	return SHADOW_NAME_FILE;
}

/* Bytes kv->names can still take (bounded so name_off fits 32 bits). */
static size_t names_room(const struct kview *kv)
{
	size_t cap = kv->names_cap;

	if (cap > UINT32_MAX)
		cap = UINT32_MAX;
	return kv->names_len < cap ? cap - kv->names_len : 0;
}

/* Append name [name, name+len) to kv->names for e, cut to the room left.
 * cut: the name was already cut before it got here. */
static void put_name(struct kview *kv, struct kview_entry *e,
		     const char *name, size_t len, bool cut)
{
	size_t n = len, room = names_room(kv);

	if (n > room)
		n = room;
	if (n > UINT16_MAX)
		n = UINT16_MAX;
	e->name_kind = kview_classify_name(name, len);
	e->name_off = (uint32_t)kv->names_len;
	e->name_len = (uint16_t)n;
	e->name_truncated = cut || n < len;
	if (n)
		memmove(kv->names + kv->names_len, name, n);
	kv->names_len += n;
}

/* ---- the text parser ------------------------------------------------- */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1 to 16 hex digits.  Returns the first byte after them, or NULL. */
static const char *parse_hex(const char *p, const char *lim, uint64_t *out)
{
	const char *first = p;
	uint64_t v = 0;
	int d;

	while (p < lim && (d = hex_digit(*p)) >= 0) {
		if (p - first == 16)
			return NULL;
		v = v << 4 | (uint64_t)d;
		p++;
	}
	if (p == first)
		return NULL;
	*out = v;
	return p;
}

/* 1 to 20 decimal digits that fit 64 bits. */
static const char *parse_dec(const char *p, const char *lim, uint64_t *out)
{
	const char *first = p;
	uint64_t v = 0;

	while (p < lim && *p >= '0' && *p <= '9') {
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return NULL;
		v = v * 10 + d;
		p++;
	}
	if (p == first)
		return NULL;
	*out = v;
	return p;
}

static const char *expect(const char *p, const char *lim, char c)
{
	return p && p < lim && *p == c ? p + 1 : NULL;
}

/* Parse the fields of one line (no newline) into e, except the name, whose
 * bytes are returned in *name, *name_len.  0 or -EINVAL. */
static int parse_fields(const char *line, size_t len, struct kview_entry *e,
			const char **name, size_t *name_len)
{
	const char *p = line, *lim = line + len;
	uint64_t major = 0, minor = 0;

	memset(e, 0, sizeof(*e));
	p = parse_hex(p, lim, &e->start);
	p = expect(p, lim, '-');
	if (p)
		p = parse_hex(p, lim, &e->end);
	p = expect(p, lim, ' ');
	if (!p || lim - p < 5 || e->start >= e->end)
		return -EINVAL;

	if (p[0] == 'r')
		e->flags |= SV_READ;
	else if (p[0] != '-')
		return -EINVAL;
	if (p[1] == 'w')
		e->flags |= SV_WRITE;
	else if (p[1] != '-')
		return -EINVAL;
	if (p[2] == 'x')
		e->flags |= SV_EXEC;
	else if (p[2] != '-')
		return -EINVAL;
	if (p[3] == 's')
		e->flags |= SV_MAYSHARE;
	else if (p[3] != 'p')
		return -EINVAL;
	p = expect(p + 4, lim, ' ');

	if (p)
		p = parse_hex(p, lim, &e->offset);
	p = expect(p, lim, ' ');
	if (p)
		p = parse_hex(p, lim, &major);
	p = expect(p, lim, ':');
	if (p)
		p = parse_hex(p, lim, &minor);
	p = expect(p, lim, ' ');
	if (p)
		p = parse_dec(p, lim, &e->ino);
	/* MAJOR() is 12 bits and MINOR() 20 (include/linux/kdev_t.h). */
	if (!p || major > 0xfff || minor > 0xfffff)
		return -EINVAL;
	e->dev = (uint32_t)(major << 20 | minor);

	/* Nothing, or blanks and then perhaps a name.  The name keeps every
	 * byte after the padding, spaces included, up to the end of the line. */
	if (p < lim && *p != ' ' && *p != '\t')
		return -EINVAL;
	while (p < lim && (*p == ' ' || *p == '\t'))
		p++;
	*name = p;
	*name_len = (size_t)(lim - p);
	return 0;
}

int kview_parse_line(struct kview *kv, const char *line, size_t len,
		     struct kview_entry *e)
{
	const char *name;
	size_t name_len;
	int r = parse_fields(line, len, e, &name, &name_len);

	if (r)
		return r;
	put_name(kv, e, name, name_len, false);
	return 0;
}

/* What the text reader carries from one line to the next. */
struct text_state {
	uint64_t start, end;       /* the span asked for: [start, end) */
	uint64_t last_end;         /* end of the last line accepted */
};

/* Move e's start up to new_start (torn line).  A file offset follows the
 * start; anonymous private lines print offset 0 and keep it. */
static void clip_start(struct kview_entry *e, uint64_t new_start)
{
	if (e->offset || e->ino)
		e->offset += new_start - e->start;
	e->start = new_start;
}

/* One line.  cut: the line was longer than the buffer and ends early.
 * Returns 0 to go on, TEXT_STOP when done, or -EINVAL. */
static int text_line(struct kview *kv, struct text_state *st,
		     const char *line, size_t len, bool cut)
{
	struct kview_entry e;
	const char *name;
	size_t name_len;
	int r = parse_fields(line, len, &e, &name, &name_len);

	if (r)
		return r;
	if (e.start >= st->end)
		return TEXT_STOP;
	if (e.start < st->last_end) {
		kv->torn = true;
		if (e.end <= st->last_end)
			return 0; /* wholly inside the line before: drop */
		clip_start(&e, st->last_end);
	}
	st->last_end = e.end;
	if (e.end <= st->start)
		return 0;
	if (kv->n == kv->cap) {
		kv->truncated = true;
		return TEXT_STOP;
	}
	put_name(kv, &e, name, name_len, cut);
	kv->v[kv->n++] = e;
	return 0;
}

int kview_parse_text(struct kview *kv, const char *text, size_t len,
		     uint64_t start, uint64_t end)
{
	struct text_state st = { start, end, 0 };
	const char *p = text, *lim = text + len;

	kview_reset(kv);
	kv->used = KVIEW_METHOD_TEXT;
	while (p < lim && start < end) {
		const char *nl = memchr(p, '\n', (size_t)(lim - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(lim - p);
		int r = text_line(kv, &st, p, n, false);

		if (r < 0)
			return r;
		if (r == TEXT_STOP)
			break;
		p += n + 1;
	}
	return 0;
}

int kview_read_text(struct kview *kv, int maps_fd, uint64_t start,
		    uint64_t end, char *iobuf, size_t iobuf_len)
{
	struct text_state st = { start, end, 0 };
	uint64_t off = 0;          /* bytes read so far: the next pread offset */
	size_t have = 0;           /* bytes of an unfinished line in iobuf */
	bool skip = false;         /* dropping the tail of an overlong line */
	int fd = maps_fd, ret = 0;

	if (!iobuf || iobuf_len < KVIEW_IOBUF_MIN)
		return -EINVAL;
	kview_reset(kv);
	kv->used = KVIEW_METHOD_TEXT;
	if (start >= end)
		return 0;
	if (fd < 0) {
		fd = kview_open_maps();
		if (fd < 0)
			return fd;
	}

	for (;;) {
		size_t pos = 0, scan = have, total;
		long r = rawsys_pread(fd, iobuf + have, iobuf_len - have, off);

		kv->reads++;
		if (r == -EINTR)
			continue;
		if (r < 0) {
			ret = (int)r;
			break;
		}
		if (r == 0) {
			/* End of file.  The kernel ends every line with '\n';
			 * take a last unterminated line all the same. */
			if (have && !skip)
				ret = text_line(kv, &st, iobuf, have, false);
			break;
		}
		off += (uint64_t)r;
		total = have + (size_t)r;

		for (;;) {
			char *nl = memchr(iobuf + scan, '\n', total - scan);

			if (!nl)
				break;
			if (skip)
				skip = false;
			else
				ret = text_line(kv, &st, iobuf + pos,
						(size_t)(nl - (iobuf + pos)),
						false);
			if (ret)
				goto out;
			pos = scan = (size_t)(nl - iobuf) + 1;
		}

		have = total - pos;
		if (have && pos)
			memmove(iobuf, iobuf + pos, have);
		if (have == iobuf_len) {
			/* One line fills iobuf: take it with its name cut,
			 * then drop bytes up to its newline. */
			if (!skip) {
				ret = text_line(kv, &st, iobuf, have, true);
				if (ret)
					goto out;
			}
			skip = true;
			have = 0;
		}
	}
out:
	if (maps_fd < 0)
		kview_close(fd);
	return ret == TEXT_STOP ? 0 : ret;
}

/* ---- the PROCMAP_QUERY reader ------------------------------------------ */

/* One PROCMAP_QUERY for the VMA covering addr or the next one; the name
 * goes to buf (bufsz 0: no name asked). */
static int query_once(struct kview *kv, int fd, uint64_t addr,
		      struct procmap_query *q, char *buf, uint32_t bufsz)
{
	int r;

	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	q->query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
	q->query_addr = addr;
	if (bufsz) {
		q->vma_name_addr = (uint64_t)(uintptr_t)buf;
		q->vma_name_size = bufsz;
	}
	do {
		kv->reads++;
		if (kv->fail_query)
			return -kv->fail_query;
		r = rawsys_ioctl(fd, PROCMAP_QUERY, q);
	} while (r == -EINTR);
	return r;
}

static const char esc_nl[4] = { '\\', '0', '1', '2' };

/* Copy src to dst (at most cap bytes) writing '\n' as "\012".  Returns the
 * bytes written; *full gets the length of the whole escaped name. */
static size_t copy_escaped(char *dst, size_t cap, const char *src,
			   size_t len, size_t *full)
{
	size_t i, j = 0, need = 0;

	for (i = 0; i < len; i++) {
		size_t w = src[i] == '\n' ? 4 : 1;
		const char *from = w == 4 ? esc_nl : src + i;
		size_t k;

		need += w;
		for (k = 0; k < w && j < cap; k++)
			dst[j++] = from[k];
	}
	*full = need;
	return j;
}

/* buf holds len bytes with nl newlines; rewrite them in place with each '\n'
 * as "\012", keeping the first cap bytes of the result (cap >= len).  Works
 * from the back: every byte moves right, never onto one not yet moved. */
static size_t escape_in_place(char *buf, size_t len, size_t nl, size_t cap)
{
	size_t out = len + 3 * nl, j = out, i = len, k;

	while (i-- > 0) {
		if (buf[i] == '\n') {
			j -= 4;
			for (k = 0; k < 4; k++)
				if (j + k < cap)
					buf[j + k] = esc_nl[k];
		} else {
			j--;
			if (j < cap)
				buf[j] = buf[i];
		}
	}
	return out < cap ? out : cap;
}

/* Store the name the kernel wrote at kv->names + kv->names_len (direct)
 * or in a scratch buffer (!direct) for e.  len excludes the NUL. */
static void query_name(struct kview *kv, struct kview_entry *e,
		       const char *src, size_t len, bool direct)
{
	size_t room = names_room(kv), full = len, n, nl = 0, i;

	if (room > UINT16_MAX)
		room = UINT16_MAX;
	e->name_kind = kview_classify_name(src, len);
	e->name_off = (uint32_t)kv->names_len;
	for (i = 0; i < len; i++)
		nl += src[i] == '\n';
	if (direct) {
		/* The kernel wrote within the room, so len <= room. */
		full = len + 3 * nl;
		n = nl ? escape_in_place(kv->names + kv->names_len, len, nl,
					 room)
		       : (len < room ? len : room);
	} else {
		n = copy_escaped(kv->names + kv->names_len, room, src, len,
				 &full);
	}
	e->name_len = (uint16_t)n;
	e->name_truncated = n < full;
	kv->names_len += n;
}

/* query_once() when kv->names has less room than a name can take: the name
 * goes through a stack buffer (kept out of the common path's frame) and is
 * stored in e when the entry will be kept. */
static __attribute__((noinline)) int
query_scratch(struct kview *kv, int fd, uint64_t addr, struct procmap_query *q,
	      struct kview_entry *e, uint64_t end)
{
	char scratch[KVIEW_QUERY_NAME_MAX];
	int r = query_once(kv, fd, addr, q, scratch, sizeof(scratch));

	if (r == 0 && q->vma_name_size && q->vma_start < end &&
	    kv->n < kv->cap)
		query_name(kv, e, scratch, q->vma_name_size - 1, false);
	return r;
}

int kview_read_query(struct kview *kv, int maps_fd, uint64_t start,
		     uint64_t end)
{
	uint64_t addr = start, last_end = 0;
	int fd = maps_fd, ret = 0;

	kview_reset(kv);
	kv->used = KVIEW_METHOD_QUERY;
	if (start >= end)
		return 0;
	if (fd < 0) {
		fd = kview_open_maps();
		if (fd < 0)
			return fd;
	}

	while (addr < end) {
		struct procmap_query q;
		struct kview_entry e;
		bool direct = names_room(kv) >= KVIEW_QUERY_NAME_MAX;
		bool too_long = false;
		int r;

		memset(&e, 0, sizeof(e));
		bool nameless = false;
		if (kv->want_name) {
			/* The name only when the caller wants it: asked again
			 * with it (the same VMA, or whatever is there now). */
			r = query_once(kv, fd, addr, &q, NULL, 0);
			nameless = r != 0 || q.vma_start >= end ||
				   !kv->want_name(kv->want_ctx, q.vma_start,
						  q.vma_end);
		}
		if (!nameless)
			r = direct ? query_once(kv, fd, addr, &q,
						kv->names + kv->names_len,
						KVIEW_QUERY_NAME_MAX)
				   : query_scratch(kv, fd, addr, &q, &e, end);
		if (r == -ENAMETOOLONG) {
			/* Longer than PATH_MAX: only the text shows it. */
			too_long = true;
			r = query_once(kv, fd, addr, &q, NULL, 0);
		}
		if (r == -ENOENT)
			break;
		if (r) {
			ret = r;
			break;
		}
		if (q.vma_start >= end)
			break;
		if (kv->n == kv->cap) {
			kv->truncated = true;
			break;
		}

		e.start = q.vma_start;
		e.end = q.vma_end;
		e.offset = q.vma_offset;
		e.ino = q.inode;
		e.dev = (q.dev_major & 0xfff) << 20 | (q.dev_minor & 0xfffff);
		e.page_size = q.vma_page_size;
		if (q.vma_flags & PROCMAP_QUERY_VMA_READABLE)
			e.flags |= SV_READ;
		if (q.vma_flags & PROCMAP_QUERY_VMA_WRITABLE)
			e.flags |= SV_WRITE;
		if (q.vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE)
			e.flags |= SV_EXEC;
		if (q.vma_flags & PROCMAP_QUERY_VMA_SHARED)
			e.flags |= SV_MAYSHARE;

		if (too_long) {
			e.name_off = (uint32_t)kv->names_len;
			e.name_kind = SHADOW_NAME_FILE;
			e.name_truncated = 1;
		} else if (nameless) {
			e.name_off = (uint32_t)kv->names_len;
			e.name_kind = SHADOW_NAME_ANON;
			kv->names_skipped++;
		} else if (!q.vma_name_size) {
			e.name_off = (uint32_t)kv->names_len;
			e.name_kind = SHADOW_NAME_ANON;
		} else if (direct) {
			query_name(kv, &e, kv->names + kv->names_len,
				   q.vma_name_size - 1, true);
		} /* else query_scratch() stored it */

		/* A VMA that changed since the last call can start before
		 * the end of the one before it (see the text reader). */
		if (e.start < last_end) {
			kv->torn = true;
			clip_start(&e, last_end);
		}
		last_end = e.end;
		kv->v[kv->n++] = e;
		addr = q.vma_end;
	}

	if (maps_fd < 0)
		kview_close(fd);
	return ret;
}

int kview_query_probe(int maps_fd)
{
	struct kview kv;
	struct procmap_query q;
	int fd = maps_fd, r;

	if (fd < 0) {
		fd = kview_open_maps();
		if (fd < 0)
			return 0;
	}
	kview_init(&kv, NULL, 0, NULL, 0);
	r = query_once(&kv, fd, 0, &q, NULL, 0);
	if (maps_fd < 0)
		kview_close(fd);
	return r == 0 || r == -ENOENT;
}

/* ---- either ---------------------------------------------------------- */

/* Errors by which a kernel says it has no PROCMAP_QUERY. */
static bool query_missing(int r)
{
	return r == -ENOTTY || r == -EINVAL || r == -EOPNOTSUPP;
}

int kview_read(struct kview *kv, int maps_fd, uint64_t start, uint64_t end,
	       char *iobuf, size_t iobuf_len)
{
	if (kv->method != KVIEW_METHOD_TEXT) {
		int r = kview_read_query(kv, maps_fd, start, end);

		if (kv->method == KVIEW_METHOD_QUERY || !query_missing(r))
			return r;
		kv->method = KVIEW_METHOD_TEXT;
	}
	return kview_read_text(kv, maps_fd, start, end, iobuf, iobuf_len);
}
