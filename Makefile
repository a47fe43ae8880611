# The two commands of the README's quick start:
#   make serve   build (release) and run the server on ./msgstore-data, 127.0.0.1:8080
#   make test    every test: debug unit/property/crash tests, then release-mode volume tests,
#                the docs, then the engine suites under ASan (MSGSTORE_CI_ASAN=0 skips those)
# and, besides them, `make asan` / `make tsan`: the debug suite under a sanitizer.
# Both install what is missing first (libzstd-dev from Debian).

SWIFT      ?= swift
SERVE_ARGS ?=

.PHONY: deps serve test asan tsan build release bench bench-compare bench-micro bench-http docs fuzz clean

deps:
	@Tools/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product msgstore

serve: release
	.build/release/msgstore serve $(SERVE_ARGS)

test: deps
	@Tools/test.sh

# libFuzzer over every decoder (Tools/fuzz.sh; docs/reliability.md): FUZZ_SECONDS per target
# (default 600), FUZZ_TARGETS (default all), FUZZ_JOBS targets at a time (default 1).
# `make fuzz FUZZ_SECONDS=30` for a short run. Exits non-zero on any finding.
fuzz: deps
	@Tools/fuzz.sh

# The test suite under AddressSanitizer / ThreadSanitizer, each in its own build directory
# (.build-asan, .build-tsan); `make asan FILTER=MsgStoreTests` for one target or suite.
# Options and suppressions: Tools/sanitize.sh, docs/reliability.md#sanitizers.
asan: deps
	@SWIFT="$(SWIFT)" Tools/sanitize.sh address "$(FILTER)"

tsan: deps
	@SWIFT="$(SWIFT)" Tools/sanitize.sh thread "$(FILTER)"

# msgstore against RocksDB and LevelDB (Debian's librocksdb-dev/libleveldb-dev, built by
# Tools/peers) on the standard workload, engines alternated, medians and ratios
# (docs/performance.md). `make bench-compare MESSAGES=200000 REPEATS=3` for the smaller
# workload, three alternated runs of each engine.
bench-compare: release
	@Tools/bench.sh /tmp/msgbench-wl$(MESSAGES) /tmp/msgbench-results$(MESSAGES)

bench: bench-compare

clean:
	rm -rf .build .build-asan .build-tsan

# Micro benchmarks of the hot paths (package-benchmark; a package of its own in Benchmarks/).
bench-micro: deps
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

# HTTP load: msgstore serve against a bare Hummingbird route (Benchmarks/BareRoute), with wrk
# at 16, 64 and 256 connections; a markdown table. Settings by environment: Tools/http-bench.sh.
bench-http: deps
	@Tools/http-bench.sh

# The MsgStore library's documentation (DocC catalog Sources/MsgStore/MsgStore.docc)
# as a static site in .build/docs; open .build/docs/documentation/msgstore/index.html
# through any static file server (for example `python3 -m http.server -d .build/docs`).
docs: deps
	$(SWIFT) package --allow-writing-to-directory .build/docs generate-documentation \
		--target MsgStore --disable-indexing --transform-for-static-hosting \
		--output-path .build/docs --warnings-as-errors
