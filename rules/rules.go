package rules

import (
	"slices"
	"sort"
	"unsafe"

	"github.com/dedupegate/dedupegate/matcher"
)

// Action is what a rule does when it fires.
type Action string

// The actions a rule can take. Block refuses the save; Warn allows it and records the warning;
// Audit is a dry run (allowed, recorded as "would have fired"); Notify, Merge and Review allow
// the save and start a follow-up (alert the owner, merge into the existing record, open a review
// item).
const (
	ActionBlock  Action = "block"
	ActionWarn   Action = "warn"
	ActionAudit  Action = "audit"
	ActionNotify Action = "notify"
	ActionMerge  Action = "merge"
	ActionReview Action = "review"
)

// Valid reports whether a is a known action.
func (a Action) Valid() bool {
	switch a {
	case ActionBlock, ActionWarn, ActionAudit, ActionNotify, ActionMerge, ActionReview:
		return true
	}
	return false
}

// Entry points a request can come through. Actions may differ by entry point.
const (
	EntryForm        = "form"        // an interactive user (webhook, non-application user)
	EntryIntegration = "integration" // an application user or a configured integration account
	EntryImport      = "import"      // the scan command or a Dataverse import job
	EntryAPI         = "api"         // the check API
)

// Rule is one compiled duplicate rule with its thresholds and actions.
type Rule struct {
	Name            string
	Entity          string // table whose saves the rule checks
	CandidateEntity string // table searched for duplicates
	Matcher         *matcher.Rule
	// A pair scoring at least BlockThreshold fires the rule's action; at least WarnThreshold
	// (and below BlockThreshold) is reported as a warning.
	BlockThreshold float64
	WarnThreshold  float64
	// MergeThreshold is the minimum score at which ActionMerge may merge (≥ BlockThreshold).
	MergeThreshold float64
	// Action is the rule's action; ActionsByEntry overrides it per entry point.
	Action         Action
	ActionsByEntry map[string]Action
	// BypassUsers are user ids (systemuserid or Entra object id, lower-case) the rule never
	// applies to.
	BypassUsers map[string]bool
}

// ActionFor returns the rule's action for an entry point.
func (r *Rule) ActionFor(entry string) Action {
	if a, ok := r.ActionsByEntry[entry]; ok {
		return a
	}
	return r.Action
}

// Set is a validated set of rules, indexed by the table they check.
type Set struct {
	rules    []*Rule
	byEntity map[string][]*Rule
	byCand   map[string][]*Rule
	// Computed once: every record filed or checked asks for them.
	indexed  map[string][]string        // IndexedAttrs
	read     map[string][]string        // CandidateReadAttrsView
	watched  map[string][]string        // WatchedAttrs
	matchers map[string][]*matcher.Rule // CandidateMatchers
}

// NewSet indexes rules. Rules are evaluated in the order given.
func NewSet(rs []*Rule) *Set {
	s := &Set{rules: rs, byEntity: map[string][]*Rule{}, byCand: map[string][]*Rule{},
		indexed: map[string][]string{}, read: map[string][]string{}, watched: map[string][]string{}, matchers: map[string][]*matcher.Rule{}}
	for _, r := range rs {
		s.byEntity[r.Entity] = append(s.byEntity[r.Entity], r)
		s.byCand[r.CandidateEntity] = append(s.byCand[r.CandidateEntity], r)
		s.matchers[r.CandidateEntity] = append(s.matchers[r.CandidateEntity], r.Matcher)
	}
	for entity, rs := range s.byCand {
		s.indexed[entity] = CandidateAttrs(rs)
		seen := map[string]bool{}
		for _, a := range s.indexed[entity] {
			seen[a] = true
		}
		for _, r := range rs {
			if c := r.Matcher.Spec().CountryAttr; c != "" {
				seen[c] = true
			}
		}
		s.read[entity] = sortedKeys(seen)
	}
	for entity, rs := range s.byEntity {
		seen := map[string]bool{}
		for _, r := range rs {
			for _, f := range r.Matcher.Spec().Fields {
				seen[f.Attr] = true
			}
		}
		s.watched[entity] = sortedKeys(seen)
	}
	return s
}

