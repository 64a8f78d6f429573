package registration_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/myaccount/myaccount/internal/registration"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
	"github.com/myaccount/myaccount/storage/sqlite"
)

func newService(t *testing.T) (*registration.Service, storage.Store, *time.Time) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir()+"/reg.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	return &registration.Service{Store: st, Now: func() time.Time { return now },
		ClientURI: func(id string) string { return "https://id.example/connect/register/" + id }}, st, &now
}

func webApp() registration.Metadata {
	return registration.Metadata{ClientName: "Notes", RedirectURIs: []string{"https://notes.example/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scope: "openid email offline_access"}
}

func TestRegisterSpendsOneUseAndStoresOnlyHashes(t *testing.T) {
	s, st, _ := newService(t)
	tok, exp, err := s.IssueInitialToken(t.Context(), "cli", 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC); !exp.Equal(want) {
		t.Fatalf("expiry %v, want %v", exp, want)
	}
	reg, err := s.Register(t.Context(), tok, webApp(), "192.0.2.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	if reg.ClientSecret == "" || reg.RegistrationAccessToken == "" || reg.TokenEndpointAuthMethod != "client_secret_basic" {
		t.Fatalf("confidential registration %+v", reg)
	}
	if reg.ClientSecretExpiresAt == nil || *reg.ClientSecretExpiresAt != 0 {
		t.Fatal("client_secret_expires_at must be 0 (never) for a confidential client")
	}
	c, err := st.GetClient(t.Context(), reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretHash != secret.HashToken(reg.ClientSecret) || c.FirstParty || len(c.Scopes) != 0 || c.Type != storage.ClientConfidential {
		t.Fatalf("stored client %+v", c)
	}
	if id, err := st.ClientByRegistrationToken(t.Context(), secret.HashToken(reg.RegistrationAccessToken)); err != nil || id != c.ID {
		t.Fatalf("registration token lookup: %q %v", id, err)
	}
	// An invalid request costs no use: the second use is still there.
	bad := webApp()
	bad.RedirectURIs = []string{"http://notes.example/cb"}
	if _, err := s.Register(t.Context(), tok, bad, "", ""); !isMeta(err, "invalid_redirect_uri") {
		t.Fatalf("plain-http redirect: %v", err)
	}
	if _, err := s.Register(t.Context(), tok, webApp(), "", ""); err != nil {
		t.Fatalf("second use: %v", err)
	}
	if _, err := s.Register(t.Context(), tok, webApp(), "", ""); !errors.Is(err, registration.ErrInvalidToken) {
		t.Fatalf("third use of a two-use token: %v", err)
	}
}

func isMeta(err error, code string) bool {
	var me *registration.MetadataError
	return errors.As(err, &me) && me.Code == code
}

func TestRegisterRefusesWhatOnlyAdminsMayGrant(t *testing.T) {
	s, _, _ := newService(t)
	tok, _, err := s.IssueInitialToken(t.Context(), "cli", 100, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*registration.Metadata){
		"admin scope":     func(m *registration.Metadata) { m.Scope = "openid admin:write" },
		"support scope":   func(m *registration.Metadata) { m.Scope = "support" },
		"no name":         func(m *registration.Metadata) { m.ClientName = " " },
		"implicit":        func(m *registration.Metadata) { m.ResponseTypes = []string{"token"} },
		"private_key_jwt": func(m *registration.Metadata) { m.TokenEndpointAuthMethod = "private_key_jwt" },
		"unknown grant":   func(m *registration.Metadata) { m.GrantTypes = []string{"password"} },
		"public + client_cred": func(m *registration.Metadata) {
			m.TokenEndpointAuthMethod, m.GrantTypes = "none", []string{"client_credentials"}
		},
		"alg none":        func(m *registration.Metadata) { m.IDTokenSignedResponseAlg = "none" },
		"alg HS256":       func(m *registration.Metadata) { m.IDTokenSignedResponseAlg = "HS256" },
		"alg eddsa":       func(m *registration.Metadata) { m.IDTokenSignedResponseAlg = "eddsa" },
		"bad app type":    func(m *registration.Metadata) { m.ApplicationType = "desktop" },
		"javascript logo": func(m *registration.Metadata) { m.LogoURI = "javascript:alert(1)" },
		"too many uris": func(m *registration.Metadata) {
			for i := range 21 {
				m.RedirectURIs = append(m.RedirectURIs, "https://notes.example/cb"+strings.Repeat("x", i))
			}
		},
	}
	for name, mutate := range cases {
		md := webApp()
		mutate(&md)
		if _, err := s.Register(t.Context(), tok, md, "", ""); !isMeta(err, "invalid_client_metadata") {
			t.Errorf("%s: got %v, want invalid_client_metadata", name, err)
		}
	}
	// Every algorithm we sign with may be asked for, and is what the client gets.
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		md := webApp()
		md.IDTokenSignedResponseAlg = alg
		reg, err := s.Register(t.Context(), tok, md, "", "")
		if err != nil || reg.IDTokenSignedResponseAlg != alg {
			t.Errorf("id_token_signed_response_alg %s: got %+v, %v", alg, reg, err)
		}
	}
	native := registration.Metadata{ClientName: "CLI", ApplicationType: "native", TokenEndpointAuthMethod: "none",
		RedirectURIs: []string{"http://127.0.0.1/callback", "com.example.app:/cb"}}
	reg, err := s.Register(t.Context(), tok, native, "", "")
	if err != nil {
		t.Fatalf("native app: %v", err)
	}
	if reg.ClientSecret != "" || reg.ClientSecretExpiresAt != nil || reg.ApplicationType != "native" {
		t.Fatalf("native registration %+v", reg)
	}
	web := native
	web.ApplicationType = "web"
	if _, err := s.Register(t.Context(), tok, web, "", ""); !isMeta(err, "invalid_redirect_uri") {
		t.Fatalf("custom scheme on a web app: %v", err)
	}
}

func TestInitialTokensExpireAndAreBounded(t *testing.T) {
	s, _, now := newService(t)
	if _, _, err := s.IssueInitialToken(t.Context(), "cli", 0, time.Hour); err == nil {
		t.Fatal("zero uses accepted")
	}
	if _, _, err := s.IssueInitialToken(t.Context(), "cli", 1, 31*24*time.Hour); err == nil {
		t.Fatal("a 31-day token accepted")
	}
	tok, _, err := s.IssueInitialToken(t.Context(), "cli", 5, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	*now = now.Add(time.Hour)
	if _, err := s.Register(t.Context(), tok, webApp(), "", ""); !errors.Is(err, registration.ErrInvalidToken) {
		t.Fatalf("expired token: %v", err)
	}
	if _, err := s.Register(t.Context(), "made-up", webApp(), "", ""); !errors.Is(err, registration.ErrInvalidToken) {
		t.Fatalf("unknown token: %v", err)
	}
}

func TestManageOwnRegistrationOnly(t *testing.T) {
	s, st, _ := newService(t)
	tok, _, err := s.IssueInitialToken(t.Context(), "cli", 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Register(t.Context(), tok, webApp(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Register(t.Context(), tok, webApp(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(t.Context(), a.RegistrationAccessToken, b.ClientID); !errors.Is(err, registration.ErrInvalidToken) {
		t.Fatalf("a's token read b: %v", err)
	}
	got, err := s.Read(t.Context(), a.RegistrationAccessToken, a.ClientID)
	if err != nil || got.ClientName != "Notes" || got.ClientSecret != "" || got.RegistrationAccessToken != a.RegistrationAccessToken {
		t.Fatalf("read: %+v %v", got, err)
	}

	upd := webApp()
	upd.ClientID, upd.ClientName = a.ClientID, "Notes 2"
	upd.RedirectURIs = []string{"https://notes.example/cb2"}
	upd.ClientSecret = "wrong"
	if _, err := s.Update(t.Context(), a.RegistrationAccessToken, a.ClientID, upd, "", ""); !isMeta(err, "invalid_client_metadata") {
		t.Fatalf("wrong secret: %v", err)
	}
	upd.ClientSecret = a.ClientSecret
	if _, err := s.Update(t.Context(), a.RegistrationAccessToken, a.ClientID, upd, "", ""); err != nil {
		t.Fatal(err)
	}
	pub := upd
	pub.TokenEndpointAuthMethod = "none"
	if _, err := s.Update(t.Context(), a.RegistrationAccessToken, a.ClientID, pub, "", ""); !isMeta(err, "invalid_client_metadata") {
		t.Fatalf("turning a confidential client public: %v", err)
	}
	c, err := st.GetClient(t.Context(), a.ClientID)
	if err != nil || c.Name != "Notes 2" || c.RedirectURIs[0] != "https://notes.example/cb2" || c.SecretHash != secret.HashToken(a.ClientSecret) {
		t.Fatalf("after update: %+v %v", c, err)
	}

	if err := s.Delete(t.Context(), b.RegistrationAccessToken, a.ClientID, "", ""); !errors.Is(err, registration.ErrInvalidToken) {
		t.Fatalf("b deleting a: %v", err)
	}
	if err := s.Delete(t.Context(), a.RegistrationAccessToken, a.ClientID, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetClient(t.Context(), a.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted client still there: %v", err)
	}
	if _, err := s.Read(t.Context(), a.RegistrationAccessToken, a.ClientID); !errors.Is(err, registration.ErrInvalidToken) {
		t.Fatalf("token of a deleted client: %v", err)
	}
}

// TestRegisterProtocolMetadata: issue 16's client metadata registers dynamically: a
// private_key_jwt client with a JWK Set object gets no secret; back-channel logout, PAR and
// DPoP settings are stored and shown back; the server-called URLs must be https (no
// loopback for an anonymous registrant); a private key in jwks is refused; an update cannot
// switch the authentication method.
func TestRegisterProtocolMetadata(t *testing.T) {
	s, st, _ := newService(t)
	tok, _, err := s.IssueInitialToken(t.Context(), "cli", 10, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})

	md := webApp()
	md.TokenEndpointAuthMethod = "private_key_jwt"
	md.JWKS = pub
	md.BackchannelLogoutURI = "https://notes.example/bcl"
	md.BackchannelLogoutSessionRequired = true
	md.RequirePAR, md.DPoPBoundAccessTokens = true, true
	reg, err := s.Register(t.Context(), tok, md, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if reg.ClientSecret != "" || reg.ClientSecretExpiresAt != nil || reg.TokenEndpointAuthMethod != "private_key_jwt" {
		t.Fatalf("private_key_jwt registration answered %+v", reg)
	}
	var shown jose.JSONWebKeySet
	if err := json.Unmarshal(reg.JWKS, &shown); err != nil || len(shown.Keys) != 1 || shown.Keys[0].KeyID != "k1" {
		t.Fatalf("jwks shown back: %s (%v)", reg.JWKS, err)
	}
	if !reg.RequirePAR || !reg.DPoPBoundAccessTokens || !reg.BackchannelLogoutSessionRequired || reg.BackchannelLogoutURI != md.BackchannelLogoutURI {
		t.Fatalf("protocol settings shown back: %+v", reg.Metadata)
	}
	c, err := st.GetClient(t.Context(), reg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretHash != "" || c.TokenEndpointAuthMethod != storage.AuthMethodPrivateKeyJWT || c.JWKS == "" ||
		!c.RequirePAR || !c.DPoPBoundAccessTokens || c.BackchannelLogoutURI != md.BackchannelLogoutURI {
		t.Fatalf("stored client %+v", c)
	}

	refused := []struct {
		name string
		edit func(*registration.Metadata)
	}{
		{"private key in jwks", func(m *registration.Metadata) { m.TokenEndpointAuthMethod = "private_key_jwt"; m.JWKS = priv }},
		{"private_key_jwt without keys", func(m *registration.Metadata) { m.TokenEndpointAuthMethod = "private_key_jwt" }},
		{"jwks and jwks_uri", func(m *registration.Metadata) {
			m.TokenEndpointAuthMethod, m.JWKS, m.JWKSURI = "private_key_jwt", pub, "https://notes.example/jwks"
		}},
		{"loopback jwks_uri", func(m *registration.Metadata) {
			m.TokenEndpointAuthMethod, m.JWKSURI = "private_key_jwt", "http://127.0.0.1:9000/jwks"
		}},
		{"loopback logout uri", func(m *registration.Metadata) { m.BackchannelLogoutURI = "http://localhost/bcl" }},
		{"session_required without a logout uri", func(m *registration.Metadata) { m.BackchannelLogoutSessionRequired = true }},
		{"jwks with a secret method", func(m *registration.Metadata) { m.JWKS = pub }},
	}
	for _, tc := range refused {
		m := webApp()
		tc.edit(&m)
		if _, err := s.Register(t.Context(), tok, m, "", ""); !isMeta(err, "invalid_client_metadata") {
			t.Errorf("%s: %v, want invalid_client_metadata", tc.name, err)
		}
	}

	// An update rotates keys and moves the logout endpoint, but cannot change the method.
	up := md
	up.ClientID = reg.ClientID
	up.BackchannelLogoutURI = "https://notes.example/logout2"
	up.RequirePAR = false
	if _, err := s.Update(t.Context(), reg.RegistrationAccessToken, reg.ClientID, up, "", ""); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.GetClient(t.Context(), reg.ClientID); c.BackchannelLogoutURI != up.BackchannelLogoutURI || c.RequirePAR {
		t.Fatalf("after update: %+v", c)
	}
	up.TokenEndpointAuthMethod, up.JWKS = "client_secret_basic", nil
	if _, err := s.Update(t.Context(), reg.RegistrationAccessToken, reg.ClientID, up, "", ""); !isMeta(err, "invalid_client_metadata") {
		t.Fatalf("switching private_key_jwt to a secret: %v", err)
	}
}
