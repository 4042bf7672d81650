package graph

import (
	"github.com/ottr/backend/graph/model"
	"github.com/ottr/backend/internal/domain/slack"
)

// orderingOf is an ordering given as input; empty when omitted.
func orderingOf(o *model.DeliveryOrdering) slack.Ordering {
	if o == nil {
		return ""
	}
	return slack.Ordering(*o)
}
