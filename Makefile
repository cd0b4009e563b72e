# Every target covers every module of the repository: those go.work uses.
GO ?= go
MODULES := $(shell $(GO) work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')
ifeq ($(strip $(MODULES)),)
$(error no module found through go.work: run make at the repository root, with GOWORK unset)
endif

.PHONY: test lint bench loadtest fuzz demo cluster release-check

## test: every test of every module, with the race detector; a skipped test is listed with its reason
test:
	@set -e; for m in $(MODULES); do echo "== $$m"; $(GO) run ./internal/gotest -C $$m -race -count=1 ./...; done

## lint: gofmt and go vet over every module
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done

## bench: every benchmark, with its baseline, in one run per module
bench:
	$(GO) test -run '^$$' -bench Engage -benchmem -count 5 .
	$(GO) test -run '^$$' -bench IdleSubscriberMemory -benchtime 1x ./push
	$(GO) test -run '^$$' -bench 'Delivery$$' -benchtime 3s ./push
	cd natsfanout && $(GO) test -run '^$$' -bench CrossInstance -benchtime 5s .
	cd redisfanout && $(GO) test -run '^$$' -bench CrossInstance -benchtime 5s .
	cd otelgateway && $(GO) test -run '^$$' -bench Engage -benchmem -count 5 .

## loadtest: the handler against a bare handler over loopback with wrk
loadtest:
	scripts/loopback-bench.sh

## fuzz: every fuzz target of the root, internal and push packages, each for FUZZTIME (default 20s)
FUZZTIME ?= 20s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh . ./internal/... ./push

## demo: the shop demo on 127.0.0.1:8080 (open it in a browser); flags in ARGS, e.g. ARGS='-addr :8080'
demo:
	$(GO) run ./examples/demo $(ARGS)

## cluster: the demo as two instances joined by an embedded NATS server (ARGS='-backend redis' for Redis); flags in ARGS, e.g. ARGS='-nats nats://host:4222'
cluster:
	$(GO) run ./examples/cluster $(ARGS)

## release-check: a module outside the repository go gets every published module and builds its public packages (RELEASING.md)
release-check:
	$(GO) run ./tools/releasecheck
