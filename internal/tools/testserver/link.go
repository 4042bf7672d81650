package testserver

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

var (
	nonceField   = regexp.MustCompile(`<input type="hidden" name="nonce" value="([A-Za-z0-9_-]+)">`)
	actionButton = regexp.MustCompile(`<button type="submit" name="action" value="([^"]+)"`)
)

// ExecuteLink does what a person does with an approval link: opens the
// page (any server of the database may serve it: the link's host is
// replaced by this server's), then presses the button of action (the
// first one when action is empty), with pin when not empty. It returns the status of the form's answer, or of the
// page when it showed no form. It may run on any goroutine.
func (s *Server) ExecuteLink(link, action, pin string) (int, error) {
	u, err := url.Parse(link)
	if err != nil {
		return 0, fmt.Errorf("parse link %q: %w", link, err)
	}
	target := s.URL + u.Path
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(target)
	if err != nil {
		return 0, fmt.Errorf("open link: %w", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := nonceField.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		return resp.StatusCode, nil
	}
	if action == "" {
		first := actionButton.FindSubmatch(page)
		if first == nil {
			return 0, fmt.Errorf("no action button on the page of %s", u.Path)
		}
		action = html.UnescapeString(string(first[1]))
	}
	form := url.Values{"nonce": {string(m[1])}, "action": {action}}
	if pin != "" {
		form.Set("pin", pin)
	}
	resp, err = client.Post(target, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, fmt.Errorf("submit link: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
