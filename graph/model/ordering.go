package model

// Ordering is a channel's DeliveryOrdering.
type Ordering = DeliveryOrdering
