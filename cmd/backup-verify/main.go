// Command backup-verify proves the newest snapshot in a cluster's backup
// store restores: the sha256 its node recorded, decryption with the
// cluster's identity, etcdutl's restore into a scratch directory, and a
// throwaway etcd on loopback serving it at the snapshot's revision. It runs
// where the identity may be, the operator's machine or a scheduled CI job,
// with the operator's own read access to the bucket (docs/backups.md,
// Verification):
//
//	pulumi stack output backupIdentity --show-secrets >identity.txt
//	go run ./cmd/backup-verify --bucket "$(pulumi stack output backupBucket)" \
//	  --prefix "$(pulumi stack output backupPrefix)" --region us-east-1 --identity identity.txt
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"filippo.io/age"

	"github.com/isolatedetcd/cluster/components/cloudconfig"
	"github.com/isolatedetcd/cluster/internal/backupverify"
	"github.com/isolatedetcd/cluster/internal/localetcd"
	"github.com/isolatedetcd/cluster/internal/nodescript"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run returns the exit status: 0 verified, 1 not verified, 2 usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup-verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bucket := fs.String("bucket", "", "the backup bucket (output backupBucket, or backupCopyBucket for the copy)")
	prefix := fs.String("prefix", "", "the cluster's prefix in it (output backupPrefix)")
	var store cloudconfig.ObjectStore
	fs.StringVar(&store.Provider, "provider", "AWS", "the S3 dialect: AWS, or DigitalOcean for Spaces")
	fs.StringVar(&store.Region, "region", "", "the bucket's region, as output backupListCommand's --region")
	fs.StringVar(&store.Endpoint, "endpoint", "", "the S3 endpoint, as output backupListCommand's --endpoint-url (Spaces); empty for AWS")
	identityFile := fs.String("identity", "", "a file holding the cluster's age identity (output backupIdentity, a secret); - reads it from standard input")
	line := fs.String("etcd", string(cloudconfig.Etcd36), "the cluster's etcd line (etcdVersion)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	version := cloudconfig.EtcdVersion(*line)
	switch {
	case *bucket == "" || *prefix == "" || store.Region == "" || *identityFile == "" || fs.NArg() > 0:
		fmt.Fprintf(stderr, "backup-verify: --bucket %q --prefix %q --region %q --identity %q %v: want all four set, and no arguments\n", *bucket, *prefix, store.Region, *identityFile, fs.Args())
		return 2
	case store.Provider != "AWS" && store.Provider != "DigitalOcean":
		fmt.Fprintf(stderr, "backup-verify: --provider %q: want AWS or DigitalOcean\n", store.Provider)
		return 2
	case !slices.Contains(cloudconfig.EtcdVersions, version):
		fmt.Fprintf(stderr, "backup-verify: --etcd %q: want one of %v\n", *line, cloudconfig.EtcdVersions)
		return 2
	}
	identity, err := readIdentity(*identityFile, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "backup-verify: --identity %s: %v\n", *identityFile, err)
		return 2
	}

	ctx := context.Background()
	logf := func(s string) { fmt.Fprintln(stderr, s) }
	release := version.Release()
	built, err := nodescript.Build(ctx, []string{release}, logf)
	if err != nil {
		fmt.Fprintf(stderr, "backup-verify: %v\n", err)
		return 1
	}
	etcd, err := localetcd.Binary(ctx, release, logf)
	if err != nil {
		fmt.Fprintf(stderr, "backup-verify: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "backup-verify-")
	if err != nil {
		fmt.Fprintf(stderr, "backup-verify: %v\n", err)
		return 1
	}
	start := time.Now()
	r, err := backupverify.Verify(ctx,
		backupverify.Tools{Rclone: built.Rclone, Etcdutl: built.Etcdutl[release], Etcd: etcd},
		backupverify.Store{Env: store.RemoteEnv(backupverify.Remote), Path: *bucket + "/" + *prefix},
		identity, dir)
	if err != nil {
		// Kept: the etcd log and the files are the evidence.
		fmt.Fprintf(stderr, "backup-verify: NOT VERIFIED: %v (work kept in %s)\n", err, dir)
		return 1
	}
	_ = os.RemoveAll(dir)
	fmt.Fprintf(stdout, "verified %s/%s/%s: it restores, and etcd serves its %d keys at revision %d (%s)\n",
		*bucket, *prefix, r.Key, r.Keys, r.Revision, time.Since(start).Round(time.Second))
	return 0
}

// readIdentity reads the one age identity in file, or in stdin for "-".
func readIdentity(file string, stdin io.Reader) (age.Identity, error) {
	in := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	ids, err := age.ParseIdentities(in)
	if err != nil {
		return nil, err
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("%d identities, want the cluster's one", len(ids))
	}
	return ids[0], nil
}
