/*
 * test_kview.c - the kernel views (shadow/kview.c): the maps line parser on
 * crafted lines, both readers on this live process (mappings of every kind,
 * spans, small buffers, full buffers, torn reads, names longer than a
 * buffer or than PATH_MAX), the fallback from PROCMAP_QUERY to text, and the
 * agreement of the two readers.
 *
 * The live tests read this process while it does nothing else: every buffer
 * is static and nothing between two reads allocates, so the address space
 * holds still.  Where a test compares two readings it first checks that two
 * text readings around them agree, and retries if something (the sanitizer
 * runtime) moved.
 *
 * Address diagrams: one character per page, G a PROT_NONE guard page that
 * keeps what is mapped beside it from merging with anything.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "kview.h"
#include "rawsys.h"
#include "shadow.h"

#define PAGE 4096UL
#define MAXV 8192
#define NAMES (1u << 20)

struct view {
	struct kview kv;
	struct kview_entry v[MAXV];
	char names[NAMES];
};

static struct view va, vb, vc, vd;
static char iobuf[1 << 20];
static char small_iobuf[KVIEW_IOBUF_MIN];
static char page_iobuf[4096];

static void view_init(struct view *w)
{
	kview_init(&w->kv, w->v, MAXV, w->names, NAMES);
}

static const struct kview_entry *find(const struct kview *kv, const void *p)
{
	uint64_t addr = (uint64_t)(uintptr_t)p;
	size_t i;

	for (i = 0; i < kv->n; i++)
		if (kv->v[i].start <= addr && addr < kv->v[i].end)
			return &kv->v[i];
	return NULL;
}

static bool name_eq(const struct kview *kv, const struct kview_entry *e,
		    const char *s)
{
	return e->name_len == strlen(s) &&
	       memcmp(kview_name(kv, e), s, e->name_len) == 0;
}

static void fmt_entry(char *buf, size_t len, const struct kview *kv,
		      const struct kview_entry *e)
{
	snprintf(buf, len,
		 "%llx-%llx flags %x off %llx dev %x ino %llu ps %llu kind %u"
		 " cut %u '%.*s'",
		 (unsigned long long)e->start, (unsigned long long)e->end,
		 e->flags, (unsigned long long)e->offset, e->dev,
		 (unsigned long long)e->ino, (unsigned long long)e->page_size,
		 e->name_kind, e->name_truncated,
		 e->name_len > 200 ? 200 : (int)e->name_len,
		 kview_name(kv, e));
}

/* Every field but page_size, and the name's bytes (not its offset). */
static bool entry_eq(const struct kview *ka, const struct kview_entry *a,
		     const struct kview *kb, const struct kview_entry *b)
{
	return a->start == b->start && a->end == b->end &&
	       a->offset == b->offset && a->ino == b->ino &&
	       a->dev == b->dev && a->flags == b->flags &&
	       a->name_kind == b->name_kind &&
	       a->name_truncated == b->name_truncated &&
	       a->name_len == b->name_len &&
	       memcmp(kview_name(ka, a), kview_name(kb, b), a->name_len) == 0;
}

/* Index of the first entry that differs between a and b (comparing the first
 * n entries of each), or -1 when they are equal and both hold n. */
static long first_diff(const struct kview *a, const struct kview *b, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < a->n && i < b->n; i++)
		if (!entry_eq(a, &a->v[i], b, &b->v[i]))
			return (long)i;
	return a->n >= n && b->n >= n ? -1 : (long)i;
}

static void assert_same(const struct kview *a, const struct kview *b,
			size_t n, const char *what)
{
	long i = first_diff(a, b, n);

	if (i >= 0) {
		char x[512] = "(none)", y[512] = "(none)";
		if ((size_t)i < a->n)
			fmt_entry(x, sizeof(x), a, &a->v[i]);
		if ((size_t)i < b->n)
			fmt_entry(y, sizeof(y), b, &b->v[i]);
		ck_abort_msg("%s: entry %ld differs (n %zu / %zu):\n  %s\n  %s",
			     what, i, a->n, b->n, x, y);
	}
}

static bool views_equal(const struct kview *a, const struct kview *b)
{
	return a->n == b->n && first_diff(a, b, a->n) < 0;
}

/* Sorted, each non-empty, none overlapping. */
static void assert_ordered(const struct kview *kv)
{
	size_t i;

	for (i = 0; i < kv->n; i++) {
		ck_assert_uint_lt(kv->v[i].start, kv->v[i].end);
		if (i)
			ck_assert_uint_le(kv->v[i - 1].end, kv->v[i].start);
	}
}

static uint32_t kdev(dev_t d)
{
	return (uint32_t)(major(d) << 20 | minor(d));
}

/* pages pages with a PROT_NONE guard page on each side; returns the first
 * of the pages, which are PROT_NONE too until mapped over. */
