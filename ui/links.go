package ui

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/i18n"
	"github.com/myaccount/myaccount/storage"
)

// usedLink answers an emailed link presented again after its use (account.LinkUsedError)
// with what that use did, and reports whether err was one. It is the one mapping for every
// such link: the person double-clicked, their browser resubmitted, or the first answer was
// lost after the change committed; "expired" would tell them to start again. Nobody is
// signed in by it, as nobody was by the first use.
func (h *Handler) usedLink(w http.ResponseWriter, r *http.Request, err error) bool {
	var used *account.LinkUsedError
	if !errors.As(err, &used) {
		return false
	}
	lang := h.lang(r, nil)
	T := func(msg string, args ...any) string { return h.cfg.I18n.T(lang, msg, args...) }
	switch used.Purpose {
	case storage.TokenActivation:
		h.activated(w, r, used.Continue)
	case storage.TokenReset:
		h.message(w, r, http.StatusOK, i18n.N("Set a new password"),
			T("Your password was already changed with this link. Sign in with your new password."), func(mp *messagePage) {
				mp.LinkURL, mp.LinkText = "/login", T("Sign in")
				mp.MoreURL, mp.MoreText = "/forgot", T("Forgot your password?")
			})
	case storage.TokenEmailChange:
		// The address is the one the link's mail went to: nothing its holder does not know.
		h.message(w, r, http.StatusOK, i18n.N("Change email"),
			T("Your email address is already changed to %s.", used.Email), func(mp *messagePage) {
				mp.LinkURL, mp.LinkText = "/account", T("Go to your account")
			})
	case storage.TokenNotMe:
		// Worded from what account.NotMe always does; whether the reset mail went out (or
		// a new password was chosen since) is not known here.
		h.message(w, r, http.StatusOK, i18n.N("Your account is already secured"),
			T("This link was already used to secure your account: every browser and device was signed out, apps lost their access, and the old password stopped working. If you have not chosen a new password since, choose one to sign in again."), func(mp *messagePage) {
				mp.LinkURL, mp.LinkText = "/forgot", T("Reset your password")
			})
	default:
		return false
	}
	return true
}

// activated sends the browser to the sign-in page after an activation, continuing the
// authorization request cont ("" for none). Activation confirms the address and nothing
// more: whoever opens the link is not signed in (a link forwarded, or planted in a victim's
// browser, must not hand out a session). The person signs in with the password, and the
// sign-in goes on to the profile and, when registration started from a product, back to it.
func (h *Handler) activated(w http.ResponseWriter, r *http.Request, cont string) {
	q := url.Values{"activated": {"1"}}
	if cont != "" {
		q.Set("authRequestID", cont)
	}
	http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
}
