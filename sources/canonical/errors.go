package canonical

import (
	"strconv"
	"strings"
)

// ArrayError reports the invalid elements of a record holding a JSON array
// of events. The valid elements were decoded; only these were not.
type ArrayError struct {
	Len  int            // elements in the array
	Errs []ElementError // in index order, at least one
}

// ElementError is one invalid array element.
type ElementError struct {
	Index int   // zero-based position in the array
	Err   error // a *schemas.FieldError
}

// Error renders "canonical: 2 of 5 array elements invalid: [1] …; [3] …".
func (e *ArrayError) Error() string {
	var b strings.Builder
	b.WriteString(Source + ": ")
	b.WriteString(strconv.Itoa(len(e.Errs)))
	b.WriteString(" of ")
	b.WriteString(strconv.Itoa(e.Len))
	b.WriteString(" array elements invalid: ")
	for k, el := range e.Errs {
		if k > 0 {
			b.WriteString("; ")
		}
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(el.Index))
		b.WriteString("] ")
		b.WriteString(strings.TrimPrefix(el.Err.Error(), Source+": "))
	}
	return b.String()
}

// Unwrap exposes the element errors, so errors.Is(err, schemas.ErrInvalid)
// holds and errors.As finds the first *schemas.FieldError.
func (e *ArrayError) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for k, el := range e.Errs {
		errs[k] = el.Err
	}
	return errs
}
