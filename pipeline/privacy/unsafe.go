package privacy

import "unsafe"

// unsafeString views b as a string without copying; the caller must not
// keep the string past b's next modification.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
