/*
 * findings.c - what the program did wrong with its mappings (DESIGN.md,
 * "Finding kinds"), computed from the shadow's change record at the moment
 * of each call, with the stacks that matter: the call that did it
 * (operation), the call that created what it damaged (created), the call
 * that did it first (previous).  Also the per-call-site figures (mapped
 * bytes, VMAs, splits) and, at exit, the leak analysis.
 *
 * The rules, as the report explains them:
 *   fixed-clobber   MAP_FIXED/MREMAP_FIXED replaced pages that were
 *                   (a) part of a baseline or foreign mapping (an ELF image,
 *                   the stack, glibc's memory) - always reported;
 *                   (b) a tracked mapping created from another module than
 *                   the caller's (by the first frame of each stack);
 *                   (c) accessible pages holding data (present or swapped,
 *                   seen in /proc/self/pagemap before the call), even the
 *                   caller module's own.
 *                   Not reported: a module replacing its own PROT_NONE
 *                   reservation, its own pages that never held data
 *                   (reserve-then-commit), or decommitting its own pages
 *                   (an anonymous PROT_NONE mapping over them: given up as
 *                   a munmap would, the range kept reserved; V8 and
 *                   reserve/commit allocators do it to pages that held
 *                   data, and pagemap is not asked then).  Before a fixed
 *                   call the runtime asks the kernel what the target holds
 *                   when the shadow sees a hole there, so that glibc's
 *                   unabsorbed memory counts as foreign.
 *   unmap-foreign   munmap/mremap removed (or moved away) pages of a
 *                   baseline or foreign mapping.
 *   double-unmap    munmap of a range that is all holes, which the program
 *                   itself unmapped (or moved away) before: a bounded
 *                   history of the last VMC_HIST ranges with their stacks.
 *   unmap-unmapped  munmap of a range that is all holes nobody is known to
 *                   have unmapped.  (A munmap that removes live pages and
 *                   also covers holes, the usual release of a range with
 *                   holes punched in it, is neither.)
 *   mprotect-unmapped  mprotect failed with ENOMEM at a hole; the pages
 *                   before it had already changed.
 *   mremap-invalid  mremap failed with EFAULT or EINVAL.
 *   mremap-past-object  a shared or file mapping grown past its object.
 *   wx-mapping      mmap/mprotect asked for PROT_WRITE|PROT_EXEC at once.
 *   map-count-pressure  the VMA count passed max_map_share% of
 *                   vm.max_map_count (once per process), naming the call
 *                   sites that split most.
 *   leak / leak-reachable  at a normal exit (not _exit, as LeakSanitizer),
 *                   each tracked region still mapped, by a conservative scan
 *                   for an aligned pointer into [start, end] in readable
 *                   memory reachable from the roots (data, bss, heap, stacks,
 *                   foreign mappings), read with process_vm_readv (never a
 *                   fault) and only where pagemap says a page is present.
 *
 * Everything here runs under the runtime's lock, in the hooks: memory from
 * the arena only, raw system calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "preload_internal.h"
#include "uffd.h"
#include "rawsys.h"

#define VMC_HIST 1024             /* unmapped ranges remembered */
#define PAGEMAP_CAP_PAGES 65536   /* at most 256 MiB looked at per call */

static const char *const kind_name[VMC_F_NKINDS] = {
	[VMC_F_LEAK] = "leak",
	[VMC_F_LEAK_REACHABLE] = "leak-reachable",
	[VMC_F_FIXED_CLOBBER] = "fixed-clobber",
	[VMC_F_UNMAP_FOREIGN] = "unmap-foreign",
	[VMC_F_DOUBLE_UNMAP] = "double-unmap",
	[VMC_F_UNMAP_UNMAPPED] = "unmap-unmapped",
	[VMC_F_MPROTECT_UNMAPPED] = "mprotect-unmapped",
	[VMC_F_MREMAP_INVALID] = "mremap-invalid",
	[VMC_F_MREMAP_PAST_OBJECT] = "mremap-past-object",
	[VMC_F_WX_MAPPING] = "wx-mapping",
	[VMC_F_MAP_COUNT_PRESSURE] = "map-count-pressure",
	[VMC_F_UNTRACKED_CHANGE] = "untracked-change",
	[VMC_F_SHADOW_DIVERGENCE] = "shadow-divergence",
};

static const char *const kind_severity[VMC_F_NKINDS] = {
	[VMC_F_LEAK] = "error",
	[VMC_F_LEAK_REACHABLE] = "info",
	[VMC_F_FIXED_CLOBBER] = "error",
	[VMC_F_UNMAP_FOREIGN] = "error",
	[VMC_F_DOUBLE_UNMAP] = "error",
	[VMC_F_UNMAP_UNMAPPED] = "warning",
	[VMC_F_MPROTECT_UNMAPPED] = "warning",
	[VMC_F_MREMAP_INVALID] = "warning",
	[VMC_F_MREMAP_PAST_OBJECT] = "warning",
	[VMC_F_WX_MAPPING] = "warning",
	[VMC_F_MAP_COUNT_PRESSURE] = "warning",
	[VMC_F_UNTRACKED_CHANGE] = "warning",
	[VMC_F_SHADOW_DIVERGENCE] = "error",
};

const char *vmc_finding_kind_name(int kind)
{
	return kind > 0 && kind < VMC_F_NKINDS ? kind_name[kind] : "?";
}

const char *vmc_finding_kind_severity(int kind)
{
	return kind > 0 && kind < VMC_F_NKINDS ? kind_severity[kind] : "error";
}

/* A range the program unmapped (or moved away), for double-unmap. */
struct hist_entry {
	uint64_t start, end;
	uint32_t created, unmapped;  /* stacks */
};

/* Per creation/operation stack id (ids are dense): what the call site
 * did.  Index 0 = calls without a stack. */
struct site {
	uint64_t splits;             /* VMAs split by calls from this stack */
	/* --uffd=touch, mappings of this creation stack gone already: */
	uint64_t mapped_pages, touched_pages; /* pages unmapped, written */
	uint64_t mappings, untouched;         /* whole mappings unmapped,
					       * of which never written */
};

/* stack_module's answer for a stack id, from the module map `gen`. */
#define SMOD_CACHE 64
struct smod {
	uint32_t id;                 /* 0 = empty */
	unsigned gen;
	const struct vmc_module *m;
};

static struct {
	struct vmc_finding *v;
	unsigned n, dropped;
	struct hist_entry *hist;
	unsigned hist_next, hist_n;
	struct site *sites;
	uint32_t nsites;
	uint64_t pressure_limit;     /* VMAs; 0 = never */
	bool pressure_done;
	int pagemap_fd;
	const struct vmc_module *self;
	uint64_t leak_bytes_scanned, leak_candidates;
	struct smod smod[SMOD_CACHE];
} F = { .pagemap_fd = -1 };

/* ---- messages: a tiny appender (no stdio in the hooks) ------------------ */

