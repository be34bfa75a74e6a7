/*
 * symbolize.h - function, file and line for a frame, after the run, in the
 * command (heaptrack's rule: the heavy work happens in another process).
 * A frame is a module path and an offset from its load bias (what the
 * preload records: the ELF's link-time address).  elfutils libdwfl opens
 * each module once (its separate debug info too: build-id and debuglink,
 * /usr/lib/debug); the answer comes from DWARF when present (the innermost
 * function, inlined ones included, and its file:line), from ELF symbols
 * otherwise (function only), and is nothing when neither knows (the
 * renderer then prints module+offset).  C++ names are demangled.  A module
 * whose build-id differs from the one recorded at run time (the file was
 * rebuilt since) is not symbolized: its answers would be wrong.
 * Answers are cached per (module, offset).  Not thread-safe.
 */
#ifndef VMC_REPORT_SYMBOLIZE_H
#define VMC_REPORT_SYMBOLIZE_H
#include <stdbool.h>
#include <stdint.h>

struct symbolizer;

struct sym_info {
	const char *function;      /* NULL when unknown; owned by the cache */
	const char *file;          /* NULL when unknown */
	unsigned line;             /* 0 when unknown */
};

struct symbolizer *symbolizer_new(void);
void symbolizer_free(struct symbolizer *s);
/* Look up the call site of a return address: offset is the frame's
 * offset as recorded (a return address), the lookup uses offset - 1 so
 * that the line is the call's.  build_id: hex as recorded, or NULL.
 * Returns true when anything was found. */
bool symbolizer_lookup(struct symbolizer *s, const char *module,
		       uint64_t offset, const char *build_id,
		       struct sym_info *out);

#endif
