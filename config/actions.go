package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Actions configures the follow-ups of the notify, merge and review rule actions and the
// "not a duplicate" exceptions list (docs/actions.md). Paths in problems start with "actions.".
//
// A follow-up runs after Dataverse has committed the save (the asynchronous PostOperation step
// with the same correlation id as the decision), in the background: it never delays a webhook
// answer.
type Actions struct {
	// Enabled turns follow-ups on. Default true. Without a Dataverse connection (dataverse.url)
	// every follow-up is recorded as failed ("no Dataverse connection"), never dropped silently.
	Enabled *bool `yaml:"enabled"`
	// PendingTTL is how long a decision's follow-up waits for its PostOperation call before it
	// is recorded as expired. Default 1h (asynchronous jobs can queue for minutes under load).
	PendingTTL Duration `yaml:"pending_ttl"`
	// MaxPending caps follow-ups waiting for their PostOperation call; past it the oldest is
	// recorded as expired. Default 100000.
	MaxPending int `yaml:"max_pending"`
	// Workers run follow-ups concurrently. Default 4.
	Workers int `yaml:"workers"`
	// Queue is the number of committed follow-ups waiting for a worker; past it a follow-up is
	// recorded as dropped. Default 10000.
	Queue int `yaml:"queue"`
	// PendingStore is where waiting follow-ups are also kept so that any instance can run
	// them: auto (default: redis when index.backend is redis, else memory), redis or memory.
	// With several instances behind a load balancer the PostOperation call of a save may reach
	// another instance than its decision: use redis.
	PendingStore string `yaml:"pending_store"`

	Notify     ActionsNotify     `yaml:"notify"`
	Merge      ActionsMerge      `yaml:"merge"`
	Review     ActionsReview     `yaml:"review"`
	Exceptions ActionsExceptions `yaml:"exceptions"`
	Retry      ActionsRetry      `yaml:"retry"`
}

// ActionsNotify configures the notify action: a Dataverse in-app notification (appnotification)
// per recipient, and optionally an email activity.
type ActionsNotify struct {
	// Owner notifies the owner of the existing (matched) record. Default true. A record owned by
	// a team notifies the team's members (Dataverse cannot notify a team).
	Owner *bool `yaml:"owner"`
	// Users are systemuserids notified of every notify match, in addition to the owner.
	Users []string `yaml:"users"`
	// Teams are teamids whose members are notified of every notify match.
	Teams []string `yaml:"teams"`
	// Icon is info, success, failure, warning (default) or mention.
	Icon string `yaml:"icon"`
	// Toast is timed (default: shown briefly, then kept in the notification centre) or hidden
	// (notification centre only).
	Toast string `yaml:"toast"`
	// TTL is how long the notification lives if not dismissed (ttlinseconds). Default 336h
	// (14 days, Dataverse's own default).
	TTL Duration `yaml:"ttl"`
	// Email also creates an email activity regarding the existing record.
	Email ActionsEmail `yaml:"email"`
}

// ActionsEmail configures the optional email activity of the notify action.
type ActionsEmail struct {
	// Enabled creates an email activity to each recipient. Default false.
	Enabled bool `yaml:"enabled"`
	// From is the systemuserid of the sender; empty leaves the sender to Dataverse (the calling
	// application user).
	From string `yaml:"from"`
	// Send calls SendEmail so that Dataverse delivers it (needs server-side sync or the email
	// router); false leaves a draft. Default false.
	Send bool `yaml:"send"`
}

// ActionsMerge configures the merge action (Dataverse's Merge message: account, contact, lead
// and incident only).
type ActionsMerge struct {
	// Precedence decides which values the surviving (existing) record keeps:
	//   keep_target  the existing record's values stay; nothing is copied
	//   fill_blanks  (default) the existing record's values stay; its blank columns are filled
	//                from the new record
	//   newest_wins  per column, the value of the record modified last wins; blanks never
	//                overwrite values
	Precedence string `yaml:"precedence"`
	// Columns lists, per table, the columns precedence applies to. A table without an entry
	// uses the columns its rules compare.
	Columns map[string][]string `yaml:"columns"`
	// PerformParentingChecks is passed to Merge: when true, Dataverse refuses to merge records
	// whose parent (e.g. the contact's company) differs. Default false.
	PerformParentingChecks bool `yaml:"perform_parenting_checks"`
	// AuditNote also writes the merge audit (both records' values before the merge) as a note
	// (annotation) on the surviving record, so that CRM users can review it. Default true.
	AuditNote *bool `yaml:"audit_note"`
}

