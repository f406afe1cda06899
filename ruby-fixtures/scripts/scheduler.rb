# Usage: [SCHEDULE_FILE=schedule.yml] scheduler.rb
# Runs the real resque-scheduler loop (what `rake resque:scheduler` runs),
# with its own environment variables: RESQUE_SCHEDULER_INTERVAL,
# LOCK_TIMEOUT, DYNAMIC_SCHEDULE, RESQUE_SCHEDULER_MASTER_LOCK_PREFIX...
require "yaml"
require_relative "../lib/fixtures"
require "resque-scheduler"

Resque::Scheduler.verbose = true
if ENV["SCHEDULE_FILE"]
  Resque.schedule = YAML.load_file(ENV["SCHEDULE_FILE"])
end
Resque::Scheduler.run
