package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/dedupegate/dedupegate/matcher"
)

// This file reads the rules file (configs/rules.yaml): a YAML document decoded strictly —
// unknown keys, wrong types, unknown comparators, actions or entry points are errors — with
// every problem reported at once with its line, column and YAML path.

// Problem is one problem in a rules file.
type Problem struct {
	Line, Column int    // 1-based; 0 when unknown
	Path         string // YAML path, e.g. rules[2].fields[0].comparator
	Msg          string
}

// ProblemList is every problem found in one rules file. Error lists one per line as
// file:line:col: path: message.
type ProblemList struct {
	File     string
	Problems []Problem
}

func (p *ProblemList) Error() string {
	var b strings.Builder
	for i, pr := range p.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.File)
		if pr.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", pr.Line, pr.Column)
		}
		b.WriteString(": ")
		if pr.Path != "" {
			b.WriteString(pr.Path)
			b.WriteString(": ")
		}
		b.WriteString(pr.Msg)
	}
	return b.String()
}

// File is a loaded rules file: the rule set and the other things the file configures.
type File struct {
	Set *Set
	// NotDuplicates are the pairs the file marks "not a duplicate" (an Exceptions).
	NotDuplicates *PairList
	// Version is the file's schema version (1).
	Version int
}

// PairList is a static list of record pairs that are not duplicates. It implements
// Exceptions; the order within a pair does not matter.
type PairList struct {
	pairs map[string]bool
}

// NewPairList builds a list from "table/id" pairs.
func NewPairList(pairs [][2]string) *PairList {
	p := &PairList{pairs: map[string]bool{}}
	for _, x := range pairs {
		p.pairs[pairKey(x[0], x[1])] = true
	}
	return p
}

// NotDuplicate implements Exceptions.
func (p *PairList) NotDuplicate(entityA, idA, entityB, idB string) bool {
	if p == nil || len(p.pairs) == 0 {
		return false
	}
	return p.pairs[pairKey(entityA+"/"+normID(idA), entityB+"/"+normID(idB))]
}

// Len returns the number of pairs.
func (p *PairList) Len() int {
	if p == nil {
		return 0
	}
	return len(p.pairs)
}

func pairKey(a, b string) string {
	a, b = strings.ToLower(a), strings.ToLower(b)
	if b < a {
		a, b = b, a
	}
	return a + "|" + b
}

// LoadFile reads and validates a rules file. lex may be nil (built-in lists only).
func LoadFile(path string, lex *matcher.Lexicon) (*Set, error) {
	f, err := LoadRulesFile(path, lex)
	if err != nil {
		return nil, err
	}
	return f.Set, nil
}

// LoadRulesFile is LoadFile returning everything the file configures.
func LoadRulesFile(path string, lex *matcher.Lexicon) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules file: %w", err)
	}
	return ParseFile(data, path, lex)
}

// Parse validates a rules document; filename is used in problem messages.
func Parse(data []byte, filename string, lex *matcher.Lexicon) (*Set, error) {
	f, err := ParseFile(data, filename, lex)
	if err != nil {
		return nil, err
	}
	return f.Set, nil
}

// ParseFile is Parse returning everything the file configures. Its error is a *ProblemList.
func ParseFile(data []byte, filename string, lex *matcher.Lexicon) (*File, error) {
	d := &decoder{problems: &ProblemList{File: filename}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(nil, "", "the rules file is empty")
		} else {
			d.addYAMLError(err)
		}
		return nil, d.problems
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	f := d.file(root, lex)
	if len(d.problems.Problems) > 0 {
		sort.SliceStable(d.problems.Problems, func(i, j int) bool {
			a, b := d.problems.Problems[i], d.problems.Problems[j]
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Column < b.Column
		})
		return nil, d.problems
	}
	return f, nil
}

type decoder struct {
	problems *ProblemList
}

func (d *decoder) add(n *yaml.Node, path, format string, args ...any) {
	p := Problem{Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.problems.Problems = append(d.problems.Problems, p)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) addYAMLError(err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line == "yaml: unmarshal errors:" {
			continue
		}
		if m := yamlLine.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			d.problems.Problems = append(d.problems.Problems, Problem{Line: n, Column: 1, Msg: "invalid YAML: " + m[2]})
			continue
		}
		d.problems.Problems = append(d.problems.Problems, Problem{Msg: "invalid YAML: " + strings.TrimPrefix(line, "yaml: ")})
	}
}

