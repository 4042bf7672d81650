// Package slackinteract serves the Request URL of a project's Slack apps:
// a click on an approval's button in Slack, verified by the app's signing
// secret, decides the approval by the same rule as its link, and the
// message is then replaced through the click's response_url.
package slackinteract

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/ottr/backend/internal/domain/approval"
	"github.com/ottr/backend/internal/domain/event"
	"github.com/ottr/backend/internal/domain/slack"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// MaxBody caps an interaction request; Slack's are a few KiB.
const MaxBody = 64 << 10

// replayWindow is how long an applied request is remembered: past it, its
// timestamp is refused as stale anyway.
const replayWindow = 10 * time.Minute

// Options is what the handler needs.
type Options struct {
	Store     *store.Store
	Channels  *slack.Service
	Approvals *approval.Service
	// ResponsePrefixes are where replies may be posted.
	ResponsePrefixes []string
	// Client posts replies; made with a Validator of ResponsePrefixes.
	Client *slack.Client
	Logger *slog.Logger
}

// Handler serves POST /slack/interactions/{project}.
type Handler struct {
	o Options

	// mu orders starting a reply against Close: once closed is set, no
	// reply starts, so that Close's wait covers every one.
	mu      sync.Mutex
	closed  bool
	replies sync.WaitGroup
	// stop cancels the replies still running when Close gives up on them.
	stopped context.Context
	stop    context.CancelFunc
}

// New returns the handler.
func New(o Options) *Handler {
	stopped, stop := context.WithCancel(context.Background())
	return &Handler{o: o, stopped: stopped, stop: stop}
}

// Routes are the handler's ServeMux patterns.
func (h *Handler) Routes() map[string]http.Handler {
	return map[string]http.Handler{"POST " + slack.InteractionsPath + "{project}": h}
}

// Close stops the replies to clicks: none starts any more, and those
// under way may finish until ctx ends; then they are cancelled, and Close
// returns once they have. The store must stay open until it returns.
func (h *Handler) Close(ctx context.Context) {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		h.replies.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		h.o.Logger.Warn("slack interaction: abandoning the replies still under way")
		h.stop()
		<-done
	}
}

func fail(w http.ResponseWriter, status int, msg string) {
	http.Error(w, msg, status)
}

// ServeHTTP verifies, parses and applies one click. Statuses: 415 for a
// body that is not a form, 413 over MaxBody, 401 for a missing, forged or
// stale signature, 409 for a request already applied, 400 for a payload
// that is not a click on an approval's button or is not UTF-8, 404 for an
// unknown approval or channel; 200 otherwise, the outcome going to the
// response_url.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		fail(w, http.StatusUnsupportedMediaType, "expected application/x-www-form-urlencoded")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		fail(w, http.StatusBadRequest, "could not read the body")
		return
	}
	if len(body) > MaxBody {
		fail(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	projectID := r.PathValue("project")
	if apperr.CheckText("project", projectID) != nil {
		fail(w, http.StatusNotFound, "unknown project")
		return
	}
	channels, err := h.verify(ctx, r.Header, body, projectID)
	if err != nil {
		h.internal(ctx, w, err)
		return
	}
	if len(channels) == 0 {
		fail(w, http.StatusUnauthorized, "invalid or stale signature")
		return
	}
	click, status, msg := parse(body)
	if status != 0 {
		fail(w, status, msg)
		return
	}
	var channel *slack.Channel
	for i := range channels {
		if channels[i].ID == click.channelID {
			channel = &channels[i]
		}
	}
	if channel == nil {
		fail(w, http.StatusNotFound, "unknown channel")
		return
	}
	if !slack.ResponseURLAllowed(click.responseURL, h.o.ResponsePrefixes) {
		fail(w, http.StatusBadRequest, "response_url is not Slack's")
		return
	}
	fresh, err := h.remember(ctx, r.Header.Get("X-Slack-Signature"))
	if err != nil {
		h.internal(ctx, w, err)
		return
	}
	if !fresh {
		fail(w, http.StatusConflict, "this request was already applied")
		return
	}
	if !channel.AllowsSlackUser(click.user.ID) {
		w.WriteHeader(http.StatusOK)
		h.reply(ctx, click.responseURL, answer(slack.Ephemeral("You are not allowed to decide approvals from this channel. Nothing was changed.")))
		return
	}
	a, err := h.o.Approvals.DecideInSlack(ctx, projectID, click.approvalID, click.actionKey, click.user, nil)
	var closed *approval.ClosedError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
		h.reply(ctx, click.responseURL, func(ctx context.Context) (slack.Reply, bool) { return h.replacement(ctx, a) })
	case errors.As(err, &closed):
		w.WriteHeader(http.StatusOK)
		// The clicker learns why first; the message then shows the state.
		h.reply(ctx, click.responseURL, answer(slack.Ephemeral("Nothing was changed: "+closed.Error()+".")),
			func(ctx context.Context) (slack.Reply, bool) {
				current, err := h.o.Approvals.Current(ctx, projectID, click.approvalID)
				if err != nil {
					h.o.Logger.ErrorContext(ctx, "slack interaction: load approval", "err", err)
					return slack.Reply{}, false
				}
				return h.replacement(ctx, current)
			})
	case apperr.CodeOf(err) == apperr.CodeForbidden:
		w.WriteHeader(http.StatusOK)
		e, _ := apperr.As(err)
		h.reply(ctx, click.responseURL, answer(slack.Ephemeral("Nothing was changed: "+e.Message)))
	case apperr.CodeOf(err) == apperr.CodeBadUserInput:
		fail(w, http.StatusBadRequest, "unknown action or invalid input")
	case apperr.CodeOf(err) == apperr.CodeNotFound:
		fail(w, http.StatusNotFound, "unknown approval")
	default:
		h.internal(ctx, w, err)
	}
}

