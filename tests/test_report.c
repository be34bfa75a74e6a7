/*
 * test_report.c - unit and end-to-end tests of the vmacheck command
 * (report/): the JSON parser and writer, the rebuild of a result from a
 * journal written by the real writer (preload/journal.c), reading bad
 * files, the merge of processes, the exit status, the speed of a 10,000
 * file merge, and runs of real programs under build/libvmacheck.so.
 *
 * Built from the report/ sources except main.c, which is included here with main
 * renamed vmacheck_main (its static helpers are reachable), and linked
 * with build/libvmc-core.a for the journal writer and the options parser.
 * Each test works in its own directory under /tmp and removes it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "preload_internal.h"

#define main vmacheck_main
#include "../report/main.c"
#undef main

int vmacheck_main(int argc, char **argv);

/* The reader's copy of the journal format is the writer's. */
_Static_assert((int)VMCJ_CALL == (int)VMC_JREC_CALL, "call");
_Static_assert((int)VMCJ_EXIT == (int)VMC_JREC_EXIT, "exit");
_Static_assert(sizeof(struct vmcj_call) == sizeof(struct vmc_jcall), "call");
/* result.c's call names are indexed by enum shadow_call. */
_Static_assert(SHADOW_CALL_MMAP == 1 && SHADOW_CALL_MUNMAP == 2 &&
	       SHADOW_CALL_MPROTECT == 4 && SHADOW_CALL_SHMAT == 9, "calls");

/* ---- helpers ------------------------------------------------------------- */

static char tdir[64];