// obj is one YAML mapping being decoded: it hands out values by key and reports the keys
// nobody asked for.
type obj struct {
	d     *decoder
	n     *yaml.Node
	path  string
	known []string
	keys  map[string]*yaml.Node // key → value node
	kpos  map[string]*yaml.Node // key → key node
}

func (d *decoder) obj(n *yaml.Node, path string) *obj {
	o := &obj{d: d, n: n, path: path, keys: map[string]*yaml.Node{}, kpos: map[string]*yaml.Node{}}
	if n == nil || isNull(n) {
		return o
	}
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "want a mapping (key: value lines), got %s", describe(n))
		return o
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" {
			d.add(k, path, "YAML merge keys (<<) are not supported in the rules file")
			continue
		}
		if _, dup := o.keys[k.Value]; dup {
			d.add(k, join(path, k.Value), "key %q appears twice", k.Value)
			continue
		}
		o.keys[k.Value] = v
		o.kpos[k.Value] = k
	}
	return o
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("the text %q", n.Value)
		case "!!null":
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// get returns the value node of key (nil when absent or null) and records the key as known.
func (o *obj) get(key string) *yaml.Node {
	o.known = append(o.known, key)
	v := o.keys[key]
	if v == nil || isNull(v) {
		return nil
	}
	return resolveAlias(v)
}

func (o *obj) has(key string) bool { return o.get(key) != nil }

func (o *obj) str(key string) string {
	v := o.get(key)
	if v == nil {
		return ""
	}
	if v.Kind != yaml.ScalarNode {
		o.d.add(v, join(o.path, key), "want text, got %s", describe(v))
		return ""
	}
	return strings.TrimSpace(v.Value)
}

func (o *obj) num(key string) (float64, bool) {
	v := o.get(key)
	if v == nil {
		return 0, false
	}
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") {
		o.d.add(v, join(o.path, key), "want a number, got %s", describe(v))
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(v.Value, "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		o.d.add(v, join(o.path, key), "want a finite number, got %q", v.Value)
		return 0, false
	}
	return f, true
}

func (o *obj) boolean(key string) (bool, bool) {
	v := o.get(key)
	if v == nil {
		return false, false
	}
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
		o.d.add(v, join(o.path, key), "want true or false, got %s", describe(v))
		return false, false
	}
	b, _ := strconv.ParseBool(strings.ToLower(v.Value))
	return b, true
}

