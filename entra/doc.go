// Package entra validates Microsoft Entra ID (Azure AD) access tokens presented to the check
// API: RS256 signatures checked against the tenant's published signing keys (a cached JSON Web
// Key Set, refreshed periodically and refetched, rate-limited, when a token names an unknown
// key), issuer, audience, expiry, not-before, tenant and object id.
package entra