static void make_tdir(void)
{
	strcpy(tdir, "/tmp/vmc-report-XXXXXX");
	ck_assert(mkdtemp(tdir) != NULL);
}

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void teardown(void)
{
	vmc_journal_close();
	if (tdir[0])
		nftw(tdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tdir[0] = '\0';
}

static void put_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void put_str(const char *path, const char *s)
{
	put_file(path, s, strlen(s));
}

static char *get_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	FILE *m = open_memstream(&buf, &cap);
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		fwrite(tmp, 1, n, m);
	fclose(f);
	fclose(m);
	if (len)
		*len = cap;
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A per-process result as the preload writes it; findings is the inside
 * of the "findings" array. */
static void put_result(const char *dir, unsigned pid, unsigned ppid,
		       const char *findings)
{
	char path[PATH_MAX], buf[8192];
	int n = snprintf(buf, sizeof(buf),
		"{\"tool\":\"vmacheck\",\"version\":\"0.1.0\",\"pid\":%u,"
		"\"ppid\":%u,\"exe\":\"/bin/prog%u\",\"argv\":[\"prog\",\"%u\"],"
		"\"ended\":\"exit\",\"status\":0,\"stats\":{\"calls\":{\"mmap\":%u,"
		"\"munmap\":1},\"failed_calls\":{\"mmap\":0},\"peak_vmas\":40,"
		"\"peak_mapped_bytes\":8192,\"checks\":2,\"divergences\":0,"
		"\"boundary_misses\":0},\"findings\":[%s]}",
		pid, ppid, pid % 7, pid, pid % 13, findings);
	ck_assert(n > 0 && (size_t)n < sizeof(buf));
	int m = snprintf(path, sizeof(path), "%s/vmacheck.%u.json", dir, pid);
	ck_assert(m > 0 && (size_t)m < sizeof(path));
	put_file(path, buf, (size_t)n);
}

/* A report of paths, with the one-line errors captured. */
struct loaded {
	struct report r;
	char *diag;
	size_t diag_len;
};

static void load(struct loaded *l, const char *const *paths)
{
	FILE *d = open_memstream(&l->diag, &l->diag_len);
	report_init(&l->r);
	l->r.diag = d;
	for (; *paths; paths++)
		report_add_path(&l->r, *paths);
	ck_assert_int_eq(report_load(&l->r), 0);
	fclose(d);
	l->r.diag = NULL;
}

static void unload(struct loaded *l)
{
	report_free(&l->r);
	free(l->diag);
}

static const struct report_process *proc_of(const struct report *r,
					    uint64_t pid)
{
	for (size_t i = 0; i < r->nprocs; i++)
		if (r->procs[i]->pid == pid)
			return r->procs[i];
	return NULL;
}

static uint64_t stat_u64(const struct report_process *p, const char *group,
			 const char *key)
{
	const struct json_value *v = p->stats;
	uint64_t x = UINT64_MAX;
	if (group)
		v = json_get(v, group);
	ck_assert_msg(json_get(v, key) != NULL, "no stats %s.%s",
		      group ? group : "", key);
	ck_assert_int_eq(json_u64(json_get(v, key), &x), 0);
	return x;
}

/* The merged JSON of a report, parsed. */
static void merged_json(const struct report *r, struct json_doc *doc)
{
	struct jout w;
	struct json_error e;

	jout_init(&w, 2);
	report_render_json(r, &w);
	ck_assert(jout_ok(&w));
	ck_assert_msg(json_parse(doc, w.buf, w.len, &e) == 0,
		      "merged JSON does not parse: %s at %zu", e.msg,
		      e.offset);
	jout_free(&w);
}

/* ---- the JSON parser ------------------------------------------------------ */

static const struct json_value *parse_ok(struct json_doc *d, const char *s,
					 size_t n)
{
	struct json_error e;
	int r = json_parse(d, s, n, &e);
	ck_assert_msg(r == 0, "'%s': %s at %zu", s, e.msg, e.offset);
	return d->root;
}

START_TEST(json_scalars_and_nesting)
{
	struct json_doc d;
	const struct json_value *v, *a;
	const char *s = " {\"a\" : [1, -2.5e3, true, false, null, \"x\"],"
			"\n\t\"b\":{}, \"c\":[], \"a\":2}\r\n";

	v = parse_ok(&d, s, strlen(s));
	ck_assert_int_eq(v->type, JSON_OBJECT);
	ck_assert_uint_eq(v->offset, 1);
	ck_assert_uint_eq(v->u.kids.n, 4);
	a = json_get(v, "a");             /* the first of two */
	ck_assert_int_eq(a->type, JSON_ARRAY);
	ck_assert_uint_eq(a->u.kids.n, 6);
	ck_assert_uint_eq(a->offset, 8);
	const struct json_value *e = a->u.kids.first;
	int64_t i;
	double x;
	ck_assert_int_eq(json_i64(e, &i), 0);
	ck_assert_int_eq(i, 1);
	e = e->next;
	ck_assert_int_eq(json_i64(e, &i), -EINVAL);
	ck_assert_int_eq(json_double(e, &x), 0);
	ck_assert(x == -2500.0);
	ck_assert_str_eq(e->u.str.s, "-2.5e3");
	e = e->next;
	ck_assert(e->type == JSON_BOOL && e->b);
	e = e->next;
	ck_assert(e->type == JSON_BOOL && !e->b);
	e = e->next;
	ck_assert_int_eq(e->type, JSON_NULL);
	e = e->next;
	ck_assert_str_eq(json_str(e), "x");
	ck_assert_ptr_null(e->next);
	ck_assert_int_eq(json_get(v, "b")->type, JSON_OBJECT);
	ck_assert_uint_eq(json_get(v, "b")->u.kids.n, 0);
	ck_assert_uint_eq(json_get(v, "c")->u.kids.n, 0);
	ck_assert_ptr_null(json_get(v, "d"));
	ck_assert_ptr_null(json_get(a, "a"));     /* not an object */
	ck_assert_ptr_null(json_str(a));
	json_doc_free(&d);
	json_doc_free(&d);                         /* twice is harmless */

	/* Scalars at the top. */
	v = parse_ok(&d, "\"top\"", 5);
	ck_assert_str_eq(json_str(v), "top");
	json_doc_free(&d);
	v = parse_ok(&d, "  0 ", 4);
	ck_assert_int_eq(v->type, JSON_NUMBER);
	json_doc_free(&d);
	/* Not NUL-terminated: only len bytes count. */
	v = parse_ok(&d, "[1]]]]", 3);
	ck_assert_uint_eq(v->u.kids.n, 1);
	json_doc_free(&d);
}
END_TEST

START_TEST(json_escapes_and_unicode)
{
	struct json_doc d;
	const struct json_value *v;
	const char *s = "[\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\","
			"\"\\u00e9\\u20AC\\ud83d\\ude00\","
			"\"a\\u0000b\",\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
			"\"\\uffff\\u0041\"]";

	v = parse_ok(&d, s, strlen(s));
	const struct json_value *e = v->u.kids.first;
	ck_assert_str_eq(json_str(e), "q\" b\\ s/ \b\f\n\r\t");
	e = e->next;
	ck_assert_str_eq(json_str(e), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	e = e->next;
	ck_assert_uint_eq(e->u.str.len, 3);     /* the NUL is inside */
	ck_assert(!memcmp(e->u.str.s, "a\0b", 4));
	e = e->next;                             /* raw UTF-8 as is */
	ck_assert_str_eq(json_str(e), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	e = e->next;
	ck_assert_str_eq(json_str(e), "\xef\xbf\xbf" "A");
	json_doc_free(&d);

	/* Keys are decoded too. */
	v = parse_ok(&d, "{\"k\\u00e9y\":1}", 14);
	ck_assert_ptr_nonnull(json_get(v, "k\xc3\xa9y"));
	json_doc_free(&d);
}
END_TEST

START_TEST(json_numbers)
{
	static const struct {
		const char *s;
		int u_ret;
		uint64_t u;
		int i_ret;
		int64_t i;
	} t[] = {
		{ "0", 0, 0, 0, 0 },
		{ "-0", 0, 0, 0, 0 },
		{ "42", 0, 42, 0, 42 },
		{ "-1", -ERANGE, 0, 0, -1 },
		{ "9223372036854775807", 0, 9223372036854775807ull, 0,
		  INT64_MAX },
		{ "9223372036854775808", 0, 9223372036854775808ull, -ERANGE,
		  0 },
		{ "18446744073709551615", 0, UINT64_MAX, -ERANGE, 0 },
		{ "18446744073709551616", -ERANGE, 0, -ERANGE, 0 },
		{ "-9223372036854775808", -ERANGE, 0, 0, INT64_MIN },
		{ "-9223372036854775809", -ERANGE, 0, -ERANGE, 0 },
		{ "1.5", -EINVAL, 0, -EINVAL, 0 },
		{ "1e2", -EINVAL, 0, -EINVAL, 0 },
		{ "1E+400", -EINVAL, 0, -EINVAL, 0 },
		{ "-0.0e-0", -EINVAL, 0, -EINVAL, 0 },
	};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct json_doc d;
		const struct json_value *v = parse_ok(&d, t[k].s,
						      strlen(t[k].s));
		uint64_t u = 7;
		int64_t i = 7;
		double x;
		ck_assert_msg(json_u64(v, &u) == t[k].u_ret, "%s u64", t[k].s);
		if (!t[k].u_ret)
			ck_assert_msg(u == t[k].u, "%s", t[k].s);
		ck_assert_msg(json_i64(v, &i) == t[k].i_ret, "%s i64", t[k].s);
		if (!t[k].i_ret)
			ck_assert_msg(i == t[k].i, "%s", t[k].s);
		ck_assert_int_eq(json_double(v, &x), 0);
		ck_assert_str_eq(v->u.str.s, t[k].s);   /* kept as written */
		json_doc_free(&d);
	}
	struct json_doc d;
	double x;
	parse_ok(&d, "1.25e2", 6);
	ck_assert_int_eq(json_double(d.root, &x), 0);
	ck_assert(x == 125.0);
	json_doc_free(&d);
	parse_ok(&d, "\"1\"", 3);
	uint64_t u;
	ck_assert_int_eq(json_u64(d.root, &u), -EINVAL);
	ck_assert_int_eq(json_double(d.root, &x), -EINVAL);
	json_doc_free(&d);
	ck_assert_int_eq(json_u64(NULL, &u), -EINVAL);
}
END_TEST

START_TEST(json_errors_with_offsets)
{
	static const struct {
		const char *s;
		size_t len;             /* 0: strlen */
		size_t off;
		const char *msg;        /* a part of the message */
	} t[] = {
		{ "", 0, 0, "empty document" },
		{ " \n ", 0, 3, "only whitespace" },
		{ "[1,2", 0, 4, "end of input" },
		{ "[1,]", 0, 3, "unexpected ']'" },
		{ "[1 2]", 0, 3, "',' or ']'" },
		{ "{\"a\" 1}", 0, 5, "':' after a key" },
		{ "{\"a\":1,}", 0, 7, "a string key" },
		{ "{\"a\":1 \"b\":2}", 0, 7, "',' or '}'" },
		{ "{1:2}", 0, 1, "a string key or '}'" },
		{ "{\"a\":}", 0, 5, "expected a value" },
		{ "01", 0, 0, "leading zero" },
		{ "-01", 0, 1, "leading zero" },
		{ "1.", 0, 2, "digit after '.'" },
		{ "1.e3", 0, 2, "digit after '.'" },
		{ "-", 0, 1, "a digit" },
		{ "-a", 0, 1, "a digit" },
		{ "1e", 0, 2, "exponent" },
		{ "1e+", 0, 3, "exponent" },
		{ ".5", 0, 0, "unexpected '.'" },
		{ "+1", 0, 0, "unexpected '+'" },
		{ "tru", 0, 0, "invalid literal" },
		{ "trUe", 0, 0, "invalid literal" },
		{ "nul", 0, 0, "invalid literal" },
		{ "nan", 0, 0, "invalid literal" },
		{ "Infinity", 0, 0, "unexpected 'I'" },
		{ "\"abc", 0, 0, "unterminated string" },
		{ "[\"abc\\\"]", 0, 1, "unterminated string" },
		{ "\"a\\x\"", 0, 2, "invalid escape '\\x'" },
		{ "\"\\u12\"", 0, 1, "invalid \\u escape" },
		{ "\"ab\\u12G4\"", 0, 3, "invalid \\u escape" },
		{ "\"\\ud800\"", 0, 1, "lone high surrogate" },
		{ "\"\\ud800\\u0041\"", 0, 1, "lone high surrogate" },
		{ "\"\\udc00\"", 0, 1, "lone low surrogate" },
		{ "\"a\tb\"", 0, 2, "control character 0x09" },
		{ "\"a\nb\"", 0, 2, "control character 0x0a" },
		{ "\"\xc0\x80\"", 0, 1, "invalid UTF-8" },
		{ "\"x\xed\xa0\x80\"", 0, 2, "invalid UTF-8" },
		{ "\"\xf4\x90\x80\x80\"", 0, 1, "invalid UTF-8" },
		{ "\"\xe2\x82\"", 0, 1, "invalid UTF-8" },
		{ "\"\xff\"", 0, 1, "invalid UTF-8" },
		{ "\"\x80\"", 0, 1, "invalid UTF-8" },
		{ "1 2", 0, 2, "trailing characters" },
		{ "[1]x", 0, 3, "trailing characters" },
		{ "{}\0", 3, 2, "trailing characters" },
		{ "\xef\xbb\xbf{}", 0, 0, "byte 0xef" },
		{ "[1,/*c*/2]", 0, 3, "unexpected '/'" },
		{ "{\"a\":[1,2,{\"b\":tru}]}", 0, 15, "invalid literal" },
		{ "\"a\0b\"", 5, 2, "control character 0x00" },
	};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		struct json_doc d;
		struct json_error e;
		size_t n = t[k].len ? t[k].len : strlen(t[k].s);
		int r = json_parse(&d, t[k].s, n, &e);
		ck_assert_msg(r == -EBADMSG, "case %zu parsed", k);
		ck_assert_ptr_null(d.root);
		ck_assert_msg(e.offset == t[k].off,
			      "case %zu: offset %zu, not %zu (%s)", k, e.offset,
			      t[k].off, e.msg);
		ck_assert_msg(strstr(e.msg, t[k].msg) != NULL,
			      "case %zu: '%s' lacks '%s'", k, e.msg, t[k].msg);
		ck_assert(!strchr(e.msg, '\n'));
	}
}
END_TEST

START_TEST(json_depth)
{
	char buf[2 * (JSON_MAX_DEPTH + 1) + 1];
	struct json_doc d;
	struct json_error e;
	int n = JSON_MAX_DEPTH;

	memset(buf, '[', (size_t)n);
	memset(buf + n, ']', (size_t)n);
	ck_assert_int_eq(json_parse(&d, buf, 2 * (size_t)n, &e), 0);
	/* Written back at the same depth. */
	struct jout w;
	jout_init(&w, 0);
	jout_value(&w, d.root);
	ck_assert(jout_ok(&w));
	ck_assert_uint_eq(w.len, 2 * (size_t)n);
	jout_free(&w);
	json_doc_free(&d);
	n++;
	memset(buf, '[', (size_t)n);
	memset(buf + n, ']', (size_t)n);
	ck_assert_int_eq(json_parse(&d, buf, 2 * (size_t)n, &e), -EBADMSG);
	ck_assert_uint_eq(e.offset, JSON_MAX_DEPTH);
	ck_assert_ptr_nonnull(strstr(e.msg, "nesting deeper"));
	/* Objects count too. */
	char *o = malloc(8 * (JSON_MAX_DEPTH + 1) + 2);
	size_t k = 0;
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		k += (size_t)sprintf(o + k, "{\"a\":");
	o[k++] = '1';
	for (int i = 0; i <= JSON_MAX_DEPTH; i++)
		o[k++] = '}';
	ck_assert_int_eq(json_parse(&d, o, k, &e), -EBADMSG);
	ck_assert_uint_eq(e.offset, 5 * JSON_MAX_DEPTH);
	free(o);
}
END_TEST

START_TEST(json_writer)
{
	struct jout w;

	jout_init(&w, 0);
	jout_obj_begin(&w);
	jout_key(&w, "s");
	jout_str(&w, "a\"b\\c\n\x01\x7f\xc3\xa9\xff/");
	jout_key(&w, "n");
	jout_arr_begin(&w);
	jout_u64(&w, UINT64_MAX);
	jout_i64(&w, INT64_MIN);
	jout_hex(&w, 0x7f00dead000ull);
	jout_bool(&w, true);
	jout_null(&w);
	jout_str(&w, NULL);
	jout_arr_end(&w);
	jout_key(&w, "e");
	jout_obj_begin(&w);
	jout_obj_end(&w);
	jout_obj_end(&w);
	ck_assert(jout_ok(&w));
	ck_assert_str_eq(w.buf,
		"{\"s\":\"a\\\"b\\\\c\\n\\u0001\x7f\xc3\xa9\\ufffd/\","
		"\"n\":[18446744073709551615,-9223372036854775808,"
		"\"0x7f00dead000\",true,null,null],\"e\":{}}");
	/* What it writes parses back to the same strings. */
	struct json_doc d;
	parse_ok(&d, w.buf, w.len);
	ck_assert_str_eq(json_str(json_get(d.root, "s")),
			 "a\"b\\c\n\x01\x7f\xc3\xa9\xef\xbf\xbd/");
	json_doc_free(&d);
	jout_free(&w);

	/* A parsed document is written back as it was (compact input). */
	const char *s = "{\"a\":[1,-2.5e3,true,false,null,\"x\xc3\xa9\"],"
			"\"b\":{},\"c\":[[]]}";
	parse_ok(&d, s, strlen(s));
	jout_init(&w, 0);
	jout_value(&w, d.root);
	ck_assert_str_eq(w.buf, s);
	jout_free(&w);
	/* Pretty: containers opened above pretty_depth break lines. */
	jout_init(&w, 1);
	jout_value(&w, d.root);
	ck_assert_str_eq(w.buf, "{\n  \"a\":[1,-2.5e3,true,false,null,"
				"\"x\xc3\xa9\"],\n  \"b\":{},\n  \"c\":[[]]\n}");
	jout_free(&w);
	json_doc_free(&d);

	/* Misuse is caught. */
	jout_init(&w, 0);
	jout_key(&w, "k");                  /* a key outside an object */
	ck_assert(w.bad && !jout_ok(&w));
	jout_free(&w);
	jout_init(&w, 0);
	jout_obj_begin(&w);
	jout_u64(&w, 1);                    /* a value without a key */
	ck_assert(w.bad);
	jout_free(&w);
	jout_init(&w, 0);
	jout_arr_begin(&w);
	jout_obj_end(&w);                   /* the wrong end */
	ck_assert(w.bad);
	jout_free(&w);
	jout_init(&w, 0);
	jout_u64(&w, 1);
	jout_u64(&w, 2);                    /* a second document */
	ck_assert(w.bad);
	jout_free(&w);
	jout_init(&w, 0);
	jout_obj_begin(&w);
	jout_key(&w, "a");
	jout_obj_end(&w);                   /* a key without a value */
	ck_assert(w.bad);
	jout_free(&w);
	jout_init(&w, 0);
	jout_arr_begin(&w);
	ck_assert(!jout_ok(&w));            /* still open */
	jout_free(&w);
}
END_TEST

/* ---- rebuilding from journals written by the real writer ----------------- */

static void j_json(uint16_t type, const char *s)
{
	ck_assert_int_eq(vmc_journal_append(type, s, (uint32_t)strlen(s)), 0);
}

static void j_call(uint16_t call, int err)
{
	struct vmc_jcall c;
	memset(&c, 0, sizeof(c));
	c.call = call;
	c.err = err;
	c.result = err ? -err : 0x7f0000000000;
	c.args[1] = 4096;
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_CALL, &c, sizeof(c)), 0);
}

