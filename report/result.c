/*
 * result.c - finding, loading, rebuilding and merging the per-process
 * results of a run, and rendering them (contracts in result.h).
 *
 * Flow: report_add_path() notes candidate files (one entry per file);
 * report_load() sorts them by (directory, pid), pairs each process's JSON
 * result with its journal, loads every process (JSON first; the journal
 * when the JSON is missing or unusable), and merges the findings through
 * a hash table keyed by finding_key().  A rebuilt process goes through
 * the same path as a JSON one: report_rebuild() writes the result the
 * process would have written, which is then parsed and checked like any
 * other, so there is one reader of the per-process format.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "result.h"

/* ---- severities -------------------------------------------------------- */

static const struct {
	const char *kind;
	enum report_severity sev;
} kind_table[] = {
	{ "leak", REPORT_ERROR },
	{ "leak-reachable", REPORT_INFO },
	{ "fixed-clobber", REPORT_ERROR },
	{ "unmap-foreign", REPORT_ERROR },
	{ "double-unmap", REPORT_ERROR },
	{ "unmap-unmapped", REPORT_WARNING },
	{ "mprotect-unmapped", REPORT_WARNING },
	{ "mremap-invalid", REPORT_WARNING },
	{ "mremap-past-object", REPORT_WARNING },
	{ "wx-mapping", REPORT_WARNING },
	{ "map-count-pressure", REPORT_WARNING },
	{ "untracked-change", REPORT_WARNING },
	{ "shadow-divergence", REPORT_ERROR },
};

const char *report_severity_name(enum report_severity s)
{
	return s == REPORT_ERROR ? "error" : s == REPORT_WARNING ? "warning"
								 : "info";
}

int report_severity_parse(const char *name)
{
	if (!name)
		return -1;
	if (!strcmp(name, "error"))
		return REPORT_ERROR;
	if (!strcmp(name, "warning"))
		return REPORT_WARNING;
	if (!strcmp(name, "info"))
		return REPORT_INFO;
	return -1;
}

static int known_kind_severity(const char *kind)
{
	for (size_t i = 0; i < sizeof(kind_table) / sizeof(kind_table[0]); i++)
		if (!strcmp(kind, kind_table[i].kind))
			return kind_table[i].sev;
	return -1;
}

enum report_severity report_kind_severity(const char *kind)
{
	int s = known_kind_severity(kind);
	return s >= 0 ? (enum report_severity)s : REPORT_WARNING;
}

/* A finding's severity: by its kind (the table is the policy, whatever
 * the process wrote); a kind not in the table keeps the severity it came
 * with, else warning. */
static enum report_severity finding_severity(const struct json_value *f)
{
	int s = known_kind_severity(json_str(json_get(f, "kind")));
	if (s < 0)
		s = report_severity_parse(json_str(json_get(f, "severity")));
	return s >= 0 ? (enum report_severity)s : REPORT_WARNING;
}

/* ---- small helpers ------------------------------------------------------ */

struct report_entry {
	const char *dir;           /* interned; NULL: a file of another name */
	uint64_t pid;
	uint64_t image;            /* 0: the last image of pid; k: the k-th
				    * image an exec replaced */
	size_t seq;                /* order of noting */
	char *json, *journal;      /* paths, either may be NULL */
	char *other;               /* a file of another name */
};

static void *grow(void *arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return arr;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *p = realloc(arr, c * elem);
	if (p)
		*cap = c;
	return p;
}

static void bad_file(struct report *r, const char *path, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));

/* One line on r->diag, "vmacheck: <message>", and an entry in r->bad.
 * fmt makes the message; path is what it names (for r->bad). */
static void bad_file(struct report *r, const char *path, const char *fmt,
		     ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *c = msg; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	if (r->diag)
		fprintf(r->diag, "vmacheck: %s\n", msg);
	struct report_bad *b = grow(r->bad, &r->bad_cap, r->nbad + 1,
				    sizeof(*b));
	if (!b)
		return;
	r->bad = b;
	b[r->nbad].path = strdup(path);
	b[r->nbad].message = strdup(msg);
	r->nbad++;
}

/* "vmacheck.<pid>[.<image>].json" or ".journal": 1 json, 2 journal, 0
 * neither.  The image number names what an exec replaced (the preload
 * renames the replaced image's journal so). */
static int result_name(const char *name, uint64_t *pid, uint64_t *image)
{
	static const char pre[] = "vmacheck.";
	const char *s;
	uint64_t v = 0;

	if (strncmp(name, pre, sizeof(pre) - 1))
		return 0;
	s = name + sizeof(pre) - 1;
	if (*s < '0' || *s > '9')
		return 0;
	while (*s >= '0' && *s <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return 0;
		s++;
	}
	*pid = v;
	*image = 0;
	if (s[0] == '.' && s[1] >= '0' && s[1] <= '9') {
		uint64_t k = 0;
		s++;
		while (*s >= '0' && *s <= '9') {
			if (__builtin_mul_overflow(k, 10, &k) ||
			    __builtin_add_overflow(k, (uint64_t)(*s - '0'), &k))
				return 0;
			s++;
		}
		*image = k;
	}
	if (!strcmp(s, ".json"))
		return 1;
	if (!strcmp(s, ".journal"))
		return 2;
	return 0;
}

/* ---- noting files -------------------------------------------------------- */

void report_init(struct report *r)
{
	memset(r, 0, sizeof(*r));
	r->diag = stderr;
}

static const char *intern_dir(struct report *r, const char *dir, size_t n)
{
	while (n > 1 && dir[n - 1] == '/')
		n--;
	for (size_t i = r->ndirs; i-- > 0;)
		if (strlen(r->dirs[i]) == n && !memcmp(r->dirs[i], dir, n))
			return r->dirs[i];
	char **d = grow(r->dirs, &r->dirs_cap, r->ndirs + 1, sizeof(*d));
	if (!d)
		return NULL;
	r->dirs = d;
	char *s = strndup(dir, n);
	if (!s)
		return NULL;
	d[r->ndirs++] = s;
	return s;
}

