/*
 * stack.c - call stacks, interned, and the module map.
 *
 * Stacks.  vmc_stack_capture() walks the calling thread's stack with
 * libunwind's unw_backtrace() into a local array, drops its own frame and
 * the `skip` innermost frames after it, and interns what is left: each
 * distinct frame sequence is stored once, in arena memory, under a 32-bit
 * id handed out in order from 1 (0 means "no stack").  The table is a
 * uthash keyed by the frame array (the key is the entry's own ips[]),
 * hashed by a 64-bit mix of the ips that is computed while the frames are
 * copied out of the unwinder's buffer; an id -> entry array (grown in the
 * arena) answers vmc_stack_get(), which copies at most `max` frames and
 * returns how many it copied (0 for an unknown id).  Depth is 0..64; skip
 * 0..32 (else no stack).  One mutex protects the table and the array.  Entries are
 * never freed nor changed once published, which allows a per-thread
 * one-entry cache (the last stack this thread captured): a loop calling
 * mmap from one site finds its id without taking the lock.
 *
 * Entries are carved by a bump pointer from 256 KiB arena blocks rather
 * than allocated one by one: a 64-frame entry is larger than the arena's
 * small sizes and would otherwise cost a mapping of its own.
 *
 * Allocation: nothing here calls malloc.  libunwind may: Debian 12's
 * libunwind 1.6 maps its per-thread trace cache with libc's mmap (and may
 * take its own locks), which is why the caller holds the preload's
 * re-entry guard around vmc_stack_capture() and why capture is not
 * async-signal-safe.  Callers must not tail-call vmc_stack_capture() (a
 * `return vmc_stack_capture(n);` compiled as a jump): the caller's frame
 * would then be missing and `skip` would drop one frame too many.
 *
 * Modules.  vmc_modules_refresh() walks dl_iterate_phdr() and records for
 * each object its load bias, its PT_LOAD span (start = lowest PT_LOAD
 * address, end = one past the highest, exclusive), its path (the loader's
 * name; for the main program, whose name is empty, /proc/self/exe read
 * with a raw readlink) and its GNU build-id (NT_GNU_BUILD_ID from the
 * PT_NOTE segments).  Each distinct record is stored once and never freed,
 * so a pointer returned by vmc_module_for()/vmc_module_at() stays valid
 * forever, even after a refresh that no longer lists it (its object was
 * unloaded).  A refresh builds a new sorted array of record pointers and
 * swaps it in under a lock; readers binary-search under the same lock.
 *
 * After fork() the child calls vmc_stack_atfork_child() (locks reset).
 */
#define UNW_LOCAL_ONLY
#include "preload_internal.h" /* before <uthash.h>: uthash in the arena */

#include <elf.h>
#include <errno.h>
#include <libunwind.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <uthash.h>

#include "rawsys.h"

#define STACK_DEPTH_MAX 64
/* Frames vmc_stack_capture() may be asked to drop besides its own. */
#define STACK_SKIP_MAX 32
#define BUMP_BLOCK (256u * 1024u)

/* ---- a bump allocator over arena blocks (caller holds the owner's lock) */

struct bump {
	char *next, *end;
};

static void *bump_alloc(struct bump *b, size_t size)
{
	char *p;

	size = (size + 15) & ~(size_t)15;
	if (size > BUMP_BLOCK)
		return NULL;
	if (!b->next || (size_t)(b->end - b->next) < size) {
		char *blk = vmc_arena_alloc(BUMP_BLOCK);
		if (!blk)
			return NULL;
		/* The rest of the old block is abandoned. */
		b->next = blk;
		b->end = blk + BUMP_BLOCK;
	}
	p = b->next;
	b->next += size;
	return p;
}

/* Give back the most recent allocation (p, size as passed to bump_alloc). */
static void bump_undo(struct bump *b, void *p, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if ((char *)p + size == b->next)
		b->next = p;
}

/* ---- stacks ---------------------------------------------------------- */

struct stack_entry {
	UT_hash_handle hh;         /* key: ips[0..n), n * sizeof(uintptr_t) */
	uint64_t hash;             /* stack_hash() of the frames */
	uint32_t id;
	uint32_t n;
	uintptr_t ips[];           /* innermost first */
};

