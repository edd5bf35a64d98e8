package admin_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium returns the headless browser's path. Without one the browser tests are skipped,
// except under CI=true, where they fail: CI installs chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found (CI=true: install it, e.g. apt-get install -y chromium)")
	}
	t.Skip("chromium not found; install it (apt-get install -y chromium) to run the dashboard browser test")
	return ""
}

// browse runs headless Chromium against url with extra (--screenshot=… or --dump-dom) and
// returns its standard output. Virtual time lets the page's fetches finish before the
// capture.
func browse(t *testing.T, bin, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,900", "--virtual-time-budget=10000"}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(errb.String(), 2000))
	}
	return out.Bytes()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestDashboardInBrowser loads /ui in headless Chromium against a real loopback server holding
// a seeded trail: the screenshot must show a drawn page (not blank, with the chart's block
// colour), and the rendered DOM the charts' bars, the health badges and every seeded blocked
// attempt. A wrong key must land on the sign-in form.
func TestDashboardInBrowser(t *testing.T) {
	bin := chromium(t)
	url := server(t, seed(), true, func() (bool, map[string]string) {
		return true, map[string]string{"index": "ok", "dataverse": "ok"}
	})
	page := url + "/ui#key=" + apiKey

	shot := filepath.Join(t.TempDir(), "dashboard.png")
	browse(t, bin, page, "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 900 {
		t.Fatalf("screenshot is %v", b)
	}
	colours := map[uint32]int{}
	blockRed := 0
	for y := 0; y < 900; y += 2 {
		for x := 0; x < 1280; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			r, g, b = r>>8, g>>8, b>>8
			colours[r<<16|g<<8|b]++
			if r == 0xc6 && g == 0x28 && b == 0x28 { // the first series' colour: contact blocks
				blockRed++
			}
		}
	}
	if len(colours) < 50 {
		t.Fatalf("screenshot looks blank: %d colours", len(colours))
	}
	if blockRed < 50 {
		t.Fatalf("no chart bars in the screenshot (%d block-coloured pixels)", blockRed)
	}
	if dst := os.Getenv("DASHBOARD_SCREENSHOT"); dst != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(dst, b, 0o644)
	}

	dom := string(browse(t, bin, page, "--dump-dom"))
	if !strings.Contains(dom, `data-state="ready"`) {
		t.Fatalf("page did not reach ready:\n%s", tail(dom, 3000))
	}
	for _, chart := range []string{`id="svg-table"`, `id="svg-rule"`} {
		if !strings.Contains(dom, chart) {
			t.Errorf("chart %s missing", chart)
		}
	}
	// Every block and warning is a bar segment, or part of one: the segments' counts add up
	// to the seeded 24 blocks and 9 warnings in each chart.
	counts := regexp.MustCompile(`class="bar" data-series="[^"]*" data-count="(\d+)"`).FindAllStringSubmatch(dom, -1)
	total := 0
	for _, c := range counts {
		n := 0
		for _, d := range c[1] {
			n = n*10 + int(d-'0')
		}
		total += n
	}
	if total != 2*(24+9) {
		t.Errorf("bars add up to %d, want %d (blocks and warnings, two charts)", total, 2*(24+9))
	}
	for _, s := range []string{"contact · blocks (18)", "lead · blocks (6)", "contact · warnings (9)", "contact-email · blocks (18)",
		"lead-vs-contact · blocks (6)", `data-dep="dataverse"`, "index: ok", "audit trail (memory): ok", ">24<"} {
		if !strings.Contains(dom, s) {
			t.Errorf("rendered page lacks %q", s)
		}
	}
	rows := regexp.MustCompile(`<tr data-id="[^"]+" data-kind="(block|fallback)">`).FindAllString(dom, -1)
	if len(rows) != 25 {
		t.Errorf("want 25 blocked attempts (24 blocks, 1 fail-closed fallback), got %d rows", len(rows))
	}
	for _, corr := range []string{"blk-contact-00", "blk-contact-17", "blk-lead-00", "blk-lead-15", "fbk-1"} {
		if !strings.Contains(dom, ">"+corr+"<") {
			t.Errorf("blocked attempt %s not shown", corr)
		}
	}
	if strings.Contains(dom, "wrn-contact-") || strings.Contains(dom, ">ovr-1<") {
		t.Error("warnings or overrides listed as blocked attempts")
	}
	if !strings.Contains(dom, "email equal after normalisation; first name ~ (nickname)") {
		t.Error("reasons not shown")
	}
	if strings.Contains(dom, apiKey) {
		t.Error("the API key is left in the page")
	}

	bad := string(browse(t, bin, url+"/ui#key=not-the-key", "--dump-dom"))
	if !strings.Contains(bad, `data-state="login"`) || !strings.Contains(bad, "unauthorized") {
		t.Errorf("a wrong key should show the sign-in form with the error:\n%s", tail(bad, 2000))
	}
}
