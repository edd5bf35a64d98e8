package checkapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/dedupegate/dedupegate/checkapi"
	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/entra"
	"github.com/dedupegate/dedupegate/entra/entratest"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/override"
	"github.com/dedupegate/dedupegate/rules"
)

const (
	apiKey    = "test-api-key-0123456789abcdef"
	oldAPIKey = "previous-api-key-0123456789abcdef"
	userOID   = "0a1b2c3d-0000-1111-2222-333344445555"
	robertID  = "6d81597f-0f9f-e711-8122-000d3aa2331c"
	aliceID   = "7e92608a-1aa0-4822-9233-111122223333"
	dynamics  = "https://contoso.crm.dynamics.com"
)

var seed = []matcher.Record{
	{Entity: "contact", ID: robertID, Attrs: map[string]string{"firstname": "Robert", "lastname": "Smith",
		"emailaddress1": "robert.smith@fabrikam.co.uk", "telephone1": "+44 20 7946 0018", "fullname": "Robert Smith"}},
	{Entity: "contact", ID: aliceID, Attrs: map[string]string{"firstname": "Alice", "lastname": "Jones",
		"emailaddress1": "alice.jones@tailspin.org", "fullname": "Alice Jones"}},
}

// robert is the attributes of a new contact that duplicates Robert Smith.
func robert() map[string]any {
	return map[string]any{"firstname": "Robert", "lastname": "Smith", "emailaddress1": "Robert.Smith@fabrikam.co.uk"}
}

type env struct {
	t      testing.TB
	url    string
	tenant *entratest.Tenant
	engine *rules.Engine
	tokens *override.Tokens
}

// newEnv starts the check API on a loopback server over the shipped default rules and an
// in-memory index holding seed, with a fake Entra tenant and an API key.
func newEnv(t testing.TB, mod func(*checkapi.Config)) *env {
	t.Helper()
	set, err := rules.Parse(configs.DefaultRules, "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := index.NewMemory()
	for _, r := range seed {
		if err := index.File(context.Background(), idx, set, r); err != nil {
			t.Fatal(err)
		}
	}
	tokens, err := override.New(override.Config{Secret: []byte(strings.Repeat("s", 40))})
	if err != nil {
		t.Fatal(err)
	}
	engine := rules.NewEngine(set, idx, rules.EngineConfig{}, rules.WithOverride(tokens))
	tn := entratest.New(t)
	v, err := entra.NewValidator(entra.Config{Issuers: []string{tn.Issuer()}, Audiences: []string{tn.Audience}, TenantID: tn.ID,
		Keys: entra.NewKeySet(entra.KeySetConfig{URL: tn.JWKSURL()})})
	if err != nil {
		t.Fatal(err)
	}
	cfg := checkapi.Config{
		Auth:        checkapi.NewAuthenticator(v, apiKey, oldAPIKey),
		Overrides:   tokens,
		CORSOrigins: []string{dynamics},
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := checkapi.New(cfg, engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(middleware.RequestID())
	h.Mount(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, tenant: tn, engine: engine, tokens: tokens}
}

// post sends body with the given headers and decodes the JSON answer into out (when not nil).
func (e *env) post(path string, body any, hdr map[string]string, out any) *http.Response {
	e.t.Helper()
	var b []byte
	switch x := body.(type) {
	case string:
		b = []byte(x)
	default:
		var err error
		if b, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s: %v", data, err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp
}

func (e *env) bearer(oid string, roles ...string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + e.tenant.UserToken(e.t, oid, roles...)}
}

func keyHdr() map[string]string { return map[string]string{"X-API-Key": apiKey} }

func body(r *http.Response) string { b, _ := io.ReadAll(r.Body); return string(b) }

func TestAuth(t *testing.T) {
	e := newEnv(t, nil)
	check := map[string]any{"entity": "contact", "attributes": robert()}
	expired := e.tenant.Claims(userOID)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	otherAud := e.tenant.Claims(userOID)
	otherAud["aud"] = "api://other"
	tests := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no credentials", nil, 401},
		{"unknown API key", map[string]string{"X-API-Key": "not-a-key-not-a-key-not-a-key"}, 401},
		{"API key", keyHdr(), 200},
		{"previous API key (rotation)", map[string]string{"X-API-Key": oldAPIKey}, 200},
		{"Entra token", e.bearer(userOID), 200},
		{"expired token", map[string]string{"Authorization": "Bearer " + e.tenant.Token(t, expired)}, 401},
		{"token for another audience", map[string]string{"Authorization": "Bearer " + e.tenant.Token(t, otherAud)}, 401},
		{"not a bearer token", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, 401},
		{"bearer without token", map[string]string{"Authorization": "Bearer "}, 401},
		{"garbage token", map[string]string{"Authorization": "Bearer a.b.c"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{checkapi.CheckPath, checkapi.BatchPath} {
				var b any = check
				if path == checkapi.BatchPath {
					b = map[string]any{"records": []any{check}}
				}
				resp := e.post(path, b, tt.hdr, nil)
				if resp.StatusCode != tt.want {
					t.Fatalf("%s: status %d, want %d: %s", path, resp.StatusCode, tt.want, body(resp))
				}
				if tt.want == 401 {
					if got := body(resp); strings.Contains(got, "robert") || !strings.Contains(got, "unauthorized") {
						t.Errorf("401 body %s", got)
					}
					if resp.Header.Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
				}
			}
		})
	}
}

func TestAuthKeySetDown(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.tenant.UserToken(t, userOID)
	e.tenant.SetDown(true)
	resp := e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": robert()},
		map[string]string{"Authorization": "Bearer " + tok}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s (a valid token that cannot be checked is not 'unauthorized')", resp.StatusCode, body(resp))
	}
	// API keys keep working while Entra's keys are unreachable.
	if resp := e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": robert()}, keyHdr(), nil); resp.StatusCode != 200 {
		t.Fatalf("API key while the key set is down: %d", resp.StatusCode)
	}
}

