package dataverse

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dedupegate/dedupegate/matcher"
)

// The Web API writes values differently from the webhook payload: dates as ISO 8601 strings
// ("2024-03-01T10:30:00Z", date-only columns as "2024-03-01") instead of "/Date(ms)/", lookups
// as _name_value GUID properties instead of EntityReference objects, choices as bare numbers
// instead of OptionSetValue objects, multi-select choices as "1,7" strings. RowAttrs maps them
// onto the strings Entity.StringAttrs produces, so that a row read over OData and the same row
// received by the webhook give the matcher the same record.

var (
	webDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$`)
	webDateOnly = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	choiceList  = regexp.MustCompile(`^-?\d+(,-?\d+)+$`)
)

// RowAttrs renders the columns of a Web API row as Entity.StringAttrs renders a webhook entity:
// annotations (names containing "@") are dropped, _name_value lookups become name → GUID,
// ISO dates become RFC 3339 UTC (a date-only value is midnight UTC, as the webhook's
// "/Date(ms)/" of a date-only column is), a comma-separated list of integers (a multi-select
// choice) is sorted, numbers keep their JSON text, nulls and expanded objects are left out.
//
// Limitation: a text column holding exactly an ISO date or a list of integers is normalised
// the same way, since the Web API row does not say which columns are text.
func RowAttrs(row map[string]any) map[string]string {
	out := make(map[string]string, len(row))
	for k, v := range row {
		if strings.Contains(k, "@") {
			continue
		}
		name := k
		if strings.HasPrefix(k, "_") && strings.HasSuffix(k, "_value") && len(k) > len("__value") {
			name = k[1 : len(k)-len("_value")]
			if s, ok := v.(string); ok {
				v = strings.ToLower(s)
			}
		}
		if s, ok := WebValueString(v); ok {
			out[name] = s
		}
	}
	return out
}

// WebValueString renders one Web API JSON value as ValueString renders the webhook's; ok is
// false for null, objects and arrays.
func WebValueString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		if webDateTime.MatchString(x) {
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
				if t, err := time.Parse(layout, x); err == nil {
					return t.UTC().Format(time.RFC3339), true
				}
			}
		}
		if webDateOnly.MatchString(x) {
			if t, err := time.Parse("2006-01-02", x); err == nil {
				return t.UTC().Format(time.RFC3339), true
			}
		}
		if choiceList.MatchString(x) {
			parts := strings.Split(x, ",")
			sort.Strings(parts)
			return strings.Join(parts, ","), true
		}
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// rowRecord turns a Web API row into a matcher record. keep, when non-nil, limits the
// attributes to those names.
func rowRecord(t TableInfo, row map[string]any, keep []string) matcher.Record {
	id, _ := row[t.PrimaryID].(string)
	attrs := RowAttrs(row)
	delete(attrs, t.PrimaryID)
	if keep != nil {
		want := make(map[string]bool, len(keep))
		for _, k := range keep {
			want[k] = true
		}
		for k := range attrs {
			if !want[k] {
				delete(attrs, k)
			}
		}
	}
	return matcher.Record{Entity: t.LogicalName, ID: strings.ToLower(id), Attrs: attrs}
}

// Rows reads a table with paging and hands each page to page as matcher records carrying attrs
// (logical names; lookups are read as _name_value and returned under their logical name). With
// a zero modifiedSince the whole table is read; otherwise only rows with modifiedon later than
// it (the incremental sync). Include "modifiedon" in attrs to get it back, e.g. to advance a
// sync cursor. This is the row source of the index sync.
func (c *Client) Rows(ctx context.Context, table string, attrs []string, modifiedSince time.Time, page func([]matcher.Record) error) error {
	t, err := c.Table(ctx, table)
	if err != nil {
		return err
	}
	sel, err := c.SelectNames(ctx, table, append([]string{t.PrimaryID}, attrs...))
	if err != nil {
		return err
	}
	q := Query{Select: sel}
	if !modifiedSince.IsZero() {
		q.Filter = Gt("modifiedon", modifiedSince)
	}
	keep := append([]string{}, attrs...)
	return c.List(ctx, table, q, func(rows []map[string]any) error {
		recs := make([]matcher.Record, 0, len(rows))
		for _, r := range rows {
			rec := rowRecord(t, r, keep)
			if rec.ID == "" {
				return fmt.Errorf("dataverse: a %s row came back without %s", table, t.PrimaryID)
			}
			recs = append(recs, rec)
		}
		return page(recs)
	})
}
