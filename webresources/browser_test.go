package webresources_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/entra/entratest"
	"github.com/dedupegate/dedupegate/gateway"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

const (
	webhookSecret = "browser-test-webhook-secret-0123"
	userOID       = "0a1b2c3d-0000-1111-2222-333344445555"
	userID        = "75c2dd85-e89e-e711-8122-000d3aa2331c"
	robertID      = "6d81597f-0f9f-e711-8122-000d3aa2331c"
)

// need returns the path of a tool the browser test needs; without it the test is skipped, or
// fails under CI=true (CI installs chromium and runs npm ci: a missing tool there is a broken
// setup, not a reason to pass).
func need(t *testing.T, what, path string, err error) string {
	t.Helper()
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not available (%v): install it (apt-get install -y chromium nodejs npm; cd webresources && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)", what, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestFormScriptInBrowser runs test/form.test.mjs: headless Chromium loads the form script in a
// fake model-driven form served from one loopback origin, and calls a real gateway (check API,
// Entra token auth, CORS) on another. The token that "Ignore and Save" attached is then
// presented to the gateway's webhook, as Dataverse would present the saved column: accepted
// once, refused when replayed or presented by another user.
func TestFormScriptInBrowser(t *testing.T) {
	node, err := exec.LookPath("node")
	need(t, "node", node, err)
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	_, err = os.Stat(chromium)
	need(t, "chromium", chromium, err)
	_, err = os.Stat(filepath.Join("node_modules", "playwright-core", "package.json"))
	need(t, "playwright-core (npm ci in webresources/)", "", err)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tenant := entratest.New(t)
	pages := httptest.NewServer(http.FileServer(http.Dir(".")))
	defer pages.Close()

	cfgYAML := fmt.Sprintf(`
webhook:
  auth:
    secrets: [%s]
  override_attribute: dg_overridetoken
check_api:
  enabled: true
  entra:
    tenant_id: %s
    audiences: [%s]
    issuers: [%s]
    jwks_url: %s
  cors_origins: [%s]
  override:
    secret: browser-test-override-secret-0123456789
`, webhookSecret, tenant.ID, tenant.Audience, tenant.Issuer(), tenant.JWKSURL(), pages.URL)
	cfg, err := config.Parse([]byte(cfgYAML), "browser-test.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Parse(configs.DefaultRules, "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := index.NewMemory()
	robert := matcher.Record{Entity: "contact", ID: robertID, Attrs: map[string]string{"firstname": "Robert", "lastname": "Smith",
		"fullname": "Robert Smith", "emailaddress1": "robert.smith@fabrikam.co.uk", "telephone1": "+44 20 7946 0018"}}
	contoso := matcher.Record{Entity: "account", ID: "a1b2c3d4-0000-4000-8000-00000000c001", Attrs: map[string]string{
		"name": "Contoso Pharmaceuticals Ltd", "telephone1": "+44 20 7946 0100", "address1_postalcode": "SW1A 1AA"}}
	for _, r := range []matcher.Record{robert, contoso} {
		if err := index.File(ctx, idx, set, r); err != nil {
			t.Fatal(err)
		}
	}
	g, err := gateway.New(ctx, cfg, zap.NewNop(), gateway.WithRules(set), gateway.WithIndex(idx))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g.Echo, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	gatewayURL := "http://" + ln.Addr().String()

	cmd := exec.CommandContext(ctx, node, "test/form.test.mjs")
	cmd.Env = append(os.Environ(), "PAGE_URL="+pages.URL, "GATEWAY_URL="+gatewayURL, "DUP_ID="+robertID,
		"TOKEN="+tenant.UserToken(t, userOID), "CHROMIUM="+chromium)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("browser tests (%v):\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if runErr != nil {
		t.Fatalf("node test/form.test.mjs: %v", runErr)
	}

	var saved map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), &saved); err != nil {
				t.Fatal(err)
			}
		}
	}
	if saved == nil {
		t.Fatal("the browser test printed no saved record")
	}

	// Dataverse sends the saved row to the webhook; the token travels in the override column.
	post := func(aadOID string) (int, map[string]any) {
		t.Helper()
		body := webhookPayload(t, saved, aadOID)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gatewayURL+cfg.Webhook.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-dedupegate-secret", webhookSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r map[string]any
		data, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		return resp.StatusCode, r
	}
	if status, r := post("ffffffff-0000-0000-0000-00000000beef"); status != http.StatusConflict || !strings.Contains(fmt.Sprint(r["override_error"]), "another user") {
		t.Fatalf("token presented by another user: %d %v", status, r)
	}
	if status, r := post(userOID); status != http.StatusOK || r["overridden"] != true {
		t.Fatalf("the browser's save with its token: %d %v", status, r)
	}
	if status, r := post(userOID); status != http.StatusConflict || !strings.Contains(fmt.Sprint(r["override_error"]), "already used") {
		t.Fatalf("replayed token: %d %v", status, r)
	}
}

// webhookPayload is a synchronous PreOperation Create of contact as Dataverse serialises it
// (see webhook/testdata), carrying the saved form values.
func webhookPayload(t *testing.T, saved map[string]any, aadOID string) []byte {
	t.Helper()
	var attrs []map[string]any
	for k, v := range saved {
		if v != nil {
			attrs = append(attrs, map[string]any{"key": k, "value": v})
		}
	}
	ctx := map[string]any{
		"BusinessUnitId": "e2b9dd85-e89e-e711-8122-000d3aa2331c", "CorrelationId": "b374239d-4233-41a9-8b17-a86cb4f737b5",
		"Depth": 1, "InitiatingUserAzureActiveDirectoryObjectId": aadOID, "InitiatingUserId": userID,
		"InputParameters": []map[string]any{{"key": "Target", "value": map[string]any{
			"__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts", "Attributes": attrs,
			"EntityState": nil, "FormattedValues": []any{}, "Id": "00000000-0000-0000-0000-000000000000",
			"KeyAttributes": []any{}, "LogicalName": "contact", "RelatedEntities": []any{}, "RowVersion": nil}}},
		"IsExecutingOffline": false, "IsInTransaction": true, "IsOfflinePlayback": false, "IsolationMode": 1,
		"MessageName": "Create", "Mode": 0, "OperationCreatedOn": "/Date(1764190000000+0000)/",
		"OperationId": "4af10637-4ea2-e711-8122-000d3aa2331c", "OrganizationId": "4ef5b371-e89e-e711-8122-000d3aa2331c",
		"OrganizationName": "OrgName", "OutputParameters": []any{}, "ParentContext": nil,
		"PostEntityImages": []any{}, "PreEntityImages": []any{}, "PrimaryEntityId": "00000000-0000-0000-0000-000000000000",
		"PrimaryEntityName": "contact", "RequestId": "0f3c6a2e-55b1-4c5e-9a4c-1c2d3e4f5a6b", "SecondaryEntityName": "none",
		"SharedVariables": []any{}, "Stage": 20, "UserAzureActiveDirectoryObjectId": aadOID, "UserId": userID,
	}
	b, err := json.Marshal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
