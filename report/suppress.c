/*
 * suppress.c - suppressions, in the sanitizers' manner: a file of lines
 *
 *     kind:pattern        # e.g. leak:libjvm.so, fixed-clobber:*guard*
 *
 * where kind is a finding kind (or `*` for any) and pattern is matched
 * against the function, the source file and the module of every frame of
 * every stack of a finding.  The pattern matches anywhere in the string
 * (a substring) unless it starts with `^` (anchored at the start) or ends
 * with `$` (at the end); `*` matches any run of characters.  Blank lines
 * and lines starting with `#` are ignored.  A line that is not
 * `kind:pattern` with a known kind is a one-line error naming the file and
 * the line; the other lines still apply.  A suppressed finding leaves the
 * report and the exit status; the report lists each suppression used,
 * with how many findings and occurrences it took.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

struct supp_rule {
	char *kind;                /* "*" for any */
	char *pattern;
	char *text;                /* the line as written, trimmed */
	unsigned line;
	uint64_t findings, occurrences;
};

struct suppressions {
	char *path;
	struct supp_rule *v;
	size_t n, cap;
};

static const char *const known_kinds[] = {
	"leak", "leak-reachable", "fixed-clobber", "unmap-foreign",
	"double-unmap", "unmap-unmapped", "mprotect-unmapped",
	"mremap-invalid", "mremap-past-object", "wx-mapping",
	"map-count-pressure", "untracked-change", "shadow-divergence", "*",
};

static bool kind_known(const char *k)
{
	for (size_t i = 0; i < sizeof(known_kinds) / sizeof(known_kinds[0]); i++)
		if (!strcmp(k, known_kinds[i]))
			return true;
	return false;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
		     s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

void supp_free(struct suppressions *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].kind);
		free(s->v[i].pattern);
		free(s->v[i].text);
	}
	free(s->v);
	free(s->path);
	free(s);
}

int supp_load(struct suppressions **out, const char *path, FILE *diag)
{
	*out = NULL;
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		fprintf(diag, "vmacheck: %s: cannot read the suppressions: %s\n",
			path, strerror(e));
		return -e;
	}
	struct suppressions *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		fclose(f);
		return -ENOMEM;
	}
	char *buf = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int bad = 0;
	while (getline(&buf, &cap, f) >= 0) {
		lineno++;
		char *l = trim(buf);
		if (!*l || *l == '#')
			continue;
		char *colon = strchr(l, ':');
		if (colon)
			*colon = 0;
		char *kind = trim(l);
		char *pat = colon ? trim(colon + 1) : NULL;
		if (!colon || !*pat || !kind_known(kind)) {
			if (colon)
				*colon = ':';
			fprintf(diag,
				"vmacheck: %s:%u: not a suppression (kind:pattern "
				"with a finding kind or *): %s\n",
				path, lineno, l);
			bad = -EINVAL;
			continue;
		}
		if (s->n == s->cap) {
			size_t nc = s->cap ? s->cap * 2 : 16;
			struct supp_rule *v = realloc(s->v, nc * sizeof(*v));
			if (!v)
				break;
			s->v = v;
			s->cap = nc;
		}
		struct supp_rule *r = &s->v[s->n];
		*r = (struct supp_rule){ .kind = strdup(kind),
					 .pattern = strdup(pat),
					 .line = lineno };
		size_t tl = strlen(kind) + strlen(pat) + 2;
		r->text = malloc(tl);
		if (!r->kind || !r->pattern || !r->text) {
			free(r->kind);
			free(r->pattern);
			free(r->text);
			break;
		}
		snprintf(r->text, tl, "%s:%s", kind, pat);
		s->n++;
	}
	free(buf);
	fclose(f);
	*out = s;
	return bad;
}

/* '*' matches any run; p matches all of s. */
static bool glob_all(const char *p, const char *pe, const char *s,
		     const char *se)
{
	while (p < pe) {
		if (*p == '*') {
			while (p < pe && *p == '*')
				p++;
			if (p == pe)
				return true;
			for (const char *t = s; t <= se; t++)
				if (glob_all(p, pe, t, se))
					return true;
			return false;
		}
		if (s == se || *p != *s)
			return false;
		p++;
		s++;
	}
	return s == se;
}

