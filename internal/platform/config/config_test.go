package config

import (
	"bytes"
	"encoding/base64"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	explicitJWT = strings.Repeat("j", 32)
	explicitKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestDefaultsAreDesignSection4(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := FromEnv(env(map[string]string{"OTTR_DATA_DIR": dir}), discard())
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr:                     ":8080",
		DataDir:                  dir,
		PublicURL:                "http://localhost:8080",
		SlackWebhookPrefixes:     []string{"https://hooks.slack.com/services/"},
		SlackResponseURLPrefixes: []string{"https://hooks.slack.com/"},
		CORSOrigins:              []string{"http://localhost:5173", "http://localhost:3000"},
		Playground:               true,
		Introspection:            true,
		LogFormat:                "text",
		GCHeapFloor:              128 << 20,
		JWTSecret:                cfg.JWTSecret,
		EncryptionKey:            cfg.EncryptionKey,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
	if cfg.Postgres() {
		t.Fatal("the default database is not SQLite")
	}
}

func TestDataDirDefaultsToDotData(t *testing.T) {
	// Not parallel: it changes the working directory.
	t.Chdir(t.TempDir())
	cfg, err := FromEnv(env(nil), discard())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "./data" {
		t.Fatalf("DataDir = %q, want ./data", cfg.DataDir)
	}
	if _, err := os.Stat(filepath.Join("data", "jwt-secret")); err != nil {
		t.Fatalf("the generated secret is not in ./data: %v", err)
	}
}

func TestEverySettingIsRead(t *testing.T) {
	t.Parallel()
	cfg, err := FromEnv(env(map[string]string{
		"OTTR_ADDR":                        "127.0.0.1:9000",
		"OTTR_METRICS_ADDR":                "127.0.0.1:9090",
		"OTTR_DATABASE_URL":                "postgres://ottr:pw@db:5432/ottr?sslmode=disable",
		"OTTR_DATA_DIR":                    "/var/lib/ottr",
		"OTTR_PUBLIC_URL":                  "https://ottr.example.com/",
		"OTTR_JWT_SECRET":                  explicitJWT,
		"OTTR_ENCRYPTION_KEY":              explicitKey,
		"OTTR_OLD_ENCRYPTION_KEYS":         "a, b",
		"OTTR_SLACK_RESPONSE_URL_PREFIXES": "https://hooks.slack.com/, http://127.0.0.1:1234/actions/",
		"OTTR_SLACK_WEBHOOK_PREFIXES":      "https://hooks.slack.com/services/, http://127.0.0.1:1234/",
		"OTTR_CORS_ORIGINS":                "https://dash.example.com",
		"OTTR_TRUSTED_PROXIES":             "10.0.0.0/8, 192.0.2.7, fd00::/8",
		"OTTR_PLAYGROUND":                  "false",
		"OTTR_INTROSPECTION":               "true",
		"OTTR_LOG_FORMAT":                  "json",
		"OTTR_ACCESS_TOKEN_TTL":            "5m",
		"OTTR_SESSION_COOKIE_SECURE":       "false",
		"OTTR_GC_HEAP_FLOOR_MB":            "64",
	}), discard())
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr:                     "127.0.0.1:9000",
		MetricsAddr:              "127.0.0.1:9090",
		DatabaseURL:              "postgres://ottr:pw@db:5432/ottr?sslmode=disable",
		DataDir:                  "/var/lib/ottr",
		PublicURL:                "https://ottr.example.com",
		JWTSecret:                []byte(explicitJWT),
		EncryptionKey:            explicitKey,
		OldEncryptionKeys:        []string{"a", "b"},
		SlackWebhookPrefixes:     []string{"https://hooks.slack.com/services/", "http://127.0.0.1:1234/"},
		SlackResponseURLPrefixes: []string{"https://hooks.slack.com/", "http://127.0.0.1:1234/actions/"},
		CORSOrigins:              []string{"https://dash.example.com"},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("fd00::/8")},
		Playground:            false,
		Introspection:         true,
		LogFormat:             "json",
		AccessTokenTTL:        5 * time.Minute,
		InsecureSessionCookie: true,
		GCHeapFloor:           64 << 20,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("\n got %+v\nwant %+v", cfg, want)
	}
	if !cfg.Postgres() {
		t.Fatal("a postgres:// URL is not PostgreSQL")
	}
}

