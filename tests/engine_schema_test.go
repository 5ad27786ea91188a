package tests

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/enginetest"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

// refusedBeforeAnything runs a preview that must stop with a message
// holding want before anything but the stack itself is registered.
func (s *stack) refusedBeforeAnything(want string) {
	s.t.Helper()
	ch := make(chan events.EngineEvent)
	var mu sync.Mutex
	var registered []string
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for e := range ch {
			if e.ResourcePreEvent != nil && e.ResourcePreEvent.Metadata.Type != "pulumi:pulumi:Stack" {
				mu.Lock()
				registered = append(registered, e.ResourcePreEvent.Metadata.Type+" "+e.ResourcePreEvent.Metadata.URN)
				mu.Unlock()
			}
		}
	}()
	_, err := s.stack().Preview(context.Background(), optpreview.EventStreams(ch))
	if err == nil || !strings.Contains(err.Error(), want) {
		s.t.Fatalf("stack %s: preview ended with %v; want it stopped with %q", s.name, err, want)
	}
	// A run stopped before the engine starts may never open the stream.
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	if len(registered) != 0 {
		s.t.Errorf("stack %s: the refused preview registered %v", s.name, registered)
	}
}

// TestEngineConfigSchema: what Pulumi.yaml's config schema does, through the
// real engine (CLI v3.259.0). A value of the wrong type for a declared key
// stops the preview in the CLI, naming the stack, the key and the type it
// wants, before the program runs: a string for centralCount (integer), a
// list for tags (object), a word for protectCentral (boolean). A key the
// project does not declare the CLI passes to the program without a word;
// the program refuses it, naming the key, its value, the key it most likely
// means and every key that is allowed. Nothing is registered by any of
// them, and the same stack previews again once the one bad value is gone.
func TestEngineConfigSchema(t *testing.T) {
	e := enginetest.New(t, ".")
	s := initStack(t, e, "schema")
	s.config("aws:region", "us-east-2")
	cluster := components.ClusterName(s.name)
	previews := func(after string) {
		t.Helper()
		if c := s.preview(); c.op(components.ClusterType, cluster) != apitype.OpCreate {
			t.Fatalf("%s: the preview does not create the cluster: %v", after, changed(c))
		}
	}
	previews("the stack as it starts")
	rm := func(key string) { e.Run(t, "config", "rm", "--stack", s.name, key) }

	s.config("centralCount", "three")
	s.refusedBeforeAnything("Stack 'schema' with configuration key 'centralCount' must be of type 'integer'")
	rm("centralCount")

	// --path makes tags a list in the stack file, as a YAML list.
	e.Run(t, "config", "set", "--stack", s.name, "--path", "tags[0]", "environment=dev")
	s.refusedBeforeAnything("Stack 'schema' with configuration key 'tags' must be of type 'object'")
	rm("tags")

	s.config("protectCentral", "yes")
	s.refusedBeforeAnything("Stack 'schema' with configuration key 'protectCentral' must be of type 'boolean'")
	rm("protectCentral")

	// The housekeeping keys (issue 20): the CLI checks their types, the
	// program their values, each before anything is registered.
	s.config("quotaBackendMiB", "lots")
	s.refusedBeforeAnything("Stack 'schema' with configuration key 'quotaBackendMiB' must be of type 'integer'")
	s.config("quotaBackendMiB", "9000")
	s.refusedBeforeAnything("quotaBackendMiB: 9000 is not allowed; want 16 to 4608 MiB")
	rm("quotaBackendMiB")
	s.config("compactionRetention", "forever")
	s.refusedBeforeAnything(`compactionRetention: "forever" is not allowed; want a duration from 1s to 24h0m0s`)
	rm("compactionRetention")
	e.Run(t, "config", "set", "--stack", s.name, "--path", "monitoringCidrs[0]", "10.30.0.0/33")
	s.refusedBeforeAnything(`monitoringCidrs[0]: "10.30.0.0/33" is not a CIDR block`)
	rm("monitoringCidrs")
	e.Run(t, "config", "set", "--stack", s.name, "--path", "monitoringGroups[0]", "prometheus")
	s.refusedBeforeAnything(`monitoringGroups[0]: "prometheus" is not a security group id`)
	rm("monitoringGroups")

	// configFormat (issue 24): the program checks its value, before
	// anything is registered.
	s.config("configFormat", "butane")
	s.refusedBeforeAnything(`configFormat: "butane" is not supported; want cloud-config (default) or ignition`)
	rm("configFormat")

	// The authentication and backup keys (issues 21, 22).
	s.config("etcdAuth", "maybe")
	s.refusedBeforeAnything(`etcdAuth: "maybe" is not true or false`)
	rm("etcdAuth")
	e.Run(t, "config", "set", "--stack", s.name, "--path", "workerKeyPrefixes[0]", "/registry/ *")
	s.refusedBeforeAnything(`workerKeyPrefixes[0]: "/registry/ *" is not allowed`)
	rm("workerKeyPrefixes")
	s.config("backupIdentity", "AGE-SECRET-KEY-1PLAIN")
	s.refusedBeforeAnything("backupIdentity: stored in plain text")
	rm("backupIdentity")
	// The second copy (issue 22): its region checked against the cloud's
	// and the cluster's, restoreFromCopy's type by the CLI and its use by
	// the program. The region key set: with aws:region alone the program
	// asks the default provider for the region first, which registers it.
	s.config("region", "us-east-2")
	s.config("backupCopyRegion", "europe")
	s.refusedBeforeAnything(`backupCopyRegion: "europe" is not an AWS region; want another region than the cluster's (us-east-2)`)
	s.config("backupCopyRegion", "us-east-2")
	s.refusedBeforeAnything(`backupCopyRegion: "us-east-2" is the cluster's own region`)
	rm("backupCopyRegion")
	rm("region")
	s.config("restoreFromCopy", "yes")
	s.refusedBeforeAnything("Stack 'schema' with configuration key 'restoreFromCopy' must be of type 'boolean'")
	s.config("restoreFromCopy", "true")
	s.refusedBeforeAnything("restoreFromCopy: true restores restoreFrom from the second copy, and restoreFrom is unset")
	rm("restoreFromCopy")
	s.config("backupRevisionThreshold", "2000000000")
	s.refusedBeforeAnything("backupRevisionThreshold: 2000000000 is not allowed; want 0 (no snapshot but the schedule's) or up to 1000000000 revisions")
	rm("backupRevisionThreshold")
	s.config("backupKeepWeekly", "13")
	s.refusedBeforeAnything("backupRetentionDays: 30 expires every snapshot after 30 days, and backupKeepHourly 0, backupKeepDaily 0, backupKeepWeekly 13 keep some for 91")
	rm("backupKeepWeekly")

	s.config("workerSise", "m6i.large")
	s.refusedBeforeAnything(`config: isolated-etcd:workerSise = "m6i.large" is not a setting of this program (did you mean workerSize?); ` +
		"the settings are those Pulumi.yaml declares: backup, backupBucket,")
	rm("workerSise")

	// A map for tags, the type Pulumi.yaml declares, is taken.
	e.Run(t, "config", "set", "--stack", s.name, "--path", "tags.environment", "dev")
	previews("the stack with every bad value gone")
}

// TestUnknownKeyRefusedByProgram: run as `pulumi up` runs it, the program
// refuses a key of its namespace that Pulumi.yaml does not declare, beside
// any value of the wrong type, before anything is registered; keys of
// another namespace are the providers' own.
func TestUnknownKeyRefusedByProgram(t *testing.T) {
	config := stackConfig(t, "Pulumi.dev.yaml")
	config[pulumitest.Project+":workercount"] = "4"
	config[pulumitest.Project+":centralCount"] = "four"
	config["aws:skipMetadataApiCheck"] = "true"
	m, err := run(t, config, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`config: isolated-etcd:workercount = "4" is not a setting of this program (did you mean workerCount?)`, `centralCount: "four" is not a whole number`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "aws:") {
		t.Errorf("another namespace's key refused:\n%v", err)
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered", n)
	}
}
