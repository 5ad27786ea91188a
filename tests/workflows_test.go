package tests

// The GitHub workflows are code too: a broken one fails here, under
// `go test ./...`, rather than in the operator's repository after a merge.
// actionlint runs as a library at the version pinned in go.mod; its shellcheck
// and pyflakes integrations are off (they need external programs).

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"
)

// pulumiActions is the one pulumi/actions reference every workflow uses.
const pulumiActions = "pulumi/actions@v7"

// pulumiActionsV7Inputs are the inputs of pulumi/actions v7.0.0's action.yml.
// actionlint's bundled data knows pulumi/actions up to v6 only, and v7 changed
// the Node runtime, not the inputs; registering them lets actionlint check
// every `with:` key given to the action. Used only while actionlint's own
// data lacks v7.
var pulumiActionsV7Inputs = []string{
	"always-include-summary", "cloud-url", "color", "command", "comment-on-pr", "comment-on-pr-number",
	"comment-on-summary", "config-map", "continue-on-error", "debug", "diff", "edit-pr-comment", "exclude",
	"exclude-dependents", "exclude-protected", "expect-no-changes", "github-token", "log-flow", "log-verbosity",
	"message", "parallel", "plan", "policyPackConfigs", "policyPacks", "pulumi-version", "pulumi-version-file",
	"refresh", "remove", "replace", "secrets-provider", "stack-name", "suppress-outputs", "suppress-progress",
	"target", "target-dependents", "upsert", "work-dir",
}

func init() {
	if _, ok := actionlint.PopularActions[pulumiActions]; ok {
		return
	}
	inputs := actionlint.ActionMetadataInputs{}
	for _, name := range pulumiActionsV7Inputs {
		inputs[strings.ToLower(name)] = &actionlint.ActionMetadataInput{Name: name}
	}
	actionlint.PopularActions[pulumiActions] = &actionlint.ActionMetadata{
		Name:    "Pulumi CLI Action",
		Inputs:  inputs,
		Outputs: actionlint.ActionMetadataOutputs{"output": {Name: "output"}},
	}
}

// repoRoot is the repository root, where the program lives.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Pulumi.yaml")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// lint runs actionlint over one workflow's content, returning its errors and
// its formatted report.
func lint(t *testing.T, root, path string, content []byte) ([]*actionlint.Error, string) {
	t.Helper()
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{
		Shellcheck: "", // off: not installed
		Pyflakes:   "", // off: not installed
		Color:      actionlint.ColorOptionKindNever,
		WorkingDir: root,
	})
	if err != nil {
		t.Fatal(err)
	}
	// An explicit project: local actions (uses: ./.github/actions/...) resolve
	// from the root even in a checkout without .git.
	proj, err := actionlint.NewProject(root)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.Lint(path, content, proj)
	if err != nil {
		t.Fatalf("%s: actionlint: %v", path, err)
	}
	return errs, out.String()
}

func workflowFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, ".github", "workflows", pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	return files
}

func actionFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	for _, name := range []string{"action.yml", "action.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, ".github", "actions", "*", name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	return files
}

// TestWorkflowsLint: every workflow passes actionlint with no error at all.
func TestWorkflowsLint(t *testing.T) {
	root := repoRoot(t)
	files := workflowFiles(t, root)
	for _, want := range []string{"preview.yml", "deploy.yml"} {
		if !slices.Contains(files, filepath.Join(root, ".github", "workflows", want)) {
			t.Errorf(".github/workflows/%s is missing", want)
		}
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		t.Run(rel, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if errs, report := lint(t, root, f, b); len(errs) > 0 {
				t.Errorf("actionlint found %d error(s):\n%s", len(errs), report)
			}
			checkLocalActionsExist(t, root, b)
		})
	}
}

