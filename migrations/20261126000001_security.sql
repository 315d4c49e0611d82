-- API keys: only the SHA-256 of each token is stored; names are unique forever so an
-- actor named in history and in the audit ledger always means the same key.
create table api_keys (
    id uuid primary key,
    name text not null unique,
    role text not null
        check (role in ('admin', 'integrator', 'compliance_officer', 'compliance_lead', 'auditor')),
    workspace_id text,
    token_sha256 bytea not null unique,
    token_prefix text not null,
    created_by text not null,
    created_at timestamptz not null default now(),
    revoked_at timestamptz,
    revoked_by text
);

-- The role a decider held when deciding, for the record.
alter table step_decisions add column role text;

-- The audit ledger: append-only, each entry chained to its predecessor by
-- hash = SHA-256(prev_hash || canonical JSON of the entry).
create table audit_ledger (
    seq bigint primary key,
    at timestamptz not null,
    actor text not null,
    action text not null,
    subject text not null,
    workspace_id text,
    data jsonb not null,
    prev_hash bytea not null,
    hash bytea not null
);
create index audit_ledger_subject_idx on audit_ledger (subject, seq);
create index audit_ledger_actor_idx on audit_ledger (actor, seq);
create index audit_ledger_action_idx on audit_ledger (action, seq);

-- The end of the chain. Appenders update this one row, so concurrent appenders queue
-- on its row lock and can never fork the chain.
create table audit_head (
    id boolean primary key default true check (id),
    seq bigint not null,
    prev_hash bytea not null,
    hash bytea not null
);
insert into audit_head (seq, prev_hash, hash)
values (0, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'));

create function audit_ledger_refuse_change() returns trigger
language plpgsql as $$
begin
    raise exception 'the audit ledger is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger audit_ledger_append_only
    before update or delete on audit_ledger
    for each row execute function audit_ledger_refuse_change();
create trigger audit_ledger_no_truncate
    before truncate on audit_ledger
    for each statement execute function audit_ledger_refuse_change();

-- Appends entries in order, chaining each to the head. `canonical[i]` is the canonical
-- JSON of entry i (computed by the service, which also verifies the chain with it).
create function audit_append(
    p_at timestamptz[],
    p_actor text[],
    p_action text[],
    p_subject text[],
    p_workspace text[],
    p_data jsonb[],
    p_canonical bytea[]
) returns void
language plpgsql as $$
declare
    i integer;
    head record;
begin
    for i in 1 .. coalesce(array_length(p_at, 1), 0) loop
        update audit_head
        set seq = seq + 1, prev_hash = hash, hash = sha256(hash || p_canonical[i])
        returning seq, prev_hash, hash into head;
        insert into audit_ledger (seq, at, actor, action, subject, workspace_id, data, prev_hash, hash)
        values (head.seq, p_at[i], p_actor[i], p_action[i], p_subject[i], p_workspace[i],
                p_data[i], head.prev_hash, head.hash);
    end loop;
end;
$$;
