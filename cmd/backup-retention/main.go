// Command backup-retention reads the cluster's snapshot listing and prints
// the keys a retention policy lets go (each snapshot and the sha256 beside
// it), for a delete with the operator's own credentials: the nodes may
// not delete (docs/backups.md, Retention).
//
//	eval "$(pulumi stack output backupListCommand)" | go run ./cmd/backup-retention --hourly 24 --daily 7 --weekly 13
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/isolatedetcd/cluster/components/retention"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run returns the exit status: 0 done, 1 unreadable input, 2 usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup-retention", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p retention.Policy
	fs.IntVar(&p.Hourly, "hourly", 24, "hours that keep their newest snapshot")
	fs.IntVar(&p.Daily, "daily", 7, "days that keep their newest snapshot")
	fs.IntVar(&p.Weekly, "weekly", 13, "ISO weeks that keep their newest snapshot")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if p.Hourly < 0 || p.Daily < 0 || p.Weekly < 0 || p.Hourly+p.Daily+p.Weekly == 0 || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "backup-retention: --hourly %d --daily %d --weekly %d %v: want counts of 0 or more, not all 0, and no arguments\n", p.Hourly, p.Daily, p.Weekly, fs.Args())
		return 2
	}
	// Lines of `aws s3 ls --recursive`: date, time, size, key.
	var keys []string
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 {
			keys = append(keys, f[3])
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(stderr, "backup-retention:", err)
		return 1
	}
	keep, drop := p.Keep(retention.Parse(keys))
	listed := map[string]bool{}
	for _, k := range keys {
		listed[k] = true
	}
	for _, s := range drop {
		fmt.Fprintln(stdout, s.Key)
		if listed[s.Key+".sha256"] {
			fmt.Fprintln(stdout, s.Key+".sha256")
		}
	}
	fmt.Fprintf(stderr, "backup-retention: %d snapshots listed: %d kept", len(keep)+len(drop), len(keep))
	if len(keep) > 0 {
		fmt.Fprintf(stderr, " (newest %s, oldest %s)", keep[0].Key, keep[len(keep)-1].Key)
	}
	fmt.Fprintf(stderr, ", %d to delete\n", len(drop))
	return 0
}
