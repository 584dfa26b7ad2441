package clickhouse

import (
	"context"
	"errors"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ErrUnavailable wraps a Select that failed because ClickHouse did not
// answer in time: unreachable, overloaded (a retryable exception), or the
// query ran past its max_execution_time (TIMEOUT_EXCEEDED). Readers answer
// "try later", not "broken".
var ErrUnavailable = errors.New("clickhouse unavailable")

// codeTimeoutExceeded is ClickHouse's TIMEOUT_EXCEEDED: max_execution_time.
const codeTimeoutExceeded = 159

// Select runs one read-only query and scans its rows into dest, a pointer
// to a slice of structs whose fields carry `ch:"column"` tags of matching
// types (clickhouse-go's Select). params are bound by the server as query
// parameters ({name:Type} in query, sent apart from the text), so values
// from a request are never parsed as SQL. Callers bound the query
// themselves (LIMIT, SETTINGS max_execution_time).
func (s *Sink) Select(ctx context.Context, dest any, query string, params map[string]string) error {
	if len(params) > 0 {
		ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(params)))
	}
	err := s.conn.Select(ctx, dest, query)
	if err == nil {
		return nil
	}
	var ex *clickhouse.Exception
	if retryable(err) || errors.As(err, &ex) && ex.Code == codeTimeoutExceeded {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