func (h *Handler) internal(ctx context.Context, w http.ResponseWriter, err error) {
	e := apperr.Present(ctx, h.o.Logger, "slack interaction", err)
	fail(w, e.Code.Status(), e.Message)
}

// verify returns the project's interactive channels whose signing secret
// signed the request: those of the app that sent it. None: the signature
// is missing, forged or stale, or the project has no such channel.
func (h *Handler) verify(ctx context.Context, header http.Header, body []byte, projectID string) ([]slack.Channel, error) {
	all, err := slack.InteractiveChannels(ctx, h.o.Store, projectID)
	if err != nil {
		return nil, err
	}
	var signed []slack.Channel
	verified := map[string]bool{} // by secret: channels of one app share it
	for _, c := range all {
		secret, err := h.o.Channels.SigningSecret(&c)
		if err != nil {
			return nil, err
		}
		ok, seen := verified[secret]
		if !seen {
			v, err := goslack.NewSecretsVerifier(header, secret)
			if err == nil {
				_, _ = v.Write(body)
				ok = v.Ensure() == nil
			}
			verified[secret] = ok
		}
		if ok {
			signed = append(signed, c)
		}
	}
	return signed, nil
}

// remember records a request by its signature, so that it is applied at
// most once; false: it was seen before.
func (h *Handler) remember(ctx context.Context, signature string) (bool, error) {
	sum := sha256.Sum256([]byte(signature))
	now := store.Now()
	db := h.o.Store.DB(ctx)
	if err := db.Exec("DELETE FROM slack_interactions WHERE received_at < ?", now.Add(-replayWindow)).Error; err != nil {
		return false, err
	}
	res := db.Exec("INSERT INTO slack_interactions (signature_hash, received_at) VALUES (?, ?) ON CONFLICT (signature_hash) DO NOTHING",
		hex.EncodeToString(sum[:]), now)
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

type click struct {
	approvalID, channelID, actionKey string
	user                             approval.SlackUser
	responseURL                      string
}

// parse reads the click from the form's payload; status is not 0 when
// the request is not one.
func parse(body []byte) (c click, status int, msg string) {
	bad := func(m string) (click, int, string) { return click{}, http.StatusBadRequest, m }
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return bad("malformed form")
	}
	raw := form.Get("payload")
	if err := apperr.CheckText("payload", raw); err != nil {
		return bad(err.Error())
	}
	if strings.Contains(raw, `\u0000`) { // a NUL once the JSON is decoded
		return bad(apperr.TextNUL.Refusal("payload", "").Message)
	}
	var p goslack.InteractionCallback
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return bad("malformed payload")
	}
	if p.Type != goslack.InteractionTypeBlockActions || len(p.ActionCallback.BlockActions) != 1 {
		return bad("not a click on an approval's button")
	}
	act := p.ActionCallback.BlockActions[0]
	approvalID, channelID, ok := slack.ParseBlockID(act.BlockID)
	if !ok || p.User.ID == "" || p.ResponseURL == "" {
		return bad("not a click on an approval's button")
	}
	c = click{approvalID: approvalID, channelID: channelID, actionKey: act.ActionID, responseURL: p.ResponseURL,
		user: approval.SlackUser{ID: p.User.ID, Name: firstNonEmpty(p.User.Name, p.User.Username)}}
	return c, 0, ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// replacement is the message that replaces the clicked one, showing the
