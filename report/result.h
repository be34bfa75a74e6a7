/*
 * result.h - the results of one run for `vmacheck` and `vmacheck report`:
 * find the per-process results (vmacheck.<pid>.json) and journals
 * (vmacheck.<pid>.journal) under directories, load each process from its
 * JSON result or, when it left none (killed, or ended through _exit or
 * exec without running destructors), rebuild it from its journal; merge
 * the findings of all processes (deduplicated by kind and stacks, or kind
 * and message when there are no stacks, each with the pids that saw it);
 * render the text summary and the merged JSON (DESIGN.md, "Per-process
 * result"); compute the exit status.  Plain C with libc and malloc.
 *
 * Files that cannot be used (unreadable, corrupt, truncated, foreign)
 * each get one line "vmacheck: PATH: what (offset N)" on r->diag, are
 * listed in r->bad, and the rest is still reported.  A JSON result that
 * cannot be used falls back to the process's journal when there is one.
 *
 * Issue 4 adds symbolization (frames get function/file/line before
 * rendering: report_symbolize() between report_load() and rendering),
 * SARIF (report_render_sarif()) and suppressions; the dedup key is made
 * by one function (finding_key() in result.c) that already prefers
 * module+offset over raw ips.
 */
#ifndef VMC_REPORT_RESULT_H
#define VMC_REPORT_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "journal.h"
#include "json.h"
#include "symbolize.h"

#define VMACHECK_VERSION "0.1.0"
#define VMACHECK_DEFAULT_ERROR_EXITCODE 99
/* Exit status for a bad option, or (when nothing else decides it) a
 * result file that could not be used. */
#define VMACHECK_EXIT_TROUBLE 2

enum report_severity {
	REPORT_INFO = 0,
	REPORT_WARNING,
	REPORT_ERROR,
};

/* "error", "warning", "info". */
const char *report_severity_name(enum report_severity s);
/* The severity of a name; -1 when it is none of them. */
int report_severity_parse(const char *name);
/* DESIGN.md's default severity for a finding kind (warning when the kind
 * is not in the table).  A finding's severity is its kind's; only a kind
 * not in the table keeps the "severity" it was written with. */
enum report_severity report_kind_severity(const char *kind);

struct report_process {
	uint64_t pid, ppid;
	const char *exe;                 /* NULL when unknown */
	const struct json_value *argv;   /* array of strings, or NULL */
	const char *ended;               /* "exit", "signal", "killed" */
	bool has_status;                 /* else status is null */
	int64_t status;
	const struct json_value *stats;  /* object, or NULL */
	const struct json_value *findings; /* array, or NULL */
	const struct json_value *modules;  /* array (path, base, start, end,
					    * build_id), or NULL: for the
					    * symbolizer */
	const struct json_value *sites;  /* array of {bytes, vmas, regions,
					  * splits, stack}, or NULL */
	bool rebuilt;                    /* from the journal */
	size_t incomplete;               /* journal records never completed */
	/* What the command saw of its own child (report_note_wait()). */
	bool waited;
	int wstatus;
	char *path;                      /* the file the result came from */
	char *journal;                   /* the process's journal, or NULL */
	struct json_doc doc;             /* owns the values above */
	struct json_doc aux;             /* argv taken from the journal */
};

struct report_finding {
	const struct json_value *obj;    /* the first occurrence */
	const char *kind;
	const char *message;             /* NULL when it has none */
	enum report_severity severity;   /* the highest seen */
	uint64_t count;                  /* summed over the occurrences */
	uint64_t *pids;                  /* sorted, unique */
	size_t npids, pids_cap;
	const struct report_process *first;
	bool suppressed;                 /* by report_suppress() */
	char *key;                       /* the dedup key (kind, stacks...) */
	size_t key_len;
	uint64_t hash;
};

struct report_bad {
	char *path;
	char *message;                   /* the line, without "vmacheck: " */
};

/* A candidate file found by report_add_path(); private to result.c. */
struct report_entry;

/* Return true to leave a file out (e.g. results of earlier runs). */
typedef bool (*report_skip_fn)(const char *path, const struct stat *st,
			       void *ctx);

struct report {
	struct report_process **procs;   /* in (directory, pid) order */
	size_t nprocs, procs_cap;
	struct report_finding *findings; /* in order of first occurrence */
	size_t nfindings, findings_cap;
	struct report_bad *bad;
	size_t nbad, bad_cap;
	size_t errors, warnings, infos;  /* merged findings by severity */
	FILE *diag;                      /* one-line errors (default stderr) */
	struct symbolizer *sym;          /* report_symbolize(); NULL: frames
					  * as recorded */
	struct suppressions *supp;       /* report_suppress(); owned */
	report_skip_fn skip;
	void *skip_ctx;
	/* private */
	struct report_entry *entries;
	size_t nentries, entries_cap;
	char **dirs;
	size_t ndirs, dirs_cap;
	uint32_t *slots;                 /* finding index + 1, 0 = empty */
	size_t nslots;
};

