package op

import (
	"context"

	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// requestInfo carries what storage callbacks need to know about the HTTP request; zitadel's
// storage interface never sees the request itself.
type requestInfo struct {
	// browserHash is the SHA-256 of the browser-binding cookie (set on /authorize).
	browserHash string
	userAgent   string
	ip          string
	deviceName  string
	// deviceID is the installation's stable id (device_id), for licence seats (issue 14).
	deviceID string
	// issuedGrant is the grant a device-grant token response was issued from, so the ID
	// token's licences claim knows the installation.
	issuedGrant *storage.Grant
	// codeLicences is the licences claim of a code exchange, computed in the transaction
	// that used the code (codeLicences); nil when not computed.
	codeLicences []licence.Entitlement
	// pushed marks an authorization request whose parameters came from /par (RFC 9126).
	pushed bool
	// pushedHash and pushedClient name that pushed request, taken by CreateAuthRequest in
	// the transaction that stores the auth request (single use, see takePushed).
	pushedHash, pushedClient string
	// hintEmail is the email claim of a (shape-checked) id_token_hint, offered on the
	// sign-in page when the hinted person must sign in.
	hintEmail string
	// tokenUser is the user the tokens of this request are for, read with what they are
	// issued from (the code, by AuthRequestByCode before the code is used; the refresh
	// token, with its grant), so that building the ID token needs no read (fillUserinfo).
	tokenUser *storage.User
	// tokenPhone is tokenUser's verified number (nil: none), read with it when the scopes
	// ask for the phone claims (tokenPhoneRead), for the same reason.
	tokenPhone     *storage.Phone
	tokenPhoneRead bool
	// idTokenAlg is filled by GetClientByClientID so that SigningKey can honour the client's
	// registered algorithm within the same request.
	idTokenAlg string
	// signingAccessToken marks the next SigningKey call as the one for a JWT access token
	// (set by GetPrivateClaimsFromRequest, cleared by SigningKey).
	signingAccessToken bool
	// postLogoutURI and state are the raw end_session parameters, passed on to the logout
	// page when there is no id_token_hint.
	postLogoutURI string
	state         string
	// sessionHash is the SHA-256 of the browser's session cookie at end_session.
	sessionHash string
	// device is the consumed device code whose tokens are being issued (device grant).
	device *storage.DeviceCode
	// client memoises the client read during this request: a token request reads it for
	// authentication, policy, and each token's lifetime.
	client *storage.Client
	// accessGrant is the grant named by the access token being issued when it has no row
	// (mintAccessToken): GetPrivateClaimsFromRequest signs it into the token (gid).
	accessGrant string
	// verifiedAccessToken is the payload of the JWT access token whose signature the library
	// verified in this request (see capturingKeySet): the claims of a stateless token.
	verifiedAccessToken []byte
	// storeFailed is a store failure met while deciding whether a token is active: the answer
	// is then ours to fail (503), not "inactive" (see introspectWriter).
	storeFailed error
	// authenticatedClient is the client preClientAuth authenticated for this request, so
	// that the endpoint's own check (checkClient) does not hash its secret again.
	authenticatedClient *client
	// assertedClient is the client this request authenticated by a verified
	// private_key_jwt assertion (see clientauth.go); "" when it did not.
	assertedClient string
	// dpopJKT is the thumbprint of the key of this request's valid DPoP proof (RFC 9449):
	// at the token endpoint the tokens get bound to it, at userinfo it must be the token's.
	dpopJKT string
	// dpopScheme: the access token came as Authorization: DPoP (userinfo).
	dpopScheme bool
	// resources are the token request's resource indicators (RFC 8707), already checked
	// against the client's registration; they narrow the tokens' audience.
	resources []string
	// invalidTarget: a resource was refused after the library took over; the token writer
	// answers invalid_target instead of the library's invalid_grant.
	invalidTarget bool
	// draft, set at the token endpoint, has the library sign its JWTs with a throwaway key:
	// the token writer signs them for real (see atjwt.go), so each costs one real signature,
	// not two.
	draft bool
	// signers are the signing keys of this token request's tokens (access token and ID
	// token), read before the code or refresh token is used (holdSigners): a key reload that
	// fails after that would leave the client a used code or a rotated token for our failure.
	signers map[string]*keys.Key
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, ri *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

func requestInfoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	if ri == nil {
		return &requestInfo{}
	}
	return ri
}
