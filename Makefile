# The rehearsal: the dev stack's cluster booted locally on real etcd, proved.
# Needs only Go; the first run builds etcd into the user cache.
.PHONY: rehearse
rehearse:
	go run ./cmd/rehearse --stack dev
