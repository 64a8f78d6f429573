package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/text/language"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/admin"
	"github.com/myaccount/myaccount/internal/config"
	"github.com/myaccount/myaccount/internal/geo"
	"github.com/myaccount/myaccount/internal/passwords"
	"github.com/myaccount/myaccount/internal/server"
	"github.com/myaccount/myaccount/internal/sessions"
	"github.com/myaccount/myaccount/internal/useragent"
	"github.com/myaccount/myaccount/storage"
)

const userUsage = "usage: myaccount user create|update|list|show|lock|unlock|delete|sessions|signout|grant-role|revoke-role|licences"

func cmdUser(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	if groupHelp(e, "user", userUsage, args[0]) {
		return nil
	}
	switch args[0] {
	case "create":
		return userCreate(ctx, e, args[1:])
	case "update":
		return userUpdate(ctx, e, args[1:])
	case "list", "show", "lock", "unlock", "delete":
		return userOther(ctx, e, args[0], args[1:])
	case "sessions", "signout":
		return userSessions(ctx, e, args[0], args[1:])
	case "grant-role", "revoke-role":
		return userRole(ctx, e, args[0], args[1:])
	case "licences":
		return userLicences(ctx, e, args[1:])
	default:
		return fmt.Errorf("unknown user command %q", args[0])
	}
}

type userView struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Status        string `json:"status"`
	Name          string `json:"name,omitempty"`
	Locale        string `json:"locale,omitempty"`
	ZoneInfo      string `json:"zoneinfo,omitempty"`
	Country       string `json:"country,omitempty"`
	Region        string `json:"region,omitempty"`
	DateFormat    string `json:"date_format,omitempty"`
	CreatedAt     string `json:"created_at"`
	// Roles is filled by user show only.
	Roles []string `json:"roles,omitempty"`
}

func viewUser(u *storage.User) userView {
	return userView{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Status: u.Status, Name: u.Name,
		Locale: u.Locale, ZoneInfo: u.ZoneInfo, Country: u.Country, Region: u.Region, DateFormat: u.DateFormat,
		CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339)}
}

// readPassword reads one line from stdin: the password never appears in argv or the shell
// history.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on standard input")
	}
	return pw, nil
}

func userCreate(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "user create")
	email := fs.String("email", "", "email address (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input (required)")
	pf := profileFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *email == "" || !*fromStdin {
		return errors.New("usage: myaccount user create --email E --password-stdin")
	}
	pw, err := readPassword(e.stdin)
	if err != nil {
		return err
	}
	// Everything is validated before anything is stored: a refused flag must not leave an
	// account behind.
	canon, err := account.CanonicalEmail(*email)
	if err != nil {
		return fmt.Errorf("--email %q: %w", *email, err)
	}
	cfg, err := loadConfig(e, *path)
	if err != nil {
		return err
	}
	// The server's rules: the configured shortest password, the common-password blocklist, the
	// product's name, and the configured hash cost. (Not the breached-password lookup: the CLI
	// makes no calls out.)
	blocklist, err := passwords.New()
	if err != nil {
		return fmt.Errorf("password blocklist: %w", err)
	}
	svc := &account.Service{MinPasswordLen: cfg.Accounts.MinPasswordLength, Blocklist: blocklist,
		ProductName: cfg.UI.ProductName, Hasher: cfg.Security.PasswordHasher()}
	if err := svc.ValidatePassword(pw, canon); err != nil {
		return err
	}
	withProfile := pf.set(fs)
	var prof account.Profile
	if withProfile {
		if prof, err = pf.merge(&storage.User{}); err != nil {
			return err
		}
	}
	st, err := openGuarded(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	svc.Store = st
	// The admin service's creation: the account, its profile and its audit event (actor "cli")
	// commit together.
	nu := admin.NewUser{Email: canon, Password: pw}
	if withProfile {
		nu.Profile = &prof
	}
	u, err := (&admin.Service{Store: st, Accounts: svc, Logger: newLogger(e.stderr, cfg)}).CreateUser(ctx, admin.CLI(), nu)
	if errors.Is(err, admin.ErrWrongState) {
		return fmt.Errorf("an account with the email %q already exists", canon)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, viewUser(u))
	}
	fmt.Fprintf(e.stdout, "user %s created (%s, active)\n", u.ID, u.Email)
	return nil
}

