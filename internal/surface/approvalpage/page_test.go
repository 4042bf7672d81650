package approvalpage_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

func TestOpeningALinkShowsItAndNeverExecutesIt(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		l := f.create(deployInput())

		// Mail scanners and link previews fetch links, some several times.
		for range 3 {
			r := f.get(l.URL)
			r.expect(t, http.StatusOK,
				`<html lang="en">`, "<title>Approval requested · Ottr</title>",
				`<p class="eyebrow">Acme</p>`, `<code class="key">deploy/web/run-42</code>`,
				`<p class="info">Deploy web v2.14 to production?</p>`,
				`<form method="post"`,
				`<button type="submit" name="action" value="approve" class="btn btn-primary">Deploy</button>`,
				`<button type="submit" name="action" value="reject" class="btn btn-danger">Cancel</button>`,
				`<button type="submit" name="action" value="later" class="btn btn-default">Ask me later</button>`,
				`<label for="pin">PIN</label>`,
				`inputmode="numeric" autocomplete="one-time-code"`,
				"5 attempts left.")
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
			}
			nonceOf(t, r.Body)
			m := regexp.MustCompile(`data-seconds="(\d+)">(\d+ min \d\d s)<`).FindStringSubmatch(r.Body)
			if m == nil {
				t.Fatalf("no remaining time in the page:\n%s", r.Body)
			}
			if s, _ := strconv.Atoi(m[1]); s < 500 || s > 600 {
				t.Errorf("%d seconds left of a 600-second link", s)
			}
		}
		h := f.head(l.URL)
		h.expect(t, http.StatusOK)
		if h.Body != "" {
			t.Errorf("HEAD answered a body: %q", h.Body)
		}
		f.state(l, "deploy/web/run-42").expectUnchanged(t)
	})
}

func TestUserTypedTextIsEscaped(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, `Acme <img src=x onerror=alert(1)>`)
		actionKey := `"><script>alert(2)</script>`
		l := f.create(map[string]any{
			"keyPath": "deploy/web",
			"info":    "<script>alert(1)</script>",
			"actions": []map[string]any{{"key": actionKey, "value": "yes", "label": "<b>Go</b>", "style": "PRIMARY"}},
		})
		r := f.get(l.URL)
		r.expect(t, http.StatusOK,
			`Acme &lt;img src=x onerror=alert(1)&gt;`,
			`&lt;script&gt;alert(1)&lt;/script&gt;`,
			`value="&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"`,
			`&lt;b&gt;Go&lt;/b&gt;</button>`)
		for _, raw := range []string{"<img", "<script>", "<b>"} {
			if strings.Contains(r.Body, raw) {
				t.Errorf("page contains unescaped %q:\n%s", raw, r.Body)
			}
		}
		// The browser sends the key back as it was given; it executes.
		ex := f.post(l.URL, url.Values{"nonce": {nonceOf(t, r.Body)}, "action": {actionKey}})
		ex.expect(t, http.StatusOK, "Done", "&lt;b&gt;Go&lt;/b&gt;")
		if strings.Contains(ex.Body, "<b>") {
			t.Errorf("result page contains unescaped label:\n%s", ex.Body)
		}
		if st := f.state(l, "deploy/web"); st.Status != "EXECUTED" || st.Value == nil || *st.Value != "yes" {
			t.Fatalf("after executing: status %s, value %v", st.Status, st.Value)
		}
	})
}

