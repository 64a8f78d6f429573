package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/myaccount/myaccount/storage"
)

// TestDevicePollFailureKeepsTheCode fails, once, each store call a successful poll of an
// approved device code makes (its first, second, ... call). The code was marked used in a
// transaction of its own before the grant and tokens were stored in another: with InTx,
// CreateGrant or CreateRefreshToken failing, the poll answered 503 and its retry 400
// invalid_grant "already used", leaving the device to start over for a failure of ours. A
// failed poll must be our fixed 5xx, and the next poll must get the tokens.
func TestDevicePollFailureKeepsTheCode(t *testing.T) {
	t.Parallel()
	e, fs := faultEnv(t, nil)
	u := e.addUser("ada@example.com")
	for _, tc := range []struct {
		name string
		opts []clientOpt
	}{{"JWT access tokens", nil}, {"opaque access tokens", []clientOpt{opaqueTokens}}} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.addClient(storage.ClientNative, append([]clientOpt{withGrants(grantDevice, "refresh_token")}, tc.opts...)...)
			// approved returns a device code that Ada approved, not yet polled. It is approved in
			// the store: the page's per-address limit on entered codes would stop this many.
			approved := func() string {
				da := e.authorizeDevice(c, "openid email offline_access", nil)
				now := e.clock.Now()
				err := e.store.DecideDeviceCode(context.Background(), strings.ReplaceAll(da.UserCode, "-", ""),
					storage.DeviceApproved, u.ID, now, []string{"pwd"}, now)
				if err != nil {
					t.Fatal(err)
				}
				return da.DeviceCode
			}
			poll := func(code string) answer {
				st, hdr, body := e.postForm("/oauth/token", url.Values{"grant_type": {grantDevice}, "device_code": {code}, "client_id": {c.ID}}, "", "")
				return answer{st, hdr, body}
			}
			code := approved()
			fs.ResetCalls()
			normal := poll(code)
			methods := fs.Calls()
			if normal.status != http.StatusOK || !strings.Contains(normal.body, "refresh_token") {
				t.Fatalf("without failures: %d %s", normal.status, normal.body)
			}
			eachCallFailing(fs, methods, approved, poll, func(call, code string, got answer) {
				what := "poll with " + call
				checkFailureAnswer(t, what, normal, got)
				if got.status == http.StatusOK {
					return
				}
				if retry := poll(code); retry.status != http.StatusOK || !strings.Contains(retry.body, "refresh_token") {
					t.Errorf("%s: %d, then the retry: %d %s, want the tokens", what, got.status, retry.status, retry.body)
				}
			})
		})
	}
}
