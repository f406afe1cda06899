# ActiveJob retry_on across Ruby and Python workers (with active_jobs.rb and
# resque-scheduler loaded, as a Rails app that uses `wait:` has them).
require "resque-scheduler"

# Fails in Ruby every time; retry_on gives it 4 attempts, 1 second apart.
class RetryingJob < ApplicationJob
  queue_as :aj_retry
  retry_on ArgumentError, wait: 1, attempts: 4, jitter: 0

  def perform(*args)
    Fixtures.raw_redis.rpush(Fixtures::RESULTS_KEY, JSON.generate(
      "class" => self.class.name, "args" => args, "executions" => executions,
      "exception_executions" => exception_executions, "job_id" => job_id,
    ))
    raise ArgumentError, "fails in Ruby"
  end
end
