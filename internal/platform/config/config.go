// Package config reads the server configuration from the environment.
package config

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"gorm.io/gorm"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultAddr is the listen address when OTTR_ADDR is not set.
const DefaultAddr = ":8080"

// Config is the whole server configuration; see the README's table.
type Config struct {
	Addr string
	// MetricsAddr, when set, is the only address that serves /metrics.
	MetricsAddr          string
	DatabaseURL          string
	DataDir              string
	PublicURL            string
	JWTSecret            []byte
	EncryptionKey        string // base64 of 32 bytes
	OldEncryptionKeys    []string
	SlackWebhookPrefixes []string
	// WebhookAllowedPrefixes are URL prefixes that webhook endpoints may
	// use over plain HTTP and on internal addresses (private deployments,
	// tests); every other endpoint must be HTTPS to a public host.
	WebhookAllowedPrefixes []string
	// SlackResponseURLPrefixes are where answers to Slack interactions
	// (their response_url) may be posted; empty: DefaultSlackResponseURLPrefix.
	SlackResponseURLPrefixes []string
	CORSOrigins              []string
	TrustedProxies           []netip.Prefix
	Playground               bool
	Introspection            bool // __schema, __type and GET /schema.graphql; follows Playground by default
	// InsecureSessionCookie leaves Secure off the refresh-token cookie
	// (OTTR_SESSION_COOKIE_SECURE=false), for a dashboard on plain HTTP
	// elsewhere than localhost.
	InsecureSessionCookie bool
	// AccessTokenTTL is how long a user's access token is valid; zero is
	// auth.AccessTokenTTL (15 minutes).
	AccessTokenTTL time.Duration
	LogFormat      string
	// Now is the clock of approval expiry and link nonces; nil is the
	// system clock. Not read from the environment: tests move it.
	Now func() time.Time
	// OnDatabase, when set, sees the database before anything else uses
	// it, e.g. to register GORM callbacks (which must not change while
	// statements run). Not read from the environment: tests count
	// statements with it.
	OnDatabase func(*gorm.DB) error
	// OnDirectStatement, when set, sees every statement the store sends
	// without GORM (store.Store.OnDirectStatement), with its context,
	// which OnDatabase's callbacks cannot see. Not read from the
	// environment: tests count statements with it.
	OnDirectStatement func(ctx context.Context, sql string)
	// HTTP bounds each phase of a connection; zero values mean the
	// defaults (HTTP.WithDefaults).
	HTTP HTTP
	// Live tunes GraphQL subscriptions; its zero values mean the defaults
	// (tests shorten them). Only its limits come from the environment.
	Live Live
	// GCHeapFloor is the least heap goal of the garbage collector, in
	// bytes (internal/platform/gcfloor), from OTTR_GC_HEAP_FLOOR_MB; zero
	// leaves the collector as the Go runtime sets it, as does GOGC in the
	// environment. Only the server's process applies it.
	GCHeapFloor uint64
	// Delivery tunes the Slack dispatcher. It is not read from the
	// environment: zero values mean the production defaults of
	// internal/domain/notify, and tests shorten them.
	Delivery Delivery
}

// Live tunes GraphQL subscriptions and their websockets.
type Live struct {
	// Recheck is how often a live subscription checks that its credentials
	// are still valid (API key not revoked, still a member); 0 means 10s.
	Recheck time.Duration
	// InitTimeout is how long a websocket may stay open without
	// connection_init; 0 means 10s.
	InitTimeout time.Duration
	// KeepAlive is the interval of websocket keep-alives (graphql-ws "ka",
	// graphql-transport-ws ping) and SSE comments; 0 means 15s.
	KeepAlive time.Duration
	// Buffer is how many events a subscriber may fall behind before it is
	// dropped; 0 means 256.
	Buffer int
	// Limits bound the websocket and SSE connections and the subscriptions
	// one credential or one client address may hold open; zero values
	// mean the defaults (LiveLimits.WithDefaults).
	Limits LiveLimits
}

// Defaults of HTTP: a request's headers and body must arrive within
// seconds, so a client that sends them slowly, or not at all, cannot hold
// a connection (and its goroutine and file descriptor) for long.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
)

