package webauthnx

import (
	"encoding/base64"
	"testing"

	"github.com/myaccount/myaccount/internal/mfa/webauthnx/softauthn"
)

// The software authenticator lives in softauthn, shared with the server's end-to-end tests.
type (
	softKey = softauthn.Key
	client  = softauthn.Client
)

func newSoftKey(t *testing.T) *softKey { return softauthn.New(t) }

var b64 = base64.RawURLEncoding
