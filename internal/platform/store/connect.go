package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ottr/backend/internal/platform/apperr"
)

// DefaultRoomWait is how long opening a PostgreSQL connection waits for the
// server to have room for it by default.
const DefaultRoomWait = 5 * time.Second

// ErrDatabaseBusy is what a statement fails with when PostgreSQL refused
// the connection it needed for lack of room for longer than the store
// waits: the caller may try again shortly, as after a rate limit. The
// driver's error stays in the chain for the log.
var ErrDatabaseBusy = &apperr.Error{Code: apperr.CodeRateLimited, RetryAfter: time.Second,
	Message: "the server is busy; try again in a moment"}

// roomWaitingConnector opens PostgreSQL connections, and when the server
// refuses one for lack of room (every connection slot taken, or starting
// up), tries again with backoff for up to wait. A burst of work (hundreds
// of subscriptions replaying at once) grows the pool; a server that other
// clients have filled for a moment must not fail those requests.
type roomWaitingConnector struct {
	driver.Connector
	wait   time.Duration
	logger func() *slog.Logger
}

func (c *roomWaitingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	deadline := time.Now().Add(c.wait)
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		conn, err := c.Connector.Connect(ctx)
		if err == nil || !refusedForRoom(err) {
			return conn, err
		}
		pause := backoff/2 + rand.N(backoff/2+1) // apart from the other waiters
		if time.Now().Add(pause).After(deadline) {
			c.logger().WarnContext(ctx, "PostgreSQL refused a connection for lack of room; giving up",
				"attempts", attempt, "waited", c.wait, "err", err)
			return nil, fmt.Errorf("%w: %w", ErrDatabaseBusy, err)
		}
		c.logger().DebugContext(ctx, "PostgreSQL refused a connection for lack of room; trying again",
			"attempt", attempt, "err", err)
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("wait for room on PostgreSQL: %w (last refusal: %w)", ctx.Err(), err)
		case <-timer.C:
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

// refusedForRoom reports whether PostgreSQL refused a connection because
// it has no room for it now, rather than for the credentials or the
// database: too many connections (server, database or role), or the server
// is starting up.
func refusedForRoom(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == pgerrcode.TooManyConnections || pgErr.Code == pgerrcode.CannotConnectNow
}
