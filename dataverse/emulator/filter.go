package emulator

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/cases"

	"github.com/dedupegate/dedupegate/dataverse"
)

// This file is the $filter subset of dataverse-facts.md §6: eq ne gt ge lt le, and or not,
// parentheses, contains/startswith/endswith, Microsoft.Dynamics.CRM.In and NotIn, null,
// string/number/boolean/GUID/date literals, parameter aliases (@p1), column-to-column
// comparison and paths through a lookup (sdkmessageid/name). String comparisons are
// case-insensitive, as Dataverse's are ("All filters using string values are case
// insensitive", FILTER). Dataverse's default collation is also accent-insensitive; the emulator
// is not (UNCONFIRMED which collation an environment uses). Wildcards (%, _) inside
// contains/startswith/endswith are taken literally here (Dataverse treats them as LIKE
// wildcards).

type tokKind int

const (
	tkEOF tokKind = iota
	tkLParen
	tkRParen
	tkComma
	tkLBracket
	tkRBracket
	tkAssign
	tkString  // '…'
	tkDString // "…" (array members)
	tkNumber
	tkGUID
	tkDateTime
	tkDate
	tkIdent
	tkAlias
)

type token struct {
	kind tokKind
	text string // raw text; for strings, the unescaped value
	pos  int
}

