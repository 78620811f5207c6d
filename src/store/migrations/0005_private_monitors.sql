-- Monitors marked `private: true` run, keep their results and streaks, and show in the logs,
-- but nothing public comes from them: their rows are flagged so that component status, uptime
-- and latency figures, automatic incidents and notifications leave them out.
ALTER TABLE monitor_state ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
ALTER TABLE check_results ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
