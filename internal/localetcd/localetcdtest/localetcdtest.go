// Package localetcdtest gates tests that boot local etcd processes.
package localetcdtest

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/internal/localetcd"
)

// Context skips tb under -short and where 127.x.y.z addresses are not all
// local (anywhere but Linux), builds etcd if it is not cached, and returns a
// context that bounds the test.
func Context(tb testing.TB) context.Context {
	tb.Helper()
	if testing.Short() {
		tb.Skip("boots etcd processes; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		tb.Skip("needs every 127.x.y.z address to be local, as on Linux")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	tb.Cleanup(cancel)
	if _, err := localetcd.Binary(ctx, func(s string) { tb.Log(s) }); err != nil {
		tb.Fatalf("etcd: %v", err)
	}
	return ctx
}
