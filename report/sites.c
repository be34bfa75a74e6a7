/*
 * sites.c - where the mapped memory came from: each process's "sites"
 * (bytes, VMAs, regions mapped at exit and VMAs split, per creation
 * stack) merged over all processes by stack (module+offset of every
 * frame, as the findings' dedup key does), then shown as a compact table
 * in the text report and as "sites" in the merged JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

struct site {
	char *key;
	const struct json_value *stack;
	const struct report_process *first;
	uint64_t bytes, vmas, regions, splits, procs;
	/* --uffd=touch: pages mapped and written, mappings, never written */
	bool touch, pagemap; /* pagemap: present pages, not written ones */
	uint64_t mapped, touched, mappings, untouched;
};

static char *stack_key(const struct json_value *stack)
{
	size_t cap = 64, n = 0;
	char *k = malloc(cap);
	if (!k)
		return NULL;
	k[0] = 0;
	for (const struct json_value *fr = stack && stack->type == JSON_ARRAY
						  ? stack->u.kids.first
						  : NULL;
	     fr; fr = fr->next) {
		const char *m = json_str(json_get(fr, "module"));
		const char *o = json_str(json_get(fr, "offset"));
		const char *ip = json_str(json_get(fr, "ip"));
		size_t need = (m ? strlen(m) : 0) + (o ? strlen(o) : 0) +
			      (ip ? strlen(ip) : 0) + 4;
		if (n + need >= cap) {
			while (n + need >= cap)
				cap *= 2;
			char *nk = realloc(k, cap);
			if (!nk) {
				free(k);
				return NULL;
			}
			k = nk;
		}
		n += (size_t)snprintf(k + n, cap - n, "%s+%s;",
				      m ? m : "", m && o ? o : ip ? ip : "");
	}
	return k;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const struct site *)a)->key,
		      ((const struct site *)b)->key);
}

static int cmp_bytes(const void *a, const void *b)
{
	const struct site *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	if (x->vmas != y->vmas)
		return x->vmas < y->vmas ? 1 : -1;
	return strcmp(x->key, y->key);
}

static int cmp_vmas(const void *a, const void *b)
{
	const struct site *x = a, *y = b;
	if (x->vmas != y->vmas)
		return x->vmas < y->vmas ? 1 : -1;
	return cmp_bytes(a, b);
}

static uint64_t u64_of(const struct json_value *o, const char *k)
{
	uint64_t v = 0;
	return json_u64(json_get(o, k), &v) ? 0 : v;
}

/* Every site of every process, merged by stack; sorted by bytes. */
static struct site *merge_sites(const struct report *r, size_t *out_n)
{
	size_t n = 0, cap = 0;
	struct site *v = NULL;
	for (size_t i = 0; i < r->nprocs; i++) {
		const struct report_process *p = r->procs[i];
		for (const struct json_value *s = p->sites ? p->sites->u.kids.first
							   : NULL;
		     s; s = s->next) {
			const struct json_value *st = json_get(s, "stack");
			if (!st || st->type != JSON_ARRAY || !st->u.kids.n)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				struct site *nv = realloc(v, cap * sizeof(*nv));
				if (!nv)
					break;
				v = nv;
			}
			char *key = stack_key(st);
			if (!key)
				break;
			v[n++] = (struct site){
				.key = key, .stack = st, .first = p,
				.bytes = u64_of(s, "bytes"),
				.vmas = u64_of(s, "vmas"),
				.regions = u64_of(s, "regions"),
				.splits = u64_of(s, "splits"), .procs = 1,
				.touch = json_get(s, "mapped_pages") != NULL,
				.pagemap = json_str(json_get(s, "touch")) &&
					   !strcmp(json_str(json_get(s,
								      "touch")),
						   "pagemap"),
				.mapped = u64_of(s, "mapped_pages"),
				.touched = u64_of(s, "touched_pages"),
				.mappings = u64_of(s, "mappings"),
				.untouched = u64_of(s, "untouched_mappings"),
			};
		}
	}
	if (!n) {
		free(v);
		*out_n = 0;
		return NULL;
	}
	qsort(v, n, sizeof(*v), cmp_key);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m && !strcmp(v[m - 1].key, v[i].key)) {
			v[m - 1].bytes += v[i].bytes;
			v[m - 1].vmas += v[i].vmas;
			v[m - 1].regions += v[i].regions;
			v[m - 1].splits += v[i].splits;
			v[m - 1].touch |= v[i].touch;
			v[m - 1].pagemap |= v[i].pagemap;
			v[m - 1].mapped += v[i].mapped;
			v[m - 1].touched += v[i].touched;
			v[m - 1].mappings += v[i].mappings;
			v[m - 1].untouched += v[i].untouched;
			v[m - 1].procs++;
			free(v[i].key);
			continue;
		}
		v[m++] = v[i];
	}
	qsort(v, m, sizeof(*v), cmp_bytes);
	*out_n = m;
	return v;
}

static void free_sites(struct site *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].key);
	free(v);
}

static void put_bytes(FILE *out, uint64_t b)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)b;
	int u = 0;
	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		fprintf(out, "%9llu B  ", (unsigned long long)b);
	else
		fprintf(out, "%9.1f %-3s", d, unit[u]);
}

