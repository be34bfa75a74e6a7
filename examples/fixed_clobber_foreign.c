/*
 * fixed_clobber_foreign.c - MAP_FIXED over memory the program never
 * mapped itself, which glibc did: the guard page of another thread's
 * stack (as some language runtimes do to the threads they adopt), and
 * the unused tail of a malloc arena's heap that a second thread's malloc
 * created.  vmacheck reports each `fixed-clobber` and says whose memory
 * it was, from its shape: the stack by its guard page, the heap by its
 * 64 MiB alignment.
 *
 *     vmacheck -- build/examples/fixed_clobber_foreign
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PG 4096ul
#define HEAP (64ul << 20)

static pthread_barrier_t ready, done;
static void *arena_block;

static void *worker(void *arg)
{
	(void)arg;
	arena_block = malloc(1000); /* this thread's arena: a new heap */
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&done);
	free(arena_block);
	return NULL;
}

int main(void)
{
	pthread_t t;
	pthread_barrier_init(&ready, NULL, 2);
	pthread_barrier_init(&done, NULL, 2);
	pthread_create(&t, NULL, worker, NULL);
	pthread_barrier_wait(&ready);
	pthread_attr_t at;
	void *stack;
	size_t size, guard;
	pthread_getattr_np(t, &at);
	pthread_attr_getstack(&at, &stack, &size);
	pthread_attr_getguardsize(&at, &guard);
	pthread_attr_destroy(&at);
	/* The guard page below the worker's stack, made PROT_NONE again
	 * (the same protection, other pages: still a clobber). */
	char *g = (char *)stack - guard;
	void *r1 = mmap(g, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0); /* expect: fixed-clobber in main */
	/* The last page of the arena's heap, reserved and unused. */
	char *heap = (char *)((uintptr_t)arena_block & ~(HEAP - 1));
	void *r2 = mmap(heap + HEAP - PG, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0); /* expect: fixed-clobber in main */
	printf("fixed_clobber_foreign: guard %s, heap tail %s\n",
	       r1 == MAP_FAILED ? "failed" : "replaced",
	       r2 == MAP_FAILED ? "failed" : "replaced");
	pthread_barrier_wait(&done);
	pthread_join(t, NULL);
	if (r1 != MAP_FAILED)
		munmap(r1, PG);
	if (r2 != MAP_FAILED)
		munmap(r2, PG);
	return 0;
}
