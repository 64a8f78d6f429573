package zxcvbn

// matchList sorts matches by position.
type matchList []Match

func (s matchList) Len() int {
	return len(s)
}

func (s matchList) Swap(i, j int) {
	s[i], s[j] = s[j], s[i]
}

func (s matchList) Less(i, j int) bool {
	if s[i].I < s[j].I {
		return true
	} else if s[i].I == s[j].I {
		return s[i].J < s[j].J
	}
	return false
}

// Match represents different matches
type Match struct {
	Pattern        string
	I, J           int
	Token          string
	DictionaryName string
	Entropy        float64
}

// dateMatch is specifically a match for type date
type dateMatch struct {
	Pattern          string
	I, J             int
	Token            string
	Separator        string
	Day, Month, Year int64
}

// matcher is a func and ID that can be used to match different passwords
type matcher struct {
	MatchingFunc func(password string) []Match
	ID           string
}