void report_init(struct report *r);
/* From now on frames are shown and matched with function, file and line
 * (symbolize.h).  0 or -ENOMEM. */
int report_symbolize(struct report *r);
/* A frame as the renderers see it: what the JSON says, completed by the
 * symbolizer when one is set. */
struct report_frame {
	const char *ip, *module, *offset_text;
	uint64_t offset;
	const char *function, *file;
	uint64_t line;
};
void report_frame_get(const struct report *r, const struct report_process *p,
		      const struct json_value *frame, struct report_frame *out);
/* That frame as DESIGN.md's JSON frame (ip, module, offset, function,
 * file, line; absent fields left out). */
void report_write_frame(const struct report *r, const struct report_process *p,
			struct jout *w, const struct json_value *frame);
void report_free(struct report *r);

/* Note the results under a directory (recursively, not following
 * symbolic links to directories; only vmacheck.<pid>.json and
 * vmacheck.<pid>.journal) or one file (any name: a journal is known by
 * its magic, anything else is read as a JSON result).  Nothing is read
 * yet.  A path that cannot be used is a bad file (-errno). */
int report_add_path(struct report *r, const char *path);
/* Read every noted file, build the processes and merge the findings.
 * Call once.  Returns 0 or -ENOMEM. */
int report_load(struct report *r);
/* The command's own child: how it ended (a wait status).  Its process
 * (by pid) then says ended "exit" with the real exit status, or, killed
 * by a signal, "signal" ("killed" when it left no result) with status
 * null and "signal": N. */
void report_note_wait(struct report *r, uint64_t pid, int wstatus);

/* The text report, in the sanitizers' manner: one block per merged
 * finding, notes on processes rebuilt from journals, then
 * "SUMMARY: vmacheck: N error(s), N warning(s) in N process(es)". */
void report_render_text(const struct report *r, FILE *out);
/* The merged JSON (DESIGN.md) into w: tool, version, processes,
 * findings (each with "pids"), plus "unreadable" and "summary". */
void report_render_json(const struct report *r, struct jout *w);

/* The call sites that hold the most mapped memory and VMAs at exit, all
 * processes together (sites.c): a compact table for the text report (the
 * top 10 by bytes and by VMAs), and the merged "sites" array for JSON
 * (the top 100 by bytes, each with the processes it came from). */
void report_render_sites_text(const struct report *r, FILE *out);
void report_render_sites_json(const struct report *r, struct jout *w);

/* SARIF 2.1.0 (sarif.c): one run, a rule per finding kind, a result per
 * merged finding that is not suppressed. */
void report_render_sarif(const struct report *r, struct jout *w);

/* ---- suppressions (suppress.c) ----
 * Load a file of kind:pattern lines.  Lines that cannot be used are one
 * line each on diag ("vmacheck: FILE:LINE: ...") and the others still
 * apply: returns 0, -EINVAL when a line was bad (*out still set), or
 * -errno when the file cannot be read (*out NULL). */
struct suppressions;
int supp_load(struct suppressions **out, const char *path, FILE *diag);
void supp_free(struct suppressions *s);
/* Does pattern (`*` wildcards, ^ $ anchors, else a substring) match s? */
bool supp_match(const char *pattern, const char *s);
/* Mark the findings s suppresses (after report_symbolize(): patterns see
 * function and file) and count them again without those; r owns s. */
void report_suppress(struct report *r, struct suppressions *s);
void supp_render_text(const struct report *r, FILE *out);
void supp_render_json(const struct report *r, struct jout *w);

/* The command's exit status: error_exitcode when a finding reaches error
 * severity; else program_status when it is > 0 (-1: no program, as in
 * `vmacheck report`); else VMACHECK_EXIT_TROUBLE when a file could not
 * be used; else 0. */
int report_exit_status(const struct report *r, int program_status,
		       int error_exitcode);

/* The per-process result (DESIGN.md's JSON) that a journal rebuilds:
 * exe, argv from the PROCESS record, pid and ppid from the header; stats
 * from the last STATS record, else counts of CALL records per call and
 * of failed ones; findings from FINDING records (severity by kind, count
 * 1 when absent; a stack given as a number is a STACK record's id and
 * becomes frames {ip, module, offset} by the MODULE records, the tool's
 * own leading frames dropped); modules from the MODULE records (each
 * distinct one once); ended and status from the EXIT record, else
 * "killed" and null.  A JSON payload that does not parse is left out, and the
 * first such is described in err ("PATH: ... (offset N)", N in the
 * journal file) with a return of 1; else 0; -ENOMEM. */
int report_rebuild(const struct vmcj *j, const char *path, struct jout *w,
		   char *err, size_t errlen);

#endif
