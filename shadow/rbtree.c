/*
 * rbtree.c - intrusive red-black tree with optional augmentation.
 *
 * The shadow keeps its VMAs and regions in these trees; the VMA tree is
 * augmented with the largest free gap of each subtree.  The rules for the
 * augmented value (see rbtree.h for the callback contract):
 *   - insert: the new leaf is recomputed, then its ancestors until one is
 *     unchanged; then the tree is rebalanced.
 *   - erase: every node from the lowest structurally changed one up to the
 *     root is recomputed, with no early stop (a node moved into the erased
 *     node's place may keep its old value by chance while its ancestors still
 *     hold the erased node's contribution); then the tree is rebalanced.
 *   - every rotation recomputes the node that went down, then the node that
 *     went up.  A rotation keeps the set of nodes under the top of the
 *     rotated subtree, so nothing above it needs recomputing.
 * Colour bit 1 is black; a NULL child counts as black.
 *
 * No libc calls at all: this runs inside the preload, in signal handlers.
 * rb_check() is iterative so that a degenerate tree cannot exhaust the stack.
 */
#include "rbtree.h"

#define RB_BLACK ((uintptr_t)1)

static inline int rb_is_red(const struct rb_node *n)
{
	return n && !(n->parent_color & RB_BLACK);
}

static inline void rb_set_black(struct rb_node *n)
{
	n->parent_color |= RB_BLACK;
}

static inline void rb_set_red(struct rb_node *n)
{
	n->parent_color &= ~RB_BLACK;
}

/* Give n the colour of from. */
static inline void rb_copy_color(struct rb_node *n, const struct rb_node *from)
{
	n->parent_color = (n->parent_color & ~RB_BLACK) |
			  (from->parent_color & RB_BLACK);
}

/* Change n's parent, keeping its colour. */
static inline void rb_set_parent(struct rb_node *n, struct rb_node *p)
{
	n->parent_color = (uintptr_t)p | (n->parent_color & RB_BLACK);
}

/* Make new take old's place under parent (or as the root). */
static inline void rb_change_child(struct rb_root *root, struct rb_node *parent,
				   struct rb_node *old, struct rb_node *new)
{
	if (!parent)
		root->node = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

/*
 *      x                y
 *     / \              / \
 *    a   y     ->     x   c
 *       / \          / \
 *      b   c        a   b
 * Colours are left to the caller.
 */
static void rb_rotate_left(struct rb_root *root, struct rb_node *x,
			   rb_update_fn update)
{
	struct rb_node *y = x->right;
	struct rb_node *p = rb_parent(x);

	x->right = y->left;
	if (y->left)
		rb_set_parent(y->left, x);
	rb_set_parent(y, p);
	rb_change_child(root, p, x, y);
	y->left = x;
	rb_set_parent(x, y);
	if (update) {
		update(x);
		update(y);
	}
}

/* Mirror of rb_rotate_left: x's left child y goes up. */
static void rb_rotate_right(struct rb_root *root, struct rb_node *x,
			    rb_update_fn update)
{
	struct rb_node *y = x->left;
	struct rb_node *p = rb_parent(x);

	x->left = y->right;
	if (y->right)
		rb_set_parent(y->right, x);
	rb_set_parent(y, p);
	rb_change_child(root, p, x, y);
	y->right = x;
	rb_set_parent(x, y);
	if (update) {
		update(x);
		update(y);
	}
}

void rb_propagate(struct rb_node *n, rb_update_fn update)
{
	struct rb_node *p;

	if (!n || !update)
		return;
	/* The caller changed n's own data: n and its parent are always
	 * recomputed, whatever n's callback reports. */
	update(n);
	for (p = rb_parent(n); p; p = rb_parent(p))
		if (!update(p))
			break;
}

void rb_insert(struct rb_root *root, struct rb_node *n, rb_update_fn update)
{
	struct rb_node *p, *g, *u;

	rb_propagate(n, update);

	/* n is red; fix a red parent. */
	while ((p = rb_parent(n)) && rb_is_red(p)) {
		g = rb_parent(p); /* p is red, so not the root */
		if (p == g->left) {
			u = g->right;
			if (rb_is_red(u)) {
				rb_set_black(p);
				rb_set_black(u);
				rb_set_red(g);
				n = g;
				continue;
			}
			if (n == p->right) {
				rb_rotate_left(root, p, update);
				p = n;
			}
			rb_rotate_right(root, g, update);
			rb_set_black(p);
			rb_set_red(g);
			break;
		} else {
			u = g->left;
			if (rb_is_red(u)) {
				rb_set_black(p);
				rb_set_black(u);
				rb_set_red(g);
				n = g;
				continue;
			}
			if (n == p->left) {
				rb_rotate_right(root, p, update);
				p = n;
			}
			rb_rotate_left(root, g, update);
			rb_set_black(p);
			rb_set_red(g);
			break;
		}
	}
	rb_set_black(root->node);
}

/*
 * Restore the black height after a black node was removed above position x
 * (x may be NULL) under parent p.  When x is NULL its sibling cannot be: the
 * sibling's side still holds the black node's share of the black height.
 */
static void rb_erase_fixup(struct rb_root *root, struct rb_node *x,
			   struct rb_node *p, rb_update_fn update)
{
	struct rb_node *s;

