/*
 * test_preload_journal.c - unit tests for preload/journal.c (the writer)
 * and report/journal.c (the reader), which is compiled into this test by
 * including the .c file (report/ has no build rule yet).
 *
 * Written and read back: records of every type from 8 threads at once
 * (per thread, in order, contents intact); growth to tens of MiB; a child
 * killed with SIGKILL while its 4 threads write (every record it reported
 * through a pipe is there); the file cut at every length (a clean prefix or
 * `truncated`, never garbage); corrupted lengths and headers (a one-line
 * error naming the file and the offset); foreign files; a fork child's own
 * file; a program that closes the journal's descriptor.
 * Each test works in its own directory under /tmp and removes it.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "preload_internal.h"
#include "../report/journal.c"

/* The reader's copy of the format is the writer's. */
_Static_assert(VMCJ_MAX_RECORD == VMC_JOURNAL_MAX_RECORD, "max record");
#define SAME_TYPE(a, b) _Static_assert((int)VMCJ_##a == (int)VMC_JREC_##b, #a)
SAME_TYPE(PROCESS, PROCESS);
SAME_TYPE(MODULE, MODULE);
SAME_TYPE(STACK, STACK);
SAME_TYPE(CALL, CALL);
SAME_TYPE(FINDING, FINDING);
SAME_TYPE(STATS, STATS);
SAME_TYPE(EXIT, EXIT);
#define SAME_FIELD(f)                                                         \
	_Static_assert(offsetof(struct vmcj_call, f) ==                       \
			       offsetof(struct vmc_jcall, f) &&               \
		       sizeof(((struct vmcj_call *)0)->f) ==                  \
			       sizeof(((struct vmc_jcall *)0)->f), #f)
SAME_FIELD(serial);
SAME_FIELD(args);
SAME_FIELD(result);
SAME_FIELD(err);
SAME_FIELD(call);
SAME_FIELD(pad);
SAME_FIELD(stack_id);
SAME_FIELD(tid);
SAME_FIELD(time_ns);
_Static_assert(sizeof(struct vmcj_call) == sizeof(struct vmc_jcall), "call");

#define NTYPES 7
/* Record types that are not VMC_JREC_EXIT: a journal of them only looks
 * like a process that never ended. */
#define NTYPES_NOEXIT 6

/* ---- helpers ---------------------------------------------------------- */

static char tdir[64];

static void make_tdir(void)
{
	strcpy(tdir, "/tmp/vmc-journal-XXXXXX");
	ck_assert(mkdtemp(tdir) != NULL);
}

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void rm_tdir(void)
{
	if (tdir[0])
		nftw(tdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tdir[0] = '\0';
}

/* Also after a failed test (when Check does not fork, and the journal
 * of a failed test is still open). */
static void teardown(void)
{
	vmc_journal_close();
	rm_tdir();
}

static void jpath(char *out, size_t n, const char *dir, pid_t pid)
{
	snprintf(out, n, "%s/vmacheck.%d.journal", dir, (int)pid);
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* The payload of record i of thread t, of the given type: JSON text for
 * the JSON types, the binary layouts for STACK and CALL; `extra` pads the
 * JSON types to vary lengths (and the file's growth).  Returns length. */
static uint32_t make_payload(int t, int type, uint32_t i, unsigned extra,
			     char *out, size_t cap)
{
	uint64_t h = mix((uint64_t)t << 40 ^ (uint64_t)type << 32 ^ i);

	if (type == VMC_JREC_STACK) {
		uint32_t id = (uint32_t)t << 24 | (i & 0xffffff), n = i % 9, k;
		uint64_t ip;

		memcpy(out, &id, 4);
		memcpy(out + 4, &n, 4);
		for (k = 0; k < n; k++) {
			ip = mix(h + k);
			memcpy(out + 8 + 8 * k, &ip, 8);
		}
		return 8 + 8 * n;
	}
	if (type == VMC_JREC_CALL) {
		struct vmc_jcall c;
		int k;

		memset(&c, 0, sizeof(c));
		c.serial = i;
		for (k = 0; k < 6; k++)
			c.args[k] = mix(h + (uint64_t)k);
		c.result = -(int64_t)i;
		c.err = (int32_t)(h % 134);
		c.call = (uint16_t)(h % 7);
		c.stack_id = (uint32_t)h;
		c.tid = (uint32_t)t;
		c.time_ns = h;
		memcpy(out, &c, sizeof(c));
		return sizeof(c);
	}
	{
		unsigned padn = (unsigned)(h % (extra + 1));
		int n = snprintf(out, cap, "{\"t\":%d,\"i\":%u,\"y\":%d,\"p\":\"",
				 t, i, type);
		unsigned k;

		for (k = 0; k < padn && (size_t)n + 3 < cap; k++)
			out[n++] = (char)('a' + (h + k) % 26);
		out[n++] = '"';
		out[n++] = '}';
		return (uint32_t)n;
	}
}

/* Thread and index of a record made by make_payload. */
static bool payload_owner(const struct vmcj_record *r, int *t, uint32_t *i)
{
	if (r->type == VMCJ_STACK) {
		uint32_t id;

		if (r->len < 8)
			return false;
		memcpy(&id, r->payload, 4);
		*t = (int)(id >> 24);
		*i = id & 0xffffff;
		return true;
	}
	if (r->type == VMCJ_CALL) {
		struct vmcj_call c;

		if (r->len != sizeof(c))
			return false;
		memcpy(&c, r->payload, sizeof(c));
		*t = (int)c.tid;
		*i = (uint32_t)c.serial;
		return true;
	}
	{
		char tmp[64];
		size_t n = r->len < sizeof(tmp) - 1 ? r->len : sizeof(tmp) - 1;

		memcpy(tmp, r->payload, n);
		tmp[n] = '\0';
		return sscanf(tmp, "{\"t\":%d,\"i\":%u", t, i) == 2;
	}
}

static bool payload_matches(const struct vmcj_record *r, int t, uint32_t i,
			    unsigned extra)
{
	static char want[8192];
	uint32_t n = make_payload(t, r->type, i, extra, want, sizeof(want));

	return n == r->len && memcmp(want, r->payload, n) == 0;
}

static void read_ok(const char *path, struct vmcj *j)
{
	char err[512];
	int r = vmcj_read(path, j, err, sizeof(err));

	ck_assert_msg(r == 0, "vmcj_read: %d %s", r, err);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	char *d;

	ck_assert_int_ge(fd, 0);
	fstat(fd, &st);
	d = malloc((size_t)st.st_size + 1);
	ck_assert_int_eq(read(fd, d, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return d;
}

/* Mappings of path in /proc/self/maps: each must be owned by the journal.
 * Returns how many there are. */
static int journal_mappings(const char *path, bool check_owned)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	int n = 0;

	ck_assert(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (!strstr(line, path))
			continue;
		ck_assert_int_eq(sscanf(line, "%lx-%lx", &s, &e), 2);
		if (check_owned)
			ck_assert_msg(vmc_journal_owns(s, e - s),
				      "not owned: %s", line);
		n++;
	}
	fclose(f);
	return n;
}

/* Checks err is one line "PATH: ... (offset OFF)". */
static void assert_error_at(const char *err, const char *path, uint64_t off)
{
	char tail[64];
	size_t n = strlen(err), tl, pl = strlen(path);

	snprintf(tail, sizeof(tail), "(offset %" PRIu64 ")", off);
	tl = strlen(tail);
	ck_assert_msg(strchr(err, '\n') == NULL, "two lines: %s", err);
	ck_assert_msg(strncmp(err, path, pl) == 0 && err[pl] == ':',
		      "no path: %s", err);
	ck_assert_msg(n >= tl && strcmp(err + n - tl, tail) == 0,
		      "want %s: %s", tail, err);
}

/* ---- basic ------------------------------------------------------------ */

START_TEST(open_append_close_read)
{
	char dir[128], path[256], p[64];
	struct vmcj j;
	struct timespec now;
	uint32_t k;

	make_tdir();
	snprintf(dir, sizeof(dir), "%s/a/b/c", tdir); /* created by open */
	clock_gettime(CLOCK_REALTIME, &now);
	ck_assert_int_eq(vmc_journal_open(dir, getpid(), getppid()), 0);
	ck_assert_int_eq(vmc_journal_open(dir, getpid(), getppid()), -EBUSY);
	ck_assert_int_eq(vmc_journal_append(0, "x", 1), -EINVAL);
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_PROCESS, NULL, 1), -EINVAL);
	/* Lengths 0..17: every padding. */
	for (k = 0; k < 18; k++) {
		memset(p, 'a' + (int)k, k);
		ck_assert_int_eq(vmc_journal_append(VMC_JREC_FINDING, p, k), 0);
	}
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_EXIT, "{\"ended\":\"exit\"}",
					    16), 0);
	jpath(path, sizeof(path), dir, getpid());
	ck_assert_int_eq(journal_mappings(path, true), 1);
	vmc_journal_close();
	vmc_journal_close();       /* twice is harmless */
	ck_assert_int_eq(journal_mappings(path, false), 0);
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_STATS, "{}", 2), -EBADF);

	read_ok(path, &j);
	ck_assert_uint_eq(j.version, 1);
	ck_assert_uint_eq(j.header_size, 64);
	ck_assert_uint_eq(j.pid, (uint64_t)getpid());
	ck_assert_uint_eq(j.ppid, (uint64_t)getppid());
	ck_assert_uint_ge(j.start_ns, (uint64_t)now.tv_sec * 1000000000ull);
	ck_assert_uint_lt(j.start_ns, (uint64_t)(now.tv_sec + 60) * 1000000000ull);
	ck_assert_uint_ne(j.start_mono_ns, 0);
	ck_assert(!j.truncated);
	ck_assert(j.has_exit);
	ck_assert_uint_eq(j.incomplete, 0);
	ck_assert_uint_eq(j.nrecs, 19);
	/* Closed: the file ends at the last record. */
	ck_assert_uint_eq(j.file_size, file_size(path));
	ck_assert_uint_eq(j.end, j.file_size);
	ck_assert_uint_eq(j.file_size % 8, 0);
	for (k = 0; k < 18; k++) {
		memset(p, 'a' + (int)k, k);
		ck_assert_uint_eq(j.recs[k].type, VMCJ_FINDING);
		ck_assert_uint_eq(j.recs[k].len, k);
		ck_assert_uint_eq(j.recs[k].offset % 8, 0);
		ck_assert_uint_eq((uintptr_t)j.recs[k].payload % 8, 0);
		ck_assert(memcmp(j.recs[k].payload, p, k) == 0);
	}
	ck_assert_uint_eq(j.recs[0].offset, 64);
	ck_assert_uint_eq(j.recs[18].type, VMCJ_EXIT);
	ck_assert_str_eq(vmcj_type_name(j.recs[18].type), "exit");
	ck_assert_str_eq(vmcj_type_name(99), "?");
	vmcj_free(&j);
	vmcj_free(&j);
	rm_tdir();
}
END_TEST

