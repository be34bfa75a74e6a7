/*
 * shadow_demo.c - the VMA model at work on this very process: a short
 * program of mapping calls (the kind that trip real programs: a MAP_FIXED
 * over live pages, an mprotect that splits, an mremap that moves, a
 * partial munmap), each applied to the kernel and to a shadow, after which
 * the shadow's view of the window is printed next to the kernel's
 * (/proc/self/maps through PROCMAP_QUERY) and the two are diffed.
 *
 *   build/examples/shadow_demo
 *
 * Each line: the call, the window drawn one character a page for both
 * sides ('.' hole, a letter per VMA), the shadow's count of regions (what
 * the program asked for) against VMAs (what the kernel has), and the diff.
 */
#include <stdio.h>

#include "harness.h"

static struct harness h;

static void show(const char *what)
{
	char s[128], k[128];
	struct diff_item items[8];
	struct diff_result res = { .items = items, .cap = 8 };
	int cmp = h_compare(&h, &res);
	h_draw(&h, false, s);
	h_draw(&h, true, k);
	uint64_t regions = 0, vmas = 0;
	for (struct shadow_region *r = shadow_region_find_next(&h.sh, h.base);
	     r && r->start < h_addr(&h, h.pages); r = shadow_region_next(r))
		regions++;
	for (struct shadow_vma *v = shadow_find_next(&h.sh, h.base);
	     v && v->start < h_addr(&h, h.pages); v = shadow_vma_next(v))
		vmas++;
	printf("%-44s shadow %s  kernel %s  regions %llu vmas %llu  %s\n", what,
	       s, k, (unsigned long long)regions, (unsigned long long)vmas,
	       cmp == 0 ? "agree" : cmp == 1 ? "BOUNDARY DIFFERS" : "DIFFER");
}

int main(void)
{
	const int RW = PROT_READ | PROT_WRITE;
	const int FIX = MAP_PRIVATE | MAP_FIXED;
	h_init(&h, 24);
	printf("window of %llu pages at %#llx\n\n", (unsigned long long)h.pages,
	       (unsigned long long)h.base);
	h_mmap(&h, 0, 8, RW, FIX);
	show("mmap 8 pages rw at 0");
	h_mmap(&h, 8, 4, RW, FIX);
	show("mmap 4 pages rw at 8 (merges: one VMA)");
	h_mprotect(&h, 2, 2, PROT_READ);
	show("mprotect 2..4 read-only (splits in 3)");
	h_mprotect(&h, 2, 2, RW);
	show("mprotect 2..4 back to rw (merges again)");
	h_touch(&h, 0, true);
	h_mmap(&h, 16, 4, RW, FIX);
	show("write page 0; mmap 16..20");
	h_mmap(&h, 4, 2, PROT_READ, FIX);
	show("MAP_FIXED over 4..6 (clobbers live pages)");
	h_mremap(&h, 16, 4, 4, MREMAP_MAYMOVE | MREMAP_FIXED, 20);
	show("mremap 16..20 -> 20..24");
	h_munmap(&h, 6, 4);
	show("munmap 6..10 (partial, splits)");
	int bad = h_munmap_addr(&h, h_addr(&h, 1) + 7, H_PAGE);
	printf("%-44s kernel and shadow both say: %s\n",
	       "munmap of an unaligned address", strerror(-bad));
	printf("\nerrno predictions wrong: %llu; boundary misses adopted: %u\n",
	       (unsigned long long)h.errno_mismatch, h.sh.boundary_misses);
	h_fini(&h);
	return h.errno_mismatch ? 1 : 0;
}
