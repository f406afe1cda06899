# Usage: QUEUES=a,b [INTERVAL=0.1] work_hooked.rb
# work.rb plus HookedWaiter: a Waiter whose on_failure hook records which
# exception it was called with, so the compat tests can see when Ruby runs
# failure hooks (a child killed by a signal, a pruned dead worker...).
require_relative "../lib/fixtures"

class HookedWaiter
  @queue = :record

  def self.perform(release_key, *args)
    Fixtures.record(self, args)
    sleep 0.01 until Fixtures.raw_redis.get(release_key)
  end

  def self.on_failure_record(exception, _release_key, *args)
    Fixtures.raw_redis.rpush(Fixtures::RESULTS_KEY, JSON.generate(
      "class" => "HookedWaiter", "hook" => "on_failure", "exception" => exception.class.to_s,
      "args" => args, "pid" => Process.pid,
    ))
  end
end

queues = (ENV["QUEUES"] || ENV["QUEUE"] || "*").split(",").map(&:strip)
Resque::Worker.new(*queues).work(Float(ENV.fetch("INTERVAL", "0")))
