# markread's tasks. `make` alone lists them.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 30s
BENCHCOUNT  ?= 10
SHELL       := bash

.DEFAULT_GOAL := help
.PHONY: help demo test lint generate check-generated bench fuzz

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

demo: ## mark a conversation read against the embedded fake X server (no token needed)
	$(GO) run ./cmd/markread demo

test: lint check-generated ## lint, check gen/ is up to date, and run every test with the race detector
	$(GO) test -race -count=1 ./...

lint: ## gofmt, go vet and staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

generate: ## regenerate gen/ from spec/openapi.yaml
	$(GO) generate ./...

check-generated: generate ## fail if regenerating changes anything, new untracked files included
	@status=$$(git status --porcelain -- gen go.mod go.sum); \
	if [ -n "$$status" ]; then echo "gen/ is not what go generate produces:"; echo "$$status"; git diff --stat; exit 1; fi

bench: ## run the benchmarks side by side and check them against the targets (see BENCHMARKS.md)
	set -o pipefail; $(GO) test -run='^$$' -bench='^Benchmark(MarkRead|ClientCPU|ValidateConversationID)$$' -benchmem \
		-count=$(BENCHCOUNT) ./bench/ | tee bench.out
	$(GO) test -run='^$$' -bench='^BenchmarkMarkerWorkload$$' -benchmem -count=1 ./bench/
	$(GO) test -run='^TestMarker(Pacing|ForgetsAMillionConversations)$$' -count=1 -v ./bench/
	$(GO) run ./bench/report < bench.out

fuzz: ## run each fuzz target for $(FUZZTIME)
	$(GO) test -run='^$$' -fuzz='^FuzzValidateConversationID$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./api
	$(GO) test -run='^$$' -fuzz='^FuzzResponseHandling$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./api
	$(GO) test -run='^$$' -fuzz='^FuzzCompareSequenceIDs$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s ./api/apitest
