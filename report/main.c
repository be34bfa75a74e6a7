/*
 * main.c - the vmacheck command (DESIGN.md, "The command"):
 *
 *   vmacheck [OPTIONS] [--] PROGRAM [ARGS...]   run and report
 *   vmacheck report [OPTIONS] DIR|FILE...        render or merge results
 *
 * Running: find libvmacheck.so (VMACHECK_LIB, else next to this
 * executable, else ../lib/vmacheck/), make the output directory (a fresh
 * vmacheck-out.<pid> under $TMPDIR or /tmp unless --out-dir), put the
 * library first in LD_PRELOAD and the options the preload knows in
 * VMACHECK_OPTIONS (its syntax: key=value pairs joined by ':', out-dir
 * absolute), fork and exec the program, wait for it, then report on the
 * output directory as `vmacheck report` does.  Results of earlier runs in
 * a reused --out-dir (files unchanged since the start) are left out.
 *
 * Exit status: --error-exitcode (default 99) when a finding is an error;
 * else the program's status (128+N when signal N killed it); else 2 when
 * a result file could not be used; else 0.  `vmacheck report`: the same
 * without a program, and 2 when nothing at all was found to report.  A
 * bad option: one line "vmacheck: ..." on stderr, exit 2.
 *
 * The command logic lives behind main() so that tests can build this
 * file with -Dmain=vmacheck_main.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "result.h"

/* ---- options ------------------------------------------------------------ */

enum opt_id {
	OPT_OUT_DIR,
	OPT_CHECK,
	OPT_STACK_DEPTH,
	OPT_ERROR_EXITCODE,
	OPT_UFFD,
	OPT_SUPPRESSIONS,
	OPT_JSON,
	OPT_TEXT,
	OPT_SARIF,
	OPT_LEAK_CHECK,
	OPT_MAX_MAP_SHARE,
	OPT_OPTIONS_FILE,
	OPT_HELP,
	OPT_VERSION,
	NOPT
};

static const struct {
	const char *name;
	bool arg;
	bool in_report;            /* also an option of `vmacheck report` */
	bool preload;              /* passed on in VMACHECK_OPTIONS */
} opt_tab[NOPT] = {
	[OPT_OUT_DIR] = { "out-dir", true, false, true },
	[OPT_CHECK] = { "check", true, false, true },
	[OPT_STACK_DEPTH] = { "stack-depth", true, false, true },
	[OPT_ERROR_EXITCODE] = { "error-exitcode", true, true, true },
	[OPT_UFFD] = { "uffd", true, false, true },
	[OPT_SUPPRESSIONS] = { "suppressions", true, true, false },
	[OPT_JSON] = { "json", true, true, false },
	[OPT_TEXT] = { "text", true, true, false },
	[OPT_SARIF] = { "sarif", true, true, false },
	[OPT_LEAK_CHECK] = { "leak-check", true, false, true },
	[OPT_MAX_MAP_SHARE] = { "max-map-share", true, false, true },
	[OPT_OPTIONS_FILE] = { "options-file", true, true, false },
	[OPT_HELP] = { "help", false, true, false },
	[OPT_VERSION] = { "version", false, true, false },
};

struct cmd {
	const char *val[NOPT];     /* as given; "" for a flag that is set */
	int error_exitcode;
	char **paths;              /* report: DIR|FILE operands */
	int npaths;
	int prog;                  /* run: index of PROGRAM in argv */
};

