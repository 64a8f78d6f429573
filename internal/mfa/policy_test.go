package mfa

import (
	"slices"
	"testing"
)

func TestEvidenceAMRAndACR(t *testing.T) {
	tests := []struct {
		name string
		e    Evidence
		amr  []string
		acr  string
	}{
		{"nothing", Evidence{}, nil, ""},
		{"password", Evidence{Password: true}, []string{"pwd"}, ACR1FA},
		{"password + totp", Evidence{Password: true, OTP: true}, []string{"pwd", "otp", "mfa"}, ACRMFA},
		{"password + security key", Evidence{Password: true, HardwareKey: true}, []string{"pwd", "hwk", "mfa"}, ACRMFA},
		{"password + synced passkey", Evidence{Password: true, SoftwareKey: true}, []string{"pwd", "swk", "mfa"}, ACRMFA},
		{"password + key with UV", Evidence{Password: true, HardwareKey: true, UserVerified: true}, []string{"pwd", "hwk", "user", "mfa"}, ACRMFA},
		{"passkey with UV", Evidence{SoftwareKey: true, UserVerified: true}, []string{"swk", "user", "mfa"}, ACRMFA},
		{"device-bound passkey with UV", Evidence{HardwareKey: true, UserVerified: true}, []string{"hwk", "user", "mfa"}, ACRMFA},
		{"passkey without UV", Evidence{SoftwareKey: true}, []string{"swk"}, ACR1FA},
		{"UV without a key is ignored", Evidence{Password: true, UserVerified: true}, []string{"pwd"}, ACR1FA},
		{"password + email code is one factor", Evidence{Password: true, EmailCode: true}, []string{"pwd", "email"}, ACR1FA},
		{"email code alone", Evidence{EmailCode: true}, []string{"email"}, ACR1FA},
		{"otp + key: same kind", Evidence{OTP: true, HardwareKey: true}, []string{"otp", "hwk"}, ACR1FA},
		{"otp alone", Evidence{OTP: true}, []string{"otp"}, ACR1FA},
		{"everything", Evidence{Password: true, OTP: true, EmailCode: true, HardwareKey: true, SoftwareKey: true, UserVerified: true},
			[]string{"pwd", "otp", "email", "hwk", "swk", "user", "mfa"}, ACRMFA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.AMR(); !slices.Equal(got, tt.amr) {
				t.Errorf("AMR() = %q, want %q", got, tt.amr)
			}
			if got := tt.e.ACR(); got != tt.acr {
				t.Errorf("ACR() = %q, want %q", got, tt.acr)
			}
			if got := tt.e.MFA(); got != (tt.acr == ACRMFA) {
				t.Errorf("MFA() = %v with acr %q", got, tt.acr)
			}
		})
	}
}

func TestEvidenceFromAMRRoundTrip(t *testing.T) {
	for bits := range 128 {
		e := Evidence{
			Password: bits&1 != 0, OTP: bits&2 != 0, EmailCode: bits&4 != 0,
			HardwareKey: bits&8 != 0, SoftwareKey: bits&16 != 0, UserVerified: bits&32 != 0,
			SMSCode: bits&64 != 0,
		}
		amr := e.AMR()
		if got := EvidenceFromAMR(amr).AMR(); !slices.Equal(got, amr) {
			t.Errorf("round trip of %q gave %q", amr, got)
		}
	}
	if got := EvidenceFromAMR([]string{"mfa", "face", "pwd"}); got != (Evidence{Password: true}) {
		t.Errorf("EvidenceFromAMR read derived or foreign values: %+v", got)
	}
}

func TestEvidenceMergeStepUp(t *testing.T) {
	session := EvidenceFromAMR([]string{"pwd"})
	stepped := session.Merge(Evidence{OTP: true})
	if !slices.Equal(stepped.AMR(), []string{"pwd", "otp", "mfa"}) || stepped.ACR() != ACRMFA {
		t.Errorf("step-up gave %q %q", stepped.AMR(), stepped.ACR())
	}
}

