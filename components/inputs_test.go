package components_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/pulumitest"
)

// source stands for another resource of the operator's program whose
// outputs feed the cluster: an image build, a key store.
type source struct {
	pulumi.CustomResourceState
	Text  pulumi.StringOutput      `pulumi:"text"`
	Texts pulumi.StringArrayOutput `pulumi:"texts"`
}

const sourceType = "test:index:Source"

// fromSource provisions args on cloud with edit applied to them inside the
// program, given a source resource whose outputs are text and texts.
func fromSource(t *testing.T, cloud, text string, texts []string, edit func(*components.ClusterArgs, *source)) (*pulumitest.Mocks, outputs, error) {
	t.Helper()
	return provisionWith(t, pulumitest.New(), func(ctx *pulumi.Context) (components.ClusterArgs, error) {
		var src source
		if err := ctx.RegisterResource(sourceType, "source", pulumi.Map{
			"text": pulumi.String(text), "texts": pulumi.ToStringArray(texts),
		}, &src); err != nil {
			return components.ClusterArgs{}, err
		}
		args := discoveryArgs(cloud)
		edit(&args, &src)
		return args, nil
	})
}

const otherKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIL7zLKH1a0nNYJtmZXdY0hB1Bdc3SWvMxcFkUHZa3dJ deploy@example.com"

// TestInputsFromOtherResources: the image and the SSH keys may be other
// resources' outputs, and they reach every machine as they resolve.
func TestInputsFromOtherResources(t *testing.T) {
	setImage := func(a *components.ClusterArgs, s *source) { a.Image = s.Text }
	setKeys := func(a *components.ClusterArgs, s *source) { a.SSHAuthorizedKeys = s.Texts }
	for _, tc := range []struct {
		name, cloud, text string
		texts             []string
		edit              func(*components.ClusterArgs, *source)
		// imageKey is each machine's image input; wantImage its value.
		imageKey, wantImage string
		wantKeys            []string
	}{
		{"image on aws", "aws", "ami-0fedcba9876543210", nil, setImage, "ami", "ami-0fedcba9876543210", []string{sshKey}},
		{"image on digitalocean", "digitalocean", "214201456", nil, setImage, "image", "214201456", []string{sshKey}},
		{"ssh keys", "aws", "", []string{sshKey, otherKey}, setKeys, "ami", pulumitest.New().AMI, []string{sshKey, otherKey}},
		{"no ssh keys", "digitalocean", "", []string{}, setKeys, "image", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, out, err := fromSource(t, tc.cloud, tc.text, tc.texts, tc.edit)
			if err != nil {
				t.Fatal(err)
			}
			machines := append(centrals(m, tc.cloud), workers(m, tc.cloud)...)
			for _, r := range machines {
				key := tc.imageKey
				if r.Type == "aws:ec2/launchTemplate:LaunchTemplate" {
					key = "imageId"
				}
				if got := str(r.Inputs, resource.PropertyKey(key)); tc.wantImage != "" && got != tc.wantImage {
					t.Errorf("%s: %s = %q, want %q", r.Name, key, got, tc.wantImage)
				}
			}
			texts := append(out.values["centralCloudConfig"].([]string), out.values["workerCloudConfig"].(string))
			for _, text := range texts {
				for _, k := range []string{sshKey, otherKey} {
					if want := strings.Contains(strings.Join(tc.wantKeys, "\n"), k); strings.Contains(text, k) != want {
						t.Errorf("user data holds key %q: %v, want %v:\n%s", k[len(k)-20:], !want, want, text)
					}
				}
			}
			// What is attached is still exactly what the outputs show.
			for i, r := range centrals(m, tc.cloud) {
				if got := userData(t, r); got != texts[i] {
					t.Errorf("%s user data differs from centralCloudConfig[%d]", r.Name, i)
				}
			}
			for _, r := range workers(m, tc.cloud) {
				if got := userData(t, r); got != texts[len(texts)-1] {
					t.Errorf("%s user data differs from workerCloudConfig", r.Name)
				}
			}
		})
	}
}