// findUser accepts an email or a user id.
func findUser(ctx context.Context, st storage.Store, ref string) (*storage.User, error) {
	if strings.Contains(ref, "@") {
		u, err := st.GetUserByEmail(ctx, account.NormalizeEmail(ref))
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", ref, err)
		}
		return u, nil
	}
	u, err := st.GetUser(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", ref, err)
	}
	return u, nil
}

func userOther(ctx context.Context, e env, sub string, args []string) error {
	fs, path := newFlags(e, "user "+sub)
	asJSON := fs.Bool("json", false, "print JSON")
	var reason *string
	if sub == "lock" || sub == "unlock" || sub == "delete" {
		reason = reasonFlag(fs)
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if sub != "list" && len(pos) != 1 {
		return fmt.Errorf("usage: myaccount user %s EMAIL|ID%s [--json]", sub, reasonUsage(reason))
	}
	cfg, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	if sub == "list" {
		us, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		views := make([]userView, 0, len(us))
		for _, u := range us {
			views = append(views, viewUser(u))
		}
		if *asJSON {
			return printJSON(e.stdout, views)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tSTATUS\tCREATED")
		for _, v := range views {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.ID, v.Email, v.Status, v.CreatedAt)
		}
		return tw.Flush()
	}
	u, err := findUser(ctx, st, pos[0])
	if err != nil {
		return err
	}
	switch sub {
	case "show":
		v := viewUser(u)
		if v.Roles, err = st.ListUserRoles(ctx, u.ID); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, v)
		}
		return printFields(e.stdout, v)
	case "lock", "unlock":
		// The admin service's lock and unlock, as the API's and the console's: the lock ends
		// every session and grant in its transaction, the unlock returns a never activated
		// account to pending and lifts a password lockout, and each is audited with actor "cli".
		svc := cliAdmin(e, cfg, st)
		if sub == "lock" {
			_, err = svc.LockUser(ctx, admin.CLI(), u.ID, "", *reason)
		} else {
			_, err = svc.UnlockUser(ctx, admin.CLI(), u.ID, "", *reason)
		}
		if err != nil {
			return err
		}
		if u, err = st.GetUser(ctx, u.ID); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, viewUser(u))
		}
		fmt.Fprintf(e.stdout, "user %s is now %s\n", u.Email, u.Status)
		return nil
	default: // delete
		// Signed out in the deletion's transaction; the clients of its sessions are told after
		// it (back-channel logout).
		if err := cliAdmin(e, cfg, st).DeleteUser(ctx, admin.CLI(), u.ID, "", *reason); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, map[string]any{"id": u.ID, "deleted": true})
		}
		fmt.Fprintf(e.stdout, "user %s deleted\n", u.Email)
		return nil
	}
}

// sessionView is one place the account is signed in: a browser session or an installation
// (a grant holding a refresh token).
type sessionView struct {
	Kind      string `json:"kind"` // "browser" or "installation"
	ID        string `json:"id"`
	Client    string `json:"client,omitempty"`
	Device    string `json:"device"`
	IP        string `json:"ip"`
	CreatedAt string `json:"created_at"`
	LastUsed  string `json:"last_used_at"`
}

func userSessions(ctx context.Context, e env, sub string, args []string) error {
	fs, path := newFlags(e, "user "+sub)
	asJSON := fs.Bool("json", false, "print JSON")
	var reason *string
	if sub == "signout" {
		reason = reasonFlag(fs)
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("usage: myaccount user %s EMAIL|ID%s [--json]", sub, reasonUsage(reason))
	}
	cfg, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := findUser(ctx, st, pos[0])
	if err != nil {
		return err
	}
	if sub == "signout" {
		if err := cliAdmin(e, cfg, st).SignOutEverywhere(ctx, admin.CLI(), u.ID, *reason); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, map[string]any{"id": u.ID, "signed_out": true})
		}
		fmt.Fprintf(e.stdout, "%s is signed out everywhere: browser sessions ended, refresh tokens revoked\n", u.Email)
		return nil
	}
	views, err := signedInPlaces(ctx, st, u.ID, time.Now().UTC())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, views)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tCLIENT\tDEVICE\tIP\tSINCE\tLAST USED")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Kind, v.Client, v.Device, v.IP, v.CreatedAt, v.LastUsed)
	}
	return tw.Flush()
}

