package discovery

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// ErrTokenNotFound means the service has no such token: never minted,
// mistyped, or expired.
var ErrTokenNotFound = errors.New("discovery token not found")

// Expect is what this stack needs from its token.
type Expect struct {
	// Size is the stack's centralCount.
	Size int
	// Members are this stack's central member names. They may already be
	// registered: the cluster exists and preview runs again.
	Members []string
}

// Member is one registration on a token.
type Member struct {
	Name     string
	PeerURLs []string
}

// Token is what a discovery token holds.
type Token struct {
	// Size is the member count the token was minted for.
	Size int
	// Members are in registration order; etcd takes the first Size as the
	// cluster and turns any later ones into proxies.
	Members []Member
}

// SizeMismatchError means the token was minted for another member count.
type SizeMismatchError struct {
	Size, Want int
}

func (e *SizeMismatchError) Error() string {
	return fmt.Sprintf("discoveryUrl's token was created for %d members, but centralCount is %d; "+
		"a token's size is fixed when it is minted: for a new cluster, mint a new one with "+
		"`go run ./cmd/discovery-url --size %d` and set discoveryUrl; an existing cluster's member count "+
		"is changed with etcdctl member add/remove, not through discovery", e.Size, e.Want, e.Want)
}

// ForeignMembersError means members that are not this stack's registered on
// the token, so another cluster bootstrapped (or is bootstrapping) with it.
type ForeignMembersError struct {
	Foreign []string
	Want    Expect
}

func (e *ForeignMembersError) Error() string {
	return fmt.Sprintf("discoveryUrl's token is already used by another cluster: members %s registered, "+
		"but this stack's central members are %s; a token bootstraps one cluster, once: mint a new one with "+
		"`go run ./cmd/discovery-url --size %d` and set discoveryUrl",
		strings.Join(e.Foreign, ", "), strings.Join(e.Want.Members, ", "), e.Want.Size)
}

// Check reads the token at rawURL and verifies it against want. It only reads,
// so it is safe during preview.
func Check(ctx context.Context, client *http.Client, rawURL string, want Expect) error {
	t, err := Read(ctx, client, rawURL)
	if err != nil {
		return err
	}
	return t.Verify(want)
}

// Verify reports every way t does not fit want, as a *SizeMismatchError and
// a *ForeignMembersError joined.
func (t Token) Verify(want Expect) error {
	var errs []error
	if t.Size != want.Size {
		errs = append(errs, &SizeMismatchError{Size: t.Size, Want: want.Size})
	}
	var foreign []string
	for _, m := range t.Members {
		if !slices.Contains(want.Members, m.Name) {
			foreign = append(foreign, m.Name)
		}
	}
	if len(foreign) > 0 {
		errs = append(errs, &ForeignMembersError{Foreign: foreign, Want: want})
	}
	return errors.Join(errs...)
}

// Read fetches the size and registrations of the token at rawURL, an etcd v2
// keys directory such as https://discovery.etcd.io/<token> or
// http://host:2379/v2/keys/discovery/<token>, the same two GETs etcd makes
// before it registers. Errors show the token cut short, since discoveryUrl
// may be a secret.
func Read(ctx context.Context, client *http.Client, rawURL string) (Token, error) {
	d, err := parseTokenURL(rawURL)
	if err != nil {
		return Token{}, err
	}
	sizeNode, err := d.get(ctx, client, "_config", "size")
	if err != nil {
		return Token{}, err
	}
	size, err := strconv.Atoi(sizeNode.Value)
	if err != nil || size < 1 {
		return Token{}, badAnswer("%s/_config/size holds %q, not a member count", d.shown, sizeNode.Value)
	}
	dir, err := d.get(ctx, client)
	if err != nil {
		return Token{}, err
	}
	slices.SortFunc(dir.Nodes, func(a, b node) int { return cmp.Compare(a.CreatedIndex, b.CreatedIndex) })
	t := Token{Size: size}
	for _, n := range dir.Nodes {
		if path.Base(n.Key) == "_config" {
			continue
		}
		m, ok := parseMember(n.Value)
		if !ok {
			return Token{}, badAnswer("%s/%s holds %q, not a registration (name=peerURL)", d.shown, path.Base(n.Key), n.Value)
		}
		t.Members = append(t.Members, m)
	}
	return t, nil
}

