// Package override issues and verifies "Ignore and Save" tokens: the proof that a user (or a
// trusted integration acting for one) saw the duplicates the check API reported and chose to
// save anyway.
//
// A token is HMAC-SHA256 signed, short-lived (10 minutes by default), bound to the user, the
// table, the record id for an update, a digest of the record's watched attributes (the columns
// the table's rules read, normalised) and the matched records (as hashes, so that a token never
// reveals ids its holder may not read). The webhook presents it (from the `tag` shared variable
// or the configured override column) and the engine asks Verify, which refuses a token that is
// malformed, tampered with, expired, another user's, for another table or record, for other
// data, for a save that matches a record the token does not cover, or already used: a token
// saves once.
package override
