package notify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/slack/slacktest"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// serverBinary builds the server once for the tests that run it as a
// child process.
func serverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ottr-notify-server-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "ottr")
		if out, err := exec.Command("go", "build", "-o", binary, "github.com/ottr/backend/cmd/ottr").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build the server: %v", buildErr)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		_ = os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// process is the server running as a child process, with the production
// delivery settings.
type process struct {
	t      *testing.T
	url    string
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

// startProcess runs the server on env's database and waits until it is
// ready.
func startProcess(t *testing.T, env []string, name string) *process {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &process{t: t, url: "http://" + addr, exited: make(chan struct{}), log: filepath.Join(t.TempDir(), name+".log")}
	out, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p.cmd = exec.Command(serverBinary(t))
	p.cmd.Env = append(env, "OTTR_ADDR="+addr, "OTTR_PUBLIC_URL="+p.url)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// Gone with the test binary, whatever ends it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the server: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill(syscall.SIGTERM) })
	deadline := time.Now().Add(time.Minute)
	for {
		if resp, err := http.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("the server exited before it was ready:\n%s", p.logs())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server was not ready after a minute:\n%s", p.logs())
		}
	}
}

// kill sends sig and waits for the process to end.
func (p *process) kill(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *process) logs() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// gql runs a GraphQL operation that must succeed and decodes its data.
func (p *process) gql(token, query string, vars map[string]any, out any) {
	p.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, p.url+"/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("POST /query: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Data   json.RawMessage
		Errors []any
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) > 0 {
		p.t.Fatalf("%s: %v %s", query, err, raw)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			p.t.Fatalf("decode %s: %v", r.Data, err)
		}
	}
}