// TestCompositeActionsLint: actionlint reads a local action's metadata only
// when a workflow uses it (inputs, runs.using) and never lints its steps, so
// each composite action's steps are linted here inside a synthetic workflow
// whose workflow_call inputs mirror the action's inputs.
func TestCompositeActionsLint(t *testing.T) {
	root := repoRoot(t)
	for _, f := range actionFiles(t, root) {
		rel, _ := filepath.Rel(root, f)
		t.Run(rel, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var action struct {
				Name        string `yaml:"name"`
				Description string `yaml:"description"`
				Inputs      map[string]struct {
					Required bool    `yaml:"required"`
					Default  *string `yaml:"default"`
				} `yaml:"inputs"`
				Runs struct {
					Using string      `yaml:"using"`
					Steps []yaml.Node `yaml:"steps"`
				} `yaml:"runs"`
			}
			if err := yaml.Unmarshal(b, &action); err != nil {
				t.Fatal(err)
			}
			if action.Name == "" || action.Description == "" {
				t.Error("name and description are required in action metadata")
			}
			if action.Runs.Using != "composite" {
				t.Skipf("runs.using %q: only composite actions are checked here", action.Runs.Using)
			}
			if len(action.Runs.Steps) == 0 {
				t.Fatal("a composite action with no steps")
			}
			for i, s := range action.Runs.Steps {
				var step struct {
					Run   *string `yaml:"run"`
					Shell string  `yaml:"shell"`
				}
				if err := s.Decode(&step); err != nil {
					t.Fatal(err)
				}
				if step.Run != nil && step.Shell == "" {
					t.Errorf("step %d (line %d): a composite action's run step needs shell:", i+1, s.Line)
				}
			}

			inputs := map[string]any{}
			for name, in := range action.Inputs {
				inputs[name] = map[string]any{"type": "string", "required": in.Required && in.Default == nil}
			}
			wf := map[string]any{
				"on":   map[string]any{"workflow_call": map[string]any{"inputs": inputs}},
				"jobs": map[string]any{"action": map[string]any{"runs-on": "ubuntu-latest", "steps": action.Runs.Steps}},
			}
			synthetic, err := yaml.Marshal(wf)
			if err != nil {
				t.Fatal(err)
			}
			if errs, report := lint(t, root, rel+" (steps as a workflow)", synthetic); len(errs) > 0 {
				t.Errorf("actionlint found %d error(s) in the action's steps:\n%s", len(errs), report)
			}
			checkLocalActionsExist(t, root, synthetic)
		})
	}
}

// checkLocalActionsExist: actionlint is silent about a local action that does
// not exist (it may be cloned at run time); here every one must.
func checkLocalActionsExist(t *testing.T, root string, content []byte) {
	t.Helper()
	for _, m := range regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*["']?(\./[^\s"'#]+)`).FindAllSubmatch(content, -1) {
		dir := filepath.Join(root, filepath.FromSlash(string(m[1])))
		_, errYml := os.Stat(filepath.Join(dir, "action.yml"))
		_, errYaml := os.Stat(filepath.Join(dir, "action.yaml"))
		if errYml != nil && errYaml != nil {
			t.Errorf("uses: %s: no action.yml in %s", m[1], dir)
		}
	}
}

// TestActionlintCatchesBrokenWorkflow is the negative control: the linter as
// configured above does find errors, so TestWorkflowsLint cannot pass for
// want of looking.
func TestActionlintCatchesBrokenWorkflow(t *testing.T) {
	root := repoRoot(t)
	broken := `on:
  pull_request:
  push:
    branch: [main]
jobs:
  preview:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        stack: [dev, prod]
    steps:
      - uses: actions/checkout@v5
      - uses: actions/setup-go@v6
        with:
          go-version-fil: go.mod
      - uses: pulumi/actions@v7
        with:
          command: preview
          stack: ${{ vars.PULUMI_ORG }}/isolated-etcd/${{ matrix.stak }}
      - run: echo ${{ secrets.TOKEN
`
	errs, report := lint(t, root, "broken.yml", []byte(broken))
	want := map[string]string{
		"unknown filter":               `unexpected key "branch" for "push" section`,
		"unknown setup-go input":       `input "go-version-fil" is not defined in action "actions/setup-go@v6"`,
		"unknown pulumi/actions input": `input "stack" is not defined in action "pulumi/actions@v7"`,
		"undefined matrix property":    `property "stak" is not defined`,
		"unterminated expression":      `unexpected EOF while lexing expression`,
	}
	for what, msg := range want {
		found := false
		for _, e := range errs {
			if strings.Contains(e.Message, msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no error containing %q; actionlint reported:\n%s", what, msg, report)
		}
	}
}

// --- Structure: what the workflows must keep doing -------------------------

type workflow struct {
	On   yaml.Node      `yaml:"on"`
	Jobs map[string]job `yaml:"jobs"`
}

type job struct {
	Environment yaml.Node `yaml:"environment"`
	Strategy    struct {
		FailFast *bool `yaml:"fail-fast"`
		Matrix   struct {
			Stack []string `yaml:"stack"`
		} `yaml:"matrix"`
	} `yaml:"strategy"`
	Concurrency yaml.Node `yaml:"concurrency"`
	Steps       []struct {
		Uses string            `yaml:"uses"`
		With map[string]string `yaml:"with"`
	} `yaml:"steps"`
}

func loadWorkflow(t *testing.T, path string) workflow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return w
}

