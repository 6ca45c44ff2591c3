# Casebook: the two commands a newcomer needs are `make demo` and `make test`.
# Everything runs from the repository root; the Go workspace (go.work) ties the modules together.

MODULES     := platform fraud recsys adsranking loadgen deploy/check
PKGS        := $(MODULES:%=./%/...)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Binaries that offer `scenario list|run` (see platform/scenario).
BINARIES    := platform/cmd/mlp fraud/cmd/fraud recsys/cmd/recsys adsranking/cmd/adsranking loadgen/cmd/loadgen
BIN         := bin
GO_TEST_FLAGS ?= -count=1 -timeout 15m
BENCH       ?= .
BENCH_FLAGS ?= -benchtime 1s -timeout 60m

.PHONY: help demo demo-busy test lint fmt vet staticcheck modules rules bench fuzz images build scenario scenarios clean stack stack-load stack-down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

demo: ## run the main job: a checked tour of the platform, then the fraud, recommender and ad auction case studies (no setup)
	go run ./platform/cmd/mlp demo
	@echo
	@echo "━━━━━━━━ The fraud case study (fraud/): the handbook's protocol, then a live stream ━━━━━━━━"
	CASEBOOK_REPORT_DIR=$(CURDIR)/out go run ./fraud/cmd/fraud scenario run fraud/protocol fraud/stream
	@echo
	@echo "The fraud stream's HTML report (differentially private at ε = 1: precision and recall per day, latency, the privacy ledger; CASEBOOK_FRAUD_REPORT_DP_EPSILON=off for exact numbers and score distributions): out/fraud-report.html"
	@echo
	@echo "━━━━━━━━ The recommender case study (recsys/): quality against the truth, the index gate, cold start ━━━━━━━━"
	go run ./recsys/cmd/recsys scenario run recsys/quality recsys/index-gate recsys/cold-start
	@echo
	@echo "More of the recommender: go run ./recsys/cmd/recsys scenario run recsys/blue-green recsys/serving recsys/decay"
	@echo "(docs/case-studies/recsys.md; recsys eval --ratings u.data takes MovieLens-100K as published)"
	@echo
	@echo "━━━━━━━━ The ad auction case study (adsranking/): mechanisms, pacing over a day, bid requests through the handler ━━━━━━━━"
	CASEBOOK_REPORT_DIR=$(CURDIR)/out go run ./adsranking/cmd/adsranking scenario run ads/auction ads/pacing ads/serving
	@echo
	@echo "Reports: out/ads-auction.html (revenue against user value), out/ads-pacing.html (spend against plan per campaign)"
	@echo "More of the auction: go run ./adsranking/cmd/adsranking scenario run ads/knobs ads/live ads/calibration"
	@echo "The click model against the generator's log loss (about 45 s): go run ./adsranking/cmd/adsranking scenario run ads/quality"
	@echo "(docs/case-studies/ads.md; adsranking/scripts/bench-serve.sh loads the bidder over HTTP)"
	@echo
	@echo "━━━━━━━━ Look at it in a browser ━━━━━━━━"
	@echo "The scenarios above ran on temporary registries and embedded event logs that ended with them, so the console"
	@echo "seeds its own: three models with versions, gates and an audit chain in out/console-registry, and a prediction"
	@echo "log with drift, outcomes and alerts; it also lists any loadgen JSON report in out/. Open http://127.0.0.1:8090/ after:"
	@echo "  go run ./platform/cmd/mlp console --demo --dir out/console-registry --reports out"

demo-busy: ## make demo beside HOGS busy loops (default one per core): the checks must hold on a busy laptop too
	bash scripts/demo-busy.sh

test: ## unit and integration tests of every module (integration tests need Docker; see docs/testing.md)
	@go run ./platform/internal/dockercheck
	go test $(GO_TEST_FLAGS) $(PKGS)

lint: fmt vet staticcheck modules rules ## gofmt, go vet, staticcheck (pinned), per-module build checks, alert rules

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi; echo "gofmt: clean"

vet:
	go vet $(PKGS)

staticcheck:
	go run $(STATICCHECK) $(PKGS)

# Every module must build on its own (GOWORK=off) and have a tidy go.mod, so that it can be
# used outside this workspace.
modules:
	@set -e; for m in $(MODULES); do \
	  (cd $$m && GOWORK=off go build ./... && go mod tidy -diff >/dev/null) || { echo "module $$m: GOWORK=off build or go mod tidy -diff failed"; exit 1; }; \
	  echo "module $$m: builds alone, go.mod tidy"; \
	done

