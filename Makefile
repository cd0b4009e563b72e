# Every target covers every module of the repository.
MODULES := . natsfanout examples
GO ?= go

.PHONY: test lint bench loadtest fuzz demo cluster

## test: every test of every module, with the race detector
test:
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) test -race -count=1 ./...); done

## lint: gofmt and go vet over every module
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done

## bench: every benchmark, with its baseline, in one run per module
bench:
	$(GO) test -run '^$$' -bench Engage -benchmem -count 3 .
	$(GO) test -run '^$$' -bench IdleSubscriberMemory -benchtime 1x ./push
	$(GO) test -run '^$$' -bench Delivery -benchtime 3s ./push
	cd natsfanout && $(GO) test -run '^$$' -bench CrossInstance -benchtime 5s .

## loadtest: the handler against a bare handler over loopback with wrk
loadtest:
	scripts/loopback-bench.sh

## fuzz: every fuzz target of the root, internal and push packages, each for FUZZTIME (default 20s)
FUZZTIME ?= 20s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh . ./internal/... ./push

## demo: the shop demo on 127.0.0.1:8080 (open it in a browser)
demo:
	cd examples && $(GO) run ./demo

## cluster: the demo as two instances joined by an embedded NATS server
cluster:
	cd examples && $(GO) run ./cluster
