package nodeboot

import (
	"strings"
	"testing"
	"time"
)

// TestInterpretStopGrace: the rehearsal stops a node's etcd as its unit
// would, so it reads how long the unit lets etcd exit after SIGTERM: the
// member unit's `docker stop --time`, docker's default 10 s for a worker's
// unit without one, systemd's 90 s for the image's own etcd2.service. A
// stop it cannot read is an error.
func TestInterpretStopGrace(t *testing.T) {
	for _, tc := range []struct {
		file, from, to string
		want           time.Duration
		err            string
	}{
		{file: "flatcar-etcd3.6-static-grpc-proxy-central.yaml", want: 30 * time.Second},
		{file: "flatcar-etcd3.6-static-grpc-proxy-auth-central.yaml", want: 30 * time.Second},
		{file: "flatcar-etcd3.5-v2-proxy-worker.yaml", want: 30 * time.Second},
		{file: "flatcar-etcd3.6-static-grpc-proxy-worker.yaml", want: 10 * time.Second},
		{file: "flatcar-etcd3.6-gateway-worker.yaml", want: 10 * time.Second},
		{file: "coreos-etcd2-v2-proxy-central.yaml", want: 90 * time.Second},
		{file: "flatcar-etcd3.6-gateway-central.yaml", from: "stop --time=30 etcd-member", to: "stop --time=45 etcd-member", want: 45 * time.Second},
		{file: "flatcar-etcd3.6-gateway-central.yaml", from: "stop --time=30 etcd-member", to: "stop etcd-member", want: 10 * time.Second},
		{file: "flatcar-etcd3.6-gateway-central.yaml", from: "stop --time=30 etcd-member", to: "kill etcd-member", err: "docker stop [--time=SECONDS] etcd-member"},
		{file: "flatcar-etcd3.6-gateway-central.yaml", from: "stop --time=30 etcd-member", to: "stop --time=30 other", err: "docker stop [--time=SECONDS] etcd-member"},
		{file: "flatcar-etcd3.6-gateway-central.yaml", from: "stop --time=30 etcd-member", to: "stop --time=soon etcd-member", err: "docker stop [--time=SECONDS] etcd-member"},
		{file: "flatcar-etcd3.6-gateway-central.yaml", from: "ExecStop=-/usr/bin/docker stop --time=30 etcd-member\n", to: "", err: "no ExecStop"},
		{file: "flatcar-etcd3.6-gateway-worker.yaml", from: "stop etcd-gateway", to: "stop --time=20 etcd-gateway", want: 20 * time.Second},
		{file: "flatcar-etcd3.6-gateway-worker.yaml", from: "stop etcd-gateway", to: "stop -t 20 etcd-gateway", err: "docker stop [--time=SECONDS] NAME"},
		{file: "flatcar-etcd3.6-gateway-worker.yaml", from: "        ExecStop=-/usr/bin/docker stop etcd-gateway\n", to: "", err: "no ExecStop"},
	} {
		t.Run(tc.file+" "+tc.to, func(t *testing.T) {
			text := golden(t, tc.file)
			if !strings.Contains(text, tc.from) {
				t.Fatalf("%s has no %q", tc.file, tc.from)
			}
			p, err := interpretGolden(t, tc.file, strings.Replace(text, tc.from, tc.to, 1))
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one containing %q", err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err == "" && p.StopGrace != tc.want:
				t.Errorf("stop grace %s, want %s", p.StopGrace, tc.want)
			}
		})
	}
	// Ignition's member unit is the cloud-config's.
	p, err := interpretGolden(t, "x-central.ign", ignitionGolden(t, "flatcar-etcd3.6-static-grpc-proxy-central.ign"))
	if err != nil || p.StopGrace != 30*time.Second {
		t.Errorf("Ignition central: stop grace %s (%v), want 30s", p.StopGrace, err)
	}
}
