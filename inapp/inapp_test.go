package inapp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/checkapi"
	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/dataverse/emulator"
	"github.com/dedupegate/dedupegate/inapp"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

type world struct {
	emu    *emulator.Emulator
	client *dataverse.Client
	robert string // id of a seeded contact
	slow   *slowHandler
}

// slowHandler delays every Dataverse answer, to show the decision never waits for it.
type slowHandler struct {
	h     http.Handler
	mu    sync.Mutex
	delay time.Duration
}

func (s *slowHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	time.Sleep(d)
	s.h.ServeHTTP(w, r)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	emu, err := emulator.New(emulator.Config{Token: "app-token"})
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowHandler{h: emu}
	srv := httptest.NewServer(slow)
	t.Cleanup(srv.Close)
	c, err := dataverse.New(context.Background(), config.Dataverse{URL: srv.URL, Auth: config.DataverseAuth{Method: "static_token", Token: "app-token"}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := emu.Insert("contact", map[string]any{"firstname": "Robert", "lastname": "Smith", "emailaddress1": "robert.smith@fabrikam.co.uk"})
	if err != nil {
		t.Fatal(err)
	}
	return &world{emu: emu, client: c, robert: id, slow: slow}
}

func (w *world) notifications(t *testing.T) []map[string]any {
	t.Helper()
	var rows []map[string]any
	err := w.client.List(context.Background(), "appnotification", dataverse.Query{}, func(page []map[string]any) error {
		rows = append(rows, page...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func (w *world) waitFor(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows := w.notifications(t)
		if len(rows) >= n || time.Now().After(deadline) {
			return rows
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func blocked(userID, aad string, matches ...rules.Match) rules.Event {
	return rules.Event{Time: time.Now(),
		Request: rules.Request{Message: "Create", UserID: userID, UserAADID: aad, EntryPoint: rules.EntryIntegration, CorrelationID: "corr-1",
			Record: matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Bob", "lastname": "Smith"}}},
		Decision: rules.Decision{Outcome: rules.OutcomeBlock, Matches: matches}}
}

func match(id, name string) rules.Match {
	return rules.Match{Rule: "contact-duplicate", Action: rules.ActionBlock, Level: rules.OutcomeBlock, Entity: "contact",
		ID: id, Name: name, Score: 0.995, Reasons: []string{"email equal", "last name equal"}}
}

func TestNotificationAfterBlock(t *testing.T) {
	w := newWorld(t)
	w.slow.delay = 300 * time.Millisecond
	n := inapp.New(w.client, inapp.Config{Delay: 50 * time.Millisecond, Visibility: checkapi.DataverseVisibility(w.client)})
	defer n.Close()

	start := time.Now()
	n.Observe(context.Background(), blocked(emulator.SampleUserID, emulator.SampleUserAADID, match(w.robert, "Robert Smith")))
	if took := time.Since(start); took > 20*time.Millisecond {
		t.Fatalf("Observe took %v: it must not wait for Dataverse", took)
	}
	rows := w.waitFor(t, 1)
	if len(rows) != 1 {
		t.Fatalf("%d notifications", len(rows))
	}
	r := rows[0]
	if r["_ownerid_value"] != emulator.SampleUserID {
		t.Errorf("owner %v, want the initiating user %s", r["_ownerid_value"], emulator.SampleUserID)
	}
	if r["title"] != "Save blocked: possible duplicate" || r["icontype"] != json.Number("100000002") || r["toasttype"] != json.Number("200000000") {
		t.Errorf("row %v", r)
	}
	body, _ := r["body"].(string)
	if !strings.Contains(body, "Robert Smith (email equal, last name equal)") || !strings.Contains(body, "new contact (Bob Smith)") || len([]rune(body)) > 500 {
		t.Errorf("body %q", body)
	}
	var data struct {
		Body    string `json:"body"`
		Actions []struct {
			Title string `json:"title"`
			Data  struct {
				URL    string `json:"url"`
				Target string `json:"navigationTarget"`
			} `json:"data"`
		} `json:"actions"`
	}
	if err := json.Unmarshal([]byte(r["data"].(string)), &data); err != nil {
		t.Fatal(err)
	}
	wantURL := "?pagetype=entityrecord&etn=contact&id=" + w.robert
	if len(data.Actions) != 1 || data.Actions[0].Data.URL != wantURL || data.Actions[0].Title != "Open Robert Smith" {
		t.Errorf("actions %+v", data.Actions)
	}
	if !strings.Contains(data.Body, "[Robert Smith]("+wantURL+")") {
		t.Errorf("markdown body %q", data.Body)
	}
	if sent, _, _ := n.Stats(); sent != 1 {
		t.Errorf("sent %d", sent)
	}
}

func TestNotificationHidesUnreadableMatches(t *testing.T) {
	w := newWorld(t)
	deny := checkapi.RecordReaderFunc(func(context.Context, string, string, string) (bool, error) { return false, nil })
	n := inapp.New(w.client, inapp.Config{Delay: time.Millisecond, Visibility: deny})
	defer n.Close()
	n.Observe(context.Background(), blocked(emulator.SampleUserID, emulator.SampleUserAADID, match(w.robert, "Robert Smith")))
	rows := w.waitFor(t, 1)
	if len(rows) != 1 {
		t.Fatalf("%d notifications", len(rows))
	}
	raw, _ := json.Marshal(rows[0])
	if strings.Contains(string(raw), "Robert") || strings.Contains(string(raw), w.robert) {
		t.Fatalf("notification names a record its recipient may not read: %s", raw)
	}
	if !strings.Contains(rows[0]["body"].(string), "an existing contact you cannot open") {
		t.Errorf("body %q", rows[0]["body"])
	}
}

func TestOnlyWebhookBlocksNotify(t *testing.T) {
	w := newWorld(t)
	n := inapp.New(w.client, inapp.Config{Delay: time.Millisecond})
	ev := blocked(emulator.SampleUserID, emulator.SampleUserAADID, match(w.robert, "Robert Smith"))
	allow := ev
	allow.Decision.Outcome = rules.OutcomeAllow
	warn := ev
	warn.Decision.Outcome = rules.OutcomeWarn
	check := ev
	check.Request.Message = "Check"
	noUser := ev
	noUser.Request.UserID = ""
	for _, e := range []rules.Event{allow, warn, check, noUser} {
		n.Observe(context.Background(), e)
	}
	n.Observe(inapp.Quiet(context.Background()), ev) // the check API's dry run of an update
	// Three clicks on Save: one notification.
	for i := 0; i < 3; i++ {
		n.Observe(context.Background(), ev)
	}
	// A fail-closed block tells the user the check was unavailable.
	fc := blocked(emulator.SampleUserID, "")
	fc.Decision.Fallback = "fail-closed"
	n.Observe(context.Background(), fc)
	rows := w.waitFor(t, 2)
	time.Sleep(100 * time.Millisecond)
	rows = w.notifications(t)
	if len(rows) != 2 {
		t.Fatalf("%d notifications, want 2: %v", len(rows), rows)
	}
	titles := []string{rows[0]["title"].(string), rows[1]["title"].(string)}
	if !strings.Contains(strings.Join(titles, "|"), "the duplicate check was unavailable") {
		t.Errorf("titles %v", titles)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestQueueFullDrops(t *testing.T) {
	w := newWorld(t)
	n := inapp.New(w.client, inapp.Config{Delay: time.Hour, Queue: 2})
	for i := 0; i < 5; i++ {
		ev := blocked(emulator.SampleUserID, "", match(w.robert, "Robert Smith"))
		ev.Request.Record.ID = strings.Repeat("a", 8) + "-0000-0000-0000-00000000000" + string(rune('0'+i))
		ev.Request.Message = "Update"
		n.Observe(context.Background(), ev)
	}
	_ = n.Close()
	sent, dropped, _ := n.Stats()
	// One job is taken by the worker (waiting its delay), two fill the queue, the rest are
	// dropped at once; Close drops whatever waited. None is lost uncounted.
	if sent != 0 || dropped != 5 {
		t.Fatalf("sent %d dropped %d, want 0 and 5", sent, dropped)
	}
	if got := len(w.notifications(t)); got != 0 {
		t.Fatalf("%d notifications created", got)
	}
}

func TestRowLimits(t *testing.T) {
	n := inapp.New(nil, inapp.Config{})
	defer n.Close()
	var ms []rules.Match
	for i := 0; i < 10; i++ {
		m := match("aaaaaaaa-0000-0000-0000-00000000000"+string(rune('0'+i)), strings.Repeat("Very Long Name ", 10))
		ms = append(ms, m)
	}
	ev := blocked("5b5b5b5b-0000-0000-0000-000000000000", "")
	ev.Decision.Matches = ms
	row := n.Row(context.Background(), ev)
	if b := row["body"].(string); len([]rune(b)) > 500 {
		t.Errorf("body of %d characters", len([]rune(b)))
	}
	if row["ownerid@odata.bind"] != "/systemusers(5b5b5b5b-0000-0000-0000-000000000000)" {
		t.Errorf("owner %v", row["ownerid@odata.bind"])
	}
	if d, ok := row["data"].(string); ok && len(d) > 5000 {
		t.Errorf("data of %d characters", len(d))
	}
	// Without a visibility check no record is named.
	raw, _ := json.Marshal(row)
	if strings.Contains(string(raw), "Very Long Name") {
		t.Errorf("names shown without a visibility check: %s", raw)
	}
}