static int add_entry(struct report *r, const char *dir, uint64_t pid,
		     uint64_t image, int kind, const char *path)
{
	struct report_entry *e = grow(r->entries, &r->entries_cap,
				      r->nentries + 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	r->entries = e;
	e += r->nentries;
	memset(e, 0, sizeof(*e));
	e->dir = dir;
	e->pid = pid;
	e->image = image;
	e->seq = r->nentries;
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	if (kind == 1)
		e->json = p;
	else if (kind == 2)
		e->journal = p;
	else
		e->other = p;
	r->nentries++;
	return 0;
}

static int add_dir(struct report *r, const char *path, int depth)
{
	DIR *d = opendir(path);
	struct dirent *de;
	const char *dir;
	size_t plen = strlen(path);
	int ret = 0;

	if (!d) {
		int e = errno;
		bad_file(r, path, "%s: %s", path, strerror(e));
		return -e;
	}
	dir = intern_dir(r, path, plen);
	if (!dir) {
		closedir(d);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		uint64_t pid, image;
		int kind;

		if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
			continue;
		kind = result_name(name, &pid, &image);
		if (!kind && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		size_t n = strlen(name);
		char *full = malloc(plen + n + 2);
		if (!full) {
			ret = -ENOMEM;
			break;
		}
		memcpy(full, path, plen);
		full[plen] = '/';
		memcpy(full + plen + 1, name, n + 1);
		struct stat st;
		bool have_st = false;
		if (!kind || r->skip) {
			if (lstat(full, &st) < 0) {
				free(full);
				continue;    /* vanished meanwhile */
			}
			have_st = true;
		}
		if (!kind) {
			if (have_st && S_ISDIR(st.st_mode) && depth < 64) {
				int k = add_dir(r, full, depth + 1);
				if (k == -ENOMEM)
					ret = k;
			}
		} else if (!r->skip || !r->skip(full, &st, r->skip_ctx)) {
			if (add_entry(r, dir, pid, image, kind, full))
				ret = -ENOMEM;
		}
		free(full);
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}

int report_add_path(struct report *r, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int e = errno;
		bad_file(r, path, "%s: %s", path, strerror(e));
		return -e;
	}
	if (S_ISDIR(st.st_mode))
		return add_dir(r, path, 0);
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	uint64_t pid, image;
	int kind = result_name(name, &pid, &image);
	if (!kind)
		return add_entry(r, NULL, 0, 0, 0, path);
	const char *dir = slash ? intern_dir(r, path, (size_t)(slash - path)
						      ? (size_t)(slash - path)
						      : 1)
				: intern_dir(r, ".", 1);
	if (!dir)
		return -ENOMEM;
	return add_entry(r, dir, pid, image, kind, path);
}

/* ---- loading a process ------------------------------------------------- */

/* Fill p from the per-process result root; NULL or the reason it is not
 * one, with *at the offset to name. */
static const char *fill_process(struct report_process *p,
				const struct json_value *root, size_t *at)
{
	const struct json_value *v;

	*at = root->offset;
	if (root->type != JSON_OBJECT)
		return "not a vmacheck result (the document is not an object)";
	v = json_get(root, "tool");
	if (!json_str(v) || strcmp(json_str(v), "vmacheck")) {
		if (v)
			*at = v->offset;
		return "not a vmacheck result (no \"tool\":\"vmacheck\")";
	}
	v = json_get(root, "pid");
	if (!v) {
		if (json_get(root, "processes"))
			return "a merged report, not a per-process result";
		return "not a vmacheck result (no \"pid\")";
	}
	*at = v->offset;
	if (json_u64(v, &p->pid))
		return "\"pid\" is not a non-negative integer";
	v = json_get(root, "ppid");
	if (v && v->type != JSON_NULL && json_u64(v, &p->ppid)) {
		*at = v->offset;
		return "\"ppid\" is not a non-negative integer";
	}
	v = json_get(root, "exe");
	if (v && v->type != JSON_NULL && v->type != JSON_STRING) {
		*at = v->offset;
		return "\"exe\" is not a string";
	}
	p->exe = json_str(v);
	v = json_get(root, "argv");
	if (v && v->type != JSON_NULL) {
		*at = v->offset;
		if (v->type != JSON_ARRAY)
			return "\"argv\" is not an array";
		for (const struct json_value *a = v->u.kids.first; a;
		     a = a->next)
			if (a->type != JSON_STRING) {
				*at = a->offset;
				return "\"argv\" holds something other than "
				       "strings";
			}
		p->argv = v;
	}
	v = json_get(root, "ended");
	p->ended = "exit";
	if (v) {
		*at = v->offset;
		if (!json_str(v))
			return "\"ended\" is not a string";
		p->ended = json_str(v);
	}
	v = json_get(root, "status");
	if (v && v->type != JSON_NULL) {
		*at = v->offset;
		if (json_i64(v, &p->status))
			return "\"status\" is not an integer";
		p->has_status = true;
	}
	v = json_get(root, "stats");
	if (v && v->type != JSON_NULL) {
		*at = v->offset;
		if (v->type != JSON_OBJECT)
			return "\"stats\" is not an object";
		p->stats = v;
	}
	v = json_get(root, "findings");
	if (v && v->type != JSON_NULL) {
		*at = v->offset;
		if (v->type != JSON_ARRAY)
			return "\"findings\" is not an array";
		for (const struct json_value *f = v->u.kids.first; f;
		     f = f->next) {
			const struct json_value *k;
			uint64_t count;

			*at = f->offset;
			if (f->type != JSON_OBJECT)
				return "a finding is not an object";
			if (!json_str(json_get(f, "kind")))
				return "a finding has no \"kind\" string";
			k = json_get(f, "message");
			if (k && k->type != JSON_NULL && !json_str(k)) {
				*at = k->offset;
				return "a finding's \"message\" is not a "
				       "string";
			}
			k = json_get(f, "count");
			if (k && json_u64(k, &count)) {
				*at = k->offset;
				return "a finding's \"count\" is not a "
				       "non-negative integer";
			}
			k = json_get(f, "stacks");
			if (k && k->type != JSON_NULL &&
			    k->type != JSON_OBJECT) {
				*at = k->offset;
				return "a finding's \"stacks\" is not an "
				       "object";
			}
		}
		p->findings = v;
	}
	v = json_get(root, "modules");
	if (v && v->type == JSON_ARRAY)
		p->modules = v;
	v = json_get(root, "sites");
	if (v && v->type == JSON_ARRAY)
		p->sites = v;
	return NULL;
}

/* Parse text as p's result.  0, or -EBADMSG after a bad_file() line. */
static int load_text(struct report *r, struct report_process *p,
		     const char *path, const char *text, size_t len,
		     const char *what)
{
	struct json_error err;
	const char *why;
	size_t at;
	int k = json_parse(&p->doc, text, len, &err);

	if (k == -ENOMEM)
		return k;
	if (k) {
		bad_file(r, path, "%s: %s%s (offset %zu)", path, what, err.msg,
			 err.offset);
		return k;
	}
	why = fill_process(p, p->doc.root, &at);
	if (why) {
		bad_file(r, path, "%s: %s (offset %zu)", path, why, at);
		json_doc_free(&p->doc);
		memset(p, 0, sizeof(*p));
		return -EBADMSG;
	}
	return 0;
}

static int load_json(struct report *r, struct report_process *p,
		     const char *path)
{
	char *text = NULL;
	size_t len = 0;
	int k = vmcj_slurp(path, &text, &len);

	if (k) {
		bad_file(r, path, "%s: %s", path, strerror(-k));
		return k;
	}
	k = load_text(r, p, path, text, len, len ? "bad JSON: " : "");
	free(text);
	return k;
}

/* Is the journal cut inside a record (not merely never closed)? */
static bool journal_cut(const char *path, const struct vmcj *j)
{
	unsigned char b[4];
	int fd;
	ssize_t n;

	if (!j->truncated || j->end >= j->file_size)
		return false;
	if (j->file_size - j->end < VMCJ_REC_HEADER)
		return true;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = pread(fd, b, sizeof(b), (off_t)j->end);
	close(fd);
	return n == 4 && (b[0] | b[1] | b[2] | b[3]);
}

static int load_journal(struct report *r, struct report_process *p,
			const char *path)
{
	struct vmcj j;
	struct jout w;
	char err[1024];
	int k = vmcj_read(path, &j, err, sizeof(err));

	if (k) {
		if (k == -ENOMEM)
			return k;
		bad_file(r, path, "%s", err);
		return k;
	}
	if (journal_cut(path, &j))
		bad_file(r, path, "%s: journal cut short inside a record "
			 "(offset %llu); rebuilt from the records before it",
			 path, (unsigned long long)j.end);
	jout_init(&w, 0);
	k = report_rebuild(&j, path, &w, err, sizeof(err));
	if (k == 1)
		bad_file(r, path, "%s", err);
	p->incomplete = j.incomplete;
	vmcj_free(&j);
	if (k < 0 || w.oom) {
		jout_free(&w);
		return -ENOMEM;
	}
	k = load_text(r, p, path, w.buf, w.len, "rebuilt result: ");
	jout_free(&w);
	if (!k)
		p->rebuilt = true;
	return k;
}

/* The JSON result has no argv (the preload does not write it yet): take
 * it from the journal's PROCESS record. */
static void argv_from_journal(struct report *r, struct report_process *p)
{
	struct vmcj j;
	char err[1024];

	if (vmcj_read(p->journal, &j, err, sizeof(err))) {
		bad_file(r, p->journal, "%s", err);
		return;
	}
	for (size_t i = 0; i < j.nrecs; i++) {
		const struct vmcj_record *rec = &j.recs[i];
		if (rec->type != VMCJ_PROCESS)
			continue;
		if (!json_parse(&p->aux, rec->payload, rec->len, NULL)) {
			const struct json_value *a =
				json_get(p->aux.root, "argv");
			bool ok = a && a->type == JSON_ARRAY;
			for (const struct json_value *s = ok ? a->u.kids.first
							     : NULL;
			     s; s = s->next)
				ok = ok && s->type == JSON_STRING;
			if (ok)
				p->argv = a;
			if (!p->exe)
				p->exe = json_str(json_get(p->aux.root,
							   "exe"));
		}
		break;
	}
	vmcj_free(&j);
}

/* ---- merging ------------------------------------------------------------- */

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void key_value(struct jout *k, const struct json_value *v)
{
	if (!v)
		return;
	if (v->type == JSON_STRING || v->type == JSON_NUMBER)
		jout_raw(k, v->u.str.s, v->u.str.len);
	else {
		struct jout t;
		jout_init(&t, 0);
		jout_value(&t, v);
		if (t.buf)
			jout_raw(k, t.buf, t.len);
		jout_free(&t);
	}
}

/* One frame: module+offset when both are known (the same code in every
 * process, whatever the load address), else the ip, else the frame. */
static void key_frame(struct jout *k, const struct json_value *f)
{
	const struct json_value *mod = json_get(f, "module");
	const struct json_value *off = json_get(f, "offset");

	if (mod && off) {
		key_value(k, mod);
		jout_raw(k, "+", 1);
		key_value(k, off);
	} else if (json_get(f, "ip")) {
		key_value(k, json_get(f, "ip"));
	} else {
		key_value(k, f);
	}
}

static int cmp_member(const void *a, const void *b)
{
	const struct json_value *x = *(const struct json_value *const *)a;
	const struct json_value *y = *(const struct json_value *const *)b;
	return strcmp(x->key, y->key);
}

/* The stacks, in key order, when at least one has a frame. */
static bool key_stacks(struct jout *k, const struct json_value *stacks)
{
	const struct json_value *m, *one[16], **mem = one;
	size_t n = 0;

	if (!stacks || stacks->type != JSON_OBJECT)
		return false;
	if (stacks->u.kids.n > 16) {
		mem = malloc(stacks->u.kids.n * sizeof(*mem));
		if (!mem)
			return false;
	}
	for (m = stacks->u.kids.first; m; m = m->next)
		if (m->type == JSON_ARRAY && m->u.kids.n)
			mem[n++] = m;
	qsort(mem, n, sizeof(*mem), cmp_member);
	for (size_t i = 0; i < n; i++) {
		jout_raw(k, mem[i]->key, mem[i]->key_len);
		jout_raw(k, ":", 1);
		for (const struct json_value *f = mem[i]->u.kids.first; f;
		     f = f->next) {
			key_frame(k, f);
			jout_raw(k, ";", 1);
		}
		jout_raw(k, "|", 1);
	}
	if (mem != one)
		free(mem);
	return n > 0;
}

/* The dedup key of finding f: kind, then its stacks, or its message when
 * it has no stacks.  (Issue 4: symbolized frames may key on function.) */
static void finding_key(struct jout *k, const char *kind,
			const struct json_value *f)
{
	jout_raw(k, kind, strlen(kind));
	jout_raw(k, "\0", 1);
	const struct json_value *st = json_get(f, "stacks");
	/* A change the kernel reported (a uffd event) has no operation
	 * stack: an unmap and a move of the same pages stay apart. */
	bool by_event = !strcmp(kind, "untracked-change") &&
			!json_get(st, "operation");
	if (key_stacks(k, st) && !by_event)
		return;
	jout_raw(k, "\1", 1);
	key_value(k, json_get(f, "message"));
}

static int rehash(struct report *r)
{
	size_t n = r->nslots ? r->nslots * 2 : 1024;
	uint32_t *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < r->nfindings; i++) {
		size_t h = (size_t)r->findings[i].hash & (n - 1);
		while (s[h])
			h = (h + 1) & (n - 1);
		s[h] = (uint32_t)(i + 1);
	}
	free(r->slots);
	r->slots = s;
	r->nslots = n;
	return 0;
}

static int add_pid(struct report_finding *f, uint64_t pid)
{
	if (f->npids && f->pids[f->npids - 1] == pid)
		return 0;
	uint64_t *p = grow(f->pids, &f->pids_cap, f->npids + 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	f->pids = p;
	p[f->npids++] = pid;
	return 0;
}

static int merge_finding(struct report *r, const struct report_process *p,
			 const struct json_value *obj, struct jout *key)
{
	const char *kind = json_str(json_get(obj, "kind"));
	enum report_severity sev = finding_severity(obj);
	uint64_t count = 1;
	struct report_finding *f;

	json_u64(json_get(obj, "count"), &count);
	key->len = 0;
	finding_key(key, kind, obj);
	if (key->oom)
		return -ENOMEM;
	uint64_t h = fnv1a(key->buf, key->len);
	if ((r->nfindings + 1) * 2 > r->nslots && rehash(r))
		return -ENOMEM;
	size_t slot = (size_t)h & (r->nslots - 1);
	for (; r->slots[slot]; slot = (slot + 1) & (r->nslots - 1)) {
		f = &r->findings[r->slots[slot] - 1];
		if (f->hash == h && f->key_len == key->len &&
		    !memcmp(f->key, key->buf, key->len)) {
			f->count += count;
			if (sev > f->severity)
				f->severity = sev;
			return add_pid(f, p->pid);
		}
	}
	f = grow(r->findings, &r->findings_cap, r->nfindings + 1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	r->findings = f;
	f += r->nfindings;
	memset(f, 0, sizeof(*f));
	f->obj = obj;
	f->kind = kind;
	f->message = json_str(json_get(obj, "message"));
	f->severity = sev;
	f->count = count;
	f->first = p;
	f->hash = h;
	f->key = malloc(key->len);
	if (!f->key)
		return -ENOMEM;
	memcpy(f->key, key->buf, key->len);
	f->key_len = key->len;
	r->slots[slot] = (uint32_t)(r->nfindings + 1);
	r->nfindings++;
	return add_pid(f, p->pid);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct report_entry *x = a, *y = b;

	if (!x->dir != !y->dir)
		return x->dir ? -1 : 1;
	if (x->dir && x->dir != y->dir) {
		int c = strcmp(x->dir, y->dir);
		if (c)
			return c;
	}
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	/* Replaced images first, in order, the last one (0) at the end. */
	if (x->image != y->image)
		return (x->image ? x->image : UINT64_MAX) <
				       (y->image ? y->image : UINT64_MAX)
			       ? -1
			       : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort the entries and fold each process's JSON and journal into one. */
static void pair_entries(struct report *r)
{
	size_t out = 0;

	if (!r->nentries)
		return;
	qsort(r->entries, r->nentries, sizeof(*r->entries), cmp_entry);
	for (size_t i = 0; i < r->nentries; i++) {
		struct report_entry *e = &r->entries[i];
		struct report_entry *o = out ? &r->entries[out - 1] : NULL;

		if (o && e->dir && o->dir == e->dir && o->pid == e->pid &&
		    o->image == e->image) {
			/* The same process: take the file it lacks. */
			char **slot = e->json ? &o->json : &o->journal;
			char *path = e->json ? e->json : e->journal;
			if (!*slot)
				*slot = path;
			else
				free(path);  /* named twice */
			continue;
		}
		r->entries[out++] = *e;
	}
	r->nentries = out;
}

static bool sniff_journal(const char *path)
{
	char b[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, b, sizeof(b));
	close(fd);
	return n == 8 && !memcmp(b, VMCJ_MAGIC, 8);
}

/* Load one process from its entry; NULL when there is nothing to show
 * (*err then says whether it is for want of memory). */
static struct report_process *load_entry(struct report *r,
					 struct report_entry *e, int *err)
{
	struct report_process *p = calloc(1, sizeof(*p));
	int k = -ENOENT;

	*err = 0;
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	if (e->other) {
		if (sniff_journal(e->other))
			e->journal = e->other;
		else
			e->json = e->other;
		e->other = NULL;
	}
	if (e->json) {
		k = load_json(r, p, e->json);
		if (!k) {
			p->path = e->json;
			e->json = NULL;
		}
	}
	if (k && k != -ENOMEM && e->journal) {
		/* No JSON, or an unusable one: what the journal says. */
		k = load_journal(r, p, e->journal);
		if (!k && !(p->path = strdup(e->journal)))
			k = -ENOMEM;
	}
	if (k) {
		*err = k == -ENOMEM ? k : 0;
		json_doc_free(&p->doc);
		free(p);
		return NULL;
	}
	p->journal = e->journal;
	e->journal = NULL;
	if (!p->rebuilt && !p->argv && p->journal)
		argv_from_journal(r, p);
	return p;
}

int report_load(struct report *r)
{
	struct jout key;
	int ret = 0;

	pair_entries(r);
	jout_init(&key, 0);
	for (size_t i = 0; i < r->nentries && !ret; i++) {
		int err;
		struct report_process *p = load_entry(r, &r->entries[i], &err);

		if (err)
			ret = err;
		if (!p)
			continue;
		struct report_process **a = grow(r->procs, &r->procs_cap,
						 r->nprocs + 1, sizeof(*a));
		if (!a) {
			ret = -ENOMEM;
			break;
		}
		r->procs = a;
		a[r->nprocs++] = p;
		const struct json_value *f;
		for (f = p->findings ? p->findings->u.kids.first : NULL; f;
		     f = f->next)
			if ((ret = merge_finding(r, p, f, &key)))
				break;
	}
	jout_free(&key);
	for (size_t i = 0; i < r->nfindings; i++) {
		struct report_finding *f = &r->findings[i];
		size_t n = 0;

		qsort(f->pids, f->npids, sizeof(*f->pids), cmp_u64);
		for (size_t k = 0; k < f->npids; k++)
			if (!n || f->pids[n - 1] != f->pids[k])
				f->pids[n++] = f->pids[k];
		f->npids = n;
		if (f->severity == REPORT_ERROR)
			r->errors++;
		else if (f->severity == REPORT_WARNING)
			r->warnings++;
		else
			r->infos++;
	}
	return ret;
}

void report_note_wait(struct report *r, uint64_t pid, int wstatus)
{
	/* The last image of pid (an exec's replaced images come first). */
	for (size_t i = r->nprocs; i-- > 0;)
		if (r->procs[i]->pid == pid) {
			r->procs[i]->waited = true;
			r->procs[i]->wstatus = wstatus;
			return;
		}
}

void report_free(struct report *r)
{
	symbolizer_free(r->sym);
	r->sym = NULL;
	supp_free(r->supp);
	r->supp = NULL;
	for (size_t i = 0; i < r->nprocs; i++) {
		struct report_process *p = r->procs[i];
		json_doc_free(&p->doc);
		json_doc_free(&p->aux);
		free(p->path);
		free(p->journal);
		free(p);
	}
	free(r->procs);
	for (size_t i = 0; i < r->nfindings; i++) {
		free(r->findings[i].pids);
		free(r->findings[i].key);
	}
	free(r->findings);
	for (size_t i = 0; i < r->nbad; i++) {
		free(r->bad[i].path);
		free(r->bad[i].message);
	}
	free(r->bad);
	for (size_t i = 0; i < r->nentries; i++) {
		free(r->entries[i].json);
		free(r->entries[i].journal);
		free(r->entries[i].other);
	}
	free(r->entries);
	for (size_t i = 0; i < r->ndirs; i++)
		free(r->dirs[i]);
	free(r->dirs);
	free(r->slots);
	FILE *diag = r->diag;
	memset(r, 0, sizeof(*r));
	r->diag = diag;
}

/* ---- rebuilding from a journal ------------------------------------------ */

/* = call_name in preload/runtime.c, indexed by enum shadow_call. */
static const char *const call_names[] = {
	NULL, "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock",
	"munlock", "brk", "shmat",
};
#define NCALL_NAMES (sizeof(call_names) / sizeof(call_names[0]))
#define MAX_CALL_KIND 64

struct rebuild_stack {
	uint32_t id, n;
	const unsigned char *ips;  /* n little-endian u64, in the journal */
};

struct rebuild_module {
	const char *path;
	uint64_t base, start, end; /* end exclusive */
	const struct json_value *obj;
};

struct rebuild_state {
	const char *path;
	char *err;
	size_t errlen;
	int bad;
	struct rebuild_stack *stacks;
	size_t nstacks, stacks_cap;
	bool stacks_sorted;
	struct rebuild_module *mods;
	size_t nmods, mods_cap;
};

static uint64_t hex_u64(const struct json_value *v)
{
	const char *s = json_str(v);
	uint64_t x;

	if (s)
		return strtoull(s, NULL, 16);
	return json_u64(v, &x) ? 0 : x;
}

static int cmp_stack(const void *a, const void *b)
{
	uint32_t x = ((const struct rebuild_stack *)a)->id;
	uint32_t y = ((const struct rebuild_stack *)b)->id;
	return x < y ? -1 : x > y;
}

static const struct rebuild_module *module_of(const struct rebuild_state *s,
					      uint64_t ip)
{
	for (size_t i = s->nmods; i-- > 0;)   /* the latest map first */
		if (s->mods[i].start <= ip && ip < s->mods[i].end)
			return &s->mods[i];
	return NULL;
}

static bool is_tool_module(const char *path)
{
	const char *b = path ? strrchr(path, '/') : NULL;
	b = b ? b + 1 : path;
	return b && !strcmp(b, "libvmacheck.so");
}

/* Stack id as frames (an unknown id: no frames). */
static void write_stack_id(struct jout *w, struct rebuild_state *s,
			   uint64_t id)
{
	struct rebuild_stack key = { .id = (uint32_t)id }, *st = NULL;

	if (!s->stacks_sorted && s->nstacks) {
		qsort(s->stacks, s->nstacks, sizeof(*s->stacks), cmp_stack);
		s->stacks_sorted = true;
	}
	if (s->nstacks && id <= UINT32_MAX)
		st = bsearch(&key, s->stacks, s->nstacks, sizeof(*s->stacks),
			     cmp_stack);
	jout_arr_begin(w);
	bool lead = true;
	for (uint32_t i = 0; st && i < st->n; i++) {
		uint64_t ip = 0;
		for (int b = 7; b >= 0; b--)
			ip = ip << 8 | st->ips[8 * i + (unsigned)b];
		const struct rebuild_module *m = module_of(s, ip);
		if (lead && m && is_tool_module(m->path))
			continue;
		lead = false;
		jout_obj_begin(w);
		jout_key(w, "ip");
		jout_hex(w, ip);
		if (m) {
			jout_key(w, "module");
			jout_str(w, m->path);
			jout_key(w, "offset");
			jout_hex(w, ip - m->base);
		}
		jout_obj_end(w);
	}
	jout_arr_end(w);
}

/* Parse a JSON record's payload; on failure note the first error. */
static int parse_payload(struct rebuild_state *s, const struct vmcj_record *rec,
			 struct json_doc *doc, int want_type)
{
	struct json_error e;
	int k = json_parse(doc, rec->payload, rec->len, &e);

	if (k == -ENOMEM)
		return k;
	if (!k && doc->root->type != want_type) {
		e.offset = 0;
		snprintf(e.msg, sizeof(e.msg), "a JSON %s where an %s is "
			 "expected", json_type_name(doc->root->type),
			 json_type_name(want_type));
		json_doc_free(doc);
		k = -EBADMSG;
	}
	if (!k && rec->type == VMCJ_FINDING &&
	    !json_str(json_get(doc->root, "kind"))) {
		e.offset = doc->root->offset;
		snprintf(e.msg, sizeof(e.msg), "no \"kind\" string");
		json_doc_free(doc);
		k = -EBADMSG;
	}
	if (k && !s->bad++ && s->errlen)
		snprintf(s->err, s->errlen,
			 "%s: bad %s record at offset %llu, left out: %s "
			 "(offset %llu)", s->path, vmcj_type_name(rec->type),
			 (unsigned long long)rec->offset, e.msg,
			 (unsigned long long)(rec->offset + VMCJ_REC_HEADER +
					      e.offset));
	return k;
}

static void write_finding(struct jout *w, struct rebuild_state *s,
			  const struct json_value *f)
{
	const char *kind = json_str(json_get(f, "kind"));

	jout_obj_begin(w);
	jout_key(w, "kind");
	jout_str(w, kind);
	jout_key(w, "severity");
	jout_str(w, report_severity_name(finding_severity(f)));
	for (const struct json_value *m = f->u.kids.first; m; m = m->next) {
		if (!strcmp(m->key, "kind") || !strcmp(m->key, "severity") ||
		    !strcmp(m->key, "count"))
			continue;
		jout_keyn(w, m->key, m->key_len);
		if (strcmp(m->key, "stacks") || m->type != JSON_OBJECT) {
			jout_value(w, m);
			continue;
		}
		jout_obj_begin(w);
		for (const struct json_value *st = m->u.kids.first; st;
		     st = st->next) {
			uint64_t id;
			jout_keyn(w, st->key, st->key_len);
			if (!json_u64(st, &id))
				write_stack_id(w, s, id);
			else
				jout_value(w, st);
		}
		jout_obj_end(w);
	}
	jout_key(w, "count");
	if (json_get(f, "count"))
		jout_value(w, json_get(f, "count"));
	else
		jout_u64(w, 1);
	jout_obj_end(w);
}

int report_rebuild(const struct vmcj *j, const char *path, struct jout *w,
		   char *err, size_t errlen)
{
	struct rebuild_state s = { .path = path, .err = err,
				   .errlen = errlen };
	struct json_doc proc = { 0 }, stats = { 0 }, exitd = { 0 };
	struct json_doc *finds = NULL, *mdocs = NULL;
	size_t nfinds = 0, finds_cap = 0, nmdocs = 0, mdocs_cap = 0;
	uint64_t calls[MAX_CALL_KIND] = { 0 }, failed[MAX_CALL_KIND] = { 0 };
	uint64_t other_calls = 0, other_failed = 0;
	bool have_counts = false;
	unsigned maxcall = NCALL_NAMES - 1;
	int ret = 0;

	if (errlen)
		err[0] = '\0';
	for (size_t i = 0; i < j->nrecs && !ret; i++) {
		const struct vmcj_record *rec = &j->recs[i];
		struct json_doc d;
		int k;

		switch (rec->type) {
		case VMCJ_COUNTS: {
			/* The counters, kept up to date in place: the
			 * last one is the process's (CALL records are
			 * then its failed calls, already counted). */
			struct vmcj_counts cnt;
			memcpy(&cnt, rec->payload, sizeof(cnt));
			unsigned nk = cnt.nkinds < VMCJ_COUNTS_KINDS
					      ? cnt.nkinds
					      : VMCJ_COUNTS_KINDS;
			memset(calls, 0, sizeof(calls));
			memset(failed, 0, sizeof(failed));
			other_calls = other_failed = 0;
			for (unsigned c = 0; c < nk; c++) {
				calls[c] = cnt.calls[c];
				failed[c] = cnt.failed[c];
				if ((cnt.calls[c] || cnt.failed[c]) && c > maxcall)
					maxcall = c;
			}
			have_counts = true;
			continue;
		}
		case VMCJ_CALL: {
			struct vmcj_call c;
			if (have_counts)
				continue;
			memcpy(&c, rec->payload, sizeof(c));
			if (c.call < MAX_CALL_KIND) {
				calls[c.call]++;
				failed[c.call] += c.err != 0;
				if (c.call > maxcall)
					maxcall = c.call;
			} else {
				other_calls++;
				other_failed += c.err != 0;
			}
			continue;
		}
		case VMCJ_STACK: {
			const unsigned char *b = rec->payload;
			struct rebuild_stack *st = grow(s.stacks, &s.stacks_cap,
							s.nstacks + 1,
							sizeof(*st));
			if (!st) {
				ret = -ENOMEM;
				continue;
			}
			s.stacks = st;
			st += s.nstacks++;
			st->id = (uint32_t)b[0] | (uint32_t)b[1] << 8 |
				 (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
			st->n = (rec->len - 8) / 8;  /* checked by vmcj_read */
			st->ips = b + 8;
			continue;
		}
		case VMCJ_MODULE: {
			k = parse_payload(&s, rec, &d, JSON_OBJECT);
			if (k)
				break;
			struct json_doc *md = grow(mdocs, &mdocs_cap,
						   nmdocs + 1, sizeof(*md));
			struct rebuild_module *mm = grow(s.mods, &s.mods_cap,
							 s.nmods + 1,
							 sizeof(*mm));
			if (md)
				mdocs = md;
			if (mm)
				s.mods = mm;
			if (!md || !mm) {
				json_doc_free(&d);
				k = -ENOMEM;
				break;
			}
			mdocs[nmdocs++] = d;
			mm += s.nmods++;
			mm->obj = d.root;
			mm->path = json_str(json_get(d.root, "path"));
			mm->base = hex_u64(json_get(d.root, "base"));
			mm->start = hex_u64(json_get(d.root, "start"));
			mm->end = hex_u64(json_get(d.root, "end"));
			break;
		}
		case VMCJ_PROCESS:
			if (proc.root)
				continue;    /* the first one counts */
			k = parse_payload(&s, rec, &d, JSON_OBJECT);
			if (!k)
				proc = d;
			break;
		case VMCJ_STATS:
			k = parse_payload(&s, rec, &d, JSON_OBJECT);
			if (!k) {
				json_doc_free(&stats);
				stats = d;
			}
			break;
		case VMCJ_EXIT:
			k = parse_payload(&s, rec, &d, JSON_OBJECT);
			if (!k) {
				json_doc_free(&exitd);
				exitd = d;
			}
			break;
		case VMCJ_FINDING:
			k = parse_payload(&s, rec, &d, JSON_OBJECT);
			if (!k) {
				struct json_doc *fd = grow(finds, &finds_cap,
							   nfinds + 1,
							   sizeof(*fd));
				if (!fd) {
					json_doc_free(&d);
					k = -ENOMEM;
					break;
				}
				finds = fd;
				finds[nfinds++] = d;
			}
			break;
		default:
			continue;
		}
		if (k == -ENOMEM)
			ret = k;
	}

	const struct json_value *pr = proc.root, *v;
	jout_obj_begin(w);
	jout_key(w, "tool");
	jout_str(w, "vmacheck");
	jout_key(w, "version");
	jout_str(w, VMACHECK_VERSION);
	jout_key(w, "pid");
	jout_u64(w, j->pid);
	jout_key(w, "ppid");
	jout_u64(w, j->ppid);
	jout_key(w, "exe");
	jout_str(w, json_str(json_get(pr, "exe")));
	jout_key(w, "argv");
	v = json_get(pr, "argv");
	bool argv_ok = v && v->type == JSON_ARRAY;
	for (const struct json_value *a = argv_ok ? v->u.kids.first : NULL; a;
	     a = a->next)
		argv_ok = argv_ok && a->type == JSON_STRING;
	jout_value(w, argv_ok ? v : NULL);
	jout_key(w, "ended");
	if (exitd.root) {
		v = json_get(exitd.root, "ended");
		jout_str(w, json_str(v) ? json_str(v) : "exit");
		int64_t st;
		jout_key(w, "status");
		if (!json_i64(json_get(exitd.root, "status"), &st))
			jout_i64(w, st);
		else
			jout_null(w);
	} else {
		jout_str(w, "killed");
		jout_key(w, "status");
		jout_null(w);
	}
	jout_key(w, "stats");
	if (stats.root) {
		jout_value(w, stats.root);
	} else {
		/* What the COUNTS record says (or, from a journal without
		 * one, the CALL records). */
		for (int pass = 0; pass < 2; pass++) {
			const uint64_t *t = pass ? failed : calls;
			if (!pass)
				jout_obj_begin(w);
			jout_key(w, pass ? "failed_calls" : "calls");
			jout_obj_begin(w);
			for (unsigned c = 1; c <= maxcall; c++) {
				char name[32];
				if (c < NCALL_NAMES)
					snprintf(name, sizeof(name), "%s",
						 call_names[c]);
				else if (t[c])
					snprintf(name, sizeof(name), "call%u",
						 c);
				else
					continue;
				jout_key(w, name);
				jout_u64(w, t[c]);
			}
			if (pass ? other_failed : other_calls) {
				jout_key(w, "other");
				jout_u64(w, pass ? other_failed : other_calls);
			}
			jout_obj_end(w);
		}
		jout_obj_end(w);
	}
	jout_key(w, "findings");
	jout_arr_begin(w);
	for (size_t i = 0; i < nfinds; i++)
		write_finding(w, &s, finds[i].root);
	jout_arr_end(w);
	jout_key(w, "modules");
	jout_arr_begin(w);
	for (size_t i = 0; i < s.nmods; i++) {
		const struct rebuild_module *m = &s.mods[i];
		size_t k;
		for (k = 0; k < i; k++)       /* each distinct one once */
			if (s.mods[k].base == m->base &&
			    s.mods[k].start == m->start &&
			    s.mods[k].end == m->end &&
			    !strcmp(s.mods[k].path ? s.mods[k].path : "",
				    m->path ? m->path : ""))
				break;
		if (k == i)
			jout_value(w, m->obj);
	}
	jout_arr_end(w);
	jout_obj_end(w);

	json_doc_free(&proc);
	json_doc_free(&stats);
	json_doc_free(&exitd);
	for (size_t i = 0; i < nfinds; i++)
		json_doc_free(&finds[i]);
	free(finds);
	for (size_t i = 0; i < nmdocs; i++)
		json_doc_free(&mdocs[i]);
	free(mdocs);
	free(s.mods);
	free(s.stacks);
	if (ret)
		return ret;
	if (w->oom)
		return -ENOMEM;
	return s.bad ? 1 : 0;
}

/* ---- rendering ----------------------------------------------------------- */

/* How p ended, with what the command saw of its own child first. */
struct proc_end {
	const char *ended;
	bool has_status;
	int64_t status;
	int signal;                /* 0: none known */
};

static struct proc_end proc_end(const struct report_process *p)
{
	struct proc_end e = { p->ended, p->has_status, p->status, 0 };

	if (p->waited && WIFEXITED(p->wstatus)) {
		e.ended = "exit";
		e.has_status = true;
		e.status = WEXITSTATUS(p->wstatus);
	} else if (p->waited && WIFSIGNALED(p->wstatus)) {
		e.ended = p->rebuilt && !strcmp(p->ended, "killed") ? "killed"
								    : "signal";
		e.has_status = false;
		e.signal = WTERMSIG(p->wstatus);
	}
	return e;
}

/* Text without control characters (a message is one line). */
static void put_text(FILE *out, const char *s)
{
	for (; s && *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

static const struct report_process *find_proc(const struct report *r,
					      uint64_t pid)
{
	for (size_t i = r->nprocs; i-- > 0;)
		if (r->procs[i]->pid == pid)
			return r->procs[i];
	return NULL;
}

int report_symbolize(struct report *r)
{
	if (!r->sym)
		r->sym = symbolizer_new();
	return r->sym ? 0 : -ENOMEM;
}

/* The build-id p recorded for the module at path, or NULL. */
static const char *module_build_id(const struct report_process *p,
				   const char *path)
{
	const struct json_value *m = p ? p->modules : NULL;
	for (m = m && m->type == JSON_ARRAY ? m->u.kids.first : NULL; m;
	     m = m->next) {
		const char *mp = json_str(json_get(m, "path"));
		if (mp && !strcmp(mp, path))
			return json_str(json_get(m, "build_id"));
	}
	return NULL;
}

void report_frame_get(const struct report *r, const struct report_process *p,
		      const struct json_value *f, struct report_frame *v)
{
	*v = (struct report_frame){ 0 };
	v->ip = json_str(json_get(f, "ip"));
	if (!v->ip)
		v->ip = json_str(f); /* a bare "0x..." */
	v->module = json_str(json_get(f, "module"));
	v->offset_text = json_str(json_get(f, "offset"));
	if (v->offset_text)
		v->offset = strtoull(v->offset_text, NULL, 16);
	v->function = json_str(json_get(f, "function"));
	v->file = json_str(json_get(f, "file"));
	if (json_u64(json_get(f, "line"), &v->line))
		v->line = 0;
	if (!v->function && !v->file && r->sym && v->module && v->offset) {
		struct sym_info si;
		if (symbolizer_lookup(r->sym, v->module, v->offset,
				      module_build_id(p, v->module), &si)) {
			v->function = si.function;
			v->file = si.file;
			v->line = si.line;
		}
	}
}

static void render_frame(const struct report *r,
			 const struct report_process *p, FILE *out, size_t i,
			 const struct json_value *f)
{
	struct report_frame v;
	report_frame_get(r, p, f, &v);
	fprintf(out, "    #%zu ", i);
	put_text(out, v.ip ? v.ip : "?");
	if (v.function) {
		fputs(" in ", out);
		put_text(out, v.function);
	}
	if (v.file) {
		fputc(' ', out);
		put_text(out, v.file);
		if (v.line)
			fprintf(out, ":%llu", (unsigned long long)v.line);
	}
	if (v.module) {
		fputs(" (", out);
		put_text(out, v.module);
		if (v.offset_text) {
			fputc('+', out);
			put_text(out, v.offset_text);
		}
		fputc(')', out);
	}
	fputc('\n', out);
}

static void render_finding(const struct report *r, FILE *out,
			   const struct report_finding *f)
{
	static const char *const label[] = { "INFO", "WARNING", "ERROR" };
	const struct json_value *o = f->obj, *v;
	uint64_t len;

	fprintf(out, "==%llu==%s: vmacheck: ",
		(unsigned long long)f->first->pid, label[f->severity]);
	put_text(out, f->kind);
	if (f->message) {
		fputs(": ", out);
		put_text(out, f->message);
	}
	fputc('\n', out);
	/* The stacks in the sanitizers' order: the call that did it right
	 * under the headline, then the earlier ones, each labelled. */
	static const struct {
		const char *key, *label;
	} order[] = {
		{ "operation", NULL },
		{ "previous", "  previously here:" },
		{ "created", "  the pages were created here:" },
	};
	v = json_get(o, "stacks");
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		const struct json_value *s = json_get(v, order[k].key);
		if (!s || s->type != JSON_ARRAY || !s->u.kids.n)
			continue;
		if (order[k].label || k > 0) {
			fputs(order[k].label, out);
			fputc('\n', out);
		}
		size_t i = 0;
		for (const struct json_value *fr = s->u.kids.first; fr;
		     fr = fr->next)
			render_frame(r, f->first, out, i++, fr);
	}
	/* Stacks of other names (a newer writer): after, with their key. */
	for (const struct json_value *s = v && v->type == JSON_OBJECT
						  ? v->u.kids.first
						  : NULL;
	     s; s = s->next) {
		if (s->type != JSON_ARRAY || !s->u.kids.n ||
		    !strcmp(s->key, "operation") ||
		    !strcmp(s->key, "previous") || !strcmp(s->key, "created"))
			continue;
		fputs("  ", out);
		put_text(out, s->key);
		fputs(":\n", out);
		size_t i = 0;
		for (const struct json_value *fr = s->u.kids.first; fr;
		     fr = fr->next)
			render_frame(r, f->first, out, i++, fr);
	}
	v = json_get(o, "addr");
	if (v && v->type != JSON_NULL) {
		fputs("  at ", out);
		if (json_str(v))
			put_text(out, json_str(v));
		else if (v->type == JSON_NUMBER)
			put_text(out, v->u.str.s);
		if (!json_u64(json_get(o, "len"), &len))
			fprintf(out, ", %llu bytes", (unsigned long long)len);
		if (json_str(json_get(o, "prot"))) {
			fputs(", ", out);
			put_text(out, json_str(json_get(o, "prot")));
		}
		if (json_str(json_get(o, "flags"))) {
			fputs(", ", out);
			put_text(out, json_str(json_get(o, "flags")));
		}
		uint64_t touched;
		if (!json_u64(json_get(o, "touched_pages"), &touched) &&
		    !json_u64(json_get(o, "len"), &len))
			fprintf(out, ", %llu of %llu pages touched",
				(unsigned long long)touched,
				(unsigned long long)((len + 4095) / 4096));
		fputc('\n', out);
	}
	if (f->npids == 1) {
		fprintf(out, "  in process %llu",
			(unsigned long long)f->pids[0]);
		if (f->first->exe) {
			fputs(" (", out);
			put_text(out, f->first->exe);
			fputc(')', out);
		}
		fputc('\n', out);
	} else {
		fprintf(out, "  in %zu processes:", f->npids);
		size_t shown = f->npids > 8 ? 8 : f->npids;
		for (size_t i = 0; i < shown; i++) {
			const struct report_process *p = find_proc(r,
								   f->pids[i]);
			fprintf(out, "%s %llu", i ? "," : "",
				(unsigned long long)f->pids[i]);
			if (p && p->exe && (i == 0 || !f->first->exe ||
					    strcmp(p->exe, f->first->exe))) {
				fputs(" (", out);
				put_text(out, p->exe);
				fputc(')', out);
			}
		}
		if (shown < f->npids)
			fprintf(out, " and %zu more", f->npids - shown);
		fputc('\n', out);
	}
	if (f->count > 1) {
		uint64_t bytes = 0;
		fprintf(out, "  seen %llu times", (unsigned long long)f->count);
		if (!json_u64(json_get(o, "bytes"), &bytes) && bytes &&
		    (!strcmp(f->kind, "leak") ||
		     !strcmp(f->kind, "leak-reachable")))
			fprintf(out, " (%llu bytes in the first process)",
				(unsigned long long)bytes);
		fputc('\n', out);
	}
	fputc('\n', out);
}

void report_render_text(const struct report *r, FILE *out)
{
	for (size_t i = 0; i < r->nfindings; i++)
		if (!r->findings[i].suppressed)
			render_finding(r, out, &r->findings[i]);
	for (size_t i = 0; i < r->nprocs; i++) {
		const struct report_process *p = r->procs[i];
		struct proc_end e = proc_end(p);

		if (!p->rebuilt || strcmp(p->ended, "killed"))
			continue;
		fprintf(out, "vmacheck: note: process %llu",
			(unsigned long long)p->pid);
		if (p->exe) {
			fputs(" (", out);
			put_text(out, p->exe);
			fputc(')', out);
		}
		if (e.signal)
			fprintf(out, " was killed by signal %d (%s)", e.signal,
				strsignal(e.signal));
		else if (p->waited)
			fprintf(out, " exited with status %lld without "
				"running its exit handlers (_exit or exec)",
				(long long)e.status);
		else
			fputs(" was killed, or ended through _exit or exec",
			      out);
		fputs(": its result is rebuilt from its journal", out);
		if (p->incomplete)
			fprintf(out, " (%zu record%s never completed)",
				p->incomplete, p->incomplete == 1 ? "" : "s");
		fputc('\n', out);
	}
	report_render_sites_text(r, out);
	supp_render_text(r, out);
	fprintf(out, "SUMMARY: vmacheck: %zu error(s), %zu warning(s) in %zu "
		"process(es)\n", r->errors, r->warnings, r->nprocs);
}

void report_write_frame(const struct report *r, const struct report_process *p,
			struct jout *w, const struct json_value *fr)
{
	struct report_frame v;
	report_frame_get(r, p, fr, &v);
	jout_obj_begin(w);
	jout_key(w, "ip");
	jout_str(w, v.ip);
	if (v.module) {
		jout_key(w, "module");
		jout_str(w, v.module);
	}
	if (v.offset_text) {
		jout_key(w, "offset");
		jout_str(w, v.offset_text);
	}
	if (v.function) {
		jout_key(w, "function");
		jout_str(w, v.function);
	}
	if (v.file) {
		jout_key(w, "file");
		jout_str(w, v.file);
	}
	if (v.line) {
		jout_key(w, "line");
		jout_u64(w, v.line);
	}
	jout_obj_end(w);
}

static void write_stacks(const struct report *r, const struct report_process *p,
			 struct jout *w, const struct json_value *stacks)
{
	if (!stacks || stacks->type != JSON_OBJECT) {
		jout_value(w, stacks);
		return;
	}
	jout_obj_begin(w);
	for (const struct json_value *s = stacks->u.kids.first; s;
	     s = s->next) {
		jout_keyn(w, s->key, s->key_len);
		if (s->type != JSON_ARRAY) {
			jout_value(w, s);
			continue;
		}
		jout_arr_begin(w);
		for (const struct json_value *fr = s->u.kids.first; fr;
		     fr = fr->next)
			report_write_frame(r, p, w, fr);
		jout_arr_end(w);
	}
	jout_obj_end(w);
}

static void render_json_finding(const struct report *r, struct jout *w,
				const struct report_finding *f)
{
	jout_obj_begin(w);
	jout_key(w, "kind");
	jout_str(w, f->kind);
	jout_key(w, "severity");
	jout_str(w, report_severity_name(f->severity));
	for (const struct json_value *m = f->obj->u.kids.first; m;
	     m = m->next) {
		if (!strcmp(m->key, "kind") || !strcmp(m->key, "severity") ||
		    !strcmp(m->key, "count") || !strcmp(m->key, "pids"))
			continue;
		jout_keyn(w, m->key, m->key_len);
		if (!strcmp(m->key, "stacks"))
			write_stacks(r, f->first, w, m);
		else
			jout_value(w, m);
	}
	jout_key(w, "count");
	jout_u64(w, f->count);
	jout_key(w, "pids");
	jout_arr_begin(w);
	for (size_t i = 0; i < f->npids; i++)
		jout_u64(w, f->pids[i]);
	jout_arr_end(w);
	jout_obj_end(w);
}

void report_render_json(const struct report *r, struct jout *w)
{
	jout_obj_begin(w);
	jout_key(w, "tool");
	jout_str(w, "vmacheck");
	jout_key(w, "version");
	jout_str(w, VMACHECK_VERSION);
	jout_key(w, "processes");
	jout_arr_begin(w);
	for (size_t i = 0; i < r->nprocs; i++) {
		const struct report_process *p = r->procs[i];
		struct proc_end e = proc_end(p);

		jout_obj_begin(w);
		jout_key(w, "pid");
		jout_u64(w, p->pid);
		jout_key(w, "ppid");
		jout_u64(w, p->ppid);
		jout_key(w, "exe");
		jout_str(w, p->exe);
		jout_key(w, "argv");
		jout_value(w, p->argv);
		jout_key(w, "ended");
		jout_str(w, e.ended);
		jout_key(w, "status");
		if (e.has_status)
			jout_i64(w, e.status);
		else
			jout_null(w);
		if (e.signal) {
			jout_key(w, "signal");
			jout_i64(w, e.signal);
		}
		jout_key(w, "stats");
		jout_value(w, p->stats);
		jout_key(w, "source");
		jout_str(w, p->rebuilt ? "journal" : "json");
		jout_key(w, "result");
		jout_str(w, p->path);
		jout_obj_end(w);
	}
	jout_arr_end(w);
	jout_key(w, "findings");
	jout_arr_begin(w);
	for (size_t i = 0; i < r->nfindings; i++)
		if (!r->findings[i].suppressed)
			render_json_finding(r, w, &r->findings[i]);
	jout_arr_end(w);
	jout_key(w, "sites");
	report_render_sites_json(r, w);
	jout_key(w, "suppressions");
	supp_render_json(r, w);
	jout_key(w, "unreadable");
	jout_arr_begin(w);
	for (size_t i = 0; i < r->nbad; i++) {
		jout_obj_begin(w);
		jout_key(w, "file");
		jout_str(w, r->bad[i].path);
		jout_key(w, "error");
		jout_str(w, r->bad[i].message);
		jout_obj_end(w);
	}
	jout_arr_end(w);
	jout_key(w, "summary");
	jout_obj_begin(w);
	jout_key(w, "errors");
	jout_u64(w, r->errors);
	jout_key(w, "warnings");
	jout_u64(w, r->warnings);
	jout_key(w, "infos");
	jout_u64(w, r->infos);
	jout_key(w, "processes");
	jout_u64(w, r->nprocs);
	jout_key(w, "unreadable");
	jout_u64(w, r->nbad);
	jout_obj_end(w);
	jout_obj_end(w);
}

int report_exit_status(const struct report *r, int program_status,
		       int error_exitcode)
{
	if (r->errors)
		return error_exitcode;
	if (program_status > 0)
		return program_status;
	if (r->nbad)
		return VMACHECK_EXIT_TROUBLE;
	return 0;
}