// HTTP holds the deadlines of the server's connections. Websockets, SSE
// streams and REST long-polls live longer than ReadTimeout and
// WriteTimeout: they take their own deadlines (per write, or the wait's).
type HTTP struct {
	ReadHeaderTimeout time.Duration // OTTR_READ_HEADER_TIMEOUT: from the first byte to the end of the headers
	ReadTimeout       time.Duration // OTTR_READ_TIMEOUT: from the first byte to the end of the body
	WriteTimeout      time.Duration // OTTR_WRITE_TIMEOUT: from the end of the headers to the end of the answer; for streams, each write
	IdleTimeout       time.Duration // OTTR_IDLE_TIMEOUT: a kept-alive connection waiting for its next request
}

// WithDefaults fills in the zero values.
func (h HTTP) WithDefaults() HTTP {
	orDefault(&h.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	orDefault(&h.ReadTimeout, DefaultReadTimeout)
	orDefault(&h.WriteTimeout, DefaultWriteTimeout)
	orDefault(&h.IdleTimeout, DefaultIdleTimeout)
	return h
}

// Defaults of LiveLimits. A dashboard tab holds one connection and a few
// subscriptions, a script one of each; the limits leave room for many of
// them per credential, and more per address, which a NAT or a proxy may
// share between many clients.
const (
	DefaultConnectionsPerPrincipal   = 25
	DefaultSubscriptionsPerPrincipal = 250
	DefaultConnectionsPerAddress     = 100
	DefaultSubscriptionsPerAddress   = 1000
)

// LiveLimits bound what one principal (an API key, or a user whatever
// token they use) and one client address may hold open at once on one
// instance.
type LiveLimits struct {
	ConnectionsPerPrincipal   int // OTTR_LIVE_CONNECTIONS_PER_PRINCIPAL: websocket and SSE connections
	SubscriptionsPerPrincipal int // OTTR_LIVE_SUBSCRIPTIONS_PER_PRINCIPAL
	ConnectionsPerAddress     int // OTTR_LIVE_CONNECTIONS_PER_ADDRESS
	SubscriptionsPerAddress   int // OTTR_LIVE_SUBSCRIPTIONS_PER_ADDRESS
}

// WithDefaults fills in the zero values.
func (l LiveLimits) WithDefaults() LiveLimits {
	orDefault(&l.ConnectionsPerPrincipal, DefaultConnectionsPerPrincipal)
	orDefault(&l.SubscriptionsPerPrincipal, DefaultSubscriptionsPerPrincipal)
	orDefault(&l.ConnectionsPerAddress, DefaultConnectionsPerAddress)
	orDefault(&l.SubscriptionsPerAddress, DefaultSubscriptionsPerAddress)
	return l
}

func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Delivery holds the dispatcher's tuning knobs; every zero value means the
// production default.
type Delivery struct {
	FetchPollInterval    time.Duration // how often idle workers look for due jobs besides being woken
	RescueStuckJobsAfter time.Duration // when a job left running by a dead process is retried; at least the request timeout + 2 s
	RetryBase            time.Duration // first retry delay; later ones grow threefold
	RateLimitWait        time.Duration // wait after a 429 without Retry-After
	RateLimitedFor       time.Duration // a job still refused with 429 this long after it was created fails; 0 is the retry window
	ChannelInterval      time.Duration // at most one message per interval per channel...
	ChannelBurst         int           // ...after a burst of this many
	HTTPTimeout          time.Duration // one webhook request, answer included
	StopTimeout          time.Duration // how long shutdown waits for deliveries in flight
	Resolver             *net.Resolver // DNS for webhook hosts; nil is the system resolver
	// A webhook endpoint is disabled once WebhookFailedDeliveries
	// deliveries in a row have failed and nothing was delivered to it for
	// WebhookFailingFor; 0 means 3 and 24 h.
	WebhookFailedDeliveries int
	WebhookFailingFor       time.Duration
}

// Postgres reports whether the database is PostgreSQL (else embedded SQLite).
func (c Config) Postgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// FromEnv reads the configuration. getenv is os.Getenv outside tests.
// Secrets that are not set are generated into the data directory on SQLite,
// and refused on PostgreSQL: production never runs on generated secrets.
func FromEnv(getenv func(string) string, logger *slog.Logger) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	cfg := Config{
		Addr:                     get("OTTR_ADDR", DefaultAddr),
		MetricsAddr:              get("OTTR_METRICS_ADDR", ""),
		DatabaseURL:              get("OTTR_DATABASE_URL", ""),
		DataDir:                  get("OTTR_DATA_DIR", "./data"),
		PublicURL:                strings.TrimRight(get("OTTR_PUBLIC_URL", "http://localhost:8080"), "/"),
		SlackWebhookPrefixes:     splitList(get("OTTR_SLACK_WEBHOOK_PREFIXES", "https://hooks.slack.com/services/")),
		WebhookAllowedPrefixes:   splitList(get("OTTR_WEBHOOK_ALLOWED_PREFIXES", "")),
		SlackResponseURLPrefixes: splitList(get("OTTR_SLACK_RESPONSE_URL_PREFIXES", DefaultSlackResponseURLPrefix)),
		CORSOrigins:              splitList(get("OTTR_CORS_ORIGINS", "http://localhost:5173,http://localhost:3000")),
		LogFormat:                get("OTTR_LOG_FORMAT", "text"),
		OldEncryptionKeys:        splitList(get("OTTR_OLD_ENCRYPTION_KEYS", "")),
	}
	for _, s := range splitList(get("OTTR_TRUSTED_PROXIES", "")) {
		p, err := parsePrefix(s)
		if err != nil {
			return Config{}, fmt.Errorf("OTTR_TRUSTED_PROXIES: %q is neither an IP address nor a CIDR range", s)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p)
	}
	var err error
	if cfg.Playground, err = boolean("OTTR_PLAYGROUND", get("OTTR_PLAYGROUND", "true")); err != nil {
		return Config{}, err
	}
	// A server may keep its schema public for tools without serving the
	// playground, or the reverse.
	if cfg.Introspection, err = boolean("OTTR_INTROSPECTION", get("OTTR_INTROSPECTION", fmt.Sprint(cfg.Playground))); err != nil {
		return Config{}, err
	}
	secureCookie, err := boolean("OTTR_SESSION_COOKIE_SECURE", get("OTTR_SESSION_COOKIE_SECURE", "true"))
	if err != nil {
		return Config{}, err
	}
	cfg.InsecureSessionCookie = !secureCookie
	if err := readLimits(get, &cfg); err != nil {
		return Config{}, err
	}
	if cfg.GCHeapFloor, err = GCHeapFloor(getenv); err != nil {
		return Config{}, err
	}
	if cfg.AccessTokenTTL != 0 && cfg.AccessTokenTTL < time.Second {
		return Config{}, errors.New("OTTR_ACCESS_TOKEN_TTL must be at least 1s")
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return Config{}, fmt.Errorf("OTTR_LOG_FORMAT must be text or json, not %q", cfg.LogFormat)
	}
	if cfg.DatabaseURL != "" && !cfg.Postgres() {
		return Config{}, errors.New("OTTR_DATABASE_URL must be a postgres:// URL (leave it empty for the embedded SQLite database)")
	}

	jwtSecret := getenv("OTTR_JWT_SECRET")
	encKey := getenv("OTTR_ENCRYPTION_KEY")
	if cfg.Postgres() && (jwtSecret == "" || encKey == "") {
		return Config{}, errors.New("on PostgreSQL, OTTR_JWT_SECRET and OTTR_ENCRYPTION_KEY must be set: production never runs on generated secrets")
	}
	if jwtSecret == "" {
		if jwtSecret, err = devSecret(cfg.DataDir, "jwt-secret", logger); err != nil {
			return Config{}, err
		}
	}
	if encKey == "" {
		if encKey, err = devSecret(cfg.DataDir, "encryption-key", logger); err != nil {
			return Config{}, err
		}
	}
	if len(jwtSecret) < 32 {
		return Config{}, errors.New("OTTR_JWT_SECRET must be at least 32 characters (openssl rand -base64 48)")
	}
	raw, err := base64.StdEncoding.DecodeString(encKey)
	if err != nil || len(raw) != 32 {
		return Config{}, errors.New("OTTR_ENCRYPTION_KEY must be the base64 encoding of 32 bytes (openssl rand -base64 32)")
	}
	for _, s := range []struct{ name, value, fix string }{
		{"OTTR_JWT_SECRET", jwtSecret, "openssl rand -base64 48"},
		{"OTTR_ENCRYPTION_KEY", string(raw), "openssl rand -base64 32"},
		{"the password of OTTR_DATABASE_URL", databasePassword(cfg.DatabaseURL), "a password of its own"},
	} {
		if isPlaceholder(s.value) {
			return Config{}, fmt.Errorf("%s is a placeholder from an example (it holds %q): replace it with a secret of its own (%s)", s.name, placeholderWord, s.fix)
		}
	}
	cfg.JWTSecret = []byte(jwtSecret)
	cfg.EncryptionKey = encKey
	return cfg, nil
}

