/*
 * runtime.c - the state of libvmacheck.so: lazy init, the lock, the hooks'
 * common path, checks against the kernel, fork handling, and the
 * per-process result at exit.
 *
 * One hook, in order (DESIGN.md "Data flow"): the thread's re-entry guard
 * (vmc_enter) -> the call's stack -> the lock -> the raw system call ->
 * the same call applied to the shadow, which predicts the kernel's result:
 * a different result is a divergence, and the span is checked against the
 * kernel and adopted -> the journal -> unlock -> the kernel's result, with
 * errno exactly as the kernel set it (or untouched on success).
 *
 * Memory: the arena only.  System calls: raw (shadow/rawsys.h), except
 * what libunwind and dl_iterate_phdr do inside stack.c, under the guard.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <x86intrin.h>

#include "compat.h"
#include "diff.h"
#include "kview.h"
#include "rawsys.h"
#include "runtime.h"
#include "uffd.h"

extern char **environ;
/* glibc's break (it exports __curbrk and __sbrk, not __brk): brk() is done
 * here as glibc does it, so that __curbrk stays right for its sbrk. */
extern void *__curbrk;
extern void *__sbrk(intptr_t incr);

enum { ST_UNINIT = 0, ST_INITIALIZING, ST_READY, ST_DISABLED };

#define TOOL_RANGES 256

static struct {
	volatile int state;
	pthread_mutex_t lock;
	struct shadow sh;
	int maps_fd;
	int pagemap_fd;            /* /proc/self/pagemap, -1 if none */
	pid_t pid, ppid;
	/* kernel view buffers, grown in the arena */
	struct kview kv;
	struct kview_entry *kv_ent;
	size_t kv_cap;
	char *kv_names;
	char *iobuf;
	/* statistics (DESIGN.md "stats") */
	uint64_t calls[SHADOW_CALL_SCAN + 1], failed[SHADOW_CALL_SCAN + 1];
	uint64_t counts_off;      /* the journal's COUNTS record, 0 = none */
	struct vmc_jcounts *jcounts; /* that record, pinned (NULL: none) */
	uint64_t checks, divergences, errno_mismatches, passthrough, resyncs;
	uint64_t untracked_changes;
	uint64_t fast_calls;       /* applied by the fast paths (fast.c) */
	/* An anonymous mmap the fast path accepted and has not applied yet
	 * (see pend_flush); pend_len 0 = none. */
	uint64_t pend_start, pend_len, pend_off;
	int pend_prot, pend_flags;
	uint32_t pend_stack;
	uint64_t elided;           /* mmap + munmap pairs never applied */
	/* An mprotect the fast path planned and has not applied yet (see
	 * pend_flush); held is false when there is none.  Never held with
	 * a pending mmap. */
	struct shadow_protect_plan held;
	bool held_on;
	int held_prot;
	uint32_t held_stack;
	bool held_clean;           /* its span had no hole, nothing foreign */
	/* A MAP_FIXED commit the fast path planned and has not applied yet
	 * (shadow_fixed_pair_plan, see pend_flush): the next call may be
	 * its decommit.  Never held with another. */
	struct shadow_fixed_plan fheld;
	bool fheld_on;
	bool fheld_clean;          /* its span had no hole, nothing foreign */
	/* Growths in place of one mapping the fast path planned and has not
	 * applied yet (shadow_remap_grow_plan, see pend_flush): gheld.new_end
	 * is where the kernel has it end now; the next growth of [addr,
	 * new_end) up to gheld.room moves new_end on.  Never held with
	 * another. */
	struct shadow_grow_plan gheld;
	bool gheld_on;
	uint64_t undone;           /* mprotect and fixed pairs that cancelled */
	uint64_t held_growths;     /* growths applied with the run's first */
	uint64_t refines;          /* span checks before an mremap over a VMA
				    * merged on a guess (SV_EDGES_UNSURE);
				    * not counted in checks */
	uint64_t kernel_reads;     /* read()/ioctl() calls that read the
				    * kernel's view (kview.reads, summed) */
	uint64_t peak_mapped_bytes;
	uint64_t since_check;
	uint8_t absorb_origin;     /* origin of pages a check finds unknown */
	struct vmc_budget budget;  /* the periodic check's share (budget.c) */
	uint64_t check_in_call;    /* TSC in full checks during this call */
	uint32_t journaled_stacks;
	bool need_resync;
	bool hook_locked;          /* the hook in progress holds rt.lock */
	unsigned ntool;
	bool exiting;
	/* After what a hook reads above, so that its values share their
	 * cache lines (the options' paths come after their values). */
	struct vmc_options opt;
	/* mappings made by the tool's own helpers (libunwind) */
	uint64_t tool_start[TOOL_RANGES], tool_end[TOOL_RANGES];
} rt = { .lock = PTHREAD_MUTEX_INITIALIZER, .maps_fd = -1, .pagemap_fd = -1,
	 .absorb_origin = SHADOW_ORIGIN_FOREIGN };

/* This thread's draws for sampling rt.budget.hook (vmc_budget_sample). */
static __thread uint32_t hook_draw __attribute__((tls_model("initial-exec")));

static __thread int in_hook __attribute__((tls_model("initial-exec")));

static void journal_modules(void);
static void write_process_record(void);

/* ---- small raw helpers ---------------------------------------------- */

static long read_small_file(const char *path, char *buf, size_t cap)
{
	int fd = rawsys_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	long n = 0;
	while ((size_t)n < cap - 1) {
		long r = rawsys_read(fd, buf + n, cap - 1 - (size_t)n);
		if (r <= 0)
			break;
		n += r;
	}
	rawsys_close(fd);
	buf[n] = 0;
	return n;
}

static uint64_t parse_u64(const char *s)
{
	uint64_t v = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	return v;
}

static uint64_t read_sysctl_u64(const char *path, uint64_t dflt)
{
	char buf[64];
	return read_small_file(path, buf, sizeof(buf)) > 0 ? parse_u64(buf)
							   : dflt;
}

/* Environment facts the shadow's rules depend on. */
static void env_from_kernel(struct shadow_env *env)
{
	char buf[256];
	shadow_env_default(env);
	env->max_map_count = (uint32_t)read_sysctl_u64(
		"/proc/sys/vm/max_map_count", env->max_map_count);
	env->overcommit = (int)read_sysctl_u64("/proc/sys/vm/overcommit_memory",
					       0);
	env->mmap_min_addr = read_sysctl_u64("/proc/sys/vm/mmap_min_addr",
					     env->mmap_min_addr);
	if (read_small_file("/sys/kernel/mm/transparent_hugepage/enabled", buf,
			    sizeof(buf)) > 0)
		env->thp_anon = strstr(buf, "[always]") ? 2
				: strstr(buf, "[madvise]") ? 1 : 0;
	struct rlimit rl;
	if (rawsys6(SYS_prlimit64, 0, RLIMIT_STACK, 0, (long)&rl, 0, 0) == 0)
		env->stack_rlimit = rl.rlim_cur;
	struct { char s[6][65]; } un;
	if (rawsys3(SYS_uname, (long)&un, 0, 0) == 0) {
		const char *r = un.s[2];
		unsigned a = 0, b = 0;
		while (*r >= '0' && *r <= '9')
			a = a * 10 + (unsigned)(*r++ - '0');
		if (*r == '.')
			r++;
		while (*r >= '0' && *r <= '9')
			b = b * 10 + (unsigned)(*r++ - '0');
		env->kernel_version = (a << 16) | (b << 8);
	}
}

/* ---- the kernel view ------------------------------------------------- */

static const struct shadow_vma *kv_cursor; /* the last VMA asked about */
/* The shadow's VMAs with the exact range of the first and of the last
 * kernel VMA asked about (NULL: none), so that check_span need not look
 * them up again. */
static struct shadow_vma *kv_head, *kv_tail;
static bool kv_asked;

/* A VMA's name is wanted when the shadow has no VMA with its exact range:
 * pages to absorb or adopt, named from it.  Where the shadow has the VMA,
 * the comparison uses its attributes, device, inode and offset only. */

static bool kv_want_name(void *ctx, uint64_t start, uint64_t end)
{
	(void)ctx;
	/* The kernel's VMAs come in address order: the one after the last
	 * is most often the next one (no lookup: at 20,000 VMAs a lookup is
	 * two cache misses, a fifth of a full check). */
	struct shadow_vma *v = kv_cursor ? kv_cursor->next : NULL;
	if (!v || v->start != start)
		v = shadow_find(&rt.sh, start);
	if (v)
		kv_cursor = v;
	bool exact = v && v->start == start && v->end == end;
	if (!kv_asked)
		kv_head = exact ? v : NULL;
	kv_asked = true;
	kv_tail = exact ? v : NULL;
	return !exact;
}

/* The entries a read of the whole space needs room for: the shadow's
 * VMAs and an eighth more for what the kernel has that the shadow does
 * not know yet, rounded up to a power of two (at least 4096). */
static size_t kv_cap_for(uint64_t vmas)
{
	uint64_t want = vmas + vmas / 8 + 64;
	size_t cap = 4096;
	while (cap < want)
		cap *= 2;
	return cap;
}

/* rt.kv over buffers of cap entries (and 64 bytes of names each), the old
 * ones given back.  On failure there are none, rt.kv_ent is NULL and
 * rt.kv_cap keeps the size to try again with. */
static int kv_buffers(size_t cap)
{
	if (rt.kv_ent) {
		vmc_arena_free(rt.kv_ent, rt.kv_cap * sizeof(*rt.kv_ent));
		vmc_arena_free(rt.kv_names, rt.kv_cap * 64);
		rt.kv_ent = NULL;
		rt.kv_names = NULL;
	}
	rt.kv_cap = cap;
	struct kview_entry *v = vmc_arena_alloc(cap * sizeof(*v));
	char *names = vmc_arena_alloc(cap * 64);
	if (!v || !names) {
		vmc_arena_free(v, cap * sizeof(*v));
		vmc_arena_free(names, cap * 64);
		rt.kv.v = NULL; /* no view: nothing reads the freed ones */
		rt.kv.n = rt.kv.cap = 0;
		return -ENOMEM;
	}
	rt.kv_ent = v;
	rt.kv_names = names;
	uint8_t method = rt.kv.method;
	kview_init(&rt.kv, v, cap, names, cap * 64);
	rt.kv.method = method;
	rt.kv.want_name = kv_want_name;
	return 0;
}

/* Read [start, end) of the kernel's view into rt.kv, growing the buffers
 * when the view did not fit (it is then read again from the start).  A
 * read of the whole space is sized to the shadow's VMAs first: at 20,000
 * VMAs, growing from 4,096 entries by doubling read the kernel four
 * times, 48,700 PROCMAP_QUERY calls instead of 20,064, and a full check
 * took 35-40 ms instead of 15.  Caller holds the lock. */
static int read_kernel(uint64_t start, uint64_t end)
{
	size_t want = start == 0 && end == UINT64_MAX
			      ? kv_cap_for(rt.sh.c.map_count)
			      : 4096;
	if (want < rt.kv_cap)
		want = rt.kv_cap;
	for (;;) {
		if ((!rt.kv_ent || want > rt.kv_cap) && kv_buffers(want))
			return -ENOMEM;
		kv_cursor = NULL; /* the shadow may have changed since */
		kv_head = kv_tail = NULL;
		kv_asked = false;
		int r = kview_read(&rt.kv, rt.maps_fd, start, end, rt.iobuf,
				   65536);
		rt.kernel_reads += rt.kv.reads;
		if (r || !rt.kv.truncated)
			return r;
		want = 2 * rt.kv_cap;
	}
}

static bool is_tool_range(uint64_t start, uint64_t end)
{
	if (vmc_arena_owns(start, end - start) ||
	    vmc_journal_owns(start, end - start))
		return true;
	for (unsigned i = 0; i < rt.ntool; i++)
		if (rt.tool_start[i] < end && start < rt.tool_end[i])
			return true;
	return false;
}

/* ---- findings -------------------------------------------------------- */

static __attribute__((cold)) void add_finding(uint8_t kind, uint64_t addr,
					      uint64_t len, uint32_t flags,
					      uint32_t created,
					      uint32_t operation,
					      const char *msg)
{
	struct vmc_finding f = { .kind = kind, .addr = addr, .len = len,
				 .flags = flags, .created = created,
				 .operation = operation, .count = 1 };
	size_t n = strlen(msg);
	if (n >= sizeof(f.message))
		n = sizeof(f.message) - 1;
	memcpy(f.message, msg, n);
	vmc_finding_add(&f);
}

/* ---- checks ---------------------------------------------------------- */

/* Compare [start, end) with the kernel; differences on pages the shadow
 * tracked are findings of `kind`; then adopt the kernel's view, pages
 * nobody intercepted becoming foreign (or tool) mappings.  Caller holds
 * the lock.  Returns the number of coverage/attribute differences. */
struct span_sum {
	int tracked;               /* differences on tracked pages */
	int unknown;               /* kernel pages the shadow did not know */
	int untracked;             /* differences on pages nobody tracked
				    * (glibc's own mappings, changed behind
				    * us: a stale foreign VMA) */
	bool read;                 /* the kernel was read (rt.kv holds the
				    * span's VMAs, whole) */
};

/* Foreign anonymous memory named by its shape, for the findings that
 * speak of it: glibc maps a thread stack as PROT_NONE and opens all but
 * the guard at its low end; a malloc arena's heap is a 64 MiB-aligned
 * reservation (HEAP_MAX_SIZE) whose used part is read-write. */
#define ARENA_HEAP (64ull << 20)
static bool foreign_anon(const struct shadow_vma *v)
{
	if (!v || v->ino || v->dev || (v->flags & SV_MAYSHARE))
		return false;
	struct shadow_region *r = shadow_region_find(&rt.sh, v->start);
	return r && r->origin == SHADOW_ORIGIN_FOREIGN &&
	       (r->name == SHADOW_NAME_ANON ||
		r->name == SHADOW_NAME_THREAD_STACK ||
		r->name == SHADOW_NAME_MALLOC_ARENA);
}

static void set_name(uint64_t start, uint64_t end, uint8_t name)
{
	for (struct shadow_region *r = shadow_region_find_next(&rt.sh, start);
	     r && r->start < end;
	     r = r->end < end ? shadow_region_next(r) : NULL)
		if (r->origin == SHADOW_ORIGIN_FOREIGN)
			r->name = name;
}

/* Is v, a foreign anonymous VMA, part of a run of such VMAs with no gap
 * from its 64 MiB-aligned base (a heap, so far)?  Walks the run once. */
static bool in_heap_run(const struct shadow_vma *v)
{
	uint64_t base = v->start & ~(ARENA_HEAP - 1);
	if (v->end > base + ARENA_HEAP)
		return false;
	for (const struct shadow_vma *w = shadow_find(&rt.sh, base);
	     w && w->start == base && foreign_anon(w);
	     w = shadow_vma_next(w)) {
		if (w == v)
			return true;
		const struct shadow_vma *nx = shadow_vma_next(w);
		if (!nx || nx->start != w->end || !foreign_anon(nx))
			return false;
		base = nx->start;
	}
	return false;
}

