# markread's tasks. `make` alone lists them.
GO          ?= go
FUZZTIME    ?= 30s
BENCHCOUNT  ?= 10
BASE        ?= HEAD
SHELL       := bash
# File names and revisions are data: recipes read them from the environment, unexpanded ($(value)), and
# quote them ("$$NEW"), so that neither make nor the shell splits or runs a name like `x;touch y;.yaml`.
override NEW      := $(value NEW)
override OLD      := $(value OLD)
override BASE     := $(value BASE)
override FUZZTIME := $(value FUZZTIME)
export NEW OLD BASE FUZZTIME
# Tools are built into .cache/bin (ignored by git) and run from there: staticcheck is built once for both
# modules, and a tool's exit status is not followed by go run's own "exit status 1". The spec tools
# (oasdiff, apidiff) are their own module under tools/, so that they never reach the main module's go.sum
# or a library user's build.
TOOLBIN     := .cache/bin
STATICCHECK := $(TOOLBIN)/staticcheck-v0.8.2
SPECTOOLS   := $(GO) -C tools build -o "../$(TOOLBIN)/" ./cmd/specdiff ./cmd/specreview

.DEFAULT_GOAL := help
.PHONY: help demo test lint generate check-generated spec-check spec-diff spec-test spec-test-short spec-tools docs-check bench fuzz

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' Makefile

demo: ## mark a conversation read against the embedded fake X server (no token needed)
	@echo "building markread and its fake X (about a minute the first time)..."
	$(GO) run ./cmd/markread demo

test: lint check-generated spec-test-short ## lint, check gen/ is up to date, and run every test with the race detector
	$(GO) test -race -count=1 ./...

lint: $(STATICCHECK) ## gofmt, go vet and staticcheck
	@unformatted=$$(git ls-files -z '*.go' | xargs -0r gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	GOBIN="$$PWD/$(TOOLBIN)" $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	mv "$(TOOLBIN)/staticcheck" "$@"

spec-tools: ## build specdiff and specreview (tools/) into .cache/bin
	@$(SPECTOOLS)

# A report that cannot be made (no git history, say) does not stop the regeneration: hence the "-".
generate: ## report the spec's change against BASE (HEAD), regenerate gen/, report the change to the Go API
	-@$(SPECTOOLS)
	-@$(TOOLBIN)/specreview -repo . -base "$$BASE" spec
	$(GO) generate ./...
	-@$(TOOLBIN)/specreview -repo . -base "$$BASE" goapi

check-generated: ## fail unless gen/ is exactly what go generate makes from the working tree, stray files included
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	mkdir -p "$$tmp/gen" "$$tmp/spec" && cp go.mod go.sum *.go "$$tmp/" && \
	cp gen/config.yaml "$$tmp/gen/" && cp spec/openapi.yaml "$$tmp/spec/" && \
	(cd "$$tmp" && $(GO) generate .) && \
	if ! diff -r -u gen "$$tmp/gen" > "$$tmp/diff"; then \
		echo "gen/ is not what go generate makes from spec/openapi.yaml and gen/config.yaml (run make generate):"; \
		sed "s|$$tmp/gen|generated|g" "$$tmp/diff" | head -n 40; exit 1; \
	fi

spec-check: spec-tools ## the reports of make generate without writing gen/; fails on a breaking change (BASE=origin/main in CI)
	@$(TOOLBIN)/specreview -repo . -base "$$BASE" -regenerate -fail spec goapi

spec-diff: spec-tools ## compare X's definition NEW=<file> with spec/openapi.yaml (status 1: they differ); OLD=<file> adds X's own change
	@if [ -z "$$NEW" ]; then echo "usage: make spec-diff NEW=<X's definition, JSON or YAML> [OLD=<an earlier one>]" >&2; exit 2; fi; \
	$(TOOLBIN)/specdiff -repo . -old "$$OLD" -- "$$NEW"

spec-test-short: $(STATICCHECK) ## vet, staticcheck and the quick tests of the spec tools (part of make test)
	$(GO) -C tools vet ./...
	cd tools && ../$(STATICCHECK) ./...
	$(GO) -C tools test -short -count=1 ./...

spec-test: spec-test-short ## the spec tools' tests, and a breaking spec edit replayed in a copy of the repository (~20 s)
	$(GO) -C tools test -count=1 -run '^TestBreakingSpecEditIsCaughtAtEveryStep$$' ./e2e/

docs-check: ## the docs against the code: the walk-through replayed, the README's program, the fault suite's table
	$(GO) -C tools test -count=1 -run '^TestWalkThrough$$' ./e2e/
	$(GO) test -tags docs -count=1 -run '^Test(FaultSuite|READMEShowsThisProgram)$$' ./api/ ./examples/quickstart/

bench: ## run the benchmarks side by side and check them against the targets (see BENCHMARKS.md)
	set -o pipefail; $(GO) test -run='^$$' -bench='^Benchmark(MarkRead|ClientCPU|ValidateConversationID)$$' -benchmem \
		-count=$(BENCHCOUNT) ./bench/ | tee bench.out
	$(GO) test -run='^$$' -bench='^BenchmarkMarkerMarkContention$$' -benchmem -count=1 ./bench/
	$(GO) test -run='^TestMarker(Workload|Pacing|ForgetsAMillionConversations)$$' -count=1 -v ./bench/
	$(GO) run ./bench/report < bench.out

fuzz: ## run each fuzz target for FUZZTIME (30s)
	$(GO) test -run='^$$' -fuzz='^FuzzValidateConversationID$$' -fuzztime="$$FUZZTIME" -fuzzminimizetime=5s ./api
	$(GO) test -run='^$$' -fuzz='^FuzzResponseHandling$$' -fuzztime="$$FUZZTIME" -fuzzminimizetime=5s ./api
	$(GO) test -run='^$$' -fuzz='^FuzzCompareSequenceIDs$$' -fuzztime="$$FUZZTIME" -fuzzminimizetime=5s ./api/apitest
