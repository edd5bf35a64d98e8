package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/matcher"
)

// Dataverse is the part of the Web API client the follow-ups and the review command use.
// *dataverse.Client implements it.
type Dataverse interface {
	Table(ctx context.Context, logical string) (dataverse.TableInfo, error)
	Create(ctx context.Context, table string, attrs map[string]any, opts ...dataverse.CallOption) (string, error)
	Update(ctx context.Context, table, id string, attrs map[string]any, opts ...dataverse.CallOption) error
	Get(ctx context.Context, table, id string, attrs []string, opts ...dataverse.CallOption) (map[string]any, error)
	Execute(ctx context.Context, action string, body, out any, opts ...dataverse.CallOption) error
	List(ctx context.Context, table string, q dataverse.Query, page func(rows []map[string]any) error, opts ...dataverse.CallOption) error
	Do(ctx context.Context, method, path string, body, out any, opts ...dataverse.CallOption) (http.Header, error)
}

// Mergeable reports whether Dataverse's Merge message supports a table.
func Mergeable(table string) bool {
	switch table {
	case "account", "contact", "lead", "incident":
		return true
	}
	return false
}

// bind renders a single-valued navigation binding value: "/contacts(<id>)".
func bind(ctx context.Context, dv Dataverse, table, id string) (string, error) {
	t, err := dv.Table(ctx, table)
	if err != nil {
		return "", err
	}
	return "/" + t.EntitySet + "(" + id + ")", nil
}

// recordLink is the model-driven app link to a row, relative to the app (what in-app
// notification actions take).
func recordLink(table, id string) string {
	return "?pagetype=entityrecord&etn=" + table + "&id=" + id
}

// rowString renders a Web API value as dataverse.ValueString renders a webhook value.
func rowString(v any) (string, bool) { return dataverse.WebValueString(v) }

// rowRecord turns a Web API row into a matcher record the way the index sync does
// (dataverse.RowAttrs), so that rows read back score like the records the engine saw. Empty
// values are left out.
func rowRecord(table, id string, row map[string]any) matcher.Record {
	attrs := dataverse.RowAttrs(row)
	for k, v := range attrs {
		if v == "" {
			delete(attrs, k)
		}
	}
	return matcher.Record{Entity: table, ID: id, Attrs: attrs}
}

// blank reports whether a Web API value is empty.
func blank(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	}
	return false
}

// rowTime reads a date column of a Web API row.
func rowTime(row map[string]any, col string) time.Time {
	s, _ := row[col].(string)
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// rowInt reads a whole-number or choice column of a Web API row.
func rowInt(row map[string]any, col string) (int, bool) {
	switch x := row[col].(type) {
	case json.Number:
		n, err := strconv.Atoi(x.String())
		return n, err == nil
	case float64:
		return int(x), true
	case int:
		return x, true
	}
	return 0, false
}

// rowStr reads a string column of a Web API row.
func rowStr(row map[string]any, col string) string {
	s, _ := row[col].(string)
	return s
}

// statusOf returns the HTTP status of a Dataverse error, 0 when there is none.
func statusOf(err error) int {
	var e *dataverse.Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// retryAfterOf returns the server's Retry-After carried by a Dataverse error.
func retryAfterOf(err error) time.Duration {
	var e *dataverse.Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// columnNames lists a row's column names (no annotations), sorted.
func columnNames(row map[string]any) []string {
	out := make([]string, 0, len(row))
	for k := range row {
		if !strings.Contains(k, "@") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// errNoDataverse is the error of every follow-up when no Dataverse connection is configured.
var errNoDataverse = errors.New("no Dataverse connection configured (dataverse.url)")

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent wraps err so that retry gives up at once.
func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// permanentf is fmt.Errorf wrapped by permanent.
func permanentf(format string, args ...any) error { return permanent(fmt.Errorf(format, args...)) }
