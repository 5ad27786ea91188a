// Package localetcd runs etcd on this machine as clusters of nodes would run
// it: the pinned etcd binary, processes on loopback addresses of their own,
// a client for their endpoints, and a local discovery endpoint.
package localetcd

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// Addresses: block selects 127.<block>.x.y, so clusters booted side by side
// never share an address. The discovery endpoint is 127.<block>.1.1; central
// node i is 127.<block>.2.<i+1>; worker j is 127.<block>.<3+j/254>.<1+j%254>.
func DiscoveryAddr(block int) string  { return fmt.Sprintf("127.%d.1.1", block) }
func CentralAddr(block, i int) string { return fmt.Sprintf("127.%d.2.%d", block, i+1) }
func WorkerAddr(block, j int) string {
	return fmt.Sprintf("127.%d.%d.%d", block, 3+j/254, 1+j%254)
}

// FreeBlock picks, at random, three consecutive address blocks whose first
// addresses are free, so clusters booted at once (two test runs, two
// people) do not collide.
func FreeBlock() (int, error) {
	for range 20 {
		b := 1 + rand.IntN(250)
		free := true
		for _, a := range []string{DiscoveryAddr(b), CentralAddr(b, 0), CentralAddr(b+1, 0), CentralAddr(b+2, 0)} {
			l, err := net.Listen("tcp", net.JoinHostPort(a, "2380"))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return b, nil
		}
	}
	return 0, errors.New("no free block of loopback addresses 127.x.0.0/16 found")
}

// maxWorkers is how many worker addresses a block has.
const maxWorkers = (255 - 3) * 254

// Node is one node's etcd: how its OS would start it, and the process.
type Node struct {
	nodeboot.Process
	*Proc
	// link reaches the node's endpoint; nil is plain HTTP on loopback.
	link *Link
	// host is what clients dial the node at, when not Addr: a central
	// node's name in a lab.
	host string
}

// Endpoint is the node's etcd client endpoint.
func (n *Node) Endpoint() Endpoint {
	return Endpoint{Addr: net.JoinHostPort(cmp.Or(n.host, n.Addr), "2379"), Link: n.link}
}

// Nodes is one cluster's nodes on loopback, by role. A TLS cluster's
// central nodes keep their cloud addresses, in a lab of their own, so the
// addresses their certificates name are the ones dialled.
type Nodes struct {
	Plan         *plan.Plan
	DiscoveryURL string
	Central      []*Node
	Workers      []*Node
	// Lab holds a TLS cluster's nodes; nil for a plaintext cluster, which
	// runs on this machine's loopback.
	Lab *netlab.Lab
	// Operator reaches the members as the operator would, with the
	// exported client certificate; Workers' proxies are reached plainly.
	Operator, Local *Link
	// Hosts maps each central node's cloud address and host to where the
	// rehearsal runs it, as nodeboot.Interpret takes them.
	Hosts map[string]string
}

// Close ends the cluster's lab and links once its processes have stopped.
func (c *Nodes) Close() {
	for _, l := range []*Link{c.Operator, c.Local} {
		if l != nil {
			l.Close()
		}
	}
	if c.Lab != nil {
		c.Lab.Close()
	}
}

// ServesV2 reports whether every member serves the v2 API, and every
// worker's proxy passes it on (the gRPC proxy serves v3 only).
func (c *Nodes) ServesV2() bool {
	if c.Plan.WorkerProxy == cloudconfig.GRPCProxy {
		return false
	}
	for _, n := range c.Central {
		if n.Getenv("ETCD_ENABLE_V2") != "true" {
			return false
		}
	}
	return true
}

// Releases are the etcd releases c's nodes run.
func (c *Nodes) Releases() []string {
	var out []string
	for _, n := range append(slices.Clone(c.Central), c.Workers...) {
		if !slices.Contains(out, n.Release) && n.Release != "" {
			out = append(out, n.Release)
		}
	}
	return out
}

// Builds are the etcd releases c's nodes need built: Releases, and
// V2Release, which etcd2 nodes run (Host.Bin).
func (c *Nodes) Builds() []string {
	out := c.Releases()
	etcd2 := slices.ContainsFunc(append(slices.Clone(c.Central), c.Workers...), func(n *Node) bool { return n.Release == "" })
	if etcd2 && !slices.Contains(out, V2Release) {
		out = append(out, V2Release)
	}
	return out
}

