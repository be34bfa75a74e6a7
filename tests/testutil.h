/*
 * testutil.h - helpers shared by the tests, the fuzzer and the benchmarks:
 * a counting malloc-backed allocator for the shadow (tests may use libc;
 * only the preload may not), and small conveniences.
 */
#ifndef VMC_TESTUTIL_H
#define VMC_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>

#include "shadow.h"

struct test_alloc {
	size_t live_bytes, live_objects, peak_bytes;
	size_t fail_after; /* 0 = never fail; else fail the Nth alloc from now */
};

static void *test_alloc_fn(void *ctx, size_t size)
{
	struct test_alloc *t = ctx;
	if (t->fail_after) {
		if (--t->fail_after == 0)
			return NULL;
	}
	void *p = malloc(size);
	if (p) {
		t->live_bytes += size;
		t->live_objects++;
		if (t->live_bytes > t->peak_bytes)
			t->peak_bytes = t->live_bytes;
	}
	return p;
}

static void test_free_fn(void *ctx, void *p, size_t size)
{
	struct test_alloc *t = ctx;
	if (!p)
		return;
	t->live_bytes -= size;
	t->live_objects--;
	free(p);
}

static inline void test_shadow_init(struct shadow *sh, struct test_alloc *t)
{
	struct shadow_allocator a = { test_alloc_fn, test_free_fn, t };
	struct shadow_env env;
	shadow_env_default(&env);
	*t = (struct test_alloc){ 0 };
	shadow_init(sh, &a, &env);
}

#endif
