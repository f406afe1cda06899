# RESQUECONFIG for resque-web in the scheduler compat tests: resque-scheduler's
# Schedule and Delayed tabs, showing the dynamic (persistent) schedules in Redis.
require "resque-scheduler"
require "resque/scheduler/server"
Resque::Scheduler.dynamic = true
