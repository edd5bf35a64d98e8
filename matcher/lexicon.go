package matcher

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Default locations of the optional reference files, relative to the working directory: the
// shared datasets folder beside the repository. LoadLexicon reads them when present and no
// other path is configured.
const (
	DefaultNicknamesFile       = "../shared/datasets/nicknames/names.csv"
	DefaultCompanySuffixesFile = "../shared/datasets/company_suffixes/fingerprints_types.yml"
)

// Lexicon holds the reference data comparators use: first-name nickname groups and company
// legal forms. It is immutable once built and safe for concurrent use. The zero value and a nil
// *Lexicon both behave as the built-in lexicon.
type Lexicon struct {
	// names maps a folded first name to the nickname groups it belongs to (sorted ids).
	names map[string][]int32
	// canon is the canonical (formal) name of each group.
	canon []string
	// legal maps a normalised legal form ("ltd", "gmbh", "limited liability company") to its
	// canonical short form.
	legal         map[string]string
	legalMaxToks  int
	defaultRegion string
	sources       []string
}

// LexiconFiles says where LoadLexicon finds its files.
type LexiconFiles struct {
	// Nicknames is a CSV of "name1,relationship,name2" rows (name2 is a nickname of name1),
	// with a header row. Empty: DefaultNicknamesFile when it exists (unless NoDefaultFiles).
	Nicknames string
	// CompanySuffixes is a YAML file of legal forms: `types: [{main: ltd, forms: [limited,
	// ...]}]`. Empty: DefaultCompanySuffixesFile when it exists (unless NoDefaultFiles).
	CompanySuffixes string
	// NoDefaultFiles skips the default file locations: only the built-in lists and the files
	// named above are used.
	NoDefaultFiles bool
	// DefaultRegion is the ISO 3166 region (e.g. GB, US) for phone numbers written without a
	// country code, used when neither the record's country nor the rule names one.
	DefaultRegion string
}

// LoadLexicon builds a lexicon from the built-in lists plus the configured (or default) files.
// A configured file that cannot be read or parsed is an error; a missing default file is not.
func LoadLexicon(opts LexiconFiles) (*Lexicon, error) {
	b := newLexiconBuilder()
	b.addBuiltins()
	lex := &Lexicon{sources: []string{"built-in lists"}}
	nick := opts.Nicknames
	if nick == "" && !opts.NoDefaultFiles && fileExists(DefaultNicknamesFile) {
		nick = DefaultNicknamesFile
	}
	if nick != "" {
		f, err := os.Open(nick)
		if err != nil {
			return nil, fmt.Errorf("nicknames file: %w", err)
		}
		err = b.readNicknames(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("nicknames file %s: %w", nick, err)
		}
		lex.sources = append(lex.sources, nick)
	}
	suf := opts.CompanySuffixes
	if suf == "" && !opts.NoDefaultFiles && fileExists(DefaultCompanySuffixesFile) {
		suf = DefaultCompanySuffixesFile
	}
	if suf != "" {
		data, err := os.ReadFile(suf)
		if err != nil {
			return nil, fmt.Errorf("company suffixes file: %w", err)
		}
		if err := b.readLegalForms(data); err != nil {
			return nil, fmt.Errorf("company suffixes file %s: %w", suf, err)
		}
		lex.sources = append(lex.sources, suf)
	}
	if opts.DefaultRegion != "" {
		r := strings.ToUpper(strings.TrimSpace(opts.DefaultRegion))
		if !validRegion(r) {
			return nil, fmt.Errorf("default region %q is not a known ISO 3166 region with a phone plan", opts.DefaultRegion)
		}
		lex.defaultRegion = r
	}
	b.finish(lex)
	return lex, nil
}

// NewLexicon builds a lexicon from readers instead of files (either may be nil), on top of the
// built-in lists.
func NewLexicon(nicknamesCSV, legalFormsYAML io.Reader) (*Lexicon, error) {
	b := newLexiconBuilder()
	b.addBuiltins()
	lex := &Lexicon{sources: []string{"built-in lists"}}
	if nicknamesCSV != nil {
		if err := b.readNicknames(nicknamesCSV); err != nil {
			return nil, fmt.Errorf("nicknames: %w", err)
		}
		lex.sources = append(lex.sources, "nicknames reader")
	}
	if legalFormsYAML != nil {
		data, err := io.ReadAll(legalFormsYAML)
		if err != nil {
			return nil, fmt.Errorf("company suffixes: %w", err)
		}
		if err := b.readLegalForms(data); err != nil {
			return nil, fmt.Errorf("company suffixes: %w", err)
		}
		lex.sources = append(lex.sources, "company suffixes reader")
	}
	b.finish(lex)
	return lex, nil
}

var (
	builtinOnce sync.Once
	builtinLex  *Lexicon
)

// BuiltinLexicon returns the lexicon made of the built-in lists only.
func BuiltinLexicon() *Lexicon {
	builtinOnce.Do(func() {
		b := newLexiconBuilder()
		b.addBuiltins()
		builtinLex = &Lexicon{sources: []string{"built-in lists"}}
		b.finish(builtinLex)
	})
	return builtinLex
}

// orBuiltin returns l, or the built-in lexicon when l is nil or empty.
func (l *Lexicon) orBuiltin() *Lexicon {
	if l == nil || l.names == nil {
		return BuiltinLexicon()
	}
	return l
}

// Sources names where the lexicon's data came from (for startup logs).
func (l *Lexicon) Sources() []string { return append([]string(nil), l.orBuiltin().sources...) }

