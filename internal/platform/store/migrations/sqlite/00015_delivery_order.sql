-- +goose Up
-- Order per channel. A channel whose ordering is PER_APPROVAL sends the
-- messages about one approval one at a time, in the order of their
-- events; NONE sends each as soon as it can.
ALTER TABLE slack_channels ADD COLUMN ordering TEXT NOT NULL DEFAULT 'PER_APPROVAL' CHECK (ordering IN ('PER_APPROVAL', 'NONE'));
ALTER TABLE webhook_endpoints ADD COLUMN ordering TEXT NOT NULL DEFAULT 'PER_APPROVAL' CHECK (ordering IN ('PER_APPROVAL', 'NONE'));

-- ordered_by is the approval whose order a delivery keeps: set when its
-- channel orders per approval and its event is about one. Such a delivery
-- that has an earlier one of the same (channel, approval) still to be
-- settled is added without a job (job_id NULL); the settling of the
-- earlier one gives it its job.
ALTER TABLE deliveries ADD COLUMN ordered_by TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN ordered_by TEXT;

-- The deliveries still to be settled of one (channel, approval), in event
-- order: small, since settled ones leave it.
CREATE INDEX deliveries_unsettled_order ON deliveries (channel_id, ordered_by, event_id)
    WHERE ordered_by IS NOT NULL AND status IN ('PENDING', 'RETRYING');
CREATE INDEX webhook_deliveries_unsettled_order ON webhook_deliveries (channel_id, ordered_by, event_id)
    WHERE ordered_by IS NOT NULL AND status IN ('PENDING', 'RETRYING');

-- +goose Down
DROP INDEX webhook_deliveries_unsettled_order;
DROP INDEX deliveries_unsettled_order;
ALTER TABLE webhook_deliveries DROP COLUMN ordered_by;
ALTER TABLE deliveries DROP COLUMN ordered_by;
ALTER TABLE webhook_endpoints DROP COLUMN ordering;
ALTER TABLE slack_channels DROP COLUMN ordering;
