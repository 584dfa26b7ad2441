package clickhouse

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// retryableCodes are ClickHouse exception codes after which the same insert,
// sent again with the same insert_deduplication_token, either succeeds later
// or is dropped as a duplicate: the server was overloaded, restarting, lost
// Keeper, or cannot tell whether it committed. Anything else (syntax, type
// mismatch, unknown table, access denied) fails again identically, so it is
// returned to the caller instead of blocking the partition forever.
var retryableCodes = map[int32]bool{
	159: true, // TIMEOUT_EXCEEDED
	173: true, // CANNOT_ALLOCATE_MEMORY
	202: true, // TOO_MANY_SIMULTANEOUS_QUERIES
	203: true, // NO_FREE_CONNECTION
	209: true, // SOCKET_TIMEOUT
	210: true, // NETWORK_ERROR
	241: true, // MEMORY_LIMIT_EXCEEDED
	242: true, // TABLE_IS_READ_ONLY (replica lost Keeper; recovers)
	252: true, // TOO_MANY_PARTS (merges are behind; back off)
	285: true, // TOO_FEW_LIVE_REPLICAS
	319: true, // UNKNOWN_STATUS_OF_INSERT (the dedup token makes a resend safe)
	394: true, // QUERY_WAS_CANCELLED (server shutting down)
	425: true, // SYSTEM_ERROR
	439: true, // CANNOT_SCHEDULE_TASK
	999: true, // KEEPER_EXCEPTION
}

// retryable reports whether an insert that failed with err may succeed if
// sent again unchanged. It is the one place that decides: the write loop,
// the metrics' code label and the tests all go through it.
//
// Context errors are not retryable: they mean the caller gave up.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return retryableCodes[ex.Code]
	}
	var httpErr *clickhouse.HTTPError
	if errors.As(err, &httpErr) {
		// A non-200 answer without a ClickHouse exception body comes from a
		// proxy or load balancer in front of the servers.
		switch httpErr.StatusCode {
		case 429, 502, 503, 504:
			return true
		}
		return false
	}
	return unreachable(err)
}

// unreachable reports whether err says no server answered: refused, reset,
// timed out, cut mid-stream. These also drive salespulse_clickhouse_up.
func unreachable(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, clickhouse.ErrAcquireConnTimeout) {
		return true
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var netErr net.Error
	return errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.As(err, &netErr) && netErr.Timeout()
}

// errCode is the metrics label for err: the ClickHouse exception code when
// the server sent one, else a small client-side class.
func errCode(err error) string {
	var ex *clickhouse.Exception
	var httpErr *clickhouse.HTTPError
	switch {
	case errors.As(err, &ex):
		return strconv.Itoa(int(ex.Code))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "context"
	case errors.As(err, &httpErr):
		return "http_" + strconv.Itoa(httpErr.StatusCode)
	case unreachable(err):
		return "network"
	}
	return "other"
}

// backoff returns the wait before retry number attempt (0-based): full
// jitter over an exponentially growing cap, so instances that failed
// together do not retry together.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for range attempt {
		d *= 2
		if d >= hi || d <= 0 {
			d = hi
			break
		}
	}
	if d <= lo {
		return lo
	}
	return lo + rand.N(d-lo+1)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
