/*
 * test_preload_jsonw.c - unit tests for preload/jsonw.c.
 *
 * Exact output for every value type, nesting and comma placement; string
 * escaping (every control character, quotes, backslash, DEL, valid UTF-8
 * passing through, each kind of invalid UTF-8 becoming \ufffd); overflow at
 * every buffer size for a sample document (never a byte past cap, the flag
 * set, a NUL-terminated prefix); and a round trip of random documents
 * through a small JSON parser written here (strings decoded back to bytes).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preload_internal.h"

/* ---- a small JSON parser: validates, decodes strings ------------------ */

struct jp {
	const char *s;
	size_t n, i;
	/* the last string decoded (UTF-8) */
	char str[8192];
	size_t slen;
};

static void jp_ws(struct jp *p)
{
	while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]))
		p->i++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool jp_put_utf8(struct jp *p, uint32_t cp)
{
	char b[4];
	size_t k = 0, j;

	if (cp < 0x80) {
		b[k++] = (char)cp;
	} else if (cp < 0x800) {
		b[k++] = (char)(0xc0 | cp >> 6);
		b[k++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		b[k++] = (char)(0xe0 | cp >> 12);
		b[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[k++] = (char)(0x80 | (cp & 0x3f));
	} else {
		b[k++] = (char)(0xf0 | cp >> 18);
		b[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[k++] = (char)(0x80 | (cp & 0x3f));
	}
	if (p->slen + k > sizeof(p->str))
		return false;
	for (j = 0; j < k; j++)
		p->str[p->slen++] = b[j];
	return true;
}

/* Is the UTF-8 sequence at s well formed (strict, as RFC 3629)? */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef)
		need = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	for (i = 1; i < need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80, hi = 0xbf;
	}
	return need;
}

static bool jp_string(struct jp *p)
{
	p->slen = 0;
	if (p->i >= p->n || p->s[p->i] != '"')
		return false;
	p->i++;
	while (p->i < p->n) {
		unsigned char c = (unsigned char)p->s[p->i];

		if (c == '"') {
			p->i++;
			return true;
		}
		if (c < 0x20)
			return false;          /* raw control character */
		if (c == '\\') {
			char e;

			if (++p->i >= p->n)
				return false;
			e = p->s[p->i++];
			switch (e) {
			case '"': case '\\': case '/':
				if (!jp_put_utf8(p, (uint32_t)e))
					return false;
				break;
			case 'b': jp_put_utf8(p, '\b'); break;
			case 'f': jp_put_utf8(p, '\f'); break;
			case 'n': jp_put_utf8(p, '\n'); break;
			case 'r': jp_put_utf8(p, '\r'); break;
			case 't': jp_put_utf8(p, '\t'); break;
			case 'u': {
				uint32_t cp = 0;
				int k;

				if (p->i + 4 > p->n)
					return false;
				for (k = 0; k < 4; k++) {
					int h = hexval(p->s[p->i++]);
					if (h < 0)
						return false;
					cp = cp << 4 | (uint32_t)h;
				}
				if (cp >= 0xd800 && cp <= 0xdfff)
					return false;  /* we never write pairs */
				if (!jp_put_utf8(p, cp))
					return false;
				break;
			}
			default:
				return false;
			}
			continue;
		}
		{
			size_t k = utf8_ok((const unsigned char *)p->s + p->i,
					   p->n - p->i), j;
			if (!k || p->slen + k > sizeof(p->str))
				return false;
			for (j = 0; j < k; j++)
				p->str[p->slen++] = p->s[p->i++];
		}
	}
	return false;
}

static bool jp_value(struct jp *p, int depth);

static bool jp_number(struct jp *p)
{
	size_t start = p->i;

	if (p->i < p->n && p->s[p->i] == '-')
		p->i++;
	if (p->i >= p->n)
		return false;
	if (p->s[p->i] == '0') {
		p->i++;
	} else if (p->s[p->i] >= '1' && p->s[p->i] <= '9') {
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	} else {
		return false;
	}
	return p->i > start;
}

static bool jp_lit(struct jp *p, const char *lit)
{
	size_t k = strlen(lit);

	if (p->n - p->i < k || memcmp(p->s + p->i, lit, k))
		return false;
	p->i += k;
	return true;
}

static bool jp_value(struct jp *p, int depth)
{
	if (depth > 100)
		return false;
	jp_ws(p);
	if (p->i >= p->n)
		return false;
	switch (p->s[p->i]) {
	case '{':
		p->i++;
		jp_ws(p);
		if (p->i < p->n && p->s[p->i] == '}') {
			p->i++;
			return true;
		}
		for (;;) {
			jp_ws(p);
			if (!jp_string(p))
				return false;
			jp_ws(p);
			if (p->i >= p->n || p->s[p->i++] != ':')
				return false;
			if (!jp_value(p, depth + 1))
				return false;
			jp_ws(p);
			if (p->i >= p->n)
				return false;
			if (p->s[p->i] == ',') {
				p->i++;
				continue;
			}
			if (p->s[p->i] == '}') {
				p->i++;
				return true;
			}
			return false;
		}
	case '[':
		p->i++;
		jp_ws(p);
		if (p->i < p->n && p->s[p->i] == ']') {
			p->i++;
			return true;
		}
		for (;;) {
			if (!jp_value(p, depth + 1))
				return false;
			jp_ws(p);
			if (p->i >= p->n)
				return false;
			if (p->s[p->i] == ',') {
				p->i++;
				continue;
			}
			if (p->s[p->i] == ']') {
				p->i++;
				return true;
			}
			return false;
		}
	case '"':
		return jp_string(p);
	case 't':
		return jp_lit(p, "true");
	case 'f':
		return jp_lit(p, "false");
	case 'n':
		return jp_lit(p, "null");
	default:
		return jp_number(p);
	}
}

/* Is s[0..n) exactly one JSON value (surrounding whitespace allowed)? */
static bool json_valid(const char *s, size_t n)
{
	struct jp *p = calloc(1, sizeof(*p));
	bool ok;

	p->s = s;
	p->n = n;
	ok = jp_value(p, 0);
	jp_ws(p);
	ok = ok && p->i == n;
	free(p);
	return ok;
}

/* Decode one JSON string into out (at most cap bytes); its length or -1. */
static long json_decode_string(const char *s, char *out, size_t cap)
{
	struct jp *p = calloc(1, sizeof(*p));
	long r = -1;

	p->s = s;
	p->n = strlen(s);
	if (jp_string(p) && p->i == p->n && p->slen <= cap) {
		memcpy(out, p->str, p->slen);
		r = (long)p->slen;
	}
	free(p);
	return r;
}

/* ---- helpers ---------------------------------------------------------- */

static char buf[65536];

/* Write a string with jsonw alone at top level; returns buf. */
static const char *esc(const char *s, size_t n)
{
	struct jsonw w;

	jsonw_init(&w, buf, sizeof(buf));
	jsonw_strn(&w, s, n);
	ck_assert(!w.overflow);
	ck_assert_uint_eq(w.len, strlen(buf));
	return buf;
}

#define ESC(lit) esc(lit, sizeof(lit) - 1)

/* ---- value types, nesting, commas ------------------------------------- */

START_TEST(every_value_type)
{
	struct jsonw w;

	jsonw_init(&w, buf, sizeof(buf));
	jsonw_obj_begin(&w);
	jsonw_key(&w, "u");
	jsonw_u64(&w, 42);
	jsonw_key(&w, "umax");
	jsonw_u64(&w, UINT64_MAX);
	jsonw_key(&w, "zero");
	jsonw_u64(&w, 0);
	jsonw_key(&w, "i");
	jsonw_i64(&w, -7);
	jsonw_key(&w, "imin");
	jsonw_i64(&w, INT64_MIN);
	jsonw_key(&w, "imax");
	jsonw_i64(&w, INT64_MAX);
	jsonw_key(&w, "h");
	jsonw_hex(&w, 0x7f00dead000ull);
	jsonw_key(&w, "h0");
	jsonw_hex(&w, 0);
	jsonw_key(&w, "hmax");
	jsonw_hex(&w, UINT64_MAX);
	jsonw_key(&w, "s");
	jsonw_str(&w, "text");
	jsonw_key(&w, "sn");
	jsonw_strn(&w, "abcdef", 3);
	jsonw_key(&w, "empty");
	jsonw_str(&w, "");
	jsonw_key(&w, "t");
	jsonw_bool(&w, true);
	jsonw_key(&w, "f");
	jsonw_bool(&w, false);
	jsonw_key(&w, "n");
	jsonw_null(&w);
	jsonw_key(&w, "snull");
	jsonw_str(&w, NULL);
	jsonw_key(&w, "a");
	jsonw_arr_begin(&w);
	jsonw_arr_end(&w);
	jsonw_key(&w, "o");
	jsonw_obj_begin(&w);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	ck_assert(!w.overflow);
	ck_assert_int_eq(w.depth, 0);
	ck_assert_str_eq(buf,
		"{\"u\":42,\"umax\":18446744073709551615,\"zero\":0,"
		"\"i\":-7,\"imin\":-9223372036854775808,"
		"\"imax\":9223372036854775807,"
		"\"h\":\"0x7f00dead000\",\"h0\":\"0x0\","
		"\"hmax\":\"0xffffffffffffffff\",\"s\":\"text\",\"sn\":\"abc\","
		"\"empty\":\"\",\"t\":true,\"f\":false,\"n\":null,"
		"\"snull\":null,\"a\":[],\"o\":{}}");
	ck_assert_uint_eq(w.len, strlen(buf));
	ck_assert(json_valid(buf, w.len));
}
END_TEST

START_TEST(commas_and_nesting)
{
	struct jsonw w;

	/* [1,[2,3],{"k":[4,{}],"l":[[]]},5,[],"x"] */
	jsonw_init(&w, buf, sizeof(buf));
	jsonw_arr_begin(&w);
	jsonw_u64(&w, 1);
	jsonw_arr_begin(&w);
	jsonw_u64(&w, 2);
	jsonw_u64(&w, 3);
	jsonw_arr_end(&w);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "k");
	jsonw_arr_begin(&w);
	jsonw_u64(&w, 4);
	jsonw_obj_begin(&w);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	jsonw_key(&w, "l");
	jsonw_arr_begin(&w);
	jsonw_arr_begin(&w);
	jsonw_arr_end(&w);
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	jsonw_u64(&w, 5);
	jsonw_arr_begin(&w);
	jsonw_arr_end(&w);
	jsonw_str(&w, "x");
	jsonw_arr_end(&w);
	ck_assert(!w.overflow);
	ck_assert_str_eq(buf, "[1,[2,3],{\"k\":[4,{}],\"l\":[[]]},5,[],\"x\"]");
	ck_assert(json_valid(buf, w.len));

	/* A second document after reinit starts with no comma state. */
	jsonw_init(&w, buf, sizeof(buf));
	jsonw_obj_begin(&w);
	jsonw_key(&w, "a");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "b");
	jsonw_u64(&w, 1);
	jsonw_key(&w, "c");
	jsonw_u64(&w, 2);
	jsonw_obj_end(&w);
	jsonw_key(&w, "d");
	jsonw_u64(&w, 3);
	jsonw_obj_end(&w);
	ck_assert_str_eq(buf, "{\"a\":{\"b\":1,\"c\":2},\"d\":3}");
}
END_TEST

