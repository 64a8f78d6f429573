package clientmeta

import "testing"

func TestCheck(t *testing.T) {
	good := []string{"", "https://photo.example", "https://photo.example/", "https://cdn.photo.example:8443/logo.png?v=2#x",
		"https://xn--bcher-kva.example/privacy"}
	for _, u := range good {
		if err := Check(u); err != nil {
			t.Errorf("Check(%q) = %v, want nil", u, err)
		}
	}
	bad := []string{"http://photo.example/", "javascript:alert(1)", "data:image/png;base64,AAAA", "//photo.example/",
		"HTTPS://photo.example/", "https://", "https://bank.example@evil.example/", "https://photo.example/a b",
		"https://bücher.example/", "https://photo.example;img-src*/", "https://photo.example:x/", "https://photo..example/",
		"https://photo.example/\n", "photo.example"}
	for _, u := range bad {
		if Check(u) == nil {
			t.Errorf("Check(%q) = nil, want an error", u)
		}
	}
}

func TestHostAndOrigin(t *testing.T) {
	if h := Host("https://WWW.Photo.example:8443/about"); h != "www.photo.example" {
		t.Errorf("Host = %q", h)
	}
	if o := Origin("https://CDN.photo.example:8443/logo.png"); o != "https://cdn.photo.example:8443" {
		t.Errorf("Origin = %q", o)
	}
	if Host("http://photo.example/") != "" || Origin("javascript:x") != "" || Origin("") != "" {
		t.Error("an unacceptable address gave a host or origin")
	}
}
