package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/fwtools"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/netlab"
	"github.com/isolatedetcd/cluster/internal/nodeboot"
)

var (
	claimMetadataUsers = claim{id: "8a", title: "metadata service: root on the node only",
		text: "with a node's metadata firewall, as its user data renders it, loaded by the tool its OS ships, in a network namespace standing in for the node: root there is served by a stand-in metadata service at every address the clouds serve it at, a process of another user is refused; without the firewall both are served"}
	claimMetadataContainers = claim{id: "8b", title: "metadata service: no container",
		text: "with the same firewall loaded, a container routed through the node (a network namespace of its own behind a link to the node, as on docker's bridge) is refused the metadata service, even as root inside; without the firewall it is served"}
)

// The stand-in metadata service's networks: the node reaches the cloud's
// link at metadataLink, a container the node at containerLink, as docker's
// bridge. Each side's address is .1 (the node) and .2.
var (
	metadataLink  = [2]string{"10.254.0.%d/24", "fd10:254::%d/64"}
	containerLink = [2]string{"172.17.0.%d/16", "fd17::%d/64"}
)

// probeUID is the user the firewall must refuse: nobody.
const probeUID = 65534

// probeTimeout bounds one request to the stand-in service: a dropped
// packet (iptables' DROP) shows as this long a wait.
const probeTimeout = 2 * time.Second

// metadataLines runs lines 8 on the firewall of every node of c.
func (r *rehearsal) metadataLines(ctx context.Context, c *localetcd.Nodes) []Line {
	users, containers := claimMetadataUsers.line(), claimMetadataContainers.line()
	both := func(with func(Line, string, ...any) Line, format string, v ...any) []Line {
		return []Line{with(users, format, v...), with(containers, format, v...)}
	}
	if err := netlab.Available(); err != nil {
		return both(Line.skip, "not run: needs root (network namespaces, and a process of another user on the node): %v", err)
	}
	if !netlab.CanRunAs(probeUID) {
		outside, _ := netlab.Outside()
		return both(Line.skip, "not run: needs root: a process of another user on the node (uid %d), which cannot exist in the rehearsal's user namespace, where uid %s outside is root and no other uid is mapped", probeUID, outside)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		return both(Line.fail, "bash, the probes' client: %v", err)
	}
	// The nodes' firewalls, each one once, with the nodes that carry it.
	type firewall struct {
		fw    nodeboot.Firewall
		nodes []string
	}
	var fws []*firewall
	for _, n := range append(slices.Clone(c.Central), c.Workers...) {
		i := slices.IndexFunc(fws, func(f *firewall) bool { return sameFirewall(f.fw, n.Firewall) })
		if i < 0 {
			fws = append(fws, &firewall{fw: n.Firewall})
			i = len(fws) - 1
		}
		fws[i].nodes = append(fws[i].nodes, string(n.Role)+" "+n.Node)
	}
	var usersEv, containersEv []string
	for _, f := range fws {
		who := fmt.Sprintf("the firewall of %d nodes (%s ... %s)", len(f.nodes), f.nodes[0], f.nodes[len(f.nodes)-1])
		if len(f.nodes) == 1 {
			who = "the firewall of " + f.nodes[0]
		}
		p, err := r.proveFirewall(ctx, f.fw, who)
		switch {
		case err != nil:
			return both(Line.fail, "%s: %v", who, err)
		case p.usersErr != nil:
			users = users.fail("%v", p.usersErr)
		case p.containersErr != nil:
			containers = containers.fail("%v", p.containersErr)
		}
		usersEv, containersEv = append(usersEv, p.users), append(containersEv, p.containers)
	}
	if users.Status != Fail {
		users = users.pass("%s", strings.Join(usersEv, "; "))
	}
	if containers.Status != Fail {
		containers = containers.pass("%s", strings.Join(containersEv, "; "))
	}
	return []Line{users, containers}
}

// firewallProof is what probing one firewall showed: the evidence of
// lines 8a and 8b, or why each did not hold.
type firewallProof struct {
	users, containers       string
	usersErr, containersErr error
}

func sameFirewall(a, b nodeboot.Firewall) bool {
	return a.Unit == b.Unit && slices.EqualFunc(a.Commands, b.Commands, slices.Equal) &&
		slices.EqualFunc(a.Files, b.Files, func(x, y nodeboot.File) bool { return x.Path == y.Path && x.Content == y.Content })
}

// firewallTool maps the tool a node's firewall runs to the one fwtools
// gets: Container Linux's iptables was the legacy one.
var firewallTool = map[string]string{
	"/sbin/nft":       "nft",
	"/sbin/iptables":  "iptables-legacy",
	"/sbin/ip6tables": "ip6tables-legacy",
}