START_TEST(depth_64_and_beyond)
{
	struct jsonw w;
	int i;

	/* 64 nested arrays, each holding a number then the next array. */
	jsonw_init(&w, buf, sizeof(buf));
	for (i = 0; i < 64; i++) {
		jsonw_arr_begin(&w);
		jsonw_u64(&w, (uint64_t)i);
	}
	ck_assert(!w.overflow);
	ck_assert_int_eq(w.depth, 64);
	for (i = 0; i < 64; i++) {
		jsonw_u64(&w, 100);
		jsonw_arr_end(&w);
	}
	ck_assert(!w.overflow);
	ck_assert_int_eq(w.depth, 0);
	ck_assert(json_valid(buf, w.len));
	ck_assert(strncmp(buf, "[0,[1,[2,", 9) == 0);
	ck_assert(strstr(buf, "[63,100],100]") != NULL);

	/* A 65th level is refused. */
	jsonw_init(&w, buf, sizeof(buf));
	for (i = 0; i < 64; i++)
		jsonw_obj_begin(&w), jsonw_key(&w, "k");
	ck_assert(!w.overflow);
	jsonw_arr_begin(&w);
	ck_assert(w.overflow);
	ck_assert_uint_le(w.len, sizeof(buf) - 1);
}
END_TEST

