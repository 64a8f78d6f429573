package admin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/mfa"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/storage"
)

// User is a person's account as a list shows it.
type User struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"`
	EmailVerified bool       `json:"email_verified"`
	Status        string     `json:"status"`
	CreatedAt     time.Time  `json:"created_at"`
	ActivatedAt   *time.Time `json:"activated_at"`
	// ETag is the version of the account's state (status, lock, address).
	ETag string `json:"-"`
}

func viewUser(u *storage.User) User {
	return User{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Status: u.Status,
		CreatedAt: u.CreatedAt.UTC(), ActivatedAt: utc(u.ActivatedAt), ETag: userETag(u)}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func userETag(u *storage.User) string {
	ms := func(t *time.Time) int64 {
		if t == nil {
			return 0
		}
		return t.UnixMilli()
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%t|%d|%d|%d|%d|%s", u.ID, u.Email, u.Status, u.EmailVerified,
		u.UpdatedAt.UnixMilli(), ms(u.LockedUntil), u.LockoutCount, ms(u.ActivatedAt), u.PreferredMFA))
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// UserFilter selects people.
type UserFilter struct {
	EmailPrefix string // of the normalised address
	Status      string // storage.UserPending, UserActive, UserLocked, UserDisabled; "" = any
}

// UserPage is one page of a search; Next is the opaque cursor of the following page ("" at
// the end).
type UserPage struct {
	Users []User
	Next  string
}

// MaxPage bounds a page.
const MaxPage = 200

func pageSize(limit int) int {
	if limit <= 0 {
		return 50
	}
	return min(limit, MaxPage)
}

// SearchUsers pages through people matching f in id order. cursor is "" or a Next.
func (s *Service) SearchUsers(ctx context.Context, a Actor, f UserFilter, cursor string, limit int) (UserPage, error) {
	if err := authorize(a, ReadUsers); err != nil {
		return UserPage{}, err
	}
	if f.Status != "" && !slices.Contains([]string{storage.UserPending, storage.UserActive, storage.UserLocked, storage.UserDisabled}, f.Status) {
		return UserPage{}, &ValidationError{Problems: []Problem{{Field: "status", Value: f.Status, Reason: "is not pending, active, locked or disabled"}}}
	}
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !strings.HasPrefix(string(b), "u:") {
			return UserPage{}, &ValidationError{Problems: []Problem{{Field: "cursor", Reason: "is not a cursor this API gave"}}}
		}
		after = string(b[2:])
	}
	n := pageSize(limit)
	us, err := s.Store.SearchUsers(ctx, storage.UserQuery{EmailPrefix: account.NormalizeEmail(f.EmailPrefix),
		Status: f.Status, AfterID: after, Limit: n + 1})
	if err != nil {
		return UserPage{}, fmt.Errorf("search users: %w", err)
	}
	var p UserPage
	if len(us) > n {
		us = us[:n]
		p.Next = base64.RawURLEncoding.EncodeToString([]byte("u:" + us[n-1].ID))
	}
	p.Users = make([]User, len(us))
	for i, u := range us {
		p.Users[i] = viewUser(u)
	}
	return p, nil
}

// NewUser is an account an operator creates (`myaccount user create`): active at once, its
// address needing no activation.
type NewUser struct {
	Email    string
	Password string
	// Profile is stored with the account (nil: none; the person completes it at their first
	// sign-in). The caller validates it with the profile page's rules (account.ValidateProfile).
	Profile *account.Profile
}

