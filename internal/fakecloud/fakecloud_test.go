package fakecloud_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/isolatedetcd/cluster/internal/fakecloud"
)

// TestLaunchTemplateVersions: as on AWS, a launch template gets a new
// version when its data (image, size, user data...) changes, and keeps its
// version when only the template's own settings (its tags) do.
func TestLaunchTemplateVersions(t *testing.T) {
	const typ = "aws:ec2/launchTemplate:LaunchTemplate"
	inputs := resource.NewPropertyMapFromMap(map[string]any{
		"imageId": "ami-0123456789abcdef0", "instanceType": "t3.large", "userData": "I2Nsb3VkLWNvbmZpZw==",
		"tags": map[string]any{"Name": "etcd-dev-worker"},
	})
	_, v1, err := fakecloud.Create(typ, inputs, 7)
	if err != nil {
		t.Fatal(err)
	}
	version := func(outs resource.PropertyMap) float64 { return outs["latestVersion"].NumberValue() }
	if version(v1) != 1 {
		t.Fatalf("a new template is at version %v, want 1", version(v1))
	}
	with := func(key, value string) resource.PropertyMap {
		m := inputs.Copy()
		m[resource.PropertyKey(key)] = resource.NewStringProperty(value)
		return m
	}
	for _, tc := range []struct {
		name    string
		news    resource.PropertyMap
		version float64
	}{
		{"a larger size", with("instanceType", "m6i.large"), 2},
		{"another image", with("imageId", "ami-0fedcba9876543210"), 2},
		{"other user data", with("userData", "I2Nsb3VkLWNvbmZpZwo="), 2},
		{"its own tags only", func() resource.PropertyMap {
			m := inputs.Copy()
			m["tags"] = resource.NewObjectProperty(resource.NewPropertyMapFromMap(map[string]any{"Name": "etcd-dev-worker", "team": "ops"}))
			return m
		}(), 1},
	} {
		if got := version(fakecloud.Update(typ, v1, tc.news)); got != tc.version {
			t.Errorf("%s: version %v, want %v", tc.name, got, tc.version)
		}
	}
	if v3 := version(fakecloud.Update(typ, fakecloud.Update(typ, v1, with("instanceType", "m6i.large")), with("imageId", "ami-0fedcba9876543210"))); v3 != 3 {
		t.Errorf("two data changes in turn: version %v, want 3", v3)
	}
}