static struct {
	pthread_mutex_t lock;
	int depth;                 /* atomic; 0 = capture off */
	struct stack_entry *table; /* uthash head */
	struct stack_entry **by_id; /* by_id[id - 1], cap slots */
	uint32_t count;            /* ids handed out (atomic for readers) */
	uint32_t cap;
	struct bump mem;
} st = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The last stack this thread captured (initial-exec: no __tls_get_addr,
 * which could allocate). */
static __thread const struct stack_entry *stack_last
	__attribute__((tls_model("initial-exec")));

#define HASH_K1 0x9e3779b97f4a7c15ull

static inline uint64_t hash_step(uint64_t h, uint64_t ip)
{
	h = (h << 23 | h >> 41) ^ ip;
	return h * HASH_K1;
}

/* murmur3's fmix64: every input bit reaches every output bit. */
static inline uint64_t hash_final(uint64_t h, uint32_t n)
{
	h ^= n;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static inline unsigned hash_bucket_value(uint64_t h)
{
	return (unsigned)(h ^ (h >> 32));
}

static pthread_rwlock_t unwind_fork_lock = PTHREAD_RWLOCK_INITIALIZER;

int vmc_stack_init(int depth)
{
	if (depth < 0 || depth > STACK_DEPTH_MAX)
		return -EINVAL;
	/* Per-thread caches: no global cache lock to be caught holding. */
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	__atomic_store_n(&st.depth, depth, __ATOMIC_RELAXED);
	return 0;
}

/* Make room for one more id.  Lock held. */
static int stack_grow_ids(void)
{
	uint32_t ncap = st.cap ? st.cap * 2 : 1024;
	struct stack_entry **nv;

	if (ncap < st.cap)
		return -ENOMEM;
	nv = vmc_arena_alloc((size_t)ncap * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	if (st.count)
		memcpy(nv, st.by_id, (size_t)st.count * sizeof(*nv));
	if (st.by_id)
		vmc_arena_free(st.by_id, (size_t)st.cap * sizeof(*nv));
	st.by_id = nv;
	st.cap = ncap;
	return 0;
}

/* Add a stack not in the table.  Lock held.  NULL when out of memory. */
static struct stack_entry *stack_insert(const uintptr_t *ips, uint32_t n,
					uint64_t h)
{
	size_t size = sizeof(struct stack_entry) + (size_t)n * sizeof(*ips);
	struct stack_entry *e;

	if (st.count == UINT32_MAX)
		return NULL;
	if (st.count == st.cap && stack_grow_ids() < 0)
		return NULL;
	e = bump_alloc(&st.mem, size);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	memcpy(e->ips, ips, (size_t)n * sizeof(*ips));
	e->n = n;
	e->hash = h;
	e->id = st.count + 1;
	HASH_ADD_KEYPTR_BYHASHVALUE(hh, st.table, e->ips,
				    (size_t)n * sizeof(*ips),
				    hash_bucket_value(h), e);
	if (!e->hh.tbl) { /* uthash could not allocate: not added */
		bump_undo(&st.mem, e, size);
		return NULL;
	}
	st.by_id[st.count] = e;
	__atomic_store_n(&st.count, st.count + 1, __ATOMIC_RELEASE);
	return e;
}

static uint32_t stack_intern(const uintptr_t *ips, uint32_t n, uint64_t h)
{
	const struct stack_entry *c = stack_last;
	struct stack_entry *e;
	size_t keylen = (size_t)n * sizeof(*ips);

	if (c && c->hash == h && c->n == n && memcmp(c->ips, ips, keylen) == 0)
		return c->id;

	pthread_mutex_lock(&st.lock);
	HASH_FIND_BYHASHVALUE(hh, st.table, ips, keylen, hash_bucket_value(h),
			      e);
	if (!e)
		e = stack_insert(ips, n, h);
	pthread_mutex_unlock(&st.lock);
	if (!e)
		return 0;
	stack_last = e;
	return e->id;
}

/* The id of frames ips[0..n), hashed as the table keys them. */
static uint32_t intern_frames(const uintptr_t *ips, uint32_t n)
{
	uint64_t h = 0;

	for (uint32_t i = 0; i < n; i++)
		h = hash_step(h, ips[i]);
	return stack_intern(ips, n, hash_final(h, n));
}

/* ---- the per-thread cache of whole stacks ---------------------------
 *
 * A hook passes its caller's return address R0 and the stack slot S0 that
 * holds it.  Frame k of the chain returns to ips[k]; its return-address
 * slot is slot[k] = slot[k-1] + size(ips[k-1]), where size(ip) is the
 * distance from the stack pointer to the CFA in the function at ip.  Where
 * that distance is fixed (the CFA rule is the stack pointer plus a
 * constant), S0 and the chain's return addresses decide every slot, so a
 * chain found again from the same S0 is proven by reading its slots: each
 * one still holds the return address cached for it, so each frame returns
 * where it did.  A cached chain is then 16 loads instead of a walk.
 *
 * size(ip) is learned once per address, with libunwind's unw_step() (slow,
 * about 0.5 us a frame here) and kept in a table; a frame whose CFA is its
 * frame pointer + 16 (a frame-pointer frame, maybe alloca'd) is taken as
 * of variable size, and a chain through it is unwound every time.  A fill
 * takes the chain from unw_backtrace() and places the slots with the
 * sizes, checking that each holds the next return address.
 *
 * The slots are read only on the thread's home stack, [home_lo, home_hi):
 * the main thread's [stack] or a thread stack glibc made, which live as
 * long as the thread runs on them (the runtime sets them, from the shadow,
 * with vmc_stack_set_home()).  Stacks a program switches to (coroutines,
 * sigaltstack) are unwound every time, as before: they may be unmapped
 * behind the tool's back and their slots must not be read.
 *
 * What the check cannot see: a function that realigns its stack (a CFA by
 * expression, not by frame pointer) entered at another alignment from the
 * same S0, whose old slot still holds its stale return address.  Then
 * the frames above it would be the earlier call's. */
#define SCACHE_FRAMES 16    /* deeper stacks (stack-depth > 16): no cache */
#define SCACHE_WAYS 16      /* a key may live in either way of a pair */
#define SIZE_VARIABLE (-1)

struct scache {
	uintptr_t s0;              /* S0; 0 = empty */
	uint32_t id, n;
	uintptr_t ips[SCACHE_FRAMES];
	uint32_t off[SCACHE_FRAMES]; /* slot of ips[i] - s0 */
};

/* size(ip), by return address; under st.lock. */
struct ip_size {
	UT_hash_handle hh;
	uintptr_t ip;
	int32_t size;              /* bytes, or SIZE_VARIABLE */
};
static struct ip_size *ip_sizes;

static __thread struct scache scache[SCACHE_WAYS]
	__attribute__((tls_model("initial-exec")));
/* One declarator each: an attribute after a list applies to the last one
 * only, and the others would go through __tls_get_addr. */
#define TLS_IE __attribute__((tls_model("initial-exec")))
static __thread uintptr_t home_lo TLS_IE;
static __thread uintptr_t home_hi TLS_IE;
static __thread unsigned home_state TLS_IE;
static __thread unsigned scache_victim TLS_IE;
static uint64_t scache_hits, scache_fills, scache_learns;

void vmc_stack_set_home(uint64_t lo, uint64_t hi)
{
	home_lo = lo;
	home_hi = hi;
	home_state = 1;
}

bool vmc_stack_home_asked(void)
{
	return home_state != 0;
}

void vmc_stack_cache_stats(uint64_t *hits, uint64_t *fills,
			   uint64_t *learns)
{
	*hits = __atomic_load_n(&scache_hits, __ATOMIC_RELAXED);
	*fills = __atomic_load_n(&scache_fills, __ATOMIC_RELAXED);
	*learns = __atomic_load_n(&scache_learns, __ATOMIC_RELAXED);
}

/* The pair of ways a key may use: scache[i], scache[i + 1]. */
static inline unsigned scache_pair(uintptr_t s0, uintptr_t r0)
{
	uint64_t h = (s0 ^ (r0 << 17) ^ (r0 >> 7)) * 0x9e3779b97f4a7c15ull;
	return (unsigned)(h >> 58) & (SCACHE_WAYS - 2);
}

/* size(ip) from the table, 0 when not known yet.  st.lock held. */
static int32_t size_get(uintptr_t ip)
{
	struct ip_size *z;
	HASH_FIND(hh, ip_sizes, &ip, sizeof(ip), z);
	return z ? z->size : 0;
}

/* st.lock held; false when out of memory. */
static bool size_put(uintptr_t ip, int32_t size)
{
	struct ip_size *z;
	HASH_FIND(hh, ip_sizes, &ip, sizeof(ip), z);
	if (z)
		return true;
	z = bump_alloc(&st.mem, sizeof(*z));
	if (!z)
		return false;
	memset(z, 0, sizeof(*z));
	z->ip = ip;
	z->size = size;
	HASH_ADD(hh, ip_sizes, ip, sizeof(z->ip), z);
	if (!z->hh.tbl) {
		bump_undo(&st.mem, z, sizeof(*z));
		return false;
	}
	return true;
}

/* Learn size() for every frame from here outward: each frame's CFA is the
 * next frame's stack pointer.  ips[0..n) not met on the way (the walk
 * failed first) are marked variable, so they are not walked for again.
 * unwind_fork_lock (read) and st.lock held, in that order, as fork takes
 * them (libunwind's own locks are taken inside). */
static __attribute__((noinline)) void sizes_learn(const uintptr_t *ips,
						  uint32_t n)
{
	unw_context_t uc;
	unw_cursor_t c;
	unw_word_t ip = 0, sp = 0, bp = 0, nip, nsp;
	int k;

	if (unw_getcontext(&uc) == 0 && unw_init_local(&c, &uc) == 0) {
		unw_get_reg(&c, UNW_REG_IP, &ip);
		unw_get_reg(&c, UNW_REG_SP, &sp);
		unw_get_reg(&c, UNW_X86_64_RBP, &bp);
		for (k = 0; k < STACK_DEPTH_MAX + STACK_SKIP_MAX + 8; k++) {
			if (unw_step(&c) <= 0)
				break;
			nip = nsp = 0;
			unw_get_reg(&c, UNW_REG_IP, &nip);
			unw_get_reg(&c, UNW_REG_SP, &nsp);
			/* The frame at ip: from sp to its CFA (nsp). */
			int64_t d = (int64_t)(nsp - sp);
			int32_t size = d >= 8 && d < (1 << 24) && !(d & 7) &&
						   bp + 16 != nsp
					       ? (int32_t)d
					       : SIZE_VARIABLE;
			if (k > 0) /* frame 0 is ours, not at a return */
				size_put(ip, size);
			ip = nip;
			sp = nsp;
			bp = 0;
			unw_get_reg(&c, UNW_X86_64_RBP, &bp);
		}
	}
	for (uint32_t i = 0; i < n; i++)
		if (!size_get(ips[i]))
			size_put(ips[i], SIZE_VARIABLE);
}

/* Place the slots of ips[0..n) (ips[0] in s0) into e; false when a frame
 * has no fixed size, a slot leaves the home stack or does not hold the
 * next return address. */
static bool scache_place(struct scache *e, const uintptr_t *ips, uint32_t n,
			 uintptr_t s0)
{
	bool learned = false;
	uintptr_t slot = s0;

	/* The fork order: unwind_fork_lock, then st.lock. */
	pthread_rwlock_rdlock(&unwind_fork_lock);
	pthread_mutex_lock(&st.lock);
	for (uint32_t i = 0; i < n; i++) {
		e->ips[i] = ips[i];
		e->off[i] = (uint32_t)(slot - s0);
		if (i + 1 == n)
			break;
		int32_t size = size_get(ips[i]);
		if (!size && !learned) {
			sizes_learn(ips, n);
			__atomic_add_fetch(&scache_learns, 1, __ATOMIC_RELAXED);
			learned = true;
			size = size_get(ips[i]);
		}
		if (size <= 0)
			goto fail;
		slot += (uint32_t)size;
		if (slot + 8 > home_hi || slot - s0 > UINT32_MAX ||
		    *(const uintptr_t *)slot != ips[i + 1])
			goto fail;
	}
	pthread_mutex_unlock(&st.lock);
	pthread_rwlock_unlock(&unwind_fork_lock);
	e->n = n;
	return true;
fail:
	pthread_mutex_unlock(&st.lock);
	pthread_rwlock_unlock(&unwind_fork_lock);
	return false;
}

/* The cached chain for (r0, s0), or 0. */
static inline uint32_t scache_lookup(const struct scache *e, uintptr_t r0,
				    uintptr_t s0)
{
	if (e->s0 != s0 || !e->n || e->ips[0] != r0)
		return 0;
	for (uint32_t i = 1; i < e->n; i++)
		if (*(const uintptr_t *)(s0 + e->off[i]) != e->ips[i])
			return 0;
	return e->id;
}

/* noipa: no clone or split part of it may add a frame below the skip. */
__attribute__((noipa)) uint32_t vmc_stack_capture_from(int skip,
						       uintptr_t r0,
						       uintptr_t s0)
{
	void *buf[STACK_DEPTH_MAX + STACK_SKIP_MAX + 1];
	int depth = __atomic_load_n(&st.depth, __ATOMIC_RELAXED);
	int got, drop, i;

	if (depth <= 0 || skip < 0 || skip > STACK_SKIP_MAX)
		return 0;
	bool cache = s0 && s0 >= home_lo && s0 + 8 <= home_hi &&
		     depth <= SCACHE_FRAMES;
	unsigned w = cache ? scache_pair(s0, r0) : 0;
	if (cache) {
		uint32_t id = scache_lookup(&scache[w], r0, s0);
		if (!id)
			id = scache_lookup(&scache[w + 1], r0, s0);
		if (id) {
			__atomic_add_fetch(&scache_hits, 1, __ATOMIC_RELAXED);
			return id;
		}
	}
	/* Unwound as vmc_stack_capture() does; buf[0] is this frame. */
	pthread_rwlock_rdlock(&unwind_fork_lock);
	got = unw_backtrace(buf, depth + skip + 1);
	pthread_rwlock_unlock(&unwind_fork_lock);
	drop = skip + 1;
	/* The frames to drop end at the caller's: where r0 is, if near. */
	for (i = 1; i < got && i <= skip + 2; i++)
		if ((uintptr_t)buf[i] == r0) {
			drop = i;
			break;
		}
	if (got <= drop)
		return 0;
	uintptr_t *ips = (uintptr_t *)buf + drop;
	uint32_t n = (uint32_t)(got - drop);
	uint32_t id = intern_frames(ips, n);
	if (!id || !cache || ips[0] != r0)
		return id;
	/* Fill an empty way of the pair, else each in turn. */
	struct scache *e = !scache[w].s0	    ? &scache[w]
			   : !scache[w + 1].s0 ? &scache[w + 1]
					       : &scache[w + (scache_victim++ & 1)];
	e->s0 = 0;
	if (scache_place(e, ips, n, s0)) {
		e->id = id;
		e->s0 = s0;
		__atomic_add_fetch(&scache_fills, 1, __ATOMIC_RELAXED);
	}
	return id;
}

__attribute__((noinline)) uint32_t vmc_stack_capture(int skip)
{
	void *buf[STACK_DEPTH_MAX + STACK_SKIP_MAX + 1];
	int depth = __atomic_load_n(&st.depth, __ATOMIC_RELAXED);
	int got, drop;

	if (depth <= 0 || skip < 0 || skip > STACK_SKIP_MAX)
		return 0;
	/* buf[0] is our own frame (the call of unw_backtrace).  libunwind
	 * takes locks of its own inside: fork waits until no thread is in
	 * here (vmc_stack_atfork_prepare takes this lock for writing), so a
	 * child never inherits one of them held by a thread it lacks. */
	pthread_rwlock_rdlock(&unwind_fork_lock);
	got = unw_backtrace(buf, depth + skip + 1);
	pthread_rwlock_unlock(&unwind_fork_lock);
	drop = skip + 1;
	if (got <= drop)
		return 0;
	return intern_frames((const uintptr_t *)buf + drop,
			     (uint32_t)(got - drop));
}

/* Is m the C library or the dynamic loader (by file name)? */
static bool module_is_system(const struct vmc_module *m)
{
	const char *b = m ? strrchr(m->path, '/') : NULL;
	b = b ? b + 1 : m ? m->path : "";
	return !strncmp(b, "libc.so", 7) || !strncmp(b, "ld-linux", 8) ||
	       !strncmp(b, "libc-", 5);
}

__attribute__((noinline)) uint64_t vmc_stack_program_sp(uint64_t regs[6])
{
	static const int callee_saved[6] = { UNW_X86_64_RBX, UNW_X86_64_RBP,
					     UNW_X86_64_R12, UNW_X86_64_R13,
					     UNW_X86_64_R14, UNW_X86_64_R15 };
	unw_context_t uc;
	unw_cursor_t c;
	uint64_t found = 0;
	const struct vmc_module *self =
		vmc_module_for((uintptr_t)&vmc_stack_program_sp);
	pthread_rwlock_rdlock(&unwind_fork_lock);
	if (unw_getcontext(&uc) == 0 && unw_init_local(&c, &uc) == 0) {
		for (int depth = 0; depth < 256 && unw_step(&c) > 0; depth++) {
			unw_word_t ip = 0, sp = 0;
			unw_get_reg(&c, UNW_REG_IP, &ip);
			unw_get_reg(&c, UNW_REG_SP, &sp);
			const struct vmc_module *m = vmc_module_for(ip);
			if (m == self || module_is_system(m))
				continue;
			found = sp;
			/* What the program's frame holds in callee-saved
			 * registers (pointers a register kept alive). */
			for (int r = 0; r < 6; r++) {
				unw_word_t v = 0;
				unw_get_reg(&c, callee_saved[r], &v);
				regs[r] = v;
			}
			break;
		}
	}
	pthread_rwlock_unlock(&unwind_fork_lock);
	return found;
}

int vmc_stack_get(uint32_t id, uintptr_t *ips, int max)
{
	const struct stack_entry *e = NULL;
	int n;

	if (id == 0 || max <= 0)
		return 0;
	pthread_mutex_lock(&st.lock);
	if (id <= st.count)
		e = st.by_id[id - 1];
	pthread_mutex_unlock(&st.lock);
	if (!e) /* entries are immutable: read outside the lock */
		return 0;
	n = (int)e->n < max ? (int)e->n : max;
	memcpy(ips, e->ips, (size_t)n * sizeof(*ips));
	return n;
}

uint32_t vmc_stack_count(void)
{
	return __atomic_load_n(&st.count, __ATOMIC_ACQUIRE);
}

/* ---- modules --------------------------------------------------------- */

struct module_rec {
	struct vmc_module m;
	struct module_rec *next;   /* every record ever made */
};

static struct {
	pthread_mutex_t refresh_lock; /* one refresh at a time; owns `all`, `mem` */
	pthread_mutex_t lock;         /* v, n, cap */
	struct module_rec *all;
	struct bump mem;
	const struct vmc_module **v;  /* sorted by start */
	int n, cap;
	unsigned gen;                 /* v's swaps (vmc_modules_gen) */
} mods = { .refresh_lock = PTHREAD_MUTEX_INITIALIZER,
	   .lock = PTHREAD_MUTEX_INITIALIZER };

struct module_scan {
	const struct vmc_module **v;
	int n, cap;
	int err;
	bool seen_first;
	bool have_exe;
	char exe[PATH_MAX];
	struct vmc_module cand;
};

/* Is [vaddr, vaddr+len) inside a PT_LOAD's file-backed part? */
static bool in_load(const struct dl_phdr_info *info, ElfW(Addr) vaddr,
		    ElfW(Word) len)
{
	int i;

	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && vaddr >= ph->p_vaddr &&
		    len <= ph->p_filesz &&
		    vaddr - ph->p_vaddr <= ph->p_filesz - len)
			return true;
	}
	return false;
}

