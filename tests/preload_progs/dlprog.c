/*
 * dlprog.c - dlopen/dlclose under the preload, for
 * tests/test_preload_run.c: 30 rounds of map a region, dlopen a library
 * the program does not link (libz.so.1, else libm.so.6), call a function
 * of it, map another region, dlclose it, then grow and unmap both
 * regions; a second thread maps and unmaps all the while.  The loader's
 * own mmap/munmap are not interposed: the preload learns of the images it
 * added and removed by its check after each dlopen/dlclose.
 *
 * Output, deterministic: "dlprog: 30 rounds with LIB, ok".
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096ul
#define ROUNDS 30

static volatile int stop;
static int thread_bad;

static void *mapper(void *arg)
{
	(void)arg;
	for (unsigned i = 0; !stop; i++) {
		size_t pages = 1 + i % 4;
		char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			thread_bad = 1;
			break;
		}
		p[0] = 1;
		if (mprotect(p, PAGE, PROT_READ) || munmap(p, pages * PAGE))
			thread_bad = 1;
	}
	return NULL;
}

static char *map_filled(size_t pages, char c)
{
	char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		memset(p, c, pages * PAGE);
	return p;
}

int main(void)
{
	const char *lib = "libz.so.1", *sym = "zlibVersion";
	void *h = dlopen(lib, RTLD_NOW);
	if (!h) {
		lib = "libm.so.6";
		sym = "cbrt";
	} else {
		dlclose(h);
	}
	pthread_t t;
	if (pthread_create(&t, NULL, mapper, NULL))
		return 2;
	int bad = 0;
	for (int r = 0; r < ROUNDS; r++) {
		char *a = map_filled(3, 'a');
		h = dlopen(lib, r % 2 ? RTLD_NOW : RTLD_LAZY);
		void *f = h ? dlsym(h, sym) : NULL;
		if (!f) {
			fprintf(stderr, "dlprog: %s: %s\n", lib, dlerror());
			bad = 1;
			break;
		}
		if (!strcmp(sym, "zlibVersion")) {
			const char *v = ((const char *(*)(void))f)();
			bad |= !v || !*v;
		} else {
			bad |= ((double (*)(double))f)(27.0) != 3.0;
		}
		/* A library that does not exist: dlopen fails cleanly. */
		bad |= dlopen("libvmacheck-no-such-library.so", RTLD_NOW) != NULL;
		char *b = map_filled(2, 'b');
		if (a == MAP_FAILED || b == MAP_FAILED || dlclose(h)) {
			bad = 1;
			break;
		}
		char *a2 = mremap(a, 3 * PAGE, 5 * PAGE, MREMAP_MAYMOVE);
		char *b2 = mremap(b, 2 * PAGE, 4 * PAGE, MREMAP_MAYMOVE);
		if (a2 == MAP_FAILED || b2 == MAP_FAILED) {
			bad = 1;
			break;
		}
		bad |= a2[3 * PAGE - 1] != 'a' || b2[2 * PAGE - 1] != 'b';
		bad |= munmap(a2, 5 * PAGE) || munmap(b2, 4 * PAGE);
	}
	stop = 1;
	pthread_join(t, NULL);
	printf("dlprog: %d rounds with %s, %s\n", ROUNDS, lib,
	       bad || thread_bad ? "BAD" : "ok");
	return bad || thread_bad ? 1 : 0;
}
