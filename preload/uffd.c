/*
 * uffd.c - the userfaultfd monitor: fault callbacks (struct vmc_vm_ops,
 * include/vmacheck.h), the kernel's change events on registered mappings,
 * and touch tracking (--uffd=touch).
 *
 * Two contexts, read by one monitor thread:
 *   sync   the areas of vmc_map_with_ops() (MISSING, and WP when the area
 *          has page_mkwrite), and with --uffd=on the program's tracked
 *          anonymous private mappings (WP mode, no page protected: no
 *          fault ever comes, only the UNMAP/REMAP/REMOVE events);
 *   async  with --uffd=touch, the tracked mappings instead, registered WP
 *          with UFFD_FEATURE_WP_ASYNC | WP_UNPOPULATED and write-protected
 *          once: the kernel resolves each first write itself and clears
 *          the page's uffd-wp bit, which PAGEMAP_SCAN reads back as
 *          PAGE_IS_WRITTEN.  No round trip through the monitor per fault.
 *
 * The monitor never takes the runtime's lock: a thread making an
 * intercepted munmap holds it while the kernel makes it wait until the
 * monitor has read the UNMAP event.  Events are matched against the one
 * intercepted call in flight (the runtime's lock serialises them; the
 * runtime writes what it expects before the system call and clears it
 * after); an event nobody expected goes to a ring that the runtime
 * drains, under its lock, at its next call: an untracked change.
 *
 * The monitor is a pthread, started outside any hook (the constructor,
 * vmc_map_with_ops, a fork child's atfork handler): pthread_create may
 * allocate.  It is untraced (its mmap-family calls pass through) and
 * blocks every signal.  Nothing is registered before it runs: a thread
 * unmapping registered memory would wait for it forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "preload_internal.h"
#include "rawsys.h"
#include "runtime.h"
#include "uffd.h"
#include "vmacheck.h"

#define PAGE 4096ul
#define MAX_AREAS 256
#define RING 256
#define EXP 32 /* intercepted calls remembered for matching */
#define TOUCH_WP_CAP (1ull << 30) /* write-protect mappings up to this */

struct area_slot {
	struct vmc_area pub;
	uint32_t uflags;   /* SV_UFFD, SV_UFFD_WP registered */
	bool used;
};

static struct {
	int mode;                   /* enum vmc_uffd_mode */
	int fd[2];                  /* sync, async; -1 = none */
	uint64_t avail;             /* features the kernel offers */
	uint64_t feat[2];           /* features granted per context */
	bool user_only;             /* UFFD_USER_MODE_ONLY was needed */
	volatile int running;       /* the monitor is up in this process */
	pid_t pid;                  /* whose monitor */
	pthread_t thr;
	bool said_fallback;
	int alock;                  /* spin lock over areas */
	struct area_slot areas[MAX_AREAS];
	/* The intercepted calls, numbered (written under the runtime's
	 * lock, one at a time): started and done counters and the ranges of
	 * the last EXP calls.  Reading an event lets its thread go on, so
	 * the monitor matches it with the calls between the last done before
	 * its read and the last started after. */
	struct {
		uint8_t call;
		uint64_t s, e, s2, e2;
	} exp[EXP];
	volatile uint64_t exp_started, exp_done;
	uint64_t last_remap_s, last_remap_e; /* the move just reported */
	struct vmc_uffd_note ring[RING];
	volatile uint32_t head, tail; /* monitor writes head, runtime tail */
	volatile int busy;            /* the monitor is reading or handling */
	struct vmc_uffd_stats st;
	char page[PAGE] __attribute__((aligned(PAGE)));
	char zero[PAGE] __attribute__((aligned(PAGE)));
} U = { .fd = { -1, -1 } };

extern char **environ;

/* vmc_map_with_ops() is mapping an area: not for vmc_uffd_track(). */
static __thread int making_area __attribute__((tls_model("initial-exec")));

/* ---- small helpers ------------------------------------------------------ */

