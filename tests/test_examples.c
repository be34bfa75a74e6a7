/*
 * test_examples.c - the findings end to end: build/vmacheck runs each
 * program of examples/ and the test reads the merged JSON it writes
 * (--json), with report/json.c's parser.
 *
 *   kinds       for each example with findings, the exact set of finding
 *               kinds is the set its source marks with comments
 *               "expect: KIND... in FUNCTION" on the line of the call; the
 *               top frame of each finding's stack (the operation's, else
 *               the creation's) is that function, in that file, at that
 *               line (symbolized by the command from DWARF); the exit
 *               status is 99 when a kind is an error, else the program's;
 *               stdout is the program's own (same as a run without
 *               vmacheck).
 *   clean       the clean examples (reserve-then-commit, partial unmaps,
 *               mremap growth, a file kept to exit through a global) and
 *               map_churn: no finding of warning or error severity, exit
 *               status 0, same stdout as without vmacheck.
 *   details     what a finding says beyond its kind: double-unmap has the
 *               three stacks (operation, previous, created); a leak of
 *               three mappings from one call site is one finding with
 *               count and bytes of all; map-count-pressure names the
 *               splitting call site; fixed-clobber explains the rule;
 *               --options-file's leak-check=no turns the leak analysis
 *               off.
 *   outputs     the text report (sanitizer style: "==PID==ERROR:",
 *               "#0 0x... in f file:line", the sites table, "SUMMARY:")
 *               and SARIF 2.1.0 (version, the driver's rules, one result
 *               per finding with a physical location at the marked line).
 *   suppress    a suppressions file takes findings out of the report and
 *               the exit status, and the report says which were used and
 *               how often; a bad line is one error line naming file:line.
 *   report      `vmacheck report` over the saved results of a run gives the
 *               same findings; a corrupt result beside them is one line
 *               naming the file and the offset, the rest still reported.
 *
 * Binaries are found from this test's path: build/tests/.. = build/.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../report/json.h"

static char build_dir[PATH_MAX];  /* build/ */
static char root_dir[PATH_MAX];   /* the project root */

