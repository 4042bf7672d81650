package httpserver_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// raiseFileLimit makes room for need open files in this process (the
// clients' sockets and the server's).
func raiseFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		t.Fatalf("RLIMIT_NOFILE allows %d open files, this test needs %d", lim.Max, need)
	}
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
}

// slowClient is one way of sending a request too slowly.
type slowClient struct {
	name  string
	start string        // written at once
	drip  string        // then one byte of it every interval
	every time.Duration // 0: nothing more
}

// The probes that held connections open for good: complete headers and
// then a body that never comes, or comes a byte at a time; and headers
// that never end. 1,500 of them at once must all be closed by the server
// within its deadlines and a little more.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	const (
		clients     = 1500
		readHeader  = 500 * time.Millisecond
		readTimeout = time.Second
		// What the server may take beyond its deadline to close 1,500
		// connections on a busy machine.
		slack = 3 * time.Second
	)
	raiseFileLimit(t, 2*clients+1000)
	srv := testserver.Start(t, store.SQLite, func(c *config.Config) {
		c.HTTP.ReadHeaderTimeout = readHeader
		c.HTTP.ReadTimeout = readTimeout
	})
	addr := strings.TrimPrefix(srv.URL, "http://")
	headers := "POST /query HTTP/1.1\r\nHost: ottr\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
	kinds := []slowClient{
		{name: "silent body", start: headers},
		// A byte well within every deadline: progress must not extend it.
		{name: "trickling body", start: headers + "{", drip: strings.Repeat(" ", 4000), every: 200 * time.Millisecond},
		{name: "trickling headers", start: "POST /query HTTP/1.1\r\n", drip: "X-Slow: " + strings.Repeat("a", 200), every: 100 * time.Millisecond},
		{name: "silent connection"},
	}
	deadline := map[string]time.Duration{"silent body": readTimeout, "trickling body": readTimeout,
		"trickling headers": readHeader, "silent connection": readHeader}

	type result struct {
		kind string
		took time.Duration
		err  error
	}
	results := make(chan result, clients)
	var wg sync.WaitGroup
	dials := make(chan struct{}, 64) // dial in waves: the accept queue is finite
	for i := range clients {
		kind := kinds[i%len(kinds)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			dials <- struct{}{}
			conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
			<-dials
			if err != nil {
				results <- result{kind: kind.name, err: err}
				return
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, kind.start); err != nil {
				results <- result{kind: kind.name, err: err}
				return
			}
			start := time.Now()
			closed := make(chan struct{})
			if kind.every > 0 {
				go func() {
					tick := time.NewTicker(kind.every)
					defer tick.Stop()
					for i := 0; i < len(kind.drip); i++ {
						select {
						case <-closed:
							return
						case <-tick.C:
						}
						if _, err := conn.Write([]byte{kind.drip[i]}); err != nil {
							return
						}
					}
				}()
			}
			// Whatever the server answers, the connection must end.
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err = io.Copy(io.Discard, conn)
			close(closed)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				results <- result{kind: kind.name, err: errors.New("still open after 30 s")}
				return
			}
			results <- result{kind: kind.name, took: time.Since(start)}
		}()
	}
	wg.Wait()
	close(results)
	worst := map[string]time.Duration{}
	for r := range results {
		if r.err != nil {
			t.Fatalf("%s: %v", r.kind, r.err)
		}
		if r.took > deadline[r.kind]+slack {
			t.Errorf("%s: closed after %v, want within %v", r.kind, r.took.Round(time.Millisecond), deadline[r.kind]+slack)
		}
		worst[r.kind] = max(worst[r.kind], r.took)
	}
	t.Logf("%d connections; the last of each kind closed after %v", clients, worst)
}

// A kept-alive connection that sends no next request is closed after
// IdleTimeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	t.Parallel()
	const idle = 500 * time.Millisecond
	srv := testserver.Start(t, store.SQLite, func(c *config.Config) { c.HTTP.IdleTimeout = idle })
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: ottr\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("status %d, close %v: want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read %d bytes, %v: want the server to close the idle connection", n, err)
	}
	if took := time.Since(start); took > idle+2*time.Second {
		t.Fatalf("closed after %v, want about %v", took, idle)
	}
}

var playgroundScript = regexp.MustCompile(`/playground/[0-9a-f]+/[A-Za-z0-9_.-]+\.js`)

