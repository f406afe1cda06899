# Regenerates the test vectors in this directory from the real Ruby side.
#
#   cd ruby-fixtures && bundle exec ruby ../protocol/vectors/generate.rb
#
# Every expected string below is produced by Ruby (Resque.encode, which is
# MultiJson on the json gem, and Ruby's Time formatting), never by pyresque.
# The files are committed as data; regenerate only when the pinned Ruby
# versions change, and review the diff.
require "json"
require "resque"

OUT = File.expand_path(__dir__)

def about
  {
    "ruby" => RUBY_VERSION,
    "json_gem" => JSON::VERSION,
    "resque" => Resque::VERSION,
    "multi_json_adapter" => MultiJson.adapter.to_s,
    "generator" => "protocol/vectors/generate.rb",
  }
end

def write(name, doc)
  File.write(File.join(OUT, name), JSON.pretty_generate(doc, max_nesting: false) + "\n")
  warn "wrote #{name} (#{doc["cases"].size} cases)"
end

# --- inputs as data ----------------------------------------------------------
# JSON cannot carry a float exactly or tell 1.0 from 1, so each Float in an
# input is written as {"$float": <source literal>, "$hex": <C99 %a of its bits>}.
FloatIn = Struct.new(:literal, :value)

SPECIAL = { "NaN" => Float::NAN, "Infinity" => Float::INFINITY, "-Infinity" => -Float::INFINITY }.freeze

def f(literal)
  FloatIn.new(literal, SPECIAL.fetch(literal) { Float(literal) })
end

def ruby_value(x)
  case x
  when FloatIn then x.value
  when Array then x.map { |e| ruby_value(e) }
  when Hash then x.transform_values { |v| ruby_value(v) }
  else x
  end
end

def hexfloat(v)
  return "nan" if v.nan?
  return (v > 0 ? "inf" : "-inf") if v.infinite?
  format("%a", v)
end

def tagged(x)
  case x
  when FloatIn then { "$float" => x.literal, "$hex" => hexfloat(x.value) }
  when Float then { "$float" => x.to_s, "$hex" => hexfloat(x) }
  when Array then x.map { |e| tagged(e) }
  when Hash then x.transform_values { |v| tagged(v) }
  else x
  end
end

def nest(depth)
  depth.zero? ? 1 : [nest(depth - 1)]
end

# --- payloads ------------------------------------------------------------------
cases = []
add = lambda do |name, args, klass: "Recorder", note: nil|
  value = ruby_value(args)
  payload = { "class" => klass, "args" => value }
  text = begin
    Resque.encode(payload)
  rescue StandardError => e
    e
  end
  c = { "name" => name, "class" => klass, "args" => tagged(args) }
  readable = text.is_a?(String) && begin
    Resque.decode(text)
    true
  rescue StandardError
    false
  end
  if readable
    # The json gem's own generator must agree with what Resque writes.
    raise "#{name}: JSON.generate disagrees" unless JSON.generate(payload) == text
    c["expected"] = text
    c["expected_utf8_hex"] = text.unpack1("H*")
  else
    # Ruby either refuses to write it or writes text no Ruby can read back.
    c["error"] = true
    c["ruby_writes"] = text.is_a?(String) ? text.scrub : nil
    c["ruby_error"] = text.is_a?(String) ? "Resque.decode raises (the worker cannot read it)" : "#{text.class}: #{text.message[0, 120]}"
  end
  c["note"] = note if note
  cases << c
end

add.call("no args", [])
add.call("strings and ints", [1, "two"])
add.call("integers", [0, 1, -1, 2**31, -(2**31), 2**53 + 1, 2**63 - 1, 2**64, 2**70, -(2**70)])
add.call("null and booleans", [nil, true, false])
add.call("empty containers", [[], {}, ""])
add.call("nested maps and lists", [{ "a" => { "b" => [1, { "c" => nil }], "d" => [] } }, [[1, 2], [3, [4, [5]]]]])
add.call("map key order is kept", [{ "z" => 1, "a" => 2, "m" => { "y" => 1, "b" => 2 } }])
add.call("unicode keys", [{ "clé" => "värde", "鍵" => "😀" }])
add.call("namespaced class", [42], klass: "Mailers::Welcome")
add.call("activejob wrapper class", [{ "job_class" => "HelloJob", "arguments" => [1] }],
         klass: "ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper")