func TestAWrongPINThenTheRightOneExecutesOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		l := f.create(deployInput())
		nonce := f.open(l)

		wrong := f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}, "pin": {"1357"}})
		wrong.expect(t, http.StatusForbidden, "Wrong PIN", "<strong>4</strong> attempts left.",
			`<a class="btn btn-primary" href="/a/`+l.Token+`">Try again</a>`)
		missing := f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}})
		missing.expect(t, http.StatusForbidden, "Wrong PIN", "<strong>3</strong> attempts left.")

		// The form of a fresh load shows what is left.
		f.get(l.URL).expect(t, http.StatusOK, "3 attempts left.")

		done := f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"reject"}, "pin": {"2468"}})
		done.expect(t, http.StatusOK, "<h1>Done</h1>", "<dt>Action</dt><dd>Cancel</dd>", `<time datetime="`)
		st := f.state(l, "deploy/web/run-42")
		if st.Status != "EXECUTED" || st.ExecutedAction == nil || st.ExecutedAction.Key != "reject" || st.Value == nil || *st.Value != "rejected" {
			t.Fatalf("after executing: %+v", st)
		}
		st.expectEvents(t, "APPROVAL_CREATED", "PIN_FAILED", "PIN_FAILED", "APPROVAL_EXECUTED")

		// The link is used up: loading it again, or sending the form again
		// (a reload, a double click), changes nothing and says so.
		f.get(l.URL).expect(t, http.StatusConflict, "Already used")
		f.head(l.URL).expect(t, http.StatusConflict)
		again := f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}, "pin": {"2468"}})
		again.expect(t, http.StatusConflict, "Already used")
		for _, page := range []string{again.Body, f.get(l.URL).Body} {
			if strings.Contains(page, "Cancel") || strings.Contains(page, "deploy/web") {
				t.Errorf("a used link tells what was chosen or about what:\n%s", page)
			}
		}
		f.state(l, "deploy/web/run-42").expectEvents(t, "APPROVAL_CREATED", "PIN_FAILED", "PIN_FAILED", "APPROVAL_EXECUTED")

		logs := f.srv.Logs.String()
		if strings.Contains(logs, l.Token) {
			t.Errorf("the token was logged:\n%s", logs)
		}
		for _, route := range []string{`method=GET route=/a/{token}`, `method=POST route=/a/{token}`} {
			if !strings.Contains(logs, route) {
				t.Errorf("the request log lacks %s:\n%s", route, logs)
			}
		}
	})
}

func TestTooManyWrongPINsLockTheLink(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		in := deployInput()
		in["maxPinAttempts"] = 2
		l := f.create(in)
		nonce := f.open(l)

		f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}, "pin": {"0000"}}).
			expect(t, http.StatusForbidden, "Wrong PIN", "<strong>1</strong> attempt left.")
		f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}, "pin": {"1111"}}).
			expect(t, http.StatusGone, "Link locked")
		f.get(l.URL).expect(t, http.StatusGone, "Link locked")
		f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}, "pin": {"2468"}}).
			expect(t, http.StatusGone, "Link locked")

		st := f.state(l, "deploy/web/run-42")
		if st.Status != "LOCKED" || st.Value != nil {
			t.Fatalf("after locking: status %s, value %v", st.Status, st.Value)
		}
		st.expectEvents(t, "APPROVAL_CREATED", "PIN_FAILED", "PIN_FAILED", "TOKEN_LOCKED")
	})
}

func TestAnExpiredLinkExpiresOnceWhenOpened(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		in := deployInput()
		in["ttlSeconds"] = 60
		l := f.create(in)
		nonce := f.open(l)
		f.clock.Advance(2 * time.Minute)

		for range 3 {
			f.get(l.URL).expect(t, http.StatusGone, "Link expired")
		}
		f.head(l.URL).expect(t, http.StatusGone)
		f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}, "pin": {"2468"}}).
			expect(t, http.StatusGone, "Link expired")

		st := f.state(l, "deploy/web/run-42")
		if st.Status != "EXPIRED" || st.Value != nil {
			t.Fatalf("after expiry: status %s, value %v", st.Status, st.Value)
		}
		st.expectEvents(t, "APPROVAL_CREATED", "APPROVAL_EXPIRED")
	})
}