// approval's final state: the seed's lines without buttons, and the
// outcome. None (false) while the approval is still pending.
func (h *Handler) replacement(ctx context.Context, a *approval.Approval) (slack.Reply, bool) {
	var projectName string
	if err := h.o.Store.DB(ctx).Raw("SELECT name FROM projects WHERE id = ?", a.ProjectID).Row().Scan(&projectName); err != nil {
		h.o.Logger.ErrorContext(ctx, "slack interaction: load project", "err", err)
		return slack.Reply{}, false
	}
	d := slack.Details{ProjectName: projectName, ExpiresAt: a.ExpiresAt}
	if a.Info != nil {
		d.Info = *a.Info
	}
	created, err := slack.Message(event.Event{Type: event.ApprovalCreated, KeyPath: a.KeyPath}, d)
	if err != nil {
		h.o.Logger.ErrorContext(ctx, "slack interaction: message", "err", err)
		return slack.Reply{}, false
	}
	var outcome string
	switch a.Status {
	case approval.Executed:
		label, at := "", time.Now()
		if a.Decision != nil {
			label, at = a.Decision.Action.Label, a.Decision.DecidedAt
		}
		outcome = slack.ExecutedOutcome(label, h.decider(ctx, a.Decision), at)
	case approval.Expired:
		outcome = "⏳ Expired: nothing was decided."
	case approval.Invalidated:
		outcome = "❌ Withdrawn: nothing to decide."
	case approval.Locked:
		outcome = "🔒 Locked after too many failed PIN attempts."
	default:
		return slack.Reply{}, false
	}
	return slack.Replace(slack.Resolved(created, outcome)), true
}

// decider is the Slack form of a decision's decider.
func (h *Handler) decider(ctx context.Context, d *approval.Decision) *slack.Decider {
	if d == nil {
		return &slack.Decider{Via: string(approval.ViaLink)}
	}
	return Decider(ctx, h.o.Store, d.DecidedBy, d.Comment)
}

// Decider turns a decision's decider into what Slack messages show,
// reading a dashboard member's name.
func Decider(ctx context.Context, st *store.Store, by approval.Decider, comment *string) *slack.Decider {
	out := &slack.Decider{Via: string(by.Via)}
	if by.SlackUserID != nil {
		out.SlackUserID = *by.SlackUserID
	}
	if by.SlackUserName != nil {
		out.SlackUserName = *by.SlackUserName
	}
	if by.UserID != nil {
		_ = st.DB(ctx).Raw("SELECT name FROM users WHERE id = ?", *by.UserID).Row().Scan(&out.UserName)
	}
	if comment != nil {
		out.Comment = *comment
	}
	return out
}

// replyStep makes one reply to a click; false: there is none to post.
type replyStep func(context.Context) (slack.Reply, bool)

// answer is a step whose reply is known already.
func answer(r slack.Reply) replyStep {
	return func(context.Context) (slack.Reply, bool) { return r, true }
}

// reply makes and posts the replies to a click, in order, once the
// request is answered: Slack wants its answer within 3 seconds, and
// reading the approval and posting may take longer. After Close, nothing
// starts: the click was applied, only its replies are lost.
func (h *Handler) reply(ctx context.Context, responseURL string, steps ...replyStep) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		h.o.Logger.WarnContext(ctx, "slack interaction: shutting down, reply not posted")
		return
	}
	h.replies.Add(1)
	go func() {
		defer h.replies.Done()
		// The request's values (its id for the logs), but the handler's
		// lifetime: the request ends before the replies are posted.
		ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		defer context.AfterFunc(h.stopped, cancel)()
		for _, step := range steps {
			if ctx.Err() != nil {
				h.o.Logger.WarnContext(ctx, "slack interaction: shutting down, reply abandoned")
				return
			}
			r, ok := step(ctx)
			if !ok {
				continue
			}
			if err := h.o.Client.PostReply(ctx, responseURL, r); err != nil {
				h.o.Logger.WarnContext(ctx, "slack interaction reply", "err", err)
			}
		}
	}()
}
