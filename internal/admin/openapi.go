package admin

import (
	_ "embed"
	"net/http"
)

// openAPIDoc describes the API (OpenAPI 3.0). TestOpenAPIMatchesRoutes checks that it parses
// and that its operations are exactly the router's.
//
//go:embed openapi.yaml
var openAPIDoc []byte

// OpenAPI returns the document.
func OpenAPI() []byte { return openAPIDoc }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDoc)
}
