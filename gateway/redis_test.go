package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse/emulator"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/webhook"
)

const restartSecret = "s3cret-value-for-tests-0001"

// startRedisGateway starts a gateway over the Redis index at addr, reading Dataverse at dvURL.
func startRedisGateway(t *testing.T, addr, dvURL, token string) (*Gateway, *httptest.Server) {
	t.Helper()
	return newRedisGateway(t, addr, "restart:", false, dvURL, token)
}

// newRedisGateway starts a gateway over the Redis index at addr under prefix (keeping a
// replica of it if replica), syncing from the Dataverse at dvURL every 100 ms (none if empty).
func newRedisGateway(t *testing.T, addr, prefix string, replica bool, dvURL, token string) (*Gateway, *httptest.Server) {
	t.Helper()
	yaml := `
webhook:
  auth:
    secrets: [` + restartSecret + `]
decision:
  deadline: 400ms
  failure_policy: open
index:
  backend: redis
  sync_interval: 100ms
  redis:
    addrs: [` + addr + `]
    prefix: "` + prefix + `"
    replica: ` + strconv.FormatBool(replica) + `
`
	if dvURL != "" {
		yaml += `dataverse:
  url: ` + dvURL + `
  auth:
    method: static_token
    token: ` + token + `
`
	}
	cfg, err := config.Parse([]byte(yaml), "redis-test.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(t.Context(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Echo)
	return g, srv
}

// emulatorWithRobert starts a Dataverse emulator holding one contact, Robert Smith (the
// person create-duplicate.json re-enters).
func emulatorWithRobert(t *testing.T, token, org string) (*emulator.Emulator, *httptest.Server) {
	t.Helper()
	emu, err := emulator.New(emulator.Config{Token: token, OrganizationName: org})
	if err != nil {
		t.Fatal(err)
	}
	dv := httptest.NewServer(emu)
	t.Cleanup(dv.Close)
	if _, err := emu.Insert("contact", map[string]any{"firstname": "Robert", "lastname": "Smith",
		"emailaddress1": "robert.smith@example.com", "telephone1": "+44 20 7946 0958"}); err != nil {
		t.Fatal(err)
	}
	return emu, dv
}

func postFixture(t *testing.T, url, fixture string) (int, webhook.Response, time.Duration) {
	t.Helper()
	body, err := os.ReadFile("../webhook/testdata/" + fixture)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, r := postBody(t, url, body)
	return status, r, time.Since(start)
}

// postBody posts a webhook body with the tests' secret and decodes the answer.
func postBody(t *testing.T, url string, body []byte) (int, webhook.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/dataverse", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-dedupegate-secret", restartSecret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r webhook.Response
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, r
}

// waitFor polls the duplicate fixture until it gets want, or fails after 15 s.
func waitFor(t *testing.T, url string, want int, why string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, r, _ := postFixture(t, url, "create-duplicate.json")
		if status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %d %+v", why, status, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRestartAndRedisOutage is issue 4's restart test: decisions survive a gateway restart
// (the index lives in Redis); with Redis killed mid-load, decisions follow the failure policy
// within the deadline; once Redis is back (empty), the periodic sync heals the index and
// duplicates are blocked again.
func TestRestartAndRedisOutage(t *testing.T) {
	rds := redistest.Start(t)
	const token = "restart-test-token-0123456789"
	emu, dv := emulatorWithRobert(t, token, "restarttest")

	g1, srv1 := startRedisGateway(t, rds.Addr, dv.URL, token)
	waitFor(t, srv1.URL, http.StatusConflict, "first gateway: sync from Dataverse into Redis")
	if status, r, _ := postFixture(t, srv1.URL, "create-unique.json"); status != http.StatusOK || r.Result != "allow" {
		t.Fatalf("unique person: %d %+v", status, r)
	}
	srv1.Close()
	if err := g1.Close(); err != nil {
		t.Fatal(err)
	}

	// A restarted gateway answers from Redis at once (before any sync could run: 0 ms wait).
	g2, srv2 := startRedisGateway(t, rds.Addr, dv.URL, token)
	t.Cleanup(func() { srv2.Close(); _ = g2.Close() })
	if status, r, _ := postFixture(t, srv2.URL, "create-duplicate.json"); status != http.StatusConflict {
		t.Fatalf("after gateway restart: %d %+v", status, r)
	}

	// Redis down: the failure policy (open) decides, within the deadline (400 ms).
	rds.Kill()
	for range 5 {
		status, r, took := postFixture(t, srv2.URL, "create-duplicate.json")
		if status == http.StatusOK && r.Fallback == "fail-open" {
			if took > 1200*time.Millisecond {
				t.Fatalf("fail-open answer took %v, deadline 400ms", took)
			}
			t.Logf("Redis down: fail-open in %v", took)
			break
		}
		if status == http.StatusConflict {
			// The Dataverse fallback query answered in the index's place: also within policy.
			if r.Fallback != "" || took > 1200*time.Millisecond {
				t.Fatalf("blocked with fallback %q after %v", r.Fallback, took)
			}
			t.Logf("Redis down: the Dataverse fallback query blocked in %v", took)
			break
		}
		t.Fatalf("Redis down: %d %+v", status, r)
	}
	// Redis and Dataverse both failing: the failure policy (open) decides, within the deadline.
	emu.Fail(30, http.StatusBadRequest)
	failOpen := false
	for range 10 {
		status, r, took := postFixture(t, srv2.URL, "create-duplicate.json")
		if took > 1200*time.Millisecond {
			t.Fatalf("answer took %v, deadline 400ms", took)
		}
		if status == http.StatusOK && r.Fallback == "fail-open" {
			failOpen = true
			t.Logf("Redis and Dataverse down: fail-open in %v", took)
			break
		}
	}
	if !failOpen {
		t.Fatal("with Redis and Dataverse failing, no decision followed the fail-open policy")
	}
	// Whatever answered, it answered in time, and /readyz says Redis is down.
	res, err := http.Get(srv2.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with Redis down: %d", res.StatusCode)
	}

	// Redis back, empty: the periodic sync refills it and duplicates are blocked again.
	rds.Restart(t)
	waitFor(t, srv2.URL, http.StatusConflict, "after Redis returned empty: healed by sync")
}