// TestInputsFromOtherResourcesChecked: an output the cluster cannot take fails
// the run when it resolves, with the message the same value gets when the
// stack gives it, before anything is registered.
func TestInputsFromOtherResourcesChecked(t *testing.T) {
	for _, tc := range []struct {
		name, cloud string
		// flavor is the cluster's; value what the source resolves to.
		flavor, value string
		output        func(*components.ClusterArgs, *source)
		plain         func(*components.ClusterArgs, string)
		want          string
	}{
		{"image not an AMI", "aws", "", "flatcar-stable",
			func(a *components.ClusterArgs, s *source) { a.Image = s.Text },
			func(a *components.ClusterArgs, v string) { a.Image = pulumi.String(v) },
			`image: "flatcar-stable" is not an AMI id`},
		{"image not a DigitalOcean image", "digitalocean", "", "Flatcar Stable",
			func(a *components.ClusterArgs, s *source) { a.Image = s.Text },
			func(a *components.ClusterArgs, v string) { a.Image = pulumi.String(v) },
			`image: "Flatcar Stable" is not a DigitalOcean image`},
		{"coreos-etcd2 image resolves empty", "aws", "coreos-etcd2", "",
			func(a *components.ClusterArgs, s *source) { a.Image = s.Text },
			func(a *components.ClusterArgs, v string) { a.Image = pulumi.String(v) },
			"image: required with flavor coreos-etcd2"},
		{"ssh key malformed", "aws", "", "ssh-rsa not-base64!",
			func(a *components.ClusterArgs, s *source) { a.SSHAuthorizedKeys = s.Texts },
			func(a *components.ClusterArgs, v string) {
				a.SSHAuthorizedKeys = pulumi.ToStringArray([]string{sshKey, v})
			},
			`sshAuthorizedKeys[1]: "ssh-rsa not-base64!" is not one OpenSSH public key`},
		{"ssh keys on one line", "digitalocean", "", sshKey + "\n" + otherKey,
			func(a *components.ClusterArgs, s *source) { a.SSHAuthorizedKeys = s.Texts },
			func(a *components.ClusterArgs, v string) {
				a.SSHAuthorizedKeys = pulumi.ToStringArray([]string{sshKey, v})
			},
			"sshAuthorizedKeys[1]: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := discoveryArgs(tc.cloud)
			args.Flavor = tc.flavor
			tc.plain(&args, tc.value)
			m, _, err := provision(t, args)
			if err == nil || !strings.Contains(err.Error(), tc.want) || len(m.Resources()) != 0 {
				t.Fatalf("given as a value: %v, %d resources registered; want %q and none", err, len(m.Resources()), tc.want)
			}
			_, message, _ := strings.Cut(err.Error(), "invalid cluster settings:\n")
			message = strings.TrimSpace(message)

			_, _, err = fromSource(t, tc.cloud, tc.value, []string{sshKey, tc.value}, func(a *components.ClusterArgs, s *source) {
				a.Flavor = tc.flavor
				tc.output(a, s)
			})
			if err == nil || !strings.Contains(err.Error(), message) {
				t.Errorf("given as an output: %v\nwant the run to fail with %q", err, message)
			}
		})
	}
}

// TestImageUnset: unset, nil and "" alike, the image is Flatcar's, looked up.
func TestImageUnset(t *testing.T) {
	for _, image := range []pulumi.StringInput{nil, pulumi.String("")} {
		args := validArgs("aws")
		args.Image = image
		m, _ := mustProvision(t, args)
		for _, r := range centrals(m, "aws") {
			if got := str(r.Inputs, "ami"); got != pulumitest.New().AMI {
				t.Errorf("image %#v: %s ami = %q, want the looked-up Flatcar AMI", image, r.Name, got)
			}
		}
	}
}
