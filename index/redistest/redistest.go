// Package redistest starts real redis-server processes for tests: a private server per test
// (Start), and one standalone server and one 3-master cluster shared by every test of a test
// binary (Standalone, Cluster), told apart by per-test key prefixes (Prefix). Servers listen
// on 127.0.0.1 only, keep no data on disk beyond a temporary folder, and die with the test
// binary.
//
// When redis-server is not installed the tests that need it are skipped, except under CI=true,
// where they fail: CI installs redis-server, so a missing binary there is a broken setup.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Binary returns the path of redis-server. Without one it skips t, or fails it when the
// environment variable CI is "true".
func Binary(t testing.TB) string {
	t.Helper()
	path, err := lookBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: %v (CI=true: install redis-server, e.g. apt-get install -y redis-server)", err)
		}
		t.Skipf("redistest: %v; install redis-server to run this test", err)
	}
	return path
}

func lookBinary() (string, error) {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redis-server not found (looked at /usr/bin/redis-server, $REDIS_SERVER and $PATH)")
	}
	return p, nil
}

// Server is one redis-server process on a loopback port.
type Server struct {
	// Addr is "127.0.0.1:port".
	Addr string
	Port int

	bin  string
	dir  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts a private redis-server for t, stopped when t ends. extra are more
// redis-server options, e.g. "--appendonly", "yes" for a server whose data survives Restart.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin := Binary(t)
	s, err := start(bin, t.TempDir(), false, extra)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Kill)
	return s
}

// start picks a free port and starts a server, retrying when another process takes the port
// first.
func start(bin, dir string, cluster bool, extra []string) (*Server, error) {
	var last error
	for attempt := 0; attempt < 8; attempt++ {
		port, err := freePort(cluster)
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, bin: bin, dir: dir}
		s.args = []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
			"--dir", dir, "--logfile", "redis.log", "--daemonize", "no",
			"--save", "", "--appendonly", "no",
		}
		if cluster {
			s.args = append(s.args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes-"+strconv.Itoa(port)+".conf",
				"--cluster-node-timeout", "3000")
		}
		s.args = append(s.args, extra...)
		if last = s.launch(); last == nil {
			return s, nil
		}
	}
	return nil, last
}

// launch starts the process and waits until it answers PING.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr()
	if err := spawn(cmd); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited at start: %s", s.Port, s.logTail())
		default:
		}
		if ping(s.Addr) == nil {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server on port %d did not answer within 10s: %s", s.Port, s.logTail())
}

// Kill stops the server at once (SIGKILL), as a crash would. Safe to call twice.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same port and folder after Kill.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond) // the port may linger briefly
	}
	t.Fatalf("redistest: restart: %v", err)
}

// Running reports whether the process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// ping sends PING without a client library and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected PING answer %q", strings.TrimSpace(line))
	}
	return nil
}

