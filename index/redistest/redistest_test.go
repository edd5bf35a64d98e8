package redistest_test

import (
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/index/redistest"
)

func TestStandaloneSharedAndPrefix(t *testing.T) {
	a := redistest.Standalone(t)
	if b := redistest.Standalone(t); a != b {
		t.Fatalf("shared server changed: %s then %s", a, b)
	}
	if !strings.HasPrefix(a, "127.0.0.1:") {
		t.Fatalf("not loopback: %s", a)
	}
	p1, p2 := redistest.Prefix(t), redistest.Prefix(t)
	if p1 == p2 {
		t.Fatalf("prefixes not unique: %q", p1)
	}
	c := redistest.Client(t, a)
	if err := c.Set(t.Context(), p1+"x", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(t.Context(), p1+"x").Result(); err != nil || v != "1" {
		t.Fatalf("get: %q %v", v, err)
	}
}

func TestClusterIsUsable(t *testing.T) {
	addrs := redistest.Cluster(t)
	if len(addrs) != 3 {
		t.Fatalf("want 3 masters, got %v", addrs)
	}
	c := redistest.Client(t, addrs...)
	info, err := c.ClusterInfo(t.Context()).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") {
		t.Fatalf("cluster info: %q %v", info, err)
	}
	p := redistest.Prefix(t)
	// Keys spread over all three masters.
	for i := 0; i < 50; i++ {
		k := p + string(rune('a'+i%26)) + strings.Repeat("x", i)
		if err := c.Set(t.Context(), k, i, 0).Err(); err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
	}
	masters := map[string]int64{}
	for _, a := range addrs {
		n, err := redistest.Client(t, a).DBSize(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		masters[a] = n
	}
	for a, n := range masters {
		if n == 0 {
			t.Errorf("master %s holds no key: slots not spread (%v)", a, masters)
		}
	}
}

func TestStartKillRestart(t *testing.T) {
	s := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c := redistest.Client(t, s.Addr)
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if s.Running() {
		t.Fatal("still running after Kill")
	}
	if err := c.Get(t.Context(), "k").Err(); err == nil {
		t.Fatal("get succeeded against a killed server")
	}
	s.Restart(t)
	if v, err := c.Get(t.Context(), "k").Result(); err != nil || v != "v" {
		t.Fatalf("after restart (append-only file): %q %v", v, err)
	}
}