// placeholderWord marks the example values of docker-compose.yml and the
// docs; a secret holding it was copied, not generated.
const placeholderWord = "change-me"

// isPlaceholder reports whether a secret is an example's placeholder.
func isPlaceholder(secret string) bool {
	return strings.Contains(strings.ToLower(secret), placeholderWord)
}

// databasePassword is the password in a postgres:// URL, or "".
func databasePassword(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// devSecret loads or creates a random secret in the data directory, for
// the zero-set-up SQLite default.
func devSecret(dataDir, name string, logger *slog.Logger) (string, error) {
	path := filepath.Join(dataDir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		// Never overwrite a secret we could not read: tokens and webhook
		// URLs made with it would be lost.
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir %s: %w", dataDir, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate %s: %w", name, err)
	}
	secret := base64.StdEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	logger.Warn("generated a development secret; set it in the environment for production", "secret", name, "file", path)
	return secret, nil
}

// readLimits reads the connection deadlines and live limits; unset ones
// stay zero (the defaults).
func readLimits(get func(name, def string) string, cfg *Config) error {
	for name, d := range map[string]*time.Duration{
		"OTTR_READ_HEADER_TIMEOUT": &cfg.HTTP.ReadHeaderTimeout,
		"OTTR_READ_TIMEOUT":        &cfg.HTTP.ReadTimeout,
		"OTTR_WRITE_TIMEOUT":       &cfg.HTTP.WriteTimeout,
		"OTTR_IDLE_TIMEOUT":        &cfg.HTTP.IdleTimeout,
		"OTTR_ACCESS_TOKEN_TTL":    &cfg.AccessTokenTTL,
	} {
		v := get(name, "")
		if v == "" {
			continue
		}
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed <= 0 {
			return fmt.Errorf("%s must be a positive duration such as 10s, not %q", name, v)
		}
		*d = parsed
	}
	for name, n := range map[string]*int{
		"OTTR_LIVE_CONNECTIONS_PER_PRINCIPAL":   &cfg.Live.Limits.ConnectionsPerPrincipal,
		"OTTR_LIVE_SUBSCRIPTIONS_PER_PRINCIPAL": &cfg.Live.Limits.SubscriptionsPerPrincipal,
		"OTTR_LIVE_CONNECTIONS_PER_ADDRESS":     &cfg.Live.Limits.ConnectionsPerAddress,
		"OTTR_LIVE_SUBSCRIPTIONS_PER_ADDRESS":   &cfg.Live.Limits.SubscriptionsPerAddress,
	} {
		v := get(name, "")
		if v == "" {
			continue
		}
		parsed, err := strconv.Atoi(v)
		if err != nil || parsed <= 0 {
			return fmt.Errorf("%s must be a positive whole number, not %q", name, v)
		}
		*n = parsed
	}
	return nil
}

