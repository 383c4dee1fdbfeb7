# Custos: one Makefile.
#   make          builds ./custos and ./libcustos.a (optimized, hardened)
#   make test     builds everything with ASan and UBSan into build/test and runs every test
#   make deps     installs the Debian packages the project needs, if missing
#   make fuzz     builds the libFuzzer targets with clang into build/fuzz and runs each for
#                 FUZZ_TIME seconds (20); `make test` runs them for 5 s each on their corpora
#   make format   runs clang-format over the sources
#   make docs     generates the man pages and bash/zsh completions from ./custos --help into
#                 build/docs (scripts/gen_docs.sh)
#   make deb      builds the Debian package into build/deb (debian/, docs/operations.md)

CC      ?= cc
PKGS    := libsodium nettle sqlite3 libcjson liboath yaml-0.1 libarchive libpq cjose
HTTPPKGS := libmicrohttpd gnutls libcurl
TESTPKGS := cmocka libcurl

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wvla \
        -Wimplicit-fallthrough -fno-common
HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong
STD     := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L
INC     := -Iinclude -Isrc -Isrc/util -Isrc/crypto -Isrc/store -Isrc/core -Isrc/repr -Isrc/http
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(HTTPPKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) $(HTTPPKGS)) -lpthread
TEST_LIBS  = $(PKG_LIBS) $(shell pkg-config --libs $(TESTPKGS))

CFLAGS_REL  := $(STD) $(WARN) $(INC) -O2 -g $(HARDEN) -MMD -MP
# Test builds only: fault points (CU_FAULT_INJECTION) and the settable clock, CUSTOS_NOW and
# `sweep --now` (CU_TEST_CLOCK). Release builds have neither.
CFLAGS_TEST := $(STD) $(WARN) $(INC) -O1 -g -fno-omit-frame-pointer -DCU_FAULT_INJECTION -DCU_TEST_CLOCK \
               -fsanitize=address,undefined -fno-sanitize-recover=all -MMD -MP
LDFLAGS_REL := -Wl,-z,relro,-z,now
LDFLAGS_TEST := -fsanitize=address,undefined

