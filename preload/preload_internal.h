/*
 * preload_internal.h - the map of libvmacheck.so, and the contracts between
 * its files.  Everything here runs inside an arbitrary program: no libc
 * allocation, no stdio, no getenv; system calls go through shadow/rawsys.h
 * (raw, errno untouched) unless a line says otherwise.  Each function says
 * whether it is MT-safe and async-signal-safe.
 *
 * arena.c    the tool's memory: raw mmap, slabs per size, huge pages
 * options.c  VMACHECK_OPTIONS parsed from environ
 * stack.c    call stacks (libunwind), interned; the module map
 * journal.c  the per-process event journal (a shared file mapping)
 * jsonw.c    a JSON writer into caller memory (results, journal payloads)
 * findings.c the finding kinds: rules per call, unmap history, leaks at exit
 * budget.c   when the periodic check may run (its share of the time)
 * interpose.c the symbols; runtime.c init, the lock, the hooks, checks
 */
#ifndef VMC_PRELOAD_INTERNAL_H
#define VMC_PRELOAD_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shadow.h"

/* Branch hints for the hooks' common path (the kernel's spelling). */
#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* ---- arena.c ---------------------------------------------------------
 * Memory for the shadow's nodes, uthash tables, stacks and buffers, mapped
 * with raw mmap so that no hook ever reaches malloc.  Small sizes (<= 256
 * bytes, rounded to 16) come from slabs carved by one bump pointer out of
 * large chunks (64 MiB reserved with MAP_NORESERVE, MADV_HUGEPAGE) with a
 * free list per size class and no per-object header; larger sizes get a
 * mapping of their own.  Every mapping the arena makes is tool memory: the
 * runtime asks vmc_arena_owns() to classify it (origin `tool`).
 * MT-safe (one spinlock), async-signal-safe provided the caller's re-entry
 * guard keeps a signal handler from entering while the lock is held.
 * After fork the child owns a copy; vmc_arena_atfork_child() resets the
 * lock.  Allocation failure returns NULL. */
void *vmc_arena_alloc(size_t size);
/* An address hint for a new tool mapping of len bytes, away from where the
 * kernel puts the program's (see arena.c).  MT-safe, async-signal-safe. */
void *vmc_tool_hint(uint64_t len);
void *vmc_arena_calloc(size_t n, size_t size);
void vmc_arena_free(void *p, size_t size);
/* Is any byte of [addr, addr+len) arena memory? */
bool vmc_arena_owns(uint64_t addr, uint64_t len);
/* Call fn for every mapping the arena holds (start, end exclusive), in
 * address order.  The lock is not held while fn runs (fn may allocate);
 * mappings made or freed meanwhile may or may not be seen. */
void vmc_arena_for_each_mapping(void (*fn)(uint64_t start, uint64_t end,
					   void *ctx), void *ctx);
struct vmc_arena_stats {
	uint64_t mapped_bytes;     /* reserved address space */
	uint64_t committed_bytes;  /* carved so far (bump) + large blocks */
	uint64_t live_bytes, peak_live_bytes;
	uint64_t nmappings;
};
void vmc_arena_get_stats(struct vmc_arena_stats *st);
/* Around fork(): prepare takes the lock (call it last: nothing may use the
 * arena until parent or child), so that the child's copy is consistent;
 * parent releases it; child resets it. */
void vmc_arena_atfork_prepare(void);
void vmc_arena_atfork_parent(void);
void vmc_arena_atfork_child(void);
/* The allocator to give shadow_init(). */
extern const struct shadow_allocator vmc_shadow_allocator;
/* uthash in the arena: include "preload_internal.h" before <uthash.h>. */
#define uthash_malloc(sz) vmc_arena_alloc(sz)
#define uthash_free(ptr, sz) vmc_arena_free((ptr), (sz))
#define uthash_fatal(msg) vmc_fatal(msg)
#define HASH_NONFATAL_OOM 1

/* Print "vmacheck: <msg>" on fd 2 by raw write; never returns for
 * vmc_fatal (raw exit_group(127)).  Async-signal-safe. */
void vmc_say(const char *msg);
_Noreturn void vmc_fatal(const char *msg);

