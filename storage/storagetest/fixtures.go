package storagetest

import (
	"testing"
	"time"

	"github.com/myaccount/myaccount/storage"
)

// The fixtures fill every field with a distinct non-zero value, so a column that is not
// written or read back shows up as a difference.

func newUser(id string) *storage.User {
	t := base()
	return &storage.User{
		ID: id, Email: id + "@Example.com", EmailNormalized: id + "@example.com", EmailVerified: true,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", Status: storage.UserActive,
		Name: "Name " + id, Locale: "fr-CH", ZoneInfo: "Europe/Zurich", Country: "CH", Region: "VD",
		DateFormat: "dd.MM.yyyy", CreatedAt: t, UpdatedAt: t.Add(time.Minute),
		ActivatedAt: ptr(t.Add(2 * time.Minute)), ReminderSentAt: ptr(t.Add(3 * time.Minute)),
		LockedUntil: ptr(t.Add(4 * time.Minute)), LockoutCount: 3, PreferredMFA: storage.MFAWebAuthn,
	}
}

func newClient(id string) *storage.Client {
	t := base()
	return &storage.Client{
		ID: id, SecretHash: "secret-hash-" + id, Name: "Client " + id, Type: storage.ClientConfidential,
		RedirectURIs:           []string{"https://" + id + ".example/cb", "https://" + id + ".example/cb2"},
		PostLogoutRedirectURIs: []string{"https://" + id + ".example/bye"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		Scopes:                 []string{"calendar.read"},
		FirstParty:             true, AccessTokenFormat: storage.TokenFormatOpaque, IDTokenAlg: "ES256",
		AccessTokenTTL: 15 * time.Minute, IDTokenTTL: time.Hour, RefreshTokenTTL: 30 * 24 * time.Hour,
		RequireMFA: true, CreatedAt: t, UpdatedAt: t.Add(time.Second),
		TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT, JWKSURI: "https://" + id + ".example/jwks",
		JWKS: `{"keys":[]}`, BackchannelLogoutURI: "https://" + id + ".example/bcl",
		BackchannelLogoutSessionRequired: true, RequirePAR: true, DPoPBoundAccessTokens: true,
		Resources: []string{"https://api." + id + ".example/"},
	}
}

// newAuthRequest is pending and expires an hour from the real now, because GetAuthRequest
// and CompleteAuthRequest judge expiry by the store's clock.
func newAuthRequest(id, clientID string) *storage.AuthRequest {
	now := wallNow()
	return &storage.AuthRequest{
		ID: id, ClientID: clientID, RedirectURI: "https://" + clientID + ".example/cb",
		State: "state-" + id, Nonce: "nonce-" + id, Scopes: []string{"openid", "email", "profile"},
		ResponseType: "code", ResponseMode: "query", CodeChallenge: "challenge-" + id,
		CodeChallengeMethod: "S256", Prompt: []string{"login", "consent"}, MaxAge: ptr(int64(600)),
		UILocales: []string{"fr-CH", "en"}, LoginHint: "hint@example.com", HintSubject: "hinted-" + id,
		ACRValues:  []string{"urn:mfa"},
		DeviceName: "Pixel", BrowserHash: "browser-" + id,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
}

func newSession(id, userID string) *storage.Session {
	t := base()
	return &storage.Session{
		ID: id, TokenHash: "token-" + id, UserID: userID, AuthTime: t.Add(-time.Minute),
		AMR: []string{"pwd", "otp"}, ACR: "urn:mfa", UserAgent: "Firefox", IP: "192.0.2.1",
		CreatedAt: t, LastSeenAt: t.Add(time.Second), ExpiresAt: t.Add(24 * time.Hour),
	}
}

func newGrant(id, userID, clientID string) *storage.Grant {
	t := base()
	return &storage.Grant{
		ID: id, UserID: userID, ClientID: clientID, Scopes: []string{"openid", "offline_access"},
		Audience: []string{clientID, "https://api.example"}, AuthTime: t.Add(-time.Minute),
		AMR: []string{"pwd"}, ACR: "urn:pwd", SessionID: "sess-" + id, DeviceName: "Laptop",
		UserAgent: "Chrome", IP: "198.51.100.7", CreatedAt: t, LastUsedAt: t.Add(time.Second),
	}
}

func newRefresh(id string, g *storage.Grant) *storage.RefreshToken {
	t := base()
	return &storage.RefreshToken{
		ID: id, Hash: "hash-" + id, GrantID: g.ID, ParentID: "", ClientID: g.ClientID, UserID: g.UserID,
		Scopes: []string{"openid", "offline_access"}, CreatedAt: t, ExpiresAt: t.Add(30 * 24 * time.Hour),
	}
}

func newAccess(id string, g *storage.Grant) *storage.AccessToken {
	t := base()
	return &storage.AccessToken{
		IDHash: "jti-" + id, GrantID: g.ID, ClientID: g.ClientID, Subject: g.UserID,
		Scopes: []string{"openid"}, Audience: []string{"https://api.example"},
		CreatedAt: t, ExpiresAt: t.Add(15 * time.Minute),
	}
}

func newKey(id string) *storage.SigningKey {
	return &storage.SigningKey{
		ID: id, Alg: "ES256", Sealed: []byte{0x00, 0x01, 0xfe, 0xff, byte(len(id))},
		PublicJWK: []byte(`{"kty":"EC","kid":"` + id + `"}`), State: storage.KeyNext, CreatedAt: base(),
	}
}

// world is a user and a client with one grant holding a refresh and an access token: the
// usual starting point for token tests.
type world struct {
	user    *storage.User
	client  *storage.Client
	grant   *storage.Grant
	refresh *storage.RefreshToken
	access  *storage.AccessToken
}

func makeWorld(t *testing.T, s storage.Store, suffix string) world {
	t.Helper()
	w := world{user: newUser("user" + suffix), client: newClient("client" + suffix)}
	w.grant = newGrant("grant"+suffix, w.user.ID, w.client.ID)
	w.refresh = newRefresh("rt"+suffix, w.grant)
	w.access = newAccess("at"+suffix, w.grant)
	must(t, s.CreateUser(ctx(t), w.user))
	must(t, s.CreateClient(ctx(t), w.client))
	must(t, s.CreateGrant(ctx(t), w.grant))
	must(t, s.CreateRefreshToken(ctx(t), w.refresh))
	must(t, s.CreateAccessToken(ctx(t), w.access))
	return w
}

// completedWithCode creates a done auth request for a user holding a code valid until
// base()+1m.
func completedWithCode(t *testing.T, s storage.Store, id string) (*storage.AuthRequest, *storage.User) {
	t.Helper()
	u, c := newUser("user-"+id), newClient("client-"+id)
	must(t, s.CreateUser(ctx(t), u))
	must(t, s.CreateClient(ctx(t), c))
	ar := newAuthRequest(id, c.ID)
	must(t, s.CreateAuthRequest(ctx(t), ar))
	must(t, s.CompleteAuthRequest(ctx(t), id, u.ID, "sess-1", base(), []string{"pwd"}, "urn:pwd"))
	must(t, s.SaveAuthCode(ctx(t), id, "code-"+id, base().Add(time.Minute)))
	return ar, u
}

func newOneTimeToken(hash, purpose, userID string) *storage.OneTimeToken {
	t := base()
	return &storage.OneTimeToken{Hash: hash, Purpose: purpose, UserID: userID, Data: "data-" + hash,
		CreatedAt: t, ExpiresAt: t.Add(time.Hour)}
}

func newMFA(id, userID, kind string) *storage.MFACredential {
	t := base()
	c := &storage.MFACredential{ID: id, UserID: userID, Kind: kind, Name: "Key " + id,
		Secret: []byte("secret-" + id), SignCount: 7, LastStep: 100, CreatedAt: t,
		LastUsedAt: ptr(t.Add(time.Minute))}
	if kind == storage.MFAWebAuthn {
		c.CredentialID = []byte{0x00, 0xff, byte(len(id)), id[0]}
		c.Flagged = true
	}
	return c
}

// newDeviceCode is pending and expires ten minutes after base().
func newDeviceCode(hash, userCode, clientID string) *storage.DeviceCode {
	t := base()
	return &storage.DeviceCode{DeviceCodeHash: hash, UserCode: userCode, ClientID: clientID,
		Scopes: []string{"openid", "offline_access"}, DeviceName: "TV", State: storage.DevicePending,
		CreatedAt: t, ExpiresAt: t.Add(10 * time.Minute)}
}
