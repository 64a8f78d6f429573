package op

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/internal/mfa"
)

// discoveryDoc is the library's discovery document corrected to what we actually serve: the
// library advertises implicit and JWT-bearer grants and hybrid response types, which our
// policy refuses.
type discoveryDoc struct {
	*oidc.DiscoveryConfiguration
	// RFC 9207: we add iss to every authorization response.
	IssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

func (p *Provider) serveDiscovery(next http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	next.ServeHTTP(rec, r)
	var doc oidc.DiscoveryConfiguration
	if rec.status != http.StatusOK || json.Unmarshal(rec.body.Bytes(), &doc) != nil {
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
		return
	}
	doc.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	doc.ResponseModesSupported = []string{"query"}
	doc.ACRValuesSupported = []string{mfa.ACR1FA, mfa.ACRMFA}
	doc.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeDeviceCode}
	doc.RevocationEndpointAuthSigningAlgValuesSupported = nil
	doc.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	doc.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	doc.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	body, err := json.Marshal(discoveryDoc{DiscoveryConfiguration: &doc, IssParameterSupported: true})
	if err != nil {
		http.Error(w, "discovery unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// bufferedWriter captures a handler's response so it can be rewritten.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedWriter) WriteHeader(code int)        { b.status = code }
