package components

import (
	"slices"
	"strings"

	"github.com/isolatedetcd/cluster/components/aws"
	"github.com/isolatedetcd/cluster/components/cloud"
	"github.com/isolatedetcd/cluster/components/digitalocean"
)

// Clouds maps each supported value of the cloud key to its backend: a new
// cloud is a package implementing cloud.Provider and one entry here.
var Clouds = map[string]func() cloud.Provider{
	"aws":          aws.New,
	"digitalocean": digitalocean.New,
}

// cloudNames lists the supported clouds for error messages.
func cloudNames() string {
	names := make([]string, 0, len(Clouds))
	for n := range Clouds {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, " or ")
}
