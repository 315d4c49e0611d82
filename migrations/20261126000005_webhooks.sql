-- Webhook deliveries from Meta, exactly as received (signature already checked),
-- deduplicated by the SHA-256 of the body: Meta retries and sometimes repeats deliveries.
create table webhook_events (
    id bigserial primary key,
    body bytea not null,
    body_sha256 bytea not null unique,
    received_at timestamptz not null default now(),
    processed_at timestamptz,
    error text
);
create index webhook_events_unprocessed_idx on webhook_events (id) where processed_at is null;

-- The latest known state of each outbound message; it only moves forward.
create table message_statuses (
    message_id text primary key,
    workspace_id text,
    status text not null check (status in ('sent', 'failed', 'delivered', 'read')),
    error_code bigint,
    updated_at timestamptz not null default now()
);

-- Inbound messages and button replies, for the reminder work.
create table inbound_messages (
    message_id text primary key,
    workspace_id text,
    from_number text not null,
    message_type text not null,
    payload jsonb not null,
    received_at timestamptz not null default now()
);

-- The template-approval run following a template.
alter table whatsapp_templates add column run_id uuid;
