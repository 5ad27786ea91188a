# The rehearsal: the dev stack's cluster booted locally on real etcd, proved.
# Needs only Go; the first run builds etcd into the user cache.
.PHONY: rehearse
rehearse:
	go run ./cmd/rehearse --stack dev

# The component at scale under the mock engine (docs/performance.md, section 1).
.PHONY: bench
bench:
	go test ./components -run '^$$' -bench '^BenchmarkCluster$$' -benchmem -count 6

# The program's cold build against a minimal program importing the same SDK
# packages, and warm rebuilds (docs/performance.md, section 2). Takes minutes.
.PHONY: bench-build
bench-build:
	scripts/bench-build.sh

# etcd on every node against isolated etcd (3 members + N-3 gateway workers),
# measured on real etcd over loopback: write latency and leader-kill recovery
# for N = 5, 9, 15. Waits up to 10 minutes for the load average to fall below
# 0.7 first, then takes about 5 minutes; writes section 3 of docs/performance.md and
# docs/etcd-topologies.svg.
.PHONY: bench-etcd
bench-etcd:
	go run ./cmd/rehearse --bench --bench-runs 5 --bench-max-load 0.7