/* ---- 8 threads -------------------------------------------------------- */

#define NTHREADS 8
#define PER_TYPE 1500
#define EXTRA 400

static pthread_barrier_t barrier;

static void *writer_thread(void *arg)
{
	int t = (int)(intptr_t)arg;
	char *p = malloc(8192);
	uint32_t i;
	int type;
	intptr_t bad = 0;

	pthread_barrier_wait(&barrier);
	for (i = 0; i < PER_TYPE; i++) {
		for (type = 1; type <= NTYPES; type++) {
			uint32_t n = make_payload(t, type, i, EXTRA, p, 8192);

			if (vmc_journal_append((uint16_t)type, p, n))
				bad++;
		}
	}
	free(p);
	return (void *)bad;
}

/* Each thread's records of each type, in order 0..count-1 and intact. */
static void check_sequences(const struct vmcj *j, int nthreads, unsigned extra,
			    uint32_t (*count)[NTYPES + 1])
{
	size_t k;

	memset(count, 0, sizeof(uint32_t) * (size_t)nthreads * (NTYPES + 1));
	for (k = 0; k < j->nrecs; k++) {
		const struct vmcj_record *r = &j->recs[k];
		int t;
		uint32_t i;

		ck_assert_msg(r->type >= 1 && r->type <= NTYPES, "type %u",
			      r->type);
		ck_assert_msg(payload_owner(r, &t, &i), "record %zu", k);
		ck_assert_msg(t >= 0 && t < nthreads, "thread %d", t);
		ck_assert_msg(i == count[t][r->type],
			      "thread %d type %u: record %u, expected %u", t,
			      r->type, i, count[t][r->type]);
		ck_assert_msg(payload_matches(r, t, i, extra),
			      "record %zu (thread %d type %u #%u) damaged", k,
			      t, r->type, i);
		count[t][r->type]++;
	}
}

