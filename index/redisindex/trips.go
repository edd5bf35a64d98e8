package redisindex

import (
	"context"
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
// commands' replies and errors.
type roundTrips struct {
	client redis.UniversalClient
	max    int

	mu       sync.Mutex
	inflight int
	queue    []*trip
}

// trip is one lookup's commands waiting for a shared round trip.
type trip struct {
	ctx  context.Context
	cmds []redis.Cmder
	done chan struct{}
	err  error
}

// defaultTrips is how many lookup pipelines an instance keeps in flight: enough that a slow
// reply does not hold every lookup up, few enough that concurrent lookups share them.
const defaultTrips = 2

// do sends cmds and returns the first of their errors, as Pipeline.Exec would (redis.Nil
// included). When ctx ends first, do returns its error; the commands may still be sent.
func (r *roundTrips) do(ctx context.Context, cmds []redis.Cmder) error {
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
	t := &trip{ctx: ctx, cmds: cmds, done: make(chan struct{})}
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
	for _, t := range batch {
		all = append(all, t.cmds...)
	}
	pipe := r.client.Pipeline()
	_ = pipe.BatchProcess(ctx, all...)
	_, _ = pipe.Exec(ctx)
	cancel()
	for _, t := range batch {
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