LIB_SRC  := $(wildcard src/util/*.c src/crypto/*.c src/store/*.c src/core/*.c src/repr/*.c \
                      src/http/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c tests/scenarios/test_*.c)
TEST_HELPERS := $(wildcard tests/helpers/*.c)
# The browser tests' groups, one file each, all in test_portal_ui (tests/portal_ui/ui.h).
PORTAL_UI_SRC := $(wildcard tests/portal_ui/*.c)

# The seed policies, compiled in (cu_policy_builtin).
POLICY_FILES := $(sort $(wildcard policies/*.yaml))
# The browser pages, compiled in (src/http/portal.c, docs/portal.md).
PORTAL_FILES := $(sort $(wildcard portal/*.html portal/*.css portal/*.js portal/*.svg))
GEN_SRC  := build/gen/policies_builtin.c build/gen/portal_assets.c

REL_LIB_OBJ  := $(LIB_SRC:%.c=build/rel/%.o) $(GEN_SRC:%.c=build/rel/%.o)
REL_CLI_OBJ  := $(CLI_SRC:%.c=build/rel/%.o)
TEST_LIB_OBJ := $(LIB_SRC:%.c=build/test/%.o) $(GEN_SRC:%.c=build/test/%.o)
TEST_CLI_OBJ := $(CLI_SRC:%.c=build/test/%.o)
TEST_HELPER_OBJ := $(TEST_HELPERS:%.c=build/test/%.o)
TEST_BINS    := $(TEST_SRC:tests/%.c=build/test/tests/%)

.PHONY: all test test-build test-alone check deps fuzz fuzz-build bench format clean docs deb deb-lint
all: custos libcustos.a

libcustos.a: $(REL_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

custos: $(REL_CLI_OBJ) libcustos.a
	$(CC) $(LDFLAGS_REL) -o $@ $(REL_CLI_OBJ) libcustos.a $(PKG_LIBS)

build/gen/policies_builtin.c: $(POLICY_FILES) scripts/embed_policies.sh
	@mkdir -p $(dir $@)
	scripts/embed_policies.sh $@ $(POLICY_FILES)

build/gen/portal_assets.c: $(PORTAL_FILES) scripts/embed_assets.sh
	@mkdir -p $(dir $@)
	scripts/embed_assets.sh $@ $(PORTAL_FILES)

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_REL) $(PKG_CFLAGS) -c -o $@ $<

build/test/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) $(PKG_CFLAGS) -Itests/helpers -c -o $@ $<

build/test/libcustos.a: $(TEST_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/test/custos: $(TEST_CLI_OBJ) build/test/libcustos.a
	$(CC) $(LDFLAGS_TEST) -o $@ $(TEST_CLI_OBJ) build/test/libcustos.a $(PKG_LIBS)

build/test/tests/%: build/test/tests/%.o $(TEST_HELPER_OBJ) build/test/libcustos.a
	$(CC) $(LDFLAGS_TEST) -o $@ $< $(TEST_HELPER_OBJ) build/test/libcustos.a $(TEST_LIBS)

# The browser tests: one binary, one browser, a group per file of tests/portal_ui/.
build/test/tests/test_portal_ui: build/test/tests/test_portal_ui.o \
		$(PORTAL_UI_SRC:%.c=build/test/%.o) $(TEST_HELPER_OBJ) build/test/libcustos.a
	$(CC) $(LDFLAGS_TEST) -o $@ $< $(PORTAL_UI_SRC:%.c=build/test/%.o) $(TEST_HELPER_OBJ) \
		build/test/libcustos.a $(TEST_LIBS)

# test_release links the clock as release builds compile it (no CU_TEST_CLOCK) ahead of the
# test library, to prove that such a build ignores CUSTOS_NOW.
build/test/rel-clock/util.o: src/util/util.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -DCU_TEST_CLOCK,$(CFLAGS_TEST)) $(PKG_CFLAGS) -c -o $@ $<

# And the webhook address check as release builds compile it (no CU_FAULT_INJECTION: no
# loopback allowance for the tests' receivers).
build/test/rel-clock/webhook_addr.o: src/core/webhook_addr.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -DCU_FAULT_INJECTION,$(CFLAGS_TEST)) $(PKG_CFLAGS) -c -o $@ $<

build/test/tests/test_release: build/test/tests/test_release.o build/test/rel-clock/util.o \
		build/test/rel-clock/webhook_addr.o $(TEST_HELPER_OBJ) build/test/libcustos.a
	$(CC) $(LDFLAGS_TEST) -o $@ $< build/test/rel-clock/util.o build/test/rel-clock/webhook_addr.o \
		$(TEST_HELPER_OBJ) build/test/libcustos.a $(TEST_LIBS)

# The fault test counts the library's own allocations and writes (tests/test_faults.c).
build/test/tests/test_faults: LDFLAGS_TEST += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc \
	-Wl,--wrap=strdup,--wrap=write,--wrap=fsync

# Every test: the cmocka unit binaries, the CLI scripts against the sanitized binary, then
# each fuzz target briefly on its checked-in corpus. Built with one job per core (CI runs a
# plain `make test`), then run several at once (tests/run.sh, docs/testing.md).
NPROC := $(shell nproc 2>/dev/null || echo 1)
test:
	@$(MAKE) --no-print-directory -j$(NPROC) test-build
	@tests/run.sh build/test

# The release binary and its pages too: tests/cli/deb.sh packages them (make deb).
test-build: $(TEST_BINS) build/test/custos fuzz-build custos docs

# The test binaries' objects are kept (make would delete them as intermediates and build them
# again on every run).
.SECONDARY: $(TEST_BINS:%=%.o)

# Every scenario chapter alone, each replaying those before it (minutes).
test-alone: $(TEST_BINS) build/test/custos
	SC_ALONE=all sh tests/scenarios/alone.sh build/test

check: test

deps:
	@scripts/deps.sh

# The man pages and completions, from the binary's own --help (one source: they cannot drift).
docs: custos scripts/gen_docs.sh man/custos.1.in man/custos.conf.5.in
	scripts/gen_docs.sh ./custos build/docs

# The Debian package (debian/, docs/operations.md), built with dpkg-buildpackage in a copy of
# the tree under build/deb (its outputs go to the copy's parent), reusing this tree's release
# objects: make in the copy finds them up to date. The .deb lands in build/deb/.
VERSION := $(shell sed -n 's/^\#define CU_VERSION "\(.*\)"/\1/p' include/custos.h)
DEB_STAGE := build/deb/custos-$(VERSION)
deb: all docs
	rm -rf build/deb
	mkdir -p $(DEB_STAGE)/build
	tar -cf - --exclude=./build --exclude=./.git . | tar -xf - -C $(DEB_STAGE)
	cp -a build/rel build/gen build/docs $(DEB_STAGE)/build/
	cd $(DEB_STAGE) && dpkg-buildpackage -b -us -uc
	@ls build/deb/*.deb

# lintian over the package (docs/operations.md lists what it says and why each tag is left).
deb-lint: deb
	lintian --info build/deb/*.changes

# Benchmarks against the optimized library; figures go in bench/README.md.
build/bench/%: bench/%.c libcustos.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_REL) $(PKG_CFLAGS) -o $@ $< libcustos.a $(PKG_LIBS) $(LDFLAGS_REL)

# Every benchmark; bench/http.sh also runs build/bench/bench_sqlite_commit, its baseline.
bench: build/bench/bench_core build/bench/bench_audit build/bench/bench_policy \
		build/bench/bench_erase build/bench/bench_sqlite_commit build/bench/bench_export \
		build/bench/bench_audit_file \
		build/bench/bench_bytes build/bench/bench_subject_export build/bench/bench_backup \
		build/bench/bench_pg_apply custos
	build/bench/bench_core
	build/bench/bench_bytes
	build/bench/bench_subject_export
	build/bench/bench_audit
	build/bench/bench_audit_file
	build/bench/bench_policy
	build/bench/bench_erase
	build/bench/bench_backup
	bench/http.sh
	bench/cookies.sh
	bench/http_pg.sh
	bench/export.sh
	bench/pg_apply.sh
	bench/conns.sh
	bench/portal.sh

fuzz:
	@$(MAKE) -f fuzz/Makefile run

fuzz-build:
	@$(MAKE) -f fuzz/Makefile

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(PORTAL_UI_SRC) $(wildcard src/*/*.h include/*.h)

clean:
	rm -rf build custos libcustos.a

-include $(shell find build -name '*.d' 2>/dev/null)