# The Prometheus alert rules: promtool checks their syntax and PromQL, then runs their unit
# tests (which alerts fire on which series, with which labels and annotations). That every
# metric they read is one the platform registers is a Go test (platform/internal/repocheck).
PROMTOOL    ?= promtool
RULE_FILES  := deploy/prometheus/alerts.yaml
RULE_TESTS  := deploy/prometheus/alerts_test.yaml

rules: ## check the Prometheus alert rules and run their unit tests (needs promtool)
	@command -v $(PROMTOOL) >/dev/null || { echo "promtool not found. On Debian or Ubuntu: apt-get install --no-install-recommends prometheus (it brings promtool); elsewhere a Prometheus release has it. .ci/run installs it."; exit 1; }
	$(PROMTOOL) check rules $(RULE_FILES)
	$(PROMTOOL) test rules $(RULE_TESTS)

bench: ## every benchmark of every module (slow; not part of make test). BENCH=regexp narrows it
	go test -run '^$$' -bench '$(BENCH)' $(BENCH_FLAGS) $(PKGS)

# Fuzz targets: package and function. `go test` always runs their seed corpora; this target
# explores beyond them for FUZZTIME each (CI runs it briefly). Minimizing each new input is
# capped at 1 s: with the default (60 s) the workers spend the last seconds of a short run
# minimizing, and the run can end in "context deadline exceeded" without any failing input.
FUZZ_TARGETS := ./platform/serving:FuzzDecodeInferRequest ./adsranking/openrtb:FuzzDecode ./adsranking/internal/server:FuzzAuctionHandler
FUZZTIME     ?= 10s

fuzz: ## run every fuzz target for FUZZTIME each (default 10s)
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$fn in $$pkg for $(FUZZTIME)"; \
	  go test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s $$pkg; done

images: ## build every image with no registry: Redis, NATS, Prometheus, and one per binary (casebook/NAME:local)
	bash deploy/images/build.sh

# The compose stack (deploy/compose.yaml). COMPOSE is the compose command: the Docker CLI
# plugin (docker compose) or the standalone docker-compose. GRAFANA=1 adds Grafana, whose
# image is pulled from a registry.
COMPOSE      ?= docker compose
COMPOSE_FILE := deploy/compose.yaml
STACK        := $(COMPOSE) -p casebook -f $(COMPOSE_FILE) $(if $(GRAFANA),--profile grafana)
LOAD_FOR     ?= 60s
LOADGEN      := $(COMPOSE) -p casebook -f $(COMPOSE_FILE) --profile load run --rm loadgen run --duration $(LOAD_FOR)

stack: ## start the whole system in containers (needs make images and a compose; GRAFANA=1 adds Grafana)
	$(STACK) up -d
	$(STACK) ps

stack-load: ## drive the running stack with loadgen: fraud over NATS, recsys, adsranking and mlp over HTTP (LOAD_FOR=60s each)
	$(LOADGEN) --target nats://nats-1:4222 --allow-host nats-1 --workload fraud --rate 500
	$(LOADGEN) --target http://recsys:8081 --allow-host recsys --workload recsys --rate 200
	$(LOADGEN) --target http://adsranking:8090 --allow-host adsranking --workload ads --rate 200
	$(LOADGEN) --target http://mlp:8080/v2/models/demo-lr/infer --allow-host mlp --workload oip:15 --rate 200

stack-down: ## stop the stack and drop its volumes
	$(STACK) --profile load down -v

build: ## build every binary into ./bin
	@mkdir -p $(BIN)
	@for b in $(BINARIES); do go build -o $(BIN)/ ./$$b || exit 1; done

scenarios: build ## list every scenario of every binary
	@for b in $(BINARIES); do n=$$(basename $$b); echo "== $(BIN)/$$n"; $(BIN)/$$n scenario list; done

scenario: build ## run one scenario: make scenario NAME=eventlog/replay [JSON=out.json]
	@if [ -z "$(NAME)" ]; then echo "usage: make scenario NAME=<name> (make scenarios lists them)"; exit 2; fi
	@for b in $(BINARIES); do n=$$(basename $$b); \
	  if $(BIN)/$$n scenario names | grep -qxF '$(NAME)'; then \
	    exec $(BIN)/$$n scenario run '$(NAME)' $(if $(JSON),--json $(JSON)); fi; \
	done; echo "no binary offers scenario $(NAME); make scenarios lists them"; exit 2

clean: ## remove built binaries
	rm -rf $(BIN)
