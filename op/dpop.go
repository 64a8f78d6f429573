package op

// DPoP: sender-constrained tokens (RFC 9449).
//
// A client proves possession of a private key by sending, with each request, a DPoP proof:
// a JWT of typ dpop+jwt carrying the public key in its header and naming the request's method
// (htm) and URL (htu), with a fresh jti and iat, and at a resource the hash of the access
// token (ath). A token request with a valid proof gets tokens bound to the key's thumbprint
// (cnf.jkt): the access token is then useless without a proof by the same key, and so is a
// public client's refresh token.
//
// Replay: the jti of every accepted proof is remembered (storage.ReplayStore, shared by all
// instances) for as long as the proof's iat lets it be accepted. Nonces (§8): the token
// endpoint demands one in every proof and hands it out in DPoP-Nonce. A nonce is an HMAC over
// a time slot under a key derived from the master key, so any instance recognises another's
// without shared state; it is good for its slot and the next. This bounds how long a proof
// made in advance (by a compromised client that can sign but not keep the key) stays usable.

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/myaccount/myaccount/internal/fault"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/subkey"
	"github.com/myaccount/myaccount/storage"
)

const (
	dpopHeader      = "DPoP"
	dpopNonceHeader = "DPoP-Nonce"
	// A proof is accepted from its iat until dpopMaxAge later, and up to dpopMaxAhead before
	// it (clocks of clients run fast).
	dpopMaxAge   = time.Minute
	dpopMaxAhead = 5 * time.Second
	// dpopNonceSlot is the life of a nonce: it is good in its slot and the next one.
	dpopNonceSlot = 5 * time.Minute
	// dpopMaxLen bounds the header before any parsing (a 4096-bit RSA key's proof is ~1.5 kB).
	dpopMaxLen = 4096
	// dpopMinRSABits refuses weak RSA keys (RFC 7518 §3.3 asks for 2048 at least).
	dpopMinRSABits = 2048

	errInvalidDPoPProof = "invalid_dpop_proof"
	errUseDPoPNonce     = "use_dpop_nonce"
)

// dpopAlgs are the proof algorithms accepted, and exactly those advertised in discovery
// (dpop_signing_alg_values_supported): asymmetric ones only, so "none" and HS256 are refused
// by the parser itself.
var dpopAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.PS256, jose.EdDSA}

// dpopAlgNames lists dpopAlgs for discovery.
func dpopAlgNames() []string {
	names := make([]string, len(dpopAlgs))
	for i, a := range dpopAlgs {
		names[i] = string(a)
	}
	return names
}

// newDPoPVerifier makes the provider's proof checker, with the nonce key derived from the
// master key.
func newDPoPVerifier(cfg Config) (*dpopVerifier, error) {
	d, err := subkey.New(cfg.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("dpop nonce key: %w", err)
	}
	return &dpopVerifier{store: cfg.Store, nonceKey: d.Key(subkey.DPoPNonce), now: cfg.Now}, nil
}

// dpopCheck is what a proof must match.
type dpopCheck struct {
	method string
	url    string // the issuer-based URL of the endpoint, without query or fragment
	// accessToken, when set, must be hashed in the proof's ath (a resource request).
	accessToken string
	// requireNonce demands a nonce of ours (the token endpoint).
	requireNonce bool
}

// dpopClaims are a proof's claims (RFC 9449 §4.2).
type dpopClaims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"`
	ATH   string          `json:"ath"`
	Nonce string          `json:"nonce"`
}

// dpopVerifier checks proofs and makes nonces.
type dpopVerifier struct {
	store    storage.ReplayStore
	nonceKey []byte
	now      func() time.Time
}

// invalidProof and useNonce are refused proofs, in the protocol's words.
func invalidProof(desc string) *oidc.Error {
	return &oidc.Error{ErrorType: errInvalidDPoPProof, Description: desc}
}

func useNonce(desc string) *oidc.Error {
	return &oidc.Error{ErrorType: errUseDPoPNonce, Description: desc}
}

