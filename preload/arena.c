/*
 * arena.c - the tool's own memory, mapped with raw system calls so that no
 * hook ever reaches malloc (contract in preload_internal.h, "arena.c").
 *
 * Small sizes (<= 256 bytes) are rounded up to a multiple of 16 and carved
 * by ONE bump pointer out of big chunks: 64 MiB of address space reserved
 * with MAP_NORESERVE, aligned to 2 MiB and marked MADV_HUGEPAGE, so that
 * nodes allocated one after the other (a VMA node of 96 bytes, then its
 * region node of 64) sit side by side in neighbouring cache lines and huge
 * pages.  An object of 64 bytes or more starts on a cache line (the bump
 * pointer skips up to 48 bytes for it), so a VMA's first 64 bytes, all a
 * lookup or a merge decision reads, are one line, and a region is one.  A freed object goes on
 * the free list of its size class (the link
 * is stored in the object itself: no per-object header); allocation takes
 * from that list first.  Chunks are never given back.
 *
 * Larger sizes get a mapping of their own (page-rounded, MAP_NORESERVE so
 * that the kernel does not merge it with the program's ordinary
 * accounted anonymous mappings), unmapped when freed.  One of whole huge
 * pages is aligned to them and gets them when the shadow says it is hot
 * (vmc_shadow_allocator.hot: an index read at random on every call).
 *
 * Every mapping the arena made (chunks, large blocks, and the mapping that
 * holds the table itself once it outgrows its static array) is recorded in
 * one table sorted by address, [start, end) each: vmc_arena_owns() and
 * vmc_arena_for_each_mapping() read it so that the runtime can classify
 * these ranges as tool memory.
 *
 * One spinlock (C11 atomics) guards everything.  System calls made under
 * it are the rare ones (a new chunk, growing the table); large blocks are
 * mapped and unmapped outside it.
 *
 * Under AddressSanitizer, freed small objects and the slack after the
 * requested size are poisoned, so a use after free of a shadow node is
 * reported in the ASan test builds, and a double free is fatal.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "compat.h"
#include "preload_internal.h"
#include "rawsys.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ARENA_PAGE        4096ul
#define ARENA_GRAIN       16ul                  /* size class step */
#define ARENA_LINE        64ul                  /* cache line */
#define ARENA_SMALL_MAX   256ul                 /* largest small size */
#define ARENA_NCLASSES    (ARENA_SMALL_MAX / ARENA_GRAIN)
#define ARENA_CHUNK       (64ul << 20)          /* reserved per chunk */
#define ARENA_CHUNK_MIN   (256ul << 10)         /* smallest fallback */
#define ARENA_HUGE        (2ul << 20)           /* chunk alignment */
#define ARENA_TABLE_STATIC 64                   /* entries before growing */

#define ARENA_MAP_PROT  (PROT_READ | PROT_WRITE)
#define ARENA_MAP_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

enum arena_kind {
	ARENA_KIND_CHUNK = 1, /* carved by the bump pointer */
	ARENA_KIND_LARGE,     /* one large block */
	ARENA_KIND_TABLE,     /* the mapping table itself */
};

struct arena_map {
	uint64_t start, end;  /* [start, end) */
	uint32_t kind;        /* enum arena_kind */
	uint32_t pad;
};

struct arena_free_obj {
	struct arena_free_obj *next;
};

struct arena {
	atomic_int lock;
	/* The one bump pointer: [bump, bump_end) of the current chunk is
	 * not carved yet. */
	char *bump, *bump_end;
	struct arena_free_obj *free_list[ARENA_NCLASSES];
	/* Sorted, non-overlapping; in table_static until it outgrows it. */
	struct arena_map *maps;
	size_t nmaps, cap;
	struct vmc_arena_stats st;
};

static struct arena_map table_static[ARENA_TABLE_STATIC];
static struct arena A = {
	.maps = table_static,
	.cap = ARENA_TABLE_STATIC,
};

/* ---- lock ------------------------------------------------------------- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static inline void arena_lock(void)
{
	for (;;) {
		if (!atomic_exchange_explicit(&A.lock, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(&A.lock, memory_order_relaxed))
			cpu_relax();
	}
}

static inline void arena_unlock(void)
{
	atomic_store_explicit(&A.lock, 0, memory_order_release);
}

/* ---- raw mappings ------------------------------------------------------ */

static inline uint64_t page_round(uint64_t n)
{
	return (n + ARENA_PAGE - 1) & ~(uint64_t)(ARENA_PAGE - 1);
}