struct msg {
	char *p;
	size_t n, cap;
};

static void m_str(struct msg *m, const char *s)
{
	while (*s && m->n + 1 < m->cap)
		m->p[m->n++] = *s++;
	m->p[m->n] = 0;
}

static void m_u64(struct msg *m, uint64_t v)
{
	char t[24];
	int k = 0;
	do
		t[k++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (k && m->n + 1 < m->cap)
		m->p[m->n++] = t[--k];
	m->p[m->n] = 0;
}

static void m_hex(struct msg *m, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	char t[20];
	int k = 0;
	do
		t[k++] = hex[v & 15];
	while ((v >>= 4));
	m_str(m, "0x");
	while (k && m->n + 1 < m->cap)
		m->p[m->n++] = t[--k];
	m->p[m->n] = 0;
}

static void m_range(struct msg *m, uint64_t start, uint64_t end)
{
	m_str(m, "[");
	m_hex(m, start);
	m_str(m, ", ");
	m_hex(m, end);
	m_str(m, ")");
}

static void m_bytes(struct msg *m, uint64_t n)
{
	m_u64(m, n);
	m_str(m, n == 1 ? " byte" : " bytes");
}

static const char *origin_what(uint8_t origin, uint8_t name)
{
	switch (name) {
	case SHADOW_NAME_HEAP:
		return "the [heap]";
	case SHADOW_NAME_STACK:
		return "the main thread's [stack]";
	case SHADOW_NAME_VDSO:
	case SHADOW_NAME_VVAR:
		return "the vDSO";
	case SHADOW_NAME_THREAD_STACK:
		return "a thread's stack (foreign: mapped by glibc for "
		       "pthread_create; known by its guard page)";
	case SHADOW_NAME_MALLOC_ARENA:
		return "a heap of glibc's malloc (foreign: a 64 MiB-aligned "
		       "arena of a thread's malloc)";
	default:
		break;
	}
	if (origin == SHADOW_ORIGIN_BASELINE)
		return name == SHADOW_NAME_FILE
			       ? "a file mapping present at start (an ELF image)"
			       : "a mapping present at start";
	if (origin == SHADOW_ORIGIN_TOOL)
		return "vmacheck's own memory";
	return name == SHADOW_NAME_FILE
		       ? "a foreign file mapping (a library's image, mapped "
			 "by nobody vmacheck intercepted)"
		       : "foreign anonymous memory (a large block of glibc's "
			 "malloc, or a runtime's own: mapped by nobody "
			 "vmacheck intercepted)";
}

/* ---- the table of findings --------------------------------------------- */

int vmc_findings_init(const struct vmc_findings_config *cfg)
{
	F.v = vmc_arena_calloc(VMC_MAX_FINDINGS, sizeof(*F.v));
	F.hist = vmc_arena_calloc(VMC_HIST, sizeof(*F.hist));
	if (!F.v || !F.hist)
		return -ENOMEM;
	F.n = F.dropped = 0;
	F.hist_next = F.hist_n = 0;
	F.pressure_limit = cfg->max_map_count && cfg->max_map_share
				   ? (uint64_t)cfg->max_map_count *
					     (uint64_t)cfg->max_map_share / 100
				   : 0;
	F.pressure_done = false;
	F.pagemap_fd = rawsys_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC,
				   0);
	F.self = NULL; /* the module map is not read yet: see self_module */
	return 0;
}

void vmc_findings_atfork_child(void)
{
	/* The parent reports its own findings; the child keeps the history
	 * (its address space is a copy) and starts its counts afresh. */
	F.n = F.dropped = 0;
	F.pressure_done = false;
	if (F.sites)
		memset(F.sites, 0, F.nsites * sizeof(*F.sites));
	if (F.pagemap_fd >= 0)
		rawsys_close(F.pagemap_fd);
	F.pagemap_fd = rawsys_open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC,
				   0);
}

unsigned vmc_findings_count(void)
{
	return F.n;
}

unsigned vmc_findings_dropped(void)
{
	return F.dropped;
}

const struct vmc_finding *vmc_finding_at(unsigned i)
{
	return i < F.n ? &F.v[i] : NULL;
}

void vmc_finding_write_head(struct jsonw *w, const struct vmc_finding *f)
{
	jsonw_key(w, "kind");
	jsonw_str(w, vmc_finding_kind_name(f->kind));
	jsonw_key(w, "severity");
	jsonw_str(w, vmc_finding_kind_severity(f->kind));
	jsonw_key(w, "message");
	jsonw_str(w, f->message);
	jsonw_key(w, "addr");
	jsonw_hex(w, f->addr);
	jsonw_key(w, "len");
	jsonw_u64(w, f->len);
	if (f->flags) {
		char prot[8], flags[64];
		vmc_flags_text(f->flags, f->file, prot, flags);
		jsonw_key(w, "prot");
		jsonw_str(w, prot);
		jsonw_key(w, "flags");
		jsonw_str(w, flags);
	}
}

/* The finding in the journal too, stacks by id (the journal's STACK
 * records give the frames): a killed process's findings survive. */
static void journal_finding(const struct vmc_finding *f)
{
	char buf[768];
	struct jsonw w;
	jsonw_init(&w, buf, sizeof(buf));
	jsonw_obj_begin(&w);
	vmc_finding_write_head(&w, f);
	if (f->has_touched) {
		jsonw_key(&w, "touched_pages");
		jsonw_u64(&w, f->touched);
	}
	jsonw_key(&w, "stacks");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "created");
	jsonw_u64(&w, f->created);
	jsonw_key(&w, "operation");
	jsonw_u64(&w, f->operation);
	jsonw_key(&w, "previous");
	jsonw_u64(&w, f->previous);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (!w.overflow)
		vmc_journal_append(VMC_JREC_FINDING, buf, (uint32_t)w.len);
}

void vmc_flags_text(uint32_t fl, bool file, char prot[8], char flags[64])
{
	prot[0] = fl & SV_READ ? 'r' : '-';
	prot[1] = fl & SV_WRITE ? 'w' : '-';
	prot[2] = fl & SV_EXEC ? 'x' : '-';
	prot[3] = 0;
	struct msg m = { flags, 0, 64 };
	flags[0] = 0;
	m_str(&m, fl & SV_MAYSHARE ? "shared" : "private");
	m_str(&m, file ? ",file" : ",anon");
	if (fl & SV_HUGETLB)
		m_str(&m, ",hugetlb");
	if (fl & SV_LOCKED)
		m_str(&m, ",locked");
	if (fl & SV_NORESERVE)
		m_str(&m, ",noreserve");
}

