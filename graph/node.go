package graph

import (
	"context"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
)

// maxNodeIDLen bounds an id given to node(id:): the longest is a key's,
// "key:" and a project id and a 200-character path.
const maxNodeIDLen = 300

// maxNodes is how many ids nodes(ids:) takes at once.
const maxNodes = 100

// node finds the object an id names. Key and membership ids carry their
// type in a prefix; event ids are integers; every other id is a UUID unique
// across the tables, so the types that have them are tried in turn. Each
// read authorizes as the type's own query does, and what the caller may
// not see is nil, like what does not exist.
func (r *Resolver) node(ctx context.Context, id string) (model.Node, error) {
	if err := apperr.CheckText("id", id); err != nil {
		return nil, err
	}
	if len(id) > maxNodeIDLen {
		return nil, apperr.Invalid("id", "id must be at most %d bytes", maxNodeIDLen)
	}
	found, err := r.findNode(ctx, id)
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return nil, nil
	}
	return found, err
}

func (r *Resolver) findNode(ctx context.Context, id string) (model.Node, error) {
	if rest, ok := strings.CutPrefix(id, model.KeyValueIDPrefix); ok {
		projectID, path, ok := strings.Cut(rest, ":")
		if !ok {
			return nil, nil
		}
		kv, err := r.ApprovalService.Keys().Get(ctx, projectID, path)
		if err != nil || kv == nil {
			if apperr.CodeOf(err) == apperr.CodeBadUserInput {
				return nil, nil // not a path: no such key
			}
			return nil, err
		}
		return toKeyValue(*kv), nil
	}
	if rest, ok := strings.CutPrefix(id, model.MemberIDPrefix); ok {
		projectID, userID, ok := strings.Cut(rest, ":")
		if !ok {
			return nil, nil
		}
		members, err := r.ProjectService.Members(ctx, projectID)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			if m.UserID == userID {
				return toMember(m), nil
			}
		}
		return nil, nil
	}
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		ev, err := r.EventQueries.Get(ctx, n)
		if err != nil {
			return nil, err
		}
		return toEvent(*ev), nil
	}
	if _, err := uuid.Parse(id); err != nil {
		return nil, nil
	}
	for _, try := range []func() (model.Node, error){
		func() (model.Node, error) {
			a, err := r.ApprovalService.Get(ctx, id)
			if err != nil {
				return nil, err
			}
			return toApproval(*a), nil
		},
		func() (model.Node, error) {
			p, err := r.ProjectService.Get(ctx, id)
			if err != nil {
				return nil, err
			}
			return toProject(*p), nil
		},
		func() (model.Node, error) {
			c, err := r.SlackService.Get(ctx, id, project.ReadSettings)
			if err != nil {
				return nil, err
			}
			return toSlackChannel(*c), nil
		},
		func() (model.Node, error) {
			e, err := r.WebhookService.Get(ctx, id, project.ReadSettings)
			if err != nil {
				return nil, err
			}
			return toWebhookEndpoint(*e), nil
		},
		func() (model.Node, error) {
			d, err := r.Dispatcher.Delivery(ctx, id)
			if err != nil {
				return nil, err
			}
			return toDelivery(*d), nil
		},
		func() (model.Node, error) {
			d, err := r.Dispatcher.WebhookDelivery(ctx, id)
			if err != nil {
				return nil, err
			}
			return toWebhookDelivery(*d), nil
		},
		func() (model.Node, error) {
			d, err := r.Dispatcher.CallbackDelivery(ctx, r.ApprovalService, id)
			if err != nil {
				return nil, err
			}
			return toCallbackDelivery(*d), nil
		},
		func() (model.Node, error) {
			k, err := r.ProjectService.APIKey(ctx, id)
			if err != nil {
				return nil, err
			}
			return toAPIKey(*k), nil
		},
		func() (model.Node, error) {
			u, err := r.ProjectService.VisibleUser(ctx, id)
			if err != nil {
				return nil, err
			}
			return toUser(*u), nil
		},
	} {
		n, err := try()
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			continue
		}
		return n, err
	}
	return nil, nil
}

// nodes is node for each id, in order.
func (r *Resolver) nodes(ctx context.Context, ids []string) ([]model.Node, error) {
	if len(ids) > maxNodes {
		return nil, apperr.Invalid("ids", "at most %d ids at once", maxNodes)
	}
	out := make([]model.Node, len(ids))
	for i, id := range ids {
		n, err := r.node(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}
