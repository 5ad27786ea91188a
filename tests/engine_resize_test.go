package tests

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// TestEngineCentralResize: centralCount 5 to 7 on a running protected
// stack, previewed, then applied without a preview as an operator may:
// the cloud creates the two new central nodes' resources and changes no
// existing central node's (workers take the new endpoints); the new nodes'
// user data carries the join unit with which each adds itself as a learner
// (docs/operations.md). Then back to 5 as docs/operations.md says once the
// members are removed: the cloud deletes the two nodes' resources only.
func TestEngineCentralResize(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			e, s, journal := protectedStack(t, cloud)
			cluster := components.ClusterName(s.name)
			isNew := func(name string) bool {
				return strings.Contains(name, components.CentralName(cluster, 5)) || strings.Contains(name, components.CentralName(cluster, 6))
			}
			s.config("centralCount", "7")
			c, _ := previewWarnings(t, s)
			for i := range 7 {
				node := components.CentralName(cluster, i)
				want := apitype.OpSame
				if i >= 5 {
					want = apitype.OpCreate
				}
				if op := c.op(machineType[cloud], node); op != want {
					t.Errorf("preview of centralCount 7: %s %s, want %s", node, op, want)
				}
			}
			for key, st := range c {
				typ, name, _ := strings.Cut(key, " ")
				if st.op != apitype.OpSame && !isNew(name) && !isWorker(typ, "::"+name) && isCloud(typ) {
					t.Errorf("preview of centralCount 7: %s %s", st.op, key)
				}
			}

			// The Automation API's up runs without a preview of its own,
			// as pulumi up --yes --skip-preview does.
			seen := len(journalSince(t, journal, 0))
			s.up()
			created := 0
			for _, ch := range journalSince(t, journal, seen) {
				switch {
				case isWorker(ch.Type, string(ch.URN)):
				case ch.Op == "create" && isNew(ch.Name):
					created++
				default:
					t.Errorf("centralCount 7: the cloud was asked to %s %s %s", ch.Op, ch.Type, ch.Name)
				}
			}
			if created == 0 {
				t.Error("centralCount 7: the cloud created nothing for the new nodes")
			}

			var texts []string
			if err := json.Unmarshal([]byte(e.Run(t, "stack", "output", "--show-secrets", "--json", "--stack", s.name, "centralCloudConfig")), &texts); err != nil || len(texts) != 7 {
				t.Fatalf("centralCloudConfig: %d texts (%v), want 7", len(texts), err)
			}
			added, _ := json.Marshal(texts[5:])
			files := writtenFiles(t, string(added))
			for _, want := range []string{cloudconfig.Join.Script, "member add $me --peer-urls=$url --learner", components.CentralName(cluster, 6)} {
				if !strings.Contains(files, want) {
					t.Errorf("the new nodes' user data lacks %q", want)
				}
			}

			// Back to 5, the second step of docs/operations.md (the members
			// removed first): protection lifted by an update that changes
			// nothing in the cloud, then the count lowered, which deletes
			// the two nodes' resources and changes no other central one.
			s.config("protectCentral", "false")
			seen = len(journalSince(t, journal, 0))
			s.up()
			if changed := journalSince(t, journal, seen); len(changed) != 0 {
				t.Errorf("protectCentral false: the cloud was asked to change %v", changed)
			}
			s.config("centralCount", "5")
			seen = len(journalSince(t, journal, 0))
			s.up()
			deleted := 0
			for _, ch := range journalSince(t, journal, seen) {
				switch {
				case isWorker(ch.Type, string(ch.URN)):
				case ch.Op == "delete" && isNew(ch.Name):
					deleted++
				default:
					t.Errorf("centralCount back to 5: the cloud was asked to %s %s %s", ch.Op, ch.Type, ch.Name)
				}
			}
			if deleted == 0 {
				t.Error("centralCount back to 5: the cloud deleted nothing of the two nodes")
			}
		})
	}
}