// CreateUser creates an active account. The address is normalised and the password checked by
// the account service's rules, the ones registration applies (account.CanonicalEmail,
// ValidatePassword: accounts.min_password_length, the blocklist, the address and the product's
// name); an address in use is ErrWrongState.
//
// The account, its profile and its audit event ("admin.user.create", naming the actor) are one
// transaction: a failure leaves no account and the retry creates it. Written apart, a failed
// profile write left the account without its profile and the retry was told the address was
// taken; and no event said who had created it.
func (s *Service) CreateUser(ctx context.Context, a Actor, nu NewUser) (*storage.User, error) {
	if err := authorize(a, ManageUsers); err != nil {
		return nil, err
	}
	if s.Accounts == nil {
		return nil, errors.New("admin: creating an account needs the account service")
	}
	canon, err := account.CanonicalEmail(nu.Email)
	if err != nil {
		return nil, err
	}
	var u *storage.User
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		if u, err = s.Accounts.CreateIn(ctx, tx, canon, nu.Password, storage.UserActive); err != nil {
			return err
		}
		if p := nu.Profile; p != nil {
			if u, err = tx.UpdateUser(ctx, u.ID, func(x *storage.User) error {
				x.Name, x.Country, x.Region, x.ZoneInfo, x.DateFormat, x.Locale = p.Name, p.Country, p.Region, p.ZoneInfo, p.DateFormat, p.Locale
				x.UpdatedAt = s.now()
				return nil
			}); err != nil {
				return fmt.Errorf("profile: %w", err)
			}
		}
		return s.recordIn(ctx, tx, a, "admin.user.create", "user:"+u.ID, "", "")
	})
	if errors.Is(err, storage.ErrConflict) {
		return nil, fmt.Errorf("an account with the email %q already exists: %w", canon, ErrWrongState)
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// UpdateProfile sets a person's profile (`myaccount user update`); fields names what changed,
// for the audit event. The caller validates the profile with the profile page's rules
// (account.ValidateProfile). The change and its "admin.user.update" event, naming the actor,
// are one transaction. Before, the CLI wrote the profile itself, and no event said that an
// operator had changed it.
func (s *Service) UpdateProfile(ctx context.Context, a Actor, id string, p account.Profile, fields string) (*storage.User, error) {
	if err := authorize(a, ManageUsers); err != nil {
		return nil, err
	}
	var u *storage.User
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		if u, err = tx.UpdateUser(ctx, id, func(x *storage.User) error {
			x.Name, x.Country, x.Region, x.ZoneInfo, x.DateFormat, x.Locale = p.Name, p.Country, p.Region, p.ZoneInfo, p.DateFormat, p.Locale
			x.UpdatedAt = s.now()
			return nil
		}); err != nil {
			return err
		}
		return s.recordIn(ctx, tx, a, "admin.user.update", "user:"+id, "", fields)
	})
	if err != nil {
		return nil, notFound(err, "update user "+id)
	}
	return u, nil
}

// Lock is why password sign-in to an account is refused, if it is.
type Lock struct {
	// Locked: an operator locked the account (status locked); Reason and By say why and who
	// (from the audit log).
	Locked bool       `json:"locked"`
	Reason string     `json:"reason,omitempty"`
	By     string     `json:"by,omitempty"`
	At     *time.Time `json:"at,omitempty"`
	// LockedOutUntil is the end of a lockout after too many wrong passwords.
	LockedOutUntil *time.Time `json:"locked_out_until,omitempty"`
	LockoutLevel   int        `json:"lockout_level"`
}

// Factor is an enrolled second factor (never its secret).
type Factor struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	Flagged    bool       `json:"flagged"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// Session is a browser signed in to the account.
type Session struct {
	ID         string    `json:"id"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// Device is an installation signed in to the account (a native app, a TV).
type Device struct {
	GrantID    string    `json:"grant_id"`
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
}

