package approvalpage_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
)

// The form takes an optional comment, at most 500 characters of text: it
// is stored with the decision and shown on the answer. A comment the
// server refuses changes nothing, not even the attempts.
func TestTheFormTakesACommentWithTheChoice(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		f := setup(t, d, "Acme")
		in := deployInput()
		delete(in, "pin")
		l := f.create(in)
		page := f.get(l.URL)
		page.expect(t, http.StatusOK, `<textarea id="comment" name="comment" rows="2" maxlength="500"`, "up to 500 characters")
		nonce := nonceOf(t, page.Body)

		for name, comment := range map[string]string{
			"too long":  strings.Repeat("é", 501),
			"NUL":       "ok\x00",
			"not UTF-8": "ok\xff",
		} {
			r := f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}, "comment": {comment}})
			r.expect(t, http.StatusBadRequest, "Comment not accepted", "at most 500 characters")
			if st := f.state(l, "deploy/web/run-42"); st.Status != "PENDING" || len(st.Events) != 1 {
				t.Fatalf("%s: the refused comment changed the approval: %+v", name, st)
			}
		}

		// 500 characters as the browser sends them: more bytes, and the line break as CRLF.
		comment := strings.Repeat("é", 480) + " <b>ship</b>\nit"
		done := f.post(l.URL, url.Values{"nonce": {nonce}, "action": {"approve"}, "comment": {strings.ReplaceAll(comment, "\n", "\r\n")}})
		done.expect(t, http.StatusOK, "<h1>Done</h1>", `<dt>Comment</dt><dd class="comment">`+strings.Repeat("é", 480)+" &lt;b&gt;ship&lt;/b&gt;\nit</dd>")
		var out struct {
			Approval struct {
				Decision struct {
					Comment   *string
					DecidedBy struct{ Via string }
				}
			}
		}
		f.api.MustDo(`query($id: ID!) { approval(id: $id) { decision { comment decidedBy { via } } } }`, map[string]any{"id": l.ID}, &out)
		if dec := out.Approval.Decision; dec.Comment == nil || *dec.Comment != comment || dec.DecidedBy.Via != "LINK" {
			t.Fatalf("decision: %+v", dec)
		}

		// Without a comment, or a blank one, none is stored or shown.
		blank := f.create(in)
		r := f.post(blank.URL, url.Values{"nonce": {f.open(blank)}, "action": {"approve"}, "comment": {" \n "}})
		r.expect(t, http.StatusOK, "<h1>Done</h1>")
		if strings.Contains(r.Body, "<dt>Comment</dt>") {
			t.Fatalf("a blank comment was shown:\n%s", r.Body)
		}
	})
}