void vmc_finding_add(const struct vmc_finding *d)
{
	/* Same kind and stacks: one finding with a count (a leak: and the
	 * bytes of all). */
	for (unsigned i = 0; i < F.n; i++) {
		struct vmc_finding *f = &F.v[i];
		if (f->kind == d->kind && f->created == d->created &&
		    f->operation == d->operation &&
		    f->previous == d->previous &&
		    /* changes seen by uffd events have no operation stack:
		     * an unmap and a move of the same pages stay apart */
		    (d->operation || d->kind != VMC_F_UNTRACKED_CHANGE ||
		     !strncmp(f->message, d->message, 40))) {
			f->count += d->count ? d->count : 1;
			f->bytes += d->bytes;
			return;
		}
	}
	if (!F.v || F.n >= VMC_MAX_FINDINGS) {
		F.dropped++;
		return;
	}
	struct vmc_finding *f = &F.v[F.n++];
	*f = *d;
	if (!f->count)
		f->count = 1;
	/* Pages written, for the kinds whose pages are still mapped when
	 * they are found (--uffd=touch). */
	if (vmc_uffd_touch_mode() && f->len &&
	    (f->kind == VMC_F_LEAK || f->kind == VMC_F_LEAK_REACHABLE ||
	     f->kind == VMC_F_WX_MAPPING ||
	     f->kind == VMC_F_MREMAP_PAST_OBJECT)) {
		int64_t w = vmc_touch_count(f->addr & ~4095ull,
					    (f->addr + f->len + 4095) &
						    ~4095ull);
		f->has_touched = w >= 0;
		f->touched = w >= 0 ? (uint64_t)w : 0;
	}
	f->message[sizeof(f->message) - 1] = 0;
	journal_finding(f);
}

/* ---- stacks and modules ------------------------------------------------- */

static const struct vmc_module *self_module(void)
{
	if (!F.self)
		F.self = vmc_module_for((uintptr_t)&vmc_findings_init);
	return F.self;
}

/* The module of a stack's first frame outside the tool: who made the
 * call.  NULL when unknown (no stack, JIT code). */
static const struct vmc_module *stack_module_of(uint32_t id)
{
	uintptr_t ips[8];
	int n = id ? vmc_stack_get(id, ips, 8) : 0;
	for (int i = 0; i < n; i++) {
		const struct vmc_module *m = vmc_module_for(ips[i]);
		if (m != self_module() || !m)
			return m;
	}
	return NULL;
}

/* stack_module_of, remembered by stack id while the module map stays the
 * same (a stack's frames never change; a module map refresh after a
 * dlopen or dlclose may give an address another module).  A MAP_FIXED
 * loop asks about the same few stacks at every call: measured 500
 * instructions a call before (fixed_over_reservation). */
static const struct vmc_module *stack_module(uint32_t id)
{
	if (!id)
		return NULL;
	unsigned gen = vmc_modules_gen();
	struct smod *c = &F.smod[id & (SMOD_CACHE - 1)];
	if (c->id != id || c->gen != gen) {
		c->m = stack_module_of(id);
		c->id = id;
		c->gen = gen;
	}
	return c->m;
}

static struct site *site_of(uint32_t id)
{
	if (id >= F.nsites) {
		uint32_t cap = F.nsites ? F.nsites : 1024;
		while (cap <= id)
			cap *= 2;
		struct site *s = vmc_arena_calloc(cap, sizeof(*s));
		if (!s)
			return NULL;
		if (F.sites) {
			memcpy(s, F.sites, F.nsites * sizeof(*s));
			vmc_arena_free(F.sites, F.nsites * sizeof(*s));
		}
		F.sites = s;
		F.nsites = cap;
	}
	return &F.sites[id];
}

/* Pages of [start, end) present or swapped, by /proc/self/pagemap; with
 * `first`, stop at 1.  -1 when pagemap cannot tell. */
static int64_t pagemap_count(uint64_t start, uint64_t end, bool first)
{
	uint64_t buf[512];
	int64_t n = 0;
	if (F.pagemap_fd < 0)
		return -1;
	for (uint64_t a = start; a < end;) {
		uint64_t pages = (end - a) >> 12;
		if (pages > 512)
			pages = 512;
		long r = rawsys_pread(F.pagemap_fd, buf, pages * 8,
				      (a >> 12) * 8);
		if (r <= 0)
			return -1;
		uint64_t got = (uint64_t)r / 8;
		for (uint64_t i = 0; i < got; i++) {
			n += (buf[i] & (3ull << 62)) != 0; /* present|swapped */
			if (first && n)
				return n;
		}
		a += got << 12;
	}
	return n;
}

/* ---- touch tracking (--uffd=touch) ---------------------------------- */

/* Pages of [start, end) written since they were mapped: the uffd-wp bits
 * (PAGEMAP_SCAN) when the monitor tracks writes asynchronously, else the
 * pages present or swapped in /proc/self/pagemap.  -1 if unknown. */
int64_t vmc_touch_count(uint64_t start, uint64_t end)
{
	if (vmc_uffd_touch_async()) {
		uint64_t w, p;
		if (vmc_uffd_written(start, end, &w, &p) == 0)
			return (int64_t)w;
	}
	return pagemap_count(start, end, false);
}

void vmc_touch_retire(const struct shadow *sh, uint64_t start, uint64_t end)
{
	for (struct shadow_region *r = shadow_region_find_next(sh, start);
	     r && r->start < end;
	     r = r->end < end ? shadow_region_next(r) : NULL) {
		if (r->origin != SHADOW_ORIGIN_TRACKED)
			continue;
		uint64_t s = r->start > start ? r->start : start;
		uint64_t e = r->end < end ? r->end : end;
		int64_t w = vmc_touch_count(s, e);
		struct site *st = site_of(r->stack_id);
		if (w < 0 || !st)
			continue;
		st->mapped_pages += (e - s) >> 12;
		st->touched_pages += (uint64_t)w;
		if (r->start >= start && r->end <= end) {
			st->mappings++;
			st->untouched += w == 0;
		}
	}
}

void vmc_touch_site(uint32_t id, uint64_t *mapped, uint64_t *touched,
		    uint64_t *mappings, uint64_t *untouched)
{
	const struct site *st = id < F.nsites ? &F.sites[id] : NULL;
	*mapped = st ? st->mapped_pages : 0;
	*touched = st ? st->touched_pages : 0;
	*mappings = st ? st->mappings : 0;
	*untouched = st ? st->untouched : 0;
}

void vmc_findings_leak_stats(uint64_t *candidates, uint64_t *bytes_scanned)
{
	*candidates = F.leak_candidates;
	*bytes_scanned = F.leak_bytes_scanned;
}

int vmc_pagemap_fd(void)
{
	return F.pagemap_fd;
}

uint64_t vmc_site_splits(uint32_t id)
{
	return id < F.nsites ? F.sites[id].splits : 0;
}

/* ---- before the call ---------------------------------------------------- */