/* "f file:line" of a frame, or module+offset. */
static void put_frame(const struct report *r, const struct report_process *p,
		      FILE *out, const struct json_value *fr)
{
	struct report_frame v;
	report_frame_get(r, p, fr, &v);
	if (v.function)
		fputs(v.function, out);
	if (v.file) {
		const char *base = strrchr(v.file, '/');
		fprintf(out, "%s%s:%llu", v.function ? " " : "",
			base ? base + 1 : v.file, (unsigned long long)v.line);
	} else if (!v.function) {
		const char *base = v.module ? strrchr(v.module, '/') : NULL;
		fprintf(out, "%s+%s", base ? base + 1 : v.module ? v.module : "?",
			v.offset_text ? v.offset_text : "?");
	}
}

void report_render_sites_text(const struct report *r, FILE *out)
{
	size_t n;
	struct site *v = merge_sites(r, &n);
	if (!v)
		return;
	/* The top 10 by bytes, and by VMAs when not among them. */
	size_t show = n < 10 ? n : 10;
	struct site **row = calloc(20, sizeof(*row));
	size_t nrow = 0;
	if (!row) {
		free_sites(v, n);
		return;
	}
	for (size_t i = 0; i < show; i++)
		row[nrow++] = &v[i];
	if (n > 10) {
		struct site *byv = malloc(n * sizeof(*byv));
		if (byv) {
			memcpy(byv, v, n * sizeof(*byv));
			qsort(byv, n, sizeof(*byv), cmp_vmas);
			for (size_t i = 0; i < 10 && i < n; i++)
				for (size_t j = 10; j < n; j++)
					if (v[j].key == byv[i].key &&
					    nrow < 20)
						row[nrow++] = &v[j];
			free(byv);
		}
	}
	bool touch = false, pagemap = false;
	uint64_t never = 0, maps = 0;
	for (size_t i = 0; i < n; i++) {
		touch |= v[i].touch;
		pagemap |= v[i].pagemap;
		never += v[i].untouched;
		maps += v[i].mappings;
	}
	fprintf(out, "vmacheck: mapped at exit, by call site (top %zu of %zu):\n",
		nrow, n);
	if (touch)
		fprintf(out, "  %13s %7s %7s %8s %9s  %s\n", "bytes", "VMAs",
			"splits", "touched", "untouched", "call site");
	else
		fprintf(out, "  %13s %7s %7s  %s\n", "bytes", "VMAs", "splits",
			"call site");
	for (size_t i = 0; i < nrow; i++) {
		const struct site *s = row[i];
		fputs("  ", out);
		put_bytes(out, s->bytes);
		fprintf(out, " %7llu %7llu  ", (unsigned long long)s->vmas,
			(unsigned long long)s->splits);
		if (touch) {
			/* pages written of pages mapped, over the run; and
			 * mappings never written of those made */
			if (s->mapped)
				fprintf(out, "%5.1f%% ", 100.0 *
					(double)s->touched /
					(double)s->mapped);
			else
				fprintf(out, "%6s ", "-");
			fprintf(out, "%4llu/%-4llu  ",
				(unsigned long long)s->untouched,
				(unsigned long long)s->mappings);
		}
		const struct json_value *fr = s->stack->u.kids.first;
		put_frame(r, s->first, out, fr);
		if (fr->next) {
			fputs(" < ", out);
			put_frame(r, s->first, out, fr->next);
		}
		if (s->procs > 1)
			fprintf(out, " [%llu processes]",
				(unsigned long long)s->procs);
		fputc('\n', out);
	}
	if (touch)
		fprintf(out, "vmacheck: %llu of %llu mappings were never "
			"%s (reserved for nothing); touched = pages %s / "
			"pages mapped, over the run%s\n",
			(unsigned long long)never, (unsigned long long)maps,
			pagemap ? "touched" : "written",
			pagemap ? "present" : "written",
			pagemap ? " (no asynchronous userfaultfd write-protect"
				  ": present pages from /proc/self/pagemap, "
				  "reads included)"
				: "");
	free(row);
	free_sites(v, n);
}

void report_render_sites_json(const struct report *r, struct jout *w)
{
	size_t n;
	struct site *v = merge_sites(r, &n);
	jout_arr_begin(w);
	for (size_t i = 0; i < n && i < 100; i++) {
		const struct site *x = &v[i];
		const struct { const char *k; uint64_t v; } f[] = {
			{ "bytes", x->bytes }, { "vmas", x->vmas },
			{ "regions", x->regions }, { "splits", x->splits },
			{ "processes", x->procs },
			/* --uffd=touch only: */
			{ "mapped_pages", x->mapped },
			{ "touched_pages", x->touched },
			{ "mappings", x->mappings },
			{ "untouched_mappings", x->untouched },
		};
		jout_obj_begin(w);
		for (size_t k = 0; k < (x->touch ? 9u : 5u); k++) {
			jout_key(w, f[k].k);
			jout_u64(w, f[k].v);
		}
		if (x->touch) {
			jout_key(w, "touch");
			jout_str(w, x->pagemap ? "pagemap" : "wp-async");
		}
		jout_key(w, "stack");
		jout_arr_begin(w);
		for (const struct json_value *fr = v[i].stack->u.kids.first; fr;
		     fr = fr->next)
			report_write_frame(r, v[i].first, w, fr);
		jout_arr_end(w);
		jout_obj_end(w);
	}
	jout_arr_end(w);
	free_sites(v, n);
}
