-- Requests from public authorities (docs/AUTHORITY.md): the request as received, its
-- review, the approved scope beside the requested one, the preservation holds placed for
-- it, the minimal disclosure package, the disclosure and its basis, and the notices to the
-- businesses concerned. And the audit chain's link format 2 (docs/EVIDENCE.md).

create table authority_requests (
    id uuid primary key,
    authority text not null,
    jurisdiction text not null,
    instrument text not null
        check (instrument in ('subpoena', 'court_order', 'warrant', 'preservation', 'emergency', 'other')),
    reference text not null,
    received_at timestamptz not null,
    due_at timestamptz,
    -- {workspaces?, customers?, categories, from?, to?}, as asked and as approved.
    requested_scope jsonb not null,
    approved_scope jsonb,
    -- What the approval left out of the request, axis by axis.
    narrowed jsonb,
    nondisclosure_ordered boolean not null,
    nondisclosure_until timestamptz,
    -- The documents served ({name, sha256}); the files themselves are kept elsewhere.
    documents jsonb not null default '[]',
    recipient text not null,
    status text not null,
    -- How it ended: rejected, disclosed, withheld, preserved, lapsed.
    outcome text,
    -- The review: valid, invalid or needs_clarification, by whom, why.
    verdict text,
    verdict_reason text,
    reviewed_by text,
    reviewed_at timestamptz,
    hold_ids uuid[] not null default '{}',
    package_sha256 text,
    -- Per category: the instrument and the rule that allowed it.
    basis jsonb,
    disclosed_at timestamptz,
    disclosed_by text,
    run_id uuid,
    filed_by text not null,
    created_at timestamptz not null default now(),
    closed_at timestamptz
);
create index authority_requests_received_idx on authority_requests (received_at, id);
create index authority_requests_open_idx on authority_requests (due_at) where closed_at is null;

-- What happened to a request, in order. Each event's SHA-256 is in the audit ledger, so
-- an evidence bundle's timeline is checked against the chain.
create table authority_request_events (
    id bigserial primary key,
    request_id uuid not null references authority_requests (id),
    at timestamptz not null default now(),
    kind text not null,
    actor text not null,
    detail jsonb not null default '{}'
);
create index authority_request_events_request_idx on authority_request_events (request_id, id);

-- The minimal disclosure package: one file per category of the approved scope and a
-- manifest with each file's SHA-256. The files go once the download window closes; the
-- manifest stays as the record of what was disclosed.
create table authority_packages (
    request_id uuid primary key references authority_requests (id),
    manifest jsonb not null,
    sha256 text not null,
    files jsonb,
    files_expire_at timestamptz,
    created_at timestamptz not null default now()
);

-- Notices to the businesses whose data was disclosed: scheduled for the end of a
-- nondisclosure order, sent once.
create table authority_notices (
    request_id uuid not null references authority_requests (id),
    workspace_id text not null references workspaces (id),
    status text not null check (status in ('scheduled', 'sent', 'withheld')),
    send_at timestamptz,
    sent_at timestamptz,
    body jsonb not null,
    created_at timestamptz not null default now(),
    primary key (request_id, workspace_id)
);
create index authority_notices_workspace_idx on authority_notices (workspace_id, created_at);

-- Link format 2 hashes the previous hash and the entry's SHA-256, so a stretch of the
-- chain can be checked from entry digests alone. Links written before stay format 1.
alter table audit_chain add column link smallint not null default 1;
alter table audit_chain alter column link set default 2;
