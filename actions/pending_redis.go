package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// SharedPending hands pending follow-ups between gateway instances. Behind a load balancer the
// PreValidation call (the decision) and the PostOperation call (the commit) of one save can
// reach different instances: the deciding instance also puts each pending follow-up here, and
// an instance receiving a PostOperation call it has nothing for takes it from here. Removal
// is atomic, so exactly one instance runs a follow-up.
type SharedPending interface {
	// Put stores a follow-up (wire is its JSON encoding, the identity Remove uses).
	Put(ctx context.Context, correlationID, wire string) error
	// Take removes and returns the follow-up of correlationID that pick chooses among those
	// stored (pick returns -1 for none).
	Take(ctx context.Context, correlationID string, pick func([]*followUp) int) (*followUp, error)
	// Remove deletes a follow-up; false when it was gone (taken by another instance).
	Remove(ctx context.Context, correlationID, wire string) (bool, error)
}

// RedisPending keeps shared follow-ups in Redis: one list per correlation id
// (<prefix>pending:{<correlation id>}), expiring after TTL plus a minute, so a follow-up
// nobody takes does not stay forever. Each key is one slot: safe in Redis Cluster.
type RedisPending struct {
	Client redis.UniversalClient
	Prefix string
	TTL    time.Duration
}

func (s RedisPending) key(cid string) string { return s.Prefix + "pending:{" + cid + "}" }

// Put implements SharedPending.
func (s RedisPending) Put(ctx context.Context, cid, wire string) error {
	ttl := s.TTL + time.Minute
	_, err := s.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, s.key(cid), wire)
		p.PExpire(ctx, s.key(cid), ttl)
		return nil
	})
	return err
}

// Take implements SharedPending. Two instances racing for one follow-up both pick it; LREM
// lets only one remove it, and the other looks again.
func (s RedisPending) Take(ctx context.Context, cid string, pick func([]*followUp) int) (*followUp, error) {
	for try := 0; try < 3; try++ {
		vals, err := s.Client.LRange(ctx, s.key(cid), 0, -1).Result()
		if err != nil {
			return nil, err
		}
		var fus []*followUp
		var wires []string
		for _, v := range vals {
			var fu followUp
			if json.Unmarshal([]byte(v), &fu) != nil {
				continue
			}
			fu.wire = v
			fus = append(fus, &fu)
			wires = append(wires, v)
		}
		i := pick(fus)
		if i < 0 {
			return nil, nil
		}
		n, err := s.Client.LRem(ctx, s.key(cid), 1, wires[i]).Result()
		if err != nil {
			return nil, err
		}
		if n == 1 {
			return fus[i], nil
		}
	}
	return nil, errors.New("shared pending follow-up: lost the race three times")
}

// Remove implements SharedPending.
func (s RedisPending) Remove(ctx context.Context, cid, wire string) (bool, error) {
	n, err := s.Client.LRem(ctx, s.key(cid), 1, wire).Result()
	return n == 1, err
}

// share queues a follow-up for the shared store (Observe must not wait on Redis).
func (r *Runner) share(ctx context.Context, fu *followUp) {
	if r.shared == nil {
		return
	}
	b, err := json.Marshal(fu)
	if err != nil {
		r.log.Warn("follow-up not shared with other instances", errorField(err))
		return
	}
	fu.wire = string(b)
	// Share before the decision is answered: Dataverse may deliver the PostOperation call to
	// another instance within milliseconds of the answer. This costs one Redis round trip, and
	// only for allowed saves whose matches carry notify/merge/review. If it fails or is slow, the
	// background sharer tries again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shareInlineTimeout)
	err = r.shared.Put(sctx, fu.CorrelationID, fu.wire)
	cancel()
	if err == nil {
		return
	}
	select {
	case r.shareCh <- fu:
	default:
		r.log.Warn("follow-up not shared with other instances: the sharing queue is full; it runs only if its PostOperation call reaches this instance",
			correlationField(fu.CorrelationID))
	}
}

// shareInlineTimeout bounds the inline share on the decision path.
const shareInlineTimeout = 250 * time.Millisecond

// runShare writes queued follow-ups to the shared store until the channel closes.
func (r *Runner) runShare() {
	defer r.sharer.Done()
	for fu := range r.shareCh {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := r.shared.Put(ctx, fu.CorrelationID, fu.wire); err != nil {
			r.log.Warn("follow-up not shared with other instances; it runs only if its PostOperation call reaches this instance",
				correlationField(fu.CorrelationID), errorField(err))
		}
		cancel()
	}
}

// takeShared asks the shared store for a follow-up this instance does not hold.
func (r *Runner) takeShared(ctx context.Context, ch changeView) *followUp {
	if r.shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	fu, err := r.shared.Take(ctx, ch.cid, func(fus []*followUp) int {
		best, bestScore := -1, 0
		for i, fu := range fus {
			if score, ok := releaseScore(fu, ch); ok && (best < 0 || score > bestScore) {
				best, bestScore = i, score
			}
		}
		return best
	})
	if err != nil {
		r.log.Warn("reading shared follow-ups failed", correlationField(ch.cid), errorField(err))
		return nil
	}
	return fu
}

// unshare removes a follow-up this instance runs or expires from the shared store. It reports
// whether this instance still owned it (false: another instance took it).
func (r *Runner) unshare(fu *followUp) bool {
	if r.shared == nil || fu.wire == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ok, err := r.shared.Remove(ctx, fu.CorrelationID, fu.wire)
	if err != nil {
		// Cannot tell: assume it is ours, so that it is run or recorded rather than lost.
		r.log.Warn("removing a shared follow-up failed", correlationField(fu.CorrelationID), errorField(err))
		return true
	}
	if !ok {
		r.log.Debug("follow-up taken by another instance", correlationField(fu.CorrelationID))
	}
	return ok
}

func (fu *followUp) String() string {
	return fmt.Sprintf("%s %s of %s", fu.CorrelationID, fu.Message, fu.Record.Entity)
}
