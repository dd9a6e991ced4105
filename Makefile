# viaduct: `make run` starts the proxy on the example script, `make test` installs and tests.
SHELL := /bin/bash
NPM_STAMP := node_modules/.installed
RUN_SCRIPT ?= examples/stateless-proxy.js
RUN_ARGS ?=

.PHONY: all build run test bench deps sipp kamailio clean

all: build

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

deps: $(NPM_STAMP)

build: deps
	npx tsc -p tsconfig.json

# Debian packages the tests and benchmarks drive (root on CI; sudo elsewhere).
APT := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)
sipp:
	@command -v sipp >/dev/null || { $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq sip-tester; }

kamailio:
	@command -v kamailio >/dev/null || { $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq kamailio; }
	@# the Debian package starts a system service on 5060; the bench needs the port
	@-systemctl stop kamailio >/dev/null 2>&1 || true

run: build
	node dist/src/cli/main.js run $(RUN_SCRIPT) $(RUN_ARGS)

test: build sipp
	npx vitest run

bench: build sipp kamailio
	node dist/bench/run.js $(BENCH_ARGS)

clean:
	rm -rf dist