func preflight(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, url+checkapi.CheckPath, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestCORS(t *testing.T) {
	e := newEnv(t, nil)
	t.Run("preflight from a configured origin", func(t *testing.T) {
		resp := preflight(t, e.url, dynamics)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != dynamics {
			t.Fatalf("status %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
		if !strings.Contains(allowed, "authorization") || !strings.Contains(allowed, "x-api-key") {
			t.Errorf("allow-headers %q", allowed)
		}
		if !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("allow-methods %q", resp.Header.Get("Access-Control-Allow-Methods"))
		}
	})
	t.Run("preflight from another origin", func(t *testing.T) {
		resp := preflight(t, e.url, "https://evil.example.com")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("allow-origin %q for a foreign origin", got)
		}
	})
	t.Run("request from a configured origin", func(t *testing.T) {
		hdr := e.bearer(userOID)
		hdr["Origin"] = dynamics
		resp := e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": robert()}, hdr, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != dynamics {
			t.Fatalf("status %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("request from another origin", func(t *testing.T) {
		hdr := e.bearer(userOID)
		hdr["Origin"] = "https://contoso.crm.dynamics.com.evil.example"
		resp := e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": robert()}, hdr, nil)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("allow-origin %q for a foreign origin", got)
		}
	})
	t.Run("no origins configured", func(t *testing.T) {
		e := newEnv(t, func(c *checkapi.Config) { c.CORSOrigins = nil })
		resp := preflight(t, e.url, dynamics)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" || resp.StatusCode < 400 {
			t.Fatalf("status %d, allow-origin %q without configured origins", resp.StatusCode, got)
		}
	})
}

