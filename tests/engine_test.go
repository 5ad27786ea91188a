package tests

// These tests run the program through the real Pulumi engine (the pinned CLI,
// a local file backend, stand-in cloud providers): what only the engine does,
// the config schema, secrets in the state, protect, ignoreChanges and
// replacement, is proven here. The mock-engine tests beside them never read
// Pulumi.yaml or a stack file.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/coreos-cloudinit/config"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"golang.org/x/crypto/ssh"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/components/discovery/discoverytest"
	"github.com/isolatedetcd/cluster/internal/enginetest"
)

// readmeSteps returns the pulumi commands of the README's code block under
// heading, each split into words, with every "$(command)" the README asks the
// operator to run replaced by what substitute gives for it.
func readmeSteps(t *testing.T, heading string, substitute map[string]string) [][]string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q section", heading)
	}
	_, block, _ := strings.Cut(section, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	var steps [][]string
	for line := range strings.Lines(block) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "pulumi ") {
			continue
		}
		line = regexp.MustCompile(`\s+#.*$`).ReplaceAllString(line, "")
		line = regexp.MustCompile(`"\$\(([^)]*)\)"`).ReplaceAllStringFunc(line, func(m string) string {
			cmd := m[3 : len(m)-2]
			v, ok := substitute[cmd]
			if !ok {
				t.Fatalf("README step %q runs %q, which this test cannot stand in for", line, cmd)
			}
			return "'" + v + "'"
		})
		steps = append(steps, shellWords(t, line))
	}
	if len(steps) == 0 {
		t.Fatalf("README's %q block has no pulumi commands", heading)
	}
	return steps
}

// shellWords splits a command line as a POSIX shell would, for the quoting
// the README uses: single and double quotes, no escapes.
func shellWords(t *testing.T, line string) []string {
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case r == '\\' || r == '$' || r == '`':
			t.Fatalf("README step %q needs a shell to run", line)
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("README step %q has an unclosed quote", line)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// sshKey is a fresh OpenSSH public key line.
func sshKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " operator@example"
}

// changes is what an engine run did to each resource, by "type name".
type changes map[string]step

// step is what a run did to one resource, and the resource as the run left
// it (none when deleted).
type step struct {
	op  apitype.OpType
	new *apitype.StepEventStateMetadata
}

// record collects the engine's per-resource steps from an event stream.
func record(ch <-chan events.EngineEvent) changes {
	c := changes{}
	for e := range ch {
		if e.ResourcePreEvent != nil {
			m := e.ResourcePreEvent.Metadata
			key := m.Type + " " + m.URN[strings.LastIndex(m.URN, "::")+2:]
			prev, seen := c[key]
			// A replacement is several steps; keep the one that says so.
			if !seen || prev.op == apitype.OpSame || m.Op == apitype.OpReplace {
				prev.op = m.Op
			}
			if m.New != nil {
				prev.new = m.New
			}
			c[key] = prev
		}
	}
	return c
}

// op is what the run did to the resource of type typ called name.
func (c changes) op(typ, name string) apitype.OpType { return c[typ+" "+name].op }

// stack drives one stack of an engine through the README's steps and the
// Automation API, recording what each preview or update did.
type stack struct {
	t      *testing.T
	engine *enginetest.Engine
	auto   auto.Stack
	name   string
}

func newStack(t *testing.T, e *enginetest.Engine, name string) *stack {
	return &stack{t: t, engine: e, name: name}
}

// initStack is a new stack called name, created in e's backend.
func initStack(t *testing.T, e *enginetest.Engine, name string) *stack {
	t.Helper()
	e.Run(t, "stack", "init", name)
	return newStack(t, e, name)
}

// do runs one README step: pulumi preview and pulumi up through the
// Automation API with the program inline (the Go language host is not
// available here), every other command through the CLI exactly as written.
func (s *stack) do(step []string) changes {
	s.t.Helper()
	switch strings.Join(step, " ") {
	case "pulumi preview":
		return s.preview()
	case "pulumi up":
		return s.up()
	}
	s.engine.Run(s.t, step[1:]...)
	if len(step) > 2 && step[1] == "stack" && step[2] == "init" {
		s.name = step[3]
	}
	return nil
}

func (s *stack) stack() *auto.Stack {
	if s.auto.Name() == "" {
		s.auto = s.engine.Stack(s.t, s.name, goProgram)
	}
	return &s.auto
}

