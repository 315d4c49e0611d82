-- Hardening: idempotency keys scoped to their owner, workspaces that must exist to be
-- named, an audit queue nothing can empty unseen, onboarding secrets kept only while used.

-- Idempotency keys belong to a key space: `caller` for keys an API caller sent, `service`
-- for keys the service derives itself (schedule ticks, template submissions, onboardings),
-- which no caller can write. Within a space a key is unique per workspace and workflow.
alter table runs add column idempotency_scope text
    check (idempotency_scope in ('caller', 'service'));
update runs set idempotency_scope = case
        when idempotency_key like 'schedule:%'
             and initiator = 'schedule:' || split_part(idempotency_key, ':', 2) then 'service'
        when idempotency_key ~ '^(template:[0-9]+|onboarding:[0-9a-f-]{36})$' then 'service'
        else 'caller'
    end
where idempotency_key is not null;
alter table runs add constraint runs_idempotency_scope_named
    check ((idempotency_key is null) = (idempotency_scope is null));
alter table runs drop constraint runs_idempotency_key_unique;
create unique index runs_idempotency_idx
    on runs (idempotency_scope, workspace_id, workflow, idempotency_key) nulls not distinct
    where idempotency_key is not null;

-- A workspace must exist to be named by a run or a key. `not valid`: rows written before
-- this rule are left as they are; every new row is checked.
alter table runs add constraint runs_workspace_fk
    foreign key (workspace_id) references workspaces (id) not valid;
alter table api_keys add constraint api_keys_workspace_fk
    foreign key (workspace_id) references workspaces (id) not valid;

-- The queue of entries waiting to be chained is as protected as the ledger: a row leaves
-- it only once its entry is in the chain, and nothing updates or truncates it.
create function audit_unchained_refuse_change() returns trigger
language plpgsql as $$
begin
    if tg_op = 'DELETE'
       and exists (select 1 from audit_chain where entry_id = old.entry_id) then
        return old;
    end if;
    raise exception 'an audit entry leaves the pending queue only once chained: % refused', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger audit_unchained_only_chained_leave
    before update or delete on audit_unchained
    for each row execute function audit_unchained_refuse_change();
create trigger audit_unchained_no_truncate
    before truncate on audit_unchained
    for each statement execute function audit_ledger_refuse_change();

-- The code is cleared once exchanged and the row deleted once the number is registered,
-- the onboarding ends or the workspace closes.
alter table onboarding_secrets alter column code_sealed drop not null;
