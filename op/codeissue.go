package op

// The authorization response of a code flow, issued by the request that completes the sign-in.
//
// Through the library a completed request went back to the browser as a redirect to
// /authorize/callback, whose request read the auth request twice, stored the code in a
// transaction of its own and redirected again to the client. The UI completes a request in
// the transaction that starts the session, in a request whose browser binding it has just
// checked (findFlow), so it can store the code in that same transaction and send the
// browser straight to the client: a round trip, a commit and two reads less per sign-in,
// and the same answer (code, state, iss). /authorize accepts only the code flow in the query
// and fragment modes (authorizeParamsError); anything else would still go through the
// callback.

import (
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	zop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// IssuedCode is an authorization code about to be stored with its completed request.
type IssuedCode struct {
	// Hash and ExpiresAt are what storage.SaveAuthCode takes; the code itself appears only
	// in Redirect.
	Hash      string
	ExpiresAt time.Time
	// Redirect is the authorization response: the client's redirect URI with code, state
	// and iss (RFC 9207), in the query or, when the request asked for it, the fragment.
	Redirect string
}

// codeResponse is the library's CodeResponseType with iss, which issWriter adds to the
// callback's answers.
type codeResponse struct {
	Code  string `schema:"code"`
	State string `schema:"state,omitempty"`
	Iss   string `schema:"iss"`
}

// IssueCode makes the code for ar, a request the caller is about to complete, and the
// response that hands it to the client; ok is false when the request must be answered by
// the callback instead (not a code flow, or a form-post response).
func (p *Provider) IssueCode(ar *storage.AuthRequest) (ic IssuedCode, ok bool) {
	if oidc.ResponseType(ar.ResponseType) != oidc.ResponseTypeCode {
		return ic, false
	}
	switch oidc.ResponseMode(ar.ResponseMode) {
	case "", oidc.ResponseModeQuery, oidc.ResponseModeFragment:
	default:
		return ic, false
	}
	if _, err := url.Parse(ar.RedirectURI); err != nil {
		return ic, false // the callback answers with the library's error
	}
	code := secret.RandomToken(32)
	redirect, err := zop.AuthResponseURL(ar.RedirectURI, oidc.ResponseTypeCode, oidc.ResponseMode(ar.ResponseMode),
		&codeResponse{Code: code, State: ar.State, Iss: p.cfg.Issuer}, p.zop.Encoder())
	if err != nil {
		return ic, false
	}
	return IssuedCode{
		Hash:      secret.HashToken(code),
		ExpiresAt: p.storage.now().Add(p.storage.lifetimes.AuthCode),
		Redirect:  redirect,
	}, true
}