bool vmc_span_has_hole(const struct shadow *sh, uint64_t start, uint64_t end)
{
	/* Most calls name one whole VMA or its first pages: the index's
	 * slot tells, with no wait for the node's line. */
	if (shadow_span_one_vma(sh, start, end))
		return false;
	/* The next VMA only when the span goes on past this one: rb_next
	 * can climb to the root, a chain of cache misses at 20,000 VMAs. */
	struct shadow_vma *v = shadow_find_next(sh, start);
	for (uint64_t a = start;;) {
		if (!v || v->start > a)
			return true;
		a = v->end;
		if (a >= end)
			return false;
		v = shadow_vma_next(v);
	}
}

bool vmc_span_has_untracked(const struct shadow *sh, uint64_t start,
			    uint64_t end)
{
	if (shadow_span_one_owned_region(sh, start, end))
		return false;
	/* No step past the span: region_next may climb the tree. */
	for (struct shadow_region *r = shadow_region_find_next(sh, start);
	     r && r->start < end; r = shadow_region_next(r)) {
		/* The tool's own memory is known exactly: not stale. */
		if (r->origin != SHADOW_ORIGIN_TRACKED &&
		    r->origin != SHADOW_ORIGIN_TOOL)
			return true;
		if (r->end >= end)
			break;
	}
	return false;
}

/* Does [start, end) hold a present or swapped page?  -1 when pagemap
 * cannot tell (unreadable, or more than the cap to look at). */
static int span_has_data(uint64_t start, uint64_t end)
{
	if ((end - start) >> 12 > PAGEMAP_CAP_PAGES)
		return -1;
	int64_t n = pagemap_count(start, end, true);
	return n < 0 ? -1 : n > 0;
}

/* Whether rule (b) holds: a tracked mapping created from another module
 * than the caller's (an unknown module on either side is not another). */
static bool other_module(uint32_t caller, uint32_t creator)
{
	return vmc_findings_other_module(caller, creator);
}

bool vmc_findings_other_module(uint32_t caller, uint32_t creator)
{
	const struct vmc_module *mine = stack_module(caller);
	const struct vmc_module *theirs = stack_module(creator);
	return mine && theirs && mine != theirs;
}

/* A decommit: an anonymous PROT_NONE mapping put over the caller's own
 * pages gives them up as a munmap would, keeping the range reserved
 * (V8's DecommitPages, reserve/commit allocators).  What they held does
 * not matter: rule (c) does not apply, and pagemap is not asked. */
static bool decommit_call(uint8_t call, const uint64_t *args)
{
	return call == SHADOW_CALL_MMAP && ((int)args[3] & MAP_ANONYMOUS) &&
	       args[2] == PROT_NONE;
}

void vmc_findings_before(const struct shadow *sh, uint64_t start,
			 uint64_t end, uint8_t call, const uint64_t *args,
			 uint32_t stack, struct vmc_pre *pre)
{
	bool decommit = decommit_call(call, args);
	pre->n = 0;
	pre->valid = true;
	for (struct shadow_vma *v = shadow_find_next(sh, start);
	     v && v->start < end; v = shadow_vma_next(v)) {
		if (!(v->flags & (SV_READ | SV_WRITE | SV_EXEC)))
			continue; /* a reservation: nothing to lose */
		uint64_t s = v->start > start ? v->start : start;
		uint64_t e = v->end < end ? v->end : end;
		if (pre->n == VMC_PRE_RANGES) {
			pre->valid = false;
			break;
		}
		int8_t data;
		const struct shadow_region *r;
		if (decommit && (r = shadow_region_find_next(sh, s)) &&
		    r->start <= s && r->end >= e &&
		    r->origin == SHADOW_ORIGIN_TRACKED &&
		    !other_module(stack, r->stack_id))
			data = 0; /* the caller's own, given up */
		else
			data = (int8_t)span_has_data(s, e);
		pre->r[pre->n++] = (struct vmc_pre_range){
			.start = s, .end = e, .flags = v->flags, .data = data,
		};
	}
}

/* What the accessible pages of [s, e) held before the call: 1 data,
 * 0 no data / not accessible, -1 unknown. */
static int pre_data(const struct vmc_pre *pre, uint64_t s, uint64_t e,
		    bool *accessible)
{
	int data = 0;
	*accessible = false;
	for (unsigned i = 0; i < pre->n; i++) {
		const struct vmc_pre_range *r = &pre->r[i];
		if (r->end <= s || r->start >= e)
			continue;
		*accessible = true;
		if (r->data > 0)
			return 1;
		if (r->data < 0)
			data = -1;
	}
	if (!pre->valid)
		*accessible = true, data = data ? data : -1;
	return data;
}

/* ---- after the call ----------------------------------------------------- */

static void hist_push(uint64_t start, uint64_t end, uint32_t created,
		      uint32_t unmapped)
{
	F.hist[F.hist_next] = (struct hist_entry){ start, end, created,
						   unmapped };
	F.hist_next = (F.hist_next + 1) % VMC_HIST;
	if (F.hist_n < VMC_HIST)
		F.hist_n++;
}

/* The newest remembered unmap overlapping [start, end). */
static const struct hist_entry *hist_find(uint64_t start, uint64_t end)
{
	for (unsigned k = 1; k <= F.hist_n; k++) {
		const struct hist_entry *h =
			&F.hist[(F.hist_next + VMC_HIST - k) % VMC_HIST];
		if (h->start < end && start < h->end)
			return h;
	}
	return NULL;
}

static void finding(uint8_t kind, uint64_t addr, uint64_t len,
		    uint32_t flags, uint32_t created, uint32_t operation,
		    uint32_t previous, const char *message)
{
	struct vmc_finding f = { .kind = kind, .addr = addr, .len = len,
				 .flags = flags, .created = created,
				 .operation = operation, .previous = previous,
				 .count = 1, .bytes = len };
	size_t n = strlen(message);
	if (n >= sizeof(f.message))
		n = sizeof(f.message) - 1;
	memcpy(f.message, message, n);
	vmc_finding_add(&f);
}

static const char *const call_word[] = {
	[SHADOW_CALL_MMAP] = "mmap", [SHADOW_CALL_MUNMAP] = "munmap",
	[SHADOW_CALL_MREMAP] = "mremap", [SHADOW_CALL_MPROTECT] = "mprotect",
	[SHADOW_CALL_MADVISE] = "madvise", [SHADOW_CALL_MLOCK] = "mlock",
	[SHADOW_CALL_MUNLOCK] = "munlock", [SHADOW_CALL_BRK] = "brk",
	[SHADOW_CALL_SHMAT] = "shmat",
};

/* Why replacing [start, end) of a region of `origin` created at `created`
 * by a fixed call from `stack` is a fixed-clobber, or NULL when it is
 * not.  *accessible and *data: what pre_data says of those pages. */
static const char *clobber_rule(const struct vmc_pre *pre, bool decommit,
				uint32_t stack, uint8_t origin,
				uint32_t created, uint64_t start, uint64_t end,
				bool *accessible, int *data)
{
	*data = pre_data(pre, start, end, accessible);
	if (origin == SHADOW_ORIGIN_BASELINE || origin == SHADOW_ORIGIN_FOREIGN)
		return "rule: pages of a mapping the program did not create "
		       "are never the program's to replace";
	if (origin != SHADOW_ORIGIN_TRACKED)
		return NULL;
	if (other_module(stack, created))
		return "rule: a tracked mapping created by another module "
		       "was replaced";
	if (*accessible && *data > 0 && !decommit)
		return "rule: accessible pages holding data (present in "
		       "pagemap) were replaced, their contents lost";
	return NULL;
}

