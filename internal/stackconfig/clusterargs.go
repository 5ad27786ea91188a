package stackconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/isolatedetcd/cluster/components"
)

// ClusterArgs reads the cluster's settings from the config of the stack
// called stack through get, which returns a key's raw value and whether it
// is set, and isSecret, which tells whether the stack stores it as a
// secret. Values that are not the right type fail here, naming the key;
// everything else is checked by components.NewCluster.
func ClusterArgs(stack string, get func(key string) (string, bool), isSecret func(key string) bool) (components.ClusterArgs, error) {
	var errs []error
	str := func(key string) string { v, _ := get(key); return v }
	integer := func(key string, def int) int {
		v, ok := get(key)
		if !ok || v == "" {
			return def
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a whole number", key, v))
		}
		return n
	}
	boolean := func(key string, def bool) bool {
		v, ok := get(key)
		if !ok || v == "" {
			return def
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", key, v))
		}
		return b
	}
	list := func(key string) []string {
		v, ok := get(key)
		if !ok || v == "" {
			return nil
		}
		var out []string
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a list of strings", key, v))
		}
		return out
	}
	args := components.ClusterArgs{
		Cloud:                   str("cloud"),
		Region:                  str("region"),
		CentralCount:            integer("centralCount", components.DefaultCentralCount),
		WorkerCount:             integer("workerCount", 0),
		CentralSize:             str("centralSize"),
		WorkerSize:              str("workerSize"),
		Flavor:                  str("flavor"),
		WorkerProxy:             str("workerProxy"),
		ConfigFormat:            str("configFormat"),
		EtcdVersion:             str("etcdVersion"),
		Bootstrap:               str("bootstrap"),
		DNSZone:                 str("dnsZone"),
		Image:                   input(str("image")),
		DiscoveryURL:            str("discoveryUrl"),
		DiscoveryURLSecret:      isSecret("discoveryUrl"),
		SkipDiscoveryCheck:      !boolean("discoveryCheck", true),
		SSHAuthorizedKeys:       inputs(list("sshAuthorizedKeys")),
		SSHAllowedCidrs:         list("sshAllowedCidrs"),
		VpcCidr:                 str("vpcCidr"),
		ProtectCentral:          boolean("protectCentral", true),
		RollCentral:             str("rollCentral"),
		CertDays:                integer("tlsCertDays", 0),
		CADays:                  integer("tlsCaDays", 0),
		CAGeneration:            integer("tlsCaGeneration", 0),
		CARotation:              str("tlsCaRotation"),
		BackupSchedule:          str("backupSchedule"),
		BackupBucket:            str("backupBucket"),
		BackupRetentionDays:     integer("backupRetentionDays", 0),
		RestoreFrom:             str("restoreFrom"),
		BackupCopyRegion:        str("backupCopyRegion"),
		BackupRevisionThreshold: integer("backupRevisionThreshold", 0),
		BackupKeepHourly:        integer("backupKeepHourly", 0),
		BackupKeepDaily:         integer("backupKeepDaily", 0),
		BackupKeepWeekly:        integer("backupKeepWeekly", 0),
		RestoreFromCopy:         boolean("restoreFromCopy", false),
		BackupIdentity:          str("backupIdentity"),
		CompactionRetention:     str("compactionRetention"),
		QuotaBackendMiB:         integer("quotaBackendMiB", 0),
		MonitoringCidrs:         list("monitoringCidrs"),
		MonitoringGroups:        list("monitoringGroups"),
		WorkerKeyPrefixes:       list("workerKeyPrefixes"),
		// Plaintext is for dev stacks, or an operator who says so.
		PlaintextAcknowledged: IsDevStack(stack) || boolean("tlsOffAcknowledged", false),
	}
	if v, ok := get("tls"); ok && v != "" {
		on := boolean("tls", true)
		args.TLS = &on
	}
	if v, ok := get("backup"); ok && v != "" {
		on := boolean("backup", true)
		args.Backup = &on
	}
	if v, ok := get("etcdAuth"); ok && v != "" {
		on := boolean("etcdAuth", true)
		args.EtcdAuth = &on
	}
	if args.BackupIdentity != "" && !isSecret("backupIdentity") {
		errs = append(errs, fmt.Errorf("backupIdentity: stored in plain text, and it decrypts every snapshot; store it as a secret: pulumi config set --secret backupIdentity <identity>"))
	}
	if v, ok := get("tags"); ok && v != "" {
		if err := json.Unmarshal([]byte(v), &args.Tags); err != nil {
			errs = append(errs, fmt.Errorf("tags: %q is not a map of strings to strings", v))
		}
	}
	return args, errors.Join(errs...)
}

// IsDevStack reports whether stack is a dev stack (dev, or dev-anything),
// where plaintext etcd needs no acknowledgement.
func IsDevStack(stack string) bool { return stack == "dev" || strings.HasPrefix(stack, "dev-") }

// input and inputs hand a config value to an input of the component as a
// value; unset stays nil.
func input(v string) pulumi.StringInput {
	if v == "" {
		return nil
	}
	return pulumi.String(v)
}

func inputs(v []string) pulumi.StringArrayInput {
	if v == nil {
		return nil
	}
	return pulumi.ToStringArray(v)
}
