package scan

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// OutputFormat is the layout of the results.
type OutputFormat string

// Result formats: one JSON object per row; one CSV line per row; an aligned table for people,
// with the summary at its end.
const (
	OutputJSONL OutputFormat = "jsonl"
	OutputCSV   OutputFormat = "csv"
	OutputTable OutputFormat = "table"
)

// ResultWriter receives one result per row, in file order, then the summary.
type ResultWriter interface {
	Write(r *Result) error
	// Close flushes; the table format also prints the summary.
	Close(s Summary) error
}

// NewResultWriter returns a writer of results in format f.
func NewResultWriter(f OutputFormat, w io.Writer) (ResultWriter, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	switch f {
	case OutputJSONL:
		return &jsonlResults{w: bw, enc: json.NewEncoder(bw)}, nil
	case OutputCSV:
		cw := csv.NewWriter(bw)
		return &csvResults{w: bw, cw: cw}, nil
	case OutputTable:
		return &tableResults{w: bw}, nil
	}
	return nil, fmt.Errorf("unknown output format %q (jsonl, csv or table)", f)
}

type jsonlResults struct {
	w   *bufio.Writer
	enc *json.Encoder
}

func (j *jsonlResults) Write(r *Result) error { return j.enc.Encode(r) }
func (j *jsonlResults) Close(Summary) error   { return j.w.Flush() }

// csvColumns are the columns of the CSV results: the row, its verdict, every match in one
// cell ("crm:ID 0.970; file:ID 0.912"), and the best match's score, rule and reasons.
var csvColumns = []string{"row", "line", "id", "decision", "matches", "score", "rule", "reasons", "error"}

type csvResults struct {
	w      *bufio.Writer
	cw     *csv.Writer
	header bool
	rec    []string
}

func (c *csvResults) Write(r *Result) error {
	if !c.header {
		c.header = true
		if err := c.cw.Write(csvColumns); err != nil {
			return err
		}
	}
	c.rec = append(c.rec[:0], strconv.Itoa(r.Row), strconv.Itoa(r.Line), r.ID, r.Decision, matchList(r.Matches), "", "", "", r.Error)
	if len(r.Matches) > 0 {
		best := r.Matches[0]
		c.rec[5] = strconv.FormatFloat(best.Score, 'f', 3, 64)
		c.rec[6] = best.Rule
		c.rec[7] = strings.Join(best.Reasons, "; ")
	}
	return c.cw.Write(c.rec)
}

func (c *csvResults) Close(Summary) error {
	if !c.header {
		c.header = true
		if err := c.cw.Write(csvColumns); err != nil {
			return err
		}
	}
	c.cw.Flush()
	if err := c.cw.Error(); err != nil {
		return err
	}
	return c.w.Flush()
}

// matchList renders matches as "crm:ID 0.970; file:ID 0.912".
func matchList(ms []Match) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(m.Source)
		b.WriteByte(':')
		b.WriteString(m.ID)
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(m.Score, 'f', 3, 64))
	}
	return b.String()
}

// tableResults prints fixed-width columns, streaming (no buffering of the whole file to align
// them): long ids and match lists are cut with "…".
type tableResults struct {
	w      *bufio.Writer
	header bool
}

func (t *tableResults) Write(r *Result) error {
	if !t.header {
		t.header = true
		fmt.Fprintf(t.w, "%-7s %-6s %-20s %-8s %-5s %s\n", "ROW", "LINE", "ID", "DECISION", "SCORE", "MATCHES / REASONS")
	}
	score, detail := "", ""
	switch {
	case r.Error != "":
		detail = r.Error
	case len(r.Matches) > 0:
		score = strconv.FormatFloat(r.Matches[0].Score, 'f', 2, 64)
		detail = matchList(r.Matches)
		if len(r.Matches[0].Reasons) > 0 {
			detail += " — " + strings.Join(r.Matches[0].Reasons, "; ")
		}
	}
	_, err := fmt.Fprintf(t.w, "%-7d %-6d %-20s %-8s %-5s %s\n", r.Row, r.Line, cut(r.ID, 20), r.Decision, score, cut(detail, 120))
	return err
}

func (t *tableResults) Close(s Summary) error {
	if !t.header {
		fmt.Fprintln(t.w, "(no rows)")
	}
	fmt.Fprintln(t.w)
	fmt.Fprintln(t.w, s.String())
	return t.w.Flush()
}

// cut shortens s to n runes.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// rowWriter routes each row: its result to the results writer, the row itself to the clean
// file (allowed) or the report (everything else), and keeps the counts.
type rowWriter struct {
	out      Outputs
	format   InputFormat
	clean    *bufio.Writer
	report   *bufio.Writer
	reportCW *csv.Writer
	lineBuf  bytes.Buffer // one report line's verdict columns, encoded by lineCW
	lineCW   *csv.Writer
	sum      Summary
	links    unionFind
}

