package op

// JWT access tokens as RFC 9068 has them, and DPoP token responses.
//
// The library signs JWT access tokens itself, always with header typ "JWT"; RFC 9068 §2.1
// wants "at+jwt", so that a resource server cannot take an ID token (or any other JWT of
// ours) for an access token. The library offers no hook for the header, so tokenWriter takes
// the token endpoint's successful answer (the library's and the device grant's alike) and
// signs the access token's payload, unchanged, with the access-token key and typ at+jwt. Its
// claims are already RFC 9068's: iss, sub, aud, exp, iat, jti, client_id from the library,
// scope and, for a DPoP-bound token, cnf.jkt from GetPrivateClaimsFromRequest. The ID token
// in the same answer carries at_hash, the hash of the access token: it is signed with the
// new hash, by the client's ID-token key. With a DPoP proof the answer's token_type is
// "DPoP" (RFC 9449 §5).
//
// Signing everything twice would double the cost of a token answer (an RS256 ID token is a
// millisecond or two). So at this endpoint the library signs drafts: SigningKey hands it a
// throwaway Ed25519 key (requestInfo.draft), and only the signatures made here are
// real. A draft that escaped would verify nowhere: its key is published nowhere. The hottest
// grants of clients with JWT access tokens skip the drafts altogether: client_credentials
// (ccgrant.go), authorization_code (codegrant.go) and refresh_token (refreshgrant.go) build
// their claims and sign once.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// accessTokenType is RFC 9068's JWT header typ.
const accessTokenType = "at+jwt"

// tokenWriter holds back the token endpoint's successful answer until finish rewrites it
// (see above). Error answers pass straight through, except an invalid_grant caused by a
// refused resource indicator, which becomes invalid_target (RFC 8707 §2).
type tokenWriter struct {
	http.ResponseWriter
	p           *Provider
	r           *http.Request
	code        int
	wroteHeader bool
	held        bool
	buf         bytes.Buffer
}

