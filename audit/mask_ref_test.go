package audit

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// This file keeps the original, regexp-based masking as the test oracle of the hand-written
// one in mask.go: the differential tests and FuzzMaskMatchesReference hold the two byte for
// byte equal. It is the masking exactly as it shipped before the rewrite; do not "fix" it.

var (
	refScoreRe   = regexp.MustCompile(`^(?:[01]?\.\d+|\d{1,3}(?:\.\d+)?%)$`)
	refSymbolRe  = regexp.MustCompile(`^(?:~|≈|=|==|!=|≠|<>|->|→|vs\.?|/|\+|&|-|–|—)$`)
	refEmptyPar  = regexp.MustCompile(`[(\[]\s*[)\]]`)
	refSpaceRe   = regexp.MustCompile(`\s+`)
	refSpacePunc = regexp.MustCompile(`\s+([,;:)\]])`)
	refOpenSpace = regexp.MustCompile(`([(\[])\s+`)
	refOpenPunc  = regexp.MustCompile(`([(\[])[,;:]+`)
	refDupPunc   = regexp.MustCompile(`([,;:])(?:\s*[,;:])+`)
)

// refVocabulary is the original vocabulary, built from the same word list as mask.go's.
var refVocabulary = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(vocabularyWords) {
		m[w] = true
	}
	return m
}()

type refMasker struct {
	attrs    map[string]bool
	personal map[string]bool
}

func refNewMasker(rec matcher.Record, ms []rules.Match) *refMasker {
	mk := &refMasker{attrs: map[string]bool{}, personal: map[string]bool{}}
	addValue := func(v string) {
		for _, w := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '@' && r != '.' && r != '-' && r != '\''
		}) {
			w = strings.Trim(w, ".-'")
			if len([]rune(w)) >= 2 {
				mk.personal[w] = true
			}
		}
	}
	for k, v := range rec.Attrs {
		mk.attrs[strings.ToLower(k)] = true
		addValue(v)
	}
	for _, m := range ms {
		addValue(m.Name)
		for _, f := range m.Fields {
			mk.attrs[strings.ToLower(f.Attr)] = true
		}
	}
	return mk
}

func (mk *refMasker) mask(s string) string {
	if s == "" {
		return s
	}
	toks := strings.Fields(s)
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		lead := strings.IndexFunc(t, func(r rune) bool { return !strings.ContainsRune(`("'[`, r) })
		if lead < 0 {
			out = append(out, t)
			continue
		}
		trail := strings.LastIndexFunc(t, func(r rune) bool { return !strings.ContainsRune(`)"'],;:`, r) })
		if trail < lead { // brackets and quotes only
			out = append(out, t)
			continue
		}
		_, size := utf8.DecodeRuneInString(t[trail:])
		pre, core, post := t[:lead], t[lead:trail+size], t[trail+size:]
		if mk.safe(core) {
			out = append(out, t)
		} else if rest := strings.Trim(pre+post, `"'`); rest != "" {
			out = append(out, rest)
		}
	}
	return refTidy(strings.Join(out, " "))
}

// refTidy is the original tidying of the joined tokens.
func refTidy(r string) string {
	for prev := ""; prev != r; {
		prev = r
		r = refOpenSpace.ReplaceAllString(r, "$1")
		r = refOpenPunc.ReplaceAllString(r, "$1")
		r = refSpacePunc.ReplaceAllString(r, "$1")
		r = refEmptyPar.ReplaceAllString(r, "")
		r = refDupPunc.ReplaceAllString(r, "$1")
		r = refSpaceRe.ReplaceAllString(r, " ")
		r = strings.Trim(r, " ,;:")
	}
	return r
}

func (mk *refMasker) safe(word string) bool {
	w := strings.ToLower(word)
	if mk.personal[w] {
		return false
	}
	if refSymbolRe.MatchString(w) || refScoreRe.MatchString(w) || mk.attrs[w] {
		return true
	}
	if refVocabulary[w] {
		return true
	}
	parts := strings.FieldsFunc(w, func(r rune) bool { return r == '-' || r == '/' })
	if len(parts) > 1 {
		for _, p := range parts {
			if !refVocabulary[p] && !mk.attrs[p] {
				return false
			}
		}
		return true
	}
	return false
}

// refMask is the original Mask.
func refMask(reason string, rec matcher.Record, ms []rules.Match) string {
	return refNewMasker(rec, ms).mask(reason)
}

// refFromEvent is the original FromEvent, for the benchmark of old against new.
func refFromEvent(ev rules.Event, mask bool) (Entry, bool) {
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
	var mk *refMasker
	if mask {
		mk = refNewMasker(req.Record, d.Matches)
	}
	for _, m := range d.Matches {
		am := Match{Rule: m.Rule, Action: string(m.Action), Level: string(m.Level), Entity: m.Entity,
			ID: m.ID, Score: m.Score, Reserved: m.Reserved}
		if mk != nil {
			am.Reasons = make([]string, 0, len(m.Reasons))
			for _, r := range m.Reasons {
				am.Reasons = append(am.Reasons, mk.mask(r))
			}
		} else {
			am.Name = m.Name
			am.Reasons = append([]string(nil), m.Reasons...)
		}
		e.Matches = append(e.Matches, am)
	}
	return e, true
}

// ReferenceFromEvent exports the original FromEvent to the external tests, for the benchmark
// of old against new (bench_test.go).
var ReferenceFromEvent = refFromEvent