func TestPostgresRefusesGeneratedSecrets(t *testing.T) {
	t.Parallel()
	for name, vars := range map[string]map[string]string{
		"no secrets":           {},
		"no JWT secret":        {"OTTR_ENCRYPTION_KEY": explicitKey},
		"no encryption key":    {"OTTR_JWT_SECRET": explicitJWT},
		"postgresql:// scheme": {"OTTR_DATABASE_URL": "postgresql://db/ottr"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			vars["OTTR_DATA_DIR"] = dir
			if vars["OTTR_DATABASE_URL"] == "" {
				vars["OTTR_DATABASE_URL"] = "postgres://db/ottr"
			}
			_, err := FromEnv(env(vars), discard())
			if err == nil || !strings.Contains(err.Error(), "OTTR_JWT_SECRET and OTTR_ENCRYPTION_KEY must be set") {
				t.Fatalf("err = %v, want a refusal naming both variables", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("secrets were generated for PostgreSQL: %v", entries)
			}
		})
	}
}

func TestDevSecretsAreGeneratedOnceAndKeptPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	first, err := FromEnv(env(map[string]string{"OTTR_DATA_DIR": dir}), logger)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"jwt-secret", "encryption-key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s not written: %v", name, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if raw, err := base64.StdEncoding.DecodeString(first.EncryptionKey); err != nil || len(raw) != 32 {
		t.Errorf("generated encryption key is not base64 of 32 bytes: %q", first.EncryptionKey)
	}
	if n := strings.Count(logs.String(), "generated a development secret"); n != 2 {
		t.Errorf("%d warnings about generated secrets, want 2:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), string(first.JWTSecret)) || strings.Contains(logs.String(), first.EncryptionKey) {
		t.Error("a generated secret was logged")
	}

	logs.Reset()
	second, err := FromEnv(env(map[string]string{"OTTR_DATA_DIR": dir}), logger)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.JWTSecret, second.JWTSecret) || first.EncryptionKey != second.EncryptionKey {
		t.Error("a restart generated new secrets: every session and stored webhook URL would be lost")
	}
	if logs.Len() != 0 {
		t.Errorf("reusing secrets logged: %s", logs.String())
	}
}

func TestExplicitSecretsWinOverGeneratedOnes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := FromEnv(env(map[string]string{"OTTR_DATA_DIR": dir, "OTTR_JWT_SECRET": explicitJWT, "OTTR_ENCRYPTION_KEY": explicitKey}), discard())
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.JWTSecret) != explicitJWT || cfg.EncryptionKey != explicitKey {
		t.Fatal("explicit secrets not used")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("secrets generated although both were set: %v", entries)
	}
}

func TestUnreadableSecretIsNotReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A directory where the secret file should be: reading fails with
	// something other than "does not exist".
	if err := os.Mkdir(filepath.Join(dir, "jwt-secret"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := FromEnv(env(map[string]string{"OTTR_DATA_DIR": dir}), discard())
	if err == nil || !strings.HasPrefix(err.Error(), "read ") {
		t.Fatalf("err = %v, want the read failure (no attempt to write a new secret)", err)
	}
}

func TestBadValuesAreRejected(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		vars    map[string]string
		message string
	}{
		"playground":        {map[string]string{"OTTR_PLAYGROUND": "maybe"}, "OTTR_PLAYGROUND"},
		"log format":        {map[string]string{"OTTR_LOG_FORMAT": "xml"}, "OTTR_LOG_FORMAT"},
		"trusted proxies":   {map[string]string{"OTTR_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"}, "OTTR_TRUSTED_PROXIES"},
		"database URL":      {map[string]string{"OTTR_DATABASE_URL": "mysql://db/ottr"}, "OTTR_DATABASE_URL"},
		"heap floor":        {map[string]string{"OTTR_GC_HEAP_FLOOR_MB": "128MB"}, "OTTR_GC_HEAP_FLOOR_MB"},
		"negative floor":    {map[string]string{"OTTR_GC_HEAP_FLOOR_MB": "-1"}, "OTTR_GC_HEAP_FLOOR_MB"},
		"short JWT secret":  {map[string]string{"OTTR_JWT_SECRET": "short", "OTTR_ENCRYPTION_KEY": explicitKey}, "OTTR_JWT_SECRET"},
		"encryption key":    {map[string]string{"OTTR_JWT_SECRET": explicitJWT, "OTTR_ENCRYPTION_KEY": "not base64!"}, "OTTR_ENCRYPTION_KEY"},
		"key of 16 bytes":   {map[string]string{"OTTR_JWT_SECRET": explicitJWT, "OTTR_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 16))}, "OTTR_ENCRYPTION_KEY"},
		"postgres bad keys": {map[string]string{"OTTR_DATABASE_URL": "postgres://db/ottr", "OTTR_JWT_SECRET": explicitJWT, "OTTR_ENCRYPTION_KEY": "x"}, "OTTR_ENCRYPTION_KEY"},
		// The placeholders of docker-compose.yml start nothing.
		"compose JWT secret": {map[string]string{"OTTR_JWT_SECRET": "change-me-jwt-secret-at-least-32-characters", "OTTR_ENCRYPTION_KEY": explicitKey}, "OTTR_JWT_SECRET is a placeholder"},
		"compose encryption key": {map[string]string{"OTTR_JWT_SECRET": explicitJWT,
			"OTTR_ENCRYPTION_KEY": "Y2hhbmdlLW1lLWNoYW5nZS1tZS1jaGFuZ2UtbWUtMzI="}, "OTTR_ENCRYPTION_KEY is a placeholder"},
		"compose database password": {map[string]string{"OTTR_DATABASE_URL": "postgres://postgres:change-me-db-password@postgres:5432/ottr",
			"OTTR_JWT_SECRET": explicitJWT, "OTTR_ENCRYPTION_KEY": explicitKey}, "the password of OTTR_DATABASE_URL is a placeholder"},
		"upper-case placeholder": {map[string]string{"OTTR_JWT_SECRET": "CHANGE-ME-" + explicitJWT, "OTTR_ENCRYPTION_KEY": explicitKey}, "OTTR_JWT_SECRET is a placeholder"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc.vars["OTTR_DATA_DIR"] = t.TempDir()
			_, err := FromEnv(env(tc.vars), discard())
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("err = %v, want one naming %s", err, tc.message)
			}
		})
	}
}

// The heap floor is off at 0, and whenever GOGC, the runtime's own setting
// of the collector, is in the environment.
func TestGCHeapFloorGivesWayToGOGC(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		vars map[string]string
		want uint64
	}{
		"default":         {map[string]string{}, 128 << 20},
		"off":             {map[string]string{"OTTR_GC_HEAP_FLOOR_MB": "0"}, 0},
		"GOGC set":        {map[string]string{"GOGC": "200"}, 0},
		"GOGC off":        {map[string]string{"GOGC": "off", "OTTR_GC_HEAP_FLOOR_MB": "256"}, 0},
		"a floor of 1GiB": {map[string]string{"OTTR_GC_HEAP_FLOOR_MB": "1024"}, 1 << 30},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc.vars["OTTR_DATA_DIR"] = t.TempDir()
			cfg, err := FromEnv(env(tc.vars), discard())
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GCHeapFloor != tc.want {
				t.Fatalf("GCHeapFloor = %d, want %d", cfg.GCHeapFloor, tc.want)
			}
			// A process without the rest of the configuration reads the same.
			if floor, err := GCHeapFloor(env(tc.vars)); err != nil || floor != tc.want {
				t.Fatalf("GCHeapFloor(env) = %d, %v, want %d", floor, err, tc.want)
			}
		})
	}
}

func TestPlaygroundAcceptsUsualBooleans(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]bool{"true": true, "TRUE": true, "1": true, "yes": true, "false": false, "0": false, "no": false} {
		cfg, err := FromEnv(env(map[string]string{"OTTR_PLAYGROUND": value, "OTTR_DATA_DIR": t.TempDir()}), discard())
		if err != nil {
			t.Fatalf("%s: %v", value, err)
		}
		if cfg.Playground != want {
			t.Errorf("OTTR_PLAYGROUND=%s gives %v", value, cfg.Playground)
		}
	}
}

