/*
 * shadow.h - the VMA model: a userspace copy of a process's address space
 * that follows the kernel's rules (mm/vma.c, mm/mmap.c, mm/mremap.c,
 * mm/mprotect.c, mm/madvise.c, mm/mlock.c as of Linux 6.18).
 *
 * Two views are kept (DESIGN.md "Two views"):
 *  - VMAs: what the kernel has.  Adjacent compatible mappings merge, mprotect
 *    splits.  Ordered red-black tree, augmented with the largest free gap.
 *  - Regions: what the program asked for.  One per successful call that
 *    created pages, split by partial unmaps and carried by moves, never
 *    merged with a region of another call, with one exception DESIGN.md
 *    does not have: a decommit gives the pages it covers back to the
 *    region they were carved from (region.c, "Give-back").  Every region
 *    has an origin and a creation stack id.
 *
 * Every operation validates its arguments as the kernel does and returns what
 * the kernel would return: 0 (or an address) on success, -errno on failure.
 * It applies exactly the changes the kernel would make, including the partial
 * application of a failing mprotect.  When the kernel chooses an address
 * (mmap without MAP_FIXED, mremap with MREMAP_MAYMOVE) the caller passes the
 * address the kernel returned; without it, the shadow picks one by its own
 * free-area search.  A struct shadow_change, when given, receives a record of
 * what the operation did, from which findings are computed.
 *
 * Ranges are [start, end): start inclusive, end exclusive, in bytes.
 * Memory comes from the caller's allocator; nothing here calls malloc, and
 * nothing here makes a system call.  Not thread-safe: the caller holds a lock.
 * In builds with SHADOW_DEBUG, shadow_validate() runs after every operation
 * and aborts on a broken invariant.
 */
#ifndef VMC_SHADOW_H
#define VMC_SHADOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rbtree.h"

/* ---- VMA flags (ours; a subset of the kernel's VM_* that userspace can
 * cause or observe).  Bits 0-2 are the PROT_* bits. */
#define SV_READ        0x00000001u
#define SV_WRITE       0x00000002u
#define SV_EXEC        0x00000004u
#define SV_SHARED      0x00000008u /* VM_SHARED: MAP_SHARED and writable-capable */
#define SV_MAYREAD     0x00000010u
#define SV_MAYWRITE    0x00000020u
#define SV_MAYEXEC     0x00000040u
#define SV_MAYSHARE    0x00000080u /* VM_MAYSHARE: any MAP_SHARED */
#define SV_GROWSDOWN   0x00000100u
#define SV_NORESERVE   0x00000200u
#define SV_ACCOUNT     0x00000400u
#define SV_LOCKED      0x00000800u
#define SV_LOCKONFAULT 0x00001000u
#define SV_DONTCOPY    0x00002000u /* MADV_DONTFORK */
#define SV_DONTDUMP    0x00004000u
#define SV_WIPEONFORK  0x00008000u
#define SV_MERGEABLE   0x00010000u /* KSM */
#define SV_HUGEPAGE    0x00020000u
#define SV_NOHUGEPAGE  0x00040000u
#define SV_SEQ_READ    0x00080000u
#define SV_RAND_READ   0x00100000u
#define SV_DONTEXPAND  0x00200000u
#define SV_HUGETLB     0x00400000u
#define SV_IO          0x00800000u /* VM_IO|VM_PFNMAP ([vvar], device maps) */
#define SV_UFFD        0x02000000u /* userfaultfd: MISSING/MINOR mode (um) */
#define SV_MAYBE_GUARD 0x04000000u /* MADV_GUARD_INSTALL was used (sticky:
				    * ignored by merges, kept by the result) */
#define SV_DROPPABLE   0x08000000u /* MAP_DROPPABLE */
#define SV_SYNC        0x10000000u /* MAP_SYNC */
#define SV_HUGE_1G     0x20000000u /* with SV_HUGETLB: 1 GiB pages (else 2 MiB) */
#define SV_UFFD_WP     0x40000000u /* userfaultfd: WP mode (uw) */
#define SV_UFFD_ANY    (SV_UFFD | SV_UFFD_WP)
/* Not kernel flags: what the shadow cannot know when it does not see the
 * program's page faults (shadow.faults_unseen).  Sticky like
 * SV_MAYBE_GUARD: ignored by the merge test, kept by a merge's result. */
#define SV_EDGES_UNSURE 0x01000000u /* the kernel may hold this range as
				     * several VMAs: a merge the shadow made
				     * depended on an anon_vma, pgoff or
				     * VM_ACCOUNT it cannot see.  Cleared when
				     * the kernel's boundaries are read. */
#define SV_ACCT_UNSURE 0x80000000u /* VM_ACCOUNT may be clear in the kernel
				    * (mprotect dropped write on an
				    * anonymous VMA that may never have
				    * been written); until write comes back */
#define SV_STICKY      (SV_MAYBE_GUARD | SV_EDGES_UNSURE | SV_ACCT_UNSURE)
#define SV_SPECIAL     (SV_IO | SV_DONTEXPAND)
#define SV_PROT_MASK   (SV_READ | SV_WRITE | SV_EXEC)
#define SV_ACCESS_MASK (SV_PROT_MASK | SV_SHARED) /* what /proc/maps shows */
/* Flags that may differ between two VMAs sharing an anon_vma. */
#define SV_ANON_COMPAT_IGNORE (SV_READ | SV_WRITE | SV_EXEC | SV_STICKY)