// ActionsReview configures the review action.
type ActionsReview struct {
	// Target is task (default: a task regarding the existing record) or table (a row in the
	// custom table named by Table).
	Target string `yaml:"target"`
	// Table is the logical name of the custom review table (target: table).
	Table string `yaml:"table"`
	// EntitySet is the custom table's entity set name. Default Table + "s".
	EntitySet string `yaml:"entity_set"`
	// Prefix is the publisher prefix of the custom table's columns (see docs/actions.md).
	// Default "dg_".
	Prefix string `yaml:"prefix"`
	// Owner is who the review item is assigned to: "" (default, the application user the gateway
	// runs as), record_owner (the existing record's owner), or a systemuserid or teamid written
	// systemuser:<id> or team:<id>.
	Owner string `yaml:"owner"`
}

// ActionsExceptions configures the "not a duplicate" pairs list.
type ActionsExceptions struct {
	// Store is auto (default: redis when index.backend is redis, else file), redis, file or
	// dataverse (the dismissed review tasks themselves; review.target task only).
	Store string `yaml:"store"`
	// File is the JSON file of the file store, relative to the config file. Default
	// dedupegate-exceptions.json.
	File string `yaml:"file"`
	// Refresh is how often the gateway re-reads the store to learn pairs dismissed elsewhere
	// (the review command, another instance). Default 30s.
	Refresh Duration `yaml:"refresh"`
}

// ActionsRetry configures retries of a failed follow-up (throttling, a refused merge that may
// succeed later, Dataverse unavailable). Errors that cannot succeed on retry (bad request,
// missing record) are recorded at once.
type ActionsRetry struct {
	// Attempts is the total number of tries. Default 5.
	Attempts int `yaml:"attempts"`
	// InitialBackoff is the first wait, doubled each try with jitter. Default 2s. A 429's
	// Retry-After is honoured when longer.
	InitialBackoff Duration `yaml:"initial_backoff"`
	// MaxBackoff caps one wait. Default 2m.
	MaxBackoff Duration `yaml:"max_backoff"`
}

// IsEnabled reports whether follow-ups run.
func (x *Actions) IsEnabled() bool { return x.Enabled == nil || *x.Enabled }

// NotifyOwner reports whether the existing record's owner is notified.
func (x *ActionsNotify) NotifyOwner() bool { return x.Owner == nil || *x.Owner }

// WriteAuditNote reports whether merges leave an audit note on the surviving record.
func (x *ActionsMerge) WriteAuditNote() bool { return x.AuditNote == nil || *x.AuditNote }

func (x *Actions) applyEnv(getenv func(string) string) {}

func (x *Actions) setDefaults() {
	if x.PendingTTL == 0 {
		x.PendingTTL = Duration(time.Hour)
	}
	if x.MaxPending == 0 {
		x.MaxPending = 100000
	}
	if x.Workers == 0 {
		x.Workers = 4
	}
	if x.Queue == 0 {
		x.Queue = 10000
	}
	if x.PendingStore == "" {
		x.PendingStore = "auto"
	}
	if x.Notify.Icon == "" {
		x.Notify.Icon = "warning"
	}
	if x.Notify.Toast == "" {
		x.Notify.Toast = "timed"
	}
	if x.Notify.TTL == 0 {
		x.Notify.TTL = Duration(14 * 24 * time.Hour)
	}
	if x.Merge.Precedence == "" {
		x.Merge.Precedence = "fill_blanks"
	}
	if x.Review.Target == "" {
		x.Review.Target = "task"
	}
	if x.Review.Prefix == "" {
		x.Review.Prefix = "dg_"
	}
	if x.Review.EntitySet == "" && x.Review.Table != "" {
		x.Review.EntitySet = x.Review.Table + "s"
	}
	if x.Exceptions.Store == "" {
		x.Exceptions.Store = "auto"
	}
	if x.Exceptions.File == "" {
		x.Exceptions.File = "dedupegate-exceptions.json"
	}
	if x.Exceptions.Refresh == 0 {
		x.Exceptions.Refresh = Duration(30 * time.Second)
	}
	if x.Retry.Attempts == 0 {
		x.Retry.Attempts = 5
	}
	if x.Retry.InitialBackoff == 0 {
		x.Retry.InitialBackoff = Duration(2 * time.Second)
	}
	if x.Retry.MaxBackoff == 0 {
		x.Retry.MaxBackoff = Duration(2 * time.Minute)
	}
}

