# fallbackwatch — `make demo` replays the shipped Bookinfo logs, `make test` runs every test.
GO       ?= go
GOFLAGS  ?=
export PATH := $(PATH):/usr/local/go/bin

# Version information linked into the binaries (`collector --version`, fallbackwatch_build_info),
# the variables of Prometheus' version package; override VERSION for a release build.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH      ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_DATE  ?= $(shell date -u +%Y%m%d-%H:%M:%S)
VERSION_PKG ?= github.com/prometheus/common/version
LDFLAGS     := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

SAMPLE_ROUTING := --routing testdata/bookinfo/destinationrule.yaml --routing testdata/bookinfo/sample2.yaml
SAMPLE_LOG     := testdata/logs/bookinfo-productpage.log

.PHONY: all build demo test deps vet unit race e2e bench generate deploy-generate

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

## demo: replay the shipped Bookinfo incident log against the seed's routing configuration; the
## text report goes to the terminal, the same report as one HTML page to out/bookinfo-report.html.
demo:
	$(GO) run ./cmd/collector replay $(SAMPLE_ROUTING) $(SAMPLE_LOG)
	@mkdir -p out
	$(GO) run ./cmd/collector replay --format html --output out/bookinfo-report.html $(SAMPLE_ROUTING) $(SAMPLE_LOG)
	@echo "HTML report: out/bookinfo-report.html"

## deps: install what the tests run for real (Prometheus, promtool, Alertmanager, mtail, kubectl,
## Chromium, etcd), and build the real kube-apiserver the live-routing tests start (minutes the
## first time, then cached).
deps:
	bash scripts/install-prometheus.sh
	bash scripts/build-kube-apiserver.sh >/dev/null

## test: every test, with the real components installed first.
test: deps vet unit race e2e

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

unit:
	$(GO) test $(GOFLAGS) -count=1 -timeout 15m $$($(GO) list ./... | grep -v /e2e$$)

## e2e: the story test with real Prometheus, Alertmanager and Kafka, alone so that its timing is
## not squeezed by other packages' tests.
e2e:
	$(GO) test $(GOFLAGS) -count=1 -timeout 10m ./e2e

## race: the packages that run goroutines or are called from several at once, under the race detector.
race:
	$(GO) test $(GOFLAGS) -count=1 -race -timeout 15m ./aggregate/... ./internal/tail/... ./internal/kafkasrc/... \
		./internal/replay/... ./internal/pipeline/... ./internal/benchtool/... ./cmd/collector/... ./kubesource/...

## bench: the benchmark script whose figures are in the README.
bench:
	bash scripts/bench.sh

## generate: regenerate the committed rules and dashboards under monitoring/ and the goldens.
generate:
	$(GO) test ./cmd/alertgen ./alerts ./dashboards -count=1 -update

## deploy-generate: copy the generated Bookinfo rules, dashboards and routing configuration into deploy/.
deploy-generate:
	cp monitoring/bookinfo/sample2/prometheusrule.yaml deploy/bookinfo/prometheusrule.yaml
	cp monitoring/bookinfo/sample2/dashboards/fallbackwatch-dashboards-configmap.yaml deploy/bookinfo-dashboards/
	cp testdata/bookinfo/destinationrule.yaml deploy/bookinfo/routing/destinationrule.yaml
	cp testdata/bookinfo/sample2.yaml deploy/bookinfo/routing/virtualservice.yaml