	while (x != root->node && !rb_is_red(x)) {
		if (x == p->left) {
			s = p->right;
			if (rb_is_red(s)) {
				rb_set_black(s);
				rb_set_red(p);
				rb_rotate_left(root, p, update);
				s = p->right;
			}
			if (!rb_is_red(s->left) && !rb_is_red(s->right)) {
				rb_set_red(s);
				x = p;
				p = rb_parent(x);
				continue;
			}
			if (!rb_is_red(s->right)) {
				rb_set_black(s->left);
				rb_set_red(s);
				rb_rotate_right(root, s, update);
				s = p->right;
			}
			rb_copy_color(s, p);
			rb_set_black(p);
			rb_set_black(s->right);
			rb_rotate_left(root, p, update);
			x = root->node;
			break;
		} else {
			s = p->left;
			if (rb_is_red(s)) {
				rb_set_black(s);
				rb_set_red(p);
				rb_rotate_right(root, p, update);
				s = p->left;
			}
			if (!rb_is_red(s->left) && !rb_is_red(s->right)) {
				rb_set_red(s);
				x = p;
				p = rb_parent(x);
				continue;
			}
			if (!rb_is_red(s->left)) {
				rb_set_black(s->right);
				rb_set_red(s);
				rb_rotate_left(root, s, update);
				s = p->left;
			}
			rb_copy_color(s, p);
			rb_set_black(p);
			rb_set_black(s->left);
			rb_rotate_right(root, p, update);
			x = root->node;
			break;
		}
	}
	if (x)
		rb_set_black(x);
}

void rb_erase(struct rb_root *root, struct rb_node *n, rb_update_fn update)
{
	struct rb_node *low;	/* lowest node whose subtree changed */
	struct rb_node *x, *xp;	/* where a black node went missing */
	struct rb_node *top = 0; /* two children: the successor, in n's place */
	int lost_black;

	if (!n->left || !n->right) {
		struct rb_node *child = n->left ? n->left : n->right;

		xp = rb_parent(n);
		rb_change_child(root, xp, n, child);
		if (child) {
			/* A lone child is a red leaf under a black n: it takes
			 * n's place and colour, nothing else changes. */
			child->parent_color = n->parent_color;
			lost_black = 0;
		} else {
			lost_black = !rb_is_red(n);
		}
		x = 0;
		low = xp;
	} else {
		/* Two children: the successor s (leftmost of the right
		 * subtree, no left child) takes n's place and colour; s's
		 * right child x takes s's old place. */
		struct rb_node *s = n->right;

		while (s->left)
			s = s->left;
		x = s->right;
		if (s == n->right) {
			xp = s;
		} else {
			xp = rb_parent(s);
			xp->left = x;
			if (x)
				rb_set_parent(x, xp);
			s->right = n->right;
			rb_set_parent(n->right, s);
		}
		s->left = n->left;
		rb_set_parent(n->left, s);
		rb_change_child(root, rb_parent(n), n, s);
		lost_black = !rb_is_red(s);
		s->parent_color = n->parent_color;
		top = s;
		if (x) {
			/* s was black with a single red child: recolour. */
			rb_set_black(x);
			lost_black = 0;
		}
		low = xp;
	}

	/* Where a node's value comes out unchanged, so do its ancestors',
	 * up to the first node whose children changed: xp when n had at
	 * most one child; else the successor in n's place, whose old value
	 * says nothing of n's, so from there on to the root. */
	if (update && low) {
		if (!top) {
			rb_propagate(low, update);
		} else {
			while (low != top && update(low))
				low = rb_parent(low);
			for (low = top; low; low = rb_parent(low))
				update(low);
		}
	}

	if (lost_black && xp)
		rb_erase_fixup(root, x, xp, update);
}

void rb_replace(struct rb_root *root, struct rb_node *old, struct rb_node *new)
{
	struct rb_node *p = rb_parent(old);

	/* Field by field: a struct copy could become a memcpy call. */
	new->parent_color = old->parent_color;
	new->left = old->left;
	new->right = old->right;
	if (old->left)
		rb_set_parent(old->left, new);
	if (old->right)
		rb_set_parent(old->right, new);
	rb_change_child(root, p, old, new);
}

void rb_link_after(struct rb_root *root, struct rb_node *prev,
		   struct rb_node *n)
{
	struct rb_node *parent = NULL, **link = &root->node;

