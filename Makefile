# The two commands of the README's quick start:
#   make serve   build (release) and run the server on ./msgstore-data, 127.0.0.1:8080
#   make test    every test: debug unit/property/crash tests, then release-mode volume tests
# Both install what is missing first (libzstd-dev from Debian).

SWIFT      ?= swift
SERVE_ARGS ?=

.PHONY: deps serve test build release bench bench-micro docs clean

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

bench: release
	@Tools/bench.sh

clean:
	rm -rf .build

# Micro benchmarks of the hot paths (package-benchmark; a package of its own in Benchmarks/).
bench-micro: deps
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

# The MsgStore library's documentation (DocC catalog Sources/MsgStore/MsgStore.docc)
# as a static site in .build/docs; open .build/docs/documentation/msgstore/index.html
# through any static file server (for example `python3 -m http.server -d .build/docs`).
docs: deps
	$(SWIFT) package --allow-writing-to-directory .build/docs generate-documentation \
		--target MsgStore --disable-indexing --transform-for-static-hosting \
		--output-path .build/docs --warnings-as-errors
