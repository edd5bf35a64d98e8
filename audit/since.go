package audit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseSince reads a period start: a duration back from now ("7d", "36h", "90m", "2w") or a
// point in time (RFC 3339, or a UTC date YYYY-MM-DD).
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty period: use e.g. 7d, 24h or 2025-01-31")
	}
	if d, err := ParsePeriod(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a period (7d, 24h, 90m, 2w) nor a time (RFC 3339 or YYYY-MM-DD)", s)
}

// ParsePeriod reads a positive duration with Go's units plus d (days) and w (weeks).
func ParsePeriod(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		v, err := strconv.ParseFloat(s[:n-1], 64)
		if err != nil || v <= 0 {
			return 0, fmt.Errorf("%q is not a period", s)
		}
		unit := 24 * time.Hour
		if s[n-1] == 'w' {
			unit *= 7
		}
		return time.Duration(v * float64(unit)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a period", s)
	}
	return d, nil
}
