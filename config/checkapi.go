package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// CheckAPI configures the check API (POST /api/v1/check and /api/v1/check/batch), the "Ignore
// and Save" override tokens and the in-app notifications sent after a server-side block
// (docs/check-api.md). Paths in problems start with "check_api.".
type CheckAPI struct {
	// Enabled mounts the check API routes. Default false. Override tokens are verified by the
	// webhook whenever override.secret is set, even on an instance that does not serve the API.
	Enabled bool `yaml:"enabled"`
	// Entra validates Microsoft Entra ID bearer tokens (interactive users, the form script).
	Entra CheckAPIEntra `yaml:"entra"`
	// APIKeys are accepted in the X-API-Key header (server-to-server callers: flows,
	// integrations). Several at once allow rotation; at least 24 characters each. Overridden by
	// DEDUPEGATE_API_KEYS (comma-separated).
	APIKeys []Secret `yaml:"api_keys"`
	// CORSOrigins are the browser origins allowed to call the API, e.g.
	// https://contoso.crm.dynamics.com (a subdomain wildcard such as https://*.crm.dynamics.com
	// is accepted; "*" is not). Empty: no CORS headers, browsers cannot call the API.
	CORSOrigins []string `yaml:"cors_origins"`
	// MaxBatch caps the records of one batch request (413 past it). Default and maximum 1000.
	MaxBatch int `yaml:"max_batch"`
	// BatchConcurrency bounds the decisions (and Dataverse visibility reads) a batch runs at
	// once. Default 8.
	BatchConcurrency int `yaml:"batch_concurrency"`
	// MaxBodyBytes caps the body of a single check; a batch may use MaxBatch times as much, up
	// to 16 MiB. Default 64 KiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Visibility is "caller" (default): when a Dataverse connection is configured, a token
	// caller sees a match's details only if Dataverse lets it read the record (read
	// impersonating the caller's Entra object id); otherwise "a matching record exists".
	// "all" shows every caller every match (trusted internal deployments only).
	Visibility string `yaml:"visibility"`
	// Override configures "Ignore and Save" tokens.
	Override CheckAPIOverride `yaml:"override"`
	// AppNotifications tells the initiating user why the webhook blocked a save, with a
	// Dataverse in-app notification sent after the answer.
	AppNotifications CheckAPINotifications `yaml:"app_notifications"`
}

// CheckAPIEntra says which Entra ID tokens the check API accepts.
type CheckAPIEntra struct {
	// TenantID is the directory (tenant) id. With it, Issuers default to the tenant's v2.0 and
	// v1 issuers and JWKSURL to the tenant's v2.0 signing keys.
	TenantID string `yaml:"tenant_id"`
	// Audiences are the accepted "aud" values: the API's application id URI
	// (api://dedupegate) and/or its client id. Required when Entra auth is configured.
	Audiences []string `yaml:"audiences"`
	// Issuers are the accepted "iss" values. Default:
	// https://login.microsoftonline.com/<tenant>/v2.0 and https://sts.windows.net/<tenant>/.
	Issuers []string `yaml:"issuers"`
	// JWKSURL is where the signing keys are fetched. Default
	// https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys.
	JWKSURL string `yaml:"jwks_url"`
	// JWKSRefresh is how often the keys are refetched. Default 1h.
	JWKSRefresh Duration `yaml:"jwks_refresh"`
	// JWKSMinRefetch rate-limits refetches caused by a token signed with an unknown key id.
	// Default 1m.
	JWKSMinRefetch Duration `yaml:"jwks_min_refetch"`
	// ClockSkew is the leeway for exp and nbf. Default 1m.
	ClockSkew Duration `yaml:"clock_skew"`
	// RequiredRoles, when set, admits only tokens whose "roles" claim holds one of them (app
	// roles assigned in Entra, e.g. DedupeGate.Check).
	RequiredRoles []string `yaml:"required_roles"`
}

// Configured reports whether Entra auth is set up.
func (e CheckAPIEntra) Configured() bool {
	return e.TenantID != "" || len(e.Audiences) > 0 || len(e.Issuers) > 0 || e.JWKSURL != ""
}