static char *reserve(size_t pages)
{
	char *p = mmap(NULL, (pages + 2) * PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	return p + PAGE;
}

static void unreserve(char *first, size_t pages)
{
	munmap(first - PAGE, (pages + 2) * PAGE);
}

static char *map_at(char *at, size_t len, int prot, int flags, int fd,
		    off_t off)
{
	char *p = mmap(at, len, prot, flags | MAP_FIXED, fd, off);

	ck_assert_ptr_eq(p, at);
	return p;
}

static uint64_t u64(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* ---- names ----------------------------------------------------------- */

START_TEST(test_classify)
{
	static const struct {
		const char *name;
		uint8_t kind;
	} t[] = {
		{ "", SHADOW_NAME_ANON },
		{ "[heap]", SHADOW_NAME_HEAP },
		{ "[stack]", SHADOW_NAME_STACK },
		{ "[vdso]", SHADOW_NAME_VDSO },
		{ "[vvar]", SHADOW_NAME_VVAR },
		{ "[vvar_vclock]", SHADOW_NAME_VVAR },
		{ "[vsyscall]", SHADOW_NAME_VSYSCALL },
		{ "[anon:glibc malloc]", SHADOW_NAME_OTHER },
		{ "[anon_shmem:x]", SHADOW_NAME_OTHER },
		{ "[uprobes]", SHADOW_NAME_OTHER },
		{ "[stack:1234]", SHADOW_NAME_OTHER },
		{ "[heap", SHADOW_NAME_OTHER },
		{ "/dev/zero (deleted)", SHADOW_NAME_SHMEM },
		{ "/SYSV0000abcd (deleted)", SHADOW_NAME_SHMEM },
		{ "/SYSV0000abcd", SHADOW_NAME_FILE },
		{ "/SYSVfoo (deleted)", SHADOW_NAME_FILE },
		{ "/dev/zero", SHADOW_NAME_FILE },
		{ "/usr/lib/x86_64-linux-gnu/libc.so.6", SHADOW_NAME_FILE },
		{ "/tmp/x (deleted)", SHADOW_NAME_FILE },
		{ "/memfd:jit (deleted)", SHADOW_NAME_FILE },
		{ "anon_inode:[perf_event]", SHADOW_NAME_FILE },
		{ "heap", SHADOW_NAME_FILE },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(kview_classify_name(t[i].name,
						  strlen(t[i].name)) ==
				      t[i].kind,
			      "%s", t[i].name);
}
END_TEST

/* ---- kview_parse_line -------------------------------------------------- */

static struct kview_entry parse_ok(struct view *w, const char *line)
{
	struct kview_entry e;
	int r = kview_parse_line(&w->kv, line, strlen(line), &e);

	ck_assert_msg(r == 0, "parse '%s': %d", line, r);
	return e;
}

START_TEST(test_parse_file_line)
{
	struct view *w = &va;
	struct kview_entry e;

	view_init(w);
	e = parse_ok(w, "7f0000001000-7f0000003000 r-xp 00002000 fd:01 "
			"1234567                    /usr/lib/libc.so.6");
	ck_assert_uint_eq(e.start, 0x7f0000001000ull);
	ck_assert_uint_eq(e.end, 0x7f0000003000ull);
	ck_assert_uint_eq(e.flags, SV_READ | SV_EXEC);
	ck_assert_uint_eq(e.offset, 0x2000);
	ck_assert_uint_eq(e.dev, 0xfdu << 20 | 0x01);
	ck_assert_uint_eq(e.ino, 1234567);
	ck_assert_uint_eq(e.page_size, 0);
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_FILE);
	ck_assert_uint_eq(e.name_truncated, 0);
	ck_assert(name_eq(&w->kv, &e, "/usr/lib/libc.so.6"));
	/* The entry is not added; only the name is stored. */
	ck_assert_uint_eq(w->kv.n, 0);
	ck_assert_uint_eq(w->kv.names_len, strlen("/usr/lib/libc.so.6"));
}
END_TEST

START_TEST(test_parse_special_lines)
{
	struct view *w = &va;
	struct kview_entry e;

	view_init(w);
	/* Large addresses: the gate area at the top of the space. */
	e = parse_ok(w, "ffffffffff600000-ffffffffff601000 --xp 00000000 "
			"00:00 0                  [vsyscall]");
	ck_assert_uint_eq(e.start, 0xffffffffff600000ull);
	ck_assert_uint_eq(e.end, 0xffffffffff601000ull);
	ck_assert_uint_eq(e.flags, SV_EXEC);
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_VSYSCALL);

	/* Anonymous: the kernel ends the line with "inode ". */
	e = parse_ok(w, "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 ");
	ck_assert_uint_eq(e.flags, SV_READ | SV_WRITE);
	ck_assert_uint_eq(e.name_len, 0);
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_ANON);
	e = parse_ok(w, "7ffd00000000-7ffd00021000 ---p 00000000 00:00 0");
	ck_assert_uint_eq(e.flags, 0);
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_ANON);

	/* Shared anonymous memory is a shmem file called /dev/zero. */
	e = parse_ok(w, "7f1000000000-7f1000001000 rw-s 00000000 00:01 7"
			"                          /dev/zero (deleted)");
	ck_assert_uint_eq(e.flags, SV_READ | SV_WRITE | SV_MAYSHARE);
	ck_assert_uint_eq(e.dev, 1);
	ck_assert_uint_eq(e.ino, 7);
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_SHMEM);
	ck_assert(name_eq(&w->kv, &e, "/dev/zero (deleted)"));

	e = parse_ok(w, "7f1000000000-7f1000001000 rw-s 00000000 00:01 32768"
			"   /SYSV0001e240 (deleted)");
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_SHMEM);

	/* Spaces inside and at the end of a name are the name's. */
	e = parse_ok(w, "7f1000000000-7f1000001000 r--p 00001000 08:02 42"
			"     /tmp/a dir/file  with spaces ");
	ck_assert(name_eq(&w->kv, &e, "/tmp/a dir/file  with spaces "));
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_FILE);

	/* " (deleted)" stays in the name. */
	e = parse_ok(w, "7f1000000000-7f1000001000 r--s 00000000 08:02 42"
			" /tmp/gone (deleted)");
	ck_assert(name_eq(&w->kv, &e, "/tmp/gone (deleted)"));
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_FILE);
	ck_assert_uint_eq(e.flags, SV_READ | SV_MAYSHARE);

	e = parse_ok(w, "7f1000000000-7f1000001000 rw-p 00000000 00:00 0"
			"                          [anon:glibc: malloc arena]");
	ck_assert(name_eq(&w->kv, &e, "[anon:glibc: malloc arena]"));
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_OTHER);

	/* Widest fields: 16-digit offset, 12-bit major, 20-bit minor,
	 * 20-digit inode; hex in either case. */
	e = parse_ok(w, "0-1000 rwxs FFFFFFFFFFFFF000 fff:fffff "
			"18446744073709551615 /x");
	ck_assert_uint_eq(e.start, 0);
	ck_assert_uint_eq(e.flags, SV_READ | SV_WRITE | SV_EXEC | SV_MAYSHARE);
	ck_assert_uint_eq(e.offset, 0xfffffffffffff000ull);
	ck_assert_uint_eq(e.dev, 0xffffffffu);
	ck_assert_uint_eq(e.ino, UINT64_MAX);
}
END_TEST

START_TEST(test_parse_malformed)
{
	static const char *const bad[] = {
		"",
		" ",
		"7f00",
		"7f00-",
		"7f00-7f01",
		"7f00-7f01 ",
		"7f00 7f01 r-xp 00000000 00:00 0",
		"7f00-7f01 r-xp",
		"7f00-7f01 r-x 00000000 00:00 0",
		"7f00-7f01 rwzp 00000000 00:00 0",
		"7f00-7f01 xw-p 00000000 00:00 0",
		"7f00-7f01 r-xq 00000000 00:00 0",
		"7f00-7f01 r-xp 0000000g 00:00 0",
		"7f00-7f01 r-xp 00000000 00-00 0",
		"7f00-7f01 r-xp 00000000 00: 0",
		"7f00-7f01 r-xp 00000000 00:00",
		"7f00-7f01 r-xp 00000000 00:00 ",
		"7f00-7f01 r-xp 00000000 00:00 x",
		"7f00-7f01 r-xp 00000000 00:00 12x /a",
		"7f00-7f01 r-xp 00000000 00:00 0/a",
		"7f00-7f01  r-xp 00000000 00:00 0",
		"x7f00-7f01 r-xp 00000000 00:00 0",
		/* 17 hex digits overflow 64 bits */
		"10000000000000000-10000000000001000 r-xp 00000000 00:00 0",
		"1000-2000 r-xp 10000000000000000 00:00 0",
		/* empty or inverted range */
		"7f00-7f00 r-xp 00000000 00:00 0",
		"7f01-7f00 r-xp 00000000 00:00 0",
		/* major beyond 12 bits, minor beyond 20 */
		"1000-2000 r-xp 00000000 1000:00 0",
		"1000-2000 r-xp 00000000 00:100000 0",
		/* inode beyond 64 bits */
		"1000-2000 r-xp 00000000 00:00 18446744073709551616",
	};
	struct view *w = &va;
	size_t i;

	view_init(w);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kview_entry e;
		int r = kview_parse_line(&w->kv, bad[i], strlen(bad[i]), &e);
		ck_assert_msg(r == -EINVAL, "'%s' gave %d", bad[i], r);
	}
	ck_assert_uint_eq(w->kv.names_len, 0);
}
END_TEST

/* A name longer than the room left in kv->names is cut; classified whole. */
START_TEST(test_parse_names_full)
{
	static char names[10];
	struct kview kv;
	struct kview_entry e;
	const char *line = "1000-2000 r--p 00000000 08:01 5 "
			   "/a/long/path/to/a/file (deleted)";

	kview_init(&kv, NULL, 0, names, sizeof(names));
	ck_assert_int_eq(kview_parse_line(&kv, line, strlen(line), &e), 0);
	ck_assert_uint_eq(e.name_len, 10);
	ck_assert_uint_eq(e.name_truncated, 1);
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_FILE);
	ck_assert(memcmp(kview_name(&kv, &e), "/a/long/pa", 10) == 0);

	line = "1000-2000 rw-s 00000000 00:01 5 /dev/zero (deleted)";
	ck_assert_int_eq(kview_parse_line(&kv, line, strlen(line), &e), 0);
	ck_assert_uint_eq(e.name_len, 0);
	ck_assert_uint_eq(e.name_off, 10);
	ck_assert_uint_eq(e.name_truncated, 1);
	ck_assert_uint_eq(e.name_kind, SHADOW_NAME_SHMEM);

	/* No name needs no room. */
	line = "1000-2000 rw-p 00000000 00:00 0 ";
	ck_assert_int_eq(kview_parse_line(&kv, line, strlen(line), &e), 0);
	ck_assert_uint_eq(e.name_truncated, 0);
}
END_TEST

/* ---- kview_parse_text: span, torn lines, cap --------------------------- */

/*
 *   1  2  3  4  5  6       (x 0x1000)
 *   AA                     A [1,3) file at offset 0x5000
 *      BBBBBB              B [2,5) overlaps A: clipped to [3,5), its
 *                          offset moved with its start
 *      CC                  C [2,4) wholly inside A..B: dropped
 *                  DD      D [6,7) anonymous
 */