static void module_build_id(const struct dl_phdr_info *info,
			    struct vmc_module *m)
{
	int i;

	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *p, *end;
		size_t align;

		if (ph->p_type != PT_NOTE ||
		    !in_load(info, ph->p_vaddr, ph->p_filesz))
			continue;
		align = ph->p_align == 8 ? 8 : 4;
		p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_filesz;
		while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
			const ElfW(Nhdr) *nh = (const void *)p;
			size_t name_sz = (nh->n_namesz + align - 1) & ~(align - 1);
			size_t desc_sz = (nh->n_descsz + align - 1) & ~(align - 1);
			const char *name = p + sizeof(*nh);
			const char *desc = name + name_sz;

			if ((size_t)(end - name) < name_sz ||
			    (size_t)(end - desc) < nh->n_descsz)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0 && nh->n_descsz > 0) {
				size_t len = nh->n_descsz < VMC_BUILD_ID_MAX ?
						     nh->n_descsz :
						     VMC_BUILD_ID_MAX;
				memcpy(m->build_id, desc, len);
				m->build_id_len = (uint8_t)len;
				return;
			}
			if ((size_t)(end - desc) < desc_sz)
				break;
			p = desc + desc_sz;
		}
	}
}

static bool module_eq(const struct vmc_module *a, const struct vmc_module *b)
{
	return a->base == b->base && a->start == b->start &&
	       a->end == b->end && a->build_id_len == b->build_id_len &&
	       memcmp(a->build_id, b->build_id, a->build_id_len) == 0 &&
	       strcmp(a->path, b->path) == 0;
}

