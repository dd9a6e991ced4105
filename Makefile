# viaduct: `make run` starts the proxy on the example script, `make demo` shows it balancing calls,
# `make test` installs and tests.
SHELL := /bin/bash
NPM_STAMP := node_modules/.installed
RUN_SCRIPT ?= examples/load-balancer.js
RUN_ARGS ?=

.PHONY: all build run demo test bench deps native sipp kamailio prometheus clean

all: build

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

deps: $(NPM_STAMP)

build: deps native
	npx tsc -p tsconfig.json

# The native UDP addon (native/udp/udp.c): Node-API, compiled against the headers that come with
# Node (include/node beside bin/node). Without a compiler or headers viaduct falls back to
# node:dgram, slower but the same behaviour.
NODE_INCLUDE := $(shell node -p "require('path').resolve(process.execPath, '../../include/node')")
NATIVE_UDP := native/udp/build/viaduct_udp.node
native: $(NATIVE_UDP)
$(NATIVE_UDP): native/udp/udp.c
	@mkdir -p $(@D)
	@if [ -f $(NODE_INCLUDE)/node_api.h ] && command -v cc >/dev/null; then \
	  echo "cc $< -> $@"; cc -O2 -Wall -Wextra -Wno-unused-parameter -shared -fPIC -I$(NODE_INCLUDE) $< -o $@; \
	else echo "warning: native UDP not built (no C compiler or no $(NODE_INCLUDE)/node_api.h): node:dgram will be used"; fi

# Debian packages the tests and benchmarks drive (root on CI; sudo elsewhere).
APT := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)
sipp:
	@command -v sipp >/dev/null || { $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq sip-tester; }

kamailio:
	@command -v kamailio >/dev/null || { $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq kamailio; }
	@# the Debian package starts a system service on 5060; the bench needs the port
	@-systemctl stop kamailio >/dev/null 2>&1 || true

# test/e2e/prometheus.test.ts runs a real Prometheus (on a port of its own) scraping viaduct.
prometheus:
	@command -v prometheus >/dev/null || { $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq --no-install-recommends prometheus; }
	@# the Debian package starts a system service on 9090; the test does not need it
	@-systemctl stop prometheus >/dev/null 2>&1 || true

run: build
	bin/viaduct run $(RUN_SCRIPT) $(RUN_ARGS)

# Three SIPp uas behind examples/load-balancer.js (examples/dispatcher.list), a SIPp caller at
# DEMO_RATE calls/s for DEMO_SECONDS; prints the dispatcher's state and the calls per destination.
DEMO_SECONDS ?= 20
DEMO_RATE ?= 20
demo: build sipp
	node dist/bench/demo.js --seconds $(DEMO_SECONDS) --rate $(DEMO_RATE)

# The tests are type-checked (tsconfig.test.json, no output) before vitest runs them.
test: build sipp prometheus
	npx tsc -p tsconfig.test.json
	npx vitest run

bench: build sipp kamailio
	node dist/bench/run.js $(BENCH_ARGS)

clean:
	rm -rf dist native/udp/build