bool vmc_findings_fixed_quiet(const struct shadow *sh, uint64_t start,
			      uint64_t end, const uint64_t *args,
			      uint32_t stack, const struct vmc_pre *pre)
{
	bool decommit = decommit_call(SHADOW_CALL_MMAP, args);
	/* No step past the range: region_next may climb the tree. */
	for (const struct shadow_region *r = shadow_region_find_next(sh, start);
	     r && r->start < end;
	     r = r->end < end ? shadow_region_next(r) : NULL) {
		bool accessible;
		int data;
		if (clobber_rule(pre, decommit, stack, r->origin, r->stack_id,
				 r->start > start ? r->start : start,
				 r->end < end ? r->end : end, &accessible,
				 &data))
			return false;
	}
	return true;
}

static void clobbers(const struct vmc_after *a)
{
	const struct shadow_change *rec = a->rec;
	bool decommit = decommit_call(a->call, a->args);
	for (uint32_t i = 0; i < rec->npieces; i++) {
		const struct shadow_piece *p = &rec->pieces[i];
		if (p->kind != SHADOW_PIECE_REPLACED)
			continue;
		bool accessible;
		int data;
		const char *rule = clobber_rule(a->pre, decommit, a->stack,
						p->origin, p->stack_id,
						p->start, p->end, &accessible,
						&data);
		if (!rule)
			continue;
		char buf[VMC_FINDING_MSG];
		struct msg m = { buf, 0, sizeof(buf) };
		m_str(&m, a->call == SHADOW_CALL_MREMAP ? "MREMAP_FIXED"
							 : "MAP_FIXED");
		m_str(&m, " replaced ");
		m_bytes(&m, p->end - p->start);
		m_str(&m, " at ");
		m_range(&m, p->start, p->end);
		m_str(&m, " of ");
		m_str(&m, p->origin == SHADOW_ORIGIN_TRACKED
				  ? "a mapping the program created"
				  : origin_what(p->origin, p->name));
		if (accessible && data > 0)
			m_str(&m, ", pages holding data");
		m_str(&m, " (");
		m_str(&m, rule);
		m_str(&m, ")");
		finding(VMC_F_FIXED_CLOBBER, p->start, p->end - p->start,
			p->old_flags, p->stack_id, a->stack, 0, buf);
	}
}

static void unmaps(const struct vmc_after *a)
{
	const struct shadow_change *rec = a->rec;
	const char *cw = call_word[a->call];
	/* Holes count only when the call removed nothing at all: a munmap
	 * of a whole range in which the program punched holes before is
	 * the usual way to release it, not a bug. */
	bool removed = false;
	for (uint32_t i = 0; i < rec->npieces; i++)
		removed |= rec->pieces[i].kind == SHADOW_PIECE_UNMAPPED;
	for (uint32_t i = 0; i < rec->npieces; i++) {
		const struct shadow_piece *p = &rec->pieces[i];
		char buf[VMC_FINDING_MSG];
		struct msg m = { buf, 0, sizeof(buf) };
		if ((p->kind == SHADOW_PIECE_UNMAPPED ||
		     p->kind == SHADOW_PIECE_MOVED) &&
		    (p->origin == SHADOW_ORIGIN_BASELINE ||
		     p->origin == SHADOW_ORIGIN_FOREIGN)) {
			const struct hist_entry *h = hist_find(p->start, p->end);
			m_str(&m, cw);
			m_str(&m, p->kind == SHADOW_PIECE_MOVED ? " moved away "
								 : " removed ");
			m_bytes(&m, p->end - p->start);
			m_str(&m, " at ");
			m_range(&m, p->start, p->end);
			m_str(&m, " of ");
			m_str(&m, origin_what(p->origin, p->name));
			if (h)
				m_str(&m, "; the program had unmapped these "
					  "addresses before (see previous): "
					  "a stale pointer");
			finding(VMC_F_UNMAP_FOREIGN, p->start,
				p->end - p->start, p->old_flags, p->stack_id,
				a->stack, h ? h->unmapped : 0, buf);
		} else if (p->kind == SHADOW_PIECE_HOLE && !removed &&
			   a->call == SHADOW_CALL_MUNMAP) {
			const struct hist_entry *h = hist_find(p->start, p->end);
			m_str(&m, "munmap of ");
			m_bytes(&m, p->end - p->start);
			m_str(&m, " at ");
			m_range(&m, p->start, p->end);
			if (h) {
				m_str(&m, " that the program had already "
					  "unmapped (see previous)");
				finding(VMC_F_DOUBLE_UNMAP, p->start,
					p->end - p->start, 0, h->created,
					a->stack, h->unmapped, buf);
			} else {
				m_str(&m, " that were not mapped");
				finding(VMC_F_UNMAP_UNMAPPED, p->start,
					p->end - p->start, 0, 0, a->stack, 0,
					buf);
			}
		}
	}
	/* Remember what the program itself took away, for double-unmap. */
	for (uint32_t i = 0; i < rec->npieces; i++) {
		const struct shadow_piece *p = &rec->pieces[i];
		if ((p->kind == SHADOW_PIECE_UNMAPPED ||
		     p->kind == SHADOW_PIECE_MOVED) &&
		    p->origin == SHADOW_ORIGIN_TRACKED &&
		    !(p->kind == SHADOW_PIECE_MOVED && a->dontunmap))
			hist_push(p->start, p->end, p->stack_id, a->stack);
	}
}

static const char *errno_name(int e)
{
	switch (e) {
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case ENOMEM: return "ENOMEM";
	default: return "an error";
	}
}

