package nodeboot

import (
	"slices"
	"testing"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/plan"
)

// TestInterpretAuth: a central node's authentication script is started
// after etcd's unit and put on its disk; a worker's credentials are put on
// its disk.
func TestInterpretAuth(t *testing.T) {
	p, err := Interpret(cloudconfig.Flatcar, plan.Node{Name: "etcd-dev-central-0", Role: plan.Central, Host: "10.21.0.10",
		UserData: golden(t, "flatcar-etcd3.6-static-grpc-proxy-auth-central.yaml")}, "127.9.2.1", goldenCentral)
	if err != nil {
		t.Fatal(err)
	}
	want := Script{Unit: "etcd-auth.service", Path: cloudconfig.AuthScript, AfterEtcd: true}
	if !slices.Contains(p.Scripts, want) {
		t.Errorf("scripts %+v, want %+v among them", p.Scripts, want)
	}
	if !slices.ContainsFunc(p.Files, func(f File) bool { return f.Path == cloudconfig.AuthScript && f.Mode == 0o700 }) {
		t.Errorf("%s is not put on the node's disk, mode 0700", cloudconfig.AuthScript)
	}
	w, err := Interpret(cloudconfig.Flatcar, plan.Node{Name: "w", Role: plan.Worker, UserData: golden(t, "flatcar-etcd3.6-static-grpc-proxy-auth-worker.yaml")}, "127.9.3.1", goldenCentral)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(w.Files, func(f File) bool { return f.Path == cloudconfig.AuthCredentials && f.Mode == 0o600 }) {
		t.Errorf("%s is not put on the worker's disk, mode 0600", cloudconfig.AuthCredentials)
	}
}
