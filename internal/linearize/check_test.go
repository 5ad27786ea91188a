package linearize

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStep is the model of one key, case by case.
func TestStep(t *testing.T) {
	none, a, b := register{}, register{true, "a"}, register{true, "b"}
	for _, tc := range []struct {
		name string
		from register
		op   Op
		want []register // nil: the answer is impossible from `from`
	}{
		{"get sees the value", a, Op{Kind: Get, Found: true, Got: "a"}, []register{a}},
		{"get sees another value", a, Op{Kind: Get, Found: true, Got: "b"}, nil},
		{"get sees no key", none, Op{Kind: Get}, []register{none}},
		{"get misses a key that exists", a, Op{Kind: Get}, nil},
		{"get sees a key that does not exist", none, Op{Kind: Get, Found: true, Got: "a"}, nil},
		{"get of an empty value is not no key", register{true, ""}, Op{Kind: Get}, nil},
		{"put", a, Op{Kind: Put, Value: "b"}, []register{b}},
		{"put without an answer: done or not", a, Op{Kind: Put, Value: "b", Unknown: true}, []register{a, b}},
		{"cas that holds and swaps", a, Op{Kind: CAS, Expect: "a", Value: "b", Swapped: true}, []register{b}},
		{"cas that holds but says it did not swap", a, Op{Kind: CAS, Expect: "a", Value: "b"}, nil},
		{"cas that fails and says so", b, Op{Kind: CAS, Expect: "a", Value: "b"}, []register{b}},
		{"cas that fails but says it swapped", b, Op{Kind: CAS, Expect: "a", Value: "c", Swapped: true}, nil},
		{"cas on no key fails, as etcd's value comparison does", none, Op{Kind: CAS, Expect: "", Value: "a"}, []register{none}},
		{"cas on no key cannot swap", none, Op{Kind: CAS, Expect: "", Value: "a", Swapped: true}, nil},
		{"cas without an answer that would hold: done or not", a, Op{Kind: CAS, Expect: "a", Value: "b", Unknown: true}, []register{a, b}},
		{"cas without an answer that would not hold: not done", b, Op{Kind: CAS, Expect: "a", Value: "c", Unknown: true}, []register{b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := step(tc.from, tc.op); !slices.Equal(got, tc.want) {
				t.Errorf("step(%v, %v) = %v, want %v", tc.from, tc.op, got, tc.want)
			}
		})
	}
}

// at is an operation on key k of client c from call to ret (milliseconds).
func at(c int, call, ret int, op Op) Op {
	op.Client, op.Call, op.Return, op.Via = c, time.Duration(call)*time.Millisecond, time.Duration(ret)*time.Millisecond, fmt.Sprintf("endpoint-%d", c)
	if op.Key == "" {
		op.Key = "k"
	}
	return op
}

func put(v string) Op                 { return Op{Kind: Put, Value: v} }
func get(v string) Op                 { return Op{Kind: Get, Found: v != "", Got: v} }
func cas(from, to string, ok bool) Op { return Op{Kind: CAS, Expect: from, Value: to, Swapped: ok} }
func unknown(op Op) Op                { op.Unknown = true; return op }
func onKey(k string, op Op) Op        { op.Key = k; return op }