static const char torn_text[] =
	"1000-3000 r--p 00005000 08:01 77 /lib/a\n"
	"2000-5000 rw-p 00006000 08:01 77 /lib/a\n"
	"2000-4000 rw-p 00000000 00:00 0 \n"
	"6000-7000 rw-p 00000000 00:00 0";

START_TEST(test_text_torn)
{
	struct view *w = &va;
	struct kview *kv = &w->kv;

	view_init(w);
	ck_assert_int_eq(kview_parse_text(kv, torn_text, strlen(torn_text), 0,
					  UINT64_MAX),
			 0);
	ck_assert(kv->torn);
	ck_assert(!kv->truncated);
	ck_assert_uint_eq(kv->n, 3);
	ck_assert_uint_eq(kv->reads, 0);
	ck_assert_uint_eq(kv->v[0].start, 0x1000);
	ck_assert_uint_eq(kv->v[0].end, 0x3000);
	ck_assert_uint_eq(kv->v[0].offset, 0x5000);
	ck_assert_uint_eq(kv->v[1].start, 0x3000);
	ck_assert_uint_eq(kv->v[1].end, 0x5000);
	ck_assert_uint_eq(kv->v[1].offset, 0x7000);
	ck_assert_uint_eq(kv->v[1].flags, SV_READ | SV_WRITE);
	ck_assert(name_eq(kv, &kv->v[1], "/lib/a"));
	ck_assert_uint_eq(kv->v[2].start, 0x6000);
	ck_assert_uint_eq(kv->v[2].offset, 0);
	ck_assert_uint_eq(kv->v[2].name_kind, SHADOW_NAME_ANON);
}
END_TEST

START_TEST(test_text_span_and_cap)
{
	static const char text[] = "1000-3000 r--p 00000000 08:01 77 /lib/a\n"
				   "3000-5000 rw-p 00000000 00:00 0 \n"
				   "6000-7000 rw-p 00000000 00:00 0 [heap]\n";
	static const char bad[] = "1000-2000 rw-p 0 00:00 0\n\n"
				  "3000-4000 rw-p 0 00:00 0\n";
	struct view *w = &va;
	struct kview *kv = &w->kv;
	struct kview_entry v2[2];
	struct kview small;

	view_init(w);
	/* [0x3500, 0x6000): only B; D starts at the end. */
	ck_assert_int_eq(kview_parse_text(kv, text, strlen(text), 0x3500,
					  0x6000),
			 0);
	ck_assert_uint_eq(kv->n, 1);
	ck_assert_uint_eq(kv->v[0].start, 0x3000);
	ck_assert(!kv->torn);
	/* [0x2fff, 0x3001): A and B. */
	ck_assert_int_eq(kview_parse_text(kv, text, strlen(text), 0x2fff,
					  0x3001),
			 0);
	ck_assert_uint_eq(kv->n, 2);
	/* Empty span. */
	ck_assert_int_eq(kview_parse_text(kv, text, strlen(text), 0x2000,
					  0x2000),
			 0);
	ck_assert_uint_eq(kv->n, 0);

	/* Two entries for three lines. */
	kview_init(&small, v2, 2, w->names, NAMES);
	ck_assert_int_eq(kview_parse_text(&small, text, strlen(text), 0,
					  UINT64_MAX),
			 0);
	ck_assert_uint_eq(small.n, 2);
	ck_assert(small.truncated);
	/* Exactly two: not truncated. */
	ck_assert_int_eq(kview_parse_text(&small, text, strlen(text), 0,
					  0x6000),
			 0);
	ck_assert_uint_eq(small.n, 2);
	ck_assert(!small.truncated);

	/* A bad line anywhere (here an empty one) is an error. */
	ck_assert_int_eq(kview_parse_text(kv, bad, strlen(bad), 0, UINT64_MAX),
			 -EINVAL);
}
END_TEST

/* ---- the live process -------------------------------------------------- */

/* Both readers on a fresh kv; fails the test on an error. */
static void read_text(struct view *w, int fd, uint64_t start, uint64_t end,
		      char *buf, size_t len)
{
	int r;

	view_init(w);
	r = kview_read_text(&w->kv, fd, start, end, buf, len);
	ck_assert_msg(r == 0, "kview_read_text: %d", r);
	ck_assert_uint_eq(w->kv.used, KVIEW_METHOD_TEXT);
}

static void read_query(struct view *w, int fd, uint64_t start, uint64_t end)
{
	int r;

	view_init(w);
	r = kview_read_query(&w->kv, fd, start, end);
	ck_assert_msg(r == 0, "kview_read_query: %d", r);
	ck_assert_uint_eq(w->kv.used, KVIEW_METHOD_QUERY);
}

struct expect {
	const void *addr;
	size_t len;
	uint32_t flags;
	uint64_t offset;
	uint64_t ino;              /* 0: must be 0; UINT64_MAX: any non-zero */
	uint32_t dev;
	bool dev_any;
	uint8_t kind;
	const char *name;          /* NULL: no name */
};

static void check_expect(const struct kview *kv, const struct expect *x,
			 bool query, const char *what)
{
	const struct kview_entry *e = find(kv, x->addr);

	ck_assert_msg(e != NULL, "%s: no entry for %p", what, x->addr);
	ck_assert_msg(e->start == u64(x->addr) &&
			      e->end == u64(x->addr) + x->len,
		      "%s: bounds %llx-%llx for %p+%zu", what,
		      (unsigned long long)e->start, (unsigned long long)e->end,
		      x->addr, x->len);
	ck_assert_msg(e->flags == x->flags, "%s: flags %x want %x", what,
		      e->flags, x->flags);
	ck_assert_msg(e->offset == x->offset, "%s: offset %llx want %llx",
		      what, (unsigned long long)e->offset,
		      (unsigned long long)x->offset);
	if (x->ino == UINT64_MAX)
		ck_assert_msg(e->ino != 0, "%s: no inode", what);
	else
		ck_assert_msg(e->ino == x->ino, "%s: ino %llu want %llu", what,
			      (unsigned long long)e->ino,
			      (unsigned long long)x->ino);
	if (!x->dev_any)
		ck_assert_msg(e->dev == x->dev, "%s: dev %x want %x", what,
			      e->dev, x->dev);
	ck_assert_msg(e->name_kind == x->kind, "%s: kind %u want %u", what,
		      e->name_kind, x->kind);
	ck_assert_msg(name_eq(kv, e, x->name ? x->name : ""),
		      "%s: name '%.*s' want '%s'", what, (int)e->name_len,
		      kview_name(kv, e), x->name ? x->name : "");
	ck_assert_uint_eq(e->name_truncated, 0);
	ck_assert_uint_eq(e->page_size, query ? PAGE : 0);
}

/*
 *   G AP G AS G FP G FS G D G
 *
 *   AP anonymous private rw-p      AS anonymous shared rw-s
 *   FP file private r--p at offset one page
 *   FS file shared rw-s at offset two pages (same file, spaces in its path)
 *   D  file shared r--s, unlinked after mapping: "... (deleted)"
 */
