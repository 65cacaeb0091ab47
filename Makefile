# Portier — the two commands a fresh Debian 12 machine needs:
#   make run    install what is missing, build, start portierd with the
#               bundled translation server and example site
#   make test   install what is missing, build, run every suite; the last
#               line is "N passed, N failed"; non-zero exit on any failure
#
# Other targets: build, asan (unit tests under ASan+UBSan), fuzz (libFuzzer,
# FUZZ_SECONDS per target), docs (refresh generated doc blocks), deps (only
# the package installation), clean.

BUILD        ?= build
ASAN_BUILD   ?= build-asan
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
PYTHON       := /usr/bin/python3

# Debian 12 packages the build and the test suites use.  `make deps`
# installs those that are missing (non-interactively, as root or via sudo).
DEB_PACKAGES := gcc make pkg-config meson ninja-build python3 \
                python3-pytest python3-pytest-timeout libcmocka-dev libuv1-dev libssl-dev \
                libmsgpack-dev libpcre2-dev libjansson-dev libcrypt-dev \
                libnfs-dev libnfs-utils nfs-ganesha nfs-ganesha-vfs rpcbind \
                libfcgi-dev openssl curl nginx python3-websockets strace
# (nginx is the HTTP backend of the proxy tests, python3-websockets the
# WebSocket backend and client of the Upgrade tests; nfs-ganesha, rpcbind and
# nfs-ls from libnfs-utils run the NFS server of the integration tests;
# .ci/install-deps keeps their packages from starting system services;
# strace counts system calls in test_was_pipes.py.)
# `make fuzz` also needs clang and its runtime.
FUZZ_PACKAGES := clang libclang-rt-14-dev

.PHONY: all build deps fuzz-deps test run asan fuzz docs clean

all: build

deps:
	@DEB_PACKAGES="$(DEB_PACKAGES)" sh .ci/install-deps

fuzz-deps:
	@DEB_PACKAGES="$(FUZZ_PACKAGES)" sh .ci/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

test: build
	$(PYTHON) tests/run_all.py --build $(BUILD)

asan: deps
	@[ -f $(ASAN_BUILD)/build.ninja ] || \
	    meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined \
	        -Db_lundef=false -Dbuildtype=debug
	ninja -C $(ASAN_BUILD)
	$(PYTHON) tests/run_all.py --build $(ASAN_BUILD) --no-integration

fuzz: deps fuzz-deps
	@[ -f $(FUZZ_BUILD)/build.ninja ] || \
	    CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true \
	        -Db_sanitize=address,undefined -Db_lundef=false \
	        -Dbuildtype=debugoptimized
	ninja -C $(FUZZ_BUILD)
	sh tests/fuzz/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

run: build
	@sh examples/run.sh $(BUILD)

# The benchmark against nginx, lighttpd and h2o (integration/bench/README.md;
# as root: it installs the peers and wrk).  Not part of make test.
.PHONY: bench
bench: build
	$(PYTHON) integration/bench/bench.py

# Refresh the generated blocks of the documents (checked by make test).
docs: build
	$(PYTHON) tests/spec/update_generated_doc.py docs/translation-packets.md \
	    $(BUILD)/tests/spec/gen_packet_doc
	$(PYTHON) tests/spec/update_generated_doc.py docs/portierctl.md \
	    $(BUILD)/ctl/portierctl --help-markdown
	$(PYTHON) tests/spec/update_generated_doc.py docs/configuration.md \
	    $(BUILD)/tests/spec/gen_config_doc

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