# Floats: Ruby's Float#to_s layout (json gem <= 2.9).
%w[
  1.0 0.0 -0.0 1e20 0.0001 1e-5 1e15 1e16 1e17 1234567890123456.7 5e-324
  0.1 0.30000000000000004 100.0 123456789012345.6 1.7976931348623157e308
  2.5e-7 3.14 -1.5e-10 1e100 12345678901234567890.0 999999999999999.9
  9999999999999998.0 0.001 0.00012345 1.5 -2.75 4.9406564584124654e-324
  2.2250738585072014e-308 9007199254740993.0 1e21 1e-4 0.5 1e-7 123e-20
].each do |lit|
  add.call("float #{lit}", [f(lit)])
end

# Random bit patterns (fixed seed) to exercise every layout branch.
rng = Random.new(20261123)
randoms = []
while randoms.size < 200
  bits = rng.rand(2**64)
  v = [bits].pack("Q>").unpack1("G")
  next unless v.finite?
  randoms << v
end
# Plus random values of ordinary magnitude, where most real floats live.
100.times { randoms << (rng.rand - 0.5) * 10**rng.rand(-8..20) }
randoms.each_with_index do |v, i|
  add.call("float random #{i}", [FloatIn.new(v.to_s, v)])
end

add.call("emoji and non-BMP", ["😀 🎉 𝄞 👩‍👩‍👧"])
add.call("accents and CJK", ["é ñ ü ☃ 中文 日本語"])
add.call("line and paragraph separators stay raw", ["a\u2028b\u2029c"])
add.call("all C0 control characters", [(0..31).map(&:chr).join])
add.call("DEL, slash and quotes", ["\x7f / \" \\ '"])
add.call("html-ish text stays raw", ["<script>alert('x')&amp;</script>"])
add.call("combining characters and BOM", ["e\u0301 \ufeff \u200b"])
add.call("strings in maps", [{ "tab\tkey" => "new\nline", "q\"" => "\\" }])

# Nesting: Ruby's parser refuses more than 100 levels in all (the payload
# object counts as one), so a worker cannot read the deeper one.
add.call("nesting at Ruby's limit (100 levels in all)", [nest(98)],
         note: "payload object + args array + 98 nested arrays = 100 levels")
add.call("nesting past Ruby's limit (101 levels)", [nest(99)],
         note: "Resque.encode writes it, but Resque.decode refuses it")
add.call("NaN", [f("NaN")], note: "MultiJson writes the bare word NaN, which no JSON parser reads")
add.call("Infinity", [f("Infinity")])
add.call("-Infinity", [f("-Infinity")])

write("payloads.json", {
  "about" => about,
  "description" => "Job payloads: class + args -> the exact text Ruby Resque pushes (Resque.encode). " \
                   "Floats in inputs are {\"$float\": literal, \"$hex\": IEEE bits as C99 %a}; use $hex. " \
                   "Cases with \"error\": true must be refused by a writer (Ruby cannot read them back).",
  "cases" => cases,
})

# --- times -------------------------------------------------------------------
ZONES = %w[
  UTC America/New_York Europe/Berlin Europe/Moscow Asia/Kolkata Asia/Kathmandu Asia/Dubai
  America/Sao_Paulo Australia/Lord_Howe Pacific/Chatham America/St_Johns
]
EPOCHS = [
  0, 1, 951782400, 1700000000, 1795404283, 1803416400,
  Time.utc(2026, 3, 8, 6, 59, 59).to_i, Time.utc(2026, 3, 8, 7, 0, 0).to_i,
  Time.utc(2026, 11, 1, 5, 59, 59).to_i, Time.utc(2026, 11, 1, 6, 0, 0).to_i,
  Time.utc(2028, 2, 29, 23, 59, 59).to_i, Time.utc(2026, 12, 31, 23, 30, 0).to_i,
  2147483647, 2147483648, 4102444800,
]
time_cases = []
ZONES.each do |zone|
  ENV["TZ"] = zone
  EPOCHS.each do |t|
    local = Time.at(t)
    time_cases << {
      "tz" => zone,
      "epoch_s" => t,
      "run_at" => Time.at(t).utc.iso8601,
      "started" => local.to_s,
      "heartbeat" => local.iso8601,
      "failed_at" => local.strftime("%Y/%m/%d %H:%M:%S %Z"),
      "retried_at_multi_queue" => local.strftime("%Y/%m/%d %H:%M:%S"),
    }
  end