/* Where the tool's own mappings go: upward from 63 TiB, far below where
 * the kernel puts the program's mappings (top-down from mmap_base, near
 * 127 TiB) and far above a brk heap.  Without a hint the kernel would
 * place tool memory in the hole a program just made by munmap, and a
 * double munmap (a bug vmacheck is there to report) would destroy the
 * tool instead of hitting a hole.  A hint only: when the range is taken
 * the kernel chooses, as before. */
static uint64_t tool_next = 0x3f0000000000ull;

void *vmc_tool_hint(uint64_t len)
{
	len = (len + (1u << 21) - 1) & ~(uint64_t)((1u << 21) - 1);
	return (void *)__atomic_fetch_add(&tool_next, len, __ATOMIC_RELAXED);
}

/* A fresh private anonymous mapping of len bytes, or NULL. */
static void *raw_map(uint64_t len)
{
	long r = rawsys_mmap(vmc_tool_hint(len), len, ARENA_MAP_PROT,
			     ARENA_MAP_FLAGS, -1, 0);
	return rawsys_is_err(r) ? NULL : (void *)r;
}

static void raw_unmap(void *p, uint64_t len)
{
	/* ASan keeps shadow for the range: leave it clean for whoever maps
	 * these addresses next. */
	ARENA_UNPOISON(p, len);
	rawsys_munmap(p, len);
}

/* ---- the mapping table (lock held) ------------------------------------ */

