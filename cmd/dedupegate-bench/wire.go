package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"
)

// wire is one keep-alive HTTP/1.1 connection owned by one sender. The request goes out in one
// write and the answer is read on the sender's own goroutine: net/http's client hands every
// request between three goroutines (caller, write loop, read loop), which on a machine whose
// two cores the load generator shares with the gateway and Redis cost the gateway CPU it is
// being measured on (~250 µs a request at 1,000/s against ~85 µs here). The server side is
// untouched: the gateway and the no-op server see ordinary HTTP/1.1 clients.
type wire struct {
	addr   string // host:port, loopback (checked by runDrive)
	head   []byte // request line and fixed headers, up to "Content-Length: "
	conn   net.Conn
	br     *bufio.Reader
	out    []byte
	body   []byte
	chunks bytes.Buffer
}

// wireTimeout bounds one exchange; a request over it counts as an error.
const wireTimeout = 10 * time.Second

// newWire prepares a sender for POSTs of JSON to target with the webhook secret header.
func newWire(target, secret string) (*wire, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("%s: only http:// targets", target)
	}
	head := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nx-dedupegate-secret: %s\r\nContent-Length: ",
		u.RequestURI(), u.Host, secret)
	return &wire{addr: u.Host, head: head}, nil
}

// post sends body and returns the answer's status and body (valid until the next post). Any
// error closes the connection; the next post dials a new one.
func (w *wire) post(body []byte) (int, []byte, error) {
	status, rb, err := w.exchange(body)
	if err != nil {
		w.close()
	}
	return status, rb, err
}

func (w *wire) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn, w.br = nil, nil
	}
}

func (w *wire) exchange(body []byte) (int, []byte, error) {
	if w.conn == nil {
		c, err := net.DialTimeout("tcp", w.addr, wireTimeout)
		if err != nil {
			return 0, nil, err
		}
		w.conn, w.br = c, bufio.NewReaderSize(c, 8<<10)
	}
	if err := w.conn.SetDeadline(time.Now().Add(wireTimeout)); err != nil {
		return 0, nil, err
	}
	w.out = append(w.out[:0], w.head...)
	w.out = strconv.AppendInt(w.out, int64(len(body)), 10)
	w.out = append(w.out, "\r\n\r\n"...)
	w.out = append(w.out, body...)
	if _, err := w.conn.Write(w.out); err != nil {
		return 0, nil, err
	}

	line, err := w.br.ReadSlice('\n')
	if err != nil {
		return 0, nil, fmt.Errorf("status line: %w", err)
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		h, err := w.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, fmt.Errorf("headers: %w", err)
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, nil, fmt.Errorf("bad header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, nil, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		w.chunks.Reset()
		if _, err := w.chunks.ReadFrom(httputil.NewChunkedReader(w.br)); err != nil {
			return 0, nil, fmt.Errorf("chunked body: %w", err)
		}
		// The chunked reader stops at the last chunk; the trailer section ends with a blank line.
		for {
			t, err := w.br.ReadSlice('\n')
			if err != nil {
				return 0, nil, fmt.Errorf("trailer: %w", err)
			}
			if len(bytes.TrimRight(t, "\r\n")) == 0 {
				break
			}
		}
		w.body = append(w.body[:0], w.chunks.Bytes()...)
	case length >= 0:
		if cap(w.body) < length {
			w.body = make([]byte, length)
		}
		w.body = w.body[:length]
		if _, err := io.ReadFull(w.br, w.body); err != nil {
			return 0, nil, fmt.Errorf("body: %w", err)
		}
	default:
		return 0, nil, errors.New("answer without Content-Length or chunked body")
	}
	if closing {
		w.close()
	}
	return status, w.body, nil
}