/* What the runtime writes before it ends: process, calls, a finding. */
static void j_story(unsigned pid)
{
	char b[256];
	snprintf(b, sizeof(b), "{\"exe\":\"/bin/story\",\"argv\":[\"story\","
		 "\"-v\",\"a \\\"quoted\\\" arg\"],\"pid\":%u,\"ppid\":1}", pid);
	j_json(VMC_JREC_PROCESS, b);
	j_call(SHADOW_CALL_MMAP, 0);
	j_call(SHADOW_CALL_MMAP, 0);
	j_call(SHADOW_CALL_MMAP, ENOMEM);
	j_call(SHADOW_CALL_MUNMAP, EINVAL);
	j_call(SHADOW_CALL_MPROTECT, 0);
	j_json(VMC_JREC_FINDING, "{\"kind\":\"shadow-divergence\",\"addr\":"
	       "\"0x7f0000000000\",\"len\":8192,\"message\":\"the shadow "
	       "predicted another result for mmap: -12 vs 0\"}");
	j_json(VMC_JREC_FINDING, "{\"kind\":\"untracked-change\",\"addr\":"
	       "\"0x7f0000010000\",\"len\":4096,\"message\":\"tracked pages "
	       "changed behind the tool's back\"}");
}

START_TEST(rebuild_with_exit)
{
	make_tdir();
	ck_assert_int_eq(vmc_journal_open(tdir, 4242, 1), 0);
	j_story(4242);
	j_json(VMC_JREC_STATS, "{\"calls\":{\"mmap\":9},\"failed_calls\":"
	       "{\"mmap\":1},\"peak_vmas\":33,\"checks\":4}");
	j_json(VMC_JREC_EXIT, "{\"ended\":\"exit\",\"status\":5}");
	vmc_journal_close();

	struct loaded l;
	const char *paths[] = { tdir, NULL };
	load(&l, paths);
	ck_assert_str_eq(l.diag, "");
	ck_assert_uint_eq(l.r.nprocs, 1);
	const struct report_process *p = l.r.procs[0];
	ck_assert(p->rebuilt);
	ck_assert_uint_eq(p->pid, 4242);
	ck_assert_uint_eq(p->ppid, 1);
	ck_assert_str_eq(p->exe, "/bin/story");
	ck_assert_uint_eq(p->argv->u.kids.n, 3);
	ck_assert_str_eq(json_str(p->argv->u.kids.first->next->next),
			 "a \"quoted\" arg");
	ck_assert_str_eq(p->ended, "exit");
	ck_assert(p->has_status);
	ck_assert_int_eq(p->status, 5);
	/* The STATS record wins over counting calls. */
	ck_assert_uint_eq(stat_u64(p, "calls", "mmap"), 9);
	ck_assert_uint_eq(stat_u64(p, NULL, "peak_vmas"), 33);
	ck_assert_uint_eq(p->findings->u.kids.n, 2);
	ck_assert_uint_eq(l.r.nfindings, 2);
	ck_assert_str_eq(l.r.findings[0].kind, "shadow-divergence");
	ck_assert_int_eq(l.r.findings[0].severity, REPORT_ERROR);
	ck_assert_int_eq(l.r.findings[1].severity, REPORT_WARNING);
	ck_assert_uint_eq(l.r.errors, 1);
	ck_assert_uint_eq(l.r.warnings, 1);
	ck_assert_int_eq(report_exit_status(&l.r, -1, 99), 99);
	/* Severity and count are filled in the rebuilt finding. */
	const struct json_value *f = p->findings->u.kids.first;
	ck_assert_str_eq(json_str(json_get(f, "severity")), "error");
	ck_assert_str_eq(json_get(f, "count")->u.str.s, "1");
	ck_assert_str_eq(json_str(json_get(f, "addr")), "0x7f0000000000");
	unload(&l);
}
END_TEST

START_TEST(rebuild_killed_counts)
{
	make_tdir();
	/* The runtime's way: a COUNTS record appended at open and kept up
	 * to date in place, CALL records for failed calls only; killed. */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct vmc_jcounts k = { .nkinds = VMC_JCOUNTS_KINDS };
		uint64_t off = 0;
		const unsigned calls_at = offsetof(struct vmc_jcounts, calls) / 8;
		const unsigned failed_at =
			offsetof(struct vmc_jcounts, failed) / 8;
		if (vmc_journal_open(tdir, 4545, 1) ||
		    vmc_journal_append_at(VMC_JREC_COUNTS, &k, sizeof(k),
					  &off))
			_exit(1);
		/* The runtime keeps the counts through a pin of the record:
		 * none for an offset that is no record, one per journal, and
		 * it is the tool's memory. */
		if (vmc_journal_pin(1ull << 40, sizeof(k)))
			_exit(3);
		struct vmc_jcounts *pk = vmc_journal_pin(off, sizeof(k));
		if (!pk || pk->nkinds != VMC_JCOUNTS_KINDS ||
		    vmc_journal_pin(off, sizeof(k)) ||
		    !vmc_journal_owns((uint64_t)(uintptr_t)pk, 8))
			_exit(4);
		/* Records after it: the file grows past its first MiB, the
		 * counts stay where they were appended and the pin still
		 * writes them. */
		char big[4096];
		memset(big, 'x', sizeof(big));
		for (unsigned i = 1; i <= 1000; i++) {
			pk->calls[SHADOW_CALL_MMAP] = i;
			char b[64];
			int n = snprintf(b, sizeof(b), "{\"i\":%u,\"p\":\"", i);
			memcpy(big, b, (size_t)n);
			memcpy(big + sizeof(big) - 2, "\"}", 2);
			if (vmc_journal_append(VMC_JREC_MODULE, big,
					       sizeof(big)))
				_exit(1);
		}
		vmc_journal_put_u64(off, calls_at + SHADOW_CALL_MUNMAP, 7);
		vmc_journal_put_u64(off, failed_at + SHADOW_CALL_MUNMAP, 2);
		j_call(SHADOW_CALL_MUNMAP, EINVAL);
		j_call(SHADOW_CALL_MUNMAP, EINVAL);
		/* An offset that is no record of this journal: nothing. */
		vmc_journal_put_u64(1ull << 40, 0, 99);
		raise(SIGKILL);
		_exit(2);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	struct loaded l;
	const char *paths[] = { tdir, NULL };
	load(&l, paths);
	ck_assert_str_eq(l.diag, "");
	ck_assert_uint_eq(l.r.nprocs, 1);
	const struct report_process *p = l.r.procs[0];
	ck_assert_str_eq(p->ended, "killed");
	/* The last values stored, and the failed calls' CALL records are
	 * not counted again. */
	ck_assert_uint_eq(stat_u64(p, "calls", "mmap"), 1000);
	ck_assert_uint_eq(stat_u64(p, "calls", "munmap"), 7);
	ck_assert_uint_eq(stat_u64(p, "failed_calls", "munmap"), 2);
	ck_assert_uint_eq(stat_u64(p, "failed_calls", "mmap"), 0);
	unload(&l);
}
END_TEST

START_TEST(rebuild_killed)
{
	make_tdir();
	/* A real process, killed while its journal is open. */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (vmc_journal_open(tdir, 4343, 77))
			_exit(1);
		j_story(4343);
		raise(SIGKILL);
		_exit(2);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	struct loaded l;
	const char *paths[] = { tdir, NULL };
	load(&l, paths);
	/* Never closed is not an error: the tail is zeros. */
	ck_assert_str_eq(l.diag, "");
	ck_assert_uint_eq(l.r.nbad, 0);
	ck_assert_uint_eq(l.r.nprocs, 1);
	const struct report_process *p = l.r.procs[0];
	ck_assert(p->rebuilt);
	ck_assert_uint_eq(p->pid, 4343);
	ck_assert_uint_eq(p->ppid, 77);
	ck_assert_str_eq(p->ended, "killed");
	ck_assert(!p->has_status);
	/* No STATS record: counts of CALL records. */
	ck_assert_uint_eq(stat_u64(p, "calls", "mmap"), 3);
	ck_assert_uint_eq(stat_u64(p, "calls", "munmap"), 1);
	ck_assert_uint_eq(stat_u64(p, "calls", "mprotect"), 1);
	ck_assert_uint_eq(stat_u64(p, "calls", "mremap"), 0);
	ck_assert_uint_eq(stat_u64(p, "failed_calls", "mmap"), 1);
	ck_assert_uint_eq(stat_u64(p, "failed_calls", "munmap"), 1);
	ck_assert_uint_eq(stat_u64(p, "failed_calls", "mprotect"), 0);
	ck_assert_uint_eq(l.r.nfindings, 2);

	/* The merged JSON says killed, status null, from the journal. */
	struct json_doc d;
	merged_json(&l.r, &d);
	const struct json_value *jp =
		json_get(d.root, "processes")->u.kids.first;
	ck_assert_str_eq(json_str(json_get(jp, "ended")), "killed");
	ck_assert_int_eq(json_get(jp, "status")->type, JSON_NULL);
	ck_assert_str_eq(json_str(json_get(jp, "source")), "journal");
	json_doc_free(&d);

	/* The text says so. */
	char *txt;
	size_t n;
	FILE *m = open_memstream(&txt, &n);
	report_render_text(&l.r, m);
	fclose(m);
	ck_assert_ptr_nonnull(strstr(txt, "process 4343 (/bin/story) was "
					  "killed"));
	ck_assert_ptr_nonnull(strstr(txt, "SUMMARY: vmacheck: 1 error(s), 1 "
					  "warning(s) in 1 process(es)\n"));
	free(txt);
	unload(&l);
}
END_TEST