func TestAnInvalidatedLinkSaysItWasWithdrawn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		l := f.create(deployInput())
		nonce := f.open(l)
		f.api.MustDo(`mutation($id: ID!) { invalidateApproval(id: $id, reason: "superseded by run 43") { id } }`,
			map[string]any{"id": l.ID}, nil)

		for _, r := range []response{
			f.get(l.URL),
			f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}, "pin": {"2468"}}),
		} {
			r.expect(t, http.StatusGone, "Request withdrawn")
			if strings.Contains(r.Body, "superseded") {
				t.Errorf("the page shows the reason meant for the project:\n%s", r.Body)
			}
		}
		st := f.state(l, "deploy/web/run-42")
		if st.Status != "INVALIDATED" || st.Value != nil {
			t.Fatalf("after invalidation: status %s, value %v", st.Status, st.Value)
		}
	})
}

func TestAnUnknownLinkIsNotFound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		l := f.create(deployInput())
		// A token one character off, and one that was never near a real one.
		last := "A"
		if strings.HasSuffix(l.URL, last) {
			last = "B"
		}
		forged := l.URL[:len(l.URL)-1] + last
		for _, target := range []string{forged, f.srv.URL + "/a/nope"} {
			f.get(target).expect(t, http.StatusNotFound, "Link not found")
			f.head(target).expect(t, http.StatusNotFound)
			f.post(target, url.Values{"nonce": {"x"}, "action": {"approve"}, "pin": {"2468"}}).
				expect(t, http.StatusNotFound, "Link not found")
		}
		f.state(l, "deploy/web/run-42").expectUnchanged(t)
	})
}

func TestAFormThisServerDidNotHandOutChangesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		in := deployInput()
		in["ttlSeconds"] = 3600
		l := f.create(in)
		other := f.create(deployInput())
		nonce := f.open(l)
		otherNonce := f.open(other)
		tampered := []byte(nonce)
		tampered[len(tampered)/2] ^= 1

		// Each of these carries a wrong PIN too: none may count as an attempt.
		for name, form := range map[string]url.Values{
			"no nonce":             {"action": {"approve"}, "pin": {"0000"}},
			"empty nonce":          {"nonce": {""}, "action": {"approve"}, "pin": {"0000"}},
			"forged nonce":         {"nonce": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "action": {"approve"}, "pin": {"0000"}},
			"tampered nonce":       {"nonce": {string(tampered)}, "action": {"approve"}, "pin": {"0000"}},
			"another link's nonce": {"nonce": {otherNonce}, "action": {"approve"}, "pin": {"0000"}},
			"unknown action":       {"nonce": {nonce}, "action": {"deploy-everything"}, "pin": {"0000"}},
			"no action":            {"nonce": {nonce}, "pin": {"0000"}},
			"oversized form":       {"nonce": {nonce}, "action": {"approve"}, "pin": {strings.Repeat("9", 10000)}},
		} {
			r := f.post(l.URL, form)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", name, r.Status)
			}
			r.expect(t, http.StatusBadRequest, "Page out of date", `href="/a/`+l.Token+`">Open the link again</a>`)
		}
		// The nonce only counts in the form's body, not in the address.
		f.post(l.URL+"?nonce="+nonce+"&action=approve&pin=2468", url.Values{}).expect(t, http.StatusBadRequest)
		// A page left open too long must be loaded again.
		f.clock.Advance(approval.NonceTTL + time.Minute)
		f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}, "pin": {"2468"}}).
			expect(t, http.StatusBadRequest, "Page out of date")

		f.state(l, "deploy/web/run-42").expectUnchanged(t)
	})
}

func TestTheLinkEndpointsAreRateLimitedPerIP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		l := f.create(deployInput())

		// Loads: a burst, then refused, whether the token is real or a
		// guess.
		f.untilLimited(approval.OpenBurst, func() response { return f.get(l.URL) }).
			expect(t, http.StatusTooManyRequests, "Too many attempts", "then try again.")
		guesser := webClient(t, "127.0.0.3")
		f.untilLimited(approval.OpenBurst, func() response { return f.do(guesser, http.MethodGet, f.srv.URL+"/a/guess", nil) }).
			expect(t, http.StatusTooManyRequests, "Too many attempts")

		// Another client is not held back by them.
		other := webClient(t, "127.0.0.2")
		f.do(other, http.MethodGet, l.URL, nil).expect(t, http.StatusOK, "Approval requested")

		// Submissions have their own, smaller budget.
		bad := url.Values{"nonce": {"forged"}, "action": {"approve"}, "pin": {"0000"}}
		f.untilLimited(approval.ExecuteBurst, func() response { return f.do(other, http.MethodPost, l.URL, bad) }).
			expect(t, http.StatusTooManyRequests, "Too many attempts")
		f.state(l, "deploy/web/run-42").expectUnchanged(t)
	})
}

