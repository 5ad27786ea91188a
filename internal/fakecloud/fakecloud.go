// Package fakecloud answers for the AWS and DigitalOcean APIs where no cloud
// is, and for the TLS provider through tlsmint: what a cloud computes when it creates a resource (ids, addresses,
// versions), what its data sources return, and which input changes make it
// replace a resource. The mock-engine tests, the rehearsal's plan and the
// stand-in providers under the real engine all ask it, so they see one fake
// cloud.
package fakecloud

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/internal/tlsmint"
)

// Cloud is the state a fake cloud answers from.
type Cloud struct {
	// Region is the region the AWS provider is configured for, which
	// getRegion answers; "" is none, which it refuses as the AWS provider
	// does.
	Region string
	// AMI is the newest Flatcar AMI the lookup returns; Zones the
	// availability zones the region has.
	AMI   string
	Zones []string
	// Objects are the keys each bucket holds, which the object listings
	// (S3's, Spaces') answer from.
	Objects map[string][]string
}

// New returns a cloud in us-east-2 with a fixed AMI.
func New() Cloud {
	return Cloud{AMI: "ami-0123456789abcdef0"}.In("us-east-2")
}

// In returns c for an AWS provider configured for region, "" being none:
// its zones are the region's a, b and c.
func (c Cloud) In(region string) Cloud {
	c.Region, c.Zones = region, nil
	if region != "" {
		c.Zones = []string{region + "a", region + "b", region + "c"}
	}
	return c
}

// kind is what the fake knows of one resource type.
type kind struct {
	// replaceOn are the inputs whose change makes the cloud replace the
	// resource rather than update it (ForceNew in the clouds' Terraform
	// providers, which the Pulumi providers wrap).
	replaceOn []string
	// autoname is the input the provider fills with a generated name when
	// the program sets none.
	autoname string
	// id is the id the cloud assigns, from a number unique to the resource;
	// nil leaves the id to the caller.
	id func(n uint32) string
	// computed adds what the cloud computes on create.
	computed func(outs resource.PropertyMap, n uint32)
}