START_TEST(threads_write_concurrently)
{
	pthread_t th[NTHREADS];
	char path[256];
	struct vmcj j;
	uint32_t count[NTHREADS][NTYPES + 1];
	int t, type;

	make_tdir();
	ck_assert_int_eq(vmc_journal_open(tdir, getpid(), getppid()), 0);
	pthread_barrier_init(&barrier, NULL, NTHREADS);
	for (t = 0; t < NTHREADS; t++)
		pthread_create(&th[t], NULL, writer_thread, (void *)(intptr_t)t);
	for (t = 0; t < NTHREADS; t++) {
		void *bad;

		pthread_join(th[t], &bad);
		ck_assert_msg(bad == NULL, "thread %d: %ld appends failed", t,
			      (long)(intptr_t)bad);
	}
	pthread_barrier_destroy(&barrier);
	jpath(path, sizeof(path), tdir, getpid());
	ck_assert_int_ge(journal_mappings(path, true), 1);
	vmc_journal_close();
	ck_assert_int_eq(journal_mappings(path, false), 0);

	read_ok(path, &j);
	ck_assert(!j.truncated);
	ck_assert_uint_eq(j.nrecs, NTHREADS * NTYPES * PER_TYPE);
	ck_assert_uint_gt(j.file_size, 8u << 20); /* past the first view */
	check_sequences(&j, NTHREADS, EXTRA, count);
	for (t = 0; t < NTHREADS; t++)
		for (type = 1; type <= NTYPES; type++)
			ck_assert_uint_eq(count[t][type], PER_TYPE);
	vmcj_free(&j);
	rm_tdir();
}
END_TEST

/* ---- growth ----------------------------------------------------------- */

START_TEST(growth_and_record_limit)
{
	char path[256];
	struct vmcj j;
	char *big = malloc(VMC_JOURNAL_MAX_RECORD);
	uint32_t k, n = 48, sz = 1u << 20;
	size_t r;

	make_tdir();
	ck_assert_int_eq(vmc_journal_open(tdir, getpid(), getppid()), 0);
	for (k = 0; k < VMC_JOURNAL_MAX_RECORD; k++)
		big[k] = (char)mix(k);
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_MODULE, big,
					    VMC_JOURNAL_MAX_RECORD - 7),
			 -EMSGSIZE);
	/* 48 records of 1 MiB - 3 (each crosses a file step), then one of the
	 * largest size. */
	for (k = 0; k < n; k++) {
		big[0] = (char)k;
		ck_assert_int_eq(vmc_journal_append(VMC_JREC_MODULE, big, sz - 3),
				 0);
	}
	big[0] = 'M';
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_MODULE, big,
					    VMC_JOURNAL_MAX_RECORD - 8), 0);
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_EXIT, "{}", 2), 0);
	jpath(path, sizeof(path), tdir, getpid());
	ck_assert_int_ge(journal_mappings(path, true), 1);
	vmc_journal_close();

	read_ok(path, &j);
	ck_assert(!j.truncated);
	ck_assert_uint_eq(j.nrecs, n + 2);
	for (r = 0; r < n; r++) {
		ck_assert_uint_eq(j.recs[r].len, sz - 3);
		ck_assert_int_eq(((const char *)j.recs[r].payload)[0], (char)r);
		ck_assert(memcmp((const char *)j.recs[r].payload + 1, big + 1,
				 sz - 4) == 0);
	}
	ck_assert_uint_eq(j.recs[n].len, VMC_JOURNAL_MAX_RECORD - 8);
	ck_assert(memcmp(j.recs[n].payload, big, VMC_JOURNAL_MAX_RECORD - 8) == 0);
	ck_assert_uint_eq(j.file_size, file_size(path));
	ck_assert_uint_gt(j.file_size, 64u << 20);
	vmcj_free(&j);
	free(big);
	rm_tdir();
}
END_TEST