// unknownCounted reads ottr_slack_deliveries_total{outcome="unknown"}.
func (p *process) unknownCounted() int {
	p.t.Helper()
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		p.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^ottr_slack_deliveries_total\{outcome="unknown"\} (\d+)$`).FindSubmatch(raw)
	if m == nil {
		p.t.Fatalf("no unknown outcomes in /metrics")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// The server killed with SIGKILL while it posts to Slack, then started
// again with the production settings: every delivery arrives within 30 s
// of the restart; only those in flight at the kill arrive twice, and those
// count an attempt of unknown outcome.
func TestKilledServerResumesDeliveriesWithinSeconds(t *testing.T) {
	t.Parallel()
	serverBinary(t)
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		fake := slacktest.NewServer()
		t.Cleanup(fake.Close)
		// Answers take a while, so that several requests are in flight
		// at any moment.
		fake.Respond(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(150 * time.Millisecond):
				slacktest.OK()(w, r)
			}
		})
		cfg := testserver.Config(t, d)
		env := []string{"OTTR_DATA_DIR=" + cfg.DataDir, "OTTR_JWT_SECRET=" + string(cfg.JWTSecret),
			"OTTR_ENCRYPTION_KEY=" + cfg.EncryptionKey, "OTTR_SLACK_WEBHOOK_PREFIXES=" + fake.Prefix(),
			"OTTR_LOG_FORMAT=text", "OTTR_PLAYGROUND=false"}
		if cfg.DatabaseURL != "" {
			env = append(env, "OTTR_DATABASE_URL="+cfg.DatabaseURL)
		}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "OTTR_") {
				env = append(env, kv)
			}
		}

		first := startProcess(t, env, "first")
		var signUp struct{ SignUp struct{ AccessToken string } }
		first.gql("", `mutation { signUp(input: {email: "owner@example.com", password: "correct horse battery", name: "Owner"}) { accessToken } }`, nil, &signUp)
		token := signUp.SignUp.AccessToken
		var proj struct{ CreateProject struct{ ID string } }
		first.gql(token, `mutation { createProject(input: {name: "Crash"}) { id } }`, nil, &proj)
		pid := proj.CreateProject.ID

		// Channels of their own keep each under Slack's one message a
		// second; the first one's first request hangs until the kill.
		const channels, events = 6, 5
		var urls []string
		for i := range channels {
			url := fake.WebhookURL("T0001", fmt.Sprintf("B%d", i), fmt.Sprintf("S3cr3tKill%dXyz", i))
			urls = append(urls, url)
			first.gql(token, `mutation($p: ID!, $i: AddSlackChannelInput!) { addSlackChannel(projectId: $p, input: $i) { id } }`,
				map[string]any{"p": pid, "i": map[string]any{"name": fmt.Sprint("c", i), "webhookUrl": url, "events": []string{"APPROVAL_CREATED"}}}, nil)
		}
		fake.RespondTo(urls[0], slacktest.Hang(), slacktest.OK())
		for i := range events {
			first.gql(token, `mutation($p: ID!, $i: CreateApprovalInput!) { createApproval(projectId: $p, input: $i) { token } }`,
				map[string]any{"p": pid, "i": map[string]any{"keyPath": fmt.Sprint("key-", i), "value": "x"}}, nil)
		}
		if _, err := fake.Wait(channels*2, 20*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, first.logs())
		}
		first.kill(syscall.SIGKILL)
		atKill := len(fake.Requests())

		second := startProcess(t, env, "second")
		restarted := time.Now()
		type del struct {
			Status                 string
			Attempts               int
			UnknownOutcomeAttempts int
			Event                  struct{ KeyPath string }
		}
		var list struct {
			Project struct {
				SlackChannels []struct {
					Name       string
					Deliveries struct{ Edges []struct{ Node del } }
				}
			}
		}
		var deliveries map[string]del // by channel name and key
		eventually(t, 40*time.Second, func() bool {
			second.gql(token, `query($p: ID!) { project(id: $p) { slackChannels { name deliveries(first: 100) { edges { node { status attempts unknownOutcomeAttempts event { keyPath } } } } } } }`,
				map[string]any{"p": pid}, &list)
			deliveries = map[string]del{}
			for _, c := range list.Project.SlackChannels {
				for _, e := range c.Deliveries.Edges {
					if e.Node.Status != "DELIVERED" {
						return false
					}
					deliveries[c.Name+" "+e.Node.Event.KeyPath] = e.Node
				}
			}
			return len(deliveries) == channels*events
		}, func() string { return fmt.Sprintf("deliveries %+v\n%s", list, second.logs()) })

		var last time.Time
		received := map[string]int{}
		keyOf := regexp.MustCompile(`Key: (key-\d+)`)
		var hung string
		for i, url := range urls {
			for j, r := range fake.RequestsTo(url) {
				if r.At.After(last) {
					last = r.At
				}
				m := keyOf.FindStringSubmatch(r.Text())
				if m == nil {
					t.Fatalf("no key in %q", r.Text())
				}
				name := fmt.Sprint("c", i, " ", m[1])
				received[name]++
				if i == 0 && j == 0 {
					hung = name
				}
			}
		}
		if took := last.Sub(restarted); took > 30*time.Second {
			t.Errorf("the last delivery arrived %s after the restart, want at most 30 s", took)
		}
		t.Logf("%d of %d requests before the kill; all arrived %s after the restart", atKill, len(fake.Requests()), last.Sub(restarted).Round(time.Millisecond))
		var unknown int
		for name, del := range deliveries {
			n := received[name]
			unknown += del.UnknownOutcomeAttempts
			switch {
			case n == 0:
				t.Errorf("%s: lost", name)
			case n > 1+del.UnknownOutcomeAttempts:
				t.Errorf("%s: received %d times, with %d attempts of unknown outcome", name, n, del.UnknownOutcomeAttempts)
			case del.Attempts < n:
				t.Errorf("%s: received %d times, but %d attempts recorded", name, n, del.Attempts)
			}
		}
		// The request that hung was in flight at the kill.
		if del := deliveries[hung]; del.UnknownOutcomeAttempts != 1 || del.Attempts != 2 || received[hung] != 2 {
			t.Errorf("the delivery in flight at the kill, %s: %+v, received %d times", hung, del, received[hung])
		}
		if n := second.unknownCounted(); n != unknown {
			t.Errorf("metrics count %d attempts of unknown outcome, the deliveries %d", n, unknown)
		}
	})
}
