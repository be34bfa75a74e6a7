/*
 * sarif.c - the merged findings as SARIF 2.1.0 (OASIS), for code-scanning
 * tools: one run, the tool's rules (one per finding kind, with the meaning
 * and default level of DESIGN.md's table), one result per merged finding
 * with its level, message, the location of the first frame that has a
 * source file (the call that did it, else the one that created the pages),
 * every stack as a SARIF stack, a partial fingerprint (the dedup key's
 * hash: stable across runs at other addresses), and the count and pids as
 * properties.  A frame without a source file is located in its module.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"

static const struct {
	const char *kind, *name, *text;
} rules[] = {
	{ "leak", "MappingLeak",
	  "A tracked mapping is alive at exit and unreachable: no pointer "
	  "into it remains in any scanned memory." },
	{ "leak-reachable", "MappingStillReachable",
	  "A tracked mapping is alive at exit and still pointed to." },
	{ "fixed-clobber", "FixedClobber",
	  "MAP_FIXED or MREMAP_FIXED replaced live pages the caller does not "
	  "own (a baseline or foreign mapping, another module's mapping, or "
	  "pages holding data)." },
	{ "unmap-foreign", "UnmapForeign",
	  "munmap or mremap removed pages of a mapping the program did not "
	  "create (an ELF image, the stack, the heap, libc's memory)." },
	{ "double-unmap", "DoubleUnmap",
	  "munmap of pages the program itself had already unmapped." },
	{ "unmap-unmapped", "UnmapUnmapped",
	  "munmap of pages that were never mapped." },
	{ "mprotect-unmapped", "MprotectOverHole",
	  "mprotect over a hole failed with ENOMEM after changing the pages "
	  "before the hole." },
	{ "mremap-invalid", "MremapInvalid",
	  "mremap failed for a reason the program controls (EFAULT, "
	  "EINVAL)." },
	{ "mremap-past-object", "MremapPastObject",
	  "A shared or file mapping was grown past its object: touching the "
	  "tail raises SIGBUS." },
	{ "wx-mapping", "WritableExecutableMapping",
	  "A mapping was made writable and executable at once." },
	{ "map-count-pressure", "MapCountPressure",
	  "The VMA count passed a share of vm.max_map_count." },
	{ "untracked-change", "UntrackedChange",
	  "A tracked mapping was changed by something vmacheck did not "
	  "intercept (a raw system call)." },
	{ "shadow-divergence", "ShadowDivergence",
	  "vmacheck's shadow and the kernel disagree on a tracked mapping." },
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))

static const char *level(enum report_severity s)
{
	return s == REPORT_ERROR ? "error" : s == REPORT_WARNING ? "warning"
								 : "note";
}

/* A file path as a SARIF URI: absolute paths as file:// URIs, relative
 * ones (as DWARF often has them) relative to the source root. */
static void write_uri(struct jout *w, const char *path)
{
	jout_obj_begin(w);
	jout_key(w, "uri");
	if (path[0] == '/') {
		size_t n = strlen(path);
		char *u = malloc(n * 3 + 8);
		if (!u) {
			jout_str(w, path);
		} else {
			size_t k = 0;
			memcpy(u, "file://", 7);
			k = 7;
			for (const unsigned char *p = (const unsigned char *)path;
			     *p; p++) {
				if ((*p >= 'a' && *p <= 'z') ||
				    (*p >= 'A' && *p <= 'Z') ||
				    (*p >= '0' && *p <= '9') ||
				    strchr("/-._~+", *p)) {
					u[k++] = (char)*p;
				} else {
					k += (size_t)snprintf(u + k, 4, "%%%02X",
							      *p);
				}
			}
			u[k] = 0;
			jout_str(w, u);
			free(u);
		}
	} else {
		jout_str(w, path);
		jout_key(w, "uriBaseId");
		jout_str(w, "%SRCROOT%");
	}
	jout_obj_end(w);
}

static void write_location(struct jout *w, const struct report_frame *v)
{
	jout_obj_begin(w);
	jout_key(w, "physicalLocation");
	jout_obj_begin(w);
	jout_key(w, "artifactLocation");
	write_uri(w, v->file ? v->file : v->module ? v->module : "unknown");
	if (v->file && v->line) {
		jout_key(w, "region");
		jout_obj_begin(w);
		jout_key(w, "startLine");
		jout_u64(w, v->line);
		jout_obj_end(w);
	} else if (!v->file && v->offset) {
		jout_key(w, "address");
		jout_obj_begin(w);
		jout_key(w, "relativeAddress");
		jout_u64(w, v->offset);
		jout_obj_end(w);
	}
	jout_obj_end(w);
	if (v->function) {
		jout_key(w, "logicalLocations");
		jout_arr_begin(w);
		jout_obj_begin(w);
		jout_key(w, "fullyQualifiedName");
		jout_str(w, v->function);
		jout_key(w, "kind");
		jout_str(w, "function");
		jout_obj_end(w);
		jout_arr_end(w);
	}
	jout_obj_end(w);
}

/* The frame a person would look at first: the first with a source file
 * in the operation stack, then in the created one; else the first frame
 * at all.  Returns false when the finding has no frame. */
