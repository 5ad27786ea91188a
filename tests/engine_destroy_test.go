package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/enginetest"
	"github.com/isolatedetcd/cluster/internal/fakecloud"
)

// stateResource is one resource of an exported state, secrets shown.
type stateResource struct {
	URN, Type       string
	Protect         bool
	RetainOnDelete  bool
	Inputs, Outputs map[string]any
	Dependencies    []string
}

// exportState is the stack's resources by URN, as `pulumi stack export
// --show-secrets` prints them.
func exportState(t *testing.T, e *enginetest.Engine, stack string) map[string]stateResource {
	t.Helper()
	var state struct {
		Deployment struct{ Resources []stateResource }
	}
	if err := json.Unmarshal([]byte(e.Run(t, "stack", "export", "--show-secrets", "--stack", stack)), &state); err != nil {
		t.Fatal(err)
	}
	out := map[string]stateResource{}
	for _, r := range state.Deployment.Resources {
		out[r.URN] = r
	}
	return out
}

// isWorker tells the workers' machines, which alone may change while the
// central nodes are protected: the launch template and group on AWS, the
// worker droplets on DigitalOcean.
func isWorker(typ, urn string) bool {
	switch typ {
	case "aws:ec2/launchTemplate:LaunchTemplate", "aws:autoscaling/group:Group":
		return true
	case "digitalocean:index/droplet:Droplet":
		return strings.Contains(urn[strings.LastIndex(urn, "::"):], "-worker-")
	}
	return false
}

// isCloud tells a resource of a cloud (or of the TLS provider) from the
// program's components and the engine's own.
func isCloud(typ string) bool {
	return !strings.HasPrefix(typ, "isolatedetcd:") && !strings.HasPrefix(typ, "pulumi:")
}

// protectedStack is a deployed prod-shaped stack on cloud, with TLS and
// backups on (their defaults) and protectCentral, whose stand-in providers
// record what they change in journal.
func protectedStack(t *testing.T, cloud string) (*enginetest.Engine, *stack, fakecloud.Journal) {
	t.Helper()
	journal := fakecloud.Journal(filepath.Join(t.TempDir(), "journal"))
	e := enginetest.New(t, ".")
	e.Env = append(e.Env, "FAKECLOUD_JOURNAL="+string(journal))
	s := initStack(t, e, "prod")
	if cloud == "digitalocean" {
		s.config("cloud", "digitalocean")
		s.config("region", "nyc3")
		s.config("dnsZone", "etcd.example.com")
		s.config("centralSize", "s-4vcpu-8gb")
		s.config("workerSize", "s-4vcpu-8gb")
		s.spacesKey()
	}
	s.up()
	if stackOutput(t, e, "tls") != components.TLSMutual || stackOutput(t, e, "backupBucket") == "" {
		t.Fatal("the prod stack runs without TLS or backups: this test proves nothing of them")
	}
	return e, s, journal
}

// journalSince is what the cloud changed since the journal held seen
// changes.
func journalSince(t *testing.T, j fakecloud.Journal, seen int) []fakecloud.Change {
	t.Helper()
	all, err := j.Changes()
	if err != nil {
		t.Fatal(err)
	}
	return all[seen:]
}

