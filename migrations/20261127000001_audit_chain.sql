-- The audit chain moves out of the ledger rows into a table of its own.
--
-- Chaining used to set seq, prev_hash and hash on each ledger row: an UPDATE that rewrote
-- the whole entry (its data included) and every index on it, right after the entry was
-- written, and left a dead row behind for vacuum. Now a ledger row is written once and
-- never touched: an entry waiting for its link is listed in `audit_unchained` (written in
-- the same statement as the entry), and the chainer moves it from there to `audit_chain`
-- (seq, entry id, hashes), small rows with two indexes.
--
-- Neither table has a foreign key to the ledger: the check would cost a lookup per entry
-- on the path every change takes, and verification already reports a link whose entry is
-- missing (the chain shows a gap).

drop trigger audit_ledger_append_only on audit_ledger;

create table audit_chain (
    seq bigint primary key,
    entry_id bigint not null unique,
    prev_hash bytea not null,
    hash bytea not null
);
insert into audit_chain (seq, entry_id, prev_hash, hash)
select seq, id, prev_hash, hash from audit_ledger where seq is not null;

-- Committed entries not yet linked; the chainer takes them in id order.
create table audit_unchained (
    entry_id bigint primary key
);
insert into audit_unchained (entry_id) select id from audit_ledger where seq is null;

-- Dropping the columns drops the indexes and the check that involve them.
alter table audit_ledger drop column seq, drop column prev_hash, drop column hash;
-- Filters of the ledger's listing; entries are ordered by id within a subject, actor or
-- action, and id order is chain order but for entries committed late.
create index audit_ledger_subject_idx on audit_ledger (subject, id);
create index audit_ledger_actor_idx on audit_ledger (actor, id);
create index audit_ledger_action_idx on audit_ledger (action, id);

-- Nothing may change an entry or a link once written.
create or replace function audit_ledger_refuse_change() returns trigger
language plpgsql as $$
begin
    raise exception 'the audit ledger is append-only: % on % refused', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger audit_ledger_append_only
    before update or delete on audit_ledger
    for each row execute function audit_ledger_refuse_change();
create trigger audit_chain_append_only
    before update or delete on audit_chain
    for each row execute function audit_ledger_refuse_change();
create trigger audit_chain_no_truncate
    before truncate on audit_chain
    for each statement execute function audit_ledger_refuse_change();