var (
	guidRE    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	logicalRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

func (x *Actions) validate() []Problem {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: "actions." + path, Msg: fmt.Sprintf(format, args...)})
	}
	oneOf := func(path, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	if x.PendingTTL.D() < time.Minute {
		add("pending_ttl", "must be at least 1m (asynchronous PostOperation jobs can queue)")
	}
	if x.MaxPending < 1 {
		add("max_pending", "must be positive")
	}
	if x.Workers < 1 || x.Workers > 64 {
		add("workers", "must be between 1 and 64 (Dataverse allows 52 concurrent requests per user)")
	}
	if x.Queue < 1 {
		add("queue", "must be positive")
	}
	oneOf("pending_store", x.PendingStore, "auto", "redis", "memory")
	for i, u := range x.Notify.Users {
		if !guidRE.MatchString(u) {
			add(fmt.Sprintf("notify.users[%d]", i), "%q is not a systemuserid (GUID)", u)
		}
	}
	for i, u := range x.Notify.Teams {
		if !guidRE.MatchString(u) {
			add(fmt.Sprintf("notify.teams[%d]", i), "%q is not a teamid (GUID)", u)
		}
	}
	oneOf("notify.icon", x.Notify.Icon, "info", "success", "failure", "warning", "mention")
	oneOf("notify.toast", x.Notify.Toast, "timed", "hidden")
	if x.Notify.TTL.D() < time.Second {
		add("notify.ttl", "must be at least 1s")
	}
	if x.Notify.Email.From != "" && !guidRE.MatchString(x.Notify.Email.From) {
		add("notify.email.from", "%q is not a systemuserid (GUID)", x.Notify.Email.From)
	}
	oneOf("merge.precedence", x.Merge.Precedence, "keep_target", "fill_blanks", "newest_wins")
	for _, t := range sortedKeys(x.Merge.Columns) {
		switch t {
		case "account", "contact", "lead", "incident":
		default:
			add("merge.columns."+t, "Dataverse merges only account, contact, lead and incident")
		}
		for i, c := range x.Merge.Columns[t] {
			if !logicalRE.MatchString(c) {
				add(fmt.Sprintf("merge.columns.%s[%d]", t, i), "%q is not a column logical name", c)
			}
		}
	}
	oneOf("review.target", x.Review.Target, "task", "table")
	if x.Review.Target == "table" {
		if !logicalRE.MatchString(x.Review.Table) {
			add("review.table", "review.target table needs the custom table's logical name, e.g. dg_duplicatereview")
		}
		if !logicalRE.MatchString(x.Review.Prefix) {
			add("review.prefix", "%q is not a publisher prefix", x.Review.Prefix)
		}
	}
	if o := x.Review.Owner; o != "" && o != "record_owner" {
		kind, id, ok := strings.Cut(o, ":")
		if !ok || (kind != "systemuser" && kind != "team") || !guidRE.MatchString(id) {
			add("review.owner", "%q must be empty, record_owner, systemuser:<id> or team:<id>", o)
		}
	}
	oneOf("exceptions.store", x.Exceptions.Store, "auto", "redis", "file", "dataverse")
	if x.Exceptions.Store == "dataverse" && x.Review.Target != "task" {
		add("exceptions.store", "the dataverse store reads dismissed review tasks: it needs review.target task")
	}
	if x.Exceptions.Refresh.D() < 100*time.Millisecond {
		add("exceptions.refresh", "must be at least 100ms")
	}
	if x.Retry.Attempts < 1 || x.Retry.Attempts > 20 {
		add("retry.attempts", "must be between 1 and 20")
	}
	if x.Retry.InitialBackoff.D() <= 0 {
		add("retry.initial_backoff", "must be positive")
	}
	if x.Retry.MaxBackoff.D() < x.Retry.InitialBackoff.D() {
		add("retry.max_backoff", "must be at least retry.initial_backoff")
	}
	return ps
}