// CheckAPIOverride configures "Ignore and Save" tokens.
type CheckAPIOverride struct {
	// Secret signs tokens (HMAC-SHA256), at least 32 characters; every gateway instance needs
	// the same one. Empty disables overrides. Overridden by DEDUPEGATE_OVERRIDE_SECRET.
	Secret Secret `yaml:"secret"`
	// PreviousSecret is still accepted for verification during a rotation. Overridden by
	// DEDUPEGATE_OVERRIDE_SECRET_PREVIOUS.
	PreviousSecret Secret `yaml:"previous_secret"`
	// TTL is a token's lifetime. Default 10m; between 1m and 1h.
	TTL Duration `yaml:"ttl"`
	// AllowedUsers (Entra object ids or systemuserids) and AllowedRoles (values of the token's
	// "roles" claim) limit who is offered a token. Both empty: every token caller may override.
	AllowedUsers []string `yaml:"allowed_users"`
	AllowedRoles []string `yaml:"allowed_roles"`
	// APIKeysMayOverride lets API-key callers obtain tokens bound to the user they name in the
	// request ("user_id": the systemuserid or Entra object id that will save). Default false.
	APIKeysMayOverride bool `yaml:"api_keys_may_override"`
}

// CheckAPINotifications configures the in-app notification after a server-side block.
type CheckAPINotifications struct {
	// Enabled sends an appnotification row to the initiating user when the webhook blocks a
	// save. Needs a Dataverse connection (dataverse.url) and the in-app notifications feature
	// turned on in the model-driven app. Default false.
	Enabled bool `yaml:"enabled"`
	// Delay is waited after the decision before the notification is created, so that it never
	// competes with the webhook answer. Default 1s.
	Delay Duration `yaml:"delay"`
	// Queue bounds the notifications waiting to be sent; past it they are dropped (and
	// logged). Default 256.
	Queue int `yaml:"queue"`
	// TTL is the notification's expiry (ttlinseconds). Default 24h.
	TTL Duration `yaml:"ttl"`
	// Toast is "timed" (default: a toast, then the notification centre) or "hidden"
	// (notification centre only).
	Toast string `yaml:"toast"`
}

func (x *CheckAPI) applyEnv(getenv func(string) string) {
	if v := getenv("DEDUPEGATE_API_KEYS"); v != "" {
		x.APIKeys = nil
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				x.APIKeys = append(x.APIKeys, Secret(k))
			}
		}
	}
	if v := getenv("DEDUPEGATE_OVERRIDE_SECRET"); v != "" {
		x.Override.Secret = Secret(v)
	}
	if v := getenv("DEDUPEGATE_OVERRIDE_SECRET_PREVIOUS"); v != "" {
		x.Override.PreviousSecret = Secret(v)
	}
}

func (x *CheckAPI) setDefaults() {
	e := &x.Entra
	if e.TenantID != "" {
		if len(e.Issuers) == 0 {
			e.Issuers = []string{
				"https://login.microsoftonline.com/" + e.TenantID + "/v2.0",
				"https://sts.windows.net/" + e.TenantID + "/",
			}
		}
		if e.JWKSURL == "" {
			e.JWKSURL = "https://login.microsoftonline.com/" + e.TenantID + "/discovery/v2.0/keys"
		}
	}
	if e.JWKSRefresh == 0 {
		e.JWKSRefresh = Duration(time.Hour)
	}
	if e.JWKSMinRefetch == 0 {
		e.JWKSMinRefetch = Duration(time.Minute)
	}
	if e.ClockSkew == 0 {
		e.ClockSkew = Duration(time.Minute)
	}
	if x.MaxBatch == 0 {
		x.MaxBatch = 1000
	}
	if x.BatchConcurrency == 0 {
		x.BatchConcurrency = 8
	}
	if x.MaxBodyBytes == 0 {
		x.MaxBodyBytes = 64 << 10
	}
	if x.Visibility == "" {
		x.Visibility = "caller"
	}
	if x.Override.TTL == 0 {
		x.Override.TTL = Duration(10 * time.Minute)
	}
	n := &x.AppNotifications
	if n.Delay == 0 {
		n.Delay = Duration(time.Second)
	}
	if n.Queue == 0 {
		n.Queue = 256
	}
	if n.TTL == 0 {
		n.TTL = Duration(24 * time.Hour)
	}
	if n.Toast == "" {
		n.Toast = "timed"
	}
}

