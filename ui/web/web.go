// Package web holds the UI's templates and static files, embedded so the binary is the
// whole deployment. An operator may override any file from a theme directory.
package web

import "embed"

// FS holds templates/*.html and static/*.
//
//go:embed templates static
var FS embed.FS