// triggers returns the workflow's events, whichever of the three forms of
// `on:` it uses.
func (w workflow) triggers() []string {
	switch w.On.Kind {
	case yaml.ScalarNode:
		return []string{w.On.Value}
	case yaml.SequenceNode:
		var out []string
		for _, n := range w.On.Content {
			out = append(out, n.Value)
		}
		return out
	case yaml.MappingNode:
		var out []string
		for i := 0; i < len(w.On.Content); i += 2 {
			out = append(out, w.On.Content[i].Value)
		}
		return out
	}
	return nil
}

// concurrency returns a job's concurrency group and cancel-in-progress.
func (j job) concurrency() (group string, cancel bool) {
	switch j.Concurrency.Kind {
	case yaml.ScalarNode:
		return j.Concurrency.Value, false
	case yaml.MappingNode:
		var c struct {
			Group  string `yaml:"group"`
			Cancel bool   `yaml:"cancel-in-progress"`
		}
		_ = j.Concurrency.Decode(&c)
		return c.Group, c.Cancel
	}
	return "", false
}

// environment returns a job's environment name, whichever form it uses.
func (j job) environment() string {
	switch j.Environment.Kind {
	case yaml.ScalarNode:
		return j.Environment.Value
	case yaml.MappingNode:
		var e struct {
			Name string `yaml:"name"`
		}
		_ = j.Environment.Decode(&e)
		return e.Name
	}
	return ""
}

// pulumiSteps returns the `with:` of each pulumi/actions step of the job, and
// fails on any pulumi/actions reference other than pulumiActions.
func (j job) pulumiSteps(t *testing.T, where string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, s := range j.Steps {
		if !strings.HasPrefix(s.Uses, "pulumi/actions@") {
			continue
		}
		if s.Uses != pulumiActions {
			t.Errorf("%s: uses %s, want %s", where, s.Uses, pulumiActions)
		}
		out = append(out, s.With)
	}
	return out
}

// stacks returns the stacks with a Pulumi.<stack>.yaml in the repository root.
func stacks(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"Pulumi.*.yaml", "Pulumi.*.yml"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			name := strings.TrimPrefix(filepath.Base(f), "Pulumi.")
			out = append(out, strings.TrimSuffix(strings.TrimSuffix(name, ".yaml"), ".yml"))
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		t.Fatal("no Pulumi.<stack>.yaml in the repository root")
	}
	return out
}

func projectName(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil || p.Name == "" {
		t.Fatalf("Pulumi.yaml: no project name (%v)", err)
	}
	return p.Name
}

// TestEveryWorkflowUsesPulumiActionsV7: each workflow runs Pulumi, and only
// through pulumi/actions@v7.
func TestEveryWorkflowUsesPulumiActionsV7(t *testing.T) {
	root := repoRoot(t)
	for _, f := range workflowFiles(t, root) {
		w := loadWorkflow(t, f)
		n := 0
		for name, j := range w.Jobs {
			n += len(j.pulumiSteps(t, fmt.Sprintf("%s: job %s", filepath.Base(f), name)))
		}
		if n == 0 {
			t.Errorf("%s: no step uses %s", filepath.Base(f), pulumiActions)
		}
	}
}

