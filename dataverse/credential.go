package dataverse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/dedupegate/dedupegate/config"
)

// NewCredential builds the token source that config.DataverseAuth selects:
//
//	client_secret       azidentity.ClientSecretCredential (tenant_id, client_id, client_secret)
//	client_certificate  azidentity.ClientCertificateCredential (PEM or PKCS#12 at certificate_path)
//	managed_identity    azidentity.ManagedIdentityCredential (client_id selects a user-assigned identity)
//	workload_identity   azidentity.WorkloadIdentityCredential (AZURE_* variables as set by the
//	                    Kubernetes webhook; tenant_id/client_id override them)
//	default             azidentity.DefaultAzureCredential (environment, workload identity,
//	                    managed identity, Azure CLI, ...)
//	static_token        a fixed bearer token: for the emulator and tests only
//
// azidentity caches tokens and refreshes them before they expire, so asking for a token on
// every request costs nothing when the cached one is still good (dataverse-facts.md §9).
func NewCredential(a config.DataverseAuth) (azcore.TokenCredential, error) {
	switch a.Method {
	case "client_secret":
		if a.TenantID == "" || a.ClientID == "" || a.ClientSecret == "" {
			return nil, errors.New("client_secret needs tenant_id, client_id and client_secret")
		}
		return azidentity.NewClientSecretCredential(a.TenantID, a.ClientID, a.ClientSecret.Value(), nil)
	case "client_certificate":
		if a.TenantID == "" || a.ClientID == "" || a.CertificatePath == "" {
			return nil, errors.New("client_certificate needs tenant_id, client_id and certificate_path")
		}
		data, err := os.ReadFile(a.CertificatePath)
		if err != nil {
			return nil, fmt.Errorf("reading the client certificate: %w", err)
		}
		certs, key, err := azidentity.ParseCertificates(data, nil)
		if err != nil {
			return nil, fmt.Errorf("parsing the client certificate %s: %w", a.CertificatePath, err)
		}
		return azidentity.NewClientCertificateCredential(a.TenantID, a.ClientID, certs, key, nil)
	case "managed_identity":
		var opts *azidentity.ManagedIdentityCredentialOptions
		if a.ClientID != "" {
			opts = &azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(a.ClientID)}
		}
		return azidentity.NewManagedIdentityCredential(opts)
	case "workload_identity":
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			TenantID: a.TenantID, ClientID: a.ClientID,
		})
	case "default", "":
		return azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{TenantID: a.TenantID})
	case "static_token":
		if a.Token == "" {
			return nil, errors.New("static_token needs a token")
		}
		return StaticToken(a.Token.Value()), nil
	}
	return nil, fmt.Errorf("unknown dataverse auth method %q", a.Method)
}

// StaticToken is a fixed bearer token, for the emulator and tests. It never expires.
type StaticToken string

// GetToken implements azcore.TokenCredential.
func (s StaticToken) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(24 * time.Hour)}, nil
}

// String keeps the token out of logs and error messages.
func (s StaticToken) String() string { return "[redacted]" }

// GoString keeps the token out of %#v.
func (s StaticToken) GoString() string { return "[redacted]" }
