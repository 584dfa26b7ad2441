package gen

import (
	"strconv"
	"strings"
)

// Contact numbers come from ranges the national regulators reserve for
// fiction ("drama numbers"), so a generated number never rings a real
// phone, yet each is a valid number of its country: a normaliser
// (libphonenumber) accepts it, as it would a real customer's. Each
// country's CRM copy is written the way people type numbers there; the
// telephony vendors see E.164.
//
// The ranges are small (100 to 1000 numbers a block), so a country's
// numbers repeat after size contacts: account contacts take the
// first numbers, leads cycle through the rest. In the default org a
// number comes back after weeks of leads; the lead that learnt it last
// owns it (docs/sources.md, "Synthetic payloads").

// phoneBlock is a run of reserved numbers: national significant number
// prefix, the digits that follow (n), and how the national form groups
// them.
type phoneBlock struct {
	nsn    string // national significant number before the counter, e.g. "2015550" for (201) 555-01xx
	digits int    // digits of the counter
	size   int    // numbers in the block
	first  int    // first counter value
}

type phonePlan struct {
	country string
	cc      string // country calling code
	blocks  []phoneBlock
	size    int
	// mobiles: the country's mobile numbers look like its landlines
	// (NANP), so leads can have a second number from the same blocks.
	// Elsewhere no reserved mobile range is valid for libphonenumber
	// (Ofcom's 07700 900 is not), so contacts there have none.
	mobiles bool
	// national formats an NSN the way the country's CRM users type it.
	national func(nsn string) string
}

// SupportedCountries are the countries whose number plans the generator
// knows (Site.Country).
var SupportedCountries = []string{"US", "GB", "DE"}

// naContactAreaCodes are NANP area codes in service (libphonenumber
// accepts them), without the ones of reps' numbers (naRepAreaCodes); each
// gives 555-0100 to 555-0199, reserved for fiction.
var naContactAreaCodes = [...]string{
	"201", "202", "203", "205", "206", "207", "208", "209", "210", "213", "214", "215", "216", "217", "218", "219",
	"224", "225", "228", "229", "231", "234", "239", "240", "248", "251", "252", "253", "254", "256", "260", "262",
	"267", "269", "270", "276", "281", "301", "302", "303", "304", "305", "307", "308", "309", "310", "313", "314",
	"315", "316", "317", "318", "319", "320", "321", "323", "325", "330", "331", "334", "336", "337", "339", "351",
	"352", "360", "361", "385", "386", "401", "402", "404", "405", "406", "407", "408", "409", "410", "412", "413",
	"414", "417", "419", "423", "424", "425", "430", "432", "434", "435", "440", "442", "443", "469", "470", "475",
	"478", "479", "480", "484", "501", "502", "503", "504", "505", "507", "508", "509", "510", "512", "513", "515",
	"516", "517", "518", "520", "530", "540", "541", "551", "559", "561", "562", "563", "567", "570", "571", "573",
	"574", "575", "580", "585", "586", "601", "602", "603", "605", "606", "607", "608", "609", "610", "612", "614",
	"615", "616", "618", "619", "620", "623", "626", "630", "631", "636", "641", "650", "651", "657", "660", "661",
	"662", "678", "682", "701", "702", "703", "704", "706", "707", "708", "712", "713", "714", "715", "716", "717",
	"719", "720", "724", "727", "731", "732", "734", "737", "740", "754", "757", "760", "763", "765", "770", "772",
	"774", "775", "781", "785", "786", "801", "802", "803", "804", "805", "806", "808", "810", "812", "813", "814",
	"815", "816", "817", "818", "828", "830", "831", "832", "843", "845", "847", "850", "856", "857", "858", "859",
	"860", "862", "863", "864", "865", "870", "901", "903", "904", "906", "907", "908", "909", "910", "912", "913",
	"914", "915", "916", "918", "919", "920", "925", "928", "931", "936", "937", "940", "941", "949", "951", "952",
	"954", "956", "970", "971", "972", "973", "978", "979", "980", "985", "989",
}