START_TEST(rebuild_truncated_mid_record)
{
	char path[256];

	make_tdir();
	ck_assert_int_eq(vmc_journal_open(tdir, 4444, 1), 0);
	j_story(4444);
	j_json(VMC_JREC_EXIT, "{\"ended\":\"exit\"}");
	vmc_journal_close();
	snprintf(path, sizeof(path), "%s/vmacheck.4444.journal", tdir);

	/* Cut inside the second finding record. */
	struct vmcj j;
	char err[512];
	ck_assert_int_eq(vmcj_read(path, &j, err, sizeof(err)), 0);
	ck_assert_uint_eq(j.nrecs, 9);
	ck_assert_int_eq(j.recs[7].type, VMCJ_FINDING);
	uint64_t cut_rec = j.recs[7].offset;
	vmcj_free(&j);
	ck_assert_int_eq(truncate(path, (off_t)cut_rec + 20), 0);

	struct loaded l;
	const char *paths[] = { tdir, NULL };
	load(&l, paths);
	/* One line naming the file and the offset of the cut record. */
	ck_assert_uint_eq(count_lines(l.diag), 1);
	char want[400];
	snprintf(want, sizeof(want), "vmacheck: %s: journal cut short inside "
		 "a record (offset %llu)", path, (unsigned long long)cut_rec);
	ck_assert_msg(!strncmp(l.diag, want, strlen(want)), "%s", l.diag);
	ck_assert_uint_eq(l.r.nbad, 1);
	/* ... and what came before it is reported; the EXIT is lost. */
	ck_assert_uint_eq(l.r.nprocs, 1);
	ck_assert_str_eq(l.r.procs[0]->ended, "killed");
	ck_assert_uint_eq(l.r.nfindings, 1);
	ck_assert_str_eq(l.r.findings[0].kind, "shadow-divergence");
	ck_assert_int_eq(report_exit_status(&l.r, -1, 99), 99);
	unload(&l);

	/* Cut inside a record header (fewer than 8 bytes). */
	ck_assert_int_eq(truncate(path, (off_t)cut_rec + 4), 0);
	load(&l, paths);
	ck_assert_uint_eq(count_lines(l.diag), 1);
	ck_assert_ptr_nonnull(strstr(l.diag, "cut short"));
	ck_assert_uint_eq(l.r.nprocs, 1);
	unload(&l);

	/* Cut inside the header: a bad file, no process. */
	ck_assert_int_eq(truncate(path, 30), 0);
	load(&l, paths);
	ck_assert_uint_eq(count_lines(l.diag), 1);
	ck_assert_ptr_nonnull(strstr(l.diag, "header cut short"));
	ck_assert_ptr_nonnull(strstr(l.diag, "(offset 30)"));
	ck_assert_uint_eq(l.r.nprocs, 0);
	ck_assert_int_eq(report_exit_status(&l.r, -1, 99), 2);
	unload(&l);
}
END_TEST

START_TEST(rebuild_bad_payload)
{
	char path[256];

	make_tdir();
	ck_assert_int_eq(vmc_journal_open(tdir, 4545, 1), 0);
	j_story(4545);
	j_json(VMC_JREC_FINDING, "{\"kind\":\"leak\",\"len\":12x}");
	j_json(VMC_JREC_FINDING, "[1]");
	j_json(VMC_JREC_EXIT, "{\"ended\":\"exit\",\"status\":0}");
	vmc_journal_close();
	snprintf(path, sizeof(path), "%s/vmacheck.4545.journal", tdir);
	struct vmcj j;
	char err[512];
	ck_assert_int_eq(vmcj_read(path, &j, err, sizeof(err)), 0);
	uint64_t rec = j.recs[8].offset;
	vmcj_free(&j);

	struct loaded l;
	const char *paths[] = { tdir, NULL };
	load(&l, paths);
	/* One line for the file (the first bad record), with the offset of
	 * the fault in the file. */
	ck_assert_uint_eq(count_lines(l.diag), 1);
	char want[400];
	snprintf(want, sizeof(want), "bad finding record at offset %llu, "
		 "left out: unexpected 'x', expected ',' or '}' after a member "
		 "(offset %llu)", (unsigned long long)rec,
		 (unsigned long long)rec + 8 + 23);
	ck_assert_msg(strstr(l.diag, want) != NULL, "%s", l.diag);
	ck_assert_uint_eq(l.r.nprocs, 1);
	ck_assert_uint_eq(l.r.nfindings, 2);       /* the good ones */
	ck_assert_str_eq(l.r.procs[0]->ended, "exit");
	unload(&l);
}
END_TEST

START_TEST(rebuild_stacks_and_modules)
{
	make_tdir();
	ck_assert_int_eq(vmc_journal_open(tdir, 4747, 1), 0);
	j_json(VMC_JREC_PROCESS, "{\"exe\":\"/bin/story\",\"argv\":[],"
	       "\"pid\":4747,\"ppid\":1}");
	const char *tool = "{\"path\":\"/usr/lib/vmacheck/libvmacheck.so\","
			   "\"base\":\"0x7000000\",\"start\":\"0x7000000\","
			   "\"end\":\"0x7100000\",\"build_id\":\"ab\"}";
	const char *story = "{\"path\":\"/bin/story\",\"base\":\"0x400000\","
			    "\"start\":\"0x400000\",\"end\":\"0x500000\","
			    "\"build_id\":\"cd\"}";
	j_json(VMC_JREC_MODULE, tool);
	j_json(VMC_JREC_MODULE, story);
	j_json(VMC_JREC_MODULE, story);        /* the map again (dlopen) */
	struct {
		uint32_t id, n;
		uint64_t ips[4];
	} st = { 1, 4, { 0x7000100, 0x7000200, 0x401234, 0x999999999ull } };
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_STACK, &st, 8 + 8 * 4), 0);
	/* A finding naming its stacks by id (an unknown id: no frames). */
	j_json(VMC_JREC_FINDING, "{\"kind\":\"leak\",\"message\":\"m\","
	       "\"stacks\":{\"created\":1,\"operation\":0}}");
	vmc_journal_close();
	/* The same leak seen by another process, loaded elsewhere. */
	put_result(tdir, 4748, 1, "{\"kind\":\"leak\",\"message\":\"m2\","
		   "\"stacks\":{\"created\":[{\"ip\":\"0x5401234\",\"module\":"
		   "\"/bin/story\",\"offset\":\"0x1234\"},{\"ip\":"
		   "\"0x999999999\"}],\"operation\":[]}}");

	struct loaded l;
	const char *paths[] = { tdir, NULL };
	load(&l, paths);
	ck_assert_str_eq(l.diag, "");
	const struct report_process *p = proc_of(&l.r, 4747);
	ck_assert(p->rebuilt);
	ck_assert_uint_eq(p->modules->u.kids.n, 2);
	const struct json_value *f = p->findings->u.kids.first;
	const struct json_value *cr = json_get(json_get(f, "stacks"), "created");
	ck_assert_uint_eq(cr->u.kids.n, 2);     /* the tool's frames dropped */
	ck_assert_str_eq(json_str(json_get(cr->u.kids.first, "ip")),
			 "0x401234");
	ck_assert_str_eq(json_str(json_get(cr->u.kids.first, "module")),
			 "/bin/story");
	ck_assert_str_eq(json_str(json_get(cr->u.kids.first, "offset")),
			 "0x1234");
	ck_assert_ptr_null(json_get(cr->u.kids.first->next, "module"));
	ck_assert_uint_eq(json_get(json_get(f, "stacks"),
				   "operation")->u.kids.n, 0);
	/* Same kind, same frames (module+offset): one finding, two pids. */
	ck_assert_uint_eq(l.r.nfindings, 1);
	ck_assert_uint_eq(l.r.findings[0].npids, 2);
	ck_assert_uint_eq(l.r.findings[0].count, 2);
	unload(&l);
}
END_TEST

/* ---- bad files --------------------------------------------------------- */

START_TEST(corrupt_json)
{
	char path[256], good[256];

	make_tdir();
	put_result(tdir, 100, 1, "{\"kind\":\"leak\",\"message\":\"m\","
		   "\"addr\":\"0x1000\",\"len\":4096}");
	snprintf(good, sizeof(good), "%s/vmacheck.100.json", tdir);
	size_t n;
	char *text = get_file(good, &n);
	/* 101: cut before a key; 102: a stray byte where a value is due. */
	size_t cut = (size_t)(strstr(text, ",\"stats\"") - text) + 1;
	snprintf(path, sizeof(path), "%s/vmacheck.101.json", tdir);
	put_file(path, text, cut);
	size_t stray = (size_t)(strstr(text, "\"ppid\":") - text) + 7;
	text[stray] = '#';
	snprintf(path, sizeof(path), "%s/vmacheck.102.json", tdir);
	put_file(path, text, n);
	free(text);

	struct loaded l;
	const char *paths[] = { tdir, NULL };
	load(&l, paths);
	ck_assert_uint_eq(count_lines(l.diag), 2);
	char want[512];
	snprintf(want, sizeof(want), "vmacheck: %s/vmacheck.101.json: bad "
		 "JSON: unexpected end of input, expected a string key "
		 "(offset %zu)\n", tdir, cut);
	ck_assert_msg(strstr(l.diag, want) != NULL, "%s", l.diag);
	snprintf(want, sizeof(want), "vmacheck: %s/vmacheck.102.json: bad "
		 "JSON: unexpected '#', expected a value (offset %zu)\n", tdir,
		 stray);
	ck_assert_msg(strstr(l.diag, want) != NULL, "%s", l.diag);
	/* The good one is still reported. */
	ck_assert_uint_eq(l.r.nprocs, 1);
	ck_assert_uint_eq(l.r.procs[0]->pid, 100);
	ck_assert_uint_eq(l.r.nbad, 2);
	ck_assert_uint_eq(l.r.errors, 1);
	/* An error finding decides the status; without it, the bad files. */
	ck_assert_int_eq(report_exit_status(&l.r, -1, 99), 99);
	struct json_doc d;
	merged_json(&l.r, &d);
	ck_assert_uint_eq(json_get(d.root, "unreadable")->u.kids.n, 2);
	json_doc_free(&d);
	unload(&l);

	snprintf(path, sizeof(path), "%s/vmacheck.100.json", tdir);
	unlink(path);
	put_result(tdir, 103, 1, "");
	load(&l, paths);
	ck_assert_uint_eq(l.r.nprocs, 1);
	ck_assert_int_eq(report_exit_status(&l.r, -1, 99), 2);
	ck_assert_int_eq(report_exit_status(&l.r, 0, 99), 2);
	ck_assert_int_eq(report_exit_status(&l.r, 3, 99), 3);
	unload(&l);
}
END_TEST

