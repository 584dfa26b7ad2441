package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

func TestRetryable(t *testing.T) {
	// Real error values: a refused dial, a read past its deadline.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := net.Dial("tcp", addr)
	if refused == nil {
		t.Fatal("dial a closed port: no error")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	a.SetReadDeadline(time.Now().Add(-time.Second))
	_, timeout := a.Read(make([]byte, 1))

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	for name, tc := range map[string]struct {
		err  error
		want bool
		code string
	}{
		"too many parts is retried":                  {&clickhouse.Exception{Code: 252}, true, "252"},
		"too many parts wrapped by the sink":         {fmt.Errorf("send: %w", &clickhouse.Exception{Code: 252, Message: "Too many parts"}), true, "252"},
		"too many simultaneous queries is retried":   {&clickhouse.Exception{Code: 202}, true, "202"},
		"timeout exceeded is retried":                {&clickhouse.Exception{Code: 159}, true, "159"},
		"socket timeout is retried":                  {&clickhouse.Exception{Code: 209}, true, "209"},
		"network error is retried":                   {&clickhouse.Exception{Code: 210}, true, "210"},
		"memory limit over HTTP is retried":          {&clickhouse.HTTPError{StatusCode: 500, Err: &clickhouse.Exception{Code: 241}}, true, "241"},
		"read-only replica is retried":               {&clickhouse.Exception{Code: 242}, true, "242"},
		"keeper exception is retried":                {&clickhouse.Exception{Code: 999}, true, "999"},
		"system error is retried":                    {&clickhouse.Exception{Code: 425}, true, "425"},
		"unknown status of insert is retried":        {&clickhouse.Exception{Code: 319}, true, "319"},
		"type mismatch is returned":                  {&clickhouse.Exception{Code: 53}, false, "53"},
		"unknown table over HTTP is returned":        {&clickhouse.HTTPError{StatusCode: 404, Err: &clickhouse.Exception{Code: 60}}, false, "60"},
		"syntax error is returned":                   {&clickhouse.Exception{Code: 62}, false, "62"},
		"a proxy's 503 without exception is retried": {&clickhouse.HTTPError{StatusCode: 503, Err: errors.New("response body: \"upstream down\"")}, true, "http_503"},
		"a proxy's 400 is returned":                  {&clickhouse.HTTPError{StatusCode: 400, Err: errors.New("bad")}, false, "http_400"},
		"connection refused is retried":              {fmt.Errorf("prepare: %w", refused), true, "network"},
		"read timeout is retried":                    {timeout, true, "network"},
		"EOF is retried":                             {io.EOF, true, "network"},
		"unexpected EOF is retried":                  {fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true, "network"},
		"connection pool timeout is retried":         {clickhouse.ErrAcquireConnTimeout, true, "network"},
		"a column conversion error is returned":      {&column.ColumnConverterError{Op: "Append", To: "UInt8", From: "string"}, false, "other"},
		"an aggregate without a layout is returned":  {ErrUnknownAggregate, false, "other"},
		"a cancelled context is returned":            {cancelled.Err(), false, "context"},
		"a deadline is returned":                     {fmt.Errorf("send: %w", context.DeadlineExceeded), false, "context"},
		"nil is not retried":                         {nil, false, "other"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := retryable(tc.err); got != tc.want {
				t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
			if tc.err != nil {
				if got := errCode(tc.err); got != tc.code {
					t.Errorf("errCode(%v) = %q, want %q", tc.err, got, tc.code)
				}
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for attempt := range 40 {
		ceil := lo << min(attempt, 20)
		if ceil > hi {
			ceil = hi
		}
		for range 50 {
			d := backoff(attempt, lo, hi)
			if d < lo || d > ceil {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, lo, ceil)
			}
		}
	}
	if d := backoff(0, lo, lo); d != lo {
		t.Fatalf("min == max: %v", d)
	}
}
