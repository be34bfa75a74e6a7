/*
 * diff.h - compare the shadow with a kernel view, over the whole space or a
 * span, and adopt the kernel's view where they differ.
 *
 * Coverage and visible attributes (prot, shared/private, file identity
 * and offset) must agree exactly; VMA boundaries are compared separately
 * (strict mode), because some of what decides a merge cannot be seen from
 * userspace.  Each difference is classified:
 *   DIFF_MISSING_IN_KERNEL  the shadow maps pages the kernel does not
 *   DIFF_UNKNOWN_TO_SHADOW  the kernel maps pages the shadow does not know
 *   DIFF_ATTR               both map the pages, attributes differ
 *   DIFF_BOUNDARY           same pages and attributes, VMA boundaries differ
 * Nothing here allocates; items beyond the caller's capacity are counted
 * but not stored.
 */
#ifndef VMC_DIFF_H
#define VMC_DIFF_H

#include "kview.h"
#include "shadow.h"

enum diff_kind {
	DIFF_MISSING_IN_KERNEL = 1,
	DIFF_UNKNOWN_TO_SHADOW,
	DIFF_ATTR,
	DIFF_BOUNDARY,
	DIFF_NKINDS
};

struct diff_item {
	uint8_t kind;              /* enum diff_kind */
	uint64_t start, end;       /* [start, end); BOUNDARY: start = the
				    * boundary address, end = start */
	uint32_t shadow_flags;     /* visible SV_* bits, 0 if not mapped */
	uint32_t kernel_flags;
};

struct diff_result {
	uint32_t count[DIFF_NKINDS]; /* items of each kind (stored or not) */
	uint32_t n, cap;             /* stored items */
	struct diff_item *items;     /* caller's array (may be NULL, cap 0) */
};

/* Compare [start, end) (0, UINT64_MAX for all).  kv must hold every kernel
 * VMA intersecting the span, sorted.  The shadow's own memory can be
 * excluded by the caller by passing a span that avoids it.  Returns the
 * number of coverage and attribute differences (boundary ones excluded). */
int shadow_diff(const struct shadow *sh, const struct kview *kv,
		uint64_t start, uint64_t end, struct diff_result *res);

/* shadow_diff() from `first`, the shadow's first VMA that ends after start
 * (shadow_find_next(sh, start), NULL if none), which the caller knows. */
int shadow_diff_from(const struct shadow_vma *first, const struct kview *kv,
		     uint64_t start, uint64_t end, struct diff_result *res);

/* Make [start, end) of the shadow agree with kv (see shadow_adopt()).
 * Pages the shadow did not know get regions of `origin`.  Returns 0 or
 * -ENOMEM. */
int shadow_diff_adopt(struct shadow *sh, const struct kview *kv,
		      uint64_t start, uint64_t end, uint8_t origin);

/* Convert one kernel entry into a shadow description. */
void diff_desc_from_entry(const struct kview *kv, const struct kview_entry *e,
			  struct shadow_vma_desc *d);

#endif
