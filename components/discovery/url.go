package discovery

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// URL is a discovery token URL: https://discovery.etcd.io/<token>, or a
// self-hosted etcd's http://host:2379/v2/keys/discovery/<token>.
type URL struct {
	*url.URL
	// Token is the URL's last path element.
	Token string
}

// ParseURL accepts an absolute http(s) URL that names a token, with nothing
// a unit file or a cloud-config could not carry verbatim. Every part of the
// program that reads a discovery URL reads it through here.
func ParseURL(raw string) (URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.ContainsAny(raw, "\"'\\ \t\r\n$%`<>") {
		return URL{}, fmt.Errorf("%q is not a discovery token URL such as https://discovery.etcd.io/<token> or http://HOST:2379/v2/keys/discovery/<token>", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return URL{URL: u, Token: path.Base(u.Path)}, nil
}

// Loopback reports whether the URL points at a loopback address.
func (u URL) Loopback() bool {
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// KeyPath is the token's key in etcd's v2 keys API (/discovery/<token>), for
// a URL served by an etcd of one's own.
func (u URL) KeyPath() (string, error) {
	key, ok := strings.CutPrefix(u.Path, "/v2/keys/")
	if !ok {
		return "", fmt.Errorf("discovery URL %s is not an etcd v2 keys URL", u)
	}
	return "/" + key, nil
}
