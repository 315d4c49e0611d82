-- Privacy requests (deletion, access, disconnect) about a business account or one of its
-- customers, their timeline and deadline extensions; and the runs waiting for legal holds
-- to be released (docs/PRIVACY.md, docs/DATA.md).

create table privacy_requests (
    id uuid primary key,
    -- The business account (null: a Meta user's request through Meta's data deletion
    -- callback, which names no business).
    workspace_id text references workspaces (id),
    meta_user_sha256 text,
    -- What the requester looks the request up by on the public status page.
    confirmation_code text unique,
    kind text not null check (kind in ('deletion', 'access', 'disconnect')),
    -- controller: the business account's own data; processor: its customer's data, on the
    -- business's verified instruction.
    mode text not null check (mode in ('controller', 'processor')),
    -- The customer the request is about (a wa_id or phone digits; null: the business
    -- account itself), and its SHA-256, which stays when the number is erased.
    customer text,
    customer_sha256 text,
    requester_name text,
    requester_contact text,
    requester_relation text not null,
    jurisdiction text not null check (jurisdiction in ('gdpr', 'ccpa', 'other')),
    channel text not null,
    notes text,
    received_at timestamptz not null,
    acknowledge_by date,
    due_on date not null,
    extensions int not null default 0,
    status text not null,
    run_id uuid,
    filed_by text not null,
    verification_method text,
    verified_at timestamptz,
    denial_reason text,
    hold_ids uuid[] not null default '{}',
    receipts jsonb,
    closed_at timestamptz,
    created_at timestamptz not null default now(),
    check (kind <> 'disconnect' or customer is null),
    check (workspace_id is not null or meta_user_sha256 is not null)
);
create index privacy_requests_workspace_idx on privacy_requests (workspace_id, id);
create index privacy_requests_open_idx on privacy_requests (due_on) where closed_at is null;

-- What happened to a request, in order: intake, verification, decisions, hold waits,
-- receipts, the response. Ids and reasons only: the people are named by handle.
create table privacy_request_events (
    id bigserial primary key,
    request_id uuid not null references privacy_requests (id),
    at timestamptz not null default now(),
    kind text not null,
    actor text not null,
    detail jsonb not null default '{}'
);
create index privacy_request_events_request_idx on privacy_request_events (request_id, id);

-- Each extension of a request's due date, with its reason and when the requester was told.
create table privacy_extensions (
    request_id uuid not null references privacy_requests (id),
    seq int not null,
    from_due date not null,
    to_due date not null,
    reason text not null,
    notice_at timestamptz not null,
    extended_by text not null,
    extended_at timestamptz not null default now(),
    primary key (request_id, seq)
);

-- Runs waiting until none of these holds is in force any more; a hold's release or
-- expiry posts `event` (with this correlation) to them.
create table hold_waits (
    run_id uuid primary key,
    event text not null,
    correlation text not null,
    hold_ids uuid[] not null,
    since timestamptz not null default now()
);

-- One-time codes sent to a customer's WhatsApp number to verify a request: only the
-- code's keyed digest is stored; a fresh code supersedes the one before.
create table privacy_verification_codes (
    request_id uuid not null references privacy_requests (id),
    seq int not null,
    code_digest bytea not null,
    expires_at timestamptz not null,
    attempts int not null default 0,
    status text not null default 'open'
        check (status in ('open', 'used', 'superseded', 'exhausted')),
    message_id text,
    created_at timestamptz not null default now(),
    primary key (request_id, seq)
);

-- Access requests' export packages: one JSON file per data category and a manifest with
-- each file's SHA-256. Fetched through a link whose token is stored as a keyed digest,
-- a limited number of times until it expires; the files are deleted when it expires.
create table privacy_packages (
    request_id uuid primary key references privacy_requests (id),
    workspace_id text not null,
    customer text,
    manifest jsonb not null,
    files jsonb,
    token_digest bytea,
    expires_at timestamptz,
    fetches_left int not null default 0,
    created_at timestamptz not null default now()
);
