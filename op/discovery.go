package op

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

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
	// RFC 9126: pushed authorization requests, required per client (require_par), not for all.
	PAREndpoint string `json:"pushed_authorization_request_endpoint"`
	RequirePAR  bool   `json:"require_pushed_authorization_requests"`
	// RFC 9449: the DPoP proof algorithms accepted, exactly (see dpopAlgs).
	DPoPAlgs []string `json:"dpop_signing_alg_values_supported"`
}

// serveDiscovery answers from bytes made once: the document depends only on the issuer and
// the configuration, so building it per request (the library's handler, then our rewrite)
// was most of the cost of a discovery request.
func (p *Provider) serveDiscovery(next http.Handler, w http.ResponseWriter, r *http.Request) {
	p.discoveryOnce.Do(func() { p.discovery = p.buildDiscovery(next, r) })
	if p.discovery == nil {
		// The library's document could not be read: answer as it would, uncached.
		next.ServeHTTP(w, r)
		return
	}
	serveStatic(w, r, p.discovery)
}

// buildDiscovery runs the library's discovery handler once and corrects its document.
func (p *Provider) buildDiscovery(next http.Handler, r *http.Request) *staticDoc {
	rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	next.ServeHTTP(rec, r)
	var doc oidc.DiscoveryConfiguration
	if rec.status != http.StatusOK || json.Unmarshal(rec.body.Bytes(), &doc) != nil {
		return nil
	}
	doc.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	doc.ResponseModesSupported = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFragment)}
	doc.ACRValuesSupported = []string{mfa.ACR1FA, mfa.ACRMFA}
	doc.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeDeviceCode}
	// private_key_jwt (RFC 7523) at every endpoint that authenticates clients, with the
	// asymmetric algorithms preClientAssertion accepts.
	doc.TokenEndpointAuthSigningAlgValuesSupported = assertionAlgNames()
	doc.RevocationEndpointAuthSigningAlgValuesSupported = assertionAlgNames()
	doc.IntrospectionEndpointAuthSigningAlgValuesSupported = assertionAlgNames()
	doc.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT}
	doc.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone, oidc.AuthMethodPrivateKeyJWT}
	doc.RegistrationEndpoint = p.cfg.RegistrationEndpoint
	body, err := json.Marshal(discoveryDoc{DiscoveryConfiguration: &doc, IssParameterSupported: true,
		PAREndpoint: strings.TrimSuffix(p.cfg.Issuer, "/") + "/par", DPoPAlgs: dpopAlgNames()})
	if err != nil {
		return nil
	}
	return newStaticDoc(body)
}

// staticDoc is a JSON document served as is, with a strong ETag.
type staticDoc struct {
	body []byte
	etag string
}

func newStaticDoc(body []byte) *staticDoc {
	sum := sha256.Sum256(body)
	return &staticDoc{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
}

// serveStatic writes d, or 304 when the client already holds it (If-None-Match).
func serveStatic(w http.ResponseWriter, r *http.Request, d *staticDoc) {
	h := w.Header()
	h.Set("ETag", d.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, d.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(d.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(d.body)
}

// serveJWKS answers from the bytes of the current key set, rebuilt only when the set
// changes (a rotation): the keys are in memory already, only the JSON was made per request.
// The set is at most a second old (keys.Manager.PublishedKeys): a key another instance made
// by a forced rotation, and signs with already, is published here too.
func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) bool {
	keys, err := p.cfg.Keys.PublishedKeys(r.Context())
	if err != nil {
		return false // the library answers (and the fault mapping with it)
	}
	var ids strings.Builder
	for _, k := range keys {
		ids.WriteString(k.KeyID)
		ids.WriteByte(0)
	}
	p.jwksMu.Lock()
	doc := p.jwks
	if doc == nil || p.jwksIDs != ids.String() {
		body, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			p.jwksMu.Unlock()
			return false
		}
		doc = newStaticDoc(body)
		p.jwks, p.jwksIDs = doc, ids.String()
	}
	p.jwksMu.Unlock()
	serveStatic(w, r, doc)
	return true
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
