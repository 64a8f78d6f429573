package op

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// The library marshals a token's claims in two passes (oidc.mergeAndMarshalClaims): the
// registered claims to JSON, that JSON decoded into a map with the extra claims, and the map
// encoded again; then encoding/json compacts the result a third time. Every refresh and code
// exchange marshals two such sets (the access and the ID token): 8 % of a refresh's CPU.
// These give the same JSON object (the same members and values; members in another order)
// in one pass: the registered claims as the library's own alias type marshals them, then
// the extra claims, sorted as the map encoding sorts them. An extra claim that could
// collide with a registered one (the library lets the registered one win) takes the
// library's path.

type (
	accessClaimsJSON oidc.AccessTokenClaims // no MarshalJSON: the library's atcAlias
	idClaimsJSON     oidc.IDTokenClaims     // the library's itcAlias
)

var (
	accessClaimNames = sync.OnceValue(func() map[string]bool { return jsonNames(reflect.TypeFor[accessClaimsJSON]()) })
	idClaimNames     = sync.OnceValue(func() map[string]bool { return jsonNames(reflect.TypeFor[idClaimsJSON]()) })
)

// marshalAccessClaims is json.Marshal(c) in one pass.
func marshalAccessClaims(c *oidc.AccessTokenClaims) ([]byte, error) {
	return marshalClaims((*accessClaimsJSON)(c), c.Claims, accessClaimNames(), c)
}

// marshalIDClaims is json.Marshal(c) in one pass.
func marshalIDClaims(c *oidc.IDTokenClaims) ([]byte, error) {
	return marshalClaims((*idClaimsJSON)(c), c.Claims, idClaimNames(), c)
}

func marshalClaims(registered any, extra map[string]any, names map[string]bool, whole any) ([]byte, error) {
	for k := range extra {
		if names[k] {
			return json.Marshal(whole)
		}
	}
	b, err := json.Marshal(registered)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	b = b[:len(b)-1] // the closing brace; the extra members follow
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		v, err := json.Marshal(extra[k])
		if err != nil {
			return nil, err
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// jsonNames is every member name encoding/json may write for a value of struct type t,
// through embedded structs too.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				walk(ft)
				continue
			}
			if name == "" {
				name = f.Name
			}
			names[name] = true
		}
	}
	walk(t)
	return names
}