var phonePlans = map[string]*phonePlan{
	// NANP: 555-0100 to 555-0199 in every area code; "(201) 555-0123".
	"US": func() *phonePlan {
		p := &phonePlan{country: "US", cc: "1", mobiles: true, national: func(n string) string {
			return "(" + n[:3] + ") " + n[3:6] + "-" + n[6:]
		}}
		for _, a := range naContactAreaCodes {
			p.blocks = append(p.blocks, phoneBlock{nsn: a + "55501", digits: 2, size: 100})
		}
		return p
	}(),
	// Ofcom drama numbers (geographic, 1000 each; 020 7946 0xxx belongs
	// to the reps): "0113 496 0123". libphonenumber rejects 0115 496 and
	// the 07700 900 mobile drama range, so they are left out, and GB
	// contacts have no mobile.
	"GB": {
		country: "GB", cc: "44",
		blocks: []phoneBlock{
			{nsn: "1134960", digits: 3, size: 1000}, {nsn: "1144960", digits: 3, size: 1000},
			{nsn: "1164960", digits: 3, size: 1000},
			{nsn: "1174960", digits: 3, size: 1000}, {nsn: "1184960", digits: 3, size: 1000},
			{nsn: "1214960", digits: 3, size: 1000}, {nsn: "1314960", digits: 3, size: 1000},
			{nsn: "1414960", digits: 3, size: 1000}, {nsn: "1514960", digits: 3, size: 1000},
			{nsn: "1614960", digits: 3, size: 1000}, {nsn: "1914980", digits: 3, size: 1000},
		},
		national: func(n string) string {
			if n[0] == '2' { // 020 xxxx xxxx
				return "0" + n[:2] + " " + n[2:6] + " " + n[6:]
			}
			return "0" + n[:3] + " " + n[3:6] + " " + n[6:] // 0113 496 0123
		},
	},
	// Bundesnetzagentur drama numbers (Amtsblatt 7/2021, Mitteilung
	// 148/2021): 1000 each in Berlin, Frankfurt, Hamburg, Köln, München;
	// DIN 5008 "030 23125123".
	"DE": {
		country: "DE", cc: "49",
		blocks: []phoneBlock{
			{nsn: "3023125", digits: 3, size: 1000}, {nsn: "6990009", digits: 3, size: 1000},
			{nsn: "4066969", digits: 3, size: 1000}, {nsn: "2214710", digits: 3, size: 1000},
			{nsn: "8999998", digits: 3, size: 1000},
		},
		national: func(n string) string {
			if n[0] == '2' { // 0221 4710xxx
				return "0" + n[:3] + " " + n[3:]
			}
			return "0" + n[:2] + " " + n[2:]
		},
	},
}

func init() {
	for _, p := range phonePlans {
		for _, b := range p.blocks {
			p.size += b.size
		}
	}
}

// countryOfZone is the country of a site that names none: the default
// sites' zones, America/* as the US, anything else the US too.
func countryOfZone(tz string) string {
	switch {
	case tz == "Europe/Berlin":
		return "DE"
	case tz == "Europe/London":
		return "GB"
	}
	return "US"
}

// nsn returns the k-th national significant number of blocks (k < the
// blocks' total size).
func nsnOf(blocks []phoneBlock, k int) string {
	for _, b := range blocks {
		if k < b.size {
			s := strconv.Itoa(b.first + k)
			return b.nsn + strings.Repeat("0", b.digits-len(s)) + s
		}
		k -= b.size
	}
	panic("gen: phone index out of range")
}

// number is one number in both forms.
type number struct {
	e164, national string
}

func (p *phonePlan) number(nsn string) number {
	return number{e164: "+" + p.cc + nsn, national: p.national(nsn)}
}

// landline returns the k-th landline of the plan, k counting from reserved
// and cycling through the numbers after the first reserved ones (those are
// the account contacts').
func (p *phonePlan) landline(k, reserved int) number {
	if k >= p.size {
		if free := p.size - reserved; free > 0 {
			k = reserved + (k-reserved)%free
		} else {
			k %= p.size
		}
	}
	return p.number(nsnOf(p.blocks, k))
}

// mobile returns lead num's mobile number, ok false when the country has
// none: half the free range away from the leads' landlines, so a mobile
// meets another lead's landline only as late as landlines meet each
// other.
func (p *phonePlan) mobile(num, reserved int) (number, bool) {
	if !p.mobiles {
		return number{}, false
	}
	free := max(1, p.size-reserved)
	return p.landline(reserved+(num+free/2)%free, reserved), true
}