func TestCheck(t *testing.T) {
	e := newEnv(t, nil)
	var out checkapi.CheckResponse
	resp := e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": robert()}, e.bearer(userOID), &out)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body(resp))
	}
	if out.Decision != rules.OutcomeBlock || len(out.Matches) != 1 {
		t.Fatalf("decision %+v", out)
	}
	m := out.Matches[0]
	if m.ID != robertID || m.Name != "Robert Smith" || m.Rule != "contact-duplicate" || len(m.Reasons) == 0 || m.Hidden {
		t.Fatalf("match %+v", m)
	}
	if out.Override == nil || out.Override.Value == "" || time.Until(out.Override.ExpiresAt) > 10*time.Minute+time.Second {
		t.Fatalf("override %+v", out.Override)
	}
	if out.RequestID == "" || resp.Header.Get(echo.HeaderXRequestID) != out.RequestID {
		t.Errorf("request id %q / %q", out.RequestID, resp.Header.Get(echo.HeaderXRequestID))
	}

	// A unique record: allow, no matches, no token.
	var uniq checkapi.CheckResponse
	e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": map[string]any{
		"firstname": "Zebedee", "lastname": "Quirk", "emailaddress1": "zq@wingtip.net"}}, e.bearer(userOID), &uniq)
	if uniq.Decision != rules.OutcomeAllow || len(uniq.Matches) != 0 || uniq.Override != nil {
		t.Fatalf("unique record: %+v", uniq)
	}

	// An update of Robert himself (id as Xrm's getId() gives it: braces, upper case) does not
	// match itself.
	var self checkapi.CheckResponse
	e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "id": "{" + strings.ToUpper(robertID) + "}", "attributes": robert()}, e.bearer(userOID), &self)
	if self.Decision != rules.OutcomeAllow || len(self.Matches) != 0 {
		t.Fatalf("update of the matched record itself: %+v", self)
	}
}

// The token the check API issues is the one the webhook's engine accepts: same user, same
// data, once.
func TestOverrideRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	var out checkapi.CheckResponse
	e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "entry_point": "form", "attributes": robert()}, e.bearer(userOID), &out)
	if out.Override == nil {
		t.Fatalf("no token: %+v", out)
	}
	rec := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Robert", "lastname": "Smith", "emailaddress1": "Robert.Smith@fabrikam.co.uk"}}
	save := rules.Request{Record: rec, Message: "Create", UserID: "5b5b5b5b-0000-0000-0000-000000000000", UserAADID: userOID, EntryPoint: rules.EntryForm, OverrideToken: out.Override.Value}
	d := e.engine.Decide(context.Background(), save)
	if d.Outcome != rules.OutcomeAllow || !d.Overridden {
		t.Fatalf("save with the token: %+v", d)
	}
	d = e.engine.Decide(context.Background(), save)
	if d.Outcome != rules.OutcomeBlock || !strings.Contains(d.OverrideError, "already used") {
		t.Fatalf("replayed token: %+v", d)
	}
}

