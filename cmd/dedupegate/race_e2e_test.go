package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/dataverse"
)

// TestConcurrentCreatesThroughEmulator is issue 4's race test: 20 concurrent creates of the
// same new person through the emulated Web API, whose pipelines run concurrently as Dataverse's
// do. With reservations exactly one is saved; without them (the race every query-based check,
// Dataverse's own duplicate detection included, admits) several are.
func TestConcurrentCreatesThroughEmulator(t *testing.T) {
	base, err := os.ReadFile("../../configs/sandbox/dedupegate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, reservations := range []bool{true, false} {
		t.Run(fmt.Sprintf("reservations=%v", reservations), func(t *testing.T) {
			cfg := strings.Replace(string(base), "failure_policy: open", fmt.Sprintf("failure_policy: open\n  reservations: %v", reservations), 1)
			if cfg == string(base) {
				t.Fatal("sandbox config changed shape: cannot set decision.reservations")
			}
			path := filepath.Join(t.TempDir(), "dedupegate.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			// The PostOperation step that files a saved row runs asynchronously, as in Dataverse,
			// where the async service runs it a while after the save: with a delay, every create
			// is checked before the first saved row is filed, however fast the checks are (the
			// window in which query-based checks race).
			sb, err := startSandbox(t.Context(), sandboxOptions{Listen: "127.0.0.1:0", ConfigPath: path, Token: sandboxTestToken,
				Log: zap.NewNop(), AsyncDelay: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = sb.Close(ctx)
			})
			body, _ := json.Marshal(map[string]any{"firstname": "Zofia", "lastname": "Wiśniewska",
				"emailaddress1": "zofia.wisniewska@race.example", "telephone1": "+48 22 555 01 99"})
			var wg sync.WaitGroup
			statuses := make([]int, 20)
			start := make(chan struct{})
			for i := range statuses {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					req, _ := http.NewRequest("POST", sb.URL+dataverse.APIPath+"contacts", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+sandboxTestToken)
					req.Header.Set("Content-Type", "application/json")
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					res.Body.Close()
					statuses[i] = res.StatusCode
				}()
			}
			close(start)
			wg.Wait()
			wctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := sb.emu.WaitIdle(wctx); err != nil {
				t.Fatal(err)
			}
			saved := 0
			err = sb.client.List(t.Context(), "contact", dataverse.Query{Select: []string{"contactid"},
				Filter: "emailaddress1 eq 'zofia.wisniewska@race.example'"}, func(rows []map[string]any) error {
				saved += len(rows)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			created := 0
			for _, s := range statuses {
				if s/100 == 2 {
					created++
				}
			}
			if created != saved {
				t.Errorf("%d creates answered 2xx but %d rows saved", created, saved)
			}
			if reservations && saved != 1 {
				t.Errorf("with reservations: %d saved, want exactly 1 (statuses %v)", saved, statuses)
			}
			if !reservations && saved < 2 {
				t.Errorf("without reservations: %d saved; the race did not show, so the test proves nothing (statuses %v)", saved, statuses)
			}
		})
	}
}
