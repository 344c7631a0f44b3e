# minipot — see README.md. Every target works on a fresh machine without root.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BUILD     := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"
STATICCHECK_VERSION := v0.8.2
FUZZTIME  ?= 30s

.PHONY: build run run-not-root test bench lint cross fuzz clean

build:
	$(BUILD) -o bin/minipot ./cmd/minipot

# The agent, the control API and the exporter (idle until section export is
# set) in the foreground with the development
# config (./var/config, fakes on 127.0.0.1, store in ./var, API on
# ./var/run/api.sock and 127.0.0.1:8377 with the token in ./var/api.token;
# the Data collection page at the http://127.0.0.1:8377/#token=... it prints).
# Ctrl-C stops all three; so does any one exiting, and make then fails with
# the status of the first to exit (a second `make run` beside a first one
# cannot listen, and says so). FIREWALL=1 (as root) lets the API manage the
# redirect rules; the agent then runs as root too, which only development
# may do, and on loopback only whatever the settings say (--dev sees to it).
# As root without FIREWALL=1 it refuses: the agent faces the internet and
# never runs as root by accident.
run: SHELL := /bin/bash
run: run-not-root build
	@./bin/minipot agent --dev $(if $(FIREWALL),--allow-root) & agent=$$!; \
	./bin/minipot api --dev $(if $(FIREWALL),--firewall) & api=$$!; \
	./bin/minipot export --dev $(if $(FIREWALL),--allow-root) & export=$$!; \
	trap 'kill $$agent $$api $$export 2>/dev/null; wait; exit 130' INT TERM; \
	wait -n; rc=$$?; kill $$agent $$api $$export 2>/dev/null; wait; \
	if [ "$$rc" = 0 ]; then rc=1; fi; exit $$rc

# Before the build, so that the refusal comes at once.
run-not-root:
	@if [ "$$(id -u)" = 0 ] && [ -z "$(FIREWALL)" ]; then \
		echo "make run: refusing to run the internet-facing agent as root. Run it as an unprivileged user, or, for firewall work, as root with FIREWALL=1 (the agent then runs as root, on loopback only)." >&2; \
		exit 1; \
	fi

# Unit tests, fuzz seeds, and the end-to-end tests under tests/ (which build
# the binary themselves). Under CI=true nothing may skip.
# Under CI=true also every router binary (make cross): a build that breaks
# on one architecture (32-bit, big-endian MIPS) fails here. The store's
# tests under qemu for mips and mipsle are in tests/ (TestStoreOnMIPS): a
# few minutes of emulation, hence the longer timeout.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	@if [ "$$CI" = true ]; then $(MAKE) --no-print-directory cross; fi

# Figures for the closing notes: the real agent under load on loopback
# (tests/bench), the store's sustained write rate, the parsers, the API on
# a million events and end to end, the exporter draining 100k events to a
# local mosquitto, the firewall (root: network namespace), the size of the
# router binaries, and the two SQLite drivers side by side
# (tests/bench/drivers.sh: amd64, qemu-arm, qemu-mipsel).
bench: build cross
	$(GO) run ./tests/bench -bin bin/minipot
	@# The agent's RSS idle, with 1,000 idle connections and under a telnet
	@# flood, per architecture under qemu-user: the emulator's own memory is
	@# in every figure, so qemu-x86_64 with the amd64 binary is the yardstick.
	@set -e; for e in "qemu-x86_64 bin/minipot" "qemu-arm dist/minipot-linux-armv7" "qemu-mipsel dist/minipot-linux-mipsle"; do \
		set -- $$e; echo "== agent under $$1"; \
		$(GO) run ./tests/bench -emu $$1 -bin $$2 -only idle,telnet -idle 1000 -d 5s; \
	done
	$(GO) test -run '^$$' -bench 'Write|Emit' -benchtime 1000000x ./internal/store/
	$(GO) test -run '^$$' -bench . -benchmem ./agent/telnet/ ./agent/httpd/
	$(GO) test -run '^$$' -bench Queries1M -benchtime 20x ./webapi/
	GO=$(GO) sh tests/bench/drivers.sh
	$(GO) test -run '^$$' -bench SettingsUpdate -benchtime 200x ./tests/
	$(GO) test -run '^$$' -bench 'Apply|RealServiceTakesPort' -benchtime 20x ./internal/firewall/
	$(GO) test -run '^$$' -bench ExportDrain -benchtime 1x ./tests/
	$(GO) test -run '^$$' -bench . -benchtime 50x ./agent/ssh/
	@# The SSH handshake on ARMv7 under qemu-user: emulation, so compare
	@# its ratio to the signature yardstick, not its times.
	@if command -v qemu-arm >/dev/null; then \
		GOARCH=arm GOARM=7 $(GO) test -c -o dist/ssh-arm.test ./agent/ssh/ && \
		qemu-arm dist/ssh-arm.test -test.run '^$$' -test.bench . -test.benchtime 10x; \
	else echo "SSH handshake on ARM: not measured: qemu-arm is not installed (apt-get install qemu-user)"; fi

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "not gofmt-formatted"; exit 1; }

# Static, stripped builds for every router architecture OpenWrt runs Go on,
# each with its size raw and compressed with xz (what a firmware image or a
# package on flash costs). MIPS gets github.com/ncruces/go-sqlite3, the
# others modernc.org/sqlite (internal/store/driver_*.go,
# docs/architectures.md). CROSS picks a subset, e.g. CROSS="mipsle arm:7".
CROSS ?= mips mipsle arm:5 arm:6 arm:7 arm64 386 amd64 riscv64
cross:
	@mkdir -p dist
	@set -e; for t in $(CROSS); do \
		arch=$${t%%:*}; arm=$$(case $$t in *:*) echo $${t#*:};; esac); \
		out=dist/minipot-linux-$$arch$${arm:+v$$arm}; \
		GOOS=linux GOARCH=$$arch GOARM=$$arm GOMIPS=softfloat GO386=softfloat $(BUILD) -o $$out ./cmd/minipot; \
		printf '%-32s %9d bytes  xz %9d bytes\n' $$out $$(stat -c %s $$out) $$(xz -9 -T1 -c $$out | wc -c); \
	done

# Each fuzz target for FUZZTIME.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) sh tests/fuzz-all.sh

clean:
	rm -rf bin dist
