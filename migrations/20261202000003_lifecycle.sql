-- Data lifecycle: legal holds, retention policies, sweep reports, and the subject
-- columns the hold check and erasure find records by (docs/DATA.md).

create table legal_holds (
    id uuid primary key,
    kind text not null check (kind in ('litigation', 'regulatory', 'preservation')),
    -- The scope: each part left null covers everything along that axis.
    workspace_id text,
    customers text[],
    categories text[],
    from_at timestamptz,
    to_at timestamptz,
    reason text not null,
    matter_ref text not null,
    placed_by text not null,
    placed_at timestamptz not null default now(),
    expires_at timestamptz,
    renewals int not null default 0 check (renewals between 0 and 1),
    status text not null default 'active' check (status in ('active', 'released', 'expired')),
    release_requests int not null default 0,
    release_run_id uuid,
    released_by text,
    released_at timestamptz,
    check (from_at is null or to_at is null or from_at <= to_at),
    check (kind <> 'preservation' or expires_at is not null),
    check (kind = 'preservation' or renewals = 0)
);
create index legal_holds_active_idx on legal_holds (placed_at) where status = 'active';

-- Which active holds cover a record of `category` belonging to `workspace`, about
-- `customers` (or whose free text mentions one of a hold's customers), timed `at`.
-- A record whose time is unknown is inside every range (the check errs towards keeping).
-- (Parameters are prefixed: in a SQL function a column of the same name would win.)
create function legal_holds_covering(
    p_category text, p_workspace text, p_customers text[], p_mentions text, p_at timestamptz
) returns uuid[] language sql stable as $$
    select coalesce(array_agg(h.id order by h.id), '{}')
    from legal_holds h
    where h.status = 'active'
      and (h.expires_at is null or h.expires_at > now())
      and (h.categories is null or p_category = any (h.categories))
      and (h.workspace_id is null or h.workspace_id = p_workspace)
      and (h.customers is null
           or h.customers && p_customers
           or (p_mentions is not null
               and exists (select 1 from unnest(h.customers) c where strpos(p_mentions, c) > 0)))
      and (p_at is null or h.from_at is null or p_at >= h.from_at)
      and (p_at is null or h.to_at is null or p_at <= h.to_at)
$$;

-- Overrides of the documented defaults (src/lifecycle/retention.rs); a category and
-- status without a row keeps its default.
create table retention_policies (
    category text not null,
    workspace_status text not null check (workspace_status in ('active', 'closed')),
    keep_seconds bigint check (keep_seconds > 0),
    reason text not null,
    updated_by text not null,
    updated_at timestamptz not null default now(),
    primary key (category, workspace_status)
);

-- What each sweep did, per table and workspace; written in the same transaction as
-- the batch it counts, so a sweep resumed after a crash never counts a row twice.
create table retention_sweep_counts (
    run_id uuid not null,
    table_name text not null,
    workspace_id text not null default '',
    deleted bigint not null default 0,
    anonymised bigint not null default 0,
    held bigint not null default 0,
    hold_ids uuid[] not null default '{}',
    millis bigint not null default 0,
    primary key (run_id, table_name, workspace_id)
);

-- Subject columns for deliveries and statuses, filled when a delivery is processed.
alter table webhook_events
    add column workspace_id text,
    add column customers text[] not null default '{}';
alter table message_statuses add column recipient_id text;

-- What the sweep walks in time order, so each batch starts where the last ended.
create index graph_calls_at_idx on graph_calls (at);
create index webhook_events_received_idx on webhook_events (received_at);
create index message_statuses_updated_idx on message_statuses (updated_at);
create index inbound_messages_received_idx on inbound_messages (received_at);
create index template_events_at_idx on template_events (at);
create index runs_finished_idx on runs (finished_at) where finished_at is not null;
