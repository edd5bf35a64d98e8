package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/dataverse/emulator"
)

// TestRegisterCommands runs register, status and unregister as an admin would, against an
// emulator, with the shipped rules.
func TestRegisterCommands(t *testing.T) {
	const tok = "register-cmd-token-0123"
	t.Setenv("DEDUPEGATE_WEBHOOK_SECRET", "")
	t.Setenv("DEDUPEGATE_CONFIG", "")
	t.Setenv("DEDUPEGATE_WEBHOOK_URL", "")
	emu, err := emulator.New(emulator.Config{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	cfgPath := filepath.Join(t.TempDir(), "dedupegate.yaml")
	cfgYAML := "webhook:\n  auth:\n    secrets: [register-cmd-secret-0123456789]\n" +
		"dataverse:\n  url: " + srv.URL + "\n  auth:\n    method: static_token\n    token: " + tok + "\n"
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func(cmd func(context.Context, []string, io.Writer, io.Writer) int, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := cmd(ctx, args, &out, &errb)
		return code, out.String() + errb.String()
	}
	url := "https://dg.example.com/webhooks/dataverse"

	if code, out := run(runRegister, "--config", cfgPath); code != exitUsage || !strings.Contains(out, "--webhook-url is required") {
		t.Fatalf("register without a URL: %d %s", code, out)
	}
	code, out := run(runRegister, "--config", cfgPath, "--webhook-url", url, "--dry-run")
	if code != exitOK || !strings.Contains(out, "dry run: nothing was changed") || !strings.Contains(out, "create   step     dedupegate: Create of contact (PreValidation, sync)") {
		t.Fatalf("dry run: %d %s", code, out)
	}
	if emu.Count("sdkmessageprocessingstep") != 0 {
		t.Fatal("dry run registered steps")
	}
	if code, out = run(runRegister, "--config", cfgPath, "--webhook-url", url); code != exitOK {
		t.Fatalf("register: %d %s", code, out)
	}
	if strings.Contains(out, "register-cmd-secret") {
		t.Fatal("the secret was printed")
	}
	steps := emu.Count("sdkmessageprocessingstep")
	if steps == 0 {
		t.Fatal("no steps registered")
	}
	if code, out = run(runRegister, "--config", cfgPath, "--webhook-url", url); code != exitOK || !strings.Contains(out, "already matched") || emu.Count("sdkmessageprocessingstep") != steps {
		t.Fatalf("second register: %d %s", code, out)
	}
	if code, out = run(runStatus, "--config", cfgPath, "--webhook-url", url); code != exitOK || !strings.Contains(out, "no drift") {
		t.Fatalf("status: %d %s", code, out)
	}
	// Drift: the webhook moved.
	if code, out = run(runStatus, "--config", cfgPath, "--webhook-url", "https://elsewhere.example.com/webhooks/dataverse"); code != exitFound || !strings.Contains(out, "DRIFT") || !strings.Contains(out, "url https://dg.example.com") {
		t.Fatalf("status with drift: %d %s", code, out)
	}
	if code, out = run(runUnregister, "--config", cfgPath, "--dry-run"); code != exitOK || emu.Count("sdkmessageprocessingstep") != steps {
		t.Fatalf("unregister dry run: %d %s", code, out)
	}
	if code, out = run(runUnregister, "--config", cfgPath); code != exitOK {
		t.Fatalf("unregister: %d %s", code, out)
	}
	if n := emu.Count("sdkmessageprocessingstep") + emu.Count("sdkmessageprocessingstepimage") + emu.Count("serviceendpoint"); n != 0 {
		t.Fatalf("%d rows left after unregister", n)
	}
}
