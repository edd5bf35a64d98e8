package dataverse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Query is an OData query over one table, the subset dedupegate uses (dataverse-facts.md §6).
// Build Filter with the helpers below (Eq, And, Or, In...), which quote and escape values;
// Encode percent-encodes the whole query string.
type Query struct {
	// Select lists the columns to return. Lookup columns are written _name_value.
	Select []string
	// Filter is a $filter expression.
	Filter string
	// OrderBy lists "column" or "column desc".
	OrderBy []string
	// Top caps the rows returned. Dataverse ignores it when paging is requested, so List
	// does not ask for paging when Top is set.
	Top int
	// Params are parameter aliases (@p1...) referenced from Filter, with their literal values.
	Params map[string]string
}

// Encode renders the query string: $select, $filter, $orderby, $top and the aliases, values
// percent-encoded with %20 for spaces (a "+" would be read as a literal plus sign by some
// servers, and a plus sign in a value must arrive as %2B).
func (q Query) Encode() string {
	var parts []string
	add := func(k, v string) { parts = append(parts, k+"="+escapeQueryValue(v)) }
	if len(q.Select) > 0 {
		add("$select", strings.Join(q.Select, ","))
	}
	if q.Filter != "" {
		add("$filter", q.Filter)
	}
	if len(q.OrderBy) > 0 {
		add("$orderby", strings.Join(q.OrderBy, ","))
	}
	if q.Top > 0 {
		add("$top", strconv.Itoa(q.Top))
	}
	names := make([]string, 0, len(q.Params))
	for k := range q.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		parts = append(parts, "@"+url.QueryEscape(strings.TrimPrefix(k, "@"))+"="+escapeQueryValue(q.Params[k]))
	}
	return strings.Join(parts, "&")
}

func escapeQueryValue(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}

// attrPattern is a column name, optionally a path through a lookup (sdkmessageid/name) or a
// lookup value (_parentcustomerid_value).
var attrPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$`)

// ValidAttr reports whether name can be placed in a query as a column name. Column names are
// never quoted in OData, so anything else would let a value rewrite the query.
func ValidAttr(name string) bool { return attrPattern.MatchString(name) }

// Quote renders s as an OData string literal: 'O”Brien'.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// GUID marks a string as a GUID literal, written without quotes (OData Edm.Guid).
type GUID string

// Literal renders a Go value as an OData literal: strings quoted, GUID unquoted, time.Time as
// an unquoted UTC date-time, numbers and booleans as they are, nil as null.
func Literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return Quote(x)
	case GUID:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05Z")
	}
	return Quote(fmt.Sprint(v))
}

// Compare renders "attr op literal" for op in eq, ne, gt, ge, lt, le.
func Compare(attr, op string, v any) string { return attr + " " + op + " " + Literal(v) }

// Eq renders attr eq value.
func Eq(attr string, v any) string { return Compare(attr, "eq", v) }

// Ne renders attr ne value.
func Ne(attr string, v any) string { return Compare(attr, "ne", v) }

// Gt renders attr gt value.
func Gt(attr string, v any) string { return Compare(attr, "gt", v) }

// And joins clauses with "and", parenthesising each; empty clauses are skipped.
func And(clauses ...string) string { return join(" and ", clauses) }

// Or joins clauses with "or", parenthesising each; empty clauses are skipped.
func Or(clauses ...string) string { return join(" or ", clauses) }

// Not negates a clause.
func Not(clause string) string { return "not (" + clause + ")" }

func join(sep string, clauses []string) string {
	var kept []string
	for _, c := range clauses {
		if c != "" {
			kept = append(kept, c)
		}
	}
	switch len(kept) {
	case 0:
		return ""
	case 1:
		return kept[0]
	}
	for i, c := range kept {
		kept[i] = "(" + c + ")"
	}
	return strings.Join(kept, sep)
}

// StartsWith renders startswith(attr,'prefix').
func StartsWith(attr, prefix string) string { return "startswith(" + attr + "," + Quote(prefix) + ")" }

// Contains renders contains(attr,'part').
func Contains(attr, part string) string { return "contains(" + attr + "," + Quote(part) + ")" }

// In renders Microsoft.Dynamics.CRM.In with the values double-quoted, which is how values
// containing apostrophes must be written in the array (dataverse-facts.md §6). A double quote
// inside a value is escaped JSON-style (\"): UNCONFIRMED, no source shows one.
func In(attr string, values ...string) string {
	var b bytes.Buffer
	b.WriteString("Microsoft.Dynamics.CRM.In(PropertyName=")
	b.WriteString(Quote(attr))
	b.WriteString(",PropertyValues=[")
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(&b, v)
	}
	b.WriteString("])")
	return b.String()
}
