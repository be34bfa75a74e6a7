/*
 * symbolize.c - frames to function, file and line with elfutils libdwfl
 * (contract in symbolize.h).  One Dwfl per module, reported at bias 0 so
 * that the module's addresses are its link-time addresses, which is what
 * a frame's offset is (ip - load bias).  Caches in uthash tables.
 */
#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

/* libstdc++'s demangler (C ABI). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len,
			    int *status);

struct sym_module {
	char *path;                /* key */
	Dwfl *dwfl;                /* NULL when the file cannot be used */
	Dwfl_Module *mod;
	bool build_id_checked, build_id_ok;
	UT_hash_handle hh;
};

struct sym_key {
	const struct sym_module *m;
	uint64_t offset;
};

struct sym_entry {
	struct sym_key key;
	char *function, *file;
	unsigned line;
	UT_hash_handle hh;
};

struct symbolizer {
	struct sym_module *modules;
	struct sym_entry *entries;
};

static char *debuginfo_path;

static const Dwfl_Callbacks offline_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

struct symbolizer *symbolizer_new(void)
{
	return calloc(1, sizeof(struct symbolizer));
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	struct sym_entry *e, *et;
	HASH_ITER(hh, s->entries, e, et) {
		HASH_DEL(s->entries, e);
		free(e->function);
		free(e->file);
		free(e);
	}
	struct sym_module *m, *mt;
	HASH_ITER(hh, s->modules, m, mt) {
		HASH_DEL(s->modules, m);
		if (m->dwfl)
			dwfl_end(m->dwfl);
		free(m->path);
		free(m);
	}
	free(s);
}

static struct sym_module *module_get(struct symbolizer *s, const char *path)
{
	struct sym_module *m;
	HASH_FIND_STR(s->modules, path, m);
	if (m)
		return m;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->path = strdup(path);
	if (!m->path) {
		free(m);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, s->modules, m->path, strlen(m->path), m);
	if (path[0] != '/')
		return m; /* [vdso], anonymous code: nothing to open */
	m->dwfl = dwfl_begin(&offline_callbacks);
	if (!m->dwfl)
		return m;
	dwfl_report_begin(m->dwfl);
	m->mod = dwfl_report_elf(m->dwfl, path, path, -1, 0, false);
	dwfl_report_end(m->dwfl, NULL, NULL);
	if (!m->mod) {
		dwfl_end(m->dwfl);
		m->dwfl = NULL;
	}
	return m;
}

static bool build_id_matches(struct sym_module *m, const char *want)
{
	if (!want || !*want)
		return true;
	if (m->build_id_checked)
		return m->build_id_ok;
	m->build_id_checked = true;
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(m->mod, &bits, &vaddr);
	if (n <= 0) {
		m->build_id_ok = true; /* nothing to compare with */
		return true;
	}
	char hex[2 * 64 + 1];
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", bits[i]);
	m->build_id_ok = strcmp(hex, want) == 0;
	return m->build_id_ok;
}

static char *demangled(const char *name)
{
	if (!name)
		return NULL;
	if (name[0] == '_' && name[1] == 'Z') {
		int st = 0;
		char *d = __cxa_demangle(name, NULL, NULL, &st);
		if (d && st == 0)
			return d;
		free(d);
	}
	return strdup(name);
}

/* The innermost function (inlined or not) at addr, from DWARF. */
static char *dwarf_function(Dwfl_Module *mod, Dwarf_Addr addr)
{
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias);
	if (!cu)
		return NULL;
	Dwarf_Die *scopes = NULL;
	int n = dwarf_getscopes(cu, addr - bias, &scopes);
	char *name = NULL;
	for (int i = 0; i < n && !name; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag != DW_TAG_subprogram &&
		    tag != DW_TAG_inlined_subroutine)
			continue;
		Dwarf_Attribute a;
		const char *s = dwarf_formstring(dwarf_attr_integrate(
			&scopes[i], DW_AT_linkage_name, &a));
		if (!s)
			s = dwarf_formstring(dwarf_attr_integrate(
				&scopes[i], DW_AT_MIPS_linkage_name, &a));
		if (!s)
			s = dwarf_formstring(dwarf_attr_integrate(
				&scopes[i], DW_AT_name, &a));
		name = demangled(s);
	}
	free(scopes);
	return name;
}

bool symbolizer_lookup(struct symbolizer *s, const char *module,
		       uint64_t offset, const char *build_id,
		       struct sym_info *out)
{
	*out = (struct sym_info){ NULL, NULL, 0 };
	if (!s || !module || !offset)
		return false;
	struct sym_module *m = module_get(s, module);
	if (!m || !m->mod || !build_id_matches(m, build_id))
		return false;
	struct sym_key key = { m, offset };
	struct sym_entry *e;
	HASH_FIND(hh, s->entries, &key, sizeof(key), e);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return false;
		e->key = key;
		/* A return address: the call is the instruction before. */
		Dwarf_Addr addr = offset - 1;
		e->function = dwarf_function(m->mod, addr);
		if (!e->function)
			e->function = demangled(dwfl_module_addrname(m->mod,
								    addr));
		Dwfl_Line *l = dwfl_module_getsrc(m->mod, addr);
		if (l) {
			int line = 0;
			const char *f = dwfl_lineinfo(l, NULL, &line, NULL,
						      NULL, NULL);
			if (f && line > 0) {
				e->file = strdup(f);
				e->line = (unsigned)line;
			}
		}
		HASH_ADD(hh, s->entries, key, sizeof(key), e);
	}
	out->function = e->function;
	out->file = e->file;
	out->line = e->line;
	return e->function || e->file;
}
