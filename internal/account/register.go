package account

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/addrkey"
	"github.com/myaccount/myaccount/internal/mail"
	"github.com/myaccount/myaccount/internal/secret"
	"github.com/myaccount/myaccount/storage"
)

// Resend limits for activation and reset mails.
const (
	perAccountMailLimit = 3  // per hour and account
	perIPMailLimit      = 10 // per hour and client IP
	mailLimitWindow     = time.Hour
)

func (s *Service) activationTTL() time.Duration {
	if s.ActivationTTL > 0 {
		return s.ActivationTTL
	}
	return 5 * 24 * time.Hour
}

func (s *Service) resetTTL() time.Duration {
	if s.ResetTTL > 0 {
		return s.ResetTTL
	}
	return time.Hour
}

// RegisterTask is the outbox task of a registration (see Register); the server registers
// RunRegister for it.
const RegisterTask = "register"

// registerRequest is the payload of a RegisterTask: the canonical address, the password's
// hash (the payload is sealed like every queued item), the id the account gets when the
// address is free (so that a retry after the account was created goes on with it, rather
// than take it for an address registered before), and the request.
type registerRequest struct {
	Email string
	Hash  string
	ID    string
	Meta  Meta
}

// Register creates a pending account and mails its activation link. When the email is
// already registered it mails the owner a notice instead and returns nil all the same: the
// caller shows the same page either way, and the request does the same work either way:
// it validates and hashes the password, and, when Mail is an outbox, only queues the rest
// (one INSERT), which the worker does (RunRegister). Done in the request, the new account,
// its event and its link were three writes and a transaction an address with an account
// never made: its time told registered addresses apart. Without an outbox (CLI, unit
// tests) it is done at once. An error is one every address meets alike (the address or
// password refused, the hashing slot, the queue).
func (s *Service) Register(ctx context.Context, email, password string, m Meta) error {
	email, err := CanonicalEmail(email)
	if err != nil {
		return err
	}
	if err := s.ValidatePassword(password, email); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return err
	}
	r := registerRequest{Email: email, Hash: hash, ID: secret.NewID(), Meta: m}
	q, ok := s.Mail.(TaskQueue)
	if !ok {
		return s.register(ctx, r)
	}
	return enqueue(ctx, q, RegisterTask, r)
}

// RunRegister is the outbox worker's half of Register. An error (the database, the outbox)
// makes the worker retry it later.
func (s *Service) RunRegister(ctx context.Context, payload []byte) error {
	r, err := decode[registerRequest](RegisterTask, payload)
	if err != nil {
		return err
	}
	return s.register(ctx, r)
}

// register creates the account r asks for and mails its activation link, or, when the
// address has an account, mails its owner a notice.
//
// The account, its "registered" event, its link and (with the outbox) the link's mail are
// one transaction. Apart, a re-run of the task after an attempt whose answer was lost (the
// account committed, the worker told it failed) found the account and went on without the
// event. And the mail, queued under the task's own id (see mail.Task), is what tells a
// re-run that this task created the account once: when an operator deleted the pending
// account since, the re-run's transaction meets that mail and rolls back, rather than
// create the account again (mailing nothing: the task is done).
func (s *Service) register(ctx context.Context, r registerRequest) error {
	m := r.Meta
	norm := strings.ToLower(r.Email)
	existing, err := s.Store.GetUserByEmail(ctx, norm)
	switch {
	case err == nil && existing.ID == r.ID:
		// Created by an earlier run of this registration, with its link's mail, which the
		// link's transaction meets (queued before: the task is done). A task queued by a
		// version that created the account on its own, its link left to a transaction of
		// its own, gets that link here.
		if existing.Status != storage.UserPending {
			return nil // activated meanwhile (a reset link proves the address too)
		}
		return s.sendActivation(ctx, existing, m)
	case err == nil:
		if err := s.alreadyRegistered(ctx, existing, norm, m); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		return nil
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("register: %w", err)
	}
	now := s.now()
	u := &storage.User{
		ID: r.ID, Email: r.Email, EmailNormalized: norm, PasswordHash: r.Hash,
		Status: storage.UserPending, Locale: m.Lang, CreatedAt: now, UpdatedAt: now,
	}
	var l *SentLink
	err = s.Store.InTx(ctx, func(tx storage.Store) error {
		l = nil // a retried transaction starts over
		if err := tx.CreateUser(ctx, u); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return errTaken
			}
			return err
		}
		if err := s.auditIn(ctx, tx, u.ID, "registered", m, ""); err != nil {
			return err
		}
		var err error
		l, err = s.ActivationLinkIn(ctx, tx, u, m)
		return err
	})
	if errors.Is(err, errTaken) {
		return nil // a parallel registration of the same address won
	}
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	_ = l.Committed(ctx) // logged
	return nil
}