// untilLimited sends requests until one is refused with 429, checks that
// at least burst went through first, and returns the refusal.
func (f *fixture) untilLimited(burst int, send func() response) response {
	f.t.Helper()
	for i := 0; i < 2*burst; i++ {
		r := send()
		if r.Status != http.StatusTooManyRequests {
			continue
		}
		if i < burst {
			f.t.Fatalf("refused after %d requests, the burst is %d", i, burst)
		}
		after, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || after < 1 {
			f.t.Fatalf("Retry-After %q, want whole seconds", r.Header.Get("Retry-After"))
		}
		if !strings.Contains(r.Body, "Wait "+strconv.Itoa(after)+" second") {
			f.t.Errorf("the page does not say how long to wait (%d s):\n%s", after, r.Body)
		}
		return r
	}
	f.t.Fatalf("%d requests, none refused", 2*burst)
	return response{}
}

func TestTheStylesheetAndScriptAreServedFromTheBinary(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		page := f.get(f.create(deployInput()).URL).Body
		for _, c := range []struct{ pattern, contentType string }{
			{`<link rel="stylesheet" href="(/a/assets/page-[0-9a-f]{12}\.css)">`, "text/css; charset=utf-8"},
			{`<script src="(/a/assets/page-[0-9a-f]{12}\.js)" defer></script>`, "text/javascript; charset=utf-8"},
		} {
			m := regexp.MustCompile(c.pattern).FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("page lacks %s:\n%s", c.pattern, page)
			}
			r := f.get(f.srv.URL + m[1])
			if r.Status != http.StatusOK || r.Header.Get("Content-Type") != c.contentType || r.Body == "" {
				t.Fatalf("%s: status %d, type %q, %d bytes", m[1], r.Status, r.Header.Get("Content-Type"), len(r.Body))
			}
			expectSecurityHeaders(t, r.Header)
			if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
				t.Errorf("%s: Cache-Control %q", m[1], cc)
			}
		}
		for _, name := range []string{"page.css", "page-000000000000.css", "page.html"} {
			r := f.get(f.srv.URL + "/a/assets/" + name)
			if r.Status != http.StatusNotFound {
				t.Errorf("/a/assets/%s: status %d, want 404", name, r.Status)
			}
			expectSecurityHeaders(t, r.Header)
		}
		// Nothing on the page comes from elsewhere.
		if m := regexp.MustCompile(`(?:src|href)="(?:https?:)?//`).FindString(page); m != "" {
			t.Errorf("page loads from another origin: %s", m)
		}
	})
}

func TestAFailureBehindThePageShowsNoDetail(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		l := f.create(deployInput())
		if err := f.srv.App.Store.Close(); err != nil {
			t.Fatalf("close the database: %v", err)
		}
		r := f.get(l.URL)
		r.expect(t, http.StatusInternalServerError, "Something went wrong")
		// The page links to itself: its random token may spell "sql".
		body := strings.ToLower(strings.ReplaceAll(r.Body, l.Token, ""))
		for _, detail := range []string{"sql", "database", "closed"} {
			if strings.Contains(body, detail) {
				t.Errorf("the page tells %q:\n%s", detail, r.Body)
			}
		}
		if logs := f.srv.Logs.String(); !strings.Contains(logs, `msg="approval link"`) || strings.Contains(logs, l.Token) {
			t.Errorf("the cause must be logged, without the token:\n%s", logs)
		}
	})
}