START_TEST(test_live_mappings)
{
	char dir[] = "/tmp/vmacheck kview.XXXXXX";
	char fpath[128], dpath[128], dname[160];
	struct stat st, dst;
	struct expect x[5];
	int fd, dfd, pass;
	char *r;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fpath, sizeof(fpath), "%s/a file  with spaces.bin", dir);
	snprintf(dpath, sizeof(dpath), "%s/soon gone", dir);
	snprintf(dname, sizeof(dname), "%s (deleted)", dpath);
	fd = open(fpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dfd = open(dpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(ftruncate(fd, 3 * PAGE), 0);
	ck_assert_int_eq(ftruncate(dfd, PAGE), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(fstat(dfd, &dst), 0);

	r = reserve(9);
	map_at(r, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	       -1, 0)[0] = 1;
	map_at(r + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE,
	       MAP_SHARED | MAP_ANONYMOUS, -1, 0)[0] = 1;
	map_at(r + 4 * PAGE, PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
	map_at(r + 6 * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	       2 * PAGE);
	map_at(r + 8 * PAGE, PAGE, PROT_READ, MAP_SHARED, dfd, 0);
	ck_assert_int_eq(unlink(dpath), 0);

	x[0] = (struct expect){ r, PAGE, SV_READ | SV_WRITE, 0, 0, 0, false,
				SHADOW_NAME_ANON, NULL };
	x[1] = (struct expect){ r + 2 * PAGE, PAGE,
				SV_READ | SV_WRITE | SV_MAYSHARE, 0,
				UINT64_MAX, 0, true, SHADOW_NAME_SHMEM,
				"/dev/zero (deleted)" };
	x[2] = (struct expect){ r + 4 * PAGE, PAGE, SV_READ, PAGE,
				st.st_ino, kdev(st.st_dev), false,
				SHADOW_NAME_FILE, fpath };
	x[3] = (struct expect){ r + 6 * PAGE, PAGE,
				SV_READ | SV_WRITE | SV_MAYSHARE, 2 * PAGE,
				st.st_ino, kdev(st.st_dev), false,
				SHADOW_NAME_FILE, fpath };
	x[4] = (struct expect){ r + 8 * PAGE, PAGE, SV_READ | SV_MAYSHARE, 0,
				dst.st_ino, kdev(dst.st_dev), false,
				SHADOW_NAME_FILE, dname };

	read_text(&va, -1, 0, UINT64_MAX, iobuf, sizeof(iobuf));
	read_query(&vb, -1, 0, UINT64_MAX);
	for (pass = 0; pass < 5; pass++) {
		check_expect(&va.kv, &x[pass], false, "text");
		check_expect(&vb.kv, &x[pass], true, "query");
	}
	/* The shmem inode of AS: the same from both. */
	ck_assert_uint_eq(find(&va.kv, r + 2 * PAGE)->ino,
			  find(&vb.kv, r + 2 * PAGE)->ino);
	ck_assert_uint_eq(find(&va.kv, r + 2 * PAGE)->dev,
			  find(&vb.kv, r + 2 * PAGE)->dev);
	/* The guards between them. */
	ck_assert_uint_eq(find(&va.kv, r + PAGE)->flags, 0);
	ck_assert_uint_eq(find(&va.kv, r + PAGE)->start, u64(r + PAGE));
	ck_assert_uint_eq(find(&va.kv, r + PAGE)->end, u64(r + 2 * PAGE));

	unreserve(r, 9);
	close(fd);
	close(dfd);
	unlink(fpath);
	rmdir(dir);
}
END_TEST

/*
 * Text and PROCMAP_QUERY on the whole space, compared field by field.  The
 * two must agree except on page_size and on [vsyscall], which the text
 * prints after the last VMA and PROCMAP_QUERY never returns (it is the gate
 * area, not a VMA in the mm).  A mapped file with a newline in its name
 * checks that the query reader writes it as the text does ("\012").
 */
START_TEST(test_text_equals_query)
{
	char dir[] = "/tmp/vmacheck-kview.XXXXXX";
	char path[128], shown[160];
	const struct kview_entry *e;
	int fd, attempt, maps = kview_open_maps();
	bool vsyscall;
	char *r;
	size_t i;

	ck_assert_int_ge(maps, 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/new\nline", dir);
	snprintf(shown, sizeof(shown), "%s/new\\012line", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, PAGE), 0);
	r = reserve(1);
	map_at(r, PAGE, PROT_READ, MAP_SHARED, fd, 0);

	for (attempt = 0; attempt < 5; attempt++) {
		view_init(&va);
		view_init(&vb);
		view_init(&vc);
		ck_assert_int_eq(kview_read_text(&va.kv, maps, 0, UINT64_MAX,
						 iobuf, sizeof(iobuf)),
				 0);
		ck_assert_int_eq(kview_read_query(&vb.kv, maps, 0,
						  UINT64_MAX),
				 0);
		ck_assert_int_eq(kview_read_text(&vc.kv, maps, 0, UINT64_MAX,
						 iobuf, sizeof(iobuf)),
				 0);
		if (views_equal(&va.kv, &vc.kv))
			break;
	}
	ck_assert_msg(attempt < 5, "the address space never held still");
	ck_assert(!va.kv.truncated && !vb.kv.truncated);
	ck_assert(!va.kv.torn && !vb.kv.torn);

	/* [vsyscall]: last in the text when the kernel has it, never in the
	 * query. */
	vsyscall = va.kv.n &&
		   va.kv.v[va.kv.n - 1].name_kind == SHADOW_NAME_VSYSCALL;
	for (i = 0; i < vb.kv.n; i++)
		ck_assert_uint_ne(vb.kv.v[i].name_kind, SHADOW_NAME_VSYSCALL);
	ck_assert_uint_eq(vb.kv.n, va.kv.n - (vsyscall ? 1 : 0));
	if (vsyscall)
		ck_assert_uint_eq(va.kv.v[va.kv.n - 1].start,
				  0xffffffffff600000ull);

	assert_same(&va.kv, &vb.kv, vb.kv.n, "text vs query");
	for (i = 0; i < vb.kv.n; i++)
		ck_assert_uint_ne(vb.kv.v[i].page_size, 0);
	for (i = 0; i < va.kv.n; i++)
		ck_assert_uint_eq(va.kv.v[i].page_size, 0);
	assert_ordered(&va.kv);

	e = find(&vb.kv, r);
	ck_assert_ptr_nonnull(e);
	ck_assert_msg(name_eq(&vb.kv, e, shown), "'%.*s'", (int)e->name_len,
		      kview_name(&vb.kv, e));

	unreserve(r, 1);
	close(fd);
	unlink(path);
	rmdir(dir);
	kview_close(maps);
}
END_TEST

/* want_name: names are read only for the VMAs the caller asks for (here
 * the file mapping); every other field is the same as a full read, and
 * the VMAs read without their name are counted. */
static uint64_t wanted_start;
static unsigned want_asked;

static bool want_only(void *ctx, uint64_t start, uint64_t end)
{
	(void)end;
	ck_assert_ptr_eq(ctx, &wanted_start);
	want_asked++;
	return start == wanted_start;
}

START_TEST(test_query_names_wanted)
{
	char path[] = "/tmp/vmacheck-kview-want.XXXXXX";
	int fd = mkstemp(path), maps = kview_open_maps(), attempt;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(maps, 0);
	ck_assert_int_eq(ftruncate(fd, PAGE), 0);
	char *r = reserve(3);
	map_at(r, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	map_at(r + PAGE, PAGE, PROT_READ | PROT_WRITE,
	       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	map_at(r + 2 * PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	       0);
	wanted_start = u64(r);
	for (attempt = 0; attempt < 5; attempt++) {
		view_init(&va);
		view_init(&vb);
		view_init(&vc);
		vb.kv.want_name = want_only;
		vb.kv.want_ctx = &wanted_start;
		want_asked = 0;
		ck_assert_int_eq(kview_read_query(&va.kv, maps, 0, UINT64_MAX),
				 0);
		ck_assert_int_eq(kview_read_query(&vb.kv, maps, 0, UINT64_MAX),
				 0);
		ck_assert_int_eq(kview_read_query(&vc.kv, maps, 0, UINT64_MAX),
				 0);
		if (views_equal(&va.kv, &vc.kv))
			break;
	}
	ck_assert_msg(attempt < 5, "the address space never held still");
	ck_assert_uint_eq(vb.kv.n, va.kv.n);
	ck_assert_uint_eq(want_asked, vb.kv.n);
	ck_assert_uint_eq(vb.kv.names_skipped, vb.kv.n - 1);
	ck_assert_uint_eq(va.kv.names_skipped, 0);
	size_t named = 0;
	for (size_t i = 0; i < vb.kv.n; i++) {
		const struct kview_entry *a = &va.kv.v[i], *b = &vb.kv.v[i];
		ck_assert_uint_eq(a->start, b->start);
		ck_assert_uint_eq(a->end, b->end);
		ck_assert_uint_eq(a->flags, b->flags);
		ck_assert_uint_eq(a->ino, b->ino);
		ck_assert_uint_eq(a->dev, b->dev);
		ck_assert_uint_eq(a->offset, b->offset);
		if (b->start == wanted_start) {
			ck_assert_uint_eq(b->name_kind, SHADOW_NAME_FILE);
			ck_assert(name_eq(&vb.kv, b, path));
			named++;
		} else {
			ck_assert_uint_eq(b->name_len, 0);
			ck_assert_uint_eq(b->name_kind, SHADOW_NAME_ANON);
		}
	}
	ck_assert_uint_eq(named, 1);
	/* The full read named more than that one (libc, [stack], ...). */
	size_t full_named = 0;
	for (size_t i = 0; i < va.kv.n; i++)
		full_named += va.kv.v[i].name_len > 0;
	ck_assert_uint_gt(full_named, 1);
	unreserve(r, 3);
	close(fd);
	unlink(path);
	kview_close(maps);
}
END_TEST

/*
 *   G 0 1 2 3 4 G      0..4 alternate r-- and rw-: five VMAs
 *       [-----)        span [1, 4): VMAs 1 2 3
 *       [-) .          span [1 + 100, 2 + 1): VMAs 1 2 (only touching 2)
 */
START_TEST(test_span)
{
	char *r = reserve(5);
	int i, pass;

	for (i = 0; i < 5; i++)
		ck_assert_int_eq(mprotect(r + i * PAGE, PAGE,
					  i & 1 ? PROT_READ | PROT_WRITE
						: PROT_READ),
				 0);

	for (pass = 0; pass < 2; pass++) {
		struct view *w = &va;

		if (pass)
			read_query(w, -1, u64(r + PAGE), u64(r + 4 * PAGE));
		else
			read_text(w, -1, u64(r + PAGE), u64(r + 4 * PAGE),
				  iobuf, sizeof(iobuf));
		ck_assert_uint_eq(w->kv.n, 3);
		for (i = 0; i < 3; i++) {
			ck_assert_uint_eq(w->kv.v[i].start,
					  u64(r + (i + 1) * PAGE));
			ck_assert_uint_eq(w->kv.v[i].end,
					  u64(r + (i + 2) * PAGE));
			ck_assert_uint_eq(w->kv.v[i].flags,
					  i & 1 ? SV_READ
						: SV_READ | SV_WRITE);
		}
		ck_assert(!w->kv.truncated);

		if (pass)
			read_query(w, -1, u64(r + PAGE + 100),
				   u64(r + 2 * PAGE + 1));
		else
			read_text(w, -1, u64(r + PAGE + 100),
				  u64(r + 2 * PAGE + 1), iobuf, sizeof(iobuf));
		ck_assert_uint_eq(w->kv.n, 2);
		ck_assert_uint_eq(w->kv.v[0].start, u64(r + PAGE));
		ck_assert_uint_eq(w->kv.v[1].end, u64(r + 3 * PAGE));

		/* The guard page before 0 alone. */
		if (pass)
			read_query(w, -1, u64(r - PAGE), u64(r));
		else
			read_text(w, -1, u64(r - PAGE), u64(r), iobuf,
				  sizeof(iobuf));
		ck_assert_uint_eq(w->kv.n, 1);
		ck_assert_uint_eq(w->kv.v[0].start, u64(r - PAGE));
		ck_assert_uint_eq(w->kv.v[0].flags, 0);

		/* Empty span: nothing read. */
		if (pass)
			read_query(w, -1, u64(r), u64(r));
		else
			read_text(w, -1, u64(r), u64(r), iobuf, sizeof(iobuf));
		ck_assert_uint_eq(w->kv.n, 0);
		ck_assert_uint_eq(w->kv.reads, 0);
	}

	/* A span read stops early: fewer calls than the whole file. */
	read_text(&va, -1, 0, UINT64_MAX, page_iobuf, sizeof(page_iobuf));
	read_text(&vb, -1, 0, 0x10000, page_iobuf, sizeof(page_iobuf));
	ck_assert_uint_lt(vb.kv.reads, va.kv.reads);
	unreserve(r, 5);
}
END_TEST

/*
 *   G rw r- rw r- ... G    400 pages, alternating: 400 VMAs, 30 KB of text
 *
 * One page of iobuf (and the 256-byte minimum) must give what 1 MiB gives;
 * the kernel hands out at most a page per call whatever the buffer.
 */
START_TEST(test_small_iobuf)
{
	enum { N = 400 };
	char *r = reserve(N);
	int i, attempt;
	uint32_t reads_big = 0;

	for (i = 0; i < N; i += 2)
		ck_assert_int_eq(mprotect(r + i * PAGE, PAGE,
					  PROT_READ | PROT_WRITE),
				 0);

	for (attempt = 0; attempt < 5; attempt++) {
		read_text(&va, -1, 0, UINT64_MAX, iobuf, sizeof(iobuf));
		read_text(&vb, -1, 0, UINT64_MAX, page_iobuf,
			  sizeof(page_iobuf));
		read_text(&vc, -1, 0, UINT64_MAX, small_iobuf,
			  sizeof(small_iobuf));
		reads_big = va.kv.reads;
		read_text(&vd, -1, 0, UINT64_MAX, iobuf, sizeof(iobuf));
		if (views_equal(&va.kv, &vd.kv))
			break;
	}
	ck_assert_int_lt(attempt, 5);
	ck_assert_uint_ge(va.kv.n, N);
	assert_same(&va.kv, &vb.kv, va.kv.n, "1 MiB vs 4 KiB");
	ck_assert_uint_eq(va.kv.n, vb.kv.n);
	assert_same(&va.kv, &vc.kv, va.kv.n, "1 MiB vs 256 B");
	ck_assert_uint_eq(va.kv.n, vc.kv.n);
	/* Every line has at least 47 bytes ("s-e perm off dev ino\n" with
	 * 12-digit addresses). */
	ck_assert_uint_ge(vb.kv.reads, va.kv.n * 47 / 4096);
	ck_assert_uint_ge(vc.kv.reads, va.kv.n * 47 / 256);
	/* A bigger buffer does not mean fewer calls than one page gives. */
	ck_assert_uint_ge(reads_big, va.kv.n * 47 / 4096);
	unreserve(r, N);
}
END_TEST

/* cap entries: the first cap, truncated set; both readers. */
START_TEST(test_cap_exhausted)
{
	static struct kview_entry v3[3];
	struct kview kv;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		kview_init(&kv, v3, 3, vc.names, NAMES);
		if (pass) {
			read_query(&va, -1, 0, UINT64_MAX);
			ck_assert_int_eq(kview_read_query(&kv, -1, 0,
							  UINT64_MAX),
					 0);
		} else {
			read_text(&va, -1, 0, UINT64_MAX, iobuf,
				  sizeof(iobuf));
			ck_assert_int_eq(kview_read_text(&kv, -1, 0,
							 UINT64_MAX, iobuf,
							 sizeof(iobuf)),
					 0);
		}
		ck_assert_uint_gt(va.kv.n, 3);
		ck_assert_uint_eq(kv.n, 3);
		ck_assert(kv.truncated);
		ck_assert(!va.kv.truncated);
		assert_same(&va.kv, &kv, 3, "first three");
		/* A span with exactly three VMAs is not truncated. */
		ck_assert_int_eq(pass ? kview_read_query(&kv, -1,
							 va.kv.v[0].start,
							 va.kv.v[2].end)
				      : kview_read_text(&kv, -1,
							va.kv.v[0].start,
							va.kv.v[2].end, iobuf,
							sizeof(iobuf)),
				 0);
		ck_assert_uint_eq(kv.n, 3);
		ck_assert(!kv.truncated);
	}
}
END_TEST

/*
 * A names buffer too small for every name: all entries are there, the names
 * that do not fit are cut (name_truncated) and the rest have none.  Both
 * readers cut at the same place (the query reader goes through its scratch
 * buffer here).
 */
START_TEST(test_names_exhausted)
{
	static char names[100];
	struct kview kt, kq;
	size_t i, cut = 0;
	int attempt;

	for (attempt = 0; attempt < 5; attempt++) {
		read_text(&vc, -1, 0, UINT64_MAX, iobuf, sizeof(iobuf));
		kview_init(&kt, va.v, MAXV, names, sizeof(names));
		kview_init(&kq, vb.v, MAXV, vb.names, sizeof(names));
		ck_assert_int_eq(kview_read_text(&kt, -1, 0, UINT64_MAX, iobuf,
						 sizeof(iobuf)),
				 0);
		ck_assert_int_eq(kview_read_query(&kq, -1, 0, UINT64_MAX), 0);
		read_text(&vd, -1, 0, UINT64_MAX, iobuf, sizeof(iobuf));
		if (views_equal(&vc.kv, &vd.kv))
			break;
	}
	ck_assert_int_lt(attempt, 5);
	ck_assert_uint_eq(kt.names_len, sizeof(names));
	ck_assert_uint_eq(kq.names_len, sizeof(names));
	for (i = 0; i < kt.n; i++) {
		const struct kview_entry *e = &kt.v[i], *full = &vc.kv.v[i];
		ck_assert_uint_eq(e->start, full->start);
		ck_assert_uint_eq(e->name_kind, full->name_kind);
		ck_assert_uint_le(e->name_len, full->name_len);
		ck_assert_uint_eq(e->name_truncated,
				  e->name_len < full->name_len);
		ck_assert(memcmp(kview_name(&kt, e), kview_name(&vc.kv, full),
				 e->name_len) == 0);
		cut += e->name_truncated;
	}
	ck_assert_uint_gt(cut, 0);
	/* The query reader cuts the same names the same way; it has no
	 * [vsyscall]. */
	ck_assert_uint_eq(kt.n, vc.kv.n);
	ck_assert_uint_ge(kq.n + 1, kt.n);
	for (i = 0; i < kq.n; i++) {
		ck_assert_uint_eq(kq.v[i].start, kt.v[i].start);
		ck_assert_uint_eq(kq.v[i].name_len, kt.v[i].name_len);
		ck_assert_uint_eq(kq.v[i].name_off, kt.v[i].name_off);
		ck_assert_uint_eq(kq.v[i].name_truncated,
				  kt.v[i].name_truncated);
		ck_assert_uint_eq(kq.v[i].name_kind, kt.v[i].name_kind);
	}
	ck_assert(memcmp(vb.names, names, sizeof(names)) == 0);
}
END_TEST

/* ---- names longer than iobuf and than PATH_MAX ------------------------- */

#define DEPTH_MAX 40

struct deep {
	char path[8192];           /* the whole path, for comparison */
	size_t len;
	int fds[DEPTH_MAX];        /* directory fds, outermost first */
	char comps[DEPTH_MAX][256];
	int depth;
};

/* Add directories of 250-byte names until one more component of 1 to 251
 * bytes makes the path `target` bytes long. */
static void deep_descend(struct deep *d, size_t target)
{
	while (d->len + 252 < target) {
		char *c = d->comps[d->depth];
		int fd;

		ck_assert_int_lt(d->depth + 1, DEPTH_MAX);
		memset(c, 'a' + d->depth % 26, 250);
		c[250] = 0;
		ck_assert_int_eq(mkdirat(d->fds[d->depth], c, 0700), 0);
		fd = openat(d->fds[d->depth], c, O_RDONLY | O_DIRECTORY);
		ck_assert_int_ge(fd, 0);
		d->path[d->len++] = '/';
		memcpy(d->path + d->len, c, 250);
		d->len += 250;
		d->path[d->len] = 0;
		d->fds[++d->depth] = fd;
	}
}

/* Create a file in the deepest directory making the path exactly target
 * bytes; returns its fd, and its full path in out. */
static int deep_file(struct deep *d, size_t target, char *out, char *comp)
{
	size_t n = target - d->len - 1;
	int fd;

	ck_assert_uint_lt(n, 255);
	memset(comp, 'F', n);
	comp[n] = 0;
	fd = openat(d->fds[d->depth], comp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, PAGE), 0);
	memcpy(out, d->path, d->len);
	out[d->len] = '/';
	memcpy(out + d->len + 1, comp, n + 1);
	return fd;
}

static void deep_remove(struct deep *d)
{
	while (d->depth > 0) {
		close(d->fds[d->depth]);
		d->depth--;
		unlinkat(d->fds[d->depth], d->comps[d->depth], AT_REMOVEDIR);
	}
	close(d->fds[0]);
}

/*
 *   G F G P G
 *
 *   F a file whose path is 4060 bytes: its maps line (about 4135 bytes)
 *     is longer than a 4 KiB iobuf, short enough for PROCMAP_QUERY
 *   P a file whose path is 4600 bytes, beyond PATH_MAX: the text prints it
 *     whole, PROCMAP_QUERY fails with ENAMETOOLONG for it
 */
START_TEST(test_long_names)
{
	static struct deep d;
	static char fpath[8192], ppath[8192], fcomp[256], pcomp[256];
	static char base[] = "/tmp/vmacheck-kview-long.XXXXXX";
	const struct kview_entry *ef, *ep;
	struct stat fst, pst;
	int ffd, pfd, attempt, fdepth;
	size_t i;
	char *r;

	memset(&d, 0, sizeof(d));
	ck_assert_ptr_nonnull(mkdtemp(base));
	d.fds[0] = open(base, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(d.fds[0], 0);
	d.len = strlen(base);
	memcpy(d.path, base, d.len + 1);
	deep_descend(&d, 4060);
	ffd = deep_file(&d, 4060, fpath, fcomp);
	fdepth = d.depth;
	deep_descend(&d, 4600);
	pfd = deep_file(&d, 4600, ppath, pcomp);
	ck_assert_uint_eq(strlen(fpath), 4060);
	ck_assert_uint_eq(strlen(ppath), 4600);
	fstat(ffd, &fst);
	fstat(pfd, &pst);

	r = reserve(3);
	map_at(r, PAGE, PROT_READ, MAP_SHARED, ffd, 0);
	map_at(r + 2 * PAGE, PAGE, PROT_READ, MAP_SHARED, pfd, 0);

	for (attempt = 0; attempt < 5; attempt++) {
		read_text(&va, -1, 0, UINT64_MAX, iobuf, sizeof(iobuf));
		read_text(&vb, -1, 0, UINT64_MAX, page_iobuf,
			  sizeof(page_iobuf));
		read_query(&vc, -1, 0, UINT64_MAX);
		read_text(&vd, -1, 0, UINT64_MAX, iobuf, sizeof(iobuf));
		if (views_equal(&va.kv, &vd.kv))
			break;
	}
	ck_assert_int_lt(attempt, 5);

	/* 1 MiB iobuf: both names whole. */
	ef = find(&va.kv, r);
	ep = find(&va.kv, r + 2 * PAGE);
	ck_assert(name_eq(&va.kv, ef, fpath));
	ck_assert(name_eq(&va.kv, ep, ppath));
	ck_assert_uint_eq(ef->name_truncated, 0);
	ck_assert_uint_eq(ep->name_truncated, 0);
	ck_assert_uint_eq(ep->ino, pst.st_ino);

	/* 4 KiB iobuf: both lines are cut, the fields and the lines after
	 * them are intact. */
	ck_assert_uint_eq(vb.kv.n, va.kv.n);
	for (i = 0; i < va.kv.n; i++) {
		const struct kview_entry *a = &va.kv.v[i], *b = &vb.kv.v[i];

		if (a->start == u64(r) || a->start == u64(r + 2 * PAGE)) {
			ck_assert_uint_eq(b->name_truncated, 1);
			ck_assert_uint_lt(b->name_len, a->name_len);
			ck_assert_uint_gt(b->name_len, 3900);
			ck_assert(memcmp(kview_name(&vb.kv, b),
					 kview_name(&va.kv, a),
					 b->name_len) == 0);
			ck_assert_uint_eq(b->name_kind, SHADOW_NAME_FILE);
			ck_assert_uint_eq(b->ino, a->ino);
			ck_assert_uint_eq(b->dev, a->dev);
			ck_assert_uint_eq(b->end, a->end);
		} else {
			ck_assert_msg(entry_eq(&va.kv, a, &vb.kv, b),
				      "entry %zu differs", i);
		}
	}

	/* PROCMAP_QUERY: F whole, P without its name. */
	ef = find(&vc.kv, r);
	ep = find(&vc.kv, r + 2 * PAGE);
	ck_assert(name_eq(&vc.kv, ef, fpath));
	ck_assert_uint_eq(ef->name_truncated, 0);
	ck_assert_uint_eq(ep->name_len, 0);
	ck_assert_uint_eq(ep->name_truncated, 1);
	ck_assert_uint_eq(ep->name_kind, SHADOW_NAME_FILE);
	ck_assert_uint_eq(ep->ino, pst.st_ino);
	ck_assert_uint_eq(ep->dev, kdev(pst.st_dev));
	ck_assert_uint_eq(ef->ino, fst.st_ino);

	unreserve(r, 3);
	close(ffd);
	close(pfd);
	unlinkat(d.fds[d.depth], pcomp, 0);
	unlinkat(d.fds[fdepth], fcomp, 0);
	deep_remove(&d);
	rmdir(base);
}
END_TEST

/* ---- torn reads, as the kernel makes them -------------------------------- */

/* The byte offset just after the line starting at addr in text, or 0. */
static size_t line_end_after(const char *text, size_t len, uint64_t addr)
{
	const char *p = text, *lim = text + len;

	while (p < lim) {
		const char *nl = memchr(p, '\n', (size_t)(lim - p));
		if (!nl)
			return 0;
		if (strtoull(p, NULL, 16) == addr)
			return (size_t)(nl + 1 - text);
		p = nl + 1;
	}
	return 0;
}

/*
 * pread() from offset 0 the first `cut` bytes, `cut` being the end of a line
 * in quiet (the same file read before), then, after merging the two VMAs at
 * p when merge, the rest a page at a time.  A call returns at most a page,
 * and ends exactly where asked when that is the end of a line and the lines
 * up to there fit a page; so the first part goes in calls that each end on
 * a line of quiet.
 */
static size_t read_two_parts(int fd, char *buf, size_t cap, const char *quiet,
			     size_t cut, char *p, bool merge)
{
	size_t n = 0, i, want;
	long k;

	while (n < cut) {
		want = n;
		for (i = n; i < cut && i - n < 4000; i++)
			if (quiet[i] == '\n')
				want = i + 1;
		ck_assert_uint_gt(want, n);
		k = rawsys_pread(fd, buf + n, want - n, n);
		ck_assert_int_eq(k, (long)(want - n));
		n = want;
	}
	if (merge)
		rawsys_mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE);
	while ((k = rawsys_pread(fd, buf + n, cap - n > 4096 ? 4096 : cap - n,
				 n)) > 0)
		n += (size_t)k;
	ck_assert_int_eq(k, 0);
	return n;
}

/*
 *   G P A G        P rw-, A r--: two VMAs.  The first read() ends right
 *                  after P's line; then mprotect(A, rw-) merges them:
 *   G PPP G        the kernel resumes at A's old start, finds the merged
 *                  VMA covering it and prints it from P's start, over the
 *                  line it already gave.  The reader clips it to [A, A+1).
 */
START_TEST(test_torn_read)
{
	static char text[1 << 20], quiet[1 << 20];
	int fd = kview_open_maps(), pass;
	char *r = reserve(2);
	size_t n, cut;

	ck_assert_int_ge(fd, 0);
	for (pass = 0; pass < 2; pass++) {
		bool merge = pass == 1;
		long k;

		ck_assert_int_eq(mprotect(r, PAGE, PROT_READ | PROT_WRITE), 0);
		ck_assert_int_eq(mprotect(r + PAGE, PAGE, PROT_READ), 0);
		/* Where P's line ends in a quiet read. */
		n = 0;
		while ((k = rawsys_pread(fd, quiet + n, 4096, n)) > 0)
			n += (size_t)k;
		cut = line_end_after(quiet, n, u64(r));
		ck_assert_uint_gt(cut, 0);
		/* The kernel adds whole lines to a call while fewer bytes than
		 * asked are ready: asking for bytes up to the end of P's line
		 * ends the last call there with nothing left over, and the
		 * next call walks the VMAs again from A's start. */
		n = read_two_parts(fd, text, sizeof(text), quiet, cut, r,
				   merge);

		view_init(&va);
		ck_assert_int_eq(kview_parse_text(&va.kv, text, n, 0,
						  UINT64_MAX),
				 0);
		ck_assert_uint_eq(strtoull(text + cut, NULL, 16),
				  merge ? u64(r) : u64(r + PAGE));
		ck_assert(va.kv.torn == merge);
		ck_assert_ptr_nonnull(find(&va.kv, r));
		ck_assert_uint_eq(find(&va.kv, r)->start, u64(r));
		ck_assert_uint_eq(find(&va.kv, r)->end, u64(r + PAGE));
		ck_assert_uint_eq(find(&va.kv, r + PAGE)->start, u64(r + PAGE));
		ck_assert_uint_eq(find(&va.kv, r + PAGE)->end,
				  u64(r + 2 * PAGE));
		ck_assert_uint_eq(find(&va.kv, r + PAGE)->flags,
				  merge ? SV_READ | SV_WRITE : SV_READ);
		assert_ordered(&va.kv);
	}
	unreserve(r, 2);
	kview_close(fd);
}
END_TEST

/*
 * Readers racing a thread that keeps splitting and merging VMAs: every
 * result is sorted, non-empty and non-overlapping, torn or not.
 */
static volatile int churn_stop;

static void *churn(void *arg)
{
	char *r = arg;
	unsigned i = 0;

	while (!churn_stop) {
		rawsys_mprotect(r + (i % 7) * PAGE, PAGE,
				i & 8 ? PROT_READ : PROT_READ | PROT_WRITE);
		rawsys_mprotect(r + ((i * 3) % 7) * PAGE, 2 * PAGE,
				i & 16 ? PROT_READ | PROT_WRITE : PROT_NONE);
		i++;
	}
	return NULL;
}

START_TEST(test_churn)
{
	char *r = reserve(8);
	pthread_t t;
	int i, torn = 0;

	churn_stop = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, churn, r), 0);
	for (i = 0; i < 200; i++) {
		view_init(&va);
		ck_assert_int_eq(kview_read_text(&va.kv, -1, 0, UINT64_MAX,
						 small_iobuf,
						 sizeof(small_iobuf)),
				 0);
		assert_ordered(&va.kv);
		torn += va.kv.torn;
		view_init(&vb);
		ck_assert_int_eq(kview_read_query(&vb.kv, -1, 0, UINT64_MAX),
				 0);
		assert_ordered(&vb.kv);
		torn += vb.kv.torn;
	}
	churn_stop = 1;
	pthread_join(t, NULL);
	unreserve(r, 8);
	fprintf(stderr, "test_churn: %d torn readings of 400\n", torn);
}
END_TEST

/* ---- fallback, probe, descriptors, errno ------------------------------- */

START_TEST(test_fallback)
{
	int null = open("/dev/null", O_RDONLY), r;

	ck_assert_int_eq(kview_query_probe(-1), 1);
	{
		int maps = kview_open_maps();
		ck_assert_int_eq(kview_query_probe(maps), 1);
		kview_close(maps);
	}
	/* Not a maps file: the ioctl is unknown there. */
	ck_assert_int_eq(kview_query_probe(null), 0);
	view_init(&va);
	ck_assert_int_eq(kview_read_query(&va.kv, null, 0, UINT64_MAX),
			 -ENOTTY);

	/* AUTO with a kernel that has PROCMAP_QUERY: the query is used. */
	view_init(&va);
	ck_assert_int_eq(kview_read(&va.kv, -1, 0, UINT64_MAX, iobuf,
				    sizeof(iobuf)),
			 0);
	ck_assert_uint_eq(va.kv.used, KVIEW_METHOD_QUERY);
	ck_assert_uint_eq(va.kv.method, KVIEW_METHOD_AUTO);

	/* A kernel before 6.11, simulated: AUTO falls back to the text and
	 * stays there. */
	view_init(&vb);
	vb.kv.fail_query = ENOTTY;
	ck_assert_int_eq(kview_read(&vb.kv, -1, 0, UINT64_MAX, iobuf,
				    sizeof(iobuf)),
			 0);
	ck_assert_uint_eq(vb.kv.used, KVIEW_METHOD_TEXT);
	ck_assert_uint_eq(vb.kv.method, KVIEW_METHOD_TEXT);
	ck_assert_uint_gt(vb.kv.n, 0);
	read_text(&vc, -1, 0, UINT64_MAX, iobuf, sizeof(iobuf));
	assert_same(&vc.kv, &vb.kv, vc.kv.n, "fallback vs text");
	/* Later reads go straight to the text: no query tried. */
	vb.kv.fail_query = EIO;
	ck_assert_int_eq(kview_read(&vb.kv, -1, 0, UINT64_MAX, iobuf,
				    sizeof(iobuf)),
			 0);
	ck_assert_uint_eq(vb.kv.used, KVIEW_METHOD_TEXT);

	/* Other errors are errors, not a reason to fall back. */
	view_init(&vb);
	vb.kv.fail_query = EIO;
	ck_assert_int_eq(kview_read(&vb.kv, -1, 0, UINT64_MAX, iobuf,
				    sizeof(iobuf)),
			 -EIO);
	ck_assert_uint_eq(vb.kv.method, KVIEW_METHOD_AUTO);

	/* QUERY means the query only. */
	view_init(&vb);
	vb.kv.method = KVIEW_METHOD_QUERY;
	vb.kv.fail_query = ENOTTY;
	ck_assert_int_eq(kview_read(&vb.kv, -1, 0, UINT64_MAX, NULL, 0),
			 -ENOTTY);

	/* TEXT needs an iobuf. */
	view_init(&vb);
	vb.kv.method = KVIEW_METHOD_TEXT;
	r = kview_read(&vb.kv, -1, 0, UINT64_MAX, NULL, 0);
	ck_assert_int_eq(r, -EINVAL);
	close(null);
}
END_TEST

/* A maps fd can be reused and is read from the start whatever its file
 * position; the position is left alone. */
START_TEST(test_fd_reuse)
{
	int fd = kview_open_maps(), attempt;
	char junk[100];

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	for (attempt = 0; attempt < 5; attempt++) {
		read_text(&va, fd, 0, UINT64_MAX, page_iobuf,
			  sizeof(page_iobuf));
		read_text(&vb, fd, 0, UINT64_MAX, page_iobuf,
			  sizeof(page_iobuf));
		read_text(&vc, -1, 0, UINT64_MAX, page_iobuf,
			  sizeof(page_iobuf));
		if (views_equal(&va.kv, &vc.kv))
			break;
	}
	ck_assert_int_lt(attempt, 5);
	assert_same(&va.kv, &vb.kv, va.kv.n, "same fd twice");
	ck_assert_uint_eq(va.kv.n, vb.kv.n);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)sizeof(junk));
	kview_close(fd);
}
END_TEST

