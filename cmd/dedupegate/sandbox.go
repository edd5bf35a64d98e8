package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/dataverse/emulator"
	"github.com/dedupegate/dedupegate/gateway"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/registration"
	"github.com/dedupegate/dedupegate/rules"
)

// sandboxOptions configure startSandbox.
type sandboxOptions struct {
	// Listen is a loopback address; port 0 picks a free port.
	Listen string
	// ConfigPath is a gateway config; empty uses the embedded configs/sandbox/dedupegate.yaml.
	ConfigPath string
	// SeedDir holds <entityset>.json files; empty uses the embedded configs/sandbox/seed.
	SeedDir string
	// Token is the emulator's bearer token; empty generates one.
	Token string
	Log   *zap.Logger
	// AsyncDelay delays the emulator's asynchronous steps (Dataverse's async service runs them
	// seconds after the save); 0 runs them at once.
	AsyncDelay time.Duration
}

// sandbox is the emulator and the gateway serving on one loopback address.
type sandbox struct {
	URL    string // http://127.0.0.1:PORT
	Token  string
	cfg    *config.Config
	emu    *emulator.Emulator
	gw     *gateway.Gateway
	client *dataverse.Client
	srv    *http.Server
	errc   chan error
	seeded map[string]int // entity set → rows
	seed   map[string][]map[string]any
	steps  int
	log    *zap.Logger
}

// startSandbox starts the emulator and the gateway on one address, seeds the emulator, loads
// the index from it over the Web API, and registers the webhook steps against it with the same
// code `dedupegate register` uses.
func startSandbox(ctx context.Context, o sandboxOptions) (*sandbox, error) {
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	cfg, err := sandboxConfig(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", o.Listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--listen %q: the sandbox only listens on loopback (its secrets are public)", o.Listen)
	}
	token := o.Token
	if token == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		token = "sandbox-" + hex.EncodeToString(b)
	}
	set, _, err := loadScanRules(cfg, "")
	if err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, err
	}
	sb := &sandbox{URL: "http://" + ln.Addr().String(), Token: token, cfg: cfg, log: log, seeded: map[string]int{}, errc: make(chan error, 1)}
	cfg.Listen = ln.Addr().String()
	cfg.Dataverse = config.Dataverse{URL: sb.URL, Timeout: config.Duration(10 * time.Second),
		Auth: config.DataverseAuth{Method: "static_token", Token: config.Secret(token)}}

	var tables []emulator.Table
	for _, t := range append(set.Tables(), set.CandidateTables()...) {
		if !emulator.IsBuiltin(t) {
			tables = append(tables, emulator.DefaultTable(t))
		}
	}
	if sb.emu, err = emulator.New(emulator.Config{Token: token, OrganizationName: "sandbox", Tables: tables, Logger: log.Named("emulator"), AsyncDelay: o.AsyncDelay}); err != nil {
		ln.Close()
		return nil, err
	}
	if sb.client, err = dataverse.New(ctx, cfg.Dataverse, dataverse.WithLogger(log.Named("dataverse"))); err != nil {
		ln.Close()
		return nil, err
	}
	mem := index.NewMemory()
	fallback := &dataverse.Fallback{Client: sb.client}
	sb.gw, err = gateway.New(ctx, cfg, log, gateway.WithIndex(mem), gateway.WithRowReader(sb.client),
		gateway.WithEngineOptions(rules.WithFallback(fallback)))
	if err != nil {
		ln.Close()
		return nil, err
	}
	fallback.Rules = sb.gw.Engine.Rules
	emu := echo.WrapHandler(sb.emu)
	sb.gw.Echo.Any(dataverse.APIPath+"*", emu)
	sb.gw.Echo.Any(strings.TrimSuffix(dataverse.APIPath, "/"), emu)
	sb.srv = &http.Server{Handler: sb.gw.Echo, ReadHeaderTimeout: 10 * time.Second}
	go func() { sb.errc <- sb.srv.Serve(ln) }()

	if err := sb.seedRows(o.SeedDir); err != nil {
		sb.Close(context.Background())
		return nil, err
	}
	live := sb.gw.Engine.Rules()
	for _, table := range live.CandidateTables() {
		err := sb.client.Rows(ctx, table, live.IndexedAttrs(table), time.Time{}, func(recs []matcher.Record) error {
			return index.FileBatch(ctx, mem, live, recs)
		})
		if err != nil {
			sb.Close(context.Background())
			return nil, fmt.Errorf("loading the index from the emulator: %w", err)
		}
	}
	plan, err := registration.Desired(live, registration.Options{Prefix: registration.DefaultPrefix,
		WebhookURL: sb.URL + cfg.Webhook.Path, Auth: registrationAuth(cfg)})
	if err == nil {
		_, err = registration.Register(ctx, sb.client, plan, false)
		sb.steps = len(plan.Steps)
	}
	if err != nil {
		sb.Close(context.Background())
		return nil, fmt.Errorf("registering the webhook steps in the emulator: %w", err)
	}
	return sb, nil
}