func TestOverrideOffer(t *testing.T) {
	limited := func(c *checkapi.Config) {
		tk, err := override.New(override.Config{Secret: []byte(strings.Repeat("s", 40)), AllowedRoles: []string{"DedupeGate.Override"}})
		if err != nil {
			panic(err)
		}
		c.Overrides = tk
		c.APIKeysMayOverride = true
	}
	e := newEnv(t, limited)
	dup := map[string]any{"entity": "contact", "attributes": robert()}
	var out checkapi.CheckResponse
	e.post(checkapi.CheckPath, dup, e.bearer(userOID), &out)
	if out.Decision != rules.OutcomeBlock || out.Override != nil {
		t.Fatalf("user without the role was offered a token: %+v", out.Override)
	}
	out = checkapi.CheckResponse{}
	e.post(checkapi.CheckPath, dup, e.bearer(userOID, "DedupeGate.Override"), &out)
	if out.Override == nil {
		t.Fatal("user with the role got no token")
	}
	// API-key caller: a token only when it names the user who will save, and only if that
	// user is allowed (here nobody is by id: roles only).
	out = checkapi.CheckResponse{}
	e.post(checkapi.CheckPath, dup, keyHdr(), &out)
	if out.Override != nil {
		t.Fatal("API-key caller without user_id got a token")
	}
	e2 := newEnv(t, func(c *checkapi.Config) { c.APIKeysMayOverride = true })
	withUser := map[string]any{"entity": "contact", "attributes": robert(), "user_id": "{5B5B5B5B-0000-0000-0000-000000000000}"}
	out = checkapi.CheckResponse{}
	e2.post(checkapi.CheckPath, withUser, keyHdr(), &out)
	if out.Override == nil {
		t.Fatal("API-key caller naming a user got no token")
	}
	rec := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Robert", "lastname": "Smith", "emailaddress1": "Robert.Smith@fabrikam.co.uk"}}
	d := e2.engine.Decide(context.Background(), rules.Request{Record: rec, Message: "Create", UserID: "5b5b5b5b-0000-0000-0000-000000000000",
		EntryPoint: rules.EntryIntegration, OverrideToken: out.Override.Value})
	if d.Outcome == rules.OutcomeBlock {
		t.Fatalf("flow save with the token: %+v", d)
	}
	// A token caller may not name another user.
	resp := e2.post(checkapi.CheckPath, withUser, e2.bearer(userOID), nil)
	if resp.StatusCode != 400 {
		t.Fatalf("token caller with user_id: %d", resp.StatusCode)
	}
	// API keys may not override unless configured.
	e3 := newEnv(t, nil)
	out = checkapi.CheckResponse{}
	e3.post(checkapi.CheckPath, withUser, keyHdr(), &out)
	if out.Override != nil {
		t.Fatal("API-key caller got a token with api_keys_may_override off")
	}
}

func TestValueRendering(t *testing.T) {
	e := newEnv(t, nil)
	// Numbers, booleans, nulls, lookups and dates arrive as JSON; the check must not fail on
	// any of them and a null must count as empty.
	attrs := robert()
	attrs["telephone1"] = nil
	attrs["donotemail"] = false
	attrs["numberofchildren"] = 2
	attrs["parentcustomerid"] = []any{map[string]any{"id": "{AAAAAAAA-0000-0000-0000-000000000001}", "entityType": "account", "name": "Contoso"}}
	attrs["birthdate"] = "1980-05-01T00:00:00.000Z"
	attrs["preferredcontactmethodcode"] = 1
	var out checkapi.CheckResponse
	resp := e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": attrs}, keyHdr(), &out)
	if resp.StatusCode != 200 || out.Decision != rules.OutcomeBlock {
		t.Fatalf("%d %s", resp.StatusCode, body(resp))
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, func(c *checkapi.Config) { c.MaxBodyBytes = 2048 })
	tests := []struct {
		name string
		body string
		ct   string
		want int
		msg  string
	}{
		{"not JSON", `{"entity":`, "", 400, "JSON"},
		{"no entity", `{"attributes":{}}`, "", 400, "entity is required"},
		{"unknown table", `{"entity":"contacts","attributes":{}}`, "", 400, `no rule checks table \"contacts\"`},
		{"no attributes", `{"entity":"contact"}`, "", 400, "attributes is required"},
		{"unknown field", `{"entity":"contact","attributs":{}}`, "", 400, "unknown field"},
		{"bad id", `{"entity":"contact","id":"42","attributes":{}}`, "", 400, "not a GUID"},
		{"bad entry point", `{"entity":"contact","entry_point":"ui","attributes":{}}`, "", 400, "entry_point"},
		{"trailing data", `{"entity":"contact","attributes":{}} {}`, "", 400, "trailing"},
		{"wrong content type", `{"entity":"contact","attributes":{}}`, "text/plain", 415, "application/json"},
		{"too large", `{"entity":"contact","attributes":{"description":"` + strings.Repeat("x", 3000) + `"}}`, "", 413, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := keyHdr()
			if tt.ct != "" {
				hdr["Content-Type"] = tt.ct
			}
			resp := e.post(checkapi.CheckPath, tt.body, hdr, nil)
			if got := body(resp); resp.StatusCode != tt.want || !strings.Contains(got, tt.msg) {
				t.Fatalf("status %d %s, want %d containing %q", resp.StatusCode, got, tt.want, tt.msg)
			}
		})
	}
}

