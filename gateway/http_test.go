package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestAccessLineCarriesDecision: a webhook call writes one access line, with the decision on
// it (outcome, rule, score, matched id, status, correlation id) and no personal data; the
// decision has no line of its own.
func TestAccessLineCarriesDecision(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	_, url := loggedGateway(t, "", zap.New(core))
	postDuplicate(t, url, map[string]string{"x-ms-correlation-request-id": "b374239d-4233-41a9-8b17-a86cb4f737b5"})

	if n := logs.FilterMessage("decision").Len(); n != 0 {
		t.Errorf("%d separate decision lines, want none", n)
	}
	lines := logs.FilterMessage("http").FilterField(zap.String("path", "/webhooks/dataverse")).All()
	if len(lines) != 1 {
		t.Fatalf("want one access line for the call, got %d: %+v", len(lines), logs.All())
	}
	got := lines[0].ContextMap()
	for k, want := range map[string]any{
		"decision": "block", "rule": "contact-duplicate", "matched_id": robertID, "entry_point": "form",
		"status": int64(http.StatusConflict), "method": http.MethodPost, "correlation_id": "b374239d-4233-41a9-8b17-a86cb4f737b5",
		"matches": int64(1), "score": float64(1), "message": "Create", "entity": "contact", "stage": int64(10), "mode": int64(0),
	} {
		if got[k] != want {
			t.Errorf("access line %s = %v (%T), want %v", k, got[k], got[k], want)
		}
	}
	if id, _ := got["request_id"].(string); id == "" {
		t.Errorf("access line without a request id: %v", got)
	}
	var all strings.Builder
	for _, e := range logs.All() {
		all.WriteString(e.Message)
		for k, v := range e.ContextMap() {
			all.WriteString(" " + k + "=")
			all.WriteString(strings.ToLower(fmt.Sprint(v)))
		}
		all.WriteString("\n")
	}
	for _, v := range []string{"robert", "smith", "example.com", "7946", testSecret} {
		if strings.Contains(all.String(), strings.ToLower(v)) {
			t.Errorf("the log carries %q:\n%s", v, all.String())
		}
	}
}
