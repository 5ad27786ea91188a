package discovery

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/isolatedetcd/cluster/components/discovery/discoverytest"
)

var (
	central0 = discoverytest.Registration{ID: "8e9e05c52164694d", Value: "etcd-dev-central-0=http://10.21.0.10:2380", Created: 7}
	central1 = discoverytest.Registration{ID: "91bc3c398fb3c146", Value: "etcd-dev-central-1=http://10.21.0.11:2380", Created: 8}
	stranger = discoverytest.Registration{ID: "fd422379fda50e48", Value: "infra0=http://10.0.1.10:2380", Created: 6}
)

func TestCheck(t *testing.T) {
	want := Expect{Size: 3, Members: []string{"etcd-dev-central-0", "etcd-dev-central-1", "etcd-dev-central-2"}}
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: the service is down
		wantErr error
		errHas  string
	}{
		{name: "fresh token", handler: discoverytest.Handler("3")},
		{name: "own members registered", handler: discoverytest.Handler("3", central1, central0)},
		{
			name:    "wrong size",
			handler: discoverytest.Handler("5"),
			wantErr: &SizeMismatchError{Size: 5, Want: 3},
			errHas:  "created for 5 members, but centralCount is 3",
		},
		{
			name:    "foreign members",
			handler: discoverytest.Handler("3", central0, stranger),
			wantErr: &ForeignMembersError{Foreign: []string{"infra0"}, Want: want},
			errHas:  "already used by another cluster: members infra0 registered",
		},
		{
			name:    "token not found",
			handler: discoverytest.Handler(""),
			wantErr: ErrTokenNotFound,
			errHas:  "about a week",
		},
		{
			name:    "unreachable",
			wantErr: ErrUnreachable,
			errHas:  "discoveryCheck false",
		},
		{
			name:    "timeout",
			handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			wantErr: context.DeadlineExceeded,
		},
		{
			name:    "garbage JSON",
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hello</html>")) },
			wantErr: ErrBadAnswer,
			errHas:  "<html>hello</html>",
		},
		{
			name:    "404 that is not etcd",
			handler: http.NotFound,
			wantErr: ErrBadAnswer,
			errHas:  "404 Not Found",
		},
		{
			name:    "size not a number",
			handler: discoverytest.Handler("three"),
			wantErr: ErrBadAnswer,
			errHas:  `"three"`,
		},
		{
			name:    "registration not name=peerURL",
			handler: discoverytest.Handler("3", discoverytest.Registration{ID: "1", Value: "junk", Created: 5}),
			wantErr: ErrBadAnswer,
			errHas:  `"junk"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ctx := serve(t, tt.handler)

			err := Check(ctx, srv.Client(), srv.URL+"/v2/keys/discovery/"+discoverytest.Token, want)

			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check = nil, want an error")
			}
			switch w := tt.wantErr.(type) {
			case *SizeMismatchError:
				if got, ok := errors.AsType[*SizeMismatchError](err); !ok || *got != *w {
					t.Errorf("error %v\nis not %#v", err, w)
				}
			case *ForeignMembersError:
				if got, ok := errors.AsType[*ForeignMembersError](err); !ok || !reflect.DeepEqual(got, w) {
					t.Errorf("error %v\nis not %#v", err, w)
				}
			default:
				if !errors.Is(err, w) {
					t.Errorf("error %v\nis not %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %v\ndoes not say %q", err, tt.errHas)
			}
			if strings.Contains(err.Error(), discoverytest.Token) {
				t.Errorf("error shows the whole token, which may be a secret: %v", err)
			}
		})
	}
}

func TestRead(t *testing.T) {
	srv := httptest.NewServer(discoverytest.Handler("3", central1,
		discoverytest.Registration{ID: "2", Value: "etcd-dev-central-0=http://10.21.0.10:2380,etcd-dev-central-0=http://[fd00::10]:2380", Created: 5}))
	defer srv.Close()

	got, err := Read(t.Context(), srv.Client(), srv.URL+"/v2/keys/discovery/"+discoverytest.Token+"/")
	if err != nil {
		t.Fatal(err)
	}
	want := Token{Size: 3, Members: []Member{
		{Name: "etcd-dev-central-0", PeerURLs: []string{"http://10.21.0.10:2380", "http://[fd00::10]:2380"}},
		{Name: "etcd-dev-central-1", PeerURLs: []string{"http://10.21.0.11:2380"}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Read = %+v\nwant %+v (in registration order)", got, want)
	}
}

func TestVerifyReportsEveryProblem(t *testing.T) {
	err := Token{Size: 5, Members: []Member{{Name: "infra0"}}}.Verify(Expect{Size: 3, Members: []string{"a", "b", "c"}})
	if _, ok := errors.AsType[*SizeMismatchError](err); !ok {
		t.Errorf("%v: want a size mismatch", err)
	}
	if _, ok := errors.AsType[*ForeignMembersError](err); !ok {
		t.Errorf("%v: want foreign members", err)
	}
}