// TestCheck: histories that are linearizable and histories that are not,
// among them the failures the check exists for (a stale read, a lost
// write, two clients seeing writes in different orders): each must be
// reported as not linearizable, naming the key.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		ok   bool
		// violation is what the report of a violation names.
		violation string
	}{
		{"one client, in order", []Op{
			at(0, 0, 1, put("1")), at(0, 2, 3, get("1")), at(0, 4, 5, cas("1", "2", true)), at(0, 6, 7, get("2")),
		}, true, ""},
		{"a read concurrent with a put sees either", []Op{
			at(0, 0, 10, put("1")), at(1, 1, 2, get("")), at(2, 3, 4, get("1")),
		}, true, ""},
		{"stale read: the old value after the new one was seen", []Op{
			at(0, 0, 1, put("1")), at(0, 2, 3, put("2")), at(1, 4, 5, get("2")), at(2, 6, 7, get("1")),
		}, false, `key k: an order explains at most 3 of its 4 operations; after them it holds "2", and get k -> "1"`},
		{"stale read after the write returned", []Op{
			at(0, 0, 1, put("1")), at(0, 2, 3, put("2")), at(1, 4, 5, get("1")),
		}, false, `get k -> "1" (client stream 1 via endpoint-1, 0.004-0.005 s) fits none`},
		{"lost write: an acknowledged put never seen", []Op{
			at(0, 0, 1, put("1")), at(1, 2, 3, get("")),
		}, false, "get k -> none"},
		{"a write seen and then gone", []Op{
			at(0, 0, 10, put("1")), at(1, 1, 2, get("1")), at(2, 3, 4, get("")),
		}, false, "get k -> none"},
		{"two clients see two writes in different orders", []Op{
			at(0, 0, 20, put("1")), at(1, 0, 20, put("2")),
			at(2, 1, 2, get("1")), at(2, 3, 4, get("2")),
			at(3, 1, 2, get("2")), at(3, 3, 4, get("1")),
		}, false, "key k"},
		{"a cas that swapped a value it could not have compared", []Op{
			at(0, 0, 1, put("1")), at(0, 2, 3, put("2")), at(1, 4, 5, cas("1", "3", true)),
		}, false, `cas k "1"->"3": swapped true`},
		{"a cas refused although its comparison held", []Op{
			at(0, 0, 1, put("1")), at(1, 2, 3, cas("1", "2", false)),
		}, false, "swapped false"},
		{"a put without an answer may land later", []Op{
			at(0, 0, 1, put("1")), at(0, 2, 3, unknown(put("2"))), at(1, 10, 11, get("1")), at(1, 20, 21, get("2")),
		}, true, ""},
		{"a put without an answer may never land", []Op{
			at(0, 0, 1, put("1")), at(0, 2, 3, unknown(put("2"))), at(1, 10, 11, get("1")),
		}, true, ""},
		{"but lands once: not undone", []Op{
			at(0, 0, 1, put("1")), at(0, 2, 3, unknown(put("2"))), at(1, 10, 11, get("2")), at(1, 20, 21, get("1")),
		}, false, `get k -> "1"`},
		{"a get without an answer is left out", []Op{
			at(0, 0, 1, put("1")), at(1, 2, 3, unknown(get("nonsense"))),
		}, true, ""},
		{"keys are independent", []Op{
			at(0, 0, 1, onKey("a", put("1"))), at(1, 2, 3, onKey("b", get(""))), at(1, 4, 5, onKey("a", get("1"))),
		}, true, ""},
		{"the key that fails is named", []Op{
			at(0, 0, 1, onKey("a", put("1"))), at(1, 2, 3, onKey("a", get("1"))),
			at(0, 4, 5, onKey("b", put("1"))), at(1, 6, 7, onKey("b", get(""))),
		}, false, "key b:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.ops, 10*time.Second)
			if r.Linearizable != tc.ok {
				t.Fatalf("linearizable %v, want %v: %s", r.Linearizable, tc.ok, r)
			}
			if !strings.Contains(r.Violation, tc.violation) {
				t.Errorf("violation %q, want it to contain %q", r.Violation, tc.violation)
			}
			dropped := 0
			for _, op := range tc.ops {
				if op.Unknown && op.Kind == Get {
					dropped++
				}
			}
			if r.Checked != len(tc.ops)-dropped || r.Dropped != dropped {
				t.Errorf("checked %d, dropped %d; want %d, %d", r.Checked, r.Dropped, len(tc.ops)-dropped, dropped)
			}
		})
	}
}

// simulate is a history of clients doing random puts, gets and
// compare-and-swaps on keys against one register per key that applies each
// operation atomically at a random moment between its call and return: a
// linearizable history, as many operations long as a drill's. Some writes get
// no answer; of those, some were applied.
func simulate(seed uint64, clients, perClient int, keys []string) []Op {
	rng := rand.New(rand.NewPCG(seed, 1))
	state := map[string]register{}
	h := make([][]Op, clients)
	clock := make([]int, clients)
	next := make([]int, clients)
	// Each client's next operation is applied when its apply time comes,
	// earliest first, so every operation takes effect inside its interval.
	applyAt := make([]int, clients)
	pending := make([]Op, clients)
	last := make([]map[string]string, clients)
	newOp := func(c int) {
		k := keys[rng.IntN(len(keys))]
		op := Op{Key: k, Client: c, Via: fmt.Sprintf("endpoint-%d", c)}
		switch n := rng.IntN(10); {
		case n < 4:
			op.Kind, op.Value = Put, fmt.Sprintf("c%d.%d", c, next[c])
		case n < 8:
			op.Kind = Get
		default:
			op.Kind, op.Expect, op.Value = CAS, last[c][k], fmt.Sprintf("c%d.%d", c, next[c])
		}
		next[c]++
		call := clock[c] + rng.IntN(3)
		op.Call = time.Duration(call) * time.Millisecond
		applyAt[c] = call + 1 + rng.IntN(20)
		pending[c] = op
	}
	for c := range clients {
		last[c] = map[string]string{}
		newOp(c)
	}
	for {
		c := -1
		for i := range clients {
			if len(h[i]) < perClient && (c < 0 || applyAt[i] < applyAt[c]) {
				c = i
			}
		}
		if c < 0 {
			break
		}
		op := pending[c]
		s := state[op.Key]
		switch op.Kind {
		case Get:
			op.Found, op.Got = s.set, s.value
			last[c][op.Key] = s.value
		case Put:
			state[op.Key] = register{true, op.Value}
		case CAS:
			if op.Swapped = s.set && s.value == op.Expect; op.Swapped {
				state[op.Key] = register{true, op.Value}
			}
		}
		if op.Kind != Get && rng.IntN(50) == 0 {
			// No answer; one in three was not applied after all.
			op.Unknown = true
			if rng.IntN(3) == 0 {
				state[op.Key] = s
			}
		}
		ret := applyAt[c] + rng.IntN(20)
		op.Return = time.Duration(ret) * time.Millisecond
		h[c] = append(h[c], op)
		clock[c] = ret
		newOp(c)
	}
	return slices.Concat(h...)
}