func (s *stack) preview(opts ...optpreview.Option) changes {
	s.t.Helper()
	ch := make(chan events.EngineEvent)
	done := make(chan changes)
	go func() { done <- record(ch) }()
	_, err := s.stack().Preview(context.Background(), append(opts, optpreview.EventStreams(ch))...)
	if err != nil {
		// The event stream may never have opened, so it may never close.
		s.t.Fatalf("pulumi preview: %v", err)
	}
	return <-done
}

func (s *stack) up() changes {
	s.t.Helper()
	ch := make(chan events.EngineEvent)
	done := make(chan changes)
	go func() { done <- record(ch) }()
	_, err := s.stack().Up(context.Background(), optup.EventStreams(ch))
	if err != nil {
		s.t.Fatalf("pulumi up: %v", err)
	}
	return <-done
}

func (s *stack) config(key, value string) {
	s.t.Helper()
	s.engine.Run(s.t, "config", "set", "--stack", s.name, key, value)
}

// refused runs a preview the program must stop with a message holding want.
func (s *stack) refused(want string) {
	s.t.Helper()
	if _, err := s.stack().Preview(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
		s.t.Fatalf("stack %s: preview ended with %v; want it stopped with %q", s.name, err, want)
	}
}

// spacesKey gives the stack's DigitalOcean provider a Spaces key, as the
// README says, which creating the backup bucket takes.
func (s *stack) spacesKey() {
	s.t.Helper()
	s.config("digitalocean:spacesAccessId", "DO00ENGINETEST")
	s.engine.Run(s.t, "config", "set", "--secret", "--stack", s.name, "digitalocean:spacesSecretKey", "engine-test-spaces-secret")
}

// readmeOutputs are the outputs the Outputs table of docs/configuration.md
// lists.
func readmeOutputs(t *testing.T) []string {
	b, err := os.ReadFile(filepath.Join("docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(b), "\n## Outputs\n")
	table, _, _ = strings.Cut(table, "\n## ")
	var names []string
	for line := range strings.Lines(table) {
		if cell, ok := strings.CutPrefix(line, "| `"); ok {
			cell, _, _ = strings.Cut("`"+cell, " |")
			for _, m := range regexp.MustCompile("`([A-Za-z]+)`").FindAllStringSubmatch(cell, -1) {
				names = append(names, m[1])
			}
		}
	}
	return names
}

// checkDeployed checks what an operator reads after the README's pulumi up:
// the outputs `pulumi stack output --json` prints and the state on disk.
func checkDeployed(t *testing.T, e *enginetest.Engine, stack string) {
	t.Helper()
	var outputs map[string]any
	if err := json.Unmarshal([]byte(e.Run(t, "stack", "output", "--json", "--stack", stack)), &outputs); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(outputs)), slices.Sorted(slices.Values(readmeOutputs(t))); !slices.Equal(got, want) {
		t.Errorf("pulumi stack output shows %v; docs/configuration.md lists %v", got, want)
	}
	// The README's stacks bootstrap statically: no token, and so no secret.
	if outputs["bootstrap"] != "static" || outputs["discoveryUrl"] != "" {
		t.Errorf("bootstrap %v with discovery URL %v, want static with none", outputs["bootstrap"], outputs["discoveryUrl"])
	}
	if ips, _ := outputs["centralPrivateIps"].([]any); len(ips) != 3 {
		t.Errorf("centralPrivateIps = %v, want 3 addresses", outputs["centralPrivateIps"])
	}
	endpoints, _ := outputs["etcdClientEndpoints"].([]any)
	initial, _ := outputs["initialCluster"].(string)
	for i, ep := range endpoints {
		if !regexp.MustCompile(`^https://[a-z0-9.-]+:2379$`).MatchString(ep.(string)) {
			t.Errorf("etcdClientEndpoints has %v, want https://<host>:2379", ep)
		}
		peer := strings.Replace(ep.(string), ":2379", ":2380", 1)
		if member := components.CentralName(components.ClusterName(stack), i) + "=" + peer; !strings.Contains(initial, member) {
			t.Errorf("initialCluster %q lacks %s", initial, member)
		}
	}
}

// stackOutput is one output of the engine's current stack, as `pulumi
// stack output` prints it.
func stackOutput(t *testing.T, e *enginetest.Engine, name string) string {
	t.Helper()
	return strings.TrimSpace(e.Run(t, "stack", "output", name))
}

// notInBackend fails t if any of secrets (by what they are) can be read
// anywhere in e's backend, in a state, its history or its backups: as it is,
// JSON-escaped, or inside any base64-encoded value (launch templates take
// their user data so).
func notInBackend(t *testing.T, e *enginetest.Engine, secrets map[string]string) {
	t.Helper()
	err := filepath.WalkDir(e.StateDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// The file as stored, and every string in it unescaped and, where
		// it is base64, decoded.
		readable := []string{string(b)}
		var doc any
		if json.Unmarshal(b, &doc) == nil {
			for _, s := range stringLeaves(doc) {
				readable = append(readable, s)
				if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
					readable = append(readable, string(dec))
				}
			}
		}
		for what, secret := range secrets {
			if slices.ContainsFunc(readable, func(text string) bool { return strings.Contains(text, secret) }) {
				t.Errorf("%s holds %s readably", path, what)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// stringLeaves are the strings anywhere in a decoded JSON document.
func stringLeaves(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, stringLeaves(x)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, x := range v {
			out = append(out, stringLeaves(x)...)
		}
		return out
	}
	return nil
}

// stackSecrets are the plaintexts of the stack's secrets, by where they
// are, as `pulumi stack export --show-secrets` shows them: every string in
// each secret value long enough not to be found by chance.
func stackSecrets(t *testing.T, e *enginetest.Engine, stack string) map[string]string {
	t.Helper()
	var state any
	if err := json.Unmarshal([]byte(e.Run(t, "stack", "export", "--show-secrets", "--stack", stack)), &state); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", where, i), x)
			}
		case map[string]any:
			// --show-secrets shows a secret as {signature, plaintext: its JSON}.
			if plain, ok := v["plaintext"].(string); ok && v["4dabf18193072939515e22adb298388d"] != nil {
				var value any
				if err := json.Unmarshal([]byte(plain), &value); err != nil {
					t.Fatalf("secret at %s: %v", where, err)
				}
				for i, s := range stringLeaves(value) {
					if len(s) >= 16 {
						out[fmt.Sprintf("the secret at %s (%d)", where, i)] = s
					}
				}
				return
			}
			for k, x := range v {
				walk(where+"."+k, x)
			}
		}
	}
	walk("state", state)
	if len(out) == 0 {
		t.Fatalf("stack %s holds no secrets: nothing to look for", stack)
	}
	return out
}

