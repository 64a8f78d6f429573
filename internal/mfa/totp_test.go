package mfa

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rfcKey is the SHA-1 seed of RFC 4226 Appendix D and RFC 6238 Appendix B.
var rfcKey = []byte("12345678901234567890")

func TestHOTPVectorsRFC4226(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, w := range want {
		if got := hotp(rfcKey, uint64(counter), 6); got != w {
			t.Errorf("hotp(counter %d) = %s, want %s", counter, got, w)
		}
	}
}

func TestTOTPVectorsRFC6238(t *testing.T) {
	p := totpParams{digits: 8, period: 30, skew: 1}
	tests := []struct {
		unix int64
		step int64
		code string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	}
	for _, tt := range tests {
		now := time.Unix(tt.unix, 0)
		if got := p.step(now); got != tt.step {
			t.Errorf("step(%d) = %#x, want %#x", tt.unix, got, tt.step)
		}
		if got := hotp(rfcKey, uint64(tt.step), 8); got != tt.code {
			t.Errorf("code at %d = %s, want %s", tt.unix, got, tt.code)
		}
		step, ok := p.verify(rfcKey, tt.code, now)
		if !ok || step != tt.step {
			t.Errorf("verify(%s at %d) = %d, %v; want %d, true", tt.code, tt.unix, step, ok, tt.step)
		}
	}
}

func TestVerifyTOTPWindow(t *testing.T) {
	key := []byte("0123456789abcdefghij")
	now := time.Unix(1_700_000_015, 0) // mid-step
	cur := productionTOTP().step(now)
	tests := []struct {
		name   string
		offset int64
		ok     bool
	}{
		{"two steps back", -2, false},
		{"one step back", -1, true},
		{"current", 0, true},
		{"one step ahead", 1, true},
		{"two steps ahead", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := hotp(key, uint64(cur+tt.offset), TOTPDigits)
			if code == hotp(key, uint64(cur), TOTPDigits) && tt.offset != 0 {
				t.Skip("codes of two steps coincide")
			}
			step, ok := VerifyTOTP(key, code, now)
			if ok != tt.ok {
				t.Fatalf("VerifyTOTP(step %+d) ok = %v, want %v", tt.offset, ok, tt.ok)
			}
			if ok && step != cur+tt.offset {
				t.Errorf("matched step %d, want %d", step, cur+tt.offset)
			}
		})
	}
}

func TestVerifyTOTPRejectsAndNormalises(t *testing.T) {
	key := []byte("0123456789abcdefghij")
	now := time.Unix(1_700_000_000, 0)
	code := TOTPCode(key, now)
	wrong := []byte(code)
	wrong[5] = '0' + (wrong[5]-'0'+1)%10
	tests := []struct {
		name string
		key  []byte
		code string
		ok   bool
	}{
		{"exact", key, code, true},
		{"spaced", key, code[:3] + " " + code[3:], true},
		{"dashed", key, code[:3] + "-" + code[3:], true},
		{"padded", key, "  " + code + "\t", true},
		{"wrong digit", key, string(wrong), false},
		{"other key", []byte("another secret key!!"), code, false},
		{"too short", key, code[:5], false},
		{"too long", key, code + "0", false},
		{"letters", key, "12345a", false},
		{"fullwidth digits", key, strings.Map(func(r rune) rune { return r - '0' + '０' }, code), false},
		{"empty code", key, "", false},
		{"empty key", nil, code, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := VerifyTOTP(tt.key, tt.code, now); ok != tt.ok {
				t.Errorf("VerifyTOTP(%q) ok = %v, want %v", tt.code, ok, tt.ok)
			}
		})
	}
}

func TestNewTOTPSecret(t *testing.T) {
	e, err := NewTOTPSecret("My Account", "ada:lovelace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Secret) != TOTPSecretSize {
		t.Errorf("secret is %d bytes, want %d", len(e.Secret), TOTPSecretSize)
	}
	dec, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.SecretBase32)
	if err != nil || !bytes.Equal(dec, e.Secret) {
		t.Errorf("SecretBase32 %q does not decode to the secret (%v)", e.SecretBase32, err)
	}
	if strings.Contains(e.SecretBase32, "=") {
		t.Errorf("SecretBase32 %q is padded", e.SecretBase32)
	}

	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Errorf("URL %q: want otpauth://totp/", e.URL)
	}
	if got, want := u.Path, "/My Account:ada\uFF1Alovelace@example.com"; got != want {
		t.Errorf("label = %q, want %q (one ':' only)", got, want)
	}
	if strings.Contains(e.URL, "+") {
		t.Errorf("URL %q encodes a space as '+'", e.URL)
	}
	q := u.Query()
	want := map[string]string{"secret": e.SecretBase32, "issuer": "My Account", "algorithm": "SHA1", "digits": "6", "period": "30"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}

	img, err := png.Decode(bytes.NewReader(e.QRCodePNG))
	if err != nil {
		t.Fatalf("QR code is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != qrSize || b.Dy() != qrSize {
		t.Errorf("QR code is %v, want %dx%d", b, qrSize, qrSize)
	}
	const prefix = "data:image/png;base64,"
	du := e.QRCodeDataURL()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(du, prefix))
	if !strings.HasPrefix(du, prefix) || err != nil || !bytes.Equal(raw, e.QRCodePNG) {
		t.Errorf("QRCodeDataURL does not carry the PNG (%v)", err)
	}

	other, err := NewTOTPSecret("My Account", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.Secret, e.Secret) {
		t.Error("two enrolments got the same secret")
	}
	if _, err := NewTOTPSecret(" ", "ada@example.com"); err == nil {
		t.Error("empty issuer accepted")
	}
}

func TestTOTPCodeRoundTrip(t *testing.T) {
	e, err := NewTOTPSecret("X", "y")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	code := TOTPCode(e.Secret, now)
	if len(code) != TOTPDigits {
		t.Fatalf("code %q has %d digits", code, len(code))
	}
	step, ok := VerifyTOTP(e.Secret, code, now)
	if !ok || step != now.Unix()/30 {
		t.Errorf("VerifyTOTP(TOTPCode) = %d, %v", step, ok)
	}
}