func (x *CheckAPI) validate() []Problem {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: "check_api." + path, Msg: fmt.Sprintf(format, args...)})
	}
	e := x.Entra
	if e.Configured() {
		if len(e.Audiences) == 0 {
			add("entra.audiences", "Entra auth needs at least one audience (the API's application id URI or client id)")
		}
		if len(e.Issuers) == 0 {
			add("entra.issuers", "Entra auth needs tenant_id or issuers")
		}
		if e.JWKSURL == "" {
			add("entra.jwks_url", "Entra auth needs tenant_id or jwks_url")
		} else if !httpsOrLoopback(e.JWKSURL) {
			add("entra.jwks_url", "must be https:// (plain http only on loopback, for tests)")
		}
	}
	if e.JWKSRefresh.D() < time.Minute {
		add("entra.jwks_refresh", "must be at least 1m")
	}
	if e.JWKSMinRefetch.D() < 0 {
		add("entra.jwks_min_refetch", "must not be negative")
	}
	if d := e.ClockSkew.D(); d < 0 || d > 5*time.Minute {
		add("entra.clock_skew", "must be between 0 and 5m")
	}
	for i, k := range x.APIKeys {
		if len(k) < 24 {
			add(fmt.Sprintf("api_keys[%d]", i), "API key is shorter than 24 characters")
		}
	}
	if x.Enabled && !e.Configured() && len(x.APIKeys) == 0 {
		add("enabled", "the check API is enabled but no caller can authenticate: configure entra or api_keys (DEDUPEGATE_API_KEYS)")
	}
	for i, o := range x.CORSOrigins {
		if msg := checkOrigin(o); msg != "" {
			add(fmt.Sprintf("cors_origins[%d]", i), "%s", msg)
		}
	}
	if x.MaxBatch < 1 || x.MaxBatch > 1000 {
		add("max_batch", "must be between 1 and 1000")
	}
	if x.BatchConcurrency < 1 || x.BatchConcurrency > 64 {
		add("batch_concurrency", "must be between 1 and 64")
	}
	if x.MaxBodyBytes < 1024 || x.MaxBodyBytes > 1<<20 {
		add("max_body_bytes", "must be between 1024 and 1048576")
	}
	if x.Visibility != "caller" && x.Visibility != "all" {
		add("visibility", "%q is not one of caller, all", x.Visibility)
	}
	o := x.Override
	if o.Secret != "" && len(o.Secret) < 32 {
		add("override.secret", "override secret is shorter than 32 characters")
	}
	if o.PreviousSecret != "" && len(o.PreviousSecret) < 32 {
		add("override.previous_secret", "override secret is shorter than 32 characters")
	}
	if o.PreviousSecret != "" && o.Secret == "" {
		add("override.previous_secret", "a previous secret without a current one")
	}
	if d := o.TTL.D(); d < time.Minute || d > time.Hour {
		add("override.ttl", "must be between 1m and 1h")
	}
	n := x.AppNotifications
	if d := n.Delay.D(); d < 0 || d > time.Minute {
		add("app_notifications.delay", "must be between 0 and 1m")
	}
	if n.Queue < 1 {
		add("app_notifications.queue", "must be positive")
	}
	if d := n.TTL.D(); d < time.Minute || d > 90*24*time.Hour {
		add("app_notifications.ttl", "must be between 1m and 2160h (90 days)")
	}
	if n.Toast != "timed" && n.Toast != "hidden" {
		add("app_notifications.toast", "%q is not one of timed, hidden", n.Toast)
	}
	return ps
}

// checkOrigin returns why o is not an acceptable CORS origin, or "".
func checkOrigin(o string) string {
	if o == "*" || o == "null" {
		return fmt.Sprintf("%q is not allowed: list the Dynamics origins, e.g. https://contoso.crm.dynamics.com", o)
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%q is not an origin (scheme://host[:port])", o)
	}
	if strings.HasSuffix(o, "/") {
		return fmt.Sprintf("%q: an origin has no trailing slash", o)
	}
	if u.Scheme != "https" && !httpsOrLoopback(o) {
		return fmt.Sprintf("%q must be https:// (plain http only on loopback)", o)
	}
	if strings.Contains(u.Host, "*") && !strings.HasPrefix(u.Host, "*.") {
		return fmt.Sprintf("%q: a wildcard may only stand for a whole subdomain (https://*.crm.dynamics.com)", o)
	}
	return ""
}

// httpsOrLoopback accepts https URLs and plain http to a loopback host.
func httpsOrLoopback(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		h := u.Hostname()
		return h == "127.0.0.1" || h == "localhost" || h == "::1"
	}
	return false
}