/* ---- options.c -------------------------------------------------------
 * VMACHECK_OPTIONS="key=value:key=value" (':' ',' or whitespace separate
 * pairs; "check=every:N" is one pair).  Keys are the command's long
 * options: out-dir, check (exit | every:N | call), stack-depth (0..64),
 * suppressions, error-exitcode (0..255), uffd (off | on | touch), json,
 * text, sarif, and max-map-share (1..100, percent of vm.max_map_count for
 * map-count-pressure).  Underscores are accepted for dashes.  Numbers are
 * plain decimal (N of every:N: 1..4294967295); paths are at most
 * PATH_MAX-1 bytes, out-dir not empty, an empty json/text/sarif/
 * suppressions means none. */
enum vmc_check_mode { VMC_CHECK_EXIT, VMC_CHECK_EVERY, VMC_CHECK_CALL };
enum vmc_uffd_mode { VMC_UFFD_OFF, VMC_UFFD_ON, VMC_UFFD_TOUCH };

struct vmc_options {
	/* The values a hook reads come first, the paths after them: a hook
	 * reads one cache line of the options, not one a page apart. */
	enum vmc_check_mode check;   /* default VMC_CHECK_EVERY */
	enum vmc_uffd_mode uffd;     /* default off */
	uint64_t check_every;        /* default 4096 */
	int stack_depth;             /* default 16, 0 = off */
	int error_exitcode;          /* default 99 */
	int max_map_share;           /* default 50 */
	bool leak_check;             /* default yes */
	char out_dir[PATH_MAX];      /* default "vmacheck-out" */
	char suppressions[PATH_MAX];
	char json[PATH_MAX], text[PATH_MAX], sarif[PATH_MAX];
};

void vmc_options_default(struct vmc_options *o);
/* Parse s into o (starting from its current values; NULL or "" changes
 * nothing).  On the first bad key or value returns -EINVAL, leaves o
 * unchanged, and puts a one-line message in err (no newline; err may be
 * NULL) naming the pair: "bad option 'stack-depth=x': not a number from 0
 * to 64".  Async-signal-safe, no allocation. */
int vmc_options_parse(const char *s, struct vmc_options *o, char *err,
		      size_t errlen);
/* The value of NAME in envp (NULL-terminated "NAME=value" strings), or
 * NULL.  Reads the array as it is (no getenv, no locks). */
const char *vmc_env_get(char *const *envp, const char *name);

/* ---- stack.c ---------------------------------------------------------
 * Call stacks by libunwind's unw_backtrace() (local unwinding), depth set
 * by vmc_stack_init().  Each distinct stack is stored once in the arena
 * (uthash, keyed by its frames) and named by a 32-bit id (0 = none).
 * Debian 12's libunwind maps memory through libc's mmap: the caller holds
 * the re-entry guard around vmc_stack_capture(), so those calls pass
 * through the hooks as tool memory.  MT-safe (own lock); not
 * async-signal-safe (libunwind may take locks): a hook interrupted by a
 * signal records no stack. */
int vmc_stack_init(int depth);
/* Capture the calling thread's stack, dropping the `skip` innermost
 * frames (the tool's own), and intern it. */
uint32_t vmc_stack_capture(int skip);
/* The same for a hook whose caller returns to r0, an address held in the
 * stack slot s0 (0: unknown).  On the thread's home stack the chain is
 * cached per slot and proven by the return addresses its frames' slots
 * still hold (see stack.c); skip counts as for vmc_stack_capture. */
uint32_t vmc_stack_capture_from(int skip, uintptr_t r0, uintptr_t s0);
/* The thread's home stack [lo, hi) (main stack or a glibc thread stack):
 * where vmc_stack_capture_from() may read return-address slots.  Set once
 * per thread (hi == 0: none); vmc_stack_home_asked() says whether it was. */
void vmc_stack_set_home(uint64_t lo, uint64_t hi);
bool vmc_stack_home_asked(void);
/* Stacks found in the cache, unwound into it, and walks made to learn
 * frame sizes (see stack.c). */
void vmc_stack_cache_stats(uint64_t *hits, uint64_t *fills,
			   uint64_t *learns);
/* The stack pointer of the innermost frame of this thread that is
 * neither the tool's nor the C library's or the loader's: at exit, the
 * program's live frames start there (the exit machinery's frames below
 * hold stale values).  0 when the unwind fails.  regs gets the values
 * of the callee-saved registers (rbx, rbp, r12-r15) in that frame. */
