package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	const minted = "https://discovery.etcd.io/6c007a14875d53d9bf0ef5a6fc0257c8"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("size") == "9" {
			http.Error(w, "Unable to generate token", http.StatusBadRequest)
			return
		}
		w.Write([]byte(minted))
	}))
	defer srv.Close()

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		stderrHas  string
	}{
		{name: "minted", args: []string{"--size", "3", "--service", srv.URL}, wantStdout: minted + "\n"},
		{name: "even size warns but mints", args: []string{"--size=4", "--service", srv.URL},
			wantStdout: minted + "\n", stderrHas: "warning: --size 4 is even"},
		{name: "size missing", args: []string{"--service", srv.URL}, wantCode: 2, stderrHas: "--size is required"},
		{name: "size zero", args: []string{"--size", "0", "--service", srv.URL}, wantCode: 2, stderrHas: "--size is required"},
		{name: "size not a number", args: []string{"--size", "three"}, wantCode: 2, stderrHas: "invalid value"},
		{name: "unknown flag", args: []string{"--size", "3", "--count", "3"}, wantCode: 2, stderrHas: "not defined"},
		{name: "stray argument", args: []string{"--size", "3", "extra"}, wantCode: 2, stderrHas: "unexpected arguments"},
		{name: "service error", args: []string{"--size", "9", "--service", srv.URL}, wantCode: 1, stderrHas: "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.wantCode, &stderr)
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout %q, want %q", &stdout, tt.wantStdout)
			}
			if tt.stderrHas == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr %q, want it to say %q", &stderr, tt.stderrHas)
			}
		})
	}
}