static void name_foreign(uint64_t start, uint64_t end)
{
	/* The heap the previous VMA belonged to: [.., heap_end) continues
	 * while foreign VMAs follow with no gap, so each run is walked back
	 * to its base once, not once per VMA. */
	uint64_t heap_end = 0, heap_limit = 0;
	for (struct shadow_vma *v = shadow_find_next(&rt.sh, start);
	     v && v->start < end; v = shadow_vma_next(v)) {
		if (!foreign_anon(v)) {
			heap_end = 0;
			continue;
		}
		bool heap = heap_end == v->start && v->end <= heap_limit;
		if (!heap && in_heap_run(v)) {
			heap = true;
			heap_limit = (v->start & ~(ARENA_HEAP - 1)) + ARENA_HEAP;
		}
		if (heap) {
			heap_end = v->end;
			set_name(v->start, v->end, SHADOW_NAME_MALLOC_ARENA);
			continue;
		}
		heap_end = 0;
		struct shadow_vma *p = shadow_vma_prev(v);
		if ((v->flags & (SV_READ | SV_WRITE)) == (SV_READ | SV_WRITE) &&
		    p && p->end == v->start && foreign_anon(p) &&
		    !(p->flags & (SV_READ | SV_WRITE | SV_EXEC)) &&
		    p->end - p->start <= (64u << 10) &&
		    v->end - v->start >= (16u << 10))
			set_name(p->start, v->end, SHADOW_NAME_THREAD_STACK);
	}
}

/* kind 0: count, report nothing (the caller classifies). */
/* The program's commonest churn is an anonymous mmap unmapped whole by
 * its next mapping call (a large malloc and its free, a scratch buffer).
 * The fast path keeps such an mmap pending instead of applying it; if the
 * next call is that munmap, neither is ever applied (the shadow only counts
 * them: shadow_map_unmap_elided), else the mmap is applied first, exactly
 * as the fast path would have.  The same for an mprotect and the next call
 * that undoes it (a page made writable and back, a guard page opened and
 * closed): the fast path plans it and holds it; when the next call is an
 * mprotect of the same range after which every VMA is as it was
 * (shadow_protect_undo), neither is applied, else the plan is.  Everything
 * that reads or changes the shadow does this first (rt.lock held); the
 * shadow then never shows the difference. */
static void pend_flush(void)
{
	if (rt.gheld_on) {
		rt.gheld_on = false;
		/* Planned on the shadow as it still is: every growth since
		 * applies as one. */
		if (!shadow_remap_grow_apply(&rt.sh, &rt.gheld))
			rt.need_resync = true;
	}
	if (rt.fheld_on) {
		rt.fheld_on = false;
		/* Planned on the shadow as it still is: it applies.  (Out of
		 * nodes, a check adopts the kernel's view.) */
		if (shadow_fixed_pair_apply(&rt.sh, &rt.fheld))
			vmc_findings_fast(&rt.sh, SHADOW_CALL_MMAP,
					  rt.fheld.start, rt.fheld.end, 0,
					  rt.fheld.stack_id);
		else
			rt.need_resync = true;
	}
	if (rt.held_on) {
		rt.held_on = false;
		/* Planned on the shadow as it still is: it applies.  (Were
		 * the plan stale, the call is applied anew.) */
		uint32_t splits = rt.held.splits;
		int r = shadow_protect_fast_apply(&rt.sh, &rt.held);
		if (!r)
			r = shadow_protect_fast(&rt.sh, rt.held.start,
						rt.held.end - rt.held.start,
						rt.held_prot, &splits);
		if (r <= 0)
			rt.need_resync = true; /* declined, or out of memory
						* part way: a check adopts */
		if (r > 0)
			vmc_findings_protect_fast(&rt.sh, splits,
						  rt.held_stack);
	}
	if (!rt.pend_len)
		return;
	uint64_t len = rt.pend_len;
	rt.pend_len = 0;
	/* Nothing was applied since it was accepted: it still applies.  If
	 * the arena cannot grow, the next check absorbs the pages. */
	if (!shadow_map_anon_fast(&rt.sh, rt.pend_start, len, rt.pend_prot,
				  rt.pend_flags, rt.pend_off,
				  SHADOW_ORIGIN_TRACKED, rt.pend_stack))
		rt.need_resync = true;
}

static void rt_lock(void)
{
	pthread_mutex_lock(&rt.lock);
	pend_flush();
}

/* The hook's lock.  While the process has one thread there is nobody to
 * exclude, and the hook takes no lock: no atomic operation, no call into
 * libc (measured: 1-2% of a 20,000-VMA mprotect pair's time).  glibc's own
 * malloc trusts the same flag: pthread_create clears it before the new
 * thread exists, and nothing sets it again.  The tool starts no thread
 * inside a hook (uffd.c starts its monitor outside any), and a signal
 * handler on this thread does not enter the tool while a hook runs
 * (vmc_enter), so the flag cannot change between here and hook_unlock.
 * A thread made by a raw clone() is not seen; glibc's malloc breaks for
 * it too.  The other users of rt.lock (fork, exit, the API) are rare and
 * always take it. */
static inline void hook_lock(void)
{
	bool threads = !__libc_single_threaded;
	if (threads)
		pthread_mutex_lock(&rt.lock);
	rt.hook_locked = threads; /* written under the lock, or alone */
}

static inline void hook_unlock(void)
{
	if (rt.hook_locked)
		pthread_mutex_unlock(&rt.lock);
}

static __attribute__((cold)) struct span_sum
check_span(uint64_t start, uint64_t end, uint8_t kind, uint32_t op_stack)
{
	struct span_sum sum = { 0, 0, 0, false };
	pend_flush();
	if (read_kernel(start, end))
		return sum;
	sum.read = true;
	/* The kernel gave whole VMAs: the first may start before the span and
	 * the last end after it.  Compare and adopt over all of them, so that
	 * a merge or a split at an edge of the span is seen with the
	 * neighbour it took in (this costs no more reads; the view is
	 * complete from the first VMA's start to the last one's end). */
	uint64_t own_start = start, own_end = end;
	/* The shadow's VMAs at the edges when the reader matched them to
	 * the kernel's first and last (as is common: one lookup saved each
	 * time the shadow is walked from an edge). */
	struct shadow_vma *first = NULL, *last = NULL;
	if (rt.kv.n) {
		const struct kview_entry *k0 = &rt.kv.v[0];
		const struct kview_entry *kn = &rt.kv.v[rt.kv.n - 1];
		if (kv_head && kv_head->start == k0->start &&
		    kv_head->end == k0->end && k0->start <= start)
			first = kv_head;
		if (kv_tail && kv_tail->start == kn->start &&
		    kv_tail->end == kn->end && kn->end >= end)
			last = kv_tail;
		if (k0->start < start)
			start = k0->start;
		if (kn->end > end)
			end = kn->end;
	}
	if (!first)
		first = shadow_find_next(&rt.sh, start);
	struct diff_item items[32];
	struct diff_result res = { .items = items, .cap = 32 };
	bool differs = shadow_diff_from(first, &rt.kv, start, end, &res) > 0 ||
		       res.count[DIFF_BOUNDARY] > 0;
	rt.checks++;
	sum.unknown = (int)res.count[DIFF_UNKNOWN_TO_SHADOW];
	for (uint32_t i = 0; i < res.n; i++) {
		struct diff_item *it = &items[i];
		if (it->kind == DIFF_BOUNDARY)
			continue;
		struct shadow_region *r = shadow_region_find_next(&rt.sh,
								  it->start);
		bool tracked = r && r->start < it->end &&
			       r->origin == SHADOW_ORIGIN_TRACKED;
		if (it->kind == DIFF_UNKNOWN_TO_SHADOW)
			continue; /* absorbed below */
		if (!tracked) {
			sum.untracked++;
			continue;
		}
		/* Pages of a neighbour read whole, outside the span: no call
		 * in the span changes their attributes (a merge takes only
		 * equal ones), so a difference there was made behind the
		 * tool's back. */
		uint8_t k = kind;
		if (it->end <= own_start || it->start >= own_end) {
			k = VMC_F_UNTRACKED_CHANGE;
			sum.untracked++;
		} else {
			sum.tracked++;
		}
		if (!k)
			continue;
		if (k == VMC_F_SHADOW_DIVERGENCE)
			rt.divergences++;
		else
			rt.untracked_changes++;
		char msg[160];
		const char *what = k == VMC_F_UNTRACKED_CHANGE
			? "tracked pages changed behind the tool's back: "
			: "shadow and kernel disagree after a call: ";
		size_t n = strlen(what);
		memcpy(msg, what, n);
		const char *d = it->kind == DIFF_MISSING_IN_KERNEL
			? "unmapped in the kernel"
			: "attributes differ, kernel prot ";
		memcpy(msg + n, d, strlen(d));
		n += strlen(d);
		if (it->kind == DIFF_ATTR) {
			msg[n++] = it->kernel_flags & SV_READ ? 'r' : '-';
			msg[n++] = it->kernel_flags & SV_WRITE ? 'w' : '-';
			msg[n++] = it->kernel_flags & SV_EXEC ? 'x' : '-';
			msg[n++] = it->kernel_flags & SV_MAYSHARE ? 's' : 'p';
			memcpy(msg + n, " shadow ", 8);
			n += 8;
			msg[n++] = it->shadow_flags & SV_READ ? 'r' : '-';
			msg[n++] = it->shadow_flags & SV_WRITE ? 'w' : '-';
			msg[n++] = it->shadow_flags & SV_EXEC ? 'x' : '-';
			msg[n++] = it->shadow_flags & SV_MAYSHARE ? 's' : 'p';
		}
		msg[n] = 0;
		add_finding(k, it->start, it->end - it->start,
			    it->shadow_flags, r->stack_id, op_stack, msg);
	}
	/* Nothing differs and the shadow's VMAs end where the span does (the
	 * diff does not look past its edges): adopting would change nothing,
	 * skip it. */
	if (!differs) {
		/* first is the VMA holding start, or the next one */
		const struct shadow_vma *l =
			last ? last : shadow_find(&rt.sh, end - 1);
		if ((!first || first->start >= start) &&
		    (!l || l->end == end)) {
			shadow_edges_confirm_from(first, end);
			return sum;
		}
	}
	/* Adopt: unknown pages become foreign, or tool when they are ours. */
	for (size_t k = 0; k < rt.kv.n; k++) {
		const struct kview_entry *e = &rt.kv.v[k];
		if (e->end <= start || e->start >= end)
			continue;
		uint64_t s = e->start > start ? e->start : start;
		uint64_t t = e->end < end ? e->end : end;
		struct shadow_vma *sv = shadow_find_next(&rt.sh, s);
		if ((!sv || sv->start >= t) &&
		    is_tool_range(s, t)) {
			struct shadow_vma_desc d;
			diff_desc_from_entry(&rt.kv, e, &d);
			shadow_absorb(&rt.sh, &d, SHADOW_ORIGIN_TOOL, 0);
		}
	}
	shadow_diff_adopt(&rt.sh, &rt.kv, start, end, rt.absorb_origin);
	if (rt.absorb_origin == SHADOW_ORIGIN_FOREIGN)
		name_foreign(start, end);
	return sum;
}

/* Read the kernel's boundaries over [start, end) where the shadow may
 * have merged VMAs on a guess (SV_EDGES_UNSURE), before a call whose result
 * depends on them.  A refine, not counted as a check. */
static __attribute__((cold)) void refine_span(uint64_t start, uint64_t end)
{
	check_span(start, end, 0, 0);
	rt.checks--;
	rt.refines++;
}

static void journal_counts_open(void);
static size_t fmt_i64(char *p, int64_t v);
static size_t put_hex(char *p, uint64_t v);

/* /proc/self/status against the shadow's mm counters. */
/* The mm counters the kernel shows in /proc/self/status, in kB, against
 * the shadow's (mm_struct total_vm, locked_vm, data_vm, exec_vm,
 * stack_vm).  VmExe+VmLib is exec_vm.  Returns the name of the first that
 * differs, or NULL; *k and *s get the two values. */
static const char *counters_differ(const char *buf, uint64_t *k, uint64_t *s)
{
	static const char *const name[] = { "VmSize:", "VmLck:", "VmData:",
					     "VmStk:", "VmExe:" };
	const struct shadow_counters *c = &rt.sh.c;
	const uint64_t mine[] = { c->total_vm, c->locked_vm, c->data_vm,
				  c->stack_vm, c->exec_vm };
	for (int i = 0; i < 5; i++) {
		const char *p = strstr(buf, name[i]);
		if (!p)
			continue;
		uint64_t v = parse_u64(p + strlen(name[i]));
		if (i == 4) {
			const char *l = strstr(buf, "VmLib:");
			if (l)
				v += parse_u64(l + 6);
		}
		if (v != mine[i] * 4) {
			*k = v;
			*s = mine[i] * 4;
			return name[i];
		}
	}
	return NULL;
}

static void check_counters(void)
{
	char buf[4096];
	uint64_t k = 0, s = 0;
	if (read_small_file("/proc/self/status", buf, sizeof(buf)) <= 0)
		return;
	const char *what = counters_differ(buf, &k, &s);
	/* Other threads map without the lock (glibc's malloc, a JVM's
	 * threads): look again, and call it a disagreement only when the
	 * same difference stands three times over. */
	for (int again = 0; what && again < 3; again++) {
		uint64_t k0 = k, s0 = s;
		const char *w0 = what;
		check_span(0, UINT64_MAX, 0, 0);
		if (read_small_file("/proc/self/status", buf, sizeof(buf)) <= 0)
			return;
		what = counters_differ(buf, &k, &s);
		if (what && (what != w0 || k != k0 || s != s0))
			what = NULL; /* it moved: not a settled difference */
	}
	if (what) {
		rt.divergences++;
		char msg[160];
		size_t n = 0, w = strlen(what) - 1;
		memcpy(msg, what, w);
		n = w;
		const char *a = " in /proc/self/status (kB): ";
		memcpy(msg + n, a, strlen(a));
		n += strlen(a);
		n += fmt_i64(msg + n, (int64_t)k);
		memcpy(msg + n, ", the shadow's: ", 16);
		n += 16;
		n += fmt_i64(msg + n, (int64_t)s);
		msg[n] = 0;
		add_finding(VMC_F_SHADOW_DIVERGENCE, 0, 0, 0, 0, 0, msg);
	}
}

static __attribute__((cold)) void check_full(uint8_t kind)
{
	uint64_t t0 = __rdtsc();
	pend_flush();
	check_span(0, UINT64_MAX, kind, 0);
	if (kind)
		check_counters();
	uint64_t cost = __rdtsc() - t0;
	vmc_budget_spend(&rt.budget, cost, rt.sh.c.map_count);
	rt.check_in_call += cost;
	rt.since_check = 0;
	rt.need_resync = false;
}

/* Events the uffd monitor could not match with an intercepted call: the
 * kernel says what changed, and where.  One finding each (with the
 * creation stack of the pages), then the shadow adopts the kernel's view
 * of the span, so no later check reports the same change again.  Caller
 * holds the lock. */
