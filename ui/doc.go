// Package ui is MyAccount's server-rendered UI: sign-in, consent, logout and the account
// page. Each flow lives in its own file and registers only its own routes in Mount. The UI
// never imports the protocol package: it completes an authorization request in storage and
// sends the browser to the callback URL that cmd/myaccount hands it.
package ui
