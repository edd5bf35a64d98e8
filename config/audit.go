package config

import "fmt"

// Audit configures the audit trail: every block, warning, override, fallback and audit-mode
// "would have fired" decision becomes an entry, kept in a capped Redis Stream (index backend
// redis) or an in-process ring (index backend memory) and written as a log line. Paths in
// problems start with "audit.".
type Audit struct {
	// Enabled turns the trail on. Default true.
	Enabled *bool `yaml:"enabled"`
	// Store is where entries are kept: auto (default: redis when index.backend is redis, else
	// memory), redis (the index's Redis; needs index.redis.addrs) or memory (an in-process ring,
	// lost on restart).
	Store string `yaml:"store"`
	// StreamKey is the Redis Stream's key. Default: index.redis.prefix + "audit" ("dg:audit").
	// One key, so it is safe in Redis Cluster.
	StreamKey string `yaml:"stream_key"`
	// MaxLen caps the stream (XADD MAXLEN ~): older entries are trimmed. Default 1,000,000
	// (about 0.5–1 GB of Redis memory at typical entry sizes; lower it for a small Redis).
	MaxLen int64 `yaml:"max_len"`
	// RingSize is the in-process ring's capacity, in entries. Default 10,000.
	RingSize int `yaml:"ring_size"`
	// Buffer is the queue between decisions and the background writer. When it is full an
	// entry is dropped (counted in dedupegate_audit_dropped_total and logged), never waited
	// for. Default 8,192.
	Buffer int `yaml:"buffer"`
	// MaskPersonalData keeps only the structure of reason texts ("first name ~ (nickname)"),
	// dropping the values they quote (names, emails, phones), and leaves out matched records'
	// display names. Default true. Log lines never carry reason texts whatever this says.
	MaskPersonalData *bool `yaml:"mask_personal_data"`
	// Log writes each entry as a structured log line (message "audit") as well. Default true.
	Log *bool `yaml:"log"`
}

// On reports whether the trail is enabled.
func (x *Audit) On() bool { return x.Enabled == nil || *x.Enabled }

// Masked reports whether personal data is masked in entries.
func (x *Audit) Masked() bool { return x.MaskPersonalData == nil || *x.MaskPersonalData }

// Logged reports whether entries are also logged.
func (x *Audit) Logged() bool { return x.Log == nil || *x.Log }

func (x *Audit) applyEnv(getenv func(string) string) {}

func (x *Audit) setDefaults() {
	t := true
	if x.Enabled == nil {
		x.Enabled = &t
	}
	if x.MaskPersonalData == nil {
		x.MaskPersonalData = &t
	}
	if x.Log == nil {
		x.Log = &t
	}
	if x.Store == "" {
		x.Store = "auto"
	}
	if x.MaxLen == 0 {
		x.MaxLen = 1_000_000
	}
	if x.RingSize == 0 {
		x.RingSize = 10_000
	}
	if x.Buffer == 0 {
		x.Buffer = 8192
	}
}

func (x *Audit) validate() []Problem {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: "audit." + path, Msg: fmt.Sprintf(format, args...)})
	}
	switch x.Store {
	case "auto", "redis", "memory":
	default:
		add("store", "%q is not one of auto, redis, memory", x.Store)
	}
	if x.MaxLen < 1000 {
		add("max_len", "must be at least 1000")
	}
	if x.RingSize < 100 {
		add("ring_size", "must be at least 100")
	}
	if x.Buffer < 16 {
		add("buffer", "must be at least 16")
	}
	return ps
}

// AuditStore resolves audit.store "auto" against the index backend: redis or memory.
func (c *Config) AuditStore() string {
	if c.Audit.Store == "auto" || c.Audit.Store == "" {
		if c.Index.Backend == "redis" {
			return "redis"
		}
		return "memory"
	}
	return c.Audit.Store
}

// AuditStreamKey returns the audit stream's key, defaulting to the index prefix + "audit".
func (c *Config) AuditStreamKey() string {
	if c.Audit.StreamKey != "" {
		return c.Audit.StreamKey
	}
	return c.Index.Redis.Prefix + "audit"
}