static __attribute__((cold)) void drain_uffd(void)
{
	struct vmc_uffd_note n;
	while (vmc_uffd_next_note(&n)) {
		struct shadow_region *r = shadow_region_find_next(&rt.sh,
								  n.start);
		uint32_t created = r && r->start < n.end ? r->stack_id : 0;
		const struct shadow_vma *v = shadow_find_next(&rt.sh, n.start);
		uint32_t flags = v && v->start < n.end ? v->flags : 0;
		char msg[200];
		size_t k = 0;
		const char *what =
			n.event == VMC_UFFD_UNMAP
				? "tracked pages unmapped by a call vmacheck "
				  "did not intercept (userfaultfd UNMAP event: "
				  "a raw munmap, mremap or MAP_FIXED system "
				  "call?)"
			: n.event == VMC_UFFD_REMAP
				? "tracked pages moved by a call vmacheck did "
				  "not intercept (userfaultfd REMAP event: a "
				  "raw mremap system call?) to "
				: "tracked pages discarded by a call vmacheck "
				  "did not intercept (userfaultfd REMOVE event: "
				  "a raw madvise(MADV_DONTNEED/REMOVE) system "
				  "call?)";
		k = strlen(what);
		memcpy(msg, what, k);
		if (n.event == VMC_UFFD_REMAP) {
			msg[k++] = '0';
			msg[k++] = 'x';
			k += put_hex(msg + k, n.to);
		}
		msg[k] = 0;
		rt.untracked_changes++;
		add_finding(VMC_F_UNTRACKED_CHANGE, n.start, n.end - n.start,
			    flags, created, 0, msg);
		if (n.event == VMC_UFFD_REMOVE)
			continue; /* the VMAs did not change */
		check_span(n.start, n.end, 0, 0);
		if (n.event == VMC_UFFD_REMAP) {
			uint64_t len = n.end - n.start;
			check_span(n.to, n.to + len, 0, 0);
			shadow_region_claim(&rt.sh, n.to, n.to + len,
					    SHADOW_ORIGIN_TRACKED, created,
					    SHADOW_CALL_MREMAP);
		}
	}
}

/* ---- init -------------------------------------------------------------- */

/* fork: every lock of the tool is taken before (in the order the hooks
 * take them: the unwinder's, the runtime's, the stack tables, the journal,
 * the arena), so that
 * the child copies consistent state; the parent releases them, the child
 * re-initialises them and opens its own journal and maps file. */
static __thread int fork_locked __attribute__((tls_model("initial-exec")));

static void atfork_prepare(void)
{
	/* A fork from a signal handler that interrupted a hook on this
	 * thread: taking the locks would deadlock; the child resyncs. */
	fork_locked = rt.state == ST_READY && !in_hook;
	if (!fork_locked)
		return;
	in_hook++;
	vmc_stack_atfork_prepare_unwind();
	rt_lock();
	vmc_stack_atfork_prepare();
	vmc_journal_atfork_prepare();
	vmc_arena_atfork_prepare();
}

static void atfork_parent(void)
{
	if (!fork_locked)
		return;
	vmc_arena_atfork_parent();
	vmc_journal_atfork_parent();
	vmc_stack_atfork_parent();
	pthread_mutex_unlock(&rt.lock);
	vmc_stack_atfork_parent_unwind();
	in_hook--;
}

static void atfork_child(void)
{
	if (rt.state != ST_READY)
		return;
	vmc_arena_atfork_child();
	vmc_stack_atfork_child();
	pthread_mutex_init(&rt.lock, NULL);
	if (fork_locked) {
		vmc_journal_atfork_parent();
		in_hook--;
	}
	rt.ppid = rt.pid;
	rt.pid = rawsys_getpid();
	if (rt.maps_fd >= 0)
		rawsys_close(rt.maps_fd);
	rt.maps_fd = kview_open_maps();
	if (rt.pagemap_fd >= 0)
		rawsys_close(rt.pagemap_fd);
	rt.pagemap_fd = kview_open_pagemap();
	rt.jcounts = NULL; /* the reopen unmaps the parent's pin */
	vmc_journal_reopen_child(rt.opt.out_dir, rt.pid, rt.ppid);
	write_process_record();
	journal_modules();
	vmc_findings_atfork_child();
	/* What the kernel did not copy (MADV_DONTFORK) or inherit (memory
	 * locks) goes from the copied shadow. */
	shadow_fork(&rt.sh, 0);
	vmc_uffd_atfork_child();
	/* The child's result counts its own calls and checks. */
	for (unsigned i = 0; i <= SHADOW_CALL_SCAN; i++)
		rt.calls[i] = rt.failed[i] = 0;
	rt.checks = rt.divergences = rt.errno_mismatches = rt.passthrough = 0;
	rt.resyncs = rt.untracked_changes = rt.fast_calls = rt.refines = 0;
	rt.elided = rt.undone = rt.held_growths = rt.kernel_reads = 0;
	/* The offset was into the parent's file. */
	rt.counts_off = 0;
	journal_counts_open();
	rt.need_resync = true;
}

static void seed_baseline(void)
{
	if (read_kernel(0, UINT64_MAX))
		return;
	for (size_t k = 0; k < rt.kv.n; k++) {
		const struct kview_entry *e = &rt.kv.v[k];
		if (e->name_kind == SHADOW_NAME_VSYSCALL)
			continue; /* not a VMA of the mm */
		struct shadow_vma_desc d;
		diff_desc_from_entry(&rt.kv, e, &d);
		shadow_absorb(&rt.sh, &d,
			      is_tool_range(e->start, e->end)
				      ? SHADOW_ORIGIN_TOOL
				      : SHADOW_ORIGIN_BASELINE, 0);
	}
}

static void write_module(struct jsonw *w, const struct vmc_module *m)
{
	static const char hex[] = "0123456789abcdef";
	char id[2 * VMC_BUILD_ID_MAX + 1];
	for (int i = 0; i < m->build_id_len; i++) {
		id[2 * i] = hex[m->build_id[i] >> 4];
		id[2 * i + 1] = hex[m->build_id[i] & 15];
	}
	id[2 * m->build_id_len] = 0;
	jsonw_obj_begin(w);
	jsonw_key(w, "path");
	jsonw_str(w, m->path);
	jsonw_key(w, "base");
	jsonw_hex(w, m->base);
	jsonw_key(w, "start");
	jsonw_hex(w, m->start);
	jsonw_key(w, "end");
	jsonw_hex(w, m->end);
	jsonw_key(w, "build_id");
	jsonw_str(w, id);
	jsonw_obj_end(w);
}

/* A stack as DESIGN.md's frames: ip, module, offset (the command adds
 * function, file and line). */
