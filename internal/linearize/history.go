// Package linearize checks the history of etcd key-value operations that
// concurrent clients saw for linearizability, with porcupine and a model of
// each key as a register.
package linearize

import (
	"slices"
	"sync"
	"time"
)

// Kind is what an operation asks of etcd.
type Kind string

const (
	// Put writes Value to Key.
	Put Kind = "put"
	// Get reads Key linearizably (not serializable: see Check).
	Get Kind = "get"
	// CAS is a transaction: if Key's value is Expect, put Value. etcd's
	// value comparison fails on a key that does not exist.
	CAS Kind = "cas"
)

// Op is one request a client made and what it saw.
type Op struct {
	Kind Kind
	Key  string
	// Value is what a put or a compare-and-swap writes; every write of a
	// history writes a value of its own, so a read names the write it saw.
	Value string
	// Expect is the value a compare-and-swap compares the key's with.
	Expect string
	// Call and Return are when the client sent the request and had its
	// answer, since the history began.
	Call, Return time.Duration
	// Unknown: the request failed or timed out, so it may or may not have
	// taken effect, now or later (etcd's robustness tests record such
	// requests the same way).
	Unknown bool
	// Found and Got are a get's answer: whether the key exists, its value.
	Found bool
	Got   string
	// Swapped is a compare-and-swap's answer: whether the comparison held
	// and the value was written.
	Swapped bool
	// Client is the stream of requests the operation belongs to, for the
	// visualisation: a client takes a new stream after an unknown write,
	// which may still be in flight.
	Client int
	// Via is the endpoint the request went to.
	Via string
}

// History collects the operations of concurrent clients.
type History struct {
	start   time.Time
	mu      sync.Mutex
	ops     []Op
	streams int
}

// NewHistory starts an empty history now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the time since the history began, for Op.Call and Op.Return.
func (h *History) Now() time.Duration { return time.Since(h.start) }

// NewStream returns a stream id no operation of h has yet.
func (h *History) NewStream() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams++
	return h.streams - 1
}

// Add records op.
func (h *History) Add(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// Ops are the operations recorded so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}