static const char usage_text[] =
	"Usage: vmacheck [OPTIONS] [--] PROGRAM [ARGS...]\n"
	"       vmacheck report [OPTIONS] DIR|FILE...\n"
	"\n"
	"Run PROGRAM with libvmacheck.so preloaded and report the mapping bugs\n"
	"found in it and in every process it starts; or report again on saved\n"
	"results (vmacheck.<pid>.json, vmacheck.<pid>.journal) under DIRs.\n"
	"\n"
	"Options:\n"
	"  --out-dir DIR          where processes write their results (default:\n"
	"                         a new directory vmacheck-out.PID under $TMPDIR\n"
	"                         or /tmp, kept after the run)\n"
	"  --check MODE           when to compare with the kernel: exit,\n"
	"                         every:N (calls) or call (default every:4096)\n"
	"  --stack-depth N        frames per stack, 0 to 64 (default 16)\n"
	"  --uffd MODE            page watching: off, on or touch (default off)\n"
	"  --suppressions FILE    findings not to report: lines kind:pattern,\n"
	"                         pattern matched against the function, file\n"
	"                         or module of any frame (* wildcards, ^ $\n"
	"                         anchors, else a substring), kind * for any\n"
	"  --leak-check yes|no    classify the mappings alive at exit (default\n"
	"                         yes)\n"
	"  --max-map-share PCT    map-count-pressure when the VMA count passes\n"
	"                         PCT% of vm.max_map_count, 1 to 100 (default 50)\n"
	"  --options-file FILE    more options, one per line as NAME=VALUE or\n"
	"                         NAME VALUE (# comments); the command line\n"
	"                         wins\n"
	"  --error-exitcode N     exit status when a finding is an error,\n"
	"                         0 to 255 (default 99)\n"
	"  --json FILE            write the merged report as JSON ('-': stdout)\n"
	"  --text FILE            write the text report to FILE, not stderr\n"
	"  --sarif FILE           write the report as SARIF 2.1.0 ('-': stdout)\n"
	"  --help                 print this help\n"
	"  --version              print the version\n"
	"`vmacheck report` takes --json, --text, --sarif, --suppressions,\n"
	"--options-file and --error-exitcode.\n"
	"Options take their value as --opt VALUE or --opt=VALUE.  A program\n"
	"named `report` runs as `vmacheck -- report`.\n"
	"\n"
	"Exit status: --error-exitcode when a finding is an error; else the\n"
	"program's status (128+N when signal N killed it); else 2 when a result\n"
	"file could not be read (or, for `vmacheck report`, none was found);\n"
	"2 for a bad option.\n"
	"\n"
	"Environment: VMACHECK_LIB, the libvmacheck.so to preload (default: next\n"
	"to this program, or in ../lib/vmacheck/); VMACHECK_OPTIONS already set\n"
	"is kept, the options above override it.\n";

static int say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line "vmacheck: ..." on stderr; returns the exit status 2. */
static int say(const char *fmt, ...)
{
	va_list ap;

	fputs("vmacheck: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return VMACHECK_EXIT_TROUBLE;
}

/* A decimal number, digits only, in [lo, hi]. */
static bool parse_num(const char *s, unsigned long long lo,
		      unsigned long long hi, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (unsigned long long)(*s - '0'),
					   &v))
			return false;
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* Would the preload's option parser cut s (':' ',' and whitespace
 * separate its pairs)? */
static bool has_separator(const char *s)
{
	return strpbrk(s, ":, \t\n\r\f\v") != NULL;
}

/* Check the value of option id; 0, or 2 after the message. */
static int check_value(enum opt_id id, const char *v)
{
	unsigned long long n;
	const char *name = opt_tab[id].name;

	switch (id) {
	case OPT_CHECK:
		if (!strcmp(v, "exit") || !strcmp(v, "call"))
			return 0;
		if (!strncmp(v, "every:", 6) &&
		    parse_num(v + 6, 1, 4294967295ull, &n))
			return 0;
		return say("--check '%s': expected exit, call or every:N with "
			   "N from 1 to 4294967295", v);
	case OPT_STACK_DEPTH:
		if (parse_num(v, 0, 64, &n))
			return 0;
		return say("--stack-depth '%s': not a number from 0 to 64", v);
	case OPT_ERROR_EXITCODE:
		if (parse_num(v, 0, 255, &n))
			return 0;
		return say("--error-exitcode '%s': not a number from 0 to 255",
			   v);
	case OPT_UFFD:
		if (!strcmp(v, "off") || !strcmp(v, "on") ||
		    !strcmp(v, "touch"))
			return 0;
		return say("--uffd '%s': expected off, on or touch", v);
	case OPT_LEAK_CHECK:
		if (!strcmp(v, "yes") || !strcmp(v, "no"))
			return 0;
		return say("--leak-check '%s': expected yes or no", v);
	case OPT_MAX_MAP_SHARE:
		if (parse_num(v, 1, 100, &n))
			return 0;
		return say("--max-map-share '%s': not a number from 1 to 100",
			   v);
	case OPT_OPTIONS_FILE:
	case OPT_OUT_DIR:
	case OPT_SUPPRESSIONS:
	case OPT_JSON:
	case OPT_TEXT:
	case OPT_SARIF:
		if (!*v)
			return say("--%s: an empty path", name);
		if (strlen(v) >= PATH_MAX)
			return say("--%s: a path longer than %d bytes", name,
				   PATH_MAX - 1);
		return 0;
	default:
		return 0;
	}
}