static bool primary_frame(const struct report *r, const struct report_finding *f,
			  struct report_frame *out)
{
	static const char *const keys[] = { "operation", "created", "previous" };
	const struct json_value *stacks = json_get(f->obj, "stacks");
	bool have = false;
	for (size_t k = 0; k < 3; k++) {
		const struct json_value *s = json_get(stacks, keys[k]);
		if (!s || s->type != JSON_ARRAY)
			continue;
		for (const struct json_value *fr = s->u.kids.first; fr;
		     fr = fr->next) {
			struct report_frame v;
			report_frame_get(r, f->first, fr, &v);
			if (v.file) {
				*out = v;
				return true;
			}
			if (!have) {
				*out = v;
				have = true;
			}
		}
	}
	return have;
}

static void write_result(const struct report *r, struct jout *w,
			 const struct report_finding *f)
{
	size_t rule = NRULES;
	for (size_t i = 0; i < NRULES; i++)
		if (!strcmp(rules[i].kind, f->kind))
			rule = i;
	jout_obj_begin(w);
	jout_key(w, "ruleId");
	jout_str(w, f->kind);
	if (rule < NRULES) {
		jout_key(w, "ruleIndex");
		jout_u64(w, rule);
	}
	jout_key(w, "level");
	jout_str(w, level(f->severity));
	jout_key(w, "message");
	jout_obj_begin(w);
	jout_key(w, "text");
	jout_str(w, f->message ? f->message : f->kind);
	jout_obj_end(w);
	struct report_frame top;
	jout_key(w, "locations");
	jout_arr_begin(w);
	if (primary_frame(r, f, &top))
		write_location(w, &top);
	jout_arr_end(w);
	const struct json_value *stacks = json_get(f->obj, "stacks");
	if (stacks && stacks->type == JSON_OBJECT) {
		jout_key(w, "stacks");
		jout_arr_begin(w);
		for (const struct json_value *s = stacks->u.kids.first; s;
		     s = s->next) {
			if (s->type != JSON_ARRAY || !s->u.kids.n)
				continue;
			jout_obj_begin(w);
			jout_key(w, "message");
			jout_obj_begin(w);
			jout_key(w, "text");
			jout_strn(w, s->key, s->key_len);
			jout_obj_end(w);
			jout_key(w, "frames");
			jout_arr_begin(w);
			for (const struct json_value *fr = s->u.kids.first; fr;
			     fr = fr->next) {
				struct report_frame v;
				report_frame_get(r, f->first, fr, &v);
				jout_obj_begin(w);
				jout_key(w, "location");
				write_location(w, &v);
				if (v.module) {
					jout_key(w, "module");
					jout_str(w, v.module);
				}
				jout_obj_end(w);
			}
			jout_arr_end(w);
			jout_obj_end(w);
		}
		jout_arr_end(w);
	}
	char fp[32];
	snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)f->hash);
	jout_key(w, "partialFingerprints");
	jout_obj_begin(w);
	jout_key(w, "vmacheckKey/v1");
	jout_str(w, fp);
	jout_obj_end(w);
	jout_key(w, "properties");
	jout_obj_begin(w);
	jout_key(w, "count");
	jout_u64(w, f->count);
	jout_key(w, "pids");
	jout_arr_begin(w);
	for (size_t i = 0; i < f->npids; i++)
		jout_u64(w, f->pids[i]);
	jout_arr_end(w);
	const struct json_value *addr = json_get(f->obj, "addr");
	if (json_str(addr)) {
		jout_key(w, "addr");
		jout_str(w, json_str(addr));
	}
	jout_obj_end(w);
	jout_obj_end(w);
}

void report_render_sarif(const struct report *r, struct jout *w)
{
	jout_obj_begin(w);
	jout_key(w, "$schema");
	jout_str(w, "https://json.schemastore.org/sarif-2.1.0.json");
	jout_key(w, "version");
	jout_str(w, "2.1.0");
	jout_key(w, "runs");
	jout_arr_begin(w);
	jout_obj_begin(w);
	jout_key(w, "tool");
	jout_obj_begin(w);
	jout_key(w, "driver");
	jout_obj_begin(w);
	jout_key(w, "name");
	jout_str(w, "vmacheck");
	jout_key(w, "version");
	jout_str(w, VMACHECK_VERSION);
	jout_key(w, "semanticVersion");
	jout_str(w, VMACHECK_VERSION);
	jout_key(w, "rules");
	jout_arr_begin(w);
	for (size_t i = 0; i < NRULES; i++) {
		jout_obj_begin(w);
		jout_key(w, "id");
		jout_str(w, rules[i].kind);
		jout_key(w, "name");
		jout_str(w, rules[i].name);
		jout_key(w, "shortDescription");
		jout_obj_begin(w);
		jout_key(w, "text");
		jout_str(w, rules[i].text);
		jout_obj_end(w);
		jout_key(w, "defaultConfiguration");
		jout_obj_begin(w);
		jout_key(w, "level");
		jout_str(w, level(report_kind_severity(rules[i].kind)));
		jout_obj_end(w);
		jout_obj_end(w);
	}
	jout_arr_end(w);
	jout_obj_end(w);
	jout_obj_end(w);
	jout_key(w, "results");
	jout_arr_begin(w);
	for (size_t i = 0; i < r->nfindings; i++)
		if (!r->findings[i].suppressed)
			write_result(r, w, &r->findings[i]);
	jout_arr_end(w);
	jout_key(w, "invocations");
	jout_arr_begin(w);
	jout_obj_begin(w);
	jout_key(w, "executionSuccessful");
	jout_bool(w, r->nbad == 0);
	jout_obj_end(w);
	jout_arr_end(w);
	jout_obj_end(w);
	jout_arr_end(w);
	jout_obj_end(w);
}
