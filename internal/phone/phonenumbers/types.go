package phonenumbers

// The message types of upstream's phonemetadata.proto and phonenumber.proto as plain
// structs: same fields and getters (with the proto defaults) as upstream's generated
// *.pb.go, without protobuf's reflection and global type registry. Upstream registers the
// two .proto files in protobuf's global registry at init; a second copy registering the
// same names would clash with the upstream module in TestSameAsUpstream. The embedded
// metadata is still protobuf wire format, read by decode.go.

// NumberFormat is a formatting rule (phonemetadata.proto).
type NumberFormat struct {
	Pattern                              *string
	Format                               *string
	LeadingDigitsPattern                 []string
	NationalPrefixFormattingRule         *string
	NationalPrefixOptionalWhenFormatting *bool
	DomesticCarrierCodeFormattingRule    *string
}

func (x *NumberFormat) GetPattern() string {
	if x != nil && x.Pattern != nil {
		return *x.Pattern
	}
	return ""
}

func (x *NumberFormat) GetFormat() string {
	if x != nil && x.Format != nil {
		return *x.Format
	}
	return ""
}

func (x *NumberFormat) GetLeadingDigitsPattern() []string {
	if x != nil {
		return x.LeadingDigitsPattern
	}
	return nil
}

func (x *NumberFormat) GetNationalPrefixFormattingRule() string {
	if x != nil && x.NationalPrefixFormattingRule != nil {
		return *x.NationalPrefixFormattingRule
	}
	return ""
}

func (x *NumberFormat) GetNationalPrefixOptionalWhenFormatting() bool {
	if x != nil && x.NationalPrefixOptionalWhenFormatting != nil {
		return *x.NationalPrefixOptionalWhenFormatting
	}
	return false
}

func (x *NumberFormat) GetDomesticCarrierCodeFormattingRule() string {
	if x != nil && x.DomesticCarrierCodeFormattingRule != nil {
		return *x.DomesticCarrierCodeFormattingRule
	}
	return ""
}

// PhoneNumberDesc describes one type of number of a region (phonemetadata.proto).
type PhoneNumberDesc struct {
	NationalNumberPattern   *string
	PossibleLength          []int32
	PossibleLengthLocalOnly []int32
	ExampleNumber           *string
}

func (x *PhoneNumberDesc) GetNationalNumberPattern() string {
	if x != nil && x.NationalNumberPattern != nil {
		return *x.NationalNumberPattern
	}
	return ""
}

func (x *PhoneNumberDesc) GetPossibleLength() []int32 {
	if x != nil {
		return x.PossibleLength
	}
	return nil
}

func (x *PhoneNumberDesc) GetPossibleLengthLocalOnly() []int32 {
	if x != nil {
		return x.PossibleLengthLocalOnly
	}
	return nil
}

func (x *PhoneNumberDesc) GetExampleNumber() string {
	if x != nil && x.ExampleNumber != nil {
		return *x.ExampleNumber
	}
	return ""
}

// PhoneMetadata is the metadata of one region (phonemetadata.proto).
type PhoneMetadata struct {
	GeneralDesc                   *PhoneNumberDesc
	FixedLine                     *PhoneNumberDesc
	Mobile                        *PhoneNumberDesc
	TollFree                      *PhoneNumberDesc
	PremiumRate                   *PhoneNumberDesc
	SharedCost                    *PhoneNumberDesc
	PersonalNumber                *PhoneNumberDesc
	Voip                          *PhoneNumberDesc
	Pager                         *PhoneNumberDesc
	Uan                           *PhoneNumberDesc
	Emergency                     *PhoneNumberDesc
	Voicemail                     *PhoneNumberDesc
	ShortCode                     *PhoneNumberDesc
	StandardRate                  *PhoneNumberDesc
	CarrierSpecific               *PhoneNumberDesc
	SmsServices                   *PhoneNumberDesc
	NoInternationalDialling       *PhoneNumberDesc
	Id                            *string
	CountryCode                   *int32
	InternationalPrefix           *string
	PreferredInternationalPrefix  *string
	NationalPrefix                *string
	PreferredExtnPrefix           *string
	NationalPrefixForParsing      *string
	NationalPrefixTransformRule   *string
	SameMobileAndFixedLinePattern *bool
	NumberFormat                  []*NumberFormat
	IntlNumberFormat              []*NumberFormat
	MainCountryForCode            *bool
	LeadingDigits                 *string
	LeadingZeroPossible           *bool
	MobileNumberPortableRegion    *bool
}

