/*
 * json.c - the command's JSON parser and writer (contracts in json.h).
 *
 * The parser is recursive descent over the bytes, depth bounded; each
 * document's tree and strings live in an arena of malloc'd chunks (first
 * chunk sized from the input, then doubling), so loading thousands of
 * small results costs a few allocations each and one free.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- the arena ------------------------------------------------------- */

struct json_chunk {
	struct json_chunk *next;
	size_t size, used;
	/* then the bytes, 16-aligned */
};

#define CHUNK_HDR ((sizeof(struct json_chunk) + 15) & ~(size_t)15)
#define CHUNK_MAX_STEP ((size_t)4 << 20)

static void *doc_alloc(struct json_doc *d, size_t n)
{
	struct json_chunk *c = d->chunks;

	n = (n + 15) & ~(size_t)15;
	if (!c || c->size - c->used < n) {
		size_t sz = d->next_chunk ? d->next_chunk : 4096;

		if (sz < n)
			sz = n;
		c = malloc(CHUNK_HDR + sz);
		if (!c)
			return NULL;
		c->size = sz;
		c->used = 0;
		c->next = d->chunks;
		d->chunks = c;
		d->next_chunk = sz < CHUNK_MAX_STEP ? sz * 2 : sz;
	}
	void *p = (char *)c + CHUNK_HDR + c->used;
	c->used += n;
	return p;
}

void json_doc_free(struct json_doc *doc)
{
	struct json_chunk *c = doc->chunks;

	while (c) {
		struct json_chunk *next = c->next;
		free(c);
		c = next;
	}
	memset(doc, 0, sizeof(*doc));
}

/* ---- UTF-8 ----------------------------------------------------------- */

size_t json_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;   /* range of the second byte */

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;       /* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f;       /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;       /* at most U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static size_t utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* ---- the parser ------------------------------------------------------ */

struct parser {
	const unsigned char *s;
	size_t n, i;
	struct json_doc *doc;
	struct json_error *err;
	int depth;
	int oom;
};

