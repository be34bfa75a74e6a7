/*
 * json.h - the command's JSON: a strict RFC 8259 parser into a tree, and a
 * writer into a growing buffer.  `vmacheck report` reads per-process
 * results and journal payloads with the parser and writes the merged
 * report with the writer.  Plain C with libc and malloc; not for the
 * preload (preload/jsonw.c is the writer that runs inside programs).
 *
 * Parser contract (json_parse):
 *   - input is the bytes [text, text + len); text need not be
 *     NUL-terminated and may hold NUL bytes (an error outside strings);
 *   - strict: one value, optionally surrounded by whitespace (space, tab,
 *     CR, LF); no comments, no trailing commas, no leading zeros, no BOM,
 *     no NaN/Infinity; strings must be valid UTF-8 (no overlong forms, no
 *     surrogate code points) without raw control characters; a \u escape
 *     of a surrogate must be a high-low pair; nesting at most
 *     JSON_MAX_DEPTH arrays/objects;
 *   - returns 0 and doc->root, or -EBADMSG with err->offset (the byte
 *     offset of the fault in text) and err->msg (one line, no offset, no
 *     newline), or -ENOMEM;
 *   - every string and number is copied into the document: the tree does
 *     not point into text, which may be freed after the call;
 *   - duplicate object keys are kept; json_get() finds the first.
 * The tree lives until json_doc_free() (which accepts a zeroed doc).
 *
 * Writer contract (struct jout): values are appended with commas placed
 * automatically; strings are escaped (quotes, backslashes, control
 * characters; invalid UTF-8 becomes \ufffd).  Allocation failure sets
 * `oom` and further output is dropped.  Nesting past JSON_MAX_DEPTH, an
 * end with nothing open, a key outside an object or a value where a key
 * is due set `bad`.  With pretty_depth N, the elements of containers
 * opened at depth < N start on a new line indented by two spaces per
 * level; deeper content stays on one line (pretty_depth 0: compact).
 */
#ifndef VMC_REPORT_JSON_H
#define VMC_REPORT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 256

enum json_type {
	JSON_NULL = 0,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

/* Number flags (json_value.num_flags). */
#define JSON_NUM_NEG 0x1    /* a leading '-' */
#define JSON_NUM_FRAC 0x2   /* a fraction part */
#define JSON_NUM_EXP 0x4    /* an exponent part */

struct json_value {
	uint8_t type;              /* enum json_type */
	uint8_t num_flags;         /* JSON_NUM_* for numbers */
	bool b;                    /* JSON_BOOL */
	uint32_t key_len;          /* member of an object: its name's length */
	size_t offset;             /* byte offset of the value in the text */
	const char *key;           /* member of an object: its name (decoded,
				    * NUL-terminated), else NULL */
	struct json_value *next;   /* next element or member of the parent */
	union {
		/* JSON_STRING: decoded UTF-8, NUL-terminated (len excludes
		 * the NUL; a \u0000 escape puts a NUL inside).
		 * JSON_NUMBER: the number's text as written. */
		struct {
			const char *s;
			size_t len;
		} str;
		/* JSON_ARRAY, JSON_OBJECT: elements or members in order. */
		struct {
			struct json_value *first;
			size_t n;
		} kids;
	} u;
};

struct json_chunk;

struct json_doc {
	const struct json_value *root;
	/* private: the arena holding the tree */
	struct json_chunk *chunks;
	size_t next_chunk;
};

struct json_error {
	size_t offset;
	char msg[128];
};

int json_parse(struct json_doc *doc, const char *text, size_t len,
	       struct json_error *err);
void json_doc_free(struct json_doc *doc);

/* The member `key` of obj (the first if repeated); NULL when obj is NULL,
 * not an object, or has no such member. */
const struct json_value *json_get(const struct json_value *obj,
				  const char *key);
/* v's string (NUL-terminated), or NULL when v is NULL or not a string. */
const char *json_str(const struct json_value *v);
/* An integer (no fraction, no exponent) that fits: 0 and *out, else
 * -ERANGE for an integer out of range, -EINVAL for anything else. */
int json_u64(const struct json_value *v, uint64_t *out);
int json_i64(const struct json_value *v, int64_t *out);
/* Any number as a double (strtod: may be +-HUGE_VAL or 0 for extremes):
 * 0, or -EINVAL when v is not a number. */
int json_double(const struct json_value *v, double *out);
/* "null", "bool", "number", "string", "array", "object". */
const char *json_type_name(int type);

/* Length (2-4) of the valid UTF-8 sequence of a non-ASCII lead byte at
 * s (n bytes available), or 0 when it is not valid UTF-8. */
size_t json_utf8_seq(const unsigned char *s, size_t n);

/* ---- the writer ------------------------------------------------------ */

struct jout {
	char *buf;                 /* NUL-terminated when !oom and cap > 0 */
	size_t len, cap;
	bool oom, bad;
	unsigned depth;
	unsigned pretty_depth;
	bool after_key;
	unsigned char has_elem[JSON_MAX_DEPTH + 1];
	unsigned char is_obj[JSON_MAX_DEPTH + 1];
};

void jout_init(struct jout *w, unsigned pretty_depth);
void jout_free(struct jout *w);
void jout_obj_begin(struct jout *w);
void jout_obj_end(struct jout *w);
void jout_arr_begin(struct jout *w);
void jout_arr_end(struct jout *w);
void jout_key(struct jout *w, const char *key);
void jout_keyn(struct jout *w, const char *key, size_t n);
void jout_str(struct jout *w, const char *s);   /* NULL writes null */
void jout_strn(struct jout *w, const char *s, size_t n);
void jout_u64(struct jout *w, uint64_t v);
void jout_i64(struct jout *w, int64_t v);
void jout_hex(struct jout *w, uint64_t v);      /* "0x..." as a string */
void jout_bool(struct jout *w, bool v);
void jout_null(struct jout *w);
/* A parsed value, written again (numbers as they were written); NULL
 * writes null. */
void jout_value(struct jout *w, const struct json_value *v);
/* Raw bytes appended as they are (no comma, no check). */
void jout_raw(struct jout *w, const char *s, size_t n);
/* Is the output a complete document? (!oom, !bad, nothing open) */
bool jout_ok(const struct jout *w);

#endif