/* The stored record equal to m, made if there is none.  Refresh lock held. */
static const struct vmc_module *module_intern(const struct vmc_module *m)
{
	struct module_rec *r;

	for (r = mods.all; r; r = r->next)
		if (module_eq(&r->m, m))
			return &r->m;
	r = bump_alloc(&mods.mem, sizeof(*r));
	if (!r)
		return NULL;
	r->m = *m;
	r->next = mods.all;
	mods.all = r;
	return &r->m;
}

static int module_scan_one(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct module_scan *sc = ctx;
	struct vmc_module *m = &sc->cand;
	const struct vmc_module *rec;
	ElfW(Addr) lo = (ElfW(Addr))-1, hi = 0;
	bool first = !sc->seen_first;
	int i;

	(void)size;
	sc->seen_first = true;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_vaddr < lo)
			lo = ph->p_vaddr;
		if (ph->p_vaddr + ph->p_memsz > hi)
			hi = ph->p_vaddr + ph->p_memsz;
	}
	if (hi <= lo) /* nothing loaded */
		return 0;

	memset(m, 0, sizeof(*m));
	m->base = info->dlpi_addr;
	m->start = info->dlpi_addr + lo;
	m->end = info->dlpi_addr + hi;
	if (info->dlpi_name && info->dlpi_name[0]) {
		size_t len = strnlen(info->dlpi_name, PATH_MAX - 1);
		memcpy(m->path, info->dlpi_name, len);
		m->path[len] = '\0';
	} else if (first) { /* the main program */
		if (!sc->have_exe) {
			long r = rawsys3(SYS_readlink, (long)"/proc/self/exe",
					 (long)sc->exe, PATH_MAX - 1);
			sc->exe[r > 0 ? r : 0] = '\0';
			sc->have_exe = true;
		}
		memcpy(m->path, sc->exe, strlen(sc->exe) + 1);
	}
	module_build_id(info, m);

	rec = module_intern(m);
	if (!rec)
		goto oom;
	if (sc->n == sc->cap) {
		int ncap = sc->cap ? sc->cap * 2 : 64;
		const struct vmc_module **nv =
			vmc_arena_alloc((size_t)ncap * sizeof(*nv));
		if (!nv)
			goto oom;
		if (sc->n)
			memcpy(nv, sc->v, (size_t)sc->n * sizeof(*nv));
		if (sc->v)
			vmc_arena_free(sc->v, (size_t)sc->cap * sizeof(*nv));
		sc->v = nv;
		sc->cap = ncap;
	}
	sc->v[sc->n++] = rec;
	return 0;