func TestBatch(t *testing.T) {
	e := newEnv(t, nil)
	records := []map[string]any{
		{"key": "row-1", "entity": "contact", "attributes": robert()},
		{"key": "row-2", "entity": "contact", "attributes": map[string]any{"firstname": "Zebedee", "lastname": "Quirk"}},
		{"key": "row-3", "entity": "nosuchtable", "attributes": map[string]any{}},
		{"key": "row-4", "entity": "contact", "attributes": map[string]any{"firstname": "Alice", "lastname": "Jones", "emailaddress1": "alice.jones@tailspin.org"}},
	}
	var out checkapi.BatchResponse
	resp := e.post(checkapi.BatchPath, map[string]any{"records": records}, keyHdr(), &out)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body(resp))
	}
	if len(out.Results) != 4 {
		t.Fatalf("%d results", len(out.Results))
	}
	for i, r := range out.Results {
		if r.Index != i || r.Key != fmt.Sprintf("row-%d", i+1) {
			t.Errorf("result %d: index %d key %q", i, r.Index, r.Key)
		}
	}
	if out.Results[0].CheckResponse == nil || out.Results[0].Decision != rules.OutcomeBlock || out.Results[0].Matches[0].ID != robertID {
		t.Errorf("row-1: %+v", out.Results[0])
	}
	if out.Results[1].CheckResponse == nil || out.Results[1].Decision != rules.OutcomeAllow {
		t.Errorf("row-2: %+v", out.Results[1])
	}
	if out.Results[2].CheckResponse != nil || !strings.Contains(out.Results[2].Error, "nosuchtable") {
		t.Errorf("row-3: %+v", out.Results[2])
	}
	if out.Results[3].CheckResponse == nil || out.Results[3].Decision != rules.OutcomeBlock || out.Results[3].Matches[0].ID != aliceID {
		t.Errorf("row-4: %+v", out.Results[3])
	}
	want := map[string]int{"allow": 1, "warn": 0, "block": 2, "error": 1}
	for k, v := range want {
		if out.Summary[k] != v {
			t.Errorf("summary %v, want %v", out.Summary, want)
			break
		}
	}
}

func TestBatchLimits(t *testing.T) {
	e := newEnv(t, nil)
	many := func(n int) map[string]any {
		rs := make([]map[string]any, n)
		for i := range rs {
			rs[i] = map[string]any{"entity": "contact", "attributes": map[string]any{"firstname": "A", "lastname": fmt.Sprintf("N%d", i)}}
		}
		return map[string]any{"records": rs}
	}
	var out checkapi.BatchResponse
	if resp := e.post(checkapi.BatchPath, many(1000), keyHdr(), &out); resp.StatusCode != 200 || len(out.Results) != 1000 {
		t.Fatalf("1000 records: %d, %d results", resp.StatusCode, len(out.Results))
	}
	resp := e.post(checkapi.BatchPath, many(1001), keyHdr(), nil)
	if got := body(resp); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(got, "at most 1000") {
		t.Fatalf("1001 records: %d %s", resp.StatusCode, got)
	}
	if resp := e.post(checkapi.BatchPath, `{"records":[]}`, keyHdr(), nil); resp.StatusCode != 400 {
		t.Fatalf("empty batch: %d", resp.StatusCode)
	}
	small := newEnv(t, func(c *checkapi.Config) { c.MaxBatch = 10 })
	if resp := small.post(checkapi.BatchPath, many(11), keyHdr(), nil); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("11 records over a limit of 10: %d", resp.StatusCode)
	}
}

// countingDecider records how many decisions run at once.
type countingDecider struct {
	checkapi.Decider
	cur, max atomic.Int32
}

