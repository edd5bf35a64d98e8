package indexsync_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/dataverse/emulator"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/indexsync"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

const token = "indexsync-test-token"

// clock is the emulator's time, moved by the tests so that modifiedon values are known.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time  { return *c.t.Load() }
func (c *clock) set(t time.Time) { c.t.Store(&t) }

type harness struct {
	emu    *emulator.Emulator
	client *dataverse.Client
	clock  *clock
	set    *rules.Set
}

func start(t testing.TB) *harness {
	t.Helper()
	c := &clock{}
	c.set(time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC))
	emu, err := emulator.New(emulator.Config{Token: token, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = emu.Close(ctx)
		srv.Close()
	})
	client, err := dataverse.New(t.Context(), config.Dataverse{URL: srv.URL, Timeout: config.Duration(10 * time.Second),
		Auth: config.DataverseAuth{Method: "static_token", Token: config.Secret(token)}},
		dataverse.WithRetry(dataverse.RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	return &harness{emu: emu, client: client, clock: c, set: contactRules(t)}
}

func contactRules(t testing.TB) *rules.Set {
	t.Helper()
	m, err := matcher.Compile(matcher.RuleSpec{Name: "contact-duplicate", Entity: "contact", Fields: []matcher.FieldSpec{
		{Attr: "emailaddress1", Comparator: "email", Weight: 3, Blocking: true, Strong: true},
		{Attr: "lastname", Comparator: "lastname", Weight: 1, Blocking: true},
		{Attr: "firstname", Comparator: "firstname", Weight: 1},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rules.NewSet([]*rules.Rule{{Name: "contact-duplicate", Entity: "contact", CandidateEntity: "contact", Matcher: m,
		BlockThreshold: 0.9, WarnThreshold: 0.7, MergeThreshold: 0.95, Action: rules.ActionBlock}})
}

func (h *harness) insert(t testing.TB, i int) string {
	t.Helper()
	id, err := h.emu.Insert("contact", map[string]any{"firstname": fmt.Sprintf("Ann%d", i), "lastname": fmt.Sprintf("Surname%d", i%50),
		"emailaddress1": fmt.Sprintf("ann%d@contoso.com", i), "jobtitle": "not read by any rule"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// found returns the ids filed under the e-mail key of contact i.
func found(t *testing.T, x indexsync.Index, set *rules.Set, email string) []matcher.Record {
	t.Helper()
	probe := matcher.Record{Entity: "contact", Attrs: map[string]string{"emailaddress1": email}}
	var keys []string
	for _, r := range set.ForEntity("contact") {
		keys = append(keys, r.Matcher.BlockingKeys(r.Matcher.Prepare(probe))...)
	}
	res, err := x.(rules.Index).Lookup(t.Context(), rules.Lookup{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res.Records {
		res.Records[i] = r.Unpacked()
	}
	return res.Records
}

func indexes(t *testing.T) map[string]func(t *testing.T) indexsync.Index {
	return map[string]func(t *testing.T) indexsync.Index{
		"memory": func(t *testing.T) indexsync.Index { return index.NewMemory() },
		"redis": func(t *testing.T) indexsync.Index {
			x, err := redisindex.New(config.Redis{Addrs: []string{redistest.Standalone(t)}, Prefix: redistest.Prefix(t)}, redisindex.WithBuckets(256))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = x.Close() })
			return x
		},
	}
}

func TestFullIncrementalAndSweep(t *testing.T) {
	for name, newIndex := range indexes(t) {
		t.Run(name, func(t *testing.T) {
			h := start(t)
			x := newIndex(t)
			ids := make([]string, 0, 6000)
			for i := 0; i < 6000; i++ {
				ids = append(ids, h.insert(t, i))
			}
			var mu sync.Mutex
			var progress []indexsync.Progress
			// No overlap: the test reads exactly the rows modified after the watermark (the
			// emulator's clock moves in hours; the overlap is tested below).
			s := indexsync.New(h.client, x, func() *rules.Set { return h.set }, indexsync.WithOverlap(0), indexsync.WithProgress(func(p indexsync.Progress) {
				mu.Lock()
				progress = append(progress, p)
				mu.Unlock()
			}))

			// The first load is full even when asked for an incremental one: no watermark yet.
			res, err := s.Sync(t.Context(), "contact", false)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Full || res.Rows != 6000 || !res.Watermark.Equal(h.clock.now()) {
				t.Fatalf("first load: %+v", res)
			}
			if len(progress) < 2 || progress[len(progress)-1].Done != 6000 {
				t.Fatalf("progress reports: %d, last %+v", len(progress), progress[len(progress)-1])
			}
			for i := 1; i < len(progress); i++ {
				if progress[i].Done <= progress[i-1].Done {
					t.Fatalf("progress went backwards: %+v then %+v", progress[i-1], progress[i])
				}
			}
			recs := found(t, x, h.set, "ann4321@contoso.com")
			if len(recs) != 1 || recs[0].ID != ids[4321] || recs[0].Attrs["firstname"] != "Ann4321" {
				t.Fatalf("after the full load: %+v", recs)
			}
			if _, ok := recs[0].Attrs["jobtitle"]; ok {
				t.Fatal("an attribute no rule reads was cached")
			}

			// An hour later, 3 rows change and 1 is added: the incremental load reads those only.
			h.clock.set(h.clock.now().Add(time.Hour))
			for _, i := range []int{10, 20, 30} {
				if err := h.client.Update(t.Context(), "contact", ids[i], map[string]any{"emailaddress1": fmt.Sprintf("changed%d@contoso.com", i)}); err != nil {
					t.Fatal(err)
				}
			}
			newID := h.insert(t, 9999)
			res, err = s.Sync(t.Context(), "contact", false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Full || res.Rows != 4 || !res.Watermark.Equal(h.clock.now()) || !res.Since.Equal(h.clock.now().Add(-time.Hour)) {
				t.Fatalf("incremental load: %+v", res)
			}
			if recs := found(t, x, h.set, "ann20@contoso.com"); len(recs) != 0 {
				t.Fatalf("old e-mail still finds the changed row: %+v", recs)
			}
			if recs := found(t, x, h.set, "changed20@contoso.com"); len(recs) != 1 || recs[0].ID != ids[20] {
				t.Fatalf("new e-mail: %+v", recs)
			}
			if recs := found(t, x, h.set, "ann9999@contoso.com"); len(recs) != 1 || recs[0].ID != newID {
				t.Fatalf("added row: %+v", recs)
			}

			// Nothing changed: an incremental load reads nothing and keeps the watermark.
			h.clock.set(h.clock.now().Add(time.Hour))
			mark := res.Watermark
			if res, err = s.Sync(t.Context(), "contact", false); err != nil || res.Rows != 0 || !res.Watermark.Equal(mark) {
				t.Fatalf("idle incremental load: %+v %v", res, err)
			}

			// Rows deleted while no event reached the gateway: a full load removes them.
			for _, i := range []int{1, 2} {
				if err := h.client.Delete(t.Context(), "contact", ids[i]); err != nil {
					t.Fatal(err)
				}
			}
			res, err = s.Sync(t.Context(), "contact", true)
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != 5999 {
				t.Fatalf("full reload: %+v", res)
			}
			if sweeps := x.(index.Enumerator); sweeps != nil && res.Removed != 2 {
				t.Fatalf("full reload removed %d records, want 2", res.Removed)
			}
			if recs := found(t, x, h.set, "ann2@contoso.com"); len(recs) != 0 {
				t.Fatalf("deleted row still filed: %+v", recs)
			}
		})
	}
}

// failing wraps a source and fails on its n-th page.
type failing struct {
	indexsync.Source
	n int
}

func (f failing) Rows(ctx context.Context, table string, attrs []string, since time.Time, page func([]matcher.Record) error) error {
	i := 0
	return f.Source.Rows(ctx, table, attrs, since, func(rows []matcher.Record) error {
		if i++; i == f.n {
			return errors.New("connection reset")
		}
		return page(rows)
	})
}

func TestInterruptedLoadKeepsTheWatermark(t *testing.T) {
	h := start(t)
	for i := 0; i < 12000; i++ {
		h.insert(t, i)
	}
	x := index.NewMemory()
	s := indexsync.New(failing{Source: h.client, n: 2}, x, func() *rules.Set { return h.set })
	res, err := s.Sync(t.Context(), "contact", true)
	if err == nil {
		t.Fatal("a failed page did not fail the load")
	}
	if res.Rows != 5000 {
		t.Fatalf("rows filed before the failure: %d, want the first page's 5000", res.Rows)
	}
	if w, _ := x.Watermark(t.Context(), "contact"); !w.IsZero() {
		t.Fatalf("watermark stored by a failed load: %v", w)
	}
	// Done again in full.
	s = indexsync.New(h.client, x, func() *rules.Set { return h.set })
	if res, err = s.Sync(t.Context(), "contact", false); err != nil || !res.Full || res.Rows != 12000 {
		t.Fatalf("load after the failure: %+v %v", res, err)
	}
}

func TestRunHealsMissedEvents(t *testing.T) {
	h := start(t)
	h.insert(t, 1)
	x := index.NewMemory()
	s := indexsync.New(h.client, x, func() *rules.Set { return h.set }, indexsync.WithOverlap(0))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx, 20*time.Millisecond); close(done) }()
	waitFor(t, func() bool { return x.Len() == 1 })
	// A row created "without its event": Run picks it up.
	h.clock.set(h.clock.now().Add(time.Minute))
	id := h.insert(t, 2)
	waitFor(t, func() bool { return len(found(t, x, h.set, "ann2@contoso.com")) == 1 })
	if recs := found(t, x, h.set, "ann2@contoso.com"); recs[0].ID != id {
		t.Fatalf("healed row: %+v", recs)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop when its context ended")
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOverlapRereadsRecentRows(t *testing.T) {
	h := start(t)
	h.insert(t, 1)
	x := index.NewMemory()
	s := indexsync.New(h.client, x, func() *rules.Set { return h.set })
	if _, err := s.Sync(t.Context(), "contact", false); err != nil {
		t.Fatal(err)
	}
	first := h.clock.now()
	h.clock.set(first.Add(2 * time.Minute)) // within the default 5-minute overlap
	h.insert(t, 2)
	h.clock.set(first.Add(time.Hour))
	res, err := s.Sync(t.Context(), "contact", false)
	if err != nil {
		t.Fatal(err)
	}
	// The load starts 5 minutes before the watermark (the first row's time): the first row
	// is read again with the new one.
	if !res.Since.Equal(first.Add(-indexsync.DefaultOverlap)) || res.Rows != 2 || !res.Watermark.Equal(first.Add(2*time.Minute)) {
		t.Fatalf("incremental load with overlap: %+v", res)
	}
}

func TestTablesWithoutRules(t *testing.T) {
	h := start(t)
	s := indexsync.New(h.client, index.NewMemory(), func() *rules.Set { return h.set })
	if _, err := s.Sync(t.Context(), "account", true); !errors.Is(err, indexsync.ErrNoRules) {
		t.Fatalf("got %v, want ErrNoRules", err)
	}
	res, err := s.SyncAll(t.Context(), true)
	if err != nil || len(res) != 1 || res[0].Table != "contact" {
		t.Fatalf("SyncAll over the rules' tables: %+v %v", res, err)
	}
}

// TestRedisKilledMidLoad kills Redis while a load is writing: the load fails without moving
// the watermark, and once Redis is back (empty: no persistence) the next load is a full one
// that leaves the index complete.
func TestRedisKilledMidLoad(t *testing.T) {
	h := start(t)
	for i := 0; i < 12000; i++ {
		h.insert(t, i)
	}
	srv := redistest.Start(t)
	x, err := redisindex.New(config.Redis{Addrs: []string{srv.Addr}, Prefix: "dg:",
		DialTimeout: config.Duration(200 * time.Millisecond), ReadTimeout: config.Duration(2 * time.Second), WriteTimeout: config.Duration(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	pages := 0
	s := indexsync.New(h.client, x, func() *rules.Set { return h.set }, indexsync.WithProgress(func(p indexsync.Progress) {
		if pages++; pages == 1 {
			srv.Kill() // after the first page is filed
		}
	}))
	res, err := s.Sync(t.Context(), "contact", false)
	if err == nil {
		t.Fatal("a load with Redis killed succeeded")
	}
	if res.Rows != 5000 {
		t.Fatalf("rows filed before the kill: %d", res.Rows)
	}
	srv.Restart(t)
	waitFor(t, func() bool { return x.Ready(t.Context()) == nil })
	if w, err := x.Watermark(t.Context(), "contact"); err != nil || !w.IsZero() {
		t.Fatalf("watermark after the failed load: %v %v", w, err)
	}
	s = indexsync.New(h.client, x, func() *rules.Set { return h.set })
	if res, err = s.Sync(t.Context(), "contact", false); err != nil || !res.Full || res.Rows != 12000 {
		t.Fatalf("load after Redis came back: %+v %v", res, err)
	}
	if recs := found(t, x, h.set, "ann11999@contoso.com"); len(recs) != 1 {
		t.Fatalf("last row after the reload: %+v", recs)
	}
}
