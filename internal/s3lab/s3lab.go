// Package s3lab serves a real S3 API on loopback (rclone serve s3 over a directory).
package s3lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/isolatedetcd/cluster/internal/netlab"
)

// Config is what to serve, and where.
type Config struct {
	// Rclone is the rclone binary (nodescript.Rclone builds the pinned one).
	Rclone string
	// Dir is served: each directory in it a bucket. Its log is Dir's sibling.
	Dir string
	// Buckets are made up front, as a cloud's bucket exists before its
	// nodes upload (the scripts pass --s3-no-check-bucket).
	Buckets []string
	// Addr is the address to listen on; "" is 127.0.0.1.
	Addr string
	// Lab, set, is the network the server lives in.
	Lab *netlab.Lab
	// AccessKey and SecretKey are the one key pair; "" picks fixed ones.
	AccessKey, SecretKey string
}

// Server is a running rclone serve s3.
type Server struct {
	cfg Config
	// Endpoint is http://addr:port.
	Endpoint string
	cmd      *exec.Cmd
	done     chan struct{}
	log      string
	// home is the server's HOME, apart from the served directory, where
	// a cache would appear as a bucket.
	home string
}

// Start serves cfg.Dir and returns once the server answers HTTP.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Rclone == "" || cfg.Dir == "" {
		return nil, errors.New("s3lab: needs an rclone binary and a directory")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1"
	}
	if cfg.AccessKey == "" {
		cfg.AccessKey, cfg.SecretKey = "s3lab-access", "s3lab-secret-key"
	}
	if strings.ContainsAny(cfg.AccessKey+cfg.SecretKey, ",\n") {
		return nil, errors.New("s3lab: keys may not hold a comma")
	}
	for _, b := range cfg.Buckets {
		if b == "" || strings.ContainsAny(b, "/\\") {
			return nil, fmt.Errorf("s3lab: bucket %q", b)
		}
		if err := os.MkdirAll(filepath.Join(cfg.Dir, b), 0o755); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg, log: filepath.Clean(cfg.Dir) + ".log"}
	do := netlab.OnHost
	if cfg.Lab != nil {
		do = cfg.Lab.Do
	}
	// A free port, found where the server listens; another process could
	// take it before rclone does, which then fails to start, loudly.
	var port int
	if err := do(func() error {
		l, err := net.Listen("tcp", net.JoinHostPort(cfg.Addr, "0"))
		if err != nil {
			return err
		}
		port = l.Addr().(*net.TCPAddr).Port
		return l.Close()
	}); err != nil {
		return nil, fmt.Errorf("s3lab: a port on %s: %w", cfg.Addr, err)
	}
	hostPort := net.JoinHostPort(cfg.Addr, strconv.Itoa(port))
	s.Endpoint = "http://" + hostPort
	log, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	if s.home, err = os.MkdirTemp("", "s3lab-home-"); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(cfg.Rclone, "serve", "s3", "--addr", hostPort,
		"--auth-key", cfg.AccessKey+","+cfg.SecretKey, "--log-level", "INFO", cfg.Dir)
	// Never the caller's rclone settings or config file.
	s.cmd.Env = []string{"HOME=" + s.home, "RCLONE_CONFIG=" + filepath.Join(s.home, "none", "rclone.conf")}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := do(s.cmd.Start); err != nil {
		os.RemoveAll(s.home)
		return nil, fmt.Errorf("s3lab: start rclone serve s3: %w", err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.wait(ctx, hostPort); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// wait returns once the server answers any HTTP request (anonymous ones
// are refused, which is an answer).
func (s *Server) wait(ctx context.Context, hostPort string) error {
	dial := (&net.Dialer{}).DialContext
	if s.cfg.Lab != nil {
		dial = s.cfg.Lab.DialContext
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("s3lab: rclone serve s3 exited: %s", s.LogTail())
		case <-ctx.Done():
			return fmt.Errorf("s3lab: rclone serve s3 on %s does not answer: %w: %s", hostPort, ctx.Err(), s.LogTail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Dir is the served directory: a bucket's objects are files in Dir/bucket.
func (s *Server) Dir() string { return s.cfg.Dir }

// RemoteEnv are the environment lines that make name (backup, ...) an rclone
// S3 remote of this server, as a node's env file sets its own.
func (s *Server) RemoteEnv(name string) []string {
	p := "RCLONE_CONFIG_" + strings.ToUpper(name) + "_"
	return []string{
		p + "TYPE=s3",
		p + "PROVIDER=Other",
		p + "ENDPOINT=" + s.Endpoint,
		p + "ACCESS_KEY_ID=" + s.cfg.AccessKey,
		p + "SECRET_ACCESS_KEY=" + s.cfg.SecretKey,
		p + "FORCE_PATH_STYLE=true",
	}
}

// Object is one stored object.
type Object struct {
	Key     string // bucket/path
	Size    int64
	ModTime time.Time
}

// List lists every object under bucket/prefix ("bucket" for all of it),
// through the S3 API with rclone lsjson.
func (s *Server) List(ctx context.Context, path string) ([]Object, error) {
	out, err := s.rclone(ctx, nil, "lsjson", "-R", "--files-only", "--no-mimetype", "s3lab:"+path)
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Path    string
		Size    int64
		ModTime time.Time
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		return nil, fmt.Errorf("s3lab: rclone lsjson %s: %w", path, err)
	}
	objs := make([]Object, 0, len(entries))
	for _, e := range entries {
		objs = append(objs, Object{Key: strings.TrimSuffix(path, "/") + "/" + e.Path, Size: e.Size, ModTime: e.ModTime})
	}
	return objs, nil
}

// Put stores data at bucket/key through the S3 API, as an uploader would.
func (s *Server) Put(ctx context.Context, path string, data []byte) error {
	_, err := s.rclone(ctx, bytes.NewReader(data), "rcat", "s3lab:"+path)
	return err
}

// rclone runs an rclone client of the server with args and returns its
// output.
func (s *Server) rclone(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, s.cfg.Rclone, args...)
	home, err := os.MkdirTemp("", "s3lab-client-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	cmd.Env = append([]string{"HOME=" + home, "RCLONE_CONFIG=" + filepath.Join(home, "none", "rclone.conf")}, s.RemoteEnv("s3lab")...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	if s.cfg.Lab != nil {
		err = s.cfg.Lab.Do(cmd.Start)
		if err == nil {
			err = cmd.Wait()
		}
	} else {
		err = cmd.Run()
	}
	if err != nil {
		return nil, fmt.Errorf("s3lab: rclone %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), nil
}

// LogTail is the end of the server's log, for evidence.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// Close stops the server.
func (s *Server) Close() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	defer os.RemoveAll(s.home)
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}