START_TEST(misuse_sets_overflow)
{
	struct jsonw w;

	jsonw_init(&w, buf, sizeof(buf));
	jsonw_obj_end(&w);
	ck_assert(w.overflow);

	jsonw_init(&w, buf, sizeof(buf));
	jsonw_obj_begin(&w);
	jsonw_key(&w, "dangling");
	jsonw_obj_end(&w);
	ck_assert(w.overflow);

	jsonw_init(&w, buf, sizeof(buf));
	jsonw_obj_begin(&w);
	jsonw_key(&w, "a");
	jsonw_key(&w, "b");
	ck_assert(w.overflow);

	/* Nothing is written after the flag is set. */
	{
		size_t len = w.len;

		jsonw_str(&w, "more");
		jsonw_u64(&w, 1);
		ck_assert_uint_eq(w.len, len);
	}
}
END_TEST

/* ---- escaping --------------------------------------------------------- */

START_TEST(escape_control_characters)
{
	static const char *const want[32] = {
		"\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004",
		"\\u0005", "\\u0006", "\\u0007", "\\b", "\\t", "\\n",
		"\\u000b", "\\f", "\\r", "\\u000e", "\\u000f", "\\u0010",
		"\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015",
		"\\u0016", "\\u0017", "\\u0018", "\\u0019", "\\u001a",
		"\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
	};
	char in[3], expect[32], dec[8];
	int c;

	for (c = 0; c < 32; c++) {
		in[0] = 'a';
		in[1] = (char)c;
		in[2] = 'z';
		snprintf(expect, sizeof(expect), "\"a%sz\"", want[c]);
		ck_assert_str_eq(esc(in, 3), expect);
		ck_assert_int_eq(json_decode_string(buf, dec, sizeof(dec)), 3);
		ck_assert(memcmp(dec, in, 3) == 0);
	}
	ck_assert_str_eq(ESC("\x7f"), "\"\\u007f\"");
	ck_assert_str_eq(ESC("say \"hi\""), "\"say \\\"hi\\\"\"");
	ck_assert_str_eq(ESC("C:\\dir\\"), "\"C:\\\\dir\\\\\"");
	ck_assert_str_eq(ESC("a/b"), "\"a/b\"");
	ck_assert_str_eq(ESC("\"\\\""), "\"\\\"\\\\\\\"\"");

	/* Keys are escaped the same way. */
	{
		struct jsonw w;

		jsonw_init(&w, buf, sizeof(buf));
		jsonw_obj_begin(&w);
		jsonw_key(&w, "k\"\n");
		jsonw_u64(&w, 1);
		jsonw_obj_end(&w);
		ck_assert_str_eq(buf, "{\"k\\\"\\n\":1}");
	}
}
END_TEST