START_TEST(corrupt_json_falls_back_to_journal)
{
	char path[256];

	make_tdir();
	ck_assert_int_eq(vmc_journal_open(tdir, 4646, 1), 0);
	j_story(4646);
	j_json(VMC_JREC_EXIT, "{\"ended\":\"exit\",\"status\":0}");
	vmc_journal_close();
	snprintf(path, sizeof(path), "%s/vmacheck.4646.json", tdir);
	put_str(path, "{\"tool\":\"vmacheck\",\"pid\":46");

	struct loaded l;
	const char *paths[] = { tdir, NULL };
	load(&l, paths);
	ck_assert_uint_eq(count_lines(l.diag), 1);
	ck_assert_ptr_nonnull(strstr(l.diag, "vmacheck.4646.json: bad JSON"));
	ck_assert_ptr_nonnull(strstr(l.diag, "(offset 27)"));
	ck_assert_uint_eq(l.r.nprocs, 1);
	ck_assert(l.r.procs[0]->rebuilt);
	ck_assert_str_eq(l.r.procs[0]->exe, "/bin/story");
	ck_assert_uint_eq(l.r.nfindings, 2);
	unload(&l);
}
END_TEST

START_TEST(foreign_files)
{
	char a[256], b[256], c[256], e[256], f[256], g[256];

	make_tdir();
	/* Named like results, but not ones. */
	snprintf(a, sizeof(a), "%s/vmacheck.200.json", tdir);
	put_str(a, "{\"foo\":1}");
	snprintf(b, sizeof(b), "%s/vmacheck.201.journal", tdir);
	put_str(b, "hello, world\n");
	snprintf(c, sizeof(c), "%s/vmacheck.202.json", tdir);
	put_str(c, "{\"tool\":\"vmacheck\",\"pid\":\"x\"}");
	snprintf(e, sizeof(e), "%s/vmacheck.203.json", tdir);
	put_str(e, "{\"tool\":\"vmacheck\",\"version\":\"0.1.0\","
		"\"processes\":[],\"findings\":[]}");
	/* Not named like results: left alone in a directory... */
	snprintf(f, sizeof(f), "%s/notes.txt", tdir);
	put_str(f, "x");
	/* ... but read when named. */
	snprintf(g, sizeof(g), "%s/other.bin", tdir);
	put_file(g, "\x7f" "ELF\x02\x01", 6);
	put_result(tdir, 204, 1, "");

	struct loaded l;
	const char *paths[] = { tdir, g, NULL };
	load(&l, paths);
	ck_assert_uint_eq(count_lines(l.diag), 5);
	char want[512];
	snprintf(want, sizeof(want), "vmacheck: %s: not a vmacheck result "
		 "(no \"tool\":\"vmacheck\") (offset 0)\n", a);
	ck_assert_msg(strstr(l.diag, want) != NULL, "%s", l.diag);
	snprintf(want, sizeof(want), "vmacheck: %s: not a vmacheck journal "
		 "(offset 0)\n", b);
	ck_assert_msg(strstr(l.diag, want) != NULL, "%s", l.diag);
	snprintf(want, sizeof(want), "vmacheck: %s: \"pid\" is not a "
		 "non-negative integer (offset 25)\n", c);
	ck_assert_msg(strstr(l.diag, want) != NULL, "%s", l.diag);
	snprintf(want, sizeof(want), "vmacheck: %s: a merged report, not a "
		 "per-process result (offset 0)\n", e);
	ck_assert_msg(strstr(l.diag, want) != NULL, "%s", l.diag);
	snprintf(want, sizeof(want), "vmacheck: %s: bad JSON: unexpected "
		 "byte 0x7f, expected a value (offset 0)\n", g);
	ck_assert_msg(strstr(l.diag, want) != NULL, "%s", l.diag);
	ck_assert_uint_eq(l.r.nprocs, 1);
	ck_assert_uint_eq(l.r.procs[0]->pid, 204);
	unload(&l);

	/* A missing path, an empty file. */
	snprintf(a, sizeof(a), "%s/nonexistent", tdir);
	snprintf(b, sizeof(b), "%s/empty.json", tdir);
	put_file(b, "", 0);
	const char *p2[] = { a, b, NULL };
	load(&l, p2);
	ck_assert_uint_eq(count_lines(l.diag), 2);
	ck_assert_ptr_nonnull(strstr(l.diag, "nonexistent: No such file"));
	ck_assert_ptr_nonnull(strstr(l.diag, "empty.json: empty document "
					     "(offset 0)"));
	ck_assert_uint_eq(l.r.nprocs, 0);
	unload(&l);
}
END_TEST

/* ---- merging -------------------------------------------------------------- */

#define STACK_A "\"stacks\":{\"created\":[{\"ip\":\"0x%lx\",\"module\":" \
		"\"/bin/a\",\"offset\":\"0x1234\"},{\"ip\":\"0x55\"}]}"

START_TEST(merge_dedup_and_pids)
{
	char f[2048];

	make_tdir();
	/* 300 and 301: the same leak (same module+offset, other ips and
	 * addresses); 300 also a wx-mapping without stacks; 302 the same
	 * wx-mapping message, and another one; 303 a divergence with
	 * other stacks, and an unknown kind, and an info. */
	snprintf(f, sizeof(f), "{\"kind\":\"leak\",\"severity\":\"error\","
		 "\"message\":\"leaked 8192 bytes\",\"addr\":\"0x7f01000\","
		 "\"len\":8192,\"prot\":\"rw-\",\"flags\":\"private,anon\","
		 "\"count\":2," STACK_A "},{\"kind\":\"wx-mapping\",\"message\":"
		 "\"rwx\",\"addr\":\"0x1000\",\"len\":4096}", 0x7f0011234ul);
	put_result(tdir, 300, 1, f);
	snprintf(f, sizeof(f), "{\"kind\":\"leak\",\"severity\":\"warning\","
		 "\"message\":\"leaked 4096 "
		 "bytes\",\"addr\":\"0x7f09000\",\"len\":4096," STACK_A "}",
		 0x7f0991234ul);
	put_result(tdir, 301, 300, f);
	put_result(tdir, 302, 300, "{\"kind\":\"wx-mapping\",\"message\":"
		   "\"rwx\",\"addr\":\"0x2000\",\"len\":4096,\"count\":3},"
		   "{\"kind\":\"wx-mapping\",\"message\":\"rwx again\"}");
	put_result(tdir, 303, 300, "{\"kind\":\"leak\",\"message\":\"leaked 8192"
		   " bytes\",\"stacks\":{\"created\":[{\"ip\":\"0x9\",\"module\":"
		   "\"/bin/b\",\"offset\":\"0x1234\"}]}},{\"kind\":\"strange\","
		   "\"message\":\"new kind\"},{\"kind\":\"leak-reachable\","
		   "\"message\":\"still pointed to\",\"stacks\":{}},"
		   "{\"kind\":\"stranger\",\"severity\":\"error\"}");

	struct loaded l;
	const char *paths[] = { tdir, NULL };
	load(&l, paths);
	ck_assert_str_eq(l.diag, "");
	ck_assert_uint_eq(l.r.nprocs, 4);
	ck_assert_uint_eq(l.r.nfindings, 7);
	const struct report_finding *leak = &l.r.findings[0];
	ck_assert_str_eq(leak->kind, "leak");
	ck_assert_uint_eq(leak->npids, 2);
	ck_assert_uint_eq(leak->pids[0], 300);
	ck_assert_uint_eq(leak->pids[1], 301);
	ck_assert_uint_eq(leak->count, 3);
	ck_assert_int_eq(leak->severity, REPORT_ERROR);  /* by its kind */
	const struct report_finding *wx = &l.r.findings[1];
	ck_assert_str_eq(wx->kind, "wx-mapping");
	ck_assert_uint_eq(wx->npids, 2);
	ck_assert_uint_eq(wx->pids[1], 302);
	ck_assert_uint_eq(wx->count, 4);
	ck_assert_int_eq(wx->severity, REPORT_WARNING);
	ck_assert_str_eq(l.r.findings[2].message, "rwx again");
	ck_assert_uint_eq(l.r.findings[3].pids[0], 303);  /* other stack */
	ck_assert_int_eq(l.r.findings[4].severity, REPORT_WARNING);
	ck_assert_int_eq(l.r.findings[5].severity, REPORT_INFO);
	ck_assert_int_eq(l.r.findings[6].severity, REPORT_ERROR); /* its own */
	ck_assert_uint_eq(l.r.errors, 3);
	ck_assert_uint_eq(l.r.warnings, 3);
	ck_assert_uint_eq(l.r.infos, 1);

	/* The merged JSON. */
	struct json_doc d;
	merged_json(&l.r, &d);
	ck_assert_str_eq(json_str(json_get(d.root, "tool")), "vmacheck");
	ck_assert_str_eq(json_str(json_get(d.root, "version")), "0.1.0");
	const struct json_value *ps = json_get(d.root, "processes");
	ck_assert_uint_eq(ps->u.kids.n, 4);
	const struct json_value *p1 = ps->u.kids.first->next;
	uint64_t u;
	ck_assert_int_eq(json_u64(json_get(p1, "pid"), &u), 0);
	ck_assert_uint_eq(u, 301);
	ck_assert_int_eq(json_u64(json_get(p1, "ppid"), &u), 0);
	ck_assert_uint_eq(u, 300);
	ck_assert_str_eq(json_str(json_get(p1, "exe")), "/bin/prog0");
	ck_assert_uint_eq(json_get(p1, "argv")->u.kids.n, 2);
	ck_assert_str_eq(json_str(json_get(p1, "ended")), "exit");
	ck_assert_int_eq(json_u64(json_get(p1, "status"), &u), 0);
	ck_assert_int_eq(json_u64(json_get(json_get(json_get(p1, "stats"),
						    "calls"), "mmap"), &u), 0);
	ck_assert_uint_eq(u, 301 % 13);
	const struct json_value *fs = json_get(d.root, "findings");
	ck_assert_uint_eq(fs->u.kids.n, 7);
	const struct json_value *f0 = fs->u.kids.first;
	ck_assert_str_eq(json_str(json_get(f0, "kind")), "leak");
	ck_assert_str_eq(json_str(json_get(f0, "severity")), "error");
	ck_assert_str_eq(json_str(json_get(f0, "addr")), "0x7f01000");
	ck_assert_str_eq(json_str(json_get(f0, "prot")), "rw-");
	ck_assert_int_eq(json_u64(json_get(f0, "count"), &u), 0);
	ck_assert_uint_eq(u, 3);
	const struct json_value *pids = json_get(f0, "pids");
	ck_assert_uint_eq(pids->u.kids.n, 2);
	ck_assert_str_eq(pids->u.kids.first->u.str.s, "300");
	ck_assert_str_eq(pids->u.kids.first->next->u.str.s, "301");
	ck_assert_ptr_nonnull(json_get(f0, "stacks"));
	const struct json_value *sum = json_get(d.root, "summary");
	ck_assert_int_eq(json_u64(json_get(sum, "errors"), &u), 0);
	ck_assert_uint_eq(u, 3);
	json_doc_free(&d);

	/* The text: one block per finding, the summary last. */
	char *txt;
	size_t n;
	FILE *m = open_memstream(&txt, &n);
	report_render_text(&l.r, m);
	fclose(m);
	/* The sanitizers' layout: headline, stacks (the call's first, the
	 * others labelled), then where and in which processes. */
	ck_assert_ptr_nonnull(strstr(txt, "==300==ERROR: vmacheck: leak: "
					  "leaked 8192 bytes\n"
					  "  the pages were created here:\n"
					  "    #0 0x7f0011234 (/bin/a+0x1234)\n"
					  "    #1 0x55\n"
					  "  at 0x7f01000, 8192 bytes, rw-, "
					  "private,anon\n"
					  "  in 2 processes: 300 (/bin/prog6),"
					  " 301 (/bin/prog0)\n"
					  "  seen 3 times\n\n"));
	ck_assert_ptr_nonnull(strstr(txt, "==300==WARNING: vmacheck: "
					  "wx-mapping: rwx\n"));
	ck_assert_ptr_nonnull(strstr(txt, "==303==INFO: vmacheck: "
					  "leak-reachable: still pointed to\n"
					  "  in process 303 (/bin/prog2)\n"));
	const char *last = strrchr(txt, '\n');
	ck_assert(last && !last[1]);
	const char *sline = txt + n - 1;
	while (sline > txt && sline[-1] != '\n')
		sline--;
	ck_assert_str_eq(sline, "SUMMARY: vmacheck: 3 error(s), 3 warning(s) "
				"in 4 process(es)\n");
	free(txt);
	unload(&l);
}
END_TEST

