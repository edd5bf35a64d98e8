package actions

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// RetryPolicy bounds the retries of one follow-up step. The Dataverse client already waits out
// a 429's Retry-After a few times within one call; this is the slower outer loop that outlasts
// a throttling window or a refused merge.
type RetryPolicy struct {
	// Attempts counts the first try. Default 5.
	Attempts int
	// Initial is the first wait, doubled per try (with jitter: a wait in [d/2, d]) up to Max.
	// Defaults 2s and 2m. A longer Retry-After from the server is honoured, up to 5 minutes.
	Initial time.Duration
	Max     time.Duration
}

func (p *RetryPolicy) setDefaults() {
	if p.Attempts <= 0 {
		p.Attempts = 5
	}
	if p.Initial <= 0 {
		p.Initial = 2 * time.Second
	}
	if p.Max < p.Initial {
		p.Max = max(p.Initial, 2*time.Minute)
	}
}

// maxRetryAfter caps a server-requested wait (Dataverse's service protection window is 5 min).
const maxRetryAfter = 5 * time.Minute

// wait returns the pause before try n+1 (n counts from 0) after err.
func (p RetryPolicy) wait(n int, err error) time.Duration {
	d := p.Initial << min(n, 20)
	if d > p.Max || d <= 0 {
		d = p.Max
	}
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	if ra := retryAfterOf(err); ra > d {
		d = min(ra, maxRetryAfter)
	}
	return d
}

// retryable reports whether trying again may succeed.
func retryable(err error) bool {
	var pe *permanentError
	var re *retryableError
	switch {
	case err == nil:
		return false
	case errors.As(err, &re):
		return !errors.As(err, &pe)
	case errors.As(err, &pe), errors.Is(err, errNoDataverse):
		return false
	case errors.Is(err, context.Canceled):
		return false
	}
	switch statusOf(err) {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return false
	}
	return true // 429, 5xx, 409/412 (concurrent change), network errors, timeouts
}

// retry runs fn until it succeeds, fails permanently, runs out of attempts or ctx ends. It
// returns the number of tries made and the last error.
func retry(ctx context.Context, p RetryPolicy, sleep func(context.Context, time.Duration) error, fn func(context.Context) error) (int, error) {
	var err error
	for n := 0; n < p.Attempts; n++ {
		if err = fn(ctx); err == nil {
			return n + 1, nil
		}
		if !retryable(err) || n+1 == p.Attempts {
			return n + 1, err
		}
		if serr := sleep(ctx, p.wait(n, err)); serr != nil {
			return n + 1, errors.Join(err, serr)
		}
	}
	return p.Attempts, err
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
