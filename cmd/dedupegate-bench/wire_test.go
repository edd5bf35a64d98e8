package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWire drives the load generator's HTTP/1.1 sender against a real net/http server on
// loopback: answers with a length, chunked answers, a server that closes the connection, and
// the request as the server sees it.
func TestWire(t *testing.T) {
	big := strings.Repeat(`{"result":"block","reasons":["x"]}`, 200) // over net/http's 2 KB: chunked
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("x-dedupegate-secret") != "s3cret" ||
			r.Header.Get("Content-Type") != "application/json" || r.URL.Path != "/webhooks/dataverse" {
			http.Error(w, "bad request shape", http.StatusBadRequest)
			return
		}
		switch string(body) {
		case `{"n":"small"}`:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"result":"allow"}`))
		case `{"n":"big"}`:
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(big))
			w.(http.Flusher).Flush()
		case `{"n":"close"}`:
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"result":"warn"}`))
		default:
			http.Error(w, "unknown body", http.StatusBadRequest)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	w, err := newWire(srv.URL+"/webhooks/dataverse", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	for _, tc := range []struct {
		body   string
		status int
		want   string
		conns  int32 // connections opened so far
	}{
		{`{"n":"small"}`, 200, `{"result":"allow"}`, 1},
		{`{"n":"big"}`, 409, big, 1},
		{`{"n":"small"}`, 200, `{"result":"allow"}`, 1}, // kept alive after a chunked answer
		{`{"n":"close"}`, 200, `{"result":"warn"}`, 1},
		{`{"n":"small"}`, 200, `{"result":"allow"}`, 2}, // the server closed: a new connection
		{`{"n":"nope"}`, 400, "unknown body\n", 2},
	} {
		status, got, err := w.post([]byte(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if status != tc.status || !bytes.Equal(got, []byte(tc.want)) {
			t.Fatalf("%s: got %d %.80q, want %d %.80q", tc.body, status, got, tc.status, tc.want)
		}
		if n := conns.Load(); n != tc.conns {
			t.Fatalf("%s: %d connections opened, want %d", tc.body, n, tc.conns)
		}
	}

	// A dead server is an error, not a hang; the sender dials again afterwards.
	srv.Close()
	if _, _, err := w.post([]byte(`{"n":"small"}`)); err == nil {
		t.Fatal("no error from a closed server")
	}
	if w.conn != nil {
		t.Fatal("the failed connection was kept")
	}
}

func TestNewWireRefusesHTTPS(t *testing.T) {
	if _, err := newWire("https://127.0.0.1:1/x", "s"); err == nil {
		t.Fatal("https accepted")
	}
}

// TestWirePoolLIFO: the pool hands out the connection returned last and dials only when none
// is idle.
func TestWirePoolLIFO(t *testing.T) {
	p := &wirePool{target: "http://127.0.0.1:1/webhooks/dataverse", secret: "s"}
	defer p.close()
	a, _ := p.get()
	b, _ := p.get()
	if a == b || len(p.all) != 2 {
		t.Fatalf("two gets without puts: %p %p, %d made", a, b, len(p.all))
	}
	p.put(a)
	p.put(b)
	if got, _ := p.get(); got != b {
		t.Fatal("not the connection returned last")
	}
	if got, _ := p.get(); got != a || len(p.all) != 2 {
		t.Fatal("dialled although one was idle")
	}
}

// TestFixedRateSchedule: the fixed-rate phase sends every request of its schedule once, each
// due interval after the one before, counts its latency from when it was due, and keeps the
// schedule while the server is slow (requests overlap instead of queueing behind each other).
func TestFixedRateSchedule(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if hits.Add(1)%10 == 0 {
			time.Sleep(30 * time.Millisecond) // every tenth answer slow
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"result":"allow"}`))
	}))
	defer srv.Close()
	d := &driver{secret: "s", tpl: []template{newTemplate([]byte(`{"n":1}`), false)}}
	const rate = 500
	start := time.Now()
	ph := d.fixedRate(context.Background(), srv.URL+"/webhooks/dataverse", rate, 400*time.Millisecond)
	if len(ph.results) != 200 || hits.Load() != 200 {
		t.Fatalf("%d results, %d requests served, want 200 each", len(ph.results), hits.Load())
	}
	interval := time.Second / rate
	for i, r := range ph.results {
		if r.outcome != 'a' {
			t.Fatalf("request %d: outcome %q", i, r.outcome)
		}
		if i > 0 && r.due.Sub(ph.results[i-1].due) != interval {
			t.Fatalf("request %d due %v after the one before, want %v", i, r.due.Sub(ph.results[i-1].due), interval)
		}
		if r.lat <= 0 || r.due.Before(start) {
			t.Fatalf("request %d: latency %v, due %v before the start %v", i, r.lat, r.due, start)
		}
	}
	// 20 answers took 30 ms; had the requests queued behind them the phase would take over
	// 400 ms + 20 × 30 ms.
	if ph.elapsed > 900*time.Millisecond {
		t.Fatalf("the phase took %v: the slow answers held the schedule up", ph.elapsed)
	}
}

func TestPeakLevels(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		bad  bool
	}{
		{"32", []int{32}, false},
		{"32,64, 128", []int{32, 64, 128}, false},
		{"", nil, true},
		{"32,,64", nil, true},
		{"0", nil, true},
		{"-4", nil, true},
		{"many", nil, true},
	} {
		got, err := parseLevels(tc.in)
		if (err != nil) != tc.bad || !slices.Equal(got, tc.want) {
			t.Errorf("parseLevels(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
	runs := []peakRun{{conns: 32, s: stats{rps: 3500}}, {conns: 64, s: stats{rps: 5100}}, {conns: 128, s: stats{rps: 4600}}}
	if b := bestRun(runs); b.conns != 64 {
		t.Fatalf("best run at %d in flight, want 64", b.conns)
	}
}
