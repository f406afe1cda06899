# BenchNoop: the benchmark's job, twin of bench/jobs.py, so one payload works
# for the Ruby and the Python worker.
#   args []                       -> nothing (the throughput load)
#   args ["stamp", key, enq_at]   -> RPUSH key {"t": now, "enq": enq_at, "pid": pid}
# "t" is taken first (Unix epoch seconds, same clock as Python's time.time()).
class BenchNoop
  @queue = :bench

  def self.perform(*args)
    return if args.empty?

    now = Time.now.to_f
    return unless args[0] == "stamp"

    Fixtures.raw_redis.rpush(args[1], JSON.generate("t" => now, "enq" => args[2], "pid" => Process.pid))
  end
end
