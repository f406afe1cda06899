# Usage: QUEUES=aj_retry work_activejob_retry.rb
# A Resque worker with ActiveJob, resque-scheduler and RetryingJob loaded, in
# drain mode (interval 0): it works the queues until they are empty, then exits.
require_relative "../lib/active_jobs"
require_relative "../lib/retry_active_jobs"

queues = (ENV["QUEUES"] || "*").split(",").map(&:strip)
Resque::Worker.new(*queues).work(0)