static void locate(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert(n > 0);
	exe[n] = 0;
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s/..", dirname(exe));
	ck_assert_msg(realpath(tmp, build_dir) != NULL, "%s", tmp);
	snprintf(tmp, sizeof(tmp), "%s/..", build_dir);
	ck_assert_msg(realpath(tmp, root_dir) != NULL, "%s", tmp);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	size_t k;
	while (b && (k = fread(b + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (n + 1 == cap)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	if (b)
		b[n] = 0;
	if (len)
		*len = n;
	return b;
}

static void write_all(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(s, f);
	fclose(f);
}

/* ---- running ---------------------------------------------------------- */

struct run {
	int status;                /* exit status, 128+signal */
	char *out, *err;
	char dir[PATH_MAX];        /* the scratch directory */
};

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Run argv (NULL-terminated) with stdout and stderr to files in a fresh
 * directory; 120 s limit. */
static void run_argv(struct run *r, char *const argv[])
{
	char tmpl[] = "/tmp/vmc-examples-XXXXXX";
	ck_assert(mkdtemp(tmpl) != NULL);
	snprintf(r->dir, sizeof(r->dir), "%s", tmpl);
	char outp[PATH_MAX + 8], errp[PATH_MAX + 8];
	snprintf(outp, sizeof(outp), "%s/stdout", r->dir);
	snprintf(errp, sizeof(errp), "%s/stderr", r->dir);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(o, 1);
		dup2(e, 2);
		setpgid(0, 0);
		alarm(120);
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = read_all(outp, NULL);
	r->err = read_all(errp, NULL);
	ck_assert(r->out && r->err);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	if (!getenv("VMC_TEST_KEEP"))
		nftw(r->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "test_examples: kept %s\n", r->dir);
}

/* The example alone (no vmacheck): its stdout, for comparison. */
static char *plain_stdout(const char *example, int *status)
{
	char prog[PATH_MAX + 32];
	snprintf(prog, sizeof(prog), "%s/examples/%s", build_dir, example);
	char *argv[] = { prog, NULL };
	struct run r;
	run_argv(&r, argv);
	*status = r.status;
	char *out = strdup(r.out);
	run_free(&r);
	return out;
}

/* vmacheck --out-dir D --json D/r.json --sarif D/r.sarif [extra] example.
 * The scratch directory is made first, so the paths can be in it. */
/* Arguments after the program (shell words), for the next run. */
static const char *prog_args = "";

static void run_vmacheck(struct run *r, const char *example,
			 const char *extra1, const char *extra2)
{
	char vm[PATH_MAX + 16], prog[PATH_MAX + 32];
	snprintf(vm, sizeof(vm), "%s/vmacheck", build_dir);
	if (example[0] == '/')
		snprintf(prog, sizeof(prog), "%s", example);
	else
		snprintf(prog, sizeof(prog), "%s/examples/%s", build_dir,
			 example);
	/* Run in the scratch directory (a shell does the cd), so that the
	 * relative output paths land there. */
	char cmd[4 * PATH_MAX];
	snprintf(cmd, sizeof(cmd),
		 "exec \"%s\" --out-dir out --json r.json --sarif r.sarif "
		 "%s %s -- \"%s\" %s",
		 vm, extra1 ? extra1 : "", extra2 ? extra2 : "", prog,
		 prog_args);
	char tmpl[] = "/tmp/vmc-examples-XXXXXX";
	ck_assert(mkdtemp(tmpl) != NULL);
	snprintf(r->dir, sizeof(r->dir), "%s", tmpl);
	char outp[PATH_MAX + 8], errp[PATH_MAX + 8];
	snprintf(outp, sizeof(outp), "%s/stdout", r->dir);
	snprintf(errp, sizeof(errp), "%s/stderr", r->dir);
	pid_t pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		if (chdir(r->dir))
			_exit(126);
		int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(o, 1);
		dup2(e, 2);
		alarm(120);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = read_all(outp, NULL);
	r->err = read_all(errp, NULL);
	ck_assert(r->out && r->err);
}

static void load_json(struct json_doc *d, const struct run *r,
		      const char *name)
{
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/%s", r->dir, name);
	size_t len;
	char *text = read_all(p, &len);
	ck_assert_msg(text != NULL, "%s missing; stderr: %s", p, r->err);
	struct json_error err;
	ck_assert_msg(json_parse(d, text, len, &err) == 0,
		      "%s: %s at %zu", p, err.msg, err.offset);
	free(text);
}

/* ---- what the sources expect ------------------------------------------ */

#define MAX_EXPECT 8
struct expect {
	char kind[40];
	char function[64];
	int line;
};

/* The "expect: KIND... in FUNCTION" marks of examples/<name>.c. */
static int read_expect(const char *name, struct expect *e)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/examples/%s.c", root_dir, name);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s", path);
	char line[512];
	int no = 0, n = 0;
	while (fgets(line, sizeof(line), f)) {
		no++;
		char *m = strstr(line, "expect: ");
		if (!m)
			continue;
		m += 8;
		char *in = strstr(m, " in ");
		ck_assert_msg(in != NULL, "%s:%d: no ' in FUNCTION'", path, no);
		char fn[64];
		ck_assert(sscanf(in + 4, "%63[A-Za-z0-9_]", fn) == 1);
		*in = 0;
		for (char *tok = strtok(m, " "); tok; tok = strtok(NULL, " ")) {
			ck_assert(n < MAX_EXPECT);
			snprintf(e[n].kind, sizeof(e[n].kind), "%s", tok);
			snprintf(e[n].function, sizeof(e[n].function), "%s", fn);
			e[n].line = no;
			n++;
		}
	}
	fclose(f);
	return n;
}

static const struct json_value *top_frame(const struct json_value *finding)
{
	const struct json_value *st = json_get(finding, "stacks");
	const struct json_value *s = json_get(st, "operation");
	if (!s || s->type != JSON_ARRAY || !s->u.kids.n)
		s = json_get(st, "created");
	if (!s || s->type != JSON_ARRAY || !s->u.kids.n)
		return NULL;
	return s->u.kids.first;
}

static bool kind_is_error(const char *k)
{
	static const char *const errors[] = { "leak", "fixed-clobber",
					      "unmap-foreign", "double-unmap",
					      "shadow-divergence" };
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (!strcmp(k, errors[i]))
			return true;
	return false;
}

/* Run one example and check kinds, top frames, status and stdout. */
static void check_example(const char *name)
{
	struct expect e[MAX_EXPECT];
	int ne = read_expect(name, e);
	ck_assert_msg(ne > 0, "%s: no expect marks", name);
	int plain_status;
	char *plain = plain_stdout(name, &plain_status);
	struct run r;
	run_vmacheck(&r, name, NULL, NULL);
	struct json_doc d;
	load_json(&d, &r, "r.json");
	const struct json_value *fs = json_get(d.root, "findings");
	ck_assert(fs && fs->type == JSON_ARRAY);
	bool seen[MAX_EXPECT] = { false };
	bool any_error = false;
	for (const struct json_value *f = fs->u.kids.first; f; f = f->next) {
		const char *kind = json_str(json_get(f, "kind"));
		ck_assert(kind);
		any_error |= kind_is_error(kind);
		const struct json_value *fr = top_frame(f);
		ck_assert_msg(fr != NULL, "%s: %s without a stack", name, kind);
		const char *fn = json_str(json_get(fr, "function"));
		const char *file = json_str(json_get(fr, "file"));
		uint64_t line = 0;
		json_u64(json_get(fr, "line"), &line);
		/* the mark of this kind on this line, else the first of it */
		int k, first = -1;
		for (k = 0; k < ne; k++) {
			if (strcmp(e[k].kind, kind))
				continue;
			if (first < 0)
				first = k;
			if (e[k].line == (int)line)
				break;
		}
		if (k == ne)
			k = first < 0 ? ne : first;
		ck_assert_msg(k < ne, "%s: unexpected finding %s: %s", name,
			      kind, json_str(json_get(f, "message")));
		seen[k] = true;
		char want_file[64];
		snprintf(want_file, sizeof(want_file), "%s.c", name);
		ck_assert_msg(fn && !strcmp(fn, e[k].function),
			      "%s: %s: top frame in %s, expected %s", name,
			      kind, fn ? fn : "(none)", e[k].function);
		ck_assert_msg(file && strlen(file) >= strlen(want_file) &&
				      !strcmp(file + strlen(file) -
						      strlen(want_file),
					      want_file),
			      "%s: %s: top frame in file %s", name, kind,
			      file ? file : "(none)");
		ck_assert_msg((int)line == e[k].line,
			      "%s: %s: top frame at line %d, marked at %d",
			      name, kind, (int)line, e[k].line);
	}
	for (int k = 0; k < ne; k++)
		ck_assert_msg(seen[k], "%s: no %s finding (stderr: %.3000s)",
			      name, e[k].kind, r.err);
	ck_assert_msg(r.status == (any_error ? 99 : plain_status),
		      "%s: exit status %d", name, r.status);
	ck_assert_msg(!strcmp(r.out, plain),
		      "%s: stdout differs:\n%s\nwithout vmacheck:\n%s", name,
		      r.out, plain);
	json_doc_free(&d);
	free(plain);
	run_free(&r);
}

#define EXAMPLE_TEST(n)                                                      \
	START_TEST(kinds_##n)                                                \
	{                                                                    \
		locate();                                                    \
		check_example(#n);                                           \
	}                                                                    \
	END_TEST

EXAMPLE_TEST(leak)
EXAMPLE_TEST(fixed_clobber)
EXAMPLE_TEST(unmap_foreign)
EXAMPLE_TEST(double_unmap)
EXAMPLE_TEST(unmap_unmapped)
EXAMPLE_TEST(mprotect_unmapped)
EXAMPLE_TEST(mremap_invalid)
EXAMPLE_TEST(mremap_past_object)
EXAMPLE_TEST(wx_mapping)
EXAMPLE_TEST(map_count_pressure)
EXAMPLE_TEST(untracked_change)
EXAMPLE_TEST(untracked_neighbour)
EXAMPLE_TEST(fixed_clobber_foreign)

static int count_findings(const struct json_doc *d, const char *kind,
			  const char *needle);

/* Foreign memory is named by its shape in the findings' messages. */
START_TEST(foreign_named)
{
	locate();
	struct run r;
	run_vmacheck(&r, "fixed_clobber_foreign", NULL, NULL);
	struct json_doc d;
	load_json(&d, &r, "r.json");
	ck_assert_int_eq(count_findings(&d, "fixed-clobber",
					"of a thread's stack"), 1);
	ck_assert_int_eq(count_findings(&d, "fixed-clobber",
					"of a heap of glibc's malloc"), 1);
	json_doc_free(&d);
	run_free(&r);
}
END_TEST

/* ---- clean programs ------------------------------------------------------ */

static void check_clean(const char *name)
{
	int plain_status;
	char *plain = plain_stdout(name, &plain_status);
	struct run r;
	run_vmacheck(&r, name, NULL, NULL);
	struct json_doc d;
	load_json(&d, &r, "r.json");
	const struct json_value *fs = json_get(d.root, "findings");
	ck_assert(fs && fs->type == JSON_ARRAY);
	for (const struct json_value *f = fs->u.kids.first; f; f = f->next) {
		const char *sev = json_str(json_get(f, "severity"));
		ck_assert_msg(sev && !strcmp(sev, "info"),
			      "%s: %s finding %s: %s", name, sev,
			      json_str(json_get(f, "kind")),
			      json_str(json_get(f, "message")));
	}
	ck_assert_int_eq(plain_status, 0);
	ck_assert_msg(r.status == 0, "%s: exit status %d; %s", name, r.status,
		      r.err);
	ck_assert_str_eq(r.out, plain);
	json_doc_free(&d);
	free(plain);
	run_free(&r);
}

#define CLEAN_TEST(n)                                                        \
	START_TEST(clean_##n)                                                \
	{                                                                    \
		locate();                                                    \
		check_clean(#n);                                             \
	}                                                                    \
	END_TEST

CLEAN_TEST(clean_reserve_commit)
CLEAN_TEST(clean_partial_unmap)
CLEAN_TEST(clean_mremap_growth)
CLEAN_TEST(clean_file_kept)
CLEAN_TEST(map_churn)

/* ---- details ------------------------------------------------------------- */

static const struct json_value *finding_of(const struct json_doc *d,
					   const char *kind)
{
	const struct json_value *fs = json_get(d->root, "findings");
	for (const struct json_value *f = fs ? fs->u.kids.first : NULL; f;
	     f = f->next)
		if (!strcmp(json_str(json_get(f, "kind")), kind))
			return f;
	return NULL;
}

static const char *frame0_function(const struct json_value *f,
				   const char *stack)
{
	const struct json_value *s = json_get(json_get(f, "stacks"), stack);
	if (!s || s->type != JSON_ARRAY || !s->u.kids.n)
		return NULL;
	return json_str(json_get(s->u.kids.first, "function"));
}

START_TEST(details)
{
	locate();
	struct run r;
	struct json_doc d;

	run_vmacheck(&r, "double_unmap", NULL, NULL);
	load_json(&d, &r, "r.json");
	const struct json_value *f = finding_of(&d, "double-unmap");
	ck_assert(f);
	ck_assert_str_eq(frame0_function(f, "operation"), "buf_release");
	ck_assert_str_eq(frame0_function(f, "previous"), "buf_release");
	ck_assert_str_eq(frame0_function(f, "created"), "main");
	/* The two munmaps come from different lines of main. */
	const struct json_value *op = json_get(json_get(f, "stacks"),
					       "operation");
	const struct json_value *pr = json_get(json_get(f, "stacks"),
					       "previous");
	uint64_t l1 = 0, l2 = 0;
	json_u64(json_get(op->u.kids.first->next, "line"), &l1);
	json_u64(json_get(pr->u.kids.first->next, "line"), &l2);
	ck_assert_msg(l1 && l2 && l1 == l2 + 1, "main lines %llu, %llu",
		      (unsigned long long)l1, (unsigned long long)l2);
	json_doc_free(&d);
	run_free(&r);

	run_vmacheck(&r, "leak", NULL, NULL);
	load_json(&d, &r, "r.json");
	/* Three scratch buffers from one call site: the unreachable ones
	 * are one finding with their count and bytes. */
	f = finding_of(&d, "leak");
	ck_assert(f);
	uint64_t count = 0, bytes = 0, len = 0;
	json_u64(json_get(f, "count"), &count);
	json_u64(json_get(f, "bytes"), &bytes);
	json_u64(json_get(f, "len"), &len);
	ck_assert_uint_eq(len, 8 * 4096);
	ck_assert_msg(count >= 2 && count <= 3, "count %llu",
		      (unsigned long long)count);
	ck_assert_uint_eq(bytes, count * 8 * 4096);
	ck_assert_str_eq(json_str(json_get(f, "prot")), "rw-");
	ck_assert_str_eq(json_str(json_get(f, "flags")), "private,anon");
	json_doc_free(&d);
	run_free(&r);

	/* --options-file with leak-check=no: the leak analysis is off (the
	 * file's value applies), the other findings stay. */
	char optf[] = "/tmp/vmc-opts-XXXXXX";
	int ofd = mkstemp(optf);
	ck_assert(ofd >= 0);
	close(ofd);
	write_all(optf, "# no leak analysis\nleak-check=no\n");
	char oarg[64];
	snprintf(oarg, sizeof(oarg), "--options-file=%s", optf);
	run_vmacheck(&r, "leak", oarg, NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	load_json(&d, &r, "r.json");
	ck_assert(finding_of(&d, "leak") == NULL);
	ck_assert(finding_of(&d, "leak-reachable") == NULL);
	json_doc_free(&d);
	run_free(&r);
	unlink(optf);

	run_vmacheck(&r, "map_count_pressure", NULL, NULL);
	load_json(&d, &r, "r.json");
	f = finding_of(&d, "map-count-pressure");
	ck_assert(f);
	/* The call site that split most is named (created). */
	ck_assert_str_eq(frame0_function(f, "created"), "add_guard");
	ck_assert_ptr_nonnull(strstr(json_str(json_get(f, "message")),
				     "splits"));
	json_doc_free(&d);
	run_free(&r);

	run_vmacheck(&r, "fixed_clobber", NULL, NULL);
	load_json(&d, &r, "r.json");
	int clobbers = 0, foreign = 0, data = 0;
	const struct json_value *fs = json_get(d.root, "findings");
	for (f = fs->u.kids.first; f; f = f->next) {
		if (strcmp(json_str(json_get(f, "kind")), "fixed-clobber"))
			continue;
		clobbers++;
		const char *m = json_str(json_get(f, "message"));
		foreign += strstr(m, "foreign anonymous memory") != NULL &&
			   strstr(m, "rule: pages of a mapping the program "
				     "did not create") != NULL;
		data += strstr(m, "rule: accessible pages holding data") !=
			NULL;
	}
	/* The foreign overlay and the overlay of its own filled buffer; not
	 * the decommit of that buffer after it was filled again. */
	ck_assert_int_eq(clobbers, 2);
	ck_assert_int_eq(foreign, 1);
	ck_assert_int_eq(data, 1);
	json_doc_free(&d);
	run_free(&r);
}
END_TEST

/* ---- outputs ------------------------------------------------------------- */

START_TEST(outputs)
{
	locate();
	struct run r;
	run_vmacheck(&r, "double_unmap", NULL, NULL);
	/* Text on stderr, the sanitizers' way. */
	ck_assert_ptr_nonnull(strstr(r.err, "==ERROR: vmacheck: double-unmap: "));
	ck_assert_ptr_nonnull(strstr(r.err, "    #0 0x"));
	ck_assert_ptr_nonnull(strstr(r.err, " in buf_release "));
	ck_assert_ptr_nonnull(strstr(r.err, "double_unmap.c:"));
	ck_assert_ptr_nonnull(strstr(r.err, "  previously here:\n"));
	ck_assert_ptr_nonnull(strstr(r.err, "  the pages were created here:\n"));
	ck_assert_ptr_nonnull(strstr(r.err, "SUMMARY: vmacheck: 1 error(s), "
					    "0 warning(s) in 1 process(es)\n"));

	/* SARIF 2.1.0. */
	struct json_doc d;
	load_json(&d, &r, "r.sarif");
	ck_assert_str_eq(json_str(json_get(d.root, "version")), "2.1.0");
	const struct json_value *runs = json_get(d.root, "runs");
	ck_assert(runs && runs->type == JSON_ARRAY && runs->u.kids.n == 1);
	const struct json_value *drv = json_get(json_get(runs->u.kids.first,
							 "tool"), "driver");
	ck_assert_str_eq(json_str(json_get(drv, "name")), "vmacheck");
	const struct json_value *rules = json_get(drv, "rules");
	ck_assert(rules && rules->type == JSON_ARRAY && rules->u.kids.n == 13);
	const struct json_value *res = json_get(runs->u.kids.first, "results");
	ck_assert(res && res->type == JSON_ARRAY && res->u.kids.n == 1);
	const struct json_value *r0 = res->u.kids.first;
	ck_assert_str_eq(json_str(json_get(r0, "ruleId")), "double-unmap");
	ck_assert_str_eq(json_str(json_get(r0, "level")), "error");
	ck_assert(json_str(json_get(json_get(r0, "message"), "text")));
	const struct json_value *loc = json_get(json_get(r0, "locations")
							->u.kids.first,
						"physicalLocation");
	const char *uri = json_str(json_get(json_get(loc, "artifactLocation"),
					    "uri"));
	ck_assert_msg(uri && strstr(uri, "double_unmap.c"), "uri %s", uri);
	uint64_t line = 0;
	ck_assert_int_eq(json_u64(json_get(json_get(loc, "region"),
					   "startLine"), &line), 0);
	struct expect e[MAX_EXPECT];
	ck_assert_int_eq(read_expect("double_unmap", e), 1);
	ck_assert_int_eq((int)line, e[0].line);
	const struct json_value *stacks = json_get(r0, "stacks");
	ck_assert(stacks && stacks->type == JSON_ARRAY && stacks->u.kids.n == 3);
	ck_assert(json_get(json_get(r0, "partialFingerprints"),
			   "vmacheckKey/v1"));
	json_doc_free(&d);
	run_free(&r);

	/* The sites table: the leak example's scratch call site. */
	run_vmacheck(&r, "leak", NULL, NULL);
	ck_assert_ptr_nonnull(strstr(r.err, "mapped at exit, by call site"));
	ck_assert_ptr_nonnull(strstr(r.err, "checksum_scratch leak.c:"));
	load_json(&d, &r, "r.json");
	const struct json_value *sites = json_get(d.root, "sites");
	ck_assert(sites && sites->type == JSON_ARRAY && sites->u.kids.n >= 2);
	json_doc_free(&d);
	run_free(&r);
}
END_TEST

/* ---- suppressions -------------------------------------------------------- */

START_TEST(suppress)
{
	locate();
	char supp[] = "/tmp/vmc-supp-XXXXXX";
	int fd = mkstemp(supp);
	ck_assert(fd >= 0);
	close(fd);
	write_all(supp, "# the clobbers of overlay() are known\n"
			"fixed-clobber:overlay\n"
			"leak:^no_such_function$\n");
	char opt[PATH_MAX + 32];
	snprintf(opt, sizeof(opt), "--suppressions=%s", supp);
	struct run r;
	run_vmacheck(&r, "fixed_clobber", opt, NULL);
	ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
	ck_assert_ptr_null(strstr(r.err, "ERROR: vmacheck: fixed-clobber"));
	ck_assert_ptr_nonnull(strstr(r.err, "suppressions used"));
	ck_assert_ptr_nonnull(strstr(r.err, "fixed-clobber:overlay (line 2)"));
	ck_assert_ptr_null(strstr(r.err, "no_such_function"));
	struct json_doc d;
	load_json(&d, &r, "r.json");
	ck_assert(finding_of(&d, "fixed-clobber") == NULL);
	const struct json_value *used = json_get(d.root, "suppressions");
	ck_assert(used && used->type == JSON_ARRAY && used->u.kids.n == 1);
	uint64_t n = 0;
	json_u64(json_get(used->u.kids.first, "findings"), &n);
	ck_assert_uint_eq(n, 2);
	json_doc_free(&d);
	run_free(&r);

	/* A wildcard on the module, and a bad line: one error line naming
	 * file:line; the good line still applies; exit status 2. */
	write_all(supp, "double-unmap:*examples/double_*\nnot a rule\n");
	run_vmacheck(&r, "double_unmap", opt, NULL);
	ck_assert_msg(r.status == 2, "status %d: %s", r.status, r.err);
	char want[PATH_MAX + 16];
	snprintf(want, sizeof(want), "vmacheck: %s:2: not a suppression", supp);
	ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
	ck_assert_ptr_null(strstr(r.err, "ERROR: vmacheck: double-unmap"));
	run_free(&r);
	unlink(supp);
}
END_TEST

/* ---- vmacheck report ---------------------------------------------------- */

START_TEST(report_again)
{
	locate();
	struct run r;
	run_vmacheck(&r, "wx_mapping", NULL, NULL);
	/* A corrupt result next to the good one. */
	char bad[PATH_MAX + 32];
	snprintf(bad, sizeof(bad), "%s/out/vmacheck.99999999.json", r.dir);
	write_all(bad, "{\"tool\":\"vmacheck\",\"pid\":99999999,\"findings\":[{\"kind\":");
	char vm[PATH_MAX + 16], out[PATH_MAX + 8], json[PATH_MAX + 32];
	snprintf(vm, sizeof(vm), "%s/vmacheck", build_dir);
	snprintf(out, sizeof(out), "%s/out", r.dir);
	snprintf(json, sizeof(json), "--json=%s/again.json", r.dir);
	char *argv[] = { vm, "report", json, out, NULL };
	struct run r2;
	run_argv(&r2, argv);
	/* The bad file: one line with its name and an offset; exit 2 as
	 * nothing reached error severity. */
	ck_assert_msg(r2.status == 2, "status %d: %s", r2.status, r2.err);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "vmacheck: %s: ", bad);
	const char *l = strstr(r2.err, want);
	ck_assert_msg(l != NULL, "%s", r2.err);
	const char *eol = strchr(l, '\n');
	ck_assert(eol);
	ck_assert_msg(memmem(l, (size_t)(eol - l), "offset", 6) != NULL,
		      "%.*s", (int)(eol - l), l);
	ck_assert_ptr_nonnull(strstr(r2.err, "WARNING: vmacheck: wx-mapping"));
	struct json_doc d;
	load_json(&d, &r, "again.json");
	ck_assert(finding_of(&d, "wx-mapping") != NULL);
	json_doc_free(&d);
	run_free(&r2);
	run_free(&r);
}
END_TEST

/* ---- userfaultfd ---------------------------------------------------------- */

/* The findings of kind `kind` whose message contains `needle`. */
static int count_findings(const struct json_doc *d, const char *kind,
			  const char *needle)
{
	int n = 0;
	const struct json_value *fs = json_get(d->root, "findings");
	for (const struct json_value *f = fs ? fs->u.kids.first : NULL; f;
	     f = f->next) {
		const char *m = json_str(json_get(f, "message"));
		if (!strcmp(json_str(json_get(f, "kind")), kind) &&
		    (!needle || (m && strstr(m, needle))))
		{
			uint64_t c = 1;
			json_u64(json_get(f, "count"), &c);
			n += (int)c;
		}
	}
	return n;
}

/* Run `example ARGS` under vmacheck with `opts`; it must exit 0 with
 * `want` in its output and no warning or error. */
static void run_clean_uffd(const char *example, const char *args,
			   const char *opts, const char *want)
{
	struct run r;
	prog_args = args;
	run_vmacheck(&r, example, opts, NULL);
	prog_args = "";
	ck_assert_msg(r.status == 0, "%s %s: status %d\n%s%s", example, args,
		      r.status, r.out, r.err);
	ck_assert_msg(strstr(r.out, want), "%s %s: no '%s' in: %s", example,
		      args, want, r.out);
	struct json_doc d;
	load_json(&d, &r, "r.json");
	const struct json_value *fs = json_get(d.root, "findings");
	for (const struct json_value *f = fs->u.kids.first; f; f = f->next) {
		const char *sev = json_str(json_get(f, "severity"));
		ck_assert_msg(!strcmp(sev, "info"), "%s: %s %s: %s", example,
			      sev, json_str(json_get(f, "kind")),
			      json_str(json_get(f, "message")));
	}
	json_doc_free(&d);
	run_free(&r);
}

START_TEST(uffd_callbacks)
{
	locate();
	run_clean_uffd("fault_lazy_file", "", NULL,
		       "13 of 64 pages read from the file (13 touched), "
		       "checksum ok");
	run_clean_uffd("fault_lazy_file", "", NULL, "close called 1 time(s)");
	/* exactly K of N pages touched: K faults */
	run_clean_uffd("fault_counter", "", NULL,
		       "37 pages touched of 256, 37 faults (18 by a write)");
	run_clean_uffd("fault_counter", "100 100", NULL,
		       "100 pages touched of 100, 100 faults (50 by a write)");
	run_clean_uffd("fault_counter", "1000 1", NULL,
		       "1 pages touched of 1000, 1 faults (0 by a write)");
	run_clean_uffd("fault_cow_snapshot", "", NULL,
		       "11 pages written after the snapshot, 11 copied; "
		       "snapshot intact");
	/* mremap when it moves, open in a fork child (whose own monitor
	 * serves the child's faults), close at munmap */
	run_clean_uffd("fault_lifecycle", "", NULL,
		       "parent: faults 2, mremap 1, open 0, close 1, child 0");
	run_clean_uffd("fault_lifecycle", "", NULL, "child: open 1, pages ok");
	run_clean_uffd("fault_lifecycle", "", NULL,
		       "12 areas unmapped by one call: close 12");
	/* 8 threads faulting at once */
	run_clean_uffd("fault_threads", "8 128", NULL,
		       "8 threads, 1024 pages, 1024 faults, 0 bad words");
	/* No userfaultfd: one line, and every page through `fault` at once
	 * (so the counter sees all 256 and the example says so). */
	setenv("VMACHECK_TEST_NO_UFFD", "1", 1);
	struct run r;
	run_vmacheck(&r, "fault_counter", NULL, NULL);
	unsetenv("VMACHECK_TEST_NO_UFFD");
	ck_assert_msg(strstr(r.err, "userfaultfd is not available: fault "
				    "callbacks run eagerly"), "%s", r.err);
	ck_assert_msg(strstr(r.out, "37 pages touched of 256, 256 faults"),
		      "%s", r.out);
	ck_assert_int_eq(r.status, 1);
	run_free(&r);
	/* the same with the tracked mappings registered too */
	run_clean_uffd("fault_counter", "", "--uffd touch",
		       "37 pages touched of 256, 37 faults");
	run_clean_uffd("fault_threads", "", "--uffd on",
		       "8 threads, 512 pages, 512 faults, 0 bad words");
}
END_TEST

/* check=call: the program's mprotect merges its pages with a neighbour
 * that a raw call had changed.  The check after the call reads the merged
 * VMA whole and finds the neighbour's pages differ: an untracked-change at
 * the neighbour, reported at that call, and no shadow-divergence (the model
 * was right about everything the call did). */
START_TEST(untracked_neighbour_call)
{
	locate();
	struct run r;
	run_vmacheck(&r, "untracked_neighbour", "--check call", NULL);
	struct json_doc d;
	load_json(&d, &r, "r.json");
	ck_assert_int_eq(count_findings(&d, "shadow-divergence", NULL), 0);
	ck_assert_int_eq(count_findings(&d, "untracked-change", NULL), 1);
	const struct json_value *f = finding_of(&d, "untracked-change");
	ck_assert_str_eq(frame0_function(f, "created"), "make_pair");
	/* Found at the program's mprotect, which merged the neighbour in. */
	ck_assert_str_eq(frame0_function(f, "operation"), "main");
	ck_assert_msg(strstr(r.out, "untracked_neighbour: 1 2\n") == r.out,
		      "%s", r.out);
	ck_assert_int_eq(r.status, 0);
	json_doc_free(&d);
	run_free(&r);
}
END_TEST

START_TEST(uffd_events)
{
	locate();
	/* Three raw changes: each reported once, by its event; the program's
	 * own madvise and munmap that follow are not. */
	const char *modes[] = { "--uffd on", "--uffd touch" };
	for (int m = 0; m < 2; m++) {
		struct run r;
		run_vmacheck(&r, "untracked_raw_calls", modes[m], NULL);
		struct json_doc d;
		load_json(&d, &r, "r.json");
		ck_assert_int_eq(count_findings(&d, "untracked-change", NULL),
				 3);
		ck_assert_int_eq(count_findings(&d, "untracked-change",
						"UNMAP event"), 1);
		ck_assert_int_eq(count_findings(&d, "untracked-change",
						"REMAP event"), 1);
		ck_assert_int_eq(count_findings(&d, "untracked-change",
						"REMOVE event"), 1);
		const struct json_value *f = finding_of(&d, "untracked-change");
		ck_assert_str_eq(frame0_function(f, "created"), "make_buffer");
		const struct json_value *fs = json_get(d.root, "findings");
		for (const struct json_value *g = fs->u.kids.first; g;
		     g = g->next)
			ck_assert_msg(!strcmp(json_str(json_get(g, "kind")),
					      "untracked-change") ||
					      !strcmp(json_str(json_get(
							      g, "severity")),
						      "info"),
				      "%s", json_str(json_get(g, "message")));
		ck_assert_int_eq(r.status, 0);
		json_doc_free(&d);
		run_free(&r);
	}
	/* The raw munmap alone: one finding, by its event. */
	struct run r;
	run_vmacheck(&r, "untracked_change", "--uffd on", NULL);
	struct json_doc d;
	load_json(&d, &r, "r.json");
	ck_assert_int_eq(count_findings(&d, "untracked-change", NULL), 1);
	ck_assert_int_eq(count_findings(&d, "untracked-change", "UNMAP event"),
			 1);
	json_doc_free(&d);
	run_free(&r);
}
END_TEST

static uint64_t site_u64(const struct json_value *x, const char *key);

START_TEST(uffd_fork_exec)
{
	locate();
	/* threads, a fork, every call: nothing reported, in both processes */
	run_clean_uffd("map_churn", "", "--uffd on", "child 0");
	run_clean_uffd("map_churn", "", "--uffd touch", "child 0");
	char prog[PATH_MAX + 32];
	snprintf(prog, sizeof(prog), "%s/tests/progs/execer", build_dir);
	run_clean_uffd(prog, "", "--uffd on", "");
	snprintf(prog, sizeof(prog), "%s/tests/progs/forker", build_dir);
	run_clean_uffd(prog, "simple", "--uffd touch", "");
	/* A fork child counts its own registrations, not its parent's: each
	 * process registered exactly the mappings it made. */
	{
		struct run r;
		prog_args = "simple";
		run_vmacheck(&r, prog, "--uffd on", NULL);
		prog_args = "";
		struct json_doc d;
		load_json(&d, &r, "r.json");
		const struct json_value *ps = json_get(d.root, "processes");
		int n = 0;
		for (const struct json_value *p = ps->u.kids.first; p;
		     p = p->next, n++) {
			const struct json_value *st = json_get(p, "stats");
			uint64_t maps = site_u64(json_get(st, "calls"), "mmap");
			uint64_t reg = site_u64(json_get(st, "uffd"),
						"registered");
			ck_assert_msg(reg > 0 && reg <= maps,
				      "process %d: %llu registered, %llu "
				      "mmaps", n, (unsigned long long)reg,
				      (unsigned long long)maps);
		}
		ck_assert_int_eq(n, 2);
		json_doc_free(&d);
		run_free(&r);
	}
	/* fork while two threads churn: the children once reported a leak
	 * (a region grown "in place" over the monitor's stack, which glibc
	 * had mapped without us) */
	run_clean_uffd(prog, "threads", "--uffd on", "");
	run_clean_uffd(prog, "threads", "--uffd touch", "");
}
END_TEST

/* The merged site whose innermost frame is `fn` at `line` (0: any). */
static const struct json_value *site_at(const struct json_doc *d,
					const char *fn, int line)
{
	const struct json_value *ss = json_get(d->root, "sites");
	for (const struct json_value *x = ss ? ss->u.kids.first : NULL; x;
	     x = x->next) {
		const struct json_value *st = json_get(x, "stack");
		const struct json_value *f0 = st ? st->u.kids.first : NULL;
		const struct json_value *f1 = f0 ? f0->next : NULL;
		int64_t l = 0;
		if (f1)
			json_i64(json_get(f1, "line"), &l);
		if (f0 && !strcmp(json_str(json_get(f0, "function")), fn) &&
		    (!line || l == line))
			return x;
	}
	return NULL;
}

static uint64_t site_u64(const struct json_value *x, const char *key)
{
	uint64_t v = UINT64_MAX;
	ck_assert_msg(x != NULL, "no such site");
	ck_assert_msg(json_u64(json_get(x, key), &v) == 0, "no %s", key);
	return v;
}

START_TEST(uffd_touch)
{
	locate();
	/* 30 of 100 pages written (20 more only read), 64 never, 5 of 10
	 * still mapped at exit; then the pagemap fallback, where reads
	 * count. */
	for (int fallback = 0; fallback < 2; fallback++) {
		if (fallback)
			setenv("VMACHECK_TEST_NO_WP_ASYNC", "1", 1);
		struct run r;
		run_vmacheck(&r, "touch_some", "--uffd touch", NULL);
		unsetenv("VMACHECK_TEST_NO_WP_ASYNC");
		ck_assert_int_eq(r.status, 0);
		struct json_doc d;
		load_json(&d, &r, "r.json");
		const struct json_value *buf = site_at(&d, "map_pages", 35);
		const struct json_value *table = site_at(&d, "map_pages", 37);
		const struct json_value *spare = site_at(&d, "map_spare", 0);
		ck_assert_uint_eq(site_u64(buf, "mapped_pages"), 100);
		ck_assert_str_eq(json_str(json_get(buf, "touch")),
				 fallback ? "pagemap" : "wp-async");
		ck_assert_uint_eq(site_u64(buf, "touched_pages"),
				  fallback ? 50 : 30);
		ck_assert_uint_eq(site_u64(buf, "untouched_mappings"), 0);
		ck_assert_uint_eq(site_u64(table, "mapped_pages"), 10);
		ck_assert_uint_eq(site_u64(table, "touched_pages"), 5);
		ck_assert_uint_eq(site_u64(spare, "mapped_pages"), 64);
		ck_assert_uint_eq(site_u64(spare, "touched_pages"), 0);
		ck_assert_uint_eq(site_u64(spare, "mappings"), 1);
		ck_assert_uint_eq(site_u64(spare, "untouched_mappings"), 1);
		ck_assert_msg(strstr(r.err, fallback
					? "present pages from /proc/self/pagemap"
					: "1 of 3 mappings were never written"),
			      "%s", r.err);
		/* the totals in the process's stats: 174 pages mapped in 3
		 * mappings, 35 written (55 present in the fallback), 1 never */
		const struct json_value *pr = json_get(d.root, "processes");
		const struct json_value *u = json_get(
			json_get(pr ? pr->u.kids.first : NULL, "stats"),
			"uffd");
		ck_assert_str_eq(json_str(json_get(u, "touch")),
				 fallback ? "pagemap" : "wp-async");
		ck_assert_uint_eq(site_u64(u, "mapped_pages"), 174);
		ck_assert_uint_eq(site_u64(u, "touched_pages"),
				  fallback ? 55 : 35);
		ck_assert_uint_eq(site_u64(u, "mappings"), 3);
		ck_assert_uint_eq(site_u64(u, "untouched_mappings"), 1);
		/* the table kept to the end: its finding says 5 of 10 */
		const struct json_value *kept = finding_of(&d, "leak-reachable");
		ck_assert_uint_eq(site_u64(kept, "touched_pages"), 5);
		ck_assert_msg(strstr(r.err, "5 of 10 pages touched"), "%s",
			      r.err);
		json_doc_free(&d);
		run_free(&r);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("examples");
	TCase *tc = tcase_create("kinds");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, kinds_leak);
	tcase_add_test(tc, kinds_fixed_clobber);
	tcase_add_test(tc, kinds_unmap_foreign);
	tcase_add_test(tc, kinds_double_unmap);
	tcase_add_test(tc, kinds_unmap_unmapped);
	tcase_add_test(tc, kinds_mprotect_unmapped);
	tcase_add_test(tc, kinds_mremap_invalid);
	tcase_add_test(tc, kinds_mremap_past_object);
	tcase_add_test(tc, kinds_wx_mapping);
	tcase_add_test(tc, kinds_map_count_pressure);
	tcase_add_test(tc, kinds_untracked_change);
	tcase_add_test(tc, kinds_untracked_neighbour);
	tcase_add_test(tc, untracked_neighbour_call);
	tcase_add_test(tc, kinds_fixed_clobber_foreign);
	tcase_add_test(tc, foreign_named);
	suite_add_tcase(s, tc);
	tc = tcase_create("clean");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, clean_clean_reserve_commit);
	tcase_add_test(tc, clean_clean_partial_unmap);
	tcase_add_test(tc, clean_clean_mremap_growth);
	tcase_add_test(tc, clean_clean_file_kept);
	tcase_add_test(tc, clean_map_churn);
	suite_add_tcase(s, tc);
	tc = tcase_create("more");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, details);
	tcase_add_test(tc, outputs);
	tcase_add_test(tc, suppress);
	tcase_add_test(tc, report_again);
	suite_add_tcase(s, tc);
	tc = tcase_create("uffd");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, uffd_callbacks);
	tcase_add_test(tc, uffd_events);
	tcase_add_test(tc, uffd_fork_exec);
	tcase_add_test(tc, uffd_touch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