// endpointURL is the issuer-based URL of path: proofs are compared against it, never against
// the Host header (which a proxy or an attacker chooses).
func endpointURL(issuer, path string) string {
	return strings.TrimSuffix(issuer, "/") + path
}

// verify checks one proof (the DPoP header's value) and returns its key's RFC 7638
// thumbprint. A proof that is not good is an *oidc.Error (invalid_dpop_proof or
// use_dpop_nonce); err is a failure of ours (the replay store), never the client's.
func (v *dpopVerifier) verify(ctx context.Context, proof string, c dpopCheck) (jkt string, oerr *oidc.Error, err error) {
	if proof == "" || len(proof) > dpopMaxLen {
		return "", invalidProof("the DPoP proof is missing or too long"), nil
	}
	jws, perr := jose.ParseSignedCompact(proof, dpopAlgs)
	if perr != nil || len(jws.Signatures) != 1 {
		return "", invalidProof("the DPoP proof is not a JWS signed with " + strings.Join(dpopAlgNames(), ", ")), nil
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return "", invalidProof("the DPoP proof's typ must be dpop+jwt"), nil
	}
	key := h.JSONWebKey
	if key == nil || !key.Valid() || !key.IsPublic() {
		return "", invalidProof("the DPoP proof's jwk must be a public key"), nil
	}
	if rk, ok := key.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < dpopMinRSABits {
		return "", invalidProof("the DPoP proof's RSA key is too short"), nil
	}
	payload, verr := jws.Verify(key)
	if verr != nil {
		return "", invalidProof("the DPoP proof's signature does not verify with its jwk"), nil
	}
	var cl dpopClaims
	if json.Unmarshal(payload, &cl) != nil {
		return "", invalidProof("the DPoP proof's claims cannot be read"), nil
	}
	now := v.now()
	iat, ok := unixSeconds(cl.IAT)
	switch {
	case cl.JTI == "" || len(cl.JTI) > 256:
		return "", invalidProof("the DPoP proof needs a jti"), nil
	case cl.HTM != c.method:
		return "", invalidProof("the DPoP proof is for another HTTP method (htm)"), nil
	case !sameHTU(cl.HTU, c.url):
		return "", invalidProof("the DPoP proof is for another URL (htu)"), nil
	case !ok:
		return "", invalidProof("the DPoP proof needs a numeric iat"), nil
	case iat.After(now.Add(dpopMaxAhead)) || now.Sub(iat) > dpopMaxAge:
		return "", invalidProof("the DPoP proof's iat is too old or in the future"), nil
	}
	if c.accessToken != "" {
		sum := sha256.Sum256([]byte(c.accessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(cl.ATH), []byte(want)) != 1 {
			return "", invalidProof("the DPoP proof's ath does not match the access token"), nil
		}
	}
	if (c.requireNonce || cl.Nonce != "") && !v.validNonce(cl.Nonce, now) {
		return "", useNonce("the DPoP proof must carry the nonce given in the DPoP-Nonce header"), nil
	}
	tp, terr := key.Thumbprint(crypto.SHA256)
	if terr != nil {
		return "", invalidProof("the DPoP proof's jwk has no thumbprint"), nil
	}
	jkt = base64.RawURLEncoding.EncodeToString(tp)
	// Last, so that a bad proof writes nothing. Per key: one client cannot use up another's jti.
	hash := secret.HashToken(jkt + " " + cl.JTI)
	fresh, err := v.store.RememberJTI(ctx, storage.ReplayDPoP, hash, iat.Add(dpopMaxAge))
	if err == nil && !fresh {
		return "", invalidProof("the DPoP proof was used before (jti)"), nil
	}
	// Used up by a request that then fails on our side, the proof is given back: the
	// client's retry of that request is no replay. So is a proof whose remembering failed:
	// the insert may have committed with its answer lost.
	fault.OnFailure(ctx, func(ctx context.Context) error { return v.store.ForgetJTI(ctx, storage.ReplayDPoP, hash) })
	if err != nil {
		return "", nil, fmt.Errorf("dpop replay check: %w", err)
	}
	return jkt, nil, nil
}

// unixSeconds reads a NumericDate (RFC 7519 §2), which may have a fraction.
func unixSeconds(raw json.RawMessage) (time.Time, bool) {
	var f float64
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &f) != nil || f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(f * 1000)), true
}

