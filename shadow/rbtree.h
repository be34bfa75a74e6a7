/*
 * rbtree.h - intrusive red-black tree with optional augmentation.
 *
 * The caller embeds a struct rb_node in its own record, finds the insertion
 * point itself (so it controls ordering and duplicates), links the node with
 * rb_link_node() and then calls rb_insert() to rebalance.  Nothing here
 * allocates.  Augmented trees keep a value per node that is a function of the
 * node and its two subtrees (for the VMA tree: the largest free gap); the
 * caller supplies one callback, `update`, which recomputes that value for one
 * node from its children and returns nonzero when the value changed.  The
 * tree calls it after every rotation and along the path to the root after
 * every insert and erase.  When a node's own key data changes in place (a VMA
 * grows or shrinks), the caller calls rb_propagate() from that node.
 *
 * Not thread-safe; the caller serialises.  Signal-safe (no libc calls).
 */
#ifndef VMC_RBTREE_H
#define VMC_RBTREE_H

#include <stddef.h>
#include <stdint.h>

struct rb_node {
	uintptr_t parent_color; /* parent pointer | colour bit (1 = black) */
	struct rb_node *left, *right;
};

struct rb_root {
	struct rb_node *node;
};

/* Recompute the augmented value of n from n and its children; return nonzero
 * when it changed.  NULL callbacks mean "not augmented". */
typedef int (*rb_update_fn)(struct rb_node *n);

#define rb_entry(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define rb_entry_safe(ptr, type, member) \
	((ptr) ? rb_entry(ptr, type, member) : (type *)0)

static inline struct rb_node *rb_parent(const struct rb_node *n)
{
	return (struct rb_node *)(n->parent_color & ~(uintptr_t)1);
}

static inline int rb_is_black(const struct rb_node *n)
{
	return !n || (n->parent_color & 1);
}

/* Link n as the child *link of parent (parent NULL for the root), red. */
static inline void rb_link_node(struct rb_node *n, struct rb_node *parent,
				struct rb_node **link)
{
	n->parent_color = (uintptr_t)parent;
	n->left = n->right = 0;
	*link = n;
}

/* Link n right after prev in order (prev NULL: n becomes the first),
 * without a descent from the root: prev's right link, or the left link of
 * the first node of prev's right subtree.  The caller knows nothing lies
 * between prev and n; rb_insert() follows.  O(log n), and O(1) most often. */
void rb_link_after(struct rb_root *root, struct rb_node *prev,
		   struct rb_node *n);

/* Rebalance after rb_link_node().  O(log n). */
void rb_insert(struct rb_root *root, struct rb_node *n, rb_update_fn update);

/* Remove n from the tree.  O(log n). */
void rb_erase(struct rb_root *root, struct rb_node *n, rb_update_fn update);

/* Recompute augmented values from n up to the root, stopping when a value is
 * unchanged.  O(log n). */
void rb_propagate(struct rb_node *n, rb_update_fn update);

/* Put new in old's place (same key position); old is no longer in the tree. */
void rb_replace(struct rb_root *root, struct rb_node *old, struct rb_node *new);

struct rb_node *rb_first(const struct rb_root *root);
struct rb_node *rb_last(const struct rb_root *root);
struct rb_node *rb_next(const struct rb_node *n);
struct rb_node *rb_prev(const struct rb_node *n);

/* Check colours, black height and parent links; returns the black height, or
 * -1 and a reason in *why when the tree is broken. */
int rb_check(const struct rb_root *root, const char **why);

#endif
