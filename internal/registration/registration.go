// Package registration is OAuth 2.0 Dynamic Client Registration (RFC 7591) and its
// management protocol (RFC 7592), off by default. Registration is gated by initial access
// tokens an admin issues (`myaccount client registration-token`); each registered client gets
// a registration access token to read, update and delete its own registration.
//
// A dynamically registered client is held to the same rules as one an admin creates (one
// validation: admin.NewClient) and to tighter ones: never first-party, no scopes beyond the
// OpenID Connect standard ones (so no admin:* scope), no MFA or token-format settings.
package registration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/backchannel"
	"github.com/myaccount/myaccount/internal/redirecturi"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// Limits on what one registration may carry: enough for any real client, small enough that
// a registration cannot be used to store bulk data.
const (
	maxURIs        = 20
	maxContacts    = 10
	maxStringBytes = 2048
	// MaxUses bounds the uses of one initial access token.
	MaxUses = 1000
	// MaxTTL bounds the lifetime of one initial access token.
	MaxTTL = 30 * 24 * time.Hour
)

// StandardScopes are the scopes a dynamically registered client may ask for.
var StandardScopes = []string{"openid", "profile", "email", "offline_access"}

// Errors; the HTTP layer maps them to RFC 7591/6750 answers.
var (
	// ErrInvalidToken: the initial or registration access token is unknown, spent, expired,
	// or not this client's.
	ErrInvalidToken = errors.New("registration: invalid token")
)

// MetadataError is invalid client metadata (RFC 7591 §3.2.2).
type MetadataError struct {
	// Code is "invalid_redirect_uri" or "invalid_client_metadata".
	Code        string
	Description string
}

func (e *MetadataError) Error() string { return e.Code + ": " + e.Description }