static void alock(void)
{
	while (__atomic_exchange_n(&U.alock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&U.alock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static void aunlock(void)
{
	__atomic_store_n(&U.alock, 0, __ATOMIC_RELEASE);
}

static void count(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/* A new userfaultfd: /dev/userfaultfd first (no sysctl needed for it),
 * then the system call, then user-mode-only faults (what an unprivileged
 * process may have when vm.unprivileged_userfaultfd is 0). */
static int open_uffd(void)
{
	int dev = rawsys_open("/dev/userfaultfd", O_RDWR | O_CLOEXEC, 0);
	if (dev >= 0) {
		int fd = rawsys_ioctl(dev, USERFAULTFD_IOC_NEW,
				      (void *)(long)(O_CLOEXEC | O_NONBLOCK));
		rawsys_close(dev);
		if (fd >= 0)
			return fd;
	}
	long fd = rawsys3(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0);
	if (fd == -EPERM) {
		fd = rawsys3(SYS_userfaultfd,
			     O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY,
			     0, 0);
		if (fd >= 0)
			U.user_only = true;
	}
	return (int)fd;
}

/* Features the kernel offers, on a throwaway context (UFFDIO_API can be
 * done once per context). */
static int probe(void)
{
	/* Tests take the no-userfaultfd path on a kernel that has it. */
	if (vmc_env_get(environ, "VMACHECK_TEST_NO_UFFD"))
		return -ENOSYS;
	int fd = open_uffd();
	if (fd < 0)
		return fd;
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int r = rawsys_ioctl(fd, UFFDIO_API, &api);
	rawsys_close(fd);
	if (r < 0)
		return r;
	U.avail = api.features;
	return 0;
}

static int open_ctx(int which, uint64_t want)
{
	int fd = open_uffd();
	if (fd < 0)
		return fd;
	struct uffdio_api api = { .api = UFFD_API,
				  .features = want & U.avail };
	int r = rawsys_ioctl(fd, UFFDIO_API, &api);
	if (r < 0) {
		rawsys_close(fd);
		return r;
	}
	U.fd[which] = fd;
	U.feat[which] = api.features;
	return 0;
}

/* ---- the monitor -------------------------------------------------------- */

/* Was [s, e) the work of an intercepted call numbered in (lo, hi]? */
static bool expected(uint64_t s, uint64_t e, uint64_t lo, uint64_t hi)
{
	if (hi - lo > EXP)
		lo = hi - EXP;
	for (uint64_t q = lo + 1; q <= hi; q++) {
		const typeof(U.exp[0]) *x = &U.exp[q % EXP];
		if ((s >= x->s && e <= x->e) || (s >= x->s2 && e <= x->e2))
			return true;
	}
	return false;
}

static void note(uint8_t event, uint64_t s, uint64_t e, uint64_t to)
{
	uint32_t h = U.head;
	if (h - __atomic_load_n(&U.tail, __ATOMIC_ACQUIRE) >= RING) {
		count(&U.st.lost_notes);
		return;
	}
	U.ring[h % RING] = (struct vmc_uffd_note){ .event = event,
						   .start = s, .end = e,
						   .to = to };
	__atomic_store_n(&U.head, h + 1, __ATOMIC_RELEASE);
}

/* The area containing addr, copied out (the callback runs unlocked). */
static bool find_area(uint64_t addr, struct area_slot *out)
{
	bool found = false;
	alock();
	for (int i = 0; i < MAX_AREAS; i++) {
		struct area_slot *a = &U.areas[i];
		if (a->used && addr >= (uint64_t)a->pub.start &&
		    addr < (uint64_t)a->pub.start + a->pub.len) {
			*out = *a;
			found = true;
			break;
		}
	}
	aunlock();
	return found;
}

static void wake(int fd, uint64_t addr)
{
	struct uffdio_range r = { .start = addr, .len = PAGE };
	rawsys_ioctl(fd, UFFDIO_WAKE, &r);
}

static void on_fault(int fd, const struct uffd_msg *m)
{
	uint64_t addr = m->arg.pagefault.address & ~(PAGE - 1);
	uint64_t fl = m->arg.pagefault.flags;
	struct area_slot a;
	count(&U.st.faults);
	if (!find_area(addr, &a)) {
		/* Registered but no callbacks (gone meanwhile): let it by. */
		count(&U.st.unclaimed_faults);
		if (fl & UFFD_PAGEFAULT_FLAG_WP) {
			struct uffdio_writeprotect wp = {
				.range = { addr, PAGE }, .mode = 0 };
			rawsys_ioctl(fd, UFFDIO_WRITEPROTECT, &wp);
		} else {
			struct uffdio_zeropage z = { .range = { addr, PAGE } };
			if (rawsys_ioctl(fd, UFFDIO_ZEROPAGE, &z) < 0)
				wake(fd, addr);
		}
		return;
	}
	if (fl & UFFD_PAGEFAULT_FLAG_WP) {
		if (a.pub.ops->page_mkwrite) {
			count(&U.st.mkwrite_calls);
			a.pub.ops->page_mkwrite(&a.pub, (void *)addr);
		}
		struct uffdio_writeprotect wp = { .range = { addr, PAGE },
						  .mode = 0 };
		if (rawsys_ioctl(fd, UFFDIO_WRITEPROTECT, &wp) < 0)
			wake(fd, addr);
		return;
	}
	int r = VMC_FAULT_ZERO;
	if (a.pub.ops->fault) {
		struct vmc_fault vmf = {
			.address = (void *)addr,
			.pgoff = (addr - (uint64_t)a.pub.start) / PAGE,
			.page = U.page,
			.write = !!(fl & UFFD_PAGEFAULT_FLAG_WRITE),
			.tid = (int)m->arg.pagefault.feat.ptid,
		};
		count(&U.st.fault_calls);
		r = a.pub.ops->fault(&a.pub, &vmf);
		if (r != VMC_FAULT_FILLED && r != VMC_FAULT_ZERO) {
			count(&U.st.fault_errors);
			r = VMC_FAULT_ZERO;
		}
	}
	bool wp = a.uflags & SV_UFFD_WP;
	long ret;
	if (r == VMC_FAULT_ZERO && !wp) {
		struct uffdio_zeropage z = { .range = { addr, PAGE } };
		ret = rawsys_ioctl(fd, UFFDIO_ZEROPAGE, &z);
	} else {
		/* A page the first write must still report: copied in
		 * write-protected (ZEROPAGE has no such mode). */
		struct uffdio_copy c = {
			.dst = addr,
			.src = (uint64_t)(r == VMC_FAULT_FILLED ? U.page
								: U.zero),
			.len = PAGE, .mode = wp ? UFFDIO_COPY_MODE_WP : 0,
		};
		ret = rawsys_ioctl(fd, UFFDIO_COPY, &c);
	}
	if (ret < 0) /* EEXIST (another thread won), EAGAIN: refault */
		wake(fd, addr);
}

/* Areas inside [s, e) go (close each, called unlocked); areas cut at an
 * edge shrink; a hole in the middle leaves an area its extent. */
static void on_unmap(uint64_t s, uint64_t e)
{
	for (;;) {
		struct vmc_area gone;
		bool found = false;
		alock();
		for (int i = 0; i < MAX_AREAS && !found; i++) {
			struct area_slot *a = &U.areas[i];
			uint64_t as = (uint64_t)a->pub.start;
			uint64_t ae = as + a->pub.len;
			if (!a->used || e <= as || s >= ae)
				continue;
			if (s <= as && e >= ae) {
				gone = a->pub;
				a->used = false;
				found = true;
			} else if (s <= as) {
				a->pub.start = (void *)e;
				a->pub.len = ae - e;
			} else if (e >= ae) {
				a->pub.len = s - as;
			}
		}
		aunlock();
		if (!found)
			return;
		if (gone.ops->close)
			gone.ops->close(&gone);
	}
}

/* The area that started at `from` (at most one: areas never overlap) now
 * starts at `to`. */
static void on_remap(uint64_t from, uint64_t to, uint64_t len)
{
	struct vmc_area moved;
	bool found = false;
	alock();
	for (int i = 0; i < MAX_AREAS && !found; i++) {
		struct area_slot *a = &U.areas[i];
		if (!a->used || (uint64_t)a->pub.start != from)
			continue;
		a->pub.start = (void *)to;
		a->pub.len = len;
		moved = a->pub;
		found = true;
	}
	aunlock();
	if (found && moved.ops->mremap)
		moved.ops->mremap(&moved, (void *)from);
}

static void on_event(int fd, const struct uffd_msg *m, uint64_t lo,
		     uint64_t hi)
{
	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		on_fault(fd, m);
		return;
	case UFFD_EVENT_UNMAP: {
		uint64_t s = m->arg.remove.start, e = m->arg.remove.end;
		count(&U.st.events);
		/* A move ends with the unmap of its old range: one change. */
		bool move = s >= U.last_remap_s && e <= U.last_remap_e;
		U.last_remap_s = U.last_remap_e = 0;
		if (!move && !expected(s, e, lo, hi))
			note(VMC_UFFD_UNMAP, s, e, 0);
		on_unmap(s, e);
		return;
	}
	case UFFD_EVENT_REMOVE: {
		uint64_t s = m->arg.remove.start, e = m->arg.remove.end;
		count(&U.st.events);
		if (!expected(s, e, lo, hi))
			note(VMC_UFFD_REMOVE, s, e, 0);
		return;
	}
	case UFFD_EVENT_REMAP: {
		uint64_t f = m->arg.remap.from, t = m->arg.remap.to;
		uint64_t l = m->arg.remap.len;
		count(&U.st.events);
		U.last_remap_s = f;
		U.last_remap_e = f + l;
		if (!expected(f, f + l, lo, hi))
			note(VMC_UFFD_REMAP, f, f + l, t);
		on_remap(f, t, l);
		return;
	}
	default:
		return;
	}
}

/* Read and handle what one context has; false when it had nothing. */
static bool drain_ctx(int fd, struct uffd_msg *msgs, size_t cap)
{
	uint64_t lo = __atomic_load_n(&U.exp_done, __ATOMIC_SEQ_CST);
	/* Busy from before the read, which lets the thread of an event go
	 * on, to its note: see vmc_uffd_next_note. */
	__atomic_store_n(&U.busy, 1, __ATOMIC_SEQ_CST);
	long r = rawsys_read(fd, msgs, cap * sizeof(msgs[0]));
	uint64_t hi = __atomic_load_n(&U.exp_started, __ATOMIC_SEQ_CST);
	for (long k = 0; r > 0 && k < r / (long)sizeof(msgs[0]); k++)
		on_event(fd, &msgs[k], lo, hi);
	__atomic_store_n(&U.busy, 0, __ATOMIC_SEQ_CST);
	return r > 0;
}

static void *monitor(void *arg)
{
	(void)arg;
	vmc_thread_untraced();
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	struct uffd_msg msgs[16];
	for (;;) {
		struct pollfd p[2];
		int n = 0;
		for (int i = 0; i < 2; i++)
			if (U.fd[i] >= 0)
				p[n++] = (struct pollfd){ U.fd[i], POLLIN, 0 };
		if (rawsys3(SYS_poll, (long)p, n, -1) < 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			/* Faults come in runs (a loop over fresh pages):
			 * after one, look again for a short while before
			 * sleeping; a wake-up costs tens of microseconds
			 * here. */
			for (unsigned idle = 0; idle < 2000;) {
				if (drain_ctx(p[i].fd, msgs, 16))
					idle = 0;
				else
					idle++;
				__builtin_ia32_pause();
			}
		}
	}
	return NULL;
}

/* ---- life cycle --------------------------------------------------------- */

static const uint64_t EVENTS = UFFD_FEATURE_EVENT_UNMAP |
			       UFFD_FEATURE_EVENT_REMAP |
			       UFFD_FEATURE_EVENT_REMOVE |
			       UFFD_FEATURE_PAGEFAULT_FLAG_WP |
			       UFFD_FEATURE_THREAD_ID;

/* Open the contexts and start the monitor (idempotent).  0, or -errno;
 * says once why it could not. */
static int start(void)
{
	if (U.running && U.pid == rawsys_getpid())
		return 0;
	int r = probe();
	if (r < 0) {
		if (!U.said_fallback) {
			U.said_fallback = true;
			vmc_say(r == -ENOSYS
					? "userfaultfd is not available: fault "
					  "callbacks run eagerly, no change "
					  "events, no touch tracking"
					: "userfaultfd is not permitted: fault "
					  "callbacks run eagerly, no change "
					  "events, no touch tracking");
		}
		return r;
	}
	if (U.fd[0] < 0 && (r = open_ctx(0, EVENTS)) < 0)
		return r;
	/* Tests take the fallback on a kernel that has the features. */
	if (vmc_env_get(environ, "VMACHECK_TEST_NO_WP_ASYNC"))
		U.avail &= ~(uint64_t)UFFD_FEATURE_WP_ASYNC;
	if (U.mode == VMC_UFFD_TOUCH && U.fd[1] < 0) {
		uint64_t need = UFFD_FEATURE_WP_ASYNC |
				UFFD_FEATURE_WP_UNPOPULATED;
		if ((U.avail & need) != need || open_ctx(1, EVENTS | need) < 0) {
			if (!U.said_fallback) {
				U.said_fallback = true;
				vmc_say("userfaultfd has no asynchronous "
					"write-protect here: pages touched are "
					"read from /proc/self/pagemap at "
					"checks");
			}
		}
	}
	U.pid = rawsys_getpid();
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 << 10);
	r = pthread_create(&U.thr, &at, monitor, NULL);
	pthread_attr_destroy(&at);
	if (r) {
		for (int i = 0; i < 2; i++)
			if (U.fd[i] >= 0) {
				rawsys_close(U.fd[i]);
				U.fd[i] = -1;
			}
		return -r;
	}
	U.running = 1;
	return 0;
}

void vmc_uffd_init(int mode)
{
	U.mode = mode;
	if (mode != VMC_UFFD_OFF)
		start();
}

/* On every intercepted call: no system call here.  A fork child's
 * atfork handler clears `running` before it starts its own monitor. */
bool vmc_uffd_active(void)
{
	return U.running;
}

bool vmc_uffd_touch_mode(void)
{
	return vmc_uffd_active() && U.mode == VMC_UFFD_TOUCH;
}

bool vmc_uffd_touch_async(void)
{
	return vmc_uffd_active() && U.fd[1] >= 0;
}

void vmc_uffd_expect(uint8_t call, uint64_t s, uint64_t e, uint64_t s2,
		     uint64_t e2)
{
	uint64_t q = U.exp_started + 1;
	U.exp[q % EXP].call = call;
	U.exp[q % EXP].s = s;
	U.exp[q % EXP].e = e;
	U.exp[q % EXP].s2 = s2;
	U.exp[q % EXP].e2 = e2;
	__atomic_store_n(&U.exp_started, q, __ATOMIC_SEQ_CST);
}

void vmc_uffd_expect_done(void)
{
	__atomic_store_n(&U.exp_done, U.exp_started, __ATOMIC_SEQ_CST);
}

bool vmc_uffd_next_note(struct vmc_uffd_note *n)
{
	/* A thread that caused an event goes on as soon as the monitor has
	 * read it, maybe before its note is written: wait for the batch
	 * (the monitor never waits for the runtime's lock; bounded all the
	 * same, in case a callback waits for this thread: a late note is
	 * taken at the next call). */
	for (unsigned spin = 0;
	     __atomic_load_n(&U.busy, __ATOMIC_SEQ_CST) && spin < 20000;
	     spin++)
		if (spin > 64)
			rawsys3(SYS_sched_yield, 0, 0, 0);
		else
			__builtin_ia32_pause();
	uint32_t t = U.tail;
	if (t == __atomic_load_n(&U.head, __ATOMIC_ACQUIRE))
		return false;
	*n = U.ring[t % RING];
	__atomic_store_n(&U.tail, t + 1, __ATOMIC_RELEASE);
	return true;
}

uint32_t vmc_uffd_track(uint64_t start, uint64_t len)
{
	if (!vmc_uffd_active() || U.mode == VMC_UFFD_OFF || making_area)
		return 0;
	int which = U.mode == VMC_UFFD_TOUCH && U.fd[1] >= 0 ? 1 : 0;
	struct uffdio_register reg = {
		.range = { start, len }, .mode = UFFDIO_REGISTER_MODE_WP };
	if (rawsys_ioctl(U.fd[which], UFFDIO_REGISTER, &reg) < 0) {
		count(&U.st.register_failed);
		return 0;
	}
	count(&U.st.registered);
	if (which == 1 && len <= TOUCH_WP_CAP) {
		struct uffdio_writeprotect wp = {
			.range = { start, len },
			.mode = UFFDIO_WRITEPROTECT_MODE_WP };
		if (rawsys_ioctl(U.fd[1], UFFDIO_WRITEPROTECT, &wp) < 0)
			count(&U.st.wp_failed);
	}
	return SV_UFFD_WP;
}

int vmc_uffd_written(uint64_t start, uint64_t end, uint64_t *written,
		     uint64_t *present)
{
	struct page_region r[64];
	*written = *present = 0;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t a = start;
		while (a < end) {
			struct pm_scan_arg arg = {
				.size = sizeof(arg), .start = a, .end = end,
				.vec = (uint64_t)r, .vec_len = 64,
				.category_mask = pass ? PAGE_IS_PRESENT
						      : PAGE_IS_WRITTEN |
								PAGE_IS_PFNZERO,
				.category_inverted = pass ? 0
							  : PAGE_IS_PFNZERO,
				.return_mask = pass ? PAGE_IS_PRESENT
						    : PAGE_IS_WRITTEN,
			};
			int fd = vmc_pagemap_fd();
			long n = fd < 0 ? -EBADF
					: rawsys_ioctl(fd, PAGEMAP_SCAN, &arg);
			if (n < 0)
				return (int)n;
			for (long i = 0; i < n; i++)
				*(pass ? present : written) +=
					(r[i].end - r[i].start) / PAGE;
			if (arg.walk_end <= a || n < 64)
				break;
			a = arg.walk_end;
		}
	}
	return 0;
}

void vmc_uffd_stats(struct vmc_uffd_stats *s)
{
	*s = U.st;
	s->mode = U.mode;
	s->active = vmc_uffd_active();
	s->async = vmc_uffd_touch_async();
	s->features = U.feat[0] | U.feat[1];
	s->user_only = U.user_only;
}

/* In a fork child: the parent's contexts (their fds) are the parent's;
 * registrations were not copied (no UFFD_FEATURE_EVENT_FORK).  Open new
 * ones, register the areas again and tell them (open). */
void vmc_uffd_atfork_child(void)
{
	bool had = U.running;
	U.running = 0;
	U.head = U.tail = 0;
	U.busy = 0;
	U.st = (struct vmc_uffd_stats){ 0 }; /* the child's own counts */
	U.exp_started = U.exp_done = 0;
	U.alock = 0;
	for (int i = 0; i < 2; i++)
		if (U.fd[i] >= 0) {
			rawsys_close(U.fd[i]);
			U.fd[i] = -1;
		}
	bool areas = false;
	for (int i = 0; i < MAX_AREAS; i++)
		areas |= U.areas[i].used;
	if (!had || (!areas && U.mode == VMC_UFFD_OFF))
		return;
	if (start() < 0) {
		for (int i = 0; i < MAX_AREAS; i++)
			U.areas[i].used = false;
		return;
	}
	for (int i = 0; i < MAX_AREAS; i++) {
		struct area_slot *a = &U.areas[i];
		if (!a->used)
			continue;
		struct uffdio_register reg = {
			.range = { (uint64_t)a->pub.start, a->pub.len },
			.mode = UFFDIO_REGISTER_MODE_MISSING |
				(a->uflags & SV_UFFD_WP
					 ? UFFDIO_REGISTER_MODE_WP
					 : 0) };
		if (rawsys_ioctl(U.fd[0], UFFDIO_REGISTER, &reg) < 0) {
			a->used = false;
			continue;
		}
		vmc_rt_uffd_registered((uint64_t)a->pub.start, a->pub.len,
				       a->uflags, false);
		if (a->pub.ops->open)
			a->pub.ops->open(&a->pub);
	}
}

/* ---- the API ------------------------------------------------------------ */

static int add_area(void *start, uint64_t len, const struct vmc_vm_ops *ops,
		    void *priv, uint32_t uflags)
{
	int r = -ENOSPC;
	alock();
	for (int i = 0; i < MAX_AREAS; i++) {
		struct area_slot *a = &U.areas[i];
		if (a->used)
			continue;
		*a = (struct area_slot){ .pub = { start, len, ops, priv },
					 .uflags = uflags, .used = true };
		r = 0;
		break;
	}
	aunlock();
	return r;
}

/* Register [start, len) for callbacks; the shadow follows. */
static int attach(void *start, uint64_t len, const struct vmc_vm_ops *ops,
		  void *priv)
{
	uint32_t uflags = SV_UFFD;
	bool mkwrite = ops->page_mkwrite &&
		       (U.feat[0] & UFFD_FEATURE_PAGEFAULT_FLAG_WP);
	if (mkwrite)
		uflags |= SV_UFFD_WP;
	int r = add_area(start, len, ops, priv, uflags);
	if (r)
		return r;
	struct uffdio_register reg = {
		.range = { (uint64_t)start, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING |
			(mkwrite ? UFFDIO_REGISTER_MODE_WP : 0) };
	r = rawsys_ioctl(U.fd[0], UFFDIO_REGISTER, &reg);
	if (r < 0) {
		alock();
		for (int i = 0; i < MAX_AREAS; i++)
			if (U.areas[i].used && U.areas[i].pub.start == start)
				U.areas[i].used = false;
		aunlock();
		return r;
	}
	vmc_rt_uffd_registered((uint64_t)start, len, uflags, true);
	if (mkwrite) {
		/* Pages already there: their first write is reported too. */
		struct uffdio_writeprotect wp = {
			.range = { (uint64_t)start, len },
			.mode = UFFDIO_WRITEPROTECT_MODE_WP };
		rawsys_ioctl(U.fd[0], UFFDIO_WRITEPROTECT, &wp);
	}
	return 0;
}

/* No userfaultfd: every page through `fault` now, in a writable
 * mapping, then the program's protection. */
static void fill_eagerly(void *p, uint64_t len, int prot,
			 const struct vmc_vm_ops *ops, void *priv)
{
	struct vmc_area a = { p, len, ops, priv };
	if (ops->fault) {
		/* the caller's buffer: threads may map areas at once */
		char page[PAGE];
		for (uint64_t off = 0; off < len; off += PAGE) {
			struct vmc_fault vmf = { .address = (char *)p + off,
						 .pgoff = off / PAGE,
						 .page = page };
			if (ops->fault(&a, &vmf) == VMC_FAULT_FILLED)
				memcpy((char *)p + off, page, PAGE);
		}
	}
	if (prot != (PROT_READ | PROT_WRITE))
		rawsys_mprotect(p, len, prot);
}

void *vmc_uffd_map_with_ops(void *addr, unsigned long len, int prot,
			    int flags, const struct vmc_vm_ops *ops,
			    void *priv, void *caller)
{
	int okflags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
		      MAP_FIXED_NOREPLACE | MAP_NORESERVE;
	if (!ops || !len || (len & (PAGE - 1)) || (flags & ~okflags) ||
	    (flags & (MAP_PRIVATE | MAP_ANONYMOUS)) !=
		    (MAP_PRIVATE | MAP_ANONYMOUS) ||
	    (prot & ~(PROT_READ | PROT_WRITE))) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	bool uffd = start() == 0;
	int mprot = uffd ? prot : PROT_READ | PROT_WRITE;
	struct vmc_call c = { .call = SHADOW_CALL_MMAP,
			      .a = { (uint64_t)addr, len, (uint64_t)mprot,
				     (uint64_t)flags, (uint64_t)-1, 0 } };
	making_area = 1;
	int64_t r = vmc_call_traced(&c, caller);
	making_area = 0;
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return MAP_FAILED;
	}
	void *p = (void *)r;
	if (!uffd) {
		fill_eagerly(p, len, prot, ops, priv);
		return p;
	}
	int e = attach(p, len, ops, priv);
	if (e < 0) {
		struct vmc_call u = { .call = SHADOW_CALL_MUNMAP,
				      .a = { (uint64_t)p, len } };
		vmc_call_traced(&u, caller);
		errno = -e;
		return MAP_FAILED;
	}
	return p;
}

int vmc_uffd_set_ops(void *addr, unsigned long len,
		     const struct vmc_vm_ops *ops, void *priv)
{
	if (!ops || !len || ((uint64_t)addr | len) & (PAGE - 1)) {
		errno = EINVAL;
		return -1;
	}
	if (start() < 0) {
		errno = ENOSYS;
		return -1;
	}
	int e = attach(addr, len, ops, priv);
	if (e < 0) {
		errno = -e;
		return -1;
	}
	return 0;
}

int vmc_uffd_wrprotect(void *addr, unsigned long len)
{
	struct area_slot a;
	if (!vmc_uffd_active() || !find_area((uint64_t)addr, &a) ||
	    !(a.uflags & SV_UFFD_WP)) {
		errno = EINVAL;
		return -1;
	}
	struct uffdio_writeprotect wp = { .range = { (uint64_t)addr, len },
					  .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	int r = rawsys_ioctl(U.fd[0], UFFDIO_WRITEPROTECT, &wp);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

int vmc_uffd_clear_ops(void *addr)
{
	struct area_slot a;
	if (!vmc_uffd_active() || !find_area((uint64_t)addr, &a) ||
	    a.pub.start != addr) {
		errno = EINVAL;
		return -1;
	}
	alock();
	for (int i = 0; i < MAX_AREAS; i++)
		if (U.areas[i].used && U.areas[i].pub.start == addr)
			U.areas[i].used = false;
	aunlock();
	struct uffdio_range r = { (uint64_t)addr, a.pub.len };
	rawsys_ioctl(U.fd[0], UFFDIO_UNREGISTER, &r);
	vmc_rt_uffd_registered((uint64_t)addr, a.pub.len, 0, true);
	return 0;
}
