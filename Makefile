# Voordeur — the two commands of the README:
#   make run    the demo server (embedded SQLite, demo data) and the app connected to it
#   make test   every test: formatting, lints, Rust tests (SQLite and PostgreSQL), UI tests
# Both install what a fresh Debian 12 machine lacks first (`make deps`).

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
RUN_DIR := $(CURDIR)/.voordeur-demo
PORT ?= 8080

APT_PACKAGES := build-essential pkg-config curl file libssl-dev \
	libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev \
	postgresql-15 xvfb webkit2gtk-driver imagemagick xauth \
	dbus gnome-keyring

.PHONY: deps apt-deps npm-deps tauri-driver ui build run test test-rust test-ui lint fmt bench clean-demo

deps: apt-deps npm-deps tauri-driver

apt-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:" $$missing; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

npm-deps:
	@cd ui && if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi

tauri-driver:
	@command -v tauri-driver >/dev/null || $(CARGO) install tauri-driver --locked --version ^2

ui: npm-deps
	cd ui && npm run build

build: deps ui
	$(CARGO) build -p voordeur-server -p voordeur -p voordeur-app

# Start the demo server in the background, enrol a device folder as worker anna, sync
# it, and open the app on that device folder. Ctrl-C (or closing the app) stops both.
# The app keeps its database key in the desktop's key store; without one (a server
# with Xvfb) scripts/with-keyring gives it a private gnome-keyring in the demo folder.
run: build
	@mkdir -p $(RUN_DIR)
	@rm -rf $(RUN_DIR)/device; \
	$(TARGET_DIR)/debug/voordeur-server --db $(RUN_DIR)/server.db serve --demo --listen 127.0.0.1:$(PORT) > $(RUN_DIR)/server.out 2> $(RUN_DIR)/server.log & \
	server=$$!; trap "kill $$server 2>/dev/null" EXIT INT TERM; \
	for i in $$(seq 1 50); do grep -q '^listening' $(RUN_DIR)/server.out 2>/dev/null && break; sleep 0.2; done; \
	cat $(RUN_DIR)/server.out; \
	code=$$(awk '$$1=="enrol" && $$2=="anna" {print $$3}' $(RUN_DIR)/server.out); \
	$(TARGET_DIR)/debug/voordeur --data $(RUN_DIR)/device enroll --server http://127.0.0.1:$(PORT) --code $$code && \
	$(TARGET_DIR)/debug/voordeur --data $(RUN_DIR)/device sync && \
	VOORDEUR_DATA=$(RUN_DIR)/device VOORDEUR_KEYRING_DIR=$(RUN_DIR)/keyring \
		scripts/with-keyring $(TARGET_DIR)/debug/voordeur-app

fmt:
	$(CARGO) fmt --all

lint: deps ui
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust: deps ui
	$(CARGO) test --workspace

test-ui: npm-deps
	cd ui && npm test

test: lint test-rust test-ui test-e2e

# End to end: the real app binary under Xvfb over WebDriver (tauri-driver +
# WebKitWebDriver), against a real server, with axe-core; screenshots go to
# tests/e2e/artifacts/. The tests are #[ignore]d so `cargo test --workspace` skips them.
E2E_DIR := tests/e2e
E2E_TEST_ARGS ?=

.PHONY: test-e2e
test-e2e: deps ui
	@cd $(E2E_DIR) && if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
	$(CARGO) build -p voordeur-server -p voordeur -p voordeur-app
	keyring=$$(mktemp -d); trap "rm -rf $$keyring" EXIT; \
	VOORDEUR_KEYRING_DIR=$$keyring scripts/with-keyring \
		$(CARGO) test -p voordeur-e2e --lib --test app -- --include-ignored --test-threads=1 $(E2E_TEST_ARGS)

bench:
	$(CARGO) bench -p voordeur-store --bench store

clean-demo:
	rm -rf $(RUN_DIR)
