// Package localetcdtest gates tests that boot local etcd processes.
package localetcdtest

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// Context skips tb under -short and where 127.x.y.z addresses are not all
// local (anywhere but Linux), and returns a context that bounds the test;
// building etcd is the test's first step, and takes long only once.
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
	return ctx
}
