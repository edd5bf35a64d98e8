package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// scanData is the scan package's test data: small files with known duplicates.
var scanData = filepath.Join("..", "..", "scan", "testdata")

const scanMap = "first=firstname,last=lastname,email=emailaddress1"

func scanArgs(extra ...string) []string {
	return append([]string{"--entity", "contact", "--rules", filepath.Join(scanData, "rules.yaml"), "--map", scanMap}, extra...)
}

func runScanCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"scan"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestScanExitCodes(t *testing.T) {
	d := func(f string) string { return filepath.Join(scanData, f) }
	unreachable := filepath.Join(t.TempDir(), "redis.yaml")
	if err := os.WriteFile(unreachable, []byte("index:\n  backend: redis\n  redis:\n    addrs: [\"127.0.0.1:1\"]\n    dial_timeout: 200ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"duplicates against the CRM export", scanArgs("--id-column", "ref", "--against-id-column", "contactid", "--against", d("existing.csv"), d("import.csv")), exitFound, "2 blocked"},
		{"duplicates within the file", scanArgs(d("import.csv")), exitFound, "1 blocked"},
		{"flags after the file", append([]string{d("import.csv")}, scanArgs("--format", "csv")...), exitFound, "1 blocked"},
		{"nothing would be blocked", scanArgs(d("existing.csv")), exitOK, "3 allowed"},
		{"header only", scanArgs(d("header-only.csv")), exitOK, "0 rows"},
		{"warnings only", append(scanArgs("--rules", d("rules-audit.yaml")), d("import.csv")), exitOK, "7 allowed"},
		{"review at import flags rows", append(scanArgs("--rules", d("rules-review.yaml")), d("import.csv")), exitFound, "1 blocked"},
		{"ragged rows", scanArgs(d("ragged.csv")), exitUsage, "2 malformed row(s)"},
		{"bad encoding", scanArgs(d("badenc.csv")), exitUsage, "1 malformed row(s)"},
		{"bad JSON line", scanArgs(d("bad.jsonl")), exitUsage, "3 malformed row(s)"},
		{"empty file", scanArgs(d("empty.csv")), exitUsage, "empty file"},
		{"unknown mapped column", append(scanArgs(), "--map", scanMap+",phone=telephone1", d("import.csv")), exitUsage, `no column "phone"`},
		{"unknown id column", scanArgs("--id-column", "nope", d("import.csv")), exitUsage, `--id-column nope`},
		{"no --entity", []string{d("import.csv")}, exitUsage, "--entity is required"},
		{"table without rules", []string{"--entity", "invoice", "--rules", d("rules.yaml"), d("import.csv")}, exitUsage, `no rule checks table "invoice"`},
		{"no file", scanArgs(), exitUsage, "no input file"},
		{"two files", scanArgs(d("import.csv"), d("ragged.csv")), exitUsage, "one input file expected"},
		{"missing file", scanArgs(d("nope.csv")), exitUsage, "no such file"},
		{"bad format", scanArgs("--format", "xml", d("import.csv")), exitUsage, `--format "xml"`},
		{"bad mapping", append(scanArgs(), "--map", "first", d("import.csv")), exitUsage, "not SRC=ATTR"},
		{"bad rules file", []string{"--entity", "contact", "--rules", d("import.csv"), d("import.csv")}, exitUsage, "import.csv"},
		{"output over the input", scanArgs("--clean-out", d("import.csv"), d("import.csv")), exitUsage, "would overwrite the input"},
		{"against file with a bad header", scanArgs("--against", d("empty.csv"), d("import.csv")), exitUsage, "--against: "},
		{"redis unreachable", scanArgs("--config", unreachable, d("import.csv")), exitFailure, "redis index not reachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runScanCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d; stderr must contain %q:\n%s", code, tc.code, tc.stderr, stderr)
			}
		})
	}
}

