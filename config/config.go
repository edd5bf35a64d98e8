package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole gateway configuration.
type Config struct {
	// Listen is the address serve binds. Defaults to 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// RulesFile is the rules file, relative to the config file's folder. Empty: the default
	// rules embedded in the binary (configs/rules.yaml as shipped).
	RulesFile string    `yaml:"rules_file"`
	Log       Log       `yaml:"log"`
	Webhook   Webhook   `yaml:"webhook"`
	Decision  Decision  `yaml:"decision"`
	Index     Index     `yaml:"index"`
	Dataverse Dataverse `yaml:"dataverse"`
	Matching  Matching  `yaml:"matching"`
	// ShutdownTimeout bounds graceful shutdown (in-flight requests finish). Defaults to 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`

	// Extensions owned by other parts of the gateway live in their own files of this package.
	CheckAPI CheckAPI `yaml:"check_api"`
	Audit    Audit    `yaml:"audit"`
	Actions  Actions  `yaml:"actions"`

	// dir is the folder of the file the config was loaded from; relative paths resolve there.
	dir string
}

// Log configures zap.
type Log struct {
	// Level is debug, info, warn or error. Defaults to info.
	Level string `yaml:"level"`
	// Format is json or console. Defaults to json.
	Format string `yaml:"format"`
}

// Webhook configures POST /webhooks/dataverse.
type Webhook struct {
	// Path defaults to /webhooks/dataverse.
	Path string `yaml:"path"`
	// Auth is how Dataverse authenticates (the service endpoint's authtype).
	Auth WebhookAuth `yaml:"auth"`
	// MaxBodyBytes caps the request body; larger bodies get 413. Defaults to 1 MiB: Dataverse
	// strips payloads above 256 KB to their headers (dataverse-facts.md §2), so a legitimate body
	// is far below this, and the cap bounds memory per request.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// SizeExceededCreate is the policy for a Create that arrives without InputParameters
	// (x-ms-dynamics-msg-size-exceeded): there is no row to re-read yet. allow (default) or block.
	SizeExceededCreate string `yaml:"size_exceeded_create"`
	// OverrideAttribute is the column that may carry an "Ignore and Save" token (the form
	// script writes it); the `tag` shared variable is always read too. Empty disables the column.
	OverrideAttribute string `yaml:"override_attribute"`
	// ApplicationUsers are systemuserids / Entra object ids of application users and integration
	// accounts: their saves use the "integration" entry point's actions.
	ApplicationUsers []string `yaml:"application_users"`
}

// WebhookAuth is the shared secret Dataverse sends.
type WebhookAuth struct {
	// Type is header (HttpHeader, preferred), webhookkey (?code=) or querystring
	// (HttpQueryString). Defaults to header.
	Type string `yaml:"type"`
	// Name is the header or query parameter carrying the secret. Defaults to
	// x-dedupegate-secret for header and querystring; webhookkey always uses "code".
	Name string `yaml:"name"`
	// Secrets are the accepted values; two at once allow rotation. Overridden by the environment
	// variables DEDUPEGATE_WEBHOOK_SECRET and DEDUPEGATE_WEBHOOK_SECRET_PREVIOUS.
	Secrets []Secret `yaml:"secrets"`
}

// Decision configures the engine's deadline and failure policy.
type Decision struct {
	// Deadline bounds one decision. Defaults to 1.5s.
	Deadline Duration `yaml:"deadline"`
	// FailurePolicy is open (allow, default) or closed (block) when no decision can be made in
	// time; Tables overrides it per table.
	FailurePolicy string            `yaml:"failure_policy"`
	Tables        map[string]string `yaml:"tables"`
	// Reservations turns on strong-key reservations against concurrent creates. Default true.
	Reservations *bool `yaml:"reservations"`
	// ReservationTTL defaults to 3m (longer than Dataverse's 2-minute operation limit).
	ReservationTTL Duration `yaml:"reservation_ttl"`
	// PerKeyLimit caps candidates read per blocking key. Defaults to 200.
	PerKeyLimit int `yaml:"per_key_limit"`
}

// Index selects and configures the candidate index.
type Index struct {
	// Backend is memory (in-process, default) or redis.
	Backend string `yaml:"backend"`
	Redis   Redis  `yaml:"redis"`
	// SyncInterval is how often serve runs the incremental sync by modifiedon. 0 disables.
	// Defaults to 5m when a Dataverse URL is configured.
	SyncInterval Duration `yaml:"sync_interval"`
}

