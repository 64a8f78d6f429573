package phonenumbers

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The embedded metadata is upstream's: PhoneMetadataCollection in protobuf wire format. This
// reads the fields of phonemetadata.proto that types.go has; anything else is skipped.

var errWire = errors.New("phonenumbers: malformed metadata")

// fields walks the fields of one message, calling f with each field's number, type and
// value bytes (for varints, the varint itself).
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: %w", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.VarintType && typ != protowire.BytesType {
			continue
		}
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func decodeCollection(b []byte) (*PhoneMetadataCollection, error) {
	c := &PhoneMetadataCollection{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		m, err := decodeMetadata(v)
		if err != nil {
			return err
		}
		c.Metadata = append(c.Metadata, m)
		return nil
	})
	return c, err
}

func decodeMetadata(b []byte) (*PhoneMetadata, error) {
	m := &PhoneMetadata{}
	descs := map[protowire.Number]**PhoneNumberDesc{
		1: &m.GeneralDesc, 2: &m.FixedLine, 3: &m.Mobile, 4: &m.TollFree, 5: &m.PremiumRate,
		6: &m.SharedCost, 7: &m.PersonalNumber, 8: &m.Voip, 21: &m.Pager, 25: &m.Uan,
		27: &m.Emergency, 28: &m.Voicemail, 29: &m.ShortCode, 30: &m.StandardRate,
		31: &m.CarrierSpecific, 33: &m.SmsServices, 24: &m.NoInternationalDialling,
	}
	strs := map[protowire.Number]**string{
		9: &m.Id, 11: &m.InternationalPrefix, 17: &m.PreferredInternationalPrefix,
		12: &m.NationalPrefix, 13: &m.PreferredExtnPrefix, 15: &m.NationalPrefixForParsing,
		16: &m.NationalPrefixTransformRule, 23: &m.LeadingDigits,
	}
	bools := map[protowire.Number]**bool{
		18: &m.SameMobileAndFixedLinePattern, 22: &m.MainCountryForCode,
		26: &m.LeadingZeroPossible, 32: &m.MobileNumberPortableRegion,
	}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case typ == protowire.BytesType && descs[num] != nil:
			d, err := decodeDesc(v)
			if err != nil {
				return err
			}
			*descs[num] = d
		case typ == protowire.BytesType && strs[num] != nil:
			*strs[num] = ptr(string(v))
		case typ == protowire.VarintType && bools[num] != nil:
			*bools[num] = ptr(protowire.DecodeBool(x))
		case typ == protowire.VarintType && num == 10:
			m.CountryCode = ptr(int32(x))
		case typ == protowire.BytesType && (num == 19 || num == 20):
			f, err := decodeFormat(v)
			if err != nil {
				return err
			}
			if num == 19 {
				m.NumberFormat = append(m.NumberFormat, f)
			} else {
				m.IntlNumberFormat = append(m.IntlNumberFormat, f)
			}
		}
		return nil
	})
	return m, err
}

func decodeDesc(b []byte) (*PhoneNumberDesc, error) {
	d := &PhoneNumberDesc{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 2, 6:
			if typ != protowire.BytesType {
				return nil
			}
			if num == 2 {
				d.NationalNumberPattern = ptr(string(v))
			} else {
				d.ExampleNumber = ptr(string(v))
			}
		case 9, 10:
			to := &d.PossibleLength
			if num == 10 {
				to = &d.PossibleLengthLocalOnly
			}
			if typ == protowire.VarintType {
				*to = append(*to, int32(x))
				return nil
			}
			for len(v) > 0 { // packed
				y, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return fmt.Errorf("%w: %w", errWire, protowire.ParseError(n))
				}
				*to = append(*to, int32(y))
				v = v[n:]
			}
		}
		return nil
	})
	return d, err
}

func decodeFormat(b []byte) (*NumberFormat, error) {
	f := &NumberFormat{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if typ == protowire.VarintType {
			if num == 6 {
				f.NationalPrefixOptionalWhenFormatting = ptr(protowire.DecodeBool(x))
			}
			return nil
		}
		switch num {
		case 1:
			f.Pattern = ptr(string(v))
		case 2:
			f.Format = ptr(string(v))
		case 3:
			f.LeadingDigitsPattern = append(f.LeadingDigitsPattern, string(v))
		case 4:
			f.NationalPrefixFormattingRule = ptr(string(v))
		case 5:
			f.DomesticCarrierCodeFormattingRule = ptr(string(v))
		}
		return nil
	})
	return f, err
}
