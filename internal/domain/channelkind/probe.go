package channelkind

import (
	"context"
	"fmt"
	"time"

	"github.com/ottr/backend/internal/domain/project"
	"github.com/ottr/backend/internal/platform/apperr"
	"github.com/ottr/backend/internal/platform/store"
)

// TestResult is the receiver's answer to a test message.
type TestResult struct {
	OK         bool
	StatusCode int    // 0 when no answer arrived
	Error      string // the receiver's error or the transport error
	Latency    time.Duration
}

// PrepareTest is what a test message needs before the kind formats and
// sends it: the row, for a caller who may manage it and has not sent too
// many tests to it lately, and its project.
func (s *Service[R, P]) PrepareTest(ctx context.Context, id string) (P, *project.Project, error) {
	row, err := s.Get(ctx, id, project.ManageSlack)
	if err != nil {
		return nil, nil, err
	}
	c := row.common()
	if ok, wait := s.tests.Allow(c.ID); !ok {
		return nil, nil, apperr.RateLimited(wait)
	}
	var p project.Project
	if err := s.store.DB(ctx).Where("id = ?", c.ProjectID).Take(&p).Error; err != nil {
		if store.IsNotFound(err) {
			// Deleted since the row was read.
			return nil, nil, apperr.NotFound(s.kind.Noun)
		}
		return nil, nil, fmt.Errorf("load project %s: %w", c.ProjectID, err)
	}
	return row, &p, nil
}
