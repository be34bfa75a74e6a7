/*
 * map_count_pressure.c - a guard page after every 4 KiB slot of a pool,
 * made by mprotect: each call splits the pool's VMA, and the VMA count
 * climbs past half of vm.max_map_count, where mmap and mprotect start to
 * fail with ENOMEM not far ahead.  `map-count-pressure`, naming the
 * call site that split most.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static long max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long n = 65530;
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = 65530;
		fclose(f);
	}
	return n;
}

__attribute__((noinline)) static int add_guard(char *page)
{
	return mprotect(page, 4096, PROT_NONE); /* expect: map-count-pressure in add_guard */
}

int main(void)
{
	long slots = max_map_count() / 4 + 64; /* 2 VMAs per slot: > 50% */
	char *pool = mmap(NULL, (size_t)slots * 2 * 4096,
			  PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	if (pool == MAP_FAILED)
		return 1;
	long guards = 0;
	for (long i = 0; i < slots; i++)
		guards += add_guard(pool + (2 * i + 1) * 4096) == 0;
	printf("map_count_pressure: %ld guard pages\n", guards);
	munmap(pool, (size_t)slots * 2 * 4096);
	return 0;
}