// TestEngineRefusedDestroy proves protectCentral through the real engine on
// a prod-shaped stack of each cloud: every way the whole cluster can be
// deleted (pulumi destroy with and without its preview, the Automation
// API's destroy, an update of a program that no longer declares the
// cluster) and a config change that deletes central nodes stop before the
// cloud changes a single resource but workers; afterwards the state holds
// every resource exactly as before. Then the deliberate teardown of
// docs/operations.md deletes everything but the backups.
func TestEngineRefusedDestroy(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			e, s, journal := protectedStack(t, cloud)
			before := exportState(t, e, s.name)
			// cli runs the CLI as an operator types it; its error holds
			// what the CLI printed, where the engine's reasons are.
			cli := func(args ...string) error {
				out, _, _, err := e.CLI.Run(context.Background(), e.Dir, nil, nil, nil, e.Env, args...)
				if err != nil {
					return fmt.Errorf("%w\n%s", err, out)
				}
				return nil
			}
			emptyProgram := func(*pulumi.Context) error { return nil }
			ways := []struct {
				name string
				run  func() error
				// workersMayChange: the change also reshapes the workers.
				workersMayChange bool
			}{
				{"pulumi destroy --yes --skip-preview", func() error { return cli("destroy", "--yes", "--skip-preview", "--stack", s.name) }, false},
				{"pulumi destroy --yes", func() error { return cli("destroy", "--yes", "--stack", s.name) }, false},
				{"Automation API destroy", func() error { _, err := s.stack().Destroy(context.Background()); return err }, false},
				{"update of a program without the cluster", func() error {
					st := e.Stack(t, s.name, emptyProgram)
					_, err := st.Up(context.Background())
					return err
				}, false},
				{"centralCount 5 to 3", func() error {
					s.config("centralCount", "3")
					defer s.config("centralCount", "5")
					_, err := s.stack().Up(context.Background())
					return err
				}, true},
			}
			for _, way := range ways {
				seen := len(journalSince(t, journal, 0))
				err := way.run()
				if err == nil || !strings.Contains(err.Error(), "protected") {
					t.Errorf("%s: %v; want it refused as protected", way.name, err)
				}
				for _, c := range journalSince(t, journal, seen) {
					if !way.workersMayChange || !isWorker(c.Type, string(c.URN)) {
						t.Errorf("%s: the cloud was asked to %s %s %s", way.name, c.Op, c.Type, c.Name)
					}
				}
				after := exportState(t, e, s.name)
				for urn, was := range before {
					now, ok := after[urn]
					switch {
					case !ok:
						t.Errorf("%s: %s is gone from the state", way.name, urn)
					case way.workersMayChange && (isWorker(was.Type, urn) || !isCloud(was.Type)):
					case !reflect.DeepEqual(was.Inputs, now.Inputs) || !reflect.DeepEqual(was.Outputs, now.Outputs):
						t.Errorf("%s: %s changed in the state", way.name, urn)
					}
				}
			}

			// The deliberate teardown: unprotect with an update that
			// changes nothing in the cloud, then destroy; the bucket and
			// the settings that keep it private and expiring stay.
			s.up() // the workers take all five members' endpoints again
			s.config("protectCentral", "false")
			seen := len(journalSince(t, journal, 0))
			s.up()
			if changed := journalSince(t, journal, seen); len(changed) != 0 {
				t.Errorf("protectCentral false: the cloud was asked to change %v; want protection lifted and nothing else", changed)
			}
			if err := cli("destroy", "--yes", "--skip-preview", "--stack", s.name); err != nil {
				t.Fatalf("destroy after protectCentral false: %v", err)
			}
			deleted := map[string]bool{}
			for _, c := range journalSince(t, journal, seen) {
				if c.Op == "delete" {
					deleted[string(c.URN)] = true
				}
			}
			var kept []string
			for urn, r := range before {
				if r.RetainOnDelete {
					kept = append(kept, r.Type)
				}
				if isCloud(r.Type) && deleted[urn] == r.RetainOnDelete {
					t.Errorf("teardown: %s deleted %v, want %v", urn, deleted[urn], !r.RetainOnDelete)
				}
			}
			slices.Sort(kept)
			want := map[string][]string{
				"aws": {
					"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
					"aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
					"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
					"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
					"aws:s3/bucketV2:BucketV2",
					"aws:s3/bucketVersioningV2:BucketVersioningV2",
				},
				"digitalocean": {"digitalocean:index/spacesBucket:SpacesBucket"},
			}[cloud]
			if !slices.Equal(kept, want) {
				t.Errorf("teardown keeps %v, want the backups: %v", kept, want)
			}
		})
	}
}

// TestEngineProtectedSet proves what protectCentral protects in the state
// of each cloud: every resource of the cluster but the workers' machines,
// an imported image, the stack's own tags (labels) and the certificates,
// which renewal replaces; those are
// reached by no deletion of the cluster, since the destroy guard, protected,
// depends on each of them and every resource else.
func TestEngineProtectedSet(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			e, s, _ := protectedStack(t, cloud)
			state := exportState(t, e, s.name)
			var guard stateResource
			for _, r := range state {
				if r.Type == components.GuardType {
					guard = r
				}
			}
			if !guard.Protect {
				t.Fatalf("the destroy guard is missing or unprotected: %+v", guard)
			}
			for urn, r := range state {
				userTag := r.Type == "digitalocean:index/tag:Tag" && strings.Contains(urn, "environment")
				// The backup key is kept like the central nodes: every snapshot is sealed to it.
				free := isWorker(r.Type, urn) || strings.HasPrefix(r.Type, "tls:") && !strings.HasSuffix(urn, "-backup-key") || userTag ||
					r.Type == "digitalocean:index/customImage:CustomImage" || !isCloud(r.Type)
				if !free && !r.Protect {
					t.Errorf("%s is not protected", urn)
				}
				if free && r.Protect && r.Type != components.GuardType {
					t.Errorf("%s is protected: a routine change replaces or deletes it", urn)
				}
				if isCloud(r.Type) && !slices.Contains(guard.Dependencies, urn) {
					t.Errorf("the destroy guard does not depend on %s", urn)
				}
			}
		})
	}
}