/* What the name column of /proc/self/maps shows. */
enum shadow_name {
	SHADOW_NAME_ANON = 0, /* no name */
	SHADOW_NAME_FILE,     /* a path (maybe "(deleted)") */
	SHADOW_NAME_SHMEM,    /* MAP_SHARED|MAP_ANONYMOUS: "/dev/zero (deleted)" */
	SHADOW_NAME_HEAP,
	SHADOW_NAME_STACK,
	SHADOW_NAME_VDSO,
	SHADOW_NAME_VVAR,
	SHADOW_NAME_VSYSCALL,
	SHADOW_NAME_OTHER,    /* [anon:...] and other bracketed names */
	/* Set by the preload on foreign anonymous memory, by its shape: */
	SHADOW_NAME_THREAD_STACK, /* rw pages above a small PROT_NONE guard */
	SHADOW_NAME_MALLOC_ARENA, /* a 64 MiB-aligned heap of glibc's malloc */
};

enum shadow_origin {
	SHADOW_ORIGIN_BASELINE = 0,
	SHADOW_ORIGIN_TRACKED,
	SHADOW_ORIGIN_FOREIGN,
	SHADOW_ORIGIN_TOOL,
};

/* anon_id values: 0 = no anon_vma yet, SHADOW_ANON_UNKNOWN = cannot tell
 * (merges are verified with the kernel), SHADOW_ANON_MAYBE = a private VMA
 * whose faults the shadow does not see (shadow.faults_unseen): none, or
 * one it cannot name; merges with it are made and marked SV_EDGES_UNSURE.
 * SHADOW_ANON_MAYBE_MOVED: the same, moved by mremap, so its pgoff is also
 * a guess (the kernel rebases it to the new address only when it had no
 * anon_vma).  SHADOW_ANON_SOME: faults unseen, but it has one (see below).
 * Anything else = an anon_vma identity invented by the
 * shadow. */
#define SHADOW_ANON_NONE    0u
#define SHADOW_ANON_UNKNOWN 0xffffffffu
#define SHADOW_ANON_MAYBE   0xfffffffeu
#define SHADOW_ANON_MAYBE_MOVED 0xfffffffdu
#define SHADOW_ANON_SOME    0xfffffffcu /* faults unseen: has one (a
					     * written page was seen), not
					     * known which */
/* file_id values: 0 = anonymous (no file), SHADOW_FILE_UNKNOWN = a file
 * whose open file description is unknown (never merges with another). */
#define SHADOW_FILE_UNKNOWN 0xffffffffu
/* dev/ino unknown (shared anonymous before the kernel was asked). */
#define SHADOW_INO_UNKNOWN  UINT64_MAX

struct shadow_vma {
	/* What a call's planning reads of a VMA and of its neighbours comes
	 * first: its 64 bytes fill one cache line (the arena starts nodes of
	 * this size on a line), so that at 20,000 VMAs a lookup and a merge
	 * decision cost one miss per VMA, not two or three.  The tree's links
	 * and the gaps, read by descents and relinks only, come after. */
	uint64_t start, end;          /* [start, end) */
	struct shadow_vma *prev, *next; /* address order (rb_prev/rb_next
					 * without climbing the tree) */
	uint64_t pgoff;               /* in pages; anon private: start>>12 at
				       * creation, as the kernel sets it */
	uint64_t ino;                 /* file identity (0 for anon) */
	uint32_t dev;                 /* kernel encoding: major << 20 | minor */
	uint32_t file_id;             /* open file description id, 0 = none */
	uint32_t flags;               /* SV_* */
	uint32_t anon_id;             /* anon_vma identity, see above */
	struct rb_node rb;
	uint32_t gap_pages;           /* free pages between prev's end and start
				       * (saturating) */
	uint32_t subtree_gap_pages;   /* max gap_pages in this subtree */
};

/* The size of a mapped object (a file, a shared anonymous object), known
 * from the call that mapped it: pages past it raise SIGBUS when touched. */
struct shadow_obj {
	uint64_t key;             /* ino, or file_id | 1 << 63; 0 = empty */
	uint64_t pages;           /* size in pages, rounded up */
};

struct shadow_region {
	/* What a lookup compares first, then the tree's links (see
	 * shadow_vma) */
	uint64_t start, end;          /* [start, end) */
	uint32_t stack_id;            /* creation stack, 0 = none */
	uint32_t id;                  /* the creating call's (its pieces
				       * share it); 0 = none */
	/* The region a MAP_FIXED call carved this one out of (a commit in
	 * a reservation): its stack and id, 0 = none.  A decommit gives
	 * the pages back to it (region.c, "Give-back"). */
	uint32_t from_stack, from_id;
	uint8_t origin;               /* enum shadow_origin */
	uint8_t call;                 /* enum shadow_call that created it */
	uint8_t name;                 /* enum shadow_name at creation */
	uint8_t pad[5];
	struct rb_node rb;            /* 64 bytes in all: one cache line */
};

