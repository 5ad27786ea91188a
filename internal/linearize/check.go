package linearize

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// register is one key's state: whether it exists, and its value.
type register struct {
	set   bool
	value string
}

func (r register) String() string {
	if !r.set {
		return "none"
	}
	return fmt.Sprintf("%q", r.value)
}

// step is the model of one key: the states an operation may leave the key
// in from state s, none when the operation's answer is impossible there.
func step(s register, op Op) []register {
	written := register{true, op.Value}
	switch op.Kind {
	case Get:
		if s == (register{op.Found, op.Got}) {
			return []register{s}
		}
		return nil
	case Put:
		if op.Unknown {
			return []register{s, written}
		}
		return []register{written}
	case CAS:
		holds := s.set && s.value == op.Expect
		switch {
		case op.Unknown && holds:
			return []register{s, written}
		case op.Unknown || !holds && !op.Swapped:
			return []register{s}
		case holds && op.Swapped:
			return []register{written}
		}
		return nil
	}
	panic("linearize: unknown operation kind " + string(op.Kind))
}

// model is step as porcupine's model: a history partitioned by key, each key
// a register that starts absent.
var model = (&porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, o := range history {
			k := o.Input.(Op).Key
			byKey[k] = append(byKey[k], o)
		}
		var out [][]porcupine.Operation
		for _, k := range slices.Sorted(maps.Keys(byKey)) {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{register{}} },
	Step: func(state, input, _ any) []any {
		var out []any
		for _, s := range step(state.(register), input.(Op)) {
			out = append(out, s)
		}
		return out
	},
	DescribeOperation:         func(input, _ any) string { return input.(Op).String() },
	DescribeState:             func(state any) string { return state.(register).String() },
	DescribeOperationMetadata: func(info any) string { return info.(string) },
}).ToModel()

func (op Op) String() string {
	var s string
	switch op.Kind {
	case Get:
		s = fmt.Sprintf("get %s -> %v", op.Key, register{op.Found, op.Got})
	case Put:
		s = fmt.Sprintf("put %s=%q", op.Key, op.Value)
	case CAS:
		s = fmt.Sprintf("cas %s %q->%q", op.Key, op.Expect, op.Value)
		if !op.Unknown {
			s += fmt.Sprintf(": swapped %v", op.Swapped)
		}
	}
	if op.Unknown {
		s += " (no answer)"
	}
	return s
}

// Result is what a check found.
type Result struct {
	// Checked is how many operations were checked; Dropped how many failed
	// gets were left out (a read without an answer changes nothing).
	Checked, Dropped int
	// Took is how long the check took.
	Took time.Duration
	// Linearizable is the verdict; Violation says, when it is false, what
	// no order of the operations explains, or that the check found no
	// verdict in time.
	Linearizable bool
	Violation    string
	// TimedOut: the check found no verdict in time (Linearizable is false).
	TimedOut bool

	info porcupine.LinearizationInfo
}

func (r Result) String() string {
	verdict := "linearizable"
	if !r.Linearizable {
		verdict = "NOT linearizable: " + r.Violation
	}
	return fmt.Sprintf("%d operations checked in %s: %s", r.Checked, r.Took.Round(time.Millisecond), verdict)
}

// Check checks ops for linearizability within timeout. A write without an
// answer may take effect at any time after its call, so it is checked as one
// that returns after every other operation; a get without an answer is left
// out.
func Check(ops []Op, timeout time.Duration) Result {
	start := time.Now()
	var last time.Duration
	for _, op := range ops {
		last = max(last, op.Return)
	}
	var history []porcupine.Operation
	r := Result{}
	for _, op := range ops {
		if op.Unknown && op.Kind == Get {
			r.Dropped++
			continue
		}
		ret := op.Return
		if op.Unknown {
			ret = last + 1
		}
		history = append(history, porcupine.Operation{ClientId: op.Client, Input: op, Output: op,
			Call: int64(op.Call), Return: int64(ret), Metadata: fmt.Sprintf("client stream %d via %s", op.Client, op.Via)})
	}
	r.Checked = len(history)
	res, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	r.Took, r.info = time.Since(start), info
	switch res {
	case porcupine.Ok:
		r.Linearizable = true
	case porcupine.Unknown:
		r.TimedOut, r.Violation = true, fmt.Sprintf("no verdict within %s", timeout)
	default:
		r.Violation = firstViolation(history, info)
	}
	return r
}

// WriteHTML writes porcupine's visualisation of the checked history: a page
// a person opens in a browser, with the longest orders found for each key.
func (r Result) WriteHTML(w io.Writer) error { return porcupine.Visualize(model, r.info, w) }

// firstViolation describes the first key (in key order) whose operations no
// order explains: how many of them the longest order found explains, what
// the key holds after them, and the operation that must come next and
// cannot, the unexplained one that returned first.
func firstViolation(history []porcupine.Operation, info porcupine.LinearizationInfo) string {
	parts := model.Partition(history)
	for p, partials := range info.PartialLinearizations() {
		ops := parts[p]
		var longest []int
		for _, l := range partials {
			if len(l) > len(longest) || len(l) == len(longest) && slices.Compare(l, longest) < 0 {
				longest = l
			}
		}
		if len(longest) == len(ops) {
			continue
		}
		state := model.Init()
		for _, i := range longest {
			_, state = model.Step(state, ops[i].Input, ops[i].Output)
		}
		next := -1
		for i := range ops {
			if !slices.Contains(longest, i) && (next < 0 || ops[i].Return < ops[next].Return) {
				next = i
			}
		}
		op := ops[next].Input.(Op)
		return fmt.Sprintf("key %s: an order explains at most %d of its %d operations; after them it holds %s, and %s (%s, %.3f-%.3f s) fits none",
			op.Key, len(longest), len(ops), strings.Trim(model.DescribeState(state), "{}"), op, ops[next].Metadata, op.Call.Seconds(), op.Return.Seconds())
	}
	return "porcupine found no order, yet a complete one for every key"
}

// StaleRead is the negative control a real history is checked with: a copy
// of ops in which one get that found a value reads, instead, a value written
// before a later write both finished before the get began, as a member cut
// off from the others would answer it. ok is false when ops have no such
// get (no write followed by another before a read of the key).
func StaleRead(ops []Op) (stale []Op, ok bool) {
	acked := func(op Op) bool { return !op.Unknown && (op.Kind == Put || op.Kind == CAS && op.Swapped) }
	// The first such get: an early violation is refuted fast, where one
	// at the end makes the checker try every order of what came before.
	for g := range ops {
		get := ops[g]
		if get.Kind != Get || get.Unknown || !get.Found {
			continue
		}
		// The write that finished before the get and began last, then
		// one that finished before it began.
		later := -1
		for i, w := range ops {
			if acked(w) && w.Key == get.Key && w.Return < get.Call && (later < 0 || w.Call > ops[later].Call) {
				later = i
			}
		}
		if later < 0 {
			continue
		}
		for _, w := range ops {
			if acked(w) && w.Key == get.Key && w.Return < ops[later].Call && w.Value != get.Got {
				stale = slices.Clone(ops)
				stale[g].Got = w.Value
				return stale, true
			}
		}
	}
	return nil, false
}
