package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse/emulator"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

const syncTestToken = "sync-test-token-0123456789"

// syncEnv is an emulator with contacts, a redis-server and a gateway config pointing at both.
type syncEnv struct {
	emu    *emulator.Emulator
	cfg    string
	redis  string
	prefix string
}

func newSyncEnv(t *testing.T, contacts int) *syncEnv {
	t.Helper()
	emu, err := emulator.New(emulator.Config{Token: syncTestToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = emu.Close(ctx)
		srv.Close()
	})
	for i := 0; i < contacts; i++ {
		if _, err := emu.Insert("contact", map[string]any{"firstname": fmt.Sprintf("Zoë%d", i), "lastname": "Ó Briain",
			"emailaddress1": fmt.Sprintf("zoe.%d@fabrikam.org", i), "mobilephone": fmt.Sprintf("+44 7700 9%05d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	e := &syncEnv{emu: emu, redis: redistest.Standalone(t), prefix: redistest.Prefix(t)}
	e.cfg = filepath.Join(t.TempDir(), "dedupegate.yaml")
	yaml := fmt.Sprintf(`webhook:
  auth:
    secrets: ["a-webhook-secret-of-some-length"]
log:
  level: warn
dataverse:
  url: %s
  auth:
    method: static_token
    token: %s
index:
  backend: redis
  redis:
    addrs: ["%s"]
    prefix: "%s"
`, srv.URL, syncTestToken, e.redis, e.prefix)
	if err := os.WriteFile(e.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// findEmail looks a contact up in the Redis index by e-mail, as the engine would.
func (e *syncEnv) findEmail(t *testing.T, email string) []matcher.Record {
	t.Helper()
	cfg, err := config.Load(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := loadSyncRules(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	x, err := redisindex.New(cfg.Index.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	probe := matcher.Record{Entity: "contact", Attrs: map[string]string{"emailaddress1": email}}
	var keys []string
	for _, r := range set.ForEntity("contact") {
		keys = append(keys, r.Matcher.BlockingKeys(r.Matcher.Prepare(probe))...)
	}
	if len(keys) == 0 {
		t.Fatal("the shipped rules give an e-mail address no key")
	}
	res, err := x.Lookup(t.Context(), rules.Lookup{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.Records {
		res.Records[i] = r.Unpacked() // the index hands attributes out packed
	}
	return res.Records
}

func runSyncCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), append([]string{"sync"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSyncCommandLoadsAndResumes(t *testing.T) {
	e := newSyncEnv(t, 1500)
	code, out, errOut := runSyncCmd(t, "--config", e.cfg, "--table", "contact")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !regexp.MustCompile(`^contact: 1500 rows loaded \(full\) in .*rows/s; 0 removed; watermark 20`).MatchString(out) {
		t.Fatalf("first run output: %q", out)
	}
	if errOut != "" {
		t.Fatalf("a piped run drew on stderr: %q", errOut)
	}
	recs := e.findEmail(t, "zoe.1234@fabrikam.org")
	if len(recs) != 1 || recs[0].Attrs["firstname"] != "Zoë1234" || recs[0].Attrs["lastname"] != "Ó Briain" {
		t.Fatalf("contact after sync: %+v", recs)
	}
	// Second run: incremental from the stored watermark.
	code, out, errOut = runSyncCmd(t, "--config", e.cfg)
	if code != exitOK || !strings.Contains(out, "(incremental, since ") {
		t.Fatalf("second run: exit %d, %q %q", code, out, errOut)
	}
	// --full removes what Dataverse no longer has.
	x, _ := redisindex.New(config.Redis{Addrs: []string{e.redis}, Prefix: e.prefix})
	defer x.Close()
	if err := x.Upsert(t.Context(), matcher.Record{Entity: "contact", ID: "00000000-0000-4000-8000-00000000dead", Attrs: map[string]string{}}, []string{"orphan"}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runSyncCmd(t, "--config", e.cfg, "--full")
	if code != exitOK || !strings.Contains(out, "1500 rows loaded (full)") || !strings.Contains(out, "; 1 removed;") {
		t.Fatalf("full run: exit %d, %q", code, out)
	}
	var left []string
	_ = x.IDs(t.Context(), "contact", func(ids []string) error { left = append(left, ids...); return nil })
	if len(left) != 1500 {
		t.Fatalf("%d records left after the full run, want 1500", len(left))
	}
	var _ index.Enumerator = x
}

func TestSyncCommandUsage(t *testing.T) {
	e := newSyncEnv(t, 0)
	memCfg := filepath.Join(t.TempDir(), "mem.yaml")
	data, _ := os.ReadFile(e.cfg)
	_ = os.WriteFile(memCfg, bytes.Replace(data, []byte("backend: redis"), []byte("backend: memory"), 1), 0o600)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitUsage, "--config is required"},
		{[]string{"--config", e.cfg, "--table", "incident"}, exitUsage, `no rule searches table "incident"`},
		{[]string{"--config", memCfg}, exitUsage, "sync loads the shared Redis index"},
		{[]string{"--config", e.cfg, "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, exitUsage, "missing.yaml"},
	} {
		code, _, errOut := runSyncCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("sync %v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}

func TestSyncCommandRedisDown(t *testing.T) {
	e := newSyncEnv(t, 10)
	srv := redistest.Start(t)
	srv.Kill()
	data, _ := os.ReadFile(e.cfg)
	_ = os.WriteFile(e.cfg, bytes.Replace(data, []byte(e.redis), []byte(srv.Addr), 1), 0o600)
	code, _, errOut := runSyncCmd(t, "--config", e.cfg)
	if code != exitFailure || !strings.Contains(errOut, "sync: redis:") {
		t.Fatalf("redis down: exit %d, %q", code, errOut)
	}
}
