# The rehearsal: the dev stack's cluster booted locally on real etcd, proved.
# Needs only Go; the first run builds etcd into the user cache.
.PHONY: rehearse
rehearse:
	go run ./cmd/rehearse --stack dev

# The component at scale under the mock engine (docs/performance.md, section 1).
.PHONY: bench
bench:
	go test ./tests -run '^$$' -bench '^BenchmarkCluster$$' -benchmem -count 6

# The program's cold build against a minimal program importing the same SDK
# packages, and warm rebuilds (docs/performance.md, section 2). Takes minutes.
.PHONY: bench-build
bench-build:
	scripts/bench-build.sh
