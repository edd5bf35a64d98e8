package scan

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// InputFormat is the layout of an input file.
type InputFormat string

// The input formats: CSV with a header row (RFC 4180: quoted fields may hold commas, quotes and
// newlines), and JSON Lines (one JSON object per line).
const (
	InputCSV   InputFormat = "csv"
	InputJSONL InputFormat = "jsonl"
)

// DetectFormat picks the input format from a file name: .jsonl, .ndjson and .json are JSON
// Lines, anything else CSV.
func DetectFormat(name string) InputFormat {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jsonl", ".ndjson", ".json":
		return InputJSONL
	}
	return InputCSV
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// notUTF8Hint ends every invalid-encoding message.
const notUTF8Hint = "the file must be UTF-8; convert it first, e.g. iconv -f WINDOWS-1252 -t UTF-8"

// row is one record of an input file as it travels through the scan.
type row struct {
	num   int    // 1-based data row number (the header is not a row)
	line  int    // line of the file on which the record starts
	end   int64  // input offset just past the record (progress)
	raw   []byte // the record's bytes as in the file, line ending included (nil unless kept)
	id    string // id column value, "" without one
	attrs map[string]string
	form  string // the row's prepared values as filed (matcher.Record.Form), once keyed
	// The same values per rule, from filing the row, for its check (rules.Request.Prepared);
	// dropped once it is checked.
	prepared []rulePrepared
	err      string // why the row cannot be checked; "" for a good row
	// JSONL only: the line is a valid object (the report embeds it as JSON).
	object bool
}

// source reads the rows of one input file in order.
type source interface {
	// next returns the next row, io.EOF after the last; any other error is fatal (I/O).
	next() (*row, error)
	layout() layout
	// prefix is what precedes the rows in a copy of the file: the BOM and header line of a CSV.
	prefix() []byte
	format() InputFormat
}

// sourceOptions say how to read a file.
type sourceOptions struct {
	name     string // for messages
	format   InputFormat
	mapping  Mapping
	idColumn string
	wanted   []string // attributes the rules read, sorted
	ruleDesc string
	keepRaw  bool
}

// openSource reads the header (CSV) or the first objects (JSONL) and checks them against the
// mapping. Problems are *InputError.
func openSource(r io.Reader, o sourceOptions) (source, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	bom := false
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, utf8BOM) {
		bom = true
		_, _ = br.Discard(3)
	}
	if o.format == InputJSONL {
		return openJSONL(br, bom, o)
	}
	return openCSV(br, bom, o)
}

// recorder remembers the bytes read through it from the last taken offset on, so that each
// record's raw bytes can be copied out exactly as they are in the file.
type recorder struct {
	r     io.Reader
	buf   []byte
	start int   // buf[start:] is the input from offset base on
	base  int64 // input offset of buf[start]
}

func (t *recorder) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if t.start > 0 && t.start >= len(t.buf)/2 {
		k := copy(t.buf, t.buf[t.start:])
		t.buf, t.start = t.buf[:k], 0
	}
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// take returns the input bytes [t.base, to) and forgets them. The slice is valid until the
// next Read.
func (t *recorder) take(to int64) []byte {
	n := int(to - t.base)
	b := t.buf[t.start : t.start+n]
	t.start += n
	t.base = to
	return b
}

type csvSource struct {
	name    string
	cr      *csv.Reader
	rec     *recorder
	lay     layout
	bomLen  int64
	head    []byte
	n       int
	keepRaw bool
}

func openCSV(br *bufio.Reader, bom bool, o sourceOptions) (*csvSource, error) {
	s := &csvSource{name: o.name, rec: &recorder{r: br}, keepRaw: o.keepRaw}
	if bom {
		s.bomLen = 3
	}
	s.cr = csv.NewReader(s.rec)
	s.cr.FieldsPerRecord = -1 // ragged rows are reported per row, with their line
	s.cr.ReuseRecord = true
	header, err := s.cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &InputError{File: o.name, Msg: "empty file: no header row"}
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, &InputError{File: o.name, Line: pe.StartLine, Msg: "malformed header row: " + pe.Err.Error()}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", o.name, err)
	}
	line, _ := s.cr.FieldPos(0)
	for i, h := range header {
		if !utf8.ValidString(h) {
			return nil, &InputError{File: o.name, Line: line, Msg: fmt.Sprintf("header column %d is not valid UTF-8; %s", i+1, notUTF8Hint)}
		}
	}
	raw := s.rec.take(s.cr.InputOffset())
	s.head = append(append([]byte(nil), utf8BOM[:s.bomLen]...), raw...)
	s.lay, err = resolveLayout(o.name, line, header, o.mapping, o.idColumn, o.wanted, o.ruleDesc)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *csvSource) layout() layout      { return s.lay }
