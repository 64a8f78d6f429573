package server_test

import (
	"net/http"
	"testing"
)

// TestRegistrationRefusesLocalOutboundTargets: the addresses the server itself calls
// (jwks_uri, backchannel_logout_uri) cannot name this machine or a private network when an
// anonymous registrant sets them (blind SSRF): https://127.0.0.1:6443/keys was accepted.
func TestRegistrationRefusesLocalOutboundTargets(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, envOptions{configure: registrationEnabled})
	endpoint := e.issuer + "/connect/register"
	register := func(field, uri string) (int, map[string]any) {
		md := map[string]any{"client_name": "App", "redirect_uris": []string{"https://app.example/cb"}, field: uri}
		if field == "jwks_uri" {
			md["token_endpoint_auth_method"] = "private_key_jwt"
		}
		status, _, body := e.registerReq(http.MethodPost, endpoint, e.initialToken(1), md)
		return status, body
	}
	local := []string{
		"https://127.0.0.1:6443/keys", "https://127.0.0.2/keys", "https://[::1]/keys", "https://localhost/keys",
		"https://LOCALHOST./keys", "https://api.localhost/keys", "https://10.0.0.1/keys", "https://192.168.1.1/keys",
		"https://172.16.0.1/keys", "https://100.64.0.1/keys", "https://169.254.169.254/latest/meta-data",
		"https://[fe80::1]/keys", "https://[fd00::1]/keys", "https://0.0.0.0/keys", "https://[::]/keys",
		"https://224.0.0.1/keys", "https://[::ffff:127.0.0.1]/keys", "https://127.1/keys", "https://2130706433/keys",
		"https://0x7f.0.0.1/keys", "https://metadata/keys", "http://rp.example/keys", "https://u:p@rp.example/keys",
	}
	for _, field := range []string{"jwks_uri", "backchannel_logout_uri"} {
		for _, uri := range local {
			if status, body := register(field, uri); status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
				t.Errorf("%s %s: %d %v, want 400 invalid_client_metadata", field, uri, status, body)
			}
		}
		for _, uri := range []string{"https://rp.example/keys", "https://93.184.215.14/keys"} {
			if status, body := register(field, uri); status != http.StatusCreated {
				t.Errorf("%s %s: %d %v, want 201", field, uri, status, body)
			}
		}
	}
}