START_TEST(merge_pairs_and_order)
{
	char sub[256], path[256];

	make_tdir();
	/* Results in a subdirectory too; the same file named twice; a JSON
	 * without argv takes it from its journal. */
	snprintf(sub, sizeof(sub), "%s/job2", tdir);
	ck_assert_int_eq(mkdir(sub, 0777), 0);
	put_result(sub, 7, 1, "");
	put_result(tdir, 900, 1, "");
	put_result(tdir, 80, 1, "");
	ck_assert_int_eq(vmc_journal_open(tdir, 5000, 1), 0);
	j_story(5000);
	j_json(VMC_JREC_EXIT, "{\"ended\":\"exit\"}");
	vmc_journal_close();
	snprintf(path, sizeof(path), "%s/vmacheck.5000.json", tdir);
	put_str(path, "{\"tool\":\"vmacheck\",\"pid\":5000,\"ppid\":1,"
		"\"exe\":\"/bin/story\",\"ended\":\"exit\",\"status\":0,"
		"\"stats\":{},\"findings\":[]}");

	struct loaded l;
	char named[256];
	snprintf(named, sizeof(named), "%s/vmacheck.900.json", tdir);
	const char *paths[] = { tdir, named, NULL };
	load(&l, paths);
	ck_assert_str_eq(l.diag, "");
	ck_assert_uint_eq(l.r.nprocs, 4);
	/* (directory, pid) order. */
	ck_assert_uint_eq(l.r.procs[0]->pid, 80);
	ck_assert_uint_eq(l.r.procs[1]->pid, 900);
	ck_assert_uint_eq(l.r.procs[2]->pid, 5000);
	ck_assert_uint_eq(l.r.procs[3]->pid, 7);
	const struct report_process *p = proc_of(&l.r, 5000);
	ck_assert(!p->rebuilt);
	ck_assert_ptr_nonnull(p->journal);
	ck_assert_uint_eq(p->argv->u.kids.n, 3);     /* from the journal */
	ck_assert_str_eq(json_str(p->argv->u.kids.first), "story");
	ck_assert_uint_eq(l.r.nfindings, 0);         /* the JSON wins */
	unload(&l);
}
END_TEST

START_TEST(exit_status_rules)
{
	struct report r;

	report_init(&r);
	ck_assert_int_eq(report_exit_status(&r, 0, 99), 0);
	ck_assert_int_eq(report_exit_status(&r, -1, 99), 0);
	ck_assert_int_eq(report_exit_status(&r, 3, 99), 3);
	ck_assert_int_eq(report_exit_status(&r, 137, 99), 137);
	r.warnings = 5;
	r.infos = 1;
	ck_assert_int_eq(report_exit_status(&r, 0, 99), 0);
	ck_assert_int_eq(report_exit_status(&r, 3, 99), 3);
	r.nbad = 1;
	ck_assert_int_eq(report_exit_status(&r, 0, 99), 2);
	ck_assert_int_eq(report_exit_status(&r, -1, 99), 2);
	ck_assert_int_eq(report_exit_status(&r, 4, 99), 4);
	r.errors = 1;
	ck_assert_int_eq(report_exit_status(&r, 0, 99), 99);
	ck_assert_int_eq(report_exit_status(&r, 3, 7), 7);
	ck_assert_int_eq(report_exit_status(&r, 137, 0), 0);
	r.nbad = 0;
	report_free(&r);

	/* Severity by kind (DESIGN.md's table). */
	ck_assert_int_eq(report_kind_severity("shadow-divergence"),
			 REPORT_ERROR);
	ck_assert_int_eq(report_kind_severity("untracked-change"),
			 REPORT_WARNING);
	ck_assert_int_eq(report_kind_severity("leak"), REPORT_ERROR);
	ck_assert_int_eq(report_kind_severity("leak-reachable"), REPORT_INFO);
	ck_assert_int_eq(report_kind_severity("fixed-clobber"), REPORT_ERROR);
	ck_assert_int_eq(report_kind_severity("unmap-foreign"), REPORT_ERROR);
	ck_assert_int_eq(report_kind_severity("double-unmap"), REPORT_ERROR);
	ck_assert_int_eq(report_kind_severity("unmap-unmapped"),
			 REPORT_WARNING);
	ck_assert_int_eq(report_kind_severity("map-count-pressure"),
			 REPORT_WARNING);
	ck_assert_int_eq(report_kind_severity("no-such-kind"), REPORT_WARNING);

	/* The wait status of the command's own child. */
	make_tdir();
	put_result(tdir, 600, 1, "");
	struct loaded l;
	const char *paths[] = { tdir, NULL };
	load(&l, paths);
	report_note_wait(&l.r, 600, 3 << 8);          /* exit(3) */
	struct json_doc d;
	merged_json(&l.r, &d);
	const struct json_value *jp = json_get(d.root, "processes")->u.kids.first;
	ck_assert_str_eq(json_get(jp, "status")->u.str.s, "3");
	json_doc_free(&d);
	report_note_wait(&l.r, 600, SIGSEGV);        /* killed by a signal */
	merged_json(&l.r, &d);
	jp = json_get(d.root, "processes")->u.kids.first;
	ck_assert_str_eq(json_str(json_get(jp, "ended")), "signal");
	ck_assert_int_eq(json_get(jp, "status")->type, JSON_NULL);
	ck_assert_str_eq(json_get(jp, "signal")->u.str.s, "11");
	json_doc_free(&d);
	unload(&l);
}
END_TEST

/* ---- speed --------------------------------------------------------------- */

