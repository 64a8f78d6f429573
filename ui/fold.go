package ui

import (
	"errors"
	"html/template"
	"io"
	"strconv"
	"strings"
	"text/template/parse"
)

// Rendering a page costs html/template a reflective call per action and per escaper the
// action goes through (an asset's URL in an href: asset, then the URL filter, normaliser and
// attribute escaper), each allocating its arguments and results: most of a page's CPU. Much
// of a page is the same on every request in a language: its translated texts ({{.T "Sign
// in"}}) and its asset URLs. foldPage turns those into text once per language, so that only
// what depends on the request is evaluated per page:
//
//  1. before escaping, {{.T "literal"}} (where dot is the page) becomes the literal's
//     translation, and {{asset "name"}} the asset's URL, as string constants: the same value
//     in the same place, so html/template escapes it exactly as before;
//  2. the set is escaped (html/template does that on the first execution: foldPage executes
//     it once without data, and ignores the execution's error, not the escaper's);
//  3. an action that is now a constant piped only through escapers whose output foldPage can
//     compute exactly (the HTML text and attribute escapers; the URL filter and normaliser
//     for a string they leave as it is) becomes that output, as text.
//
// Whatever it does not recognise it leaves to html/template. TestLoginPageGolden compares
// pages with what the templates gave before folding.

// foldPage folds t (parsed, never executed) for lang; lang "" folds the assets only.
func foldPage(t *template.Template, T func(msg string) string, assetURL func(string) string) (*template.Template, error) {
	for _, name := range []string{"layout", "content"} {
		if tt := t.Lookup(name); tt != nil && tt.Tree != nil {
			foldConstants(tt.Tree.Root, T, assetURL, true)
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Name() != "layout" && tt.Name() != "content" {
			foldConstants(tt.Tree.Root, nil, assetURL, false)
		}
	}
	// Escape the set as executing it does; the execution itself fails without data.
	if err := t.ExecuteTemplate(io.Discard, "layout", nil); err != nil {
		var escErr *template.Error
		if errors.As(err, &escErr) {
			return nil, err
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			foldEscaped(tt.Tree.Root)
		}
	}
	return t, nil
}

// foldConstants rewrites {{.T "literal"}} (when pageDot: dot is the page, so outside range
// and with) and {{asset "name"}} below n into string constants.
func foldConstants(n parse.Node, T func(string) string, assetURL func(string) string, pageDot bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			foldConstants(c, T, assetURL, pageDot)
		}
	case *parse.ActionNode:
		if n.Pipe == nil || len(n.Pipe.Decl) > 0 || len(n.Pipe.Cmds) != 1 {
			return
		}
		cmd := n.Pipe.Cmds[0]
		if len(cmd.Args) != 2 {
			return
		}
		s, ok := cmd.Args[1].(*parse.StringNode)
		if !ok {
			return
		}
		switch f := cmd.Args[0].(type) {
		case *parse.FieldNode:
			if !pageDot || T == nil || len(f.Ident) != 1 || f.Ident[0] != "T" {
				return
			}
			s.Text = T(s.Text)
		case *parse.IdentifierNode:
			if f.Ident != "asset" || assetURL == nil {
				return
			}
			s.Text = assetURL(s.Text)
		default:
			return
		}
		s.Quoted = strconv.Quote(s.Text)
		cmd.Args = cmd.Args[1:]
	case *parse.IfNode:
		foldConstants(n.List, T, assetURL, pageDot)
		foldConstants(n.ElseList, T, assetURL, pageDot)
	case *parse.RangeNode: // dot is an element inside, the page again in else
		foldConstants(n.List, T, assetURL, false)
		foldConstants(n.ElseList, T, assetURL, pageDot)
	case *parse.WithNode:
		foldConstants(n.List, T, assetURL, false)
		foldConstants(n.ElseList, T, assetURL, pageDot)
	}
}

// foldEscaped replaces the actions below n that escaping left as a constant piped through
// escapers foldable computes with their output, as text.
func foldEscaped(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for i, c := range n.Nodes {
			if a, ok := c.(*parse.ActionNode); ok {
				if text, ok := foldable(a.Pipe); ok {
					n.Nodes[i] = &parse.TextNode{NodeType: parse.NodeText, Pos: a.Pos, Text: []byte(text)}
				}
				continue
			}
			foldEscaped(c)
		}
	case *parse.IfNode:
		foldEscaped(n.List)
		foldEscaped(n.ElseList)
	case *parse.RangeNode:
		foldEscaped(n.List)
		foldEscaped(n.ElseList)
	case *parse.WithNode:
		foldEscaped(n.List)
		foldEscaped(n.ElseList)
	}
}

// foldable computes what an escaped pipeline {{"constant" | escaper | …}} writes, for the
// escapers it knows exactly (html/template's own, by the names its escaper gives them).
func foldable(p *parse.PipeNode) (string, bool) {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) < 2 || len(p.Cmds[0].Args) != 1 {
		return "", false
	}
	s, ok := p.Cmds[0].Args[0].(*parse.StringNode)
	if !ok {
		return "", false
	}
	out := s.Text
	for _, c := range p.Cmds[1:] {
		if len(c.Args) != 1 {
			return "", false
		}
		id, ok := c.Args[0].(*parse.IdentifierNode)
		if !ok {
			return "", false
		}
		switch id.Ident {
		case "_html_template_htmlescaper", "_html_template_attrescaper":
			out = escapeHTMLLikeTemplate(out)
		case "_html_template_urlfilter":
			if strings.Contains(out, ":") { // a scheme, perhaps: leave it to the filter
				return "", false
			}
		case "_html_template_urlnormalizer":
			if !plainURLPath(out) {
				return "", false
			}
		default:
			return "", false
		}
	}
	return out, true
}

// escapeHTMLLikeTemplate is html/template's escaping of a plain string in HTML text and in
// a quoted attribute (its htmlReplacementTable): these bytes are ASCII, so replacing bytes
// is replacing runes, and any other byte, valid UTF-8 or not, stays.
func escapeHTMLLikeTemplate(s string) string {
	var b strings.Builder
	written := 0
	for i := 0; i < len(s); i++ {
		var repl string
		switch s[i] {
		case 0:
			repl = "\uFFFD"
		case '"':
			repl = "&#34;"
		case '&':
			repl = "&amp;"
		case '\'':
			repl = "&#39;"
		case '+':
			repl = "&#43;"
		case '<':
			repl = "&lt;"
		case '>':
			repl = "&gt;"
		default:
			continue
		}
		b.WriteString(s[written:i])
		b.WriteString(repl)
		written = i + 1
	}
	if written == 0 {
		return s
	}
	b.WriteString(s[written:])
	return b.String()
}

// plainURLPath reports whether the URL normaliser leaves s as it is, conservatively: only
// letters, digits and "-._~/".
func plainURLPath(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0) {
			return false
		}
	}
	return true
}
