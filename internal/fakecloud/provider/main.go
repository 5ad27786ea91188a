// Command provider is a Pulumi resource provider that stands in for a cloud's
// under the real engine: installed as pulumi-resource-aws or
// pulumi-resource-digitalocean, it serves that package from fakecloud. It
// keeps nothing but what the engine hands it, so every run sees the state the
// engine stored.
//
// Limits: it knows only the resource types and data sources the program uses,
// invents ids and addresses at random, validates no input beyond its type
// token, and replaces a resource on exactly the inputs fakecloud lists. An
// AWS provider is in the region its config names (aws:region for the default
// provider, the region input for an explicit one), never one from the
// environment. FAKECLOUD_AMI sets the AMI the Flatcar lookup returns;
// FAKECLOUD_OBJECTS (JSON, bucket to keys) what the buckets hold;
// FAKECLOUD_JOURNAL names a file to which every create, update and delete
// the cloud would have carried out is appended, one JSON Change a line.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/isolatedetcd/cluster/internal/fakecloud"
	"github.com/isolatedetcd/cluster/internal/tlsmint"
)

func main() {
	pkg := strings.TrimPrefix(filepath.Base(os.Args[0]), "pulumi-resource-")
	cloud := fakecloud.New()
	if ami := os.Getenv("FAKECLOUD_AMI"); ami != "" {
		cloud.AMI = ami
	}
	if objects := os.Getenv("FAKECLOUD_OBJECTS"); objects != "" {
		if err := json.Unmarshal([]byte(objects), &cloud.Objects); err != nil {
			cmdutil.ExitError("FAKECLOUD_OBJECTS: " + err.Error())
		}
	}
	// A clock moved on, so that certificates reach their renewal window.
	if now, err := time.Parse(time.RFC3339, os.Getenv("FAKECLOUD_NOW")); err == nil {
		tlsmint.Now = func() time.Time { return now }
	}
	journal := fakecloud.Journal(os.Getenv("FAKECLOUD_JOURNAL"))
	err := provider.Main(pkg, func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return plugin.NewProviderServer(&standIn{pkg: pkg, cloud: cloud, journal: journal}), nil
	})
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
}

type standIn struct {
	plugin.UnimplementedProvider
	pkg string

	mu sync.Mutex
	// cloud answers invokes; Configure sets its region.
	cloud fakecloud.Cloud
	// journal records what the cloud would have changed.
	journal fakecloud.Journal
}

// version is reported to the engine; it is no release of the real provider.
var version = semver.MustParse("0.0.1-fakecloud")

func (p *standIn) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	return plugin.PluginInfo{Version: &version}, nil
}

func (p *standIn) CheckConfig(_ context.Context, req plugin.CheckConfigRequest) (plugin.CheckConfigResponse, error) {
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

// DiffConfig replaces the provider, and so everything it manages, when its
// region changes, as the AWS provider does.
func (p *standIn) DiffConfig(_ context.Context, req plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	return diff(req.OldInputs, req.NewInputs, []string{"region"}), nil
}

// Configure puts the cloud in the region the provider's config names.
func (p *standIn) Configure(_ context.Context, req plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	var region string
	if v := req.Inputs["region"]; v.IsString() {
		region = v.StringValue()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cloud = p.cloud.In(region)
	return plugin.ConfigureResponse{}, nil
}

// Check accepts the types fakecloud knows and fills generated names.
func (p *standIn) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	typ := string(req.Type)
	if !fakecloud.Known(typ) {
		return plugin.CheckResponse{}, fmt.Errorf("fakecloud has no resource type %s: teach internal/fakecloud what the cloud does with it", typ)
	}
	news := req.News.Copy()
	if key := resource.PropertyKey(fakecloud.AutonameKey(typ)); key != "" && !news.HasValue(key) {
		if old, ok := req.Olds[key]; ok && old.HasValue() {
			news[key] = old
		} else {
			news[key] = resource.NewStringProperty(req.Name + "-" + randomHex(4))
		}
	}
	return plugin.CheckResponse{Properties: news}, nil
}

func (p *standIn) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	d := diff(req.OldInputs, req.NewInputs, fakecloud.ReplaceOn(string(req.Type)))
	if tlsmint.Renewing(req.OldOutputs) {
		// As the TLS provider: a certificate in its early renewal window is
		// replaced by the next update.
		d.Changes = plugin.DiffSome
		d.ChangedKeys = append(d.ChangedKeys, "readyForRenewal")
		d.ReplaceKeys = append(d.ReplaceKeys, "readyForRenewal")
	}
	return d, nil
}

// diff reports every top-level input that changed, replacing when one of
// replaceOn did. An input unknown at preview counts as changed, as with the
// clouds' own providers.
func diff(olds, news resource.PropertyMap, replaceOn []string) plugin.DiffResult {
	var changed, replace []resource.PropertyKey
	for _, k := range slices.Sorted(func(yield func(resource.PropertyKey) bool) {
		seen := map[resource.PropertyKey]bool{}
		for _, m := range []resource.PropertyMap{olds, news} {
			for k := range m {
				if !seen[k] && !yield(k) {
					return
				}
				seen[k] = true
			}
		}
	}) {
		if olds[k].DeepEquals(news[k]) && !news[k].ContainsUnknowns() {
			continue
		}
		changed = append(changed, k)
		if slices.Contains(replaceOn, string(k)) {
			replace = append(replace, k)
		}
	}
	if len(changed) == 0 {
		return plugin.DiffResult{Changes: plugin.DiffNone}
	}
	return plugin.DiffResult{Changes: plugin.DiffSome, ChangedKeys: changed, ReplaceKeys: replace}
}

func (p *standIn) Create(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	if req.Preview {
		// What the cloud computes stays unknown until it is created.
		return plugin.CreateResponse{Properties: req.Properties}, nil
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	id, outs, err := fakecloud.Create(string(req.Type), req.Properties, binary.BigEndian.Uint32(b[:]))
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	if id == "" {
		id = req.Name + "-" + randomHex(8)
	}
	if err := p.journal.Record("create", req.URN); err != nil {
		return plugin.CreateResponse{}, err
	}
	return plugin.CreateResponse{ID: resource.ID(id), Properties: outs, Status: resource.StatusOK}, nil
}

func (p *standIn) Update(_ context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	if !req.Preview {
		if err := p.journal.Record("update", req.URN); err != nil {
			return plugin.UpdateResponse{}, err
		}
	}
	return plugin.UpdateResponse{Properties: fakecloud.Update(string(req.Type), req.OldOutputs, req.NewInputs), Status: resource.StatusOK}, nil
}

func (p *standIn) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	return plugin.ReadResponse{
		ReadResult: plugin.ReadResult{ID: req.ID, Inputs: req.Inputs, Outputs: req.State},
		Status:     resource.StatusOK,
	}, nil
}

func (p *standIn) Delete(_ context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	if err := p.journal.Record("delete", req.URN); err != nil {
		return plugin.DeleteResponse{}, err
	}
	return plugin.DeleteResponse{Status: resource.StatusOK}, nil
}

func (p *standIn) Invoke(_ context.Context, req plugin.InvokeRequest) (plugin.InvokeResponse, error) {
	p.mu.Lock()
	cloud := p.cloud
	p.mu.Unlock()
	outs, err := cloud.Invoke(string(req.Tok), req.Args)
	return plugin.InvokeResponse{Properties: outs}, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