/* ---- a writer stuck mid-copy while the view grows --------------------- */

static char *stuck_page;

static void *stuck_writer(void *arg)
{
	(void)arg;
	/* The copy reads stuck_page, which faults into the userfaultfd and
	 * waits there until the test fills the page. */
	return (void *)(intptr_t)vmc_journal_append(VMC_JREC_FINDING,
						    stuck_page, 4096);
}

/* Start and end of the first mapping of path in /proc/self/maps. */
static bool first_mapping(const char *path, unsigned long *s, unsigned long *e)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, path) && sscanf(line, "%lx-%lx", s, e) == 2;
	if (f)
		fclose(f);
	return found;
}

START_TEST(view_grows_while_a_writer_is_stuck)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct uffdio_copy copy;
	struct uffd_msg msg;
	struct pollfd pfd;
	pthread_t th;
	void *ret;
	char path[256], *src, p[4096];
	unsigned long vs, ve;
	struct vmcj j;
	int uffd, k, n = 3000;
	long blocker;

	uffd = (int)syscall(SYS_userfaultfd,
			    O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		fprintf(stderr, "view_grows_while_a_writer_is_stuck: no "
			"userfaultfd (%s), skipped\n", strerror(errno));
		return;
	}
	stuck_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(stuck_page != MAP_FAILED);
	reg.range.start = (uintptr_t)stuck_page;
	reg.range.len = 4096;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	ck_assert_int_eq(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);

	make_tdir();
	ck_assert_int_eq(vmc_journal_open(tdir, getpid(), getppid()), 0);
	jpath(path, sizeof(path), tdir, getpid());
	/* Occupy the page after the view: it cannot grow in place. */
	ck_assert(first_mapping(path, &vs, &ve));
	blocker = (long)mmap((void *)ve, 4096, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			     -1, 0);

	pthread_create(&th, NULL, stuck_writer, NULL);
	pfd.fd = uffd;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(read(uffd, &msg, sizeof(msg)), (ssize_t)sizeof(msg));
	ck_assert_int_eq(msg.event, UFFD_EVENT_PAGEFAULT);

	/* 12 MiB more while the writer is in flight: the 8 MiB view is
	 * replaced, the old one retired (still mapped). */
	for (k = 0; k < n; k++) {
		memset(p, 'a' + k % 26, sizeof(p));
		ck_assert_int_eq(vmc_journal_append(VMC_JREC_STATS, p, sizeof(p)),
				 0);
	}
	ck_assert_int_eq(journal_mappings(path, true), 2);
	ck_assert(vmc_journal_owns(vs, 1));

	/* Let the writer finish through the old view. */
	src = malloc(4096);
	memset(src, 'Q', 4096);
	copy.dst = (uintptr_t)stuck_page;
	copy.src = (uintptr_t)src;
	copy.len = 4096;
	copy.mode = 0;
	ck_assert_int_eq(ioctl(uffd, UFFDIO_COPY, &copy), 0);
	pthread_join(th, &ret);
	ck_assert_int_eq((int)(intptr_t)ret, 0);
	/* The next append unmaps the retired view. */
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_EXIT, "{}", 2), 0);
	ck_assert_int_eq(journal_mappings(path, true), 1);
	ck_assert(!vmc_journal_owns(vs, 1));      /* the old view is gone */
	vmc_journal_close();

	read_ok(path, &j);
	ck_assert(!j.truncated);
	ck_assert_uint_eq(j.incomplete, 0);
	ck_assert_uint_eq(j.nrecs, (size_t)n + 2);
	ck_assert_uint_eq(j.recs[0].type, VMCJ_FINDING);
	ck_assert_uint_eq(j.recs[0].len, 4096);
	ck_assert(memcmp(j.recs[0].payload, src, 4096) == 0);
	for (k = 0; k < n; k++) {
		memset(p, 'a' + k % 26, sizeof(p));
		ck_assert(memcmp(j.recs[k + 1].payload, p, sizeof(p)) == 0);
	}
	vmcj_free(&j);
	free(src);
	if (blocker != -1)
		munmap((void *)blocker, 4096);
	munmap(stuck_page, 4096);
	close(uffd);
	rm_tdir();
}
END_TEST

/* ---- SIGKILL ---------------------------------------------------------- */

#define KILL_THREADS 4
#define KILL_AFTER 20000
#define KILL_EXTRA 600

static int report_fd;

struct done_msg {
	uint32_t t, i;
};

static void *killed_writer(void *arg)
{
	int t = (int)(intptr_t)arg;
	char p[8192];
	uint32_t i;

	for (i = 0;; i++) {
		int type = (int)(i % NTYPES_NOEXIT) + 1;
		uint32_t n = make_payload(t, type, i, KILL_EXTRA, p, sizeof(p));
		struct done_msg m = { (uint32_t)t, i };

		if (vmc_journal_append((uint16_t)type, p, n))
			m.i = UINT32_MAX;
		if (write(report_fd, &m, sizeof(m)) != sizeof(m) ||
		    m.i == UINT32_MAX)
			_exit(3);
	}
	return NULL;
}