enum shadow_call {
	SHADOW_CALL_NONE = 0,
	SHADOW_CALL_MMAP,
	SHADOW_CALL_MUNMAP,
	SHADOW_CALL_MREMAP,
	SHADOW_CALL_MPROTECT,
	SHADOW_CALL_MADVISE,
	SHADOW_CALL_MLOCK,
	SHADOW_CALL_MUNLOCK,
	SHADOW_CALL_BRK,
	SHADOW_CALL_SHMAT,
	SHADOW_CALL_SCAN, /* absorbed from a kernel view */
};

/* Memory for nodes.  alloc returns NULL on failure; the operation then
 * returns -ENOMEM having changed nothing it cannot undo (see each op).
 * hot, optional: a block alloc gave is now read at random on every call
 * (an index past SHADOW_IDX_HOT_BITS): back it with huge pages if the
 * allocator can, so that a lookup does not also miss the TLB. */
struct shadow_allocator {
	void *(*alloc)(void *ctx, size_t size);
	void (*free)(void *ctx, void *p, size_t size);
	void *ctx;
	void (*hot)(void *ctx, void *p, size_t size);
};

/* Facts about the running kernel that the rules depend on. */
struct shadow_env {
	uint64_t page_size;       /* 4096 */
	uint64_t task_size;       /* 0x7ffffffff000 on x86-64 4-level */
	uint64_t mmap_min_addr;   /* vm.mmap_min_addr */
	uint64_t mmap_base;       /* top of the top-down search */
	uint32_t max_map_count;   /* vm.max_map_count */
	uint64_t stack_guard_gap; /* bytes kept free below a GROWSDOWN VMA */
	int overcommit;           /* vm.overcommit_memory (2 = never) */
	uint32_t kernel_version;  /* KERNEL_VERSION(a,b,c) style: a<<16|b<<8|c */
	int thp_anon;             /* 0 never, 1 madvise, 2 always (PMD size) */
	uint64_t thp_size;        /* PMD huge page size (2 MiB) */
	uint64_t stack_rlimit;    /* RLIMIT_STACK: how far a stack may grow */
};

/* Counters kept as the kernel keeps them in mm_struct (in pages). */
struct shadow_counters {
	uint64_t total_vm, locked_vm, data_vm, exec_vm, stack_vm;
	uint64_t hiwater_vm;      /* peak total_vm */
	uint64_t map_count;       /* number of VMAs */
	uint64_t nregions;
	uint64_t peak_map_count;
};

/* A slot of shadow.vidx / shadow.ridx: a node in the tree under its start,
 * with its range in `span` (and for a region whether its pages are the
 * program's or the tool's), so that whether one node covers a call's span
 * is read from the slot's cache line alone, before the node's (at 20,000
 * VMAs each is a miss, and the second waited for the first).  Four slots,
 * one cache line, make a bucket: a start goes in any of its bucket's.
 * Kept exact: every change of a slotted node's range or origin rewrites
 * or drops its slot.  span 0: empty. */
struct shadow_slot {
	void *node;
	uint64_t span;
};
#define SHADOW_SLOT_WAYS 4

/* An index: 1 << bits slots, at least twice as many as the nodes of its
 * tree (up to the largest size) and at most eight times as many (down to
 * the smallest).  Sized to the tree, a process with few mappings reads a
 * table that stays in cache and touches 2 KiB of it instead of 512 KiB:
 * with a fixed table, bench-ab fixed_over_reservation (40 VMAs) cost
 * 1.337x native against 1.306x, and 0.5 MiB more RSS.  The largest size
 * keeps two slots a node up to vm.max_map_count's default (65,530): at 15
 * bits, 20,000 VMAs filled 61% of the slots, a bucket of four overflowed
 * for about one node in sixteen, and each of its lookups was a descent
 * (bench_loops live_20000, cycles in the hook per mprotect pair: 1,965 at
 * 15 bits, 1,893 at 17, 1,738 at 17 in huge pages). */
#define SHADOW_IDX_MIN_BITS 7
#define SHADOW_IDX_MAX_BITS 17
/* From this size (512 KiB, past 8,192 nodes) an index's lines are
 * scattered over more pages than the TLB keeps beside the kernel's and
 * the program's: the allocator is told (shadow_allocator.hot). */
#define SHADOW_IDX_HOT_BITS 15
struct shadow_index {
	struct shadow_slot *s;    /* 1 << bits slots, or NULL: descents */
	unsigned bits;
};