// Redis configures go-redis's UniversalClient: one address is standalone, several are a
// cluster, and MasterName selects Sentinel.
type Redis struct {
	Addrs      []string `yaml:"addrs"`
	MasterName string   `yaml:"master_name"`
	Username   string   `yaml:"username"`
	// Password is overridden by DEDUPEGATE_REDIS_PASSWORD.
	Password Secret `yaml:"password"`
	DB       int    `yaml:"db"`
	// Prefix namespaces every key. Defaults to "dg:".
	Prefix string `yaml:"prefix"`
	// DialTimeout, ReadTimeout and WriteTimeout default to fractions of the decision deadline.
	DialTimeout  Duration `yaml:"dial_timeout"`
	ReadTimeout  Duration `yaml:"read_timeout"`
	WriteTimeout Duration `yaml:"write_timeout"`
	// TLS turns on TLS to Redis.
	TLS bool `yaml:"tls"`
	// Buckets is the candidate index's key bucket count, used when the index is first created
	// (a power of two, about records × keys per record / 50). 0: 131072, for up to about 1M
	// contacts under the shipped rules. See docs/index.md.
	Buckets int `yaml:"buckets"`
	// Replica makes each gateway keep a copy of the index in its own memory: loaded from Redis
	// at start, kept current from the index's change feed, answering decisions without a Redis
	// read while it is caught up (reservations are still claimed in Redis, one round trip a
	// create). It costs every instance the memory of the whole index (about 2.2 GB for 1M
	// contacts) and a load at start (decisions read Redis meanwhile). See docs/index.md.
	Replica bool `yaml:"replica"`
	// FeedLength caps the change feed, in entries (0: 100,000, about 4.8 MB). A replica that
	// falls further behind reloads.
	FeedLength int64 `yaml:"feed_length"`
}

// Dataverse configures the Web API client.
type Dataverse struct {
	// URL is the environment URL, e.g. https://contoso.crm.dynamics.com. Empty: no Dataverse
	// (no fallback queries, no re-reads, no sync).
	URL  string        `yaml:"url"`
	Auth DataverseAuth `yaml:"auth"`
	// Timeout bounds one request. Defaults to 10s.
	Timeout Duration `yaml:"timeout"`
}

// DataverseAuth chooses the azidentity credential.
type DataverseAuth struct {
	// Method is client_secret, client_certificate, managed_identity, workload_identity,
	// default (the azidentity default chain) or static_token (emulator and tests only).
	Method   string `yaml:"method"`
	TenantID string `yaml:"tenant_id"`
	ClientID string `yaml:"client_id"`
	// ClientSecret is overridden by DEDUPEGATE_DATAVERSE_CLIENT_SECRET.
	ClientSecret Secret `yaml:"client_secret"`
	// CertificatePath is a PEM or PKCS#12 file for client_certificate.
	CertificatePath string `yaml:"certificate_path"`
	// Token is the bearer token for static_token; overridden by DEDUPEGATE_DATAVERSE_TOKEN.
	Token Secret `yaml:"token"`
}

// Matching points at the reference data the comparators use.
type Matching struct {
	// NicknamesFile and CompanySuffixesFile are optional data files; built-in lists are used
	// when empty.
	NicknamesFile       string `yaml:"nicknames_file"`
	CompanySuffixesFile string `yaml:"company_suffixes_file"`
	// DefaultRegion is the phone region for numbers without a country code, e.g. GB.
	DefaultRegion string `yaml:"default_region"`
}

// Secret is a string that never prints: fmt, zap and YAML/JSON encoding show "[redacted]".
type Secret string

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return s.String() }

// MarshalText keeps secrets out of any encoded form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Value returns the secret itself, for the one place that needs it.
func (s Secret) Value() string { return string(s) }

// Duration is a time.Duration written as "1.5s", "3m".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 1.5s, 3m)", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Load reads, decodes strictly, applies environment overrides and defaults, and validates.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path, os.Getenv)
}

// Default returns the embedded default configuration (in-process index, no Dataverse), used
// when serve runs without a config file.
func Default() *Config {
	c := &Config{}
	c.setDefaults()
	return c
}

// Parse decodes data (named filename in messages). getenv supplies environment overrides.
func Parse(data []byte, filename string, getenv func(string) string) (*Config, error) {
	c := &Config{dir: filepath.Dir(filename)}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Problems{File: filename, List: []Problem{yamlProblem(err)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var ps []Problem
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		// yaml.v3 keeps decoding past unknown keys and type mismatches and reports them all in
		// one TypeError; the rest of the file is still checked below, so that every problem is
		// reported in one run.
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &Problems{File: filename, List: []Problem{yamlProblem(err)}}
		}
		for _, msg := range te.Errors {
			ps = append(ps, parseYAMLMessage(msg))
		}
	}
	c.applyEnv(getenv)
	c.setDefaults()
	for _, p := range c.validate() {
		p.Line, p.Column = locate(&root, p.Path)
		ps = append(ps, p)
	}
	if len(ps) > 0 {
		sort.SliceStable(ps, func(a, b int) bool { return ps[a].Line < ps[b].Line })
		return nil, &Problems{File: filename, List: ps}
	}
	return c, nil
}