func TestIntrospectionFollowsThePlaygroundUnlessSet(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		playground, introspection string
		wantPlayground, want      bool
	}{
		{"", "", true, true},
		{"false", "", false, false},
		{"true", "no", true, false},
		{"0", "yes", false, true},
	} {
		cfg, err := FromEnv(env(map[string]string{"OTTR_PLAYGROUND": c.playground, "OTTR_INTROSPECTION": c.introspection, "OTTR_DATA_DIR": t.TempDir()}), discard())
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if cfg.Playground != c.wantPlayground || cfg.Introspection != c.want {
			t.Errorf("OTTR_PLAYGROUND=%q OTTR_INTROSPECTION=%q gives playground %v, introspection %v", c.playground, c.introspection, cfg.Playground, cfg.Introspection)
		}
	}
	if _, err := FromEnv(env(map[string]string{"OTTR_INTROSPECTION": "maybe", "OTTR_DATA_DIR": t.TempDir()}), discard()); err == nil || !strings.Contains(err.Error(), "OTTR_INTROSPECTION must be true or false") {
		t.Fatalf("OTTR_INTROSPECTION=maybe: %v", err)
	}
}

func TestConnectionDeadlinesAndLiveLimits(t *testing.T) {
	t.Parallel()
	cfg, err := FromEnv(env(map[string]string{
		"OTTR_DATA_DIR":                         t.TempDir(),
		"OTTR_READ_HEADER_TIMEOUT":              "2s",
		"OTTR_READ_TIMEOUT":                     "7s",
		"OTTR_WRITE_TIMEOUT":                    "1m",
		"OTTR_IDLE_TIMEOUT":                     "90s",
		"OTTR_LIVE_CONNECTIONS_PER_PRINCIPAL":   "3",
		"OTTR_LIVE_SUBSCRIPTIONS_PER_PRINCIPAL": "30",
		"OTTR_LIVE_CONNECTIONS_PER_ADDRESS":     "5",
		"OTTR_LIVE_SUBSCRIPTIONS_PER_ADDRESS":   "50",
	}), discard())
	if err != nil {
		t.Fatal(err)
	}
	if want := (HTTP{ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 7 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 90 * time.Second}); cfg.HTTP != want {
		t.Fatalf("HTTP %+v, want %+v", cfg.HTTP, want)
	}
	if want := (LiveLimits{ConnectionsPerPrincipal: 3, SubscriptionsPerPrincipal: 30, ConnectionsPerAddress: 5, SubscriptionsPerAddress: 50}); cfg.Live.Limits != want {
		t.Fatalf("limits %+v, want %+v", cfg.Live.Limits, want)
	}
	// Unset, they are the defaults.
	if want := (HTTP{ReadHeaderTimeout: DefaultReadHeaderTimeout, ReadTimeout: DefaultReadTimeout, WriteTimeout: DefaultWriteTimeout,
		IdleTimeout: DefaultIdleTimeout}); (HTTP{}).WithDefaults() != want {
		t.Fatalf("default HTTP %+v, want %+v", (HTTP{}).WithDefaults(), want)
	}
	if want := (LiveLimits{ConnectionsPerPrincipal: 25, SubscriptionsPerPrincipal: 250, ConnectionsPerAddress: 100, SubscriptionsPerAddress: 1000}); (LiveLimits{}).WithDefaults() != want {
		t.Fatalf("default limits %+v, want %+v", (LiveLimits{}).WithDefaults(), want)
	}
}

func TestBadDeadlinesAndLimitsAreRefused(t *testing.T) {
	t.Parallel()
	for name, value := range map[string]string{
		"OTTR_READ_TIMEOUT":                   "10",
		"OTTR_WRITE_TIMEOUT":                  "-1s",
		"OTTR_IDLE_TIMEOUT":                   "0s",
		"OTTR_READ_HEADER_TIMEOUT":            "soon",
		"OTTR_LIVE_CONNECTIONS_PER_PRINCIPAL": "0",
		"OTTR_LIVE_SUBSCRIPTIONS_PER_ADDRESS": "1.5",
		"OTTR_LIVE_CONNECTIONS_PER_ADDRESS":   "-3",
	} {
		_, err := FromEnv(env(map[string]string{"OTTR_DATA_DIR": t.TempDir(), name: value}), discard())
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v, want an error naming the variable", name, value, err)
		}
	}
}