end
ENV["TZ"] = "UTC"
ns_cases = [[0, 0], [1795404283, 123456], [1795404283, 999999], [1700000000, 1], [951782400, 500000]].map do |t, usec|
  { "epoch_s" => t, "usec" => usec, "utc_iso8601_ns" => Time.at(t, usec, :usec).utc.iso8601(9) }
end

write("times.json", {
  "about" => about,
  "description" => "Time formats, as Ruby prints them for a whole-second epoch under each TZ. " \
                   "run_at = Time#utc.iso8601 (worker:<id>); started = Time#to_s (worker:<id>:started); " \
                   "heartbeat = Time#iso8601 of the Redis TIME second (workers:heartbeat); " \
                   "failed_at = strftime('%Y/%m/%d %H:%M:%S %Z') (failure records, retried_at of the default backend); " \
                   "retried_at_multi_queue = the same without the zone. utc_iso8601_ns: Time#utc.iso8601(9) (ActiveJob).",
  "cases" => time_cases,
  "utc_iso8601_ns" => ns_cases,
})

# --- what Ruby's readers accept ----------------------------------------------------
# Strings the schemas must judge: Ruby parses heartbeats with Time.parse
# (worker pruning, resque-web) and failure times with DateTime.parse
# (resque-web's failed page); worker ids go through Worker.find.
require "time"
require "date"
ENV["TZ"] = "UTC"
ENV.delete("QUEUE")
ENV.delete("QUEUES")

def accepts
  yield
  true
rescue StandardError, ScriptError
  false
end

heartbeats = [
  "2026-11-23T03:22:31+00:00", "2026-11-23T03:22:31Z", "2026-11-23T03:22:31-05:00",
  "2026-11-23T03:22:31.123456+05:30", "2026-11-23T03:22:31", "2026-11-23 03:22:31 +0000",
  "1700000000", "", "garbage", "2026-13-45T03:22:31Z", "2026-11-23T25:22:31Z",
].map { |s| { "value" => s, "time_parse" => accepts { Time.parse(s) } } }

failure_times = [
  "2026/11/23 03:22:31 UTC", "2026/11/23 03:22:31 EST", "2026/11/23 03:22:31 +03",
  "2026/11/23 03:22:31 +0530", "2026/11/23 03:22:31 CEST", "2026/11/23 03:22:31",
  "2026-11-23T03:22:31Z", "1700000000", "", "garbage", "2026/13/45 03:22:31 UTC",
].map { |s| { "value" => s, "datetime_parse" => accepts { DateTime.parse(s) } } }

worker_ids = [
  "host:1:q", "host:12:a,b", "host:1:*", "web-1.example.com:4242:critical,*",
  "host:1:", "host:1", "host", "", "host:x:q", "host:1:a:b", "host:1:a,,b",
].map do |id|
  found = begin
    w = Resque::Worker.find(id, skip_exists: true)
    # Raw patterns: resolving "*" would need a Redis.
    { "ok" => true, "to_s" => w.to_s, "queues" => w.instance_variable_get(:@queues) }
  rescue StandardError => e
    { "ok" => false, "error" => e.class.to_s }
  end
  { "value" => id, "worker_find" => found, "split_on_every_colon" => id.split(":") }
end

File.write(File.join(OUT, "ruby_reads.json"), JSON.pretty_generate({
  "about" => about,
  "description" => "What Ruby's readers accept: heartbeat values through Time.parse, failure times through " \
                   "DateTime.parse, worker ids through Resque::Worker.find (skip_exists). A value the " \
                   "schemas accept must be one Ruby accepts.",
  "heartbeats" => heartbeats,
  "failure_times" => failure_times,
  "worker_ids" => worker_ids,
}) + "\n")
warn "wrote ruby_reads.json"