static void remap_invalid(const struct vmc_after *a)
{
	const struct shadow *sh = a->sh;
	int err = (int)-a->ret;
	char buf[VMC_FINDING_MSG];
	struct msg m = { buf, 0, sizeof(buf) };
	uint64_t old = a->args[0], olen = a->args[1], nlen = a->args[2];
	int flags = (int)a->args[3];
	m_str(&m, "mremap(");
	m_hex(&m, old);
	m_str(&m, ", ");
	m_u64(&m, olen);
	m_str(&m, ", ");
	m_u64(&m, nlen);
	m_str(&m, ") failed with ");
	m_str(&m, errno_name(err));
	m_str(&m, ": ");
	const char *why;
	if (err == EFAULT) {
		struct shadow_vma *v = shadow_find(sh, old);
		why = !v ? "the old address is not mapped"
		      : v->end - old < (olen ? olen : 1)
			      ? "the old range spans more than one mapping"
			      : "the old range is not one mapping";
	} else if (old & 4095) {
		why = "the old address is not page-aligned";
	} else if (!nlen) {
		why = "the new length is 0";
	} else if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | 4 /* DONTUNMAP */)) {
		why = "unknown flags";
	} else if ((flags & (MREMAP_FIXED | 4)) && !(flags & MREMAP_MAYMOVE)) {
		why = "MREMAP_FIXED or MREMAP_DONTUNMAP without MREMAP_MAYMOVE";
	} else if ((flags & MREMAP_FIXED) &&
		   (a->args[4] & 4095)) {
		why = "the new address is not page-aligned";
	} else if ((flags & MREMAP_FIXED) && a->args[4] < old + olen &&
		   old < a->args[4] + nlen) {
		why = "the old and new ranges overlap";
	} else if (!olen && !(shadow_find(sh, old) &&
			      (shadow_find(sh, old)->flags & SV_MAYSHARE))) {
		why = "old length 0 (a duplicate) needs a shared mapping";
	} else {
		why = "the arguments do not fit the mapping (see the flags "
		      "and lengths)";
	}
	m_str(&m, why);
	finding(VMC_F_MREMAP_INVALID, old, olen, 0,
		(shadow_region_find(sh, old) ? shadow_region_find(sh, old)->stack_id
					     : 0),
		a->stack, 0, buf);
}

static void remap_past_object(const struct vmc_after *a)
{
	const struct shadow *sh = a->sh;
	uint64_t at = (uint64_t)a->ret, nlen = (a->args[2] + 4095) & ~4095ull;
	struct shadow_vma *v = shadow_find(sh, at);
	if (!v || !v->ino)
		return;
	uint64_t past = shadow_past_object(sh, v, at, at + nlen);
	if (!past)
		return;
	char buf[VMC_FINDING_MSG];
	struct msg m = { buf, 0, sizeof(buf) };
	m_str(&m, "mremap grew a ");
	m_str(&m, v->flags & SV_MAYSHARE ? "shared" : "file");
	m_str(&m, " mapping to ");
	m_bytes(&m, nlen);
	m_str(&m, ", past the end of its object at ");
	m_hex(&m, past);
	m_str(&m, ": touching ");
	m_range(&m, past, at + nlen);
	m_str(&m, " raises SIGBUS");
	struct shadow_region *r = shadow_region_find(sh, at);
	finding(VMC_F_MREMAP_PAST_OBJECT, past, at + nlen - past, v->flags,
		r ? r->stack_id : 0, a->stack, 0, buf);
}

static void wx(const struct vmc_after *a, uint64_t addr, uint64_t len)
{
	char buf[VMC_FINDING_MSG];
	struct msg m = { buf, 0, sizeof(buf) };
	m_str(&m, call_word[a->call]);
	m_str(&m, " made ");
	m_bytes(&m, len);
	m_str(&m, " at ");
	m_hex(&m, addr);
	m_str(&m, " writable and executable at once (W^X: code that can be "
		  "rewritten through a stray write)");
	struct shadow_region *r = a->call == SHADOW_CALL_MPROTECT
					  ? shadow_region_find(a->sh, addr)
					  : NULL;
	finding(VMC_F_WX_MAPPING, addr, len, SV_READ | SV_WRITE | SV_EXEC,
		r ? r->stack_id : 0, a->stack, 0, buf);
}

static void pressure(const struct vmc_after *a)
{
	/* The three call sites that split most. */
	uint32_t top[3] = { 0, 0, 0 };
	for (uint32_t id = 1; id < F.nsites; id++) {
		uint64_t s = F.sites[id].splits;
		if (!s)
			continue;
		for (int k = 0; k < 3; k++) {
			if (!top[k] || s > F.sites[top[k]].splits) {
				for (int j = 2; j > k; j--)
					top[j] = top[j - 1];
				top[k] = id;
				break;
			}
		}
	}
	char buf[VMC_FINDING_MSG];
	struct msg m = { buf, 0, sizeof(buf) };
	m_str(&m, "the process has ");
	m_u64(&m, a->sh->c.map_count);
	m_str(&m, " VMAs, past ");
	m_u64(&m, F.pressure_limit);
	m_str(&m, " (max_map_share of vm.max_map_count ");
	m_u64(&m, a->sh->env.max_map_count);
	m_str(&m, "): mmap and mprotect fail with ENOMEM at the limit");
	if (top[0]) {
		m_str(&m, "; the call sites that split most: ");
		for (int k = 0; k < 3 && top[k]; k++) {
			if (k)
				m_str(&m, ", ");
			m_u64(&m, F.sites[top[k]].splits);
			m_str(&m, " splits (stack ");
			m_str(&m, k == 0 ? "created" : k == 1 ? "previous"
						       : "#3");
			m_str(&m, ")");
		}
	}
	/* The top splitter's stack as `created`, the second as `previous`:
	 * the report shows where they are. */
	finding(VMC_F_MAP_COUNT_PRESSURE, 0, 0, 0, top[0], a->stack, top[1],
		buf);
}

/* VMAs split by a call from this stack, for the site's count. */
static void splits_add(uint32_t stack, uint32_t n)
{
	struct site *s = n ? site_of(stack) : NULL;
	if (s)
		s->splits += n;
}

void vmc_findings_after(const struct vmc_after *a)
{
	const struct shadow_change *rec = a->rec;
	if (a->rec_valid)
		splits_add(a->stack, rec->vmas_split);
	if (a->ret < 0) {
		int err = (int)-a->ret;
		if (a->call == SHADOW_CALL_MREMAP &&
		    (err == EFAULT || err == EINVAL))
			remap_invalid(a);
		if (a->call == SHADOW_CALL_MPROTECT && err == ENOMEM &&
		    a->args[1] && !(a->args[0] & 4095)) {
			/* Where it stopped: a hole, or the map count. */
			uint64_t at = a->rec_valid && rec->applied_end >
							      a->args[0]
					      ? rec->applied_end
					      : a->args[0];
			struct shadow_vma *v = shadow_find(a->sh, at);
			if (!v) {
				char buf[VMC_FINDING_MSG];
				struct msg m = { buf, 0, sizeof(buf) };
				m_str(&m, "mprotect over a hole at ");
				m_hex(&m, at);
				m_str(&m, " (ENOMEM)");
				if (at > a->args[0]) {
					m_str(&m, "; the pages before it, ");
					m_range(&m, a->args[0], at);
					m_str(&m, ", had already changed");
				}
				finding(VMC_F_MPROTECT_UNMAPPED, a->args[0],
					a->args[1], 0, 0, a->stack, 0, buf);
			}
		}
		return;
	}
	if (!a->rec_valid)
		return;
	switch (a->call) {
	case SHADOW_CALL_MMAP:
		if (((int)a->args[3] & MAP_FIXED) &&
		    !((int)a->args[3] & MAP_FIXED_NOREPLACE))
			clobbers(a);
		if ((a->args[2] & (PROT_WRITE | PROT_EXEC)) ==
		    (PROT_WRITE | PROT_EXEC))
			wx(a, (uint64_t)a->ret, a->args[1]);
		break;
	case SHADOW_CALL_MREMAP:
		if ((int)a->args[3] & MREMAP_FIXED)
			clobbers(a);
		unmaps(a);
		if (a->args[2] > a->args[1])
			remap_past_object(a);
		break;
	case SHADOW_CALL_MUNMAP:
		unmaps(a);
		break;
	case SHADOW_CALL_MPROTECT:
		if ((a->args[2] & (PROT_WRITE | PROT_EXEC)) ==
		    (PROT_WRITE | PROT_EXEC))
			wx(a, a->args[0], a->args[1]);
		break;
	default:
		break;
	}
	if (F.pressure_limit && !F.pressure_done &&
	    a->sh->c.map_count > F.pressure_limit) {
		F.pressure_done = true;
		pressure(a);
	}
}