// proveFirewall builds the node, the cloud's metadata service and a
// container behind the node as three network namespaces, probes the
// service from the node as root and as another user and from the
// container, loads fw into the node's namespace, and probes again. An
// error means the lab could not be built or the firewall not loaded.
func (r *rehearsal) proveFirewall(ctx context.Context, fw nodeboot.Firewall, who string) (firewallProof, error) {
	var p firewallProof
	var labs [3]*netlab.Lab
	for i := range labs {
		l, err := netlab.New(nil, nil, r.Dir)
		if err != nil {
			return p, err
		}
		defer l.Close()
		labs[i] = l
	}
	node, cloud, container := labs[0], labs[1], labs[2]
	if err := metadataNetwork(node, cloud, container); err != nil {
		return p, err
	}
	stop, err := standIn(cloud)
	if err != nil {
		return p, err
	}
	defer stop()

	type probe struct {
		who string
		lab *netlab.Lab
		uid int
	}
	root, user, inContainer := probe{"root on the node", node, 0}, probe{fmt.Sprintf("uid %d on the node", probeUID), node, probeUID}, probe{"root in a container", container, 0}
	for _, pr := range []probe{root, user, inContainer} {
		for _, a := range cloudconfig.MetadataAddrs {
			if err := probeMetadata(ctx, pr.lab, pr.uid, a); err != nil {
				return p, fmt.Errorf("before any firewall, %s is not served at %s, so the lab proves nothing: %v", pr.who, a, err)
			}
		}
	}
	tools, err := r.loadFirewall(ctx, node, fw)
	if err != nil {
		return p, err
	}
	loaded := fmt.Sprintf("%s, loaded by %s", who, tools)
	var userRefusals, containerRefusals []string
	for _, a := range cloudconfig.MetadataAddrs {
		if err := probeMetadata(ctx, node, 0, a); err != nil && p.usersErr == nil {
			p.usersErr = fmt.Errorf("root on the node is not served at %s: %v, after %s", a, err, loaded)
		}
		if err := probeMetadata(ctx, node, probeUID, a); err == nil && p.usersErr == nil {
			p.usersErr = fmt.Errorf("%s is served at %s after %s", user.who, a, loaded)
		} else if err != nil {
			userRefusals = append(userRefusals, fmt.Sprintf("%s: %v", a, err))
		}
		if err := probeMetadata(ctx, container, 0, a); err == nil && p.containersErr == nil {
			p.containersErr = fmt.Errorf("%s is served at %s after %s", inContainer.who, a, loaded)
		} else if err != nil {
			containerRefusals = append(containerRefusals, fmt.Sprintf("%s: %v", a, err))
		}
	}
	p.users = fmt.Sprintf("root on the node served, %s refused (%s); both served before %s",
		user.who, strings.Join(userRefusals, "; "), loaded)
	p.containers = fmt.Sprintf("%s routed through the node refused (%s); served before %s",
		inContainer.who, strings.Join(containerRefusals, "; "), loaded)
	return p, nil
}

