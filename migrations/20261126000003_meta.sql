-- Every outbound Graph API call: what, for whom, how it went. Never a token or a body.
create table graph_calls (
    id bigserial primary key,
    at timestamptz not null default now(),
    operation text not null,
    workspace_id text,
    run_id uuid,
    step_id text,
    outcome text not null check (outcome in ('ok', 'error')),
    http_status integer,
    error_code bigint,
    duration_ms double precision not null
);
create index graph_calls_workspace_idx on graph_calls (workspace_id, id desc);
create index graph_calls_run_idx on graph_calls (run_id, id) where run_id is not null;