// Resolve returns p relative to the config file's folder (absolute paths unchanged).
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// RulesPath returns the rules file's path, or "" for the embedded default rules.
func (c *Config) RulesPath() string { return c.Resolve(c.RulesFile) }

func (c *Config) applyEnv(getenv func(string) string) {
	if getenv == nil {
		return
	}
	cur, prev := getenv("DEDUPEGATE_WEBHOOK_SECRET"), getenv("DEDUPEGATE_WEBHOOK_SECRET_PREVIOUS")
	if cur != "" {
		c.Webhook.Auth.Secrets = []Secret{Secret(cur)}
		if prev != "" {
			c.Webhook.Auth.Secrets = append(c.Webhook.Auth.Secrets, Secret(prev))
		}
	}
	if v := getenv("DEDUPEGATE_REDIS_PASSWORD"); v != "" {
		c.Index.Redis.Password = Secret(v)
	}
	if v := getenv("DEDUPEGATE_DATAVERSE_CLIENT_SECRET"); v != "" {
		c.Dataverse.Auth.ClientSecret = Secret(v)
	}
	if v := getenv("DEDUPEGATE_DATAVERSE_TOKEN"); v != "" {
		c.Dataverse.Auth.Token = Secret(v)
	}
	c.applyExtensionEnv(getenv)
}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Listen, "127.0.0.1:8080")
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "json")
	def(&c.Webhook.Path, "/webhooks/dataverse")
	def(&c.Webhook.Auth.Type, "header")
	if c.Webhook.Auth.Type == "webhookkey" {
		c.Webhook.Auth.Name = "code"
	}
	def(&c.Webhook.Auth.Name, "x-dedupegate-secret")
	if c.Webhook.MaxBodyBytes == 0 {
		c.Webhook.MaxBodyBytes = 1 << 20
	}
	def(&c.Webhook.SizeExceededCreate, "allow")
	if c.Decision.Deadline == 0 {
		c.Decision.Deadline = Duration(1500 * time.Millisecond)
	}
	def(&c.Decision.FailurePolicy, "open")
	if c.Decision.Reservations == nil {
		t := true
		c.Decision.Reservations = &t
	}
	if c.Decision.ReservationTTL == 0 {
		c.Decision.ReservationTTL = Duration(3 * time.Minute)
	}
	if c.Decision.PerKeyLimit == 0 {
		c.Decision.PerKeyLimit = 200
	}
	def(&c.Index.Backend, "memory")
	def(&c.Index.Redis.Prefix, "dg:")
	dl := c.Decision.Deadline.D()
	if c.Index.Redis.DialTimeout == 0 {
		c.Index.Redis.DialTimeout = Duration(dl / 3)
	}
	if c.Index.Redis.ReadTimeout == 0 {
		c.Index.Redis.ReadTimeout = Duration(dl / 4)
	}
	if c.Index.Redis.WriteTimeout == 0 {
		c.Index.Redis.WriteTimeout = Duration(dl / 4)
	}
	if c.Index.SyncInterval == 0 && c.Dataverse.URL != "" {
		c.Index.SyncInterval = Duration(5 * time.Minute)
	}
	if c.Dataverse.Timeout == 0 {
		c.Dataverse.Timeout = Duration(10 * time.Second)
	}
	def(&c.Dataverse.Auth.Method, "default")
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(30 * time.Second)
	}
	c.setExtensionDefaults()
}

