package override_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/override"
	"github.com/dedupegate/dedupegate/rules"
)

const (
	secret = "0123456789abcdef0123456789abcdef-test-secret"
	oid    = "0a1b2c3d-0000-1111-2222-333344445555"
	sysID  = "6d81597f-0f9f-e711-8122-000d3aa2331c"
	dupID  = "aaaaaaaa-1111-2222-3333-444444444444"
)

var watched = []string{"emailaddress1", "firstname", "lastname"}

func record() matcher.Record {
	return matcher.Record{Entity: "contact", Attrs: map[string]string{
		"firstname": "Robert", "lastname": "Smith", "emailaddress1": "robert.smith@example.com", "jobtitle": "Buyer"}}
}

func blockMatch(id string) rules.Match {
	return rules.Match{Rule: "contact-email", Action: rules.ActionBlock, Level: rules.OutcomeBlock, Entity: "contact", ID: id, Score: 0.95}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }
func req(rec matcher.Record) rules.Request {
	return rules.Request{Record: rec, Message: "Create", UserID: sysID, UserAADID: oid, EntryPoint: rules.EntryForm}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	matches := []rules.Match{blockMatch(dupID)}
	tests := []struct {
		name string
		// issue and check may change the token, the request or the matches before Verify.
		token   func(t *testing.T, tk *override.Tokens, c *clock) string
		request func(r *rules.Request)
		matches []rules.Match
		want    error
	}{
		{name: "valid"},
		{name: "bound to the systemuserid (API-key caller naming the user)", token: func(t *testing.T, tk *override.Tokens, c *clock) string {
			return issue(t, tk, strings.ToUpper(sysID), matches)
		}, request: func(r *rules.Request) { r.UserAADID = "" }},
		{name: "same data written differently", request: func(r *rules.Request) {
			r.Record.Attrs["firstname"] = "  ROBERT "
			r.Record.Attrs["lastname"] = "Ｓｍｉｔｈ" // full-width: NFKC folds it
		}},
		{name: "other columns changed", request: func(r *rules.Request) { r.Record.Attrs["jobtitle"] = "CEO" }},
		{name: "a warn-level match it does not cover", matches: []rules.Match{blockMatch(dupID),
			{Rule: "r", Action: rules.ActionBlock, Level: rules.OutcomeWarn, Entity: "contact", ID: "bbbbbbbb-0000-0000-0000-000000000000"}}},
		{name: "a warn-action match it does not cover", matches: []rules.Match{blockMatch(dupID),
			{Rule: "r", Action: rules.ActionWarn, Level: rules.OutcomeBlock, Entity: "contact", ID: "bbbbbbbb-0000-0000-0000-000000000000"}}},
		{name: "expired", token: func(t *testing.T, tk *override.Tokens, c *clock) string {
			tok := issue(t, tk, oid, matches)
			c.Add(10*time.Minute + time.Second)
			return tok
		}, want: override.ErrExpired},
		{name: "just before expiry", token: func(t *testing.T, tk *override.Tokens, c *clock) string {
			tok := issue(t, tk, oid, matches)
			c.Add(10*time.Minute - time.Second)
			return tok
		}},
		{name: "other user", request: func(r *rules.Request) {
			r.UserAADID, r.UserID = "ffffffff-0000-0000-0000-000000000000", "eeeeeeee-0000-0000-0000-000000000000"
		}, want: override.ErrOtherUser},
		{name: "no user on the request", request: func(r *rules.Request) { r.UserAADID, r.UserID = "", "" }, want: override.ErrOtherUser},
		{name: "other table", request: func(r *rules.Request) { r.Record.Entity = "lead" }, want: override.ErrOtherTable},
		{name: "other data", request: func(r *rules.Request) { r.Record.Attrs["emailaddress1"] = "bob@example.com" }, want: override.ErrOtherData},
		{name: "matched column cleared", request: func(r *rules.Request) { delete(r.Record.Attrs, "firstname") }, want: override.ErrOtherData},
		{name: "a new duplicate appeared", matches: []rules.Match{blockMatch(dupID), blockMatch("cccccccc-0000-0000-0000-000000000000")}, want: override.ErrNewMatch},
		{name: "a concurrent save", matches: []rules.Match{blockMatch(dupID), {Rule: "r", Action: rules.ActionBlock, Level: rules.OutcomeBlock, Entity: "contact", Reserved: true}}, want: override.ErrConcurrent},
		{name: "tampered payload", token: func(t *testing.T, tk *override.Tokens, c *clock) string {
			tok := issue(t, tk, oid, matches)
			return retarget(t, tok, oid, "ffffffff-0000-0000-0000-000000000000")
		}, request: func(r *rules.Request) { r.UserAADID = "ffffffff-0000-0000-0000-000000000000" }, want: override.ErrSignature},
		{name: "tampered signature", token: func(t *testing.T, tk *override.Tokens, c *clock) string {
			tok := issue(t, tk, oid, matches)
			b := []byte(tok)
			i := len(b) - 5
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return string(b)
		}, want: override.ErrSignature},
		{name: "signed with another secret", token: func(t *testing.T, _ *override.Tokens, c *clock) string {
			other, err := override.New(override.Config{Secret: []byte(strings.Repeat("x", 40)), Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			return issue(t, other, oid, matches)
		}, want: override.ErrSignature},
		{name: "malformed", token: func(*testing.T, *override.Tokens, *clock) string { return "Ignore and Save" }, want: override.ErrMalformed},
		{name: "empty payload", token: func(*testing.T, *override.Tokens, *clock) string { return "dg1..abc" }, want: override.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			tk, err := override.New(override.Config{Secret: []byte(secret), Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			var tok string
			if tt.token != nil {
				tok = tt.token(t, tk, c)
			} else {
				tok = issue(t, tk, oid, matches)
			}
			r := req(record())
			if tt.request != nil {
				tt.request(&r)
			}
			ms := matches
			if tt.matches != nil {
				ms = tt.matches
			}
			err = tk.Verify(ctx, tok, r, ms)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

func issue(t *testing.T, tk *override.Tokens, user string, matches []rules.Match) string {
	t.Helper()
	tok, err := tk.Issue(user, record(), watched, matches)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// retarget rewrites the user inside a token's payload without re-signing it.
func retarget(t *testing.T, tok, from, to string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(payload), from, to, 1)
	if changed == string(payload) {
		t.Fatal("user not found in the payload")
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(changed))
	return strings.Join(parts, ".")
}

func TestReplayRefused(t *testing.T) {
	c := newClock()
	tk, _ := override.New(override.Config{Secret: []byte(secret), Now: c.Now})
	ms := []rules.Match{blockMatch(dupID)}
	tok := issue(t, tk, oid, ms)
	ctx := context.Background()
	// A refused attempt does not burn the token...
	bad := req(record())
	bad.Record.Attrs["lastname"] = "Smyth"
	if err := tk.Verify(ctx, tok, bad, ms); !errors.Is(err, override.ErrOtherData) {
		t.Fatal(err)
	}
	// ...the first valid use passes, and every later one is a replay.
	if err := tk.Verify(ctx, tok, req(record()), ms); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := tk.Verify(ctx, tok, req(record()), ms); !errors.Is(err, override.ErrReplayed) {
			t.Fatalf("replay %d: %v", i, err)
		}
	}
	// A second token for the same data is a new token.
	if err := tk.Verify(ctx, issue(t, tk, oid, ms), req(record()), ms); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentUseSpendsOnce(t *testing.T) {
	tk, _ := override.New(override.Config{Secret: []byte(secret)})
	ms := []rules.Match{blockMatch(dupID)}
	tok := issue(t, tk, oid, ms)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tk.Verify(context.Background(), tok, req(record()), ms) == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent uses passed, want 1", ok.Load())
	}
}

func TestUpdateBoundToRecord(t *testing.T) {
	tk, _ := override.New(override.Config{Secret: []byte(secret)})
	rec := record()
	rec.ID = "DDDDDDDD-0000-0000-0000-000000000001"
	ms := []rules.Match{blockMatch(dupID)}
	tok, err := tk.Issue(oid, rec, watched, ms)
	if err != nil {
		t.Fatal(err)
	}
	other := req(record())
	other.Record.ID = "dddddddd-0000-0000-0000-000000000002"
	if err := tk.Verify(context.Background(), tok.Value, other, ms); !errors.Is(err, override.ErrOtherRecord) {
		t.Fatalf("other record: %v", err)
	}
	same := req(record())
	same.Record.ID = "dddddddd-0000-0000-0000-000000000001"
	if err := tk.Verify(context.Background(), tok.Value, same, ms); err != nil {
		t.Fatalf("same record (case differs): %v", err)
	}
}

func TestSecretRotation(t *testing.T) {
	old, _ := override.New(override.Config{Secret: []byte(secret)})
	tok := issue(t, old, oid, nil)
	rotated, err := override.New(override.Config{Secret: []byte(strings.Repeat("n", 40)), Previous: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	if err := rotated.Verify(context.Background(), tok, req(record()), nil); err != nil {
		t.Fatalf("token signed with the previous secret: %v", err)
	}
	done, _ := override.New(override.Config{Secret: []byte(strings.Repeat("n", 40))})
	if err := done.Verify(context.Background(), issue(t, old, oid, nil), req(record()), nil); !errors.Is(err, override.ErrSignature) {
		t.Fatalf("previous secret dropped: %v", err)
	}
}

func TestTokenRevealsNoIDs(t *testing.T) {
	tk, _ := override.New(override.Config{Secret: []byte(secret)})
	tok := issue(t, tk, oid, []rules.Match{blockMatch(dupID)})
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if strings.Contains(string(payload), dupID) || strings.Contains(string(payload), "Robert") {
		t.Fatalf("token payload reveals a matched id or a value: %s", payload)
	}
	if len(tok) > 600 {
		t.Errorf("token of %d characters; keep it small for columns and the tag parameter", len(tok))
	}
}

func TestMayOverride(t *testing.T) {
	open, _ := override.New(override.Config{Secret: []byte(secret)})
	if !open.MayOverride([]string{oid}, nil) {
		t.Error("no restriction configured: everyone may override")
	}
	limited, _ := override.New(override.Config{Secret: []byte(secret), AllowedUsers: []string{strings.ToUpper(oid)}, AllowedRoles: []string{"DedupeGate.Override"}})
	for _, tt := range []struct {
		ids, roles []string
		want       bool
	}{
		{[]string{oid}, nil, true},
		{[]string{"", sysID}, nil, false},
		{[]string{sysID}, []string{"DedupeGate.Override"}, true},
		{[]string{sysID}, []string{"dedupegate.override"}, false},
		{nil, nil, false},
	} {
		if got := limited.MayOverride(tt.ids, tt.roles); got != tt.want {
			t.Errorf("MayOverride(%v, %v) = %v", tt.ids, tt.roles, got)
		}
	}
}

func TestConfigRefused(t *testing.T) {
	if _, err := override.New(override.Config{Secret: []byte("short")}); err == nil {
		t.Error("short secret accepted")
	}
	tk, _ := override.New(override.Config{Secret: []byte(secret)})
	if _, err := tk.Issue("", record(), watched, nil); err == nil {
		t.Error("token without a user issued")
	}
}

func TestMemoryUsedForgetsExpired(t *testing.T) {
	c := newClock()
	m := override.NewMemoryUsed(c.Now)
	ctx := context.Background()
	if ok, _ := m.Spend(ctx, "a", c.Now().Add(time.Minute)); !ok {
		t.Fatal("first spend refused")
	}
	if ok, _ := m.Spend(ctx, "a", c.Now().Add(time.Minute)); ok {
		t.Fatal("second spend accepted")
	}
	c.Add(2 * time.Minute)
	_, _ = m.Spend(ctx, "b", c.Now().Add(time.Minute))
	if m.Len() != 1 {
		t.Fatalf("%d ids remembered after expiry, want 1", m.Len())
	}
}

func TestDigestNormalisation(t *testing.T) {
	attrs := []string{"birthdate", "firstname"}
	d := func(birth, first string) string {
		return override.Digest(matcher.Record{Entity: "contact", Attrs: map[string]string{"birthdate": birth, "firstname": first}}, attrs)
	}
	base := d("1980-05-01", "Robert")
	for _, tt := range []struct {
		birth, first string
		same         bool
	}{
		{"1980-05-01T00:00:00Z", "robert", true},
		{"1980-05-01T23:00:00+02:00", " Robert ", true},
		{"1980-05-02", "Robert", false},
		{"1980-05-01", "Rob", false},
		{"", "Robert", false},
	} {
		if got := d(tt.birth, tt.first) == base; got != tt.same {
			t.Errorf("Digest(%q, %q) equal to the base: %v, want %v", tt.birth, tt.first, got, tt.same)
		}
	}
	// An attribute the record lacks and one that is blank are the same.
	empty := override.Digest(matcher.Record{Attrs: map[string]string{"firstname": "  "}}, attrs)
	if empty != override.Digest(matcher.Record{Attrs: map[string]string{}}, attrs) {
		t.Error("blank and absent differ")
	}
}
