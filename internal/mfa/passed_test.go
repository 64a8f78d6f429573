package mfa

import (
	"context"
	"testing"
)

// TestPassedRemembersWhatTheStepLeaves: a passed second step makes its method the one
// offered first (a recovery code never: a last resort is not offered first), and trusts the
// browser when asked to, or when a code sent to the person proved it.
func TestPassedRemembersWhatTheStepLeaves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		method        Method
		remember      bool
		wantPreferred string
		wantTrusted   bool
	}{
		{MethodTOTP, false, "totp", false},
		{MethodTOTP, true, "totp", true},
		{MethodWebAuthn, false, "webauthn", false},
		{MethodRecoveryCode, false, "", false},
		{MethodRecoveryCode, true, "", true},
		{MethodEmailCode, false, "email_code", true},
		{MethodSMSCode, false, "sms_code", true},
	} {
		t.Run(string(c.method), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			u, err := f.db.GetUser(ctx, f.alice)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := f.svc.Passed(ctx, f.db, u, c.method, c.remember, "Firefox")
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := f.db.GetUser(ctx, f.alice); got.PreferredMFA != c.wantPreferred {
				t.Errorf("preferred = %q, want %q", got.PreferredMFA, c.wantPreferred)
			}
			trusted, err := f.svc.BrowserTrusted(ctx, f.alice, tok)
			if err != nil || trusted != c.wantTrusted || (tok != "") != c.wantTrusted {
				t.Errorf("token %q trusted %v (%v), want %v", tok, trusted, err, c.wantTrusted)
			}
		})
	}
}
