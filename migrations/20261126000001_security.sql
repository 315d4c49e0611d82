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
--
-- An entry is inserted in the transaction of the change it records, unchained (seq, prev_hash
-- and hash null). A chainer (one at a time, under the head row's lock) then assigns seq and
-- the hashes in one pass over every committed unchained entry. Changes therefore never queue
-- on the chain, and the chain can never fork.
create table audit_ledger (
    id bigserial primary key,
    at timestamptz not null,
    actor text not null,
    action text not null,
    subject text not null,
    workspace_id text,
    data jsonb not null,
    seq bigint unique,
    prev_hash bytea,
    hash bytea,
    check ((seq is null) = (hash is null) and (seq is null) = (prev_hash is null))
);
create index audit_ledger_unchained_idx on audit_ledger (id) where seq is null;
create index audit_ledger_subject_idx on audit_ledger (subject, seq);
create index audit_ledger_actor_idx on audit_ledger (actor, seq);
create index audit_ledger_action_idx on audit_ledger (action, seq);

-- The end of the chain: the last chained entry's seq and hash.
create table audit_head (
    id boolean primary key default true check (id),
    seq bigint not null,
    hash bytea not null
);
insert into audit_head (seq, hash) values (0, decode(repeat('00', 32), 'hex'));

-- Nothing may change an entry, except chaining it once: setting seq, prev_hash and hash of
-- an unchained entry and touching nothing else.
create function audit_ledger_refuse_change() returns trigger
language plpgsql as $$
begin
    if tg_op = 'UPDATE' then
        if old.seq is null and new.seq is not null
           and new.id = old.id and new.at = old.at and new.actor = old.actor
           and new.action = old.action and new.subject = old.subject
           and new.workspace_id is not distinct from old.workspace_id
           and new.data = old.data then
            return new;
        end if;
    end if;
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