oom:
	sc->err = -ENOMEM;
	return 1; /* stop */
}

int vmc_modules_refresh(void)
{
	/* Static: PATH_MAX twice is too much for a hook's stack.  Guarded by
	 * refresh_lock. */
	static struct module_scan sc;
	const struct vmc_module **old;
	int i, j, old_cap;

	pthread_mutex_lock(&mods.refresh_lock);
	sc.v = NULL;
	sc.n = sc.cap = 0;
	sc.err = 0;
	sc.seen_first = sc.have_exe = false;
	dl_iterate_phdr(module_scan_one, &sc);
	if (sc.err) {
		if (sc.v)
			vmc_arena_free(sc.v, (size_t)sc.cap * sizeof(*sc.v));
		pthread_mutex_unlock(&mods.refresh_lock);
		return sc.err;
	}
	/* Insertion sort by start: a few hundred objects, mostly in order. */
	for (i = 1; i < sc.n; i++) {
		const struct vmc_module *x = sc.v[i];
		for (j = i; j > 0 && sc.v[j - 1]->start > x->start; j--)
			sc.v[j] = sc.v[j - 1];
		sc.v[j] = x;
	}

	pthread_mutex_lock(&mods.lock);
	old = mods.v;
	old_cap = mods.cap;
	mods.v = sc.v;
	mods.n = sc.n;
	mods.cap = sc.cap;
	__atomic_store_n(&mods.gen, mods.gen + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&mods.lock);
	if (old)
		vmc_arena_free(old, (size_t)old_cap * sizeof(*old));
	pthread_mutex_unlock(&mods.refresh_lock);
	return 0;
}