static void write_stack(struct jsonw *w, uint32_t id)
{
	uintptr_t ips[64];
	int n = id ? vmc_stack_get(id, ips, 64) : 0;
	/* The tool's own frames (the interposed symbol) lead: drop them. */
	const struct vmc_module *self = vmc_module_for((uintptr_t)&write_stack);
	int i0 = 0;
	while (i0 < n && self && vmc_module_for(ips[i0]) == self)
		i0++;
	jsonw_arr_begin(w);
	for (int i = i0; i < n; i++) {
		const struct vmc_module *m = vmc_module_for(ips[i]);
		jsonw_obj_begin(w);
		jsonw_key(w, "ip");
		jsonw_hex(w, ips[i]);
		if (m) {
			jsonw_key(w, "module");
			jsonw_str(w, m->path);
			jsonw_key(w, "offset");
			jsonw_hex(w, ips[i] - m->base);
		}
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

/* "exe" and "argv" of this process, from /proc/self. */
static void write_exe_argv(struct jsonw *w)
{
	char exe[PATH_MAX], cmd[4096];
	long n = rawsys6(SYS_readlink, (long)"/proc/self/exe", (long)exe,
			 sizeof(exe) - 1, 0, 0, 0);
	exe[n > 0 ? n : 0] = 0;
	jsonw_key(w, "exe");
	jsonw_str(w, exe);
	jsonw_key(w, "argv");
	jsonw_arr_begin(w);
	long len = read_small_file("/proc/self/cmdline", cmd, sizeof(cmd));
	for (long i = 0; i < len;) {
		jsonw_str(w, cmd + i);
		i += (long)strlen(cmd + i) + 1;
	}
	jsonw_arr_end(w);
}

static void write_process_record(void)
{
	char buf[8192];
	struct jsonw w;
	jsonw_init(&w, buf, sizeof(buf));
	jsonw_obj_begin(&w);
	write_exe_argv(&w);
	jsonw_key(&w, "pid");
	jsonw_u64(&w, (uint64_t)rt.pid);
	jsonw_key(&w, "ppid");
	jsonw_u64(&w, (uint64_t)rt.ppid);
	jsonw_obj_end(&w);
	if (!w.overflow)
		vmc_journal_append(VMC_JREC_PROCESS, buf, (uint32_t)w.len);
}

/* An exec replaced an image of this process: it left its journal under
 * our name, never closed.  Mark it ended by exec (an EXIT record after its
 * last record) and move it to vmacheck.<pid>.<k>.journal, so that ours does
 * not overwrite it and the command reports both images. */
static void keep_replaced_image(void)
{
	char path[PATH_MAX + 64], to[PATH_MAX + 64];
	size_t dl = strlen(rt.opt.out_dir);
	if (dl + 64 > sizeof(path))
		return;
	memcpy(path, rt.opt.out_dir, dl);
	size_t n = dl;
	memcpy(path + n, "/vmacheck.", 10);
	n += 10;
	n += fmt_i64(path + n, rt.pid);
	size_t stem = n;
	memcpy(path + n, ".journal", 9);
	int fd = rawsys_open(path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	uint8_t h[64];
	uint64_t hpid, hppid;
	uint32_t hsize;
	if (rawsys_pread(fd, h, sizeof(h), 0) != (long)sizeof(h) ||
	    memcmp(h, "VMCJRNL1", 8)) {
		rawsys_close(fd);
		return;
	}
	memcpy(&hsize, h + 12, 4);
	memcpy(&hpid, h + 16, 8);
	memcpy(&hppid, h + 24, 8);
	if (hpid != (uint64_t)rt.pid || hppid != (uint64_t)rt.ppid) {
		rawsys_close(fd); /* a process long gone with our pid: ours wins */
		return;
	}
	/* The end of its records: the first zero length. */
	uint64_t off = hsize;
	for (;;) {
		uint32_t len = 0;
		if (rawsys_pread(fd, &len, 4, off) != 4 || len == 0 ||
		    len & 7)
			break;
		off += len;
	}
	static const char payload[] = "{\"ended\":\"exec\",\"status\":null}";
	uint32_t plen = sizeof(payload) - 1;
	uint32_t len = (8 + plen + 7) & ~7u;
	uint8_t rec[64] = { 0 };
	uint16_t type = VMC_JREC_EXIT;
	uint16_t flags = (uint16_t)(1 | ((len - 8 - plen) << 1));
	memcpy(rec, &len, 4);
	memcpy(rec + 4, &type, 2);
	memcpy(rec + 6, &flags, 2);
	memcpy(rec + 8, payload, plen);
	rawsys6(SYS_pwrite64, fd, (long)rec, len, (long)off, 0, 0);
	rawsys6(SYS_ftruncate, fd, (long)(off + len), 0, 0, 0, 0);
	rawsys_close(fd);
	for (int k = 1; k < 1000; k++) {
		memcpy(to, path, stem);
		size_t m = stem;
		to[m++] = '.';
		m += fmt_i64(to + m, k);
		memcpy(to + m, ".journal", 9);
		/* renameat2(RENAME_NOREPLACE): never over an older image's. */
		long e = rawsys6(SYS_renameat2, AT_FDCWD, (long)path, AT_FDCWD,
				 (long)to, 1, 0);
		if (e != -EEXIST)
			break;
	}
}

static void do_init(void)
{
	char err[256];
	vmc_options_default(&rt.opt);
	const char *s = vmc_env_get(environ, "VMACHECK_OPTIONS");
	if (s && vmc_options_parse(s, &rt.opt, err, sizeof(err) - 40)) {
		const char *tail = "; the program runs unchecked";
		size_t n = strlen(err);
		memcpy(err + n, tail, strlen(tail) + 1);
		vmc_say(err);
		rt.state = ST_DISABLED;
		return;
	}
	/* The output directory, made absolute now: the program may chdir
	 * before it forks or exits. */
	if (rt.opt.out_dir[0] != '/') {
		char cwd[PATH_MAX];
		long n = rawsys3(SYS_getcwd, (long)cwd, sizeof(cwd), 0);
		size_t dl = strlen(rt.opt.out_dir);
		if (n > 0 && (size_t)n + dl + 1 < sizeof(rt.opt.out_dir)) {
			size_t cl = strlen(cwd);
			memmove(rt.opt.out_dir + cl + 1, rt.opt.out_dir, dl + 1);
			memcpy(rt.opt.out_dir, cwd, cl);
			rt.opt.out_dir[cl] = '/';
		}
	}
	struct shadow_env env;
	env_from_kernel(&env);
	shadow_init(&rt.sh, &vmc_shadow_allocator, &env);
	/* Every call is applied with the kernel's result: the shadow never
	 * places a mapping itself, so it keeps no gap augmentation. */
	rt.sh.lazy_gaps = true;
	/* Page faults are not seen (uffd=touch sees first touches of the
	 * program's own pages, not every write that gives an anon_vma). */
	rt.sh.faults_unseen = true;
	rt.pid = rawsys_getpid();
	rt.ppid = (pid_t)rawsys3(SYS_getppid, 0, 0, 0);
	rt.maps_fd = kview_open_maps();
	/* Optional: without it, a moved VMA's pgoff stays a guess. */
	rt.pagemap_fd = kview_open_pagemap();
	rt.iobuf = vmc_arena_alloc(65536);
	struct vmc_findings_config fc = {
		.max_map_count = env.max_map_count,
		.max_map_share = rt.opt.max_map_share,
	};
	if (rt.maps_fd < 0 || !rt.iobuf || vmc_findings_init(&fc)) {
		vmc_say("cannot read /proc/self/maps: the program runs "
			"unchecked");
		rt.state = ST_DISABLED;
		return;
	}
	vmc_stack_init(rt.opt.stack_depth);
	vmc_modules_refresh();
	keep_replaced_image();
	if (vmc_journal_open(rt.opt.out_dir, rt.pid, rt.ppid))
		vmc_say("cannot open the journal in the output directory; "
			"results go to the result file only");
	write_process_record();
	journal_counts_open();
	journal_modules();
	seed_baseline();
	/* Field 47 of /proc/self/stat: start_brk. */
	char stat[2048];
	if (read_small_file("/proc/self/stat", stat, sizeof(stat)) > 0) {
		const char *p = strrchr(stat, ')');
		for (int field = 2; p && field < 47; field++)
			p = strchr(p + 1, ' ');
		if (p)
			shadow_set_brk(&rt.sh, parse_u64(p + 1),
				       (uint64_t)__sbrk(0));
	}
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	rt.state = ST_READY;
}

int vmc_enter(void)
{
	if (in_hook)
		return 0;
	if (rt.state != ST_READY) {
		if (rt.state != ST_UNINIT)
			return 0;
		in_hook++;
		if (__sync_bool_compare_and_swap(&rt.state, ST_UNINIT,
						 ST_INITIALIZING))
			do_init();
		in_hook--;
		if (rt.state != ST_READY)
			return 0;
	}
	/* A vfork child shares the parent's memory, this state and its mm:
	 * its calls change the parent's address space, so applying them to
	 * the same shadow under the same lock is right.  What a vfork child
	 * must not do is finish the parent's result: see vmc_exit(). */
	in_hook++;
	return 1;
}

void vmc_leave(void)
{
	in_hook--;
}

/* The uffd monitor: its calls pass through, for good. */
void vmc_thread_untraced(void)
{
	in_hook = 1;
}

void vmc_rt_uffd_registered(uint64_t start, uint64_t len, uint32_t uflags,
			    bool lock)
{
	if (rt.state != ST_READY)
		return;
	if (lock)
		pthread_mutex_lock(&rt.lock);
	pend_flush();
	shadow_uffd_register(&rt.sh, start, len, uflags, NULL);
	if (lock)
		pthread_mutex_unlock(&rt.lock);
}

void vmc_note_passthrough(uint64_t start, uint64_t end, int is_tool)
{
	__atomic_add_fetch(&rt.passthrough, 1, __ATOMIC_RELAXED);
	if (is_tool && rt.ntool < TOOL_RANGES) {
		unsigned i = __atomic_fetch_add(&rt.ntool, 1, __ATOMIC_RELAXED);
		if (i < TOOL_RANGES) {
			rt.tool_start[i] = start;
			rt.tool_end[i] = end;
			/* The unwinder's own memory (MAP_NORESERVE: it never
			 * merges with the program's): absorbed at the next
			 * check, no resync needed for it. */
			return;
		}
	}
	rt.need_resync = true;
}

/* exit() gives its status to on_exit handlers, not to destructors.  Ours
 * is registered in the constructor, before libc registers the loader's
 * destructor pass, so it runs after every destructor: it writes the
 * result, with the status, last. */
static bool exit_handler;

static void finish(const char *ended, int status, uint64_t leak_sp);

static void vmc_on_exit(int status, void *arg)
{
	(void)arg;
	exit_handler = false;
	/* The leak scan reads this thread's stack from here up: the tool's
	 * deeper frames hold stale addresses, not the program's pointers. */
	finish("exit", status & 0xff, (uint64_t)__builtin_frame_address(0));
}

__attribute__((constructor)) static void vmc_constructor(void)
{
	if (vmc_enter())
		vmc_leave();
	if (rt.state == ST_READY && on_exit(vmc_on_exit, NULL) == 0)
		exit_handler = true;
	/* The monitor thread is made here, outside any hook. */
	if (rt.state == ST_READY)
		vmc_uffd_init(rt.opt.uffd);
}

/* ---- the calls --------------------------------------------------------- */

int64_t vmc_raw_call(struct vmc_call *c)
{
	long r;
	switch (c->call) {
	case SHADOW_CALL_MMAP:
		r = rawsys_mmap((void *)c->a[0], c->a[1], (int)c->a[2],
				(int)c->a[3], (int)c->a[4], c->a[5]);
		break;
	case SHADOW_CALL_MUNMAP:
		r = rawsys_munmap((void *)c->a[0], c->a[1]);
		break;
	case SHADOW_CALL_MREMAP:
		r = rawsys6(SYS_mremap, (long)c->a[0], (long)c->a[1],
			    (long)c->a[2], (long)c->a[3], (long)c->a[4], 0);
		break;
	case SHADOW_CALL_MPROTECT:
		r = c->sub == VMC_SUB_PKEY
			    ? rawsys6(SYS_pkey_mprotect, (long)c->a[0],
				      (long)c->a[1], (long)c->a[2],
				      (long)c->a[3], 0, 0)
			    : rawsys_mprotect((void *)c->a[0], c->a[1],
					      (int)c->a[2]);
		break;
	case SHADOW_CALL_MADVISE:
		r = rawsys_madvise((void *)c->a[0], c->a[1], (int)c->a[2]);
		break;
	case SHADOW_CALL_MLOCK:
		r = c->sub == VMC_SUB_MLOCKALL
			    ? rawsys3(SYS_mlockall, (long)c->a[0], 0, 0)
			    : rawsys3(SYS_mlock2, (long)c->a[0], (long)c->a[1],
				      (long)c->a[2]);
		break;
	case SHADOW_CALL_MUNLOCK:
		r = c->sub == VMC_SUB_MUNLOCKALL
			    ? rawsys3(SYS_munlockall, 0, 0, 0)
			    : rawsys3(SYS_munlock, (long)c->a[0],
				      (long)c->a[1], 0);
		break;
	case SHADOW_CALL_BRK: {
		/* libc's own: glibc keeps the break in __curbrk. */
		int saved = errno;
		if (c->sub == VMC_SUB_SBRK) {
			void *p = __sbrk((intptr_t)c->a[0]);
			r = p == (void *)-1 ? -errno : (long)p;
		} else {
			void *nb = (void *)rawsys3(SYS_brk, (long)c->a[0], 0, 0);
			__curbrk = nb;
			r = (uint64_t)nb < c->a[0] ? -ENOMEM : 0;
		}
		errno = saved;
		break;
	}
	case SHADOW_CALL_SHMAT:
		r = c->sub == VMC_SUB_SHMDT
			    ? rawsys3(SYS_shmdt, (long)c->a[0], 0, 0)
			    : rawsys3(SYS_shmat, (long)c->a[0], (long)c->a[1],
				      (long)c->a[2]);
		break;
	default:
		r = -ENOSYS;
	}
	c->ret = r;
	return r;
}

/* What the shadow needs to know about the fd of a file mapping. */
static void file_facts(int fd, struct shadow_file *f)
{
	struct stat st;
	memset(f, 0, sizeof(*f));
	if (rawsys3(SYS_fstat, fd, (long)&st, 0) != 0)
		return;
	long fl = rawsys3(SYS_fcntl, fd, F_GETFL, 0);
	if (fl < 0)
		return;
	f->valid = true;
	f->readable = (fl & O_ACCMODE) != O_WRONLY;
	f->writable = (fl & O_ACCMODE) != O_RDONLY;
	f->append = fl & O_APPEND;
	f->regular = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
	f->can_mmap = true;  /* the kernel tells: a refusal is its errno */
	f->dev = (major(st.st_dev) << 20) | minor(st.st_dev);
	f->ino = st.st_ino;
	f->size = (uint64_t)st.st_size;
	/* The open file description cannot be seen; the fd number with the
	 * inode is a good proxy (mmaps through one fd share it). */
	uint64_t h = st.st_ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)fd;
	f->file_id = (uint32_t)(h >> 33) | 1u;
	if (f->file_id == SHADOW_FILE_UNKNOWN)
		f->file_id = 1;
}

static void rec_span_pub(struct shadow_change *rec, uint64_t s, uint64_t e)
{
	if (s < rec->span_start || rec->span_start == rec->span_end)
		rec->span_start = s;
	if (e > rec->span_end)
		rec->span_end = e;
}

/* shmat: a shared mapping of the segment (size from IPC_STAT); shmdt: the
 * unmap of what shmat created there.  The kernel names the identities
 * (ino), so the span is always checked afterwards. */
static int64_t shadow_apply_shm(struct vmc_call *c, uint32_t stack,
				struct shadow_change *rec)
{
	if (c->sub == VMC_SUB_SHMDT) {
		struct shadow_region *r = shadow_region_find(&rt.sh, c->a[0]);
		uint64_t len = r && r->call == SHADOW_CALL_SHMAT &&
				       r->start == c->a[0]
				       ? r->end - r->start
				       : 0;
		rec->span_start = c->a[0];
		rec->span_end = c->a[0] + (len ? len : 4096);
		rec->uncertain = true;
		if (c->ret == 0 && len)
			shadow_unmap(&rt.sh, c->a[0], len, NULL);
		return c->ret;
	}
	if (c->ret < 0)
		return c->ret;
	struct { uint8_t raw[112]; } ds; /* struct shmid_ds, x86-64 */
	uint64_t size = 0;
	if (rawsys3(SYS_shmctl, (long)c->a[0], 2 /* IPC_STAT */, (long)&ds) == 0)
		memcpy(&size, ds.raw + 48, sizeof(size)); /* shm_segsz */
	struct shadow_file f = { .valid = true, .readable = true,
				 .writable = !(c->a[2] & 010000 /* SHM_RDONLY */),
				 .can_mmap = true, .shmem = true,
				 .ino = SHADOW_INO_UNKNOWN,
				 .file_id = SHADOW_FILE_UNKNOWN, .size = size };
	int prot = PROT_READ | (f.writable ? PROT_WRITE : 0) |
		   (c->a[2] & 0100000 /* SHM_EXEC */ ? PROT_EXEC : 0);
	struct shadow_map_args m = {
		.addr = (uint64_t)c->ret, .len = size, .prot = prot,
		.flags = MAP_SHARED | MAP_FIXED, .file = &f,
		.stack_id = stack, .origin = SHADOW_ORIGIN_TRACKED,
		.call = SHADOW_CALL_SHMAT,
	};
	shadow_map(&rt.sh, &m, rec);
	rec->uncertain = true;
	return c->ret;
}

/* An mremap the kernel carried out by a move, faults unseen: was the
 * source written (its pgoff and anon_vma follow)?  The page tables went
 * with it: pagemap at the new address says, read once per call. */
static bool moved_written(struct vmc_call *c)
{
	if (!c->pagemap)
		c->pagemap = kview_anon_written(
				     rt.pagemap_fd, (uint64_t)c->ret,
				     shadow_remap_probe_pages(&rt.sh, c->a[0],
							      c->a[1],
							      c->a[2]))
				     ? 2
				     : 1;
	return c->pagemap == 2;
}

/* Apply c to the shadow; returns its prediction. */
static int64_t shadow_apply(struct vmc_call *c, uint32_t stack,
			    uint8_t origin, struct shadow_change *rec)
{
	switch (c->call) {
	case SHADOW_CALL_MMAP: {
		struct shadow_file f;
		bool anon = c->a[3] & MAP_ANONYMOUS;
		if (!anon)
			file_facts((int)c->a[4], &f);
		struct shadow_map_args m = {
			.addr = c->a[0], .len = c->a[1], .prot = (int)c->a[2],
			.flags = (int)c->a[3], .off = c->a[5],
			.file = anon ? NULL : &f,
			.result = c->ret >= 0 ? (uint64_t)c->ret : 0,
			.stack_id = stack, .origin = origin,
		};
		int64_t p = shadow_map(&rt.sh, &m, rec);
		/* Facts only the kernel knows (no such device, a pool of
		 * huge pages) make the shadow's success a guess. */
		if (c->ret < 0 && p >= 0 && rec->uncertain)
			return c->ret;
		if (c->ret == -ENODEV && p >= 0)
			return c->ret;
		return p;
	}
	case SHADOW_CALL_MUNMAP:
		return shadow_unmap(&rt.sh, c->a[0], c->a[1], rec);
	case SHADOW_CALL_MREMAP: {
		struct shadow_remap_args r = {
			.old_addr = c->a[0], .old_len = c->a[1],
			.new_len = c->a[2], .flags = (int)c->a[3],
			.new_addr = c->a[4],
			.result = c->ret >= 0 ? (uint64_t)c->ret : 0,
			.stack_id = stack,
		};
		/* Moved: whether it was written decides its pgoff (and so
		 * its merges); the page tables went with it, ask them. */
		if (c->ret >= 0 && (uint64_t)c->ret != c->a[0])
			r.src_written = moved_written(c);
		return shadow_remap(&rt.sh, &r, rec);
	}
	case SHADOW_CALL_MPROTECT:
		/* A pkey the kernel did not allocate (pkey_alloc is not
		 * seen, nor whether the CPU has keys): its EINVAL is the
		 * kernel's to tell, and it comes before any change. */
		if (c->sub == VMC_SUB_PKEY && (int)c->a[3] != -1 &&
		    c->ret == -EINVAL) {
			rec->span_start = rec->span_end = 0;
			return c->ret;
		}
		return shadow_protect(&rt.sh, c->a[0], c->a[1], (int)c->a[2],
				      rec);
	case SHADOW_CALL_MADVISE:
		return shadow_advise(&rt.sh, c->a[0], c->a[1], (int)c->a[2],
				     rec);
	case SHADOW_CALL_MLOCK:
		if (c->sub == VMC_SUB_MLOCKALL)
			return shadow_lockall(&rt.sh, (int)c->a[0], rec);
		return shadow_lock(&rt.sh, c->a[0], c->a[1], (int)c->a[2], rec);
	case SHADOW_CALL_MUNLOCK:
		if (c->sub == VMC_SUB_MUNLOCKALL)
			return shadow_unlockall(&rt.sh, rec);
		return shadow_unlock(&rt.sh, c->a[0], c->a[1], rec);
	case SHADOW_CALL_BRK: {
		/* a[5]: the break before the call (read under the lock).  The
		 * heap grown by malloc's own sbrk is not seen: start from the
		 * kernel's break and let the span check settle the rest. */
		uint64_t old = c->a[5];
		uint64_t now = (uint64_t)__sbrk(0);
		shadow_set_brk(&rt.sh, rt.sh.brk_start ? rt.sh.brk_start : old,
			       old);
		shadow_brk(&rt.sh, c->sub == VMC_SUB_SBRK ? old + c->a[0]
							   : c->a[0],
			   now, rec);
		rec->uncertain = true;
		rec_span_pub(rec, old < now ? old : now, old < now ? now : old);
		return c->ret;
	}
	case SHADOW_CALL_SHMAT:
		return shadow_apply_shm(c, stack, rec);
	}
	return c->ret;
}


/* The calls by name, for stats and messages. */
static const char *const call_name[] = {
	[SHADOW_CALL_MMAP] = "mmap", [SHADOW_CALL_MUNMAP] = "munmap",
	[SHADOW_CALL_MREMAP] = "mremap", [SHADOW_CALL_MPROTECT] = "mprotect",
	[SHADOW_CALL_MADVISE] = "madvise", [SHADOW_CALL_MLOCK] = "mlock",
	[SHADOW_CALL_MUNLOCK] = "munlock", [SHADOW_CALL_BRK] = "brk",
	[SHADOW_CALL_SHMAT] = "shmat",
};

static size_t fmt_i64(char *p, int64_t v)
{
	char t[24];
	int k = 0;
	size_t n = 0;
	uint64_t u = (uint64_t)v;
	if (v < 0) {
		p[n++] = '-';
		u = (uint64_t)-v;
	}
	do
		t[k++] = (char)('0' + u % 10);
	while ((u /= 10));
	while (k)
		p[n++] = t[--k];
	return n;
}

static __thread uint32_t tid_cache __attribute__((tls_model("initial-exec")));
static __thread pid_t tid_pid __attribute__((tls_model("initial-exec")));

/* The thread id, asked of the kernel once per thread and process. */
static uint32_t my_tid(void)
{
	if (!tid_cache || tid_pid != rt.pid) {
		tid_cache = (uint32_t)rawsys3(SYS_gettid, 0, 0, 0);
		tid_pid = rt.pid;
	}
	return tid_cache;
}

/* The process's VMC_JREC_COUNTS record (rt.counts_off; 0 = none yet),
 * appended when the journal opens. */
static void journal_counts_open(void)
{
	struct vmc_jcounts k = { .nkinds = VMC_JCOUNTS_KINDS };
	_Static_assert(SHADOW_CALL_SCAN < VMC_JCOUNTS_KINDS, "counts");
	for (unsigned i = 0; i <= SHADOW_CALL_SCAN; i++) {
		k.calls[i] = rt.calls[i];
		k.failed[i] = rt.failed[i];
	}
	rt.jcounts = NULL;
	if (vmc_journal_append_at(VMC_JREC_COUNTS, &k, sizeof(k),
				  &rt.counts_off))
		rt.counts_off = 0;
	else
		rt.jcounts = vmc_journal_pin(rt.counts_off, sizeof(k));
}

/* After each call: its counters in place, and a record for a failure. */
static void journal_call(const struct vmc_call *c, uint32_t stack, int err)
{
	const unsigned calls_at = offsetof(struct vmc_jcounts, calls) / 8;
	const unsigned failed_at = offsetof(struct vmc_jcounts, failed) / 8;
	if (rt.jcounts) {
		/* Plain stores to the file's page (rt.lock is held). */
		__atomic_store_n(&rt.jcounts->calls[c->call],
				 rt.calls[c->call], __ATOMIC_RELAXED);
		if (err)
			__atomic_store_n(&rt.jcounts->failed[c->call],
					 rt.failed[c->call], __ATOMIC_RELAXED);
	} else if (rt.counts_off) {
		vmc_journal_put_u64(rt.counts_off, calls_at + c->call,
				    rt.calls[c->call]);
		if (err)
			vmc_journal_put_u64(rt.counts_off,
					    failed_at + c->call,
					    rt.failed[c->call]);
	}
	if (!err)
		return;
	struct vmc_jcall j = {
		.serial = rt.sh.serial, .result = c->ret, .err = err,
		.call = c->call, .stack_id = stack,
		.tid = my_tid(),
	};
	for (int i = 0; i < 6; i++)
		j.args[i] = c->a[i];
	vmc_journal_append(VMC_JREC_CALL, &j, sizeof(j));
}

static __thread int in_capture __attribute__((tls_model("initial-exec")));

int vmc_in_capture(void)
{
	return in_capture;
}

/* [*s, *e) from addr and len as a call passes them, page-rounded; false
 * when the kernel will refuse them anyway (unaligned, wrapping). */
static bool call_span(uint64_t addr, uint64_t len, uint64_t *s, uint64_t *e)
{
	if ((addr & 4095) || !len || len > (1ull << 47) ||
	    addr + len < addr)
		return false;
	*s = addr;
	*e = (addr + len + 4095) & ~4095ull;
	return true;
}

/* Before the system call: where the shadow has a hole or pages that are
 * not the program's in the span the call works on, ask the kernel first
 * (glibc's memory, not absorbed yet, is foreign; a stale foreign VMA goes),
 * so that the findings speak of what was really there.  For a fixed call,
 * note what the target's accessible pages hold (fixed-clobber).  True when
 * the kernel was not asked: the shadow knew every page, all the program's. */
static bool before_call(const struct vmc_call *c, uint32_t stack,
			struct vmc_pre *pre)
{
	bool clean = true;
	uint64_t spans[2][2];
	int n = 0;
	bool fixed = false;
	uint64_t s, e;
	switch (c->call) {
	case SHADOW_CALL_MMAP:
		if ((c->a[3] & MAP_FIXED) && !(c->a[3] & MAP_FIXED_NOREPLACE) &&
		    call_span(c->a[0], c->a[1], &s, &e)) {
			spans[n][0] = s, spans[n++][1] = e;
			fixed = true;
		}
		break;
	case SHADOW_CALL_MUNMAP:
	case SHADOW_CALL_MPROTECT:
		if (c->sub != VMC_SUB_SHMDT &&
		    call_span(c->a[0], c->a[1], &s, &e))
			spans[n][0] = s, spans[n++][1] = e;
		if (c->call == SHADOW_CALL_MPROTECT && n)
			shadow_prefetch_neighbours(&rt.sh, s);
		break;
	case SHADOW_CALL_MREMAP:
		if (call_span(c->a[0], c->a[1] ? c->a[1] : 1, &s, &e)) {
			spans[n][0] = s, spans[n++][1] = e;
			/* Whether the old range is one VMA decides the
			 * result: where the shadow merged on a guess (faults
			 * unseen), read the kernel's boundaries first. */
			if (rt.opt.check != VMC_CHECK_CALL &&
			    shadow_span_unsure(&rt.sh, s, e))
				refine_span(s, e);
		}
		if ((c->a[3] & MREMAP_FIXED) &&
		    call_span(c->a[4], c->a[2], &s, &e)) {
			spans[n][0] = s, spans[n++][1] = e;
			fixed = true;
		}
		/* Growth in place takes the pages after the old range.  The
		 * kernel is not asked about them first: where the shadow
		 * still has a mapping glibc removed without us, or none where
		 * it made one, the result differs from the prediction and the
		 * check after the call resyncs (a growing mapping next to a
		 * library's pages would otherwise ask on most steps). */
		break;
	default:
		break;
	}
	for (int i = 0; i < n; i++) {
		s = spans[i][0], e = spans[i][1];
		if (rt.opt.check != VMC_CHECK_CALL &&
		    (vmc_span_has_hole(&rt.sh, s, e) ||
		     vmc_span_has_untracked(&rt.sh, s, e))) {
			check_span(s, e, 0, 0);
			clean = false;
		}
	}
	if (fixed)
		vmc_findings_before(&rt.sh, spans[n - 1][0], spans[n - 1][1],
				    c->call, c->a, stack, pre);
	return clean;
}

/* The pages an intercepted call may make the kernel send uffd events for
 * (UNMAP, REMAP, REMOVE): its own range and a MAP_FIXED/MREMAP_FIXED
 * target. */
static __attribute__((cold)) void uffd_expect(const struct vmc_call *c)
{
	uint64_t s = c->a[0] & ~4095ull, e = 0, s2 = 0, e2 = 0;
	switch (c->call) {
	case SHADOW_CALL_MMAP:
		if (c->a[3] & MAP_FIXED)
			e = s + c->a[1] + 4095;
		break;
	case SHADOW_CALL_MUNMAP:
	case SHADOW_CALL_MADVISE:
		e = s + c->a[1] + 4095;
		break;
	case SHADOW_CALL_MREMAP:
		e = s + c->a[1] + 4095;
		if (c->a[3] & MREMAP_FIXED) {
			s2 = c->a[4] & ~4095ull;
			e2 = s2 + c->a[2] + 4095;
		}
		break;
	default:
		return;
	}
	vmc_uffd_expect(c->call, s, e & ~4095ull, s2, e2 & ~4095ull);
}

/* --uffd=touch: the tracked pages a call is about to take away are
 * counted (written or not) for their call sites first. */
static __attribute__((cold)) void touch_retire(const struct vmc_call *c)
{
	uint64_t s, e;
	switch (c->call) {
	case SHADOW_CALL_MUNMAP:
		if (c->sub != VMC_SUB_SHMDT && call_span(c->a[0], c->a[1], &s, &e))
			vmc_touch_retire(&rt.sh, s, e);
		break;
	case SHADOW_CALL_MMAP:
		if ((c->a[3] & MAP_FIXED) && !(c->a[3] & MAP_FIXED_NOREPLACE) &&
		    call_span(c->a[0], c->a[1], &s, &e))
			vmc_touch_retire(&rt.sh, s, e);
		break;
	case SHADOW_CALL_MREMAP:
		if (c->a[2] < c->a[1] &&
		    call_span(c->a[0], c->a[1], &s, &e))
			vmc_touch_retire(&rt.sh,
					 s + ((c->a[2] + 4095) & ~4095ull), e);
		if ((c->a[3] & MREMAP_FIXED) &&
		    call_span(c->a[4], c->a[2], &s, &e))
			vmc_touch_retire(&rt.sh, s, e);
		break;
	default:
		break;
	}
}

/* This thread's home stack, for the stack cache (stack.c): the VMA that
 * holds its caller's frame when it is the main thread's [stack] or a
 * thread stack of glibc's.  Asked once per thread; a thread stack not
 * absorbed yet is read from the kernel first (one query). */
static __attribute__((cold)) void find_home(uint64_t slot)
{
	uint64_t page = slot & ~4095ull;
	struct shadow_vma *v = shadow_find(&rt.sh, slot);
	if (!v) {
		check_span(page, page + 4096, 0, 0);
		v = shadow_find(&rt.sh, slot);
		if (v && v->start >= (64u << 10)) {
			/* its guard page, for the thread-stack shape */
			check_span(v->start - (64u << 10), v->end, 0, 0);
			v = shadow_find(&rt.sh, slot);
		}
	}
	const struct shadow_region *r =
		v ? shadow_region_find(&rt.sh, slot) : NULL;
	if (r && (v->flags & SV_GROWSDOWN)) {
		/* the main stack: it may grow down to its rlimit */
		uint64_t lim = rt.sh.env.stack_rlimit;
		vmc_stack_set_home(lim && lim < v->end ? v->end - lim : v->start,
				   v->end);
	} else if (r && (r->name == SHADOW_NAME_STACK ||
			 r->name == SHADOW_NAME_THREAD_STACK))
		vmc_stack_set_home(v->start, v->end);
	else
		vmc_stack_set_home(0, 0);
}

/* What every call ends with, under the hook's lock: the peak, the periodic
 * check, the journal's counters, the sampled hook time; then the lock
 * goes. */
static void call_done(const struct vmc_call *c, uint32_t stack, int kerr,
		      bool timed, uint64_t t0)
{
	uint64_t mapped = (rt.sh.c.total_vm << 12) + rt.pend_len +
			  (rt.gheld_on ? rt.gheld.new_end - rt.gheld.old_end
				       : 0);
	if (mapped > rt.peak_mapped_bytes)
		rt.peak_mapped_bytes = mapped;
	/* Every N calls, stretched so that checks cost at most 2% of the
	 * time spent in intercepted calls (a full check reads every VMA). */
	if (rt.opt.check == VMC_CHECK_EVERY &&
	    ++rt.since_check >= rt.opt.check_every) {
		/* not yet: asked again N calls later */
		if (vmc_budget_allows(&rt.budget, rt.sh.c.map_count))
			check_full(VMC_F_UNTRACKED_CHANGE);
		else
			rt.since_check = 0;
	}
	journal_call(c, stack, kerr);
	if (timed) {
		/* the call's own time: a check it ran is not the program's */
		uint64_t d = __rdtsc() - t0;
		d -= rt.check_in_call < d ? rt.check_in_call : d;
		rt.budget.hook += d * VMC_BUDGET_SAMPLE;
	}
	hook_unlock();
}

/* A call a fast path took whole (a held or elided one's partner). */
static inline int64_t fast_done(const struct vmc_call *c, uint32_t stack,
				bool timed, uint64_t t0)
{
	rt.fast_calls++;
	rt.calls[c->call]++;
	call_done(c, stack, 0, timed, t0);
	return c->ret;
}

/* After the kernel succeeded: the fast paths of shadow/fast.c for an
 * anonymous private mmap into a hole (not writable and executable: that
 * is a finding) or MAP_FIXED inside one VMA (pre: what before_call noted
 * of the pages it replaces), for the munmap of the whole tracked mapping
 * `whole` (created at `created`) and for an mremap grown in place, and
 * shadow_protect_fast for an mprotect inside one VMA.  False when the
 * general path must apply c.  With `defer`, an mmap, an mprotect or a
 * fixed commit may be held until the next call (pend_flush); without it
 * (check=call, whose check after the call reads the shadow at once) each
 * is applied now. */
static bool fast_apply(struct vmc_call *c, uint32_t stack,
		       struct shadow_vma *whole, uint32_t created, bool clean,
		       const struct vmc_pre *pre, bool defer)
{
	if (c->ret < 0)
		return false;
	if (whole) {
		uint64_t s = whole->start, e = whole->end;
		shadow_unmap_whole(&rt.sh, whole);
		rt.fast_calls++;
		vmc_findings_fast(&rt.sh, SHADOW_CALL_MUNMAP, s, e, created,
				  stack);
		return true;
	}
	if (c->call == SHADOW_CALL_MPROTECT) {
		/* Inside one VMA, its outcome certain (shadow/protect.c);
		 * W+X is a finding, pkey_mprotect's the general path's. */
		if (c->sub != VMC_SUB_NONE || c->ret != 0 ||
		    (c->a[2] & (PROT_WRITE | PROT_EXEC)) ==
			    (PROT_WRITE | PROT_EXEC))
			return false;
		struct shadow_protect_plan pl;
		if (!shadow_protect_fast_plan(&rt.sh, c->a[0], c->a[1],
					      (int)c->a[2], &pl))
			return false;
		rt.fast_calls++;
		if (pl.change && defer && !rt.pend_len && !rt.held_on &&
		    !rt.fheld_on) {
			/* held until the next call (pend_flush) */
			rt.held = pl;
			rt.held_on = true;
			rt.held_prot = (int)c->a[2];
			rt.held_stack = stack;
			rt.held_clean = clean;
			return true;
		}
		if (shadow_protect_fast_apply(&rt.sh, &pl) < 0)
			rt.need_resync = true; /* out of memory part way */
		vmc_findings_protect_fast(&rt.sh, pl.splits, stack);
		return true;
	}
	if (c->call == SHADOW_CALL_MREMAP) {
		/* A buffer's growth, in place or moved whole; nothing to
		 * report (growth past an object: no file; nothing removed but
		 * the moved pages, which are the program's: remembered, as
		 * unmaps does, for a stale pointer's finding). */
		uint32_t moved_of = 0;
		if ((uint64_t)c->ret == c->a[0]) {
			struct shadow_grow_plan pl;
			if (!shadow_remap_grow_plan(&rt.sh, c->a[0], c->a[1],
						    c->a[2], (int)c->a[3],
						    &pl))
				return false;
			rt.fast_calls++;
			vmc_findings_fast(&rt.sh, SHADOW_CALL_MREMAP, 0, 0, 0,
					  stack);
			/* Held while a next growth may move it on: the
			 * program's own mapping (a growth of it needs nothing
			 * asked first: before_call would find it clean), its
			 * boundaries sure. */
			if (defer && pl.room > pl.new_end && !rt.pend_len &&
			    !rt.held_on && !rt.fheld_on &&
			    pl.r->origin == SHADOW_ORIGIN_TRACKED &&
			    !(pl.v->flags & SV_EDGES_UNSURE)) {
				rt.gheld = pl;
				rt.gheld_on = true;
				return true;
			}
			shadow_remap_grow_apply(&rt.sh, &pl);
			return true;
		}
		/* Asked again once pagemap has answered (0 or 1): one call
		 * site, so that it is inlined. */
		int m, w = -1;
		while ((m = shadow_remap_move_fast(&rt.sh, c->a[0], c->a[1],
						   c->a[2], (int)c->a[3],
						   (uint64_t)c->ret, w,
						   &moved_of)) ==
		       SHADOW_MOVE_ASK)
			w = moved_written(c);
		if (m != 1)
			return false;
		rt.fast_calls++;
		vmc_findings_fast(&rt.sh, SHADOW_CALL_MREMAP, c->a[0],
				  c->a[0] + ((c->a[1] + 4095) & ~4095ull),
				  moved_of, stack);
		return true;
	}
	if (c->call != SHADOW_CALL_MMAP ||
	    (c->a[2] & (PROT_WRITE | PROT_EXEC)) == (PROT_WRITE | PROT_EXEC))
		return false;
	if (c->a[3] & MAP_FIXED) {
		/* Pages committed in a reservation or given back to it: no
		 * finding when the pages it replaces were the caller's to
		 * replace (the regions, before the shadow changes). */
		uint64_t s = c->a[0], e = s + ((c->a[1] + 4095) & ~4095ull);
		if ((uint64_t)c->ret != s || e <= s ||
		    !vmc_findings_fixed_quiet(&rt.sh, s, e, c->a, stack,
					      pre))
			return false;
		/* A commit whose decommit may come next: held until the
		 * next call (pend_flush). */
		if (defer && !rt.pend_len && !rt.held_on &&
		    shadow_fixed_pair_plan(&rt.sh, s, c->a[1], (int)c->a[2],
					   (int)c->a[3], c->a[5], stack,
					   &rt.fheld)) {
			rt.fheld_on = true;
			rt.fheld_clean = clean;
			rt.fast_calls++;
			return true;
		}
		if (!shadow_map_fixed_fast(&rt.sh, s, c->a[1], (int)c->a[2],
					   (int)c->a[3], c->a[5],
					   SHADOW_ORIGIN_TRACKED, stack))
			return false;
		rt.fast_calls++;
		vmc_findings_fast(&rt.sh, SHADOW_CALL_MMAP, s, e, 0, stack);
		return true;
	}
	/* One look at the shape: a declined mmap (a neighbour it merges
	 * with, say) is common, and goes on to the general path. */
	if (!shadow_map_anon_fast_flags(&rt.sh, (uint64_t)c->ret, c->a[1],
					(int)c->a[2], (int)c->a[3], c->a[5]))
		return false;
	/* Kept pending (pend_flush) unless it would cross the map-count
	 * pressure line, which is reported with the call that crosses it. */
	if (defer && !rt.pend_len && !vmc_findings_pressure_due(&rt.sh, 1)) {
		rt.pend_start = (uint64_t)c->ret;
		rt.pend_len = (c->a[1] + 4095) & ~4095ull;
		rt.pend_prot = (int)c->a[2];
		rt.pend_flags = (int)c->a[3];
		rt.pend_off = c->a[5];
		rt.pend_stack = stack;
		rt.fast_calls++;
		return true;
	}
	if (!shadow_map_anon_fast(&rt.sh, (uint64_t)c->ret, c->a[1],
				  (int)c->a[2], (int)c->a[3], c->a[5],
				  SHADOW_ORIGIN_TRACKED, stack))
		return false;
	rt.fast_calls++;
	vmc_findings_fast(&rt.sh, SHADOW_CALL_MMAP, (uint64_t)c->ret,
			  (uint64_t)c->ret + c->a[1], 0, stack);
	return true;
}

/* Stacks new since the last call go to the journal, so that a killed
 * process's calls can still be shown with their stacks. */
static __attribute__((cold, noinline)) void journal_stacks(uint32_t stack)
{
	while (stack > rt.journaled_stacks) {
		uint32_t id = ++rt.journaled_stacks;
		struct { uint32_t id, n; uint64_t ips[64]; } rec_s;
		int n = vmc_stack_get(id, (uintptr_t *)rec_s.ips, 64);
		rec_s.id = id;
		rec_s.n = (uint32_t)(n > 0 ? n : 0);
		vmc_journal_append(VMC_JREC_STACK, &rec_s,
				   (uint32_t)(8 + 8 * rec_s.n));
	}
}

/* The span a call touched, to read after it: with where the kernel put
 * the pages (an mmap without MAP_FIXED touched only where it landed: its
 * hint says nothing).  [s, e) is the span the shadow's operation recorded
 * (the call's range).  An mremap that moved the pages away from the old
 * range, as the shadow predicted (!mismatch): the old range and the new
 * one are read apart, [s, e) and [s2, e2) (the VMAs between them are not
 * the call's, and each would cost a query).  Predicted otherwise (grown
 * in place, say), the whole span the shadow changed is read. */
struct after_span {
	uint64_t s, e, s2, e2;
};

static struct after_span after_span(const struct vmc_call *c, bool mismatch,
				    uint64_t s, uint64_t e)
{
	uint64_t s2 = 0, e2 = 0;
	if (c->call == SHADOW_CALL_MMAP && !(c->a[3] & MAP_FIXED)) {
		s = c->ret >= 0 ? (uint64_t)c->ret : 0;
		e = c->ret >= 0 ? s + c->a[1] : 0;
	} else if (c->call == SHADOW_CALL_MREMAP && c->ret >= 0) {
		uint64_t ns = (uint64_t)c->ret & ~4095ull;
		uint64_t ne = ((uint64_t)c->ret + c->a[2] + 4095) & ~4095ull;
		uint64_t os = c->a[0] & ~4095ull;
		uint64_t oe = (c->a[0] + (c->a[1] ? c->a[1] : 1) + 4095) &
			      ~4095ull;
		if (!mismatch && ns != os && oe > os && ne > ns &&
		    (ne < os || ns > oe)) {
			s = os;
			e = oe;
			s2 = ns;
			e2 = ne;
		} else {
			if (ns < s)
				s = ns;
			if (ne > e)
				e = ne;
		}
	}
	/* check_span widens to the whole VMAs at the edges: a merge with a
	 * neighbour shows there. */
	return (struct after_span){ s & ~4095ull, (e + 4095) & ~4095ull, s2,
				    e2 };
}

/* After: adopt what the kernel did over the span.  A difference is the
 * model's fault only where the shadow knew every page (sum.tracked). */
static struct span_sum check_after(const struct after_span *sp,
				   uint32_t stack)
{
	struct span_sum sum = { 0, 0, 0, false };
	if (sp->e - sp->s > (1ull << 40) || sp->e2 - sp->s2 > (1ull << 40)) {
		check_full(0);
		return sum;
	}
	sum = check_span(sp->s, sp->e, 0, stack);
	if (sp->e2 > sp->s2) {
		struct span_sum m = check_span(sp->s2, sp->e2, 0, stack);
		sum.unknown += m.unknown;
		sum.untracked += m.untracked;
		sum.tracked += m.tracked;
	}
	return sum;
}

static void divergence_after(uint64_t s, uint64_t e, uint32_t stack)
{
	rt.divergences++;
	add_finding(VMC_F_SHADOW_DIVERGENCE, s, e - s, 0, 0, stack,
		    "the shadow and the kernel disagree on tracked pages "
		    "after an intercepted call");
}

/* check=call, after a call a fast path applied: the same check as the
 * general path's when the shadow's prediction was the kernel's result
 * (the fast paths take only calls that succeeded, and apply exactly what
 * the general path would).  A munmap the check before settled needs
 * none. */
static __attribute__((cold, noinline)) void fast_checked(
	const struct vmc_call *c, uint32_t stack, bool settled)
{
	if (settled && c->ret == 0)
		return;
	struct after_span sp = after_span(c, false, c->a[0],
					  c->a[0] + c->a[1]);
	if (sp.e <= sp.s)
		return;
	struct span_sum sum = check_after(&sp, stack);
	if (sum.tracked && !sum.unknown && !sum.untracked)
		divergence_after(sp.s, sp.e, stack);
}

/* check=call, before a call that acts on the range it names (a plain
 * mmap's address is a hint: where it lands is checked after; brk and shm
 * name none; mlock changes no mapping the kernel shows): catch changes
 * made behind the tool's back in the range.  check_span reads the VMAs at
 * its edges whole: a neighbour the call could merge with is seen when it
 * reaches into the range.  True when the call's outcome is settled: a
 * munmap of whole VMAs the kernel has just shown (no VMA across the
 * edges) only removes pages (munmap splits only at its edges and merges
 * nothing), so the check after it is skipped when the kernel's answer is
 * the shadow's. */
static __attribute__((cold, noinline)) bool check_before(
	const struct vmc_call *c, uint32_t stack)
{
	bool ranged = c->call == SHADOW_CALL_MUNMAP ||
		      c->call == SHADOW_CALL_MPROTECT ||
		      c->call == SHADOW_CALL_MADVISE ||
		      c->call == SHADOW_CALL_MREMAP ||
		      (c->call == SHADOW_CALL_MMAP && (c->a[3] & MAP_FIXED));
	if (!ranged || c->sub == VMC_SUB_SHMDT)
		return false;
	uint64_t s = c->a[0] & ~4095ull;
	uint64_t e = (s + c->a[1] + 4095) & ~4095ull;
	struct span_sum b = check_span(s, e, VMC_F_UNTRACKED_CHANGE, stack);
	const struct kview *kv = &rt.kv;
	return c->call == SHADOW_CALL_MUNMAP && b.read &&
	       (!kv->n ||
		(kv->v[0].start >= s && kv->v[kv->n - 1].end <= e));
}

static int64_t general_after(struct vmc_call *c, uint32_t stack, bool tool,
			     bool uffd, bool settled,
			     const struct vmc_pre *pre, bool timed,
			     uint64_t t0);

/* The hook's common path is laid out straight: what only some calls,
 * modes or states need is out of line (cold), so that a call the fast
 * paths take runs through few cache lines.  The code a hook runs evicts
 * the kernel's own from the instruction caches: each line it adds makes
 * the system call itself slower. */
int64_t vmc_do_call(struct vmc_call *c)
{
	/* The time in calls, for the checks' budget, is sampled: one call in
	 * VMC_BUDGET_SAMPLE, drawn at random, is timed and counts for that
	 * many (a TSC read costs a VM tens of cycles). */
	bool timed = vmc_budget_sample(&hook_draw);
	uint64_t t0 = timed ? __rdtsc() : 0;
	/* The shadow's index lines for the call's address load while the
	 * stack is captured (at 20,000 VMAs each is a miss). */
	if (c->call != SHADOW_CALL_MMAP || (c->a[3] & MAP_FIXED))
		shadow_prefetch_at(&rt.sh, c->a[0]);
	/* libunwind's own calls (its caches, mapped and unmapped through
	 * libc) are the tool's: no stack, no findings, origin tool. */
	bool tool = vmc_ip_in_unwinder(c->caller);
	in_capture = 1;
	uint32_t stack = unlikely(tool) ? 0
					: vmc_stack_capture_from(2, c->caller,
								 c->slot);
	in_capture = 0;
	hook_lock();
	rt.check_in_call = 0;
	bool uffd = vmc_uffd_active();
	/* The program's commonest calls take the fast paths when nothing but
	 * the shadow watches them (no uffd); with no check around each call
	 * (defer), a call may be held to meet its undo. */
	bool quick = !tool && !uffd && rt.opt.uffd != VMC_UFFD_TOUCH;
	bool defer = quick && rt.opt.check != VMC_CHECK_CALL;
	/* The munmap of the pending mmap, whole: neither is applied. */
	bool elide = defer && rt.pend_len && c->call == SHADOW_CALL_MUNMAP &&
		     c->sub != VMC_SUB_SHMDT && c->a[0] == rt.pend_start &&
		     c->a[1] && ((c->a[1] + 4095) & ~4095ull) == rt.pend_len;
	/* An mprotect of the held one's range: maybe its undo. */
	bool undo = defer && rt.held_on && c->call == SHADOW_CALL_MPROTECT &&
		    c->sub == VMC_SUB_NONE && c->a[0] == rt.held.start &&
		    c->a[1] && ((c->a[1] + 4095) & ~4095ull) ==
				       rt.held.end - rt.held.start;
	/* The decommit of the held commit's range: maybe its undo. */
	bool fundo = defer && rt.fheld_on && c->call == SHADOW_CALL_MMAP &&
		     c->sub == VMC_SUB_NONE && c->a[0] == rt.fheld.start &&
		     c->a[1] && ((c->a[1] + 4095) & ~4095ull) ==
					rt.fheld.end - rt.fheld.start &&
		     c->a[2] == PROT_NONE &&
		     (c->a[3] & (MAP_ANONYMOUS | MAP_TYPE)) ==
			     (MAP_ANONYMOUS | MAP_PRIVATE);
	/* A growth of the held growths' mapping: in place up to the room,
	 * it moves them on; else they apply first and it goes on as any. */
	bool grow = false;
	if (defer && rt.gheld_on && c->call == SHADOW_CALL_MREMAP &&
	    c->a[0] == rt.gheld.addr && !(c->a[3] & ~MREMAP_MAYMOVE)) {
		uint64_t held = rt.gheld.new_end - rt.gheld.addr;
		grow = c->a[1] && ((c->a[1] + 4095) & ~4095ull) == held &&
		       c->a[2] > held &&
		       c->a[2] <= rt.gheld.room - rt.gheld.addr;
	}
	if (!elide && !undo && !fundo && !grow)
		pend_flush();
	if (unlikely(!tool && c->slot && !vmc_stack_home_asked()))
		find_home(c->slot);
	if (unlikely(stack > rt.journaled_stacks))
		journal_stacks(stack);
	if (unlikely(uffd))
		drain_uffd();
	if (unlikely(rt.need_resync)) {
		check_full(VMC_F_UNTRACKED_CHANGE); /* applies the pending */
		elide = undo = fundo = grow = false;
	}
	bool settled = unlikely(rt.opt.check == VMC_CHECK_CALL) &&
		       check_before(c, stack);
	/* A munmap of one whole tracked mapping needs nothing asked first:
	 * the shadow knows every page of it (as of the pending one). */
	struct shadow_vma *whole = NULL;
	uint32_t created = 0;
	if (quick && !elide && c->call == SHADOW_CALL_MUNMAP &&
	    c->sub != VMC_SUB_SHMDT) {
		const struct shadow_region *r =
			shadow_whole_mapping(&rt.sh, c->a[0], c->a[1], &whole);
		if (r && r->origin == SHADOW_ORIGIN_TRACKED)
			created = r->stack_id;
		else
			whole = NULL;
	}
	struct vmc_pre pre; /* r[] is read up to n only: not cleared */
	pre.valid = true;
	pre.n = 0;
	/* The undo of a held mprotect whose span was clean: the shadow has
	 * not changed since, so asking again would find it clean again. */
	bool clean = true;
	/* The same for the decommit of a held commit: an anonymous
	 * PROT_NONE mmap over the caller's own pages, of which before_call
	 * would note nothing (pre: a decommit loses no data). */
	/* And for a growth of the held growths' mapping: one VMA, sure,
	 * one region of the program's (fast_apply held them so). */
	if (!tool && !whole && !elide && !(undo && rt.held_clean) &&
	    !(fundo && rt.fheld_clean) && !grow)
		clean = before_call(c, stack, &pre);
	if (unlikely(c->call == SHADOW_CALL_BRK))
		c->a[5] = (uint64_t)__sbrk(0);
	if (unlikely(uffd))
		uffd_expect(c);
	if (unlikely(rt.opt.uffd == VMC_UFFD_TOUCH && !tool))
		touch_retire(c);
	vmc_raw_call(c);
	if (unlikely(uffd))
		vmc_uffd_expect_done();
	if (elide) {
		if (likely(c->ret == 0)) {
			uint64_t ps = rt.pend_start, pe = ps + rt.pend_len;
			rt.pend_len = 0;
			shadow_map_unmap_elided(&rt.sh, pe - ps);
			rt.elided++;
			vmc_findings_fast(&rt.sh, SHADOW_CALL_MUNMAP, ps, pe,
					  rt.pend_stack, stack);
			return fast_done(c, stack, timed, t0);
		}
		/* The kernel refused: the general path predicts and checks. */
		pend_flush();
	}
	if (undo && rt.held_on) {
		uint32_t splits;
		if (likely(c->ret == 0 &&
			   (c->a[2] & (PROT_WRITE | PROT_EXEC)) !=
				   (PROT_WRITE | PROT_EXEC)) &&
		    shadow_protect_undo(&rt.sh, &rt.held, (int)c->a[2],
					vmc_findings_count_cap(), &splits)) {
			rt.held_on = false;
			rt.undone++;
			vmc_findings_protect_fast(&rt.sh, rt.held.splits,
						  rt.held_stack);
			vmc_findings_protect_fast(&rt.sh, splits, stack);
			return fast_done(c, stack, timed, t0);
		}
		pend_flush();
	}
	if (fundo && rt.fheld_on) {
		/* The commit's pages are the caller's (a module of its own:
		 * vmc_findings_fixed_quiet's rule for them), and the pair
		 * leaves the shadow as it was. */
		if (likely(c->ret == (int64_t)rt.fheld.start) &&
		    !vmc_findings_other_module(stack, rt.fheld.stack_id) &&
		    shadow_fixed_pair_undo(&rt.sh, &rt.fheld, c->a[1],
					   (int)c->a[2], (int)c->a[3], c->a[5],
					   vmc_findings_count_cap())) {
			rt.fheld_on = false;
			rt.undone++;
			return fast_done(c, stack, timed, t0);
		}
		pend_flush();
	}
	if (grow && rt.gheld_on) {
		if (likely(c->ret == (int64_t)rt.gheld.addr)) {
			rt.gheld.new_end =
				rt.gheld.addr + ((c->a[2] + 4095) & ~4095ull);
			rt.gheld.growths++;
			rt.held_growths++;
			return fast_done(c, stack, timed, t0);
		}
		/* Moved, or refused: the growths so far apply first. */
		pend_flush();
	}
	if (quick && fast_apply(c, stack, whole, created, clean, &pre, defer)) {
		if (unlikely(!defer))
			fast_checked(c, stack, settled);
		rt.calls[c->call]++;
		call_done(c, stack, 0, timed, t0);
		return c->ret;
	}
	return general_after(c, stack, tool, uffd, settled, &pre, timed, t0);
}

/* An mremap growth the shadow applied in place and the kernel refused:
 * the pages it added become foreign when the kernel has anything there. */
static __attribute__((cold, noinline)) void claim_in_the_way(
	const struct vmc_call *c)
{
	uint64_t oe = c->a[0] + ((c->a[1] + 4095) & ~4095ull);
	uint64_t ne = c->a[0] + ((c->a[2] + 4095) & ~4095ull);
	if (ne <= oe || read_kernel(oe, ne))
		return;
	for (size_t k = 0; k < rt.kv.n; k++)
		if (rt.kv.v[k].end > oe && rt.kv.v[k].start < ne) {
			shadow_region_claim(&rt.sh, oe, ne,
					    SHADOW_ORIGIN_FOREIGN, 0,
					    SHADOW_CALL_SCAN);
			return;
		}
}

/* After the system call, the general path: the shadow predicts the call
 * (shadow_apply), what the kernel did differently is adopted and judged,
 * then the findings. */
static __attribute__((noinline)) int64_t general_after(
	struct vmc_call *c, uint32_t stack, bool tool, bool uffd,
	bool settled, const struct vmc_pre *pre, bool timed, uint64_t t0)
{
	struct shadow_change rec;
	/* What is read of rec afterwards, for the paths that return before
	 * the shadow's operation resets it. */
	rec.uncertain = false;
	rec.span_start = rec.span_end = 0;
	int64_t predicted = shadow_apply(c, stack, tool ? SHADOW_ORIGIN_TOOL
							: SHADOW_ORIGIN_TRACKED,
					 &rec);
	int kerr = c->ret < 0 ? (int)-c->ret : 0;
	rt.calls[c->call]++;
	if (kerr)
		rt.failed[c->call]++;
	bool mismatch = predicted != c->ret;
	struct after_span sp = after_span(c, mismatch, rec.span_start,
					  rec.span_end);
	uint64_t s = sp.s, e = sp.e;
	struct span_sum sum = { 0, 0, 0, false };
	/* A call that made or moved pages where the shadow did not expect
	 * them: after adopting the kernel's view, those pages are still the
	 * caller's (the moved region keeps its creation stack). */
	uint64_t claim_s = 0, claim_e = 0;
	uint32_t claim_stack = stack;
	if (mismatch && c->ret >= 0 && !tool &&
	    (c->call == SHADOW_CALL_MMAP || c->call == SHADOW_CALL_MREMAP)) {
		claim_s = (uint64_t)c->ret;
		claim_e = claim_s + ((c->a[c->call == SHADOW_CALL_MMAP ? 1 : 2] +
				      4095) & ~4095ull);
		if (c->call == SHADOW_CALL_MREMAP) {
			struct shadow_region *r = shadow_region_find(
				&rt.sh, predicted >= 0 ? (uint64_t)predicted
						       : c->a[0]);
			if (!r)
				r = shadow_region_find(&rt.sh, c->a[0]);
			claim_stack = r ? r->stack_id : 0;
			/* The shadow put the pages elsewhere (grew them in
			 * place over memory glibc had mapped without us, say):
			 * what it placed there is not the caller's.  Foreign
			 * until the span check below says what is there. */
			uint64_t nl = (c->a[2] + 4095) & ~4095ull;
			if (predicted >= 0 && (uint64_t)predicted != claim_s &&
			    nl && !(c->a[3] & 4 /* MREMAP_DONTUNMAP: the old
						 * pages stay the caller's */))
				shadow_region_claim(&rt.sh, (uint64_t)predicted,
						    (uint64_t)predicted + nl,
						    SHADOW_ORIGIN_FOREIGN, 0,
						    SHADOW_CALL_SCAN);
		}
	}
	/* The shadow grew it in place, the kernel refused: where the
	 * kernel has a mapping in the way that the shadow did not know (a
	 * raw mmap, glibc's own), the pages the shadow added are not the
	 * caller's, and the span check below explains the surprise.  A
	 * refusal with nothing in the way stays the model's error. */
	if (mismatch && c->ret < 0 && !tool && predicted >= 0 &&
	    c->call == SHADOW_CALL_MREMAP && (uint64_t)predicted == c->a[0])
		claim_in_the_way(c);
	bool settled_ok = settled && !mismatch && !rec.uncertain &&
			  c->ret == 0;
	if ((mismatch || rec.uncertain ||
	     (rt.opt.check == VMC_CHECK_CALL && !settled_ok)) &&
	    e > s)
		sum = check_after(&sp, stack);
	if (claim_e > claim_s)
		shadow_region_claim(&rt.sh, claim_s, claim_e,
				    SHADOW_ORIGIN_TRACKED, claim_stack, c->call);
	/* Pages the shadow did not know, or knew wrong without tracking
	 * them, explain a surprise: the model is not at fault. */
	bool explained = sum.unknown > 0 || sum.untracked > 0;
	if (mismatch && explained) {
		/* Pages the shadow never saw (glibc's own mappings, a raw
		 * syscall) changed the outcome: resync the whole space. */
		rt.resyncs++;
		check_full(0);
	} else if (mismatch) {
		rt.errno_mismatches++;
		char msg[160];
		struct jsonw w; /* only to format numbers */
		(void)w;
		size_t n = 0;
		const char *lead = "the shadow predicted another result for ";
		memcpy(msg, lead, strlen(lead));
		n = strlen(lead);
		const char *cn = c->call < sizeof(call_name) /
						   sizeof(call_name[0])
					 ? call_name[c->call]
					 : "?";
		memcpy(msg + n, cn, strlen(cn));
		n += strlen(cn);
		msg[n++] = ':';
		msg[n++] = ' ';
		n += fmt_i64(msg + n, c->ret);
		memcpy(msg + n, " vs ", 4);
		n += 4;
		n += fmt_i64(msg + n, predicted);
		msg[n] = 0;
		add_finding(VMC_F_SHADOW_DIVERGENCE, c->a[0], c->a[1], 0, 0,
			    stack, msg);
		rt.divergences++;
	} else if (sum.tracked && !explained) {
		divergence_after(s, e, stack);
	}
	/* --uffd=on/touch: the program's new anonymous private pages are
	 * registered with the monitor (change events, touch tracking). */
	if (uffd && !tool && c->call == SHADOW_CALL_MMAP && c->ret >= 0 &&
	    (c->a[3] & (MAP_ANONYMOUS | MAP_TYPE)) ==
		    (MAP_ANONYMOUS | MAP_PRIVATE)) {
		uint64_t len = (c->a[1] + 4095) & ~4095ull;
		uint32_t uf = vmc_uffd_track((uint64_t)c->ret, len);
		if (uf)
			shadow_uffd_register(&rt.sh, (uint64_t)c->ret, len, uf,
					     NULL);
	}
	struct vmc_after after = {
		.sh = &rt.sh, .call = c->call, .args = c->a, .ret = c->ret,
		.dontunmap = c->call == SHADOW_CALL_MREMAP &&
			     (c->a[3] & 4 /* MREMAP_DONTUNMAP */),
		.rec = &rec, .rec_valid = !mismatch, .pre = pre,
		.stack = stack,
	};
	if (c->sub != VMC_SUB_SHMDT && !tool)
		vmc_findings_after(&after);
	call_done(c, stack, kerr, timed, t0);
	return c->ret;
}


/* Write the module map to the journal (the command symbolizes from it). */
static void journal_modules(void)
{
	char buf[PATH_MAX + 512];
	int n = vmc_module_count();
	for (int i = 0; i < n; i++) {
		const struct vmc_module *m = vmc_module_at(i);
		if (!m)
			continue;
		struct jsonw w;
		jsonw_init(&w, buf, sizeof(buf));
		write_module(&w, m);
		if (!w.overflow)
			vmc_journal_append(VMC_JREC_MODULE, buf, (uint32_t)w.len);
	}
}

void vmc_after_dl(void)
{
	vmc_modules_refresh();
	journal_modules();
	rt_lock();
	/* What appeared is the new image (or went with the old one): the
	 * loader's work, absorbed as baseline images with their paths. */
	rt.absorb_origin = SHADOW_ORIGIN_BASELINE;
	check_full(VMC_F_UNTRACKED_CHANGE);
	rt.absorb_origin = SHADOW_ORIGIN_FOREIGN;
	pthread_mutex_unlock(&rt.lock);
}

/* ---- the result ------------------------------------------------------- */


/* {"mmap": n, "munmap": n, ...} */
static void write_per_call(struct jsonw *w, const uint64_t *count)
{
	jsonw_obj_begin(w);
	for (unsigned i = 1; i < sizeof(call_name) / sizeof(call_name[0]); i++) {
		jsonw_key(w, call_name[i]);
		jsonw_u64(w, count[i]);
	}
	jsonw_obj_end(w);
}

struct site_sum {
	uint64_t bytes, vmas, regions, splits;
	/* --uffd=touch: pages mapped and written, whole mappings and those
	 * never written, gone or alive at exit */
	uint64_t mapped, touched, mappings, untouched;
};

/* What the result says of each call site (by creation stack id, 0 = no
 * stack): mapped at exit, splits, and with --uffd=touch the pages mapped
 * and written over the run.  Computed once, at exit (the touch counts ask
 * the kernel), for the stats and the sites alike.  NULL when out of
 * memory. */
static struct site_sum *site_sums(uint32_t *nids)
{
	static struct site_sum *sum;
	static uint32_t n;
	static pid_t pid;
	if (sum && pid == rt.pid) {
		*nids = n;
		return sum;
	}
	n = vmc_stack_count() + 1;
	pid = rt.pid;
	sum = vmc_arena_calloc(n, sizeof(*sum));
	*nids = n;
	if (!sum)
		return NULL;
	for (struct shadow_region *r = shadow_region_find_next(&rt.sh, 0); r;
	     r = shadow_region_next(r)) {
		if (r->origin != SHADOW_ORIGIN_TRACKED || r->stack_id >= n)
			continue;
		sum[r->stack_id].bytes += r->end - r->start;
		sum[r->stack_id].regions++;
	}
	for (struct shadow_vma *v = shadow_vma_first(&rt.sh); v;
	     v = shadow_vma_next(v)) {
		struct shadow_region *r = shadow_region_find(&rt.sh, v->start);
		if (r && r->origin == SHADOW_ORIGIN_TRACKED && r->stack_id < n)
			sum[r->stack_id].vmas++;
	}
	for (uint32_t id = 1; id < n; id++)
		sum[id].splits = vmc_site_splits(id);
	if (rt.opt.uffd != VMC_UFFD_TOUCH)
		return sum;
	for (uint32_t id = 0; id < n; id++)
		vmc_touch_site(id, &sum[id].mapped, &sum[id].touched,
			       &sum[id].mappings, &sum[id].untouched);
	for (struct shadow_region *r = shadow_region_find_next(&rt.sh, 0); r;
	     r = shadow_region_next(r)) {
		if (r->origin != SHADOW_ORIGIN_TRACKED || r->stack_id >= n)
			continue;
		int64_t wr = vmc_touch_count(r->start, r->end);
		if (wr < 0)
			continue;
		struct site_sum *m = &sum[r->stack_id];
		m->mapped += (r->end - r->start) >> 12;
		m->touched += (uint64_t)wr;
		m->mappings++;
		m->untouched += wr == 0;
	}
	return sum;
}

static void write_stats(struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "calls");
	write_per_call(w, rt.calls);
	jsonw_key(w, "failed_calls");
	write_per_call(w, rt.failed);
	jsonw_key(w, "peak_vmas");
	jsonw_u64(w, rt.sh.c.peak_map_count);
	jsonw_key(w, "peak_mapped_bytes");
	jsonw_u64(w, rt.peak_mapped_bytes);
	jsonw_key(w, "checks");
	jsonw_u64(w, rt.checks);
	jsonw_key(w, "divergences");
	jsonw_u64(w, rt.divergences);
	jsonw_key(w, "errno_mismatches");
	jsonw_u64(w, rt.errno_mismatches);
	jsonw_key(w, "boundary_misses");
	jsonw_u64(w, rt.sh.boundary_misses);
	jsonw_key(w, "resyncs");
	jsonw_u64(w, rt.resyncs);
	jsonw_key(w, "untracked_changes");
	jsonw_u64(w, rt.untracked_changes);
	jsonw_key(w, "passthrough_calls");
	jsonw_u64(w, rt.passthrough);
	jsonw_key(w, "fast_path_calls");
	jsonw_u64(w, rt.fast_calls);
	jsonw_key(w, "elided_pairs");
	jsonw_u64(w, rt.elided);
	jsonw_key(w, "undone_pairs");
	jsonw_u64(w, rt.undone);
	jsonw_key(w, "held_growths");
	jsonw_u64(w, rt.held_growths);
	jsonw_key(w, "boundary_refines");
	jsonw_u64(w, rt.refines);
	jsonw_key(w, "kernel_reads");
	jsonw_u64(w, rt.kernel_reads);
	uint64_t lc, lb;
	vmc_findings_leak_stats(&lc, &lb);
	jsonw_key(w, "leak_candidates");
	jsonw_u64(w, lc);
	jsonw_key(w, "leak_bytes_scanned");
	jsonw_u64(w, lb);
	/* The per-thread stack cache: stacks found without unwinding, and
	 * stacks unwound into it. */
	uint64_t sh_hits, sh_fills, sh_learns;
	vmc_stack_cache_stats(&sh_hits, &sh_fills, &sh_learns);
	jsonw_key(w, "stack_cache");
	jsonw_obj_begin(w);
	jsonw_key(w, "hits");
	jsonw_u64(w, sh_hits);
	jsonw_key(w, "fills");
	jsonw_u64(w, sh_fills);
	jsonw_key(w, "learns");
	jsonw_u64(w, sh_learns);
	jsonw_obj_end(w);
	struct vmc_uffd_stats u;
	vmc_uffd_stats(&u);
	jsonw_key(w, "uffd");
	jsonw_obj_begin(w);
	jsonw_key(w, "mode");
	jsonw_str(w, u.mode == VMC_UFFD_TOUCH ? "touch"
		     : u.mode == VMC_UFFD_ON ? "on" : "off");
	jsonw_key(w, "monitor");
	jsonw_bool(w, u.active);
	if (u.mode == VMC_UFFD_TOUCH) {
		/* how pages touched were known */
		jsonw_key(w, "touch");
		jsonw_str(w, u.async ? "wp-async" : "pagemap");
		uint64_t mapped = 0, touched = 0, maps = 0, never = 0;
		uint32_t nids;
		const struct site_sum *sum = site_sums(&nids);
		for (uint32_t id = 0; sum && id < nids; id++) {
			mapped += sum[id].mapped;
			touched += sum[id].touched;
			maps += sum[id].mappings;
			never += sum[id].untouched;
		}
		jsonw_key(w, "mapped_pages");
		jsonw_u64(w, mapped);
		jsonw_key(w, "touched_pages");
		jsonw_u64(w, touched);
		jsonw_key(w, "mappings");
		jsonw_u64(w, maps);
		jsonw_key(w, "untouched_mappings");
		jsonw_u64(w, never);
	}
	const struct { const char *k; uint64_t v; } counts[] = {
		{ "registered", u.registered },
		{ "register_failed", u.register_failed },
		{ "events", u.events },
		{ "faults", u.faults },
		{ "fault_calls", u.fault_calls },
		{ "fault_errors", u.fault_errors },
		{ "mkwrite_calls", u.mkwrite_calls },
	};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		jsonw_key(w, counts[i].k);
		jsonw_u64(w, counts[i].v);
	}
	jsonw_obj_end(w);
	jsonw_obj_end(w);
}

