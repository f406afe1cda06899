# Ruby job classes the compat tests enqueue from Python (and from Ruby).

# Records exactly what perform received.
class Recorder
  @queue = :record

  def self.perform(*args)
    Fixtures.record(self, args)
  end
end

module Mailers
  class Welcome
    @queue = :mail

    def self.perform(*args)
      Fixtures.record(self, args)
    end
  end
end

# Always raises, to produce Ruby-written failure records.
class Exploder
  @queue = :record

  def self.perform(*args)
    raise ArgumentError, "exploded with #{args.inspect}"
  end
end

# Runs until the test sets the release key, so a test can look at a worker mid-job.
class Waiter
  @queue = :record

  def self.perform(release_key, *args)
    Fixtures.record(self, args)
    sleep 0.01 until Fixtures.raw_redis.get(release_key)
  end
end

# A job no Python module registers: a Python worker must leave it to Ruby.
class RubyOnly
  @queue = :record

  def self.perform(*args)
    Fixtures.record(self, args)
  end
end