// DefaultGCHeapFloorMB is the garbage collector's least heap goal, in MiB:
// with it a dashboard page takes about 45 % less of the server's CPU
// (BENCHMARKS.md), for a peak resident size of about 185 MB instead of 55.
const DefaultGCHeapFloorMB = "128"

// GCHeapFloor reads OTTR_GC_HEAP_FLOOR_MB as bytes, as FromEnv does, for a
// process that runs the server without the rest of its configuration (a
// benchmark). GOGC set in the environment is the operator's own tuning of
// the collector, and turns the floor off.
func GCHeapFloor(getenv func(string) string) (uint64, error) {
	mb := strings.TrimSpace(getenv("OTTR_GC_HEAP_FLOOR_MB"))
	if mb == "" {
		mb = DefaultGCHeapFloorMB
	}
	gogc := getenv("GOGC")
	n, err := strconv.ParseUint(mb, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("OTTR_GC_HEAP_FLOOR_MB must be a whole number of MiB (0 turns the floor off), not %q", mb)
	}
	if strings.TrimSpace(gogc) != "" {
		return 0, nil
	}
	return n << 20, nil
}

// boolean reads a true/false setting, accepting the usual spellings.
func boolean(name, value string) (bool, error) {
	switch v := strings.ToLower(value); v {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	default:
		return false, fmt.Errorf("%s must be true or false, not %q", name, v)
	}
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix reads a CIDR range or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// DefaultSlackResponseURLPrefix is where Slack's response_url points.
const DefaultSlackResponseURLPrefix = "https://hooks.slack.com/"