func (x *PhoneMetadata) desc(f func(*PhoneMetadata) *PhoneNumberDesc) *PhoneNumberDesc {
	if x != nil {
		return f(x)
	}
	return nil
}

func (x *PhoneMetadata) GetGeneralDesc() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.GeneralDesc })
}
func (x *PhoneMetadata) GetFixedLine() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.FixedLine })
}
func (x *PhoneMetadata) GetMobile() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.Mobile })
}
func (x *PhoneMetadata) GetTollFree() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.TollFree })
}
func (x *PhoneMetadata) GetPremiumRate() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.PremiumRate })
}
func (x *PhoneMetadata) GetSharedCost() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.SharedCost })
}
func (x *PhoneMetadata) GetPersonalNumber() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.PersonalNumber })
}
func (x *PhoneMetadata) GetVoip() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.Voip })
}
func (x *PhoneMetadata) GetPager() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.Pager })
}
func (x *PhoneMetadata) GetUan() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.Uan })
}
func (x *PhoneMetadata) GetEmergency() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.Emergency })
}
func (x *PhoneMetadata) GetVoicemail() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.Voicemail })
}
func (x *PhoneMetadata) GetShortCode() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.ShortCode })
}
func (x *PhoneMetadata) GetStandardRate() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.StandardRate })
}
func (x *PhoneMetadata) GetCarrierSpecific() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.CarrierSpecific })
}
func (x *PhoneMetadata) GetSmsServices() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.SmsServices })
}
func (x *PhoneMetadata) GetNoInternationalDialling() *PhoneNumberDesc {
	return x.desc(func(m *PhoneMetadata) *PhoneNumberDesc { return m.NoInternationalDialling })
}

func str(p *string) string {
	if p != nil {
		return *p
	}
	return ""
}

func boolean(p *bool) bool {
	return p != nil && *p
}

func (x *PhoneMetadata) GetId() string {
	if x != nil {
		return str(x.Id)
	}
	return ""
}

func (x *PhoneMetadata) GetCountryCode() int32 {
	if x != nil && x.CountryCode != nil {
		return *x.CountryCode
	}
	return 0
}

func (x *PhoneMetadata) GetInternationalPrefix() string {
	if x != nil {
		return str(x.InternationalPrefix)
	}
	return ""
}

func (x *PhoneMetadata) GetPreferredInternationalPrefix() string {
	if x != nil {
		return str(x.PreferredInternationalPrefix)
	}
	return ""
}

func (x *PhoneMetadata) GetNationalPrefix() string {
	if x != nil {
		return str(x.NationalPrefix)
	}
	return ""
}

func (x *PhoneMetadata) GetPreferredExtnPrefix() string {
	if x != nil {
		return str(x.PreferredExtnPrefix)
	}
	return ""
}

func (x *PhoneMetadata) GetNationalPrefixForParsing() string {
	if x != nil {
		return str(x.NationalPrefixForParsing)
	}
	return ""
}

func (x *PhoneMetadata) GetNationalPrefixTransformRule() string {
	if x != nil {
		return str(x.NationalPrefixTransformRule)
	}
	return ""
}

func (x *PhoneMetadata) GetSameMobileAndFixedLinePattern() bool {
	return x != nil && boolean(x.SameMobileAndFixedLinePattern)
}

func (x *PhoneMetadata) GetNumberFormat() []*NumberFormat {
	if x != nil {
		return x.NumberFormat
	}
	return nil
}

func (x *PhoneMetadata) GetIntlNumberFormat() []*NumberFormat {
	if x != nil {
		return x.IntlNumberFormat
	}
	return nil
}

func (x *PhoneMetadata) GetMainCountryForCode() bool {
	return x != nil && boolean(x.MainCountryForCode)
}

func (x *PhoneMetadata) GetLeadingDigits() string {
	if x != nil {
		return str(x.LeadingDigits)
	}
	return ""
}

func (x *PhoneMetadata) GetLeadingZeroPossible() bool {
	return x != nil && boolean(x.LeadingZeroPossible)
}

func (x *PhoneMetadata) GetMobileNumberPortableRegion() bool {
	return x != nil && boolean(x.MobileNumberPortableRegion)
}

// PhoneMetadataCollection is every region's metadata (phonemetadata.proto).
type PhoneMetadataCollection struct {
	Metadata []*PhoneMetadata
}