/* The call sites that created what is mapped at the end, by stack: bytes,
 * VMAs (counted at the VMA's first page), regions, and the VMAs their
 * calls split.  The 48 largest by bytes, and the 16 first by VMAs and by
 * splits when not among them. */
#define SITES_SHOWN 48

static uint64_t site_field(const struct site_sum *s, int field)
{
	return field == 0 ? s->bytes : field == 1 ? s->vmas : s->splits;
}

/* Keep top[0..*n) sorted by field, descending, at most cap entries. */
static void top_insert(uint32_t *top, unsigned cap, unsigned *n,
		       const struct site_sum *sum, uint32_t id, int field)
{
	uint64_t v = site_field(&sum[id], field);
	unsigned k;
	if (*n < cap)
		k = (*n)++;
	else if (v <= site_field(&sum[top[cap - 1]], field))
		return;
	else
		k = cap - 1;
	while (k > 0 && site_field(&sum[top[k - 1]], field) < v) {
		top[k] = top[k - 1];
		k--;
	}
	top[k] = id;
}

static void write_sites(struct jsonw *w)
{
	uint32_t nids;
	struct site_sum *sum = site_sums(&nids);
	jsonw_arr_begin(w);
	if (!sum) {
		jsonw_arr_end(w);
		return;
	}
	bool touch = rt.opt.uffd == VMC_UFFD_TOUCH;
	uint32_t top[3][SITES_SHOWN];
	unsigned n[3] = { 0, 0, 0 };
	for (uint32_t id = 1; id < nids; id++) {
		if (sum[id].bytes)
			top_insert(top[0], SITES_SHOWN, &n[0], sum, id, 0);
		if (sum[id].vmas)
			top_insert(top[1], 16, &n[1], sum, id, 1);
		if (sum[id].splits || sum[id].mapped)
			top_insert(top[2], 16, &n[2], sum, id, 2);
	}
	for (int t = 0; t < 3; t++) {
		for (unsigned i = 0; i < n[t]; i++) {
			uint32_t id = top[t][i];
			bool seen = false;
			for (int u = 0; u < t && !seen; u++)
				for (unsigned j = 0; j < n[u] && !seen; j++)
					seen = top[u][j] == id;
			if (seen)
				continue;
			const struct site_sum *m = &sum[id];
			const struct { const char *k; uint64_t v; } f[] = {
				{ "bytes", m->bytes }, { "vmas", m->vmas },
				{ "regions", m->regions },
				{ "splits", m->splits },
				/* --uffd=touch only: */
				{ "mapped_pages", m->mapped },
				{ "touched_pages", m->touched },
				{ "mappings", m->mappings },
				{ "untouched_mappings", m->untouched },
			};
			jsonw_obj_begin(w);
			for (size_t k = 0; k < (touch ? 8u : 4u); k++) {
				jsonw_key(w, f[k].k);
				jsonw_u64(w, f[k].v);
			}
			if (touch) {
				jsonw_key(w, "touch");
				jsonw_str(w, vmc_uffd_touch_async()
						     ? "wp-async"
						     : "pagemap");
			}
			jsonw_key(w, "stack");
			write_stack(w, id);
			jsonw_obj_end(w);
		}
	}
	jsonw_arr_end(w);
}

