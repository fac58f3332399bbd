# kubegrant: make build | test | run | stop | install | install-plugin | lint | fmt | fuzz | bench | clean
SHELL := /bin/bash
.DEFAULT_GOAL := build

BUILD_DIR ?= build
ASAN_BUILD_DIR ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
DEV_DIR ?= .dev
export PATH := $(PATH):/usr/local/go/bin

.PHONY: deps
deps: ## Install missing Debian packages (apt-get update once, only if something is missing)
	@.ci/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

.PHONY: build
build: deps $(BUILD_DIR)/build.ninja ## Build the operator, libraries and tests
	cmake --build $(BUILD_DIR) -j $(JOBS)

.PHONY: controlplane
controlplane: deps ## Build (or reuse cached) kube-apiserver, etcd and Helm for the local control plane and chart tests
	tests/controlplane/build.sh

.PHONY: test
test: build controlplane ## All tests: unit, then integration and e2e against a real control plane + PostgreSQL
	.ci/run-tests.sh $(BUILD_DIR)

.PHONY: unit
unit: build ## Unit tests only (no control plane)
	ctest --test-dir $(BUILD_DIR) -L unit --output-on-failure -j $(JOBS)

.PHONY: test-asan
test-asan: deps ## Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKUBEGRANT_SANITIZE=ON
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS) --target unit-tests
	ASAN_OPTIONS=fast_unwind_on_malloc=0 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  ctest --test-dir $(ASAN_BUILD_DIR) -L unit --output-on-failure -j $(JOBS)

.PHONY: run
run: build controlplane ## Run the operator (starts the local control plane + PostgreSQL in .dev/ when no KUBECONFIG is set)
	operator/deploy/run-local.sh $(BUILD_DIR) $(DEV_DIR)

.PHONY: stop
stop: ## Stop the local control plane and PostgreSQL started by `make run`
	tests/controlplane/down.sh $(DEV_DIR)

.PHONY: install
install: ## Install the CRDs into the current cluster (KUBECONFIG)
	kubectl apply --server-side -f crds/

# Where `make install-plugin` puts kubectl-grant: /usr/local/bin as root, else ~/.local/bin.
PLUGIN_DIR ?= $(if $(filter 0,$(shell id -u)),/usr/local/bin,$(HOME)/.local/bin)

.PHONY: install-plugin
install-plugin: deps $(BUILD_DIR)/build.ninja ## Install the kubectl plugin so `kubectl grant ...` works (PLUGIN_DIR=...)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kubectl-grant
	install -d $(PLUGIN_DIR)
	install -m 0755 $(BUILD_DIR)/operator/kubectl_grant/kubectl-grant $(PLUGIN_DIR)/kubectl-grant
	install -m 0755 operator/kubectl_grant/kubectl_complete-grant $(PLUGIN_DIR)/kubectl_complete-grant
	@echo "installed $(PLUGIN_DIR)/kubectl-grant (and kubectl_complete-grant for shell completion)"
	@case ":$$PATH:" in *":$(PLUGIN_DIR):"*) ;; \
	  *) echo "note: $(PLUGIN_DIR) is not on your PATH: export PATH=\"$(PLUGIN_DIR):\$$PATH\"";; esac

.PHONY: plugin-archive
plugin-archive: deps $(BUILD_DIR)/build.ninja ## The kubectl-grant archive for krew (operator/kubectl_grant/plugin.yaml) and its sha256
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kubectl-grant
	tar -czf $(BUILD_DIR)/kubectl-grant-linux-amd64.tar.gz \
	  -C $(BUILD_DIR)/operator/kubectl_grant kubectl-grant -C $(CURDIR)/operator/kubectl_grant kubectl_complete-grant
	sha256sum $(BUILD_DIR)/kubectl-grant-linux-amd64.tar.gz

.PHONY: lint
lint: ## Check formatting (clang-format, Google style, 100 columns)
	@files=$$(git ls-files '*.cc' '*.h'); \
	clang-format --dry-run --Werror $$files && echo "lint: $$(echo $$files | wc -w) files formatted"

.PHONY: fmt
fmt: ## Format all C++ sources in place
	clang-format -i $$(git ls-files '*.cc' '*.h')

.PHONY: fuzz
fuzz: ## Fuzz the admission webhook entry point with libFuzzer (clang-16; FUZZ_RUNS executions, default 200000)
	KUBEGRANT_DEPS_EXTRA="clang-16 libclang-rt-16-dev" .ci/install-deps.sh
	tests/fuzz/run.sh $(or $(FUZZ_RUNS),200000)

.PHONY: bench
bench: build controlplane ## Benchmarks (see bench/README.md for each command and the last figures)
	bench/webhook_bench.sh $(BUILD_DIR)
	$(BUILD_DIR)/bench/api_bench

.PHONY: clean
clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR)

.PHONY: help
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'
