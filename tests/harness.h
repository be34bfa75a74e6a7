/*
 * harness.h - run the same mapping calls on the real kernel and on a
 * shadow, inside a window of the test's own address space, and compare.
 *
 * The window is a free range found at start (reserved, then released); all
 * calls use addresses inside it.  Every h_* call performs the system call,
 * applies the same call to the shadow (with the address the kernel chose
 * where it chose one) and checks that the shadow predicted the kernel's
 * result and errno.  h_layout() draws the window as one character a page:
 * '.' for a hole, and a letter per VMA (A, B, C... in address order; the
 * case alternates so that two adjacent VMAs are always told apart), which
 * is how the unit tests write their expectations:
 *
 *     "AAAbbb..CC"   VMA A pages 0-2, VMA b pages 3-5, hole, VMA C 8-9
 *
 * Both the shadow and the kernel are drawn; a test asserts both.
 * Not for the preload: uses libc freely.
 */
#ifndef VMC_HARNESS_H
#define VMC_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "compat.h"
#include "diff.h"
#include "kview.h"
#include "shadow.h"
#include "testutil.h"

#define H_PAGE 4096ull
#define H_MAX_KV 4096

struct harness {
	struct shadow sh;
	struct test_alloc ta;
	uint64_t base;             /* window start */
	uint64_t pages;            /* window size in pages */
	int maps_fd;
	struct kview kv;
	struct kview_entry ent[H_MAX_KV];
	char names[H_MAX_KV * 64];
	char iobuf[65536];
	char call[160];            /* the last call, for messages */
	char why[3072];             /* last mismatch, human-readable */
	uint64_t errno_mismatch;   /* calls whose result the shadow mispredicted */
	uint64_t last_ret;         /* kernel result of the last call */
	int last_err;              /* kernel errno of the last call, 0 if ok */
	struct shadow_change rec;
	bool fast;                 /* try the fast paths (shadow/fast.c) first */
	uint64_t fast_maps, fast_unmaps, fast_protects; /* calls they applied */
	uint64_t fast_undos;       /* mprotect pairs that cancelled */
	uint64_t fast_grows;       /* mremaps grown in place by the fast path */
	uint64_t fast_moves;       /* mremap growths moved, by the fast path */
	uint64_t fast_fixed;       /* MAP_FIXED mmaps inside one VMA, ditto */
	/* faults_unseen: /proc/self/pagemap, asked after a move whether the
	 * moved pages were written (as the preload does); -1 = not asked */
	int pagemap_fd;
};

static inline uint64_t h_addr(const struct harness *h, uint64_t page)
{
	return h->base + page * H_PAGE;
}

