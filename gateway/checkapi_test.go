package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/dataverse/emulator"
	"github.com/dedupegate/dedupegate/gateway"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

const (
	testSecret = "gateway-test-webhook-secret-0123"
	testAPIKey = "gateway-test-api-key-0123456789"
	robertID   = "6d81597f-0f9f-e711-8122-000d3aa2331c"
)

// newCheckGateway wires a gateway from extra YAML over the shipped rules and an index holding
// Robert Smith, and serves it on loopback.
func newCheckGateway(t *testing.T, extra string, opts ...gateway.Option) (string, *config.Config) {
	t.Helper()
	yaml := fmt.Sprintf("webhook:\n  auth:\n    secrets: [%s]\n", testSecret) + extra
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
		"fullname": "Robert Smith", "emailaddress1": "robert.smith@fabrikam.co.uk"}}
	if err := index.File(context.Background(), idx, set, robert); err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(context.Background(), cfg, zap.NewNop(), append([]gateway.Option{gateway.WithRules(set), gateway.WithIndex(idx)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g.Echo)
	t.Cleanup(srv.Close)
	return srv.URL, cfg
}

func postJSON(t *testing.T, url string, hdr map[string]string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, data, err)
	}
	return resp.StatusCode, out
}

// createPayload is a synchronous PreValidation Create of contact Robert Smith by userID, with
// tag as the `tag` shared variable.
func createPayload(userID, aad, tag string) []byte {
	shared := []any{}
	if tag != "" {
		shared = append(shared, map[string]any{"key": "tag", "value": tag})
	}
	b, _ := json.Marshal(map[string]any{
		"CorrelationId": "b374239d-4233-41a9-8b17-a86cb4f737b5", "Depth": 1, "InitiatingUserId": userID,
		"InitiatingUserAzureActiveDirectoryObjectId": aad, "UserId": userID, "MessageName": "Create", "Mode": 0, "Stage": 10,
		"PrimaryEntityName": "contact", "PrimaryEntityId": "00000000-0000-0000-0000-000000000000",
		"RequestId": "0f3c6a2e-55b1-4c5e-9a4c-1c2d3e4f5a6b", "OperationId": "4af10637-4ea2-e711-8122-000d3aa2331c",
		"InputParameters": []any{map[string]any{"key": "Target", "value": map[string]any{
			"__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts", "LogicalName": "contact",
			"Id": "00000000-0000-0000-0000-000000000000", "Attributes": []any{
				map[string]any{"key": "firstname", "value": "Robert"}, map[string]any{"key": "lastname", "value": "Smith"},
				map[string]any{"key": "emailaddress1", "value": "robert.smith@fabrikam.co.uk"}}}}},
		"SharedVariables": shared, "PreEntityImages": []any{}, "PostEntityImages": []any{}, "OutputParameters": []any{},
	})
	return b
}