// Prepare interprets every node of p on the addresses of block, as its OS
// would boot it there; a TLS cluster's central nodes keep their cloud
// addresses, in a lab made for it.
func Prepare(p *plan.Plan, block int, discoveryURL string) (*Nodes, error) {
	if len(p.Workers) > maxWorkers {
		return nil, fmt.Errorf("%d workers: a block has addresses for %d", len(p.Workers), maxWorkers)
	}
	nodes := &Nodes{Plan: p, DiscoveryURL: discoveryURL}
	centralAddr := func(i int) string { return CentralAddr(block, i) }
	if p.TLS != nil {
		centralAddr = func(i int) string { return p.Central[i].CloudIP }
	}
	central := map[string]string{}
	nodes.Hosts = central
	for i, n := range p.Central {
		central[n.CloudIP] = centralAddr(i)
		central[n.Host] = centralAddr(i)
		if p.TLS != nil {
			// In a lab names stay names: certificates name them.
			central[n.Host] = n.Host
		}
	}
	var errs []error
	for i, n := range append(append([]plan.Node{}, p.Central...), p.Workers...) {
		addr, list := "", &nodes.Central
		if i < len(p.Central) {
			addr = centralAddr(i)
		}
		if n.Role == plan.Worker {
			addr, list = WorkerAddr(block, i-len(p.Central)), &nodes.Workers
		}
		proc, err := nodeboot.Interpret(p.Flavor, n, addr, central)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if (n.Role == plan.Central) != (proc.Kind == nodeboot.Member) {
			errs = append(errs, fmt.Errorf("node %s: a %s node whose etcd would run as %s", n.Name, n.Role, proc.Kind))
			continue
		}
		*list = append(*list, &Node{Process: proc})
	}
	return nodes, errors.Join(errs...)
}

// NewProc describes a process that runs beside c's nodes, in its lab if it
// has one.
func (c *Nodes) NewProc(name, dir, bin string, args, env []string) *Proc {
	p := NewProc(name, dir, bin, args, env)
	p.lab = c.Lab
	return p
}

// PutFiles puts n's files on its disk, where its settings name them; a
// process restarted on new user data reads the new ones.
func PutFiles(n *Node) error { return writeFiles(n.Proc.Dir(), n.Files) }

// lab makes a TLS cluster's lab, whose loopback carries the central nodes'
// cloud addresses, and the links that reach into it.
func (c *Nodes) lab(dir string) error {
	if c.Plan.TLS == nil || c.Lab != nil {
		return nil
	}
	var addrs []string
	names := map[string]string{}
	for i, n := range c.Central {
		addrs = append(addrs, n.Addr)
		if host := c.Plan.Central[i].Host; host != n.Addr {
			names[host], n.host = n.Addr, host
		}
	}
	tc, err := c.Plan.TLS.ClientConfig()
	if err != nil {
		return err
	}
	lab, err := netlab.New(addrs, names, dir)
	if err != nil {
		return err
	}
	c.Lab = lab
	c.Operator = &Link{Dial: lab.DialContext, TLS: tc}
	c.Local = &Link{Dial: lab.DialContext, GRPC: c.Plan.WorkerProxy == cloudconfig.GRPCProxy}
	for _, n := range c.Central {
		n.link = c.Operator
	}
	for _, n := range c.Workers {
		n.link = c.Local
	}
	return nil
}

// Grow readies the central nodes next has beyond c's (c's cluster rendered
// with more of them) to run beside c, as machines created later: their
// addresses and names in c's lab, reached by c's clients, each with its own
// directory. It writes their files; it starts nothing.
func (h *Host) Grow(c, next *Nodes) ([]*Node, error) {
	if len(next.Central) <= len(c.Central) {
		return nil, fmt.Errorf("%d central nodes, no more than the %d running", len(next.Central), len(c.Central))
	}
	added := next.Central[len(c.Central):]
	if c.Lab != nil {
		var addrs []string
		names := map[string]string{}
		for i, n := range added {
			addrs = append(addrs, n.Addr)
			if host := next.Plan.Central[len(c.Central)+i].Host; host != n.Addr {
				names[host], n.host = n.Addr, host
			}
			n.link = c.Operator
		}
		if err := c.Lab.Add(addrs, names); err != nil {
			return nil, err
		}
	}
	for _, n := range added {
		n.Proc = c.NewProc(n.Node, filepath.Join(h.Dir, n.Node), h.Bin(n.Release), n.Args, n.Env)
		if err := PutFiles(n); err != nil {
			return nil, err
		}
	}
	return added, nil
}

// Host runs etcd processes on this machine, each node's in a directory of
// its own under Dir (its disk), and stops them all on Close.
type Host struct {
	// Bins are the etcd binaries by release (Binaries).
	Bins map[string]string
	Dir  string
	// Block is the address block of Prepare.
	Block int
	// BootTimeout bounds Boot.
	BootTimeout time.Duration
	// Discovery is the endpoint StartDiscovery started, if any.
	Discovery *Discovery

	mu       sync.Mutex
	procs    []*Proc
	clusters []*Nodes
}

// NewHost returns a host running bins in a new temporary directory.
func NewHost(bins map[string]string, block int, bootTimeout time.Duration) (*Host, error) {
	dir, err := os.MkdirTemp("", "rehearse-*")
	if err != nil {
		return nil, err
	}
	return &Host{Bins: bins, Dir: dir, Block: block, BootTimeout: bootTimeout}, nil
}

// Bin is the binary of the etcd release a node runs; etcd2 nodes (no
// release) run V2Release, which keeps their v2 API and proxy.
func (h *Host) Bin(release string) string { return h.Bins[cmp.Or(release, V2Release)] }

