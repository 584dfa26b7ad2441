package chdb

import (
	"strings"
)

// token is one lexical unit of the statement head; only what the HTTP
// layer needs to find INSERT and FORMAT is distinguished.
type token struct {
	text       string
	start, end int // byte offsets in the statement
	word       bool
	depth      int // parenthesis depth at the token
}

// lexHead tokenises sql, skipping comments and quoted literals, and stops
// after stop returns true for a token, so binary insert data following
// "FORMAT Native" is never scanned.
func lexHead(sql string, stop func(toks []token) bool) []token {
	var toks []token
	depth := 0
	i := 0
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-', c == '#':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return toks
			}
			i += j + 4
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < len(sql) && sql[j] != c {
				if sql[j] == '\\' {
					j++
				}
				j++
			}
			toks = append(toks, token{text: sql[i:min(j+1, len(sql))], start: i, end: min(j+1, len(sql)), depth: depth})
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			toks = append(toks, token{text: sql[i:j], start: i, end: j, word: true, depth: depth})
			i = j
		default:
			if c == '(' || c == '[' {
				depth++
			} else if (c == ')' || c == ']') && depth > 0 {
				depth--
			}
			toks = append(toks, token{text: sql[i : i+1], start: i, end: i + 1, depth: depth})
			i++
		}
		if len(toks) > 0 && stop(toks) {
			return toks
		}
	}
	return toks
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// insertSplit describes an "INSERT ... FORMAT name <data>" statement.
type insertSplit struct {
	head   string // statement up to, not including, the FORMAT keyword
	format string
	data   string // inline data following the format name
}

// splitInsert finds "FORMAT name" at top level in an INSERT statement and
// splits off the data after it, skipping spaces and at most one newline as
// ClickHouse does. ok is false for anything else (SELECT, INSERT ... VALUES,
// INSERT ... SELECT), which then runs as text unchanged.
func splitInsert(sql string) (s insertSplit, ok bool) {
	toks := lexHead(sql, func(t []token) bool {
		if len(t) == 1 && !(t[0].word && strings.EqualFold(t[0].text, "INSERT")) {
			return true
		}
		n := len(t)
		if n >= 1 && t[n-1].depth == 0 && t[n-1].word &&
			(strings.EqualFold(t[n-1].text, "SELECT") || strings.EqualFold(t[n-1].text, "VALUES") || strings.EqualFold(t[n-1].text, "WITH")) {
			return true
		}
		return n >= 2 && t[n-2].word && t[n-2].depth == 0 && strings.EqualFold(t[n-2].text, "FORMAT") && t[n-1].word
	})
	n := len(toks)
	if n < 3 || !strings.EqualFold(toks[0].text, "INSERT") || !strings.EqualFold(toks[n-2].text, "FORMAT") {
		return s, false
	}
	i := toks[n-1].end
	for i < len(sql) && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\f') {
		i++
	}
	if i < len(sql) && sql[i] == '\r' {
		i++
	}
	if i < len(sql) && sql[i] == '\n' {
		i++
	}
	return insertSplit{head: sql[:toks[n-2].start], format: toks[n-1].text, data: sql[i:]}, true
}

// outputFormat returns the name in the statement's top-level FORMAT clause,
// or "" if it has none. isFormat rejects words that follow a column named
// "format" rather than the FORMAT keyword.
func outputFormat(sql string, isFormat func(string) bool) string {
	toks := lexHead(sql, func([]token) bool { return false })
	f := ""
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].word && toks[i].depth == 0 && strings.EqualFold(toks[i].text, "FORMAT") && toks[i+1].word && isFormat(toks[i+1].text) {
			f = toks[i+1].text
		}
	}
	return f
}

// isInsert reports whether the statement starts with INSERT.
func isInsert(sql string) bool {
	toks := lexHead(sql, func(t []token) bool { return len(t) >= 1 })
	return len(toks) == 1 && strings.EqualFold(toks[0].text, "INSERT")
}
