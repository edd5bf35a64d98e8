// Package inapp tells a user why the webhook blocked their save. Dataverse shows the user of a
// form, a flow or an import only a generic error when a synchronous webhook refuses a save (it
// ignores the response body), so after such a block the Notifier creates a Dataverse in-app
// notification (an appnotification row) for the initiating user, listing the matched records
// with links to open them. It works in the background, after the decision: a rules.Observer
// that queues the work and never delays the webhook's answer.
package inapp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/rules"
)

// Creator creates Dataverse rows (*dataverse.Client).
type Creator interface {
	Create(ctx context.Context, table string, attrs map[string]any, opts ...dataverse.CallOption) (string, error)
}

// Visibility tells whether a user may read a record (checkapi.DataverseVisibility): the
// notification names only the matches its recipient may open.
type Visibility interface {
	CanRead(ctx context.Context, callerOID, entity, id string) (bool, error)
}

// Option values of the appnotification table (Microsoft's "Send in-app notifications within
// model-driven apps").
const (
	IconFailure  = 100000002
	IconWarning  = 100000003
	ToastTimed   = 200000000
	ToastHidden  = 200000001
	maxTitle     = 100 // UNCONFIRMED column length; kept short
	maxBody      = 500 // body is documented as a 500-character text column
	maxData      = 5000
	maxActions   = 5
	dedupeWindow = time.Minute
)

// Config configures a Notifier. Zero values take the documented defaults.
type Config struct {
	// Delay is waited after the decision before the row is created. Default 1s.
	Delay time.Duration
	// Queue bounds waiting notifications; past it they are dropped and logged. Default 256.
	Queue int
	// TTL is the notification's expiry (ttlinseconds). Default 24h.
	TTL time.Duration
	// Toast is ToastTimed (default) or ToastHidden.
	Toast int
	// Visibility, when set, hides matches the recipient may not read. Without it (or without
	// the recipient's Entra object id) the notification names no matched record.
	Visibility Visibility
	// Timeout bounds the Dataverse calls for one notification. Default 10s.
	Timeout time.Duration
	// Now replaces time.Now (tests).
	Now func() time.Time
	Log *zap.Logger
}

type job struct {
	at  time.Time
	ev  rules.Event
	key string
}

// Notifier is a rules.Observer that sends an in-app notification after each webhook block.
// It is safe for concurrent use.
type Notifier struct {
	cfg     Config
	creator Creator
	queue   chan job
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}

	mu     sync.Mutex
	recent map[string]time.Time // user+matches → last sent, against repeated clicks on Save

	sent, dropped, failed atomic.Int64
}

var _ rules.Observer = (*Notifier)(nil)

// New starts a notifier that creates rows with c. Close stops it.
func New(c Creator, cfg Config) *Notifier {
	if cfg.Delay < 0 {
		cfg.Delay = 0
	} else if cfg.Delay == 0 {
		cfg.Delay = time.Second
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 256
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.Toast == 0 {
		cfg.Toast = ToastTimed
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{cfg: cfg, creator: c, queue: make(chan job, cfg.Queue), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), recent: map[string]time.Time{}}
	go n.run()
	return n
}

type quietKey struct{}

// Quiet marks ctx as carrying a decision nobody is to be told about: the check API's dry runs.
func Quiet(ctx context.Context) context.Context { return context.WithValue(ctx, quietKey{}, true) }

// Observe implements rules.Observer: it queues a notification for a blocked webhook save and
// returns at once.
func (n *Notifier) Observe(ctx context.Context, ev rules.Event) {
	if ev.Decision.Outcome != rules.OutcomeBlock || ev.Request.UserID == "" {
		return
	}
	if q, _ := ctx.Value(quietKey{}).(bool); q {
		return
	}
	if ev.Request.Message != "Create" && ev.Request.Message != "Update" {
		return
	}
	key := dedupeKey(ev)
	now := n.cfg.Now()
	n.mu.Lock()
	if t, ok := n.recent[key]; ok && now.Sub(t) < dedupeWindow {
		n.mu.Unlock()
		return
	}
	n.recent[key] = now
	if len(n.recent) > 4*n.cfg.Queue {
		for k, t := range n.recent {
			if now.Sub(t) >= dedupeWindow {
				delete(n.recent, k)
			}
		}
	}
	n.mu.Unlock()
	select {
	case n.queue <- job{at: now.Add(n.cfg.Delay), ev: ev, key: key}:
	default:
		n.dropped.Add(1)
		n.cfg.Log.Warn("in-app notification dropped: queue full", zap.Int("queue", n.cfg.Queue))
	}
}

// dedupeKey identifies "the same block for the same user": a user clicking Save three times
// gets one notification.
func dedupeKey(ev rules.Event) string {
	ids := make([]string, 0, len(ev.Decision.Matches))
	for _, m := range ev.Decision.Matches {
		ids = append(ids, m.Entity+"/"+m.ID)
	}
	sort.Strings(ids)
	return strings.ToLower(ev.Request.UserID) + "|" + ev.Request.Record.Entity + "|" + ev.Request.Record.ID + "|" + strings.Join(ids, ",") + "|" + ev.Decision.Fallback
}

func (n *Notifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.ctx.Done():
			return
		case j := <-n.queue:
			if wait := j.at.Sub(n.cfg.Now()); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-n.ctx.Done():
					t.Stop()
					n.dropped.Add(1)
					return
				}
			}
			n.send(j)
		}
	}
}

