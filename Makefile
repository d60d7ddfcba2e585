# The front door. `make demo` and `make test` do all the set-up on a fresh Debian machine.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 20
# Let ccache share results between clones of the repository (CI builds a fresh clone).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps build demo test test-asan test-tsan test-fuzz bench clean

all: build

deps:
	@scripts/install-deps

# Release build: build/bin/weft and build/bin/weft-bench.
build: deps
	cmake --preset release -DWEFT_TESTS=OFF
	cmake --build --preset release -j $(JOBS)

demo: build
	./build/bin/weft demo

bench: build
	./build/bin/weft-bench all

# The whole suite: the release build (what `make demo` runs), ASan+UBSan (every test), TSan
# (the actor runtime and scheduler, and the stream layer), and the
# libFuzzer targets for a short run each.
test: deps build test-asan test-tsan test-fuzz

test-asan:
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --test-dir build/asan --output-on-failure -j $(JOBS)

# The stream tests run whole under TSan (about 80 s on 2 busy cores; the 10M-record slow sink
# and the SIGKILL crash loop take most of it, and both exercise cross-thread handoffs).
test-tsan:
	cmake --preset tsan
	cmake --build --preset tsan -j $(JOBS) --target weft_actor_tests weft_stream_tests
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ./build/tsan/bin/weft_actor_tests
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ./build/tsan/bin/weft_stream_tests

test-fuzz:
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS) --target fuzzers
	@set -eo pipefail; for f in build/fuzz/bin/*_fuzz; do \
	  echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
	  mkdir -p build/fuzz/corpus/$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus/$$(basename $$f) 2>&1 | tail -4; \
	done

clean:
	rm -rf build