bool vmc_ip_in_unwinder(uintptr_t ip)
{
	/* libunwind is linked in: it never moves, look it up once. */
	static uintptr_t lo, hi;
	static int known;
	if (!__atomic_load_n(&known, __ATOMIC_ACQUIRE)) {
		const struct vmc_module *m =
			vmc_module_for((uintptr_t)&unw_backtrace);
		if (!m)
			return false; /* the module map is not read yet */
		lo = m->start;
		hi = m->end;
		__atomic_store_n(&known, 1, __ATOMIC_RELEASE);
	}
	return ip >= lo && ip < hi;
}

const struct vmc_module *vmc_module_for(uintptr_t ip)
{
	const struct vmc_module *m = NULL;
	int lo = 0, hi;

	pthread_mutex_lock(&mods.lock);
	hi = mods.n; /* find the last module with start <= ip */
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (mods.v[mid]->start <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && ip < mods.v[lo - 1]->end)
		m = mods.v[lo - 1];
	pthread_mutex_unlock(&mods.lock);
	return m;
}

unsigned vmc_modules_gen(void)
{
	return __atomic_load_n(&mods.gen, __ATOMIC_ACQUIRE);
}

int vmc_module_count(void)
{
	int n;

	pthread_mutex_lock(&mods.lock);
	n = mods.n;
	pthread_mutex_unlock(&mods.lock);
	return n;
}