struct shadow {
	struct rb_root vmas;
	struct rb_root regions;
	struct rb_root guards;    /* MADV_GUARD_INSTALL ranges (region nodes) */
	uint64_t nguards;
	struct shadow_allocator a;
	struct shadow_env env;
	struct shadow_counters c;
	uint64_t brk_start, brk;  /* program break: [brk_start, brk) */
	uint32_t def_flags;       /* mm->def_flags: SV_LOCKED|SV_LOCKONFAULT
				   * after mlockall(MCL_FUTURE) */
	uint32_t next_anon_id;
	uint32_t next_file_id;
	uint32_t next_region_id;  /* shadow_region.id, never 0 */
	uint32_t serial;          /* calls applied */
	uint32_t boundary_misses; /* boundaries adopted from the kernel */
	struct shadow_obj *objs;  /* object sizes: open-addressed table */
	uint32_t nobjs, objs_cap;
	/* The last node a lookup found (the kernel's old per-task vmacache):
	 * one call looks up the same address several times, and a tree
	 * descent at 20,000 VMAs is a chain of cache misses.  Cleared when
	 * the node leaves its tree; checked against the address on use. */
	struct shadow_vma *vcache;
	/* The VMA after the hole the last lookup fell in (a call that maps
	 * into the same hole again, as a mapping made and unmapped in turn
	 * does, finds its neighbours with no descent).  Cleared when the
	 * node leaves the tree; used only while its previous VMA still ends
	 * at or below the address and it starts above it. */
	struct shadow_vma *hcache;
	struct shadow_region *rcache;
	/* VMAs found by a lookup, by a hash of their start: a call at a
	 * VMA's first page (most are) finds it with no descent.  A slot
	 * holds only a node in the tree with that start: cleared when the
	 * node leaves the tree or its start moves (vma_set_range).  Taken
	 * from the allocator, resized as the tree grows and shrinks (2 KiB
	 * to 2 MiB each); where it cannot be had, descents. */
	struct shadow_index vidx;
	struct shadow_index ridx;           /* the same for regions */
	/* Lazy gaps: the owner always gives the kernel's result (where a
	 * mapping went), so the shadow never searches for a free range on
	 * its own and the subtree-gap augmentation (a climb to the root on
	 * every link, unlink and resize, a chain of cache misses at 20,000
	 * VMAs) is not kept up.  shadow_find_free() rebuilds it first when
	 * it is stale (O(n)).  Set after shadow_init(), before any VMA. */
	bool lazy_gaps;
	bool gaps_stale;          /* lazy_gaps: subtree_gap_pages out of date */
	/* The owner does not report page faults (shadow_touch): a private
	 * VMA may have an anon_vma as soon as the program runs, so each one
	 * gets SHADOW_ANON_MAYBE when it enters the tree, and the merges
	 * that depend on it are made lazily (SV_EDGES_UNSURE).  The owner
	 * reads the kernel's boundaries before a call whose result depends
	 * on them (shadow_span_unsure).  Set after shadow_init(). */
	bool faults_unseen;
};

/* ---- change records -------------------------------------------------- */

enum shadow_piece_kind {
	SHADOW_PIECE_REPLACED = 1, /* pages of this region replaced (MAP_FIXED) */
	SHADOW_PIECE_UNMAPPED,     /* pages of this region unmapped */
	SHADOW_PIECE_MOVED,        /* pages moved from start to dest */
	SHADOW_PIECE_CHANGED,      /* flags or prot of these pages changed */
	SHADOW_PIECE_HOLE,         /* a part of the range that was not mapped */
	SHADOW_PIECE_CREATED,      /* new pages */
};

struct shadow_piece {
	uint64_t start, end;       /* [start, end) before the operation */
	uint64_t dest;             /* MOVED: new start */
	uint32_t stack_id;         /* creation stack of the region */
	uint32_t old_flags;        /* SV_* of the VMA before */
	uint8_t kind;              /* enum shadow_piece_kind */
	uint8_t origin;            /* enum shadow_origin of the region */
	uint8_t name;              /* enum shadow_name */
	uint8_t pad;
};

#define SHADOW_CHANGE_PIECES 16

struct shadow_change {
	int result;                /* what the op returned (0 / -errno) */
	uint64_t addr;             /* resulting address (map, remap) */
	uint32_t vmas_added, vmas_removed, vmas_split, vmas_merged;
	uint64_t applied_end;      /* mprotect/madvise: end of the part applied
				    * before an error (== start if none) */
	uint32_t npieces;          /* valid entries in pieces[] */
	uint32_t dropped;          /* pieces that did not fit */
	bool uncertain;            /* the result depends on state the shadow
				    * cannot see (anon_vma unknown, file
				    * description unknown): verify the span */
	uint64_t span_start, span_end; /* the span the op touched, plus room
				    * for neighbours, to verify */
	struct shadow_piece pieces[SHADOW_CHANGE_PIECES];
};

/* ---- set-up ---------------------------------------------------------- */

/* Fill env with x86-64 defaults (4 KiB pages, 47-bit space, 6.18). */
void shadow_env_default(struct shadow_env *env);
void shadow_init(struct shadow *sh, const struct shadow_allocator *a,
		 const struct shadow_env *env);
/* Free every node. */
void shadow_destroy(struct shadow *sh);

/* In a fork child, make the copied shadow the child's: what dup_mmap()
 * does not copy or inherit goes (see vma.c).  -ENOMEM if a region could
 * not be cut (the VMAs are still right). */
#define SHADOW_FORK_KEEP_UFFD 1u /* the uffd context has UFFD_FEATURE_EVENT_FORK */
int shadow_fork(struct shadow *sh, unsigned flags);

/* UFFDIO_REGISTER / UFFDIO_UNREGISTER of [start, start+len) by the
 * process's one userfaultfd context (userfaultfd_register()): each VMA in
 * the range gets uffd bits `uflags` (SV_UFFD, SV_UFFD_WP; 0 unregisters),
 * split at the edges and merged like an mprotect; a VMA already holding
 * all of them is left alone (no merge).  Holes are skipped; -EINVAL when
 * the range is unaligned or holds no VMA, or a VMA cannot be registered
 * (VM_IO/PFNMAP, hugetlb, MAP_DROPPABLE). */
