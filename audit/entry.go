// Package audit keeps the governance trail of duplicate prevention: every block, warning,
// override, fallback and audit-mode "would have fired" decision becomes an Entry with its
// reasons (rule, score, matched ids), user, table, entry point and correlation id.
//
// Trail is the rules.Observer that turns decisions into entries. It never blocks a decision:
// entries go through a bounded queue to a background writer, and when the queue is full the
// entry is dropped, counted and logged. The writer keeps entries in a Store — a capped Redis
// Stream (RedisStore, one key, safe in Redis Cluster) when the index is in Redis, or an
// in-process ring (Ring) in the embedded default — and writes each as a structured log line
// without reason texts. With masking on (the default), reason texts keep their structure and
// lose the values they quote: "first name Bob ~ Robert (nickname)" is stored as
// "first name ~ (nickname)".
//
// List reads entries back for the admin dashboard and `dedupegate report`; Summarize turns
// them into trends.
package audit

import (
	"slices"
	"time"

	"github.com/dedupegate/dedupegate/metrics"
	"github.com/dedupegate/dedupegate/rules"
)

// Kind is what an entry records.
type Kind string

// Entry kinds. A decision gives at most one entry, of the first kind that applies in this
// order: fallback (the failure policy decided), override (a valid token let a block through),
// block, warn, audit (an audit-mode rule would have fired), action (a notify, merge or review
// rule fired and its follow-up starts). Follow-up actions may add entries of their own kinds
// through Trail.Record.
const (
	KindFallback Kind = "fallback"
	KindOverride Kind = "override"
	KindBlock    Kind = "block"
	KindWarn     Kind = "warn"
	KindAudit    Kind = "audit"
	KindAction   Kind = "action"
)

// Entry is one audit record.
type Entry struct {
	// ID is the store's id: the Redis Stream entry id, or "<ms>-<seq>" in the ring. Empty until
	// stored.
	ID   string    `json:"id,omitempty"`
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`
	// Outcome is the decision returned: allow, warn or block.
	Outcome string `json:"outcome"`
	// Table is the checked record's table; RecordID its id (empty for a Create).
	Table    string `json:"table"`
	RecordID string `json:"record_id,omitempty"`
	// Message is Create, Update or Check.
	Message    string `json:"message,omitempty"`
	EntryPoint string `json:"entry_point,omitempty"`
	// UserID and UserAADID identify who saved (systemuserid, Entra object id).
	UserID        string `json:"user_id,omitempty"`
	UserAADID     string `json:"user_aad_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	// Fallback and Error say why the failure policy decided.
	Fallback string `json:"fallback,omitempty"`
	Error    string `json:"error,omitempty"`
	// Overridden: a valid override token turned a block into an allow. OverrideError: a token
	// was presented and refused.
	Overridden    bool    `json:"overridden,omitempty"`
	OverrideError string  `json:"override_error,omitempty"`
	LatencyMS     float64 `json:"latency_ms"`
	Matches       []Match `json:"matches,omitempty"`
	// Note is free text from follow-up actions (e.g. why a merge failed).
	Note string `json:"note,omitempty"`
}

// Match is one matched record as the trail keeps it.
type Match struct {
	Rule   string  `json:"rule"`
	Action string  `json:"action"`
	Level  string  `json:"level"`
	Entity string  `json:"entity"`
	ID     string  `json:"id,omitempty"`
	Score  float64 `json:"score"`
	// Name is the matched record's display name; left out when personal data is masked.
	Name     string   `json:"name,omitempty"`
	Reasons  []string `json:"reasons,omitempty"`
	Reserved bool     `json:"reserved,omitempty"`
}

// Rules returns the distinct rules of the entry's matches, in order.
func (e Entry) Rules() []string {
	if len(e.Matches) > 32 {
		// Many matches: a set, rather than a search of what is kept so far for each.
		var out []string
		seen := map[string]bool{}
		for _, m := range e.Matches {
			if !seen[m.Rule] {
				seen[m.Rule] = true
				out = append(out, m.Rule)
			}
		}
		return out
	}
	var out []string
	for _, m := range e.Matches {
		if !slices.Contains(out, m.Rule) {
			out = append(out, m.Rule)
		}
	}
	return out
}

// KindOf returns the kind of entry a decision makes, or "" when it makes none (a plain allow).
func KindOf(d rules.Decision) Kind {
	switch {
	case d.Fallback != "":
		return KindFallback
	case d.Overridden:
		return KindOverride
	case d.Outcome == rules.OutcomeBlock:
		return KindBlock
	case d.Outcome == rules.OutcomeWarn:
		return KindWarn
	}
	kind := Kind("")
	for _, m := range d.Matches {
		switch m.Action {
		case rules.ActionAudit:
			return KindAudit
		case rules.ActionNotify, rules.ActionMerge, rules.ActionReview:
			kind = KindAction
		}
	}
	return kind
}

// FromEvent builds the entry of a decision event (ok false when the decision makes none).
// With mask, reason texts keep only their structure and display names are left out.
func FromEvent(ev rules.Event, mask bool) (Entry, bool) {
	kind := KindOf(ev.Decision)
	if kind == "" {
		return Entry{}, false
	}
	d, req := ev.Decision, ev.Request
	e := Entry{
		Time: ev.Time.UTC(), Kind: kind, Outcome: string(d.Outcome),
		Table: req.Record.Entity, RecordID: req.Record.ID, Message: req.Message, EntryPoint: req.EntryPoint,
		UserID: req.UserID, UserAADID: req.UserAADID, CorrelationID: req.CorrelationID,
		Fallback: d.Fallback, Error: d.Error, Overridden: d.Overridden, OverrideError: d.OverrideError,
		LatencyMS: float64(ev.Latency.Microseconds()) / 1000,
	}
	if len(d.Matches) == 0 {
		return e, true
	}
	e.Matches = make([]Match, 0, len(d.Matches))
	var (
		mk      *masker
		reasons []string // the masked reasons of every match, in order
	)
	if mask {
		mk = newMasker(req.Record, d.Matches)
		defer mk.release()
		reasons = mk.maskMatches(d.Matches)
	}
	for _, m := range d.Matches {
		am := Match{Rule: m.Rule, Action: string(m.Action), Level: string(m.Level), Entity: m.Entity,
			ID: m.ID, Score: m.Score, Reserved: m.Reserved}
		if mk != nil {
			// Capped, so that appending to one match's reasons cannot overwrite the next's.
			n := len(m.Reasons)
			am.Reasons = reasons[:n:n]
			reasons = reasons[n:]
		} else {
			am.Name = m.Name
			am.Reasons = append([]string(nil), m.Reasons...)
		}
		e.Matches = append(e.Matches, am)
	}
	return e, true
}

// firing reports whether m is the match that produced the entry's kind (used for "top rule").
func firing(e Entry, m Match) bool {
	want := rules.Outcome(e.Outcome)
	if e.Kind == KindOverride {
		want = rules.OutcomeBlock
	}
	return metrics.MatchOutcome(rules.Match{Action: rules.Action(m.Action), Level: rules.Outcome(m.Level)}) == want
}