#define NJSON 10000
#define NJOURNAL 1000
#define NPOOL 40

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(merge_10000_files)
{
	static const char *const kinds[] = { "leak", "wx-mapping",
					     "untracked-change",
					     "mprotect-unmapped" };
	char f[4096];

	make_tdir();
	double t0 = now();
	for (unsigned i = 0; i < NJSON; i++) {
		unsigned pid = 10000 + i;
		size_t n = 0;
		f[0] = '\0';
		/* 0 to 3 findings from a pool of NPOOL (kind, stack). */
		for (unsigned k = 0; k < i % 4; k++) {
			unsigned pool = (i * 7 + k * 13) % NPOOL;
			n += (size_t)snprintf(f + n, sizeof(f) - n,
				"%s{\"kind\":\"%s\",\"severity\":\"%s\","
				"\"message\":\"finding %u\",\"addr\":\"0x%x\","
				"\"len\":4096,\"prot\":\"rw-\",\"flags\":"
				"\"private,anon\",\"count\":1,\"stacks\":{"
				"\"created\":[{\"ip\":\"0x%x\",\"module\":"
				"\"/usr/lib/libx.so\",\"offset\":\"0x%x\"},"
				"{\"ip\":\"0x%x\",\"module\":\"/bin/p\","
				"\"offset\":\"0x1000\"}]}}",
				k ? "," : "", kinds[pool % 4],
				pool % 4 ? "warning" : "error", pool,
				0x7f000000 + i * 4096, 0x7f100000 + i + pool,
				pool * 16, 0x55000000 + i);
		}
		put_result(tdir, pid, 1, f);
	}
	for (unsigned i = 0; i < NJOURNAL; i++) {
		unsigned pid = 30000 + i;
		ck_assert_int_eq(vmc_journal_open(tdir, (pid_t)pid, 1), 0);
		j_story(pid);
		vmc_journal_close();
	}
	double t1 = now();

	struct loaded l;
	const char *paths[] = { tdir, NULL };
	double t2 = now();
	load(&l, paths);
	struct jout w;
	jout_init(&w, 2);
	report_render_json(&l.r, &w);
	FILE *null = fopen("/dev/null", "w");
	report_render_text(&l.r, null);
	fclose(null);
	double t3 = now();
	ck_assert(jout_ok(&w));
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("merge: %u JSON results + %u journals -> %zu processes, %zu "
	       "findings, %zu bytes of JSON in %.3f s (generated in %.3f s; "
	       "max RSS %ld MiB)\n", NJSON, NJOURNAL, l.r.nprocs,
	       l.r.nfindings, w.len, t3 - t2, t1 - t0, ru.ru_maxrss / 1024);
	fflush(stdout);
	jout_free(&w);
	ck_assert_str_eq(l.diag, "");
	ck_assert_uint_eq(l.r.nprocs, NJSON + NJOURNAL);
	/* The pools used, plus the journals' two findings. */
	bool used[NPOOL] = { false };
	size_t npools = 0;
	for (unsigned i = 0; i < NJSON; i++)
		for (unsigned k = 0; k < i % 4; k++)
			used[(i * 7 + k * 13) % NPOOL] = true;
	for (unsigned k = 0; k < NPOOL; k++)
		npools += used[k];
	ck_assert_uint_eq(l.r.nfindings, npools + 2);
	size_t with_pool0 = 0;
	for (unsigned i = 0; i < NJSON; i++)
		for (unsigned k = 0; k < i % 4; k++)
			if ((i * 7 + k * 13) % NPOOL == 0) {
				with_pool0++;
				break;
			}
	for (size_t i = 0; i < l.r.nfindings; i++) {
		const struct report_finding *rf = &l.r.findings[i];
		if (rf->message && !strcmp(rf->message, "finding 0"))
			ck_assert_uint_eq(rf->npids, with_pool0);
		if (!strcmp(rf->kind, "shadow-divergence"))
			ck_assert_uint_eq(rf->npids, NJOURNAL);
	}
	ck_assert_msg(t3 - t2 < 10.0, "merge took %.3f s", t3 - t2);
	unload(&l);
}
END_TEST

/* ---- the command ----------------------------------------------------------- */

struct run {
	int status;             /* exit status, or 128+signal */
	char *out, *err;
};

/* vmacheck_main(args) in a child, stdout and stderr captured. */
static void run_cmd(struct run *res, const char *lib, const char *const *args)
{
	char outp[256], errp[256];
	int argc = 0;

	while (args[argc])
		argc++;
	snprintf(outp, sizeof(outp), "%s/.stdout", tdir);
	snprintf(errp, sizeof(errp), "%s/.stderr", tdir);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0)
			_exit(250);
		dup2(o, 1);
		dup2(e, 2);
		if (lib)
			setenv("VMACHECK_LIB", lib, 1);
		setenv("TMPDIR", tdir, 1);
		unsetenv("VMACHECK_OPTIONS");
		char **argv = calloc((size_t)argc + 1, sizeof(*argv));
		for (int i = 0; i < argc; i++)
			argv[i] = strdup(args[i]);
		int r = vmacheck_main(argc, argv);
		fflush(NULL);
		_exit(r);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	res->out = get_file(outp, NULL);
	res->err = get_file(errp, NULL);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* One line "vmacheck: ..." on stderr, exit 2, nothing on stdout. */
static void assert_bad_option(const char *lib, const char *const *args,
			      const char *part)
{
	struct run r;
	run_cmd(&r, lib, args);
	ck_assert_msg(r.status == 2, "%s: status %d", args[1], r.status);
	ck_assert_uint_eq(count_lines(r.err), 1);
	ck_assert_msg(!strncmp(r.err, "vmacheck: ", 10), "%s", r.err);
	ck_assert_msg(strstr(r.err, part) != NULL, "'%s' lacks '%s'", r.err,
		      part);
	ck_assert_str_eq(r.out, "");
	run_free(&r);
}

START_TEST(command_options)
{
	make_tdir();
	const char *const a1[] = { "vmacheck", "--stack-depth", "x", "--",
				   "/bin/true", NULL };
	assert_bad_option(NULL, a1, "--stack-depth 'x'");
	const char *const a2[] = { "vmacheck", "--bogus", "/bin/true", NULL };
	assert_bad_option(NULL, a2, "unknown option '--bogus'");
	const char *const a3[] = { "vmacheck", "--check=every:0", "/bin/true",
				   NULL };
	assert_bad_option(NULL, a3, "--check 'every:0'");
	const char *const a4[] = { "vmacheck", "--uffd", "maybe", "/bin/true",
				   NULL };
	assert_bad_option(NULL, a4, "--uffd");
	const char *const a5[] = { "vmacheck", "--error-exitcode=256",
				   "/bin/true", NULL };
	assert_bad_option(NULL, a5, "0 to 255");
	const char *const a6[] = { "vmacheck", "--json", NULL };
	assert_bad_option(NULL, a6, "needs a value");
	const char *const a7[] = { "vmacheck", NULL };
	assert_bad_option(NULL, a7, "no program");
	const char *const a8[] = { "vmacheck", "-x", "/bin/true", NULL };
	assert_bad_option(NULL, a8, "unknown option '-x'");
	const char *const a9[] = { "vmacheck", "report", "--check", "exit",
				   tdir, NULL };
	assert_bad_option(NULL, a9, "not an option of 'vmacheck report'");
	const char *const a10[] = { "vmacheck", "report", NULL };
	assert_bad_option(NULL, a10, "no DIR or FILE");
	const char *const a11[] = { "vmacheck", "--help=1", NULL };
	assert_bad_option(NULL, a11, "takes no value");
	const char *const a12[] = { "vmacheck", "--out-dir", "/tmp/a b",
				    "/bin/true", NULL };
	char lib[256];
	snprintf(lib, sizeof(lib), "%s/libvmacheck.so", tdir);
	put_file(lib, "", 0);
	assert_bad_option(lib, a12, "cannot hold");
	rmdir("/tmp/a b");
	const char *const a13[] = { "vmacheck", "--leak-check", "maybe",
				    "/bin/true", NULL };
	assert_bad_option(NULL, a13, "--leak-check 'maybe'");
	const char *const a14[] = { "vmacheck", "--max-map-share=0",
				    "/bin/true", NULL };
	assert_bad_option(NULL, a14, "--max-map-share '0'");
	const char *const a15[] = { "vmacheck", "--options-file",
				    "/nonexistent/opts", "/bin/true", NULL };
	assert_bad_option(NULL, a15, "--options-file /nonexistent/opts");
	char optf[300];
	snprintf(optf, sizeof(optf), "%s/opts", tdir);
	put_file(optf, "# comment\nstack-depth=4\n\n--check bogus\n", 39);
	const char *const a16[] = { "vmacheck", "--options-file", optf,
				    "/bin/true", NULL };
	assert_bad_option(NULL, a16, "--check 'bogus'");
	put_file(optf, "stack-depth=4\nno-such=1\n", 24);
	assert_bad_option(NULL, a16, "opts:2: unknown option 'no-such'");
	const char *const a17[] = { "vmacheck", "--suppressions",
				    "/nonexistent/supp", "/bin/true", NULL };
	assert_bad_option(NULL, a17, "--suppressions /nonexistent/supp");

	struct run r;
	const char *const h[] = { "vmacheck", "--help", NULL };
	run_cmd(&r, NULL, h);
	ck_assert_int_eq(r.status, 0);
	ck_assert(!strncmp(r.out, "Usage: vmacheck [OPTIONS] [--] PROGRAM", 38));
	ck_assert_str_eq(r.err, "");
	run_free(&r);
	const char *const v[] = { "vmacheck", "--version", NULL };
	run_cmd(&r, NULL, v);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "vmacheck 0.1.0\n");
	run_free(&r);
	const char *const rv[] = { "vmacheck", "report", "--version", NULL };
	run_cmd(&r, NULL, rv);
	ck_assert_str_eq(r.out, "vmacheck 0.1.0\n");
	run_free(&r);
	/* No library to preload. */
	const char *const nl[] = { "vmacheck", "/bin/true", NULL };
	char none[256];
	snprintf(none, sizeof(none), "%s/none.so", tdir);
	run_cmd(&r, none, nl);
	ck_assert_int_eq(r.status, 2);
	ck_assert_uint_eq(count_lines(r.err), 1);
	ck_assert_ptr_nonnull(strstr(r.err, "VMACHECK_LIB="));
	run_free(&r);
}
END_TEST