// sameHTU compares a proof's htu with the endpoint's URL as RFC 9449 §4.3 says: without query
// and fragment, scheme and host case-insensitively (RFC 3986 §6.2.2.1), default ports dropped.
func sameHTU(htu, want string) bool {
	a, err1 := url.Parse(htu)
	b, err2 := url.Parse(want)
	if err1 != nil || err2 != nil || a.Opaque != "" || a.User != nil {
		return false
	}
	norm := func(u *url.URL) string {
		scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
		host = strings.TrimSuffix(host, map[string]string{"https": ":443", "http": ":80"}[scheme])
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		return scheme + "://" + host + path
	}
	return norm(a) == norm(b)
}

// nonce returns the DPoP-Nonce of now's slot.
func (v *dpopVerifier) nonce(now time.Time) string {
	return v.nonceFor(now.Unix() / int64(dpopNonceSlot/time.Second))
}

func (v *dpopVerifier) nonceFor(slot int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(slot))
	m := hmac.New(sha256.New, v.nonceKey)
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(append(b[:], m.Sum(nil)[:16]...))
}

// validNonce accepts a nonce of now's slot or the one before.
func (v *dpopVerifier) validNonce(n string, now time.Time) bool {
	raw, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(raw) != 24 {
		return false
	}
	slot := int64(binary.BigEndian.Uint64(raw[:8]))
	cur := now.Unix() / int64(dpopNonceSlot/time.Second)
	if slot != cur && slot != cur-1 {
		return false
	}
	return hmac.Equal([]byte(n), []byte(v.nonceFor(slot)))
}

// writeDPoPError answers a refused proof at the token endpoint (RFC 9449 §5.10, §8): 400
// with the error, and a fresh nonce. It carries the CORS headers the library would add: a
// browser app must be able to read use_dpop_nonce and the nonce to retry.
func (p *Provider) writeDPoPError(w http.ResponseWriter, r *http.Request, oerr *oidc.Error) {
	p.cors.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(dpopNonceHeader, p.dpopv.nonce(p.cfg.Now()))
		writeOAuthError(w, oerr, http.StatusBadRequest)
	})).ServeHTTP(w, r)
}

// writeOAuthError writes err as the RFC 6749 §5.2 JSON body with status.
func writeOAuthError(w http.ResponseWriter, err *oidc.Error, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": string(err.ErrorType), "error_description": err.Description})
}

// preTokenDPoP checks the DPoP proof of a token request whose client c authenticated: a
// valid proof's key thumbprint goes into requestInfo (the tokens are bound to it); a client
// registered with dpop_bound_access_tokens must send one. It reports whether the request may
// go on (it answered otherwise).
func (p *Provider) preTokenDPoP(w http.ResponseWriter, r *http.Request, c *storage.Client) bool {
	proofs := r.Header.Values(dpopHeader)
	if len(proofs) == 0 {
		if c != nil && c.DPoPBoundAccessTokens {
			p.writeDPoPError(w, r, invalidProof("this client must send a DPoP proof"))
			return false
		}
		return true
	}
	if len(proofs) > 1 {
		p.writeDPoPError(w, r, invalidProof("send exactly one DPoP header"))
		return false
	}
	jkt, oerr, err := p.dpopv.verify(r.Context(), proofs[0], dpopCheck{
		method: http.MethodPost, url: endpointURL(p.cfg.Issuer, "/oauth/token"), requireNonce: true,
	})
	if err != nil {
		// Ours: the fault mapping (the store guard recorded it) answers 503.
		p.cfg.Logger.ErrorContext(r.Context(), "dpop proof", "err", err)
		writeOAuthError(w, oidc.ErrServerError(), http.StatusInternalServerError)
		return false
	}
	if oerr != nil {
		p.writeDPoPError(w, r, oerr)
		return false
	}
	requestInfoFrom(r.Context()).dpopJKT = jkt
	// The next proof needs a nonce: hand out the current one with the answer.
	w.Header().Set(dpopNonceHeader, p.dpopv.nonce(p.cfg.Now()))
	return true
}