static void write_result(const char *ended, int status)
{
	size_t cap = 1u << 20;
	char *buf = vmc_arena_alloc(cap);
	if (!buf)
		return;
	struct jsonw w;
	jsonw_init(&w, buf, cap);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "tool");
	jsonw_str(&w, "vmacheck");
	jsonw_key(&w, "version");
	jsonw_str(&w, "0.1.0");
	jsonw_key(&w, "pid");
	jsonw_u64(&w, (uint64_t)rt.pid);
	jsonw_key(&w, "ppid");
	jsonw_u64(&w, (uint64_t)rt.ppid);
	write_exe_argv(&w);
	jsonw_key(&w, "ended");
	jsonw_str(&w, ended);
	jsonw_key(&w, "status");
	if (status < 0)
		jsonw_null(&w);
	else
		jsonw_i64(&w, status);
	jsonw_key(&w, "stats");
	write_stats(&w);
	jsonw_key(&w, "findings");
	jsonw_arr_begin(&w);
	for (unsigned i = 0; i < vmc_findings_count(); i++) {
		const struct vmc_finding *f = vmc_finding_at(i);
		jsonw_obj_begin(&w);
		vmc_finding_write_head(&w, f);
		jsonw_key(&w, "count");
		jsonw_u64(&w, f->count);
		jsonw_key(&w, "bytes");
		jsonw_u64(&w, f->bytes);
		if (f->has_touched) {
			jsonw_key(&w, "touched_pages");
			jsonw_u64(&w, f->touched);
		}
		jsonw_key(&w, "stacks");
		jsonw_obj_begin(&w);
		if (f->created) {
			jsonw_key(&w, "created");
			write_stack(&w, f->created);
		}
		if (f->operation) {
			jsonw_key(&w, "operation");
			write_stack(&w, f->operation);
		}
		if (f->previous) {
			jsonw_key(&w, "previous");
			write_stack(&w, f->previous);
		}
		jsonw_obj_end(&w);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	if (vmc_findings_dropped()) {
		jsonw_key(&w, "dropped_findings");
		jsonw_u64(&w, vmc_findings_dropped());
	}
	jsonw_key(&w, "sites");
	write_sites(&w);
	jsonw_key(&w, "modules");
	jsonw_arr_begin(&w);
	for (int i = 0; i < vmc_module_count(); i++)
		if (vmc_module_at(i))
			write_module(&w, vmc_module_at(i));
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	char path[PATH_MAX + 64];
	size_t dl = strlen(rt.opt.out_dir);
	if (dl + 40 < sizeof(path) && !w.overflow) {
		memcpy(path, rt.opt.out_dir, dl);
		char *p = path + dl;
		const char *pre = "/vmacheck.";
		memcpy(p, pre, strlen(pre));
		p += strlen(pre);
		char num[24];
		int k = 0;
		uint64_t v = (uint64_t)rt.pid;
		do
			num[k++] = (char)('0' + v % 10);
		while ((v /= 10));
		while (k)
			*p++ = num[--k];
		memcpy(p, ".json", 6);
		int fd = rawsys_open(path, O_WRONLY | O_CREAT | O_TRUNC |
					   O_CLOEXEC, 0644);
		if (fd >= 0) {
			rawsys_write(fd, buf, w.len);
			rawsys_close(fd);
		}
	}
	vmc_arena_free(buf, cap);
}

