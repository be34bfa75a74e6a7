/*
 * diff.c - the shadow against a kernel view: one merge-like sweep over
 * both ordered lists, cut at every boundary of either side, so that the
 * cost is linear in the number of VMAs in the span.
 */
#include "diff.h"
#include "shadow_internal.h"

#define VISIBLE (SV_PROT_MASK | SV_MAYSHARE)

static void add_item(struct diff_result *res, uint8_t kind, uint64_t start,
		     uint64_t end, uint32_t sf, uint32_t kf)
{
	/* Coalesce with the previous item of the same kind when contiguous. */
	if (res->n && kind != DIFF_BOUNDARY) {
		struct diff_item *p = &res->items[res->n - 1];
		if (p->kind == kind && p->end == start && p->shadow_flags == sf &&
		    p->kernel_flags == kf) {
			p->end = end;
			return;
		}
	}
	res->count[kind]++;
	if (res->n < res->cap)
		res->items[res->n++] = (struct diff_item){
			.kind = kind, .start = start, .end = end,
			.shadow_flags = sf, .kernel_flags = kf };
}

static bool is_file(const struct kview_entry *e)
{
	return e->ino || e->dev;
}

/* Do the visible attributes agree on segment [a, b) of v and e? */
static bool attrs_agree(const struct shadow_vma *v, const struct kview_entry *e,
			uint64_t a)
{
	if ((v->flags & VISIBLE) != (e->flags & VISIBLE))
		return false;
	if (!is_file(e))
		return v->ino == 0 && v->dev == 0;
	if (v->ino != SHADOW_INO_UNKNOWN && (v->ino != e->ino || v->dev != e->dev))
		return false;
	uint64_t so = (v->pgoff << SH_PAGE_SHIFT) + (a - v->start);
	uint64_t ko = e->offset + (a - e->start);
	return so == ko;
}

int shadow_diff(const struct shadow *sh, const struct kview *kv,
		uint64_t start, uint64_t end, struct diff_result *res)
{
	return shadow_diff_from(shadow_find_next(sh, start), kv, start, end,
				res);
}

int shadow_diff_from(const struct shadow_vma *first, const struct kview *kv,
		     uint64_t start, uint64_t end, struct diff_result *res)
{
	res->n = 0;
	for (int i = 0; i < DIFF_NKINDS; i++)
		res->count[i] = 0;
	const struct shadow_vma *v = first;
	size_t k = 0;
	while (k < kv->n && kv->v[k].end <= start)
		k++;
	uint64_t a = start;
	bool prev_both = false;
	while (a < end) {
		if (v && v->end <= a)
			v = shadow_vma_next(v);
		while (k < kv->n && kv->v[k].end <= a)
			k++;
		const struct kview_entry *e = k < kv->n ? &kv->v[k] : NULL;
		bool sin = v && v->start <= a, kin = e && e->start <= a;
		/* Next cut: the nearest boundary of either side. */
		uint64_t b = end;
		if (v) {
			uint64_t c = sin ? v->end : v->start;
			if (c < b)
				b = c;
		}
		if (e) {
			uint64_t c = kin ? e->end : e->start;
			if (c < b)
				b = c;
		}
		if (!v && !e)
			b = end;
		if (sin && kin) {
			if (!attrs_agree(v, e, a))
				add_item(res, DIFF_ATTR, a, b, v->flags & VISIBLE,
					 e->flags & VISIBLE);
			/* A boundary one side has and the other lacks. */
			bool sb = v->start == a, kb = e->start == a;
			if (prev_both && sb != kb)
				add_item(res, DIFF_BOUNDARY, a, a,
					 v->flags & VISIBLE, e->flags & VISIBLE);
		} else if (sin) {
			add_item(res, DIFF_MISSING_IN_KERNEL, a, b,
				 v->flags & VISIBLE, 0);
		} else if (kin) {
			add_item(res, DIFF_UNKNOWN_TO_SHADOW, a, b, 0,
				 e->flags & VISIBLE);
		}
		prev_both = sin && kin;
		if (b <= a)
			break;
		a = b;
	}
	return (int)(res->count[DIFF_MISSING_IN_KERNEL] +
		     res->count[DIFF_UNKNOWN_TO_SHADOW] +
		     res->count[DIFF_ATTR]);
}

void diff_desc_from_entry(const struct kview *kv, const struct kview_entry *e,
			  struct shadow_vma_desc *d)
{
	(void)kv;
	*d = (struct shadow_vma_desc){
		.start = e->start, .end = e->end,
		.flags = e->flags & VISIBLE,
		.pgoff = e->offset >> SH_PAGE_SHIFT,
		.dev = e->dev, .ino = e->ino,
		.name = e->name_kind,
	};
	if (d->flags & SV_MAYSHARE && (d->flags & SV_WRITE))
		d->flags |= SV_SHARED;
}

int shadow_diff_adopt(struct shadow *sh, const struct kview *kv,
		      uint64_t start, uint64_t end, uint8_t origin)
{
	enum { CHUNK = 64 };
	struct shadow_vma_desc d[CHUNK];
	size_t k = 0;
	while (k < kv->n && kv->v[k].end <= start)
		k++;
	uint64_t cursor = start;
	for (;;) {
		size_t n = 0;
		while (k < kv->n && kv->v[k].start < end && n < CHUNK)
			diff_desc_from_entry(kv, &kv->v[k++], &d[n++]);
		bool last = !(k < kv->n && kv->v[k].start < end);
		uint64_t cend = last ? end : d[n - 1].end;
		int err = shadow_adopt(sh, cursor, cend, d, n, origin);
		if (err)
			return err;
		if (last)
			return 0;
		cursor = cend;
	}
}
