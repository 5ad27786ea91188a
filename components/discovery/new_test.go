package discovery

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		handler http.HandlerFunc // nil: the service is down
		want    string
		wantErr error
		errHas  string
	}{
		{
			name: "minted",
			size: 3,
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/new" || r.URL.Query().Get("size") != "3" {
					http.Error(w, "wrong request "+r.URL.String(), http.StatusBadRequest)
					return
				}
				w.Write([]byte("https://discovery.etcd.io/6c007a14875d53d9bf0ef5a6fc0257c8\n"))
			},
			want: "https://discovery.etcd.io/6c007a14875d53d9bf0ef5a6fc0257c8",
		},
		{
			name:    "size below one",
			size:    0,
			handler: func(w http.ResponseWriter, r *http.Request) { t.Error("no request expected") },
			errHas:  "at least 1",
		},
		{
			name: "non-200",
			size: 3,
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "Unable to generate token", http.StatusBadRequest)
			},
			wantErr: ErrBadAnswer,
			errHas:  `400 Bad Request: "Unable to generate token\n"`,
		},
		{
			name:    "not a URL",
			size:    3,
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>maintenance</html>")) },
			wantErr: ErrBadAnswer,
			errHas:  "<html>maintenance</html>",
		},
		{
			name:    "URL without token",
			size:    3,
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("https://discovery.etcd.io/")) },
			wantErr: ErrBadAnswer,
		},
		{
			name:    "empty body",
			size:    3,
			handler: func(w http.ResponseWriter, r *http.Request) {},
			wantErr: ErrBadAnswer,
			errHas:  `""`,
		},
		{
			name:    "unreachable",
			size:    5,
			wantErr: ErrUnreachable,
			errHas:  "curl -X PUT http://HOST:2379/v2/keys/discovery/$TOKEN/_config/size -d value=5",
		},
		{
			name:    "timeout",
			size:    3,
			handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			wantErr: context.DeadlineExceeded,
			errHas:  "--service",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ctx := serve(t, tt.handler)

			got, err := New(ctx, srv.Client(), srv.URL+"/", tt.size)

			if tt.wantErr == nil && tt.errHas == "" {
				if err != nil || got != tt.want {
					t.Fatalf("New = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("New = %q, want an error", got)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v\nis not %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %v\ndoes not say %q", err, tt.errHas)
			}
		})
	}
}

// serve starts handler for one test, or a closed server when handler is nil
// (an unreachable service), with a context that bounds the call.
func serve(t *testing.T, handler http.Handler) (*httptest.Server, context.Context) {
	t.Helper()
	srv := httptest.NewServer(handler)
	if handler == nil {
		srv.Close()
	} else {
		t.Cleanup(srv.Close)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	t.Cleanup(cancel)
	return srv, ctx
}
