package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/clientmeta"
	"github.com/myaccount/myaccount/internal/redirecturi"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/keys"
	"github.com/myaccount/myaccount/storage"
)

// Grant types a client may be registered for.
const (
	GrantCode              = "authorization_code"
	GrantRefresh           = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// KnownGrants lists the supported grant types.
var KnownGrants = []string{GrantCode, GrantRefresh, GrantClientCredentials, GrantDeviceCode}

// Client is how a client is shown: its settings, never its secret (nor the secret's hash).
type Client struct {
	ClientID string `json:"client_id"`
	ClientSpec
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// ETag is the version of the stored client: pass it back to UpdateClient and
	// DeleteClient to change only what was read.
	ETag string `json:"-"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func viewClient(c *storage.Client) *Client {
	return &Client{ClientID: c.ID, ClientSpec: specOf(c),
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), ETag: clientETag(c)}
}

// specOf is the stored client's settings, lists never nil (JSON shows [] rather than null).
func specOf(c *storage.Client) ClientSpec {
	return ClientSpec{
		Name: c.Name, Type: c.Type,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), FirstParty: c.FirstParty,
		AccessTokenFormat: c.AccessTokenFormat, IDTokenAlg: c.IDTokenAlg, RequireMFA: c.RequireMFA,
		LogoURI: c.LogoURI, ClientURI: c.ClientURI, PolicyURI: c.PolicyURI, TosURI: c.TosURI,
		Protocol: protocolOf(c),
	}
}

// clientETag covers every stored field, the secret's hash included (a rotation changes it),
// in the form the store keeps them (times in milliseconds, no nil lists), so the client
// returned by a write and the one read back later have the same tag.
func clientETag(c *storage.Client) string {
	n := *c
	n.CreatedAt, n.UpdatedAt = time.UnixMilli(c.CreatedAt.UnixMilli()).UTC(), time.UnixMilli(c.UpdatedAt.UnixMilli()).UTC()
	n.RedirectURIs, n.PostLogoutRedirectURIs = nonNil(c.RedirectURIs), nonNil(c.PostLogoutRedirectURIs)
	n.GrantTypes, n.Scopes, n.Resources = nonNil(c.GrantTypes), nonNil(c.Scopes), nonNil(c.Resources)
	b, _ := json.Marshal(n) // a plain struct: cannot fail
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// ClientSpec is a client's settings: what an administrator chooses when creating one (the
// body of POST /clients, the CLI's flags) and what every view of a client shows. One type
// for all of them, so a new setting is added in one place.
type ClientSpec struct {
	Name                   string   `json:"name"`
	Type                   string   `json:"type"` // storage.ClientConfidential, ClientPublic or ClientNative
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"` // default authorization_code and refresh_token
	Scopes                 []string `json:"scopes"`      // extra scopes it may ask for (e.g. admin:read)
	FirstParty             bool     `json:"first_party"`
	AccessTokenFormat      string   `json:"access_token_format"` // storage.TokenFormatJWT (default) or TokenFormatOpaque
	IDTokenAlg             string   `json:"id_token_alg"`        // RS256 (default), ES256 or EdDSA
	RequireMFA             bool     `json:"require_mfa"`
	LogoURI                string   `json:"logo_uri"`
	ClientURI              string   `json:"client_uri"`
	PolicyURI              string   `json:"policy_uri"`
	TosURI                 string   `json:"tos_uri"`
	Protocol                        // issue 16's settings; none by default
}

// NewClient validates spec and returns the client to store, with a fresh id (no secret).
func NewClient(spec ClientSpec, now time.Time) (*storage.Client, error) {
	var problems []Problem
	bad := func(field, value, reason string) {
		problems = append(problems, Problem{Field: field, Value: value, Reason: reason})
	}
	typ, grants := spec.Type, spec.GrantTypes
	if spec.AccessTokenFormat == "" {
		spec.AccessTokenFormat = storage.TokenFormatJWT
	}
	if spec.IDTokenAlg == "" {
		spec.IDTokenAlg = "RS256"
	}
	if strings.TrimSpace(spec.Name) == "" {
		bad("name", "", "is required")
	}
	if !slices.Contains([]string{storage.ClientConfidential, storage.ClientPublic, storage.ClientNative}, typ) {
		bad("type", "", "must be confidential, public or native")
	}
	if len(grants) == 0 {
		grants = []string{GrantCode, GrantRefresh}
	}
	for _, g := range grants {
		if !slices.Contains(KnownGrants, g) {
			bad("grant_types", g, "is not supported (use one of "+strings.Join(KnownGrants, ", ")+")")
		}
	}
	if slices.Contains(grants, GrantClientCredentials) && typ != storage.ClientConfidential {
		problems = append(problems, Problem{Field: "grant_types", Reason: "client_credentials needs a confidential client",
			Sentence: "client_credentials needs a confidential client"})
	}
	if slices.Contains(grants, GrantCode) && len(spec.RedirectURIs) == 0 {
		bad("redirect_uris", "", "is required for the authorization_code grant")
	}
	problems = append(problems, checkRedirects("redirect_uris", spec.RedirectURIs, typ)...)
	problems = append(problems, checkRedirects("post_logout_redirect_uris", spec.PostLogoutRedirectURIs, typ)...)
	if spec.AccessTokenFormat != storage.TokenFormatJWT && spec.AccessTokenFormat != storage.TokenFormatOpaque {
		bad("access_token_format", "", "must be jwt or opaque")
	}
	if !keys.Supported(spec.IDTokenAlg) {
		bad("id_token_alg", "", "must be one of "+keys.AlgorithmList())
	}
	problems = append(problems, checkScopes(spec.Scopes)...)
	problems = append(problems, checkProtocol(spec.Protocol, typ)...)
	problems = append(problems, checkMeta(map[string]string{"logo_uri": spec.LogoURI, "client_uri": spec.ClientURI,
		"policy_uri": spec.PolicyURI, "tos_uri": spec.TosURI})...)
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	c := &storage.Client{
		ID: secret.NewID(), Name: spec.Name, Type: typ,
		RedirectURIs: spec.RedirectURIs, PostLogoutRedirectURIs: spec.PostLogoutRedirectURIs, GrantTypes: dedupe(grants),
		Scopes: spec.Scopes, FirstParty: spec.FirstParty, AccessTokenFormat: spec.AccessTokenFormat, IDTokenAlg: spec.IDTokenAlg,
		RequireMFA: spec.RequireMFA, LogoURI: spec.LogoURI, ClientURI: spec.ClientURI, PolicyURI: spec.PolicyURI, TosURI: spec.TosURI,
		CreatedAt: now, UpdatedAt: now,
	}
	spec.Protocol.applyTo(c)
	return c, nil
}

func checkRedirects(field string, uris []string, typ string) []Problem {
	var out []Problem
	for _, u := range uris {
		if !redirecturi.ValidForType(u, typ) {
			out = append(out, Problem{Field: field, Value: u, Reason: "is not allowed for a " + typ + " client",
				Sentence: fmt.Sprintf("redirect URI %q is not allowed for a %s client (absolute, no fragment; http only on loopback; custom schemes only for native apps, in reverse-domain form)", u, typ)})
		}
	}
	return out
}

func checkScopes(scopes []string) []Problem {
	var out []Problem
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\"\\") {
			out = append(out, Problem{Field: "scopes", Value: s, Reason: "is not a valid scope token"})
		}
	}
	return out
}

