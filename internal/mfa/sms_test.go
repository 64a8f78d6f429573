package mfa

import (
	"slices"
	"testing"
)

// TestSMSPolicy: an SMS code is offered as the weakest way and never gives MFA.
func TestSMSPolicy(t *testing.T) {
	pwd := Evidence{Password: true}
	needMFA := Requirement{ClientRequiresMFA: true}
	tests := []struct {
		name     string
		enrolled Enrolled
		done     Evidence
		req      Requirement
		trusted  bool
		want     Decision
	}{
		{"only a number: the SMS step", Enrolled{SMS: true}, pwd, Requirement{}, false,
			Decision{Step: StepVerify, Methods: []Method{MethodSMSCode}}},
		{"email codes and a number: either", Enrolled{EmailCode: true, SMS: true}, pwd, Requirement{}, false,
			Decision{Step: StepVerify, Methods: []Method{MethodEmailCode, MethodSMSCode}}},
		{"the SMS code done", Enrolled{SMS: true}, Evidence{Password: true, SMSCode: true}, Requirement{}, false,
			Decision{Step: StepDone}},
		{"a trusted browser skips it", Enrolled{SMS: true}, pwd, Requirement{}, true, Decision{Step: StepDone}},
		{"MFA needed: SMS cannot give it", Enrolled{SMS: true}, pwd, needMFA, false, Decision{Step: StepEnrol}},
		{"pwd + sms still short of MFA", Enrolled{SMS: true}, Evidence{Password: true, SMSCode: true}, needMFA, false,
			Decision{Step: StepEnrol}},
		{"enabled next to TOTP: last", Enrolled{TOTP: 1, RecoveryCodes: 3, SMS: true}, pwd, Requirement{}, false,
			Decision{Step: StepVerify, Methods: []Method{MethodTOTP, MethodRecoveryCode, MethodSMSCode}}},
		{"next to TOTP, MFA needed: not offered", Enrolled{TOTP: 1, SMS: true}, pwd, needMFA, false,
			Decision{Step: StepVerify, Methods: []Method{MethodTOTP}}},
		{"next to TOTP, SMS done", Enrolled{TOTP: 1, SMS: true}, Evidence{Password: true, SMSCode: true}, Requirement{}, false,
			Decision{Step: StepDone}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NextStep(tc.enrolled, tc.done, tc.req, tc.trusted)
			if got.Step != tc.want.Step || !slices.Equal(got.Methods, tc.want.Methods) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	e := Evidence{Password: true, SMSCode: true}
	if e.MFA() || e.ACR() != ACR1FA || !slices.Equal(e.AMR(), []string{"pwd", "sms"}) {
		t.Fatalf("pwd + sms: MFA %v, acr %q, amr %q", e.MFA(), e.ACR(), e.AMR())
	}
	if h := SMSCodeHash("sms_code", "u1", "123 456"); h == "" || h == SMSCodeHash("sms_reset", "u1", "123456") || h == EmailCodeHash("u1", "123456") {
		t.Fatal("SMS code hashes must be bound to their purpose and differ from emailed codes'")
	}
}
