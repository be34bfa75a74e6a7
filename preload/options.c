/*
 * options.c - VMACHECK_OPTIONS, parsed without allocation, stdio or getenv
 * (contract in preload_internal.h, "options.c").
 *
 * The string is a list of key=value pairs separated by ':' ',' or
 * whitespace.  One value holds a ':' of its own: in "check=every:4096" the
 * token after a pair whose value is "every" (when a ':' follows it) is the
 * number of that pair.  A value runs to the next separator, so a path
 * cannot contain one.  Parsing is done twice: a first pass validates every
 * pair without writing anything, a second one stores them, so a bad string
 * leaves the options as they were (the runtime then runs unchecked).
 */
#include <errno.h>
#include <string.h>

#include "preload_internal.h"

/* ---- small helpers ---------------------------------------------------- */

static inline bool is_sep(char c)
{
	return c == ':' || c == ',' || c == ' ' || c == '\t' || c == '\n' ||
	       c == '\r' || c == '\f' || c == '\v';
}

/* Does [s, s+n) spell lit exactly? */
static bool span_is(const char *s, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	return n == m && memcmp(s, lit, n) == 0;
}

/* Does key [s, s+n) name the option `name` (written with dashes), with
 * '_' accepted for '-'? */
static bool key_is(const char *s, size_t n, const char *name)
{
	size_t i;
	for (i = 0; i < n && name[i]; i++) {
		char c = s[i] == '_' ? '-' : s[i];
		if (c != name[i])
			return false;
	}
	return i == n && !name[i];
}

/* A decimal number, digits only (no sign, no spaces, no trailing junk),
 * in [lo, hi].  Returns 0 or -EINVAL. */
