// Package discoverytest serves discovery tokens the way etcd's v2 keys API
// does, for tests of the code that mints and checks them.
package discoverytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Token is the token every fake serves.
const Token = "6c007a14875d53d9bf0ef5a6fc0257c8"

// Registration is a member registered under the token.
type Registration struct {
	ID, Value string
	Created   uint64
}

// Member registers the member called name at a peer URL of its own; i makes
// ids and addresses distinct.
func Member(name string, i int) Registration {
	return Registration{ID: fmt.Sprintf("%016x", i+10), Value: fmt.Sprintf("%s=http://10.21.0.%d:2380", name, i+10), Created: uint64(i + 5)}
}

// Handler serves Token under /v2/keys/discovery/; an empty size means the
// token does not exist.
func Handler(size string, regs ...Registration) http.HandlerFunc {
	dir := "/discovery/" + Token
	return func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/v2/keys")
		w.Header().Set("Content-Type", "application/json")
		var answer any
		switch {
		case size == "" || (key != dir && key != dir+"/_config/size"):
			w.WriteHeader(http.StatusNotFound)
			answer = map[string]any{"errorCode": 100, "message": "Key not found", "cause": key, "index": 9}
		case key == dir+"/_config/size":
			answer = map[string]any{"action": "get", "node": map[string]any{
				"key": key, "value": size, "modifiedIndex": 4, "createdIndex": 4}}
		default:
			nodes := []map[string]any{{"key": dir + "/_config", "dir": true, "modifiedIndex": 4, "createdIndex": 4}}
			for _, reg := range regs {
				nodes = append(nodes, map[string]any{"key": dir + "/" + reg.ID, "value": reg.Value,
					"modifiedIndex": reg.Created, "createdIndex": reg.Created})
			}
			answer = map[string]any{"action": "get", "node": map[string]any{
				"key": dir, "dir": true, "nodes": nodes, "modifiedIndex": 4, "createdIndex": 4}}
		}
		json.NewEncoder(w).Encode(answer)
	}
}

// Server serves Handler(size, members registered by name) until t ends and
// returns the token's URL.
func Server(t testing.TB, size string, members ...string) string {
	t.Helper()
	var regs []Registration
	for i, m := range members {
		regs = append(regs, Member(m, i))
	}
	srv := httptest.NewServer(Handler(size, regs...))
	t.Cleanup(srv.Close)
	return srv.URL + "/v2/keys/discovery/" + Token
}
