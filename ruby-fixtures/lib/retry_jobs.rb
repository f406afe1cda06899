# resque-retry jobs for the retry compat tests (run with Gemfile.retry:
# resque 2.7, resque-scheduler 4.11, resque-retry 1.8.1).
require "resque-retry"
require "resque-scheduler"
require "resque/failure/redis"

# What resque-retry's README sets up: failures reach the failed list only
# once retries are exhausted.
Resque::Failure::MultipleWithRetrySuppression.classes = [Resque::Failure::Redis]
Resque::Failure.backend = Resque::Failure::MultipleWithRetrySuppression

# Always fails; retried up to 3 times, each retry 1 second later.
class RetryJob
  extend Resque::Plugins::Retry
  @queue = :retry
  @retry_limit = 3
  @retry_delay = 1

  def self.perform(*args)
    Fixtures.record(self, args)
    raise ArgumentError, "always fails"
  end
end
