package components_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

// permissionShapes are, per cloud, the settings that change what the
// program registers or asks of the cloud: backups into a bucket it creates
// or into the operator's (with a restore, which lists the bucket), TLS on
// and off, a zone on DigitalOcean, a region of the stack's own on AWS (an
// explicit provider), an image of the operator's.
func permissionShapes() map[string][]components.ClusterArgs {
	restore := func(a components.ClusterArgs) components.ClusterArgs {
		a.BackupBucket, a.RestoreFrom = "ops-backups", components.RestoreLatest
		return a
	}
	noBackup := func(a components.ClusterArgs) components.ClusterArgs {
		a.Backup = boolp(false)
		return a
	}
	region := validArgs("aws")
	region.Region = "eu-west-1"
	image := validArgs("digitalocean")
	image.Image = pulumi.String("214201456")
	awsImage := discoveryArgs("aws")
	awsImage.Image = pulumi.String("ami-0fedcba9876543210")
	return map[string][]components.ClusterArgs{
		"aws":          {validArgs("aws"), restore(validArgs("aws")), noBackup(discoveryArgs("aws")), region, awsImage},
		"digitalocean": {validArgs("digitalocean"), restore(validArgs("digitalocean")), noBackup(discoveryArgs("digitalocean")), image},
	}
}

// provisionShape runs one shape under the mock engine, with a snapshot in
// the operator's bucket for the shapes that restore.
func provisionShape(t *testing.T, args components.ClusterArgs) *pulumitest.Mocks {
	t.Helper()
	m := pulumitest.New()
	m.Objects = map[string][]string{"ops-backups": {"etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db"}}
	if _, _, err := provisionOn(t, m, args); err != nil {
		t.Fatalf("%s %+v: %v", args.Cloud, args, err)
	}
	return m
}

