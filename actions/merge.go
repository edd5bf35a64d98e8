package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/rules"
)

// errReroute marks a merge that must not happen; the pair goes to review instead.
type errReroute struct{ why string }

func (e *errReroute) Error() string { return e.why }

func reroute(format string, args ...any) error {
	return permanent(&errReroute{fmt.Sprintf(format, args...)})
}

// mergeColumns returns the columns precedence applies to for a table: the configured list, or
// the columns its rules compare.
func (r *Runner) mergeColumns(table string) []string {
	if cols, ok := r.cfg.Merge.Columns[table]; ok {
		return cols
	}
	seen := map[string]bool{}
	if r.rules != nil {
		if set := r.rules(); set != nil {
			for _, c := range set.WatchedAttrs(table) {
				seen[c] = true
			}
			for _, c := range set.IndexedAttrs(table) {
				seen[c] = true
			}
		}
	}
	return sortedKeys(seen)
}

// updateContent decides which columns of the subordinate (new) record are copied onto the
// target (existing) one. Lookups (read as _name_value) and system columns are never copied.
func updateContent(precedence string, cols []string, target, sub map[string]any) map[string]any {
	out := map[string]any{}
	if precedence == "keep_target" {
		return out
	}
	subNewer := rowTime(sub, "modifiedon").After(rowTime(target, "modifiedon"))
	for _, c := range cols {
		if _, isLookup := sub["_"+c+"_value"]; isLookup || systemColumn(c) {
			continue
		}
		sv, ok := sub[c]
		if !ok || blank(sv) {
			continue // a blank never overwrites a value
		}
		tv := target[c]
		switch precedence {
		case "fill_blanks":
			if blank(tv) {
				out[c] = sv
			}
		case "newest_wins":
			if blank(tv) || (subNewer && !reflect.DeepEqual(tv, sv)) {
				out[c] = sv
			}
		}
	}
	return out
}

// systemColumn reports columns Dataverse manages itself.
func systemColumn(c string) bool {
	switch c {
	case "statecode", "statuscode", "createdon", "modifiedon", "createdby", "modifiedby", "ownerid",
		"owninguser", "owningteam", "owningbusinessunit", "versionnumber", "masterid", "merged",
		"overriddencreatedon", "importsequencenumber", "timezoneruleversionnumber", "utcconversiontimezonecode":
		return true
	}
	return false
}

// merge merges the new record (subordinate) into the existing one (target). It returns whether
// the merge happened. A merge that must not or cannot happen is routed to review.
func (r *Runner) merge(ctx context.Context, j job, m rules.Match, o Outcome) bool {
	table := j.record.Entity
	switch {
	case m.Entity != table:
		r.rerouted(ctx, j, m, o, 0, fmt.Sprintf("Dataverse merges two rows of the same table only (%s matched %s)", table, m.Entity))
		return false
	case !Mergeable(table):
		r.rerouted(ctx, j, m, o, 0, fmt.Sprintf("Dataverse cannot merge %s rows (only account, contact, lead and incident)", table))
		return false
	}
	rule := r.rule(m.Rule)
	if rule == nil {
		r.rerouted(ctx, j, m, o, 0, "rule "+m.Rule+" is no longer in the rules")
		return false
	}
	threshold := max(rule.MergeThreshold, rule.BlockThreshold)
	if m.Score < threshold {
		r.rerouted(ctx, j, m, o, 0, fmt.Sprintf("score %.3f is below the rule's merge threshold %.3f", m.Score, threshold))
		return false
	}
	var audit *MergeAudit
	alreadyMerged := false
	attempts, err := retry(ctx, r.policy, r.sleep, func(ctx context.Context) error {
		target, err := r.dv.Get(ctx, table, m.ID, nil)
		if err != nil {
			if statusOf(err) == http.StatusNotFound {
				return reroute("the existing record no longer exists")
			}
			return fmt.Errorf("reading the existing record: %w", err)
		}
		sub, err := r.dv.Get(ctx, table, j.id, nil)
		if err != nil {
			if statusOf(err) == http.StatusNotFound {
				return permanentf("the new record no longer exists")
			}
			return fmt.Errorf("reading the new record: %w", err)
		}
		if st, _ := rowInt(sub, "statecode"); st != 0 {
			if strings.EqualFold(rowStr(sub, "_masterid_value"), m.ID) {
				alreadyMerged = true // an earlier try's Merge went through; its answer was lost
				return nil
			}
			return permanentf("the new record is inactive (statecode %d)", st)
		}
		if st, _ := rowInt(target, "statecode"); st != 0 {
			return reroute("the existing record is inactive (statecode %d)", st)
		}
		// Re-score on the rows as they are now: the existing record may have changed since
		// the decision. Never merge below the merge threshold.
		newRec, oldRec := rowRecord(table, j.id, sub), rowRecord(table, m.ID, target)
		sc := rule.Matcher.Score(rule.Matcher.Prepare(newRec), rule.Matcher.PrepareCandidate(oldRec))
		if sc.Score < threshold {
			return reroute("re-scored on the committed rows at %.3f, below the rule's merge threshold %.3f", sc.Score, threshold)
		}
		content := updateContent(r.cfg.Merge.Precedence, r.mergeColumns(table), target, sub)
		audit = &MergeAudit{Table: table, TargetID: m.ID, SubordinateID: j.id, Precedence: r.cfg.Merge.Precedence,
			Score: round3(sc.Score), Threshold: threshold, Target: target, Subordinate: sub, UpdateContent: content,
			PerformParentingChecks: r.cfg.Merge.PerformParentingChecks}
		return r.callMerge(ctx, table, m.ID, j.id, content)
	})
	o.Merge = audit
	var rr *errReroute
	switch {
	case errors.As(err, &rr):
		r.rerouted(ctx, j, m, o, attempts, rr.why)
		return false
	case err != nil:
		// Retries ran out or Dataverse refused for good: record it, and put the pair in front
		// of a person rather than lose it.
		r.record(ctx, o, StatusFailed, attempts, err, "merge failed; routed to review")
		r.review(ctx, j, m, r.outcome(j.fu, j.id, m, rules.ActionReview), "The automatic merge failed: "+err.Error())
		return false
	case alreadyMerged:
		r.record(ctx, o, StatusDone, attempts, nil, fmt.Sprintf("merged %s %s into %s (confirmed after a lost answer)", table, j.id, m.ID))
		return true
	}
	detail := fmt.Sprintf("merged %s %s into %s; copied %s", table, j.id, m.ID, columnList(audit.UpdateContent))
	var noteErr error
	if r.cfg.Merge.WriteAuditNote() {
		noteErr = r.auditNote(ctx, audit)
	}
	r.reindex(ctx, table, m.ID, j.id, audit)
	if noteErr != nil {
		r.record(ctx, o, StatusDone, attempts, fmt.Errorf("the merge happened but its audit note could not be written: %w", noteErr), detail)
	} else {
		r.record(ctx, o, StatusDone, attempts, nil, detail)
	}
	return true
}

