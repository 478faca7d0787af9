-- The expiry whose grace period was announced (`subscription.grace_started`): set in the
-- statement that writes the event, so each expiry's grace is announced once, however many
-- sweeps and workers run. Safe to run twice.
ALTER TABLE users ADD COLUMN IF NOT EXISTS grace_announced_for TIMESTAMPTZ NULL;
