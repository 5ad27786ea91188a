package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/isolatedetcd/cluster/components"
	"github.com/isolatedetcd/cluster/internal/enginetest"
)

// workerGroup is what the state holds of the AWS workers after an update:
// the launch template's id and newest version, and the version, template,
// size and instance refresh the auto scaling group was last given.
type workerGroup struct {
	templateID                string
	templateVersion           float64
	groupTemplateID           string
	groupVersion              string
	desired                   float64
	refreshStrategy           string
	minHealthyPercent, warmup any
}

// workers reads the worker group of stack s from its state.
func (s *stack) workers() workerGroup {
	s.t.Helper()
	state, err := s.stack().Export(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	var d struct {
		Resources []struct {
			Type            string
			ID              string
			Inputs, Outputs map[string]any
		}
	}
	if err := json.Unmarshal(state.Deployment, &d); err != nil {
		s.t.Fatal(err)
	}
	var w workerGroup
	var templates, groups int
	for _, r := range d.Resources {
		switch r.Type {
		case "aws:ec2/launchTemplate:LaunchTemplate":
			templates++
			w.templateID = r.ID
			w.templateVersion, _ = r.Outputs["latestVersion"].(float64)
		case "aws:autoscaling/group:Group":
			groups++
			lt, _ := r.Inputs["launchTemplate"].(map[string]any)
			w.groupTemplateID, _ = lt["id"].(string)
			w.groupVersion, _ = lt["version"].(string)
			w.desired, _ = r.Inputs["desiredCapacity"].(float64)
			refresh, _ := r.Inputs["instanceRefresh"].(map[string]any)
			w.refreshStrategy, _ = refresh["strategy"].(string)
			prefs, _ := refresh["preferences"].(map[string]any)
			w.minHealthyPercent, w.warmup = prefs["minHealthyPercentage"], prefs["instanceWarmup"]
		}
	}
	if templates != 1 || groups != 1 {
		s.t.Fatalf("the state holds %d launch templates and %d auto scaling groups, want one each", templates, groups)
	}
	return w
}

// TestEngineWorkersRollOnTemplateChange: through the real engine, a change of
// a worker setting (workerSize, then image) updates the launch template in
// place into a new version, the next one, and updates the auto scaling
// group to run exactly that version of the same template, with its rolling
// instance refresh (90% kept healthy, 120 s warm-up), which is what makes
// AWS replace the workers a few at a time; the preview shows the group's
// update before it happens, and no central resource is touched. A change
// that is not the template's (workerCount) makes no new version. The
// stand-in AWS provider versions a template as AWS does
// (internal/fakecloud: a new version when its data changes).
func TestEngineWorkersRollOnTemplateChange(t *testing.T) {
	e := enginetest.New(t, ".")
	s := initStack(t, e, "dev")
	s.up()
	cluster := components.ClusterName(s.name)
	template, group := cluster+"-worker", cluster+"-worker"
	before := s.workers()
	if before.templateVersion != 1 || before.groupVersion != "1" || before.groupTemplateID != before.templateID {
		t.Fatalf("after the first update the group runs version %q of %s, the template %s is at %v; want version 1 of it",
			before.groupVersion, before.groupTemplateID, before.templateID, before.templateVersion)
	}

	for _, step := range []struct {
		name   string
		change func()
		// rolls: the change is the template's, so a new version must roll.
		rolls bool
	}{
		{"workerSize", func() { s.config("workerSize", "m6i.large") }, true},
		{"image", func() { s.config("image", "ami-0fedcba9876543210") }, true},
		{"workerCount", func() { s.config("workerCount", "3") }, false},
	} {
		step.change()
		preview := s.preview()
		if op := preview.op("aws:autoscaling/group:Group", group); op != apitype.OpUpdate {
			t.Errorf("%s: the preview shows the group %q, want update", step.name, op)
		}
		c := s.up()
		after := s.workers()
		wantTemplateOp, wantVersion := apitype.OpSame, before.templateVersion
		if step.rolls {
			wantTemplateOp, wantVersion = apitype.OpUpdate, before.templateVersion+1
		}
		if op := c.op("aws:ec2/launchTemplate:LaunchTemplate", template); op != wantTemplateOp {
			t.Errorf("%s: the launch template %q, want %q", step.name, op, wantTemplateOp)
		}
		if op := c.op("aws:autoscaling/group:Group", group); op != apitype.OpUpdate {
			t.Errorf("%s: the group %q, want update", step.name, op)
		}
		if after.templateID != before.templateID || after.templateVersion != wantVersion {
			t.Errorf("%s: template %s at version %v, want %s at %v", step.name, after.templateID, after.templateVersion, before.templateID, wantVersion)
		}
		if after.groupTemplateID != after.templateID || after.groupVersion != fmt.Sprint(after.templateVersion) {
			t.Errorf("%s: the group runs version %q of %s, want version %v of %s", step.name, after.groupVersion, after.groupTemplateID, after.templateVersion, after.templateID)
		}
		if after.refreshStrategy != "Rolling" || after.minHealthyPercent != float64(90) || after.warmup != "120" {
			t.Errorf("%s: the group's instance refresh is %q keeping %v%% healthy, warm-up %v; want Rolling, 90, 120", step.name, after.refreshStrategy, after.minHealthyPercent, after.warmup)
		}
		if touched := touchedCentral(c); len(touched) != 0 {
			t.Errorf("%s changed central resources: %v", step.name, touched)
		}
		before = after
	}
	if before.desired != 3 {
		t.Errorf("workerCount 3: the group wants %v workers", before.desired)
	}
}
