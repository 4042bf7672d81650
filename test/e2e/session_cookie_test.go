package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/config"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// TestCookieSessions signs in as a browser dashboard that keeps its
// refresh token in an httpOnly cookie: the opt-in header moves the token
// from the body into a Secure, SameSite=Strict cookie on /query, refresh
// and log-out read it only with that header, and log-out clears it.
func TestCookieSessions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		srv := testserver.Start(t, d)
		alice := srv.SignUp("Alice")

		// browser sends what a dashboard page would: the opt-in header when
		// optIn, and the cookie it holds, if any.
		browser := func(optIn bool, cookie string) *testserver.Client {
			c := srv.Client("").FromIP("127.0.8.1")
			if optIn {
				c.Header.Set("X-Ottr-Session", "cookie")
			}
			if cookie != "" {
				c.Header.Set("Cookie", "ottr_refresh="+cookie)
			}
			return c
		}
		setCookie := func(what string, resp *testserver.Response) *http.Cookie {
			t.Helper()
			for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
				if c.Name == "ottr_refresh" {
					raw := strings.Join(resp.Header.Values("Set-Cookie"), "; ")
					if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/query" {
						t.Fatalf("%s: cookie %q, want HttpOnly, Secure, SameSite=Strict, Path=/query", what, raw)
					}
					return c
				}
			}
			t.Fatalf("%s: no ottr_refresh cookie in %v", what, resp.Header)
			return nil
		}
		session := func(what string, resp *testserver.Response, field string) authPayload {
			t.Helper()
			if len(resp.Errors) > 0 {
				t.Fatalf("%s: %+v", what, resp.Errors)
			}
			var out map[string]authPayload
			if err := json.Unmarshal(resp.Data, &out); err != nil {
				t.Fatal(err)
			}
			p := out[field]
			if p.RefreshToken != "" || p.AccessToken == "" {
				t.Fatalf("%s: body %s, want an access token and no refresh token", what, resp.Data)
			}
			srv.Client(p.AccessToken).MustDo(meQuery, nil, nil)
			return p
		}

		resp := browser(true, "").Do(logInMutation, logInVars(alice.Email, "correct horse battery"))
		session("logIn", resp, "logIn")
		first := setCookie("logIn", resp)

		resp = browser(true, first.Value).Do(refreshMutation, map[string]any{"t": ""})
		session("refresh from the cookie", resp, "refreshSession")
		second := setCookie("refresh from the cookie", resp)
		if second.Value == first.Value {
			t.Fatal("the refresh did not rotate the cookie")
		}

		// Without the header the cookie is not even read.
		if e := browser(false, second.Value).ErrorCode(refreshMutation, map[string]any{"t": ""}); e.Code() != "UNAUTHENTICATED" {
			t.Fatalf("refresh with the cookie alone: %s, want UNAUTHENTICATED", e.Code())
		}
		if e := browser(true, "").ErrorCode(refreshMutation, map[string]any{"t": ""}); e.Code() != "UNAUTHENTICATED" {
			t.Fatalf("refresh without a cookie: %s, want UNAUTHENTICATED", e.Code())
		}

		resp = browser(true, second.Value).Do(logOutMutation, map[string]any{"t": ""})
		if len(resp.Errors) > 0 || string(resp.Data) != `{"logOut":true}` {
			t.Fatalf("logOut: %s %+v", resp.Data, resp.Errors)
		}
		if cleared := setCookie("logOut", resp); cleared.MaxAge >= 0 || cleared.Value != "" {
			t.Fatalf("logOut did not clear the cookie: %+v", cleared)
		}
		if e := browser(true, second.Value).ErrorCode(refreshMutation, map[string]any{"t": ""}); e.Code() != "UNAUTHENTICATED" {
			t.Fatalf("refresh after logOut: %s, want UNAUTHENTICATED", e.Code())
		}

		// Clients that do not opt in keep the token in the body.
		var plain struct{ LogIn authPayload }
		srv.Client("").MustDo(logInMutation, logInVars(alice.Email, "correct horse battery"), &plain)
		if plain.LogIn.RefreshToken == "" {
			t.Fatal("logIn without the header returned no refresh token")
		}
	})
}

// TestCookieSessionsCORSAndInsecureCookie checks the browser's side: a
// preflight from a dashboard origin may send the opt-in header and
// credentials, and OTTR_SESSION_COOKIE_SECURE=false drops Secure.
func TestCookieSessionsCORSAndInsecureCookie(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, store.SQLite, func(c *config.Config) { c.InsecureSessionCookie = true })
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/query", nil)
	req.Header.Set("Origin", "http://localhost:5173")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type, x-ottr-session")
	resp, err := http.DefaultClient.Do(req)
	storetest.Must(t, err)
	resp.Body.Close()
	if !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "x-ottr-session") ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight: %v", resp.Header)
	}

	alice := srv.SignUp("Alice")
	c := srv.Client("")
	c.Header.Set("X-Ottr-Session", "cookie")
	r := c.Do(logInMutation, logInVars(alice.Email, "correct horse battery"))
	cookies := (&http.Response{Header: r.Header}).Cookies()
	if len(cookies) != 1 || cookies[0].Secure || !cookies[0].HttpOnly {
		t.Fatalf("cookie without Secure: %v", r.Header.Values("Set-Cookie"))
	}
}