func (w *tokenWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *tokenWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.code = code
	if code == http.StatusOK || (code == http.StatusBadRequest && requestInfoFrom(w.r.Context()).invalidTarget) {
		w.held = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *tokenWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.held {
		return w.buf.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// finish writes the held answer, rewritten. It runs after the handler returned.
func (w *tokenWriter) finish() {
	if !w.held {
		return
	}
	ctx := w.r.Context()
	ri := requestInfoFrom(ctx)
	h := w.ResponseWriter.Header()
	h.Del("Content-Length")
	if w.code != http.StatusOK {
		writeOAuthError(w.ResponseWriter, &oidc.Error{ErrorType: errInvalidTarget,
			Description: "a requested resource is not among those granted"}, http.StatusBadRequest)
		return
	}
	var code string // the ID token's c_hash is over it
	if w.r.PostForm.Get("grant_type") == string(oidc.GrantTypeCode) {
		code = w.r.PostForm.Get("code")
	}
	out, err := w.p.rewriteTokenResponse(ctx, w.buf.Bytes(), ri, code)
	if err != nil {
		// The tokens are issued but cannot be handed out in the right form: ours to fail.
		w.p.cfg.Logger.ErrorContext(ctx, "rewrite token response", "err", err)
		h.Del(dpopNonceHeader)
		writeOAuthError(w.ResponseWriter, oidc.ErrServerError(), http.StatusInternalServerError)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.ResponseWriter.WriteHeader(http.StatusOK)
	_, _ = w.ResponseWriter.Write(out)
}

// rewriteTokenResponse signs a JWT access token as at+jwt and the ID token for real (with
// at_hash of the final access token and c_hash of code, a code exchange's), and types a
// DPoP-bound answer "DPoP". Other members pass through unchanged.
func (p *Provider) rewriteTokenResponse(ctx context.Context, body []byte, ri *requestInfo, code string) ([]byte, error) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	var access string
	if raw, ok := resp["access_token"]; ok {
		if err := json.Unmarshal(raw, &access); err != nil {
			return nil, fmt.Errorf("token response access_token: %w", err)
		}
	}
	changed := false
	if isLibraryJWT(access) {
		at, err := p.resignAccessToken(ctx, access)
		if err != nil {
			return nil, err
		}
		access, changed = at, true
		resp["access_token"], _ = json.Marshal(access)
	}
	if raw, ok := resp["id_token"]; ok && (changed || ri.draft) {
		var idt string
		if err := json.Unmarshal(raw, &idt); err != nil {
			return nil, fmt.Errorf("token response id_token: %w", err)
		}
		alg := ri.idTokenAlg
		if alg == "" {
			alg = string(jose.RS256) // as SigningKey
		}
		idt, err := p.signIDToken(ctx, idt, access, code, alg)
		if err != nil {
			return nil, err
		}
		resp["id_token"], _ = json.Marshal(idt)
		changed = true
	}
	if ri.dpopJKT != "" {
		resp["token_type"], _ = json.Marshal("DPoP")
		changed = true
	}
	if !changed {
		return body, nil
	}
	return json.Marshal(resp)
}

// jwtHeader is the part of a JWS header we read.
type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// splitJWT returns a compact JWS's decoded header and payload.
func splitJWT(tok string) (jwtHeader, []byte, error) {
	var h jwtHeader
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return h, nil, errors.New("not a compact JWS")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return h, nil, fmt.Errorf("JWS header: %w", err)
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, nil, fmt.Errorf("JWS header: %w", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return h, nil, fmt.Errorf("JWS payload: %w", err)
	}
	return h, payload, nil
}

// isLibraryJWT reports whether tok is a JWT as the library signs it (typ JWT); an opaque
// token has no header to read.
func isLibraryJWT(tok string) bool {
	if strings.Count(tok, ".") != 2 {
		return false
	}
	h, _, err := splitJWT(tok)
	return err == nil && h.Typ == "JWT"
}

// resignAccessToken signs the access token's payload, byte for byte, with the current
// access-token key and typ at+jwt. The token came from the library in this very request:
// nothing outside can have touched it, so its draft signature need not be checked.
func (p *Provider) resignAccessToken(ctx context.Context, tok string) (string, error) {
	_, payload, err := splitJWT(tok)
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	return p.sign(ctx, p.cfg.AccessTokenAlg, accessTokenType, payload)
}

// signIDToken signs the ID token's claims with the active key of alg, at_hash (OpenID
// Connect Core §3.1.3.6) computed for the access token the client gets and c_hash (§3.3.2.11)
// for code with alg's hash: the library computed both with the draft key's (SHA-512).
func (p *Provider) signIDToken(ctx context.Context, idt, access, code, alg string) (string, error) {
	h, payload, err := splitJWT(idt)
	if err != nil {
		return "", fmt.Errorf("id token: %w", err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("id token claims: %w", err)
	}
	changed := false
	for claim, of := range map[string]string{"at_hash": access, "c_hash": code} {
		if _, ok := claims[claim]; !ok || of == "" {
			continue
		}
		h, err := oidc.ClaimHash(of, jose.SignatureAlgorithm(alg))
		if err != nil {
			return "", fmt.Errorf("id token %s: %w", claim, err)
		}
		claims[claim], _ = json.Marshal(h)
		changed = true
	}
	if changed {
		if payload, err = json.Marshal(claims); err != nil {
			return "", fmt.Errorf("id token claims: %w", err)
		}
	}
	return p.sign(ctx, alg, h.Typ, payload)
}

// sign signs payload with the active key of alg, with header typ (none when empty).
func (p *Provider) sign(ctx context.Context, alg, typ string, payload []byte) (string, error) {
	k, err := p.storage.signer(ctx, alg)
	if err != nil {
		return "", fmt.Errorf("signing key %s: %w", alg, err)
	}
	if ec, ok := k.Private().(*ecdsa.PrivateKey); ok && k.Alg() == jose.ES256 {
		return compactES256(ec, k.ID(), typ, payload)
	}
	if ed, ok := k.Private().(ed25519.PrivateKey); ok && k.Alg() == jose.EdDSA {
		return compactEdDSA(ed, k.ID(), typ, payload)
	}
	if ps, ok := k.JOSESigner().(payloadSigner); ok && k.Alg() == jose.RS256 {
		return compactRS256(ps, k.ID(), typ, payload)
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg(), Key: &jose.JSONWebKey{Key: k.JOSESigner(), KeyID: k.ID()}}, opts)
	if err != nil {
		return "", fmt.Errorf("signer %s: %w", alg, err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", alg, err)
	}
	return jws.CompactSerialize()
}
