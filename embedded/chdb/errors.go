package chdb

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// ErrClosed is returned by Engine methods after Close.
var ErrClosed = errors.New("chdb engine closed")

// Exception is a ClickHouse error as chDB reports it. Code and Name are what
// the HTTP interface puts in X-ClickHouse-Exception-Code and maps to a status.
type Exception struct {
	Code    int    // ClickHouse error code, e.g. 62; 1001 (STD_EXCEPTION) when chDB gave none
	Name    string // e.g. "SYNTAX_ERROR"; empty when the text carries none
	Message string // full text, "Code: N. DB::Exception: ..."
}

func (e *Exception) Error() string { return e.Message }

// codeStdException is ClickHouse's STD_EXCEPTION, used for chDB errors whose
// text carries no "Code: N." prefix.
const codeStdException = 1001

var (
	exceptionCodeRe = regexp.MustCompile(`Code:\s*(\d+)\.`)
	exceptionNameRe = regexp.MustCompile(`\(([A-Z][A-Z0-9_]+)\)`)
)

// parseException turns chDB's error text into an *Exception. chDB returns the
// same text a server would ("Code: 62. DB::Exception: ... (SYNTAX_ERROR)
// (version ...)"), sometimes with a prefix, so the code is searched for.
func parseException(msg string) *Exception {
	msg = strings.TrimSpace(msg)
	e := &Exception{Code: codeStdException, Message: msg}
	if m := exceptionCodeRe.FindStringSubmatchIndex(msg); m != nil {
		if c, err := strconv.Atoi(msg[m[2]:m[3]]); err == nil {
			e.Code = c
		}
		e.Message = msg[m[0]:]
	} else {
		e.Message = fmt.Sprintf("Code: %d. DB::Exception: %s", codeStdException, msg)
	}
	if m := exceptionNameRe.FindAllStringSubmatch(e.Message, -1); len(m) > 0 {
		// The name comes first after the message; "(version ...)" never
		// matches the upper-case pattern.
		e.Name = m[0][1]
	}
	return e
}

// httpStatusByName mirrors ClickHouse's src/Server/HTTP/exceptionCodeToHTTPStatus.cpp
// keyed by error name, because names are stable in chDB's text while we would
// otherwise have to hard-code numeric codes.
var httpStatusByName = func() map[string]int {
	m := map[string]int{
		"REQUIRED_PASSWORD":      http.StatusUnauthorized,
		"QUERY_IS_TOO_LARGE":     http.StatusRequestEntityTooLarge,
		"NOT_IMPLEMENTED":        http.StatusNotImplemented,
		"SOCKET_TIMEOUT":         http.StatusServiceUnavailable,
		"CANNOT_OPEN_FILE":       http.StatusServiceUnavailable,
		"CANNOT_SCHEDULE_TASK":   http.StatusServiceUnavailable,
		"HTTP_LENGTH_REQUIRED":   http.StatusLengthRequired,
		"TIMEOUT_EXCEEDED":       http.StatusRequestTimeout,
		"UNSUPPORTED_MEDIA_TYPE": http.StatusUnsupportedMediaType,
	}
	for _, n := range []string{"UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE", "ACCESS_DENIED"} {
		m[n] = http.StatusForbidden
	}
	for _, n := range []string{"BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT", "CANNOT_PARSE_ESCAPE_SEQUENCE",
		"CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER",
		"CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6",
		"CANNOT_PARSE_INPUT_ASSERTION_FAILED", "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN",
		"UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST", "TOO_BIG_AST",
		"UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
		"VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"} {
		m[n] = http.StatusBadRequest
	}
	for _, n := range []string{"UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE",
		"UNKNOWN_STORAGE", "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING",
		"UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY",
		"UNKNOWN_ROLE"} {
		m[n] = http.StatusNotFound
	}
	return m
}()

// httpStatus is the status ClickHouse's HTTP interface would answer with.
func (e *Exception) httpStatus() int {
	if s, ok := httpStatusByName[e.Name]; ok {
		return s
	}
	return http.StatusInternalServerError
}
