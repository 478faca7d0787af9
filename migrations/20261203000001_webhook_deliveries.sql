-- The event dispatcher's state: merchants' endpoints, every event it received (the exact
-- JSON body it signs, so a retry or a resend sends the same bytes), one delivery per
-- (event, endpoint) with its schedule, and every attempt of each delivery.

CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id UUID PRIMARY KEY,
    url TEXT NOT NULL,
    -- `whsec_` + base64: the dispatcher needs it in clear to sign; never logged or listed.
    secret TEXT NOT NULL,
    -- Event types it is subscribed to; `*` is every type.
    event_types TEXT[] NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    -- From WEBHOOK_ENDPOINTS (re-read at every start) rather than from the admin API.
    from_config BOOLEAN NOT NULL DEFAULT FALSE,
    -- First failed attempt since the last success: disabled once it is old enough.
    failing_since TIMESTAMPTZ NULL,
    disabled_reason TEXT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS webhook_endpoints_config_url
    ON webhook_endpoints (url) WHERE from_config;

CREATE TABLE IF NOT EXISTS webhook_events (
    -- The event id of the message: also `webhook-id`.
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id UUID PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES webhook_events (id),
    endpoint_id UUID NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    -- Attempts of the current schedule (a recover starts a new one).
    attempts INT NOT NULL DEFAULT 0,
    -- When pending: the next attempt, or, while one is in flight, when its lease ends (a
    -- dispatcher that died mid-attempt leaves it due again then).
    next_attempt_at TIMESTAMPTZ NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_endpoint
    ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE IF NOT EXISTS webhook_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id UUID NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at TIMESTAMPTZ NOT NULL,
    -- The HTTP status, when an answer came.
    response_status INT NULL,
    -- Why it failed without an answer (timeout, refused, TLS, …).
    error TEXT NULL,
    duration_ms INT NOT NULL,
    -- `schedule` or `resend`.
    trigger TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
