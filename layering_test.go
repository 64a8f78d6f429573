package myaccount_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportLayering holds the architecture's edges (DESIGN.md §2): storage is the bottom;
// ui and op never import each other; domain packages do not speak HTTP.
func TestImportLayering(t *testing.T) {
	const mod = "github.com/myaccount/myaccount/"
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"storage", []string{mod}},
		{"op", []string{mod + "ui"}},
		{"ui", []string{mod + "op", "github.com/zitadel/oidc"}},
		{"keys", []string{"net/http", "github.com/zitadel/oidc", mod + "ui", mod + "op"}},
		{"internal/account", []string{"net/http"}},
		{"internal/passwords", []string{"net/http"}},
		// The domain services of issue 13 that the UI, the admin API and the CLI share.
		{"internal/sessions", []string{"net/http", mod + "ui", mod + "op"}},
		{"internal/consent", []string{"net/http", mod + "ui", mod + "op"}},
		{"internal/guard", []string{"net/http", mod + "ui", mod + "op"}},
		{"internal/deviceapproval", []string{"net/http", mod + "ui", mod + "op"}},
		// Phone numbers and their verification (issue 15); sending is internal/sms's.
		{"internal/phone", []string{"net/http", mod + "ui", mod + "op", mod + "internal/sms"}},
		{"internal/subkey", []string{"net/http", mod}},
		{"internal/secret", []string{"net/http", mod}},
	}
	for _, r := range rules {
		for _, d := range deps(r.pkg) {
			if d == mod+r.pkg || (r.pkg == "storage" && d == strings.TrimSuffix(mod, "/")+"/storage") {
				continue
			}
			for _, f := range r.forbidden {
				if d == f || strings.HasPrefix(d, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) {
					t.Errorf("%s imports %s (forbidden: %s)", r.pkg, d, f)
				}
			}
		}
	}
}
