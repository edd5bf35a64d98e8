// Package dataverse holds what dedupegate knows about Microsoft Dataverse: the wire types of the
// RemoteExecutionContext that a webhook step POSTs, their generic decoder, and (in later files)
// the Web API client used for candidate fallback, row re-reads and step registration.
//
// The decoder follows ../shared/reference/dataverse-facts.md §1.3: the body is parsed
// generically, never into a fixed schema, because Dataverse serialises attribute values as
// plain JSON scalars, `__type`-tagged objects (Entity, EntityReference, OptionSetValue, Money),
// typed primitive wrappers ({"__type":"Guid:#System","__value":…}), arrays and nulls.
package dataverse
