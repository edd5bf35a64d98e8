package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/rules"
)

// In-app notification choice values (MS "Send in-app notifications within model-driven apps").
var (
	iconTypes  = map[string]int{"info": 100000000, "success": 100000001, "failure": 100000002, "warning": 100000003, "mention": 100000004}
	toastTypes = map[string]int{"timed": 200000000, "hidden": 200000001}
)

// Email activity party participation types: 1 sender, 2 To recipient.
const (
	partySender = 1
	partyTo     = 2
)

// notify sends an in-app notification (and optionally an email activity) to each recipient.
// A retry does not repeat what an earlier try already created.
func (r *Runner) notify(ctx context.Context, j job, m rules.Match, o Outcome) {
	var recipients []string
	sent, mailed := map[string]bool{}, map[string]bool{}
	drafts := map[string]string{} // recipient → email activity id, once created
	attempts, err := retry(ctx, r.policy, r.sleep, func(ctx context.Context) error {
		if recipients == nil {
			rs, err := r.recipients(ctx, m)
			if err != nil {
				return err
			}
			recipients = rs
		}
		for _, u := range recipients {
			if sent[u] {
				continue
			}
			if _, err := r.dv.Create(ctx, "appnotification", r.notification(j, m, u)); err != nil {
				return fmt.Errorf("creating the in-app notification: %w", err)
			}
			sent[u] = true
		}
		if !r.cfg.Notify.Email.Enabled {
			return nil
		}
		for _, u := range recipients {
			if mailed[u] {
				continue
			}
			if drafts[u] == "" {
				id, err := r.email(ctx, j, m, u)
				if err != nil {
					return err
				}
				drafts[u] = id
			}
			if r.cfg.Notify.Email.Send {
				path := "emails(" + drafts[u] + ")/Microsoft.Dynamics.CRM.SendEmail"
				if _, err := r.dv.Do(ctx, http.MethodPost, path, map[string]any{"IssueSend": true}, nil); err != nil {
					return fmt.Errorf("sending email %s (created as a draft): %w", drafts[u], err)
				}
			}
			mailed[u] = true
		}
		return nil
	})
	detail := fmt.Sprintf("appnotification to %d user(s)", len(sent))
	if r.cfg.Notify.Email.Enabled {
		detail += fmt.Sprintf(", email to %d", len(mailed))
	}
	switch {
	case err != nil:
		r.record(ctx, o, StatusFailed, attempts, err, detail)
	case len(recipients) == 0:
		r.record(ctx, o, StatusSkipped, attempts, nil, "no recipient: the record's owner has no users and no user or team is configured")
	default:
		r.record(ctx, o, StatusDone, attempts, nil, detail)
	}
}

// recipients lists the systemuserids to notify: the existing record's owner (the members of an
// owning team: Dataverse cannot notify a team), the configured users and the members of the
// configured teams, without repeats.
func (r *Runner) recipients(ctx context.Context, m rules.Match) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.ToLower(id)
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if r.cfg.Notify.NotifyOwner() {
		kind, id, err := r.owner(ctx, m.Entity, m.ID)
		if err != nil {
			return nil, fmt.Errorf("reading the owner of the existing record: %w", err)
		}
		switch kind {
		case "systemuser":
			add(id)
		case "team":
			ms, err := r.teamMembers(ctx, id)
			if err != nil {
				return nil, err
			}
			for _, u := range ms {
				add(u)
			}
		}
	}
	for _, u := range r.cfg.Notify.Users {
		add(u)
	}
	for _, t := range r.cfg.Notify.Teams {
		ms, err := r.teamMembers(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, u := range ms {
			add(u)
		}
	}
	return out, nil
}

// owner returns the kind ("systemuser" or "team") and id of a record's owner: the ownerid
// lookup and its lookuplogicalname annotation (MS: lookup properties carry
// @Microsoft.Dynamics.CRM.lookuplogicalname when the Prefer header asks for it). Without the
// annotation, the id is looked up among teams.
func (r *Runner) owner(ctx context.Context, table, id string) (string, string, error) {
	t, err := r.dv.Table(ctx, table)
	if err != nil {
		return "", "", err
	}
	var row map[string]any
	path := t.EntitySet + "(" + id + ")?$select=_ownerid_value"
	if _, err := r.dv.Do(ctx, http.MethodGet, path, nil, &row,
		dataverse.WithHeader("Prefer", `odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"`)); err != nil {
		if statusOf(err) == http.StatusNotFound {
			return "", "", permanent(err)
		}
		return "", "", err
	}
	ownerID := strings.ToLower(rowStr(row, "_ownerid_value"))
	if ownerID == "" {
		return "", "", nil
	}
	switch rowStr(row, "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname") {
	case "team":
		return "team", ownerID, nil
	case "systemuser":
		return "systemuser", ownerID, nil
	}
	if _, err := r.dv.Get(ctx, "team", ownerID, []string{"teamid"}); err == nil {
		return "team", ownerID, nil
	} else if statusOf(err) != http.StatusNotFound {
		return "", "", err
	}
	return "systemuser", ownerID, nil
}

