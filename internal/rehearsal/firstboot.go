package rehearsal

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodescript"
)

var claimFirstBoot = claim{id: "3i", title: "the join unit leaves a new cluster's first boot alone",
	text: "a central node of a new cluster that boots after the others formed it without this node: its join unit, run before etcd as at boot, finds its own entry a voter never started, changes no membership and leaves etcd none of its own, so etcd starts as rendered and takes the member id the initial cluster gave it"}

// lateNode is the central node the boot holds back for line 3i: the last,
// when it carries the join unit and its script can run here; nil
// otherwise, with why.
func lateNode(c *localetcd.Nodes) (*localetcd.Node, string) {
	switch {
	case c.Plan.TLS == nil || c.Plan.Bootstrap != components.BootstrapStatic:
		return nil, "the join unit is rendered with TLS and static bootstrap only"
	case len(c.Central) < 3:
		return nil, "needs 3 or more central nodes"
	}
	n := c.Central[len(c.Central)-1]
	if !slices.Contains(n.Scripts, joinUnit) {
		return nil, fmt.Sprintf("%s runs no etcd-join.service before etcd", n.Node)
	}
	if err := nodescript.Available(); err != nil {
		return nil, fmt.Sprintf("not run: the nodes' scripts run in mount namespaces: %v", err)
	}
	return n, ""
}

// drillFirstBoot is line 3i: late, held back by the boot, runs its join
// unit and starts. Unless it ends serving, it returns why the lines that
// need the cluster are not run.
func (r *rehearsal) drillFirstBoot(ctx context.Context, c *localetcd.Nodes, late *localetcd.Node) (Line, string) {
	l := claimFirstBoot.line()
	start := time.Now()
	evidence, err := r.firstBoot(ctx, c, late)
	if !late.Running() {
		// Whatever the unit did, the machine boots its etcd as rendered.
		late.Proc = late.Proc.Restarted(r.Bin(late.Release), late.Args, late.Env)
		_ = r.Start(late.Proc)
	}
	down := ""
	if herr := localetcd.Retry(ctx, drillTimeout, func() error { return late.Endpoint().Healthy(ctx) }); herr != nil {
		down = fmt.Sprintf("not run: %s, booted late, did not start (line 3i)", late.Node)
		if err == nil {
			err = fmt.Errorf("%s not healthy: %v; log:\n%s", late.Node, herr, late.LogTail(5))
		}
	}
	if err != nil {
		return l.fail("%v", err), down
	}
	return l.pass("%s; in %.1f s", evidence, time.Since(start).Seconds()), down
}

// firstBoot runs late's join unit against the cluster the others formed,
// then starts late's etcd with what the unit left it.
func (r *rehearsal) firstBoot(ctx context.Context, c *localetcd.Nodes, late *localetcd.Node) (string, error) {
	before, err := c.Central[0].Endpoint().Members(ctx)
	if err != nil {
		return "", err
	}
	// An entry never started has published no client URLs: late's, the
	// only one (static bootstrap gave it its name already).
	mine := slices.IndexFunc(before, func(m localetcd.Member) bool { return len(m.ClientURLs) == 0 })
	if mine < 0 || len(before) != len(c.Central) || before[mine].IsLearner {
		return "", fmt.Errorf("members %+v: want %d, %s's a voter never started", before, len(c.Central), late.Node)
	}
	tools, err := nodescript.Build(ctx, []string{late.Release}, r.log)
	if err != nil {
		return "", fmt.Errorf("the images' tools: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, scriptTimeout)
	out, err := nodescript.Run(sctx, tools, scriptNode(c, late), cloudconfig.Join.Script)
	cancel()
	if err != nil || !strings.Contains(out, "never started") {
		return "", fmt.Errorf("join unit at %s's first boot: %v, want it leaving the boot as rendered:\n%s", late.Node, err, out)
	}
	if env := envFileOf(late); env != "" {
		return "", fmt.Errorf("join unit at %s's first boot left %s: %q", late.Node, cloudconfig.Join.Env, env)
	}
	if after, err := c.Central[0].Endpoint().Members(ctx); err != nil || !slices.Equal(memberIDs(after), memberIDs(before)) {
		return "", fmt.Errorf("the join unit at a first boot changed the members: %v, was %v (%v)", after, before, err)
	}
	if err := r.Start(late.Proc); err != nil {
		return "", err
	}
	err = localetcd.Retry(ctx, drillTimeout, func() error {
		if err := late.ExitError(); err != nil {
			return localetcd.Permanent(err)
		}
		ms, err := c.Central[0].Endpoint().Members(ctx)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(ms, func(m localetcd.Member) bool { return m.Name == late.Node }); i < 0 || ms[i].ID != before[mine].ID || ms[i].IsLearner || len(ms[i].ClientURLs) == 0 {
			return fmt.Errorf("members %v: want %s started as voter %s", ms, late.Node, before[mine].ID)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%v; log:\n%s", err, late.LogTail(5))
	}
	return fmt.Sprintf("%d members formed the cluster without %s; its join unit: %q, members unchanged, no %s; its etcd started as rendered, voter %s as the initial cluster named it",
		len(c.Central)-1, late.Node, lastLines(out, 1), cloudconfig.Join.Env, before[mine].ID), nil
}