/* Index of the first entry with end > addr (nmaps if none). */
static size_t table_search(uint64_t addr)
{
	size_t lo = 0, hi = A.nmaps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (A.maps[mid].end > addr)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Insert into a table known to have room. */
static void table_put(uint64_t start, uint64_t end, uint32_t kind)
{
	size_t i = table_search(start);
	memmove(&A.maps[i + 1], &A.maps[i], (A.nmaps - i) * sizeof(A.maps[0]));
	A.maps[i] = (struct arena_map){ .start = start, .end = end,
					.kind = kind };
	A.nmaps++;
	A.st.nmappings = A.nmaps;
	A.st.mapped_bytes += end - start;
}

static void table_del(size_t i)
{
	A.st.mapped_bytes -= A.maps[i].end - A.maps[i].start;
	memmove(&A.maps[i], &A.maps[i + 1],
		(A.nmaps - i - 1) * sizeof(A.maps[0]));
	A.nmaps--;
	A.st.nmappings = A.nmaps;
}

/* Make room for one more entry: move the table to a mapping twice its
 * size (which is itself recorded).  Returns 0 or -ENOMEM. */
static int table_reserve(void)
{
	if (A.nmaps < A.cap)
		return 0;
	uint64_t len = page_round(2 * A.cap * sizeof(A.maps[0]));
	struct arena_map *m = raw_map(len);
	if (!m)
		return -ENOMEM;
	struct arena_map *old = A.maps;
	uint64_t old_len = A.cap * sizeof(A.maps[0]);
	memcpy(m, old, A.nmaps * sizeof(A.maps[0]));
	A.maps = m;
	A.cap = len / sizeof(A.maps[0]);
	table_put((uint64_t)(uintptr_t)m, (uint64_t)(uintptr_t)m + len,
		  ARENA_KIND_TABLE);
	if (old != table_static) {
		size_t i = table_search((uint64_t)(uintptr_t)old);
		table_del(i);
		raw_unmap(old, page_round(old_len));
	}
	return 0;
}

/* len bytes (a multiple of the page) at a multiple of align (the page,
 * or ARENA_HUGE: a huge page can back it), or NULL.  The hint is aligned
 * already (vmc_tool_hint); where the kernel puts it elsewhere, a longer
 * mapping is trimmed to the aligned part. */
static void *map_aligned(uint64_t len, uint64_t align)
{
	char *raw = raw_map(len);
	if (!raw || !((uint64_t)(uintptr_t)raw & (align - 1)))
		return raw;
	raw_unmap(raw, len);
	uint64_t rlen = len + align - ARENA_PAGE;
	if (!(raw = raw_map(rlen)))
		return NULL;
	uint64_t s = ((uint64_t)(uintptr_t)raw + align - 1) & ~(align - 1);
	uint64_t head = s - (uint64_t)(uintptr_t)raw;
	if (head)
		rawsys_munmap(raw, head);
	if (rlen - head - len)
		rawsys_munmap((char *)(uintptr_t)(s + len), rlen - head - len);
	return (void *)(uintptr_t)s;
}

/* ---- chunks (lock held) ----------------------------------------------- */

/* Reserve a new chunk and point the bump pointer at it.  64 MiB aligned
 * to 2 MiB; if the address space is short (RLIMIT_AS), halve down to
 * ARENA_CHUNK_MIN.  The tail of the previous chunk (< 256 bytes) is left
 * unused.  Returns 0 or -ENOMEM. */
static int chunk_new(void)
{
	if (table_reserve())
		return -ENOMEM;
	for (uint64_t len = ARENA_CHUNK; len >= ARENA_CHUNK_MIN; len /= 2) {
		uint64_t align = len >= ARENA_HUGE ? ARENA_HUGE : ARENA_PAGE;
		uint64_t s = (uint64_t)(uintptr_t)map_aligned(len, align);
		if (!s)
			continue;
		if (align == ARENA_HUGE)
			rawsys_madvise((void *)(uintptr_t)s, len,
				       MADV_HUGEPAGE);
		table_put(s, s + len, ARENA_KIND_CHUNK);
		A.bump = (char *)(uintptr_t)s;
		A.bump_end = A.bump + len;
		return 0;
	}
	return -ENOMEM;
}

/* ---- small objects ---------------------------------------------------- */

/* Size class index of a small size (0 counts as 16). */
static inline size_t class_of(size_t size)
{
	return size ? (size - 1) / ARENA_GRAIN : 0;
}

static void live_add(uint64_t n)
{
	A.st.live_bytes += n;
	if (A.st.live_bytes > A.st.peak_live_bytes)
		A.st.peak_live_bytes = A.st.live_bytes;
}

static void *small_alloc(size_t size)
{
	size_t k = class_of(size);
	size_t csize = (k + 1) * ARENA_GRAIN;
	void *p;

	arena_lock();
	struct arena_free_obj *f = A.free_list[k];
	if (f) {
		ARENA_UNPOISON(f, sizeof(*f));
		A.free_list[k] = f->next;
		p = f;
	} else {
		/* A node of a cache line or more starts on one (a VMA's
		 * first 64 bytes are what lookups read); the few bytes
		 * skipped are not worth a free list. */
		size_t pad = csize >= ARENA_LINE
				     ? (size_t)(-(uintptr_t)A.bump &
						(ARENA_LINE - 1))
				     : 0;
		if ((size_t)(A.bump_end - A.bump) < pad + csize) {
			if (chunk_new()) {
				arena_unlock();
				return NULL;
			}
			pad = 0; /* a chunk starts on a huge page */
		}
		A.bump += pad;
		A.st.committed_bytes += pad;
		p = A.bump;
		A.bump += csize;
		A.st.committed_bytes += csize;
	}
	live_add(csize);
	arena_unlock();
	ARENA_POISON(p, csize);
	ARENA_UNPOISON(p, size);
	return p;
}

static void small_free(void *p, size_t size)
{
	size_t k = class_of(size);
	size_t csize = (k + 1) * ARENA_GRAIN;
	struct arena_free_obj *f = p;

#if defined(__SANITIZE_ADDRESS__)
	/* A live object has its first byte addressable (unless it was
	 * allocated with size 0); a freed one is poisoned. */
	if (size && __asan_address_is_poisoned(p))
		vmc_fatal("arena: double free");
#endif
	ARENA_UNPOISON(p, csize);
	arena_lock();
	f->next = A.free_list[k];
	A.free_list[k] = f;
	A.st.live_bytes -= csize;
	/* Poisoned before another thread can take it from the list. */
	ARENA_POISON(p, csize);
	arena_unlock();
}

/* ---- large blocks ----------------------------------------------------- */

static void *large_alloc(size_t size)
{
	if (size > (size_t)1 << 62)
		return NULL;
	uint64_t len = page_round(size);
	/* Whole huge pages are aligned, for shadow_arena_hot, and kept in
	 * small pages until then: where THP is "always", the first touch
	 * would fault in 2 MiB of a block that may never use more than a
	 * page or two (an index starts at 2 KiB). */
	bool huge = !(len & (ARENA_HUGE - 1));
	void *p = map_aligned(len, huge ? ARENA_HUGE : ARENA_PAGE);
	if (!p)
		return NULL;
	if (huge)
		rawsys_madvise(p, len, MADV_NOHUGEPAGE);
	arena_lock();
	if (table_reserve()) {
		arena_unlock();
		raw_unmap(p, len);
		return NULL;
	}
	table_put((uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + len,
		  ARENA_KIND_LARGE);
	A.st.committed_bytes += len;
	live_add(len);
	arena_unlock();
	ARENA_POISON((char *)p + size, len - size);
	return p;
}

static void large_free(void *p)
{
	uint64_t a = (uint64_t)(uintptr_t)p, len = 0;

	arena_lock();
	size_t i = table_search(a);
	if (i < A.nmaps && A.maps[i].start == a &&
	    A.maps[i].kind == ARENA_KIND_LARGE) {
		len = A.maps[i].end - A.maps[i].start;
		table_del(i);
		A.st.committed_bytes -= len;
		A.st.live_bytes -= len;
	}
	arena_unlock();
	if (len)
		raw_unmap(p, len);
	else
		vmc_say("arena: free of a block the arena does not hold");
}

/* ---- the contract ----------------------------------------------------- */

void *vmc_arena_alloc(size_t size)
{
	return size <= ARENA_SMALL_MAX ? small_alloc(size) : large_alloc(size);
}

void *vmc_arena_calloc(size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	void *p = vmc_arena_alloc(total);
	/* Large blocks are fresh mappings, zero already; small objects may
	 * come back from a free list. */
	if (p && total <= ARENA_SMALL_MAX)
		memset(p, 0, total);
	return p;
}

void vmc_arena_free(void *p, size_t size)
{
	if (!p)
		return;
	if (size <= ARENA_SMALL_MAX)
		small_free(p, size);
	else
		large_free(p);
}

bool vmc_arena_owns(uint64_t addr, uint64_t len)
{
	uint64_t end = addr + len < addr ? UINT64_MAX : addr + len;
	bool owns = false;

	if (!len)
		return false;
	arena_lock();
	size_t i = table_search(addr);
	if (i < A.nmaps && A.maps[i].start < end)
		owns = true;
	arena_unlock();
	return owns;
}

void vmc_arena_for_each_mapping(void (*fn)(uint64_t start, uint64_t end,
					   void *ctx), void *ctx)
{
	uint64_t cursor = 0;

	for (;;) {
		uint64_t s = 0, e = 0;
		arena_lock();
		size_t i = table_search(cursor);
		if (i < A.nmaps) {
			s = A.maps[i].start;
			e = A.maps[i].end;
		}
		arena_unlock();
		if (e == 0)
			return;
		/* Without the lock: fn may allocate from the arena. */
		fn(s, e, ctx);
		cursor = e;
	}
}

void vmc_arena_get_stats(struct vmc_arena_stats *st)
{
	arena_lock();
	*st = A.st;
	arena_unlock();
}

void vmc_arena_atfork_prepare(void)
{
	arena_lock();
}

void vmc_arena_atfork_parent(void)
{
	arena_unlock();
}

void vmc_arena_atfork_child(void)
{
	atomic_store_explicit(&A.lock, 0, memory_order_relaxed);
}

/* ---- the shadow's allocator ------------------------------------------- */

static void *shadow_arena_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return vmc_arena_alloc(size);
}

static void shadow_arena_free(void *ctx, void *p, size_t size)
{
	(void)ctx;
	vmc_arena_free(p, size);
}

/* A large block now read at random on every call (an index of the
 * shadow past SHADOW_IDX_HOT_BITS): huge pages, so that each lookup does
 * not also miss the TLB.  Measured at 20,000 VMAs (bench_loops
 * live_20000, cycles in the hook per mprotect pair): 1,893 in 4 KiB
 * pages, 1,738 in huge ones.  Only a block of whole huge pages, aligned
 * (large_alloc makes one of a multiple of 2 MiB so) can have them.
 * MADV_COLLAPSE (Linux 6.1) makes them at once from the pages the block
 * has; where it fails (an older kernel, THP disabled for the process, no
 * huge page free) MADV_HUGEPAGE leaves it to khugepaged, which may, later.
 * Neither changes what the block holds. */
static void shadow_arena_hot(void *ctx, void *p, size_t size)
{
	(void)ctx;
	uint64_t a = (uint64_t)(uintptr_t)p, len = page_round(size);
	if (!len || ((a | len) & (ARENA_HUGE - 1)))
		return;
	rawsys_madvise(p, len, MADV_HUGEPAGE);
	rawsys_madvise(p, len, MADV_COLLAPSE);
}

const struct shadow_allocator vmc_shadow_allocator = {
	.alloc = shadow_arena_alloc,
	.free = shadow_arena_free,
	.ctx = NULL,
	.hot = shadow_arena_hot,
};