/* The sanitizers' TemplateMatch: substring unless ^ or $ anchor it. */
bool supp_match(const char *pattern, const char *s)
{
	if (!s || !*s)
		return false;
	const char *p = pattern, *pe = pattern + strlen(pattern);
	bool start = false, end = false;
	if (*p == '^') {
		start = true;
		p++;
	}
	if (pe > p && pe[-1] == '$') {
		end = true;
		pe--;
	}
	size_t n = (size_t)(pe - p);
	char *q = malloc(n + 3);
	if (!q)
		return false;
	size_t k = 0;
	if (!start)
		q[k++] = '*';
	memcpy(q + k, p, n);
	k += n;
	if (!end)
		q[k++] = '*';
	bool m = glob_all(q, q + k, s, s + strlen(s));
	free(q);
	return m;
}

static bool finding_matches(const struct report *r,
			    const struct report_finding *f,
			    const struct supp_rule *rule)
{
	if (strcmp(rule->kind, "*") && strcmp(rule->kind, f->kind))
		return false;
	const struct json_value *stacks = json_get(f->obj, "stacks");
	if (!stacks || stacks->type != JSON_OBJECT)
		return false;
	for (const struct json_value *s = stacks->u.kids.first; s; s = s->next) {
		if (s->type != JSON_ARRAY)
			continue;
		for (const struct json_value *fr = s->u.kids.first; fr;
		     fr = fr->next) {
			struct report_frame v;
			report_frame_get(r, f->first, fr, &v);
			if (supp_match(rule->pattern, v.function) ||
			    supp_match(rule->pattern, v.file) ||
			    supp_match(rule->pattern, v.module))
				return true;
		}
	}
	return false;
}

void report_suppress(struct report *r, struct suppressions *s)
{
	r->supp = s;
	if (!s)
		return;
	r->errors = r->warnings = r->infos = 0;
	for (size_t i = 0; i < r->nfindings; i++) {
		struct report_finding *f = &r->findings[i];
		for (size_t k = 0; k < s->n && !f->suppressed; k++) {
			if (finding_matches(r, f, &s->v[k])) {
				f->suppressed = true;
				s->v[k].findings++;
				s->v[k].occurrences += f->count;
			}
		}
		if (f->suppressed)
			continue;
		if (f->severity == REPORT_ERROR)
			r->errors++;
		else if (f->severity == REPORT_WARNING)
			r->warnings++;
		else
			r->infos++;
	}
}

void supp_render_text(const struct report *r, FILE *out)
{
	const struct suppressions *s = r->supp;
	bool any = false;
	for (size_t k = 0; s && k < s->n; k++)
		any |= s->v[k].findings > 0;
	if (!any)
		return;
	fprintf(out, "vmacheck: suppressions used (%s):\n", s->path);
	fprintf(out, "  %8s %11s  %s\n", "findings", "occurrences",
		"suppression");
	for (size_t k = 0; k < s->n; k++)
		if (s->v[k].findings)
			fprintf(out, "  %8llu %11llu  %s (line %u)\n",
				(unsigned long long)s->v[k].findings,
				(unsigned long long)s->v[k].occurrences,
				s->v[k].text, s->v[k].line);
}

void supp_render_json(const struct report *r, struct jout *w)
{
	const struct suppressions *s = r->supp;
	jout_arr_begin(w);
	for (size_t k = 0; s && k < s->n; k++) {
		if (!s->v[k].findings)
			continue;
		jout_obj_begin(w);
		jout_key(w, "suppression");
		jout_str(w, s->v[k].text);
		jout_key(w, "file");
		jout_str(w, s->path);
		jout_key(w, "line");
		jout_u64(w, s->v[k].line);
		jout_key(w, "findings");
		jout_u64(w, s->v[k].findings);
		jout_key(w, "occurrences");
		jout_u64(w, s->v[k].occurrences);
		jout_obj_end(w);
	}
	jout_arr_end(w);
}