	if (prev && !prev->right) {
		parent = prev;
		link = &prev->right;
	} else {
		if (prev)
			link = &prev->right;
		while (*link) {
			parent = *link;
			link = &parent->left;
		}
	}
	rb_link_node(n, parent, link);
}

struct rb_node *rb_first(const struct rb_root *root)
{
	struct rb_node *n = root->node;

	if (n)
		while (n->left)
			n = n->left;
	return n;
}

struct rb_node *rb_last(const struct rb_root *root)
{
	struct rb_node *n = root->node;

	if (n)
		while (n->right)
			n = n->right;
	return n;
}

struct rb_node *rb_next(const struct rb_node *n)
{
	struct rb_node *p;

	if (n->right) {
		p = n->right;
		while (p->left)
			p = p->left;
		return p;
	}
	while ((p = rb_parent(n)) && n == p->right)
		n = p;
	return p;
}

struct rb_node *rb_prev(const struct rb_node *n)
{
	struct rb_node *p;

	if (n->left) {
		p = n->left;
		while (p->right)
			p = p->right;
		return p;
	}
	while ((p = rb_parent(n)) && n == p->left)
		n = p;
	return p;
}

/*
 * Iterative depth-first walk using parent pointers, each checked before it is
 * followed downwards: with the root's parent NULL this rules out cycles, so
 * the walk terminates on any input reachable from root.
 */
int rb_check(const struct rb_root *root, const char **why)
{
	const struct rb_node *n = root->node, *from = 0;
	int depth = 0;		/* black nodes from the root to n, inclusive */
	int height = -1;	/* black height found at the first NULL leaf */
	const char *err;

	if (!n)
		return 0;
	if (rb_parent(n)) {
		err = "root has a parent";
		goto fail;
	}
	if (rb_is_red(n)) {
		err = "root is red";
		goto fail;
	}
	while (n) {
		if (from == rb_parent(n)) {
			/* First visit, coming down from the parent. */
			if (n->left && n->left == n->right) {
				err = "node has the same left and right child";
				goto fail;
			}
			if (!rb_is_red(n))
				depth++;
			else if (rb_is_red(n->left) || rb_is_red(n->right)) {
				err = "red node has a red child";
				goto fail;
			}
			if (n->left) {
				if (rb_parent(n->left) != n) {
					err = "left child has wrong parent";
					goto fail;
				}
				from = n;
				n = n->left;
				continue;
			}
			if (height < 0)
				height = depth;
			else if (depth != height) {
				err = "black height differs between paths";
				goto fail;
			}
			from = 0; /* == n->left: carry on to the right side */
		}
		if (from == n->left) {
			/* Left side done. */
			if (n->right) {
				if (rb_parent(n->right) != n) {
					err = "right child has wrong parent";
					goto fail;
				}
				from = n;
				n = n->right;
				continue;
			}
			if (depth != height) {
				err = "black height differs between paths";
				goto fail;
			}
		}
		/* Both sides done (or came back from the right): go up. */
		if (!rb_is_red(n))
			depth--;
		from = n;
		n = rb_parent(n);
	}
	return height;
fail:
	if (why)
		*why = err;
	return -1;
}
