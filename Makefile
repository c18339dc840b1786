# Build, check and run recordshop. The tests need no setup: dal/testenv starts a throwaway Postgres and Redis
# for each test package (or uses RS_TEST_PG_URL and RS_TEST_REDIS_URL when both are set).

GO  ?= go
BIN := bin/recordshop

.PHONY: build run test race fmt fmtcheck vet nodev clean

# build compiles the recordshop binary into bin/.
build:
	$(GO) build -o $(BIN) ./cmd/recordshop

# run builds and starts `recordshop dev`, which brings up its own Postgres and Redis.
run: build
	./$(BIN) dev

# test checks formatting, vets (with and without -tags nodev), runs every test against real servers (one Redis
# server, then the Redis tests again on a Redis Cluster), then every fuzz target for FUZZTIME.
test: fmtcheck vet nodev test-tools
	$(GO) test -count=1 -timeout 15m ./... && $(MAKE) --no-print-directory test-cluster && $(MAKE) --no-print-directory fuzz

# test-tools installs Chromium, which the launch console's browser test drives headless (apt-get when root on
# Debian or Ubuntu; otherwise it prints the command, and that test skips, or fails under CI=true).
.PHONY: test-tools
test-tools:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; \
		else echo "the console's browser test needs Chromium: sudo apt-get install -y chromium" >&2; fi; }

# REDIS_PACKAGES are the packages whose tests reach Redis; the others do not change with its topology.
REDIS_PACKAGES := ./biz/api/... ./biz/service/... ./cmd/... ./dal/redis/... ./dal/testenv/...

# test-cluster runs the Redis tests on a devstack Redis Cluster (3 primaries, 3 replicas), each reservation
# waiting for its replica: the launch scenarios, the fault tests and the cluster's failover test. Tests of a
# fault only one server has (a stalled process, a proxy on its address) run in the one-server pass.
.PHONY: test-cluster
test-cluster:
	RS_TEST_REDIS_TOPOLOGY=cluster $(GO) test -count=1 -timeout 15m $(REDIS_PACKAGES)

# race runs the same tests under the race detector.
race:
	$(GO) test -race -count=1 -timeout 15m ./...

# fmt formats every Go file in place.
fmt:
	gofmt -w .

# fmtcheck fails, listing the files, when any Go file is not gofmt-formatted.
fmtcheck:
	@files="$$(gofmt -l .)"; \
	if [ -n "$$files" ]; then echo "gofmt: these files need formatting (run make fmt):"; echo "$$files"; exit 1; fi

# vet runs go vet on every package.
vet:
	$(GO) vet ./...

# nodev checks the production build, -tags nodev as deploy/Dockerfile builds it: every package builds and vets
# with the tag, recordshop links no dal/devstack (no local servers, no apt-get as root), and the devstack's
# stand-in installer installs nothing.
nodev:
	$(GO) build -tags nodev ./...
	$(GO) vet -tags nodev ./...
	@if $(GO) list -tags nodev -deps ./cmd/recordshop | grep -qx 'github.com/learecordshop/recordshop/dal/devstack'; then \
		echo "nodev: cmd/recordshop links dal/devstack under -tags nodev"; exit 1; fi
	$(GO) test -tags nodev -count=1 ./dal/devstack/

# PROMTOOL_VERSION is the Prometheus release whose promtool checks deploy/monitoring: the one go.mod holds for the
# PromQL parser of `go test ./deploy/monitoring/`, so that both read the files alike.
PROMTOOL_VERSION ?= $(shell $(GO) list -m -f '{{.Version}}' github.com/prometheus/prometheus)
PROMTOOL := bin/promtool-$(PROMTOOL_VERSION)

# monitoring-check checks deploy/monitoring with promtool: the alert rules (syntax, PromQL, templates), their
# unit tests (alerts_test.yml) and the example Prometheus config. promtool is built into bin/ from the Go module
# proxy on first use, a large build (every service discovery of Prometheus: more minutes on a fresh machine than
# the rest of `make test`, so it is its own target; the Go build cache makes a rebuild quick). `make test` runs
# `go test ./deploy/monitoring/`, which checks the rules with the parser promtool uses (rulefmt) and holds every
# metric the files name to a running shop.
.PHONY: monitoring-check
monitoring-check: $(PROMTOOL)
	$(PROMTOOL) check rules deploy/monitoring/alerts.yml
	$(PROMTOOL) test rules deploy/monitoring/alerts_test.yml
	$(PROMTOOL) check config deploy/monitoring/prometheus.yml

$(PROMTOOL):
	GOBIN=$(CURDIR)/bin $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)
	mv bin/promtool $@

# clean removes build output.
clean:
	rm -rf bin

# FUZZTIME is how much `make fuzz` runs each fuzz target: a count of inputs (5000x takes 1-5 s here), not a
# duration. With a duration, Go before 1.27 can fail a target with a bare "context deadline exceeded" when its
# deadline fires while a starved worker is mid-input (golang/go#75804), which a loaded CI machine does; a count
# has no deadline to race. FUZZTIME=30s still works for a longer local run.
FUZZTIME ?= 5000x

# fuzz runs every Go fuzz target (a func FuzzXxx in a _test.go file) for FUZZTIME, one after another, and stops at
# the first failure; the failing input is saved under the package's testdata/fuzz/ (commit it as a regression
# seed). `go test ./...` already runs the checked-in seeds. Targets are found with grep rather than
# `go test -list`, which would run each package's TestMain and so start its Postgres and Redis.
.PHONY: fuzz
fuzz:
	@grep -r --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | sort | while IFS=: read -r file fn; do \
		pkg="./$$(dirname "$${file#./}")"; name="$${fn#func }"; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	done

# bench starts its own stacks (Postgres with fsync on, Redis with AOF everysec), runs the launch scenarios with
# vegeta, verifies the invariants after each and writes bench/results/<scenario>.md; a broken invariant fails it.
.PHONY: bench
bench: bench-tools
	$(GO) build -o $(BIN) ./cmd/recordshop
	$(GO) build -o bin/bench-ceiling ./bench/cmd/ceiling
	$(GO) run ./bench/cmd/launchbench -recordshop $(BIN) -ceiling bin/bench-ceiling -out bench/results

# bench-tools installs wrk, the light closed-loop loader of the saturation scenario (apt-get when root on
# Debian or Ubuntu; otherwise it prints the command and stops).
.PHONY: bench-tools
bench-tools:
	@command -v wrk >/dev/null && command -v taskset >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get install -y wrk util-linux; \
		else echo "make bench needs wrk and taskset: sudo apt-get install -y wrk util-linux" >&2; exit 2; fi; }

# bench-history fills a fresh Postgres with 1M and then 10M orders of valid history (fill at schema version 2,
# then `recordshop migrate`), and times reconcile, --disc, the cold start, --rebuild and the order lists at both
# sizes; it writes bench/results/history.md with the growth factors. It needs about 12 GB of disk and up to an hour and a quarter.
.PHONY: bench-history
bench-history:
	$(GO) build -o $(BIN) ./cmd/recordshop
	$(GO) run ./bench/cmd/history -recordshop $(BIN) -size S,M -out bench/results