func (c *countingDecider) Decide(ctx context.Context, req rules.Request) rules.Decision {
	n := c.cur.Add(1)
	for {
		m := c.max.Load()
		if n <= m || c.max.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond)
	defer c.cur.Add(-1)
	return c.Decider.Decide(ctx, req)
}

func TestBatchConcurrencyBounded(t *testing.T) {
	e := newEnv(t, nil)
	cd := &countingDecider{Decider: e.engine}
	h, err := checkapi.New(checkapi.Config{Auth: checkapi.NewAuthenticator(nil, apiKey), BatchConcurrency: 3}, cd, nil)
	if err != nil {
		t.Fatal(err)
	}
	ec := echo.New()
	h.Mount(ec)
	srv := httptest.NewServer(ec)
	defer srv.Close()
	rs := make([]map[string]any, 60)
	for i := range rs {
		rs[i] = map[string]any{"entity": "contact", "attributes": robert()}
	}
	e.url = srv.URL
	var out checkapi.BatchResponse
	if resp := e.post(checkapi.BatchPath, map[string]any{"records": rs}, keyHdr(), &out); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	if got := cd.max.Load(); got > 3 || got < 2 {
		t.Fatalf("%d decisions ran at once, want at most 3 (and some parallelism)", got)
	}
	if out.Summary["block"] != 60 {
		t.Fatalf("summary %v", out.Summary)
	}
}

// permissions is a RecordReader standing in for Dataverse's row-level security.
type permissions struct {
	mu    sync.Mutex
	can   map[string]bool // oid|id → readable
	calls int
	err   error
}

func (p *permissions) CanRead(ctx context.Context, oid, entity, id string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return false, p.err
	}
	return p.can[oid+"|"+id], nil
}

func TestVisibility(t *testing.T) {
	perms := &permissions{can: map[string]bool{userOID + "|" + aliceID: true}}
	e := newEnv(t, func(c *checkapi.Config) { c.Visibility = perms })
	var out checkapi.CheckResponse
	e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": robert()}, e.bearer(userOID), &out)
	if out.Decision != rules.OutcomeBlock || len(out.Matches) != 1 {
		t.Fatalf("%+v", out)
	}
	m := out.Matches[0]
	if !m.Hidden || m.ID != "" || m.Name != "" || len(m.Reasons) != 0 || len(m.Fields) != 0 || m.Message != "a matching record exists" {
		t.Fatalf("unreadable match shown: %+v", m)
	}
	raw := e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": robert()}, e.bearer(userOID), nil)
	if got := body(raw); strings.Contains(got, robertID) || strings.Contains(got, "Robert Smith") {
		t.Fatalf("hidden match leaks in the body: %s", got)
	}
	// The record the user may read is shown in full.
	out = checkapi.CheckResponse{}
	e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": map[string]any{"firstname": "Alice", "lastname": "Jones", "emailaddress1": "alice.jones@tailspin.org"}}, e.bearer(userOID), &out)
	if len(out.Matches) != 1 || out.Matches[0].Hidden || out.Matches[0].Name != "Alice Jones" {
		t.Fatalf("readable match: %+v", out.Matches)
	}
	// An API-key caller (a trusted integration, no user to impersonate) sees everything.
	out = checkapi.CheckResponse{}
	e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": robert()}, keyHdr(), &out)
	if out.Matches[0].Hidden || out.Matches[0].ID != robertID {
		t.Fatalf("API-key caller: %+v", out.Matches[0])
	}
	// A batch asks Dataverse once per matched record, however often it matches.
	perms.mu.Lock()
	perms.calls = 0
	perms.mu.Unlock()
	rs := make([]map[string]any, 20)
	for i := range rs {
		rs[i] = map[string]any{"entity": "contact", "attributes": robert()}
	}
	var b checkapi.BatchResponse
	e.post(checkapi.BatchPath, map[string]any{"records": rs}, e.bearer(userOID), &b)
	for _, r := range b.Results {
		if r.CheckResponse == nil || !r.Matches[0].Hidden {
			t.Fatalf("batch result %+v", r)
		}
	}
	if perms.calls != 1 {
		t.Fatalf("%d visibility reads for one matched record", perms.calls)
	}
	// When Dataverse cannot answer, details stay hidden.
	perms.mu.Lock()
	perms.err = fmt.Errorf("dataverse unavailable")
	perms.mu.Unlock()
	out = checkapi.CheckResponse{}
	e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": map[string]any{"firstname": "Alice", "lastname": "Jones", "emailaddress1": "alice.jones@tailspin.org"}}, e.bearer(userOID), &out)
	if !out.Matches[0].Hidden {
		t.Fatalf("visibility error showed details: %+v", out.Matches[0])
	}
	// visibility: all shows everything.
	all := newEnv(t, func(c *checkapi.Config) { c.Visibility = perms; c.ShowAll = true })
	out = checkapi.CheckResponse{}
	all.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": robert()}, all.bearer(userOID), &out)
	if out.Matches[0].Hidden {
		t.Fatal("visibility all hid a match")
	}
}

