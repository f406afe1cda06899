# Usage: QUEUES=a,b [INTERVAL=0.1] work_hooked.rb
# work.rb plus two jobs for the worker compat tests:
# * HookedWaiter: a Waiter whose on_failure hook records which exception it
#   was called with, to see when Ruby runs failure hooks (a child killed by
#   a signal, a pruned dead worker...);
# * Ticker: counts its loops in a key until released, then records "done",
#   so a test can see a job keep running after a signal was handled;
# * Quitter: ends its (forked) process with exit!(code), no exception.
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

class Ticker
  @queue = :record

  def self.perform(release_key, counter_key, *args)
    Fixtures.record(self, args)
    until Fixtures.raw_redis.get(release_key)
      Fixtures.raw_redis.incr(counter_key)
      sleep 0.01
    end
    Fixtures.record(self, args + ["done"])
  end
end

class Quitter
  @queue = :record

  def self.perform(code)
    exit!(code)
  end
end

queues = (ENV["QUEUES"] || ENV["QUEUE"] || "*").split(",").map(&:strip)
Resque::Worker.new(*queues).work(Float(ENV.fetch("INTERVAL", "0")))