// TestEngineREADMEDeploy follows the README's deploy steps for each cloud on
// a new stack, as a new operator would, then reads what the README says
// they will see.
func TestEngineREADMEDeploy(t *testing.T) {
	for _, heading := range []string{"### AWS", "### DigitalOcean"} {
		t.Run(strings.TrimPrefix(heading, "### "), func(t *testing.T) {
			e := enginetest.New(t, ".")
			steps := readmeSteps(t, heading, map[string]string{
				"cat ~/.ssh/id_ed25519.pub": sshKey(t),
			})
			s := newStack(t, e, "")
			var previewed, deployed bool
			for _, step := range steps {
				c := s.do(step)
				switch strings.Join(step, " ") {
				case "pulumi preview":
					previewed = true
					if c.op(components.ClusterType, components.ClusterName(s.name)) != apitype.OpCreate {
						t.Errorf("preview of a new stack does not create the cluster: %v", c)
					}
				case "pulumi up":
					deployed = true
				}
			}
			if !previewed || !deployed {
				t.Fatalf("the README's %s steps must run pulumi preview and pulumi up", heading)
			}
			checkDeployed(t, e, s.name)
			// TLS is on: every private key, and every user data that
			// carries one, is a secret in the state, readable nowhere.
			secrets := stackSecrets(t, e, s.name)
			secrets["a private key"] = "PRIVATE KEY-----"
			notInBackend(t, e, secrets)
			if c := s.preview(); len(changed(c)) != 0 {
				t.Errorf("a preview right after pulumi up changes %v", changed(c))
			}
		})
	}
}

// changed lists the resources a run does anything to but leave alone.
func changed(c changes) []string {
	var out []string
	for name, s := range c {
		if s.op != apitype.OpSame && s.op != apitype.OpRead {
			out = append(out, name+":"+string(s.op))
		}
	}
	slices.Sort(out)
	return out
}

// machineType and volumeType are each cloud's central machine and data
// volume resource types.
var machineType = map[string]string{"aws": "aws:ec2/instance:Instance", "digitalocean": "digitalocean:index/droplet:Droplet"}
var volumeType = map[string]string{"aws": "aws:ebs/volume:Volume", "digitalocean": "digitalocean:index/volume:Volume"}