// errTaken is a registration's account refused as the address's (or the id's) is taken.
var errTaken = errors.New("account: address taken")

// alreadyRegistered mails the owner of an address someone tried to register the notice,
// at most perAccountMailLimit times an hour: someone solving captchas must not get to fill
// their mailbox. Counted here, in the worker, so the limit costs the request nothing an
// unknown address does not. With the outbox the count and the queued notice commit
// together, and a failure of either is returned for the worker's retry: apart, a notice
// that could not be queued was lost (the task done), or, retried, counted twice for one
// mail. Without it (CLI, unit tests: in the request) the notice is sent after the commit,
// best effort.
func (s *Service) alreadyRegistered(ctx context.Context, owner *storage.User, norm string, m Meta) error {
	data := mail.Data{Email: owner.Email, Link: s.link("/login", nil), ResetLink: s.link("/forgot", nil), IP: m.IP, UserAgent: m.UserAgent}
	var l *SentLink
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		l = nil // a retried transaction starts over
		// The owner's activity shows the attempt, in the notice's transaction: a task run
		// again after its outcome was lost writes it once (auditEvent's id).
		if err := s.auditIn(ctx, tx, owner.ID, "registration_attempt", m, ""); err != nil {
			return err
		}
		n, err := tx.HitCounter(ctx, "mail:already_registered:"+norm, mailLimitWindow, s.now())
		if err != nil {
			return fmt.Errorf("notice limit: %w", err)
		}
		if n > perAccountMailLimit {
			return nil
		}
		l, err = s.mailIn(ctx, tx, owner.ID, owner.Email, userLang(owner, m), mail.AlreadyRegistered, data)
		return err
	})
	if err != nil {
		return err
	}
	_ = l.Committed(ctx) // logged
	return nil
}

// sendActivation issues and mails an activation link to a pending account in a transaction
// of its own (ActivationLinkIn). A mail that could not be sent after the commit is logged:
// the link stands, and the person may ask for another.
func (s *Service) sendActivation(ctx context.Context, u *storage.User, m Meta) error {
	var l *SentLink
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		l, err = s.ActivationLinkIn(ctx, tx, u, m)
		return err
	})
	if err != nil {
		return err
	}
	_ = l.Committed(ctx) // logged
	return nil
}

// allowMail applies the resend limits; false means "do nothing, answer as usual". A counter
// that cannot be read is our failure, returned for the caller to answer "try again": taken
// for "limit reached", the page claimed a mail that never went. The counters are keyed by
// address (and IP) whether or not the address has an account, so the error tells nothing.
//
// An allowed mail's caller settles it with the outcome of queuing it, typically deferred: a
// failure (ours: the queue, the database) gives the hits back, so that the person's retry
// is not counted twice and a later request silently dropped by the limit, which is never
// told (it would say whether the address has an account).
func (s *Service) allowMail(ctx context.Context, kind, email, ip string) (ok bool, settle func(error) error, err error) {
	now := s.now()
	var hits []storage.Hit
	giveBack := func() {
		if err := storage.GiveBack(ctx, s.Store, now, hits...); err != nil {
			s.log().WarnContext(ctx, "give back a mail our failure did not queue", "kind", kind, "err", err)
		}
	}
	if ip != "" {
		k := "mail:" + kind + ":ip:" + addrkey.LimitKey(ip)
		n, err := s.Store.HitCounter(ctx, k, mailLimitWindow, now)
		if err != nil {
			return false, nil, fmt.Errorf("%s mail limit: %w", kind, err)
		}
		if n > perIPMailLimit {
			return false, nil, nil
		}
		hits = append(hits, storage.Hit{Key: k, Window: mailLimitWindow})
	}
	k := "mail:" + kind + ":" + email
	n, err := s.Store.HitCounter(ctx, k, mailLimitWindow, now)
	if err != nil {
		giveBack()
		return false, nil, fmt.Errorf("%s mail limit: %w", kind, err)
	}
	if n > perAccountMailLimit {
		return false, nil, nil
	}
	hits = append(hits, storage.Hit{Key: k, Window: mailLimitWindow})
	return true, func(err error) error {
		if err != nil {
			giveBack()
		}
		return err
	}, nil
}