// Start starts p and remembers it for Close.
func (h *Host) Start(p *Proc) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := p.Start(); err != nil {
		return err
	}
	h.procs = append(h.procs, p)
	return nil
}

// Boot starts every node of c but held, central nodes first, and waits
// until every member started is healthy and every worker's endpoint
// answers. Every node has its process and files afterwards, started or not:
// the caller starts a held node, as a machine that boots late. A boot that
// did not complete is a *BootError.
func (h *Host) Boot(ctx context.Context, c *Nodes, held ...*Node) error {
	all := append(append([]*Node{}, c.Central...), c.Workers...)
	for _, n := range all {
		n.Proc = NewProc(n.Node, filepath.Join(h.Dir, n.Node), h.Bin(n.Release), n.Args, n.Env)
	}
	if err := c.lab(h.Dir); err != nil {
		return &BootError{Lab: err}
	}
	h.mu.Lock()
	h.clusters = append(h.clusters, c)
	h.mu.Unlock()
	failed := map[*Node]error{}
	for _, n := range all {
		n.Proc.lab = c.Lab
		if err := writeFiles(n.Proc.Dir(), n.Files); err != nil {
			failed[n] = err
		} else if slices.Contains(held, n) {
			continue
		} else if err := h.Start(n.Proc); err != nil {
			failed[n] = err
		}
	}
	deadline := time.Now().Add(h.BootTimeout)
	var down []NodeError
	for _, n := range all {
		err := failed[n]
		if err == nil && slices.Contains(held, n) {
			continue
		}
		if err == nil {
			err = Retry(ctx, time.Until(deadline), func() error {
				if err := n.ExitError(); err != nil {
					return Permanent(err)
				}
				return n.Endpoint().Healthy(ctx)
			})
			if err != nil && n.Running() {
				err = fmt.Errorf("not healthy within %s: %w", h.BootTimeout, err)
			}
		}
		if err != nil {
			log := n.LogTail(8)
			if last := lastWords(log); last != "" && !n.Running() {
				err = fmt.Errorf("%w: %s", err, last)
			}
			down = append(down, NodeError{Node: n.Node, Addr: n.Addr, Err: err, Log: log})
		}
	}
	if len(down) > 0 {
		return &BootError{Nodes: down}
	}
	return nil
}

// lastWords is what the last line of an etcd log says: its message and
// error when it is one of etcd's JSON lines, else the line.
func lastWords(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	var l struct{ Msg, Error string }
	if json.Unmarshal([]byte(last), &l) == nil && l.Msg != "" {
		last = strings.TrimSuffix(l.Msg+": "+l.Error, ": ")
	}
	return last
}

// BootError is a boot that did not complete: the cluster's lab could not be
// made, and no node started, or some nodes did not start.
type BootError struct {
	Lab   error
	Nodes []NodeError
}

// NodeError is a node that did not start: its files or its process could
// not be put in place, its process exited, or its endpoint never answered.
type NodeError struct {
	Node, Addr string
	Err        error
	// Log is the end of the node's log.
	Log string
}

func (e *BootError) Error() string {
	if e.Lab != nil {
		return "the cluster's network lab: " + e.Lab.Error()
	}
	var b strings.Builder
	for i, n := range e.Nodes {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s did not start: %s", n.Node, strings.TrimPrefix(n.Err.Error(), n.Node+" "))
	}
	for _, n := range e.Nodes {
		if n.Log != "" {
			fmt.Fprintf(&b, "\n%s's log:\n%s", n.Node, n.Log)
		}
	}
	return b.String()
}

// Down names the nodes that did not start: every node when the lab could
// not be made (nil here: the caller knows them).
func (e *BootError) Down() []string {
	var out []string
	for _, n := range e.Nodes {
		out = append(out, n.Node)
	}
	return out
}

// writeFiles puts a node's files under its directory, where its settings
// name them (nodeboot.RootDir).
func writeFiles(dir string, files []nodeboot.File) error {
	for _, f := range files {
		path := filepath.Join(dir, nodeboot.RootDir, f.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(f.Content), f.Mode); err != nil {
			return err
		}
	}
	return nil
}

// StartDiscovery starts a local discovery endpoint on the host's block and
// creates the token of tokenURL for size members.
func (h *Host) StartDiscovery(ctx context.Context, tokenURL string, size int) error {
	h.Discovery = NewDiscovery(h.Bin(V2Release), h.Dir, DiscoveryAddr(h.Block))
	if err := h.Start(h.Discovery.Proc); err != nil {
		return err
	}
	if err := h.Discovery.WaitReady(ctx, 15*time.Second); err != nil {
		return err
	}
	if err := h.Discovery.SetSize(ctx, tokenURL, size); err != nil {
		return fmt.Errorf("discovery token: %w", err)
	}
	return nil
}

// Close stops every process, in parallel, and removes the directory.
func (h *Host) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range h.procs {
		wg.Go(func() { p.Stop(5 * time.Second) })
	}
	wg.Wait()
	for _, c := range h.clusters {
		c.Close()
	}
	_ = os.RemoveAll(h.Dir)
}