// signedInPlaces lists live browser sessions and installations of a user.
func signedInPlaces(ctx context.Context, st storage.Store, userID string, now time.Time) ([]sessionView, error) {
	views := []sessionView{}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	sessions, err := st.ListSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, s := range sessions {
		if s.RevokedAt != nil || !now.Before(s.ExpiresAt) {
			continue
		}
		views = append(views, sessionView{Kind: "browser", ID: s.ID, Device: useragent.Describe(s.UserAgent), IP: s.IP,
			CreatedAt: ts(s.CreatedAt), LastUsed: ts(s.LastSeenAt)})
	}
	grants, err := st.ListGrants(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		if g.RevokedAt != nil || !slices.Contains(g.Scopes, "offline_access") {
			continue
		}
		name := g.ClientID
		if c, err := st.GetClient(ctx, g.ClientID); err == nil {
			name = c.Name
		}
		device := g.DeviceName
		if device == "" {
			device = useragent.Describe(g.UserAgent)
		}
		views = append(views, sessionView{Kind: "installation", ID: g.ID, Client: name, Device: device, IP: g.IP,
			CreatedAt: ts(g.CreatedAt), LastUsed: ts(g.LastUsedAt)})
	}
	return views, nil
}

// profileSettings are the profile flags of user create and user update.
type profileSettings struct {
	name, country, region, timezone, dateFormat, locale *string
	given                                               map[string]bool
}

func profileFlags(fs *flag.FlagSet) *profileSettings {
	return &profileSettings{
		name:       fs.String("name", "", "full name"),
		country:    fs.String("country", "", "ISO 3166-1 alpha-2 country code, e.g. DE (makes the profile complete)"),
		region:     fs.String("region", "", "ISO 3166-2 subdivision code, e.g. BY, where the country has regions"),
		timezone:   fs.String("timezone", "", "IANA time zone, e.g. Europe/Berlin"),
		dateFormat: fs.String("date-format", "", "date format: ymd, dmy-dot, dmy-slash, mdy-slash or long"),
		locale:     fs.String("locale", "", "BCP 47 language tag, e.g. en or de-CH"),
	}
}

// set records which profile flags were given (an empty value clears a field) and reports
// whether there was any.
func (p *profileSettings) set(fs *flag.FlagSet) bool {
	p.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name", "country", "region", "timezone", "date-format", "locale":
			p.given[f.Name] = true
		}
	})
	return len(p.given) > 0
}

// merge builds the profile the flags ask for over u's current one and validates it, with the
// same rules as the profile page, without storing anything.
func (p *profileSettings) merge(u *storage.User) (account.Profile, error) {
	pick := func(name string, flagVal *string, cur string) string {
		if p.given[name] {
			return *flagVal
		}
		return cur
	}
	prof := account.Profile{
		Name: pick("name", p.name, u.Name), Country: strings.ToUpper(pick("country", p.country, u.Country)),
		ZoneInfo: pick("timezone", p.timezone, u.ZoneInfo), DateFormat: pick("date-format", p.dateFormat, u.DateFormat),
		Locale: pick("locale", p.locale, u.Locale),
	}
	// A region belongs to its country: a new country without --region clears it.
	if p.given["region"] || prof.Country == u.Country {
		prof.Region = pick("region", p.region, u.Region)
	}
	if prof.Country == "" && prof.Region != "" {
		return prof, errors.New("--region needs --country")
	}
	data, err := geo.New()
	if err != nil {
		return prof, err
	}
	if prof.Country != "" {
		if err := account.ValidateProfile(data, prof); err != nil {
			return prof, err
		}
	}
	if prof.Locale != "" {
		if _, err := language.Parse(prof.Locale); err != nil {
			return prof, fmt.Errorf("--locale %q: %w", prof.Locale, err)
		}
	}
	return prof, nil
}

// fields names the profile flags given, for the audit event.
func (p *profileSettings) fields() string {
	var out []string
	for _, f := range []string{"name", "country", "region", "timezone", "date-format", "locale"} {
		if p.given[f] {
			out = append(out, f)
		}
	}
	return strings.Join(out, ",")
}