// preUserinfoDPoP handles Authorization: DPoP at /userinfo (RFC 9449 §7): the proof must be
// by the key, for this request, with the token's ath. The header is then handed to the
// library as Bearer (it knows no other scheme), and requestInfo says which key proved it:
// SetUserinfoFromToken compares it with the token's binding, and refuses a bound token that
// came as Bearer. It reports whether the request may go on.
func (p *Provider) preUserinfoDPoP(w http.ResponseWriter, r *http.Request, ri *requestInfo) bool {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, dpopHeader) {
		return true // Bearer (or none): a DPoP header beside it proves nothing and is ignored
	}
	ri.dpopScheme = true
	token = strings.TrimSpace(token)
	fail := func(oerr *oidc.Error) bool {
		p.cors.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("WWW-Authenticate", dpopChallenge(p.cfg.Issuer, string(oerr.ErrorType), oerr.Description))
			if oerr.ErrorType == errUseDPoPNonce {
				w.Header().Set(dpopNonceHeader, p.dpopv.nonce(p.cfg.Now()))
			}
			writeOAuthError(w, oerr, http.StatusUnauthorized)
		})).ServeHTTP(w, r)
		return false
	}
	proofs := r.Header.Values(dpopHeader)
	if token == "" || len(proofs) != 1 {
		return fail(invalidProof("send the access token with exactly one DPoP proof"))
	}
	jkt, oerr, err := p.dpopv.verify(r.Context(), proofs[0], dpopCheck{
		method: r.Method, url: endpointURL(p.cfg.Issuer, r.URL.Path), accessToken: token,
	})
	if err != nil {
		p.cfg.Logger.ErrorContext(r.Context(), "dpop proof", "err", err)
		writeOAuthError(w, oidc.ErrServerError(), http.StatusInternalServerError)
		return false
	}
	if oerr != nil {
		return fail(oerr)
	}
	ri.dpopJKT = jkt
	r.Header.Set("Authorization", "Bearer "+token)
	return true
}

// dpopChallenge is the WWW-Authenticate value of a DPoP resource refusal (RFC 9449 §7.1).
func dpopChallenge(issuer, code, desc string) string {
	c := `DPoP realm="` + issuer + `", algs="` + strings.Join(dpopAlgNames(), " ") + `"`
	if code != "" {
		c += `, error="` + code + `", error_description="` + desc + `"`
	}
	return c
}

// checkTokenBinding decides whether at may be used in this resource request: a token bound
// to a key needs a proof by that key under the DPoP scheme; an unbound one must come as
// Bearer (a DPoP proof cannot vouch for a token not bound to its key).
func checkTokenBinding(ri *requestInfo, at *storage.AccessToken) error {
	switch {
	case at.DPoPJKT == "" && !ri.dpopScheme:
		return nil
	case at.DPoPJKT == "":
		return fmt.Errorf("access token is not DPoP-bound but came with the DPoP scheme: %w", errInvalid)
	case !ri.dpopScheme || ri.dpopJKT == "":
		return fmt.Errorf("DPoP-bound access token sent as Bearer: %w", errInvalid)
	case subtle.ConstantTimeCompare([]byte(ri.dpopJKT), []byte(at.DPoPJKT)) != 1:
		return fmt.Errorf("DPoP proof by another key than the token's: %w", errInvalid)
	}
	return nil
}

// cnfJKT reads cnf.jkt from a JWT access token's claims ("" when absent).
func cnfJKT(claims map[string]any) string {
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}