func (s *csvSource) prefix() []byte      { return s.head }
func (s *csvSource) format() InputFormat { return InputCSV }

func (s *csvSource) next() (*row, error) {
	fields, err := s.cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	var pe *csv.ParseError
	if err != nil && !errors.As(err, &pe) {
		return nil, fmt.Errorf("read %s: %w", s.name, err)
	}
	s.n++
	off := s.cr.InputOffset()
	r := &row{num: s.n, end: off + s.bomLen}
	raw := trimBlankLines(s.rec.take(off))
	if s.keepRaw {
		r.raw = append([]byte(nil), raw...)
	}
	if pe != nil {
		r.line = pe.StartLine
		r.err = fmt.Sprintf("line %d: malformed CSV: %v", pe.StartLine, pe.Err)
		if pe.Line != pe.StartLine {
			r.err = fmt.Sprintf("line %d: malformed CSV (record starting here, error on line %d, column %d): %v", pe.StartLine, pe.Line, pe.Column, pe.Err)
		}
		return r, nil
	}
	r.line, _ = s.cr.FieldPos(0)
	if i := s.lay.idIndex; i >= 0 && i < len(fields) && utf8.ValidString(fields[i]) {
		r.id = strings.TrimSpace(fields[i]) // known even when the row is malformed: easier review
	}
	if len(fields) != len(s.lay.names) {
		r.err = fmt.Sprintf("line %d: %d fields, the header has %d", r.line, len(fields), len(s.lay.names))
		return r, nil
	}
	for i, f := range fields {
		if !utf8.ValidString(f) {
			fl, _ := s.cr.FieldPos(i)
			r.err = fmt.Sprintf("line %d: column %q is not valid UTF-8; %s", fl, s.lay.names[i], notUTF8Hint)
			return r, nil
		}
	}
	r.attrs = make(map[string]string, len(s.lay.cols))
	for _, c := range s.lay.cols {
		if v := joinValues(c.indexes, func(i int) string { return fields[i] }); v != "" {
			r.attrs[c.attr] = v
		}
	}
	return r, nil
}

// joinValues is the trimmed value of one column, or the non-empty trimmed values of several
// joined by a space.
func joinValues(indexes []int, value func(i int) string) string {
	if len(indexes) == 1 {
		return strings.TrimSpace(value(indexes[0]))
	}
	var b strings.Builder
	for _, i := range indexes {
		if v := strings.TrimSpace(value(i)); v != "" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(v)
		}
	}
	return b.String()
}

// trimBlankLines drops the empty lines csv.Reader skipped before a record.
func trimBlankLines(b []byte) []byte {
	for {
		switch {
		case len(b) > 0 && b[0] == '\n':
			b = b[1:]
		case len(b) > 1 && b[0] == '\r' && b[1] == '\n':
			b = b[2:]
		default:
			return b
		}
	}
}

// jsonlHeaderRows is how many objects a JSON Lines file is read ahead to learn its keys: the
// union of their keys stands for the header when the mapping is checked.
const jsonlHeaderRows = 1000

type jsonlSource struct {
	name    string
	br      *bufio.Reader
	off     int64
	lineNo  int
	n       int
	lay     layout
	pending []*row
	keepRaw bool
	objs    []map[string]json.RawMessage // parsed objects of pending rows, by index
	buf     []byte
}