var kinds = map[string]kind{
	"aws:ec2/vpc:Vpc":                                     {replaceOn: []string{"cidrBlock", "instanceTenancy"}, id: hexID("vpc-")},
	"aws:ec2/subnet:Subnet":                               {replaceOn: []string{"vpcId", "cidrBlock", "availabilityZone"}, id: hexID("subnet-")},
	"aws:ec2/internetGateway:InternetGateway":             {id: hexID("igw-")},
	"aws:ec2/routeTable:RouteTable":                       {replaceOn: []string{"vpcId"}, id: hexID("rtb-")},
	"aws:ec2/routeTableAssociation:RouteTableAssociation": {replaceOn: []string{"subnetId", "gatewayId"}, id: hexID("rtbassoc-")},
	"aws:ec2/securityGroup:SecurityGroup":                 {replaceOn: []string{"name", "namePrefix", "description", "vpcId"}, autoname: "name", id: hexID("sg-")},
	"aws:ebs/volume:Volume":                               {replaceOn: []string{"availabilityZone", "encrypted", "kmsKeyId", "snapshotId"}, id: hexID("vol-")},
	"aws:ec2/instance:Instance": {
		// userData is not here: without userDataReplaceOnChange the provider
		// stops the instance, changes it and starts it again.
		replaceOn: []string{"ami", "availabilityZone", "subnetId", "privateIp", "rootBlockDevice", "keyName"},
		id:        hexID("i-"),
		computed: func(outs resource.PropertyMap, n uint32) {
			if !outs.HasValue("privateIp") {
				outs["privateIp"] = resource.NewStringProperty(privateIP(n))
			}
			outs["publicIp"] = resource.NewStringProperty(publicIP(n))
		},
	},
	"aws:ec2/volumeAttachment:VolumeAttachment": {replaceOn: []string{"deviceName", "instanceId", "volumeId"}},
	"aws:ec2/launchTemplate:LaunchTemplate": {
		replaceOn: []string{"name", "namePrefix"},
		autoname:  "name",
		id:        hexID("lt-"),
		computed: func(outs resource.PropertyMap, _ uint32) {
			outs["latestVersion"] = resource.NewNumberProperty(1)
		},
	},
	"aws:autoscaling/group:Group": {replaceOn: []string{"name", "namePrefix"}, autoname: "name"},
	"aws:s3/bucketV2:BucketV2": {
		replaceOn: []string{"bucket", "bucketPrefix", "objectLockEnabled"},
		autoname:  "bucket",
		computed: func(outs resource.PropertyMap, n uint32) {
			outs["arn"] = resource.NewStringProperty(fmt.Sprintf("arn:aws:s3:::bucket-%08x", n))
		},
	},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":                                     {replaceOn: []string{"bucket"}},
	"aws:s3/bucketVersioningV2:BucketVersioningV2":                                               {replaceOn: []string{"bucket", "expectedBucketOwner"}},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": {replaceOn: []string{"bucket", "expectedBucketOwner"}},
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2":                       {replaceOn: []string{"bucket", "expectedBucketOwner"}},
	"aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2":                     {replaceOn: []string{"bucket", "expectedBucketOwner"}},
	"aws:iam/role:Role": {
		replaceOn: []string{"name", "namePrefix"},
		autoname:  "name",
		computed: func(outs resource.PropertyMap, n uint32) {
			outs["arn"] = resource.NewStringProperty(fmt.Sprintf("arn:aws:iam::123456789012:role/role-%08x", n))
		},
	},
	"aws:iam/rolePolicy:RolePolicy":           {replaceOn: []string{"role", "name", "namePrefix"}, autoname: "name"},
	"aws:iam/instanceProfile:InstanceProfile": {replaceOn: []string{"name", "namePrefix"}, autoname: "name"},

	"digitalocean:index/tag:Tag": {replaceOn: []string{"name"}},
	"digitalocean:index/vpc:Vpc": {replaceOn: []string{"region", "ipRange"}, id: uuid},
	"digitalocean:index/customImage:CustomImage": {
		replaceOn: []string{"url", "distribution"},
		computed: func(outs resource.PropertyMap, n uint32) {
			outs["imageId"] = resource.NewNumberProperty(float64(100000000 + n%100000000))
		},
	},
	"digitalocean:index/firewall:Firewall":   {id: uuid},
	"digitalocean:index/dnsRecord:DnsRecord": {replaceOn: []string{"domain", "type"}},
	"digitalocean:index/volume:Volume":       {replaceOn: []string{"region", "name", "filesystemType", "snapshotId"}, id: uuid},
	"digitalocean:index/spacesBucket:SpacesBucket": {
		replaceOn: []string{"region", "name"},
		autoname:  "name",
		computed: func(outs resource.PropertyMap, n uint32) {
			outs["bucketDomainName"] = resource.NewStringProperty(fmt.Sprintf("bucket-%08x.spaces.example", n))
		},
	},
	"digitalocean:index/spacesKey:SpacesKey": {
		computed: func(outs resource.PropertyMap, n uint32) {
			outs["accessKey"] = resource.NewStringProperty(fmt.Sprintf("DO00FAKE%012X", n))
			outs["secretKey"] = resource.NewStringProperty(fmt.Sprintf("fake-spaces-secret-%08x", n))
		},
	},
	"digitalocean:index/droplet:Droplet": {
		replaceOn: []string{"image", "region", "userData", "vpcUuid", "sshKeys"},
		id:        func(n uint32) string { return fmt.Sprint(n) },
		computed: func(outs resource.PropertyMap, n uint32) {
			outs["ipv4AddressPrivate"] = resource.NewStringProperty(privateIP(n))
			outs["ipv4Address"] = resource.NewStringProperty(publicIP(n))
		},
	},
}

// Known tells whether the fake knows resource type typ: a cloud's, or the
// TLS provider's, which tlsmint makes for real.
func Known(typ string) bool {
	_, ok := kinds[typ]
	return ok || tlsmint.ReplaceOn[typ] != nil
}

// ReplaceOn returns the inputs of typ whose change replaces the resource.
func ReplaceOn(typ string) []string {
	if r, ok := tlsmint.ReplaceOn[typ]; ok {
		return slices.Clone(r)
	}
	return slices.Clone(kinds[typ].replaceOn)
}

// AutonameKey returns the input typ fills with a generated name, or "".
func AutonameKey(typ string) string { return kinds[typ].autoname }

// Create answers the creation of a resource of type typ from its inputs: the
// id the cloud assigns ("" where the caller chooses) and the outputs, which
// are the inputs plus what the cloud computes. n makes invented values
// unique; equal n give equal answers, but for certificates' serials and
// signatures. TLS resources are made by tlsmint, and fail as it does.
func Create(typ string, inputs resource.PropertyMap, n uint32) (id string, outputs resource.PropertyMap, err error) {
	if _, ok := tlsmint.ReplaceOn[typ]; ok {
		outputs, err = tlsmint.Create(typ, inputs, n)
		return "", outputs, err
	}
	k := kinds[typ]
	outputs = inputs.Copy()
	if k.computed != nil {
		k.computed(outputs, n)
	}
	if k.id != nil {
		id = k.id(n)
	}
	return id, outputs, nil
}

