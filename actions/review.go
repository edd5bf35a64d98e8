package actions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/rules"
)

// Review task markers: open review tasks carry category dedupegate-review and the pair key in
// subcategory; dismissing one as "not a duplicate" sets category dedupegate-not-duplicate and
// completes it.
const (
	categoryReview       = "dedupegate-review"
	categoryNotDuplicate = "dedupegate-not-duplicate"
)

// Task state values: open, completed.
const (
	taskOpen              = 0
	taskCompleted         = 1
	taskStatusCompleted   = 5
	customInactive        = 1
	customStatusInactive  = 2
	verdictNotDuplicate   = "not_duplicate"
	reviewSubjectMaxRunes = 200
)

// ReviewItem is one review item as the review command shows it.
type ReviewItem struct {
	ID      string    `json:"id"`
	Pair    string    `json:"pair"`
	A       RecordRef `json:"a"`
	B       RecordRef `json:"b"`
	Rule    string    `json:"rule,omitempty"`
	Score   float64   `json:"score,omitempty"`
	Subject string    `json:"subject"`
	Created time.Time `json:"created,omitempty"`
	Open    bool      `json:"open"`
	// Verdict is "not_duplicate" once dismissed as such.
	Verdict string `json:"verdict,omitempty"`
}

// reviewDraft is what a new review item says.
type reviewDraft struct {
	Pair       string
	New, Old   RecordRef
	NewName    string
	OldName    string
	Rule       string
	Score      float64
	EntryPoint string
	Reasons    []string
	Fields     []string
	Note       string
	Owner      string // @odata.bind value, or ""
}

// Reviews creates, lists and dismisses review items in Dataverse: tasks regarding the existing
// record, or rows of a custom table (actions.review.target).
type Reviews struct {
	dv  Dataverse
	cfg config.ActionsReview
}

// NewReviews returns the review items of a Dataverse environment.
func NewReviews(dv Dataverse, cfg config.ActionsReview) *Reviews {
	if cfg.Target == "" {
		cfg.Target = "task"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "dg_"
	}
	if cfg.EntitySet == "" && cfg.Table != "" {
		cfg.EntitySet = cfg.Table + "s"
	}
	return &Reviews{dv: dv, cfg: cfg}
}

func (rv *Reviews) custom() bool { return rv.cfg.Target == "table" }

func (rv *Reviews) col(name string) string { return rv.cfg.Prefix + name }

// FindOpen returns the id of an open review item for a pair, or "".
func (rv *Reviews) FindOpen(ctx context.Context, pair string) (string, error) {
	if rv.custom() {
		var res struct {
			Value []map[string]any `json:"value"`
		}
		q := dataverse.Query{Select: []string{rv.cfg.Table + "id"}, Filter: dataverse.And(dataverse.Eq(rv.col("pair"), pair), dataverse.Eq("statecode", 0)), Top: 1}
		if _, err := rv.dv.Do(ctx, http.MethodGet, rv.cfg.EntitySet+"?"+q.Encode(), nil, &res); err != nil {
			return "", err
		}
		if len(res.Value) > 0 {
			return rowStr(res.Value[0], rv.cfg.Table+"id"), nil
		}
		return "", nil
	}
	found := ""
	q := dataverse.Query{Select: []string{"activityid"}, Top: 1,
		Filter: dataverse.And(dataverse.Eq("category", categoryReview), dataverse.Eq("subcategory", pair), dataverse.Eq("statecode", taskOpen))}
	err := rv.dv.List(ctx, "task", q, func(rows []map[string]any) error {
		if len(rows) > 0 {
			found = rowStr(rows[0], "activityid")
		}
		return nil
	})
	return found, err
}