// recordWarnings is record, plus the warnings the run printed.
func recordWarnings(ch <-chan events.EngineEvent) (changes, []string) {
	inner := make(chan events.EngineEvent)
	done := make(chan changes)
	go func() { done <- record(inner) }()
	var warnings []string
	for e := range ch {
		if d := e.DiagnosticEvent; d != nil && d.Severity == "warning" {
			warnings = append(warnings, d.Message)
		}
		inner <- e
	}
	close(inner)
	return <-done, warnings
}

// previewWarnings previews s, returning what it would change and warn.
func previewWarnings(t *testing.T, s *stack) (changes, []string) {
	t.Helper()
	ch := make(chan events.EngineEvent)
	done := make(chan struct{})
	var c changes
	var w []string
	go func() { c, w = recordWarnings(ch); close(done) }()
	if _, err := s.stack().Preview(context.Background(), optpreview.EventStreams(ch)); err != nil {
		t.Fatalf("pulumi preview: %v", err)
	}
	<-done
	return c, w
}

// TestEngineCentralSize: a new centralSize on a running protected stack
// changes no central machine (a resize stops a member) and the preview says
// which nodes still run the old size; rolling one node resizes exactly that
// node, and the warning then names the others only.
func TestEngineCentralSize(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			_, s, journal := protectedStack(t, cloud)
			cluster := components.ClusterName(s.name)
			bigger := map[string]string{"aws": "m6i.xlarge", "digitalocean": "s-8vcpu-16gb"}[cloud]
			s.config("centralSize", bigger)
			c, warnings := previewWarnings(t, s)
			if touched := touchedCentral(c); len(touched) != 0 {
				t.Errorf("centralSize %s changes central resources without a roll: %v", bigger, touched)
			}
			authWarned := func(warnings []string, node string) bool {
				return slices.ContainsFunc(warnings, func(w string) bool {
					return strings.Contains(w, "etcdAuth is unset, so on") && strings.Contains(w, "rolling "+node)
				})
			}
			if slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "etcdAuth") }) {
				t.Errorf("no roll, yet the preview warns of etcdAuth: %q", warnings)
			}
			warned := func(warnings []string, node string) bool {
				return slices.ContainsFunc(warnings, func(w string) bool {
					return strings.Contains(w, "centralSize is "+bigger) && strings.Contains(w, node+" (")
				})
			}
			for i := range 5 {
				if node := components.CentralName(cluster, i); !warned(warnings, node) {
					t.Errorf("the preview does not say %s still runs the old size: %q", node, warnings)
				}
			}
			seen := len(journalSince(t, journal, 0))
			s.up()
			for _, ch := range journalSince(t, journal, seen) {
				if !isWorker(ch.Type, string(ch.URN)) {
					t.Errorf("centralSize without a roll: the cloud was asked to %s %s", ch.Op, ch.Name)
				}
			}

			rolled := components.CentralName(cluster, 2)
			s.config("rollCentral", rolled)
			c, warnings = previewWarnings(t, s)
			for i := range 5 {
				node := components.CentralName(cluster, i)
				op := c.op(machineType[cloud], node)
				switch {
				case node == rolled && op != apitype.OpUpdate:
					t.Errorf("rolling %s: %q, want its resize (update)", node, op)
				case node != rolled && op != apitype.OpSame:
					t.Errorf("rolling %s changes %s (%s)", rolled, node, op)
				}
				if node != rolled && !warned(warnings, node) {
					t.Errorf("while %s rolls, the preview does not say %s still runs the old size", rolled, node)
				}
			}
			if warned(warnings, rolled) {
				t.Errorf("the preview says %s, being rolled, still runs the old size", rolled)
			}
			// etcdAuth unset on this stack: the roll is where a cluster
			// made before it would turn authentication on.
			if !authWarned(warnings, rolled) {
				t.Errorf("rolling %s with etcdAuth unset: no warning that it may turn authentication on: %q", rolled, warnings)
			}
			s.config("etcdAuth", "true")
			if _, warnings = previewWarnings(t, s); authWarned(warnings, rolled) {
				t.Errorf("etcdAuth true, said outright, still warns: %q", warnings)
			}
			for _, ch := range touchedCentral(c) {
				if !strings.Contains(ch, rolled) {
					t.Errorf("rolling %s changes %s", rolled, ch)
				}
			}
		})
	}
}
