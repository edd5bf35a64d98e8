package config

import (
	"strings"
	"testing"
	"time"
)

const minimal = "webhook:\n  auth:\n    secrets: [0123456789abcdef0123]\n"

func TestCheckAPIDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal+"check_api:\n  entra:\n    tenant_id: t1\n    audiences: [api://dg]\n"), "f.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	x := c.CheckAPI
	if x.Enabled || x.MaxBatch != 1000 || x.BatchConcurrency != 8 || x.Visibility != "caller" || x.Override.TTL.D() != 10*time.Minute {
		t.Fatalf("%+v", x)
	}
	if x.Entra.JWKSURL != "https://login.microsoftonline.com/t1/discovery/v2.0/keys" ||
		strings.Join(x.Entra.Issuers, " ") != "https://login.microsoftonline.com/t1/v2.0 https://sts.windows.net/t1/" {
		t.Fatalf("tenant defaults %+v", x.Entra)
	}
	if x.AppNotifications.Delay.D() != time.Second || x.AppNotifications.Toast != "timed" {
		t.Fatalf("%+v", x.AppNotifications)
	}
}

func TestCheckAPIEnv(t *testing.T) {
	c, err := Parse([]byte(minimal+"check_api:\n  enabled: true\n  api_keys: [in-the-file-in-the-file-0000]\n"), "f.yaml", env(map[string]string{
		"DEDUPEGATE_API_KEYS":                 " key-one-key-one-key-one-1111 ,key-two-key-two-key-two-2222,",
		"DEDUPEGATE_OVERRIDE_SECRET":          strings.Repeat("s", 32),
		"DEDUPEGATE_OVERRIDE_SECRET_PREVIOUS": strings.Repeat("p", 32),
	}))
	if err != nil {
		t.Fatal(err)
	}
	x := c.CheckAPI
	if len(x.APIKeys) != 2 || x.APIKeys[0].Value() != "key-one-key-one-key-one-1111" || x.APIKeys[1].Value() != "key-two-key-two-key-two-2222" {
		t.Fatalf("api keys %v", x.APIKeys)
	}
	if x.Override.Secret.Value() != strings.Repeat("s", 32) || x.Override.PreviousSecret.Value() != strings.Repeat("p", 32) {
		t.Fatal("override secrets not taken from the environment")
	}
	if s := x.Override.Secret.String(); s != "[redacted]" {
		t.Fatalf("secret prints as %q", s)
	}
}

func TestCheckAPIProblems(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"enabled without auth", "check_api:\n  enabled: true\n", "check_api.enabled: the check API is enabled but no caller can authenticate"},
		{"entra without audience", "check_api:\n  entra:\n    tenant_id: t\n", "check_api.entra.audiences"},
		{"entra without tenant or keys", "check_api:\n  entra:\n    audiences: [a]\n", "check_api.entra.issuers"},
		{"jwks over http", "check_api:\n  entra:\n    tenant_id: t\n    audiences: [a]\n    jwks_url: http://keys.example.com/k\n", "check_api.entra.jwks_url: must be https://"},
		{"short API key", "check_api:\n  api_keys: [short]\n", "check_api.api_keys[0]: API key is shorter than 24 characters"},
		{"wildcard origin", "check_api:\n  cors_origins: ['*']\n", `check_api.cors_origins[0]: "*" is not allowed`},
		{"origin with a path", "check_api:\n  cors_origins: [https://contoso.crm.dynamics.com/main.aspx]\n", "is not an origin"},
		{"http origin", "check_api:\n  cors_origins: [http://contoso.crm.dynamics.com]\n", "must be https://"},
		{"bad wildcard", "check_api:\n  cors_origins: ['https://contoso*.dynamics.com']\n", "whole subdomain"},
		{"batch too big", "check_api:\n  max_batch: 5000\n", "check_api.max_batch"},
		{"short override secret", "check_api:\n  override:\n    secret: short\n", "check_api.override.secret"},
		{"override ttl", "check_api:\n  override:\n    ttl: 2h\n", "check_api.override.ttl"},
		{"visibility", "check_api:\n  visibility: none\n", "check_api.visibility"},
		{"toast", "check_api:\n  app_notifications:\n    toast: loud\n", "check_api.app_notifications.toast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+tt.yaml), "f.yaml", env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	ok := minimal + "check_api:\n  enabled: true\n  api_keys: [0123456789abcdef01234567]\n  cors_origins: [https://contoso.crm.dynamics.com, 'https://*.crm4.dynamics.com', http://127.0.0.1:5555]\n"
	if _, err := Parse([]byte(ok), "f.yaml", env(nil)); err != nil {
		t.Fatalf("valid section refused: %v", err)
	}
}
