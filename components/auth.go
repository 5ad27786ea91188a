package components

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
)

// keyPrefix is what a workerKeyPrefixes entry may hold: the characters
// etcd key layouts use, nothing a shell or a unit would read.
var keyPrefix = regexp.MustCompile(`^[A-Za-z0-9/_.:=@+-]{1,256}$`)

// checkAuth applies etcdAuth's default (on with TLS) and checks the
// workers' key prefixes.
func (s *settings) checkAuth() error {
	var errs []error
	s.auth = s.tls && (s.EtcdAuth == nil || *s.EtcdAuth)
	if s.EtcdAuth != nil && *s.EtcdAuth && !s.tls {
		errs = append(errs, errors.New("etcdAuth: true needs tls: its users are the certificates' common names; set tls: true, or unset etcdAuth"))
	}
	if len(s.WorkerKeyPrefixes) > 0 && !s.auth {
		errs = append(errs, fmt.Errorf("workerKeyPrefixes: %q limits the workers' etcd user, which exists only with etcdAuth on (and tls); unset workerKeyPrefixes, or turn both on", s.WorkerKeyPrefixes))
	}
	for i, p := range s.WorkerKeyPrefixes {
		if !keyPrefix.MatchString(p) {
			errs = append(errs, fmt.Errorf("workerKeyPrefixes[%d]: %q is not allowed; want 1 to 256 of letters, digits and /_.:=@+- such as /registry/ (unset the list for every key)", i, p))
		}
	}
	return errors.Join(errs...)
}

// workersUser is the etcd user (and role) of the workers' clients.
func (s settings) workersUser() string { return s.name + "-workers" }

// operatorName is the common name of the operator's certificate, a root user.
func (s settings) operatorName() string { return s.name + "-operator" }

// workersPassword derives the workers' password from a secret no one
// else uses (pki.NewSecret's key), so that it is as random as that key.
func workersPassword(secret string) string {
	sum := sha256.Sum256([]byte("isolated-etcd workers' etcd password\x00" + secret))
	return hex.EncodeToString(sum[:16])
}

// nodeAuth is the renderer's authentication, given the workers' password:
// nil with authentication off.
func (s settings) nodeAuth(password string) *cloudconfig.Auth {
	if !s.auth || password == "" {
		return nil
	}
	prefixes := s.WorkerKeyPrefixes
	if len(prefixes) == 0 {
		prefixes = []string{""} // every key
	}
	// Every member a cluster may grow to, so that a node added by
	// centralCount joins with its own certificate (docs/operations.md).
	var roots []string
	for i := range maxCentral {
		roots = append(roots, CentralName(s.name, i))
	}
	roots = append(roots, s.operatorName())
	return &cloudconfig.Auth{Roots: roots, Workers: s.workersUser(), Password: password, KeyPrefixes: prefixes}
}