/* After a call the fast paths of shadow/fast.c applied: what
 * vmc_findings_after does for those shapes (an unmap of one whole tracked
 * mapping is remembered for double-unmap; the map count's pressure). */
bool vmc_findings_pressure_due(const struct shadow *sh, uint64_t more)
{
	return F.pressure_limit && !F.pressure_done &&
	       sh->c.map_count + more > F.pressure_limit;
}

uint64_t vmc_findings_count_cap(void)
{
	return F.pressure_limit && !F.pressure_done ? F.pressure_limit
						    : UINT64_MAX;
}

void vmc_findings_fast(const struct shadow *sh, uint8_t call, uint64_t start,
		       uint64_t end, uint32_t created, uint32_t stack)
{
	/* What the program took away (unmapped, or moved away by mremap),
	 * for double-unmap and a stale pointer's finding. */
	if ((call == SHADOW_CALL_MUNMAP || call == SHADOW_CALL_MREMAP) &&
	    end > start)
		hist_push(start, end, created, stack);
	if (F.pressure_limit && !F.pressure_done &&
	    sh->c.map_count > F.pressure_limit) {
		struct vmc_after a = { .sh = sh, .call = call, .stack = stack };
		F.pressure_done = true;
		pressure(&a);
	}
}

void vmc_findings_protect_fast(const struct shadow *sh, uint32_t splits,
			       uint32_t stack)
{
	splits_add(stack, splits);
	vmc_findings_fast(sh, SHADOW_CALL_MPROTECT, 0, 0, 0, stack);
}

/* ---- leaks at exit ------------------------------------------------------ */

struct cand {
	uint64_t start, end;
	uint32_t stack;
	uint8_t reached, scanned;
	uint8_t end_is_next;         /* another mapping starts at end */
};

struct leak_scan {
	struct cand *c;
	size_t n;
	uint64_t lo, hi;             /* [lo, hi]: any candidate's bytes */
	size_t *work;                /* candidates reached, to scan */
	size_t nwork;
	uint64_t *buf;               /* read buffer */
	size_t buf_words;
	/* Pagemap entries of pages [pm_lo, pm_lo + pm_n), read ahead past
	 * the range asked: a process's many small mappings lie side by side,
	 * and each would otherwise cost a read of its own. */
	uint64_t pm[512];
	uint64_t pm_lo, pm_n;
	pid_t pid;
	uint64_t skip_start[2], skip_end[2]; /* the tool's image, the loader's */
	uint64_t stack_lo;           /* this thread's sp: below is dead */
	uint64_t bytes_scanned;
};

static void mark(struct leak_scan *ls, uint64_t v)
{
	size_t lo = 0, hi = ls->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ls->c[mid].start <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Candidate lo-1 starts at or below v; [start, end] counts (a
	 * pointer one past the end is a limit pointer of that mapping),
	 * unless another mapping starts there: a pointer to a mapping's
	 * first byte is that mapping's (the loader's own block, next to the
	 * program's newest mapping, is pointed to by its owners). */
	const struct cand *c = lo ? &ls->c[lo - 1] : NULL;
	if (c && (v < c->end || (v == c->end && !c->end_is_next)) &&
	    !c->reached) {
		ls->c[lo - 1].reached = 1;
		ls->work[ls->nwork++] = lo - 1;
	}
}

static void scan_words(struct leak_scan *ls, const uint64_t *w, size_t n)
{
	uint64_t lo = ls->lo, hi = ls->hi;
	for (size_t i = 0; i < n; i++)
		if (w[i] - lo <= hi - lo)
			mark(ls, w[i]);
}

/* The pagemap entries from page pg on: *got of them (at least one), or
 * NULL when pagemap cannot be read (then *got pages are to be read as if
 * present). */
static const uint64_t *pagemap_window(struct leak_scan *ls, uint64_t pg,
				      uint64_t *got)
{
	const uint64_t cap = sizeof(ls->pm) / sizeof(ls->pm[0]);
	if (pg - ls->pm_lo >= ls->pm_n) {
		/* Reached mappings are scanned newest found first, which is
		 * often downwards: a page below the last window starts the
		 * next one half a window lower. */
		uint64_t lo = pg;
		if (ls->pm_n && pg < ls->pm_lo)
			lo = pg > cap / 2 ? pg - cap / 2 : 0;
		long r = F.pagemap_fd >= 0
				 ? rawsys_pread(F.pagemap_fd, ls->pm,
						sizeof(ls->pm), lo * 8)
				 : -1;
		ls->pm_lo = lo;
		ls->pm_n = r > 0 ? (uint64_t)r / 8 : 0;
	}
	if (pg - ls->pm_lo < ls->pm_n) {
		*got = ls->pm_n - (pg - ls->pm_lo);
		return &ls->pm[pg - ls->pm_lo];
	}
	*got = cap; /* unreadable (or cut short before pg) */
	return NULL;
}

/* Read [start, end) where pages are present, with process_vm_readv (a
 * page that cannot be read is skipped, never a fault), and scan it. */
static void scan_range(struct leak_scan *ls, uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end;) {
		uint64_t pages = (end - a) >> 12;
		if (!pages)
			break; /* ranges are whole pages */
		uint64_t got;
		const uint64_t *pm = pagemap_window(ls, a >> 12, &got);
		if (got > pages)
			got = pages;
		for (uint64_t i = 0; i < got;) {
			if (pm && !(pm[i] & (3ull << 62))) {
				i++;
				continue;
			}
			/* A run of present pages, up to the buffer's size. */
			uint64_t j = i + 1;
			while (j < got && (ls->buf_words * 8) >> 12 > j - i &&
			       (!pm || (pm[j] & (3ull << 62))))
				j++;
			uint64_t s = a + (i << 12);
			struct iovec local = { ls->buf, (j - i) << 12 };
			struct iovec remote = { (void *)s, (j - i) << 12 };
			long n = rawsys6(SYS_process_vm_readv, ls->pid,
					 (long)&local, 1, (long)&remote, 1, 0);
			if (n > 0) {
				scan_words(ls, ls->buf, (size_t)n / 8);
				ls->bytes_scanned += (uint64_t)n;
			}
			/* A short read: skip the page it stopped at. */
			uint64_t done = n > 0 ? ((uint64_t)n + 4095) >> 12 : 1;
			if (done < j - i && n >= 0)
				done = ((uint64_t)n >> 12) + 1;
			i += done < j - i ? done : j - i;
		}
		a += got << 12;
	}
}