func newRowWriter(src source, out Outputs) (*rowWriter, error) {
	w := &rowWriter{out: out, format: src.format(), links: unionFind{}}
	if out.Clean != nil {
		w.clean = bufio.NewWriterSize(out.Clean, 64<<10)
		if _, err := w.clean.Write(src.prefix()); err != nil {
			return nil, err
		}
	}
	if out.Report != nil {
		w.report = bufio.NewWriterSize(out.Report, 64<<10)
		if w.format == InputCSV {
			// The report's columns: the verdict first, then the row's own columns exactly as in
			// the input (a malformed row keeps its malformed fields).
			head := src.prefix()
			bom := bytes.HasPrefix(head, utf8BOM)
			head = bytes.TrimPrefix(head, utf8BOM)
			w.reportCW = csv.NewWriter(w.report)
			w.lineCW = csv.NewWriter(&w.lineBuf)
			w.reportCW.UseCRLF = bytes.HasSuffix(head, []byte("\r\n"))
			if bom {
				w.report.Write(utf8BOM)
			}
			if err := w.writeReportCSV(reportColumns, head); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

// reportColumns precede a CSV row's own columns in the report.
var reportColumns = []string{"scan_row", "scan_line", "scan_id", "scan_decision", "scan_matches", "scan_reasons", "scan_error"}

func (w *rowWriter) write(r *row, res *Result) error {
	w.count(res)
	if err := w.out.Results.Write(res); err != nil {
		return err
	}
	if res.Decision == DecisionAllow {
		if w.clean != nil {
			_, err := w.clean.Write(r.raw)
			return err
		}
		return nil
	}
	if w.report == nil {
		return nil
	}
	if w.format == InputCSV {
		reasons := ""
		if len(res.Matches) > 0 {
			reasons = strings.Join(res.Matches[0].Reasons, "; ")
		}
		return w.writeReportCSV([]string{strconv.Itoa(res.Row), strconv.Itoa(res.Line), res.ID, res.Decision,
			matchList(res.Matches), reasons, res.Error}, r.raw)
	}
	rep := jsonlReport{Result: res}
	switch {
	case r.object:
		rep.Record = json.RawMessage(bytes.TrimSpace(r.raw))
	case utf8.Valid(r.raw):
		rep.Raw = strings.TrimRight(string(r.raw), "\r\n")
	default:
		rep.RawBase64 = base64.StdEncoding.EncodeToString(r.raw)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.report.Write(b)
	return err
}

// jsonlReport is a line of a JSON Lines report: the result and the input line, as an object
// when it is one, else as text, else (not UTF-8) as base64.
type jsonlReport struct {
	*Result
	Record    json.RawMessage `json:"record,omitempty"`
	Raw       string          `json:"raw,omitempty"`
	RawBase64 string          `json:"raw_base64,omitempty"`
}

// writeReportCSV writes the verdict columns, a comma, and the input record's own bytes.
func (w *rowWriter) writeReportCSV(cols []string, raw []byte) error {
	w.lineBuf.Reset()
	if err := w.lineCW.Write(cols); err != nil {
		return err
	}
	w.lineCW.Flush()
	line := bytes.TrimRight(w.lineBuf.Bytes(), "\r\n")
	line = append(line, ',')
	line = append(line, raw...)
	if !bytes.HasSuffix(line, []byte("\n")) {
		if w.reportCW.UseCRLF {
			line = append(line, '\r')
		}
		line = append(line, '\n')
	}
	_, err := w.report.Write(line)
	return err
}

func (w *rowWriter) count(res *Result) {
	s := &w.sum
	s.Rows++
	switch res.Decision {
	case DecisionBlock:
		s.Blocked++
	case DecisionWarn:
		s.Warned++
	case DecisionAllow:
		s.Allowed++
	default:
		if res.undecided {
			s.Undecided++
		} else {
			s.Errors++
		}
	}
	crm, file := false, false
	for _, m := range res.Matches {
		if m.Source == SourceFile {
			file = true
			w.links.union(int32(res.Row), int32(m.Row))
		} else {
			crm = true
		}
	}
	if crm {
		s.MatchedCRM++
	}
	if file {
		s.MatchedFile++
	}
}

func (w *rowWriter) summary() Summary {
	s := w.sum
	s.Clusters, s.ClusterRows = w.links.clusters()
	return s
}

func (w *rowWriter) close(s Summary) error {
	if err := w.out.Results.Close(s); err != nil {
		return err
	}
	if w.clean != nil {
		if err := w.clean.Flush(); err != nil {
			return err
		}
	}
	if w.report != nil {
		if err := w.report.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// unionFind groups rows linked by in-file matches. Only linked rows are held.
type unionFind map[int32]int32

func (u unionFind) find(x int32) int32 {
	p, ok := u[x]
	if !ok {
		u[x] = x
		return x
	}
	for p != x {
		gp := u[p]
		u[x] = gp // path halving
		x, p = gp, u[gp]
	}
	return x
}

func (u unionFind) union(a, b int32) {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return
	}
	if ra < rb { // the earliest row is the root
		u[rb] = ra
	} else {
		u[ra] = rb
	}
}

// clusters returns the number of groups of two rows or more and the rows in them.
func (u unionFind) clusters() (groups, rows int) {
	size := map[int32]int{}
	for x := range u {
		size[u.find(x)]++
	}
	for _, n := range size {
		if n > 1 {
			groups++
			rows += n
		}
	}
	return groups, rows
}
