# markread's tasks. `make` alone lists them.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 30s
BENCHCOUNT  ?= 10
BASE        ?= HEAD
SHELL       := bash
# The spec tools (oasdiff, apidiff) are their own module under tools/, so that they never reach the
# main module's go.sum or a library user's build; go run builds them at the versions tools/go.mod pins.
SPECTOOLS   := $(GO) -C tools run

.DEFAULT_GOAL := help
.PHONY: help demo test lint generate check-generated spec-check spec-diff spec-test spec-test-short bench fuzz

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

demo: ## mark a conversation read against the embedded fake X server (no token needed)
	$(GO) run ./cmd/markread demo

test: lint check-generated spec-test-short ## lint, check gen/ is up to date, and run every test with the race detector
	$(GO) test -race -count=1 ./...

lint: ## gofmt, go vet and staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# A report that cannot be made (no git history, say) does not stop the regeneration: hence the "-".
generate: ## review the spec's change against $(BASE), regenerate gen/ from spec/openapi.yaml, review the Go API's
	-@$(SPECTOOLS) ./cmd/specreview -repo $(CURDIR) -base $(BASE) spec
	$(GO) generate ./...
	-@$(SPECTOOLS) ./cmd/specreview -repo $(CURDIR) -base $(BASE) goapi

check-generated: ## fail unless gen/ is exactly what go generate makes from the working tree, stray files included
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	mkdir -p "$$tmp/gen" "$$tmp/spec" && cp go.mod go.sum *.go "$$tmp/" && \
	cp gen/config.yaml "$$tmp/gen/" && cp spec/openapi.yaml "$$tmp/spec/" && \
	(cd "$$tmp" && $(GO) generate .) && \
	if ! diff -r -u gen "$$tmp/gen" > "$$tmp/diff"; then \
		echo "gen/ is not what go generate makes from spec/openapi.yaml and gen/config.yaml (run make generate):"; \
		sed "s|$$tmp/gen|generated|g" "$$tmp/diff" | head -n 40; exit 1; \
	fi

spec-check: ## the review of make generate without writing gen/; fails on a breaking change (BASE=origin/main in CI)
	@$(SPECTOOLS) ./cmd/specreview -repo $(CURDIR) -base $(BASE) -regenerate -fail spec goapi

spec-diff: ## what X's definition NEW=<file> changes against spec/openapi.yaml; OLD=<file> adds X's own change
	@if [ -z "$(NEW)" ]; then echo "usage: make spec-diff NEW=<X's definition, JSON or YAML> [OLD=<an earlier one>]"; exit 2; fi
	@$(SPECTOOLS) ./cmd/specdiff -repo $(CURDIR) $(if $(OLD),-old $(abspath $(OLD))) $(abspath $(NEW))

spec-test-short: ## vet, staticcheck and the quick tests of the spec tools (part of make test)
	$(GO) -C tools vet ./...
	$(GO) -C tools run $(STATICCHECK) ./...
	$(GO) -C tools test -short -count=1 ./...

spec-test: spec-test-short ## the spec tools' tests, and a breaking spec edit replayed in a copy of the repository (~20 s)
	$(GO) -C tools test -count=1 -run '^TestBreakingSpecEditIsCaughtAtEveryStep$$' ./e2e/

bench: ## run the benchmarks side by side and check them against the targets (see BENCHMARKS.md)
	set -o pipefail; $(GO) test -run='^$$' -bench='^Benchmark(MarkRead|ClientCPU|ValidateConversationID)$$' -benchmem \
		-count=$(BENCHCOUNT) ./bench/ | tee bench.out
	$(GO) test -run='^$$' -bench='^BenchmarkMarker(Workload|MarkContention)$$' -benchmem -count=1 ./bench/
	$(GO) test -run='^TestMarker(Pacing|ForgetsAMillionConversations)$$' -count=1 -v ./bench/
	$(GO) run ./bench/report < bench.out

fuzz: ## run each fuzz target for $(FUZZTIME)
	$(GO) test -run='^$$' -fuzz='^FuzzValidateConversationID$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./api
	$(GO) test -run='^$$' -fuzz='^FuzzResponseHandling$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./api
	$(GO) test -run='^$$' -fuzz='^FuzzCompareSequenceIDs$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./api/apitest
