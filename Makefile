# Thin wrapper over CMake presets so that the README's two set-up commands are
# literally `make run` and `make test`. Both install what is missing first.
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps build run test debug asan tsan test-asan test-tsan fuzz format format-check lint ci clean

all: build

deps:
	@bash scripts/install-deps.sh

build/%/build.ninja: CMakeLists.txt CMakePresets.json | deps
	cmake --preset $* >/dev/null

build: deps build/release/build.ninja
	cmake --build --preset release -j $(JOBS)

run: build
	./build/release/bin/gatehoused

test: build
	ctest --preset release -j $(JOBS) $(CTEST_ARGS)

debug: deps build/debug/build.ninja
	cmake --build --preset debug -j $(JOBS)

asan: deps build/asan/build.ninja
	cmake --build --preset asan -j $(JOBS)

tsan: deps build/tsan/build.ninja
	cmake --build --preset tsan -j $(JOBS)

test-asan: asan
	ctest --preset asan -j $(JOBS) $(CTEST_ARGS)

test-tsan: tsan
	ctest --preset tsan -j $(JOBS) $(CTEST_ARGS)

# libFuzzer on the parsers that read untrusted bytes before any TLS library does, from seeds
# made at run time, for FUZZ_SECONDS each (bounded: CI runs it). A crash leaves its input in
# build/fuzz/ and fails the target.
FUZZ_SECONDS ?= 60
fuzz: deps build/fuzz/build.ninja
	cmake --build --preset fuzz -j $(JOBS)
	rm -rf build/fuzz/corpus/client_hello && mkdir -p build/fuzz/corpus/client_hello
	./build/fuzz/fuzz/client_hello_seeds build/fuzz/corpus/client_hello
	cd build/fuzz && ./fuzz/client_hello_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=16389 \
	  -print_final_stats=1 corpus/client_hello

# Tracked files and new ones not yet added (but not ignored ones): a new file is formatted
# before its first commit.
format:
	git ls-files --cached --others --exclude-standard '*.cc' '*.h' | xargs clang-format-14 -i

format-check:
	git ls-files '*.cc' '*.h' | xargs clang-format-14 --dry-run --Werror

# clang-tidy reads the Clang (tsan) compile database so that it sees the flags Clang sees.
# The job init is built with musl, outside the compile database (src/jobs/CMakeLists.txt), so
# it is checked against musl's headers with the language flags of its build (job_init_flags
# there; keep the two in step).
MUSL_INCLUDE = /usr/include/$(shell gcc -dumpmachine | sed 's/-gnu$$/-musl/')
JOB_INIT_TIDY_FLAGS = -x c++ -std=c++20 -nostdinc -nostdinc++ -fno-exceptions -Isrc \
  -isystem $(MUSL_INCLUDE) -isystem $(shell clang-14 -print-resource-dir)/include
lint: tsan
	git ls-files 'src/*.cc' 'apps/*.cc' 'tests/*.cc' 'bench/*.cc' | grep -v '^src/jobs/init/' | \
	  xargs -P $(JOBS) -n 4 clang-tidy-14 -p build/tsan --quiet
	clang-tidy-14 --quiet src/jobs/init/main.cc -- $(JOB_INIT_TIDY_FLAGS)

ci:
	bash .ci/run

clean:
	rm -rf build