// writtenFiles is every file the cloud-configs of a stack output (a JSON
// list, one per node) write, decoded as coreos-cloudinit decodes them: a
// script may come gzip+base64 (EC2's 16 KiB).
func writtenFiles(t *testing.T, output string) string {
	t.Helper()
	var userData []string
	if err := json.Unmarshal([]byte(output), &userData); err != nil {
		t.Fatalf("cloud-configs output: %v", err)
	}
	var b strings.Builder
	for _, ud := range userData {
		cc, err := config.NewCloudConfig(ud)
		if err != nil {
			t.Fatalf("user data: %v", err)
		}
		for _, f := range cc.WriteFiles {
			text, err := config.DecodeContent(f.Content, f.Encoding)
			if err != nil {
				t.Fatalf("user data: write_files %s: %v", f.Path, err)
			}
			b.Write(text)
		}
	}
	return b.String()
}

// touchedCentral lists the central resources a run changed.
func touchedCentral(c changes) []string {
	var out []string
	for _, ch := range changed(c) {
		if strings.Contains(ch, "central") {
			out = append(out, ch)
		}
	}
	return out
}

// TestEngineDay2 runs the routine changes of docs/operations.md on a deployed
// dev stack of each cloud through the engine: worker changes and newer images
// leave every central resource alone, rollCentral replaces exactly one central
// machine and keeps its data volume. (TestEngineRefusedDestroy proves
// rolledOnly checks that an update with rollCentral gave the 3 central
// machines of cluster new user data on rolled only, for what (a new etcd
// line, another user data format).
func rolledOnly(t *testing.T, c changes, cloud, cluster, rolled, what string) {
	t.Helper()
	for i := range 3 {
		name := components.CentralName(cluster, i)
		op := c.op(machineType[cloud], name)
		switch {
		case name == rolled && op != apitype.OpUpdate && op != apitype.OpReplace:
			t.Errorf("rollCentral %s %s: %q, want its new user data (update or replace)", name, what, op)
		case name != rolled && op != apitype.OpSame:
			t.Errorf("rolling %s %s changed %s (%s)", rolled, what, name, op)
		}
	}
}