int shadow_uffd_register(struct shadow *sh, uint64_t start, uint64_t len,
			 uint32_t uflags, struct shadow_change *rec);

/* Description of one VMA as seen by a kernel view or by a seed. */
struct shadow_vma_desc {
	uint64_t start, end;
	uint32_t flags;            /* SV_*; at least prot and SV_SHARED/MAYSHARE */
	uint64_t pgoff;            /* pages */
	uint32_t dev;
	uint64_t ino;
	uint32_t file_id;
	uint32_t anon_id;
	uint8_t name;              /* enum shadow_name */
};

/* Insert a VMA seen in the kernel into a free range (no merging), with one
 * region of the given origin.  Returns 0, -EEXIST if it overlaps, -ENOMEM. */
int shadow_absorb(struct shadow *sh, const struct shadow_vma_desc *d,
		  uint8_t origin, uint32_t stack_id);

/* ---- the operations ------------------------------------------------- */

/* What the caller knows about a file descriptor passed to mmap. */
struct shadow_file {
	bool valid;                /* fd is open (else EBADF) */
	bool readable, writable;   /* O_RDONLY/O_WRONLY/O_RDWR as open */
	bool append;               /* O_APPEND */
	bool noexec;               /* on a noexec mount */
	bool can_mmap;             /* the file supports mmap (else ENODEV) */
	bool hugetlb;              /* on hugetlbfs */
	bool shmem;                /* tmpfs/memfd (no MAP_SYNC support check) */
	bool regular;              /* S_ISREG or S_ISBLK: offsets to 2^63 */
	uint8_t hugetlb_shift;     /* page size shift on hugetlbfs */
	uint32_t dev;
	uint64_t ino;
	uint32_t file_id;          /* open file description id (0 = unknown) */
	uint64_t size;             /* for mremap-past-object checks */
};

struct shadow_map_args {
	uint64_t addr;             /* hint or fixed address, as passed */
	uint64_t len;
	int prot, flags;           /* PROT_*, MAP_* as passed */
	uint64_t off;              /* bytes */
	const struct shadow_file *file; /* NULL for MAP_ANONYMOUS */
	uint64_t result;           /* address the kernel returned when it chose
				    * one; 0 = let the shadow choose */
	uint32_t stack_id;
	uint8_t origin;            /* usually SHADOW_ORIGIN_TRACKED */
	uint8_t call;              /* SHADOW_CALL_MMAP unless shmat etc. */
};

/* mmap(2).  Returns the address, or -errno (as a negative int64). */
int64_t shadow_map(struct shadow *sh, const struct shadow_map_args *a,
		   struct shadow_change *rec);

/* munmap(2). */
int shadow_unmap(struct shadow *sh, uint64_t start, uint64_t len,
		 struct shadow_change *rec);

/* The fast paths (fast.c): the same effect as shadow_map / shadow_unmap
 * for their one shape, with no shadow_change recorded.
 *
 * shadow_map_anon_fast: the kernel placed an anonymous private mmap
 * (flags MAP_PRIVATE|MAP_ANONYMOUS, maybe MAP_NORESERVE) at addr, a hole
 * whose touching neighbours differ in flags.  False, with nothing changed,
 * for any other shape: then call shadow_map. */
bool shadow_map_anon_fast(struct shadow *sh, uint64_t addr, uint64_t len,
			  int prot, int flags, uint64_t off, uint8_t origin,
			  uint32_t stack_id);
/* Whether shadow_map_anon_fast would apply that call: the VMA flags it
 * would give the mapping, 0 when not (then nothing is known). */
uint32_t shadow_map_anon_fast_flags(const struct shadow *sh, uint64_t addr,
				    uint64_t len, int prot, int flags,
				    uint64_t off);
/* shadow_map_fixed_fast: the kernel carried out a MAP_FIXED anonymous
 * private mmap (flags as above plus MAP_FIXED) whose range lies in one
 * plain private anonymous VMA (a reservation it commits or decommits
 * pages of), and which merges with none of that VMA's own pieces and with
 * no neighbour the shadow is unsure of: what shadow_map does (VMAs,
 * regions, counters, serial), with no shadow_change, so the caller must
 * know first that no finding is due (the replaced regions).  False, with
 * nothing changed, for any other shape: then call shadow_map.  (Out of
 * nodes it may return false with the regions' cut done, which shadow_map
 * then finds done.) */
bool shadow_map_fixed_fast(struct shadow *sh, uint64_t addr, uint64_t len,
			   int prot, int flags, uint64_t off, uint8_t origin,
			   uint32_t stack_id);
/* A commit and its decommit, the pair a reserve/commit allocator makes
 * over and over (fixed_over_reservation): the preload holds a commit back
 * and, when the next call is the decommit of the same range that leaves
 * the shadow as it was, applies neither.  _plan: the commit (kernel
 * accepted, no finding due, not PROT_NONE) is one shadow_map_fixed_fast
 * takes, strictly
 * inside one VMA, merging with none of it, inside one region of the
 * program's mmap that its decommit would give the pages back to (true);
 * nothing changes.  _apply: apply it (false when the shadow changed since
 * the plan, or out of nodes: the caller resyncs).  _undo: the next call,
 * accepted by the kernel, is an anonymous private PROT_NONE MAP_FIXED mmap
 * of the same range after which the VMAs and regions are as they were
 * before the commit (its flags and pgoff v's, certain to merge with both
 * of v's pieces, the merge marking nothing), and the VMA count between
 * the two stays within count_cap: both are counted as applied (serial,
 * the commit's region id, peak_map_count) and true is returned; false
 * with nothing changed otherwise. */