// TestPreviewCoversEveryStack: a stack file without a preview job fails here,
// as does a preview job for a stack that does not exist.
func TestPreviewCoversEveryStack(t *testing.T) {
	root := repoRoot(t)
	want := stacks(t, root)
	project := projectName(t, root)
	w := loadWorkflow(t, filepath.Join(root, ".github", "workflows", "preview.yml"))
	if !slices.Contains(w.triggers(), "pull_request") {
		t.Errorf("preview.yml runs on %v, want pull_request", w.triggers())
	}
	var got []string
	for name, j := range w.Jobs {
		steps := j.pulumiSteps(t, "preview.yml: job "+name)
		if len(steps) == 0 {
			continue
		}
		got = append(got, j.Strategy.Matrix.Stack...)
		if j.Strategy.FailFast == nil || *j.Strategy.FailFast {
			t.Errorf("preview.yml: job %s: want fail-fast: false, so one stack's failure still shows the others' previews", name)
		}
		if group, cancel := j.concurrency(); !strings.Contains(group, "${{ matrix.stack }}") || !cancel {
			t.Errorf("preview.yml: job %s: concurrency %q cancel-in-progress %v, want a group per stack that cancels superseded previews", name, group, cancel)
		}
		for _, with := range steps {
			if with["command"] != "preview" {
				t.Errorf("preview.yml: job %s: command %q, want preview", name, with["command"])
			}
			if !strings.HasSuffix(with["stack-name"], "/"+project+"/${{ matrix.stack }}") {
				t.Errorf("preview.yml: job %s: stack-name %q, want <org>/%s/${{ matrix.stack }}", name, with["stack-name"], project)
			}
			if with["comment-on-pr"] != "true" {
				t.Errorf("preview.yml: job %s: want comment-on-pr: true", name)
			}
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	for _, s := range want {
		if !slices.Contains(got, s) {
			t.Errorf("stack %s (Pulumi.%s.yaml) has no preview: add it to preview.yml's matrix", s, s)
		}
	}
	for _, s := range got {
		if !slices.Contains(want, s) {
			t.Errorf("preview.yml previews stack %s, which has no Pulumi.%s.yaml", s, s)
		}
	}
}

// TestDeployJobsArePerStack: each deploy job updates the stack its GitHub
// environment is named after (so it gets that stack's credentials and
// protection rules), in a concurrency group of its own that never cancels an
// update halfway.
func TestDeployJobsArePerStack(t *testing.T) {
	root := repoRoot(t)
	all := stacks(t, root)
	project := projectName(t, root)
	w := loadWorkflow(t, filepath.Join(root, ".github", "workflows", "deploy.yml"))
	if !slices.Contains(w.triggers(), "push") || slices.Contains(w.triggers(), "pull_request") {
		t.Errorf("deploy.yml runs on %v, want push (to main) and never pull_request", w.triggers())
	}
	groups := map[string]string{}
	for name, j := range w.Jobs {
		steps := j.pulumiSteps(t, "deploy.yml: job "+name)
		if len(steps) == 0 {
			continue
		}
		env := j.environment()
		if env == "" {
			t.Errorf("deploy.yml: job %s has no environment", name)
			continue
		}
		if !slices.Contains(all, env) {
			t.Errorf("deploy.yml: job %s: environment %s has no Pulumi.%s.yaml", name, env, env)
		}
		group, cancel := j.concurrency()
		if group != "deploy-"+env || cancel {
			t.Errorf("deploy.yml: job %s: concurrency %q cancel-in-progress %v, want deploy-%s and never cancel", name, group, cancel, env)
		}
		if other, ok := groups[group]; ok && group != "" {
			t.Errorf("deploy.yml: jobs %s and %s share concurrency group %s", other, name, group)
		}
		groups[group] = name
		for _, with := range steps {
			if with["command"] != "up" {
				t.Errorf("deploy.yml: job %s: command %q, want up", name, with["command"])
			}
			if !strings.HasSuffix(with["stack-name"], "/"+project+"/"+env) {
				t.Errorf("deploy.yml: job %s: stack-name %q does not match its environment %s", name, with["stack-name"], env)
			}
		}
	}
	if len(groups) == 0 {
		t.Error("deploy.yml: no deploy job")
	}
}
