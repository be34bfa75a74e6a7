/*
 * journal.c - the per-process event journal: <dir>/vmacheck.<pid>.journal,
 * a file mapped MAP_SHARED so that every byte stored in it is in the page
 * cache at once; a crash or SIGKILL of the process loses nothing written.
 * `vmacheck report` rebuilds a result from it (report/journal.c reads it).
 *
 * Format (little-endian; the reader's header report/journal.h repeats it):
 *   header, 64 bytes at offset 0:
 *     0  char magic[8]   "VMCJRNL1" (stored last, so a half-written
 *                        header reads as "not a journal")
 *     8  u32 version     1
 *    12  u32 header_size 64 (records start here)
 *    16  u64 pid
 *    24  u64 ppid
 *    32  u64 start_ns    CLOCK_REALTIME at open
 *    40  u64 start_mono_ns CLOCK_MONOTONIC at open (to place time_ns)
 *    48  16 bytes reserved, zero
 *   records, 8-aligned, back to back from header_size:
 *     0  u32 len         of the whole record, header included: a multiple
 *                        of 8, from 8 to VMC_JOURNAL_MAX_RECORD
 *     4  u16 type        enum vmc_jrec_type (0 is never written)
 *     6  u16 flags       bit 0 complete; bits 1-3 the number of zero
 *                        padding bytes at the end (payload length is
 *                        len - 8 - pad); stored last, with a release store
 *     8  payload, then the padding
 *   then zeros up to the end of the file (while the process runs, or when
 *   it was killed), or nothing (after vmc_journal_close).
 *
 * Appending: under the spinlock, reserve [tail, tail + len), store len and
 * type, count the writer in flight; outside the lock, copy the payload and
 * store the flags.  So every reserved record has its length on file before
 * any later record exists: a reader can step over a record whose writer
 * died mid-copy (flags 0) and stops only at a zero length.
 *
 * In place: a record can be kept up to date after it was appended
 * (vmc_journal_put_u64: one u64 of its payload, under the spinlock, through
 * the current view; or vmc_journal_pin: a mapping of its own of the
 * record's pages, which never moves, written with plain stores).  The call
 * counters are such a record: a record per call cost a page of page cache
 * every 40 calls (about 100 ns a call on ext4, a tenth of a 64 KiB mmap's
 * cost), and a killed process's result needs only the counts.
 *
 * Growth: the file grows in 1 MiB steps (fallocate, so that a full disk is
 * an error here and not a SIGBUS in the program; ftruncate where fallocate
 * is unsupported).  The mapping (the "view") is larger than the file, sized
 * by doubling, so most steps touch only the file.  When the view must grow
 * and cannot in place, a new view of the same file is mapped elsewhere and
 * the old one is retired, not unmapped: writers still copying into it keep
 * writing the same page-cache pages.  Retired views are unmapped once no
 * writer is in flight.  The written part of the file is never moved or
 * rewritten, so it is valid at every moment.
 *
 * The file descriptor is moved to a high number (programs expect their own
 * descriptors from 3 up), and before every use its inode is checked: a
 * program that closed it, or reused the number, gets neither its file
 * truncated nor its descriptor closed; the journal reopens its path.
 *
 * All system calls are raw (shadow/rawsys.h): errno untouched, no hook.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "preload_internal.h"
#include "rawsys.h"

#define JOURNAL_MAGIC          "VMCJRNL1"
#define JOURNAL_VERSION        1u
#define JOURNAL_HEADER_SIZE    64u
#define JOURNAL_STEP           (1ull << 20)      /* file growth */
#define JOURNAL_VIEW_INITIAL   (8ull << 20)      /* first mapping */
#define JOURNAL_VIEW_MAX_STEP  (1ull << 30)      /* doubling stops here */
#define JOURNAL_RETIRED_MAX    8
#define JOURNAL_FD_MIN         900               /* where the fd goes */
#define JOURNAL_CLOSE_WAIT_NS  1000000000ull     /* close gives up after */

_Static_assert(VMC_JOURNAL_MAX_RECORD % 8 == 0, "records are 8-aligned");

struct journal_view {
	char *base;
	uint64_t len;
};

static struct journal {
	int lock;                  /* spinlock: 0 free, 1 held */
	int writers;               /* reserved records not yet complete */
	bool open;
	int fd;                    /* -1: none (the file can still be written
				    * through the view, just not grown) */
	struct journal_view view;  /* maps [0, view.len) of the file */
	uint64_t size;             /* file size (<= view.len) */
	uint64_t tail;             /* bytes used: the next record's offset */
	struct journal_view retired[JOURNAL_RETIRED_MAX];
	int nretired;
	struct journal_view pin;   /* vmc_journal_pin's mapping, or none */
	uint32_t dev_major, dev_minor;
	uint64_t ino;
	char path[PATH_MAX];
} J = { .fd = -1 };

