package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The example deployment is safe to start: no secret ships in it, metrics
// stay off the public port, a stop waits for the server's drain, and its
// PostgreSQL does not take a local one's port.
func TestComposeFileIsProductionSafe(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(raw)
	if strings.Contains(strings.ToLower(compose), "change-me") {
		t.Error("docker-compose.yml holds a placeholder secret")
	}
	for _, secret := range []string{"POSTGRES_PASSWORD", "OTTR_JWT_SECRET", "OTTR_ENCRYPTION_KEY"} {
		if !strings.Contains(compose, "${"+secret+":?") {
			t.Errorf("docker-compose.yml does not require %s from the environment", secret)
		}
	}
	if !regexp.MustCompile(`(?m)^\s+OTTR_METRICS_ADDR: `).MatchString(compose) {
		t.Error("docker-compose.yml serves /metrics on the public port (no OTTR_METRICS_ADDR)")
	}
	m := regexp.MustCompile(`(?m)^\s+stop_grace_period: (\S+)`).FindStringSubmatch(compose)
	if m == nil {
		t.Fatal("docker-compose.yml sets no stop_grace_period: docker stops after 10 s")
	}
	if grace, err := time.ParseDuration(m[1]); err != nil || grace <= shutdownGrace {
		t.Errorf("stop_grace_period %s is not above the server's drain of %s", m[1], shutdownGrace)
	}
	for _, port := range regexp.MustCompile(`(?m)^\s+- "([^"]+)"`).FindAllStringSubmatch(compose, -1) {
		if parts := strings.Split(port[1], ":"); len(parts) >= 2 && parts[len(parts)-2] == "5432" {
			t.Errorf("docker-compose.yml publishes PostgreSQL on the host's 5432 (%s), where a local one listens", port[1])
		}
	}
}
