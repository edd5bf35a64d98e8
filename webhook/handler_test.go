package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/webhook"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const (
	secret     = "s3cret-value-for-tests-0001"
	prevSecret = "previous-secret-for-tests-02"
	existingID = "6d81597f-0f9f-e711-8122-000d3aa2331c"
)

// testRules is a contact rule: email is a strong blocking key, names confirm.
func testRules(t testing.TB, action rules.Action) *rules.Set {
	t.Helper()
	m, err := matcher.Compile(matcher.RuleSpec{
		Name: "contact-email", Entity: "contact",
		Fields: []matcher.FieldSpec{
			{Attr: "emailaddress1", Comparator: "email", Weight: 3, Blocking: true, Strong: true},
			{Attr: "lastname", Comparator: "lastname", Weight: 1, Blocking: true},
			{Attr: "firstname", Comparator: "firstname", Weight: 1},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rules.NewSet([]*rules.Rule{{
		Name: "contact-email", Entity: "contact", CandidateEntity: "contact", Matcher: m,
		BlockThreshold: 0.75, WarnThreshold: 0.5, MergeThreshold: 0.95, Action: action,
	}})
}

type changeLog struct {
	mu  sync.Mutex
	chs []webhook.Change
}

func (l *changeLog) HandleChange(ctx context.Context, ch webhook.Change) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.chs = append(l.chs, ch)
	return nil
}

// server starts a real HTTP server on loopback with the webhook handler over a memory index
// holding one contact (Robert Smith).
func server(t *testing.T, action rules.Action, reader webhook.RowReader) (*httptest.Server, *changeLog, *index.Memory) {
	t.Helper()
	set := testRules(t, action)
	idx := index.NewMemory()
	rec := matcher.Record{Entity: "contact", ID: existingID, Attrs: map[string]string{
		"firstname": "Robert", "lastname": "Smith", "emailaddress1": "robert.smith@example.com"}}
	if err := idx.Upsert(t.Context(), rec, set.IndexKeys(rec)); err != nil {
		t.Fatal(err)
	}
	eng := rules.NewEngine(set, idx, rules.EngineConfig{Reservations: true})
	cl := &changeLog{}
	h := webhook.New(webhook.Config{
		Auth:               webhook.NewAuthenticator(webhook.AuthHeader, "x-dedupegate-secret", secret, prevSecret),
		MaxBodyBytes:       64 << 10,
		SizeExceededCreate: "allow",
		OverrideAttribute:  "dg_overridetoken",
	}, eng, reader, zap.NewNop(), cl)
	e := echo.New()
	e.POST("/webhooks/dataverse", h.Serve)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, cl, idx
}

type exchange struct {
	name    string
	fixture string // testdata file, or "" for body
	body    string
	method  string
	ctype   string
	secret  string
	headers map[string]string
}

func TestGolden(t *testing.T) {
	big := `{"MessageName":"Create","pad":"` + strings.Repeat("x", 70<<10) + `"}`
	cases := []exchange{
		{name: "create-duplicate", fixture: "create-duplicate.json"},
		{name: "create-unique", fixture: "create-unique.json"},
		{name: "create-duplicate-previous-secret", fixture: "create-duplicate.json", secret: prevSecret},
		{name: "create-duplicate-bad-override", fixture: "create-duplicate-bad-override.json"},
		{name: "update-duplicate-preimage", fixture: "update-duplicate-preimage.json"},
		{name: "update-self", fixture: "update-self.json"},
		{name: "size-exceeded-create", fixture: "size-exceeded-create.json", headers: map[string]string{"x-ms-dynamics-msg-size-exceeded": "true"}},
		{name: "size-exceeded-update-no-reader", fixture: "size-exceeded-update.json", headers: map[string]string{"x-ms-dynamics-msg-size-exceeded": "true"}},
		{name: "postop-create", fixture: "postop-create.json"},
		{name: "postop-delete", fixture: "postop-delete.json"},
		{name: "ignored-retrieve", fixture: "ignored-retrieve.json"},
		{name: "malformed", fixture: "malformed.json"},
		{name: "truncated", fixture: "truncated.json"},
		{name: "wrong-secret", fixture: "create-duplicate.json", secret: "wrong-secret-wrong-secret"},
		{name: "no-secret", fixture: "create-duplicate.json", secret: "-"},
		{name: "oversized-body", body: big},
		{name: "wrong-method", fixture: "create-duplicate.json", method: http.MethodGet},
		{name: "wrong-content-type", fixture: "create-duplicate.json", ctype: "text/plain"},
		{name: "empty-body", body: ""},
		{name: "json-null", body: "null"},
	}
	srv, _, _ := server(t, rules.ActionBlock, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, srv.URL, tc)
			got := fmt.Sprintf("%d\n%s\n", status, body)
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./webhook -run TestGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, want)
			}
		})
	}
}

func do(t *testing.T, base string, tc exchange) (int, string) {
	t.Helper()
	body := []byte(tc.body)
	if tc.fixture != "" {
		var err error
		if body, err = os.ReadFile(filepath.Join("testdata", tc.fixture)); err != nil {
			t.Fatal(err)
		}
	}
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+"/webhooks/dataverse", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ct := tc.ctype
	if ct == "" {
		ct = "application/json; charset=utf-8"
	}
	req.Header.Set("Content-Type", ct)
	switch tc.secret {
	case "":
		req.Header.Set("x-dedupegate-secret", secret)
	case "-":
	default:
		req.Header.Set("x-dedupegate-secret", tc.secret)
	}
	req.Header.Set("x-ms-correlation-request-id", "b374239d-4233-41a9-8b17-a86cb4f737b5")
	for k, v := range tc.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, bytes.TrimSpace(raw), "", "  ") != nil {
		return resp.StatusCode, string(bytes.TrimSpace(raw))
	}
	return resp.StatusCode, pretty.String()
}