func (c *Config) validate() []Problem {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	oneOf := func(path, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "json", "console")
	oneOf("webhook.auth.type", c.Webhook.Auth.Type, "header", "webhookkey", "querystring")
	if len(c.Webhook.Auth.Secrets) == 0 {
		add("webhook.auth.secrets", "no webhook secret: set webhook.auth.secrets or DEDUPEGATE_WEBHOOK_SECRET")
	}
	if len(c.Webhook.Auth.Secrets) > 2 {
		add("webhook.auth.secrets", "at most two secrets (current and previous) are accepted")
	}
	for i, s := range c.Webhook.Auth.Secrets {
		if len(s) < 16 {
			add(fmt.Sprintf("webhook.auth.secrets[%d]", i), "secret is shorter than 16 characters")
		}
	}
	if !strings.HasPrefix(c.Webhook.Path, "/") {
		add("webhook.path", "must start with /")
	}
	if c.Webhook.MaxBodyBytes < 1024 {
		add("webhook.max_body_bytes", "must be at least 1024")
	}
	oneOf("webhook.size_exceeded_create", c.Webhook.SizeExceededCreate, "allow", "block")
	if d := c.Decision.Deadline.D(); d <= 0 || d > 50*time.Second {
		add("decision.deadline", "must be between 0 and 50s (Dataverse gives up after 60s)")
	}
	oneOf("decision.failure_policy", c.Decision.FailurePolicy, "open", "closed")
	for _, t := range sortedKeys(c.Decision.Tables) {
		oneOf("decision.tables."+t, c.Decision.Tables[t], "open", "closed")
	}
	if c.Decision.ReservationTTL.D() < 2*time.Minute {
		add("decision.reservation_ttl", "must be at least 2m (Dataverse's operation limit)")
	}
	if c.Decision.PerKeyLimit < 1 {
		add("decision.per_key_limit", "must be positive")
	}
	oneOf("index.backend", c.Index.Backend, "memory", "redis")
	if c.Index.Backend == "redis" && len(c.Index.Redis.Addrs) == 0 {
		add("index.redis.addrs", "the redis backend needs at least one address")
	}
	if c.Dataverse.URL != "" {
		if !strings.HasPrefix(c.Dataverse.URL, "https://") && !strings.HasPrefix(c.Dataverse.URL, "http://127.0.0.1") && !strings.HasPrefix(c.Dataverse.URL, "http://localhost") && !strings.HasPrefix(c.Dataverse.URL, "http://[::1]") {
			add("dataverse.url", "must be https:// (plain http only for a loopback emulator)")
		}
		oneOf("dataverse.auth.method", c.Dataverse.Auth.Method, "client_secret", "client_certificate", "managed_identity", "workload_identity", "default", "static_token")
		a := c.Dataverse.Auth
		switch a.Method {
		case "client_secret":
			if a.TenantID == "" || a.ClientID == "" || a.ClientSecret == "" {
				add("dataverse.auth", "client_secret needs tenant_id, client_id and client_secret (or DEDUPEGATE_DATAVERSE_CLIENT_SECRET)")
			}
		case "client_certificate":
			if a.TenantID == "" || a.ClientID == "" || a.CertificatePath == "" {
				add("dataverse.auth", "client_certificate needs tenant_id, client_id and certificate_path")
			}
		case "static_token":
			if a.Token == "" {
				add("dataverse.auth.token", "static_token needs a token (or DEDUPEGATE_DATAVERSE_TOKEN)")
			}
		}
	}
	ps = append(ps, c.validateExtensions()...)
	return ps
}

// Problem is one configuration problem and where it is.
type Problem struct {
	Path   string // YAML path, e.g. decision.deadline
	Line   int    // 0 when unknown
	Column int
	Msg    string
}

// Problems lists every problem found in one file.
type Problems struct {
	File string
	List []Problem
}

// Error renders one problem per line as file:line:col: path: message.
func (p *Problems) Error() string {
	var b strings.Builder
	for i, pr := range p.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.File)
		if pr.Line > 0 {
			fmt.Fprintf(&b, ":%d", pr.Line)
			if pr.Column > 0 {
				fmt.Fprintf(&b, ":%d", pr.Column)
			}
		}
		b.WriteString(": ")
		if pr.Path != "" {
			b.WriteString(pr.Path + ": ")
		}
		b.WriteString(pr.Msg)
	}
	return b.String()
}

func yamlProblem(err error) Problem { return parseYAMLMessage(err.Error()) }

// parseYAMLMessage turns "yaml: line 3: field foo not found in type config.Log" into a Problem.
func parseYAMLMessage(msg string) Problem {
	msg = strings.TrimPrefix(msg, "yaml: ")
	p := Problem{Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ":"); ok {
			if n, err := strconv.Atoi(num); err == nil {
				p.Line, p.Msg = n, strings.TrimSpace(tail)
				if strings.HasPrefix(p.Msg, "field ") && strings.Contains(p.Msg, " not found in type ") {
					f := strings.TrimPrefix(p.Msg, "field ")
					f = f[:strings.Index(f, " not found")]
					p.Msg = fmt.Sprintf("unknown key %q", f)
				}
			}
		}
	}
	return p
}

// locate finds the line and column of a dotted path (a.b[2].c) in a YAML document.
func locate(root *yaml.Node, path string) (int, int) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line, col := n.Line, n.Column
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		if n.Kind != yaml.MappingNode {
			return line, col
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				line, col = n.Content[i].Line, n.Content[i].Column
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line, col
		}
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line, col
			}
			n = n.Content[idx]
			line, col = n.Line, n.Column
		}
	}
	return line, col
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
