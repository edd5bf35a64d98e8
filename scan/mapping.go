package scan

import (
	"fmt"
	"sort"
	"strings"
)

// Mapping maps source columns of an import file to Dataverse attribute logical names
// (given_name → firstname). A source may join several columns with "+" (street_number+address_1
// → address1_line1: the values joined by a space). Columns it does not name are read under their
// own name, lower-cased, when a rule reads an attribute of that name.
type Mapping map[string]string

// ParseMapping reads "SRC=ATTR,SRC=ATTR". Names are trimmed; attribute names are lower-cased
// (Dataverse logical names are lower-case). A column mapped twice, or two columns mapped to one
// attribute, is an error.
func ParseMapping(s string) (Mapping, error) {
	m := Mapping{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	target := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		src, attr, ok := strings.Cut(pair, "=")
		src, attr = strings.TrimSpace(src), strings.ToLower(strings.TrimSpace(attr))
		if !ok || src == "" || attr == "" {
			return nil, fmt.Errorf("--map: %q is not SRC=ATTR", strings.TrimSpace(pair))
		}
		if _, dup := m[src]; dup {
			return nil, fmt.Errorf("--map: column %q is mapped twice", src)
		}
		if prev, dup := target[attr]; dup {
			return nil, fmt.Errorf("--map: columns %q and %q are both mapped to %s", prev, src, attr)
		}
		m[src] = attr
		target[attr] = src
	}
	return m, nil
}

// String renders the mapping as ParseMapping reads it, sorted by source column.
func (m Mapping) String() string {
	srcs := make([]string, 0, len(m))
	for s := range m {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	parts := make([]string, len(srcs))
	for i, s := range srcs {
		parts[i] = s + "=" + m[s]
	}
	return strings.Join(parts, ",")
}

// column is what feeds one attribute: one input column, or several joined by a space.
type column struct {
	indexes []int    // positions in the header
	names   []string // header names (JSON keys)
	attr    string
}

// layout is how the columns of one file become a record: the columns rules read and the id
// column.
type layout struct {
	names   []string // header names, trimmed
	cols    []column // columns feeding an attribute the rules read
	idIndex int      // -1 without an id column
	idName  string
}

// InputError is a problem with the input file that stops the scan before any row is checked
// (no header, unknown mapped column, ...). The CLI exits 2 on it.
type InputError struct {
	File string
	Line int // 0 when the problem has no line (empty file)
	Msg  string
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// resolveLayout matches the header against the mapping, the id column and the attributes the
// rules read. wanted is that attribute list (sorted). ruleDesc names the rules in messages
// ("the contact rules").
func resolveLayout(file string, line int, header []string, m Mapping, idColumn string, wanted []string, ruleDesc string) (layout, error) {
	l := layout{idIndex: -1}
	fail := func(format string, args ...any) (layout, error) {
		return layout{}, &InputError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	for _, h := range header {
		l.names = append(l.names, strings.TrimSpace(h))
	}
	find := func(name string) (int, error) {
		at := -1
		for i, h := range l.names {
			if h == name {
				if at >= 0 {
					return -1, fmt.Errorf("column %q appears twice in the header (columns %d and %d)", name, at+1, i+1)
				}
				at = i
			}
		}
		if at >= 0 {
			return at, nil
		}
		for i, h := range l.names { // a unique case-insensitive match is accepted
			if strings.EqualFold(h, name) {
				if at >= 0 {
					return -1, fmt.Errorf("column %q matches several header columns (%q and %q); spell it exactly", name, l.names[at], h)
				}
				at = i
			}
		}
		if at < 0 {
			return -1, fmt.Errorf("no column %q in the header (columns: %s)", name, strings.Join(quoteAll(l.names), ", "))
		}
		return at, nil
	}
	want := map[string]bool{}
	for _, a := range wanted {
		want[a] = true
	}
	mapped := map[string]bool{} // attributes some column feeds
	srcCol := map[int]bool{}    // columns named by the mapping
	srcs := make([]string, 0, len(m))
	for s := range m {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, src := range srcs {
		c := column{attr: m[src]}
		parts := []string{src}
		if i, err := find(src); err != nil && strings.Contains(src, "+") {
			parts = strings.Split(src, "+") // joined columns, unless one column has that name
		} else if err == nil {
			c.indexes, c.names = []int{i}, []string{l.names[i]}
			parts = nil
		}
		for _, p := range parts {
			i, err := find(strings.TrimSpace(p))
			if err != nil {
				return fail("--map %s=%s: %v", src, m[src], err)
			}
			c.indexes, c.names = append(c.indexes, i), append(c.names, l.names[i])
		}
		mapped[c.attr] = true
		for _, i := range c.indexes {
			srcCol[i] = true
		}
		if want[c.attr] {
			l.cols = append(l.cols, c)
		}
	}
	for i, h := range l.names {
		attr := strings.ToLower(h)
		if srcCol[i] || !want[attr] || mapped[attr] {
			continue
		}
		mapped[attr] = true
		l.cols = append(l.cols, column{indexes: []int{i}, names: []string{h}, attr: attr})
	}
	sort.Slice(l.cols, func(a, b int) bool { return l.cols[a].indexes[0] < l.cols[b].indexes[0] })
	if idColumn != "" {
		i, err := find(idColumn)
		if err != nil {
			return fail("--id-column %s: %v", idColumn, err)
		}
		l.idIndex, l.idName = i, l.names[i]
	}
	if len(l.cols) == 0 {
		return fail("no column maps to an attribute %s read (%s); name the columns with --map SRC=ATTR,... (columns: %s)",
			ruleDesc, strings.Join(wanted, ", "), strings.Join(quoteAll(l.names), ", "))
	}
	return l, nil
}

// missing returns the wanted attributes no column feeds.
func (l layout) missing(wanted []string) []string {
	have := map[string]bool{}
	for _, c := range l.cols {
		have[c.attr] = true
	}
	var out []string
	for _, a := range wanted {
		if !have[a] {
			out = append(out, a)
		}
	}
	return out
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