// TestCheckSimulated: long simulated histories are linearizable, and each
// stays so no longer once one read's result is altered (the negative
// control: a recorded result changed).
func TestCheckSimulated(t *testing.T) {
	keys := []string{"k0", "k1", "k2"}
	for seed := range uint64(5) {
		ops := simulate(seed, 5, 300, keys)
		r := Check(ops, 30*time.Second)
		if !r.Linearizable {
			t.Fatalf("seed %d: %s", seed, r)
		}
		// Alter the result of a get that saw a key written before.
		i := slices.IndexFunc(ops, func(op Op) bool { return op.Kind == Get && op.Found && op.Call > 100*time.Millisecond })
		if i < 0 {
			t.Fatalf("seed %d: no get to alter", seed)
		}
		altered := slices.Clone(ops)
		altered[i].Got = "never written"
		if r := Check(altered, 30*time.Second); r.Linearizable || !strings.Contains(r.Violation, "key "+ops[i].Key) {
			t.Errorf("seed %d: a get's result altered: %s", seed, r)
		}
	}
}

// TestHistory: operations recorded concurrently are all there, on streams
// of their own.
func TestHistory(t *testing.T) {
	h := NewHistory()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s := h.NewStream()
			for i := range 100 {
				call := h.Now()
				h.Add(Op{Kind: Put, Key: "k", Value: fmt.Sprintf("%d.%d", s, i), Client: s, Call: call, Return: h.Now()})
			}
		})
	}
	wg.Wait()
	ops := h.Ops()
	streams := map[int]int{}
	for _, op := range ops {
		streams[op.Client]++
		if op.Return < op.Call {
			t.Fatalf("%v returns before its call", op)
		}
	}
	if len(ops) != 400 || len(streams) != 4 {
		t.Fatalf("%d operations on %d streams, want 400 on 4", len(ops), len(streams))
	}
}

// TestWriteHTML: a violation's visualisation is a page that shows the
// operations.
func TestWriteHTML(t *testing.T) {
	r := Check([]Op{at(0, 0, 1, put("1")), at(1, 2, 3, get(""))}, 10*time.Second)
	var b strings.Builder
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<html", `put k=\"1\"`, `get k -\u003e none`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("visualisation lacks %q", want)
		}
	}
}

// TestStaleRead: the stale read planted in a linearizable history makes it
// not linearizable, in every simulated history; a history with no write
// overwritten before a read has no place for one.
func TestStaleRead(t *testing.T) {
	for seed := range uint64(5) {
		ops := simulate(seed, 5, 300, []string{"k0", "k1", "k2"})
		stale, ok := StaleRead(ops)
		if !ok {
			t.Fatalf("seed %d: no stale read planted", seed)
		}
		if r := Check(stale, 30*time.Second); r.Linearizable || r.TimedOut {
			t.Errorf("seed %d: a stale read planted, still %s", seed, r)
		}
		if r := Check(ops, 30*time.Second); !r.Linearizable {
			t.Errorf("seed %d: StaleRead changed its input: %s", seed, r)
		}
	}
	if _, ok := StaleRead([]Op{at(0, 0, 1, put("1")), at(0, 2, 3, put("2")), at(1, 1, 4, get("2"))}); ok {
		t.Error("planted a stale read in a get concurrent with the write it would have to precede")
	}
}

// BenchmarkCheck checks simulated histories the size of the drills' (line
// 6e's is about 3,000 operations of 4 clients), and the same with a stale
// read planted, which the check must search through before it fails.
// Run: go test ./internal/linearize -run '^$' -bench Check -count 6
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1000, 3000, 10000} {
		ops := simulate(1, 4, n/4, []string{"k0", "k1", "k2"})
		stale, _ := StaleRead(ops)
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			for b.Loop() {
				if r := Check(ops, time.Minute); !r.Linearizable {
					b.Fatal(r)
				}
			}
		})
		b.Run(fmt.Sprintf("ops=%d/stale", n), func(b *testing.B) {
			for b.Loop() {
				if r := Check(stale, time.Minute); r.Linearizable {
					b.Fatal(r)
				}
			}
		})
	}
}
