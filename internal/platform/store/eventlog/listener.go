package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ListenerOptions configures a Listener. Only the DSN passed to NewListener
// and the notify callback are required.
type ListenerOptions struct {
	// Channel to LISTEN on; empty means ChannelName.
	Channel string
	// OnReconnect runs after the listener has re-established LISTEN
	// following a lost connection (not on the first connect). Notifications
	// sent while disconnected are lost, so the caller catches up from the
	// events table here, from the last ID it saw. Because LISTEN is already
	// active, nothing committed after the catch-up query is missed, but an
	// event may be seen twice: dedupe by ID.
	OnReconnect func(ctx context.Context)
	// MinBackoff and MaxBackoff bound the delay between reconnection
	// attempts; zero means 100ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// HealthCheck is how long the connection may sit idle before it is
	// pinged; zero means 30s. A silently dropped TCP connection would
	// otherwise go unnoticed for as long as the OS keepalive allows.
	HealthCheck time.Duration
	// Logger receives connection losses; nil means slog.Default().
	Logger *slog.Logger
}

// Listener shares events between instances: it holds one dedicated
// connection that LISTENs on a channel and hands each notified event ID to a
// callback, reconnecting with capped, jittered exponential backoff when the
// connection is lost.
//
// The connection must reach PostgreSQL directly (or through a session-mode
// pooler): LISTEN does not work through PgBouncer's transaction pooling.
type Listener struct {
	cfg    *pgx.ConnConfig
	notify func(ctx context.Context, id int64)
	opts   ListenerOptions

	ready     chan struct{}
	readyOnce sync.Once
	pid       atomic.Uint32 // backend PID of the live connection, 0 if none
}

// NewListener parses dsn and returns a Listener that calls notify, from the
// goroutine running Run, for every event ID announced on the channel. notify
// should be quick (load the event, publish it to the Broker): notifications
// queue up behind it.
func NewListener(dsn string, notify func(ctx context.Context, id int64), opts ListenerOptions) (*Listener, error) {
	if notify == nil {
		return nil, errors.New("event listener: notify callback is nil")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("event listener: parse DSN: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if opts.Channel == "" {
		opts.Channel = ChannelName
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.HealthCheck <= 0 {
		opts.HealthCheck = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Listener{cfg: cfg, notify: notify, opts: opts, ready: make(chan struct{})}, nil
}

// BackendPID is the PostgreSQL process ID of the listening connection, 0
// while there is none: what pg_stat_activity shows for it.
func (l *Listener) BackendPID() uint32 { return l.pid.Load() }

// Ready is closed once the first LISTEN has succeeded, so callers (and
// tests) know from when notifications are heard.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Run listens until ctx is cancelled, then returns nil. Connection failures
// are logged and retried, never returned. Call Run once.
func (l *Listener) Run(ctx context.Context) error {
	log := l.opts.Logger.With("channel", l.opts.Channel)
	connected := false // whether LISTEN has ever succeeded
	failures := 0      // consecutive attempts that did not reach LISTEN
	for {
		listened, err := l.listen(ctx, connected)
		if ctx.Err() != nil {
			return nil
		}
		if listened {
			connected, failures = true, 0
		}
		delay := l.backoff(failures)
		failures++
		log.Warn("event listener connection lost or refused; retrying", "err", err, "retry_in", delay)

		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff returns the delay before retry n (0-based): doubling from
// MinBackoff, capped at MaxBackoff, with "equal jitter" (half fixed, half
// random) so instances that lost the database together do not reconnect in
// lockstep.
func (l *Listener) backoff(n int) time.Duration {
	d := l.opts.MinBackoff
	for i := 0; i < n && d < l.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, l.opts.MaxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// listen runs one connection until it fails or ctx ends. It reports whether
// LISTEN succeeded, which resets the backoff.
func (l *Listener) listen(ctx context.Context, reconnect bool) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer l.close(conn)

	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.opts.Channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen on %s: %w", l.opts.Channel, err)
	}
	l.pid.Store(conn.PgConn().PID())
	l.readyOnce.Do(func() { close(l.ready) })
	if reconnect {
		l.opts.Logger.Info("event listener reconnected", "channel", l.opts.Channel)
		if l.opts.OnReconnect != nil {
			l.opts.OnReconnect(ctx)
		}
	}

	for {
		n, err := l.wait(ctx, conn)
		if err != nil {
			return true, err
		}
		id, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			l.opts.Logger.Error("ignoring malformed event notification",
				"channel", n.Channel, "payload", n.Payload, "err", err)
			continue
		}
		l.notify(ctx, id)
	}
}

// pingTimeout is the least time a health-check ping may take before the
// connection counts as dead.
const pingTimeout = 10 * time.Second

// wait returns the next notification, pinging the connection whenever it
// has been idle for HealthCheck to detect a dead peer.
func (l *Listener) wait(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.opts.HealthCheck)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			return n, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("wait for notification: %w", err)
		}
		// Idle timeout: pgx leaves the connection usable after a deadline.
		// The ping gets its own bound, not the idle interval: a short
		// interval must not turn a slow answer into a reconnect, which
		// loses the notifications sent meanwhile.
		pingCtx, cancel := context.WithTimeout(ctx, max(l.opts.HealthCheck, pingTimeout))
		err = conn.Ping(pingCtx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("health check: %w", err)
		}
	}
}

// close shuts the connection and waits, briefly, for pgx's own cleanup of a
// broken connection, so that no goroutine outlives Run.
func (l *Listener) close(conn *pgx.Conn) {
	l.pid.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx) // best effort: the connection is being discarded
	select {
	case <-conn.PgConn().CleanupDone():
	case <-ctx.Done():
	}
}
