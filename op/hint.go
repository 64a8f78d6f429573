package op

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// idTokenHint is what an id_token_hint's payload tells before the library verifies it.
type idTokenHint struct {
	JTI   string `json:"jti"`
	AZP   string `json:"azp"`
	Email string `json:"email"`
}

// parseIDTokenHint reports whether hint has the shape of an ID token of ours, and the email
// it carries. The library verifies the signature and issuer but accepts any JWT we signed,
// our JWT access tokens included; those differ in their claims: an access token always
// carries jti (the token id) and never azp, an ID token the reverse. The signature is checked
// by the library in the same request, so an unverified read suffices here.
func parseIDTokenHint(hint string) (idTokenHint, bool) {
	var h idTokenHint
	parts := strings.Split(hint, ".")
	if len(parts) != 3 || len(hint) > 16<<10 {
		return h, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &h) != nil {
		return h, false
	}
	return h, h.JTI == "" && h.AZP != ""
}

// hostCookieName adds the __Host- prefix, with which a browser accepts the cookie only with
// Secure, Path=/ and no Domain: a sibling subdomain cannot plant or overwrite it.
func hostCookieName(name string) string {
	if strings.HasPrefix(name, "__Host-") {
		return name
	}
	return "__Host-" + name
}
