// Package admin is the one place every admin and support operation lives (issue 13): the
// HTTP admin API (api.go), the admin console and the CLI all call Service, so a rule, an
// authorisation check and an audit event exist once.
//
// Every method takes the Actor doing it first (after the context). Authorisation is decided
// here, not by the callers: an actor's permissions come from its scopes, and for a person
// from the roles on their account intersected with those scopes (see Actor.Can). Every
// change writes an audit event naming the actor, the target, the reason and the IP.
//
// Errors are typed so that callers can answer them: ErrForbidden, ErrNotFound,
// *ValidationError, ErrWrongState, ErrPreconditionFailed (and errors.Is(err,
// fault.ErrUnavailable) for a store that failed, which is never the caller's fault).
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// Scopes of the admin API. A token carries them only when its client was registered with
// them (client.Scopes, `myaccount client create --scope admin:write`): a client that was not
// cannot mint them.
const (
	ScopeRead    = "admin:read"  // read users, clients and the audit log
	ScopeWrite   = "admin:write" // everything admin:read does, and change clients and accounts
	ScopeSupport = "support"     // find and show people, and help them sign in
)

// AllScopes lists the admin scopes.
var AllScopes = []string{ScopeRead, ScopeWrite, ScopeSupport}

// Permission is one kind of operation.
type Permission int

// Permissions, and which operations need them.
const (
	ReadUsers     Permission = iota // search and show people
	SupportUsers                    // unlock, resend activation, send a reset link, sign out everywhere, remove second factors
	ManageUsers                     // lock, delete
	ReadClients                     // list and show clients
	ManageClients                   // create, update, delete clients, rotate secrets
	ReadAudit                       // query and export the audit log
	ManageRoles                     // grant and revoke the roles of people (who may administer)
)

func (p Permission) String() string {
	switch p {
	case ReadUsers:
		return "read users"
	case SupportUsers:
		return "support users"
	case ManageUsers:
		return "manage users"
	case ReadClients:
		return "read clients"
	case ManageClients:
		return "manage clients"
	case ReadAudit:
		return "read the audit log"
	case ManageRoles:
		return "manage roles"
	}
	return fmt.Sprintf("permission(%d)", int(p))
}

// scopesFor lists the scopes any one of which grants p. admin:write implies admin:read (a
// writer must read what it changes, e.g. for its ETag); support never reaches clients, keys
// or secrets, and does not lock or delete accounts.
func scopesFor(p Permission) []string {
	switch p {
	case ReadUsers:
		return []string{ScopeRead, ScopeWrite, ScopeSupport}
	case SupportUsers:
		return []string{ScopeWrite, ScopeSupport}
	case ReadClients, ReadAudit:
		return []string{ScopeRead, ScopeWrite}
	default: // ManageUsers, ManageClients, ManageRoles
		return []string{ScopeWrite}
	}
}

// roleScopes are the scopes each role lets a person use.
var roleScopes = map[string][]string{
	storage.RoleAdmin:   AllScopes,
	storage.RoleSupport: {ScopeSupport},
}

// Actor is who performs an operation.
type Actor struct {
	// UserID is the person acting (their access token, or their console session); empty for
	// automation.
	UserID string
	// ClientID is the OAuth client whose access token this is (empty for the console and
	// the CLI).
	ClientID string
	// Roles are the person's roles (storage.RoleAdmin, storage.RoleSupport); ignored when
	// UserID is empty. Load them with Service.PersonActor.
	Roles []string
	// Scopes were granted to the token. A person's console session passes AllScopes: then
	// the roles alone decide.
	Scopes []string
	// IP and UserAgent of the request, for the audit log.
	IP        string
	UserAgent string
	// Operator marks the CLI run on the database host: it may do everything.
	Operator bool
	// SecondFactor: the person's sign-in (their console session, or the one their token was
	// issued to) proved a second factor. A person's roles count only with it: staff act on
	// other people's accounts, and a stolen password alone must not let anyone do so,
	// through the console or the API alike (PersonActor sets it; NeedsSecondFactor).
	SecondFactor bool
}

// CLI is the operator at the command line.
func CLI() Actor { return Actor{Operator: true} }

// ID names the actor in audit events: "user:ID", "client:ID" or "cli".
func (a Actor) ID() string {
	switch {
	case a.Operator:
		return "cli"
	case a.UserID != "":
		return "user:" + a.UserID
	case a.ClientID != "":
		return "client:" + a.ClientID
	}
	return "anonymous"
}

// Effective returns the scopes the actor may use: a client's token scopes, or for a person
// the token's scopes their roles allow.
func (a Actor) Effective() []string {
	if a.Operator {
		return AllScopes
	}
	if a.UserID != "" && !a.SecondFactor {
		return nil
	}
	var out []string
	for _, sc := range a.Scopes {
		if !slices.Contains(AllScopes, sc) {
			continue
		}
		if a.UserID != "" {
			allowed := false
			for _, r := range a.Roles {
				allowed = allowed || slices.Contains(roleScopes[r], sc)
			}
			if !allowed {
				continue
			}
		}
		out = append(out, sc)
	}
	return out
}

// NeedsSecondFactor reports whether the actor is a person whose roles would allow something
// once their sign-in proves a second factor, which it has not: the console asks for one, and
// the API answers insufficient_user_authentication (RFC 9470).
func (a Actor) NeedsSecondFactor() bool {
	if a.UserID == "" || a.SecondFactor {
		return false
	}
	a.SecondFactor = true
	return len(a.Effective()) > 0
}

// Can reports whether the actor has the permission.
func (a Actor) Can(p Permission) bool {
	eff := a.Effective()
	for _, sc := range scopesFor(p) {
		if slices.Contains(eff, sc) {
			return true
		}
	}
	return false
}

