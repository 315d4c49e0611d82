-- Workflow engine state. apalis keeps its job queue in its own schema (`apalis`);
-- these tables hold the truth about definitions, runs, steps and their history.

create table workflow_definitions (
    name text not null,
    version integer not null,
    sha256 text not null,
    description text not null,
    source text not null,
    registered_at timestamptz not null default now(),
    primary key (name, version)
);

create table runs (
    id uuid primary key,
    workflow text not null,
    workflow_version integer not null,
    workspace_id text,
    status text not null
        check (status in ('running', 'waiting', 'succeeded', 'failed', 'cancelled')),
    input jsonb not null,
    context jsonb not null,
    current_step text,
    current_seq integer not null default 0,
    generation bigint not null default 0,
    idempotency_key text,
    initiator text not null,
    error text,
    cancel_reason text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    finished_at timestamptz,
    foreign key (workflow, workflow_version) references workflow_definitions (name, version),
    constraint runs_idempotency_key_unique unique (idempotency_key)
);
create index runs_workflow_idx on runs (workflow, id desc);
create index runs_status_idx on runs (status, id desc);
create index runs_workspace_idx on runs (workspace_id, id desc);

-- One row per visit of a step (a step can be visited again through a transition).
create table run_steps (
    run_id uuid not null references runs (id) on delete cascade,
    seq integer not null,
    step_id text not null,
    kind text not null,
    status text not null
        check (status in ('pending', 'running', 'retrying', 'waiting', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    attempts integer not null default 0,
    outcome text,
    output jsonb,
    error text,
    wake_at timestamptz,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    primary key (run_id, seq)
);

-- Every attempt of every task step, including ones a dead worker never finished.
create table step_attempts (
    run_id uuid not null,
    seq integer not null,
    attempt integer not null,
    worker text not null,
    status text not null
        check (status in ('running', 'succeeded', 'failed', 'abandoned')),
    outcome text,
    output jsonb,
    error text,
    retryable boolean,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    primary key (run_id, seq, attempt),
    foreign key (run_id, seq) references run_steps (run_id, seq) on delete cascade
);

-- What happened to a run, in order.
create table run_history (
    id bigserial primary key,
    run_id uuid not null references runs (id) on delete cascade,
    at timestamptz not null default now(),
    kind text not null,
    step_id text,
    actor text,
    data jsonb not null default '{}'
);
create index run_history_run_idx on run_history (run_id, id);

-- Events posted to a run; a wait_event step consumes the first matching one.
create table run_events (
    id bigserial primary key,
    run_id uuid not null references runs (id) on delete cascade,
    name text not null,
    correlation text not null,
    payload jsonb not null,
    received_at timestamptz not null default now(),
    consumed_seq integer
);
create index run_events_open_idx on run_events (run_id, name, correlation) where consumed_seq is null;

create table step_decisions (
    run_id uuid not null,
    seq integer not null,
    actor text not null,
    decision text not null check (decision in ('approve', 'reject')),
    reason text not null,
    decided_at timestamptz not null default now(),
    primary key (run_id, seq, actor),
    foreign key (run_id, seq) references run_steps (run_id, seq) on delete cascade
);

-- Recurring schedules: when each was first seen and the latest tick that started a run.
create table schedules (
    name text primary key,
    first_seen_at timestamptz not null default now(),
    last_tick_at timestamptz
);