/* Parse argv[start...].  run: stop at the first operand (PROGRAM);
 * report: collect operands.  0, or 2 after the message. */
static int parse_args(int argc, char **argv, int start, bool report,
		      struct cmd *c)
{
	int i;

	memset(c, 0, sizeof(*c));
	c->error_exitcode = VMACHECK_DEFAULT_ERROR_EXITCODE;
	c->prog = -1;
	if (report) {
		c->paths = calloc((size_t)argc + 1, sizeof(*c->paths));
		if (!c->paths)
			return say("out of memory");
	}
	for (i = start; i < argc; i++) {
		const char *a = argv[i];
		bool operands_only = false;

		if (!strcmp(a, "--")) {
			operands_only = true;
			i++;
		}
		if (operands_only || a[0] != '-' || !a[1]) {
			if (!report) {
				c->prog = i < argc ? i : -1;
				return 0;
			}
			if (operands_only) {
				for (; i < argc; i++)
					c->paths[c->npaths++] = argv[i];
				return 0;
			}
			c->paths[c->npaths++] = argv[i];
			continue;
		}
		if (!strcmp(a, "-h"))
			a = "--help";
		if (a[1] != '-')
			return say("unknown option '%s' (vmacheck --help lists "
				   "them)", a);
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		int id;

		for (id = 0; id < NOPT; id++)
			if (strlen(opt_tab[id].name) == nlen &&
			    !strncmp(opt_tab[id].name, name, nlen))
				break;
		if (id == NOPT)
			return say("unknown option '--%.*s' (vmacheck --help "
				   "lists them)", (int)nlen, name);
		if (report && !opt_tab[id].in_report)
			return say("--%s is not an option of 'vmacheck report'",
				   opt_tab[id].name);
		const char *v = "";
		if (opt_tab[id].arg) {
			if (eq)
				v = eq + 1;
			else if (i + 1 < argc)
				v = argv[++i];
			else
				return say("option '--%s' needs a value",
					   opt_tab[id].name);
			int k = check_value((enum opt_id)id, v);
			if (k)
				return k;
		} else if (eq) {
			return say("option '--%s' takes no value",
				   opt_tab[id].name);
		}
		c->val[id] = v;
	}
	return 0;
}

/* --options-file: lines NAME=VALUE or NAME VALUE (a leading "--" is
 * allowed, # starts a comment line); an option the command line set keeps
 * its value.  0, or 2 after the message naming the file and line. */
