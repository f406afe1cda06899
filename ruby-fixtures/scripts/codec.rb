# Usage: codec.rb MODE [ARGS...] < input.json
# Ruby's side of the payload codec checks, batched so a test pays for one
# Ruby start. Input is JSON on stdin (written by Python's stdlib encoder, not
# by pyresque); output is JSON on stdout.
#
#   reference CLASS [QUEUE]  input: list of argument lists. For each, what
#                            Resque.encode writes for {class, args} and
#                            args.inspect; with QUEUE, also enqueues it there
#                            with Resque.enqueue_to and reports the bytes pushed.
#   dequeue CLASS            input: list of argument lists. Resque.dequeue(CLASS,
#                            *args) for each; prints the counts removed.
#   floats                   input: list of [hex bits, text]. For each: the text
#                            Ruby writes for the float with those IEEE bits, and
#                            the bits Ruby reads back from text.
#   decode                   input: list of payload texts. For each, whether
#                            Resque.decode accepts it, and the inspect or error.
require_relative "../lib/fixtures"

def job_class(name)
  Object.const_defined?(name) ? Object.const_get(name) : name
end

mode, *rest = ARGV
input = JSON.parse($stdin.read, max_nesting: false)

out =
  case mode
  when "reference"
    klass, queue = rest
    input.map do |args|
      row = { "encoded" => Resque.encode(:class => klass, :args => args), "inspect" => args.inspect }
      if queue
        Resque.enqueue_to(queue, job_class(klass), *args)
        row["pushed"] = Resque.redis.lindex("queue:#{queue}", -1)
      end
      row
    end
  when "dequeue"
    klass = job_class(rest.fetch(0))
    input.map { |args| Resque.dequeue(klass, *args) }
  when "floats"
    input.map do |hex, text|
      value = [hex].pack("H*").unpack1("G")
      [Resque.encode([value])[1..-2], [Resque.decode("[#{text}]").first].pack("G").unpack1("H*")]
    end
  when "decode"
    input.map do |text|
      { "ok" => true, "inspect" => Resque.decode(text).inspect }
    rescue Resque::Helpers::DecodeException => e
      { "ok" => false, "error" => e.class.to_s }
    end
  else
    abort "unknown mode #{mode.inspect}"
  end

Fixtures.emit(out)
