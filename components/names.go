package components

import (
	"fmt"
	"regexp"
	"strings"
)

var notNameChars = regexp.MustCompile(`[^a-z0-9]+`)

// ClusterName derives a cluster's name from its stack's, in the form cloud
// resources and etcd member names accept: etcd-<stack>.
func ClusterName(stack string) string {
	return "etcd-" + strings.Trim(notNameChars.ReplaceAllString(strings.ToLower(stack), "-"), "-")
}

// CentralName is the name of central node i: its cloud resource and its etcd
// member carry it.
func CentralName(cluster string, i int) string {
	return fmt.Sprintf("%s-central-%d", cluster, i)
}