func (n *Notifier) send(j job) {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Timeout)
	defer cancel()
	row := n.Row(ctx, j.ev)
	if _, err := n.creator.Create(ctx, "appnotification", row); err != nil {
		n.failed.Add(1)
		// The error names no record data (dataverse.Error elides quoted values).
		n.cfg.Log.Warn("in-app notification failed", zap.String("entity", j.ev.Request.Record.Entity), zap.Error(err))
		return
	}
	n.sent.Add(1)
	n.cfg.Log.Info("in-app notification sent", zap.String("entity", j.ev.Request.Record.Entity),
		zap.Int("matches", len(j.ev.Decision.Matches)), zap.String("correlation_id", j.ev.Request.CorrelationID))
}

// Row builds the appnotification row for a blocked save.
func (n *Notifier) Row(ctx context.Context, ev rules.Event) map[string]any {
	req, d := ev.Request, ev.Decision
	table := req.Record.Entity
	what := "new " + table
	if req.Message == "Update" {
		what = "changes to this " + table
	}
	if name := rules.DisplayName(req.Record); name != "" {
		what += " (" + name + ")"
	}
	var title, body, md string
	var actions []map[string]any
	if d.Fallback != "" {
		title = "Save blocked: the duplicate check was unavailable"
		body = fmt.Sprintf("Your %s was not saved because the duplicate check could not run in time. Try again in a moment.", what)
		md = body
	} else {
		title = "Save blocked: possible duplicate"
		var plain, marked []string
		for _, m := range d.Matches {
			if m.Level != rules.OutcomeBlock || m.Action != rules.ActionBlock {
				continue
			}
			switch {
			case m.Reserved:
				plain = append(plain, "a record with the same details being saved at the same moment")
				marked = append(marked, "a record with the same details being saved at the same moment")
			case n.canRead(ctx, req.UserAADID, m):
				who := m.Name
				if who == "" {
					who = "an existing " + m.Entity
				}
				reasons := strings.Join(m.Reasons, ", ")
				plain = append(plain, fmt.Sprintf("%s (%s)", who, reasons))
				link := recordURL(m.Entity, m.ID)
				marked = append(marked, fmt.Sprintf("[%s](%s) (%s)", escapeMD(who), link, escapeMD(reasons)))
				if len(actions) < maxActions {
					actions = append(actions, map[string]any{"title": truncate("Open "+who, 60),
						"data": map[string]any{"url": link, "navigationTarget": "newWindow"}})
				}
			default:
				plain = append(plain, "an existing "+m.Entity+" you cannot open")
				marked = append(marked, "an existing "+m.Entity+" you cannot open")
			}
		}
		if len(plain) == 0 {
			plain = append(plain, "an existing record")
			marked = append(marked, "an existing record")
		}
		body = fmt.Sprintf("Your %s was not saved: it matches %s. Open the existing record instead, or use Ignore and Save on the form if this is a different %s.",
			what, strings.Join(plain, "; "), table)
		md = fmt.Sprintf("Your %s was not saved. It matches:\n\n- %s\n\nOpen the existing record instead, or use **Ignore and Save** on the form if this is a different %s.",
			escapeMD(what), strings.Join(marked, "\n- "), table)
	}
	row := map[string]any{
		"title":              truncate(title, maxTitle),
		"body":               truncate(body, maxBody),
		"ownerid@odata.bind": "/systemusers(" + strings.ToLower(req.UserID) + ")",
		"icontype":           IconFailure,
		"toasttype":          n.cfg.Toast,
		"ttlinseconds":       int(n.cfg.TTL / time.Second),
	}
	data := map[string]any{"body": md}
	if len(actions) > 0 {
		data["actions"] = actions
	}
	if b, err := json.Marshal(data); err == nil && len(b) <= maxData {
		row["data"] = string(b)
	} else if len(actions) > 0 {
		if b, err := json.Marshal(map[string]any{"actions": actions}); err == nil && len(b) <= maxData {
			row["data"] = string(b)
		}
	}
	return row
}

func (n *Notifier) canRead(ctx context.Context, oid string, m rules.Match) bool {
	if n.cfg.Visibility == nil || oid == "" || m.ID == "" {
		return false
	}
	ok, err := n.cfg.Visibility.CanRead(ctx, oid, m.Entity, m.ID)
	if err != nil {
		n.cfg.Log.Warn("in-app notification: visibility check failed; match not named", zap.Error(err))
		return false
	}
	return ok
}

// recordURL is a model-driven app link relative to the app, as the notification actions take.
func recordURL(entity, id string) string {
	return "?pagetype=entityrecord&etn=" + url.QueryEscape(entity) + "&id=" + url.QueryEscape(id)
}

// escapeMD keeps user data from turning into markdown links or emphasis.
func escapeMD(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, "(", `\(`, ")", `\)`, "*", `\*`, "_", `\_`, "\n", " ", "\r", " ")
	return r.Replace(s)
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	rs := []rune(s)
	return string(rs[:max-1]) + "…"
}

// Stats returns how many notifications were sent, dropped (queue full) and failed.
func (n *Notifier) Stats() (sent, dropped, failed int64) {
	return n.sent.Load(), n.dropped.Load(), n.failed.Load()
}

// Close stops the notifier; notifications still waiting are dropped (and counted).
func (n *Notifier) Close() error {
	n.cancel()
	<-n.done
	for {
		select {
		case <-n.queue:
			n.dropped.Add(1)
		default:
			return nil
		}
	}
}
