// Package backchannel tells relying parties that a person's session with us ended (OpenID
// Connect Back-Channel Logout 1.0). The sessions service reports every sign-out (the person,
// "sign out everywhere", support and the CLI, a password reset, "This wasn't me", a session
// that expired) through Service.SessionsEnded, inside the transaction that ends the sessions
// (sessions.Tell): the tasks commit with the sign-out or neither does. The rule of which
// clients hear of it lives here, once: every client with a backchannel_logout_uri holding a
// grant tied to an ended session, and for a sign-out everywhere every client holding a live
// grant of the person.
//
// Each (client, session) pair becomes one outbox task (mail.Outbox: durable, sealed at rest,
// claimed by one instance, retried with backoff). The task mints a fresh logout token at each
// attempt, so a retry half an hour later still carries a token within its short lifetime,
// and POSTs it to the client. Outbound calls go through Outbound: https only (plain http on a
// loopback address the client registered), no redirects, bounded time and body, and never to
// a private, link-local or loopback address the URL's name did not register.
package backchannel