// A flow asks the check API (API key, naming the user it saves as), gets a token, and passes
// it as the tag parameter of its Create: the webhook lets that one save through.
func TestCheckAPIWiredToWebhook(t *testing.T) {
	url, cfg := newCheckGateway(t, fmt.Sprintf(`check_api:
  enabled: true
  api_keys: [%s]
  override:
    secret: gateway-test-override-secret-0123456789
    api_keys_may_override: true
`, testAPIKey))
	flowUser := "5b5b5b5b-0000-0000-0000-000000000000"
	check, _ := json.Marshal(map[string]any{"entity": "contact", "entry_point": "integration", "user_id": flowUser,
		"attributes": map[string]any{"firstname": "Robert", "lastname": "Smith", "emailaddress1": "robert.smith@fabrikam.co.uk"}})
	status, out := postJSON(t, url+"/api/v1/check", map[string]string{"X-API-Key": testAPIKey}, check)
	if status != 200 || out["decision"] == "allow" {
		t.Fatalf("check: %d %v", status, out)
	}
	ov, _ := out["override"].(map[string]any)
	token, _ := ov["token"].(string)
	if token == "" {
		t.Fatalf("no override token: %v", out)
	}
	hook := url + cfg.Webhook.Path
	secret := map[string]string{"x-dedupegate-secret": testSecret}
	if status, r := postJSON(t, hook, secret, createPayload(flowUser, "", "")); status != http.StatusConflict {
		t.Fatalf("save without the token: %d %v", status, r)
	}
	if status, r := postJSON(t, hook, secret, createPayload(flowUser, "", token)); status != http.StatusOK || r["overridden"] != true {
		t.Fatalf("save with the token: %d %v", status, r)
	}
	if status, r := postJSON(t, hook, secret, createPayload(flowUser, "", token)); status != http.StatusConflict || !strings.Contains(fmt.Sprint(r["override_error"]), "already used") {
		t.Fatalf("replayed token: %d %v", status, r)
	}
	// The check API's auth also guards nothing else by accident: no key, no answer.
	if status, _ := postJSON(t, url+"/api/v1/check", nil, check); status != http.StatusUnauthorized {
		t.Fatalf("check without credentials: %d", status)
	}
}

// Without check_api.enabled the routes do not exist, and without an override secret the
// webhook refuses tokens.
func TestCheckAPIOff(t *testing.T) {
	url, _ := newCheckGateway(t, "")
	body := []byte(`{"entity":"contact","attributes":{"firstname":"Robert","lastname":"Smith"}}`)
	if status, r := postJSON(t, url+"/api/v1/check", map[string]string{"X-API-Key": testAPIKey}, body); status < 400 || r["decision"] != nil {
		t.Fatalf("check API answered %d %v while disabled", status, r)
	}
	status, r := postJSON(t, url+"/webhooks/dataverse", map[string]string{"x-dedupegate-secret": testSecret}, createPayload(emulator.SampleUserID, "", "dg1.x.y"))
	if status != http.StatusConflict || r["override_error"] != "overrides are not enabled" {
		t.Fatalf("%d %v", status, r)
	}
}

// After the webhook blocks a save, the initiating user gets an in-app notification in
// Dataverse (the emulator) naming the match, created after the answer.
func TestAppNotificationAfterWebhookBlock(t *testing.T) {
	emu, err := emulator.New(emulator.Config{Token: "app-token"})
	if err != nil {
		t.Fatal(err)
	}
	dvSrv := httptest.NewServer(emu)
	defer dvSrv.Close()
	client, err := dataverse.New(context.Background(), config.Dataverse{URL: dvSrv.URL, Auth: config.DataverseAuth{Method: "static_token", Token: "app-token"}})
	if err != nil {
		t.Fatal(err)
	}
	// The matched contact exists in Dataverse too (the user may read it).
	if _, err := emu.Insert("contact", map[string]any{"contactid": robertID, "firstname": "Robert", "lastname": "Smith"}); err != nil {
		t.Fatal(err)
	}
	url, cfg := newCheckGateway(t, "check_api:\n  app_notifications:\n    enabled: true\n    delay: 10ms\n", gateway.WithRowReader(client))
	start := time.Now()
	status, _ := postJSON(t, url+cfg.Webhook.Path, map[string]string{"x-dedupegate-secret": testSecret},
		createPayload(emulator.SampleUserID, emulator.SampleUserAADID, ""))
	answered := time.Since(start)
	if status != http.StatusConflict {
		t.Fatalf("webhook: %d", status)
	}
	var rows []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for len(rows) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		rows = nil
		if err := client.List(context.Background(), "appnotification", dataverse.Query{}, func(p []map[string]any) error {
			rows = append(rows, p...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(rows) != 1 {
		t.Fatalf("%d notifications (webhook answered in %v)", len(rows), answered)
	}
	if rows[0]["_ownerid_value"] != emulator.SampleUserID || !strings.Contains(rows[0]["body"].(string), "Robert Smith") {
		t.Fatalf("notification %v", rows[0])
	}
}