struct shadow_fixed_plan {
	uint64_t start, end, len, off;
	int prot, flags;
	uint32_t stack_id;
	uint32_t serial;          /* sh->serial when planned */
};
bool shadow_fixed_pair_plan(const struct shadow *sh, uint64_t addr,
			    uint64_t len, int prot, int flags, uint64_t off,
			    uint32_t stack_id, struct shadow_fixed_plan *pl);
bool shadow_fixed_pair_apply(struct shadow *sh,
			     const struct shadow_fixed_plan *pl);
bool shadow_fixed_pair_undo(struct shadow *sh,
			    const struct shadow_fixed_plan *pl, uint64_t len,
			    int prot, int flags, uint64_t off,
			    uint64_t count_cap);
/* A mapping of len bytes that shadow_map_anon_fast_flags accepted was unmapped whole before the caller applied it, with nothing
 * else applied in between: the shadow is as it was, after two calls.
 * Counts them (serial) and the peaks the mapping reached (hiwater_vm,
 * peak_map_count). */
void shadow_map_unmap_elided(struct shadow *sh, uint64_t len);
/* The region when [start, start + len) (len page-rounded) is exactly one
 * VMA (in *vp) and one region, with no guard range; else NULL. */
const struct shadow_region *shadow_whole_mapping(const struct shadow *sh,
						 uint64_t start, uint64_t len,
						 struct shadow_vma **vp);
/* The munmap of v, found by shadow_whole_mapping with nothing changed
 * since: what shadow_unmap of its range does. */
void shadow_unmap_whole(struct shadow *sh, struct shadow_vma *v);

/* mremap(addr, old_len, new_len, flags) that the kernel carried out in
 * place (returned addr): what shadow_remap would do, when [addr, addr +
 * old_len) ends one plain private anonymous VMA, is one region, and the
 * space after it is free, a VMA at the new end certainly not merging
 * with it.  False, with nothing changed, otherwise: call shadow_remap. */
bool shadow_remap_grow_fast(struct shadow *sh, uint64_t addr, uint64_t old_len,
			    uint64_t new_len, int flags);
/* shadow_remap_grow_fast in two steps, for a caller that holds growths
 * back: the preload applies a run of growths in place of one mapping as
 * one.  _plan works out what shadow_remap_grow_fast would do and changes
 * nothing (1 planned, 0 declined).  Its room is how far a later growth of
 * the same range in place is as certain, with the shadow unchanged: every
 * growth of [addr, e) to [addr, e') with old_end <= e < e' <= room would
 * be planned, and applying the last of them (new_end set to e', growths
 * counting them all) does what applying each in turn does.  _apply does
 * it (1), or returns 0 with nothing changed when the shadow changed since
 * the plan (stale). */
struct shadow_grow_plan {
	struct shadow_vma *v;     /* the VMA that ends at old_end */
	struct shadow_region *r;  /* the region that ends there */
	uint64_t addr, old_end, new_end;
	uint64_t room;            /* >= new_end */
	uint32_t serial;          /* sh->serial when planned */
	uint32_t growths;         /* the calls it stands for (serial) */
};
int shadow_remap_grow_plan(const struct shadow *sh, uint64_t addr,
			   uint64_t old_len, uint64_t new_len, int flags,
			   struct shadow_grow_plan *pl);
int shadow_remap_grow_apply(struct shadow *sh,
			    const struct shadow_grow_plan *pl);
/* mremap(addr, old_len, new_len, MREMAP_MAYMOVE) growth that the kernel
 * carried out by moving the mapping to new_addr: what shadow_remap would
 * do (given that result and src_written, the pagemap answer its args
 * take: 0 or 1, or -1 not asked yet), when [addr, addr + old_len) is one
 * plain private anonymous VMA, whole, or its head or tail (one split,
 * where the VMA's boundaries are sure), and one region of the program's
 * (*created gets its stack), the shadow would not grow it in place
 * either, and the destination is free, its merge certain and not with the
 * source itself.  Returns 1 when applied; 0, with nothing changed,
 * otherwise: call shadow_remap; SHADOW_MOVE_ASK, with nothing changed,
 * when src_written is -1 and the VMA may have been written (faults
 * unseen): ask pagemap (shadow_remap_probe_pages, kview_anon_written) and
 * call again with the answer. */
#define SHADOW_MOVE_ASK 2
int shadow_remap_move_fast(struct shadow *sh, uint64_t addr, uint64_t old_len,
			   uint64_t new_len, int flags, uint64_t new_addr,
			   int src_written, uint32_t *created);

/* mprotect(2) / pkey_mprotect(2) (pkey ignored). */
int shadow_protect(struct shadow *sh, uint64_t start, uint64_t len, int prot,
		   struct shadow_change *rec);
