package rehearsal

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/isolatedetcd/cluster/internal/linearize"
)

// TestHistoryCheck: what a drill's line says of its history, linearizable
// or not; a broken one names the visualisation, which is written.
func TestHistoryCheck(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	op := func(kind linearize.Kind, value string, call, ret int) linearize.Op {
		o := linearize.Op{Kind: kind, Key: "k", Call: ms(call), Return: ms(ret), Via: "127.0.0.1:2379"}
		if kind == linearize.Get {
			o.Found, o.Got = true, value
		} else {
			o.Value = value
		}
		return o
	}
	good := []linearize.Op{op(linearize.Put, "v1", 0, 1), op(linearize.Put, "v2", 2, 3), op(linearize.Get, "v2", 4, 5)}
	stale := []linearize.Op{op(linearize.Put, "v1", 0, 1), op(linearize.Put, "v2", 2, 3), op(linearize.Get, "v1", 4, 5)}
	for _, tc := range []struct {
		name string
		ops  []linearize.Op
		ok   bool
		want *regexp.Regexp
	}{
		{"linearizable", good, true, regexp.MustCompile(`^history: 3 ops linearizable, checked in \d+ ms; a stale read planted in it is caught \(\d+ ms\) \(2 clients on 3 keys; 0 writes without an answer, 0 failed reads left out, 0 requests refused\)$`)},
		{"a stale read", stale, false, regexp.MustCompile(`^history NOT linearizable \(the first violation and porcupine's visualisation below\)\nkey k: .*get k -> "v1".*fits none\nvisualisation: (\S+\.html)\n3 ops checked in \d+ ms`)},
		{"nothing answered", nil, false, regexp.MustCompile(`^history NOT linearizable .*\nno operation was answered\nvisualisation: (\S+\.html)\n0 ops checked`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder("test")
			r.clients = 2
			for _, o := range tc.ops {
				r.hist.Add(o)
			}
			got, ok := r.check("etcd-test", "3x")
			if ok != tc.ok || !tc.want.MatchString(got) {
				t.Fatalf("check = %v, %q; want %v, matching %s", ok, got, tc.ok, tc.want)
			}
			if m := tc.want.FindStringSubmatch(got); len(m) > 1 {
				defer os.Remove(m[1])
				b, err := os.ReadFile(m[1])
				if err != nil || !strings.Contains(string(b), "<html") || !strings.Contains(m[1], "etcd-test-line-3x") {
					t.Errorf("visualisation %s: %v, %d bytes", m[1], err, len(b))
				}
			}
		})
	}
}