static int fail(struct parser *p, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, size_t at, const char *fmt, ...)
{
	va_list ap;

	if (p->err) {
		p->err->offset = at;
		va_start(ap, fmt);
		vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static int fail_oom(struct parser *p)
{
	p->oom = 1;
	if (p->err) {
		p->err->offset = p->i;
		snprintf(p->err->msg, sizeof(p->err->msg), "out of memory");
	}
	return -ENOMEM;
}

/* "unexpected ..." for the byte at p->i (or the end). */
static int fail_unexpected(struct parser *p, const char *wanted)
{
	if (p->i >= p->n)
		return fail(p, p->i, "unexpected end of input, expected %s",
			    wanted);
	unsigned char c = p->s[p->i];
	if (c > 0x20 && c < 0x7f)
		return fail(p, p->i, "unexpected '%c', expected %s", c,
			    wanted);
	return fail(p, p->i, "unexpected byte 0x%02x, expected %s", c, wanted);
}

static void skip_ws(struct parser *p)
{
	while (p->i < p->n) {
		unsigned char c = p->s[p->i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->i++;
	}
}

static struct json_value *new_value(struct parser *p, uint8_t type)
{
	struct json_value *v = doc_alloc(p->doc, sizeof(*v));

	if (!v)
		return NULL;
	memset(v, 0, sizeof(*v));
	v->type = type;
	v->offset = p->i;
	return v;
}

static int hex4(const unsigned char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int k = 0; k < 4; k++) {
		unsigned char c = s[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* The string at p->i (its opening quote), decoded into the arena. */
static int parse_string(struct parser *p, const char **out, size_t *outlen)
{
	size_t start = p->i, end;
	const unsigned char *s = p->s;

	/* Find the closing quote: its distance bounds the decoded size
	 * (escapes only shrink). */
	for (end = start + 1; end < p->n; end++) {
		if (s[end] == '"')
			break;
		if (s[end] == '\\')
			end++;
	}
	if (end >= p->n)
		return fail(p, start, "unterminated string");
	char *buf = doc_alloc(p->doc, end - start);
	if (!buf)
		return fail_oom(p);
	size_t k = 0, i = start + 1;
	while (i < end) {
		unsigned char c = s[i];
		if (c == '\\') {
			unsigned char e = s[i + 1];
			uint32_t cp;
			switch (e) {
			case '"': buf[k++] = '"'; break;
			case '\\': buf[k++] = '\\'; break;
			case '/': buf[k++] = '/'; break;
			case 'b': buf[k++] = '\b'; break;
			case 'f': buf[k++] = '\f'; break;
			case 'n': buf[k++] = '\n'; break;
			case 'r': buf[k++] = '\r'; break;
			case 't': buf[k++] = '\t'; break;
			case 'u':
				if (end - i < 6 || hex4(s + i + 2, &cp))
					return fail(p, i, "invalid \\u escape "
						    "(4 hex digits expected)");
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return fail(p, i, "lone low surrogate "
						    "\\u%04x", (unsigned)cp);
				if (cp >= 0xd800 && cp <= 0xdbff) {
					uint32_t lo;
					if (end - i < 12 || s[i + 6] != '\\' ||
					    s[i + 7] != 'u' ||
					    hex4(s + i + 8, &lo) ||
					    lo < 0xdc00 || lo > 0xdfff)
						return fail(p, i, "lone high "
							    "surrogate \\u%04x",
							    (unsigned)cp);
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					     (lo - 0xdc00);
					i += 6;
				}
				k += utf8_put(buf + k, cp);
				i += 6;
				continue;
			default:
				if (e > 0x20 && e < 0x7f)
					return fail(p, i, "invalid escape "
						    "'\\%c'", e);
				return fail(p, i, "invalid escape: byte 0x%02x "
					    "after a backslash", e);
			}
			i += 2;
		} else if (c < 0x20) {
			return fail(p, i, "control character 0x%02x in a "
				    "string (must be escaped)", c);
		} else if (c < 0x80) {
			buf[k++] = (char)c;
			i++;
		} else {
			size_t m = json_utf8_seq(s + i, end - i);
			if (!m)
				return fail(p, i, "invalid UTF-8 in a string");
			memcpy(buf + k, s + i, m);
			k += m;
			i += m;
		}
	}
	buf[k] = '\0';
	*out = buf;
	*outlen = k;
	p->i = end + 1;
	return 0;
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct parser *p, struct json_value *v)
{
	const unsigned char *s = p->s;
	size_t i = p->i, start = p->i;

	if (i < p->n && s[i] == '-') {
		v->num_flags |= JSON_NUM_NEG;
		i++;
	}
	if (i >= p->n || !is_digit(s[i])) {
		p->i = i;
		return fail_unexpected(p, "a digit");
	}
	if (s[i] == '0') {
		i++;
		if (i < p->n && is_digit(s[i]))
			return fail(p, i - 1, "leading zero in a number");
	} else {
		while (i < p->n && is_digit(s[i]))
			i++;
	}
	if (i < p->n && s[i] == '.') {
		v->num_flags |= JSON_NUM_FRAC;
		i++;
		if (i >= p->n || !is_digit(s[i])) {
			p->i = i;
			return fail_unexpected(p, "a digit after '.'");
		}
		while (i < p->n && is_digit(s[i]))
			i++;
	}
	if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
		v->num_flags |= JSON_NUM_EXP;
		i++;
		if (i < p->n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= p->n || !is_digit(s[i])) {
			p->i = i;
			return fail_unexpected(p, "a digit in the exponent");
		}
		while (i < p->n && is_digit(s[i]))
			i++;
	}
	char *raw = doc_alloc(p->doc, i - start + 1);
	if (!raw)
		return fail_oom(p);
	memcpy(raw, s + start, i - start);
	raw[i - start] = '\0';
	v->u.str.s = raw;
	v->u.str.len = i - start;
	p->i = i;
	return 0;
}

static int parse_value(struct parser *p, struct json_value **out);

static int parse_literal(struct parser *p, const char *lit)
{
	size_t n = strlen(lit);

	if (p->n - p->i < n || memcmp(p->s + p->i, lit, n) != 0)
		return fail(p, p->i, "invalid literal (expected %s)", lit);
	p->i += n;
	return 0;
}

static int parse_container(struct parser *p, struct json_value *v, bool obj)
{
	const char close = obj ? '}' : ']';
	struct json_value *last = NULL;
	int r;

	if (++p->depth > JSON_MAX_DEPTH)
		return fail(p, p->i, "nesting deeper than %d", JSON_MAX_DEPTH);
	p->i++;                        /* the opening bracket */
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		p->depth--;
		return 0;
	}
	for (;;) {
		const char *key = NULL;
		size_t klen = 0;
		struct json_value *kid;

		if (obj) {
			if (p->i >= p->n || p->s[p->i] != '"')
				return fail_unexpected(p, v->u.kids.n
						       ? "a string key"
						       : "a string key or '}'");
			r = parse_string(p, &key, &klen);
			if (r)
				return r;
			if (klen > UINT32_MAX)
				return fail(p, p->i, "key too long");
			skip_ws(p);
			if (p->i >= p->n || p->s[p->i] != ':')
				return fail_unexpected(p, "':' after a key");
			p->i++;
			skip_ws(p);
		}
		r = parse_value(p, &kid);
		if (r)
			return r;
		kid->key = key;
		kid->key_len = (uint32_t)klen;
		if (last)
			last->next = kid;
		else
			v->u.kids.first = kid;
		last = kid;
		v->u.kids.n++;
		skip_ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			skip_ws(p);
			continue;
		}
		if (p->i < p->n && p->s[p->i] == close) {
			p->i++;
			p->depth--;
			return 0;
		}
		return fail_unexpected(p, obj ? "',' or '}' after a member"
					      : "',' or ']' after an element");
	}
}

/* A value at p->i (whitespace already skipped). */
static int parse_value(struct parser *p, struct json_value **out)
{
	struct json_value *v;
	int r;

	if (p->i >= p->n)
		return fail_unexpected(p, "a value");
	switch (p->s[p->i]) {
	case '{':
	case '[':
		v = new_value(p, p->s[p->i] == '{' ? JSON_OBJECT : JSON_ARRAY);
		if (!v)
			return fail_oom(p);
		r = parse_container(p, v, v->type == JSON_OBJECT);
		break;
	case '"':
		v = new_value(p, JSON_STRING);
		if (!v)
			return fail_oom(p);
		r = parse_string(p, &v->u.str.s, &v->u.str.len);
		break;
	case 't':
	case 'f':
		v = new_value(p, JSON_BOOL);
		if (!v)
			return fail_oom(p);
		v->b = p->s[p->i] == 't';
		r = parse_literal(p, v->b ? "true" : "false");
		break;
	case 'n':
		v = new_value(p, JSON_NULL);
		if (!v)
			return fail_oom(p);
		r = parse_literal(p, "null");
		break;
	default:
		if (p->s[p->i] != '-' && !is_digit(p->s[p->i]))
			return fail_unexpected(p, "a value");
		v = new_value(p, JSON_NUMBER);
		if (!v)
			return fail_oom(p);
		r = parse_number(p, v);
		break;
	}
	if (r)
		return r;
	*out = v;
	return 0;
}

int json_parse(struct json_doc *doc, const char *text, size_t len,
	       struct json_error *err)
{
	struct parser p = { .s = (const unsigned char *)text, .n = len,
			    .doc = doc, .err = err };
	struct json_value *root;
	int r;

	memset(doc, 0, sizeof(*doc));
	/* A tree takes a few times the text (48-byte nodes). */
	doc->next_chunk = len < 256 ? 1024 : len < (1u << 20) ? len * 4
							       : len;
	if (err) {
		err->offset = 0;
		err->msg[0] = '\0';
	}
	skip_ws(&p);
	if (p.i >= p.n) {
		r = fail(&p, p.i, len ? "no value, only whitespace"
				     : "empty document");
		goto out;
	}
	r = parse_value(&p, &root);
	if (r)
		goto out;
	skip_ws(&p);
	if (p.i < p.n) {
		r = fail(&p, p.i, "trailing characters after the document");
		goto out;
	}
	doc->root = root;
	return 0;
out:
	json_doc_free(doc);
	return p.oom ? -ENOMEM : r;
}

/* ---- access ----------------------------------------------------------- */

const struct json_value *json_get(const struct json_value *obj,
				  const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	size_t n = strlen(key);
	for (const struct json_value *m = obj->u.kids.first; m; m = m->next)
		if (m->key_len == n && memcmp(m->key, key, n) == 0)
			return m;
	return NULL;
}

const char *json_str(const struct json_value *v)
{
	return v && v->type == JSON_STRING ? v->u.str.s : NULL;
}

/* The magnitude of an integer number (digits after an optional '-'). */
static int int_magnitude(const struct json_value *v, uint64_t *mag)
{
	if (!v || v->type != JSON_NUMBER)
		return -EINVAL;
	if (v->num_flags & (JSON_NUM_FRAC | JSON_NUM_EXP))
		return -EINVAL;
	const char *s = v->u.str.s + ((v->num_flags & JSON_NUM_NEG) ? 1 : 0);
	uint64_t m = 0;
	for (; *s; s++)
		if (__builtin_mul_overflow(m, 10, &m) ||
		    __builtin_add_overflow(m, (uint64_t)(*s - '0'), &m))
			return -ERANGE;
	*mag = m;
	return 0;
}

int json_u64(const struct json_value *v, uint64_t *out)
{
	uint64_t m;
	int r = int_magnitude(v, &m);

	if (r)
		return r;
	if ((v->num_flags & JSON_NUM_NEG) && m != 0)
		return -ERANGE;
	*out = m;
	return 0;
}

int json_i64(const struct json_value *v, int64_t *out)
{
	uint64_t m;
	int r = int_magnitude(v, &m);

	if (r)
		return r;
	if (v->num_flags & JSON_NUM_NEG) {
		if (m > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		*out = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
	} else {
		if (m > (uint64_t)INT64_MAX)
			return -ERANGE;
		*out = (int64_t)m;
	}
	return 0;
}

int json_double(const struct json_value *v, double *out)
{
	if (!v || v->type != JSON_NUMBER)
		return -EINVAL;
	*out = strtod(v->u.str.s, NULL);
	return 0;
}

const char *json_type_name(int type)
{
	static const char *const names[] = {
		[JSON_NULL] = "null",     [JSON_BOOL] = "bool",
		[JSON_NUMBER] = "number", [JSON_STRING] = "string",
		[JSON_ARRAY] = "array",   [JSON_OBJECT] = "object",
	};
	return type >= 0 && type <= JSON_OBJECT ? names[type] : "?";
}

/* ---- the writer -------------------------------------------------------- */

void jout_init(struct jout *w, unsigned pretty_depth)
{
	memset(w, 0, sizeof(*w));
	w->pretty_depth = pretty_depth;
}

void jout_free(struct jout *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

static bool reserve(struct jout *w, size_t n)
{
	if (w->oom)
		return false;
	if (w->cap - w->len > n)
		return true;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap - w->len <= n)
		cap *= 2;
	char *b = realloc(w->buf, cap);
	if (!b) {
		w->oom = true;
		return false;
	}
	w->buf = b;
	w->cap = cap;
	return true;
}

void jout_raw(struct jout *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void put(struct jout *w, const char *s)
{
	jout_raw(w, s, strlen(s));
}

static void putc1(struct jout *w, char c)
{
	if (!reserve(w, 1))
		return;
	w->buf[w->len++] = c;
	w->buf[w->len] = '\0';
}

static void newline(struct jout *w, unsigned level)
{
	putc1(w, '\n');
	for (unsigned i = 0; i < level; i++)
		jout_raw(w, "  ", 2);
}

/* Before a value (or a key): the comma and the line break. */
static bool before(struct jout *w, bool is_key)
{
	if (w->bad)
		return false;
	if (w->after_key) {
		if (is_key) {
			w->bad = true;
			return false;
		}
		w->after_key = false;
		return true;
	}
	if (w->depth > 0 && w->is_obj[w->depth] && !is_key) {
		w->bad = true;            /* a value where a key is due */
		return false;
	}
	if (is_key && (w->depth == 0 || !w->is_obj[w->depth])) {
		w->bad = true;
		return false;
	}
	if (w->depth == 0 && w->has_elem[0]) {
		w->bad = true;            /* a second document */
		return false;
	}
	if (w->has_elem[w->depth])
		putc1(w, ',');
	w->has_elem[w->depth] = 1;
	if (w->depth > 0 && w->depth <= w->pretty_depth)
		newline(w, w->depth);
	return true;
}

static void open_c(struct jout *w, char c, bool obj)
{
	if (!before(w, false))
		return;
	if (w->depth >= JSON_MAX_DEPTH) {
		w->bad = true;
		return;
	}
	putc1(w, c);
	w->depth++;
	w->has_elem[w->depth] = 0;
	w->is_obj[w->depth] = obj;
}

static void close_c(struct jout *w, char c, bool obj)
{
	if (w->bad)
		return;
	if (w->depth == 0 || w->after_key || w->is_obj[w->depth] != obj) {
		w->bad = true;
		return;
	}
	bool had = w->has_elem[w->depth];
	w->depth--;
	if (had && w->depth < w->pretty_depth)
		newline(w, w->depth);
	putc1(w, c);
}

void jout_obj_begin(struct jout *w) { open_c(w, '{', true); }
void jout_obj_end(struct jout *w) { close_c(w, '}', true); }
void jout_arr_begin(struct jout *w) { open_c(w, '[', false); }
void jout_arr_end(struct jout *w) { close_c(w, ']', false); }

static void put_escaped(struct jout *w, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	putc1(w, '"');
	while (i < n) {
		unsigned char c = s[i];
		const char *esc = NULL;
		char ubuf[8];
		size_t m = 1;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			m = json_utf8_seq(s + i, n - i);
			if (m) {
				i += m;
				continue;
			}
			esc = "\\ufffd";
			m = 1;
		} else {
			switch (c) {
			case '"': esc = "\\\""; break;
			case '\\': esc = "\\\\"; break;
			case '\n': esc = "\\n"; break;
			case '\r': esc = "\\r"; break;
			case '\t': esc = "\\t"; break;
			case '\b': esc = "\\b"; break;
			case '\f': esc = "\\f"; break;
			default:
				snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
				esc = ubuf;
			}
		}
		jout_raw(w, str + run, i - run);
		put(w, esc);
		i += m;
		run = i;
	}
	jout_raw(w, str + run, n - run);
	putc1(w, '"');
}

void jout_keyn(struct jout *w, const char *key, size_t n)
{
	if (!before(w, true))
		return;
	put_escaped(w, key, n);
	putc1(w, ':');
	w->after_key = true;
}

void jout_key(struct jout *w, const char *key)
{
	jout_keyn(w, key, strlen(key));
}

void jout_strn(struct jout *w, const char *s, size_t n)
{
	if (before(w, false))
		put_escaped(w, s, n);
}

void jout_str(struct jout *w, const char *s)
{
	if (!s)
		jout_null(w);
	else
		jout_strn(w, s, strlen(s));
}

void jout_u64(struct jout *w, uint64_t v)
{
	char b[24];

	if (before(w, false)) {
		snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
		put(w, b);
	}
}

void jout_i64(struct jout *w, int64_t v)
{
	char b[24];

	if (before(w, false)) {
		snprintf(b, sizeof(b), "%lld", (long long)v);
		put(w, b);
	}
}

void jout_hex(struct jout *w, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "0x%llx", (unsigned long long)v);
	jout_str(w, b);
}

void jout_bool(struct jout *w, bool v)
{
	if (before(w, false))
		put(w, v ? "true" : "false");
}

void jout_null(struct jout *w)
{
	if (before(w, false))
		put(w, "null");
}

void jout_value(struct jout *w, const struct json_value *v)
{
	if (!v) {
		jout_null(w);
		return;
	}
	switch (v->type) {
	case JSON_NULL:
		jout_null(w);
		break;
	case JSON_BOOL:
		jout_bool(w, v->b);
		break;
	case JSON_NUMBER:
		if (before(w, false))
			jout_raw(w, v->u.str.s, v->u.str.len);
		break;
	case JSON_STRING:
		jout_strn(w, v->u.str.s, v->u.str.len);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT: {
		bool obj = v->type == JSON_OBJECT;
		open_c(w, obj ? '{' : '[', obj);
		for (const struct json_value *k = v->u.kids.first; k;
		     k = k->next) {
			if (obj)
				jout_keyn(w, k->key, k->key_len);
			jout_value(w, k);
		}
		close_c(w, obj ? '}' : ']', obj);
		break;
	}
	}
}

bool jout_ok(const struct jout *w)
{
	return !w->oom && !w->bad && w->depth == 0 && !w->after_key &&
	       w->has_elem[0];
}