// Stats returns the number of names with nickname groups and of legal forms known.
func (l *Lexicon) Stats() (names, legalForms int) {
	l = l.orBuiltin()
	return len(l.names), len(l.legal)
}

// DefaultRegion is the lexicon's default phone region ("" when none was configured).
func (l *Lexicon) DefaultRegion() string {
	if l == nil {
		return ""
	}
	return l.defaultRegion
}

// groups returns the nickname groups of a folded first name.
func (l *Lexicon) groups(name string) []int32 { return l.names[name] }

// Nicknames reports whether two first names are the same name or nickname variants of one
// another (Bob ~ Robert, Bob ~ Rob), compared after Fold.
func (l *Lexicon) Nicknames(a, b string) bool {
	l = l.orBuiltin()
	a, b = Fold(a), Fold(b)
	if a == "" || b == "" {
		return false
	}
	return a == b || sharesGroup(l.names[a], l.names[b])
}

// CanonicalName returns the formal name a first name is a nickname of (the alphabetically first
// when several), or the folded name itself.
func (l *Lexicon) CanonicalName(name string) string {
	l = l.orBuiltin()
	f := Fold(name)
	best := ""
	for _, g := range l.names[f] {
		if c := l.canon[g]; best == "" || c < best {
			best = c
		}
	}
	if best == "" {
		return f
	}
	return best
}

// LegalForm returns the canonical legal form of a folded company suffix ("limited" → "ltd").
func (l *Lexicon) LegalForm(form string) (string, bool) {
	l = l.orBuiltin()
	m, ok := l.legal[companyKey(form)]
	return m, ok
}

func sharesGroup(x, y []int32) bool {
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		switch {
		case x[i] == y[j]:
			return true
		case x[i] < y[j]:
			i++
		default:
			j++
		}
	}
	return false
}

type lexiconBuilder struct {
	groupOf map[string]int32 // canonical name → group id
	canon   []string
	members map[string]map[int32]bool
	legal   map[string]string
	maxToks int
}

func newLexiconBuilder() *lexiconBuilder {
	return &lexiconBuilder{
		groupOf: map[string]int32{},
		members: map[string]map[int32]bool{},
		legal:   map[string]string{},
	}
}

func (b *lexiconBuilder) addNickname(formal, nick string) {
	formal, nick = Fold(formal), Fold(nick)
	if formal == "" || nick == "" {
		return
	}
	g, ok := b.groupOf[formal]
	if !ok {
		g = int32(len(b.canon))
		b.groupOf[formal] = g
		b.canon = append(b.canon, formal)
		b.member(formal, g)
	}
	b.member(nick, g)
}

func (b *lexiconBuilder) member(name string, g int32) {
	m := b.members[name]
	if m == nil {
		m = map[int32]bool{}
		b.members[name] = m
	}
	m[g] = true
}

func (b *lexiconBuilder) readNicknames(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	line := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return err
		}
		if line == 1 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "name1") {
			continue // header
		}
		switch len(rec) {
		case 3:
			if rel := strings.TrimSpace(rec[1]); rel != "has_nickname" && rel != "" {
				return fmt.Errorf("line %d: unknown relationship %q (want has_nickname)", line, rel)
			}
			b.addNickname(rec[0], rec[2])
		case 2:
			b.addNickname(rec[0], rec[1])
		default:
			return fmt.Errorf("line %d: want name1,has_nickname,name2, got %d fields", line, len(rec))
		}
	}
	if line == 0 {
		return errors.New("no rows")
	}
	return nil
}

func (b *lexiconBuilder) addLegalForm(main, form string) {
	m := companyKey(main)
	f := companyKey(form)
	if m == "" || f == "" {
		return
	}
	if _, ok := b.legal[f]; !ok {
		b.legal[f] = m
	}
	if _, ok := b.legal[m]; !ok {
		b.legal[m] = m
	}
	if n := strings.Count(f, " ") + 1; n > b.maxToks {
		b.maxToks = n
	}
}

func (b *lexiconBuilder) readLegalForms(data []byte) error {
	var doc struct {
		Types []struct {
			Main  string   `yaml:"main"`
			Forms []string `yaml:"forms"`
		} `yaml:"types"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if len(doc.Types) == 0 {
		return errors.New("no legal forms (want a top-level 'types' list)")
	}
	for _, t := range doc.Types {
		b.addLegalForm(t.Main, t.Main)
		for _, f := range t.Forms {
			b.addLegalForm(t.Main, f)
		}
	}
	return nil
}

func (b *lexiconBuilder) addBuiltins() {
	for _, formal := range sortedKeys(builtinNicknames) {
		for _, n := range builtinNicknames[formal] {
			b.addNickname(formal, n)
		}
	}
	for _, main := range sortedKeys(builtinLegalForms) {
		b.addLegalForm(main, main)
		for _, f := range builtinLegalForms[main] {
			b.addLegalForm(main, f)
		}
	}
}

func (b *lexiconBuilder) finish(l *Lexicon) {
	l.names = make(map[string][]int32, len(b.members))
	for name, set := range b.members {
		gs := make([]int32, 0, len(set))
		for g := range set {
			gs = append(gs, g)
		}
		sort.Slice(gs, func(i, j int) bool { return gs[i] < gs[j] })
		l.names[name] = gs
	}
	l.canon = b.canon
	l.legal = b.legal
	l.legalMaxToks = b.maxToks
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