/* The same for a call the kernel accepted (returned 0), when the range
 * lies in one VMA and the outcome is certain (no anon_vma or file the
 * shadow cannot see decides it, every split allowed, no populate): what
 * shadow_protect does, with no shadow_change; *splits gets the VMAs it
 * split off (for the call site's count).  1 applied; 0 declined with
 * nothing changed (then call shadow_protect); -1 out of memory part way
 * (the shadow is not the kernel's any more: resync). */
int shadow_protect_fast(struct shadow *sh, uint64_t start, uint64_t len,
			int prot, uint32_t *splits);

/* shadow_protect_fast in two steps, for a caller that holds a call back:
 * the preload keeps an mprotect pending, and when the next call undoes it
 * neither is applied.  _plan works out what shadow_protect_fast would do
 * and changes nothing (1 planned, 0 declined); _apply does it and returns
 * what shadow_protect_fast would (0 when the shadow changed since the
 * plan: the plan is stale). */
struct shadow_protect_plan {
	struct shadow_vma *v;     /* the VMA that holds [start, end) */
	uint64_t start, end;
	uint32_t flags;           /* the range's new flags */
	uint32_t splits;          /* VMAs it splits off */
	uint32_t serial;          /* sh->serial when planned */
	bool change;              /* false: flags as they are, only counted */
	bool ml, mr;              /* merges into the previous / next VMA */
};
int shadow_protect_fast_plan(const struct shadow *sh, uint64_t start,
			     uint64_t len, int prot,
			     struct shadow_protect_plan *pl);
int shadow_protect_fast_apply(struct shadow *sh,
			      const struct shadow_protect_plan *pl);
/* An mprotect of the plan's range to prot, after the planned one (not
 * applied): when the second gives the VMAs back the shape they had (the
 * same ranges: each merge the first makes the second splits again, each
 * split it merges), both are counted as applied (serial, and
 * peak_map_count with the splits made between them), what the pair leaves
 * changed in those VMAs (flags: the VM_ACCOUNT a write permission
 * charged, the marks of a merge on a guess; the anon_vma a merge shared)
 * is set in place, and 1 is returned; *splits gets the VMAs the second
 * splits off.  0 when they do not, or when the VMA count would pass
 * count_cap between them: nothing changed.  Both calls must be ones the
 * kernel accepted, as for _fast. */
int shadow_protect_undo(struct shadow *sh, const struct shadow_protect_plan *pl,
			int prot, uint64_t count_cap, uint32_t *splits);

struct shadow_remap_args {
	uint64_t old_addr, old_len, new_len;
	int flags;                 /* MREMAP_* */
	uint64_t new_addr;         /* only with MREMAP_FIXED */
	uint64_t result;           /* address the kernel returned after a move
				    * it placed; 0 = let the shadow choose */
	uint32_t stack_id;
	bool src_written;          /* faults_unseen: the caller saw a written
				    * anonymous page among the moved pages
				    * of the VMA at old_addr (kview_anon_
				    * written): it has an anon_vma, so it
				    * keeps its pgoff */
};

/* faults_unseen, after an mremap(addr, old_len, new_len) the kernel
 * carried out by a move (call before shadow_remap): how many pages at the
 * new address to look up for a written one (kview_anon_written, which
 * gives src_written): the moved part of the VMA at addr, no more than the
 * new length.  0 when the answer cannot change the model: not a private
 * anonymous VMA that may have been written (SHADOW_ANON_MAYBE). */
uint64_t shadow_remap_probe_pages(const struct shadow *sh, uint64_t addr,
				  uint64_t old_len, uint64_t new_len);

/* mremap(2).  Returns the address, or -errno. */
int64_t shadow_remap(struct shadow *sh, const struct shadow_remap_args *a,
		     struct shadow_change *rec);

/* madvise(2), every advice: the flag-changing ones modify VMAs; the others
 * are validated (errno predicted) and their side effects on anon_vma state
 * applied (MADV_POPULATE_WRITE). */
int shadow_advise(struct shadow *sh, uint64_t start, uint64_t len, int advice,
		  struct shadow_change *rec);

/* mlock2(2) (flags 0 or MLOCK_ONFAULT), munlock(2). */
int shadow_lock(struct shadow *sh, uint64_t start, uint64_t len, int flags,
		struct shadow_change *rec);
int shadow_unlock(struct shadow *sh, uint64_t start, uint64_t len,
		  struct shadow_change *rec);
/* mlockall(2) / munlockall(2).  MCL_FUTURE is remembered for later maps. */
int shadow_lockall(struct shadow *sh, int flags, struct shadow_change *rec);
int shadow_unlockall(struct shadow *sh, struct shadow_change *rec);

/* brk(2): the kernel's new break (brk returns the current break on
 * failure).  Sets the heap region to [brk_start, result). */
uint64_t shadow_brk(struct shadow *sh, uint64_t requested, uint64_t result,
		    struct shadow_change *rec);

/* Tell the shadow where the heap starts (mm->start_brk, field 47 of
 * /proc/self/stat) and where the break is now. */
void shadow_set_brk(struct shadow *sh, uint64_t start_brk, uint64_t brk);

/* A page was touched (write != 0: written).  Does what the fault handler
 * would: prepares the anon_vma, grows a GROWSDOWN VMA down to the page.
 * Returns 0, -EFAULT when the access raises SIGSEGV (no VMA, no
 * permission), or -EIO when it raises SIGBUS (past the end of the mapped
 * object).  A stack grows before the access is checked, as in the
 * kernel; nothing else changes on a fault. */