func (o *obj) strList(key string) []string {
	v := o.get(key)
	if v == nil {
		return nil
	}
	path := join(o.path, key)
	if v.Kind == yaml.ScalarNode {
		o.d.add(v, path, "want a list (e.g. [a, b]), got %s", describe(v))
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		o.d.add(v, path, "want a list, got %s", describe(v))
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for i, e := range v.Content {
		e = resolveAlias(e)
		if e.Kind != yaml.ScalarNode || isNull(e) {
			o.d.add(e, fmt.Sprintf("%s[%d]", path, i), "want text, got %s", describe(e))
			continue
		}
		out = append(out, strings.TrimSpace(e.Value))
	}
	return out
}

// done reports every key nobody asked for, suggesting the closest known key.
func (o *obj) done() {
	known := map[string]bool{}
	for _, k := range o.known {
		known[k] = true
	}
	names := make([]string, 0, len(o.keys))
	for k := range o.keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if known[k] {
			continue
		}
		msg := fmt.Sprintf("unknown key %q", k)
		if s := closest(k, o.known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		o.d.add(o.kpos[k], join(o.path, k), "%s", msg)
	}
}

func closest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := matcher.Damerau(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// list returns the elements of a sequence key.
func (o *obj) list(key string) ([]*yaml.Node, *yaml.Node) {
	v := o.get(key)
	if v == nil {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		o.d.add(v, join(o.path, key), "want a list, got %s", describe(v))
		return nil, v
	}
	out := make([]*yaml.Node, len(v.Content))
	for i, e := range v.Content {
		out[i] = resolveAlias(e)
	}
	return out, v
}

// ruleDefaults are the rule settings the defaults section may give.
type ruleDefaults struct {
	scoring             string
	prior               *float64
	block, warn, merge  *float64
	action              string
	actions             map[string]Action
	region, countryAttr string
	placeholders        matcher.Placeholders
	bypass              []string
	nameSwap            *bool
}

var (
	tableName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	guidRE    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	entries   = []string{EntryForm, EntryIntegration, EntryImport, EntryAPI}
	actions   = []Action{ActionBlock, ActionWarn, ActionAudit, ActionNotify, ActionMerge, ActionReview}
)

func (d *decoder) file(root *yaml.Node, lex *matcher.Lexicon) *File {
	o := d.obj(root, "")
	out := &File{Version: 1}
	if v, ok := o.num("version"); ok && v != 1 {
		d.add(o.keys["version"], "version", "unsupported version %v (this dedupegate reads version 1)", v)
	}
	var globals ruleDefaults
	if n := o.get("placeholders"); n != nil {
		globals.placeholders = d.placeholders(n, "placeholders")
	}
	globals.bypass = d.users(o, "bypass_users")
	if n := o.get("defaults"); n != nil {
		d.defaults(n, &globals)
	}
	out.NotDuplicates = d.pairs(o)

	ruleNodes, rulesNode := o.list("rules")
	if rulesNode == nil && !o.has("rules") {
		d.add(root, "rules", "the file defines no rules (want a top-level 'rules' list)")
	}
	var rs []*Rule
	names := map[string]string{}
	for i, rn := range ruleNodes {
		path := fmt.Sprintf("rules[%d]", i)
		r := d.rule(rn, path, &globals, lex)
		if r == nil {
			continue
		}
		if prev, dup := names[r.Name]; dup {
			d.add(rn, path+".name", "rule name %q is already used by %s", r.Name, prev)
			continue
		}
		names[r.Name] = path
		rs = append(rs, r)
	}
	o.done()
	out.Set = NewSet(rs)
	return out
}

func (d *decoder) defaults(n *yaml.Node, g *ruleDefaults) {
	o := d.obj(n, "defaults")
	g.scoring = o.str("scoring")
	if v, ok := o.num("prior"); ok {
		g.prior = &v
	}
	if t := o.get("thresholds"); t != nil {
		g.block, g.warn, g.merge = d.thresholds(t, "defaults.thresholds")
	}
	g.action = o.str("action")
	if g.action != "" && !Action(g.action).Valid() {
		d.add(o.keys["action"], "defaults.action", "unknown action %q (one of %s)", g.action, actionList())
	}
	if a := o.get("actions"); a != nil {
		g.actions = d.entryActions(a, "defaults.actions")
	}
	g.region = o.str("default_region")
	g.countryAttr = o.str("country_attr")
	if b, ok := o.boolean("name_swap"); ok {
		g.nameSwap = &b
	}
	o.done()
}

func (d *decoder) thresholds(n *yaml.Node, path string) (block, warn, merge *float64) {
	o := d.obj(n, path)
	get := func(k string) *float64 {
		v, ok := o.num(k)
		if !ok {
			return nil
		}
		if v <= 0 || v > 1 {
			d.add(o.keys[k], join(path, k), "must be in (0,1], got %v", v)
			return nil
		}
		return &v
	}
	block, warn, merge = get("block"), get("warn"), get("merge")
	o.done()
	return
}

func (d *decoder) entryActions(n *yaml.Node, path string) map[string]Action {
	o := d.obj(n, path)
	out := map[string]Action{}
	for _, e := range entries {
		if v := o.str(e); v != "" {
			if !Action(v).Valid() {
				d.add(o.keys[e], join(path, e), "unknown action %q (one of %s)", v, actionList())
				continue
			}
			out[e] = Action(v)
		}
	}
	for k := range o.keys {
		if !contains(entries, k) {
			o.d.add(o.kpos[k], join(path, k), "unknown entry point %q (one of %s)", k, strings.Join(entries, ", "))
			o.known = append(o.known, k)
		}
	}
	o.done()
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func actionList() string {
	s := make([]string, len(actions))
	for i, a := range actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func (d *decoder) users(o *obj, key string) []string {
	raw := o.strList(key)
	n := o.get(key)
	out := make([]string, 0, len(raw))
	for i, u := range raw {
		id := normID(u)
		if !guidRE.MatchString(id) {
			var at *yaml.Node
			if n != nil && i < len(n.Content) {
				at = n.Content[i]
			}
			d.add(at, fmt.Sprintf("%s[%d]", join(o.path, key), i), "%q is not a user id (want a systemuserid or Entra object id GUID)", u)
			continue
		}
		out = append(out, id)
	}
	return out
}

func normID(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}"))
}

func (d *decoder) pairs(o *obj) *PairList {
	items, _ := o.list("not_duplicates")
	var pairs [][2]string
	for i, it := range items {
		path := fmt.Sprintf("not_duplicates[%d]", i)
		if it.Kind != yaml.SequenceNode || len(it.Content) != 2 {
			d.add(it, path, "want a pair [table/id, table/id], got %s", describe(it))
			continue
		}
		var p [2]string
		ok := true
		for j, e := range it.Content {
			e = resolveAlias(e)
			t, id, found := strings.Cut(strings.TrimSpace(e.Value), "/")
			if e.Kind != yaml.ScalarNode || !found || !tableName.MatchString(t) || normID(id) == "" {
				d.add(e, fmt.Sprintf("%s[%d]", path, j), "want table/id (e.g. contact/6d81597f-…), got %s", describe(e))
				ok = false
				continue
			}
			p[j] = t + "/" + normID(id)
		}
		if ok {
			pairs = append(pairs, p)
		}
	}
	return NewPairList(pairs)
}

func (d *decoder) placeholders(n *yaml.Node, path string) matcher.Placeholders {
	o := d.obj(n, path)
	p := matcher.Placeholders{
		Values:          o.strList("values"),
		EmailLocalParts: o.strList("email_local_parts"),
		EmailDomains:    o.strList("email_domains"),
		Emails:          o.strList("emails"),
		Phones:          o.strList("phones"),
		Dates:           o.strList("dates"),
	}
	if b, ok := o.boolean("builtin"); ok {
		p.NoBuiltin = !b
	}
	o.done()
	return p
}

func mergePlaceholders(a, b matcher.Placeholders) matcher.Placeholders {
	return matcher.Placeholders{
		Values:          append(append([]string(nil), a.Values...), b.Values...),
		EmailLocalParts: append(append([]string(nil), a.EmailLocalParts...), b.EmailLocalParts...),
		EmailDomains:    append(append([]string(nil), a.EmailDomains...), b.EmailDomains...),
		Emails:          append(append([]string(nil), a.Emails...), b.Emails...),
		Phones:          append(append([]string(nil), a.Phones...), b.Phones...),
		Dates:           append(append([]string(nil), a.Dates...), b.Dates...),
		NoBuiltin:       a.NoBuiltin || b.NoBuiltin,
	}
}

// Default thresholds when neither the rule nor the defaults section gives them.
const (
	DefaultBlockThreshold = 0.95
	DefaultWarnThreshold  = 0.80
)

func (d *decoder) rule(n *yaml.Node, path string, g *ruleDefaults, lex *matcher.Lexicon) *Rule {
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "want a rule (a mapping with name, table, fields, ...), got %s", describe(n))
		return nil
	}
	o := d.obj(n, path)
	before := len(d.problems.Problems)
	spec := matcher.RuleSpec{
		Name:            o.str("name"),
		Entity:          o.str("table"),
		CandidateEntity: o.str("candidate_table"),
		Scoring:         firstNonEmpty(o.str("scoring"), g.scoring, matcher.ScoringEvidence),
		DefaultRegion:   firstNonEmpty(o.str("default_region"), g.region),
		CountryAttr:     firstNonEmpty(o.str("country_attr"), g.countryAttr),
	}
	_ = o.str("description")
	if spec.Name == "" && !o.has("name") {
		d.add(n, path+".name", "the rule has no name")
	}
	enabled := true
	if b, ok := o.boolean("enabled"); ok {
		enabled = b
	}
	if spec.Entity == "" {
		d.add(n, path+".table", "the rule has no table (the logical name of the table whose saves it checks)")
	} else if !tableName.MatchString(spec.Entity) {
		d.add(o.keys["table"], path+".table", "%q is not a Dataverse table logical name (lower-case letters, digits, _)", spec.Entity)
	}
	if spec.CandidateEntity != "" && !tableName.MatchString(spec.CandidateEntity) {
		d.add(o.keys["candidate_table"], path+".candidate_table", "%q is not a Dataverse table logical name", spec.CandidateEntity)
	}
	if g.prior != nil {
		spec.Prior = *g.prior
	}
	if v, ok := o.num("prior"); ok {
		spec.Prior = v
	}
	swap := true
	if g.nameSwap != nil {
		swap = *g.nameSwap
	}
	if b, ok := o.boolean("name_swap"); ok {
		swap = b
	}
	spec.NoNameSwap = !swap
	ph := g.placeholders
	if p := o.get("placeholders"); p != nil {
		ph = mergePlaceholders(ph, d.placeholders(p, path+".placeholders"))
	}
	spec.Placeholders = ph

	block, warn, merge := g.block, g.warn, g.merge
	if t := o.get("thresholds"); t != nil {
		b, w, m := d.thresholds(t, path+".thresholds")
		if b != nil {
			block = b
		}
		if w != nil {
			warn = w
		}
		if m != nil {
			merge = m
		}
	}
	r := &Rule{BlockThreshold: DefaultBlockThreshold, WarnThreshold: DefaultWarnThreshold}
	if block != nil {
		r.BlockThreshold = *block
	}
	if warn != nil {
		r.WarnThreshold = *warn
	}
	r.MergeThreshold = r.BlockThreshold
	if merge != nil {
		r.MergeThreshold = *merge
	}
	if r.WarnThreshold > r.BlockThreshold {
		d.add(o.keys["thresholds"], path+".thresholds", "warn (%v) must not be above block (%v)", r.WarnThreshold, r.BlockThreshold)
	}
	if r.MergeThreshold < r.BlockThreshold {
		d.add(o.keys["thresholds"], path+".thresholds", "merge (%v) must not be below block (%v)", r.MergeThreshold, r.BlockThreshold)
	}
	spec.ExplainMin = r.WarnThreshold

	r.Action = Action(firstNonEmpty(o.str("action"), g.action, string(ActionBlock)))
	if !r.Action.Valid() {
		d.add(o.keys["action"], path+".action", "unknown action %q (one of %s)", r.Action, actionList())
	}
	r.ActionsByEntry = map[string]Action{}
	for k, v := range g.actions {
		r.ActionsByEntry[k] = v
	}
	if a := o.get("actions"); a != nil {
		for k, v := range d.entryActions(a, path+".actions") {
			r.ActionsByEntry[k] = v
		}
	}
	users := d.users(o, "bypass_users")
	r.BypassUsers = map[string]bool{}
	for _, u := range append(append([]string(nil), g.bypass...), users...) {
		r.BypassUsers[u] = true
	}

	fieldNodes, fn := o.list("fields")
	if fn == nil && !o.has("fields") {
		d.add(n, path+".fields", "the rule compares no fields (want a 'fields' list)")
	}
	for i, f := range fieldNodes {
		spec.Fields = append(spec.Fields, d.field(f, fmt.Sprintf("%s.fields[%d]", path, i)))
	}
	keyNodes, _ := o.list("blocking")
	for i, k := range keyNodes {
		if ks, ok := d.key(k, fmt.Sprintf("%s.blocking[%d]", path, i)); ok {
			spec.Keys = append(spec.Keys, ks)
		}
	}
	o.done()
	reported := map[string]bool{}
	for _, p := range d.problems.Problems[before:] {
		reported[p.Path] = true
	}
	m, err := matcher.Compile(spec, lex)
	if err != nil {
		var se matcher.SpecErrors
		if errors.As(err, &se) {
			for _, e := range se {
				full := join(path, e.Path)
				if reported[full] {
					continue // already reported while reading the value
				}
				d.add(locate(n, e.Path), full, "%s", e.Msg)
			}
		} else {
			d.add(n, path, "%v", err)
		}
		return nil
	}
	if len(d.problems.Problems) > before {
		return nil
	}
	if !enabled {
		return nil
	}
	r.Name = spec.Name
	r.Entity = spec.Entity
	r.CandidateEntity = m.Spec().CandidateEntity
	r.Matcher = m
	return r
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func (d *decoder) field(n *yaml.Node, path string) matcher.FieldSpec {
	var f matcher.FieldSpec
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "want a field (a mapping with attr and comparator), got %s", describe(n))
		return f
	}
	o := d.obj(n, path)
	f.Attr = o.str("attr")
	f.CandidateAttr = o.str("candidate_attr")
	f.Comparator = o.str("comparator")
	f.Label = o.str("label")
	f.Weight, _ = o.num("weight")
	f.Penalty, _ = o.num("penalty")
	f.Floor, _ = o.num("floor")
	f.MinSimilarity, _ = o.num("min_similarity")
	f.Required, _ = o.boolean("required")
	f.Blocking, _ = o.boolean("blocking")
	f.Strong, _ = o.boolean("strong")
	f.ProviderRules, _ = o.boolean("provider_rules")
	f.Placeholders = o.strList("placeholders")
	if f.Required && !o.has("min_similarity") {
		f.MinSimilarity = 0.8
	}
	o.done()
	return f
}