/* The end of the process: a last full check, the stats and the result,
 * the EXIT record.  status < 0: not known (a return from main or exit():
 * the destructor does not see the status; the command has it from
 * waitpid). */
/* leak_sp: where the leak scan starts on this thread's stack; 0 = no
 * leak analysis (_exit). */
static void finish(const char *ended, int status, uint64_t leak_sp)
{
	if (rt.state != ST_READY || in_hook)
		return;
	in_hook++;
	rt_lock();
	rt.exiting = true;
	check_full(VMC_F_UNTRACKED_CHANGE);
	/* Leaks at a normal exit only: _exit skips the clean-up on purpose
	 * (LeakSanitizer's rule too). */
	if (leak_sp && rt.opt.leak_check) {
		/* The program's live frames only: from the caller of exit
		 * (or of the loader's destructor pass) up. */
		uint64_t regs[6] = { 0 };
		uint64_t psp = vmc_stack_program_sp(regs);
		vmc_findings_leaks(&rt.sh, psp > leak_sp ? psp : leak_sp,
				   regs);
	}
	char buf[4096];
	struct jsonw w;
	jsonw_init(&w, buf, sizeof(buf));
	write_stats(&w);
	if (!w.overflow)
		vmc_journal_append(VMC_JREC_STATS, buf, (uint32_t)w.len);
	write_result(ended, status);
	jsonw_init(&w, buf, sizeof(buf));
	jsonw_obj_begin(&w);
	jsonw_key(&w, "ended");
	jsonw_str(&w, ended);
	jsonw_key(&w, "status");
	if (status < 0)
		jsonw_null(&w);
	else
		jsonw_i64(&w, status);
	jsonw_obj_end(&w);
	vmc_journal_append(VMC_JREC_EXIT, buf, (uint32_t)w.len);
	rt.jcounts = NULL;
	rt.counts_off = 0;
	vmc_journal_close();
	rt.state = ST_DISABLED;
	pthread_mutex_unlock(&rt.lock);
	in_hook--;
}