// Update answers an in-place update: the new inputs plus what the cloud
// computed before, and what an update changes (a launch template's version).
func Update(typ string, oldOutputs, newInputs resource.PropertyMap) resource.PropertyMap {
	outs := newInputs.Copy()
	for k, v := range oldOutputs {
		if _, set := newInputs[k]; !set {
			outs[k] = v
		}
	}
	if typ == "aws:ec2/launchTemplate:LaunchTemplate" && templateDataChanged(oldOutputs, newInputs) {
		if v := oldOutputs["latestVersion"]; v.IsNumber() {
			outs["latestVersion"] = resource.NewNumberProperty(v.NumberValue() + 1)
		}
	}
	return outs
}

// launchTemplateOwn are the inputs of a launch template that belong to the
// template, not to the instances it launches: AWS changes them in place
// (ModifyLaunchTemplate, tagging), where a change of any other input, the
// template's data, is a new version (CreateLaunchTemplateVersion).
var launchTemplateOwn = []string{"name", "namePrefix", "description", "tags", "tagsAll", "defaultVersion", "updateDefaultVersion"}

// templateDataChanged tells whether an update of a launch template from
// old to news changes its data, and so makes a new version.
func templateDataChanged(old, news resource.PropertyMap) bool {
	for k, v := range news {
		if !slices.Contains(launchTemplateOwn, string(k)) && !old[k].DeepEquals(v) {
			return true
		}
	}
	return false
}

// Invoke answers the data-source calls the backends make.
func (c Cloud) Invoke(token string, args resource.PropertyMap) (resource.PropertyMap, error) {
	switch token {
	case "aws:s3/getObjects:getObjects", "digitalocean:index/getSpacesBucketObjects:getSpacesBucketObjects":
		bucket, prefix := args["bucket"].StringValue(), ""
		if p := args["prefix"]; p.IsString() {
			prefix = p.StringValue()
		}
		keys := []string{}
		for _, k := range c.Objects[bucket] {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		return resource.NewPropertyMapFromMap(map[string]any{"id": bucket, "bucket": bucket, "keys": keys}), nil
	case "aws:ec2/getAmi:getAmi":
		return resource.NewPropertyMapFromMap(map[string]any{"id": c.AMI, "imageId": c.AMI, "name": "Flatcar-stable-4459.2.1-hvm"}), nil
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{"id": "zones", "names": c.Zones}), nil
	case "aws:index/getRegion:getRegion":
		if c.Region == "" {
			return nil, fmt.Errorf("fakecloud: the AWS provider has no region configured (aws:region)")
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": c.Region, "name": c.Region, "endpoint": "ec2." + c.Region + ".amazonaws.com", "description": "fakecloud region " + c.Region,
		}), nil
	}
	return nil, fmt.Errorf("fakecloud: no answer for invoke %s", token)
}

func hexID(prefix string) func(uint32) string {
	return func(n uint32) string { return fmt.Sprintf("%s%017x", prefix, n) }
}

func uuid(n uint32) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n) }

// privateIP and publicIP are in the default VPC block and in a documentation
// range (RFC 5737).
func privateIP(n uint32) string { return fmt.Sprintf("10.21.%d.%d", n>>8%256, n%250+2) }
func publicIP(n uint32) string  { return fmt.Sprintf("203.0.113.%d", n%250+2) }

// ProviderConfig is the provider settings of a stack whose operator set up
// both clouds' providers as the README says: the Spaces key DigitalOcean
// needs to create a bucket. The mock engine reads no provider config, so
// programs run under it take this, beside any stack config they were given.
func ProviderConfig() pulumi.RunOption {
	return func(ri *pulumi.RunInfo) {
		if ri.Config == nil {
			ri.Config = map[string]string{}
		}
		ri.Config["digitalocean:spacesAccessId"] = "DO00FAKESPACESKEY"
		ri.Config["digitalocean:spacesSecretKey"] = "fake-spaces-secret"
	}
}

// Mocks answers the Pulumi SDK's mock engine as the fake cloud does. Ids
// and invented values derive from each resource's name, so two runs of a
// program answer alike whatever order the engine registers resources in.
type Mocks struct{ Cloud }

// NewResource answers a registration with Create, and fills the generated
// name the cloud's provider would.
func (m Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	h := fnv.New32a()
	h.Write([]byte(args.Name))
	_, outs, err := Create(args.TypeToken, args.Inputs, h.Sum32())
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: %w", args.TypeToken, args.Name, err)
	}
	if key := AutonameKey(args.TypeToken); key != "" && !outs.HasValue(resource.PropertyKey(key)) {
		outs[resource.PropertyKey(key)] = resource.NewStringProperty(args.Name)
	}
	return args.Name + "-id", outs, nil
}

// Call answers a data-source call with Invoke.
func (m Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return m.Invoke(args.Token, args.Args)
}