// protection; the dev stack runs without it.)
func TestEngineDay2(t *testing.T) {
	for _, cloud := range []string{"aws", "digitalocean"} {
		t.Run(cloud, func(t *testing.T) {
			e := enginetest.New(t, ".")
			s := initStack(t, e, "dev")
			// AWS through a discovery token, whose secrecy the state must
			// keep; DigitalOcean statically, by names in a DNS zone.
			if cloud == "digitalocean" {
				s.config("cloud", "digitalocean")
				s.config("region", "nyc3")
				s.config("dnsZone", "etcd.example.com")
				s.spacesKey()
			} else {
				e.Run(t, "config", "set", "--secret", "discoveryUrl", discoverytest.Server(t, "3"))
			}
			s.up()
			notInBackend(t, e, map[string]string{"the discovery token": discoverytest.Token})
			cluster := components.ClusterName("dev")
			central1 := components.CentralName(cluster, 1)

			steps := []struct {
				name   string
				change func()
			}{
				{"more workers", func() { s.config("workerCount", "4") }},
				{"larger workers", func() {
					s.config("workerSize", map[string]string{"aws": "m6i.large", "digitalocean": "s-4vcpu-8gb"}[cloud])
				}},
				{"another image", func() {
					s.config("image", map[string]string{"aws": "ami-0fedcba9876543210", "digitalocean": "214201456"}[cloud])
				}},
			}
			if cloud == "aws" {
				steps = append(steps, struct {
					name   string
					change func()
				}{"newer Flatcar AMI from the lookup", func() {
					e.Run(t, "config", "rm", "image")
					s.stack().Workspace().SetEnvVar("FAKECLOUD_AMI", "ami-0aaaaaaaaaaaaaaaa")
				}})
			}
			for _, step := range steps {
				step.change()
				c := s.up()
				if len(changed(c)) == 0 {
					t.Errorf("%s: nothing changed; the step proves nothing", step.name)
				}
				if touched := touchedCentral(c); len(touched) != 0 {
					t.Errorf("%s changed central resources: %v", step.name, touched)
				}
			}

			// The central machines still run the image they were created with;
			// rolling one lets it, and only it, take the current one.
			s.config("rollCentral", central1)
			c := s.up()
			if op := c.op(machineType[cloud], central1); op != apitype.OpReplace {
				t.Errorf("rollCentral: %s was %q, want replace", central1, op)
			}
			var replaced []string
			for i := range 3 {
				if c.op(machineType[cloud], components.CentralName(cluster, i)) == apitype.OpReplace {
					replaced = append(replaced, components.CentralName(cluster, i))
				}
			}
			if len(replaced) != 1 {
				t.Errorf("rollCentral replaced central machines %v, want exactly %s", replaced, central1)
			}
			if op := c.op(volumeType[cloud], central1+"-data"); op != apitype.OpSame {
				t.Errorf("rollCentral: data volume of %s was %q, want it kept (same)", central1, op)
			}
			// Workers reach the members by fixed address (AWS) or by name
			// (DigitalOcean's DNS zone): a new machine changes no worker.
			for key, st := range c {
				if strings.Contains(key, "-worker") && st.op != apitype.OpSame {
					t.Errorf("rollCentral changed worker resource %s (%s)", key, st.op)
				}
			}
			e.Run(t, "config", "rm", "rollCentral")

			// The next etcd line (docs/operations.md): the new user data
			// reaches the workers at once and the central machines only
			// when rolled, one at a time.
			from := stackOutput(t, e, "etcdVersion")
			to := map[string]string{"v3.5.35": "3.6", "v3.6.16": "3.7"}[from]
			if to == "" {
				t.Fatalf("etcdVersion output %q: no next line to move to", from)
			}
			s.config("etcdVersion", to)
			if touched := touchedCentral(s.up()); len(touched) != 0 {
				t.Errorf("etcdVersion %s changed central resources without a roll: %v", to, touched)
			}
			central0 := components.CentralName(cluster, 0)
			s.config("rollCentral", central0)
			rolledOnly(t, s.up(), cloud, cluster, central0, "to etcd "+to)
			e.Run(t, "config", "rm", "rollCentral")

			// Ignition (docs/ignition.md): the workers take it at once, and
			// each central machine keeps its cloud-config until it is rolled.
			s.config("configFormat", "ignition")
			if touched := touchedCentral(s.up()); len(touched) != 0 {
				t.Errorf("configFormat ignition changed central resources without a roll: %v", touched)
			}
			s.config("rollCentral", central1)
			rolledOnly(t, s.up(), cloud, cluster, central1, "to Ignition")
			e.Run(t, "config", "rm", "rollCentral")

			// Certificate renewal (DigitalOcean runs TLS here): with the
			// clock in every leaf's renewal window, the preview replaces
			// each leaf and only the leaves, keeps the CA, and leaves the
			// central machines to their rolls.
			if cloud == "digitalocean" {
				s.stack().Workspace().SetEnvVar("FAKECLOUD_NOW", time.Now().AddDate(0, 0, components.DefaultCertDays-10).Format(time.RFC3339))
				c := s.preview()
				s.stack().Workspace().UnsetEnvVar("FAKECLOUD_NOW")
				leaves := append([]string{cluster + "-workers", cluster + "-operator"}, components.CentralName(cluster, 0), central1, components.CentralName(cluster, 2))
				for _, name := range leaves {
					if op := c.op("tls:index/locallySignedCert:LocallySignedCert", name); op != apitype.OpReplace {
						t.Errorf("renewal window: certificate %s %q in the preview, want replace", name, op)
					}
				}
				if op := c.op("tls:index/selfSignedCert:SelfSignedCert", cluster+"-ca"); op != apitype.OpSame {
					t.Errorf("renewal window: the CA %q, want same: leaves renew under one CA", op)
				}
				for i := range 3 {
					if op := c.op(machineType[cloud], components.CentralName(cluster, i)); op != apitype.OpSame {
						t.Errorf("renewal window: %s %q without a roll, want same", components.CentralName(cluster, i), op)
					}
				}
			}
		})
	}
}

