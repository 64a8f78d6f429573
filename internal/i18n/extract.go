package i18n

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"text/template/parse"
)

// templateExts are the file name endings Extract reads as templates.
var templateExts = []string{".html", ".tmpl", ".gohtml", ".tpl"}

// Extract collects the messages the UI translates, for checking catalogs against what is
// in use (see i18ntest):
//
//   - from every template in fsys (*.html, *.tmpl, *.gohtml, *.tpl, at any depth), the
//     string given to T, however T is reached: {{T "Sign in"}}, {{.T "to continue to %s"
//     .Name}}, {{$.T "…"}}, (T "…") inside a pipeline, or {{T .Lang "…"}};
//   - from the Go files matching the fs.Glob patterns goFiles (each must match at least
//     one file, so a typo does not silently check nothing; _test.go files are skipped, as
//     tests use made-up messages), the string literal in calls of any function or method
//     named T — T(lang, "…") or T("…", args) — and in calls of N.
//
// Templates and Go files are parsed, not grepped, so comments and strings that merely
// contain "T(" do not count. A message computed at run time cannot be seen; mark such
// messages where they are written with N. The result is sorted and without duplicates.
func Extract(fsys fs.FS, goFiles ...string) ([]string, error) {
	var msgs []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isTemplate(p) {
			return err
		}
		found, err := templateMessages(fsys, p)
		msgs = append(msgs, found...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("i18n: extract: %w", err)
	}
	err = eachGoFile(fsys, goFiles, func(name string, f *ast.File) error {
		var bad error
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || bad != nil {
				return bad == nil
			}
			var lit *ast.BasicLit
			switch funcName(call.Fun) {
			case "T":
				// T(lang, "msg", …) or, with the language bound, T("msg", …); in
				// T("de", msg) the literal is a language, not a message.
				if lit = stringLit(call.Args, 1); lit == nil {
					lit = stringLit(call.Args, 0)
					if lit != nil && len(call.Args) > 1 && supported(strings.Trim(lit.Value, "\"`")) {
						lit = nil
					}
				}
			case "N":
				lit = stringLit(call.Args, 0)
			}
			if lit != nil {
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					bad = fmt.Errorf("%s: %w", name, err)
				}
				msgs = append(msgs, s)
			}
			return true
		})
		return bad
	})
	if err != nil {
		return nil, err
	}
	return sortedUnique(msgs), nil
}

// Literals returns every string literal in the Go files matching the patterns (as in
// Extract). Messages handed to helpers before being translated — a page title given to
// a render function, an error text returned by another package — are literals without
// a T or N around them; checking unused catalog keys against Extract's result plus these
// literals avoids calling such messages stale.
func Literals(fsys fs.FS, goFiles ...string) ([]string, error) {
	var out []string
	err := eachGoFile(fsys, goFiles, func(name string, f *ast.File) error {
		var bad error
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, err := strconv.Unquote(lit.Value)
				if err != nil && bad == nil {
					bad = fmt.Errorf("%s: %w", name, err)
				}
				out = append(out, s)
			}
			return true
		})
		return bad
	})
	if err != nil {
		return nil, err
	}
	return sortedUnique(out), nil
}

func isTemplate(p string) bool {
	for _, ext := range templateExts {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

func eachGoFile(fsys fs.FS, patterns []string, fn func(name string, f *ast.File) error) error {
	fset := token.NewFileSet()
	for _, pat := range patterns {
		names, err := fs.Glob(fsys, pat)
		if err != nil {
			return fmt.Errorf("i18n: extract: %w", err)
		}
		if len(names) == 0 {
			return fmt.Errorf("i18n: extract: %q matches no file", pat)
		}
		for _, name := range names {
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			src, err := fs.ReadFile(fsys, name)
			if err != nil {
				return fmt.Errorf("i18n: extract: %w", err)
			}
			f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
			if err != nil {
				return fmt.Errorf("i18n: extract: %w", err)
			}
			if err := fn(name, f); err != nil {
				return fmt.Errorf("i18n: extract: %w", err)
			}
		}
	}
	return nil
}

// funcName is the called function's or method's own name: "T" for T, b.T and x.y.T.
func funcName(e ast.Expr) string {
	switch f := e.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	case *ast.IndexExpr: // a generic instantiation, T[X](…)
		return funcName(f.X)
	}
	return ""
}

func stringLit(args []ast.Expr, i int) *ast.BasicLit {
	if i < len(args) {
		if lit, ok := args[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			return lit
		}
	}
	return nil
}

// templateMessages parses one template file without knowing its functions
// (SkipFuncCheck), so the extraction does not need the UI's FuncMap.
func templateMessages(fsys fs.FS, name string) ([]string, error) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	trees := map[string]*parse.Tree{}
	t := parse.New(path.Base(name))
	t.Mode = parse.SkipFuncCheck
	if _, err := t.Parse(string(src), "", "", trees); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var msgs []string
	for _, tree := range trees {
		walkTemplate(tree.Root, &msgs)
	}
	return msgs, nil
}

func walkTemplate(n parse.Node, msgs *[]string) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walkTemplate(c, msgs)
			}
		}
	case *parse.ActionNode:
		walkTemplate(n.Pipe, msgs)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, msgs)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, msgs)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, msgs)
	case *parse.TemplateNode:
		walkTemplate(n.Pipe, msgs)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				walkTemplate(c, msgs)
			}
		}
	case *parse.CommandNode:
		if len(n.Args) > 0 && templateFuncName(n.Args[0]) == "T" {
			// T "msg" …, or T .Lang "msg" … when the language is passed explicitly.
			for _, a := range n.Args[1:min(len(n.Args), 3)] {
				if s, ok := a.(*parse.StringNode); ok {
					*msgs = append(*msgs, s.Text)
					break
				}
			}
		}
		for _, a := range n.Args {
			walkTemplate(a, msgs)
		}
	}
}

func walkBranch(b *parse.BranchNode, msgs *[]string) {
	walkTemplate(b.Pipe, msgs)
	walkTemplate(b.List, msgs)
	walkTemplate(b.ElseList, msgs)
}

// templateFuncName is the name a command calls: T for T, .T, $.T, $x.T and (…).T.
func templateFuncName(n parse.Node) string {
	var idents []string
	switch n := n.(type) {
	case *parse.IdentifierNode:
		return n.Ident
	case *parse.FieldNode:
		idents = n.Ident
	case *parse.VariableNode:
		idents = n.Ident[1:] // Ident[0] is the variable itself
	case *parse.ChainNode:
		idents = n.Field
	}
	if len(idents) == 0 {
		return ""
	}
	return idents[len(idents)-1]
}