// A client that stops reading an answer is cut off after WriteTimeout: the
// handler's write fails and the request ends (its log line is the signal),
// where without the deadline it would wait for the client forever. (What
// the kernel holds already still reaches the client, too slowly through
// the small window to wait for here.)
func TestStalledReaderIsCutOff(t *testing.T) {
	t.Parallel()
	const writeTimeout = time.Second
	srv := testserver.Start(t, store.SQLite, func(c *config.Config) { c.HTTP.WriteTimeout = writeTimeout })
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	script := playgroundScript.Find(page)
	if script == nil {
		t.Fatalf("no script in the playground page: %s", page)
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small receive window: the answer (megabytes) backs up at once.
	if err := conn.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: ottr\r\nX-Request-Id: stalled-reader\r\n\r\n", script)
	for !strings.Contains(srv.Logs.String(), "request_id=stalled-reader") {
		if time.Since(start) > writeTimeout+10*time.Second {
			t.Fatal("the request to a client that does not read did not end")
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	if took < writeTimeout-100*time.Millisecond {
		t.Fatalf("cut off after %v, before the write timeout of %v", took, writeTimeout)
	}
}

const events = `subscription($p: ID!) { projectEvents(projectId: $p, after: "0") { id } }`

// Streams outlive the server's read and write deadlines: SSE and both
// websocket protocols stay silent for longer than either (their
// keep-alives come less often) and still deliver, again and again, and a
// REST long-poll waits longer than either and answers.
func TestStreamsOutliveTheDeadlines(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		// The data first, from a server with the usual deadlines: signing
		// up hashes a password, for longer than the short ones below.
		cfg := testserver.Config(t, d)
		setup := testserver.StartWith(t, cfg)
		alice := setup.SignUp("Alice")
		pid := alice.CreateProject("P")
		_, key := alice.CreateAPIKey(pid, "WRITE")
		vars := map[string]any{"p": pid}
		id := createApproval(t, setup, key)
		storetest.Must(t, setup.App.Close())

		const timeout = 250 * time.Millisecond
		srv := testserver.StartWith(t, cfg, func(c *config.Config) {
			c.HTTP.ReadTimeout = timeout
			c.HTTP.WriteTimeout = timeout
			c.Live.KeepAlive = 600 * time.Millisecond
		})

		type answer struct {
			status int
			body   string
			took   time.Duration
			err    error
		}
		polled := make(chan answer, 1)
		go func() {
			start := time.Now()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/approvals/"+id+"?wait=1s", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				polled <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			polled <- answer{status: resp.StatusCode, body: string(b), took: time.Since(start), err: err}
		}()

		sse := srv.SubscribeSSE(key, events, vars)
		// The websockets are read as real clients read them, all the time:
		// graphql-transport-ws drops a connection that leaves a ping
		// unanswered for two keep-alive intervals, which a client that read
		// only when the test asks for an event would do whenever the
		// machine is slow.
		streams := map[string]func() testserver.Result{
			"SSE":                  sse.Next,
			"graphql-transport-ws": srv.Connect(testserver.TransportWS, key).Subscribe(events, vars).Background(),
			"graphql-ws":           srv.Connect(testserver.LegacyWS, key).Subscribe(events, vars).Background(),
		}
		// An event after each SSE keep-alive: the gaps between the server's
		// writes, and between the pongs and messages it reads, are longer
		// than both deadlines.
		for round := int64(1); round <= 2; round++ {
			for start := time.Now(); sse.Pings() < round; time.Sleep(5 * time.Millisecond) {
				if time.Since(start) > testserver.ReadTimeout {
					t.Fatalf("no SSE keep-alive in %v", testserver.ReadTimeout)
				}
			}
			want := fmt.Sprint(srv.Record(pid, "APPROVAL_EXECUTED").ID)
			for name, next := range streams {
				if !receives(t, next, want) {
					t.Fatalf("%s: the stream ended before event %s", name, want)
				}
			}
		}

		a := <-polled
		if a.err != nil || a.status != http.StatusOK || !strings.Contains(a.body, `"status":"pending"`) {
			t.Fatalf("long-poll: %d %s %v, want 200 with the pending approval", a.status, a.body, a.err)
		}
		if a.took < time.Second {
			t.Fatalf("long-poll answered after %v, before its wait of 1s", a.took)
		}
	})
}

// receives reads a stream's results until the event with id arrives; false
// if the stream completes first.
func receives(t *testing.T, next func() testserver.Result, id string) bool {
	t.Helper()
	for {
		r := next()
		if r.Complete || len(r.Errors) > 0 {
			t.Logf("stream ended: %+v", r)
			return false
		}
		var data struct {
			ProjectEvents struct{ ID string } `json:"projectEvents"`
		}
		if err := json.Unmarshal(r.Data, &data); err != nil {
			t.Fatalf("decode %s: %v", r.Data, err)
		}
		if data.ProjectEvents.ID == id {
			return true
		}
	}
}

// createApproval creates an approval over the REST API and returns its id.
func createApproval(t *testing.T, srv *testserver.Server, key string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/approvals", bytes.NewReader([]byte(`{"key_path": "deploy/web", "value": "go"}`)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create approval: %d %v", resp.StatusCode, err)
	}
	return out.ID
}