// TestEnginePreviewWorkflow runs the pull-request preview as preview.yml
// asks pulumi/actions to, for every stack of its matrix, on new stacks with
// nothing set beyond their stack files.
func TestEnginePreviewWorkflow(t *testing.T) {
	w := loadWorkflow(t, filepath.Join(".github", "workflows", "preview.yml"))
	e := enginetest.New(t, ".")
	for name, j := range w.Jobs {
		steps := j.pulumiSteps(t, "preview.yml: job "+name)
		if len(steps) != 1 {
			t.Fatalf("preview.yml: job %s has %d pulumi/actions steps, want 1", name, len(steps))
		}
		with := steps[0]
		if with["command"] != "preview" || with["refresh"] != "false" {
			t.Fatalf("preview.yml: job %s runs command %q with refresh %q; this test knows a preview without refresh", name, with["command"], with["refresh"])
		}
		var opts []optpreview.Option
		if with["diff"] == "true" {
			opts = append(opts, optpreview.Diff())
		}
		for _, stackName := range j.Strategy.Matrix.Stack {
			t.Run(stackName, func(t *testing.T) {
				// The stack files bootstrap statically: nothing to set first.
				s := initStack(t, e, stackName)
				c := s.preview(opts...)
				if c.op(components.ClusterType, components.ClusterName(stackName)) != apitype.OpCreate {
					t.Errorf("preview of stack %s does not create its cluster: %v", stackName, changed(c))
				}
			})
		}
	}
}

// TestEngineCloudSettings: each cloud's provider takes its own stack settings
// as its documentation says, because the program uses the default provider:
// aws:region decides where an AWS cluster runs unless the project's region
// key pins it, a stack pinned by the key moves to aws:region replacing
// nothing, and digitalocean:token reaches the provider of every DigitalOcean
// resource, as a secret.
func TestEngineCloudSettings(t *testing.T) {
	e := enginetest.New(t, ".")
	isProvider := func(typ string) bool { return strings.HasPrefix(typ, "pulumi:providers:") }
	// providerName is the name part of a provider reference "urn::id".
	providerName := func(ref string) string {
		urn := ref[:strings.LastIndex(ref, "::")]
		return urn[strings.LastIndex(urn, "::")+2:]
	}

	for _, tc := range []struct {
		name   string
		config map[string]string
		// wantRegion is where the cluster runs; wantProvider the AWS
		// provider every resource goes through ("default" for the default).
		wantRegion, wantProvider string
	}{
		{"aws:region", map[string]string{"aws:region": "eu-west-1"}, "eu-west-1", "default"},
		{"region key overrides aws:region", map[string]string{"aws:region": "eu-west-1", "region": "ap-southeast-2"}, "ap-southeast-2", "-aws"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := initStack(t, e, "region-"+strings.NewReplacer(":", "-", " ", "-").Replace(tc.name))
			for k, v := range tc.config {
				s.config(k, v)
			}
			e.Run(t, "config", "set", "--secret", "--stack", s.name, "discoveryUrl", discoverytest.Server(t, "3"))
			// A cluster made before TLS: plaintext, acknowledged.
			s.config("tlsOffAcknowledged", "true")
			c := s.preview()
			cluster := components.ClusterName(s.name)
			want := strings.Replace(tc.wantProvider, "-aws", cluster+"-aws", 1)

			if st := c[components.ClusterType+" "+cluster].new; st == nil || st.Inputs["region"] != tc.wantRegion {
				t.Errorf("the cluster records region %v, want %s", st, tc.wantRegion)
			}
			var providers []string
			for key, st := range c {
				switch typ, name, _ := strings.Cut(key, " "); {
				case typ == "pulumi:providers:aws":
					providers = append(providers, name)
					if region := st.new.Inputs["region"]; region != tc.wantRegion {
						t.Errorf("AWS provider %s is in %v, want %s", name, region, tc.wantRegion)
					}
				case strings.HasPrefix(typ, "aws:"):
					if got := providerName(st.new.Provider); !strings.HasPrefix(got, want) {
						t.Errorf("%s goes through provider %s, want %s", key, got, want)
					}
					if zone, ok := st.new.Inputs["availabilityZone"].(string); ok && !strings.HasPrefix(zone, tc.wantRegion) {
						t.Errorf("%s in zone %s, want one of %s", key, zone, tc.wantRegion)
					}
				}
			}
			if len(providers) != 1 || !strings.HasPrefix(providers[0], want) {
				t.Errorf("AWS providers %v, want one: %s", providers, want)
			}
		})
	}

	// Stacks made before aws:region set the region key; moving to aws:region
	// (as Pulumi.dev.yaml and Pulumi.prod.yaml now do) changes the provider
	// and nothing it manages. The stand-in replaces a provider, and so
	// everything under it, only when its region changes, as AWS's does.
	t.Run("region key to aws:region", func(t *testing.T) {
		s := initStack(t, e, "moved")
		s.config("region", "us-east-2")
		s.config("aws:region", "us-east-2")
		e.Run(t, "config", "set", "--secret", "--stack", s.name, "discoveryUrl", discoverytest.Server(t, "3"))
		// A cluster made before TLS: plaintext, acknowledged.
		s.config("tlsOffAcknowledged", "true")
		s.up()
		e.Run(t, "config", "rm", "--stack", s.name, "region")
		c := s.up()
		moved := changed(c)
		for _, ch := range moved {
			if !isProvider(ch) {
				t.Errorf("moving to aws:region changed %s; want only the provider to change", ch)
			}
		}
		if len(moved) == 0 {
			t.Error("moving to aws:region changed nothing: the stack still runs through its own provider")
		}
		if c := s.preview(); len(changed(c)) != 0 {
			t.Errorf("after the move, a preview changes %v", changed(c))
		}
	})

	t.Run("digitalocean:token", func(t *testing.T) {
		token := "dop_v1_" + strings.Repeat("5ec7e7", 10)
		s := initStack(t, e, "do-token")
		s.config("cloud", "digitalocean")
		s.config("region", "nyc3")
		e.Run(t, "config", "set", "--secret", "--stack", s.name, "digitalocean:token", token)
		s.spacesKey()
		e.Run(t, "config", "set", "--secret", "--stack", s.name, "discoveryUrl", discoverytest.Server(t, "3"))
		// A cluster made before TLS: plaintext, acknowledged.
		s.config("tlsOffAcknowledged", "true")
		s.up()

		var state struct {
			Deployment struct {
				Resources []struct {
					URN, Type, Provider string
					Custom              bool
					Inputs              map[string]any
				}
			}
		}
		if err := json.Unmarshal([]byte(e.Run(t, "stack", "export", "--show-secrets", "--stack", s.name)), &state); err != nil {
			t.Fatal(err)
		}
		// --show-secrets shows a secret as {signature, plaintext: its JSON}.
		wantToken, _ := json.Marshal(token)
		var provider string
		for _, r := range state.Deployment.Resources {
			if r.Type == "pulumi:providers:digitalocean" {
				secret, _ := r.Inputs["token"].(map[string]any)
				if provider != "" || !strings.Contains(r.URN, "::default") || secret["plaintext"] != string(wantToken) {
					t.Errorf("DigitalOcean provider %s with token %v, want one default provider with the stack's token as a secret", r.URN, r.Inputs["token"])
				}
				provider = r.URN
			}
		}
		var managed int
		for _, r := range state.Deployment.Resources {
			if strings.HasPrefix(r.Type, "digitalocean:") {
				managed++
				if provider == "" || !strings.HasPrefix(r.Provider, provider+"::") {
					t.Errorf("%s goes through %s, want the default provider %s", r.URN, r.Provider, provider)
				}
			}
		}
		if managed == 0 {
			t.Error("no DigitalOcean resource in the state")
		}
		notInBackend(t, e, map[string]string{"the DigitalOcean token": token})
	})
}

