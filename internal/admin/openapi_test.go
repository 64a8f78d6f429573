package admin_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/myaccount/myaccount/internal/admin"
)

// TestOpenAPIMatchesRoutes: the served document is valid OpenAPI 3, and its operations are
// exactly the router's (a route added without documenting it, or documented and gone, fails).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(admin.OpenAPI())
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("not valid OpenAPI 3: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != admin.Prefix {
		t.Fatalf("servers = %+v, want %s", doc.Servers, admin.Prefix)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	served := admin.Routes()
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("document and router differ\ndocumented: %v\nserved:     %v", documented, served)
	}
	// Every operation documents its errors as problem+json and has an id.
	wild := regexp.MustCompile(`\{[a-z_]+\}`)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
			if path == "/openapi.yaml" {
				continue
			}
			def := op.Responses.Default()
			if def == nil || def.Value == nil || def.Value.Content.Get("application/problem+json") == nil {
				t.Errorf("%s %s does not document its problem+json errors", method, path)
			}
			for _, w := range wild.FindAllString(path, -1) {
				name := strings.Trim(w, "{}")
				if item.Parameters.GetByInAndName("path", name) == nil && op.Parameters.GetByInAndName("path", name) == nil {
					t.Errorf("%s %s does not declare path parameter %s", method, path, name)
				}
			}
		}
	}
}
