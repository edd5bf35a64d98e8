package actions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/audit"
	"github.com/dedupegate/dedupegate/rules"
)

// Status is how a follow-up step ended.
type Status string

// Follow-up statuses. Done: Dataverse has the notification, merge or review item. Skipped: the
// step did not apply (pair marked "not a duplicate", review item already open, no recipient).
// Failed: retries ran out or the error cannot be retried. Rerouted: a merge that could not
// happen became a review item. Expired: the PostOperation call never came within
// actions.pending_ttl. Dropped: the queue was full or the gateway shut down first.
const (
	StatusDone     Status = "done"
	StatusSkipped  Status = "skipped"
	StatusFailed   Status = "failed"
	StatusRerouted Status = "rerouted"
	StatusExpired  Status = "expired"
	StatusDropped  Status = "dropped"
)

// Outcome is the record of one follow-up step for one match.
type Outcome struct {
	Time          time.Time
	CorrelationID string
	Action        rules.Action
	Rule          string
	// Entity and ID are the saved record (ID empty when it never committed); MatchEntity and
	// MatchID the existing record it matched.
	Entity, ID           string
	MatchEntity, MatchID string
	Score                float64
	EntryPoint, UserID   string
	Status               Status
	Attempts             int
	Error                string
	// Detail says what was created ("appnotification ×2", "task <id>") or why it was skipped.
	Detail string
	// Merge is the audit of a merge attempt: both records' values before it.
	Merge *MergeAudit
}

// MergeAudit is what a merge changed, recorded before the Merge call so that it can be
// reviewed and, if need be, undone by hand.
type MergeAudit struct {
	Table         string         `json:"table"`
	TargetID      string         `json:"target_id"`
	SubordinateID string         `json:"subordinate_id"`
	Precedence    string         `json:"precedence"`
	Score         float64        `json:"score"`
	Threshold     float64        `json:"merge_threshold"`
	Target        map[string]any `json:"target"`
	Subordinate   map[string]any `json:"subordinate"`
	// UpdateContent are the columns copied onto the surviving record.
	UpdateContent          map[string]any `json:"update_content"`
	PerformParentingChecks bool           `json:"perform_parenting_checks"`
}

// Recorder receives every follow-up outcome. It must not block for long: it runs on the
// follow-up workers.
type Recorder interface {
	RecordFollowUp(ctx context.Context, o Outcome)
}

// Recorders fans an outcome out to several recorders.
type Recorders []Recorder

// RecordFollowUp calls each recorder.
func (rs Recorders) RecordFollowUp(ctx context.Context, o Outcome) {
	for _, r := range rs {
		r.RecordFollowUp(ctx, o)
	}
}

// LogRecorder writes each outcome as one structured log line: ids, rule, score, status and
// error — never record values. A merge's audit appears as its column names and a short hash of
// each side's values, enough to match it with the Dataverse audit note.
type LogRecorder struct{ Log *zap.Logger }

// RecordFollowUp implements Recorder.
func (l LogRecorder) RecordFollowUp(_ context.Context, o Outcome) {
	fields := []zap.Field{
		zap.String("action", string(o.Action)), zap.String("status", string(o.Status)),
		zap.String("rule", o.Rule), zap.String("entity", o.Entity), zap.String("id", o.ID),
		zap.String("matched_entity", o.MatchEntity), zap.String("matched_id", o.MatchID),
		zap.Float64("score", o.Score), zap.String("correlation_id", o.CorrelationID),
		zap.String("entry_point", o.EntryPoint), zap.Int("attempts", o.Attempts),
	}
	if o.Detail != "" {
		fields = append(fields, zap.String("detail", o.Detail))
	}
	if o.Error != "" {
		fields = append(fields, zap.String("error", o.Error))
	}
	if m := o.Merge; m != nil {
		fields = append(fields, zap.Strings("merged_columns", sortedKeys(m.UpdateContent)),
			zap.String("precedence", m.Precedence),
			zap.String("target_values_sha256", valuesHash(m.Target)),
			zap.String("subordinate_values_sha256", valuesHash(m.Subordinate)))
	}
	switch o.Status {
	case StatusFailed, StatusExpired, StatusDropped:
		l.Log.Error("follow-up", fields...)
	case StatusRerouted:
		l.Log.Warn("follow-up", fields...)
	default:
		l.Log.Info("follow-up", fields...)
	}
}

// valuesHash is a short, stable digest of a row's values (for correlating log lines without
// printing personal data).
func valuesHash(row map[string]any) string {
	b, _ := json.Marshal(row) // map keys are sorted by encoding/json
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MetricsRecorder counts outcomes in dedupegate_followups_total{action,status,table}.
type MetricsRecorder struct{ c *prometheus.CounterVec }

// NewMetricsRecorder registers the follow-up counter on reg.
func NewMetricsRecorder(reg prometheus.Registerer) (*MetricsRecorder, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "dedupegate", Name: "followups_total",
		Help: "Follow-up steps of notify, merge and review matches, by action, status (done, skipped, failed, rerouted, expired, dropped) and table.",
	}, []string{"action", "status", "table"})
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("registering the follow-up counter: %w", err)
	}
	return &MetricsRecorder{c: c}, nil
}

// RecordFollowUp implements Recorder.
func (m *MetricsRecorder) RecordFollowUp(_ context.Context, o Outcome) {
	m.c.WithLabelValues(string(o.Action), string(o.Status), o.Entity).Inc()
}

// AuditSink is the part of the audit trail follow-ups write to (*audit.Trail).
type AuditSink interface {
	Record(e audit.Entry) bool
}

// KindFollowUp is the audit entry kind of follow-up outcomes.
const KindFollowUp audit.Kind = "followup"

// AuditRecorder adds each outcome to the audit trail as a "followup" entry whose outcome is the
// status. With Mask off, a merge's audit (both records' values) goes in the entry's note; with
// Mask on, only the columns it changed.
type AuditRecorder struct {
	Sink AuditSink
	Mask bool
}

// RecordFollowUp implements Recorder.
func (a AuditRecorder) RecordFollowUp(_ context.Context, o Outcome) {
	e := audit.Entry{
		Time: o.Time, Kind: KindFollowUp, Outcome: string(o.Status), Table: o.Entity, RecordID: o.ID,
		EntryPoint: o.EntryPoint, UserID: o.UserID, CorrelationID: o.CorrelationID, Error: o.Error,
		Matches: []audit.Match{{Rule: o.Rule, Action: string(o.Action), Level: string(rules.OutcomeBlock),
			Entity: o.MatchEntity, ID: o.MatchID, Score: o.Score}},
	}
	note := []string{}
	if o.Detail != "" {
		note = append(note, o.Detail)
	}
	if o.Attempts > 1 {
		note = append(note, fmt.Sprintf("%d attempts", o.Attempts))
	}
	if m := o.Merge; m != nil {
		if a.Mask {
			note = append(note, "merged columns: "+strings.Join(sortedKeys(m.UpdateContent), ","))
		} else if b, err := json.Marshal(m); err == nil {
			note = append(note, "merge audit: "+string(b))
		}
	}
	e.Note = strings.Join(note, "; ")
	a.Sink.Record(e)
}
