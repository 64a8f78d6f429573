package keys

import (
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// BenchmarkVerify measures a resource server's (and JWT introspection's) check of one access
// token, per algorithm; BenchmarkSignRS256 and BenchmarkSignES256 measure issuing it.
func BenchmarkVerify(b *testing.B) {
	const claims = `{"iss":"https://myaccount.example","sub":"client","aud":["client"],"client_id":"client","exp":1735732800,"iat":1735731900,"jti":"x7q3mz5k2a"}`
	f := newFixture(b)
	mustEnsure(b, f.m)
	for _, alg := range f.m.Algorithms() {
		b.Run(string(alg), func(b *testing.B) {
			k := mustSigner(b, f.m, string(alg))
			token := sign(b, k, claims)
			pub := k.Public()
			b.ReportAllocs()
			for b.Loop() {
				jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{alg})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.Verify(&pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