int shadow_touch(struct shadow *sh, uint64_t addr, bool write);

/* Record the size of the object behind file_id (or behind ino when ino is
 * not 0) as the caller learnt it (fstat); `bytes` UINT64_MAX = unknown. */
void shadow_set_object_size(struct shadow *sh, uint64_t ino, uint32_t file_id,
			    uint64_t bytes);
/* Pages of the object behind v, or UINT64_MAX when unknown / anonymous. */
uint64_t shadow_object_pages(const struct shadow *sh,
			     const struct shadow_vma *v);
/* First page address in [start, end) of v past the end of its object (a
 * touch there raises SIGBUS), or 0 if none. */
uint64_t shadow_past_object(const struct shadow *sh,
			    const struct shadow_vma *v, uint64_t start,
			    uint64_t end);

/* ---- queries -------------------------------------------------------- */

/* VMA containing addr, or NULL. */
struct shadow_vma *shadow_find(const struct shadow *sh, uint64_t addr);
/* First VMA with end > addr, or NULL. */
struct shadow_vma *shadow_find_next(const struct shadow *sh, uint64_t addr);
struct shadow_vma *shadow_vma_first(const struct shadow *sh);
struct shadow_vma *shadow_vma_next(const struct shadow_vma *v);
struct shadow_vma *shadow_vma_prev(const struct shadow_vma *v);

struct shadow_region *shadow_region_find(const struct shadow *sh,
					 uint64_t addr);
struct shadow_region *shadow_region_find_next(const struct shadow *sh,
					      uint64_t addr);
struct shadow_region *shadow_region_next(const struct shadow_region *r);
/* From the index alone (one cache line, no node read; the node is
 * prefetched for what follows): true when one VMA starts at start and
 * reaches end; true when one region of the program's (TRACKED) or the
 * tool's (TOOL) starts at start and reaches end.  False: the index cannot
 * tell, ask shadow_find_next / shadow_region_find_next. */
bool shadow_span_one_vma(const struct shadow *sh, uint64_t start,
			 uint64_t end);
bool shadow_span_one_owned_region(const struct shadow *sh, uint64_t start,
				  uint64_t end);
/* Start loading the index lines of both trees for a call at addr, with
 * no lock held (nothing is read but the two tables' addresses: a prefetch
 * cannot fault), so that the lookups after it find them in cache. */
void shadow_prefetch_at(const struct shadow *sh, uint64_t addr);
/* The lock held: start loading the VMAs beside the one starting at start
 * (from the index; none when it has no slot), which a merge decision
 * reads: before a system call, they arrive while the kernel works. */
void shadow_prefetch_neighbours(const struct shadow *sh, uint64_t start);
/* Make [start, end) one region of the given origin and creation stack,
 * whatever regions it held (after adopting the kernel's view of a call
 * the shadow mispredicted: the call's pages are the caller's).  0 or
 * -ENOMEM. */
int shadow_region_claim(struct shadow *sh, uint64_t start, uint64_t end,
			uint8_t origin, uint32_t stack_id, uint8_t call);

/* Does a VMA in [start, end) carry SV_EDGES_UNSURE?  (Then the kernel may
 * hold it as several VMAs: read them before a call that depends on
 * boundaries, mremap.) */
bool shadow_span_unsure(const struct shadow *sh, uint64_t start,
			uint64_t end);
/* The kernel's boundaries over [start, end) were just read and agree with
 * the shadow's: clear SV_EDGES_UNSURE there. */
void shadow_edges_confirm(struct shadow *sh, uint64_t start, uint64_t end);
/* The same from v, the first VMA that ends after start. */
void shadow_edges_confirm_from(struct shadow_vma *v, uint64_t end);

/* Lowest-or-highest free range of len bytes inside [low, high): top-down
 * when topdown.  Uses the gap augmentation: O(log n).  Returns the start,
 * or 0 when none fits. */
uint64_t shadow_find_free(const struct shadow *sh, uint64_t len,
			  uint64_t low, uint64_t high, bool topdown);

/* Check every invariant of both trees and the counters.  Returns 0, or -1
 * with a static description in *why. */
int shadow_validate(const struct shadow *sh, const char **why);

/* ---- adopting the kernel's view (used by diff) ----------------------- */

/* Replace the VMA boundaries in [start, end) with the kernel's: the kernel
 * descriptions given (sorted, covering exactly the mapped parts of the
 * span) become the VMAs; regions are kept and clipped to what is mapped;
 * pages the shadow did not know get a region of origin `origin`.  Each
 * boundary that had to change counts as a boundary miss.  The attributes the
 * kernel does not show (anon_id, file_id, hidden flags) are taken from the
 * shadow VMA that covered the same address when there was one. */
int shadow_adopt(struct shadow *sh, uint64_t start, uint64_t end,
		 const struct shadow_vma_desc *kv, size_t n, uint8_t origin);

/* Convert SV_* prot bits to and from PROT_*. */
static inline uint32_t shadow_prot_to_flags(int prot)
{
	return (uint32_t)prot & SV_PROT_MASK;
}

#endif