/* Records of thread t come with i = 0, 1, 2... whatever their type. */
START_TEST(sigkill_loses_nothing_reported)
{
	int pfd[2], status, t;
	pid_t pid;
	char path[256];
	struct vmcj j;
	uint32_t reported[KILL_THREADS], seen[KILL_THREADS];
	size_t nmsg = 0, k;
	bool any[KILL_THREADS] = { false };
	struct done_msg m;

	memset(reported, 0, sizeof(reported));
	make_tdir();
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		pthread_t th[KILL_THREADS];

		close(pfd[0]);
		report_fd = pfd[1];
		if (vmc_journal_open(tdir, getpid(), getppid()))
			_exit(2);
		for (t = 0; t < KILL_THREADS; t++)
			pthread_create(&th[t], NULL, killed_writer,
				       (void *)(intptr_t)t);
		for (;;)
			pause();
	}
	close(pfd[1]);
	while (read(pfd[0], &m, sizeof(m)) == sizeof(m)) {
		ck_assert_msg(m.i != UINT32_MAX, "append failed in the child");
		ck_assert_uint_lt(m.t, KILL_THREADS);
		reported[m.t] = m.i;
		any[m.t] = true;
		if (++nmsg == KILL_AFTER)
			kill(pid, SIGKILL);
	}
	close(pfd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "child status %#x", status);
	ck_assert_uint_ge(nmsg, KILL_AFTER);

	jpath(path, sizeof(path), tdir, pid);
	read_ok(path, &j);
	ck_assert_uint_eq(j.pid, (uint64_t)pid);
	ck_assert(j.truncated);    /* never closed: zeros after the records */
	ck_assert(!j.has_exit);
	ck_assert_uint_gt(j.file_size, j.end);
	memset(seen, 0, sizeof(seen));
	for (k = 0; k < j.nrecs; k++) {
		const struct vmcj_record *r = &j.recs[k];
		uint32_t i;

		ck_assert(payload_owner(r, &t, &i));
		ck_assert(t >= 0 && t < KILL_THREADS);
		ck_assert_msg(i == seen[t], "thread %d: %u after %u", t, i,
			      seen[t]);
		ck_assert_uint_eq(r->type, i % NTYPES_NOEXIT + 1);
		ck_assert(payload_matches(r, t, i, KILL_EXTRA));
		seen[t]++;
	}
	for (t = 0; t < KILL_THREADS; t++) {
		if (!any[t])
			continue;
		ck_assert_msg(seen[t] > reported[t],
			      "thread %d reported #%u done, journal has %u", t,
			      reported[t], seen[t]);
	}
	/* At most one record per thread can have been cut mid-copy. */
	ck_assert_uint_le(j.incomplete, KILL_THREADS);
	vmcj_free(&j);
	rm_tdir();
}
END_TEST

/* A child killed while one thread is stuck mid-copy (userfaultfd) and
 * another has written records after it: those records are all read. */
