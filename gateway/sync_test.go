package gateway

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
)

// TestServeSyncsFromDataverse: a gateway configured with a Dataverse URL (here the emulator on
// loopback) and the in-process index loads the candidate tables by itself through the periodic
// sync, so a duplicate of a row that exists only in Dataverse is blocked.
func TestServeSyncsFromDataverse(t *testing.T) {
	const token = "sync-test-token-0123456789"
	_, dv := emulatorWithRobert(t, token, "synctest")
	cfg, err := config.Parse([]byte(`
webhook:
  auth:
    secrets: [s3cret-value-for-tests-0001]
index:
  sync_interval: 50ms
dataverse:
  url: `+dv.URL+`
  auth:
    method: static_token
    token: `+token+`
`), "sync-test.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(t.Context(), cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g.Echo)
	t.Cleanup(srv.Close)

	body, err := os.ReadFile("../webhook/testdata/create-duplicate.json")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/dataverse", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-dedupegate-secret", "s3cret-value-for-tests-0001")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusConflict {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("duplicate of a Dataverse row still answered %d after 10s of sync", res.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(b.String(), `"dataverse":"ok"`) {
		t.Errorf("readyz %d %s", res.StatusCode, b.String())
	}
}
