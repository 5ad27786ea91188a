package discovery

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// PublicService is the discovery service etcd's documentation points at. It is
// no longer maintained, so New's errors say how to do without it.
const PublicService = "https://discovery.etcd.io"

// New mints a token for a cluster of size members from the discovery service
// at service (PublicService if empty) and returns its URL. The size is fixed
// for the token's life, so it must be the stack's centralCount.
func New(ctx context.Context, client *http.Client, service string, size int) (string, error) {
	if size < 1 {
		return "", fmt.Errorf("discovery token size must be at least 1 (the number of central members), got %d", size)
	}
	if service == "" {
		service = PublicService
	}
	service = strings.TrimRight(service, "/")
	endpoint := service + "/new?size=" + strconv.Itoa(size)

	status, body, err := get(ctx, client, endpoint)
	if err != nil {
		return "", fmt.Errorf("%w: GET %s: %w; if it is down or out of reach, run your own discovery server "+
			"(Debian package etcd-discovery) and pass --service http://HOST:PORT, or create a token by hand on "+
			"any etcd 3.5 or older started with --enable-v2: TOKEN=$(uuidgen); "+
			"curl -X PUT http://HOST:2379/v2/keys/discovery/$TOKEN/_config/size -d value=%d "+
			"and use http://HOST:2379/v2/keys/discovery/$TOKEN as discoveryUrl",
			ErrUnreachable, endpoint, err, size)
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("%w: GET %s answered %d %s: %s; check --service points at a discovery server",
			ErrBadAnswer, endpoint, status, http.StatusText(status), snippet(body))
	}
	minted := strings.TrimSpace(string(body))
	if _, err := ParseURL(minted); err != nil {
		return "", fmt.Errorf("%w: GET %s answered 200 but not with a token URL: %s; check --service points at a discovery server",
			ErrBadAnswer, endpoint, snippet(body))
	}
	return minted, nil
}
