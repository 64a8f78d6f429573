package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocumentedVariablesAreRead: every MYACCOUNT_* variable the README or the example
// configuration names is one the loader reads (a documented variable that is not read would
// be silently ignored: the operator's setting would not take effect). The deployment files
// are held to the same by deploy/deploy_test.go.
// The README's "MYACCOUNT_SMS_*" names a family: some variable must start with it.
func TestDocumentedVariablesAreRead(t *testing.T) {
	read := map[string]bool{
		"MYACCOUNT_TEST_POSTGRES_URL": true, // the tests' PostgreSQL (storage/postgres/pgtest)
	}
	for _, e := range envVars {
		read[e.name] = true
	}
	name := regexp.MustCompile(`MYACCOUNT_[A-Z0-9_]+`)
	for _, path := range []string{"../../README.md", examplePath} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range name.FindAllString(string(b), -1) {
			if strings.HasSuffix(v, "_") { // a family, e.g. MYACCOUNT_SMS_*
				found := false
				for r := range read {
					found = found || strings.HasPrefix(r, v)
				}
				if !found {
					t.Errorf("%s names %s*, and no variable the loader reads starts so", path, v)
				}
				continue
			}
			if !read[v] {
				t.Errorf("%s names %s, which the configuration loader does not read", path, v)
			}
		}
	}
}