// sandboxConfig loads path, or the embedded sandbox config.
func sandboxConfig(path string) (*config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	data, err := configs.Sandbox.ReadFile("sandbox/dedupegate.yaml")
	if err != nil {
		return nil, err
	}
	return config.Parse(data, "configs/sandbox/dedupegate.yaml (embedded)", os.Getenv)
}

// seedRows inserts <entityset>.json files (accounts first, then contacts, leads and the rest,
// so that lookups can point at rows already there). Seeding runs no steps.
func (sb *sandbox) seedRows(dir string) error {
	var fsys fs.FS
	root := "sandbox/seed"
	if dir != "" {
		fsys, root = os.DirFS(dir), "."
	} else {
		fsys = configs.Sandbox
	}
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return fmt.Errorf("seed folder: %w", err)
	}
	rank := map[string]int{"accounts": 0, "contacts": 1, "leads": 2}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, strings.TrimSuffix(e.Name(), ".json"))
		}
	}
	sort.Slice(names, func(i, j int) bool {
		ri, iok := rank[names[i]]
		rj, jok := rank[names[j]]
		if iok != jok {
			return iok
		}
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	sb.seed = map[string][]map[string]any{}
	for _, set := range names {
		table, ok := sb.emu.TableForSet(set)
		if !ok {
			return fmt.Errorf("seed file %s.json: the emulator serves no entity set %q", set, set)
		}
		data, err := fs.ReadFile(fsys, path.Join(root, set+".json"))
		if err != nil {
			return err
		}
		var rows []map[string]any
		if err := json.Unmarshal(data, &rows); err != nil {
			return fmt.Errorf("seed file %s.json: %w", set, err)
		}
		n, err := sb.emu.SeedJSON(table, strings.NewReader(string(data)))
		if err != nil {
			return fmt.Errorf("seed file %s.json: %w", set, err)
		}
		sb.seeded[set] = n
		sb.seed[set] = rows
	}
	return nil
}

// Close stops the server, waits for asynchronous steps, and releases the gateway.
func (sb *sandbox) Close(ctx context.Context) error {
	err := sb.srv.Shutdown(ctx)
	if sb.emu != nil {
		err = errors.Join(err, sb.emu.Close(ctx))
	}
	if sb.gw != nil {
		err = errors.Join(err, sb.gw.Close())
	}
	return err
}

// sandboxExample is one request the instructions suggest.
type sandboxExample struct {
	Title  string
	Body   map[string]any
	Expect string
}

// examples builds the suggested creates from the first seeded contact: a near-duplicate of it
// (blocked), a new person (saved), and a near-duplicate of the new person (blocked once the
// asynchronous PostOperation step has indexed them).
func (sb *sandbox) examples() []sandboxExample {
	var out []sandboxExample
	if cs := sb.seed["contacts"]; len(cs) > 0 {
		c := cs[0]
		dup := map[string]any{}
		for _, k := range []string{"firstname", "lastname", "emailaddress1"} {
			if v, ok := c[k].(string); ok {
				dup[k] = v
			}
		}
		if e, ok := dup["emailaddress1"].(string); ok {
			dup["emailaddress1"] = strings.ToUpper(e) // e-mail addresses compare case-insensitively
		}
		if f, ok := dup["firstname"].(string); ok && len(f) > 3 {
			dup["firstname"] = f[:2] + f[3:] // a typo: John → Jon
		}
		out = append(out, sandboxExample{Title: fmt.Sprintf("A near-duplicate of the seeded contact %v %v is blocked", c["firstname"], c["lastname"]),
			Body: dup, Expect: "HTTP 400: the synchronous PreValidation step's webhook answered 409, so Dataverse refuses the save"})
	}
	out = append(out,
		sandboxExample{Title: "A new person is saved", Body: map[string]any{"firstname": "Nadia", "lastname": "Quist",
			"emailaddress1": "nadia.quist@post.example", "telephone1": "+44 20 7946 0999"},
			Expect: "HTTP 204 with an OData-EntityId header; the asynchronous PostOperation step then files them in the index"},
		sandboxExample{Title: "Once indexed, a near-duplicate of the new person is blocked too", Body: map[string]any{"firstname": "Nadia",
			"lastname": "Quist", "emailaddress1": "Nadia.Quist@POST.example"},
			Expect: "HTTP 400"},
	)
	return out
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// instructions is what the sandbox prints: where things are and exact curl commands.
func (sb *sandbox) instructions(w io.Writer) {
	api := sb.URL + dataverse.APIPath
	auth := "Authorization: Bearer " + sb.Token
	var seeded []string
	for _, s := range []string{"accounts", "contacts", "leads"} {
		if n, ok := sb.seeded[s]; ok {
			seeded = append(seeded, fmt.Sprintf("%d %s", n, s))
		}
	}
	fmt.Fprintf(w, `
dedupegate sandbox is running on %s

  Emulated Dataverse Web API  %s
  Gateway webhook             %s%s
  Seeded                      %s (loaded into the in-process index)
  Registered                  1 webhook endpoint and %d steps, by the same code as 'dedupegate register'

Every Web API request needs this header:
  %s

Try it:
`, sb.URL, api, sb.URL, sb.cfg.Webhook.Path, strings.Join(seeded, ", "), sb.steps, auth)
	for i, ex := range sb.examples() {
		body, _ := json.Marshal(ex.Body)
		fmt.Fprintf(w, "\n%d. %s (expect %s):\n   curl -i -X POST %s \\\n     -H %s -H 'Content-Type: application/json' \\\n     -d %s\n",
			i+1, ex.Title, ex.Expect, api+"contacts", shellQuote(auth), shellQuote(string(body)))
	}
	n := len(sb.examples()) + 1
	fmt.Fprintf(w, "\n%d. Query the contacts (OData: $select, $filter, $top, paging with Prefer: odata.maxpagesize):\n   curl -s %s -H %s\n",
		n, shellQuote(api+"contacts?$select=fullname,emailaddress1&$filter=contains(fullname,'smith')&$top=5"), shellQuote(auth))
	fmt.Fprintf(w, "\n%d. See the registered steps:\n   curl -s %s -H %s\n",
		n+1, shellQuote(api+"sdkmessageprocessingsteps?$select=name,stage,mode,filteringattributes"), shellQuote(auth))
	if sb.cfg.CheckAPI.Enabled && len(sb.cfg.CheckAPI.APIKeys) > 0 {
		ex := sb.examples()[0]
		body, _ := json.Marshal(map[string]any{"entity": "contact", "attributes": ex.Body})
		fmt.Fprintf(w, "\n%d. Ask the check API why a record would be blocked (Dataverse never shows the webhook's reasons):\n   curl -s -X POST %s/api/v1/check -H %s -H 'Content-Type: application/json' \\\n     -d %s\n",
			n+2, sb.URL, shellQuote("X-API-Key: "+sb.cfg.CheckAPI.APIKeys[0].Value()), shellQuote(string(body)))
	}
	fmt.Fprintln(w, "\nThe gateway's decisions are logged on standard error. Press Ctrl+C to stop.")
}

// runSandbox runs the sandbox until interrupted.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8085", "loopback address for the emulator and the gateway")
	cfgPath := fs.String("config", "", "gateway config (default: the embedded configs/sandbox/dedupegate.yaml)")
	seedDir := fs.String("seed", "", "folder of <entityset>.json seed files (default: the embedded configs/sandbox/seed)")
	token := fs.String("token", os.Getenv("DEDUPEGATE_SANDBOX_TOKEN"), "bearer token the emulator accepts (default: generated; env DEDUPEGATE_SANDBOX_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := sandboxConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate sandbox:", err)
		return exitUsage
	}
	log, err := gateway.NewLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate sandbox:", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	sb, err := startSandbox(ctx, sandboxOptions{Listen: *listen, ConfigPath: *cfgPath, SeedDir: *seedDir, Token: *token, Log: log})
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate sandbox:", err)
		return exitFailure
	}
	sb.instructions(stdout)
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-sb.errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = sb.Close(sctx)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "dedupegate sandbox:", serveErr)
		return exitFailure
	}
	return exitOK
}