uint64_t vmc_stack_program_sp(uint64_t regs[6]);
/* Frames of stack id (innermost first); returns their number. */
int vmc_stack_get(uint32_t id, uintptr_t *ips, int max);
uint32_t vmc_stack_count(void);
/* In a fork child: reset the stack and module locks. */
void vmc_stack_atfork_prepare_unwind(void);
void vmc_stack_atfork_parent_unwind(void);
void vmc_stack_atfork_prepare(void);
void vmc_stack_atfork_parent(void);
void vmc_stack_atfork_child(void);

/* The module map: what is loaded where, with build-ids, so that the
 * command can symbolize offline.  Refreshed at init and after dlopen and
 * dlclose (dl_iterate_phdr: takes the loader lock, so never from a
 * signal handler). */
#define VMC_BUILD_ID_MAX 32
struct vmc_module {
	uintptr_t base;            /* load bias */
	uintptr_t start, end;      /* lowest and highest PT_LOAD address
				    * (end exclusive) */
	uint8_t build_id[VMC_BUILD_ID_MAX];
	uint8_t build_id_len;
	char path[PATH_MAX];
};
int vmc_modules_refresh(void);
/* The module containing ip, or NULL. */
const struct vmc_module *vmc_module_for(uintptr_t ip);
/* Changes whenever the module map does (a refresh swapped it in): what
 * was worked out from the map under one value holds while it stays. */
unsigned vmc_modules_gen(void);
int vmc_module_count(void);
/* Is ip inside libunwind?  (Its mappings are tool memory.) */
bool vmc_ip_in_unwinder(uintptr_t ip);
const struct vmc_module *vmc_module_at(int i);

/* ---- findings.c ------------------------------------------------------
 * The findings of DESIGN.md's table, computed from the shadow's change
 * record of each call (the rules are written at the top of findings.c),
 * kept in the arena until the result is written and journaled as they
 * happen.  Caller holds the runtime's lock; no allocation but the arena. */
enum vmc_finding_kind {
	VMC_F_LEAK = 1,
	VMC_F_LEAK_REACHABLE,
	VMC_F_FIXED_CLOBBER,
	VMC_F_UNMAP_FOREIGN,
	VMC_F_DOUBLE_UNMAP,
	VMC_F_UNMAP_UNMAPPED,
	VMC_F_MPROTECT_UNMAPPED,
	VMC_F_MREMAP_INVALID,
	VMC_F_MREMAP_PAST_OBJECT,
	VMC_F_WX_MAPPING,
	VMC_F_MAP_COUNT_PRESSURE,
	VMC_F_UNTRACKED_CHANGE,
	VMC_F_SHADOW_DIVERGENCE,
	VMC_F_NKINDS
};
#define VMC_MAX_FINDINGS 4096
#define VMC_FINDING_MSG 320
struct vmc_finding {
	uint8_t kind;              /* enum vmc_finding_kind */
	bool file;                 /* the pages were file-backed */
	uint64_t addr, len;        /* the first occurrence's range */
	uint32_t flags;            /* SV_* of the pages concerned, 0 = none */
	uint32_t created, operation, previous; /* stack ids, 0 = none */
	uint32_t count;            /* occurrences with the same stacks */
	uint64_t bytes;            /* their bytes together */
	bool has_touched;          /* --uffd=touch, the pages still mapped: */
	uint64_t touched;          /* pages of [addr, addr+len) written */
	char message[VMC_FINDING_MSG];
};
struct vmc_findings_config {
	uint32_t max_map_count;    /* vm.max_map_count */
	int max_map_share;         /* percent; 0 = no map-count-pressure */
};
int vmc_findings_init(const struct vmc_findings_config *cfg);
void vmc_findings_atfork_child(void);
const char *vmc_finding_kind_name(int kind);
const char *vmc_finding_kind_severity(int kind);
/* Add one (merged with an equal kind and stacks: count and bytes add up).
 * Past VMC_MAX_FINDINGS distinct ones, counted as dropped. */
void vmc_finding_add(const struct vmc_finding *f);
unsigned vmc_findings_count(void);
unsigned vmc_findings_dropped(void);
const struct vmc_finding *vmc_finding_at(unsigned i);
/* "r-x" and "private,anon,locked" for a finding's prot and flags. */
void vmc_flags_text(uint32_t flags, bool file, char prot[8], char flags_out[64]);
/* A finding's kind, severity, message, addr, len, prot and flags as JSON
 * members of the open object (the journal and the result share them). */
struct jsonw;
void vmc_finding_write_head(struct jsonw *w, const struct vmc_finding *f);
/* VMAs split by calls from stack id so far. */
uint64_t vmc_site_splits(uint32_t id);

