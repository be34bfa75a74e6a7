/*
 * testutil.h - helpers shared by the tests, the fuzzer and the benchmarks:
 * a counting malloc-backed allocator for the shadow (tests may use libc;
 * only the preload may not), and small conveniences.
 */
#ifndef VMC_TESTUTIL_H
#define VMC_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "shadow.h"

struct test_alloc {
	size_t live_bytes, live_objects, peak_bytes;
	size_t fail_after; /* 0 = never fail; else fail the Nth alloc from now */
};

static inline void *test_alloc_fn(void *ctx, size_t size)
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

static inline void test_free_fn(void *ctx, void *p, size_t size)
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
	struct shadow_allocator a = { .alloc = test_alloc_fn,
				      .free = test_free_fn, .ctx = t };
	struct shadow_env env;
	shadow_env_default(&env);
	*t = (struct test_alloc){ 0 };
	shadow_init(sh, &a, &env);
}

/* vm.max_map_count, or the kernel's default when it cannot be read. */
static inline long test_max_map_count(void)
{
	long v = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 65530;
		fclose(f);
	}
	return v;
}

/*
 * test_slab - the allocator shape the preload's arena has: node memory
 * carved from one large anonymous mapping with MADV_HUGEPAGE (transparent
 * huge pages cut the TLB misses of a tree walk over millions of nodes) by
 * one bump pointer, a free list per node size, no per-object header.
 * Sizes it does not know go to malloc.  Counts live bytes like test_alloc.
 */
#include <sys/mman.h>

#define TEST_SLAB_CLASSES 2
struct test_slab_class {
	size_t size;
	char *mem, *bump, *end;
	void *free_list;
};

struct test_slab {
	struct test_alloc t;      /* live byte counts */
	struct test_slab_class c[TEST_SLAB_CLASSES];
};

static inline int test_slab_init(struct test_slab *s, size_t max_nodes)
{
	static const size_t sizes[TEST_SLAB_CLASSES] = {
		sizeof(struct shadow_vma), sizeof(struct shadow_region) };
	*s = (struct test_slab){ 0 };
	for (int k = 0; k < TEST_SLAB_CLASSES; k++)
		s->c[k].size = sizes[k];
	/* One mapping carved by one bump pointer (in c[0]) for all sizes. */
	struct test_slab_class *c = &s->c[0];
	size_t len = ((max_nodes * (sizes[0] + sizes[1])) + (2u << 20)) &
		     ~((2ul << 20) - 1);
	c->mem = mmap(NULL, len + (2u << 20), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->mem == MAP_FAILED)
		return -1;
	/* Align to 2 MiB so whole huge pages back the slab. */
	c->bump = (char *)(((uintptr_t)c->mem + (2u << 20) - 1) &
			   ~((uintptr_t)(2u << 20) - 1));
	c->end = c->bump + len;
	madvise(c->bump, len, MADV_HUGEPAGE);
	return 0;
}

static inline void *test_slab_alloc(void *ctx, size_t size)
{
	struct test_slab *s = ctx;
	for (int k = 0; k < TEST_SLAB_CLASSES; k++) {
		struct test_slab_class *c = &s->c[k];
		if (c->size != size)
			continue;
		void *p = c->free_list;
		/* One bump pointer for both sizes: a VMA and the region made
		 * with it sit side by side (96 + 64 bytes), so a
		 * walk of the region tree finds lines the VMA walk loaded. */
		struct test_slab_class *b = &s->c[0];
		if (p)
			c->free_list = *(void **)p;
		else if (b->bump + size <= b->end) {
			p = b->bump;
			b->bump += size;
		}
		if (p) {
			s->t.live_bytes += size;
			s->t.live_objects++;
			if (s->t.live_bytes > s->t.peak_bytes)
				s->t.peak_bytes = s->t.live_bytes;
		}
		return p;
	}
	return test_alloc_fn(&s->t, size);
}

static inline void test_slab_free(void *ctx, void *p, size_t size)
{
	struct test_slab *s = ctx;
	if (!p)
		return;
	for (int k = 0; k < TEST_SLAB_CLASSES; k++) {
		struct test_slab_class *c = &s->c[k];
		if (c->size != size)
			continue;
		*(void **)p = c->free_list;
		c->free_list = p;
		s->t.live_bytes -= size;
		s->t.live_objects--;
		return;
	}
	test_free_fn(&s->t, p, size);
}

static inline void test_slab_fini(struct test_slab *s)
{
	if (s->c[0].mem && s->c[0].mem != MAP_FAILED)
		munmap(s->c[0].mem, (size_t)(s->c[0].end - s->c[0].mem));
}

#endif