// TestEngineTLSSettings runs the TLS keys of Pulumi.yaml through the real
// engine: plaintext outside a dev stack stops the preview until it is
// acknowledged, and a CA rotation's first stage adds the next CA and
// changes no central machine; a stage that is not one stops the preview.
func TestEngineTLSSettings(t *testing.T) {
	e := enginetest.New(t, ".")
	s := initStack(t, e, "staging")
	s.config("aws:region", "us-east-2")
	s.config("tls", "false")
	s.refused("tls: false turns it off, which is refused outside a dev stack")
	s.config("tlsOffAcknowledged", "true")
	c := s.preview()
	for key := range c {
		// The backup key is no certificate's: every snapshot is sealed to it.
		if strings.HasPrefix(key, "tls:") && !strings.HasSuffix(key, "-backup-key") {
			t.Errorf("tls false, acknowledged: the preview registers %s", key)
		}
	}

	r := initStack(t, e, "rotating")
	r.config("aws:region", "us-east-2")
	r.up()
	cluster := components.ClusterName(r.name)
	r.config("tlsCaRotation", "trust-next")
	c = r.preview()
	if op := c.op("tls:index/selfSignedCert:SelfSignedCert", cluster+"-gen1-ca"); op != apitype.OpCreate {
		t.Errorf("trust-next: the next CA %q, want create", op)
	}
	if op := c.op("tls:index/selfSignedCert:SelfSignedCert", cluster+"-ca"); op != apitype.OpSame {
		t.Errorf("trust-next: the current CA %q, want same", op)
	}
	if touched := touchedCentral(c); slices.ContainsFunc(touched, func(k string) bool { return strings.HasPrefix(k, machineType["aws"]) }) {
		t.Errorf("trust-next changed a central machine without a roll: %v", touched)
	}
	r.config("tlsCaRotation", "rotate")
	r.refused(`tlsCaRotation: "rotate" is not a stage`)
}

