package vendorkit

import "errors"

// ErrInvalidTopic is wrapped by the app's validation of
// sources.<vendor>.topic when a topic is not a legal Kafka topic name.
var ErrInvalidTopic = errors.New("invalid kafka topic name")

// ValidTopic applies Kafka's rule: 1..249 characters of [a-zA-Z0-9._-], not
// "." or "..".
func ValidTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