func columnList(m map[string]any) string {
	if len(m) == 0 {
		return "no column"
	}
	return strings.Join(sortedKeys(m), ",")
}

// callMerge calls the Merge action. For incident, whose Merge ignores UpdateContent (MS "Merge
// behavior for incident"), the columns are written to the target first.
func (r *Runner) callMerge(ctx context.Context, table, targetID, subID string, content map[string]any) error {
	t, err := r.dv.Table(ctx, table)
	if err != nil {
		return err
	}
	typ := "Microsoft.Dynamics.CRM." + table
	body := map[string]any{
		"Target":                 map[string]any{"@odata.type": typ, t.PrimaryID: targetID},
		"Subordinate":            map[string]any{"@odata.type": typ, t.PrimaryID: subID},
		"PerformParentingChecks": r.cfg.Merge.PerformParentingChecks,
	}
	if len(content) > 0 {
		if table == "incident" {
			if err := r.dv.Update(ctx, table, targetID, content); err != nil {
				return fmt.Errorf("writing the merged columns to the surviving case: %w", err)
			}
		} else {
			uc := map[string]any{"@odata.type": typ}
			for k, v := range content {
				uc[k] = v
			}
			body["UpdateContent"] = uc
		}
	}
	if err := r.dv.Execute(ctx, "Merge", body, nil); err != nil {
		return fmt.Errorf("Merge: %w", mergeRefusal(err))
	}
	return nil
}

// mergeRefusal keeps a refused merge retryable: Dataverse refuses merges for reasons that pass
// (a concurrent update, a lock) as well as lasting ones, and the retry policy bounds the cost.
// A missing record stays final.
func mergeRefusal(err error) error {
	if statusOf(err) == http.StatusBadRequest || statusOf(err) == http.StatusForbidden {
		return &retryableError{err}
	}
	return err
}

// retryableError overrides the status-based classification.
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// auditNote writes the merge audit as a note (annotation) on the surviving record.
func (r *Runner) auditNote(ctx context.Context, a *MergeAudit) error {
	target, err := bind(ctx, r.dv, a.Table, a.TargetID)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	_, err = retry(ctx, r.policy, r.sleep, func(ctx context.Context) error {
		_, err := r.dv.Create(ctx, "annotation", map[string]any{
			"subject":                             truncate("dedupegate merge audit: "+a.Table+" "+a.SubordinateID+" merged into this record", 500),
			"notetext":                            string(data),
			"objectid_" + a.Table + "@odata.bind": target,
		})
		return err
	})
	return err
}

// reindex drops the deactivated record from the candidate index and re-files the survivor
// with its merged values. Failures are logged: the next sync repairs the index.
func (r *Runner) reindex(ctx context.Context, table, targetID, subID string, a *MergeAudit) {
	if r.idx == nil || r.rules == nil {
		return
	}
	if err := r.idx.Delete(ctx, table, subID); err != nil {
		r.log.Warn("merge: removing the merged record from the index failed; the next sync repairs it", zap.Error(err))
	}
	merged := map[string]any{}
	for k, v := range a.Target {
		merged[k] = v
	}
	for k, v := range a.UpdateContent {
		merged[k] = v
	}
	if err := index.File(ctx, r.idx, r.rules(), rowRecord(table, targetID, merged)); err != nil {
		r.log.Warn("merge: re-filing the surviving record failed; the next sync repairs it", zap.Error(err))
	}
}

// rerouted records a merge that did not happen and opens a review item instead.
func (r *Runner) rerouted(ctx context.Context, j job, m rules.Match, o Outcome, attempts int, why string) {
	r.record(ctx, o, StatusRerouted, attempts, nil, "not merged: "+why+"; routed to review")
	r.review(ctx, j, m, r.outcome(j.fu, j.id, m, rules.ActionReview), "Not merged automatically: "+why+".")
}

func round3(f float64) float64 { return float64(int(f*1000+0.5)) / 1000 }
