package webhook

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadBody: the body as sent whatever its announced length, the reader's errors kept, and
// one allocation for a body of the announced length.
func TestReadBody(t *testing.T) {
	body := strings.Repeat("x", 2000)
	boom := errors.New("connection reset")
	tests := []struct {
		name    string
		r       io.Reader
		size    int64
		want    string
		wantErr error
	}{
		{"announced length", strings.NewReader(body), 2000, body, nil},
		{"announced length, read a byte at a time", iotest.OneByteReader(strings.NewReader(body)), 2000, body, nil},
		{"shorter than announced", strings.NewReader(body[:10]), 2000, body[:10], nil},
		{"longer than announced", strings.NewReader(body), 100, body, nil},
		{"empty", strings.NewReader(""), 0, "", nil},
		{"unknown length", strings.NewReader(body), -1, body, nil},
		{"over the limit", strings.NewReader(body), 1 << 30, body, nil},
		{"reader fails", io.MultiReader(strings.NewReader(body[:50]), iotest.ErrReader(boom)), 2000, body[:50], boom},
		{"EOF with the data", iotest.DataErrReader(strings.NewReader(body)), 2000, body, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBody(tc.r, tc.size, 1<<20)
			if string(got) != tc.want {
				t.Errorf("read %d bytes, want %d", len(got), len(tc.want))
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
	src := []byte(body)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := readBody(bytes.NewReader(src), int64(len(src)), 1<<20); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 { // the buffer, and the reader the closure builds
		t.Errorf("%.0f allocations to read a body of the announced length", allocs)
	}
}