// TestEngineBackupSettings runs the backup keys of Pulumi.yaml through the
// real engine: on DigitalOcean without a Spaces key the preview stops before
// anything is created; on a deployed stack a restoreFrom that is not in the
// bucket stops the preview, latest resolves to the newest snapshot and
// changes no central machine (members with data never restore over it),
// and a schedule systemd would not take stops the preview.
func TestEngineBackupSettings(t *testing.T) {
	e := enginetest.New(t, ".")
	d := initStack(t, e, "do-nokey")
	d.config("cloud", "digitalocean")
	d.config("region", "nyc3")
	d.config("dnsZone", "etcd.example.com")
	d.refused("backup: creating the backup bucket takes a Spaces access key")
	d.config("backup", "false")
	for key := range d.preview() {
		if strings.Contains(key, "spaces") {
			t.Errorf("backup false: the preview registers %s", key)
		}
	}

	// A cluster made before backups: turning them on adds the bucket and
	// the role, and replaces no central machine or volume.
	s := initStack(t, e, "dev")
	s.config("backup", "false")
	s.up()
	e.Run(t, "config", "rm", "--stack", s.name, "backup")
	c := s.up()
	for _, ch := range touchedCentral(c) {
		if !strings.HasSuffix(ch, ":"+string(apitype.OpUpdate)) && !strings.HasPrefix(ch, "aws:iam/") {
			t.Errorf("turning backups on: %s; want central machines updated in place at most", ch)
		}
	}
	if op := c.op("aws:s3/bucketV2:BucketV2", "etcd-dev-backups"); op != apitype.OpCreate {
		t.Errorf("turning backups on: the bucket %q, want create", op)
	}
	bucket := strings.TrimSpace(e.Run(t, "stack", "output", "--stack", s.name, "backupBucket"))
	if !strings.HasPrefix(bucket, "etcd-dev-backups") {
		t.Fatalf("backupBucket %q, want the bucket the program created", bucket)
	}
	missing := "etcd-dev/etcd-dev-central-0/etcd-20261130T090000Z.db"
	s.config("restoreFrom", missing)
	s.refused(`restoreFrom: "` + missing + `" is not in bucket ` + bucket)
	newest := "etcd-dev/etcd-dev-central-1/etcd-20261130T110000Z.db"
	objects, _ := json.Marshal(map[string][]string{bucket: {"etcd-dev/etcd-dev-central-0/etcd-20261130T100000Z.db", newest}})
	s.stack().Workspace().SetEnvVar("FAKECLOUD_OBJECTS", string(objects))
	defer s.stack().Workspace().UnsetEnvVar("FAKECLOUD_OBJECTS")
	s.config("restoreFrom", "latest")
	c = s.up()
	if touched := touchedCentral(c); slices.ContainsFunc(touched, func(k string) bool { return strings.HasPrefix(k, machineType["aws"]) }) {
		t.Errorf("restoreFrom on a running cluster changed a central machine: %v", touched)
	}
	userData := e.Run(t, "stack", "output", "--show-secrets", "--stack", s.name, "centralCloudConfig")
	if !strings.Contains(writtenFiles(t, userData), `backup:`+bucket+`/`+newest) {
		t.Errorf("restoreFrom latest: the central user data does not restore %s", newest)
	}
	s.config("backupSchedule", "every hour")
	s.refused(`backupSchedule: "every hour" is not allowed`)

	// The operator's own bucket: its lifecycle is the operator's, and
	// central nodes' policy names it.
	e.Run(t, "config", "rm", "--stack", s.name, "backupSchedule")
	e.Run(t, "config", "rm", "--stack", s.name, "restoreFrom")
	s.config("backupBucket", "ops-backups")
	s.config("backupRetentionDays", "7")
	s.refused(`backupRetentionDays: 7 applies to the bucket the program creates; backupBucket "ops-backups" is yours`)
	e.Run(t, "config", "rm", "--stack", s.name, "backupRetentionDays")
	c = s.preview()
	if op := c.op("aws:iam/rolePolicy:RolePolicy", "etcd-dev-central-backup"); op != apitype.OpUpdate {
		t.Errorf("backupBucket ops-backups: the central role's policy %q, want update to name it", op)
	}
}