// key reads one blocking key: a list of "attr" or "attr:transform" parts, or a mapping with
// name and parts.
func (d *decoder) key(n *yaml.Node, path string) (matcher.KeySpec, bool) {
	var ks matcher.KeySpec
	parts := n
	if n.Kind == yaml.MappingNode {
		o := d.obj(n, path)
		ks.Name = o.str("name")
		ks.Unordered, _ = o.boolean("unordered")
		if v, ok := o.num("max_block"); ok {
			if v < 1 || v != math.Trunc(v) {
				d.add(o.get("max_block"), path+".max_block", "want a whole number of records of at least 1, got %v", v)
			} else {
				ks.MaxBlock = int(v)
			}
		}
		if n := o.get("limit"); n != nil {
			d.add(n, path+".limit", "limit is now max_block: the key is skipped when more records than that share it")
		}
		parts = o.get("parts")
		o.done()
		if parts == nil {
			d.add(n, path+".parts", "the key has no parts")
			return ks, false
		}
		path += ".parts"
	}
	if parts.Kind == yaml.ScalarNode {
		parts = &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{parts}, Line: parts.Line, Column: parts.Column}
	}
	if parts.Kind != yaml.SequenceNode {
		d.add(parts, path, "want a list of attr or attr:transform parts, got %s", describe(parts))
		return ks, false
	}
	ok := true
	for i, p := range parts.Content {
		p = resolveAlias(p)
		if p.Kind != yaml.ScalarNode || p.Value == "" {
			d.add(p, fmt.Sprintf("%s[%d]", path, i), "want attr or attr:transform, got %s", describe(p))
			ok = false
			continue
		}
		attr, tr, _ := strings.Cut(strings.TrimSpace(p.Value), ":")
		ks.Parts = append(ks.Parts, matcher.KeyPart{Attr: strings.TrimSpace(attr), Transform: strings.TrimSpace(tr)})
	}
	return ks, ok
}