/* Before a fixed call: what the accessible pages of the target held. */
#define VMC_PRE_RANGES 16
struct vmc_pre_range {
	uint64_t start, end;
	uint32_t flags;
	int8_t data;               /* 1 present/swapped pages, 0 none, -1 ? */
};
struct vmc_pre {
	bool valid;                /* false: more ranges than fit */
	unsigned n;
	struct vmc_pre_range r[VMC_PRE_RANGES];
};
/* Does the shadow miss any page of [start, end)?  Are any of its pages
 * not the program's (baseline, foreign)?  (Then the runtime asks the
 * kernel first: the shadow may be stale there.) */
bool vmc_span_has_hole(const struct shadow *sh, uint64_t start, uint64_t end);
bool vmc_span_has_untracked(const struct shadow *sh, uint64_t start,
			    uint64_t end);
/* Before a MAP_FIXED/MREMAP_FIXED call (call, its six args, its stack)
 * onto [start, end): what its accessible pages hold (pagemap), except
 * where a decommit (an anonymous PROT_NONE mmap) gives up the pages of the
 * caller's own tracked mapping: what they hold does not matter there. */
void vmc_findings_before(const struct shadow *sh, uint64_t start,
			 uint64_t end, uint8_t call, const uint64_t *args,
			 uint32_t stack, struct vmc_pre *pre);
/* Whether a MAP_FIXED mmap from `stack` (its six args) onto [start, end),
 * with what vmc_findings_before noted in pre, replaces only pages that it
 * may (no fixed-clobber), as the shadow has them now, before it applies
 * the call: then the caller may apply it without a change record. */
bool vmc_findings_fixed_quiet(const struct shadow *sh, uint64_t start,
			      uint64_t end, const uint64_t *args,
			      uint32_t stack, const struct vmc_pre *pre);
/* Whether a call from stack `caller` works on a tracked mapping created
 * from another module (stack `creator`): fixed-clobber's rule (b), the one
 * that applies to a decommit of the caller's own commit (an unknown
 * module on either side is not another). */
bool vmc_findings_other_module(uint32_t caller, uint32_t creator);
/* After a call, with its change record. */
struct vmc_after {
	const struct shadow *sh;
	uint8_t call;              /* enum shadow_call */
	bool dontunmap;            /* mremap with MREMAP_DONTUNMAP */
	const uint64_t *args;      /* the call's six arguments */
	int64_t ret;               /* the kernel's result */
	const struct shadow_change *rec;
	bool rec_valid;            /* rec describes what the kernel did */
	const struct vmc_pre *pre; /* for fixed calls, else an empty one */
	uint32_t stack;            /* the call's stack */
};
void vmc_findings_after(const struct vmc_after *a);
/* The same for a call shadow/fast.c applied: an anonymous mmap, the
 * munmap of the whole tracked mapping [start, end) created at `created`,
 * or an mremap growth (that moved it away from [start, end) when the
 * range is not empty). */
void vmc_findings_fast(const struct shadow *sh, uint8_t call, uint64_t start,
		       uint64_t end, uint32_t created, uint32_t stack);
/* ... and for an mprotect shadow_protect_fast applied, which split
 * `splits` VMAs off (counted for the call site). */
void vmc_findings_protect_fast(const struct shadow *sh, uint32_t splits,
			       uint32_t stack);
/* Whether `more` VMAs beyond the shadow's would make the map-count
 * pressure finding due (then the call must be applied, not kept pending). */
bool vmc_findings_pressure_due(const struct shadow *sh, uint64_t more);
/* The VMA count a fast path may reach without a map-count-pressure
 * finding falling due (UINT64_MAX: none can). */
uint64_t vmc_findings_count_cap(void);
/* At a normal exit: classify every tracked mapping still mapped (leak,
 * leak-reachable).  sp: the calling thread's stack pointer. */
void vmc_findings_leaks(const struct shadow *sh, uint64_t sp,
			const uint64_t regs[6]);
/* What the leak analysis looked at (0, 0 before it ran). */
/* --uffd=touch: pages written in [start, end) (-1 unknown); account the
 * tracked pages of [start, end), about to go, to their call sites; the
 * sums of a site's gone mappings. */
int64_t vmc_touch_count(uint64_t start, uint64_t end);
void vmc_touch_retire(const struct shadow *sh, uint64_t start, uint64_t end);
void vmc_touch_site(uint32_t id, uint64_t *mapped, uint64_t *touched,
		    uint64_t *mappings, uint64_t *untouched);
