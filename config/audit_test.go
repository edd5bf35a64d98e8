package config

import (
	"strings"
	"testing"
)

func TestAuditDefaultsAndProblems(t *testing.T) {
	base := "webhook:\n  auth:\n    secrets: [a-long-enough-test-secret]\n"
	c, err := Parse([]byte(base), "f.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Audit
	if !a.On() || !a.Masked() || !a.Logged() || a.MaxLen != 1_000_000 || a.RingSize != 10_000 || a.Buffer != 8192 {
		t.Fatalf("defaults: %+v", a)
	}
	if c.AuditStore() != "memory" || c.AuditStreamKey() != "dg:audit" {
		t.Fatalf("memory index: store %q key %q", c.AuditStore(), c.AuditStreamKey())
	}
	c, err = Parse([]byte(base+"index:\n  backend: redis\n  redis:\n    addrs: [127.0.0.1:6379]\n    prefix: \"crm1:\"\naudit:\n  mask_personal_data: false\n"), "f.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AuditStore() != "redis" || c.AuditStreamKey() != "crm1:audit" || c.Audit.Masked() {
		t.Fatalf("redis index: store %q key %q masked %v", c.AuditStore(), c.AuditStreamKey(), c.Audit.Masked())
	}
	_, err = Parse([]byte(base+"audit:\n  store: s3\n  max_len: 10\n  ring_size: 5\n  buffer: 1\n"), "f.yaml", env(nil))
	if err == nil {
		t.Fatal("bad audit section accepted")
	}
	for _, want := range []string{`f.yaml:5:3: audit.store: "s3" is not one of auto, redis, memory`, "audit.max_len: must be at least 1000",
		"audit.ring_size: must be at least 100", "audit.buffer: must be at least 16"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}
