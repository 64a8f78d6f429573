package op

import (
	"encoding/json"
	"testing"
)

// The hand-written introspection answer is byte for byte what json.Marshal gives, for plain
// values and for every kind of string encoding/json escapes.
func TestIntrospectionJSONMatchesMarshal(t *testing.T) {
	odd := []string{"", "plain", `q"uote`, `back\slash`, "ctl\x01\n\t", "<b>&amp;</b>", "é ünï", "\u2028\u2029",
		"bad utf8 \xff\xfe", "https://api.example/v1?x=1&y=2"}
	cases := []ccIntrospection{
		{Active: true, ClientID: "svc", TokenType: "Bearer", Expiry: 1767225600, IssuedAt: -1, Subject: "svc"},
		{Active: true, Scope: "read write", ClientID: "svc", TokenType: "DPoP", Expiry: 0, IssuedAt: 1,
			Subject: "svc", Audience: []string{"svc", "https://api.example"}, Cnf: &cnfClaim{JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}},
		{Audience: []string{}},
	}
	for _, s := range odd {
		cases = append(cases, ccIntrospection{Active: true, Scope: s, ClientID: s, TokenType: s, Subject: s,
			Audience: []string{s, s}, Cnf: &cnfClaim{JKT: s}})
	}
	for _, c := range cases {
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.appendJSON(nil); string(got) != string(want) {
			t.Errorf("appendJSON\n got %s\nwant %s", got, want)
		}
	}
}
