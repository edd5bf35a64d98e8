package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../configs/dedupegate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Decision.Deadline.D() != 1500*time.Millisecond || c.Webhook.Auth.Type != "header" || c.Index.Backend != "memory" {
		t.Fatalf("%+v", c)
	}
	if c.RulesPath() != "../configs/rules.yaml" {
		t.Errorf("rules path %q", c.RulesPath())
	}
}

func TestProblemsWithLocations(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown key", "listen: x\nwebhok:\n  path: /x\n", []string{"f.yaml:2: unknown key \"webhok\""}},
		{"nested unknown key", "webhook:\n  auth:\n    typ: header\n", []string{"f.yaml:3:", "unknown key \"typ\""}},
		{"bad duration", "decision:\n  deadline: soon\n", []string{"f.yaml:2:", "not a duration"}},
		{"syntax", "webhook: [\n", []string{"f.yaml:"}},
		{"every semantic problem", `webhook:
  auth:
    type: basic
    secrets: [short]
decision:
  failure_policy: maybe
  reservation_ttl: 30s
  tables:
    contact: sometimes
index:
  backend: redis
dataverse:
  url: http://contoso.crm.dynamics.com
`, []string{
			"f.yaml:3:5: webhook.auth.type: \"basic\" is not one of header, webhookkey, querystring",
			"f.yaml:4:15: webhook.auth.secrets[0]: secret is shorter than 16 characters",
			"f.yaml:6:3: decision.failure_policy: \"maybe\" is not one of open, closed",
			"f.yaml:9:5: decision.tables.contact",
			"f.yaml:7:3: decision.reservation_ttl: must be at least 2m",
			"index.redis.addrs: the redis backend needs at least one address",
			"f.yaml:13:3: dataverse.url: must be https://",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "f.yaml", env(nil))
			var ps *Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err %v, want *Problems", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestEnvOverridesAndRotation(t *testing.T) {
	c, err := Parse([]byte("webhook:\n  auth:\n    secrets: [from-file-0123456789]\n"), "f.yaml", env(map[string]string{
		"DEDUPEGATE_WEBHOOK_SECRET":          "current-secret-0123456789",
		"DEDUPEGATE_WEBHOOK_SECRET_PREVIOUS": "previous-secret-0123456789",
		"DEDUPEGATE_REDIS_PASSWORD":          "redis-pass",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Webhook.Auth.Secrets
	if len(got) != 2 || got[0].Value() != "current-secret-0123456789" || got[1].Value() != "previous-secret-0123456789" {
		t.Fatalf("secrets %v", got)
	}
	if c.Index.Redis.Password.Value() != "redis-pass" {
		t.Error("redis password not overridden")
	}
}

func TestWebhookKeyUsesCode(t *testing.T) {
	c, err := Parse([]byte("webhook:\n  auth:\n    type: webhookkey\n    secrets: [0123456789abcdef]\n"), "f.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhook.Auth.Name != "code" {
		t.Fatalf("name %q", c.Webhook.Auth.Name)
	}
}

// TestSecretsNeverPrint: the config printed with fmt or logged with zap shows no secret.
func TestSecretsNeverPrint(t *testing.T) {
	c, err := Parse([]byte("webhook:\n  auth:\n    secrets: [super-secret-value-42]\n"), "f.yaml", env(map[string]string{"DEDUPEGATE_DATAVERSE_CLIENT_SECRET": "dv-secret-value-43"}))
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	zap.New(core).Info("config", zap.Any("config", c), zap.Stringer("s", c.Webhook.Auth.Secrets[0]))
	out := fmt.Sprintf("%v %+v %#v", c, c, c)
	for _, e := range logs.All() {
		out += fmt.Sprint(e.ContextMap())
	}
	for _, s := range []string{"super-secret-value-42", "dv-secret-value-43"} {
		if strings.Contains(out, s) {
			t.Errorf("secret %q printed", s)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Error("no redaction marker: test did not print the secrets at all")
	}
}