// parseMember reads a registration, the member's --initial-cluster entries:
// "name=peerURL[,name=peerURL]".
func parseMember(value string) (Member, bool) {
	var m Member
	for pair := range strings.SplitSeq(value, ",") {
		name, peer, ok := strings.Cut(pair, "=")
		if !ok || name == "" || peer == "" || (m.Name != "" && name != m.Name) {
			return Member{}, false
		}
		m.Name = name
		m.PeerURLs = append(m.PeerURLs, peer)
	}
	return m, true
}

// node and etcdError are the parts of etcd's v2 keys API answers used here.
type node struct {
	Key          string `json:"key"`
	Value        string `json:"value"`
	Nodes        []node `json:"nodes"`
	CreatedIndex uint64 `json:"createdIndex"`
}

type etcdError struct {
	ErrorCode int `json:"errorCode"`
}

// etcdKeyNotFound is the v2 API's errorCode for a missing key.
const etcdKeyNotFound = 100

// tokenURL is a discovery URL plus the shortened form errors show.
type tokenURL struct {
	u     *url.URL
	shown string
	hide  *strings.Replacer
}

func parseTokenURL(raw string) (tokenURL, error) {
	d, err := ParseURL(raw)
	if err != nil {
		return tokenURL{}, fmt.Errorf("discoveryUrl: %w; mint one with `go run ./cmd/discovery-url --size <centralCount>`", err)
	}
	short := d.Token[:min(4, len(d.Token))] + "..."
	hide := strings.NewReplacer(d.Token, short)
	shown := &url.URL{Scheme: d.Scheme, Host: d.Host, Path: hide.Replace(d.Path)}
	return tokenURL{u: d.URL, shown: shown.String(), hide: hide}, nil
}

// get reads the node at elem under the token, turning every failure into an
// error that names the (shortened) URL and says what to do.
func (d tokenURL) get(ctx context.Context, client *http.Client, elem ...string) (*node, error) {
	shown := strings.Join(append([]string{d.shown}, elem...), "/")
	status, body, err := get(ctx, client, d.u.JoinPath(elem...).String())
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %w; check this machine can reach it, or, to preview offline, "+
			"run `pulumi config set discoveryCheck false`", ErrUnreachable, shown, err)
	}
	switch status {
	case http.StatusOK:
		var answer struct{ Node *node }
		if json.Unmarshal(body, &answer) != nil || answer.Node == nil {
			return nil, badAnswer("GET %s answered 200 with %s, not etcd v2 keys JSON", shown, d.hide.Replace(snippet(body)))
		}
		return answer.Node, nil
	case http.StatusNotFound:
		var e etcdError
		if json.Unmarshal(body, &e) == nil && e.ErrorCode == etcdKeyNotFound {
			return nil, fmt.Errorf("%w: %s does not exist (never minted, mistyped, or expired: discovery.etcd.io "+
				"drops tokens after about a week); if this stack's cluster has not bootstrapped yet, mint a new one with "+
				"`go run ./cmd/discovery-url --size <centralCount>` and set discoveryUrl; if it is already running it "+
				"no longer needs the token: leave discoveryUrl unchanged (changing it changes the central nodes' user data) "+
				"and run `pulumi config set discoveryCheck false`", ErrTokenNotFound, d.shown)
		}
	}
	return nil, badAnswer("GET %s answered %d %s: %s", shown, status, http.StatusText(status), d.hide.Replace(snippet(body)))
}

// badAnswer wraps ErrBadAnswer with what came back and the likely fixes.
func badAnswer(format string, args ...any) error {
	return fmt.Errorf("%w: %s; discoveryUrl must be a discovery token URL such as https://discovery.etcd.io/<token> "+
		"or http://HOST:2379/v2/keys/discovery/<token>; to preview offline, run `pulumi config set discoveryCheck false`",
		ErrBadAnswer, fmt.Sprintf(format, args...))
}