// registered runs every shape of cloud under the mock engine and returns
// the custom resource types and the data sources it asks for.
func registered(t *testing.T, cloud string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, args := range permissionShapes()[cloud] {
		m := provisionShape(t, args)
		for _, r := range m.Resources() {
			if r.Custom {
				seen[r.Type] = true
			}
		}
		for _, i := range m.Invokes() {
			seen[i.Token] = true
		}
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// permissionsDoc is what docs/ci.md's Deploy permissions section says.
type permissionsDoc struct {
	// policy is the AWS deploy role's policy; awsRows the actions each AWS
	// resource type or data source needs.
	policy  []statement
	awsRows map[string][]string
	// scopes are the DigitalOcean token's scopes; doRows the scopes each
	// DigitalOcean type needs, and spacesKey what it needs of the
	// provider's Spaces key ("" for nothing).
	scopes    []string
	doRows    map[string][]string
	spacesKey map[string]string
	// none are the types that need no cloud permission.
	none map[string]bool
}

// cut is the text of doc after start up to end ("" for the rest).
func cut(t *testing.T, doc, start, end string) string {
	t.Helper()
	_, after, ok := strings.Cut(doc, start)
	if !ok {
		t.Fatalf("docs/ci.md has no %q", strings.TrimSpace(start))
	}
	if end != "" {
		after, _, _ = strings.Cut(after, end)
	}
	return after
}

// tableRows are the rows of the markdown tables in text whose first cell
// is one `code` name: that name, and the rest of its cells.
func tableRows(text string) map[string][]string {
	rows := map[string][]string{}
	for line := range strings.Lines(text) {
		cells := strings.Split(strings.TrimSpace(line), "|")
		if len(cells) < 3 || !regexp.MustCompile("^ `[^`]+` $").MatchString(cells[1]) {
			continue
		}
		rows[strings.Trim(cells[1], " `")] = cells[2 : len(cells)-1]
	}
	return rows
}

// codeNames are the `code` names in cell that look like a permission
// (service:Action or resource:verb).
func codeNames(cell string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([a-z0-9_-]+:[A-Za-z_]+)`").FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

func readPermissionsDoc(t *testing.T) permissionsDoc {
	t.Helper()
	b, err := os.ReadFile("../docs/ci.md")
	if err != nil {
		t.Fatal(err)
	}
	section := cut(t, string(b), "\n## Deploy permissions\n", "\n## ")
	aws := cut(t, section, "\n### AWS\n", "\n### ")
	do := cut(t, section, "\n### DigitalOcean\n", "\n### ")
	var d permissionsDoc
	var policy struct{ Statement []statement }
	if err := json.Unmarshal([]byte(cut(t, aws, "```json\n", "\n```")), &policy); err != nil {
		t.Fatalf("docs/ci.md: the AWS policy is not JSON: %v", err)
	}
	d.policy = policy.Statement
	d.awsRows = map[string][]string{}
	for name, cells := range tableRows(aws) {
		d.awsRows[name] = codeNames(cells[0])
	}
	for line := range strings.Lines(cut(t, do, "```text\n", "\n```")) {
		if line = strings.TrimSpace(line); line != "" {
			d.scopes = append(d.scopes, line)
		}
	}
	d.doRows, d.spacesKey = map[string][]string{}, map[string]string{}
	for name, cells := range tableRows(do) {
		d.doRows[name] = codeNames(cells[0])
		if len(cells) > 1 {
			d.spacesKey[name] = strings.TrimSpace(cells[1])
		}
	}
	d.none = map[string]bool{}
	for name := range tableRows(cut(t, section, "\n### No cloud permission\n", "")) {
		d.none[name] = true
	}
	return d
}

// globMatch is IAM's matching of a pattern with * against s.
func globMatch(pattern, s string) bool {
	return regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$").MatchString(s)
}

// TestDeployPermissionsCoverTheProgram: every resource type the program
// registers and every data source it asks, on each cloud and on every
// setting that changes which (permissionShapes), has a row in docs/ci.md's
// Deploy permissions; every row is of something the program registers;
// every action a row names is granted by the documented AWS policy, on the
// names the program gives its role, instance profile and bucket, and every
// scope by the documented DigitalOcean token, and neither grants anything
// no row needs. The bucket rows leave out deleting the bucket, which holds
// while the program never deletes it.
func TestDeployPermissionsCoverTheProgram(t *testing.T) {
	d := readPermissionsDoc(t)
	registeredBy := map[string]bool{}
	for _, cloud := range []string{"aws", "digitalocean"} {
		table := d.doRows
		if cloud == "aws" {
			table = d.awsRows
		}
		rows := map[string]bool{}
		for name := range table {
			rows[name] = true
		}
		for _, typ := range registered(t, cloud) {
			registeredBy[typ] = true
			if !rows[typ] && !d.none[typ] {
				t.Errorf("%s: the program registers or asks %s, which docs/ci.md's Deploy permissions does not list", cloud, typ)
			}
			delete(rows, typ)
		}
		for typ := range rows {
			t.Errorf("%s: docs/ci.md lists permissions for %s, which the program no longer registers or asks", cloud, typ)
		}
	}
	for typ := range d.none {
		if !registeredBy[typ] {
			t.Errorf("docs/ci.md says %s needs no permission, and the program no longer registers or asks it", typ)
		}
	}

	// AWS: the names the program's role, profile and bucket get, with
	// Pulumi's random suffix.
	m, _ := mustProvision(t, validArgs("aws"))
	named := func(typ string) string { return m.OfType(typ)[0].Name + "-1a2b3c4" }
	resourceOf := func(action string) string {
		switch {
		case action == "iam:CreateServiceLinkedRole":
			return "arn:aws:iam::<account>:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
		case strings.HasPrefix(action, "iam:") && strings.Contains(action, "InstanceProfile") && action != "iam:ListInstanceProfilesForRole":
			return "arn:aws:iam::<account>:instance-profile/" + named("aws:iam/instanceProfile:InstanceProfile")
		case strings.HasPrefix(action, "iam:"):
			return "arn:aws:iam::<account>:role/" + named("aws:iam/role:Role")
		case strings.HasPrefix(action, "s3:"):
			return "arn:aws:s3:::" + named("aws:s3/bucketV2:BucketV2")
		}
		return "arn:aws:ec2:<region>:<account>:instance/i-0123456789abcdef0"
	}
	granted := map[string]bool{}
	for _, s := range d.policy {
		for _, a := range s.Action {
			if s.Effect != "Allow" || strings.Contains(a, "*") {
				t.Errorf("docs/ci.md's AWS policy: %s %s; want every action allowed by name", s.Effect, a)
			}
			granted[a] = true
		}
	}
	needed := map[string]bool{}
	for typ, actions := range d.awsRows {
		if len(actions) == 0 {
			t.Errorf("docs/ci.md: %s has no actions", typ)
		}
		for _, a := range actions {
			needed[a] = true
			resource := resourceOf(a)
			if !slices.ContainsFunc(d.policy, func(s statement) bool {
				return slices.Contains(s.Action, a) && slices.ContainsFunc(s.Resource, func(r string) bool { return globMatch(r, resource) })
			}) {
				t.Errorf("docs/ci.md: %s needs %s on %s, which the AWS policy does not grant", typ, a, resource)
			}
		}
	}
	for a := range granted {
		if !needed[a] {
			t.Errorf("docs/ci.md's AWS policy grants %s, which no row needs", a)
		}
	}

	// DigitalOcean: the token's scopes, and the provider's Spaces key.
	neededScopes := map[string]bool{}
	for typ, scopes := range d.doRows {
		if len(scopes) == 0 && d.spacesKey[typ] == "" {
			t.Errorf("docs/ci.md: %s needs neither a scope nor the Spaces key", typ)
		}
		for _, sc := range scopes {
			neededScopes[sc] = true
			if !slices.Contains(d.scopes, sc) {
				t.Errorf("docs/ci.md: %s needs %s, which the token's scopes leave out", typ, sc)
			}
		}
	}
	for _, sc := range d.scopes {
		if !neededScopes[sc] {
			t.Errorf("docs/ci.md's DigitalOcean token has %s, which no row needs", sc)
		}
	}

	// Neither cloud's deploy credentials may delete the backup bucket: the
	// program never does.
	for _, c := range []struct{ cloud, typ, deletes string }{
		{"aws", "aws:s3/bucketV2:BucketV2", "s3:DeleteBucket"},
		{"digitalocean", "digitalocean:index/spacesBucket:SpacesBucket", ""},
	} {
		if c.deletes != "" && granted[c.deletes] {
			continue
		}
		for _, args := range permissionShapes()[c.cloud] {
			for _, r := range provisionShape(t, args).OfType(c.typ) {
				if !r.RetainOnDelete {
					t.Errorf("%s %s is deleted with the stack, and docs/ci.md gives the deploy credentials no delete of it", c.cloud, r.Name)
				}
			}
		}
	}
}
