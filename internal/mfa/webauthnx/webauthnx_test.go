package webauthnx

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/myaccount/myaccount/internal/mfa"
)

const (
	issuer = "https://id.example.com"
	origin = "https://id.example.com"
	rpID   = "id.example.com"
)

var browser = client{Origin: origin, RPID: rpID}

func newRP(t *testing.T) *WebAuthn {
	t.Helper()
	w, err := New(issuer+"/", "MyAccount")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newUser(id string) *User {
	return &User{Handle: UserHandle(id), Name: id + "@example.com", DisplayName: "Person " + id}
}

// register runs a full registration of k for u and adds the credential to u.
func register(t *testing.T, w *WebAuthn, u *User, k *softKey, discoverable bool) *Registration {
	t.Helper()
	opts, state, err := w.BeginRegistration(u, discoverable)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := w.FinishRegistration(u, state, k.Create(t, opts, browser))
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	u.Credentials = append(u.Credentials, *reg.Credential)
	return reg
}

// login runs a second-factor sign-in of k for u with browser c.
func login(t *testing.T, w *WebAuthn, u *User, k *softKey, c client) (*Assertion, error) {
	t.Helper()
	opts, state, err := w.BeginLogin(u)
	if err != nil {
		t.Fatal(err)
	}
	return w.FinishLogin(u, state, k.Get(t, opts, c))
}

func TestNewFromIssuer(t *testing.T) {
	tests := []struct {
		issuer, rpID, origin string
		ok                   bool
	}{
		{"https://id.example.com", "id.example.com", "https://id.example.com", true},
		{"https://ID.Example.com:8443/oidc", "id.example.com", "https://id.example.com:8443", true},
		{"https://id.example.com:443", "id.example.com", "https://id.example.com", true},
		{"http://localhost:8080", "localhost", "http://localhost:8080", true},
		{"http://id.example.com", "", "", false},
		{"https://127.0.0.1:8443", "", "", false},
		{"id.example.com", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		w, err := New(tt.issuer, "MyAccount")
		if (err == nil) != tt.ok {
			t.Errorf("New(%q) error = %v, want ok %v", tt.issuer, err, tt.ok)
			continue
		}
		if tt.ok && (w.RPID() != tt.rpID || w.Origin() != tt.origin) {
			t.Errorf("New(%q) = RP ID %q, origin %q; want %q, %q", tt.issuer, w.RPID(), w.Origin(), tt.rpID, tt.origin)
		}
	}
	if _, err := New(issuer, " "); err == nil {
		t.Error("empty display name accepted")
	}
}

func TestRegistrationOptions(t *testing.T) {
	w := newRP(t)
	u := newUser("alice")
	register(t, w, u, newSoftKey(t), false)
	for _, discoverable := range []bool{true, false} {
		opts, _, err := w.BeginRegistration(u, discoverable)
		if err != nil {
			t.Fatal(err)
		}
		var o struct {
			PublicKey struct {
				RP   struct{ ID, Name string }
				User struct {
					ID          string `json:"id"`
					Name        string `json:"name"`
					DisplayName string `json:"displayName"`
				}
				Exclude []struct {
					ID string `json:"id"`
				} `json:"excludeCredentials"`
				Sel struct {
					ResidentKey        string `json:"residentKey"`
					RequireResidentKey bool   `json:"requireResidentKey"`
					UserVerification   string `json:"userVerification"`
				} `json:"authenticatorSelection"`
				Attestation string `json:"attestation"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(opts, &o); err != nil {
			t.Fatal(err)
		}
		p := o.PublicKey
		if p.RP.ID != rpID || p.RP.Name != "MyAccount" {
			t.Errorf("rp = %+v", p.RP)
		}
		if p.User.ID != b64.EncodeToString([]byte("alice")) || p.User.Name != "alice@example.com" || p.User.DisplayName != "Person alice" {
			t.Errorf("user = %+v (the handle must be the user id, not the email)", p.User)
		}
		if len(p.Exclude) != 1 || p.Exclude[0].ID != b64.EncodeToString(u.Credentials[0].ID) {
			t.Errorf("excludeCredentials = %+v, want the existing credential", p.Exclude)
		}
		wantRK := map[bool]string{true: "required", false: "discouraged"}[discoverable]
		if p.Sel.ResidentKey != wantRK || p.Sel.RequireResidentKey != discoverable || p.Sel.UserVerification != "preferred" {
			t.Errorf("discoverable=%v: authenticatorSelection = %+v", discoverable, p.Sel)
		}
		if p.Attestation != "none" {
			t.Errorf("attestation = %q, want none", p.Attestation)
		}
	}
}

func TestCeremonySuccess(t *testing.T) {
	w := newRP(t)
	u := newUser("alice")
	k := newSoftKey(t)
	reg := register(t, w, u, k, true)
	if !reg.UserVerified || !reg.HardwareBound {
		t.Errorf("registration UV %v, hardware-bound %v; want both", reg.UserVerified, reg.HardwareBound)
	}
	a, err := login(t, w, u, k, browser)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if !a.UserVerified || !a.HardwareBound || a.SignCount != 2 || a.Credential.Authenticator.SignCount != 2 {
		t.Errorf("assertion = %+v", a)
	}
	if got := a.Evidence(); got != (mfa.Evidence{HardwareKey: true, UserVerified: true}) {
		t.Errorf("Evidence() = %+v", got)
	}

	// Without user verification the key is still a second factor, but not "user".
	u.Credentials[0] = *a.Credential
	k.UserVerified = false
	a, err = login(t, w, u, k, browser)
	if err != nil {
		t.Fatalf("FinishLogin without UV: %v", err)
	}
	if a.UserVerified {
		t.Error("UserVerified reported without the UV flag")
	}
	amr := mfa.Evidence{Password: true}.Merge(a.Evidence()).AMR()
	if !slices.Equal(amr, []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("amr = %q", amr)
	}
}

func TestSyncedPasskeyIsSoftwareKey(t *testing.T) {
	w := newRP(t)
	u := newUser("alice")
	k := newSoftKey(t)
	k.BackupEligible, k.BackupState, k.NoCounter, k.Attachment = true, true, true, "platform"
	reg := register(t, w, u, k, true)
	if reg.HardwareBound {
		t.Error("backup-eligible credential reported hardware-bound")
	}
	// Counterless passkeys report 0 every time: that is not a clone.
	for i := range 3 {
		a, err := login(t, w, u, k, browser)
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if a.HardwareBound || !slices.Equal(a.Evidence().AMR(), []string{"swk", "user", "mfa"}) {
			t.Errorf("synced passkey amr = %q", a.Evidence().AMR())
		}
	}
	// A synced phone passkey used over hybrid reports cross-platform: still swk.
	k.Attachment = "cross-platform"
	if a, err := login(t, w, u, k, browser); err != nil || a.HardwareBound {
		t.Errorf("hybrid passkey: hardware-bound %v, %v", a != nil && a.HardwareBound, err)
	}
}

func TestRejections(t *testing.T) {
	type step func(t *testing.T, w *WebAuthn, u *User, k *softKey) error
	regWith := func(c client, mutate func(*softKey)) step {
		return func(t *testing.T, w *WebAuthn, u *User, k *softKey) error {
			mutate(k)
			opts, state, err := w.BeginRegistration(u, true)
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.FinishRegistration(u, state, k.Create(t, opts, c))
			return err
		}
	}
	loginWith := func(c client, mutate func(*softKey)) step {
		return func(t *testing.T, w *WebAuthn, u *User, k *softKey) error {
			register(t, w, u, k, true)
			mutate(k)
			_, err := login(t, w, u, k, c)
			return err
		}
	}
	none := func(*softKey) {}
	evil := client{Origin: "https://id.example.com.evil.test", RPID: rpID}
	wrongRP := client{Origin: origin, RPID: "evil.test"}
	parentRP := client{Origin: origin, RPID: "example.com"}
	tests := []struct {
		name string
		run  step
		want error
	}{
		{"registration from another origin", regWith(evil, none), ErrVerification},
		{"registration for another RP ID", regWith(wrongRP, none), ErrVerification},
		{"registration without user presence", regWith(browser, func(k *softKey) { k.UserPresent = false }), ErrVerification},
		{"registration with BS but not BE", regWith(browser, func(k *softKey) { k.BackupState = true }), ErrVerification},
		{"login from another origin", loginWith(evil, none), ErrVerification},
		{"login for another RP ID", loginWith(wrongRP, none), ErrVerification},
		{"login for the parent domain", loginWith(parentRP, none), ErrVerification},
		{"login without user presence", loginWith(browser, func(k *softKey) { k.UserPresent = false }), ErrVerification},
		{"login with another key's signature", loginWith(browser, func(k *softKey) {
			k.Priv = newSoftKey(t).Priv
		}), ErrVerification},
		{"login with an unknown credential", loginWith(browser, func(k *softKey) { k.CredID = []byte("unknown-credential-id") }), ErrUnknownCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(t, newRP(t), newUser("alice"), newSoftKey(t))
			t.Logf("refused: %v", err)
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestChallengeReuse(t *testing.T) {
	w := newRP(t)
	u := newUser("alice")
	k := newSoftKey(t)
	register(t, w, u, k, false)

	// A response made for one challenge does not finish another ceremony.
	oldOpts, _, err := w.BeginLogin(u)
	if err != nil {
		t.Fatal(err)
	}
	stale := k.Get(t, oldOpts, browser)
	_, state, err := w.BeginLogin(u)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.FinishLogin(u, state, stale)
	t.Logf("old challenge refused: %v", err)
	if !errors.Is(err, ErrVerification) {
		t.Errorf("response to an old challenge: %v, want ErrVerification", err)
	}

	// A replayed response against its own ceremony: the state is stored single use, so the
	// second Finish has no state to run against.
	ctx := context.Background()
	svc, _ := newMFAService(t, "alice")
	opts, state, err := w.BeginLogin(u)
	if err != nil {
		t.Fatal(err)
	}
	handle, err := svc.SaveCeremony(ctx, "alice", state)
	if err != nil {
		t.Fatal(err)
	}
	resp := k.Get(t, opts, browser)
	taken, err := svc.TakeCeremony(ctx, "alice", handle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.FinishLogin(u, taken, resp); err != nil {
		t.Fatalf("first finish: %v", err)
	}
	if _, err := svc.TakeCeremony(ctx, "alice", handle); !errors.Is(err, mfa.ErrCeremonyInvalid) {
		t.Errorf("second take of the challenge: %v, want ErrCeremonyInvalid", err)
	}

	// State of one kind of ceremony cannot finish another.
	_, regState, err := w.BeginRegistration(u, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.FinishLogin(u, regState, resp); !errors.Is(err, ErrSession) {
		t.Errorf("registration state used for login: %v, want ErrSession", err)
	}
	if _, err := w.FinishLogin(u, []byte("{"), resp); !errors.Is(err, ErrSession) {
		t.Errorf("garbage state: %v, want ErrSession", err)
	}
	// Nor can one person's state finish another person's sign-in.
	bob := newUser("bob")
	bob.Credentials = u.Credentials
	_, err = w.FinishLogin(bob, state, resp)
	t.Logf("another person's state refused: %v", err)
	if !errors.Is(err, ErrVerification) {
		t.Errorf("alice's state for bob: %v, want ErrVerification", err)
	}
}

func TestSignCountRegression(t *testing.T) {
	tests := []struct {
		name            string
		stored, present uint32
		cloned          bool
	}{
		{"increase", 5, 6, false},
		{"same", 5, 5, true},
		{"decrease", 5, 4, true},
		{"back to zero", 5, 0, true},
		{"first count", 0, 1, false},
		{"counterless", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRP(t)
			u := newUser("alice")
			k := newSoftKey(t)
			register(t, w, u, k, true)
			u.Credentials[0].Authenticator.SignCount = tt.stored
			k.Counter = tt.present
			a, err := login(t, w, u, k, browser)
			if got := errors.Is(err, ErrCloned); got != tt.cloned {
				t.Fatalf("stored %d, presented %d: err = %v, want cloned %v", tt.stored, tt.present, err, tt.cloned)
			}
			if tt.cloned && (a == nil || a.SignCount != tt.present) {
				t.Errorf("ErrCloned without the assertion to flag: %+v", a)
			}
			if !tt.cloned && err != nil {
				t.Errorf("unexpected error %v", err)
			}
		})
	}
}

func TestDiscoverableLogin(t *testing.T) {
	w := newRP(t)
	alice, bob := newUser("alice"), newUser("bob")
	ka, kb := newSoftKey(t), newSoftKey(t)
	register(t, w, alice, ka, true)
	register(t, w, bob, kb, true)
	users := map[string]*User{string(alice.Handle): alice, string(bob.Handle): bob}
	// The lookup goes by credential id, as the real one does through the store.
	lookup := func(credentialID, _ []byte) (*User, error) {
		for _, u := range users {
			for _, c := range u.Credentials {
				if string(c.ID) == string(credentialID) {
					return u, nil
				}
			}
		}
		return nil, nil
	}

	opts, state, err := w.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey map[string]json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	if _, listed := o.PublicKey["allowCredentials"]; listed {
		t.Error("usernameless options list credentials")
	}
	who, a, err := w.FinishDiscoverableLogin(state, kb.Get(t, opts, browser), lookup)
	if err != nil {
		t.Fatalf("FinishDiscoverableLogin: %v", err)
	}
	if who != bob || !a.UserVerified {
		t.Errorf("signed in %q (UV %v), want bob", who.Name, a.UserVerified)
	}

	// A passkey whose user handle names someone else is refused.
	opts, state, err = w.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	kb.UserHandle = alice.Handle
	if _, _, err := w.FinishDiscoverableLogin(state, kb.Get(t, opts, browser), lookup); !errors.Is(err, ErrVerification) {
		t.Errorf("user handle of another person: %v, want ErrVerification", err)
	}
	// An unknown credential is refused.
	opts, state, err = w.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	stranger := newSoftKey(t)
	stranger.UserHandle = []byte("nobody")
	if _, _, err := w.FinishDiscoverableLogin(state, stranger.Get(t, opts, browser), lookup); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("unknown passkey: %v, want ErrUnknownCredential", err)
	}
	// Second-factor state cannot finish a usernameless sign-in.
	_, loginState, err := w.BeginLogin(alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.FinishDiscoverableLogin(loginState, ka.Get(t, opts, browser), lookup); !errors.Is(err, ErrSession) {
		t.Errorf("login state for discoverable: %v, want ErrSession", err)
	}
}
