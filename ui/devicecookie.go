package ui

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/myaccount/myaccount/internal/account"
	"github.com/myaccount/myaccount/internal/secret"
)

// A device cookie (OWASP "device cookies") marks a browser that signed in to an account:
// "<user id>.<nonce>.<HMAC>", signed under its own key (subkey.DeviceCookie). Wrong passwords
// typed in such a browser count for its nonce alone (account.Meta.Device), so failures from
// elsewhere, which lock the address for unknown browsers, never lock its owner out of a
// browser they used before. It is no credential: the password is still checked.
const (
	deviceCookie    = "myaccount_device"
	deviceCookieTTL = 180 * 24 * time.Hour
)

// deviceCookieName carries the __Host- prefix on https: then only this origin, over TLS, can
// set it.
func (h *Handler) deviceCookieName() string {
	if h.cfg.SecureCookies {
		return "__Host-" + deviceCookie
	}
	return deviceCookie
}

func (h *Handler) deviceMAC(userID, nonce string) []byte {
	m := hmac.New(sha256.New, h.cfg.Keys.DeviceCookie)
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write([]byte(nonce))
	return m.Sum(nil)
}

// setDeviceCookie marks this browser as one that signed in to userID, with a fresh nonce
// (and so a fresh failure counter).
func (h *Handler) setDeviceCookie(w http.ResponseWriter, userID string) {
	nonce := secret.RandomToken(16)
	mac := h.deviceMAC(userID, nonce)
	v := base64.RawURLEncoding.EncodeToString([]byte(userID)) + "." + nonce + "." + base64.RawURLEncoding.EncodeToString(mac)
	http.SetCookie(w, &http.Cookie{Name: h.deviceCookieName(), Value: v, Path: "/", MaxAge: int(deviceCookieTTL.Seconds()),
		HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// withDevice adds this browser's device cookie, when it carries a valid one, to m.
func (h *Handler) withDevice(r *http.Request, m account.Meta) account.Meta {
	c, err := r.Cookie(h.deviceCookieName())
	if err != nil || len(c.Value) > 512 {
		return m
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 || parts[1] == "" {
		return m
	}
	uid, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	mac, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	want := h.deviceMAC(string(uid), parts[1])
	if err1 != nil || err2 != nil || len(uid) == 0 || !hmac.Equal(mac, want) {
		return m
	}
	m.Device, m.DeviceUser = parts[1], string(uid)
	return m
}