void vmc_findings_leak_stats(uint64_t *candidates, uint64_t *bytes_scanned);

/* ---- jsonw.c ---------------------------------------------------------
 * A JSON writer into caller memory: no allocation, output truncated (and
 * `overflow` set) when the buffer is full.  Strings are escaped (control
 * characters, quotes, backslashes, invalid UTF-8 as \ufffd).  Commas are
 * placed automatically.  Async-signal-safe.  buf always holds a
 * NUL-terminated prefix (cap > 0): the document fits when !overflow, and
 * is then len < cap bytes.  Nesting deeper than 64, an end with nothing
 * open or right after a key also set `overflow` (the output is unusable).
 * jsonw_str(w, NULL) writes null. */
struct jsonw {
	char *buf;
	size_t len, cap;
	bool overflow;
	int depth;
	uint64_t need_comma;       /* bit per depth level */
	bool after_key;
};
void jsonw_init(struct jsonw *w, char *buf, size_t cap);
void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_str(struct jsonw *w, const char *s);
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
void jsonw_u64(struct jsonw *w, uint64_t v);
void jsonw_i64(struct jsonw *w, int64_t v);
void jsonw_hex(struct jsonw *w, uint64_t v);   /* "0x..." as a string */
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/* ---- journal.c -------------------------------------------------------
 * The per-process journal: <out_dir>/vmacheck.<pid>.journal, a file grown
 * in 1 MiB steps (ftruncate) and mapped MAP_SHARED, so an event is on its
 * way to the file as soon as its bytes are stored: a crash or SIGKILL
 * loses nothing written.  Layout (little-endian): a 64-byte header
 * (magic "VMCJRNL1", version, pid, ppid, start time) then records, each
 * { u32 len (of the whole record, 8-aligned), u16 type, u16 flags (bit 0:
 * complete, stored last with a release store; bits 1-3: zero padding
 * bytes at the end, so the payload is len - 8 - pad bytes), payload }.
 * len is on file before any later record exists: a reader steps over a
 * record without the complete bit (its writer died mid-copy) and stops at
 * the first zero len.  The full layout is at the top of journal.c.  The
 * writer takes a spinlock per record (MT-safe); async-signal-safe when the
 * caller's guard prevents re-entry.  Functions return 0 or -errno. */
enum vmc_jrec_type {
	VMC_JREC_PROCESS = 1, /* JSON: exe, argv, options */
	VMC_JREC_MODULE,      /* JSON: path, base, start, end, build_id */
	VMC_JREC_STACK,       /* binary: u32 id, u32 n, u64 ips[n] */
	VMC_JREC_CALL,        /* binary: struct vmc_jcall */
	VMC_JREC_FINDING,     /* JSON: one finding as in DESIGN.md */
	VMC_JREC_STATS,       /* JSON: the "stats" object */
	VMC_JREC_EXIT,        /* JSON: ended, status */
	VMC_JREC_COUNTS,      /* binary: struct vmc_jcounts, kept up to date
			       * in place (vmc_journal_put_u64) */
};
/* Intercepted calls and failed ones by enum shadow_call, as the result's
 * stats.calls and stats.failed_calls count them: one record per process,
 * written when the journal opens and updated in place on every call, so a
 * killed process's counts are on file without a record per call. */
#define VMC_JCOUNTS_KINDS 16
struct vmc_jcounts {
	uint32_t nkinds;           /* VMC_JCOUNTS_KINDS */
	uint32_t pad;
	uint64_t calls[VMC_JCOUNTS_KINDS];
	uint64_t failed[VMC_JCOUNTS_KINDS];
};
/* A failed call (a successful one is only counted, in VMC_JREC_COUNTS). */
struct vmc_jcall {
	uint64_t serial;
	uint64_t args[6];
	int64_t result;
	int32_t err;               /* errno, 0 when the call succeeded */
	uint16_t call;             /* enum shadow_call */
	uint16_t pad;
	uint32_t stack_id;
	uint32_t tid;
	uint64_t time_ns;
};
#define VMC_JOURNAL_MAX_RECORD (16u << 20) /* bytes, record header included */
/* Create dir (and its parents) if missing, create or truncate the file.
 * -EBUSY if a journal is open. */
int vmc_journal_open(const char *dir, pid_t pid, pid_t ppid);
/* type != 0; -EBADF when no journal is open, -EMSGSIZE past the limit,
 * -ENOSPC (or another fallocate error) when the file cannot grow. */