START_TEST(test_errno_untouched)
{
	int bad = 1000000;

	view_init(&va);
	errno = 4242;
	ck_assert_int_eq(kview_read_text(&va.kv, bad, 0, UINT64_MAX, iobuf,
					 sizeof(iobuf)),
			 -EBADF);
	ck_assert_int_eq(errno, 4242);
	ck_assert_int_eq(kview_read_query(&va.kv, bad, 0, UINT64_MAX), -EBADF);
	ck_assert_int_eq(errno, 4242);
	ck_assert_int_eq(kview_query_probe(bad), 0);
	ck_assert_int_eq(errno, 4242);
	ck_assert_int_eq(kview_read_text(&va.kv, -1, 0, UINT64_MAX, iobuf,
					 sizeof(iobuf)),
			 0);
	ck_assert_int_eq(kview_read_query(&va.kv, -1, 0, UINT64_MAX), 0);
	ck_assert_int_eq(kview_read(&va.kv, -1, 0, UINT64_MAX, iobuf,
				    sizeof(iobuf)),
			 0);
	ck_assert_int_eq(errno, 4242);
	/* rawsys itself. */
	ck_assert_int_eq(rawsys_close(bad), -EBADF);
	ck_assert(rawsys_is_err(rawsys_mmap(NULL, 0, PROT_READ,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1,
					    0)));
	ck_assert_int_eq(rawsys_getpid(), getpid());
	ck_assert_int_eq(errno, 4242);
}
END_TEST

