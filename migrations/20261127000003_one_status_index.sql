-- Runs in progress are found through runs_status_idx (status, id desc), as any status is:
-- a separate partial index on them was one more index entry written by every insert and
-- by every update that changes a run's status.
drop index runs_in_progress_idx;