var (
	reGUID     = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}`)
	reDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})`)
	reDate     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)
	reNumber   = regexp.MustCompile(`^-?\d+(\.\d+)?([eE][+-]?\d+)?`)
	reIdent    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*(/[A-Za-z_][A-Za-z0-9_.]*)*`)
	reAlias    = regexp.MustCompile(`^@[A-Za-z_][A-Za-z0-9_]*`)
)

func isIdentByte(b byte) bool {
	return b == '_' || b == '.' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

func lex(src string) ([]token, *apiError) {
	var out []token
	i := 0
	for i < len(src) {
		c := src[i]
		rest := src[i:]
		boundary := func(n int) bool { return n >= len(rest) || !isIdentByte(rest[n]) }
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '(':
			out = append(out, token{tkLParen, "(", i})
		case c == ')':
			out = append(out, token{tkRParen, ")", i})
		case c == ',':
			out = append(out, token{tkComma, ",", i})
		case c == '[':
			out = append(out, token{tkLBracket, "[", i})
		case c == ']':
			out = append(out, token{tkRBracket, "]", i})
		case c == '=':
			out = append(out, token{tkAssign, "=", i})
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, querySyntax("Syntax error: unterminated string literal at position %d in '%s'.", i, src)
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			out = append(out, token{tkString, b.String(), i})
			i = j + 1
			continue
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return nil, querySyntax("Syntax error: unterminated string at position %d in '%s'.", i, src)
			}
			var s string
			if err := json.Unmarshal([]byte(src[i:j+1]), &s); err != nil {
				return nil, querySyntax("Syntax error: bad string at position %d in '%s'.", i, src)
			}
			out = append(out, token{tkDString, s, i})
			i = j + 1
			continue
		case c == '@':
			m := reAlias.FindString(rest)
			if m == "" {
				return nil, querySyntax("Syntax error at position %d in '%s'.", i, src)
			}
			out = append(out, token{tkAlias, m, i})
			i += len(m)
			continue
		default:
			if m := reGUID.FindString(rest); m != "" && boundary(len(m)) {
				out = append(out, token{tkGUID, strings.ToLower(m), i})
				i += len(m)
				continue
			}
			if m := reDateTime.FindString(rest); m != "" && boundary(len(m)) {
				out = append(out, token{tkDateTime, m, i})
				i += len(m)
				continue
			}
			if m := reDate.FindString(rest); m != "" && boundary(len(m)) {
				out = append(out, token{tkDate, m, i})
				i += len(m)
				continue
			}
			if m := reNumber.FindString(rest); m != "" && boundary(len(m)) {
				out = append(out, token{tkNumber, m, i})
				i += len(m)
				continue
			}
			if m := reIdent.FindString(rest); m != "" {
				out = append(out, token{tkIdent, m, i})
				i += len(m)
				continue
			}
			r, _ := utf8.DecodeRuneInString(rest)
			return nil, querySyntax("Syntax error: character '%c' is not valid at position %d in '%s'.", r, i, src)
		}
		i++
	}
	return append(out, token{kind: tkEOF, pos: len(src)}), nil
}

// value kinds after evaluation.
type vkind int

const (
	vNull vkind = iota
	vString
	vNumber
	vBool
	vTime
	vGUID
)

type val struct {
	kind vkind
	s    string
	n    float64
	b    bool
	t    time.Time
}

func (v val) String() string {
	switch v.kind {
	case vString, vGUID:
		return v.s
	case vNumber:
		return strconv.FormatFloat(v.n, 'f', -1, 64)
	case vBool:
		return strconv.FormatBool(v.b)
	case vTime:
		return v.t.Format(time.RFC3339)
	}
	return "null"
}

// operand is either a column path or a literal.
type operand struct {
	path []string // column (or lookup/column); nil for a literal
	lit  val
	// attr is the column's declaration, resolved once at parse time for one-segment paths.
	attr    Attr
	hasAttr bool
}

// node is a boolean expression.
type node interface {
	eval(rc *rowCtx) (bool, *apiError)
}

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }
type cmpNode struct {
	op   string
	l, r operand
}
type funcNode struct {
	name   string // contains, startswith, endswith
	l, r   operand
	negate bool
}
type inNode struct {
	prop   []string
	values []string
	negate bool
}

func (n andNode) eval(rc *rowCtx) (bool, *apiError) {
	l, err := n.l.eval(rc)
	if err != nil || !l {
		return false, err
	}
	return n.r.eval(rc)
}

func (n orNode) eval(rc *rowCtx) (bool, *apiError) {
	l, err := n.l.eval(rc)
	if err != nil || l {
		return l, err
	}
	return n.r.eval(rc)
}

func (n notNode) eval(rc *rowCtx) (bool, *apiError) {
	x, err := n.x.eval(rc)
	return !x, err
}

func (n cmpNode) eval(rc *rowCtx) (bool, *apiError) {
	l, err := rc.value(n.l)
	if err != nil {
		return false, err
	}
	r, err := rc.value(n.r)
	if err != nil {
		return false, err
	}
	return compare(n.op, l, r)
}

func (n funcNode) eval(rc *rowCtx) (bool, *apiError) {
	l, err := rc.value(n.l)
	if err != nil {
		return false, err
	}
	r, err := rc.value(n.r)
	if err != nil {
		return false, err
	}
	if l.kind == vNull || r.kind == vNull {
		return false, nil
	}
	if l.kind != vString || r.kind != vString {
		return false, querySyntax("No function signature for the function with name '%s' matches the specified arguments.", n.name)
	}
	a, b := fold(l.s), fold(r.s)
	var ok bool
	switch n.name {
	case "contains":
		ok = strings.Contains(a, b)
	case "startswith":
		ok = strings.HasPrefix(a, b)
	case "endswith":
		ok = strings.HasSuffix(a, b)
	}
	return ok != n.negate, nil
}

func (n inNode) eval(rc *rowCtx) (bool, *apiError) {
	v, err := rc.value(operand{path: n.prop})
	if err != nil {
		return false, err
	}
	found := false
	for _, s := range n.values {
		lit, perr := coerce(s, v.kind)
		if perr != nil {
			return false, perr
		}
		if ok, _ := compare("eq", v, lit); ok {
			found = true
			break
		}
	}
	return found != n.negate, nil
}

// coerce reads an In array member (always written as a string) as a value of kind k.
func coerce(s string, k vkind) (val, *apiError) {
	switch k {
	case vNumber:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return val{}, querySyntax("'%s' is not a number.", s)
		}
		return val{kind: vNumber, n: f}, nil
	case vGUID:
		return val{kind: vGUID, s: strings.ToLower(s)}, nil
	case vBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return val{}, querySyntax("'%s' is not a boolean.", s)
		}
		return val{kind: vBool, b: b}, nil
	case vTime:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return val{}, querySyntax("'%s' is not a date.", s)
		}
		return val{kind: vTime, t: t}, nil
	}
	return val{kind: vString, s: s}, nil
}

var foldPool = sync.Pool{New: func() any { c := cases.Fold(); return &c }}

// fold case-folds s (ß → ss, Σ → σ) for case-insensitive comparison.
func fold(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	c := foldPool.Get().(*cases.Caser)
	defer foldPool.Put(c)
	return c.String(s)
}

// equalFold is fold(a) == fold(b) without allocating in the common cases.
func equalFold(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	if isASCII(a) && isASCII(b) {
		return false
	}
	return fold(a) == fold(b)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func compare(op string, l, r val) (bool, *apiError) {
	if l.kind == vNull || r.kind == vNull {
		switch op {
		case "eq":
			return l.kind == r.kind, nil
		case "ne":
			return l.kind != r.kind, nil
		}
		return false, nil
	}
	if l.kind != r.kind {
		// A date literal compared with a date column is fine; anything else is a type error,
		// as in Dataverse ("A binary operator with incompatible types was detected").
		return false, querySyntax("A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", edmName(l.kind), edmName(r.kind), op)
	}
	var c int
	switch l.kind {
	case vString:
		if op == "eq" || op == "ne" {
			return equalFold(l.s, r.s) == (op == "eq"), nil
		}
		c = strings.Compare(fold(l.s), fold(r.s))
	case vGUID:
		c = strings.Compare(strings.ToLower(l.s), strings.ToLower(r.s))
	case vNumber:
		switch {
		case l.n < r.n:
			c = -1
		case l.n > r.n:
			c = 1
		}
	case vBool:
		if l.b != r.b {
			if op != "eq" && op != "ne" {
				return false, querySyntax("Booleans cannot be ordered with '%s'.", op)
			}
			c = 1
		}
	case vTime:
		c = l.t.Compare(r.t)
	}
	switch op {
	case "eq":
		return c == 0, nil
	case "ne":
		return c != 0, nil
	case "gt":
		return c > 0, nil
	case "ge":
		return c >= 0, nil
	case "lt":
		return c < 0, nil
	case "le":
		return c <= 0, nil
	}
	return false, querySyntax("unknown operator %s", op)
}

func edmName(k vkind) string {
	switch k {
	case vString:
		return "Edm.String"
	case vNumber:
		return "Edm.Decimal"
	case vBool:
		return "Edm.Boolean"
	case vTime:
		return "Edm.DateTimeOffset"
	case vGUID:
		return "Edm.Guid"
	}
	return "null"
}

// parser is a recursive-descent parser over the tokens of one $filter.
type parser struct {
	src     string
	toks    []token
	i       int
	aliases map[string]string // "@p1" → raw alias value from the query string
	table   *Table
	store   *store
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) errAt(t token) *apiError {
	return querySyntax("Syntax error at position %d in '%s'.", t.pos, p.src)
}

func (p *parser) keyword(words ...string) (string, bool) {
	t := p.peek()
	if t.kind != tkIdent {
		return "", false
	}
	for _, w := range words {
		if t.text == w {
			p.i++
			return w, true
		}
	}
	return "", false
}

// parseFilter parses a $filter for table t.
func parseFilter(src string, t *Table, s *store, aliases map[string]string) (node, *apiError) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks, aliases: aliases, table: t, store: s}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tkEOF {
		return nil, p.errAt(p.peek())
	}
	return n, nil
}

func (p *parser) parseOr() (node, *apiError) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		if _, ok := p.keyword("or"); !ok {
			return l, nil
		}
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
}

func (p *parser) parseAnd() (node, *apiError) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		if _, ok := p.keyword("and"); !ok {
			return l, nil
		}
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
}

func (p *parser) parseUnary() (node, *apiError) {
	if _, ok := p.keyword("not"); ok {
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.parsePrimary()
}

var compareOps = []string{"eq", "ne", "gt", "ge", "lt", "le"}

func (p *parser) parsePrimary() (node, *apiError) {
	t := p.peek()
	if t.kind == tkLParen {
		p.i++
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tkRParen {
			return nil, p.errAt(p.toks[p.i-1])
		}
		return n, nil
	}
	if t.kind == tkIdent && p.toks[p.i+1].kind == tkLParen {
		return p.parseFunction()
	}
	l, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	op, ok := p.keyword(compareOps...)
	if !ok {
		return nil, p.errAt(p.peek())
	}
	r, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	return cmpNode{op: op, l: l, r: r}, nil
}

func (p *parser) parseFunction() (node, *apiError) {
	name := p.next()
	p.next() // (
	switch name.text {
	case "contains", "startswith", "endswith":
		l, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tkComma {
			return nil, p.errAt(p.toks[p.i-1])
		}
		r, err := p.parseOperand()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tkRParen {
			return nil, p.errAt(p.toks[p.i-1])
		}
		if name.text == "startswith" && r.path == nil && r.lit.kind == vString && strings.HasPrefix(r.lit.s, "%") {
			// FILTER: "leading wildcards are not supported". The error Dataverse gives is
			// UNCONFIRMED; the emulator refuses the query.
			return nil, querySyntax("Leading wildcards are not supported in startswith.")
		}
		n := funcNode{name: name.text, l: l, r: r}
		// contains(x,'a') eq true / eq false
		if op, ok := p.keyword("eq", "ne"); ok {
			b := p.next()
			if b.kind != tkIdent || (b.text != "true" && b.text != "false") {
				return nil, p.errAt(b)
			}
			n.negate = (b.text == "false") != (op == "ne")
		}
		return n, nil
	case "Microsoft.Dynamics.CRM.In", "Microsoft.Dynamics.CRM.NotIn":
		return p.parseIn(name.text == "Microsoft.Dynamics.CRM.NotIn")
	}
	if strings.HasPrefix(name.text, "Microsoft.Dynamics.CRM.") {
		return nil, unsupported("the query function %s (the emulator supports In and NotIn)", name.text)
	}
	if name.text == "In" || name.text == "NotIn" {
		return nil, querySyntax("An unknown function with name '%s' was found. Dataverse functions must be fully qualified (Microsoft.Dynamics.CRM.%s).", name.text, name.text)
	}
	return nil, unsupported("the function %s", name.text)
}

func (p *parser) parseIn(negate bool) (node, *apiError) {
	args := map[string]token{}
	var arr []string
	gotArr := false
	for {
		key := p.next()
		if key.kind != tkIdent || (key.text != "PropertyName" && key.text != "PropertyValues") {
			return nil, p.errAt(key)
		}
		if p.next().kind != tkAssign {
			return nil, p.errAt(p.toks[p.i-1])
		}
		if key.text == "PropertyName" {
			v := p.next()
			if v.kind == tkAlias {
				lit, err := p.aliasTokens(v)
				if err != nil {
					return nil, err
				}
				if len(lit) != 2 || lit[0].kind != tkString {
					return nil, querySyntax("PropertyName must be a string.")
				}
				v = lit[0]
			}
			if v.kind != tkString {
				return nil, p.errAt(v)
			}
			args["PropertyName"] = v
		} else {
			if p.peek().kind == tkAlias {
				at, err := p.aliasTokens(p.next())
				if err != nil {
					return nil, err
				}
				vals, n, err := parseArray(at, p)
				if err != nil {
					return nil, err
				}
				if at[n].kind != tkEOF {
					return nil, querySyntax("PropertyValues must be an array such as [\"a\",\"b\"].")
				}
				arr = vals
			} else {
				vals, n, err := parseArray(p.toks[p.i:], p)
				if err != nil {
					return nil, err
				}
				p.i += n
				arr = vals
			}
			gotArr = true
		}
		sep := p.next()
		if sep.kind == tkRParen {
			break
		}
		if sep.kind != tkComma {
			return nil, p.errAt(sep)
		}
	}
	name, ok := args["PropertyName"]
	if !ok || !gotArr {
		return nil, querySyntax("Microsoft.Dynamics.CRM.In needs PropertyName and PropertyValues.")
	}
	path, err := p.checkPath(name.text)
	if err != nil {
		return nil, err
	}
	return inNode{prop: path, values: arr, negate: negate}, nil
}

// parseArray reads ["a","b"] (or ['a','b'], or numbers) and returns the members as strings and
// the number of tokens consumed.
func parseArray(toks []token, p *parser) ([]string, int, *apiError) {
	if len(toks) == 0 || toks[0].kind != tkLBracket {
		return nil, 0, querySyntax("PropertyValues must be an array such as [\"a\",\"b\"].")
	}
	var out []string
	i := 1
	for {
		t := toks[i]
		switch t.kind {
		case tkRBracket:
			return out, i + 1, nil
		case tkDString, tkString, tkNumber, tkGUID:
			out = append(out, t.text)
		default:
			return nil, 0, p.errAt(t)
		}
		i++
		switch toks[i].kind {
		case tkComma:
			i++
		case tkRBracket:
		default:
			return nil, 0, p.errAt(toks[i])
		}
	}
}

// aliasTokens lexes the value of a parameter alias.
func (p *parser) aliasTokens(a token) ([]token, *apiError) {
	raw, ok := p.aliases[a.text]
	if !ok {
		return nil, querySyntax("The parameter alias '%s' was not found in the request.", a.text)
	}
	return lex(raw)
}

func (p *parser) parseOperand() (operand, *apiError) {
	t := p.next()
	switch t.kind {
	case tkAlias:
		toks, err := p.aliasTokens(t)
		if err != nil {
			return operand{}, err
		}
		if len(toks) != 2 {
			return operand{}, querySyntax("The parameter alias '%s' must hold one literal.", t.text)
		}
		sub := &parser{src: p.aliases[t.text], toks: toks, table: p.table, store: p.store}
		return sub.parseOperand()
	case tkString:
		return operand{lit: val{kind: vString, s: t.text}}, nil
	case tkNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return operand{}, p.errAt(t)
		}
		return operand{lit: val{kind: vNumber, n: f}}, nil
	case tkGUID:
		return operand{lit: val{kind: vGUID, s: t.text}}, nil
	case tkDateTime:
		tm, err := time.Parse(time.RFC3339Nano, t.text)
		if err != nil {
			if tm, err = time.Parse("2006-01-02T15:04Z07:00", t.text); err != nil {
				return operand{}, p.errAt(t)
			}
		}
		return operand{lit: val{kind: vTime, t: tm.UTC()}}, nil
	case tkDate:
		tm, err := time.Parse("2006-01-02", t.text)
		if err != nil {
			return operand{}, p.errAt(t)
		}
		return operand{lit: val{kind: vTime, t: tm}}, nil
	case tkIdent:
		switch t.text {
		case "null":
			return operand{lit: val{kind: vNull}}, nil
		case "true", "false":
			return operand{lit: val{kind: vBool, b: t.text == "true"}}, nil
		}
		path, err := p.checkPath(t.text)
		if err != nil {
			return operand{}, err
		}
		o := operand{path: path}
		if len(path) == 1 {
			o.attr, o.hasAttr = p.table.attr(path[0])
		}
		return o, nil
	}
	return operand{}, p.errAt(t)
}

// checkPath validates a column reference against the table: a column, the primary key, a
// lookup's _name_value, or lookup/column. Naming a lookup column directly is refused, as
// Dataverse refuses it (its Web API property is _name_value).
func (p *parser) checkPath(text string) ([]string, *apiError) {
	parts := strings.Split(text, "/")
	if len(parts) > 2 {
		return nil, unsupported("paths deeper than one lookup (%s)", text)
	}
	col := parts[0]
	if len(parts) == 2 {
		lk, ok := p.table.lookupColumn(col)
		if !ok {
			return nil, querySyntax("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", col, p.table.LogicalName)
		}
		return []string{lk, parts[1]}, nil
	}
	if strings.HasPrefix(col, "_") && strings.HasSuffix(col, "_value") {
		name := col[1 : len(col)-len("_value")]
		if a, ok := p.table.Attributes[name]; ok && a.Type == TypeLookup {
			return []string{col}, nil
		}
		if !p.table.Strict {
			return []string{col}, nil
		}
	}
	a, ok := p.table.attr(col)
	if !ok || a.Type == TypeLookup || a.WriteOnly {
		return nil, querySyntax("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", col, p.table.LogicalName)
	}
	return []string{col}, nil
}

// rowCtx evaluates operands against one row.
type rowCtx struct {
	table *Table
	row   *row
	store *store // read-locked by the caller
}

func (rc *rowCtx) value(o operand) (val, *apiError) {
	if o.path == nil {
		return o.lit, nil
	}
	col := o.path[0]
	if strings.HasPrefix(col, "_") && strings.HasSuffix(col, "_value") {
		ref, _ := rc.row.attrs[col[1:len(col)-len("_value")]].(*dataverse.EntityReference)
		if ref == nil {
			return val{kind: vNull}, nil
		}
		return val{kind: vGUID, s: ref.ID}, nil
	}
	if len(o.path) == 2 {
		ref, _ := rc.row.attrs[col].(*dataverse.EntityReference)
		if ref == nil {
			return val{kind: vNull}, nil
		}
		td := rc.store.tables[ref.LogicalName]
		if td == nil {
			return val{kind: vNull}, nil
		}
		target := td.rows[ref.ID]
		if target == nil {
			return val{kind: vNull}, nil
		}
		if _, ok := td.def.attr(o.path[1]); !ok {
			return val{}, querySyntax("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", o.path[1], td.def.LogicalName)
		}
		sub := rowCtx{table: td.def, row: target, store: rc.store}
		return sub.value(operand{path: o.path[1:]})
	}
	if col == rc.table.PrimaryIDAttribute {
		return val{kind: vGUID, s: rc.row.id}, nil
	}
	a := o.attr
	if !o.hasAttr {
		a, _ = rc.table.attr(col)
	}
	return toVal(a, rc.row.attrs[col]), nil
}

func toVal(a Attr, v any) val {
	switch x := v.(type) {
	case nil:
		return val{kind: vNull}
	case string:
		if a.Type == TypeGUID {
			return val{kind: vGUID, s: x}
		}
		return val{kind: vString, s: x}
	case json.Number:
		f, _ := x.Float64()
		return val{kind: vNumber, n: f}
	case bool:
		return val{kind: vBool, b: x}
	case time.Time:
		return val{kind: vTime, t: x}
	case dataverse.OptionSetValue:
		return val{kind: vNumber, n: float64(x.Value)}
	case dataverse.Money:
		return val{kind: vNumber, n: x.Value}
	case *dataverse.EntityReference:
		return val{kind: vGUID, s: x.ID}
	case []any:
		return val{kind: vString, s: fmt.Sprint(webValue(a, x))}
	}
	return val{kind: vString, s: fmt.Sprint(v)}
}