// Errors the service returns; callers map them (the API to 403, 404, 422, 409, 412).
var (
	ErrForbidden          = errors.New("admin: not allowed")
	ErrNotFound           = errors.New("admin: not found")
	ErrWrongState         = errors.New("admin: not possible in the current state")
	ErrPreconditionFailed = errors.New("admin: the resource changed since it was read")
	// ErrReasonRequired is a *ValidationError's cause for actions that need a reason.
	ErrReasonRequired = errors.New("admin: a reason is required")
	// ErrKeyReused: an Idempotency-Key came again with another request, or after its
	// window, or after what it created was deleted (see CreateClientOnce).
	ErrKeyReused = errors.New("admin: the idempotency key was used for another request")
)

// ForbiddenError says which permission the actor lacks; errors.Is(err, ErrForbidden).
type ForbiddenError struct{ Need Permission }

func (e *ForbiddenError) Error() string { return "admin: not allowed to " + e.Need.String() }

// Is makes errors.Is(err, ErrForbidden) hold.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Problem is one invalid field of a request.
type Problem struct {
	Field string `json:"field"` // JSON name of the field
	Value string `json:"value,omitempty"`
	// Reason completes the sentence "<field> [<value>] <reason>".
	Reason string `json:"reason"`
	// Sentence, when set, is the whole message (a rule about several fields).
	Sentence string `json:"-"`
}

// Text renders the problem naming the field as label (a JSON name, a CLI flag).
func (p Problem) Text(label string) string {
	if p.Sentence != "" {
		return p.Sentence
	}
	if p.Value != "" {
		return fmt.Sprintf("%s %q %s", label, p.Value, p.Reason)
	}
	return label + " " + p.Reason
}

// ValidationError lists what is wrong with a request.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Text(p.Field)
	}
	return strings.Join(parts, "\n")
}

// Service performs admin operations. Store is required; Accounts and Sessions are needed by
// the user operations (the CLI's client commands run without them).
type Service struct {
	Store    storage.Store
	Accounts *account.Service
	// Sessions ends a person's sessions and grants (sign out everywhere, a lock).
	Sessions *sessions.Service
	Now      func() time.Time
	Logger   *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// authorize fails with a *ForbiddenError when the actor lacks p.
func authorize(a Actor, p Permission) error {
	if !a.Can(p) {
		return &ForbiddenError{Need: p}
	}
	return nil
}

// PersonActor builds the actor for a person's token or console session: it loads their
// roles, and refuses an account that may not sign in (ErrForbidden), so a locked admin's
// unexpired token stops working at once. amr are the methods the sign-in proved (the
// session's, or the token's grant's): without a second factor among them the roles count
// for nothing (Actor.SecondFactor).
func (s *Service) PersonActor(ctx context.Context, userID, clientID string, scopes, amr []string, ip, userAgent string) (Actor, error) {
	u, err := s.Store.GetUser(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return Actor{}, fmt.Errorf("actor %q: %w", userID, ErrForbidden)
	}
	if err != nil {
		return Actor{}, fmt.Errorf("actor: %w", err)
	}
	if !u.MaySignIn() {
		return Actor{}, fmt.Errorf("actor %q is %s: %w", userID, u.Status, ErrForbidden)
	}
	roles, err := s.Store.ListUserRoles(ctx, userID)
	if err != nil {
		return Actor{}, fmt.Errorf("actor roles: %w", err)
	}
	return Actor{UserID: userID, ClientID: clientID, Roles: roles, Scopes: scopes, IP: ip, UserAgent: userAgent,
		SecondFactor: mfa.EvidenceFromAMR(amr).MFA()}, nil
}

// record writes the audit event of an admin action. A failure is returned: an action that
// cannot be audited is reported as failed (it may be retried; every action is idempotent or
// refuses a second time). An action that changes state records through its transaction
// (recordIn): written after the commit, a failed event would leave the change done, unaudited
// and reported as failed, and a retry refused (already locked, not found, a stale ETag).
func (s *Service) record(ctx context.Context, a Actor, typ, target, reason, detail string) error {
	return s.recordIn(ctx, s.Store, a, typ, target, reason, detail)
}

// auditor is what recording needs: the service's store or a transaction's (InTx).
type auditor interface {
	AddAuditEvent(ctx context.Context, e *storage.AuditEvent) error
}

// recordIn is record through st, so that the event commits or rolls back with the action.
func (s *Service) recordIn(ctx context.Context, st auditor, a Actor, typ, target, reason, detail string) error {
	return s.recordAs(ctx, st, a, "", typ, target, reason, detail)
}

// recordAs is recordIn with the event's id ("" for a random one): a keyed action's (see
// keyedEventID).
func (s *Service) recordAs(ctx context.Context, st auditor, a Actor, id, typ, target, reason, detail string) error {
	e := s.event(a, typ, target, reason, detail)
	e.ID = id
	return s.addEvent(ctx, st, e)
}

// event is the audit event of an admin action by a.
func (s *Service) event(a Actor, typ, target, reason, detail string) *storage.AuditEvent {
	ua := a.UserAgent
	if len(ua) > 256 {
		ua = ua[:256]
	}
	return &storage.AuditEvent{Type: typ, IP: a.IP, UserAgent: ua, Actor: a.ID(), Target: target, Reason: reason,
		Detail: detail, CreatedAt: s.now()}
}

// addEvent writes e through st.
func (s *Service) addEvent(ctx context.Context, st auditor, e *storage.AuditEvent) error {
	if err := st.AddAuditEvent(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Type, err)
	}
	return nil
}

// notFound maps storage.ErrNotFound to ErrNotFound, keeping other errors.
func notFound(err error, what string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
