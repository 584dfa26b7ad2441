package vendorkit

import (
	"errors"
	"fmt"
)

// ErrInvalidTopic is wrapped by CheckTopic (and the Validate methods that
// call it) when a topic is not a legal Kafka topic name. Vendor packages
// export it under their own name, as the same value, so errors.Is matches
// either.
var ErrInvalidTopic = errors.New("invalid kafka topic name")

// CheckTopic returns nil when topic is a legal Kafka topic name, else an
// error naming the config key ("zoom.topic") and wrapping ErrInvalidTopic.
func CheckTopic(section, topic string) error {
	if !ValidTopic(topic) {
		return fmt.Errorf("%s.topic %q: %w", section, topic, ErrInvalidTopic)
	}
	return nil
}

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
