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
// the extra claims, sorted as the map encoding sorts them. An extra claim named as a
// registered claim that is written (not left out by omitempty) takes the library's path,
// where the registered one wins.

type (
	accessClaimsJSON oidc.AccessTokenClaims // no MarshalJSON: the library's atcAlias
	idClaimsJSON     oidc.IDTokenClaims     // the library's itcAlias
)

var (
	accessClaimFields = sync.OnceValue(func() map[string][]jsonField { return jsonFields(reflect.TypeFor[accessClaimsJSON]()) })
	idClaimFields     = sync.OnceValue(func() map[string][]jsonField { return jsonFields(reflect.TypeFor[idClaimsJSON]()) })
)

// marshalAccessClaims is json.Marshal(c) in one pass.
func marshalAccessClaims(c *oidc.AccessTokenClaims) ([]byte, error) {
	return marshalClaims(reflect.ValueOf((*accessClaimsJSON)(c)).Elem(), c.Claims, accessClaimFields(), c)
}

// marshalIDClaims is json.Marshal(c) in one pass.
func marshalIDClaims(c *oidc.IDTokenClaims) ([]byte, error) {
	return marshalClaims(reflect.ValueOf((*idClaimsJSON)(c)).Elem(), c.Claims, idClaimFields(), c)
}

func marshalClaims(registered reflect.Value, extra map[string]any, fields map[string][]jsonField, whole any) ([]byte, error) {
	for k := range extra {
		for _, f := range fields[k] {
			if f.written(registered) {
				return json.Marshal(whole) // a registered claim of that name: the library decides
			}
		}
	}
	b, err := json.Marshal(registered.Addr().Interface())
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

// jsonField is a struct field that encoding/json may write under some member name.
type jsonField struct {
	index     []int
	omitEmpty bool
	omitZero  bool
}

// written reports whether encoding/json may write f of v: always, unless an omitempty or
// omitzero option lets it leave f's value out.
func (f jsonField) written(v reflect.Value) bool {
	fv, err := v.FieldByIndexErr(f.index)
	if err != nil {
		return false // inside a nil embedded pointer: not written
	}
	switch {
	case f.omitZero:
		if z, ok := fv.Interface().(interface{ IsZero() bool }); ok {
			return !z.IsZero()
		}
		return !fv.IsZero()
	case f.omitEmpty:
		switch fv.Kind() {
		case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
			return fv.Len() > 0
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
			return !fv.IsZero()
		}
	}
	return true
}

// jsonFields maps every member name encoding/json may write for struct type t, through
// embedded structs too, to the fields that may write it (all of them, shadowed or not: a
// name written by any is a registered claim).
func jsonFields(t reflect.Type) map[string][]jsonField {
	fields := map[string][]jsonField{}
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			continue // its fields are promoted: VisibleFields lists them
		}
		if name == "" {
			name = f.Name
		}
		options := strings.Split(opts, ",")
		fields[name] = append(fields[name], jsonField{index: f.Index,
			omitEmpty: slices.Contains(options, "omitempty"), omitZero: slices.Contains(options, "omitzero")})
	}
	return fields
}
