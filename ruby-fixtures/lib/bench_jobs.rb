# BenchNoop: the benchmark's job, twin of bench/jobs.py, so one payload works
# for the Ruby and the Python worker.
#   args []                       -> nothing (the throughput load)
#   args ["stamp", key, enq_at]   -> RPUSH key {"t": now, "enq": enq_at, "pid": pid}
#   args ["barrier", key, n]      -> INCR key, then wait until it reaches n
# "t" is taken first (Unix epoch seconds, same clock as Python's time.time()).
class BenchNoop
  @queue = :bench
  BARRIER_TIMEOUT_S = 60.0

  def self.perform(*args)
    return if args.empty?

    now = Time.now.to_f
    case args[0]
    when "stamp"
      Fixtures.raw_redis.rpush(args[1], JSON.generate("t" => now, "enq" => args[2], "pid" => Process.pid))
    when "barrier"
      redis = Fixtures.raw_redis
      redis.incr(args[1])
      until redis.get(args[1]).to_i >= Integer(args[2])
        raise "barrier #{args[1]}: fewer than #{args[2]} workers started" if Time.now.to_f > now + BARRIER_TIMEOUT_S

        sleep 0.001
      end
    end
  end
end
