// Package actions runs the business follow-ups of the notify, merge and review rule actions,
// and keeps the "not a duplicate" exceptions list.
//
// A follow-up cannot run when the engine decides: at PreValidation the new record of a Create
// has no id yet, and the save may still fail. So the Runner works in two steps:
//
//  1. As a rules.Observer it receives every decision. When the save is allowed and a match at
//     block level carries notify, merge or review, it records a pending follow-up keyed by the
//     decision's correlation id (Observe only touches memory: it never slows a decision).
//  2. As a webhook.ChangeHandler it receives the committed PostOperation Create or Update with
//     the same correlation id — now the record exists and has its id — and queues the
//     follow-up for a background worker. HandleChange returns at once: the webhook's answer
//     never waits for Dataverse calls.
//
// Workers then, per match: notify (an appnotification per recipient: the existing record's
// owner and configured users or team members, optionally an email activity); merge (Dataverse's
// Merge action, the existing record surviving, after re-reading and re-scoring both records —
// never below the rule's merge threshold — and auditing both records' values); review (a task
// regarding the existing record, or a row of a configured table, listing the pair, scores and
// reasons). Failed calls are retried with backoff and then recorded (Recorder: a log line, a
// counter, the audit trail); a merge that keeps failing is routed to review. A follow-up whose
// PostOperation never arrives is recorded as expired. Nothing is dropped silently.
//
// Exceptions is the in-memory "not a duplicate" set the engine consults (rules.Exceptions),
// backed by a store shared with the review command and other instances: a Redis set, a JSON
// file, or the dismissed review tasks in Dataverse.
package actions
