/*
 * jsonw.c - a JSON writer into caller memory, for the per-process result
 * and the journal's JSON payloads.  No allocation, no libc call, no system
 * call: async-signal-safe, and MT-safe as long as each thread has its own
 * struct jsonw.
 *
 * Commas go in by themselves: need_comma has one bit per open container
 * (bit d-1 for the container at depth d, so 64 containers fit in it); a
 * value or key at depth d writes ',' first when the bit is set, then sets
 * it.  A value right after a key takes no comma.  Top-level values (depth
 * 0) are never separated.
 *
 * The buffer always holds a NUL-terminated prefix of the document (when cap
 * > 0), so the document proper is at most cap - 1 bytes.  When a write does
 * not fit, as much of it as fits is written, `overflow` is set and every
 * later call does nothing: the caller checks `overflow` once at the end.
 * Misuse that would give invalid JSON (nesting deeper than 64, an end with
 * nothing open, an end right after a key) sets `overflow` too.
 */
#include "preload_internal.h"

#define JSONW_MAX_DEPTH 64

void jsonw_init(struct jsonw *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = cap;
	w->overflow = false;
	w->depth = 0;
	w->need_comma = 0;
	w->after_key = false;
	if (cap)
		buf[0] = '\0';
}

static void jsonw_fail(struct jsonw *w)
{
	w->overflow = true;
}

/* Append n bytes, or as many as fit before the terminating NUL. */
static void put(struct jsonw *w, const char *s, size_t n)
{
	size_t room, i;

	if (w->overflow)
		return;
	room = w->cap ? w->cap - 1 - w->len : 0;
	if (n > room) {
		n = room;
		w->overflow = true;
	}
	for (i = 0; i < n; i++)
		w->buf[w->len + i] = s[i];
	w->len += n;
	if (w->cap)
		w->buf[w->len] = '\0';
}

static void putc1(struct jsonw *w, char c)
{
	put(w, &c, 1);
}

static uint64_t depth_bit(int depth)
{
	return 1ull << (depth - 1);
}

/* What comes before a value or a key: a comma when a sibling precedes. */
static void separate(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
		return;
	if (w->need_comma & depth_bit(w->depth))
		putc1(w, ',');
	w->need_comma |= depth_bit(w->depth);
}

static void open_container(struct jsonw *w, char c)
{
	if (w->overflow)
		return;
	if (w->depth >= JSONW_MAX_DEPTH) {
		jsonw_fail(w);
		return;
	}
	separate(w);
	putc1(w, c);
	w->depth++;
	w->need_comma &= ~depth_bit(w->depth);
}

static void close_container(struct jsonw *w, char c)
{
	if (w->overflow)
		return;
	if (w->depth == 0 || w->after_key) {
		jsonw_fail(w);
		return;
	}
	w->need_comma &= ~depth_bit(w->depth);
	w->depth--;
	putc1(w, c);
}

void jsonw_obj_begin(struct jsonw *w)
{
	open_container(w, '{');
}

void jsonw_obj_end(struct jsonw *w)
{
	close_container(w, '}');
}

void jsonw_arr_begin(struct jsonw *w)
{
	open_container(w, '[');
}

void jsonw_arr_end(struct jsonw *w)
{
	close_container(w, ']');
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or,
 * when it is not well-formed, minus the length of its maximal valid prefix
 * (at least 1): the bytes one U+FFFD replaces (Unicode 15, 3.9 "U+FFFD
 * substitution of maximal subparts"). */
static long utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;         /* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f;         /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;         /* no overlong forms */
		else if (c == 0xf4)
			hi = 0x8f;         /* nothing past U+10FFFF */
	} else {
		return -1;             /* 80..c1, f5..ff never start one */
	}
	for (i = 1; i < need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi)
			return -(long)i;
		lo = 0x80;
		hi = 0xbf;
	}
	return (long)need;
}

static void put_escaped(struct jsonw *w, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	putc1(w, '"');
	while (i < n && !w->overflow) {
		size_t run = i;
		long seq;

		/* Copy a run of bytes that need nothing in one go. */
		while (run < n && s[run] >= 0x20 && s[run] < 0x7f &&
		       s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			put(w, (const char *)s + i, run - i);
			i = run;
			continue;
		}
		switch (s[i]) {
		case '"': put(w, "\\\"", 2); i++; continue;
		case '\\': put(w, "\\\\", 2); i++; continue;
		case '\b': put(w, "\\b", 2); i++; continue;
		case '\f': put(w, "\\f", 2); i++; continue;
		case '\n': put(w, "\\n", 2); i++; continue;
		case '\r': put(w, "\\r", 2); i++; continue;
		case '\t': put(w, "\\t", 2); i++; continue;
		default: break;
		}
		if (s[i] < 0x20 || s[i] == 0x7f) {
			char u[6] = { '\\', 'u', '0', '0', hex[s[i] >> 4],
				      hex[s[i] & 15] };
			put(w, u, sizeof(u));
			i++;
			continue;
		}
		seq = utf8_seq(s + i, n - i);
		if (seq > 0) {
			put(w, (const char *)s + i, (size_t)seq);
			i += (size_t)seq;
		} else {
			put(w, "\\ufffd", 6);
			i += (size_t)-seq;
		}
	}
	putc1(w, '"');
}

void jsonw_key(struct jsonw *w, const char *key)
{
	size_t n = 0;

	if (w->overflow)
		return;
	if (w->after_key) {        /* two keys in a row */
		jsonw_fail(w);
		return;
	}
	separate(w);
	while (key && key[n])
		n++;
	put_escaped(w, key ? key : "", n);
	putc1(w, ':');
	w->after_key = true;
}

void jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
	if (w->overflow)
		return;
	separate(w);
	put_escaped(w, s, n);
}

void jsonw_str(struct jsonw *w, const char *s)
{
	size_t n = 0;

	if (!s) {
		jsonw_null(w);
		return;
	}
	while (s[n])
		n++;
	jsonw_strn(w, s, n);
}

/* Digits of v in base 10, right-aligned in d[0..20); returns the first. */
static int u64_digits(uint64_t v, char d[20])
{
	int i = 20;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return i;
}

void jsonw_u64(struct jsonw *w, uint64_t v)
{
	char d[20];
	int i;

	if (w->overflow)
		return;
	separate(w);
	i = u64_digits(v, d);
	put(w, d + i, (size_t)(20 - i));
}

void jsonw_i64(struct jsonw *w, int64_t v)
{
	char d[20];
	int i;
	uint64_t mag;

	if (w->overflow)
		return;
	separate(w);
	mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	if (v < 0)
		putc1(w, '-');
	i = u64_digits(mag, d);
	put(w, d + i, (size_t)(20 - i));
}

void jsonw_hex(struct jsonw *w, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	char d[20];
	int i = 20;

	if (w->overflow)
		return;
	separate(w);
	d[--i] = '"';
	do {
		d[--i] = hex[v & 15];
		v >>= 4;
	} while (v);
	d[--i] = 'x';
	d[--i] = '0';
	d[--i] = '"';
	put(w, d + i, (size_t)(20 - i));
}

void jsonw_bool(struct jsonw *w, bool v)
{
	if (w->overflow)
		return;
	separate(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void jsonw_null(struct jsonw *w)
{
	if (w->overflow)
		return;
	separate(w);
	put(w, "null", 4);
}