// teamMembers lists a team's users through the teammembership intersect table.
// UNCONFIRMED: that the Web API lets an application user query teammemberships directly (the
// documented alternative is the teammembership_association collection of the team).
func (r *Runner) teamMembers(ctx context.Context, teamID string) ([]string, error) {
	var out []string
	q := dataverse.Query{Select: []string{"systemuserid"}, Filter: dataverse.Eq("teamid", dataverse.GUID(teamID))}
	err := r.dv.List(ctx, "teammembership", q, func(rows []map[string]any) error {
		for _, row := range rows {
			if u := rowStr(row, "systemuserid"); u != "" {
				out = append(out, u)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the members of team %s: %w", teamID, err)
	}
	return out, nil
}

// notificationText is the title and plain-text body of a notify follow-up.
func notificationText(j job, m rules.Match) (string, string) {
	newName := rules.DisplayName(j.record)
	if newName == "" {
		newName = j.record.Entity + " " + j.id
	}
	oldName := m.Name
	if oldName == "" {
		oldName = m.Entity + " " + m.ID
	}
	who := "a user"
	switch j.fu.EntryPoint {
	case rules.EntryIntegration:
		who = "an integration"
	case rules.EntryImport:
		who = "an import"
	}
	title := truncate(fmt.Sprintf("Possible duplicate %s: %s", j.record.Entity, newName), 200)
	body := fmt.Sprintf("%s was saved by %s and matches your %s %s (rule %s, score %.2f): %s.",
		newName, who, m.Entity, oldName, m.Rule, m.Score, strings.Join(m.Reasons, "; "))
	return title, truncate(body, 2000)
}

// notification is the appnotification row for one recipient.
func (r *Runner) notification(j job, m rules.Match, user string) map[string]any {
	title, body := notificationText(j, m)
	data, _ := json.Marshal(map[string]any{"actions": []map[string]any{
		{"title": "Open the existing record", "data": map[string]any{"url": recordLink(m.Entity, m.ID), "navigationTarget": "newWindow"}},
		{"title": "Open the new record", "data": map[string]any{"url": recordLink(j.record.Entity, j.id), "navigationTarget": "newWindow"}},
	}})
	return map[string]any{
		"title":              title,
		"body":               body,
		"ownerid@odata.bind": "/systemusers(" + user + ")",
		"icontype":           iconTypes[r.cfg.Notify.Icon],
		"toasttype":          toastTypes[r.cfg.Notify.Toast],
		"ttlinseconds":       int(r.cfg.Notify.TTL.D().Seconds()),
		"data":               string(data),
	}
}

// email creates an email activity regarding the existing record, to one user, and returns its
// id.
func (r *Runner) email(ctx context.Context, j job, m rules.Match, user string) (string, error) {
	title, body := notificationText(j, m)
	regarding, err := bind(ctx, r.dv, m.Entity, m.ID)
	if err != nil {
		return "", err
	}
	parties := []map[string]any{{"partyid_systemuser@odata.bind": "/systemusers(" + user + ")", "participationtypemask": partyTo}}
	if f := r.cfg.Notify.Email.From; f != "" {
		parties = append(parties, map[string]any{"partyid_systemuser@odata.bind": "/systemusers(" + strings.ToLower(f) + ")", "participationtypemask": partySender})
	}
	desc := "<p>" + html.EscapeString(body) + "</p>"
	id, err := r.dv.Create(ctx, "email", map[string]any{
		"subject":     title,
		"description": desc,
		"regardingobjectid_" + m.Entity + "@odata.bind": regarding,
		"email_activity_parties":                        parties,
	})
	if err != nil {
		return "", fmt.Errorf("creating the email activity: %w", err)
	}
	return id, nil
}

// truncate cuts s to n runes, marking the cut.
func truncate(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n-1]) + "…"
}