/* Roots are readable writable memory (pointers live there), the tool's
 * own image aside.  Device memory needs no exception: process_vm_readv
 * refuses VM_IO/VM_PFNMAP pages (EFAULT), and pages past a file's end. */
static bool root_vma(const struct leak_scan *ls, const struct shadow_vma *v)
{
	if ((v->flags & (SV_READ | SV_WRITE)) != (SV_READ | SV_WRITE))
		return false;
	for (int i = 0; i < 2; i++)
		if (v->start < ls->skip_end[i] && ls->skip_start[i] < v->end)
			return false;
	return true;
}

void vmc_findings_leaks(const struct shadow *sh, uint64_t sp,
			const uint64_t regs[6])
{
	size_t n = 0;
	for (struct shadow_region *r = shadow_region_find_next(sh, 0); r;
	     r = shadow_region_next(r))
		if (r->origin == SHADOW_ORIGIN_TRACKED &&
		    r->call != SHADOW_CALL_BRK)
			n++;
	if (!n)
		return;
	struct leak_scan ls = { .n = n, .stack_lo = sp,
				.pid = rawsys_getpid() };
	ls.c = vmc_arena_calloc(n, sizeof(*ls.c));
	ls.work = vmc_arena_calloc(n, sizeof(*ls.work));
	ls.buf_words = (256u << 10) / 8;
	ls.buf = vmc_arena_alloc(ls.buf_words * 8);
	if (!ls.c || !ls.work || !ls.buf)
		goto out;
	size_t k = 0;
	for (struct shadow_region *r = shadow_region_find_next(sh, 0), *nx; r;
	     r = nx) {
		nx = shadow_region_next(r);
		if (r->origin == SHADOW_ORIGIN_TRACKED &&
		    r->call != SHADOW_CALL_BRK)
			ls.c[k++] = (struct cand){
				r->start, r->end, r->stack_id, 0, 0,
				nx && nx->start == r->end };
	}
	ls.lo = ls.c[0].start;
	ls.hi = ls.c[n - 1].end;
	/* Not roots: the tool's image, and the loader's data (its link
	 * maps and bookkeeping hold the ends of neighbouring mappings, not
	 * the program's pointers: a mapping placed right after one looked
	 * reachable). */
	if (self_module()) {
		ls.skip_start[0] = F.self->start & ~4095ull;
		ls.skip_end[0] = (F.self->end + 4095) & ~4095ull;
	}
	for (int i = 0; i < vmc_module_count(); i++) {
		const struct vmc_module *m = vmc_module_at(i);
		const char *b = m ? strrchr(m->path, '/') : NULL;
		if (b && !strncmp(b + 1, "ld-linux", 8)) {
			ls.skip_start[1] = m->start & ~4095ull;
			ls.skip_end[1] = (m->end + 4095) & ~4095ull;
		}
	}
	/* Roots: the program frame's callee-saved registers, then writable
	 * memory that is not a tracked mapping and not the tool's. */
	scan_words(&ls, regs, 6);
	/* Memory: each VMA, piece by piece against the regions. */
	for (struct shadow_vma *v = shadow_vma_first(sh); v;
	     v = shadow_vma_next(v)) {
		if (!root_vma(&ls, v))
			continue;
		uint64_t a = v->start;
		if (sp >= v->start && sp < v->end) {
			/* This thread's live frames only: from sp (to the
			 * byte: below it lie the exit path's dead frames),
			 * then whole pages. */
			uint64_t s0 = sp & ~7ull, e0 = (sp + 4095) & ~4095ull;
			if (e0 > v->end)
				e0 = v->end;
			if (e0 > s0) {
				struct iovec l = { ls.buf, e0 - s0 };
				struct iovec rm = { (void *)s0, e0 - s0 };
				long got = rawsys6(SYS_process_vm_readv,
						   ls.pid, (long)&l, 1,
						   (long)&rm, 1, 0);
				if (got > 0)
					scan_words(&ls, ls.buf, (size_t)got / 8);
			}
			a = e0;
		}
		while (a < v->end) {
			struct shadow_region *r = shadow_region_find_next(sh, a);
			uint64_t e = r && r->start < v->end
					     ? (r->start > a ? r->start : a)
					     : v->end;
			if (e > a)
				scan_range(&ls, a, e);
			if (!r || r->start >= v->end)
				break;
			uint64_t re = r->end < v->end ? r->end : v->end;
			if (r->origin != SHADOW_ORIGIN_TRACKED &&
			    r->origin != SHADOW_ORIGIN_TOOL)
				scan_range(&ls, r->start > a ? r->start : a, re);
			a = re;
		}
	}
	/* Then what the roots reach, transitively. */
	while (ls.nwork) {
		struct cand *c = &ls.c[ls.work[--ls.nwork]];
		if (c->scanned)
			continue;
		c->scanned = 1;
		struct shadow_vma *v = shadow_find_next(sh, c->start);
		for (; v && v->start < c->end; v = shadow_vma_next(v)) {
			if (!(v->flags & SV_READ))
				continue;
			uint64_t s = v->start > c->start ? v->start : c->start;
			uint64_t e = v->end < c->end ? v->end : c->end;
			scan_range(&ls, s, e);
		}
	}
	F.leak_bytes_scanned = ls.bytes_scanned;
	F.leak_candidates = n;
	for (size_t i = 0; i < n; i++) {
		const struct cand *c = &ls.c[i];
		struct shadow_vma *v = shadow_find(sh, c->start);
		char buf[VMC_FINDING_MSG];
		struct msg m = { buf, 0, sizeof(buf) };
		m_str(&m, c->reached
				  ? "mapping still mapped at exit and still "
				    "pointed to (reachable)"
				  : "mapping never unmapped, and no pointer to it "
				    "remains in scanned memory (unreachable)");
		struct vmc_finding f = {
			.kind = c->reached ? VMC_F_LEAK_REACHABLE : VMC_F_LEAK,
			.addr = c->start, .len = c->end - c->start,
			.flags = v ? v->flags : 0, .created = c->stack,
			.count = 1, .bytes = c->end - c->start,
		};
		memcpy(f.message, buf, m.n + 1);
		vmc_finding_add(&f);
	}
out:
	if (ls.c)
		vmc_arena_free(ls.c, n * sizeof(*ls.c));
	if (ls.work)
		vmc_arena_free(ls.work, n * sizeof(*ls.work));
	if (ls.buf)
		vmc_arena_free(ls.buf, ls.buf_words * 8);
}
