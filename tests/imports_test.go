package tests

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// linkedSDKPackages are the provider SDK packages the program may link. Each
// pulumi-aws package is a large compile (ec2 alone is most of the build), so
// importing one the program does not need is a defect: it costs every
// `pulumi preview` its build time. Adding one here should be a decision.
var linkedSDKPackages = map[string][]string{
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws": {
		"aws", "aws/internal", "aws/autoscaling", "aws/ebs", "aws/ec2", "aws/iam", "aws/s3",
	},
	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean": {
		"digitalocean", "digitalocean/internal",
	},
}

// TestProgramLinksOnlyNeededSDKPackages lists every package linked into the
// program (go list -deps of the main package, tests excluded) and fails on any
// provider SDK package beyond the allow-list above.
func TestProgramLinksOnlyNeededSDKPackages(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", ".")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	seen := map[string]bool{}
	for _, pkg := range strings.Fields(string(out)) {
		for root, allowed := range linkedSDKPackages {
			if pkg != root && !strings.HasPrefix(pkg, root+"/") {
				continue
			}
			base := root[:strings.LastIndex(root, "/")+1]
			rel := strings.TrimPrefix(pkg, base)
			seen[rel] = true
			if !slices.Contains(allowed, rel) {
				t.Errorf("program links %s, which is not on the allow-list in %s; drop the import or add it there", pkg, "imports_test.go")
			}
		}
	}
	// The allow-list must stay tight too: every entry is actually linked.
	for _, allowed := range linkedSDKPackages {
		for _, rel := range allowed {
			if !seen[rel] {
				t.Errorf("allow-list names %s, which the program no longer links; remove it", rel)
			}
		}
	}
}