// metaFields is the order the consent-page addresses are checked in.
var metaFields = []string{"logo_uri", "client_uri", "policy_uri", "tos_uri"}

func checkMeta(m map[string]string) []Problem {
	var out []Problem
	for _, f := range metaFields {
		v, ok := m[f]
		if !ok {
			continue
		}
		if err := clientmeta.Check(v); err != nil {
			out = append(out, Problem{Field: f, Value: v, Reason: err.Error()})
		}
	}
	return out
}

func dedupe(s []string) []string {
	out := []string{}
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// CreateClient validates and stores a new client. For a confidential client it returns the
// secret, which is shown only now (only its hash is stored).
func (s *Service) CreateClient(ctx context.Context, a Actor, spec ClientSpec) (*Client, string, error) {
	return s.CreateClientOnce(ctx, a, spec, "")
}

// IdempotencyWindow is how long an Idempotency-Key of a client's creation answers a retry.
const IdempotencyWindow = 24 * time.Hour

// CreateClientOnce is CreateClient under the caller's idempotency key ("" for none; the
// Idempotency-Key header of the admin API). A script whose answer was lost (a timeout, a
// dropped connection) retries with the same key and gets the client its first request
// created, not a second one beside it. The client's id is derived from the actor and the
// key, so the retry finds it without a table of keys; its secret, stored only as a hash,
// cannot be shown again, so the retry gets a new one and the lost one stops working, as
// a refresh retried within its grace gets new tokens.
//
// The same key with another request, older than IdempotencyWindow, or naming a client
// deleted since is ErrKeyReused: a retry must not change a client, revive an old one or
// recreate what an operator removed.
func (s *Service) CreateClientOnce(ctx context.Context, a Actor, spec ClientSpec, key string) (*Client, string, error) {
	if err := authorize(a, ManageClients); err != nil {
		return nil, "", err
	}
	now := s.now()
	c, err := NewClient(spec, now)
	if err != nil {
		return nil, "", err
	}
	if key != "" {
		c.ID = secret.DerivedID("admin client create\x00" + a.ClientID + "\x00" + a.UserID + "\x00" + key)
	}
	var sec string
	// A private_key_jwt client proves itself with its keys: a secret would be a second,
	// weaker way in.
	if c.Type == storage.ClientConfidential && c.TokenEndpointAuthMethod != storage.AuthMethodPrivateKeyJWT {
		sec = secret.RandomToken(32)
		c.SecretHash = secret.HashToken(sec)
	}
	out := c
	// The client and its audit event are one transaction: created apart, a failed event
	// left a client whose secret nobody was shown, and the retry created a second one.
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		out = c // a retried transaction starts over
		if key != "" {
			// The key's client is looked for before it is inserted: on PostgreSQL the
			// duplicate insert aborts the transaction, and the retry answered 503 for ever.
			// The key is counted first, holding its row to the transaction's end, so a
			// retry served beside its first request waits for it (see keyedBefore).
			if _, err := tx.HitCounter(ctx, "admin-key:"+c.ID, IdempotencyWindow, now); err != nil {
				return fmt.Errorf("idempotency key: %w", err)
			}
			switch _, err := tx.GetClient(ctx, c.ID); {
			case err == nil:
				out, err = s.retryCreate(ctx, tx, a, c, now)
				return err
			case !errors.Is(err, storage.ErrNotFound):
				return fmt.Errorf("create client: %w", err)
			}
		}
		err := tx.CreateClient(ctx, c)
		if err != nil {
			return fmt.Errorf("create client: %w", err)
		}
		if key != "" {
			// Created before under this key and deleted since: not to be recreated.
			evs, err := tx.QueryAuditEvents(ctx, storage.AuditQuery{Type: "admin.client.create", Target: "client:" + c.ID, Limit: 1})
			if err != nil {
				return fmt.Errorf("create client: %w", err)
			}
			if len(evs) > 0 {
				return fmt.Errorf("client %s was deleted since this key created it: %w", c.ID, ErrKeyReused)
			}
		}
		return s.recordIn(ctx, tx, a, "admin.client.create", "client:"+c.ID, "", c.Name)
	})
	if err != nil {
		return nil, "", err
	}
	return viewClient(out), sec, nil
}

