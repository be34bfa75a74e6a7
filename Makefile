# vmacheck - one flat, non-recursive GNU make file.
#
#   make deps    install the Debian packages the project needs (no-op if present)
#   make         build everything under build/
#   make check   run every test (unit, unit under ASan+UBSan, differential fuzz)
#   make fuzz    long differential fuzz run: make fuzz SEEDS=1-100 OPS=100000
#   make bench   run the benchmarks (they print figures; nothing is asserted)
#   make bench-ab  the tool's cost per loop measured in one process (part of bench)
#   make install PREFIX=/usr/local   the command, the preload, the header

CC       ?= cc
B        := build
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter $(if $(WERROR),-Werror)
# Include paths are absolute: the preload's objects are compiled from
# inside the build directory (see PGO).
BASEFLAGS := -std=gnu11 -fPIC -D_GNU_SOURCE -I$(CURDIR)/shadow -I$(CURDIR)/include $(WARN)
# Debug/test builds validate the whole shadow after every operation.
TESTDEFS := -DSHADOW_DEBUG
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt -pthread)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
            -DVMC_TEST_FRAME_POINTERS

DEB_PACKAGES := build-essential pkg-config libunwind-dev uthash-dev check libdw-dev libelf-dev

UNWIND_LIBS := $(shell pkg-config --libs libunwind 2>/dev/null || echo -lunwind)
# The command symbolizes with elfutils libdw and demangles with libstdc++.
REPORT_LIBS := $(shell pkg-config --libs libdw 2>/dev/null || echo -ldw -lelf) -lstdc++