// locate finds the node at a matcher spec path ("fields[2].comparator", "blocking[0][1]")
// inside a rule's mapping node; it falls back to the nearest node found.
func locate(n *yaml.Node, path string) *yaml.Node {
	cur := n
	for _, seg := range splitPath(path) {
		next := (*yaml.Node)(nil)
		if idx, err := strconv.Atoi(seg); err == nil {
			c := resolveAlias(cur)
			if c.Kind == yaml.MappingNode { // a key given as {name, parts}
				c = mapValue(c, "parts")
			}
			if c != nil && c.Kind == yaml.SequenceNode && idx < len(c.Content) {
				next = c.Content[idx]
			}
		} else if resolveAlias(cur).Kind == yaml.MappingNode {
			next = mapValue(resolveAlias(cur), seg)
		}
		if next == nil {
			return cur
		}
		cur = next
	}
	return cur
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// splitPath splits "fields[2].comparator" into fields, 2, comparator.
func splitPath(p string) []string {
	var out []string
	for _, part := range strings.Split(p, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				out = append(out, part)
				break
			}
			if i > 0 {
				out = append(out, part[:i])
			}
			j := strings.IndexByte(part[i:], ']')
			if j < 0 {
				out = append(out, part[i+1:])
				break
			}
			out = append(out, part[i+1:i+j])
			part = part[i+j+1:]
		}
	}
	return out
}