// create writes a review item and returns its id.
func (rv *Reviews) create(ctx context.Context, d reviewDraft) (string, error) {
	subject := truncate(fmt.Sprintf("Possible duplicate %s: %s ↔ %s (score %.2f)", d.Old.Entity, d.NewName, d.OldName, d.Score), reviewSubjectMaxRunes)
	desc := reviewDescription(d)
	if rv.custom() {
		body := map[string]any{
			rv.col("name"): truncate(subject, 100), rv.col("pair"): d.Pair, rv.col("rule"): d.Rule,
			rv.col("score"): d.Score, rv.col("reasons"): desc,
			rv.col("entitya"): d.New.Entity, rv.col("ida"): d.New.ID,
			rv.col("entityb"): d.Old.Entity, rv.col("idb"): d.Old.ID,
		}
		if d.Owner != "" {
			body["ownerid@odata.bind"] = d.Owner
		}
		hdr, err := rv.dv.Do(ctx, http.MethodPost, rv.cfg.EntitySet, body, nil)
		if err != nil {
			return "", err
		}
		if m := entityIDInHeader.FindStringSubmatch(hdr.Get("OData-EntityId")); m != nil {
			return strings.ToLower(m[1]), nil
		}
		return "", errors.New("the review row was created but the answer carried no OData-EntityId")
	}
	regarding, err := bind(ctx, rv.dv, d.Old.Entity, d.Old.ID)
	if err != nil {
		return "", err
	}
	body := map[string]any{
		"subject":     subject,
		"description": desc,
		"category":    categoryReview,
		"subcategory": d.Pair,
		"regardingobjectid_" + d.Old.Entity + "@odata.bind": regarding,
	}
	if d.Owner != "" {
		body["ownerid@odata.bind"] = d.Owner
	}
	return rv.dv.Create(ctx, "task", body)
}

var entityIDInHeader = regexp.MustCompile(`\(([0-9A-Fa-f-]{36})\)\s*$`)

// reviewDescription lists the pair, score and reasons; its "Rule:" and "Score:" lines are read
// back by List.
func reviewDescription(d reviewDraft) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dedupegate found a possible duplicate.\n\n")
	fmt.Fprintf(&b, "Saved record: %s %s (%s)\n", d.New.Entity, d.New.ID, d.NewName)
	fmt.Fprintf(&b, "Existing record: %s %s (%s)\n", d.Old.Entity, d.Old.ID, d.OldName)
	fmt.Fprintf(&b, "Rule: %s\n", d.Rule)
	fmt.Fprintf(&b, "Score: %.3f\n", d.Score)
	if d.EntryPoint != "" {
		fmt.Fprintf(&b, "Entry point: %s\n", d.EntryPoint)
	}
	if len(d.Reasons) > 0 {
		b.WriteString("Reasons:\n")
		for _, r := range d.Reasons {
			b.WriteString("- " + r + "\n")
		}
	}
	if len(d.Fields) > 0 {
		b.WriteString("Field similarities: " + strings.Join(d.Fields, ", ") + "\n")
	}
	if d.Note != "" {
		b.WriteString("Note: " + d.Note + "\n")
	}
	fmt.Fprintf(&b, "Pair: %s\n\n", d.Pair)
	b.WriteString("Not a duplicate? Run: dedupegate review dismiss <this item's id> --not-duplicate\n")
	b.WriteString("(dedupegate review list shows the ids.) The pair will then never be reported again.\n")
	return b.String()
}

var (
	ruleLine  = regexp.MustCompile(`(?m)^Rule: (.*)$`)
	scoreLine = regexp.MustCompile(`(?m)^Score: ([0-9.]+)`)
)

// item builds a ReviewItem from a task or custom row.
func (rv *Reviews) item(row map[string]any) ReviewItem {
	var it ReviewItem
	if rv.custom() {
		it = ReviewItem{ID: rowStr(row, rv.cfg.Table+"id"), Pair: rowStr(row, rv.col("pair")), Rule: rowStr(row, rv.col("rule")),
			Subject: rowStr(row, rv.col("name")), Verdict: rowStr(row, rv.col("verdict"))}
		if s, ok := rowString(row[rv.col("score")]); ok {
			it.Score, _ = strconv.ParseFloat(s, 64)
		}
	} else {
		desc := rowStr(row, "description")
		it = ReviewItem{ID: rowStr(row, "activityid"), Pair: rowStr(row, "subcategory"), Subject: rowStr(row, "subject")}
		if m := ruleLine.FindStringSubmatch(desc); m != nil {
			it.Rule = strings.TrimSpace(m[1])
		}
		if m := scoreLine.FindStringSubmatch(desc); m != nil {
			it.Score, _ = strconv.ParseFloat(m[1], 64)
		}
		if rowStr(row, "category") == categoryNotDuplicate {
			it.Verdict = verdictNotDuplicate
		}
	}
	st, _ := rowInt(row, "statecode")
	it.Open = st == 0
	it.Created = rowTime(row, "createdon")
	it.A, it.B, _ = ParsePairKey(it.Pair)
	return it
}