SHADOW_SRC := $(wildcard shadow/*.c)
PRELOAD_SRC := $(wildcard preload/*.c)
PRELOAD_HDR := $(wildcard preload/*.h)
SHADOW_HDR := $(wildcard shadow/*.h)
TEST_SRC   := $(wildcard tests/test_*.c)
TESTS      := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRC)) $(B)/tests/test_preload_stack_oom
# test_examples drives the built command and examples from outside: its
# sanitizer build would test nothing more.
ASAN_TESTS := $(patsubst tests/%.c,$(B)/asan/tests/%,$(filter-out tests/test_examples.c,$(TEST_SRC)))

# Release objects (the preload links these), debug objects (tests), and
# sanitizer objects (tests under ASan+UBSan).
SHADOW_OBJ   := $(patsubst shadow/%.c,$(B)/obj/shadow/%.o,$(SHADOW_SRC))
SHADOW_DOBJ  := $(patsubst shadow/%.c,$(B)/dbg/shadow/%.o,$(SHADOW_SRC))
SHADOW_AOBJ  := $(patsubst shadow/%.c,$(B)/asan/shadow/%.o,$(SHADOW_SRC))
# The preload's parts (built with hidden visibility: the library exports
# only the interposed symbols and include/vmacheck.h).
PRELOAD_OBJ  := $(patsubst preload/%.c,$(B)/obj/preload/%.o,$(PRELOAD_SRC))
PRELOAD_AOBJ := $(patsubst preload/%.c,$(B)/asan/preload/%.o,$(PRELOAD_SRC))
PRELOADFLAGS := -fvisibility=hidden -I$(CURDIR)/preload
# The preload is linked with link-time optimization: the hooks' common path
# then inlines across files (the shadow's fast paths into the runtime), so
# fewer instructions and cache lines per call.  Fat objects, so that the
# archives the tests link (plain ar) still hold machine code.
LTO := -flto=auto -ffat-lto-objects

# The release objects are built with profile feedback (PGO=0: without).
# What a hook costs is mostly how its common path runs right after each
# system call, when the kernel has left the branch predictors cold: every
# taken branch and call is paid for (measured: 3 ns per call of a spread-out
# function after an mprotect; straight-line code of the same size, nothing).
# The counts let the compiler lay each hook's common path out straight and
# move the rest away, which no annotation by hand keeps true as the code
# changes (bench-ab, paired runs: mprotect_split_merge 1.161 -> 1.121,
# mmap_munmap_64k 1.110 -> 1.086).  So the objects are built once
# instrumented (build/pgo/), the preload made of them runs the bench loops
# under default options (PGO_TRAIN), and the counts feed the release
# build.  Paths no training run takes (check=call, uffd, ...) are compiled
# as without a profile (-fprofile-partial-training): training check=call
# too was measured to cost the default path what it gained (1.142).
# The profile leaves vmc_do_call's code after the system call in its .cold
# part (the compiler duplicates the call for the uffd test after it, and
# the block that joins the copies gets a zero count); a build that gave it
# one call site, which put the fast paths in the hot part, measured no
# different (bench-ab, paired: mremap_growth 1.156 vs 1.156, live_20000
# 1.128 vs 1.160 with se 0.015), so the layout was left as it is.
# A static function's profile is found by the object's path as given to
# the compiler, so both builds compile from their own directory
# (build/pgo, build) to the same relative obj/... path.
PGO ?= 1
PGO_GEN := -fprofile-generate -fprofile-update=atomic
PGO_USE := $(if $(filter 1,$(PGO)),-fprofile-use -fprofile-partial-training)
PGO_STAMP := $(if $(filter 1,$(PGO)),$(B)/pgo/trained)
# Before a release object is compiled: its counts, from the training's
# object (build/pgo/obj/.../x.gcda) to beside it, where -fprofile-use
# looks.  $(1): the training object's path without .o, $(2): this one's.
pgo_counts = $(if $(filter 1,$(PGO)),@cp $(1).gcda $(2).gcda)

FUZZ_SEEDS ?= 1-20
FUZZ_OPS   ?= 10000
SEEDS ?= 1-100
OPS   ?= 100000

.PHONY: all deps check check-unit check-asan check-fuzz fuzz bench bench-ab demo clean install

# make install PREFIX=/usr/local: the command in bin/, the preload in
# lib/vmacheck/ (where the command looks, ../lib/vmacheck/ from bin/),
# the header in include/.
PREFIX ?= /usr/local
DESTDIR ?=

EXAMPLES := $(B)/examples/shadow_demo $(patsubst examples/%.c,$(B)/examples/%,$(filter-out examples/shadow_demo.c,$(wildcard examples/*.c)))

REPORT_SRC := $(wildcard report/*.c)
REPORT_HDR := $(wildcard report/*.h)
REPORT_LIB_SRC := $(filter-out report/main.c,$(REPORT_SRC))

all: $(B)/libvmacheck.so $(B)/vmacheck $(PRELOAD_PROGS) $(B)/tests/bench_preload $(B)/tests/bench_loops $(B)/tests/bench_uffd $(B)/libshadow.a $(B)/libshadow-dbg.a $(TESTS) $(B)/tests/fuzz_shadow $(B)/tests/bench_shadow $(EXAMPLES)

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	else echo "deps: all present"; fi

$(B)/obj/shadow/%.o: shadow/%.c $(SHADOW_HDR) $(PGO_STAMP) | $(B)/obj/shadow
	$(call pgo_counts,$(B)/pgo/obj/shadow/$*,$(B)/obj/shadow/$*)
	cd $(B) && $(CC) $(CFLAGS) $(BASEFLAGS) $(LTO) $(PGO_USE) -c $(CURDIR)/$< -o obj/shadow/$*.o
$(B)/pgo/obj/shadow/%.o: shadow/%.c $(SHADOW_HDR) | $(B)/pgo/obj/shadow
	cd $(B)/pgo && $(CC) $(CFLAGS) $(BASEFLAGS) $(LTO) $(PGO_GEN) -c $(CURDIR)/$< -o obj/shadow/$*.o
$(B)/dbg/shadow/%.o: shadow/%.c $(SHADOW_HDR) | $(B)/dbg/shadow
	$(CC) $(CFLAGS) $(BASEFLAGS) $(TESTDEFS) -c $< -o $@
$(B)/asan/shadow/%.o: shadow/%.c $(SHADOW_HDR) | $(B)/asan/shadow
	$(CC) -O1 -g $(BASEFLAGS) $(TESTDEFS) $(SAN) -c $< -o $@

$(B)/obj/preload/%.o: preload/%.c $(PRELOAD_HDR) $(SHADOW_HDR) $(PGO_STAMP) | $(B)/obj/preload
	$(call pgo_counts,$(B)/pgo/obj/preload/$*,$(B)/obj/preload/$*)
	cd $(B) && $(CC) $(CFLAGS) $(BASEFLAGS) $(PRELOADFLAGS) $(LTO) $(PGO_USE) -c $(CURDIR)/$< -o obj/preload/$*.o
$(B)/pgo/obj/preload/%.o: preload/%.c $(PRELOAD_HDR) $(SHADOW_HDR) | $(B)/pgo/obj/preload
	cd $(B)/pgo && $(CC) $(CFLAGS) $(BASEFLAGS) $(PRELOADFLAGS) $(LTO) $(PGO_GEN) -c $(CURDIR)/$< -o obj/preload/$*.o
$(B)/asan/preload/%.o: preload/%.c $(PRELOAD_HDR) $(SHADOW_HDR) | $(B)/asan/preload
	$(CC) -O1 -g $(BASEFLAGS) $(PRELOADFLAGS) $(SAN) -c $< -o $@
$(B)/libvmc-core.a: $(filter-out %/interpose.o %/runtime.o,$(PRELOAD_OBJ))
	rm -f $@; ar rcs $@ $^
$(B)/asan/libvmc-core.a: $(filter-out %/interpose.o %/runtime.o,$(PRELOAD_AOBJ))
	rm -f $@; ar rcs $@ $^

# The preload: its own objects, the shadow's, libunwind; exports only what
# preload/exports.map lists.  libvmc-core.a holds the same objects for the
# unit tests, without interpose.o (whose symbols would replace libc's mmap
# in every test program).
# Link a preload: $(1) the profile flags, $(2) the objects.
link_preload = $(CC) $(CFLAGS) $(WARN) $(LTO) $(1) -shared \
	-Wl,--version-script=preload/exports.map -Wl,-z,defs \
	-o $@ $(2) $(UNWIND_LIBS) -ldl -lpthread
$(B)/libvmacheck.so: $(PRELOAD_OBJ) $(SHADOW_OBJ) preload/exports.map
	$(call link_preload,$(PGO_USE),$(PRELOAD_OBJ) $(SHADOW_OBJ))

# The instrumented preload, and its training (see PGO above).  Each object's
# counts are written beside it (build/pgo/obj/.../x.gcda) when the trained
# process exits (pgo_counts takes them from there); bench-ab's interpose.o
# takes interpose.c's.
PGO_GEN_OBJ := $(patsubst $(B)/%,$(B)/pgo/%,$(PRELOAD_OBJ) $(SHADOW_OBJ))
PGO_TRAIN := mmap_munmap_64k:20000 mprotect_split_merge:20000 \
	mremap_growth:40000 fixed_over_reservation:20000 live_20000:20000
$(B)/pgo/libvmacheck.so: $(PGO_GEN_OBJ) preload/exports.map
	$(call link_preload,$(PGO_GEN),$(PGO_GEN_OBJ))
$(B)/pgo/trained: $(B)/pgo/libvmacheck.so $(B)/tests/bench_loops
	@rm -f $(B)/pgo/obj/*/*.gcda $@
	@d=$$(mktemp -d) || exit 1; \
	for lc in $(PGO_TRAIN); do \
	  l=$${lc%%:*}; n=$${lc##*:}; \
	  VMACHECK_OPTIONS="out-dir=$$d" \
	    LD_PRELOAD=$(abspath $(B))/pgo/libvmacheck.so \
	    $(B)/tests/bench_loops $$l $$n >/dev/null || { rm -rf $$d; \
	    echo "PGO training failed: bench_loops $$l $$n under" \
	      "$(B)/pgo/libvmacheck.so; make PGO=0 builds without it" >&2; \
	    exit 1; }; \
	done; rm -rf $$d
	@for o in $(PGO_GEN_OBJ); do [ -f $${o%.o}.gcda ] || { \
	  echo "PGO training wrote no $${o%.o}.gcda" >&2; exit 1; }; done
	@touch $@
	@echo "PGO: trained on bench_loops ($(PGO_TRAIN))"

# The command: runs a program under the preload, reads and merges results.
$(B)/vmacheck: $(REPORT_SRC) $(REPORT_HDR) | $(B)/tests
	$(CC) $(CFLAGS) $(BASEFLAGS) $(REPORT_SRC) -o $@ $(REPORT_LIBS)

$(B)/libshadow.a: $(SHADOW_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/libshadow-dbg.a: $(SHADOW_DOBJ)
	rm -f $@; ar rcs $@ $^
$(B)/asan/libshadow.a: $(SHADOW_AOBJ)
	rm -f $@; ar rcs $@ $^

$(B)/tests/test_%: tests/test_%.c tests/testutil.h tests/harness.h tests/optest.h $(B)/libshadow-dbg.a $(B)/libvmc-core.a | $(B)/tests
	$(CC) $(CFLAGS) $(BASEFLAGS) $(TESTDEFS) -Ipreload -Itests $< -o $@ $(B)/libvmc-core.a $(B)/libshadow-dbg.a $(UNWIND_LIBS) $(CHECK_LIBS)
$(B)/asan/tests/test_%: tests/test_%.c tests/testutil.h tests/harness.h tests/optest.h $(B)/asan/libshadow.a $(B)/asan/libvmc-core.a | $(B)/asan/tests
	$(CC) -O1 -g $(BASEFLAGS) $(TESTDEFS) $(SAN) -Ipreload -Itests $< -o $@ $(B)/asan/libvmc-core.a $(B)/asan/libshadow.a $(UNWIND_LIBS) $(CHECK_LIBS)

# The fuzzer runs against the debug library (validate after every op).
$(B)/tests/fuzz_shadow: tests/fuzz_shadow.c tests/testutil.h tests/harness.h $(B)/libshadow-dbg.a | $(B)/tests
	$(CC) $(CFLAGS) $(BASEFLAGS) $(TESTDEFS) -Itests $< -o $@ $(B)/libshadow-dbg.a
# The fuzzer without per-op validation, for long runs.
$(B)/tests/fuzz_shadow_fast: tests/fuzz_shadow.c tests/testutil.h tests/harness.h $(B)/libshadow.a | $(B)/tests
	$(CC) $(CFLAGS) $(BASEFLAGS) -Itests $< -o $@ $(B)/libshadow.a
# test_report.c includes report/main.c (main renamed); the end-to-end part
# runs $(B)/vmacheck with $(B)/libvmacheck.so.
$(B)/tests/test_report: tests/test_report.c $(REPORT_SRC) $(REPORT_HDR) $(PRELOAD_HDR) $(B)/libvmc-core.a $(B)/libshadow-dbg.a $(B)/libvmacheck.so $(B)/vmacheck | $(B)/tests
	$(CC) $(CFLAGS) $(BASEFLAGS) $(TESTDEFS) -Ipreload -Itests $< $(REPORT_LIB_SRC) -o $@ $(B)/libvmc-core.a $(B)/libshadow-dbg.a $(UNWIND_LIBS) $(REPORT_LIBS) $(CHECK_LIBS)
$(B)/asan/tests/test_report: tests/test_report.c $(REPORT_SRC) $(REPORT_HDR) $(PRELOAD_HDR) $(B)/asan/libvmc-core.a $(B)/asan/libshadow.a $(B)/libvmacheck.so $(B)/vmacheck | $(B)/asan/tests
	$(CC) -O1 -g $(BASEFLAGS) $(TESTDEFS) $(SAN) -Ipreload -Itests $< $(REPORT_LIB_SRC) -o $@ $(B)/asan/libvmc-core.a $(B)/asan/libshadow.a $(UNWIND_LIBS) $(REPORT_LIBS) $(CHECK_LIBS)

# test_examples runs build/vmacheck on examples/ and reads its JSON.
$(B)/tests/test_examples: tests/test_examples.c report/json.c report/json.h $(B)/libvmacheck.so $(B)/vmacheck $(EXAMPLES) | $(B)/tests
	$(CC) $(CFLAGS) $(BASEFLAGS) -Itests $< report/json.c -o $@ $(CHECK_LIBS)

# Programs that tests/test_preload_run.c runs under the preload (it builds
# any that is missing or stale itself, with the same flags).
PRELOAD_PROG_SRC := $(wildcard tests/preload_progs/*.c)
PRELOAD_PROGS := $(patsubst tests/preload_progs/%.c,$(B)/tests/progs/%,$(PRELOAD_PROG_SRC))
$(B)/tests/progs/%: tests/preload_progs/%.c include/vmacheck.h | $(B)/tests/progs
	$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Iinclude -Wall -Wextra -Wshadow -Werror $< -o $@ -pthread -ldl
$(B)/tests/progs:
	mkdir -p $@
$(B)/tests/test_preload_run $(B)/asan/tests/test_preload_run: $(B)/libvmacheck.so $(B)/vmacheck $(PRELOAD_PROGS) $(B)/examples/map_churn

# The stack tests again over a stand-in arena that fails on demand: the
# out-of-memory paths of stack.c (the real arena injects no failure).
$(B)/tests/test_preload_stack_oom: tests/test_preload_stack.c $(B)/libvmc-core.a $(B)/libshadow-dbg.a | $(B)/tests
	$(CC) $(CFLAGS) $(BASEFLAGS) $(TESTDEFS) -DTEST_STANDIN_ARENA -Ipreload -Itests $< -o $@ $(B)/libvmc-core.a $(B)/libshadow-dbg.a $(UNWIND_LIBS) $(CHECK_LIBS)

$(B)/tests/bench_loops: tests/bench_loops.c | $(B)/tests
	$(CC) $(CFLAGS) $(BASEFLAGS) $< -o $@
$(B)/tests/bench_uffd: tests/bench_uffd.c include/vmacheck.h | $(B)/tests
	$(CC) $(CFLAGS) -std=gnu11 -D_GNU_SOURCE -Iinclude $(WARN) $< -o $@

# The preload again, with vmc_ab_passthrough (preload/interpose.c) for
# bench_loops' A/B mode: make bench-ab.  Nothing else uses it; the tool is
# build/libvmacheck.so.
$(B)/ab/obj/preload/interpose.o: preload/interpose.c $(PRELOAD_HDR) $(SHADOW_HDR) $(PGO_STAMP) | $(B)/ab/obj/preload
	$(call pgo_counts,$(B)/pgo/obj/preload/interpose,$(B)/ab/obj/preload/interpose)
	cd $(B)/ab && $(CC) $(CFLAGS) $(BASEFLAGS) $(PRELOADFLAGS) $(LTO) $(PGO_USE) $(if $(PGO_USE),-Wno-coverage-mismatch -Wno-missing-profile) -DVMC_AB -c $(CURDIR)/$< -o obj/preload/interpose.o
$(B)/ab/libvmacheck.so: $(B)/ab/obj/preload/interpose.o $(filter-out %/interpose.o,$(PRELOAD_OBJ)) $(SHADOW_OBJ) preload/exports.map
	$(call link_preload,$(PGO_USE),$(filter %.o,$^))

$(B)/tests/bench_preload: tests/bench_preload.c | $(B)/tests
	$(CC) $(CFLAGS) $(BASEFLAGS) $< -o $@

$(B)/tests/bench_shadow: tests/bench_shadow.c tests/testutil.h $(B)/libshadow.a | $(B)/tests
	$(CC) $(CFLAGS) $(BASEFLAGS) -Itests $< -o $@ $(B)/libshadow.a

$(B)/examples/%: examples/%.c | $(B)/examples
	$(CC) -O1 -g -std=gnu11 -Iinclude -Wall -Wextra $(if $(WERROR),-Werror) $< -o $@ -pthread

$(B)/examples/shadow_demo: examples/shadow_demo.c tests/harness.h tests/testutil.h $(B)/libshadow.a | $(B)/examples
	$(CC) $(CFLAGS) $(BASEFLAGS) -Itests $< -o $@ $(B)/libshadow.a

$(B)/obj/shadow $(B)/dbg/shadow $(B)/asan/shadow $(B)/tests $(B)/asan/tests $(B)/examples $(B)/obj/preload $(B)/asan/preload $(B)/ab $(B)/ab/obj/preload $(B)/pgo/obj/shadow $(B)/pgo/obj/preload:
	mkdir -p $@

# One program per finding kind (vmacheck exits 99 on an error finding: the
# demo goes on), then the clean ones.
DEMO_BUGGY := leak fixed_clobber unmap_foreign double_unmap unmap_unmapped \
	mprotect_unmapped mremap_invalid mremap_past_object wx_mapping \
	map_count_pressure untracked_change untracked_neighbour fixed_clobber_foreign
DEMO_CLEAN := clean_reserve_commit clean_partial_unmap clean_mremap_growth \
	clean_file_kept
demo: $(EXAMPLES) $(B)/vmacheck $(B)/libvmacheck.so
	@echo "== the VMA model next to the kernel (examples/shadow_demo)"
	$(B)/examples/shadow_demo
	@for e in $(DEMO_BUGGY); do \
	  echo "== vmacheck on examples/$$e.c (a bug on purpose)"; \
	  $(B)/vmacheck -- $(B)/examples/$$e; \
	  st=$$?; echo "(vmacheck exited $$st)"; \
	done
	@set -e; for e in $(DEMO_CLEAN); do \
	  echo "== vmacheck on examples/$$e.c (clean)"; \
	  $(B)/vmacheck -- $(B)/examples/$$e; \
	done
	@echo "== vmacheck on a clean program: threads, a fork, every call (examples/map_churn)"
	$(B)/vmacheck -- $(B)/examples/map_churn 500 2
	@echo "== fault callbacks through userfaultfd (examples/fault_*.c)"
	@set -e; for e in fault_lazy_file fault_counter fault_cow_snapshot fault_threads fault_lifecycle; do \
	  $(B)/vmacheck -- $(B)/examples/$$e; \
	done
	@echo "== raw system calls seen by userfaultfd events (--uffd on)"
	$(B)/vmacheck --uffd on -- $(B)/examples/untracked_raw_calls
	@echo "== pages written per call site (--uffd touch)"
	$(B)/vmacheck --uffd touch -- $(B)/examples/touch_some

install: $(B)/vmacheck $(B)/libvmacheck.so include/vmacheck.h
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/vmacheck $(DESTDIR)$(PREFIX)/include
	install -m 755 $(B)/vmacheck $(DESTDIR)$(PREFIX)/bin/vmacheck
	install -m 755 $(B)/libvmacheck.so $(DESTDIR)$(PREFIX)/lib/vmacheck/libvmacheck.so
	install -m 644 include/vmacheck.h $(DESTDIR)$(PREFIX)/include/vmacheck.h

check: check-unit check-asan check-fuzz

check-unit: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; CK_FORK=yes $$t; done

check-asan: $(ASAN_TESTS)
	@set -e; for t in $(ASAN_TESTS); do echo "== $$t (asan+ubsan)"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 CK_FORK=no $$t; done

check-fuzz: $(B)/tests/fuzz_shadow
	$(B)/tests/fuzz_shadow --seeds $(FUZZ_SEEDS) --ops $(FUZZ_OPS) --require
	$(B)/tests/fuzz_shadow --seeds $(FUZZ_SEEDS) --ops $(FUZZ_OPS) --lazy-gaps --fast --require
	$(B)/tests/fuzz_shadow --seeds $(FUZZ_SEEDS) --ops $(FUZZ_OPS) --lazy-gaps --fast --unseen --require

fuzz: $(B)/tests/fuzz_shadow_fast
	$(B)/tests/fuzz_shadow_fast --seeds $(SEEDS) --ops $(OPS) --require

bench: $(B)/tests/bench_shadow $(B)/tests/bench_preload $(B)/tests/bench_loops $(B)/tests/bench_uffd $(B)/libvmacheck.so $(B)/ab/libvmacheck.so
	$(B)/tests/bench_shadow
	$(B)/tests/bench_preload
	VMACHECK_OPTIONS="out-dir=$(B)/bench-uffd-out:uffd=touch:leak-check=no" \
	  LD_PRELOAD=$(abspath $(B))/libvmacheck.so $(B)/tests/bench_uffd
	$(MAKE) --no-print-directory bench-ab

# Each loop of bench_loops in its A/B mode (default options), AB_RUNS
# times: one process times the loop traced and untraced in alternate
# blocks (tests/bench_loops.c, run_ab).  The cost bench_preload's vmc-d16
# ratio measures, without what differs between two processes: the
# layout of the address space alone moves the kernel's time (measured:
# fixed_over_reservation takes 6,900 ns per iteration natively and 5,100
# with the tool loaded but every call untraced).  The median of the runs
# is printed per loop, against the same 1.15x goal.
AB_LOOPS := mmap_munmap_64k:60000 mprotect_split_merge:50000 \
	mremap_growth:150000 fixed_over_reservation:50000 live_20000:50000
AB_RUNS ?= 11
bench-ab: $(B)/ab/libvmacheck.so $(B)/tests/bench_loops
	@echo "bench-ab: traced / untraced in one process (default options), median of $(AB_RUNS) runs"
	@for lc in $(AB_LOOPS); do \
	  l=$${lc%%:*}; n=$${lc##*:}; \
	  for r in $$(seq $(AB_RUNS)); do \
	    d=$$(mktemp -d) || exit 1; \
	    VMACHECK_OPTIONS="out-dir=$$d" \
	      LD_PRELOAD=$(abspath $(B))/ab/libvmacheck.so \
	      $(B)/tests/bench_loops $$l $$n ab || { rm -rf $$d; exit 1; }; \
	    rm -rf $$d; \
	  done | sed -n 's/.* ratio=\([0-9.]*\).*/\1/p' | sort -n | \
	  awk -v l=$$l '{ r[NR] = $$1 } END { if (!NR) exit 1; \
	    m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2; \
	    printf "  %-24s %.3fx %s  (runs %.3f - %.3f)\n", l, m, \
	    m <= 1.15 ? "PASS" : "MISS", r[1], r[NR] }' || exit 1; \
	done

clean:
	rm -rf $(B)
