/*
 * adopt.c - taking VMAs from the kernel's view: shadow_absorb() seeds a
 * free range (init baseline, foreign mappings found by a check), and
 * shadow_adopt() makes a span agree with the kernel exactly (coverage,
 * visible attributes and boundaries), keeping what the kernel does not
 * show (anon_vma identity, open file description, hidden flags) from the
 * shadow VMAs that covered the same pages.
 */
#include "shadow_internal.h"

/* Flags for a VMA the shadow knows nothing about: the visible bits, and
 * best guesses for the rest (MAY* all set; a private writable VMA is
 * accounted; a shared one is VM_SHARED when writable). */
static uint32_t guess_flags(const struct shadow_vma_desc *d)
{
	uint32_t f = (d->flags & (SV_PROT_MASK | SV_MAYSHARE)) | SV_MAYREAD |
		     SV_MAYWRITE | SV_MAYEXEC;
	if (f & SV_MAYSHARE) {
		if (f & SV_WRITE)
			f |= SV_SHARED;
	} else if (f & SV_WRITE) {
		f |= SV_ACCOUNT;
	}
	if (d->name == SHADOW_NAME_STACK)
		f |= SV_GROWSDOWN;
	if (d->name == SHADOW_NAME_VVAR || d->name == SHADOW_NAME_VDSO ||
	    d->name == SHADOW_NAME_VSYSCALL)
		f |= SV_IO | SV_DONTEXPAND;
	return f | (d->flags & ~(SV_PROT_MASK | SV_MAYSHARE | SV_SHARED));
}

static void fill_from_desc(struct shadow_vma *v, const struct shadow_vma_desc *d)
{
	v->start = d->start;
	v->end = d->end;
	v->flags = guess_flags(d);
	v->pgoff = d->pgoff;
	v->dev = d->dev;
	v->ino = d->ino;
	v->file_id = d->file_id;
	v->anon_id = d->anon_id;
	bool file = d->ino || d->dev || d->name == SHADOW_NAME_FILE ||
		    d->name == SHADOW_NAME_SHMEM;
	if (file && !v->file_id)
		v->file_id = SHADOW_FILE_UNKNOWN;
	if (!file && !(d->flags & SV_MAYSHARE) && d->pgoff == 0)
		v->pgoff = d->start >> SH_PAGE_SHIFT;
}

int shadow_absorb(struct shadow *sh, const struct shadow_vma_desc *d,
		  uint8_t origin, uint32_t stack_id)
{
	if (d->start >= d->end || ((d->start | d->end) & ~SH_PAGE_MASK))
		return -EINVAL;
	if (vma_range_used(sh, d->start, d->end))
		return -EEXIST;
	struct shadow_vma *v = vma_alloc(sh);
	if (!v)
		return -ENOMEM;
	if (region_insert(sh, d->start, d->end, origin, stack_id,
			  SHADOW_CALL_SCAN, d->name)) {
		vma_free(sh, v);
		return -ENOMEM;
	}
	fill_from_desc(v, d);
	vma_insert(sh, v);
	SHADOW_VALIDATE(sh, "shadow_absorb");
	return 0;
}

/* Do the shadow and the kernel show the same thing for [d->start, d->end)
 * with exactly one VMA? */
static bool same_vma(const struct shadow_vma *v, const struct shadow_vma_desc *d)
{
	if (!v || v->start != d->start || v->end != d->end)
		return false;
	if ((v->flags & (SV_PROT_MASK | SV_MAYSHARE)) !=
	    (d->flags & (SV_PROT_MASK | SV_MAYSHARE)))
		return false;
	bool file = d->ino || d->dev;
	if (file && ((v->ino != d->ino && v->ino != SHADOW_INO_UNKNOWN) ||
		     v->pgoff != d->pgoff))
		return false;
	return true;
}

int shadow_adopt(struct shadow *sh, uint64_t start, uint64_t end,
		 const struct shadow_vma_desc *kv, size_t n, uint8_t origin)
{
	if (n) {
		if (kv[0].start < start)
			start = kv[0].start;
		if (kv[n - 1].end > end)
			end = kv[n - 1].end;
	}
	uint64_t cursor = start;
	int err = 0;
	for (size_t i = 0; i <= n; i++) {
		uint64_t ks = i < n ? kv[i].start : end;
		/* Pages the kernel does not have in [cursor, ks). */
		if (ks > cursor && vma_range_used(sh, cursor, ks)) {
			region_cut(sh, cursor, ks, SHADOW_PIECE_UNMAPPED, NULL);
			if (vma_clear_range(sh, cursor, ks, NULL))
				err = -ENOMEM;
		}
		if (i == n)
			break;
		const struct shadow_vma_desc *d = &kv[i];
		cursor = d->end;
		struct shadow_vma *old = shadow_find(sh, d->start);
		if (same_vma(old, d))
			continue;
		/* The donor: the shadow VMA over the first mapped page. */
		struct shadow_vma donor = { 0 };
		bool have = false;
		struct shadow_vma *o = shadow_find_next(sh, d->start);
		if (o && o->start < d->end) {
			donor = *o;
			have = true;
		}
		bool unknown_pages = false;
		for (uint64_t a = d->start; a < d->end;) {
			struct shadow_vma *w = shadow_find_next(sh, a);
			if (!w || w->start >= d->end) {
				unknown_pages = true;
				break;
			}
			if (w->start > a)
				unknown_pages = true;
			a = w->end;
		}
		struct shadow_vma *nv = vma_alloc(sh);
		if (!nv)
			return -ENOMEM;
		fill_from_desc(nv, d);
		if (have) {
			bool file = d->ino || d->dev;
			bool same_obj = file ? (donor.ino == d->ino ||
						donor.ino == SHADOW_INO_UNKNOWN)
					     : !donor.ino && !donor.dev;
			if (same_obj) {
				uint32_t vis = SV_PROT_MASK | SV_MAYSHARE;
				nv->flags = (donor.flags & ~vis &
					     ~SV_EDGES_UNSURE) |
					    (d->flags & vis);
				if (!(nv->flags & SV_MAYSHARE))
					nv->flags &= ~SV_SHARED;
				nv->file_id = donor.file_id;
				nv->anon_id = donor.anon_id;
				if (!file) {
					int64_t delta = (int64_t)(d->start -
								  donor.start);
					nv->pgoff = donor.pgoff +
						    (uint64_t)(delta >>
							       SH_PAGE_SHIFT);
				}
			}
		}
		/* A boundary the shadow had wrong, not pages it never knew. */
		if (have)
			sh->boundary_misses++;
		if (vma_remove_range(sh, d->start, d->end, NULL)) {
			vma_free(sh, nv);
			return -ENOMEM;
		}
		vma_insert(sh, nv);
		if (unknown_pages &&
		    region_fill(sh, d->start, d->end, origin, 0,
				SHADOW_CALL_SCAN, REGION_GROW_NONE))
			err = -ENOMEM;
	}
	/* The boundaries here are the kernel's now. */
	shadow_edges_confirm(sh, start, end);
	/* Regions over pages no longer mapped were cut above; regions that
	 * now lie over kernel pages are kept. */
	SHADOW_VALIDATE(sh, "shadow_adopt");
	return err;
}
