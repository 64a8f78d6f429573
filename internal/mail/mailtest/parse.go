package mailtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// parse decodes raw the way a mail client would: headers, encoded-word subject, and the
// first text/plain and text/html parts of a possibly nested multipart tree.
func parse(raw []byte) (Received, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{}, fmt.Errorf("headers: %w", err)
	}
	r := Received{Header: msg.Header, Raw: raw}
	dec := new(mime.WordDecoder)
	if r.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Received{}, fmt.Errorf("subject: %w", err)
	}
	if err := walk(textproto.MIMEHeader(msg.Header), msg.Body, &r, 0); err != nil {
		return Received{}, err
	}
	return r, nil
}

func walk(h textproto.MIMEHeader, body io.Reader, r *Received, depth int) error {
	if depth > 10 {
		return errors.New("multipart nesting too deep")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii" // RFC 2045 default
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content-type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if params["boundary"] == "" {
			return fmt.Errorf("%s without boundary", mediaType)
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart, not NextPart: NextPart silently undoes quoted-printable and
			// drops the header, and this package wants to see (and check) the encoding.
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", mediaType, err)
			}
			if err := walk(p.Header, p, r, depth+1); err != nil {
				return err
			}
		}
	}
	if mediaType != "text/plain" && mediaType != "text/html" {
		return nil // attachments and the like: not what tests look at
	}
	if d := h.Get("Content-Disposition"); strings.HasPrefix(strings.ToLower(d), "attachment") {
		return nil
	}
	switch cs := strings.ToLower(params["charset"]); cs {
	case "", "utf-8", "us-ascii":
	default:
		return fmt.Errorf("%s in charset %q: only UTF-8 is expected", mediaType, cs)
	}
	content, err := decodeBody(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return fmt.Errorf("%s: %w", mediaType, err)
	}
	text := strings.ReplaceAll(string(content), "\r\n", "\n")
	switch {
	case mediaType == "text/plain" && r.Text == "":
		r.Text = text
	case mediaType == "text/html" && r.HTML == "":
		r.HTML = text
	}
	return nil
}

func decodeBody(cte string, body io.Reader) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return io.ReadAll(body)
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("quoted-printable: %w", err)
		}
		return b, nil
	case "base64":
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, body))
		if err != nil {
			return nil, fmt.Errorf("base64: %w", err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("unknown content-transfer-encoding %q", cte)
	}
}

// FirstLink returns the first URL in text that starts with prefix, or "" if there is none.
//
// Pass a decoded body (Received.Text or Received.HTML), never Raw: quoted-printable soft
// line breaks are only gone after decoding. The URL ends at whitespace, a quote, '<' or
// '>', or any non-ASCII character; trailing sentence punctuation is dropped, and "&amp;"
// is turned back into "&" so that an href taken from an HTML body works as is.
func FirstLink(text, prefix string) string {
	if prefix == "" {
		return ""
	}
	i := strings.Index(text, prefix)
	if i < 0 {
		return ""
	}
	end := i + len(prefix)
	for end < len(text) {
		c := text[end]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"'<>", c) >= 0 {
			break
		}
		end++
	}
	tail := strings.TrimRight(text[i+len(prefix):end], ".,;:!?)]}")
	return strings.ReplaceAll(prefix+tail, "&amp;", "&")
}