START_TEST(escape_utf8)
{
	/* Well-formed sequences pass through as they are. */
	ck_assert_str_eq(ESC("caf\xc3\xa9"), "\"caf\xc3\xa9\"");          /* é */
	ck_assert_str_eq(ESC("\xe2\x82\xac"), "\"\xe2\x82\xac\"");        /* € */
	ck_assert_str_eq(ESC("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\""); /* 😀 */
	ck_assert_str_eq(ESC("\xef\xbf\xbf"), "\"\xef\xbf\xbf\"");        /* U+FFFF */
	ck_assert_str_eq(ESC("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
	ck_assert_str_eq(ESC("\xed\x9f\xbf"), "\"\xed\x9f\xbf\"");        /* U+D7FF */
	ck_assert_str_eq(ESC("\xc2\x80"), "\"\xc2\x80\"");                /* U+0080 */

	/* Invalid bytes: one \ufffd per maximal invalid subpart. */
	ck_assert_str_eq(ESC("\x80"), "\"\\ufffd\"");            /* lone continuation */
	ck_assert_str_eq(ESC("a\xbf" "b"), "\"a\\ufffdb\"");
	ck_assert_str_eq(ESC("\xc0\x80"), "\"\\ufffd\\ufffd\""); /* overlong NUL */
	ck_assert_str_eq(ESC("\xc1\xbf"), "\"\\ufffd\\ufffd\"");
	ck_assert_str_eq(ESC("\xe0\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\""); /* overlong */
	ck_assert_str_eq(ESC("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
	ck_assert_str_eq(ESC("\xf4\x90\x80\x80"),
			 "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");          /* > U+10FFFF */
	ck_assert_str_eq(ESC("\xf5"), "\"\\ufffd\"");
	ck_assert_str_eq(ESC("\xff\xfe"), "\"\\ufffd\\ufffd\"");
	ck_assert_str_eq(ESC("\xe2\x82"), "\"\\ufffd\"");        /* cut at the end */
	ck_assert_str_eq(ESC("\xe2\x82" "A"), "\"\\ufffdA\"");   /* cut by ASCII */
	ck_assert_str_eq(ESC("\xf0\x9f\x98" "\xc3\xa9"), "\"\\ufffd\xc3\xa9\"");
	ck_assert_str_eq(ESC("\xc3"), "\"\\ufffd\"");
	ck_assert_str_eq(ESC("\xc3\xc3\xa9"), "\"\\ufffd\xc3\xa9\"");
}
END_TEST

/* ---- overflow --------------------------------------------------------- */

static void sample_doc(struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "tool");
	jsonw_str(w, "vmacheck");
	jsonw_key(w, "pid");
	jsonw_u64(w, 12345);
	jsonw_key(w, "argv");
	jsonw_arr_begin(w);
	jsonw_str(w, "/bin/prog");
	jsonw_str(w, "--x=\"y\"\n\x01\xff\xe2\x82\xac");
	jsonw_arr_end(w);
	jsonw_key(w, "findings");
	jsonw_arr_begin(w);
	jsonw_obj_begin(w);
	jsonw_key(w, "kind");
	jsonw_str(w, "leak");
	jsonw_key(w, "addr");
	jsonw_hex(w, 0x7f0012340000ull);
	jsonw_key(w, "status");
	jsonw_i64(w, -9);
	jsonw_key(w, "ok");
	jsonw_bool(w, false);
	jsonw_key(w, "none");
	jsonw_null(w);
	jsonw_obj_end(w);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

START_TEST(overflow_at_every_cap)
{
	enum { GUARD = 32 };
	char full[1024], *b;
	struct jsonw w;
	size_t len, cap, i;

	jsonw_init(&w, full, sizeof(full));
	sample_doc(&w);
	ck_assert(!w.overflow);
	len = w.len;
	ck_assert(json_valid(full, len));

	b = malloc(len + 1 + GUARD);
	for (cap = 0; cap <= len + 1; cap++) {
		memset(b, 0xa5, len + 1 + GUARD);
		jsonw_init(&w, b, cap);
		sample_doc(&w);
		for (i = cap; i < len + 1 + GUARD; i++)
			ck_assert_msg((unsigned char)b[i] == 0xa5,
				      "cap %zu: byte %zu written", cap, i);
		if (cap <= len) {
			ck_assert_msg(w.overflow, "cap %zu: no overflow", cap);
		} else {
			ck_assert_msg(!w.overflow, "cap %zu: overflow", cap);
			ck_assert_str_eq(b, full);
		}
		ck_assert_uint_le(w.len, cap ? cap - 1 : 0);
		if (cap) {
			/* A NUL-terminated prefix of the full document. */
			ck_assert_uint_eq(strlen(b), w.len);
			ck_assert(memcmp(b, full, w.len) == 0);
		}
	}
	free(b);
}
END_TEST

/* ---- round trip ------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void random_value(struct jsonw *w, int depth)
{
	unsigned k = (unsigned)(rnd() % (depth < 6 ? 9 : 7));
	char s[40];
	size_t n, i;

	switch (k) {
	case 0: jsonw_u64(w, rnd()); break;
	case 1: jsonw_i64(w, (int64_t)rnd()); break;
	case 2: jsonw_hex(w, rnd() >> (rnd() % 64)); break;
	case 3: jsonw_bool(w, rnd() & 1); break;
	case 4: jsonw_null(w); break;
	case 5:
	case 6:
		n = rnd() % sizeof(s);
		for (i = 0; i < n; i++)
			s[i] = (char)rnd();
		jsonw_strn(w, s, n);
		break;
	case 7:
		jsonw_arr_begin(w);
		for (i = rnd() % 5; i > 0; i--)
			random_value(w, depth + 1);
		jsonw_arr_end(w);
		break;
	case 8:
		jsonw_obj_begin(w);
		for (i = rnd() % 5; i > 0; i--) {
			n = rnd() % 8;
			for (size_t j = 0; j < n; j++)
				s[j] = (char)rnd();
			s[n] = '\0';
			jsonw_key(w, s);
			random_value(w, depth + 1);
		}
		jsonw_obj_end(w);
		break;
	}
}

START_TEST(round_trip_random_documents)
{
	struct jsonw w;
	int doc;

	for (doc = 0; doc < 2000; doc++) {
		jsonw_init(&w, buf, sizeof(buf));
		jsonw_arr_begin(&w);
		random_value(&w, 0);
		random_value(&w, 0);
		jsonw_arr_end(&w);
		ck_assert(!w.overflow);
		ck_assert_int_eq(w.depth, 0);
		ck_assert_msg(json_valid(buf, w.len), "doc %d invalid: %s", doc,
			      buf);
	}
}
END_TEST

START_TEST(round_trip_strings)
{
	char in[64], dec[512];
	int t;

	/* Valid UTF-8 (any mix of ASCII, controls, 2/3/4-byte sequences)
	 * decodes back to the same bytes. */
	for (t = 0; t < 5000; t++) {
		size_t n = 0;
		long got;

		while (n < sizeof(in) - 4) {
			uint32_t cp;

			switch (rnd() % 4) {
			case 0: cp = (uint32_t)(rnd() % 0x80); break;
			case 1: cp = 0x80 + (uint32_t)(rnd() % 0x780); break;
			case 2:
				cp = 0x800 + (uint32_t)(rnd() % 0xf800);
				if (cp >= 0xd800 && cp <= 0xdfff)
					cp = 0xfffd;
				break;
			default: cp = 0x10000 + (uint32_t)(rnd() % 0x100000); break;
			}
			if (cp < 0x80) {
				in[n++] = (char)cp;
			} else if (cp < 0x800) {
				in[n++] = (char)(0xc0 | cp >> 6);
				in[n++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				in[n++] = (char)(0xe0 | cp >> 12);
				in[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				in[n++] = (char)(0x80 | (cp & 0x3f));
			} else {
				in[n++] = (char)(0xf0 | cp >> 18);
				in[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
				in[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				in[n++] = (char)(0x80 | (cp & 0x3f));
			}
			if (rnd() % 8 == 0)
				break;
		}
		esc(in, n);
		got = json_decode_string(buf, dec, sizeof(dec));
		ck_assert_msg(got == (long)n, "string %d: %ld != %zu", t, got, n);
		ck_assert(memcmp(dec, in, n) == 0);
	}
	/* Random bytes always give a valid JSON string. */
	for (t = 0; t < 5000; t++) {
		size_t n = rnd() % sizeof(in), i;

		for (i = 0; i < n; i++)
			in[i] = (char)rnd();
		esc(in, n);
		ck_assert_msg(json_decode_string(buf, dec, sizeof(dec)) >= 0,
			      "bytes %d: %s", t, buf);
	}
}
END_TEST

static Suite *jsonw_suite(void)
{
	Suite *s = suite_create("jsonw");
	TCase *tc = tcase_create("jsonw");

	tcase_add_test(tc, every_value_type);
	tcase_add_test(tc, commas_and_nesting);
	tcase_add_test(tc, depth_64_and_beyond);
	tcase_add_test(tc, misuse_sets_overflow);
	tcase_add_test(tc, escape_control_characters);
	tcase_add_test(tc, escape_utf8);
	tcase_add_test(tc, overflow_at_every_cap);
	tcase_add_test(tc, round_trip_random_documents);
	tcase_add_test(tc, round_trip_strings);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jsonw_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