// ActivationRequestTask is the outbox task of a request for a new activation link (see
// ResendActivation); the server registers RunActivationRequest for it.
const ActivationRequestTask = "activation-request"

// ResendActivation mails a fresh activation link to a pending account. It reports whether
// the limits allowed it; the caller shows the same page whatever the account's state, and
// the request does the same work for every address: when Mail is an outbox, it only queues
// the request (one INSERT), and the worker looks the address up and issues and mails the
// link. Doing that in the request made it slower for an address waiting for activation
// (a transaction writing the link and its mail) than for any other. Its error is one every
// address meets alike (the limit, the queue), so the caller may answer it with "try again".
func (s *Service) ResendActivation(ctx context.Context, email string, m Meta) (limited bool, err error) {
	norm := NormalizeEmail(email)
	ok, settle, err := s.allowMail(ctx, "activation", norm, m.IP)
	if err != nil || !ok {
		return err == nil, err
	}
	defer func() { err = settle(err) }()
	q, ok := s.Mail.(TaskQueue)
	if !ok {
		// No outbox (CLI, unit tests): at once; a failure to issue the link, which only a
		// pending account can meet, is logged, as answered apart it would tell.
		if err := s.resendActivation(ctx, norm, m); err != nil {
			s.log().ErrorContext(ctx, "resend activation", "err", err)
		}
		return false, nil
	}
	return false, enqueue(ctx, q, ActivationRequestTask, resetRequest{Email: email, Meta: m})
}

// RunActivationRequest is the outbox worker's half of ResendActivation. An error (the
// database, the outbox) makes the worker retry it later.
func (s *Service) RunActivationRequest(ctx context.Context, payload []byte) error {
	r, err := decode[resetRequest](ActivationRequestTask, payload)
	if err != nil {
		return err
	}
	return s.resendActivation(ctx, NormalizeEmail(r.Email), r.Meta)
}

// resendActivation issues and mails an activation link when normalized is a pending
// account's address; otherwise it sends nothing.
func (s *Service) resendActivation(ctx context.Context, normalized string, m Meta) error {
	u, err := s.Store.GetUserByEmail(ctx, normalized)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resend activation: look up account: %w", err)
	}
	if u.Status != storage.UserPending {
		return nil
	}
	return s.sendActivation(ctx, u, m)
}

// Activate consumes an activation link and activates its account. It returns the user and
// the authorization request to continue (if the registration started in one). The link is
// used up in the account's own transaction: a failure of ours leaves it usable. A link used
// before, of an account now active, is a *LinkUsedError carrying that request.
func (s *Service) Activate(ctx context.Context, token string, m Meta) (*storage.User, string, error) {
	var (
		u    *storage.User
		cont string
	)
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		now := s.now()
		t, err := useLinkIn(ctx, tx, "activate", token, storage.TokenActivation, now)
		if err != nil {
			return err
		}
		cont = t.Data
		u, err = tx.UpdateUser(ctx, t.UserID, func(x *storage.User) error {
			if x.Status == storage.UserActive {
				// Activated another way meanwhile (a reset link proves the address too): what
				// this link would have done is done, so it answers as a used one does.
				return &LinkUsedError{Purpose: storage.TokenActivation, Continue: t.Data}
			}
			if x.Status != storage.UserPending {
				return ErrLinkInvalid
			}
			x.Status, x.EmailVerified, x.ActivatedAt, x.UpdatedAt = storage.UserActive, true, &now, now
			return nil
		})
		if used := (*LinkUsedError)(nil); errors.As(err, &used) {
			return used
		}
		if errors.Is(err, ErrLinkInvalid) || errors.Is(err, storage.ErrNotFound) {
			return ErrLinkInvalid
		}
		if err != nil {
			return fmt.Errorf("activate: %w", err)
		}
		if err := voidOtherLinksIn(ctx, tx, t); err != nil {
			return fmt.Errorf("activate: void other links: %w", err)
		}
		return s.auditIn(ctx, tx, u.ID, "activated", m, "")
	})
	if err != nil {
		return nil, "", err
	}
	return u, cont, nil
}