// storedRows is a RowReader over the seed.
type storedRows map[string]matcher.Record

func (s storedRows) Retrieve(ctx context.Context, entity, id string) (matcher.Record, error) {
	r, ok := s[id]
	if !ok {
		return matcher.Record{}, fmt.Errorf("404")
	}
	return r, nil
}

// An update check fills the columns the caller did not send from the stored row, as the
// webhook does with the pre-image; a null clears a column.
func TestUpdateFillsStoredColumns(t *testing.T) {
	zID := "99999999-0000-0000-0000-000000000009"
	stored := storedRows{zID: {Entity: "contact", ID: zID, Attrs: map[string]string{"firstname": "Robert", "lastname": "Smith", "emailaddress1": "robert.smith@fabrikam.co.uk"}}}
	e := newEnv(t, func(c *checkapi.Config) { c.Rows = stored })
	var out checkapi.CheckResponse
	// The form only changed the job title: the stored name and email still match Robert.
	e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "id": zID, "attributes": map[string]any{"jobtitle": "Buyer"}}, keyHdr(), &out)
	if out.Decision != rules.OutcomeBlock || len(out.Matches) == 0 || out.Matches[0].ID != robertID {
		t.Fatalf("update with stored columns: %+v", out)
	}
	// Clearing the email and changing the name: no longer a duplicate.
	out = checkapi.CheckResponse{}
	e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "id": zID, "attributes": map[string]any{"emailaddress1": nil, "firstname": "Zebedee", "lastname": "Quirk"}}, keyHdr(), &out)
	if out.Decision != rules.OutcomeAllow {
		t.Fatalf("update that clears the email: %+v", out)
	}
}

func TestTokenRolesRequired(t *testing.T) {
	tn := entratest.New(t)
	v, _ := entra.NewValidator(entra.Config{Issuers: []string{tn.Issuer()}, Audiences: []string{tn.Audience},
		Keys: entra.NewKeySet(entra.KeySetConfig{URL: tn.JWKSURL()}), RequiredRoles: []string{"DedupeGate.Check"}})
	a := checkapi.NewAuthenticator(v)
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tn.UserToken(t, userOID))
	if _, err := a.Authenticate(context.Background(), r); err == nil {
		t.Fatal("token without the required role accepted")
	}
	r.Header.Set("Authorization", "Bearer "+tn.UserToken(t, userOID, "DedupeGate.Check"))
	p, err := a.Authenticate(context.Background(), r)
	if err != nil || p.Kind != checkapi.KindUser || p.OID != userOID {
		t.Fatalf("%+v %v", p, err)
	}
}

// The API's middleware stays on its routes: other paths of the same server are untouched.
func TestOtherRoutesUntouched(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := http.Get(e.url + "/somewhere-else")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path answered %d, want 404 (not the API's 401)", resp.StatusCode)
	}
}