START_TEST(killed_with_a_writer_mid_copy)
{
	int pfd[2], status, k;
	pid_t pid;
	char path[256], c;
	struct vmcj j;

	make_tdir();
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct uffdio_api api = { .api = UFFD_API };
		struct uffdio_register reg;
		struct pollfd pf;
		pthread_t th;
		char p[100];
		int uffd;

		close(pfd[0]);
		uffd = (int)syscall(SYS_userfaultfd,
				    O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
			(void)!write(pfd[1], "s", 1);
			_exit(0);
		}
		stuck_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		reg.range.start = (uintptr_t)stuck_page;
		reg.range.len = 4096;
		reg.mode = UFFDIO_REGISTER_MODE_MISSING;
		if (ioctl(uffd, UFFDIO_REGISTER, &reg) ||
		    vmc_journal_open(tdir, getpid(), getppid()))
			_exit(2);
		pthread_create(&th, NULL, stuck_writer, NULL);
		pf.fd = uffd;
		pf.events = POLLIN;
		if (poll(&pf, 1, 5000) != 1)
			_exit(3);
		for (k = 0; k < 100; k++) {
			memset(p, '0' + k % 10, sizeof(p));
			if (vmc_journal_append(VMC_JREC_STATS, p, (uint32_t)k))
				_exit(4);
		}
		(void)!write(pfd[1], "r", 1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	if (c == 's') {
		waitpid(pid, &status, 0);
		fprintf(stderr, "killed_with_a_writer_mid_copy: no "
			"userfaultfd, skipped\n");
		rm_tdir();
		return;
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	jpath(path, sizeof(path), tdir, pid);
	read_ok(path, &j);
	ck_assert(j.truncated);
	ck_assert(!j.has_exit);
	ck_assert_uint_eq(j.incomplete, 1);
	ck_assert_uint_eq(j.first_incomplete, 64);
	ck_assert_uint_eq(j.nrecs, 100);
	ck_assert_uint_eq(j.recs[0].offset, 64 + 8 + 4096);
	for (k = 0; k < 100; k++) {
		char p[100];

		memset(p, '0' + k % 10, sizeof(p));
		ck_assert_uint_eq(j.recs[k].len, (uint32_t)k);
		ck_assert(memcmp(j.recs[k].payload, p, (size_t)k) == 0);
	}
	vmcj_free(&j);
	rm_tdir();
}
END_TEST

/* ---- truncation at every length --------------------------------------- */

/* A journal of n assorted records; returns its path in path. */
static void small_journal(char *path, size_t n, int records, bool closed)
{
	char p[256];
	int k;

	ck_assert_int_eq(vmc_journal_open(tdir, getpid(), getppid()), 0);
	for (k = 0; k < records; k++) {
		int type = k % NTYPES_NOEXIT + 1;
		uint32_t len = make_payload(0, type, (uint32_t)k, 40, p, sizeof(p));

		ck_assert_int_eq(vmc_journal_append((uint16_t)type, p, len), 0);
	}
	jpath(path, n, tdir, getpid());
	if (closed)
		vmc_journal_close();
}

static void check_cuts(const char *path, size_t from, size_t to,
		       const struct vmcj *full)
{
	char cut[256], err[512];
	size_t size, L;
	char *data = read_file(path, &size);

	snprintf(cut, sizeof(cut), "%s/cut.journal", tdir);
	if (to > size)
		to = size;
	/* Cut one copy shorter and shorter (rewriting a file from zero each
	 * time is slow on ext4, which flushes a file truncated to 0). */
	write_file(cut, data, to);
	for (L = to + 1; L-- > from;) {
		struct vmcj j;
		size_t k, want = 0;
		bool boundary = L == 64;
		int r;

		ck_assert_int_eq(truncate(cut, (off_t)L), 0);
		r = vmcj_read(cut, &j, err, sizeof(err));
		if (L < 64) {
			ck_assert_msg(r == -EBADMSG, "length %zu: %d", L, r);
			ck_assert(strchr(err, '\n') == NULL);
			ck_assert(strncmp(err, cut, strlen(cut)) == 0);
			ck_assert(strstr(err, "(offset ") != NULL);
			continue;
		}
		ck_assert_msg(r == 0, "length %zu: %s", L, err);
		for (k = 0; k < full->nrecs; k++) {
			uint64_t end = k + 1 < full->nrecs ? full->recs[k + 1].offset
							   : full->end;
			if (end <= L)
				want = k + 1;
			if (end == L)
				boundary = true;
		}
		ck_assert_msg(j.nrecs == want, "length %zu: %zu records, want %zu",
			      L, j.nrecs, want);
		for (k = 0; k < j.nrecs; k++) {
			ck_assert_uint_eq(j.recs[k].type, full->recs[k].type);
			ck_assert_uint_eq(j.recs[k].len, full->recs[k].len);
			ck_assert_uint_eq(j.recs[k].offset, full->recs[k].offset);
			ck_assert(memcmp(j.recs[k].payload, full->recs[k].payload,
					 j.recs[k].len) == 0);
		}
		/* Only a cut at a record boundary looks like a clean close. */
		if (L == full->file_size && !full->truncated)
			ck_assert(!j.truncated);
		else if (!boundary || L > full->end)
			ck_assert_msg(j.truncated, "length %zu", L);
		ck_assert_uint_le(j.end, L);
		vmcj_free(&j);
	}
	free(data);
}

START_TEST(truncated_at_every_length)
{
	char path[256];
	struct vmcj full;

	make_tdir();
	small_journal(path, sizeof(path), 60, true);
	read_ok(path, &full);
	ck_assert(!full.truncated);
	ck_assert_uint_eq(full.nrecs, 60);
	check_cuts(path, 0, full.file_size, &full);
	vmcj_free(&full);
	rm_tdir();
}
END_TEST

START_TEST(killed_journal_cut_anywhere)
{
	char path[256];
	struct vmcj full;
	pid_t pid;
	int status;

	make_tdir();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		small_journal(path, sizeof(path), 30, false);
		_exit(0);          /* no close: as if killed */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	jpath(path, sizeof(path), tdir, pid);
	ck_assert_uint_eq(file_size(path), 1u << 20);
	read_ok(path, &full);
	ck_assert(full.truncated);
	ck_assert(!full.has_exit);
	ck_assert_uint_eq(full.nrecs, 30);
	ck_assert_uint_eq(full.end, full.recs[29].offset + 8 +
			  ((full.recs[29].len + 7) & ~7u));
	check_cuts(path, 0, 200, &full);
	check_cuts(path, full.end - 300, full.end + 300, &full);
	vmcj_free(&full);
	rm_tdir();
}
END_TEST

/* ---- corruption ------------------------------------------------------- */

/* Copy of path with 4 bytes at off replaced by v (2 bytes when two). */
static void patched(const char *path, const char *out, uint64_t off,
		    uint32_t v, bool two)
{
	size_t size;
	char *d = read_file(path, &size);

	if (two) {
		uint16_t s = (uint16_t)v;
		memcpy(d + off, &s, 2);
	} else {
		memcpy(d + off, &v, 4);
	}
	write_file(out, d, size);
	free(d);
}

static void expect_error(const char *path, uint64_t off, const char *what)
{
	struct vmcj j;
	char err[512];

	ck_assert_int_eq(vmcj_read(path, &j, err, sizeof(err)), -EBADMSG);
	assert_error_at(err, path, off);
	ck_assert_msg(strstr(err, what) != NULL, "want '%s': %s", what, err);
	ck_assert(j.recs == NULL && j.data == NULL);
}

START_TEST(corrupted_lengths_and_headers)
{
	char path[256], bad[256];
	struct vmcj full, j;
	uint64_t off;
	uint32_t len;
	int k;

	make_tdir();
	small_journal(path, sizeof(path), 20, true);
	read_ok(path, &full);
	snprintf(bad, sizeof(bad), "%s/bad.journal", tdir);
	k = 9;
	off = full.recs[k].offset;
	len = 8 + ((full.recs[k].len + 7) & ~7u);

	patched(path, bad, off, len + 3, false);
	expect_error(bad, off, "not a multiple of 8");
	patched(path, bad, off, 4, false);
	expect_error(bad, off, "not a multiple of 8");
	patched(path, bad, off, 1u << 28, false);
	expect_error(bad, off, "exceeds the maximum");
	patched(path, bad, off + 4, 0, true);                 /* type 0 */
	expect_error(bad, off, "type 0");
	/* Padding 7 on a JSON record is legal (its payload is longer). */
	patched(path, bad, full.recs[0].offset + 6, 1 | 7 << 1, true);
	read_ok(bad, &j);
	ck_assert_uint_eq(j.recs[0].len, 8 * ((full.recs[0].len + 7) / 8) - 7);
	vmcj_free(&j);
	/* The first record is a PROCESS (JSON): make one with 8 bytes and
	 * padding 1, i.e. a payload of -1 bytes. */
	{
		size_t size;
		char *d = read_file(path, &size);
		uint32_t l8 = 8;
		uint16_t f = 1 | 1 << 1;
		uint64_t o2 = full.recs[1].offset, o0 = full.recs[0].offset;
		uint32_t gap = (uint32_t)(o2 - o0);

		/* Record 0 becomes an 8-byte record with pad 1, followed by
		 * an incomplete filler covering the rest of its old space. */
		memcpy(d + o0, &l8, 4);
		memcpy(d + o0 + 6, &f, 2);
		gap -= 8;
		memcpy(d + o0 + 8, &gap, 4);
		memset(d + o0 + 12, 0, 4);
		write_file(bad, d, size);
		expect_error(bad, o0, "padding");
		free(d);
	}
	/* A stack record claiming more frames than it holds. */
	for (k = 0; k < (int)full.nrecs && full.recs[k].type != VMCJ_STACK; k++)
		;
	ck_assert_int_lt(k, (int)full.nrecs);
	patched(path, bad, full.recs[k].offset + 8 + 4, 1000, false);
	expect_error(bad, full.recs[k].offset, "frames");
	/* A call record that is too short. */
	for (k = 0; k < (int)full.nrecs && full.recs[k].type != VMCJ_CALL; k++)
		;
	ck_assert_int_lt(k, (int)full.nrecs);
	{
		size_t size;
		char *d = read_file(path, &size);
		uint16_t f = 1 | 0 << 1;
		uint32_t l = 8 + 16, rest;
		uint64_t o = full.recs[k].offset;

		rest = 8 + ((full.recs[k].len + 7) & ~7u) - l;
		memcpy(d + o, &l, 4);
		memcpy(d + o + 6, &f, 2);
		memcpy(d + o + l, &rest, 4);   /* an incomplete filler after */
		memset(d + o + l + 4, 0, 4);
		write_file(bad, d, size);
		expect_error(bad, o, "call record");
		free(d);
	}
	/* Header fields. */
	patched(path, bad, 8, 2, false);
	expect_error(bad, 8, "version 2");
	patched(path, bad, 12, 12, false);
	expect_error(bad, 12, "header size");
	patched(path, bad, 12, 1u << 30, false);
	expect_error(bad, full.file_size, "cut short");

	/* A record without the complete bit is stepped over and counted. */
	k = 9;
	patched(path, bad, off + 6, 0, true);
	read_ok(bad, &j);
	ck_assert_uint_eq(j.nrecs, full.nrecs - 1);
	ck_assert_uint_eq(j.incomplete, 1);
	ck_assert_uint_eq(j.first_incomplete, off);
	ck_assert(j.truncated);
	ck_assert_uint_eq(j.recs[k].offset, full.recs[k + 1].offset);
	vmcj_free(&j);

	/* A length running past the end of the file reads as a cut file. */
	off = full.recs[full.nrecs - 1].offset;
	patched(path, bad, off, 4096, false);
	read_ok(bad, &j);
	ck_assert(j.truncated);
	ck_assert_uint_eq(j.end, off);
	ck_assert_uint_eq(j.nrecs, full.nrecs - 1);
	vmcj_free(&j);

	vmcj_free(&full);
	rm_tdir();
}
END_TEST

START_TEST(foreign_files)
{
	char path[256], err[512], want[600];
	struct vmcj j;
	size_t size;
	char *d;
	static const char zeros[128];

	make_tdir();
	snprintf(path, sizeof(path), "%s/passwd", tdir);
	d = read_file("/etc/passwd", &size);
	write_file(path, d, size);
	free(d);
	ck_assert_int_eq(vmcj_read(path, &j, err, sizeof(err)), -EBADMSG);
	snprintf(want, sizeof(want), "%s: not a vmacheck journal (offset 0)",
		 path);
	ck_assert_str_eq(err, want);

	write_file(path, "", 0);
	expect_error(path, 0, "empty");
	write_file(path, zeros, sizeof(zeros));
	expect_error(path, 0, "never written");
	write_file(path, "VMCJRN", 6);
	expect_error(path, 6, "cut short");
	write_file(path, "VMCJRNL2", 8);
	expect_error(path, 0, "not a vmacheck journal");

	snprintf(path, sizeof(path), "%s/missing", tdir);
	ck_assert_int_eq(vmcj_read(path, &j, err, sizeof(err)), -ENOENT);
	ck_assert(strncmp(err, path, strlen(path)) == 0);
	ck_assert_int_eq(vmcj_read(tdir, &j, err, sizeof(err)), -EISDIR);
	/* A tiny error buffer is never overrun; no buffer at all is fine. */
	ck_assert_int_eq(vmcj_read(tdir, &j, err, 4), -EISDIR);
	ck_assert_uint_eq(strlen(err), 3);
	ck_assert_int_eq(vmcj_read(tdir, &j, NULL, 0), -EISDIR);
	rm_tdir();
}
END_TEST

/* ---- fork ------------------------------------------------------------- */

static void expect_texts(const char *path, const char *const *texts, int n)
{
	struct vmcj j;
	int k;

	read_ok(path, &j);
	ck_assert_uint_eq(j.nrecs, (size_t)n);
	for (k = 0; k < n; k++) {
		ck_assert_uint_eq(j.recs[k].len, strlen(texts[k]));
		ck_assert(memcmp(j.recs[k].payload, texts[k], j.recs[k].len) == 0);
	}
	vmcj_free(&j);
}

START_TEST(fork_child_gets_its_own_file)
{
	char ppath[256], cpath[256];
	pid_t pid;
	int status;
	struct stat a, b;
	struct vmcj j;
	static const char *const ptexts[] = { "parent-1", "parent-2" };
	static const char *const ctexts[] = { "child-1", "child-2" };

	make_tdir();
	jpath(ppath, sizeof(ppath), tdir, getpid());
	ck_assert_int_eq(vmc_journal_open(tdir, getpid(), getppid()), 0);
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_PROCESS, "parent-1", 8), 0);
	vmc_journal_atfork_prepare();
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (vmc_journal_reopen_child(tdir, getpid(), getppid()) ||
		    vmc_journal_append(VMC_JREC_PROCESS, "child-1", 7) ||
		    vmc_journal_append(VMC_JREC_PROCESS, "child-2", 7))
			_exit(1);
		vmc_journal_close();
		_exit(0);
	}
	vmc_journal_atfork_parent();
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(vmc_journal_append(VMC_JREC_PROCESS, "parent-2", 8), 0);
	vmc_journal_close();

	jpath(cpath, sizeof(cpath), tdir, pid);
	ck_assert_int_eq(stat(ppath, &a), 0);
	ck_assert_int_eq(stat(cpath, &b), 0);
	ck_assert(a.st_ino != b.st_ino);
	expect_texts(ppath, ptexts, 2);
	expect_texts(cpath, ctexts, 2);
	read_ok(cpath, &j);
	ck_assert_uint_eq(j.pid, (uint64_t)pid);
	ck_assert_uint_eq(j.ppid, (uint64_t)getpid());
	vmcj_free(&j);

	/* A child that only drops the parent's journal writes nothing. */
	ck_assert_int_eq(vmc_journal_open(tdir, getpid(), getppid()), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (vmc_journal_reopen_child(NULL, getpid(), getppid()) ||
		    vmc_journal_append(VMC_JREC_PROCESS, "x", 1) != -EBADF)
			_exit(1);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	vmc_journal_close();
	read_ok(ppath, &j);
	ck_assert_uint_eq(j.nrecs, 0);
	vmcj_free(&j);
	rm_tdir();
}
END_TEST