START_TEST(command_preload_options)
{
	/* What the command passes, the preload's own parser takes. */
	struct cmd c;
	char *argv[] = { "vmacheck", "--check", "every:100", "--stack-depth=7",
			 "--uffd", "touch", "--error-exitcode", "5",
			 "--suppressions", "/etc/hostname", "--json", "x.json",
			 "--leak-check=no", "prog", NULL };
	ck_assert_int_eq(parse_args(14, argv, 1, false, &c), 0);
	ck_assert_int_eq(c.prog, 13);
	setenv("VMACHECK_OPTIONS", "max-map-share=10:stack-depth=3", 1);
	char *s = preload_options(&c, "/tmp/out");
	unsetenv("VMACHECK_OPTIONS");
	/* Suppressions are the command's (applied to the report). */
	ck_assert_str_eq(s, "max-map-share=10:stack-depth=3:out-dir=/tmp/out:"
			    "check=every:100:stack-depth=7:error-exitcode=5:"
			    "uffd=touch:leak-check=no");
	struct vmc_options o;
	char err[256];
	vmc_options_default(&o);
	ck_assert_msg(vmc_options_parse(s, &o, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_str_eq(o.out_dir, "/tmp/out");
	ck_assert_int_eq(o.check, VMC_CHECK_EVERY);
	ck_assert_uint_eq(o.check_every, 100);
	ck_assert_int_eq(o.stack_depth, 7);      /* ours win */
	ck_assert_int_eq(o.uffd, VMC_UFFD_TOUCH);
	ck_assert_int_eq(o.error_exitcode, 5);
	ck_assert_int_eq(o.max_map_share, 10);
	ck_assert(!o.leak_check);
	ck_assert_str_eq(o.suppressions, "");
	ck_assert_str_eq(o.json, "");            /* the command's own */
	free(s);
}
END_TEST

/* libvmacheck.so to test with: $VMACHECK_LIB, else build/ above this
 * test (build/tests/test_report), else build/ under the cwd. */
static const char *find_lib(char *buf, size_t n)
{
	const char *env = getenv("VMACHECK_LIB");
	char self[PATH_MAX];
	ssize_t k;

	if (env && access(env, R_OK) == 0)
		return env;
	k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (k > 0) {
		self[k] = '\0';
		for (int up = 0; up < 3; up++) {
			char *sl = strrchr(self, '/');
			if (!sl)
				break;
			*sl = '\0';
			int m = snprintf(buf, n, "%s/libvmacheck.so", self);
			if (m > 0 && (size_t)m < n && access(buf, R_OK) == 0)
				return buf;
			m = snprintf(buf, n, "%s/build/libvmacheck.so", self);
			if (m > 0 && (size_t)m < n && access(buf, R_OK) == 0)
				return buf;
		}
	}
	snprintf(buf, n, "build/libvmacheck.so");
	return access(buf, R_OK) == 0 ? buf : NULL;
}

START_TEST(end_to_end)
{
	char libbuf[PATH_MAX], lib[PATH_MAX], json[256], out[256];
	struct run r;

	const char *found = find_lib(libbuf, sizeof(libbuf));
	if (!found) {
		printf("end_to_end: no libvmacheck.so, skipped\n");
		return;
	}
	ck_assert_ptr_nonnull(realpath(found, lib));
	make_tdir();

	const char *const t[] = { "vmacheck", "--", "/bin/true", NULL };
	run_cmd(&r, lib, t);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "vmacheck: results in "));
	ck_assert_ptr_nonnull(strstr(r.err, "SUMMARY: vmacheck: 0 error(s), "
					    "0 warning(s) in 1 process(es)"));
	run_free(&r);

	const char *const e3[] = { "vmacheck", "sh", "-c", "exit 3", NULL };
	run_cmd(&r, lib, e3);
	ck_assert_msg(r.status == 3, "status %d: %s", r.status, r.err);
	run_free(&r);

	snprintf(json, sizeof(json), "%s/k.json", tdir);
	const char *const k9[] = { "vmacheck", "--json", json, "--", "sh",
				   "-c", "kill -9 $$", NULL };
	run_cmd(&r, lib, k9);
	ck_assert_msg(r.status == 137, "status %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "was killed by signal 9"));
	char *text = get_file(json, NULL);
	struct json_doc d;
	parse_ok(&d, text, strlen(text));
	const struct json_value *ps = json_get(d.root, "processes");
	ck_assert_uint_eq(ps->u.kids.n, 1);
	const struct json_value *p = ps->u.kids.first;
	ck_assert_str_eq(json_str(json_get(p, "ended")), "killed");
	ck_assert_str_eq(json_str(json_get(p, "source")), "journal");
	ck_assert_int_eq(json_get(p, "status")->type, JSON_NULL);
	ck_assert_str_eq(json_get(p, "signal")->u.str.s, "9");
	const struct json_value *argv = json_get(p, "argv");
	ck_assert_uint_eq(argv->u.kids.n, 3);
	ck_assert_str_eq(json_str(argv->u.kids.first->next->next),
			 "kill -9 $$");
	json_doc_free(&d);
	free(text);
	run_free(&r);

	/* Children are reported; a reused --out-dir shows only this run;
	 * --text takes the text; report renders the directory again. */
	snprintf(out, sizeof(out), "%s/out", tdir);
	const char *const kids[] = { "vmacheck", "--out-dir", out,
				     "--check=call", "sh", "-c",
				     "/bin/true; /bin/true; exit 4", NULL };
	run_cmd(&r, lib, kids);
	ck_assert_msg(r.status == 4, "status %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "in 3 process(es)"));
	run_free(&r);
	char txt[256];
	snprintf(txt, sizeof(txt), "%s/report.txt", tdir);
	const char *const again[] = { "vmacheck", "--out-dir", out, "--text",
				      txt, "/bin/true", NULL };
	run_cmd(&r, lib, again);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.err, "");
	text = get_file(txt, NULL);
	ck_assert_ptr_nonnull(strstr(text, "in 1 process(es)"));
	free(text);
	run_free(&r);
	const char *const rep[] = { "vmacheck", "report", "--json", "-", out,
				    NULL };
	run_cmd(&r, NULL, rep);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "in 4 process(es)"));
	parse_ok(&d, r.out, strlen(r.out));
	ck_assert_uint_eq(json_get(d.root, "processes")->u.kids.n, 4);
	json_doc_free(&d);
	run_free(&r);

	/* A program that cannot run. */
	const char *const nx[] = { "vmacheck", "/nonexistent/prog", NULL };
	run_cmd(&r, lib, nx);
	ck_assert_int_eq(r.status, 127);
	ck_assert_uint_eq(count_lines(r.err), 1);
	ck_assert_ptr_nonnull(strstr(r.err, "cannot run /nonexistent/prog"));
	run_free(&r);
	/* A bad option with a real library. */
	const char *const bad[] = { "vmacheck", "--check", "sometimes",
				    "/bin/true", NULL };
	assert_bad_option(lib, bad, "--check 'sometimes'");

	/* The built command finds the library next to itself. */
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "%s", lib);
	*strrchr(cmd, '/') = '\0';
	strcat(cmd, "/vmacheck");
	if (access(cmd, X_OK) == 0) {
		char sh[PATH_MAX * 2];
		snprintf(sh, sizeof(sh), "VMACHECK_LIB= TMPDIR=%s %s -- sh -c "
			 "'exit 5' 2>/dev/null", tdir, cmd);
		int st = system(sh);
		ck_assert(WIFEXITED(st));
		ck_assert_int_eq(WEXITSTATUS(st), 5);
	} else {
		printf("end_to_end: no %s, its lookup not tested\n", cmd);
	}
}
END_TEST

START_TEST(report_command_status)
{
	struct run r;

	make_tdir();
	/* Nothing there: status 2. */
	const char *const e[] = { "vmacheck", "report", tdir, NULL };
	run_cmd(&r, NULL, e);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "no vmacheck results"));
	run_free(&r);
	/* Warnings only: 0; an error finding: 99 or --error-exitcode. */
	put_result(tdir, 700, 1, "{\"kind\":\"wx-mapping\",\"message\":\"w\"}");
	run_cmd(&r, NULL, e);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "==700==WARNING: vmacheck: "
					    "wx-mapping: w\n"));
	run_free(&r);
	put_result(tdir, 701, 1, "{\"kind\":\"double-unmap\",\"message\":\"d\"}");
	run_cmd(&r, NULL, e);
	ck_assert_int_eq(r.status, 99);
	run_free(&r);
	const char *const x[] = { "vmacheck", "report", "--error-exitcode=7",
				  tdir, NULL };
	run_cmd(&r, NULL, x);
	ck_assert_int_eq(r.status, 7);
	run_free(&r);
	/* A corrupt file beside them: one line, the status still 99. */
	char p[256];
	snprintf(p, sizeof(p), "%s/vmacheck.702.json", tdir);
	put_str(p, "{\"tool\":");
	run_cmd(&r, NULL, e);
	ck_assert_int_eq(r.status, 99);
	ck_assert_ptr_nonnull(strstr(r.err, "vmacheck.702.json: bad JSON"));
	ck_assert_ptr_nonnull(strstr(r.err, "in 2 process(es)"));
	run_free(&r);
	/* Without the error: the bad file makes it 2. */
	snprintf(p, sizeof(p), "%s/vmacheck.701.json", tdir);
	unlink(p);
	run_cmd(&r, NULL, e);
	ck_assert_int_eq(r.status, 2);
	run_free(&r);
}
END_TEST

static Suite *report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc;

	tc = tcase_create("json");
	tcase_add_test(tc, json_scalars_and_nesting);
	tcase_add_test(tc, json_escapes_and_unicode);
	tcase_add_test(tc, json_numbers);
	tcase_add_test(tc, json_errors_with_offsets);
	tcase_add_test(tc, json_depth);
	tcase_add_test(tc, json_writer);
	suite_add_tcase(s, tc);

	tc = tcase_create("rebuild");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, rebuild_with_exit);
	tcase_add_test(tc, rebuild_killed);
	tcase_add_test(tc, rebuild_killed_counts);
	tcase_add_test(tc, rebuild_truncated_mid_record);
	tcase_add_test(tc, rebuild_bad_payload);
	tcase_add_test(tc, rebuild_stacks_and_modules);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad files");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, corrupt_json);
	tcase_add_test(tc, corrupt_json_falls_back_to_journal);
	tcase_add_test(tc, foreign_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("merge");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, merge_dedup_and_pids);
	tcase_add_test(tc, merge_pairs_and_order);
	tcase_add_test(tc, exit_status_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("speed");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, merge_10000_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("command");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, command_options);
	tcase_add_test(tc, command_preload_options);
	tcase_add_test(tc, report_command_status);
	tcase_add_test(tc, end_to_end);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(report_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