// TestSameDecisionOnRetry: Dataverse retries a call once on 502/503/504 (and a slow network can
// make it resend); the same request must get the same decision, reservations included.
func TestSameDecisionOnRetry(t *testing.T) {
	srv, _, _ := server(t, rules.ActionBlock, nil)
	for _, fx := range []string{"create-unique.json", "create-duplicate.json"} {
		s1, b1 := do(t, srv.URL, exchange{fixture: fx})
		s2, b2 := do(t, srv.URL, exchange{fixture: fx})
		if s1 != s2 || b1 != b2 {
			t.Errorf("%s: first %d %s, retry %d %s", fx, s1, b1, s2, b2)
		}
	}
}

// TestConcurrentCreateReservation: a different request creating the same new person while the
// first is in flight is blocked by the first one's reservation.
func TestConcurrentCreateReservation(t *testing.T) {
	srv, _, _ := server(t, rules.ActionBlock, nil)
	s1, _ := do(t, srv.URL, exchange{fixture: "create-unique.json"})
	raw, err := os.ReadFile(filepath.Join("testdata", "create-unique.json"))
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(string(raw), "c0ffee00-1111-2222-3333-444455556666", "c0ffee00-9999-2222-3333-444455556666", 1)
	s2, b2 := do(t, srv.URL, exchange{body: other})
	if s1 != http.StatusOK || s2 != http.StatusConflict || !strings.Contains(b2, "concurrent save") {
		t.Fatalf("first %d, second %d %s", s1, s2, b2)
	}
}

func TestEnforcementModes(t *testing.T) {
	tests := []struct {
		action rules.Action
		status int
		result string
	}{
		{rules.ActionBlock, http.StatusConflict, "block"},
		{rules.ActionWarn, http.StatusOK, "warn"},
		{rules.ActionAudit, http.StatusOK, "allow"},
	}
	for _, tc := range tests {
		t.Run(string(tc.action), func(t *testing.T) {
			srv, _, _ := server(t, tc.action, nil)
			status, body := do(t, srv.URL, exchange{fixture: "create-duplicate.json"})
			var r webhook.Response
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatal(err)
			}
			if status != tc.status || r.Result != tc.result || len(r.Matches) != 1 || r.Matches[0].ID != existingID {
				t.Fatalf("status %d result %s matches %+v", status, r.Result, r.Matches)
			}
		})
	}
}

func TestPostOperationChanges(t *testing.T) {
	srv, cl, _ := server(t, rules.ActionBlock, nil)
	if s, b := do(t, srv.URL, exchange{fixture: "postop-create.json"}); s != http.StatusOK {
		t.Fatalf("create: %d %s", s, b)
	}
	if s, b := do(t, srv.URL, exchange{fixture: "postop-delete.json"}); s != http.StatusOK {
		t.Fatalf("delete: %d %s", s, b)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if len(cl.chs) != 2 {
		t.Fatalf("got %d changes", len(cl.chs))
	}
	c := cl.chs[0]
	if c.Message != "Create" || c.ID != "44bfc2a7-903e-eb11-a813-000d3ad9c2e1" || c.Record.Attrs["emailaddress1"] != "anna.k@example.pl" || c.Record.Attrs["fullname"] != "Anna Kowalska" {
		t.Errorf("create change %+v", c)
	}
	d := cl.chs[1]
	if d.Message != "Delete" || d.ID != existingID || d.Before == nil || d.Before.Attrs["emailaddress1"] != "robert.smith@example.com" {
		t.Errorf("delete change %+v", d)
	}
}

type rowReader map[string]matcher.Record

func (r rowReader) Retrieve(ctx context.Context, entity, id string) (matcher.Record, error) {
	rec, ok := r[entity+"/"+id]
	if !ok {
		return matcher.Record{}, fmt.Errorf("%s(%s) not found", entity, id)
	}
	return rec, nil
}

// TestSizeExceededUpdateRereads: an Update without InputParameters is checked against the row
// as Dataverse holds it.
func TestSizeExceededUpdateRereads(t *testing.T) {
	other := matcher.Record{Entity: "contact", ID: existingID, Attrs: map[string]string{
		"firstname": "Bob", "lastname": "Smith", "emailaddress1": "ROBERT.SMITH@example.com"}}
	// The row re-read is a different contact id carrying Robert's email.
	reader := rowReader{"contact/" + existingID: {Entity: "contact", ID: "99999999-0000-0000-0000-000000000001", Attrs: other.Attrs}}
	srv, _, _ := server(t, rules.ActionBlock, reader)
	status, body := do(t, srv.URL, exchange{fixture: "size-exceeded-update.json", headers: map[string]string{"x-ms-dynamics-msg-size-exceeded": "true"}})
	if status != http.StatusConflict || !strings.Contains(body, existingID) {
		t.Fatalf("%d %s", status, body)
	}
}