static int load_options_file(struct cmd *c, bool report)
{
	const char *path = c->val[OPT_OPTIONS_FILE];
	FILE *f = fopen(path, "re");
	if (!f)
		return say("--options-file %s: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	unsigned no = 0;
	int k = 0;
	while (!k && getline(&line, &cap, f) >= 0) {
		no++;
		char *a = line;
		while (*a == ' ' || *a == '\t')
			a++;
		size_t n = strlen(a);
		while (n && strchr(" \t\r\n", a[n - 1]))
			a[--n] = 0;
		if (!*a || *a == '#')
			continue;
		if (a[0] == '-' && a[1] == '-')
			a += 2;
		size_t nlen = strcspn(a, "= \t");
		char *v = a + nlen;
		if (*v)
			*v++ = 0;
		while (*v == ' ' || *v == '\t' || *v == '=')
			v++;
		int id;
		for (id = 0; id < NOPT; id++)
			if (!strcmp(opt_tab[id].name, a))
				break;
		if (id == NOPT || id == OPT_OPTIONS_FILE || id == OPT_HELP ||
		    id == OPT_VERSION) {
			k = say("%s:%u: unknown option '%s'", path, no, a);
			break;
		}
		if (report && !opt_tab[id].in_report)
			continue; /* a run option, for `vmacheck report` */
		if (!*v) {
			k = say("%s:%u: option '%s' needs a value", path, no, a);
			break;
		}
		if (c->val[id])
			continue; /* the command line wins */
		if ((k = check_value((enum opt_id)id, v)))
			break;
		c->val[id] = strdup(v);
		if (!c->val[id])
			k = say("out of memory");
	}
	free(line);
	fclose(f);
	return k;
}

/* ---- the output directory ------------------------------------------------ */

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0777) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	struct stat st;
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* A new vmacheck-out.<pid>[.N] under $TMPDIR or /tmp. */
static int make_fresh_dir(char *out, size_t n)
{
	const char *tmp = getenv("TMPDIR");
	char base[PATH_MAX];

	if (!tmp || tmp[0] != '/' || has_separator(tmp) ||
	    strlen(tmp) > PATH_MAX - 64)
		tmp = "/tmp";
	snprintf(base, sizeof(base), "%s", tmp);
	size_t bl = strlen(base);
	while (bl > 1 && base[bl - 1] == '/')
		base[--bl] = '\0';
	for (int k = 0; k < 1000; k++) {
		int m = k ? snprintf(out, n, "%s/vmacheck-out.%d.%d",
				     bl > 1 ? base : "", (int)getpid(), k)
			  : snprintf(out, n, "%s/vmacheck-out.%d",
				     bl > 1 ? base : "", (int)getpid());
		if (m < 0 || (size_t)m >= n)
			return -ENAMETOOLONG;
		if (mkdir(out, 0777) == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Results already in a reused --out-dir before the run: left out of its
 * report unless rewritten (another inode, change time or size). */
struct old_file {
	char *path;
	dev_t dev;
	ino_t ino;
	struct timespec ctime;
	off_t size;
};

static struct {
	struct old_file *v;
	size_t n, cap;
} old;

static int note_old(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)ftw;
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	if (flag != FTW_F || strncmp(name, "vmacheck.", 9))
		return 0;
	if (old.n == old.cap) {
		size_t cap = old.cap ? old.cap * 2 : 64;
		struct old_file *v = realloc(old.v, cap * sizeof(*v));
		if (!v)
			return 0;
		old.v = v;
		old.cap = cap;
	}
	char *p = strdup(path);
	if (!p)
		return 0;
	old.v[old.n++] = (struct old_file){ p, st->st_dev, st->st_ino,
					    st->st_ctim, st->st_size };
	return 0;
}

static int cmp_old(const void *a, const void *b)
{
	return strcmp(((const struct old_file *)a)->path,
		      ((const struct old_file *)b)->path);
}

static bool skip_old(const char *path, const struct stat *st, void *ctx)
{
	(void)ctx;
	struct old_file key = { .path = (char *)path };
	if (!old.n)
		return false;
	const struct old_file *o = bsearch(&key, old.v, old.n, sizeof(*old.v),
					   cmp_old);
	return o && o->dev == st->st_dev && o->ino == st->st_ino &&
	       o->ctime.tv_sec == st->st_ctim.tv_sec &&
	       o->ctime.tv_nsec == st->st_ctim.tv_nsec &&
	       o->size == st->st_size;
}

static void old_free(void)
{
	for (size_t i = 0; i < old.n; i++)
		free(old.v[i].path);
	free(old.v);
	memset(&old, 0, sizeof(old));
}

/* ---- finding the preload ------------------------------------------------- */

static int find_preload(char *out)
{
	const char *env = getenv("VMACHECK_LIB");
	char self[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t k;

	if (env && *env) {
		if (!realpath(env, out))
			return say("VMACHECK_LIB=%s: %s", env, strerror(errno));
		goto found;
	}
	k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (k <= 0)
		return say("cannot read /proc/self/exe: %s", strerror(errno));
	self[k] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(cand, sizeof(cand), "%s/libvmacheck.so", self);
	if (access(cand, R_OK) == 0 && realpath(cand, out))
		goto found;
	snprintf(cand, sizeof(cand), "%s/../lib/vmacheck/libvmacheck.so",
		 self);
	if (access(cand, R_OK) == 0 && realpath(cand, out))
		goto found;
	return say("cannot find libvmacheck.so next to %s or in "
		   "%s/../lib/vmacheck/ (VMACHECK_LIB names it)", self, self);
found:
	if (strpbrk(out, ": \t\n"))
		return say("%s: LD_PRELOAD cannot take a path with ':' or "
			   "whitespace", out);
	return 0;
}

/* ---- reporting --------------------------------------------------------- */

/* A document rendered by fn into path ('-': stdout). */
static int write_doc(const struct report *r, const char *path,
		     void (*fn)(const struct report *, struct jout *),
		     unsigned pretty)
{
	struct jout w;
	FILE *f;
	int ret = 0;

	jout_init(&w, pretty);
	fn(r, &w);
	jout_raw(&w, "\n", 1);
	if (w.oom)
		return say("%s: out of memory", path);
	f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	if (!f) {
		ret = say("%s: %s", path, strerror(errno));
	} else {
		fwrite(w.buf, 1, w.len, f);
		if (f == stdout ? fflush(f) != 0 : fclose(f) != 0)
			ret = say("%s: %s", path, strerror(errno));
	}
	jout_free(&w);
	return ret;
}

static FILE *open_text(const struct cmd *c, int *err)
{
	*err = 0;
	if (!c->val[OPT_TEXT])
		return stderr;
	if (!strcmp(c->val[OPT_TEXT], "-"))
		return stdout;
	FILE *f = fopen(c->val[OPT_TEXT], "we");  /* not for the program */
	if (!f)
		*err = say("%s: %s", c->val[OPT_TEXT], strerror(errno));
	return f;
}

static int close_text(FILE *f, const char *path)
{
	if (f == stderr)
		return 0;
	if (f == stdout ? fflush(f) != 0 : fclose(f) != 0)
		return say("%s: %s", path, strerror(errno));
	return 0;
}

/* Symbolize, apply the suppressions, render text, JSON and SARIF; the
 * exit status.  After report_load(). */
static int render_all(const struct cmd *c, struct report *r, FILE *text,
		      int program_status, int trouble)
{
	if (report_symbolize(r))
		trouble = say("out of memory");
	if (c->val[OPT_SUPPRESSIONS]) {
		struct suppressions *s = NULL;
		if (supp_load(&s, c->val[OPT_SUPPRESSIONS], stderr))
			trouble = VMACHECK_EXIT_TROUBLE;
		report_suppress(r, s);
	}
	report_render_text(r, text);
	if (close_text(text, c->val[OPT_TEXT]))
		trouble = VMACHECK_EXIT_TROUBLE;
	if (c->val[OPT_JSON] &&
	    write_doc(r, c->val[OPT_JSON], report_render_json, 2))
		trouble = VMACHECK_EXIT_TROUBLE;
	if (c->val[OPT_SARIF] &&
	    write_doc(r, c->val[OPT_SARIF], report_render_sarif, 3))
		trouble = VMACHECK_EXIT_TROUBLE;
	int status = report_exit_status(r, program_status, c->error_exitcode);
	return !status && trouble ? trouble : status;
}

static int cmd_report(int argc, char **argv)
{
	struct cmd c;
	struct report r;
	int k, status, trouble = 0;
	FILE *text;

	k = parse_args(argc, argv, 1, true, &c);
	if (!k && c.val[OPT_OPTIONS_FILE] && !c.val[OPT_HELP] &&
	    !c.val[OPT_VERSION])
		k = load_options_file(&c, true);
	if (k)
		goto out_args;
	if (c.val[OPT_HELP]) {
		fputs(usage_text, stdout);
		goto out_args;
	}
	if (c.val[OPT_VERSION]) {
		printf("vmacheck %s\n", VMACHECK_VERSION);
		goto out_args;
	}
	if (!c.npaths) {
		k = say("report: no DIR or FILE to read (vmacheck --help)");
		goto out_args;
	}
	if (c.val[OPT_ERROR_EXITCODE])
		c.error_exitcode = atoi(c.val[OPT_ERROR_EXITCODE]);
	text = open_text(&c, &k);
	if (!text)
		goto out_args;

	report_init(&r);
	for (int i = 0; i < c.npaths; i++)
		report_add_path(&r, c.paths[i]);
	if (report_load(&r))
		trouble = say("out of memory");
	if (!r.nprocs && !r.nbad)
		trouble = say("no vmacheck results in the given %s",
			      c.npaths > 1 ? "paths" : "path");
	status = render_all(&c, &r, text, -1, trouble);
	report_free(&r);
	free(c.paths);
	return status;
out_args:
	free(c.paths);
	return k;
}

/* ---- running ------------------------------------------------------------- */

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

/* VMACHECK_OPTIONS for the program: what was set, then our options. */
static char *preload_options(const struct cmd *c, const char *out_dir)
{
	const char *prev = getenv("VMACHECK_OPTIONS");
	size_t cap = (prev ? strlen(prev) : 0) + 3 * PATH_MAX + 256, n = 0;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	s[0] = '\0';
	if (prev && *prev)
		n += (size_t)snprintf(s + n, cap - n, "%s:", prev);
	n += (size_t)snprintf(s + n, cap - n, "out-dir=%s", out_dir);
	for (int id = 0; id < NOPT; id++) {
		if (!opt_tab[id].preload || id == OPT_OUT_DIR || !c->val[id])
			continue;
		n += (size_t)snprintf(s + n, cap - n, ":%s=%s",
				      opt_tab[id].name, c->val[id]);
	}
	return s;
}

static int cmd_run(int argc, char **argv)
{
	struct cmd c;
	char lib[PATH_MAX], dir[PATH_MAX];
	bool fresh = false;
	int k, pipefd[2], wstatus = 0, program_status, status;
	char *opts;
	FILE *text;

	k = parse_args(argc, argv, 1, false, &c);
	if (!k && c.val[OPT_OPTIONS_FILE] && !c.val[OPT_HELP] &&
	    !c.val[OPT_VERSION])
		k = load_options_file(&c, false);
	if (k)
		return k;
	if (c.val[OPT_HELP]) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (c.val[OPT_VERSION]) {
		printf("vmacheck %s\n", VMACHECK_VERSION);
		return 0;
	}
	if (c.prog < 0)
		return say("no program to run (vmacheck --help)");
	if (c.val[OPT_ERROR_EXITCODE])
		c.error_exitcode = atoi(c.val[OPT_ERROR_EXITCODE]);
	/* A suppressions file that cannot be read: say so before the run
	 * (it is read after it, by the report). */
	if (c.val[OPT_SUPPRESSIONS] && access(c.val[OPT_SUPPRESSIONS], R_OK))
		return say("--suppressions %s: %s", c.val[OPT_SUPPRESSIONS],
			   strerror(errno));
	if ((k = find_preload(lib)))
		return k;

	/* The output directory, absolute. */
	if (c.val[OPT_OUT_DIR]) {
		char abs[PATH_MAX];
		if (has_separator(c.val[OPT_OUT_DIR]))
			return say("--out-dir %s: the path cannot hold ':', ',' "
				   "or whitespace (VMACHECK_OPTIONS separates "
				   "with them)", c.val[OPT_OUT_DIR]);
		if ((k = mkdir_p(c.val[OPT_OUT_DIR])))
			return say("--out-dir %s: %s", c.val[OPT_OUT_DIR],
				   strerror(-k));
		if (!realpath(c.val[OPT_OUT_DIR], abs))
			return say("--out-dir %s: %s", c.val[OPT_OUT_DIR],
				   strerror(errno));
		snprintf(dir, sizeof(dir), "%s", abs);
	} else {
		if ((k = make_fresh_dir(dir, sizeof(dir))))
			return say("cannot make an output directory %s: %s",
				   dir, strerror(-k));
		fresh = true;
	}
	if (has_separator(dir)) {
		k = say("--out-dir %s: the path cannot hold ':', ',' or "
			"whitespace (VMACHECK_OPTIONS separates with them)",
			dir);
		goto out_dir;
	}
	text = open_text(&c, &k);
	if (!text)
		goto out_dir;
	opts = preload_options(&c, dir);
	if (!opts) {
		k = say("out of memory");
		goto out_text;
	}
	old_free();
	if (!fresh) {
		nftw(dir, note_old, 16, FTW_PHYS);
		if (old.n)
			qsort(old.v, old.n, sizeof(*old.v), cmp_old);
	}

	/* Run. */
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		k = say("pipe: %s", strerror(errno));
		goto out_opts;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		k = say("fork: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		goto out_opts;
	}
	if (pid == 0) {
		const char *prev = getenv("LD_PRELOAD");
		char *pre = malloc(strlen(lib) + (prev ? strlen(prev) : 0) + 2);
		int e = ENOMEM;
		if (pre) {
			strcpy(pre, lib);
			if (prev && *prev) {
				strcat(pre, ":");
				strcat(pre, prev);
			}
			if (!setenv("LD_PRELOAD", pre, 1) &&
			    !setenv("VMACHECK_OPTIONS", opts, 1)) {
				execvp(argv[c.prog], argv + c.prog);
				e = errno;
			} else {
				e = errno;
			}
		}
		if (write(pipefd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pipefd[1]);
	child_pid = pid;
	struct sigaction ign = { .sa_handler = SIG_IGN }, fwd = {
		.sa_handler = forward_signal }, o_int, o_quit, o_term, o_hup;
	sigemptyset(&ign.sa_mask);
	sigemptyset(&fwd.sa_mask);
	sigaction(SIGINT, &ign, &o_int);
	sigaction(SIGQUIT, &ign, &o_quit);
	sigaction(SIGTERM, &fwd, &o_term);
	sigaction(SIGHUP, &fwd, &o_hup);
	int exec_errno = 0;
	ssize_t got;
	do
		got = read(pipefd[0], &exec_errno, sizeof(exec_errno));
	while (got < 0 && errno == EINTR);
	close(pipefd[0]);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &o_int, NULL);
	sigaction(SIGQUIT, &o_quit, NULL);
	sigaction(SIGTERM, &o_term, NULL);
	sigaction(SIGHUP, &o_hup, NULL);
	child_pid = 0;
	if (got == (ssize_t)sizeof(exec_errno)) {
		k = say("cannot run %s: %s", argv[c.prog],
			strerror(exec_errno));
		k = exec_errno == ENOENT ? 127 : 126;
		goto out_opts;
	}
	program_status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus)
					    : 128 + WTERMSIG(wstatus);

	/* Report. */
	struct report r;
	int trouble = 0;
	report_init(&r);
	if (!fresh) {
		r.skip = skip_old;
		r.skip_ctx = NULL;
	}
	report_add_path(&r, dir);
	if (report_load(&r))
		trouble = say("out of memory");
	report_note_wait(&r, (uint64_t)pid, wstatus);
	if (!r.nprocs && !r.nbad)
		fprintf(text, "vmacheck: no results in %s: the program was "
			"not checked (static or setuid, or the preload did not "
			"start)\n", dir);
	else
		fprintf(text, "vmacheck: results in %s\n", dir);
	status = render_all(&c, &r, text, program_status, trouble);
	text = NULL;
	report_free(&r);
	old_free();
	free(opts);
	return status;

out_opts:
	old_free();
	free(opts);
out_text:
	if (text)
		close_text(text, c.val[OPT_TEXT]);
out_dir:
	if (fresh)
		rmdir(dir);     /* only when still empty */
	return k;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "report"))
		return cmd_report(argc - 1, argv + 1);
	return cmd_run(argc, argv);
}