// List returns the review items, newest first: only open ones unless all.
func (rv *Reviews) List(ctx context.Context, all bool) ([]ReviewItem, error) {
	var out []ReviewItem
	if rv.custom() {
		q := dataverse.Query{OrderBy: []string{"createdon desc"}}
		if !all {
			q.Filter = dataverse.Eq("statecode", 0)
		}
		next := rv.cfg.EntitySet + "?" + q.Encode()
		for next != "" {
			var res struct {
				Value    []map[string]any `json:"value"`
				NextLink string           `json:"@odata.nextLink"`
			}
			if _, err := rv.dv.Do(ctx, http.MethodGet, next, nil, &res, dataverse.WithHeader("Prefer", "odata.maxpagesize=5000")); err != nil {
				return nil, err
			}
			for _, row := range res.Value {
				out = append(out, rv.item(row))
			}
			next = res.NextLink
		}
		return out, nil
	}
	f := dataverse.Eq("category", categoryReview)
	if all {
		f = dataverse.Or(f, dataverse.Eq("category", categoryNotDuplicate))
	} else {
		f = dataverse.And(f, dataverse.Eq("statecode", taskOpen))
	}
	q := dataverse.Query{Select: []string{"activityid", "subject", "description", "category", "subcategory", "statecode", "createdon"},
		Filter: f, OrderBy: []string{"createdon desc"}}
	err := rv.dv.List(ctx, "task", q, func(rows []map[string]any) error {
		for _, row := range rows {
			out = append(out, rv.item(row))
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}

// Get reads one review item.
func (rv *Reviews) Get(ctx context.Context, id string) (ReviewItem, error) {
	if !dataverse.IsGUID(id) {
		return ReviewItem{}, fmt.Errorf("%q is not a review item id (a GUID from dedupegate review list)", id)
	}
	var row map[string]any
	if rv.custom() {
		if _, err := rv.dv.Do(ctx, http.MethodGet, rv.cfg.EntitySet+"("+id+")", nil, &row); err != nil {
			return ReviewItem{}, err
		}
	} else {
		var err error
		row, err = rv.dv.Get(ctx, "task", id, []string{"activityid", "subject", "description", "category", "subcategory", "statecode", "createdon"})
		if err != nil {
			return ReviewItem{}, err
		}
		if c := rowStr(row, "category"); c != categoryReview && c != categoryNotDuplicate {
			return ReviewItem{}, fmt.Errorf("task %s is not a dedupegate review item", id)
		}
	}
	it := rv.item(row)
	if it.Pair == "" {
		return ReviewItem{}, fmt.Errorf("review item %s names no pair", id)
	}
	return it, nil
}

// ErrClosed is returned when dismissing a review item that is already closed.
var ErrClosed = errors.New("the review item is already closed")

// DismissNotDuplicate marks a review item's pair "not a duplicate": the pair joins the
// exceptions list (so it never fires again), then the item is closed with that verdict.
// Running it again on a closed item adds the pair if missing and reports ErrClosed.
func (rv *Reviews) DismissNotDuplicate(ctx context.Context, id, by string, exc *Exceptions) (ReviewItem, error) {
	it, err := rv.Get(ctx, id)
	if err != nil {
		return it, err
	}
	if err := exc.Add(ctx, Exception{Pair: it.Pair, By: by, Item: id, Rule: it.Rule}); err != nil {
		return it, err
	}
	if !it.Open {
		return it, ErrClosed
	}
	note := fmt.Sprintf("\nDismissed as not a duplicate by %s at %s.\n", by, time.Now().UTC().Format(time.RFC3339))
	if rv.custom() {
		path := rv.cfg.EntitySet + "(" + id + ")"
		body := map[string]any{rv.col("verdict"): verdictNotDuplicate, "statecode": customInactive, "statuscode": customStatusInactive}
		if _, err := rv.dv.Do(ctx, http.MethodPatch, path, body, nil, dataverse.WithHeader("If-Match", "*")); err != nil {
			return it, fmt.Errorf("closing review row %s: %w", id, err)
		}
	} else {
		row, err := rv.dv.Get(ctx, "task", id, []string{"description"})
		if err != nil {
			return it, err
		}
		// Content first: a completed task is read-only.
		if err := rv.dv.Update(ctx, "task", id, map[string]any{"category": categoryNotDuplicate, "description": rowStr(row, "description") + note}); err != nil {
			return it, fmt.Errorf("marking task %s: %w", id, err)
		}
		if err := rv.dv.Update(ctx, "task", id, map[string]any{"statecode": taskCompleted, "statuscode": taskStatusCompleted}); err != nil {
			return it, fmt.Errorf("completing task %s: %w", id, err)
		}
	}
	it.Open, it.Verdict = false, verdictNotDuplicate
	return it, nil
}

// review opens a review item for a pair (unless one is open already).
func (r *Runner) review(ctx context.Context, j job, m rules.Match, o Outcome, note string) {
	o.Action = rules.ActionReview
	pair := PairKey(j.record.Entity, j.id, m.Entity, m.ID)
	d := reviewDraft{Pair: pair, New: RecordRef{j.record.Entity, j.id}, Old: RecordRef{m.Entity, m.ID},
		NewName: rules.DisplayName(j.record), OldName: m.Name, Rule: m.Rule, Score: m.Score,
		EntryPoint: j.fu.EntryPoint, Reasons: m.Reasons, Note: note}
	if d.NewName == "" {
		d.NewName = "new " + j.record.Entity
	}
	if d.OldName == "" {
		d.OldName = "existing " + m.Entity
	}
	for _, f := range m.Fields {
		d.Fields = append(d.Fields, fmt.Sprintf("%s %.2f", f.Attr, f.Similarity))
	}
	var id, existing string
	attempts, err := retry(ctx, r.policy, r.sleep, func(ctx context.Context) error {
		if existing == "" && id == "" {
			var err error
			if existing, err = r.reviews.FindOpen(ctx, pair); err != nil {
				return fmt.Errorf("looking for an open review item: %w", err)
			}
			if existing != "" {
				return nil
			}
		}
		if d.Owner == "" && r.cfg.Review.Owner != "" {
			owner, err := r.reviewOwner(ctx, m)
			if err != nil {
				return err
			}
			d.Owner = owner
		}
		var err error
		id, err = r.reviews.create(ctx, d)
		return err
	})
	switch {
	case err != nil:
		r.record(ctx, o, StatusFailed, attempts, err, "")
	case existing != "":
		r.record(ctx, o, StatusSkipped, attempts, nil, "a review item is already open for the pair: "+existing)
	default:
		kind := "task"
		if r.reviews.custom() {
			kind = r.cfg.Review.Table
		}
		r.record(ctx, o, StatusDone, attempts, nil, kind+" "+id)
	}
}

// reviewOwner resolves actions.review.owner to an ownerid binding.
func (r *Runner) reviewOwner(ctx context.Context, m rules.Match) (string, error) {
	o := r.cfg.Review.Owner
	if o == "record_owner" {
		kind, id, err := r.owner(ctx, m.Entity, m.ID)
		if err != nil || id == "" {
			return "", err
		}
		return "/" + kind + "s(" + id + ")", nil
	}
	kind, id, _ := strings.Cut(o, ":")
	return "/" + kind + "s(" + strings.ToLower(id) + ")", nil
}
