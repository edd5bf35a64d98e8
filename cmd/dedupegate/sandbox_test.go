package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/registration"
)

const sandboxTestToken = "sandbox-test-token-0123456789"

func startTestSandbox(t *testing.T) *sandbox {
	t.Helper()
	t.Setenv("DEDUPEGATE_WEBHOOK_SECRET", "")
	sb, err := startSandbox(context.Background(), sandboxOptions{Listen: "127.0.0.1:0", Token: sandboxTestToken, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sb.Close(ctx); err != nil {
			t.Log(err)
		}
	})
	return sb
}

// post creates a contact through the emulated Web API, as a newcomer's curl does.
func post(t *testing.T, sb *sandbox, token string, body map[string]any) (*http.Response, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", sb.URL+dataverse.APIPath+"contacts", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res, string(data)
}

// TestSandboxEndToEnd is the done-when: through the sandbox (emulator, registered
// steps, gateway, in-process index), a contact is saved, a near-duplicate of it is blocked, a
// distinct person is saved, and once the PostOperation step has indexed them, a near-duplicate
// of that person is blocked too.
func TestSandboxEndToEnd(t *testing.T) {
	sb := startTestSandbox(t)
	ctx := context.Background()
	wait := func() {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := sb.emu.WaitIdle(wctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := sb.emu.Count("contact"); n != 20 {
		t.Fatalf("%d seeded contacts, want 20", n)
	}
	if res, _ := post(t, sb, "wrong", map[string]any{"lastname": "x"}); res.StatusCode != 401 {
		t.Fatalf("wrong token: %d", res.StatusCode)
	}

	// A contact → 2xx; a near-duplicate of it → 4xx, nothing written.
	res, body := post(t, sb, sandboxTestToken, map[string]any{"firstname": "Evelyn", "lastname": "Harcourt",
		"emailaddress1": "evelyn.harcourt@mailbox.example", "telephone1": "+44 20 7946 0777", "birthdate": "1984-06-02"})
	if res.StatusCode != 204 {
		t.Fatalf("first create: %d %s", res.StatusCode, body)
	}
	wait()
	before := sb.emu.Count("contact")
	res, body = post(t, sb, sandboxTestToken, map[string]any{"firstname": "Evelyn", "lastname": "Harcourt",
		"emailaddress1": "Evelyn.Harcourt@MAILBOX.example"})
	if res.StatusCode < 400 || res.StatusCode > 499 || !strings.Contains(body, "409") {
		t.Fatalf("near-duplicate: %d %s", res.StatusCode, body)
	}
	if sb.emu.Count("contact") != before {
		t.Fatal("the blocked contact was written")
	}

	// The printed examples: a near-duplicate of a seeded contact is blocked; a distinct person
	// is saved; once the PostOperation step has run, a near-duplicate of them is blocked.
	ex := sb.examples()
	if len(ex) != 3 {
		t.Fatalf("%d examples", len(ex))
	}
	if res, body := post(t, sb, sandboxTestToken, ex[0].Body); res.StatusCode != 400 {
		t.Fatalf("example 1 (duplicate of a seed): %d %s", res.StatusCode, body)
	}
	res, body = post(t, sb, sandboxTestToken, ex[1].Body)
	if res.StatusCode != 204 || !strings.Contains(res.Header.Get("OData-EntityId"), "/contacts(") {
		t.Fatalf("example 2 (distinct person): %d %s", res.StatusCode, body)
	}
	wait()
	if res, body := post(t, sb, sandboxTestToken, ex[2].Body); res.StatusCode != 400 {
		t.Fatalf("example 3 (near-duplicate of the new person): %d %s", res.StatusCode, body)
	}

	// The registration the sandbox made is what status expects: no drift.
	plan, err := registration.Desired(sb.gw.Engine.Rules(), registration.Options{WebhookURL: sb.URL + sb.cfg.Webhook.Path, Auth: registrationAuth(sb.cfg)})
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := registration.Status(ctx, sb.client, plan)
	if err != nil || len(rep.Drift()) != 0 {
		t.Fatalf("sandbox registration drift: %v %v", rep.Drift(), err)
	}
}

func TestSandboxInstructions(t *testing.T) {
	sb := startTestSandbox(t)
	var out bytes.Buffer
	sb.instructions(&out)
	s := out.String()
	for _, want := range []string{"Authorization: Bearer " + sandboxTestToken, sb.URL + "/api/data/v9.2/contacts", "curl -i -X POST",
		"20 contacts", "10 accounts", "10 leads", "/api/v1/check"} {
		if !strings.Contains(s, want) {
			t.Errorf("instructions lack %q:\n%s", want, s)
		}
	}
	// The check API command explains the block.
	ex := sb.examples()[0]
	b, _ := json.Marshal(map[string]any{"entity": "contact", "attributes": ex.Body})
	req, _ := http.NewRequest("POST", sb.URL+"/api/v1/check", bytes.NewReader(b))
	req.Header.Set("X-API-Key", sb.cfg.CheckAPI.APIKeys[0].Value())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ans struct {
		Decision string `json:"decision"`
		Matches  []struct {
			Reasons []string `json:"reasons"`
		} `json:"matches"`
	}
	if err := json.NewDecoder(res.Body).Decode(&ans); err != nil || ans.Decision != "block" || len(ans.Matches) == 0 {
		t.Fatalf("check API: %d %+v %v", res.StatusCode, ans, err)
	}
}

func TestSandboxRefusesNonLoopback(t *testing.T) {
	if _, err := startSandbox(context.Background(), sandboxOptions{Listen: "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("non-loopback listen: %v", err)
	}
}
