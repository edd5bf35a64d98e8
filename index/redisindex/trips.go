package redisindex

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// roundTrips sends the lookups' commands to Redis, sharing round trips between concurrent
// lookups: at most max pipelines are in flight; a lookup that comes while they all are waits,
// and the lookups that waited go out together, as one pipeline, as soon as one comes back. A
// lone lookup goes out at once, so this adds no wait at a low rate; under load many decisions
// share each round trip, and the gateway and Redis make a few system calls for all of them
// instead of a write and a read each.
//
// Sharing changes nothing a lookup sees: Redis runs a pipeline's commands in order, as it
// would run them from separate connections in some order, and each lookup reads only its own
// commands' replies and errors. The one exception is a read every lookup makes alike (the
// index's epoch, checked against data loss): a shared pipeline sends it once and each lookup
// gets its reply, as if it had been sent for it at the head of the round trip.
type roundTrips struct {
	client redis.UniversalClient
	max    int

	mu       sync.Mutex
	inflight int
	queue    []*trip
}

// trip is one lookup's commands waiting for a shared round trip.
type trip struct {
	ctx    context.Context
	cmds   []redis.Cmder
	same   *redis.StringCmd // one of cmds, or nil: see do
	copied bool             // same was not sent: its reply is another trip's
	done   chan struct{}
	err    error
}

// defaultTrips is how many lookup pipelines an instance keeps in flight: enough that a slow
// reply does not hold every lookup up, few enough that concurrent lookups share them.
const defaultTrips = 2

// do sends cmds and returns the first of their errors, as Pipeline.Exec would (redis.Nil
// included). When ctx ends first, do returns its error; the commands may still be sent. same,
// when not nil, is one of cmds whose reply is the same for every lookup of a round trip: a
// shared pipeline sends one command with its arguments for all the trips that have it.
func (r *roundTrips) do(ctx context.Context, cmds []redis.Cmder, same *redis.StringCmd) error {
	if len(cmds) == 0 {
		return nil
	}
	r.mu.Lock()
	if r.inflight < r.max {
		r.inflight++
		r.mu.Unlock()
		pipe := r.client.Pipeline()
		_ = pipe.BatchProcess(ctx, cmds...)
		_, err := pipe.Exec(ctx)
		r.next()
		return err
	}
	t := &trip{ctx: ctx, cmds: cmds, same: same, done: make(chan struct{})}
	r.queue = append(r.queue, t)
	r.mu.Unlock()
	select {
	case <-t.done:
		return t.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// next is called when a pipeline has come back: it sends the waiting trips together, or frees
// the pipeline's place.
func (r *roundTrips) next() {
	r.mu.Lock()
	if len(r.queue) == 0 {
		r.inflight--
		r.mu.Unlock()
		return
	}
	batch := r.queue
	r.queue = nil
	r.mu.Unlock()
	go r.send(batch)
}

// send sends the trips of batch in one pipeline, under the latest of their deadlines (a trip
// whose own context has ended has stopped waiting; its commands go out all the same).
func (r *roundTrips) send(batch []*trip) {
	ctx := context.Background()
	var latest time.Time
	n, forever := 0, false
	for _, t := range batch {
		n += len(t.cmds)
		if d, ok := t.ctx.Deadline(); !ok {
			forever = true
		} else if d.After(latest) {
			latest = d
		}
	}
	cancel := context.CancelFunc(func() {})
	if !forever {
		ctx, cancel = context.WithDeadline(ctx, latest)
	}
	all := make([]redis.Cmder, 0, n)
	var sent []*redis.StringCmd // the shared reads sent, one per distinct command
	for _, t := range batch {
		for _, c := range t.cmds {
			if t.same != nil && c == redis.Cmder(t.same) {
				if i := slices.IndexFunc(sent, func(s *redis.StringCmd) bool { return slices.Equal(s.Args(), t.same.Args()) }); i >= 0 {
					t.copied = true
					continue
				}
				sent = append(sent, t.same)
			}
			all = append(all, c)
		}
	}
	pipe := r.client.Pipeline()
	_ = pipe.BatchProcess(ctx, all...)
	_, _ = pipe.Exec(ctx)
	cancel()
	for _, t := range batch {
		if t.copied {
			i := slices.IndexFunc(sent, func(s *redis.StringCmd) bool { return slices.Equal(s.Args(), t.same.Args()) })
			t.same.SetVal(sent[i].Val())
			t.same.SetErr(sent[i].Err())
		}
		for _, c := range t.cmds {
			if err := c.Err(); err != nil {
				t.err = err
				break
			}
		}
		close(t.done)
	}
	r.next()
}