func TestScanCleanAndReportFiles(t *testing.T) {
	dir := t.TempDir()
	clean, report := filepath.Join(dir, "clean.csv"), filepath.Join(dir, "report.csv")
	code, stdout, stderr := runScanCLI(t, scanArgs("--id-column", "ref", "--against-id-column", "contactid",
		"--against", filepath.Join(scanData, "existing.csv"), "--clean-out", clean, "--report-out", report,
		filepath.Join(scanData, "import.csv"))...)
	if code != exitFound {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var decisions []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r struct{ ID, Decision string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("stdout is not JSON Lines: %v: %q", err, line)
		}
		decisions = append(decisions, r.ID+"="+r.Decision)
	}
	if got := strings.Join(decisions, " "); got != "r1=block r2=warn r3=allow r4=block r5=allow r6=warn r7=allow" {
		t.Fatalf("decisions: %s", got)
	}
	c, _ := os.ReadFile(clean)
	r, _ := os.ReadFile(report)
	want := "ref,first,last,email,notes\nr3,dee,fox,dee@mail.org,new\nr5,eve,kim,eve@mail.org,\"a note\non two lines, with \"\"quotes\"\"\"\nr7,fay,orr,fay@mail.org,new\n"
	if string(c) != want {
		t.Fatalf("clean file:\n%s\nwant:\n%s", c, want)
	}
	for _, id := range []string{",r1,", ",r2,", ",r4,", ",r6,"} {
		if !bytes.Contains(r, []byte(id)) {
			t.Errorf("report lacks %s:\n%s", id, r)
		}
	}
	if n := bytes.Count(r, []byte("\n")); n != 5 {
		t.Errorf("report has %d lines, want a header and 4 rows:\n%s", n, r)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestScanFailureLeavesNoOutputs(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.csv")
	code, _, _ := runScanCLI(t, append(scanArgs("--clean-out", clean, "--report-out", filepath.Join(dir, "r.csv")),
		"--map", scanMap+",phone=telephone1", filepath.Join(scanData, "import.csv"))...)
	if code != exitUsage {
		t.Fatalf("exit %d", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed scan left files: %v", entries)
	}
}

func TestScanStdinJSONL(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(scanData, "import.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write(data); w.Close() }()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	code, stdout, stderr := runScanCLI(t, scanArgs("--input-format", "jsonl", "--format", "csv", "-")...)
	if code != exitFound || !strings.HasPrefix(stdout, "row,line,id,decision") || strings.Count(stdout, "\n") != 6 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestScanLiveRedisIndex checks the scan against the live index: records filed in a real
// redis-server by the gateway's index code are found, with source crm.
func TestScanLiveRedisIndex(t *testing.T) {
	addr := redistest.Standalone(t)
	prefix := redistest.Prefix(t)
	cfgPath := filepath.Join(t.TempDir(), "dedupegate.yaml")
	yaml := fmt.Sprintf("webhook:\n  auth:\n    secrets: [%q]\nindex:\n  backend: redis\n  redis:\n    addrs: [%q]\n    prefix: %q\n", "test-secret-0123456789abcdef0123", addr, prefix)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.LoadFile(filepath.Join(scanData, "rules.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := redisindex.New(cfg.Index.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	if err := index.FileBatch(ctx, x, set, []matcher.Record{
		{Entity: "contact", ID: "00000000-0000-0000-0000-00000000000a", Attrs: map[string]string{"firstname": "ann", "lastname": "lee", "emailaddress1": "ann@mail.org"}},
		{Entity: "contact", ID: "00000000-0000-0000-0000-00000000000b", Attrs: map[string]string{"firstname": "fay", "lastname": "orr", "emailaddress1": "fay@mail.org"}},
	}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runScanCLI(t, scanArgs("--config", cfgPath, "--id-column", "ref", filepath.Join(scanData, "import.csv"))...)
	if code != exitFound {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d results", len(lines))
	}
	for i, want := range map[int]string{0: "00000000-0000-0000-0000-00000000000a", 6: "00000000-0000-0000-0000-00000000000b"} {
		if !strings.Contains(lines[i], `"decision":"block"`) || !strings.Contains(lines[i], `"id":"`+want+`","source":"crm"`) {
			t.Errorf("row %d: %s", i+1, lines[i])
		}
	}
	if !strings.Contains(lines[3], `"source":"file"`) {
		t.Errorf("row 4 should still match row 3 of the file: %s", lines[3])
	}
}
