package audit_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/audit"
	"github.com/dedupegate/dedupegate/index/redistest"
)

// seq returns n entries one minute apart from t0, alternating tables and kinds.
func seq(t0 time.Time, n int) []audit.Entry {
	out := make([]audit.Entry, n)
	for i := range out {
		kind, table := audit.KindBlock, "contact"
		if i%2 == 1 {
			kind, table = audit.KindWarn, "lead"
		}
		out[i] = audit.Entry{Time: t0.Add(time.Duration(i) * time.Minute), Kind: kind, Outcome: string(kind), Table: table, UserID: fmt.Sprintf("u%d", i%3),
			CorrelationID: fmt.Sprint(i), Matches: []audit.Match{{Rule: fmt.Sprintf("rule-%d", i%2), Action: "block", Level: "block", Entity: table, ID: "x"}}}
	}
	return out
}

func ids(es []audit.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.CorrelationID
	}
	return out
}

// TestStores runs the same expectations over the ring and a real Redis stream.
func TestStores(t *testing.T) {
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	stores := map[string]func(t *testing.T) audit.Store{
		"ring": func(t *testing.T) audit.Store { return audit.NewRing(1000) },
		"redis": func(t *testing.T) audit.Store {
			return audit.NewRedisStore(redistest.Client(t, redistest.Standalone(t)), redistest.Prefix(t)+"audit", 100_000)
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			if err := s.Append(t.Context(), seq(t0, 10)); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name  string
				since time.Time
				f     audit.Filter
				want  string
			}{
				{"all", time.Time{}, audit.Filter{}, "[0 1 2 3 4 5 6 7 8 9]"},
				{"since", t0.Add(7 * time.Minute), audit.Filter{}, "[7 8 9]"},
				{"until", t0, audit.Filter{Until: t0.Add(2 * time.Minute)}, "[0 1 2]"},
				{"limit keeps newest", time.Time{}, audit.Filter{Limit: 3}, "[7 8 9]"},
				{"kind", time.Time{}, audit.Filter{Kinds: []audit.Kind{audit.KindWarn}}, "[1 3 5 7 9]"},
				{"outcome", time.Time{}, audit.Filter{Outcome: "block"}, "[0 2 4 6 8]"},
				{"table and limit", time.Time{}, audit.Filter{Table: "contact", Limit: 2}, "[6 8]"},
				{"rule", time.Time{}, audit.Filter{Rule: "rule-1"}, "[1 3 5 7 9]"},
				{"user", time.Time{}, audit.Filter{UserID: "u0"}, "[0 3 6 9]"},
			}
			for _, tc := range tests {
				got, err := s.List(t.Context(), tc.since, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if g := fmt.Sprint(ids(got)); g != tc.want {
					t.Errorf("%s: got %s, want %s", tc.name, g, tc.want)
				}
				for _, e := range got {
					if e.ID == "" {
						t.Errorf("%s: entry without id", tc.name)
					}
				}
			}
		})
	}
}

func TestRingWraps(t *testing.T) {
	r := audit.NewRing(4)
	t0 := time.Unix(1_700_000_000, 0)
	if err := r.Append(t.Context(), seq(t0, 6)); err != nil {
		t.Fatal(err)
	}
	got, _ := r.List(t.Context(), time.Time{}, audit.Filter{})
	if g := fmt.Sprint(ids(got)); g != "[2 3 4 5]" || r.Len() != 4 {
		t.Fatalf("got %s (len %d)", g, r.Len())
	}
}

// TestRedisStreamPagesAndTrims writes more than one XREVRANGE page and more than MaxLen: List
// must page through, and the stream must stay near MaxLen (approximate trimming).
func TestRedisStreamPagesAndTrims(t *testing.T) {
	c := redistest.Client(t, redistest.Standalone(t))
	key := redistest.Prefix(t) + "audit"
	s := audit.NewRedisStore(c, key, 2000)
	t0 := time.Now().UTC().Add(-3 * time.Hour)
	all := make([]audit.Entry, 0, 5000)
	for i := 0; i < 5000; i++ {
		all = append(all, audit.Entry{Time: t0.Add(time.Duration(i) * time.Second), Kind: audit.KindWarn, Table: "contact", CorrelationID: fmt.Sprint(i)})
	}
	for off := 0; off < len(all); off += 500 {
		if err := s.Append(t.Context(), all[off:off+500]); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Len(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n < 2000 || n > 2200 {
		t.Fatalf("stream length %d, want about 2000", n)
	}
	got, err := s.List(t.Context(), time.Time{}, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != n || got[len(got)-1].CorrelationID != "4999" || got[0].CorrelationID != fmt.Sprint(5000-n) {
		t.Fatalf("listed %d (first %s, last %s), stream holds %d", len(got), got[0].CorrelationID, got[len(got)-1].CorrelationID, n)
	}
	// A foreign entry in the stream is skipped, not fatal.
	if err := c.XAdd(t.Context(), &redis.XAddArgs{Stream: key, Values: []any{"foo", "bar"}}).Err(); err != nil {
		t.Fatal(err)
	}
	got, err = s.List(t.Context(), time.Time{}, audit.Filter{Limit: 1})
	if err != nil || len(got) != 1 || got[0].CorrelationID != "4999" {
		t.Fatalf("with a foreign entry: %v %+v", err, got)
	}
}

// TestRedisStreamHoldsMarshalledEntries: each stream entry holds exactly json.Marshal of the
// entry (without its id), whatever its texts hold, and a batch that cannot be encoded writes
// nothing.
func TestRedisStreamHoldsMarshalledEntries(t *testing.T) {
	c := redistest.Client(t, redistest.Standalone(t))
	key := redistest.Prefix(t) + "audit"
	s := audit.NewRedisStore(c, key, 1000)
	t0 := time.Date(2026, 11, 27, 4, 5, 6, 789, time.UTC)
	entries := []audit.Entry{
		{ID: "ignored", Time: t0, Kind: audit.KindBlock, Outcome: "block", Table: "contact", LatencyMS: 1.25,
			Matches: []audit.Match{{Rule: "r<1>", Action: "block", Level: "block", Entity: "contact", ID: "x", Score: 1e-7,
				Reasons: []string{"first name ~ (nickname) & <b>", "\xff\u2028 é\t\"q\""}}}},
		{Time: t0.Add(time.Second), Kind: audit.KindFallback, Outcome: "allow", Fallback: "fail-open", Error: "redis: i/o timeout"},
		{Time: t0.Add(2 * time.Second), Kind: audit.KindAction, Note: "merge failed"},
	}
	if err := s.Append(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.XRange(t.Context(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(entries) {
		t.Fatalf("%d stream entries for %d entries", len(msgs), len(entries))
	}
	for i, e := range entries {
		e.ID = ""
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := msgs[i].Values["e"]; got != string(want) {
			t.Errorf("entry %d stored as %q, want %q", i, got, want)
		}
	}
	bad := []audit.Entry{{Time: t0, Kind: audit.KindWarn}, {Time: t0, Kind: audit.KindWarn, LatencyMS: math.NaN()}}
	if err := s.Append(t.Context(), bad); err == nil {
		t.Fatal("a NaN latency was stored")
	}
	if n, _ := s.Len(t.Context()); n != int64(len(entries)) {
		t.Fatalf("a failed batch wrote: %d entries", n)
	}
}