// Metadata is the client metadata of RFC 7591 §2 and OpenID Connect Dynamic Client
// Registration 1.0 §2 that MyAccount honours. Unknown fields are ignored (RFC 7591 §2).
type Metadata struct {
	RedirectURIs             []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs   []string `json:"post_logout_redirect_uris,omitempty"`
	TokenEndpointAuthMethod  string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes               []string `json:"grant_types,omitempty"`
	ResponseTypes            []string `json:"response_types,omitempty"`
	ApplicationType          string   `json:"application_type,omitempty"`
	ClientName               string   `json:"client_name,omitempty"`
	ClientURI                string   `json:"client_uri,omitempty"`
	LogoURI                  string   `json:"logo_uri,omitempty"`
	PolicyURI                string   `json:"policy_uri,omitempty"`
	TosURI                   string   `json:"tos_uri,omitempty"`
	Scope                    string   `json:"scope,omitempty"`
	Contacts                 []string `json:"contacts,omitempty"`
	IDTokenSignedResponseAlg string   `json:"id_token_signed_response_alg,omitempty"`
	// Issue 16's metadata: private_key_jwt keys (RFC 7591 §2: jwks is a JWK Set object),
	// back-channel logout (OIDC Back-Channel Logout §2.2), PAR (RFC 9126 §6) and DPoP
	// (RFC 9449 §5.2).
	JWKSURI                          string          `json:"jwks_uri,omitempty"`
	JWKS                             json.RawMessage `json:"jwks,omitempty"`
	BackchannelLogoutURI             string          `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool            `json:"backchannel_logout_session_required,omitempty"`
	RequirePAR                       bool            `json:"require_pushed_authorization_requests,omitempty"`
	DPoPBoundAccessTokens            bool            `json:"dpop_bound_access_tokens,omitempty"`
	// ClientID and ClientSecret are sent back in an RFC 7592 update.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// Registered is the client information response (RFC 7591 §3.2.1, RFC 7592 §3).
type Registered struct {
	Metadata
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

// Service registers and manages dynamic clients.
type Service struct {
	Store storage.Store
	// ClientURI returns the registration_client_uri of a client.
	ClientURI func(clientID string) string
	Now       func() time.Time
	Logger    *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// IssueInitialToken makes an initial access token good for uses registrations within ttl and
// returns it (only its hash is stored). createdBy names the admin actor for the audit log.
func (s *Service) IssueInitialToken(ctx context.Context, createdBy string, uses int, ttl time.Duration) (string, time.Time, error) {
	if uses < 1 || uses > MaxUses {
		return "", time.Time{}, fmt.Errorf("registration: uses must be between 1 and %d", MaxUses)
	}
	if ttl <= 0 || ttl > MaxTTL {
		return "", time.Time{}, fmt.Errorf("registration: the lifetime must be positive and at most %s", MaxTTL)
	}
	tok := secret.RandomToken(32)
	now := s.now()
	t := &storage.InitialAccessToken{Hash: secret.HashToken(tok), UsesLeft: uses, CreatedBy: createdBy, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := tx.CreateInitialAccessToken(ctx, t); err != nil {
			return err
		}
		return tx.AddAuditEvent(ctx, &storage.AuditEvent{ID: secret.NewID(), Type: "admin.registration_token.issue", Actor: createdBy,
			Detail: fmt.Sprintf("uses=%d expires=%s", uses, t.ExpiresAt.Format(time.RFC3339)), CreatedAt: now})
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue initial access token: %w", err)
	}
	return tok, t.ExpiresAt, nil
}

// spec turns metadata into the admin service's client spec, refusing what a dynamically
// registered client may not have.
func spec(md Metadata) (admin.ClientSpec, error) {
	bad := func(format string, args ...any) (admin.ClientSpec, error) {
		return admin.ClientSpec{}, &MetadataError{Code: "invalid_client_metadata", Description: fmt.Sprintf(format, args...)}
	}
	for _, v := range []string{md.ClientName, md.ClientURI, md.LogoURI, md.PolicyURI, md.TosURI, md.Scope} {
		if len(v) > maxStringBytes {
			return bad("a value is longer than %d bytes", maxStringBytes)
		}
	}
	if len(md.RedirectURIs) > maxURIs || len(md.PostLogoutRedirectURIs) > maxURIs {
		return bad("at most %d redirect URIs", maxURIs)
	}
	if len(md.Contacts) > maxContacts {
		return bad("at most %d contacts", maxContacts)
	}
	if strings.TrimSpace(md.ClientName) == "" {
		// People see the name on the consent page: an unnamed app would be anonymous there.
		return bad("client_name is required")
	}
	app := md.ApplicationType
	if app == "" {
		app = "web"
	}
	if app != "web" && app != "native" {
		return bad("application_type must be web or native")
	}
	method := md.TokenEndpointAuthMethod
	if method == "" {
		method = "client_secret_basic" // RFC 7591 §2
	}
	var typ string
	proto := admin.Protocol{BackchannelLogoutURI: md.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired: md.BackchannelLogoutSessionRequired,
		RequirePAR:                       md.RequirePAR, DPoPBoundAccessTokens: md.DPoPBoundAccessTokens, JWKSURI: md.JWKSURI}
	if j := bytes.TrimSpace(md.JWKS); len(j) > 0 && !bytes.Equal(j, []byte("null")) {
		proto.JWKS = string(j)
	}
	// The server calls these addresses itself. An administrator may register plain http on
	// loopback for a local service; an anonymous registrant may name only a public https
	// service (checkOutbound): anything else would have the server call services on this
	// host or its networks for them (blind SSRF).
	for field, u := range map[string]string{"jwks_uri": md.JWKSURI, "backchannel_logout_uri": md.BackchannelLogoutURI} {
		if u == "" {
			continue
		}
		if err := checkOutbound(u); err != nil {
			return bad("%s %s", field, err)
		}
	}
	switch {
	case method == storage.AuthMethodPrivateKeyJWT:
		typ, proto.TokenEndpointAuthMethod = storage.ClientConfidential, storage.AuthMethodPrivateKeyJWT
	case method == "none" && app == "native":
		typ = storage.ClientNative
	case method == "none":
		typ = storage.ClientPublic
	case method == "client_secret_basic" || method == "client_secret_post":
		typ = storage.ClientConfidential
	default:
		return bad("token_endpoint_auth_method must be client_secret_basic, client_secret_post, private_key_jwt or none")
	}
	// An anonymous registrant gets plain http redirect URIs only for a native client, on a
	// loopback IP literal (RFC 8252 §7.3); an administrator's development client may have more
	// (redirecturi.ValidForType, checked by admin.NewClient).
	for field, uris := range map[string][]string{"redirect_uris": md.RedirectURIs, "post_logout_redirect_uris": md.PostLogoutRedirectURIs} {
		for _, u := range uris {
			if !redirecturi.ValidForRegistration(u, typ) {
				return admin.ClientSpec{}, &MetadataError{Code: "invalid_redirect_uri",
					Description: fmt.Sprintf("%s: %q is not allowed for a %s client (https; plain http only for a native app on 127.0.0.1 or [::1])", field, u, typ)}
			}
		}
	}
	grants := md.GrantTypes
	if len(grants) == 0 {
		grants = []string{admin.GrantCode}
	}
	responses := md.ResponseTypes
	if len(responses) == 0 {
		responses = []string{"code"}
	}
	for _, r := range responses {
		if r != "code" {
			return bad("response_types supports only code")
		}
	}
	// RFC 7591 §2.1: the code response type and the authorization_code grant go together.
	if slices.Contains(grants, admin.GrantCode) != slices.Contains(responses, "code") && len(md.ResponseTypes) > 0 {
		return bad("response_types code and grant_types authorization_code must be registered together")
	}
	// The standard scopes need no registration (storage.Client.Scopes lists only extra ones):
	// scope is checked, not stored.
	for _, sc := range strings.Fields(md.Scope) {
		if !slices.Contains(StandardScopes, sc) {
			return bad("scope %q cannot be registered dynamically (allowed: %s)", sc, strings.Join(StandardScopes, " "))
		}
	}
	alg := md.IDTokenSignedResponseAlg
	if alg != "" && !keys.Supported(alg) {
		return bad("id_token_signed_response_alg must be one of %s", keys.AlgorithmList())
	}
	return admin.ClientSpec{Name: strings.TrimSpace(md.ClientName), Type: typ, RedirectURIs: md.RedirectURIs,
		PostLogoutRedirectURIs: md.PostLogoutRedirectURIs, GrantTypes: grants, IDTokenAlg: alg,
		LogoURI: md.LogoURI, ClientURI: md.ClientURI, PolicyURI: md.PolicyURI, TosURI: md.TosURI, Protocol: proto}, nil
}

// checkOutbound refuses an address the server would call for an anonymous registrant that
// is not plainly a public https service: not https, credentials in it, or a host that names
// this machine or a private network: an IP literal that is not public (backchannel.Public,
// the rule the server's own calls dial by; IPv4-mapped ones included), a spelling of an IPv4
// address other than the dotted quad (127.1, 0x7f.1, 2130706433: resolvers read them as
// addresses), localhost and *.localhost (RFC 6761), and a single-label name (resolved
// through the server's search domains, to internal hosts). A name that resolves to such an
// address is refused when called (backchannel.Outbound checks the address it dials).
func checkOutbound(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return errors.New("must be an https URL without credentials")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		if !backchannel.Public(ip) {
			return errors.New("must not name a loopback, private, link-local or multicast address")
		}
		return nil
	}
	labels := strings.Split(host, ".")
	last := labels[len(labels)-1]
	switch {
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		return errors.New("must not name this machine")
	case len(labels) < 2 || last == "":
		return errors.New("must name a fully qualified host")
	case strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x"):
		return errors.New("must write an IP address as a dotted quad")
	}
	return nil
}

// newClient validates md into a client to store, with the error codes of RFC 7591 §3.2.2.
func newClient(md Metadata, now time.Time) (*storage.Client, error) {
	sp, err := spec(md)
	if err != nil {
		return nil, err
	}
	c, err := admin.NewClient(sp, now)
	var ve *admin.ValidationError
	if errors.As(err, &ve) {
		code := "invalid_client_metadata"
		msgs := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			if p.Field == "redirect_uris" || p.Field == "post_logout_redirect_uris" {
				code = "invalid_redirect_uri"
			}
			msgs[i] = p.Text(p.Field)
		}
		return nil, &MetadataError{Code: code, Description: strings.Join(msgs, "; ")}
	}
	return c, err
}

// view is the registered metadata of c as the client information response shows it.
func (s *Service) view(c *storage.Client, contacts []string, rat string) *Registered {
	md := Metadata{ClientID: c.ID, ClientName: c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, ResponseTypes: []string{}, ApplicationType: "web", ClientURI: c.ClientURI, LogoURI: c.LogoURI,
		PolicyURI: c.PolicyURI, TosURI: c.TosURI, Scope: strings.Join(StandardScopes, " "), Contacts: contacts,
		IDTokenSignedResponseAlg: c.IDTokenAlg}
	if slices.Contains(c.GrantTypes, admin.GrantCode) {
		md.ResponseTypes = []string{"code"}
	}
	md.JWKSURI, md.BackchannelLogoutURI = c.JWKSURI, c.BackchannelLogoutURI
	md.BackchannelLogoutSessionRequired, md.RequirePAR, md.DPoPBoundAccessTokens = c.BackchannelLogoutSessionRequired, c.RequirePAR, c.DPoPBoundAccessTokens
	if c.JWKS != "" {
		md.JWKS = json.RawMessage(c.JWKS)
	}
	switch c.Type {
	case storage.ClientConfidential:
		md.TokenEndpointAuthMethod = "client_secret_basic"
		if c.TokenEndpointAuthMethod == storage.AuthMethodPrivateKeyJWT {
			md.TokenEndpointAuthMethod = storage.AuthMethodPrivateKeyJWT
		}
	case storage.ClientNative:
		md.TokenEndpointAuthMethod, md.ApplicationType = "none", "native"
	default:
		md.TokenEndpointAuthMethod = "none"
	}
	r := &Registered{Metadata: md, ClientIDIssuedAt: c.CreatedAt.Unix(), RegistrationAccessToken: rat, RegistrationClientURI: s.ClientURI(c.ID)}
	if c.Type == storage.ClientConfidential && c.TokenEndpointAuthMethod != storage.AuthMethodPrivateKeyJWT {
		zero := int64(0) // secrets do not expire
		r.ClientSecretExpiresAt = &zero
	}
	return r
}

// Register creates a client from md, spending one use of the initial access token in the
// same transaction: an invalid request or a failure of ours costs no use.
func (s *Service) Register(ctx context.Context, initialToken string, md Metadata, ip, userAgent string) (*Registered, error) {
	if initialToken == "" {
		return nil, ErrInvalidToken
	}
	now := s.now()
	c, err := newClient(md, now)
	if err != nil {
		return nil, err
	}
	var sec string
	if c.Type == storage.ClientConfidential && c.TokenEndpointAuthMethod != storage.AuthMethodPrivateKeyJWT {
		sec = secret.RandomToken(32)
		c.SecretHash = secret.HashToken(sec)
	}
	rat := secret.RandomToken(32)
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := tx.UseInitialAccessToken(ctx, secret.HashToken(initialToken), now); err != nil {
			return err
		}
		if err := tx.CreateClient(ctx, c); err != nil {
			return err
		}
		if err := tx.SetRegistrationToken(ctx, c.ID, secret.HashToken(rat), now); err != nil {
			return err
		}
		return tx.AddAuditEvent(ctx, &storage.AuditEvent{ID: secret.NewID(), Type: "client.registered", ClientID: c.ID,
			Actor: "registration", Target: "client:" + c.ID, IP: ip, UserAgent: userAgent, Detail: c.Name, CreatedAt: now})
	})
	if isTokenRefusal(err) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("register client: %w", err)
	}
	s.log().InfoContext(ctx, "client registered dynamically", "client_id", c.ID, "type", c.Type)
	r := s.view(c, md.Contacts, rat)
	r.ClientSecret = sec
	return r, nil
}

func isTokenRefusal(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed)
}

// authorize returns the client the registration access token belongs to, which must be
// clientID (RFC 7592 §2: a token for another client, or for no client, is refused alike).
func (s *Service) authorize(ctx context.Context, rat, clientID string) (*storage.Client, error) {
	if rat == "" {
		return nil, ErrInvalidToken
	}
	id, err := s.Store.ClientByRegistrationToken(ctx, secret.HashToken(rat))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("registration token: %w", err)
	}
	if !secret.Equal(id, clientID) {
		return nil, ErrInvalidToken
	}
	c, err := s.Store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("get client: %w", err)
	}
	return c, nil
}

// Read returns the client's registration (RFC 7592 §2.1). The registration access token is
// not rotated: a lost response must not lock the client out of its own registration.
func (s *Service) Read(ctx context.Context, rat, clientID string) (*Registered, error) {
	c, err := s.authorize(ctx, rat, clientID)
	if err != nil {
		return nil, err
	}
	return s.view(c, nil, rat), nil
}

// Update replaces the client's metadata with md (RFC 7592 §2.2). The type of client cannot
// change (it decides whether a secret exists); a client_secret sent along must be the
// client's.
func (s *Service) Update(ctx context.Context, rat, clientID string, md Metadata, ip, userAgent string) (*Registered, error) {
	c, err := s.authorize(ctx, rat, clientID)
	if err != nil {
		return nil, err
	}
	if md.ClientID != clientID {
		return nil, &MetadataError{Code: "invalid_client_metadata", Description: "client_id must be the client's own"}
	}
	if md.ClientSecret != "" && (c.SecretHash == "" || !secret.Equal(secret.HashToken(md.ClientSecret), c.SecretHash)) {
		return nil, &MetadataError{Code: "invalid_client_metadata", Description: "client_secret does not match"}
	}
	next, err := newClient(md, s.now())
	if err != nil {
		return nil, err
	}
	if next.Type != c.Type || next.TokenEndpointAuthMethod != c.TokenEndpointAuthMethod {
		return nil, &MetadataError{Code: "invalid_client_metadata", Description: "token_endpoint_auth_method and application_type cannot change the kind of client"}
	}
	now := s.now()
	var out *storage.Client
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		out, err = tx.UpdateClient(ctx, clientID, func(x *storage.Client) error {
			x.Name, x.RedirectURIs, x.PostLogoutRedirectURIs = next.Name, next.RedirectURIs, next.PostLogoutRedirectURIs
			x.GrantTypes, x.IDTokenAlg = next.GrantTypes, next.IDTokenAlg
			x.LogoURI, x.ClientURI, x.PolicyURI, x.TosURI = next.LogoURI, next.ClientURI, next.PolicyURI, next.TosURI
			// Keys rotate and logout endpoints move; the authentication method stays (checked above).
			x.JWKSURI, x.JWKS = next.JWKSURI, next.JWKS
			x.BackchannelLogoutURI, x.BackchannelLogoutSessionRequired = next.BackchannelLogoutURI, next.BackchannelLogoutSessionRequired
			x.RequirePAR, x.DPoPBoundAccessTokens = next.RequirePAR, next.DPoPBoundAccessTokens
			return nil
		})
		if err != nil {
			return err
		}
		return tx.AddAuditEvent(ctx, &storage.AuditEvent{ID: secret.NewID(), Type: "client.registration_updated", ClientID: clientID,
			Actor: "client:" + clientID, Target: "client:" + clientID, IP: ip, UserAgent: userAgent, CreatedAt: now})
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("update registration: %w", err)
	}
	return s.view(out, md.Contacts, rat), nil
}

// Delete removes the client (RFC 7592 §2.3); its tokens and grants go with it.
func (s *Service) Delete(ctx context.Context, rat, clientID, ip, userAgent string) error {
	if _, err := s.authorize(ctx, rat, clientID); err != nil {
		return err
	}
	now := s.now()
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := tx.DeleteClient(ctx, clientID); err != nil {
			return err
		}
		return tx.AddAuditEvent(ctx, &storage.AuditEvent{ID: secret.NewID(), Type: "client.registration_deleted", ClientID: clientID,
			Actor: "client:" + clientID, Target: "client:" + clientID, IP: ip, UserAgent: userAgent, CreatedAt: now})
	})
	if errors.Is(err, storage.ErrNotFound) {
		return ErrInvalidToken
	}
	if err != nil {
		return fmt.Errorf("delete registration: %w", err)
	}
	return nil
}
