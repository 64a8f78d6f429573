package zxcvbn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	upstream "github.com/ccojocar/zxcvbn-go"
)

// TestSameAsUpstream scores a spread of passwords with this copy and with the upstream
// module it came from: score and entropy must be equal, so moving the tables out of init
// changed nothing a person sees.
func TestSameAsUpstream(t *testing.T) {
	t.Parallel()
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	pws := []string{
		"", "a", "password", "Password1", "p@ssw0rd", "P4$$w0rd!", "123456", "qwerty", "qwertyuiop",
		"asdfghjkl;", "zxcvbnm,./", "1qaz2wsx3edc", "!QAZ@WSX", "7894561230", "abcdefg", "ZYXWVU",
		"13579", "aaaaaaa", "AAAaaa111", "01/02/1999", "1999-12-31", "12.3.87", "31121999", "010203",
		"johnsmith1985", "Jennifer", "mary.jones", "correcthorsebatterystaple", "Tr0ub4dor&3",
		"wq8$Vn!3Lz@pK6#rT2^mB9&xF4*hJ7", "ZanzibarQuokka2024", "l3tm31n", "m0nk3y!!", "dragon123",
		"Sommer2024!", "Пароль123", "пароль", "日本語のパスワード", "ÄÖÜäöüß", "hunter2", "iloveyou",
		"trustno1", "letmein", "football", "baseball", "superman", "batman", "shadow", "master",
		"1q2w3e4r5t", "qazwsxedc", "poiuytrewq", "mnbvcxz", "0987654321", "abc123abc123",
	}
	r := rand.New(rand.NewPCG(1, 2))
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()-_=+.,/"
	for range 150 {
		b := make([]byte, 4+r.IntN(20))
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		pws = append(pws, string(b))
	}
	words := []string{"summer", "winter", "dragon", "monkey", "michael", "jessica", "london", "berlin"}
	for i := range 60 {
		w := words[i%len(words)]
		pws = append(pws, fmt.Sprintf("%s%d", w, r.IntN(10000)), fmt.Sprintf("%s!%s", w, words[(i+3)%len(words)]))
	}
	inputs := [][]string{nil, {"jane doe", "jane.doe@example.com", "jane.doe"}, {"zanzibar quokka"}}
	for _, pw := range pws {
		for _, in := range inputs {
			got, want := e.PasswordStrength(pw, in), upstream.PasswordStrength(pw, in)
			if got.Score != want.Score || got.Entropy != want.Entropy {
				t.Errorf("PasswordStrength(%q, %q) = score %d, entropy %v; upstream %d, %v",
					pw, in, got.Score, got.Entropy, want.Score, want.Entropy)
			}
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPasswordStrength(b *testing.B) {
	e, err := New()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		e.PasswordStrength("Tr0ub4dor&3-summer1985", []string{"jane.doe@example.com"})
	}
}