func TestRequirementNeedsMFA(t *testing.T) {
	tests := []struct {
		name string
		r    Requirement
		want bool
	}{
		{"nothing asked", Requirement{}, false},
		{"client requires", Requirement{ClientRequiresMFA: true}, true},
		{"acr mfa", Requirement{ACRValues: []string{ACRMFA}}, true},
		{"acr 1fa", Requirement{ACRValues: []string{ACR1FA}}, false},
		{"mfa preferred, 1fa accepted", Requirement{ACRValues: []string{ACRMFA, ACR1FA}}, false},
		{"foreign values ignored", Requirement{ACRValues: []string{"urn:other:gold", "0"}}, false},
		{"foreign and mfa", Requirement{ACRValues: []string{"urn:other:gold", ACRMFA}}, true},
		{"client requires despite acr 1fa", Requirement{ClientRequiresMFA: true, ACRValues: []string{ACR1FA}}, true},
	}
	for _, tt := range tests {
		if got := tt.r.NeedsMFA(); got != tt.want {
			t.Errorf("%s: NeedsMFA() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSatisfies(t *testing.T) {
	mfaReq := Requirement{ACRValues: []string{ACRMFA}}
	tests := []struct {
		name string
		acr  string
		r    Requirement
		want bool
	}{
		{"1fa session, plain request", ACR1FA, Requirement{}, true},
		{"mfa session, plain request", ACRMFA, Requirement{}, true},
		{"mfa session, acr 1fa", ACRMFA, Requirement{ACRValues: []string{ACR1FA}}, true},
		{"1fa session, acr mfa", ACR1FA, mfaReq, false},
		{"mfa session, acr mfa", ACRMFA, mfaReq, true},
		{"1fa session, client requires", ACR1FA, Requirement{ClientRequiresMFA: true}, false},
		{"mfa session, client requires", ACRMFA, Requirement{ClientRequiresMFA: true}, true},
		{"no acr", "", Requirement{}, false},
		{"foreign acr", "urn:mace:incommon:iap:silver", Requirement{}, false},
	}
	for _, tt := range tests {
		if got := Satisfies(tt.acr, tt.r); got != tt.want {
			t.Errorf("%s: Satisfies = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNextStep(t *testing.T) {
	pwd := Evidence{Password: true}
	strong := Enrolled{TOTP: 1, WebAuthn: 2, RecoveryCodes: 10}
	totpOnly := Enrolled{TOTP: 1}
	emailOnly := Enrolled{EmailCode: true}
	needMFA := Requirement{ClientRequiresMFA: true}
	verify := func(m ...Method) Decision { return Decision{Step: StepVerify, Methods: m} }
	done := Decision{Step: StepDone}
	enrol := Decision{Step: StepEnrol}
	tests := []struct {
		name     string
		enrolled Enrolled
		done     Evidence
		req      Requirement
		trusted  bool
		want     Decision
	}{
		{"no factors, plain request", Enrolled{}, pwd, Requirement{}, false, done},
		{"no factors, client requires mfa", Enrolled{}, pwd, needMFA, false, enrol},
		{"no factors, acr mfa", Enrolled{}, pwd, Requirement{ACRValues: []string{ACRMFA}}, false, enrol},
		{"recovery codes alone are not a factor", Enrolled{RecoveryCodes: 5}, pwd, Requirement{}, false, done},
		{"strong factors after password", strong, pwd, Requirement{}, false,
			verify(MethodWebAuthn, MethodTOTP, MethodRecoveryCode)},
		{"totp only", totpOnly, pwd, Requirement{}, false, verify(MethodTOTP)},
		{"trusted browser skips", strong, pwd, Requirement{}, true, done},
		{"trusted browser does not skip required mfa", strong, pwd, needMFA, true,
			verify(MethodWebAuthn, MethodTOTP, MethodRecoveryCode)},
		{"second factor done", strong, Evidence{Password: true, OTP: true}, needMFA, false, done},
		{"email chosen", emailOnly, pwd, Requirement{}, false, verify(MethodEmailCode)},
		{"email done", emailOnly, Evidence{Password: true, EmailCode: true}, Requirement{}, false, done},
		{"email chosen, trusted browser", emailOnly, pwd, Requirement{}, true, done},
		{"email cannot give mfa", emailOnly, pwd, needMFA, false, enrol},
		{"email done still not mfa", emailOnly, Evidence{Password: true, EmailCode: true}, needMFA, false, enrol},
		{"email not offered beside strong factors", Enrolled{TOTP: 1, EmailCode: true}, pwd, Requirement{}, false, verify(MethodTOTP)},
		{"passkey with UV", strong, Evidence{SoftwareKey: true, UserVerified: true}, needMFA, false, done},
		{"passkey without UV asks password", strong, Evidence{HardwareKey: true}, Requirement{}, false, verify(MethodPassword)},
		{"nothing done asks password", Enrolled{}, Evidence{}, Requirement{}, false, verify(MethodPassword)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NextStep(tt.enrolled, tt.done, tt.req, tt.trusted)
			if got.Step != tt.want.Step || !slices.Equal(got.Methods, tt.want.Methods) {
				t.Errorf("NextStep = %+v, want %+v", got, tt.want)
			}
		})
	}
}
