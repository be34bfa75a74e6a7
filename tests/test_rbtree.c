/*
 * test_rbtree.c - unit tests for shadow/rbtree.c.
 *
 * Items carry a key (the order), a value, and two augmented fields: the
 * largest value in the subtree and the subtree size.  Random insert/erase/
 * in-place-change sequences run against a reference array (present[key],
 * val[key]) and, after every operation, the tree is checked against it:
 * in-order keys and values, rb_check(), parent links, and every node's
 * augmented fields against a brute-force recomputation.  Each sequence runs
 * with three callbacks: max only (early stops happen), size only (every
 * ancestor changes) and both.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rbtree.h"

struct item {
	struct rb_node rb;
	long key, val;
	long max;	/* largest val in the subtree */
	long size;	/* nodes in the subtree */
};

#define ITEM(n) rb_entry_safe(n, struct item, rb)

/* ck_assert records a mark point (a write to Check's pipe) on every success;
 * the per-operation checks below run millions of times, so they only call
 * into Check when they fail. */
#define REQUIRE(cond, fmt, ...)                                              \
	do {                                                                 \
		if (!(cond))                                                 \
			ck_abort_msg("line %d: %s: " fmt, __LINE__, #cond,   \
				     ##__VA_ARGS__);                         \
	} while (0)

static long sub_max(const struct rb_node *n)
{
	return n ? ITEM(n)->max : LONG_MIN;
}

static long sub_size(const struct rb_node *n)
{
	return n ? ITEM(n)->size : 0;
}

static unsigned long update_calls;

static int upd_max(struct rb_node *n)
{
	struct item *it = ITEM(n);
	long m = it->val;

	update_calls++;
	if (sub_max(n->left) > m)
		m = sub_max(n->left);
	if (sub_max(n->right) > m)
		m = sub_max(n->right);
	if (m == it->max)
		return 0;
	it->max = m;
	return 1;
}

static int upd_size(struct rb_node *n)
{
	struct item *it = ITEM(n);
	long s = 1 + sub_size(n->left) + sub_size(n->right);

	update_calls++;
	if (s == it->size)
		return 0;
	it->size = s;
	return 1;
}

static int upd_both(struct rb_node *n)
{
	int a = upd_max(n);
	int b = upd_size(n);

	update_calls--;
	return a | b;
}

static const rb_update_fn updaters[] = { upd_max, upd_size, upd_both };

/* Which augmented fields the current updater maintains. */
static int has_max(rb_update_fn f) { return f == upd_max || f == upd_both; }
static int has_size(rb_update_fn f) { return f == upd_size || f == upd_both; }

/* Standard descent: equal keys go right. */
static void tree_insert(struct rb_root *root, struct item *it, rb_update_fn f)
{
	struct rb_node **link = &root->node, *parent = NULL;

	while (*link) {
		parent = *link;
		link = it->key < ITEM(parent)->key ? &parent->left
						   : &parent->right;
	}
	/* Poison the augmented fields: insert must compute them. */
	it->max = 0x5a5a5a5a;
	it->size = -77;
	rb_link_node(&it->rb, parent, link);
	rb_insert(root, &it->rb, f);
}

static struct item *tree_find(struct rb_root *root, long key)
{
	struct rb_node *n = root->node;

	while (n) {
		struct item *it = ITEM(n);
		if (key == it->key)
			return it;
		n = key < it->key ? n->left : n->right;
	}
	return NULL;
}

/* Brute force: recompute max and size of the subtree from scratch and
 * compare with the stored fields.  Returns the subtree size. */
static long brute(const struct rb_node *n, rb_update_fn f, long *max_out)
{
	long lmax, rmax, ls, rs, m;

	if (!n) {
		*max_out = LONG_MIN;
		return 0;
	}
	ls = brute(n->left, f, &lmax);
	rs = brute(n->right, f, &rmax);
	m = ITEM(n)->val;
	if (lmax > m)
		m = lmax;
	if (rmax > m)
		m = rmax;
	if (has_max(f))
		REQUIRE(ITEM(n)->max == m, "key %ld: max %ld, want %ld",
			ITEM(n)->key, ITEM(n)->max, m);
	if (has_size(f))
		REQUIRE(ITEM(n)->size == ls + rs + 1,
			"key %ld: size %ld, want %ld", ITEM(n)->key,
			ITEM(n)->size, ls + rs + 1);
	*max_out = m;
	return ls + rs + 1;
}

/* Reference model: keys 0..nkeys-1, present or not, each with a value. */
struct model {
	long nkeys, count;
	unsigned char *present;
	struct item *items; /* items[k] is the node for key k */
};

static void check_tree(struct rb_root *root, const struct model *m,
		       rb_update_fn f)
{
	const char *why = NULL;
	int bh = rb_check(root, &why);
	struct rb_node *n;
	long k = -1, seen = 0, maxv;

	REQUIRE(bh >= 0, "rb_check: %s", why ? why : "?");
	if (m->count == 0)
		REQUIRE(!root->node && bh == 0, "bh %d", bh);
	/* Forward walk in key order. */
	for (n = rb_first(root); n; n = rb_next(n)) {
		for (k++; k < m->nkeys && !m->present[k]; k++)
			;
		REQUIRE(k < m->nkeys, "extra node key %ld", ITEM(n)->key);
		REQUIRE(ITEM(n) == &m->items[k], "key %ld, want %ld",
			ITEM(n)->key, k);
		seen++;
	}
	REQUIRE(seen == m->count, "%ld nodes, want %ld", seen, m->count);
	/* Backward walk. */
	seen = 0;
	k = m->nkeys;
	for (n = rb_last(root); n; n = rb_prev(n)) {
		for (k--; k >= 0 && !m->present[k]; k--)
			;
		REQUIRE(k >= 0, "extra node key %ld", ITEM(n)->key);
		REQUIRE(ITEM(n) == &m->items[k], "key %ld, want %ld",
			ITEM(n)->key, k);
		seen++;
	}
	REQUIRE(seen == m->count, "%ld nodes, want %ld", seen, m->count);
	seen = brute(root->node, f, &maxv);
	REQUIRE(seen == m->count, "%ld nodes, want %ld", seen, m->count);
}

/* xorshift64*: deterministic across libcs. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static long rng_below(long n)
{
	return (long)(rng() % (uint64_t)n);
}

static void model_init(struct model *m, long nkeys)
{
	m->nkeys = nkeys;
	m->count = 0;
	m->present = calloc((size_t)nkeys, 1);
	m->items = calloc((size_t)nkeys, sizeof(*m->items));
	ck_assert_ptr_nonnull(m->present);
	ck_assert_ptr_nonnull(m->items);
	for (long k = 0; k < nkeys; k++)
		m->items[k].key = k;
}

static void model_free(struct model *m)
{
	free(m->present);
	free(m->items);
}

/*
 * Random operations; the insert probability swings between 10% and 90% in
 * phases so the tree repeatedly grows large and drains to empty.  A third of
 * the operations on a present key change its value in place and propagate.
 */
static void random_run(uint64_t seed, rb_update_fn f, long nkeys, long ops)
{
	struct rb_root root = { NULL };
	struct model m;

	rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	model_init(&m, nkeys);
	for (long i = 0; i < ops; i++) {
		long phase = (i / (nkeys * 2)) % 2;
		long k = rng_below(nkeys);
		int want_insert = rng_below(100) < (phase ? 10 : 90);
		struct item *it = &m.items[k];

		if (!m.present[k]) {
			if (!want_insert)
				continue; /* an erase of nothing: skip */
			it->val = rng_below(1000000) - 500000;
			tree_insert(&root, it, f);
			m.present[k] = 1;
			m.count++;
		} else if (rng_below(3) == 0) {
			long old = it->val;
			do
				it->val = rng_below(1000000) - 500000;
			while (it->val == old);
			rb_propagate(&it->rb, f);
		} else if (!want_insert) {
			REQUIRE(tree_find(&root, k) == it, "key %ld", k);
			rb_erase(&root, &it->rb, f);
			m.present[k] = 0;
			m.count--;
		} else {
			continue;
		}
		check_tree(&root, &m, f);
	}
	/* Drain in random order. */
	while (m.count) {
		long k = rng_below(nkeys);
		if (!m.present[k])
			continue;
		rb_erase(&root, &m.items[k].rb, f);
		m.present[k] = 0;
		m.count--;
		check_tree(&root, &m, f);
	}
	ck_assert_ptr_null(root.node);
	model_free(&m);
}

/* Loop index i: updater i % 3, seed i / 3. */
START_TEST(test_random_ops)
{
	rb_update_fn f = updaters[_i % 3];
	uint64_t seed = (uint64_t)(_i / 3) + 1;

	random_run(seed, f, 300, 40000);
	random_run(seed + 1000, f, 3000, 40000);
}
END_TEST

/* rb_link_after: random keys linked after their predecessor (found in the
 * model, not the tree; NULL for a new first), mixed with erases, with all
 * three callbacks: the order, colours and augmentation stay right. */
START_TEST(test_link_after)
{
	rb_update_fn f = updaters[_i % 3];
	struct rb_root root = { NULL };
	struct model m;

	rng_state = (uint64_t)_i * 0x9E3779B97F4A7C15ULL + 7;
	model_init(&m, 500);
	for (long i = 0; i < 20000; i++) {
		long k = rng_below(m.nkeys);
		struct item *it = &m.items[k];
		if (m.present[k]) {
			if (rng_below(2)) {
				rb_erase(&root, &it->rb, f);
				m.present[k] = 0;
				m.count--;
				check_tree(&root, &m, f);
			}
			continue;
		}
		long p = k - 1;
		while (p >= 0 && !m.present[p])
			p--;
		it->val = rng_below(1000000) - 500000;
		rb_link_after(&root, p >= 0 ? &m.items[p].rb : NULL, &it->rb);
		rb_insert(&root, &it->rb, f);
		m.present[k] = 1;
		m.count++;
		check_tree(&root, &m, f);
	}
	model_free(&m);
}
END_TEST

/* Small key space: many erases of the root, of nodes with one child and of
 * the last node. */
START_TEST(test_random_small)
{
	rb_update_fn f = updaters[_i % 3];

	random_run((uint64_t)_i + 100, f, 12, 20000);
}
END_TEST

/* A plain tree: update NULL everywhere. */
START_TEST(test_plain_tree)
{
	struct rb_root root = { NULL };
	struct model m;
	const char *why = NULL;

	model_init(&m, 2000);
	rng_state = 42;
	for (long i = 0; i < 20000; i++) {
		long k = rng_below(m.nkeys);
		struct item *it = &m.items[k];
		if (m.present[k]) {
			rb_erase(&root, &it->rb, NULL);
			m.present[k] = 0;
			m.count--;
		} else {
			tree_insert(&root, it, NULL);
			m.present[k] = 1;
			m.count++;
		}
		if (i % 97 == 0)
			ck_assert_msg(rb_check(&root, &why) >= 0, "%s", why);
	}
	rb_propagate(root.node, NULL); /* no-op, must not crash */
	ck_assert_msg(rb_check(&root, &why) >= 0, "%s", why);
	model_free(&m);
}
END_TEST

/*
 * Empty tree, then one node:
 *   (empty)   ->   [5]   ->   (empty)
 */
START_TEST(test_empty_and_single)
{
	struct rb_root root = { NULL };
	struct item a = { .key = 5, .val = 9 };
	const char *why = NULL;

	ck_assert_ptr_null(rb_first(&root));
	ck_assert_ptr_null(rb_last(&root));
	ck_assert_int_eq(rb_check(&root, &why), 0);
	ck_assert_int_eq(rb_check(&root, NULL), 0);

	tree_insert(&root, &a, upd_both);
	ck_assert_ptr_eq(root.node, &a.rb);
	ck_assert(rb_is_black(&a.rb));
	ck_assert_ptr_null(rb_parent(&a.rb));
	ck_assert_ptr_eq(rb_first(&root), &a.rb);
	ck_assert_ptr_eq(rb_last(&root), &a.rb);
	ck_assert_ptr_null(rb_next(&a.rb));
	ck_assert_ptr_null(rb_prev(&a.rb));
	ck_assert_int_eq(rb_check(&root, &why), 1);
	ck_assert_int_eq(a.max, 9);
	ck_assert_int_eq(a.size, 1);

	a.val = -3;
	rb_propagate(&a.rb, upd_both);
	ck_assert_int_eq(a.max, -3);

	rb_erase(&root, &a.rb, upd_both);
	ck_assert_ptr_null(root.node);
	ck_assert_int_eq(rb_check(&root, &why), 0);

	/* And again with no callback. */
	tree_insert(&root, &a, NULL);
	ck_assert_int_eq(rb_check(&root, &why), 1);
	rb_erase(&root, &a.rb, NULL);
	ck_assert_ptr_null(root.node);
}
END_TEST

/* rb_next / rb_prev visit every node once, both ways, on trees of every size
 * up to 64 built in ascending, descending and shuffled order. */
START_TEST(test_walk_both_ways)
{
	struct item items[64];

	for (int order = 0; order < 3; order++) {
		for (int size = 0; size <= 64; size++) {
			struct rb_root root = { NULL };
			struct rb_node *n;
			int perm[64], i;

			for (i = 0; i < size; i++)
				perm[i] = order == 1 ? size - 1 - i : i;
			if (order == 2) {
				rng_state = (uint64_t)size + 7;
				for (i = size - 1; i > 0; i--) {
					int j = (int)rng_below(i + 1);
					int t = perm[i];

					perm[i] = perm[j];
					perm[j] = t;
				}
			}
			for (i = 0; i < size; i++) {
				struct item *it = &items[perm[i]];

				*it = (struct item){ .key = perm[i] };
				tree_insert(&root, it, upd_size);
			}
			ck_assert_int_ge(rb_check(&root, NULL), 0);
			i = 0;
			for (n = rb_first(&root); n; n = rb_next(n))
				ck_assert_int_eq(ITEM(n)->key, i++);
			ck_assert_int_eq(i, size);
			for (n = rb_last(&root); n; n = rb_prev(n))
				ck_assert_int_eq(ITEM(n)->key, --i);
			ck_assert_int_eq(i, 0);
			if (size)
				ck_assert_int_eq(ITEM(root.node)->size, size);
		}
	}
}
END_TEST

/*
 * rb_replace at the root, an inner node and a leaf: the new node takes the
 * old one's links and colour; the caller copies the augmented fields.
 *   keys 0..30, replace 15 (root area), 7, 30
 */
START_TEST(test_replace)
{
	struct item items[31], repl[3];
	struct rb_root root = { NULL };
	struct model m = { .nkeys = 31, .count = 31 };
	unsigned char present[31];
	const long keys[3] = { -1, 7, 30 }; /* -1: whatever is at the root */
	const char *why = NULL;

	for (int i = 0; i < 31; i++) {
		items[i] = (struct item){ .key = i, .val = i * 3 % 17 };
		tree_insert(&root, &items[i], upd_both);
		present[i] = 1;
	}
	m.present = present;
	m.items = items;
	for (int r = 0; r < 3; r++) {
		struct item *old = keys[r] < 0 ? ITEM(root.node)
					       : &items[keys[r]];
		struct rb_node *prev = rb_prev(&old->rb);
		struct rb_node *next = rb_next(&old->rb);
		uintptr_t pc = old->rb.parent_color;
		struct rb_node *l = old->rb.left, *rt = old->rb.right;
		int was_root = root.node == &old->rb;

		repl[r] = *old;
		repl[r].rb = (struct rb_node){ 0 };
		rb_replace(&root, &old->rb, &repl[r].rb);
		ck_assert_uint_eq(repl[r].rb.parent_color, pc);
		ck_assert_ptr_eq(repl[r].rb.left, l);
		ck_assert_ptr_eq(repl[r].rb.right, rt);
		if (was_root)
			ck_assert_ptr_eq(root.node, &repl[r].rb);
		ck_assert_ptr_eq(rb_prev(&repl[r].rb), prev);
		ck_assert_ptr_eq(rb_next(&repl[r].rb), next);
		ck_assert_msg(rb_check(&root, &why) >= 0, "%s", why);
		/* Keep the model's items[] pointing at the live node. */
		items[old->key] = repl[r];
		rb_replace(&root, &repl[r].rb, &items[old->key].rb);
		check_tree(&root, &m, upd_both);
	}
	/* The replaced node can then be erased like any other. */
	for (int i = 0; i < 31; i++) {
		rb_erase(&root, &items[i].rb, upd_both);
		present[i] = 0;
		m.count--;
		check_tree(&root, &m, upd_both);
	}
}
END_TEST

/*
 * In-place value change then rb_propagate, on a deep node: raise it above
 * everything (the max must reach the root), lower it again (the max must
 * come back down), and the case where the caller already stored the node's
 * own augmented value so its callback reports "unchanged": the parent must
 * still be recomputed.
 */
START_TEST(test_propagate)
{
	enum { N = 1023 };
	static struct item items[N];
	struct rb_root root = { NULL };
	struct model m = { .nkeys = N, .count = N };
	static unsigned char present[N];
	struct rb_node *deep = NULL, *n;
	int deepest = -1;

	for (int i = 0; i < N; i++) {
		items[i] = (struct item){ .key = i, .val = i % 100 };
		tree_insert(&root, &items[i], upd_max);
		present[i] = 1;
	}
	m.present = present;
	m.items = items;
	check_tree(&root, &m, upd_max);
	for (n = rb_first(&root); n; n = rb_next(n)) {
		int d = 0;
		for (struct rb_node *p = n; rb_parent(p); p = rb_parent(p))
			d++;
		if (d > deepest) {
			deepest = d;
			deep = n;
		}
	}
	ck_assert_int_ge(deepest, 9);

	ITEM(deep)->val = 1000;
	rb_propagate(deep, upd_max);
	ck_assert_int_eq(ITEM(root.node)->max, 1000);
	check_tree(&root, &m, upd_max);

	ITEM(deep)->val = -5;
	rb_propagate(deep, upd_max);
	ck_assert_int_eq(ITEM(root.node)->max, 99);
	check_tree(&root, &m, upd_max);

	/* Caller pre-stores the leaf's own max: upd_max(deep) returns 0. */
	ITEM(deep)->val = 5000;
	ITEM(deep)->max = 5000;
	rb_propagate(deep, upd_max);
	ck_assert_int_eq(ITEM(root.node)->max, 5000);
	check_tree(&root, &m, upd_max);

	/* A change that does not move any max stops early: the leaf's
	 * parent holds a larger value, so the walk ends at the parent. */
	ITEM(deep)->val = 0;
	rb_propagate(deep, upd_max);
	ITEM(rb_parent(deep))->val = 50;
	rb_propagate(rb_parent(deep), upd_max);
	check_tree(&root, &m, upd_max);
	ck_assert_ptr_null(deep->left);
	ck_assert_ptr_null(deep->right);
	update_calls = 0;
	ITEM(deep)->val = 1;
	rb_propagate(deep, upd_max);
	ck_assert_uint_le(update_calls, 2);
	check_tree(&root, &m, upd_max);

	rb_propagate(NULL, upd_max); /* tolerated */
}
END_TEST

/* Insert recomputes only until a value is unchanged. */
START_TEST(test_insert_early_stop)
{
	enum { N = 4096 };
	static struct item items[N];
	struct rb_root root = { NULL };
	struct item extra = { .key = N / 2, .val = -1 };
	const char *why = NULL;

	for (int i = 0; i < N; i++) {
		items[i] = (struct item){ .key = i, .val = 100 };
		tree_insert(&root, &items[i], upd_max);
	}
	update_calls = 0;
	tree_insert(&root, &extra, upd_max);
	/* leaf, its parent, plus at most a few rotations' worth */
	ck_assert_uint_le(update_calls, 2 + 2 * 2);
	ck_assert_msg(rb_check(&root, &why) >= 0, "%s", why);
	{
		long mx;
		brute(root.node, upd_max, &mx);
		ck_assert_int_eq(mx, 100);
	}
}
END_TEST

/* rb_check rejects broken trees with a reason. */
START_TEST(test_check_detects)
{
	struct item it[7];
	struct rb_root root = { NULL };
	const char *why;
	uintptr_t saved;
	struct rb_node *l, *saved_child;

	for (int i = 0; i < 7; i++) {
		it[i] = (struct item){ .key = i };
		tree_insert(&root, &it[i], NULL);
	}
	ck_assert_int_ge(rb_check(&root, NULL), 0);

	/* root red */
	root.node->parent_color &= ~(uintptr_t)1;
	why = NULL;
	ck_assert_int_eq(rb_check(&root, &why), -1);
	ck_assert_ptr_nonnull(why);
	root.node->parent_color |= 1;

	/* root with a parent */
	saved = root.node->parent_color;
	root.node->parent_color = (uintptr_t)&it[6].rb | 1;
	why = NULL;
	ck_assert_int_eq(rb_check(&root, &why), -1);
	ck_assert_ptr_nonnull(why);
	root.node->parent_color = saved;

	/* wrong parent pointer */
	l = root.node->left;
	saved = l->parent_color;
	l->parent_color = (uintptr_t)l | (saved & 1);
	why = NULL;
	ck_assert_int_eq(rb_check(&root, &why), -1);
	ck_assert_ptr_nonnull(why);
	l->parent_color = saved;
	ck_assert_int_ge(rb_check(&root, NULL), 0);

	/* black height: flip a leaf's colour */
	l = rb_first(&root);
	saved = l->parent_color;
	l->parent_color ^= 1;
	why = NULL;
	ck_assert_int_eq(rb_check(&root, &why), -1);
	ck_assert_ptr_nonnull(why);
	l->parent_color = saved;

	/* red-red: make a red node's parent red (and the tree is otherwise
	 * unchanged, so black height also breaks unless it was red) */
	for (l = rb_first(&root); l; l = rb_next(l))
		if (!rb_is_black(l) && rb_parent(l))
			break;
	ck_assert_ptr_nonnull(l);
	saved = rb_parent(l)->parent_color;
	rb_parent(l)->parent_color &= ~(uintptr_t)1;
	why = NULL;
	ck_assert_int_eq(rb_check(&root, &why), -1);
	ck_assert_ptr_nonnull(why);
	rb_parent(l)->parent_color = saved;

	/* a node linked twice */
	l = root.node;
	saved_child = l->right;
	l->right = l->left;
	why = NULL;
	ck_assert_int_eq(rb_check(&root, &why), -1);
	ck_assert_ptr_nonnull(why);
	l->right = saved_child;
	ck_assert_int_ge(rb_check(&root, NULL), 0);
}
END_TEST

/* Hand-built trees for the errors a random corruption may mask:
 *        b
 *      /   \
 *     r     r
 *    /
 *   x      (x: red child of a red node, then a black one, then mislinked)
 */
START_TEST(test_check_hand_built)
{
	struct rb_node b, l, r, x;
	struct rb_root root = { &b };
	const char *why;

	b = (struct rb_node){ 1, &l, &r };
	l = (struct rb_node){ (uintptr_t)&b, NULL, NULL };
	r = (struct rb_node){ (uintptr_t)&b, NULL, NULL };
	ck_assert_int_eq(rb_check(&root, NULL), 1);

	x = (struct rb_node){ (uintptr_t)&l, NULL, NULL };
	l.left = &x;
	why = NULL;
	ck_assert_int_eq(rb_check(&root, &why), -1);
	ck_assert_str_eq(why, "red node has a red child");

	x.parent_color |= 1;
	why = NULL;
	ck_assert_int_eq(rb_check(&root, &why), -1);
	ck_assert_str_eq(why, "black height differs between paths");

	/* x under r's right instead, black: the mismatch is on a right leaf */
	l.left = NULL;
	r.right = &x;
	x.parent_color = (uintptr_t)&r | 1;
	why = NULL;
	ck_assert_int_eq(rb_check(&root, &why), -1);
	ck_assert_str_eq(why, "black height differs between paths");

	/* red x under r with a parent pointer to l */
	x.parent_color = (uintptr_t)&l;
	r.parent_color |= 1;
	l.parent_color |= 1;
	why = NULL;
	ck_assert_int_eq(rb_check(&root, &why), -1);
	ck_assert_str_eq(why, "right child has wrong parent");

	x.parent_color = (uintptr_t)&r;
	ck_assert_int_eq(rb_check(&root, NULL), 2);
}
END_TEST

/* A big tree built in ascending order (the rotation-heaviest pattern), then
 * erased from the front and from the middle. */
START_TEST(test_large)
{
	enum { N = 200000 };
	struct item *items = calloc(N, sizeof(*items));
	struct rb_root root = { NULL };
	const char *why = NULL;
	long mx;
	int bh;

	ck_assert_ptr_nonnull(items);
	for (int i = 0; i < N; i++) {
		items[i].key = i;
		items[i].val = (i * 7919L) % 100003;
		tree_insert(&root, &items[i], upd_both);
	}
	bh = rb_check(&root, &why);
	ck_assert_msg(bh > 0, "%s", why);
	ck_assert_int_le(bh, 18); /* 2^bh - 1 <= N */
	ck_assert_int_eq(brute(root.node, upd_both, &mx), N);
	for (int i = 0; i < N; i += 2)
		rb_erase(&root, &items[i].rb, upd_both);
	ck_assert_msg(rb_check(&root, &why) >= 0, "%s", why);
	ck_assert_int_eq(brute(root.node, upd_both, &mx), N / 2);
	for (int i = 1; i < N; i += 2)
		rb_erase(&root, &items[(i + N / 2) % N].rb, upd_both);
	ck_assert_ptr_null(root.node);
	free(items);
}
END_TEST

static Suite *rbtree_suite(void)
{
	Suite *s = suite_create("rbtree");
	TCase *tc;

	tc = tcase_create("insert_erase_random");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_random_ops, 0, 3 * 4);
	tcase_add_loop_test(tc, test_random_small, 0, 3);
	tcase_add_test(tc, test_plain_tree);
	suite_add_tcase(s, tc);

	tc = tcase_create("empty_single");
	tcase_add_test(tc, test_empty_and_single);
	suite_add_tcase(s, tc);

	tc = tcase_create("next_prev");
	tcase_add_test(tc, test_walk_both_ways);
	suite_add_tcase(s, tc);

	tc = tcase_create("replace");
	tcase_add_test(tc, test_replace);
	suite_add_tcase(s, tc);

	tc = tcase_create("propagate");
	tcase_add_test(tc, test_propagate);
	tcase_add_test(tc, test_insert_early_stop);
	suite_add_tcase(s, tc);

	tc = tcase_create("check");
	tcase_add_loop_test(tc, test_link_after, 0, 6);
	tcase_add_test(tc, test_check_detects);
	tcase_add_test(tc, test_check_hand_built);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_large);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rbtree_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
