-- Room for updates in place. An update that changes no indexed column and finds space on
-- its row's page is HOT: no index entry is written and vacuum has less to do. Rows of
-- these tables are updated soon after they are inserted (a run at every step, a step visit
-- when claimed and when finished, an attempt when it ends), and with pages filled to 100 %
-- no update found room: 0 of 40,001 run updates and a third of step updates were HOT in a
-- 5-step benchmark drain.
alter table runs set (fillfactor = 70);
alter table run_steps set (fillfactor = 70);
alter table step_attempts set (fillfactor = 70);

-- `updated_at` changes with every save of a run, so an index on it made no run update HOT.
-- Runs in progress (the search for stranded runs, once a minute) are found through
-- runs_status_idx (status, id desc) like any status; a partial index of their own would
-- be one more entry written by every insert and every change of a run's status.
drop index runs_in_progress_idx;
