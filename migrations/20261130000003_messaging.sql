-- Inbox: one row per postback message the worker has applied. A redelivered or resent
-- postback carries the same message id and stops at the primary key.
CREATE TABLE processed_messages (
    message_id TEXT PRIMARY KEY,
    payment_id BIGINT NULL REFERENCES payments (id),
    outcome TEXT NOT NULL,
    -- When webhook-ingest received the postback, and when the worker applied it.
    received_at TIMESTAMPTZ NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- Outbox: events written in the same transaction as the change they announce, published
-- after commit by the relay and marked sent once the broker confirmed them.
CREATE TABLE outbox_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    routing_key TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ NULL
);
CREATE INDEX outbox_events_unpublished_idx ON outbox_events (id) WHERE published_at IS NULL;

-- Checkout idempotency keys, per user. A request claims its key by inserting the row;
-- the response is stored once the payment exists.
CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    payment_id BIGINT NULL REFERENCES payments (id),
    response_status SMALLINT NULL,
    response_body JSONB NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL DEFAULT now() + INTERVAL '24 hours',
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
