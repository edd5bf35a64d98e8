// Package gateway wires dedupegate from its configuration: the rules, the candidate index, the
// Dataverse client, the engine and the HTTP doors (webhook, health, and the parts other
// packages add). serve and sandbox both build their server here, and end-to-end tests start it
// on loopback the same way.
package gateway