/* ---- a program that closes the journal's descriptor ------------------- */

static int find_fd(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char link[512], p[320];
	int fd = -1;

	ck_assert(d != NULL);
	while ((e = readdir(d))) {
		ssize_t n;

		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		n = readlink(p, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, path) == 0)
			fd = atoi(e->d_name);
	}
	closedir(d);
	return fd;
}

START_TEST(descriptor_closed_by_the_program)
{
	char path[256], p[4096];
	struct rlimit rl;
	struct stat st;
	struct vmcj j;
	int fd, devnull, k;

	make_tdir();
	ck_assert_int_eq(vmc_journal_open(tdir, getpid(), getppid()), 0);
	jpath(path, sizeof(path), tdir, getpid());
	fd = find_fd(path);
	ck_assert_int_ge(fd, 0);
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur > 900)
		ck_assert_int_ge(fd, 900);   /* out of the program's way */
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

	/* The program closes it and reuses the number. */
	close(fd);
	devnull = open("/dev/null", O_RDWR);
	ck_assert_int_eq(dup2(devnull, fd), fd);
	close(devnull);
	memset(p, 'z', sizeof(p));
	for (k = 0; k < 1000; k++)     /* 4 MiB: the file must grow */
		ck_assert_int_eq(vmc_journal_append(VMC_JREC_STATS, p, sizeof(p)),
				 0);
	vmc_journal_close();
	/* Our /dev/null is still open and untouched. */
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	close(fd);

	read_ok(path, &j);
	ck_assert(!j.truncated);
	ck_assert_uint_eq(j.nrecs, 1000);
	ck_assert_uint_eq(j.file_size, 64 + 1000 * (8 + sizeof(p)));
	vmcj_free(&j);
	rm_tdir();
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("journal");

	tcase_add_test(tc, open_append_close_read);
	tcase_add_test(tc, threads_write_concurrently);
	tcase_add_test(tc, growth_and_record_limit);
	tcase_add_test(tc, view_grows_while_a_writer_is_stuck);
	tcase_add_test(tc, sigkill_loses_nothing_reported);
	tcase_add_test(tc, killed_with_a_writer_mid_copy);
	tcase_add_test(tc, truncated_at_every_length);
	tcase_add_test(tc, killed_journal_cut_anywhere);
	tcase_add_test(tc, corrupted_lengths_and_headers);
	tcase_add_test(tc, foreign_files);
	tcase_add_test(tc, fork_child_gets_its_own_file);
	tcase_add_test(tc, descriptor_closed_by_the_program);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
