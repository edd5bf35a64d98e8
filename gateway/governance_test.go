package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/admin"
	"github.com/dedupegate/dedupegate/audit"
	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/gateway"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

const govAPIKey = "governance-test-api-key-0123456789"

// governanceGateway serves a gateway on a loopback listener with the check API's API-key auth
// on, the shipped rules, and Robert Smith (as in webhook/testdata/create-duplicate.json) indexed.
func governanceGateway(t *testing.T, extra string) (*gateway.Gateway, string) {
	t.Helper()
	return loggedGateway(t, extra, zap.NewNop())
}

// loggedGateway is governanceGateway logging to log.
func loggedGateway(t *testing.T, extra string, log *zap.Logger) (*gateway.Gateway, string) {
	t.Helper()
	yaml := fmt.Sprintf("webhook:\n  auth:\n    secrets: [%s]\ncheck_api:\n  enabled: true\n  api_keys: [%s]\n", testSecret, govAPIKey) + extra
	cfg, err := config.Parse([]byte(yaml), "test.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Parse(configs.DefaultRules, "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := index.NewMemory()
	robert := matcher.Record{Entity: "contact", ID: robertID, Attrs: map[string]string{"firstname": "Robert", "lastname": "Smith",
		"fullname": "Robert Smith", "emailaddress1": "robert.smith@example.com", "telephone1": "+44 20 7946 0958", "birthdate": "1969-12-31"}}
	if err := index.File(t.Context(), idx, set, robert); err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(t.Context(), cfg, log, gateway.WithRules(set), gateway.WithIndex(idx))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g.Echo}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return g, "http://" + ln.Addr().String()
}

// postDuplicate sends webhook/testdata/create-duplicate.json (Robert Smith again) to the
// gateway at url with the webhook secret and headers, and requires the block.
func postDuplicate(t *testing.T, url string, headers map[string]string) {
	t.Helper()
	body, err := os.ReadFile("../webhook/testdata/create-duplicate.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/dataverse", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-dedupegate-secret", testSecret)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("the duplicate was not blocked: %d", resp.StatusCode)
	}
}

func govGet(t *testing.T, url, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestGovernanceWiring sends a real duplicate Create through the webhook and follows it into
// the metrics, the audit trail (behind the check API's auth) and the dashboard.
func TestGovernanceWiring(t *testing.T) {
	g, url := governanceGateway(t, "")
	postDuplicate(t, url, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := g.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Metrics: the block, by the shipped contact rule, from a form user.
	code, m := govGet(t, url+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, s := range []string{
		`dedupegate_decisions_total{entry_point="form",outcome="block",rule="contact-duplicate",table="contact"} 1`,
		`dedupegate_audit_entries_total{kind="block"} 1`,
		`dedupegate_index_records 1`,
		`dedupegate_decision_duration_seconds_count{table="contact"} 1`,
	} {
		if !strings.Contains(string(m), s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}

	// Audit API: refused without the key, the entry with it.
	if code, _ := govGet(t, url+"/api/v1/audit", ""); code != http.StatusUnauthorized {
		t.Fatalf("audit without a key: %d", code)
	}
	code, b := govGet(t, url+"/api/v1/audit?since=1h", govAPIKey)
	if code != http.StatusOK {
		t.Fatalf("audit: %d %s", code, b)
	}
	var ar admin.AuditResponse
	if err := json.Unmarshal(b, &ar); err != nil {
		t.Fatal(err)
	}
	if ar.Count != 1 {
		t.Fatalf("want 1 entry, got %s", b)
	}
	e := ar.Entries[0]
	if e.Kind != audit.KindBlock || e.Table != "contact" || e.CorrelationID != "b374239d-4233-41a9-8b17-a86cb4f737b5" ||
		e.UserID != "75c2dd85-e89e-e711-8122-000d3aa2331c" || e.EntryPoint != "form" || len(e.Matches) != 1 ||
		e.Matches[0].ID != robertID || e.Matches[0].Rule != "contact-duplicate" || e.Matches[0].Name != "" {
		t.Fatalf("entry %+v", e)
	}
	lower := strings.ToLower(string(b))
	for _, v := range []string{"robert", "smith", "example.com", "7946"} {
		if strings.Contains(lower, v) {
			t.Errorf("the masked entry carries %q: %s", v, b)
		}
	}

	code, b = govGet(t, url+"/api/v1/stats?since=1h", govAPIKey)
	var st admin.StatsResponse
	if code != http.StatusOK || json.Unmarshal(b, &st) != nil || st.Summary.Totals.Block != 1 || st.Store != "memory" || st.Health.Dependencies == nil {
		t.Fatalf("stats: %d %s", code, b)
	}

	// The dashboard, in a real browser, with the check API's key.
	bin := chromiumPath(t)
	out := runChromium(t, bin, url+"/ui#key="+govAPIKey, "--dump-dom")
	for _, s := range []string{`data-state="ready"`, ">b374239d-4233-41a9-8b17-a86cb4f737b5<", "contact-duplicate · blocks (1)", `id="svg-table"`} {
		if !strings.Contains(out, s) {
			t.Errorf("dashboard lacks %q", s)
		}
	}
}

// TestAuditDisabled: no trail, no entries; the routes say so.
func TestAuditDisabled(t *testing.T) {
	g, url := governanceGateway(t, "audit:\n  enabled: false\n")
	if g.Audit != nil {
		t.Fatal("trail built while disabled")
	}
	if code, _ := govGet(t, url+"/api/v1/audit", govAPIKey); code != http.StatusNotFound {
		t.Fatalf("audit while disabled: %d", code)
	}
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found (CI=true: install it, e.g. apt-get install -y chromium)")
	}
	t.Skip("chromium not found; install it to run the dashboard check")
	return ""
}

func runChromium(t *testing.T, bin, url string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,900", "--virtual-time-budget=10000"}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v: %s", err, e.String())
	}
	return o.String()
}
