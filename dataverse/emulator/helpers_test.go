package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
)

const testToken = "test-token-0123456789"

// env is an emulator served on loopback with a client.
type env struct {
	t      *testing.T
	emu    *Emulator
	srv    *httptest.Server
	client *dataverse.Client
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	emu, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = emu.Close(ctx)
		srv.Close()
	})
	c, err := dataverse.New(context.Background(), config.Dataverse{URL: srv.URL, Timeout: config.Duration(5 * time.Second),
		Auth: config.DataverseAuth{Method: "static_token", Token: config.Secret(cfg.Token)}},
		dataverse.WithRetry(dataverse.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, emu: emu, srv: srv, client: c}
}

// do sends a raw Web API request with the token.
func (e *env) do(method, path string, body any, hdr map[string]string) (*http.Response, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+dataverse.APIPath+path, rd)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var out map[string]any
	if len(data) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		_ = dec.Decode(&out)
	}
	return res, out
}

// call is one webhook request received.
type call struct {
	header http.Header
	query  url.Values
	body   []byte
	ctx    *dataverse.ExecutionContext
	at     time.Time
}

// receiver is a webhook endpoint on loopback that records calls and answers with respond.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	calls   []call
	respond func(n int, c call) int // n counts calls from 1
}

func newReceiver(t *testing.T, respond func(n int, c call) int) *receiver {
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := call{header: r.Header.Clone(), query: r.URL.Query(), body: body, at: time.Now()}
		ec, err := dataverse.DecodeContext(body)
		if err != nil {
			t.Errorf("webhook payload does not decode: %v", err)
		}
		c.ctx = ec
		rc.mu.Lock()
		rc.calls = append(rc.calls, c)
		n := len(rc.calls)
		rc.mu.Unlock()
		status := 200
		if rc.respond != nil {
			status = rc.respond(n, c)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) all() []call {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]call(nil), rc.calls...)
}

// stepSpec is a webhook step to register through the Web API.
type stepSpec struct {
	table, message string
	stage, mode    int
	filtering      string
	images         []map[string]any // imagetype, entityalias, attributes, messagepropertyname
}

// register creates a webhook service endpoint (HttpHeader auth) and steps through the client,
// looking the message and filter ids up as a real registration does.
func (e *env) register(url string, authtype int, authvalue string, steps ...stepSpec) (endpointID string, stepIDs []string) {
	e.t.Helper()
	ctx := context.Background()
	ep, err := e.client.Create(ctx, "serviceendpoint", map[string]any{
		"name": "test endpoint", "url": url, "contract": 8, "authtype": authtype, "authvalue": authvalue,
		"messageformat": 2, "connectionmode": 1,
	})
	if err != nil {
		e.t.Fatalf("create endpoint: %v", err)
	}
	for _, s := range steps {
		var msgID, filterID string
		err := e.client.List(ctx, "sdkmessage", dataverse.Query{Select: []string{"sdkmessageid"}, Filter: dataverse.Eq("name", s.message)},
			func(rows []map[string]any) error {
				msgID = rows[0]["sdkmessageid"].(string)
				return nil
			})
		if err != nil {
			e.t.Fatal(err)
		}
		err = e.client.List(ctx, "sdkmessagefilter", dataverse.Query{Select: []string{"sdkmessagefilterid"},
			Filter: dataverse.And(dataverse.Eq("primaryobjecttypecode", s.table), dataverse.Eq("sdkmessageid/name", s.message))},
			func(rows []map[string]any) error {
				filterID = rows[0]["sdkmessagefilterid"].(string)
				return nil
			})
		if err != nil {
			e.t.Fatal(err)
		}
		body := map[string]any{
			"name": "test: " + s.message + " of " + s.table, "stage": s.stage, "mode": s.mode, "rank": 1, "supporteddeployment": 0,
			"eventhandler_serviceendpoint@odata.bind": "/serviceendpoints(" + ep + ")",
			"sdkmessageid@odata.bind":                 "/sdkmessages(" + msgID + ")",
			"sdkmessagefilterid@odata.bind":           "/sdkmessagefilters(" + filterID + ")",
		}
		if s.filtering != "" {
			body["filteringattributes"] = s.filtering
		}
		id, err := e.client.Create(ctx, "sdkmessageprocessingstep", body)
		if err != nil {
			e.t.Fatalf("create step: %v", err)
		}
		stepIDs = append(stepIDs, id)
		for i, img := range s.images {
			img["sdkmessageprocessingstepid@odata.bind"] = "/sdkmessageprocessingsteps(" + id + ")"
			img["name"] = "image " + strings.Repeat("i", i+1)
			if _, err := e.client.Create(ctx, "sdkmessageprocessingstepimage", img); err != nil {
				e.t.Fatalf("create image: %v", err)
			}
		}
	}
	return ep, stepIDs
}

func headerAuth(name, value string) string {
	return `<settings><setting name="` + name + `" value="` + value + `" /></settings>`
}

func waitIdle(t *testing.T, emu *Emulator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := emu.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}