int vmc_journal_append(uint16_t type, const void *payload, uint32_t len);
/* The same, and *off = the record's offset in the file (for
 * vmc_journal_put_u64). */
int vmc_journal_append_at(uint16_t type, const void *payload, uint32_t len,
			  uint64_t *off);
/* Store v as the idx-th u64 of the payload of the record at off, in place
 * (the record must have been appended by this process's journal and hold
 * it; else nothing).  One lock, one store: for counters that a killed
 * process leaves on file. */
void vmc_journal_put_u64(uint64_t off, uint32_t idx, uint64_t v);
/* The payload (len bytes) of the record at off, through a mapping of its
 * own that never moves until vmc_journal_close or a fork child's reopen:
 * a counter kept there costs a plain store.  NULL when the record is not
 * this journal's or the mapping fails (one pin per journal). */
void *vmc_journal_pin(uint64_t off, uint32_t len);
/* Unmap, cut the file to its used length, close.  Waits at most 1 s for a
 * holder of the lock or a writer in flight, then leaves the file as it is. */
void vmc_journal_close(void);
/* Around fork(): prepare takes the journal lock (so the child sees a
 * consistent state), parent releases it; the child calls reopen_child. */
void vmc_journal_atfork_prepare(void);
void vmc_journal_atfork_parent(void);
/* In a fork child: drop the parent's mapping (the parent's file is left as
 * it is), open our own; dir NULL only drops. */
int vmc_journal_reopen_child(const char *dir, pid_t pid, pid_t ppid);
/* Is any byte of [addr, addr+len) a mapping of the journal (tool memory)?
 * Lock-free; MT-safe. */
bool vmc_journal_owns(uint64_t addr, uint64_t len);

/* ---- budget.c --------------------------------------------------------
 * check=every:N runs a full check every N intercepted calls, stretched so
 * that checks cost at most 1/VMC_BUDGET_SHARE (2%) of the time spent in
 * intercepted calls.  The issue allows 5%; 2% because the goal of 1.15x
 * native leaves no room for 5% where checks are stretched at all (at
 * 20,000 VMAs the calls' own tracking costs 1.12-1.14x, and checks
 * within 5% by this rule cost live_20000 1.221x against 1.140x with
 * check=exit, bench-ab's measure, 8 runs each: a check's walk of every
 * VMA also leaves the caches cold for the calls after it).  A process
 * with few VMAs is not stretched: every:4096 costs it far less.
 * The rule holds before a check, not only after: a
 * check runs when the checks so far plus this one, priced as the last full
 * check scaled to the VMAs there are now, fit in that share (a full check
 * at 20,000 VMAs costs some 20 ms: run on a share that was merely not
 * exceeded yet, one would take several times the share of a short run).
 * Times are TSC cycles; the hook time excludes the checks themselves.
 * Plain data under the caller's lock. */
#define VMC_BUDGET_SHARE 50
struct vmc_budget {
	uint64_t hook;          /* in intercepted calls, checks excluded */
	uint64_t spent;         /* in full checks */
	uint64_t last_cost;     /* the last full check's, 0 = none yet */
	uint64_t last_vmas;     /* the VMAs it compared */
};
/* The time in calls is sampled: a thread times one call in
 * VMC_BUDGET_SAMPLE, counted for that many.  Which one is drawn from the
 * thread's own pseudo-random sequence (*state, 0 to start with), never
 * every Nth call: a program whose calls come in a cycle (an mprotect and
 * its undo, a merge then a split) would have one kind of call timed
 * always, and live_20000's merging mprotects, timed alone, counted its
 * calls 10-25% slower than they were. */
#define VMC_BUDGET_SAMPLE 16
static inline bool vmc_budget_sample(uint32_t *state)
{
	/* A 32-bit LCG (Numerical Recipes); its top bits have the longest
	 * periods. */
	*state = *state * 1664525u + 1013904223u;
	return *state >> 28 == 0;
}
/* What a full check over `vmas` VMAs is expected to cost. */
uint64_t vmc_budget_price(const struct vmc_budget *b, uint64_t vmas);
/* May a periodic check over `vmas` VMAs run now? */
bool vmc_budget_allows(const struct vmc_budget *b, uint64_t vmas);
/* A full check over `vmas` VMAs took `cycles`. */
void vmc_budget_spend(struct vmc_budget *b, uint64_t cycles, uint64_t vmas);

#endif