// App is a product with access to the account.
type App struct {
	ClientID  string    `json:"client_id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	Consented bool      `json:"consented"`
	FirstUse  time.Time `json:"first_use"`
	LastUse   time.Time `json:"last_use"`
}

// UserDetail is everything support needs to see why a person cannot sign in.
type UserDetail struct {
	User
	Name          string         `json:"name"`
	Locale        string         `json:"locale"`
	Roles         []string       `json:"roles"`
	Lock          Lock           `json:"lock"`
	Factors       []Factor       `json:"factors"`
	FactorsByKind map[string]int `json:"factors_by_kind"`
	RecoveryCodes int            `json:"recovery_codes"`
	PreferredMFA  string         `json:"preferred_mfa"`
	Sessions      []Session      `json:"sessions"`
	Devices       []Device       `json:"devices"`
	Apps          []App          `json:"apps"`
	// Activity is the person's own recent security events and the admin actions on the
	// account, newest first.
	Activity []AuditEntry `json:"recent_activity"`
}

// recentActivity is how many events of each kind UserDetail shows.
const recentActivity = 20

// GetUser returns one account in detail.
func (s *Service) GetUser(ctx context.Context, a Actor, id string) (*UserDetail, error) {
	if err := authorize(a, ReadUsers); err != nil {
		return nil, err
	}
	u, err := s.Store.GetUser(ctx, id)
	if err != nil {
		return nil, notFound(err, "user "+id)
	}
	d := &UserDetail{User: viewUser(u), Name: u.Name, Locale: u.Locale, PreferredMFA: u.PreferredMFA,
		FactorsByKind: map[string]int{}, Factors: []Factor{}, Sessions: []Session{}, Devices: []Device{}, Apps: []App{}}
	if d.Roles, err = s.Store.ListUserRoles(ctx, id); err != nil {
		return nil, fmt.Errorf("user roles: %w", err)
	}
	if err := s.fillLock(ctx, u, d); err != nil {
		return nil, err
	}
	creds, err := s.Store.ListMFACredentials(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("user factors: %w", err)
	}
	for _, c := range creds {
		d.Factors = append(d.Factors, Factor{ID: c.ID, Kind: c.Kind, Name: c.Name, Flagged: c.Flagged,
			CreatedAt: c.CreatedAt.UTC(), LastUsedAt: utc(c.LastUsedAt)})
		d.FactorsByKind[c.Kind]++
	}
	if d.RecoveryCodes, err = s.Store.CountRecoveryCodes(ctx, id); err != nil {
		return nil, fmt.Errorf("user recovery codes: %w", err)
	}
	now := s.now()
	all, err := s.Store.ListSessions(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("user sessions: %w", err)
	}
	for _, x := range all {
		if sessions.Live(x, now) {
			d.Sessions = append(d.Sessions, Session{ID: x.ID, UserAgent: x.UserAgent, IP: x.IP,
				CreatedAt: x.CreatedAt.UTC(), LastSeenAt: x.LastSeenAt.UTC(), ExpiresAt: x.ExpiresAt.UTC()})
		}
	}
	if err := s.fillAppsAndDevices(ctx, id, d); err != nil {
		return nil, err
	}
	own, err := s.Store.ListAuditEvents(ctx, id, recentActivity)
	if err != nil {
		return nil, fmt.Errorf("user activity: %w", err)
	}
	theirs, err := s.Store.QueryAuditEvents(ctx, storage.AuditQuery{Target: "user:" + id, Limit: recentActivity})
	if err != nil {
		return nil, fmt.Errorf("admin actions on user: %w", err)
	}
	// An event can be both (the CLI's role changes name the person and target them): once.
	events := own
	for _, e := range theirs {
		if !slices.ContainsFunc(own, func(o *storage.AuditEvent) bool { return o.ID == e.ID }) {
			events = append(events, e)
		}
	}
	slices.SortStableFunc(events, func(x, y *storage.AuditEvent) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})
	d.Activity = make([]AuditEntry, 0, len(events))
	for _, e := range events {
		d.Activity = append(d.Activity, viewEvent(e))
	}
	return d, nil
}

// fillLock reads the operator lock (and its reason) and the password lockout.
func (s *Service) fillLock(ctx context.Context, u *storage.User, d *UserDetail) error {
	if u.Status == storage.UserLocked {
		d.Lock.Locked = true
		last, err := s.Store.QueryAuditEvents(ctx, storage.AuditQuery{Target: "user:" + u.ID, Type: "admin.user.lock", Limit: 1})
		if err != nil {
			return fmt.Errorf("lock reason: %w", err)
		}
		if len(last) == 1 {
			d.Lock.Reason, d.Lock.By, d.Lock.At = last[0].Reason, last[0].Actor, utc(&last[0].CreatedAt)
		}
	}
	if s.Accounts != nil {
		lo, err := s.Accounts.LockoutOf(ctx, u)
		if err != nil {
			return err
		}
		if !lo.Until.IsZero() {
			d.Lock.LockedOutUntil = utc(&lo.Until)
		}
		d.Lock.LockoutLevel = lo.Level
	}
	return nil
}

func (s *Service) fillAppsAndDevices(ctx context.Context, id string, d *UserDetail) error {
	if s.Accounts != nil {
		apps, err := s.Accounts.Apps(ctx, id)
		if err != nil {
			return err
		}
		for _, x := range apps {
			d.Apps = append(d.Apps, App{ClientID: x.Client.ID, Name: x.Client.Name, Scopes: nonNil(x.Scopes),
				Consented: x.Consented, FirstUse: x.FirstUse.UTC(), LastUse: x.LastUse.UTC()})
		}
	}
	grants, err := s.Store.ListGrants(ctx, id)
	if err != nil {
		return fmt.Errorf("user grants: %w", err)
	}
	clients := map[string]*storage.Client{}
	for _, g := range grants {
		if g.RevokedAt != nil {
			continue
		}
		c, ok := clients[g.ClientID]
		if !ok {
			if c, err = s.Store.GetClient(ctx, g.ClientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("grant client: %w", err)
			}
			clients[g.ClientID] = c
		}
		if c == nil || !account.IsInstallation(c) {
			continue
		}
		d.Devices = append(d.Devices, Device{GrantID: g.ID, ClientID: c.ID, ClientName: c.Name, Name: g.DeviceName,
			CreatedAt: g.CreatedAt.UTC(), LastUsedAt: g.LastUsedAt.UTC()})
	}
	return nil
}

// userIn locks the target account in tx, the transaction of the action, and reads it,
// checking ifMatch (when given) against its ETag. The lock holds the account as checked until
// the action commits: under PostgreSQL's READ COMMITTED, several instances at once, a plain
// read let a lock (or any change) commit between the check and the write, and an unlock or a
// deletion sent with the ETag from before it went through all the same, an unlock undoing
// the newer lock. It is taken before the action's other writes of the person, as
// mfa.LockFactors is, so the order is the same everywhere.
func userIn(ctx context.Context, tx storage.Store, id, ifMatch string) (*storage.User, error) {
	if err := tx.LockUser(ctx, id); err != nil {
		return nil, err
	}
	u, err := tx.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	if ifMatch != "" && ifMatch != userETag(u) {
		return nil, ErrPreconditionFailed
	}
	return u, nil
}

// userFor loads the target account, checking ifMatch (when given) against its ETag.
func (s *Service) userFor(ctx context.Context, id, ifMatch string) (*storage.User, error) {
	u, err := s.Store.GetUser(ctx, id)
	if err != nil {
		return nil, notFound(err, "user "+id)
	}
	if ifMatch != "" && ifMatch != userETag(u) {
		return nil, ErrPreconditionFailed
	}
	return u, nil
}

func meta(a Actor) account.Meta { return account.Meta{IP: a.IP, UserAgent: a.UserAgent} }

// The user actions' Idempotency-Key (the admin API's header; "" for none). A script whose
// answer was lost sends the action again with the same key and is answered as its first
// request was, and nothing is done twice: no second mail, no "already locked" (409), no
// "removed 0", no 404 for the account it deleted. The action's audit event gets an id derived
// from the action, its target, the actor and the key, and commits with the action: a retry
// finds it there, without a table of keys. Within IdempotencyWindow it is the repeat; after
// it the key is ErrKeyReused (the event keeps its id, and a second one under it would not be
// written).
func keyedEventID(a Actor, typ, target, key string) string {
	if key == "" {
		return ""
	}
	return secret.DerivedID("admin action\x00" + typ + "\x00" + target + "\x00" + a.ClientID + "\x00" + a.UserID + "\x00" + key)
}

// keyedBefore returns the event the key's first request wrote (nil when there is none: this
// is the first, or the first did not commit), read through st (the action's transaction).
//
// The key is counted first, in st: the count's row is held until the transaction ends, so a
// second sending served side by side with the first (PostgreSQL runs them at once; a script's
// timeout may be shorter than the request) waits for the first to commit or roll back, then
// reads its event, instead of doing the action again with its event dropped as a duplicate.
func (s *Service) keyedBefore(ctx context.Context, st storage.Store, typ, target, eventID string) (*storage.AuditEvent, error) {
	if eventID == "" {
		return nil, nil
	}
	if _, err := st.HitCounter(ctx, "admin-key:"+eventID, IdempotencyWindow, s.now()); err != nil {
		return nil, fmt.Errorf("idempotency key: %w", err)
	}
	// By its id (the primary key): the id is derived from the action, target, actor and key.
	evs, err := st.QueryAuditEvents(ctx, storage.AuditQuery{ID: eventID, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("idempotency key: %w", err)
	}
	if len(evs) == 0 {
		return nil, nil
	}
	if s.now().Sub(evs[0].CreatedAt) >= IdempotencyWindow {
		return nil, fmt.Errorf("%s on %s: %w", typ, target, ErrKeyReused)
	}
	return evs[0], nil
}

func needReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return &ValidationError{Problems: []Problem{{Field: "reason", Reason: "is required"}}}
	}
	return nil
}

// LockUser locks an account: it may not sign in (not even with a reset link) until it is
// unlocked, and every session and token of it ends. A reason is required.
//
// The lock, its audit event and the end of the sessions and grants are one transaction: a
// failure of any leaves the account as it was, and the retry of the 503 does the whole lock.
// Committed one after another, a failed audit or sign-out left the account locked with its
// sessions and refresh tokens live, and the retry was refused as "already locked" (409). The
// relying parties' logout tokens are queued in the same transaction (back-channel logout),
// as DeleteUser's are.
func (s *Service) LockUser(ctx context.Context, a Actor, id, ifMatch, reason string) (*User, error) {
	return s.LockUserOnce(ctx, a, id, ifMatch, reason, "")
}

// LockUserOnce is LockUser under the caller's idempotency key (see keyedEventID): its repeat
// answers the account as it is now, instead of "already locked".
func (s *Service) LockUserOnce(ctx context.Context, a Actor, id, ifMatch, reason, key string) (*User, error) {
	if err := authorize(a, ManageUsers); err != nil {
		return nil, err
	}
	if err := needReason(reason); err != nil {
		return nil, err
	}
	evID := keyedEventID(a, "admin.user.lock", "user:"+id, key)
	var u *storage.User
	repeat := false
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		now := s.now()
		var refused error
		var err error
		if prior, err := s.keyedBefore(ctx, tx, "admin.user.lock", "user:"+id, evID); err != nil || prior != nil {
			if prior != nil {
				repeat = true
				u, err = tx.GetUser(ctx, id)
			}
			return err
		}
		u, err = tx.UpdateUser(ctx, id, func(u *storage.User) error {
			switch {
			case ifMatch != "" && ifMatch != userETag(u):
				refused = ErrPreconditionFailed
			case u.Status == storage.UserLocked || u.Status == storage.UserDisabled:
				refused = fmt.Errorf("lock a %s account: %w", u.Status, ErrWrongState)
			default:
				u.Status, u.UpdatedAt = storage.UserLocked, now
			}
			return nil // a refusal leaves the callback as a variable (see UpdateClient)
		})
		if err != nil {
			return err
		}
		if refused != nil {
			return refused
		}
		if err := s.recordAs(ctx, tx, a, evID, "admin.user.lock", "user:"+id, reason, ""); err != nil {
			return err
		}
		return sessions.EndAll(ctx, tx, s.notifier(), id, now)
	})
	if errors.Is(err, ErrWrongState) || errors.Is(err, ErrPreconditionFailed) || errors.Is(err, ErrKeyReused) {
		return nil, err
	}
	if err != nil {
		return nil, notFound(err, "lock user "+id)
	}
	if !repeat {
		sessions.Told(s.notifier())
	}
	v := viewUser(u)
	return &v, nil
}

// UnlockUser lifts an operator lock (the account returns to active, or to pending when it
// was never activated) and any password lockout after wrong passwords.
//
// The If-Match check, the lockout's end, the status and the audit event are one transaction:
// a failure anywhere leaves the account (and its ETag) as the caller read it, so the retry of
// the 503 with the same If-Match finishes the unlock. Before, the lockout was lifted first, in
// writes of its own that change the ETag: a failure after them answered 503 and the retry 412
// (the console: "Changed meanwhile"), for an account nobody else had touched.
func (s *Service) UnlockUser(ctx context.Context, a Actor, id, ifMatch, reason string) (*User, error) {
	return s.UnlockUserOnce(ctx, a, id, ifMatch, reason, "")
}

// UnlockUserOnce is UnlockUser under the caller's idempotency key (see keyedEventID): its
// repeat answers the account as it is now, not 412 for the ETag its first request changed.
func (s *Service) UnlockUserOnce(ctx context.Context, a Actor, id, ifMatch, reason, key string) (*User, error) {
	if err := authorize(a, SupportUsers); err != nil {
		return nil, err
	}
	if s.Accounts == nil {
		return nil, errors.New("admin: unlock needs the account service")
	}
	var u *storage.User
	evID := keyedEventID(a, "admin.user.unlock", "user:"+id, key)
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if prior, err := s.keyedBefore(ctx, tx, "admin.user.unlock", "user:"+id, evID); err != nil || prior != nil {
			if prior != nil {
				u, err = tx.GetUser(ctx, id)
			}
			return err
		}
		cur, err := userIn(ctx, tx, id, ifMatch)
		if err != nil {
			return err
		}
		if err := s.Accounts.UnlockIn(ctx, tx, cur); err != nil {
			return err
		}
		u, err = tx.UpdateUser(ctx, id, func(u *storage.User) error {
			if u.Status != storage.UserLocked {
				return nil // not operator-locked
			}
			u.Status, u.UpdatedAt = storage.UserActive, s.now()
			if u.ActivatedAt == nil {
				u.Status = storage.UserPending
			}
			return nil
		})
		if err != nil {
			return err
		}
		return s.recordAs(ctx, tx, a, evID, "admin.user.unlock", "user:"+id, reason, "")
	})
	if errors.Is(err, ErrPreconditionFailed) || errors.Is(err, ErrKeyReused) {
		return nil, err
	}
	if err != nil {
		return nil, notFound(err, "unlock user "+id)
	}
	v := viewUser(u)
	return &v, nil
}

// ResendActivation mails a fresh activation link to a pending account (ErrWrongState for
// any other).
func (s *Service) ResendActivation(ctx context.Context, a Actor, id, reason string) error {
	return s.ResendActivationOnce(ctx, a, id, reason, "")
}

// ResendActivationOnce is ResendActivation under the caller's idempotency key (see
// keyedEventID): its repeat sends nothing.
func (s *Service) ResendActivationOnce(ctx context.Context, a Actor, id, reason, key string) error {
	return s.supportMail(ctx, a, id, reason, key, "admin.user.resend_activation", (*account.Service).ActivationLinkIn)
}

// SendReset mails a password-reset link to an active or pending account (ErrWrongState for
// any other).
func (s *Service) SendReset(ctx context.Context, a Actor, id, reason string) error {
	return s.SendResetOnce(ctx, a, id, reason, "")
}

// SendResetOnce is SendReset under the caller's idempotency key (see keyedEventID): its
// repeat sends nothing.
func (s *Service) SendResetOnce(ctx context.Context, a Actor, id, reason, key string) error {
	return s.supportMail(ctx, a, id, reason, key, "admin.user.send_reset", (*account.Service).ResetLinkIn)
}

// supportMail issues a link to the account and audits it (ResendActivation, SendReset).
//
// The link's token, its queued mail and the audit event are one transaction (the account
// service issues the link through it), and the mail worker is woken after its commit: a
// failure of any writes nothing, and the retry of the 503 sends one link, audited once.
// Written apart (the event first, then the link in writes of its own), a failed token or
// enqueue left an event for a link never sent, and the retry a second event. The account's
// state is read in the transaction too, and a state the link's rules refuse
// (ErrWrongState) writes nothing.
func (s *Service) supportMail(ctx context.Context, a Actor, id, reason, key, typ string,
	issue func(*account.Service, context.Context, storage.Store, *storage.User, account.Meta) (*account.SentLink, error)) error {
	if err := authorize(a, SupportUsers); err != nil {
		return err
	}
	if s.Accounts == nil {
		return errors.New("admin: mail needs the account service")
	}
	var link *account.SentLink
	evID := keyedEventID(a, typ, "user:"+id, key)
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		link = nil // the transaction may run again
		if prior, err := s.keyedBefore(ctx, tx, typ, "user:"+id, evID); err != nil || prior != nil {
			return err // sent by the key's first request
		}
		u, err := tx.GetUser(ctx, id)
		if err != nil {
			return err
		}
		if link, err = issue(s.Accounts, ctx, tx, u, meta(a)); err != nil {
			return err
		}
		return s.recordAs(ctx, tx, a, evID, typ, "user:"+id, reason, "")
	})
	if errors.Is(err, account.ErrWrongState) {
		return fmt.Errorf("%w: %w", ErrWrongState, err)
	}
	if errors.Is(err, ErrKeyReused) {
		return err
	}
	if err != nil {
		return notFound(err, typ+" "+id)
	}
	if link == nil {
		return nil
	}
	return link.Committed(ctx)
}

// RemoveFactors deletes the person's second factors of one kind (storage.MFATOTP,
// storage.MFAWebAuthn) or, with kind "", all of them (recovery codes and remembered browsers
// go too, see mfa.RemoveFactorIn). A reason is required; the owner is notified. It returns
// how many were removed.
//
// The credentials, the remembered browsers, the recovery codes, the preferred method (when
// it was the kind removed) and the audit event are one transaction, and the owner is told
// after its commit: a failure of ours removes nothing, and the retry of the 503 removes
// everything, audits it with the true count and tells the owner. Written one by one, a failed
// audit left the factors gone unaudited, and the retry found nothing, audited "all (0)" and
// told no one; a failure after a credential's delete left its browsers trusted for good.
func (s *Service) RemoveFactors(ctx context.Context, a Actor, id, kind, reason string) (int, error) {
	return s.RemoveFactorsOnce(ctx, a, id, kind, reason, "")
}

// RemoveFactorsOnce is RemoveFactors under the caller's idempotency key (see keyedEventID):
// its repeat answers the count the first request removed (from its audit event), instead of
// removing nothing and answering 0.
func (s *Service) RemoveFactorsOnce(ctx context.Context, a Actor, id, kind, reason, key string) (int, error) {
	if err := authorize(a, SupportUsers); err != nil {
		return 0, err
	}
	if err := needReason(reason); err != nil {
		return 0, err
	}
	if kind != "" && kind != storage.MFATOTP && kind != storage.MFAWebAuthn {
		return 0, &ValidationError{Problems: []Problem{{Field: "kind", Value: kind, Reason: "is not totp or webauthn"}}}
	}
	u, err := s.userFor(ctx, id, "")
	if err != nil {
		return 0, err
	}
	what := kind
	if what == "" {
		what = "all"
	}
	n := 0
	var told *account.SentLink
	evID := keyedEventID(a, "admin.user.remove_factors", "user:"+id, key)
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		n, told = 0, nil // the transaction may run again
		// The person first, as every change of their factors does: a regeneration of codes
		// or an enrolment on another instance waits for this removal's commit, instead of
		// writing codes for a factor it is removing (or voiding the codes of a new one).
		if err := mfa.LockFactors(ctx, tx, id); err != nil {
			return err
		}
		if prior, err := s.keyedBefore(ctx, tx, "admin.user.remove_factors", "user:"+id, evID); err != nil || prior != nil {
			if prior != nil {
				n = removedCount(prior.Detail)
			}
			return err
		}
		creds, err := tx.ListMFACredentials(ctx, id)
		if err != nil {
			return fmt.Errorf("list factors: %w", err)
		}
		for _, c := range creds {
			if kind != "" && c.Kind != kind {
				continue
			}
			err := mfa.RemoveFactorIn(ctx, tx, id, c.ID)
			if errors.Is(err, storage.ErrNotFound) {
				continue // removed meanwhile
			}
			if err != nil {
				return err
			}
			n++
		}
		if kind == "" {
			// Nothing strong is left: recovery codes and emailed codes go too.
			if err := tx.ReplaceRecoveryCodes(ctx, id, nil); err != nil {
				return fmt.Errorf("void recovery codes: %w", err)
			}
		}
		if _, err := tx.UpdateUser(ctx, id, func(x *storage.User) error {
			// The preferred method goes with the factors it names (all of them, or the kind).
			if x.PreferredMFA != "" && (kind == "" || x.PreferredMFA == kind) {
				x.PreferredMFA, x.UpdatedAt = "", s.now()
			}
			return nil
		}); err != nil {
			return fmt.Errorf("reset preferred method: %w", err)
		}
		if n > 0 && s.Accounts != nil {
			// The owner's notice commits with the removal: after it, a failure lost it.
			if told, err = s.Accounts.FactorsRemovedIn(ctx, tx, u, what, meta(a)); err != nil {
				return fmt.Errorf("notice: %w", err)
			}
		}
		return s.recordAs(ctx, tx, a, evID, "admin.user.remove_factors", "user:"+id, reason, fmt.Sprintf("%s (%d)", what, n))
	})
	if errors.Is(err, ErrKeyReused) {
		return 0, err
	}
	if err != nil {
		return 0, notFound(err, "remove factors of user "+id)
	}
	_ = told.Committed(ctx) // logged
	return n, nil
}

// removedCount reads the count of a remove_factors event's detail ("all (2)").
func removedCount(detail string) int {
	_, after, _ := strings.Cut(detail, " (")
	n, _ := strconv.Atoi(strings.TrimSuffix(after, ")"))
	return n
}

// SignOutEverywhere ends every browser session of the person and revokes every grant. The
// sign-out, its relying parties' logout tokens and its audit event are one transaction (a
// failure does none of them).
func (s *Service) SignOutEverywhere(ctx context.Context, a Actor, id, reason string) error {
	return s.SignOutEverywhereOnce(ctx, a, id, reason, "")
}

// SignOutEverywhereOnce is SignOutEverywhere under the caller's idempotency key (see
// keyedEventID): its repeat ends nothing again and writes no second event.
func (s *Service) SignOutEverywhereOnce(ctx context.Context, a Actor, id, reason, key string) error {
	if err := authorize(a, SupportUsers); err != nil {
		return err
	}
	if _, err := s.userFor(ctx, id, ""); err != nil {
		return err
	}
	evID := keyedEventID(a, "admin.user.sign_out_everywhere", "user:"+id, key)
	repeat := false
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if prior, err := s.keyedBefore(ctx, tx, "admin.user.sign_out_everywhere", "user:"+id, evID); err != nil || prior != nil {
			repeat = prior != nil
			return err
		}
		if err := sessions.EndAll(ctx, tx, s.notifier(), id, s.now()); err != nil {
			return err
		}
		return s.recordAs(ctx, tx, a, evID, "admin.user.sign_out_everywhere", "user:"+id, reason, "")
	})
	if errors.Is(err, ErrKeyReused) {
		return err
	}
	if err != nil {
		return fmt.Errorf("sign out everywhere: %w", err)
	}
	if !repeat {
		sessions.Told(s.notifier())
	}
	return nil
}

// notifier queues the relying parties' logout tokens in the transaction of a sign-out
// (back-channel logout); without the sessions service or its notifier no one is told.
func (s *Service) notifier() sessions.Notifier {
	if s.Sessions == nil {
		return nil
	}
	return s.Sessions.Notifier
}

// DeleteUser deletes the account and everything of it (sessions, tokens, factors, its own
// audit events; the admin events about it stay, naming it by id only). A reason is required.
func (s *Service) DeleteUser(ctx context.Context, a Actor, id, ifMatch, reason string) error {
	return s.DeleteUserOnce(ctx, a, id, ifMatch, reason, "")
}

// DeleteUserOnce is DeleteUser under the caller's idempotency key (see keyedEventID): its
// repeat answers that the account was deleted, not that it is not found (the admin events
// about a deleted account stay).
func (s *Service) DeleteUserOnce(ctx context.Context, a Actor, id, ifMatch, reason, key string) error {
	if err := authorize(a, ManageUsers); err != nil {
		return err
	}
	if err := needReason(reason); err != nil {
		return err
	}
	evID := keyedEventID(a, "admin.user.delete", "user:"+id, key)
	repeat := false
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if prior, err := s.keyedBefore(ctx, tx, "admin.user.delete", "user:"+id, evID); err != nil || prior != nil {
			repeat = prior != nil
			return err
		}
		if _, err := userIn(ctx, tx, id, ifMatch); err != nil {
			return err
		}
		// What the deletion signs out, told to its clients (back-channel logout).
		if err := sessions.EndAll(ctx, tx, s.notifier(), id, s.now()); err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx, id); err != nil {
			return err
		}
		// In the transaction: recorded after it, a failed event left the account deleted
		// unaudited and the retry answered 404.
		return s.recordAs(ctx, tx, a, evID, "admin.user.delete", "user:"+id, reason, "")
	})
	if errors.Is(err, ErrPreconditionFailed) || errors.Is(err, ErrKeyReused) {
		return err
	}
	if err != nil {
		return notFound(err, "delete user "+id)
	}
	if !repeat {
		sessions.Told(s.notifier())
	}
	return nil
}