/* Read the file description facts the shadow needs from fd. */
static inline void h_file_from_fd(int fd, uint32_t file_id,
				  struct shadow_file *f)
{
	struct stat st;
	memset(f, 0, sizeof(*f));
	if (fd < 0 || fstat(fd, &st) != 0)
		return;
	int fl = fcntl(fd, F_GETFL);
	f->valid = true;
	f->readable = (fl & O_ACCMODE) != O_WRONLY;
	f->writable = (fl & O_ACCMODE) != O_RDONLY;
	f->append = fl & O_APPEND;
	f->can_mmap = S_ISREG(st.st_mode) || S_ISBLK(st.st_mode);
	f->regular = f->can_mmap;
	struct statfs sfs;
	f->shmem = fstatfs(fd, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
	f->dev = (major(st.st_dev) << 20) | minor(st.st_dev);
	f->ino = st.st_ino;
	f->file_id = file_id;
	f->size = (uint64_t)st.st_size;
}

static inline void h_init(struct harness *h, uint64_t pages)
{
	memset(h, 0, sizeof(*h));
	test_shadow_init(&h->sh, &h->ta);
	h->pages = pages;
	/* A free window with a guard of free pages on both sides, far below
	 * the mmap area so that the test's own malloc (top-down mmap) never
	 * lands in it: 64 GiB under the current top, 2 MiB aligned. */
	uint64_t span = (pages + 64) * H_PAGE;
	void *p = mmap(NULL, span, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("harness: mmap");
		abort();
	}
	munmap(p, span);
	uint64_t cand = ((uint64_t)p - (64ull << 30)) & ~((2ull << 20) - 1);
	for (;; cand -= 1ull << 30) {
		void *q = mmap((void *)cand, span, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				       MAP_FIXED_NOREPLACE, -1, 0);
		if (q != MAP_FAILED) {
			munmap(q, span);
			break;
		}
	}
	h->base = cand + 32 * H_PAGE;
	h->maps_fd = kview_open_maps();
	h->pagemap_fd = -1;
	kview_init(&h->kv, h->ent, H_MAX_KV, h->names, sizeof(h->names));
}

static inline void h_fini(struct harness *h)
{
	munmap((void *)h->base, h->pages * H_PAGE);
	shadow_destroy(&h->sh);
	if (h->maps_fd >= 0)
		kview_close(h->maps_fd);
	if (h->pagemap_fd >= 0)
		kview_close(h->pagemap_fd);
}

/* Record the kernel result (r, errno) and compare with the prediction. */
static inline void h_expect(struct harness *h, const char *call,
			    int64_t kernel, int kerr, int64_t predicted)
{
	h->last_err = kerr;
	int64_t want = kernel < 0 || kerr ? -(int64_t)kerr : kernel;
	if (want != predicted) {
		h->errno_mismatch++;
		snprintf(h->why, sizeof(h->why),
			 "%s: kernel %lld (%s), shadow %lld (%s)", call,
			 (long long)want, want < 0 ? strerror((int)-want) : "ok",
			 (long long)predicted,
			 predicted < 0 ? strerror((int)-predicted) : "ok");
	}
}

static inline int64_t h_mmap_file(struct harness *h, uint64_t addr,
				  uint64_t len, int prot, int flags, int fd,
				  uint64_t off, const struct shadow_file *f)
{
	errno = 0;
	void *r = mmap((void *)addr, len, prot, flags, fd, (off_t)off);
	int e = r == MAP_FAILED ? errno : 0;
	struct shadow_map_args a = {
		.addr = addr, .len = len, .prot = prot, .flags = flags,
		.off = off, .file = (flags & MAP_ANONYMOUS) ? NULL : f,
		.result = r == MAP_FAILED ? 0 : (uint64_t)r,
		.origin = SHADOW_ORIGIN_TRACKED, .stack_id = 1,
	};
	int64_t p;
	if (h->fast && r != MAP_FAILED && !(flags & MAP_FIXED) &&
	    shadow_map_anon_fast(&h->sh, (uint64_t)r, len, prot, flags, off,
				 SHADOW_ORIGIN_TRACKED, 1)) {
		p = (int64_t)(uint64_t)r;
		h->fast_maps++;
	} else if (h->fast && r != MAP_FAILED && (flags & MAP_ANONYMOUS) &&
		   shadow_map_fixed_fast(&h->sh, addr, len, prot, flags, off,
					 SHADOW_ORIGIN_TRACKED, 1)) {
		p = (int64_t)(uint64_t)r;
		h->fast_fixed++;
	} else {
		p = shadow_map(&h->sh, &a, &h->rec);
	}
	h->last_ret = (uint64_t)r;
	snprintf(h->call, sizeof(h->call), "mmap(%#llx, %#llx, %d, %#x, %d, %#llx)", (unsigned long long)addr, (unsigned long long)len, prot, flags, fd, (unsigned long long)off);
	h_expect(h, h->call, r == MAP_FAILED ? -1 : (int64_t)(uint64_t)r, e, p);
	return r == MAP_FAILED ? -e : (int64_t)(uint64_t)r;
}

/* Anonymous mmap of npages at page `page` of the window. */
static inline int64_t h_mmap(struct harness *h, uint64_t page,
			     uint64_t npages, int prot, int flags)
{
	return h_mmap_file(h, h_addr(h, page), npages * H_PAGE, prot,
			   flags | MAP_ANONYMOUS, -1, 0, NULL);
}

static inline int h_munmap_addr(struct harness *h, uint64_t addr,
				uint64_t len)
{
	struct shadow_vma *whole = NULL;
	if (h->fast && !shadow_whole_mapping(&h->sh, addr, len, &whole))
		whole = NULL;
	errno = 0;
	int r = munmap((void *)addr, len);
	int e = r ? errno : 0;
	int p;
	if (whole && r == 0) {
		shadow_unmap_whole(&h->sh, whole);
		p = 0;
		h->fast_unmaps++;
	} else {
		p = shadow_unmap(&h->sh, addr, len, &h->rec);
	}
	snprintf(h->call, sizeof(h->call), "munmap(%#llx, %#llx)", (unsigned long long)addr, (unsigned long long)len);
	h_expect(h, h->call, r, e, p);
	return r ? -e : 0;
}

static inline int h_munmap(struct harness *h, uint64_t page, uint64_t npages)
{
	return h_munmap_addr(h, h_addr(h, page), npages * H_PAGE);
}

/* The shadow's side of an mprotect the kernel answered with r (errno e). */
static inline void h_mprotect_shadow(struct harness *h, uint64_t addr,
				     uint64_t len, int prot, int r, int e)
{
	uint32_t splits;
	int p = 1;
	/* As the preload: the fast path for a call the kernel accepted. */
	if (h->fast && r == 0) {
		p = shadow_protect_fast(&h->sh, addr, len, prot, &splits);
		if (p > 0)
			h->fast_protects++;
		p = p > 0 ? 0 : p < 0 ? -ENOMEM : 1;
	}
	if (p == 1)
		p = shadow_protect(&h->sh, addr, len, prot, &h->rec);
	snprintf(h->call, sizeof(h->call), "mprotect(%#llx, %#llx, %#x)", (unsigned long long)addr, (unsigned long long)len, prot);
	h_expect(h, h->call, r, e, p);
}

static inline int h_mprotect_addr(struct harness *h, uint64_t addr,
				  uint64_t len, int prot)
{
	errno = 0;
	int r = mprotect((void *)addr, len, prot);
	int e = r ? errno : 0;
	h_mprotect_shadow(h, addr, len, prot, r, e);
	return r ? -e : 0;
}

/* mprotect to prot1, then the same range to prot2.  With the fast paths,
 * as the preload: the first, when the kernel accepted it and the fast path
 * plans it, is held back; if the kernel accepted the second too and
 * shadow_protect_undo says the pair leaves the VMAs as they are, neither
 * is applied (fast_undos), else the plan is applied and the second taken
 * as usual.  Returns the second call's result. */
static inline int h_mprotect_pair(struct harness *h, uint64_t addr,
				  uint64_t len, int prot1, int prot2)
{
	struct shadow_protect_plan pl;
	errno = 0;
	int r = mprotect((void *)addr, len, prot1);
	int e = r ? errno : 0;
	if (!h->fast || r ||
	    !shadow_protect_fast_plan(&h->sh, addr, len, prot1, &pl)) {
		h_mprotect_shadow(h, addr, len, prot1, r, e);
		return h_mprotect_addr(h, addr, len, prot2);
	}
	errno = 0;
	r = mprotect((void *)addr, len, prot2);
	e = r ? errno : 0;
	uint32_t splits;
	if (!r && pl.change &&
	    shadow_protect_undo(&h->sh, &pl, prot2, UINT64_MAX, &splits)) {
		h->fast_protects += 2;
		h->fast_undos++;
		snprintf(h->call, sizeof(h->call),
			 "mprotect(%#llx, %#llx, %#x) undone by %#x",
			 (unsigned long long)addr, (unsigned long long)len,
			 prot1, prot2);
		h_expect(h, h->call, 0, 0, 0);
		return 0;
	}
	int p = shadow_protect_fast_apply(&h->sh, &pl);
	if (p > 0)
		h->fast_protects++;
	snprintf(h->call, sizeof(h->call), "mprotect(%#llx, %#llx, %#x) held",
		 (unsigned long long)addr, (unsigned long long)len, prot1);
	h_expect(h, h->call, 0, 0, p > 0 ? 0 : -ENOMEM);
	h_mprotect_shadow(h, addr, len, prot2, r, e);
	return r ? -e : 0;
}

static inline int h_mprotect(struct harness *h, uint64_t page,
			     uint64_t npages, int prot)
{
	return h_mprotect_addr(h, h_addr(h, page), npages * H_PAGE, prot);
}

static inline int64_t h_mremap_addr(struct harness *h, uint64_t old,
				    uint64_t old_len, uint64_t new_len,
				    int flags, uint64_t new_addr)
{
	errno = 0;
	void *r = (void *)syscall(SYS_mremap, old, old_len, new_len, flags,
				  new_addr);
	int e = r == MAP_FAILED ? errno : 0;
	struct shadow_remap_args a = {
		.old_addr = old, .old_len = old_len, .new_len = new_len,
		.flags = flags, .new_addr = new_addr,
		.result = r == MAP_FAILED ? 0 : (uint64_t)r, .stack_id = 2,
	};
	if (r != MAP_FAILED && (uint64_t)r != old)
		a.src_written = kview_anon_written(
			h->pagemap_fd, (uint64_t)r,
			shadow_remap_probe_pages(&h->sh, old, old_len,
						 new_len));
	int64_t p;
	uint32_t moved_of;
	/* As the preload: a growth in place or moved that the fast path may
	 * apply, with the pagemap answer the general path would get. */
	if (h->fast && (uint64_t)r == old &&
	    shadow_remap_grow_fast(&h->sh, old, old_len, new_len, flags)) {
		p = (int64_t)old;
		h->fast_grows++;
	} else if (h->fast && r != MAP_FAILED && (uint64_t)r != old &&
		   shadow_remap_move_fast(&h->sh, old, old_len, new_len, flags,
					  (uint64_t)r, a.src_written,
					  &moved_of)) {
		p = (int64_t)(uint64_t)r;
		h->fast_moves++;
	} else {
		p = shadow_remap(&h->sh, &a, &h->rec);
	}
	h->last_ret = (uint64_t)r;
	snprintf(h->call, sizeof(h->call), "mremap(%#llx, %#llx, %#llx, %#x, %#llx)", (unsigned long long)old, (unsigned long long)old_len, (unsigned long long)new_len, flags, (unsigned long long)new_addr);
	h_expect(h, h->call, r == MAP_FAILED ? -1 : (int64_t)(uint64_t)r, e,
		 p);
	return r == MAP_FAILED ? -e : (int64_t)(uint64_t)r;
}

static inline int64_t h_mremap(struct harness *h, uint64_t page,
			       uint64_t old_pages, uint64_t new_pages,
			       int flags, uint64_t new_page)
{
	return h_mremap_addr(h, h_addr(h, page), old_pages * H_PAGE,
			     new_pages * H_PAGE, flags, h_addr(h, new_page));
}

static inline int h_madvise_addr(struct harness *h, uint64_t addr,
				 uint64_t len, int adv)
{
	errno = 0;
	int r = madvise((void *)addr, len, adv);
	int e = r ? errno : 0;
	int p = shadow_advise(&h->sh, addr, len, adv, &h->rec);
	snprintf(h->call, sizeof(h->call), "madvise(%#llx, %#llx, %d)", (unsigned long long)addr, (unsigned long long)len, adv);
	h_expect(h, h->call, r, e, p);
	return r ? -e : 0;
}

static inline int h_madvise(struct harness *h, uint64_t page, uint64_t npages,
			    int adv)
{
	return h_madvise_addr(h, h_addr(h, page), npages * H_PAGE, adv);
}

static inline int h_mlock(struct harness *h, uint64_t page, uint64_t npages,
			  int flags)
{
	errno = 0;
	int r = (int)syscall(SYS_mlock2, h_addr(h, page), npages * H_PAGE,
			     flags);
	int e = r ? errno : 0;
	int p = shadow_lock(&h->sh, h_addr(h, page), npages * H_PAGE, flags,
			    &h->rec);
	snprintf(h->call, sizeof(h->call), "mlock2(page %llu, %llu pages, %d)", (unsigned long long)page, (unsigned long long)npages, flags);
	h_expect(h, h->call, r, e, p);
	return r ? -e : 0;
}

static inline int h_munlock(struct harness *h, uint64_t page, uint64_t npages)
{
	errno = 0;
	/* Raw: ASan intercepts munlock() as a no-op. */
	int r = (int)syscall(SYS_munlock, h_addr(h, page), npages * H_PAGE);
	int e = r ? errno : 0;
	int p = shadow_unlock(&h->sh, h_addr(h, page), npages * H_PAGE,
			      &h->rec);
	h_expect(h, "munlock", r, e, p);
	return r ? -e : 0;
}

/* Touch one page (write or read), on both sides.  The caller makes sure
 * the access is allowed (the shadow says so too). */
static inline void h_touch(struct harness *h, uint64_t page, bool write)
{
	volatile char *p = (volatile char *)h_addr(h, page);
	if (shadow_touch(&h->sh, (uint64_t)p, write) != 0)
		return; /* would fault: do not */
	if (write)
		*p = 1;
	else
		(void)*p;
}

/* Read the kernel's view of the window. */
static inline int h_read_kernel(struct harness *h)
{
	return kview_read_query(&h->kv, h->maps_fd, h->base,
				h->base + h->pages * H_PAGE);
}

/* Draw a side of the window; `kernel` selects the kernel's view (read by
 * the last h_read_kernel()). */
static inline const char *h_draw(struct harness *h, bool kernel, char *out)
{
	uint64_t end = h->base + h->pages * H_PAGE;
	int idx = -1;
	uint64_t last_start = UINT64_MAX;
	for (uint64_t i = 0; i < h->pages; i++) {
		uint64_t a = h->base + i * H_PAGE, vs = 0;
		bool mapped = false;
		if (kernel) {
			for (size_t k = 0; k < h->kv.n; k++)
				if (h->kv.v[k].start <= a && a < h->kv.v[k].end) {
					mapped = true;
					vs = h->kv.v[k].start;
					break;
				}
		} else {
			struct shadow_vma *v = shadow_find(&h->sh, a);
			if (v) {
				mapped = true;
				vs = v->start;
			}
		}
		if (!mapped) {
			out[i] = '.';
			continue;
		}
		if (vs != last_start) {
			idx++;
			last_start = vs;
		}
		char c = (char)('A' + idx % 26);
		out[i] = idx % 2 ? (char)(c - 'A' + 'a') : c;
	}
	out[h->pages] = 0;
	(void)end;
	return out;
}

/* Compare the shadow and the kernel over the window.  Returns 0 when
 * coverage, attributes and boundaries agree; 1 for a boundary-only
 * difference; 2 for coverage or attributes.  Details in h->why. */
static inline int h_compare(struct harness *h, struct diff_result *res)
{
	struct diff_item items[16];
	struct diff_result local = { .items = items, .cap = 16 };
	if (!res)
		res = &local;
	int r = h_read_kernel(h);
	if (r) {
		snprintf(h->why, sizeof(h->why), "kview read failed: %d", r);
		return 2;
	}
	int bad = shadow_diff(&h->sh, &h->kv, h->base,
			      h->base + h->pages * H_PAGE, res);
	if (bad || res->count[DIFF_BOUNDARY]) {
		char s[1024], k[1024];
		if (h->pages < sizeof(s)) {
			h_draw(h, false, s);
			h_draw(h, true, k);
		} else {
			s[0] = k[0] = 0;
		}
		const struct diff_item *it = res->n ? &res->items[0] : NULL;
		snprintf(h->why, sizeof(h->why),
			 "%s: first at page %lld (kind %d, shadow %x kernel %x)\n"
			 "  shadow %s\n  kernel %s",
			 bad ? "coverage/attribute mismatch" : "boundary mismatch",
			 it ? (long long)((it->start - h->base) / H_PAGE) : -1LL,
			 it ? it->kind : 0, it ? it->shadow_flags : 0,
			 it ? it->kernel_flags : 0, s, k);
	}
	return bad ? 2 : res->count[DIFF_BOUNDARY] ? 1 : 0;
}

/* What the preload does before an mremap(addr, len, ...): where the shadow
 * marked a VMA in the old range SV_EDGES_UNSURE (merged on a guess, faults
 * unseen), adopt the kernel's VMAs over it, whole.  True when it did. */
static inline bool h_refine(struct harness *h, uint64_t addr, uint64_t len)
{
	if (addr & (H_PAGE - 1))
		return false;
	uint64_t s = addr, e = (addr + (len ? len : 1) + H_PAGE - 1) &
			       ~(H_PAGE - 1);
	if (e <= s || !shadow_span_unsure(&h->sh, s, e) || h_read_kernel(h))
		return false;
	for (size_t k = 0; k < h->kv.n; k++) {
		const struct kview_entry *v = &h->kv.v[k];
		if (v->end <= s || v->start >= e)
			continue;
		if (v->start < s)
			s = v->start;
		if (v->end > e)
			e = v->end;
	}
	return shadow_diff_adopt(&h->sh, &h->kv, s, e,
				 SHADOW_ORIGIN_FOREIGN) == 0;
}

/* Adopt the kernel's view of the window (after a boundary miss). */
static inline void h_adopt(struct harness *h)
{
	h_read_kernel(h);
	shadow_diff_adopt(&h->sh, &h->kv, h->base, h->base + h->pages * H_PAGE,
			  SHADOW_ORIGIN_FOREIGN);
}

#endif
