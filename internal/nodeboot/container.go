package nodeboot

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// mount is a host directory a container sees at another path.
type mount struct{ host, container string }

// container is what one unit's container sees of the node.
type container struct {
	name   string
	mounts []mount
	// user runs the process inside.
	user  string
	files map[string]File
	p     *Process
}

// file maps a path inside the container to the node's file, checks the
// container may read it, adds it to the process's files and returns where
// the process finds it in the rehearsal.
func (c container) file(path string) (string, error) {
	host := ""
	for _, m := range c.mounts {
		if rest, ok := strings.CutPrefix(path, m.container); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			host = m.host + rest
		}
	}
	if host == "" {
		return "", fmt.Errorf("%s is outside every directory the container mounts (%v): the process could not see it", path, c.mounts)
	}
	f, ok := c.files[host]
	if !ok {
		return "", fmt.Errorf("%s (on the node %s): no write_files puts it there", path, host)
	}
	owner, _, _ := strings.Cut(f.Owner, ":")
	if c.user != "root" && owner != c.user && f.Mode&0o004 == 0 {
		return "", fmt.Errorf("%s is mode %04o owned by %s: %s runs as %s and cannot read it", host, f.Mode, f.Owner, c.name, c.user)
	}
	if !slices.ContainsFunc(c.p.Files, func(g File) bool { return g.Path == host }) {
		c.p.Files = append(c.p.Files, f)
	}
	return RootDir + host, nil
}

// dockerKeys are the unit-file keys of a docker-run unit the rehearsal knows;
// the rehearsal itself starts, supervises and orders the process.
var dockerKeys = map[string][]string{
	"Unit":    {"Description", "Wants", "After", "Requires"},
	"Service": {"Restart", "RestartSec", "ExecStartPre", "ExecStart", "ExecStop"},
	"Install": {"WantedBy"},
}

// dockerRunning is what a unit's `docker run` starts: the image's etcd
// release, the args given to etcd, and the host directories mounted.
type dockerRunning struct {
	release string
	args    []string
	mounts  []mount
	// stopGrace is the unit's docker stop's.
	stopGrace time.Duration
}

// dockerStop reads `-/usr/bin/docker stop [--time=N] NAME`: the container
// stopped, and how long docker waits after SIGTERM before SIGKILL (10 s,
// docker's default, without --time).
func dockerStop(words []string) (name string, grace time.Duration, ok bool) {
	if len(words) < 3 || len(words) > 4 || words[0] != "-/usr/bin/docker" || words[1] != "stop" {
		return "", 0, false
	}
	grace = 10 * time.Second
	if len(words) == 4 {
		s, found := strings.CutPrefix(words[2], "--time=")
		n, err := strconv.Atoi(s)
		if !found || err != nil || n < 0 {
			return "", 0, false
		}
		grace = time.Duration(n) * time.Second
	}
	return words[len(words)-1], grace, true
}

// dockerUnit reads a unit whose ExecStart is `docker run ... <etcd image>
// args...`.
func dockerUnit(unit, content string) (dockerRunning, error) {
	lines, err := parseUnit(unit, content, dockerKeys)
	if err != nil {
		return dockerRunning{}, err
	}
	container := ""
	var run dockerRunning
	var housekept []string
	stopGrace := time.Duration(-1)
	for _, l := range lines {
		words := strings.Fields(l.value)
		switch l.key {
		case "ExecStart":
			if container, run, err = dockerRun(words); err != nil {
				return dockerRunning{}, fmt.Errorf("unit %s: line %q: %w", unit, l.line, err)
			}
		case "ExecStop":
			name, grace, ok := dockerStop(words)
			if !ok {
				return dockerRunning{}, fmt.Errorf("unit %s: line %q: the rehearsal interprets only `-/usr/bin/docker stop [--time=SECONDS] NAME`", unit, l.line)
			}
			stopGrace = grace
			housekept = append(housekept, name)
		case "ExecStartPre":
			// Container housekeeping only: removing the container.
			if len(words) != 4 || words[0] != "-/usr/bin/docker" || words[1] != "rm" || words[2] != "--force" {
				return dockerRunning{}, fmt.Errorf("unit %s: line %q: the rehearsal interprets only `-/usr/bin/docker rm --force NAME`", unit, l.line)
			}
			housekept = append(housekept, words[len(words)-1])
		}
	}
	if run.args == nil {
		return dockerRunning{}, fmt.Errorf("unit %s: no ExecStart", unit)
	}
	if stopGrace < 0 {
		return dockerRunning{}, fmt.Errorf("unit %s: no ExecStop: systemd would stop the docker client, not the container", unit)
	}
	run.stopGrace = stopGrace
	for _, name := range housekept {
		if name != container {
			return dockerRunning{}, fmt.Errorf("unit %s: removes or stops container %q but runs %q", unit, name, container)
		}
	}
	return run, nil
}

// dockerRun splits `/usr/bin/docker run FLAGS IMAGE ARGS` and returns the
// container name and what it runs. Only flags that keep the process what
// the rehearsal runs are accepted: a name, the host network, etcd as
// entrypoint, read-only mounts.
func dockerRun(words []string) (string, dockerRunning, error) {
	var run dockerRunning
	if len(words) < 2 || words[0] != "/usr/bin/docker" || words[1] != "run" {
		return "", run, fmt.Errorf("ExecStart: the rehearsal interprets only /usr/bin/docker run")
	}
	host, name := false, ""
	for i, w := range words[2:] {
		if !strings.HasPrefix(w, "-") {
			if !host {
				return "", run, fmt.Errorf("the container must use --network=host to serve the node's addresses")
			}
			release, err := releaseOf(w)
			if err != nil {
				return "", run, err
			}
			run.release, run.args = release, slices.Clone(words[i+3:])
			return name, run, nil
		}
		flag, value, _ := strings.Cut(w, "=")
		switch {
		case flag == "--name" && value != "":
			name = value
		case w == "--network=host" || w == "--net=host":
			host = true
		case w == "--rm":
		case flag == "--entrypoint" && value == etcdImageEntrypoint:
		case flag == "--volume" || flag == "-v":
			parts := strings.Split(value, ":")
			if len(parts) != 3 || parts[2] != "ro" || !strings.HasPrefix(parts[0], "/") || !strings.HasPrefix(parts[1], "/") {
				return "", run, fmt.Errorf("docker flag %q: the rehearsal interprets only read-only mounts /host:/container:ro", w)
			}
			run.mounts = append(run.mounts, mount{host: parts[0], container: parts[1]})
		default:
			return "", run, fmt.Errorf("docker flag %q: the rehearsal cannot interpret it", w)
		}
	}
	return "", run, fmt.Errorf("no image")
}