func (x *PhoneMetadataCollection) GetMetadata() []*PhoneMetadata {
	if x != nil {
		return x.Metadata
	}
	return nil
}

// PhoneNumber_CountryCodeSource says where a parsed number's country code came from
// (phonenumber.proto).
type PhoneNumber_CountryCodeSource int32

const (
	PhoneNumber_UNSPECIFIED                   PhoneNumber_CountryCodeSource = 0
	PhoneNumber_FROM_NUMBER_WITH_PLUS_SIGN    PhoneNumber_CountryCodeSource = 1
	PhoneNumber_FROM_NUMBER_WITH_IDD          PhoneNumber_CountryCodeSource = 5
	PhoneNumber_FROM_NUMBER_WITHOUT_PLUS_SIGN PhoneNumber_CountryCodeSource = 10
	PhoneNumber_FROM_DEFAULT_COUNTRY          PhoneNumber_CountryCodeSource = 20
)

// Enum returns a pointer to a copy of x, as generated code does.
func (x PhoneNumber_CountryCodeSource) Enum() *PhoneNumber_CountryCodeSource {
	return &x
}

// PhoneNumber is a parsed phone number (phonenumber.proto).
type PhoneNumber struct {
	CountryCode                  *int32
	NationalNumber               *uint64
	Extension                    *string
	ItalianLeadingZero           *bool
	NumberOfLeadingZeros         *int32
	RawInput                     *string
	CountryCodeSource            *PhoneNumber_CountryCodeSource
	PreferredDomesticCarrierCode *string
}

// Default_PhoneNumber_NumberOfLeadingZeros is phonenumber.proto's default.
const Default_PhoneNumber_NumberOfLeadingZeros = int32(1)

func (x *PhoneNumber) GetCountryCode() int32 {
	if x != nil && x.CountryCode != nil {
		return *x.CountryCode
	}
	return 0
}

func (x *PhoneNumber) GetNationalNumber() uint64 {
	if x != nil && x.NationalNumber != nil {
		return *x.NationalNumber
	}
	return 0
}

func (x *PhoneNumber) GetExtension() string {
	if x != nil {
		return str(x.Extension)
	}
	return ""
}

func (x *PhoneNumber) GetItalianLeadingZero() bool {
	return x != nil && boolean(x.ItalianLeadingZero)
}

func (x *PhoneNumber) GetNumberOfLeadingZeros() int32 {
	if x != nil && x.NumberOfLeadingZeros != nil {
		return *x.NumberOfLeadingZeros
	}
	return Default_PhoneNumber_NumberOfLeadingZeros
}

func (x *PhoneNumber) GetRawInput() string {
	if x != nil {
		return str(x.RawInput)
	}
	return ""
}

func (x *PhoneNumber) GetCountryCodeSource() PhoneNumber_CountryCodeSource {
	if x != nil && x.CountryCodeSource != nil {
		return *x.CountryCodeSource
	}
	return PhoneNumber_UNSPECIFIED
}

func (x *PhoneNumber) GetPreferredDomesticCarrierCode() string {
	if x != nil {
		return str(x.PreferredDomesticCarrierCode)
	}
	return ""
}

// mergeFrom is proto.Merge(x, src) for this message: src's set fields, copied.
func (x *PhoneNumber) mergeFrom(src *PhoneNumber) {
	if src.CountryCode != nil {
		x.CountryCode = ptr(*src.CountryCode)
	}
	if src.NationalNumber != nil {
		x.NationalNumber = ptr(*src.NationalNumber)
	}
	if src.Extension != nil {
		x.Extension = ptr(*src.Extension)
	}
	if src.ItalianLeadingZero != nil {
		x.ItalianLeadingZero = ptr(*src.ItalianLeadingZero)
	}
	if src.NumberOfLeadingZeros != nil {
		x.NumberOfLeadingZeros = ptr(*src.NumberOfLeadingZeros)
	}
	if src.RawInput != nil {
		x.RawInput = ptr(*src.RawInput)
	}
	if src.CountryCodeSource != nil {
		x.CountryCodeSource = ptr(*src.CountryCodeSource)
	}
	if src.PreferredDomesticCarrierCode != nil {
		x.PreferredDomesticCarrierCode = ptr(*src.PreferredDomesticCarrierCode)
	}
}

// ptr replaces upstream's proto.String, proto.Int32, proto.Uint64 and proto.Bool.
func ptr[T any](v T) *T { return &v }