/* ---- raw system calls rawsys.h does not have ------------------------- */

static int sys_mkdirat(int dirfd, const char *path, int mode)
{
	return (int)rawsys3(SYS_mkdirat, dirfd, (long)path, mode);
}

static int sys_unlinkat(int dirfd, const char *path, int flags)
{
	return (int)rawsys3(SYS_unlinkat, dirfd, (long)path, flags);
}

static int sys_fallocate(int fd, uint64_t off, uint64_t len)
{
	return (int)rawsys6(SYS_fallocate, fd, 0, (long)off, (long)len, 0, 0);
}

static int sys_ftruncate(int fd, uint64_t len)
{
	return (int)rawsys3(SYS_ftruncate, fd, (long)len, 0);
}

static int sys_fcntl(int fd, int cmd, long arg)
{
	return (int)rawsys3(SYS_fcntl, fd, cmd, arg);
}

static int sys_statx_fd(int fd, struct statx *stx)
{
	return (int)rawsys6(SYS_statx, fd, (long)"", AT_EMPTY_PATH, STATX_INO,
			    (long)stx, 0);
}

static uint64_t sys_clock_ns(clockid_t clk)
{
	struct timespec ts = { 0, 0 };

	if (rawsys3(SYS_clock_gettime, clk, (long)&ts, 0) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sys_yield(void)
{
	rawsys3(SYS_sched_yield, 0, 0, 0);
}

/* ---- the lock --------------------------------------------------------- */

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static bool journal_trylock(void)
{
	return __atomic_exchange_n(&J.lock, 1, __ATOMIC_ACQUIRE) == 0;
}

static void journal_lock(void)
{
	unsigned spins = 0;

	while (!journal_trylock()) {
		while (__atomic_load_n(&J.lock, __ATOMIC_RELAXED)) {
			if (++spins < 128)
				cpu_relax();
			else
				sys_yield();
		}
	}
}

static void journal_unlock(void)
{
	__atomic_store_n(&J.lock, 0, __ATOMIC_RELEASE);
}

static int writers_in_flight(void)
{
	return __atomic_load_n(&J.writers, __ATOMIC_ACQUIRE);
}

/* Wait up to JOURNAL_CLOSE_WAIT_NS for cond(); false on time-out.  For
 * close, which may run in an exit path that interrupted a writer. */
static bool wait_bounded(bool (*cond)(void))
{
	uint64_t start = 0;
	unsigned spins = 0;

	while (!cond()) {
		if (++spins < 128) {
			cpu_relax();
			continue;
		}
		if (!start)
			start = sys_clock_ns(CLOCK_MONOTONIC);
		else if (sys_clock_ns(CLOCK_MONOTONIC) - start >
			 JOURNAL_CLOSE_WAIT_NS)
			return false;
		sys_yield();
	}
	return true;
}

static bool cond_locked(void)
{
	return journal_trylock();
}

static bool cond_no_writers(void)
{
	return writers_in_flight() == 0;
}

/* ---- views ------------------------------------------------------------ */

static void view_set(struct journal_view *v, char *base, uint64_t len)
{
	/* Relaxed atomics: vmc_journal_owns() reads these without the lock. */
	__atomic_store_n(&v->base, base, __ATOMIC_RELAXED);
	__atomic_store_n(&v->len, len, __ATOMIC_RELAXED);
}

/* Unmap the retired views when nobody can be writing through them.
 * Lock held. */
static void reap_retired(bool force)
{
	int i;

	if (!J.nretired || (!force && writers_in_flight()))
		return;
	for (i = 0; i < J.nretired; i++) {
		rawsys_munmap(J.retired[i].base, J.retired[i].len);
		view_set(&J.retired[i], NULL, 0);
	}
	__atomic_store_n(&J.nretired, 0, __ATOMIC_RELAXED);
}

/* ---- the file descriptor ---------------------------------------------- */

static bool same_file(const struct statx *stx)
{
	return stx->stx_ino == J.ino && stx->stx_dev_major == J.dev_major &&
	       stx->stx_dev_minor == J.dev_minor;
}

/* Make J.fd our journal file again if the program closed or reused it:
 * 0, or -EBADF when the file cannot be reached any more (J.fd = -1). */
static int journal_fd_check(void)
{
	struct statx stx;
	int fd;

	if (J.fd >= 0 && sys_statx_fd(J.fd, &stx) == 0 && same_file(&stx))
		return 0;
	J.fd = -1;                 /* whatever that number is now, not ours */
	fd = rawsys_open(J.path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return -EBADF;
	if (sys_statx_fd(fd, &stx) != 0 || !same_file(&stx)) {
		rawsys_close(fd);
		return -EBADF;
	}
	J.fd = fd;
	return 0;
}

/* Move fd above the range programs use; keeps fd when that fails. */
static int fd_move_high(int fd)
{
	int hi = sys_fcntl(fd, F_DUPFD_CLOEXEC, JOURNAL_FD_MIN);

	if (hi < 0)
		return fd;
	rawsys_close(fd);
	return hi;
}

/* Grow the file from J.size to size bytes. */
static int file_extend(uint64_t size)
{
	int r;

	r = journal_fd_check();
	if (r)
		return r;
	do
		r = sys_fallocate(J.fd, J.size, size - J.size);
	while (r == -EINTR);
	if (r == -EOPNOTSUPP || r == -ENOSYS) {
		do
			r = sys_ftruncate(J.fd, size);
		while (r == -EINTR);
	}
	if (r)
		return r;
	J.size = size;
	return 0;
}

/* Make the view at least len bytes.  Lock held. */
static int view_grow(uint64_t len)
{
	uint64_t want = J.view.len;
	long r;
	int e;

	do
		want += want < JOURNAL_VIEW_MAX_STEP ? want : JOURNAL_VIEW_MAX_STEP;
	while (want < len);

	/* In place: nothing moves, writers in flight are unaffected. */
	r = rawsys_mremap(J.view.base, J.view.len, want, 0, NULL);
	if (!rawsys_is_err(r)) {
		view_set(&J.view, J.view.base, want);
		return 0;
	}
	reap_retired(false);
	if (!writers_in_flight() && !J.nretired) {
		r = rawsys_mremap(J.view.base, J.view.len, want,
				  MREMAP_MAYMOVE, NULL);
		if (rawsys_is_err(r))
			return (int)r;
		view_set(&J.view, (char *)r, want);
		return 0;
	}
	/* Writers are copying through the current view: map the file again
	 * and retire the old view until they are done. */
	e = journal_fd_check();
	if (e)
		return e;
	r = rawsys_mmap(vmc_tool_hint(want), want, PROT_READ | PROT_WRITE,
			MAP_SHARED, J.fd, 0);
	if (rawsys_is_err(r))
		return (int)r;
	if (J.nretired == JOURNAL_RETIRED_MAX) {
		while (writers_in_flight())
			sys_yield();
		reap_retired(true);
	}
	view_set(&J.retired[J.nretired], J.view.base, J.view.len);
	__atomic_store_n(&J.nretired, J.nretired + 1, __ATOMIC_RELAXED);
	view_set(&J.view, (char *)r, want);
	return 0;
}

/* Make [0, need) of the file writable through the view.  Lock held. */
static int journal_grow(uint64_t need)
{
	uint64_t size = (need + JOURNAL_STEP - 1) & ~(JOURNAL_STEP - 1);
	int r;

	if (size > J.view.len) {
		r = view_grow(size);
		if (r)
			return r;
	}
	uint64_t old = J.size;
	r = file_extend(size);
	/* Fault the new part in now, in one go, rather than one page at a
	 * time inside later hooks (best effort: 5.14+). */
	if (!r && size > old)
		rawsys_madvise(J.view.base + old, size - old,
			       23 /* MADV_POPULATE_WRITE */);
	return r;
}

/* ---- open and close --------------------------------------------------- */

/* Append s to buf at *n (of cap bytes, NUL kept); false if it does not fit. */
static bool path_add(char *buf, size_t *n, size_t cap, const char *s)
{
	while (*s) {
		if (*n + 1 >= cap)
			return false;
		buf[(*n)++] = *s++;
	}
	buf[*n] = '\0';
	return true;
}

static bool path_add_u64(char *buf, size_t *n, size_t cap, uint64_t v)
{
	char d[21];
	int i = 20;

	d[20] = '\0';
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return path_add(buf, n, cap, d + i);
}

/* mkdir -p: errors are left for the open of the file to report. */
static void mkdir_parents(const char *dir)
{
	char p[PATH_MAX];
	size_t n = 0, i;

	if (!path_add(p, &n, sizeof(p), dir))
		return;
	for (i = 1; i < n; i++) {
		if (p[i] != '/' || p[i - 1] == '/')
			continue;
		p[i] = '\0';
		sys_mkdirat(AT_FDCWD, p, 0777);
		p[i] = '/';
	}
	sys_mkdirat(AT_FDCWD, p, 0777);
}

static void store_u32(char *p, uint32_t v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

static void store_u64(char *p, uint64_t v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

/* Forget every resource without touching it (after fork, after close). */
static void journal_forget(void)
{
	int i;

	J.open = false;
	J.fd = -1;
	view_set(&J.view, NULL, 0);
	view_set(&J.pin, NULL, 0);
	for (i = 0; i < JOURNAL_RETIRED_MAX; i++)
		view_set(&J.retired[i], NULL, 0);
	__atomic_store_n(&J.nretired, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&J.writers, 0, __ATOMIC_RELAXED);
	J.size = J.tail = 0;
}

static int journal_open_locked(const char *dir, pid_t pid, pid_t ppid)
{
	struct statx stx;
	size_t n = 0;
	long m;
	int fd, r;
	char *h;
	uint64_t magic;

	if (!dir || !*dir)
		return -EINVAL;
	if (!path_add(J.path, &n, sizeof(J.path), dir) ||
	    !path_add(J.path, &n, sizeof(J.path), "/vmacheck.") ||
	    !path_add_u64(J.path, &n, sizeof(J.path), (uint64_t)pid) ||
	    !path_add(J.path, &n, sizeof(J.path), ".journal"))
		return -ENAMETOOLONG;
	mkdir_parents(dir);
	fd = rawsys_open(J.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return fd;
	J.fd = fd_move_high(fd);
	r = sys_statx_fd(J.fd, &stx);
	if (r)
		goto fail_close;
	J.ino = stx.stx_ino;
	J.dev_major = stx.stx_dev_major;
	J.dev_minor = stx.stx_dev_minor;
	J.size = 0;

	m = rawsys_mmap(vmc_tool_hint(JOURNAL_VIEW_INITIAL),
			JOURNAL_VIEW_INITIAL, PROT_READ | PROT_WRITE,
			MAP_SHARED, J.fd, 0);
	if (rawsys_is_err(m)) {
		r = (int)m;
		goto fail_close;
	}
	view_set(&J.view, (char *)m, JOURNAL_VIEW_INITIAL);
	r = file_extend(JOURNAL_STEP);
	if (r)
		goto fail_unmap;

	h = J.view.base;
	store_u32(h + 8, JOURNAL_VERSION);
	store_u32(h + 12, JOURNAL_HEADER_SIZE);
	store_u64(h + 16, (uint64_t)pid);
	store_u64(h + 24, (uint64_t)ppid);
	store_u64(h + 32, sys_clock_ns(CLOCK_REALTIME));
	store_u64(h + 40, sys_clock_ns(CLOCK_MONOTONIC));
	__builtin_memcpy(&magic, JOURNAL_MAGIC, sizeof(magic));
	__atomic_store_n((uint64_t *)h, magic, __ATOMIC_RELEASE);
	J.tail = JOURNAL_HEADER_SIZE;
	J.open = true;
	return 0;

fail_unmap:
	rawsys_munmap(J.view.base, J.view.len);
fail_close:
	if (J.fd >= 0)             /* -1 when no longer ours */
		rawsys_close(J.fd);
	sys_unlinkat(AT_FDCWD, J.path, 0);
	journal_forget();
	return r;
}

int vmc_journal_open(const char *dir, pid_t pid, pid_t ppid)
{
	int r;

	journal_lock();
	r = J.open ? -EBUSY : journal_open_locked(dir, pid, ppid);
	journal_unlock();
	return r;
}

int vmc_journal_append(uint16_t type, const void *payload, uint32_t len)
{
	return vmc_journal_append_at(type, payload, len, NULL);
}

void vmc_journal_put_u64(uint64_t off, uint32_t idx, uint64_t v)
{
	uint64_t at = off + 8 + 8 * (uint64_t)idx;

	journal_lock();
	/* Records start 8-aligned and are never moved: the slot is where it
	 * was appended, in whatever view is current. */
	if (J.open && off >= JOURNAL_HEADER_SIZE && at + 8 <= J.tail)
		__atomic_store_n((uint64_t *)(J.view.base + at), v,
				 __ATOMIC_RELAXED);
	journal_unlock();
}

void *vmc_journal_pin(uint64_t off, uint32_t len)
{
	void *p = NULL;

	journal_lock();
	if (J.open && !J.pin.base && off >= JOURNAL_HEADER_SIZE &&
	    off + 8 + len <= J.tail && journal_fd_check() == 0) {
		uint64_t first = off & ~4095ull;
		uint64_t plen = ((off + 8 + len + 4095) & ~4095ull) - first;
		long m = rawsys_mmap(vmc_tool_hint(plen), plen,
				     PROT_READ | PROT_WRITE, MAP_SHARED, J.fd,
				     first);
		if (!rawsys_is_err(m)) {
			view_set(&J.pin, (char *)m, plen);
			p = (char *)m + (off - first) + 8;
		}
	}
	journal_unlock();
	return p;
}

int vmc_journal_append_at(uint16_t type, const void *payload, uint32_t len,
			  uint64_t *off)
{
	uint32_t rec, pad;
	char *p;
	int r;

	if (type == 0 || (len && !payload))
		return -EINVAL;
	if (len > VMC_JOURNAL_MAX_RECORD - 8)
		return -EMSGSIZE;
	rec = (8 + len + 7) & ~7u;
	pad = rec - 8 - len;

	journal_lock();
	if (!J.open) {
		journal_unlock();
		return -EBADF;
	}
	reap_retired(false);
	if (J.tail + rec > J.size) {
		r = journal_grow(J.tail + rec);
		if (r) {
			journal_unlock();
			return r;
		}
	}
	p = J.view.base + J.tail;
	if (off)
		*off = J.tail;
	J.tail += rec;
	__atomic_store_n((uint32_t *)p, rec, __ATOMIC_RELAXED);
	__atomic_store_n((uint16_t *)(p + 4), type, __ATOMIC_RELAXED);
	__atomic_fetch_add(&J.writers, 1, __ATOMIC_RELAXED);
	journal_unlock();

	if (len)
		__builtin_memcpy(p + 8, payload, len);
	/* The padding is still zero: the file was never written past tail. */
	__atomic_store_n((uint16_t *)(p + 6), (uint16_t)(1u | pad << 1),
			 __ATOMIC_RELEASE);
	__atomic_fetch_sub(&J.writers, 1, __ATOMIC_RELEASE);
	return 0;
}

void vmc_journal_close(void)
{
	if (!wait_bounded(cond_locked))
		return;            /* a holder that never returns: leave it */
	if (!J.open) {
		journal_unlock();
		return;
	}
	if (J.pin.base)
		rawsys_munmap(J.pin.base, J.pin.len);
	if (wait_bounded(cond_no_writers)) {
		rawsys_munmap(J.view.base, J.view.len);
		reap_retired(true);
		if (journal_fd_check() == 0) {
			while (sys_ftruncate(J.fd, J.tail) == -EINTR)
				;
		}
	}
	/* Else a writer is stuck mid-copy (the exit path interrupted it):
	 * keep the views mapped and the file at its size; readers stop at
	 * the zeros. */
	if (journal_fd_check() == 0)
		rawsys_close(J.fd);
	journal_forget();
	journal_unlock();
}

void vmc_journal_atfork_prepare(void)
{
	journal_lock();
}

void vmc_journal_atfork_parent(void)
{
	journal_unlock();
}

int vmc_journal_reopen_child(const char *dir, pid_t pid, pid_t ppid)
{
	struct statx stx;
	int i, r = 0;

	/* The parent's threads do not exist here: whoever held the lock or
	 * was copying a record never will finish in this process. */
	__atomic_store_n(&J.lock, 0, __ATOMIC_RELAXED);
	journal_lock();
	if (J.open) {
		/* Our copies of the parent's views: unmapping them in the child
		 * leaves the parent's file as it is. */
		rawsys_munmap(J.view.base, J.view.len);
		if (J.pin.base)
			rawsys_munmap(J.pin.base, J.pin.len);
		for (i = 0; i < J.nretired; i++)
			rawsys_munmap(J.retired[i].base, J.retired[i].len);
		if (J.fd >= 0 && sys_statx_fd(J.fd, &stx) == 0 &&
		    same_file(&stx))
			rawsys_close(J.fd);
		journal_forget();
	}
	if (dir)
		r = journal_open_locked(dir, pid, ppid);
	journal_unlock();
	return r;
}

bool vmc_journal_owns(uint64_t addr, uint64_t len)
{
	int i, n = __atomic_load_n(&J.nretired, __ATOMIC_RELAXED);

	for (i = -2; i < n && i < JOURNAL_RETIRED_MAX; i++) {
		const struct journal_view *v = i == -2	? &J.pin
					       : i < 0 ? &J.view
						       : &J.retired[i];
		uint64_t b = (uint64_t)__atomic_load_n(&v->base,
						       __ATOMIC_RELAXED);
		uint64_t l = __atomic_load_n(&v->len, __ATOMIC_RELAXED);

		if (b && addr < b + l && addr + len > b)
			return true;
	}
	return false;
}