static int parse_num(const char *s, size_t n, uint64_t lo, uint64_t hi,
		     uint64_t *out)
{
	uint64_t v = 0;
	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -EINVAL;
	}
	if (v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A bounded string builder: always NUL-terminated, silently truncated. */
struct msgbuf {
	char *buf;
	size_t cap, len;
};

static void mb_putc(struct msgbuf *m, char c)
{
	if (m->len + 1 < m->cap) {
		m->buf[m->len++] = c;
		m->buf[m->len] = 0;
	}
}

static void mb_puts(struct msgbuf *m, const char *s)
{
	while (*s)
		mb_putc(m, *s++);
}

static void mb_putu(struct msgbuf *m, uint64_t v)
{
	char d[20];
	int n = 0;
	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		mb_putc(m, d[--n]);
}

/* The pair as written, on one line: control bytes become '?', and a pair
 * longer than OPT_ERR_PAIR_MAX is cut with "...". */
#define OPT_ERR_PAIR_MAX 160
static void mb_put_pair(struct msgbuf *m, const char *s, size_t n)
{
	size_t shown = n > OPT_ERR_PAIR_MAX ? OPT_ERR_PAIR_MAX - 3 : n;
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)s[i];
		mb_putc(m, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
	if (shown < n)
		mb_puts(m, "...");
}

/* ---- the options ------------------------------------------------------ */

#define CHECK_EVERY_MAX 4294967295ull

void vmc_options_default(struct vmc_options *o)
{
	memset(o, 0, sizeof(*o));
	memcpy(o->out_dir, "vmacheck-out", sizeof("vmacheck-out"));
	o->check = VMC_CHECK_EVERY;
	o->check_every = 4096;
	o->stack_depth = 16;
	o->error_exitcode = 99;
	o->uffd = VMC_UFFD_OFF;
	o->max_map_share = 50;
	o->leak_check = true;
}

/* The one reason with a number in it, completed when the message is
 * written: "path longer than 4095 bytes". */
static const char reason_path_long[] = "path longer than";

/* Store a path value into dst (PATH_MAX bytes) unless dst is NULL (the
 * validating pass).  Returns NULL or the reason it is bad. */
static const char *set_path(char *dst, const char *v, size_t n,
			    bool may_be_empty)
{
	if (!n && !may_be_empty)
		return "empty path";
	if (n > PATH_MAX - 1)
		return reason_path_long;
	if (dst) {
		memcpy(dst, v, n);
		dst[n] = 0;
	}
	return NULL;
}

#define FIELD(o, f) ((o) ? (o)->f : NULL)

/* Apply one pair to o (o NULL: only validate).  Returns NULL or the
 * reason the pair is bad.  *num is the number of check=every:N, if any. */
static const char *apply_pair(struct vmc_options *o, const char *k,
			      size_t kn, const char *v, size_t vn,
			      const char *num, size_t numn, bool every)
{
	uint64_t x;

	if (every) {
		if (!num || parse_num(num, numn, 1, CHECK_EVERY_MAX, &x))
			return "expected every:N with N from 1 to 4294967295";
		if (o) {
			o->check = VMC_CHECK_EVERY;
			o->check_every = x;
		}
		return NULL;
	}
	if (key_is(k, kn, "check")) {
		enum vmc_check_mode c;
		if (span_is(v, vn, "exit"))
			c = VMC_CHECK_EXIT;
		else if (span_is(v, vn, "call"))
			c = VMC_CHECK_CALL;
		else
			return "expected exit, call or every:N";
		if (o)
			o->check = c;
		return NULL;
	}
	if (key_is(k, kn, "stack-depth")) {
		if (parse_num(v, vn, 0, 64, &x))
			return "not a number from 0 to 64";
		if (o)
			o->stack_depth = (int)x;
		return NULL;
	}
	if (key_is(k, kn, "error-exitcode")) {
		if (parse_num(v, vn, 0, 255, &x))
			return "not a number from 0 to 255";
		if (o)
			o->error_exitcode = (int)x;
		return NULL;
	}
	if (key_is(k, kn, "max-map-share")) {
		if (parse_num(v, vn, 1, 100, &x))
			return "not a number from 1 to 100";
		if (o)
			o->max_map_share = (int)x;
		return NULL;
	}
	if (key_is(k, kn, "leak-check")) {
		bool on;
		if (span_is(v, vn, "yes"))
			on = true;
		else if (span_is(v, vn, "no"))
			on = false;
		else
			return "expected yes or no";
		if (o)
			o->leak_check = on;
		return NULL;
	}
	if (key_is(k, kn, "uffd")) {
		enum vmc_uffd_mode u;
		if (span_is(v, vn, "off"))
			u = VMC_UFFD_OFF;
		else if (span_is(v, vn, "on"))
			u = VMC_UFFD_ON;
		else if (span_is(v, vn, "touch"))
			u = VMC_UFFD_TOUCH;
		else
			return "expected off, on or touch";
		if (o)
			o->uffd = u;
		return NULL;
	}
	if (key_is(k, kn, "out-dir"))
		return set_path(FIELD(o, out_dir), v, vn, false);
	/* Empty means "none" for these. */
	if (key_is(k, kn, "suppressions"))
		return set_path(FIELD(o, suppressions), v, vn, true);
	if (key_is(k, kn, "json"))
		return set_path(FIELD(o, json), v, vn, true);
	if (key_is(k, kn, "text"))
		return set_path(FIELD(o, text), v, vn, true);
	if (key_is(k, kn, "sarif"))
		return set_path(FIELD(o, sarif), v, vn, true);
	return "unknown option";
}

/* One pass over s.  On the first bad pair, writes the message and returns
 * -EINVAL. */
static int parse_pass(const char *s, struct vmc_options *o, char *err,
		      size_t errlen)
{
	const char *p = s;

	for (;;) {
		while (*p && is_sep(*p))
			p++;
		if (!*p)
			return 0;
		const char *tok = p;
		while (*p && !is_sep(*p))
			p++;
		const char *tok_end = p;
		const char *eq = memchr(tok, '=', (size_t)(tok_end - tok));
		const char *why, *num = NULL;
		size_t numn = 0;
		bool every = false;

		if (!eq) {
			why = "expected key=value";
		} else if (eq == tok) {
			why = "missing key";
		} else {
			const char *v = eq + 1;
			size_t vn = (size_t)(tok_end - v);
			if (key_is(tok, (size_t)(eq - tok), "check") &&
			    span_is(v, vn, "every")) {
				/* "every" takes the next ':'-token as N. */
				every = true;
				if (*p == ':') {
					num = ++p;
					while (*p && !is_sep(*p))
						p++;
					numn = (size_t)(p - num);
				}
			}
			why = apply_pair(o, tok, (size_t)(eq - tok), v, vn,
					 num, numn, every);
		}
		if (why) {
			if (err && errlen) {
				struct msgbuf m = { err, errlen, 0 };
				err[0] = 0;
				mb_puts(&m, "bad option '");
				mb_put_pair(&m, tok, (size_t)(p - tok));
				mb_puts(&m, "': ");
				mb_puts(&m, why);
				if (why == reason_path_long) {
					mb_putc(&m, ' ');
					mb_putu(&m, PATH_MAX - 1);
					mb_puts(&m, " bytes");
				}
			}
			return -EINVAL;
		}
	}
}

int vmc_options_parse(const char *s, struct vmc_options *o, char *err,
		      size_t errlen)
{
	if (err && errlen)
		err[0] = 0;
	if (!s)
		return 0;
	int r = parse_pass(s, NULL, err, errlen);
	if (r)
		return r;
	return parse_pass(s, o, err, errlen);
}

const char *vmc_env_get(char *const *envp, const char *name)
{
	if (!envp || !name || !*name)
		return NULL;
	for (; *envp; envp++) {
		const char *e = *envp;
		size_t i = 0;
		while (name[i] && e[i] == name[i])
			i++;
		if (!name[i] && e[i] == '=')
			return e + i + 1;
	}
	return NULL;
}