__attribute__((destructor)) static void vmc_destructor(void)
{
	/* The on_exit handler comes after us and knows the status. */
	if (!exit_handler)
		finish("exit", -1, (uint64_t)__builtin_frame_address(0));
}

void vmc_exit(int status)
{
	/* Not from a vfork child: the state it sees is its parent's. */
	if (rt.state == ST_READY && rawsys_getpid() == rt.pid)
		finish("exit", status & 0xff, 0);
}

/* ---- public API back-ends -------------------------------------------- */

int vmc_rt_check_now(void)
{
	if (!vmc_enter())
		return -1;
	rt_lock();
	uint64_t before = rt.divergences + rt.untracked_changes;
	check_full(VMC_F_UNTRACKED_CHANGE);
	int d = (int)(rt.divergences + rt.untracked_changes - before);
	pthread_mutex_unlock(&rt.lock);
	vmc_leave();
	return d;
}

int vmc_rt_enabled(void)
{
	if (rt.state == ST_UNINIT && vmc_enter())
		vmc_leave();
	return rt.state == ST_READY;
}

static char hexd(unsigned v)
{
	return (char)(v < 10 ? '0' + v : 'a' + v - 10);
}

static size_t put_hex(char *p, uint64_t v)
{
	char t[16];
	int k = 0;
	do
		t[k++] = hexd(v & 15);
	while ((v >>= 4));
	size_t n = (size_t)k;
	while (k)
		*p++ = t[--k];
	return n;
}

int vmc_rt_dump_maps(int fd)
{
	static const char *const origin[] = { "baseline", "tracked",
					       "foreign", "tool" };
	if (!vmc_enter())
		return -1;
	rt_lock();
	char line[160];
	for (struct shadow_vma *v = shadow_vma_first(&rt.sh); v;
	     v = shadow_vma_next(v)) {
		size_t n = put_hex(line, v->start);
		line[n++] = '-';
		n += put_hex(line + n, v->end);
		line[n++] = ' ';
		line[n++] = v->flags & SV_READ ? 'r' : '-';
		line[n++] = v->flags & SV_WRITE ? 'w' : '-';
		line[n++] = v->flags & SV_EXEC ? 'x' : '-';
		line[n++] = v->flags & SV_MAYSHARE ? 's' : 'p';
		line[n++] = ' ';
		struct shadow_region *r = shadow_region_find(&rt.sh, v->start);
		const char *o = r && r->origin < 4 ? origin[r->origin] : "?";
		size_t ol = strlen(o);
		memcpy(line + n, o, ol);
		n += ol;
		line[n++] = '\n';
		rawsys_write(fd, line, n);
	}
	pthread_mutex_unlock(&rt.lock);
	vmc_leave();
	return 0;
}