// freePort returns a loopback port that is free now; for a cluster node, port+10000 (its bus
// port) is free too.
func freePort(cluster bool) (int, error) {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !cluster {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("no free port pair for a cluster node")
}

// Shared servers: started once per test binary, killed when it exits.
var (
	sharedMu      sync.Mutex
	standalone    *Server
	standaloneErr error
	cluster       []*Server
	clusterErr    error
	prefixSeq     atomic.Int64
)

// Standalone returns the address of the redis-server shared by the tests of this binary.
// Tests sharing it keep their keys apart with Prefix.
func Standalone(t testing.TB) string {
	t.Helper()
	bin := Binary(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if standalone == nil && standaloneErr == nil {
		standalone, standaloneErr = start(bin, sharedDir(), false, nil)
	}
	if standaloneErr != nil {
		t.Fatalf("redistest: shared server: %v", standaloneErr)
	}
	return standalone.Addr
}

// Cluster returns the addresses of the 3-master Redis Cluster shared by the tests of this
// binary (no replicas; every slot assigned; cluster_state:ok).
func Cluster(t testing.TB) []string {
	t.Helper()
	bin := Binary(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if cluster == nil && clusterErr == nil {
		cluster, clusterErr = startCluster(bin, sharedDir(), 3)
	}
	if clusterErr != nil {
		t.Fatalf("redistest: shared cluster: %v", clusterErr)
	}
	addrs := make([]string, len(cluster))
	for i, s := range cluster {
		addrs[i] = s.Addr
	}
	return addrs
}

func startCluster(bin, dir string, n int) ([]*Server, error) {
	var nodes []*Server
	fail := func(err error) ([]*Server, error) {
		for _, s := range nodes {
			s.Kill()
		}
		return nil, err
	}
	for i := 0; i < n; i++ {
		s, err := start(bin, dir, true, nil)
		if err != nil {
			return fail(err)
		}
		nodes = append(nodes, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients := make([]*redis.Client, n)
	for i, s := range nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2, DisableIdentity: true})
		defer clients[i].Close()
	}
	for i, c := range clients {
		lo, hi := i*16384/n, (i+1)*16384/n-1
		if err := c.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			return fail(fmt.Errorf("cluster addslots: %w", err))
		}
		if err := c.Do(ctx, "cluster", "set-config-epoch", i+1).Err(); err != nil {
			return fail(fmt.Errorf("cluster set-config-epoch: %w", err))
		}
	}
	for _, s := range nodes[1:] {
		if err := clients[0].ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(s.Port)).Err(); err != nil {
			return fail(fmt.Errorf("cluster meet: %w", err))
		}
	}
	for {
		ready := true
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return fail(fmt.Errorf("cluster info: %w", err))
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r") {
				ready = false
				break
			}
			slots, err := c.ClusterSlots(ctx).Result()
			if err != nil || len(slots) != n {
				ready = false
				break
			}
		}
		if ready {
			return nodes, nil
		}
		select {
		case <-ctx.Done():
			return fail(errors.New("cluster did not reach cluster_state:ok within 30s"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Prefix returns a key prefix unique to t within this test binary (ending in ":"), for tests
// sharing a server. When t ends, its keys are deleted from the shared servers.
func Prefix(t testing.TB) string {
	t.Helper()
	p := fmt.Sprintf("t%d:", prefixSeq.Add(1))
	t.Cleanup(func() { deletePrefix(p) })
	return p
}

func deletePrefix(prefix string) {
	sharedMu.Lock()
	var addrs [][]string
	if standalone != nil {
		addrs = append(addrs, []string{standalone.Addr})
	}
	if cluster != nil {
		var cl []string
		for _, s := range cluster {
			cl = append(cl, s.Addr)
		}
		addrs = append(addrs, cl)
	}
	sharedMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, a := range addrs {
		c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: a, IsClusterMode: len(a) > 1, DisableIdentity: true})
		del := func(ctx context.Context, c redis.UniversalClient) error {
			iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
			return iter.Err()
		}
		if cc, ok := c.(*redis.ClusterClient); ok {
			_ = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return del(ctx, m) })
		} else {
			_ = del(ctx, c)
		}
		_ = c.Close()
	}
}

// Client returns a go-redis client for addrs (a cluster client for several), closed when t
// ends.
func Client(t testing.TB, addrs ...string) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, IsClusterMode: len(addrs) > 1, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var sharedDirOnce = sync.OnceValue(func() string {
	sweepStale()
	dir, err := os.MkdirTemp("", fmt.Sprintf("redistest-%d-", os.Getpid()))
	if err != nil {
		return os.TempDir()
	}
	return dir
})

func sharedDir() string { return sharedDirOnce() }

// sweepStale removes the folders of shared servers whose test binary has exited.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "redistest-*-*"))
	for _, d := range dirs {
		parts := strings.SplitN(filepath.Base(d), "-", 3)
		if len(parts) != 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

// StartSentinel starts a private Sentinel watching master under the name "mymaster" (quorum
// 1), stopped when t ends, and returns its address once it knows the master.
func StartSentinel(t testing.TB, master *Server) string {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	var last error
	for attempt := 0; attempt < 8; attempt++ {
		port, err := freePort(false)
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", port))
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\nsentinel down-after-milliseconds mymaster 2000\n", port, dir, master.Port)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, bin: bin, dir: dir,
			args: []string{conf, "--sentinel", "--logfile", "sentinel.log"}}
		if last = s.launch(); last != nil {
			continue
		}
		t.Cleanup(s.Kill)
		c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
		defer c.Close()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if addr, err := c.GetMasterAddrByName(context.Background(), "mymaster").Result(); err == nil && len(addr) == 2 {
				return s.Addr
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("redistest: sentinel on %s does not know the master", s.Addr)
	}
	t.Fatalf("redistest: sentinel: %v", last)
	return ""
}