// retryCreate answers a creation retried under its key: the client the key created (c's id)
// gets c's new secret, if it has one, when the request is the same and recent.
func (s *Service) retryCreate(ctx context.Context, tx storage.Store, a Actor, c *storage.Client, now time.Time) (*storage.Client, error) {
	same := func(old *storage.Client) bool {
		return reflect.DeepEqual(specOf(old), specOf(c)) && now.Sub(old.CreatedAt) < IdempotencyWindow
	}
	if c.SecretHash == "" {
		old, err := tx.GetClient(ctx, c.ID)
		switch {
		case err != nil:
			return nil, fmt.Errorf("create client again: %w", err)
		case !same(old):
			return nil, fmt.Errorf("create client %s again: %w", c.ID, ErrKeyReused)
		}
		return old, nil
	}
	// The check and the new secret in one update of the row.
	updated, err := tx.UpdateClient(ctx, c.ID, func(x *storage.Client) error {
		if !same(x) {
			return fmt.Errorf("create client %s again: %w", c.ID, ErrKeyReused)
		}
		x.SecretHash, x.UpdatedAt = c.SecretHash, now
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The secret changed: recorded as a rotation, the creation was recorded once.
	return updated, s.recordIn(ctx, tx, a, "admin.client.rotate_secret", "client:"+c.ID, "", "idempotent retry of its creation")
}

// ListClients returns every client (there are few), in the store's order.
func (s *Service) ListClients(ctx context.Context, a Actor) ([]*Client, error) {
	if err := authorize(a, ReadClients); err != nil {
		return nil, err
	}
	cs, err := s.Store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	out := make([]*Client, len(cs))
	for i, c := range cs {
		out[i] = viewClient(c)
	}
	return out, nil
}

// GetClient returns one client.
func (s *Service) GetClient(ctx context.Context, a Actor, id string) (*Client, error) {
	if err := authorize(a, ReadClients); err != nil {
		return nil, err
	}
	c, err := s.Store.GetClient(ctx, id)
	if err != nil {
		return nil, notFound(err, "client "+id)
	}
	return viewClient(c), nil
}

// ClientPatch changes some of a client's settings; nil fields stay as they are. The type,
// grant types and token formats are fixed at creation (a client changing them is a new
// client for the applications that use it).
type ClientPatch struct {
	Name                   *string   `json:"name,omitempty"`
	RedirectURIs           *[]string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris,omitempty"`
	Scopes                 *[]string `json:"scopes,omitempty"`
	RequireMFA             *bool     `json:"require_mfa,omitempty"`
	LogoURI                *string   `json:"logo_uri,omitempty"`
	ClientURI              *string   `json:"client_uri,omitempty"`
	PolicyURI              *string   `json:"policy_uri,omitempty"`
	TosURI                 *string   `json:"tos_uri,omitempty"`
	// Issue 16's settings that may change after creation (the auth method may not).
	JWKSURI                          *string   `json:"jwks_uri,omitempty"`
	JWKS                             *string   `json:"jwks,omitempty"`
	BackchannelLogoutURI             *string   `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired *bool     `json:"backchannel_logout_session_required,omitempty"`
	RequirePAR                       *bool     `json:"require_pushed_authorization_requests,omitempty"`
	DPoPBoundAccessTokens            *bool     `json:"dpop_bound_access_tokens,omitempty"`
	Resources                        *[]string `json:"resources,omitempty"`
}

// Empty reports whether the patch changes nothing.
func (p ClientPatch) Empty() bool { return p == ClientPatch{} }

// fields names the patched fields, for the audit event.
func (p ClientPatch) fields() string {
	var f []string
	add := func(set bool, name string) {
		if set {
			f = append(f, name)
		}
	}
	add(p.Name != nil, "name")
	add(p.RedirectURIs != nil, "redirect_uris")
	add(p.PostLogoutRedirectURIs != nil, "post_logout_redirect_uris")
	add(p.Scopes != nil, "scopes")
	add(p.RequireMFA != nil, "require_mfa")
	add(p.LogoURI != nil, "logo_uri")
	add(p.ClientURI != nil, "client_uri")
	add(p.PolicyURI != nil, "policy_uri")
	add(p.TosURI != nil, "tos_uri")
	add(p.JWKSURI != nil, "jwks_uri")
	add(p.JWKS != nil, "jwks")
	add(p.BackchannelLogoutURI != nil, "backchannel_logout_uri")
	add(p.BackchannelLogoutSessionRequired != nil, "backchannel_logout_session_required")
	add(p.RequirePAR != nil, "require_pushed_authorization_requests")
	add(p.DPoPBoundAccessTokens != nil, "dpop_bound_access_tokens")
	add(p.Resources != nil, "resources")
	return strings.Join(f, ",")
}

// CheckPatch validates what of a patch needs no stored client (a *ValidationError, or nil).
// The redirect URIs depend on the client's type and are checked by UpdateClient.
func CheckPatch(p ClientPatch) error {
	meta := map[string]string{}
	for f, v := range map[string]*string{"logo_uri": p.LogoURI, "client_uri": p.ClientURI, "policy_uri": p.PolicyURI, "tos_uri": p.TosURI} {
		if v != nil {
			meta[f] = *v
		}
	}
	problems := checkMeta(meta)
	if p.Name != nil && strings.TrimSpace(*p.Name) == "" {
		problems = append(problems, Problem{Field: "name", Reason: "is required"})
	}
	if p.Scopes != nil {
		problems = append(problems, checkScopes(*p.Scopes)...)
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// apply copies the patch's fields into c.
func (p ClientPatch) apply(c *storage.Client) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setList := func(dst *[]string, v *[]string) {
		if v != nil {
			*dst = slices.Clone(*v)
		}
	}
	set(&c.Name, p.Name)
	setList(&c.RedirectURIs, p.RedirectURIs)
	setList(&c.PostLogoutRedirectURIs, p.PostLogoutRedirectURIs)
	setList(&c.Scopes, p.Scopes)
	if p.RequireMFA != nil {
		c.RequireMFA = *p.RequireMFA
	}
	set(&c.LogoURI, p.LogoURI)
	set(&c.ClientURI, p.ClientURI)
	set(&c.PolicyURI, p.PolicyURI)
	set(&c.TosURI, p.TosURI)
	set(&c.JWKSURI, p.JWKSURI)
	set(&c.JWKS, p.JWKS)
	set(&c.BackchannelLogoutURI, p.BackchannelLogoutURI)
	setBool := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	setBool(&c.BackchannelLogoutSessionRequired, p.BackchannelLogoutSessionRequired)
	setBool(&c.RequirePAR, p.RequirePAR)
	setBool(&c.DPoPBoundAccessTokens, p.DPoPBoundAccessTokens)
	setList(&c.Resources, p.Resources)
}

// UpdateClient applies the patch. A non-empty ifMatch must equal the stored client's ETag
// (ErrPreconditionFailed otherwise), compared in the same transaction as the write.
func (s *Service) UpdateClient(ctx context.Context, a Actor, id, ifMatch string, p ClientPatch) (*Client, error) {
	return s.UpdateClientOnce(ctx, a, id, ifMatch, p, "")
}

// UpdateClientOnce is UpdateClient under the caller's idempotency key (see keyedEventID):
// its repeat answers the client as it is now, not 412 for the ETag its first request changed.
func (s *Service) UpdateClientOnce(ctx context.Context, a Actor, id, ifMatch string, p ClientPatch, key string) (*Client, error) {
	if err := authorize(a, ManageClients); err != nil {
		return nil, err
	}
	if err := CheckPatch(p); err != nil {
		return nil, err
	}
	evID := keyedEventID(a, "admin.client.update", "client:"+id, key)
	// A refusal decided inside the update's callback is carried out of it in variables and
	// returned from the transaction: an error returned by the callback itself would read as
	// a failure of the store (see fault.GuardStore), and the transaction rolls the
	// (unchanged) write back.
	var c *storage.Client
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		var refused error
		var err error
		if prior, err := s.keyedBefore(ctx, tx, "admin.client.update", "client:"+id, evID); err != nil || prior != nil {
			if prior != nil {
				c, err = tx.GetClient(ctx, id)
			}
			return err
		}
		c, err = tx.UpdateClient(ctx, id, func(c *storage.Client) error {
			if ifMatch != "" && ifMatch != clientETag(c) {
				refused = ErrPreconditionFailed
				return nil
			}
			var problems []Problem
			if p.RedirectURIs != nil {
				problems = append(problems, checkRedirects("redirect_uris", *p.RedirectURIs, c.Type)...)
				if len(*p.RedirectURIs) == 0 && slices.Contains(c.GrantTypes, GrantCode) {
					problems = append(problems, Problem{Field: "redirect_uris", Reason: "is required for the authorization_code grant"})
				}
			}
			if p.PostLogoutRedirectURIs != nil {
				problems = append(problems, checkRedirects("post_logout_redirect_uris", *p.PostLogoutRedirectURIs, c.Type)...)
			}
			// The protocol settings are checked as a whole, on the client they would make.
			next := *c
			p.apply(&next)
			problems = append(problems, checkProtocol(protocolOf(&next), c.Type)...)
			if len(problems) > 0 {
				refused = &ValidationError{Problems: problems}
				return nil
			}
			p.apply(c)
			c.UpdatedAt = s.now()
			return nil
		})
		if err != nil {
			return err
		}
		if refused != nil {
			return refused
		}
		// Audited in the transaction: after it, a failed event left the change made and the
		// ETag changed, so the retry with the caller's If-Match was refused (412).
		return s.recordAs(ctx, tx, a, evID, "admin.client.update", "client:"+id, "", p.fields())
	})
	if err != nil {
		var ve *ValidationError
		if errors.Is(err, ErrPreconditionFailed) || errors.As(err, &ve) || errors.Is(err, ErrKeyReused) {
			return nil, err
		}
		return nil, notFound(err, "update client "+id)
	}
	return viewClient(c), nil
}

// DeleteClient deletes a client: its tokens stop working (see op/stateless.go). A
// non-empty ifMatch must equal the client's ETag.
func (s *Service) DeleteClient(ctx context.Context, a Actor, id, ifMatch string) error {
	return s.DeleteClientOnce(ctx, a, id, ifMatch, "")
}

// DeleteClientOnce is DeleteClient under the caller's idempotency key (see keyedEventID):
// its repeat answers that the client was deleted, not that it is not found.
func (s *Service) DeleteClientOnce(ctx context.Context, a Actor, id, ifMatch, key string) error {
	if err := authorize(a, ManageClients); err != nil {
		return err
	}
	evID := keyedEventID(a, "admin.client.delete", "client:"+id, key)
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if prior, err := s.keyedBefore(ctx, tx, "admin.client.delete", "client:"+id, evID); err != nil || prior != nil {
			return err
		}
		if ifMatch != "" {
			// Locked before it is compared, as UpdateClient's callback compares it: under
			// PostgreSQL's READ COMMITTED an update on another instance committed between a
			// plain read and the delete, and a client was deleted in a state its sender had
			// never seen.
			if err := tx.LockClient(ctx, id); err != nil {
				return err
			}
			c, err := tx.GetClient(ctx, id)
			if err != nil {
				return err
			}
			if clientETag(c) != ifMatch {
				return ErrPreconditionFailed
			}
		}
		if err := tx.DeleteClient(ctx, id); err != nil {
			return err
		}
		// In the transaction: after it, a failed event left the client deleted unaudited
		// and the retry answered 404.
		return s.recordAs(ctx, tx, a, evID, "admin.client.delete", "client:"+id, "", "")
	})
	if errors.Is(err, ErrPreconditionFailed) || errors.Is(err, ErrKeyReused) {
		return err
	}
	if err != nil {
		return notFound(err, "delete client "+id)
	}
	return nil
}

// RotateSecret gives a confidential client a new secret (returned, shown only now); the old
// one stops working at once.
func (s *Service) RotateSecret(ctx context.Context, a Actor, id string) (string, error) {
	if err := authorize(a, ManageClients); err != nil {
		return "", err
	}
	sec := secret.RandomToken(32)
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		_, err := tx.UpdateClient(ctx, id, func(c *storage.Client) error {
			if c.Type != storage.ClientConfidential {
				return fmt.Errorf("only confidential clients have a secret: %w", ErrWrongState)
			}
			c.SecretHash = secret.HashToken(sec)
			c.UpdatedAt = s.now()
			return nil
		})
		if err != nil {
			return err
		}
		// In the transaction: after it, a failed event had already replaced the secret
		// with one nobody was shown, breaking the client until a retry rotated again.
		return s.recordIn(ctx, tx, a, "admin.client.rotate_secret", "client:"+id, "", "")
	})
	if err != nil {
		if errors.Is(err, ErrWrongState) {
			return "", err
		}
		return "", notFound(err, "rotate secret of "+id)
	}
	return sec, nil
}
