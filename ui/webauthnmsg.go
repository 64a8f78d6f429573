package ui

import (
	"html"
	"html/template"
	"strings"
)

// WebAuthnMessages are the data attributes of a page's WebAuthn error box: the page's own
// translated text for each way navigator.credentials can fail, which webauthn.js shows
// instead of the browser's English message and specification link. A method on common
// so login, second-step and security pages write {{.WebAuthnMessages}} on the box alike.
func (c common) WebAuthnMessages() template.HTMLAttr {
	if c.static != nil {
		return c.static.webAuthnMessages
	}
	return webAuthnMessages(c.T)
}

// webAuthnMessages builds the attributes with T: once per language when the handler is made
// (seven lookups and an escape per page otherwise).
func webAuthnMessages(T func(msg string, args ...any) string) template.HTMLAttr {
	attrs := []struct{ name, text string }{
		{"not-allowed", T("The request was cancelled or took too long. Please try again.")},
		{"invalid-state", T("This security key or passkey cannot be used here.")},
		{"security", T("Security keys and passkeys cannot be used at this address. Use another way.")},
		{"not-supported", T("This browser or device does not support security keys or passkeys.")},
		{"constraint", T("Your device cannot confirm it is you: set up a screen lock or PIN, or use another way.")},
		{"unknown", T("Something went wrong with the security key or passkey. Please try again.")},
		{"network", T("The server could not be reached. Please try again.")},
	}
	var b strings.Builder
	for i, a := range attrs {
		if i > 0 {
			b.WriteByte(' ')
		}
		// Escaped here: HTMLAttr is inserted as is.
		b.WriteString(`data-msg-` + a.name + `="` + html.EscapeString(a.text) + `"`)
	}
	return template.HTMLAttr(b.String())
}
