package config

import (
	"strings"
	"testing"
	"time"
)

func TestActionsDefaults(t *testing.T) {
	c := Default()
	a := c.Actions
	if !a.IsEnabled() || !a.Notify.NotifyOwner() || !a.Merge.WriteAuditNote() {
		t.Fatalf("defaults off: %+v", a)
	}
	if a.Merge.Precedence != "fill_blanks" || a.Review.Target != "task" || a.Exceptions.Store != "auto" ||
		a.PendingTTL.D() != time.Hour || a.Retry.Attempts != 5 || a.Notify.TTL.D() != 14*24*time.Hour {
		t.Fatalf("defaults: %+v", a)
	}
	if ps := a.validate(); len(ps) != 0 {
		t.Fatalf("defaults invalid: %v", ps)
	}
}

func TestActionsExampleConfigLoads(t *testing.T) {
	c, err := Load("../configs/dedupegate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Actions.Merge.Precedence != "fill_blanks" || c.Actions.Exceptions.Refresh.D() != 30*time.Second {
		t.Fatalf("example actions section: %+v", c.Actions)
	}
}

func TestActionsProblems(t *testing.T) {
	const head = "webhook:\n  auth:\n    secrets: [aaaaaaaaaaaaaaaaaaaa]\nactions:\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"precedence", "  merge:\n    precedence: random\n", "actions.merge.precedence"},
		{"unmergeable table", "  merge:\n    columns:\n      task: [subject]\n", "actions.merge.columns.task: Dataverse merges only"},
		{"bad column", "  merge:\n    columns:\n      contact: [\"First Name\"]\n", "actions.merge.columns.contact[0]"},
		{"custom table without name", "  review:\n    target: table\n", "actions.review.table"},
		{"bad owner", "  review:\n    owner: bob\n", "actions.review.owner"},
		{"user not a guid", "  notify:\n    users: [bob]\n", "actions.notify.users[0]"},
		{"icon", "  notify:\n    icon: smiley\n", "actions.notify.icon"},
		{"dataverse store needs tasks", "  review:\n    target: table\n    table: dg_review\n  exceptions:\n    store: dataverse\n", "actions.exceptions.store"},
		{"short ttl", "  pending_ttl: 10s\n", "actions.pending_ttl"},
		{"retry attempts", "  retry:\n    attempts: 50\n", "actions.retry.attempts"},
		{"unknown key", "  merge:\n    presedence: keep_target\n", "presedence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(head+tt.yaml), "x.yaml", func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