// PurgePending sends the "activate by tomorrow" reminder and deletes accounts never activated
// within the activation period. Safe on several instances at once: each step is a conditional
// SQL update or delete, and the caller holds a lease so only one instance mails. A reminder
// that fails is left for the next run (the old link still works); its error is returned
// after the other reminders and the deletions were done.
func (s *Service) PurgePending(ctx context.Context) (reminded int, deleted int64, err error) {
	now := s.now()
	ttl := s.activationTTL()
	due, err := s.Store.ListPendingUsers(ctx, now.Add(-(ttl - 24*time.Hour)))
	if err != nil {
		return 0, 0, fmt.Errorf("purge: %w", err)
	}
	var errs []error
	for _, u := range due {
		if u.ReminderSentAt != nil || !now.Before(u.CreatedAt.Add(ttl)) {
			continue
		}
		ok, err := s.remind(ctx, u, now, u.CreatedAt.Add(ttl))
		if err != nil {
			// One account's failure (a template, a write) holds up neither the others nor
			// the deletions.
			errs = append(errs, fmt.Errorf("purge reminder: %w", err))
			continue
		}
		if ok {
			reminded++
		}
	}
	deleted, err = s.Store.DeletePendingUsers(ctx, now.Add(-ttl))
	if err != nil {
		errs = append(errs, fmt.Errorf("purge delete: %w", err))
	}
	return reminded, deleted, errors.Join(errs...)
}

// remind sends u the reminder with a fresh activation link (valid until expires) and reports
// whether it did (false: another run claimed it). The claim (ReminderSentAt), the swap of
// links and, with the outbox, the queued mail commit together: a failure anywhere leaves the
// old link working and the reminder unsent, for the next run. Without the outbox (CLI, unit
// tests) the mail is sent after the commit, best effort.
func (s *Service) remind(ctx context.Context, u *storage.User, now, expires time.Time) (bool, error) {
	tok := secret.RandomToken(32)
	data := mail.Data{Email: u.Email, Link: s.link("/activate", url.Values{"token": {tok}})}
	var l *SentLink
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		l = nil // a retried transaction starts over
		_, err := tx.UpdateUser(ctx, u.ID, func(x *storage.User) error {
			if x.ReminderSentAt != nil || x.Status != storage.UserPending {
				return errAlreadyDone
			}
			x.ReminderSentAt = &now
			return nil
		})
		if errors.Is(err, errAlreadyDone) || errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		// A fresh link: the old one may be lost, and is void from now on.
		l, err = s.linkIn(ctx, tx, u, u.Email, &storage.OneTimeToken{
			Hash: secret.HashToken(tok), Purpose: storage.TokenActivation, UserID: u.ID,
			CreatedAt: now, ExpiresAt: expires,
		}, u.Locale, mail.ActivationReminder, data)
		return err
	})
	if err != nil || l == nil {
		return false, err
	}
	_ = l.Committed(ctx) // logged
	return true, nil
}

var errAlreadyDone = errors.New("account: already done")

// issueTokenIn stores a new one-time token through st and voids the user's older ones of the
// same purpose: only the newest link of each kind works, so a link that leaked from an older
// mail (or a forwarded one) stops working once the person asks for another.
func issueTokenIn(ctx context.Context, st storage.OneTimeTokenStore, t *storage.OneTimeToken) error {
	if err := st.DeleteOneTimeTokens(ctx, t.UserID, t.Purpose); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("void older tokens: %w", err)
	}
	return st.CreateOneTimeToken(ctx, t)
}