// metadataNetwork wires the three namespaces as a cloud does: the node
// reaches the metadata addresses through its link to the cloud, and a
// container reaches everything through the node, which forwards.
func metadataNetwork(node, cloud, container *netlab.Lab) error {
	if err := node.Veth("cloud0", cloud, "eth0"); err != nil {
		return err
	}
	if err := node.Veth("docker0", container, "eth0"); err != nil {
		return err
	}
	var steps []func() error
	for i, family := range []string{"-4", "-6"} {
		nodeAddr, cloudAddr := fmt.Sprintf(metadataLink[i], 1), fmt.Sprintf(metadataLink[i], 2)
		bridge, inside := fmt.Sprintf(containerLink[i], 1), fmt.Sprintf(containerLink[i], 2)
		via := func(cidr string) string { return strings.Split(cidr, "/")[0] }
		steps = append(steps,
			func() error { return node.IP(family, "addr", "add", nodeAddr, "dev", "cloud0", "nodad") },
			func() error { return cloud.IP(family, "addr", "add", cloudAddr, "dev", "eth0", "nodad") },
			func() error { return cloud.IP(family, "route", "add", "default", "via", via(nodeAddr)) },
			func() error { return node.IP(family, "addr", "add", bridge, "dev", "docker0", "nodad") },
			func() error { return container.IP(family, "addr", "add", inside, "dev", "eth0", "nodad") },
			func() error { return container.IP(family, "route", "add", "default", "via", via(bridge)) },
		)
	}
	for _, a := range cloudconfig.MetadataAddrs {
		family, bits, via := "-4", "/32", strings.Split(fmt.Sprintf(metadataLink[0], 2), "/")[0]
		if strings.Contains(a, ":") {
			family, bits, via = "-6", "/128", strings.Split(fmt.Sprintf(metadataLink[1], 2), "/")[0]
		}
		steps = append(steps,
			func() error { return cloud.IP(family, "addr", "add", a+bits, "dev", "eth0", "nodad") },
			func() error { return node.IP(family, "route", "add", a+bits, "via", via) },
		)
	}
	steps = append(steps,
		func() error { return node.Sysctl("net.ipv4.ip_forward", "1") },
		func() error { return node.Sysctl("net.ipv6.conf.all.forwarding", "1") },
	)
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// standInBody is what the stand-in metadata service serves: a probe that
// reads it was served.
const standInBody = "user data of the rehearsed node\n"

// standIn serves standInBody at every metadata address, on port 80, inside
// cloud, until stop.
func standIn(cloud *netlab.Lab) (stop func(), err error) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, standInBody) })}
	var ls []net.Listener
	stop = func() {
		srv.Close()
		for _, l := range ls {
			l.Close()
		}
	}
	for _, a := range cloudconfig.MetadataAddrs {
		var l net.Listener
		if err := cloud.Do(func() error { var err error; l, err = net.Listen("tcp", net.JoinHostPort(a, "80")); return err }); err != nil {
			stop()
			return nil, fmt.Errorf("the stand-in metadata service at %s: %w", a, err)
		}
		ls = append(ls, l)
		go srv.Serve(l)
	}
	return stop, nil
}

// probeMetadata asks the stand-in service at addr for the node's user data
// from lab, as uid, with bash's own /dev/tcp: nil when it is served, else
// what the client saw.
func probeMetadata(ctx context.Context, lab *netlab.Lab, uid int, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", `exec 3<>"/dev/tcp/$0/80" && printf 'GET /latest/user-data HTTP/1.0\r\n\r\n' >&3 && cat <&3`, addr)
	cmd.Dir, cmd.Env = "/", []string{"PATH=/usr/bin:/bin"}
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}}
	}
	var out []byte
	err := lab.Do(func() error {
		var err error
		out, err = cmd.CombinedOutput()
		return err
	})
	if ctx.Err() != nil {
		return fmt.Errorf("no answer in %s", probeTimeout)
	}
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:] // bash: connect: No route to host
		}
		return errors.New(msg)
	}
	if !strings.HasSuffix(string(out), "\r\n\r\n"+standInBody) {
		return fmt.Errorf("answered %q, not the stand-in's user data", out)
	}
	return nil
}

// loadFirewall runs the firewall unit's commands in the node's namespace,
// as systemd would run its ExecStart lines, with the node's tools mapped to
// this machine's and the files they read written where they are read. It
// returns the unit and what it ran, for the evidence.
func (r *rehearsal) loadFirewall(ctx context.Context, node *netlab.Lab, fw nodeboot.Firewall) (string, error) {
	dir, err := os.MkdirTemp(r.Dir, "firewall-")
	if err != nil {
		return "", err
	}
	files := map[string]string{}
	for _, f := range fw.Files {
		local := filepath.Join(dir, filepath.Base(f.Path))
		if err := os.WriteFile(local, []byte(f.Content), f.Mode.Perm()); err != nil {
			return "", err
		}
		files[f.Path] = local
	}
	var ran []string
	for _, words := range fw.Commands {
		name, ok := firewallTool[words[0]]
		if !ok {
			return "", fmt.Errorf("unit %s runs %s, which the rehearsal has no stand-in for", fw.Unit, words[0])
		}
		tool, err := fwtools.Get(ctx, name, r.log)
		if err != nil {
			return "", err
		}
		var args []string
		for _, a := range words[1:] {
			if local, ok := files[a]; ok {
				a = local
			}
			args = append(args, a)
		}
		cmd := tool.Command(ctx, args...)
		var out []byte
		err = node.Do(func() error { var err error; out, err = cmd.CombinedOutput(); return err })
		if err != nil {
			return "", fmt.Errorf("unit %s: %s: %v: %s", fw.Unit, strings.Join(words, " "), err, out)
		}
		if !slices.Contains(ran, words[0]) {
			ran = append(ran, words[0])
		}
	}
	lines := "ExecStart lines"
	if len(fw.Commands) == 1 {
		lines = "ExecStart line"
	}
	return fmt.Sprintf("%s (%d %s of %s)", fw.Unit, len(fw.Commands), lines, strings.Join(ran, ", ")), nil
}