const struct vmc_module *vmc_module_at(int i)
{
	const struct vmc_module *m = NULL;

	pthread_mutex_lock(&mods.lock);
	if (i >= 0 && i < mods.n)
		m = mods.v[i];
	pthread_mutex_unlock(&mods.lock);
	return m;
}

/* Before fork: hold every lock so the child copies consistent tables
 * (the stack table before the module map: the order capture uses). */
/* First of all the tool's locks before fork: no thread left inside
 * libunwind.  Nobody holds another lock of ours while unwinding. */
void vmc_stack_atfork_prepare_unwind(void)
{
	pthread_rwlock_wrlock(&unwind_fork_lock);
}

void vmc_stack_atfork_parent_unwind(void)
{
	pthread_rwlock_unlock(&unwind_fork_lock);
}

/* The tables: after the runtime's lock (under which they are read). */
void vmc_stack_atfork_prepare(void)
{
	pthread_mutex_lock(&st.lock);
	pthread_mutex_lock(&mods.refresh_lock);
	pthread_mutex_lock(&mods.lock);
}

void vmc_stack_atfork_parent(void)
{
	pthread_mutex_unlock(&mods.lock);
	pthread_mutex_unlock(&mods.refresh_lock);
	pthread_mutex_unlock(&st.lock);
}

void vmc_stack_atfork_child(void)
{
	static const pthread_mutex_t init = PTHREAD_MUTEX_INITIALIZER;

	static const pthread_rwlock_t rwinit = PTHREAD_RWLOCK_INITIALIZER;

	st.lock = init;
	mods.lock = init;
	mods.refresh_lock = init;
	unwind_fork_lock = rwinit;
}
