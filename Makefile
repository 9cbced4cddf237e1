# diktyo — build, test, benchmark. Everything runs on a fresh Debian 12
# machine as root: `make deps` installs what is missing.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/diktyo/diktyo/pkg/version.Version=$(VERSION)
BIN := bin
# main package dir -> binary name
CMDS := ipam:diktyo-ipam ifup:diktyo-ifup hooks:diktyo-hook nfdhcpd:nfdhcpd nfdhcpd/dhcpload:dhcpload
STATICCHECK_VERSION := v0.8.2
FUZZTIME ?= 10s
BENCHTIME ?= 1s

# Debian packages the tests, benchmarks and demo use.
DEB_DEPS := iproute2 nftables iptables python3 python3-bitarray \
	isc-dhcp-client udhcpc dhcpcd-base ndisc6 dnsmasq-base \
	tcpdump util-linux procps openvswitch-switch iputils-arping ethtool

.PHONY: all build test unit bench lint fuzz demo deps clean gofmt-check vet staticcheck tidy-check netns-ready deb deb-test e2e

all: build

build:
	@mkdir -p $(BIN)
	@set -e; for c in $(CMDS); do dir=$${c%%:*}; name=$${c##*:}; \
		echo "go build -o $(BIN)/$$name ./$$dir"; \
		CGO_ENABLED=0 $(GO) build -trimpath -tags urfave_cli_no_docs -ldflags '$(LDFLAGS)' -o $(BIN)/$$name ./$$dir; done

# Only the benchmarks' baselines need these.
DEB_BENCH_DEPS := kea-dhcp4-server

# Debian packages `make deb` and `make deb-test` use (building, lintian,
# the clean Debian 12 root of the package test).
DEB_PKG_DEPS := dpkg-dev debhelper fakeroot lintian debootstrap
# Where `make deb` puts the .deb, .changes and .buildinfo files.
DEB_OUT := dist/deb

# deps installs the missing Debian packages (apt-get update only when needed).
deps:
	@missing=""; for p in $(DEB_DEPS) $(EXTRA_DEPS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to install$$missing" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi

# test: lint, then every test (root tests need root: run as root, as CI does),
# then the Debian package test (about 4 minutes on a fresh machine, 2 once
# its Debian 12 root is cached).
test: deps lint build netns-ready
	$(GO) test -count=1 -timeout 30m ./...
	./scripts/demo/check.sh
	$(MAKE) deb-test

# netns-ready makes /run/netns a shared mount once, before test packages
# running in parallel race to set it up (a lost race hides namespaces
# from each other: "Peer netns reference is invalid").
netns-ready:
	@if [ "$$(id -u)" = 0 ]; then ip netns add diktyo-ready-$$$$ && ip netns del diktyo-ready-$$$$; fi

unit:
	$(GO) test -count=1 -short ./...

vet:
	$(GO) vet ./...

gofmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

staticcheck:
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck ./...

# tidy-check fails when go.mod or go.sum are not what go mod tidy writes.
tidy-check:
	$(GO) mod tidy -diff

lint: vet gofmt-check staticcheck tidy-check

# fuzz runs every fuzz target for FUZZTIME.
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		pkg=./$$(dirname $$f); \
		for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "== $$pkg $$t"; $(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$pkg; done; done

# bench runs the Go benchmarks and the side-by-side comparisons, and
# rewrites docs/BENCHMARKS.md.
bench: build
	$(MAKE) deps EXTRA_DEPS="$(DEB_BENCH_DEPS)"
	./scripts/bench/run.sh

# deb builds the Debian packages diktyo and diktyo-nfdhcpd with the Go
# above (debian/rules puts /usr/local/go/bin on PATH) into $(DEB_OUT) and
# runs lintian on them: an error fails (overrides are explained in
# debian/*.lintian-overrides).
deb:
	$(MAKE) deps DEB_DEPS= EXTRA_DEPS="$(DEB_PKG_DEPS)"
	@set -e; ver=$$(dpkg-parsechangelog -S Version); arch=$$(dpkg --print-architecture); \
	rm -rf $(DEB_OUT); mkdir -p $(DEB_OUT); \
	dpkg-buildpackage -us -uc -b; \
	mv ../diktyo_$${ver}_$${arch}.deb ../diktyo-nfdhcpd_$${ver}_$${arch}.deb \
		../diktyo_$${ver}_$${arch}.changes ../diktyo_$${ver}_$${arch}.buildinfo $(DEB_OUT)/; \
	debian/rules clean >/dev/null; \
	lintian --fail-on error $(DEB_OUT)/diktyo_$${ver}_$${arch}.changes

# deb-test installs the packages of `make deb` into a clean Debian 12 root
# and checks them (scripts/deb/test.sh).
deb-test: deb
	./scripts/deb/test.sh $(DEB_OUT)

# Debian packages `make e2e` needs: the Ganeti cluster, QEMU, the guest's
# busybox, the consoles and the checks.
DEB_E2E_DEPS := ganeti qemu-system-x86 openssh-server openssh-client socat \
	iputils-ping busybox-static jq

# e2e builds the packages, installs them on a two-node Ganeti 3.0.2 cluster
# on this machine with QEMU guests, runs issue 13's scenario and cleans up
# (scripts/e2e/README.md: about 5 minutes; it changes the machine while it
# runs, so make test does not run it).
e2e: deb
	$(MAKE) deps EXTRA_DEPS="$(DEB_E2E_DEPS)"
	./scripts/e2e/run.sh $(DEB_OUT)/diktyo_*.deb $(DEB_OUT)/diktyo-nfdhcpd_*.deb

demo: deps build
	./scripts/demo/demo.sh

clean:
	rm -rf $(BIN) dist
