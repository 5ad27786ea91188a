package digitalocean

import (
	"fmt"
	"slices"
	"strings"

	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/pulumi/pulumi-digitalocean/sdk/v4/go/digitalocean"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// tags are the cluster's DigitalOcean tags. Firewalls select droplets by tag,
// so the role tags are what separate central from worker traffic.
type tags struct {
	cluster, central, worker string
	// user are the stack's tags as "key:value" names, sorted.
	user []string
	// resources are the Tag resources; firewalls and droplets depend on them
	// because DigitalOcean refuses a firewall naming a tag that does not exist.
	resources []pulumi.Resource
}

// newTags creates one Tag per cluster, role and user tag. The cluster and
// role tags take keep: deleting one takes it off every droplet, and the
// firewalls with it. A user tag is a label, which a change of the stack's
// tags may delete.
func newTags(ctx *pulumi.Context, spec cloud.Spec, keep, opts []pulumi.ResourceOption) (*tags, error) {
	t := &tags{cluster: spec.Name, central: spec.Name + "-central", worker: spec.Name + "-worker"}
	for k, v := range spec.Tags {
		name := tagName(k, v)
		if !slices.Contains(t.user, name) {
			t.user = append(t.user, name)
		}
	}
	slices.Sort(t.user)
	for _, name := range append([]string{t.cluster, t.central, t.worker}, t.user...) {
		o := keep
		if slices.Contains(t.user, name) {
			o = opts
		}
		tag, err := digitalocean.NewTag(ctx, spec.Name+"-tag-"+name, &digitalocean.TagArgs{
			Name: pulumi.String(name),
		}, o...)
		if err != nil {
			return nil, fmt.Errorf("tag %q: %w", name, err)
		}
		t.resources = append(t.resources, tag)
	}
	return t, nil
}

// forRole is what a droplet of one role carries: cluster, role and user tags.
func (t *tags) forRole(role string) pulumi.StringArray {
	return pulumi.ToStringArray(append([]string{t.cluster, role}, t.user...))
}

// tagName turns a key/value pair into a DigitalOcean tag name, which may hold
// only letters, digits, colons, dashes and underscores; anything else becomes '-'.
func tagName(key, value string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == ':', r == '-', r == '_':
			return r
		}
		return '-'
	}, key+":"+value)
}