START_TEST(test_bad_args)
{
	view_init(&va);
	ck_assert_int_eq(kview_read_text(&va.kv, -1, 0, UINT64_MAX, NULL, 0),
			 -EINVAL);
	ck_assert_int_eq(kview_read_text(&va.kv, -1, 0, UINT64_MAX, iobuf,
					 KVIEW_IOBUF_MIN - 1),
			 -EINVAL);
	/* No storage at all: the first VMA already does not fit. */
	{
		struct kview kv;
		kview_init(&kv, NULL, 0, NULL, 0);
		ck_assert_int_eq(kview_read_query(&kv, -1, 0, UINT64_MAX), 0);
		ck_assert_uint_eq(kv.n, 0);
		ck_assert(kv.truncated);
		ck_assert_int_eq(kview_read_text(&kv, -1, 0, UINT64_MAX,
						 iobuf, sizeof(iobuf)),
				 0);
		ck_assert_uint_eq(kv.n, 0);
		ck_assert(kv.truncated);
	}
}
END_TEST

/* rawsys: a round trip through mmap, mprotect, mremap, madvise, munmap. */
START_TEST(test_rawsys)
{
	long p = rawsys_mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long q;
	char buf[8];
	int fds[2];

	ck_assert(!rawsys_is_err(p));
	((char *)p)[0] = 'x';
	ck_assert_int_eq(rawsys_mprotect((void *)p, 2 * PAGE, PROT_READ), 0);
	ck_assert_int_eq(rawsys_madvise((void *)p, PAGE, MADV_NORMAL), 0);
	ck_assert_int_eq(rawsys_madvise((void *)p, PAGE, 12345), -EINVAL);
	q = rawsys_mremap((void *)p, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE, NULL);
	ck_assert(!rawsys_is_err(q));
	ck_assert_int_eq(((char *)q)[0], 'x');
	ck_assert_int_eq(rawsys_munmap((void *)q, 4 * PAGE), 0);
	ck_assert_int_eq(rawsys_munmap((void *)(q + 1), PAGE), -EINVAL);
	ck_assert_int_eq(rawsys_mprotect((void *)(q + 1), PAGE, PROT_READ),
			 -EINVAL);

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(rawsys_write(fds[1], "abc", 3), 3);
	ck_assert_int_eq(rawsys_read(fds[0], buf, sizeof(buf)), 3);
	ck_assert(memcmp(buf, "abc", 3) == 0);
	ck_assert_int_eq(rawsys_lseek(fds[0], 0, SEEK_SET), -ESPIPE);
	ck_assert_int_eq(rawsys_close(fds[0]), 0);
	ck_assert_int_eq(rawsys_close(fds[1]), 0);
	ck_assert_int_eq(rawsys_open("/nonexistent/x", O_RDONLY, 0), -ENOENT);
	ck_assert_int_eq(rawsys6(SYS_getppid, 0, 0, 0, 0, 0, 0), getppid());
}
END_TEST

static Suite *kview_suite(void)
{
	Suite *s = suite_create("kview");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_classify);
	tcase_add_test(tc, test_parse_file_line);
	tcase_add_test(tc, test_parse_special_lines);
	tcase_add_test(tc, test_parse_malformed);
	tcase_add_test(tc, test_parse_names_full);
	tcase_add_test(tc, test_text_torn);
	tcase_add_test(tc, test_text_span_and_cap);
	suite_add_tcase(s, tc);

	tc = tcase_create("live");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_live_mappings);
	tcase_add_test(tc, test_text_equals_query);
	tcase_add_test(tc, test_query_names_wanted);
	tcase_add_test(tc, test_span);
	tcase_add_test(tc, test_small_iobuf);
	tcase_add_test(tc, test_cap_exhausted);
	tcase_add_test(tc, test_names_exhausted);
	tcase_add_test(tc, test_long_names);
	tcase_add_test(tc, test_torn_read);
	tcase_add_test(tc, test_churn);
	suite_add_tcase(s, tc);

	tc = tcase_create("interface");
	tcase_add_test(tc, test_fallback);
	tcase_add_test(tc, test_fd_reuse);
	tcase_add_test(tc, test_errno_untouched);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_rawsys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(kview_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