// CandidateAttrs returns the attributes rules read of a candidate, sorted.
func CandidateAttrs(rs []*Rule) []string {
	seen := map[string]bool{}
	for _, r := range rs {
		for _, f := range r.Matcher.Spec().Fields {
			a := f.CandidateAttr
			if a == "" {
				a = f.Attr
			}
			seen[a] = true
		}
	}
	return sortedKeys(seen)
}

// Rules returns every rule.
func (s *Set) Rules() []*Rule { return s.rules }

// ForEntity returns the rules that check saves of entity.
func (s *Set) ForEntity(entity string) []*Rule { return s.byEntity[entity] }

// Tables returns the tables some rule checks, sorted.
func (s *Set) Tables() []string { return sortedKeys(s.byEntity) }

// CandidateTables returns the tables some rule searches (the tables the index holds), sorted.
func (s *Set) CandidateTables() []string { return sortedKeys(s.byCand) }

// IndexKeys returns every key under which rec (a row of a candidate table) must be filed so
// that all rules searching its table find it.
func (s *Set) IndexKeys(rec matcher.Record) []string {
	var keys []string
	for _, r := range s.byCand[rec.Entity] {
		keys = appendNew(keys, r.Matcher.IndexKeys(rec))
	}
	return keys
}

// appendNew appends the keys of ks not already in keys. A record has a few dozen keys at most:
// a linear search beats a map.
func appendNew(keys, ks []string) []string {
	if len(keys) == 0 && len(ks) > 0 {
		// One rule's keys are distinct already: taken as they are (clipped, so that an
		// append never writes into the rule's own slice).
		return slices.Clip(ks)
	}
	for _, k := range ks {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// IndexEntry returns the keys under which rec is filed (as IndexKeys) and its form for the
// rules that read its table as candidates (matcher.Record.Form), preparing it once per rule.
func (s *Set) IndexEntry(rec matcher.Record) ([]string, string) { return s.IndexEntryEach(rec, nil) }

// IndexEntryEach is IndexEntry that also hands each rule's prepared values of rec to each
// (when not nil): a caller about to check rec too reuses them (Request.Prepared).
func (s *Set) IndexEntryEach(rec matcher.Record, each func(*Rule, *matcher.Prepared)) ([]string, string) {
	var keys []string
	var form []byte
	for _, r := range s.byCand[rec.Entity] {
		var p *matcher.Prepared
		var ks []string
		p, ks, form = r.Matcher.IndexEntryPrepared(rec, form)
		keys = appendNew(keys, ks)
		if each != nil {
			each(r, p)
		} else {
			r.Matcher.Recycle(p) // its keys are kept; its values are read no more
		}
	}
	// The buffer is the form's own from here (nothing writes to it again): no copy.
	return keys, unsafe.String(unsafe.SliceData(form), len(form))
}

// IndexedAttrs returns the attributes of entity that rules read when it is a candidate: the
// compact copy the index caches. Sorted; the caller may keep and change the slice.
func (s *Set) IndexedAttrs(entity string) []string { return slices.Clone(s.indexed[entity]) }

// IndexedAttrsView is IndexedAttrs without the copy, for the paths that file every record:
// the caller must not change it.
func (s *Set) IndexedAttrsView(entity string) []string { return s.indexed[entity] }

// CandidateReadAttrsView returns every attribute of entity that preparing it as a candidate
// reads: IndexedAttrs and the rules' country attributes (which choose a phone's region). The
// caller must not change the slice.
func (s *Set) CandidateReadAttrsView(entity string) []string { return s.read[entity] }

// WatchedAttrs returns the attributes of entity that rules read when it is the checked record:
// the filtering attributes of its Update step. Sorted; the caller may keep and change the
// slice.
func (s *Set) WatchedAttrs(entity string) []string { return slices.Clone(s.watched[entity]) }

// CandidateMatchers returns the matchers of the rules whose candidates are rows of entity, in
// rule order. The caller must not change the slice.
func (s *Set) CandidateMatchers(entity string) []*matcher.Rule { return s.matchers[entity] }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