func openJSONL(br *bufio.Reader, bom bool, o sourceOptions) (*jsonlSource, error) {
	s := &jsonlSource{name: o.name, br: br, keepRaw: o.keepRaw, lay: layout{idIndex: -1}}
	if bom {
		s.off = 3
	}
	keys := map[string]bool{}
	for len(s.pending) < jsonlHeaderRows {
		r, obj, err := s.read(true)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		s.pending = append(s.pending, r)
		s.objs = append(s.objs, obj)
		for k := range obj {
			keys[k] = true
		}
	}
	if len(s.pending) == 0 {
		return nil, &InputError{File: o.name, Msg: "empty file: no JSON object"}
	}
	if len(keys) == 0 {
		// No line is a valid object: every row is reported as an error; nothing to map.
		return s, nil
	}
	header := make([]string, 0, len(keys))
	for k := range keys {
		header = append(header, k)
	}
	sort.Strings(header)
	var err error
	s.lay, err = resolveLayout(o.name, 0, header, o.mapping, o.idColumn, o.wanted, o.ruleDesc)
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			ie.Msg = strings.Replace(ie.Msg, "in the header", fmt.Sprintf("in the keys of the first %d objects", len(s.pending)), 1)
		}
		return nil, err
	}
	for i, r := range s.pending {
		if s.objs[i] != nil {
			s.fill(r, s.objs[i])
		}
	}
	s.objs = nil
	return s, nil
}

func (s *jsonlSource) layout() layout      { return s.lay }
func (s *jsonlSource) prefix() []byte      { return nil }
func (s *jsonlSource) format() InputFormat { return InputJSONL }

func (s *jsonlSource) next() (*row, error) {
	if len(s.pending) > 0 {
		r := s.pending[0]
		s.pending[0] = nil
		s.pending = s.pending[1:]
		return r, nil
	}
	r, obj, err := s.read(false)
	if err != nil {
		return nil, err
	}
	if obj != nil {
		s.fill(r, obj)
	}
	return r, nil
}

// read returns the next non-blank line as a row and, when it is a JSON object, its members.
func (s *jsonlSource) read(keepObj bool) (*row, map[string]json.RawMessage, error) {
	for {
		line, err := s.readLine()
		if len(line) == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return nil, nil, io.EOF
			}
			return nil, nil, fmt.Errorf("read %s: %w", s.name, err)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("read %s: %w", s.name, err)
		}
		s.lineNo++
		s.off += int64(len(line))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		s.n++
		r := &row{num: s.n, line: s.lineNo, end: s.off}
		if s.keepRaw {
			r.raw = append([]byte(nil), line...)
		}
		if !utf8.Valid(line) {
			r.err = fmt.Sprintf("line %d: not valid UTF-8; %s", r.line, notUTF8Hint)
			return r, nil, nil
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil || obj == nil {
			r.err = fmt.Sprintf("line %d: not a JSON object: %s", r.line, jsonProblem(line, err))
			return r, nil, nil
		}
		r.object = true
		return r, obj, nil
	}
}

// readLine returns the next line with its line ending; its bytes are valid until the next call.
func (s *jsonlSource) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	s.buf = append(s.buf[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = s.br.ReadSlice('\n')
		s.buf = append(s.buf, line...)
	}
	return s.buf, err
}

func jsonProblem(line []byte, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "the line holds " + te.Value
	}
	if err == nil {
		return "the line is null"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", err, se.Offset)
	}
	return err.Error()
}

// fill sets a good row's attributes and id from its object.
func (s *jsonlSource) fill(r *row, obj map[string]json.RawMessage) {
	r.attrs = make(map[string]string, len(s.lay.cols))
	for _, c := range s.lay.cols {
		if v := joinValues(c.indexes, func(i int) string { return jsonText(obj[s.lay.names[i]]) }); v != "" {
			r.attrs[c.attr] = v
		}
	}
	if s.lay.idIndex >= 0 {
		r.id = strings.TrimSpace(jsonText(obj[s.lay.idName]))
	}
}

// jsonText is the string form of a JSON value: a string's contents, a number or boolean as
// written, "" for null or absent, and other values (objects, arrays) as compact JSON.
func jsonText(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	if v[0] == '"' {
		if len(v) >= 2 && v[len(v)-1] == '"' && bytes.IndexByte(v, '\\') < 0 {
			return string(v[1 : len(v)-1])
		}
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			return s
		}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err == nil {
		return b.String()
	}
	return string(v)
}