func userUpdate(ctx context.Context, e env, args []string) error {
	fs, path := newFlags(e, "user update")
	pf := profileFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !pf.set(fs) {
		return errors.New("usage: myaccount user update EMAIL|ID [--country C] [--region R] [--timezone TZ] [--date-format F] [--locale L] [--name N]")
	}
	cfg, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := findUser(ctx, st, pos[0])
	if err != nil {
		return err
	}
	// Validated with the profile page's rules, stored by the admin service with its audit
	// event (actor "cli").
	prof, err := pf.merge(u)
	if err != nil {
		return err
	}
	if u, err = cliAdmin(e, cfg, st).UpdateProfile(ctx, admin.CLI(), u.ID, prof, pf.fields()); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, viewUser(u))
	}
	fmt.Fprintf(e.stdout, "user %s updated\n", u.Email)
	return nil
}

// userRole grants or revokes an admin API role (issue 13) through the admin service, as
// admin.CLI(): the change and its audit event ("role_granted", "role_revoked", with --reason)
// are one transaction. Roles are read at every request of the admin API and the console, so
// a revoke ends the person's access at once.
func userRole(ctx context.Context, e env, sub string, args []string) error {
	fs, path := newFlags(e, "user "+sub)
	asJSON := fs.Bool("json", false, "print JSON")
	reason := reasonFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fmt.Errorf("usage: myaccount user %s EMAIL|ID ROLE [--reason R] (roles: %s)", sub, strings.Join(storage.Roles, ", "))
	}
	role := pos[1]
	if err := admin.ValidRole(role); err != nil {
		return err
	}
	cfg, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := findUser(ctx, st, pos[0])
	if err != nil {
		return err
	}
	svc := cliAdmin(e, cfg, st)
	var roles []string
	if sub == "grant-role" {
		roles, err = svc.GrantRole(ctx, admin.CLI(), u.ID, role, *reason)
	} else {
		roles, err = svc.RevokeRole(ctx, admin.CLI(), u.ID, role, *reason)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"id": u.ID, "roles": roles})
	}
	fmt.Fprintf(e.stdout, "%s roles: %s\n", u.Email, strings.Join(roles, ", "))
	return nil
}

// reasonUsage is the --reason of a command's usage line, when it takes one.
func reasonUsage(reason *string) string {
	if reason == nil {
		return ""
	}
	return " [--reason R]"
}

// reasonFlag is the --reason of an admin action, written to its audit event.
func reasonFlag(fs *flag.FlagSet) *string {
	return fs.String("reason", "cli", "why, for the audit log")
}

// cliAdmin is the admin service of the user commands, run as admin.CLI(): the rules, the
// transactions and the audit events of the API and the console. The logout tokens of the
// clients of the sessions a command ends are queued in its transaction (back-channel logout).
func cliAdmin(e env, cfg *config.Config, st storage.Store) *admin.Service {
	log := newLogger(e.stderr, cfg)
	return &admin.Service{Store: st, Accounts: &account.Service{Store: st, Logger: log},
		Sessions: &sessions.Service{Store: st, Logger: log, Notifier: &cliNotifier{cfg: cfg, log: log}},
		Logger:   log}
}

// cliNotifier queues the logout tokens of the clients that asked for them (back-channel
// logout), in the sign-out's transaction, in the outbox the running servers' workers deliver
// from. It is built at a sign-out that ended a grant: with no client to tell, no master key
// is needed.
type cliNotifier struct {
	cfg *config.Config
	log *slog.Logger
}

func (n *cliNotifier) SessionsEnded(ctx context.Context, tx storage.Store, ended sessions.Ended) error {
	if len(ended.Grants) == 0 {
		return nil // no client to tell
	}
	bn, err := server.BackchannelNotifier(ctx, n.cfg, tx, n.log)
	if err != nil {
		// The sign-out fails with it, and changes nothing: say how to run it so that it can
		// tell the clients.
		return fmt.Errorf("%w (the logout tokens of this sign-out are queued sealed under the "+
			"master key: run the command with the server's MYACCOUNT_MASTER_KEY or MYACCOUNT_MASTER_KEY_FILE)", err)
	}
	return bn.SessionsEnded(ctx, tx, ended)
}

// Nudge has no worker to wake: the servers' workers find the tasks at their next poll.
func (n *cliNotifier) Nudge() {}
