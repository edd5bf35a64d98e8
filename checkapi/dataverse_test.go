package checkapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dedupegate/dedupegate/checkapi"
	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
)

// fakeSecurity answers GET contacts(id) like Dataverse with row-level security: 200 for a
// caller who may read the row, 403 (missing privilege) otherwise, 404 for an unknown row.
type fakeSecurity struct {
	mu      sync.Mutex
	readers map[string]map[string]bool // id → caller oids
	callers []string
	fail    bool
}

func (f *fakeSecurity) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	caller := r.Header.Get("CallerObjectId")
	f.callers = append(f.callers, caller)
	w.Header().Set("Content-Type", "application/json")
	if f.fail {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"code":"0x80040203","message":"bad request"}}`))
		return
	}
	if r.Header.Get("Authorization") != "Bearer app-token" || r.Method != http.MethodGet ||
		!strings.HasPrefix(r.URL.Path, "/api/data/v9.2/contacts(") || r.URL.Query().Get("$select") != "contactid" {
		w.WriteHeader(http.StatusTeapot)
		return
	}
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/data/v9.2/contacts("), ")")
	readers, ok := f.readers[id]
	switch {
	case !ok:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"0x80040217","message":"contact With Id = ` + id + ` Does Not Exist"}}`))
	case !readers[caller]:
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error":{"code":"0x80040220","message":"Principal user (Id=` + caller + `, type=8) is missing prvReadContact privilege"}}`))
	default:
		_ = json.NewEncoder(w).Encode(map[string]string{"contactid": id})
	}
}

func TestDataverseVisibility(t *testing.T) {
	fake := &fakeSecurity{readers: map[string]map[string]bool{aliceID: {userOID: true}, robertID: {}}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := dataverse.New(context.Background(), config.Dataverse{URL: srv.URL,
		Auth: config.DataverseAuth{Method: "static_token", Token: "app-token"}})
	if err != nil {
		t.Fatal(err)
	}
	r := checkapi.DataverseVisibility(c)
	ctx := context.Background()
	for _, tt := range []struct {
		id   string
		want bool
	}{{aliceID, true}, {robertID, false}, {"00000000-0000-0000-0000-00000000dead", false}} {
		got, err := r.CanRead(ctx, userOID, "contact", tt.id)
		if err != nil || got != tt.want {
			t.Errorf("CanRead(%s) = %v, %v; want %v", tt.id, got, err, tt.want)
		}
	}
	fake.mu.Lock()
	for _, c := range fake.callers {
		if c != userOID {
			t.Errorf("request impersonated %q, want %q", c, userOID)
		}
	}
	fake.fail = true
	fake.mu.Unlock()
	if ok, err := r.CanRead(ctx, userOID, "contact", aliceID); err == nil || ok {
		t.Errorf("a Dataverse failure must be an error, got %v, %v", ok, err)
	}
	// Wired into the API: the same decision as TestVisibility, through HTTP.
	fake.mu.Lock()
	fake.fail = false
	fake.mu.Unlock()
	e := newEnv(t, func(cfg *checkapi.Config) { cfg.Visibility = r })
	var out checkapi.CheckResponse
	e.post(checkapi.CheckPath, map[string]any{"entity": "contact", "attributes": robert()}, e.bearer(userOID), &out)
	if len(out.Matches) != 1 || !out.Matches[0].Hidden {
		t.Fatalf("match the caller cannot read: %+v", out.Matches)
	}
}
